/* SPDX-License-Identifier: Apache-2.0 */
/* mongolock_guard_t: run under a create lock, fail closed or open when the store is down. */
#include "guard-private.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

/* The create lock polls quickly: a create holds it for a few round trips. */
#define GUARD_BACKOFF_BASE_MS 2
#define GUARD_BACKOFF_CAP_MS 100

const char *
mongolock_guard_mode_name (mongolock_guard_mode_t mode)
{
   switch (mode) {
   case MONGOLOCK_GUARD_MODE_NONE:
      return "none";
   case MONGOLOCK_GUARD_MODE_LOCKED:
      return "locked";
   case MONGOLOCK_GUARD_MODE_LOCAL:
      return "local";
   }
   return "unknown";
}

mongolock_guard_t *
mongolock_guard_new (mongolock_client_t *client, const mongolock_guard_opts_t *opts, bson_error_t *error)
{
   if (!client) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "client is NULL");
      return NULL;
   }
   mongolock_guard_opts_t *defaults = opts ? NULL : mongolock_guard_opts_new ();
   const mongolock_guard_opts_t *o = opts ? opts : defaults;
   const void *secret = NULL;
   size_t secret_len = 0;
   if (o->secret_source == _MONGOLOCK_SECRET_GIVEN) {
      secret = o->secret;
      secret_len = o->secret_len;
   } else if (o->secret_source == _MONGOLOCK_SECRET_FROM_ENV) {
      const char *env = getenv (MONGOLOCK_KEY_SECRET_ENV);
      if (env && *env) {
         secret = env;
         secret_len = strlen (env);
         if (secret_len > MONGOLOCK_KEY_SECRET_MAX_BYTES) {
            _mongolock_set_error (error,
                                  MONGOLOCK_ERROR_INVALID_ARGUMENT,
                                  "%s is longer than %d bytes",
                                  MONGOLOCK_KEY_SECRET_ENV,
                                  MONGOLOCK_KEY_SECRET_MAX_BYTES);
            mongolock_guard_opts_destroy (defaults);
            return NULL;
         }
      }
   }
   mongolock_guard_t *guard = bson_malloc0 (sizeof *guard);
   guard->client = client;
   guard->lease_ms = o->lease_ms;
   guard->wait_ms = o->wait_ms;
   guard->auto_renew = o->auto_renew;
   guard->degraded = o->degraded;
   guard->store_retry_ms = o->store_retry_ms;
   pthread_mutex_init (&guard->store_mu, NULL);
   if (secret) {
      guard->secret = bson_malloc (secret_len);
      memcpy (guard->secret, secret, secret_len);
      guard->secret_len = secret_len;
   }
   guard->event_cb = o->event_cb;
   guard->event_data = o->event_data;
   guard->warning_cb = o->warning_cb;
   guard->warning_data = o->warning_data;
   _mongolock_local_init (&guard->local);
   mongolock_guard_opts_destroy (defaults);
   return guard;
}

void
mongolock_guard_destroy (mongolock_guard_t *guard)
{
   if (!guard) {
      return;
   }
   if (guard->secret) {
      OPENSSL_cleanse (guard->secret, guard->secret_len);
      bson_free (guard->secret);
   }
   _mongolock_local_destroy (&guard->local);
   pthread_mutex_destroy (&guard->store_mu);
   bson_free (guard);
}

bool
mongolock_guard_has_secret (const mongolock_guard_t *guard)
{
   return guard && guard->secret;
}

void
_mongolock_guard_set_warning_interval_ms (mongolock_guard_t *guard, int64_t ms)
{
   pthread_mutex_lock (&guard->local.mu);
   guard->local.warn_interval_ms = ms;
   pthread_mutex_unlock (&guard->local.mu);
}

bool
mongolock_guard_key (const mongolock_guard_t *guard,
                     const char *ns,
                     const bson_t *attributes,
                     const char *principal,
                     char **key_out,
                     bson_error_t *error)
{
   if (!guard) {
      if (key_out) {
         *key_out = NULL;
      }
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "guard is NULL");
      return false;
   }
   return mongolock_key_build (ns, attributes, principal, guard->secret, guard->secret_len, key_out, error);
}

bool
_mongolock_is_unreachable (const bson_error_t *error)
{
   if (error->domain == MONGOC_ERROR_SERVER_SELECTION) {
      return true;
   }
   if (error->domain == MONGOLOCK_ERROR_DOMAIN) {
      /* No answer before the call's deadline (unreachable, hung or slow). */
      return error->code == MONGOLOCK_ERROR_STORE_TIMEOUT;
   }
   if (error->domain == MONGOC_ERROR_STREAM) {
      return error->code == MONGOC_ERROR_STREAM_NAME_RESOLUTION || error->code == MONGOC_ERROR_STREAM_SOCKET ||
             error->code == MONGOC_ERROR_STREAM_CONNECT || error->code == MONGOC_ERROR_STREAM_NOT_ESTABLISHED;
   }
   return false;
}

bool
_mongolock_is_server_code (const bson_error_t *error, uint32_t code)
{
   return error->code == code && (error->domain == MONGOC_ERROR_SERVER || error->domain == MONGOC_ERROR_QUERY ||
                                  error->domain == MONGOC_ERROR_COLLECTION || error->domain == MONGOC_ERROR_COMMAND ||
                                  error->domain == MONGOC_ERROR_WRITE_CONCERN);
}

/* Runs fn and normalises its failure: an unset error becomes MONGOLOCK_ERROR_CALLBACK. */
static bool
call (mongolock_guard_fn_t fn, mongolock_guard_mode_t mode, int64_t token, void *user_data, bson_error_t *error)
{
   bson_error_t err;
   memset (&err, 0, sizeof err);
   if (fn (mode, token, user_data, &err)) {
      return true;
   }
   if (err.domain == 0 && err.code == 0) {
      _mongolock_set_error (&err, MONGOLOCK_ERROR_CALLBACK, "the guarded callback failed without an error");
   }
   if (error) {
      *error = err;
   }
   return false;
}

static void
emit_degraded (const mongolock_guard_t *guard, const char *key, int64_t wait_ms, const bson_error_t *store_error)
{
   if (!guard->event_cb) {
      return;
   }
   mongolock_event_t ev = {MONGOLOCK_EVENT_DEGRADED, key, 0, wait_ms, 0, 0, store_error, NULL};
   guard->event_cb (&ev, guard->event_data);
}

static void
warn (mongolock_guard_t *guard, const char *key, const bson_error_t *store_error)
{
   if (!_mongolock_local_warn_due (&guard->local, key)) {
      return;
   }
   char *msg = bson_strdup_printf ("the lock store is unreachable (%s); running under a process-local mutex "
                                   "for key %s: other processes are not excluded (at most one warning per key per "
                                   "minute)",
                                   store_error->message,
                                   key);
   if (guard->warning_cb) {
      guard->warning_cb (key, msg, guard->warning_data);
   } else {
      mongoc_log (MONGOC_LOG_LEVEL_WARNING, "mongolock", "%s", msg);
   }
   bson_free (msg);
}

static bool
run_local (mongolock_guard_t *guard,
           const char *key,
           int64_t wait_ms,
           int64_t start_ms,
           const bson_error_t *store_error,
           mongolock_guard_fn_t fn,
           void *user_data,
           mongolock_guard_mode_t *mode,
           bson_error_t *error)
{
   warn (guard, key, store_error);
   /* The store's failure may have used up part of the budget; still allow one try. */
   int64_t left = start_ms + wait_ms - _mongolock_now_ms ();
   if (!_mongolock_local_lock (&guard->local, key, left > 0 ? left : 0)) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_TIMEOUT,
                            "lock \"%s\" (process-local, lock store unreachable) is held by another thread; gave "
                            "up after %" PRId64 " ms",
                            key,
                            _mongolock_now_ms () - start_ms);
      return false;
   }
   emit_degraded (guard, key, _mongolock_now_ms () - start_ms, store_error);
   *mode = MONGOLOCK_GUARD_MODE_LOCAL;
   bool ok = call (fn, MONGOLOCK_GUARD_MODE_LOCAL, 0, user_data, error);
   _mongolock_local_unlock (&guard->local, key);
   return ok;
}

/* Fail-open: whether the store is marked unreachable now; if so, *why receives the error
 * that marked it. */
static bool
store_marked_down (mongolock_guard_t *guard, bson_error_t *why)
{
   if (guard->degraded != MONGOLOCK_GUARD_FAIL_OPEN) {
      return false;
   }
   pthread_mutex_lock (&guard->store_mu);
   bool down = guard->store_down_until_ms > _mongolock_now_ms ();
   if (down) {
      *why = guard->store_error;
   }
   pthread_mutex_unlock (&guard->store_mu);
   return down;
}

/* Records that the store was (reachable) or was not (error set) reached. */
static void
store_mark (mongolock_guard_t *guard, const bson_error_t *unreachable)
{
   pthread_mutex_lock (&guard->store_mu);
   if (unreachable && guard->store_retry_ms > 0) {
      guard->store_down_until_ms = _mongolock_now_ms () + guard->store_retry_ms;
      guard->store_error = *unreachable;
   } else if (!unreachable) {
      guard->store_down_until_ms = 0;
   }
   pthread_mutex_unlock (&guard->store_mu);
}

int64_t
mongolock_guard_store_retry_in_ms (mongolock_guard_t *guard)
{
   if (!guard) {
      return 0;
   }
   pthread_mutex_lock (&guard->store_mu);
   int64_t left = guard->store_down_until_ms - _mongolock_now_ms ();
   pthread_mutex_unlock (&guard->store_mu);
   return left > 0 ? left : 0;
}

static mongolock_lock_t *
make_lock (mongolock_guard_t *guard, const char *key, const _mongolock_call_opts_t *call_opts, bson_error_t *error)
{
   mongolock_lock_opts_t *lo = mongolock_lock_opts_new ();
   bool ok = mongolock_lock_opts_set_lease_ms (lo, call_opts->lease_ms, error) &&
             mongolock_lock_opts_set_wait_ms (lo, call_opts->wait_ms, error) &&
             mongolock_lock_opts_set_backoff (lo, GUARD_BACKOFF_BASE_MS, GUARD_BACKOFF_CAP_MS, error);
   mongolock_lock_opts_set_auto_renew (lo, guard->auto_renew);
   mongolock_lock_opts_set_event_callback (lo, guard->event_cb, guard->event_data);
   mongolock_lock_t *lock = ok ? mongolock_lock_new (guard->client, key, lo, error) : NULL;
   mongolock_lock_opts_destroy (lo);
   if (lock && guard->degraded == MONGOLOCK_GUARD_FAIL_OPEN) {
      /* An unreachable store means "run locally now", not "retry until the wait ends". */
      _mongolock_lock_set_retry_transient (lock, false);
   }
   return lock;
}

bool
mongolock_guard_run (mongolock_guard_t *guard,
                     const char *key,
                     const bson_t *opts,
                     mongolock_guard_fn_t fn,
                     void *user_data,
                     mongolock_guard_mode_t *mode,
                     bson_error_t *error)
{
   mongolock_guard_mode_t local_mode;
   if (!mode) {
      mode = &local_mode;
   }
   *mode = MONGOLOCK_GUARD_MODE_NONE;
   if (!guard || !fn) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is NULL", guard ? "fn" : "guard");
      return false;
   }
   _mongolock_call_opts_t call_opts;
   if (!_mongolock_call_opts_parse (guard, opts, false, &call_opts, error)) {
      return false;
   }
   mongolock_lock_t *lock = make_lock (guard, key, &call_opts, error);
   if (!lock) {
      return false;
   }
   int64_t start = _mongolock_now_ms ();
   bson_error_t err;
   bool ok;
   if (store_marked_down (guard, &err)) {
      ok = run_local (guard, key, call_opts.wait_ms, start, &err, fn, user_data, mode, error);
   } else if (mongolock_lock_acquire (lock, &err)) {
      store_mark (guard, NULL);
      *mode = MONGOLOCK_GUARD_MODE_LOCKED;
      ok = call (fn, MONGOLOCK_GUARD_MODE_LOCKED, mongolock_lock_token (lock), user_data, error);
      /* A failed release is reported to the event callback as RELEASED with its error;
       * the lease then runs out on the server by itself. */
      (void) mongolock_lock_release (lock, NULL);
   } else if (guard->degraded == MONGOLOCK_GUARD_FAIL_OPEN && _mongolock_is_unreachable (&err)) {
      store_mark (guard, &err);
      ok = run_local (guard, key, call_opts.wait_ms, start, &err, fn, user_data, mode, error);
   } else {
      if (error) {
         *error = err;
      }
      ok = false;
   }
   mongolock_lock_destroy (lock);
   return ok;
}
