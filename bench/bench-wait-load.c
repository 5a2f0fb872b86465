/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-wait-load: the load one waiting process puts on the database. A handle holds a
 * lock for the whole run; a second handle waits for it with the given backoff until its
 * wait runs out. Prints the waiter's attempts (one findAndModify each) per second.
 * For docs/from-redis.md ("Load on the database while waiting").
 *
 *   bench-wait-load [URI] [seconds] [backoff-cap-ms]    (URI defaults to MONGOLOCK_URI;
 *   defaults 5 s and the library's default cap; the base stays the default)
 */
#include <mongolock/mongolock.h>
#include <stdio.h>
#include <stdlib.h>

static int attempts;

static void
on_event (const mongolock_event_t *event, void *user_data)
{
   (void) user_data;
   if (mongolock_event_type (event) == MONGOLOCK_EVENT_TIMED_OUT) {
      attempts = mongolock_event_attempts (event);
   }
}

int
main (int argc, char **argv)
{
   const char *uri = argc > 1 ? argv[1] : getenv ("MONGOLOCK_URI");
   int seconds = argc > 2 ? atoi (argv[2]) : 5;
   int cap = argc > 3 ? atoi (argv[3]) : MONGOLOCK_DEFAULT_BACKOFF_CAP_MS;
   if (!uri || seconds <= 0 || seconds > 3600 || cap < MONGOLOCK_DEFAULT_BACKOFF_BASE_MS) {
      fprintf (stderr, "usage: %s URI [seconds] [backoff-cap-ms]  (or set MONGOLOCK_URI)\n", argv[0]);
      return 2;
   }
   mongoc_init ();
   bson_error_t error;
   int rc = 1;
   mongolock_client_opts_t *copts = mongolock_client_opts_new ();
   mongolock_client_opts_set_database (copts, "mongolock_bench", NULL);
   mongolock_client_t *client = mongolock_client_new (uri, copts, &error);
   mongolock_lock_opts_t *opts = mongolock_lock_opts_new ();
   mongolock_lock_t *holder = NULL, *waiter = NULL;
   if (!client || !mongolock_lock_opts_set_lease_ms (opts, (seconds + 60) * 1000, &error) ||
       !(holder = mongolock_lock_new (client, "wait-load", opts, &error)) || !mongolock_lock_acquire (holder, &error) ||
       !mongolock_lock_opts_set_wait_ms (opts, seconds * 1000, &error) ||
       !mongolock_lock_opts_set_backoff (opts, MONGOLOCK_DEFAULT_BACKOFF_BASE_MS, cap, &error)) {
      fprintf (stderr, "bench-wait-load: %s\n", error.message);
      goto done;
   }
   mongolock_lock_opts_set_event_callback (opts, on_event, NULL);
   if (!(waiter = mongolock_lock_new (client, "wait-load", opts, &error))) {
      goto done;
   }
   int64_t t0 = bson_get_monotonic_time ();
   bool got = mongolock_lock_acquire (waiter, &error);
   double s = (double) (bson_get_monotonic_time () - t0) / 1e6;
   if (got || error.domain != MONGOLOCK_ERROR_DOMAIN || error.code != MONGOLOCK_ERROR_TIMEOUT) {
      fprintf (stderr, "bench-wait-load: expected a wait that times out, got %s\n", got ? "the lock" : error.message);
      goto done;
   }
   printf ("mongolock bench-wait-load: one waiter, backoff %d..%d ms (full jitter), lock held throughout\n",
           MONGOLOCK_DEFAULT_BACKOFF_BASE_MS, cap);
   printf ("waited %.2f s: %d attempts (findAndModify), %.1f per second\n", s, attempts, attempts / s);
   rc = 0;
done:
   mongolock_lock_destroy (waiter);
   mongolock_lock_destroy (holder);
   mongolock_lock_opts_destroy (opts);
   mongolock_client_destroy (client);
   mongolock_client_opts_destroy (copts);
   mongoc_cleanup ();
   return rc;
}
