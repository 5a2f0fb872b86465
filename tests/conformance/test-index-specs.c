/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 13 in detail: what identifies an index, how index specs are validated and shown,
 * and how array values become index keys (rules 9 and 15).
 *
 * References (MongoDB 7.0 source):
 * - src/mongo/db/index/index_descriptor.cpp, IndexDescriptor::compareIndexOptions: since
 *   FCV 4.9 (SERVER-47657, so on every 5.0+ server) the key pattern, 'unique', 'sparse',
 *   'partialFilterExpression' (compared as normalized MatchExpressions) and collation
 *   identify an index: any of them differing is kDifferent. Other options
 *   (expireAfterSeconds) differing is kEquivalent; 'unique'/'sparse' are compared by
 *   truth value and left out of the options map (populateOptionsMapForEqualityCheck), so
 *   unique: 1 and unique: true are identical.
 * - src/mongo/db/catalog/index_catalog_impl.cpp, _doesSpecConflictWithExisting: same name
 *   and kDifferent -> 86 IndexKeySpecsConflict; same name and kEquivalent -> 85
 *   IndexOptionsConflict; another name and not kDifferent -> 85. So the same key pattern
 *   can be indexed twice when unique, sparse or the partial filter differ.
 * - src/mongo/db/catalog/index_key_validate.cpp: validateIndexSpec ('unique'/'sparse' must
 *   be numbers or booleans -> 14 TypeMismatch; 'name' must be a string -> 14),
 *   validateKeyPattern (empty field name parts and '$'-prefixed names -> 67), the names
 *   '_id_' (for another key) and '*' -> 2 BadValue, validateExpireAfterSeconds (outside
 *   int32 or negative -> 67 CannotCreateIndex).
 * - src/mongo/db/list_indexes.idl and commands/list_indexes.cpp: every listIndexes entry
 *   is re-serialized through ListIndexesReplyItem, so 'unique'/'sparse' come back as bool
 *   and 'expireAfterSeconds' as int32 (safeBool/safeInt), whatever type was sent; and
 *   IndexCatalogImpl::_fixIndexSpec keeps 'unique' only when true.
 * - src/mongo/db/index/btree_key_generator.cpp: an empty array is indexed as undefined
 *   (not null), a nested array is one key value, and a compound index cannot index two
 *   arrays of one document: 171 CannotIndexParallelArrays, unique or not. */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (indexspecs, .init = conf_init, .fini = conf_fini, .timeout = 60);

static int
count_indexes_of (mongoc_client_t *c, const char *db, const char *coll)
{
   bson_t r;
   char *cmd = bson_strdup_printf ("{'listIndexes': '%s', 'cursor': {}}", coll);
   conf_ok (c, db, cmd, &r);
   bson_free (cmd);
   int n = conf_array_len (&r, "cursor.firstBatch");
   bson_destroy (&r);
   return n;
}

static int
count_indexes (mongoc_client_t *c, const char *db)
{
   return count_indexes_of (c, db, "c");
}

Test (indexspecs, unique_sparse_and_partial_identify_an_index)
{
   char *db;
   mongoc_client_t *c = conf_open ("ixs", &db);
   conf_ok (c, db,
            "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1'}, "
            "{'key': {'u': 1}, 'name': 'u_1', 'unique': true}, "
            "{'key': {'p': 1}, 'name': 'p_1', 'partialFilterExpression': {'live': true}}]}",
            NULL);
   bson_t r;
   /* Same name and key, 'unique' or 'sparse' differs: a different index, so 86. */
   conf_cmd_error (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1', 'unique': true}]}", 86,
                   &r);
   cr_assert_str_eq (conf_str (&r, "codeName"), "IndexKeySpecsConflict");
   bson_destroy (&r);
   conf_cmd_error (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'u': 1}, 'name': 'u_1'}]}", 86, NULL);
   conf_cmd_error (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1', 'sparse': true}]}", 86,
                   NULL);
   /* ... or the partial filter differs, or is added. */
   conf_cmd_error (c, db,
                   "{'createIndexes': 'c', 'indexes': [{'key': {'p': 1}, 'name': 'p_1', "
                   "'partialFilterExpression': {'live': false}}]}",
                   86, NULL);
   conf_cmd_error (c, db,
                   "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1', "
                   "'partialFilterExpression': {'live': true}}]}",
                   86, NULL);
   /* An equivalent filter spelled with $eq, and unique: 1 for unique: true, are the same
    * index: a no-op. */
   conf_ok (c, db,
            "{'createIndexes': 'c', 'indexes': [{'key': {'p': 1}, 'name': 'p_1', "
            "'partialFilterExpression': {'live': {'$eq': true}}}, {'key': {'u': 1}, 'name': 'u_1', 'unique': 1}]}",
            &r);
   cr_assert_eq (conf_int (&r, "numIndexesBefore"), conf_int (&r, "numIndexesAfter"));
   bson_destroy (&r);
   cr_assert_eq (count_indexes (c, db), 4);

   /* Another name, same key, unique/sparse/partial differ: a second index on the key. */
   conf_ok (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_unique', 'unique': true}]}", NULL);
   conf_ok (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_sparse', 'sparse': true}]}", NULL);
   conf_ok (c, db,
            "{'createIndexes': 'c', 'indexes': [{'key': {'u': 1}, 'name': 'u_live', 'unique': true, "
            "'partialFilterExpression': {'live': true}}]}",
            NULL);
   cr_assert_eq (count_indexes (c, db), 7);
   /* ... and the unique one of them constrains. */
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}]}", NULL);
   mltest_cmd_fails (c, db, "{'insert': 'c', 'documents': [{'_id': 2, 'a': 1}]}", 11000);
   /* Same key and the same identifying options under yet another name: 85. */
   conf_cmd_error (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_again', 'unique': 1}]}", 85,
                   &r);
   cr_assert_str_eq (conf_str (&r, "codeName"), "IndexOptionsConflict");
   bson_destroy (&r);
   conf_close (c, db);
}

static void
create_fails (mongoc_client_t *c, const char *db, const char *spec, int32_t code)
{
   char *cmd = bson_strdup_printf ("{'createIndexes': 'c', 'indexes': [%s]}", spec);
   conf_cmd_error (c, db, cmd, code, NULL);
   bson_free (cmd);
}

Test (indexspecs, invalid_specs_are_refused)
{
   char *db;
   mongoc_client_t *c = conf_open ("ixs", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   create_fails (c, db, "{'key': {'a': 1}, 'name': 'x', 'unique': 'yes'}", 14);
   create_fails (c, db, "{'key': {'a': 1}, 'name': 'x', 'sparse': 'no'}", 14);
   create_fails (c, db, "{'key': {'a': 1}, 'name': 5}", 14);
   create_fails (c, db, "{'key': {'$a': 1}, 'name': 'x'}", 67);
   create_fails (c, db, "{'key': {'a..b': 1}, 'name': 'x'}", 67);
   create_fails (c, db, "{'key': {'a': 0}, 'name': 'x'}", 67);
   create_fails (c, db, "{'key': {'a': 1}, 'name': '_id_'}", 2);
   create_fails (c, db, "{'key': {'a': 1}, 'name': '*'}", 2);
   /* A TTL index's expireAfterSeconds is an int32 (list_indexes.idl safeInt). */
   create_fails (c, db, "{'key': {'t': 1}, 'name': 'x', 'expireAfterSeconds': {'$numberLong': '4294967296'}}", 67);
   create_fails (c, db, "{'key': {'t': 1}, 'name': 'x', 'expireAfterSeconds': -1}", 67);
   create_fails (c, db, "{'key': {'t': 1}, 'name': 'x', 'expireAfterSeconds': 'soon'}", 67);
   cr_assert_eq (count_indexes (c, db), 1);
   conf_close (c, db);
}

Test (indexspecs, list_indexes_shows_normalized_options)
{
   char *db;
   mongoc_client_t *c = conf_open ("ixs", &db);
   conf_ok (c, db,
            "{'createIndexes': 'c', 'indexes': [{'key': {'u': 1}, 'name': 'u', 'unique': 1, 'sparse': 1}, "
            "{'key': {'n': 1}, 'name': 'n', 'unique': false}, "
            "{'key': {'t': 1}, 'name': 't', 'expireAfterSeconds': {'$numberLong': '3600'}}]}",
            NULL);
   bson_t r;
   conf_ok (c, db, "{'listIndexes': 'c', 'cursor': {}}", &r);
   char *s = conf_json (&r);
   cr_assert_str_eq (conf_str (&r, "cursor.firstBatch.1.name"), "u", "%s", s);
   cr_assert (conf_bool (&r, "cursor.firstBatch.1.unique"), "unique: 1 comes back as true: %s", s);
   cr_assert (conf_bool (&r, "cursor.firstBatch.1.sparse"), "sparse: 1 comes back as true: %s", s);
   cr_assert_eq (conf_type (&r, "cursor.firstBatch.2.unique"), BSON_TYPE_EOD, "unique: false is dropped: %s", s);
   cr_assert_eq (conf_int32 (&r, "cursor.firstBatch.3.expireAfterSeconds"), 3600, "an int64 comes back as int32: %s",
                 s);
   bson_free (s);
   bson_destroy (&r);
   conf_close (c, db);
}

Test (indexspecs, array_values_as_index_keys)
{
   char *db;
   mongoc_client_t *c = conf_open ("ixs", &db);
   conf_ok (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1', 'unique': true}]}", NULL);
   /* An empty array is keyed as undefined: not null, but equal to another empty array. */
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': []}, {'_id': 2, 'a': null}]}", NULL);
   mltest_cmd_fails (c, db, "{'insert': 'c', 'documents': [{'_id': 3, 'a': []}]}", 11000);
   /* A nested array is one key value: [[1, 2]] and [[3]] do not collide, [[1, 2]] twice does. */
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 4, 'a': [[1, 2]]}, {'_id': 5, 'a': [[3]]}]}", NULL);
   mltest_cmd_fails (c, db, "{'insert': 'c', 'documents': [{'_id': 6, 'a': [[1, 2], 9]}]}", 11000);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 7, 'a': [1, 2]}]}", NULL);
   /* Two arrays in one compound index, unique or not: 171, by insert and by update. */
   conf_ok (c, db, "{'createIndexes': 'd', 'indexes': [{'key': {'x': 1, 'y': 1}, 'name': 'x_y'}]}", NULL);
   bson_t r;
   mltest_cmd_ok (c, db, "{'insert': 'd', 'documents': [{'_id': 8, 'x': [1, 2], 'y': [3, 4]}]}", &r);
   conf_write_error (&r, 0, 0, 171, NULL);
   bson_destroy (&r);
   conf_ok (c, db, "{'insert': 'd', 'documents': [{'_id': 9, 'x': [1, 2], 'y': 3}]}", NULL);
   mltest_cmd_ok (c, db, "{'update': 'd', 'updates': [{'q': {'_id': 9}, 'u': {'$set': {'y': [5, 6]}}}]}", &r);
   conf_write_error (&r, 0, 0, 171, NULL);
   bson_destroy (&r);
   /* Paths into one array of subdocuments are not parallel. */
   conf_ok (c, db, "{'createIndexes': 'd', 'indexes': [{'key': {'s.p': 1, 's.q': 1}, 'name': 's_pq'}]}", NULL);
   conf_ok (c, db, "{'insert': 'd', 'documents': [{'_id': 10, 's': [{'p': 1, 'q': 2}, {'p': 3, 'q': 4}]}]}", NULL);
   /* Building a compound index over a document with parallel arrays fails, leaves nothing. */
   conf_ok (c, db, "{'insert': 'd', 'documents': [{'_id': 11, 'm': [1], 'n': [2]}]}", NULL);
   conf_cmd_error (c, db, "{'createIndexes': 'd', 'indexes': [{'key': {'m': 1, 'n': 1}, 'name': 'm_n'}]}", 171, NULL);
   cr_assert_eq (count_indexes_of (c, db, "d"), 3);
   conf_close (c, db);
}
