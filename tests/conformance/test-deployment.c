/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 18 (the standalone half): change streams need a replica set or sharded cluster;
 * a standalone refuses $changeStream. The test detects the deployment from hello
 * (setName, or msg "isdbgrid" on mongos): against a replica set (docker/ starts a
 * one-node set) it checks that a change stream opens and reports an insert instead, so
 * the same test is right on both.
 *
 * References: manual "$changeStream" / "Change Streams" ("Change streams are only
 * available for replica sets and sharded clusters"); on a standalone the stage fails with
 * code 40573 "The $changeStream stage is only supported on replica sets" (MongoDB's own
 * jstest "Tests that the $changeStream stage returns an error when run against a
 * standalone mongod" asserts notReplicaSetErrorCode = 40573; the uassert lives in
 * src/mongo/db/pipeline/document_source_change_stream*.cpp - the exact file was not
 * confirmed). */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (deployment, .init = conf_init, .fini = conf_fini, .timeout = 120);

static void
standalone_refuses (mongoc_client_t *c, const char *db)
{
   bson_t r;
   conf_cmd_error (c, db, "{'aggregate': 'c', 'pipeline': [{'$changeStream': {}}], 'cursor': {}}", 40573, &r);
   cr_assert (strstr (conf_str (&r, "errmsg"), "only supported on replica sets"), "errmsg: %s", conf_str (&r, "errmsg"));
   bson_destroy (&r);

   /* The driver's watch API sees the same server error. */
   mongoc_collection_t *coll = mongoc_client_get_collection (c, db, "c");
   bson_t empty = BSON_INITIALIZER;
   mongoc_change_stream_t *cs = mongoc_collection_watch (coll, &empty, NULL);
   const bson_t *doc;
   cr_assert_not (mongoc_change_stream_next (cs, &doc), "a standalone produced a change event");
   bson_error_t error;
   const bson_t *reply;
   cr_assert (mongoc_change_stream_error_document (cs, &error, &reply), "no error from watch() on a standalone");
   cr_assert_eq (error.code, 40573, "watch(): %s (code %u)", error.message, error.code);
   mongoc_change_stream_destroy (cs);
   bson_destroy (&empty);
   mongoc_collection_destroy (coll);

   /* Database-level and cluster-level streams too. */
   conf_cmd_error (c, db, "{'aggregate': 1, 'pipeline': [{'$changeStream': {}}], 'cursor': {}}", 40573, NULL);
   conf_cmd_error (c, "admin",
                   "{'aggregate': 1, 'pipeline': [{'$changeStream': {'allChangesForCluster': true}}], 'cursor': {}}",
                   40573, NULL);
}

static void
replica_set_streams (mongoc_client_t *c, const char *db)
{
   mongoc_collection_t *coll = mongoc_client_get_collection (c, db, "c");
   bson_t *opts = BCON_NEW ("maxAwaitTimeMS", BCON_INT64 (1000));
   bson_t empty = BSON_INITIALIZER;
   mongoc_change_stream_t *cs = mongoc_collection_watch (coll, &empty, opts);
   bson_error_t error;
   const bson_t *reply;
   cr_assert_not (mongoc_change_stream_error_document (cs, &error, &reply), "watch() on a replica set: %s",
                  error.message);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 'seen'}]}", NULL);
   const bson_t *doc = NULL;
   int64_t start = mltest_now_ms ();
   bool got = false;
   while (!got && mltest_now_ms () - start < 30000) {
      got = mongoc_change_stream_next (cs, &doc);
      cr_assert_not (mongoc_change_stream_error_document (cs, &error, &reply), "change stream: %s", error.message);
   }
   cr_assert (got, "no change event within 30 s");
   cr_assert_str_eq (conf_str (doc, "operationType"), "insert");
   cr_assert_str_eq (conf_str (doc, "documentKey._id"), "seen");
   mongoc_change_stream_destroy (cs);
   bson_destroy (&empty);
   bson_destroy (opts);
   mongoc_collection_destroy (coll);
}

Test (deployment, change_streams_need_a_replica_set)
{
   char *db;
   mongoc_client_t *c = conf_open ("dep", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   if (conf_is_replset_or_mongos (c)) {
      cr_log_info ("replica set or mongos: checking that a change stream opens and reports an insert");
      replica_set_streams (c, db);
   } else {
      standalone_refuses (c, db);
   }
   conf_close (c, db);
}
