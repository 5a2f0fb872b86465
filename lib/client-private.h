/* Internal layout of mongolock_client_t and its options. */
#ifndef MONGOLOCK_CLIENT_PRIVATE_H
#define MONGOLOCK_CLIENT_PRIVATE_H

#include "mongolock-private.h"

struct _mongolock_client_opts_t {
   char *database;
   char *collection;
   char *identity; /* NULL: generate host:pid:random */
   mongoc_write_concern_t *write_concern;
   int64_t cleanup_secs;
};

struct _mongolock_client_t {
   mongoc_client_pool_t *pool;
   bool owns_pool;
   char *database;
   char *collection;
   char *identity;
   /* {writeConcern: ...} for every lock write, built once and then only read: appending a
    * mongoc_write_concern_t compiles it into a cache inside it, which is a write, so
    * sharing one between threads would race. */
   bson_t *write_opts;
   int64_t cleanup_secs;

   /* Estimate of (server wall clock - client wall clock), only ever used to bound backoff
    * sleeps; never for deciding who holds a lock. */
   pthread_mutex_t clock_mu;
   bool clock_known;
   int64_t clock_offset_ms;
   int64_t clock_checked_ms; /* monotonic */
};

/* Builds the default identity "<host>:<pid>:<32 hex>". Caller frees with bson_free. */
char *
_mongolock_default_identity (bson_error_t *error);

/*
 * Runs a write command (findAndModify, update) on the lock database with the client's
 * write concern appended. reply is always initialised. Server errors, write errors and
 * write-concern errors all return false with the server's code.
 */
bool
_mongolock_client_write_command (mongolock_client_t *client, bson_t *cmd, bson_t *reply, bson_error_t *error);

/* Runs a read command (aggregate, find) on the lock database. reply always initialised. */
bool
_mongolock_client_read_command (mongolock_client_t *client, const bson_t *cmd, bson_t *reply, bson_error_t *error);

/* Server wall clock minus client wall clock in ms, measured with hello.localTime at most
 * once a minute. Returns false when unknown (server unreachable). */
bool
_mongolock_client_clock_offset (mongolock_client_t *client, int64_t *offset_ms);

/* Client wall clock in ms since the epoch. */
int64_t
_mongolock_wall_ms (void);

/* Appends the first document of reply.cursor.firstBatch (or nothing) to out. */
bool
_mongolock_first_batch (const bson_t *reply, bson_iter_t *batch);

#endif
