/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MONGOLOCK_CANCEL_H
#define MONGOLOCK_CANCEL_H

/**
 * @file
 * @brief Cancellation flags: one thread stops another thread's waiting calls.
 */

#include <stdbool.h>

#include <mongolock/mongolock-macros.h>

MONGOLOCK_BEGIN_DECLS

/**
 * @brief A cancellation flag that one thread raises to stop another thread's blocking
 * calls promptly.
 *
 * Give it to the calls that should obey it (for a lock: mongolock_lock_opts_set_cancel();
 * for a document lock: through mongolock_doc_lock_opts_lock_opts()). While it is raised, an
 * acquire that is waiting (in a backoff sleep or for a command's reply) returns within a
 * few milliseconds with #MONGOLOCK_ERROR_CANCELLED, and a new acquire fails at once the
 * same way. A command already sent is abandoned, not undone: an acquire may still land on
 * the server, and then the lease runs out by itself (or the same handle's next acquire
 * reclaims it). Releases and renewals never obey it (giving a lock back should not be
 * cancelled).
 *
 * Thread safety: any thread may raise, lower or read it at any time, and one flag may
 * serve any number of handles and threads. Not async-signal-safe: from a signal handler,
 * write to a pipe or use signalfd and raise the flag from a thread.
 */
typedef struct _mongolock_cancel_t mongolock_cancel_t;

/**
 * @brief Creates a new, lowered flag.
 * @return The flag, the caller's: free it with mongolock_cancel_destroy(). Never NULL
 *         (libbson's allocator aborts when out of memory).
 *
 * Errors: none. Thread safety: any thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT mongolock_cancel_t *
mongolock_cancel_new (void);

/**
 * @brief Frees the flag.
 * @param cancel  Owned: the flag to free; NULL is a no-op.
 *
 * No call may be using it any more: destroy the handles given it first, or make sure none
 * of their calls is running.
 * Errors: none. Thread safety: not while any other thread uses the flag.
 * Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_cancel_destroy (mongolock_cancel_t *cancel);

/**
 * @brief Raises the flag and wakes every call waiting under it. Idempotent.
 * @param cancel  Borrowed; NULL is a no-op.
 *
 * Errors: none. Thread safety: any thread, at any time (not from a signal handler).
 * Blocking: only for the short internal locks of the waiting calls (microseconds).
 */
MONGOLOCK_EXPORT void
mongolock_cancel_raise (mongolock_cancel_t *cancel);

/**
 * @brief Lowers the flag, so calls given it run normally again.
 * @param cancel  Borrowed; NULL is a no-op.
 *
 * Errors: none. Thread safety: any thread, at any time. Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_cancel_reset (mongolock_cancel_t *cancel);

/**
 * @brief Whether the flag is raised.
 * @param cancel  Borrowed; may be NULL.
 * @return true when raised; false when lowered or @p cancel is NULL.
 *
 * Errors: none. Thread safety: any thread, at any time. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_cancel_is_raised (const mongolock_cancel_t *cancel);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_CANCEL_H */
