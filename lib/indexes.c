/* SPDX-License-Identifier: Apache-2.0 */
/* The lock collection's indexes (mongolock_client_ensure_indexes): one TTL index on
 * expiresAt, named TTL_INDEX, whose expireAfterSeconds follows the client's cleanup_secs.
 *
 * createIndexes with an index of the same name and key but another expireAfterSeconds
 * fails 85 IndexOptionsConflict (MONGODB-RULES 13); changing it in place is collMod's job
 * (manual, collMod "Change Expiration Value for Indexes"; since 5.1 collMod also makes a
 * plain single-field index a TTL index). Any other conflict (that name with another key or
 * identifying options: 86; another index on expiresAt under another name: 85) is not ours
 * to change: it is reported as MONGOLOCK_ERROR_INDEX_CONFLICT, saying which index and what
 * to do. */
#include "client-private.h"

#include <string.h>

#define TTL_INDEX "mongolock_expiresAt_ttl"
#define TTL_FIELD "expiresAt"

static bool
run_create (mongolock_client_t *client, bson_error_t *error)
{
   bson_t cmd = BSON_INITIALIZER, indexes, index, key, reply;
   BSON_APPEND_UTF8 (&cmd, "createIndexes", client->collection);
   BSON_APPEND_ARRAY_BEGIN (&cmd, "indexes", &indexes);
   BSON_APPEND_DOCUMENT_BEGIN (&indexes, "0", &index);
   BSON_APPEND_DOCUMENT_BEGIN (&index, "key", &key);
   BSON_APPEND_INT32 (&key, TTL_FIELD, 1);
   bson_append_document_end (&index, &key);
   BSON_APPEND_UTF8 (&index, "name", TTL_INDEX);
   BSON_APPEND_INT64 (&index, "expireAfterSeconds", client->cleanup_secs);
   bson_append_document_end (&indexes, &index);
   bson_append_array_end (&cmd, &indexes);
   bool ok = _mongolock_client_write_command (client, &cmd, &reply, error);
   bson_destroy (&cmd);
   bson_destroy (&reply);
   return ok;
}

/* {collMod: coll, index: {name: TTL_INDEX, expireAfterSeconds: cleanup_secs}} */
static bool
run_collmod (mongolock_client_t *client, bson_error_t *error)
{
   bson_t cmd = BSON_INITIALIZER, index, reply;
   BSON_APPEND_UTF8 (&cmd, "collMod", client->collection);
   BSON_APPEND_DOCUMENT_BEGIN (&cmd, "index", &index);
   BSON_APPEND_UTF8 (&index, "name", TTL_INDEX);
   BSON_APPEND_INT64 (&index, "expireAfterSeconds", client->cleanup_secs);
   bson_append_document_end (&cmd, &index);
   bool ok = _mongolock_client_write_command (client, &cmd, &reply, error);
   bson_destroy (&cmd);
   bson_destroy (&reply);
   return ok;
}

/* 85 IndexOptionsConflict / 86 IndexKeySpecsConflict, in either error API's domain. */
static bool
is_conflict (const bson_error_t *e)
{
   return (e->domain == MONGOC_ERROR_SERVER || e->domain == MONGOC_ERROR_QUERY) && (e->code == 85 || e->code == 86);
}

/* Whether key (an index spec's "key") is exactly {expiresAt: 1}. */
static bool
is_ttl_key (bson_iter_t *spec_key)
{
   bson_iter_t k;
   return BSON_ITER_HOLDS_DOCUMENT (spec_key) && bson_iter_recurse (spec_key, &k) && bson_iter_next (&k) &&
          strcmp (bson_iter_key (&k), TTL_FIELD) == 0 && BSON_ITER_HOLDS_NUMBER (&k) && bson_iter_as_double (&k) == 1.0 &&
          !bson_iter_next (&k);
}

/* Whether spec has an option that identifies an index (5.0+: unique, sparse, a partial
 * filter, a collation): collMod cannot change those, and an index with them is another
 * index than ours even on the same key. */
static bool
has_identifying_option (const bson_t *spec)
{
   bson_iter_t it;
   if ((bson_iter_init_find (&it, spec, "unique") && bson_iter_as_bool (&it)) ||
       (bson_iter_init_find (&it, spec, "sparse") && bson_iter_as_bool (&it))) {
      return true;
   }
   return bson_iter_init_find (&it, spec, "partialFilterExpression") || bson_iter_init_find (&it, spec, "collation");
}

typedef enum { FOUND_NOTHING, FOUND_OURS_TO_UPDATE, FOUND_CONFLICT } found_t;

static void
set_conflict (mongolock_client_t *client, const bson_t *spec, const char *name, bson_error_t *error)
{
   char *json = bson_as_relaxed_extended_json (spec, NULL);
   /* The advice first: a long spec may be cut off at the end of the message. */
   _mongolock_set_error (error,
                         MONGOLOCK_ERROR_INDEX_CONFLICT,
                         "the index \"%s\" of %s.%s conflicts with mongolock's TTL index %s {%s: 1}, and "
                         "mongolock changes nothing but its own index's expireAfterSeconds: drop it "
                         "(db.%s.dropIndex(\"%s\")) and run ensure_indexes (or mongolock migrate) again. "
                         "The index: %s",
                         name,
                         client->database,
                         client->collection,
                         TTL_INDEX,
                         TTL_FIELD,
                         client->collection,
                         name,
                         json);
   bson_free (json);
}

/* Reads the collection's indexes and decides what the createIndexes conflict was: our
 * index with another expireAfterSeconds (or none), which collMod can update; our name on
 * another key or with identifying options (86); or another index on exactly {expiresAt: 1}
 * (85). On FOUND_CONFLICT, error says which index and what to do. */
static found_t
inspect (mongolock_client_t *client, bson_error_t *error)
{
   bson_t cmd = BSON_INITIALIZER, cursor, reply;
   BSON_APPEND_UTF8 (&cmd, "listIndexes", client->collection);
   BSON_APPEND_DOCUMENT_BEGIN (&cmd, "cursor", &cursor);
   bson_append_document_end (&cmd, &cursor);
   bson_error_t read_error;
   found_t found = FOUND_NOTHING, other = FOUND_NOTHING;
   bson_iter_t batch;
   /* A collection has at most 64 indexes: the first batch (101) holds them all. */
   bool ok = _mongolock_client_read_command (client, &cmd, &reply, &read_error) && _mongolock_first_batch (&reply, &batch);
   while (ok && found == FOUND_NOTHING && bson_iter_next (&batch)) {
      bson_t spec;
      uint32_t len;
      const uint8_t *data;
      bson_iter_t name, key;
      if (!BSON_ITER_HOLDS_DOCUMENT (&batch)) {
         continue;
      }
      bson_iter_document (&batch, &len, &data);
      if (!bson_init_static (&spec, data, len) || !bson_iter_init_find (&name, &spec, "name") ||
          !BSON_ITER_HOLDS_UTF8 (&name) || !bson_iter_init_find (&key, &spec, "key")) {
         continue;
      }
      const char *n = bson_iter_utf8 (&name, NULL);
      bool same_index = is_ttl_key (&key) && !has_identifying_option (&spec);
      if (strcmp (n, TTL_INDEX) == 0) {
         found = same_index ? FOUND_OURS_TO_UPDATE : FOUND_CONFLICT;
      } else if (same_index && other == FOUND_NOTHING) {
         other = FOUND_CONFLICT; /* reported only when our name is not there */
      } else {
         continue;
      }
      if (found == FOUND_CONFLICT || (found == FOUND_NOTHING && other == FOUND_CONFLICT)) {
         set_conflict (client, &spec, n, error);
      }
   }
   bson_destroy (&cmd);
   bson_destroy (&reply);
   return found != FOUND_NOTHING ? found : other;
}

bool
mongolock_client_ensure_indexes (mongolock_client_t *client, bson_error_t *error)
{
   if (!client) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "client is NULL");
      return false;
   }
   bson_error_t local;
   bson_error_t *e = error ? error : &local;
   if (run_create (client, e)) {
      return true;
   }
   if (!is_conflict (e)) {
      return false;
   }
   bson_error_t server_error = *e;
   switch (inspect (client, e)) {
   case FOUND_CONFLICT:
      return false;
   case FOUND_OURS_TO_UPDATE:
      /* Then createIndexes again: it now finds the identical index and does nothing, or
       * reports whatever still conflicts. */
      return run_collmod (client, e) && run_create (client, e);
   case FOUND_NOTHING:
   default:
      *e = server_error; /* gone meanwhile, or unreadable: the server's own error */
      return false;
   }
}
