/* SPDX-License-Identifier: Apache-2.0 */
/* Retryable writes (MONGODB-RULES 19) on a replica set: a write carrying lsid + txnNumber
 * is executed once; a retry of the same (lsid, txnNumber) returns the first result
 * without executing again; an older txnNumber fails. On a standalone the tests check
 * the refusal (20) and stop.
 *
 * References (MongoDB 7.0):
 * - manual "Retryable Writes": insert, update (single), delete (single), findAndModify
 *   are retryable; the server records each statement's result in the transaction table.
 * - src/mongo/db/transaction/transaction_participant.cpp beginOrContinue: "Cannot start
 *   transaction N on session ... because a newer transaction M has already started",
 *   225 TransactionTooOld; checkStatementExecuted: an executed statement is not run again.
 * - src/mongo/db/ops/write_ops_exec.cpp (5.0+): the reply of a retried write lists the
 *   statements it did not execute again in retriedStmtIds; findAndModify's reply carries
 *   retriedStmtId (find_and_modify.cpp). */
#include <criterion/criterion.h>
#include <unistd.h>

#include "rs-helpers.h"

TestSuite (retryable, .init = conf_init, .fini = conf_fini, .timeout = 120);

static int
setup (mongoc_client_t **c, char **db)
{
   *c = conf_open ("rtw", db);
   int fd = conf_raw_connect ();
   if (!rs_is_replset (*c)) {
      bson_t lsid, r;
      rs_lsid (&lsid);
      cr_assert_not (rs_raw (fd, *db, &lsid, 1, "{'insert': 'c', 'documents': [{'_id': 1}]}", &r));
      cr_assert_eq (conf_int (&r, "code"), 20);
      bson_destroy (&r);
      bson_destroy (&lsid);
      close (fd);
      return -1;
   }
   return fd;
}

Test (retryable, a_retried_insert_is_not_executed_twice)
{
   mongoc_client_t *c;
   char *db;
   int fd = setup (&c, &db);
   if (fd < 0) {
      conf_close (c, db);
      cr_skip_test ("standalone: txnNumber refused (checked)");
   }
   bson_t lsid, r;
   rs_lsid (&lsid);
   /* No _id: a second execution would insert a second document. */
   cr_assert (rs_raw (fd, db, &lsid, 5, "{'insert': 'c', 'documents': [{'v': 1}]}", &r));
   cr_assert_eq (conf_int (&r, "n"), 1);
   bson_destroy (&r);
   cr_assert (rs_raw (fd, db, &lsid, 5, "{'insert': 'c', 'documents': [{'v': 1}]}", &r));
   cr_assert_eq (conf_int (&r, "n"), 1, "a retry reports the first result");
   cr_assert_eq (conf_int (&r, "retriedStmtIds.0"), 0, "retriedStmtIds names statement 0");
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", NULL), 1, "the retry inserted again");
   /* The next txnNumber executes again; an older one is too old. */
   cr_assert (rs_raw (fd, db, &lsid, 6, "{'insert': 'c', 'documents': [{'v': 2}]}", &r));
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", NULL), 2);
   cr_assert_not (rs_raw (fd, db, &lsid, 5, "{'insert': 'c', 'documents': [{'v': 1}]}", &r));
   cr_assert_eq (conf_int (&r, "code"), 225, "an older txnNumber");
   cr_assert_str_eq (conf_str (&r, "codeName"), "TransactionTooOld");
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", NULL), 2);
   /* Another session has its own numbers. */
   bson_t other;
   rs_lsid (&other);
   cr_assert (rs_raw (fd, db, &other, 1, "{'insert': 'c', 'documents': [{'v': 3}]}", &r));
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", NULL), 3);
   bson_destroy (&other);
   bson_destroy (&lsid);
   close (fd);
   conf_close (c, db);
}

Test (retryable, a_retried_update_and_delete_return_the_first_result)
{
   mongoc_client_t *c;
   char *db;
   int fd = setup (&c, &db);
   if (fd < 0) {
      conf_close (c, db);
      cr_skip_test ("standalone: txnNumber refused (checked)");
   }
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 1, 'n': 0}, {'_id': 2}]}", NULL);
   bson_t lsid, r;
   rs_lsid (&lsid);
   const char *inc = "{'update': 'c', 'updates': [{'q': {'_id': 1}, 'u': {'$inc': {'n': 1}}}]}";
   cr_assert (rs_raw (fd, db, &lsid, 1, inc, &r));
   cr_assert_eq (conf_int (&r, "nModified"), 1);
   bson_destroy (&r);
   cr_assert (rs_raw (fd, db, &lsid, 1, inc, &r));
   cr_assert_eq (conf_int (&r, "n"), 1);
   cr_assert_eq (conf_int (&r, "nModified"), 1);
   bson_destroy (&r);
   bson_t **docs;
   int n;
   docs = conf_find_all (c, db, "c", "{'_id': 1}", NULL, &n);
   cr_assert_eq (conf_int (docs[0], "n"), 1, "a retried $inc ran twice");
   conf_docs_free (docs, n);
   /* An upsert retried reports the same upserted _id and inserts nothing more. */
   const char *ups = "{'update': 'c', 'updates': [{'q': {'k': 'x'}, 'u': {'$set': {'w': 1}}, 'upsert': true}]}";
   cr_assert (rs_raw (fd, db, &lsid, 2, ups, &r));
   bson_t r2;
   cr_assert (rs_raw (fd, db, &lsid, 2, ups, &r2));
   cr_assert_eq (conf_type (&r2, "upserted.0._id"), BSON_TYPE_OID);
   bson_iter_t a, b;
   cr_assert (conf_find (&r, "upserted.0._id", &a) && conf_find (&r2, "upserted.0._id", &b));
   cr_assert (bson_oid_equal (bson_iter_oid (&a), bson_iter_oid (&b)), "a retried upsert reports another _id");
   bson_destroy (&r);
   bson_destroy (&r2);
   cr_assert_eq (conf_count (c, db, "c", "{'k': 'x'}"), 1);
   /* A delete retried after the document came back does not delete it again. */
   const char *del = "{'delete': 'c', 'deletes': [{'q': {'_id': 2}, 'limit': 1}]}";
   cr_assert (rs_raw (fd, db, &lsid, 3, del, &r));
   cr_assert_eq (conf_int (&r, "n"), 1);
   bson_destroy (&r);
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 2}]}", NULL);
   cr_assert (rs_raw (fd, db, &lsid, 3, del, &r));
   cr_assert_eq (conf_int (&r, "n"), 1);
   bson_destroy (&r);
   cr_assert_eq (conf_count (c, db, "c", "{'_id': 2}"), 1, "a retried delete ran again");
   bson_destroy (&lsid);
   close (fd);
   conf_close (c, db);
}

Test (retryable, a_retried_find_and_modify_returns_the_recorded_document)
{
   mongoc_client_t *c;
   char *db;
   int fd = setup (&c, &db);
   if (fd < 0) {
      conf_close (c, db);
      cr_skip_test ("standalone: txnNumber refused (checked)");
   }
   conf_ok (c, db, "{'insert': 'c', 'documents': [{'_id': 'k', 'token': 1}]}", NULL);
   bson_t lsid, r;
   rs_lsid (&lsid);
   const char *fam = "{'findAndModify': 'c', 'query': {'_id': 'k'}, 'update': {'$inc': {'token': 1}}, 'new': true}";
   cr_assert (rs_raw (fd, db, &lsid, 9, fam, &r));
   cr_assert_eq (conf_int (&r, "value.token"), 2);
   bson_destroy (&r);
   cr_assert (rs_raw (fd, db, &lsid, 9, fam, &r));
   cr_assert_eq (conf_int (&r, "value.token"), 2, "a retry returns the first post-image");
   cr_assert (conf_bool (&r, "lastErrorObject.updatedExisting"));
   cr_assert_eq (conf_int (&r, "retriedStmtId"), 0);
   bson_destroy (&r);
   bson_t **docs;
   int n;
   docs = conf_find_all (c, db, "c", NULL, NULL, &n);
   cr_assert_eq (conf_int (docs[0], "token"), 2, "a retried findAndModify ran twice");
   conf_docs_free (docs, n);
   bson_destroy (&lsid);
   close (fd);
   conf_close (c, db);
}
