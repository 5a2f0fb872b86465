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

/* Sends renew commands a third into the lease, and after a failure every tenth of it. It
 * never decides that the lease ran out: the watchdog does (this thread may be blocked in a
 * command for up to socketTimeoutMS on a partitioned network). */
static void *
renewer_main (void *arg)
{
   mongolock_lock_t *lock = arg;
   _mongolock_lease_t *l = lock->lease;
   pthread_mutex_lock (&l->mu);
   while (!l->stop && l->held) {
      int64_t now = _mongolock_now_ms ();
      if (now >= l->expiry_ms) {
         pthread_cond_wait (&l->cond, &l->mu); /* the watchdog is declaring it lost */
         continue;
      }
      int64_t due = l->renew_failed ? now + retry_delay_ms (lock) : l->expiry_ms - (lock->opts.lease_ms * 2) / 3;
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
         l->renew_failed = false;
         if (!l->held) {
            break; /* ran out while the command was under way: LOST was reported */
         }
         pthread_mutex_unlock (&l->mu);
         _mongolock_emit (lock, MONGOLOCK_EVENT_RENEWED, token, 0, held_for, 0, NULL);
         pthread_mutex_lock (&l->mu);
      } else if (ok) {
         /* The server no longer has us as holder (renew_once cleared held). */
         pthread_cond_broadcast (&l->cond); /* let the watchdog exit */
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
         l->renew_failed = true;
         l->renew_error = error;
      }
   }
   pthread_mutex_unlock (&l->mu);
   return NULL;
}

/* Declares the lease lost when it runs out by the client's monotonic clock (measured from
 * when the last successful acquire or renew was sent) before a renewal extended it. */
static void *
watchdog_main (void *arg)
{
   mongolock_lock_t *lock = arg;
   _mongolock_lease_t *l = lock->lease;
   pthread_mutex_lock (&l->mu);
   while (!l->stop && l->held) {
      int64_t now = _mongolock_now_ms ();
      if (now < l->expiry_ms) {
         wait_until (l, l->expiry_ms);
         continue;
      }
      /* From now on the server may give the lock to another. */
      l->held = false;
      pthread_cond_broadcast (&l->cond);
      int64_t token = l->token, held_for = now - l->acquired_ms;
      bool failed = l->renew_failed;
      bson_error_t why = l->renew_error;
      pthread_mutex_unlock (&l->mu);
      bson_error_t lost;
      _mongolock_set_error (&lost,
                            MONGOLOCK_ERROR_LOST,
                            "the lease on \"%s\" ran out before it could be renewed%s%s",
                            lock->key,
                            failed ? ": " : "",
                            failed ? why.message : "");
      _mongolock_emit (lock, MONGOLOCK_EVENT_LOST, token, 0, held_for, 0, &lost);
      pthread_mutex_lock (&l->mu);
      break;
   }
   pthread_mutex_unlock (&l->mu);
   return NULL;
}

bool
_mongolock_renewer_start (mongolock_lock_t *lock, bson_error_t *error)
{
   BSON_ASSERT (!lock->renewer_running);
   pthread_mutex_lock (&lock->lease->mu);
   lock->lease->stop = false;
   lock->lease->renew_failed = false;
   pthread_mutex_unlock (&lock->lease->mu);
   int rc = pthread_create (&lock->renewer, NULL, renewer_main, lock);
   if (rc == 0) {
      rc = pthread_create (&lock->watchdog, NULL, watchdog_main, lock);
      if (rc != 0) {
         pthread_mutex_lock (&lock->lease->mu);
         lock->lease->stop = true;
         pthread_cond_broadcast (&lock->lease->cond);
         pthread_mutex_unlock (&lock->lease->mu);
         pthread_join (lock->renewer, NULL);
      }
   }
   if (rc != 0) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INTERNAL, "cannot start the renewal threads: %s", strerror (rc));
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
   pthread_join (lock->watchdog, NULL);
   pthread_join (lock->renewer, NULL);
   lock->renewer_running = false;
}
