/* SPDX-License-Identifier: Apache-2.0 */
/* Printing the results of `mongolock migrate`: a table or one JSON document. */
#include "migrate.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *
report_name (const cli_migrate_result_t *r)
{
   bson_iter_t it;
   if (!r->index) {
      return r->lock_index_name ? r->lock_index_name : "(TTL index)";
   }
   if (bson_iter_init_find (&it, &r->report, "name") && BSON_ITER_HOLDS_UTF8 (&it) && *bson_iter_utf8 (&it, NULL)) {
      return bson_iter_utf8 (&it, NULL);
   }
   return r->index->name ? r->index->name : "?";
}

/* One line for a duplicates report: counts and up to three sample keys. */
static void
print_duplicates (const cli_migrate_result_t *r)
{
   bson_iter_t it, sample;
   int64_t groups = 0, docs = 0;
   if (bson_iter_init_find (&it, &r->report, "duplicateGroups")) {
      groups = bson_iter_as_int64 (&it);
   }
   if (bson_iter_init_find (&it, &r->report, "duplicateDocuments")) {
      docs = bson_iter_as_int64 (&it);
   }
   printf (": %" PRId64 " key value%s shared by %" PRId64 " documents", groups, groups == 1 ? "" : "s", docs);
   if (bson_iter_init_find (&it, &r->report, "sample") && BSON_ITER_HOLDS_ARRAY (&it) &&
       bson_iter_recurse (&it, &sample)) {
      int shown = 0;
      while (bson_iter_next (&sample) && shown < 3) {
         bson_iter_t f;
         uint32_t len;
         const uint8_t *data;
         bson_t key;
         if (!BSON_ITER_HOLDS_DOCUMENT (&sample) || !bson_iter_recurse (&sample, &f) ||
             !bson_iter_find (&f, "key") || !BSON_ITER_HOLDS_DOCUMENT (&f)) {
            continue;
         }
         bson_iter_document (&f, &len, &data);
         bson_init_static (&key, data, len);
         char *json = bson_as_relaxed_extended_json (&key, NULL);
         bson_iter_t cnt;
         int64_t count = 0;
         if (bson_iter_recurse (&sample, &cnt) && bson_iter_find (&cnt, "count")) {
            count = bson_iter_as_int64 (&cnt);
         }
         printf ("%s %s x%" PRId64, shown ? "," : "; e.g.", json, count);
         bson_free (json);
         shown++;
      }
   }
}

/* The existing index behind a conflict: " (existing: {key}, unique: b)". */
static void
print_conflict (const cli_migrate_result_t *r)
{
   bson_iter_t it, f;
   if (!bson_iter_init_find (&it, &r->report, "conflict") || !BSON_ITER_HOLDS_DOCUMENT (&it)) {
      return;
   }
   bool unique = bson_iter_recurse (&it, &f) && bson_iter_find (&f, "unique") && bson_iter_as_bool (&f);
   char *key = NULL;
   if (bson_iter_recurse (&it, &f) && bson_iter_find (&f, "key") && BSON_ITER_HOLDS_DOCUMENT (&f)) {
      uint32_t len;
      const uint8_t *data;
      bson_t doc;
      bson_iter_document (&f, &len, &data);
      bson_init_static (&doc, data, len);
      key = bson_as_relaxed_extended_json (&doc, NULL);
   }
   printf (" (existing: %s, unique: %s)", key ? key : "?", unique ? "true" : "false");
   bson_free (key);
}

void
cli_migrate_print_text (const cli_migrate_result_t *res, size_t n, bool stopped)
{
   for (size_t i = 0; i < n; i++) {
      const cli_migrate_result_t *r = &res[i];
      const char *action = r->action;
      if (strcmp (action, "would-create") == 0) {
         action = stopped ? "not built" : "would create";
      }
      char *keys = r->index ? bson_as_relaxed_extended_json (&r->index->keys, NULL) : NULL;
      printf ("%-12s  %s.%s  %s %s%s",
              action,
              r->db,
              r->collection,
              report_name (r),
              keys ? keys : "{ \"expiresAt\" : 1 }",
              keys ? "" : " (TTL, lock cleanup)");
      bson_free (keys);
      if (strcmp (r->action, "duplicates") == 0) {
         print_duplicates (r);
      } else if (strcmp (r->action, "conflict") == 0) {
         printf (": %s", r->error.message);
         print_conflict (r);
      } else if (strcmp (r->action, "error") == 0) {
         printf (": %s", r->error.message);
      }
      putchar ('\n');
   }
}

void
cli_migrate_print_json (const cli_migrate_result_t *res, size_t n, bool dry_run, bool ok, bool changed)
{
   bson_t out = BSON_INITIALIZER, arr, item;
   BSON_APPEND_BOOL (&out, "ok", ok);
   BSON_APPEND_BOOL (&out, "dryRun", dry_run);
   BSON_APPEND_BOOL (&out, "changed", changed);
   BSON_APPEND_ARRAY_BEGIN (&out, "results", &arr);
   for (size_t i = 0; i < n; i++) {
      const cli_migrate_result_t *r = &res[i];
      char idx[24];
      snprintf (idx, sizeof idx, "%zu", i);
      BSON_APPEND_DOCUMENT_BEGIN (&arr, idx, &item);
      BSON_APPEND_UTF8 (&item, "database", r->db);
      BSON_APPEND_UTF8 (&item, "collection", r->collection);
      BSON_APPEND_UTF8 (&item, "kind", r->index ? "unique" : "lock-ttl");
      if (r->index) {
         BSON_APPEND_DOCUMENT (&item, "keys", &r->index->keys);
         BSON_APPEND_UTF8 (&item, "name", report_name (r));
      } else {
         BCON_APPEND (&item, "keys", "{", "expiresAt", BCON_INT32 (1), "}");
         if (r->lock_index_name) {
            BSON_APPEND_UTF8 (&item, "name", r->lock_index_name);
         } else {
            BSON_APPEND_NULL (&item, "name");
         }
      }
      BSON_APPEND_UTF8 (&item, "action", r->action);
      bson_iter_t it;
      bson_iter_init (&it, &r->report);
      while (bson_iter_next (&it)) {
         const char *k = bson_iter_key (&it);
         if (strcmp (k, "name") != 0 && strcmp (k, "action") != 0) {
            bson_append_iter (&item, k, -1, &it);
         }
      }
      if (r->exit_code != CLI_EXIT_OK) {
         BSON_APPEND_UTF8 (&item, "error", r->error.message);
      }
      bson_append_document_end (&arr, &item);
   }
   bson_append_array_end (&out, &arr);
   cli_print_json (&out);
   bson_destroy (&out);
}
