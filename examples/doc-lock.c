/* SPDX-License-Identifier: Apache-2.0 */
/*
 * doc-lock: Mongoid::Locker's example, "deduct a purchase from a user's balance ... unless
 * they are broke", raced by many processes, two ways:
 *   naive      read the user, check the balance, then $inc it down (two round trips, a
 *              little work in between): several buyers pass the check on the same money
 *              and the balance goes negative
 *   with_lock  mongolock_doc_lock_with on the user's document: the callback checks the
 *              balance of the document the lock returned and deducts with a fenced write
 *              that also releases the lock; the balance never goes below zero
 *
 *   MONGOLOCK_URI=mongodb://localhost:27017 ./doc-lock [-p procs] [-n purchases-per-proc]
 *                                                      [--db name]
 *
 * The user starts with a balance of 10 purchases; procs x purchases buyers try to spend it.
 * Exits 1 when the locked mode sells more than the balance allows or a call fails, 2 on
 * bad usage or when the server cannot be used.
 */
#include <mongolock/mongolock.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define COLL "users"
#define PRICE 7
#define START_BALANCE (10 * PRICE)

typedef struct {
   const char *uri;
   const char *db;
   int procs, purchases;
} config_t;

typedef struct {
   _Atomic long sold;
   _Atomic long refused; /* "insufficient funds" */
   _Atomic long failures;
} shared_t;

static double
now_s (void)
{
   struct timespec ts;
   clock_gettime (CLOCK_MONOTONIC, &ts);
   return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int64_t
balance_of (const bson_t *doc)
{
   bson_iter_t it;
   return doc && bson_iter_init_find (&it, doc, "balance") && BSON_ITER_HOLDS_NUMBER (&it) ? bson_iter_as_int64 (&it)
                                                                                         : INT64_MIN;
}

/* The naive buyer: check, then act. */
static void
naive_buy (mongoc_collection_t *users, shared_t *s)
{
   bson_t *filter = BCON_NEW ("_id", BCON_UTF8 ("ada"));
   mongoc_cursor_t *cur = mongoc_collection_find_with_opts (users, filter, NULL, NULL);
   const bson_t *doc;
   int64_t balance = mongoc_cursor_next (cur, &doc) ? balance_of (doc) : INT64_MIN;
   mongoc_cursor_destroy (cur);
   if (balance == INT64_MIN) {
      atomic_fetch_add (&s->failures, 1);
   } else if (balance < PRICE) {
      atomic_fetch_add (&s->refused, 1);
   } else {
      usleep (1000); /* the application's work between the check and the write */
      bson_t *u = BCON_NEW ("$inc", "{", "balance", BCON_INT32 (-PRICE), "}");
      if (mongoc_collection_update_one (users, filter, u, NULL, NULL, NULL)) {
         atomic_fetch_add (&s->sold, 1);
      } else {
         atomic_fetch_add (&s->failures, 1);
      }
      bson_destroy (u);
   }
   bson_destroy (filter);
}

/* The locked buyer's callback: the document is the one under the lock. */
static bool
buy_under_lock (mongolock_doc_lock_t *lock, const bson_t *doc, void *data, bson_error_t *error)
{
   shared_t *s = data;
   if (balance_of (doc) < PRICE) {
      atomic_fetch_add (&s->refused, 1);
      return true; /* broke: nothing to do, with_lock releases */
   }
   usleep (1000);
   bson_t *u = BCON_NEW ("$inc", "{", "balance", BCON_INT32 (-PRICE), "}");
   mongolock_doc_write_result_t res;
   bool ok = mongolock_doc_lock_update (lock, u, MONGOLOCK_DOC_UPDATE_RELEASE, &res, error);
   bson_destroy (u);
   if (ok && res == MONGOLOCK_DOC_WRITE_APPLIED) {
      atomic_fetch_add (&s->sold, 1);
      return true;
   }
   if (ok) {
      bson_set_error (error, MONGOLOCK_ERROR_DOMAIN, MONGOLOCK_ERROR_LOST, "the purchase was not applied (%s)",
                      res == MONGOLOCK_DOC_WRITE_GONE ? "user gone" : "lock lost");
   }
   return false;
}

static int
buyer (const config_t *cfg, bool locked, shared_t *s)
{
   mongoc_init ();
   bson_error_t error;
   mongolock_client_opts_t *o = mongolock_client_opts_new ();
   mongolock_client_opts_set_database (o, cfg->db, NULL);
   mongolock_client_t *client = mongolock_client_new (cfg->uri, o, &error);
   mongolock_client_opts_destroy (o);
   if (!client) {
      fprintf (stderr, "doc-lock: %s\n", error.message);
      return 1;
   }
   mongoc_client_t *mc = mongoc_client_new (cfg->uri);
   mongoc_collection_t *users = mongoc_client_get_collection (mc, cfg->db, COLL);
   mongolock_doc_lock_opts_t *dopts = mongolock_doc_lock_opts_new ();
   mongolock_lock_opts_t *lo = mongolock_doc_lock_opts_lock_opts (dopts);
   mongolock_lock_opts_set_lease_ms (lo, 5000, NULL);
   mongolock_lock_opts_set_wait_ms (lo, 60000, NULL);
   bson_value_t id = {.value_type = BSON_TYPE_UTF8, .value.v_utf8 = {(char *) "ada", 3}};
   mongolock_doc_lock_t *lock = mongolock_doc_lock_new (client, NULL, COLL, &id, dopts, &error);
   mongolock_doc_lock_opts_destroy (dopts);
   for (int i = 0; i < cfg->purchases && lock; i++) {
      if (!locked) {
         naive_buy (users, s);
      } else if (!mongolock_doc_lock_with (lock, buy_under_lock, s, &error)) {
         fprintf (stderr, "doc-lock: purchase failed: %s\n", error.message);
         atomic_fetch_add (&s->failures, 1);
      }
   }
   mongolock_doc_lock_destroy (lock);
   mongoc_collection_destroy (users);
   mongoc_client_destroy (mc);
   mongolock_client_destroy (client);
   mongoc_cleanup ();
   return 0;
}

/* Resets the user, runs the buyers, reads the final balance. */
static bool
run_mode (const config_t *cfg, mongoc_collection_t *users, bool locked, shared_t *s, int64_t *balance, double *secs)
{
   bson_error_t error;
   bson_t *filter = BCON_NEW ("_id", BCON_UTF8 ("ada"));
   bson_t *user = BCON_NEW ("_id", BCON_UTF8 ("ada"), "name", BCON_UTF8 ("Ada"), "balance", BCON_INT32 (START_BALANCE));
   bson_t *opts = BCON_NEW ("upsert", BCON_BOOL (true));
   bool ok = mongoc_collection_replace_one (users, filter, user, opts, NULL, &error);
   bson_destroy (opts);
   bson_destroy (user);
   if (!ok) {
      fprintf (stderr, "doc-lock: cannot reach the server: %s\n", error.message);
      bson_destroy (filter);
      return false;
   }
   memset (s, 0, sizeof *s);
   double t0 = now_s ();
   pid_t pids[256];
   for (int p = 0; p < cfg->procs; p++) {
      pids[p] = fork ();
      if (pids[p] == 0) {
         _exit (buyer (cfg, locked, s));
      }
   }
   for (int p = 0; p < cfg->procs; p++) {
      int status;
      waitpid (pids[p], &status, 0);
      if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
         atomic_fetch_add (&s->failures, 1);
      }
   }
   *secs = now_s () - t0;
   mongoc_cursor_t *cur = mongoc_collection_find_with_opts (users, filter, NULL, NULL);
   const bson_t *doc;
   *balance = mongoc_cursor_next (cur, &doc) ? balance_of (doc) : INT64_MIN;
   mongoc_cursor_destroy (cur);
   bson_destroy (filter);
   return true;
}

int
main (int argc, char **argv)
{
   config_t cfg = {getenv ("MONGOLOCK_URI"), "mongolock_doc_demo", 8, 5};
   for (int i = 1; i < argc; i++) {
      if (strcmp (argv[i], "-p") == 0 && i + 1 < argc) {
         cfg.procs = atoi (argv[++i]);
      } else if (strcmp (argv[i], "-n") == 0 && i + 1 < argc) {
         cfg.purchases = atoi (argv[++i]);
      } else if (strcmp (argv[i], "--db") == 0 && i + 1 < argc) {
         cfg.db = argv[++i];
      } else {
         fprintf (stderr, "usage: MONGOLOCK_URI=... %s [-p procs] [-n purchases] [--db name]\n", argv[0]);
         return 2;
      }
   }
   if (!cfg.uri || cfg.procs < 1 || cfg.procs > 256 || cfg.purchases < 1) {
      fprintf (stderr, "doc-lock: set MONGOLOCK_URI; 1 <= procs <= 256, purchases >= 1\n");
      return 2;
   }
   shared_t *s = mmap (NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
   if (s == MAP_FAILED) {
      return 2;
   }
   mongoc_init ();
   mongoc_client_t *mc = mongoc_client_new (cfg.uri);
   if (!mc) {
      fprintf (stderr, "doc-lock: bad MONGOLOCK_URI\n");
      return 2;
   }
   mongoc_client_set_error_api (mc, MONGOC_ERROR_API_VERSION_2);
   mongoc_collection_t *users = mongoc_client_get_collection (mc, cfg.db, COLL);
   printf ("%d processes x %d purchases of %d against a balance of %d (room for %d)\n\n", cfg.procs, cfg.purchases,
           PRICE, START_BALANCE, START_BALANCE / PRICE);
   printf ("| mode | sold | refused | final balance | failures | time |\n|---|---|---|---|---|---|\n");
   int rc = 0;
   for (int locked = 0; locked <= 1; locked++) {
      int64_t balance;
      double secs;
      if (!run_mode (&cfg, users, locked, s, &balance, &secs)) {
         rc = 2;
         break;
      }
      printf ("| %s | %ld | %ld | %" PRId64 " | %ld | %.2f s |\n", locked ? "with_lock" : "naive check-then-deduct",
              atomic_load (&s->sold), atomic_load (&s->refused), balance, atomic_load (&s->failures), secs);
      if (locked && (balance < 0 || atomic_load (&s->failures) > 0 ||
                     atomic_load (&s->sold) != START_BALANCE / PRICE)) {
         rc = 1;
      }
   }
   mongoc_database_t *db = mongoc_client_get_database (mc, cfg.db);
   (void) mongoc_database_drop (db, NULL);
   mongoc_database_destroy (db);
   mongoc_collection_destroy (users);
   mongoc_client_destroy (mc);
   mongoc_cleanup ();
   munmap (s, sizeof *s);
   return rc;
}
