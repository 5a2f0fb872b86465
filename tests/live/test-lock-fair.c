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
#include <time.h>
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

/* The queue holds owner (true) or not, by a direct read. */
static bool
queued (const char *db, const char *key, const char *owner)
{
   char owners[MAX_P + 2][128];
   int n = queue_of (db, key, owners, MAX_P + 2);
   for (int i = 0; i < n && i < MAX_P + 2; i++) {
      if (strcmp (owners[i], owner) == 0) {
         return true;
      }
   }
   return false;
}

typedef struct {
   mongolock_lock_t *l;
   bool ok;
   bson_error_t error;
   int64_t done_ms;
} waiter_t;

static void *
waiter_main (void *arg)
{
   waiter_t *w = arg;
   w->ok = mongolock_lock_acquire (w->l, &w->error);
   w->done_ms = mltest_now_ms ();
   return NULL;
}

/* A waiter whose process was killed while queued at the head blocks a released lock only
 * until its queue entry expires (MONGOLOCK_FAIR_QUEUE_LEASE_MS): the waiter behind it
 * then takes it. */
Test (fair, a_killed_waiter_blocks_only_for_its_queue_lease)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_lock_t *holder = fair_lock (c, "dead", 60000, NULL);
   cr_assert (lt_try (holder));
   pid_t child = fork ();
   cr_assert (child >= 0);
   if (child == 0) {
      mongoc_init ();
      mongolock_client_t *cc = lt_client_at (mltest_uri (), db);
      mongolock_lock_t *l = fair_lock (cc, "dead", 120000, NULL);
      (void) mongolock_lock_acquire (l, NULL); /* killed while it waits */
      _exit (3);
   }
   wait_queue_len (db, "dead", 1);
   cr_assert_eq (kill (child, SIGKILL), 0);
   int st;
   cr_assert_eq (waitpid (child, &st, 0), child);
   cr_assert (WIFSIGNALED (st));
   waiter_t w = {.l = fair_lock (c, "dead", 60000, NULL)};
   pthread_t th;
   cr_assert_eq (pthread_create (&th, NULL, waiter_main, &w), 0);
   wait_queue_len (db, "dead", 2); /* behind the dead one */
   int64_t released = mltest_now_ms ();
   cr_assert (mongolock_lock_release (holder, NULL));
   pthread_join (th, NULL);
   cr_assert (w.ok, "%s", w.error.message);
   int64_t took = w.done_ms - released;
   /* At most the dead entry's remaining queue lease, plus generous slack for a loaded
    * machine; far below the waiter's 60 s wait and the holder's 60 s lease. */
   cr_assert_lt (took, MONGOLOCK_FAIR_QUEUE_LEASE_MS + 5000, "took %" PRId64 " ms", took);
   char owners[4][128];
   cr_assert_eq (queue_of (db, "dead", owners, 4), 0, "the dead entry was dropped");
   mongolock_lock_destroy (w.l);
   mongolock_lock_destroy (holder);
   lt_cleanup (c, db);
}

/* A waiter that gives up (cancelled, or its deadline) leaves the queue at once, so it
 * holds up no one; the one behind it moves up. */
Test (fair, cancel_and_timeout_remove_the_queue_entry)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_lock_t *holder = fair_lock (c, "leave", 60000, NULL);
   cr_assert (lt_try (holder));
   /* Cancelled. */
   mongolock_cancel_t *cancel = mongolock_cancel_new ();
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   cr_assert (mongolock_lock_opts_set_wait_ms (o, 60000, NULL));
   mongolock_lock_opts_set_fair (o, true);
   mongolock_lock_opts_set_cancel (o, cancel);
   waiter_t w = {.l = mongolock_lock_new (c, "leave", o, NULL)};
   mongolock_lock_opts_destroy (o);
   cr_assert_not_null (w.l);
   pthread_t th;
   cr_assert_eq (pthread_create (&th, NULL, waiter_main, &w), 0);
   wait_queue_len (db, "leave", 1);
   cr_assert (queued (db, "leave", mongolock_lock_owner (w.l)));
   mongolock_cancel_raise (cancel);
   pthread_join (th, NULL);
   cr_assert_not (w.ok);
   cr_assert_eq (w.error.code, MONGOLOCK_ERROR_CANCELLED, "%s", w.error.message);
   cr_assert_not (queued (db, "leave", mongolock_lock_owner (w.l)), "a cancelled waiter left its entry");
   /* Timed out. */
   mongolock_lock_t *t = fair_lock (c, "leave", 400, NULL);
   bson_error_t error;
   cr_assert_not (mongolock_lock_acquire (t, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_TIMEOUT, "%s", error.message);
   char owners[4][128];
   cr_assert_eq (queue_of (db, "leave", owners, 4), 0, "a waiter that timed out left its entry");
   /* With no one queued, the holder's release frees the lock for any newcomer at once. */
   cr_assert (mongolock_lock_release (holder, NULL));
   cr_assert (lt_try (t));
   mongolock_lock_destroy (t);
   mongolock_lock_destroy (w.l);
   mongolock_cancel_destroy (cancel);
   mongolock_lock_destroy (holder);
   lt_cleanup (c, db);
}

/* A queued waiter whose server hangs keeps the bound mongolock_lock_acquire() states: its
 * wait, then at most the client's timeout for the command that leaves the queue, although
 * every socket would wait 60 s. */
Test (fair, a_queued_waiter_on_a_hung_server_keeps_its_bound)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mltest_proxy_t *px = mltest_proxy_start (mltest_uri ());
   mongolock_client_t *pc = lt_proxied_client (px, db, "socketTimeoutMS=60000&serverSelectionTimeoutMS=2000", 1000);
   mongolock_lock_t *holder = fair_lock (c, "hung", 60000, NULL);
   cr_assert (lt_try (holder));
   waiter_t w = {.l = fair_lock (pc, "hung", 2500, NULL)};
   int64_t start = mltest_now_ms ();
   pthread_t th;
   cr_assert_eq (pthread_create (&th, NULL, waiter_main, &w), 0);
   wait_queue_len (db, "hung", 1);
   mltest_proxy_set_mode (px, MLTEST_PROXY_BLACKHOLE);
   pthread_join (th, NULL);
   int64_t took = w.done_ms - start;
   cr_assert_not (w.ok, "acquired through a hung server");
   cr_assert_eq (w.error.domain, MONGOLOCK_ERROR_DOMAIN, "%s", w.error.message);
   cr_assert (w.error.code == MONGOLOCK_ERROR_STORE_TIMEOUT || w.error.code == MONGOLOCK_ERROR_TIMEOUT, "%s",
              w.error.message);
   /* wait 2500 + one grace (at most the client's 1000 ms timeout) + the leaving command's
    * 1000 ms + slack for a loaded machine; a stuck socket would take 60 s. */
   cr_assert_leq (took, 2500 + 1000 + 1000 + 2000, "acquire returned %" PRId64 " ms after it began", took);
   mltest_proxy_set_mode (px, MLTEST_PROXY_REFUSE);
   mongolock_lock_destroy (w.l);
   mongolock_client_destroy (pc);
   mltest_proxy_stop (px);
   mongolock_lock_destroy (holder);
   lt_cleanup (c, db);
}

/* Mixed use is defined: a fair handle never passes the queue; a plain handle ignores it
 * (it may take a free lock ahead of the waiters) and leaves it in place. Other shapes
 * refuse the option. The queue is written directly here: a waiter "ghost" whose entry
 * lives 60 s (a waiter that is alive but slow to take its turn). */
Test (fair, mixed_use_is_defined_and_other_shapes_refuse_fair)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongoc_client_t *mc = mltest_client ();
   char *ins = bson_strdup_printf ("{'insert': 'locks', 'documents': [{'_id': 'mixed', 'queue': [{'o': 'ghost', "
                                   "'c': 'elsewhere', 'e': {'$date': %" PRId64 "}}]}]}",
                                   (int64_t) time (NULL) * 1000 + 60000);
   mltest_cmd_ok (mc, db, ins, NULL);
   bson_free (ins);
   mongolock_lock_t *f = fair_lock (c, "mixed", 300, NULL);
   bool got = true;
   cr_assert (mongolock_lock_try_acquire (f, &got, NULL));
   cr_assert_not (got, "a fair try_acquire passed a queued waiter");
   bson_error_t error;
   cr_assert_not (mongolock_lock_acquire (f, &error), "a fair acquire passed a queued waiter");
   cr_assert_eq (error.code, MONGOLOCK_ERROR_TIMEOUT, "%s", error.message);
   mongolock_lock_t *plain = lt_lock (c, "mixed", 10000, 0, 0);
   cr_assert (lt_try (plain), "a plain handle ignores the queue");
   cr_assert (mongolock_lock_is_held (plain));
   cr_assert (queued (db, "mixed", "ghost"), "the queue survives a plain acquisition");
   cr_assert (mongolock_lock_release (plain, NULL));
   cr_assert (queued (db, "mixed", "ghost"), "the queue survives a plain release");
   char *holder = NULL;
   cr_assert (mongolock_lock_get_holder (plain, &holder, NULL, NULL));
   cr_assert_null (holder);
   /* Semaphores and reader/writer locks refuse fair options. */
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   mongolock_lock_opts_set_fair (o, true);
   cr_assert_null (mongolock_semaphore_new (c, "sem", 2, o, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s", error.message);
   cr_assert_null (mongolock_rwlock_new (c, "rw", MONGOLOCK_RWLOCK_READ, o, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s", error.message);
   mongolock_lock_opts_destroy (o);
   mongolock_lock_destroy (plain);
   mongolock_lock_destroy (f);
   mongoc_client_destroy (mc);
   lt_cleanup (c, db);
}

/* Commands one participant's client sent, by libmongoc APM on its own pool. */
typedef struct {
   atomic_int fam, get_more, other;
   mongoc_client_pool_t *pool;
   mongoc_apm_callbacks_t *cbs;
   mongolock_client_t *client;
   mongolock_lock_t *l;
   atomic_llong waited_ms; /* the participant's time inside acquire */
   int acquisitions;
} counted_t;

static void
count_started (const mongoc_apm_command_started_t *event)
{
   counted_t *k = mongoc_apm_command_started_get_context (event);
   const char *name = mongoc_apm_command_started_get_command_name (event);
   if (strcmp (name, "findAndModify") == 0) {
      atomic_fetch_add (&k->fam, 1);
   } else if (strcmp (name, "getMore") == 0) {
      atomic_fetch_add (&k->get_more, 1);
   } else {
      atomic_fetch_add (&k->other, 1);
   }
}

typedef struct {
   counted_t *k;
   int id;
   shared_t *sh;
} counted_part_t;

/* cycle() with the time spent waiting recorded. */
static void *
counted_main (void *arg)
{
   counted_part_t *p = arg;
   for (int r = 0; r < ROUNDS; r++) {
      int64_t t0 = mltest_now_ms ();
      bson_error_t error;
      if (!mongolock_lock_acquire (p->k->l, &error)) {
         fprintf (stderr, "participant %d: %s\n", p->id, error.message);
         p->sh->errors++;
         return NULL;
      }
      atomic_fetch_add (&p->k->waited_ms, mltest_now_ms () - t0);
      p->k->acquisitions++;
      if (atomic_fetch_add (&p->sh->inside, 1) != 0) {
         atomic_fetch_add (&p->sh->violations, 1);
      }
      p->sh->seq[atomic_fetch_add (&p->sh->next, 1)] = p->id;
      mltest_sleep_ms (50);
      atomic_fetch_sub (&p->sh->inside, 1);
      if (!mongolock_lock_release (p->k->l, &error)) {
         p->sh->errors++;
         return NULL;
      }
   }
   return NULL;
}

static bool
is_replset (void)
{
   mongoc_client_t *c = mltest_client ();
   bson_t reply;
   bson_error_t error;
   bool ok = mltest_cmd (c, "admin", "{'hello': 1}", &reply, &error);
   bson_iter_t it;
   bool rs = ok && bson_iter_init_find (&it, &reply, "setName");
   bson_destroy (&reply);
   mongoc_client_destroy (c);
   return rs;
}

/* A release wakes only the waiter it hands the lock to: each waiting process sends, per
 * acquisition, one findAndModify to join the queue and one to take the lock, plus a refresh
 * per 1.5 s queued, however many releases pass while it waits. Where every release woke
 * every waiter (the plain lock), each of the P processes would send about P attempts per
 * acquisition. Counted by APM per client; bounds with generous margins. On a standalone
 * (no change stream) waiters poll with their backoff: only the order is checked there. */
Test (fair, a_waiting_process_sends_a_bounded_number_of_commands)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   enum { P = 6 };
   mongolock_lock_t *holder = fair_lock (c, "count", 60000, NULL);
   cr_assert (lt_try (holder));
   shared_t sh = {0};
   counted_t k[P];
   counted_part_t parts[P];
   pthread_t th[P];
   memset (k, 0, sizeof k);
   int64_t start = mltest_now_ms ();
   for (int i = 0; i < P; i++) {
      mongoc_uri_t *uri = mongoc_uri_new (mltest_uri ());
      k[i].pool = mongoc_client_pool_new (uri);
      mongoc_uri_destroy (uri);
      mongoc_client_pool_set_error_api (k[i].pool, MONGOC_ERROR_API_VERSION_2);
      k[i].cbs = mongoc_apm_callbacks_new ();
      mongoc_apm_set_command_started_cb (k[i].cbs, count_started);
      mongoc_client_pool_set_apm_callbacks (k[i].pool, k[i].cbs, &k[i]);
      mongolock_client_opts_t *co = mongolock_client_opts_new ();
      cr_assert (mongolock_client_opts_set_database (co, db, NULL));
      bson_error_t error;
      k[i].client = mongolock_client_new_from_pool (k[i].pool, co, &error);
      mongolock_client_opts_destroy (co);
      cr_assert_not_null (k[i].client, "%s", error.message);
      k[i].l = fair_lock (k[i].client, "count", 120000, NULL);
      parts[i] = (counted_part_t){&k[i], i, &sh};
      cr_assert_eq (pthread_create (&th[i], NULL, counted_main, &parts[i]), 0);
      wait_queue_len (db, "count", i + 1);
   }
   cr_assert (mongolock_lock_release (holder, NULL));
   for (int i = 0; i < P; i++) {
      pthread_join (th[i], NULL);
   }
   check_turns (&sh, P);
   bool rs = is_replset ();
   int64_t life_s = (mltest_now_ms () - start) / 1000 + 1;
   for (int i = 0; i < P; i++) {
      int fam = atomic_load (&k[i].fam), gm = atomic_load (&k[i].get_more);
      int64_t waited = atomic_load (&k[i].waited_ms);
      int extra = fam - 2 * k[i].acquisitions; /* beyond one acquire and one release each */
      cr_log_info ("participant %d: %d acquisitions, waited %" PRId64 " ms, %d findAndModify (%d beyond "
                   "acquire+release), %d getMore, %d other",
                   i, k[i].acquisitions, waited, fam, extra, gm, atomic_load (&k[i].other));
      if (rs) {
         /* One join per acquisition, one refresh per 1.5 s queued, and slack; every
          * release waking everyone would be about P - 1 per acquisition. */
         int bound = k[i].acquisitions + (int) (waited / 1000) + 3;
         cr_assert_leq (extra, bound, "participant %d sent %d findAndModify beyond acquire+release (bound %d)", i,
                        extra, bound);
         /* The stream: one getMore per release handed to this client, two a second
          * while idle (500 ms await); every release sent to every client would be one
          * per release (about P per acquisition). */
         int gm_bound = k[i].acquisitions + 3 * (int) life_s + 4;
         cr_assert_leq (gm, gm_bound, "participant %d sent %d getMore (bound %d)", i, gm, gm_bound);
      }
      mongolock_lock_destroy (k[i].l);
      mongolock_client_destroy (k[i].client);
      mongoc_client_pool_destroy (k[i].pool);
      mongoc_apm_callbacks_destroy (k[i].cbs);
   }
   mongolock_lock_destroy (holder);
   lt_cleanup (c, db);
}
