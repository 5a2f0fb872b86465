/* SPDX-License-Identifier: Apache-2.0 */
/* First-or-create and update-or-create on a business collection, under the create lock. */
#include "guard-private.h"

#include <string.h>

#define DUPLICATE_KEY 11000

static bool
is_operator_document (const bson_iter_t *it)
{
   bson_iter_t child;
   return BSON_ITER_HOLDS_DOCUMENT (it) && bson_iter_recurse (it, &child) && bson_iter_next (&child) &&
          bson_iter_key (&child)[0] == '$';
}

/* Top-level equality only: the filter is both the query and the new document's fields. */
static bool
check_filter (const bson_t *filter, bson_error_t *error)
{
   bson_iter_t it;
   if (!filter || !bson_iter_init (&it, filter)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "filter is %s", filter ? "corrupt BSON" : "NULL");
      return false;
   }
   while (bson_iter_next (&it)) {
      const char *k = bson_iter_key (&it);
      if (k[0] == '$' || strchr (k, '.')) {
         _mongolock_set_error (error,
                               MONGOLOCK_ERROR_INVALID_ARGUMENT,
                               "filter field \"%s\": only top-level equality fields are allowed (no operators, no "
                               "dotted paths)",
                               k);
         return false;
      }
      if (is_operator_document (&it) || BSON_ITER_HOLDS_REGEX (&it)) {
         _mongolock_set_error (error,
                               MONGOLOCK_ERROR_INVALID_ARGUMENT,
                               "filter field \"%s\" is not an equality match (operators and regexes are not allowed)",
                               k);
         return false;
      }
   }
   return true;
}

/* The new document: _id (given or generated) first, then filter's fields, then document's. */
static bool
build_insert (const bson_t *filter, const bson_t *document, bson_t *out, bson_error_t *error)
{
   bson_iter_t it, id_it;
   bool have_id = false;
   if (document) {
      if (!bson_iter_init (&it, document)) {
         _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "document is corrupt BSON");
         return false;
      }
      while (bson_iter_next (&it)) {
         const char *k = bson_iter_key (&it);
         if (bson_has_field (filter, k)) {
            _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "document repeats filter field \"%s\"", k);
            return false;
         }
         if (strcmp (k, "_id") == 0) {
            id_it = it;
            have_id = true;
         }
      }
   }
   if (!have_id && bson_iter_init_find (&it, filter, "_id")) {
      id_it = it;
      have_id = true;
   }
   if (have_id) {
      bson_append_iter (out, "_id", 3, &id_it);
   } else {
      bson_oid_t oid;
      bson_oid_init (&oid, NULL);
      BSON_APPEND_OID (out, "_id", &oid);
   }
   const bson_t *parts[2] = {filter, document};
   for (int i = 0; i < 2; i++) {
      if (parts[i] && bson_iter_init (&it, parts[i])) {
         while (bson_iter_next (&it)) {
            if (strcmp (bson_iter_key (&it), "_id") != 0) {
               bson_append_iter (out, NULL, 0, &it);
            }
         }
      }
   }
   return true;
}

/* Reads one document matching filter from the primary into out (reinitialised). */
static bool
find_one (mongoc_collection_t *coll, const bson_t *filter, bson_t *out, bool *found, bson_error_t *error)
{
   *found = false;
   bson_t *opts = BCON_NEW ("limit", BCON_INT64 (1), "singleBatch", BCON_BOOL (true));
   mongoc_read_prefs_t *prefs = mongoc_read_prefs_new (MONGOC_READ_PRIMARY);
   mongoc_cursor_t *cursor = mongoc_collection_find_with_opts (coll, filter, opts, prefs);
   const bson_t *doc;
   bool ok = true;
   if (mongoc_cursor_next (cursor, &doc)) {
      bson_reinit (out);
      bson_concat (out, doc);
      *found = true;
   } else if (mongoc_cursor_error (cursor, error)) {
      ok = false;
   }
   mongoc_cursor_destroy (cursor);
   mongoc_read_prefs_destroy (prefs);
   bson_destroy (opts);
   return ok;
}

/* Namespace and principal of the create lock's key. */
static bool
create_key (mongolock_guard_t *guard,
            mongoc_collection_t *coll,
            const bson_t *filter,
            const _mongolock_call_opts_t *call,
            char **key,
            bson_error_t *error)
{
   const char *ns = call->ns ? call->ns : mongoc_collection_get_name (coll);
   return mongolock_guard_key (guard, ns, filter, call->principal, key, error);
}

/* Initialises the outputs and checks the arguments both entry points share. */
static bool
check_common (mongolock_guard_t *guard,
              mongoc_collection_t *coll,
              const bson_t *filter,
              bson_t *doc_out,
              bool *created,
              mongolock_guard_mode_t *mode,
              bson_error_t *error)
{
   if (created) {
      *created = false;
   }
   if (mode) {
      *mode = MONGOLOCK_GUARD_MODE_NONE;
   }
   if (!doc_out) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "doc_out is NULL");
      return false;
   }
   bson_init (doc_out);
   if (!guard || !coll) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is NULL", guard ? "collection" : "guard");
      return false;
   }
   return check_filter (filter, error);
}

typedef struct {
   mongoc_collection_t *coll;
   const bson_t *filter;
   const bson_t *insert;
   const bson_t *update;
   bson_t *doc_out;
   bool created;
} create_ctx_t;

static bool
first_or_create_cb (mongolock_guard_mode_t mode, int64_t token, void *data, bson_error_t *error)
{
   (void) mode;
   (void) token;
   create_ctx_t *c = data;
   bool found;
   if (!find_one (c->coll, c->filter, c->doc_out, &found, error)) {
      return false;
   }
   if (found) {
      return true; /* created by the holder we waited for */
   }
   bson_error_t err;
   if (mongoc_collection_insert_one (c->coll, c->insert, NULL, NULL, &err)) {
      bson_reinit (c->doc_out);
      bson_concat (c->doc_out, c->insert);
      c->created = true;
      return true;
   }
   if (_mongolock_is_server_code (&err, DUPLICATE_KEY)) {
      /* The unique index stopped a second creator that bypassed the lock (or whose lease
       * ran out): the winner is the answer. */
      if (!find_one (c->coll, c->filter, c->doc_out, &found, error)) {
         return false;
      }
      if (found) {
         return true;
      }
   }
   if (error) {
      *error = err;
   }
   return false;
}

/* Runs cb (creating the document) under the create lock for key, with the call's lease
 * and wait; *created (optional) says whether it inserted. */
static bool
run_create (mongolock_guard_t *guard,
            const char *key,
            const _mongolock_call_opts_t *call,
            mongolock_guard_fn_t cb,
            create_ctx_t *ctx,
            bool *created,
            mongolock_guard_mode_t *mode,
            bson_error_t *error)
{
   bson_t run_opts = BSON_INITIALIZER;
   _mongolock_call_opts_append (call, &run_opts);
   bool ok = mongolock_guard_run (guard, key, &run_opts, cb, ctx, mode, error);
   bson_destroy (&run_opts);
   if (ok && created) {
      *created = ctx->created;
   }
   return ok;
}

bool
mongolock_guard_first_or_create (mongolock_guard_t *guard,
                                 mongoc_collection_t *collection,
                                 const bson_t *filter,
                                 const bson_t *document,
                                 const bson_t *opts,
                                 bson_t *doc_out,
                                 bool *created,
                                 mongolock_guard_mode_t *mode,
                                 bson_error_t *error)
{
   if (!check_common (guard, collection, filter, doc_out, created, mode, error)) {
      return false;
   }
   _mongolock_call_opts_t call;
   bson_t insert = BSON_INITIALIZER;
   char *key = NULL;
   bool ok = false, found;
   if (!_mongolock_call_opts_parse (guard, opts, true, &call, error) ||
       !build_insert (filter, document, &insert, error) || !create_key (guard, collection, filter, &call, &key, error)) {
      goto done;
   }
   if (!find_one (collection, filter, doc_out, &found, error)) {
      goto done;
   }
   if (found) {
      ok = true;
      goto done;
   }
   create_ctx_t ctx = {collection, filter, &insert, NULL, doc_out, false};
   ok = run_create (guard, key, &call, first_or_create_cb, &ctx, created, mode, error);
done:
   if (!ok) {
      bson_reinit (doc_out);
   }
   bson_free (key);
   bson_destroy (&insert);
   return ok;
}

/* One findAndModify returning the post-image; *found false when value is null. */
static bool
find_and_modify (mongoc_collection_t *coll,
                 const bson_t *filter,
                 const bson_t *update,
                 bool upsert,
                 bson_t *doc_out,
                 bool *found,
                 bool *upserted,
                 bson_error_t *error)
{
   mongoc_find_and_modify_opts_t *fam = mongoc_find_and_modify_opts_new ();
   mongoc_find_and_modify_opts_set_update (fam, update);
   mongoc_find_and_modify_opts_set_flags (fam,
                                          MONGOC_FIND_AND_MODIFY_RETURN_NEW |
                                             (upsert ? MONGOC_FIND_AND_MODIFY_UPSERT : MONGOC_FIND_AND_MODIFY_NONE));
   bson_t reply;
   bool ok = mongoc_collection_find_and_modify_with_opts (coll, filter, fam, &reply, error);
   *found = false;
   *upserted = false;
   bson_iter_t it, leo;
   if (ok && bson_iter_init_find (&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT (&it)) {
      uint32_t len;
      const uint8_t *data;
      bson_iter_document (&it, &len, &data);
      bson_t value;
      BSON_ASSERT (bson_init_static (&value, data, len));
      bson_reinit (doc_out);
      bson_concat (doc_out, &value);
      *found = true;
   }
   if (ok && bson_iter_init_find (&it, &reply, "lastErrorObject") && BSON_ITER_HOLDS_DOCUMENT (&it) &&
       bson_iter_recurse (&it, &leo)) {
      while (bson_iter_next (&leo)) {
         if (strcmp (bson_iter_key (&leo), "upserted") == 0) {
            *upserted = true;
         } else if (strcmp (bson_iter_key (&leo), "updatedExisting") == 0 && BSON_ITER_HOLDS_BOOL (&leo) &&
                    !bson_iter_bool (&leo) && upsert && *found) {
            *upserted = true; /* an upsert that did not update an existing document inserted one */
         }
      }
   }
   bson_destroy (&reply);
   mongoc_find_and_modify_opts_destroy (fam);
   return ok;
}

static bool
update_or_create_cb (mongolock_guard_mode_t mode, int64_t token, void *data, bson_error_t *error)
{
   (void) mode;
   (void) token;
   create_ctx_t *c = data;
   bool found, upserted;
   bson_error_t err;
   if (find_and_modify (c->coll, c->filter, c->update, true, c->doc_out, &found, &upserted, &err)) {
      if (!found) {
         _mongolock_set_error (error, MONGOLOCK_ERROR_PROTOCOL, "an upserting findAndModify returned no document");
         return false;
      }
      c->created = upserted;
      return true;
   }
   if (_mongolock_is_server_code (&err, DUPLICATE_KEY)) {
      /* Someone created it without the lock; update theirs. */
      if (!find_and_modify (c->coll, c->filter, c->update, false, c->doc_out, &found, &upserted, error)) {
         return false;
      }
      if (found) {
         return true;
      }
   }
   if (error) {
      *error = err;
   }
   return false;
}

static bool
check_update (const bson_t *update, bson_error_t *error)
{
   bson_iter_t it;
   if (!update || !bson_iter_init (&it, update) || !bson_iter_next (&it)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "update is NULL, empty or corrupt");
      return false;
   }
   do {
      if (bson_iter_key (&it)[0] != '$') {
         _mongolock_set_error (error,
                               MONGOLOCK_ERROR_INVALID_ARGUMENT,
                               "update must be an operator document ({$set: ...}); \"%s\" is not an operator",
                               bson_iter_key (&it));
         return false;
      }
   } while (bson_iter_next (&it));
   return true;
}

bool
mongolock_guard_update_or_create (mongolock_guard_t *guard,
                                  mongoc_collection_t *collection,
                                  const bson_t *filter,
                                  const bson_t *update,
                                  const bson_t *opts,
                                  bson_t *doc_out,
                                  bool *created,
                                  mongolock_guard_mode_t *mode,
                                  bson_error_t *error)
{
   if (!check_common (guard, collection, filter, doc_out, created, mode, error) || !check_update (update, error)) {
      return false;
   }
   _mongolock_call_opts_t call;
   char *key = NULL;
   bool ok = false, found, upserted;
   if (!_mongolock_call_opts_parse (guard, opts, true, &call, error) ||
       !create_key (guard, collection, filter, &call, &key, error)) {
      goto done;
   }
   /* An existing document needs no lock: updating it cannot create a duplicate. */
   if (!find_and_modify (collection, filter, update, false, doc_out, &found, &upserted, error)) {
      goto done;
   }
   if (found) {
      ok = true;
      goto done;
   }
   create_ctx_t ctx = {collection, filter, NULL, update, doc_out, false};
   ok = run_create (guard, key, &call, update_or_create_cb, &ctx, created, mode, error);
done:
   if (!ok) {
      bson_reinit (doc_out);
   }
   bson_free (key);
   return ok;
}
