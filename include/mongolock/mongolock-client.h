#ifndef MONGOLOCK_CLIENT_H
#define MONGOLOCK_CLIENT_H

#include <mongoc/mongoc.h>

#include <mongolock/mongolock-macros.h>

MONGOLOCK_BEGIN_DECLS

/*
 * mongolock_client_t: a connection to the lock store (a MongoDB deployment) plus the
 * settings every lock made from it shares. Thread-safe: any number of threads may use one
 * client at once, except mongolock_client_destroy, which must run after every lock made
 * from the client is destroyed.
 *
 * Blocking: the options functions, the constructors and the getters never block (no I/O).
 * Calls that talk to the server say how long they may block (see "Blocks:").
 */
typedef struct _mongolock_client_t mongolock_client_t;

/* Builder for client settings. Not thread-safe; the client copies what it needs. */
typedef struct _mongolock_client_opts_t mongolock_client_opts_t;

#define MONGOLOCK_DEFAULT_DATABASE "mongolock"
#define MONGOLOCK_DEFAULT_COLLECTION "locks"
/* Seconds after a lock's expiry before the TTL index may delete its document. */
#define MONGOLOCK_DEFAULT_CLEANUP_SECS 3600
#define MONGOLOCK_IDENTITY_MAX_BYTES 256
/* Deadline of calls without a wait of their own; see mongolock_client_opts_set_timeout_ms. */
#define MONGOLOCK_DEFAULT_TIMEOUT_MS 10000
#define MONGOLOCK_TIMEOUT_MIN_MS 10
#define MONGOLOCK_TIMEOUT_MAX_MS (24 * 3600 * 1000)

/* Returns new options with every default set; the caller destroys them. NULL never. */
MONGOLOCK_EXPORT mongolock_client_opts_t *
mongolock_client_opts_new (void);

/* Frees opts. NULL is a no-op. */
MONGOLOCK_EXPORT void
mongolock_client_opts_destroy (mongolock_client_opts_t *opts);

/* MongoDB's limits: a database name has at most 63 bytes; "<database>.<collection>" at
 * most 255 (235 for a sharded collection). */
#define MONGOLOCK_DATABASE_NAME_MAX_BYTES 63
#define MONGOLOCK_NAMESPACE_MAX_BYTES 255

/*
 * Database and collection holding the lock documents (default "mongolock" / "locks").
 * name: borrowed, copied; valid UTF-8 following MongoDB's naming rules, checked here so a
 * bad name fails now rather than on the server:
 * - database: 1..MONGOLOCK_DATABASE_NAME_MAX_BYTES bytes, none of / \ . " $ * < > : | ?
 *   or space (the last six only matter to servers on Windows; refused everywhere);
 * - collection: non-empty, no '$', not starting with '.' or "system." (reserved);
 * - the namespace "<database>.<collection>", with the other name as currently set, at
 *   most MONGOLOCK_NAMESPACE_MAX_BYTES bytes.
 * Returns false and sets error (MONGOLOCK_ERROR_INVALID_ARGUMENT, saying which rule) when
 * a rule is broken; opts keep their previous value. Does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_client_opts_set_database (mongolock_client_opts_t *opts, const char *name, bson_error_t *error);
MONGOLOCK_EXPORT bool
mongolock_client_opts_set_collection (mongolock_client_opts_t *opts, const char *name, bson_error_t *error);

/*
 * This process's identity, recorded in every lock it takes (default
 * "<host>:<pid>:<32 hex digits from OpenSSL's RAND_bytes>"). identity: borrowed, copied;
 * 1..MONGOLOCK_IDENTITY_MAX_BYTES bytes of UTF-8. Each lock handle appends its own
 * random nonce, so two handles with the same identity still exclude each other.
 */
MONGOLOCK_EXPORT bool
mongolock_client_opts_set_identity (mongolock_client_opts_t *opts, const char *identity, bson_error_t *error);

/*
 * Write concern for every lock operation (default {w: "majority"}, which survives a
 * replica-set failover; w:1 is faster but an acquire can be rolled back). wc: borrowed,
 * copied. Returns false for an invalid write concern or w:0 (unacknowledged writes cannot
 * tell "acquired" from "busy").
 */
MONGOLOCK_EXPORT bool
mongolock_client_opts_set_write_concern (mongolock_client_opts_t *opts,
                                         const mongoc_write_concern_t *wc,
                                         bson_error_t *error);

/*
 * How long after a lock's expiry its document may be deleted by the TTL index created by
 * mongolock_client_ensure_indexes (default MONGOLOCK_DEFAULT_CLEANUP_SECS, range
 * 60..31536000). Longer keeps fencing tokens monotonic across larger backwards steps of
 * the server clock; see mongolock_lock_token.
 */
MONGOLOCK_EXPORT bool
mongolock_client_opts_set_cleanup_secs (mongolock_client_opts_t *opts, int64_t secs, bson_error_t *error);

/*
 * The longest any call that talks to the server may block when it has no wait of its own
 * (try_acquire, an acquire with wait 0, renew, release, get_holder, list, force release,
 * ensure_indexes): MONGOLOCK_TIMEOUT_MIN_MS..MONGOLOCK_TIMEOUT_MAX_MS, default
 * MONGOLOCK_DEFAULT_TIMEOUT_MS. The deadline covers everything the call does: server
 * selection, connecting, the handshake, each command (sent with maxTimeMS) and, for a
 * majority write concern without a wtimeout, the replication wait (sent as wtimeout). At
 * the deadline the call returns MONGOLOCK_ERROR_STORE_TIMEOUT; the abandoned command
 * finishes on a background thread (see mongolock_client_destroy).
 */
MONGOLOCK_EXPORT bool
mongolock_client_opts_set_timeout_ms (mongolock_client_opts_t *opts, int64_t timeout_ms, bson_error_t *error);

/*
 * Creates a client with its own connection pool from a MongoDB URI string.
 * uri: borrowed. opts: borrowed, optional (NULL means defaults). The pool gets a
 * command-started APM callback (to start lease clocks when a command is sent): do not
 * set APM callbacks on mongolock_client_pool() of such a client. Unless the URI sets
 * them, serverSelectionTimeoutMS and socketTimeoutMS default to the client's timeout
 * (mongolock_client_opts_set_timeout_ms) instead of the driver's 30 s and 5 minutes, so
 * that a command abandoned at a deadline ends soon after it.
 * Returns the client (the caller's, free with mongolock_client_destroy) or NULL with
 * error set for a malformed URI or options. Does not contact the server.
 */
MONGOLOCK_EXPORT mongolock_client_t *
mongolock_client_new (const char *uri, const mongolock_client_opts_t *opts, bson_error_t *error);

/*
 * Creates a client on an application's pool. pool: borrowed; it must outlive the client,
 * and the application keeps configuring it (APM, SSL) as before. Either error API
 * version works. Lease clocks then start after server selection (a little earlier than
 * with mongolock_client_new, which is safe). Does not contact the server.
 */
MONGOLOCK_EXPORT mongolock_client_t *
mongolock_client_new_from_pool (mongoc_client_pool_t *pool,
                                const mongolock_client_opts_t *opts,
                                bson_error_t *error);

/*
 * Frees the client (and its pool when it created one). NULL is a no-op. Not thread-safe.
 * Blocks until commands that calls abandoned at their deadline have ended on their
 * worker threads: each is bounded by the URI's serverSelectionTimeoutMS, connectTimeoutMS
 * and socketTimeoutMS (by default the client's timeout; see mongolock_client_new).
 */
MONGOLOCK_EXPORT void
mongolock_client_destroy (mongolock_client_t *client);

/*
 * Creates the lock collection's indexes: a TTL index on expiresAt named
 * "mongolock_expiresAt_ttl" that deletes documents of long-expired locks (cleanup only:
 * mutual exclusion never depends on it), with the client's cleanup delay
 * (mongolock_client_opts_set_cleanup_secs) as expireAfterSeconds. Idempotent. When that
 * index exists with another delay (or none), the delay is changed in place with collMod,
 * without a rebuild. Any other index in the way (that name on another key or with unique /
 * sparse / partialFilterExpression / collation, or another index on exactly
 * {expiresAt: 1}) is left alone and reported: MONGOLOCK_ERROR_INDEX_CONFLICT, the message
 * naming the index and the dropIndex that clears the way. Other failures return the
 * server's or driver's error. Thread-safe.
 * Blocks: one createIndexes, and after a conflict also listIndexes, collMod and
 * createIndexes again; each at most the client's timeout (then MONGOLOCK_ERROR_STORE_TIMEOUT).
 */
MONGOLOCK_EXPORT bool
mongolock_client_ensure_indexes (mongolock_client_t *client, bson_error_t *error);

/* This client's process identity. Owned by the client; valid until it is destroyed. */
MONGOLOCK_EXPORT const char *
mongolock_client_identity (const mongolock_client_t *client);

/* Names of the lock database and collection. Owned by the client. */
MONGOLOCK_EXPORT const char *
mongolock_client_database_name (const mongolock_client_t *client);
MONGOLOCK_EXPORT const char *
mongolock_client_collection_name (const mongolock_client_t *client);

/*
 * The connection pool the client uses, for running the application's own commands (the
 * business writes a lock protects). Owned by the client or by the application that passed
 * it in; do not destroy it.
 */
MONGOLOCK_EXPORT mongoc_client_pool_t *
mongolock_client_pool (mongolock_client_t *client);

/*
 * Lists locks whose key starts with prefix (NULL or "" for all), sorted by key, at most
 * limit of them (0 for no limit). Fills locks_out (always initialised, the caller's to
 * destroy) with an array of documents:
 *   {key: string, owner: string or null, token: int64, expiresAt: date,
 *    remainingMs: int64 (by the server's clock; <= 0 when expired), held: bool}
 * "held" is decided by the server's clock in the same command that read the documents.
 * Blocks: at most the client's timeout for the whole listing (then
 * MONGOLOCK_ERROR_STORE_TIMEOUT and locks_out empty).
 */
MONGOLOCK_EXPORT bool
mongolock_client_list_locks (mongolock_client_t *client,
                             const char *prefix,
                             int64_t limit,
                             bson_t *locks_out,
                             bson_error_t *error);

/*
 * An administrator's break of a stuck lock: frees key whoever holds it, keeping the
 * document so fencing tokens continue to increase. The holder finds out on its next renew
 * or release (MONGOLOCK_ERROR_LOST). *was_held (optional OUT) says whether a live lease was
 * broken; previous (optional OUT, always initialised when given, the caller's to destroy)
 * receives the document as it was, or stays empty when no such lock exists.
 * Blocks: at most the client's timeout (then MONGOLOCK_ERROR_STORE_TIMEOUT: the lock may
 * or may not have been broken; list it to know).
 */
MONGOLOCK_EXPORT bool
mongolock_client_force_release (mongolock_client_t *client,
                                const char *key,
                                bool *was_held,
                                bson_t *previous,
                                bson_error_t *error);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_CLIENT_H */
