/* SPDX-License-Identifier: Apache-2.0 */
/* Bad input on the wire (issue 2; rules 1-2 say malformed commands get typed errors):
 * truncated messages, a length field beyond maxMessageSizeBytes (48000000), invalid BSON
 * in an OP_MSG, illegal OP_MSG flags, garbage. The server must answer that connection
 * with an error reply or close it - and nothing else: other connections (one opened
 * before, and new ones) keep working, and the server does not crash.
 *
 * References: manual "MongoDB Wire Protocol" (standard message header, messageLength
 * includes the header; OP_MSG flagBits bits 0-15 are required: an unknown one must make
 * the peer error); src/mongo/transport/session_asio.cpp / message_compressor and
 * asio_utils: a header whose messageLength is < 16 or > 48000000 ("recv(): message msgLen
 * ... is invalid. Min 16 Max: 48000000") ends the session; src/mongo/rpc/op_msg.cpp
 * (OpMsg::parse: IllegalOpMsgFlag 223 and TooManyDocumentSequences are in the
 * ConnectionFatalMessageParseError category, which closes the connection; other parse
 * errors, e.g. InvalidBSON 22 when net.wireObjectCheck validates the body, are answered
 * with an error reply by service_entry_point_common.cpp). Whether a given kind of invalid
 * BSON is answered or closes differs between versions, so both outcomes are accepted; a
 * reply must then be a proper error and the connection must stay usable. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conformance.h"

TestSuite (badinput, .init = conf_init, .fini = conf_fini, .timeout = 120);

static void
put32 (uint8_t *p, uint32_t v)
{
   p[0] = (uint8_t) v;
   p[1] = (uint8_t) (v >> 8);
   p[2] = (uint8_t) (v >> 16);
   p[3] = (uint8_t) (v >> 24);
}

/* An OP_MSG whose single kind-0 section holds the given raw bytes. */
static uint8_t *
raw_op_msg (int32_t id, uint32_t flags, const uint8_t *body, size_t body_len, size_t *len)
{
   size_t total = 16 + 4 + 1 + body_len;
   uint8_t *m = bson_malloc0 (total);
   put32 (m, (uint32_t) total);
   put32 (m + 4, (uint32_t) id);
   put32 (m + 8, 0);
   put32 (m + 12, 2013);
   put32 (m + 16, flags);
   m[20] = 0;
   memcpy (m + 21, body, body_len);
   *len = total;
   return m;
}

static int64_t
hello_conn_id (int fd)
{
   bson_t *hello = mltest_bson ("{'hello': 1, '$db': 'admin'}");
   bson_t r;
   conf_raw_command (fd, hello, &r);
   bson_destroy (hello);
   bson_iter_t it;
   cr_assert (conf_find (&r, "ok", &it) && bson_iter_as_double (&it) == 1.0);
   int64_t id = conf_int (&r, "connectionId");
   bson_destroy (&r);
   return id;
}

typedef enum { CLOSED, ERROR_REPLY } outcome_t;

/* After sending something bad on fd: the server must close fd or answer with an error
 * reply (ok:0 with a code) within 10 s. An error reply must leave fd usable. */
static outcome_t
expect_error_or_close (int fd, const char *what)
{
   uint8_t *msg = NULL;
   size_t len = 0;
   int rc = conf_raw_recv (fd, 10000, &msg, &len);
   cr_assert_neq (rc, -1, "%s: neither a reply nor a closed connection within 10 s", what);
   if (rc == 0) {
      return CLOSED;
   }
   bson_t r;
   int32_t response_to, opcode;
   cr_assert (conf_parse_reply (msg, len, &r, &response_to, &opcode), "%s: unparsable reply", what);
   char *s = conf_json (&r);
   bson_iter_t it;
   cr_assert (conf_find (&r, "ok", &it) && bson_iter_as_double (&it) == 0.0, "%s: reply is not an error: %s", what, s);
   cr_assert_neq (conf_type (&r, "code"), BSON_TYPE_EOD, "%s: error reply without a code: %s", what, s);
   cr_assert_eq (conf_type (&r, "errmsg"), BSON_TYPE_UTF8, "%s: error reply without errmsg: %s", what, s);
   cr_log_info ("%s: answered %s", what, s);
   bson_free (s);
   bson_destroy (&r);
   bson_free (msg);
   /* The stream is still in step: the next command on it works. */
   (void) hello_conn_id (fd);
   return ERROR_REPLY;
}

/* Opens a connection, sends bytes (optionally then half-closes), checks the outcome, and
 * checks that the bystander connection still answers as the same connection. */
static outcome_t
attack (int bystander, int64_t bystander_id, const char *what, const uint8_t *bytes, size_t len, bool shut_wr,
        bool must_close)
{
   int fd = conf_raw_connect ();
   cr_assert (conf_raw_send (fd, bytes, len) || must_close, "%s: send failed", what);
   if (shut_wr) {
      shutdown (fd, SHUT_WR);
   }
   outcome_t o = expect_error_or_close (fd, what);
   if (must_close) {
      cr_assert_eq (o, CLOSED, "%s: the server answered instead of closing the connection", what);
   }
   close (fd);
   cr_assert_eq (hello_conn_id (bystander), bystander_id, "%s: another connection was disturbed", what);
   return o;
}

static void
server_still_serves (void)
{
   mongoc_client_t *c = mltest_client ();
   bson_t r;
   conf_ok (c, "admin", "{'ping': 1}", &r);
   bson_destroy (&r);
   char *db = mltest_db_name ("bad");
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   cr_assert_eq (conf_count (c, db, "c", NULL), 1);
   mltest_drop_db (c, db);
   bson_free (db);
   mongoc_client_destroy (c);
}

Test (badinput, bad_message_lengths_close_the_connection)
{
   int bystander = conf_raw_connect ();
   int64_t id = hello_conn_id (bystander);
   uint8_t h[16];
   static const uint32_t lengths[] = {48000001u, 0x7fffffffu, 0xffffffffu, 0u, 8u, 15u};
   for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
      put32 (h, lengths[i]);
      put32 (h + 4, 1);
      put32 (h + 8, 0);
      put32 (h + 12, 2013);
      char what[64];
      bson_snprintf (what, sizeof what, "messageLength %u", lengths[i]);
      /* The header alone must be enough for the server to give up: it must not wait for
       * (or allocate) 48 MB+ first. */
      (void) attack (bystander, id, what, h, sizeof h, false, true);
   }
   close (bystander);
   server_still_serves ();
}

Test (badinput, truncated_messages)
{
   int bystander = conf_raw_connect ();
   int64_t id = hello_conn_id (bystander);
   bson_t *hello = mltest_bson ("{'hello': 1, '$db': 'admin'}");
   size_t len;
   uint8_t *msg = conf_op_msg (5, hello, &len);

   /* The peer goes away in the middle of a message: header, half a body, EOF. */
   (void) attack (bystander, id, "truncated after the header", msg, 16, true, true);
   (void) attack (bystander, id, "truncated mid-body", msg, len - 3, true, true);

   /* messageLength says there is less than the body needs: the section overruns it. */
   uint8_t *cut = bson_malloc (len);
   memcpy (cut, msg, len);
   put32 (cut, (uint32_t) (len - 6));
   (void) attack (bystander, id, "section longer than messageLength", cut, len - 6, false, false);
   /* An OP_MSG with flagBits and no section at all. */
   memcpy (cut, msg, 20);
   put32 (cut, 20);
   (void) attack (bystander, id, "OP_MSG without a body section", cut, 20, false, false);
   /* An OP_QUERY cut inside its collection name. */
   uint8_t q[16 + 4 + 6];
   put32 (q, sizeof q);
   put32 (q + 4, 9);
   put32 (q + 8, 0);
   put32 (q + 12, 2004);
   put32 (q + 16, 0);
   memcpy (q + 20, "admin.", 6); /* no NUL, no counts, no query */
   (void) attack (bystander, id, "OP_QUERY truncated in the namespace", q, sizeof q, false, false);
   bson_free (cut);
   bson_free (msg);
   bson_destroy (hello);
   close (bystander);
   server_still_serves ();
}

Test (badinput, invalid_bson_in_op_msg)
{
   int bystander = conf_raw_connect ();
   int64_t id = hello_conn_id (bystander);
   size_t len;
   uint8_t *m;

   /* {"a": <type 0x42>} - no such BSON type. */
   static const uint8_t bad_type[] = {12, 0, 0, 0, 0x42, 'a', 0, 1, 0, 0, 0, 0};
   m = raw_op_msg (11, 0, bad_type, sizeof bad_type, &len);
   (void) attack (bystander, id, "unknown BSON element type", m, len, false, false);
   bson_free (m);

   /* A string whose length runs past the end of its document. */
   static const uint8_t bad_string[] = {18, 0, 0, 0, 0x02, 'p', 'i', 'n', 'g', 0, 100, 0, 0, 0, 'x', 0, 0, 0};
   m = raw_op_msg (12, 0, bad_string, sizeof bad_string, &len);
   (void) attack (bystander, id, "string length past the document", m, len, false, false);
   bson_free (m);

   /* A document that is not NUL-terminated. */
   static const uint8_t no_nul[] = {16, 0, 0, 0, 0x10, 'p', 'i', 'n', 'g', 0, 1, 0, 0, 0, 0, 7};
   m = raw_op_msg (13, 0, no_nul, sizeof no_nul, &len);
   (void) attack (bystander, id, "document without its terminating NUL", m, len, false, false);
   bson_free (m);

   /* A document length below the BSON minimum of 5. */
   static const uint8_t tiny[] = {3, 0, 0, 0, 0};
   m = raw_op_msg (14, 0, tiny, sizeof tiny, &len);
   (void) attack (bystander, id, "document length 3", m, len, false, false);
   bson_free (m);

   /* A document length larger than the message. */
   static const uint8_t huge[] = {0x00, 0x00, 0x00, 0x10, 0x10, 'p', 'i', 'n', 'g', 0, 1, 0, 0, 0, 0};
   m = raw_op_msg (15, 0, huge, sizeof huge, &len);
   (void) attack (bystander, id, "document length past the message", m, len, false, false);
   bson_free (m);

   /* An embedded document whose length disagrees with its content. */
   static const uint8_t bad_sub[] = {23, 0, 0, 0, 0x03, 'p', 'i', 'n', 'g', 0, 40, 0, 0, 0, 0x10, 'x', 0, 1, 0, 0, 0, 0};
   m = raw_op_msg (16, 0, bad_sub, sizeof bad_sub, &len);
   (void) attack (bystander, id, "embedded document length wrong", m, len, false, false);
   bson_free (m);

   bson_t *ping = mltest_bson ("{'ping': 1, '$db': 'admin'}");
   /* An unknown section kind. */
   m = raw_op_msg (18, 0, bson_get_data (ping), ping->len, &len);
   m[20] = 7;
   (void) attack (bystander, id, "OP_MSG section kind 7", m, len, false, false);
   bson_free (m);

   /* Plain garbage. */
   uint8_t junk[512];
   for (size_t i = 0; i < sizeof junk; i++) {
      junk[i] = (uint8_t) (i * 131 + 7);
   }
   put32 (junk, sizeof junk);
   put32 (junk + 12, 2013);
   (void) attack (bystander, id, "garbage", junk, sizeof junk, false, false);

   /* A valid document in an OP_MSG with an unknown required flag bit (bit 5): OpMsg::parse
    * fails IllegalOpMsgFlag (223), a ConnectionFatalMessageParseError, so a real server
    * closes the connection (src/mongo/rpc/op_msg.cpp, src/mongo/base/error_codes.yml). */
   m = raw_op_msg (17, 1u << 5, bson_get_data (ping), ping->len, &len);
   (void) attack (bystander, id, "OP_MSG with an unknown required flag", m, len, false, true);
   bson_free (m);
   bson_destroy (ping);

   close (bystander);
   server_still_serves ();
}

Test (badinput, valid_bson_that_is_not_a_command)
{
   /* Well-formed messages whose body is not a usable command get a typed error reply on
    * the same, still usable connection (rule 2) - not a close. */
   int fd = conf_raw_connect ();
   int64_t id = hello_conn_id (fd);
   static const char *const bodies[] = {
      "{'$db': 'admin'}",            /* no command at all */
      "{'ping': 1}",                 /* OP_MSG without $db */
      "{'noSuchCmd': 1, '$db': 'admin'}",
      "{'find': 5, '$db': 'x'}",     /* collection name of the wrong type */
   };
   for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
      bson_t *b = mltest_bson (bodies[i]);
      bson_t r;
      conf_raw_command (fd, b, &r);
      char *s = conf_json (&r);
      bson_iter_t it;
      cr_assert (conf_find (&r, "ok", &it) && bson_iter_as_double (&it) == 0.0, "%s: %s", bodies[i], s);
      cr_assert_neq (conf_type (&r, "code"), BSON_TYPE_EOD, "%s: %s", bodies[i], s);
      bson_free (s);
      bson_destroy (&r);
      bson_destroy (b);
   }
   cr_assert_eq (hello_conn_id (fd), id);
   close (fd);
}

/* CRC-32C (Castagnoli), bitwise: the OP_MSG checksum. */
static uint32_t
crc32c (const uint8_t *p, size_t n)
{
   uint32_t c = 0xffffffffu;
   for (size_t i = 0; i < n; i++) {
      c ^= p[i];
      for (int k = 0; k < 8; k++) {
         c = (c & 1u) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
      }
   }
   return c ^ 0xffffffffu;
}

/* body as an OP_MSG with checksumPresent and a checksum (wrong when corrupt). */
static uint8_t *
checksummed (int32_t id, const bson_t *body, bool corrupt, size_t *len)
{
   size_t total = 16 + 4 + 1 + body->len + 4;
   uint8_t *m = bson_malloc0 (total);
   put32 (m, (uint32_t) total);
   put32 (m + 4, (uint32_t) id);
   put32 (m + 12, 2013);
   put32 (m + 16, 1u); /* checksumPresent */
   m[20] = 0;
   memcpy (m + 21, bson_get_data (body), body->len);
   put32 (m + total - 4, crc32c (m, total - 4) ^ (corrupt ? 0x1u : 0x0u));
   *len = total;
   return m;
}

/* An OP_MSG with a body and nseq kind-1 sections, named by names[i], of one {_id: i} each. */
static uint8_t *
with_sequences (int32_t id, const bson_t *body, const char *const *names, int nseq, size_t *len)
{
   uint8_t hdr[21] = {0};
   size_t total = 21 + body->len;
   bson_t **docs = bson_malloc0 (sizeof *docs * (size_t) nseq);
   for (int i = 0; i < nseq; i++) {
      docs[i] = BCON_NEW ("_id", BCON_INT32 (i + 10));
      total += 1 + 4 + strlen (names[i]) + 1 + docs[i]->len;
   }
   uint8_t *m = bson_malloc0 (total);
   put32 (hdr, (uint32_t) total);
   put32 (hdr + 4, (uint32_t) id);
   put32 (hdr + 12, 2013);
   memcpy (m, hdr, sizeof hdr);
   uint8_t *p = m + 21;
   memcpy (p, bson_get_data (body), body->len);
   p += body->len;
   for (int i = 0; i < nseq; i++) {
      *p++ = 1;
      put32 (p, (uint32_t) (4 + strlen (names[i]) + 1 + docs[i]->len));
      p += 4;
      memcpy (p, names[i], strlen (names[i]) + 1);
      p += strlen (names[i]) + 1;
      memcpy (p, bson_get_data (docs[i]), docs[i]->len);
      p += docs[i]->len;
      bson_destroy (docs[i]);
   }
   bson_free (docs);
   *len = total;
   return m;
}

Test (badinput, op_msg_integrity_checks)
{
   /* References: src/mongo/rpc/op_msg.cpp OpMsg::parse - with checksumPresent set the
    * CRC-32C must match (ChecksumMismatch 288), at most two document sequences
    * (TooManyDocumentSequences 233), both ConnectionFatalMessageParseError in
    * base/error_codes.yml, so the connection is closed; a repeated sequence name is 40431
    * "Duplicate document sequence"; BSON deeper than 200 levels fails validation
    * (bson_validate.cpp, 15 Overflow) - answered or closed, depending on the version; an
    * IDL-parsed command with a field twice fails 40413 "BSON field ... is a duplicate
    * field" (idl/idl_parser.cpp). */
   int bystander = conf_raw_connect ();
   int64_t id = hello_conn_id (bystander);
   size_t len;
   uint8_t *m;
   bson_t *ping = mltest_bson ("{'ping': 1, '$db': 'admin'}");

   /* A correct checksum is accepted... */
   int fd = conf_raw_connect ();
   m = checksummed (31, ping, false, &len);
   cr_assert (conf_raw_send (fd, m, len));
   bson_free (m);
   uint8_t *in = NULL;
   size_t in_len = 0;
   cr_assert_eq (conf_raw_recv (fd, 10000, &in, &in_len), 1, "no reply to a correctly checksummed OP_MSG");
   bson_t r;
   cr_assert (conf_parse_reply (in, in_len, &r, NULL, NULL));
   bson_iter_t it;
   cr_assert (conf_find (&r, "ok", &it) && bson_iter_as_double (&it) == 1.0);
   bson_destroy (&r);
   bson_free (in);
   close (fd);
   /* ... a wrong one closes the connection. */
   m = checksummed (32, ping, true, &len);
   (void) attack (bystander, id, "OP_MSG with a wrong checksum", m, len, false, true);
   bson_free (m);

   char *db = mltest_db_name ("bad");
   char *json = bson_strdup_printf ("{'insert': 'c', '$db': '%s'}", db);
   bson_t *insert = mltest_bson (json);
   bson_free (json);
   static const char *const three[] = {"documents", "other", "more"};
   m = with_sequences (33, insert, three, 3, &len);
   (void) attack (bystander, id, "three document sequences", m, len, false, true);
   bson_free (m);
   static const char *const twice[] = {"documents", "documents"};
   m = with_sequences (34, insert, twice, 2, &len);
   fd = conf_raw_connect ();
   cr_assert (conf_raw_send (fd, m, len));
   cr_assert_eq (conf_raw_recv (fd, 10000, &in, &in_len), 1, "no reply to a repeated document sequence");
   cr_assert (conf_parse_reply (in, in_len, &r, NULL, NULL));
   char *s = conf_json (&r);
   cr_assert_eq (conf_int (&r, "code"), 40431, "%s", s);
   bson_free (s);
   bson_destroy (&r);
   bson_free (in);
   close (fd);
   bson_free (m);

   /* 300 levels of nesting. */
   bson_t *deep = bson_new ();
   BSON_APPEND_INT32 (deep, "ping", 1);
   BSON_APPEND_UTF8 (deep, "$db", "admin");
   bson_t *inner = bson_new ();
   BSON_APPEND_INT32 (inner, "x", 1);
   for (int i = 0; i < 300; i++) {
      bson_t *outer = bson_new ();
      BSON_APPEND_DOCUMENT (outer, "a", inner);
      bson_destroy (inner);
      inner = outer;
   }
   BSON_APPEND_DOCUMENT (deep, "deep", inner);
   bson_destroy (inner);
   m = conf_op_msg (35, deep, &len);
   (void) attack (bystander, id, "300 levels of nesting", m, len, false, false);
   bson_free (m);
   bson_destroy (deep);

   /* A field twice in an insert. */
   json = bson_strdup_printf ("{'insert': 'c', 'documents': [{'_id': 1}], '$db': '%s'}", db);
   bson_t *dup = mltest_bson (json);
   bson_free (json);
   bson_t more = BSON_INITIALIZER, arr, d;
   bson_concat (&more, dup);
   BSON_APPEND_ARRAY_BEGIN (&more, "documents", &arr);
   BSON_APPEND_DOCUMENT_BEGIN (&arr, "0", &d);
   BSON_APPEND_INT32 (&d, "_id", 2);
   bson_append_document_end (&arr, &d);
   bson_append_array_end (&more, &arr);
   fd = conf_raw_connect ();
   conf_raw_command (fd, &more, &r);
   s = conf_json (&r);
   cr_assert_eq (conf_int (&r, "code"), 40413, "%s", s);
   bson_free (s);
   bson_destroy (&r);
   close (fd);
   bson_destroy (&more);
   bson_destroy (dup);

   mongoc_client_t *c = mltest_client ();
   cr_assert_eq (conf_count (c, db, "c", NULL), 0, "a refused message inserted documents");
   mltest_drop_db (c, db);
   mongoc_client_destroy (c);
   bson_free (db);
   bson_destroy (insert);
   bson_destroy (ping);
   close (bystander);
   server_still_serves ();
}
