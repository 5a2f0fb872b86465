/* SPDX-License-Identifier: Apache-2.0 */
/* Live: the document lock (mongolock-doc.h): acquire returns the document, release clears
 * the lock fields, a missing document is an error, the lock never touches other fields,
 * stale handles change nothing, expiry takeover, fenced writes (applied / lost / gone),
 * with_lock, custom field names, listing and the TTL-index check. */
#include <criterion/criterion.h>
#include <string.h>

#include "doc-lock-test.h"

#define USER_JSON "{'_id': 1, 'name': 'ada', 'balance': 100, 'nested': {'a': [1, 2, {'b': 'x'}], 'd': 1.5}, 'z': null}"

/* doc without the default lock fields. */
static bson_t *
without_lock_fields (const bson_t *doc)
{
   bson_t *out = bson_new ();
   bson_copy_to_excluding_noinit (doc, out, MONGOLOCK_DOC_DEFAULT_OWNER_FIELD, MONGOLOCK_DOC_DEFAULT_EXPIRY_FIELD,
                                  MONGOLOCK_DOC_DEFAULT_TOKEN_FIELD, NULL);
   return out;
}

static void
assert_untouched (dlt_env_t *e, const char *json)
{
   bson_t *want = mltest_bson (json);
   bson_t *got = dlt_find (e, 1);
   cr_assert (got, "the document disappeared");
   bson_t *rest = without_lock_fields (got);
   char *a = bson_as_relaxed_extended_json (want, NULL), *b = bson_as_relaxed_extended_json (rest, NULL);
   cr_assert (bson_equal (want, rest), "other fields changed:\nwant %s\ngot  %s", a, b);
   bson_free (a);
   bson_free (b);
   bson_destroy (rest);
   bson_destroy (got);
   bson_destroy (want);
}

static const char *
str_field (const bson_t *doc, const char *key)
{
   bson_iter_t it;
   return doc && bson_iter_init_find (&it, doc, key) && BSON_ITER_HOLDS_UTF8 (&it) ? bson_iter_utf8 (&it, NULL) : NULL;
}

Test (doc_lock, acquire_returns_the_document_and_release_clears_the_lock)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, USER_JSON);
   mongolock_doc_lock_t *l = dlt_lock (e.c, e.db, 1, 10000, 0, 0, NULL, NULL, NULL);
   cr_assert_null (mongolock_doc_lock_document (l));
   cr_assert (dlt_try (l));
   const bson_t *doc = mongolock_doc_lock_document (l);
   cr_assert (doc);
   cr_assert_str_eq (str_field (doc, "name"), "ada");
   cr_assert_eq (dlt_int (doc, "balance"), 100);
   cr_assert_str_eq (str_field (doc, MONGOLOCK_DOC_DEFAULT_OWNER_FIELD), mongolock_doc_lock_owner (l));
   cr_assert_eq (dlt_int (doc, MONGOLOCK_DOC_DEFAULT_TOKEN_FIELD), mongolock_doc_lock_token (l));
   cr_assert (mongolock_doc_lock_token (l) > 0);
   cr_assert (mongolock_doc_lock_remaining_ms (l) > 5000);
   cr_assert (strstr (mongolock_doc_lock_key (l), ".users/1"), "key %s", mongolock_doc_lock_key (l));
   bson_t *stored = dlt_find (&e, 1);
   cr_assert (dlt_has (stored, MONGOLOCK_DOC_DEFAULT_EXPIRY_FIELD));
   bson_destroy (stored);
   assert_untouched (&e, USER_JSON);

   int64_t token = mongolock_doc_lock_token (l);
   bson_error_t error;
   cr_assert (mongolock_doc_lock_release (l, &error), "%s", error.message);
   cr_assert_not (mongolock_doc_lock_is_held (l));
   stored = dlt_find (&e, 1);
   cr_assert_not (dlt_has (stored, MONGOLOCK_DOC_DEFAULT_OWNER_FIELD), "owner left after release");
   cr_assert_not (dlt_has (stored, MONGOLOCK_DOC_DEFAULT_EXPIRY_FIELD), "expiry left after release");
   cr_assert_eq (dlt_int (stored, MONGOLOCK_DOC_DEFAULT_TOKEN_FIELD), token, "the token stays for the next holder");
   bson_destroy (stored);
   assert_untouched (&e, USER_JSON);

   /* The next holder (the same handle, new owner) gets a larger token. */
   cr_assert (dlt_try (l));
   cr_assert_gt (mongolock_doc_lock_token (l), token);
   mongolock_doc_lock_destroy (l); /* releases */
   stored = dlt_find (&e, 1);
   cr_assert_not (dlt_has (stored, MONGOLOCK_DOC_DEFAULT_OWNER_FIELD), "destroy did not release");
   bson_destroy (stored);
   dlt_teardown (&e);
}

Test (doc_lock, missing_document_is_an_error_at_once_and_nothing_is_created)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, USER_JSON);
   mongolock_doc_lock_t *l = dlt_lock (e.c, e.db, 2, 10000, 5000, 0, NULL, NULL, NULL);
   bson_error_t error;
   int64_t t = mltest_now_ms ();
   cr_assert_not (mongolock_doc_lock_acquire (l, &error));
   cr_assert_eq (error.domain, MONGOLOCK_ERROR_DOMAIN);
   cr_assert_eq (error.code, MONGOLOCK_ERROR_NOT_FOUND, "%s", error.message);
   cr_assert_leq (mltest_now_ms () - t, 2000, "a missing document was waited for like a busy one");
   bool acquired = true;
   cr_assert_not (mongolock_doc_lock_try_acquire (l, &acquired, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_NOT_FOUND);
   cr_assert_not (acquired);
   cr_assert_null (dlt_find (&e, 2), "the lock created the document");
   cr_assert_str_eq (mongolock_error_code_name (MONGOLOCK_ERROR_NOT_FOUND), "NOT_FOUND");
   mongolock_doc_lock_destroy (l);
   dlt_teardown (&e);
}

/* A holder whose lease expired is taken over with a larger token; afterwards its fenced
 * write, renew and release change nothing. */
Test (doc_lock, expiry_takeover_and_a_stale_holder_changes_nothing)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, USER_JSON);
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_doc_lock_t *a = dlt_lock (e.c, e.db, 1, 600, 0, 0, &ev, NULL, NULL);
   mongolock_doc_lock_t *b = dlt_lock (e.c, e.db, 1, 10000, 0, 0, NULL, NULL, NULL);
   cr_assert (dlt_try (a));
   cr_assert_not (dlt_try (b), "took a live lease");
   cr_assert_geq (lt_events_count (&ev, MONGOLOCK_EVENT_ACQUIRED), 1);
   mltest_sleep_ms (800);
   cr_assert (dlt_try (b), "the expired lease was not taken over");
   cr_assert_gt (mongolock_doc_lock_token (b), mongolock_doc_lock_token (a));
   bson_t *before = dlt_find (&e, 1);

   bson_error_t error;
   mongolock_doc_write_result_t res = 0;
   bson_t *inc = mltest_bson ("{'$inc': {'balance': -10}}");
   cr_assert (mongolock_doc_lock_update (a, inc, 0, &res, &error), "%s", error.message);
   cr_assert_eq (res, MONGOLOCK_DOC_WRITE_LOST, "a stale holder's write was %d", res);
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_LOST), 1, "no LOST event");
   /* The handle no longer holds the lock: later writes fail without a command. */
   cr_assert_not (mongolock_doc_lock_is_held (a));
   cr_assert_not (mongolock_doc_lock_renew (a, &error));
   cr_assert (error.code == MONGOLOCK_ERROR_LOST || error.code == MONGOLOCK_ERROR_NOT_HELD, "%s", error.message);
   cr_assert_not (mongolock_doc_lock_release (a, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_LOST, "%s", error.message);
   bson_t *after = dlt_find (&e, 1);
   cr_assert (bson_equal (before, after), "a stale handle changed the document");
   bson_destroy (after);
   bson_destroy (before);

   /* A stale handle that still believes it holds (its local lease is live): another
    * holder took the document over behind its back. Renew and release are refused by the
    * server (owner and token no longer match) and change nothing. */
   cr_assert (mongolock_doc_lock_release (b, &error), "%s", error.message);
   mongolock_doc_lock_t *c = dlt_lock (e.c, e.db, 1, 10000, 0, 0, NULL, NULL, NULL);
   cr_assert (dlt_try (c));
   mltest_cmd_ok (e.mc, e.db,
                  "{'update': 'users', 'updates': [{'q': {'_id': 1}, 'u': [{'$set': {'_lockOwner': 'intruder', "
                  "'_lockToken': {'$add': ['$_lockToken', 1]}}}]}]}",
                  NULL);
   before = dlt_find (&e, 1);
   cr_assert (mongolock_doc_lock_is_held (c));
   cr_assert_not (mongolock_doc_lock_renew (c, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_LOST, "%s", error.message);
   cr_assert (dlt_try (c) == false, "the stale handle took the lock back");
   after = dlt_find (&e, 1);
   cr_assert (bson_equal (before, after), "a stale renew or acquire changed the document");
   bson_destroy (after);
   mongolock_doc_lock_t *d = dlt_lock (e.c, e.db, 1, 10000, 0, 0, NULL, NULL, NULL);
   cr_assert (dlt_try (d) == false);
   mongolock_doc_lock_destroy (d);
   /* And release: a fresh stale handle whose lease is live locally. */
   mltest_cmd_ok (e.mc, e.db, "{'update': 'users', 'updates': [{'q': {'_id': 1}, 'u': {'$unset': {'_lockOwner': '', '_lockExpiresAt': ''}}}]}", NULL);
   mongolock_doc_lock_destroy (c);
   c = dlt_lock (e.c, e.db, 1, 10000, 0, 0, NULL, NULL, NULL);
   cr_assert (dlt_try (c));
   mltest_cmd_ok (e.mc, e.db,
                  "{'update': 'users', 'updates': [{'q': {'_id': 1}, 'u': [{'$set': {'_lockOwner': 'intruder', "
                  "'_lockToken': {'$add': ['$_lockToken', 1]}}}]}]}",
                  NULL);
   bson_destroy (before);
   before = dlt_find (&e, 1);
   cr_assert_not (mongolock_doc_lock_release (c, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_LOST, "%s", error.message);
   after = dlt_find (&e, 1);
   cr_assert (bson_equal (before, after), "a stale release changed the document");
   cr_assert_str_eq (str_field (after, MONGOLOCK_DOC_DEFAULT_OWNER_FIELD), "intruder");
   bson_destroy (after);
   bson_destroy (before);
   bson_destroy (inc);
   mongolock_doc_lock_destroy (a);
   mongolock_doc_lock_destroy (b);
   mongolock_doc_lock_destroy (c);
   assert_untouched (&e, USER_JSON);
   dlt_teardown (&e);
}

Test (doc_lock, fenced_update_applies_and_can_release_in_the_same_write)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, USER_JSON);
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_doc_lock_t *l = dlt_lock (e.c, e.db, 1, 10000, 0, 0, &ev, NULL, NULL);
   bson_error_t error;
   mongolock_doc_write_result_t res = 0;
   bson_t *inc = mltest_bson ("{'$inc': {'balance': -30}}");
   cr_assert_not (mongolock_doc_lock_update (l, inc, 0, &res, &error), "a write without the lock");
   cr_assert_eq (error.code, MONGOLOCK_ERROR_NOT_HELD);
   cr_assert (dlt_try (l));
   cr_assert (mongolock_doc_lock_update (l, inc, 0, &res, &error), "%s", error.message);
   cr_assert_eq (res, MONGOLOCK_DOC_WRITE_APPLIED);
   bson_t *doc = dlt_find (&e, 1);
   cr_assert_eq (dlt_int (doc, "balance"), 70);
   cr_assert (dlt_has (doc, MONGOLOCK_DOC_DEFAULT_OWNER_FIELD), "a plain write released the lock");
   bson_destroy (doc);
   /* A pipeline update, then an update that also releases, merged with the caller's $unset. */
   bson_t *pipe = mltest_bson ("{'0': {'$set': {'balance': {'$multiply': ['$balance', 2]}}}}");
   cr_assert (mongolock_doc_lock_update (l, pipe, MONGOLOCK_DOC_UPDATE_PIPELINE, &res, &error), "%s", error.message);
   cr_assert_eq (res, MONGOLOCK_DOC_WRITE_APPLIED);
   bson_t *rel = mltest_bson ("{'$set': {'name': 'bob'}, '$unset': {'z': ''}}");
   cr_assert (mongolock_doc_lock_update (l, rel, MONGOLOCK_DOC_UPDATE_RELEASE, &res, &error), "%s", error.message);
   cr_assert_eq (res, MONGOLOCK_DOC_WRITE_APPLIED);
   cr_assert_not (mongolock_doc_lock_is_held (l));
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_RELEASED), 1);
   doc = dlt_find (&e, 1);
   cr_assert_eq (dlt_int (doc, "balance"), 140);
   cr_assert_str_eq (str_field (doc, "name"), "bob");
   cr_assert_not (dlt_has (doc, "z"));
   cr_assert_not (dlt_has (doc, MONGOLOCK_DOC_DEFAULT_OWNER_FIELD), "update-and-release left the owner");
   cr_assert_not (dlt_has (doc, MONGOLOCK_DOC_DEFAULT_EXPIRY_FIELD));
   cr_assert (dlt_has (doc, MONGOLOCK_DOC_DEFAULT_TOKEN_FIELD));
   bson_destroy (doc);
   cr_assert_not (mongolock_doc_lock_release (l, &error), "released twice");
   cr_assert_eq (error.code, MONGOLOCK_ERROR_NOT_HELD);
   /* Pipeline update-and-release. */
   cr_assert (dlt_try (l));
   cr_assert (mongolock_doc_lock_update (l, pipe, MONGOLOCK_DOC_UPDATE_PIPELINE | MONGOLOCK_DOC_UPDATE_RELEASE, &res,
                                         &error), "%s", error.message);
   doc = dlt_find (&e, 1);
   cr_assert_eq (dlt_int (doc, "balance"), 280);
   cr_assert_not (dlt_has (doc, MONGOLOCK_DOC_DEFAULT_OWNER_FIELD));
   bson_destroy (doc);
   bson_destroy (rel);
   bson_destroy (pipe);
   bson_destroy (inc);
   mongolock_doc_lock_destroy (l);
   dlt_teardown (&e);
}

Test (doc_lock, fenced_update_tells_a_deleted_document_from_a_lost_lock)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, USER_JSON);
   mongolock_doc_lock_t *l = dlt_lock (e.c, e.db, 1, 10000, 0, 0, NULL, NULL, NULL);
   cr_assert (dlt_try (l));
   mltest_cmd_ok (e.mc, e.db, "{'delete': 'users', 'deletes': [{'q': {'_id': 1}, 'limit': 1}]}", NULL);
   bson_error_t error;
   mongolock_doc_write_result_t res = 0;
   bson_t *inc = mltest_bson ("{'$inc': {'balance': 1}}");
   cr_assert (mongolock_doc_lock_update (l, inc, 0, &res, &error), "%s", error.message);
   cr_assert_eq (res, MONGOLOCK_DOC_WRITE_GONE, "result %d", res);
   cr_assert_not (mongolock_doc_lock_is_held (l));
   cr_assert_null (dlt_find (&e, 1), "the write re-created the document");
   bson_destroy (inc);
   mongolock_doc_lock_destroy (l);
   dlt_teardown (&e);
}

Test (doc_lock, fenced_update_refuses_to_write_the_lock_fields)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, USER_JSON);
   mongolock_doc_lock_t *l = dlt_lock (e.c, e.db, 1, 10000, 0, 0, NULL, NULL, NULL);
   cr_assert (dlt_try (l));
   const char *bad[] = {
      "{'$set': {'_lockOwner': 'me'}}",       "{'$unset': {'_lockExpiresAt': ''}}",
      "{'$inc': {'_lockToken.x': 1}}",        "{'name': 'replacement'}",
      "{}",                                   "{'$set': 5}",
   };
   bson_error_t error;
   mongolock_doc_write_result_t res;
   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      bson_t *u = mltest_bson (bad[i]);
      cr_assert_not (mongolock_doc_lock_update (l, u, 0, &res, &error), "accepted %s", bad[i]);
      cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s: %s", bad[i], error.message);
      bson_destroy (u);
   }
   const char *bad_pipes[] = {
      "{'0': {'$replaceWith': {'a': 1}}}",
      "{'0': {'$set': {'_lockOwner': 'x'}}}",
      "{'0': {'$unset': '_lockToken'}}",
      "{'0': {'$project': {'name': 1}}}",
   };
   for (size_t i = 0; i < sizeof bad_pipes / sizeof bad_pipes[0]; i++) {
      bson_t *u = mltest_bson (bad_pipes[i]);
      cr_assert_not (mongolock_doc_lock_update (l, u, MONGOLOCK_DOC_UPDATE_PIPELINE, &res, &error), "accepted %s",
                     bad_pipes[i]);
      cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s: %s", bad_pipes[i], error.message);
      bson_destroy (u);
   }
   /* A bad operator is the server's error, and nothing is written. */
   bson_t *u = mltest_bson ("{'$inc': {'name': 'x'}}");
   cr_assert_not (mongolock_doc_lock_update (l, u, 0, &res, &error));
   cr_assert_neq (error.domain, MONGOLOCK_ERROR_DOMAIN, "%s", error.message);
   bson_destroy (u);
   cr_assert (mongolock_doc_lock_is_held (l));
   mongolock_doc_lock_destroy (l);
   assert_untouched (&e, USER_JSON);
   dlt_teardown (&e);
}

Test (doc_lock, custom_field_names_and_their_validation)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, USER_JSON);
   const char *fields[] = {"locking_name", "locked_at", "lock_fence"};
   mongolock_doc_lock_t *l = dlt_lock (e.c, e.db, 1, 10000, 0, 0, NULL, NULL, fields);
   cr_assert (dlt_try (l));
   bson_t *doc = dlt_find (&e, 1);
   cr_assert_str_eq (str_field (doc, "locking_name"), mongolock_doc_lock_owner (l));
   cr_assert (dlt_has (doc, "locked_at"));
   cr_assert_eq (dlt_int (doc, "lock_fence"), mongolock_doc_lock_token (l));
   cr_assert_not (dlt_has (doc, MONGOLOCK_DOC_DEFAULT_OWNER_FIELD));
   bson_destroy (doc);
   /* A handle with the default names does not see that lock: it is another lock. */
   bson_error_t error;
   mongolock_doc_write_result_t res;
   bson_t *u = mltest_bson ("{'$set': {'locked_at': 1}}");
   cr_assert_not (mongolock_doc_lock_update (l, u, 0, &res, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   bson_destroy (u);
   cr_assert (mongolock_doc_lock_release (l, &error), "%s", error.message);
   doc = dlt_find (&e, 1);
   cr_assert_not (dlt_has (doc, "locking_name"));
   cr_assert_not (dlt_has (doc, "locked_at"));
   bson_destroy (doc);
   mongolock_doc_lock_destroy (l);

   mongolock_doc_lock_opts_t *o = mongolock_doc_lock_opts_new ();
   const char *bad[][3] = {{"a.b", NULL, NULL}, {"$x", NULL, NULL}, {"_id", NULL, NULL}, {"", NULL, NULL},
                           {"same", "same", NULL}, {NULL, NULL, MONGOLOCK_DOC_DEFAULT_OWNER_FIELD}};
   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      cr_assert_not (mongolock_doc_lock_opts_set_fields (o, bad[i][0], bad[i][1], bad[i][2], &error), "row %zu", i);
      cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   }
   bson_value_t arr = {.value_type = BSON_TYPE_ARRAY};
   cr_assert_null (mongolock_doc_lock_new (e.c, e.db, "users", &arr, o, &error));
   cr_assert_null (mongolock_doc_lock_new (e.c, "bad.db", "users", &arr, o, &error));
   mongolock_doc_lock_opts_destroy (o);
   dlt_teardown (&e);
}

/* _id of other types: strings, ObjectIds, and documents (matched as values with $eq,
 * never read as operators). */
Test (doc_lock, ids_of_any_type)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, "{'_id': 'ada', 'n': 1}");
   dlt_insert (&e, "{'_id': {'$oid': '65a000000000000000000001'}, 'n': 2}");
   dlt_insert (&e, "{'_id': {'tenant': 't1', 'n': 3}, 'n': 3}");
   dlt_insert (&e, "{'_id': {'tenant': 't1', 'n': 4}, 'n': 4}");
   bson_t *ids = mltest_bson ("{'a': 'ada', 'b': {'$oid': '65a000000000000000000001'}, 'c': {'tenant': 't1', 'n': 3}}");
   bson_iter_t it;
   cr_assert (bson_iter_init (&it, ids));
   int64_t want = 1;
   while (bson_iter_next (&it)) {
      bson_error_t error;
      mongolock_doc_lock_t *l = mongolock_doc_lock_new (e.c, e.db, "users", bson_iter_value (&it), NULL, &error);
      cr_assert (l, "%s", error.message);
      bool acquired = false;
      cr_assert (mongolock_doc_lock_try_acquire (l, &acquired, &error), "%s: %s", bson_iter_key (&it), error.message);
      cr_assert (acquired);
      cr_assert_eq (dlt_int (mongolock_doc_lock_document (l), "n"), want++, "locked the wrong document");
      mongolock_doc_lock_destroy (l);
   }
   bson_destroy (ids);
   dlt_teardown (&e);
}

typedef struct {
   int64_t remaining;
   int64_t balance;
   bool fail;
   int price;
} purchase_t;

static bool
purchase (mongolock_doc_lock_t *lock, const bson_t *doc, void *data, bson_error_t *error)
{
   purchase_t *p = data;
   p->remaining = mongolock_doc_lock_remaining_ms (lock);
   p->balance = dlt_int (doc, "balance");
   if (p->fail) {
      bson_set_error (error, 77, 7, "card declined");
      return false;
   }
   bson_t *u = BCON_NEW ("$inc", "{", "balance", BCON_INT32 (-p->price), "}");
   mongolock_doc_write_result_t res;
   bool ok = mongolock_doc_lock_update (lock, u, 0, &res, error) && res == MONGOLOCK_DOC_WRITE_APPLIED;
   bson_destroy (u);
   return ok;
}

Test (doc_lock, with_lock_runs_under_the_lock_and_always_releases)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, USER_JSON);
   mongolock_doc_lock_t *l = dlt_lock (e.c, e.db, 1, 10000, 2000, 0, NULL, NULL, NULL);
   mongolock_doc_lock_t *other = dlt_lock (e.c, e.db, 1, 10000, 0, 0, NULL, NULL, NULL);
   purchase_t p = {0, 0, false, 30};
   bson_error_t error;
   cr_assert (mongolock_doc_lock_with (l, purchase, &p, &error), "%s", error.message);
   cr_assert_gt (p.remaining, 5000, "the callback could not see its lease");
   cr_assert_eq (p.balance, 100);
   cr_assert_not (mongolock_doc_lock_is_held (l));
   p.fail = true;
   cr_assert_not (mongolock_doc_lock_with (l, purchase, &p, &error));
   cr_assert_eq (error.domain, 77u);
   cr_assert_str_eq (error.message, "card declined");
   cr_assert_eq (p.balance, 70);
   cr_assert (dlt_try (other), "a failed callback left the lock held");
   bson_t *doc = dlt_find (&e, 1);
   cr_assert_eq (dlt_int (doc, "balance"), 70);
   bson_destroy (doc);
   /* Busy for the whole wait: the callback does not run. */
   p.fail = false;
   p.balance = -1;
   cr_assert_not (mongolock_doc_lock_with (l, purchase, &p, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_TIMEOUT, "%s", error.message);
   cr_assert_eq (p.balance, -1);
   mongolock_doc_lock_destroy (other);
   mongolock_doc_lock_destroy (l);
   dlt_teardown (&e);
}

Test (doc_lock, reentrant_update_and_release_only_drops_the_count)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, USER_JSON);
   mongolock_doc_lock_t *l = dlt_lock (e.c, e.db, 1, 10000, 0, DLT_REENTRANT, NULL, NULL, NULL);
   cr_assert (dlt_try (l));
   cr_assert (dlt_try (l));
   bson_error_t error;
   mongolock_doc_write_result_t res;
   bson_t *u = mltest_bson ("{'$inc': {'balance': 1}}");
   cr_assert (mongolock_doc_lock_update (l, u, MONGOLOCK_DOC_UPDATE_RELEASE, &res, &error), "%s", error.message);
   cr_assert (mongolock_doc_lock_is_held (l), "the inner release ended the outer hold");
   bson_t *doc = dlt_find (&e, 1);
   cr_assert (dlt_has (doc, MONGOLOCK_DOC_DEFAULT_OWNER_FIELD));
   bson_destroy (doc);
   cr_assert (mongolock_doc_lock_update (l, u, MONGOLOCK_DOC_UPDATE_RELEASE, &res, &error), "%s", error.message);
   cr_assert_not (mongolock_doc_lock_is_held (l));
   doc = dlt_find (&e, 1);
   cr_assert_eq (dlt_int (doc, "balance"), 102);
   cr_assert_not (dlt_has (doc, MONGOLOCK_DOC_DEFAULT_OWNER_FIELD));
   bson_destroy (doc);
   bson_destroy (u);
   mongolock_doc_lock_destroy (l);
   dlt_teardown (&e);
}

/* UNTIL_EXPIRY sleeps out the holder's lease: few attempts where full jitter polls. */
Test (doc_lock, until_expiry_backoff_waits_for_the_holders_lease)
{
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, USER_JSON);
   mongolock_doc_lock_t *a = dlt_lock (e.c, e.db, 1, 1500, 0, 0, NULL, NULL, NULL);
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_doc_lock_t *b = dlt_lock (e.c, e.db, 1, 10000, 6000, DLT_UNTIL_EXPIRY, &ev, NULL, NULL);
   cr_assert (dlt_try (a));
   int64_t t = mltest_now_ms ();
   bson_error_t error;
   cr_assert (mongolock_doc_lock_acquire (b, &error), "%s", error.message);
   int64_t took = mltest_now_ms () - t;
   cr_assert_geq (took, 1000, "took the lock %" PRId64 " ms into a 1500 ms lease", took);
   cr_assert_leq (took, 4000, "waited %" PRId64 " ms for a 1500 ms lease", took);
   /* Sleeping out the lease: the busy answer, then one at the lease's end by the
    * estimated clock offset, then, if that estimate was early, retries 5-10, 10-20, 20-40
    * ms apart (the doubling margin, backoff.c): three cover 35 ms of estimate error, far
    * more than a loopback hello's. With a change stream, its opening wakes each waiter
    * once more (watcher.c: releases before the stream's start are not in it). Polling
    * every 5 ms (the old fixed margin) made 6 on a loaded machine; polling at the default
    * backoff would make dozens. */
   int bound = strcmp (ev.wait_mode, "change-stream") == 0 ? 6 : 5;
   cr_assert_leq (ev.last_attempts,
                  bound,
                  "%d attempts (wait mode \"%s\"): polled instead of sleeping out the lease",
                  ev.last_attempts,
                  ev.wait_mode);
   mongolock_doc_lock_destroy (a);
   mongolock_doc_lock_destroy (b);
   dlt_teardown (&e);
}

Test (doc_lock, list_shows_locked_documents_by_the_servers_clock)
{
   dlt_env_t e;
   dlt_setup (&e);
   for (int i = 1; i <= 4; i++) {
      char json[64];
      snprintf (json, sizeof json, "{'_id': %d, 'n': %d}", i, i);
      dlt_insert (&e, json);
   }
   mongolock_doc_lock_t *live = dlt_lock (e.c, e.db, 1, 60000, 0, 0, NULL, NULL, NULL);
   mongolock_doc_lock_t *expired = dlt_lock (e.c, e.db, 2, 300, 0, 0, NULL, NULL, NULL);
   mongolock_doc_lock_t *released = dlt_lock (e.c, e.db, 3, 60000, 0, 0, NULL, NULL, NULL);
   cr_assert (dlt_try (live) && dlt_try (expired) && dlt_try (released));
   bson_error_t error;
   cr_assert (mongolock_doc_lock_release (released, &error));
   mltest_sleep_ms (500);
   bson_t out;
   cr_assert (mongolock_doc_lock_list (e.c, e.db, "users", NULL, 100, &out, &error), "%s", error.message);
   bson_iter_t it, arr, d;
   cr_assert (bson_iter_init_find (&it, &out, "locks") && bson_iter_recurse (&it, &arr));
   int n = 0;
   while (bson_iter_next (&arr)) {
      n++;
      cr_assert (bson_iter_recurse (&arr, &d));
      uint32_t len;
      const uint8_t *data;
      bson_iter_document (&arr, &len, &data);
      bson_t item;
      bson_init_static (&item, data, len);
      int64_t id = dlt_int (&item, "_id");
      bson_iter_t h;
      cr_assert (bson_iter_init_find (&h, &item, "held") && BSON_ITER_HOLDS_BOOL (&h));
      if (id == 1) {
         cr_assert (bson_iter_bool (&h));
         cr_assert_gt (dlt_int (&item, "remainingMs"), 50000);
         cr_assert_str_eq (str_field (&item, "owner"), mongolock_doc_lock_owner (live));
         cr_assert_eq (dlt_int (&item, "token"), mongolock_doc_lock_token (live));
      } else {
         cr_assert_eq (id, 2, "listed document %" PRId64, id);
         cr_assert_not (bson_iter_bool (&h), "an expired lock listed as held");
         cr_assert_eq (dlt_int (&item, "remainingMs"), 0);
      }
   }
   cr_assert_eq (n, 2);
   cr_assert (bson_iter_init_find (&it, &out, "truncated") && !bson_iter_bool (&it));
   bson_destroy (&out);
   cr_assert (mongolock_doc_lock_list (e.c, e.db, "users", NULL, 1, &out, &error), "%s", error.message);
   cr_assert (bson_iter_init_find (&it, &out, "truncated") && bson_iter_bool (&it));
   bson_destroy (&out);
   cr_assert (mongolock_doc_lock_list (e.c, e.db, "nothing", NULL, 10, &out, &error), "%s", error.message);
   bson_destroy (&out);
   cr_assert_not (mongolock_doc_lock_list (e.c, e.db, "users", NULL, 0, &out, &error));
   bson_destroy (&out);
   mongolock_doc_lock_destroy (live);
   mongolock_doc_lock_destroy (expired);
   mongolock_doc_lock_destroy (released);
   dlt_teardown (&e);
}

Test (doc_lock, a_ttl_index_on_a_lock_field_is_refused)
{
   dlt_env_t e;
   dlt_setup (&e);
   bson_error_t error;
   cr_assert (mongolock_doc_lock_check_indexes (e.c, e.db, "users", NULL, &error), "no collection: %s", error.message);
   dlt_insert (&e, USER_JSON);
   mltest_cmd_ok (e.mc, e.db, "{'createIndexes': 'users', 'indexes': [{'key': {'name': 1}, 'name': 'name_1'}]}", NULL);
   cr_assert (mongolock_doc_lock_check_indexes (e.c, e.db, "users", NULL, &error), "%s", error.message);
   /* Mongoid::Locker's README example, on our expiry field. */
   mltest_cmd_ok (e.mc, e.db,
                  "{'createIndexes': 'users', 'indexes': [{'key': {'_lockExpiresAt': 1}, 'name': 'lock_ttl', "
                  "'expireAfterSeconds': 5}]}",
                  NULL);
   cr_assert_not (mongolock_doc_lock_check_indexes (e.c, e.db, "users", NULL, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INDEX_CONFLICT);
   cr_assert (strstr (error.message, "lock_ttl") && strstr (error.message, "dropIndex"), "%s", error.message);
   /* The guard's index helper never builds a TTL index either. */
   mongoc_collection_t *coll = mongoc_client_get_collection (e.mc, e.db, "users");
   bson_t *keys = mltest_bson ("{'email': 1}");
   bson_t *opts = mltest_bson ("{'expireAfterSeconds': 5}");
   bson_t report;
   cr_assert_not (mongolock_unique_index_ensure (coll, keys, opts, &report, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s", error.message);
   bson_destroy (&report);
   bson_destroy (opts);
   bson_destroy (keys);
   mongoc_collection_destroy (coll);
   dlt_teardown (&e);
}
