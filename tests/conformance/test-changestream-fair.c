/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 18, the watcher's filter for fair releases (lib/engine/watcher.c, named-fair.c):
 * a fair release writes nextOwner and nextClient (the queue's live head, computed in the
 * release pipeline), and each client's stream passes only releases whose nextClient is
 * itself or missing or null. Checked here on the server, in order: a release naming
 * another client is not sent; one naming this client is, with updatedFields.nextOwner; one
 * naming this client again is sent too (nextClient unchanged is missing from
 * updatedFields); one naming nobody (null) and a plain release (no next fields) are sent.
 * Skipped on a standalone.
 *
 * References:
 * - manual "Change Events" > update event: updateDescription.updatedFields holds the
 *   fields the update modified; src/mongo/db/update/document_diff_calculator.cpp
 *   computeOplogDiff: a pipeline update is logged as the difference of the two documents
 *   (a field set to its current value is no difference), or as a replacement when the
 *   difference is larger than the document (the padding keeps it smaller here).
 * - manual "Query for Null or Missing Fields": {field: null} (so $in with null) matches
 *   documents where the field is null or missing.
 * - manual "Modify Change Stream Output": $match and $project are allowed, the event's _id
 *   kept. */
#include <criterion/criterion.h>
#include <string.h>

#include "changestream.h"

TestSuite (cs_fair, .init = conf_init, .fini = conf_fini, .timeout = 300);

#define WAIT_MS 20000

/* The watcher's pipeline for owner field "owner" and client identity "me". */
#define WATCH_STAGES                                                                                              \
   "{'$match': {'$or': [{'operationType': 'delete'}, "                                                            \
   "{'operationType': 'update', 'updateDescription.removedFields': 'owner', "                                     \
   "'updateDescription.updatedFields.nextClient': {'$in': [null, 'me']}}, "                                       \
   "{'operationType': 'replace', 'fullDocument.owner': {'$exists': false}}]}}, "                                  \
   "{'$project': {'operationType': 1, 'documentKey': 1, 'updateDescription.updatedFields.nextOwner': 1}}"

/* The fair release (named-fair.c): the queue's first live entry named, or null. */
#define HEAD(F)                                                                                                   \
   "{'$let': {'vars': {'h': {'$arrayElemAt': [{'$filter': {'input': {'$ifNull': ['$queue', []]}, "               \
   "'cond': {'$gt': ['$$this.e', '$$NOW']}}}, 0]}}, 'in': {'$ifNull': ['$$h." F "', null]}}}"
#define FAIR_RELEASE                                                                                              \
   "{'findAndModify': 'locks', 'query': {'_id': 'k'}, 'update': [{'$set': {"                                      \
   "'expiresAt': {'$min': ['$expiresAt', '$$NOW']}, 'releasedAt': '$$NOW', "                                      \
   "'nextOwner': " HEAD ("o") ", 'nextClient': " HEAD ("c") ", 'owner': '$$REMOVE'}}], 'fields': {'_id': 1}}"

/* Takes the lock as owner o with queue q (a JSON array), as an acquire would. */
static void
take (mongoc_client_t *c, const char *db, const char *o, const char *q)
{
   char *cmd = bson_strdup_printf ("{'update': 'locks', 'updates': [{'q': {'_id': 'k'}, 'u': {'$set': {'owner': '%s', "
                                   "'expiresAt': {'$date': 4102444800000}, 'queue': %s}}}]}",
                                   o, q);
   conf_ok (c, db, cmd, NULL);
   bson_free (cmd);
}

#define ENTRY(O, C) "{'o': '" O "', 'c': '" C "', 'e': {'$date': 4102444800000}}"

Test (cs_fair, a_client_is_sent_only_releases_naming_it_or_no_one)
{
   char *db;
   mongoc_client_t *c = conf_open ("csf", &db);
   cs_require_replset (c);
   mongoc_client_session_t *s = cs_session (c);
   char pad[601];
   memset (pad, 'p', 600);
   pad[600] = '\0';
   char *ins = bson_strdup_printf ("{'insert': 'locks', 'documents': [{'_id': 'k', 'token': 1, 'pad': '%s'}]}", pad);
   conf_ok (c, db, ins, NULL);
   bson_free (ins);
   int64_t id = cs_open (c, s, db, "{'aggregate': 'locks', 'pipeline': [{'$changeStream': {}}, " WATCH_STAGES "], 'cursor': {}}",
                         NULL);
   /* Handed to another client: not sent. */
   take (c, db, "h1", "[" ENTRY ("o1", "other") ", " ENTRY ("o2", "me") "]");
   conf_ok (c, db, FAIR_RELEASE, NULL);
   /* 1: handed to this client (o2). */
   take (c, db, "o1", "[" ENTRY ("o2", "me") ", " ENTRY ("o3", "me") "]");
   conf_ok (c, db, FAIR_RELEASE, NULL);
   /* 2: to this client again (o3): nextClient unchanged. */
   take (c, db, "o2", "[" ENTRY ("o3", "me") "]");
   conf_ok (c, db, FAIR_RELEASE, NULL);
   /* 3: to no one (empty queue): null. */
   take (c, db, "o3", "[]");
   conf_ok (c, db, FAIR_RELEASE, NULL);
   /* 4: a plain release (no next fields). */
   take (c, db, "x", "[]");
   conf_ok (c, db,
            "{'findAndModify': 'locks', 'query': {'_id': 'k', 'owner': 'x'}, "
            "'update': [{'$set': {'expiresAt': {'$min': ['$expiresAt', '$$NOW']}, 'releasedAt': '$$NOW', "
            "'owner': '$$REMOVE'}}], 'fields': {'_id': 1}}",
            NULL);
   bson_t **ev;
   int n = cs_collect (c, s, db, "locks", &id, 4, WAIT_MS, &ev);
   const char *next[] = {"o2", "o3", NULL, NULL};
   for (int i = 0; i < 4; i++) {
      char *j = conf_json (ev[i]);
      cr_assert_str_eq (conf_str (ev[i], "operationType"), "update", "event %d: %s", i, j);
      cr_assert_str_eq (conf_str (ev[i], "documentKey._id"), "k", "event %d: %s", i, j);
      bson_type_t t = conf_type (ev[i], "updateDescription.updatedFields.nextOwner");
      if (next[i]) {
         cr_assert_str_eq (conf_str (ev[i], "updateDescription.updatedFields.nextOwner"), next[i], "event %d: %s", i,
                           j);
      } else if (i == 2) {
         cr_assert_eq (t, BSON_TYPE_NULL, "event %d: %s", i, j);
      } else {
         cr_assert_eq (t, BSON_TYPE_EOD, "event %d (no next fields): %s", i, j);
      }
      bson_free (j);
   }
   conf_docs_free (ev, n);
   mongoc_client_session_destroy (s);
   conf_close (c, db);
}
