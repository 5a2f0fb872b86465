/* SPDX-License-Identifier: Apache-2.0 */
/* The public API of semaphores: argument checks, then the lease engine (lib/engine) on
 * the semaphore shape (lib/shapes/semaphore.c). */
#include "semaphore-private.h"

mongolock_semaphore_t *
mongolock_semaphore_new (mongolock_client_t *client,
                         const char *key,
                         int32_t permits,
                         const mongolock_lock_opts_t *opts,
                         bson_error_t *error)
{
   if (!client) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "client is NULL");
      return NULL;
   }
   if (!_mongolock_check_string ("semaphore key", key, MONGOLOCK_KEY_MAX_BYTES, error)) {
      return NULL;
   }
   if (permits < 1 || permits > MONGOLOCK_SEMAPHORE_PERMITS_MAX) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_INVALID_ARGUMENT,
                            "permits must be 1..%d, not %d",
                            MONGOLOCK_SEMAPHORE_PERMITS_MAX,
                            (int) permits);
      return NULL;
   }
   mongolock_lock_opts_t *defaults = opts ? NULL : mongolock_lock_opts_new ();
   mongolock_semaphore_t *sem = bson_malloc0 (sizeof *sem);
   bool ok = _mongolock_handle_init (
      &sem->h, client, &_mongolock_semaphore_shape, &sem->self, key, opts ? opts : defaults, error);
   mongolock_lock_opts_destroy (defaults);
   if (!ok) {
      bson_free (sem);
      return NULL;
   }
   sem->self.key = sem->h.key;
   sem->self.permits = permits;
   return sem;
}

void
mongolock_semaphore_destroy (mongolock_semaphore_t *sem)
{
   if (!sem) {
      return;
   }
   _mongolock_handle_cleanup (&sem->h);
   bson_free (sem);
}

static bool
check (const mongolock_semaphore_t *sem, bson_error_t *error)
{
   if (!sem) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "semaphore is NULL");
   }
   return sem != NULL;
}

bool
mongolock_semaphore_try_acquire (mongolock_semaphore_t *sem, bool *acquired, bson_error_t *error)
{
   if (!check (sem, error)) {
      return false;
   }
   if (!acquired) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "acquired is NULL");
      return false;
   }
   return _mongolock_handle_acquire (&sem->h, acquired, error);
}

bool
mongolock_semaphore_acquire (mongolock_semaphore_t *sem, bson_error_t *error)
{
   return check (sem, error) && _mongolock_handle_acquire (&sem->h, NULL, error);
}

bool
mongolock_semaphore_renew (mongolock_semaphore_t *sem, bson_error_t *error)
{
   return check (sem, error) && _mongolock_handle_renew (&sem->h, error);
}

bool
mongolock_semaphore_release (mongolock_semaphore_t *sem, bson_error_t *error)
{
   return check (sem, error) && _mongolock_handle_release (&sem->h, error);
}

bool
mongolock_semaphore_is_held (const mongolock_semaphore_t *sem)
{
   return sem && _mongolock_lease_held (sem->h.lease);
}

int64_t
mongolock_semaphore_token (const mongolock_semaphore_t *sem)
{
   return sem ? _mongolock_lease_token (sem->h.lease) : 0;
}

int64_t
mongolock_semaphore_remaining_ms (const mongolock_semaphore_t *sem)
{
   return sem ? _mongolock_lease_remaining_ms (sem->h.lease) : 0;
}

const char *
mongolock_semaphore_owner (const mongolock_semaphore_t *sem)
{
   return sem ? sem->h.owner : NULL;
}

const char *
mongolock_semaphore_key (const mongolock_semaphore_t *sem)
{
   return sem ? sem->h.key : NULL;
}

int32_t
mongolock_semaphore_permits (const mongolock_semaphore_t *sem)
{
   return sem ? sem->self.permits : 0;
}
