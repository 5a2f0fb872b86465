/* SPDX-License-Identifier: Apache-2.0 */
/* Live: a client on an application's pool works with either error API version (issue 8,
 * item 10): a concurrent upsert's E11000 comes in MONGOC_ERROR_SERVER with version 2 and
 * in MONGOC_ERROR_QUERY/COMMAND with the legacy version 1, and the acquire must retry it
 * either way instead of failing. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <string.h>

#include "lock-test.h"

TestSuite (pool, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 300);

enum { THREADS = 8, ROUNDS = 60 };

typedef struct {
   mongolock_client_t *client;
   pthread_barrier_t *start;
   atomic_int *winners; /* per round */
   atomic_int errors;
   char last_error[600];
} race_t;

static void *
racer (void *arg)
{
   race_t *r = arg;
   for (int round = 0; round < ROUNDS; round++) {
      char key[32];
      snprintf (key, sizeof key, "fresh-%d", round); /* no document yet: every racer upserts */
      mongolock_lock_t *l = lt_lock (r->client, key, 30000, 0, 0);
      pthread_barrier_wait (r->start);
      bool acquired = false;
      bson_error_t error;
      if (!mongolock_lock_try_acquire (l, &acquired, &error)) {
         atomic_fetch_add (&r->errors, 1);
         snprintf (r->last_error, sizeof r->last_error, "%s (domain %u code %u)", error.message, error.domain, error.code);
      } else if (acquired) {
         atomic_fetch_add (&r->winners[round], 1);
      }
      pthread_barrier_wait (r->start); /* everyone has tried before anyone releases */
      mongolock_lock_destroy (l);
   }
   return NULL;
}

static void
race_on_pool (int32_t error_api)
{
   char *db = mltest_db_name ("pool");
   mongoc_uri_t *uri = mongoc_uri_new (mltest_uri ());
   mongoc_client_pool_t *pool = mongoc_client_pool_new (uri);
   mongoc_uri_destroy (uri);
   cr_assert (mongoc_client_pool_set_error_api (pool, error_api));
   mongolock_client_opts_t *co = mongolock_client_opts_new ();
   cr_assert (mongolock_client_opts_set_database (co, db, NULL));
   bson_error_t error;
   mongolock_client_t *c = mongolock_client_new_from_pool (pool, co, &error);
   cr_assert (c, "%s", error.message);
   mongolock_client_opts_destroy (co);
   pthread_barrier_t start;
   pthread_barrier_init (&start, NULL, THREADS);
   atomic_int winners[ROUNDS];
   for (int i = 0; i < ROUNDS; i++) {
      atomic_init (&winners[i], 0);
   }
   race_t r = {c, &start, winners, 0, ""};
   pthread_t t[THREADS];
   for (int i = 0; i < THREADS; i++) {
      cr_assert_eq (pthread_create (&t[i], NULL, racer, &r), 0);
   }
   for (int i = 0; i < THREADS; i++) {
      pthread_join (t[i], NULL);
   }
   cr_assert_eq (atomic_load (&r.errors), 0, "error API %d: %d failed acquires, last: %s", error_api,
                 atomic_load (&r.errors), r.last_error);
   for (int i = 0; i < ROUNDS; i++) {
      cr_assert_eq (atomic_load (&winners[i]), 1, "error API %d, round %d: %d holders", error_api, i,
                    atomic_load (&winners[i]));
   }
   pthread_barrier_destroy (&start);
   mongolock_client_destroy (c);
   mongoc_client_t *mc = mongoc_client_pool_pop (pool);
   mltest_drop_db (mc, db);
   mongoc_client_pool_push (pool, mc);
   mongoc_client_pool_destroy (pool);
   bson_free (db);
}

Test (pool, legacy_error_api_races_on_fresh_keys)
{
   race_on_pool (MONGOC_ERROR_API_VERSION_LEGACY);
}

Test (pool, error_api_2_races_on_fresh_keys)
{
   race_on_pool (MONGOC_ERROR_API_VERSION_2);
}
