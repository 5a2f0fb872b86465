/* SPDX-License-Identifier: Apache-2.0 */
/*
 * race-demo: "find it; if missing, create it", run by many processes at once.
 *
 * N forked processes (default 16) each run check-then-create for the same K keys over R
 * rounds, all starting each round together, three ways:
 *   naive         find, then insert (two round trips, a little work in between, as real
 *                 applications do): duplicates appear
 *   guard         mongolock_guard_first_or_create, no unique index: no duplicates
 *   unique index  the naive code with a unique index on the key: no duplicates, but
 *                 E11000 errors that the naive code must handle
 * and prints what each left behind.
 *
 *   MONGOLOCK_URI=mongodb://localhost:27017 ./race-demo [-p procs] [-k keys] [-r rounds]
 *                                                       [-d max-delay-us] [--db name]
 *
 * Exits 1 when a guarded mode (guard or unique index) shows a duplicate or a guard call
 * fails, 2 on bad usage or when the server cannot be used.
 */
#include <mongolock/mongolock.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define COLL "signups"
#define MAX_PROCS 256

typedef enum { MODE_NAIVE, MODE_GUARD, MODE_INDEX, MODE_COUNT } demo_mode_t;

static const char *mode_names[MODE_COUNT] = {"naive check-then-create", "guard, no unique index",
                                             "unique index alone"};

typedef struct {
   const char *uri;
   const char *db;
   int procs, keys, rounds, delay_us;
} config_t;

/* Shared by the forked processes (MAP_SHARED). */
typedef struct {
   pthread_barrier_t barrier;
   _Atomic long inserted;    /* inserts that succeeded */
   _Atomic long dup_errors;  /* inserts refused with E11000 */
   _Atomic long failures;    /* anything else: server errors, guard timeouts */
} shared_t;

typedef struct {
   long documents, duplicates, errors, failures;
   double seconds;
} result_t;

static double
now_s (void)
{
   struct timespec ts;
   clock_gettime (CLOCK_MONOTONIC, &ts);
   return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static mongoc_client_t *
connect_client (const config_t *cfg)
{
   bson_error_t error;
   mongoc_uri_t *uri = mongoc_uri_new_with_error (cfg->uri, &error);
   if (!uri) {
      fprintf (stderr, "race-demo: bad MONGOLOCK_URI: %s\n", error.message);
      return NULL;
   }
   mongoc_client_t *c = mongoc_client_new_from_uri_with_error (uri, &error);
   mongoc_uri_destroy (uri);
   if (c) {
      mongoc_client_set_error_api (c, MONGOC_ERROR_API_VERSION_2);
      mongoc_client_set_appname (c, "race-demo");
   }
   return c;
}

static void
email_for (char *buf, size_t n, int round, int key)
{
   snprintf (buf, n, "user-%d-%d@example.com", round, key);
}

/* The naive code: two round trips with the application's work in between. */
static void
naive_once (mongoc_collection_t *coll, const char *email, int me, unsigned *seed, int delay_us, shared_t *s)
{
   bson_t *filter = BCON_NEW ("email", BCON_UTF8 (email));
   bson_error_t error;
   int64_t n = mongoc_collection_count_documents (coll, filter, NULL, NULL, NULL, &error);
   if (n < 0) {
      atomic_fetch_add (&s->failures, 1);
   } else if (n == 0) {
      if (delay_us > 0) {
         usleep ((useconds_t) (rand_r (seed) % (unsigned) (delay_us + 1)));
      }
      bson_t *doc = BCON_NEW ("email", BCON_UTF8 (email), "by", BCON_INT32 (me));
      if (mongoc_collection_insert_one (coll, doc, NULL, NULL, &error)) {
         atomic_fetch_add (&s->inserted, 1);
      } else if (error.code == 11000) {
         atomic_fetch_add (&s->dup_errors, 1);
      } else {
         atomic_fetch_add (&s->failures, 1);
      }
      bson_destroy (doc);
   }
   bson_destroy (filter);
}

static void
guard_once (mongolock_guard_t *g, mongoc_collection_t *coll, const char *email, int me, shared_t *s)
{
   bson_t *filter = BCON_NEW ("email", BCON_UTF8 (email));
   bson_t *doc = BCON_NEW ("by", BCON_INT32 (me));
   bson_t out;
   bool created = false;
   bson_error_t error;
   if (mongolock_guard_first_or_create (g, coll, filter, doc, NULL, &out, &created, NULL, &error)) {
      if (created) {
         atomic_fetch_add (&s->inserted, 1);
      }
   } else {
      fprintf (stderr, "race-demo: process %d: %s\n", me, error.message);
      atomic_fetch_add (&s->failures, 1);
   }
   bson_destroy (&out);
   bson_destroy (doc);
   bson_destroy (filter);
}

static int
child (const config_t *cfg, demo_mode_t mode, int me, shared_t *s)
{
   bson_error_t error;
   mongoc_client_t *mc = connect_client (cfg);
   mongoc_collection_t *coll = mc ? mongoc_client_get_collection (mc, cfg->db, COLL) : NULL;
   mongolock_client_t *lc = NULL;
   mongolock_guard_t *g = NULL;
   if (mode == MODE_GUARD) {
      mongolock_client_opts_t *co = mongolock_client_opts_new ();
      mongolock_client_opts_set_database (co, cfg->db, NULL);
      lc = mongolock_client_new (cfg->uri, co, &error);
      mongolock_client_opts_destroy (co);
      mongolock_guard_opts_t *go = mongolock_guard_opts_new ();
      mongolock_guard_opts_set_wait_ms (go, MONGOLOCK_GUARD_WAIT_MAX_MS, NULL);
      g = lc ? mongolock_guard_new (lc, go, &error) : NULL;
      mongolock_guard_opts_destroy (go);
   }
   unsigned seed = (unsigned) getpid () ^ (unsigned) time (NULL);
   bool ready = coll && (mode != MODE_GUARD || g);
   for (int round = 0; round < cfg->rounds; round++) {
      pthread_barrier_wait (&s->barrier); /* every process starts the round together */
      for (int key = 0; ready && key < cfg->keys; key++) {
         char email[64];
         email_for (email, sizeof email, round, key);
         if (mode == MODE_GUARD) {
            guard_once (g, coll, email, me, s);
         } else {
            naive_once (coll, email, me, &seed, cfg->delay_us, s);
         }
      }
   }
   mongolock_guard_destroy (g);
   mongolock_client_destroy (lc);
   mongoc_collection_destroy (coll);
   mongoc_client_destroy (mc);
   return ready ? 0 : 1;
}

/* Drops the demo's collections and prepares the mode's indexes. */
static bool
setup (const config_t *cfg, demo_mode_t mode)
{
   mongoc_client_t *mc = connect_client (cfg);
   if (!mc) {
      return false;
   }
   bson_error_t error;
   mongoc_database_t *db = mongoc_client_get_database (mc, cfg->db);
   bool ok = mongoc_database_drop (db, &error) || error.code == 26;
   if (ok && mode == MODE_INDEX) {
      mongoc_collection_t *coll = mongoc_client_get_collection (mc, cfg->db, COLL);
      bson_t *keys = BCON_NEW ("email", BCON_INT32 (1));
      bson_t report;
      ok = mongolock_unique_index_ensure (coll, keys, NULL, &report, &error);
      bson_destroy (&report);
      bson_destroy (keys);
      mongoc_collection_destroy (coll);
   }
   if (!ok) {
      fprintf (stderr, "race-demo: cannot prepare database %s: %s\n", cfg->db, error.message);
   }
   mongoc_database_destroy (db);
   mongoc_client_destroy (mc);
   return ok;
}

/* Documents, and documents beyond the first per key. */
static bool
count (const config_t *cfg, result_t *res)
{
   mongoc_client_t *mc = connect_client (cfg);
   if (!mc) {
      return false;
   }
   mongoc_collection_t *coll = mongoc_client_get_collection (mc, cfg->db, COLL);
   bson_error_t error;
   bson_t *pipeline = BCON_NEW ("pipeline", "[",
                                   "{", "$group", "{", "_id", BCON_UTF8 ("$email"), "n", "{", "$sum", BCON_INT32 (1), "}", "}", "}",
                                   "{", "$group", "{", "_id", BCON_NULL, "keys", "{", "$sum", BCON_INT32 (1), "}",
                                      "docs", "{", "$sum", BCON_UTF8 ("$n"), "}", "}", "}",
                                "]");
   mongoc_cursor_t *cur = mongoc_collection_aggregate (coll, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
   const bson_t *doc;
   long keys = 0, docs = 0;
   if (mongoc_cursor_next (cur, &doc)) {
      bson_iter_t it;
      if (bson_iter_init_find (&it, doc, "keys")) {
         keys = (long) bson_iter_as_int64 (&it);
      }
      if (bson_iter_init_find (&it, doc, "docs")) {
         docs = (long) bson_iter_as_int64 (&it);
      }
   }
   bool ok = !mongoc_cursor_error (cur, &error);
   if (!ok) {
      fprintf (stderr, "race-demo: counting failed: %s\n", error.message);
   }
   res->documents = docs;
   res->duplicates = docs - keys;
   mongoc_cursor_destroy (cur);
   bson_destroy (pipeline);
   mongoc_collection_destroy (coll);
   mongoc_client_destroy (mc);
   return ok;
}

static bool
run_mode (const config_t *cfg, demo_mode_t mode, result_t *res)
{
   if (!setup (cfg, mode)) {
      return false;
   }
   shared_t *s = mmap (NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
   if (s == MAP_FAILED) {
      perror ("mmap");
      return false;
   }
   memset (s, 0, sizeof *s);
   pthread_barrierattr_t attr;
   pthread_barrierattr_init (&attr);
   pthread_barrierattr_setpshared (&attr, PTHREAD_PROCESS_SHARED);
   pthread_barrier_init (&s->barrier, &attr, (unsigned) cfg->procs);
   pthread_barrierattr_destroy (&attr);

   /* No client exists in this process now: each child makes its own. */
   double start = now_s ();
   pid_t pids[MAX_PROCS];
   bool ok = true;
   fflush (stdout); /* or the children would print it again */
   for (int p = 0; p < cfg->procs; p++) {
      pids[p] = fork ();
      if (pids[p] == 0) {
         _exit (child (cfg, mode, p, s));
      }
      if (pids[p] < 0) {
         perror ("fork");
         exit (2); /* the started children would wait at the barrier forever */
      }
   }
   for (int p = 0; p < cfg->procs; p++) {
      int status;
      if (waitpid (pids[p], &status, 0) != pids[p] || !WIFEXITED (status) || WEXITSTATUS (status) != 0) {
         ok = false;
      }
   }
   res->seconds = now_s () - start;
   res->errors = atomic_load (&s->dup_errors);
   res->failures = atomic_load (&s->failures);
   pthread_barrier_destroy (&s->barrier);
   munmap (s, sizeof *s);
   if (!ok) {
      fprintf (stderr, "race-demo: a %s process could not connect\n", mode_names[mode]);
   }
   return count (cfg, res) && ok;
}

static int
usage (const char *argv0)
{
   fprintf (stderr,
            "usage: %s [-p procs (16)] [-k keys (20)] [-r rounds (10)] [-d max-delay-us (2000)] [--db name] [--uri URI]\n"
            "The server is MONGOLOCK_URI unless --uri is given.\n",
            argv0);
   return 2;
}

static bool
int_arg (const char *s, int lo, int hi, int *out)
{
   char *end;
   long v = strtol (s, &end, 10);
   if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
      return false;
   }
   *out = (int) v;
   return true;
}

int
main (int argc, char **argv)
{
   config_t cfg = {getenv ("MONGOLOCK_URI"), "mongolock_race_demo", 16, 20, 10, 2000};
   for (int i = 1; i < argc; i += 2) {
      const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
      bool ok = v != NULL;
      if (strcmp (a, "-p") == 0) {
         ok = ok && int_arg (v, 2, MAX_PROCS, &cfg.procs);
      } else if (strcmp (a, "-k") == 0) {
         ok = ok && int_arg (v, 1, 10000, &cfg.keys);
      } else if (strcmp (a, "-r") == 0) {
         ok = ok && int_arg (v, 1, 10000, &cfg.rounds);
      } else if (strcmp (a, "-d") == 0) {
         ok = ok && int_arg (v, 0, 1000000, &cfg.delay_us);
      } else if (strcmp (a, "--db") == 0) {
         cfg.db = v;
      } else if (strcmp (a, "--uri") == 0) {
         cfg.uri = v;
      } else {
         ok = false;
      }
      if (!ok) {
         return usage (argv[0]);
      }
   }
   if (!cfg.uri || !*cfg.uri) {
      fprintf (stderr, "race-demo: set MONGOLOCK_URI (./run demo starts the bundled test server for you)\n");
      return usage (argv[0]);
   }
   mongoc_init ();
   printf ("%d processes race to create the same %d keys in each of %d rounds (%d keys in all),\n"
           "each checking first and then creating when missing.\n\n",
           cfg.procs, cfg.keys, cfg.rounds, cfg.keys * cfg.rounds);
   result_t res[MODE_COUNT];
   memset (res, 0, sizeof res);
   int rc = 0;
   for (int m = 0; m < MODE_COUNT; m++) {
      if (!run_mode (&cfg, (demo_mode_t) m, &res[m])) {
         rc = 2;
         break;
      }
   }
   if (rc == 0) {
      long expected = (long) cfg.keys * cfg.rounds;
      printf ("%-26s %10s %11s %8s %9s\n", "mode", "documents", "duplicates", "errors", "time");
      for (int m = 0; m < MODE_COUNT; m++) {
         printf ("%-26s %10ld %11ld %8ld %8.1fs\n", mode_names[m], res[m].documents, res[m].duplicates,
                 res[m].errors + res[m].failures, res[m].seconds);
      }
      printf ("\n(%ld documents expected: one per key. errors: inserts refused with E11000, which the naive\n"
              "code must catch, plus any other failure.)\n",
              expected);
      if (res[MODE_NAIVE].duplicates == 0) {
         printf ("The naive code got lucky this time; more processes (-p) or a longer delay (-d) show the race.\n");
      } else {
         printf ("The naive code created %ld duplicates. The guard's lock made racing callers wait for the\n"
                 "first creator and return its document; the unique index is the floor that holds even\n"
                 "when a lock is bypassed or expires. Use both.\n",
                 res[MODE_NAIVE].duplicates);
      }
      for (int m = MODE_GUARD; m < MODE_COUNT; m++) {
         if (res[m].duplicates != 0 || res[m].documents != expected || res[m].failures != 0) {
            fprintf (stderr, "race-demo: FAILED: %s left %ld documents (%ld duplicates, %ld failures)\n",
                     mode_names[m], res[m].documents, res[m].duplicates, res[m].failures);
            rc = 1;
         }
      }
   }
   mongoc_client_t *mc = connect_client (&cfg);
   if (mc) {
      mongoc_database_t *db = mongoc_client_get_database (mc, cfg.db);
      (void) mongoc_database_drop (db, NULL);
      mongoc_database_destroy (db);
      mongoc_client_destroy (mc);
   }
   mongoc_cleanup ();
   return rc;
}
