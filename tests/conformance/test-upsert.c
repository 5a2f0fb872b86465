/* SPDX-License-Identifier: Apache-2.0 */
/* Rule 7 ($expr refused in an upsert's query, 224), rule 8 (an upsert seeds the new
 * document from the query's equality fields, then applies the update) and rule 10
 * (concurrent upserts on a unique key: the server retries the duplicate key itself when
 * the query is an equality on exactly the unique index's fields).
 *
 * References:
 * - Rule 7: src/mongo/db/ops/parsed_update.cpp (parseQueryToCQ) parses an upsert's query
 *   without the $expr feature; MatchExpressionParser then fails with
 *   ErrorCodes::QueryFeatureNotAllowed (224) "$expr is not allowed in the query predicate
 *   for an upsert". It is a parse-time check, so it applies whether or not a document
 *   matches, and to $expr nested anywhere in the query. The update command reports it per
 *   statement (writeErrors), findAndModify as a command error.
 * - Rule 8: manual "update" / "db.collection.updateOne()": "upsert ... creates a new
 *   document ... The update creates a base document from the equality clauses in the
 *   <query> parameter, and then applies the update expressions from the <update>
 *   parameter"; comparison clauses such as $gt are not included; a replacement document
 *   upsert inserts the replacement (with _id from the query). Implementation:
 *   UpdateDriver::populateDocumentWithQueryFields (src/mongo/db/update/update_driver.cpp),
 *   which extracts equalities also from a top-level $and.
 * - Rule 10: SERVER-14322; manual "db.collection.updateOne() > Upsert with Duplicate
 *   Values": the server retries when the match is a single equality predicate or a
 *   logical AND of equality predicates, whose fields are exactly the unique index's key
 *   fields, and the update does not modify them; write_ops_exec.cpp
 *   (performSingleUpdateOpWithDupKeyRetry) and find_and_modify.cpp retry the same way. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "conformance.h"

TestSuite (upsert, .init = conf_init, .fini = conf_fini, .timeout = 180);

static void
expr_upsert_refused (mongoc_client_t *c, const char *db, const char *stmt)
{
   char *cmd = bson_strdup_printf ("{'update': 'c', 'updates': [%s]}", stmt);
   bson_t r, e;
   mltest_cmd_ok (c, db, cmd, &r);
   conf_write_error (&r, 0, 0, 224, &e);
   const char *msg = conf_str (&e, "errmsg");
   cr_assert (strstr (msg, "$expr is not allowed in the query predicate for an upsert"), "%s: errmsg %s", cmd, msg);
   cr_assert_eq (conf_int (&r, "n"), 0);
   bson_destroy (&r);
   bson_free (cmd);
}

Test (upsert, expr_in_upsert_query_is_refused_224)
{
   char *db;
   mongoc_client_t *c = conf_open ("up", &db);
   expr_upsert_refused (c, db, "{'q': {'$expr': {'$eq': ['$_id', 'k']}}, 'u': {'$set': {'a': 1}}, 'upsert': true}");
   expr_upsert_refused (
      c, db, "{'q': {'_id': 'k', '$and': [{'$expr': {'$lte': ['$exp', '$$NOW']}}]}, 'u': {'$set': {'a': 1}}, 'upsert': true}");
   expr_upsert_refused (c, db,
                        "{'q': {'_id': 'k', '$expr': {'$lte': ['$exp', '$$NOW']}}, 'u': [{'$set': {'a': '$$NOW'}}], "
                        "'upsert': true}");
   expr_upsert_refused (c, db,
                        "{'q': {'$or': [{'_id': 'k'}, {'$expr': {'$eq': [1, 1]}}]}, 'u': {'$set': {'a': 1}}, "
                        "'upsert': true, 'multi': true}");
   cr_assert_eq (conf_count (c, db, "c", NULL), 0, "a refused upsert inserted");

   /* Refused even when a document matches (the check is on the query, not the outcome). */
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 'k', 'exp': 0, 'a': 0}]}", NULL);
   expr_upsert_refused (c, db,
                        "{'q': {'_id': 'k', '$expr': {'$eq': ['$exp', 0]}}, 'u': {'$set': {'a': 1}}, 'upsert': true}");
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 'k', 'a': 0}"), 1, "a refused upsert updated");

   /* findAndModify: a command error with the same code. */
   bson_t r;
   conf_cmd_error (c, db,
                   "{'findAndModify': 'c', 'query': {'_id': 'k', '$expr': {'$eq': ['$exp', 0]}}, "
                   "'update': {'$set': {'a': 2}}, 'upsert': true}",
                   224, &r);
   cr_assert_str_eq (conf_str (&r, "codeName"), "QueryFeatureNotAllowed");
   cr_assert (strstr (conf_str (&r, "errmsg"), "$expr is not allowed in the query predicate for an upsert"));
   bson_destroy (&r);
   conf_cmd_error (c, db,
                   "{'findAndModify': 'c', 'query': {'$expr': {'$eq': ['$_id', 'zz']}}, "
                   "'update': [{'$set': {'a': '$$NOW'}}], 'upsert': true, 'new': true}",
                   224, NULL);
   cr_assert_eq (conf_count (c, db, "c", NULL), 1);
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 'k', 'a': 0}"), 1);
   conf_close (c, db);
}

Test (upsert, expr_without_upsert_is_fine)
{
   char *db;
   mongoc_client_t *c = conf_open ("up", &db);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'exp': 5, 'lim': 7}, {'_id': 2, 'exp': 9, 'lim': 7}]}",
            NULL);
   bson_t r;
   conf_ok (c, db,
            "{'update': 'c', 'updates': [{'q': {'$expr': {'$lt': ['$exp', '$lim']}}, 'u': {'$set': {'hit': true}}, "
            "'multi': true, 'upsert': false}]}",
            &r);
   cr_assert_eq (conf_int (&r, "nModified"), 1);
   bson_destroy (&r);
   conf_ok (c, db,
            "{'findAndModify': 'c', 'query': {'$expr': {'$gt': ['$exp', '$lim']}}, 'update': {'$set': {'big': true}}, "
            "'new': true}",
            &r);
   cr_assert_eq (conf_int (&r, "value._id"), 2);
   bson_destroy (&r);
   conf_ok (c, db, "{'delete': 'c', 'deletes': [{'q': {'$expr': {'$eq': ['$big', true]}}, 'limit': 1}]}", &r);
   cr_assert_eq (conf_int (&r, "n"), 1);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 1, 'hit': true}"), 1);
   cr_assert_eq (conf_count (c, db, "c", NULL), 1);
   conf_close (c, db);
}

static bson_t *
only_doc (mongoc_client_t *c, const char *db, const char *filter)
{
   int n;
   bson_t **docs = conf_find_all (c, db, "c", filter, NULL, &n);
   cr_assert_eq (n, 1, "%d documents match %s", n, filter);
   bson_t *d = bson_copy (docs[0]);
   conf_docs_free (docs, n);
   return d;
}

static int
field_count (const bson_t *d)
{
   return (int) bson_count_keys (d);
}

Test (upsert, seeds_from_equality_fields_then_applies_operators)
{
   char *db;
   mongoc_client_t *c = conf_open ("up", &db);
   bson_t r;
   conf_ok (c, db,
            "{'update': 'c', 'updates': [{'q': {'_id': 'k', 'a': 1, 'b.c': 2, 'd': {'$eq': 3}, 'e': {'$gt': 5}, "
            "'o': {'x': 1}, '$and': [{'f': 6}, {'g': {'$lt': 1}}]}, 'u': {'$set': {'x': 1}, '$inc': {'a': 10}}, "
            "'upsert': true}]}",
            &r);
   char *s = conf_json (&r);
   cr_assert_eq (conf_int (&r, "n"), 1, "%s", s);
   cr_assert_eq (conf_int (&r, "nModified"), 0, "%s", s);
   cr_assert_eq (conf_array_len (&r, "upserted"), 1, "%s", s);
   cr_assert_eq (conf_int (&r, "upserted.0.index"), 0, "%s", s);
   cr_assert_str_eq (conf_str (&r, "upserted.0._id"), "k", "%s", s);
   bson_free (s);
   bson_destroy (&r);

   bson_t *d = only_doc (c, db, "{}");
   s = conf_json (d);
   cr_assert_str_eq (conf_str (d, "_id"), "k", "%s", s);
   cr_assert_eq (conf_int (d, "a"), 11, "equality seed then $inc: %s", s);
   cr_assert_eq (conf_int (d, "b.c"), 2, "dotted equality becomes a subdocument: %s", s);
   cr_assert_eq (conf_int (d, "d"), 3, "$eq is an equality: %s", s);
   cr_assert_eq (conf_int (d, "o.x"), 1, "%s", s);
   cr_assert_eq (conf_int (d, "f"), 6, "equalities under a top-level $and: %s", s);
   cr_assert_eq (conf_int (d, "x"), 1, "%s", s);
   cr_assert_eq (conf_type (d, "e"), BSON_TYPE_EOD, "$gt must not be seeded: %s", s);
   cr_assert_eq (conf_type (d, "g"), BSON_TYPE_EOD, "$lt must not be seeded: %s", s);
   cr_assert_eq (field_count (d), 7, "unexpected fields: %s", s);
   bson_free (s);
   bson_destroy (d);
   conf_close (c, db);
}

Test (upsert, seeds_then_applies_pipeline)
{
   char *db;
   mongoc_client_t *c = conf_open ("up", &db);
   bson_t r;
   int64_t before = conf_server_time_ms (c);
   conf_ok (c, db,
            "{'update': 'c', 'updates': [{'q': {'_id': 'p', 'a': 5, 'n': {'$gte': 0}}, "
            "'u': [{'$set': {'b': {'$add': ['$a', 1]}, 't': '$$NOW', 'nMissing': {'$ifNull': ['$n', 'none']}}}], "
            "'upsert': true}]}",
            &r);
   cr_assert_str_eq (conf_str (&r, "upserted.0._id"), "p");
   bson_destroy (&r);
   int64_t after = conf_server_time_ms (c);
   bson_t *d = only_doc (c, db, "{'_id': 'p'}");
   char *s = conf_json (d);
   cr_assert_eq (conf_int (d, "a"), 5, "%s", s);
   cr_assert_eq (conf_int (d, "b"), 6, "the pipeline sees the seeded field: %s", s);
   cr_assert_str_eq (conf_str (d, "nMissing"), "none", "a $gte field was seeded: %s", s);
   int64_t t = conf_date (d, "t");
   cr_assert (t >= before && t <= after, "%s", s);
   bson_free (s);
   bson_destroy (d);
   conf_close (c, db);
}

Test (upsert, set_on_insert_replacement_and_generated_id)
{
   char *db;
   mongoc_client_t *c = conf_open ("up", &db);
   bson_t r;
#define SOI                                                                                                          \
   "{'update': 'c', 'updates': [{'q': {'_id': 's'}, 'u': {'$setOnInsert': {'c': %d}, '$set': {'d': %d}}, 'upsert': true}]}"
   char *cmd = bson_strdup_printf (SOI, 1, 2);
   conf_ok (c, db, cmd, &r);
   cr_assert_eq (conf_array_len (&r, "upserted"), 1);
   bson_destroy (&r);
   bson_free (cmd);
   cmd = bson_strdup_printf (SOI, 9, 3);
   conf_ok (c, db, cmd, &r);
   cr_assert_eq (conf_type (&r, "upserted"), BSON_TYPE_EOD, "a matching upsert reported an insert");
   cr_assert_eq (conf_int (&r, "nModified"), 1);
   bson_destroy (&r);
   bson_free (cmd);
   bson_t *d = only_doc (c, db, "{'_id': 's'}");
   cr_assert_eq (conf_int (d, "c"), 1, "$setOnInsert applied on a match");
   cr_assert_eq (conf_int (d, "d"), 3);
   bson_destroy (d);

   /* A replacement upsert inserts the replacement with the query's _id only. */
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 'r', 'a': 1}, 'u': {'z': 1}, 'upsert': true}]}", &r);
   cr_assert_str_eq (conf_str (&r, "upserted.0._id"), "r");
   bson_destroy (&r);
   d = only_doc (c, db, "{'_id': 'r'}");
   char *s = conf_json (d);
   cr_assert_eq (conf_int (d, "z"), 1, "%s", s);
   cr_assert_eq (conf_type (d, "a"), BSON_TYPE_EOD, "a replacement upsert kept query fields: %s", s);
   bson_free (s);
   bson_destroy (d);

   /* No _id in the query: the server makes an ObjectId and reports it. */
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {'name': 'gen'}, 'u': {'$set': {'v': 1}}, 'upsert': true}]}",
            &r);
   cr_assert_eq (conf_type (&r, "upserted.0._id"), BSON_TYPE_OID);
   bson_destroy (&r);
   d = only_doc (c, db, "{'name': 'gen'}");
   cr_assert_eq (conf_type (d, "_id"), BSON_TYPE_OID);
   bson_destroy (d);
   conf_close (c, db);
}

/* The lock pattern rule 7 forces: filter on _id alone and decide inside the pipeline with
 * $cond on $$NOW. A missing expiresAt compares below any date (rule 12), so the first
 * caller takes it; a live lease is kept. */
Test (upsert, lock_pattern_id_filter_and_cond_pipeline)
{
   char *db;
   mongoc_client_t *c = conf_open ("up", &db);
#define ACQUIRE                                                                                        \
   "{'findAndModify': 'c', 'query': {'_id': 'lock'}, 'upsert': true, 'new': true, 'update': [{'$set': {"          \
   "'owner': {'$cond': [{'$lte': ['$expiresAt', '$$NOW']}, '%s', '$owner']}, "                                     \
   "'expiresAt': {'$cond': [{'$lte': ['$expiresAt', '$$NOW']}, {'$add': ['$$NOW', %d]}, '$expiresAt']}}}]}"
   bson_t r;
   char *cmd = bson_strdup_printf (ACQUIRE, "me", 60000);
   conf_ok (c, db, cmd, &r);
   bson_free (cmd);
   char *s = conf_json (&r);
   cr_assert_str_eq (conf_str (&r, "value.owner"), "me", "%s", s);
   cr_assert_str_eq (conf_str (&r, "lastErrorObject.upserted"), "lock", "%s", s);
   int64_t exp = conf_date (&r, "value.expiresAt");
   bson_free (s);
   bson_destroy (&r);

   cmd = bson_strdup_printf (ACQUIRE, "you", 60000);
   conf_ok (c, db, cmd, &r);
   bson_free (cmd);
   s = conf_json (&r);
   cr_assert_str_eq (conf_str (&r, "value.owner"), "me", "a live lease was taken over: %s", s);
   cr_assert_eq (conf_date (&r, "value.expiresAt"), exp, "%s", s);
   cr_assert (conf_bool (&r, "lastErrorObject.updatedExisting"));
   bson_free (s);
   bson_destroy (&r);

   /* Expire it on the server's clock, then the next caller gets it. */
   conf_ok (c, db, "{'update': 'c', 'updates': [{'q': {'_id': 'lock'}, 'u': [{'$set': {'expiresAt': "
                   "{'$add': ['$$NOW', -1]}}}]}]}",
            NULL);
   cmd = bson_strdup_printf (ACQUIRE, "you", 60000);
   conf_ok (c, db, cmd, &r);
   bson_free (cmd);
   cr_assert_str_eq (conf_str (&r, "value.owner"), "you");
   bson_destroy (&r);
   conf_close (c, db);
}

/* ---- rule 10: concurrent upserts ---- */

#define RACE_THREADS 8
#define RACE_ROUNDS 25

typedef enum { R_OK_INSERTED, R_OK_UPDATED, R_DUP, R_OTHER } race_result_t;

typedef struct {
   const char *db;
   const char *tmpl; /* command JSON; every "@R" becomes the round number */
   bool fam;        /* findAndModify (else update) */
   pthread_barrier_t *start, *done;
   race_result_t results[RACE_ROUNDS];
   char other[256];
} racer_t;

static race_result_t
classify (bool ok, bool fam, const bson_t *r, const bson_error_t *error, char *other, size_t other_len)
{
   bson_iter_t it;
   if (!ok) {
      if (error->code == 11000) {
         return R_DUP;
      }
      bson_snprintf (other, other_len, "%u/%u %s", error->domain, error->code, error->message);
      return R_OTHER;
   }
   if (conf_find (r, "writeErrors.0.code", &it)) {
      if (bson_iter_as_int64 (&it) == 11000) {
         return R_DUP;
      }
      bson_snprintf (other, other_len, "writeError %d", (int) bson_iter_as_int64 (&it));
      return R_OTHER;
   }
   if (fam) {
      return conf_find (r, "lastErrorObject.upserted", &it) ? R_OK_INSERTED : R_OK_UPDATED;
   }
   return conf_find (r, "upserted.0._id", &it) ? R_OK_INSERTED : R_OK_UPDATED;
}

static char *
subst_round (const char *tmpl, int round)
{
   bson_string_t *s = bson_string_new (NULL);
   for (const char *p = tmpl; *p; p++) {
      if (p[0] == '@' && p[1] == 'R') {
         bson_string_append_printf (s, "%d", round);
         p++;
      } else {
         bson_string_append_c (s, *p);
      }
   }
   return bson_string_free (s, false);
}

static void *
racer_main (void *arg)
{
   racer_t *rc = arg;
   /* Each thread its own client (a mongoc_client_t is single-threaded). */
   mongoc_client_t *c = mltest_client ();
   for (int round = 0; round < RACE_ROUNDS; round++) {
      char *json = subst_round (rc->tmpl, round);
      for (char *p = json; *p; p++) {
         if (*p == '\'') {
            *p = '"';
         }
      }
      bson_error_t error;
      bson_t *cmd = bson_new_from_json ((const uint8_t *) json, -1, &error);
      bson_t r;
      pthread_barrier_wait (rc->start);
      bool ok = cmd && mongoc_client_command_simple (c, rc->db, cmd, NULL, &r, &error);
      if (!cmd) {
         bson_init (&r);
      }
      rc->results[round] = classify (ok, rc->fam, &r, &error, rc->other, sizeof rc->other);
      bson_destroy (&r);
      bson_destroy (cmd);
      bson_free (json);
      pthread_barrier_wait (rc->done);
   }
   mongoc_client_destroy (c);
   return NULL;
}

/* Runs RACE_ROUNDS rounds of RACE_THREADS simultaneous upserts on key "<prefix><round>"
 * and checks each round: exactly one document, whose counter n equals the number of
 * successful upserts, and exactly one of them reported the insert. When retry_expected,
 * none may fail with 11000. */
static void
race (const char *tag, const char *setup, const char *tmpl, bool fam, const char *key_field, bool retry_expected)
{
   char *db;
   mongoc_client_t *c = conf_open (tag, &db);
   if (setup) {
      conf_ok (c, db, setup, NULL);
   }
   pthread_barrier_t start, done;
   pthread_barrier_init (&start, NULL, RACE_THREADS + 1);
   pthread_barrier_init (&done, NULL, RACE_THREADS + 1);
   racer_t racers[RACE_THREADS];
   pthread_t threads[RACE_THREADS];
   for (int i = 0; i < RACE_THREADS; i++) {
      racers[i] = (racer_t){.db = db, .tmpl = tmpl, .fam = fam, .start = &start, .done = &done};
      cr_assert_eq (pthread_create (&threads[i], NULL, racer_main, &racers[i]), 0);
   }
   int total_dups = 0;
   for (int round = 0; round < RACE_ROUNDS; round++) {
      pthread_barrier_wait (&start);
      pthread_barrier_wait (&done);
      int inserted = 0, updated = 0, dups = 0;
      for (int i = 0; i < RACE_THREADS; i++) {
         switch (racers[i].results[round]) {
         case R_OK_INSERTED:
            inserted++;
            break;
         case R_OK_UPDATED:
            updated++;
            break;
         case R_DUP:
            dups++;
            break;
         case R_OTHER:
            cr_assert_fail ("round %d: unexpected failure %s", round, racers[i].other);
         }
      }
      char *filter = bson_strdup_printf ("{'%s': 'k%d'}", key_field, round);
      int n;
      bson_t **docs = conf_find_all (c, db, "c", filter, NULL, &n);
      cr_assert_eq (n, 1, "round %d: %d documents for one key", round, n);
      cr_assert_eq (conf_int (docs[0], "n"), inserted + updated, "round %d: counter %" PRId64 " but %d upserts succeeded",
                    round, conf_int (docs[0], "n"), inserted + updated);
      cr_assert_eq (inserted, 1, "round %d: %d upserts reported inserting", round, inserted);
      conf_docs_free (docs, n);
      bson_free (filter);
      if (retry_expected) {
         cr_assert_eq (dups, 0, "round %d: %d upserts failed with 11000 although the query is an equality on exactly "
                                "the unique index's fields (rule 10: the server retries)",
                       round, dups);
      }
      total_dups += dups;
   }
   for (int i = 0; i < RACE_THREADS; i++) {
      pthread_join (threads[i], NULL);
   }
   pthread_barrier_destroy (&start);
   pthread_barrier_destroy (&done);
   cr_assert_eq (conf_count (c, db, "c", NULL), RACE_ROUNDS);
   cr_log_info ("%s: %d duplicate-key failures over %d rounds", tag, total_dups, RACE_ROUNDS);
   conf_close (c, db);
}

Test (upsert, concurrent_upserts_on_id_all_succeed)
{
   race ("race_id", NULL, "{'update': 'c', 'updates': [{'q': {'_id': 'k@R'}, 'u': {'$inc': {'n': 1}}, 'upsert': true}]}",
         false, "_id", true);
}

Test (upsert, concurrent_find_and_modify_upserts_on_id_all_succeed)
{
   race ("race_fam", NULL,
         "{'findAndModify': 'c', 'query': {'_id': 'k@R'}, 'update': {'$inc': {'n': 1}}, 'upsert': true, 'new': true}",
         true, "_id", true);
}

Test (upsert, concurrent_pipeline_upserts_on_id_all_succeed)
{
   /* The lock library's shape: _id filter, pipeline update. */
   race ("race_pl", NULL,
         "{'update': 'c', 'updates': [{'q': {'_id': 'k@R'}, 'u': [{'$set': {'n': {'$add': [{'$ifNull': ['$n', 0]}, "
         "1]}, 't': '$$NOW'}}], 'upsert': true}]}",
         false, "_id", true);
}

Test (upsert, concurrent_upserts_on_unique_secondary_index_all_succeed)
{
   race ("race_uk", "{'createIndexes': 'c', 'indexes': [{'key': {'k': 1}, 'name': 'k_1', 'unique': true}]}",
         "{'update': 'c', 'updates': [{'q': {'k': 'k@R'}, 'u': {'$inc': {'n': 1}}, 'upsert': true}]}", false, "k",
         true);
}

Test (upsert, concurrent_upserts_other_shapes_succeed_or_11000)
{
   /* Not an equality on exactly the unique fields: the server need not retry, so 11000 is
    * a legal outcome (rule 10: clients must handle it); either way one document per key.
    * This cannot show whether a server retries; it shows no server loses or doubles a key. */
   race ("race_other", "{'createIndexes': 'c', 'indexes': [{'key': {'k': 1}, 'name': 'k_1', 'unique': true}]}",
         "{'update': 'c', 'updates': [{'q': {'k': 'k@R', 'gone': {'$exists': false}}, 'u': {'$inc': {'n': 1}}, "
         "'upsert': true}]}",
         false, "k", false);
}
