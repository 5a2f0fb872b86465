#ifndef MONGOLOCK_RWLOCK_H
#define MONGOLOCK_RWLOCK_H

#include <mongolock/mongolock-lock.h>

MONGOLOCK_BEGIN_DECLS

/**
 * mongolock_rwlock_t: one handle on a reader/writer lock, in one mode fixed at creation:
 * any number of READ handles hold it together, or one WRITE handle alone. It is a lease
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

/** The mode of a reader/writer handle. */
typedef enum {
   MONGOLOCK_RWLOCK_READ = 1,  /**< shared with other readers */
   MONGOLOCK_RWLOCK_WRITE = 2, /**< exclusive */
} mongolock_rwlock_mode_t;

/**
 * Creates a handle on the reader/writer lock key in mode.
 * @param client borrowed; must outlive the handle.
 * @param key borrowed, copied; 1..MONGOLOCK_KEY_MAX_BYTES bytes of UTF-8 without NUL.
 * @param mode MONGOLOCK_RWLOCK_READ or MONGOLOCK_RWLOCK_WRITE.
 * @param opts borrowed, optional (as for named locks; the lease also bounds a writer's
 *        waiting mark).
 * @param error OUT, optional.
 * @return the handle (the caller's; mongolock_rwlock_destroy) or NULL.
 * Errors: MONGOLOCK_ERROR_INVALID_ARGUMENT. Thread safety: any thread. Blocks: never.
 */
MONGOLOCK_EXPORT mongolock_rwlock_t *
mongolock_rwlock_new (mongolock_client_t *client,
                      const char *key,
                      mongolock_rwlock_mode_t mode,
                      const mongolock_lock_opts_t *opts,
                      bson_error_t *error);

/**
 * Destroys the handle, first releasing a hold (one attempt; an error goes only to the
 * event callback). NULL is a no-op. Blocks: as mongolock_rwlock_release when held.
 */
MONGOLOCK_EXPORT void
mongolock_rwlock_destroy (mongolock_rwlock_t *rw);

/**
 * One attempt: one findAndModify. A writer that finds the lock busy sets its waiting mark.
 * @param acquired OUT, required: held, or false when busy (both return true).
 * @return false with error for everything else (MONGOLOCK_ERROR_MISMATCH,
 * MONGOLOCK_ERROR_WOULD_DEADLOCK, MONGOLOCK_ERROR_STORE_TIMEOUT, MONGOLOCK_ERROR_CANCELLED,
 * MONGOLOCK_ERROR_LEASE_TOO_SHORT, the driver's or server's error).
 * Thread safety: one thread per handle. Blocks: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_rwlock_try_acquire (mongolock_rwlock_t *rw, bool *acquired, bson_error_t *error);

/**
 * Takes the lock in the handle's mode, waiting with backoff up to the options' wait.
 * @return true when held; false with MONGOLOCK_ERROR_TIMEOUT when busy for the whole
 * wait, or as mongolock_rwlock_try_acquire.
 * Thread safety: one thread per handle. Blocks: at most wait_ms, everything included.
 */
MONGOLOCK_EXPORT bool
mongolock_rwlock_acquire (mongolock_rwlock_t *rw, bson_error_t *error);

/**
 * Extends this handle's hold to the full lease from the server's now (only its own entry).
 * Errors: MONGOLOCK_ERROR_NOT_HELD, MONGOLOCK_ERROR_LOST (the handle stops holding), the
 * driver's error (state kept). Thread safety: one thread per handle. Blocks: at most the
 * client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_rwlock_renew (mongolock_rwlock_t *rw, bson_error_t *error);

/**
 * Releases this handle's hold: removes only its own entry (owner and token).
 * Errors: MONGOLOCK_ERROR_NOT_HELD, MONGOLOCK_ERROR_LOST, the driver's error. The handle
 * stops holding in every case. Thread safety: one thread per handle. Blocks: at most the
 * client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_rwlock_release (mongolock_rwlock_t *rw, bson_error_t *error);

/** Whether the handle holds the lock by its own bookkeeping. Never blocks. */
MONGOLOCK_EXPORT bool
mongolock_rwlock_is_held (const mongolock_rwlock_t *rw);

/** The fencing token of the current (or last) hold, 0 before the first. Never blocks. */
MONGOLOCK_EXPORT int64_t
mongolock_rwlock_token (const mongolock_rwlock_t *rw);

/** Lease left in ms by the client's monotonic clock; 0 when not held. Never blocks. */
MONGOLOCK_EXPORT int64_t
mongolock_rwlock_remaining_ms (const mongolock_rwlock_t *rw);

/** The owner string this handle records (see mongolock_lock_owner). Owned by the handle.
 * Never blocks. */
MONGOLOCK_EXPORT const char *
mongolock_rwlock_owner (const mongolock_rwlock_t *rw);

/** The key (owned by the handle). Never blocks. */
MONGOLOCK_EXPORT const char *
mongolock_rwlock_key (const mongolock_rwlock_t *rw);

/** The handle's mode. Never blocks. */
MONGOLOCK_EXPORT mongolock_rwlock_mode_t
mongolock_rwlock_mode (const mongolock_rwlock_t *rw);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_RWLOCK_H */
