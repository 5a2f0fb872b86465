/* SPDX-License-Identifier: Apache-2.0 */
/* Array expression operators the semaphore and reader/writer lock pipelines use:
 * $filter, $map, $concatArrays, $size, $in on an array field path, $max over an array.
 *
 * References:
 * - Manual "$filter (aggregation)": {input, as (optional, default "this"), cond}; "If
 *   input resolves to a null value or refers to a missing field, $filter returns null".
 *   src/mongo/db/pipeline/expression.cpp ExpressionFilter::parse: 28646 "$filter only
 *   supports an object as its argument", 28647 "Unrecognized parameter to $filter", 28648
 *   "Missing 'input' parameter to $filter", 28650 "Missing 'cond' parameter to $filter";
 *   evaluate: nullish input gives null, else 28651 "input to $filter must be an array not
 *   <type>". The 'as' variable is defined for cond only (vpsSub), so $$name elsewhere is
 *   17276 "Use of undefined variable".
 * - Manual "$map (aggregation)": {input, as (optional, "this"), in}; null or missing input
 *   gives null. expression.cpp ExpressionMap::parse: 16878 (not an object), 16879
 *   (unrecognized parameter), 16880 (missing 'input'), 16882 (missing 'in'); evaluate:
 *   16883 "input to $map must be an array not <type>".
 * - Manual "$concatArrays": "If any argument resolves to a value of null or refers to a
 *   field that is missing, $concatArrays returns null"; expression.cpp
 *   ExpressionConcatArrays::evaluate: 28664 "$concatArrays only supports arrays, not <type>".
 * - Manual "$size (aggregation)": "The argument for $size must resolve to an array. If
 *   the argument ... is missing, or does not resolve to an array, $size errors";
 *   ExpressionSize::evaluate: 17124.
 * - Manual "$in (aggregation)": the second operand must resolve to an array;
 *   ExpressionIn::evaluate: 40081 "$in requires an array as a second argument".
 * - Manual "$max (aggregation)": "With a single expression as its operand, if the
 *   expression resolves to an array, $max traverses into the array"; an empty array gives null.
 * - Manual "Field Paths": "$a.b" on an array of documents resolves to the array of the b
 *   values.
 * Parse errors are raised whether or not a document matches (rule 21); run-time type
 * errors are tested with field paths over a stored document, so that no server folds a
 * constant at parse time. */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (array_ops, .init = conf_init, .fini = conf_fini, .timeout = 60);

static void
setup (mongoc_client_t *c, const char *db)
{
   conf_ok (c, db,
            "{'insert': 'c', 'documents': [{'_id': 1, 's': 'str', 'n': 5, 'nul': null, "
            "'hs': [{'o': 'a', 'e': 1}, {'o': 'b', 'e': 7}, {'o': 'c', 'e': 3}], 'xs': [1, 2], 'ys': [3]}]}",
            NULL);
}

/* Runs an aggregate $project of spec on document 1 and returns the result document. */
static void
project (mongoc_client_t *c, const char *db, const char *spec, bson_t *reply)
{
   char *cmd = bson_strdup_printf (
      "{'aggregate': 'c', 'pipeline': [{'$match': {'_id': 1}}, {'$project': {'_id': 0, 'r': %s}}], 'cursor': {}}",
      spec);
   conf_ok (c, db, cmd, reply);
   bson_free (cmd);
}

Test (array_ops, filter_map_concat_values)
{
   char *db;
   mongoc_client_t *c = conf_open ("arr", &db);
   setup (c, db);
   bson_t r;
   /* $filter with 'as', then the default $$this; $size of the result. */
   project (c, db, "{'$filter': {'input': '$hs', 'as': 'h', 'cond': {'$gt': ['$$h.e', 2]}}}", &r);
   char *s = conf_json (&r);
   cr_assert_eq (conf_array_len (&r, "cursor.firstBatch.0.r"), 2, "%s", s);
   cr_assert_str_eq (conf_str (&r, "cursor.firstBatch.0.r.0.o"), "b", "%s", s);
   cr_assert_str_eq (conf_str (&r, "cursor.firstBatch.0.r.1.o"), "c", "order kept: %s", s);
   bson_free (s);
   bson_destroy (&r);
   project (c, db, "{'$size': {'$filter': {'input': '$xs', 'cond': {'$eq': ['$$this', 2]}}}}", &r);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0.r"), 1);
   bson_destroy (&r);
   /* $map builds objects per element; '$hs.o' is the array of the o values. */
   project (c, db, "{'$map': {'input': '$hs', 'as': 'h', 'in': {'k': '$$h.o', 'big': {'$gt': ['$$h.e', 2]}}}}", &r);
   s = conf_json (&r);
   cr_assert_eq (conf_array_len (&r, "cursor.firstBatch.0.r"), 3, "%s", s);
   cr_assert_str_eq (conf_str (&r, "cursor.firstBatch.0.r.2.k"), "c", "%s", s);
   cr_assert (!conf_bool (&r, "cursor.firstBatch.0.r.0.big"), "%s", s);
   cr_assert (conf_bool (&r, "cursor.firstBatch.0.r.1.big"), "%s", s);
   bson_free (s);
   bson_destroy (&r);
   project (c, db, "{'$in': ['b', '$hs.o']}", &r);
   cr_assert (conf_bool (&r, "cursor.firstBatch.0.r"), "$in on a field path over an array of documents");
   bson_destroy (&r);
   project (c, db, "{'$in': ['z', '$hs.o']}", &r);
   cr_assert (!conf_bool (&r, "cursor.firstBatch.0.r"));
   bson_destroy (&r);
   project (c, db, "{'$max': '$hs.e'}", &r);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0.r"), 7, "$max over an array");
   bson_destroy (&r);
   project (c, db, "{'$max': {'$filter': {'input': '$xs', 'cond': {'$gt': ['$$this', 9]}}}}", &r);
   cr_assert_eq (conf_type (&r, "cursor.firstBatch.0.r"), BSON_TYPE_NULL, "$max of an empty array is null");
   bson_destroy (&r);
   project (c, db, "{'$concatArrays': ['$xs', '$ys', [{'$add': ['$n', 1]}]]}", &r);
   s = conf_json (&r);
   cr_assert_eq (conf_array_len (&r, "cursor.firstBatch.0.r"), 4, "%s", s);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0.r.2"), 3, "%s", s);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0.r.3"), 6, "array literal elements are expressions: %s", s);
   bson_free (s);
   bson_destroy (&r);
   /* Nullish inputs give null. */
   const char *nulls[] = {
      "{'$filter': {'input': '$missing', 'cond': true}}",
      "{'$filter': {'input': '$nul', 'cond': true}}",
      "{'$map': {'input': '$missing', 'in': 1}}",
      "{'$concatArrays': ['$xs', '$missing']}",
      "{'$concatArrays': ['$nul', '$xs']}",
   };
   for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++) {
      project (c, db, nulls[i], &r);
      s = conf_json (&r);
      cr_assert_eq (conf_type (&r, "cursor.firstBatch.0.r"), BSON_TYPE_NULL, "%s: %s", nulls[i], s);
      bson_free (s);
      bson_destroy (&r);
   }
   conf_close (c, db);
}

Test (array_ops, runtime_type_errors)
{
   char *db;
   mongoc_client_t *c = conf_open ("arr", &db);
   setup (c, db);
   struct {
      const char *spec;
      int32_t code;
   } cases[] = {
      {"{'$filter': {'input': '$s', 'cond': true}}", 28651},
      {"{'$filter': {'input': '$n', 'as': 'x', 'cond': true}}", 28651},
      {"{'$map': {'input': '$s', 'in': 1}}", 16883},
      {"{'$concatArrays': ['$xs', '$n']}", 28664},
      {"{'$size': '$missing'}", 17124},
      {"{'$size': '$s'}", 17124},
      {"{'$in': [1, '$n']}", 40081},
      {"{'$in': [1, '$missing']}", 40081},
   };
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      char *cmd = bson_strdup_printf (
         "{'aggregate': 'c', 'pipeline': [{'$project': {'r': %s}}], 'cursor': {}}", cases[i].spec);
      conf_cmd_error (c, db, cmd, cases[i].code, NULL);
      bson_free (cmd);
   }
   /* The same in a pipeline update (findAndModify): the command fails. */
   conf_cmd_error (c, db,
                   "{'findAndModify': 'c', 'query': {'_id': 1}, 'update': [{'$set': {'r': "
                   "{'$filter': {'input': '$s', 'cond': true}}}}]}",
                   28651, NULL);
   conf_close (c, db);
}

Test (array_ops, parse_errors_without_documents)
{
   char *db;
   mongoc_client_t *c = conf_open ("arr", &db);
   struct {
      const char *spec;
      int32_t code;
   } cases[] = {
      {"{'$filter': [1]}", 28646},
      {"{'$filter': {'input': [], 'cond': true, 'bogus': 1}}", 28647},
      {"{'$filter': {'cond': true}}", 28648},
      {"{'$filter': {'input': []}}", 28650},
      {"{'$filter': {'input': [], 'as': 'x', 'cond': '$$y'}}", 17276},
      {"{'$filter': {'input': '$$x', 'as': 'x', 'cond': true}}", 17276},
      {"{'$map': 'x'}", 16878},
      {"{'$map': {'input': [], 'in': 1, 'bogus': 1}}", 16879},
      {"{'$map': {'in': 1}}", 16880},
      {"{'$map': {'input': []}}", 16882},
      {"{'$map': {'input': [], 'in': '$$nope'}}", 17276},
   };
   /* On an empty collection and with a filter matching nothing: parse time. */
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      char *cmd = bson_strdup_printf (
         "{'aggregate': 'c', 'pipeline': [{'$project': {'r': %s}}], 'cursor': {}}", cases[i].spec);
      conf_cmd_error (c, db, cmd, cases[i].code, NULL);
      bson_free (cmd);
      cmd = bson_strdup_printf (
         "{'findAndModify': 'c', 'query': {'_id': 'none'}, 'update': [{'$set': {'r': %s}}]}", cases[i].spec);
      conf_cmd_error (c, db, cmd, cases[i].code, NULL);
      bson_free (cmd);
   }
   /* An 'as' that is not a valid variable name: FailedToParse (9) in
    * variable_validation.cpp (recent servers), 16867 in older ones: any refusal. */
   conf_cmd_refused (c, db,
                     "{'aggregate': 'c', 'pipeline': [{'$project': {'r': {'$filter': {'input': [], 'as': 'Bad', "
                     "'cond': true}}}}], 'cursor': {}}");
   conf_cmd_refused (c, db,
                     "{'aggregate': 'c', 'pipeline': [{'$project': {'r': {'$map': {'input': [], 'as': '', "
                     "'in': 1}}}}], 'cursor': {}}");
   /* The variable of $filter is not visible after it. */
   conf_cmd_error (c, db,
                   "{'aggregate': 'c', 'pipeline': [{'$project': {'r': {'$filter': {'input': [], 'cond': true}}, "
                   "'q': '$$this'}}], 'cursor': {}}",
                   17276, NULL);
   conf_close (c, db);
}

/* The shape of the semaphore's acquire: an upsert whose pipeline drops expired entries by
 * $$NOW and appends one only while fewer than N remain. */
Test (array_ops, upsert_pipeline_keeps_at_most_n)
{
   char *db;
   mongoc_client_t *c = conf_open ("arr", &db);
   const char *who[] = {"a", "b", "c"};
   for (int i = 0; i < 3; i++) {
      char *cmd = bson_strdup_printf (
         "{'findAndModify': 'c', 'query': {'_id': 'k'}, 'upsert': true, 'new': true, 'update': ["
         "{'$set': {'live': {'$filter': {'input': {'$ifNull': ['$hs', []]}, 'as': 'h', "
         "'cond': {'$gt': ['$$h.e', '$$NOW']}}}}}, "
         "{'$set': {'hs': {'$cond': [{'$lt': [{'$size': '$live'}, 2]}, "
         "{'$concatArrays': ['$live', [{'o': '%s', 'e': {'$add': ['$$NOW', 60000]}}]]}, '$live']}}}, "
         "{'$unset': 'live'}]}",
         who[i]);
      bson_t r;
      conf_ok (c, db, cmd, &r);
      char *s = conf_json (&r);
      cr_assert_eq (conf_array_len (&r, "value.hs"), i < 2 ? i + 1 : 2, "%s", s);
      cr_assert_eq (conf_type (&r, "value.live"), BSON_TYPE_EOD, "%s", s);
      bson_free (s);
      bson_destroy (&r);
      bson_free (cmd);
   }
   /* An entry whose expiry has passed is dropped. */
   conf_ok (c, db,
            "{'update': 'c', 'updates': [{'q': {'_id': 'k'}, 'u': [{'$set': {'hs': {'$map': {'input': '$hs', "
            "'in': {'o': '$$this.o', 'e': {'$cond': [{'$eq': ['$$this.o', 'a']}, {'$subtract': ['$$NOW', 1]}, "
            "'$$this.e']}}}}}}]}]}",
            NULL);
   bson_t r;
   conf_ok (c, db,
            "{'findAndModify': 'c', 'query': {'_id': 'k'}, 'new': true, 'update': ["
            "{'$set': {'hs': {'$filter': {'input': '$hs', 'as': 'h', 'cond': {'$gt': ['$$h.e', '$$NOW']}}}}}]}",
            &r);
   char *s = conf_json (&r);
   cr_assert_eq (conf_array_len (&r, "value.hs"), 1, "%s", s);
   cr_assert_str_eq (conf_str (&r, "value.hs.0.o"), "b", "%s", s);
   bson_free (s);
   bson_destroy (&r);
   conf_close (c, db);
}
