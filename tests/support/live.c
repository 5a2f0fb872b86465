/* SPDX-License-Identifier: Apache-2.0 */
#include "live.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *
mltest_uri (void)
{
   const char *uri = getenv ("MONGOLOCK_TEST_URI");
   cr_assert (uri && *uri, "MONGOLOCK_TEST_URI is not set: run live tests through tests/run-live.sh");
   return uri;
}

char *
mltest_db_name (const char *tag)
{
   static int counter;
   return bson_strdup_printf ("mlt_%s_%d_%d", tag, (int) getpid (), ++counter);
}

mongoc_client_t *
mltest_client (void)
{
   bson_error_t error;
   mongoc_uri_t *uri = mongoc_uri_new_with_error (mltest_uri (), &error);
   cr_assert (uri, "bad MONGOLOCK_TEST_URI: %s", error.message);
   mongoc_client_t *client = mongoc_client_new_from_uri_with_error (uri, &error);
   cr_assert (client, "cannot create client: %s", error.message);
   mongoc_client_set_error_api (client, MONGOC_ERROR_API_VERSION_2);
   mongoc_uri_destroy (uri);
   return client;
}

bson_t *
mltest_bson (const char *json)
{
   char *copy = bson_strdup (json);
   for (char *p = copy; *p; p++) {
      if (*p == '\'') {
         *p = '"';
      }
   }
   bson_error_t error;
   bson_t *b = bson_new_from_json ((const uint8_t *) copy, -1, &error);
   cr_assert (b, "bad test JSON %s: %s", json, error.message);
   bson_free (copy);
   return b;
}

bool
mltest_cmd (mongoc_client_t *client, const char *db, const char *json, bson_t *reply, bson_error_t *error)
{
   bson_t *cmd = mltest_bson (json);
   bson_t local;
   bool ok = mongoc_client_command_simple (client, db, cmd, NULL, reply ? reply : &local, error);
   if (!reply) {
      bson_destroy (&local);
   }
   bson_destroy (cmd);
   return ok;
}

void
mltest_cmd_ok (mongoc_client_t *client, const char *db, const char *json, bson_t *reply)
{
   bson_error_t error;
   bool ok = mltest_cmd (client, db, json, reply, &error);
   cr_assert (ok, "command %s failed: %s (code %u)", json, error.message, error.code);
}

void
mltest_cmd_fails (mongoc_client_t *client, const char *db, const char *json, int32_t code)
{
   bson_error_t error;
   bson_t reply;
   bool ok = mltest_cmd (client, db, json, &reply, &error);
   int32_t got = ok ? 0 : (int32_t) error.code;
   bson_iter_t it;
   if (ok && bson_iter_init_find (&it, &reply, "writeErrors") && BSON_ITER_HOLDS_ARRAY (&it)) {
      bson_iter_t we;
      if (bson_iter_recurse (&it, &we) && bson_iter_next (&we) && BSON_ITER_HOLDS_DOCUMENT (&we)) {
         bson_iter_t f;
         if (bson_iter_recurse (&we, &f) && bson_iter_find (&f, "code")) {
            got = bson_iter_as_int64 (&f) > INT32_MAX ? -1 : (int32_t) bson_iter_as_int64 (&f);
         }
      }
   }
   char *s = bson_as_relaxed_extended_json (&reply, NULL);
   cr_assert_eq (got, code, "command %s: expected error code %d, got %d (%s)", json, code, got, s);
   bson_free (s);
   bson_destroy (&reply);
}

void
mltest_drop_db (mongoc_client_t *client, const char *db)
{
   bson_error_t error;
   mongoc_database_t *d = mongoc_client_get_database (client, db);
   (void) mongoc_database_drop (d, &error);
   mongoc_database_destroy (d);
}

int64_t
mltest_now_ms (void)
{
   return bson_get_monotonic_time () / 1000;
}

void
mltest_sleep_ms (int64_t ms)
{
   struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
   while (nanosleep (&ts, &ts) != 0) {
   }
}

void
mltest_failpoints_exclusive (void)
{
   static int fd = -1;
   if (fd >= 0) {
      return;
   }
   mongoc_uri_t *uri = mongoc_uri_new (mltest_uri ());
   cr_assert (uri);
   const mongoc_host_list_t *h = mongoc_uri_get_hosts (uri);
   cr_assert (h);
   char path[512];
   /* In the build directory when meson runs the tests (no litter in /tmp). */
   const char *dir = getenv ("MONGOLOCK_BUILD_ROOT");
   snprintf (path, sizeof path, "%s/mongolock-failpoint-%s-%u.lock", dir && *dir ? dir : "/tmp", h->host,
             (unsigned) h->port);
   mongoc_uri_destroy (uri);
   fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
   cr_assert (fd >= 0, "cannot open %s", path);
   cr_assert_eq (flock (fd, LOCK_EX), 0, "cannot lock %s", path);
   /* Held until this process exits. */
}
