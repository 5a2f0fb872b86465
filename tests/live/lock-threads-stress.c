/* SPDX-License-Identifier: Apache-2.0 */
/* Threads racing on one client, with automatic renewal running, for ThreadSanitizer.
 *
 * Criterion cannot run under TSan (its shared arena cannot be mapped in TSan's address
 * layout), so this is a plain program: exit 0 when every invariant held, 1 otherwise. It
 * runs as an ordinary live test too. Invariants, checked on every round:
 *  - no two threads are ever inside the critical section together;
 *  - every holder's fencing token is larger than the previous holder's;
 *  - an unsynchronised counter loses no update;
 *  - long holds are renewed by the renewal thread and never lost;
 *  - a lease broken by an administrator is reported lost by the renewal thread while
 *    another thread polls the handle;
 *  - waiters on a held lock are cancelled from another thread (one flag, many waiters)
 *    and every one of them returns MONGOLOCK_ERROR_CANCELLED. */
#include <mongolock/mongolock.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { THREADS = 6, ROUNDS = 40, LEASE_MS = 2000, LONG_HOLD_MS = 800 };

typedef struct {
   mongolock_client_t *client;
   _Atomic long holder;
   _Atomic int64_t last_token;
   _Atomic long overlaps;
   _Atomic long token_violations;
   _Atomic long failures;
   _Atomic int events[16];
   long counter; /* only the lock protects it */
} shared_t;

static shared_t S;

static void
sleep_ms (long ms)
{
   struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
   while (nanosleep (&ts, &ts) != 0) {
   }
}

static void
on_event (const mongolock_event_t *event, void *data)
{
   _Atomic int *counts = data;
   atomic_fetch_add (&counts[mongolock_event_type (event)], 1);
}

static mongolock_lock_t *
new_lock (const char *key, _Atomic int *counts)
{
   bson_error_t error;
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   mongolock_lock_opts_set_lease_ms (o, LEASE_MS, NULL);
   mongolock_lock_opts_set_wait_ms (o, 120000, NULL);
   mongolock_lock_opts_set_backoff (o, 1, 20, NULL);
   mongolock_lock_opts_set_auto_renew (o, true);
   mongolock_lock_opts_set_event_callback (o, on_event, counts);
   mongolock_lock_t *l = mongolock_lock_new (S.client, key, o, &error);
   mongolock_lock_opts_destroy (o);
   if (!l) {
      fprintf (stderr, "lock_new: %s\n", error.message);
      exit (1);
   }
   return l;
}

static void
critical_section (long me, int64_t token, long hold_ms)
{
   if (atomic_exchange (&S.holder, me) != 0) {
      atomic_fetch_add (&S.overlaps, 1);
   }
   if (token <= atomic_load (&S.last_token)) {
      atomic_fetch_add (&S.token_violations, 1);
   }
   atomic_store (&S.last_token, token);
   long v = S.counter;
   if (hold_ms > 0) {
      sleep_ms (hold_ms); /* long enough that the renewal thread renews at least once */
   } else {
      sched_yield ();
   }
   S.counter = v + 1;
   long expected = me;
   if (!atomic_compare_exchange_strong (&S.holder, &expected, 0)) {
      atomic_fetch_add (&S.overlaps, 1);
   }
}

static void *
racer (void *arg)
{
   long me = (long) (intptr_t) arg;
   mongolock_lock_t *l = new_lock ("stress", S.events);
   bson_error_t error;
   for (int i = 0; i < ROUNDS; i++) {
      if (!mongolock_lock_acquire (l, &error)) {
         fprintf (stderr, "thread %ld: acquire: %s\n", me, error.message);
         atomic_fetch_add (&S.failures, 1);
         continue;
      }
      critical_section (me, mongolock_lock_token (l), i == 0 ? LONG_HOLD_MS : 0);
      if (i == ROUNDS - 1) {
         break; /* leave the last hold to mongolock_lock_destroy, which releases it */
      }
      if (!mongolock_lock_release (l, &error)) {
         fprintf (stderr, "thread %ld: release: %s\n", me, error.message);
         atomic_fetch_add (&S.failures, 1);
      }
   }
   mongolock_lock_destroy (l);
   return NULL;
}

/* An administrator breaks a renewed lease; the renewal thread must report it lost while
 * this thread keeps reading the handle's state. */
static bool
broken_lease_is_reported_lost (void)
{
   _Atomic int counts[8] = {0};
   mongolock_lock_t *l = new_lock ("broken", counts);
   bson_error_t error;
   bool ok = false;
   if (!mongolock_lock_acquire (l, &error)) {
      fprintf (stderr, "broken: acquire: %s\n", error.message);
      goto done;
   }
   bool was_held = false;
   if (!mongolock_client_force_release (S.client, "broken", &was_held, NULL, &error) || !was_held) {
      fprintf (stderr, "broken: force_release failed or found no live lease: %s\n", error.message);
      goto done;
   }
   /* The renewal thread renews a third into the lease and then finds the lease gone. */
   for (int i = 0; i < 2000 && mongolock_lock_is_held (l); i++) {
      (void) mongolock_lock_remaining_ms (l);
      (void) mongolock_lock_token (l);
      sleep_ms (5);
   }
   ok = !mongolock_lock_is_held (l) && atomic_load (&counts[MONGOLOCK_EVENT_LOST]) == 1;
   if (!ok) {
      fprintf (stderr, "broken: held=%d lost events=%d\n", mongolock_lock_is_held (l),
               atomic_load (&counts[MONGOLOCK_EVENT_LOST]));
   }
done:
   mongolock_lock_destroy (l);
   return ok;
}

typedef struct {
   mongolock_lock_t *lock;
   _Atomic int *cancelled;
} waiter_t;

static void *
waiter_main (void *arg)
{
   waiter_t *w = arg;
   bson_error_t error;
   if (!mongolock_lock_acquire (w->lock, &error) && error.domain == MONGOLOCK_ERROR_DOMAIN &&
       error.code == MONGOLOCK_ERROR_CANCELLED) {
      atomic_fetch_add (w->cancelled, 1);
   }
   return NULL;
}

/* THREADS waiters share one cancellation flag, raised from this thread while they sleep
 * between attempts or wait for the server. */
static bool
waiters_are_cancelled (void)
{
   _Atomic int counts[8] = {0};
   _Atomic int cancelled = 0;
   mongolock_lock_t *holder = new_lock ("cancel", counts);
   bson_error_t error;
   if (!mongolock_lock_acquire (holder, &error)) {
      fprintf (stderr, "cancel: acquire: %s\n", error.message);
      mongolock_lock_destroy (holder);
      return false;
   }
   mongolock_cancel_t *cancel = mongolock_cancel_new ();
   pthread_t t[THREADS];
   waiter_t w[THREADS];
   for (int i = 0; i < THREADS; i++) {
      mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
      mongolock_lock_opts_set_wait_ms (o, 60000, NULL);
      mongolock_lock_opts_set_backoff (o, 1, 10, NULL);
      mongolock_lock_opts_set_cancel (o, cancel);
      w[i].lock = mongolock_lock_new (S.client, "cancel", o, &error);
      w[i].cancelled = &cancelled;
      mongolock_lock_opts_destroy (o);
      pthread_create (&t[i], NULL, waiter_main, &w[i]);
   }
   sleep_ms (300);
   mongolock_cancel_raise (cancel);
   for (int i = 0; i < THREADS; i++) {
      pthread_join (t[i], NULL);
      mongolock_lock_destroy (w[i].lock);
   }
   mongolock_cancel_destroy (cancel);
   mongolock_lock_destroy (holder);
   bool ok = atomic_load (&cancelled) == THREADS;
   if (!ok) {
      fprintf (stderr, "cancel: %d of %d waiters cancelled\n", atomic_load (&cancelled), THREADS);
   }
   return ok;
}

int
main (void)
{
   const char *uri = getenv ("MONGOLOCK_TEST_URI");
   if (!uri || !*uri) {
      fprintf (stderr, "MONGOLOCK_TEST_URI is not set: run through tests/run-live.sh\n");
      return 1;
   }
   mongoc_init ();
   char db[64];
   snprintf (db, sizeof db, "mlt_stress_%d", (int) getpid ());
   bson_error_t error;
   mongolock_client_opts_t *co = mongolock_client_opts_new ();
   mongolock_client_opts_set_database (co, db, NULL);
   S.client = mongolock_client_new (uri, co, &error);
   mongolock_client_opts_destroy (co);
   if (!S.client) {
      fprintf (stderr, "client: %s\n", error.message);
      return 1;
   }
   pthread_t t[THREADS];
   for (long i = 0; i < THREADS; i++) {
      pthread_create (&t[i], NULL, racer, (void *) (intptr_t) (i + 1));
   }
   for (int i = 0; i < THREADS; i++) {
      pthread_join (t[i], NULL);
   }
   bool broken_ok = broken_lease_is_reported_lost ();
   bool cancel_ok = waiters_are_cancelled ();

   long total = (long) THREADS * ROUNDS;
   int renewed = atomic_load (&S.events[MONGOLOCK_EVENT_RENEWED]);
   int lost = atomic_load (&S.events[MONGOLOCK_EVENT_LOST]);
   int acquired = atomic_load (&S.events[MONGOLOCK_EVENT_ACQUIRED]);
   int released = atomic_load (&S.events[MONGOLOCK_EVENT_RELEASED]);
   int wait_modes = atomic_load (&S.events[MONGOLOCK_EVENT_WAIT_MODE]); /* the watcher ran (replica set) */
   printf ("entries %ld/%ld overlaps %ld token violations %ld failures %ld acquired %d released %d renewed %d lost %d "
           "wait-mode events %d\n",
           S.counter, total, atomic_load (&S.overlaps), atomic_load (&S.token_violations),
           atomic_load (&S.failures), acquired, released, renewed, lost, wait_modes);
   bool ok = S.counter == total && atomic_load (&S.overlaps) == 0 && atomic_load (&S.token_violations) == 0 &&
             atomic_load (&S.failures) == 0 && acquired == total && released == total && lost == 0 &&
             renewed >= THREADS && broken_ok && cancel_ok;

   mongoc_client_pool_t *pool = mongolock_client_pool (S.client);
   mongoc_client_t *mc = mongoc_client_pool_pop (pool);
   mongoc_database_t *d = mongoc_client_get_database (mc, db);
   (void) mongoc_database_drop (d, NULL);
   mongoc_database_destroy (d);
   mongoc_client_pool_push (pool, mc);
   mongolock_client_destroy (S.client);
   mongoc_cleanup ();
   printf ("%s\n", ok ? "lock-threads-stress: all invariants held" : "lock-threads-stress: FAILED");
   return ok ? 0 : 1;
}
