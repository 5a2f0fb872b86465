/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 5 (pipeline updates allow only $set/$addFields, $unset, $project,
 * $replaceRoot/$replaceWith) and rule 6 ($$NOW is one value per command, from the
 * server's clock).
 *
 * References: manual "Updates with Aggregation Pipeline" (the allowed stage list);
 * src/mongo/db/update/pipeline_executor.cpp refuses any other stage with
 * uassert(ErrorCodes::InvalidOptions (72), "<stage> is not allowed to be used within an
 * update"); an unknown stage name is 40324 "Unrecognized pipeline stage name". A pipeline
 * that drops _id keeps the original _id (object_replace_executor.cpp,
 * applyReplacementUpdate). $$NOW: manual "Variables in Aggregation Expressions": "NOW
 * ... returns the current datetime value, which is same across all members of the
 * deployment and remains the same throughout the aggregation pipeline"; the update and
 * findAndModify commands bind it once per command (ExpressionContext created per
 * command, src/mongo/db/pipeline/expression_context.cpp, variables.cpp kNowId). */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (pipeline, .init = conf_init, .fini = conf_fini, .timeout = 120);

static bson_t *
one (mongoc_client_t *c, const char *db, int id)
{
   char *f = bson_strdup_printf ("{'_id': %d}", id);
   int n;
   bson_t **docs = conf_find_all (c, db, "c", f, NULL, &n);
   cr_assert_eq (n, 1, "document %d missing", id);
   bson_t *d = bson_copy (docs[0]);
   conf_docs_free (docs, n);
   bson_free (f);
   return d;
}

static void
pipeline_update (mongoc_client_t *c, const char *db, int id, const char *pipeline)
{
   char *cmd = bson_strdup_printf ("{'update': 'c', 'updates': [{'q': {'_id': %d}, 'u': %s}]}", id, pipeline);
   bson_t r;
   conf_ok (c, db, cmd, &r);
   char *s = conf_json (&r);
   cr_assert_eq (conf_int (&r, "n"), 1, "%s: %s", cmd, s);
   bson_free (s);
   bson_destroy (&r);
   bson_free (cmd);
}

Test (pipeline, allowed_stages_work)
{
   char *db;
   mongoc_client_t *c = conf_open ("pl", &db);
   conf_ok (c, db,
            "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1, 'x': 1, 'y': 2}, {'_id': 2, 'a': 2, 'x': 1}, "
            "{'_id': 3, 'a': 3, 'x': 1}, {'_id': 4, 'a': 4, 'x': 1}]}",
            NULL);

   pipeline_update (c, db, 1, "[{'$set': {'b': {'$add': ['$a', 1]}}}, {'$addFields': {'c': {'$multiply': ['$b', 10]}}}]");
   bson_t *d = one (c, db, 1);
   cr_assert_eq (conf_int (d, "b"), 2, "$set");
   cr_assert_eq (conf_int (d, "c"), 20, "$addFields sees the previous stage");
   bson_destroy (d);

   pipeline_update (c, db, 1, "[{'$unset': ['x', 'y']}, {'$unset': 'c'}]");
   d = one (c, db, 1);
   cr_assert_eq (conf_type (d, "x"), BSON_TYPE_EOD, "$unset array form");
   cr_assert_eq (conf_type (d, "y"), BSON_TYPE_EOD);
   cr_assert_eq (conf_type (d, "c"), BSON_TYPE_EOD, "$unset string form");
   cr_assert_eq (conf_int (d, "a"), 1);
   bson_destroy (d);

   pipeline_update (c, db, 2, "[{'$project': {'a': 1}}]");
   d = one (c, db, 2);
   cr_assert_eq (conf_int (d, "a"), 2);
   cr_assert_eq (conf_type (d, "x"), BSON_TYPE_EOD, "$project inclusion kept x");
   bson_destroy (d);

   /* $replaceRoot / $replaceWith without _id: the document keeps its _id. */
   pipeline_update (c, db, 3, "[{'$replaceRoot': {'newRoot': {'k': '$a'}}}]");
   d = one (c, db, 3);
   cr_assert_eq (conf_int (d, "k"), 3);
   cr_assert_eq (conf_type (d, "a"), BSON_TYPE_EOD);
   bson_destroy (d);
   pipeline_update (c, db, 4, "[{'$replaceWith': {'k2': {'$add': ['$a', 100]}}}]");
   d = one (c, db, 4);
   cr_assert_eq (conf_int (d, "k2"), 104);
   cr_assert_eq (conf_type (d, "x"), BSON_TYPE_EOD);
   bson_destroy (d);
   cr_assert_eq (conf_count (c, db, "c", NULL), 4);
   conf_close (c, db);
}

Test (pipeline, other_stages_are_refused_with_72)
{
   char *db;
   mongoc_client_t *c = conf_open ("pl", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}]}", NULL);
   static const char *const refused[] = {
      "[{'$match': {'a': 1}}]",
      "[{'$set': {'b': 1}}, {'$match': {'a': 1}}]",
      "[{'$group': {'_id': '$a'}}]",
      "[{'$sort': {'a': 1}}]",
      "[{'$limit': 1}]",
      "[{'$skip': 0}]",
      "[{'$count': 'n'}]",
   };
   for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
      char *cmd = bson_strdup_printf ("{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': %s}]}", refused[i]);
      bson_t r;
      mltest_cmd_ok (c, db, cmd, &r);
      conf_write_error (&r, 0, 0, 72, NULL);
      bson_destroy (&r);
      bson_free (cmd);
      /* findAndModify reports the same refusal as a command error. */
      cmd = bson_strdup_printf ("{'findAndModify': 'c', 'query': {'_id': 1}, 'update': %s}", refused[i]);
      conf_cmd_error (c, db, cmd, 72, &r);
      cr_assert (strstr (conf_str (&r, "errmsg"), "is not allowed to be used within an update"), "errmsg: %s",
                 conf_str (&r, "errmsg"));
      bson_destroy (&r);
      bson_free (cmd);
   }
   /* An unknown stage is unknown, not merely disallowed. */
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': [{'$frob': {}}]}]}", 40324);
   /* Nothing was changed by any refused pipeline. */
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 1, 'a': 1, 'b': {'$exists': false}}"), 1);
   conf_close (c, db);
}

static void
insert_many (mongoc_client_t *c, const char *db, int n)
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
      BSON_APPEND_UTF8 (&d, "pad", "some padding so each document takes a little work to rewrite");
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

/* Checks that fields a and b of every document hold one and the same date, and returns it. */
static int64_t
all_same_now (mongoc_client_t *c, const char *db, int expect)
{
   int n;
   bson_t **docs = conf_find_all (c, db, "c", NULL, NULL, &n);
   cr_assert_eq (n, expect);
   int64_t now = conf_date (docs[0], "a");
   for (int i = 0; i < n; i++) {
      cr_assert_eq (conf_date (docs[i], "a"), now, "document %d saw another $$NOW (%" PRId64 " vs %" PRId64 ")", i,
                    conf_date (docs[i], "a"), now);
      cr_assert_eq (conf_date (docs[i], "b"), now, "a second use of $$NOW in document %d differs", i);
      cr_assert_eq (conf_date (docs[i], "c"), now + 1, "$$NOW in an expression in document %d", i);
   }
   conf_docs_free (docs, n);
   return now;
}

Test (pipeline, now_is_one_value_per_update_command)
{
   char *db;
   mongoc_client_t *c = conf_open ("pl", &db);
   /* Enough documents that the command runs across several milliseconds on any server: a
    * server that read its clock per document or per use would show two values. */
   const int n = 5000;
   insert_many (c, db, n);
   int64_t before = conf_server_time_ms (c);
   bson_t r;
   conf_ok (c, db,
            "{'update': 'c', 'updates': [{'q': {}, 'multi': true, 'u': [{'$set': {'a': '$$NOW'}}, "
            "{'$set': {'pad2': {'$concat': ['$pad', '$pad', '$pad']}}}, "
            "{'$set': {'b': '$$NOW', 'c': {'$add': ['$$NOW', 1]}}}]}]}",
            &r);
   cr_assert_eq (conf_int (&r, "nModified"), n);
   bson_destroy (&r);
   int64_t after = conf_server_time_ms (c);
   int64_t now = all_same_now (c, db, n);
   /* From the server's clock: between two readings of the server's own localTime. */
   cr_assert (now >= before && now <= after, "$$NOW %" PRId64 " outside the server's [%" PRId64 ", %" PRId64 "]", now,
              before, after);
   conf_close (c, db);
}

Test (pipeline, now_is_one_value_per_update_command_with_many_statements)
{
   /* One update command with several statements is one command: performUpdates in
    * src/mongo/db/ops/write_ops_exec.cpp generates the runtime constants (NOW,
    * CLUSTER_TIME) once, "These constants are applied to each update in the batch". */
   char *db;
   mongoc_client_t *c = conf_open ("pl", &db);
   insert_many (c, db, 3);
   bson_t r;
   conf_ok (c, db,
            "{'update': 'c', 'updates': ["
            "{'q': {'_id': 0}, 'u': [{'$set': {'a': '$$NOW', 'b': '$$NOW', 'c': {'$add': ['$$NOW', 1]}}}]}, "
            "{'q': {'_id': 1}, 'u': [{'$set': {'a': '$$NOW', 'b': '$$NOW', 'c': {'$add': ['$$NOW', 1]}}}]}, "
            "{'q': {'_id': 2}, 'u': [{'$set': {'a': '$$NOW', 'b': '$$NOW', 'c': {'$add': ['$$NOW', 1]}}}]}]}",
            &r);
   cr_assert_eq (conf_int (&r, "nModified"), 3);
   bson_destroy (&r);
   (void) all_same_now (c, db, 3);
   conf_close (c, db);
}

Test (pipeline, now_is_one_value_in_find_and_modify_and_aggregate)
{
   char *db;
   mongoc_client_t *c = conf_open ("pl", &db);
   insert_many (c, db, 2000);
   int64_t before = conf_server_time_ms (c);
   bson_t r;
   conf_ok (c, db,
            "{'findAndModify': 'c', 'query': {'_id': 7}, 'new': true, 'update': [{'$set': {'a': '$$NOW'}}, "
            "{'$set': {'b': '$$NOW', 'c': {'$add': ['$$NOW', 1]}}}]}",
            &r);
   int64_t now = conf_date (&r, "value.a");
   cr_assert_eq (conf_date (&r, "value.b"), now);
   cr_assert_eq (conf_date (&r, "value.c"), now + 1);
   bson_destroy (&r);
   int64_t after = conf_server_time_ms (c);
   cr_assert (now >= before && now <= after, "findAndModify $$NOW %" PRId64 " outside [%" PRId64 ", %" PRId64 "]",
              now, before, after);

   /* aggregate: every document of one command sees the same $$NOW. */
   conf_ok (c, db,
            "{'aggregate': 'c', 'pipeline': [{'$project': {'t': '$$NOW', 'p': {'$concat': ['$pad', '$pad']}}}, "
            "{'$group': {'_id': '$t', 'n': {'$sum': 1}}}], 'cursor': {}}",
            &r);
   char *s = conf_json (&r);
   cr_assert_eq (conf_array_len (&r, "cursor.firstBatch"), 1, "several $$NOW values in one aggregate: %s", s);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0.n"), 2000, "%s", s);
   cr_assert_eq (conf_type (&r, "cursor.firstBatch.0._id"), BSON_TYPE_DATE_TIME, "%s", s);
   bson_free (s);
   bson_destroy (&r);
   conf_close (c, db);
}
