/* SPDX-License-Identifier: Apache-2.0 */
/* A one-shot semaphore client for the skew tests (run under libfaketime).
 *   sem-worker URI DB KEY PERMITS LEASE_MS WAIT_MS HOLD_MS
 * Prints: acquired TOKEN REMAINING_MS SENT_MONO_MS RECV_MONO_MS | busy | error DOMAIN CODE
 * MESSAGE, then released | release-error DOMAIN CODE. Monotonic times: CLOCK_MONOTONIC
 * (run with FAKETIME_DONT_FAKE_MONOTONIC=1). */
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
   if (argc != 8) {
      fprintf (stderr, "usage: %s URI DB KEY PERMITS LEASE_MS WAIT_MS HOLD_MS\n", argv[0]);
      return 2;
   }
   mongoc_init ();
   bson_error_t error;
   mongolock_client_opts_t *co = mongolock_client_opts_new ();
   mongolock_lock_opts_t *lo = mongolock_lock_opts_new ();
   if (!mongolock_client_opts_set_database (co, argv[2], &error) ||
       !mongolock_lock_opts_set_lease_ms (lo, atoll (argv[5]), &error) ||
       !mongolock_lock_opts_set_wait_ms (lo, atoll (argv[6]), &error) ||
       !mongolock_lock_opts_set_backoff (lo, 5, 50, &error)) {
      fprintf (stderr, "%s\n", error.message);
      return 2;
   }
   mongolock_client_t *c = mongolock_client_new (argv[1], co, &error);
   mongolock_semaphore_t *s = c ? mongolock_semaphore_new (c, argv[3], atoi (argv[4]), lo, &error) : NULL;
   if (!s) {
      fprintf (stderr, "%s\n", error.message);
      return 2;
   }
   int64_t sent = mono_ms ();
   bool ok = mongolock_semaphore_acquire (s, &error);
   int64_t recv = mono_ms ();
   if (ok) {
      printf ("acquired %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 "\n", mongolock_semaphore_token (s),
              mongolock_semaphore_remaining_ms (s), sent, recv);
      fflush (stdout);
      struct timespec ts = {atoll (argv[7]) / 1000, (atoll (argv[7]) % 1000) * 1000000L};
      nanosleep (&ts, NULL);
      if (mongolock_semaphore_release (s, &error)) {
         printf ("released\n");
      } else {
         printf ("release-error %u %u\n", error.domain, error.code);
      }
   } else if (error.domain == MONGOLOCK_ERROR_DOMAIN && error.code == MONGOLOCK_ERROR_TIMEOUT) {
      printf ("busy\n");
   } else {
      printf ("error %u %u %s\n", error.domain, error.code, error.message);
   }
   mongolock_semaphore_destroy (s);
   mongolock_client_destroy (c);
   mongolock_client_opts_destroy (co);
   mongolock_lock_opts_destroy (lo);
   mongoc_cleanup ();
   return 0;
}
