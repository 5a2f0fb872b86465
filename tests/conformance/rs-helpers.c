/* SPDX-License-Identifier: Apache-2.0 */
#include "rs-helpers.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

bool
rs_is_replset (mongoc_client_t *client)
{
   bson_t r;
   mltest_cmd_ok (client, "admin", "{'hello': 1}", &r);
   bool rs = conf_type (&r, "setName") == BSON_TYPE_UTF8;
   bson_destroy (&r);
   return rs;
}

bool
rs_test_commands (mongoc_client_t *client)
{
   bson_t r;
   bson_error_t error;
   bool ok = mltest_cmd (client, "admin", "{'configureFailPoint': 'failCommand', 'mode': 'off'}", &r, &error);
   if (!ok) {
      char *s = conf_json (&r);
      cr_assert_eq (error.code, 59, "configureFailPoint refused with %u, not 59: %s", error.code, s);
      bson_free (s);
   }
   bson_destroy (&r);
   return ok;
}

void
rs_failpoint (mongoc_client_t *client, const char *mode_json, const char *data_json)
{
   char *json = bson_strdup_printf ("{'configureFailPoint': 'failCommand', 'mode': %s, 'data': %s}", mode_json,
                                    data_json);
   mltest_cmd_ok (client, "admin", json, NULL);
   bson_free (json);
}

void
rs_failpoint_off (mongoc_client_t *client)
{
   mltest_cmd_ok (client, "admin", "{'configureFailPoint': 'failCommand', 'mode': 'off'}", NULL);
}

void
rs_lsid (bson_t *out)
{
   uint8_t id[16];
   FILE *f = fopen ("/dev/urandom", "rb");
   cr_assert (f && fread (id, 1, sizeof id, f) == sizeof id);
   fclose (f);
   id[6] = (uint8_t) ((id[6] & 0x0f) | 0x40);
   id[8] = (uint8_t) ((id[8] & 0x3f) | 0x80);
   bson_init (out);
   BSON_APPEND_BINARY (out, "id", BSON_SUBTYPE_UUID, id, sizeof id);
}

bool
rs_raw_maybe (int fd, const char *db, const bson_t *lsid, int64_t txn, const char *json, bson_t *reply,
              bool *closed)
{
   bson_t *body = mltest_bson (json);
   BSON_APPEND_UTF8 (body, "$db", db);
   if (lsid) {
      BSON_APPEND_DOCUMENT (body, "lsid", lsid);
      if (txn >= 0) {
         BSON_APPEND_INT64 (body, "txnNumber", txn);
      }
   }
   static int32_t next_id = 50000;
   int32_t id = ++next_id;
   size_t len;
   uint8_t *msg = conf_op_msg (id, body, &len);
   bson_destroy (body);
   cr_assert (conf_raw_send (fd, msg, len), "send failed");
   bson_free (msg);
   uint8_t *in = NULL;
   size_t in_len = 0;
   int rc = conf_raw_recv (fd, 30000, &in, &in_len);
   cr_assert_neq (rc, -1, "no reply to %s within 30 s", json);
   *closed = rc == 0;
   if (*closed) {
      bson_init (reply);
      return false;
   }
   int32_t response_to, opcode;
   cr_assert (conf_parse_reply (in, in_len, reply, &response_to, &opcode), "unparsable reply");
   cr_assert_eq (response_to, id);
   bson_free (in);
   bson_iter_t it;
   return conf_find (reply, "ok", &it) && bson_iter_as_bool (&it);
}

bool
rs_raw (int fd, const char *db, const bson_t *lsid, int64_t txn, const char *json, bson_t *reply)
{
   bool closed;
   bool ok = rs_raw_maybe (fd, db, lsid, txn, json, reply, &closed);
   cr_assert_not (closed, "the server closed the connection instead of answering %s", json);
   return ok;
}

bool
rs_has_label (const bson_t *reply, const char *label)
{
   bson_iter_t it, child;
   if (!conf_find (reply, "errorLabels", &it) || !BSON_ITER_HOLDS_ARRAY (&it) || !bson_iter_recurse (&it, &child)) {
      return false;
   }
   while (bson_iter_next (&child)) {
      if (BSON_ITER_HOLDS_UTF8 (&child) && strcmp (bson_iter_utf8 (&child, NULL), label) == 0) {
         return true;
      }
   }
   return false;
}

bool
rs_wait_primary (mongoc_client_t *client, int64_t ms)
{
   int64_t end = mltest_now_ms () + ms;
   (void) client;
   while (mltest_now_ms () < end) {
      /* A fresh raw connection: the client's pooled view may lag behind. */
      int fd = conf_raw_connect ();
      bson_t r;
      bool closed;
      bool ok = rs_raw_maybe (fd, "admin", NULL, -1, "{'hello': 1}", &r, &closed);
      close (fd);
      bson_iter_t it;
      bool primary = ok && conf_find (&r, "isWritablePrimary", &it) && bson_iter_as_bool (&it);
      bson_destroy (&r);
      if (primary) {
         return true;
      }
      mltest_sleep_ms (200);
   }
   return false;
}

int
rs_connect_app (const char *app)
{
   int fd = conf_raw_connect ();
   char *json = bson_strdup_printf ("{'hello': 1, 'client': {'application': {'name': '%s'}, 'driver': {'name': "
                                    "'mongolock-conformance', 'version': '1'}, 'os': {'type': 'Linux'}}}",
                                    app);
   bson_t r;
   cr_assert (rs_raw (fd, "admin", NULL, -1, json, &r), "handshake as %s failed", app);
   bson_destroy (&r);
   bson_free (json);
   return fd;
}

char *
rs_app_name (const char *tag)
{
   static int n = 0;
   return bson_strdup_printf ("%s-%d-%d", tag, (int) getpid (), ++n);
}

void
rs_failpoints_exclusive (void)
{
   mltest_failpoints_exclusive ();
}
