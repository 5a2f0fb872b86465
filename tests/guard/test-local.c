/* SPDX-License-Identifier: Apache-2.0 */
/* The fail-open mode's process-local keyed mutexes and warning throttle (internal). */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdatomic.h>

#include "guard/guard-private.h"

typedef struct {
   _mongolock_local_table_t *t;
   const char *key;
   int rounds;
   _Atomic int inside;
   _Atomic int overlaps;
   long counter; /* only the local mutex protects it */
} shared_t;

static void *
worker (void *p)
{
   shared_t *s = p;
   for (int i = 0; i < s->rounds; i++) {
      cr_assert (_mongolock_local_lock (s->t, s->key, 60000));
      if (atomic_fetch_add (&s->inside, 1) != 0) {
         atomic_fetch_add (&s->overlaps, 1);
      }
      long v = s->counter;
      sched_yield ();
      s->counter = v + 1;
      atomic_fetch_sub (&s->inside, 1);
      _mongolock_local_unlock (s->t, s->key);
   }
   return NULL;
}

Test (local, threads_exclude_each_other_per_key)
{
   enum { THREADS = 8, ROUNDS = 2000 };
   _mongolock_local_table_t t;
   _mongolock_local_init (&t);
   shared_t s = {.t = &t, .key = "k", .rounds = ROUNDS};
   pthread_t th[THREADS];
   for (int i = 0; i < THREADS; i++) {
      pthread_create (&th[i], NULL, worker, &s);
   }
   for (int i = 0; i < THREADS; i++) {
      pthread_join (th[i], NULL);
   }
   cr_assert_eq (atomic_load (&s.overlaps), 0);
   cr_assert_eq (s.counter, THREADS * ROUNDS, "lost updates: %ld", s.counter);
   cr_assert_eq (_mongolock_local_count (&t), 0, "idle entries are dropped");
   _mongolock_local_destroy (&t);
}

Test (local, held_key_times_out_other_keys_do_not_wait)
{
   _mongolock_local_table_t t;
   _mongolock_local_init (&t);
   cr_assert (_mongolock_local_lock (&t, "a", 0));
   int64_t start = _mongolock_now_ms ();
   cr_assert_not (_mongolock_local_lock (&t, "a", 100));
   cr_assert_geq (_mongolock_now_ms () - start, 100);
   cr_assert_not (_mongolock_local_lock (&t, "a", 0));
   cr_assert (_mongolock_local_lock (&t, "b", 0), "another key is independent");
   _mongolock_local_unlock (&t, "b");
   _mongolock_local_unlock (&t, "a");
   cr_assert (_mongolock_local_lock (&t, "a", 0));
   _mongolock_local_unlock (&t, "a");
   cr_assert_eq (_mongolock_local_count (&t), 0);
   _mongolock_local_destroy (&t);
}

typedef struct {
   _mongolock_local_table_t *t;
   _Atomic int acquired;
} waiter_t;

static void *
waiter (void *p)
{
   waiter_t *w = p;
   if (_mongolock_local_lock (w->t, "a", 60000)) {
      atomic_store (&w->acquired, 1);
      _mongolock_local_unlock (w->t, "a");
   }
   return NULL;
}

Test (local, a_waiter_gets_the_key_when_it_is_released)
{
   _mongolock_local_table_t t;
   _mongolock_local_init (&t);
   cr_assert (_mongolock_local_lock (&t, "a", 0));
   waiter_t w = {&t, 0};
   pthread_t th;
   pthread_create (&th, NULL, waiter, &w);
   /* The waiter registers as a user of the entry; wait until it does. */
   for (int i = 0; i < 5000; i++) {
      pthread_mutex_lock (&t.mu);
      int users = 0;
      for (size_t b = 0; b < _MONGOLOCK_LOCAL_BUCKETS; b++) {
         for (_mongolock_local_entry_t *e = t.buckets[b]; e; e = e->next) {
            users += e->users;
         }
      }
      pthread_mutex_unlock (&t.mu);
      if (users == 2) {
         break;
      }
      _mongolock_sleep_ms (1);
   }
   cr_assert_eq (atomic_load (&w.acquired), 0);
   _mongolock_local_unlock (&t, "a");
   pthread_join (th, NULL);
   cr_assert_eq (atomic_load (&w.acquired), 1);
   _mongolock_local_destroy (&t);
}

Test (local, warnings_are_throttled_per_key)
{
   _mongolock_local_table_t t;
   _mongolock_local_init (&t);
   cr_assert_eq (t.warn_interval_ms, MONGOLOCK_GUARD_WARNING_INTERVAL_MS);
   cr_assert (_mongolock_local_warn_due (&t, "a"));
   for (int i = 0; i < 100; i++) {
      cr_assert_not (_mongolock_local_warn_due (&t, "a"));
   }
   cr_assert (_mongolock_local_warn_due (&t, "b"), "each key has its own throttle");
   cr_assert_eq (_mongolock_local_count (&t), 2, "a recent warning is remembered");
   t.warn_interval_ms = 50;
   _mongolock_sleep_ms (60);
   cr_assert (_mongolock_local_warn_due (&t, "a"), "warns again after the interval");
   cr_assert_not (_mongolock_local_warn_due (&t, "a"));
   _mongolock_local_destroy (&t);
}

Test (local, idle_entries_are_pruned_as_the_table_grows)
{
   _mongolock_local_table_t t;
   _mongolock_local_init (&t);
   t.warn_interval_ms = 1;
   char key[32];
   for (int i = 0; i < 5000; i++) {
      snprintf (key, sizeof key, "k%d", i);
      cr_assert (_mongolock_local_warn_due (&t, key));
      if (i % 100 == 0) {
         _mongolock_sleep_ms (2);
      }
   }
   cr_assert_lt (_mongolock_local_count (&t), 1000, "entries whose warning is old are pruned (%zu left)",
                 _mongolock_local_count (&t));
   _mongolock_local_destroy (&t);
}
