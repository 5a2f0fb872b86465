/* SPDX-License-Identifier: Apache-2.0 */
/* A handle's life: owner identity and its generations, reentrancy, renew and release. */
#include "engine-private.h"

#include <string.h>

bool
_mongolock_handle_init (_mongolock_handle_t *h,
                        mongolock_client_t *client,
                        const _mongolock_shape_t *shape,
                        const void *self,
                        const char *key,
                        const mongolock_lock_opts_t *opts,
                        bson_error_t *error)
{
   if (opts->fair && !shape->dequeue_cmd) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT,
                            "the fair option is only for named exclusive locks (mongolock_lock_t)");
      return false;
   }
   char nonce[17];
   if (!_mongolock_random_hex (nonce, 8, error)) {
      return false;
   }
   uint64_t seed = 0;
   for (int i = 0; i < 16; i++) {
      seed = seed * 16 + (uint64_t) (nonce[i] <= '9' ? nonce[i] - '0' : nonce[i] - 'a' + 10);
   }
   memset (h, 0, sizeof *h);
   h->client = client;
   h->shape = shape;
   h->self = self;
   h->key = bson_strdup (key);
   memcpy (h->nonce, nonce, sizeof h->nonce);
   h->owner = bson_strdup_printf ("%s/%s", client->identity, nonce);
   h->lease_ms = opts->lease_ms;
   h->wait_ms = opts->wait_ms;
   h->backoff_base_ms = opts->backoff_base_ms;
   h->backoff_cap_ms = opts->backoff_cap_ms;
   h->backoff_strategy = opts->backoff_strategy;
   h->auto_renew = opts->auto_renew;
   h->reentrant = opts->reentrant;
   h->fair = opts->fair;
   h->retry_transient = true;
   h->cancel = opts->cancel;
   h->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
   h->lease = _mongolock_lease_new (client, key, opts->lease_ms, opts->cb, opts->cb_data);
   return true;
}

void
_mongolock_handle_set_database (_mongolock_handle_t *h, const char *db)
{
   bson_free (h->db);
   h->db = bson_strdup (db);
   pthread_mutex_lock (&h->client->sched.mu);
   bson_free (h->lease->db);
   h->lease->db = bson_strdup (db);
   pthread_mutex_unlock (&h->client->sched.mu);
}

void
_mongolock_handle_next_owner (_mongolock_handle_t *h)
{
   /* The old owner can then never be "already ours" again, so a handle told it lost its
    * lease cannot slip back into that lease, under its old fencing token, while the
    * server still has it; it waits for it to expire like anyone else and gets a new
    * token. (A retry after a failed acquire call keeps the owner and may reclaim its own
    * lease.) */
   h->generation++;
   bson_free (h->owner);
   h->owner = bson_strdup_printf ("%s/%s.%u", h->client->identity, h->nonce, h->generation);
   if (h->acquire_cmd) {
      bson_destroy (h->acquire_cmd);
      h->acquire_cmd = NULL;
   }
   if (h->try_cmd) {
      bson_destroy (h->try_cmd);
      h->try_cmd = NULL;
   }
}

static void
set_lost_error (const _mongolock_handle_t *h, bson_error_t *error)
{
   _mongolock_set_error (error,
                         MONGOLOCK_ERROR_LOST,
                         "lock \"%s\" was lost: the server no longer records this handle as its holder",
                         h->key);
}

static bool
owner_update (_mongolock_handle_t *h, bson_t *cmd, bool *matched, int64_t *sent_ms, bson_error_t *error)
{
   _mongolock_call_t call = {cmd, true, _mongolock_now_ms () + h->client->timeout_ms, NULL, h->db};
   bson_t reply;
   bool ok = _mongolock_exec (h->client, &call, &reply, sent_ms, error) &&
             h->shape->parse_update (&reply, matched, error);
   bson_destroy (&reply);
   bson_destroy (cmd);
   return ok;
}

bool
_mongolock_handle_send_release (_mongolock_handle_t *h, int64_t token, bool *matched, bson_error_t *error)
{
   bson_t *cmd = h->shape->release_cmd (h->self, h->client, h->owner, token);
   return owner_update (h, cmd, matched, NULL, error);
}

void
_mongolock_handle_dequeue (_mongolock_handle_t *h)
{
   if (!h->queued || !h->shape->dequeue_cmd) {
      return;
   }
   h->queued = false;
   bson_t *cmd = h->shape->dequeue_cmd (h->self, h->client, h->owner);
   bool matched;
   bson_error_t err;
   /* Best effort: the entry's queue lease ends it anyway. */
   (void) owner_update (h, cmd, &matched, NULL, &err);
}

bool
_mongolock_handle_renew (_mongolock_handle_t *h, bson_error_t *error)
{
   if (h->count == 0) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_NOT_HELD, "lock \"%s\" is not held by this handle", h->key);
      return false;
   }
   _mongolock_lease_t *l = h->lease;
   int64_t token = _mongolock_lease_token (l);
   bool renewed = false;
   if (_mongolock_lease_remaining_ms (l) > 0) {
      bson_t *cmd = h->shape->renew_cmd (h->self, h->client, h->owner, token, h->lease_ms);
      int64_t sent = 0;
      if (!owner_update (h, cmd, &renewed, &sent, error)) {
         return false; /* the handle keeps its state; the caller may retry */
      }
      renewed = _mongolock_lease_renewed (l, token, renewed, sent) && renewed;
   }
   if (!renewed) {
      (void) _mongolock_lease_end (l, NULL);
      bson_error_t lost;
      set_lost_error (h, &lost);
      _mongolock_lease_emit (l, MONGOLOCK_EVENT_LOST, token, 0, _mongolock_lease_hold_ms (l), 0, &lost);
      if (error) {
         *error = lost;
      }
      return false;
   }
   _mongolock_lease_emit (l, MONGOLOCK_EVENT_RENEWED, token, 0, _mongolock_lease_hold_ms (l), 0, NULL);
   return true;
}

bool
_mongolock_handle_release (_mongolock_handle_t *h, bson_error_t *error)
{
   if (h->count == 0) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_NOT_HELD, "lock \"%s\" is not held by this handle", h->key);
      return false;
   }
   if (h->count > 1) {
      h->count--;
      return true;
   }
   _mongolock_lease_t *l = h->lease;
   _mongolock_sched_remove (l);
   h->count = 0;
   int64_t token;
   bool held = _mongolock_lease_end (l, &token); /* false: the lease already ran out or was lost */
   int64_t held_for = _mongolock_lease_hold_ms (l);
   bool matched = false;
   bson_error_t err = {0};
   bool ok = false;
   if (!held) {
      set_lost_error (h, &err);
   } else if (_mongolock_handle_send_release (h, token, &matched, &err)) {
      ok = matched;
      if (!matched) {
         set_lost_error (h, &err); /* someone else's lock now: left untouched */
      }
   }
   _mongolock_lease_emit (l, MONGOLOCK_EVENT_RELEASED, token, 0, held_for, 0, ok ? NULL : &err);
   _mongolock_handle_next_owner (h);
   if (!ok && error) {
      *error = err;
   }
   return ok;
}

void
_mongolock_handle_released_by_write (_mongolock_handle_t *h)
{
   if (h->count > 1) {
      h->count--;
      return;
   }
   _mongolock_lease_t *l = h->lease;
   _mongolock_sched_remove (l);
   h->count = 0;
   int64_t token;
   (void) _mongolock_lease_end (l, &token);
   _mongolock_lease_emit (l, MONGOLOCK_EVENT_RELEASED, token, 0, _mongolock_lease_hold_ms (l), 0, NULL);
   _mongolock_handle_next_owner (h);
}

void
_mongolock_handle_lost (_mongolock_handle_t *h)
{
   _mongolock_lease_t *l = h->lease;
   int64_t token;
   if (!_mongolock_lease_end (l, &token)) {
      return; /* already known: LOST has fired */
   }
   bson_error_t lost;
   set_lost_error (h, &lost);
   _mongolock_lease_emit (l, MONGOLOCK_EVENT_LOST, token, 0, _mongolock_lease_hold_ms (l), 0, &lost);
}

void
_mongolock_handle_cleanup (_mongolock_handle_t *h)
{
   if (h->count > 0) {
      h->count = 1;
      (void) _mongolock_handle_release (h, NULL); /* errors go to the event callback */
   }
   _mongolock_lease_destroy (h->lease);
   if (h->acquire_cmd) {
      bson_destroy (h->acquire_cmd);
   }
   if (h->try_cmd) {
      bson_destroy (h->try_cmd);
   }
   bson_free (h->key);
   bson_free (h->db);
   bson_free (h->owner);
}
