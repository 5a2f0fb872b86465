/* SPDX-License-Identifier: Apache-2.0 */
/* Operator functions: list locks and break a stuck one. */
#include "engine/engine-private.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "^" + prefix with every ASCII punctuation character escaped (PCRE accepts \x for any
 * non-alphanumeric x); bytes >= 0x80 are UTF-8 and taken literally. */
static char *
prefix_regex (const char *prefix)
{
   size_t n = strlen (prefix);
   char *re = bson_malloc (2 * n + 2);
   char *p = re;
   *p++ = '^';
   for (const unsigned char *s = (const unsigned char *) prefix; *s; s++) {
      if (*s < 0x80 && !isalnum (*s)) {
         *p++ = '\\';
      }
      *p++ = (char) *s;
   }
   *p = '\0';
   return re;
}

typedef struct {
   char *database;
   char *collection;
   bson_t pipeline;
   bson_t out;
} list_ctx_t;

/* Reads every batch through the driver's cursor, so that any number of locks is listed
 * and every getMore runs in the session that opened the cursor (a server refuses a
 * getMore from another session: 50738). */
static bool
list_task (mongoc_client_t *c, void *arg, int64_t deadline_ms, bson_error_t *error)
{
   list_ctx_t *ctx = arg;
   mongoc_collection_t *coll = mongoc_client_get_collection (c, ctx->database, ctx->collection);
   mongoc_read_prefs_t *prefs = mongoc_read_prefs_new (MONGOC_READ_PRIMARY);
   bson_t opts = BSON_INITIALIZER;
   int64_t left = deadline_ms - _mongolock_now_ms ();
   BSON_APPEND_INT64 (&opts, "maxTimeMS", left > 1 ? left : 1);
   mongoc_cursor_t *cursor = mongoc_collection_aggregate (coll, MONGOC_QUERY_NONE, &ctx->pipeline, &opts, prefs);
   const bson_t *doc;
   uint32_t n = 0;
   char idx[16];
   while (mongoc_cursor_next (cursor, &doc)) {
      snprintf (idx, sizeof idx, "%u", n++);
      BSON_APPEND_DOCUMENT (&ctx->out, idx, doc);
   }
   bool ok = !mongoc_cursor_error (cursor, error);
   mongoc_cursor_destroy (cursor);
   bson_destroy (&opts);
   mongoc_read_prefs_destroy (prefs);
   mongoc_collection_destroy (coll);
   return ok;
}

static void
list_free (void *arg)
{
   list_ctx_t *ctx = arg;
   bson_free (ctx->database);
   bson_free (ctx->collection);
   bson_destroy (&ctx->pipeline);
   bson_destroy (&ctx->out);
   free (ctx);
}

static void
list_take (void *arg, void *out)
{
   list_ctx_t *ctx = arg;
   bson_destroy (out);
   bson_steal (out, &ctx->out);
   bson_init (&ctx->out);
}

bool
mongolock_client_list_locks (mongolock_client_t *client, const char *prefix, int64_t limit, bson_t *locks_out, bson_error_t *error)
{
   if (locks_out) {
      bson_init (locks_out);
   }
   if (!client || !locks_out) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is NULL", client ? "locks_out" : "client");
      return false;
   }
   if (limit < 0) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "limit is negative");
      return false;
   }
   if (prefix && *prefix && !_mongolock_check_string ("prefix", prefix, MONGOLOCK_KEY_MAX_BYTES, error)) {
      return false;
   }
   bson_t cmd = BSON_INITIALIZER, pipeline, stage, match, id, project;
   BSON_APPEND_ARRAY_BEGIN (&cmd, "pipeline", &pipeline);
   int i = 0;
   char idx[16];
   if (prefix && *prefix) {
      char *re = prefix_regex (prefix);
      snprintf (idx, sizeof idx, "%d", i++);
      BSON_APPEND_DOCUMENT_BEGIN (&pipeline, idx, &stage);
      BSON_APPEND_DOCUMENT_BEGIN (&stage, "$match", &match);
      BSON_APPEND_DOCUMENT_BEGIN (&match, "_id", &id);
      BSON_APPEND_REGEX (&id, "$regex", re, "");
      bson_append_document_end (&match, &id);
      bson_append_document_end (&stage, &match);
      bson_append_document_end (&pipeline, &stage);
      bson_free (re);
   }
   snprintf (idx, sizeof idx, "%d", i++);
   BSON_APPEND_DOCUMENT_BEGIN (&pipeline, idx, &stage);
   BCON_APPEND (&stage, "$sort", "{", "_id", BCON_INT32 (1), "}");
   bson_append_document_end (&pipeline, &stage);
   if (limit > 0) {
      snprintf (idx, sizeof idx, "%d", i++);
      BSON_APPEND_DOCUMENT_BEGIN (&pipeline, idx, &stage);
      BSON_APPEND_INT64 (&stage, "$limit", limit);
      bson_append_document_end (&pipeline, &stage);
   }
   snprintf (idx, sizeof idx, "%d", i++);
   BSON_APPEND_DOCUMENT_BEGIN (&pipeline, idx, &stage);
   BSON_APPEND_DOCUMENT_BEGIN (&stage, "$project", &project);
   /* Semaphores and reader/writer locks (lib/shapes/semaphore.c, rwlock.c) keep their
    * holders in an array; a named lock that took such a key sets owner. */
   bson_t *live = _mongolock_live_holders_new ();
   BCON_APPEND (&project,
                "_id", BCON_INT32 (0),
                "key", BCON_UTF8 ("$_id"),
                "kind", "{", "$cond", "[", "{", "$gt", "[", BCON_UTF8 ("$owner"), BCON_NULL, "]", "}",
                   BCON_UTF8 ("lock"), "{", "$ifNull", "[", BCON_UTF8 ("$kind"), BCON_UTF8 ("lock"), "]", "}", "]", "}",
                /* Only a semaphore's: a named lock that took the key keeps the field. */
                "permits", "{", "$cond", "[", "{", "$and", "[", "{", "$eq", "[", BCON_UTF8 ("$kind"), BCON_UTF8 ("semaphore"), "]", "}",
                   "{", "$not", "[", "{", "$gt", "[", BCON_UTF8 ("$owner"), BCON_NULL, "]", "}", "]", "}", "]", "}",
                   BCON_UTF8 ("$permits"), BCON_UTF8 ("$$REMOVE"), "]", "}",
                /* fair named locks (lib/shapes/named-fair.c): live queue entries */
                "queued", "{", "$size", "{", "$filter", "{",
                   "input", "{", "$ifNull", "[", BCON_UTF8 ("$queue"), "[", "]", "]", "}",
                   "cond", "{", "$gt", "[", BCON_UTF8 ("$$this.e"), BCON_UTF8 ("$$NOW"), "]", "}", "}", "}", "}",
                "owner", "{", "$ifNull", "[", BCON_UTF8 ("$owner"), BCON_NULL, "]", "}",
                "token", "{", "$ifNull", "[", BCON_UTF8 ("$token"), BCON_INT64 (0), "]", "}",
                "expiresAt", BCON_INT32 (1),
                "remainingMs", "{", "$subtract", "[", BCON_UTF8 ("$expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
                "holders", "{", "$cond", "[", "{", "$gt", "[", BCON_UTF8 ("$owner"), BCON_NULL, "]", "}", "[", "]",
                   "{", "$map", "{", "input", BCON_DOCUMENT (live), "in", "{",
                      "owner", BCON_UTF8 ("$$this.owner"), "token", BCON_UTF8 ("$$this.token"),
                      "mode", BCON_UTF8 ("$$this.mode"),
                      "remainingMs", "{", "$subtract", "[", BCON_UTF8 ("$$this.expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
                   "}", "}", "}", "]", "}",
                "held", "{", "$or", "[",
                   "{", "$and", "[",
                      "{", "$gt", "[", BCON_UTF8 ("$expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
                      "{", "$gt", "[", BCON_UTF8 ("$owner"), BCON_NULL, "]", "}",
                   "]", "}",
                   "{", "$gt", "[", "{", "$size", BCON_DOCUMENT (live), "}", BCON_INT32 (0), "]", "}",
                "]", "}");
   bson_destroy (live);
   bson_append_document_end (&stage, &project);
   bson_append_document_end (&pipeline, &stage);
   bson_append_array_end (&cmd, &pipeline);

   list_ctx_t *ctx = _mongolock_aligned_alloc0 (_Alignof (list_ctx_t), sizeof *ctx); /* bson_t members */
   ctx->database = bson_strdup (client->database);
   ctx->collection = bson_strdup (client->collection);
   bson_steal (&ctx->pipeline, &cmd);
   bson_init (&ctx->out);
   /* Bounded by the client's timeout like every other call: the worker may go on after it. */
   bool ok = _mongolock_exec_task (client, _mongolock_now_ms () + client->timeout_ms, list_task, ctx, list_free, list_take,
                                   locks_out, error);
   if (!ok) {
      bson_reinit (locks_out);
   }
   return ok;
}

bool
mongolock_client_force_release (mongolock_client_t *client, const char *key, bool *was_held, bson_t *previous, bson_error_t *error)
{
   if (previous) {
      bson_init (previous);
   }
   if (was_held) {
      *was_held = false;
   }
   if (!client) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "client is NULL");
      return false;
   }
   if (!_mongolock_check_string ("lock key", key, MONGOLOCK_KEY_MAX_BYTES, error)) {
      return false;
   }
   /* One atomic command: record what was broken (decided by the server's clock), end the
    * lease, keep the document and its token. No upsert: a missing lock stays missing. A
    * semaphore's or reader/writer lock's holders (and writers' waiting marks) are all
    * dropped. */
   bson_t *live = _mongolock_live_holders_new ();
   bson_t *cmd = BCON_NEW (
      "findAndModify", BCON_UTF8 (client->collection),
      "query", "{", "_id", BCON_UTF8 (key), "}",
      "update", "[",
         "{", "$set", "{", "forcedRelease", "{",
            "at", BCON_UTF8 ("$$NOW"),
            "owner", "{", "$ifNull", "[", BCON_UTF8 ("$owner"), BCON_NULL, "]", "}",
            "token", BCON_UTF8 ("$token"),
            "expiresAt", BCON_UTF8 ("$expiresAt"),
            "holders", BCON_DOCUMENT (live),
            "wasHeld", "{", "$or", "[",
               "{", "$and", "[",
                  "{", "$gt", "[", BCON_UTF8 ("$expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
                  "{", "$gt", "[", BCON_UTF8 ("$owner"), BCON_NULL, "]", "}",
               "]", "}",
               "{", "$gt", "[", "{", "$size", BCON_DOCUMENT (live), "}", BCON_INT32 (0), "]", "}",
            "]", "}",
         "}", "}", "}",
         "{", "$set", "{", "expiresAt", "{", "$min", "[", BCON_UTF8 ("$expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
            "holders", "{", "$cond", "[", "{", "$gt", "[", BCON_UTF8 ("$holders"), BCON_NULL, "]", "}",
               "{", "$literal", "[", "]", "}", BCON_UTF8 ("$$REMOVE"), "]", "}",
         "}", "}",
         "{", "$unset", "[", BCON_UTF8 ("owner"), BCON_UTF8 ("waiting"), "]", "}",
      "]",
      "new", BCON_BOOL (true));
   bson_t reply;
   bool ok = _mongolock_client_write_command (client, cmd, &reply, error);
   bson_iter_t it;
   if (ok && bson_iter_init (&it, &reply) && bson_iter_find_descendant (&it, "value.forcedRelease", &it) &&
       BSON_ITER_HOLDS_DOCUMENT (&it)) {
      uint32_t len;
      const uint8_t *data;
      bson_iter_document (&it, &len, &data);
      bson_t forced;
      bson_init_static (&forced, data, len);
      bson_iter_t f;
      if (was_held && bson_iter_init_find (&f, &forced, "wasHeld") && BSON_ITER_HOLDS_BOOL (&f)) {
         *was_held = bson_iter_bool (&f);
      }
      if (previous) {
         BSON_APPEND_UTF8 (previous, "key", key);
         bson_iter_init (&f, &forced);
         while (bson_iter_next (&f)) {
            if (strcmp (bson_iter_key (&f), "at") != 0) {
               bson_append_iter (previous, NULL, 0, &f);
            }
         }
      }
   }
   bson_destroy (&reply);
   bson_destroy (cmd);
   bson_destroy (live);
   return ok;
}
