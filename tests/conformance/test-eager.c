/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 21: the whole command is parsed and validated before any document is read, so a
 * bad operator, a type error in an update modifier, conflicting update paths, an unknown
 * stage or expression fail the same way whether or not a document matches, and on a
 * missing collection too. A server that validates per matched document passes a broken
 * "no match" path (a stale release, a renew after a takeover) that fails in production.
 *
 * References (MongoDB server source):
 * - src/mongo/db/matcher/expression_parser.cpp: an unknown query operator is 2 BadValue
 *   ("unknown operator", "unknown top level operator"); $in needs an array (2);
 *   src/mongo/db/matcher/expression_leaf.cpp RegexMatchExpression: an invalid pattern is
 *   51091 "Regular expression is invalid", an unknown option letter 51108, flags given both
 *   in a regex and in $options 51075 (also FerretDB's compatibility tests, recorded from
 *   MongoDB: "invalid flag in regex options: 1", Location51108). The filter becomes a CanonicalQuery (or a
 *   ParsedUpdate / ParsedDelete) before the collection is looked at.
 * - src/mongo/db/update/arithmetic_node.cpp init: $inc/$mul with a non-numeric argument is
 *   14 TypeMismatch; update_object_node.cpp / update_driver.cpp: two operators on one
 *   path are 40 ConflictingUpdateOperators; both raised while parsing the update.
 * - src/mongo/db/pipeline/document_source.cpp: an unknown stage is 40324;
 *   expression.cpp parseExpression: an unknown expression is 168 InvalidPipelineOperator;
 *   variables.cpp: an undefined $$variable is 17276, raised while parsing;
 *   accumulator registration: an unknown $group accumulator is 15952.
 * - src/mongo/db/query/projection_parser.cpp: inclusion and exclusion mixed is 31254;
 *   src/mongo/db/pipeline/document_source_sort.cpp: a sort key other than 1/-1 is 15975.
 * - Manual "Write Command Errors": errors of one update/delete statement come back in
 *   writeErrors (mltest_cmd_fails accepts either form). */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (eager, .init = conf_init, .fini = conf_fini, .timeout = 60);

/* Runs find with filter (built by hand: the JSON reader would turn {$regex, $options}
 * into a BSON regex) on coll and returns ok; reply is always initialised. */
static bool
find_with (mongoc_client_t *c, const char *db, const char *coll, bson_t *filter, bson_t *reply)
{
   bson_t *cmd = BCON_NEW ("find", BCON_UTF8 (coll), "filter", BCON_DOCUMENT (filter));
   bson_error_t error;
   bool ok = mongoc_client_command_simple (c, db, cmd, NULL, reply, &error);
   cr_assert (ok || error.domain == MONGOC_ERROR_SERVER, "%s", error.message);
   bson_destroy (cmd);
   bson_destroy (filter);
   return ok;
}

Test (eager, regex_options_are_checked_then_applied)
{
   char *db;
   mongoc_client_t *c = conf_open ("eag", &db);
   bson_t r;
   /* An unknown flag: 51108, on a missing collection. */
   cr_assert_not (find_with (c, db, "none", BCON_NEW ("a", "{", "$regex", BCON_UTF8 ("x"), "$options", BCON_UTF8 ("z"), "}"),
                             &r));
   cr_assert_eq (conf_int (&r, "code"), 51108);
   bson_destroy (&r);
   /* Flags both in a regex and in $options: 51075. */
   cr_assert_not (find_with (c, db, "none",
                             BCON_NEW ("a", "{", "$regex", BCON_REGEX ("x", "m"), "$options", BCON_UTF8 ("i"), "}"), &r));
   cr_assert_eq (conf_int (&r, "code"), 51075);
   bson_destroy (&r);
   /* $options applies to a string pattern and to a regex without flags. */
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 'X'}]}", NULL);
   cr_assert (find_with (c, db, "c", BCON_NEW ("a", "{", "$regex", BCON_UTF8 ("x"), "$options", BCON_UTF8 ("i"), "}"), &r));
   cr_assert_eq (conf_array_len (&r, "cursor.firstBatch"), 1);
   bson_destroy (&r);
   cr_assert (find_with (c, db, "c", BCON_NEW ("a", "{", "$regex", BCON_REGEX ("x", ""), "$options", BCON_UTF8 ("i"), "}"),
                         &r));
   cr_assert_eq (conf_array_len (&r, "cursor.firstBatch"), 1, "$options ignored next to a regex without flags");
   bson_destroy (&r);
   conf_close (c, db);
}

Test (eager, find_filters_fail_without_documents)
{
   char *db;
   mongoc_client_t *c = conf_open ("eag", &db);
   /* A missing collection. */
   conf_cmd_error (c, db, "{'find': 'none', 'filter': {'$bogus': 1}}", 2, NULL);
   conf_cmd_error (c, db, "{'find': 'none', 'filter': {'a': {'$bogus': 1}}}", 2, NULL);
   conf_cmd_error (c, db, "{'find': 'none', 'filter': {'a': {'$in': 5}}}", 2, NULL);
   conf_cmd_error (c, db, "{'find': 'none', 'filter': {'a': {'$type': 'nosuchtype'}}}", 2, NULL);
   conf_cmd_error (c, db, "{'find': 'none', 'filter': {'a': {'$regex': '('}}}", 51091, NULL);
   conf_cmd_error (c, db, "{'find': 'none', 'filter': {'$expr': {'$bogusOp': 1}}}", 168, NULL);
   conf_cmd_error (c, db, "{'find': 'none', 'filter': {'$expr': {'$eq': ['$a', '$$nosuchvar']}}}", 17276, NULL);
   conf_cmd_error (c, db, "{'find': 'none', 'filter': {}, 'projection': {'a': {'$bogusOp': 1}}}", 168, NULL);
   conf_cmd_error (c, db, "{'find': 'none', 'filter': {}, 'projection': {'a': 1, 'b': 0}}", 31254, NULL);

   /* A collection whose only document decides the filter before the bad part is reached. */
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}]}", NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {'$or': [{'_id': 1}, {'a': {'$bogus': 1}}]}}", 2, NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {'$and': [{'_id': 99}, {'a': {'$bogus': 1}}]}}", 2, NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {'_id': 99, 'a': {'$bogus': 1}}}", 2, NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {'_id': 99, 'a': {'$type': 'nosuchtype'}}}", 2, NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {'_id': 99, 'a': {'$elemMatch': {'$bogus': 1}}}}", 2, NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'filter': {'$or': [{'_id': 1}, {'$expr': {'$bogusOp': 1}}]}}", 168, NULL);
   conf_close (c, db);
}

Test (eager, updates_fail_without_a_match)
{
   char *db;
   mongoc_client_t *c = conf_open ("eag", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}]}", NULL);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 99}, 'u': {'$inc': {'a': 'x'}}}]}", 14);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 99}, 'u': {'$set': {'a': 1}, '$setOnInsert': {'a': 2}}}]}",
                     40);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 99}, 'u': [{'$bogusStage': {}}]}]}", 40324);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 99}, 'u': [{'$set': {'a': {'$bogusOp': 1}}}]}]}",
                     168);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 99}, 'u': {'$pop': {'a': 2}}}]}", 9);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 99}, 'u': {'$currentDate': {'a': 'now'}}}]}", 2);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'a': {'$bogus': 1}}, 'u': {'$set': {'b': 1}}}]}", 2);
   /* On a missing collection too, with and without upsert. */
   mltest_cmd_fails (c, db, "{'update': 'none', 'updates': [{'q': {'_id': 1}, 'u': {'$inc': {'a': 'x'}}}]}", 14);
   mltest_cmd_fails (c, db, "{'update': 'none', 'updates': [{'q': {'a': {'$bogus': 1}}, 'u': {'$set': {'b': 1}}}]}", 2);
   mltest_cmd_fails (c, db, "{'update': 'none', 'updates': [{'q': {'_id': 1}, 'u': [{'$bogusStage': {}}]}]}", 40324);
   /* Nothing was written by any of them. */
   cr_assert_eq (conf_count (c, db, "c", NULL), 1);
   cr_assert_eq (conf_count (c, db, "c", "{'a': 1, 'b': {'$exists': false}}"), 1);
   conf_close (c, db);
}

Test (eager, find_and_modify_fails_without_a_match)
{
   char *db;
   mongoc_client_t *c = conf_open ("eag", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}]}", NULL);
   conf_cmd_error (c, db, "{'findAndModify': 'c', 'query': {'_id': 99}, 'update': {'$inc': {'a': 'x'}}}", 14, NULL);
   conf_cmd_error (c, db, "{'findAndModify': 'none', 'query': {'_id': 99}, 'update': {'$inc': {'a': 'x'}}}", 14, NULL);
   conf_cmd_error (c, db,
                   "{'findAndModify': 'c', 'query': {'_id': 99}, 'update': {'$set': {'a': 1}, '$setOnInsert': {'a': 2}}}",
                   40, NULL);
   conf_cmd_error (c, db, "{'findAndModify': 'c', 'query': {'_id': 99}, 'update': [{'$bogusStage': {}}]}", 40324, NULL);
   conf_cmd_error (c, db, "{'findAndModify': 'c', 'query': {'$or': [{'_id': 1}, {'a': {'$bogus': 1}}]}, 'remove': true}", 2,
                   NULL);
   conf_cmd_error (c, db, "{'findAndModify': 'c', 'query': {'_id': 99}, 'remove': true, 'fields': {'a': 1, 'b': 0}}", 31254,
                   NULL);
   conf_cmd_error (c, db, "{'findAndModify': 'c', 'query': {'_id': 99}, 'remove': true, 'sort': {'a': 2}}", 15975, NULL);
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 1, 'a': 1}"), 1, "a failing findAndModify changed the document");
   conf_close (c, db);
}

Test (eager, deletes_counts_and_distinct_parse_their_filter)
{
   char *db;
   mongoc_client_t *c = conf_open ("eag", &db);
   conf_ok (c, db, "{'create': 'empty'}", NULL);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}]}", NULL);
   mltest_cmd_fails (c, db, "{'delete': 'empty', 'deletes': [{'q': {'a': {'$bogus': 1}}, 'limit': 0}]}", 2);
   mltest_cmd_fails (c, db, "{'delete': 'c', 'deletes': [{'q': {'_id': 99, 'a': {'$bogus': 1}}, 'limit': 1}]}", 2);
   mltest_cmd_fails (c, db, "{'delete': 'c', 'deletes': [{'q': {'$or': [{'_id': 1}, {'a': {'$bogus': 1}}]}, 'limit': 1}]}", 2);
   cr_assert_eq (conf_count (c, db, "c", NULL), 1, "a failing delete removed a document");
   conf_cmd_error (c, db, "{'count': 'empty', 'query': {'a': {'$bogus': 1}}}", 2, NULL);
   conf_cmd_error (c, db, "{'count': 'c', 'query': {'_id': 99, 'a': {'$bogus': 1}}}", 2, NULL);
   conf_cmd_error (c, db, "{'distinct': 'empty', 'key': 'a', 'query': {'a': {'$bogus': 1}}}", 2, NULL);
   conf_cmd_error (c, db, "{'distinct': 'c', 'key': 'a', 'query': {'_id': 99, 'a': {'$bogus': 1}}}", 2, NULL);
   conf_close (c, db);
}

Test (eager, aggregations_fail_on_a_missing_collection)
{
   char *db;
   mongoc_client_t *c = conf_open ("eag", &db);
   conf_cmd_error (c, db, "{'aggregate': 'none', 'pipeline': [{'$project': {'a': {'$bogusOp': 1}}}], 'cursor': {}}", 168, NULL);
   conf_cmd_error (c, db, "{'aggregate': 'none', 'pipeline': [{'$match': {'a': {'$bogus': 1}}}], 'cursor': {}}", 2, NULL);
   conf_cmd_error (c, db, "{'aggregate': 'none', 'pipeline': [{'$addFields': {'a': '$$nosuchvar'}}], 'cursor': {}}", 17276,
                   NULL);
   conf_cmd_error (c, db, "{'aggregate': 'none', 'pipeline': [{'$group': {'_id': null, 'n': {'$bogusAcc': 1}}}], 'cursor': {}}",
                   15952, NULL);
   conf_cmd_error (c, db,
                   "{'aggregate': 'none', 'pipeline': [{'$match': {'a': 1}}, {'$set': {'b': {'$cond': [1, 2]}}}], "
                   "'cursor': {}}",
                   16020, NULL);
   /* A $match that drops every document does not hide a bad later stage. */
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}]}", NULL);
   conf_cmd_error (c, db,
                   "{'aggregate': 'c', 'pipeline': [{'$match': {'_id': 99}}, {'$project': {'a': {'$bogusOp': 1}}}], "
                   "'cursor': {}}",
                   168, NULL);
   conf_cmd_error (c, db,
                   "{'aggregate': 'c', 'pipeline': [{'$match': {'_id': 99}}, {'$match': {'$or': [{'a': 1}, {'b': "
                   "{'$bogus': 1}}]}}], 'cursor': {}}",
                   2, NULL);
   conf_close (c, db);
}
