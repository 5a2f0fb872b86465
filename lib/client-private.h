/* SPDX-License-Identifier: Apache-2.0 */
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
   int64_t timeout_ms;
   bool no_wake; /* mongolock_client_opts_set_wake_on_release (opts, false) */
};

/* The client's command workers (lib/engine/exec.c). */
typedef struct {
   pthread_mutex_t mu;
   pthread_cond_t cond;
   struct _mongolock_job_t *head, *tail;
   int queued;   /* jobs in the queue */
   int idle;     /* workers waiting for a job */
   int nthreads; /* workers started */
   pthread_t *threads;
   bool stop;
   _Atomic bool troubled; /* the last command failed with a transient error */
} _mongolock_exec_state_t;

/* The client's renewal scheduler (lib/engine/scheduler.c). Its lock guards every lease
 * of the client. */
typedef struct {
   pthread_mutex_t mu;
   pthread_cond_t cond; /* wakes the scheduler thread; also "a callback ended" */
   struct _mongolock_lease_t *head; /* registered leases */
   bool running;
   bool stop;
   pthread_t thread;
} _mongolock_sched_state_t;

/* The client's change-stream watchers (lib/engine/watcher.c): one stream per watched
 * namespace, shared by every waiting handle of the client. */
typedef struct {
   pthread_mutex_t mu; /* guards everything here and every registered entry */
   struct _mongolock_watch_stream_t *streams;
   bool stop;
} _mongolock_watch_state_t;

struct _mongolock_client_t {
   mongoc_client_pool_t *pool;
   bool owns_pool;
   char *database;
   char *collection;
   char *identity;
   /* The write concern is turned into BSON once and then only read: appending a
    * mongoc_write_concern_t compiles it into a cache inside it, which is a write, so
    * sharing one between threads would race. */
   bson_t *wc_doc;         /* the write concern's fields, for each command's writeConcern */
   bool wc_needs_wtimeout; /* w > 1 or majority without a wtimeout: each command sets one */
   int64_t cleanup_secs;
   int64_t timeout_ms; /* the deadline of calls that have no wait of their own */
   bool wake_on_release; /* waiters use the change-stream watcher (else backoff only) */
   _Atomic int64_t rtt_ms; /* how long the last answered command took; -1 before any */
   _mongolock_exec_state_t exec;
   _mongolock_sched_state_t sched;
   _mongolock_watch_state_t watch;

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
 * write concern appended, bounded by the client's timeout (see lib/engine/exec.c).
 * reply is always initialised. Server errors, write errors and write-concern errors all
 * return false with the server's code.
 */
bool
_mongolock_client_write_command (mongolock_client_t *client, const bson_t *cmd, bson_t *reply, bson_error_t *error);

/* Runs a read command (aggregate, find) on the primary of the lock database, bounded by
 * the client's timeout. reply always initialised. */
bool
_mongolock_client_read_command (mongolock_client_t *client, const bson_t *cmd, bson_t *reply, bson_error_t *error);

/* The APM command-started hook of pools the client owns (lib/engine/exec.c). */
void
_mongolock_exec_note_sent (void);

/* Server wall clock minus client wall clock in ms, measured with hello.localTime at most
 * once a minute (that hello gives up at deadline_ms). Returns false when unknown. */
bool
_mongolock_client_clock_offset (mongolock_client_t *client, int64_t deadline_ms, int64_t *offset_ms);

/* Client wall clock in ms since the epoch. */
int64_t
_mongolock_wall_ms (void);

/* Appends the first document of reply.cursor.firstBatch (or nothing) to out. */
bool
_mongolock_first_batch (const bson_t *reply, bson_iter_t *batch);

#endif
