/* SPDX-License-Identifier: Apache-2.0 */
/* README "Using the library": take a lock, work under its fencing token, release it. */
#include <mongolock/mongolock.h>
#include <stdio.h>
#include <stdlib.h>

int
main (void)
{
   const char *uri = getenv ("MONGOLOCK_URI") ? getenv ("MONGOLOCK_URI") : "mongodb://localhost:27017";
   int rc = 1;
   mongoc_init ();
   bson_error_t error;
   mongolock_client_t *client = mongolock_client_new (uri, NULL, &error);
   if (!client || !mongolock_client_ensure_indexes (client, &error)) {   /* once, at deploy time */
      fprintf (stderr, "lock store: %s\n", error.message);
      goto done;
   }

   mongolock_lock_opts_t *opts = mongolock_lock_opts_new ();
   mongolock_lock_opts_set_lease_ms (opts, 10000, &error);
   mongolock_lock_opts_set_wait_ms (opts, 2000, &error);
   mongolock_lock_opts_set_auto_renew (opts, true);
   mongolock_lock_t *lock = mongolock_lock_new (client, "invoice/42", opts, &error);
   mongolock_lock_opts_destroy (opts);   /* the lock copied what it needs */

   if (mongolock_lock_acquire (lock, &error)) {
      int64_t token = mongolock_lock_token (lock);
      printf ("holding invoice/42 with fencing token %lld\n", (long long) token);
      /* ... work; write with mongolock_fenced_update_one (coll, sel, upd, "fence", token, ...) */
      rc = mongolock_lock_release (lock, &error) ? 0 : 1;
   } else if (error.domain == MONGOLOCK_ERROR_DOMAIN && error.code == MONGOLOCK_ERROR_TIMEOUT) {
      printf ("busy for the whole wait\n");
      rc = 0;
   } else {
      fprintf (stderr, "failed: %s\n", error.message);   /* unreachable or failing server */
   }
   mongolock_lock_destroy (lock);   /* also releases a lock still held */
done:
   mongolock_client_destroy (client);
   mongoc_cleanup ();
   return rc;
}
