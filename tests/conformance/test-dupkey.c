/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 9: a duplicate key fails with 11000 DuplicateKey, errmsg "E11000 duplicate key
 * error collection: DB.COLL index: NAME dup key: { ... }", plus keyPattern and keyValue;
 * per statement (writeErrors) for insert/update, a command error for findAndModify.
 *
 * References: src/mongo/db/storage/duplicate_key_error_info.cpp and key_string.cpp
 * (buildDupKeyErrorStatus: "E11000 duplicate key error" << " collection: " << ns << "
 * index: " << indexName << " dup key: " << the key with the index's field names, in
 * BSONObj::toString form, e.g. { a: 5 } / { _id: "x" } / { a: null }); the
 * DuplicateKeyErrorInfo extra info serialises keyPattern and keyValue next to code and
 * errmsg (in a writeError entry, or at the top level of a command error). Manual "Unique
 * Indexes": a document without the indexed field is indexed as null, so a second one
 * violates a (non-sparse, non-partial) unique index. */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (dupkey, .init = conf_init, .fini = conf_fini, .timeout = 60);

/* Checks a duplicate-key error document (a writeError entry or a command reply). */
static void
check_dup (const bson_t *e, const char *db, const char *index, const char *key_text, const char *pattern_json,
           const char *value_json)
{
   char *s = conf_json (e);
   cr_assert_eq (conf_int (e, "code"), 11000, "%s", s);
   char *want = bson_strdup_printf ("E11000 duplicate key error collection: %s.c index: %s dup key: %s", db, index,
                                    key_text);
   cr_assert_str_eq (conf_str (e, "errmsg"), want, "errmsg differs: %s", s);
   bson_free (want);
   bson_t pattern, value;
   conf_doc (e, "keyPattern", &pattern);
   conf_doc (e, "keyValue", &value);
   bson_t *wp = mltest_bson (pattern_json), *wv = mltest_bson (value_json);
   char *gp = conf_json (&pattern), *gv = conf_json (&value), *ep = conf_json (wp), *ev = conf_json (wv);
   cr_assert_str_eq (gp, ep, "keyPattern: %s", s);
   cr_assert_str_eq (gv, ev, "keyValue: %s", s);
   bson_free (gp);
   bson_free (gv);
   bson_free (ep);
   bson_free (ev);
   bson_destroy (wp);
   bson_destroy (wv);
   bson_free (s);
}

static void
insert_dup (mongoc_client_t *c, const char *db, const char *docs, const char *index, const char *key_text,
            const char *pattern, const char *value)
{
   char *cmd = bson_strdup_printf ("{'insert': 'c', 'documents': %s}", docs);
   bson_t r, e;
   mltest_cmd_ok (c, db, cmd, &r);
   conf_write_error (&r, 0, 1, 11000, &e);
   check_dup (&e, db, index, key_text, pattern, value);
   cr_assert_eq (conf_int (&r, "n"), 1);
   bson_destroy (&r);
   bson_free (cmd);
}

Test (dupkey, id_duplicates_on_insert)
{
   char *db;
   mongoc_client_t *c = conf_open ("dk", &db);
   insert_dup (c, db, "[{'_id': 1}, {'_id': 1}]", "_id_", "{ _id: 1 }", "{'_id': 1}", "{'_id': 1}");
   insert_dup (c, db, "[{'_id': 'x'}, {'_id': 'x'}]", "_id_", "{ _id: \"x\" }", "{'_id': 1}", "{'_id': 'x'}");
   cr_assert_eq (conf_count (c, db, "c", NULL), 2);
   conf_close (c, db);
}

Test (dupkey, unique_index_duplicates_on_insert)
{
   char *db;
   mongoc_client_t *c = conf_open ("dk", &db);
   conf_ok (c, db,
            "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1', 'unique': true}, "
            "{'key': {'p': 1, 'q': -1}, 'name': 'pq', 'unique': true}, "
            "{'key': {'x.y': 1}, 'name': 'xy', 'unique': true}]}",
            NULL);
   /* Every document has every indexed field, with values unique except the one under test. */
   insert_dup (c, db,
               "[{'_id': 1, 'a': 5, 'p': 1, 'q': 'z1', 'x': {'y': 1}}, {'_id': 2, 'a': 5, 'p': 2, 'q': 'z2', 'x': {'y': 2}}]",
               "a_1", "{ a: 5 }", "{'a': 1}", "{'a': 5}");
   insert_dup (c, db,
               "[{'_id': 3, 'a': 6, 'p': 1, 'q': 'z', 'x': {'y': 3}}, {'_id': 4, 'a': 7, 'p': 1, 'q': 'z', 'x': {'y': 4}}]",
               "pq", "{ p: 1, q: \"z\" }", "{'p': 1, 'q': -1}", "{'p': 1, 'q': 'z'}");
   insert_dup (c, db,
               "[{'_id': 5, 'a': 8, 'p': 5, 'q': 'z5', 'x': {'y': 9}}, {'_id': 6, 'a': 9, 'p': 6, 'q': 'z6', 'x': {'y': 9}}]",
               "xy", "{ x.y: 9 }", "{'x.y': 1}", "{'x.y': 9}");
   cr_assert_eq (conf_count (c, db, "c", NULL), 3);
   conf_close (c, db);
}

Test (dupkey, missing_field_is_null_in_a_unique_index)
{
   char *db;
   mongoc_client_t *c = conf_open ("dk", &db);
   conf_ok (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'m': 1}, 'name': 'm_1', 'unique': true}]}", NULL);
   insert_dup (c, db, "[{'_id': 1}, {'_id': 2}]", "m_1", "{ m: null }", "{'m': 1}", "{'m': null}");
   /* An explicit null collides with the missing one too. */
   mltest_cmd_fails (c, db, "{'insert': 'c', 'documents': [{'_id': 3, 'm': null}]}", 11000);
   cr_assert_eq (conf_count (c, db, "c", NULL), 1);
   conf_close (c, db);
}

Test (dupkey, duplicates_on_update_and_upsert)
{
   char *db;
   mongoc_client_t *c = conf_open ("dk", &db);
   conf_ok (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1', 'unique': true}]}", NULL);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}, {'_id': 2, 'a': 2}]}", NULL);
   bson_t r, e;
   mltest_cmd_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 2}, 'u': {'$set': {'a': 1}}}]}", &r);
   conf_write_error (&r, 0, 0, 11000, &e);
   check_dup (&e, db, "a_1", "{ a: 1 }", "{'a': 1}", "{'a': 1}");
   bson_destroy (&r);
   /* A pipeline update hits the same index. */
   mltest_cmd_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 2}, 'u': [{'$set': {'a': {'$add': [0, 1]}}}]}]}",
                  &r);
   conf_write_error (&r, 0, 0, 11000, &e);
   check_dup (&e, db, "a_1", "{ a: 1 }", "{'a': 1}", "{'a': 1}");
   bson_destroy (&r);
   /* An upsert whose insert collides on a secondary index (the query is on _id, not on the
    * index's field, so no server retry applies). */
   mltest_cmd_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 3}, 'u': {'$set': {'a': 2}}, 'upsert': true}]}",
                  &r);
   conf_write_error (&r, 0, 0, 11000, &e);
   check_dup (&e, db, "a_1", "{ a: 2 }", "{'a': 1}", "{'a': 2}");
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 2, 'a': 2}"), 1);
   cr_assert_eq (conf_count (c, db, "c", NULL), 2);
   conf_close (c, db);
}

Test (dupkey, find_and_modify_duplicate_is_a_command_error)
{
   char *db;
   mongoc_client_t *c = conf_open ("dk", &db);
   conf_ok (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1', 'unique': true}]}", NULL);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}, {'_id': 2, 'a': 2}]}", NULL);
   bson_t r;
   conf_cmd_error (c, db, "{'findAndModify': 'c', 'query': {'_id': 2}, 'update': {'$set': {'a': 1}}, 'new': true}",
                   11000, &r);
   cr_assert_str_eq (conf_str (&r, "codeName"), "DuplicateKey");
   check_dup (&r, db, "a_1", "{ a: 1 }", "{'a': 1}", "{'a': 1}");
   bson_destroy (&r);
   conf_cmd_error (c, db, "{'findAndModify': 'c', 'query': {'_id': 9}, 'update': {'$set': {'a': 2}}, 'upsert': true}",
                   11000, &r);
   check_dup (&r, db, "a_1", "{ a: 2 }", "{'a': 1}", "{'a': 2}");
   bson_destroy (&r);
   /* _id: an upsert whose query does not name _id but whose update sets it. */
   conf_cmd_error (c, db,
                   "{'findAndModify': 'c', 'query': {'a': 50}, 'update': {'$setOnInsert': {'_id': 1}}, 'upsert': true}",
                   11000, &r);
   check_dup (&r, db, "_id_", "{ _id: 1 }", "{'_id': 1}", "{'_id': 1}");
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", NULL), 2);
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 2, 'a': 2}"), 1);
   conf_close (c, db);
}
