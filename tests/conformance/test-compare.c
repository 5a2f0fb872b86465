/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 12: comparisons follow the BSON type order MinKey < missing/null < numbers <
 * strings < objects < arrays < binary < ObjectId < booleans < dates < timestamps <
 * regex < MaxKey - in aggregation expressions (so {$lte: ["$expiresAt", "$$NOW"]} is
 * true when expiresAt is missing or null), and in sort order; query operators instead
 * use type bracketing ({$gt: 6} only matches numbers, {$lte: <date>} only dates).
 *
 * References: manual "Comparison/Sort Order" (reference/bson-type-comparison-order) for
 * the order, "numbers are compared by value across numeric types", and "query operators
 * ... only for documents where the BSON type of the target field matches the type of the
 * query operand" (type bracketing; manual "Comparison Query Operators"); "{ field: null }
 * matches documents whose field is null or missing" (manual "Query for Null or Missing
 * Fields"); src/mongo/bson/bsontypes.cpp canonicalizeBSONType gives the order (MinKey -1,
 * EOO/undefined 0, null 5, numbers 10, string 15, object 20, array 25, binData 30, OID 35,
 * bool 40, date 45, timestamp 47, regex 50, MaxKey 127). */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (compare, .init = conf_init, .fini = conf_fini, .timeout = 60);

/* One value of each type, ascending. */
static const char *const ordered[] = {
   "{'$minKey': 1}",
   "null",
   "5",
   "'abc'",
   "{'x': 1}",
   "[1, 2]",
   "{'$binary': {'base64': 'AQI=', 'subType': '00'}}",
   "{'$oid': '000000000000000000000000'}",
   "false",
   "{'$date': {'$numberLong': '0'}}",
   "{'$timestamp': {'t': 1, 'i': 1}}",
   "{'$regularExpression': {'pattern': 'a', 'options': ''}}",
   "{'$maxKey': 1}",
};
#define N_ORDERED ((int) (sizeof ordered / sizeof ordered[0]))

/* Extreme neighbours across brackets: a huge number is still below the empty string, etc. */
static const char *const extremes[][2] = {
   {"{'$numberDecimal': '1E+6000'}", "''"},
   {"{'$numberDouble': 'Infinity'}", "''"},
   {"'\\uffff\\uffff'", "{}"},
   {"{'z': 'z'}", "[]"},
   {"[{'$maxKey': 1}]", "{'$binary': {'base64': '', 'subType': '00'}}"},
   {"{'$binary': {'base64': '////////', 'subType': '80'}}", "{'$oid': '000000000000000000000000'}"},
   {"{'$oid': 'ffffffffffffffffffffffff'}", "false"},
   {"true", "{'$date': {'$numberLong': '-62135596800000'}}"},
   {"{'$date': {'$numberLong': '253402300799999'}}", "{'$timestamp': {'t': 0, 'i': 1}}"},
   {"{'$timestamp': {'t': 4294967295, 'i': 4294967295}}", "{'$regularExpression': {'pattern': '', 'options': ''}}"},
   {"null", "{'$numberDouble': '-Infinity'}"},
   {"null", "{'$numberDecimal': '-1E+6000'}"},
};
#define N_EXTREMES ((int) (sizeof extremes / sizeof extremes[0]))

static void
append_pair (bson_string_t *p, const char *name, const char *a, const char *b)
{
   bson_string_append_printf (p,
                              ", '%s_lt': {'$lt': [{'$literal': %s}, {'$literal': %s}]}"
                              ", '%s_gt': {'$gt': [{'$literal': %s}, {'$literal': %s}]}"
                              ", '%s_cmp': {'$cmp': [{'$literal': %s}, {'$literal': %s}]}",
                              name, a, b, name, b, a, name, a, b);
}

static void
check_pair (const bson_t *v, const char *name)
{
   char path[64];
   char *s = conf_json (v);
   bson_snprintf (path, sizeof path, "%s_lt", name);
   cr_assert (conf_bool (v, path), "%s is false: %s", path, s);
   bson_snprintf (path, sizeof path, "%s_gt", name);
   cr_assert (conf_bool (v, path), "%s is false: %s", path, s);
   bson_snprintf (path, sizeof path, "%s_cmp", name);
   cr_assert_eq (conf_int (v, path), -1, "%s: %s", path, s);
   bson_free (s);
}

Test (compare, expression_order_follows_bson_type_order)
{
   char *db;
   mongoc_client_t *c = conf_open ("cmp", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   bson_string_t *p = bson_string_new ("{'aggregate': 'c', 'cursor': {}, 'pipeline': [{'$project': {'_id': 0");
   for (int i = 0; i < N_ORDERED; i++) {
      for (int j = i + 1; j < N_ORDERED; j++) {
         char name[32];
         bson_snprintf (name, sizeof name, "o%d_%d", i, j);
         append_pair (p, name, ordered[i], ordered[j]);
      }
   }
   for (int i = 0; i < N_EXTREMES; i++) {
      char name[32];
      bson_snprintf (name, sizeof name, "x%d", i);
      append_pair (p, name, extremes[i][0], extremes[i][1]);
   }
   bson_string_append (p, "}}]}");
   bson_t r, v;
   conf_ok (c, db, p->str, &r);
   conf_doc (&r, "cursor.firstBatch.0", &v);
   for (int i = 0; i < N_ORDERED; i++) {
      for (int j = i + 1; j < N_ORDERED; j++) {
         char name[32];
         bson_snprintf (name, sizeof name, "o%d_%d", i, j);
         check_pair (&v, name);
      }
   }
   for (int i = 0; i < N_EXTREMES; i++) {
      char name[32];
      bson_snprintf (name, sizeof name, "x%d", i);
      check_pair (&v, name);
   }
   bson_destroy (&r);
   bson_string_free (p, true);
   conf_close (c, db);
}

Test (compare, missing_and_null_are_below_every_date)
{
   char *db;
   mongoc_client_t *c = conf_open ("cmp", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'n': null}]}", NULL);
   bson_t r, v;
   conf_ok (c, db,
            "{'aggregate': 'c', 'cursor': {}, 'pipeline': [{'$project': {"
            "'missing_lte_now': {'$lte': ['$expiresAt', '$$NOW']}, "
            "'null_lte_now': {'$lte': ['$n', '$$NOW']}, "
            "'missing_lt_epoch': {'$lt': ['$expiresAt', {'$literal': {'$date': {'$numberLong': '-62135596800000'}}}]}, "
            "'missing_lt_number': {'$lt': ['$expiresAt', -1e300]}, "
            "'minkey_lt_missing': {'$lt': [{'$literal': {'$minKey': 1}}, '$expiresAt']}, "
            "'minkey_lt_null': {'$lt': [{'$literal': {'$minKey': 1}}, '$n']}, "
            "'now_gt_missing': {'$gt': ['$$NOW', '$expiresAt']}, "
            "'missing_eq_missing': {'$eq': ['$expiresAt', '$other']}"
            "}}]}",
            &r);
   conf_doc (&r, "cursor.firstBatch.0", &v);
   char *s = conf_json (&v);
   cr_assert (conf_bool (&v, "missing_lte_now"), "{$lte: [missing, $$NOW]} must be true: %s", s);
   cr_assert (conf_bool (&v, "null_lte_now"), "%s", s);
   cr_assert (conf_bool (&v, "missing_lt_epoch"), "%s", s);
   cr_assert (conf_bool (&v, "missing_lt_number"), "%s", s);
   cr_assert (conf_bool (&v, "minkey_lt_missing"), "%s", s);
   cr_assert (conf_bool (&v, "minkey_lt_null"), "%s", s);
   cr_assert (conf_bool (&v, "now_gt_missing"), "%s", s);
   cr_assert (conf_bool (&v, "missing_eq_missing"), "%s", s);
   bson_free (s);
   bson_destroy (&r);
   conf_close (c, db);
}

/* Documents with one value of each type in v; past/future are the server's now ± 1 day. */
static int64_t
insert_mixed (mongoc_client_t *c, const char *db)
{
   int64_t now = conf_server_time_ms (c);
   char *cmd = bson_strdup_printf (
      "{'insert': 'c', 'documents': ["
      "{'_id': 'minkey', 'v': {'$minKey': 1}}, {'_id': 'null', 'v': null}, {'_id': 'missing'}, "
      "{'_id': 'i5', 'v': 5}, {'_id': 'l20', 'v': {'$numberLong': '20'}}, {'_id': 'd7', 'v': 7.5}, "
      "{'_id': 'dec8', 'v': {'$numberDecimal': '8'}}, {'_id': 'i10', 'v': 10}, "
      "{'_id': 'sabc', 'v': 'abc'}, {'_id': 'sxyz', 'v': 'xyz'}, {'_id': 'obj', 'v': {'x': 1}}, "
      "{'_id': 'bin', 'v': {'$binary': {'base64': 'AQI=', 'subType': '00'}}}, "
      "{'_id': 'oid', 'v': {'$oid': '5f0000000000000000000000'}}, {'_id': 'true', 'v': true}, "
      "{'_id': 'past', 'v': {'$date': {'$numberLong': '%" PRId64 "'}}}, "
      "{'_id': 'future', 'v': {'$date': {'$numberLong': '%" PRId64 "'}}}, "
      "{'_id': 'ts', 'v': {'$timestamp': {'t': 5, 'i': 1}}}, "
      "{'_id': 're', 'v': {'$regularExpression': {'pattern': 'x', 'options': ''}}}, "
      "{'_id': 'maxkey', 'v': {'$maxKey': 1}}]}",
      now - 86400000, now + 86400000);
   conf_ok (c, db, cmd, NULL);
   bson_free (cmd);
   return now;
}

/* Asserts the ids found (in the given order when sorted, else as a set in _id order). */
static void
expect_ids (mongoc_client_t *c, const char *db, const char *filter, const char *sort, const char *const *ids, int n)
{
   int got;
   bson_t **docs = conf_find_all (c, db, "c", filter, sort, &got);
   bson_string_t *g = bson_string_new ("");
   for (int i = 0; i < got; i++) {
      bson_string_append_printf (g, "%s ", conf_str (docs[i], "_id"));
   }
   bson_string_t *w = bson_string_new ("");
   for (int i = 0; i < n; i++) {
      bson_string_append_printf (w, "%s ", ids[i]);
   }
   cr_assert_str_eq (g->str, w->str, "filter %s sort %s", filter, sort ? sort : "{_id: 1}");
   bson_string_free (g, true);
   bson_string_free (w, true);
   conf_docs_free (docs, got);
}

#define IDS(...) ((const char *const[]){__VA_ARGS__}), ((int) (sizeof ((const char *const[]){__VA_ARGS__}) / sizeof (const char *)))

Test (compare, query_operators_use_type_brackets)
{
   char *db;
   mongoc_client_t *c = conf_open ("cmp", &db);
   int64_t now = insert_mixed (c, db);
   /* Results in _id order (string order of the ids). */
   expect_ids (c, db, "{'v': {'$gt': 6}}", NULL, IDS ("d7", "dec8", "i10", "l20"));
   expect_ids (c, db, "{'v': {'$gte': 5, '$lte': 8}}", NULL, IDS ("d7", "dec8", "i5"));
   expect_ids (c, db, "{'v': {'$lt': 'b'}}", NULL, IDS ("sabc"));
   expect_ids (c, db, "{'v': {'$gt': 'b'}}", NULL, IDS ("sxyz"));
   expect_ids (c, db, "{'v': {'$gt': false}}", NULL, IDS ("true"));
   expect_ids (c, db, "{'v': null}", NULL, IDS ("missing", "null"));
   expect_ids (c, db, "{'v': {'$exists': false}}", NULL, IDS ("missing"));
   expect_ids (c, db, "{'v': {'$in': [5, 'abc', null]}}", NULL, IDS ("i5", "missing", "null", "sabc"));
   char *f = bson_strdup_printf ("{'v': {'$lte': {'$date': {'$numberLong': '%" PRId64 "'}}}}", now);
   expect_ids (c, db, f, NULL, IDS ("past"));
   bson_free (f);
   f = bson_strdup_printf ("{'v': {'$gt': {'$date': {'$numberLong': '%" PRId64 "'}}}}", now);
   expect_ids (c, db, f, NULL, IDS ("future"));
   bson_free (f);
   /* $expr is an aggregation expression: no brackets, full type order; missing/null are
    * below a date, timestamps/regex/MaxKey above. */
   expect_ids (c, db, "{'$expr': {'$lte': ['$v', '$$NOW']}}", NULL,
               IDS ("bin", "d7", "dec8", "i10", "i5", "l20", "minkey", "missing", "null", "obj", "oid", "past", "sabc",
                    "sxyz", "true"));
   expect_ids (c, db, "{'$expr': {'$gt': ['$v', '$$NOW']}}", NULL, IDS ("future", "maxkey", "re", "ts"));
   conf_close (c, db);
}

Test (compare, sort_follows_bson_type_order)
{
   char *db;
   mongoc_client_t *c = conf_open ("cmp", &db);
   (void) insert_mixed (c, db);
   /* null and missing sort equal; the _id tie-break orders them. */
   expect_ids (c, db, "{}", "{'v': 1, '_id': 1}",
               IDS ("minkey", "missing", "null", "i5", "d7", "dec8", "i10", "l20", "sabc", "sxyz", "obj", "bin", "oid",
                    "true", "past", "future", "ts", "re", "maxkey"));
   expect_ids (c, db, "{}", "{'v': -1, '_id': 1}",
               IDS ("maxkey", "re", "ts", "future", "past", "true", "oid", "bin", "obj", "sxyz", "sabc", "l20", "i10",
                    "dec8", "d7", "i5", "missing", "null", "minkey"));
   /* aggregate $sort agrees. */
   bson_t r;
   conf_ok (c, db,
            "{'aggregate': 'c', 'cursor': {}, 'pipeline': [{'$sort': {'v': 1, '_id': 1}}, {'$project': {'_id': 1}}]}",
            &r);
   static const char *const want[] = {"minkey", "missing", "null", "i5",  "d7",   "dec8", "i10",
                                      "l20",    "sabc",    "sxyz", "obj", "bin",  "oid",  "true",
                                      "past",   "future",  "ts",   "re",  "maxkey"};
   cr_assert_eq (conf_array_len (&r, "cursor.firstBatch"), 19);
   for (int i = 0; i < 19; i++) {
      char path[64];
      bson_snprintf (path, sizeof path, "cursor.firstBatch.%d._id", i);
      cr_assert_str_eq (conf_str (&r, path), want[i], "aggregate $sort position %d", i);
   }
   bson_destroy (&r);
   conf_close (c, db);
}
