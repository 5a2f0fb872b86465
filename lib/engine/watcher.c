/* SPDX-License-Identifier: Apache-2.0 */
/* Wake-up on release: per client, one change stream per watched namespace (usually just
 * the lock collection), opened by its own thread when the first handle waits there and
 * shared by every waiting handle and key of the client. The server filters the stream
 * ($match) down to deletes and releases (an update that removes the owner field, or a
 * replacement without it); each event wakes exactly the waiters of its documentKey._id,
 * which try again at once. Expiry is no event: waiters still sleep until the holder's
 * lease ends. When the stream cannot be opened (a standalone answers 40573) or keeps
 * failing, waiters fall back to the backoff, and the mode says why.
 *
 * No lost wake-up: a waiter registers before the attempt whose busy answer makes it
 * sleep, so a release after that answer marks it woken once the stream runs. A stream
 * opened after busy answers starts (startAtOperationTime) a second before the earliest
 * of their operationTimes, so it holds every release after them; a waiter whose answer
 * time is unknown, and every waiter when a stream is reopened without a resume token, is
 * woken once when it opens (one more attempt), since releases before its start are not
 * in it. */
#include "engine-private.h"

#include <string.h>

/* A getMore waits this long for events; it also bounds how long client destroy waits
 * for the watcher (a libmongoc change stream cannot be interrupted), so it is a trade
 * between idle getMores (2/s per waiting client) and a prompt destroy. */
#define AWAIT_MS 500
/* A stream without waiters for this long is closed (no command then). */
#define IDLE_CLOSE_MS 3000
/* Failures in a row (without a getMore in between that worked) before falling back. */
#define MAX_FAILURES 3
/* Pause before reopening after a failure, and before trying again after a fall-back. */
#define REOPEN_PAUSE_MS 100
#define FALLBACK_RETRY_MS 60000

typedef struct _mongolock_watch_stream_t {
   mongolock_client_t *client;
   char *db, *coll, *owner_field;
   _mongolock_watch_entry_t *entries;
   pthread_cond_t cond; /* wakes the stream's thread (a waiter came, or stop) */
   bool started;
   pthread_t thread;
   _mongolock_watch_mode_t mode;
   bson_error_t why;
   struct _mongolock_watch_stream_t *next;
} stream_t;

void
_mongolock_watch_init (mongolock_client_t *client)
{
   pthread_mutex_init (&client->watch.mu, NULL);
}

/* Whether an event's _id and a waiter's key are the same _id (numbers by value, like the
 * _id index; anything else byte for byte). A false match only costs one attempt. */
static bool
same_id (const bson_value_t *a, const bson_value_t *b)
{
   bool an = a->value_type == BSON_TYPE_INT32 || a->value_type == BSON_TYPE_INT64 || a->value_type == BSON_TYPE_DOUBLE;
   bool bn = b->value_type == BSON_TYPE_INT32 || b->value_type == BSON_TYPE_INT64 || b->value_type == BSON_TYPE_DOUBLE;
   if (an || bn) {
      if (!an || !bn) {
         return false;
      }
      if (a->value_type != BSON_TYPE_DOUBLE && b->value_type != BSON_TYPE_DOUBLE) {
         int64_t x = a->value_type == BSON_TYPE_INT32 ? a->value.v_int32 : a->value.v_int64;
         int64_t y = b->value_type == BSON_TYPE_INT32 ? b->value.v_int32 : b->value.v_int64;
         return x == y;
      }
      double x = a->value_type == BSON_TYPE_DOUBLE ? a->value.v_double
                 : a->value_type == BSON_TYPE_INT32 ? a->value.v_int32 : (double) a->value.v_int64;
      double y = b->value_type == BSON_TYPE_DOUBLE ? b->value.v_double
                 : b->value_type == BSON_TYPE_INT32 ? b->value.v_int32 : (double) b->value.v_int64;
      return x == y;
   }
   if (a->value_type != b->value_type) {
      return false;
   }
   if (a->value_type == BSON_TYPE_UTF8) {
      return a->value.v_utf8.len == b->value.v_utf8.len &&
             memcmp (a->value.v_utf8.str, b->value.v_utf8.str, a->value.v_utf8.len) == 0;
   }
   bson_t x = BSON_INITIALIZER, y = BSON_INITIALIZER;
   BSON_APPEND_VALUE (&x, "", a);
   BSON_APPEND_VALUE (&y, "", b);
   bool eq = x.len == y.len && memcmp (bson_get_data (&x), bson_get_data (&y), x.len) == 0;
   bson_destroy (&x);
   bson_destroy (&y);
   return eq;
}

/* Tells every sleeping waiter of s that the mode changed (under mu): they choose their
 * sleep again, without an attempt. */
static void
notify_mode_locked (stream_t *s)
{
   for (_mongolock_watch_entry_t *e = s->entries; e; e = e->next) {
      pthread_cond_signal (&e->cond);
   }
}

/* The stream opened at start_t (seconds; 0: "now", nothing earlier in it): wakes the
 * waiters whose busy answer it may not cover (under mu). */
static void
wake_uncovered_locked (stream_t *s, uint32_t start_t)
{
   for (_mongolock_watch_entry_t *e = s->entries; e; e = e->next) {
      if (start_t == 0 || e->since_t == 0 || e->since_t < start_t) {
         e->woken = true;
         e->uncovered = true;
         pthread_cond_signal (&e->cond);
      }
   }
}

/* Where a new stream should start to hold every release after the waiters' busy answers:
 * margin seconds before the earliest (a no-op write's operationTime may be a little after
 * the state it read, so 1 unless the history is too short); 0 when some waiter's answer
 * time is unknown. Under mu. */
static uint32_t
start_time_locked (const stream_t *s, uint32_t margin)
{
   uint32_t min = 0;
   for (const _mongolock_watch_entry_t *e = s->entries; e; e = e->next) {
      if (e->since_t <= 1) {
         return 0;
      }
      min = min == 0 || e->since_t < min ? e->since_t : min;
   }
   return min > margin ? min - margin : 0;
}

/* The owner a fair release handed the lock to (nextOwner, see lib/shapes/named-fair.c), or
 * NULL when the event names none: not a fair release, the same as the last one, or a
 * replace event (whose fullDocument may carry an older release's names). */
static const char *
next_owner (const bson_t *event)
{
   bson_iter_t it;
   if (bson_iter_init (&it, event) && bson_iter_find_descendant (&it, "updateDescription.updatedFields.nextOwner", &it) &&
       BSON_ITER_HOLDS_UTF8 (&it)) {
      return bson_iter_utf8 (&it, NULL);
   }
   return NULL;
}

/* Wakes the waiters of the event's documentKey._id (under mu). A fair release that names
 * the next owner wakes only that waiter (told to try at once) and the key's plain waiters;
 * any other release wakes them all and counts for the fair ones. */
static void
wake_key_locked (stream_t *s, const bson_t *event)
{
   bson_iter_t it;
   if (!bson_iter_init (&it, event) || !bson_iter_find_descendant (&it, "documentKey._id", &it)) {
      return;
   }
   const bson_value_t *id = bson_iter_value (&it);
   const char *next = next_owner (event);
   for (_mongolock_watch_entry_t *e = s->entries; e; e = e->next) {
      if (!same_id (&e->key, id)) {
         continue;
      }
      if (next && e->owner) {
         if (strcmp (e->owner, next) != 0) {
            continue;
         }
         e->uncovered = true;
      }
      e->woken = true;
      e->releases++;
      pthread_cond_signal (&e->cond);
   }
}

/* [{$match: deletes and releases}, {$project: only what the watcher reads}]. A fair
 * release records the client of the waiter it hands the lock to (nextClient): of those
 * updates the server sends this client only the ones naming it or no client (null or
 * unchanged, so missing from updatedFields; $in with null matches a missing field:
 * manual, "Query for Null or Missing Fields"), so waiters of other clients cost it
 * nothing. Replace events (rare: a difference larger than the document) all pass, as
 * their fullDocument may carry an older release's names. */
static bson_t *
pipeline_new (const char *owner_field, const char *identity)
{
   char *full = bson_strdup_printf ("fullDocument.%s", owner_field);
   bson_t *p = BCON_NEW ("pipeline", "[",
      "{", "$match", "{", "$or", "[",
         "{", "operationType", BCON_UTF8 ("delete"), "}",
         "{", "operationType", BCON_UTF8 ("update"), "updateDescription.removedFields", BCON_UTF8 (owner_field),
            "updateDescription.updatedFields.nextClient", "{", "$in", "[", BCON_NULL, BCON_UTF8 (identity), "]", "}", "}",
         "{", "operationType", BCON_UTF8 ("replace"), full, "{", "$exists", BCON_BOOL (false), "}", "}",
      "]", "}", "}",
      "{", "$project", "{", "operationType", BCON_INT32 (1), "documentKey", BCON_INT32 (1),
         "updateDescription.updatedFields.nextOwner", BCON_INT32 (1), "}", "}",
   "]");
   bson_free (full);
   return p;
}

/* Errors after which reopening cannot help: a standalone (40573), no such command (59),
 * not authorised (13), an unknown or disallowed option or stage. */
static bool
is_permanent (const bson_error_t *e)
{
   if (e->domain != MONGOC_ERROR_SERVER && e->domain != MONGOC_ERROR_QUERY && e->domain != MONGOC_ERROR_COMMAND) {
      return false;
   }
   return e->code == 40573 || e->code == 59 || e->code == 13 || e->code == 40324 || e->code == 40415;
}

/* Records a failure (under mu): after MAX_FAILURES in a row or a permanent one, the
 * stream falls back; its waiters are told (woken) so they sleep by backoff. */
static void
failed_locked (stream_t *s, const bson_error_t *err, int *failures, int64_t *retry_at)
{
   (*failures)++;
   if (is_permanent (err) || *failures >= MAX_FAILURES) {
      s->why = *err;
      if (s->mode != _MONGOLOCK_WATCH_BACKOFF) {
         s->mode = _MONGOLOCK_WATCH_BACKOFF;
         notify_mode_locked (s);
      }
      *failures = 0;
      *retry_at = _mongolock_now_ms () + FALLBACK_RETRY_MS;
   } else {
      *retry_at = _mongolock_now_ms () + REOPEN_PAUSE_MS;
   }
}

static void *
stream_main (void *arg)
{
   stream_t *s = arg;
   _mongolock_watch_state_t *w = &s->client->watch;
   mongoc_client_t *c = mongoc_client_pool_pop (s->client->pool);
   mongoc_collection_t *coll = mongoc_client_get_collection (c, s->db, s->coll);
   bson_t *pipeline = pipeline_new (s->owner_field, s->client->identity);
   bson_t *resume = NULL; /* the last resume token of a stream that failed */
   int margin = 1; /* seconds before the waiters' answers to start at; -1: start now */
   mongoc_change_stream_t *cs = NULL;
   int failures = 0;
   int64_t retry_at = 0, busy_ms = _mongolock_now_ms ();
   pthread_mutex_lock (&w->mu);
   while (!w->stop) {
      int64_t now = _mongolock_now_ms ();
      if (s->entries) {
         busy_ms = now;
      } else if (!cs || now - busy_ms >= IDLE_CLOSE_MS) {
         if (cs) {
            pthread_mutex_unlock (&w->mu);
            mongoc_change_stream_destroy (cs); /* kills the cursor */
            cs = NULL;
            pthread_mutex_lock (&w->mu);
            continue;
         }
         pthread_cond_wait (&s->cond, &w->mu);
         continue;
      }
      if (!cs && now < retry_at) {
         _mongolock_cond_wait_until (&s->cond, &w->mu, retry_at);
         continue;
      }
      pthread_mutex_unlock (&w->mu);
      bson_error_t err;
      const bson_t *doc;
      if (!cs) {
         bson_t *opts = BCON_NEW ("maxAwaitTimeMS", BCON_INT64 (AWAIT_MS));
         uint32_t start_t = 0;
         if (resume) {
            BSON_APPEND_DOCUMENT (opts, "resumeAfter", resume);
         } else if (margin >= 0) {
            pthread_mutex_lock (&w->mu);
            start_t = start_time_locked (s, (uint32_t) margin);
            pthread_mutex_unlock (&w->mu);
            if (start_t) {
               BSON_APPEND_TIMESTAMP (opts, "startAtOperationTime", start_t, 0);
            }
         }
         cs = mongoc_collection_watch (coll, pipeline, opts);
         bson_destroy (opts);
         bool bad = mongoc_change_stream_error_document (cs, &err, &doc);
         pthread_mutex_lock (&w->mu);
         if (bad && start_t && err.code == 286) {
            /* ChangeStreamHistoryLost: the oplog begins after start_t (a young replica
             * set). Try again at once without the margin, then at "now" (every waiter
             * then tries once more). */
            margin--;
            retry_at = 0;
         } else if (bad) {
            if (resume && !is_permanent (&err)) {
               /* The token may be too old (history lost): open afresh next time. */
               bson_destroy (resume);
               resume = NULL;
            }
            failed_locked (s, &err, &failures, &retry_at);
         } else {
            margin = 1;
            s->mode = _MONGOLOCK_WATCH_STREAM;
            notify_mode_locked (s);
            if (!resume) {
               wake_uncovered_locked (s, start_t); /* a resumed stream missed nothing */
            }
         }
         pthread_mutex_unlock (&w->mu);
         if (bad) {
            mongoc_change_stream_destroy (cs);
            cs = NULL;
         }
      } else {
         const bson_t *ev;
         while (mongoc_change_stream_next (cs, &ev)) {
            pthread_mutex_lock (&w->mu);
            wake_key_locked (s, ev);
            pthread_mutex_unlock (&w->mu);
         }
         /* libmongoc has already resumed once after a resumable error (with the token). */
         if (mongoc_change_stream_error_document (cs, &err, &doc)) {
            const bson_t *token = mongoc_change_stream_get_resume_token (cs);
            if (token) {
               bson_destroy (resume);
               resume = bson_copy (token);
            }
            mongoc_change_stream_destroy (cs);
            cs = NULL;
            pthread_mutex_lock (&w->mu);
            failed_locked (s, &err, &failures, &retry_at);
            pthread_mutex_unlock (&w->mu);
         } else {
            failures = 0;
         }
      }
      pthread_mutex_lock (&w->mu);
   }
   pthread_mutex_unlock (&w->mu);
   mongoc_change_stream_destroy (cs);
   bson_destroy (resume);
   bson_destroy (pipeline);
   mongoc_collection_destroy (coll);
   mongoc_client_pool_push (s->client->pool, c);
   return NULL;
}

/* The stream of (db, coll, owner_field), created (not started) when missing. Under mu. */
static stream_t *
stream_get_locked (mongolock_client_t *client, const char *db, const char *coll, const char *owner_field)
{
   for (stream_t *s = client->watch.streams; s; s = s->next) {
      if (strcmp (s->db, db) == 0 && strcmp (s->coll, coll) == 0 && strcmp (s->owner_field, owner_field) == 0) {
         return s;
      }
   }
   stream_t *s = bson_malloc0 (sizeof *s);
   s->client = client;
   s->db = bson_strdup (db);
   s->coll = bson_strdup (coll);
   s->owner_field = bson_strdup (owner_field);
   _mongolock_cond_init (&s->cond);
   s->next = client->watch.streams;
   client->watch.streams = s;
   return s;
}

void
_mongolock_watch_register (mongolock_client_t *client, const _mongolock_watch_target_t *target,
                           _mongolock_watch_entry_t *e)
{
   memset (e, 0, sizeof *e);
   e->key = target->key;
   _mongolock_cond_init (&e->cond);
   pthread_mutex_lock (&client->watch.mu);
   stream_t *s = stream_get_locked (client, target->db ? target->db : client->database, target->collection,
                                    target->owner_field);
   e->stream = s;
   e->next = s->entries;
   if (e->next) {
      e->next->prev = e;
   }
   s->entries = e;
   pthread_cond_signal (&s->cond); /* an idle stream's thread keeps its stream open */
   pthread_mutex_unlock (&client->watch.mu);
}

void
_mongolock_watch_note_answer (mongolock_client_t *client, _mongolock_watch_entry_t *e, const bson_t *reply)
{
   bson_iter_t it;
   uint32_t t = 0, i = 0;
   if (bson_iter_init_find (&it, reply, "operationTime") && BSON_ITER_HOLDS_TIMESTAMP (&it)) {
      bson_iter_timestamp (&it, &t, &i);
   }
   pthread_mutex_lock (&client->watch.mu);
   e->since_t = t;
   pthread_mutex_unlock (&client->watch.mu);
}

void
_mongolock_watch_rearm (mongolock_client_t *client, _mongolock_watch_entry_t *e, const char *fair_owner)
{
   pthread_mutex_lock (&client->watch.mu);
   e->woken = false;
   e->uncovered = false;
   if (!fair_owner || !e->owner || strcmp (fair_owner, e->owner) != 0) {
      bson_free (e->owner);
      e->owner = fair_owner ? bson_strdup (fair_owner) : NULL;
   }
   pthread_mutex_unlock (&client->watch.mu);
}

unsigned
_mongolock_watch_releases (mongolock_client_t *client, _mongolock_watch_entry_t *e, bool *uncovered)
{
   pthread_mutex_lock (&client->watch.mu);
   e->woken = false; /* the count says what happened; a release after this sets it again */
   unsigned n = e->releases;
   if (uncovered) {
      *uncovered = e->uncovered;
   }
   pthread_mutex_unlock (&client->watch.mu);
   return n;
}

_mongolock_watch_mode_t
_mongolock_watch_mode (mongolock_client_t *client, _mongolock_watch_entry_t *e, bson_error_t *why)
{
   pthread_mutex_lock (&client->watch.mu);
   stream_t *s = e->stream;
   if (!s->started && !client->watch.stop) {
      if (pthread_create (&s->thread, NULL, stream_main, s) == 0) {
         s->started = true;
      } else {
         s->mode = _MONGOLOCK_WATCH_BACKOFF;
         _mongolock_set_error (&s->why, MONGOLOCK_ERROR_INVALID_ARGUMENT, "cannot start the watcher thread");
      }
   }
   _mongolock_watch_mode_t mode = s->mode;
   if (why && mode == _MONGOLOCK_WATCH_BACKOFF) {
      *why = s->why;
   }
   pthread_mutex_unlock (&client->watch.mu);
   return mode;
}

bool
_mongolock_watch_sleep (mongolock_client_t *client, _mongolock_watch_entry_t *e, int64_t until_ms,
                        _mongolock_watch_mode_t mode, mongolock_cancel_t *cancel, bool *mode_changed)
{
   _mongolock_waiter_t cw = {&client->watch.mu, &e->cond, NULL, NULL};
   _mongolock_cancel_add (cancel, &cw); /* lock order: the flag's lock, then watch.mu */
   pthread_mutex_lock (&client->watch.mu);
   while (!e->woken && e->stream->mode == mode && !client->watch.stop && !mongolock_cancel_is_raised (cancel) &&
          _mongolock_now_ms () < until_ms) {
      _mongolock_cond_wait_until (&e->cond, &client->watch.mu, until_ms);
   }
   *mode_changed = !e->woken && e->stream->mode != mode;
   pthread_mutex_unlock (&client->watch.mu);
   _mongolock_cancel_remove (cancel, &cw);
   return !mongolock_cancel_is_raised (cancel);
}

void
_mongolock_watch_unregister (mongolock_client_t *client, _mongolock_watch_entry_t *e)
{
   pthread_mutex_lock (&client->watch.mu);
   stream_t *s = e->stream;
   if (e->prev) {
      e->prev->next = e->next;
   } else {
      s->entries = e->next;
   }
   if (e->next) {
      e->next->prev = e->prev;
   }
   pthread_mutex_unlock (&client->watch.mu);
   pthread_cond_destroy (&e->cond);
   bson_free (e->owner);
}

void
_mongolock_watch_shutdown (mongolock_client_t *client)
{
   _mongolock_watch_state_t *w = &client->watch;
   pthread_mutex_lock (&w->mu);
   w->stop = true;
   for (stream_t *s = w->streams; s; s = s->next) {
      pthread_cond_broadcast (&s->cond);
   }
   pthread_mutex_unlock (&w->mu);
   stream_t *s = w->streams;
   while (s) {
      stream_t *next = s->next;
      if (s->started) {
         pthread_join (s->thread, NULL);
      }
      pthread_cond_destroy (&s->cond);
      bson_free (s->db);
      bson_free (s->coll);
      bson_free (s->owner_field);
      bson_free (s);
      s = next;
   }
   w->streams = NULL;
   pthread_mutex_destroy (&w->mu);
}
