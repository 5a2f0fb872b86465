/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 2 (unknown and malformed commands get typed errors, never a dropped connection)
 * and rule 4 (writeConcern accepted on every write; find/getMore/killCursors).
 *
 * Codes, from MongoDB's src/mongo/base/error_codes.yml: 2 BadValue, 9 FailedToParse,
 * 14 TypeMismatch, 43 CursorNotFound, 59 CommandNotFound.
 * - Unknown command: "no such command: '<name>'", 59 (service_entry_point_common.cpp).
 * - A field of the wrong BSON type fails in the IDL parser with 14 TypeMismatch ("BSON
 *   field 'find.filter' is the wrong type 'string', expected type 'object'"); a missing
 *   required field fails with 40414 ("BSON field 'insert.documents' is missing but a
 *   required field") (src/mongo/idl/idl_parser.cpp).
 * - Unknown query operator: 2 BadValue "unknown operator: $foo"
 *   (src/mongo/db/matcher/expression_parser.cpp).
 * - findAndModify without update/remove, or with both: 9 FailedToParse "Either an update
 *   or remove=true must be specified" / "Cannot specify both an update and remove=true"
 *   (src/mongo/db/commands/find_and_modify.cpp, validate()).
 * - Unknown aggregation stage: 40324 "Unrecognized pipeline stage name"
 *   (src/mongo/db/pipeline/document_source.cpp); aggregate without cursor: 9 "The 'cursor'
 *   option is required, except for aggregate with the explain argument"
 *   (src/mongo/db/pipeline/aggregation_request_helper.cpp).
 * - Unknown update modifier: 9 FailedToParse "Unknown modifier: $foo. Expected a valid
 *   update modifier or pipeline-style update specified as an array", reported per statement
 *   in writeErrors (src/mongo/db/update/modifier_table.cpp, update_object_node.cpp).
 * - writeConcern {w: "majority", wtimeout} on a standalone: accepted (manual, "Write
 *   Concern": majority on a standalone is satisfied by the standalone's own write).
 * - Cursors: manual "find", "getMore" (nextBatch, cursor id 0 when exhausted),
 *   "killCursors" (cursorsKilled / cursorsNotFound); getMore on a dead cursor fails 43. */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (commands, .init = conf_init, .fini = conf_fini, .timeout = 60);

static int64_t
connection_id (mongoc_client_t *c)
{
   bson_t r;
   conf_ok (c, "admin", "{'hello': 1}", &r);
   int64_t id = conf_int (&r, "connectionId");
   bson_destroy (&r);
   return id;
}

Test (commands, unknown_command_is_59_and_connection_survives)
{
   char *db;
   mongoc_client_t *c = conf_open ("cmd", &db);
   int64_t conn = connection_id (c);
   bson_t r;
   char *cmd = bson_strdup_printf ("{'noSuchCommandXyz': 1}");
   conf_cmd_error (c, db, cmd, 59, &r);
   cr_assert_str_eq (conf_str (&r, "codeName"), "CommandNotFound");
   cr_assert (strstr (conf_str (&r, "errmsg"), "no such command"), "errmsg: %s", conf_str (&r, "errmsg"));
   bson_destroy (&r);
   bson_free (cmd);
   conf_cmd_error (c, "admin", "{'frobnicate': 'x', 'level': 3}", 59, NULL);
   cr_assert_eq (connection_id (c), conn, "the server dropped the connection after an unknown command");
   conf_close (c, db);
}

typedef struct {
   const char *json;
   int32_t code;
} bad_cmd_t;

Test (commands, malformed_commands_get_typed_errors)
{
   char *db;
   mongoc_client_t *c = conf_open ("cmd", &db);
   mltest_cmd_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}]}", NULL);
   int64_t conn = connection_id (c);
   static const bad_cmd_t bad[] = {
      {"{'find': 'c', 'filter': 'x'}", 14},
      {"{'find': 'c', 'sort': 5}", 14},
      {"{'find': 'c', 'projection': [1]}", 14},
      {"{'find': 'c', 'limit': 'ten'}", 14},
      {"{'find': 'c', 'batchSize': 'x'}", 14},
      {"{'find': 'c', 'filter': {'a': {'$foo': 1}}}", 2},
      {"{'insert': 'c', 'documents': 'x'}", 14},
      {"{'insert': 'c', 'documents': {'_id': 2}}", 14},
      {"{'insert': 'c'}", 40414},
      {"{'update': 'c', 'updates': {'q': {}, 'u': {}}}", 14},
      {"{'update': 'c'}", 40414},
      {"{'delete': 'c', 'deletes': 7}", 14},
      {"{'findAndModify': 'c', 'query': {}}", 9},
      {"{'findAndModify': 'c', 'query': {}, 'remove': true, 'update': {'$set': {'a': 2}}}", 9},
      {"{'findAndModify': 'c', 'query': 'x', 'update': {'$set': {'a': 2}}}", 14},
      {"{'aggregate': 'c', 'pipeline': [{'$noSuchStage': {}}], 'cursor': {}}", 40324},
      {"{'aggregate': 'c', 'pipeline': []}", 9},
      {"{'aggregate': 'c', 'pipeline': {}, 'cursor': {}}", 14},
      {"{'count': 'c', 'query': 'x'}", 14},
      {"{'createIndexes': 'c', 'indexes': 'x'}", 14},
      {"{'getMore': 'x', 'collection': 'c'}", 14},
      {"{'killCursors': 'c', 'cursors': 'x'}", 14},
   };
   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      conf_cmd_error (c, db, bad[i].json, bad[i].code, NULL);
   }
   /* Nothing above changed the data, and the connection is the same one. */
   cr_assert_eq (conf_count (c, db, "c", NULL), 1);
   cr_assert_eq (conf_count (c, db, "c", "{'a': 1}"), 1);
   cr_assert_eq (connection_id (c), conn, "the server dropped the connection after a malformed command");
   conf_close (c, db);
}

Test (commands, unknown_update_modifier_is_a_write_error_9)
{
   char *db;
   mongoc_client_t *c = conf_open ("cmd", &db);
   mltest_cmd_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}]}", NULL);
   bson_t r;
   mltest_cmd_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$foo': {'a': 2}}}]}", &r);
   conf_write_error (&r, 0, 0, 9, NULL);
   cr_assert_eq (conf_int (&r, "n"), 0);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", "{'a': 1}"), 1, "the failed update changed the document");
   conf_close (c, db);
}

Test (commands, write_concern_majority_is_accepted_by_every_write)
{
   char *db;
   mongoc_client_t *c = conf_open ("cmd", &db);
   static const char *const cmds[] = {
      "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}, {'_id': 2, 'a': 2}], "
      "'writeConcern': {'w': 'majority', 'wtimeout': 5000}}",
      "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$set': {'a': 10}}}], "
      "'writeConcern': {'w': 'majority', 'wtimeout': 5000}}",
      "{'findAndModify': 'c', 'query': {'_id': 2}, 'update': {'$set': {'a': 20}}, "
      "'writeConcern': {'w': 'majority', 'wtimeout': 5000}}",
      "{'delete': 'c', 'deletes': [{'q': {'_id': 2}, 'limit': 1}], "
      "'writeConcern': {'w': 'majority', 'wtimeout': 5000}}",
      "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1'}], "
      "'writeConcern': {'w': 'majority', 'wtimeout': 5000}}",
      "{'dropIndexes': 'c', 'index': 'a_1', 'writeConcern': {'w': 'majority', 'wtimeout': 5000}}",
      "{'insert': 'c', 'documents': [{'_id': 3}], 'writeConcern': {'w': 1}}",
      "{'update': 'c', 'updates': [{'q': {'_id': 3}, 'u': {'$set': {'a': 3}}}], 'writeConcern': {'w': 1, "
      "'wtimeout': 0}}",
      "{'drop': 'c', 'writeConcern': {'w': 'majority', 'wtimeout': 5000}}",
   };
   for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
      bson_t r;
      conf_ok (c, db, cmds[i], &r); /* also asserts no writeConcernError */
      bson_destroy (&r);
   }
   cr_assert_eq (conf_count (c, db, "c", NULL), 0, "drop left documents");
   conf_close (c, db);
}

static void
insert_n (mongoc_client_t *c, const char *db, int n)
{
   bson_t cmd = BSON_INITIALIZER, docs;
   BSON_APPEND_UTF8 (&cmd, "insert", "c");
   BSON_APPEND_ARRAY_BEGIN (&cmd, "documents", &docs);
   for (int i = 0; i < n; i++) {
      char key[16];
      bson_snprintf (key, sizeof key, "%d", i);
      bson_t d;
      BSON_APPEND_DOCUMENT_BEGIN (&docs, key, &d);
      BSON_APPEND_INT32 (&d, "_id", i);
      BSON_APPEND_INT32 (&d, "sq", i * i);
      bson_append_document_end (&docs, &d);
   }
   bson_append_array_end (&cmd, &docs);
   bson_t reply;
   bson_error_t error;
   cr_assert (mongoc_client_command_simple (c, db, &cmd, NULL, &reply, &error), "%s", error.message);
   cr_assert_eq (conf_int (&reply, "n"), n);
   bson_destroy (&reply);
   bson_destroy (&cmd);
}

/* Cursors belong to the session that opened them (a real server refuses getMore from
 * another lsid), and libmongoc gives each command_simple call an implicit session, so
 * cursor tests run every command in one explicit session. */
static mongoc_client_session_t *
start_session (mongoc_client_t *c)
{
   bson_error_t error;
   mongoc_client_session_t *cs = mongoc_client_start_session (c, NULL, &error);
   cr_assert (cs, "cannot start a session (does hello report logicalSessionTimeoutMinutes?): %s", error.message);
   return cs;
}

static void
check_batch (const bson_t *r, const char *path, int first, int count)
{
   char *s = conf_json (r);
   cr_assert_eq (conf_array_len (r, path), count, "batch size in %s", s);
   for (int i = 0; i < count; i++) {
      char p[64];
      bson_snprintf (p, sizeof p, "%s.%d._id", path, i);
      cr_assert_eq (conf_int (r, p), first + i, "order in %s", s);
   }
   bson_free (s);
}

Test (commands, find_batch_size_get_more_until_exhausted)
{
   char *db;
   mongoc_client_t *c = conf_open ("cmd", &db);
   mongoc_client_session_t *cs = start_session (c);
   insert_n (c, db, 10);
   bson_t r;
   conf_ok_in (c, cs, db, "{'find': 'c', 'sort': {'_id': 1}, 'batchSize': 3}", &r);
   check_batch (&r, "cursor.firstBatch", 0, 3);
   int64_t id = conf_int64 (&r, "cursor.id");
   cr_assert_neq (id, 0, "cursor closed with 7 documents left");
   char *ns = bson_strdup_printf ("%s.c", db);
   cr_assert_str_eq (conf_str (&r, "cursor.ns"), ns);
   bson_destroy (&r);

   char *gm = bson_strdup_printf ("{'getMore': {'$numberLong': '%" PRId64 "'}, 'collection': 'c', 'batchSize': 4}", id);
   conf_ok_in (c, cs, db, gm, &r);
   check_batch (&r, "cursor.nextBatch", 3, 4);
   cr_assert_eq (conf_int64 (&r, "cursor.id"), id, "getMore changed the cursor id");
   cr_assert_str_eq (conf_str (&r, "cursor.ns"), ns);
   bson_destroy (&r);
   bson_free (gm);

   gm = bson_strdup_printf ("{'getMore': {'$numberLong': '%" PRId64 "'}, 'collection': 'c'}", id);
   conf_ok_in (c, cs, db, gm, &r);
   check_batch (&r, "cursor.nextBatch", 7, 3);
   cr_assert_eq (conf_int64 (&r, "cursor.id"), 0, "an exhausted cursor reports id 0");
   bson_destroy (&r);
   /* The server closed it: another getMore is CursorNotFound. */
   conf_cmd_error_in (c, cs, db, gm, 43, NULL);
   bson_free (gm);

   /* A query that fits its batch returns id 0 at once; limit caps the total. */
   conf_ok_in (c, cs, db, "{'find': 'c', 'filter': {'_id': {'$gte': 8}}, 'batchSize': 5}", &r);
   check_batch (&r, "cursor.firstBatch", 8, 2);
   cr_assert_eq (conf_int64 (&r, "cursor.id"), 0);
   bson_destroy (&r);
   conf_ok_in (c, cs, db, "{'find': 'c', 'sort': {'_id': 1}, 'limit': 2, 'batchSize': 5}", &r);
   check_batch (&r, "cursor.firstBatch", 0, 2);
   cr_assert_eq (conf_int64 (&r, "cursor.id"), 0);
   bson_destroy (&r);
   conf_ok_in (c, cs, db, "{'find': 'c', 'sort': {'_id': -1}, 'skip': 1, 'limit': 3, 'singleBatch': true}", &r);
   cr_assert_eq (conf_array_len (&r, "cursor.firstBatch"), 3);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0._id"), 8);
   cr_assert_eq (conf_int64 (&r, "cursor.id"), 0);
   bson_destroy (&r);
   /* batchSize 0 opens a cursor without returning anything yet. */
   conf_ok_in (c, cs, db, "{'find': 'c', 'sort': {'_id': 1}, 'batchSize': 0}", &r);
   cr_assert_eq (conf_array_len (&r, "cursor.firstBatch"), 0);
   id = conf_int64 (&r, "cursor.id");
   cr_assert_neq (id, 0);
   bson_destroy (&r);
   gm = bson_strdup_printf ("{'getMore': {'$numberLong': '%" PRId64 "'}, 'collection': 'c', 'batchSize': 100}", id);
   conf_ok_in (c, cs, db, gm, &r);
   check_batch (&r, "cursor.nextBatch", 0, 10);
   cr_assert_eq (conf_int64 (&r, "cursor.id"), 0);
   bson_destroy (&r);
   bson_free (gm);
   bson_free (ns);
   mongoc_client_session_destroy (cs);
   conf_close (c, db);
}

Test (commands, kill_cursors_ends_a_cursor)
{
   char *db;
   mongoc_client_t *c = conf_open ("cmd", &db);
   mongoc_client_session_t *cs = start_session (c);
   insert_n (c, db, 6);
   bson_t r;
   conf_ok_in (c, cs, db, "{'find': 'c', 'sort': {'_id': 1}, 'batchSize': 2}", &r);
   int64_t id = conf_int64 (&r, "cursor.id");
   cr_assert_neq (id, 0);
   bson_destroy (&r);

   char *kc = bson_strdup_printf ("{'killCursors': 'c', 'cursors': [{'$numberLong': '%" PRId64 "'}]}", id);
   conf_ok_in (c, cs, db, kc, &r);
   char *s = conf_json (&r);
   cr_assert_eq (conf_array_len (&r, "cursorsKilled"), 1, "%s", s);
   cr_assert_eq (conf_int64 (&r, "cursorsKilled.0"), id, "%s", s);
   cr_assert_eq (conf_array_len (&r, "cursorsNotFound"), 0, "%s", s);
   bson_free (s);
   bson_destroy (&r);

   char *gm = bson_strdup_printf ("{'getMore': {'$numberLong': '%" PRId64 "'}, 'collection': 'c'}", id);
   conf_cmd_error_in (c, cs, db, gm, 43, &r);
   cr_assert_str_eq (conf_str (&r, "codeName"), "CursorNotFound");
   bson_destroy (&r);

   /* Killing it again: it is reported as not found, and the command still succeeds. */
   conf_ok_in (c, cs, db, kc, &r);
   cr_assert_eq (conf_array_len (&r, "cursorsKilled"), 0);
   cr_assert_eq (conf_int64 (&r, "cursorsNotFound.0"), id);
   bson_destroy (&r);
   bson_free (gm);
   bson_free (kc);
   mongoc_client_session_destroy (cs);
   conf_close (c, db);
}

Test (commands, cursor_sees_a_consistent_order_across_batches)
{
   /* Cursors must deliver every matching document exactly once in sort order. */
   char *db;
   mongoc_client_t *c = conf_open ("cmd", &db);
   mongoc_client_session_t *cs = start_session (c);
   insert_n (c, db, 50);
   bson_t r;
   conf_ok_in (c, cs, db, "{'find': 'c', 'filter': {'sq': {'$gte': 100}}, 'sort': {'sq': -1}, 'batchSize': 7}", &r);
   int64_t id = conf_int64 (&r, "cursor.id");
   int seen = conf_array_len (&r, "cursor.firstBatch");
   int64_t last = conf_int (&r, "cursor.firstBatch.0.sq") + 1;
   bson_t batch;
   conf_doc (&r, "cursor.firstBatch", &batch);
   bson_iter_t it;
   bson_iter_init (&it, &batch);
   while (bson_iter_next (&it)) {
      bson_t d;
      uint32_t len;
      const uint8_t *data;
      bson_iter_document (&it, &len, &data);
      bson_init_static (&d, data, len);
      cr_assert_lt (conf_int (&d, "sq"), last);
      last = conf_int (&d, "sq");
   }
   bson_destroy (&r);
   int rounds = 0;
   while (id != 0) {
      cr_assert_lt (++rounds, 100, "cursor never ended");
      char *gm = bson_strdup_printf ("{'getMore': {'$numberLong': '%" PRId64 "'}, 'collection': 'c', 'batchSize': 7}", id);
      conf_ok_in (c, cs, db, gm, &r);
      bson_free (gm);
      conf_doc (&r, "cursor.nextBatch", &batch);
      bson_iter_init (&it, &batch);
      while (bson_iter_next (&it)) {
         bson_t d;
         uint32_t len;
         const uint8_t *data;
         bson_iter_document (&it, &len, &data);
         bson_init_static (&d, data, len);
         cr_assert_lt (conf_int (&d, "sq"), last, "out of order across batches");
         last = conf_int (&d, "sq");
         seen++;
      }
      id = conf_int64 (&r, "cursor.id");
      bson_destroy (&r);
   }
   cr_assert_eq (seen, 40, "documents 10..49 match");
   mongoc_client_session_destroy (cs);
   conf_close (c, db);
}
