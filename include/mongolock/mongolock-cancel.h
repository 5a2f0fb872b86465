#ifndef MONGOLOCK_CANCEL_H
#define MONGOLOCK_CANCEL_H

#include <stdbool.h>

#include <mongolock/mongolock-macros.h>

MONGOLOCK_BEGIN_DECLS

/*
 * mongolock_cancel_t: a cancellation flag that one thread raises to stop another thread's
 * blocking calls promptly. Give it to the calls that should obey it (for a lock:
 * mongolock_lock_opts_set_cancel). While it is raised, an acquire that is waiting (in a
 * backoff sleep or for a command's reply) returns within a few milliseconds with
 * MONGOLOCK_ERROR_CANCELLED, and a new acquire fails at once the same way. A command
 * already sent is abandoned, not undone: an acquire may still land on the server, and
 * then the lease runs out by itself (or the same handle's next acquire reclaims it).
 * Releases and renewals never obey it (giving a lock back should not be cancelled).
 *
 * Thread-safe: any thread may raise, lower or read it at any time, and one flag may serve
 * any number of handles and threads. Not async-signal-safe: from a signal handler, write
 * to a pipe or use signalfd and raise the flag from a thread.
 */
typedef struct _mongolock_cancel_t mongolock_cancel_t;

/* A new, lowered flag (the caller's; free with mongolock_cancel_destroy). NULL only when
 * out of memory. Does not block. */
MONGOLOCK_EXPORT mongolock_cancel_t *
mongolock_cancel_new (void);

/* Frees the flag. No call may be using it any more (destroy the handles given it first,
 * or make sure none of their calls is running). NULL is a no-op. Does not block. */
MONGOLOCK_EXPORT void
mongolock_cancel_destroy (mongolock_cancel_t *cancel);

/* Raises the flag and wakes every call waiting under it. Idempotent. Blocks only for the
 * short internal locks of the waiting calls (microseconds). */
MONGOLOCK_EXPORT void
mongolock_cancel_raise (mongolock_cancel_t *cancel);

/* Lowers the flag, so calls given it run normally again. Does not block. */
MONGOLOCK_EXPORT void
mongolock_cancel_reset (mongolock_cancel_t *cancel);

/* Whether the flag is raised. NULL: false. Does not block. */
MONGOLOCK_EXPORT bool
mongolock_cancel_is_raised (const mongolock_cancel_t *cancel);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_CANCEL_H */
