/* SPDX-License-Identifier: Apache-2.0 */
#include "engine-private.h"

#include <stdatomic.h>
#include <time.h>

struct _mongolock_cancel_t {
   atomic_bool raised;
   pthread_mutex_t mu; /* guards the waiter list; taken before any waiter's mutex */
   _mongolock_waiter_t *waiters;
};

mongolock_cancel_t *
mongolock_cancel_new (void)
{
   mongolock_cancel_t *c = bson_malloc0 (sizeof *c);
   atomic_init (&c->raised, false);
   pthread_mutex_init (&c->mu, NULL);
   return c;
}

void
mongolock_cancel_destroy (mongolock_cancel_t *cancel)
{
   if (!cancel) {
      return;
   }
   pthread_mutex_destroy (&cancel->mu);
   bson_free (cancel);
}

void
mongolock_cancel_raise (mongolock_cancel_t *cancel)
{
   if (!cancel) {
      return;
   }
   atomic_store (&cancel->raised, true);
   pthread_mutex_lock (&cancel->mu);
   for (_mongolock_waiter_t *w = cancel->waiters; w; w = w->next) {
      /* Taking the waiter's mutex orders this wake-up after its check of the flag. */
      pthread_mutex_lock (w->mu);
      pthread_cond_broadcast (w->cond);
      pthread_mutex_unlock (w->mu);
   }
   pthread_mutex_unlock (&cancel->mu);
}

void
mongolock_cancel_reset (mongolock_cancel_t *cancel)
{
   if (cancel) {
      atomic_store (&cancel->raised, false);
   }
}

bool
mongolock_cancel_is_raised (const mongolock_cancel_t *cancel)
{
   return cancel && atomic_load_explicit (&cancel->raised, memory_order_seq_cst);
}

void
_mongolock_cancel_add (mongolock_cancel_t *cancel, _mongolock_waiter_t *w)
{
   if (!cancel) {
      return;
   }
   pthread_mutex_lock (&cancel->mu);
   w->prev = NULL;
   w->next = cancel->waiters;
   if (w->next) {
      w->next->prev = w;
   }
   cancel->waiters = w;
   pthread_mutex_unlock (&cancel->mu);
}

void
_mongolock_cancel_remove (mongolock_cancel_t *cancel, _mongolock_waiter_t *w)
{
   if (!cancel) {
      return;
   }
   pthread_mutex_lock (&cancel->mu);
   if (w->prev) {
      w->prev->next = w->next;
   } else {
      cancel->waiters = w->next;
   }
   if (w->next) {
      w->next->prev = w->prev;
   }
   pthread_mutex_unlock (&cancel->mu);
}

void
_mongolock_set_cancelled (bson_error_t *error, const char *what)
{
   _mongolock_set_error (error, MONGOLOCK_ERROR_CANCELLED, "%s was cancelled", what);
}

void
_mongolock_cond_init (pthread_cond_t *cond)
{
   pthread_condattr_t attr;
   pthread_condattr_init (&attr);
   pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
   pthread_cond_init (cond, &attr);
   pthread_condattr_destroy (&attr);
}

void
_mongolock_cond_wait_until (pthread_cond_t *cond, pthread_mutex_t *mu, int64_t until_ms)
{
   /* _mongolock_now_ms is bson_get_monotonic_time, i.e. CLOCK_MONOTONIC. */
   struct timespec ts = {.tv_sec = (time_t) (until_ms / 1000), .tv_nsec = (long) (until_ms % 1000) * 1000000L};
   (void) pthread_cond_timedwait (cond, mu, &ts);
}

bool
_mongolock_sleep_until (int64_t until_ms, mongolock_cancel_t *cancel)
{
   if (!cancel) {
      _mongolock_sleep_ms (until_ms - _mongolock_now_ms ());
      return true;
   }
   pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
   pthread_cond_t cond;
   _mongolock_cond_init (&cond);
   _mongolock_waiter_t w = {&mu, &cond, NULL, NULL};
   _mongolock_cancel_add (cancel, &w);
   pthread_mutex_lock (&mu);
   while (!mongolock_cancel_is_raised (cancel) && _mongolock_now_ms () < until_ms) {
      _mongolock_cond_wait_until (&cond, &mu, until_ms);
   }
   pthread_mutex_unlock (&mu);
   _mongolock_cancel_remove (cancel, &w);
   pthread_cond_destroy (&cond);
   pthread_mutex_destroy (&mu);
   return !mongolock_cancel_is_raised (cancel);
}
