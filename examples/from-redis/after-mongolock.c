/* SPDX-License-Identifier: Apache-2.0 */
/*
 * AFTER: the same program as before-redis.c, on mongolock. Read them side by side
 * (docs/from-redis.md walks through the differences).
 *
 *   take:    mongolock_lock_acquire: one findAndModify when free; waits with jittered
 *            backoff up to the wait set in the options, one deadline for everything;
 *   renew:   mongolock_lock_opts_set_auto_renew: the client's scheduler renews (owner- and
 *            token-checked) and reports LOST no later than the lease's end;
 *   release: mongolock_lock_release: owner- and token-checked, one update.
 * What it adds: a fencing token (mongolock_lock_token), expiry by the database server's
 * clock, and with w:majority (the default) a lock that survives a replica-set failover.
 *
 *   after-mongolock [URI] [--workers N] [--orders N] [--job-ms N] [--lease-ms N] ...
 *   (URI defaults to MONGOLOCK_URI, else MONGOLOCK_TEST_URI, which the live test runner
 *   sets; exit 0 when every invoice was created exactly once, 1 when the job ran twice,
 *   3 when a lock failed)
 */
#include <mongolock/mongolock.h>
#include <stdio.h>
#include <stdlib.h>

#include "invoice-job.h"

static const char *uri;

static void
on_event (const mongolock_event_t *event, void *user_data)
{
   (void) user_data;
   if (mongolock_event_type (event) == MONGOLOCK_EVENT_LOST) {
      fprintf (stderr, "after-mongolock: lost %s: %s\n", mongolock_event_key (event),
               mongolock_event_error (event) ? mongolock_event_error (event)->message : "lease ran out");
   }
}

/* Runs the job for order under the lock on key. */
static bool
with_mongolock (mongolock_client_t *client, const char *key, int order, const mongolock_lock_opts_t *opts)
{
   bson_error_t error;
   mongolock_lock_t *lock = mongolock_lock_new (client, key, opts, &error);
   if (!lock || !mongolock_lock_acquire (lock, &error)) {
      /* MONGOLOCK_ERROR_TIMEOUT: busy for the whole wait; anything else: the store failed. */
      fprintf (stderr, "after-mongolock: %s: %s (%s)\n", key, error.message,
               error.domain == MONGOLOCK_ERROR_DOMAIN ? mongolock_error_code_name ((int) error.code) : "driver");
      mongolock_lock_destroy (lock);
      return false;
   }
   /* mongolock_lock_token (lock) could fence a write to MongoDB here (mongolock_fenced_update_one). */
   bool ok = job_create_invoice_if_missing (order);
   if (!mongolock_lock_release (lock, &error)) { /* MONGOLOCK_ERROR_LOST: the lease ran out during the job */
      fprintf (stderr, "after-mongolock: release %s: %s\n", key, error.message);
      ok = false;
   }
   mongolock_lock_destroy (lock);
   return ok;
}

static int
worker (int id, const job_plan_t *plan)
{
   (void) id;
   bson_error_t error;
   mongolock_client_t *client = mongolock_client_new (uri, NULL, &error);
   mongolock_lock_opts_t *opts = mongolock_lock_opts_new ();
   if (!client || !mongolock_lock_opts_set_lease_ms (opts, plan->lease_ms, &error) ||
       !mongolock_lock_opts_set_wait_ms (opts, plan->wait_ms, &error)) {
      fprintf (stderr, "after-mongolock: %s\n", error.message);
      mongolock_lock_opts_destroy (opts);
      mongolock_client_destroy (client);
      return 3;
   }
   mongolock_lock_opts_set_auto_renew (opts, true);
   mongolock_lock_opts_set_event_callback (opts, on_event, NULL);
   int rc = 0;
   for (int order = 1; order <= plan->orders && rc == 0; order++) {
      char key[32];
      if (!with_mongolock (client, job_key (order, key, sizeof key), order, opts)) {
         rc = 3;
      }
   }
   mongolock_lock_opts_destroy (opts);
   mongolock_client_destroy (client);
   mongoc_cleanup ();
   return rc;
}

int
main (int argc, char **argv)
{
   job_plan_t plan;
   if (!job_parse (argc, argv, &plan, "[URI]")) {
      return 2;
   }
   uri = plan.target ? plan.target : getenv ("MONGOLOCK_URI") ? getenv ("MONGOLOCK_URI") : getenv ("MONGOLOCK_TEST_URI");
   if (!uri) {
      fprintf (stderr, "after-mongolock: give a URI (or set MONGOLOCK_URI)\n");
      return 2;
   }
   mongoc_init ();
   /* Once, at deploy time (or `mongolock migrate`): the lock collection's TTL index. */
   bson_error_t error;
   mongolock_client_t *client = mongolock_client_new (uri, NULL, &error);
   bool ready = client && mongolock_client_ensure_indexes (client, &error);
   mongolock_client_destroy (client);
   if (!ready) {
      fprintf (stderr, "after-mongolock: %s\n", error.message);
      mongoc_cleanup ();
      return 3;
   }
   int rc = job_race ("after-mongolock", &plan, worker);
   mongoc_cleanup ();
   return rc;
}
