/* SPDX-License-Identifier: Apache-2.0 */
/* Live: clients whose wall clocks are an hour ahead or behind (libfaketime) neither steal
 * a live lease nor hold one longer than the server allows: expiry is the server's call. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lock-test.h"

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
TestSuite (skew, .init = init, .fini = fini, .timeout = 120);

typedef struct {
   FILE *f;
   char line[512];
} worker_t;

/* Starts lock-worker under faketime with the given offset ("+1h", "-1h"). */
static void
worker_start (worker_t *w, const char *offset, const char *db, int64_t lease, int64_t wait, int64_t hold)
{
   const char *root = getenv ("MONGOLOCK_BUILD_ROOT");
   cr_assert (root, "MONGOLOCK_BUILD_ROOT not set (run through meson test)");
   cr_assert_eq (access ("/usr/bin/faketime", X_OK), 0, "faketime is not installed (Debian package faketime)");
   char *cmd = bson_strdup_printf ("FAKETIME_DONT_FAKE_MONOTONIC=1 /usr/bin/faketime -f '%s' '%s/tests/live/lock-worker' "
                                   "'%s' '%s' skewed %" PRId64 " %" PRId64 " %" PRId64,
                                   offset, root, mltest_uri (), db, lease, wait, hold);
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

Test (skew, clock_ahead_or_behind_cannot_steal_a_live_lease)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_lock_t *l = lt_lock (c, "skewed", 20000, 0, 0);
   cr_assert (lt_try (l));
   const char *offsets[] = {"+1h", "-1h", "+30d"};
   for (size_t i = 0; i < 3; i++) {
      worker_t w;
      worker_start (&w, offsets[i], db, 1000, 0, 0);
      cr_assert_str_eq (worker_line (&w), "busy", "a client %s found a live lease free", offsets[i]);
      worker_end (&w);
   }
   cr_assert (mongolock_lock_is_held (l));
   mongolock_lock_destroy (l);
   lt_cleanup (c, db);
}

Test (skew, clock_behind_holder_does_not_hold_past_its_lease)
{
   const int64_t lease = 800;
   char *db;
   mongolock_client_t *c = lt_client (&db);
   worker_t w;
   /* The skewed worker takes the lock, never renews, and sleeps far past its lease. */
   worker_start (&w, "-1h", db, lease, 0, lease + 2500);
   int64_t token, remaining, sent, recv;
   const char *line = worker_line (&w);
   cr_assert_eq (sscanf (line, "acquired %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64, &token, &remaining, &sent, &recv), 4,
                 "%s", line);
   cr_assert_leq (remaining, lease, "the client never believes it has more than the lease");
   mongolock_lock_t *l = lt_lock (c, "skewed", 5000, 0, 0);
   while (!lt_try (l)) {
      mltest_sleep_ms (20);
      cr_assert_lt (mltest_now_ms () - sent, lease + 5000, "an hour-behind holder kept the lock");
   }
   int64_t got = mltest_now_ms () - sent;
   cr_assert_geq (got, lease - 1);
   cr_assert_lt (got, lease + 2000, "taken over %" PRId64 " ms after the lease started", got);
   cr_assert_gt (mongolock_lock_token (l), token);
   line = worker_line (&w);
   cr_assert (strncmp (line, "release-error", 13) == 0, "the stale holder's release was refused: %s", line);
   char expect[64];
   snprintf (expect, sizeof expect, "release-error %d %d", MONGOLOCK_ERROR_DOMAIN, MONGOLOCK_ERROR_LOST);
   cr_assert_str_eq (line, expect);
   worker_end (&w);
   mongolock_lock_destroy (l);
   lt_cleanup (c, db);
}

Test (skew, clock_ahead_waiter_gets_the_lock_when_the_lease_ends)
{
   const int64_t lease = 1000;
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_lock_t *l = lt_lock (c, "skewed", lease, 0, 0);
   int64_t sent = mltest_now_ms ();
   cr_assert (lt_try (l));
   worker_t w;
   worker_start (&w, "+1h", db, 1000, 10000, 0);
   int64_t token, remaining, wsent, recv;
   const char *line = worker_line (&w);
   cr_assert_eq (sscanf (line, "acquired %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64, &token, &remaining, &wsent, &recv), 4,
                 "%s", line);
   cr_assert_geq (recv - sent, lease - 1, "acquired %" PRId64 " ms into a %" PRId64 " ms lease", recv - sent, lease);
   cr_assert_lt (recv - sent, lease + 2000);
   cr_assert_gt (token, mongolock_lock_token (l));
   cr_assert_str_eq (worker_line (&w), "released");
   worker_end (&w);
   mongolock_lock_destroy (l);
   lt_cleanup (c, db);
}
