/* SPDX-License-Identifier: Apache-2.0 */
/* collMod on an index (MONGODB-RULES 13: "Changing expireAfterSeconds in place is
 * collMod's job"): a TTL index's expireAfterSeconds changes without a rebuild, a plain
 * single-field index becomes a TTL index (5.1+), and what cannot be done fails with the
 * codes below, on the bundled server as on MongoDB 6.0-8.0.
 *
 * References (MongoDB source):
 * - src/mongo/db/coll_mod.idl: CollModIndex {name: string, keyPattern: object,
 *   expireAfterSeconds: safeInt, hidden, unique, ...} and the request are strict, so an
 *   unknown field fails 40415 and a wrongly typed one 14 TypeMismatch (IDL parsing, before
 *   anything else).
 * - src/mongo/db/catalog/coll_mod.cpp, _collModInternal: a missing database or collection
 *   fails 26 NamespaceNotFound "ns does not exist" before the request is parsed against it;
 *   parseCollModRequest: both name and keyPattern, or neither, or nothing to change
 *   (no expireAfterSeconds, hidden, unique, ...) -> 72 InvalidOptions; an expireAfterSeconds
 *   index_key_validate::validateExpireAfterSeconds refuses (negative) -> 72; no index of that
 *   name or key pattern -> 27 IndexNotFound "cannot find index ... for ns ..."; a key
 *   pattern matching two indexes -> 181 AmbiguousIndexKeyPattern; adding a TTL to the _id
 *   index or to a compound index -> 72.
 * - src/mongo/db/catalog/coll_mod_index.cpp, processCollModIndexRequest: the reply carries
 *   expireAfterSeconds_old (only when the index already had one) and
 *   expireAfterSeconds_new, also when the value does not change.
 * - Manual, collMod: "Change Expiration Value for Indexes"; "Convert a non-TTL single-field
 *   index to TTL" (5.1+). */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (collmod, .init = conf_init, .fini = conf_fini, .timeout = 400);

/* expireAfterSeconds of the index named name in db.c (-1 when it has none). */
static int64_t
ttl_of (mongoc_client_t *c, const char *db, const char *name)
{
   bson_t r;
   conf_ok (c, db, "{'listIndexes': 'c', 'cursor': {}}", &r);
   int n = conf_array_len (&r, "cursor.firstBatch");
   int64_t ttl = -2;
   for (int i = 0; i < n; i++) {
      char path[64];
      snprintf (path, sizeof path, "cursor.firstBatch.%d.name", i);
      if (strcmp (conf_str (&r, path), name) == 0) {
         snprintf (path, sizeof path, "cursor.firstBatch.%d.expireAfterSeconds", i);
         ttl = conf_type (&r, path) == BSON_TYPE_EOD ? -1 : conf_int32 (&r, path);
      }
   }
   bson_destroy (&r);
   cr_assert_neq (ttl, -2, "no index %s", name);
   return ttl;
}

static void
create_ttl_index (mongoc_client_t *c, const char *db)
{
   conf_ok (c, db,
            "{'createIndexes': 'c', 'indexes': [{'key': {'expiresAt': 1}, 'name': 'exp_ttl', 'expireAfterSeconds': 60}, "
            "{'key': {'a': 1}, 'name': 'a_1'}, {'key': {'x': 1, 'y': 1}, 'name': 'xy'}]}",
            NULL);
}

Test (collmod, changes_a_ttl_in_place_by_name_or_key_pattern)
{
   char *db;
   mongoc_client_t *c = conf_open ("cmod", &db);
   create_ttl_index (c, db);
   bson_t r;
   conf_ok (c, db, "{'collMod': 'c', 'index': {'name': 'exp_ttl', 'expireAfterSeconds': 120}}", &r);
   cr_assert_eq (conf_int (&r, "expireAfterSeconds_old"), 60);
   cr_assert_eq (conf_int (&r, "expireAfterSeconds_new"), 120);
   bson_destroy (&r);
   cr_assert_eq (ttl_of (c, db, "exp_ttl"), 120, "listIndexes shows the new value");

   conf_ok (c, db, "{'collMod': 'c', 'index': {'keyPattern': {'expiresAt': 1}, 'expireAfterSeconds': 90}}", &r);
   cr_assert_eq (conf_int (&r, "expireAfterSeconds_old"), 120);
   cr_assert_eq (conf_int (&r, "expireAfterSeconds_new"), 90);
   bson_destroy (&r);
   cr_assert_eq (ttl_of (c, db, "exp_ttl"), 90);

   /* The same value again: nothing changes, and the reply still says both. */
   conf_ok (c, db, "{'collMod': 'c', 'index': {'name': 'exp_ttl', 'expireAfterSeconds': 90}}", &r);
   cr_assert_eq (conf_int (&r, "expireAfterSeconds_old"), 90);
   cr_assert_eq (conf_int (&r, "expireAfterSeconds_new"), 90);
   bson_destroy (&r);

   /* With a write concern, as a write command; 0 is a valid value. */
   conf_ok (c, db,
            "{'collMod': 'c', 'index': {'name': 'exp_ttl', 'expireAfterSeconds': 0}, 'writeConcern': {'w': 'majority'}}",
            NULL);
   cr_assert_eq (ttl_of (c, db, "exp_ttl"), 0);

   /* Nothing else changed: same indexes, and createIndexes with the new value is a no-op. */
   conf_ok (c, db, "{'listIndexes': 'c', 'cursor': {}}", &r);
   cr_assert_eq (conf_array_len (&r, "cursor.firstBatch"), 4);
   bson_destroy (&r);
   conf_ok (c, db,
            "{'createIndexes': 'c', 'indexes': [{'key': {'expiresAt': 1}, 'name': 'exp_ttl', 'expireAfterSeconds': 0}]}",
            &r);
   cr_assert_eq (conf_int (&r, "numIndexesBefore"), conf_int (&r, "numIndexesAfter"));
   bson_destroy (&r);
   conf_close (c, db);
}

Test (collmod, makes_a_single_field_index_a_ttl_index)
{
   char *db;
   mongoc_client_t *c = conf_open ("cmod", &db);
   create_ttl_index (c, db);
   bson_t r;
   conf_ok (c, db, "{'collMod': 'c', 'index': {'name': 'a_1', 'expireAfterSeconds': 30}}", &r);
   cr_assert_eq (conf_type (&r, "expireAfterSeconds_old"), BSON_TYPE_EOD, "no old value: it was not a TTL index");
   cr_assert_eq (conf_int (&r, "expireAfterSeconds_new"), 30);
   bson_destroy (&r);
   cr_assert_eq (ttl_of (c, db, "a_1"), 30);
   conf_close (c, db);
}

Test (collmod, refusals)
{
   char *db;
   mongoc_client_t *c = conf_open ("cmod", &db);
   bson_t r;
   /* 26: no collection (and no database) yet. */
   conf_cmd_error (c, db, "{'collMod': 'c', 'index': {'name': 'exp_ttl', 'expireAfterSeconds': 10}}", 26, &r);
   cr_assert_str_eq (conf_str (&r, "codeName"), "NamespaceNotFound");
   bson_destroy (&r);
   create_ttl_index (c, db);
   conf_cmd_error (c, db, "{'collMod': 'nope', 'index': {'name': 'exp_ttl', 'expireAfterSeconds': 10}}", 26, NULL);

   /* 40415 / 14: the request is strict and typed. */
   conf_cmd_error (c, db, "{'collMod': 'c', 'index': {'name': 'exp_ttl', 'expireAfterSeconds': 10, 'bogus': 1}}", 40415,
                   NULL);
   conf_cmd_error (c, db, "{'collMod': 'c', 'bogus': 1}", 40415, NULL);
   conf_cmd_error (c, db, "{'collMod': 'c', 'index': {'name': 'exp_ttl', 'expireAfterSeconds': 'ten'}}", 14, NULL);
   conf_cmd_error (c, db, "{'collMod': 'c', 'index': {'name': 5, 'expireAfterSeconds': 10}}", 14, NULL);
   conf_cmd_error (c, db, "{'collMod': 'c', 'index': 'exp_ttl'}", 14, NULL);

   /* 72: which index, and what to change. */
   conf_cmd_error (c, db,
                   "{'collMod': 'c', 'index': {'name': 'exp_ttl', 'keyPattern': {'expiresAt': 1}, "
                   "'expireAfterSeconds': 10}}",
                   72, &r);
   cr_assert_str_eq (conf_str (&r, "codeName"), "InvalidOptions");
   bson_destroy (&r);
   conf_cmd_error (c, db, "{'collMod': 'c', 'index': {'expireAfterSeconds': 10}}", 72, NULL);
   conf_cmd_error (c, db, "{'collMod': 'c', 'index': {'name': 'exp_ttl'}}", 72, NULL);
   conf_cmd_error (c, db, "{'collMod': 'c', 'index': {'name': 'exp_ttl', 'expireAfterSeconds': -1}}", 72, NULL);

   /* 27: no such index, by name or by key pattern. */
   conf_cmd_error (c, db, "{'collMod': 'c', 'index': {'name': 'nope', 'expireAfterSeconds': 10}}", 27, &r);
   cr_assert_str_eq (conf_str (&r, "codeName"), "IndexNotFound");
   bson_destroy (&r);
   conf_cmd_error (c, db, "{'collMod': 'c', 'index': {'keyPattern': {'expiresAt': -1}, 'expireAfterSeconds': 10}}", 27,
                   NULL);

   /* 72: a TTL index has one field, and never on _id. */
   conf_cmd_error (c, db, "{'collMod': 'c', 'index': {'name': 'xy', 'expireAfterSeconds': 10}}", 72, NULL);
   conf_cmd_error (c, db, "{'collMod': 'c', 'index': {'name': '_id_', 'expireAfterSeconds': 10}}", 72, NULL);

   /* 181: a key pattern that names two indexes (unique identifies an index, rule 13). */
   conf_ok (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1_unique', 'unique': true}]}", NULL);
   conf_cmd_error (c, db, "{'collMod': 'c', 'index': {'keyPattern': {'a': 1}, 'expireAfterSeconds': 10}}", 181, &r);
   cr_assert_str_eq (conf_str (&r, "codeName"), "AmbiguousIndexKeyPattern");
   bson_destroy (&r);

   /* Every refusal left the index as it was. */
   cr_assert_eq (ttl_of (c, db, "exp_ttl"), 60);
   cr_assert_eq (ttl_of (c, db, "a_1"), -1);
   cr_assert_eq (ttl_of (c, db, "xy"), -1);
   conf_close (c, db);
}

/* The TTL monitor uses the new value: a document 1 h old survives a 1-year TTL and is
 * deleted once collMod lowers it to 60 s (monitor period shortened as in test-ttl.c). */
Test (collmod, the_monitor_uses_the_new_value)
{
   char *db;
   mongoc_client_t *c = conf_open ("cmod", &db);
   create_ttl_index (c, db);
   conf_ok (c, db, "{'collMod': 'c', 'index': {'name': 'exp_ttl', 'expireAfterSeconds': 31536000}}", NULL);
   int64_t now = conf_server_time_ms (c);
   char *cmd = bson_strdup_printf (
      "{'insert': 'c', 'documents': [{'_id': 'old', 'expiresAt': {'$date': {'$numberLong': '%" PRId64 "'}}}]}",
      now - 3600000);
   conf_ok (c, db, cmd, NULL);
   bson_free (cmd);
   conf_ok (c, "admin", "{'setParameter': 1, 'ttlMonitorSleepSecs': 1}", NULL);
   mltest_sleep_ms (2500);
   cr_assert_eq (conf_count (c, db, "c", NULL), 1, "a 1-year TTL deleted a 1-hour-old document");
   conf_ok (c, db, "{'collMod': 'c', 'index': {'name': 'exp_ttl', 'expireAfterSeconds': 60}}", NULL);
   int64_t start = mltest_now_ms ();
   while (conf_count (c, db, "c", NULL) != 0) {
      cr_assert_lt (mltest_now_ms () - start, 150000, "not deleted after collMod lowered the TTL");
      mltest_sleep_ms (250);
   }
   conf_ok (c, "admin", "{'setParameter': 1, 'ttlMonitorSleepSecs': 60}", NULL);
   conf_close (c, db);
}
