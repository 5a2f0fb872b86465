/* SPDX-License-Identifier: Apache-2.0 */
/* Live: acquire / busy / release, takeover only after server-side expiry, non-owner
 * release refused, reentrancy, deadlines, unreachable server, auto-release. */
#include <criterion/criterion.h>
#include <string.h>

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
TestSuite (lock, .init = init, .fini = fini, .timeout = 60);

Test (lock, acquire_busy_release)
{
   char *db;
   bson_error_t error;
   mongolock_client_t *c = lt_client (&db);
   mongolock_lock_t *a = lt_lock (c, "k", 10000, 0, 0), *b = lt_lock (c, "k", 10000, 0, 0);
   cr_assert (lt_try (a), "free lock is acquired");
   cr_assert (mongolock_lock_is_held (a));
   int64_t ta = mongolock_lock_token (a);
   cr_assert_gt (ta, 0);
   int64_t left = mongolock_lock_remaining_ms (a);
   cr_assert (left > 9000 && left <= 10000, "remaining %" PRId64, left);
   cr_assert_not (lt_try (b), "held lock is busy for another handle");
   cr_assert_not (mongolock_lock_is_held (b));
   char *holder;
   int64_t htoken;
   cr_assert (mongolock_lock_get_holder (b, &holder, &htoken, &error), "%s", error.message);
   cr_assert_str_eq (holder, mongolock_lock_owner (a));
   cr_assert_eq (htoken, ta);
   bson_free (holder);
   cr_assert (mongolock_lock_release (a, &error), "%s", error.message);
   cr_assert_not (mongolock_lock_is_held (a));
   cr_assert (mongolock_lock_get_holder (b, &holder, NULL, &error));
   cr_assert_null (holder, "released lock has no holder");
   cr_assert (lt_try (b), "released lock is free");
   cr_assert_gt (mongolock_lock_token (b), ta, "tokens increase across release");
   cr_assert_not (mongolock_lock_release (a, &error), "releasing twice");
   cr_assert_eq (error.code, MONGOLOCK_ERROR_NOT_HELD);
   mongolock_lock_destroy (a);
   mongolock_lock_destroy (b);
   lt_cleanup (c, db);
}

Test (lock, takeover_only_after_server_expiry_and_old_owner_cannot_touch_it)
{
   char *db;
   bson_error_t error;
   mongolock_client_t *c = lt_client (&db);
   const int64_t lease = 600;
   mongolock_lock_t *a = lt_lock (c, "k", lease, 0, 0), *b = lt_lock (c, "k", 5000, 0, 0);
   int64_t sent = mltest_now_ms ();
   cr_assert (lt_try (a));
   int64_t ta = mongolock_lock_token (a);
   int attempts = 0;
   while (!lt_try (b)) {
      attempts++;
      mltest_sleep_ms (10);
      cr_assert_lt (mltest_now_ms () - sent, lease + 5000, "takeover never happened");
   }
   int64_t got = mltest_now_ms ();
   /* The server took a's lease at or after `sent`; b's acquire was answered after the lease
    * ended on the server, so at least `lease` ms later (1 ms for Date rounding). */
   cr_assert_geq (got - sent, lease - 1, "stolen after %" PRId64 " ms of a %" PRId64 " ms lease", got - sent, lease);
   cr_assert_gt (attempts, 5, "b was refused while a's lease was live");
   cr_assert_gt (mongolock_lock_token (b), ta, "takeover gets a larger token");
   cr_assert_not (mongolock_lock_is_held (a), "a's own clock says its lease ran out");

   cr_assert_not (mongolock_lock_renew (a, &error), "a renews b's lock");
   cr_assert_eq (error.domain, MONGOLOCK_ERROR_DOMAIN);
   cr_assert_eq (error.code, MONGOLOCK_ERROR_LOST);
   cr_assert_not (mongolock_lock_release (a, &error), "a releases b's lock");
   cr_assert_eq (error.code, MONGOLOCK_ERROR_LOST, "%s", error.message);
   char *holder;
   cr_assert (mongolock_lock_get_holder (b, &holder, NULL, &error));
   cr_assert_str_eq (holder, mongolock_lock_owner (b), "b's lock untouched by a's release");
   bson_free (holder);
   mongolock_lock_destroy (a);
   mongolock_lock_destroy (b);
   lt_cleanup (c, db);
}

Test (lock, renew_keeps_it)
{
   char *db;
   bson_error_t error;
   mongolock_client_t *c = lt_client (&db);
   mongolock_lock_t *a = lt_lock (c, "k", 400, 0, 0), *b = lt_lock (c, "k", 400, 0, 0);
   cr_assert (lt_try (a));
   int64_t ta = mongolock_lock_token (a);
   int64_t start = mltest_now_ms ();
   while (mltest_now_ms () - start < 1500) {
      mltest_sleep_ms (100);
      cr_assert (mongolock_lock_renew (a, &error), "renew: %s", error.message);
      cr_assert_gt (mongolock_lock_remaining_ms (a), 300);
      cr_assert_not (lt_try (b), "a renewed lease is never taken");
   }
   cr_assert_eq (mongolock_lock_token (a), ta, "renewal keeps the token");
   cr_assert (mongolock_lock_release (a, &error));
   mongolock_lock_destroy (a);
   mongolock_lock_destroy (b);
   lt_cleanup (c, db);
}

Test (lock, reentrancy_counts_and_non_reentrant_refuses)
{
   char *db;
   bson_error_t error;
   mongolock_client_t *c = lt_client (&db);
   mongolock_lock_t *a = lt_lock (c, "k", 10000, 0, LT_REENTRANT), *b = lt_lock (c, "k", 10000, 0, 0);
   cr_assert (lt_try (a));
   int64_t ta = mongolock_lock_token (a);
   cr_assert (lt_try (a));
   cr_assert (mongolock_lock_acquire (a, &error));
   cr_assert_eq (mongolock_lock_token (a), ta);
   cr_assert (mongolock_lock_release (a, &error));
   cr_assert (mongolock_lock_release (a, &error));
   cr_assert_not (lt_try (b), "still held after 2 of 3 releases");
   cr_assert (mongolock_lock_release (a, &error));
   cr_assert (lt_try (b), "free after the last release");
   bool acquired = true;
   cr_assert_not (mongolock_lock_try_acquire (b, &acquired, &error), "non-reentrant re-acquire");
   cr_assert_eq (error.code, MONGOLOCK_ERROR_WOULD_DEADLOCK);
   cr_assert_not (acquired);
   cr_assert_not (mongolock_lock_acquire (b, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_WOULD_DEADLOCK);
   cr_assert (mongolock_lock_is_held (b), "the refused re-acquire left the lock held");
   mongolock_lock_destroy (a);
   mongolock_lock_destroy (b);
   lt_cleanup (c, db);
}

Test (lock, acquire_times_out_with_distinct_code_and_events)
{
   char *db;
   bson_error_t error;
   mongolock_client_t *c = lt_client (&db);
   mongolock_lock_t *a = lt_lock (c, "k", 20000, 0, 0);
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   mongolock_lock_opts_set_wait_ms (o, 300, NULL);
   mongolock_lock_opts_set_backoff (o, 5, 100, NULL);
   mongolock_lock_opts_set_event_callback (o, lt_events_cb, &ev);
   mongolock_lock_t *b = mongolock_lock_new (c, "k", o, &error);
   mongolock_lock_opts_destroy (o);
   cr_assert (lt_try (a));
   int64_t start = mltest_now_ms ();
   cr_assert_not (mongolock_lock_acquire (b, &error));
   int64_t took = mltest_now_ms () - start;
   cr_assert_eq (error.domain, MONGOLOCK_ERROR_DOMAIN);
   cr_assert_eq (error.code, MONGOLOCK_ERROR_TIMEOUT, "%s", error.message);
   cr_assert_geq (took, 300, "gave up early after %" PRId64 " ms", took);
   cr_assert_lt (took, 2000, "never sleeps far past the deadline (%" PRId64 " ms)", took);
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_TIMED_OUT), 1);
   if (strcmp (ev.wait_mode, "backoff") == 0) {
      cr_assert_geq (lt_events_count (&ev, MONGOLOCK_EVENT_CONTENDED), 2, "backoff retried");
   } else {
      /* A change stream (open or opening) wakes it on release only (docs/wake-up.md). */
      cr_assert_geq (lt_events_count (&ev, MONGOLOCK_EVENT_CONTENDED), 1);
   }
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_ACQUIRED), 0);
   cr_assert_eq (ev.last_error_code, MONGOLOCK_ERROR_TIMEOUT);
   mongolock_lock_destroy (a);
   mongolock_lock_destroy (b);
   lt_cleanup (c, db);
}

typedef struct {
   mongolock_lock_t *lock;
   bool ok;
   int64_t got_at;
} waiter_t;

static void *
waiter_main (void *arg)
{
   waiter_t *w = arg;
   bson_error_t error;
   w->ok = mongolock_lock_acquire (w->lock, &error);
   w->got_at = mltest_now_ms ();
   return NULL;
}

Test (lock, waiter_gets_it_soon_after_release)
{
   char *db;
   bson_error_t error;
   mongolock_client_t *c = lt_client (&db);
   mongolock_lock_t *a = lt_lock (c, "k", 20000, 0, 0);
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   mongolock_lock_opts_set_wait_ms (o, 10000, NULL);
   mongolock_lock_opts_set_backoff (o, 5, 200, NULL);
   mongolock_lock_opts_set_event_callback (o, lt_events_cb, &ev);
   waiter_t w = {mongolock_lock_new (c, "k", o, &error), false, 0};
   mongolock_lock_opts_destroy (o);
   cr_assert (lt_try (a));
   pthread_t t;
   pthread_create (&t, NULL, waiter_main, &w);
   /* On a replica set the waiter attempts once and sleeps until a release wakes it (its
    * client's change stream, docs/wake-up.md); on a standalone it polls. */
   cr_assert_geq (lt_events_wait (&ev, MONGOLOCK_EVENT_CONTENDED, 1, 5000), 1, "the waiter is waiting");
   cr_assert_geq (lt_events_wait (&ev, MONGOLOCK_EVENT_WAIT_MODE, 1, 5000), 1, "the waiter knows its wait mode");
   mltest_sleep_ms (300);
   int64_t released_at = mltest_now_ms ();
   cr_assert (mongolock_lock_release (a, &error));
   pthread_join (t, NULL);
   cr_assert (w.ok);
   cr_assert_lt (w.got_at - released_at, 1000, "the waiter's backoff is capped at 200 ms");
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_ACQUIRED), 1);
   cr_assert_geq (ev.last_attempts, 2);
   cr_assert_gt (ev.last_wait_ms, 0);
   mongolock_lock_destroy (a);
   mongolock_lock_destroy (w.lock);
   lt_cleanup (c, db);
}

Test (lock, destroy_releases_a_forgotten_lock)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_lock_t *a = lt_lock (c, "k", 60000, 0, 0), *b = lt_lock (c, "k", 60000, 0, 0);
   cr_assert (lt_try (a));
   mongolock_lock_destroy (a);
   cr_assert (lt_try (b), "destroying the holder released the lock");
   mongolock_lock_destroy (b);
   lt_cleanup (c, db);
}

Test (lock, unreachable_server_is_an_error_never_acquired_or_busy)
{
   bson_error_t error;
   /* Port 1 on loopback: nothing listens there. */
   mongolock_client_t *c =
      mongolock_client_new ("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300", NULL, &error);
   cr_assert (c);
   mongolock_lock_t *l = lt_lock (c, "k", 1000, 2000, 0);
   bool acquired = true;
   cr_assert_not (mongolock_lock_try_acquire (l, &acquired, &error));
   cr_assert_not (acquired);
   cr_assert_neq (error.domain, MONGOLOCK_ERROR_DOMAIN, "a driver error, not a lock status: %s", error.message);
   cr_assert_not (mongolock_lock_acquire (l, &error));
   cr_assert_neq (error.code == MONGOLOCK_ERROR_TIMEOUT && error.domain == MONGOLOCK_ERROR_DOMAIN, true,
                  "an outage is not reported as a busy lock timing out");
   cr_assert_not (mongolock_lock_is_held (l));
   mongolock_lock_destroy (l);
   mongolock_client_destroy (c);
}

Test (lock, ensure_indexes_is_idempotent_and_creates_ttl)
{
   char *db;
   bson_error_t error;
   mongolock_client_t *c = lt_client (&db);
   cr_assert (mongolock_client_ensure_indexes (c, &error), "%s", error.message);
   cr_assert (mongolock_client_ensure_indexes (c, &error), "second call: %s", error.message);
   mongoc_client_t *mc = mltest_client ();
   mongoc_collection_t *coll = mongoc_client_get_collection (mc, db, MONGOLOCK_DEFAULT_COLLECTION);
   mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts (coll, NULL);
   const bson_t *idx;
   bool found = false;
   while (mongoc_cursor_next (cur, &idx)) {
      bson_iter_t it;
      if (bson_iter_init_find (&it, idx, "expireAfterSeconds")) {
         found = true;
         cr_assert_eq (bson_iter_as_int64 (&it), MONGOLOCK_DEFAULT_CLEANUP_SECS);
         cr_assert (bson_iter_init (&it, idx) && bson_iter_find_descendant (&it, "key.expiresAt", &it));
      }
   }
   cr_assert_not (mongoc_cursor_error (cur, &error), "%s", error.message);
   cr_assert (found, "TTL index on expiresAt exists");
   mongoc_cursor_destroy (cur);
   mongoc_collection_destroy (coll);
   mongoc_client_destroy (mc);
   lt_cleanup (c, db);
}
