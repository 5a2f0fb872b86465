/* SPDX-License-Identifier: Apache-2.0 */
/* The acquire loop, the same for every lock shape: one deadline bounds the whole call
 * (commands included), busy attempts back off with full jitter clamped to the holder's
 * remaining lease, a raised cancellation flag ends it at once, and a hold is reported
 * only with at least half of its lease left. With the client's change-stream watcher
 * (watcher.c) a waiter instead sleeps until the holder's lease ends and is woken early
 * when the holder releases. */
#include "engine-private.h"

/* How often one attempt may see E11000 from a concurrent upsert before giving up. */
#define MAX_DUPLICATE_RETRIES 10
/* See the attempt deadline in _mongolock_handle_acquire. */
#define GRACE_MS 250
/* The longest sleep while the client's change stream is being opened. */
#define STARTING_MAX_SLEEP_MS 2000

/* Handles an acquire on a handle that already holds its lock. Returns true when nothing
 * more is to be done (*done set), false with error for a non-reentrant handle. */
static bool
reenter (_mongolock_handle_t *h, bool *done, bson_error_t *error)
{
   *done = false;
   if (h->count > 0 && !_mongolock_lease_held (h->lease)) {
      /* The previous lease ran out or was lost: forget that hold and start afresh. */
      _mongolock_sched_remove (h->lease);
      (void) _mongolock_lease_end (h->lease, NULL);
      h->count = 0;
      _mongolock_handle_next_owner (h);
   }
   if (h->count == 0) {
      return true;
   }
   if (!h->reentrant) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_WOULD_DEADLOCK,
                            "this handle already holds lock \"%s\" and is not reentrant",
                            h->key);
      return false;
   }
   h->count++;
   *done = true;
   return true;
}

/* One attempt, retrying a concurrent-upsert E11000 at once: after it the document exists,
 * so the next try updates instead of inserting and decides held or busy. */
static bool
attempt (_mongolock_handle_t *h, bool join, int64_t deadline, _mongolock_attempt_t *res, int64_t *sent,
         int *round_trips, _mongolock_watch_entry_t *we, bson_error_t *error)
{
   /* Only a fair shape's command depends on join: others share one command. */
   bson_t **cmd = join || !h->fair ? &h->acquire_cmd : &h->try_cmd;
   if (!*cmd) {
      *cmd = h->shape->acquire_cmd (h->self, h->client, h->owner, h->lease_ms, join || !h->fair);
   }
   _mongolock_call_t call = {*cmd, true, deadline, h->cancel, h->db};
   bool ok = false;
   for (int i = 0; i <= MAX_DUPLICATE_RETRIES; i++) {
      bson_t reply;
      bson_error_t err;
      (*round_trips)++;
      bool answered = _mongolock_exec (h->client, &call, &reply, sent, &err);
      if (answered) {
         ok = h->shape->parse_acquire (h->self, h->owner, &reply, res, error);
         if (ok && we && !res->acquired) {
            _mongolock_watch_note_answer (h->client, we, &reply);
         }
      } else if (error) {
         *error = err;
      }
      bson_destroy (&reply);
      /* err is set only when the command failed; a reply the shape refused (e.g. a
       * document lock's missing document) is final. */
      if (answered || !_mongolock_is_duplicate_key (&err)) {
         break;
      }
   }
   return ok;
}

int64_t
_mongolock_holder_left_ms (_mongolock_handle_t *h, int64_t holder_expires_ms, int64_t deadline)
{
   int64_t offset;
   if (holder_expires_ms < 0 || !_mongolock_client_clock_offset (h->client, deadline, &offset)) {
      return -1;
   }
   int64_t left = holder_expires_ms - (_mongolock_wall_ms () + offset);
   return left < 0 ? 0 : left;
}

static bool
after_acquired (_mongolock_handle_t *h, int64_t start_ms, int round_trips, bson_error_t *error)
{
   _mongolock_lease_t *l = h->lease;
   int64_t token = _mongolock_lease_token (l);
   if (h->auto_renew) {
      bson_t *renew = h->shape->renew_cmd (h->self, h->client, h->owner, token, h->lease_ms);
      if (!_mongolock_sched_add (l, renew, h->shape->parse_update, error)) {
         h->count = 1;
         (void) _mongolock_handle_release (h, NULL); /* don't leave a lease we cannot keep */
         return false;
      }
   }
   h->count = 1;
   _mongolock_lease_emit (l, MONGOLOCK_EVENT_ACQUIRED, token, _mongolock_now_ms () - start_ms, 0, round_trips, NULL);
   return true;
}

/* Ends a wait: TIMED_OUT to the callback, error for the caller. */
static bool
give_up (_mongolock_handle_t *h, int64_t start, int round_trips, const bson_error_t *why, bson_error_t *error)
{
   _mongolock_lease_emit (h->lease, MONGOLOCK_EVENT_TIMED_OUT, 0, _mongolock_now_ms () - start, 0, round_trips, why);
   if (error) {
      *error = *why;
   }
   return false;
}

/* Sleeps until min(until, deadline), or until the handle's cancellation flag is raised:
 * then false with MONGOLOCK_ERROR_CANCELLED. */
static bool
pause_until (_mongolock_handle_t *h, int64_t until, int64_t deadline, bson_error_t *error)
{
   if (!_mongolock_sleep_until (until < deadline ? until : deadline, h->cancel)) {
      _mongolock_set_cancelled (error, "the acquire");
      return false;
   }
   return true;
}

static bool
give_up_busy (_mongolock_handle_t *h, int64_t start, int round_trips, bson_error_t *error)
{
   bson_error_t timeout;
   _mongolock_set_error (&timeout,
                         MONGOLOCK_ERROR_TIMEOUT,
                         "lock \"%s\" is held by another owner; gave up after %" PRId64 " ms and %d attempts",
                         h->key,
                         _mongolock_now_ms () - start,
                         round_trips);
   return give_up (h, start, round_trips, &timeout, error);
}

/* Counts the answers in a row that said "still held" although the estimate had the
 * holder's lease over (see _mongolock_backoff_clamp); once per answer (fresh). */
static void
count_early (int64_t holder_left, bool fresh, int *early)
{
   if (fresh && holder_left >= 0) {
      *early = holder_left == 0 ? *early + 1 : 0;
   }
}

/* How long a busy waiter sleeps, and (*mode_name) the wait mode when known. With a change
 * stream, until the holder's lease ends (a release wakes it earlier); else the backoff.
 * fresh: the first choice for this answer (not a re-choice after a mode change). */
static int64_t
busy_sleep_ms (_mongolock_handle_t *h, _mongolock_watch_entry_t *we, int n, int64_t holder_expires_ms,
               int64_t now, int64_t deadline, bool fresh, int *early, const char **mode_name,
               _mongolock_watch_mode_t *mode_out, bson_error_t *why)
{
   *mode_name = NULL;
   _mongolock_watch_mode_t mode = we ? _mongolock_watch_mode (h->client, we, why) : _MONGOLOCK_WATCH_BACKOFF;
   *mode_out = mode;
   if (we && mode != _MONGOLOCK_WATCH_BACKOFF) {
      /* The stream is open, or opening (then its opening, or its failure, ends the sleep
       * early; bounded in case opening hangs). */
      *mode_name = mode == _MONGOLOCK_WATCH_STREAM ? "change-stream" : NULL;
      int64_t holder_left = _mongolock_holder_left_ms (h, holder_expires_ms, deadline);
      count_early (holder_left, fresh, early);
      int64_t sleep_ms = _mongolock_backoff_next_ms (
         &h->rng, n, MONGOLOCK_BACKOFF_UNTIL_EXPIRY, h->backoff_base_ms, h->backoff_cap_ms, holder_left);
      if (mode == _MONGOLOCK_WATCH_STARTING && sleep_ms > STARTING_MAX_SLEEP_MS) {
         sleep_ms = STARTING_MAX_SLEEP_MS;
      }
      return _mongolock_backoff_clamp (sleep_ms, deadline - now, holder_left, *early);
   }
   if (we && mode == _MONGOLOCK_WATCH_BACKOFF) {
      *mode_name = "backoff";
   }
   /* The holder's lease is estimated (a hello at most once a minute) only when needed. */
   bool until_expiry = h->backoff_strategy == MONGOLOCK_BACKOFF_UNTIL_EXPIRY;
   int64_t holder_left = until_expiry ? _mongolock_holder_left_ms (h, holder_expires_ms, deadline) : -1;
   int64_t sleep_ms = _mongolock_backoff_next_ms (
      &h->rng, n, h->backoff_strategy, h->backoff_base_ms, h->backoff_cap_ms, holder_left);
   if (sleep_ms > 0) {
      if (!until_expiry) {
         holder_left = _mongolock_holder_left_ms (h, holder_expires_ms, deadline);
      }
      count_early (holder_left, fresh, early);
      sleep_ms = _mongolock_backoff_clamp (sleep_ms, deadline - now, holder_left, *early);
   }
   return sleep_ms;
}

static bool
acquire_loop (_mongolock_handle_t *h, bool *acquired, _mongolock_watch_entry_t *we, bson_error_t *error)
{
   bool waiting = acquired == NULL;
   if (acquired) {
      *acquired = false;
   }
   bool done;
   if (!reenter (h, &done, error)) {
      return false;
   }
   if (done) {
      if (acquired) {
         *acquired = true;
      }
      return true;
   }
   int64_t start = _mongolock_now_ms ();
   int64_t wait = waiting ? h->wait_ms : 0;
   int64_t deadline = start + (wait > 0 ? wait : h->client->timeout_ms);
   if (mongolock_cancel_is_raised (h->cancel)) {
      _mongolock_set_cancelled (error, "the acquire");
      return false;
   }
   int round_trips = 0;
   h->head_n = -1;
   bool short_before = false;
   int early = 0;
   const char *reported_mode = NULL;
   for (int n = 0;; n++) {
      unsigned releases = 0; /* for a fair waiter: releases of the key counted from here */
      if (we) {
         /* a release after this wakes the sleep below */
         _mongolock_watch_rearm (h->client, we, h->fair ? h->owner : NULL);
         releases = _mongolock_watch_releases (h->client, we, NULL);
      }
      _mongolock_attempt_t res = {0};
      int64_t sent = 0;
      bson_error_t err;
      /* An attempt begun before the deadline may finish a little after it, by
       * max(GRACE_MS, 8 x what the client's last answer took), never more than the
       * client's timeout: so a busy lock is reported busy, not unreachable, when the
       * deadline falls in the middle of a round trip on a loaded machine. No grace before
       * the client has had any answer (an unreachable server gets none). */
      int64_t attempt_deadline = deadline;
      int64_t rtt = h->client->rtt_ms;
      if (rtt >= 0) {
         int64_t grace = 8 * rtt > GRACE_MS ? 8 * rtt : GRACE_MS;
         grace = grace < h->client->timeout_ms ? grace : h->client->timeout_ms;
         int64_t graced = _mongolock_now_ms () + grace;
         attempt_deadline = graced > deadline ? graced : deadline;
      }
      if (!attempt (h, waiting && wait > 0, attempt_deadline, &res, &sent, &round_trips, we, &err)) {
         if (waiting && err.domain == MONGOLOCK_ERROR_DOMAIN && err.code == MONGOLOCK_ERROR_STORE_TIMEOUT) {
            return give_up (h, start, round_trips, &err, error);
         }
         bool retry = waiting && wait > 0 && h->retry_transient && _mongolock_is_transient (&err);
         if (!retry) {
            if (error) {
               *error = err;
            }
            return false;
         }
         /* An election or a network hiccup: try again, within the wait. The last error is
          * what the call returns if the wait runs out first. */
         int64_t now = _mongolock_now_ms ();
         int64_t pause = _mongolock_backoff_ms (&h->rng, n, h->backoff_base_ms, h->backoff_cap_ms);
         if (now < deadline && !pause_until (h, now + pause, deadline, error)) {
            return false;
         }
         if (_mongolock_now_ms () >= deadline) {
            return give_up (h, start, round_trips, &err, error);
         }
         continue;
      }
      if (h->fair) {
         h->queued = !res.acquired && res.queue_pos >= 0;
      }
      if (res.acquired) {
         _mongolock_lease_set_held (h->lease, res.token, sent);
         int64_t left = _mongolock_lease_remaining_ms (h->lease);
         if (left >= h->lease_ms / 2) {
            if (acquired) {
               *acquired = true;
            }
            return after_acquired (h, start, round_trips, error);
         }
         if (!short_before) {
            /* Connecting or a slow round trip used up much of the lease: take it again at
             * once (same owner, same token) on the connection that is now open. */
            short_before = true;
            n--;
            continue;
         }
         h->count = 1;
         (void) _mongolock_handle_release (h, NULL);
         _mongolock_set_error (error,
                               MONGOLOCK_ERROR_LEASE_TOO_SHORT,
                               "lock \"%s\": only %" PRId64 " ms of the %" PRId64
                               " ms lease were left when the server's answer came (twice); released it: use a "
                               "longer lease for this connection",
                               h->key,
                               left,
                               h->lease_ms);
         return false;
      }
      int64_t now = _mongolock_now_ms ();
      _mongolock_lease_emit (h->lease, MONGOLOCK_EVENT_CONTENDED, 0, now - start, 0, round_trips, NULL);
      if (!waiting) {
         return true;
      }
      if (wait == 0 || now >= deadline) {
         return give_up_busy (h, start, round_trips, error);
      }
      /* A queued fair waiter sleeps until its turn can have come (fair.c). */
      for (bool fair = h->fair && res.queue_pos >= 0; fair; fair = false) {
         const char *mode_name;
         bson_error_t why;
         if (!_mongolock_fair_sleep (h, we, releases, &res, n, sent, deadline, &mode_name, &why)) {
            _mongolock_set_cancelled (error, "the acquire");
            return false;
         }
         if (mode_name && mode_name != reported_mode) {
            reported_mode = mode_name;
            _mongolock_lease_emit_wait_mode (h->lease, mode_name, _mongolock_now_ms () - start, round_trips,
                                             mode_name[0] == 'b' ? &why : NULL);
         }
      }
      /* Sleep; a change of the watcher's mode (the stream opened or failed) only makes
       * the waiter choose its sleep again. */
      for (bool again = !(h->fair && res.queue_pos >= 0), fresh = true; again; fresh = false) {
         again = false;
         const char *mode_name;
         bson_error_t why;
         now = _mongolock_now_ms ();
         _mongolock_watch_mode_t mode;
         int64_t sleep_ms = busy_sleep_ms (h, we, n, res.holder_expires_ms, now, deadline, fresh, &early, &mode_name,
                                           &mode, &why);
         if (mode_name && mode_name != reported_mode) {
            reported_mode = mode_name;
            _mongolock_lease_emit_wait_mode (h->lease, mode_name, _mongolock_now_ms () - start, round_trips,
                                             mode_name[0] == 'b' ? &why : NULL);
         }
         if (sleep_ms > 0) {
            int64_t until = _mongolock_now_ms () + sleep_ms;
            until = until < deadline ? until : deadline;
            /* The mode the sleep was chosen for: a stream that failed (or opened) since
             * then ends it at once, rather than after a sleep meant for the other mode. */
            bool slept = we ? _mongolock_watch_sleep (h->client, we, until, mode, h->cancel, &again)
                            : _mongolock_sleep_until (until, h->cancel);
            if (!slept) {
               _mongolock_set_cancelled (error, "the acquire");
               return false;
            }
         }
      }
      if (mongolock_cancel_is_raised (h->cancel)) {
         _mongolock_set_cancelled (error, "the acquire");
         return false;
      }
      if (_mongolock_now_ms () >= deadline) {
         return give_up_busy (h, start, round_trips, error); /* as the last answer said */
      }
   }
}

bool
_mongolock_handle_acquire (_mongolock_handle_t *h, bool *acquired, bson_error_t *error)
{
   if (acquired || h->wait_ms <= 0 || !h->shape->watch_target || !h->client->wake_on_release) {
      bool ok = acquire_loop (h, acquired, NULL, error);
      _mongolock_handle_dequeue (h);
      return ok;
   }
   /* Registered before the first attempt: a release after its busy answer is not missed. */
   _mongolock_watch_target_t target = {0};
   h->shape->watch_target (h->self, h->client, &target);
   if (!target.db) {
      target.db = h->db;
   }
   _mongolock_watch_entry_t we;
   _mongolock_watch_register (h->client, &target, &we);
   bool ok = acquire_loop (h, acquired, &we, error);
   _mongolock_watch_unregister (h->client, &we);
   _mongolock_handle_dequeue (h); /* a fair waiter that gave up leaves the queue */
   return ok;
}
