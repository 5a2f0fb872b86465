/* SPDX-License-Identifier: Apache-2.0 */
/* Live, real concurrency on a 3-permit semaphore: 16 forked processes, many rounds. A
 * shared counter in shared memory is checked on every entry (never more than 3 inside);
 * every process gets in every round; some holders stop renewing and walk away, so their
 * permits must be reclaimed by the server's clock, and their late release must free
 * nothing of anyone else's (the counter would see a fourth holder). Tokens: unique, and
 * larger than every token whose release had completed before the acquire was sent.
 * Plus the exclusive lock's fault tests, adapted: a SIGKILLed holder's permit comes back
 * after its lease, and a partition reports LOST when the lease runs out. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxy.h"
#include "sem-test.h"

TestSuite (semrace, .timeout = 600);

enum { PROCS = 16, ROUNDS = 12, PERMITS = 3, LEASE = 1500 };

typedef struct {
   _Atomic int inside;
   _Atomic int max_inside;
   _Atomic long over;            /* entries that found more than PERMITS inside */
   _Atomic long token_violations;
   _Atomic int64_t max_released; /* largest token whose release completed */
   _Atomic long entries;
   _Atomic long abandoned;
   _Atomic long next;            /* slots used in tokens[] */
   int64_t tokens[PROCS * ROUNDS];
   int per_proc[PROCS];
} shared_t;

static void
enter (shared_t *s, int64_t token, int64_t released_before)
{
   int now = atomic_fetch_add (&s->inside, 1) + 1;
   if (now > PERMITS) {
      atomic_fetch_add (&s->over, 1);
   }
   int m = atomic_load (&s->max_inside);
   while (now > m && !atomic_compare_exchange_weak (&s->max_inside, &m, now)) {
   }
   if (token <= released_before) {
      atomic_fetch_add (&s->token_violations, 1);
   }
   s->tokens[atomic_fetch_add (&s->next, 1)] = token;
   atomic_fetch_add (&s->entries, 1);
}

static void
note_released (shared_t *s, int64_t token)
{
   int64_t m = atomic_load (&s->max_released);
   while (token > m && !atomic_compare_exchange_weak (&s->max_released, &m, token)) {
   }
}

static int
worker (const char *db, shared_t *s, int me)
{
   mongoc_init ();
   srand ((unsigned) getpid ());
   bson_error_t error;
   mongolock_client_opts_t *o = mongolock_client_opts_new ();
   mongolock_client_opts_set_database (o, db, NULL);
   mongolock_client_t *c = mongolock_client_new (mltest_uri (), o, &error);
   mongolock_client_opts_destroy (o);
   mongolock_lock_opts_t *lo = mongolock_lock_opts_new ();
   mongolock_lock_opts_set_lease_ms (lo, LEASE, NULL);
   mongolock_lock_opts_set_wait_ms (lo, 300000, NULL);
   mongolock_lock_opts_set_backoff (lo, 2, 40, NULL);
   mongolock_semaphore_t *sem = c ? mongolock_semaphore_new (c, "api", PERMITS, lo, &error) : NULL;
   mongolock_lock_opts_destroy (lo);
   if (!sem) {
      fprintf (stderr, "worker %d: %s\n", me, error.message);
      return 1;
   }
   int failures = 0;
   for (int i = 0; i < ROUNDS; i++) {
      int64_t released_before = atomic_load (&s->max_released);
      if (!mongolock_semaphore_acquire (sem, &error)) {
         fprintf (stderr, "worker %d: acquire: %s\n", me, error.message);
         failures++;
         continue;
      }
      int64_t token = mongolock_semaphore_token (sem);
      enter (s, token, released_before);
      s->per_proc[me]++;
      /* Round 0: stay up to 300 ms (well inside the lease left, at least half of it) for
       * the permits to fill, so that a slow machine (ASan) still shows all of them used at
       * once; a semaphore that admitted fewer would still fail the peak check below. */
      for (int64_t until = mltest_now_ms () + 300; i == 0 && atomic_load (&s->inside) < PERMITS &&
                                                   mltest_now_ms () < until;) {
         mltest_sleep_ms (5);
      }
      mltest_sleep_ms (10 + rand () % 20);
      atomic_fetch_sub (&s->inside, 1);
      /* Round 3 of every fourth process: walk away without renewing or releasing. The
       * permit stays taken on the server until its lease ends there. */
      if (i == 3 && me % 4 == 0) {
         atomic_fetch_add (&s->abandoned, 1);
         while (mongolock_semaphore_remaining_ms (sem) > 0) {
            mltest_sleep_ms (50);
         }
         mltest_sleep_ms (LEASE / 2); /* then others have had time to take it over */
         (void) mongolock_semaphore_release (sem, &error); /* stale: must free nothing */
         continue;
      }
      if (!mongolock_semaphore_release (sem, &error)) {
         fprintf (stderr, "worker %d: release: %s\n", me, error.message);
         failures++;
         continue;
      }
      note_released (s, token);
   }
   mongolock_semaphore_destroy (sem);
   mongolock_client_destroy (c);
   mongoc_cleanup ();
   return failures;
}

static int
cmp64 (const void *a, const void *b)
{
   int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
   return x < y ? -1 : x > y;
}

Test (semrace, sixteen_processes_three_permits)
{
   char *db = mltest_db_name ("semrace");
   shared_t *s = mmap (NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
   cr_assert (s != MAP_FAILED);
   memset (s, 0, sizeof *s);
   pid_t pids[PROCS];
   for (int p = 0; p < PROCS; p++) {
      pids[p] = fork ();
      cr_assert (pids[p] >= 0);
      if (pids[p] == 0) {
         _exit (worker (db, s, p) ? 1 : 0);
      }
   }
   for (int p = 0; p < PROCS; p++) {
      int status;
      cr_assert_eq (waitpid (pids[p], &status, 0), pids[p]);
      cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "worker %d failed (status %d)", p, status);
   }
   cr_assert_eq (atomic_load (&s->over), 0, "%ld entries found more than %d holders inside", atomic_load (&s->over),
                 PERMITS);
   cr_assert_eq (atomic_load (&s->max_inside), PERMITS, "the permits were used concurrently (max %d inside)",
                 atomic_load (&s->max_inside));
   cr_assert_eq (atomic_load (&s->entries), PROCS * ROUNDS);
   for (int p = 0; p < PROCS; p++) {
      cr_assert_eq (s->per_proc[p], ROUNDS, "process %d got in %d of %d times", p, s->per_proc[p], ROUNDS);
   }
   cr_assert_eq (atomic_load (&s->abandoned), PROCS / 4, "abandoned permits were reclaimed");
   cr_assert_eq (atomic_load (&s->token_violations), 0,
                 "%ld tokens were not larger than a token released before the acquire",
                 atomic_load (&s->token_violations));
   long n = atomic_load (&s->next);
   qsort (s->tokens, (size_t) n, sizeof s->tokens[0], cmp64);
   for (long i = 1; i < n; i++) {
      cr_assert_lt (s->tokens[i - 1], s->tokens[i], "two acquisitions had token %" PRId64, s->tokens[i]);
   }
   mongoc_init ();
   mongoc_client_t *mc = mltest_client ();
   mltest_drop_db (mc, db);
   mongoc_client_destroy (mc);
   mongoc_cleanup ();
   munmap (s, sizeof *s);
   bson_free (db);
}

/* A holder killed with SIGKILL never releases: its permit comes back once its lease has
 * expired on the server, and not before; the other permit stays with its holder. */
Test (semrace, killed_holders_permit_is_reclaimed_after_its_lease)
{
   const int64_t lease = 1500;
   mongoc_init ();
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_semaphore_t *keeper = st_sem (c, "victim", 2, 60000, 0, 0, NULL);
   cr_assert (st_try (keeper));
   int fds[2];
   cr_assert_eq (pipe (fds), 0);
   pid_t child = fork ();
   cr_assert (child >= 0);
   if (child == 0) {
      close (fds[0]);
      bson_error_t error;
      mongolock_client_opts_t *o = mongolock_client_opts_new ();
      mongolock_client_opts_set_database (o, db, NULL);
      mongolock_client_t *cc = mongolock_client_new (mltest_uri (), o, &error);
      mongolock_lock_opts_t *lo = mongolock_lock_opts_new ();
      mongolock_lock_opts_set_lease_ms (lo, lease, NULL);
      mongolock_lock_opts_set_auto_renew (lo, false);
      mongolock_semaphore_t *s = mongolock_semaphore_new (cc, "victim", 2, lo, &error);
      int64_t sent = mltest_now_ms ();
      bool acquired = false;
      if (!s || !mongolock_semaphore_try_acquire (s, &acquired, &error) || !acquired) {
         _exit (1);
      }
      int64_t msg[2] = {sent, mongolock_semaphore_token (s)};
      if (write (fds[1], msg, sizeof msg) != sizeof msg) {
         _exit (2);
      }
      for (;;) {
         pause ();
      }
   }
   close (fds[1]);
   int64_t msg[2];
   lt_read_then_kill (fds[0], child, msg);
   mongolock_semaphore_t *next = st_sem (c, "victim", 2, 5000, 0, 0, NULL);
   int refusals = 0;
   while (!st_try (next)) {
      refusals++;
      mltest_sleep_ms (25);
      cr_assert_lt (mltest_now_ms () - msg[0], lease + 5000, "never got the permit after the holder died");
   }
   int64_t got = mltest_now_ms () - msg[0];
   cr_assert_geq (got, lease - 1, "got the permit %" PRId64 " ms after a %" PRId64 " ms lease started", got, lease);
   cr_assert_gt (refusals, 10);
   cr_assert_gt (mongolock_semaphore_token (next), msg[1]);
   bson_error_t error;
   cr_assert (mongolock_semaphore_renew (keeper, &error), "the other permit was untouched: %s", error.message);
   cr_assert_eq (st_holders (db, "victim"), 2);
   mongolock_semaphore_destroy (next);
   mongolock_semaphore_destroy (keeper);
   lt_cleanup (c, db);
   mongoc_cleanup ();
}

/* A partition while holding a permit with auto-renewal: LOST when the lease runs out (not
 * when the stuck renew times out), and the permit goes to another only after the lease
 * has expired on the server. */
Test (semrace, partition_reports_lost_at_lease_end)
{
   enum { L = 1500 };
   mongoc_init ();
   char *db;
   mongolock_client_t *direct = lt_client (&db);
   mltest_proxy_t *px = mltest_proxy_start (mltest_uri ());
   mongolock_client_t *c = lt_proxied_client (px, db, "socketTimeoutMS=6000&serverSelectionTimeoutMS=3000", 0);
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_semaphore_t *a = st_sem (c, "k", 1, L, 10000, LT_RENEW, &ev);
   mongolock_semaphore_t *b = st_sem (direct, "k", 1, 5000, 10000, 0, NULL);
   int64_t t0 = mltest_now_ms ();
   cr_assert (st_try (a));
   mltest_proxy_set_mode (px, MLTEST_PROXY_BLACKHOLE); /* before the first renewal (at L/3) */
   cr_assert_eq (lt_events_wait (&ev, MONGOLOCK_EVENT_LOST, 1, 10000), 1, "LOST fired");
   int64_t lost_after = mltest_now_ms () - t0;
   cr_assert_lt (lost_after, 4000, "LOST came %" PRId64 " ms after the acquire, lease %d ms", lost_after, L);
   cr_assert_eq (ev.last_error_code, MONGOLOCK_ERROR_LOST);
   cr_assert_not (mongolock_semaphore_is_held (a));
   bson_error_t error;
   cr_assert (mongolock_semaphore_acquire (b, &error), "%s", error.message);
   int64_t taken_after = mltest_now_ms () - t0;
   cr_assert_geq (taken_after, L, "taken over %" PRId64 " ms after the acquire, before it expired", taken_after);
   cr_assert_gt (mongolock_semaphore_token (b), mongolock_semaphore_token (a));
   mltest_proxy_set_mode (px, MLTEST_PROXY_REFUSE);
   mongolock_semaphore_destroy (a);
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_LOST), 1, "LOST fires once");
   mongolock_semaphore_destroy (b);
   mongolock_client_destroy (c);
   mltest_proxy_stop (px);
   lt_cleanup (direct, db);
   mongoc_cleanup ();
}
