/* SPDX-License-Identifier: Apache-2.0 */
/* Live: automatic renewal, lost-lease detection, fencing tokens across release, takeover
 * and document deletion, fenced writes, admin listing and forced release, round trips. */
#include <criterion/criterion.h>
#include <string.h>

#include "lock-test.h"

static void
init (void)
{
   mongoc_init ();
}
static void
fini (void)
{
   mongoc_cleanup ();
}
TestSuite (lease, .init = init, .fini = fini, .timeout = 60);

static mongolock_lock_t *
lock_with_events (mongolock_client_t *c, int64_t lease, bool renew, lt_events_t *ev)
{
   bson_error_t error;
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   cr_assert (mongolock_lock_opts_set_lease_ms (o, lease, &error));
   mongolock_lock_opts_set_wait_ms (o, 0, NULL);
   mongolock_lock_opts_set_auto_renew (o, renew);
   mongolock_lock_opts_set_event_callback (o, lt_events_cb, ev);
   mongolock_lock_t *l = mongolock_lock_new (c, "k", o, &error);
   mongolock_lock_opts_destroy (o);
   cr_assert (l);
   return l;
}

Test (lease, auto_renewal_keeps_a_short_lease_alive)
{
   char *db;
   bson_error_t error;
   mongolock_client_t *c = lt_client (&db);
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_lock_t *a = lock_with_events (c, 300, true, &ev), *b = lt_lock (c, "k", 300, 0, 0);
   cr_assert (lt_try (a));
   /* Hold for several lease lengths, checking on each renewal that b cannot get in. */
   for (int i = 1; i <= 6; i++) {
      cr_assert_geq (lt_events_wait (&ev, MONGOLOCK_EVENT_RENEWED, i, 3000), i, "renewal %d happened", i);
      cr_assert_not (lt_try (b), "renewed lease stolen at renewal %d", i);
      cr_assert (mongolock_lock_is_held (a));
   }
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_LOST), 0);
   cr_assert (mongolock_lock_release (a, &error), "%s", error.message);
   cr_assert (lt_try (b));
   mongolock_lock_destroy (a);
   mongolock_lock_destroy (b);
   lt_cleanup (c, db);
}

Test (lease, lost_lease_is_detected_by_the_renewal_thread)
{
   char *db;
   bson_error_t error;
   mongolock_client_t *c = lt_client (&db);
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_lock_t *a = lock_with_events (c, 600, true, &ev), *b = lt_lock (c, "k", 5000, 0, 0);
   cr_assert (lt_try (a));
   bool was_held = false;
   bson_t prev;
   cr_assert (mongolock_client_force_release (c, "k", &was_held, &prev, &error), "%s", error.message);
   cr_assert (was_held);
   bson_iter_t it;
   cr_assert (bson_iter_init_find (&it, &prev, "owner") && BSON_ITER_HOLDS_UTF8 (&it));
   cr_assert_str_eq (bson_iter_utf8 (&it, NULL), mongolock_lock_owner (a));
   bson_destroy (&prev);
   cr_assert (lt_try (b), "a broken lock is free");
   cr_assert_eq (lt_events_wait (&ev, MONGOLOCK_EVENT_LOST, 1, 5000), 1, "LOST fired");
   cr_assert_eq (ev.last_error_code, MONGOLOCK_ERROR_LOST);
   cr_assert_not (mongolock_lock_is_held (a));
   cr_assert_not (mongolock_lock_release (a, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_LOST);
   char *holder;
   cr_assert (mongolock_lock_get_holder (b, &holder, NULL, &error));
   cr_assert_str_eq (holder, mongolock_lock_owner (b));
   bson_free (holder);
   mongolock_lock_destroy (a);
   mongolock_lock_destroy (b);
   lt_cleanup (c, db);
}

/* A lease that expired on the server is not renewed, even though nobody took it: renewal
 * requires a live lease by the server's clock ($expr with $$NOW). The document's expiry is
 * moved into the past directly, as a server clock jump or a long pause would. */
Test (lease, renewal_refuses_a_lease_expired_on_the_server)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_lock_t *a = lock_with_events (c, 900, true, &ev);
   cr_assert (lt_try (a));
   mongoc_client_t *mc = mltest_client ();
   char *cmd = bson_strdup_printf ("{'update': '%s', 'updates': [{'q': {'_id': 'k'}, 'u': {'$set': {'expiresAt': "
                                   "{'$date': '2000-01-01T00:00:00Z'}}}}]}",
                                   MONGOLOCK_DEFAULT_COLLECTION);
   mltest_cmd_ok (mc, db, cmd, NULL);
   bson_free (cmd);
   cr_assert_eq (lt_events_wait (&ev, MONGOLOCK_EVENT_LOST, 1, 5000), 1, "renewal refused an expired lease");
   cr_assert_not (mongolock_lock_is_held (a));
   mongoc_client_destroy (mc);
   mongolock_lock_destroy (a);
   lt_cleanup (c, db);
}

static int64_t
take (mongolock_lock_t *l)
{
   cr_assert (lt_try (l));
   return mongolock_lock_token (l);
}

Test (lease, tokens_strictly_increase_across_release_takeover_and_deletion)
{
   char *db;
   bson_error_t error;
   mongolock_client_t *c = lt_client (&db);
   mongolock_lock_t *a = lt_lock (c, "k", 200, 0, 0), *b = lt_lock (c, "k", 200, 0, 0);
   int64_t last = 0;
   for (int i = 0; i < 5; i++) {
      int64_t t = take (i % 2 ? a : b);
      cr_assert_gt (t, last, "release #%d", i);
      last = t;
      cr_assert (mongolock_lock_release (i % 2 ? a : b, &error));
   }
   /* Takeover of an expired lease. */
   take (a);
   last = mongolock_lock_token (a);
   int64_t start = mltest_now_ms ();
   while (!lt_try (b)) {
      mltest_sleep_ms (20);
      cr_assert_lt (mltest_now_ms () - start, 5000);
   }
   cr_assert_gt (mongolock_lock_token (b), last, "takeover");
   last = mongolock_lock_token (b);
   cr_assert (mongolock_lock_release (b, &error));
   /* The TTL index deleting the document (done directly here: TTL runs at most once a
    * minute) must not reset the sequence. */
   mongoc_client_t *mc = mltest_client ();
   char *cmd = bson_strdup_printf ("{'delete': '%s', 'deletes': [{'q': {'_id': 'k'}, 'limit': 1}]}", MONGOLOCK_DEFAULT_COLLECTION);
   bson_t reply;
   mltest_cmd_ok (mc, db, cmd, &reply);
   bson_iter_t it;
   cr_assert (bson_iter_init_find (&it, &reply, "n") && bson_iter_as_int64 (&it) == 1, "document deleted");
   bson_destroy (&reply);
   bson_free (cmd);
   cr_assert_gt (take (a), last, "after deletion");
   mongoc_client_destroy (mc);
   mongolock_lock_destroy (a);
   mongolock_lock_destroy (b);
   lt_cleanup (c, db);
}

Test (lease, fenced_write_rejects_a_stale_holder)
{
   char *db;
   bson_error_t error;
   mongolock_client_t *c = lt_client (&db);
   mongolock_lock_t *a = lt_lock (c, "k", 200, 0, 0), *b = lt_lock (c, "k", 5000, 0, 0);
   mongoc_client_t *mc = mltest_client ();
   mongoc_collection_t *coll = mongoc_client_get_collection (mc, db, "accounts");
   bson_t *sel = mltest_bson ("{'_id': 'acct'}");
   mltest_cmd_ok (mc, db, "{'insert': 'accounts', 'documents': [{'_id': 'acct', 'owner': 'nobody'}]}", NULL);
   int64_t ta = take (a);
   /* a pauses past its lease; b takes over and writes. */
   int64_t start = mltest_now_ms ();
   while (!lt_try (b)) {
      mltest_sleep_ms (20);
      cr_assert_lt (mltest_now_ms () - start, 5000);
   }
   bool applied = false;
   bson_t *upd_b = mltest_bson ("{'$set': {'owner': 'b'}}");
   cr_assert (mongolock_fenced_update_one (coll, sel, upd_b, "fence", mongolock_lock_token (b), NULL, &applied, &error),
              "%s", error.message);
   cr_assert (applied, "the current holder's write applies");
   bson_t *upd_a = mltest_bson ("{'$set': {'owner': 'a'}}");
   cr_assert (mongolock_fenced_update_one (coll, sel, upd_a, "fence", ta, NULL, &applied, &error));
   cr_assert_not (applied, "the stale holder's late write is rejected");
   bson_t *upsert = mltest_bson ("{'upsert': true}");
   cr_assert_not (mongolock_fenced_update_one (coll, sel, upd_a, "fence", ta, upsert, &applied, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   mongoc_cursor_t *cur = mongoc_collection_find_with_opts (coll, sel, NULL, NULL);
   const bson_t *doc;
   cr_assert (mongoc_cursor_next (cur, &doc));
   bson_iter_t it;
   cr_assert (bson_iter_init_find (&it, doc, "owner"));
   cr_assert_str_eq (bson_iter_utf8 (&it, NULL), "b");
   cr_assert (bson_iter_init_find (&it, doc, "fence"));
   cr_assert_eq (bson_iter_int64 (&it), mongolock_lock_token (b));
   mongoc_cursor_destroy (cur);
   bson_destroy (sel);
   bson_destroy (upd_a);
   bson_destroy (upd_b);
   bson_destroy (upsert);
   mongoc_collection_destroy (coll);
   mongoc_client_destroy (mc);
   mongolock_lock_destroy (a);
   mongolock_lock_destroy (b);
   lt_cleanup (c, db);
}

Test (lease, list_locks_shows_held_and_expired_by_server_clock)
{
   char *db;
   bson_error_t error;
   mongolock_client_t *c = lt_client (&db);
   mongolock_lock_t *live = lt_lock (c, "jobs/a", 60000, 0, 0), *dead = lt_lock (c, "jobs/b", 100, 0, 0),
                    *other = lt_lock (c, "other", 60000, 0, 0);
   cr_assert (lt_try (live) && lt_try (dead) && lt_try (other));
   mltest_sleep_ms (300);
   bson_t locks;
   cr_assert (mongolock_client_list_locks (c, "jobs/", 0, &locks, &error), "%s", error.message);
   cr_assert_eq (bson_count_keys (&locks), 2, "prefix filter");
   bson_iter_t it, d;
   int seen = 0;
   bson_iter_init (&it, &locks);
   while (bson_iter_next (&it)) {
      bson_t doc;
      uint32_t len;
      const uint8_t *data;
      bson_iter_document (&it, &len, &data);
      bson_init_static (&doc, data, len);
      cr_assert (bson_iter_init_find (&d, &doc, "key"));
      bool is_live = strcmp (bson_iter_utf8 (&d, NULL), "jobs/a") == 0;
      cr_assert (bson_iter_init_find (&d, &doc, "held") && BSON_ITER_HOLDS_BOOL (&d));
      cr_assert_eq (bson_iter_bool (&d), is_live);
      cr_assert (bson_iter_init_find (&d, &doc, "remainingMs"));
      int64_t rem = bson_iter_as_int64 (&d);
      cr_assert (is_live ? rem > 50000 : rem <= 0, "remainingMs %" PRId64, rem);
      cr_assert (bson_iter_init_find (&d, &doc, "token") && bson_iter_as_int64 (&d) > 0);
      seen++;
   }
   cr_assert_eq (seen, 2);
   bson_destroy (&locks);
   cr_assert (mongolock_client_list_locks (c, NULL, 1, &locks, &error));
   cr_assert_eq (bson_count_keys (&locks), 1, "limit");
   bson_destroy (&locks);
   /* Regex metacharacters in a prefix are literal. */
   cr_assert (mongolock_client_list_locks (c, "jobs.*", 0, &locks, &error));
   cr_assert_eq (bson_count_keys (&locks), 0);
   bson_destroy (&locks);
   bool was_held = true;
   bson_t prev;
   cr_assert (mongolock_client_force_release (c, "jobs/b", &was_held, &prev, &error));
   cr_assert_not (was_held, "an expired lease was not held");
   bson_destroy (&prev);
   cr_assert (mongolock_client_force_release (c, "missing", &was_held, &prev, &error));
   cr_assert_not (was_held);
   cr_assert (bson_empty (&prev));
   bson_destroy (&prev);
   mongolock_lock_destroy (live);
   mongolock_lock_destroy (dead);
   mongolock_lock_destroy (other);
   lt_cleanup (c, db);
}

static void
count_started (const mongoc_apm_command_started_t *event)
{
   int *n = mongoc_apm_command_started_get_context (event);
   const char *name = mongoc_apm_command_started_get_command_name (event);
   if (strcmp (name, "findAndModify") == 0) {
      n[0]++;
   } else if (strcmp (name, "update") == 0) {
      n[1]++;
   } else {
      n[2]++;
   }
}

Test (lease, uncontended_acquire_and_release_are_one_command_each)
{
   bson_error_t error;
   char *db = mltest_db_name ("rt");
   mongoc_uri_t *uri = mongoc_uri_new (mltest_uri ());
   mongoc_client_pool_t *pool = mongoc_client_pool_new (uri);
   int counts[3] = {0};
   mongoc_apm_callbacks_t *cbs = mongoc_apm_callbacks_new ();
   mongoc_apm_set_command_started_cb (cbs, count_started);
   mongoc_client_pool_set_apm_callbacks (pool, cbs, counts);
   mongolock_client_opts_t *o = mongolock_client_opts_new ();
   mongolock_client_opts_set_database (o, db, NULL);
   mongolock_client_t *c = mongolock_client_new_from_pool (pool, o, &error);
   mongolock_client_opts_destroy (o);
   mongolock_lock_t *l = lt_lock (c, "k", 5000, 0, 0);
   for (int i = 0; i < 20; i++) {
      cr_assert (lt_try (l));
      cr_assert (mongolock_lock_release (l, &error));
   }
   /* One findAndModify per acquire and one per release (retryable on a replica set). */
   cr_assert_eq (counts[0], 40, "one findAndModify per acquire and per release (%d)", counts[0]);
   cr_assert_eq (counts[1], 0, "no update command");
   cr_assert_eq (counts[2], 0, "nothing else");
   mongolock_lock_destroy (l);
   mongolock_client_destroy (c);
   mongoc_client_t *mc = mongoc_client_pool_pop (pool);
   mltest_drop_db (mc, db);
   mongoc_client_pool_push (pool, mc);
   mongoc_client_pool_destroy (pool);
   mongoc_apm_callbacks_destroy (cbs);
   mongoc_uri_destroy (uri);
   bson_free (db);
}

/* More locks than one cursor batch (101): every getMore must run in the session that
 * opened the cursor, or a real server refuses it (50738). */
Test (lease, list_locks_reads_past_the_first_batch)
{
   enum { N = 250 };
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_lock_t *locks[N];
   for (int i = 0; i < N; i++) {
      char key[32];
      snprintf (key, sizeof key, "%s/%03d", i % 2 ? "odd" : "even", i);
      locks[i] = lt_lock (c, key, 30000, 0, 0);
      cr_assert (lt_try (locks[i]));
   }
   bson_t all, odd;
   bson_error_t error;
   cr_assert (mongolock_client_list_locks (c, NULL, 0, &all, &error), "%s", error.message);
   cr_assert_eq (bson_count_keys (&all), N);
   cr_assert (mongolock_client_list_locks (c, "odd/", 0, &odd, &error), "%s", error.message);
   cr_assert_eq (bson_count_keys (&odd), N / 2);
   /* Sorted by key, every one held. */
   bson_iter_t it, f;
   char prev[32] = "";
   cr_assert (bson_iter_init (&it, &all));
   while (bson_iter_next (&it)) {
      cr_assert (bson_iter_recurse (&it, &f) && bson_iter_find (&f, "key"));
      const char *k = bson_iter_utf8 (&f, NULL);
      cr_assert_gt (strcmp (k, prev), 0, "%s after %s", k, prev);
      snprintf (prev, sizeof prev, "%s", k);
      cr_assert (bson_iter_recurse (&it, &f) && bson_iter_find (&f, "held") && bson_iter_bool (&f));
   }
   bson_destroy (&all);
   bson_destroy (&odd);
   for (int i = 0; i < N; i++) {
      mongolock_lock_destroy (locks[i]);
   }
   lt_cleanup (c, db);
}
