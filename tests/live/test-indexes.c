/* SPDX-License-Identifier: Apache-2.0 */
/* Live: mongolock_client_ensure_indexes follows the client's cleanup_secs on a deployed
 * collection (collMod in place), and reports any index it may not change as
 * MONGOLOCK_ERROR_INDEX_CONFLICT with what to do, leaving the indexes as they were. */
#include <criterion/criterion.h>
#include <string.h>

#include "lock-test.h"

TestSuite (indexes, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 120);

#define TTL_INDEX "mongolock_expiresAt_ttl"

static mongolock_client_t *
client_with_cleanup (const char *db, int64_t secs)
{
   bson_error_t error;
   mongolock_client_opts_t *o = mongolock_client_opts_new ();
   cr_assert (mongolock_client_opts_set_database (o, db, &error), "%s", error.message);
   cr_assert (mongolock_client_opts_set_cleanup_secs (o, secs, &error), "%s", error.message);
   mongolock_client_t *c = mongolock_client_new (mltest_uri (), o, &error);
   cr_assert (c, "%s", error.message);
   mongolock_client_opts_destroy (o);
   return c;
}

/* "name:ttl,..." for the lock collection's indexes (ttl -1 when none), in listIndexes order. */
static char *
index_summary (mongoc_client_t *mc, const char *db)
{
   bson_t reply;
   mltest_cmd_ok (mc, db, "{'listIndexes': 'locks', 'cursor': {}}", &reply);
   bson_iter_t it, batch;
   cr_assert (bson_iter_init (&it, &reply) && bson_iter_find_descendant (&it, "cursor.firstBatch", &batch) &&
              bson_iter_recurse (&batch, &batch));
   bson_string_t *s = bson_string_new ("");
   while (bson_iter_next (&batch)) {
      bson_iter_t f;
      const char *name = "";
      int64_t ttl = -1;
      cr_assert (bson_iter_recurse (&batch, &f));
      while (bson_iter_next (&f)) {
         if (strcmp (bson_iter_key (&f), "name") == 0) {
            name = bson_iter_utf8 (&f, NULL);
         } else if (strcmp (bson_iter_key (&f), "expireAfterSeconds") == 0) {
            ttl = bson_iter_as_int64 (&f);
         }
      }
      bson_string_append_printf (s, "%s%s:%" PRId64, s->len ? "," : "", name, ttl);
   }
   bson_destroy (&reply);
   return bson_string_free (s, false);
}

static void
expect_indexes (mongoc_client_t *mc, const char *db, const char *expected)
{
   char *got = index_summary (mc, db);
   cr_assert_str_eq (got, expected);
   bson_free (got);
}

Test (indexes, a_new_cleanup_delay_updates_the_ttl_in_place)
{
   char *db = mltest_db_name ("idx");
   mongoc_client_t *mc = mltest_client ();
   bson_error_t error;
   mongolock_client_t *c60 = client_with_cleanup (db, 60);
   cr_assert (mongolock_client_ensure_indexes (c60, &error), "%s", error.message);
   expect_indexes (mc, db, "_id_:-1," TTL_INDEX ":60");

   mongolock_client_t *c120 = client_with_cleanup (db, 120);
   cr_assert (mongolock_client_ensure_indexes (c120, &error), "cleanup 60 -> 120: %s (domain %u code %u)",
              error.message, error.domain, error.code);
   expect_indexes (mc, db, "_id_:-1," TTL_INDEX ":120");
   cr_assert (mongolock_client_ensure_indexes (c120, &error), "again: %s", error.message);
   cr_assert (mongolock_client_ensure_indexes (c60, &error), "and back: %s", error.message);
   expect_indexes (mc, db, "_id_:-1," TTL_INDEX ":60");
   cr_assert (mongolock_client_ensure_indexes (c60, NULL), "error is optional");

   mongolock_client_destroy (c120);
   mongolock_client_destroy (c60);
   mltest_drop_db (mc, db);
   mongoc_client_destroy (mc);
   bson_free (db);
}

/* mongolock's name on a plain {expiresAt: 1} index: collMod makes it the TTL index. */
Test (indexes, our_name_without_a_ttl_becomes_the_ttl_index)
{
   char *db = mltest_db_name ("idx");
   mongoc_client_t *mc = mltest_client ();
   mltest_cmd_ok (mc, db, "{'createIndexes': 'locks', 'indexes': [{'key': {'expiresAt': 1}, 'name': '" TTL_INDEX "'}]}",
                  NULL);
   bson_error_t error;
   mongolock_client_t *c = client_with_cleanup (db, 300);
   cr_assert (mongolock_client_ensure_indexes (c, &error), "%s", error.message);
   expect_indexes (mc, db, "_id_:-1," TTL_INDEX ":300");
   mongolock_client_destroy (c);
   mltest_drop_db (mc, db);
   mongoc_client_destroy (mc);
   bson_free (db);
}

static void
expect_conflict (const char *setup, const char *expected_indexes, const char *needle)
{
   char *db = mltest_db_name ("idx");
   mongoc_client_t *mc = mltest_client ();
   mltest_cmd_ok (mc, db, setup, NULL);
   bson_error_t error;
   mongolock_client_t *c = client_with_cleanup (db, 120);
   cr_assert_not (mongolock_client_ensure_indexes (c, &error), "ensure_indexes over %s", setup);
   cr_assert_eq (error.domain, MONGOLOCK_ERROR_DOMAIN, "%s (domain %u code %u)", error.message, error.domain, error.code);
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INDEX_CONFLICT, "%s", error.message);
   cr_assert (strstr (error.message, needle), "the message names the index: %s", error.message);
   cr_assert (strstr (error.message, "dropIndex"), "the message says what to do: %s", error.message);
   expect_indexes (mc, db, expected_indexes);
   mongolock_client_destroy (c);
   mltest_drop_db (mc, db);
   mongoc_client_destroy (mc);
   bson_free (db);
}

Test (indexes, conflicts_are_reported_not_changed)
{
   /* Another index on {expiresAt: 1}, with a TTL or without (85 on createIndexes). */
   expect_conflict ("{'createIndexes': 'locks', 'indexes': [{'key': {'expiresAt': 1}, 'name': 'app_ttl', "
                    "'expireAfterSeconds': 5}]}",
                    "_id_:-1,app_ttl:5", "app_ttl");
   expect_conflict ("{'createIndexes': 'locks', 'indexes': [{'key': {'expiresAt': 1}, 'name': 'expiresAt_1'}]}",
                    "_id_:-1,expiresAt_1:-1", "expiresAt_1");
   /* mongolock's name on another key, or with an option that makes it another index (86). */
   expect_conflict ("{'createIndexes': 'locks', 'indexes': [{'key': {'other': 1}, 'name': '" TTL_INDEX "'}]}",
                    "_id_:-1," TTL_INDEX ":-1", TTL_INDEX);
   expect_conflict ("{'createIndexes': 'locks', 'indexes': [{'key': {'expiresAt': 1}, 'name': '" TTL_INDEX
                    "', 'expireAfterSeconds': 60, 'sparse': true}]}",
                    "_id_:-1," TTL_INDEX ":60", TTL_INDEX);
}
