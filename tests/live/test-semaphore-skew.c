/* SPDX-License-Identifier: Apache-2.0 */
/* Live: semaphore clients whose wall clocks are an hour ahead or behind (libfaketime)
 * neither take a permit of a full semaphore nor keep one past its lease: expiry is the
 * server's call ($$NOW), as for the exclusive lock (test-lock-skew.c). */
#include <criterion/criterion.h>
#include <stdio.h>

#include "sem-test.h"

TestSuite (semskew, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 120);

Test (semskew, clock_ahead_or_behind_cannot_take_a_live_permit)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_semaphore_t *a = st_sem (c, "skewed", 2, 20000, 0, 0, NULL);
   mongolock_semaphore_t *b = st_sem (c, "skewed", 2, 20000, 0, 0, NULL);
   cr_assert (st_try (a));
   cr_assert (st_try (b));
   const char *offsets[] = {"+1h", "-1h", "+30d"};
   for (size_t i = 0; i < 3; i++) {
      st_worker_t w;
      st_worker_start (&w, offsets[i], db, "2", 1000, 0, 0);
      cr_assert_str_eq (st_worker_line (&w), "busy", "a client %s found a live permit free", offsets[i]);
      st_worker_end (&w);
   }
   cr_assert_eq (st_holders (db, "skewed"), 2);
   mongolock_semaphore_destroy (a);
   mongolock_semaphore_destroy (b);
   lt_cleanup (c, db);
}

Test (semskew, clock_behind_holder_does_not_hold_past_its_lease)
{
   const int64_t lease = 800;
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_semaphore_t *a = st_sem (c, "skewed", 2, 20000, 0, 0, NULL);
   cr_assert (st_try (a));
   st_worker_t w;
   st_worker_start (&w, "-1h", db, "2", lease, 0, lease + 2500);
   int64_t token, remaining, sent, recv;
   const char *line = st_worker_line (&w);
   cr_assert_eq (sscanf (line, "acquired %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64, &token, &remaining, &sent, &recv),
                 4, "%s", line);
   cr_assert_leq (remaining, lease, "the client never believes it has more than the lease");
   mongolock_semaphore_t *b = st_sem (c, "skewed", 2, 5000, 0, 0, NULL);
   while (!st_try (b)) {
      mltest_sleep_ms (20);
      cr_assert_lt (mltest_now_ms () - sent, lease + 5000, "an hour-behind holder kept its permit");
   }
   int64_t got = mltest_now_ms () - sent;
   cr_assert_geq (got, lease - 1);
   cr_assert_gt (mongolock_semaphore_token (b), token);
   line = st_worker_line (&w);
   char expect[64];
   snprintf (expect, sizeof expect, "release-error %d %d", MONGOLOCK_ERROR_DOMAIN, MONGOLOCK_ERROR_LOST);
   cr_assert_str_eq (line, expect, "the stale holder's release was refused");
   st_worker_end (&w);
   cr_assert_eq (st_holders (db, "skewed"), 2, "the stale release freed nothing of a's or b's");
   mongolock_semaphore_destroy (a);
   mongolock_semaphore_destroy (b);
   lt_cleanup (c, db);
}
