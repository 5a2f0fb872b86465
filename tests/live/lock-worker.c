/* SPDX-License-Identifier: Apache-2.0 */
/* A one-shot lock client for tests that need another process, e.g. one running under
 * libfaketime with a skewed clock.
 *   lock-worker URI DB KEY LEASE_MS WAIT_MS HOLD_MS
 * Prints one line per step on stdout:
 *   acquired TOKEN REMAINING_MS SENT_MONO_MS RECV_MONO_MS | busy | error DOMAIN CODE MESSAGE
 *   released | release-error DOMAIN CODE
 * Monotonic times use CLOCK_MONOTONIC (run with FAKETIME_DONT_FAKE_MONOTONIC=1). */
#include <mongolock/mongolock.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int64_t
mono_ms (void)
{
   return bson_get_monotonic_time () / 1000;
}

int
main (int argc, char **argv)
{
   if (argc != 7) {
      fprintf (stderr, "usage: %s URI DB KEY LEASE_MS WAIT_MS HOLD_MS\n", argv[0]);
      return 2;
   }
   mongoc_init ();
   bson_error_t error;
   mongolock_client_opts_t *co = mongolock_client_opts_new ();
   mongolock_lock_opts_t *lo = mongolock_lock_opts_new ();
   if (!mongolock_client_opts_set_database (co, argv[2], &error) ||
       !mongolock_lock_opts_set_lease_ms (lo, atoll (argv[4]), &error) ||
       !mongolock_lock_opts_set_wait_ms (lo, atoll (argv[5]), &error) ||
       !mongolock_lock_opts_set_backoff (lo, 5, 50, &error)) {
      fprintf (stderr, "%s\n", error.message);
      return 2;
   }
   mongolock_client_t *c = mongolock_client_new (argv[1], co, &error);
   mongolock_lock_t *l = c ? mongolock_lock_new (c, argv[3], lo, &error) : NULL;
   if (!l) {
      fprintf (stderr, "%s\n", error.message);
      return 2;
   }
   int64_t sent = mono_ms ();
   bool ok = mongolock_lock_acquire (l, &error);
   int64_t recv = mono_ms ();
   if (ok) {
      printf ("acquired %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 "\n", mongolock_lock_token (l),
              mongolock_lock_remaining_ms (l), sent, recv);
      fflush (stdout);
      struct timespec ts = {atoll (argv[6]) / 1000, (atoll (argv[6]) % 1000) * 1000000L};
      nanosleep (&ts, NULL);
      if (mongolock_lock_release (l, &error)) {
         printf ("released\n");
      } else {
         printf ("release-error %u %u\n", error.domain, error.code);
      }
   } else if (error.domain == MONGOLOCK_ERROR_DOMAIN && error.code == MONGOLOCK_ERROR_TIMEOUT) {
      printf ("busy\n");
   } else {
      printf ("error %u %u %s\n", error.domain, error.code, error.message);
   }
   mongolock_lock_destroy (l);
   mongolock_client_destroy (c);
   mongolock_client_opts_destroy (co);
   mongolock_lock_opts_destroy (lo);
   mongoc_cleanup ();
   return 0;
}
