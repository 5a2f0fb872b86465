/* SPDX-License-Identifier: Apache-2.0 */
/* The public API of document locks: argument checks, then the lease engine (lib/engine)
 * on the document shape (lib/shapes/doc.c). Fenced writes, with_lock and listing are in
 * doc-write.c. */
#include "doc-private.h"

#include <string.h>

/* "<db>.<coll>/<_id as relaxed JSON>" for messages and events. */
static char *
make_key (const char *db, const char *coll, const bson_value_t *id)
{
   bson_t tmp = BSON_INITIALIZER;
   BSON_APPEND_VALUE (&tmp, "_id", id);
   char *json = bson_as_relaxed_extended_json (&tmp, NULL);
   bson_destroy (&tmp);
   /* json is '{ "_id" : <value> }': keep <value>. */
   const char *v = json ? strchr (json, ':') : NULL;
   size_t n = v ? strlen (v) : 0;
   char *key = (v && n >= 4) ? bson_strdup_printf ("%s.%s/%.*s", db, coll, (int) (n - 4), v + 2)
                             : bson_strdup_printf ("%s.%s/?", db, coll);
   bson_free (json);
   return key;
}

static bool
check_id (const bson_value_t *id, bson_error_t *error)
{
   if (!id) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "id is NULL");
      return false;
   }
   switch (id->value_type) {
   case BSON_TYPE_ARRAY:
   case BSON_TYPE_REGEX:
   case BSON_TYPE_UNDEFINED:
   case BSON_TYPE_EOD:
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_INVALID_ARGUMENT,
                            "id: a document's _id cannot be of BSON type 0x%02x",
                            (unsigned) id->value_type);
      return false;
   default:
      return true;
   }
}

mongolock_doc_lock_t *
mongolock_doc_lock_new (mongolock_client_t *client,
                        const char *db,
                        const char *collection,
                        const bson_value_t *id,
                        const mongolock_doc_lock_opts_t *opts,
                        bson_error_t *error)
{
   if (!client) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "client is NULL");
      return NULL;
   }
   const char *database = db ? db : client->database;
   if (!_mongolock_check_db_name (database, error) || !_mongolock_check_coll_name (collection, error) ||
       !_mongolock_check_namespace (database, collection, error) || !check_id (id, error)) {
      return NULL;
   }
   mongolock_doc_lock_opts_t *defaults = opts ? NULL : mongolock_doc_lock_opts_new ();
   const mongolock_doc_lock_opts_t *o = opts ? opts : defaults;
   mongolock_doc_lock_t *lock = bson_malloc0 (sizeof *lock);
   char *key = make_key (database, collection, id);
   bool ok = _mongolock_handle_init (&lock->h, client, &_mongolock_doc_shape, &lock->self, key, o->lock, error);
   bson_free (key);
   if (ok) {
      _mongolock_handle_set_database (&lock->h, database);
      lock->self.collection = bson_strdup (collection);
      bson_value_copy (id, &lock->self.id);
      _mongolock_doc_fields_set (&lock->self.f, o->f.owner, o->f.expiry, o->f.token);
      lock->self.doc = bson_new ();
   }
   mongolock_doc_lock_opts_destroy (defaults);
   if (!ok) {
      bson_free (lock);
      return NULL;
   }
   return lock;
}

void
mongolock_doc_lock_destroy (mongolock_doc_lock_t *lock)
{
   if (!lock) {
      return;
   }
   _mongolock_handle_cleanup (&lock->h);
   bson_free (lock->self.collection);
   bson_value_destroy (&lock->self.id);
   _mongolock_doc_fields_free (&lock->self.f);
   bson_destroy (lock->self.doc);
   bson_free (lock);
}

bool
mongolock_doc_lock_try_acquire (mongolock_doc_lock_t *lock, bool *acquired, bson_error_t *error)
{
   if (!lock || !acquired) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is NULL", lock ? "acquired" : "lock");
      return false;
   }
   return _mongolock_handle_acquire (&lock->h, acquired, error);
}

bool
mongolock_doc_lock_acquire (mongolock_doc_lock_t *lock, bson_error_t *error)
{
   if (!lock) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "lock is NULL");
      return false;
   }
   return _mongolock_handle_acquire (&lock->h, NULL, error);
}

bool
mongolock_doc_lock_renew (mongolock_doc_lock_t *lock, bson_error_t *error)
{
   if (!lock) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "lock is NULL");
      return false;
   }
   return _mongolock_handle_renew (&lock->h, error);
}

bool
mongolock_doc_lock_release (mongolock_doc_lock_t *lock, bson_error_t *error)
{
   if (!lock) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "lock is NULL");
      return false;
   }
   return _mongolock_handle_release (&lock->h, error);
}

const bson_t *
mongolock_doc_lock_document (const mongolock_doc_lock_t *lock)
{
   return lock && !bson_empty (lock->self.doc) ? lock->self.doc : NULL;
}

bool
mongolock_doc_lock_is_held (const mongolock_doc_lock_t *lock)
{
   return lock && _mongolock_lease_held (lock->h.lease);
}

int64_t
mongolock_doc_lock_token (const mongolock_doc_lock_t *lock)
{
   return lock ? _mongolock_lease_token (lock->h.lease) : 0;
}

int64_t
mongolock_doc_lock_remaining_ms (const mongolock_doc_lock_t *lock)
{
   return lock ? _mongolock_lease_remaining_ms (lock->h.lease) : 0;
}

const char *
mongolock_doc_lock_owner (const mongolock_doc_lock_t *lock)
{
   return lock ? lock->h.owner : NULL;
}

const char *
mongolock_doc_lock_key (const mongolock_doc_lock_t *lock)
{
   return lock ? lock->h.key : NULL;
}
