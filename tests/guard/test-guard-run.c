/* SPDX-License-Identifier: Apache-2.0 */
/* Live: mongolock_guard_run: the callback's result comes back, the lock is released on
 * every path, a busy key times out distinctly, threads exclude each other. */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "guard-test.h"

TestSuite (guard_run, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 120);

typedef struct {
   int calls;
   mongolock_guard_mode_t mode;
   int64_t token;
   bool fail;
   bool set_error;
   mongolock_lock_t *probe; /* another handle on the key: must be busy while fn runs */
   bool probe_busy;
   int result;
} ctx_t;

static bool
fn (mongolock_guard_mode_t mode, int64_t token, void *data, bson_error_t *error)
{
   ctx_t *c = data;
   c->calls++;
   c->mode = mode;
   c->token = token;
   if (c->probe) {
      c->probe_busy = !lt_try (c->probe);
   }
   c->result = 42;
   if (c->fail && c->set_error) {
      bson_set_error (error, 1234, 5678, "business rule said no");
   }
   return !c->fail;
}

static bool
free_now (mongolock_client_t *c, const char *key)
{
   mongolock_lock_t *l = lt_lock (c, key, 5000, 0, 0);
   bool got = lt_try (l);
   mongolock_lock_destroy (l);
   return got;
}

Test (guard_run, returns_the_callback_result_and_releases)
{
   char *db;
   bson_error_t error;
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_client_t *c = lt_client (&db);
   mongolock_guard_t *g = gt_guard (c, MONGOLOCK_GUARD_FAIL_CLOSED, 5000, 2000, &ev, NULL);
   ctx_t ctx = {0};
   ctx.probe = lt_lock (c, "ml1:s:k", 5000, 0, 0);
   mongolock_guard_mode_t mode = MONGOLOCK_GUARD_MODE_LOCAL;
   cr_assert (mongolock_guard_run (g, "ml1:s:k", NULL, fn, &ctx, &mode, &error), "%s", error.message);
   cr_assert_eq (ctx.calls, 1);
   cr_assert_eq (ctx.result, 42);
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCKED);
   cr_assert_eq (ctx.mode, MONGOLOCK_GUARD_MODE_LOCKED);
   cr_assert_gt (ctx.token, 0, "the callback gets the fencing token");
   cr_assert (ctx.probe_busy, "the key is held while the callback runs");
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_ACQUIRED), 1);
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_RELEASED), 1);
   cr_assert_eq (ev.last_error_code, 0, "released cleanly");
   cr_assert (free_now (c, "ml1:s:k"), "released after the call");
   mongolock_lock_destroy (ctx.probe);
   mongolock_guard_destroy (g);
   lt_cleanup (c, db);
}

Test (guard_run, releases_when_the_callback_fails)
{
   char *db;
   bson_error_t error;
   mongolock_client_t *c = lt_client (&db);
   mongolock_guard_t *g = gt_guard (c, MONGOLOCK_GUARD_FAIL_CLOSED, 5000, 2000, NULL, NULL);

   ctx_t ctx = {.fail = true, .set_error = true};
   mongolock_guard_mode_t mode;
   cr_assert_not (mongolock_guard_run (g, "k", NULL, fn, &ctx, &mode, &error));
   cr_assert_eq (error.domain, 1234, "the callback's own error comes back");
   cr_assert_eq (error.code, 5678);
   cr_assert_str_eq (error.message, "business rule said no");
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCKED, "it ran, under the lock");
   cr_assert (free_now (c, "k"), "released after a failing callback");

   ctx_t silent = {.fail = true};
   cr_assert_not (mongolock_guard_run (g, "k", NULL, fn, &silent, NULL, &error));
   cr_assert_eq (error.domain, MONGOLOCK_ERROR_DOMAIN);
   cr_assert_eq (error.code, MONGOLOCK_ERROR_CALLBACK);
   cr_assert (free_now (c, "k"));
   mongolock_guard_destroy (g);
   lt_cleanup (c, db);
}

Test (guard_run, busy_key_times_out_distinctly)
{
   char *db;
   bson_error_t error;
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_client_t *c = lt_client (&db);
   /* A holder from another client (another process, as far as the lock is concerned). */
   mongolock_client_opts_t *o = mongolock_client_opts_new ();
   cr_assert (mongolock_client_opts_set_database (o, mongolock_client_database_name (c), &error));
   mongolock_client_t *other = mongolock_client_new (mltest_uri (), o, &error);
   mongolock_client_opts_destroy (o);
   mongolock_lock_t *holder = lt_lock (other, "k", 30000, 0, 0);
   cr_assert (lt_try (holder));

   mongolock_guard_t *g = gt_guard (c, MONGOLOCK_GUARD_FAIL_OPEN, 5000, 300, &ev, NULL);
   ctx_t ctx = {0};
   mongolock_guard_mode_t mode = MONGOLOCK_GUARD_MODE_LOCKED;
   int64_t start = mltest_now_ms ();
   cr_assert_not (mongolock_guard_run (g, "k", NULL, fn, &ctx, &mode, &error));
   cr_assert_geq (mltest_now_ms () - start, 300, "waited the whole budget");
   cr_assert_eq (error.domain, MONGOLOCK_ERROR_DOMAIN);
   cr_assert_eq (error.code, MONGOLOCK_ERROR_TIMEOUT, "got %u/%u %s", error.domain, error.code, error.message);
   cr_assert_eq (ctx.calls, 0, "the callback did not run");
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_NONE);
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_TIMED_OUT), 1);
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_DEGRADED), 0, "contention is not an outage");

   /* A per-call wait overrides the guard's. */
   bson_t *opts = BCON_NEW ("waitMs", BCON_INT32 (0));
   start = mltest_now_ms ();
   cr_assert_not (mongolock_guard_run (g, "k", opts, fn, &ctx, &mode, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_TIMEOUT);
   bson_destroy (opts);

   cr_assert (mongolock_lock_release (holder, &error));
   cr_assert (mongolock_guard_run (g, "k", NULL, fn, &ctx, &mode, &error), "%s", error.message);
   cr_assert_eq (ctx.calls, 1);
   mongolock_lock_destroy (holder);
   mongolock_client_destroy (other);
   mongolock_guard_destroy (g);
   lt_cleanup (c, db);
}

Test (guard_run, bad_arguments)
{
   char *db;
   bson_error_t error;
   mongolock_client_t *c = lt_client (&db);
   mongolock_guard_t *g = gt_guard (c, MONGOLOCK_GUARD_FAIL_CLOSED, 5000, 2000, NULL, NULL);
   ctx_t ctx = {0};
   const char *bad_opts[] = {"{\"leaseMs\": 10}", "{\"waitMs\": -1}", "{\"waitMs\": 1.5}", "{\"principal\": \"x\"}",
                             "{\"other\": 1}"};
   for (size_t i = 0; i < sizeof bad_opts / sizeof bad_opts[0]; i++) {
      bson_t *o = mltest_bson (bad_opts[i]);
      cr_assert_not (mongolock_guard_run (g, "k", o, fn, &ctx, NULL, &error), "%s accepted", bad_opts[i]);
      cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s: %s", bad_opts[i], error.message);
      bson_destroy (o);
   }
   cr_assert_not (mongolock_guard_run (g, "", NULL, fn, &ctx, NULL, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   cr_assert_not (mongolock_guard_run (g, "k", NULL, NULL, &ctx, NULL, &error));
   cr_assert_not (mongolock_guard_run (NULL, "k", NULL, fn, &ctx, NULL, &error));
   cr_assert_eq (ctx.calls, 0);
   mongolock_guard_destroy (g);
   lt_cleanup (c, db);
}

/* Threads of one process share the thread-safe guard; an unsynchronised counter loses
 * updates if two callbacks ever overlap. */
typedef struct {
   mongolock_guard_t *g;
   _Atomic int inside;
   _Atomic int overlaps;
   _Atomic int failures;
   long counter;
} shared_t;

static bool
count_fn (mongolock_guard_mode_t mode, int64_t token, void *data, bson_error_t *error)
{
   (void) mode;
   (void) token;
   (void) error;
   shared_t *s = data;
   if (atomic_fetch_add (&s->inside, 1) != 0) {
      atomic_fetch_add (&s->overlaps, 1);
   }
   long v = s->counter;
   sched_yield ();
   s->counter = v + 1;
   atomic_fetch_sub (&s->inside, 1);
   return true;
}

enum { THREADS = 8, ROUNDS = 40 };

static void *
thread_main (void *p)
{
   shared_t *s = p;
   bson_t *opts = BCON_NEW ("waitMs", BCON_INT32 (60000));
   for (int i = 0; i < ROUNDS; i++) {
      bson_error_t error;
      if (!mongolock_guard_run (s->g, "counter", opts, count_fn, s, NULL, &error)) {
         fprintf (stderr, "run: %s\n", error.message);
         atomic_fetch_add (&s->failures, 1);
      }
   }
   bson_destroy (opts);
   return NULL;
}

Test (guard_run, threads_exclude_each_other)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   shared_t s = {.g = gt_guard (c, MONGOLOCK_GUARD_FAIL_CLOSED, 10000, 2000, NULL, NULL)};
   pthread_t t[THREADS];
   for (int i = 0; i < THREADS; i++) {
      pthread_create (&t[i], NULL, thread_main, &s);
   }
   for (int i = 0; i < THREADS; i++) {
      pthread_join (t[i], NULL);
   }
   cr_assert_eq (atomic_load (&s.failures), 0);
   cr_assert_eq (atomic_load (&s.overlaps), 0);
   cr_assert_eq (s.counter, THREADS * ROUNDS, "lost updates: %ld of %d", s.counter, THREADS * ROUNDS);
   mongolock_guard_destroy (s.g);
   lt_cleanup (c, db);
}
