/* SPDX-License-Identifier: Apache-2.0 */
/* The public API of reader/writer locks: argument checks, then the lease engine (lib/engine) on
 * the rwlock shape (lib/shapes/rwlock.c). */
#include "rwlock-private.h"

mongolock_rwlock_t *
mongolock_rwlock_new (mongolock_client_t *client,
                         const char *key,
                         mongolock_rwlock_mode_t mode,
                         const mongolock_lock_opts_t *opts,
                         bson_error_t *error)
{
   if (!client) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "client is NULL");
      return NULL;
   }
   if (!_mongolock_check_string ("rwlock key", key, MONGOLOCK_KEY_MAX_BYTES, error)) {
      return NULL;
   }
   if (mode != MONGOLOCK_RWLOCK_READ && mode != MONGOLOCK_RWLOCK_WRITE) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "mode must be READ or WRITE, not %d", (int) mode);
      return NULL;
   }
   mongolock_lock_opts_t *defaults = opts ? NULL : mongolock_lock_opts_new ();
   mongolock_rwlock_t *rw = bson_malloc0 (sizeof *rw);
   bool ok = _mongolock_handle_init (
      &rw->h, client, &_mongolock_rwlock_shape, &rw->self, key, opts ? opts : defaults, error);
   mongolock_lock_opts_destroy (defaults);
   if (!ok) {
      bson_free (rw);
      return NULL;
   }
   rw->self.key = rw->h.key;
   rw->self.mode = mode;
   return rw;
}

void
mongolock_rwlock_destroy (mongolock_rwlock_t *rw)
{
   if (!rw) {
      return;
   }
   _mongolock_handle_cleanup (&rw->h);
   bson_free (rw);
}

static bool
check (const mongolock_rwlock_t *rw, bson_error_t *error)
{
   if (!rw) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "rwlock is NULL");
   }
   return rw != NULL;
}

bool
mongolock_rwlock_try_acquire (mongolock_rwlock_t *rw, bool *acquired, bson_error_t *error)
{
   if (!check (rw, error)) {
      return false;
   }
   if (!acquired) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "acquired is NULL");
      return false;
   }
   return _mongolock_handle_acquire (&rw->h, acquired, error);
}

bool
mongolock_rwlock_acquire (mongolock_rwlock_t *rw, bson_error_t *error)
{
   return check (rw, error) && _mongolock_handle_acquire (&rw->h, NULL, error);
}

bool
mongolock_rwlock_renew (mongolock_rwlock_t *rw, bson_error_t *error)
{
   return check (rw, error) && _mongolock_handle_renew (&rw->h, error);
}

bool
mongolock_rwlock_release (mongolock_rwlock_t *rw, bson_error_t *error)
{
   return check (rw, error) && _mongolock_handle_release (&rw->h, error);
}

bool
mongolock_rwlock_is_held (const mongolock_rwlock_t *rw)
{
   return rw && _mongolock_lease_held (rw->h.lease);
}

int64_t
mongolock_rwlock_token (const mongolock_rwlock_t *rw)
{
   return rw ? _mongolock_lease_token (rw->h.lease) : 0;
}

int64_t
mongolock_rwlock_remaining_ms (const mongolock_rwlock_t *rw)
{
   return rw ? _mongolock_lease_remaining_ms (rw->h.lease) : 0;
}

const char *
mongolock_rwlock_owner (const mongolock_rwlock_t *rw)
{
   return rw ? rw->h.owner : NULL;
}

const char *
mongolock_rwlock_key (const mongolock_rwlock_t *rw)
{
   return rw ? rw->h.key : NULL;
}

mongolock_rwlock_mode_t
mongolock_rwlock_mode (const mongolock_rwlock_t *rw)
{
   return rw ? rw->self.mode : (mongolock_rwlock_mode_t) 0;
}
