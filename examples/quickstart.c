/* SPDX-License-Identifier: Apache-2.0 */
/*
 * quickstart: acquire a lock, make a fenced write, release; then show a paused holder's
 * late write being rejected by its fencing token.
 *
 *   MONGOLOCK_URI=mongodb://localhost:27017 ./quickstart
 */
#include <mongolock/mongolock.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define DB "mongolock_quickstart"

static int
fail (const char *what, const bson_error_t *error)
{
   fprintf (stderr, "quickstart: %s: %s (domain %u, code %u)\n", what, error->message, error->domain, error->code);
   return 1;
}

static mongolock_lock_t *
make_lock (mongolock_client_t *client, int64_t lease_ms, bson_error_t *error)
{
   mongolock_lock_opts_t *opts = mongolock_lock_opts_new ();
   mongolock_lock_opts_set_lease_ms (opts, lease_ms, error);
   mongolock_lock_opts_set_wait_ms (opts, 5000, error);
   mongolock_lock_t *lock = mongolock_lock_new (client, "invoice/42", opts, error);
   mongolock_lock_opts_destroy (opts);
   return lock;
}

int
main (int argc, char **argv)
{
   const char *uri = argc > 1 ? argv[1] : getenv ("MONGOLOCK_URI");
   if (!uri) {
      fprintf (stderr, "usage: %s URI (or set MONGOLOCK_URI)\n", argv[0]);
      return 2;
   }
   mongoc_init ();
   bson_error_t error;
   int rc = 1;
   mongolock_client_opts_t *copts = mongolock_client_opts_new ();
   mongolock_client_opts_set_database (copts, DB, &error);
   mongolock_client_t *client = mongolock_client_new (uri, copts, &error);
   mongolock_client_opts_destroy (copts);
   if (!client) {
      return fail ("connect", &error);
   }
   mongoc_client_t *mc = mongoc_client_pool_pop (mongolock_client_pool (client));
   mongoc_collection_t *invoices = mongoc_client_get_collection (mc, DB, "invoices");
   bson_t *selector = BCON_NEW ("_id", BCON_INT32 (42));
   bson_t *doc = BCON_NEW ("_id", BCON_INT32 (42), "status", BCON_UTF8 ("draft"));
   mongolock_lock_t *first = NULL, *second = NULL;
   (void) mongoc_collection_delete_one (invoices, selector, NULL, NULL, NULL);

   if (!mongolock_client_ensure_indexes (client, &error) ||
       !mongoc_collection_insert_one (invoices, doc, NULL, NULL, &error)) {
      fail ("setup", &error);
      goto done;
   }
   /* 1. A worker takes the lock with a short lease and writes, fenced by its token. */
   first = make_lock (client, 300, &error);
   if (!first || !mongolock_lock_acquire (first, &error)) {
      fail ("acquire", &error);
      goto done;
   }
   printf ("worker 1 holds invoice/42 with fencing token %" PRId64 " (%" PRId64 " ms of lease left)\n",
           mongolock_lock_token (first), mongolock_lock_remaining_ms (first));
   bool applied;
   bson_t *upd = BCON_NEW ("$set", "{", "status", BCON_UTF8 ("sending"), "}");
   if (!mongolock_fenced_update_one (invoices, selector, upd, "fence", mongolock_lock_token (first), NULL, &applied, &error)) {
      fail ("fenced write", &error);
      bson_destroy (upd);
      goto done;
   }
   bson_destroy (upd);
   printf ("worker 1 fenced write: %s\n", applied ? "applied" : "rejected");

   /* 2. Worker 1 pauses (a GC pause, a stopped VM) past its lease; worker 2 takes over. */
   struct timespec pause_ts = {0, 500 * 1000000L};
   nanosleep (&pause_ts, NULL);
   second = make_lock (client, 10000, &error);
   if (!second || !mongolock_lock_acquire (second, &error)) {
      fail ("acquire (worker 2)", &error);
      goto done;
   }
   printf ("worker 2 took over with token %" PRId64 " after worker 1's lease expired on the server\n",
           mongolock_lock_token (second));
   upd = BCON_NEW ("$set", "{", "status", BCON_UTF8 ("sent"), "}");
   mongolock_fenced_update_one (invoices, selector, upd, "fence", mongolock_lock_token (second), NULL, &applied, &error);
   bson_destroy (upd);
   printf ("worker 2 fenced write: %s\n", applied ? "applied" : "rejected");

   /* 3. Worker 1 wakes up and writes late: its old token is rejected. */
   upd = BCON_NEW ("$set", "{", "status", BCON_UTF8 ("draft-again"), "}");
   mongolock_fenced_update_one (invoices, selector, upd, "fence", mongolock_lock_token (first), NULL, &applied, &error);
   bson_destroy (upd);
   printf ("worker 1 late write with token %" PRId64 ": %s\n", mongolock_lock_token (first),
           applied ? "APPLIED (bug!)" : "rejected, as it must be");
   if (!mongolock_lock_release (first, &error)) {
      printf ("worker 1 release: %s (%s)\n", error.message, mongolock_error_code_name ((int) error.code));
   }
   if (!mongolock_lock_release (second, &error)) {
      fail ("release", &error);
      goto done;
   }
   printf ("worker 2 released invoice/42\n");
   rc = applied ? 1 : 0;
done:
   mongolock_lock_destroy (first);
   mongolock_lock_destroy (second);
   bson_destroy (selector);
   bson_destroy (doc);
   mongoc_collection_destroy (invoices);
   mongoc_client_pool_push (mongolock_client_pool (client), mc);
   mongolock_client_destroy (client);
   mongoc_cleanup ();
   return rc;
}
