/* SPDX-License-Identifier: Apache-2.0 */
/* mongolock_guard_opts_t and the per-call options of the guard's functions. */
#include "guard-private.h"

#include <openssl/crypto.h>
#include <string.h>

mongolock_guard_opts_t *
mongolock_guard_opts_new (void)
{
   mongolock_guard_opts_t *opts = bson_malloc0 (sizeof *opts);
   opts->lease_ms = MONGOLOCK_GUARD_DEFAULT_LEASE_MS;
   opts->wait_ms = MONGOLOCK_GUARD_DEFAULT_WAIT_MS;
   opts->degraded = MONGOLOCK_GUARD_FAIL_CLOSED;
   opts->store_retry_ms = MONGOLOCK_GUARD_DEFAULT_STORE_RETRY_MS;
   opts->secret_source = _MONGOLOCK_SECRET_FROM_ENV;
   return opts;
}

static void
wipe_secret (mongolock_guard_opts_t *opts)
{
   if (opts->secret) {
      OPENSSL_cleanse (opts->secret, opts->secret_len);
      bson_free (opts->secret);
   }
   opts->secret = NULL;
   opts->secret_len = 0;
}

void
mongolock_guard_opts_destroy (mongolock_guard_opts_t *opts)
{
   if (!opts) {
      return;
   }
   wipe_secret (opts);
   bson_free (opts);
}

static bool
check_opts (const mongolock_guard_opts_t *opts, bson_error_t *error)
{
   if (!opts) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "opts is NULL");
   }
   return opts != NULL;
}

bool
mongolock_guard_opts_set_lease_ms (mongolock_guard_opts_t *opts, int64_t lease_ms, bson_error_t *error)
{
   if (!check_opts (opts, error) ||
       !_mongolock_check_range ("lease (ms)", lease_ms, MONGOLOCK_LEASE_MIN_MS, MONGOLOCK_GUARD_LEASE_MAX_MS, error)) {
      return false;
   }
   opts->lease_ms = lease_ms;
   return true;
}

bool
mongolock_guard_opts_set_wait_ms (mongolock_guard_opts_t *opts, int64_t wait_ms, bson_error_t *error)
{
   if (!check_opts (opts, error) ||
       !_mongolock_check_range ("wait (ms)", wait_ms, 0, MONGOLOCK_GUARD_WAIT_MAX_MS, error)) {
      return false;
   }
   opts->wait_ms = wait_ms;
   return true;
}

void
mongolock_guard_opts_set_auto_renew (mongolock_guard_opts_t *opts, bool auto_renew)
{
   if (opts) {
      opts->auto_renew = auto_renew;
   }
}

void
mongolock_guard_opts_set_degraded_mode (mongolock_guard_opts_t *opts, mongolock_guard_degraded_t mode)
{
   if (opts) {
      opts->degraded = mode == MONGOLOCK_GUARD_FAIL_OPEN ? MONGOLOCK_GUARD_FAIL_OPEN : MONGOLOCK_GUARD_FAIL_CLOSED;
   }
}

bool
mongolock_guard_opts_set_store_retry_ms (mongolock_guard_opts_t *opts, int64_t retry_ms, bson_error_t *error)
{
   if (!check_opts (opts, error) ||
       !_mongolock_check_range ("store retry (ms)", retry_ms, 0, MONGOLOCK_GUARD_STORE_RETRY_MAX_MS, error)) {
      return false;
   }
   opts->store_retry_ms = retry_ms;
   return true;
}

bool
mongolock_guard_opts_set_secret (mongolock_guard_opts_t *opts, const void *secret, size_t secret_len, bson_error_t *error)
{
   if (!check_opts (opts, error)) {
      return false;
   }
   if (!secret) {
      if (secret_len != 0) {
         _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "secret is NULL but secret_len is not 0");
         return false;
      }
      wipe_secret (opts);
      opts->secret_source = _MONGOLOCK_SECRET_NONE;
      return true;
   }
   if (secret_len == 0 || secret_len > MONGOLOCK_KEY_SECRET_MAX_BYTES) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_INVALID_ARGUMENT,
                            "the key secret must be 1 to %d bytes long",
                            MONGOLOCK_KEY_SECRET_MAX_BYTES);
      return false;
   }
   wipe_secret (opts);
   opts->secret = bson_malloc (secret_len);
   memcpy (opts->secret, secret, secret_len);
   opts->secret_len = secret_len;
   opts->secret_source = _MONGOLOCK_SECRET_GIVEN;
   return true;
}

void
mongolock_guard_opts_set_event_callback (mongolock_guard_opts_t *opts, mongolock_event_cb_t cb, void *user_data)
{
   if (opts) {
      opts->event_cb = cb;
      opts->event_data = cb ? user_data : NULL;
   }
}

void
mongolock_guard_opts_set_warning_callback (mongolock_guard_opts_t *opts,
                                           mongolock_guard_warning_cb_t cb,
                                           void *user_data)
{
   if (opts) {
      opts->warning_cb = cb;
      opts->warning_data = cb ? user_data : NULL;
   }
}

static bool
read_ms (const bson_iter_t *it, const char *what, int64_t lo, int64_t hi, int64_t *out, bson_error_t *error)
{
   if (!BSON_ITER_HOLDS_INT32 (it) && !BSON_ITER_HOLDS_INT64 (it)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "option \"%s\" must be an integer", what);
      return false;
   }
   int64_t v = bson_iter_as_int64 (it);
   if (!_mongolock_check_range (what, v, lo, hi, error)) {
      return false;
   }
   *out = v;
   return true;
}

static bool
read_string (const bson_iter_t *it, const char *what, const char **out, bson_error_t *error)
{
   if (!BSON_ITER_HOLDS_UTF8 (it)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "option \"%s\" must be a string", what);
      return false;
   }
   *out = bson_iter_utf8 (it, NULL);
   return true;
}

bool
_mongolock_call_opts_parse (const mongolock_guard_t *guard,
                            const bson_t *opts,
                            bool allow_key_fields,
                            _mongolock_call_opts_t *out,
                            bson_error_t *error)
{
   out->lease_ms = guard->lease_ms;
   out->wait_ms = guard->wait_ms;
   out->ns = NULL;
   out->principal = NULL;
   bson_iter_t it;
   if (!opts) {
      return true;
   }
   if (!bson_iter_init (&it, opts)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "opts is corrupt BSON");
      return false;
   }
   while (bson_iter_next (&it)) {
      const char *k = bson_iter_key (&it);
      bool ok;
      if (strcmp (k, "leaseMs") == 0) {
         ok = read_ms (&it, "leaseMs", MONGOLOCK_LEASE_MIN_MS, MONGOLOCK_GUARD_LEASE_MAX_MS, &out->lease_ms, error);
      } else if (strcmp (k, "waitMs") == 0) {
         ok = read_ms (&it, "waitMs", 0, MONGOLOCK_GUARD_WAIT_MAX_MS, &out->wait_ms, error);
      } else if (allow_key_fields && strcmp (k, "namespace") == 0) {
         ok = read_string (&it, "namespace", &out->ns, error);
      } else if (allow_key_fields && strcmp (k, "principal") == 0) {
         ok = read_string (&it, "principal", &out->principal, error);
      } else {
         _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "unknown option \"%s\"", k);
         ok = false;
      }
      if (!ok) {
         return false;
      }
   }
   return true;
}

void
_mongolock_call_opts_append (const _mongolock_call_opts_t *call, bson_t *out)
{
   BSON_APPEND_INT64 (out, "leaseMs", call->lease_ms);
   BSON_APPEND_INT64 (out, "waitMs", call->wait_ms);
}
