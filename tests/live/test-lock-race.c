/* SPDX-License-Identifier: Apache-2.0 */
/* Live: real concurrency. Forked processes and threads race for one key; every holder
 * records enter/leave in shared memory, and the test fails on any overlap of two holders
 * or any token not larger than the previous holder's. */
#include <criterion/criterion.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lock-test.h"

typedef struct {
   _Atomic long holder;       /* pid/thread id inside the critical section, 0 when empty */
   _Atomic int64_t last_token; /* token of the previous holder */
   _Atomic long overlaps;
   _Atomic long token_violations;
   _Atomic long entries;
   long counter; /* deliberately unsynchronised: only the lock protects it */
} shared_t;

static shared_t *
shared_new (void)
{
   shared_t *s = mmap (NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
   cr_assert (s != MAP_FAILED);
   memset (s, 0, sizeof *s);
   return s;
}

/* The critical section: check-and-record, then a non-atomic read-modify-write with a
 * yield in the middle that loses updates if two holders ever overlap. */
static void
critical_section (shared_t *s, long me, int64_t token)
{
   long prev = atomic_exchange (&s->holder, me);
   if (prev != 0) {
      atomic_fetch_add (&s->overlaps, 1);
   }
   int64_t last = atomic_load (&s->last_token);
   if (token <= last) {
      atomic_fetch_add (&s->token_violations, 1);
   }
   atomic_store (&s->last_token, token);
   long v = s->counter;
   sched_yield ();
   s->counter = v + 1;
   atomic_fetch_add (&s->entries, 1);
   long expected = me;
   if (!atomic_compare_exchange_strong (&s->holder, &expected, 0)) {
      atomic_fetch_add (&s->overlaps, 1);
   }
}

static int
worker (const char *db, shared_t *s, long me, int rounds)
{
   mongoc_init ();
   bson_error_t error;
   mongolock_client_opts_t *o = mongolock_client_opts_new ();
   mongolock_client_opts_set_database (o, db, NULL);
   mongolock_client_t *c = mongolock_client_new (mltest_uri (), o, &error);
   mongolock_client_opts_destroy (o);
   mongolock_lock_opts_t *lo = mongolock_lock_opts_new ();
   mongolock_lock_opts_set_lease_ms (lo, 10000, NULL);
   mongolock_lock_opts_set_wait_ms (lo, 120000, NULL);
   mongolock_lock_opts_set_backoff (lo, 1, 20, NULL);
   mongolock_lock_t *l = mongolock_lock_new (c, "race", lo, &error);
   mongolock_lock_opts_destroy (lo);
   int failures = 0;
   for (int i = 0; i < rounds; i++) {
      if (!mongolock_lock_acquire (l, &error)) {
         fprintf (stderr, "worker %ld: acquire: %s\n", me, error.message);
         failures++;
         continue;
      }
      critical_section (s, me, mongolock_lock_token (l));
      if (!mongolock_lock_release (l, &error)) {
         fprintf (stderr, "worker %ld: release: %s\n", me, error.message);
         failures++;
      }
   }
   mongolock_lock_destroy (l);
   mongolock_client_destroy (c);
   mongoc_cleanup ();
   return failures;
}

static void
check (shared_t *s, long total)
{
   cr_assert_eq (atomic_load (&s->overlaps), 0, "two holders overlapped %ld times", atomic_load (&s->overlaps));
   cr_assert_eq (atomic_load (&s->token_violations), 0, "%ld tokens were not larger than the previous holder's",
                 atomic_load (&s->token_violations));
   cr_assert_eq (atomic_load (&s->entries), total);
   cr_assert_eq (s->counter, total, "lost updates: counter %ld of %ld", s->counter, total);
}

Test (race, forked_processes_never_overlap_and_tokens_increase, .timeout = 600)
{
   enum { PROCS = 8, ROUNDS = 150 };
   char *db = mltest_db_name ("race");
   shared_t *s = shared_new ();
   pid_t pids[PROCS];
   for (int p = 0; p < PROCS; p++) {
      pids[p] = fork ();
      cr_assert (pids[p] >= 0);
      if (pids[p] == 0) {
         _exit (worker (db, s, (long) getpid (), ROUNDS) ? 1 : 0);
      }
   }
   for (int p = 0; p < PROCS; p++) {
      int status;
      cr_assert_eq (waitpid (pids[p], &status, 0), pids[p]);
      cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "worker %d failed (status %d)", p, status);
   }
   check (s, (long) PROCS * ROUNDS);
   mongoc_init ();
   mongoc_client_t *mc = mltest_client ();
   mltest_drop_db (mc, db);
   mongoc_client_destroy (mc);
   mongoc_cleanup ();
   munmap (s, sizeof *s);
   bson_free (db);
}

typedef struct {
   mongolock_client_t *client;
   shared_t *s;
   long id;
   int rounds;
   int failures;
} thread_arg_t;

static void *
thread_main (void *p)
{
   thread_arg_t *a = p;
   bson_error_t error;
   mongolock_lock_opts_t *lo = mongolock_lock_opts_new ();
   mongolock_lock_opts_set_lease_ms (lo, 10000, NULL);
   mongolock_lock_opts_set_wait_ms (lo, 120000, NULL);
   mongolock_lock_opts_set_backoff (lo, 1, 20, NULL);
   /* Each thread has its own handle on the shared, thread-safe client. */
   mongolock_lock_t *l = mongolock_lock_new (a->client, "race", lo, &error);
   mongolock_lock_opts_destroy (lo);
   for (int i = 0; i < a->rounds; i++) {
      if (!mongolock_lock_acquire (l, &error)) {
         a->failures++;
         continue;
      }
      critical_section (a->s, a->id, mongolock_lock_token (l));
      if (!mongolock_lock_release (l, &error)) {
         a->failures++;
      }
   }
   mongolock_lock_destroy (l);
   return NULL;
}

Test (race, threads_of_one_process_exclude_each_other, .timeout = 600)
{
   enum { THREADS = 8, ROUNDS = 100 };
   mongoc_init ();
   char *db;
   mongolock_client_t *c = lt_client (&db);
   shared_t *s = shared_new ();
   pthread_t t[THREADS];
   thread_arg_t args[THREADS];
   for (int i = 0; i < THREADS; i++) {
      args[i] = (thread_arg_t){c, s, i + 1, ROUNDS, 0};
      pthread_create (&t[i], NULL, thread_main, &args[i]);
   }
   for (int i = 0; i < THREADS; i++) {
      pthread_join (t[i], NULL);
      cr_assert_eq (args[i].failures, 0, "thread %d had failures", i);
   }
   check (s, (long) THREADS * ROUNDS);
   munmap (s, sizeof *s);
   lt_cleanup (c, db);
   mongoc_cleanup ();
}

/* A holder killed with SIGKILL never releases: others get the lock once its lease has
 * expired on the server, and not before. */
Test (race, killed_holder_blocks_until_its_lease_expires, .timeout = 120)
{
   const int64_t lease = 1500;
   char *db = mltest_db_name ("kill");
   int fds[2];
   cr_assert_eq (pipe (fds), 0);
   pid_t child = fork ();
   cr_assert (child >= 0);
   if (child == 0) {
      close (fds[0]);
      mongoc_init ();
      bson_error_t error;
      mongolock_client_opts_t *o = mongolock_client_opts_new ();
      mongolock_client_opts_set_database (o, db, NULL);
      mongolock_client_t *c = mongolock_client_new (mltest_uri (), o, &error);
      mongolock_lock_opts_t *lo = mongolock_lock_opts_new ();
      mongolock_lock_opts_set_lease_ms (lo, lease, NULL);
      mongolock_lock_t *l = mongolock_lock_new (c, "victim", lo, &error);
      int64_t sent = mltest_now_ms (); /* CLOCK_MONOTONIC: comparable across processes */
      bool acquired = false;
      if (!mongolock_lock_try_acquire (l, &acquired, &error) || !acquired) {
         _exit (1);
      }
      int64_t msg[2] = {sent, mongolock_lock_token (l)};
      if (write (fds[1], msg, sizeof msg) != sizeof msg) {
         _exit (2);
      }
      for (;;) {
         pause ();
      }
   }
   close (fds[1]);
   /* The contender connects first (a try on another key), so that its tries start as soon
    * as the holder is dead, not after a handshake that a loaded machine makes slow. */
   mongoc_init ();
   bson_error_t error;
   mongolock_client_opts_t *o = mongolock_client_opts_new ();
   mongolock_client_opts_set_database (o, db, NULL);
   mongolock_client_t *c = mongolock_client_new (mltest_uri (), o, &error);
   mongolock_client_opts_destroy (o);
   mongolock_lock_t *warm = lt_lock (c, "warm-up", 5000, 0, 0);
   cr_assert (lt_try (warm));
   mongolock_lock_destroy (warm);
   mongolock_lock_t *l = lt_lock (c, "victim", 5000, 0, 0);
   int64_t msg[2];
   cr_assert_eq (read (fds[0], msg, sizeof msg), (ssize_t) sizeof msg, "child acquired");
   cr_assert_eq (kill (child, SIGKILL), 0);
   int status;
   waitpid (child, &status, 0);
   cr_assert (WIFSIGNALED (status));

   int refusals = 0;
   while (!lt_try (l)) {
      refusals++;
      mltest_sleep_ms (25);
      cr_assert_lt (mltest_now_ms () - msg[0], lease + 5000, "never got the lock after the holder died");
   }
   int64_t got = mltest_now_ms () - msg[0];
   cr_assert_geq (got, lease - 1, "got the lock %" PRId64 " ms after a %" PRId64 " ms lease started", got, lease);
   cr_assert_lt (got, lease + 2000, "took too long after expiry: %" PRId64 " ms", got);
   /* Refused while the dead holder's lease ran (every 25 ms, so dozens on a quiet machine;
    * a loaded one makes each try slow, hence no larger count), granted only after it. */
   cr_assert_geq (refusals, 1, "never refused: the dead holder's lease was not in force");
   cr_assert_gt (mongolock_lock_token (l), msg[1]);
   mongolock_lock_destroy (l);
   lt_cleanup (c, db);
   mongoc_cleanup ();
}
