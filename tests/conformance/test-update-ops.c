/* SPDX-License-Identifier: Apache-2.0 */
/* Update operators, inserts and sorts in the details where a lax server would pass code
 * that MongoDB rejects or orders differently (rules 3, 5, 8, 11, 12).
 *
 * References:
 * - Manual "Update Operators", Behavior: since 5.0 an empty operand ({$set: {}}) is a
 *   no-op, and fields are processed in lexicographic order (numeric names numerically),
 *   so {$set: {b: 1, a: 1}} adds a before b.
 * - src/mongo/db/update/pop_node.cpp: $pop takes 1 or -1, else 9 FailedToParse;
 *   current_date_node.cpp: $currentDate takes a boolean or {$type: "date"|"timestamp"},
 *   else 2 BadValue; push_node.cpp: an unknown clause next to $each is 2 BadValue.
 * - The positional operator '$' without a matching array in the query fails 2 BadValue
 *   ("The positional operator did not find the match needed from the query."); empty
 *   path parts fail 56 EmptyFieldName.
 * - src/mongo/db/ops/insert.cpp fixDocumentForInsert: an array or regex _id is 2 BadValue
 *   in an insert (not 53 as in updates); a '$'-prefixed name inside _id is 52 (top-level
 *   '$' names are stored since 5.0, see test-dollar.c); nesting deeper than 180 levels
 *   (BSONDepth::getMaxDepthForUserStorage) is 15 Overflow.
 * - Manual "Comparison/Sort Order", Arrays: an ascending sort compares the smallest
 *   element of an array field, a descending sort the largest; an empty array sorts before
 *   null and missing. findAndModify's sort picks its target the same way.
 * - src/mongo/db/update/update_driver.cpp populateDocumentWithQueryFields canonicalizes the
 *   query "to collapse $and/$or", so an $or of one clause seeds an upsert like the clause.
 * - Aggregation variables: 'let' on find, update and delete defines $$vars for $expr in
 *   the query (manual "find", "update", "delete": let, 5.0+). */
#include <criterion/criterion.h>
#include <string.h>

#include "conformance.h"

TestSuite (updateops, .init = conf_init, .fini = conf_fini, .timeout = 60);

static bson_t *
get_doc (mongoc_client_t *c, const char *db, int id)
{
   char *f = bson_strdup_printf ("{'_id': %d}", id);
   int n;
   bson_t **docs = conf_find_all (c, db, "c", f, NULL, &n);
   cr_assert_eq (n, 1, "no document %d", id);
   bson_t *d = bson_copy (docs[0]);
   conf_docs_free (docs, n);
   bson_free (f);
   return d;
}

static void
expect_keys (const bson_t *d, const char *want)
{
   bson_string_t *s = bson_string_new ("");
   bson_iter_t it;
   bson_iter_init (&it, d);
   while (bson_iter_next (&it)) {
      bson_string_append_printf (s, "%s%s", s->len ? " " : "", bson_iter_key (&it));
   }
   char *json = conf_json (d);
   cr_assert_str_eq (s->str, want, "field order of %s", json);
   bson_free (json);
   bson_string_free (s, true);
}

Test (updateops, operators_apply_fields_in_lexicographic_order)
{
   char *db;
   mongoc_client_t *c = conf_open ("upo", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'z': 0}]}", NULL);
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$set': {'b': 1, 'a': 1, 'n': {'y': 1}}, "
                   "'$inc': {'m': 1}, '$currentDate': {'d': true}}}]}",
            NULL);
   bson_t *d = get_doc (c, db, 1);
   expect_keys (d, "_id z a b d m n");
   bson_destroy (d);
   /* An empty operand is a no-op, not an error. */
   bson_t r;
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$set': {}}}]}", &r);
   cr_assert_eq (conf_int (&r, "n"), 1);
   cr_assert_eq (conf_int (&r, "nModified"), 0);
   bson_destroy (&r);
   conf_close (c, db);
}

Test (updateops, malformed_operator_arguments_are_refused)
{
   char *db;
   mongoc_client_t *c = conf_open ("upo", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'arr': [1, 2, 3]}]}", NULL);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$pop': {'arr': 2}}}]}", 9);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$currentDate': {'t': 'now'}}}]}", 2);
   mltest_cmd_fails (c, db,
                     "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$push': {'arr': {'$each': [4], "
                     "'$bogus': 1}}}}]}",
                     2);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$set': {'arr.$': 9}}}]}", 2);
   mltest_cmd_fails (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$set': {'a..b': 9}}}]}", 56);
   bson_t *d = get_doc (c, db, 1);
   char *s = conf_json (d);
   cr_assert_eq (conf_array_len (d, "arr"), 3, "%s", s);
   cr_assert_eq (conf_type (d, "t"), BSON_TYPE_EOD, "%s", s);
   bson_free (s);
   bson_destroy (d);
   conf_close (c, db);
}

static void
nest (bson_t *parent, int levels)
{
   if (levels == 0) {
      BSON_APPEND_INT32 (parent, "leaf", 1);
      return;
   }
   bson_t child;
   BSON_APPEND_DOCUMENT_BEGIN (parent, "n", &child);
   nest (&child, levels - 1);
   bson_append_document_end (parent, &child);
}

/* Inserts {_id: id, n: {n: ... {leaf: 1}}} with the given number of nested documents below
 * the top level, and returns the server's reply. */
static void
insert_nested (mongoc_client_t *c, const char *db, int id, int levels, bson_t *reply)
{
   bson_t cmd = BSON_INITIALIZER, docs, doc;
   BSON_APPEND_UTF8 (&cmd, "insert", "c");
   BSON_APPEND_ARRAY_BEGIN (&cmd, "documents", &docs);
   BSON_APPEND_DOCUMENT_BEGIN (&docs, "0", &doc);
   BSON_APPEND_INT32 (&doc, "_id", id);
   nest (&doc, levels);
   bson_append_document_end (&docs, &doc);
   bson_append_array_end (&cmd, &docs);
   bson_error_t error;
   bool ok = mongoc_client_command_simple (c, db, &cmd, NULL, reply, &error);
   cr_assert (ok, "insert of depth %d: %s", levels, error.message);
   bson_destroy (&cmd);
}

Test (updateops, insert_checks_documents_as_mongod_does)
{
   char *db;
   mongoc_client_t *c = conf_open ("upo", &db);
   bson_t r;
   mltest_cmd_ok (c, db, "{'insert': 'c', 'documents': [{'_id': {'$bad': 1}}]}", &r);
   conf_write_error (&r, 0, 0, 52, NULL);
   bson_destroy (&r);
   mltest_cmd_ok (c, db, "{'insert': 'c', 'documents': [{'_id': [1, 2]}]}", &r);
   conf_write_error (&r, 0, 0, 2, NULL);
   bson_destroy (&r);
   mltest_cmd_ok (c, db, "{'insert': 'c', 'documents': [{'_id': {'$undefined': true}}]}", &r);
   conf_write_error (&r, 0, 0, 2, NULL);
   bson_destroy (&r);
   /* 150 levels are stored; 185 exceed the storage limit of 180. */
   insert_nested (c, db, 2, 150, &r);
   cr_assert_eq (conf_type (&r, "writeErrors"), BSON_TYPE_EOD);
   bson_destroy (&r);
   insert_nested (c, db, 3, 185, &r);
   conf_write_error (&r, 0, 0, 15, NULL);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", NULL), 1);
   conf_close (c, db);
}

Test (updateops, sorts_use_the_smallest_or_largest_array_element)
{
   char *db;
   mongoc_client_t *c = conf_open ("upo", &db);
   conf_ok (c, db,
            "{'insert': 'c', 'documents': [{'_id': 1, 'a': [5, 0]}, {'_id': 2, 'a': 1}, {'_id': 3, 'a': 4}, "
            "{'_id': 4, 'a': []}, {'_id': 5}]}",
            NULL);
   int n;
   bson_t **docs = conf_find_all (c, db, "c", NULL, "{'a': 1}", &n);
   cr_assert_eq (n, 5);
   static const int asc[] = {4, 5, 1, 2, 3};
   for (int i = 0; i < n; i++) {
      cr_assert_eq (conf_int (docs[i], "_id"), asc[i], "ascending position %d", i);
   }
   conf_docs_free (docs, n);
   docs = conf_find_all (c, db, "c", NULL, "{'a': -1}", &n);
   static const int desc[] = {1, 3, 2, 5, 4};
   for (int i = 0; i < n; i++) {
      cr_assert_eq (conf_int (docs[i], "_id"), desc[i], "descending position %d", i);
   }
   conf_docs_free (docs, n);
   /* findAndModify with a sort takes the first document in that order. */
   bson_t r;
   conf_ok (c, db, "{'findAndModify': 'c', 'query': {'a': {'$gte': 0}}, 'sort': {'a': 1}, 'update': {'$set': {'hit': 1}}}",
            &r);
   cr_assert_eq (conf_int (&r, "value._id"), 1);
   bson_destroy (&r);
   conf_ok (c, db, "{'aggregate': 'c', 'pipeline': [{'$sort': {'a': -1}}, {'$limit': 1}], 'cursor': {}}", &r);
   cr_assert_eq (conf_int (&r, "cursor.firstBatch.0._id"), 1);
   bson_destroy (&r);
   conf_close (c, db);
}

Test (updateops, upsert_seed_from_a_single_or_clause_and_let_variables)
{
   char *db;
   mongoc_client_t *c = conf_open ("upo", &db);
   conf_ok (c, db,
            "{'update': 'c', 'updates': [{'q': {'$or': [{'_id': 1, 'k': 5}]}, 'u': {'$set': {'x': 1}}, 'upsert': true}]}",
            NULL);
   bson_t *d = get_doc (c, db, 1);
   cr_assert_eq (conf_int (d, "k"), 5);
   bson_destroy (d);
   /* 'let' variables reach $expr in find, update and delete queries. */
   bson_t r;
   conf_ok (c, db, "{'find': 'c', 'filter': {'$expr': {'$eq': ['$k', '$$want']}}, 'let': {'want': 5}}", &r);
   cr_assert_eq (conf_array_len (&r, "cursor.firstBatch"), 1);
   bson_destroy (&r);
   conf_ok (c, db,
            "{'update': 'c', 'updates': [{'q': {'$expr': {'$eq': ['$k', '$$want']}}, 'u': {'$set': {'y': 2}}}], "
            "'let': {'want': 5}}",
            &r);
   cr_assert_eq (conf_int (&r, "nModified"), 1);
   bson_destroy (&r);
   conf_ok (c, db, "{'delete': 'c', 'deletes': [{'q': {'$expr': {'$eq': ['$y', '$$v']}}, 'limit': 1}], 'let': {'v': 2}}",
            &r);
   cr_assert_eq (conf_int (&r, "n"), 1);
   bson_destroy (&r);
   conf_close (c, db);
}
