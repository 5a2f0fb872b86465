#include "client-private.h"

#include <string.h>
#include <time.h>

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
   client->write_opts = bson_new ();
   mongoc_write_concern_append (opts->write_concern, client->write_opts);
   client->cleanup_secs = opts->cleanup_secs;
   pthread_mutex_init (&client->clock_mu, NULL);
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
   mongoc_uri_t *uri = mongoc_uri_new_with_error (uri_string, &uri_error);
   if (!uri) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "invalid MongoDB URI: %s", uri_error.message);
      return NULL;
   }
   mongoc_client_pool_t *pool = mongoc_client_pool_new_with_error (uri, error);
   mongoc_uri_destroy (uri);
   if (!pool) {
      return NULL;
   }
   mongoc_client_pool_set_error_api (pool, MONGOC_ERROR_API_VERSION_2);
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
   if (client->owns_pool) {
      mongoc_client_pool_destroy (client->pool);
   }
   bson_free (client->database);
   bson_free (client->collection);
   bson_free (client->identity);
   bson_destroy (client->write_opts);
   pthread_mutex_destroy (&client->clock_mu);
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

/* A reply can be ok:1 and still carry writeErrors (update) or a writeConcernError. */
static bool
check_write_reply (const bson_t *reply, bson_error_t *error)
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
_mongolock_client_write_command (mongolock_client_t *client, bson_t *cmd, bson_t *reply, bson_error_t *error)
{
   mongoc_client_t *c = mongoc_client_pool_pop (client->pool);
   bool ok = mongoc_client_write_command_with_opts (c, client->database, cmd, client->write_opts, reply, error);
   mongoc_client_pool_push (client->pool, c);
   return ok && check_write_reply (reply, error);
}

bool
_mongolock_client_read_command (mongolock_client_t *client, const bson_t *cmd, bson_t *reply, bson_error_t *error)
{
   mongoc_client_t *c = mongoc_client_pool_pop (client->pool);
   /* Lock state must come from the primary: a secondary may lag behind. */
   mongoc_read_prefs_t *prefs = mongoc_read_prefs_new (MONGOC_READ_PRIMARY);
   bool ok = mongoc_client_read_command_with_opts (c, client->database, cmd, prefs, NULL, reply, error);
   mongoc_read_prefs_destroy (prefs);
   mongoc_client_pool_push (client->pool, c);
   return ok;
}

int64_t
_mongolock_wall_ms (void)
{
   struct timespec ts;
   clock_gettime (CLOCK_REALTIME, &ts);
   return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
_mongolock_client_clock_offset (mongolock_client_t *client, int64_t *offset_ms)
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
   mongoc_client_t *c = mongoc_client_pool_pop (client->pool);
   int64_t t0 = _mongolock_wall_ms ();
   bool ok = mongoc_client_command_simple (c, "admin", &cmd, NULL, &reply, NULL);
   int64_t t1 = _mongolock_wall_ms ();
   mongoc_client_pool_push (client->pool, c);
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

bool
mongolock_client_ensure_indexes (mongolock_client_t *client, bson_error_t *error)
{
   if (!client) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "client is NULL");
      return false;
   }
   bson_t cmd = BSON_INITIALIZER, indexes, index, key, reply;
   BSON_APPEND_UTF8 (&cmd, "createIndexes", client->collection);
   BSON_APPEND_ARRAY_BEGIN (&cmd, "indexes", &indexes);
   BSON_APPEND_DOCUMENT_BEGIN (&indexes, "0", &index);
   BSON_APPEND_DOCUMENT_BEGIN (&index, "key", &key);
   BSON_APPEND_INT32 (&key, "expiresAt", 1);
   bson_append_document_end (&index, &key);
   BSON_APPEND_UTF8 (&index, "name", "mongolock_expiresAt_ttl");
   BSON_APPEND_INT64 (&index, "expireAfterSeconds", client->cleanup_secs);
   bson_append_document_end (&indexes, &index);
   bson_append_array_end (&cmd, &indexes);
   bool ok = _mongolock_client_write_command (client, &cmd, &reply, error);
   bson_destroy (&cmd);
   bson_destroy (&reply);
   return ok;
}
