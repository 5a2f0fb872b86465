#ifndef MONGOLOCK_DOC_H
#define MONGOLOCK_DOC_H

#include <mongolock/mongolock-client.h>
#include <mongolock/mongolock-lock.h>
#include <mongolock/mongolock-macros.h>

MONGOLOCK_BEGIN_DECLS

/*
 * mongolock_doc_lock_t: a lock kept inside a business document (a user, an order), like
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

/* Builder for document-lock settings; a handle copies what it needs. */
typedef struct _mongolock_doc_lock_opts_t mongolock_doc_lock_opts_t;

/* Default lock field names (top level of the business document). */
#define MONGOLOCK_DOC_DEFAULT_OWNER_FIELD "_lockOwner"
#define MONGOLOCK_DOC_DEFAULT_EXPIRY_FIELD "_lockExpiresAt"
#define MONGOLOCK_DOC_DEFAULT_TOKEN_FIELD "_lockToken"
/* Field names are 1..MONGOLOCK_DOC_FIELD_MAX_BYTES bytes. */
#define MONGOLOCK_DOC_FIELD_MAX_BYTES 128

/* New options with every default (the fields above, the named lock's defaults for the
 * rest). The caller destroys them. */
MONGOLOCK_EXPORT mongolock_doc_lock_opts_t *
mongolock_doc_lock_opts_new (void);

/* Frees opts. NULL is a no-op. */
MONGOLOCK_EXPORT void
mongolock_doc_lock_opts_destroy (mongolock_doc_lock_opts_t *opts);

/*
 * Names the lock fields (like Mongoid's locking_name_field / locked_at_field). Each is
 * borrowed and copied; NULL keeps the current name. A name must be valid UTF-8 of
 * 1..MONGOLOCK_DOC_FIELD_MAX_BYTES bytes, top level (no '.'), not start with '$', not be
 * "_id", and the three must differ. Returns false with MONGOLOCK_ERROR_INVALID_ARGUMENT
 * (opts unchanged) otherwise.
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_opts_set_fields (mongolock_doc_lock_opts_t *opts,
                                    const char *owner_field,
                                    const char *expiry_field,
                                    const char *token_field,
                                    bson_error_t *error);

/*
 * The lease settings inside opts, set with the mongolock_lock_opts_set_* functions (lease,
 * wait, backoff and its strategy, auto-renew, reentrancy, event callback, cancellation),
 * which mean the same for document locks as for named locks. Owned by opts.
 */
MONGOLOCK_EXPORT mongolock_lock_opts_t *
mongolock_doc_lock_opts_lock_opts (mongolock_doc_lock_opts_t *opts);

/*
 * A handle on the lock of the document {_id: id} in db.collection. client: borrowed, must
 * outlive the handle. db: borrowed, copied; NULL for the client's database. collection:
 * borrowed, copied. id: borrowed, copied; any BSON value a document's _id can hold (not an
 * array, regex or undefined). opts: borrowed, optional. Names follow MongoDB's rules.
 * Returns the handle (the caller's) or NULL with MONGOLOCK_ERROR_INVALID_ARGUMENT.
 * Does not contact the server.
 */
MONGOLOCK_EXPORT mongolock_doc_lock_t *
mongolock_doc_lock_new (mongolock_client_t *client,
                        const char *db,
                        const char *collection,
                        const bson_value_t *id,
                        const mongolock_doc_lock_opts_t *opts,
                        bson_error_t *error);

/* Destroys the handle, releasing a lock it still holds first (one attempt; an error goes
 * only to the event callback). NULL is a no-op. Blocks: as release when held. */
MONGOLOCK_EXPORT void
mongolock_doc_lock_destroy (mongolock_doc_lock_t *lock);

/*
 * One attempt: a single findAndModify. *acquired (OUT, required): true when this handle
 * now holds the lock, false when another holder's lease is live; both return true.
 * Returns false with MONGOLOCK_ERROR_NOT_FOUND when no document has this _id (nothing is
 * created), and otherwise as mongolock_lock_try_acquire (STORE_TIMEOUT, CANCELLED,
 * WOULD_DEADLOCK, LEASE_TOO_SHORT, the server's error, e.g. 16554 when the token field
 * holds a non-number). Blocks: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_try_acquire (mongolock_doc_lock_t *lock, bool *acquired, bson_error_t *error);

/*
 * Takes the lock, waiting up to the wait in the options (woken on release by the
 * client's change stream of the document's collection on a replica set, else by
 * backoff, as mongolock_lock_acquire); errors as
 * mongolock_lock_acquire plus MONGOLOCK_ERROR_NOT_FOUND (at once: a missing document is
 * never "busy"). Blocks: at most wait_ms, everything included (the client's timeout when
 * wait_ms is 0).
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_acquire (mongolock_doc_lock_t *lock, bson_error_t *error);

/* Extends the lease from the server's now: one findAndModify matching _id, owner, token and a
 * live lease. Errors and blocking as mongolock_lock_renew. */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_renew (mongolock_doc_lock_t *lock, bson_error_t *error);

/* Releases: one findAndModify matching _id, owner and token that removes the owner and expiry
 * fields (the token field stays). Errors and blocking as mongolock_lock_release: a stale
 * handle's release changes nothing and fails with MONGOLOCK_ERROR_LOST. */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_release (mongolock_doc_lock_t *lock, bson_error_t *error);

/*
 * The document as the acquire that took the lock returned it (lock fields included), or
 * NULL before the first acquisition. Owned by the handle; valid until its next acquire
 * or destroy. Copy it to keep it. Not refreshed by mongolock_doc_lock_update.
 */
MONGOLOCK_EXPORT const bson_t *
mongolock_doc_lock_document (const mongolock_doc_lock_t *lock);

/* As the mongolock_lock_* getters of the same names (no blocking). */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_is_held (const mongolock_doc_lock_t *lock);
MONGOLOCK_EXPORT int64_t
mongolock_doc_lock_token (const mongolock_doc_lock_t *lock);
MONGOLOCK_EXPORT int64_t
mongolock_doc_lock_remaining_ms (const mongolock_doc_lock_t *lock);
MONGOLOCK_EXPORT const char *
mongolock_doc_lock_owner (const mongolock_doc_lock_t *lock);
/* "<db>.<collection>/<_id as relaxed extended JSON>"; owned by the handle. */
MONGOLOCK_EXPORT const char *
mongolock_doc_lock_key (const mongolock_doc_lock_t *lock);

/* What a fenced write found. */
typedef enum {
   MONGOLOCK_DOC_WRITE_APPLIED = 1, /* the document matched under our lock and was updated */
   MONGOLOCK_DOC_WRITE_LOST,        /* the document exists, but our lease ended or another took it */
   MONGOLOCK_DOC_WRITE_GONE,        /* no document has this _id any more */
} mongolock_doc_write_result_t;

/* Flags of mongolock_doc_lock_update. */
#define MONGOLOCK_DOC_UPDATE_RELEASE 1  /* clear the lock in the same write (update-and-release) */
#define MONGOLOCK_DOC_UPDATE_PIPELINE 2 /* update is a pipeline: {"0": stage, "1": stage, ...} */

/*
 * The fenced write: one findAndModify on the locked document whose filter is {_id, owner,
 * token, a live lease by $$NOW}, so it applies only while this handle holds the lock; a
 * holder that paused past its lease is rejected even if its client thinks it still holds.
 * update: borrowed; update operators ({$set: ..., $inc: ...}) or, with
 * MONGOLOCK_DOC_UPDATE_PIPELINE, pipeline stages ($set/$addFields/$unset only). It must not
 * write the lock fields (nor a replacement document): MONGOLOCK_ERROR_INVALID_ARGUMENT.
 * With MONGOLOCK_DOC_UPDATE_RELEASE the same write removes the owner and expiry fields and
 * the handle stops holding the lock (RELEASED event), as release would; with a reentrant
 * count above one it only decrements the count and the lock stays.
 * *result (OUT, required): APPLIED, LOST or GONE. LOST and GONE are told apart by one
 * follow-up read, sent only when nothing matched; then the handle stops holding the lock
 * (LOST event). Returns true with *result for those three; false with
 * MONGOLOCK_ERROR_NOT_HELD (no acquisition to fence with: nothing sent), INVALID_ARGUMENT,
 * or the driver's/server's error (e.g. a bad update; then nothing was written).
 * Blocks: at most the client's timeout per command (two commands when nothing matched);
 * STORE_TIMEOUT means the write may or may not have landed.
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_update (mongolock_doc_lock_t *lock,
                           const bson_t *update,
                           int flags,
                           mongolock_doc_write_result_t *result,
                           bson_error_t *error);

/*
 * The callback of mongolock_doc_lock_with: doc is the document under the lock (borrowed,
 * valid during the call). It may call mongolock_doc_lock_remaining_ms / is_held (is the
 * lease still ours?) and mongolock_doc_lock_update on lock. Returns true on success, or
 * false, optionally setting error.
 */
typedef bool (*mongolock_doc_lock_fn_t) (mongolock_doc_lock_t *lock,
                                         const bson_t *doc,
                                         void *user_data,
                                         bson_error_t *error);

/*
 * Mongoid's with_lock: acquires (waiting as mongolock_doc_lock_acquire), runs fn with the
 * locked document, then releases on every path, fn failing too (not when fn already
 * released with MONGOLOCK_DOC_UPDATE_RELEASE). Returns true when fn succeeded and the lock
 * was held to the end. Returns false with: the acquire's error (fn not run); fn's error
 * (or MONGOLOCK_ERROR_CALLBACK when it set none); or, when fn succeeded, the release's
 * error: MONGOLOCK_ERROR_LOST when the lease was gone (fn's unfenced writes may have
 * overlapped another holder), STORE_TIMEOUT or the driver's error (the lease then runs
 * out by itself). Blocks: the acquire, fn, then at most the client's timeout.
 * Nested in a reentrant hold of the same handle, no command is sent to acquire and doc is
 * the document as the outer acquire returned it (earlier fenced writes not included).
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_with (mongolock_doc_lock_t *lock, mongolock_doc_lock_fn_t fn, void *user_data, bson_error_t *error);

/*
 * Lists the documents of db.collection whose owner field is set, with liveness by the
 * server's clock, in one aggregate. db: NULL for the client's. opts: borrowed, optional
 * (only its field names are used). limit: 1..10000 documents. out: OUT, always
 * initialised, the caller's: {locks: [{_id, owner, token, expiresAt, held: bool,
 * remainingMs: int64 (0 when expired)}], truncated: bool}. Expired locks are listed with
 * held false: they are harmless and the next acquire overwrites them.
 * Thread-safe. Blocks: at most the client's timeout. Scans the collection (no index on the
 * lock fields is needed or advised).
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_list (mongolock_client_t *client,
                         const char *db,
                         const char *collection,
                         const mongolock_doc_lock_opts_t *opts,
                         int64_t limit,
                         bson_t *out,
                         bson_error_t *error);

/*
 * Checks db.collection's indexes for a TTL index (expireAfterSeconds) on a lock field of
 * opts: such an index would make MongoDB delete business documents after their lock
 * expired. Returns true when there is none (or the collection does not exist); false with
 * MONGOLOCK_ERROR_INDEX_CONFLICT naming the index and the dropIndexes to run, or the
 * driver's error. mongolock never creates an index on business collections.
 * Thread-safe. Blocks: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_doc_lock_check_indexes (mongolock_client_t *client,
                                  const char *db,
                                  const char *collection,
                                  const mongolock_doc_lock_opts_t *opts,
                                  bson_error_t *error);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_DOC_H */
