/* SPDX-License-Identifier: Apache-2.0 */
/* Live: wake-up on release (issue 10). On a replica set a waiter learns of a release from
 * its client's change stream and takes the lock at once, though its backoff is seconds
 * long; on a standalone ($changeStream refused with 40573: manual "Change Streams" >
 * Availability, server error ChangeStreamNotSupported / src/mongo/db/pipeline/
 * document_source_change_stream.cpp assertChangeStreamSupported) it falls back to the
 * backoff and says so in MONGOLOCK_EVENT_WAIT_MODE. Runs in both modes. Failpoints: the
 * driver specs' failCommand (manual "configureFailPoint"), scoped to this test's appName. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "lock-test.h"

TestSuite (wake, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 120);

/* A waiter with a huge backoff: only a wake-up gets it the lock within a second. */
#define BIG_BASE_MS 2000
#define BIG_CAP_MS 5000
/* Release -> the waiter holds it, generous for a loaded machine (the backoff gives 0-2 s,
 * then 0-4 s, so a waiter that only polls misses this in most rounds). */
#define HANDOFF_BOUND_MS 1500

static bool
is_replset (void)
{
   mongoc_client_t *c = mltest_client ();
   bson_t reply;
   bson_error_t error;
   bool ok = mltest_cmd (c, "admin", "{'hello': 1}", &reply, &error);
   bson_iter_t it;
   bool rs = ok && bson_iter_init_find (&it, &reply, "setName");
   bson_destroy (&reply);
   mongoc_client_destroy (c);
   return rs;
}

/* Records the wait-mode events and the attempts of the last ACQUIRED. */
typedef struct {
   pthread_mutex_t mu;
   char mode[32];
   uint32_t why_code;
   int modes;
   int contended;
   int acquired_attempts;
} rec_t;

static void
rec_cb (const mongolock_event_t *event, void *data)
{
   rec_t *r = data;
   pthread_mutex_lock (&r->mu);
   if (mongolock_event_type (event) == MONGOLOCK_EVENT_WAIT_MODE) {
      snprintf (r->mode, sizeof r->mode, "%s", mongolock_event_wait_mode (event));
      r->why_code = mongolock_event_error (event) ? mongolock_event_error (event)->code : 0;
      r->modes++;
   } else {
      cr_assert_null (mongolock_event_wait_mode (event));
   }
   if (mongolock_event_type (event) == MONGOLOCK_EVENT_CONTENDED) {
      r->contended++;
   }
   if (mongolock_event_type (event) == MONGOLOCK_EVENT_ACQUIRED) {
      r->acquired_attempts = mongolock_event_attempts (event);
   }
   pthread_mutex_unlock (&r->mu);
}

static void
rec_init (rec_t *r)
{
   memset (r, 0, sizeof *r);
   pthread_mutex_init (&r->mu, NULL);
}

static mongolock_lock_t *
waiter_lock (mongolock_client_t *c, const char *key, int64_t wait_ms, int64_t base, int64_t cap, rec_t *r)
{
   bson_error_t error;
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   cr_assert (mongolock_lock_opts_set_lease_ms (o, 30000, &error), "%s", error.message);
   cr_assert (mongolock_lock_opts_set_wait_ms (o, wait_ms, &error), "%s", error.message);
   cr_assert (mongolock_lock_opts_set_backoff (o, base, cap, &error), "%s", error.message);
   if (r) {
      mongolock_lock_opts_set_event_callback (o, rec_cb, r);
   }
   mongolock_lock_t *l = mongolock_lock_new (c, key, o, &error);
   cr_assert (l, "%s", error.message);
   mongolock_lock_opts_destroy (o);
   return l;
}

typedef struct {
   mongolock_lock_t *lock;
   _Atomic int64_t got_ms; /* when acquire returned with the lock; 0 before */
   bool ok;
   bson_error_t error;
   bool release_after;
} waiter_t;

static void *
waiter_main (void *arg)
{
   waiter_t *w = arg;
   w->ok = mongolock_lock_acquire (w->lock, &w->error);
   atomic_store (&w->got_ms, mltest_now_ms ());
   if (w->ok && w->release_after) {
      bson_error_t error;
      cr_assert (mongolock_lock_release (w->lock, &error), "%s", error.message);
   }
   return NULL;
}

/* Waits (up to ms) until r has seen a wait-mode event. */
static void
await_mode (rec_t *r, int64_t ms)
{
   int64_t until = mltest_now_ms () + ms;
   for (;;) {
      pthread_mutex_lock (&r->mu);
      int n = r->modes;
      pthread_mutex_unlock (&r->mu);
      if (n > 0 || mltest_now_ms () > until) {
         return;
      }
      mltest_sleep_ms (10);
   }
}

static void
assert_mode (rec_t *r, bool rs)
{
   pthread_mutex_lock (&r->mu);
   if (rs) {
      cr_assert_str_eq (r->mode, "change-stream", "why: %u", r->why_code);
      cr_assert_eq (r->why_code, 0);
   } else {
      cr_assert_str_eq (r->mode, "backoff", "a standalone has no change streams");
      cr_assert_eq (r->why_code, 40573, "the server's reason: %u", r->why_code);
   }
   pthread_mutex_unlock (&r->mu);
}

/* Many rounds: a holder on another client releases while the waiter sleeps; the waiter
 * holds the lock within HANDOFF_BOUND_MS (replica set) or still gets it (standalone). */
Test (wake, handoff_within_bound_after_release)
{
   bool rs = is_replset ();
   char *db;
   mongolock_client_t *holder_c = lt_client (&db);
   mongolock_client_t *waiter_c = lt_client_at (mltest_uri (), db);
   mongolock_lock_t *holder = lt_lock (holder_c, "k", 30000, 0, 0);
   rec_t r;
   rec_init (&r);
   /* Standalone: a backoff small enough for the test to end, the mode still says it. */
   mongolock_lock_t *wl = waiter_lock (waiter_c, "k", 20000, rs ? BIG_BASE_MS : 5, rs ? BIG_CAP_MS : 100, &r);
   bson_error_t error;
   for (int round = 0; round < 6; round++) {
      cr_assert (lt_try (holder), "round %d: the holder takes the free lock", round);
      waiter_t w = {.lock = wl};
      pthread_t t;
      pthread_create (&t, NULL, waiter_main, &w);
      await_mode (&r, 10000);
      mltest_sleep_ms (300); /* the waiter is asleep by now (its first retry included) */
      cr_assert_eq (atomic_load (&w.got_ms), 0, "round %d: the waiter got a held lock", round);
      int64_t released = mltest_now_ms ();
      cr_assert (mongolock_lock_release (holder, &error), "%s", error.message);
      pthread_join (t, NULL);
      cr_assert (w.ok, "round %d: %s", round, w.error.message);
      int64_t handoff = atomic_load (&w.got_ms) - released;
      if (rs) {
         cr_assert_lt (handoff, HANDOFF_BOUND_MS, "round %d: hand-off took %" PRId64 " ms with a %d ms backoff",
                       round, handoff, BIG_BASE_MS);
      }
      assert_mode (&r, rs);
      cr_assert (mongolock_lock_release (wl, &error), "%s", error.message);
   }
   mongolock_lock_destroy (wl);
   mongolock_lock_destroy (holder);
   mongolock_client_destroy (waiter_c);
   lt_cleanup (holder_c, db);
}

/* Releases of another key wake nobody: the waiter's attempts stay at its first one plus
 * the retry after its stream opened, while key "other" is released 20 times. */
Test (wake, other_keys_do_not_wake)
{
   if (!is_replset ()) {
      cr_skip_test ("needs change streams (a replica set)");
   }
   char *db;
   mongolock_client_t *holder_c = lt_client (&db);
   mongolock_client_t *waiter_c = lt_client_at (mltest_uri (), db);
   mongolock_lock_t *holder = lt_lock (holder_c, "mine", 30000, 0, 0);
   mongolock_lock_t *other = lt_lock (holder_c, "other", 30000, 0, 0);
   rec_t r;
   rec_init (&r);
   mongolock_lock_t *wl = waiter_lock (waiter_c, "mine", 30000, BIG_BASE_MS, BIG_CAP_MS, &r);
   cr_assert (lt_try (holder));
   waiter_t w = {.lock = wl};
   pthread_t t;
   pthread_create (&t, NULL, waiter_main, &w);
   await_mode (&r, 10000);
   assert_mode (&r, true);
   mltest_sleep_ms (200);
   pthread_mutex_lock (&r.mu);
   int before = r.contended;
   pthread_mutex_unlock (&r.mu);
   bson_error_t error;
   for (int i = 0; i < 20; i++) {
      cr_assert (lt_try (other));
      cr_assert (mongolock_lock_release (other, &error), "%s", error.message);
      mltest_sleep_ms (20);
   }
   mltest_sleep_ms (300); /* time for wrong wake-ups to show */
   pthread_mutex_lock (&r.mu);
   int after = r.contended;
   pthread_mutex_unlock (&r.mu);
   cr_assert_eq (after, before, "releases of another key woke the waiter (%d attempts)", after - before);
   cr_assert_eq (atomic_load (&w.got_ms), 0);
   cr_assert (mongolock_lock_release (holder, &error), "%s", error.message);
   pthread_join (t, NULL);
   cr_assert (w.ok, "%s", w.error.message);
   cr_assert_leq (r.acquired_attempts, 4, "%d attempts", r.acquired_attempts);
   mongolock_lock_destroy (wl);
   mongolock_lock_destroy (other);
   mongolock_lock_destroy (holder);
   mongolock_client_destroy (waiter_c);
   lt_cleanup (holder_c, db);
}

/* Commands the waiters' client sends, counted by its pool's APM. */
static atomic_int n_aggregate, n_fam, n_getmore;

static void
count_started (const mongoc_apm_command_started_t *event)
{
   const char *name = mongoc_apm_command_started_get_command_name (event);
   if (strcmp (name, "aggregate") == 0) {
      atomic_fetch_add (&n_aggregate, 1);
   } else if (strcmp (name, "findAndModify") == 0) {
      atomic_fetch_add (&n_fam, 1);
   } else if (strcmp (name, "getMore") == 0) {
      atomic_fetch_add (&n_getmore, 1);
   }
}

#define N_SAME 6 /* waiting threads on one key */
#define N_KEYS 4 /* and one waiter on each of these keys */

/* Many waiting threads on one key and on several keys of one client: one stream (one
 * aggregate), and while they wait no polling: each waiter tries at most twice (its first
 * attempt and the retry when the stream opened). */
Test (wake, one_cursor_for_all_waiters)
{
   if (!is_replset ()) {
      cr_skip_test ("needs change streams (a replica set)");
   }
   char *db;
   mongolock_client_t *holder_c = lt_client (&db);
   bson_error_t error;
   mongoc_uri_t *uri = mongoc_uri_new (mltest_uri ());
   mongoc_client_pool_t *pool = mongoc_client_pool_new (uri);
   mongoc_client_pool_set_error_api (pool, MONGOC_ERROR_API_VERSION_2);
   mongoc_apm_callbacks_t *cbs = mongoc_apm_callbacks_new ();
   mongoc_apm_set_command_started_cb (cbs, count_started);
   mongoc_client_pool_set_apm_callbacks (pool, cbs, NULL);
   mongoc_apm_callbacks_destroy (cbs);
   mongolock_client_opts_t *co = mongolock_client_opts_new ();
   cr_assert (mongolock_client_opts_set_database (co, db, &error));
   mongolock_client_t *waiter_c = mongolock_client_new_from_pool (pool, co, &error);
   cr_assert (waiter_c, "%s", error.message);
   mongolock_client_opts_destroy (co);

   char keys[N_KEYS + 1][16];
   mongolock_lock_t *holders[N_KEYS + 1];
   for (int k = 0; k <= N_KEYS; k++) {
      snprintf (keys[k], sizeof keys[k], "key%d", k);
      holders[k] = lt_lock (holder_c, keys[k], 60000, 0, 0);
      cr_assert (lt_try (holders[k]));
   }
   enum { N = N_SAME + N_KEYS };
   waiter_t w[N];
   pthread_t t[N];
   rec_t r[N];
   for (int i = 0; i < N; i++) {
      rec_init (&r[i]);
      const char *key = i < N_SAME ? keys[0] : keys[1 + i - N_SAME];
      w[i] = (waiter_t){.lock = waiter_lock (waiter_c, key, 60000, BIG_BASE_MS, BIG_CAP_MS, &r[i]), .release_after = true};
      pthread_create (&t[i], NULL, waiter_main, &w[i]);
   }
   for (int i = 0; i < N; i++) {
      await_mode (&r[i], 10000);
      assert_mode (&r[i], true);
   }
   mltest_sleep_ms (300);
   int fam0 = atomic_load (&n_fam);
   mltest_sleep_ms (2500); /* everyone waits: no command but the stream's getMores */
   int fam1 = atomic_load (&n_fam);
   cr_assert_eq (fam1, fam0, "waiters polled: %d findAndModify in 2.5 s", fam1 - fam0);
   cr_assert_leq (fam0, 2 * N + 2, "more than two attempts per waiter before the wait: %d", fam0);
   for (int k = 0; k <= N_KEYS; k++) {
      cr_assert (mongolock_lock_release (holders[k], &error), "%s", error.message);
   }
   for (int i = 0; i < N; i++) {
      pthread_join (t[i], NULL);
      cr_assert (w[i].ok, "waiter %d: %s", i, w[i].error.message);
      mongolock_lock_destroy (w[i].lock);
   }
   cr_assert_eq (atomic_load (&n_aggregate), 1, "one change stream for the whole client, saw %d aggregates",
                 atomic_load (&n_aggregate));
   for (int k = 0; k <= N_KEYS; k++) {
      mongolock_lock_destroy (holders[k]);
   }
   mongolock_client_destroy (waiter_c);
   mongoc_client_pool_destroy (pool);
   mongoc_uri_destroy (uri);
   lt_cleanup (holder_c, db);
}

/* Wake-up turned off (mongolock_client_opts_set_wake_on_release): a waiter opens no
 * stream, gets no wait-mode event, polls with its backoff, and still gets the lock. */
Test (wake, turned_off_the_waiter_polls_and_opens_no_stream)
{
   char *db;
   mongolock_client_t *holder_c = lt_client (&db);
   bson_error_t error;
   mongoc_uri_t *uri = mongoc_uri_new (mltest_uri ());
   mongoc_client_pool_t *pool = mongoc_client_pool_new (uri);
   mongoc_client_pool_set_error_api (pool, MONGOC_ERROR_API_VERSION_2);
   mongoc_apm_callbacks_t *cbs = mongoc_apm_callbacks_new ();
   mongoc_apm_set_command_started_cb (cbs, count_started);
   mongoc_client_pool_set_apm_callbacks (pool, cbs, NULL);
   mongoc_apm_callbacks_destroy (cbs);
   mongolock_client_opts_t *co = mongolock_client_opts_new ();
   cr_assert (mongolock_client_opts_set_database (co, db, &error));
   cr_assert (mongolock_client_opts_set_wake_on_release (co, false, &error), "%s", error.message);
   cr_assert_not (mongolock_client_opts_set_wake_on_release (NULL, false, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   mongolock_client_t *waiter_c = mongolock_client_new_from_pool (pool, co, &error);
   cr_assert (waiter_c, "%s", error.message);
   mongolock_client_opts_destroy (co);
   mongolock_lock_t *holder = lt_lock (holder_c, "off", 60000, 0, 0);
   cr_assert (lt_try (holder));
   rec_t r;
   rec_init (&r);
   waiter_t w = {.lock = waiter_lock (waiter_c, "off", 60000, 20, 50, &r), .release_after = true};
   pthread_t t;
   pthread_create (&t, NULL, waiter_main, &w);
   mltest_sleep_ms (1000); /* polling every 50 ms at most: many attempts */
   cr_assert (mongolock_lock_release (holder, &error), "%s", error.message);
   pthread_join (t, NULL);
   cr_assert (w.ok, "%s", w.error.message);
   cr_assert_eq (atomic_load (&n_aggregate), 0, "a change stream was opened: %d aggregates", atomic_load (&n_aggregate));
   cr_assert_eq (atomic_load (&n_getmore), 0);
   cr_assert_gt (r.acquired_attempts, 5, "the waiter did not poll: %d attempts", r.acquired_attempts);
   cr_assert_eq (r.modes, 0, "a wait-mode event (%s) with the wake-up turned off", r.mode);
   mongolock_lock_destroy (w.lock);
   mongolock_lock_destroy (holder);
   mongolock_client_destroy (waiter_c);
   mongoc_client_pool_destroy (pool);
   mongoc_uri_destroy (uri);
   lt_cleanup (holder_c, db);
}

/* Client destroy does not wait long for a watcher blocked in its getMore. */
Test (wake, destroy_returns_promptly)
{
   bool rs = is_replset ();
   char *db;
   mongolock_client_t *holder_c = lt_client (&db);
   mongolock_client_t *waiter_c = lt_client_at (mltest_uri (), db);
   mongolock_lock_t *holder = lt_lock (holder_c, "k", 30000, 0, 0);
   cr_assert (lt_try (holder));
   rec_t r;
   rec_init (&r);
   mongolock_lock_t *wl = waiter_lock (waiter_c, "k", 4000, 20, 100, &r);
   bson_error_t error;
   cr_assert_not (mongolock_lock_acquire (wl, &error), "the lock is held");
   cr_assert_eq (error.code, MONGOLOCK_ERROR_TIMEOUT, "%s", error.message);
   assert_mode (&r, rs);
   mongolock_lock_destroy (wl);
   int64_t t0 = mltest_now_ms ();
   mongolock_client_destroy (waiter_c); /* its stream is open and its getMore waiting */
   int64_t took = mltest_now_ms () - t0;
   cr_assert_lt (took, 3000, "client destroy took %" PRId64 " ms", took);
   mongolock_lock_destroy (holder);
   lt_cleanup (holder_c, db);
}

/* ---- the stream failing under a waiter (replica set with failpoints) ---- */

static void
need_failpoints (void)
{
   if (!is_replset ()) {
      cr_skip_test ("not a replica set");
   }
   mltest_failpoints_exclusive ();
   mongoc_client_t *c = mltest_client ();
   bson_t reply;
   bson_error_t error;
   bool fp = mltest_cmd (c, "admin", "{'configureFailPoint': 'failCommand', 'mode': 'off'}", &reply, &error);
   bson_destroy (&reply);
   mongoc_client_destroy (c);
   if (!fp) {
      cr_skip_test ("configureFailPoint refused (%s): enableTestCommands is off", error.message);
   }
}

static void
failpoint (const char *json)
{
   mongoc_client_t *c = mltest_client ();
   mltest_cmd_ok (c, "admin", json, NULL);
   mongoc_client_destroy (c);
}

static mongolock_client_t *
app_client (const char *db, const char *app)
{
   const char *base = mltest_uri ();
   char *uri = bson_strdup_printf ("%s%sappName=%s&heartbeatFrequencyMS=500", base, strchr (base, '?') ? "&" : "/?", app);
   mongolock_client_t *c = lt_client_at (uri, db);
   bson_free (uri);
   return c;
}

/* Runs one wait in which the stream's getMore fails as failpoint_json says; the waiter
 * must end in expect_mode and still get the lock after the release. */
static void
stream_fails (const char *failpoint_json, const char *expect_mode, uint32_t expect_code, int64_t base, int64_t cap,
              int64_t bound_ms)
{
   need_failpoints ();
   char *db;
   mongolock_client_t *holder_c = lt_client (&db);
   mongolock_client_t *waiter_c = app_client (db, "mlt-wake");
   mongolock_lock_t *holder = lt_lock (holder_c, "k", 30000, 0, 0);
   cr_assert (lt_try (holder));
   rec_t r;
   rec_init (&r);
   mongolock_lock_t *wl = waiter_lock (waiter_c, "k", 30000, base, cap, &r);
   waiter_t w = {.lock = wl};
   pthread_t t;
   pthread_create (&t, NULL, waiter_main, &w);
   await_mode (&r, 10000);
   assert_mode (&r, true);
   failpoint (failpoint_json);
   /* The failures take effect at the next getMore (within one await, about a second). */
   int64_t until = mltest_now_ms () + 15000;
   for (;;) {
      pthread_mutex_lock (&r.mu);
      bool seen = strcmp (r.mode, expect_mode) == 0;
      pthread_mutex_unlock (&r.mu);
      if (seen || mltest_now_ms () > until) {
         break;
      }
      mltest_sleep_ms (20);
   }
   mltest_sleep_ms (2500); /* a resumed stream has had time to fail or to resume */
   pthread_mutex_lock (&r.mu);
   cr_assert_str_eq (r.mode, expect_mode);
   cr_assert_eq (r.why_code, expect_code);
   pthread_mutex_unlock (&r.mu);
   bson_error_t error;
   int64_t released = mltest_now_ms ();
   cr_assert (mongolock_lock_release (holder, &error), "%s", error.message);
   pthread_join (t, NULL);
   cr_assert (w.ok, "%s", w.error.message);
   int64_t handoff = atomic_load (&w.got_ms) - released;
   cr_assert_lt (handoff, bound_ms, "hand-off took %" PRId64 " ms", handoff);
   failpoint ("{'configureFailPoint': 'failCommand', 'mode': 'off'}");
   mongolock_lock_destroy (wl);
   mongolock_lock_destroy (holder);
   mongolock_client_destroy (waiter_c);
   lt_cleanup (holder_c, db);
}

/* A resumable error (10107 NotWritablePrimary, driver spec "Change Streams" > Resumable
 * Error) once: libmongoc resumes with the resume token; still woken at once. */
Test (wake, stream_resumes_after_a_resumable_error)
{
   stream_fails ("{'configureFailPoint': 'failCommand', 'mode': {'times': 1}, 'data': {'failCommands': ['getMore'], "
                 "'errorCode': 10107, 'errorLabels': ['ResumableChangeStreamError'], 'appName': 'mlt-wake'}}",
                 "change-stream", 0, BIG_BASE_MS, BIG_CAP_MS, HANDOFF_BOUND_MS);
}

/* getMore fails for good (2 BadValue, not resumable): the waiter falls back to its backoff
 * (mode "backoff", the server's code) and still gets the lock. */
Test (wake, stream_failing_for_good_falls_back_to_backoff)
{
   stream_fails ("{'configureFailPoint': 'failCommand', 'mode': 'alwaysOn', 'data': {'failCommands': ['getMore'], "
                 "'errorCode': 2, 'appName': 'mlt-wake'}}",
                 "backoff", 2, 20, 200, 5000);
}

/* A first wait on a fresh client: the stream is still opening when the waiter chooses its
 * sleep (up to 2 s while opening). If it fails (a standalone) or opens before the waiter
 * is asleep, that change must still end the sleep at once: the waiter then sleeps by its
 * backoff (5..100 ms) or is woken by the release, and takes the lock well within a second
 * of it. Before the fix the change was missed when it came first, and the waiter slept the
 * full 2 s. Several fresh clients, so that the race is hit in both orders. */
Test (wake, a_mode_change_before_the_first_sleep_is_not_missed)
{
   char *db;
   mongolock_client_t *hc = lt_client (&db);
   for (int round = 0; round < 6; round++) {
      mongolock_lock_t *holder = lt_lock (hc, "first", 60000, 0, 0);
      cr_assert (lt_try (holder));
      mongolock_client_t *wc = lt_client_at (mltest_uri (), db);
      waiter_t w = {.lock = waiter_lock (wc, "first", 10000, 5, 100, NULL)};
      pthread_t th;
      cr_assert_eq (pthread_create (&th, NULL, waiter_main, &w), 0);
      mltest_sleep_ms (300); /* the waiter is asleep after its busy answer */
      int64_t released = mltest_now_ms ();
      cr_assert (mongolock_lock_release (holder, NULL));
      pthread_join (th, NULL);
      cr_assert (w.ok, "%s", w.error.message);
      int64_t took = atomic_load (&w.got_ms) - released;
      cr_assert_lt (took, 1200, "round %d: the waiter took the lock %" PRId64 " ms after the release", round, took);
      cr_assert (mongolock_lock_release (w.lock, NULL));
      mongolock_lock_destroy (w.lock);
      mongolock_client_destroy (wc);
      mongolock_lock_destroy (holder);
   }
   lt_cleanup (hc, db);
}
