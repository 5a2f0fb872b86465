/* SPDX-License-Identifier: Apache-2.0 */
#include "engine/engine-private.h"
#include "redact-private.h"

#include <string.h>
#include <time.h>

/* The write concern's fields as a document; *needs_wtimeout when acknowledging needs
 * more than the primary (w > 1 or "majority") and no wtimeout bounds the wait. */
static bson_t *
write_concern_doc (const mongoc_write_concern_t *wc, bool *needs_wtimeout)
{
   bson_t *doc = bson_new ();
   const char *tag = mongoc_write_concern_get_wtag (wc);
   int32_t w = mongoc_write_concern_get_w (wc);
   if (mongoc_write_concern_get_wmajority (wc)) {
      BSON_APPEND_UTF8 (doc, "w", "majority");
   } else if (tag) {
      BSON_APPEND_UTF8 (doc, "w", tag);
   } else if (w != MONGOC_WRITE_CONCERN_W_DEFAULT) {
      BSON_APPEND_INT32 (doc, "w", w);
   }
   if (mongoc_write_concern_journal_is_set (wc)) {
      BSON_APPEND_BOOL (doc, "j", mongoc_write_concern_get_journal (wc));
   }
   int64_t wtimeout = mongoc_write_concern_get_wtimeout_int64 (wc);
   if (wtimeout > 0) {
      BSON_APPEND_INT64 (doc, "wtimeout", wtimeout);
   }
   *needs_wtimeout = wtimeout <= 0 && (mongoc_write_concern_get_wmajority (wc) || tag || w > 1);
   return doc;
}

static void
apm_started (const mongoc_apm_command_started_t *event)
{
   (void) event;
   _mongolock_exec_note_sent ();
}

static mongolock_client_t *
client_new (mongoc_client_pool_t *pool, bool owns_pool, const mongolock_client_opts_t *opts, bson_error_t *error)
{
   mongolock_client_opts_t *defaults = NULL;
   if (!opts) {
      opts = defaults = mongolock_client_opts_new ();
   }
   char *identity = opts->identity ? bson_strdup (opts->identity) : _mongolock_default_identity (error);
   if (!identity) {
      mongolock_client_opts_destroy (defaults);
      return NULL;
   }
   mongolock_client_t *client = bson_malloc0 (sizeof *client);
   client->pool = pool;
   client->owns_pool = owns_pool;
   client->database = bson_strdup (opts->database);
   client->collection = bson_strdup (opts->collection);
   client->identity = identity;
   client->wc_doc = write_concern_doc (opts->write_concern, &client->wc_needs_wtimeout);
   client->cleanup_secs = opts->cleanup_secs;
   client->timeout_ms = opts->timeout_ms;
   client->wake_on_release = !opts->no_wake;
   client->rtt_ms = -1;
   pthread_mutex_init (&client->clock_mu, NULL);
   _mongolock_exec_init (client);
   _mongolock_watch_init (client);
   pthread_mutex_init (&client->sched.mu, NULL);
   _mongolock_cond_init (&client->sched.cond);
   mongolock_client_opts_destroy (defaults);
   return client;
}

mongolock_client_t *
mongolock_client_new (const char *uri_string, const mongolock_client_opts_t *opts, bson_error_t *error)
{
   if (!uri_string) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "uri is NULL");
      return NULL;
   }
   bson_error_t uri_error;
   /* libmongoc would take the text after such an '@' for a host and echo it later. */
   if (_mongolock_uri_userinfo_ambiguous (uri_string)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "invalid MongoDB URI: %s", _MONGOLOCK_AMBIGUOUS_USERINFO);
      return NULL;
   }
   mongoc_uri_t *uri = mongoc_uri_new_with_error (uri_string, &uri_error);
   if (!uri) {
      _mongolock_redact_error (uri_string, &uri_error);
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "invalid MongoDB URI: %s", uri_error.message);
      return NULL;
   }
   /* An abandoned command keeps its worker (and mongolock_client_destroy) waiting until
    * the driver gives up: unless the URI says otherwise, give up at the client's timeout,
    * not after the driver's 30 s of server selection or 5 minutes of socket timeout. */
   int32_t bound = (int32_t) (opts ? opts->timeout_ms : MONGOLOCK_DEFAULT_TIMEOUT_MS);
   if (!mongoc_uri_has_option (uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS)) {
      mongoc_uri_set_option_as_int32 (uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, bound);
   }
   if (!mongoc_uri_has_option (uri, MONGOC_URI_SOCKETTIMEOUTMS)) {
      mongoc_uri_set_option_as_int32 (uri, MONGOC_URI_SOCKETTIMEOUTMS, bound);
   }
   mongoc_client_pool_t *pool = mongoc_client_pool_new_with_error (uri, error);
   mongoc_uri_destroy (uri);
   if (!pool) {
      _mongolock_redact_error (uri_string, error);
      return NULL;
   }
   mongoc_client_pool_set_error_api (pool, MONGOC_ERROR_API_VERSION_2);
   /* The lease clock of an acquire or renew starts when the command is handed to its
    * connection (after server selection, connecting and the handshake). */
   mongoc_apm_callbacks_t *cbs = mongoc_apm_callbacks_new ();
   mongoc_apm_set_command_started_cb (cbs, apm_started);
   mongoc_client_pool_set_apm_callbacks (pool, cbs, NULL);
   mongoc_apm_callbacks_destroy (cbs);
   mongolock_client_t *client = client_new (pool, true, opts, error);
   if (!client) {
      mongoc_client_pool_destroy (pool);
   }
   return client;
}

mongolock_client_t *
mongolock_client_new_from_pool (mongoc_client_pool_t *pool, const mongolock_client_opts_t *opts, bson_error_t *error)
{
   if (!pool) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "pool is NULL");
      return NULL;
   }
   return client_new (pool, false, opts, error);
}

void
mongolock_client_destroy (mongolock_client_t *client)
{
   if (!client) {
      return;
   }
   _mongolock_sched_shutdown (client);
   _mongolock_watch_shutdown (client);
   _mongolock_exec_shutdown (client);
   if (client->owns_pool) {
      mongoc_client_pool_destroy (client->pool);
   }
   bson_free (client->database);
   bson_free (client->collection);
   bson_free (client->identity);
   bson_destroy (client->wc_doc);
   pthread_mutex_destroy (&client->clock_mu);
   pthread_mutex_destroy (&client->sched.mu);
   pthread_cond_destroy (&client->sched.cond);
   bson_free (client);
}

const char *
mongolock_client_identity (const mongolock_client_t *client)
{
   return client ? client->identity : NULL;
}

const char *
mongolock_client_database_name (const mongolock_client_t *client)
{
   return client ? client->database : NULL;
}

const char *
mongolock_client_collection_name (const mongolock_client_t *client)
{
   return client ? client->collection : NULL;
}

mongoc_client_pool_t *
mongolock_client_pool (mongolock_client_t *client)
{
   return client ? client->pool : NULL;
}

static bool
run_bounded (mongolock_client_t *client, const bson_t *cmd, bool write, bson_t *reply, bson_error_t *error)
{
   _mongolock_call_t call = {cmd, write, _mongolock_now_ms () + client->timeout_ms, NULL, NULL};
   return _mongolock_exec (client, &call, reply, NULL, error);
}

bool
_mongolock_client_write_command (mongolock_client_t *client, const bson_t *cmd, bson_t *reply, bson_error_t *error)
{
   return run_bounded (client, cmd, true, reply, error);
}

bool
_mongolock_client_read_command (mongolock_client_t *client, const bson_t *cmd, bson_t *reply, bson_error_t *error)
{
   return run_bounded (client, cmd, false, reply, error);
}

int64_t
_mongolock_wall_ms (void)
{
   struct timespec ts;
   clock_gettime (CLOCK_REALTIME, &ts);
   return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
_mongolock_client_clock_offset (mongolock_client_t *client, int64_t deadline_ms, int64_t *offset_ms)
{
   int64_t now = _mongolock_now_ms ();
   pthread_mutex_lock (&client->clock_mu);
   bool fresh = client->clock_known && now - client->clock_checked_ms < 60000;
   *offset_ms = client->clock_offset_ms;
   pthread_mutex_unlock (&client->clock_mu);
   if (fresh) {
      return true;
   }
   bson_t cmd = BSON_INITIALIZER, reply;
   BSON_APPEND_INT32 (&cmd, "hello", 1);
   _mongolock_call_t call = {&cmd, false, deadline_ms, NULL, NULL};
   int64_t t0 = _mongolock_wall_ms ();
   bool ok = _mongolock_exec (client, &call, &reply, NULL, NULL);
   int64_t t1 = _mongolock_wall_ms ();
   bson_iter_t it;
   if (ok && bson_iter_init_find (&it, &reply, "localTime") && BSON_ITER_HOLDS_DATE_TIME (&it)) {
      *offset_ms = bson_iter_date_time (&it) - (t0 + t1) / 2;
      pthread_mutex_lock (&client->clock_mu);
      client->clock_known = true;
      client->clock_offset_ms = *offset_ms;
      client->clock_checked_ms = now;
      pthread_mutex_unlock (&client->clock_mu);
   } else {
      ok = false;
   }
   bson_destroy (&cmd);
   bson_destroy (&reply);
   return ok;
}

bool
_mongolock_first_batch (const bson_t *reply, bson_iter_t *batch)
{
   bson_iter_t it;
   return bson_iter_init (&it, reply) && bson_iter_find_descendant (&it, "cursor.firstBatch", batch) &&
          BSON_ITER_HOLDS_ARRAY (batch) && bson_iter_recurse (batch, batch);
}
