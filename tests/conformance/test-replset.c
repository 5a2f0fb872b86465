/* SPDX-License-Identifier: Apache-2.0 */
/* The deployment as hello describes it, and the awaitable (streaming) hello.
 *
 * References (MongoDB 7.0):
 * - manual "hello" (Output, replica sets): setName, setVersion, hosts, primary, me,
 *   isWritablePrimary, secondary, electionId, lastWrite {opTime, lastWriteDate,
 *   majorityOpTime, majorityWriteDate}; every mongod since 4.4 replies with
 *   topologyVersion {processId: ObjectId, counter: long}.
 * - src/mongo/db/repl/replication_info.cpp (CmdHello): topologyVersion without
 *   maxAwaitTimeMS, or the reverse, fails 31368; a request whose topologyVersion is the
 *   server's current one waits up to maxAwaitTimeMS for a topology change
 *   (replication_coordinator_impl.cpp awaitHelloResponse); a stale one (other processId)
 *   is answered at once.
 * - OP_MSG exhaustAllowed (bit 16; manual "OP_MSG", flagBits) and the drivers' server
 *   monitoring specification ("Streaming protocol"): an awaitable hello sent with
 *   exhaustAllowed is answered with moreToCome (bit 1) set, and the server sends the next
 *   reply without a new request.
 * - $clusterTime {clusterTime: Timestamp, signature {hash: BinData, keyId: long}} and
 *   operationTime (Timestamp) on a replica-set member's replies (manual "Causal
 *   Consistency", drivers' "Driver Sessions" spec: gossiping the cluster time); a
 *   standalone sends neither.
 * - logical_session_id_helpers.cpp initializeOperationSessionInfo: txnNumber without
 *   lsid 72 InvalidOptions (both modes), on a standalone 20; validateSessionOptions: a
 *   txnNumber on a command that is not a retryable write 50768.
 * - manual "Causal Consistency" / read concern afterClusterTime: a read waits until the
 *   member has caught up with the given cluster time; a time this member has not seen
 *   fails 72 InvalidOptions (read_concern_mongod.cpp "must not be greater than the current
 *   clusterTime"), unless a client gossiped it in $clusterTime (VectorClock gossip in).
 * - manual "replSetGetStatus": set, myState (1 primary), term, members[] with name,
 *   state, stateStr, self; admin only (13, a ReplSetCommand); on a standalone 76
 *   NoReplicationEnabled "not running with --replSet" (checkReplEnabledForCommand).
 * - write concern on a one-member set (repl/replica_set_config.cpp
 *   checkIfWriteConcernCanBeSatisfied, called when waiting for the write concern): w
 *   greater than the data-bearing members is 100 UnsatisfiableWriteConcern "Not enough
 *   data-bearing nodes", an unknown mode 79 UnknownReplWriteConcern, both reported as a
 *   writeConcernError after the write happened (drivers' test outputs show nInserted
 *   with that writeConcernError). */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "rs-helpers.h"

TestSuite (replset, .init = conf_init, .fini = conf_fini, .timeout = 120);

Test (replset, hello_describes_the_deployment)
{
   mongoc_client_t *c = mltest_client ();
   int fd = conf_raw_connect ();
   bson_t r;
   cr_assert (rs_raw (fd, "admin", NULL, -1, "{'hello': 1}", &r));
   cr_assert_eq (conf_type (&r, "topologyVersion.processId"), BSON_TYPE_OID);
   cr_assert (conf_int64 (&r, "topologyVersion.counter") >= 0);
   if (conf_type (&r, "setName") == BSON_TYPE_UTF8) {
      cr_log_info ("replica set %s", conf_str (&r, "setName"));
      cr_assert (conf_bool (&r, "isWritablePrimary"));
      cr_assert_not (conf_bool (&r, "secondary"));
      const char *me = conf_str (&r, "me");
      cr_assert_str_eq (conf_str (&r, "primary"), me);
      cr_assert_str_eq (conf_str (&r, "hosts.0"), me);
      cr_assert_eq (conf_type (&r, "electionId"), BSON_TYPE_OID);
      cr_assert (conf_int (&r, "setVersion") >= 1);
      cr_assert_eq (conf_type (&r, "lastWrite.opTime.ts"), BSON_TYPE_TIMESTAMP);
      cr_assert_eq (conf_type (&r, "lastWrite.opTime.t"), BSON_TYPE_INT64);
      cr_assert_eq (conf_type (&r, "lastWrite.majorityOpTime.ts"), BSON_TYPE_TIMESTAMP);
      conf_date (&r, "lastWrite.lastWriteDate");
      conf_date (&r, "lastWrite.majorityWriteDate");
      cr_assert_eq (conf_type (&r, "$clusterTime.clusterTime"), BSON_TYPE_TIMESTAMP);
      cr_assert_eq (conf_type (&r, "$clusterTime.signature.hash"), BSON_TYPE_BINARY);
      cr_assert_eq (conf_type (&r, "$clusterTime.signature.keyId"), BSON_TYPE_INT64);
      cr_assert_eq (conf_type (&r, "operationTime"), BSON_TYPE_TIMESTAMP);
      /* A write moves the cluster time forward; error replies carry it too. */
      bson_t w;
      char *db = mltest_db_name ("rsh");
      cr_assert (rs_raw (fd, db, NULL, -1, "{'insert': 'c', 'documents': [{'_id': 1}]}", &w));
      uint32_t t0, i0, t1, i1;
      bson_iter_t it;
      cr_assert (conf_find (&r, "operationTime", &it));
      bson_iter_timestamp (&it, &t0, &i0);
      cr_assert (conf_find (&w, "operationTime", &it));
      bson_iter_timestamp (&it, &t1, &i1);
      cr_assert (t1 > t0 || (t1 == t0 && i1 > i0), "operationTime did not advance with a write");
      bson_destroy (&w);
      cr_assert_not (rs_raw (fd, db, NULL, -1, "{'find': 'c', 'bogusField': 1}", &w));
      cr_assert_eq (conf_type (&w, "operationTime"), BSON_TYPE_TIMESTAMP);
      cr_assert_eq (conf_type (&w, "$clusterTime.clusterTime"), BSON_TYPE_TIMESTAMP);
      bson_destroy (&w);
      mltest_drop_db (c, db);
      bson_free (db);
   } else {
      cr_log_info ("standalone");
      cr_assert (conf_bool (&r, "isWritablePrimary"));
      cr_assert_eq (conf_type (&r, "hosts"), BSON_TYPE_EOD);
      cr_assert_eq (conf_type (&r, "electionId"), BSON_TYPE_EOD);
      cr_assert_eq (conf_type (&r, "$clusterTime"), BSON_TYPE_EOD);
      cr_assert_eq (conf_type (&r, "operationTime"), BSON_TYPE_EOD);
   }
   bson_destroy (&r);
   close (fd);
   mongoc_client_destroy (c);
}

/* libmongoc (single-threaded and pooled, which streams hellos) sees the server as the
 * deployment type hello says. */
Test (replset, the_driver_sees_the_deployment_type)
{
   mongoc_client_t *c = mltest_client ();
   bool rs = rs_is_replset (c);
   bson_error_t error;
   mongoc_server_description_t *sd = mongoc_client_select_server (c, true, NULL, &error);
   cr_assert (sd, "server selection: %s", error.message);
   cr_assert_str_eq (mongoc_server_description_type (sd), rs ? "RSPrimary" : "Standalone");
   mongoc_server_description_destroy (sd);
   mongoc_client_destroy (c);

   /* A pooled client monitors in the background with the awaitable hello; a short
    * heartbeat makes several rounds happen, and selection keeps working throughout. */
   char *uri_s = bson_strdup_printf ("%s%sheartbeatFrequencyMS=500", mltest_uri (),
                                     strchr (mltest_uri (), '?') ? "&" : "/?");
   mongoc_uri_t *uri = mongoc_uri_new (uri_s);
   cr_assert (uri);
   mongoc_client_pool_t *pool = mongoc_client_pool_new (uri);
   bson_t *ping = BCON_NEW ("ping", BCON_INT32 (1));
   for (int i = 0; i < 6; i++) {
      mongoc_client_t *pc = mongoc_client_pool_pop (pool);
      bson_t r;
      cr_assert (mongoc_client_command_simple (pc, "admin", ping, NULL, &r, &error), "ping %d: %s", i,
                 error.message);
      bson_destroy (&r);
      sd = mongoc_client_select_server (pc, true, NULL, &error);
      cr_assert (sd, "selection %d: %s", i, error.message);
      cr_assert_str_eq (mongoc_server_description_type (sd), rs ? "RSPrimary" : "Standalone");
      mongoc_server_description_destroy (sd);
      mongoc_client_pool_push (pool, pc);
      mltest_sleep_ms (400);
   }
   bson_destroy (ping);
   mongoc_client_pool_destroy (pool);
   mongoc_uri_destroy (uri);
   bson_free (uri_s);
}

Test (replset, awaitable_hello_waits_for_a_topology_change)
{
   int fd = conf_raw_connect ();
   bson_t r, a;
   cr_assert (rs_raw (fd, "admin", NULL, -1, "{'hello': 1}", &r));
   bson_t tv;
   conf_doc (&r, "topologyVersion", &tv);
   char *tvj = bson_as_canonical_extended_json (&tv, NULL); /* counter stays an int64 */
   /* Each without the other: 31368. */
   char *json = bson_strdup_printf ("{'hello': 1, 'topologyVersion': %s}", tvj);
   cr_assert_not (rs_raw (fd, "admin", NULL, -1, json, &a));
   cr_assert_eq (conf_int (&a, "code"), 31368);
   bson_destroy (&a);
   bson_free (json);
   cr_assert_not (rs_raw (fd, "admin", NULL, -1, "{'hello': 1, 'maxAwaitTimeMS': 10}", &a));
   cr_assert_eq (conf_int (&a, "code"), 31368);
   bson_destroy (&a);

   /* The current version: the reply comes after maxAwaitTimeMS (no change happens). */
   json = bson_strdup_printf ("{'hello': 1, 'topologyVersion': %s, 'maxAwaitTimeMS': 700}", tvj);
   int64_t t0 = mltest_now_ms ();
   cr_assert (rs_raw (fd, "admin", NULL, -1, json, &a));
   int64_t waited = mltest_now_ms () - t0;
   cr_assert (waited >= 600, "an awaitable hello for the current topologyVersion answered after %lld ms",
              (long long) waited);
   cr_assert_eq (conf_int64 (&a, "topologyVersion.counter"), conf_int64 (&r, "topologyVersion.counter"));
   bson_destroy (&a);
   bson_free (json);

   /* Another process's version is stale: answered at once. */
   json = bson_strdup_printf (
      "{'hello': 1, 'topologyVersion': {'processId': {'$oid': '000000000000000000000001'}, 'counter': "
      "{'$numberLong': '0'}}, 'maxAwaitTimeMS': 5000}");
   t0 = mltest_now_ms ();
   cr_assert (rs_raw (fd, "admin", NULL, -1, json, &a));
   cr_assert (mltest_now_ms () - t0 < 3000, "a stale topologyVersion waited");
   bson_destroy (&a);
   bson_free (json);
   bson_free (tvj);
   bson_destroy (&r);
   close (fd);
}

Test (replset, exhaust_hello_streams_replies)
{
   int fd = conf_raw_connect ();
   bson_t r;
   cr_assert (rs_raw (fd, "admin", NULL, -1, "{'hello': 1}", &r));
   bson_t tv;
   conf_doc (&r, "topologyVersion", &tv);
   bson_t *body = BCON_NEW ("hello", BCON_INT32 (1), "topologyVersion", BCON_DOCUMENT (&tv), "maxAwaitTimeMS",
                            BCON_INT64 (300), "$db", BCON_UTF8 ("admin"));
   size_t len;
   uint8_t *msg = conf_op_msg (4242, body, &len);
   uint32_t flags = 1u << 16; /* exhaustAllowed */
   memcpy (msg + 16, &flags, 4);
   cr_assert (conf_raw_send (fd, msg, len));
   bson_free (msg);
   int32_t prev = 4242;
   for (int i = 0; i < 3; i++) {
      uint8_t *in = NULL;
      size_t in_len = 0;
      int64_t t0 = mltest_now_ms ();
      int rc = conf_raw_recv (fd, 10000, &in, &in_len);
      cr_assert_eq (rc, 1, "exhaust reply %d missing", i);
      int64_t waited = mltest_now_ms () - t0;
      cr_assert (waited >= 200, "exhaust reply %d came after %lld ms, before maxAwaitTimeMS", i, (long long) waited);
      uint32_t f;
      memcpy (&f, in + 16, 4);
      cr_assert (f & 2u, "exhaust reply %d without moreToCome (flags %x)", i, f);
      bson_t reply;
      int32_t response_to, opcode;
      cr_assert (conf_parse_reply (in, in_len, &reply, &response_to, &opcode));
      cr_assert_eq (response_to, prev, "exhaust reply %d answers %d, not %d", i, response_to, prev);
      memcpy (&prev, in + 4, 4);
      cr_assert (conf_bool (&reply, "isWritablePrimary"));
      bson_destroy (&reply);
      bson_free (in);
   }
   bson_destroy (body);
   bson_destroy (&r);
   close (fd);
}

Test (replset, txn_numbers_need_a_session_and_a_retryable_write)
{
   char *db = mltest_db_name ("rst");
   mongoc_client_t *c = mltest_client ();
   bool rs = rs_is_replset (c);
   int fd = conf_raw_connect ();
   bson_t r;
   cr_assert_not (rs_raw (fd, db, NULL, -1, "{'insert': 'c', 'documents': [{}], 'txnNumber': {'$numberLong': '1'}}", &r));
   cr_assert_eq (conf_int (&r, "code"), 72, "txnNumber without lsid");
   bson_destroy (&r);
   bson_t lsid;
   rs_lsid (&lsid);
   if (!rs) {
      cr_assert_not (rs_raw (fd, db, &lsid, 1, "{'insert': 'c', 'documents': [{}]}", &r));
      cr_assert_eq (conf_int (&r, "code"), 20, "txnNumber on a standalone");
      bson_destroy (&r);
   } else {
      cr_assert (rs_raw (fd, db, &lsid, 1, "{'insert': 'c', 'documents': [{}]}", &r));
      bson_destroy (&r);
      cr_assert_not (rs_raw (fd, db, &lsid, 2, "{'find': 'c'}", &r));
      cr_assert_eq (conf_int (&r, "code"), 50768, "txnNumber on find");
      bson_destroy (&r);
   }
   /* lsid alone is fine in both modes. */
   cr_assert (rs_raw (fd, db, &lsid, -1, "{'find': 'c'}", &r));
   bson_destroy (&r);
   bson_destroy (&lsid);
   close (fd);
   mltest_drop_db (c, db);
   bson_free (db);
   mongoc_client_destroy (c);
}

Test (replset, unsatisfiable_write_concern_is_a_write_concern_error)
{
   char *db;
   mongoc_client_t *c = conf_open ("rswc", &db);
   if (!rs_is_replset (c)) {
      conf_cmd_error (c, db, "{'insert': 'c', 'documents': [{'_id': 1}], 'writeConcern': {'w': 2}}", 2, NULL);
      conf_close (c, db);
      cr_skip_test ("standalone: w > 1 refused (checked)");
   }
   int fd = conf_raw_connect ();
   bson_t r;
   cr_assert (rs_raw (fd, db, NULL, -1, "{'insert': 'c', 'documents': [{'_id': 1}], 'writeConcern': {'w': 2}}", &r));
   cr_assert_eq (conf_int (&r, "n"), 1);
   cr_assert_eq (conf_int (&r, "writeConcernError.code"), 100);
   conf_str (&r, "writeConcernError.errmsg");
   bson_destroy (&r);
   cr_assert (rs_raw (fd, db, NULL, -1,
                      "{'insert': 'c', 'documents': [{'_id': 2}], 'writeConcern': {'w': 'noSuchMode'}}", &r));
   cr_assert_eq (conf_int (&r, "writeConcernError.code"), 79);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", NULL), 2, "the writes did not happen");
   close (fd);
   conf_close (c, db);
}

Test (replset, repl_set_get_status_describes_the_member)
{
   mongoc_client_t *c = mltest_client ();
   int fd = conf_raw_connect ();
   bson_t h, r;
   cr_assert (rs_raw (fd, "admin", NULL, -1, "{'hello': 1}", &h));
   if (conf_type (&h, "setName") != BSON_TYPE_UTF8) {
      cr_assert_not (rs_raw (fd, "admin", NULL, -1, "{'replSetGetStatus': 1}", &r));
      cr_assert_eq (conf_int (&r, "code"), 76);
      bson_destroy (&r);
   } else {
      cr_assert_not (rs_raw (fd, "test", NULL, -1, "{'replSetGetStatus': 1}", &r));
      cr_assert_eq (conf_int (&r, "code"), 13);
      bson_destroy (&r);
      cr_assert (rs_raw (fd, "admin", NULL, -1, "{'replSetGetStatus': 1}", &r));
      cr_assert_str_eq (conf_str (&r, "set"), conf_str (&h, "setName"));
      cr_assert_eq (conf_int (&r, "myState"), 1);
      cr_assert (conf_int (&r, "term") >= 1);
      cr_assert_eq (conf_array_len (&r, "members"), 1);
      cr_assert_str_eq (conf_str (&r, "members.0.name"), conf_str (&h, "me"));
      cr_assert_str_eq (conf_str (&r, "members.0.stateStr"), "PRIMARY");
      cr_assert_eq (conf_int (&r, "members.0.state"), 1);
      cr_assert (conf_bool (&r, "members.0.self"));
      bson_destroy (&r);
   }
   bson_destroy (&h);
   close (fd);
   mongoc_client_destroy (c);
}

Test (replset, after_cluster_time_reads)
{
   mongoc_client_t *c = mltest_client ();
   int fd = conf_raw_connect ();
   bson_t h;
   cr_assert (rs_raw (fd, "admin", NULL, -1, "{'hello': 1}", &h));
   if (conf_type (&h, "setName") != BSON_TYPE_UTF8) {
      bson_destroy (&h);
      close (fd);
      mongoc_client_destroy (c);
      cr_skip_test ("standalone: no cluster time");
   }
   char *db = mltest_db_name ("rsct");
   bson_iter_t it;
   uint32_t t, i;
   cr_assert (conf_find (&h, "operationTime", &it));
   bson_iter_timestamp (&it, &t, &i);
   bson_t r;
   /* The time just seen: fine. */
   char *json = bson_strdup_printf ("{'find': 'c', 'readConcern': {'afterClusterTime': {'$timestamp': {'t': %u, 'i': %u}}}}",
                                    t, i);
   cr_assert (rs_raw (fd, db, NULL, -1, json, &r), "afterClusterTime = operationTime refused");
   bson_destroy (&r);
   bson_free (json);
   /* An hour ahead, never gossiped: 72. */
   json = bson_strdup_printf ("{'find': 'c', 'readConcern': {'afterClusterTime': {'$timestamp': {'t': %u, 'i': 1}}}}",
                              t + 3600);
   cr_assert_not (rs_raw (fd, db, NULL, -1, json, &r));
   cr_assert_eq (conf_int (&r, "code"), 72);
   bson_destroy (&r);
   bson_free (json);
   /* Gossiped by a client (without auth any client may advance the clock, within
    * maxAcceptableLogicalClockDriftSecs): then a read after it is fine, and the member's
    * cluster time is at least that. Only 5 s ahead, not to disturb a shared server. */
   json = bson_strdup_printf ("{'ping': 1, '$clusterTime': {'clusterTime': {'$timestamp': {'t': %u, 'i': 1}}, "
                              "'signature': {'hash': {'$binary': {'base64': 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=', "
                              "'subType': '00'}}, 'keyId': {'$numberLong': '0'}}}}",
                              t + 5);
   cr_assert (rs_raw (fd, "admin", NULL, -1, json, &r), "a gossiped $clusterTime was refused");
   uint32_t t2, i2;
   cr_assert (conf_find (&r, "$clusterTime.clusterTime", &it));
   bson_iter_timestamp (&it, &t2, &i2);
   cr_assert (t2 >= t + 5, "the gossiped cluster time did not advance the member's");
   bson_destroy (&r);
   bson_free (json);
   json = bson_strdup_printf ("{'find': 'c', 'readConcern': {'afterClusterTime': {'$timestamp': {'t': %u, 'i': 1}}}}",
                              t + 5);
   cr_assert (rs_raw (fd, db, NULL, -1, json, &r), "a read after a gossiped cluster time was refused");
   bson_destroy (&r);
   bson_free (json);
   bson_destroy (&h);
   close (fd);
   mltest_drop_db (c, db);
   bson_free (db);
   mongoc_client_destroy (c);
}
