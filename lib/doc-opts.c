/* SPDX-License-Identifier: Apache-2.0 */
/* Options of document locks: the lock field names, and the named lock's lease options. */
#include "doc-private.h"

#include <string.h>

void
_mongolock_doc_fields_set (_mongolock_doc_fields_t *dst, const char *owner, const char *expiry, const char *token)
{
   dst->owner = bson_strdup (owner);
   dst->expiry = bson_strdup (expiry);
   dst->token = bson_strdup (token);
}

void
_mongolock_doc_fields_free (_mongolock_doc_fields_t *f)
{
   bson_free (f->owner);
   bson_free (f->expiry);
   bson_free (f->token);
   f->owner = f->expiry = f->token = NULL;
}

mongolock_doc_lock_opts_t *
mongolock_doc_lock_opts_new (void)
{
   mongolock_doc_lock_opts_t *opts = bson_malloc0 (sizeof *opts);
   opts->lock = mongolock_lock_opts_new ();
   _mongolock_doc_fields_set (
      &opts->f, MONGOLOCK_DOC_DEFAULT_OWNER_FIELD, MONGOLOCK_DOC_DEFAULT_EXPIRY_FIELD, MONGOLOCK_DOC_DEFAULT_TOKEN_FIELD);
   return opts;
}

void
mongolock_doc_lock_opts_destroy (mongolock_doc_lock_opts_t *opts)
{
   if (!opts) {
      return;
   }
   mongolock_lock_opts_destroy (opts->lock);
   _mongolock_doc_fields_free (&opts->f);
   bson_free (opts);
}

mongolock_lock_opts_t *
mongolock_doc_lock_opts_lock_opts (mongolock_doc_lock_opts_t *opts)
{
   return opts ? opts->lock : NULL;
}

/* A top-level field name the lock may own: no '.', no leading '$', not _id. */
static bool
check_field (const char *what, const char *name, bson_error_t *error)
{
   if (!_mongolock_check_string (what, name, MONGOLOCK_DOC_FIELD_MAX_BYTES, error)) {
      return false;
   }
   if (name[0] == '$' || strchr (name, '.') || strcmp (name, "_id") == 0) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_INVALID_ARGUMENT,
                            "%s \"%s\" must be a top-level field name: no '.', no leading '$', not _id",
                            what,
                            name);
      return false;
   }
   return true;
}

bool
mongolock_doc_lock_opts_set_fields (mongolock_doc_lock_opts_t *opts,
                                    const char *owner_field,
                                    const char *expiry_field,
                                    const char *token_field,
                                    bson_error_t *error)
{
   if (!opts) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "opts is NULL");
      return false;
   }
   const char *owner = owner_field ? owner_field : opts->f.owner;
   const char *expiry = expiry_field ? expiry_field : opts->f.expiry;
   const char *token = token_field ? token_field : opts->f.token;
   if (!check_field ("owner field", owner, error) || !check_field ("expiry field", expiry, error) ||
       !check_field ("token field", token, error)) {
      return false;
   }
   if (strcmp (owner, expiry) == 0 || strcmp (owner, token) == 0 || strcmp (expiry, token) == 0) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "the three lock fields must have different names");
      return false;
   }
   _mongolock_doc_fields_t copy;
   _mongolock_doc_fields_set (&copy, owner, expiry, token);
   _mongolock_doc_fields_free (&opts->f);
   opts->f = copy;
   return true;
}
