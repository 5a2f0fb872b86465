/* SPDX-License-Identifier: Apache-2.0 */
/* Rules 2 and 4: arguments a server does not act on are refused, not ignored. A test
 * server that silently accepted a hint, a write concern, a transaction number or a
 * tailable cursor would let code pass here that behaves differently on MongoDB.
 *
 * References (MongoDB 7.0 source):
 * - Command lookup is by exact name (commands.cpp CommandRegistry::findCommand; aliases
 *   such as findandmodify are registered explicitly): 59 CommandNotFound otherwise.
 * - service_entry_point_common.cpp: a command whose Invocation::supportsWriteConcern() is
 *   false and that is given a writeConcern fails 72 InvalidOptions "Command does not
 *   support writeConcern" (find, count, ping, getMore, ...).
 * - write_concern.cpp validateWriteConcern: on a standalone, w > 1 and custom w modes fail
 *   2 BadValue. (On a replica set they are valid and fail later, so those checks are
 *   skipped there.)
 * - logical_session_id_helpers.cpp initializeOperationSessionInfo: a txnNumber on a
 *   standalone fails 20 IllegalOperation "Transaction numbers are only allowed on a
 *   replica set member or mongos".
 * - api_parameters.cpp: apiVersion must be "1" (322 APIVersionError).
 * - query_planner.cpp: a hint naming no existing index fails 2 BadValue "hint provided
 *   does not correspond to an existing index", in find, count, aggregate, update, delete
 *   and findAndModify; a hinted index scan returns documents in index order.
 * - query_request_helper.cpp / planner: min()/max() need a hint (51173); a tailable cursor
 *   needs a capped collection (2 BadValue).
 * - create: expireAfterSeconds belongs to time-series and clustered collections only; on a
 *   plain collection it is refused (the exact code is not pinned here).
 * - write_ops_parsers.cpp checkOpCountForCommand: 1 to 100000 statements, else 16
 *   InvalidLength (the server used to answer an empty batch with ok:1). */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (options, .init = conf_init, .fini = conf_fini, .timeout = 60);

Test (options, command_names_are_exact)
{
   char *db;
   mongoc_client_t *c = conf_open ("opt", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   conf_cmd_error (c, db, "{'FIND': 'c'}", 59, NULL);
   conf_cmd_error (c, db, "{'FindAndModify': 'c', 'query': {}, 'remove': true}", 59, NULL);
   /* Names of JavaScript's Object.prototype are no commands either. */
   conf_cmd_error (c, db, "{'toString': 1}", 59, NULL);
   conf_cmd_error (c, db, "{'constructor': 1}", 59, NULL);
   conf_cmd_error (c, db, "{'__proto__': 1}", 59, NULL);
   conf_cmd_error (c, db, "{'hasOwnProperty': 'c'}", 59, NULL);
   /* The registered second spelling works. */
   conf_ok (c, db, "{'findandmodify': 'c', 'query': {'_id': 1}, 'update': {'$set': {'a': 1}}}", NULL);
   conf_close (c, db);
}

Test (options, write_concern_only_where_supported)
{
   char *db;
   mongoc_client_t *c = conf_open ("opt", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}], 'writeConcern': {'w': 'majority', 'wtimeout': 1000}}",
            NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'writeConcern': {'w': 1}}", 72, NULL);
   conf_cmd_error (c, db, "{'count': 'c', 'writeConcern': {'w': 1}}", 72, NULL);
   conf_cmd_error (c, "admin", "{'ping': 1, 'writeConcern': {'w': 1}}", 72, NULL);
   if (!conf_is_replset_or_mongos (c)) {
      conf_cmd_error (c, db, "{'insert': 'c', 'documents': [{'_id': 2}], 'writeConcern': {'w': 2}}", 2, NULL);
      conf_cmd_error (c, db, "{'insert': 'c', 'documents': [{'_id': 3}], 'writeConcern': {'w': 'dc1'}}", 2, NULL);
      /* Retryable writes and transactions need a replica set. */
      conf_cmd_error (c, db, "{'insert': 'c', 'documents': [{'_id': 4}], 'txnNumber': {'$numberLong': '1'}}", 20, NULL);
      cr_assert_eq (conf_count (c, db, "c", NULL), 1, "a refused write was applied");
   }
   conf_close (c, db);
}

Test (options, generic_arguments_are_checked)
{
   char *db;
   mongoc_client_t *c = conf_open ("opt", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1}]}", NULL);
   conf_ok (c, db, "{'find': 'c', 'maxTimeMS': 5000}", NULL);
   (void) conf_cmd_refused (c, db, "{'find': 'c', 'maxTimeMS': -1}");
   (void) conf_cmd_refused (c, db, "{'find': 'c', 'maxTimeMS': 'soon'}");
   conf_cmd_error (c, db, "{'find': 'c', 'apiVersion': '2'}", 322, NULL);
   conf_ok (c, db, "{'find': 'c', 'readConcern': {'level': 'majority'}}", NULL);
   (void) conf_cmd_refused (c, db, "{'find': 'c', 'readConcern': {'level': 'someday'}}");
   conf_ok (c, db, "{'find': 'c', 'apiVersion': '1'}", NULL);
   conf_close (c, db);
}

Test (options, hints_must_name_an_index_and_set_the_order)
{
   char *db;
   mongoc_client_t *c = conf_open ("opt", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 3}, {'_id': 2, 'a': 1}, {'_id': 3, 'a': 2}]}", NULL);
   conf_ok (c, db, "{'createIndexes': 'c', 'indexes': [{'key': {'a': 1}, 'name': 'a_1'}]}", NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'hint': 'nosuch'}", 2, NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'hint': {'b': 1}}", 2, NULL);
   conf_cmd_error (c, db, "{'count': 'c', 'hint': 'nosuch'}", 2, NULL);
   conf_cmd_error (c, db, "{'aggregate': 'c', 'pipeline': [], 'cursor': {}, 'hint': 'nosuch'}", 2, NULL);
   conf_cmd_error (c, db, "{'findAndModify': 'c', 'query': {}, 'update': {'$set': {'x': 1}}, 'hint': 'nosuch'}", 2,
                   NULL);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {}, 'u': {'$set': {'x': 1}}, 'hint': 'nosuch'}]}", 2);
   mltest_cmd_fails (c, db, "{'delete': 'c', 'deletes': [{'q': {}, 'limit': 0, 'hint': {'b': 1}}]}", 2);
   cr_assert_eq (conf_count (c, db, "c", "{'x': 1}"), 0, "a write with a bad hint was applied");
   cr_assert_eq (conf_count (c, db, "c", NULL), 3);

   /* An existing index by name or key is fine; without a sort, the index order shows. */
   bson_t r;
   conf_ok (c, db, "{'find': 'c', 'hint': 'a_1'}", &r);
   char *s = conf_json (&r);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0._id"), 2, "%s", s);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.1._id"), 3, "%s", s);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.2._id"), 1, "%s", s);
   bson_free (s);
   bson_destroy (&r);
   conf_ok (c, db, "{'find': 'c', 'hint': {'a': 1}, 'sort': {'_id': -1}}", &r);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0._id"), 3);
   bson_destroy (&r);
   /* A hinted single-document delete takes the first document in index order. */
   conf_ok (c, db, "{'delete': 'c', 'deletes': [{'q': {}, 'limit': 1, 'hint': 'a_1'}]}", NULL);
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 2}"), 0, "the hinted delete removed another document");
   conf_close (c, db);
}

Test (options, find_options_that_change_results_are_not_ignored)
{
   char *db;
   mongoc_client_t *c = conf_open ("opt", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'a': 1}]}", NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'tailable': true}", 2, NULL);
   conf_cmd_error (c, db, "{'find': 'c', 'min': {'a': 0}}", 51173, NULL);
   (void) conf_cmd_refused (c, db, "{'create': 'plain', 'expireAfterSeconds': 60}");
   conf_close (c, db);
}

Test (options, write_batches_hold_one_to_100000_statements)
{
   char *db;
   mongoc_client_t *c = conf_open ("opt", &db);
   conf_cmd_error (c, db, "{'insert': 'c', 'documents': []}", 16, NULL);
   conf_cmd_error (c, db, "{'update': 'c', 'updates': []}", 16, NULL);
   conf_cmd_error (c, db, "{'delete': 'c', 'deletes': []}", 16, NULL);
   conf_close (c, db);
}
