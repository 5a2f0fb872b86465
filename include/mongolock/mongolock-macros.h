/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MONGOLOCK_MACROS_H
#define MONGOLOCK_MACROS_H

/**
 * @file
 * @brief Export and C++ linkage macros used by every public header.
 */

/* Symbols are hidden by default (-fvisibility=hidden); MONGOLOCK_EXPORT marks the API. */
#if defined(MONGOLOCK_COMPILATION) && defined(__GNUC__)
#define MONGOLOCK_EXPORT __attribute__ ((visibility ("default")))
#else
/** Marks a public function: exported from the shared library (symbols are hidden by default). */
#define MONGOLOCK_EXPORT
#endif

#ifdef __cplusplus
#define MONGOLOCK_BEGIN_DECLS extern "C" {
#define MONGOLOCK_END_DECLS }
#else
/** Opens C linkage for the declarations that follow (`extern "C" {` in C++). */
#define MONGOLOCK_BEGIN_DECLS
/** Closes what #MONGOLOCK_BEGIN_DECLS opened. */
#define MONGOLOCK_END_DECLS
#endif

#endif /* MONGOLOCK_MACROS_H */
