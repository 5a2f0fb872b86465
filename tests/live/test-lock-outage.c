/* SPDX-License-Identifier: Apache-2.0 */
/* Live: the network between a holder and the server fails while it holds the lock. A TCP
 * proxy in front of the server under test cuts it (connections refused) or partitions it
 * (bytes dropped, connections left open), so these run against any MongoDB. */
#include <criterion/criterion.h>
#include <string.h>

#include "lock-test.h"
#include "proxy.h"

TestSuite (outage, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 120);

enum { LEASE = 1500 };


/* A partition leaves the renewer blocked in its renew command until the socket timeout
 * (6 s here, 5 min by default). The lease must still be reported lost when it runs out
 * (1.5 s), not when the command gives up; and another client gets the lock only once the
 * lease has expired on the server. */
Test (outage, partition_reports_lost_at_lease_end_not_at_socket_timeout)
{
   char *db;
   mongolock_client_t *direct = lt_client (&db);
   mltest_proxy_t *px = mltest_proxy_start (mltest_uri ());
   mongolock_client_t *c = lt_proxied_client (px, db, "socketTimeoutMS=6000&serverSelectionTimeoutMS=3000", 0);
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_lock_t *a = lt_renewing_lock (c, "k", LEASE, 10000, &ev);
   mongolock_lock_t *b = lt_lock (direct, "k", 5000, 10000, 0);

   int64_t t0 = mltest_now_ms ();
   cr_assert (lt_try (a));
   mltest_proxy_set_mode (px, MLTEST_PROXY_BLACKHOLE); /* before the first renewal (at 500 ms) */

   cr_assert_eq (lt_events_wait (&ev, MONGOLOCK_EVENT_LOST, 1, 10000), 1, "LOST fired");
   int64_t lost_after = mltest_now_ms () - t0;
   cr_assert_lt (lost_after, 4000, "LOST came %" PRId64 " ms after the acquire: it must come when the %d ms lease "
                 "runs out, not when the stuck renew times out (6000 ms)", lost_after, LEASE);
   cr_assert_eq (ev.last_error_code, MONGOLOCK_ERROR_LOST);
   cr_assert_not (mongolock_lock_is_held (a));
   cr_assert_eq (mongolock_lock_remaining_ms (a), 0);

   bson_error_t error;
   cr_assert (mongolock_lock_acquire (b, &error), "%s", error.message);
   int64_t taken_after = mltest_now_ms () - t0;
   cr_assert_geq (taken_after, LEASE, "the lease was taken over %" PRId64 " ms after the acquire, before it "
                  "expired on the server", taken_after);
   cr_assert_gt (mongolock_lock_token (b), mongolock_lock_token (a));

   mltest_proxy_set_mode (px, MLTEST_PROXY_REFUSE); /* ends the stuck renew at once */
   mongolock_lock_destroy (a);
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_LOST), 1, "LOST fires once");
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_RENEWED), 0, "nothing was renewed across the partition");
   mongolock_lock_destroy (b);
   mongolock_client_destroy (c);
   mltest_proxy_stop (px);
   lt_cleanup (direct, db);
}

/* Connections refused while holding: renewals fail fast and are retried; the lease is
 * reported lost when it runs out, with the renewal error; once the network is back the
 * same handle acquires again with a larger token. */
Test (outage, refused_connections_lose_the_lease_on_time_and_recovery_reacquires)
{
   char *db;
   mongolock_client_t *direct = lt_client (&db);
   mltest_proxy_t *px = mltest_proxy_start (mltest_uri ());
   mongolock_client_t *c = lt_proxied_client (px, db, "serverSelectionTimeoutMS=500&connectTimeoutMS=500", 0);
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_lock_t *a = lt_renewing_lock (c, "k", LEASE, 10000, &ev);

   int64_t t0 = mltest_now_ms ();
   cr_assert (lt_try (a));
   int64_t first_token = mongolock_lock_token (a);
   mltest_proxy_set_mode (px, MLTEST_PROXY_REFUSE);
   cr_assert_eq (lt_events_wait (&ev, MONGOLOCK_EVENT_LOST, 1, 10000), 1, "LOST fired");
   int64_t lost_after = mltest_now_ms () - t0;
   cr_assert_lt (lost_after, 4000, "LOST %" PRId64 " ms after the acquire", lost_after);
   cr_assert_not (mongolock_lock_is_held (a));

   /* The server still holds the lease until it expires there; then the network returns. */
   mltest_proxy_set_mode (px, MLTEST_PROXY_PASS);
   bson_error_t error;
   cr_assert (mongolock_lock_acquire (a, &error), "re-acquire after the outage: %s", error.message);
   cr_assert_geq (mltest_now_ms () - t0, LEASE, "re-acquired before the old lease expired on the server");
   cr_assert_gt (mongolock_lock_token (a), first_token, "a new acquisition gets a new, larger token");
   cr_assert (mongolock_lock_release (a, &error), "%s", error.message);

   mongolock_lock_destroy (a);
   mongolock_client_destroy (c);
   mltest_proxy_stop (px);
   lt_cleanup (direct, db);
}
