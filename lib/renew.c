#include "lock-private.h"

#include <string.h>
#include <time.h>

/* Renew when a third of the lease has passed; after a failed renewal retry every tenth of
 * the lease (at least 10 ms) until the lease runs out by the client's clock. */
static int64_t
retry_delay_ms (const mongolock_lock_t *lock)
{
   int64_t d = lock->opts.lease_ms / 10;
   return d < 10 ? 10 : d;
}

static void
wait_until (_mongolock_lease_t *l, int64_t when_ms)
{
   /* bson_get_monotonic_time is CLOCK_MONOTONIC, the clock the condvar was set up with. */
   struct timespec ts = {.tv_sec = (time_t) (when_ms / 1000), .tv_nsec = (long) (when_ms % 1000) * 1000000L};
   int rc = pthread_cond_timedwait (&l->cond, &l->mu, &ts);
   (void) rc;
}

static void *
renewer_main (void *arg)
{
   mongolock_lock_t *lock = arg;
   _mongolock_lease_t *l = lock->lease;
   bool failed = false;
   bson_error_t last_error = {0};
   pthread_mutex_lock (&l->mu);
   while (!l->stop && l->held) {
      int64_t now = _mongolock_now_ms ();
      if (now >= l->expiry_ms) {
         /* Could not renew in time: from now on the server may give the lock to another. */
         l->held = false;
         int64_t token = l->token, held_for = now - l->acquired_ms;
         pthread_mutex_unlock (&l->mu);
         bson_error_t lost;
         _mongolock_set_error (&lost,
                               MONGOLOCK_ERROR_LOST,
                               "the lease on \"%s\" ran out before it could be renewed%s%s",
                               lock->key,
                               failed ? ": " : "",
                               failed ? last_error.message : "");
         _mongolock_emit (lock, MONGOLOCK_EVENT_LOST, token, 0, held_for, 0, &lost);
         pthread_mutex_lock (&l->mu);
         break;
      }
      int64_t due = failed ? now + retry_delay_ms (lock) : l->expiry_ms - (lock->opts.lease_ms * 2) / 3;
      if (due > l->expiry_ms) {
         due = l->expiry_ms;
      }
      if (now < due) {
         wait_until (l, due);
         continue;
      }
      pthread_mutex_unlock (&l->mu);
      bool renewed = false;
      bson_error_t error;
      bool ok = _mongolock_lock_renew_once (lock, &renewed, &error);
      pthread_mutex_lock (&l->mu);
      if (l->stop) {
         break;
      }
      int64_t token = l->token, held_for = _mongolock_now_ms () - l->acquired_ms;
      if (ok && renewed) {
         failed = false;
         pthread_mutex_unlock (&l->mu);
         _mongolock_emit (lock, MONGOLOCK_EVENT_RENEWED, token, 0, held_for, 0, NULL);
         pthread_mutex_lock (&l->mu);
      } else if (ok) {
         /* The server no longer has us as holder (renew_once cleared held). */
         pthread_mutex_unlock (&l->mu);
         bson_error_t lost;
         _mongolock_set_error (&lost,
                               MONGOLOCK_ERROR_LOST,
                               "lock \"%s\" was lost: the server no longer records this handle as its holder",
                               lock->key);
         _mongolock_emit (lock, MONGOLOCK_EVENT_LOST, token, 0, held_for, 0, &lost);
         pthread_mutex_lock (&l->mu);
         break;
      } else {
         failed = true;
         last_error = error;
      }
   }
   pthread_mutex_unlock (&l->mu);
   return NULL;
}

bool
_mongolock_renewer_start (mongolock_lock_t *lock, bson_error_t *error)
{
   BSON_ASSERT (!lock->renewer_running);
   lock->lease->stop = false;
   int rc = pthread_create (&lock->renewer, NULL, renewer_main, lock);
   if (rc != 0) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INTERNAL, "cannot start the renewal thread: %s", strerror (rc));
      return false;
   }
   lock->renewer_running = true;
   return true;
}

void
_mongolock_renewer_stop (mongolock_lock_t *lock)
{
   if (!lock->renewer_running) {
      return;
   }
   pthread_mutex_lock (&lock->lease->mu);
   lock->lease->stop = true;
   pthread_cond_broadcast (&lock->lease->cond);
   pthread_mutex_unlock (&lock->lease->mu);
   pthread_join (lock->renewer, NULL);
   lock->renewer_running = false;
}
