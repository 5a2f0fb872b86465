#ifndef MONGOLOCK_SEMAPHORE_H
#define MONGOLOCK_SEMAPHORE_H

#include <mongolock/mongolock-lock.h>

MONGOLOCK_BEGIN_DECLS

/**
 * mongolock_semaphore_t: one handle on a counting semaphore with N permits: at most N
 * handles, in any processes, hold it at once. It is a lease lock like mongolock_lock_t
 * (same options, deadlines, cancellation, auto-renewal with LOST, events, reentrancy,
 * fencing tokens, per-handle owner) whose document holds up to N holders.
 *
 * One document per key in the client's lock collection: {_id: key, kind: "semaphore",
 * permits: N, holders: [{owner, token, acquiredAt, expiresAt}], token, expiresAt}. An
 * acquire is one findAndModify upsert whose pipeline drops holders expired by the server's
 * clock ($$NOW) and adds this handle only while fewer than N remain; renew extends only
 * this handle's entry, release removes only it. N is stored with the document: while a
 * holder is live, a handle asking with another N, or a named lock's live document under
 * the key, fails with MONGOLOCK_ERROR_MISMATCH (never a silent mix); once every holder is
 * gone, the next acquire sets N anew. A named lock (mongolock_lock_t) on a key used as a
 * semaphore sees it busy while any permit is held.
 *
 * A handle is used by one thread at a time (not thread-safe); give each thread its own.
 * Needs MongoDB 5.0+ (commands use 'let').
 */
typedef struct _mongolock_semaphore_t mongolock_semaphore_t;

/** Permits per semaphore: 1..MONGOLOCK_SEMAPHORE_PERMITS_MAX. */
#define MONGOLOCK_SEMAPHORE_PERMITS_MAX 1000

/**
 * Creates a handle on the semaphore key with permits permits.
 * @param client borrowed; must outlive the handle.
 * @param key borrowed, copied; 1..MONGOLOCK_KEY_MAX_BYTES bytes of UTF-8 without NUL.
 * @param permits 1..MONGOLOCK_SEMAPHORE_PERMITS_MAX.
 * @param opts borrowed, optional: lease, wait, backoff, auto-renew, reentrancy, events and
 *        cancellation, as for named locks (mongolock-lock.h).
 * @param error OUT, optional.
 * @return the handle (the caller's; mongolock_semaphore_destroy) or NULL.
 * Errors: MONGOLOCK_ERROR_INVALID_ARGUMENT. Thread safety: any thread. Blocks: never (no
 * server contact).
 */
MONGOLOCK_EXPORT mongolock_semaphore_t *
mongolock_semaphore_new (mongolock_client_t *client,
                         const char *key,
                         int32_t permits,
                         const mongolock_lock_opts_t *opts,
                         bson_error_t *error);

/**
 * Destroys the handle, first releasing a permit it still holds (one attempt; an error goes
 * only to the event callback). NULL is a no-op.
 * Blocks: as mongolock_semaphore_release when held, else not at all.
 */
MONGOLOCK_EXPORT void
mongolock_semaphore_destroy (mongolock_semaphore_t *sem);

/**
 * One attempt to take a permit: one findAndModify (see mongolock_lock_try_acquire for the
 * lease and owner rules, which are the same).
 * @param acquired OUT, required: true when this handle now holds a permit, false when all
 *        N are held by others (contention is not an error: both return true).
 * @return false with error for everything else.
 * Errors: MONGOLOCK_ERROR_MISMATCH (other N or another kind of lock, see above),
 * MONGOLOCK_ERROR_WOULD_DEADLOCK, MONGOLOCK_ERROR_STORE_TIMEOUT, MONGOLOCK_ERROR_CANCELLED,
 * MONGOLOCK_ERROR_LEASE_TOO_SHORT, the driver's or server's error.
 * Thread safety: one thread per handle. Blocks: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_semaphore_try_acquire (mongolock_semaphore_t *sem, bool *acquired, bson_error_t *error);

/**
 * Takes a permit, waiting with backoff (clamped to the earliest holder's expiry) up to the
 * options' wait.
 * @return true when held; false with MONGOLOCK_ERROR_TIMEOUT (all permits held for the
 * whole wait), MONGOLOCK_ERROR_MISMATCH at once, or as mongolock_lock_acquire.
 * Thread safety: one thread per handle. Blocks: at most wait_ms, everything included.
 */
MONGOLOCK_EXPORT bool
mongolock_semaphore_acquire (mongolock_semaphore_t *sem, bson_error_t *error);

/**
 * Extends this handle's permit to the full lease from the server's now: one findAndModify
 * that matches only this handle's entry (owner and token) while it is live.
 * @return true when renewed. Errors: MONGOLOCK_ERROR_NOT_HELD, MONGOLOCK_ERROR_LOST (the
 * entry expired or was taken: the handle stops holding), or the driver's error (state kept).
 * Thread safety: one thread per handle. Blocks: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_semaphore_renew (mongolock_semaphore_t *sem, bson_error_t *error);

/**
 * Gives the permit back: one findAndModify that removes only this handle's entry (owner
 * and token), so a stale holder's release frees nothing of anyone else's.
 * @return true when the entry was removed. Errors: MONGOLOCK_ERROR_NOT_HELD,
 * MONGOLOCK_ERROR_LOST (the entry had expired and been dropped), the driver's error (the
 * lease then runs out by itself). The handle stops holding in every case.
 * Thread safety: one thread per handle. Blocks: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_semaphore_release (mongolock_semaphore_t *sem, bson_error_t *error);

/** Whether the handle holds a permit by its own bookkeeping. Never blocks. */
MONGOLOCK_EXPORT bool
mongolock_semaphore_is_held (const mongolock_semaphore_t *sem);

/**
 * The fencing token of the current (or last) permit, 0 before the first. Tokens are
 * strictly increasing per key across all permits (each new holder gets
 * max(last + 1, serverNowMs * 2^20)), with the guarantee of mongolock_lock_token.
 * Never blocks.
 */
MONGOLOCK_EXPORT int64_t
mongolock_semaphore_token (const mongolock_semaphore_t *sem);

/** Lease left in ms by the client's monotonic clock; 0 when not held. Never blocks. */
MONGOLOCK_EXPORT int64_t
mongolock_semaphore_remaining_ms (const mongolock_semaphore_t *sem);

/** The owner string this handle records (see mongolock_lock_owner). Owned by the handle;
 * valid until its next acquire, release or destroy. Never blocks. */
MONGOLOCK_EXPORT const char *
mongolock_semaphore_owner (const mongolock_semaphore_t *sem);

/** The key (owned by the handle). Never blocks. */
MONGOLOCK_EXPORT const char *
mongolock_semaphore_key (const mongolock_semaphore_t *sem);

/** The number of permits this handle asks for. Never blocks. */
MONGOLOCK_EXPORT int32_t
mongolock_semaphore_permits (const mongolock_semaphore_t *sem);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_SEMAPHORE_H */
