/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 22: 'let' (find, aggregate, update, delete, findAndModify; 5.0+) binds variables
 * to expressions evaluated once per command, before any document is read: constants,
 * $$NOW, {$literal: ...}, expressions over the variables defined before them. A 'let'
 * expression that reads a document field fails 4890500.
 *
 * References:
 * - src/mongo/db/pipeline/variables.cpp seedVariablesWithLetParameters: each let element
 *   is parsed as an expression with the variables defined so far, refused with 4890500
 *   ("Command let Expression tried to access a field ...") when it depends on the
 *   document, evaluated once, and bound as a constant; validateVariable: a name that is not
 *   a valid user variable name fails FailedToParse (9) "Invalid 'let' parameter", a
 *   reserved system variable (NOW, CLUSTER_TIME, ...) fails 4738901 "Attempt to set
 *   internal constant" for a user client.
 * - src/mongo/db/pipeline/variable_validation.cpp isValidNameForUserWrite: a user
 *   variable name starts with a lowercase ASCII letter (or a non-ASCII byte) and continues
 *   with letters, digits and '_'.
 * - jstests/core/command_let_variables.js: {$literal: "$notAFieldPath"} binds the string,
 *   {a: 2, b: {$add: ["$$a", 3]}} chains, {a: "$_id"} fails 4890500, {Reserved: ...} fails
 *   FailedToParse, {NOW: ...} fails 4738901, an undefined $$variable fails 17276.
 * - Manual "find" / "aggregate" / "update" / "delete" / "findAndModify", field 'let'.
 * - findAndModify's 'fields' (the named lock's acquire reply, lib/shapes/named.c): the
 *   manual's findAndModify page, 'fields': "Starting in MongoDB 4.4, the projection can
 *   accept aggregation expressions and syntax" (DOCS-13169); the projection stage runs on
 *   the command's ExpressionContext (src/mongo/db/query/classic_runtime_planner/
 *   planner_interface.cpp: ProjectionStageDefault built with cq()->getExpCtx()), which
 *   src/mongo/db/ops/parsed_update.cpp builds with the command's let parameters, so a
 *   computed field sees $$name; an undefined one fails 17276 when the command is parsed. */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (let, .init = conf_init, .fini = conf_fini, .timeout = 60);

static void
setup (mongoc_client_t *c, const char *db)
{
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'bar': 'B'}]}", NULL);
}

Test (let, find_binds_evaluated_values)
{
   char *db;
   mongoc_client_t *c = conf_open ("let", &db);
   setup (c, db);
   bson_t r;
   int64_t before = conf_server_time_ms (c);
   conf_ok (c, db,
            "{'find': 'c', 'filter': {}, 'projection': {'lit': '$$y', 't': '$$t', 'sum': '$$b', 'obj': '$$o'}, "
            "'let': {'y': {'$literal': '$bar'}, 't': '$$NOW', 'a': 2, 'b': {'$add': ['$$a', 3]}, "
            "'o': {'k': {'$literal': '$x'}}}}",
            &r);
   char *s = conf_json (&r);
   cr_assert_str_eq (conf_str (&r, "cursor.firstBatch.0.lit"), "$bar", "%s", s);
   int64_t t = conf_date (&r, "cursor.firstBatch.0.t");
   cr_assert (t >= before - 5000 && t <= before + 60000, "$$NOW bound as the server's date: %s", s);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0.sum"), 5, "%s", s);
   cr_assert_str_eq (conf_str (&r, "cursor.firstBatch.0.obj.k"), "$x", "%s", s);
   bson_free (s);
   bson_destroy (&r);
   /* The variables reach the filter: '$$y' is the string "$bar", not the field bar. */
   conf_ok (c, db, "{'find': 'c', 'filter': {'$expr': {'$eq': ['$bar', '$$y']}}, 'let': {'y': {'$literal': '$bar'}}}",
            &r);
   cr_assert_eq (conf_array_len (&r, "cursor.firstBatch"), 0);
   bson_destroy (&r);
   conf_ok (c, db, "{'find': 'c', 'filter': {'$expr': {'$eq': ['$bar', '$$y']}}, 'let': {'y': 'B'}}", &r);
   cr_assert_eq (conf_array_len (&r, "cursor.firstBatch"), 1);
   bson_destroy (&r);
   conf_close (c, db);
}

Test (let, reading_a_field_is_refused)
{
   char *db;
   mongoc_client_t *c = conf_open ("let", &db);
   setup (c, db);
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {}, 'let': {'y': '$bar'}}", 4890500, NULL);
   conf_cmd_error (c, db, "{'find': 'none', 'filter': {}, 'let': {'y': '$bar'}}", 4890500, NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {}, 'let': {'y': {'$add': [1, '$bar']}}}", 4890500, NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {}, 'let': {'y': '$$ROOT'}}", 4890500, NULL);
   conf_cmd_error (c, db, "{'aggregate': 'c', 'pipeline': [], 'cursor': {}, 'let': {'y': '$bar'}}", 4890500, NULL);
   conf_cmd_error (c, db, "{'findAndModify': 'c', 'query': {'_id': 99}, 'remove': true, 'let': {'y': '$bar'}}", 4890500,
                   NULL);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 99}, 'u': {'$set': {'a': 1}}}], 'let': {'y': '$bar'}}",
                     4890500);
   mltest_cmd_fails (c, db, "{'delete': 'c', 'deletes': [{'q': {'_id': 99}, 'limit': 1}], 'let': {'y': '$bar'}}", 4890500);
   /* Parsed like any expression, with only the variables defined before it. */
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {}, 'let': {'y': {'$bogusOp': 1}}}", 168, NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {}, 'let': {'a': '$$b', 'b': 1}}", 17276, NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {}, 'let': {'a': 1}, 'projection': {'x': '$$nosuchvar'}}", 17276, NULL);
   cr_assert_eq (conf_count (c, db, "c", NULL), 1);
   conf_close (c, db);
}

Test (let, names_follow_user_variable_rules)
{
   char *db;
   mongoc_client_t *c = conf_open ("let", &db);
   setup (c, db);
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {}, 'let': {'Upper': 1}}", 9, NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {}, 'let': {'1a': 1}}", 9, NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {}, 'let': {'a-b': 1}}", 9, NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {}, 'let': {'ROOT': 1}}", 9, NULL);
   conf_cmd_error (c, db, "{'aggregate': 'c', 'pipeline': [], 'cursor': {}, 'let': {'NOW': 1}}", 4738901, NULL);
   bson_t r;
   conf_ok (c, db, "{'find': 'c', 'filter': {}, 'projection': {'v': '$$a_B9'}, 'let': {'a_B9': 7}}", &r);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0.v"), 7);
   bson_destroy (&r);
   conf_close (c, db);
}

Test (let, writes_and_aggregate_bind_evaluated_values)
{
   char *db;
   mongoc_client_t *c = conf_open ("let", &db);
   setup (c, db);
   bson_t r;
   conf_ok (c, db,
            "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': [{'$set': {'lit': '$$y', 't': '$$t'}}]}], "
            "'let': {'y': {'$literal': '$bar'}, 't': '$$NOW'}}",
            &r);
   cr_assert_eq (conf_int (&r, "nModified"), 1);
   bson_destroy (&r);
   conf_ok (c, db, "{'find': 'c', 'filter': {'_id': 1, 'lit': '$bar', 't': {'$gte': {'$date': {'$numberLong': '0'}}}}}", &r);
   cr_assert_eq (conf_array_len (&r, "cursor.firstBatch"), 1, "update let did not bind the string and the date");
   bson_destroy (&r);

   conf_ok (c, db,
            "{'findAndModify': 'c', 'query': {'_id': 1}, 'update': [{'$set': {'f': '$$y'}}], 'new': true, "
            "'let': {'y': {'$literal': '$q'}}}",
            &r);
   cr_assert_str_eq (conf_str (&r, "value.f"), "$q");
   bson_destroy (&r);

   conf_ok (c, db,
            "{'aggregate': 'c', 'pipeline': [{'$project': {'v': '$$y', 'n': '$$n'}}], 'cursor': {}, "
            "'let': {'y': {'$literal': '$bar'}, 'n': {'$multiply': [2, 3]}}}",
            &r);
   cr_assert_str_eq (conf_str (&r, "cursor.firstBatch.0.v"), "$bar");
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0.n"), 6);
   bson_destroy (&r);

   conf_ok (c, db, "{'delete': 'c', 'deletes': [{'q': {'$expr': {'$eq': ['$lit', '$$y']}}, 'limit': 1}], "
                   "'let': {'y': {'$literal': '$bar'}}}",
            &r);
   cr_assert_eq (conf_int (&r, "n"), 1, "delete let did not bind the string");
   bson_destroy (&r);
   conf_close (c, db);
}

/* The acquire's reply shape: a computed 'fields' entry compares a stored field with a let
 * variable, next to plain inclusions, on an upsert's insert and on an update, with new. */
Test (let, find_and_modify_fields_see_the_let)
{
   char *db;
   mongoc_client_t *c = conf_open ("let", &db);
   bson_t r;
   const char *cmd = "{'findAndModify': 'c', 'query': {'_id': 'k'}, 'update': [{'$set': {'owner': '$$o', 'token': 5}}], "
                     "'upsert': true, 'new': true, "
                     "'fields': {'_id': 0, 'token': 1, 'mine': {'$eq': ['$owner', '$$o']}}, 'let': {'o': 'me'}}";
   conf_ok (c, db, cmd, &r);
   char *j = conf_json (&r);
   cr_assert (conf_bool (&r, "value.mine"), "%s", j);
   cr_assert_eq (conf_int (&r, "value.token"), 5, "%s", j);
   cr_assert_eq (conf_type (&r, "value._id"), BSON_TYPE_EOD, "%s", j);
   cr_assert_eq (conf_type (&r, "value.owner"), BSON_TYPE_EOD, "the owner itself is not returned: %s", j);
   bson_free (j);
   bson_destroy (&r);
   /* Someone else's: the same projection says false. */
   conf_ok (c, db,
            "{'findAndModify': 'c', 'query': {'_id': 'k'}, 'update': [{'$set': {'n': 1}}], 'new': true, "
            "'fields': {'_id': 0, 'token': 1, 'mine': {'$eq': ['$owner', '$$o']}}, 'let': {'o': 'other'}}",
            &r);
   cr_assert_not (conf_bool (&r, "value.mine"));
   bson_destroy (&r);
   /* An undefined variable in 'fields' fails at parse time: nothing is written. */
   conf_cmd_error (c, db,
                   "{'findAndModify': 'c', 'query': {'_id': 'k'}, 'update': [{'$set': {'n': 2}}], "
                   "'fields': {'mine': {'$eq': ['$owner', '$$nope']}}, 'let': {'o': 'me'}}",
                   17276, NULL);
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 'k', 'n': 1}"), 1, "the failed command wrote");
   conf_close (c, db);
}
