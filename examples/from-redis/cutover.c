/* SPDX-License-Identifier: Apache-2.0 */
/*
 * DURING: the cut-over from the Redis lock to mongolock (docs/from-redis.md, "Migrating a
 * running system"), as a program that checks it. Workers of two kinds race the same job:
 *
 *   old   the code before the move: the Redis lock only (redis-lock.c);
 *   both  the cut-over release: the Redis lock, then the mongolock lock on the same key,
 *         released in the reverse order;
 *   new   the code after the move: mongolock only.
 *
 * --mix old+both (step 2) and --mix both+new (step 3) must never run the job twice: each
 * pair shares one lock. --mix old+new skips step 2, and the program is expected to find the
 * job running twice (exit 1): the reason step 2 exists.
 *
 *   cutover --mix A+B [HOST:PORT] [--workers N] [--orders N] [--job-ms N] ...
 *   (HOST:PORT defaults to REDIS_ADDR; the MongoDB URI comes from MONGOLOCK_URI, else
 *   MONGOLOCK_TEST_URI; odd-numbered workers are of kind A, even-numbered of kind B)
 */
#include <mongolock/mongolock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "invoice-job.h"
#include "redis-lock.h"

typedef enum { OLD, BOTH, NEW } kind_t;

static const char *uri;
static kind_t kinds[2];

static bool
parse_kind (const char *s, size_t n, kind_t *out)
{
   static const char *names[] = {"old", "both", "new"};
   for (int k = OLD; k <= NEW; k++) {
      if (strlen (names[k]) == n && strncmp (s, names[k], n) == 0) {
         *out = (kind_t) k;
         return true;
      }
   }
   return false;
}

/* Runs the job for order under the locks of this worker's kind, always Redis first. */
static bool
run_locked (kind_t kind, redisContext *rc, mongolock_client_t *client, const mongolock_lock_opts_t *opts,
            const char *key, int order, const job_plan_t *plan)
{
   redis_lock_t rlock;
   if (kind != NEW && redis_lock_acquire (rc, &rlock, key, plan->lease_ms, plan->wait_ms) != 1) {
      fprintf (stderr, "cutover: Redis lock %s not taken\n", key);
      return false;
   }
   bson_error_t error;
   mongolock_lock_t *mlock = NULL;
   if (kind != OLD) {
      mlock = mongolock_lock_new (client, key, opts, &error);
      if (!mlock || !mongolock_lock_acquire (mlock, &error)) {
         fprintf (stderr, "cutover: mongolock %s: %s\n", key, error.message);
         mongolock_lock_destroy (mlock);
         if (kind != NEW) {
            redis_lock_release (rc, &rlock);
         }
         return false;
      }
   }
   bool ok = job_create_invoice_if_missing (order);
   if (mlock && !mongolock_lock_release (mlock, &error)) {
      fprintf (stderr, "cutover: release %s: %s\n", key, error.message);
      ok = false;
   }
   mongolock_lock_destroy (mlock);
   if (kind != NEW && !redis_lock_release (rc, &rlock)) {
      ok = false;
   }
   return ok;
}

static int
worker (int id, const job_plan_t *plan)
{
   kind_t kind = kinds[(id + 1) % 2];
   srandom ((unsigned) (id * 7919 + job_now_ms ()));
   bson_error_t error;
   redisContext *rc = kind != NEW ? redis_lock_connect () : NULL;
   mongolock_client_t *client = kind != OLD ? mongolock_client_new (uri, NULL, &error) : NULL;
   mongolock_lock_opts_t *opts = mongolock_lock_opts_new ();
   int rc_exit = 0;
   if ((kind != NEW && !rc) || (kind != OLD && !client) ||
       !mongolock_lock_opts_set_lease_ms (opts, plan->lease_ms, &error) ||
       !mongolock_lock_opts_set_wait_ms (opts, plan->wait_ms, &error)) {
      rc_exit = 3;
   }
   mongolock_lock_opts_set_auto_renew (opts, true);
   for (int order = 1; order <= plan->orders && rc_exit == 0; order++) {
      char key[32];
      if (!run_locked (kind, rc, client, opts, job_key (order, key, sizeof key), order, plan)) {
         rc_exit = 3;
      }
   }
   mongolock_lock_opts_destroy (opts);
   mongolock_client_destroy (client);
   redisFree (rc);
   mongoc_cleanup ();
   return rc_exit;
}

int
main (int argc, char **argv)
{
   /* Take --mix out of argv; the rest is the shared job's arguments. */
   char *args[64];
   int n = 0;
   const char *mix = NULL;
   for (int i = 0; i < argc && n < 64; i++) {
      if (strcmp (argv[i], "--mix") == 0 && i + 1 < argc) {
         mix = argv[++i];
      } else {
         args[n++] = argv[i];
      }
   }
   const char *plus = mix ? strchr (mix, '+') : NULL;
   job_plan_t plan;
   if (!plus || !parse_kind (mix, (size_t) (plus - mix), &kinds[0]) ||
       !parse_kind (plus + 1, strlen (plus + 1), &kinds[1])) {
      fprintf (stderr, "usage: %s --mix old+both|both+new|old+new [HOST:PORT] [job options]\n", argv[0]);
      return 2;
   }
   if (!job_parse (n, args, &plan, "--mix A+B [HOST:PORT]")) {
      return 2;
   }
   const char *addr = plan.target ? plan.target : getenv ("REDIS_ADDR");
   if (addr && !redis_lock_set_addr (addr)) {
      fprintf (stderr, "cutover: expected HOST:PORT, got %s\n", addr);
      return 2;
   }
   uri = getenv ("MONGOLOCK_URI") ? getenv ("MONGOLOCK_URI") : getenv ("MONGOLOCK_TEST_URI");
   if (!uri) {
      fprintf (stderr, "cutover: set MONGOLOCK_URI\n");
      return 2;
   }
   mongoc_init ();
   char name[32];
   snprintf (name, sizeof name, "cutover %s", mix);
   int rc = job_race (name, &plan, worker);
   mongoc_cleanup ();
   return rc;
}
