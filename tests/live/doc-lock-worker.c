/* SPDX-License-Identifier: Apache-2.0 */
/* A one-shot document-lock client for tests that need another process, e.g. one under
 * libfaketime with a skewed clock.
 *   doc-lock-worker URI LOCKDB DB ID LEASE_MS WAIT_MS HOLD_MS
 * Locks {_id: ID (int32)} in DB.users, prints one line per step on stdout:
 *   acquired TOKEN REMAINING_MS | busy | error DOMAIN CODE MESSAGE
 * then, when acquired, sleeps HOLD_MS, makes a fenced write ($inc: {n: 1}) and prints
 *   write applied | write lost | write gone | write-error DOMAIN CODE */
#include <mongolock/mongolock.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
   if (argc != 8) {
      fprintf (stderr, "usage: %s URI LOCKDB DB ID LEASE_MS WAIT_MS HOLD_MS\n", argv[0]);
      return 2;
   }
   mongoc_init ();
   bson_error_t error;
   mongolock_client_opts_t *co = mongolock_client_opts_new ();
   mongolock_doc_lock_opts_t *o = mongolock_doc_lock_opts_new ();
   mongolock_lock_opts_t *lo = mongolock_doc_lock_opts_lock_opts (o);
   if (!mongolock_client_opts_set_database (co, argv[2], &error) ||
       !mongolock_lock_opts_set_lease_ms (lo, atoll (argv[5]), &error) ||
       !mongolock_lock_opts_set_wait_ms (lo, atoll (argv[6]), &error) ||
       !mongolock_lock_opts_set_backoff (lo, 5, 50, &error)) {
      fprintf (stderr, "%s\n", error.message);
      return 2;
   }
   mongolock_client_t *c = mongolock_client_new (argv[1], co, &error);
   bson_value_t id = {.value_type = BSON_TYPE_INT32, .value.v_int32 = atoi (argv[4])};
   mongolock_doc_lock_t *l = c ? mongolock_doc_lock_new (c, argv[3], "users", &id, o, &error) : NULL;
   if (!l) {
      fprintf (stderr, "%s\n", error.message);
      return 2;
   }
   if (!mongolock_doc_lock_acquire (l, &error)) {
      if (error.domain == MONGOLOCK_ERROR_DOMAIN && error.code == MONGOLOCK_ERROR_TIMEOUT) {
         printf ("busy\n");
      } else {
         printf ("error %u %u %s\n", error.domain, error.code, error.message);
      }
   } else {
      printf ("acquired %" PRId64 " %" PRId64 "\n", mongolock_doc_lock_token (l), mongolock_doc_lock_remaining_ms (l));
      fflush (stdout);
      usleep ((useconds_t) atoll (argv[7]) * 1000);
      bson_t *u = BCON_NEW ("$inc", "{", "n", BCON_INT32 (1), "}");
      mongolock_doc_write_result_t res;
      if (mongolock_doc_lock_update (l, u, MONGOLOCK_DOC_UPDATE_RELEASE, &res, &error)) {
         printf ("write %s\n", res == MONGOLOCK_DOC_WRITE_APPLIED ? "applied" : res == MONGOLOCK_DOC_WRITE_LOST ? "lost" : "gone");
      } else {
         printf ("write-error %u %u\n", error.domain, error.code);
      }
      bson_destroy (u);
   }
   fflush (stdout);
   mongolock_doc_lock_destroy (l);
   mongolock_client_destroy (c);
   mongolock_doc_lock_opts_destroy (o);
   mongolock_client_opts_destroy (co);
   mongoc_cleanup ();
   return 0;
}
