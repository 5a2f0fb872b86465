/* SPDX-License-Identifier: Apache-2.0 */
/* Live: the reader/writer lock. Readers overlap, a writer excludes everyone, a waiting
 * writer's mark (on the server) stops new readers and runs out when the writer goes away,
 * tokens strictly increase across modes, another kind of lock on the key is a mismatch;
 * and, with real processes, a writer gets in within a bound while 8 readers keep
 * re-entering. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sem-test.h"

TestSuite (rwlock, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 300);

Test (rwlock, readers_overlap_writer_excludes_tokens_increase)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_rwlock_t *r[3];
   int64_t last = 0;
   for (int i = 0; i < 3; i++) {
      r[i] = st_rw (c, "k", MONGOLOCK_RWLOCK_READ, 10000, 0, 0, NULL);
      cr_assert (st_rw_try (r[i]), "reader %d shares the lock", i);
      cr_assert_gt (mongolock_rwlock_token (r[i]), last);
      last = mongolock_rwlock_token (r[i]);
   }
   mongolock_rwlock_t *w = st_rw (c, "k", MONGOLOCK_RWLOCK_WRITE, 10000, 0, 0, NULL);
   mongolock_rwlock_t *w2 = st_rw (c, "k", MONGOLOCK_RWLOCK_WRITE, 10000, 0, 0, NULL);
   cr_assert_not (st_rw_try (w), "a writer waits for the readers");
   bson_error_t error;
   for (int i = 0; i < 3; i++) {
      cr_assert (mongolock_rwlock_release (r[i], &error), "%s", error.message);
   }
   cr_assert (st_rw_try (w));
   cr_assert_gt (mongolock_rwlock_token (w), last, "tokens increase across modes");
   cr_assert_not (st_rw_try (w2), "one writer at a time");
   cr_assert_not (st_rw_try (r[0]), "no reader while a writer holds");
   cr_assert (mongolock_rwlock_renew (w, &error), "%s", error.message);
   last = mongolock_rwlock_token (w);
   cr_assert (mongolock_rwlock_release (w, &error), "%s", error.message);
   /* w2's mark (set by its busy attempt) still stops readers until w2 enters. */
   cr_assert_not (st_rw_try (r[0]), "a waiting writer's mark stops new readers");
   cr_assert (st_rw_try (w2));
   cr_assert_gt (mongolock_rwlock_token (w2), last);
   cr_assert (mongolock_rwlock_release (w2, &error), "%s", error.message);
   cr_assert (st_rw_try (r[0]), "the mark left with the writer");
   cr_assert_gt (mongolock_rwlock_token (r[0]), mongolock_rwlock_token (w2));
   cr_assert_eq (mongolock_rwlock_mode (r[0]), MONGOLOCK_RWLOCK_READ);
   for (int i = 0; i < 3; i++) {
      mongolock_rwlock_destroy (r[i]);
   }
   mongolock_rwlock_destroy (w);
   mongolock_rwlock_destroy (w2);
   lt_cleanup (c, db);
}

Test (rwlock, waiting_writer_stops_new_readers_and_its_mark_expires)
{
   enum { WLEASE = 600 };
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_rwlock_t *r1 = st_rw (c, "k", MONGOLOCK_RWLOCK_READ, 20000, 0, 0, NULL);
   mongolock_rwlock_t *r2 = st_rw (c, "k", MONGOLOCK_RWLOCK_READ, 20000, 0, 0, NULL);
   mongolock_rwlock_t *w = st_rw (c, "k", MONGOLOCK_RWLOCK_WRITE, WLEASE, 0, 0, NULL);
   cr_assert (st_rw_try (r1));
   cr_assert_not (st_rw_try (w));
   cr_assert_not (st_rw_try (r2), "a new reader waits behind the waiting writer");
   /* The writer goes away: its mark runs out after its lease by the server's clock. */
   mongolock_rwlock_destroy (w);
   int64_t t0 = mltest_now_ms ();
   while (!st_rw_try (r2)) {
      mltest_sleep_ms (20);
      cr_assert_lt (mltest_now_ms () - t0, WLEASE + 5000, "a gone writer's mark kept blocking readers");
   }
   cr_assert (mongolock_rwlock_is_held (r1), "the first reader kept its hold");
   mongolock_rwlock_destroy (r1);
   mongolock_rwlock_destroy (r2);
   lt_cleanup (c, db);
}

Test (rwlock, other_kinds_on_the_key_are_a_mismatch)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_rwlock_t *r = st_rw (c, "k", MONGOLOCK_RWLOCK_READ, 10000, 0, 0, NULL);
   mongolock_semaphore_t *s = st_sem (c, "k", 2, 10000, 0, 0, NULL);
   cr_assert (st_rw_try (r));
   bool acquired;
   bson_error_t error;
   cr_assert_not (mongolock_semaphore_try_acquire (s, &acquired, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_MISMATCH, "%s", error.message);
   cr_assert (mongolock_rwlock_release (r, &error), "%s", error.message);
   cr_assert (st_try (s));
   cr_assert_not (mongolock_rwlock_try_acquire (r, &acquired, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_MISMATCH, "%s", error.message);
   mongolock_semaphore_destroy (s);
   /* A named lock is an exclusive holder on the same key: busy both ways, never a mix. */
   mongolock_lock_t *named = lt_lock (c, "k", 10000, 0, 0);
   mongolock_rwlock_t *w = st_rw (c, "k", MONGOLOCK_RWLOCK_WRITE, 10000, 0, 0, NULL);
   cr_assert (st_rw_try (r));
   cr_assert_not (lt_try (named), "a named lock waits for a reader");
   cr_assert (mongolock_rwlock_release (r, &error), "%s", error.message);
   cr_assert (lt_try (named));
   cr_assert_not (st_rw_try (r), "a reader waits for a named lock (busy, not an error)");
   cr_assert_not (st_rw_try (w), "a writer waits for a named lock");
   cr_assert (mongolock_lock_release (named, &error), "%s", error.message);
   cr_assert (st_rw_try (w));
   cr_assert_gt (mongolock_rwlock_token (w), mongolock_lock_token (named));
   mongolock_rwlock_destroy (w);
   mongolock_lock_destroy (named);
   s = NULL;
   cr_assert_null (mongolock_rwlock_new (c, "k", (mongolock_rwlock_mode_t) 7, NULL, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   mongolock_semaphore_destroy (s);
   mongolock_rwlock_destroy (r);
   lt_cleanup (c, db);
}

/* ---- processes: 8 readers keep re-entering, one writer must still get in ---- */

enum { READERS = 8, WRITES = 5, LEASE = 3000 };

typedef struct {
   _Atomic int readers;
   _Atomic int writers;
   _Atomic int max_readers;
   _Atomic long overlaps; /* a writer with anyone else inside */
   _Atomic int stop;
   _Atomic long reader_entries;
   _Atomic int64_t max_writer_wait_ms;
   _Atomic long failures;
} rshared_t;

static mongolock_client_t *
proc_client (const char *db)
{
   mongoc_init ();
   bson_error_t error;
   mongolock_client_opts_t *o = mongolock_client_opts_new ();
   mongolock_client_opts_set_database (o, db, NULL);
   mongolock_client_t *c = mongolock_client_new (mltest_uri (), o, &error);
   mongolock_client_opts_destroy (o);
   return c;
}

static mongolock_rwlock_t *
proc_rw (mongolock_client_t *c, mongolock_rwlock_mode_t mode, int64_t wait_ms)
{
   mongolock_lock_opts_t *lo = mongolock_lock_opts_new ();
   mongolock_lock_opts_set_lease_ms (lo, LEASE, NULL);
   mongolock_lock_opts_set_wait_ms (lo, wait_ms, NULL);
   mongolock_lock_opts_set_backoff (lo, 1, 20, NULL);
   mongolock_rwlock_t *rw = c ? mongolock_rwlock_new (c, "rw", mode, lo, NULL) : NULL;
   mongolock_lock_opts_destroy (lo);
   return rw;
}

static void
reader (const char *db, rshared_t *s)
{
   mongolock_client_t *c = proc_client (db);
   mongolock_rwlock_t *rw = proc_rw (c, MONGOLOCK_RWLOCK_READ, 120000);
   bson_error_t error;
   while (rw && !atomic_load (&s->stop)) {
      if (!mongolock_rwlock_acquire (rw, &error)) {
         atomic_fetch_add (&s->failures, 1);
         fprintf (stderr, "reader: %s\n", error.message);
         continue;
      }
      int n = atomic_fetch_add (&s->readers, 1) + 1;
      if (atomic_load (&s->writers) != 0) {
         atomic_fetch_add (&s->overlaps, 1);
      }
      int m = atomic_load (&s->max_readers);
      while (n > m && !atomic_compare_exchange_weak (&s->max_readers, &m, n)) {
      }
      atomic_fetch_add (&s->reader_entries, 1);
      mltest_sleep_ms (40);
      atomic_fetch_sub (&s->readers, 1);
      if (!mongolock_rwlock_release (rw, &error)) {
         atomic_fetch_add (&s->failures, 1);
      }
   }
   mongolock_rwlock_destroy (rw);
   mongolock_client_destroy (c);
   mongoc_cleanup ();
}

static void
writer (const char *db, rshared_t *s)
{
   mongolock_client_t *c = proc_client (db);
   mongolock_rwlock_t *rw = proc_rw (c, MONGOLOCK_RWLOCK_WRITE, 15000);
   bson_error_t error;
   mltest_sleep_ms (500); /* the readers are streaming by now */
   for (int i = 0; rw && i < WRITES; i++) {
      int64_t t0 = mltest_now_ms ();
      if (!mongolock_rwlock_acquire (rw, &error)) {
         atomic_fetch_add (&s->failures, 1);
         fprintf (stderr, "writer: %s\n", error.message);
         continue;
      }
      int64_t waited = mltest_now_ms () - t0;
      int64_t m = atomic_load (&s->max_writer_wait_ms);
      while (waited > m && !atomic_compare_exchange_weak (&s->max_writer_wait_ms, &m, waited)) {
      }
      atomic_fetch_add (&s->writers, 1);
      if (atomic_load (&s->readers) != 0) {
         atomic_fetch_add (&s->overlaps, 1);
      }
      mltest_sleep_ms (30);
      if (atomic_load (&s->readers) != 0) {
         atomic_fetch_add (&s->overlaps, 1);
      }
      atomic_fetch_sub (&s->writers, 1);
      if (!mongolock_rwlock_release (rw, &error)) {
         atomic_fetch_add (&s->failures, 1);
      }
      mltest_sleep_ms (200); /* let the readers stream again */
   }
   mongolock_rwlock_destroy (rw);
   mongolock_client_destroy (c);
   mongoc_cleanup ();
}

Test (rwlock, writer_gets_in_while_eight_readers_keep_reentering)
{
   char *db = mltest_db_name ("rwrace");
   rshared_t *s = mmap (NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
   cr_assert (s != MAP_FAILED);
   memset (s, 0, sizeof *s);
   pid_t pids[READERS + 1];
   for (int p = 0; p <= READERS; p++) {
      pids[p] = fork ();
      cr_assert (pids[p] >= 0);
      if (pids[p] == 0) {
         if (p == READERS) {
            writer (db, s);
         } else {
            reader (db, s);
         }
         _exit (0);
      }
   }
   int status;
   cr_assert_eq (waitpid (pids[READERS], &status, 0), pids[READERS]);
   atomic_store (&s->stop, 1);
   for (int p = 0; p < READERS; p++) {
      cr_assert_eq (waitpid (pids[p], &status, 0), pids[p]);
   }
   cr_assert_eq (atomic_load (&s->failures), 0, "acquire/release failures");
   cr_assert_eq (atomic_load (&s->overlaps), 0, "a writer overlapped a reader %ld times", atomic_load (&s->overlaps));
   cr_assert_geq (atomic_load (&s->max_readers), 2, "readers overlapped (max %d)", atomic_load (&s->max_readers));
   cr_assert_gt (atomic_load (&s->reader_entries), 50);
   /* Bound: the readers inside finish (40 ms holds) and the writer's backoff (20 ms cap)
    * comes round; 5 s is generous for a loaded 2-core machine, far below the writer's 15 s
    * wait (without writer preference it waits all of it: readers are always inside). */
   cr_assert_lt (atomic_load (&s->max_writer_wait_ms), 5000, "the writer waited %" PRId64 " ms",
                 atomic_load (&s->max_writer_wait_ms));
   mongoc_init ();
   mongoc_client_t *mc = mltest_client ();
   mltest_drop_db (mc, db);
   mongoc_client_destroy (mc);
   mongoc_cleanup ();
   munmap (s, sizeof *s);
   bson_free (db);
}
