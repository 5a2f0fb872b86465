/* SPDX-License-Identifier: Apache-2.0 */
/* The lease of one handle: hold state shared with the scheduler and in-flight renewals,
 * under the client's scheduler lock; and event delivery. */
#include "engine-private.h"

_mongolock_lease_t *
_mongolock_lease_new (mongolock_client_t *client, const char *key, int64_t lease_ms, mongolock_event_cb_t cb,
                      void *cb_data)
{
   _mongolock_lease_t *l = bson_malloc0 (sizeof *l);
   l->client = client;
   l->refs = 1;
   l->key = bson_strdup (key);
   l->lease_ms = lease_ms;
   l->cb = cb;
   l->cb_data = cb_data;
   return l;
}

void
_mongolock_lease_unref_locked (_mongolock_lease_t *lease)
{
   if (--lease->refs > 0) {
      return;
   }
   if (lease->renew_cmd) {
      bson_destroy (lease->renew_cmd);
   }
   bson_free (lease->key);
   bson_free (lease->db);
   bson_free (lease);
}

void
_mongolock_lease_destroy (_mongolock_lease_t *lease)
{
   if (!lease) {
      return;
   }
   _mongolock_sched_remove (lease);
   mongolock_client_t *client = lease->client;
   pthread_mutex_lock (&client->sched.mu);
   _mongolock_lease_unref_locked (lease);
   pthread_mutex_unlock (&client->sched.mu);
}

void
_mongolock_lease_emit (const _mongolock_lease_t *lease,
                       mongolock_event_type_t type,
                       int64_t token,
                       int64_t wait_ms,
                       int64_t hold_ms,
                       int attempts,
                       const bson_error_t *error)
{
   if (!lease->cb) {
      return;
   }
   mongolock_event_t ev = {type, lease->key, token, wait_ms, hold_ms, attempts, error, NULL};
   lease->cb (&ev, lease->cb_data);
}

void
_mongolock_lease_emit_wait_mode (const _mongolock_lease_t *lease, const char *mode, int64_t wait_ms, int attempts,
                                 const bson_error_t *why)
{
   if (!lease->cb) {
      return;
   }
   mongolock_event_t ev = {MONGOLOCK_EVENT_WAIT_MODE, lease->key, 0, wait_ms, 0, attempts, why, mode};
   lease->cb (&ev, lease->cb_data);
}

int64_t
_mongolock_lease_remaining_ms (_mongolock_lease_t *lease)
{
   pthread_mutex_lock (&lease->client->sched.mu);
   int64_t left = lease->held ? lease->expiry_ms - _mongolock_now_ms () : 0;
   pthread_mutex_unlock (&lease->client->sched.mu);
   return left > 0 ? left : 0;
}

int64_t
_mongolock_lease_token (_mongolock_lease_t *lease)
{
   pthread_mutex_lock (&lease->client->sched.mu);
   int64_t token = lease->token;
   pthread_mutex_unlock (&lease->client->sched.mu);
   return token;
}

bool
_mongolock_lease_held (_mongolock_lease_t *lease)
{
   return _mongolock_lease_remaining_ms (lease) > 0;
}

int64_t
_mongolock_lease_hold_ms (_mongolock_lease_t *lease)
{
   pthread_mutex_lock (&lease->client->sched.mu);
   int64_t acquired = lease->acquired_ms;
   pthread_mutex_unlock (&lease->client->sched.mu);
   return _mongolock_now_ms () - acquired;
}

void
_mongolock_lease_set_held (_mongolock_lease_t *lease, int64_t token, int64_t sent_ms)
{
   pthread_mutex_lock (&lease->client->sched.mu);
   if (!lease->held || lease->token != token) {
      lease->acquired_ms = _mongolock_now_ms ();
   }
   lease->held = true;
   lease->token = token;
   lease->expiry_ms = sent_ms + lease->lease_ms;
   pthread_mutex_unlock (&lease->client->sched.mu);
}

bool
_mongolock_lease_renewed (_mongolock_lease_t *lease, int64_t token, bool renewed, int64_t sent_ms)
{
   pthread_mutex_lock (&lease->client->sched.mu);
   bool current = lease->held && lease->token == token;
   if (current) {
      if (!renewed) {
         lease->held = false;
      } else if (sent_ms + lease->lease_ms > lease->expiry_ms) {
         lease->expiry_ms = sent_ms + lease->lease_ms;
      }
   }
   pthread_cond_broadcast (&lease->client->sched.cond);
   pthread_mutex_unlock (&lease->client->sched.mu);
   return current;
}

bool
_mongolock_lease_end (_mongolock_lease_t *lease, int64_t *token)
{
   pthread_mutex_lock (&lease->client->sched.mu);
   bool held = lease->held;
   lease->held = false;
   if (token) {
      *token = lease->token;
   }
   pthread_mutex_unlock (&lease->client->sched.mu);
   return held;
}
