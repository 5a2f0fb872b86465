/* SPDX-License-Identifier: Apache-2.0 */
/* Live: fair (FIFO) named locks, mongolock_lock_opts_set_fair (issue 10). Runs in both
 * modes: with the change stream (replset) and by backoff (standalone). Invariants are
 * checked on every acquisition: mutual exclusion, fencing tokens increasing, and the
 * order of arrival: P waiters that each re-acquire at once after releasing must take the
 * lock strictly in turn (0, 1, ..., P-1, 0, 1, ...), since a releaser joins the tail. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lock-test.h"

TestSuite (fair, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 300);

/* Acquisitions per participant in the cycling tests. */
#define ROUNDS 8
#define MAX_P 8
/* A hold: long enough that the next waiter is queued well before the release. */
#define HOLD_MS 20

static mongolock_lock_t *
fair_lock (mongolock_client_t *c, const char *key, int64_t wait_ms, lt_events_t *ev)
{
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   cr_assert (mongolock_lock_opts_set_wait_ms (o, wait_ms, NULL));
   mongolock_lock_opts_set_fair (o, true);
   if (ev) {
      mongolock_lock_opts_set_event_callback (o, lt_events_cb, ev);
   }
   bson_error_t error;
   mongolock_lock_t *l = mongolock_lock_new (c, key, o, &error);
   mongolock_lock_opts_destroy (o);
   cr_assert_not_null (l, "%s", error.message);
   return l;
}

/* The owners queued on key, by a direct read of the lock document (n set to their count;
 * owners[i] copied into buf when it fits). */
static int
queue_of (const char *db, const char *key, char owners[][128], int max)
{
   mongoc_client_t *c = mltest_client ();
   mongoc_collection_t *coll = mongoc_client_get_collection (c, db, "locks");
   bson_t *q = BCON_NEW ("_id", BCON_UTF8 (key));
   mongoc_cursor_t *cur = mongoc_collection_find_with_opts (coll, q, NULL, NULL);
   const bson_t *doc;
   int n = 0;
   if (mongoc_cursor_next (cur, &doc)) {
      bson_iter_t it, arr, e;
      if (bson_iter_init_find (&it, doc, "queue") && BSON_ITER_HOLDS_ARRAY (&it) && bson_iter_recurse (&it, &arr)) {
         while (bson_iter_next (&arr)) {
            if (n < max && bson_iter_recurse (&arr, &e) && bson_iter_find (&e, "o") && BSON_ITER_HOLDS_UTF8 (&e)) {
               snprintf (owners[n], 128, "%s", bson_iter_utf8 (&e, NULL));
            }
            n++;
         }
      }
   }
   bson_error_t error;
   cr_assert_not (mongoc_cursor_error (cur, &error), "%s", error.message);
   mongoc_cursor_destroy (cur);
   bson_destroy (q);
   mongoc_collection_destroy (coll);
   mongoc_client_destroy (c);
   return n;
}

/* Waits (up to 30 s) until key's queue has n entries. */
static void
wait_queue_len (const char *db, const char *key, int n)
{
   char owners[MAX_P + 2][128];
   int64_t until = mltest_now_ms () + 30000;
   while (queue_of (db, key, owners, MAX_P + 2) != n) {
      cr_assert (mltest_now_ms () < until, "the queue of %s never reached %d entries", key, n);
      mltest_sleep_ms (5);
   }
}

/* Shared by the participants (threads, or processes through MAP_SHARED memory). */
typedef struct {
   atomic_int inside;     /* holders right now */
   atomic_int violations; /* a second holder at once, or a token not increasing */
   atomic_int next;       /* index into seq */
   int64_t last_token;    /* written only while holding */
   int seq[ROUNDS * MAX_P];
   int errors;
} shared_t;

/* One participant's acquisitions: ROUNDS times acquire, check and record, hold, release,
 * and (but the last time) at once acquire again, which must queue behind the others. */
static void
cycle (mongolock_lock_t *l, int id, shared_t *sh)
{
   for (int r = 0; r < ROUNDS; r++) {
      bson_error_t error;
      if (!mongolock_lock_acquire (l, &error)) {
         fprintf (stderr, "participant %d: %s\n", id, error.message);
         sh->errors++;
         return;
      }
      if (atomic_fetch_add (&sh->inside, 1) != 0) {
         atomic_fetch_add (&sh->violations, 1);
      }
      int64_t token = mongolock_lock_token (l);
      if (token <= sh->last_token) {
         atomic_fetch_add (&sh->violations, 1);
      }
      sh->last_token = token;
      sh->seq[atomic_fetch_add (&sh->next, 1)] = id;
      mltest_sleep_ms (HOLD_MS);
      atomic_fetch_sub (&sh->inside, 1);
      if (!mongolock_lock_release (l, &error)) {
         fprintf (stderr, "participant %d release: %s\n", id, error.message);
         sh->errors++;
         return;
      }
   }
}

/* The acquisitions went strictly in turn, in the order of arrival 0..p-1. */
static void
check_turns (const shared_t *sh, int p)
{
   cr_assert_eq (sh->errors, 0);
   cr_assert_eq (atomic_load (&sh->violations), 0, "mutual exclusion or token order violated");
   cr_assert_eq (atomic_load (&sh->next), ROUNDS * p);
   for (int k = 0; k < ROUNDS * p; k++) {
      cr_assert_eq (sh->seq[k], k % p, "acquisition %d went to %d, not %d (the one queued longest): a barge", k,
                    sh->seq[k], k % p);
   }
}

typedef struct {
   mongolock_lock_t *l;
   int id;
   shared_t *sh;
} part_t;

static void *
part_main (void *arg)
{
   part_t *p = arg;
   cycle (p->l, p->id, p->sh);
   return NULL;
}

Test (fair, threads_take_turns_in_order_of_arrival)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   enum { P = 4 };
   mongolock_lock_t *holder = fair_lock (c, "fifo", 60000, NULL);
   cr_assert (lt_try (holder));
   shared_t sh = {0};
   part_t parts[P];
   pthread_t th[P];
   for (int i = 0; i < P; i++) {
      parts[i] = (part_t){fair_lock (c, "fifo", 120000, NULL), i, &sh};
      cr_assert_eq (pthread_create (&th[i], NULL, part_main, &parts[i]), 0);
      wait_queue_len (db, "fifo", i + 1); /* i arrived before i + 1 */
   }
   cr_assert (mongolock_lock_release (holder, NULL));
   /* The releaser tries again at once: it neither takes the lock nor passes anyone. */
   bool got = true;
   cr_assert (mongolock_lock_try_acquire (holder, &got, NULL));
   cr_assert_not (got, "a try_acquire right after the release took the lock from the queue");
   for (int i = 0; i < P; i++) {
      pthread_join (th[i], NULL);
      mongolock_lock_destroy (parts[i].l);
   }
   check_turns (&sh, P);
   char owners[4][128];
   cr_assert_eq (queue_of (db, "fifo", owners, 4), 0, "the queue is left empty");
   mongolock_lock_destroy (holder);
   lt_cleanup (c, db);
}

Test (fair, processes_take_turns_in_order_of_arrival)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   enum { P = 4 };
   mongolock_lock_t *holder = fair_lock (c, "fifo-p", 60000, NULL);
   cr_assert (lt_try (holder));
   shared_t *sh = mmap (NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
   cr_assert (sh != MAP_FAILED);
   memset (sh, 0, sizeof *sh);
   pid_t pids[P];
   for (int i = 0; i < P; i++) {
      pids[i] = fork ();
      cr_assert (pids[i] >= 0);
      if (pids[i] == 0) {
         mongoc_init ();
         mongolock_client_t *cc = lt_client_at (mltest_uri (), db);
         mongolock_lock_t *l = fair_lock (cc, "fifo-p", 120000, NULL);
         cycle (l, i, sh);
         mongolock_lock_destroy (l);
         mongolock_client_destroy (cc);
         mongoc_cleanup ();
         _exit (sh->errors ? 1 : 0);
      }
      wait_queue_len (db, "fifo-p", i + 1);
   }
   cr_assert (mongolock_lock_release (holder, NULL));
   for (int i = 0; i < P; i++) {
      int st;
      cr_assert_eq (waitpid (pids[i], &st, 0), pids[i]);
      cr_assert (WIFEXITED (st) && WEXITSTATUS (st) == 0, "participant %d failed", i);
   }
   check_turns (sh, P);
   munmap (sh, sizeof *sh);
   mongolock_lock_destroy (holder);
   lt_cleanup (c, db);
}
