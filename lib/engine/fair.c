/* SPDX-License-Identifier: Apache-2.0 */
/* When a queued fair waiter tries again (mongolock_lock_opts_set_fair). Its place in the
 * server's queue comes with every busy answer; it tries again only when that attempt can
 * change something: enough releases of the key have passed to bring it to the head (each
 * release hands the lock to the head, so the waiter at place p is at the head, with the
 * lock free, after p + 1 of them), its holder's lease ends (the head) or the head's queue
 * entry runs out (second in line: a dead head), or its own entry needs refreshing. That is
 * about one command per 1.5 s while queued, whatever the release rate. Without a change
 * stream it polls with its backoff (bounded by the refresh), which the queue still keeps
 * from barging. */
#include "engine-private.h"

/* A queued waiter refreshes its entry this often: half its queue lease, so a waiter that
 * is late by up to one refresh (1.5 s on a loaded machine) keeps its place. */
#define FAIR_REFRESH_MS (MONGOLOCK_FAIR_QUEUE_LEASE_MS / 2)
/* The longest sleep while the client's change stream is being opened (as acquire.c). */
#define STARTING_MAX_SLEEP_MS 2000

static int64_t
min64 (int64_t a, int64_t b)
{
   return a < b ? a : b;
}

/* When an event the waiter cannot see (an expiry) may let it take the lock: the holder's
 * lease end for the head, the later of that and the head's entry expiry for the second in
 * line; plus a jitter up to the backoff base. -1: none expected. */
static int64_t
expiry_due_ms (_mongolock_handle_t *h, const _mongolock_attempt_t *res, int64_t now, int64_t deadline)
{
   int64_t server_ms = -1;
   if (res->queue_pos == 0) {
      server_ms = res->holder_expires_ms;
   } else if (res->queue_pos == 1 && res->head_expires_ms >= 0) {
      server_ms = res->holder_expires_ms > res->head_expires_ms ? res->holder_expires_ms : res->head_expires_ms;
   }
   int64_t left = server_ms >= 0 ? _mongolock_holder_left_ms (h, server_ms, deadline) : -1;
   if (left < 0) {
      return -1;
   }
   int64_t jitter = (int64_t) (_mongolock_rand_next (&h->rng) % (uint64_t) (h->backoff_base_ms + 1));
   return now + left + jitter;
}

bool
_mongolock_fair_sleep (_mongolock_handle_t *h, _mongolock_watch_entry_t *we, unsigned base_releases,
                       const _mongolock_attempt_t *res, int n, int64_t sent_ms, int64_t deadline,
                       const char **mode_name, bson_error_t *why)
{
   int64_t now = _mongolock_now_ms ();
   int64_t refresh_at = (sent_ms > 0 ? sent_ms : now) + FAIR_REFRESH_MS;
   _mongolock_watch_mode_t mode = we ? _mongolock_watch_mode (h->client, we, why) : _MONGOLOCK_WATCH_BACKOFF;
   *mode_name = !we ? NULL : mode == _MONGOLOCK_WATCH_STREAM ? "change-stream"
                     : mode == _MONGOLOCK_WATCH_BACKOFF ? "backoff" : NULL;
   if (res->queue_pos > 1) {
      h->head_n = -1;
   } else if (h->head_n < 0) {
      h->head_n = n;
   }
   if (mode == _MONGOLOCK_WATCH_BACKOFF) {
      /* The backoff starts afresh when the waiter is next but one: the head's turn comes
       * with the next release, and the one behind it learns it is the head only by
       * asking, however long either has queued. */
      int k = res->queue_pos <= 1 ? n - h->head_n : n;
      int64_t left = _mongolock_holder_left_ms (h, res->holder_expires_ms, deadline);
      int64_t sleep_ms = _mongolock_backoff_next_ms (
         &h->rng, k, h->backoff_strategy, h->backoff_base_ms, h->backoff_cap_ms, left);
      int64_t until = min64 (min64 (now + sleep_ms, refresh_at), deadline);
      if (!_mongolock_sleep_until (until, h->cancel)) {
         return false;
      }
      return true;
   }
   int64_t until = min64 (refresh_at, deadline);
   int64_t expiry = expiry_due_ms (h, res, now, deadline);
   if (expiry >= 0) {
      until = min64 (until, expiry);
   }
   if (mode == _MONGOLOCK_WATCH_STARTING) {
      until = min64 (until, now + STARTING_MAX_SLEEP_MS);
   }
   /* Each release hands the lock to the head: at place p, p + 1 releases bring this waiter
    * to the head of a free lock, or p when the lock was already released (not yet taken). */
   unsigned need = (unsigned) res->queue_pos + (res->no_owner ? 0 : 1);
   need = need > 0 ? need : 1;
   for (;;) {
      bool uncovered = false;
      unsigned seen = _mongolock_watch_releases (h->client, we, &uncovered) - base_releases;
      if (uncovered || seen >= need || _mongolock_now_ms () >= until) {
         return true;
      }
      bool mode_changed = false;
      if (!_mongolock_watch_sleep (h->client, we, until, mode, h->cancel, &mode_changed)) {
         return false;
      }
      if (mode_changed) {
         return true; /* one attempt more, then the sleep of the new mode */
      }
   }
}
