/* SPDX-License-Identifier: Apache-2.0 */
/* Live: mongolock_unique_index_ensure on clean data, on duplicates (counts and sample,
 * nothing built), on conflicting indexes (nothing changed), dry run, idempotence and
 * partial filters. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "guard-test.h"

TestSuite (unique_index, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 120);

typedef struct {
   mongoc_client_t *mc;
   mongoc_collection_t *coll;
   char *db;
} env_t;

static void
env_init (env_t *e)
{
   e->db = mltest_db_name ("uidx");
   e->coll = gt_collection (e->db, "accounts", &e->mc);
}

static void
env_fini (env_t *e)
{
   mltest_drop_db (e->mc, e->db);
   mongoc_collection_destroy (e->coll);
   mongoc_client_destroy (e->mc);
   bson_free (e->db);
}

static void
insert (env_t *e, const char *docs_json)
{
   char *cmd = bson_strdup_printf ("{'insert': 'accounts', 'documents': %s}", docs_json);
   mltest_cmd_ok (e->mc, e->db, cmd, NULL);
   bson_free (cmd);
}

static bool
ensure (env_t *e, const char *keys_json, const char *opts_json, bson_t *report, bson_error_t *error)
{
   bson_t *keys = mltest_bson (keys_json);
   bson_t *opts = opts_json ? mltest_bson (opts_json) : NULL;
   bool ok = mongolock_unique_index_ensure (e->coll, keys, opts, report, error);
   if (report && getenv ("GT_VERBOSE")) {
      char *j = bson_as_relaxed_extended_json (report, NULL);
      fprintf (stderr, "ensure %s %s -> %d %s (%s)\n", keys_json, opts_json ? opts_json : "", ok, j,
               ok ? "" : error->message);
      bson_free (j);
   }
   bson_destroy (keys);
   if (opts) {
      bson_destroy (opts);
   }
   return ok;
}

static const char *
rstr (const bson_t *report, const char *path)
{
   bson_iter_t it, f;
   bson_iter_init (&it, report);
   return bson_iter_find_descendant (&it, path, &f) && BSON_ITER_HOLDS_UTF8 (&f) ? bson_iter_utf8 (&f, NULL) : NULL;
}

static int64_t
rnum (const bson_t *report, const char *path)
{
   bson_iter_t it, f;
   bson_iter_init (&it, report);
   return bson_iter_find_descendant (&it, path, &f) && BSON_ITER_HOLDS_NUMBER (&f) ? bson_iter_as_int64 (&f) : -1;
}

static bool
rhas (const bson_t *report, const char *path)
{
   bson_iter_t it, f;
   bson_iter_init (&it, report);
   return bson_iter_find_descendant (&it, path, &f);
}

/* The indexes of the collection as "name:unique:key-json;..." in listIndexes order. */
static char *
indexes (env_t *e)
{
   mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts (e->coll, NULL);
   const bson_t *doc;
   bson_string_t *s = bson_string_new ("");
   while (mongoc_cursor_next (cur, &doc)) {
      bson_iter_t it;
      const char *name = bson_iter_init_find (&it, doc, "name") ? bson_iter_utf8 (&it, NULL) : "?";
      bool unique = bson_iter_init_find (&it, doc, "unique") && bson_iter_as_bool (&it);
      bson_string_append_printf (s, "%s:%d;", name, unique);
   }
   bson_error_t error;
   cr_assert_not (mongoc_cursor_error (cur, &error), "listIndexes: %s", error.message);
   mongoc_cursor_destroy (cur);
   return bson_string_free (s, false);
}

static void
expect_indexes (env_t *e, const char *expected)
{
   char *got = indexes (e);
   cr_assert_str_eq (got, expected);
   bson_free (got);
}

Test (unique_index, clean_data_is_indexed_and_then_enforced)
{
   env_t e;
   env_init (&e);
   insert (&e, "[{'tenant': 1, 'email': 'a'}, {'tenant': 2, 'email': 'a'}, {'tenant': 1, 'email': 'b'}]");
   bson_t report;
   bson_error_t error;
   cr_assert (ensure (&e, "{'tenant': 1, 'email': 1}", NULL, &report, &error), "%s", error.message);
   cr_assert_str_eq (rstr (&report, "action"), "created");
   cr_assert_str_eq (rstr (&report, "name"), "tenant_1_email_1");
   cr_assert_eq (rnum (&report, "duplicateGroups"), 0);
   cr_assert_eq (rnum (&report, "duplicateDocuments"), 0);
   cr_assert_not (rhas (&report, "sample"));
   cr_assert_not (rhas (&report, "conflict"));
   bson_destroy (&report);
   expect_indexes (&e, "_id_:0;tenant_1_email_1:1;");
   mltest_cmd_fails (e.mc, e.db, "{'insert': 'accounts', 'documents': [{'tenant': 1, 'email': 'a'}]}", 11000);

   /* Idempotent: again, and with the key given as doubles. */
   cr_assert (ensure (&e, "{'tenant': 1, 'email': 1}", NULL, &report, &error), "%s", error.message);
   cr_assert_str_eq (rstr (&report, "action"), "exists");
   bson_destroy (&report);
   cr_assert (ensure (&e, "{'tenant': 1.0, 'email': 1.0}", NULL, &report, &error), "%s", error.message);
   cr_assert_str_eq (rstr (&report, "action"), "exists");
   bson_destroy (&report);
   cr_assert (ensure (&e, "{'tenant': 1, 'email': 1}", NULL, NULL, &error), "report is optional");
   expect_indexes (&e, "_id_:0;tenant_1_email_1:1;");
   env_fini (&e);
}

Test (unique_index, a_missing_collection_is_created_with_the_index)
{
   env_t e;
   env_init (&e);
   bson_t report;
   bson_error_t error;
   cr_assert (ensure (&e, "{'email': -1}", "{'dryRun': true}", &report, &error), "%s", error.message);
   cr_assert_str_eq (rstr (&report, "action"), "would-create");
   cr_assert_str_eq (rstr (&report, "name"), "email_-1");
   bson_destroy (&report);
   cr_assert (ensure (&e, "{'email': -1}", "{'name': 'uniq_email'}", &report, &error), "%s", error.message);
   cr_assert_str_eq (rstr (&report, "action"), "created");
   cr_assert_str_eq (rstr (&report, "name"), "uniq_email");
   bson_destroy (&report);
   expect_indexes (&e, "_id_:0;uniq_email:1;");
   env_fini (&e);
}

Test (unique_index, duplicates_are_reported_and_nothing_is_built)
{
   env_t e;
   env_init (&e);
   /* groups: (1,a) x3, (1,b) x2, (2,missing->null) x2 (a unique index counts missing as
    * null), (1,c) x1, (2,a) x1 */
   insert (&e,
           "[{'tenant': 1, 'email': 'a'}, {'tenant': 1, 'email': 'a'}, {'tenant': 1, 'email': 'a'},"
           " {'tenant': 1, 'email': 'b'}, {'tenant': 1, 'email': 'b'}, {'tenant': 2}, {'tenant': 2, 'email': null},"
           " {'tenant': 1, 'email': 'c'}, {'tenant': 2, 'email': 'a'}]");
   bson_t report;
   bson_error_t error;
   for (int dry = 0; dry < 2; dry++) {
      cr_assert_not (ensure (&e, "{'tenant': 1, 'email': 1}", dry ? "{'dryRun': true}" : NULL, &report, &error));
      cr_assert_eq (error.domain, MONGOLOCK_ERROR_DOMAIN);
      cr_assert_eq (error.code, MONGOLOCK_ERROR_DUPLICATES, "%s", error.message);
      cr_assert_str_eq (rstr (&report, "action"), "duplicates");
      cr_assert_eq (rnum (&report, "duplicateGroups"), 3);
      cr_assert_eq (rnum (&report, "duplicateDocuments"), 7);
      /* largest group first */
      cr_assert_eq (rnum (&report, "sample.0.count"), 3);
      cr_assert_eq (rnum (&report, "sample.0.key.tenant"), 1);
      cr_assert_str_eq (rstr (&report, "sample.0.key.email"), "a");
      cr_assert_eq (rnum (&report, "sample.1.count"), 2);
      cr_assert_eq (rnum (&report, "sample.2.count"), 2);
      cr_assert_not (rhas (&report, "sample.3"));
      bson_destroy (&report);
   }
   expect_indexes (&e, "_id_:0;");
   env_fini (&e);
}

Test (unique_index, the_sample_holds_at_most_ten_groups)
{
   env_t e;
   env_init (&e);
   bson_string_t *docs = bson_string_new ("[");
   for (int i = 0; i < 25; i++) {
      bson_string_append_printf (docs, "%s{'email': 'u%d'}, {'email': 'u%d'}", i ? ", " : "", i, i);
   }
   bson_string_append (docs, ", {'email': 'x'}, {'email': 'x'}, {'email': 'x'}]");
   insert (&e, docs->str);
   bson_string_free (docs, true);
   bson_t report;
   bson_error_t error;
   cr_assert_not (ensure (&e, "{'email': 1}", NULL, &report, &error));
   cr_assert_eq (rnum (&report, "duplicateGroups"), 26);
   cr_assert_eq (rnum (&report, "duplicateDocuments"), 53);
   cr_assert_str_eq (rstr (&report, "sample.0.key.email"), "x");
   cr_assert (rhas (&report, "sample.9"));
   cr_assert_not (rhas (&report, "sample.10"));
   bson_destroy (&report);
   env_fini (&e);
}

Test (unique_index, a_conflicting_index_is_reported_and_nothing_changes)
{
   env_t e;
   env_init (&e);
   insert (&e, "[{'email': 'a'}]");
   bson_t report;
   bson_error_t error;

   /* same name, not unique */
   mltest_cmd_ok (e.mc, e.db, "{'createIndexes': 'accounts', 'indexes': [{'key': {'email': 1}, 'name': 'email_1'}]}",
                  NULL);
   cr_assert_not (ensure (&e, "{'email': 1}", NULL, &report, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INDEX_CONFLICT, "%s", error.message);
   cr_assert_str_eq (rstr (&report, "action"), "conflict");
   cr_assert_str_eq (rstr (&report, "name"), "email_1");
   cr_assert_str_eq (rstr (&report, "conflict.name"), "email_1");
   cr_assert_eq (rnum (&report, "conflict.key.email"), 1);
   cr_assert (rhas (&report, "conflict.unique"));
   cr_assert_not (rhas (&report, "conflict.partialFilterExpression"));
   bson_destroy (&report);
   cr_assert_not (ensure (&e, "{'email': 1}", "{'dryRun': true}", &report, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INDEX_CONFLICT);
   bson_destroy (&report);

   /* the same key under another name, with other options */
   cr_assert_not (ensure (&e, "{'email': 1}", "{'name': 'other'}", &report, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INDEX_CONFLICT, "%s", error.message);
   cr_assert_str_eq (rstr (&report, "conflict.name"), "email_1");
   bson_destroy (&report);

   /* our name on another key */
   cr_assert_not (ensure (&e, "{'phone': 1}", "{'name': 'email_1'}", &report, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INDEX_CONFLICT);
   cr_assert_eq (rnum (&report, "conflict.key.email"), 1);
   bson_destroy (&report);
   expect_indexes (&e, "_id_:0;email_1:0;");
   env_fini (&e);
}

Test (unique_index, an_equivalent_index_under_another_name_counts_as_existing)
{
   env_t e;
   env_init (&e);
   mltest_cmd_ok (e.mc, e.db,
                  "{'createIndexes': 'accounts', 'indexes': [{'key': {'email': 1}, 'name': 'legacy', 'unique': true}]}",
                  NULL);
   bson_t report;
   bson_error_t error;
   cr_assert (ensure (&e, "{'email': 1}", NULL, &report, &error), "%s", error.message);
   cr_assert_str_eq (rstr (&report, "action"), "exists");
   cr_assert_str_eq (rstr (&report, "name"), "legacy");
   bson_destroy (&report);
   expect_indexes (&e, "_id_:0;legacy:1;");
   env_fini (&e);
}

Test (unique_index, partial_filter)
{
   env_t e;
   env_init (&e);
   /* duplicates only among inactive documents, outside the filter */
   insert (&e, "[{'email': 'a', 'active': false}, {'email': 'a', 'active': false}, {'email': 'a', 'active': true}]");
   bson_t report;
   bson_error_t error;
   const char *pfe = "{'partialFilterExpression': {'active': {'$eq': true}}}";
   cr_assert (ensure (&e, "{'email': 1}", pfe, &report, &error), "%s", error.message);
   cr_assert_str_eq (rstr (&report, "action"), "created");
   bson_destroy (&report);
   mltest_cmd_ok (e.mc, e.db, "{'insert': 'accounts', 'documents': [{'email': 'a', 'active': false}]}", NULL);
   mltest_cmd_fails (e.mc, e.db, "{'insert': 'accounts', 'documents': [{'email': 'a', 'active': true}]}", 11000);
   cr_assert (ensure (&e, "{'email': 1}", pfe, &report, &error), "%s", error.message);
   cr_assert_str_eq (rstr (&report, "action"), "exists");
   bson_destroy (&report);
   /* the same key without the filter, or with another one, is a different index */
   cr_assert_not (ensure (&e, "{'email': 1}", NULL, &report, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INDEX_CONFLICT);
   cr_assert (rhas (&report, "conflict.partialFilterExpression.active"));
   bson_destroy (&report);
   cr_assert_not (ensure (&e, "{'email': 1}", "{'partialFilterExpression': {'active': {'$eq': false}}}", &report,
                          &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INDEX_CONFLICT);
   bson_destroy (&report);
   expect_indexes (&e, "_id_:0;email_1:1;");
   env_fini (&e);
}

Test (unique_index, partial_filter_duplicates_inside_the_filter_are_found)
{
   env_t e;
   env_init (&e);
   insert (&e, "[{'email': 'a', 'active': true}, {'email': 'a', 'active': true}, {'email': 'b', 'active': false},"
               " {'email': 'b', 'active': false}]");
   bson_t report;
   bson_error_t error;
   cr_assert_not (ensure (&e, "{'email': 1}", "{'partialFilterExpression': {'active': {'$eq': true}}}", &report, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_DUPLICATES);
   cr_assert_eq (rnum (&report, "duplicateGroups"), 1, "only the group inside the filter");
   cr_assert_str_eq (rstr (&report, "sample.0.key.email"), "a");
   bson_destroy (&report);
   expect_indexes (&e, "_id_:0;");
   env_fini (&e);
}

Test (unique_index, array_duplicates_the_scan_cannot_see_still_fail_clearly)
{
   /* A unique index is multikey: [1, 2] and [2, 3] share 2. The $group scan sees two
    * different arrays; the build's 11000 is still reported as DUPLICATES. */
   env_t e;
   env_init (&e);
   insert (&e, "[{'tags': ['x', 'y']}, {'tags': ['y', 'z']}]");
   bson_t report;
   bson_error_t error;
   cr_assert_not (ensure (&e, "{'tags': 1}", NULL, &report, &error));
   cr_assert_eq (error.domain, MONGOLOCK_ERROR_DOMAIN);
   cr_assert_eq (error.code, MONGOLOCK_ERROR_DUPLICATES, "%u/%u %s", error.domain, error.code, error.message);
   cr_assert_str_eq (rstr (&report, "action"), "duplicates");
   bson_destroy (&report);
   expect_indexes (&e, "_id_:0;");
   env_fini (&e);
}

Test (unique_index, bad_arguments)
{
   env_t e;
   env_init (&e);
   bson_t report;
   bson_error_t error;
   const char *bad[][2] = {
      {"{}", NULL},
      {"{'a': 'text'}", NULL},
      {"{'a': 2}", NULL},
      {"{'$a': 1}", NULL},
      {"{'a': 1}", "{'unknown': 1}"},
      {"{'a': 1}", "{'name': 5}"},
      {"{'a': 1}", "{'name': ''}"},
      {"{'a': 1}", "{'dryRun': 1}"},
      {"{'a': 1}", "{'partialFilterExpression': 'x'}"},
   };
   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      cr_assert_not (ensure (&e, bad[i][0], bad[i][1], &report, &error), "%s %s", bad[i][0], bad[i][1]);
      cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s: %s", bad[i][0], error.message);
      cr_assert (bson_empty (&report), "the report is initialised, and empty for invalid arguments");
      bson_destroy (&report);
   }
   bson_t *keys = mltest_bson ("{'a': 1}");
   cr_assert_not (mongolock_unique_index_ensure (NULL, keys, NULL, &report, &error));
   bson_destroy (&report);
   cr_assert_not (mongolock_unique_index_ensure (e.coll, NULL, NULL, NULL, &error));
   bson_destroy (keys);
   env_fini (&e);
}

/* The server's own refusals (85/86, 11000) when another writer changes the collection
 * between our checks and the build: an APM hook runs the other writer's command just
 * before our createIndexes is sent. */
typedef struct {
   const char *db;
   const char *command_json;
   int fired;
} interloper_t;

static void
on_started (const mongoc_apm_command_started_t *event)
{
   interloper_t *in = mongoc_apm_command_started_get_context (event);
   if (in->fired || strcmp (mongoc_apm_command_started_get_command_name (event), "createIndexes") != 0) {
      return;
   }
   in->fired++;
   mongoc_client_t *other = mltest_client ();
   mltest_cmd_ok (other, in->db, in->command_json, NULL);
   mongoc_client_destroy (other);
}

static void
race_build (const char *setup_json, const char *interloper_json, const char *keys, const char *opts,
            uint32_t expected_code, const char *expected_indexes)
{
   env_t e;
   env_init (&e);
   if (setup_json) {
      mltest_cmd_ok (e.mc, e.db, setup_json, NULL);
   }
   interloper_t in = {e.db, interloper_json, 0};
   mongoc_apm_callbacks_t *cbs = mongoc_apm_callbacks_new ();
   mongoc_apm_set_command_started_cb (cbs, on_started);
   mongoc_client_set_apm_callbacks (e.mc, cbs, &in);
   mongoc_apm_callbacks_destroy (cbs);
   bson_t report;
   bson_error_t error;
   cr_assert_not (ensure (&e, keys, opts, &report, &error));
   cr_assert_eq (in.fired, 1);
   cr_assert_eq (error.domain, MONGOLOCK_ERROR_DOMAIN, "%u/%u %s", error.domain, error.code, error.message);
   cr_assert_eq (error.code, expected_code, "%s", error.message);
   if (expected_code == MONGOLOCK_ERROR_INDEX_CONFLICT) {
      cr_assert_str_eq (rstr (&report, "action"), "conflict");
      cr_assert_str_eq (rstr (&report, "conflict.name"), "email_1", "the report names the index found afterwards");
   } else {
      cr_assert_str_eq (rstr (&report, "action"), "duplicates");
   }
   bson_destroy (&report);
   mongoc_client_set_apm_callbacks (e.mc, NULL, NULL);
   expect_indexes (&e, expected_indexes);
   env_fini (&e);
}

Test (unique_index, server_code_85_same_name_other_options)
{
   race_build (NULL, "{'createIndexes': 'accounts', 'indexes': [{'key': {'email': 1}, 'name': 'email_1'}]}",
               "{'email': 1}", NULL, MONGOLOCK_ERROR_INDEX_CONFLICT, "_id_:0;email_1:0;");
}

Test (unique_index, server_code_86_same_name_other_key)
{
   race_build (NULL, "{'createIndexes': 'accounts', 'indexes': [{'key': {'email': 1}, 'name': 'email_1'}]}",
               "{'phone': 1}", "{'name': 'email_1'}", MONGOLOCK_ERROR_INDEX_CONFLICT, "_id_:0;email_1:0;");
}

Test (unique_index, a_duplicate_inserted_during_the_build)
{
   race_build ("{'insert': 'accounts', 'documents': [{'email': 'a'}]}",
               "{'insert': 'accounts', 'documents': [{'email': 'a'}]}", "{'email': 1}", NULL,
               MONGOLOCK_ERROR_DUPLICATES, "_id_:0;");
}
