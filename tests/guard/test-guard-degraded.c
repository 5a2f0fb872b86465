/* SPDX-License-Identifier: Apache-2.0 */
/* Live: degraded modes with the lock store unreachable for real (a client for a closed
 * loopback port), and proof that contention and server errors never count as an outage. */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "guard-test.h"
#include "guard/guard-private.h"
#include "proxy.h"

TestSuite (degraded, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 120);

typedef struct {
   _Atomic int calls;
   _Atomic int local_calls;
   _Atomic int64_t last_token;
} ctx_t;

static bool
fn (mongolock_guard_mode_t mode, int64_t token, void *data, bson_error_t *error)
{
   (void) error;
   ctx_t *c = data;
   atomic_fetch_add (&c->calls, 1);
   if (mode == MONGOLOCK_GUARD_MODE_LOCAL) {
      atomic_fetch_add (&c->local_calls, 1);
   }
   atomic_store (&c->last_token, token);
   return true;
}

static bool
unreachable_domain (const bson_error_t *e)
{
   return e->domain == MONGOC_ERROR_SERVER_SELECTION || e->domain == MONGOC_ERROR_STREAM;
}

Test (degraded, fail_closed_returns_the_store_error)
{
   lt_events_t ev;
   gt_warnings_t w;
   lt_events_init (&ev);
   gt_warnings_init (&w);
   mongolock_client_t *c = gt_unreachable_client ();
   mongolock_guard_t *g = gt_guard (c, MONGOLOCK_GUARD_FAIL_CLOSED, 5000, 2000, &ev, &w);
   ctx_t ctx = {0};
   bson_error_t error;
   mongolock_guard_mode_t mode = MONGOLOCK_GUARD_MODE_LOCKED;
   cr_assert_not (mongolock_guard_run (g, "k", NULL, fn, &ctx, &mode, &error));
   cr_assert (unreachable_domain (&error), "got %u/%u: %s", error.domain, error.code, error.message);
   cr_assert_eq (atomic_load (&ctx.calls), 0, "fail-closed never runs the callback");
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_NONE);
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_DEGRADED), 0);
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_ACQUIRED), 0);
   cr_assert_eq (gt_warnings_count (&w), 0);
   mongolock_guard_destroy (g);
   mongolock_client_destroy (c);
}

Test (degraded, fail_open_runs_locally_reports_the_mode_and_warns_once_per_key)
{
   lt_events_t ev;
   gt_warnings_t w;
   lt_events_init (&ev);
   gt_warnings_init (&w);
   mongolock_client_t *c = gt_unreachable_client ();
   mongolock_guard_t *g = gt_guard (c, MONGOLOCK_GUARD_FAIL_OPEN, 5000, 2000, &ev, &w);
   ctx_t ctx = {0};
   atomic_store (&ctx.last_token, -1);
   bson_error_t error;
   mongolock_guard_mode_t mode = MONGOLOCK_GUARD_MODE_NONE;
   cr_assert (mongolock_guard_run (g, "ml1:s:aaa", NULL, fn, &ctx, &mode, &error), "%s", error.message);
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCAL);
   cr_assert_eq (atomic_load (&ctx.local_calls), 1, "the callback is told it runs locally");
   cr_assert_eq (atomic_load (&ctx.last_token), 0, "no fencing token without the store");
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_DEGRADED), 1, "the event callback sees the mode");
   cr_assert_neq (ev.last_error_code, 0, "the DEGRADED event carries the store's error");
   cr_assert_eq (gt_warnings_count (&w), 1);
   cr_assert_str_eq (w.last_key, "ml1:s:aaa");
   cr_assert (strstr (w.last_message, "unreachable"), "%s", w.last_message);

   for (int i = 0; i < 3; i++) {
      cr_assert (mongolock_guard_run (g, "ml1:s:aaa", NULL, fn, &ctx, &mode, &error));
      cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCAL);
   }
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_DEGRADED), 4, "an event on every degraded run");
   cr_assert_eq (gt_warnings_count (&w), 1, "at most one warning per key per minute");
   cr_assert (mongolock_guard_run (g, "ml1:s:bbb", NULL, fn, &ctx, &mode, &error));
   cr_assert_eq (gt_warnings_count (&w), 2, "another key warns on its own");
   cr_assert_str_eq (w.last_key, "ml1:s:bbb");

   /* The throttle is per interval: shortened here (internal hook) so the test need not wait
    * a minute. */
   _mongolock_guard_set_warning_interval_ms (g, 1500);
   int before = gt_warnings_count (&w);
   cr_assert (mongolock_guard_run (g, "ml1:s:ccc", NULL, fn, &ctx, &mode, &error));
   int64_t warned_at = mltest_now_ms ();
   cr_assert_eq (gt_warnings_count (&w), before + 1);
   cr_assert (mongolock_guard_run (g, "ml1:s:ccc", NULL, fn, &ctx, &mode, &error));
   cr_assert_lt (mltest_now_ms () - warned_at, 1500, "the machine is too slow for this check");
   cr_assert_eq (gt_warnings_count (&w), before + 1, "no second warning within the interval");
   int64_t rest = 1600 - (mltest_now_ms () - warned_at);
   if (rest > 0) {
      mltest_sleep_ms (rest);
   }
   cr_assert (mongolock_guard_run (g, "ml1:s:ccc", NULL, fn, &ctx, &mode, &error));
   cr_assert_eq (gt_warnings_count (&w), before + 2, "warns again once the interval has passed");
   mongolock_guard_destroy (g);
   mongolock_client_destroy (c);
}

/* Without a warning callback the warning goes to libmongoc's log handler. */
typedef struct {
   pthread_mutex_t mu;
   int warnings;
} log_capture_t;

static void
log_handler (mongoc_log_level_t level, const char *domain, const char *message, void *data)
{
   log_capture_t *cap = data;
   if (level == MONGOC_LOG_LEVEL_WARNING && strcmp (domain, "mongolock") == 0 && strstr (message, "unreachable")) {
      pthread_mutex_lock (&cap->mu);
      cap->warnings++;
      pthread_mutex_unlock (&cap->mu);
   }
}

Test (degraded, default_warning_goes_to_the_mongoc_log)
{
   log_capture_t cap = {PTHREAD_MUTEX_INITIALIZER, 0};
   mongoc_log_set_handler (log_handler, &cap);
   mongolock_client_t *c = gt_unreachable_client ();
   mongolock_guard_t *g = gt_guard (c, MONGOLOCK_GUARD_FAIL_OPEN, 5000, 2000, NULL, NULL);
   ctx_t ctx = {0};
   bson_error_t error;
   for (int i = 0; i < 3; i++) {
      cr_assert (mongolock_guard_run (g, "k", NULL, fn, &ctx, NULL, &error), "%s", error.message);
   }
   mongolock_guard_destroy (g);
   mongolock_client_destroy (c);
   mongoc_log_set_handler (mongoc_log_default_handler, NULL);
   cr_assert_eq (cap.warnings, 1);
}

/* The local mutex still excludes the threads of this process. */
typedef struct {
   mongolock_guard_t *g;
   _Atomic int inside;
   _Atomic int overlaps;
   _Atomic int not_local;
   _Atomic int failures;
   long counter;
} shared_t;

static bool
count_fn (mongolock_guard_mode_t mode, int64_t token, void *data, bson_error_t *error)
{
   (void) token;
   (void) error;
   shared_t *s = data;
   if (mode != MONGOLOCK_GUARD_MODE_LOCAL) {
      atomic_fetch_add (&s->not_local, 1);
   }
   if (atomic_fetch_add (&s->inside, 1) != 0) {
      atomic_fetch_add (&s->overlaps, 1);
   }
   long v = s->counter;
   for (int i = 0; i < 50; i++) {
      sched_yield ();
   }
   s->counter = v + 1;
   atomic_fetch_sub (&s->inside, 1);
   return true;
}

enum { THREADS = 6, ROUNDS = 5 };

static void *
thread_main (void *p)
{
   shared_t *s = p;
   for (int i = 0; i < ROUNDS; i++) {
      bson_error_t error;
      mongolock_guard_mode_t mode;
      if (!mongolock_guard_run (s->g, "shared", NULL, count_fn, s, &mode, &error) ||
          mode != MONGOLOCK_GUARD_MODE_LOCAL) {
         atomic_fetch_add (&s->failures, 1);
      }
   }
   return NULL;
}

Test (degraded, fail_open_local_mutex_excludes_threads)
{
   mongolock_client_t *c = gt_unreachable_client ();
   shared_t s = {.g = gt_guard (c, MONGOLOCK_GUARD_FAIL_OPEN, 5000, 30000, NULL, NULL)};
   gt_warnings_t w;
   gt_warnings_init (&w);
   pthread_t t[THREADS];
   for (int i = 0; i < THREADS; i++) {
      pthread_create (&t[i], NULL, thread_main, &s);
   }
   for (int i = 0; i < THREADS; i++) {
      pthread_join (t[i], NULL);
   }
   cr_assert_eq (atomic_load (&s.failures), 0);
   cr_assert_eq (atomic_load (&s.not_local), 0);
   cr_assert_eq (atomic_load (&s.overlaps), 0);
   cr_assert_eq (s.counter, THREADS * ROUNDS);
   cr_assert_eq (_mongolock_local_count (&s.g->local), 1, "only the warning throttle entry stays");
   mongolock_guard_destroy (s.g);
   mongolock_client_destroy (c);
}

typedef struct {
   mongolock_guard_t *g;
   pthread_mutex_t mu;
   pthread_cond_t cond;
   bool inside;
   bool release;
   bool ok;
} blocker_t;

static bool
block_fn (mongolock_guard_mode_t mode, int64_t token, void *data, bson_error_t *error)
{
   (void) mode;
   (void) token;
   (void) error;
   blocker_t *b = data;
   pthread_mutex_lock (&b->mu);
   b->inside = true;
   pthread_cond_broadcast (&b->cond);
   while (!b->release) {
      pthread_cond_wait (&b->cond, &b->mu);
   }
   pthread_mutex_unlock (&b->mu);
   return true;
}

static void *
blocker_main (void *p)
{
   blocker_t *b = p;
   bson_error_t error;
   b->ok = mongolock_guard_run (b->g, "busy", NULL, block_fn, b, NULL, &error);
   return NULL;
}

Test (degraded, fail_open_busy_local_key_times_out)
{
   mongolock_client_t *c = gt_unreachable_client ();
   blocker_t b = {.g = gt_guard (c, MONGOLOCK_GUARD_FAIL_OPEN, 5000, 1000, NULL, NULL),
                  .mu = PTHREAD_MUTEX_INITIALIZER,
                  .cond = PTHREAD_COND_INITIALIZER};
   pthread_t t;
   pthread_create (&t, NULL, blocker_main, &b);
   pthread_mutex_lock (&b.mu);
   while (!b.inside) {
      pthread_cond_wait (&b.cond, &b.mu);
   }
   pthread_mutex_unlock (&b.mu);

   ctx_t ctx = {0};
   bson_error_t error;
   mongolock_guard_mode_t mode = MONGOLOCK_GUARD_MODE_LOCAL;
   cr_assert_not (mongolock_guard_run (b.g, "busy", NULL, fn, &ctx, &mode, &error));
   cr_assert_eq (error.domain, MONGOLOCK_ERROR_DOMAIN);
   cr_assert_eq (error.code, MONGOLOCK_ERROR_TIMEOUT, "%s", error.message);
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_NONE);
   cr_assert_eq (atomic_load (&ctx.calls), 0);
   cr_assert (mongolock_guard_run (b.g, "other", NULL, fn, &ctx, &mode, &error), "other keys are independent");

   pthread_mutex_lock (&b.mu);
   b.release = true;
   pthread_cond_broadcast (&b.cond);
   pthread_mutex_unlock (&b.mu);
   pthread_join (t, NULL);
   cr_assert (b.ok);
   cr_assert (mongolock_guard_run (b.g, "busy", NULL, fn, &ctx, &mode, &error), "%s", error.message);
   mongolock_guard_destroy (b.g);
   mongolock_client_destroy (c);
}

/* A server that answers with a command error is reachable: fail-open must not hide it
 * behind a process-local mutex. The lock document is planted with a string token, so the
 * acquire pipeline's $add fails on the server. */
Test (degraded, a_server_error_is_not_an_outage)
{
   char *db;
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_client_t *c = lt_client (&db);
   mongoc_client_t *mc = mltest_client ();
   mltest_cmd_ok (mc, db, "{'insert': 'locks', 'documents': [{'_id': 'poisoned', 'token': 'not a number'}]}", NULL);
   mongolock_guard_t *g = gt_guard (c, MONGOLOCK_GUARD_FAIL_OPEN, 5000, 2000, &ev, NULL);
   ctx_t ctx = {0};
   bson_error_t error;
   mongolock_guard_mode_t mode;
   cr_assert_not (mongolock_guard_run (g, "poisoned", NULL, fn, &ctx, &mode, &error));
   cr_assert_not (unreachable_domain (&error), "%u/%u %s", error.domain, error.code, error.message);
   cr_assert_eq (error.domain, MONGOC_ERROR_SERVER, "the server's error passes through: %u/%u %s", error.domain,
                 error.code, error.message);
   cr_assert_eq (atomic_load (&ctx.calls), 0);
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_NONE);
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_DEGRADED), 0);
   mongolock_guard_destroy (g);
   mongoc_client_destroy (mc);
   lt_cleanup (c, db);
}

static int64_t
timed_run (mongolock_guard_t *g, ctx_t *ctx, mongolock_guard_mode_t *mode)
{
   bson_error_t error;
   int64_t t0 = mltest_now_ms ();
   cr_assert (mongolock_guard_run (g, "ml1:s:retry", NULL, fn, ctx, mode, &error), "%s", error.message);
   return mltest_now_ms () - t0;
}

/* Fail-open: after finding the store unreachable the guard runs locally at once, without
 * paying server selection again, until the retry interval has passed; then it tries the
 * store again. */
Test (degraded, fail_open_skips_an_unreachable_store_until_the_retry_interval)
{
   lt_events_t ev;
   lt_events_init (&ev);
   /* Server selection takes 2 s, so a call that tries the store is easy to tell from one
    * that skips it. */
   mongolock_client_t *c = gt_unreachable_client_with (2000);
   mongolock_guard_opts_t *o = mongolock_guard_opts_new ();
   mongolock_guard_opts_set_degraded_mode (o, MONGOLOCK_GUARD_FAIL_OPEN);
   cr_assert (mongolock_guard_opts_set_store_retry_ms (o, 3000, NULL));
   cr_assert_not (mongolock_guard_opts_set_store_retry_ms (o, -1, NULL));
   cr_assert_not (mongolock_guard_opts_set_store_retry_ms (o, MONGOLOCK_GUARD_STORE_RETRY_MAX_MS + 1, NULL));
   mongolock_guard_opts_set_event_callback (o, lt_events_cb, &ev);
   mongolock_guard_opts_set_warning_callback (o, NULL, NULL);
   mongolock_guard_t *g = mongolock_guard_new (c, o, NULL);
   mongolock_guard_opts_destroy (o);
   ctx_t ctx = {0};
   mongolock_guard_mode_t mode;

   cr_assert_eq (mongolock_guard_store_retry_in_ms (g), 0, "not marked before any failure");
   int64_t first = timed_run (g, &ctx, &mode);
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCAL);
   cr_assert_geq (first, 1500, "the first call waits for server selection (%" PRId64 " ms)", first);
   int64_t retry_in = mongolock_guard_store_retry_in_ms (g);
   cr_assert (retry_in > 0 && retry_in <= 3000, "retry in %" PRId64 " ms", retry_in);
   uint32_t marked_code = ev.last_error_code;

   int64_t second = timed_run (g, &ctx, &mode);
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCAL);
   cr_assert_lt (second, 1000, "a marked store is skipped (%" PRId64 " ms)", second);
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_DEGRADED), 2, "a skipped store is still a degraded run");
   cr_assert_eq (ev.last_error_code, marked_code, "its event carries the error that marked the store");

   for (int i = 0; i < 100 && mongolock_guard_store_retry_in_ms (g) > 0; i++) {
      mltest_sleep_ms (50);
   }
   cr_assert_eq (mongolock_guard_store_retry_in_ms (g), 0);
   int64_t third = timed_run (g, &ctx, &mode);
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCAL);
   cr_assert_geq (third, 1500, "after the interval the store is tried again (%" PRId64 " ms)", third);
   cr_assert_eq (atomic_load (&ctx.local_calls), 3);
   mongolock_guard_destroy (g);
   mongolock_client_destroy (c);
}

/* Fail-closed never marks the store: every call tries it and returns its error. */
Test (degraded, fail_closed_never_skips_the_store)
{
   mongolock_client_t *c = gt_unreachable_client ();
   mongolock_guard_t *g = gt_guard (c, MONGOLOCK_GUARD_FAIL_CLOSED, 5000, 2000, NULL, NULL);
   ctx_t ctx = {0};
   bson_error_t error;
   for (int i = 0; i < 2; i++) {
      cr_assert_not (mongolock_guard_run (g, "k", NULL, fn, &ctx, NULL, &error));
      cr_assert (unreachable_domain (&error), "%s", error.message);
      cr_assert_eq (mongolock_guard_store_retry_in_ms (g), 0);
   }
   cr_assert_eq (atomic_load (&ctx.calls), 0);
   mongolock_guard_destroy (g);
   mongolock_client_destroy (c);
}

/* The store goes away and comes back (a proxy in front of the server under test): a
 * fail-open guard runs locally while it is marked unreachable, and once the retry interval
 * has passed and the store answers again, runs under the distributed lock and clears the
 * mark. */
Test (degraded, fail_open_returns_to_the_store_when_it_is_back)
{
   char *db = mltest_db_name ("back");
   mltest_proxy_t *px = mltest_proxy_start (mltest_uri ());
   char *uri = mltest_proxy_uri (px, "serverSelectionTimeoutMS=500&connectTimeoutMS=500");
   mongolock_client_t *c = lt_client_at (uri, db);
   bson_free (uri);
   bson_error_t error;
   mongolock_guard_opts_t *o = mongolock_guard_opts_new ();
   mongolock_guard_opts_set_degraded_mode (o, MONGOLOCK_GUARD_FAIL_OPEN);
   cr_assert (mongolock_guard_opts_set_store_retry_ms (o, 1000, NULL));
   gt_warnings_t w;
   gt_warnings_init (&w);
   mongolock_guard_opts_set_warning_callback (o, gt_warnings_cb, &w);
   mongolock_guard_t *g = mongolock_guard_new (c, o, NULL);
   mongolock_guard_opts_destroy (o);
   ctx_t ctx = {0};
   mongolock_guard_mode_t mode;

   cr_assert (mongolock_guard_run (g, "k", NULL, fn, &ctx, &mode, &error), "%s", error.message);
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCKED, "the store is reachable at first");
   cr_assert_gt (atomic_load (&ctx.last_token), 0);

   mltest_proxy_set_mode (px, MLTEST_PROXY_REFUSE);
   cr_assert (mongolock_guard_run (g, "k", NULL, fn, &ctx, &mode, &error), "%s", error.message);
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCAL);
   cr_assert_gt (mongolock_guard_store_retry_in_ms (g), 0, "marked unreachable");

   mltest_proxy_set_mode (px, MLTEST_PROXY_PASS);
   cr_assert (mongolock_guard_run (g, "k", NULL, fn, &ctx, &mode, &error));
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCAL, "still skipped within the retry interval");
   for (int i = 0; i < 100 && mongolock_guard_store_retry_in_ms (g) > 0; i++) {
      mltest_sleep_ms (50);
   }
   cr_assert (mongolock_guard_run (g, "k", NULL, fn, &ctx, &mode, &error), "%s", error.message);
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCKED, "back under the distributed lock");
   cr_assert_gt (atomic_load (&ctx.last_token), 0);
   cr_assert_eq (mongolock_guard_store_retry_in_ms (g), 0, "the mark is cleared");

   mongolock_guard_destroy (g);
   mltest_proxy_stop (px);
   lt_cleanup (c, db);
}

/* A store that accepts connections and never answers (the proxy's partition; the URI's
 * socketTimeoutMS left at the driver's 300 s): a fail-open guard falls back to its local
 * mutex within its wait (800 ms here), not after the socket timeout (issue 8, item 3). */
Test (degraded, fail_open_on_a_hung_store_falls_back_within_the_wait)
{
   char *db = mltest_db_name ("hung");
   mltest_proxy_t *px = mltest_proxy_start (mltest_uri ());
   char *uri = mltest_proxy_uri (px, NULL);
   mongolock_client_t *c = lt_client_at (uri, db);
   bson_free (uri);
   mongolock_guard_t *g = gt_guard (c, MONGOLOCK_GUARD_FAIL_OPEN, 5000, 800, NULL, NULL);
   ctx_t ctx = {0};
   mongolock_guard_mode_t mode;
   bson_error_t error;
   cr_assert (mongolock_guard_run (g, "k", NULL, fn, &ctx, &mode, &error), "%s", error.message);
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCKED);
   mltest_proxy_set_mode (px, MLTEST_PROXY_BLACKHOLE);
   int64_t t = mltest_now_ms ();
   cr_assert (mongolock_guard_run (g, "k", NULL, fn, &ctx, &mode, &error), "%s", error.message);
   int64_t took = mltest_now_ms () - t;
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCAL, "a hung store counts as unreachable");
   cr_assert_leq (took, 2500, "the fallback came %" PRId64 " ms later (wait 800 ms)", took);
   mltest_proxy_set_mode (px, MLTEST_PROXY_REFUSE);
   mongolock_guard_destroy (g);
   mltest_proxy_stop (px);
   mongolock_client_destroy (c);
   bson_free (db);
}
