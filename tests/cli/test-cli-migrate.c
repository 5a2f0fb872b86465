/* SPDX-License-Identifier: Apache-2.0 */
/* Live: `mongolock migrate` creates indexes idempotently, builds nothing over duplicates or
 * a conflicting index, and --dry-run changes nothing. */
#include <criterion/criterion.h>
#include <stdlib.h>
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
TestSuite (cli_migrate, .init = init, .fini = fini, .timeout = 300);

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

typedef struct {
   mongoc_client_t *client;
   char *lock_db; /* lock collection "locks" lives here */
   char *app_db;  /* the spec's business collections */
   char *dir;
   char *spec;
} fx_t;

static void
fx_init (fx_t *fx, const char *spec_indexes)
{
   fx->client = mltest_client ();
   fx->lock_db = mltest_db_name ("clil");
   fx->app_db = mltest_db_name ("clia");
   fx->dir = cli_tmpdir ();
   fx->spec = cli_file (fx->dir, "spec.json");
   char *json = bson_strdup_printf ("{\"database\": \"%s\", \"indexes\": %s}", fx->app_db, spec_indexes);
   cli_write (fx->spec, json);
   bson_free (json);
}

static void
fx_fini (fx_t *fx)
{
   mltest_drop_db (fx->client, fx->lock_db);
   mltest_drop_db (fx->client, fx->app_db);
   mongoc_client_destroy (fx->client);
   bson_free (fx->lock_db);
   bson_free (fx->app_db);
   cli_rmdir (fx->dir);
   free (fx->dir);
   free (fx->spec);
}

/* `mongolock --uri U --db LOCKDB migrate --spec SPEC [extra]`. */
static void
migrate (fx_t *fx, cli_result_t *r, const char *extra)
{
   if (extra) {
      cli_run (r, ARGS ("--uri", mltest_uri (), "--db", fx->lock_db, "migrate", "--spec", fx->spec, extra));
   } else {
      cli_run (r, ARGS ("--uri", mltest_uri (), "--db", fx->lock_db, "migrate", "--spec", fx->spec));
   }
}

static void
assert_indexes (fx_t *fx, const char *db, const char *coll, const char *expected)
{
   char *names = cli_index_names (fx->client, db, coll);
   cr_assert_str_eq (names, expected, "indexes of %s.%s", db, coll);
   free (names);
}

static void
insert (fx_t *fx, const char *coll, const char *docs_json)
{
   char *cmd = bson_strdup_printf ("{'insert': '%s', 'documents': %s}", coll, docs_json);
   mltest_cmd_ok (fx->client, fx->app_db, cmd, NULL);
   bson_free (cmd);
}

/* The test server's URI with db as its database (mongodb://HOSTS/db?OPTIONS). */
static char *
uri_with_db (const char *db)
{
   const char *uri = mltest_uri ();
   const char *hosts = strstr (uri, "://");
   cr_assert (hosts, "%s", uri);
   hosts += 3;
   const char *slash = strchr (hosts, '/');
   if (!slash) {
      return bson_strdup_printf ("%s/%s", uri, db);
   }
   const char *q = strchr (slash, '?');
   return bson_strdup_printf ("%.*s/%s%s", (int) (slash - uri), uri, db, q ? q : "");
}

static const char two_indexes[] =
   "[{'collection': 'users', 'keys': {'email': 1}},"
   " {'collection': 'orders', 'keys': {'tenant': 1, 'number': -1}, 'name': 'tenant_number_unique',"
   "  'partialFilterExpression': {'deleted': false}}]";

static char *
dq (const char *s)
{
   char *c = bson_strdup (s);
   for (char *p = c; *p; p++) {
      if (*p == '\'') {
         *p = '"';
      }
   }
   return c;
}

Test (cli_migrate, twice_creates_then_is_a_no_op)
{
   fx_t fx;
   char *spec = dq (two_indexes);
   fx_init (&fx, spec);
   bson_free (spec);
   insert (&fx, "users", "[{'email': 'a'}, {'email': 'b'}]");
   cli_result_t r;
   migrate (&fx, &r, NULL);
   cli_assert_code (&r, 0);
   cr_assert_eq (cli_count_lines (r.out, "created"), 4, "3 created lines + summary:\n%s", r.out);
   cr_assert (strstr (r.out, "created 3 indexes"), "%s", r.out);
   cli_result_destroy (&r);
   assert_indexes (&fx, fx.app_db, "users", "_id_,email_1");
   assert_indexes (&fx, fx.app_db, "orders", "_id_,tenant_number_unique");
   char *lock_ix = cli_index_names (fx.client, fx.lock_db, "locks");
   cr_assert (strstr (lock_ix, ","), "the lock collection has its TTL index: %s", lock_ix);
   free (lock_ix);
   /* The unique index really is unique, partial filter included. */
   mltest_cmd_fails (fx.client, fx.app_db, "{'insert': 'users', 'documents': [{'email': 'a'}]}", 11000);
   mltest_cmd_ok (fx.client, fx.app_db,
                  "{'insert': 'orders', 'documents': [{'tenant': 1, 'number': 1, 'deleted': true},"
                  " {'tenant': 1, 'number': 1, 'deleted': true}]}", NULL);

   migrate (&fx, &r, NULL);
   cli_assert_code (&r, 0);
   cr_assert_eq (cli_count_lines (r.out, "created"), 0, "second run creates nothing:\n%s", r.out);
   cr_assert_eq (cli_count_lines (r.out, "exists"), 3, "%s", r.out);
   cr_assert (strstr (r.out, "nothing to do"), "the second run says so:\n%s", r.out);
   cli_result_destroy (&r);

   migrate (&fx, &r, "--json");
   cli_assert_code (&r, 0);
   bson_error_t error;
   bson_t *doc = bson_new_from_json ((const uint8_t *) r.out, -1, &error);
   cr_assert (doc, "--json output parses: %s\n%s", error.message, r.out);
   bson_iter_t it;
   cr_assert (bson_iter_init_find (&it, doc, "changed") && !bson_iter_bool (&it));
   cr_assert (bson_iter_init_find (&it, doc, "ok") && bson_iter_bool (&it));
   cr_assert (bson_iter_init (&it, doc) && bson_iter_find_descendant (&it, "results.2.name", &it));
   cr_assert_str_eq (bson_iter_utf8 (&it, NULL), "tenant_number_unique");
   cr_assert (bson_iter_init (&it, doc) && bson_iter_find_descendant (&it, "results.1.action", &it));
   cr_assert_str_eq (bson_iter_utf8 (&it, NULL), "exists");
   bson_destroy (doc);
   cli_result_destroy (&r);
   assert_indexes (&fx, fx.app_db, "users", "_id_,email_1");
   fx_fini (&fx);
}

Test (cli_migrate, duplicates_are_reported_and_nothing_is_built)
{
   fx_t fx;
   char *spec = dq (two_indexes);
   fx_init (&fx, spec);
   bson_free (spec);
   /* users: 'a' twice, and two documents without email (both null to a unique index). */
   insert (&fx, "users", "[{'email': 'a'}, {'email': 'a'}, {'email': 'b'}, {'x': 1}, {'x': 2}, {'email': 'c'}]");
   insert (&fx, "orders", "[{'tenant': 1, 'number': 1, 'deleted': false}]");
   cli_result_t r;
   migrate (&fx, &r, NULL);
   cli_assert_code (&r, 80);
   cr_assert_eq (cli_count_lines (r.out, "duplicates"), 1, "%s", r.out);
   cr_assert (strstr (r.out, "2 key values shared by 4 documents"), "counts:\n%s", r.out);
   cr_assert (strstr (r.out, "\"email\" : \"a\" } x2"), "sample:\n%s", r.out);
   cr_assert (strstr (r.out, "\"email\" : null } x2"), "missing counts as null:\n%s", r.out);
   cr_assert (strstr (r.out, "nothing was changed"), "%s", r.out);
   cr_assert_eq (cli_count_lines (r.err, "mongolock:"), 1, "one error line:\n%s", r.err);
   cli_result_destroy (&r);
   /* Nothing built: not the good orders index, not the lock collection's index. */
   assert_indexes (&fx, fx.app_db, "users", "_id_");
   assert_indexes (&fx, fx.app_db, "orders", "_id_");
   assert_indexes (&fx, fx.lock_db, "locks", "");

   migrate (&fx, &r, "--json");
   cli_assert_code (&r, 80);
   bson_error_t error;
   bson_t *doc = bson_new_from_json ((const uint8_t *) r.out, -1, &error);
   cr_assert (doc, "%s\n%s", error.message, r.out);
   bson_iter_t it;
   cr_assert (bson_iter_init (&it, doc) && bson_iter_find_descendant (&it, "results.1.duplicateGroups", &it));
   cr_assert_eq (bson_iter_as_int64 (&it), 2);
   cr_assert (bson_iter_init (&it, doc) && bson_iter_find_descendant (&it, "results.1.duplicateDocuments", &it));
   cr_assert_eq (bson_iter_as_int64 (&it), 4);
   cr_assert (bson_iter_init (&it, doc) && bson_iter_find_descendant (&it, "results.1.sample.1.count", &it));
   cr_assert_eq (bson_iter_as_int64 (&it), 2);
   bson_destroy (doc);
   cli_result_destroy (&r);

   /* Fix the data: the same migration now succeeds. */
   mltest_cmd_ok (fx.client, fx.app_db, "{'delete': 'users', 'deletes': [{'q': {'email': {'$ne': 'b'}}, 'limit': 0}]}",
                  NULL);
   migrate (&fx, &r, NULL);
   cli_assert_code (&r, 0);
   cli_result_destroy (&r);
   assert_indexes (&fx, fx.app_db, "users", "_id_,email_1");
   fx_fini (&fx);
}

Test (cli_migrate, conflicting_index_is_reported_and_nothing_is_built)
{
   fx_t fx;
   char *spec = dq (two_indexes);
   fx_init (&fx, spec);
   bson_free (spec);
   mltest_cmd_ok (fx.client, fx.app_db, "{'createIndexes': 'users', 'indexes': [{'key': {'email': 1}, 'name': 'email_1'}]}",
                  NULL);
   cli_result_t r;
   migrate (&fx, &r, NULL);
   cli_assert_code (&r, 81);
   cr_assert_eq (cli_count_lines (r.out, "conflict"), 1, "%s", r.out);
   cr_assert (strstr (r.out, "unique: false"), "shows the existing index:\n%s", r.out);
   cli_result_destroy (&r);
   assert_indexes (&fx, fx.app_db, "users", "_id_,email_1");
   assert_indexes (&fx, fx.app_db, "orders", "");
   assert_indexes (&fx, fx.lock_db, "locks", "");
   fx_fini (&fx);
}

Test (cli_migrate, dry_run_changes_nothing)
{
   fx_t fx;
   char *spec = dq (two_indexes);
   fx_init (&fx, spec);
   bson_free (spec);
   insert (&fx, "users", "[{'email': 'a'}]");
   cli_result_t r;
   migrate (&fx, &r, "--dry-run");
   cli_assert_code (&r, 0);
   cr_assert_eq (cli_count_lines (r.out, "would create"), 3, "%s", r.out);
   cr_assert (strstr (r.out, "nothing was changed"), "%s", r.out);
   cli_result_destroy (&r);
   assert_indexes (&fx, fx.app_db, "users", "_id_");
   assert_indexes (&fx, fx.app_db, "orders", "");
   assert_indexes (&fx, fx.lock_db, "locks", "");
   /* Not even the lock collection or the orders collection was created. */
   bson_t reply;
   mltest_cmd_ok (fx.client, fx.lock_db, "{'listCollections': 1}", &reply);
   bson_iter_t it;
   cr_assert (bson_iter_init (&it, &reply) && bson_iter_find_descendant (&it, "cursor.firstBatch", &it));
   bson_iter_t batch;
   cr_assert (bson_iter_recurse (&it, &batch));
   cr_assert_not (bson_iter_next (&batch), "dry run created a collection in the lock database");
   bson_destroy (&reply);

   /* After a real run, a dry run says everything exists. */
   migrate (&fx, &r, NULL);
   cli_assert_code (&r, 0);
   cli_result_destroy (&r);
   migrate (&fx, &r, "--dry-run");
   cli_assert_code (&r, 0);
   cr_assert_eq (cli_count_lines (r.out, "exists"), 3, "%s", r.out);
   cr_assert (strstr (r.out, "0 indexes would be created"), "%s", r.out);
   cli_result_destroy (&r);
   fx_fini (&fx);
}

Test (cli_migrate, without_spec_only_the_lock_index_and_database_fallbacks)
{
   fx_t fx;
   fx_init (&fx, "[]");
   cli_result_t r;
   cli_run (&r, ARGS ("--uri", mltest_uri (), "--db", fx.lock_db, "migrate"));
   cli_assert_code (&r, 0);
   cr_assert_eq (cli_count_lines (r.out, "created"), 2, "%s", r.out);
   cli_result_destroy (&r);
   char *lock_ix = cli_index_names (fx.client, fx.lock_db, "locks");
   cr_assert (strstr (lock_ix, "_id_,"), "%s", lock_ix);
   free (lock_ix);
   /* A spec without "database" uses the URI's database, never --db (which names the lock
    * collection's database only): --db locksdb --uri .../shop plans shop.things. */
   char *path = cli_file (fx.dir, "nodb.json");
   cli_write (path, "{\"indexes\": [{\"collection\": \"things\", \"keys\": {\"sku\": 1}}]}");
   char *uri = uri_with_db (fx.app_db);
   cli_run (&r, ARGS ("--uri", uri, "migrate", "--spec", path, "--db", fx.lock_db, "--dry-run", "--json"));
   cli_assert_code (&r, 0);
   bson_error_t error;
   bson_t *plan = bson_new_from_json ((const uint8_t *) r.out, -1, &error);
   cr_assert (plan, "%s\n%s", error.message, r.out);
   bson_iter_t it;
   cr_assert (bson_iter_init (&it, plan) && bson_iter_find_descendant (&it, "results.0.database", &it));
   cr_assert_str_eq (bson_iter_utf8 (&it, NULL), fx.lock_db, "the lock collection is in --db:\n%s", r.out);
   cr_assert (bson_iter_init (&it, plan) && bson_iter_find_descendant (&it, "results.1.database", &it));
   cr_assert_str_eq (bson_iter_utf8 (&it, NULL), fx.app_db, "the spec's collections are in the URI's db:\n%s", r.out);
   bson_destroy (plan);
   cli_result_destroy (&r);
   cli_run (&r, ARGS ("--uri", uri, "migrate", "--spec", path, "--db", fx.lock_db, "--collection", "mylocks"));
   cli_assert_code (&r, 0);
   cli_result_destroy (&r);
   assert_indexes (&fx, fx.app_db, "things", "_id_,sku_1");
   assert_indexes (&fx, fx.lock_db, "things", "");
   lock_ix = cli_index_names (fx.client, fx.lock_db, "mylocks");
   cr_assert (strstr (lock_ix, "_id_,"), "--collection names the lock collection: %s", lock_ix);
   free (lock_ix);
   /* Neither in the spec nor in the URI: refused, whatever --db says. */
   cli_run (&r, ARGS ("--uri", mltest_uri (), "migrate", "--spec", path, "--db", fx.lock_db));
   cli_assert_code (&r, 64);
   cr_assert (strstr (r.err, "no database for the spec's collections"), "%s", r.err);
   cli_result_destroy (&r);
   assert_indexes (&fx, fx.lock_db, "things", "");
   bson_free (uri);
   free (path);
   fx_fini (&fx);
}

/* An index of the application's on the lock collection's expiresAt, without a TTL: the
 * library leaves it alone and says so; migrate reports it as a conflict (81) and builds
 * nothing. (A TTL index there, whatever its name and delay, is reported as existing.) */
Test (cli_migrate, an_index_in_the_way_of_the_lock_ttl_is_a_conflict)
{
   fx_t fx;
   fx_init (&fx, "[]");
   mltest_cmd_ok (fx.client, fx.lock_db,
                  "{'createIndexes': 'locks', 'indexes': [{'key': {'expiresAt': 1}, 'name': 'expiresAt_1'}]}", NULL);
   cli_result_t r;
   cli_run (&r, ARGS ("--uri", mltest_uri (), "--db", fx.lock_db, "migrate"));
   cli_assert_code (&r, 81);
   cr_assert_eq (cli_count_lines (r.out, "conflict"), 1, "%s", r.out);
   cr_assert (strstr (r.out, "dropIndex(\"expiresAt_1\")"), "says what to do:\n%s", r.out);
   cli_result_destroy (&r);
   assert_indexes (&fx, fx.lock_db, "locks", "_id_,expiresAt_1");
   fx_fini (&fx);
}

/* A lock TTL index with another delay (set by an application's cleanup_secs) is kept:
 * migrate has no delay of its own to impose. */
Test (cli_migrate, an_existing_lock_ttl_keeps_its_delay)
{
   fx_t fx;
   fx_init (&fx, "[]");
   mltest_cmd_ok (fx.client, fx.lock_db,
                  "{'createIndexes': 'locks', 'indexes': [{'key': {'expiresAt': 1}, 'name': 'mongolock_expiresAt_ttl', "
                  "'expireAfterSeconds': 7200}]}",
                  NULL);
   cli_result_t r;
   cli_run (&r, ARGS ("--uri", mltest_uri (), "--db", fx.lock_db, "migrate"));
   cli_assert_code (&r, 0);
   cr_assert_eq (cli_count_lines (r.out, "exists"), 1, "%s", r.out);
   cli_result_destroy (&r);
   bson_t reply;
   mltest_cmd_ok (fx.client, fx.lock_db, "{'listIndexes': 'locks', 'cursor': {}}", &reply);
   bson_iter_t it;
   cr_assert (bson_iter_init (&it, &reply) &&
              bson_iter_find_descendant (&it, "cursor.firstBatch.1.expireAfterSeconds", &it));
   cr_assert_eq (bson_iter_as_int64 (&it), 7200, "the delay was kept");
   bson_destroy (&reply);
   fx_fini (&fx);
}
