/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 11: numbers keep their BSON type (int32, int64, double, decimal128 round-trip);
 * $add of a date and a number is a date; int64 arithmetic stays int64 and exact.
 *
 * References: BSON spec (bsonspec.org) types 0x10 int32, 0x12 int64, 0x01 double, 0x13
 * decimal128. Update operators: manual "$inc"/"$mul" and src/mongo/util/safe_num.cpp
 * (addInt32Int32: an overflowing int32 result is promoted to int64; int64 op int32 is
 * int64; any double makes a double; any decimal makes a decimal). Aggregation: manual
 * "$add" ("If one of the arguments is a date, $add treats the other arguments as
 * milliseconds to add to the date" and returns a date), "$subtract" (date - date is the
 * difference in milliseconds, date - number is a date), "$toLong", "$max" (returns the
 * maximum value as it is, type included); src/mongo/db/pipeline/expression.cpp
 * (ExpressionAdd/ExpressionMultiply: int + int overflowing becomes long; long stays long
 * unless it overflows). */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (types, .init = conf_init, .fini = conf_fini, .timeout = 60);

static bson_t *
doc1 (mongoc_client_t *c, const char *db)
{
   int n;
   bson_t **docs = conf_find_all (c, db, "c", "{'_id': 1}", NULL, &n);
   cr_assert_eq (n, 1);
   bson_t *d = bson_copy (docs[0]);
   conf_docs_free (docs, n);
   return d;
}

static void
check_decimal (const bson_t *d, const char *path, const char *want)
{
   bson_iter_t it;
   cr_assert (conf_find (d, path, &it) && BSON_ITER_HOLDS_DECIMAL128 (&it), "%s is not a decimal128", path);
   bson_decimal128_t dec;
   bson_iter_decimal128 (&it, &dec);
   char s[BSON_DECIMAL128_STRING];
   bson_decimal128_to_string (&dec, s);
   cr_assert_str_eq (s, want, "%s", path);
}

static void
check_round_trip (const bson_t *d)
{
   char *s = conf_json (d);
   cr_assert_eq (conf_int32 (d, "i32"), 7, "%s", s);
   cr_assert_eq (conf_int32 (d, "i32max"), INT32_MAX, "%s", s);
   cr_assert_eq (conf_int64 (d, "i64"), 7, "an int64 7 came back as another type: %s", s);
   cr_assert_eq (conf_int64 (d, "i64big"), INT64_C (9007199254740993), "2^53+1 lost precision: %s", s);
   cr_assert_eq (conf_int64 (d, "i64min"), INT64_MIN, "%s", s);
   cr_assert_eq (conf_double (d, "dbl"), 7.0, "a double 7.0 came back as another type: %s", s);
   cr_assert_eq (conf_double (d, "dblfrac"), 0.1, "%s", s);
   check_decimal (d, "dec", "7.10");
   check_decimal (d, "decbig", "1.000000000000000000000000000000001E+6000");
   bson_free (s);
}

Test (types, numbers_round_trip_with_their_type)
{
   char *db;
   mongoc_client_t *c = conf_open ("ty", &db);
   conf_ok (c, db,
            "{'insert': 'c', 'documents': [{'_id': 1, 'i32': 7, 'i32max': 2147483647, 'i64': {'$numberLong': '7'}, "
            "'i64big': {'$numberLong': '9007199254740993'}, 'i64min': {'$numberLong': '-9223372036854775808'}, "
            "'dbl': {'$numberDouble': '7.0'}, 'dblfrac': 0.1, 'dec': {'$numberDecimal': '7.10'}, "
            "'decbig': {'$numberDecimal': '1.000000000000000000000000000000001E+6000'}}]}",
            NULL);
   bson_t *d = doc1 (c, db);
   check_round_trip (d);
   bson_destroy (d);

   /* The same through findAndModify and an aggregation that passes the fields on. */
   bson_t r, v;
   conf_ok (c, db, "{'findAndModify': 'c', 'query': {'_id': 1}, 'update': {'$set': {'t': 1}}, 'new': true}", &r);
   conf_doc (&r, "value", &v);
   check_round_trip (&v);
   bson_destroy (&r);
   conf_ok (c, db, "{'aggregate': 'c', 'pipeline': [{'$addFields': {'u': 1}}], 'cursor': {}}", &r);
   conf_doc (&r, "cursor.firstBatch.0", &v);
   check_round_trip (&v);
   bson_destroy (&r);

   /* Queries match numbers by value across types, and $type tells them apart. */
   cr_assert_eq (conf_count (c, db, "c", "{'i64': 7, 'dbl': {'$numberLong': '7'}, 'i32': 7.0}"), 1);
   /* libbson's JSON reader takes {"$type": ...} for legacy binary, so build these in BSON. */
   mongoc_collection_t *coll = mongoc_client_get_collection (c, db, "c");
   bson_error_t error;
   bson_t *f = BCON_NEW ("i32", "{", "$type", "int", "}", "i64", "{", "$type", "long", "}", "dbl", "{", "$type",
                         "double", "}", "dec", "{", "$type", "decimal", "}");
   cr_assert_eq (mongoc_collection_count_documents (coll, f, NULL, NULL, NULL, &error), 1, "%s", error.message);
   bson_destroy (f);
   f = BCON_NEW ("i64", "{", "$type", "int", "}");
   cr_assert_eq (mongoc_collection_count_documents (coll, f, NULL, NULL, NULL, &error), 0, "%s", error.message);
   bson_destroy (f);
   f = BCON_NEW ("i32", "{", "$type", "long", "}");
   cr_assert_eq (mongoc_collection_count_documents (coll, f, NULL, NULL, NULL, &error), 0, "%s", error.message);
   bson_destroy (f);
   mongoc_collection_destroy (coll);
   conf_close (c, db);
}

Test (types, update_operators_keep_or_promote_types)
{
   char *db;
   mongoc_client_t *c = conf_open ("ty", &db);
   conf_ok (c, db,
            "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1, 'b': 2147483640, 'l': {'$numberLong': '5'}, 'd': 1, "
            "'e': 1, 'm': 65536, 'x': 5, 'y': 5}]}",
            NULL);
   conf_ok (c, db,
            "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$inc': {'a': 2, 'b': 10, 'l': 1, 'd': 0.5, "
            "'e': {'$numberDecimal': '1'}}, '$mul': {'m': 65536}, '$max': {'x': {'$numberLong': '10'}}, "
            "'$set': {'s': {'$numberLong': '3'}}, '$min': {'y': {'$numberLong': '9'}}}}]}",
            NULL);
   bson_t *d = doc1 (c, db);
   char *s = conf_json (d);
   cr_assert_eq (conf_int32 (d, "a"), 3, "int32 + int32 stays int32: %s", s);
   cr_assert_eq (conf_int64 (d, "b"), INT64_C (2147483650), "an int32 overflow becomes int64: %s", s);
   cr_assert_eq (conf_int64 (d, "l"), 6, "int64 + int32 stays int64: %s", s);
   cr_assert_eq (conf_double (d, "d"), 1.5, "int32 + double is a double: %s", s);
   check_decimal (d, "e", "2");
   cr_assert_eq (conf_int64 (d, "m"), INT64_C (4294967296), "$mul overflow becomes int64: %s", s);
   cr_assert_eq (conf_int64 (d, "x"), 10, "$max stores the larger value with its type: %s", s);
   cr_assert_eq (conf_int32 (d, "y"), 5, "$min keeps the smaller existing value: %s", s);
   cr_assert_eq (conf_int64 (d, "s"), 3, "%s", s);
   bson_free (s);
   bson_destroy (d);
   conf_close (c, db);
}

Test (types, aggregation_arithmetic_types)
{
   char *db;
   mongoc_client_t *c = conf_open ("ty", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   bson_t r, v;
   conf_ok (c, db,
            "{'aggregate': 'c', 'pipeline': [{'$project': {"
            "'ii': {'$add': [1, 2]}, "
            "'iover': {'$add': [2147483647, 1]}, "
            "'li': {'$add': [{'$numberLong': '1'}, 2]}, "
            "'ll': {'$multiply': [{'$numberLong': '3'}, {'$numberLong': '4'}]}, "
            "'id': {'$add': [1, 0.5]}, "
            "'now': '$$NOW', "
            "'date_plus': {'$add': ['$$NOW', 1000]}, "
            "'date_plus_long': {'$add': [{'$numberLong': '-1000'}, '$$NOW']}, "
            "'date_minus_num': {'$subtract': ['$$NOW', 500]}, "
            "'date_minus_date': {'$subtract': [{'$add': ['$$NOW', 1234]}, '$$NOW']}, "
            "'nowlong': {'$toLong': '$$NOW'}, "
            "'maxl': {'$max': [{'$numberLong': '5'}, {'$numberLong': '7'}]}, "
            "'maxmixed': {'$max': [{'$numberLong': '5'}, 9]}"
            "}}], 'cursor': {}}",
            &r);
   conf_doc (&r, "cursor.firstBatch.0", &v);
   char *s = conf_json (&v);
   cr_assert_eq (conf_int32 (&v, "ii"), 3, "%s", s);
   cr_assert_eq (conf_int64 (&v, "iover"), INT64_C (2147483648), "int32 overflow in $add becomes int64: %s", s);
   cr_assert_eq (conf_int64 (&v, "li"), 3, "%s", s);
   cr_assert_eq (conf_int64 (&v, "ll"), 12, "%s", s);
   cr_assert_eq (conf_double (&v, "id"), 1.5, "%s", s);
   int64_t now = conf_date (&v, "now");
   cr_assert_eq (conf_date (&v, "date_plus"), now + 1000, "date + number is a date: %s", s);
   cr_assert_eq (conf_date (&v, "date_plus_long"), now - 1000, "%s", s);
   cr_assert_eq (conf_date (&v, "date_minus_num"), now - 500, "%s", s);
   cr_assert_eq (conf_int64 (&v, "date_minus_date"), 1234, "date - date is int64 milliseconds: %s", s);
   cr_assert_eq (conf_int64 (&v, "nowlong"), now, "%s", s);
   cr_assert_eq (conf_int64 (&v, "maxl"), 7, "%s", s);
   cr_assert_eq (conf_int32 (&v, "maxmixed"), 9, "%s", s);
   bson_free (s);
   bson_destroy (&r);

   /* $group accumulators keep int64. */
   conf_ok (c, db,
            "{'insert': 'c', 'documents': [{'_id': 2, 'g': 1, 'v': {'$numberLong': '4000000000'}}, "
            "{'_id': 3, 'g': 1, 'v': {'$numberLong': '5000000000'}}]}",
            NULL);
   conf_ok (c, db,
            "{'aggregate': 'c', 'pipeline': [{'$match': {'g': 1}}, {'$group': {'_id': '$g', 'mx': {'$max': '$v'}, "
            "'mn': {'$min': '$v'}, 'sm': {'$sum': '$v'}}}], 'cursor': {}}",
            &r);
   conf_doc (&r, "cursor.firstBatch.0", &v);
   s = conf_json (&v);
   cr_assert_eq (conf_int64 (&v, "mx"), INT64_C (5000000000), "%s", s);
   cr_assert_eq (conf_int64 (&v, "mn"), INT64_C (4000000000), "%s", s);
   cr_assert_eq (conf_int64 (&v, "sm"), INT64_C (9000000000), "%s", s);
   bson_free (s);
   bson_destroy (&r);
   conf_close (c, db);
}

Test (types, int64_arithmetic_is_exact_near_2e18)
{
   /* A fencing-token shape: server time in ms shifted left 20 bits, plus one. Around
    * 1.8e18 a double's spacing is 256, so the +1 survives only in exact int64 arithmetic. */
   char *db;
   mongoc_client_t *c = conf_open ("ty", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   int64_t before = conf_server_time_ms (c);
   conf_ok (c, db,
            "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': [{'$set': {'now': '$$NOW', 'tok': {'$add': ["
            "{'$multiply': [{'$toLong': '$$NOW'}, {'$literal': {'$numberLong': '1048576'}}]}, "
            "{'$numberLong': '1'}]}}}, {'$set': {'tok2': {'$add': ['$tok', 1]}}}]}]}",
            NULL);
   int64_t after = conf_server_time_ms (c);
   bson_t *d = doc1 (c, db);
   char *s = conf_json (d);
   int64_t now = conf_date (d, "now");
   cr_assert (now >= before && now <= after, "%s", s);
   int64_t tok = conf_int64 (d, "tok");
   cr_assert_eq (tok, now * 1048576 + 1, "int64 arithmetic was not exact: %s", s);
   cr_assert_gt (tok, INT64_C (1500000000000) * 1048576, "%s", s);
   cr_assert_eq (conf_int64 (d, "tok2"), tok + 1, "int64 + int32 stays exact int64: %s", s);
   bson_free (s);
   bson_destroy (d);

   /* $inc on the stored int64 stays int64 and exact too. */
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$inc': {'tok': 1}}}]}", NULL);
   d = doc1 (c, db);
   cr_assert_eq (conf_int64 (d, "tok"), tok + 1);
   bson_destroy (d);
   /* And comparisons against it are exact: tok+1 is not equal to tok. */
   char *f = bson_strdup_printf ("{'tok': {'$numberLong': '%" PRId64 "'}}", tok);
   cr_assert_eq (conf_count (c, db, "c", f), 0, "an int64 query matched a value one off");
   bson_free (f);
   f = bson_strdup_printf ("{'tok': {'$gt': {'$numberLong': '%" PRId64 "'}}}", tok);
   cr_assert_eq (conf_count (c, db, "c", f), 1);
   bson_free (f);
   conf_close (c, db);
}

Test (types, update_operators_refuse_int64_overflow)
{
   /* safe_num.cpp / update/arithmetic_node.cpp: int64 + int64 (or int32 + int64) that
    * overflows is not a valid SafeNum, and the update fails with BadValue (2) "Failed to
    * apply $inc operations to current value ..." - it never turns into a double. Only an
    * int32 overflow widens (to int64). The document is left unchanged. */
   char *db;
   mongoc_client_t *c = conf_open ("ty", &db);
   conf_ok (c, db,
            "{'insert': 'c', 'documents': [{'_id': 1, 'l': {'$numberLong': '9223372036854775807'}, "
            "'m': {'$numberLong': '4611686018427387904'}, 'i': 2147483647}]}",
            NULL);
   bson_t r;
   mltest_cmd_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$inc': {'l': 1}}}]}", &r);
   conf_write_error (&r, 0, 0, 2, NULL);
   bson_destroy (&r);
   mltest_cmd_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$mul': {'m': 2}}}]}", &r);
   conf_write_error (&r, 0, 0, 2, NULL);
   bson_destroy (&r);
   mltest_cmd_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$inc': {'i': {'$numberLong': '9223372036854775807'}}}}]}",
                  &r);
   conf_write_error (&r, 0, 0, 2, NULL);
   bson_destroy (&r);
   /* findAndModify fails the command the same way. */
   conf_cmd_error (c, db, "{'findAndModify': 'c', 'query': {'_id': 1}, 'update': {'$inc': {'l': 1}}}", 2, NULL);
   bson_t *d = doc1 (c, db);
   char *s = conf_json (d);
   cr_assert_eq (conf_int64 (d, "l"), INT64_MAX, "%s", s);
   cr_assert_eq (conf_int64 (d, "m"), INT64_C (4611686018427387904), "%s", s);
   cr_assert_eq (conf_int32 (d, "i"), INT32_MAX, "%s", s);
   bson_free (s);
   bson_destroy (d);
   /* In an aggregation expression an int64 overflow becomes a double instead
    * (expression.cpp ExpressionAdd: the long total switches to the double total). */
   conf_ok (c, db,
            "{'aggregate': 'c', 'pipeline': [{'$project': {'o': {'$add': ['$l', 1]}, "
            "'p': {'$multiply': ['$m', 2]}}}], 'cursor': {}}",
            &r);
   bson_t v;
   conf_doc (&r, "cursor.firstBatch.0", &v);
   s = conf_json (&v);
   cr_assert_eq (conf_double (&v, "o"), 9223372036854775808.0, "%s", s);
   cr_assert_eq (conf_double (&v, "p"), 9223372036854775808.0, "%s", s);
   bson_free (s);
   bson_destroy (&r);
   conf_close (c, db);
}

Test (types, decimal128_is_exact)
{
   /* Decimal128 arithmetic is decimal (IEEE 754-2008, 34 digits), not double: 0.1 + 0.2
    * is exactly 0.3 (src/mongo/platform/decimal128.cpp). Comparisons between numeric types
    * are exact (bsonelement.cpp compareElementValues: compareDecimalToDouble etc.):
    * Decimal128("0.1") is not the double 0.1, and two decimals that differ only in the
    * 34th digit are different values, also as unique index keys. $toLong of a decimal is
    * exact too (ExpressionConvert, Decimal128::toLong). */
   char *db;
   mongoc_client_t *c = conf_open ("ty", &db);
   conf_ok (c, db,
            "{'createIndexes': 'c', 'indexes': [{'key': {'k': 1}, 'name': 'k_1', 'unique': true}]}", NULL);
   conf_ok (c, db,
            "{'insert': 'c', 'documents': [{'_id': 1, 'd': {'$numberDecimal': '0.1'}, "
            "'k': {'$numberDecimal': '1.000000000000000000000000000000001'}, "
            "'big': {'$numberDecimal': '9007199254740993'}}, "
            "{'_id': 2, 'k': {'$numberDecimal': '1.000000000000000000000000000000002'}}]}",
            NULL);
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$inc': {'d': {'$numberDecimal': '0.2'}}}}]}",
            NULL);
   bson_t *d = doc1 (c, db);
   check_decimal (d, "d", "0.3");
   bson_destroy (d);
   cr_assert_eq (conf_count (c, db, "c", "{'d': 0.3}"), 0, "the double 0.3 matched Decimal128 0.3");
   cr_assert_eq (conf_count (c, db, "c", "{'d': {'$numberDecimal': '0.30'}}"), 1);
   cr_assert_eq (conf_count (c, db, "c", "{'k': {'$numberDecimal': '1.000000000000000000000000000000001'}}"), 1);
   cr_assert_eq (conf_count (c, db, "c", "{'k': {'$gt': 1}}"), 2);
   mltest_cmd_fails (c, db, "{'insert': 'c', 'documents': [{'_id': 3, 'k': {'$numberDecimal': '1.000000000000000000000000000000002'}}]}",
                     11000);
   bson_t r, v;
   conf_ok (c, db,
            "{'aggregate': 'c', 'pipeline': [{'$match': {'_id': 1}}, {'$project': {'l': {'$toLong': '$big'}, "
            "'s': {'$add': [{'$numberDecimal': '0.1'}, {'$numberDecimal': '0.2'}]}, "
            "'m': {'$multiply': [{'$numberDecimal': '1.5'}, 2]}}}], 'cursor': {}}",
            &r);
   conf_doc (&r, "cursor.firstBatch.0", &v);
   char *s = conf_json (&v);
   cr_assert_eq (conf_int64 (&v, "l"), INT64_C (9007199254740993), "%s", s);
   check_decimal (&v, "s", "0.3");
   check_decimal (&v, "m", "3.0");
   bson_free (s);
   bson_destroy (&r);
   conf_close (c, db);
}

Test (types, to_long_refuses_values_outside_int64)
{
   /* $toLong never wraps around: a string or number outside int64 is a ConversionFailure
    * (241) (expression_convert.cpp). */
   char *db;
   mongoc_client_t *c = conf_open ("ty", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   conf_cmd_error (c, db,
                   "{'aggregate': 'c', 'pipeline': [{'$project': {'x': {'$toLong': '9223372036854775808'}}}], 'cursor': {}}",
                   241, NULL);
   conf_cmd_error (c, db,
                   "{'aggregate': 'c', 'pipeline': [{'$project': {'x': {'$toLong': 9.3e18}}}], 'cursor': {}}", 241, NULL);
   bson_t r;
   conf_ok (c, db,
            "{'aggregate': 'c', 'pipeline': [{'$project': {'x': {'$toLong': '-9223372036854775808'}, "
            "'y': {'$toLong': -2.9}}}], 'cursor': {}}",
            &r);
   cr_assert_eq (conf_int64 (&r, "cursor.firstBatch.0.x"), INT64_MIN);
   cr_assert_eq (conf_int64 (&r, "cursor.firstBatch.0.y"), -2);
   bson_destroy (&r);
   conf_close (c, db);
}
