/* SPDX-License-Identifier: Apache-2.0 */
/* Document locks beyond acquire/release: the fenced write, with_lock, listing locked
 * documents and the TTL-index check. Commands come from lib/shapes/doc.c. */
#include "doc-private.h"

#include <string.h>

/* Runs cmd on db within the client's timeout. reply always initialised. */
static bool
run (mongolock_client_t *client, const char *db, const bson_t *cmd, bool write, bson_t *reply, bson_error_t *error)
{
   _mongolock_call_t call = {cmd, write, _mongolock_now_ms () + client->timeout_ms, NULL, db};
   return _mongolock_exec (client, &call, reply, NULL, error);
}

/* Whether the locked document still exists (one find on _id). */
static bool
doc_exists (mongolock_doc_lock_t *lock, bool *exists, bson_error_t *error)
{
   bson_t *cmd = _mongolock_doc_exists_cmd (&lock->self);
   bson_t reply;
   bool ok = run (lock->h.client, lock->h.db, cmd, false, &reply, error);
   bson_iter_t batch;
   *exists = ok && _mongolock_first_batch (&reply, &batch) && bson_iter_next (&batch);
   bson_destroy (&reply);
   bson_destroy (cmd);
   return ok;
}

bool
mongolock_doc_lock_update (mongolock_doc_lock_t *lock,
                           const bson_t *update,
                           int flags,
                           mongolock_doc_write_result_t *result,
                           bson_error_t *error)
{
   if (!lock || !update || !result) {
      _mongolock_set_error (
         error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is NULL", !lock ? "lock" : (!update ? "update" : "result"));
      return false;
   }
   *result = 0;
   if (flags & ~(MONGOLOCK_DOC_UPDATE_RELEASE | MONGOLOCK_DOC_UPDATE_PIPELINE)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "unknown flags 0x%x", (unsigned) flags);
      return false;
   }
   _mongolock_handle_t *h = &lock->h;
   if (h->count == 0) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_NOT_HELD, "lock \"%s\" is not held by this handle", h->key);
      return false;
   }
   /* A reentrant hold counted more than once keeps the lock fields: only the count drops. */
   bool release = (flags & MONGOLOCK_DOC_UPDATE_RELEASE) && h->count == 1;
   int64_t token = _mongolock_lease_token (h->lease);
   bson_t *cmd = _mongolock_doc_fenced_update_cmd (&lock->self, h->owner, token, update, flags, release, error);
   if (!cmd) {
      return false;
   }
   bson_t reply;
   bool matched = false;
   bool ok = run (h->client, h->db, cmd, true, &reply, error) && h->shape->parse_update (&reply, &matched, error);
   bson_destroy (&reply);
   bson_destroy (cmd);
   if (!ok) {
      return false; /* the handle keeps its state; a STORE_TIMEOUT write may have landed */
   }
   if (matched) {
      *result = MONGOLOCK_DOC_WRITE_APPLIED;
      if (flags & MONGOLOCK_DOC_UPDATE_RELEASE) {
         _mongolock_handle_released_by_write (h);
      }
      return true;
   }
   /* Nothing matched: lost, or gone? Only now is the extra read worth it. */
   bool exists;
   if (!doc_exists (lock, &exists, error)) {
      return false;
   }
   *result = exists ? MONGOLOCK_DOC_WRITE_LOST : MONGOLOCK_DOC_WRITE_GONE;
   _mongolock_handle_lost (h);
   return true;
}

bool
mongolock_doc_lock_with (mongolock_doc_lock_t *lock, mongolock_doc_lock_fn_t fn, void *user_data, bson_error_t *error)
{
   if (!lock || !fn) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is NULL", lock ? "fn" : "lock");
      return false;
   }
   if (!mongolock_doc_lock_acquire (lock, error)) {
      return false;
   }
   int level = lock->h.count; /* our hold: 1, or more when nested in a reentrant one */
   /* fn may acquire or write through the handle: give it a copy that stays put. */
   bson_t *doc = bson_copy (lock->self.doc);
   bson_error_t fn_error;
   memset (&fn_error, 0, sizeof fn_error);
   bool fn_ok = fn (lock, doc, user_data, &fn_error);
   bson_destroy (doc);
   bson_error_t rel_error;
   bool rel_ok = true;
   if (lock->h.count >= level) {
      rel_ok = _mongolock_handle_release (&lock->h, &rel_error); /* not when fn released it */
   }
   if (!fn_ok) {
      if (fn_error.domain == 0 && fn_error.code == 0) {
         _mongolock_set_error (&fn_error, MONGOLOCK_ERROR_CALLBACK, "the callback failed under lock \"%s\"", lock->h.key);
      }
      if (error) {
         *error = fn_error;
      }
      return false;
   }
   if (!rel_ok && error) {
      *error = rel_error;
   }
   return rel_ok;
}

bool
mongolock_doc_lock_list (mongolock_client_t *client,
                         const char *db,
                         const char *collection,
                         const mongolock_doc_lock_opts_t *opts,
                         int64_t limit,
                         bson_t *out,
                         bson_error_t *error)
{
   if (out) {
      bson_init (out);
   }
   if (!client || !out) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is NULL", client ? "out" : "client");
      return false;
   }
   const char *database = db ? db : client->database;
   if (!_mongolock_check_db_name (database, error) || !_mongolock_check_coll_name (collection, error) ||
       !_mongolock_check_namespace (database, collection, error) ||
       !_mongolock_check_range ("limit", limit, 1, 10000, error)) {
      return false;
   }
   _mongolock_doc_fields_t f;
   if (opts) {
      f = opts->f;
   } else {
      _mongolock_doc_fields_set (
         &f, MONGOLOCK_DOC_DEFAULT_OWNER_FIELD, MONGOLOCK_DOC_DEFAULT_EXPIRY_FIELD, MONGOLOCK_DOC_DEFAULT_TOKEN_FIELD);
   }
   bson_t *cmd = _mongolock_doc_list_cmd (collection, &f, limit);
   if (!opts) {
      _mongolock_doc_fields_free (&f);
   }
   bson_t reply;
   bool ok = run (client, database, cmd, false, &reply, error);
   bson_destroy (cmd);
   if (ok) {
      bson_t locks;
      bson_iter_t batch;
      int64_t n = 0;
      BSON_APPEND_ARRAY_BEGIN (out, "locks", &locks);
      if (_mongolock_first_batch (&reply, &batch)) {
         while (bson_iter_next (&batch) && n < limit) {
            char key[24];
            bson_snprintf (key, sizeof key, "%" PRId64, n++);
            bson_append_iter (&locks, key, -1, &batch);
         }
      }
      bson_append_array_end (out, &locks);
      bool more = _mongolock_first_batch (&reply, &batch);
      int64_t total = 0;
      while (more && bson_iter_next (&batch)) {
         total++;
      }
      BSON_APPEND_BOOL (out, "truncated", total > limit);
   }
   bson_destroy (&reply);
   return ok;
}

/* Whether index (a listIndexes entry) is a TTL index on one of the lock fields. */
static bool
is_lock_ttl (const bson_t *index, const _mongolock_doc_fields_t *f, const char **name)
{
   bson_iter_t it, key;
   *name = "?";
   if (bson_iter_init_find (&it, index, "name") && BSON_ITER_HOLDS_UTF8 (&it)) {
      *name = bson_iter_utf8 (&it, NULL);
   }
   if (!bson_iter_init_find (&it, index, "expireAfterSeconds") || !bson_iter_init_find (&key, index, "key") ||
       !BSON_ITER_HOLDS_DOCUMENT (&key) || !bson_iter_recurse (&key, &it)) {
      return false;
   }
   while (bson_iter_next (&it)) {
      const char *k = bson_iter_key (&it);
      if (strcmp (k, f->owner) == 0 || strcmp (k, f->expiry) == 0 || strcmp (k, f->token) == 0) {
         return true;
      }
   }
   return false;
}

bool
mongolock_doc_lock_check_indexes (mongolock_client_t *client,
                                  const char *db,
                                  const char *collection,
                                  const mongolock_doc_lock_opts_t *opts,
                                  bson_error_t *error)
{
   if (!client) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "client is NULL");
      return false;
   }
   const char *database = db ? db : client->database;
   if (!_mongolock_check_db_name (database, error) || !_mongolock_check_coll_name (collection, error) ||
       !_mongolock_check_namespace (database, collection, error)) {
      return false;
   }
   mongolock_doc_lock_opts_t *defaults = opts ? NULL : mongolock_doc_lock_opts_new ();
   const _mongolock_doc_fields_t *f = opts ? &opts->f : &defaults->f;
   bson_t *cmd = BCON_NEW ("listIndexes", BCON_UTF8 (collection));
   bson_t reply;
   bson_error_t err;
   bool ok = run (client, database, cmd, false, &reply, &err);
   bson_destroy (cmd);
   if (!ok && err.domain != MONGOLOCK_ERROR_DOMAIN && err.code == 26) {
      ok = true; /* NamespaceNotFound: no collection, no index */
   } else if (!ok && error) {
      *error = err;
   }
   bson_iter_t batch;
   if (ok && _mongolock_first_batch (&reply, &batch)) {
      while (bson_iter_next (&batch)) {
         uint32_t len;
         const uint8_t *data;
         bson_t index;
         const char *name;
         if (!BSON_ITER_HOLDS_DOCUMENT (&batch)) {
            continue;
         }
         bson_iter_document (&batch, &len, &data);
         if (bson_init_static (&index, data, len) && is_lock_ttl (&index, f, &name)) {
            _mongolock_set_error (error,
                                  MONGOLOCK_ERROR_INDEX_CONFLICT,
                                  "index \"%s\" on %s.%s is a TTL index on a lock field: MongoDB would delete the "
                                  "business documents once their lock expires. Drop it: "
                                  "db.getSiblingDB(\"%s\").%s.dropIndex(\"%s\")",
                                  name, database, collection, database, collection, name);
            ok = false;
            break;
         }
      }
   }
   bson_destroy (&reply);
   mongolock_doc_lock_opts_destroy (defaults);
   return ok;
}
