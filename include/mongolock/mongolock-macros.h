#ifndef MONGOLOCK_MACROS_H
#define MONGOLOCK_MACROS_H

/* Symbols are hidden by default (-fvisibility=hidden); MONGOLOCK_EXPORT marks the API. */
#if defined(MONGOLOCK_COMPILATION) && defined(__GNUC__)
#define MONGOLOCK_EXPORT __attribute__ ((visibility ("default")))
#else
#define MONGOLOCK_EXPORT
#endif

#ifdef __cplusplus
#define MONGOLOCK_BEGIN_DECLS extern "C" {
#define MONGOLOCK_END_DECLS }
#else
#define MONGOLOCK_BEGIN_DECLS
#define MONGOLOCK_END_DECLS
#endif

#endif /* MONGOLOCK_MACROS_H */
