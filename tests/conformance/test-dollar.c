/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 23: since 5.0 stored field names may start with '$' or contain '.', at the top
 * level and below, except inside _id, where a '$'-prefixed name fails 52
 * DollarPrefixedFieldName. Update operators still refuse such paths.
 *
 * References:
 * - src/mongo/db/ops/insert.cpp fixDocumentForInsert (5.0+): a top-level '$' name only
 *   marks the document as containing dots and dollars; _id goes through
 *   storage_validation::storageValidIdField.
 * - src/mongo/db/update/storage_validation.cpp storageValidIdField: an object _id is
 *   checked with BSONObj::storageValidEmbedded (src/mongo/bson/bsonobj.cpp), which refuses
 *   a '$'-prefixed name (except a leading DBRef $ref/$id/$db) with 52, "_id fields may
 *   not contain '$'-prefixed fields"; storageValid lets pipeline-style updates store
 *   top-level '$' names (allowTopLevelDollarPrefixedFields), and checks _id after every
 *   update.
 * - jstests/core/field_name_validation.js: insert {$a: 1}, {valid: 1, $a: 1}, {a: {$b: 1}},
 *   {"a.b": 1} work; {_id: {$b: 1}} and {_id: {a: 1, $b: 1}} fail DollarPrefixedFieldName;
 *   upserting an _id holding '$' fields fails DollarPrefixedFieldName; a pipeline update
 *   may write {$literal: {$a: 1}}.
 * - Manual "Field Names with Periods and Dollar Signs" (5.0+). */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (dollar, .init = conf_init, .fini = conf_fini, .timeout = 60);

Test (dollar, inserts_keep_dollar_and_dotted_names)
{
   char *db;
   mongoc_client_t *c = conf_open ("dol", &db);
   bson_t r;
   conf_ok (c, db,
            "{'insert': 'c', 'documents': [{'_id': 1, '$a': 1}, {'_id': 2, 'v': 1, '$b': {'$c': 2}}, "
            "{'_id': 3, 'a.b': 3}, {'_id': 4, 'n': {'$d': 4}}, {'_id': {'x.y': 5}}]}",
            &r);
   cr_assert_eq (conf_int (&r, "n"), 5);
   bson_destroy (&r);
   conf_ok (c, db, "{'find': 'c', 'filter': {'_id': 1}}", &r);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0.$a"), 1);
   bson_destroy (&r);
   conf_ok (c, db, "{'find': 'c', 'filter': {'_id': 2}}", &r);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0.$b.$c"), 2);
   bson_destroy (&r);
   /* A dotted path in a filter reads a nested '$' name. */
   cr_assert_eq (conf_count (c, db, "c", "{'n.$d': 4}"), 1);
   conf_close (c, db);
}

Test (dollar, dollar_names_inside_id_are_refused)
{
   char *db;
   mongoc_client_t *c = conf_open ("dol", &db);
   bson_t r;
   mltest_cmd_ok (c, db, "{'insert': 'c', 'documents': [{'_id': {'$a': 1}}]}", &r);
   conf_write_error (&r, 0, 0, 52, NULL);
   bson_destroy (&r);
   mltest_cmd_ok (c, db, "{'insert': 'c', 'documents': [{'_id': {'a': 1, '$b': 1}}]}", &r);
   conf_write_error (&r, 0, 0, 52, NULL);
   bson_destroy (&r);
   /* An upsert or an update that would store such an _id fails the same way. */
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'k': 1}, 'u': {'_id': {'$x': 1}}, 'upsert': true}]}", 52);
   mltest_cmd_fails (c, db,
                     "{'update': 'c', 'updates': [{'q': {'k': 1}, 'u': {'$set': {'_id': {'$x': 1}}}, 'upsert': true}]}",
                     52);
   cr_assert_eq (conf_count (c, db, "c", NULL), 0);
   conf_close (c, db);
}

Test (dollar, updates_refuse_dollar_paths_but_pipelines_may_store_them)
{
   char *db;
   mongoc_client_t *c = conf_open ("dol", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}]}", NULL);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$set': {'$x': 1}}}]}", 52);
   /* A replacement whose first field starts with '$' is read as an update operator. */
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$x': 1}}]}", 9);
   bson_t r;
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': [{'$replaceWith': {'$literal': {'$p': 1}}}]}]}",
            &r);
   cr_assert_eq (conf_int (&r, "nModified"), 1);
   bson_destroy (&r);
   conf_ok (c, db, "{'find': 'c', 'filter': {'_id': 1}}", &r);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0.$p"), 1);
   cr_assert_eq (conf_type (&r, "cursor.firstBatch.0.a"), BSON_TYPE_EOD);
   bson_destroy (&r);
   /* A replacement may hold nested '$' names. */
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'n': {'$c': 1}}}]}", &r);
   cr_assert_eq (conf_int (&r, "nModified"), 1);
   bson_destroy (&r);
   conf_close (c, db);
}
