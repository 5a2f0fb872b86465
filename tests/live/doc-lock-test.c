/* SPDX-License-Identifier: Apache-2.0 */
#include "doc-lock-test.h"

#include <criterion/criterion.h>

void
dlt_setup (dlt_env_t *e)
{
   e->c = lt_client (&e->lockdb);
   e->mc = mltest_client ();
   e->db = bson_strdup_printf ("%s_biz", e->lockdb);
}

void
dlt_teardown (dlt_env_t *e)
{
   mltest_drop_db (e->mc, e->db);
   mongoc_client_destroy (e->mc);
   bson_free (e->db);
   lt_cleanup (e->c, e->lockdb);
}

void
dlt_insert (dlt_env_t *e, const char *json)
{
   bson_t *doc = mltest_bson (json);
   mongoc_collection_t *coll = mongoc_client_get_collection (e->mc, e->db, "users");
   bson_error_t error;
   cr_assert (mongoc_collection_insert_one (coll, doc, NULL, NULL, &error), "insert: %s", error.message);
   mongoc_collection_destroy (coll);
   bson_destroy (doc);
}

bson_t *
dlt_find (dlt_env_t *e, int32_t id)
{
   mongoc_collection_t *coll = mongoc_client_get_collection (e->mc, e->db, "users");
   bson_t *filter = BCON_NEW ("_id", BCON_INT32 (id));
   mongoc_cursor_t *cur = mongoc_collection_find_with_opts (coll, filter, NULL, NULL);
   const bson_t *doc;
   bson_t *out = NULL;
   if (mongoc_cursor_next (cur, &doc)) {
      out = bson_copy (doc);
   }
   bson_error_t error;
   cr_assert_not (mongoc_cursor_error (cur, &error), "find: %s", error.message);
   mongoc_cursor_destroy (cur);
   bson_destroy (filter);
   mongoc_collection_destroy (coll);
   return out;
}

mongolock_doc_lock_t *
dlt_lock (mongolock_client_t *c, const char *db, int32_t id, int64_t lease_ms, int64_t wait_ms, int flags,
          lt_events_t *ev, mongolock_cancel_t *cancel, const char *const *fields)
{
   bson_error_t error;
   mongolock_doc_lock_opts_t *o = mongolock_doc_lock_opts_new ();
   mongolock_lock_opts_t *lo = mongolock_doc_lock_opts_lock_opts (o);
   cr_assert (mongolock_lock_opts_set_lease_ms (lo, lease_ms, &error), "%s", error.message);
   cr_assert (mongolock_lock_opts_set_wait_ms (lo, wait_ms, &error), "%s", error.message);
   cr_assert (mongolock_lock_opts_set_backoff (lo, 2, 50, &error));
   mongolock_lock_opts_set_auto_renew (lo, flags & DLT_RENEW);
   mongolock_lock_opts_set_reentrant (lo, flags & DLT_REENTRANT);
   if (flags & DLT_UNTIL_EXPIRY) {
      cr_assert (mongolock_lock_opts_set_backoff_strategy (lo, MONGOLOCK_BACKOFF_UNTIL_EXPIRY, &error));
   }
   if (ev) {
      mongolock_lock_opts_set_event_callback (lo, lt_events_cb, ev);
   }
   mongolock_lock_opts_set_cancel (lo, cancel);
   if (fields) {
      cr_assert (mongolock_doc_lock_opts_set_fields (o, fields[0], fields[1], fields[2], &error), "%s", error.message);
   }
   bson_value_t v = {.value_type = BSON_TYPE_INT32, .value.v_int32 = id};
   mongolock_doc_lock_t *l = mongolock_doc_lock_new (c, db, "users", &v, o, &error);
   cr_assert (l, "doc lock: %s", error.message);
   mongolock_doc_lock_opts_destroy (o);
   return l;
}

bool
dlt_try (mongolock_doc_lock_t *l)
{
   bson_error_t error;
   bool acquired = true;
   cr_assert (mongolock_doc_lock_try_acquire (l, &acquired, &error), "try_acquire failed: %s (%u/%u)", error.message,
              error.domain, error.code);
   return acquired;
}

int64_t
dlt_int (const bson_t *doc, const char *key)
{
   bson_iter_t it;
   if (doc && bson_iter_init_find (&it, doc, key) && BSON_ITER_HOLDS_NUMBER (&it)) {
      return bson_iter_as_int64 (&it);
   }
   return -1;
}

bool
dlt_has (const bson_t *doc, const char *key)
{
   bson_iter_t it;
   return doc && bson_iter_init_find (&it, doc, key);
}
