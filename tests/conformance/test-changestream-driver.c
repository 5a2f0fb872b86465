/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 18 through libmongoc: mongoc_collection_watch + mongoc_change_stream_next see every
 * write, end at invalidate, resume from a saved token, and resume by themselves after a
 * resumable error (the server lost the cursor: CursorNotFound) without losing or
 * repeating an event. Skipped on a standalone.
 *
 * References: the driver Change Streams specification (github.com/mongodb/specifications,
 * source/change-streams/change-streams.md): "A server error with code 43 (CursorNotFound)"
 * is a resumable error; on one the driver runs aggregate again with resumeAfter (or
 * startAfter) set to its cached resume token, the postBatchResumeToken of the batch it
 * has used up or the _id of the last event it returned. libmongoc 1.23's
 * mongoc-change-stream.c implements it. Manual "killCursors". */
#include <criterion/criterion.h>
#include <string.h>

#include "changestream.h"

TestSuite (cs_driver, .init = conf_init, .fini = conf_fini, .timeout = 300);

#define WAIT_MS 30000

/* Waits for the next event (or fails); asserts no stream error. */
static const bson_t *
next_event (mongoc_change_stream_t *cs)
{
   const bson_t *doc = NULL;
   bson_error_t error;
   const bson_t *reply;
   int64_t start = mltest_now_ms ();
   while (mltest_now_ms () - start < WAIT_MS) {
      if (mongoc_change_stream_next (cs, &doc)) {
         return doc;
      }
      if (mongoc_change_stream_error_document (cs, &error, &reply)) {
         char *j = reply ? conf_json (reply) : bson_strdup ("");
         cr_assert_fail ("change stream error: %s (domain %u code %u) %s", error.message, error.domain, error.code, j);
      }
   }
   cr_assert_fail ("no change event within %d ms", WAIT_MS);
   return NULL;
}

static mongoc_change_stream_t *
watch (mongoc_collection_t *coll, const char *opts_json)
{
   bson_t *pipeline = mltest_bson ("{'pipeline': []}");
   bson_t *opts = mltest_bson (opts_json);
   mongoc_change_stream_t *cs = mongoc_collection_watch (coll, pipeline, opts);
   bson_error_t error;
   const bson_t *reply;
   cr_assert_not (mongoc_change_stream_error_document (cs, &error, &reply), "watch(): %s (code %u)", error.message,
                  error.code);
   bson_destroy (opts);
   bson_destroy (pipeline);
   return cs;
}

Test (cs_driver, watch_sees_writes_and_ends_at_invalidate)
{
   char *db;
   mongoc_client_t *c = conf_open ("csd", &db);
   cs_require_replset (c);
   conf_ok (c, db, "{'create': 'c'}", NULL);
   mongoc_collection_t *coll = mongoc_client_get_collection (c, db, "c");
   mongoc_change_stream_t *cs = watch (coll, "{'maxAwaitTimeMS': 1000}");
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$set': {'a': 1}}}]}", NULL);
   conf_ok (c, db, "{'delete': 'c', 'deletes': [{'q': {'_id': 1}, 'limit': 1}]}", NULL);
   conf_ok (c, db, "{'drop': 'c'}", NULL);
   static const char *const ops[] = {"insert", "update", "delete", "drop", "invalidate"};
   for (int i = 0; i < 5; i++) {
      const bson_t *doc = next_event (cs);
      cr_assert_str_eq (conf_str (doc, "operationType"), ops[i]);
   }
   /* After invalidate the stream is over: next() is false, without an error. */
   const bson_t *doc;
   bson_error_t error;
   cr_assert_not (mongoc_change_stream_next (cs, &doc));
   cr_assert_not (mongoc_change_stream_error_document (cs, &error, NULL), "error after invalidate: %s", error.message);
   mongoc_change_stream_destroy (cs);
   mongoc_collection_destroy (coll);
   conf_close (c, db);
}

Test (cs_driver, watch_resumes_from_a_saved_token)
{
   char *db;
   mongoc_client_t *c = conf_open ("csd", &db);
   cs_require_replset (c);
   conf_ok (c, db, "{'create': 'c'}", NULL);
   mongoc_collection_t *coll = mongoc_client_get_collection (c, db, "c");
   mongoc_change_stream_t *cs = watch (coll, "{'maxAwaitTimeMS': 1000}");
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}, {'_id': 2}, {'_id': 3}]}", NULL);
   const bson_t *doc = next_event (cs);
   cr_assert_eq (conf_int (doc, "documentKey._id"), 1);
   bson_t token;
   conf_doc (doc, "_id", &token);
   bson_t *opts = BCON_NEW ("resumeAfter", BCON_DOCUMENT (&token), "maxAwaitTimeMS", BCON_INT32 (1000));
   bson_t empty = BSON_INITIALIZER;
   mongoc_change_stream_t *resumed = mongoc_collection_watch (coll, &empty, opts);
   for (int i = 2; i <= 3; i++) {
      const bson_t *ev = next_event (resumed);
      cr_assert_eq (conf_int (ev, "documentKey._id"), i);
   }
   mongoc_change_stream_destroy (resumed);
   mongoc_change_stream_destroy (cs);
   bson_destroy (opts);
   bson_destroy (&empty);
   mongoc_collection_destroy (coll);
   conf_close (c, db);
}

/* What the command monitor saw. */
typedef struct {
   int aggregates;
   int64_t cursor_id;
   bool resumed_with_token;
} seen_t;

static void
started (const mongoc_apm_command_started_t *ev)
{
   seen_t *seen = mongoc_apm_command_started_get_context (ev);
   if (strcmp (mongoc_apm_command_started_get_command_name (ev), "aggregate") != 0) {
      return;
   }
   seen->aggregates++;
   const bson_t *cmd = mongoc_apm_command_started_get_command (ev);
   if (seen->aggregates > 1) {
      seen->resumed_with_token = conf_type (cmd, "pipeline.0.$changeStream.resumeAfter._data") == BSON_TYPE_UTF8 ||
                                 conf_type (cmd, "pipeline.0.$changeStream.startAfter._data") == BSON_TYPE_UTF8;
   }
}

static void
succeeded (const mongoc_apm_command_succeeded_t *ev)
{
   seen_t *seen = mongoc_apm_command_succeeded_get_context (ev);
   if (strcmp (mongoc_apm_command_succeeded_get_command_name (ev), "aggregate") == 0) {
      seen->cursor_id = conf_int64 (mongoc_apm_command_succeeded_get_reply (ev), "cursor.id");
   }
}

Test (cs_driver, resumes_after_the_server_lost_the_cursor)
{
   char *db;
   mongoc_client_t *c = conf_open ("csd", &db);
   cs_require_replset (c);
   conf_ok (c, db, "{'create': 'c'}", NULL);
   seen_t seen = {0, 0, false};
   mongoc_apm_callbacks_t *cbs = mongoc_apm_callbacks_new ();
   mongoc_apm_set_command_started_cb (cbs, started);
   mongoc_apm_set_command_succeeded_cb (cbs, succeeded);
   cr_assert (mongoc_client_set_apm_callbacks (c, cbs, &seen));
   mongoc_collection_t *coll = mongoc_client_get_collection (c, db, "c");
   mongoc_change_stream_t *cs = watch (coll, "{'maxAwaitTimeMS': 1000}");
   cr_assert_eq (seen.aggregates, 1);
   cr_assert_neq (seen.cursor_id, 0);

   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 'a'}]}", NULL);
   cr_assert_str_eq (conf_str (next_event (cs), "documentKey._id"), "a");

   /* Another client kills the stream's cursor: the driver's next getMore fails with 43. */
   mongoc_client_t *other = mltest_client ();
   char *kc = bson_strdup_printf ("{'killCursors': 'c', 'cursors': [{'$numberLong': '%" PRId64 "'}]}", seen.cursor_id);
   bson_t r;
   conf_ok (other, db, kc, &r);
   cr_assert_eq (conf_array_len (&r, "cursorsKilled"), 1, "the stream's cursor was not killed");
   bson_destroy (&r);
   bson_free (kc);
   conf_ok (other, db, "{'insert': 'c', 'documents': [{'_id': 'b'}, {'_id': 'c'}]}", NULL);

   /* The driver resumes after 'a': b and c come, once each, with no error. */
   cr_assert_str_eq (conf_str (next_event (cs), "documentKey._id"), "b");
   cr_assert_str_eq (conf_str (next_event (cs), "documentKey._id"), "c");
   cr_assert_eq (seen.aggregates, 2, "the driver did not reopen the stream (%d aggregates)", seen.aggregates);
   cr_assert (seen.resumed_with_token, "the driver reopened without its resume token");
   const bson_t *doc;
   cr_assert_not (mongoc_change_stream_next (cs, &doc), "an event after c: %s", conf_json (doc));
   bson_error_t error;
   cr_assert_not (mongoc_change_stream_error_document (cs, &error, NULL), "%s", error.message);
   mongoc_change_stream_destroy (cs);
   mongoc_collection_destroy (coll);
   mongoc_client_destroy (other);
   conf_close (c, db);
   mongoc_apm_callbacks_destroy (cbs);
}
