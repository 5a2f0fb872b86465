/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MONGOLOCK_RWLOCK_H
#define MONGOLOCK_RWLOCK_H

/**
 * @file
 * @brief Reader/writer locks: many readers or one writer, with writer preference.
 */

#include <mongolock/mongolock-lock.h>

MONGOLOCK_BEGIN_DECLS

/**
 * @brief One handle on a reader/writer lock, in one mode fixed at creation.
 *
 * Any number of READ handles hold it together, or one WRITE handle alone. It is a lease
 * lock like mongolock_lock_t (same options, deadlines, cancellation, auto-renewal with
 * LOST, events, reentrancy, fencing tokens, per-handle owner).
 *
 * Writer preference, recorded on the server: a writer that finds the lock busy leaves a
 * waiting mark in the document, valid for its lease from the server's now and refreshed
 * by each of its attempts; while another handle's mark is live, no new reader enters, so
 * readers that keep re-entering cannot starve a writer. A writer that gives up or dies
 * stops blocking readers when its mark runs out (at most one lease later). Writers are not
 * ordered among themselves.
 *
 * One document per key in the client's lock collection: {_id: key, kind: "rwlock",
 * holders: [{owner, token, mode, acquiredAt, expiresAt}], waiting: [{owner, until}], token,
 * expiresAt}. Expiry is decided by the server's clock ($$NOW). Fencing tokens are strictly
 * increasing per key across readers and writers (each new holder gets
 * max(last + 1, serverNowMs * 2^20)), with the guarantee of mongolock_lock_token.
 * A named lock (mongolock_lock_t) on the same key is an exclusive holder, like a writer
 * without writer preference: it waits while any reader or writer is live, and they wait
 * while it holds (busy, not an error). While a semaphore is live on the key, acquire fails
 * with MONGOLOCK_ERROR_MISMATCH.
 *
 * A handle is used by one thread at a time (not thread-safe). Needs MongoDB 5.0+.
 */
typedef struct _mongolock_rwlock_t mongolock_rwlock_t;

/** @brief The mode of a reader/writer handle. */
typedef enum {
   MONGOLOCK_RWLOCK_READ = 1,  /**< shared with other readers */
   MONGOLOCK_RWLOCK_WRITE = 2, /**< exclusive */
} mongolock_rwlock_mode_t;

/**
 * @brief Creates a handle on the reader/writer lock @p key in @p mode.
 * @param client  Borrowed; must outlive the handle.
 * @param key     Borrowed, copied; 1..#MONGOLOCK_KEY_MAX_BYTES bytes of UTF-8 without NUL.
 * @param mode    #MONGOLOCK_RWLOCK_READ or #MONGOLOCK_RWLOCK_WRITE.
 * @param opts    Borrowed, optional (as for named locks; the lease also bounds a writer's
 *                waiting mark).
 * @param error   OUT, optional: set when NULL is returned.
 * @return The handle (the caller's; mongolock_rwlock_destroy()) or NULL.
 *
 * Errors: #MONGOLOCK_ERROR_INVALID_ARGUMENT. Thread safety: any thread. Blocking: none.
 */
MONGOLOCK_EXPORT mongolock_rwlock_t *
mongolock_rwlock_new (mongolock_client_t *client,
                      const char *key,
                      mongolock_rwlock_mode_t mode,
                      const mongolock_lock_opts_t *opts,
                      bson_error_t *error);

/**
 * @brief Destroys the handle, first releasing a hold it still has.
 * @param rw  Owned, destroyed; NULL is a no-op.
 *
 * Errors: none returned (one release attempt; an error goes to the event callback only).
 * Thread safety: one thread per handle. Blocking: as mongolock_rwlock_release() when held.
 */
MONGOLOCK_EXPORT void
mongolock_rwlock_destroy (mongolock_rwlock_t *rw);

/**
 * @brief One attempt: one findAndModify. A writer that finds the lock busy sets its
 * waiting mark.
 * @param rw        Borrowed.
 * @param acquired  OUT, required: held, or false when busy (both return true).
 * @param error     OUT, optional: set when false is returned.
 * @return true when the server answered (see @p acquired); false with error otherwise.
 *
 * Errors: #MONGOLOCK_ERROR_MISMATCH, #MONGOLOCK_ERROR_WOULD_DEADLOCK,
 * #MONGOLOCK_ERROR_STORE_TIMEOUT, #MONGOLOCK_ERROR_CANCELLED,
 * #MONGOLOCK_ERROR_LEASE_TOO_SHORT, the driver's or server's error.
 * Thread safety: one thread per handle. Blocking: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_rwlock_try_acquire (mongolock_rwlock_t *rw, bool *acquired, bson_error_t *error);

/**
 * @brief Takes the lock in the handle's mode, waiting with backoff up to the options' wait.
 * @param rw     Borrowed.
 * @param error  OUT, optional: set when false is returned.
 * @return true when held.
 *
 * Errors: #MONGOLOCK_ERROR_TIMEOUT when busy for the whole wait, or as
 * mongolock_rwlock_try_acquire(). Thread safety: one thread per handle. Blocking: at most
 * wait_ms, everything included.
 */
MONGOLOCK_EXPORT bool
mongolock_rwlock_acquire (mongolock_rwlock_t *rw, bson_error_t *error);

/**
 * @brief Extends this handle's hold to the full lease from the server's now (only its own
 * entry).
 * @param rw     Borrowed.
 * @param error  OUT, optional: set when false is returned.
 * @return true when renewed.
 *
 * Errors: #MONGOLOCK_ERROR_NOT_HELD, #MONGOLOCK_ERROR_LOST (the handle stops holding), the
 * driver's error (state kept). Thread safety: one thread per handle. Blocking: at most the
 * client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_rwlock_renew (mongolock_rwlock_t *rw, bson_error_t *error);

/**
 * @brief Releases this handle's hold: removes only its own entry (owner and token).
 * @param rw     Borrowed.
 * @param error  OUT, optional: set when false is returned.
 * @return true when the entry was removed. The handle stops holding in every case.
 *
 * Errors: #MONGOLOCK_ERROR_NOT_HELD, #MONGOLOCK_ERROR_LOST, the driver's error.
 * Thread safety: one thread per handle. Blocking: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_rwlock_release (mongolock_rwlock_t *rw, bson_error_t *error);

/**
 * @brief Whether the handle holds the lock by its own bookkeeping.
 * @param rw  Borrowed; NULL gives false.
 * @return true while held and the lease has not run out by the client's monotonic clock.
 *
 * Errors: none. Thread safety: one thread per handle. Blocking: only a short internal lock.
 */
MONGOLOCK_EXPORT bool
mongolock_rwlock_is_held (const mongolock_rwlock_t *rw);

/**
 * @brief The fencing token of the current (or last) hold.
 * @param rw  Borrowed; NULL gives 0.
 * @return The token, 0 before the first acquisition.
 *
 * Errors: none. Thread safety: one thread per handle. Blocking: only a short internal lock.
 */
MONGOLOCK_EXPORT int64_t
mongolock_rwlock_token (const mongolock_rwlock_t *rw);

/**
 * @brief Lease left by the client's monotonic clock.
 * @param rw  Borrowed; NULL gives 0.
 * @return Milliseconds left; 0 when not held.
 *
 * Errors: none. Thread safety: one thread per handle. Blocking: only a short internal lock.
 */
MONGOLOCK_EXPORT int64_t
mongolock_rwlock_remaining_ms (const mongolock_rwlock_t *rw);

/**
 * @brief The owner string this handle records (see mongolock_lock_owner()).
 * @param rw  Borrowed; NULL gives NULL.
 * @return Owned by the handle; valid until its next acquire, release or destroy.
 *
 * Errors: none. Thread safety: one thread per handle. Blocking: none.
 */
MONGOLOCK_EXPORT const char *
mongolock_rwlock_owner (const mongolock_rwlock_t *rw);

/**
 * @brief The key.
 * @param rw  Borrowed; NULL gives NULL.
 * @return Owned by the handle.
 *
 * Errors: none. Thread safety: one thread per handle. Blocking: none.
 */
MONGOLOCK_EXPORT const char *
mongolock_rwlock_key (const mongolock_rwlock_t *rw);

/**
 * @brief The handle's mode.
 * @param rw  Borrowed; NULL gives 0.
 * @return #MONGOLOCK_RWLOCK_READ or #MONGOLOCK_RWLOCK_WRITE.
 *
 * Errors: none. Thread safety: one thread per handle. Blocking: none.
 */
MONGOLOCK_EXPORT mongolock_rwlock_mode_t
mongolock_rwlock_mode (const mongolock_rwlock_t *rw);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_RWLOCK_H */
