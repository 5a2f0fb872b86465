/* SPDX-License-Identifier: Apache-2.0 */
/* Live: the lock through the failures replica sets really have (issue 9), injected with
 * MongoDB's own vocabulary: configureFailPoint failCommand (needs enableTestCommands=1)
 * and replSetStepDown. Runs unchanged on the bundled server in replica-set mode
 * (MONGOLOCK_TEST_MODE=replset) and on a real one-member replica set; skips itself on a
 * standalone or without test commands. Every failpoint is scoped to this test's appName.
 *
 * Sources: manual "configureFailPoint" / driver specs' failCommand (src/mongo/db/commands
 * /fail_point_cmd.cpp, commands.cpp shouldActivateFailCommandFailPoint); retryable writes
 * (driver spec "Retryable Writes": one retry on a network error or a RetryableWriteError
 * label, 10107 NotWritablePrimary among them); manual "replSetStepDown". */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "lock-test.h"

TestSuite (replset, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 120);

/* Skips unless the server is a replica-set primary that accepts test commands. */
static void
need_replset_with_failpoints (void)
{
   mltest_failpoints_exclusive (); /* first: another test's step-down would hide the primary */
   mongoc_client_t *c = mltest_client ();
   bson_t reply;
   bson_error_t error;
   bool ok = mltest_cmd (c, "admin", "{'hello': 1}", &reply, &error);
   bson_iter_t it;
   bool rs = ok && bson_iter_init_find (&it, &reply, "setName");
   bson_destroy (&reply);
   bool fp = rs && mltest_cmd (c, "admin", "{'configureFailPoint': 'failCommand', 'mode': 'off'}", &reply, &error);
   if (rs) {
      bson_destroy (&reply);
   }
   mongoc_client_destroy (c);
   if (!rs) {
      cr_skip_test ("not a replica set");
   }
   if (!fp) {
      cr_skip_test ("configureFailPoint refused (%s): enableTestCommands is off", error.message);
   }
}

static void
failpoint (const char *mode_json, const char *data_json)
{
   mongoc_client_t *c = mltest_client ();
   char *cmd = bson_strdup_printf ("{'configureFailPoint': 'failCommand', 'mode': %s, 'data': %s}", mode_json, data_json);
   mltest_cmd_ok (c, "admin", cmd, NULL);
   bson_free (cmd);
   mongoc_client_destroy (c);
}

static void
failpoint_off (void)
{
   mongoc_client_t *c = mltest_client ();
   mltest_cmd_ok (c, "admin", "{'configureFailPoint': 'failCommand', 'mode': 'off'}", NULL);
   mongoc_client_destroy (c);
}

/* A lock client with its own appName (failpoints target it alone). heartbeatFrequencyMS
 * 500: after a NotWritablePrimary the driver waits for its monitor's next check before it
 * retries, which is heartbeatFrequencyMS (10 s) away when the topology did not change. */
static mongolock_client_t *
app_client (const char *app, const char *db, int64_t timeout_ms)
{
   const char *base = mltest_uri ();
   char *uri = bson_strdup_printf ("%s%sappName=%s&heartbeatFrequencyMS=500", base, strchr (base, '?') ? "&" : "/?", app);
   mongolock_client_t *c = lt_client_timeout_at (uri, db, timeout_ms);
   bson_free (uri);
   return c;
}

/* One failure of each retryable kind on acquire, renew and release: the driver's retry
 * lands once, so the call succeeds, no lease is left behind, nobody else holds the lock
 * at the same time, and tokens keep increasing. */
static void
one_retryable_failure_each (const char *failure)
{
   need_replset_with_failpoints ();
   char *db = mltest_db_name ("rsretry");
   mongolock_client_t *c = app_client ("mlt-rs-retry", db, 0);
   mongolock_client_t *other = app_client ("mlt-rs-other", db, 0);
   mongolock_lock_t *a = lt_lock (c, "k", 20000, 0, 0);
   mongolock_lock_t *b = lt_lock (other, "k", 20000, 0, 0);
   bson_error_t error;
   int64_t prev = 0;
   const char *commands[] = {"findAndModify", "update"};
   for (int round = 0; round < 6; round++) {
      char *data = bson_strdup_printf ("{'failCommands': ['%s'], 'appName': 'mlt-rs-retry', %s}",
                                       commands[round % 2], failure);
      failpoint ("{'times': 1}", data);
      bson_free (data);
      cr_assert (lt_try (a), "round %d: the retried acquire did not take a free lock", round);
      cr_assert_gt (mongolock_lock_token (a), prev, "round %d: token did not increase", round);
      prev = mongolock_lock_token (a);
      cr_assert_not (lt_try (b), "round %d: two holders", round);
      if (round % 2 == 1) { /* the failpoint hit the release's update last time: renew now */
         data = bson_strdup_printf ("{'failCommands': ['update'], 'appName': 'mlt-rs-retry', %s}", failure);
         failpoint ("{'times': 1}", data);
         bson_free (data);
         cr_assert (mongolock_lock_renew (a, &error), "round %d: renew: %s", round, error.message);
      }
      data = bson_strdup_printf ("{'failCommands': ['update'], 'appName': 'mlt-rs-retry', %s}", failure);
      failpoint ("{'times': 1}", data);
      bson_free (data);
      cr_assert (mongolock_lock_release (a, &error), "round %d: release: %s", round, error.message);
      /* No orphan lease: the other client gets it at once, with a larger token. */
      cr_assert (lt_try (b), "round %d: the lock was left held after a retried release", round);
      cr_assert_gt (mongolock_lock_token (b), prev);
      prev = mongolock_lock_token (b);
      cr_assert (mongolock_lock_release (b, &error), "%s", error.message);
   }
   failpoint_off ();
   mongolock_lock_destroy (a);
   mongolock_lock_destroy (b);
   mongolock_client_destroy (other);
   lt_cleanup (c, db);
}

Test (replset, close_connection_once_is_retried_once)
{
   one_retryable_failure_each ("'closeConnection': true");
}

Test (replset, not_writable_primary_once_is_retried_once)
{
   one_retryable_failure_each ("'errorCode': 10107");
}

/* A majority write concern that times out on acquire is a failure, never "acquired"; the
 * write may have happened, so another handle finds the lock busy, and the same handle's
 * retry reclaims it (same owner) with the token the write recorded. */
Test (replset, write_concern_error_on_acquire_is_a_failure_reclaimed_by_a_retry)
{
   need_replset_with_failpoints ();
   char *db = mltest_db_name ("rswce");
   mongolock_client_t *c = app_client ("mlt-rs-wce", db, 0);
   mongolock_lock_t *a = lt_lock (c, "k", 20000, 0, 0);
   mongolock_lock_t *b = lt_lock (c, "k", 20000, 0, 0);
   failpoint ("{'times': 1}", "{'failCommands': ['findAndModify'], 'appName': 'mlt-rs-wce', "
                              "'writeConcernError': {'code': 64, 'codeName': 'WriteConcernFailed', "
                              "'errmsg': 'waiting for replication timed out', 'errInfo': {'wtimeout': true}}}");
   bool acquired = true;
   bson_error_t error;
   cr_assert_not (mongolock_lock_try_acquire (a, &acquired, &error), "a writeConcernError reported as success");
   cr_assert_not (acquired);
   cr_assert_eq (error.code, 64, "%s (domain %u)", error.message, error.domain);
   cr_assert_not (mongolock_lock_is_held (a));
   cr_assert_not (lt_try (b), "the write landed: the lock is held for a's owner");
   cr_assert (lt_try (a), "the same handle's retry reclaims its own lease");
   cr_assert_gt (mongolock_lock_token (a), 0);
   cr_assert (mongolock_lock_release (a, &error), "%s", error.message);
   cr_assert (lt_try (b));
   cr_assert_gt (mongolock_lock_token (b), mongolock_lock_token (a));
   failpoint_off ();
   mongolock_lock_destroy (a);
   mongolock_lock_destroy (b);
   lt_cleanup (c, db);
}

/* A server that blocks the acquire's connection for 3 s: the call returns by its wait. */
Test (replset, block_connection_longer_than_the_wait_returns_by_the_deadline)
{
   need_replset_with_failpoints ();
   char *db = mltest_db_name ("rsblock");
   mongolock_client_t *c = app_client ("mlt-rs-block", db, 0);
   mongolock_lock_t *a = lt_lock (c, "k", 20000, 500, 0);
   char *holder = NULL;
   bson_error_t error;
   cr_assert (mongolock_lock_get_holder (a, &holder, NULL, &error), "%s", error.message); /* connect first */
   failpoint ("{'times': 1}", "{'failCommands': ['findAndModify'], 'appName': 'mlt-rs-block', "
                              "'blockConnection': true, 'blockTimeMS': 3000}");
   int64_t t = mltest_now_ms ();
   cr_assert_not (mongolock_lock_acquire (a, &error));
   int64_t took = mltest_now_ms () - t;
   cr_assert_eq (error.domain, MONGOLOCK_ERROR_DOMAIN);
   cr_assert_eq (error.code, MONGOLOCK_ERROR_STORE_TIMEOUT, "%s", error.message);
   cr_assert_leq (took, 1500, "acquire with wait 500 ms blocked %" PRId64 " ms", took);
   failpoint_off ();
   mltest_sleep_ms (3000); /* let the blocked command end before the database is dropped */
   mongolock_lock_destroy (a);
   lt_cleanup (c, db);
}

static void
step_down (int secs)
{
   mongoc_client_t *c = mltest_client ();
   char *cmd = bson_strdup_printf ("{'replSetStepDown': %d, 'force': true}", secs);
   bson_error_t error;
   bson_t reply;
   /* Since 4.2 the step-down keeps idle connections open; the command itself may still
    * see its connection closed: either way the member is a secondary now. */
   (void) mltest_cmd (c, "admin", cmd, &reply, &error);
   bson_destroy (&reply);
   bson_free (cmd);
   mongoc_client_destroy (c);
}

/* A step-down shorter than the lease left: renewals fail while there is no primary, the
 * lease survives, and renewal goes on after the re-election. */
Test (replset, short_step_down_during_a_hold_keeps_the_lease)
{
   need_replset_with_failpoints ();
   char *db = mltest_db_name ("rssd");
   mongolock_client_t *c = app_client ("mlt-rs-sd", db, 0);
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_lock_t *a = lt_renewing_lock (c, "k", 8000, 0, &ev);
   cr_assert (lt_try (a));
   step_down (1);
   cr_assert_geq (lt_events_wait (&ev, MONGOLOCK_EVENT_RENEWED, 2, 15000), 2, "renewal went on after the re-election");
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_LOST), 0, "%s", ev.last_error);
   cr_assert (mongolock_lock_is_held (a));
   mongolock_lock_destroy (a);
   lt_cleanup (c, db);
}

/* A step-down longer than the lease: LOST fires at the lease's end, and nobody else held
 * the lock meanwhile (no primary accepts a write); after the re-election another handle
 * takes it with a larger token. */
Test (replset, long_step_down_during_a_hold_reports_lost)
{
   need_replset_with_failpoints ();
   char *db = mltest_db_name ("rssdl");
   mongolock_client_t *c = app_client ("mlt-rs-sdl", db, 1000);
   lt_events_t ev;
   lt_events_init (&ev);
   bson_error_t error;
   mongolock_lock_t *a = lt_renewing_lock (c, "k", 1500, 0, &ev);
   cr_assert (lt_try (a));
   int64_t t0 = mltest_now_ms ();
   step_down (4);
   cr_assert_eq (lt_events_wait (&ev, MONGOLOCK_EVENT_LOST, 1, 10000), 1, "LOST fired");
   int64_t lost = mltest_now_ms () - t0;
   cr_assert_leq (lost, 1500 + 1000, "LOST %" PRId64 " ms after the step-down of a 1500 ms lease", lost);
   mongolock_lock_t *b = lt_lock (c, "k", 5000, 15000, 0);
   cr_assert (mongolock_lock_acquire (b, &error), "after the re-election: %s", error.message);
   cr_assert_geq (mltest_now_ms () - t0, 1500, "taken before the lease ended");
   cr_assert_gt (mongolock_lock_token (b), mongolock_lock_token (a));
   mongolock_lock_destroy (a);
   mongolock_lock_destroy (b);
   lt_cleanup (c, db);
}

/* A duplicate-key error (E11000, what a concurrent upsert gets) on the acquire is retried
 * at once, whichever error API the application's pool uses: version 2 reports it in
 * MONGOC_ERROR_SERVER, the legacy version in MONGOC_ERROR_QUERY (issue 8, item 10). */
static void
duplicate_key_is_retried_with_error_api (int32_t api)
{
   need_replset_with_failpoints ();
   char *db = mltest_db_name ("rsdup");
   const char *base = mltest_uri ();
   char *uri_s = bson_strdup_printf ("%s%sappName=mlt-rs-dup", base, strchr (base, '?') ? "&" : "/?");
   mongoc_uri_t *uri = mongoc_uri_new (uri_s);
   bson_free (uri_s);
   mongoc_client_pool_t *pool = mongoc_client_pool_new (uri);
   mongoc_uri_destroy (uri);
   cr_assert (mongoc_client_pool_set_error_api (pool, api));
   mongolock_client_opts_t *co = mongolock_client_opts_new ();
   cr_assert (mongolock_client_opts_set_database (co, db, NULL));
   bson_error_t error;
   mongolock_client_t *c = mongolock_client_new_from_pool (pool, co, &error);
   cr_assert (c, "%s", error.message);
   mongolock_client_opts_destroy (co);
   mongolock_lock_t *a = lt_lock (c, "k", 20000, 0, 0);
   failpoint ("{'times': 1}", "{'failCommands': ['findAndModify'], 'appName': 'mlt-rs-dup', 'errorCode': 11000}");
   bool acquired = false;
   cr_assert (mongolock_lock_try_acquire (a, &acquired, &error), "error API %d: %s (domain %u, code %u)", api,
              error.message, error.domain, error.code);
   cr_assert (acquired);
   failpoint_off ();
   cr_assert (mongolock_lock_release (a, &error), "%s", error.message);
   mongolock_lock_destroy (a);
   mongolock_client_destroy (c);
   mongoc_client_t *mc = mongoc_client_pool_pop (pool);
   mltest_drop_db (mc, db);
   mongoc_client_pool_push (pool, mc);
   mongoc_client_pool_destroy (pool);
   bson_free (db);
}

Test (replset, duplicate_key_is_retried_with_the_legacy_error_api)
{
   duplicate_key_is_retried_with_error_api (MONGOC_ERROR_API_VERSION_LEGACY);
}

Test (replset, duplicate_key_is_retried_with_error_api_2)
{
   duplicate_key_is_retried_with_error_api (MONGOC_ERROR_API_VERSION_2);
}
