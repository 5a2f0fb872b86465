/* SPDX-License-Identifier: Apache-2.0 */
/* Rules 13 (createIndexes: identical is a no-op, 85/86 conflicts), 14 (a unique build
 * over duplicates fails 11000 and leaves nothing), 15 (partial and sparse unique
 * indexes; the allowed partialFilterExpression operators), plus listIndexes/dropIndexes.
 *
 * References:
 * - src/mongo/db/catalog/index_catalog_impl.cpp (_doesSpecConflictWithExisting): same
 *   name and a different key pattern (or other identifying option) -> IndexKeySpecsConflict
 *   (86) "An existing index has the same name as the requested index"; same name, same
 *   identifying options, other options differ -> IndexOptionsConflict (85) "An equivalent
 *   index already exists with the same name but different options"; other name, same key
 *   and options -> 85 "Index already exists with a different name: <name>"; other name,
 *   same key, non-identifying options differ -> 85 "An equivalent index already exists
 *   with a different name and options". Identical -> IndexAlreadyExists, which
 *   createIndexes turns into success with "note: all indexes already exist" and
 *   numIndexesBefore == numIndexesAfter (src/mongo/db/commands/create_indexes_cmd.cpp,
 *   fillCommandResultWithIndexesAlreadyExistInfo). On 5.0+ unique, sparse and
 *   partialFilterExpression identify an index too (index_descriptor.cpp
 *   compareIndexOptions; see test-index-specs.c), so the option conflicts here use
 *   expireAfterSeconds, which does not.
 * - Manual "Unique Indexes": a unique build over existing duplicates fails with a
 *   duplicate key error; the index build is aborted, nothing remains (all specs of one
 *   createIndexes command are built together and aborted together: index builds
 *   coordinator).
 * - Manual "Partial Indexes": partialFilterExpression supports equality ($eq), $exists:
 *   true, $gt/$gte/$lt/$lte, $type, $and, and from 6.0 $or and $in; a unique partial
 *   index constrains only matching documents. Anything else fails CannotCreateIndex (67)
 *   "Expression not supported in partial index: ..." (index_catalog_impl.cpp,
 *   _checkValidFilterExpressions; $ne/$nin/$exists:false are negations, $not).
 * - Manual "Sparse Indexes": a sparse index skips documents missing the field; a null
 *   value is indexed, so a unique sparse index allows many missing, one null.
 * - listIndexes on a missing collection: 26 NamespaceNotFound; dropIndexes: unknown name
 *   27 IndexNotFound, "_id_" 72 InvalidOptions "cannot drop _id index"
 *   (src/mongo/db/catalog/drop_indexes.cpp). */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (indexes, .init = conf_init, .fini = conf_fini, .timeout = 60);

/* The names of coll's indexes, space separated, in listIndexes order. */
static char *
index_names (mongoc_client_t *c, const char *db)
{
   bson_t r;
   conf_ok (c, db, "{'listIndexes': 'c', 'cursor': {}}", &r);
   cr_assert_eq (conf_int64 (&r, "cursor.id"), 0);
   bson_t batch;
   conf_doc (&r, "cursor.firstBatch", &batch);
   bson_string_t *s = bson_string_new ("");
   bson_iter_t it;
   bson_iter_init (&it, &batch);
   while (bson_iter_next (&it)) {
      bson_t spec;
      uint32_t len;
      const uint8_t *data;
      bson_iter_document (&it, &len, &data);
      bson_init_static (&spec, data, len);
      bson_string_append_printf (s, "%s%s", s->len ? " " : "", conf_str (&spec, "name"));
   }
   bson_destroy (&r);
   return bson_string_free (s, false);
}

static void
expect_indexes (mongoc_client_t *c, const char *db, const char *want)
{
   char *got = index_names (c, db);
   cr_assert_str_eq (got, want, "listIndexes");
   bson_free (got);
}

Test (indexes, identical_create_is_a_no_op)
{
   char *db;
   mongoc_client_t *c = conf_open ("ix", &db);
   bson_t r;
   /* On a collection that does not exist yet, createIndexes creates it. */
   conf_ok (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1'}]}", &r);
   char *s = conf_json (&r);
   cr_assert_eq (conf_int (&r, "numIndexesBefore"), 1, "%s", s);
   cr_assert_eq (conf_int (&r, "numIndexesAfter"), 2, "%s", s);
   cr_assert (conf_bool (&r, "createdCollectionAutomatically"), "%s", s);
   bson_free (s);
   bson_destroy (&r);

   conf_ok (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1'}]}", &r);
   s = conf_json (&r);
   cr_assert_eq (conf_int (&r, "numIndexesBefore"), 2, "%s", s);
   cr_assert_eq (conf_int (&r, "numIndexesAfter"), 2, "%s", s);
   cr_assert_str_eq (conf_str (&r, "note"), "all indexes already exist", "%s", s);
   bson_free (s);
   bson_destroy (&r);

   /* One existing and one new spec: only the new one is built. */
   conf_ok (c, db,
            "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1'}, "
            "{'key': {'b': -1, 'a': 1}, 'name': 'b_-1_a_1', 'unique': true}]}",
            &r);
   s = conf_json (&r);
   cr_assert_eq (conf_int (&r, "numIndexesBefore"), 2, "%s", s);
   cr_assert_eq (conf_int (&r, "numIndexesAfter"), 3, "%s", s);
   bson_free (s);
   bson_destroy (&r);
   conf_ok (c, db,
            "{'createIndexes': 'c', 'indexes': [{'key': {'b': -1, 'a': 1}, 'name': 'b_-1_a_1', 'unique': true}]}",
            &r);
   cr_assert_eq (conf_int (&r, "numIndexesAfter"), 3);
   bson_destroy (&r);
   expect_indexes (c, db, "_id_ a_1 b_-1_a_1");

   /* listIndexes describes each index: version, key in order, name, options. */
   conf_ok (c, db, "{'listIndexes': 'c', 'cursor': {}}", &r);
   s = conf_json (&r);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0.key._id"), 1, "%s", s);
   cr_assert_gt (conf_int (&r, "cursor.firstBatch.0.v"), 0, "%s", s);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.2.key.b"), -1, "%s", s);
   cr_assert (conf_bool (&r, "cursor.firstBatch.2.unique"), "%s", s);
   bson_t key;
   conf_doc (&r, "cursor.firstBatch.2.key", &key);
   bson_iter_t it;
   cr_assert (bson_iter_init (&it, &key) && bson_iter_next (&it));
   cr_assert_str_eq (bson_iter_key (&it), "b", "key field order lost: %s", s);
   bson_free (s);
   bson_destroy (&r);
   conf_close (c, db);
}

Test (indexes, conflicts_85_and_86)
{
   char *db;
   mongoc_client_t *c = conf_open ("ix", &db);
   conf_ok (c, db,
            "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1'}, "
            "{'key': {'t': 1}, 'name': 'ttl', 'expireAfterSeconds': 100}]}",
            NULL);
   bson_t r;
   /* Same name, different key: 86. */
   conf_cmd_error (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'b': 1}, 'name': 'a_1'}]}", 86, &r);
   cr_assert_str_eq (conf_str (&r, "codeName"), "IndexKeySpecsConflict");
   bson_destroy (&r);
   conf_cmd_error (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': -1}, 'name': 'a_1'}]}", 86, NULL);
   /* Same name and key, different (non-identifying) options: 85. */
   conf_cmd_error (c, db,
                   "{'createIndexes': 'c', 'indexes': [{'key': {'t': 1}, 'name': 'ttl', 'expireAfterSeconds': 200}]}",
                   85, &r);
   cr_assert_str_eq (conf_str (&r, "codeName"), "IndexOptionsConflict");
   bson_destroy (&r);
   /* Same key and options under another name: 85. */
   conf_cmd_error (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'other'}]}", 85, NULL);
   conf_cmd_error (c, db,
                   "{'createIndexes': 'c', 'indexes': [{'key': {'t': 1}, 'name': 'ttl2', 'expireAfterSeconds': 100}]}",
                   85, NULL);
   /* Same key, other name, non-identifying option differs: still 85. */
   conf_cmd_error (c, db,
                   "{'createIndexes': 'c', 'indexes': [{'key': {'t': 1}, 'name': 'ttl3', 'expireAfterSeconds': 300}]}",
                   85, NULL);
   /* A conflict in a multi-index command builds nothing. */
   conf_cmd_error (c, db,
                   "{'createIndexes': 'c', 'indexes': [{'key': {'z': 1}, 'name': 'z_1'}, {'key': {'b': 1}, 'name': "
                   "'a_1'}]}",
                   86, NULL);
   expect_indexes (c, db, "_id_ a_1 ttl");
   conf_close (c, db);
}

Test (indexes, unique_build_over_duplicates_fails_and_leaves_nothing)
{
   char *db;
   mongoc_client_t *c = conf_open ("ix", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1, 'b': 1}, {'_id': 2, 'a': 1, 'b': 2}]}", NULL);
   bson_t r;
   conf_cmd_error (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1', 'unique': true}]}",
                   11000, &r);
   cr_assert (strstr (conf_str (&r, "errmsg"), "E11000 duplicate key error"), "errmsg: %s", conf_str (&r, "errmsg"));
   bson_destroy (&r);
   expect_indexes (c, db, "_id_");
   /* With a second, valid spec in the same command: neither is left. */
   conf_cmd_error (c, db,
                   "{'createIndexes': 'c', 'indexes': [{'key': {'b': 1}, 'name': 'b_1'}, "
                   "{'key': {'a': 1}, 'name': 'a_1', 'unique': true}]}",
                   11000, NULL);
   expect_indexes (c, db, "_id_");
   /* Missing fields collide as null too. */
   conf_cmd_error (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'m': 1}, 'name': 'm_1', 'unique': true}]}",
                   11000, NULL);
   /* The name is free afterwards, and a non-unique index over the same data builds. */
   conf_ok (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1'}]}", &r);
   cr_assert_eq (conf_int (&r, "numIndexesAfter"), 2);
   bson_destroy (&r);
   expect_indexes (c, db, "_id_ a_1");
   /* A unique index over unique data builds, and then enforces. */
   conf_ok (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'b': 1}, 'name': 'b_1', 'unique': true}]}", NULL);
   mltest_cmd_fails (c, db, "{'insert': 'c', 'documents': [{'_id': 3, 'a': 2, 'b': 2}]}", 11000);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$set': {'b': 2}}}]}", 11000);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 5}, 'u': {'$set': {'b': 1}}, 'upsert': true}]}",
                     11000);
   cr_assert_eq (conf_count (c, db, "c", NULL), 2);
   conf_close (c, db);
}

Test (indexes, partial_unique_constrains_only_matching_documents)
{
   char *db;
   mongoc_client_t *c = conf_open ("ix", &db);
   conf_ok (c, db,
            "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_live', 'unique': true, "
            "'partialFilterExpression': {'live': true}}]}",
            NULL);
   conf_ok (c, db,
            "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1, 'live': false}, {'_id': 2, 'a': 1, 'live': false}, "
            "{'_id': 3, 'a': 1, 'live': true}, {'_id': 5, 'a': 1}, {'_id': 6, 'a': 1}]}",
            NULL);
   bson_t r, e;
   mltest_cmd_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 4, 'a': 1, 'live': true}]}", &r);
   conf_write_error (&r, 0, 0, 11000, &e);
   bson_destroy (&r);
   /* Entering the filter through an update collides too. */
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$set': {'live': true}}}]}", 11000);
   /* Leaving it frees the key. */
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 3}, 'u': {'$set': {'live': false}}}]}", NULL);
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$set': {'live': true}}}]}", NULL);
   cr_assert_eq (conf_count (c, db, "c", "{'live': true}"), 1);

   /* A range filter: only documents with f > 5 are constrained. */
   conf_ok (c, db,
            "{'createIndexes': 'c', 'indexes': [{'key': {'k': 1}, 'name': 'k_f', 'unique': true, "
            "'partialFilterExpression': {'f': {'$gt': 5}}}]}",
            NULL);
   conf_ok (c, db,
            "{'insert': 'c', 'documents': [{'_id': 10, 'k': 1, 'f': 1}, {'_id': 11, 'k': 1, 'f': 2}, "
            "{'_id': 12, 'k': 1, 'f': 6}, {'_id': 13, 'k': 1, 'f': 'str'}]}",
            NULL);
   mltest_cmd_fails (c, db, "{'insert': 'c', 'documents': [{'_id': 14, 'k': 1, 'f': 7}]}", 11000);

   /* listIndexes reports the filter. */
   conf_ok (c, db, "{'listIndexes': 'c', 'cursor': {}}", &r);
   char *s = conf_json (&r);
   cr_assert_str_eq (conf_str (&r, "cursor.firstBatch.1.name"), "a_live", "%s", s);
   cr_assert (conf_bool (&r, "cursor.firstBatch.1.partialFilterExpression.live"), "%s", s);
   cr_assert (conf_bool (&r, "cursor.firstBatch.1.unique"), "%s", s);
   bson_free (s);
   bson_destroy (&r);
   conf_close (c, db);
}

Test (indexes, sparse_unique_skips_missing_but_not_null)
{
   char *db;
   mongoc_client_t *c = conf_open ("ix", &db);
   conf_ok (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'s': 1}, 'name': 's_1', 'unique': true, 'sparse': true}]}",
            NULL);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}, {'_id': 2}, {'_id': 3, 's': null}, {'_id': 4, 's': 1}]}",
            NULL);
   mltest_cmd_fails (c, db, "{'insert': 'c', 'documents': [{'_id': 5, 's': null}]}", 11000);
   mltest_cmd_fails (c, db, "{'insert': 'c', 'documents': [{'_id': 6, 's': 1}]}", 11000);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$set': {'s': 1}}}]}", 11000);
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 4}, 'u': {'$unset': {'s': 1}}}]}", NULL);
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$set': {'s': 1}}}]}", NULL);
   cr_assert_eq (conf_count (c, db, "c", NULL), 4);
   conf_close (c, db);
}

static void
create_partial_bson (mongoc_client_t *c, const char *db, const char *name, bson_t *filter, int32_t expect_code)
{
   bson_t cmd = BSON_INITIALIZER, indexes, spec, key;
   BSON_APPEND_UTF8 (&cmd, "createIndexes", "c");
   BSON_APPEND_ARRAY_BEGIN (&cmd, "indexes", &indexes);
   BSON_APPEND_DOCUMENT_BEGIN (&indexes, "0", &spec);
   BSON_APPEND_DOCUMENT_BEGIN (&spec, "key", &key);
   BSON_APPEND_INT32 (&key, name, 1);
   bson_append_document_end (&spec, &key);
   BSON_APPEND_UTF8 (&spec, "name", name);
   BSON_APPEND_DOCUMENT (&spec, "partialFilterExpression", filter);
   bson_append_document_end (&indexes, &spec);
   bson_append_array_end (&cmd, &indexes);
   bson_t r;
   bson_error_t error;
   bool ok = mongoc_client_command_simple (c, db, &cmd, NULL, &r, &error);
   char *s = conf_json (filter), *rs = conf_json (&r);
   if (expect_code == 0) {
      cr_assert (ok, "partialFilterExpression %s refused: %s", s, rs);
   } else {
      cr_assert_not (ok, "partialFilterExpression %s accepted, expected %d", s, expect_code);
      cr_assert_eq (error.domain, MONGOC_ERROR_SERVER);
      cr_assert_eq ((int32_t) error.code, expect_code, "partialFilterExpression %s: %s", s, rs);
   }
   bson_free (s);
   bson_free (rs);
   bson_destroy (&r);
   bson_destroy (&cmd);
}

static void
create_partial (mongoc_client_t *c, const char *db, const char *name, const char *filter_json, int32_t expect_code)
{
   bson_t *f = mltest_bson (filter_json);
   create_partial_bson (c, db, name, f, expect_code);
   bson_destroy (f);
}

Test (indexes, partial_filter_allowed_and_refused_operators)
{
   char *db;
   mongoc_client_t *c = conf_open ("ix", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   create_partial (c, db, "p_eq", "{'f': 5}", 0);
   create_partial (c, db, "p_eq2", "{'f': {'$eq': 5}}", 0);
   create_partial (c, db, "p_exists", "{'f': {'$exists': true}}", 0);
   create_partial (c, db, "p_gt", "{'f': {'$gt': 5}}", 0);
   create_partial (c, db, "p_gte", "{'f': {'$gte': 5}}", 0);
   create_partial (c, db, "p_lt", "{'f': {'$lt': 5}}", 0);
   create_partial (c, db, "p_lte", "{'f': {'$lte': {'$date': {'$numberLong': '0'}}}}", 0);
   bson_t *type_filter = BCON_NEW ("f", "{", "$type", "string", "}");
   create_partial_bson (c, db, "p_type", type_filter, 0);
   bson_destroy (type_filter);
   create_partial (c, db, "p_and", "{'$and': [{'f': {'$gt': 1}}, {'g': {'$lt': 9}}]}", 0);
   create_partial (c, db, "p_multi", "{'f': {'$gt': 1}, 'g': 2}", 0);
   create_partial (c, db, "p_or", "{'$or': [{'f': 1}, {'g': 2}]}", 0);
   create_partial (c, db, "p_in", "{'f': {'$in': [1, 2]}}", 0);

   create_partial (c, db, "r_ne", "{'f': {'$ne': 1}}", 67);
   create_partial (c, db, "r_notexists", "{'f': {'$exists': false}}", 67);
   create_partial (c, db, "r_nin", "{'f': {'$nin': [1]}}", 67);
   create_partial (c, db, "r_not", "{'f': {'$not': {'$gt': 1}}}", 67);
   create_partial (c, db, "r_nor", "{'$nor': [{'f': 1}]}", 67);
   bson_t *regex_filter = BCON_NEW ("f", "{", "$regex", "x", "}");
   create_partial_bson (c, db, "r_regex_op", regex_filter, 67);
   bson_destroy (regex_filter);
   create_partial (c, db, "r_size", "{'f': {'$size': 1}}", 67);
   create_partial (c, db, "r_elem", "{'f': {'$elemMatch': {'$gt': 1}}}", 67);
   /* sparse and partialFilterExpression do not mix. */
   conf_cmd_error (c, db,
                   "{'createIndexes': 'c', 'indexes': [{'key': {'sp': 1}, 'name': 'sp', 'sparse': true, "
                   "'partialFilterExpression': {'f': 1}}]}",
                   67, NULL);
   expect_indexes (c, db, "_id_ p_eq p_eq2 p_exists p_gt p_gte p_lt p_lte p_type p_and p_multi p_or p_in");
   /* A regex value ({f: /x/}, libbson's reading of this JSON) is a REGEX match, not an
    * equality: refused too. */
   create_partial (c, db, "r_regex", "{'f': {'$regex': 'x'}}", 67);
   conf_close (c, db);
}

Test (indexes, list_and_drop)
{
   char *db;
   mongoc_client_t *c = conf_open ("ix", &db);
   conf_cmd_error (c, db, "{'listIndexes': 'nosuch', 'cursor': {}}", 26, NULL);
   conf_ok (c, db,
            "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1'}, {'key': {'b': 1}, 'name': 'b_1'}, "
            "{'key': {'c': 1, 'd': -1}, 'name': 'cd'}, {'key': {'e': 1}, 'name': 'e_1'}]}",
            NULL);
   bson_t r;
   conf_ok (c, db, "{'dropIndexes': 'c', 'index': 'a_1'}", &r);
   cr_assert_eq (conf_int (&r, "nIndexesWas"), 5);
   bson_destroy (&r);
   expect_indexes (c, db, "_id_ b_1 cd e_1");
   /* By key pattern. */
   conf_ok (c, db, "{'dropIndexes': 'c', 'index': {'c': 1, 'd': -1}}", NULL);
   expect_indexes (c, db, "_id_ b_1 e_1");
   conf_cmd_error (c, db, "{'dropIndexes': 'c', 'index': 'nosuch'}", 27, NULL);
   conf_cmd_error (c, db, "{'dropIndexes': 'c', 'index': '_id_'}", 72, NULL);
   conf_cmd_error (c, db, "{'dropIndexes': 'nosuch', 'index': 'x'}", 26, NULL);
   expect_indexes (c, db, "_id_ b_1 e_1");
   /* "*" drops all but _id_. */
   conf_ok (c, db, "{'dropIndexes': 'c', 'index': '*'}", NULL);
   expect_indexes (c, db, "_id_");
   /* A dropped unique index no longer constrains. */
   conf_ok (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'u': 1}, 'name': 'u_1', 'unique': true}]}", NULL);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'u': 1}]}", NULL);
   mltest_cmd_fails (c, db, "{'insert': 'c', 'documents': [{'_id': 2, 'u': 1}]}", 11000);
   conf_ok (c, db, "{'dropIndexes': 'c', 'index': 'u_1'}", NULL);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 2, 'u': 1}]}", NULL);
   /* drop removes the collection and its indexes. */
   conf_ok (c, db, "{'drop': 'c'}", NULL);
   conf_cmd_error (c, db, "{'listIndexes': 'c', 'cursor': {}}", 26, NULL);
   conf_close (c, db);
}
