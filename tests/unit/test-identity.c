/* SPDX-License-Identifier: Apache-2.0 */
/* Holder identity: process identity plus a per-handle nonce. */
#include <criterion/criterion.h>
#include <mongolock/mongolock.h>
#include <string.h>
#include <unistd.h>

Test (identity, default_is_host_pid_random)
{
   bson_error_t error;
   mongolock_client_t *a = mongolock_client_new ("mongodb://127.0.0.1:1", NULL, &error);
   mongolock_client_t *b = mongolock_client_new ("mongodb://127.0.0.1:1", NULL, &error);
   cr_assert (a && b);
   const char *ida = mongolock_client_identity (a);
   char host[256] = {0};
   gethostname (host, sizeof host - 1);
   char *prefix = bson_strdup_printf ("%s:%d:", host, (int) getpid ());
   cr_assert (strncmp (ida, prefix, strlen (prefix)) == 0, "identity %s does not start with %s", ida, prefix);
   const char *rnd = ida + strlen (prefix);
   cr_assert_eq (strlen (rnd), 32, "128 random bits as 32 hex digits: %s", rnd);
   cr_assert_eq (strspn (rnd, "0123456789abcdef"), 32);
   cr_assert_str_neq (ida, mongolock_client_identity (b), "two clients in one process differ");
   bson_free (prefix);
   mongolock_client_destroy (a);
   mongolock_client_destroy (b);
}

Test (identity, handles_get_distinct_owners_under_one_identity)
{
   bson_error_t error;
   mongolock_client_opts_t *o = mongolock_client_opts_new ();
   cr_assert (mongolock_client_opts_set_identity (o, "worker-7", &error));
   cr_assert (mongolock_client_opts_set_database (o, "appdb", &error));
   mongolock_client_t *c = mongolock_client_new ("mongodb://127.0.0.1:1", o, &error);
   mongolock_client_opts_destroy (o);
   cr_assert (c);
   cr_assert_str_eq (mongolock_client_identity (c), "worker-7");
   cr_assert_str_eq (mongolock_client_database_name (c), "appdb");
   cr_assert_str_eq (mongolock_client_collection_name (c), MONGOLOCK_DEFAULT_COLLECTION);
   enum { N = 64 };
   mongolock_lock_t *locks[N];
   for (int i = 0; i < N; i++) {
      locks[i] = mongolock_lock_new (c, "same-key", NULL, &error);
      cr_assert (locks[i]);
      const char *owner = mongolock_lock_owner (locks[i]);
      cr_assert (strncmp (owner, "worker-7/", 9) == 0, "owner %s", owner);
      cr_assert_eq (strlen (owner), 9 + 16);
      for (int j = 0; j < i; j++) {
         cr_assert_str_neq (owner, mongolock_lock_owner (locks[j]), "handles %d and %d share an owner", i, j);
      }
      cr_assert_str_eq (mongolock_lock_key (locks[i]), "same-key");
   }
   for (int i = 0; i < N; i++) {
      mongolock_lock_destroy (locks[i]);
   }
   mongolock_client_destroy (c);
}
