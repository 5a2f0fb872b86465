/* SPDX-License-Identifier: Apache-2.0 */
#include "sem-test.h"

#include <criterion/criterion.h>

mongolock_semaphore_t *
st_sem (mongolock_client_t *c, const char *key, int permits, int64_t lease_ms, int64_t wait_ms, int flags,
        lt_events_t *ev)
{
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   cr_assert (mongolock_lock_opts_set_lease_ms (o, lease_ms, NULL));
   cr_assert (mongolock_lock_opts_set_wait_ms (o, wait_ms, NULL));
   cr_assert (mongolock_lock_opts_set_backoff (o, 2, 50, NULL));
   mongolock_lock_opts_set_auto_renew (o, (flags & LT_RENEW) != 0);
   mongolock_lock_opts_set_reentrant (o, (flags & LT_REENTRANT) != 0);
   if (ev) {
      mongolock_lock_opts_set_event_callback (o, lt_events_cb, ev);
   }
   bson_error_t error;
   mongolock_semaphore_t *s = mongolock_semaphore_new (c, key, permits, o, &error);
   mongolock_lock_opts_destroy (o);
   cr_assert (s, "%s", error.message);
   return s;
}

bool
st_try (mongolock_semaphore_t *s)
{
   bool acquired = false;
   bson_error_t error;
   cr_assert (mongolock_semaphore_try_acquire (s, &acquired, &error), "try_acquire failed: %s", error.message);
   return acquired;
}

bson_t *
st_doc (const char *db, const char *key)
{
   mongoc_client_t *mc = mltest_client ();
   mongoc_collection_t *coll = mongoc_client_get_collection (mc, db, MONGOLOCK_DEFAULT_COLLECTION);
   bson_t *filter = BCON_NEW ("_id", BCON_UTF8 (key));
   mongoc_cursor_t *cur = mongoc_collection_find_with_opts (coll, filter, NULL, NULL);
   const bson_t *d;
   bson_t *out = NULL;
   if (mongoc_cursor_next (cur, &d)) {
      out = bson_copy (d);
   }
   bson_error_t error;
   cr_assert_not (mongoc_cursor_error (cur, &error), "%s", error.message);
   mongoc_cursor_destroy (cur);
   bson_destroy (filter);
   mongoc_collection_destroy (coll);
   mongoc_client_destroy (mc);
   cr_assert (out, "no document for %s", key);
   return out;
}

int
st_holders (const char *db, const char *key)
{
   bson_t *d = st_doc (db, key);
   bson_iter_t it, a;
   int n = 0;
   if (bson_iter_init_find (&it, d, "holders") && BSON_ITER_HOLDS_ARRAY (&it) && bson_iter_recurse (&it, &a)) {
      while (bson_iter_next (&a)) {
         n++;
      }
   }
   bson_destroy (d);
   return n;
}
