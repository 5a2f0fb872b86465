/* SPDX-License-Identifier: Apache-2.0 */
/* Step-down of a one-member replica set: replSetStepDown with force makes the member a
 * secondary for the requested seconds, then it elects itself again in a new term. One
 * test, run in order: a step-down affects every client of the server, so against a shared
 * real MongoDB run this binary alone. On a standalone, replSetStepDown fails 76.
 *
 * References (MongoDB 7.0):
 * - src/mongo/db/repl/repl_set_commands.cpp CmdReplSetStepDown (a ReplSetCommand: admin
 *   only, 13; not a replica set: 76 NoReplicationEnabled "not running with --replSet"):
 *   a negative period 2; secondaryCatchUpPeriodSecs defaults to 10 (0 with force) and a
 *   period shorter than it fails 2 "stepdown period must be longer than
 *   secondaryCatchUpPeriodSecs".
 * - replication_coordinator_impl.cpp stepDown: on a non-primary 10107 "not primary so
 *   can't step down"; no electable secondary caught up by the end of the catch-up period:
 *   262 ExceededTimeLimit "No electable secondaries caught up as of ..."; with force the
 *   node steps down; _handleTimePassing lets a single-node set elect itself again when
 *   the period is over (a new term, so a new electionId: OID::fromTerm).
 * - manual "replSetStepDown" (Behavior): since 4.2 the step-down does not close client
 *   connections; it kills in-progress writes. SERVER-38512: an unacknowledged write
 *   (moreToCome) to a non-primary closes the connection.
 * - service_entry_point_common.cpp: on a secondary, writes fail 10107 NotWritablePrimary
 *   and reads without secondaryOk 13435 NotPrimaryNoSecondaryOk (both RetriableError, so
 *   a retryable write gets RetryableWriteError: error_labels.cpp).
 * - hello on a secondary: isWritablePrimary false, secondary true; a topology change
 *   answers a waiting awaitable hello (awaitHelloResponse). */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "rs-helpers.h"

TestSuite (stepdown, .init = conf_init, .fini = conf_fini, .timeout = 240);

static bool
cmd_code (int fd, const char *db, const char *json, int32_t code)
{
   bson_t r;
   bool ok = rs_raw (fd, db, NULL, -1, json, &r);
   char *s = conf_json (&r);
   cr_assert_not (ok, "%s succeeded: %s", json, s);
   cr_assert_eq (conf_int (&r, "code"), code, "%s: expected %d: %s", json, code, s);
   bson_free (s);
   bson_destroy (&r);
   return true;
}

Test (stepdown, step_down_then_reelection)
{
   mongoc_client_t *c = mltest_client ();
   int fd = conf_raw_connect ();
   if (!rs_is_replset (c)) {
      cmd_code (fd, "admin", "{'replSetStepDown': 5, 'force': true}", 76);
      close (fd);
      mongoc_client_destroy (c);
      cr_skip_test ("standalone: replSetStepDown refused with 76 (checked)");
   }
   char *db = mltest_db_name ("sd");
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   cmd_code (fd, db, "{'replSetStepDown': 5, 'force': true}", 13);
   cmd_code (fd, "admin", "{'replSetStepDown': -1, 'force': true}", 2);
   cmd_code (fd, "admin", "{'replSetStepDown': 5}", 2); /* catch-up 10 > 5 */

   /* Without force, a one-member set has no secondary to catch up: 262 after the
    * catch-up period, and it is still primary. */
   int64_t t0 = mltest_now_ms ();
   cmd_code (fd, "admin", "{'replSetStepDown': 3, 'secondaryCatchUpPeriodSecs': 1}", 262);
   cr_assert (mltest_now_ms () - t0 >= 900, "262 before the catch-up period");
   cr_assert (rs_wait_primary (c, 30000), "not primary after a failed step-down");

   bson_t h0;
   cr_assert (rs_raw (fd, "admin", NULL, -1, "{'hello': 1}", &h0));
   bson_iter_t it;
   cr_assert (conf_find (&h0, "electionId", &it));
   bson_oid_t election0;
   bson_oid_copy (bson_iter_oid (&it), &election0);
   int64_t counter0 = conf_int64 (&h0, "topologyVersion.counter");

   /* An awaitable hello waiting on another connection is answered by the step-down. */
   int waiter = conf_raw_connect ();
   bson_t tv;
   conf_doc (&h0, "topologyVersion", &tv);
   bson_t *await = BCON_NEW ("hello", BCON_INT32 (1), "topologyVersion", BCON_DOCUMENT (&tv), "maxAwaitTimeMS",
                             BCON_INT64 (60000), "$db", BCON_UTF8 ("admin"));
   size_t len;
   uint8_t *msg = conf_op_msg (901, await, &len);
   cr_assert (conf_raw_send (waiter, msg, len));
   bson_free (msg);
   bson_destroy (await);

   bson_t r;
   t0 = mltest_now_ms ();
   bool closed;
   bool ok = rs_raw_maybe (fd, "admin", NULL, -1, "{'replSetStepDown': 5, 'force': true}", &r, &closed);
   cr_assert (ok || closed, "replSetStepDown with force failed");
   bson_destroy (&r);
   if (closed) { /* servers before 4.2 hung up here */
      close (fd);
      fd = conf_raw_connect ();
   }

   uint8_t *in = NULL;
   size_t in_len = 0;
   cr_assert_eq (conf_raw_recv (waiter, 10000, &in, &in_len), 1, "the waiting hello was not answered by the step-down");
   cr_assert (mltest_now_ms () - t0 < 4000, "the waiting hello was answered only %lld ms after the step-down",
              (long long) (mltest_now_ms () - t0));
   bson_t hw;
   int32_t rt, op;
   cr_assert (conf_parse_reply (in, in_len, &hw, &rt, &op));
   cr_assert (conf_int64 (&hw, "topologyVersion.counter") > counter0);
   bson_destroy (&hw);
   bson_free (in);
   close (waiter);

   bson_t h1;
   cr_assert (rs_raw (fd, "admin", NULL, -1, "{'hello': 1}", &h1));
   cr_assert_not (conf_bool (&h1, "isWritablePrimary"));
   cr_assert (conf_bool (&h1, "secondary"));
   cr_assert_eq (conf_type (&h1, "primary"), BSON_TYPE_EOD, "a lone secondary names a primary");
   bson_destroy (&h1);

   /* Writes fail 10107 (labelled when retryable), reads need secondaryOk, a second
    * step-down is refused. */
   char *ins = bson_strdup_printf ("{'insert': 'c', 'documents': [{'_id': 2}]}");
   cmd_code (fd, db, ins, 10107);
   bson_t lsid;
   rs_lsid (&lsid);
   cr_assert_not (rs_raw (fd, db, &lsid, 1, ins, &r));
   cr_assert_eq (conf_int (&r, "code"), 10107);
   cr_assert_str_eq (conf_str (&r, "codeName"), "NotWritablePrimary");
   cr_assert (rs_has_label (&r, "RetryableWriteError"), "10107 on a retryable write without RetryableWriteError");
   bson_destroy (&r);
   cmd_code (fd, db, "{'find': 'c'}", 13435);
   cr_assert (rs_raw (fd, db, NULL, -1, "{'find': 'c', '$readPreference': {'mode': 'primaryPreferred'}}", &r),
              "a secondaryOk read on a secondary");
   bson_destroy (&r);
   cmd_code (fd, "admin", "{'replSetStepDown': 5, 'force': true}", 10107);

   /* An unacknowledged write to a secondary closes the connection. */
   int unack = conf_raw_connect ();
   bson_t *w = BCON_NEW ("insert", BCON_UTF8 ("c"), "documents", "[", "{", "_id", BCON_INT32 (3), "}", "]", "$db",
                         BCON_UTF8 (db), "writeConcern", "{", "w", BCON_INT32 (0), "}");
   msg = conf_op_msg (902, w, &len);
   uint32_t flags = 2u; /* moreToCome */
   memcpy (msg + 16, &flags, 4);
   cr_assert (conf_raw_send (unack, msg, len));
   bson_free (msg);
   bson_destroy (w);
   cr_assert_eq (conf_raw_recv (unack, 10000, &in, &in_len), 0, "an unacknowledged write to a secondary kept the connection");
   close (unack);

   /* Re-elected after the period (a real set may take a few seconds more), in a new term. */
   cr_assert (rs_wait_primary (c, 60000), "not primary again within 60 s");
   cr_assert (mltest_now_ms () - t0 >= 4500, "primary again before the step-down period ended");
   bson_t h2;
   cr_assert (rs_raw (fd, "admin", NULL, -1, "{'hello': 1}", &h2));
   cr_assert (conf_find (&h2, "electionId", &it));
   cr_assert (bson_oid_compare (bson_iter_oid (&it), &election0) > 0, "the new electionId is not greater");
   cr_assert (conf_int64 (&h2, "topologyVersion.counter") > counter0);
   bson_destroy (&h2);
   conf_ok (c, db, ins, NULL); /* the pooled view catches up: libmongoc retries selection */
   cr_assert_eq (conf_count (c, db, "c", NULL), 2);

   bson_free (ins);
   bson_destroy (&lsid);
   bson_destroy (&h0);
   close (fd);
   conf_close (c, db);
}
