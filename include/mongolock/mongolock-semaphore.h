/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MONGOLOCK_SEMAPHORE_H
#define MONGOLOCK_SEMAPHORE_H

/**
 * @file
 * @brief Counting semaphores: at most N holders of a key at once, on the lease engine.
 */

#include <mongolock/mongolock-lock.h>

MONGOLOCK_BEGIN_DECLS

/**
 * @brief One handle on a counting semaphore with N permits.
 *
 * At most N handles, in any processes, hold it at once. It is a lease lock like
 * mongolock_lock_t (same options, deadlines, cancellation, auto-renewal with LOST, events,
 * reentrancy, fencing tokens, per-handle owner) whose document holds up to N holders.
 *
 * One document per key in the client's lock collection: {_id: key, kind: "semaphore",
 * permits: N, holders: [{owner, token, acquiredAt, expiresAt}], token, expiresAt}. An
 * acquire is one findAndModify upsert whose pipeline drops holders expired by the server's
 * clock ($$NOW) and adds this handle only while fewer than N remain; renew extends only
 * this handle's entry, release removes only it. N is stored with the document: while a
 * holder is live, a handle asking with another N, or a named lock's live document under
 * the key, fails with #MONGOLOCK_ERROR_MISMATCH (never a silent mix); once every holder is
 * gone, the next acquire sets N anew. A named lock (mongolock_lock_t) on a key used as a
 * semaphore sees it busy while any permit is held.
 *
 * A handle is used by one thread at a time (not thread-safe); give each thread its own.
 * Needs MongoDB 5.0+ (the commands use 'let').
 */
typedef struct _mongolock_semaphore_t mongolock_semaphore_t;

/** @brief The largest number of permits of a semaphore (1..this). */
#define MONGOLOCK_SEMAPHORE_PERMITS_MAX 1000

/**
 * @brief Creates a handle on the semaphore @p key with @p permits permits.
 * @param client   Borrowed; must outlive the handle.
 * @param key      Borrowed, copied; 1..#MONGOLOCK_KEY_MAX_BYTES bytes of UTF-8 without NUL.
 * @param permits  1..#MONGOLOCK_SEMAPHORE_PERMITS_MAX.
 * @param opts     Borrowed, optional: lease, wait, backoff, auto-renew, reentrancy, events
 *                 and cancellation, as for named locks (mongolock-lock.h).
 * @param error    OUT, optional: set when NULL is returned.
 * @return The handle (the caller's; mongolock_semaphore_destroy()) or NULL.
 *
 * Errors: #MONGOLOCK_ERROR_INVALID_ARGUMENT. Thread safety: any thread. Blocking: none (no
 * server contact).
 */
MONGOLOCK_EXPORT mongolock_semaphore_t *
mongolock_semaphore_new (mongolock_client_t *client,
                         const char *key,
                         int32_t permits,
                         const mongolock_lock_opts_t *opts,
                         bson_error_t *error);

/**
 * @brief Destroys the handle, first releasing a permit it still holds.
 * @param sem  Owned, destroyed; NULL is a no-op.
 *
 * Errors: none returned (one release attempt; an error goes to the event callback only).
 * Thread safety: one thread per handle. Blocking: as mongolock_semaphore_release() when
 * held, else none.
 */
MONGOLOCK_EXPORT void
mongolock_semaphore_destroy (mongolock_semaphore_t *sem);

/**
 * @brief One attempt to take a permit: one findAndModify.
 *
 * The lease and owner rules are those of mongolock_lock_try_acquire().
 * @param sem       Borrowed.
 * @param acquired  OUT, required: true when this handle now holds a permit, false when all
 *                  N are held by others (contention is not an error: both return true).
 * @param error     OUT, optional: set when false is returned.
 * @return true when the server answered (see @p acquired); false with error otherwise.
 *
 * Errors: #MONGOLOCK_ERROR_MISMATCH (another N or another kind of lock, see
 * mongolock_semaphore_t), #MONGOLOCK_ERROR_WOULD_DEADLOCK, #MONGOLOCK_ERROR_STORE_TIMEOUT,
 * #MONGOLOCK_ERROR_CANCELLED, #MONGOLOCK_ERROR_LEASE_TOO_SHORT, the driver's or server's
 * error. Thread safety: one thread per handle. Blocking: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_semaphore_try_acquire (mongolock_semaphore_t *sem, bool *acquired, bson_error_t *error);

/**
 * @brief Takes a permit, waiting with backoff up to the options' wait.
 *
 * The backoff is clamped to the earliest holder's expiry.
 * @param sem    Borrowed.
 * @param error  OUT, optional: set when false is returned.
 * @return true when held.
 *
 * Errors: #MONGOLOCK_ERROR_TIMEOUT (all permits held for the whole wait),
 * #MONGOLOCK_ERROR_MISMATCH (at once, never waited on), or as mongolock_lock_acquire().
 * Thread safety: one thread per handle. Blocking: at most wait_ms, everything included.
 */
MONGOLOCK_EXPORT bool
mongolock_semaphore_acquire (mongolock_semaphore_t *sem, bson_error_t *error);

/**
 * @brief Extends this handle's permit to the full lease from the server's now.
 *
 * One findAndModify that matches only this handle's entry (owner and token) while it is live.
 * @param sem    Borrowed.
 * @param error  OUT, optional: set when false is returned.
 * @return true when renewed.
 *
 * Errors: #MONGOLOCK_ERROR_NOT_HELD, #MONGOLOCK_ERROR_LOST (the entry expired or was
 * dropped: the handle stops holding), the driver's error (state kept; retry).
 * Thread safety: one thread per handle. Blocking: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_semaphore_renew (mongolock_semaphore_t *sem, bson_error_t *error);

/**
 * @brief Gives the permit back: removes only this handle's entry (owner and token).
 *
 * A stale holder's release frees nothing of anyone else's. With reentrancy, only the last
 * release reaches the server. The handle stops holding in every case.
 * @param sem    Borrowed.
 * @param error  OUT, optional: set when false is returned.
 * @return true when the entry was removed.
 *
 * Errors: #MONGOLOCK_ERROR_NOT_HELD, #MONGOLOCK_ERROR_LOST (the entry was already gone),
 * the driver's error (the lease then runs out by itself). Thread safety: one thread per
 * handle. Blocking: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_semaphore_release (mongolock_semaphore_t *sem, bson_error_t *error);

/**
 * @brief Whether the handle holds a permit by its own bookkeeping.
 * @param sem  Borrowed; NULL gives false.
 * @return true while held and the lease has not run out by the client's monotonic clock.
 *
 * Errors: none. Thread safety: one thread per handle. Blocking: only a short internal lock.
 */
MONGOLOCK_EXPORT bool
mongolock_semaphore_is_held (const mongolock_semaphore_t *sem);

/**
 * @brief The fencing token of the current (or last) permit.
 *
 * Tokens are strictly increasing per key across all permits (each new holder gets
 * max(last + 1, serverNowMs * 2^20)), with the guarantee of mongolock_lock_token().
 * @param sem  Borrowed; NULL gives 0.
 * @return The token, 0 before the first acquisition.
 *
 * Errors: none. Thread safety: one thread per handle. Blocking: only a short internal lock.
 */
MONGOLOCK_EXPORT int64_t
mongolock_semaphore_token (const mongolock_semaphore_t *sem);

/**
 * @brief Lease left by the client's monotonic clock.
 * @param sem  Borrowed; NULL gives 0.
 * @return Milliseconds left; 0 when not held.
 *
 * Errors: none. Thread safety: one thread per handle. Blocking: only a short internal lock.
 */
MONGOLOCK_EXPORT int64_t
mongolock_semaphore_remaining_ms (const mongolock_semaphore_t *sem);

/**
 * @brief The owner string this handle records (see mongolock_lock_owner()).
 * @param sem  Borrowed; NULL gives NULL.
 * @return Owned by the handle; valid until its next acquire, release or destroy.
 *
 * Errors: none. Thread safety: one thread per handle. Blocking: none.
 */
MONGOLOCK_EXPORT const char *
mongolock_semaphore_owner (const mongolock_semaphore_t *sem);

/**
 * @brief The key.
 * @param sem  Borrowed; NULL gives NULL.
 * @return Owned by the handle.
 *
 * Errors: none. Thread safety: one thread per handle. Blocking: none.
 */
MONGOLOCK_EXPORT const char *
mongolock_semaphore_key (const mongolock_semaphore_t *sem);

/**
 * @brief The number of permits this handle asks for.
 * @param sem  Borrowed; NULL gives 0.
 * @return N.
 *
 * Errors: none. Thread safety: one thread per handle. Blocking: none.
 */
MONGOLOCK_EXPORT int32_t
mongolock_semaphore_permits (const mongolock_semaphore_t *sem);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_SEMAPHORE_H */
