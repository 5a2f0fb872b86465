/* SPDX-License-Identifier: Apache-2.0 */
/* mongolock migrate: the lock collection's indexes and the spec file's unique indexes.
 * Everything is checked first (duplicates, conflicting indexes) and built only when every
 * check passed, so a failed migration builds nothing. */
#include "migrate.h"
#include "redact-private.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char migrate_help[] =
   "Usage: mongolock migrate [--spec FILE] [--dry-run] [--json] [CONNECTION OPTIONS]\n"
   "Create the lock collection's TTL cleanup index and the unique indexes listed in FILE.\n"
   "Idempotent: indexes that exist are left alone. Every index is checked before any is\n"
   "built; existing duplicates or a conflicting index stop the migration with a report,\n"
   "and nothing is built.\n"
   "\n"
   "  --spec FILE             JSON: {\"database\": \"app\", \"indexes\": [{\"collection\": \"users\",\n"
   "                          \"keys\": {\"email\": 1}, \"partialFilterExpression\": {...},\n"
   "                          \"name\": \"...\"}]}; database defaults to the URI's (mongodb://\n"
   "                          host/DB), never to --db (the lock collection's database)\n"
   "  --dry-run               check and print what would be done; change nothing\n"
   "  --json                  print the results as one JSON document\n"
   "Exit status: 0 done, 80 duplicates, 81 conflicting index, 65 invalid spec, 66 spec\n"
   "file missing, 64 usage, 69 unreachable, 76 server error, 77 authentication, 78 bad URI.\n";


/* Whether the lock collection already has its TTL index on expiresAt. */
static bool
lock_index_exists (cli_conn_t *conn, bool *exists, char **name, bson_error_t *error)
{
   *exists = false;
   mongoc_client_t *c = mongoc_client_pool_pop (conn->pool);
   mongoc_collection_t *coll = mongoc_client_get_collection (
      c, mongolock_client_database_name (conn->client), mongolock_client_collection_name (conn->client));
   mongoc_cursor_t *cursor = mongoc_collection_find_indexes_with_opts (coll, NULL);
   const bson_t *doc;
   while (mongoc_cursor_next (cursor, &doc)) {
      bson_iter_t it, key;
      if (bson_iter_init_find (&it, doc, "expireAfterSeconds") && bson_iter_init_find (&key, doc, "key") &&
          BSON_ITER_HOLDS_DOCUMENT (&key) && bson_iter_recurse (&key, &key) && bson_iter_next (&key) &&
          strcmp (bson_iter_key (&key), "expiresAt") == 0 && !bson_iter_next (&key)) {
         *exists = true;
         if (bson_iter_init_find (&it, doc, "name") && BSON_ITER_HOLDS_UTF8 (&it)) {
            bson_free (*name);
            *name = bson_strdup (bson_iter_utf8 (&it, NULL));
         }
      }
   }
   bool ok = true;
   bson_error_t err;
   /* 26 NamespaceNotFound: no collection yet, so no index. */
   if (mongoc_cursor_error (cursor, &err) && !(err.domain == MONGOC_ERROR_SERVER && err.code == 26)) {
      *error = err;
      ok = false;
   }
   mongoc_cursor_destroy (cursor);
   mongoc_collection_destroy (coll);
   mongoc_client_pool_push (conn->pool, c);
   return ok;
}

static void
run_lock_index (cli_conn_t *conn, bool apply, cli_migrate_result_t *r)
{
   bool exists, again;
   if (!lock_index_exists (conn, &exists, &r->lock_index_name, &r->error)) {
      r->action = "error";
   } else if (!apply || exists) {
      /* An existing TTL index keeps its delay: an application may have chosen another
       * cleanup delay than the tool's default (its ensure_indexes applies it). */
      r->action = exists ? "exists" : "would-create";
   } else if (!mongolock_client_ensure_indexes (conn->client, &r->error)) {
      /* An index in the way that the library will not change (it updates its own TTL). */
      bool conflict = r->error.domain == MONGOLOCK_ERROR_DOMAIN && r->error.code == MONGOLOCK_ERROR_INDEX_CONFLICT;
      r->action = conflict ? "conflict" : "error";
   } else {
      r->action = exists ? "exists" : "created";
      if (!exists) {
         bson_error_t ignored; /* only for the name in the report */
         (void) lock_index_exists (conn, &again, &r->lock_index_name, &ignored);
      }
   }
   if (strcmp (r->action, "conflict") == 0) {
      r->exit_code = CLI_EXIT_CONFLICT;
   } else if (strcmp (r->action, "error") == 0) {
      r->exit_code = cli_exit_code_for (&r->error);
   }
}

static void
run_unique_index (cli_conn_t *conn, bool apply, cli_migrate_result_t *r)
{
   const cli_spec_index_t *ix = r->index;
   bson_t opts = BSON_INITIALIZER;
   if (ix->name) {
      BSON_APPEND_UTF8 (&opts, "name", ix->name);
   }
   if (ix->has_pfe) {
      BSON_APPEND_DOCUMENT (&opts, "partialFilterExpression", &ix->pfe);
   }
   BSON_APPEND_BOOL (&opts, "dryRun", !apply);
   mongoc_client_t *c = mongoc_client_pool_pop (conn->pool);
   mongoc_collection_t *coll = mongoc_client_get_collection (c, r->db, r->collection);
   bson_destroy (&r->report);
   bool ok = mongolock_unique_index_ensure (coll, &ix->keys, &opts, &r->report, &r->error);
   mongoc_collection_destroy (coll);
   mongoc_client_pool_push (conn->pool, c);
   bson_destroy (&opts);
   bson_iter_t it;
   r->action = "error";
   if (bson_iter_init_find (&it, &r->report, "action") && BSON_ITER_HOLDS_UTF8 (&it)) {
      r->action = bson_iter_utf8 (&it, NULL); /* points into r->report */
   }
   if (!ok) {
      r->exit_code = cli_exit_code_for (&r->error);
      if (r->exit_code == CLI_EXIT_USAGE) {
         r->exit_code = CLI_EXIT_SPEC_INVALID; /* the library refused the spec's keys or options */
      }
      if (strcmp (r->action, "duplicates") != 0 && strcmp (r->action, "conflict") != 0) {
         r->action = "error";
      }
   }
}

/* Runs every step (check or apply); stops at the first failure when stop_early. Returns
 * the first failure's exit code. */
static int
run_steps (cli_conn_t *conn, cli_migrate_result_t *res, size_t n, bool apply, bool stop_early)
{
   int rc = CLI_EXIT_OK;
   for (size_t i = 0; i < n; i++) {
      cli_migrate_result_t *r = &res[i];
      r->exit_code = CLI_EXIT_OK;
      memset (&r->error, 0, sizeof r->error);
      if (rc != CLI_EXIT_OK && stop_early) {
         r->action = "skipped";
         continue;
      }
      if (r->index) {
         run_unique_index (conn, apply, r);
      } else {
         run_lock_index (conn, apply, r);
      }
      if (r->exit_code != CLI_EXIT_OK && rc == CLI_EXIT_OK) {
         rc = r->exit_code;
      }
   }
   return rc;
}

static int
count_action (const cli_migrate_result_t *res, size_t n, const char *action)
{
   int k = 0;
   for (size_t i = 0; i < n; i++) {
      k += strcmp (res[i].action, action) == 0;
   }
   return k;
}

static int
parse (int argc, char **argv, cli_common_t *common, const char **spec_path, bool *dry_run, bool *json)
{
   static const struct option longopts[] = {
      CLI_COMMON_LONG_OPTIONS,
      {"spec", required_argument, NULL, 's'},
      {"dry-run", no_argument, NULL, 'n'},
      {"json", no_argument, NULL, 'j'},
      {0},
   };
   bool help = false;
   int opt;
   opterr = 0;
   optind = 0;
   while ((opt = getopt_long (argc, argv, ":hs:n", longopts, NULL)) != -1) {
      switch (opt) {
      case 's':
         *spec_path = optarg;
         break;
      case 'n':
         *dry_run = true;
         break;
      case 'j':
         *json = true;
         break;
      case 'h':
         help = true;
         break;
      default: {
         int rc = cli_other_option ("migrate", common, opt, argv, &help);
         if (rc >= 0) {
            return rc;
         }
      }
      }
   }
   if (help) {
      fputs (migrate_help, stdout);
      fputs (cli_common_help, stdout);
      return -1;
   }
   if (optind < argc) {
      return cli_usage_error ("migrate", "unexpected argument '%s' (the spec file goes with --spec)", argv[optind]);
   }
   return CLI_EXIT_OK;
}

int
cli_cmd_migrate (int argc, char **argv, cli_common_t *common)
{
   const char *spec_path = NULL;
   bool dry_run = false, json = false;
   int rc = parse (argc, argv, common, &spec_path, &dry_run, &json);
   if (rc != CLI_EXIT_OK) {
      return rc < 0 ? CLI_EXIT_OK : rc;
   }
   cli_spec_t spec;
   memset (&spec, 0, sizeof spec);
   if (spec_path && (rc = cli_spec_load (spec_path, &spec)) != CLI_EXIT_OK) {
      return rc;
   }
   cli_conn_t conn;
   /* Index builds and duplicate scans of large collections take a while. */
   if (!cli_connect (common, 10 * 60 * 1000, &conn, &rc)) {
      cli_spec_destroy (&spec);
      return rc;
   }
   /* --db is the lock collection's database only: the application's collections live in
    * the spec's database, else the URI's (the one the application itself connects to). */
   const char *db = spec.database ? spec.database : mongoc_uri_get_database (conn.uri);
   if (spec.n > 0 && !db) {
      rc = cli_usage_error ("migrate",
                            "no database for the spec's collections: set \"database\" in %s or put one in the URI "
                            "(mongodb://host/DB); --db names the lock collection's database only",
                            spec_path);
      goto done;
   }
   if ((rc = cli_ping (&conn)) != CLI_EXIT_OK) {
      goto done;
   }
   size_t n = spec.n + 1;
   cli_migrate_result_t *res = bson_malloc0 (n * sizeof *res);
   res[0].db = mongolock_client_database_name (conn.client);
   res[0].collection = mongolock_client_collection_name (conn.client);
   for (size_t i = 0; i < spec.n; i++) {
      res[i + 1].db = db;
      res[i + 1].collection = spec.indexes[i].collection;
      res[i + 1].index = &spec.indexes[i];
   }
   for (size_t i = 0; i < n; i++) {
      bson_init (&res[i].report);
   }
   /* Check everything first; build only when every check passed. */
   rc = run_steps (&conn, res, n, false, false);
   bool changed = false;
   if (rc == CLI_EXIT_OK && !dry_run) {
      rc = run_steps (&conn, res, n, true, true);
      changed = count_action (res, n, "created") > 0;
   }
   /* Errors go to stdout too: no URI credentials in them either. */
   for (size_t i = 0; i < n; i++) {
      _mongolock_redact_error (cli_secret_uri, &res[i].error);
   }
   if (json) {
      cli_migrate_print_json (res, n, dry_run, rc == CLI_EXIT_OK, changed);
   } else {
      cli_migrate_print_text (res, n, rc != CLI_EXIT_OK);
      int created = count_action (res, n, "created"), exists = count_action (res, n, "exists");
      int would = count_action (res, n, "would-create");
      if (rc != CLI_EXIT_OK) {
         printf ("migration stopped: %s\n",
                 changed ? "the indexes marked created were built; the rest were not" : "nothing was changed");
      } else if (dry_run) {
         printf ("dry run: %d index%s would be created, %d already exist%s; nothing was changed\n",
                 would,
                 would == 1 ? "" : "es",
                 exists,
                 exists == 1 ? "s" : "");
      } else if (created == 0) {
         printf ("nothing to do: all %d indexes already exist\n", exists);
      } else {
         printf ("created %d index%s, %d already existed\n", created, created == 1 ? "" : "es", exists);
      }
   }
   if (rc != CLI_EXIT_OK) {
      for (size_t i = 0; i < n; i++) {
         if (res[i].exit_code != CLI_EXIT_OK) {
            cli_error ("migrate: %s.%s: %s", res[i].db, res[i].collection, res[i].error.message);
            break;
         }
      }
   }
   for (size_t i = 0; i < n; i++) {
      bson_destroy (&res[i].report);
      bson_free (res[i].lock_index_name);
   }
   bson_free (res);
done:
   cli_disconnect (&conn);
   cli_spec_destroy (&spec);
   return rc;
}
