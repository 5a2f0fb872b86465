/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 18, the cursor: aggregate with $changeStream opens a tailable-await cursor that
 * never exhausts; getMore with maxTimeMS returns as soon as an event exists, or an empty
 * batch when the wait ends; every batch carries postBatchResumeToken; resumeAfter /
 * startAfter resume exactly after an event, startAtOperationTime at a time; bad options
 * and tokens fail with MongoDB's codes. Skipped on a standalone, except the 40573 test,
 * which runs only there.
 *
 * References:
 * - manual "Change Streams" / "Resume a Change Stream" (resumeAfter, startAfter: "unlike
 *   resumeAfter, startAfter can resume notifications after an invalidate event",
 *   startAtOperationTime) and "$changeStream" (options; allChangesForCluster only on
 *   admin with aggregate: 1); manual "getMore": maxTimeMS on a tailable awaitData cursor
 *   is the time to wait for new data; "Change Events": postBatchResumeToken. The awaitData
 *   semantics, as MongoDB's query team states them (quoted in mongo-php-library PR #659,
 *   PHPLIB-461): with events available getMore returns them at once (up to batchSize or
 *   the end); with none it waits up to the await time; once it has one it stops waiting.
 *   The driver specification (change-streams.md) relies on it: "On a getMore the server
 *   scans the oplog for the duration of maxAwaitTimeMS but finds no matching entries and
 *   returns an empty response (still containing a postBatchResumeToken)".
 * - src/mongo/db/pipeline/document_source_change_stream.cpp assertIsLegalSpecification:
 *   40573 on a standalone, 72 allChangesForCluster off admin, 73 internal databases,
 *   50865 resumeAfter with startAfter, 40674 a token with startAtOperationTime, 260
 *   resumeAfter an invalidate; document_source_change_stream.idl (unknown field 40415,
 *   enum value 2 BadValue, type 14).
 * - src/mongo/db/pipeline/resume_token.cpp: 40647 _data not a string, 40648 bad
 *   _typeBits, FailedToParse (9) "resume token string was not a valid hex string".
 * - src/mongo/db/pipeline/document_source_change_stream_check_resumability.cpp: 286
 *   ChangeStreamHistoryLost when the start is older than the oplog.
 * - src/mongo/db/pipeline/pipeline.cpp: 20 IllegalOperation "... is not permitted in a
 *   $changeStream pipeline"; 40602 when $changeStream is not the first stage (a stage
 *   whose position must be first, Pipeline::validateCommon).
 * - A write's operationTime and its events' clusterTime: service_entry_point_common.cpp
 *   computeOperationTime ("it uses the last optime in the oplog for writes": the client's
 *   ReplClientInfo lastOp, the timestamp of the last oplog entry the command wrote); MongoDB's
 *   jstests/replsets/command_response_operation_time.js (a local write's operationTime is
 *   the last applied optime's timestamp); manual "Change Events": clusterTime is "the
 *   timestamp from the oplog entry associated with the event". Oplog timestamps increase;
 *   the entries of one command may share a second (increments) or, batched in one applyOps,
 *   one timestamp, so only "not before the previous write, not after this one, the last one
 *   equal" is asserted for a command's events. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <string.h>

#include "changestream.h"

TestSuite (cs_cursor, .init = conf_init, .fini = conf_fini, .timeout = 300);

#define WAIT_MS 20000

static mongoc_client_t *
open_rs (const char *tag, char **db, mongoc_client_session_t **s)
{
   mongoc_client_t *c = conf_open (tag, db);
   cs_require_replset (c);
   *s = cs_session (c);
   conf_ok (c, *db, "{'create': 'c'}", NULL);
   return c;
}

static int64_t
watch (mongoc_client_t *c, mongoc_client_session_t *s, const char *db, const char *spec, bson_t *reply)
{
   char *cmd = bson_strdup_printf ("{'aggregate': 'c', 'pipeline': [{'$changeStream': %s}], 'cursor': {}}", spec);
   int64_t id = cs_open (c, s, db, cmd, reply);
   bson_free (cmd);
   return id;
}

/* Opens a stream on db.c with spec and collects n events, first batch included. */
static int
watch_collect (mongoc_client_t *c, mongoc_client_session_t *s, const char *db, const char *spec, int n, bson_t ***ev,
               int64_t *id)
{
   char *cmd = bson_strdup_printf ("{'aggregate': 'c', 'pipeline': [{'$changeStream': %s}], 'cursor': {}}", spec);
   int got = cs_open_collect (c, s, db, "c", cmd, n, WAIT_MS, ev, id);
   bson_free (cmd);
   return got;
}

static void
insert_ids (mongoc_client_t *c, const char *db, int from, int to)
{
   for (int i = from; i <= to; i++) {
      char *cmd = bson_strdup_printf ("{'insert': 'c', 'documents': [{'_id': %d}]}", i);
      conf_ok (c, db, cmd, NULL);
      bson_free (cmd);
   }
}

static void
check_ids (bson_t **ev, int n, int first)
{
   for (int i = 0; i < n; i++) {
      char *j = conf_json (ev[i]);
      cr_assert_eq (conf_int (ev[i], "documentKey._id"), first + i, "event %d is not _id %d: %s", i, first + i, j);
      bson_free (j);
   }
}

Test (cs_cursor, standalone_refuses_with_40573)
{
   char *db;
   mongoc_client_t *c = conf_open ("csc", &db);
   cs_require_standalone (c);
   bson_t r;
   conf_cmd_error (c, db,
                   "{'aggregate': 'c', 'pipeline': [{'$changeStream': {'fullDocument': 'updateLookup'}}], 'cursor': {}}",
                   40573, &r);
   cr_assert_str_eq (conf_str (&r, "errmsg"), "The $changeStream stage is only supported on replica sets");
   bson_destroy (&r);
   conf_cmd_error (c, db, "{'aggregate': 1, 'pipeline': [{'$changeStream': {}}], 'cursor': {}}", 40573, NULL);
   conf_close (c, db);
}

Test (cs_cursor, aggregate_opens_a_tailable_cursor)
{
   char *db;
   mongoc_client_session_t *s;
   mongoc_client_t *c = open_rs ("csc", &db, &s);
   bson_t r;
   int64_t id = watch (c, s, db, "{}", &r);
   char *ns = bson_strdup_printf ("%s.c", db);
   cr_assert_str_eq (conf_str (&r, "cursor.ns"), ns);
   cr_assert_eq (conf_array_len (&r, "cursor.firstBatch"), 0);
   cr_assert_eq (conf_type (&r, "cursor.postBatchResumeToken._data"), BSON_TYPE_UTF8);
   bson_destroy (&r);
   /* An empty getMore leaves it open, with a resume token. */
   cs_get_more (c, s, db, "c", id, 100, 0, &r);
   cr_assert_eq (conf_int64 (&r, "cursor.id"), id, "a change stream cursor closed when it had nothing to return");
   cr_assert_eq (conf_array_len (&r, "cursor.nextBatch"), 0);
   cr_assert_eq (conf_type (&r, "cursor.postBatchResumeToken._data"), BSON_TYPE_UTF8);
   cr_assert_str_eq (conf_str (&r, "cursor.ns"), ns);
   bson_destroy (&r);
   /* A database stream's cursor lives in <db>.$cmd.aggregate. */
   cs_open (c, s, db, "{'aggregate': 1, 'pipeline': [{'$changeStream': {}}], 'cursor': {}}", &r);
   char *dbns = bson_strdup_printf ("%s.$cmd.aggregate", db);
   cr_assert_str_eq (conf_str (&r, "cursor.ns"), dbns);
   bson_destroy (&r);
   bson_free (dbns);
   bson_free (ns);
   mongoc_client_session_destroy (s);
   conf_close (c, db);
}

/* ---- awaiting ---- */

typedef struct {
   char *db;
   int64_t delay_ms;
} late_insert_t;

static void *
late_insert (void *arg)
{
   late_insert_t *li = arg;
   mltest_sleep_ms (li->delay_ms);
   mongoc_client_t *c = mltest_client ();
   bson_error_t error;
   bool ok = mltest_cmd (c, li->db, "{'insert': 'c', 'documents': [{'_id': 'late'}]}", NULL, &error);
   mongoc_client_destroy (c);
   return ok ? arg : NULL;
}

Test (cs_cursor, get_more_waits_for_the_next_event_and_no_longer)
{
   char *db;
   mongoc_client_session_t *s;
   mongoc_client_t *c = open_rs ("csc", &db, &s);
   int64_t id = watch (c, s, db, "{}", NULL);

   /* Nothing happens: the batch comes back empty after about maxTimeMS. */
   bson_t r;
   int64_t t0 = mltest_now_ms ();
   cs_get_more (c, s, db, "c", id, 1500, 0, &r);
   int64_t waited = mltest_now_ms () - t0;
   cr_assert_eq (conf_array_len (&r, "cursor.nextBatch"), 0);
   cr_assert_geq (waited, 1000, "an empty getMore returned after %" PRId64 " ms of a 1500 ms await", waited);
   cr_assert_lt (waited, 10000, "an empty getMore took %" PRId64 " ms for a 1500 ms await", waited);
   cr_assert_eq (conf_int64 (&r, "cursor.id"), id);
   bson_destroy (&r);

   /* An event already there: it returns at once, long before a 30 s await. */
   insert_ids (c, db, 1, 1);
   t0 = mltest_now_ms ();
   cs_get_more (c, s, db, "c", id, 30000, 0, &r);
   waited = mltest_now_ms () - t0;
   cr_assert_eq (conf_array_len (&r, "cursor.nextBatch"), 1);
   cr_assert_lt (waited, 10000, "getMore held an available event for %" PRId64 " ms", waited);
   bson_destroy (&r);

   /* An event that comes during the wait (another client, 500 ms later) ends it early. */
   late_insert_t li = {db, 500};
   pthread_t th;
   cr_assert_eq (pthread_create (&th, NULL, late_insert, &li), 0);
   t0 = mltest_now_ms ();
   int got = 0;
   while (got == 0 && mltest_now_ms () - t0 < 60000) {
      cs_get_more (c, s, db, "c", id, 30000, 0, &r);
      got = conf_array_len (&r, "cursor.nextBatch");
      if (got) {
         cr_assert_str_eq (conf_str (&r, "cursor.nextBatch.0.documentKey._id"), "late");
      }
      bson_destroy (&r);
   }
   waited = mltest_now_ms () - t0;
   void *res;
   pthread_join (th, &res);
   cr_assert_not_null (res, "the other client's insert failed");
   cr_assert_eq (got, 1);
   cr_assert_lt (waited, 20000, "getMore returned %" PRId64 " ms after a write 500 ms into a 30 s await", waited);
   mongoc_client_session_destroy (s);
   conf_close (c, db);
}

/* ---- resume tokens ---- */

Test (cs_cursor, post_batch_resume_token_resumes_after_the_batch)
{
   char *db;
   mongoc_client_session_t *s;
   mongoc_client_t *c = open_rs ("csc", &db, &s);
   int64_t id = watch (c, s, db, "{}", NULL);
   insert_ids (c, db, 1, 3);
   /* A batch cut by batchSize ends at its last event: that event's _id is the token. */
   bson_t r;
   cs_get_more (c, s, db, "c", id, 5000, 1, &r);
   cr_assert_eq (conf_array_len (&r, "cursor.nextBatch"), 1);
   char *tok = cs_token_json (&r, "cursor.postBatchResumeToken");
   char *evtok = cs_token_json (&r, "cursor.nextBatch.0._id");
   cr_assert_str_eq (tok, evtok, "postBatchResumeToken of a batch cut short is not its last event's _id");
   bson_free (evtok);
   bson_destroy (&r);
   /* Resuming from it gives the rest, exactly. */
   char *spec = bson_strdup_printf ("{'resumeAfter': %s}", tok);
   int64_t id2;
   bson_t **ev;
   int n = watch_collect (c, s, db, spec, 2, &ev, &id2);
   check_ids (ev, n, 2);
   conf_docs_free (ev, n);
   bson_free (spec);
   bson_free (tok);

   /* The token after everything read so far resumes with the next write only. */
   cs_get_more (c, s, db, "c", id, 2000, 0, &r);
   cr_assert_eq (conf_array_len (&r, "cursor.nextBatch"), 2);
   tok = cs_token_json (&r, "cursor.postBatchResumeToken");
   bson_destroy (&r);
   insert_ids (c, db, 4, 4);
   spec = bson_strdup_printf ("{'startAfter': %s}", tok);
   n = watch_collect (c, s, db, spec, 1, &ev, &id2);
   check_ids (ev, n, 4);
   conf_docs_free (ev, n);
   bson_free (spec);
   bson_free (tok);
   mongoc_client_session_destroy (s);
   conf_close (c, db);
}

Test (cs_cursor, resume_after_start_after_and_start_at_operation_time)
{
   char *db;
   mongoc_client_session_t *s;
   mongoc_client_t *c = open_rs ("csc", &db, &s);
   int64_t id = watch (c, s, db, "{}", NULL);
   insert_ids (c, db, 1, 4);
   bson_t **ev;
   int n = cs_collect (c, s, db, "c", &id, 4, WAIT_MS, &ev);
   char *tok2 = cs_token_json (ev[1], "_id");
   bson_iter_t it;
   cr_assert (conf_find (ev[1], "clusterTime", &it));
   uint32_t t, i;
   bson_iter_timestamp (&it, &t, &i);
   conf_docs_free (ev, n);

   const char *modes[] = {"resumeAfter", "startAfter"};
   for (int m = 0; m < 2; m++) {
      char *spec = bson_strdup_printf ("{'%s': %s}", modes[m], tok2);
      int64_t rid;
      n = watch_collect (c, s, db, spec, 2, &ev, &rid);
      check_ids (ev, n, 3); /* exactly after event 2 */
      conf_docs_free (ev, n);
      bson_free (spec);
   }
   /* startAtOperationTime is inclusive: it starts with event 2 itself. */
   char *spec = bson_strdup_printf ("{'startAtOperationTime': {'$timestamp': {'t': %u, 'i': %u}}}", t, i);
   int64_t rid;
   n = watch_collect (c, s, db, spec, 3, &ev, &rid);
   check_ids (ev, n, 2);
   conf_docs_free (ev, n);
   bson_free (spec);

   /* A token with startAtOperationTime is refused (40674); so are both token options (50865). */
   char *cmd = bson_strdup_printf ("{'aggregate': 'c', 'pipeline': [{'$changeStream': {'resumeAfter': %s, "
                                   "'startAtOperationTime': {'$timestamp': {'t': %u, 'i': %u}}}}], 'cursor': {}}",
                                   tok2, t, i);
   conf_cmd_error (c, db, cmd, 40674, NULL);
   bson_free (cmd);
   cmd = bson_strdup_printf (
      "{'aggregate': 'c', 'pipeline': [{'$changeStream': {'resumeAfter': %s, 'startAfter': %s}}], 'cursor': {}}", tok2,
      tok2);
   conf_cmd_error (c, db, cmd, 50865, NULL);
   bson_free (cmd);
   bson_free (tok2);
   mongoc_client_session_destroy (s);
   conf_close (c, db);
}

static uint64_t
ts_at (const bson_t *doc, const char *path)
{
   bson_iter_t it;
   char *j = conf_json (doc);
   cr_assert (conf_find (doc, path, &it) && BSON_ITER_HOLDS_TIMESTAMP (&it), "no timestamp %s in %s", path, j);
   bson_free (j);
   uint32_t t, i;
   bson_iter_timestamp (&it, &t, &i);
   return ((uint64_t) t << 32) | i;
}

Test (cs_cursor, write_operation_time_is_its_last_events_cluster_time)
{
   char *db;
   mongoc_client_session_t *s;
   mongoc_client_t *c = open_rs ("csc", &db, &s);
   int64_t id = watch (c, s, db, "{}", NULL);
   /* Three writes: 3 inserts, 1 insert, an update of all 4 (one event per document). */
   static const struct {
      const char *cmd;
      int events;
   } writes[] = {
      {"{'insert': 'c', 'documents': [{'_id': 1}, {'_id': 2}, {'_id': 3}]}", 3},
      {"{'insert': 'c', 'documents': [{'_id': 4}]}", 1},
      {"{'update': 'c', 'updates': [{'q': {}, 'u': {'$set': {'a': 1}}, 'multi': true}]}", 4},
   };
   uint64_t op[3];
   for (int w = 0; w < 3; w++) {
      bson_t r;
      conf_ok (c, db, writes[w].cmd, &r);
      op[w] = ts_at (&r, "operationTime");
      bson_destroy (&r);
   }
   bson_t **ev;
   int n = cs_collect (c, s, db, "c", &id, 8, WAIT_MS, &ev);
   int k = 0;
   uint64_t prev = 0;
   for (int w = 0; w < 3; w++) {
      for (int e = 0; e < writes[w].events; e++, k++) {
         uint64_t ct = ts_at (ev[k], "clusterTime");
         char *j = conf_json (ev[k]);
         cr_assert_geq (ct, prev, "event %d's clusterTime goes back: %s", k, j);
         cr_assert (w == 0 || ct > op[w - 1], "event %d of write %d is not after the previous write's operationTime: %s",
                    k, w, j);
         cr_assert_leq (ct, op[w], "event %d is after its write's operationTime: %s", k, j);
         if (e == writes[w].events - 1) {
            cr_assert_eq (ct, op[w], "write %d's operationTime %" PRIu64 " is not its last event's clusterTime: %s", w,
                          op[w], j);
         }
         bson_free (j);
         prev = ct;
      }
   }
   conf_docs_free (ev, n);
   /* So startAtOperationTime taken from the single insert's reply starts at its event. */
   char *spec = bson_strdup_printf ("{'startAtOperationTime': {'$timestamp': {'t': %u, 'i': %u}}}",
                                    (unsigned) (op[1] >> 32), (unsigned) (op[1] & 0xffffffffu));
   int64_t rid;
   n = watch_collect (c, s, db, spec, 5, &ev, &rid);
   cr_assert_str_eq (conf_str (ev[0], "operationType"), "insert");
   check_ids (ev, 1, 4);
   for (int e = 1; e < n; e++) cr_assert_str_eq (conf_str (ev[e], "operationType"), "update");
   conf_docs_free (ev, n);
   bson_free (spec);
   mongoc_client_session_destroy (s);
   conf_close (c, db);
}

Test (cs_cursor, start_after_an_invalidate_but_not_resume_after)
{
   char *db;
   mongoc_client_session_t *s;
   mongoc_client_t *c = open_rs ("csc", &db, &s);
   int64_t id = watch (c, s, db, "{}", NULL);
   conf_ok (c, db, "{'drop': 'c'}", NULL);
   bson_t **ev;
   int n = cs_collect (c, s, db, "c", &id, 2, WAIT_MS, &ev);
   cr_assert_str_eq (conf_str (ev[1], "operationType"), "invalidate");
   char *inv = cs_token_json (ev[1], "_id");
   char *drop = cs_token_json (ev[0], "_id");
   conf_docs_free (ev, n);

   char *cmd = bson_strdup_printf ("{'aggregate': 'c', 'pipeline': [{'$changeStream': {'resumeAfter': %s}}], 'cursor': {}}",
                                   inv);
   conf_cmd_error (c, db, cmd, 260, NULL);
   bson_free (cmd);
   /* resumeAfter the drop itself: the invalidate comes next, and ends that stream. */
   char *spec = bson_strdup_printf ("{'resumeAfter': %s}", drop);
   int64_t rid;
   n = watch_collect (c, s, db, spec, 1, &ev, &rid);
   cr_assert_str_eq (conf_str (ev[0], "operationType"), "invalidate");
   if (rid != 0) {
      bson_t r;
      cs_get_more (c, s, db, "c", rid, 1000, 0, &r);
      cr_assert_eq (conf_int64 (&r, "cursor.id"), 0, "the stream went on after its invalidate");
      bson_destroy (&r);
   }
   conf_docs_free (ev, n);
   bson_free (spec);
   /* startAfter the invalidate: the recreated collection's writes, no second invalidate. */
   spec = bson_strdup_printf ("{'startAfter': %s}", inv);
   rid = watch (c, s, db, spec, NULL);
   insert_ids (c, db, 7, 7);
   n = cs_collect (c, s, db, "c", &rid, 1, WAIT_MS, &ev);
   cr_assert_str_eq (conf_str (ev[0], "operationType"), "insert");
   check_ids (ev, n, 7);
   conf_docs_free (ev, n);
   cr_assert_neq (rid, 0);
   bson_free (spec);
   bson_free (inv);
   bson_free (drop);
   mongoc_client_session_destroy (s);
   conf_close (c, db);
}

Test (cs_cursor, bad_tokens_and_lost_history)
{
   char *db;
   mongoc_client_session_t *s;
   mongoc_client_t *c = open_rs ("csc", &db, &s);
   static const struct {
      const char *spec;
      int32_t code;
   } cases[] = {
      {"{'resumeAfter': {'_data': 1}}", 40647},
      {"{'resumeAfter': {}}", 40647},
      {"{'startAfter': {'_data': 'zz'}}", 9},
      {"{'resumeAfter': {'_data': '8263', '_typeBits': 'x'}}", 40648},
      /* Long before this server's oldest oplog entry. */
      {"{'startAtOperationTime': {'$timestamp': {'t': 1, 'i': 1}}}", 286},
   };
   for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
      char *cmd = bson_strdup_printf ("{'aggregate': 'c', 'pipeline': [{'$changeStream': %s}], 'cursor': {}}",
                                      cases[k].spec);
      conf_cmd_error (c, db, cmd, cases[k].code, NULL);
      bson_free (cmd);
   }
   mongoc_client_session_destroy (s);
   conf_close (c, db);
}

Test (cs_cursor, bad_specs_and_stages)
{
   char *db;
   mongoc_client_session_t *s;
   mongoc_client_t *c = open_rs ("csc", &db, &s);
   static const struct {
      const char *db;
      const char *cmd;
      int32_t code;
   } cases[] = {
      {NULL, "{'aggregate': 'c', 'pipeline': [{'$changeStream': {'bogus': 1}}], 'cursor': {}}", 40415},
      {NULL, "{'aggregate': 'c', 'pipeline': [{'$changeStream': {'fullDocument': 'sometimes'}}], 'cursor': {}}", 2},
      {NULL, "{'aggregate': 'c', 'pipeline': [{'$changeStream': {'fullDocument': 1}}], 'cursor': {}}", 14},
      {NULL, "{'aggregate': 'c', 'pipeline': [{'$match': {}}, {'$changeStream': {}}], 'cursor': {}}", 40602},
      {NULL, "{'aggregate': 'c', 'pipeline': [{'$changeStream': {}}, {'$group': {'_id': 1}}], 'cursor': {}}", 20},
      {NULL, "{'aggregate': 'c', 'pipeline': [{'$changeStream': {}}, {'$sort': {'a': 1}}], 'cursor': {}}", 20},
      {NULL, "{'aggregate': 'c', 'pipeline': [{'$changeStream': {'allChangesForCluster': true}}], 'cursor': {}}", 72},
      {"admin", "{'aggregate': 1, 'pipeline': [{'$changeStream': {}}], 'cursor': {}}", 73},
      {"local", "{'aggregate': 1, 'pipeline': [{'$changeStream': {}}], 'cursor': {}}", 73},
   };
   for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
      conf_cmd_error (c, cases[k].db ? cases[k].db : db, cases[k].cmd, cases[k].code, NULL);
   }
   mongoc_client_session_destroy (s);
   conf_close (c, db);
}

Test (cs_cursor, kill_cursors_ends_a_stream)
{
   char *db;
   mongoc_client_session_t *s;
   mongoc_client_t *c = open_rs ("csc", &db, &s);
   int64_t id = watch (c, s, db, "{}", NULL);
   char *kc = bson_strdup_printf ("{'killCursors': 'c', 'cursors': [{'$numberLong': '%" PRId64 "'}]}", id);
   bson_t r;
   conf_ok_in (c, s, db, kc, &r);
   cr_assert_eq (conf_array_len (&r, "cursorsKilled"), 1);
   cr_assert_eq (conf_int64 (&r, "cursorsKilled.0"), id);
   bson_destroy (&r);
   char *gm = bson_strdup_printf ("{'getMore': {'$numberLong': '%" PRId64 "'}, 'collection': 'c'}", id);
   conf_cmd_error_in (c, s, db, gm, 43, NULL);
   bson_free (gm);
   bson_free (kc);
   mongoc_client_session_destroy (s);
   conf_close (c, db);
}
