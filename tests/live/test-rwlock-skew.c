/* SPDX-License-Identifier: Apache-2.0 */
/* Live: reader/writer clients whose wall clocks are an hour ahead or behind (libfaketime)
 * neither take a live hold nor keep one past its lease: expiry is the server's call
 * ($$NOW), as for the exclusive lock (test-lock-skew.c) and the semaphore
 * (test-semaphore-skew.c). The skewed clients are sem-worker in its r / w mode. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "sem-test.h"

TestSuite (rwskew, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 180);

/* Every skewed client (an hour ahead, an hour behind, 30 days ahead) in each mode of kinds
 * ("r", "w"; in that order: a busy writer leaves its waiting mark, which would stop the
 * readers after it for another reason) finds the live hold on "skewed" busy. */
static void
assert_skewed_clients_busy (const char *db, const char *kinds)
{
   const char *offsets[] = {"+1h", "-1h", "+30d"};
   for (const char *k = kinds; *k; k++) {
      for (size_t i = 0; i < 3; i++) {
         char kind[2] = {*k, '\0'};
         st_worker_t w;
         st_worker_start (&w, offsets[i], db, kind, 1000, 0, 0);
         cr_assert_str_eq (st_worker_line (&w), "busy", "a %s client %s found a live hold free", kind, offsets[i]);
         st_worker_end (&w);
      }
   }
}

Test (rwskew, clock_ahead_or_behind_cannot_take_a_live_write_hold)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_rwlock_t *w = st_rw (c, "skewed", MONGOLOCK_RWLOCK_WRITE, 30000, 0, 0, NULL);
   cr_assert (st_rw_try (w));
   int64_t token = mongolock_rwlock_token (w);
   assert_skewed_clients_busy (db, "rw");
   bson_error_t error;
   cr_assert (mongolock_rwlock_renew (w, &error), "the writer still holds: %s", error.message);
   cr_assert_eq (mongolock_rwlock_token (w), token);
   cr_assert_eq (st_holders (db, "skewed"), 1);
   mongolock_rwlock_destroy (w);
   lt_cleanup (c, db);
}

Test (rwskew, clock_ahead_or_behind_writer_cannot_take_a_live_read_hold)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_rwlock_t *r = st_rw (c, "skewed", MONGOLOCK_RWLOCK_READ, 30000, 0, 0, NULL);
   cr_assert (st_rw_try (r));
   assert_skewed_clients_busy (db, "w");
   bson_error_t error;
   cr_assert (mongolock_rwlock_renew (r, &error), "the reader still holds: %s", error.message);
   cr_assert_eq (st_holders (db, "skewed"), 1);
   mongolock_rwlock_destroy (r);
   lt_cleanup (c, db);
}

/* An hour-behind writer takes the lock: it loses it when its lease ends by the server's
 * clock (a reader gets in then, not before), and its late release is refused as LOST and
 * frees nothing of the reader's. */
Test (rwskew, clock_behind_writer_does_not_hold_past_its_lease)
{
   const int64_t lease = 800;
   char *db;
   mongolock_client_t *c = lt_client (&db);
   st_worker_t w;
   st_worker_start (&w, "-1h", db, "w", lease, 0, lease + 6000); /* releases after the reader got in */
   int64_t token, remaining, sent, recv;
   const char *line = st_worker_line (&w);
   cr_assert_eq (sscanf (line, "acquired %" SCNd64 " %" SCNd64 " %" SCNd64 " %" SCNd64, &token, &remaining, &sent, &recv),
                 4, "%s", line);
   cr_assert_leq (remaining, lease, "the client never believes it has more than the lease");
   mongolock_rwlock_t *r = st_rw (c, "skewed", MONGOLOCK_RWLOCK_READ, 10000, 0, 0, NULL);
   int refusals = 0;
   while (!st_rw_try (r)) {
      refusals++;
      mltest_sleep_ms (20);
      cr_assert_lt (mltest_now_ms () - sent, lease + 5000, "an hour-behind writer kept its hold");
   }
   int64_t got = mltest_now_ms () - sent;
   cr_assert_geq (got, lease - 1, "a reader got in %" PRId64 " ms after the writer's %" PRId64 " ms lease began", got,
                  lease);
   cr_assert_gt (refusals, 0, "the reader was refused while the writer's lease was live");
   cr_assert_gt (mongolock_rwlock_token (r), token);
   line = st_worker_line (&w);
   char expect[64];
   snprintf (expect, sizeof expect, "release-error %d %d", MONGOLOCK_ERROR_DOMAIN, MONGOLOCK_ERROR_LOST);
   cr_assert_str_eq (line, expect, "the stale writer's release was refused");
   st_worker_end (&w);
   bson_error_t error;
   cr_assert (mongolock_rwlock_renew (r, &error), "the reader still holds: %s", error.message);
   cr_assert_eq (st_holders (db, "skewed"), 1, "the stale release freed nothing of the reader's");
   mongolock_rwlock_destroy (r);
   lt_cleanup (c, db);
}
