/* SPDX-License-Identifier: Apache-2.0 */
/* What the document lock (lib/shapes/doc.c) relies on when it writes its fields into
 * business documents:
 * - findAndModify with upsert false, new true and no match: ok 1, value null,
 *   lastErrorObject {n: 0, updatedExisting: false}, and nothing inserted. Manual
 *   "findAndModify > Output": value is null when no document matched; the null-vs-{}
 *   history is in SERVER-6226 and SERVER-17372.
 * - In one $set ($addFields) stage every expression reads the stage's input document, not
 *   the values the same stage sets (manual "$addFields": equivalent to a $project that
 *   lists all existing fields plus the new ones, i.e. one projection over the input).
 * - A $set whose expression evaluates to missing (a path to an absent field, or $cond
 *   choosing one) does not add the field: missing values are not serialised (manual
 *   "Variables in Aggregation Expressions": $$REMOVE evaluates to missing and excludes the
 *   field; SERVER-37791 on missing fields in documents). An existing field set again
 *   keeps its position; new fields are appended (manual "$addFields > Behavior":
 *   "appends new fields", "overwrites the existing value").
 * - {_id: {$eq: <document>}} matches only the same document, field order included
 *   (manual "Query on Embedded/Nested Documents": an equality match on an embedded
 *   document requires an exact match, including the field order), and an operator-like
 *   value is never read as an operator under $eq.
 * - $subtract of two dates is a long count of milliseconds (manual "$subtract"). */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (doc_fields, .init = conf_init, .fini = conf_fini, .timeout = 120);

Test (doc_fields, find_and_modify_without_upsert_on_a_missing_document)
{
   char *db;
   mongoc_client_t *c = conf_open ("docf", &db);
   conf_ok (c, db, "{'insert': 'u', 'documents': [{'_id': 1}]}", NULL);
   bson_t r;
   conf_ok (c, db,
            "{'findAndModify': 'u', 'query': {'_id': {'$eq': 2}}, 'update': [{'$set': {'o': 'me', "
            "'e': {'$add': ['$$NOW', 1000]}}}], 'upsert': false, 'new': true}",
            &r);
   cr_assert_eq (conf_type (&r, "value"), BSON_TYPE_NULL, "%s", conf_json (&r));
   cr_assert_eq (conf_int (&r, "lastErrorObject.n"), 0);
   cr_assert_eq (conf_bool (&r, "lastErrorObject.updatedExisting"), false);
   cr_assert_eq (conf_type (&r, "lastErrorObject.upserted"), BSON_TYPE_EOD);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "u", NULL), 1, "a findAndModify without upsert inserted");
   conf_close (c, db);
}

Test (doc_fields, one_set_stage_reads_its_input_and_missing_adds_nothing)
{
   char *db;
   mongoc_client_t *c = conf_open ("docf", &db);
   conf_ok (c, db, "{'insert': 'u', 'documents': [{'_id': 1, 'a': 1, 'keep': {'x': [1, 2]}, 'z': 'last'}]}", NULL);
   bson_t r;
   conf_ok (c, db,
            "{'findAndModify': 'u', 'query': {'_id': 1}, 'update': [{'$set': {"
            "'a': 5, 'b': '$a', 'gone': '$nothing', "
            "'c': {'$cond': [{'$lte': ['$nothing', '$$NOW']}, 'taken', '$nothing']}, "
            "'d': {'$cond': [false, 'x', '$nothing']}}}], 'new': true}",
            &r);
   bson_t v;
   conf_doc (&r, "value", &v);
   cr_assert_eq (conf_int (&v, "a"), 5);
   cr_assert_eq (conf_int (&v, "b"), 1, "an expression saw the value the same stage set: %s", conf_json (&v));
   cr_assert_eq (conf_type (&v, "gone"), BSON_TYPE_EOD, "a missing value added a field: %s", conf_json (&v));
   cr_assert_eq (conf_type (&v, "d"), BSON_TYPE_EOD, "$cond choosing a missing path added a field");
   cr_assert_str_eq (conf_str (&v, "c"), "taken", "missing is before every date in BSON order");
   /* Field order: _id, a (in place), keep, z, then the new fields in the stage's order. */
   bson_iter_t it;
   cr_assert (bson_iter_init (&it, &v));
   const char *order[] = {"_id", "a", "keep", "z", "b", "c"};
   for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
      cr_assert (bson_iter_next (&it));
      cr_assert_str_eq (bson_iter_key (&it), order[i], "field %zu of %s", i, conf_json (&v));
   }
   cr_assert_not (bson_iter_next (&it));
   bson_destroy (&r);
   /* $unset of lock fields keeps every other field as it was. */
   conf_ok (c, db, "{'update': 'u', 'updates': [{'q': {'_id': 1}, 'u': [{'$unset': ['b', 'c']}]}]}", NULL);
   int n;
   bson_t **docs = conf_find_all (c, db, "u", NULL, NULL, &n);
   cr_assert_eq (n, 1);
   bson_t *want = mltest_bson ("{'_id': 1, 'a': 5, 'keep': {'x': [1, 2]}, 'z': 'last'}");
   cr_assert (bson_equal (docs[0], want), "%s", conf_json (docs[0]));
   bson_destroy (want);
   conf_docs_free (docs, n);
   conf_close (c, db);
}

Test (doc_fields, eq_on_a_document_id_is_exact_and_never_an_operator)
{
   char *db;
   mongoc_client_t *c = conf_open ("docf", &db);
   conf_ok (c, db, "{'insert': 'u', 'documents': [{'_id': {'t': 1, 'n': 2}, 'v': 1}, {'_id': 5, 'v': 2}]}", NULL);
   cr_assert_eq (conf_count (c, db, "u", "{'_id': {'$eq': {'t': 1, 'n': 2}}}"), 1);
   cr_assert_eq (conf_count (c, db, "u", "{'_id': {'$eq': {'n': 2, 't': 1}}}"), 0, "field order ignored");
   cr_assert_eq (conf_count (c, db, "u", "{'_id': {'$eq': {'t': 1}}}"), 0, "a partial document matched");
   /* Without $eq, {$gt: 1} is an operator and matches 5; under $eq it is a value. */
   cr_assert_eq (conf_count (c, db, "u", "{'_id': {'$gt': 1}}"), 1);
   cr_assert_eq (conf_count (c, db, "u", "{'_id': {'$eq': {'$gt': 1}}}"), 0, "$eq read its value as an operator");
   conf_close (c, db);
}

Test (doc_fields, subtracting_dates_gives_long_milliseconds)
{
   char *db;
   mongoc_client_t *c = conf_open ("docf", &db);
   conf_ok (c, db, "{'insert': 'u', 'documents': [{'_id': 1}]}", NULL);
   bson_t r;
   conf_ok (c, db,
            "{'aggregate': 'u', 'pipeline': [{'$project': {'d': {'$subtract': [{'$add': ['$$NOW', 1500]}, '$$NOW']}, "
            "'live': {'$gt': [{'$add': ['$$NOW', 1]}, '$$NOW']}}}], 'cursor': {}}",
            &r);
   cr_assert_eq (conf_int64 (&r, "cursor.firstBatch.0.d"), 1500);
   cr_assert (conf_bool (&r, "cursor.firstBatch.0.live"));
   bson_destroy (&r);
   conf_close (c, db);
}
