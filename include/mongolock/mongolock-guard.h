#ifndef MONGOLOCK_GUARD_H
#define MONGOLOCK_GUARD_H

#include <mongoc/mongoc.h>

#include <mongolock/mongolock-client.h>
#include <mongolock/mongolock-lock.h>
#include <mongolock/mongolock-macros.h>

MONGOLOCK_BEGIN_DECLS

/*
 * The duplicate-creation guard.
 *
 * "Find it; if missing, create it", run by many processes at once, creates duplicates. The
 * guard has two halves:
 *  - a lock keyed by the canonical form of the constrained fields (mongolock_guard_run,
 *    mongolock_guard_first_or_create): the latency optimisation, so racing callers wait
 *    for the first one instead of all failing;
 *  - a unique index on those fields (mongolock_unique_index_ensure): the correctness floor,
 *    which holds when a lock expires, the lock store is down, or code bypasses the lock.
 * Use both.
 *
 * Blocking: key building, options, constructors and getters never block (no I/O); the
 * calls that run commands say how long they may block ("Blocks:").
 */

/* ---------------------------------------------------------------------------------------
 * Canonical keys
 *
 * A key names "the thing being created": a namespace (usually a collection name), the
 * constrained attributes as a BSON document, and an optional principal (a tenant or user,
 * so equal attributes of different tenants do not contend). The three are serialised into
 * a canonical payload, hashed, and the hash becomes the lock key:
 *
 *   "ml1:s:" + hex (SHA-256 (payload))                  without a secret
 *   "ml1:h:" + hex (HMAC-SHA256 (secret, payload))       with a secret
 *
 * (70 bytes; "ml1" is the version of the payload format below and changes whenever the
 * format does). Plain SHA-256 keys are deterministic across processes, but anyone who can
 * read the lock collection can confirm a guess of the attributes (an e-mail address, say);
 * a secret shared by all processes prevents that. The secret is never logged or stored in
 * any document; copies are wiped with OPENSSL_cleanse when freed.
 *
 * Payload format, version 1 (bytes; LF is "\n"; <n> is a decimal number without sign or
 * leading zeros; netstr(x) is <byte length of x> ":" x):
 *
 *   payload   = "ml1" LF netstr(namespace) LF principal LF value(attributes)
 *   principal = "-"                              no principal
 *             | "p" netstr(principal)
 *   value     = "{" *(netstr(field) value) "}"   document: fields sorted bytewise (so
 *                                                field order never matters); a field that
 *                                                appears twice is refused
 *             | "[" *value "]"                   array: element order kept
 *             | "s" netstr(utf8) ";"             string
 *             | "i" <int64> ";"                  any number with an integral value in the
 *                                                int64 range: int32, int64 and double, so
 *                                                1, NumberLong(1) and 1.0 are EQUAL, as in
 *                                                a unique index; -0.0 is "i0;"
 *             | "d" <16 hex digits> ";"          any other double: its IEEE-754 bits
 *                                                (1.5 is "d3ff8000000000000;", +inf is
 *                                                "d7ff0000000000000;")
 *             | "dnan;"                          every NaN
 *             | "t;" | "f;" | "z;"               true, false, null
 *             | "o" <24 hex digits> ";"          ObjectId
 *             | "D" <int64 ms since epoch> ";"   UTC datetime
 *             | "b" <subtype> ":" <hex> ";"      binary (lowercase hex of the bytes)
 *
 * Hex digits are lowercase; the string "1" ("s1:1;") differs from the number 1 ("i1;"). A
 * null field and an absent field differ in the payload. Refused with
 * MONGOLOCK_ERROR_INVALID_ARGUMENT (the message names the field path): decimal128 (its
 * equality with doubles cannot be decided exactly here), regex, timestamp, JavaScript
 * code, symbol, dbPointer, undefined, minKey and maxKey; nesting deeper than
 * MONGOLOCK_KEY_MAX_DEPTH levels (the attributes document is level 1); a payload longer
 * than MONGOLOCK_KEY_PAYLOAD_MAX_BYTES; strings that are not UTF-8.
 *
 * Example: namespace "users", attributes {tenant: 7, email: "a@example.com"}, no
 * principal gives the payload
 *   "ml1\n5:users\n-\n{5:emails13:a@example.com;6:tenanti7;}"
 * and the key "ml1:s:" + its SHA-256 in hex. tests/guard/test-key.c pins test vectors.
 */
#define MONGOLOCK_KEY_PAYLOAD_MAX_BYTES 8192
#define MONGOLOCK_KEY_MAX_DEPTH 4
#define MONGOLOCK_KEY_SECRET_MAX_BYTES 1024
/* Length of every canonical key, without the terminating NUL. */
#define MONGOLOCK_KEY_LENGTH 70
/* Environment variable a guard reads its secret from when none is set in its options. */
#define MONGOLOCK_KEY_SECRET_ENV "MONGOLOCK_KEY_SECRET"

/*
 * Builds the canonical payload described above (for inspection and tests; it contains the
 * attribute values in clear). ns: borrowed, 1..1024 bytes of UTF-8. attributes: borrowed.
 * principal: borrowed, optional (NULL for none; "" is refused). *payload_out (OUT) receives
 * the payload, NUL-terminated, the caller's to free with bson_free; *len_out (OUT,
 * optional) its length (a string attribute may embed NUL bytes). Returns false with
 * MONGOLOCK_ERROR_INVALID_ARGUMENT (and *payload_out NULL) for bad input. Thread-safe.
 */
MONGOLOCK_EXPORT bool
mongolock_key_payload (const char *ns,
                       const bson_t *attributes,
                       const char *principal,
                       char **payload_out,
                       size_t *len_out,
                       bson_error_t *error);

/*
 * Builds a canonical key. Arguments as for mongolock_key_payload; secret: borrowed,
 * optional, secret_len bytes (1..MONGOLOCK_KEY_SECRET_MAX_BYTES): NULL gives a plain
 * SHA-256 key. This function does not read MONGOLOCK_KEY_SECRET (a guard does; see
 * mongolock_guard_key). *key_out (OUT) receives the MONGOLOCK_KEY_LENGTH-byte key, the
 * caller's to free with bson_free, or NULL on error. Thread-safe.
 */
MONGOLOCK_EXPORT bool
mongolock_key_build (const char *ns,
                     const bson_t *attributes,
                     const char *principal,
                     const void *secret,
                     size_t secret_len,
                     char **key_out,
                     bson_error_t *error);

/* ---------------------------------------------------------------------------------------
 * The guard: run under a lock, degraded modes
 */

/*
 * mongolock_guard_t: runs callers' code under create locks on one lock store (a
 * mongolock_client_t), with the key secret and the degraded-mode policy. Thread-safe like
 * the client: any number of threads may use one guard at once, except
 * mongolock_guard_destroy. Create one per process (after fork, not before).
 */
typedef struct _mongolock_guard_t mongolock_guard_t;

/* Builder for guard settings. Not thread-safe; the guard copies what it needs. */
typedef struct _mongolock_guard_opts_t mongolock_guard_opts_t;

/* Lease and wait of the create lock. A create is usually a few milliseconds of work, so
 * the lease is short (a crashed holder blocks others for at most that long) and the wait
 * a little longer than a typical create under contention. */
#define MONGOLOCK_GUARD_DEFAULT_LEASE_MS 5000
#define MONGOLOCK_GUARD_LEASE_MAX_MS 60000
#define MONGOLOCK_GUARD_DEFAULT_WAIT_MS 2000
#define MONGOLOCK_GUARD_WAIT_MAX_MS 60000
/* A fail-open guard warns at most once per key per this interval. */
#define MONGOLOCK_GUARD_WARNING_INTERVAL_MS 60000
/* After a fail-open guard finds the store unreachable, it runs callbacks locally without
 * trying the store for this long (see mongolock_guard_opts_set_store_retry_ms). */
#define MONGOLOCK_GUARD_DEFAULT_STORE_RETRY_MS 5000
#define MONGOLOCK_GUARD_STORE_RETRY_MAX_MS 3600000

/* What a guard does when the lock store cannot be reached. */
typedef enum {
   /* Default: return the store's error; the callback does not run. */
   MONGOLOCK_GUARD_FAIL_CLOSED = 0,
   /* Run the callback under a process-local mutex for the key (threads of this process
    * still exclude each other; other processes do not: the unique index is what stops
    * duplicates then), warn at most once per key per MONGOLOCK_GUARD_WARNING_INTERVAL_MS,
    * and emit MONGOLOCK_EVENT_DEGRADED on every such run. */
   MONGOLOCK_GUARD_FAIL_OPEN = 1,
} mongolock_guard_degraded_t;

/* How a callback ran; reported through the mode out-parameters. */
typedef enum {
   MONGOLOCK_GUARD_MODE_NONE = 0,   /* it did not run (error, or nothing needed a lock) */
   MONGOLOCK_GUARD_MODE_LOCKED = 1, /* under the distributed lock */
   MONGOLOCK_GUARD_MODE_LOCAL = 2,  /* fail-open: under the process-local mutex only */
} mongolock_guard_mode_t;

/* Static name of a mode: "none", "locked", "local". */
MONGOLOCK_EXPORT const char *
mongolock_guard_mode_name (mongolock_guard_mode_t mode);

/*
 * Receives a fail-open warning. key: the canonical key (never the secret or the
 * attributes); message: what happened, including the store's error. Both valid only during
 * the call. Runs on the caller's thread, outside any guard lock.
 */
typedef void (*mongolock_guard_warning_cb_t) (const char *key, const char *message, void *user_data);

/* Returns new options with every default set; the caller destroys them. NULL never. */
MONGOLOCK_EXPORT mongolock_guard_opts_t *
mongolock_guard_opts_new (void);

/* Frees opts, wiping any secret. NULL is a no-op. */
MONGOLOCK_EXPORT void
mongolock_guard_opts_destroy (mongolock_guard_opts_t *opts);

/* Default lease of the create lock, MONGOLOCK_LEASE_MIN_MS..MONGOLOCK_GUARD_LEASE_MAX_MS
 * (default MONGOLOCK_GUARD_DEFAULT_LEASE_MS). Returns false with INVALID_ARGUMENT when out
 * of range. */
MONGOLOCK_EXPORT bool
mongolock_guard_opts_set_lease_ms (mongolock_guard_opts_t *opts, int64_t lease_ms, bson_error_t *error);

/* Default wait for a busy create lock, 0..MONGOLOCK_GUARD_WAIT_MAX_MS (default
 * MONGOLOCK_GUARD_DEFAULT_WAIT_MS). In fail-open mode the same budget, less the time spent
 * finding the store unreachable, bounds the wait for the local mutex (one try at least).
 * It does not bound server selection: each call on an unreachable store first costs the
 * URI's serverSelectionTimeoutMS (30 s by default: set it low for a guard). */
MONGOLOCK_EXPORT bool
mongolock_guard_opts_set_wait_ms (mongolock_guard_opts_t *opts, int64_t wait_ms, bson_error_t *error);

/* Renew the lease while the callback runs (default off; see mongolock_lock_opts_set_auto_renew).
 * Off, a callback that outlives the lease may overlap with the next holder. */
MONGOLOCK_EXPORT void
mongolock_guard_opts_set_auto_renew (mongolock_guard_opts_t *opts, bool auto_renew);

/* Degraded-mode policy (default MONGOLOCK_GUARD_FAIL_CLOSED). */
MONGOLOCK_EXPORT void
mongolock_guard_opts_set_degraded_mode (mongolock_guard_opts_t *opts, mongolock_guard_degraded_t mode);

/*
 * Fail-open only: once a call finds the store unreachable, calls for the next retry_ms run
 * under the local mutex at once, without trying the store (each try on an unreachable
 * store costs the URI's serverSelectionTimeoutMS, 30 s by default). The first call after
 * that tries the store again; any call that reaches it clears the mark. Their DEGRADED
 * events carry the error that marked the store. 0..MONGOLOCK_GUARD_STORE_RETRY_MAX_MS
 * (default MONGOLOCK_GUARD_DEFAULT_STORE_RETRY_MS); 0 tries the store on every call.
 */
MONGOLOCK_EXPORT bool
mongolock_guard_opts_set_store_retry_ms (mongolock_guard_opts_t *opts, int64_t retry_ms, bson_error_t *error);

/*
 * The key secret. secret: borrowed, copied, secret_len bytes (1..MONGOLOCK_KEY_SECRET_MAX_BYTES).
 * secret NULL (with secret_len 0) means explicitly none: plain SHA-256 keys, and
 * MONGOLOCK_KEY_SECRET is ignored. Not called: the guard reads MONGOLOCK_KEY_SECRET when it
 * is created (an empty value counts as unset). Every process sharing keys must use the same
 * secret.
 */
MONGOLOCK_EXPORT bool
mongolock_guard_opts_set_secret (mongolock_guard_opts_t *opts,
                                 const void *secret,
                                 size_t secret_len,
                                 bson_error_t *error);

/* Event callback for the guard's locks (default none; cb NULL removes it): the lock events
 * of mongolock-lock.h plus MONGOLOCK_EVENT_DEGRADED, emitted on the caller's thread each
 * time a callback runs in fail-open mode (its error is the store's error). Calls from
 * several threads using one guard may overlap. */
MONGOLOCK_EXPORT void
mongolock_guard_opts_set_event_callback (mongolock_guard_opts_t *opts, mongolock_event_cb_t cb, void *user_data);

/* Where fail-open warnings go (default: libmongoc's log handler, level WARNING, domain
 * "mongolock", which prints to stderr unless the application set mongoc_log_set_handler). */
MONGOLOCK_EXPORT void
mongolock_guard_opts_set_warning_callback (mongolock_guard_opts_t *opts,
                                           mongolock_guard_warning_cb_t cb,
                                           void *user_data);

/*
 * Creates a guard. client: borrowed, must outlive the guard. opts: borrowed, optional.
 * Reads MONGOLOCK_KEY_SECRET now when opts set no secret. Returns the guard (the caller's)
 * or NULL with error (INVALID_ARGUMENT). Does not contact the server.
 */
MONGOLOCK_EXPORT mongolock_guard_t *
mongolock_guard_new (mongolock_client_t *client, const mongolock_guard_opts_t *opts, bson_error_t *error);

/* Frees the guard and wipes its secret. No call may be running in it. NULL is a no-op. */
MONGOLOCK_EXPORT void
mongolock_guard_destroy (mongolock_guard_t *guard);

/*
 * Milliseconds until a fail-open guard tries the lock store again after finding it
 * unreachable; 0 when the store is not marked unreachable (or the guard fails closed).
 * For health checks and metrics. Thread-safe.
 */
MONGOLOCK_EXPORT int64_t
mongolock_guard_store_retry_in_ms (mongolock_guard_t *guard);

/* Whether the guard hashes keys with a secret (true: "ml1:h:" keys). */
MONGOLOCK_EXPORT bool
mongolock_guard_has_secret (const mongolock_guard_t *guard);

/* mongolock_key_build with the guard's secret (if any). Thread-safe. */
MONGOLOCK_EXPORT bool
mongolock_guard_key (const mongolock_guard_t *guard,
                     const char *ns,
                     const bson_t *attributes,
                     const char *principal,
                     char **key_out,
                     bson_error_t *error);

/*
 * The caller's code, run under the lock. mode: MONGOLOCK_GUARD_MODE_LOCKED or _LOCAL.
 * token: the lock's fencing token (for mongolock_fenced_update_one), 0 in LOCAL mode.
 * Return true for success; on failure return false and set error (optional: when it is
 * left unset, the guard reports MONGOLOCK_ERROR_CALLBACK). Results go through user_data.
 */
typedef bool (*mongolock_guard_fn_t) (mongolock_guard_mode_t mode, int64_t token, void *user_data, bson_error_t *error);

/*
 * Runs fn while holding the lock for key, then releases it, on every path (fn failing
 * too). key: borrowed; usually from mongolock_guard_key, but any valid lock key works.
 * opts: borrowed, optional: {leaseMs: int, waitMs: int} overriding the guard's defaults
 * for this call (same bounds). user_data: passed to fn. *mode (OUT, optional) says how fn
 * ran (NONE when it did not).
 * Returns fn's result: true when it succeeded; false with fn's error (or
 * MONGOLOCK_ERROR_CALLBACK when fn set none). Returns false without running fn with
 * MONGOLOCK_ERROR_TIMEOUT when another holder kept the key for the whole wait (in LOCAL
 * mode: another thread of this process), with the store's error when it could not be
 * reached and the guard fails closed (MONGOC_ERROR_SERVER_SELECTION or MONGOC_ERROR_STREAM
 * domains, or MONGOLOCK_ERROR_STORE_TIMEOUT when it gave no answer within the wait; only
 * these count as "unreachable": a server's command error never falls back to the local
 * mutex), or with INVALID_ARGUMENT.
 * A fail-closed guard tries an unreachable store again until the wait runs out; a
 * fail-open one falls back to its local mutex at the first failure.
 * Blocks: at most the wait (waitMs, the guard's default otherwise) to get the lock, in
 * either mode, plus fn's own time and one release (at most the client's timeout).
 * A failed release after fn (lease lost, network) does not change the result; it is
 * reported to the event callback (RELEASED with an error), and the lease expires on the
 * server by itself. Not reentrant: fn must not run the same key again (it would wait until
 * TIMEOUT). Thread-safe.
 */
MONGOLOCK_EXPORT bool
mongolock_guard_run (mongolock_guard_t *guard,
                     const char *key,
                     const bson_t *opts,
                     mongolock_guard_fn_t fn,
                     void *user_data,
                     mongolock_guard_mode_t *mode,
                     bson_error_t *error);

/* ---------------------------------------------------------------------------------------
 * First-or-create and update-or-create on a business collection
 *
 * filter: borrowed; top-level equality only: fields without "." or a leading "$", values
 * that are not operator documents ({$gt: ...}); {} is allowed (a singleton). It is both
 * the query and the identity of the document, and its canonical key (namespace and
 * principal from opts) names the create lock. It should match the fields of a unique
 * index made with mongolock_unique_index_ensure.
 * opts: borrowed, optional: {namespace: string (default: the collection's name),
 * principal: string, leaseMs: int, waitMs: int}.
 * doc_out: OUT, always initialised, the caller's to destroy. *created, *mode: OUT, optional.
 * collection: borrowed; used from the calling thread only (mongoc_collection_t is not
 * thread-safe); reads go to the primary.
 */

/*
 * Finds the document matching filter; when there is none, takes the create lock, looks
 * again, and inserts filter's fields plus document's. document: borrowed, optional; the
 * other fields of a new document; it must not repeat a filter field; an _id in it (or in
 * filter) is kept, else a new ObjectId is generated. When the insert fails with duplicate
 * key 11000 (someone bypassed the lock or its lease ran out and the unique index stopped
 * the second insert), the winner is read and returned.
 * On success doc_out is the document (the existing one, or the one inserted) and *created
 * says whether this call inserted it; *mode is NONE when it was found without a lock.
 * Errors: as mongolock_guard_run; the driver's errors; an 11000 that does not come with a
 * document matching filter (another unique index refused the insert) passes through.
 * Thread-safe as the guard, with one collection per thread.
 * Blocks: as mongolock_guard_run, plus the reads and the insert on collection, each
 * bounded by that client's own URI timeouts (mongolock does not run them on its workers).
 */
MONGOLOCK_EXPORT bool
mongolock_guard_first_or_create (mongolock_guard_t *guard,
                                 mongoc_collection_t *collection,
                                 const bson_t *filter,
                                 const bson_t *document,
                                 const bson_t *opts,
                                 bson_t *doc_out,
                                 bool *created,
                                 mongolock_guard_mode_t *mode,
                                 bson_error_t *error);

/*
 * Applies update (borrowed operator document, e.g. {$set: {...}, $inc: {...}}) to the
 * document matching filter, or creates it as an upsert would (filter's fields, then update
 * applied), under the create lock. An existing document is updated without the lock (one
 * findAndModify); only creation takes it. A creating upsert that hits 11000 (lock bypassed
 * or expired) is retried as a plain update of the winner. doc_out receives the document
 * after the update; *created says whether this call inserted it. Errors and thread safety
 * as mongolock_guard_first_or_create.
 */
MONGOLOCK_EXPORT bool
mongolock_guard_update_or_create (mongolock_guard_t *guard,
                                  mongoc_collection_t *collection,
                                  const bson_t *filter,
                                  const bson_t *update,
                                  const bson_t *opts,
                                  bson_t *doc_out,
                                  bool *created,
                                  mongolock_guard_mode_t *mode,
                                  bson_error_t *error);

/* ---------------------------------------------------------------------------------------
 * The unique index: the correctness floor
 */

/*
 * Ensures a unique index on a business collection: the correctness floor that holds even when a lock
 * is bypassed or expires. Idempotent.
 * collection: borrowed. keys: borrowed index key document, e.g. {tenant: 1, email: 1} (1/-1 values).
 * opts: borrowed, optional: {name: string (default: MongoDB's name, e.g. "tenant_1_email_1"),
 *        partialFilterExpression: document, dryRun: bool (check only, build nothing)}.
 * report: OUT, optional, always initialised when given, the caller's to destroy:
 *   {name: string, action: "created" | "exists" | "would-create" | "duplicates" | "conflict",
 *    duplicateGroups: int64, duplicateDocuments: int64,
 *    sample: [{key: {...}, count: int64}, ...]  (at most 10 groups, only for "duplicates"),
 *    conflict: {name, key, unique, partialFilterExpression?}  (the existing index, only for "conflict")}
 * Returns true for created, exists and would-create (dry run). Returns false with
 * MONGOLOCK_ERROR_DUPLICATES (existing data has duplicates; nothing built; report says how many and which),
 * MONGOLOCK_ERROR_INDEX_CONFLICT (an existing index has the same name or key with other options: server codes
 * 85/86 or found by listIndexes; nothing changed), MONGOLOCK_ERROR_INVALID_ARGUMENT, or the driver's/server's error.
 * Thread safety: as the collection (a mongoc_collection_t is not thread-safe).
 * Blocks: a listIndexes, an aggregate over the collection and a createIndexes, each bounded
 * by the collection's client's URI timeouts (the build of a large index can take long).
 *
 * Details: duplicates are found before building with one aggregate ($match on the partial
 * filter, $group on the key fields with a missing field counted as null, as the index
 * does); the sample lists the largest groups first. An existing index on the same key that
 * is unique with the same partial filter (and no sparse or collation) counts as "exists"
 * whatever its name, and report.name is its name. A duplicate the scan cannot see (array
 * values: a unique index is multikey) or one inserted during the build makes the build
 * fail with 11000: that too is DUPLICATES, with the server's message in error.
 */
MONGOLOCK_EXPORT bool
mongolock_unique_index_ensure (mongoc_collection_t *collection, const bson_t *keys, const bson_t *opts,
                               bson_t *report, bson_error_t *error);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_GUARD_H */
