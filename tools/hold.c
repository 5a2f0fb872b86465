/* SPDX-License-Identifier: Apache-2.0 */
/* One of the three lock kinds behind the calls `mongolock run` needs (hold.h). */
#include "hold.h"

struct cli_hold {
   mongolock_lock_t *lock;
   mongolock_semaphore_t *sem;
   mongolock_rwlock_t *rw;
};

cli_hold_t *
cli_hold_new (mongolock_client_t *client, const char *key, int permits, bool shared, const mongolock_lock_opts_t *lo,
              bson_error_t *error)
{
   cli_hold_t *h = bson_malloc0 (sizeof *h);
   if (permits > 0) {
      h->sem = mongolock_semaphore_new (client, key, permits, lo, error);
   } else if (shared) {
      h->rw = mongolock_rwlock_new (client, key, MONGOLOCK_RWLOCK_READ, lo, error);
   } else {
      h->lock = mongolock_lock_new (client, key, lo, error);
   }
   if (!h->sem && !h->rw && !h->lock) {
      bson_free (h);
      return NULL;
   }
   return h;
}

void
cli_hold_destroy (cli_hold_t *h)
{
   if (h) {
      mongolock_lock_destroy (h->lock);
      mongolock_semaphore_destroy (h->sem);
      mongolock_rwlock_destroy (h->rw);
      bson_free (h);
   }
}

bool
cli_hold_try_acquire (cli_hold_t *h, bool *acquired, bson_error_t *error)
{
   return h->sem  ? mongolock_semaphore_try_acquire (h->sem, acquired, error)
          : h->rw ? mongolock_rwlock_try_acquire (h->rw, acquired, error)
                  : mongolock_lock_try_acquire (h->lock, acquired, error);
}

bool
cli_hold_acquire (cli_hold_t *h, bson_error_t *error)
{
   return h->sem  ? mongolock_semaphore_acquire (h->sem, error)
          : h->rw ? mongolock_rwlock_acquire (h->rw, error)
                  : mongolock_lock_acquire (h->lock, error);
}

bool
cli_hold_release (cli_hold_t *h, bson_error_t *error)
{
   return h->sem  ? mongolock_semaphore_release (h->sem, error)
          : h->rw ? mongolock_rwlock_release (h->rw, error)
                  : mongolock_lock_release (h->lock, error);
}

bool
cli_hold_is_held (const cli_hold_t *h)
{
   return h->sem ? mongolock_semaphore_is_held (h->sem) : h->rw ? mongolock_rwlock_is_held (h->rw)
                                                                : mongolock_lock_is_held (h->lock);
}

int64_t
cli_hold_token (const cli_hold_t *h)
{
   return h->sem ? mongolock_semaphore_token (h->sem) : h->rw ? mongolock_rwlock_token (h->rw)
                                                              : mongolock_lock_token (h->lock);
}

int64_t
cli_hold_remaining_ms (const cli_hold_t *h)
{
   return h->sem  ? mongolock_semaphore_remaining_ms (h->sem)
          : h->rw ? mongolock_rwlock_remaining_ms (h->rw)
                  : mongolock_lock_remaining_ms (h->lock);
}

const char *
cli_hold_key (const cli_hold_t *h)
{
   return h->sem ? mongolock_semaphore_key (h->sem) : h->rw ? mongolock_rwlock_key (h->rw)
                                                            : mongolock_lock_key (h->lock);
}

const char *
cli_hold_what (const cli_hold_t *h)
{
   return h->sem ? "semaphore" : h->rw ? "shared lock" : "lock";
}

char *
cli_hold_holder (cli_hold_t *h)
{
   char *holder = NULL;
   if (h->lock) {
      (void) mongolock_lock_get_holder (h->lock, &holder, NULL, NULL);
   }
   return holder;
}
