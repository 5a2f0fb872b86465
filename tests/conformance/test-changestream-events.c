/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 18, the events: on a replica set, a $changeStream reports every write to the
 * collection as one event, whichever command made it, and ends with invalidate when the
 * collection (or its database) is dropped. Skipped on a standalone.
 *
 * References:
 * - manual "Change Events" (reference/change-events): insert, update, replace, delete,
 *   drop, dropDatabase, invalidate; each event's _id is its resume token; clusterTime
 *   (Timestamp), wallTime (6.0+), ns {db, coll}, documentKey; fullDocument on insert and
 *   replace; update carries updateDescription {updatedFields, removedFields,
 *   truncatedArrays}; a collection stream ends with invalidate after drop/dropDatabase.
 * - src/mongo/db/pipeline/change_stream_event_transform.cpp: the field order _id,
 *   operationType, clusterTime, wallTime, fullDocument, ns, documentKey,
 *   updateDescription; fullDocument is absent (not null) on update events by default.
 * - src/mongo/db/update/document_diff_calculator.cpp computeOplogDiff: a pipeline update is
 *   logged as a diff (arrays by index, a shorter array as a new size, which
 *   change_stream_document_diff_parser.cpp reports in truncatedArrays as
 *   {field, newSize}); an operator update logs the paths it set or unset.
 * - manual "Change Streams" / upsert: an upsert that inserts is an insert event;
 *   findAndModify writes are events like any other; "TTL Indexes": the monitor's deletes
 *   are ordinary deletes, replicated and visible to change streams. */
#include <criterion/criterion.h>
#include <string.h>

#include "changestream.h"

TestSuite (cs_events, .init = conf_init, .fini = conf_fini, .timeout = 300);

#define WAIT_MS 20000

static const char *const INSERT_FIELDS[] = {"_id",      "operationType", "clusterTime", "wallTime",
                                            "fullDocument", "ns",        "documentKey", NULL};
static const char *const UPDATE_FIELDS[] = {"_id", "operationType", "clusterTime",      "wallTime",
                                            "ns",  "documentKey",   "updateDescription", NULL};
static const char *const DELETE_FIELDS[] = {"_id", "operationType", "clusterTime", "wallTime", "ns", "documentKey", NULL};
static const char *const DROP_FIELDS[] = {"_id", "operationType", "clusterTime", "wallTime", "ns", NULL};
static const char *const INVALIDATE_FIELDS[] = {"_id", "operationType", "clusterTime", "wallTime", NULL};

typedef struct {
   mongoc_client_t *c;
   mongoc_client_session_t *s;
   char *db;
   int64_t id;
} fixture_t;

/* Opens a stream on db.c (after creating it) with the given $changeStream spec and stages. */
static void
open_stream (fixture_t *f, const char *tag, const char *spec, const char *stages)
{
   f->c = conf_open (tag, &f->db);
   cs_require_replset (f->c);
   f->s = cs_session (f->c);
   conf_ok (f->c, f->db, "{'create': 'c'}", NULL);
   char *cmd = bson_strdup_printf ("{'aggregate': 'c', 'pipeline': [{'$changeStream': %s}%s%s], 'cursor': {}}", spec,
                                   stages ? ", " : "", stages ? stages : "");
   f->id = cs_open (f->c, f->s, f->db, cmd, NULL);
   bson_free (cmd);
}

static void
close_fixture (fixture_t *f)
{
   mongoc_client_session_destroy (f->s);
   conf_close (f->c, f->db);
}

static void
check_common (const bson_t *ev, const char *op, const char *db, const char *coll)
{
   char *j = conf_json (ev);
   cr_assert_str_eq (conf_str (ev, "operationType"), op, "%s", j);
   cr_assert_eq (conf_type (ev, "_id"), BSON_TYPE_DOCUMENT, "the resume token is a document: %s", j);
   cr_assert_eq (conf_type (ev, "_id._data"), BSON_TYPE_UTF8, "the resume token's _data is a string: %s", j);
   cr_assert_eq (conf_type (ev, "clusterTime"), BSON_TYPE_TIMESTAMP, "%s", j);
   cr_assert_eq (conf_type (ev, "wallTime"), BSON_TYPE_DATE_TIME, "%s", j);
   if (db) {
      cr_assert_str_eq (conf_str (ev, "ns.db"), db, "%s", j);
   }
   if (coll) {
      cr_assert_str_eq (conf_str (ev, "ns.coll"), coll, "%s", j);
   }
   bson_free (j);
}

static void
check_json (const bson_t *doc, const char *path, const char *want_json)
{
   bson_t got;
   conf_doc (doc, path, &got);
   bson_t *want = mltest_bson (want_json);
   char *g = conf_json (&got), *w = conf_json (want);
   cr_assert (bson_equal (&got, want), "%s is %s, expected %s", path, g, w);
   bson_free (g);
   bson_free (w);
   bson_destroy (want);
}

/* The document at path has exactly want's fields with equal values, in any order (the
 * order of updatedFields follows the oplog entry's diff, which the manual does not fix). */
static void
check_fields_any_order (const bson_t *doc, const char *path, const char *want_json)
{
   bson_t got;
   conf_doc (doc, path, &got);
   bson_t *want = mltest_bson (want_json);
   char *g = conf_json (&got), *w = conf_json (want);
   cr_assert_eq (bson_count_keys (&got), bson_count_keys (want), "%s is %s, expected %s", path, g, w);
   bson_iter_t it, other;
   cr_assert (bson_iter_init (&it, want));
   while (bson_iter_next (&it)) {
      cr_assert (bson_iter_init_find (&other, &got, bson_iter_key (&it)), "%s lacks %s: %s", path, bson_iter_key (&it), g);
      bson_t a = BSON_INITIALIZER, b = BSON_INITIALIZER;
      BSON_APPEND_VALUE (&a, "v", bson_iter_value (&it));
      BSON_APPEND_VALUE (&b, "v", bson_iter_value (&other));
      cr_assert (bson_equal (&a, &b), "%s.%s differs: %s, expected %s", path, bson_iter_key (&it), g, w);
      bson_destroy (&a);
      bson_destroy (&b);
   }
   bson_free (g);
   bson_free (w);
   bson_destroy (want);
}

Test (cs_events, insert_update_replace_delete_shapes)
{
   fixture_t f;
   open_stream (&f, "cse", "{}", NULL);
   conf_ok (f.c, f.db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1, 'b': 2, 'sub': {'x': 1, 'y': 1}, 'arr': [1]}]}",
            NULL);
   conf_ok (f.c, f.db,
            "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$set': {'a': 5, 'sub.x': 2}, '$unset': {'b': ''}, "
            "'$push': {'arr': 2}}}]}",
            NULL);
   /* A replacement that keeps most of the document is still a replace event. */
   conf_ok (f.c, f.db,
            "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'a': 5, 'sub': {'x': 2, 'y': 1}, 'arr': [1, 2], "
            "'z': 'replaced'}}]}",
            NULL);
   conf_ok (f.c, f.db, "{'delete': 'c', 'deletes': [{'q': {'_id': 1}, 'limit': 1}]}", NULL);
   bson_t **ev;
   int n = cs_collect (f.c, f.s, f.db, "c", &f.id, 4, WAIT_MS, &ev);

   check_common (ev[0], "insert", f.db, "c");
   cs_assert_fields (ev[0], INSERT_FIELDS);
   check_json (ev[0], "fullDocument", "{'_id': 1, 'a': 1, 'b': 2, 'sub': {'x': 1, 'y': 1}, 'arr': [1]}");
   check_json (ev[0], "documentKey", "{'_id': 1}");

   check_common (ev[1], "update", f.db, "c");
   cs_assert_fields (ev[1], UPDATE_FIELDS);
   check_json (ev[1], "documentKey", "{'_id': 1}");
   /* $set reports the paths it set, $push that appended the new index, $unset the removed path. */
   check_fields_any_order (ev[1], "updateDescription.updatedFields", "{'a': 5, 'arr.1': 2, 'sub.x': 2}");
   check_json (ev[1], "updateDescription.removedFields", "['b']");
   check_json (ev[1], "updateDescription.truncatedArrays", "[]");

   check_common (ev[2], "replace", f.db, "c");
   cs_assert_fields (ev[2], INSERT_FIELDS);
   check_json (ev[2], "fullDocument", "{'_id': 1, 'a': 5, 'sub': {'x': 2, 'y': 1}, 'arr': [1, 2], 'z': 'replaced'}");

   check_common (ev[3], "delete", f.db, "c");
   cs_assert_fields (ev[3], DELETE_FIELDS);
   check_json (ev[3], "documentKey", "{'_id': 1}");

   /* Cluster times increase from one write to the next. */
   for (int i = 1; i < n; i++) {
      bson_iter_t a, b;
      uint32_t ta, ia, tb, ib;
      cr_assert (conf_find (ev[i - 1], "clusterTime", &a) && conf_find (ev[i], "clusterTime", &b));
      bson_iter_timestamp (&a, &ta, &ia);
      bson_iter_timestamp (&b, &tb, &ib);
      cr_assert (tb > ta || (tb == ta && ib > ia), "clusterTime of event %d does not follow event %d's", i, i - 1);
   }
   conf_docs_free (ev, n);
   close_fixture (&f);
}

Test (cs_events, a_field_set_through_a_missing_parent_reports_the_parent)
{
   fixture_t f;
   open_stream (&f, "cse", "{}", NULL);
   conf_ok (f.c, f.db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   conf_ok (f.c, f.db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$set': {'p.q': 1}}}]}", NULL);
   bson_t **ev;
   int n = cs_collect (f.c, f.s, f.db, "c", &f.id, 2, WAIT_MS, &ev);
   check_json (ev[1], "updateDescription.updatedFields", "{'p': {'q': 1}}");
   conf_docs_free (ev, n);
   close_fixture (&f);
}

Test (cs_events, pipeline_update_reports_a_diff_with_truncated_arrays)
{
   fixture_t f;
   open_stream (&f, "cse", "{}", NULL);
   conf_ok (f.c, f.db,
            "{'insert': 'c', 'documents': [{'_id': 1, 'keep': 'a long enough field that stays the same', "
            "'arr': ['aaaaaaaaaaaa', 'bbbbbbbbbbbb', 'cccccccccccc'], 'gone': 1}]}",
            NULL);
   conf_ok (f.c, f.db,
            "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': [{'$set': {'arr': ['aaaaaaaaaaaa', 'bbbbbbbbbbbb'], "
            "'n': 7}}, {'$unset': 'gone'}]}]}",
            NULL);
   bson_t **ev;
   int n = cs_collect (f.c, f.s, f.db, "c", &f.id, 2, WAIT_MS, &ev);
   check_common (ev[1], "update", f.db, "c");
   check_json (ev[1], "updateDescription.updatedFields", "{'n': 7}");
   check_json (ev[1], "updateDescription.removedFields", "['gone']");
   cr_assert_eq (conf_array_len (ev[1], "updateDescription.truncatedArrays"), 1);
   cr_assert_str_eq (conf_str (ev[1], "updateDescription.truncatedArrays.0.field"), "arr");
   cr_assert_eq (conf_int32 (ev[1], "updateDescription.truncatedArrays.0.newSize"), 2);
   conf_docs_free (ev, n);
   close_fixture (&f);
}

Test (cs_events, every_write_path_is_an_event)
{
   fixture_t f;
   open_stream (&f, "cse", "{}", NULL);
   /* An upsert that inserts is an insert; a no-op update (update or findAndModify) is no
    * event at all. */
   conf_ok (f.c, f.db, "{'update': 'c', 'updates': [{'q': {'_id': 'u'}, 'u': {'$set': {'v': 1}}, 'upsert': true}]}",
            NULL);
   conf_ok (f.c, f.db, "{'update': 'c', 'updates': [{'q': {'_id': 'u'}, 'u': {'$set': {'v': 1}}}]}", NULL);
   conf_ok (f.c, f.db, "{'findAndModify': 'c', 'query': {'_id': 'u'}, 'update': {'$set': {'v': 1}}}", NULL);
   /* A pipeline upsert, then findAndModify's update, upsert, replacement and remove. */
   conf_ok (f.c, f.db, "{'update': 'c', 'updates': [{'q': {'_id': 'p'}, 'u': [{'$set': {'v': 1}}], 'upsert': true}]}",
            NULL);
   conf_ok (f.c, f.db, "{'findAndModify': 'c', 'query': {'_id': 'u'}, 'update': {'$inc': {'v': 1}}}", NULL);
   conf_ok (f.c, f.db,
            "{'findAndModify': 'c', 'query': {'_id': 'f'}, 'update': {'$set': {'v': 1, 'keep': 'the same long value "
            "in both versions'}}, 'upsert': true}",
            NULL);
   /* A replacement is a replace event even when it changes little of the document. */
   conf_ok (f.c, f.db,
            "{'findAndModify': 'c', 'query': {'_id': 'f'}, 'update': {'keep': 'the same long value in both versions', "
            "'v': 2}}",
            NULL);
   conf_ok (f.c, f.db, "{'findAndModify': 'c', 'query': {'_id': 'p'}, 'remove': true}", NULL);
   /* A multi-document update and delete: one event per document. */
   conf_ok (f.c, f.db, "{'update': 'c', 'updates': [{'q': {}, 'u': {'$set': {'m': true}}, 'multi': true}]}", NULL);
   conf_ok (f.c, f.db, "{'delete': 'c', 'deletes': [{'q': {}, 'limit': 0}]}", NULL);
   static const char *const want[][2] = {{"insert", "u"}, {"insert", "p"}, {"update", "u"}, {"insert", "f"},
                                         {"replace", "f"}, {"delete", "p"}, {"update", "u"}, {"update", "f"},
                                         {"delete", "u"}, {"delete", "f"}};
   const int nwant = (int) (sizeof want / sizeof want[0]);
   bson_t **ev;
   int n = cs_collect (f.c, f.s, f.db, "c", &f.id, nwant, WAIT_MS, &ev);
   for (int i = 0; i < n; i++) {
      char *j = conf_json (ev[i]);
      cr_assert_str_eq (conf_str (ev[i], "operationType"), want[i][0], "event %d: %s", i, j);
      cr_assert_str_eq (conf_str (ev[i], "documentKey._id"), want[i][1], "event %d: %s", i, j);
      bson_free (j);
   }
   check_json (ev[2], "updateDescription.updatedFields", "{'v': 2}");
   check_json (ev[4], "fullDocument", "{'_id': 'f', 'keep': 'the same long value in both versions', 'v': 2}");
   conf_docs_free (ev, n);
   /* Nothing else came (the no-op update made no event). */
   bson_t r;
   cs_get_more (f.c, f.s, f.db, "c", f.id, 500, 0, &r);
   cr_assert_eq (conf_array_len (&r, "cursor.nextBatch"), 0, "an event for a write that changed nothing");
   bson_destroy (&r);
   close_fixture (&f);
}

Test (cs_events, drop_ends_the_stream_with_invalidate)
{
   fixture_t f;
   open_stream (&f, "cse", "{}", NULL);
   conf_ok (f.c, f.db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   conf_ok (f.c, f.db, "{'drop': 'c'}", NULL);
   bson_t **ev;
   int n = cs_collect (f.c, f.s, f.db, "c", &f.id, 3, WAIT_MS, &ev);
   check_common (ev[1], "drop", f.db, "c");
   cs_assert_fields (ev[1], DROP_FIELDS);
   check_common (ev[2], "invalidate", NULL, NULL);
   cs_assert_fields (ev[2], INVALIDATE_FIELDS);
   /* The invalidate happens at the drop's cluster time, and the cursor is closed. */
   bson_iter_t a, b;
   cr_assert (conf_find (ev[1], "clusterTime", &a) && conf_find (ev[2], "clusterTime", &b));
   cr_assert (bson_iter_value (&a)->value.v_timestamp.timestamp == bson_iter_value (&b)->value.v_timestamp.timestamp &&
              bson_iter_value (&a)->value.v_timestamp.increment == bson_iter_value (&b)->value.v_timestamp.increment);
   cr_assert_eq (f.id, 0, "the cursor stays open after invalidate");
   conf_docs_free (ev, n);
   close_fixture (&f);
}

Test (cs_events, drop_database_invalidates_collection_and_database_streams)
{
   fixture_t f;
   open_stream (&f, "cse", "{}", NULL);
   int64_t dbid = cs_open (f.c, f.s, f.db, "{'aggregate': 1, 'pipeline': [{'$changeStream': {}}], 'cursor': {}}", NULL);
   conf_ok (f.c, f.db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   conf_ok (f.c, f.db, "{'insert': 'other', 'documents': [{'_id': 2}]}", NULL);
   conf_ok (f.c, f.db, "{'dropDatabase': 1}", NULL);

   bson_t **ev;
   int n = cs_collect (f.c, f.s, f.db, "c", &f.id, 3, WAIT_MS, &ev);
   cr_assert_str_eq (conf_str (ev[0], "operationType"), "insert");
   check_common (ev[1], "drop", f.db, "c");
   cr_assert_str_eq (conf_str (ev[2], "operationType"), "invalidate");
   cr_assert_eq (f.id, 0);
   conf_docs_free (ev, n);

   /* The database stream sees both collections, their drops, dropDatabase, invalidate. */
   n = cs_collect (f.c, f.s, f.db, "$cmd.aggregate", &dbid, 6, WAIT_MS, &ev);
   cr_assert_str_eq (conf_str (ev[0], "ns.coll"), "c");
   cr_assert_str_eq (conf_str (ev[1], "ns.coll"), "other");
   int drops = 0;
   for (int i = 2; i < 4; i++) {
      check_common (ev[i], "drop", f.db, NULL);
      drops++;
   }
   cr_assert_eq (drops, 2);
   check_common (ev[4], "dropDatabase", f.db, NULL);
   cr_assert_eq (conf_type (ev[4], "ns.coll"), BSON_TYPE_EOD, "dropDatabase's ns has no coll");
   cr_assert_str_eq (conf_str (ev[5], "operationType"), "invalidate");
   cr_assert_eq (dbid, 0);
   conf_docs_free (ev, n);
   close_fixture (&f);
}

Test (cs_events, match_and_project_apply_to_events)
{
   fixture_t f;
   open_stream (&f, "cse", "{}", "{'$match': {'operationType': {'$in': ['delete', 'update']}}}, "
                                  "{'$project': {'operationType': 1, 'documentKey': 1}}");
   conf_ok (f.c, f.db, "{'insert': 'c', 'documents': [{'_id': 1}, {'_id': 2}]}", NULL);
   conf_ok (f.c, f.db, "{'update': 'c', 'updates': [{'q': {'_id': 2}, 'u': {'$set': {'a': 1}}}]}", NULL);
   conf_ok (f.c, f.db, "{'delete': 'c', 'deletes': [{'q': {'_id': 1}, 'limit': 1}]}", NULL);
   bson_t **ev;
   int n = cs_collect (f.c, f.s, f.db, "c", &f.id, 2, WAIT_MS, &ev);
   static const char *const projected[] = {"_id", "operationType", "documentKey", NULL};
   cs_assert_fields (ev[0], projected);
   cr_assert_str_eq (conf_str (ev[0], "operationType"), "update");
   cr_assert_str_eq (conf_str (ev[1], "operationType"), "delete");
   cs_assert_fields (ev[1], projected);
   conf_docs_free (ev, n);
   close_fixture (&f);
}

/* Removing the resume token (_id) makes the stream fail at the first event with
 * ChangeStreamFatalError 280 and the NonResumableChangeStreamError label (jstest
 * change_streams/change_stream_error_label.js). */
Test (cs_events, removing_the_resume_token_fails_280)
{
   fixture_t f;
   open_stream (&f, "cse", "{}", "{'$project': {'_id': 0}}");
   conf_ok (f.c, f.db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   char *gm = bson_strdup_printf ("{'getMore': {'$numberLong': '%" PRId64 "'}, 'collection': 'c', 'maxTimeMS': 5000}",
                                  f.id);
   bson_t r;
   conf_cmd_error_in (f.c, f.s, f.db, gm, 280, &r);
   bson_iter_t it;
   char *j = conf_json (&r);
   cr_assert (conf_find (&r, "errorLabels", &it), "no errorLabels in %s", j);
   cr_assert (strstr (j, "NonResumableChangeStreamError"), "%s", j);
   bson_free (j);
   bson_destroy (&r);
   bson_free (gm);
   close_fixture (&f);
}

Test (cs_events, full_document_modes)
{
   fixture_t f;
   open_stream (&f, "cse", "{'fullDocument': 'updateLookup'}", NULL);
   mongoc_client_session_t *s2 = f.s;
   int64_t avail = cs_open (f.c, s2, f.db,
                            "{'aggregate': 'c', 'pipeline': [{'$changeStream': {'fullDocument': 'whenAvailable', "
                            "'fullDocumentBeforeChange': 'whenAvailable'}}], 'cursor': {}}",
                            NULL);
   int64_t req = cs_open (f.c, s2, f.db,
                          "{'aggregate': 'c', 'pipeline': [{'$changeStream': {'fullDocument': 'required'}}], "
                          "'cursor': {}}",
                          NULL);
   conf_ok (f.c, f.db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}, {'_id': 2, 'a': 1}]}", NULL);
   conf_ok (f.c, f.db, "{'update': 'c', 'updates': [{'q': {}, 'u': {'$inc': {'a': 1}}, 'multi': true}]}", NULL);
   conf_ok (f.c, f.db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$inc': {'a': 10}}}]}", NULL);
   conf_ok (f.c, f.db, "{'delete': 'c', 'deletes': [{'q': {'_id': 2}, 'limit': 1}]}", NULL);

   /* updateLookup: the document as it is when the event is read (so _id 1 shows a: 12
    * for both updates; _id 2 is gone: null). */
   bson_t **ev;
   int n = cs_collect (f.c, f.s, f.db, "c", &f.id, 6, WAIT_MS, &ev);
   static const char *const looked_up[] = {"_id", "operationType", "clusterTime",       "wallTime", "fullDocument",
                                           "ns",  "documentKey",   "updateDescription", NULL};
   cs_assert_fields (ev[2], looked_up);
   check_json (ev[2], "fullDocument", "{'_id': 1, 'a': 12}");
   cr_assert_eq (conf_type (ev[3], "fullDocument"), BSON_TYPE_NULL, "a deleted document looks up as null");
   check_json (ev[4], "fullDocument", "{'_id': 1, 'a': 12}");
   cr_assert_eq (conf_type (ev[5], "fullDocument"), BSON_TYPE_EOD, "a delete event has no fullDocument");
   conf_docs_free (ev, n);

   /* whenAvailable without changeStreamPreAndPostImages on the collection: null images. */
   n = cs_collect (f.c, f.s, f.db, "c", &avail, 6, WAIT_MS, &ev);
   cr_assert_eq (conf_type (ev[2], "fullDocument"), BSON_TYPE_NULL);
   cr_assert_eq (conf_type (ev[2], "fullDocumentBeforeChange"), BSON_TYPE_NULL);
   cr_assert_eq (conf_type (ev[5], "fullDocumentBeforeChange"), BSON_TYPE_NULL);
   cr_assert_eq (conf_type (ev[0], "fullDocumentBeforeChange"), BSON_TYPE_EOD, "an insert has no pre-image field");
   conf_docs_free (ev, n);

   /* required: the first update has no post-image, so getMore fails NoMatchingDocument (47)
    * (document_source_change_stream_add_post_image.cpp; SERVER-66808 shows it on a collection
    * without pre-images: the stream opens, the getMore after an update fails). */
   char *gm = bson_strdup_printf ("{'getMore': {'$numberLong': '%" PRId64 "'}, 'collection': 'c', 'maxTimeMS': 5000}",
                                  req);
   conf_cmd_error_in (f.c, f.s, f.db, gm, 47, NULL);
   bson_free (gm);
   close_fixture (&f);
}

Test (cs_events, database_and_cluster_streams)
{
   fixture_t f;
   open_stream (&f, "cse", "{}", NULL);
   int64_t dbid = cs_open (f.c, f.s, f.db, "{'aggregate': 1, 'pipeline': [{'$changeStream': {}}], 'cursor': {}}", NULL);
   /* Other tests write to other databases meanwhile: the cluster stream filters on ours. */
   char *cl = bson_strdup_printf ("{'aggregate': 1, 'pipeline': [{'$changeStream': {'allChangesForCluster': true}}, "
                                  "{'$match': {'ns.db': '%s'}}], 'cursor': {}}",
                                  f.db);
   int64_t clid = cs_open (f.c, f.s, "admin", cl, NULL);
   bson_free (cl);
   conf_ok (f.c, f.db, "{'insert': 'a', 'documents': [{'_id': 1}]}", NULL);
   conf_ok (f.c, f.db, "{'insert': 'b', 'documents': [{'_id': 2}]}", NULL);
   bson_t **ev;
   int n = cs_collect (f.c, f.s, f.db, "$cmd.aggregate", &dbid, 2, WAIT_MS, &ev);
   cr_assert_str_eq (conf_str (ev[0], "ns.coll"), "a");
   cr_assert_str_eq (conf_str (ev[1], "ns.coll"), "b");
   conf_docs_free (ev, n);
   n = cs_collect (f.c, f.s, "admin", "$cmd.aggregate", &clid, 2, WAIT_MS, &ev);
   cr_assert_str_eq (conf_str (ev[0], "ns.coll"), "a");
   cr_assert_str_eq (conf_str (ev[1], "ns.coll"), "b");
   conf_docs_free (ev, n);
   /* The collection stream on c saw none of it. */
   bson_t r;
   cs_get_more (f.c, f.s, f.db, "c", f.id, 300, 0, &r);
   cr_assert_eq (conf_array_len (&r, "cursor.nextBatch"), 0);
   bson_destroy (&r);
   close_fixture (&f);
}

/* The TTL monitor's deletes reach change streams as deletes (see test-ttl.c for the
 * ttlMonitorSleepSecs reference; the test restores 60). */
Test (cs_events, ttl_deletes_are_delete_events, .timeout = 400)
{
   fixture_t f;
   open_stream (&f, "cse", "{}", NULL);
   conf_ok (f.c, f.db, "{'createIndexes': 'c', 'indexes': [{'key': {'t': 1}, 'name': 't_ttl', 'expireAfterSeconds': 0}]}",
            NULL);
   conf_ok (f.c, f.db, "{'insert': 'c', 'documents': [{'_id': 'old', 't': {'$date': {'$numberLong': '1000'}}}]}", NULL);
   conf_ok (f.c, "admin", "{'setParameter': 1, 'ttlMonitorSleepSecs': 1}", NULL);
   bson_t **ev;
   int n = cs_collect (f.c, f.s, f.db, "c", &f.id, 2, 150000, &ev);
   conf_ok (f.c, "admin", "{'setParameter': 1, 'ttlMonitorSleepSecs': 60}", NULL);
   cr_assert_str_eq (conf_str (ev[0], "operationType"), "insert");
   check_common (ev[1], "delete", f.db, "c");
   cs_assert_fields (ev[1], DELETE_FIELDS);
   cr_assert_str_eq (conf_str (ev[1], "documentKey._id"), "old");
   conf_docs_free (ev, n);
   close_fixture (&f);
}
