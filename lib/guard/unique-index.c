/* SPDX-License-Identifier: Apache-2.0 */
/* mongolock_unique_index_ensure: the unique index that is the correctness floor. */
#include "guard-private.h"

#include <string.h>

#define SAMPLE_MAX 10
#define INDEX_OPTIONS_CONFLICT 85
#define INDEX_KEY_SPECS_CONFLICT 86
#define DUPLICATE_KEY 11000
#define NAMESPACE_NOT_FOUND 26

typedef struct {
   bson_t keys;   /* normalised: {field: int32 1 | -1} */
   const char *name_opt;
   char *name;
   const bson_t *pfe; /* borrowed from pfe_storage, NULL when none */
   bson_t pfe_storage;
   bool dry_run;
   int nkeys;
} spec_t;

typedef struct {
   const char *action;
   char *name; /* the index's name as reported */
   int64_t groups;
   int64_t documents;
   bson_t sample;    /* array */
   bson_t conflict;  /* document; empty when none */
   bool has_conflict;
} result_t;

static bool
parse_keys (const bson_t *keys, spec_t *spec, bson_error_t *error)
{
   bson_iter_t it;
   if (!keys || !bson_iter_init (&it, keys)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "index keys are %s", keys ? "corrupt" : "NULL");
      return false;
   }
   while (bson_iter_next (&it)) {
      const char *k = bson_iter_key (&it);
      double v = BSON_ITER_HOLDS_NUMBER (&it) ? bson_iter_as_double (&it) : 0;
      if (!k[0] || k[0] == '$' || (v != 1 && v != -1)) {
         _mongolock_set_error (error,
                               MONGOLOCK_ERROR_INVALID_ARGUMENT,
                               "index key \"%s\" must be a field name with the value 1 or -1",
                               k);
         return false;
      }
      if (bson_has_field (&spec->keys, k)) {
         _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "index key \"%s\" appears twice", k);
         return false;
      }
      BSON_APPEND_INT32 (&spec->keys, k, v > 0 ? 1 : -1);
      spec->nkeys++;
   }
   if (spec->nkeys == 0) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "index keys are empty");
      return false;
   }
   return true;
}

static bool
parse_opts (const bson_t *opts, spec_t *spec, bson_error_t *error)
{
   bson_iter_t it;
   if (!opts) {
      return true;
   }
   if (!bson_iter_init (&it, opts)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "opts is corrupt BSON");
      return false;
   }
   while (bson_iter_next (&it)) {
      const char *k = bson_iter_key (&it);
      if (strcmp (k, "name") == 0 && BSON_ITER_HOLDS_UTF8 (&it) && *bson_iter_utf8 (&it, NULL)) {
         spec->name_opt = bson_iter_utf8 (&it, NULL);
      } else if (strcmp (k, "partialFilterExpression") == 0 && BSON_ITER_HOLDS_DOCUMENT (&it)) {
         uint32_t len;
         const uint8_t *data;
         bson_iter_document (&it, &len, &data);
         bson_destroy (&spec->pfe_storage);
         BSON_ASSERT (bson_init_static (&spec->pfe_storage, data, len));
         spec->pfe = &spec->pfe_storage;
      } else if (strcmp (k, "dryRun") == 0 && BSON_ITER_HOLDS_BOOL (&it)) {
         spec->dry_run = bson_iter_bool (&it);
      } else {
         _mongolock_set_error (error,
                               MONGOLOCK_ERROR_INVALID_ARGUMENT,
                               "option \"%s\" is unknown or has the wrong type (name: non-empty string, "
                               "partialFilterExpression: document, dryRun: bool)",
                               k);
         return false;
      }
   }
   return true;
}

/* Same fields in the same order with the same directions (compared numerically). */
static bool
keys_equal (const bson_t *a, const bson_t *b)
{
   bson_iter_t x, y;
   if (!bson_iter_init (&x, a) || !bson_iter_init (&y, b)) {
      return false;
   }
   for (;;) {
      bool nx = bson_iter_next (&x), ny = bson_iter_next (&y);
      if (!nx || !ny) {
         return nx == ny;
      }
      if (strcmp (bson_iter_key (&x), bson_iter_key (&y)) != 0 || !BSON_ITER_HOLDS_NUMBER (&x) ||
          !BSON_ITER_HOLDS_NUMBER (&y) || bson_iter_as_double (&x) != bson_iter_as_double (&y)) {
         return false;
      }
   }
}

typedef struct {
   const char *name;
   bson_t key;
   bool unique;
   bool other_options; /* sparse or collation */
   bool has_pfe;
   bson_t pfe;
} index_info_t;

static void
read_index (const bson_t *doc, index_info_t *info)
{
   bson_iter_t it;
   memset (info, 0, sizeof *info);
   bson_init (&info->key);
   bson_init (&info->pfe);
   if (!bson_iter_init (&it, doc)) {
      return;
   }
   while (bson_iter_next (&it)) {
      const char *k = bson_iter_key (&it);
      uint32_t len;
      const uint8_t *data;
      if (strcmp (k, "name") == 0 && BSON_ITER_HOLDS_UTF8 (&it)) {
         info->name = bson_iter_utf8 (&it, NULL);
      } else if (strcmp (k, "key") == 0 && BSON_ITER_HOLDS_DOCUMENT (&it)) {
         bson_iter_document (&it, &len, &data);
         BSON_ASSERT (bson_init_static (&info->key, data, len));
      } else if (strcmp (k, "unique") == 0) {
         info->unique = bson_iter_as_bool (&it);
      } else if ((strcmp (k, "sparse") == 0 && bson_iter_as_bool (&it)) || strcmp (k, "collation") == 0) {
         info->other_options = true;
      } else if (strcmp (k, "partialFilterExpression") == 0 && BSON_ITER_HOLDS_DOCUMENT (&it)) {
         bson_iter_document (&it, &len, &data);
         BSON_ASSERT (bson_init_static (&info->pfe, data, len));
         info->has_pfe = true;
      }
   }
}

static void
describe_conflict (const index_info_t *info, result_t *res)
{
   bson_reinit (&res->conflict);
   BSON_APPEND_UTF8 (&res->conflict, "name", info->name ? info->name : "");
   BSON_APPEND_DOCUMENT (&res->conflict, "key", &info->key);
   BSON_APPEND_BOOL (&res->conflict, "unique", info->unique);
   if (info->has_pfe) {
      BSON_APPEND_DOCUMENT (&res->conflict, "partialFilterExpression", &info->pfe);
   }
   res->has_conflict = true;
}

/*
 * Looks for an index with our name or key. *state: 0 none, 1 an equivalent one exists
 * (res->name set to its name), 2 a conflicting one (res->conflict set). An index with our
 * name decides alone; otherwise an equivalent index on our key wins over a different one.
 */
static bool
find_existing (mongoc_collection_t *coll, const spec_t *spec, result_t *res, int *state, bson_error_t *error)
{
   *state = 0;
   mongoc_cursor_t *cursor = mongoc_collection_find_indexes_with_opts (coll, NULL);
   const bson_t *doc;
   int by_key = 0;
   bool have_other = false;
   while (mongoc_cursor_next (cursor, &doc)) {
      index_info_t info;
      read_index (doc, &info);
      if (!info.name) {
         continue;
      }
      bool same_name = strcmp (info.name, spec->name) == 0;
      bool same_key = keys_equal (&info.key, &spec->keys);
      bool equivalent = same_key && info.unique && !info.other_options && info.has_pfe == (spec->pfe != NULL) &&
                        (!spec->pfe || bson_equal (&info.pfe, spec->pfe));
      if (same_name) {
         *state = equivalent ? 1 : 2;
         if (equivalent) {
            bson_free (res->name);
            res->name = bson_strdup (info.name);
         } else {
            describe_conflict (&info, res);
         }
         break;
      }
      if (same_key && equivalent && by_key != 1) {
         by_key = 1;
         bson_free (res->name);
         res->name = bson_strdup (info.name);
      } else if (same_key && !equivalent && !have_other) {
         describe_conflict (&info, res); /* copies: doc is valid only until the next step */
         have_other = true;
      }
   }
   bson_error_t err;
   bool ok = true;
   if (mongoc_cursor_error (cursor, &err)) {
      if (_mongolock_is_server_code (&err, NAMESPACE_NOT_FOUND)) {
         *state = 0; /* no collection yet: no indexes, no documents */
      } else {
         if (error) {
            *error = err;
         }
         ok = false;
      }
   } else if (*state == 0) {
      *state = by_key == 1 ? 1 : have_other ? 2 : 0;
   }
   if (*state != 2 && res->has_conflict) {
      bson_reinit (&res->conflict);
      res->has_conflict = false;
   }
   mongoc_cursor_destroy (cursor);
   return ok;
}

/* Groups documents by the key fields (missing counts as null, as in the index) and counts
 * the groups with more than one document. */
static bool
scan_duplicates (mongoc_collection_t *coll, const spec_t *spec, result_t *res, bson_error_t *error)
{
   bson_t pipeline = BSON_INITIALIZER, stage, inner, id, expr, arr, group;
   char idx[16];
   const char *idx_key;
   uint32_t n = 0;
   if (spec->pfe) {
      bson_uint32_to_string (n++, &idx_key, idx, sizeof idx);
      BSON_APPEND_DOCUMENT_BEGIN (&pipeline, idx_key, &stage);
      BSON_APPEND_DOCUMENT (&stage, "$match", spec->pfe);
      bson_append_document_end (&pipeline, &stage);
   }
   bson_uint32_to_string (n++, &idx_key, idx, sizeof idx);
   BSON_APPEND_DOCUMENT_BEGIN (&pipeline, idx_key, &stage);
   BSON_APPEND_DOCUMENT_BEGIN (&stage, "$group", &group);
   BSON_APPEND_DOCUMENT_BEGIN (&group, "_id", &id);
   bson_iter_t it;
   int i = 0;
   BSON_ASSERT (bson_iter_init (&it, &spec->keys));
   while (bson_iter_next (&it)) {
      char k[16], *path = bson_strdup_printf ("$%s", bson_iter_key (&it));
      snprintf (k, sizeof k, "k%d", i++);
      BSON_APPEND_DOCUMENT_BEGIN (&id, k, &expr);
      BSON_APPEND_ARRAY_BEGIN (&expr, "$ifNull", &arr);
      BSON_APPEND_UTF8 (&arr, "0", path);
      BSON_APPEND_NULL (&arr, "1");
      bson_append_array_end (&expr, &arr);
      bson_append_document_end (&id, &expr);
      bson_free (path);
   }
   bson_append_document_end (&group, &id);
   BSON_APPEND_DOCUMENT_BEGIN (&group, "count", &inner);
   BSON_APPEND_INT32 (&inner, "$sum", 1);
   bson_append_document_end (&group, &inner);
   bson_append_document_end (&stage, &group);
   bson_append_document_end (&pipeline, &stage);
   bson_t *tail = BCON_NEW ("0", "{", "$match", "{", "count", "{", "$gt", BCON_INT32 (1), "}", "}", "}",
                            "1", "{", "$sort", "{", "count", BCON_INT32 (-1), "_id", BCON_INT32 (1), "}", "}");
   BSON_ASSERT (bson_iter_init (&it, tail));
   while (bson_iter_next (&it)) {
      bson_uint32_to_string (n++, &idx_key, idx, sizeof idx);
      bson_append_iter (&pipeline, idx_key, -1, &it);
   }
   bson_destroy (tail);

   bson_t *agg_opts = BCON_NEW ("allowDiskUse", BCON_BOOL (true));
   mongoc_read_prefs_t *prefs = mongoc_read_prefs_new (MONGOC_READ_PRIMARY);
   mongoc_cursor_t *cursor = mongoc_collection_aggregate (coll, MONGOC_QUERY_NONE, &pipeline, agg_opts, prefs);
   const bson_t *doc;
   while (mongoc_cursor_next (cursor, &doc)) {
      bson_iter_t f, key;
      int64_t count = 0;
      if (bson_iter_init_find (&f, doc, "count") && BSON_ITER_HOLDS_NUMBER (&f)) {
         count = bson_iter_as_int64 (&f);
      }
      res->groups++;
      res->documents += count;
      if (res->groups <= SAMPLE_MAX && bson_iter_init_find (&f, doc, "_id") && bson_iter_recurse (&f, &key)) {
         bson_t entry, key_doc;
         bson_uint32_to_string ((uint32_t) res->groups - 1, &idx_key, idx, sizeof idx);
         BSON_APPEND_DOCUMENT_BEGIN (&res->sample, idx_key, &entry);
         BSON_APPEND_DOCUMENT_BEGIN (&entry, "key", &key_doc);
         bson_iter_t names;
         BSON_ASSERT (bson_iter_init (&names, &spec->keys));
         while (bson_iter_next (&names) && bson_iter_next (&key)) {
            bson_append_iter (&key_doc, bson_iter_key (&names), -1, &key);
         }
         bson_append_document_end (&entry, &key_doc);
         BSON_APPEND_INT64 (&entry, "count", count);
         bson_append_document_end (&res->sample, &entry);
      }
   }
   bson_error_t err;
   bool ok = true;
   if (mongoc_cursor_error (cursor, &err) && !_mongolock_is_server_code (&err, NAMESPACE_NOT_FOUND)) {
      if (error) {
         *error = err;
      }
      ok = false;
   }
   mongoc_cursor_destroy (cursor);
   mongoc_read_prefs_destroy (prefs);
   bson_destroy (agg_opts);
   bson_destroy (&pipeline);
   return ok;
}

static void
set_duplicates_error (const spec_t *spec, const result_t *res, const char *server_msg, bson_error_t *error)
{
   if (server_msg) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_DUPLICATES,
                            "unique index \"%s\" cannot be built: the collection holds duplicates (%s)",
                            spec->name,
                            server_msg);
   } else {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_DUPLICATES,
                            "unique index \"%s\" cannot be built: %" PRId64 " key values are shared by %" PRId64
                            " documents; remove the duplicates first (the report has a sample)",
                            spec->name,
                            res->groups,
                            res->documents);
   }
}

static void
set_conflict_error (const spec_t *spec, const result_t *res, const char *server_msg, bson_error_t *error)
{
   bson_iter_t it;
   const char *other = "?";
   if (res->has_conflict && bson_iter_init_find (&it, &res->conflict, "name") && BSON_ITER_HOLDS_UTF8 (&it)) {
      other = bson_iter_utf8 (&it, NULL);
   }
   _mongolock_set_error (error,
                         MONGOLOCK_ERROR_INDEX_CONFLICT,
                         "unique index \"%s\" conflicts with the existing index \"%s\" (same name or key, other "
                         "options)%s%s; nothing was changed",
                         spec->name,
                         other,
                         server_msg ? ": " : "",
                         server_msg ? server_msg : "");
}

/* Runs createIndexes. *state as in find_existing, plus 3 for "duplicates". */
static bool
create_index (mongoc_collection_t *coll, const spec_t *spec, result_t *res, bson_error_t *error)
{
   bson_t *cmd = BCON_NEW ("createIndexes", BCON_UTF8 (mongoc_collection_get_name (coll)));
   bson_t indexes, index;
   BSON_APPEND_ARRAY_BEGIN (cmd, "indexes", &indexes);
   BSON_APPEND_DOCUMENT_BEGIN (&indexes, "0", &index);
   BSON_APPEND_DOCUMENT (&index, "key", &spec->keys);
   BSON_APPEND_UTF8 (&index, "name", spec->name);
   BSON_APPEND_BOOL (&index, "unique", true);
   if (spec->pfe) {
      BSON_APPEND_DOCUMENT (&index, "partialFilterExpression", spec->pfe);
   }
   bson_append_document_end (&indexes, &index);
   bson_append_array_end (cmd, &indexes);
   bson_t reply;
   bson_error_t err;
   bool ok = mongoc_collection_write_command_with_opts (coll, cmd, NULL, &reply, &err);
   bson_destroy (cmd);
   if (ok) {
      bson_iter_t it;
      int64_t before = -1, after = -2;
      if (bson_iter_init_find (&it, &reply, "numIndexesBefore") && BSON_ITER_HOLDS_NUMBER (&it)) {
         before = bson_iter_as_int64 (&it);
      }
      if (bson_iter_init_find (&it, &reply, "numIndexesAfter") && BSON_ITER_HOLDS_NUMBER (&it)) {
         after = bson_iter_as_int64 (&it);
      }
      res->action = before == after ? "exists" : "created";
   } else if (_mongolock_is_server_code (&err, DUPLICATE_KEY)) {
      res->action = "duplicates";
      set_duplicates_error (spec, res, err.message, error);
   } else if (_mongolock_is_server_code (&err, INDEX_OPTIONS_CONFLICT) ||
              _mongolock_is_server_code (&err, INDEX_KEY_SPECS_CONFLICT)) {
      int state;
      bson_error_t ignored;
      res->action = "conflict";
      (void) find_existing (coll, spec, res, &state, &ignored); /* best effort, for the report */
      set_conflict_error (spec, res, err.message, error);
   } else if (error) {
      *error = err;
   }
   bson_destroy (&reply);
   return ok;
}

static void
write_report (const spec_t *spec, const result_t *res, bson_t *report)
{
   if (!report || !res->action) {
      return; /* invalid arguments or a driver/server error: the report stays empty */
   }
   BSON_APPEND_UTF8 (report, "name", res->name ? res->name : spec->name);
   BSON_APPEND_UTF8 (report, "action", res->action);
   BSON_APPEND_INT64 (report, "duplicateGroups", res->groups);
   BSON_APPEND_INT64 (report, "duplicateDocuments", res->documents);
   if (strcmp (res->action, "duplicates") == 0) {
      BSON_APPEND_ARRAY (report, "sample", &res->sample);
   }
   if (strcmp (res->action, "conflict") == 0 && res->has_conflict) {
      BSON_APPEND_DOCUMENT (report, "conflict", &res->conflict);
   }
}

bool
mongolock_unique_index_ensure (mongoc_collection_t *collection,
                               const bson_t *keys,
                               const bson_t *opts,
                               bson_t *report,
                               bson_error_t *error)
{
   if (report) {
      bson_init (report);
   }
   spec_t spec;
   memset (&spec, 0, sizeof spec);
   bson_init (&spec.keys);
   bson_init (&spec.pfe_storage);
   result_t res;
   memset (&res, 0, sizeof res);
   bson_init (&res.sample);
   bson_init (&res.conflict);
   bool ok = false;
   if (!collection) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "collection is NULL");
      goto done;
   }
   if (!parse_keys (keys, &spec, error) || !parse_opts (opts, &spec, error)) {
      goto done;
   }
   spec.name = spec.name_opt ? bson_strdup (spec.name_opt) : mongoc_collection_keys_to_index_string (&spec.keys);
   int state;
   if (!find_existing (collection, &spec, &res, &state, error)) {
      goto done;
   }
   if (state == 1) {
      res.action = "exists";
      ok = true;
      goto done;
   }
   if (state == 2) {
      res.action = "conflict";
      set_conflict_error (&spec, &res, NULL, error);
      goto done;
   }
   if (!scan_duplicates (collection, &spec, &res, error)) {
      goto done;
   }
   if (res.groups > 0) {
      res.action = "duplicates";
      set_duplicates_error (&spec, &res, NULL, error);
      goto done;
   }
   if (spec.dry_run) {
      res.action = "would-create";
      ok = true;
      goto done;
   }
   ok = create_index (collection, &spec, &res, error);
done:
   write_report (&spec, &res, report);
   bson_free (spec.name);
   bson_free (res.name);
   bson_destroy (&spec.keys);
   bson_destroy (&spec.pfe_storage);
   bson_destroy (&res.sample);
   bson_destroy (&res.conflict);
   return ok;
}
