/* SPDX-License-Identifier: Apache-2.0 */
/* The tool's JSON output: relaxed extended JSON, written so that no parser rounds a
 * number. JavaScript and jq read every number as a double, exact only up to 2^53, and
 * fencing tokens are about 2^60: adjacent tokens would come out equal. Tokens are
 * therefore written as decimal strings, and any other 64-bit integer beyond 2^53 (a
 * value from the user's data) as extended JSON's {"$numberLong": "..."}. */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define EXACT_IN_A_DOUBLE (INT64_C (1) << 53)

void
cli_append_token (bson_t *doc, const char *key, int64_t token)
{
   char s[32];
   snprintf (s, sizeof s, "%" PRId64, token);
   BSON_APPEND_UTF8 (doc, key, s);
}

static void safe_copy (const bson_t *src, bson_t *dst);

static void
safe_append (bson_t *dst, bson_iter_t *it)
{
   const char *key = bson_iter_key (it);
   if (BSON_ITER_HOLDS_INT64 (it)) {
      int64_t v = bson_iter_int64 (it);
      if (v > EXACT_IN_A_DOUBLE || v < -EXACT_IN_A_DOUBLE) {
         bson_t wrap;
         char s[32];
         snprintf (s, sizeof s, "%" PRId64, v);
         BSON_APPEND_DOCUMENT_BEGIN (dst, key, &wrap);
         BSON_APPEND_UTF8 (&wrap, "$numberLong", s);
         bson_append_document_end (dst, &wrap);
         return;
      }
   } else if (BSON_ITER_HOLDS_DOCUMENT (it) || BSON_ITER_HOLDS_ARRAY (it)) {
      uint32_t len;
      const uint8_t *data;
      bson_t inner, child;
      bool array = BSON_ITER_HOLDS_ARRAY (it);
      if (array) {
         bson_iter_array (it, &len, &data);
         BSON_APPEND_ARRAY_BEGIN (dst, key, &child);
      } else {
         bson_iter_document (it, &len, &data);
         BSON_APPEND_DOCUMENT_BEGIN (dst, key, &child);
      }
      if (bson_init_static (&inner, data, len)) {
         safe_copy (&inner, &child);
      }
      if (array) {
         bson_append_array_end (dst, &child);
      } else {
         bson_append_document_end (dst, &child);
      }
      return;
   }
   bson_append_iter (dst, key, -1, it);
}

static void
safe_copy (const bson_t *src, bson_t *dst)
{
   bson_iter_t it;
   if (bson_iter_init (&it, src)) {
      while (bson_iter_next (&it)) {
         safe_append (dst, &it);
      }
   }
}

void
cli_print_json (const bson_t *doc)
{
   bson_t safe = BSON_INITIALIZER;
   safe_copy (doc, &safe);
   size_t len;
   char *json = bson_as_relaxed_extended_json (&safe, &len);
   bson_destroy (&safe);
   if (json) {
      char *out = cli_json_escape_controls (json);
      fputs (out, stdout);
      fputc ('\n', stdout);
      bson_free (out);
      bson_free (json);
   } else {
      cli_error ("cannot print the result as JSON (a string is not valid UTF-8)");
   }
}
