/* SPDX-License-Identifier: Apache-2.0 */
#include "client-private.h"

#include <string.h>

mongolock_client_opts_t *
mongolock_client_opts_new (void)
{
   mongolock_client_opts_t *opts = bson_malloc0 (sizeof *opts);
   opts->database = bson_strdup (MONGOLOCK_DEFAULT_DATABASE);
   opts->collection = bson_strdup (MONGOLOCK_DEFAULT_COLLECTION);
   opts->write_concern = mongoc_write_concern_new ();
   mongoc_write_concern_set_w (opts->write_concern, MONGOC_WRITE_CONCERN_W_MAJORITY);
   opts->cleanup_secs = MONGOLOCK_DEFAULT_CLEANUP_SECS;
   opts->timeout_ms = MONGOLOCK_DEFAULT_TIMEOUT_MS;
   return opts;
}

void
mongolock_client_opts_destroy (mongolock_client_opts_t *opts)
{
   if (!opts) {
      return;
   }
   bson_free (opts->database);
   bson_free (opts->collection);
   bson_free (opts->identity);
   mongoc_write_concern_destroy (opts->write_concern);
   bson_free (opts);
}

bool
mongolock_client_opts_set_database (mongolock_client_opts_t *opts, const char *name, bson_error_t *error)
{
   if (!opts) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "opts is NULL");
      return false;
   }
   if (!_mongolock_check_db_name (name, error) || !_mongolock_check_namespace (name, opts->collection, error)) {
      return false;
   }
   bson_free (opts->database);
   opts->database = bson_strdup (name);
   return true;
}

bool
mongolock_client_opts_set_collection (mongolock_client_opts_t *opts, const char *name, bson_error_t *error)
{
   if (!opts) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "opts is NULL");
      return false;
   }
   if (!_mongolock_check_coll_name (name, error) || !_mongolock_check_namespace (opts->database, name, error)) {
      return false;
   }
   bson_free (opts->collection);
   opts->collection = bson_strdup (name);
   return true;
}

bool
mongolock_client_opts_set_identity (mongolock_client_opts_t *opts, const char *identity, bson_error_t *error)
{
   if (!opts) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "opts is NULL");
      return false;
   }
   if (!_mongolock_check_string ("identity", identity, MONGOLOCK_IDENTITY_MAX_BYTES, error)) {
      return false;
   }
   bson_free (opts->identity);
   opts->identity = bson_strdup (identity);
   return true;
}

bool
mongolock_client_opts_set_write_concern (mongolock_client_opts_t *opts,
                                         const mongoc_write_concern_t *wc,
                                         bson_error_t *error)
{
   if (!opts || !wc) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is NULL", opts ? "write concern" : "opts");
      return false;
   }
   if (!mongoc_write_concern_is_valid (wc)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "the write concern is invalid");
      return false;
   }
   if (!mongoc_write_concern_is_acknowledged (wc)) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_INVALID_ARGUMENT,
                            "an unacknowledged write concern (w:0) cannot tell acquired from busy");
      return false;
   }
   mongoc_write_concern_destroy (opts->write_concern);
   opts->write_concern = mongoc_write_concern_copy (wc);
   return true;
}

bool
mongolock_client_opts_set_cleanup_secs (mongolock_client_opts_t *opts, int64_t secs, bson_error_t *error)
{
   if (!opts) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "opts is NULL");
      return false;
   }
   if (!_mongolock_check_range ("cleanup delay (seconds)", secs, 60, 31536000, error)) {
      return false;
   }
   opts->cleanup_secs = secs;
   return true;
}

bool
mongolock_client_opts_set_timeout_ms (mongolock_client_opts_t *opts, int64_t timeout_ms, bson_error_t *error)
{
   if (!opts) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "opts is NULL");
      return false;
   }
   if (!_mongolock_check_range ("timeout (ms)", timeout_ms, MONGOLOCK_TIMEOUT_MIN_MS, MONGOLOCK_TIMEOUT_MAX_MS, error)) {
      return false;
   }
   opts->timeout_ms = timeout_ms;
   return true;
}

bool
mongolock_client_opts_set_wake_on_release (mongolock_client_opts_t *opts, bool wake, bson_error_t *error)
{
   if (!opts) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "opts is NULL");
      return false;
   }
   opts->no_wake = !wake;
   return true;
}
