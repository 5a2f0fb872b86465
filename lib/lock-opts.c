/* SPDX-License-Identifier: Apache-2.0 */
#include "lock-private.h"

mongolock_lock_opts_t *
mongolock_lock_opts_new (void)
{
   mongolock_lock_opts_t *opts = bson_malloc0 (sizeof *opts);
   opts->lease_ms = MONGOLOCK_DEFAULT_LEASE_MS;
   opts->wait_ms = MONGOLOCK_DEFAULT_WAIT_MS;
   opts->backoff_base_ms = MONGOLOCK_DEFAULT_BACKOFF_BASE_MS;
   opts->backoff_cap_ms = MONGOLOCK_DEFAULT_BACKOFF_CAP_MS;
   return opts;
}

void
mongolock_lock_opts_destroy (mongolock_lock_opts_t *opts)
{
   bson_free (opts);
}

static bool
check_opts (const mongolock_lock_opts_t *opts, bson_error_t *error)
{
   if (!opts) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "opts is NULL");
   }
   return opts != NULL;
}

bool
mongolock_lock_opts_set_lease_ms (mongolock_lock_opts_t *opts, int64_t lease_ms, bson_error_t *error)
{
   if (!check_opts (opts, error) ||
       !_mongolock_check_range ("lease (ms)", lease_ms, MONGOLOCK_LEASE_MIN_MS, MONGOLOCK_LEASE_MAX_MS, error)) {
      return false;
   }
   opts->lease_ms = lease_ms;
   return true;
}

bool
mongolock_lock_opts_set_wait_ms (mongolock_lock_opts_t *opts, int64_t wait_ms, bson_error_t *error)
{
   if (!check_opts (opts, error) || !_mongolock_check_range ("wait (ms)", wait_ms, 0, MONGOLOCK_WAIT_MAX_MS, error)) {
      return false;
   }
   opts->wait_ms = wait_ms;
   return true;
}

bool
mongolock_lock_opts_set_backoff (mongolock_lock_opts_t *opts, int64_t base_ms, int64_t cap_ms, bson_error_t *error)
{
   if (!check_opts (opts, error) ||
       !_mongolock_check_range ("backoff base (ms)", base_ms, 1, MONGOLOCK_BACKOFF_MAX_MS, error) ||
       !_mongolock_check_range ("backoff cap (ms)", cap_ms, base_ms, MONGOLOCK_BACKOFF_MAX_MS, error)) {
      return false;
   }
   opts->backoff_base_ms = base_ms;
   opts->backoff_cap_ms = cap_ms;
   return true;
}

bool
mongolock_lock_opts_set_backoff_strategy (mongolock_lock_opts_t *opts,
                                          mongolock_backoff_strategy_t strategy,
                                          bson_error_t *error)
{
   if (!check_opts (opts, error)) {
      return false;
   }
   if (strategy != MONGOLOCK_BACKOFF_FULL_JITTER && strategy != MONGOLOCK_BACKOFF_UNTIL_EXPIRY) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "unknown backoff strategy %d", (int) strategy);
      return false;
   }
   opts->backoff_strategy = strategy;
   return true;
}

void
mongolock_lock_opts_set_auto_renew (mongolock_lock_opts_t *opts, bool auto_renew)
{
   if (opts) {
      opts->auto_renew = auto_renew;
   }
}

void
mongolock_lock_opts_set_reentrant (mongolock_lock_opts_t *opts, bool reentrant)
{
   if (opts) {
      opts->reentrant = reentrant;
   }
}

void
mongolock_lock_opts_set_event_callback (mongolock_lock_opts_t *opts, mongolock_event_cb_t cb, void *user_data)
{
   if (opts) {
      opts->cb = cb;
      opts->cb_data = user_data;
   }
}

void
mongolock_lock_opts_set_cancel (mongolock_lock_opts_t *opts, mongolock_cancel_t *cancel)
{
   if (opts) {
      opts->cancel = cancel;
   }
}

void
mongolock_lock_opts_set_fair (mongolock_lock_opts_t *opts, bool fair)
{
   if (opts) {
      opts->fair = fair;
   }
}
