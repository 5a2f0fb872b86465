/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MONGOLOCK_DOC_H
#define MONGOLOCK_DOC_H

/**
 * @file
 * @brief Document locks: a lease lock kept inside a business document (Mongoid::Locker's model).
 */

#include <mongolock/mongolock-client.h>
#include <mongolock/mongolock-lock.h>
#include <mongolock/mongolock-macros.h>

MONGOLOCK_BEGIN_DECLS

/**
 * @brief A lock kept inside a business document (a user, an order), like
 * Mongoid::Locker, with no lock collection: three fields of the document record the holder
 * (owner), the lease's end (expiry, a date decided by the server's $$NOW) and a fencing
 * token that increases with every new holder.
 *
 * - Acquire is one findAndModify on {_id} that never inserts: a missing document is
 *   MONGOLOCK_ERROR_NOT_FOUND, and the lock never creates one. Its reply is the document
 *   as it is under the lock (mongolock_doc_lock_document).
 * - Renew and release match _id, owner and token; release removes the owner and expiry
 *   fields and keeps the token field, so tokens keep increasing. No other field is ever
 *   written by the lock.
 * - mongolock_doc_lock_update writes the document only while this handle holds the lock,
 *   in one findAndModify whose filter carries the owner and token (a fenced write).
 * - An expired lock left in a document is harmless: expiry is decided by $$NOW on every
 *   acquire. So no index is needed (_id is unique) and NEVER put a TTL index on a lock
 *   field of business documents: the TTL monitor would delete the documents themselves
 *   (Mongoid::Locker's README shows such an index). mongolock_doc_lock_check_indexes
 *   refuses one.
 *
 * Everything the lease engine gives named locks holds here too, with the same options
 * (mongolock_doc_lock_opts_lock_opts): lease, wait with one deadline for the whole call,
 * backoff (full jitter, or MONGOLOCK_BACKOFF_UNTIL_EXPIRY), cancellation, automatic
 * renewal by the client's scheduler with LOST no later than the lease's end, reentrancy,
 * events (the event key is "<db>.<collection>/<_id as JSON>"), LEASE_TOO_SHORT, owner
 * generations. Commands use the client's write concern and timeout.
 *
 * Thread safety: a handle is used by one thread at a time (give each thread its own);
 * options are not thread-safe; mongolock_doc_lock_list and check_indexes are thread-safe
 * (they only use the thread-safe client). Constructors, options and getters never block.
 */
typedef struct _mongolock_doc_lock_t mongolock_doc_lock_t;

/** @brief Builder for document-lock settings; a handle copies what it needs. Used by one
 * thread at a time; its functions never block. */
typedef struct _mongolock_doc_lock_opts_t mongolock_doc_lock_opts_t;

/** Default name of the owner field (top level of the business document). */
#define MONGOLOCK_DOC_DEFAULT_OWNER_FIELD "_lockOwner"
/** Default name of the expiry field (a date). */
#define MONGOLOCK_DOC_DEFAULT_EXPIRY_FIELD "_lockExpiresAt"
/** Default name of the fencing-token field (an int64). */
#define MONGOLOCK_DOC_DEFAULT_TOKEN_FIELD "_lockToken"
/** Lock field names are 1..MONGOLOCK_DOC_FIELD_MAX_BYTES bytes. */
#define MONGOLOCK_DOC_FIELD_MAX_BYTES 128

/**
 * @brief New options with every default: the fields above, the named lock's defaults for
 * the rest.
 * @return The options, the caller's: free them with mongolock_doc_lock_opts_destroy().
 *         Never NULL (libbson's allocator aborts when out of memory).
 *
 * Errors: none. Thread safety: any thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT mongolock_doc_lock_opts_t *
mongolock_doc_lock_opts_new (void);

/**
 * @brief Frees options.
 * @param opts  Owned: the options to free; NULL is a no-op.
 *
 * Errors: none. Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_doc_lock_opts_destroy (mongolock_doc_lock_opts_t *opts);

/**
 * @brief Names the lock fields (like Mongoid's locking_name_field / locked_at_field).
 *
 * A name must be valid UTF-8 of 1..#MONGOLOCK_DOC_FIELD_MAX_BYTES bytes, top level (no
 * '.'), not start with '$', not be "_id", and the three must differ.
 * @param opts          Borrowed: the options to change.
 * @param owner_field   Borrowed, copied; NULL keeps the current name.
 * @param expiry_field  Borrowed, copied; NULL keeps the current name.
 * @param token_field   Borrowed, copied; NULL keeps the current name.
 * @param error         OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT (opts unchanged)
 *         when a rule above is broken or @p opts is NULL.
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_opts_set_fields (mongolock_doc_lock_opts_t *opts,
                                    const char *owner_field,
                                    const char *expiry_field,
                                    const char *token_field,
                                    bson_error_t *error);

/**
 * @brief The lease settings inside @p opts.
 *
 * Set them with the mongolock_lock_opts_set_* functions (lease, wait, backoff and its
 * strategy, auto-renew, reentrancy, event callback, cancellation), which mean the same for
 * document locks as for named locks.
 * @param opts  Borrowed.
 * @return The lease settings, owned by @p opts (valid until it is destroyed; never destroy
 *         them yourself); NULL when @p opts is NULL.
 *
 * Errors: none. Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT mongolock_lock_opts_t *
mongolock_doc_lock_opts_lock_opts (mongolock_doc_lock_opts_t *opts);

/**
 * @brief A handle on the lock of the document {_id: id} in db.collection.
 * @param client      Borrowed: must outlive the handle.
 * @param db          Borrowed, copied; NULL for the client's database. MongoDB's naming
 *                    rules apply.
 * @param collection  Borrowed, copied; MongoDB's naming rules apply.
 * @param id          Borrowed, copied: any BSON value a document's _id can hold (not an
 *                    array, regex or undefined).
 * @param opts        Borrowed, optional (NULL for defaults); copied.
 * @param error       OUT, optional: set when NULL is returned.
 * @return The handle, the caller's (free it with mongolock_doc_lock_destroy()), or NULL
 *         with #MONGOLOCK_ERROR_INVALID_ARGUMENT.
 *
 * Thread safety: any thread (the client is thread-safe); the handle is then used by one
 * thread at a time. Blocking: does not contact the server.
 */
MONGOLOCK_EXPORT mongolock_doc_lock_t *
mongolock_doc_lock_new (mongolock_client_t *client,
                        const char *db,
                        const char *collection,
                        const bson_value_t *id,
                        const mongolock_doc_lock_opts_t *opts,
                        bson_error_t *error);

/**
 * @brief Destroys the handle, releasing a lock it still holds first.
 * @param lock  Owned: the handle to free; NULL is a no-op.
 *
 * Errors: the release is one attempt; its error goes only to the event callback
 * (RELEASED with an error). Thread safety: no other call may be running on the handle; it
 * waits for an event callback of the handle that is running. Blocking: as
 * mongolock_doc_lock_release() when held (at most the client's timeout), else not at all.
 */
MONGOLOCK_EXPORT void
mongolock_doc_lock_destroy (mongolock_doc_lock_t *lock);

/**
 * @brief One attempt to take the lock: a single findAndModify that never inserts.
 * @param lock      Borrowed.
 * @param acquired  OUT, required: true when this handle now holds the lock, false when
 *                  another holder's lease is live; both return true.
 * @param error     OUT, optional: set when false is returned.
 * @return true when the server answered (see @p acquired). false with
 *         #MONGOLOCK_ERROR_NOT_FOUND when no document has this _id (nothing is created),
 *         and otherwise as mongolock_lock_try_acquire(): STORE_TIMEOUT, CANCELLED,
 *         WOULD_DEADLOCK, LEASE_TOO_SHORT, INVALID_ARGUMENT, or the server's error (e.g.
 *         16554 when the token field holds a non-number).
 *
 * Thread safety: one thread at a time per handle. Blocking: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_try_acquire (mongolock_doc_lock_t *lock, bool *acquired, bson_error_t *error);

/**
 * @brief Takes the lock, waiting up to the wait in the options (woken on release by the
 * client's change stream of the document's collection on a replica set, else by backoff,
 * as mongolock_lock_acquire()).
 * @param lock   Borrowed.
 * @param error  OUT, optional: set when false is returned.
 * @return true when held. false with the errors of mongolock_lock_acquire() (TIMEOUT,
 *         STORE_TIMEOUT, CANCELLED, the server's error), plus #MONGOLOCK_ERROR_NOT_FOUND at
 *         once: a missing document is never "busy".
 *
 * Thread safety: one thread at a time per handle. Blocking: at most wait_ms, everything
 * included (the client's timeout when wait_ms is 0).
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_acquire (mongolock_doc_lock_t *lock, bson_error_t *error);

/**
 * @brief Extends the lease from the server's now: one findAndModify matching _id, owner,
 * token and a live lease.
 * @param lock   Borrowed.
 * @param error  OUT, optional: set when false is returned.
 * @return true when extended; false as mongolock_lock_renew(): NOT_HELD, LOST (the handle
 *         then stops holding the lock), STORE_TIMEOUT or the driver's error.
 *
 * Thread safety: one thread at a time per handle. Blocking: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_renew (mongolock_doc_lock_t *lock, bson_error_t *error);

/**
 * @brief Releases: one findAndModify matching _id, owner and token that removes the owner
 * and expiry fields (the token field stays, so tokens keep increasing).
 * @param lock   Borrowed.
 * @param error  OUT, optional: set when false is returned.
 * @return true when released; false as mongolock_lock_release(): NOT_HELD, LOST (a stale
 *         handle's release changes nothing), STORE_TIMEOUT or the driver's error. The
 *         handle stops holding the lock either way.
 *
 * Thread safety: one thread at a time per handle. Blocking: at most the client's timeout;
 * never waits for a renewal in flight.
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_release (mongolock_doc_lock_t *lock, bson_error_t *error);

/**
 * @brief The document as the acquire that took the lock returned it (lock fields included).
 * @param lock  Borrowed; may be NULL.
 * @return The document, owned by the handle and valid until its next acquire or destroy
 *         (copy it to keep it); NULL before the first acquisition. Not refreshed by
 *         mongolock_doc_lock_update().
 *
 * Errors: none. Thread safety: one thread at a time per handle. Blocking: does not block.
 */
MONGOLOCK_EXPORT const bson_t *
mongolock_doc_lock_document (const mongolock_doc_lock_t *lock);

/**
 * @brief Whether the handle holds the lock by its own bookkeeping; as mongolock_lock_is_held().
 * @param lock  Borrowed; NULL gives false.
 * @return true while held and the lease has not run out by the client's monotonic clock.
 *
 * Errors: none. Thread safety: one thread at a time per handle (safe against the client's
 * renewal scheduler). Blocking: only a short internal lock.
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_is_held (const mongolock_doc_lock_t *lock);

/**
 * @brief The fencing token of the current (or last) acquisition; as mongolock_lock_token().
 * @param lock  Borrowed; NULL gives 0.
 * @return The token, 0 before the first acquisition.
 *
 * Errors: none. Thread safety: as mongolock_doc_lock_is_held(). Blocking: only a short
 * internal lock.
 */
MONGOLOCK_EXPORT int64_t
mongolock_doc_lock_token (const mongolock_doc_lock_t *lock);

/**
 * @brief Milliseconds of lease left by the client's monotonic clock; as
 * mongolock_lock_remaining_ms().
 * @param lock  Borrowed; NULL gives 0.
 * @return The lease left, 0 when not held.
 *
 * Errors: none. Thread safety: as mongolock_doc_lock_is_held(). Blocking: only a short
 * internal lock.
 */
MONGOLOCK_EXPORT int64_t
mongolock_doc_lock_remaining_ms (const mongolock_doc_lock_t *lock);

/**
 * @brief The owner string this handle records in the document; as mongolock_lock_owner().
 * @param lock  Borrowed; NULL gives NULL.
 * @return Owned by the handle; valid until the handle's next acquire, release or destroy.
 *
 * Errors: none. Thread safety: one thread at a time per handle. Blocking: does not block.
 */
MONGOLOCK_EXPORT const char *
mongolock_doc_lock_owner (const mongolock_doc_lock_t *lock);

/**
 * @brief The lock's name in events and logs: "<db>.<collection>/<_id as relaxed extended JSON>".
 * @param lock  Borrowed; NULL gives NULL.
 * @return Owned by the handle; valid until it is destroyed.
 *
 * Errors: none. Thread safety: any thread while the handle lives. Blocking: does not block.
 */
MONGOLOCK_EXPORT const char *
mongolock_doc_lock_key (const mongolock_doc_lock_t *lock);

/** @brief What a fenced write (mongolock_doc_lock_update()) found. */
typedef enum {
   MONGOLOCK_DOC_WRITE_APPLIED = 1, /**< the document matched under our lock and was updated */
   MONGOLOCK_DOC_WRITE_LOST,        /**< the document exists, but our lease ended or another took it */
   MONGOLOCK_DOC_WRITE_GONE,        /**< no document has this _id any more */
} mongolock_doc_write_result_t;

/** Flag of mongolock_doc_lock_update(): clear the lock in the same write (update-and-release). */
#define MONGOLOCK_DOC_UPDATE_RELEASE 1
/** Flag of mongolock_doc_lock_update(): update is a pipeline, {"0": stage, "1": stage, ...}. */
#define MONGOLOCK_DOC_UPDATE_PIPELINE 2

/**
 * @brief The fenced write: one findAndModify on the locked document whose filter is {_id,
 * owner, token, a live lease by $$NOW}.
 *
 * So it applies only while this handle holds the lock; a holder that paused past its
 * lease is rejected even if its client thinks it still holds. With
 * #MONGOLOCK_DOC_UPDATE_RELEASE the same write removes the owner and expiry fields and the
 * handle stops holding the lock (RELEASED event), as release would; with a reentrant count
 * above one it only decrements the count and the lock stays. LOST and GONE are told apart
 * by one follow-up read, sent only when nothing matched; then the handle stops holding the
 * lock (LOST event).
 * @param lock    Borrowed.
 * @param update  Borrowed: update operators ({$set: ..., $inc: ...}) or, with
 *                #MONGOLOCK_DOC_UPDATE_PIPELINE, pipeline stages ($set/$addFields/$unset
 *                only). It must not write the lock fields (nor be a replacement document).
 * @param flags   0 or an OR of #MONGOLOCK_DOC_UPDATE_RELEASE and #MONGOLOCK_DOC_UPDATE_PIPELINE.
 * @param result  OUT, required: APPLIED, LOST or GONE.
 * @param error   OUT, optional: set when false is returned.
 * @return true with @p result for those three outcomes; false with
 *         #MONGOLOCK_ERROR_NOT_HELD (no acquisition to fence with: nothing sent),
 *         #MONGOLOCK_ERROR_INVALID_ARGUMENT (lock fields written, a replacement, bad
 *         flags), STORE_TIMEOUT (the write may or may not have landed), or the driver's or
 *         server's error (e.g. a bad update; then nothing was written).
 *
 * Thread safety: one thread at a time per handle (also from inside mongolock_doc_lock_with()'s
 * callback). Blocking: at most the client's timeout per command (two commands when
 * nothing matched).
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_update (mongolock_doc_lock_t *lock,
                           const bson_t *update,
                           int flags,
                           mongolock_doc_write_result_t *result,
                           bson_error_t *error);

/**
 * @brief The callback of mongolock_doc_lock_with().
 *
 * It may call mongolock_doc_lock_remaining_ms() / mongolock_doc_lock_is_held() (is the
 * lease still ours?) and mongolock_doc_lock_update() on @p lock. It runs on the thread
 * that called mongolock_doc_lock_with().
 * @param lock       Borrowed: the handle holding the lock.
 * @param doc        Borrowed: the document under the lock, valid during the call.
 * @param user_data  As given to mongolock_doc_lock_with().
 * @param error      OUT, optional to set: the callback's error when it returns false.
 * @return true on success, false on failure (optionally setting @p error).
 */
typedef bool (*mongolock_doc_lock_fn_t) (mongolock_doc_lock_t *lock,
                                         const bson_t *doc,
                                         void *user_data,
                                         bson_error_t *error);

/**
 * @brief Mongoid's with_lock: acquires, runs @p fn with the locked document, then releases
 * on every path.
 *
 * Acquires waiting as mongolock_doc_lock_acquire(), runs @p fn, then releases, @p fn
 * failing too (not when @p fn already released with #MONGOLOCK_DOC_UPDATE_RELEASE).
 * Nested in a reentrant hold of the same handle, no command is sent to acquire and the
 * document is the one the outer acquire returned (earlier fenced writes not included).
 * @param lock       Borrowed.
 * @param fn         The callback; required.
 * @param user_data  Borrowed: passed to @p fn.
 * @param error      OUT, optional: set when false is returned.
 * @return true when @p fn succeeded and the lock was held to the end. false with: the
 *         acquire's error (@p fn not run); @p fn's error (or #MONGOLOCK_ERROR_CALLBACK
 *         when it set none); or, when @p fn succeeded, the release's error:
 *         #MONGOLOCK_ERROR_LOST when the lease was gone (@p fn's unfenced writes may have
 *         overlapped another holder), STORE_TIMEOUT or the driver's error (the lease then
 *         runs out by itself).
 *
 * Thread safety: one thread at a time per handle. Blocking: the acquire (at most its
 * wait), @p fn, then at most the client's timeout for the release.
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_with (mongolock_doc_lock_t *lock, mongolock_doc_lock_fn_t fn, void *user_data, bson_error_t *error);

/**
 * @brief Lists the documents of db.collection whose owner field is set, with liveness by
 * the server's clock, in one aggregate.
 *
 * Expired locks are listed with held false: they are harmless and the next acquire
 * overwrites them. Scans the collection (no index on the lock fields is needed or advised).
 * @param client      Borrowed.
 * @param db          Borrowed; NULL for the client's database.
 * @param collection  Borrowed.
 * @param opts        Borrowed, optional: only its field names are used.
 * @param limit       1..10000 documents.
 * @param out         OUT, always initialised, the caller's to destroy: {locks: [{_id, owner,
 *                    token, expiresAt, held: bool, remainingMs: int64 (0 when expired)}],
 *                    truncated: bool}.
 * @param error       OUT, optional: set when false is returned.
 * @return true when listed; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT, STORE_TIMEOUT or
 *         the driver's or server's error.
 *
 * Thread safety: thread-safe (it only uses the thread-safe client). Blocking: at most the
 * client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_list (mongolock_client_t *client,
                         const char *db,
                         const char *collection,
                         const mongolock_doc_lock_opts_t *opts,
                         int64_t limit,
                         bson_t *out,
                         bson_error_t *error);

/**
 * @brief Checks db.collection's indexes for a TTL index (expireAfterSeconds) on a lock field.
 *
 * Such an index would make MongoDB delete business documents after their lock expired.
 * mongolock never creates an index on business collections.
 * @param client      Borrowed.
 * @param db          Borrowed; NULL for the client's database.
 * @param collection  Borrowed.
 * @param opts        Borrowed, optional: the lock field names to check (defaults when NULL).
 * @param error       OUT, optional: set when false is returned.
 * @return true when there is none (or the collection does not exist); false with
 *         #MONGOLOCK_ERROR_INDEX_CONFLICT naming the index and the dropIndexes to run,
 *         #MONGOLOCK_ERROR_INVALID_ARGUMENT, STORE_TIMEOUT or the driver's error.
 *
 * Thread safety: thread-safe. Blocking: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_check_indexes (mongolock_client_t *client,
                                  const char *db,
                                  const char *collection,
                                  const mongolock_doc_lock_opts_t *opts,
                                  bson_error_t *error);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_DOC_H */
