/* SPDX-License-Identifier: Apache-2.0 */
/* One renewal scheduler per client: a single thread renews every auto-renewed lease of
 * the client and declares a lease lost when it runs out by the client's monotonic clock.
 * Renew commands run on the client's workers (exec.c), so a renew stuck on the network
 * delays neither the watchdog nor any other lease's renewals.
 *
 * Timing of one lease (L = lease length):
 *   - the first renew is due a third into the lease (expiry - 2L/3);
 *   - after a failed renew, the next is due L/10 (at least 10 ms) after the failure: the
 *     due time is fixed when the failure is recorded, and retries go on until the lease
 *     is really gone;
 *   - a renew with no answer after L/10 (at least 20 ms) is joined by another one on a
 *     fresh connection (at most MAX_IN_FLIGHT at once): a late answer still counts; after
 *     a success, renews still in flight do not delay the next regular one. On a slow link
 *     (round trip R) renews are thus pipelined, and the lease left stays above about
 *     L - R - max(L/10, R/3) instead of dipping to L - 2R between answers;
 *   - each renew is abandoned at the lease's end, when LOST fires. */
#include "engine-private.h"

#include <string.h>

#define MAX_IN_FLIGHT 3

typedef struct {
   _mongolock_lease_t *lease;
   int64_t token;
} renew_ctx_t;

static int64_t
retry_delay_ms (const _mongolock_lease_t *l)
{
   int64_t d = l->lease_ms / 10;
   return d < 10 ? 10 : d;
}

static int64_t
attempt_timeout_ms (const _mongolock_lease_t *l)
{
   int64_t d = l->lease_ms / 10;
   return d < 20 ? 20 : d;
}

/* When l next wants a renew sent (under the lock); INT64_MAX for never. Renews still in
 * flight that were sent before the last success do not hold back the next regular one. */
static int64_t
next_send_ms (const _mongolock_lease_t *l)
{
   if (l->in_flight >= MAX_IN_FLIGHT) {
      return INT64_MAX;
   }
   if (l->in_flight == 0 || l->attempt_ms <= l->renewed_ms) {
      return l->next_renew_ms;
   }
   return l->attempt_ms + attempt_timeout_ms (l);
}

/* Runs the lease's callback without the lock; a concurrent _mongolock_sched_remove waits
 * for it. Called and returns with the lock held. */
static void
emit_unlocked (_mongolock_lease_t *l, mongolock_event_type_t type, int64_t token, const bson_error_t *error)
{
   mongolock_client_t *client = l->client;
   int64_t held_for = _mongolock_now_ms () - l->acquired_ms;
   l->emitting++;
   pthread_mutex_unlock (&client->sched.mu);
   _mongolock_lease_emit (l, type, token, 0, held_for, 0, error);
   pthread_mutex_lock (&client->sched.mu);
   l->emitting--;
   pthread_cond_broadcast (&client->sched.cond);
}

static void
renew_done (void *arg, bool ok, const bson_t *reply, const bson_error_t *error, int64_t sent_ms)
{
   renew_ctx_t *ctx = arg;
   _mongolock_lease_t *l = ctx->lease;
   mongolock_client_t *client = l->client;
   bool renewed = false;
   bson_error_t err;
   if (ok) {
      ok = l->parse_renew (reply, &renewed, &err);
   } else {
      err = *error;
   }
   pthread_mutex_lock (&client->sched.mu);
   l->in_flight--;
   if (l->registered && l->held && l->token == ctx->token) {
      int64_t now = _mongolock_now_ms ();
      if (ok && renewed) {
         if (sent_ms + l->lease_ms > l->expiry_ms) {
            l->expiry_ms = sent_ms + l->lease_ms;
         }
         l->renew_failed = false;
         l->renewed_ms = now;
         l->next_renew_ms = l->expiry_ms - (l->lease_ms * 2) / 3;
         emit_unlocked (l, MONGOLOCK_EVENT_RENEWED, ctx->token, NULL);
      } else if (ok) {
         /* The server no longer has us as holder: definitive, whatever else is in flight. */
         l->held = false;
         bson_error_t lost;
         _mongolock_set_error (&lost,
                               MONGOLOCK_ERROR_LOST,
                               "lock \"%s\" was lost: the server no longer records this handle as its holder",
                               l->key);
         emit_unlocked (l, MONGOLOCK_EVENT_LOST, ctx->token, &lost);
      } else {
         l->renew_failed = true;
         l->renew_error = err;
         if (l->in_flight == 0) {
            l->next_renew_ms = now + retry_delay_ms (l);
         }
      }
   }
   pthread_cond_broadcast (&client->sched.cond);
   _mongolock_lease_unref_locked (l);
   pthread_mutex_unlock (&client->sched.mu);
   bson_free (ctx);
}

/* Sends a renew for l (under the lock). */
static void
send_renew (_mongolock_lease_t *l, int64_t now)
{
   renew_ctx_t *ctx = bson_malloc (sizeof *ctx);
   ctx->lease = l;
   ctx->token = l->token;
   l->refs++;
   l->in_flight++;
   l->attempt_ms = now;
   _mongolock_call_t call = {l->renew_cmd, true, l->expiry_ms, NULL, l->db};
   _mongolock_exec_async (l->client, &call, renew_done, ctx);
}

static void
declare_lost (_mongolock_lease_t *l)
{
   /* From now on the server may give the lock to another. */
   l->held = false;
   bson_error_t lost;
   _mongolock_set_error (&lost,
                         MONGOLOCK_ERROR_LOST,
                         "the lease on \"%s\" ran out before it could be renewed%s%s",
                         l->key,
                         l->renew_failed ? ": " : "",
                         l->renew_failed ? l->renew_error.message : "");
   emit_unlocked (l, MONGOLOCK_EVENT_LOST, l->token, &lost);
}

static void *
sched_main (void *arg)
{
   mongolock_client_t *client = arg;
   _mongolock_sched_state_t *s = &client->sched;
   pthread_mutex_lock (&s->mu);
   while (!s->stop) {
      int64_t now = _mongolock_now_ms ();
      int64_t wake = now + 60000;
      bool rescan = false;
      for (_mongolock_lease_t *l = s->head; l && !rescan; l = l->next) {
         if (!l->held) {
            continue;
         }
         if (now >= l->expiry_ms) {
            l->refs++;
            declare_lost (l); /* drops the lock: the list may change */
            _mongolock_lease_unref_locked (l);
            rescan = true;
            break;
         }
         if (now >= next_send_ms (l)) {
            send_renew (l, now);
         }
         int64_t next = next_send_ms (l);
         if (next < wake) {
            wake = next;
         }
         if (l->expiry_ms < wake) {
            wake = l->expiry_ms;
         }
      }
      if (!rescan) {
         _mongolock_cond_wait_until (&s->cond, &s->mu, wake);
      }
   }
   pthread_mutex_unlock (&s->mu);
   return NULL;
}

bool
_mongolock_sched_add (_mongolock_lease_t *l, bson_t *renew_cmd, _mongolock_parse_renew_fn parse, bson_error_t *error)
{
   mongolock_client_t *client = l->client;
   _mongolock_sched_state_t *s = &client->sched;
   pthread_mutex_lock (&s->mu);
   if (!s->running) {
      int rc = pthread_create (&s->thread, NULL, sched_main, client);
      if (rc != 0) {
         pthread_mutex_unlock (&s->mu);
         bson_destroy (renew_cmd);
         _mongolock_set_error (error, MONGOLOCK_ERROR_INTERNAL, "cannot start the renewal thread: %s", strerror (rc));
         return false;
      }
      s->running = true;
   }
   BSON_ASSERT (!l->registered);
   if (l->renew_cmd) {
      bson_destroy (l->renew_cmd);
   }
   l->renew_cmd = renew_cmd;
   l->parse_renew = parse;
   l->registered = true;
   l->renew_failed = false;
   l->renewed_ms = 0;
   l->next_renew_ms = l->expiry_ms - (l->lease_ms * 2) / 3;
   l->prev = NULL;
   l->next = s->head;
   if (s->head) {
      s->head->prev = l;
   }
   s->head = l;
   l->refs++;
   pthread_cond_broadcast (&s->cond);
   pthread_mutex_unlock (&s->mu);
   return true;
}

void
_mongolock_sched_remove (_mongolock_lease_t *l)
{
   mongolock_client_t *client = l->client;
   _mongolock_sched_state_t *s = &client->sched;
   pthread_mutex_lock (&s->mu);
   if (l->registered) {
      l->registered = false;
      if (l->prev) {
         l->prev->next = l->next;
      } else {
         s->head = l->next;
      }
      if (l->next) {
         l->next->prev = l->prev;
      }
      l->prev = l->next = NULL;
      _mongolock_lease_unref_locked (l); /* the handle still holds its own reference */
   }
   while (l->emitting > 0) {
      pthread_cond_wait (&s->cond, &s->mu);
   }
   pthread_mutex_unlock (&s->mu);
}

void
_mongolock_sched_shutdown (mongolock_client_t *client)
{
   _mongolock_sched_state_t *s = &client->sched;
   pthread_mutex_lock (&s->mu);
   bool running = s->running;
   s->stop = true;
   pthread_cond_broadcast (&s->cond);
   pthread_mutex_unlock (&s->mu);
   if (running) {
      pthread_join (s->thread, NULL);
   }
}
