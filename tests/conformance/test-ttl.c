/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 16: a TTL index (single field, expireAfterSeconds) makes a background monitor
 * delete documents whose indexed date is older than now - expireAfterSeconds; documents
 * whose field is missing or not a date never expire.
 *
 * References: manual "TTL Indexes" (core/index-ttl: "If the indexed field in a document
 * is not a date or an array that holds one or more date values, the document will not
 * expire"; "If a document does not contain the indexed field, the document will not
 * expire"; "The background task that removes expired documents runs every 60 seconds");
 * src/mongo/db/ttl.idl: ttlMonitorSleepSecs, default 60, set_at [startup, runtime], so
 * {setParameter: 1, ttlMonitorSleepSecs: 1} on admin shortens the period on a real server
 * too (the running monitor may finish its current 60 s sleep first, hence the long
 * bounded wait). The test restores 60 at the end. */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (ttl, .init = conf_init, .fini = conf_fini, .timeout = 400);

#define TTL_WAIT_MS 150000

static void
set_sleep_secs (mongoc_client_t *c, int secs)
{
   char *cmd = bson_strdup_printf ("{'setParameter': 1, 'ttlMonitorSleepSecs': %d}", secs);
   bson_t r;
   conf_ok (c, "admin", cmd, &r);
   cr_assert_neq (conf_type (&r, "was"), BSON_TYPE_EOD, "setParameter reply without 'was'");
   bson_destroy (&r);
   bson_free (cmd);
}

static bool
exists (mongoc_client_t *c, const char *db, const char *coll, const char *id)
{
   char *f = bson_strdup_printf ("{'_id': '%s'}", id);
   int64_t n = conf_count (c, db, coll, f);
   bson_free (f);
   return n == 1;
}

/* Polls until the document is gone; fails after TTL_WAIT_MS. */
static void
wait_deleted (mongoc_client_t *c, const char *db, const char *coll, const char *id)
{
   int64_t start = mltest_now_ms ();
   while (exists (c, db, coll, id)) {
      cr_assert_lt (mltest_now_ms () - start, TTL_WAIT_MS, "%s.%s not deleted by the TTL monitor within %d s", coll, id,
                    TTL_WAIT_MS / 1000);
      mltest_sleep_ms (250);
   }
   cr_log_info ("%s.%s deleted after %" PRId64 " ms", coll, id, mltest_now_ms () - start);
}

static void
insert_dated (mongoc_client_t *c, const char *db, const char *coll, const char *id, int64_t t)
{
   char *cmd = bson_strdup_printf (
      "{'insert': '%s', 'documents': [{'_id': '%s', 't': {'$date': {'$numberLong': '%" PRId64 "'}}}]}", coll, id, t);
   conf_ok (c, db, cmd, NULL);
   bson_free (cmd);
}

static const char *const survivors[] = {"missing", "null", "string", "number", "timestamp", "future", "object"};

static void
check_survivors (mongoc_client_t *c, const char *db)
{
   for (size_t i = 0; i < sizeof survivors / sizeof survivors[0]; i++) {
      cr_assert (exists (c, db, "c", survivors[i]), "the TTL monitor deleted c.%s", survivors[i]);
   }
   cr_assert (exists (c, db, "d", "recent"), "the TTL monitor ignored expireAfterSeconds 3600");
}

Test (ttl, monitor_deletes_only_expired_dates)
{
   char *db;
   mongoc_client_t *c = conf_open ("ttl", &db);
   bson_t r;
   conf_ok (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'t': 1}, 'name': 't_ttl', 'expireAfterSeconds': 1}]}",
            &r);
   bson_destroy (&r);
   conf_ok (c, db,
            "{'createIndexes': 'd', 'indexes': [{'key': {'t': 1}, 'name': 't_ttl', 'expireAfterSeconds': 3600}]}", NULL);
   conf_ok (c, db, "{'listIndexes': 'c', 'cursor': {}}", &r);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.1.expireAfterSeconds"), 1);
   bson_destroy (&r);

   /* Dates from the server's clock, not ours. */
   int64_t now = conf_server_time_ms (c);
   conf_ok (c, db,
            "{'insert': 'c', 'documents': [{'_id': 'missing'}, {'_id': 'null', 't': null}, "
            "{'_id': 'string', 't': '2000-01-01T00:00:00Z'}, {'_id': 'number', 't': 946684800000}, "
            "{'_id': 'timestamp', 't': {'$timestamp': {'t': 946684800, 'i': 1}}}, "
            "{'_id': 'object', 't': {'when': {'$date': {'$numberLong': '0'}}}}]}",
            NULL);
   insert_dated (c, db, "c", "old", now - 3600000);
   insert_dated (c, db, "c", "future", now + 3600000);
   insert_dated (c, db, "d", "recent", now - 60000);  /* 60 s old, expires after 3600 s */
   insert_dated (c, db, "d", "ancient", now - 7200000); /* 2 h old */

   /* An array expires by its earliest date; a TTL index on a path into an array of
    * subdocuments keys each element, and the monitor deletes by those keys (ttl.cpp scans
    * the index for keys older than the expiry date). */
   char *cmd = bson_strdup_printf ("{'insert': 'c', 'documents': [{'_id': 'array', 't': [{'$date': {'$numberLong': "
                                   "'%" PRId64 "'}}, {'$date': {'$numberLong': '%" PRId64 "'}}]}]}",
                                   now + 3600000, now - 3600000);
   conf_ok (c, db, cmd, NULL);
   bson_free (cmd);
   conf_ok (c, db,
            "{'createIndexes': 'e', 'indexes': [{'key': {'s.t': 1}, 'name': 'st_ttl', 'expireAfterSeconds': 1}]}", NULL);
   cmd = bson_strdup_printf ("{'insert': 'e', 'documents': [{'_id': 'nested', 's': [{'t': 1}, {'t': {'$date': "
                             "{'$numberLong': '%" PRId64 "'}}}]}]}",
                             now - 3600000);
   conf_ok (c, db, cmd, NULL);
   bson_free (cmd);

   set_sleep_secs (c, 1);
   wait_deleted (c, db, "c", "old");
   wait_deleted (c, db, "d", "ancient");
   wait_deleted (c, db, "c", "array");
   wait_deleted (c, db, "e", "nested");
   check_survivors (c, db);

   /* Another expired document: deleted by a later pass, and still nothing else. */
   insert_dated (c, db, "c", "old2", now - 3600000);
   wait_deleted (c, db, "c", "old2");
   check_survivors (c, db);
   cr_assert_eq (conf_count (c, db, "c", NULL), 7);

   set_sleep_secs (c, 60);
   conf_close (c, db);
}
