/* SPDX-License-Identifier: Apache-2.0 */
/* Fault injection as MongoDB does it (MONGODB-RULES 20): configureFailPoint with the
 * failCommand failpoint, which exists only with enableTestCommands=1. Against a server
 * without it the tests check that configureFailPoint is an unknown command (59) and skip.
 * Every failpoint here names the test's own connection by appName, so the tests can share
 * a real server with other tests.
 *
 * References (MongoDB 7.0):
 * - manual "configureFailPoint" (test command; admin database only; mode "alwaysOn",
 *   "off", {times: n}, {skip: n}; reply {count: <times entered>, ok: 1}) and the drivers'
 *   "failCommand" test documentation (data: failCommands, errorCode, errorLabels,
 *   closeConnection, blockConnection, blockTimeMS, writeConcernError, appName).
 * - src/mongo/util/fail_point.cpp FailPoint::parseBSON and setGlobalFailPoint: no mode
 *   20 IllegalOperation, unknown mode 2 BadValue, unknown failpoint 266 FailPointSetFailed.
 * - src/mongo/db/commands.cpp shouldActivateFailCommandFailPoint (configureFailPoint is
 *   never failed; appName must match the connection's handshake) and
 *   evaluateFailCommandFailPoint (errmsg "Failing command via 'failCommand' failpoint";
 *   closeConnection ends the connection without a reply; blockConnection sleeps
 *   blockTimeMS before going on).
 * - src/mongo/db/error_labels.cpp: a retriable code (error_codes.yml RetriableError, e.g.
 *   91 ShutdownInProgress) on a retryable write (lsid + txnNumber) gets the
 *   RetryableWriteError label, also for a writeConcernError; a failpoint's errorLabels
 *   replace the labels the server would add. */
#include <criterion/criterion.h>
#include <unistd.h>

#include "rs-helpers.h"

TestSuite (failpoints, .init = conf_init, .fini = conf_fini, .timeout = 120);

#define NEED_TEST_COMMANDS(c)                                                            \
   do {                                                                                  \
      rs_failpoints_exclusive (); /* before rs_test_commands, which sets mode off */     \
      if (!rs_test_commands (c)) {                                                       \
         mongoc_client_destroy (c);                                                      \
         cr_skip_test ("configureFailPoint is unknown (59): enableTestCommands is off"); \
      }                                                                                  \
   } while (0)

static void
fail_on (mongoc_client_t *c, const char *mode, const char *app, const char *rest)
{
   char *data = bson_strdup_printf ("{'appName': '%s', %s}", app, rest);
   rs_failpoint (c, mode, data);
   bson_free (data);
}

Test (failpoints, configure_fail_point_is_checked)
{
   mongoc_client_t *c = mltest_client ();
   NEED_TEST_COMMANDS (c);
   bson_t r;
   bson_error_t error;
   cr_assert_not (mltest_cmd (c, "test", "{'configureFailPoint': 'failCommand', 'mode': 'off'}", &r, &error));
   cr_assert_eq (error.code, 13, "configureFailPoint outside admin: %u", error.code);
   bson_destroy (&r);
   cr_assert_not (mltest_cmd (c, "admin", "{'configureFailPoint': 'failCommand'}", &r, &error));
   cr_assert_eq (error.code, 20, "no mode: %u", error.code);
   bson_destroy (&r);
   cr_assert_not (mltest_cmd (c, "admin", "{'configureFailPoint': 'failCommand', 'mode': 'sometimes'}", &r, &error));
   cr_assert_eq (error.code, 2, "unknown mode: %u", error.code);
   bson_destroy (&r);
   cr_assert_not (mltest_cmd (c, "admin", "{'configureFailPoint': 'noSuchFailPoint', 'mode': 'off'}", &r, &error));
   cr_assert_eq (error.code, 266, "unknown failpoint: %u", error.code);
   bson_destroy (&r);
   mltest_cmd_ok (c, "admin", "{'configureFailPoint': 'failCommand', 'mode': 'off'}", &r);
   conf_int (&r, "count");
   bson_destroy (&r);
   mongoc_client_destroy (c);
}

Test (failpoints, error_code_times_and_skip)
{
   mongoc_client_t *c = mltest_client ();
   NEED_TEST_COMMANDS (c);
   char *db = mltest_db_name ("fpe");
   char *app = rs_app_name ("fpe");
   int fd = rs_connect_app (app);
   int other = rs_connect_app ("someone-else");
   fail_on (c, "{'times': 2}", app, "'failCommands': ['insert'], 'errorCode': 2");
   bson_t r;
   for (int i = 0; i < 2; i++) {
      cr_assert_not (rs_raw (fd, db, NULL, -1, "{'insert': 'c', 'documents': [{'f': 1}]}", &r));
      cr_assert_eq (conf_int (&r, "code"), 2);
      cr_assert_str_eq (conf_str (&r, "errmsg"), "Failing command via 'failCommand' failpoint");
      cr_assert_str_eq (conf_str (&r, "codeName"), "BadValue");
      bson_destroy (&r);
      /* Another connection (another appName) and another command are not failed. */
      cr_assert (rs_raw (other, db, NULL, -1, "{'insert': 'c', 'documents': [{'o': 1}]}", &r),
                 "a failpoint for appName %s failed another application's insert", app);
      bson_destroy (&r);
      cr_assert (rs_raw (fd, db, NULL, -1, "{'find': 'c'}", &r));
      bson_destroy (&r);
   }
   cr_assert (rs_raw (fd, db, NULL, -1, "{'insert': 'c', 'documents': [{'f': 2}]}", &r), "times: 2 failed a third time");
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", "{'f': {'$exists': true}}"), 1, "a failed command wrote");

   /* skip: 1 lets one through, then fails; alwaysOn stays on; aliases match. */
   fail_on (c, "{'skip': 1}", app, "'failCommands': ['findandmodify'], 'errorCode': 91");
   const char *fam = "{'findAndModify': 'c', 'query': {'f': 2}, 'update': {'$set': {'g': 1}}}";
   cr_assert (rs_raw (fd, db, NULL, -1, fam, &r));
   bson_destroy (&r);
   for (int i = 0; i < 2; i++) {
      cr_assert_not (rs_raw (fd, db, NULL, -1, fam, &r));
      cr_assert_eq (conf_int (&r, "code"), 91);
      bson_destroy (&r);
   }
   rs_failpoint_off (c);
   cr_assert (rs_raw (fd, db, NULL, -1, fam, &r));
   bson_destroy (&r);

   /* configureFailPoint itself is never failed. */
   fail_on (c, "'alwaysOn'", app, "'failCommands': ['configureFailPoint', 'ping'], 'errorCode': 2");
   cr_assert_not (rs_raw (fd, "admin", NULL, -1, "{'ping': 1}", &r));
   bson_destroy (&r);
   cr_assert (rs_raw (fd, "admin", NULL, -1, "{'configureFailPoint': 'failCommand', 'mode': 'off'}", &r));
   bson_destroy (&r);
   cr_assert (rs_raw (fd, "admin", NULL, -1, "{'ping': 1}", &r));
   bson_destroy (&r);
   close (fd);
   close (other);
   mltest_drop_db (c, db);
   bson_free (db);
   bson_free (app);
   mongoc_client_destroy (c);
}

Test (failpoints, hello_can_be_failed)
{
   mongoc_client_t *c = mltest_client ();
   NEED_TEST_COMMANDS (c);
   char *app = rs_app_name ("fph");
   int fd = rs_connect_app (app);
   fail_on (c, "{'times': 1}", app, "'failCommands': ['hello', 'isMaster'], 'errorCode': 11600");
   bson_t r;
   cr_assert_not (rs_raw (fd, "admin", NULL, -1, "{'hello': 1}", &r));
   cr_assert_eq (conf_int (&r, "code"), 11600);
   bson_destroy (&r);
   cr_assert (rs_raw (fd, "admin", NULL, -1, "{'hello': 1}", &r));
   bson_destroy (&r);
   close (fd);
   bson_free (app);
   rs_failpoint_off (c);
   mongoc_client_destroy (c);
}

Test (failpoints, close_connection_hangs_up_without_a_reply)
{
   mongoc_client_t *c = mltest_client ();
   NEED_TEST_COMMANDS (c);
   char *app = rs_app_name ("fpc");
   int fd = rs_connect_app (app);
   int other = rs_connect_app ("someone-else");
   fail_on (c, "{'times': 1}", app, "'failCommands': ['ping'], 'closeConnection': true");
   bson_t r;
   bool closed;
   cr_assert_not (rs_raw_maybe (fd, "admin", NULL, -1, "{'ping': 1}", &r, &closed));
   cr_assert (closed, "closeConnection answered instead of hanging up");
   bson_destroy (&r);
   close (fd);
   cr_assert (rs_raw (other, "admin", NULL, -1, "{'ping': 1}", &r), "another connection was affected");
   bson_destroy (&r);
   close (other);
   bson_free (app);
   rs_failpoint_off (c);
   mongoc_client_destroy (c);
}

Test (failpoints, block_connection_delays_only_that_connection)
{
   mongoc_client_t *c = mltest_client ();
   NEED_TEST_COMMANDS (c);
   char *app = rs_app_name ("fpb");
   int fd = rs_connect_app (app);
   int other = rs_connect_app ("someone-else");
   fail_on (c, "{'times': 1}", app, "'failCommands': ['ping'], 'blockConnection': true, 'blockTimeMS': 1500");
   bson_t *ping = BCON_NEW ("ping", BCON_INT32 (1), "$db", BCON_UTF8 ("admin"));
   size_t len;
   uint8_t *msg = conf_op_msg (777, ping, &len);
   int64_t t0 = mltest_now_ms ();
   cr_assert (conf_raw_send (fd, msg, len));
   /* A second request on the same connection is answered after the first: a connection's
    * requests are processed in order. */
   bson_t *ping2 = BCON_NEW ("ping", BCON_INT32 (1), "$db", BCON_UTF8 ("admin"));
   size_t len2;
   uint8_t *msg2 = conf_op_msg (778, ping2, &len2);
   cr_assert (conf_raw_send (fd, msg2, len2));
   bson_free (msg2);
   bson_destroy (ping2);
   /* Meanwhile another connection is answered at once. */
   bson_t r;
   cr_assert (rs_raw (other, "admin", NULL, -1, "{'ping': 1}", &r));
   bson_destroy (&r);
   cr_assert (mltest_now_ms () - t0 < 1000, "another connection waited for the blocked one");
   uint8_t *in = NULL;
   size_t in_len = 0;
   cr_assert_eq (conf_raw_recv (fd, 10000, &in, &in_len), 1);
   int64_t waited = mltest_now_ms () - t0;
   cr_assert (waited >= 1400, "the blocked ping answered after %lld ms", (long long) waited);
   int32_t rt, op;
   cr_assert (conf_parse_reply (in, in_len, &r, &rt, &op));
   cr_assert_eq (rt, 777);
   cr_assert (conf_int (&r, "ok") == 1, "blockConnection without errorCode still runs the command");
   bson_destroy (&r);
   bson_free (in);
   cr_assert_eq (conf_raw_recv (fd, 10000, &in, &in_len), 1);
   cr_assert (conf_parse_reply (in, in_len, &r, &rt, &op));
   cr_assert_eq (rt, 778, "the second request was not answered second");
   bson_destroy (&r);
   bson_free (in);
   /* blockConnection without blockTimeMS fails the command with 72. */
   fail_on (c, "{'times': 1}", app, "'failCommands': ['ping'], 'blockConnection': true");
   cr_assert_not (rs_raw (fd, "admin", NULL, -1, "{'ping': 1}", &r));
   cr_assert_eq (conf_int (&r, "code"), 72);
   bson_destroy (&r);
   bson_free (msg);
   bson_destroy (ping);
   close (fd);
   close (other);
   bson_free (app);
   rs_failpoint_off (c);
   mongoc_client_destroy (c);
}

Test (failpoints, error_labels_and_write_concern_errors)
{
   mongoc_client_t *c = mltest_client ();
   NEED_TEST_COMMANDS (c);
   bool rs = rs_is_replset (c);
   char *db = mltest_db_name ("fpl");
   char *app = rs_app_name ("fpl");
   int fd = rs_connect_app (app);
   bson_t lsid, r;
   rs_lsid (&lsid);
   /* errorLabels given: exactly those. */
   fail_on (c, "{'times': 1}", app, "'failCommands': ['insert'], 'errorCode': 2, 'errorLabels': ['Custom']");
   cr_assert_not (rs_raw (fd, db, NULL, -1, "{'insert': 'c', 'documents': [{}]}", &r));
   cr_assert (rs_has_label (&r, "Custom"));
   bson_destroy (&r);
   /* writeConcernError: the command runs and the error is appended. */
   fail_on (c, "{'times': 1}", app,
            "'failCommands': ['insert'], 'writeConcernError': {'code': 91, 'errmsg': 'Replication is being shut down'}");
   cr_assert (rs_raw (fd, db, NULL, -1, "{'insert': 'c', 'documents': [{'_id': 'wce'}]}", &r));
   cr_assert_eq (conf_int (&r, "writeConcernError.code"), 91);
   cr_assert_eq (conf_int (&r, "n"), 1);
   cr_assert_not (rs_has_label (&r, "RetryableWriteError"), "a write without txnNumber got RetryableWriteError");
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 'wce'}"), 1, "writeConcernError: the write did not happen");
   if (rs) {
      /* A retryable write failing with a retriable code is labelled by the server. */
      fail_on (c, "{'times': 1}", app, "'failCommands': ['insert'], 'errorCode': 91");
      cr_assert_not (rs_raw (fd, db, &lsid, 1, "{'insert': 'c', 'documents': [{}]}", &r));
      cr_assert_eq (conf_int (&r, "code"), 91);
      cr_assert (rs_has_label (&r, "RetryableWriteError"), "no RetryableWriteError on 91 for a retryable write");
      bson_destroy (&r);
      /* ... but not with a non-retriable code, nor when errorLabels says otherwise. */
      fail_on (c, "{'times': 1}", app, "'failCommands': ['insert'], 'errorCode': 2");
      cr_assert_not (rs_raw (fd, db, &lsid, 2, "{'insert': 'c', 'documents': [{}]}", &r));
      cr_assert_not (rs_has_label (&r, "RetryableWriteError"));
      bson_destroy (&r);
      fail_on (c, "{'times': 1}", app, "'failCommands': ['insert'], 'errorCode': 91, 'errorLabels': []");
      cr_assert_not (rs_raw (fd, db, &lsid, 3, "{'insert': 'c', 'documents': [{}]}", &r));
      cr_assert_eq (conf_type (&r, "errorLabels"), BSON_TYPE_EOD, "errorLabels: [] still labelled");
      bson_destroy (&r);
      /* A retriable writeConcernError on a retryable write is labelled too. */
      fail_on (c, "{'times': 1}", app, "'failCommands': ['insert'], 'writeConcernError': {'code': 91, 'errmsg': 'x'}");
      cr_assert (rs_raw (fd, db, &lsid, 4, "{'insert': 'c', 'documents': [{}]}", &r));
      cr_assert (rs_has_label (&r, "RetryableWriteError"), "no RetryableWriteError on a writeConcernError 91");
      bson_destroy (&r);
   }
   bson_destroy (&lsid);
   close (fd);
   rs_failpoint_off (c);
   mltest_drop_db (c, db);
   bson_free (db);
   bson_free (app);
   mongoc_client_destroy (c);
}
