/* SPDX-License-Identifier: Apache-2.0 */
/* The public API of named locks: argument checks, then the lease engine (lib/engine)
 * on the named-lock shape (lib/shapes/named.c). */
#include "lock-private.h"

#include <string.h>

mongolock_lock_t *
mongolock_lock_new (mongolock_client_t *client, const char *key, const mongolock_lock_opts_t *opts, bson_error_t *error)
{
   if (!client) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "client is NULL");
      return NULL;
   }
   if (!_mongolock_check_string ("lock key", key, MONGOLOCK_KEY_MAX_BYTES, error)) {
      return NULL;
   }
   mongolock_lock_opts_t *defaults = opts ? NULL : mongolock_lock_opts_new ();
   mongolock_lock_t *lock = bson_malloc0 (sizeof *lock);
   bool ok = _mongolock_handle_init (&lock->h, client, &_mongolock_named_shape, NULL, key, opts ? opts : defaults, error);
   mongolock_lock_opts_destroy (defaults);
   if (!ok) {
      bson_free (lock);
      return NULL;
   }
   _mongolock_named_init (&lock->named, client, lock->h.key, lock->h.lease_ms);
   if (lock->h.fair) {
      _mongolock_named_set_fair (&lock->named, client);
   }
   lock->h.self = &lock->named;
   return lock;
}

void
mongolock_lock_destroy (mongolock_lock_t *lock)
{
   if (!lock) {
      return;
   }
   _mongolock_handle_cleanup (&lock->h);
   _mongolock_named_cleanup (&lock->named);
   bson_free (lock);
}

bool
mongolock_lock_try_acquire (mongolock_lock_t *lock, bool *acquired, bson_error_t *error)
{
   if (!lock || !acquired) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is NULL", lock ? "acquired" : "lock");
      return false;
   }
   return _mongolock_handle_acquire (&lock->h, acquired, error);
}

bool
mongolock_lock_acquire (mongolock_lock_t *lock, bson_error_t *error)
{
   if (!lock) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "lock is NULL");
      return false;
   }
   return _mongolock_handle_acquire (&lock->h, NULL, error);
}

bool
mongolock_lock_renew (mongolock_lock_t *lock, bson_error_t *error)
{
   if (!lock) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "lock is NULL");
      return false;
   }
   return _mongolock_handle_renew (&lock->h, error);
}

bool
mongolock_lock_release (mongolock_lock_t *lock, bson_error_t *error)
{
   if (!lock) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "lock is NULL");
      return false;
   }
   return _mongolock_handle_release (&lock->h, error);
}

bool
mongolock_lock_is_held (const mongolock_lock_t *lock)
{
   return lock && _mongolock_lease_held (lock->h.lease);
}

int64_t
mongolock_lock_token (const mongolock_lock_t *lock)
{
   return lock ? _mongolock_lease_token (lock->h.lease) : 0;
}

int64_t
mongolock_lock_remaining_ms (const mongolock_lock_t *lock)
{
   return lock ? _mongolock_lease_remaining_ms (lock->h.lease) : 0;
}

void
_mongolock_lock_set_retry_transient (mongolock_lock_t *lock, bool retry)
{
   lock->h.retry_transient = retry;
}

const char *
mongolock_lock_owner (const mongolock_lock_t *lock)
{
   return lock ? lock->h.owner : NULL;
}

const char *
mongolock_lock_key (const mongolock_lock_t *lock)
{
   return lock ? lock->h.key : NULL;
}

bool
mongolock_lock_get_holder (mongolock_lock_t *lock, char **holder, int64_t *token, bson_error_t *error)
{
   if (!lock || !holder) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is NULL", lock ? "holder" : "lock");
      return false;
   }
   *holder = NULL;
   if (token) {
      *token = 0;
   }
   /* Liveness is computed by the server in the same command that reads the document; so is
    * the number of live holders of a semaphore or reader/writer lock on the key. */
   bson_t *live_holders = _mongolock_live_holders_new ();
   bson_t *cmd = BCON_NEW ("aggregate", BCON_UTF8 (lock->h.client->collection),
                           "pipeline", "[",
                              "{", "$match", "{", "_id", BCON_UTF8 (lock->h.key), "}", "}",
                              "{", "$project", "{", "owner", BCON_INT32 (1), "token", BCON_INT32 (1), "kind", BCON_INT32 (1),
                                 "live", "{", "$gt", "[", BCON_UTF8 ("$expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
                                 "holders", "{", "$size", BCON_DOCUMENT (live_holders), "}",
                              "}", "}",
                           "]",
                           "cursor", "{", "}");
   bson_t reply;
   bool ok = _mongolock_client_read_command (lock->h.client, cmd, &reply, error);
   bson_iter_t batch, doc;
   if (ok && _mongolock_first_batch (&reply, &batch) && bson_iter_next (&batch) && BSON_ITER_HOLDS_DOCUMENT (&batch) &&
       bson_iter_recurse (&batch, &doc)) {
      const char *owner = NULL, *kind = NULL;
      bool live = false;
      int64_t t = 0, holders = 0;
      while (bson_iter_next (&doc)) {
         const char *k = bson_iter_key (&doc);
         if (strcmp (k, "owner") == 0 && BSON_ITER_HOLDS_UTF8 (&doc)) {
            owner = bson_iter_utf8 (&doc, NULL);
         } else if (strcmp (k, "token") == 0 && BSON_ITER_HOLDS_NUMBER (&doc)) {
            t = bson_iter_as_int64 (&doc);
         } else if (strcmp (k, "live") == 0 && BSON_ITER_HOLDS_BOOL (&doc)) {
            live = bson_iter_bool (&doc);
         } else if (strcmp (k, "holders") == 0 && BSON_ITER_HOLDS_NUMBER (&doc)) {
            holders = bson_iter_as_int64 (&doc);
         } else if (strcmp (k, "kind") == 0 && BSON_ITER_HOLDS_UTF8 (&doc)) {
            kind = bson_iter_utf8 (&doc, NULL);
         }
      }
      if (holders > 0 && !(live && owner)) {
         /* Held, but not by one owner: "free" would be a lie. */
         _mongolock_set_error (error,
                               MONGOLOCK_ERROR_MISMATCH,
                               "lock \"%s\" is a %s with %" PRId64 " live holder%s, not a named lock",
                               lock->h.key,
                               kind && strcmp (kind, "rwlock") == 0 ? "reader/writer lock" : "semaphore",
                               holders,
                               holders == 1 ? "" : "s");
         ok = false;
      } else if (live && owner) {
         *holder = bson_strdup (owner);
         if (token) {
            *token = t;
         }
      }
   }
   bson_destroy (&reply);
   bson_destroy (cmd);
   bson_destroy (live_holders);
   return ok;
}
