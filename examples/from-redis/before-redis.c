/* SPDX-License-Identifier: Apache-2.0 */
/*
 * BEFORE: "create the invoice if missing", guarded by a Redis lock done correctly with
 * hiredis (redis-lock.c: SET NX PX, a renewal thread running a Lua compare-and-PEXPIRE, a
 * Lua compare-and-DEL, backoff). after-mongolock.c is the same program on mongolock: read
 * them side by side, and redis-lock.c for what the move deletes (docs/from-redis.md walks
 * through the differences).
 *
 *   before-redis [HOST:PORT] [--workers N] [--orders N] [--job-ms N] [--lease-ms N] ...
 *   (HOST:PORT defaults to REDIS_ADDR, else 127.0.0.1:6379; exit 0 when every invoice was
 *   created exactly once, 1 when the job ran twice, 3 when a lock failed)
 */
#include <stdio.h>
#include <stdlib.h>

#include "invoice-job.h"
#include "redis-lock.h"

/* Runs the job for order under the lock on key. */
static bool
with_redis_lock (redisContext *c, const char *key, int order, const job_plan_t *plan)
{
   redis_lock_t lock;
   int got = redis_lock_acquire (c, &lock, key, plan->lease_ms, plan->wait_ms);
   if (got <= 0) {
      /* 0: busy for the whole wait; -1: Redis failed (already reported). */
      if (got == 0) {
         fprintf (stderr, "before-redis: %s still busy after %d ms\n", key, plan->wait_ms);
      }
      return false;
   }
   bool ok = job_create_invoice_if_missing (order);
   return redis_lock_release (c, &lock) && ok; /* false: the lease was lost during the job */
}

static int
worker (int id, const job_plan_t *plan)
{
   srandom ((unsigned) (id * 7919 + job_now_ms ())); /* backoff jitter differs per worker */
   redisContext *c = redis_lock_connect ();
   if (!c) {
      return 3;
   }
   int rc = 0;
   for (int order = 1; order <= plan->orders && rc == 0; order++) {
      char key[32];
      if (!with_redis_lock (c, job_key (order, key, sizeof key), order, plan)) {
         rc = 3;
      }
   }
   redisFree (c);
   return rc;
}

int
main (int argc, char **argv)
{
   job_plan_t plan;
   if (!job_parse (argc, argv, &plan, "[HOST:PORT]")) {
      return 2;
   }
   const char *addr = plan.target ? plan.target : getenv ("REDIS_ADDR");
   if (addr && !redis_lock_set_addr (addr)) {
      fprintf (stderr, "before-redis: expected HOST:PORT, got %s\n", addr);
      return 2;
   }
   return job_race ("before-redis", &plan, worker);
}
