/* SPDX-License-Identifier: Apache-2.0 */
/* Fenced business writes: see mongolock-fence.h. */
#include "mongolock-private.h"

#include <string.h>

static bool
check_field (const char *field, bson_error_t *error)
{
   if (!_mongolock_check_string ("fence field", field, 128, error)) {
      return false;
   }
   if (field[0] == '$' || strchr (field, '.')) {
      _mongolock_set_error (
         error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "fence field \"%s\" must be a top-level name without '$' or '.'", field);
      return false;
   }
   return true;
}

/* True when a $set/$unset/... operand writes field itself or a path inside it. */
static bool
touches_field (const bson_iter_t *operand, const char *field)
{
   bson_iter_t it;
   size_t n = strlen (field);
   if (!BSON_ITER_HOLDS_DOCUMENT (operand) || !bson_iter_recurse (operand, &it)) {
      return false;
   }
   while (bson_iter_next (&it)) {
      const char *k = bson_iter_key (&it);
      if (strncmp (k, field, n) == 0 && (k[n] == '\0' || k[n] == '.')) {
         return true;
      }
   }
   return false;
}

bool
mongolock_fence_build (const bson_t *selector,
                       const bson_t *update,
                       const char *fence_field,
                       int64_t token,
                       bson_t *filter_out,
                       bson_t *update_out,
                       bson_error_t *error)
{
   if (filter_out) {
      bson_init (filter_out);
   }
   if (update_out) {
      bson_init (update_out);
   }
   if (!selector || !update || !filter_out || !update_out) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "selector, update and both outputs are required");
      return false;
   }
   if (!check_field (fence_field, error)) {
      return false;
   }
   if (token <= 0) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "fencing token must be positive (got %" PRId64 ")", token);
      return false;
   }
   bson_iter_t it;
   if (bson_empty (update) || !bson_iter_init (&it, update)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "update is empty");
      return false;
   }
   bool has_set = false;
   while (bson_iter_next (&it)) {
      const char *op = bson_iter_key (&it);
      if (op[0] != '$') {
         _mongolock_set_error (error,
                               MONGOLOCK_ERROR_INVALID_ARGUMENT,
                               "update must use operators ($set, $inc, ...); a replacement or pipeline cannot be fenced");
         return false;
      }
      if (touches_field (&it, fence_field)) {
         _mongolock_set_error (
            error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "update writes the fence field \"%s\" itself (%s)", fence_field, op);
         return false;
      }
      has_set = has_set || strcmp (op, "$set") == 0;
   }

   /* {$and: [selector, {field: {$not: {$gt: token}}}]}: matches a missing field too. */
   bson_t and, cond, not_doc, gt;
   BSON_APPEND_ARRAY_BEGIN (filter_out, "$and", &and);
   BSON_APPEND_DOCUMENT (&and, "0", selector);
   BSON_APPEND_DOCUMENT_BEGIN (&and, "1", &cond);
   BSON_APPEND_DOCUMENT_BEGIN (&cond, fence_field, &not_doc);
   BSON_APPEND_DOCUMENT_BEGIN (&not_doc, "$not", &gt);
   BSON_APPEND_INT64 (&gt, "$gt", token);
   bson_append_document_end (&not_doc, &gt);
   bson_append_document_end (&cond, &not_doc);
   bson_append_document_end (&and, &cond);
   bson_append_array_end (filter_out, &and);

   bson_iter_init (&it, update);
   while (bson_iter_next (&it)) {
      if (strcmp (bson_iter_key (&it), "$set") != 0) {
         bson_append_iter (update_out, NULL, 0, &it);
         continue;
      }
      bson_t set;
      bson_iter_t inner;
      BSON_APPEND_DOCUMENT_BEGIN (update_out, "$set", &set);
      if (BSON_ITER_HOLDS_DOCUMENT (&it) && bson_iter_recurse (&it, &inner)) {
         while (bson_iter_next (&inner)) {
            bson_append_iter (&set, NULL, 0, &inner);
         }
      }
      BSON_APPEND_INT64 (&set, fence_field, token);
      bson_append_document_end (update_out, &set);
   }
   if (!has_set) {
      bson_t set;
      BSON_APPEND_DOCUMENT_BEGIN (update_out, "$set", &set);
      BSON_APPEND_INT64 (&set, fence_field, token);
      bson_append_document_end (update_out, &set);
   }
   return true;
}

/* The fenced update itself: *matched says whether a document matched the fenced filter. */
static bool
fenced_update (mongoc_collection_t *collection,
               const bson_t *selector,
               const bson_t *update,
               const char *fence_field,
               int64_t token,
               const bson_t *opts,
               bool *matched,
               bson_error_t *error)
{
   *matched = false;
   bson_iter_t it;
   if (opts && bson_iter_init_find (&it, opts, "upsert")) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "a fenced update cannot upsert: a stale write must not insert");
      return false;
   }
   bson_t filter, fenced, reply;
   if (!mongolock_fence_build (selector, update, fence_field, token, &filter, &fenced, error)) {
      bson_destroy (&filter);
      bson_destroy (&fenced);
      return false;
   }
   bool ok = mongoc_collection_update_one (collection, &filter, &fenced, opts, &reply, error);
   if (ok && bson_iter_init_find (&it, &reply, "matchedCount") && BSON_ITER_HOLDS_NUMBER (&it)) {
      *matched = bson_iter_as_int64 (&it) > 0;
   }
   bson_destroy (&reply);
   bson_destroy (&filter);
   bson_destroy (&fenced);
   return ok;
}

bool
mongolock_fenced_update_one (mongoc_collection_t *collection,
                             const bson_t *selector,
                             const bson_t *update,
                             const char *fence_field,
                             int64_t token,
                             const bson_t *opts,
                             bool *applied,
                             bson_error_t *error)
{
   if (!collection || !applied) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is NULL", collection ? "applied" : "collection");
      return false;
   }
   return fenced_update (collection, selector, update, fence_field, token, opts, applied, error);
}

/* After an update that matched nothing: the token stored in the first document matching
 * selector (*found false when there is none). The options that decide what selector
 * matches (collation, let) and the session come from the update's opts. */
static bool
stored_fence (mongoc_collection_t *collection,
              const bson_t *selector,
              const char *fence_field,
              const bson_t *update_opts,
              int64_t token,
              bool *found,
              bool *newer,
              int64_t *stored,
              bson_error_t *error)
{
   *found = *newer = false;
   *stored = 0;
   bson_t opts = BSON_INITIALIZER, projection;
   BSON_APPEND_INT64 (&opts, "limit", 1);
   BSON_APPEND_BOOL (&opts, "singleBatch", true);
   BSON_APPEND_DOCUMENT_BEGIN (&opts, "projection", &projection);
   BSON_APPEND_INT32 (&projection, fence_field, 1);
   bson_append_document_end (&opts, &projection);
   static const char *const forwarded[] = {"sessionId", "collation", "let"};
   bson_iter_t it;
   for (size_t i = 0; update_opts && i < sizeof forwarded / sizeof forwarded[0]; i++) {
      if (bson_iter_init_find (&it, update_opts, forwarded[i])) {
         bson_append_iter (&opts, forwarded[i], -1, &it);
      }
   }
   /* The primary saw the update; a secondary might not have seen the newer token yet. */
   mongoc_read_prefs_t *primary = mongoc_read_prefs_new (MONGOC_READ_PRIMARY);
   mongoc_cursor_t *cursor = mongoc_collection_find_with_opts (collection, selector, &opts, primary);
   const bson_t *doc;
   if (mongoc_cursor_next (cursor, &doc)) {
      *found = true;
      /* What the fenced filter ({$not: {$gt: token}}) refused: a number above token. */
      if (bson_iter_init_find (&it, doc, fence_field) && BSON_ITER_HOLDS_NUMBER (&it)) {
         *stored = bson_iter_as_int64 (&it);
         *newer = BSON_ITER_HOLDS_DOUBLE (&it) ? bson_iter_double (&it) > (double) token : *stored > token;
      }
   }
   bool ok = !mongoc_cursor_error (cursor, error);
   mongoc_cursor_destroy (cursor);
   mongoc_read_prefs_destroy (primary);
   bson_destroy (&opts);
   return ok;
}

bool
mongolock_fenced_update_one_result (mongoc_collection_t *collection,
                                    const bson_t *selector,
                                    const bson_t *update,
                                    const char *fence_field,
                                    int64_t token,
                                    const bson_t *opts,
                                    mongolock_fence_result_t *result,
                                    int64_t *stored_token,
                                    bson_error_t *error)
{
   if (result) {
      *result = 0;
   }
   if (stored_token) {
      *stored_token = 0;
   }
   if (!collection || !result) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is NULL", collection ? "result" : "collection");
      return false;
   }
   bool matched = false;
   if (!fenced_update (collection, selector, update, fence_field, token, opts, &matched, error)) {
      return false;
   }
   if (matched) {
      *result = MONGOLOCK_FENCE_APPLIED;
      return true;
   }
   /* Nothing matched: stale, or no such document? Only now is the extra read worth it. */
   bool found, newer;
   int64_t stored;
   if (!stored_fence (collection, selector, fence_field, opts, token, &found, &newer, &stored, error)) {
      return false;
   }
   /* Stored tokens never decrease, so a newer one now was newer when the update ran.
    * Anything else matches the fenced filter now: that document appeared or started
    * matching selector after the update, which saw no such document. */
   if (found && newer) {
      *result = MONGOLOCK_FENCE_STALE;
      if (stored_token) {
         *stored_token = stored;
      }
   } else {
      *result = MONGOLOCK_FENCE_NO_DOCUMENT;
   }
   return true;
}
