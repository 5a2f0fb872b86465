/* SPDX-License-Identifier: Apache-2.0 */
/* Every command mongolock sends runs on one of the client's worker threads, so that the
 * calling thread can give up at its deadline, or when cancelled, whatever the command is
 * stuck in: server selection, connecting, the handshake, a hung socket, a majority wait.
 * Inside the command, maxTimeMS and (for majority writes) wtimeout carry the same
 * deadline to the server, so a command that outlives its caller stops there too. */
#include "engine-private.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* At most this many commands run at once per client; more wait in a queue (and fail
 * without being sent if their deadline passes first). */
#define MAX_WORKERS 32

typedef struct _mongolock_job_t {
   bson_t cmd;
   char *db; /* NULL: the client's lock database */
   bool write;
   int64_t deadline_ms;
   _mongolock_done_fn done; /* asynchronous: run by the worker; NULL for a waiting caller */
   void *ctx;
   /* A task instead of a command: task (run with a pooled client) and its context, freed
    * by task_free whoever lets go of the job last. */
   _mongolock_task_fn task;
   void *task_ctx;
   void (*task_free) (void *task_ctx);
   /* A waiting caller's job is shared with it: refs 2 until one side lets go. */
   int refs;
   bool finished;
   pthread_cond_t cond;
   /* The outcome. */
   bool ok;
   bson_t reply;
   bson_error_t error;
   int64_t sent_ms;
   struct _mongolock_job_t *next;
} job_t;

/* The job the current worker thread is sending, for the APM started callback. */
static _Thread_local job_t *tl_job;

void
_mongolock_exec_note_sent (void)
{
   if (tl_job) {
      tl_job->sent_ms = _mongolock_now_ms ();
   }
}

static void
job_free (job_t *job)
{
   bson_destroy (&job->cmd);
   bson_free (job->db);
   bson_destroy (&job->reply);
   if (job->task_free) {
      job->task_free (job->task_ctx);
   }
   pthread_cond_destroy (&job->cond);
   free (job);
}

/* The write concern (the client's, built once) and maxTimeMS of one command, bounded by
 * what is left of its deadline; int32, which both fields accept (4 bytes fewer than an
 * int64 each). */
static void
append_limits (mongolock_client_t *client, bool write, int64_t left_ms, bson_t *to)
{
   int64_t left = left_ms > INT32_MAX ? INT32_MAX : (left_ms < 1 ? 1 : left_ms);
   if (write) {
      bson_t wc;
      BSON_APPEND_DOCUMENT_BEGIN (to, "writeConcern", &wc);
      bson_concat (&wc, client->wc_doc);
      if (client->wc_needs_wtimeout) {
         BSON_APPEND_INT32 (&wc, "wtimeout", (int32_t) left);
      }
      bson_append_document_end (to, &wc);
   }
   BSON_APPEND_INT32 (to, "maxTimeMS", (int32_t) left);
}

static void
run_job (mongolock_client_t *client, job_t *job)
{
   job->sent_ms = 0;
   int64_t now = _mongolock_now_ms ();
   if (now >= job->deadline_ms) {
      _mongolock_set_error (&job->error,
                            MONGOLOCK_ERROR_STORE_TIMEOUT,
                            "the deadline passed before the command could be sent");
      job->ok = false;
      return;
   }
   mongoc_client_t *c = mongoc_client_pool_pop (client->pool);
   if (job->task) {
      job->ok = job->task (c, job->task_ctx, job->deadline_ms, &job->error);
      mongoc_client_pool_push (client->pool, c);
      return;
   }
   /* Server selection of our own before the command only while the client's last command
    * failed (the server may be unknown to the topology): it costs as much as the command's
    * own, and the lease clock starts after it, i.e. when the server is found. Otherwise
    * the lease clock starts here, before libmongoc's selection, which can only make the
    * client believe in less lease than the server grants; on a pool the client owns, the
    * APM started callback moves it to when the command is handed to its connection. */
   if (atomic_load_explicit (&client->exec.troubled, memory_order_relaxed)) {
      mongoc_server_description_t *sd = mongoc_client_select_server (c, job->write, NULL, &job->error);
      if (!sd) {
         job->ok = false;
         mongoc_client_pool_push (client->pool, c);
         return;
      }
      mongoc_server_description_destroy (sd);
   }
   job->sent_ms = _mongolock_now_ms ();
   tl_job = job;
   const char *db = job->db ? job->db : client->database;
   int64_t left = job->deadline_ms - job->sent_ms;
   if (job->write) {
      /* The write concern and maxTimeMS go in the command itself, not in opts, which
       * libmongoc would parse back into a mongoc_write_concern_t for every command; unless
       * the pool sets a write concern of its own (from its URI), which libmongoc appends:
       * then through opts, so that it is replaced, not doubled. */
      bson_t opts = BSON_INITIALIZER;
      bool in_body = mongoc_write_concern_is_default (mongoc_client_get_write_concern (c));
      append_limits (client, true, left, in_body ? &job->cmd : &opts);
      job->ok = mongoc_client_write_command_with_opts (c, db, &job->cmd, in_body ? NULL : &opts, &job->reply,
                                                       &job->error);
      job->ok = job->ok && _mongolock_check_write_reply (&job->reply, &job->error);
      bson_destroy (&opts);
   } else {
      /* Lock state must come from the primary: a secondary may lag behind. */
      bson_t opts = BSON_INITIALIZER;
      append_limits (client, false, left, &opts);
      mongoc_read_prefs_t *prefs = mongoc_read_prefs_new (MONGOC_READ_PRIMARY);
      job->ok = mongoc_client_read_command_with_opts (c, db, &job->cmd, prefs, &opts, &job->reply, &job->error);
      mongoc_read_prefs_destroy (prefs);
      bson_destroy (&opts);
   }
   tl_job = NULL;
   atomic_store_explicit (&client->exec.troubled, !job->ok && _mongolock_is_transient (&job->error), memory_order_relaxed);
   mongoc_client_pool_push (client->pool, c);
}

static void *
worker_main (void *arg)
{
   mongolock_client_t *client = arg;
   _mongolock_exec_state_t *ex = &client->exec;
   pthread_mutex_lock (&ex->mu);
   for (;;) {
      while (!ex->head && !ex->stop) {
         ex->idle++;
         pthread_cond_wait (&ex->cond, &ex->mu);
         ex->idle--;
      }
      job_t *job = ex->head;
      if (!job) {
         break; /* stopping, and nothing is left */
      }
      ex->head = job->next;
      if (!ex->head) {
         ex->tail = NULL;
      }
      ex->queued--;
      pthread_mutex_unlock (&ex->mu);
      run_job (client, job);
      if (job->done) {
         job->done (job->ctx, job->ok, &job->reply, &job->error, job->sent_ms);
         job_free (job);
         pthread_mutex_lock (&ex->mu);
      } else {
         pthread_mutex_lock (&ex->mu);
         job->finished = true;
         if (--job->refs == 0) {
            job_free (job); /* the caller gave up on it */
         } else {
            pthread_cond_broadcast (&job->cond);
         }
      }
   }
   pthread_mutex_unlock (&ex->mu);
   return NULL;
}

/* Queues job (under ex->mu), starting a worker when none is idle for it. */
static void
enqueue_locked (mongolock_client_t *client, job_t *job)
{
   _mongolock_exec_state_t *ex = &client->exec;
   job->next = NULL;
   if (ex->tail) {
      ex->tail->next = job;
   } else {
      ex->head = job;
   }
   ex->tail = job;
   ex->queued++;
   if (ex->queued > ex->idle && ex->nthreads < MAX_WORKERS) {
      if (pthread_create (&ex->threads[ex->nthreads], NULL, worker_main, client) == 0) {
         ex->nthreads++;
      }
      /* Without a new thread the job waits for a busy one; with none at all (the very
       * first failed), run_job is never reached and the caller's deadline fails it. */
   }
   pthread_cond_signal (&ex->cond);
}

static job_t *
job_new (const _mongolock_call_t *call)
{
   job_t *job = _mongolock_aligned_alloc0 (_Alignof (job_t), sizeof *job); /* bson_t members: 128-byte aligned */
   /* Grown once, with room for the write concern and maxTimeMS appended later. */
   bson_init (&job->cmd);
   bson_concat (&job->cmd, call->cmd);
   job->db = call->db ? bson_strdup (call->db) : NULL;
   bson_init (&job->reply); /* an empty reply until the command fills it */
   job->write = call->write;
   job->deadline_ms = call->deadline_ms;
   _mongolock_cond_init (&job->cond);
   return job;
}

void
_mongolock_exec_async (mongolock_client_t *client, const _mongolock_call_t *call, _mongolock_done_fn done, void *ctx)
{
   job_t *job = job_new (call);
   job->done = done;
   job->ctx = ctx;
   pthread_mutex_lock (&client->exec.mu);
   enqueue_locked (client, job);
   pthread_mutex_unlock (&client->exec.mu);
}

/* Queues job (refs 2: the caller's and the worker's) and waits for it until its
 * deadline or cancellation; returns whether it finished (else error is set). Called and
 * returns with ex->mu held. */
static bool
wait_job (mongolock_client_t *client, job_t *job, mongolock_cancel_t *cancel, bson_error_t *error)
{
   _mongolock_exec_state_t *ex = &client->exec;
   job->refs = 2;
   enqueue_locked (client, job);
   while (!job->finished && !mongolock_cancel_is_raised (cancel) && _mongolock_now_ms () < job->deadline_ms) {
      _mongolock_cond_wait_until (&job->cond, &ex->mu, job->deadline_ms);
   }
   if (job->finished) {
      return true;
   }
   if (mongolock_cancel_is_raised (cancel)) {
      _mongolock_set_cancelled (error, "the command");
   } else {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_STORE_TIMEOUT,
                            "no answer from the lock store before the deadline (unreachable, hung or slow)");
   }
   return false;
}

bool
_mongolock_exec (mongolock_client_t *client, const _mongolock_call_t *call, bson_t *reply, int64_t *sent_ms,
                 bson_error_t *error)
{
   _mongolock_exec_state_t *ex = &client->exec;
   if (sent_ms) {
      *sent_ms = 0;
   }
   bson_init (reply);
   if (mongolock_cancel_is_raised (call->cancel)) {
      _mongolock_set_cancelled (error, "the command");
      return false;
   }
   job_t *job = job_new (call);
   _mongolock_waiter_t w = {&ex->mu, &job->cond, NULL, NULL};
   _mongolock_cancel_add (call->cancel, &w);
   int64_t begun = _mongolock_now_ms ();
   pthread_mutex_lock (&ex->mu);
   bool ok = wait_job (client, job, call->cancel, error);
   if (ok) {
      client->rtt_ms = _mongolock_now_ms () - begun;
      ok = job->ok;
      bson_destroy (reply);
      bson_steal (reply, &job->reply);
      bson_init (&job->reply);
      if (!ok && error) {
         *error = job->error;
      }
      if (sent_ms) {
         *sent_ms = job->sent_ms;
      }
   }
   pthread_mutex_unlock (&ex->mu);
   /* Unregister before letting go of the job: a raise may otherwise broadcast on the
    * condvar of a job that is already freed. (Lock order: the flag's lock, then ex->mu.) */
   _mongolock_cancel_remove (call->cancel, &w);
   pthread_mutex_lock (&ex->mu);
   if (--job->refs == 0) {
      job_free (job);
   }
   pthread_mutex_unlock (&ex->mu);
   return ok;
}

bool
_mongolock_exec_task (mongolock_client_t *client,
                      int64_t deadline_ms,
                      _mongolock_task_fn task,
                      void *task_ctx,
                      void (*task_free) (void *task_ctx),
                      void (*take) (void *task_ctx, void *out),
                      void *out,
                      bson_error_t *error)
{
   _mongolock_exec_state_t *ex = &client->exec;
   bson_t empty = BSON_INITIALIZER;
   _mongolock_call_t call = {&empty, false, deadline_ms, NULL, NULL};
   job_t *job = job_new (&call);
   job->task = task;
   job->task_ctx = task_ctx;
   job->task_free = task_free;
   pthread_mutex_lock (&ex->mu);
   bool ok = wait_job (client, job, NULL, error);
   if (ok) {
      ok = job->ok;
      if (ok) {
         take (task_ctx, out);
      } else if (error) {
         *error = job->error;
      }
   }
   if (--job->refs == 0) {
      job_free (job);
   }
   pthread_mutex_unlock (&ex->mu);
   return ok;
}

void
_mongolock_exec_init (mongolock_client_t *client)
{
   _mongolock_exec_state_t *ex = &client->exec;
   pthread_mutex_init (&ex->mu, NULL);
   pthread_cond_init (&ex->cond, NULL);
   ex->threads = bson_malloc0 (MAX_WORKERS * sizeof *ex->threads);
}

void
_mongolock_exec_shutdown (mongolock_client_t *client)
{
   _mongolock_exec_state_t *ex = &client->exec;
   pthread_mutex_lock (&ex->mu);
   ex->stop = true;
   /* Queued jobs still run (their deadlines bound them) so every waiter gets an answer. */
   pthread_cond_broadcast (&ex->cond);
   pthread_mutex_unlock (&ex->mu);
   for (int i = 0; i < ex->nthreads; i++) {
      pthread_join (ex->threads[i], NULL);
   }
   bson_free (ex->threads);
   pthread_cond_destroy (&ex->cond);
   pthread_mutex_destroy (&ex->mu);
}

bool
_mongolock_check_write_reply (const bson_t *reply, bson_error_t *error)
{
   bson_iter_t it, sub;
   const char *field = NULL;
   if (bson_iter_init_find (&it, reply, "writeErrors") && BSON_ITER_HOLDS_ARRAY (&it) &&
       bson_iter_recurse (&it, &sub) && bson_iter_next (&sub)) {
      field = "writeErrors";
   } else if (bson_iter_init_find (&it, reply, "writeConcernError") && BSON_ITER_HOLDS_DOCUMENT (&it)) {
      field = "writeConcernError";
      sub = it;
   }
   if (!field) {
      return true;
   }
   bson_iter_t f;
   int64_t code = 0;
   const char *msg = "unknown";
   if (BSON_ITER_HOLDS_DOCUMENT (&sub) && bson_iter_recurse (&sub, &f)) {
      while (bson_iter_next (&f)) {
         if (strcmp (bson_iter_key (&f), "code") == 0) {
            code = bson_iter_as_int64 (&f);
         } else if (strcmp (bson_iter_key (&f), "errmsg") == 0 && BSON_ITER_HOLDS_UTF8 (&f)) {
            msg = bson_iter_utf8 (&f, NULL);
         }
      }
   }
   if (error) {
      bson_set_error (error,
                      strcmp (field, "writeErrors") == 0 ? MONGOC_ERROR_SERVER : MONGOC_ERROR_WRITE_CONCERN,
                      (uint32_t) code,
                      "%s",
                      msg);
   }
   return false;
}

bool
_mongolock_is_duplicate_key (const bson_error_t *error)
{
   /* Error API version 2 reports server errors in MONGOC_ERROR_SERVER; version 1 (a
    * borrowed pool that never chose) in MONGOC_ERROR_QUERY or MONGOC_ERROR_COMMAND. */
   return error->code == 11000 && (error->domain == MONGOC_ERROR_SERVER || error->domain == MONGOC_ERROR_QUERY ||
                                   error->domain == MONGOC_ERROR_COMMAND || error->domain == MONGOC_ERROR_COLLECTION);
}

bool
_mongolock_is_transient (const bson_error_t *error)
{
   if (error->domain == MONGOC_ERROR_STREAM || error->domain == MONGOC_ERROR_SERVER_SELECTION) {
      return true;
   }
   if (error->domain != MONGOC_ERROR_SERVER && error->domain != MONGOC_ERROR_QUERY &&
       error->domain != MONGOC_ERROR_COMMAND && error->domain != MONGOC_ERROR_WRITE_CONCERN) {
      return false;
   }
   /* The codes the retryable-writes specification retries: network trouble, shutdown and
    * replica-set state changes (an election under way). */
   switch (error->code) {
   case 6:     /* HostUnreachable */
   case 7:     /* HostNotFound */
   case 89:    /* NetworkTimeout */
   case 91:    /* ShutdownInProgress */
   case 189:   /* PrimarySteppedDown */
   case 262:   /* ExceededTimeLimit */
   case 9001:  /* SocketException */
   case 10107: /* NotWritablePrimary */
   case 11600: /* InterruptedAtShutdown */
   case 11602: /* InterruptedDueToReplStateChange */
   case 13435: /* NotPrimaryNoSecondaryOk */
   case 13436: /* NotPrimaryOrSecondary */
      return true;
   default:
      return false;
   }
}

bool
_mongolock_parse_matched (const bson_t *reply, bool *matched, bson_error_t *error)
{
   bson_iter_t it;
   if (bson_iter_init (&it, reply) && bson_iter_find_descendant (&it, "lastErrorObject.n", &it) &&
       BSON_ITER_HOLDS_NUMBER (&it)) {
      *matched = bson_iter_as_int64 (&it) == 1;
      return true;
   }
   _mongolock_set_error (error, MONGOLOCK_ERROR_PROTOCOL, "findAndModify reply has no lastErrorObject.n");
   return false;
}
