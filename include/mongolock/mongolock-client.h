/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MONGOLOCK_CLIENT_H
#define MONGOLOCK_CLIENT_H

/**
 * @file
 * @brief The client: a connection to the lock store and the settings its locks share.
 */

#include <mongoc/mongoc.h>

#include <mongolock/mongolock-macros.h>

MONGOLOCK_BEGIN_DECLS

/**
 * @brief A connection to the lock store (a MongoDB deployment) plus the settings every
 * lock made from it shares.
 *
 * Thread-safe: any number of threads may use one client at once, except
 * mongolock_client_destroy(), which must run after every lock made from the client is
 * destroyed.
 *
 * Blocking: the options functions, the constructors and the getters never block (no I/O).
 * Calls that talk to the server say how long they may block (see "Blocking:").
 */
typedef struct _mongolock_client_t mongolock_client_t;

/** @brief Builder for client settings. Used by one thread at a time; the client copies
 * what it needs. Its functions never block. */
typedef struct _mongolock_client_opts_t mongolock_client_opts_t;

/** Default database of the lock collection. */
#define MONGOLOCK_DEFAULT_DATABASE "mongolock"
/** Default name of the lock collection. */
#define MONGOLOCK_DEFAULT_COLLECTION "locks"
/** Seconds after a lock's expiry before the TTL index may delete its document. */
#define MONGOLOCK_DEFAULT_CLEANUP_SECS 3600
/** The longest process identity accepted, in bytes. */
#define MONGOLOCK_IDENTITY_MAX_BYTES 256
/** Deadline of calls without a wait of their own; see mongolock_client_opts_set_timeout_ms(). */
#define MONGOLOCK_DEFAULT_TIMEOUT_MS 10000
/** The shortest client timeout accepted, in ms. */
#define MONGOLOCK_TIMEOUT_MIN_MS 10
/** The longest client timeout accepted, in ms (a day). */
#define MONGOLOCK_TIMEOUT_MAX_MS (24 * 3600 * 1000)

/**
 * @brief New options with every default set.
 * @return The options, the caller's: free them with mongolock_client_opts_destroy().
 *         Never NULL.
 *
 * Errors: none. Thread safety: any thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT mongolock_client_opts_t *
mongolock_client_opts_new (void);

/**
 * @brief Frees options.
 * @param opts  Owned; NULL is a no-op.
 *
 * Errors: none. Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_client_opts_destroy (mongolock_client_opts_t *opts);

/** MongoDB's limit on a database name, in bytes. */
#define MONGOLOCK_DATABASE_NAME_MAX_BYTES 63
/** MongoDB's limit on "database.collection", in bytes (235 for a sharded collection). */
#define MONGOLOCK_NAMESPACE_MAX_BYTES 255

/**
 * @brief Database holding the lock documents (default "mongolock").
 *
 * The name must be valid UTF-8 following MongoDB's naming rules, checked here so a bad
 * name fails now rather than on the server: 1..#MONGOLOCK_DATABASE_NAME_MAX_BYTES bytes,
 * no slash, backslash, dot, double quote, dollar sign or space, and none of the six
 * characters only Windows servers forbid (asterisk, angle brackets, colon, vertical bar,
 * question mark; refused everywhere); and the namespace "database.collection", with the
 * collection as currently set, at most #MONGOLOCK_NAMESPACE_MAX_BYTES bytes.
 * @param opts   Borrowed.
 * @param name   Borrowed, copied.
 * @param error  OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT, saying which rule
 *         is broken (opts keep their previous value).
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_client_opts_set_database (mongolock_client_opts_t *opts, const char *name, bson_error_t *error);

/**
 * @brief Collection holding the lock documents (default "locks").
 *
 * The name must be valid UTF-8, non-empty, without '$', not starting with '.' or
 * "system." (reserved); and the namespace "database.collection", with the database as
 * currently set, at most #MONGOLOCK_NAMESPACE_MAX_BYTES bytes.
 * @param opts   Borrowed.
 * @param name   Borrowed, copied.
 * @param error  OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT, saying which rule
 *         is broken (opts keep their previous value).
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_client_opts_set_collection (mongolock_client_opts_t *opts, const char *name, bson_error_t *error);

/**
 * @brief This process's identity, recorded in every lock it takes.
 *
 * Default "<host>:<pid>:<32 hex digits from OpenSSL's RAND_bytes>". Each lock handle
 * appends its own random nonce, so two handles with the same identity still exclude each
 * other. Anyone who can read the lock collection sees it (docs/deployment.md).
 * @param opts      Borrowed.
 * @param identity  Borrowed, copied: 1..#MONGOLOCK_IDENTITY_MAX_BYTES bytes of UTF-8.
 * @param error     OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT.
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_client_opts_set_identity (mongolock_client_opts_t *opts, const char *identity, bson_error_t *error);

/**
 * @brief Write concern for every lock operation.
 *
 * Default {w: "majority"}, which survives a replica-set failover; w:1 is faster but an
 * acquire can be rolled back (docs/design.md).
 * @param opts   Borrowed.
 * @param wc     Borrowed, copied.
 * @param error  OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT for NULL, an
 *         invalid write concern or w:0 (unacknowledged writes cannot tell "acquired" from
 *         "busy").
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_client_opts_set_write_concern (mongolock_client_opts_t *opts,
                                         const mongoc_write_concern_t *wc,
                                         bson_error_t *error);

/**
 * @brief How long after a lock's expiry its document may be deleted by the TTL index
 * created by mongolock_client_ensure_indexes().
 *
 * Longer keeps fencing tokens monotonic across larger backwards steps of the server
 * clock; see mongolock_lock_token().
 * @param opts   Borrowed.
 * @param secs   60..31536000 (default #MONGOLOCK_DEFAULT_CLEANUP_SECS).
 * @param error  OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT (opts unchanged).
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_client_opts_set_cleanup_secs (mongolock_client_opts_t *opts, int64_t secs, bson_error_t *error);

/**
 * @brief The longest any call that talks to the server may block when it has no wait of
 * its own.
 *
 * Those calls are try_acquire, an acquire with wait 0, renew, release, get_holder, list,
 * force release and ensure_indexes. The deadline covers everything the call does: server
 * selection, connecting, the handshake, each command (sent with maxTimeMS) and, for a
 * majority write concern without a wtimeout, the replication wait (sent as wtimeout). At
 * the deadline the call returns #MONGOLOCK_ERROR_STORE_TIMEOUT; the abandoned command
 * finishes on a background thread (see mongolock_client_destroy()).
 * @param opts        Borrowed.
 * @param timeout_ms  #MONGOLOCK_TIMEOUT_MIN_MS..#MONGOLOCK_TIMEOUT_MAX_MS (default
 *                    #MONGOLOCK_DEFAULT_TIMEOUT_MS).
 * @param error       OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT (opts unchanged).
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_client_opts_set_timeout_ms (mongolock_client_opts_t *opts, int64_t timeout_ms, bson_error_t *error);

/**
 * @brief Whether waiting acquires of the client are woken on release by its change-stream
 * watcher (default true; see docs/wake-up.md).
 *
 * With true, on a replica set a waiter sleeps until the holder's lease ends and a release
 * wakes it at once (one stream per client, one getMore at a time). Every waiter of a key,
 * in every process, is woken by each release of that key and tries once: with very short
 * holds contended by many processes (hundreds of releases a second) that costs more
 * commands than polling (docs/bench.md). With false, waiters never open a stream and poll
 * with their backoff, as on a standalone, and no #MONGOLOCK_EVENT_WAIT_MODE is delivered.
 * @param opts   Borrowed.
 * @param wake   true to wake waiters on release, false to poll only.
 * @param error  OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT for a NULL opts.
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_client_opts_set_wake_on_release (mongolock_client_opts_t *opts, bool wake, bson_error_t *error);

/**
 * @brief Creates a client with its own connection pool from a MongoDB URI string.
 *
 * The pool gets a command-started APM callback (to start lease clocks when a command is
 * sent): do not set APM callbacks on mongolock_client_pool() of such a client. Unless the
 * URI sets them, serverSelectionTimeoutMS and socketTimeoutMS default to the client's
 * timeout (mongolock_client_opts_set_timeout_ms()) instead of the driver's 30 s and 5
 * minutes, so that a command abandoned at a deadline ends soon after it. The client
 * starts its command workers and renewal scheduler threads.
 * @param uri    Borrowed: a MongoDB connection string.
 * @param opts   Borrowed, optional (NULL means defaults); copied.
 * @param error  OUT, optional: set when NULL is returned; URI credentials are redacted
 *               from its message.
 * @return The client, the caller's (free it with mongolock_client_destroy()), or NULL with
 *         #MONGOLOCK_ERROR_INVALID_ARGUMENT for a NULL or malformed URI, or the driver's
 *         error for options it refuses, or #MONGOLOCK_ERROR_INTERNAL when the random
 *         source for the identity fails.
 *
 * Thread safety: any thread. Blocking: does not contact the server.
 */
MONGOLOCK_EXPORT mongolock_client_t *
mongolock_client_new (const char *uri, const mongolock_client_opts_t *opts, bson_error_t *error);

/**
 * @brief Creates a client on an application's pool.
 *
 * The application keeps configuring the pool (APM, SSL) as before. Either error API
 * version works. Lease clocks then start after server selection (a little earlier than
 * with mongolock_client_new(), which is safe).
 * @param pool   Borrowed: it must outlive the client.
 * @param opts   Borrowed, optional (NULL means defaults); copied.
 * @param error  OUT, optional: set when NULL is returned.
 * @return The client, the caller's (free it with mongolock_client_destroy(); the pool
 *         stays the application's), or NULL with #MONGOLOCK_ERROR_INVALID_ARGUMENT for a
 *         NULL pool, or #MONGOLOCK_ERROR_INTERNAL when the random source for the identity
 *         fails.
 *
 * Thread safety: any thread. Blocking: does not contact the server.
 */
MONGOLOCK_EXPORT mongolock_client_t *
mongolock_client_new_from_pool (mongoc_client_pool_t *pool,
                                const mongolock_client_opts_t *opts,
                                bson_error_t *error);

/**
 * @brief Frees the client, and its pool when it created one.
 * @param client  Owned; NULL is a no-op. Every lock, document lock and guard made from it
 *                must be destroyed first.
 *
 * Errors: none. Thread safety: not thread-safe: no other call may use the client.
 * Blocking: until commands that calls abandoned at their deadline have ended on their
 * worker threads: each is bounded by the URI's serverSelectionTimeoutMS, connectTimeoutMS
 * and socketTimeoutMS (by default the client's timeout; see mongolock_client_new()).
 * And, when waiters had a change stream open (wake-up on release), until its thread's
 * current getMore returns: at most half a second (its maxAwaitTimeMS) plus one round trip.
 */
MONGOLOCK_EXPORT void
mongolock_client_destroy (mongolock_client_t *client);

/**
 * @brief Creates the lock collection's indexes. Idempotent.
 *
 * A TTL index on expiresAt named "mongolock_expiresAt_ttl" deletes documents of
 * long-expired locks (cleanup only: mutual exclusion never depends on it), with the
 * client's cleanup delay (mongolock_client_opts_set_cleanup_secs()) as expireAfterSeconds.
 * When that index exists with another delay (or none), the delay is changed in place with
 * collMod, without a rebuild. Any other index in the way (that name on another key or with
 * unique / sparse / partialFilterExpression / collation, or another index on exactly
 * {expiresAt: 1}) is left alone and reported.
 * @param client  Borrowed.
 * @param error   OUT, optional: set when false is returned.
 * @return true when the index is in place; false with #MONGOLOCK_ERROR_INDEX_CONFLICT
 *         (the message naming the index and the dropIndex that clears the way),
 *         #MONGOLOCK_ERROR_STORE_TIMEOUT, or the server's or driver's error (e.g.
 *         Unauthorized without the createIndex privilege: docs/deployment.md).
 *
 * Thread safety: thread-safe. Blocking: one createIndexes, and after a conflict also
 * listIndexes, collMod and createIndexes again; each at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_client_ensure_indexes (mongolock_client_t *client, bson_error_t *error);

/**
 * @brief This client's process identity.
 * @param client  Borrowed; NULL gives NULL.
 * @return Owned by the client; valid until it is destroyed.
 *
 * Errors: none. Thread safety: any thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT const char *
mongolock_client_identity (const mongolock_client_t *client);

/**
 * @brief Name of the lock database.
 * @param client  Borrowed; NULL gives NULL.
 * @return Owned by the client; valid until it is destroyed.
 *
 * Errors: none. Thread safety: any thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT const char *
mongolock_client_database_name (const mongolock_client_t *client);

/**
 * @brief Name of the lock collection.
 * @param client  Borrowed; NULL gives NULL.
 * @return Owned by the client; valid until it is destroyed.
 *
 * Errors: none. Thread safety: any thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT const char *
mongolock_client_collection_name (const mongolock_client_t *client);

/**
 * @brief The connection pool the client uses, for running the application's own commands
 * (the business writes a lock protects).
 * @param client  Borrowed; NULL gives NULL.
 * @return Owned by the client or by the application that passed it in; do not destroy it.
 *         Pop and push clients as with any mongoc_client_pool_t.
 *
 * Errors: none. Thread safety: any thread (a pool is thread-safe). Blocking: does not block.
 */
MONGOLOCK_EXPORT mongoc_client_pool_t *
mongolock_client_pool (mongolock_client_t *client);

/**
 * @brief Lists locks whose key starts with @p prefix, sorted by key.
 *
 * Each element of the array is
 *   {key: string, kind: "lock" | "semaphore" | "rwlock", permits: int (semaphores only),
 *    owner: string or null, token: int64 (the last one given), expiresAt: date,
 *    remainingMs: int64 (by the server's clock; <= 0 when expired),
 *    holders: [{owner, token, mode ("r"/"w", rwlocks only), remainingMs}] (the live
 *    holders of a semaphore or reader/writer lock; empty for a named lock), held: bool,
 *    queued: int (the waiters queued by fair handles, see mongolock_lock_opts_set_fair())}.
 * "held" is decided by the server's clock in the same command that read the documents.
 * @param client     Borrowed.
 * @param prefix     Borrowed; NULL or "" for all.
 * @param limit      At most this many locks; 0 for no limit.
 * @param locks_out  OUT, always initialised, the caller's to destroy: an array of documents.
 * @param error      OUT, optional: set when false is returned.
 * @return true when listed; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT (a negative
 *         limit), #MONGOLOCK_ERROR_STORE_TIMEOUT (then @p locks_out is empty), or the
 *         driver's or server's error.
 *
 * Thread safety: thread-safe. Blocking: at most the client's timeout for the whole listing.
 */
MONGOLOCK_EXPORT bool
mongolock_client_list_locks (mongolock_client_t *client,
                             const char *prefix,
                             int64_t limit,
                             bson_t *locks_out,
                             bson_error_t *error);

/**
 * @brief An administrator's break of a stuck lock: frees @p key whoever holds it.
 *
 * The document is kept, so fencing tokens continue to increase. On a semaphore or
 * reader/writer lock it drops every holder (and every writer's waiting mark). The holder
 * finds out on its next renew or release (#MONGOLOCK_ERROR_LOST).
 * @param client    Borrowed.
 * @param key       Borrowed.
 * @param was_held  OUT, optional: whether a live lease was broken.
 * @param previous  OUT, optional, always initialised when given, the caller's to destroy:
 *                  the document as it was, or empty when no such lock exists.
 * @param error     OUT, optional: set when false is returned.
 * @return true when done (also when no such lock exists); false with
 *         #MONGOLOCK_ERROR_INVALID_ARGUMENT, #MONGOLOCK_ERROR_STORE_TIMEOUT (the lock may
 *         or may not have been broken; list it to know), or the driver's or server's error.
 *
 * Thread safety: thread-safe. Blocking: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_client_force_release (mongolock_client_t *client,
                                const char *key,
                                bool *was_held,
                                bson_t *previous,
                                bson_error_t *error);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_CLIENT_H */
