/* SPDX-License-Identifier: Apache-2.0 */
#include "conformance.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void
conf_init (void)
{
   mongoc_init ();
}

void
conf_fini (void)
{
   mongoc_cleanup ();
}

mongoc_client_t *
conf_open (const char *tag, char **db)
{
   *db = mltest_db_name (tag);
   return mltest_client ();
}

void
conf_close (mongoc_client_t *client, char *db)
{
   if (client && db) {
      mltest_drop_db (client, db);
   }
   mongoc_client_destroy (client);
   bson_free (db);
}

bool
conf_find (const bson_t *doc, const char *path, bson_iter_t *it)
{
   bson_iter_t root;
   if (!bson_iter_init (&root, doc)) {
      return false;
   }
   return bson_iter_find_descendant (&root, path, it);
}

bson_type_t
conf_type (const bson_t *doc, const char *path)
{
   bson_iter_t it;
   return conf_find (doc, path, &it) ? bson_iter_type (&it) : BSON_TYPE_EOD;
}

static void
conf_require (const bson_t *doc, const char *path, bson_iter_t *it, bson_type_t want, const char *what)
{
   char *s = conf_json (doc);
   cr_assert (conf_find (doc, path, it), "%s missing in %s", path, s);
   if (want != BSON_TYPE_EOD) {
      cr_assert_eq (bson_iter_type (it), want, "%s is not %s (BSON type 0x%02x) in %s", path, what,
                    (unsigned) bson_iter_type (it), s);
   }
   bson_free (s);
}

int64_t
conf_int (const bson_t *doc, const char *path)
{
   bson_iter_t it;
   conf_require (doc, path, &it, BSON_TYPE_EOD, "a number");
   char *s = conf_json (doc);
   switch (bson_iter_type (&it)) {
   case BSON_TYPE_INT32:
   case BSON_TYPE_INT64:
      break;
   case BSON_TYPE_DOUBLE: {
      double d = bson_iter_double (&it);
      cr_assert (d == floor (d), "%s is not integral in %s", path, s);
      break;
   }
   default:
      cr_assert_fail ("%s is not a number in %s", path, s);
   }
   bson_free (s);
   return bson_iter_as_int64 (&it);
}

int32_t
conf_int32 (const bson_t *doc, const char *path)
{
   bson_iter_t it;
   conf_require (doc, path, &it, BSON_TYPE_INT32, "an int32");
   return bson_iter_int32 (&it);
}

int64_t
conf_int64 (const bson_t *doc, const char *path)
{
   bson_iter_t it;
   conf_require (doc, path, &it, BSON_TYPE_INT64, "an int64");
   return bson_iter_int64 (&it);
}

double
conf_double (const bson_t *doc, const char *path)
{
   bson_iter_t it;
   conf_require (doc, path, &it, BSON_TYPE_DOUBLE, "a double");
   return bson_iter_double (&it);
}

int64_t
conf_date (const bson_t *doc, const char *path)
{
   bson_iter_t it;
   conf_require (doc, path, &it, BSON_TYPE_DATE_TIME, "a date");
   return bson_iter_date_time (&it);
}

bool
conf_bool (const bson_t *doc, const char *path)
{
   bson_iter_t it;
   conf_require (doc, path, &it, BSON_TYPE_BOOL, "a bool");
   return bson_iter_bool (&it);
}

const char *
conf_str (const bson_t *doc, const char *path)
{
   bson_iter_t it;
   conf_require (doc, path, &it, BSON_TYPE_UTF8, "a string");
   return bson_iter_utf8 (&it, NULL);
}

void
conf_doc (const bson_t *doc, const char *path, bson_t *out)
{
   bson_iter_t it;
   conf_require (doc, path, &it, BSON_TYPE_EOD, "a document");
   uint32_t len = 0;
   const uint8_t *data = NULL;
   if (BSON_ITER_HOLDS_DOCUMENT (&it)) {
      bson_iter_document (&it, &len, &data);
   } else {
      char *s = conf_json (doc);
      cr_assert (BSON_ITER_HOLDS_ARRAY (&it), "%s is not a document or array in %s", path, s);
      bson_free (s);
      bson_iter_array (&it, &len, &data);
   }
   cr_assert (bson_init_static (out, data, len));
}

char *
conf_json (const bson_t *doc)
{
   return bson_as_relaxed_extended_json (doc, NULL);
}

bool
conf_run (mongoc_client_t *client, mongoc_client_session_t *cs, const char *db, const char *json, bson_t *reply,
          bson_error_t *error)
{
   if (!cs) {
      return mltest_cmd (client, db, json, reply, error);
   }
   bson_t *cmd = mltest_bson (json);
   bson_t opts = BSON_INITIALIZER, local;
   cr_assert (mongoc_client_session_append (cs, &opts, error), "%s", error->message);
   bool ok = mongoc_client_command_with_opts (client, db, cmd, NULL, &opts, reply ? reply : &local, error);
   if (!reply) {
      bson_destroy (&local);
   }
   bson_destroy (&opts);
   bson_destroy (cmd);
   return ok;
}

void
conf_ok (mongoc_client_t *client, const char *db, const char *json, bson_t *reply)
{
   conf_ok_in (client, NULL, db, json, reply);
}

void
conf_ok_in (mongoc_client_t *client, mongoc_client_session_t *cs, const char *db, const char *json, bson_t *reply)
{
   bson_error_t error;
   bson_t local;
   bson_t *r = reply ? reply : &local;
   bool ok = conf_run (client, cs, db, json, r, &error);
   char *s = conf_json (r);
   cr_assert (ok, "command %s failed: %s (code %u): %s", json, error.message, error.code, s);
   cr_assert_eq (conf_type (r, "writeErrors"), BSON_TYPE_EOD, "command %s: writeErrors in %s", json, s);
   cr_assert_eq (conf_type (r, "writeConcernError"), BSON_TYPE_EOD, "command %s: writeConcernError in %s", json, s);
   bson_free (s);
   if (!reply) {
      bson_destroy (&local);
   }
}

void
conf_cmd_error (mongoc_client_t *client, const char *db, const char *json, int32_t code, bson_t *reply)
{
   conf_cmd_error_in (client, NULL, db, json, code, reply);
}

void
conf_cmd_error_in (mongoc_client_t *client, mongoc_client_session_t *cs, const char *db, const char *json,
                   int32_t code, bson_t *reply)
{
   bson_error_t error;
   bson_t local;
   bson_t *r = reply ? reply : &local;
   bool ok = conf_run (client, cs, db, json, r, &error);
   char *s = conf_json (r);
   cr_assert_not (ok, "command %s succeeded, expected error %d: %s", json, code, s);
   cr_assert_eq (error.domain, MONGOC_ERROR_SERVER,
                 "command %s: not a server error (domain %u code %u: %s); a dropped connection?", json, error.domain,
                 error.code, error.message);
   bson_iter_t it;
   cr_assert (conf_find (r, "ok", &it) && !bson_iter_as_bool (&it), "command %s: reply without ok:0: %s", json, s);
   cr_assert_eq (conf_int (r, "code"), code, "command %s: expected code %d: %s", json, code, s);
   cr_assert_eq (conf_type (r, "codeName"), BSON_TYPE_UTF8, "command %s: no codeName: %s", json, s);
   cr_assert_eq (conf_type (r, "errmsg"), BSON_TYPE_UTF8, "command %s: no errmsg: %s", json, s);
   bson_free (s);
   if (!reply) {
      bson_destroy (&local);
   }
}

int32_t
conf_cmd_refused (mongoc_client_t *client, const char *db, const char *json)
{
   bson_error_t error;
   bson_t r;
   bool ok = conf_run (client, NULL, db, json, &r, &error);
   char *s = conf_json (&r);
   cr_assert_not (ok, "command %s succeeded, expected an error: %s", json, s);
   cr_assert_eq (error.domain, MONGOC_ERROR_SERVER, "command %s: not a server error (domain %u code %u: %s)", json,
                 error.domain, error.code, error.message);
   int32_t code = (int32_t) conf_int (&r, "code");
   cr_log_info ("%s: refused with %d: %s", json, code, s);
   bson_free (s);
   bson_destroy (&r);
   return code;
}

void
conf_write_error (const bson_t *reply, int nth, int32_t index, int32_t code, bson_t *entry)
{
   char *s = conf_json (reply);
   bson_iter_t it;
   cr_assert (conf_find (reply, "ok", &it) && bson_iter_as_double (&it) == 1.0, "reply without ok:1: %s", s);
   char path[64];
   snprintf (path, sizeof path, "writeErrors.%d", nth);
   cr_assert_eq (conf_type (reply, path), BSON_TYPE_DOCUMENT, "no %s in %s", path, s);
   bson_t e;
   conf_doc (reply, path, &e);
   cr_assert_eq (conf_int (&e, "index"), index, "writeError index in %s", s);
   cr_assert_eq (conf_int (&e, "code"), code, "writeError code in %s", s);
   cr_assert_eq (conf_type (&e, "errmsg"), BSON_TYPE_UTF8, "writeError without errmsg in %s", s);
   bson_free (s);
   if (entry) {
      *entry = e;
   }
}

int
conf_array_len (const bson_t *doc, const char *path)
{
   bson_iter_t it, child;
   conf_require (doc, path, &it, BSON_TYPE_ARRAY, "an array");
   int n = 0;
   cr_assert (bson_iter_recurse (&it, &child));
   while (bson_iter_next (&child)) {
      n++;
   }
   return n;
}

bson_t **
conf_find_all (mongoc_client_t *client, const char *db, const char *coll, const char *filter, const char *sort,
               int *n)
{
   char *cmd = bson_strdup_printf ("{'find': '%s', 'filter': %s, 'sort': %s, 'batchSize': 10000}", coll,
                                   filter ? filter : "{}", sort ? sort : "{'_id': 1}");
   bson_t reply;
   conf_ok (client, db, cmd, &reply);
   cr_assert_eq (conf_int (&reply, "cursor.id"), 0, "find %s did not exhaust in one batch", cmd);
   bson_iter_t it, child;
   cr_assert (conf_find (&reply, "cursor.firstBatch", &it) && BSON_ITER_HOLDS_ARRAY (&it));
   cr_assert (bson_iter_recurse (&it, &child));
   bson_t **docs = NULL;
   int count = 0;
   while (bson_iter_next (&child)) {
      cr_assert (BSON_ITER_HOLDS_DOCUMENT (&child));
      uint32_t len;
      const uint8_t *data;
      bson_iter_document (&child, &len, &data);
      docs = bson_realloc (docs, sizeof *docs * (size_t) (count + 1));
      docs[count++] = bson_new_from_data (data, len);
   }
   bson_destroy (&reply);
   bson_free (cmd);
   *n = count;
   return docs;
}

void
conf_docs_free (bson_t **docs, int n)
{
   for (int i = 0; i < n; i++) {
      bson_destroy (docs[i]);
   }
   bson_free (docs);
}

int64_t
conf_count (mongoc_client_t *client, const char *db, const char *coll, const char *filter)
{
   char *cmd = bson_strdup_printf ("{'count': '%s', 'query': %s}", coll, filter ? filter : "{}");
   bson_t reply;
   conf_ok (client, db, cmd, &reply);
   int64_t n = conf_int (&reply, "n");
   bson_destroy (&reply);
   bson_free (cmd);
   return n;
}

int64_t
conf_server_time_ms (mongoc_client_t *client)
{
   bson_t reply;
   conf_ok (client, "admin", "{'hello': 1}", &reply);
   int64_t t = conf_date (&reply, "localTime");
   bson_destroy (&reply);
   return t;
}

bool
conf_is_replset_or_mongos (mongoc_client_t *client)
{
   bson_t reply;
   conf_ok (client, "admin", "{'hello': 1}", &reply);
   bool rs = conf_type (&reply, "setName") == BSON_TYPE_UTF8;
   bson_iter_t it;
   if (conf_find (&reply, "msg", &it) && BSON_ITER_HOLDS_UTF8 (&it) &&
       strcmp (bson_iter_utf8 (&it, NULL), "isdbgrid") == 0) {
      rs = true;
   }
   bson_destroy (&reply);
   return rs;
}

/* ---- raw wire protocol ---- */

int
conf_raw_connect (void)
{
   bson_error_t error;
   mongoc_uri_t *uri = mongoc_uri_new_with_error (mltest_uri (), &error);
   cr_assert (uri, "bad MONGOLOCK_TEST_URI: %s", error.message);
   const mongoc_host_list_t *host = mongoc_uri_get_hosts (uri);
   cr_assert (host, "MONGOLOCK_TEST_URI names no host");
   char port[16];
   snprintf (port, sizeof port, "%u", (unsigned) host->port);
   struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
   int rc = getaddrinfo (host->host, port, &hints, &res);
   cr_assert_eq (rc, 0, "getaddrinfo %s: %s", host->host, gai_strerror (rc));
   int fd = -1;
   for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
      fd = socket (ai->ai_family, ai->ai_socktype, ai->ai_protocol);
      if (fd >= 0 && connect (fd, ai->ai_addr, ai->ai_addrlen) != 0) {
         close (fd);
         fd = -1;
      }
   }
   freeaddrinfo (res);
   cr_assert (fd >= 0, "cannot connect to %s:%s: %s", host->host, port, strerror (errno));
   int one = 1;
   (void) setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
   mongoc_uri_destroy (uri);
   return fd;
}

bool
conf_raw_send (int fd, const void *buf, size_t len)
{
   const uint8_t *p = buf;
   while (len > 0) {
      ssize_t n = send (fd, p, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) {
         continue;
      }
      if (n <= 0) {
         return false;
      }
      p += n;
      len -= (size_t) n;
   }
   return true;
}

/* Reads exactly len bytes before the deadline: 1 ok, 0 closed, -1 timeout. */
static int
raw_read (int fd, uint8_t *buf, size_t len, int64_t deadline_ms)
{
   size_t got = 0;
   while (got < len) {
      int64_t left = deadline_ms - mltest_now_ms ();
      if (left <= 0) {
         return -1;
      }
      struct pollfd p = {.fd = fd, .events = POLLIN};
      int rc = poll (&p, 1, (int) left);
      if (rc < 0 && errno == EINTR) {
         continue;
      }
      if (rc <= 0) {
         return -1;
      }
      ssize_t n = recv (fd, buf + got, len - got, 0);
      if (n < 0 && errno == EINTR) {
         continue;
      }
      if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE))) {
         return 0;
      }
      if (n < 0) {
         return 0;
      }
      got += (size_t) n;
   }
   return 1;
}

static int32_t
le32 (const uint8_t *p)
{
   uint32_t v = (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
   return (int32_t) v;
}

static void
put32 (uint8_t *p, int32_t v)
{
   uint32_t u = (uint32_t) v;
   p[0] = (uint8_t) u;
   p[1] = (uint8_t) (u >> 8);
   p[2] = (uint8_t) (u >> 16);
   p[3] = (uint8_t) (u >> 24);
}

int
conf_raw_recv (int fd, int64_t timeout_ms, uint8_t **msg, size_t *len)
{
   int64_t deadline = mltest_now_ms () + timeout_ms;
   uint8_t header[16];
   int rc = raw_read (fd, header, sizeof header, deadline);
   if (rc != 1) {
      return rc;
   }
   int32_t total = le32 (header);
   if (total < 16 || total > 48000000) {
      return -1;
   }
   uint8_t *buf = bson_malloc ((size_t) total);
   memcpy (buf, header, sizeof header);
   rc = raw_read (fd, buf + 16, (size_t) total - 16, deadline);
   if (rc != 1) {
      bson_free (buf);
      return rc;
   }
   *msg = buf;
   *len = (size_t) total;
   return 1;
}

static uint8_t *
msg_header (uint8_t *buf, size_t total, int32_t request_id, int32_t opcode)
{
   put32 (buf, (int32_t) total);
   put32 (buf + 4, request_id);
   put32 (buf + 8, 0);
   put32 (buf + 12, opcode);
   return buf + 16;
}

uint8_t *
conf_op_msg (int32_t request_id, const bson_t *body, size_t *len)
{
   return conf_op_msg_seq (request_id, body, NULL, NULL, 0, len);
}

uint8_t *
conf_op_msg_seq (int32_t request_id, const bson_t *body, const char *seq_id, const bson_t **docs, int ndocs,
                 size_t *len)
{
   size_t seq = 0;
   if (seq_id) {
      seq = 1 + 4 + strlen (seq_id) + 1;
      for (int i = 0; i < ndocs; i++) {
         seq += docs[i]->len;
      }
   }
   size_t total = 16 + 4 + 1 + body->len + seq;
   uint8_t *buf = bson_malloc0 (total);
   uint8_t *p = msg_header (buf, total, request_id, 2013);
   put32 (p, 0); /* flagBits */
   p += 4;
   *p++ = 0; /* section kind 0: the body */
   memcpy (p, bson_get_data (body), body->len);
   p += body->len;
   if (seq_id) {
      *p++ = 1; /* section kind 1: a document sequence */
      put32 (p, (int32_t) (seq - 1));
      p += 4;
      memcpy (p, seq_id, strlen (seq_id) + 1);
      p += strlen (seq_id) + 1;
      for (int i = 0; i < ndocs; i++) {
         memcpy (p, bson_get_data (docs[i]), docs[i]->len);
         p += docs[i]->len;
      }
   }
   *len = total;
   return buf;
}

uint8_t *
conf_op_query (int32_t request_id, const char *ns, const bson_t *query, size_t *len)
{
   size_t total = 16 + 4 + strlen (ns) + 1 + 4 + 4 + query->len;
   uint8_t *buf = bson_malloc0 (total);
   uint8_t *p = msg_header (buf, total, request_id, 2004);
   put32 (p, 0); /* flags */
   p += 4;
   memcpy (p, ns, strlen (ns) + 1);
   p += strlen (ns) + 1;
   put32 (p, 0); /* numberToSkip */
   p += 4;
   put32 (p, -1); /* numberToReturn */
   p += 4;
   memcpy (p, bson_get_data (query), query->len);
   *len = total;
   return buf;
}

bool
conf_parse_reply (const uint8_t *msg, size_t len, bson_t *out, int32_t *response_to, int32_t *opcode)
{
   if (len < 16) {
      return false;
   }
   int32_t op = le32 (msg + 12);
   if (response_to) {
      *response_to = le32 (msg + 8);
   }
   if (opcode) {
      *opcode = op;
   }
   size_t off;
   if (op == 2013) {
      off = 16 + 4;
      /* Find the kind-0 section (a reply has exactly one, possibly after sequences). */
      while (off < len) {
         uint8_t kind = msg[off++];
         if (kind == 0) {
            break;
         }
         if (kind != 1 || off + 4 > len) {
            return false;
         }
         off += (size_t) le32 (msg + off);
      }
   } else if (op == 1) {
      off = 16 + 4 + 8 + 4 + 4;
   } else {
      return false;
   }
   if (off + 5 > len) {
      return false;
   }
   int32_t dlen = le32 (msg + off);
   if (dlen < 5 || off + (size_t) dlen > len) {
      return false;
   }
   bson_t view;
   if (!bson_init_static (&view, msg + off, (size_t) dlen) || !bson_validate (&view, BSON_VALIDATE_NONE, NULL)) {
      return false;
   }
   bson_copy_to (&view, out);
   return true;
}

void
conf_raw_command (int fd, const bson_t *body, bson_t *reply)
{
   static int32_t next_id = 1000;
   int32_t id = ++next_id;
   size_t len;
   uint8_t *msg = conf_op_msg (id, body, &len);
   cr_assert (conf_raw_send (fd, msg, len), "send failed");
   bson_free (msg);
   uint8_t *in = NULL;
   size_t in_len = 0;
   int rc = conf_raw_recv (fd, 10000, &in, &in_len);
   cr_assert_eq (rc, 1, "no reply to a raw OP_MSG (%s)", rc == 0 ? "connection closed" : "timeout");
   int32_t response_to, opcode;
   cr_assert (conf_parse_reply (in, in_len, reply, &response_to, &opcode), "unparsable reply");
   cr_assert_eq (opcode, 2013, "OP_MSG answered with opcode %d", opcode);
   cr_assert_eq (response_to, id, "reply's responseTo %d is not our requestID %d", response_to, id);
   bson_free (in);
}
