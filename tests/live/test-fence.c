/* SPDX-License-Identifier: Apache-2.0 */
/* Live: mongolock_fenced_update_one_result tells its three outcomes apart: applied, a
 * stale token (a document holds a newer one) and no such document. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <mongolock/mongolock.h>
#include <string.h>

#include "live.h"

static void
init (void)
{
   mongoc_init ();
}
static void
fini (void)
{
   mongoc_cleanup ();
}
TestSuite (fence, .init = init, .fini = fini, .timeout = 60);

typedef struct {
   char *db;
   mongoc_client_t *client;
   mongoc_collection_t *coll;
} fx_t;

static void
fx_init (fx_t *fx)
{
   fx->db = mltest_db_name ("fence");
   fx->client = mltest_client ();
   fx->coll = mongoc_client_get_collection (fx->client, fx->db, "accounts");
   mltest_cmd_ok (fx->client,
                  fx->db,
                  "{'insert': 'accounts', 'documents': [{'_id': 'fresh', 'status': 'open'},"
                  " {'_id': 'newer', 'status': 'open', 'fence': {'$numberLong': '200'}}]}",
                  NULL);
}

static void
fx_fini (fx_t *fx)
{
   mongoc_collection_destroy (fx->coll);
   mltest_drop_db (fx->client, fx->db);
   mongoc_client_destroy (fx->client);
   bson_free (fx->db);
}

/* Runs the fenced $set {owner: who} with token on selector (JSON), opts (JSON or NULL). */
static mongolock_fence_result_t
write_as (fx_t *fx, const char *selector, const char *opts, const char *who, int64_t token, int64_t *stored)
{
   bson_t *sel = mltest_bson (selector);
   bson_t *upd = BCON_NEW ("$set", "{", "owner", BCON_UTF8 (who), "}");
   bson_t *o = opts ? mltest_bson (opts) : NULL;
   mongolock_fence_result_t result = 0;
   bson_error_t error;
   cr_assert (mongolock_fenced_update_one_result (fx->coll, sel, upd, "fence", token, o, &result, stored, &error),
              "%s", error.message);
   bson_destroy (sel);
   bson_destroy (upd);
   if (o) {
      bson_destroy (o);
   }
   return result;
}

/* The owner and fence of document id ("" / 0 when absent). */
static void
read_doc (fx_t *fx, const char *id, char *owner, size_t len, int64_t *fence)
{
   bson_t *sel = BCON_NEW ("_id", BCON_UTF8 (id));
   mongoc_cursor_t *cur = mongoc_collection_find_with_opts (fx->coll, sel, NULL, NULL);
   const bson_t *doc;
   owner[0] = '\0';
   *fence = 0;
   if (mongoc_cursor_next (cur, &doc)) {
      bson_iter_t it;
      if (bson_iter_init_find (&it, doc, "owner")) {
         snprintf (owner, len, "%s", bson_iter_utf8 (&it, NULL));
      }
      if (bson_iter_init_find (&it, doc, "fence")) {
         *fence = bson_iter_as_int64 (&it);
      }
   }
   mongoc_cursor_destroy (cur);
   bson_destroy (sel);
}

Test (fence, applied_stale_and_no_document_are_three_outcomes)
{
   fx_t fx;
   fx_init (&fx);
   int64_t stored = -1;
   char owner[64];
   int64_t fence;

   /* No token yet: applies and stores ours. */
   cr_assert_eq (write_as (&fx, "{'_id': 'fresh'}", NULL, "a", 100, &stored), MONGOLOCK_FENCE_APPLIED);
   cr_assert_eq (stored, 0);
   read_doc (&fx, "fresh", owner, sizeof owner, &fence);
   cr_assert_str_eq (owner, "a");
   cr_assert_eq (fence, 100);
   /* The same holder again, and a newer one. */
   cr_assert_eq (write_as (&fx, "{'_id': 'fresh'}", NULL, "a2", 100, NULL), MONGOLOCK_FENCE_APPLIED);
   cr_assert_eq (write_as (&fx, "{'_id': 'fresh'}", NULL, "b", 150, NULL), MONGOLOCK_FENCE_APPLIED);

   /* A holder older than the last writer: stale, with the newer token, nothing written. */
   cr_assert_eq (write_as (&fx, "{'_id': 'fresh'}", NULL, "late", 120, &stored), MONGOLOCK_FENCE_STALE);
   cr_assert_eq (stored, 150);
   cr_assert_eq (write_as (&fx, "{'_id': 'newer'}", NULL, "late", 199, &stored), MONGOLOCK_FENCE_STALE);
   cr_assert_eq (stored, 200);
   read_doc (&fx, "newer", owner, sizeof owner, &fence);
   cr_assert_str_eq (owner, "");
   cr_assert_eq (fence, 200);

   /* No document: neither stale nor inserted. */
   cr_assert_eq (write_as (&fx, "{'_id': 'missing'}", NULL, "a", 500, &stored), MONGOLOCK_FENCE_NO_DOCUMENT);
   cr_assert_eq (stored, 0);
   read_doc (&fx, "missing", owner, sizeof owner, &fence);
   cr_assert_str_eq (owner, "");
   /* A document with a newer token that the selector does not match is no match either. */
   cr_assert_eq (write_as (&fx, "{'_id': 'newer', 'status': 'closed'}", NULL, "a", 100, &stored),
                 MONGOLOCK_FENCE_NO_DOCUMENT);
   fx_fini (&fx);
}

/* The follow-up read matches as the update did: with the update's let variables. */
Test (fence, the_follow_up_read_uses_the_update_s_let)
{
   fx_t fx;
   fx_init (&fx);
   int64_t stored = 0;
   const char *sel = "{'$expr': {'$eq': ['$_id', '$$which']}}";
   cr_assert_eq (write_as (&fx, sel, "{'let': {'which': 'newer'}}", "late", 100, &stored), MONGOLOCK_FENCE_STALE);
   cr_assert_eq (stored, 200);
   cr_assert_eq (write_as (&fx, sel, "{'let': {'which': 'nobody'}}", "late", 100, &stored),
                 MONGOLOCK_FENCE_NO_DOCUMENT);
   cr_assert_eq (write_as (&fx, sel, "{'let': {'which': 'newer'}}", "new", 300, &stored), MONGOLOCK_FENCE_APPLIED);
   fx_fini (&fx);
}

Test (fence, refusals_send_nothing_and_say_why)
{
   fx_t fx;
   fx_init (&fx);
   bson_t *sel = mltest_bson ("{'_id': 'newer'}");
   bson_t *upd = mltest_bson ("{'$set': {'owner': 'x'}}");
   bson_t *upsert = mltest_bson ("{'upsert': true}");
   mongolock_fence_result_t result = MONGOLOCK_FENCE_APPLIED;
   int64_t stored = 7;
   bson_error_t error;
   cr_assert_not (mongolock_fenced_update_one_result (fx.coll, sel, upd, "fence", 1, upsert, &result, &stored, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   cr_assert_eq (result, 0);
   cr_assert_eq (stored, 0);
   cr_assert_not (mongolock_fenced_update_one_result (fx.coll, sel, upd, "fence", 1, NULL, NULL, NULL, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   cr_assert_not (mongolock_fenced_update_one_result (fx.coll, sel, upd, "fence", 0, NULL, &result, NULL, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   /* A server error passes through (an unknown update operator). */
   bson_t *bad = mltest_bson ("{'$bogus': {'owner': 'x'}}");
   cr_assert_not (mongolock_fenced_update_one_result (fx.coll, sel, bad, "fence", 1, NULL, &result, NULL, &error));
   cr_assert_neq (error.domain, MONGOLOCK_ERROR_DOMAIN, "%s", error.message);
   bson_destroy (bad);
   bson_destroy (sel);
   bson_destroy (upd);
   bson_destroy (upsert);
   fx_fini (&fx);
}
