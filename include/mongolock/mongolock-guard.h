/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MONGOLOCK_GUARD_H
#define MONGOLOCK_GUARD_H

/**
 * @file
 * @brief The duplicate-creation guard: canonical keys, run-under-lock with degraded modes,
 * first-or-create, update-or-create and the unique-index helper.
 *
 * "Find it; if missing, create it", run by many processes at once, creates duplicates. The
 * guard has two halves:
 *  - a lock keyed by the canonical form of the constrained fields (mongolock_guard_run(),
 *    mongolock_guard_first_or_create()): the latency optimisation, so racing callers wait
 *    for the first one instead of all failing;
 *  - a unique index on those fields (mongolock_unique_index_ensure()): the correctness
 *    floor, which holds when a lock expires, the lock store is down, or code bypasses the
 *    lock.
 * Use both.
 *
 * Blocking: key building, options, constructors and getters never block (no I/O); the
 * calls that run commands say how long they may block ("Blocking:").
 *
 * @par Canonical keys
 * A key names "the thing being created": a namespace (usually a collection name), the
 * constrained attributes as a BSON document, and an optional principal (a tenant or user,
 * so equal attributes of different tenants do not contend). The three are serialised into
 * a canonical payload, hashed, and the hash becomes the lock key:
 * @verbatim
  "ml1:s:" + hex (SHA-256 (payload))                  without a secret
  "ml1:h:" + hex (HMAC-SHA256 (secret, payload))       with a secret
@endverbatim
 * (70 bytes; "ml1" is the version of the payload format below and changes whenever the
 * format does). Plain SHA-256 keys are deterministic across processes, but anyone who can
 * read the lock collection can confirm a guess of the attributes (an e-mail address, say);
 * a secret shared by all processes prevents that. The secret is never logged or stored in
 * any document; copies are wiped with OPENSSL_cleanse when freed.
 *
 * Payload format, version 1 (bytes; LF is "\n"; `<n>` is a decimal number without sign or
 * leading zeros; netstr(x) is `<byte length of x>` ":" x):
 * @verbatim
  payload   = "ml1" LF netstr(namespace) LF principal LF value(attributes)
  principal = "-"                              no principal
            | "p" netstr(principal)
  value     = "{" *(netstr(field) value) "}"   document: fields sorted bytewise (so
                                               field order never matters); a field that
                                               appears twice is refused
            | "[" *value "]"                   array: element order kept
            | "s" netstr(utf8) ";"             string
            | "i" <int64> ";"                  any number with an integral value in the
                                               int64 range: int32, int64 and double, so
                                               1, NumberLong(1) and 1.0 are EQUAL, as in
                                               a unique index; -0.0 is "i0;"
            | "d" <16 hex digits> ";"          any other double: its IEEE-754 bits
                                               (1.5 is "d3ff8000000000000;", +inf is
                                               "d7ff0000000000000;")
            | "dnan;"                          every NaN
            | "t;" | "f;" | "z;"               true, false, null
            | "o" <24 hex digits> ";"          ObjectId
            | "D" <int64 ms since epoch> ";"   UTC datetime
            | "b" <subtype> ":" <hex> ";"      binary (lowercase hex of the bytes)
@endverbatim
 * Hex digits are lowercase; the string "1" ("s1:1;") differs from the number 1 ("i1;"). A
 * null field and an absent field differ in the payload. Refused with
 * #MONGOLOCK_ERROR_INVALID_ARGUMENT (the message names the field path): decimal128 (its
 * equality with doubles cannot be decided exactly here), regex, timestamp, JavaScript
 * code, symbol, dbPointer, undefined, minKey and maxKey; nesting deeper than
 * #MONGOLOCK_KEY_MAX_DEPTH levels (the attributes document is level 1); a payload longer
 * than #MONGOLOCK_KEY_PAYLOAD_MAX_BYTES; strings that are not UTF-8.
 *
 * Example: namespace "users", attributes {tenant: 7, email: "a@example.com"}, no
 * principal gives the payload
 * @verbatim
  "ml1\n5:users\n-\n{5:emails13:a@example.com;6:tenanti7;}"
@endverbatim
 * and the key "ml1:s:" + its SHA-256 in hex. tests/guard/test-key.c pins test vectors.
 */

#include <mongoc/mongoc.h>

#include <mongolock/mongolock-client.h>
#include <mongolock/mongolock-lock.h>
#include <mongolock/mongolock-macros.h>

MONGOLOCK_BEGIN_DECLS

/** The longest canonical payload accepted, in bytes. */
#define MONGOLOCK_KEY_PAYLOAD_MAX_BYTES 8192
/** The deepest nesting of attributes accepted (the attributes document is level 1). */
#define MONGOLOCK_KEY_MAX_DEPTH 4
/** The longest key secret accepted, in bytes. */
#define MONGOLOCK_KEY_SECRET_MAX_BYTES 1024
/** Length of every canonical key, without the terminating NUL. */
#define MONGOLOCK_KEY_LENGTH 70
/** Environment variable a guard reads its secret from when none is set in its options. */
#define MONGOLOCK_KEY_SECRET_ENV "MONGOLOCK_KEY_SECRET"

/**
 * @brief Builds the canonical payload described in this file's description (for
 * inspection and tests; it contains the attribute values in clear).
 * @param ns           Borrowed: the namespace, 1..1024 bytes of UTF-8.
 * @param attributes   Borrowed: the constrained attributes.
 * @param principal    Borrowed, optional: NULL for none ("" is refused).
 * @param payload_out  OUT, required: the payload, NUL-terminated, the caller's to free with
 *                     bson_free(); NULL on error.
 * @param len_out      OUT, optional: its length (a string attribute may embed NUL bytes).
 * @param error        OUT, optional: set when false is returned.
 * @return true when built; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT for bad input
 *         (the message names the field path).
 *
 * Thread safety: any thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_key_payload (const char *ns,
                       const bson_t *attributes,
                       const char *principal,
                       char **payload_out,
                       size_t *len_out,
                       bson_error_t *error);

/**
 * @brief Builds a canonical key.
 *
 * This function does not read MONGOLOCK_KEY_SECRET (a guard does; see
 * mongolock_guard_key()).
 * @param ns          Borrowed: as for mongolock_key_payload().
 * @param attributes  Borrowed: as for mongolock_key_payload().
 * @param principal   Borrowed, optional: as for mongolock_key_payload().
 * @param secret      Borrowed, optional: @p secret_len bytes; NULL gives a plain SHA-256 key.
 * @param secret_len  1..#MONGOLOCK_KEY_SECRET_MAX_BYTES with a secret, 0 without.
 * @param key_out     OUT, required: the #MONGOLOCK_KEY_LENGTH-byte key, the caller's to
 *                    free with bson_free(); NULL on error.
 * @param error       OUT, optional: set when false is returned.
 * @return true when built; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT for bad input, or
 *         #MONGOLOCK_ERROR_INTERNAL when OpenSSL fails.
 *
 * Thread safety: any thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_key_build (const char *ns,
                     const bson_t *attributes,
                     const char *principal,
                     const void *secret,
                     size_t secret_len,
                     char **key_out,
                     bson_error_t *error);

/**
 * @brief Runs callers' code under create locks on one lock store (a mongolock_client_t),
 * with the key secret and the degraded-mode policy.
 *
 * Thread-safe like the client: any number of threads may use one guard at once, except
 * mongolock_guard_destroy(). Create one per process (after fork, not before).
 */
typedef struct _mongolock_guard_t mongolock_guard_t;

/** @brief Builder for guard settings. Used by one thread at a time; the guard copies what
 * it needs. Its functions never block. */
typedef struct _mongolock_guard_opts_t mongolock_guard_opts_t;

/* Lease and wait of the create lock. A create is usually a few milliseconds of work, so
 * the lease is short (a crashed holder blocks others for at most that long) and the wait
 * a little longer than a typical create under contention. */
/** Default lease of the create lock, in ms: short, so a crashed holder blocks others for
 * at most that long. */
#define MONGOLOCK_GUARD_DEFAULT_LEASE_MS 5000
/** The longest create-lock lease accepted, in ms. */
#define MONGOLOCK_GUARD_LEASE_MAX_MS 60000
/** Default wait for a busy create lock, in ms: a little longer than a typical create
 * under contention. */
#define MONGOLOCK_GUARD_DEFAULT_WAIT_MS 2000
/** The longest create-lock wait accepted, in ms. */
#define MONGOLOCK_GUARD_WAIT_MAX_MS 60000
/** A fail-open guard warns at most once per key per this interval, in ms. */
#define MONGOLOCK_GUARD_WARNING_INTERVAL_MS 60000
/** After a fail-open guard finds the store unreachable, it runs callbacks locally without
 * trying the store for this long, in ms (see mongolock_guard_opts_set_store_retry_ms()). */
#define MONGOLOCK_GUARD_DEFAULT_STORE_RETRY_MS 5000
/** The longest store retry interval accepted, in ms (an hour). */
#define MONGOLOCK_GUARD_STORE_RETRY_MAX_MS 3600000

/** @brief What a guard does when the lock store cannot be reached. */
typedef enum {
   /** Default: return the store's error; the callback does not run. */
   MONGOLOCK_GUARD_FAIL_CLOSED = 0,
   /** Run the callback under a process-local mutex for the key (threads of this process
    * still exclude each other; other processes do not: the unique index is what stops
    * duplicates then), warn at most once per key per MONGOLOCK_GUARD_WARNING_INTERVAL_MS,
    * and emit MONGOLOCK_EVENT_DEGRADED on every such run. */
   MONGOLOCK_GUARD_FAIL_OPEN = 1,
} mongolock_guard_degraded_t;

/** @brief How a callback ran; reported through the mode out-parameters. */
typedef enum {
   MONGOLOCK_GUARD_MODE_NONE = 0,   /**< it did not run (error, or nothing needed a lock) */
   MONGOLOCK_GUARD_MODE_LOCKED = 1, /**< under the distributed lock */
   MONGOLOCK_GUARD_MODE_LOCAL = 2,  /**< fail-open: under the process-local mutex only */
} mongolock_guard_mode_t;

/**
 * @brief Static name of a mode.
 * @param mode  Any value.
 * @return "none", "locked", "local", or "unknown" for another value: static, never NULL.
 *
 * Errors: none. Thread safety: any thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT const char *
mongolock_guard_mode_name (mongolock_guard_mode_t mode);

/**
 * @brief Receives a fail-open warning. Runs on the caller's thread, outside any guard lock.
 * @param key        Borrowed, valid only during the call: the canonical key (never the
 *                   secret or the attributes).
 * @param message    Borrowed, valid only during the call: what happened, including the
 *                   store's error.
 * @param user_data  As given to mongolock_guard_opts_set_warning_callback().
 */
typedef void (*mongolock_guard_warning_cb_t) (const char *key, const char *message, void *user_data);

/**
 * @brief New options with every default set.
 * @return The options, the caller's: free them with mongolock_guard_opts_destroy(). Never
 *         NULL.
 *
 * Errors: none. Thread safety: any thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT mongolock_guard_opts_t *
mongolock_guard_opts_new (void);

/**
 * @brief Frees options, wiping any secret.
 * @param opts  Owned; NULL is a no-op.
 *
 * Errors: none. Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_guard_opts_destroy (mongolock_guard_opts_t *opts);

/**
 * @brief Default lease of the create lock.
 * @param opts      Borrowed.
 * @param lease_ms  #MONGOLOCK_LEASE_MIN_MS..#MONGOLOCK_GUARD_LEASE_MAX_MS (default
 *                  #MONGOLOCK_GUARD_DEFAULT_LEASE_MS).
 * @param error     OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT when out of range
 *         or @p opts is NULL.
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_guard_opts_set_lease_ms (mongolock_guard_opts_t *opts, int64_t lease_ms, bson_error_t *error);

/**
 * @brief Default wait for a busy create lock.
 *
 * The wait bounds everything the acquire does, finding the store unreachable included
 * (server selection, connecting; a hung store gives #MONGOLOCK_ERROR_STORE_TIMEOUT at the
 * wait's end). In fail-open mode the same budget, less the time spent finding the store
 * unreachable, bounds the wait for the local mutex (one try at least). With a wait of 0,
 * the store is tried once, for at most the client's timeout.
 * @param opts     Borrowed.
 * @param wait_ms  0..#MONGOLOCK_GUARD_WAIT_MAX_MS (default #MONGOLOCK_GUARD_DEFAULT_WAIT_MS).
 * @param error    OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT when out of range
 *         or @p opts is NULL.
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_guard_opts_set_wait_ms (mongolock_guard_opts_t *opts, int64_t wait_ms, bson_error_t *error);

/**
 * @brief Renew the lease while the callback runs (default off; see
 * mongolock_lock_opts_set_auto_renew()).
 *
 * Off, a callback that outlives the lease may overlap with the next holder.
 * @param opts        Borrowed; NULL is a no-op.
 * @param auto_renew  true to renew.
 *
 * Errors: none. Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_guard_opts_set_auto_renew (mongolock_guard_opts_t *opts, bool auto_renew);

/**
 * @brief Degraded-mode policy (default #MONGOLOCK_GUARD_FAIL_CLOSED).
 * @param opts  Borrowed; NULL is a no-op.
 * @param mode  #MONGOLOCK_GUARD_FAIL_CLOSED or #MONGOLOCK_GUARD_FAIL_OPEN.
 *
 * Errors: none. Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_guard_opts_set_degraded_mode (mongolock_guard_opts_t *opts, mongolock_guard_degraded_t mode);

/**
 * @brief Fail-open only: how long to skip a store found unreachable.
 *
 * Once a call finds the store unreachable, calls for the next @p retry_ms run under the
 * local mutex at once, without trying the store (each try on an unreachable store costs
 * up to the wait, or the client's timeout with a wait of 0). The first call after that
 * tries the store again; any call that reaches it clears the mark. Their DEGRADED events
 * carry the error that marked the store.
 * @param opts      Borrowed.
 * @param retry_ms  0..#MONGOLOCK_GUARD_STORE_RETRY_MAX_MS (default
 *                  #MONGOLOCK_GUARD_DEFAULT_STORE_RETRY_MS); 0 tries the store on every call.
 * @param error     OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT when out of range
 *         or @p opts is NULL.
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_guard_opts_set_store_retry_ms (mongolock_guard_opts_t *opts, int64_t retry_ms, bson_error_t *error);

/**
 * @brief The key secret.
 *
 * Not called: the guard reads MONGOLOCK_KEY_SECRET when it is created (an empty value
 * counts as unset). Every process sharing keys must use the same secret.
 * @param opts        Borrowed.
 * @param secret      Borrowed, copied: @p secret_len bytes. NULL (with @p secret_len 0)
 *                    means explicitly none: plain SHA-256 keys, and MONGOLOCK_KEY_SECRET
 *                    is ignored.
 * @param secret_len  1..#MONGOLOCK_KEY_SECRET_MAX_BYTES, or 0 with a NULL secret.
 * @param error       OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT (NULL opts, a
 *         length out of range, or NULL with a non-zero length).
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_guard_opts_set_secret (mongolock_guard_opts_t *opts,
                                 const void *secret,
                                 size_t secret_len,
                                 bson_error_t *error);

/**
 * @brief Event callback for the guard's locks (default none).
 *
 * The lock events of mongolock-lock.h plus #MONGOLOCK_EVENT_DEGRADED, emitted on the
 * caller's thread each time a callback runs in fail-open mode (its error is the store's
 * error). Calls from several threads using one guard may overlap.
 * @param opts       Borrowed; NULL is a no-op.
 * @param cb         The callback, or NULL to remove it.
 * @param user_data  Borrowed: passed to @p cb; must outlive the guard.
 *
 * Errors: none. Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_guard_opts_set_event_callback (mongolock_guard_opts_t *opts, mongolock_event_cb_t cb, void *user_data);

/**
 * @brief Where fail-open warnings go.
 *
 * Default: libmongoc's log handler, level WARNING, domain "mongolock", which prints to
 * stderr unless the application set mongoc_log_set_handler().
 * @param opts       Borrowed; NULL is a no-op.
 * @param cb         The callback, or NULL for the default.
 * @param user_data  Borrowed: passed to @p cb; must outlive the guard.
 *
 * Errors: none. Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_guard_opts_set_warning_callback (mongolock_guard_opts_t *opts,
                                           mongolock_guard_warning_cb_t cb,
                                           void *user_data);

/**
 * @brief Creates a guard. Reads MONGOLOCK_KEY_SECRET now when @p opts set no secret.
 * @param client  Borrowed: must outlive the guard.
 * @param opts    Borrowed, optional (NULL for defaults); copied.
 * @param error   OUT, optional: set when NULL is returned.
 * @return The guard, the caller's (free it with mongolock_guard_destroy()), or NULL with
 *         #MONGOLOCK_ERROR_INVALID_ARGUMENT (a NULL client, a secret in the environment
 *         that is too long).
 *
 * Thread safety: any thread. Blocking: does not contact the server.
 */
MONGOLOCK_EXPORT mongolock_guard_t *
mongolock_guard_new (mongolock_client_t *client, const mongolock_guard_opts_t *opts, bson_error_t *error);

/**
 * @brief Frees the guard and wipes its secret.
 * @param guard  Owned; NULL is a no-op.
 *
 * Errors: none. Thread safety: no call may be running in the guard.
 * Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_guard_destroy (mongolock_guard_t *guard);

/**
 * @brief Milliseconds until a fail-open guard tries the lock store again after finding it
 * unreachable. For health checks and metrics.
 * @param guard  Borrowed; NULL gives 0.
 * @return The time left; 0 when the store is not marked unreachable (or the guard fails
 *         closed).
 *
 * Errors: none. Thread safety: thread-safe. Blocking: only a short internal lock.
 */
MONGOLOCK_EXPORT int64_t
mongolock_guard_store_retry_in_ms (mongolock_guard_t *guard);

/**
 * @brief Whether the guard hashes keys with a secret ("ml1:h:" keys).
 * @param guard  Borrowed; NULL gives false.
 * @return true with a secret.
 *
 * Errors: none. Thread safety: thread-safe. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_guard_has_secret (const mongolock_guard_t *guard);

/**
 * @brief mongolock_key_build() with the guard's secret (if any).
 * @param guard       Borrowed.
 * @param ns          Borrowed: as for mongolock_key_payload().
 * @param attributes  Borrowed: as for mongolock_key_payload().
 * @param principal   Borrowed, optional: as for mongolock_key_payload().
 * @param key_out     OUT, required: the key, the caller's to free with bson_free(); NULL on
 *                    error.
 * @param error       OUT, optional: set when false is returned.
 * @return true when built; false as mongolock_key_build().
 *
 * Thread safety: thread-safe. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_guard_key (const mongolock_guard_t *guard,
                     const char *ns,
                     const bson_t *attributes,
                     const char *principal,
                     char **key_out,
                     bson_error_t *error);

/**
 * @brief The caller's code, run under the lock. Results go through @p user_data.
 * @param mode       #MONGOLOCK_GUARD_MODE_LOCKED or #MONGOLOCK_GUARD_MODE_LOCAL.
 * @param token      The lock's fencing token (for mongolock_fenced_update_one()), 0 in
 *                   LOCAL mode.
 * @param user_data  As given to mongolock_guard_run().
 * @param error      OUT, optional to set: the callback's error when it returns false.
 * @return true for success; false on failure (when @p error is left unset, the guard
 *         reports #MONGOLOCK_ERROR_CALLBACK).
 */
typedef bool (*mongolock_guard_fn_t) (mongolock_guard_mode_t mode, int64_t token, void *user_data, bson_error_t *error);

/**
 * @brief Runs @p fn while holding the lock for @p key, then releases it, on every path
 * (@p fn failing too).
 *
 * A fail-closed guard tries an unreachable store again until the wait runs out; a
 * fail-open one falls back to its local mutex at the first failure. A failed release
 * after @p fn (lease lost, network) does not change the result; it is reported to the
 * event callback (RELEASED with an error), and the lease expires on the server by itself.
 * Not reentrant: @p fn must not run the same key again (it would wait until TIMEOUT).
 * @param guard      Borrowed.
 * @param key        Borrowed: usually from mongolock_guard_key(), but any valid lock key
 *                   works.
 * @param opts       Borrowed, optional: {leaseMs: int, waitMs: int} overriding the guard's
 *                   defaults for this call (same bounds).
 * @param fn         The callback; required. Runs on the calling thread.
 * @param user_data  Borrowed: passed to @p fn.
 * @param mode       OUT, optional: how @p fn ran (NONE when it did not).
 * @param error      OUT, optional: set when false is returned.
 * @return @p fn's result: true when it succeeded; false with @p fn's error (or
 *         #MONGOLOCK_ERROR_CALLBACK when @p fn set none). false without running @p fn
 *         with #MONGOLOCK_ERROR_TIMEOUT when another holder kept the key for the whole
 *         wait (in LOCAL mode: another thread of this process), with the store's error
 *         when it could not be reached and the guard fails closed
 *         (MONGOC_ERROR_SERVER_SELECTION or MONGOC_ERROR_STREAM domains, or
 *         #MONGOLOCK_ERROR_STORE_TIMEOUT when it gave no answer within the wait; only these
 *         count as "unreachable": a server's command error never falls back to the local
 *         mutex), or with #MONGOLOCK_ERROR_INVALID_ARGUMENT.
 *
 * Thread safety: thread-safe. Blocking: at most the wait (waitMs, the guard's default
 * otherwise) to get the lock, in either mode, plus @p fn's own time and one release (at
 * most the client's timeout).
 */
MONGOLOCK_EXPORT bool
mongolock_guard_run (mongolock_guard_t *guard,
                     const char *key,
                     const bson_t *opts,
                     mongolock_guard_fn_t fn,
                     void *user_data,
                     mongolock_guard_mode_t *mode,
                     bson_error_t *error);

/**
 * @brief Finds the document matching @p filter; when there is none, takes the create lock,
 * looks again, and inserts @p filter's fields plus @p document's.
 *
 * When the insert fails with duplicate key 11000 (someone bypassed the lock or its lease
 * ran out and the unique index stopped the second insert), the winner is read and
 * returned.
 * @param guard       Borrowed.
 * @param collection  Borrowed: used from the calling thread only (a mongoc_collection_t is
 *                    not thread-safe); reads go to the primary.
 * @param filter      Borrowed: top-level equality only: fields without "." or a leading
 *                    "$", values that are not operator documents ({$gt: ...}); {} is
 *                    allowed (a singleton). It is both the query and the identity of the
 *                    document, and its canonical key (namespace and principal from
 *                    @p opts) names the create lock. It should match the fields of a
 *                    unique index made with mongolock_unique_index_ensure().
 * @param document    Borrowed, optional: the other fields of a new document; it must not
 *                    repeat a filter field; an _id in it (or in @p filter) is kept, else a
 *                    new ObjectId is generated.
 * @param opts        Borrowed, optional: {namespace: string (default: the collection's
 *                    name), principal: string, leaseMs: int, waitMs: int}.
 * @param doc_out     OUT, always initialised, the caller's to destroy: on success the
 *                    document (the existing one, or the one inserted).
 * @param created     OUT, optional: whether this call inserted it.
 * @param mode        OUT, optional: how the create ran; NONE when the document was found
 *                    without a lock.
 * @param error       OUT, optional: set when false is returned.
 * @return true on success. false with the errors of mongolock_guard_run(), the driver's
 *         errors, or an 11000 that does not come with a document matching @p filter
 *         (another unique index refused the insert).
 *
 * Thread safety: thread-safe as the guard, with one collection per thread.
 * Blocking: as mongolock_guard_run(), plus the reads and the insert on @p collection, each
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

/**
 * @brief Applies @p update to the document matching @p filter, or creates it as an upsert
 * would (filter's fields, then update applied), under the create lock.
 *
 * An existing document is updated without the lock (one findAndModify); only creation
 * takes it. A creating upsert that hits 11000 (lock bypassed or expired) is retried as a
 * plain update of the winner.
 * @param guard       Borrowed.
 * @param collection  Borrowed: as for mongolock_guard_first_or_create().
 * @param filter      Borrowed: as for mongolock_guard_first_or_create().
 * @param update      Borrowed: an operator document, e.g. {$set: {...}, $inc: {...}}.
 * @param opts        Borrowed, optional: as for mongolock_guard_first_or_create().
 * @param doc_out     OUT, always initialised, the caller's to destroy: the document after
 *                    the update.
 * @param created     OUT, optional: whether this call inserted it.
 * @param mode        OUT, optional: how the create ran; NONE when no lock was needed.
 * @param error       OUT, optional: set when false is returned.
 * @return true on success; false as mongolock_guard_first_or_create().
 *
 * Thread safety and blocking: as mongolock_guard_first_or_create().
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

/**
 * @brief Ensures a unique index on a business collection: the correctness floor that
 * holds even when a lock is bypassed or expires. Idempotent.
 *
 * Duplicates are found before building with one aggregate ($match on the partial filter,
 * $group on the key fields with a missing field counted as null, as the index does); the
 * sample lists the largest groups first. An existing index on the same key that is unique
 * with the same partial filter (and no sparse or collation) counts as "exists" whatever
 * its name, and report.name is its name. A duplicate the scan cannot see (array values: a
 * unique index is multikey) or one inserted during the build makes the build fail with
 * 11000: that too is DUPLICATES, with the server's message in @p error.
 * @param collection  Borrowed.
 * @param keys        Borrowed: the index key document, e.g. {tenant: 1, email: 1} (1/-1
 *                    values).
 * @param opts        Borrowed, optional: {name: string (default: MongoDB's name, e.g.
 *                    "tenant_1_email_1"), partialFilterExpression: document, dryRun: bool
 *                    (check only, build nothing)}.
 * @param report      OUT, optional, always initialised when given, the caller's to
 *                    destroy: {name: string, action: "created" | "exists" | "would-create"
 *                    | "duplicates" | "conflict", duplicateGroups: int64,
 *                    duplicateDocuments: int64, sample: [{key: {...}, count: int64}, ...]
 *                    (at most 10 groups, only for "duplicates"), conflict: {name, key,
 *                    unique, partialFilterExpression?} (the existing index, only for
 *                    "conflict")}.
 * @param error       OUT, optional: set when false is returned.
 * @return true for created, exists and would-create (dry run). false with
 *         #MONGOLOCK_ERROR_DUPLICATES (existing data has duplicates; nothing built;
 *         report says how many and which), #MONGOLOCK_ERROR_INDEX_CONFLICT (an existing
 *         index has the same name or key with other options: server codes 85/86 or found
 *         by listIndexes; nothing changed), #MONGOLOCK_ERROR_INVALID_ARGUMENT, or the
 *         driver's or server's error.
 *
 * Thread safety: as the collection (a mongoc_collection_t is not thread-safe).
 * Blocking: a listIndexes, an aggregate over the collection and a createIndexes, each
 * bounded by the collection's client's URI timeouts (the build of a large index can take
 * long).
 */
MONGOLOCK_EXPORT bool
mongolock_unique_index_ensure (mongoc_collection_t *collection, const bson_t *keys, const bson_t *opts,
                               bson_t *report, bson_error_t *error);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_GUARD_H */
