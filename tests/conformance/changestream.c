/* SPDX-License-Identifier: Apache-2.0 */
#include "changestream.h"

#include <criterion/criterion.h>
#include <string.h>

void
cs_require_replset (mongoc_client_t *c)
{
   if (!conf_is_replset_or_mongos (c)) {
      cr_skip_test ("change streams need a replica set; this server is a standalone");
   }
}

void
cs_require_standalone (mongoc_client_t *c)
{
   if (conf_is_replset_or_mongos (c)) {
      cr_skip_test ("a standalone-only test; this server is a replica set or mongos");
   }
}

mongoc_client_session_t *
cs_session (mongoc_client_t *c)
{
   bson_error_t error;
   mongoc_client_session_t *s = mongoc_client_start_session (c, NULL, &error);
   cr_assert (s, "cannot start a session: %s", error.message);
   return s;
}

int64_t
cs_open (mongoc_client_t *c, mongoc_client_session_t *s, const char *db, const char *json, bson_t *reply)
{
   bson_t local;
   bson_t *r = reply ? reply : &local;
   conf_ok_in (c, s, db, json, r);
   int64_t id = conf_int64 (r, "cursor.id");
   char *j = conf_json (r);
   cr_assert_neq (id, 0, "a change stream cursor must stay open: %s", j);
   bson_free (j);
   if (!reply) {
      bson_destroy (&local);
   }
   return id;
}

void
cs_get_more (mongoc_client_t *c, mongoc_client_session_t *s, const char *db, const char *coll, int64_t id,
             int await_ms, int batch, bson_t *reply)
{
   bson_t cmd = BSON_INITIALIZER;
   BSON_APPEND_INT64 (&cmd, "getMore", id);
   BSON_APPEND_UTF8 (&cmd, "collection", coll);
   if (await_ms >= 0) {
      BSON_APPEND_INT64 (&cmd, "maxTimeMS", await_ms);
   }
   if (batch > 0) {
      BSON_APPEND_INT64 (&cmd, "batchSize", batch);
   }
   bson_t opts = BSON_INITIALIZER;
   bson_error_t error;
   cr_assert (mongoc_client_session_append (s, &opts, &error), "%s", error.message);
   bool ok = mongoc_client_command_with_opts (c, db, &cmd, NULL, &opts, reply, &error);
   char *j = conf_json (reply);
   cr_assert (ok, "getMore failed: %s (code %u): %s", error.message, error.code, j);
   bson_free (j);
   bson_destroy (&opts);
   bson_destroy (&cmd);
}

bson_t **
cs_batch (const bson_t *reply, const char *path, int *n)
{
   bson_iter_t it, child;
   char *j = conf_json (reply);
   cr_assert (conf_find (reply, path, &it) && BSON_ITER_HOLDS_ARRAY (&it), "no %s array in %s", path, j);
   bson_free (j);
   cr_assert (bson_iter_recurse (&it, &child));
   bson_t **docs = NULL;
   int count = 0;
   while (bson_iter_next (&child)) {
      cr_assert (BSON_ITER_HOLDS_DOCUMENT (&child));
      uint32_t len;
      const uint8_t *data;
      bson_iter_document (&child, &len, &data);
      docs = bson_realloc (docs, sizeof *docs * (size_t) (count + 1));
      docs[count++] = bson_new_from_data (data, len);
   }
   *n = count;
   return docs;
}

/* Appends the events of reply's batch at path to *all (holding *have). */
static void
append_batch (const bson_t *reply, const char *path, bson_t ***all, int *have)
{
   char *j = conf_json (reply);
   cr_assert_eq (conf_type (reply, "cursor.postBatchResumeToken._data"), BSON_TYPE_UTF8,
                 "a change stream batch without postBatchResumeToken: %s", j);
   bson_free (j);
   int k;
   bson_t **batch = cs_batch (reply, path, &k);
   *all = bson_realloc (*all, sizeof **all * (size_t) (*have + k + 1));
   for (int i = 0; i < k; i++) {
      (*all)[(*have)++] = batch[i];
   }
   bson_free (batch);
}

static int
collect_more (mongoc_client_t *c, mongoc_client_session_t *s, const char *db, const char *coll, int64_t *id, int n,
              int64_t timeout_ms, bson_t ***events, int have)
{
   bson_t **all = *events;
   int64_t start = mltest_now_ms ();
   while (have < n && *id != 0 && mltest_now_ms () - start < timeout_ms) {
      bson_t r;
      cs_get_more (c, s, db, coll, *id, 1000, 0, &r);
      append_batch (&r, "cursor.nextBatch", &all, &have);
      *id = conf_int64 (&r, "cursor.id");
      bson_destroy (&r);
   }
   cr_assert_eq (have, n, "%d change events within %" PRId64 " ms, expected %d", have, timeout_ms, n);
   *events = all;
   return have;
}

int
cs_collect (mongoc_client_t *c, mongoc_client_session_t *s, const char *db, const char *coll, int64_t *id, int n,
            int64_t timeout_ms, bson_t ***events)
{
   *events = NULL;
   return collect_more (c, s, db, coll, id, n, timeout_ms, events, 0);
}

int
cs_open_collect (mongoc_client_t *c, mongoc_client_session_t *s, const char *db, const char *coll, const char *json,
                 int n, int64_t timeout_ms, bson_t ***events, int64_t *id)
{
   bson_t r;
   conf_ok_in (c, s, db, json, &r);
   *events = NULL;
   int have = 0;
   append_batch (&r, "cursor.firstBatch", events, &have);
   *id = conf_int64 (&r, "cursor.id");
   bson_destroy (&r);
   return collect_more (c, s, db, coll, id, n, timeout_ms, events, have);
}

void
cs_assert_fields (const bson_t *doc, const char *const *names)
{
   bson_iter_t it;
   char *j = conf_json (doc);
   cr_assert (bson_iter_init (&it, doc));
   int i = 0;
   while (bson_iter_next (&it)) {
      cr_assert (names[i], "unexpected field %s in %s", bson_iter_key (&it), j);
      cr_assert_str_eq (bson_iter_key (&it), names[i], "field %d is %s, expected %s, in %s", i, bson_iter_key (&it),
                        names[i], j);
      i++;
   }
   cr_assert_null (names[i], "field %s missing from %s", names[i], j);
   bson_free (j);
}

char *
cs_token_json (const bson_t *doc, const char *path)
{
   bson_t tok;
   conf_doc (doc, path, &tok);
   return bson_as_relaxed_extended_json (&tok, NULL);
}
