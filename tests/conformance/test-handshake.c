/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 1 (handshake): hello / legacy isMaster reply fields and types, the legacy
 * OP_QUERY handshake followed by OP_MSG on the same connection, and OP_MSG document
 * sequences.
 *
 * Reference: MongoDB manual, "hello" command (reference/command/hello) lists
 * isWritablePrimary, maxBsonObjectSize, maxMessageSizeBytes, maxWriteBatchSize,
 * localTime, logicalSessionTimeoutMinutes, connectionId, minWireVersion,
 * maxWireVersion; the legacy isMaster reply names the primary flag `ismaster`.
 * Wire protocol: manual "MongoDB Wire Protocol" (OP_MSG 2013 with kind-0 body and
 * kind-1 document sequences; OP_QUERY 2004 / OP_REPLY 1, kept in 5.1+ only for the
 * hello/isMaster handshake). Wire versions: 17 = 6.0, 21 = 7.0, 25 = 8.0 (driver spec
 * "Wire Version Overlap"; MONGODB-RULES.md targets). */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conformance.h"

TestSuite (handshake, .init = conf_init, .fini = conf_fini, .timeout = 60);

static int64_t
wall_ms (void)
{
   struct timespec ts;
   clock_gettime (CLOCK_REALTIME, &ts);
   return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The fields every handshake reply carries; primary is "isWritablePrimary" or "ismaster". */
static void
check_handshake_reply (const bson_t *r, const char *primary)
{
   char *s = conf_json (r);
   bson_iter_t it;
   cr_assert (conf_find (r, "ok", &it) && bson_iter_as_double (&it) == 1.0, "ok is not 1: %s", s);
   cr_assert (conf_bool (r, primary), "%s is not true on a writable primary/standalone: %s", primary, s);
   cr_assert_eq (conf_int (r, "maxBsonObjectSize"), 16777216, "%s", s);
   cr_assert_eq (conf_int (r, "maxMessageSizeBytes"), 48000000, "%s", s);
   cr_assert_eq (conf_int (r, "maxWriteBatchSize"), 100000, "%s", s);
   int64_t min = conf_int (r, "minWireVersion"), max = conf_int (r, "maxWireVersion");
   cr_assert_geq (min, 0, "%s", s);
   cr_assert_leq (min, max, "%s", s);
   cr_assert_geq (max, 17, "maxWireVersion below 17 (MongoDB 6.0): %s", s);
   cr_assert_gt (conf_int (r, "logicalSessionTimeoutMinutes"), 0, "%s", s);
   cr_assert_gt (conf_int (r, "connectionId"), 0, "%s", s);
   /* localTime is the server's clock. Server and tests share a machine here (bundled server,
    * or docker/ on localhost), so it must be "now" within a generous margin. */
   int64_t local = conf_date (r, "localTime");
   int64_t now = wall_ms ();
   cr_assert (local > now - 120000 && local < now + 120000, "localTime %" PRId64 " is not near now %" PRId64 ": %s",
              local, now, s);
   bson_free (s);
}

Test (handshake, hello_reply_fields)
{
   mongoc_client_t *c = mltest_client ();
   bson_t r;
   mltest_cmd_ok (c, "admin", "{'hello': 1}", &r);
   check_handshake_reply (&r, "isWritablePrimary");
   bson_destroy (&r);
   mongoc_client_destroy (c);
}

Test (handshake, legacy_ismaster_reply_fields)
{
   mongoc_client_t *c = mltest_client ();
   bson_t r;
   mltest_cmd_ok (c, "admin", "{'isMaster': 1}", &r);
   check_handshake_reply (&r, "ismaster");
   bson_destroy (&r);
   /* The lower-case spelling is the same command (drivers have sent both). */
   mltest_cmd_ok (c, "admin", "{'ismaster': 1}", &r);
   check_handshake_reply (&r, "ismaster");
   bson_destroy (&r);
   mongoc_client_destroy (c);
}

Test (handshake, hello_works_on_any_database)
{
   /* hello is not an admin-only command: drivers run it on the URI's database. */
   mongoc_client_t *c = mltest_client ();
   bson_t r;
   mltest_cmd_ok (c, "some_db", "{'hello': 1}", &r);
   check_handshake_reply (&r, "isWritablePrimary");
   bson_destroy (&r);
   mongoc_client_destroy (c);
}

/* Sends an OP_QUERY command on admin.$cmd and returns the OP_REPLY document. */
static void
op_query (int fd, int32_t id, const char *json, bson_t *reply)
{
   bson_t *q = mltest_bson (json);
   size_t len;
   uint8_t *msg = conf_op_query (id, "admin.$cmd", q, &len);
   cr_assert (conf_raw_send (fd, msg, len));
   bson_free (msg);
   bson_destroy (q);
   uint8_t *in = NULL;
   size_t in_len = 0;
   int rc = conf_raw_recv (fd, 10000, &in, &in_len);
   cr_assert_eq (rc, 1, "no OP_REPLY to OP_QUERY %s (%s)", json, rc == 0 ? "closed" : "timeout");
   int32_t response_to, opcode;
   cr_assert (conf_parse_reply (in, in_len, reply, &response_to, &opcode), "unparsable reply to %s", json);
   cr_assert_eq (opcode, 1, "OP_QUERY answered with opcode %d, not OP_REPLY", opcode);
   cr_assert_eq (response_to, id);
   bson_free (in);
}

Test (handshake, legacy_op_query_handshake_then_op_msg)
{
   int fd = conf_raw_connect ();
   bson_t r;
   op_query (fd, 7, "{'isMaster': 1, 'client': {'driver': {'name': 'conformance', 'version': '0'}, "
                    "'os': {'type': 'Linux'}}}",
             &r);
   check_handshake_reply (&r, "ismaster");
   int64_t conn_id = conf_int (&r, "connectionId");
   bson_destroy (&r);

   op_query (fd, 8, "{'hello': 1}", &r);
   check_handshake_reply (&r, "isWritablePrimary");
   cr_assert_eq (conf_int (&r, "connectionId"), conn_id, "connectionId changed on one connection");
   bson_destroy (&r);

   /* maxWireVersion >= 6: the same connection continues with OP_MSG. */
   bson_t *hello = mltest_bson ("{'hello': 1, '$db': 'admin'}");
   conf_raw_command (fd, hello, &r);
   check_handshake_reply (&r, "isWritablePrimary");
   cr_assert_eq (conf_int (&r, "connectionId"), conn_id);
   bson_destroy (&r);

   /* Another connection has another connectionId. */
   int fd2 = conf_raw_connect ();
   conf_raw_command (fd2, hello, &r);
   cr_assert_neq (conf_int (&r, "connectionId"), conn_id, "two connections share a connectionId");
   bson_destroy (&r);
   bson_destroy (hello);
   close (fd2);
   close (fd);
}

Test (handshake, op_msg_document_sequence)
{
   mongoc_client_t *c = mltest_client ();
   char *db = mltest_db_name ("hs");
   int fd = conf_raw_connect ();
   bson_t r;

   /* insert with its documents in a kind-1 section, as drivers send bulk writes. */
   char *body_json = bson_strdup_printf ("{'insert': 'c', 'ordered': true, '$db': '%s'}", db);
   bson_t *body = mltest_bson (body_json);
   bson_t *d1 = mltest_bson ("{'_id': 1, 'v': 'one'}");
   bson_t *d2 = mltest_bson ("{'_id': 2, 'v': 'two'}");
   bson_t *d3 = mltest_bson ("{'_id': 3, 'v': 'three'}");
   const bson_t *docs[] = {d1, d2, d3};
   size_t len;
   uint8_t *msg = conf_op_msg_seq (42, body, "documents", docs, 3, &len);
   cr_assert (conf_raw_send (fd, msg, len));
   bson_free (msg);
   uint8_t *in = NULL;
   size_t in_len = 0;
   cr_assert_eq (conf_raw_recv (fd, 10000, &in, &in_len), 1, "no reply to an OP_MSG with a document sequence");
   int32_t response_to, opcode;
   cr_assert (conf_parse_reply (in, in_len, &r, &response_to, &opcode));
   cr_assert_eq (response_to, 42);
   char *s = conf_json (&r);
   cr_assert_eq (conf_int (&r, "n"), 3, "%s", s);
   bson_free (s);
   bson_free (in);
   bson_destroy (&r);

   /* The documents arrived intact and in order. */
   int n;
   bson_t **found = conf_find_all (c, db, "c", NULL, NULL, &n);
   cr_assert_eq (n, 3);
   cr_assert_str_eq (conf_str (found[0], "v"), "one");
   cr_assert_str_eq (conf_str (found[2], "v"), "three");
   conf_docs_free (found, n);

   /* update with its statements in an "updates" sequence. */
   bson_free (body_json);
   bson_destroy (body);
   body_json = bson_strdup_printf ("{'update': 'c', '$db': '%s'}", db);
   body = mltest_bson (body_json);
   bson_t *u1 = mltest_bson ("{'q': {'_id': 1}, 'u': {'$set': {'v': 'uno'}}}");
   bson_t *u2 = mltest_bson ("{'q': {'_id': 9}, 'u': {'$set': {'v': 'nueve'}}, 'upsert': true}");
   const bson_t *ups[] = {u1, u2};
   msg = conf_op_msg_seq (43, body, "updates", ups, 2, &len);
   cr_assert (conf_raw_send (fd, msg, len));
   bson_free (msg);
   cr_assert_eq (conf_raw_recv (fd, 10000, &in, &in_len), 1);
   cr_assert (conf_parse_reply (in, in_len, &r, &response_to, &opcode));
   s = conf_json (&r);
   cr_assert_eq (conf_int (&r, "n"), 2, "%s", s);
   cr_assert_eq (conf_int (&r, "nModified"), 1, "%s", s);
   cr_assert_eq (conf_int (&r, "upserted.0._id"), 9, "%s", s);
   bson_free (s);
   bson_free (in);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", "{'v': 'uno'}"), 1);

   bson_destroy (u1);
   bson_destroy (u2);
   bson_destroy (d1);
   bson_destroy (d2);
   bson_destroy (d3);
   bson_destroy (body);
   bson_free (body_json);
   close (fd);
   conf_close (c, db);
}

/* buildInfo's version agrees with the wire version (17 = 6.0, 21 = 7.0, 25 = 8.0), ping
 * answers, and endSessions (which every driver sends when a client closes) is accepted.
 * Manual: "buildInfo" (version, versionArray), "endSessions". */
Test (handshake, build_info_ping_end_sessions)
{
   mongoc_client_t *c = mltest_client ();
   bson_t r;
   conf_ok (c, "admin", "{'ping': 1}", &r);
   bson_destroy (&r);
   conf_ok (c, "admin", "{'hello': 1}", &r);
   int64_t wire = conf_int (&r, "maxWireVersion");
   bson_destroy (&r);
   conf_ok (c, "admin", "{'buildInfo': 1}", &r);
   char *s = conf_json (&r);
   const char *version = conf_str (&r, "version");
   int64_t major = conf_int (&r, "versionArray.0"), minor = conf_int (&r, "versionArray.1");
   char prefix[32];
   bson_snprintf (prefix, sizeof prefix, "%d.%d.", (int) major, (int) minor);
   cr_assert (strncmp (version, prefix, strlen (prefix)) == 0, "version and versionArray disagree: %s", s);
   int64_t want_wire = major == 6 ? 17 : major == 7 ? 21 : major == 8 ? 25 : -1;
   if (want_wire > 0 && minor == 0) {
      cr_assert_eq (wire, want_wire, "MongoDB %d.0 has maxWireVersion %" PRId64 ", not %" PRId64 ": %s", (int) major,
                    want_wire, wire, s);
   }
   cr_assert_geq (major, 6, "%s", s);
   bson_free (s);
   bson_destroy (&r);
   conf_ok (c, "admin",
            "{'endSessions': [{'id': {'$binary': {'base64': 'AAAAAAAAQACAAAAAAAAAAA==', 'subType': '04'}}}]}", NULL);
   mongoc_client_destroy (c);
}
