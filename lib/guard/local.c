/* SPDX-License-Identifier: Apache-2.0 */
/* Fail-open mode: keyed process-local mutexes and the per-key warning throttle. Entries
 * live while a thread holds or waits for the key, or while its last warning is recent
 * (so the throttle remembers it); idle entries are pruned as the table grows. */
#include "guard-private.h"

#include <string.h>
#include <time.h>

/* Prune idle entries when the table grows past this (and doubles it when all are busy). */
#define PRUNE_AT 256

static size_t
bucket_of (const char *key)
{
   uint32_t h = 2166136261u; /* FNV-1a */
   for (const unsigned char *p = (const unsigned char *) key; *p; p++) {
      h = (h ^ *p) * 16777619u;
   }
   return h % _MONGOLOCK_LOCAL_BUCKETS;
}

void
_mongolock_local_init (_mongolock_local_table_t *t)
{
   memset (t, 0, sizeof *t);
   pthread_mutex_init (&t->mu, NULL);
   t->warn_interval_ms = MONGOLOCK_GUARD_WARNING_INTERVAL_MS;
}

static void
entry_free (_mongolock_local_entry_t *e)
{
   pthread_cond_destroy (&e->cond);
   bson_free (e->key);
   bson_free (e);
}

void
_mongolock_local_destroy (_mongolock_local_table_t *t)
{
   for (size_t b = 0; b < _MONGOLOCK_LOCAL_BUCKETS; b++) {
      _mongolock_local_entry_t *e = t->buckets[b];
      while (e) {
         _mongolock_local_entry_t *next = e->next;
         entry_free (e);
         e = next;
      }
      t->buckets[b] = NULL;
   }
   pthread_mutex_destroy (&t->mu);
}

static bool
idle (const _mongolock_local_table_t *t, const _mongolock_local_entry_t *e, int64_t now)
{
   return e->users == 0 && (e->last_warn_ms < 0 || now - e->last_warn_ms >= t->warn_interval_ms);
}

/* Called with t->mu held. */
static void
prune (_mongolock_local_table_t *t, int64_t now)
{
   for (size_t b = 0; b < _MONGOLOCK_LOCAL_BUCKETS; b++) {
      _mongolock_local_entry_t **pp = &t->buckets[b];
      while (*pp) {
         _mongolock_local_entry_t *e = *pp;
         if (idle (t, e, now)) {
            *pp = e->next;
            entry_free (e);
            t->count--;
         } else {
            pp = &e->next;
         }
      }
   }
}

/* Finds or creates key's entry. Called with t->mu held. */
static _mongolock_local_entry_t *
entry_get (_mongolock_local_table_t *t, const char *key)
{
   size_t b = bucket_of (key);
   for (_mongolock_local_entry_t *e = t->buckets[b]; e; e = e->next) {
      if (strcmp (e->key, key) == 0) {
         return e;
      }
   }
   if (t->count >= PRUNE_AT) {
      prune (t, _mongolock_now_ms ());
   }
   _mongolock_local_entry_t *e = bson_malloc0 (sizeof *e);
   e->key = bson_strdup (key);
   e->last_warn_ms = -1;
   pthread_condattr_t attr;
   pthread_condattr_init (&attr);
   pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
   pthread_cond_init (&e->cond, &attr);
   pthread_condattr_destroy (&attr);
   e->next = t->buckets[b];
   t->buckets[b] = e;
   t->count++;
   return e;
}

/* Drops key's entry when nothing needs it any more. Called with t->mu held. */
static void
entry_maybe_drop (_mongolock_local_table_t *t, _mongolock_local_entry_t *e)
{
   if (!idle (t, e, _mongolock_now_ms ())) {
      return;
   }
   for (_mongolock_local_entry_t **pp = &t->buckets[bucket_of (e->key)]; *pp; pp = &(*pp)->next) {
      if (*pp == e) {
         *pp = e->next;
         entry_free (e);
         t->count--;
         return;
      }
   }
}

bool
_mongolock_local_lock (_mongolock_local_table_t *t, const char *key, int64_t wait_ms)
{
   /* bson_get_monotonic_time is CLOCK_MONOTONIC, the condvar's clock. */
   int64_t deadline = _mongolock_now_ms () + wait_ms;
   struct timespec ts = {.tv_sec = (time_t) (deadline / 1000), .tv_nsec = (long) (deadline % 1000) * 1000000L};
   pthread_mutex_lock (&t->mu);
   _mongolock_local_entry_t *e = entry_get (t, key);
   e->users++;
   bool got = true;
   while (e->held) {
      if (pthread_cond_timedwait (&e->cond, &t->mu, &ts) != 0 && e->held) {
         got = false;
         break;
      }
   }
   if (got) {
      e->held = true;
   } else {
      e->users--;
      entry_maybe_drop (t, e);
   }
   pthread_mutex_unlock (&t->mu);
   return got;
}

void
_mongolock_local_unlock (_mongolock_local_table_t *t, const char *key)
{
   pthread_mutex_lock (&t->mu);
   _mongolock_local_entry_t *e = entry_get (t, key);
   BSON_ASSERT (e->held && e->users > 0);
   e->held = false;
   e->users--;
   if (e->users > 0) {
      pthread_cond_signal (&e->cond);
   } else {
      entry_maybe_drop (t, e);
   }
   pthread_mutex_unlock (&t->mu);
}

bool
_mongolock_local_warn_due (_mongolock_local_table_t *t, const char *key)
{
   int64_t now = _mongolock_now_ms ();
   pthread_mutex_lock (&t->mu);
   _mongolock_local_entry_t *e = entry_get (t, key);
   bool due = e->last_warn_ms < 0 || now - e->last_warn_ms >= t->warn_interval_ms;
   if (due) {
      e->last_warn_ms = now;
   }
   pthread_mutex_unlock (&t->mu);
   return due;
}

size_t
_mongolock_local_count (_mongolock_local_table_t *t)
{
   pthread_mutex_lock (&t->mu);
   size_t n = t->count;
   pthread_mutex_unlock (&t->mu);
   return n;
}
