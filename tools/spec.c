/* SPDX-License-Identifier: Apache-2.0 */
/* The index spec file of `mongolock migrate`:
 *   {"database": "app",
 *    "indexes": [{"collection": "users", "keys": {"email": 1},
 *                 "partialFilterExpression": {...}, "name": "..."}, ...]}
 * Unknown fields are refused so that a typo cannot silently drop an option. */
#include "spec.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define SPEC_MAX_BYTES (16 * 1024 * 1024)

static int
invalid (const char *path, const char *fmt, ...) BSON_GNUC_PRINTF (2, 3);

static int
invalid (const char *path, const char *fmt, ...)
{
   char msg[512];
   va_list ap;
   va_start (ap, fmt);
   vsnprintf (msg, sizeof msg, fmt, ap);
   va_end (ap);
   cli_error ("invalid spec file %s: %s", path, msg);
   return CLI_EXIT_SPEC_INVALID;
}

static char *
read_file (const char *path, size_t *len, int *rc)
{
   FILE *f = fopen (path, "rb");
   struct stat st;
   if (!f || fstat (fileno (f), &st) != 0) {
      int e = errno;
      cli_error ("cannot read spec file %s: %s", path, strerror (e));
      if (f) {
         fclose (f);
      }
      *rc = CLI_EXIT_SPEC_MISSING;
      return NULL;
   }
   if (S_ISDIR (st.st_mode)) {
      cli_error ("cannot read spec file %s: %s", path, strerror (EISDIR));
      fclose (f);
      *rc = CLI_EXIT_SPEC_MISSING;
      return NULL;
   }
   size_t cap = 4096, n = 0;
   char *buf = bson_malloc (cap);
   size_t r;
   while ((r = fread (buf + n, 1, cap - n, f)) > 0) {
      n += r;
      if (n > SPEC_MAX_BYTES) {
         cli_error ("invalid spec file %s: larger than 16 MiB", path);
         bson_free (buf);
         fclose (f);
         *rc = CLI_EXIT_SPEC_INVALID;
         return NULL;
      }
      if (n == cap) {
         cap *= 2;
         buf = bson_realloc (buf, cap);
      }
   }
   if (ferror (f)) {
      int e = errno;
      cli_error ("cannot read spec file %s: %s", path, strerror (e));
      bson_free (buf);
      fclose (f);
      *rc = CLI_EXIT_SPEC_MISSING;
      return NULL;
   }
   fclose (f);
   *len = n;
   return buf;
}

static void
sub_document (const bson_iter_t *it, bson_t *out)
{
   uint32_t len;
   const uint8_t *data;
   bson_iter_document (it, &len, &data);
   BSON_ASSERT (bson_init_static (out, data, len));
}

static int
parse_index (const char *path, const char *where, bson_iter_t *item, cli_spec_index_t *ix)
{
   if (!BSON_ITER_HOLDS_DOCUMENT (item)) {
      return invalid (path, "%s: must be an object", where);
   }
   bson_t doc;
   sub_document (item, &doc);
   bson_iter_t it;
   bson_iter_init (&it, &doc);
   bool has_keys = false;
   while (bson_iter_next (&it)) {
      const char *k = bson_iter_key (&it);
      if (strcmp (k, "collection") == 0) {
         if (!BSON_ITER_HOLDS_UTF8 (&it) || !*bson_iter_utf8 (&it, NULL)) {
            return invalid (path, "%s.collection: must be a non-empty string", where);
         }
         ix->collection = bson_iter_utf8 (&it, NULL);
      } else if (strcmp (k, "keys") == 0) {
         if (!BSON_ITER_HOLDS_DOCUMENT (&it)) {
            return invalid (path, "%s.keys: must be an object such as {\"email\": 1}", where);
         }
         sub_document (&it, &ix->keys);
         has_keys = true;
         bson_iter_t key;
         bson_iter_init (&key, &ix->keys);
         int n = 0;
         while (bson_iter_next (&key)) {
            double v = BSON_ITER_HOLDS_NUMBER (&key) ? bson_iter_as_double (&key) : 0;
            if (v != 1 && v != -1) {
               return invalid (path, "%s.keys.%s: must be 1 or -1", where, bson_iter_key (&key));
            }
            n++;
         }
         if (n == 0) {
            return invalid (path, "%s.keys: must name at least one field", where);
         }
      } else if (strcmp (k, "partialFilterExpression") == 0) {
         if (!BSON_ITER_HOLDS_DOCUMENT (&it)) {
            return invalid (path, "%s.partialFilterExpression: must be an object", where);
         }
         sub_document (&it, &ix->pfe);
         ix->has_pfe = true;
      } else if (strcmp (k, "name") == 0) {
         if (!BSON_ITER_HOLDS_UTF8 (&it) || !*bson_iter_utf8 (&it, NULL)) {
            return invalid (path, "%s.name: must be a non-empty string", where);
         }
         ix->name = bson_iter_utf8 (&it, NULL);
      } else {
         return invalid (path,
                         "%s: unknown field \"%s\" (allowed: collection, keys, partialFilterExpression, name)",
                         where,
                         k);
      }
   }
   if (!ix->collection) {
      return invalid (path, "%s: missing \"collection\"", where);
   }
   if (!has_keys) {
      return invalid (path, "%s: missing \"keys\"", where);
   }
   return CLI_EXIT_OK;
}

int
cli_spec_load (const char *path, cli_spec_t *spec)
{
   memset (spec, 0, sizeof *spec);
   size_t len = 0;
   int rc = CLI_EXIT_OK;
   char *text = read_file (path, &len, &rc);
   if (!text) {
      return rc;
   }
   bson_error_t error;
   spec->doc = bson_new_from_json ((const uint8_t *) text, (ssize_t) len, &error);
   bson_free (text);
   if (!spec->doc) {
      cli_error ("invalid spec file %s: not valid JSON: %s", path, error.message);
      return CLI_EXIT_SPEC_INVALID;
   }
   bson_iter_t it, arr;
   bool has_indexes = false;
   bson_iter_init (&it, spec->doc);
   while (bson_iter_next (&it)) {
      const char *k = bson_iter_key (&it);
      if (strcmp (k, "database") == 0) {
         if (!BSON_ITER_HOLDS_UTF8 (&it) || !*bson_iter_utf8 (&it, NULL)) {
            rc = invalid (path, "database: must be a non-empty string");
            goto fail;
         }
         spec->database = bson_iter_utf8 (&it, NULL);
      } else if (strcmp (k, "indexes") == 0) {
         if (!BSON_ITER_HOLDS_ARRAY (&it)) {
            rc = invalid (path, "indexes: must be an array");
            goto fail;
         }
         has_indexes = true;
         arr = it;
      } else {
         rc = invalid (path, "unknown top-level field \"%s\" (allowed: database, indexes)", k);
         goto fail;
      }
   }
   if (!has_indexes) {
      rc = invalid (path, "missing \"indexes\" array");
      goto fail;
   }
   bson_iter_t item;
   bson_iter_recurse (&arr, &item);
   size_t n = 0;
   while (bson_iter_next (&item)) {
      n++;
   }
   spec->indexes = bson_malloc0 ((n ? n : 1) * sizeof *spec->indexes);
   bson_iter_recurse (&arr, &item);
   while (bson_iter_next (&item)) {
      char where[32];
      snprintf (where, sizeof where, "indexes[%zu]", spec->n);
      cli_spec_index_t *ix = &spec->indexes[spec->n++];
      if ((rc = parse_index (path, where, &item, ix)) != CLI_EXIT_OK) {
         goto fail;
      }
   }
   return CLI_EXIT_OK;
fail:
   cli_spec_destroy (spec);
   return rc;
}

void
cli_spec_destroy (cli_spec_t *spec)
{
   bson_free (spec->indexes);
   bson_destroy (spec->doc);
   memset (spec, 0, sizeof *spec);
}
