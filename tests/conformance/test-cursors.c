/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 4, cursors: getMore continues a cursor only in the session that opened it and only
 * on its own namespace; killCursors ends it; listIndexes cursors live in their own
 * namespace. Raw OP_MSG commands are used so that each command's lsid is exactly the
 * one the test chose (a driver attaches implicit sessions of its own).
 *
 * References (MongoDB 7.0 source):
 * - src/mongo/db/commands/getmore_cmd.cpp validateLSID: 50736 "Cannot run getMore on
 *   cursor N, which was not created in a session, in session ...", 50737 "... which was
 *   created in session ..., without an lsid", 50738 "... in session ..." for another
 *   session; a getMore on another namespace fails 13 Unauthorized "Requested getMore on
 *   namespace ..., but cursor belongs to a different namespace"; an unknown or killed
 *   cursor is 43 CursorNotFound.
 * - src/mongo/db/namespace_string.cpp makeListIndexesNSS: a listIndexes cursor's ns is
 *   "<db>.$cmd.listIndexes.<collection>", continued with collection
 *   "$cmd.listIndexes.<collection>". */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include "conformance.h"

TestSuite (cursors, .init = conf_init, .fini = conf_fini, .timeout = 60);

static const uint8_t SESSION_A[16] = {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x41, 0x11,
                                      0x91, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11};
static const uint8_t SESSION_B[16] = {0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x42, 0x22,
                                      0x92, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22};

/* Runs body (with $db) on the raw connection, adding lsid {id: session} when session is
 * not NULL. */
static void
raw_cmd (int fd, const char *db, const char *json, const uint8_t *session, bson_t *reply)
{
   bson_t *b = mltest_bson (json);
   BSON_APPEND_UTF8 (b, "$db", db);
   if (session) {
      bson_t lsid;
      BSON_APPEND_DOCUMENT_BEGIN (b, "lsid", &lsid);
      BSON_APPEND_BINARY (&lsid, "id", BSON_SUBTYPE_UUID, session, 16);
      bson_append_document_end (b, &lsid);
   }
   conf_raw_command (fd, b, reply);
   bson_destroy (b);
}

static int64_t
open_cursor (int fd, const char *db, const uint8_t *session)
{
   bson_t r;
   raw_cmd (fd, db, "{'find': 'c', 'batchSize': 2}", session, &r);
   int64_t id = conf_int64 (&r, "cursor.id");
   cr_assert_neq (id, 0, "the cursor was exhausted at once");
   bson_destroy (&r);
   return id;
}

static int32_t
get_more (int fd, const char *db, int64_t id, const char *coll, const uint8_t *session, int *ndocs)
{
   char *json = bson_strdup_printf ("{'getMore': {'$numberLong': '%" PRId64 "'}, 'collection': '%s', 'batchSize': 2}", id,
                                    coll);
   bson_t r;
   raw_cmd (fd, db, json, session, &r);
   bson_free (json);
   bson_iter_t it;
   int32_t code = 0;
   if (conf_find (&r, "ok", &it) && bson_iter_as_double (&it) != 1.0) {
      code = (int32_t) conf_int (&r, "code");
   } else if (ndocs) {
      *ndocs = conf_array_len (&r, "cursor.nextBatch");
   }
   bson_destroy (&r);
   return code;
}

Test (cursors, get_more_only_in_the_session_that_opened_the_cursor)
{
   char *db;
   mongoc_client_t *c = conf_open ("cur", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}, {'_id': 2}, {'_id': 3}, {'_id': 4}, {'_id': 5}]}", NULL);
   int fd = conf_raw_connect ();
   int n = 0;

   int64_t plain = open_cursor (fd, db, NULL);
   cr_assert_eq (get_more (fd, db, plain, "c", SESSION_A, NULL), 50736);
   cr_assert_eq (get_more (fd, db, plain, "c", NULL, &n), 0);
   cr_assert_eq (n, 2);

   int64_t in_a = open_cursor (fd, db, SESSION_A);
   cr_assert_eq (get_more (fd, db, in_a, "c", NULL, NULL), 50737);
   cr_assert_eq (get_more (fd, db, in_a, "c", SESSION_B, NULL), 50738);
   /* The refused getMores did not consume or close it. */
   cr_assert_eq (get_more (fd, db, in_a, "c", SESSION_A, &n), 0);
   cr_assert_eq (n, 2);
   cr_assert_eq (get_more (fd, db, in_a, "other", SESSION_A, NULL), 13);

   /* killCursors ends it; a getMore then finds nothing. */
   char *kill = bson_strdup_printf ("{'killCursors': 'c', 'cursors': [{'$numberLong': '%" PRId64 "'}]}", in_a);
   bson_t r;
   raw_cmd (fd, db, kill, SESSION_A, &r);
   cr_assert_eq (conf_array_len (&r, "cursorsKilled"), 1);
   bson_destroy (&r);
   bson_free (kill);
   cr_assert_eq (get_more (fd, db, in_a, "c", SESSION_A, NULL), 43);
   close (fd);
   conf_close (c, db);
}

Test (cursors, list_indexes_cursor_namespace)
{
   char *db;
   mongoc_client_t *c = conf_open ("cur", &db);
   conf_ok (c, db,
            "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1'}, {'key': {'b': 1}, 'name': 'b_1'}]}",
            NULL);
   int fd = conf_raw_connect ();
   bson_t r;
   raw_cmd (fd, db, "{'listIndexes': 'c', 'cursor': {'batchSize': 1}}", NULL, &r);
   char *want = bson_strdup_printf ("%s.$cmd.listIndexes.c", db);
   cr_assert_str_eq (conf_str (&r, "cursor.ns"), want);
   int64_t id = conf_int64 (&r, "cursor.id");
   cr_assert_neq (id, 0);
   bson_destroy (&r);
   int n = 0;
   cr_assert_eq (get_more (fd, db, id, "$cmd.listIndexes.c", NULL, &n), 0);
   cr_assert_eq (n, 2);
   bson_free (want);
   close (fd);
   conf_close (c, db);
}
