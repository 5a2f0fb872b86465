/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 3: findAndModify reply shape (lastErrorObject, pre/post image, null for an upsert
 * insert without new), a failing findAndModify is a command error, and insert/update/
 * delete report per-statement failures in writeErrors with ok:1 (ordered stops at the
 * first failure, unordered goes on).
 *
 * References: manual "findAndModify" (Output: lastErrorObject.n, updatedExisting,
 * upserted; value is null when nothing matched or for an upsert insert with new:false);
 * manual "insert"/"update"/"delete" (Output: n, nModified, upserted, writeErrors with
 * index, code, errmsg; "ordered: true ... stops at the first error"); CRUD spec
 * (specifications/source/crud). Codes: 11000 DuplicateKey, 14 TypeMismatch ("Cannot
 * apply $inc to a value of non-numeric type", src/mongo/db/update/arithmetic_node.cpp),
 * 66 ImmutableField ("Performing an update on the path '_id' would modify the immutable
 * field '_id'", src/mongo/db/update/update_driver.cpp), 2 BadValue for an unknown query
 * operator. */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (writes, .init = conf_init, .fini = conf_fini, .timeout = 60);

static void
fam (mongoc_client_t *c, const char *db, const char *json, bson_t *r)
{
   conf_ok (c, db, json, r);
   char *s = conf_json (r);
   cr_assert_eq (conf_type (r, "lastErrorObject"), BSON_TYPE_DOCUMENT, "no lastErrorObject: %s", s);
   cr_assert_neq (conf_type (r, "value"), BSON_TYPE_EOD, "no value field: %s", s);
   bson_free (s);
}

Test (writes, find_and_modify_update_pre_and_post_image)
{
   char *db;
   mongoc_client_t *c = conf_open ("wr", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1, 'b': 'x'}, {'_id': 2, 'a': 2}]}", NULL);
   bson_t r;

   /* Default new:false returns the pre-image. */
   fam (c, db, "{'findAndModify': 'c', 'query': {'_id': 1}, 'update': {'$inc': {'a': 10}}}", &r);
   char *s = conf_json (&r);
   cr_assert_eq (conf_int (&r, "lastErrorObject.n"), 1, "%s", s);
   cr_assert (conf_bool (&r, "lastErrorObject.updatedExisting"), "%s", s);
   cr_assert_eq (conf_type (&r, "lastErrorObject.upserted"), BSON_TYPE_EOD, "upserted on an update: %s", s);
   cr_assert_eq (conf_int (&r, "value.a"), 1, "not the pre-image: %s", s);
   cr_assert_str_eq (conf_str (&r, "value.b"), "x");
   bson_free (s);
   bson_destroy (&r);

   /* new:true returns the post-image. */
   fam (c, db, "{'findAndModify': 'c', 'query': {'_id': 1}, 'update': {'$inc': {'a': 1}}, 'new': true}", &r);
   cr_assert_eq (conf_int (&r, "value.a"), 12);
   cr_assert (conf_bool (&r, "lastErrorObject.updatedExisting"));
   bson_destroy (&r);

   /* A replacement keeps _id and drops the other fields. */
   fam (c, db, "{'findAndModify': 'c', 'query': {'_id': 1}, 'update': {'r': 1}, 'new': true}", &r);
   s = conf_json (&r);
   cr_assert_eq (conf_int (&r, "value._id"), 1, "%s", s);
   cr_assert_eq (conf_int (&r, "value.r"), 1, "%s", s);
   cr_assert_eq (conf_type (&r, "value.a"), BSON_TYPE_EOD, "replacement kept a: %s", s);
   bson_free (s);
   bson_destroy (&r);

   /* No match and no upsert: value null, n 0. */
   fam (c, db, "{'findAndModify': 'c', 'query': {'_id': 99}, 'update': {'$set': {'a': 1}}}", &r);
   s = conf_json (&r);
   cr_assert_eq (conf_type (&r, "value"), BSON_TYPE_NULL, "%s", s);
   cr_assert_eq (conf_int (&r, "lastErrorObject.n"), 0, "%s", s);
   cr_assert_not (conf_bool (&r, "lastErrorObject.updatedExisting"), "%s", s);
   bson_free (s);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", NULL), 2, "a non-upsert findAndModify inserted");
   conf_close (c, db);
}

Test (writes, find_and_modify_upsert_reply)
{
   char *db;
   mongoc_client_t *c = conf_open ("wr", &db);
   bson_t r;
   /* Upsert insert with new:false: value is null (there was no pre-image). */
   fam (c, db, "{'findAndModify': 'c', 'query': {'_id': 5}, 'update': {'$set': {'z': 1}}, 'upsert': true}", &r);
   char *s = conf_json (&r);
   cr_assert_eq (conf_type (&r, "value"), BSON_TYPE_NULL, "%s", s);
   cr_assert_eq (conf_int (&r, "lastErrorObject.n"), 1, "%s", s);
   cr_assert_not (conf_bool (&r, "lastErrorObject.updatedExisting"), "%s", s);
   cr_assert_eq (conf_int (&r, "lastErrorObject.upserted"), 5, "%s", s);
   bson_free (s);
   bson_destroy (&r);

   /* Upsert insert with new:true: value is the inserted document. */
   fam (c, db,
        "{'findAndModify': 'c', 'query': {'_id': 6}, 'update': {'$set': {'z': 2}}, 'upsert': true, 'new': true}", &r);
   s = conf_json (&r);
   cr_assert_eq (conf_int (&r, "value._id"), 6, "%s", s);
   cr_assert_eq (conf_int (&r, "value.z"), 2, "%s", s);
   cr_assert_eq (conf_int (&r, "lastErrorObject.upserted"), 6, "%s", s);
   bson_free (s);
   bson_destroy (&r);

   /* Upsert that matches: an ordinary update, no upserted field. */
   fam (c, db,
        "{'findAndModify': 'c', 'query': {'_id': 6}, 'update': {'$inc': {'z': 1}}, 'upsert': true, 'new': true}", &r);
   s = conf_json (&r);
   cr_assert (conf_bool (&r, "lastErrorObject.updatedExisting"), "%s", s);
   cr_assert_eq (conf_type (&r, "lastErrorObject.upserted"), BSON_TYPE_EOD, "%s", s);
   cr_assert_eq (conf_int (&r, "value.z"), 3, "%s", s);
   bson_free (s);
   bson_destroy (&r);

   /* Without _id in the query the server generates an ObjectId. */
   fam (c, db, "{'findAndModify': 'c', 'query': {'k': 'q'}, 'update': {'$set': {'z': 3}}, 'upsert': true}", &r);
   s = conf_json (&r);
   cr_assert_eq (conf_type (&r, "lastErrorObject.upserted"), BSON_TYPE_OID, "%s", s);
   bson_free (s);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", "{'k': 'q', 'z': 3}"), 1);
   conf_close (c, db);
}

Test (writes, find_and_modify_sort_fields_remove)
{
   char *db;
   mongoc_client_t *c = conf_open ("wr", &db);
   conf_ok (c, db,
            "{'insert': 'c', 'documents': [{'_id': 1, 'a': 5, 'b': 'p'}, {'_id': 2, 'a': 9, 'b': 'q'}, "
            "{'_id': 3, 'a': 7, 'b': 'r'}]}",
            NULL);
   bson_t r;
   /* sort picks which document; fields projects the returned one. */
   fam (c, db,
        "{'findAndModify': 'c', 'query': {}, 'sort': {'a': -1}, 'update': {'$set': {'t': 1}}, 'fields': {'a': 1}}",
        &r);
   char *s = conf_json (&r);
   cr_assert_eq (conf_int (&r, "value._id"), 2, "sort ignored: %s", s);
   cr_assert_eq (conf_int (&r, "value.a"), 9, "%s", s);
   cr_assert_eq (conf_type (&r, "value.b"), BSON_TYPE_EOD, "fields ignored: %s", s);
   bson_free (s);
   bson_destroy (&r);
   fam (c, db, "{'findAndModify': 'c', 'query': {}, 'sort': {'a': 1}, 'remove': true, 'fields': {'_id': 0, 'b': 1}}",
        &r);
   s = conf_json (&r);
   cr_assert_str_eq (conf_str (&r, "value.b"), "p", "%s", s);
   cr_assert_eq (conf_type (&r, "value._id"), BSON_TYPE_EOD, "%s", s);
   cr_assert_eq (conf_int (&r, "lastErrorObject.n"), 1, "%s", s);
   bson_free (s);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 1}"), 0, "remove:true left the document");

   fam (c, db, "{'findAndModify': 'c', 'query': {'_id': 42}, 'remove': true}", &r);
   cr_assert_eq (conf_type (&r, "value"), BSON_TYPE_NULL);
   cr_assert_eq (conf_int (&r, "lastErrorObject.n"), 0);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", NULL), 2);
   conf_close (c, db);
}

Test (writes, failing_find_and_modify_is_a_command_error)
{
   char *db;
   mongoc_client_t *c = conf_open ("wr", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 's': 'text', 'n': 1}]}", NULL);
   bson_t r;
   conf_cmd_error (c, db, "{'findAndModify': 'c', 'query': {'_id': 1}, 'update': {'$inc': {'s': 1}}}", 14, &r);
   cr_assert_str_eq (conf_str (&r, "codeName"), "TypeMismatch");
   cr_assert_eq (conf_type (&r, "value"), BSON_TYPE_EOD, "a failed findAndModify carries a value");
   bson_destroy (&r);
   conf_cmd_error (c, db, "{'findAndModify': 'c', 'query': {'_id': 1}, 'update': {'$set': {'_id': 2}}}", 66, &r);
   cr_assert_str_eq (conf_str (&r, "codeName"), "ImmutableField");
   bson_destroy (&r);
   /* Same failures with upsert and new: still command errors, nothing written. */
   conf_cmd_error (c, db,
                   "{'findAndModify': 'c', 'query': {'_id': 1}, 'update': {'$inc': {'s': 1}, '$set': {'n': 2}}, "
                   "'upsert': true, 'new': true}",
                   14, NULL);
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 1, 's': 'text', 'n': 1}"), 1, "the failed command changed data");
   cr_assert_eq (conf_count (c, db, "c", NULL), 1);
   conf_close (c, db);
}

Test (writes, insert_ordered_stops_at_first_error)
{
   char *db;
   mongoc_client_t *c = conf_open ("wr", &db);
   bson_t r;
   mltest_cmd_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}, {'_id': 1}, {'_id': 2}]}", &r);
   conf_write_error (&r, 0, 1, 11000, NULL);
   cr_assert_eq (conf_array_len (&r, "writeErrors"), 1);
   cr_assert_eq (conf_int (&r, "n"), 1);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", NULL), 1, "ordered insert went on after the error");
   conf_close (c, db);
}

Test (writes, insert_unordered_continues)
{
   char *db;
   mongoc_client_t *c = conf_open ("wr", &db);
   bson_t r;
   mltest_cmd_ok (c, db,
                  "{'insert': 'c', 'ordered': false, 'documents': [{'_id': 1}, {'_id': 1}, {'_id': 2}, {'_id': 2}, "
                  "{'_id': 3}]}",
                  &r);
   conf_write_error (&r, 0, 1, 11000, NULL);
   conf_write_error (&r, 1, 3, 11000, NULL);
   cr_assert_eq (conf_array_len (&r, "writeErrors"), 2);
   cr_assert_eq (conf_int (&r, "n"), 3);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", NULL), 3);
   conf_close (c, db);
}

Test (writes, insert_without_id_gets_an_object_id_first)
{
   char *db;
   mongoc_client_t *c = conf_open ("wr", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'a': 1}]}", NULL);
   int n;
   bson_t **docs = conf_find_all (c, db, "c", NULL, NULL, &n);
   cr_assert_eq (n, 1);
   bson_iter_t it;
   cr_assert (bson_iter_init (&it, docs[0]) && bson_iter_next (&it));
   cr_assert_str_eq (bson_iter_key (&it), "_id", "_id is not the first field");
   cr_assert (BSON_ITER_HOLDS_OID (&it));
   conf_docs_free (docs, n);
   conf_close (c, db);
}

Test (writes, update_counts_and_write_errors)
{
   char *db;
   mongoc_client_t *c = conf_open ("wr", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}, {'_id': 2, 's': 'x'}, {'_id': 3, 'a': 3}]}",
            NULL);
   bson_t r;
   /* Matched but unchanged: n 1, nModified 0. */
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$set': {'a': 1}}}]}", &r);
   cr_assert_eq (conf_int (&r, "n"), 1);
   cr_assert_eq (conf_int (&r, "nModified"), 0);
   bson_destroy (&r);
   /* multi touches every match; without multi only one. */
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {}, 'u': {'$set': {'m': 1}}, 'multi': true}]}", &r);
   cr_assert_eq (conf_int (&r, "n"), 3);
   cr_assert_eq (conf_int (&r, "nModified"), 3);
   bson_destroy (&r);
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {}, 'u': {'$set': {'one': 1}}}]}", &r);
   cr_assert_eq (conf_int (&r, "n"), 1);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", "{'one': 1}"), 1);

   /* Ordered: the failing second statement stops the third. */
   mltest_cmd_ok (c, db,
                  "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$inc': {'a': 1}}}, "
                  "{'q': {'_id': 2}, 'u': {'$inc': {'s': 1}}}, {'q': {'_id': 3}, 'u': {'$inc': {'a': 1}}}]}",
                  &r);
   conf_write_error (&r, 0, 1, 14, NULL);
   cr_assert_eq (conf_array_len (&r, "writeErrors"), 1);
   cr_assert_eq (conf_int (&r, "n"), 1);
   cr_assert_eq (conf_int (&r, "nModified"), 1);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 3, 'a': 3}"), 1, "ordered update went on after the error");

   /* Unordered: the third runs; an _id change is its own write error. */
   mltest_cmd_ok (c, db,
                  "{'update': 'c', 'ordered': false, 'updates': [{'q': {'_id': 2}, 'u': {'$inc': {'s': 1}}}, "
                  "{'q': {'_id': 1}, 'u': {'$set': {'_id': 7}}}, {'q': {'_id': 3}, 'u': {'$inc': {'a': 1}}}]}",
                  &r);
   conf_write_error (&r, 0, 0, 14, NULL);
   conf_write_error (&r, 1, 1, 66, NULL);
   cr_assert_eq (conf_int (&r, "n"), 1);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 3, 'a': 4}"), 1);
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 7}"), 0);
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 1, 'a': 2}"), 1);
   conf_close (c, db);
}

Test (writes, delete_counts_and_write_errors)
{
   char *db;
   mongoc_client_t *c = conf_open ("wr", &db);
   conf_ok (c, db,
            "{'insert': 'c', 'documents': [{'_id': 1, 'k': 'a'}, {'_id': 2, 'k': 'a'}, {'_id': 3, 'k': 'b'}, "
            "{'_id': 4, 'k': 'b'}, {'_id': 5, 'k': 'c'}]}",
            NULL);
   bson_t r;
   conf_ok (c, db, "{'delete': 'c', 'deletes': [{'q': {'k': 'a'}, 'limit': 1}]}", &r);
   cr_assert_eq (conf_int (&r, "n"), 1);
   bson_destroy (&r);
   conf_ok (c, db, "{'delete': 'c', 'deletes': [{'q': {'k': 'b'}, 'limit': 0}]}", &r);
   cr_assert_eq (conf_int (&r, "n"), 2);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", NULL), 2);

   /* Ordered: a bad filter in the second statement stops the third. */
   mltest_cmd_ok (c, db,
                  "{'delete': 'c', 'deletes': [{'q': {'k': 'a'}, 'limit': 0}, {'q': {'k': {'$foo': 1}}, 'limit': 0}, "
                  "{'q': {'k': 'c'}, 'limit': 0}]}",
                  &r);
   conf_write_error (&r, 0, 1, 2, NULL);
   cr_assert_eq (conf_int (&r, "n"), 1);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", "{'k': 'c'}"), 1, "ordered delete went on after the error");
   conf_close (c, db);
}
