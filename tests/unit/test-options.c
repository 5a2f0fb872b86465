/* SPDX-License-Identifier: Apache-2.0 */
/* Option validation for clients and locks: every bad value fails with a message naming it. */
#include <criterion/criterion.h>
#include <mongolock/mongolock.h>
#include <string.h>

static void
expect_invalid (bool ok, const bson_error_t *error, const char *needle)
{
   cr_assert_not (ok, "expected a validation failure mentioning \"%s\"", needle);
   cr_assert_eq (error->domain, MONGOLOCK_ERROR_DOMAIN);
   cr_assert_eq (error->code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   cr_assert (strstr (error->message, needle), "message \"%s\" does not mention \"%s\"", error->message, needle);
}

Test (options, lock_lease_bounds)
{
   bson_error_t error;
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   expect_invalid (mongolock_lock_opts_set_lease_ms (o, MONGOLOCK_LEASE_MIN_MS - 1, &error), &error, "lease");
   expect_invalid (mongolock_lock_opts_set_lease_ms (o, MONGOLOCK_LEASE_MAX_MS + 1, &error), &error, "lease");
   expect_invalid (mongolock_lock_opts_set_lease_ms (o, -5, &error), &error, "lease");
   cr_assert (mongolock_lock_opts_set_lease_ms (o, MONGOLOCK_LEASE_MIN_MS, &error));
   cr_assert (mongolock_lock_opts_set_lease_ms (o, MONGOLOCK_LEASE_MAX_MS, &error));
   mongolock_lock_opts_destroy (o);
}

Test (options, lock_wait_and_backoff_bounds)
{
   bson_error_t error;
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   expect_invalid (mongolock_lock_opts_set_wait_ms (o, -1, &error), &error, "wait");
   expect_invalid (mongolock_lock_opts_set_wait_ms (o, MONGOLOCK_WAIT_MAX_MS + 1, &error), &error, "wait");
   cr_assert (mongolock_lock_opts_set_wait_ms (o, 0, &error));
   expect_invalid (mongolock_lock_opts_set_backoff (o, 0, 10, &error), &error, "backoff base");
   expect_invalid (mongolock_lock_opts_set_backoff (o, 20, 10, &error), &error, "backoff cap");
   expect_invalid (mongolock_lock_opts_set_backoff (o, 1, MONGOLOCK_BACKOFF_MAX_MS + 1, &error), &error, "backoff cap");
   cr_assert (mongolock_lock_opts_set_backoff (o, 5, 5, &error));
   mongolock_lock_opts_destroy (o);
   expect_invalid (mongolock_lock_opts_set_lease_ms (NULL, 1000, &error), &error, "opts");
   mongolock_lock_opts_destroy (NULL);
}

Test (options, client_names_identity_write_concern)
{
   bson_error_t error;
   mongolock_client_opts_t *o = mongolock_client_opts_new ();
   expect_invalid (mongolock_client_opts_set_database (o, "", &error), &error, "empty");
   expect_invalid (mongolock_client_opts_set_database (o, "a.b", &error), &error, "database name");
   expect_invalid (mongolock_client_opts_set_database (o, NULL, &error), &error, "NULL");
   expect_invalid (mongolock_client_opts_set_collection (o, "x$y", &error), &error, "collection name");
   expect_invalid (mongolock_client_opts_set_collection (o, "system.locks", &error), &error, "reserved");
   cr_assert (mongolock_client_opts_set_collection (o, "my_locks", &error));
   expect_invalid (mongolock_client_opts_set_identity (o, "\xff\xfe", &error), &error, "UTF-8");
   char big[MONGOLOCK_IDENTITY_MAX_BYTES + 2];
   memset (big, 'a', sizeof big - 1);
   big[sizeof big - 1] = '\0';
   expect_invalid (mongolock_client_opts_set_identity (o, big, &error), &error, "limit");
   mongoc_write_concern_t *wc = mongoc_write_concern_new ();
   mongoc_write_concern_set_w (wc, 0);
   expect_invalid (mongolock_client_opts_set_write_concern (o, wc, &error), &error, "unacknowledged");
   mongoc_write_concern_set_w (wc, 1);
   cr_assert (mongolock_client_opts_set_write_concern (o, wc, &error));
   mongoc_write_concern_destroy (wc);
   expect_invalid (mongolock_client_opts_set_cleanup_secs (o, 59, &error), &error, "cleanup");
   cr_assert (mongolock_client_opts_set_cleanup_secs (o, 60, &error));
   mongolock_client_opts_destroy (o);
   mongolock_client_opts_destroy (NULL);
}

static char *
repeat (char c, size_t n)
{
   char *s = bson_malloc (n + 1);
   memset (s, c, n);
   s[n] = '\0';
   return s;
}

/* MongoDB's naming rules (server: NamespaceString::validDBName / validCollectionName,
 * DatabaseName::kMaxDatabaseNameLength = 63; manual: reference/limits), checked when set. */
Test (options, client_names_follow_mongodb_rules)
{
   bson_error_t error;
   mongolock_client_opts_t *o = mongolock_client_opts_new ();

   char *db63 = repeat ('d', 63), *db64 = repeat ('d', 64);
   cr_assert (mongolock_client_opts_set_database (o, db63, &error), "%s", error.message);
   expect_invalid (mongolock_client_opts_set_database (o, db64, &error), &error, "the limit is 63");
   /* bytes, not characters: 32 two-byte characters are 64 bytes */
   char utf8[65] = "";
   for (int i = 0; i < 32; i++) {
      strcat (utf8, "\xc3\xa9");
   }
   expect_invalid (mongolock_client_opts_set_database (o, utf8, &error), &error, "64 bytes");
   const char *forbidden = "/\\. \"$*<>:|?";
   for (const char *c = forbidden; *c; c++) {
      char name[8] = {'a', *c, 'b', 0};
      expect_invalid (mongolock_client_opts_set_database (o, name, &error), &error, "database name");
   }
   cr_assert (mongolock_client_opts_set_database (o, "app-locks_1", &error), "%s", error.message);

   expect_invalid (mongolock_client_opts_set_collection (o, "", &error), &error, "empty");
   expect_invalid (mongolock_client_opts_set_collection (o, ".x", &error), &error, "starts with '.'");
   expect_invalid (mongolock_client_opts_set_collection (o, "a$b", &error), &error, "'$'");
   expect_invalid (mongolock_client_opts_set_collection (o, "$cmd", &error), &error, "'$'");
   expect_invalid (mongolock_client_opts_set_collection (o, "system.js", &error), &error, "reserved");
   cr_assert (mongolock_client_opts_set_collection (o, "x.", &error), "MongoDB allows a trailing dot: %s", error.message);
   cr_assert (mongolock_client_opts_set_collection (o, "a b.c", &error), "%s", error.message);
   cr_assert (mongolock_client_opts_set_collection (o, "systemx", &error), "%s", error.message);

   /* "<db>.<coll>" at most 255 bytes, checked against the other name as set now */
   cr_assert (mongolock_client_opts_set_database (o, db63, &error), "%s", error.message);
   char *c191 = repeat ('c', 191), *c192 = repeat ('c', 192);
   cr_assert (mongolock_client_opts_set_collection (o, c191, &error), "63 + 1 + 191 = 255: %s", error.message);
   expect_invalid (mongolock_client_opts_set_collection (o, c192, &error), &error, "namespace");
   cr_assert (mongolock_client_opts_set_database (o, "short", &error), "%s", error.message);
   cr_assert (mongolock_client_opts_set_collection (o, c192, &error), "%s", error.message);
   expect_invalid (mongolock_client_opts_set_database (o, db63, &error), &error, "limit is 255");
   cr_assert_str_eq (mongolock_client_opts_set_database (o, "short", &error) ? "ok" : error.message, "ok");

   bson_free (db63);
   bson_free (db64);
   bson_free (c191);
   bson_free (c192);
   mongolock_client_opts_destroy (o);
}

Test (options, bad_uri_and_bad_keys_fail_cleanly)
{
   bson_error_t error;
   cr_assert_null (mongolock_client_new ("not-a-uri", NULL, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   cr_assert (strstr (error.message, "URI"));
   cr_assert_null (mongolock_client_new (NULL, NULL, &error));
   cr_assert_null (mongolock_client_new_from_pool (NULL, NULL, &error));

   mongolock_client_t *c = mongolock_client_new ("mongodb://127.0.0.1:1", NULL, &error);
   cr_assert (c, "%s", error.message);
   expect_invalid (mongolock_lock_new (c, "", NULL, &error) != NULL, &error, "empty");
   expect_invalid (mongolock_lock_new (c, NULL, NULL, &error) != NULL, &error, "NULL");
   expect_invalid (mongolock_lock_new (c, "bad\xc3\x28", NULL, &error) != NULL, &error, "UTF-8");
   char big[MONGOLOCK_KEY_MAX_BYTES + 2];
   memset (big, 'k', sizeof big - 1);
   big[sizeof big - 1] = '\0';
   expect_invalid (mongolock_lock_new (c, big, NULL, &error) != NULL, &error, "limit");
   big[MONGOLOCK_KEY_MAX_BYTES] = '\0';
   mongolock_lock_t *l = mongolock_lock_new (c, big, NULL, &error);
   cr_assert (l, "a key of exactly the limit is accepted: %s", error.message);
   cr_assert_not (mongolock_lock_is_held (l));
   cr_assert_eq (mongolock_lock_token (l), 0);
   cr_assert_eq (mongolock_lock_remaining_ms (l), 0);
   expect_invalid (mongolock_lock_try_acquire (l, NULL, &error), &error, "acquired");
   cr_assert_not (mongolock_lock_release (l, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_NOT_HELD);
   cr_assert_not (mongolock_lock_renew (l, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_NOT_HELD);
   mongolock_lock_destroy (l);
   mongolock_lock_destroy (NULL);
   mongolock_client_destroy (c);
   mongolock_client_destroy (NULL);
}
