/* SPDX-License-Identifier: Apache-2.0 */
/* Live: document-lock clients whose wall clocks are an hour ahead or behind (libfaketime)
 * neither take a live lock nor keep one past its lease: the server's $$NOW decides, and a
 * stale skewed holder's fenced write is rejected. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "doc-lock-test.h"

static void
init (void)
{
   mongoc_init ();
}
static void
fini (void)
{
   mongoc_cleanup ();
}

TestSuite (doc_skew, .init = init, .fini = fini, .timeout = 120);

typedef struct {
   FILE *f;
   char line[512];
} worker_t;

static void
worker_start (worker_t *w, const char *offset, const dlt_env_t *e, int64_t lease, int64_t wait, int64_t hold)
{
   const char *root = getenv ("MONGOLOCK_BUILD_ROOT");
   cr_assert (root, "MONGOLOCK_BUILD_ROOT not set (run through meson test)");
   cr_assert_eq (access ("/usr/bin/faketime", X_OK), 0, "faketime is not installed (Debian package faketime)");
   char *cmd = bson_strdup_printf ("FAKETIME_DONT_FAKE_MONOTONIC=1 /usr/bin/faketime -f '%s' "
                                   "'%s/tests/live/doc-lock-worker' '%s' '%s' '%s' 1 %" PRId64 " %" PRId64 " %" PRId64,
                                   offset, root, mltest_uri (), e->lockdb, e->db, lease, wait, hold);
   w->f = popen (cmd, "r");
   cr_assert (w->f, "popen %s", cmd);
   bson_free (cmd);
}

static const char *
worker_line (worker_t *w)
{
   cr_assert (fgets (w->line, sizeof w->line, w->f), "worker printed nothing");
   w->line[strcspn (w->line, "\n")] = '\0';
   return w->line;
}

static void
worker_end (worker_t *w)
{
   cr_assert_eq (pclose (w->f), 0, "worker failed");
}

Test (doc_skew, clock_ahead_or_behind_cannot_take_a_live_lock)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, "{'_id': 1, 'n': 0}");
   mongolock_doc_lock_t *l = dlt_lock (e.c, e.db, 1, 20000, 0, 0, NULL, NULL, NULL);
   cr_assert (dlt_try (l));
   const char *offsets[] = {"+1h", "-1h", "+10d"};
   for (size_t i = 0; i < 3; i++) {
      worker_t w;
      worker_start (&w, offsets[i], &e, 1000, 0, 0);
      cr_assert_str_eq (worker_line (&w), "busy", "a client %s found a live lock free", offsets[i]);
      worker_end (&w);
   }
   mongolock_doc_lock_destroy (l);
   dlt_teardown (&e);
}

Test (doc_skew, clock_behind_holder_is_taken_over_at_its_lease_end_and_fenced_out)
{
   const int64_t lease = 800;
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, "{'_id': 1, 'n': 0}");
   worker_t w;
   worker_start (&w, "-1h", &e, lease, 0, lease + 2500);
   int64_t token, remaining;
   const char *line = worker_line (&w);
   int64_t started = mltest_now_ms ();
   cr_assert_eq (sscanf (line, "acquired %" SCNd64 " %" SCNd64, &token, &remaining), 2, "%s", line);
   cr_assert_leq (remaining, lease);
   mongolock_doc_lock_t *l = dlt_lock (e.c, e.db, 1, 5000, 0, 0, NULL, NULL, NULL);
   while (!dlt_try (l)) {
      mltest_sleep_ms (20);
      cr_assert_lt (mltest_now_ms () - started, lease + 5000, "an hour-behind holder kept the lock");
   }
   cr_assert_lt (mltest_now_ms () - started, lease + 2000);
   cr_assert_gt (mongolock_doc_lock_token (l), token);
   cr_assert_str_eq (worker_line (&w), "write lost", "the stale skewed holder's write was not rejected");
   worker_end (&w);
   bson_t *doc = dlt_find (&e, 1);
   cr_assert_eq (dlt_int (doc, "n"), 0, "the stale write landed");
   bson_destroy (doc);
   mongolock_doc_lock_destroy (l);
   dlt_teardown (&e);
}

Test (doc_skew, clock_ahead_waiter_gets_the_lock_when_the_lease_ends)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, "{'_id': 1, 'n': 0}");
   mongolock_doc_lock_t *l = dlt_lock (e.c, e.db, 1, 1000, 0, 0, NULL, NULL, NULL);
   cr_assert (dlt_try (l));
   int64_t t = mltest_now_ms ();
   worker_t w;
   worker_start (&w, "+1h", &e, 1000, 10000, 0);
   const char *line = worker_line (&w);
   cr_assert (strncmp (line, "acquired ", 9) == 0, "%s", line);
   cr_assert_geq (mltest_now_ms () - t, 500, "a client an hour ahead took a live lock");
   cr_assert_str_eq (worker_line (&w), "write applied");
   worker_end (&w);
   bson_t *doc = dlt_find (&e, 1);
   cr_assert_eq (dlt_int (doc, "n"), 1);
   bson_destroy (doc);
   mongolock_doc_lock_destroy (l);
   dlt_teardown (&e);
}
