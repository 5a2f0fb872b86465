/* SPDX-License-Identifier: Apache-2.0 */
/* A one-shot semaphore or reader/writer lock client for the skew tests (run under libfaketime).
 *   sem-worker URI DB KEY KIND LEASE_MS WAIT_MS HOLD_MS
 * KIND: a permit count (a semaphore with that many permits), or r / w (a reader/writer lock
 * in read / write mode).
 * Prints: acquired TOKEN REMAINING_MS SENT_MONO_MS RECV_MONO_MS | busy | error DOMAIN CODE
 * MESSAGE, then released | release-error DOMAIN CODE. Monotonic times: CLOCK_MONOTONIC
 * (run with FAKETIME_DONT_FAKE_MONOTONIC=1). */
#include <mongolock/mongolock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t
mono_ms (void)
{
   return bson_get_monotonic_time () / 1000;
}

/* One handle of either kind. */
typedef struct {
   mongolock_semaphore_t *sem;
   mongolock_rwlock_t *rw;
} handle_t;

static bool
h_acquire (handle_t *h, bson_error_t *error)
{
   return h->sem ? mongolock_semaphore_acquire (h->sem, error) : mongolock_rwlock_acquire (h->rw, error);
}

static bool
h_release (handle_t *h, bson_error_t *error)
{
   return h->sem ? mongolock_semaphore_release (h->sem, error) : mongolock_rwlock_release (h->rw, error);
}

static int64_t
h_token (const handle_t *h)
{
   return h->sem ? mongolock_semaphore_token (h->sem) : mongolock_rwlock_token (h->rw);
}

static int64_t
h_remaining_ms (const handle_t *h)
{
   return h->sem ? mongolock_semaphore_remaining_ms (h->sem) : mongolock_rwlock_remaining_ms (h->rw);
}

int
main (int argc, char **argv)
{
   if (argc != 8) {
      fprintf (stderr, "usage: %s URI DB KEY PERMITS|r|w LEASE_MS WAIT_MS HOLD_MS\n", argv[0]);
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
   handle_t h = {NULL, NULL};
   if (c && (strcmp (argv[4], "r") == 0 || strcmp (argv[4], "w") == 0)) {
      h.rw = mongolock_rwlock_new (c, argv[3], argv[4][0] == 'w' ? MONGOLOCK_RWLOCK_WRITE : MONGOLOCK_RWLOCK_READ, lo,
                                   &error);
   } else if (c) {
      h.sem = mongolock_semaphore_new (c, argv[3], atoi (argv[4]), lo, &error);
   }
   if (!h.sem && !h.rw) {
      fprintf (stderr, "%s\n", error.message);
      return 2;
   }
   int64_t sent = mono_ms ();
   bool ok = h_acquire (&h, &error);
   int64_t recv = mono_ms ();
   if (ok) {
      printf ("acquired %" PRId64 " %" PRId64 " %" PRId64 " %" PRId64 "\n", h_token (&h), h_remaining_ms (&h), sent,
              recv);
      fflush (stdout);
      struct timespec ts = {atoll (argv[7]) / 1000, (atoll (argv[7]) % 1000) * 1000000L};
      nanosleep (&ts, NULL);
      if (h_release (&h, &error)) {
         printf ("released\n");
      } else {
         printf ("release-error %u %u\n", error.domain, error.code);
      }
   } else if (error.domain == MONGOLOCK_ERROR_DOMAIN && error.code == MONGOLOCK_ERROR_TIMEOUT) {
      printf ("busy\n");
   } else {
      printf ("error %u %u %s\n", error.domain, error.code, error.message);
   }
   mongolock_semaphore_destroy (h.sem);
   mongolock_rwlock_destroy (h.rw);
   mongolock_client_destroy (c);
   mongolock_client_opts_destroy (co);
   mongolock_lock_opts_destroy (lo);
   mongoc_cleanup ();
   return 0;
}
