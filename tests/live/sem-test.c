/* SPDX-License-Identifier: Apache-2.0 */
#include "sem-test.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

mongolock_rwlock_t *
st_rw (mongolock_client_t *c, const char *key, mongolock_rwlock_mode_t mode, int64_t lease_ms, int64_t wait_ms,
       int flags, lt_events_t *ev)
{
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   cr_assert (mongolock_lock_opts_set_lease_ms (o, lease_ms, NULL));
   cr_assert (mongolock_lock_opts_set_wait_ms (o, wait_ms, NULL));
   cr_assert (mongolock_lock_opts_set_backoff (o, 2, 40, NULL));
   mongolock_lock_opts_set_auto_renew (o, (flags & LT_RENEW) != 0);
   mongolock_lock_opts_set_reentrant (o, (flags & LT_REENTRANT) != 0);
   if (ev) {
      mongolock_lock_opts_set_event_callback (o, lt_events_cb, ev);
   }
   bson_error_t error;
   mongolock_rwlock_t *rw = mongolock_rwlock_new (c, key, mode, o, &error);
   mongolock_lock_opts_destroy (o);
   cr_assert (rw, "%s", error.message);
   return rw;
}

bool
st_rw_try (mongolock_rwlock_t *rw)
{
   bool acquired = false;
   bson_error_t error;
   cr_assert (mongolock_rwlock_try_acquire (rw, &acquired, &error), "try_acquire failed: %s", error.message);
   return acquired;
}

void
st_worker_start (st_worker_t *w, const char *offset, const char *db, const char *kind, int64_t lease, int64_t wait,
                 int64_t hold)
{
   const char *root = getenv ("MONGOLOCK_BUILD_ROOT");
   cr_assert (root, "MONGOLOCK_BUILD_ROOT not set (run through meson test)");
   cr_assert_eq (access ("/usr/bin/faketime", X_OK), 0, "faketime is not installed (Debian package faketime)");
   char *cmd = bson_strdup_printf ("FAKETIME_DONT_FAKE_MONOTONIC=1 /usr/bin/faketime -f '%s' '%s/tests/live/sem-worker' "
                                   "'%s' '%s' skewed '%s' %" PRId64 " %" PRId64 " %" PRId64,
                                   offset, root, mltest_uri (), db, kind, lease, wait, hold);
   w->f = popen (cmd, "r");
   cr_assert (w->f, "popen %s", cmd);
   bson_free (cmd);
}

const char *
st_worker_line (st_worker_t *w)
{
   cr_assert (fgets (w->line, sizeof w->line, w->f), "worker printed nothing");
   w->line[strcspn (w->line, "\n")] = '\0';
   return w->line;
}

void
st_worker_end (st_worker_t *w)
{
   cr_assert_eq (pclose (w->f), 0, "worker failed");
}
