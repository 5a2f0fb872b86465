/* SPDX-License-Identifier: Apache-2.0 */
/* README "The duplicate-creation guard": one user per e-mail address, however many
 * processes run this at once. */
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
   if (!client) {
      fprintf (stderr, "lock store: %s\n", error.message);
      mongoc_cleanup ();
      return 1;
   }
   mongolock_guard_t *guard = mongolock_guard_new (client, NULL, &error);
   mongoc_client_t *mc = mongoc_client_pool_pop (mongolock_client_pool (client));
   mongoc_collection_t *users = mongoc_client_get_collection (mc, "app", "users");

   bson_t *keys = BCON_NEW ("email", BCON_INT32 (1));
   bson_t report;   /* what it did, or the duplicates / conflicting index it found */
   bool indexed = mongolock_unique_index_ensure (users, keys, NULL, &report, &error);   /* once, at deploy */
   bson_destroy (&report);
   bson_destroy (keys);

   bson_t *filter = BCON_NEW ("email", BCON_UTF8 ("a@example.com"));
   bson_t *fields = BCON_NEW ("name", BCON_UTF8 ("Ada"));   /* the rest of a new document */
   bson_t doc;
   bool created;
   if (indexed && mongolock_guard_first_or_create (guard, users, filter, fields, NULL, &doc, &created, NULL, &error)) {
      /* doc is the one document for that e-mail; created says whether this call made it */
      char *json = bson_as_relaxed_extended_json (&doc, NULL);
      printf ("%s %s\n", created ? "created" : "found", json);
      bson_free (json);
      rc = 0;
   } else {
      fprintf (stderr, "failed: %s\n", error.message);
   }
   if (indexed) {
      bson_destroy (&doc);   /* first_or_create always initialises it */
   }
   bson_destroy (fields);
   bson_destroy (filter);
   mongoc_collection_destroy (users);
   mongoc_client_pool_push (mongolock_client_pool (client), mc);
   mongolock_guard_destroy (guard);
   mongolock_client_destroy (client);
   mongoc_cleanup ();
   return rc;
}
