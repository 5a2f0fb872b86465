/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 18, the stream mongolock's watcher opens (lib/engine/watcher.c): with its $match and
 * $project, a collection stream reports exactly the writes that free a lock (an update
 * that removes the owner field, by pipeline or by operator; a replacement without it; a
 * delete) and nothing else (inserts, updates that keep the owner, replacements with it),
 * each event reduced to {_id, operationType, documentKey}. Skipped on a standalone.
 *
 * References:
 * - manual "Change Events" > update event: updateDescription.removedFields lists the
 *   fields the update removed; "Modify Change Stream Output": $match and $project are
 *   allowed stages, and the event's _id (resume token) must be kept.
 * - src/mongo/db/update/document_diff_calculator.cpp computeOplogDiff: a pipeline update
 *   is logged as a diff unless the diff is larger than the document, then as a
 *   replacement (a replace event): the watcher's filter takes both, so the release here
 *   may be either.
 * - manual "Query an Array for an Element": {removedFields: "owner"} matches an array
 *   containing "owner".
 * - manual "Variables in Aggregation Expressions": $$REMOVE "evaluates to the missing
 *   value", so {$set: {owner: "$$REMOVE"}} removes the field: the diff lists it removed. */
#include <criterion/criterion.h>
#include <string.h>

#include "changestream.h"

TestSuite (cs_release, .init = conf_init, .fini = conf_fini, .timeout = 300);

#define WAIT_MS 20000

/* The watcher's pipeline for owner field "owner" (see pipeline_new in watcher.c). */
#define WATCH_STAGES                                                                                              \
   "{'$match': {'$or': [{'operationType': 'delete'}, "                                                            \
   "{'operationType': 'update', 'updateDescription.removedFields': 'owner'}, "                                    \
   "{'operationType': 'replace', 'fullDocument.owner': {'$exists': false}}]}}, "                                  \
   "{'$project': {'operationType': 1, 'documentKey': 1}}"

static const char *const FIELDS[] = {"_id", "operationType", "documentKey", NULL};

Test (cs_release, only_releases_pass_the_watchers_filter)
{
   char *db;
   mongoc_client_t *c = conf_open ("csr", &db);
   cs_require_replset (c);
   mongoc_client_session_t *s = cs_session (c);
   conf_ok (c, db, "{'create': 'locks'}", NULL);
   int64_t id = cs_open (c, s, db, "{'aggregate': 'locks', 'pipeline': [{'$changeStream': {}}, " WATCH_STAGES "], 'cursor': {}}",
                         NULL);
   /* Not releases: an insert, an update that keeps the owner (a renewal), a replacement
    * with an owner. */
   conf_ok (c, db,
            "{'insert': 'locks', 'documents': [{'_id': 'a', 'owner': 'x', 'token': 1, 'expiresAt': {'$date': 0}}]}",
            NULL);
   conf_ok (c, db,
            "{'findAndModify': 'locks', 'query': {'_id': 'a', 'owner': 'x'}, "
            "'update': [{'$set': {'expiresAt': {'$add': ['$$NOW', 30000]}, 'renewedAt': '$$NOW'}}]}",
            NULL);
   /* 1: mongolock_lock_release's pipeline (lib/shapes/named.c): one $set stage whose
    * owner: $$REMOVE removes the field. */
   conf_ok (c, db,
            "{'findAndModify': 'locks', 'query': {'_id': 'a', 'owner': 'x', 'token': 1}, "
            "'update': [{'$set': {'expiresAt': {'$min': ['$expiresAt', '$$NOW']}, 'releasedAt': '$$NOW', "
            "'owner': '$$REMOVE'}}], 'new': true, 'fields': {'_id': 0, 'owner': 1}}",
            NULL);
   conf_ok (c, db, "{'insert': 'locks', 'documents': [{'_id': 'b', 'owner': 'y', 'n': 1}]}", NULL);
   /* 2: an operator $unset (force release, a document lock's release). */
   conf_ok (c, db, "{'update': 'locks', 'updates': [{'q': {'_id': 'b'}, 'u': {'$unset': {'owner': ''}}}]}", NULL);
   conf_ok (c, db, "{'update': 'locks', 'updates': [{'q': {'_id': 'a'}, 'u': {'owner': 'z', 'token': 2}}]}", NULL);
   /* 3: a replacement without an owner. */
   conf_ok (c, db, "{'update': 'locks', 'updates': [{'q': {'_id': 'a'}, 'u': {'token': 3}}]}", NULL);
   /* 4: a delete. */
   conf_ok (c, db, "{'delete': 'locks', 'deletes': [{'q': {'_id': 'b'}, 'limit': 1}]}", NULL);
   bson_t **ev;
   int n = cs_collect (c, s, db, "locks", &id, 4, WAIT_MS, &ev);
   const char *keys[] = {"a", "b", "a", "b"};
   for (int i = 0; i < 4; i++) {
      char *j = conf_json (ev[i]);
      cs_assert_fields (ev[i], FIELDS);
      cr_assert_str_eq (conf_str (ev[i], "documentKey._id"), keys[i], "event %d: %s", i, j);
      const char *op = conf_str (ev[i], "operationType");
      if (i == 0) {
         cr_assert (strcmp (op, "update") == 0 || strcmp (op, "replace") == 0, "event 0: %s", j);
      } else {
         cr_assert_str_eq (op, i == 1 ? "update" : i == 2 ? "replace" : "delete", "event %d: %s", i, j);
      }
      bson_free (j);
   }
   conf_docs_free (ev, n);
   mongoc_client_session_destroy (s);
   conf_close (c, db);
}
