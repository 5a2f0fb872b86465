/* SPDX-License-Identifier: Apache-2.0 */
/* Live: `mongolock status --docs DB.COLL` lists documents locked in place (document locks)
 * with their state by the server's clock; control bytes in a holder are escaped. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <mongolock/mongolock.h>
#include <string.h>

#include "cli-test.h"
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
TestSuite (cli_status_docs, .init = init, .fini = fini, .timeout = 300);

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

static mongolock_doc_lock_t *
lock_doc (mongolock_client_t *c, const char *db, int32_t id, int64_t lease_ms)
{
   bson_error_t error;
   mongolock_doc_lock_opts_t *o = mongolock_doc_lock_opts_new ();
   cr_assert (mongolock_lock_opts_set_lease_ms (mongolock_doc_lock_opts_lock_opts (o), lease_ms, &error));
   bson_value_t v = {.value_type = BSON_TYPE_INT32, .value.v_int32 = id};
   mongolock_doc_lock_t *l = mongolock_doc_lock_new (c, db, "users", &v, o, &error);
   cr_assert (l, "%s", error.message);
   mongolock_doc_lock_opts_destroy (o);
   bool acquired = false;
   cr_assert (mongolock_doc_lock_try_acquire (l, &acquired, &error) && acquired, "%s", error.message);
   return l;
}

Test (cli_status_docs, lists_held_and_expired_document_locks)
{
   char *db = mltest_db_name ("clid");
   mongoc_client_t *mc = mltest_client ();
   mltest_cmd_ok (mc, db, "{'insert': 'users', 'documents': [{'_id': 1}, {'_id': 2}, {'_id': 3}]}", NULL);
   bson_error_t error;
   mongolock_client_opts_t *o = mongolock_client_opts_new ();
   cr_assert (mongolock_client_opts_set_database (o, db, &error));
   cr_assert (mongolock_client_opts_set_identity (o, "host:1:evil\x1b[2J", &error), "%s", error.message);
   mongolock_client_t *c = mongolock_client_new (mltest_uri (), o, &error);
   cr_assert (c, "%s", error.message);
   mongolock_client_opts_destroy (o);
   mongolock_doc_lock_t *held = lock_doc (c, db, 1, 60000);
   mongolock_doc_lock_t *expired = lock_doc (c, db, 2, 200);
   mltest_sleep_ms (400);

   char *ns = bson_strdup_printf ("%s.users", db);
   cli_result_t r;
   cli_run (&r, ARGS ("--uri", mltest_uri (), "status", "--docs", ns, "--json"));
   cli_assert_code (&r, 0);
   bson_t *doc = bson_new_from_json ((const uint8_t *) r.out, -1, &error);
   cr_assert (doc, "status --json parses: %s\n%s", error.message, r.out);
   bson_iter_t it, arr;
   cr_assert (bson_iter_init_find (&it, doc, "locks") && bson_iter_recurse (&it, &arr));
   int n = 0;
   while (bson_iter_next (&arr)) {
      n++;
   }
   cr_assert_eq (n, 2, "%s", r.out);
   cr_assert (strstr (r.out, "\"held\" : true") && strstr (r.out, "\"held\" : false"), "%s", r.out);
   /* Tokens (about 2^60) as decimal strings: a JSON number that large is rounded by jq. */
   char token[48];
   snprintf (token, sizeof token, "\"token\" : \"%" PRId64 "\"", mongolock_doc_lock_token (held));
   cr_assert (strstr (r.out, token), "no %s in:\n%s", token, r.out);
   snprintf (token, sizeof token, "\"token\" : \"%" PRId64 "\"", mongolock_doc_lock_token (expired));
   cr_assert (strstr (r.out, token), "no %s in:\n%s", token, r.out);
   bson_destroy (doc);
   cli_result_destroy (&r);

   cli_run (&r, ARGS ("--uri", mltest_uri (), "status", "--docs", ns));
   cli_assert_code (&r, 0);
   cr_assert (strstr (r.out, "held") && strstr (r.out, "expired"), "%s", r.out);
   cr_assert_null (strchr (r.out, '\x1b'), "a control byte reached the terminal:\n%s", r.out);
   cr_assert (strstr (r.out, "\\x1B"), "%s", r.out);
   cli_result_destroy (&r);

   cli_run (&r, ARGS ("--uri", mltest_uri (), "status", "--docs", "nodot"));
   cli_assert_code (&r, 64);
   cli_result_destroy (&r);

   mongolock_doc_lock_destroy (held);
   mongolock_doc_lock_destroy (expired);
   mongolock_client_destroy (c);
   mltest_drop_db (mc, db);
   mongoc_client_destroy (mc);
   bson_free (ns);
   bson_free (db);
}
