/* SPDX-License-Identifier: Apache-2.0 */
/* Live: the document lock under faults, through the test proxy (tests/support/proxy.h):
 * the wait bounds acquire on a hung server, cancellation ends waits, automatic renewal
 * keeps a lease and reports LOST on time through a partition, after which the stale
 * holder's fenced write is rejected and the next holder has a larger token. */
#include <criterion/criterion.h>

#include "doc-lock-test.h"
#include "proxy.h"

Test (doc_lock_faults, wait_bounds_acquire_on_a_hung_server)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, "{'_id': 1, 'n': 1}");
   mltest_proxy_t *px = mltest_proxy_start (mltest_uri ());
   mongolock_client_t *c = lt_proxied_client (px, e.lockdb, "socketTimeoutMS=300000", 1000);
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_doc_lock_t *l = dlt_lock (c, e.db, 1, 10000, 300, 0, &ev, NULL, NULL);
   bson_t out;
   bson_error_t error;
   cr_assert (mongolock_doc_lock_list (c, e.db, "users", NULL, 10, &out, &error), "%s", error.message); /* connect */
   bson_destroy (&out);
   mltest_proxy_set_mode (px, MLTEST_PROXY_BLACKHOLE);
   int64_t t = mltest_now_ms ();
   cr_assert_not (mongolock_doc_lock_acquire (l, &error));
   int64_t took = mltest_now_ms () - t;
   cr_assert_eq (error.code, MONGOLOCK_ERROR_STORE_TIMEOUT, "%s", error.message);
   cr_assert_leq (took, 1000, "acquire (wait 300) blocked %" PRId64 " ms on a hung server", took);
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_TIMED_OUT), 1);
   t = mltest_now_ms ();
   cr_assert_not (mongolock_doc_lock_list (c, e.db, "users", NULL, 10, &out, &error));
   bson_destroy (&out);
   cr_assert_eq (error.code, MONGOLOCK_ERROR_STORE_TIMEOUT, "%s", error.message);
   cr_assert_leq (mltest_now_ms () - t, 1800, "list blocked past the client's timeout");
   mltest_proxy_set_mode (px, MLTEST_PROXY_REFUSE);
   mongolock_doc_lock_destroy (l);
   mongolock_client_destroy (c);
   mltest_proxy_stop (px);
   dlt_teardown (&e);
}

typedef struct {
   mongolock_doc_lock_t *lock;
   bool ok;
   bson_error_t error;
   int64_t returned_at;
} waiter_t;

static void *
waiter_main (void *arg)
{
   waiter_t *w = arg;
   w->ok = mongolock_doc_lock_acquire (w->lock, &w->error);
   w->returned_at = mltest_now_ms ();
   return NULL;
}

Test (doc_lock_faults, cancel_ends_a_wait_for_a_busy_document_and_for_a_hung_server)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, "{'_id': 1, 'n': 1}");
   mltest_proxy_t *px = mltest_proxy_start (mltest_uri ());
   mongolock_client_t *c = lt_proxied_client (px, e.lockdb, NULL, 0);
   mongolock_doc_lock_t *holder = dlt_lock (e.c, e.db, 1, 20000, 0, 0, NULL, NULL, NULL);
   cr_assert (dlt_try (holder));
   mongolock_cancel_t *cancel = mongolock_cancel_new ();
   for (int round = 0; round < 2; round++) {
      /* Sleeping until the holder's 20 s lease ends: only the raise can end it sooner. */
      waiter_t w = {dlt_lock (c, e.db, 1, 10000, 15000, DLT_UNTIL_EXPIRY, NULL, cancel, NULL), false, {0}, 0};
      if (round == 1) {
         bson_t out;
         bson_error_t error;
         cr_assert (mongolock_doc_lock_list (c, e.db, "users", NULL, 10, &out, &error), "%s", error.message);
         bson_destroy (&out);
         mltest_proxy_set_mode (px, MLTEST_PROXY_BLACKHOLE);
      }
      pthread_t t;
      cr_assert_eq (pthread_create (&t, NULL, waiter_main, &w), 0);
      mltest_sleep_ms (300);
      int64_t raised = mltest_now_ms ();
      mongolock_cancel_raise (cancel);
      pthread_join (t, NULL);
      cr_assert_not (w.ok);
      cr_assert_eq (w.error.code, MONGOLOCK_ERROR_CANCELLED, "round %d: %s", round, w.error.message);
      cr_assert_leq (w.returned_at - raised, 400, "returned %" PRId64 " ms after the raise", w.returned_at - raised);
      mongolock_cancel_reset (cancel);
      mongolock_doc_lock_destroy (w.lock);
   }
   mltest_proxy_set_mode (px, MLTEST_PROXY_REFUSE);
   mongolock_doc_lock_destroy (holder);
   mongolock_cancel_destroy (cancel);
   mongolock_client_destroy (c);
   mltest_proxy_stop (px);
   dlt_teardown (&e);
}

/* Auto-renewal keeps a 1.5 s lease for 4 s; a partition then makes it LOST no later than
 * the lease's end; another client takes over with a larger token; once the network is
 * back the stale holder's fenced write is rejected as LOST and changes nothing. */
Test (doc_lock_faults, auto_renew_then_lost_through_a_partition)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, "{'_id': 1, 'balance': 10}");
   mltest_proxy_t *px = mltest_proxy_start (mltest_uri ());
   mongolock_client_t *c = lt_proxied_client (px, e.lockdb, "socketTimeoutMS=2000&serverSelectionTimeoutMS=2000", 2000);
   lt_events_t ev;
   lt_events_init (&ev);
   const int64_t lease = 1500;
   mongolock_doc_lock_t *a = dlt_lock (c, e.db, 1, lease, 0, DLT_RENEW, &ev, NULL, NULL);
   mongolock_doc_lock_t *b = dlt_lock (e.c, e.db, 1, 10000, 0, 0, NULL, NULL, NULL);
   cr_assert (dlt_try (a));
   mltest_sleep_ms (4000);
   cr_assert_geq (lt_events_count (&ev, MONGOLOCK_EVENT_RENEWED), 3, "renewed %d times in 4 s",
                  lt_events_count (&ev, MONGOLOCK_EVENT_RENEWED));
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_LOST), 0);
   cr_assert_not (dlt_try (b), "took a lease that was being renewed");
   mltest_proxy_set_mode (px, MLTEST_PROXY_BLACKHOLE);
   int64_t cut = mltest_now_ms ();
   cr_assert_eq (lt_events_wait (&ev, MONGOLOCK_EVENT_LOST, 1, 5000), 1, "no LOST through the partition");
   int64_t lost_after = mltest_now_ms () - cut;
   cr_assert_leq (lost_after, lease + 200, "LOST %" PRId64 " ms after the cut, lease %" PRId64, lost_after, lease);
   cr_assert_not (mongolock_doc_lock_is_held (a));
   /* The server's lease ends by itself (at most a lease after the last renew). */
   int64_t t = mltest_now_ms ();
   bool taken = false;
   while (!(taken = dlt_try (b)) && mltest_now_ms () - t < 3000) {
      mltest_sleep_ms (50);
   }
   cr_assert (taken, "the partitioned holder's lease never ended");
   cr_assert_gt (mongolock_doc_lock_token (b), mongolock_doc_lock_token (a));
   mltest_proxy_set_mode (px, MLTEST_PROXY_PASS);
   bson_t *u = mltest_bson ("{'$inc': {'balance': -10}}");
   mongolock_doc_write_result_t res = 0;
   bson_error_t error;
   bool sent = false;
   for (int i = 0; i < 20 && !sent; i++) { /* connections broken by the partition fail first */
      sent = mongolock_doc_lock_update (a, u, 0, &res, &error);
   }
   cr_assert (sent, "%s", error.message);
   cr_assert_eq (res, MONGOLOCK_DOC_WRITE_LOST, "the stale holder's write was %d", res);
   bson_t *doc = dlt_find (&e, 1);
   cr_assert_eq (dlt_int (doc, "balance"), 10, "the stale write landed");
   bson_destroy (doc);
   bson_destroy (u);
   mltest_proxy_set_mode (px, MLTEST_PROXY_REFUSE);
   mongolock_doc_lock_destroy (a);
   mongolock_doc_lock_destroy (b);
   mongolock_client_destroy (c);
   mltest_proxy_stop (px);
   dlt_teardown (&e);
}
