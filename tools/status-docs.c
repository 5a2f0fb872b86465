/* SPDX-License-Identifier: Apache-2.0 */
/* mongolock status --docs DB.COLLECTION: documents of a business collection whose
 * document-lock fields are set (mongolock-doc.h), with state and time left by the server's
 * clock. Only the library's default field names. */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Prints text from the database safely for a terminal (escape.c). */
static void
print_escaped (const char *s)
{
   char *safe = cli_escape_text (s);
   fputs (safe, stdout);
   bson_free (safe);
}

/* The _id of a listed lock as relaxed extended JSON (caller frees). */
static char *
id_json (const bson_t *item)
{
   bson_iter_t it;
   if (!bson_iter_init_find (&it, item, "_id")) {
      return bson_strdup ("?");
   }
   bson_t tmp = BSON_INITIALIZER;
   BSON_APPEND_VALUE (&tmp, "_id", bson_iter_value (&it));
   char *json = bson_as_relaxed_extended_json (&tmp, NULL);
   bson_destroy (&tmp);
   const char *v = json ? strchr (json, ':') : NULL;
   size_t n = v ? strlen (v) : 0;
   char *out = (v && n >= 4) ? bson_strndup (v + 2, n - 4) : bson_strdup ("?");
   bson_free (json);
   return out;
}

/* The library's listing with each lock's token as a decimal string (json.c says why). */
static void
copy_with_string_tokens (const bson_t *out, bson_t *doc)
{
   bson_iter_t it;
   bson_iter_init (&it, out);
   while (bson_iter_next (&it)) {
      bson_iter_t arr;
      if (strcmp (bson_iter_key (&it), "locks") != 0 || !BSON_ITER_HOLDS_ARRAY (&it) || !bson_iter_recurse (&it, &arr)) {
         bson_append_iter (doc, NULL, 0, &it);
         continue;
      }
      bson_t locks;
      BSON_APPEND_ARRAY_BEGIN (doc, "locks", &locks);
      while (bson_iter_next (&arr)) {
         bson_iter_t f;
         if (!BSON_ITER_HOLDS_DOCUMENT (&arr) || !bson_iter_recurse (&arr, &f)) {
            bson_append_iter (&locks, NULL, 0, &arr);
            continue;
         }
         bson_t item;
         BSON_APPEND_DOCUMENT_BEGIN (&locks, bson_iter_key (&arr), &item);
         while (bson_iter_next (&f)) {
            if (strcmp (bson_iter_key (&f), "token") == 0 && BSON_ITER_HOLDS_NUMBER (&f)) {
               cli_append_token (&item, "token", bson_iter_as_int64 (&f));
            } else {
               bson_append_iter (&item, NULL, 0, &f);
            }
         }
         bson_append_document_end (&locks, &item);
      }
      bson_append_array_end (doc, &locks);
   }
}

static void
print_table (const bson_t *out)
{
   bson_iter_t it, arr;
   if (!bson_iter_init_find (&it, out, "locks") || !bson_iter_recurse (&it, &arr)) {
      return;
   }
   /* First the widest _id, so that every row lines up. */
   int id_w = 3;
   bson_iter_t first = arr;
   while (bson_iter_next (&first)) {
      uint32_t len;
      const uint8_t *data;
      bson_t item;
      if (BSON_ITER_HOLDS_DOCUMENT (&first)) {
         bson_iter_document (&first, &len, &data);
         bson_init_static (&item, data, len);
         char *id = id_json (&item), *shown = cli_escape_text (id);
         int w = cli_display_width (shown);
         id_w = w > id_w ? w : id_w;
         bson_free (shown);
         bson_free (id);
      }
   }
   int n = 0;
   while (bson_iter_next (&arr)) {
      uint32_t len;
      const uint8_t *data;
      bson_t item;
      if (!BSON_ITER_HOLDS_DOCUMENT (&arr)) {
         continue;
      }
      bson_iter_document (&arr, &len, &data);
      bson_init_static (&item, data, len);
      if (n++ == 0) {
         cli_print_padded ("_ID", id_w);
         printf ("  %-7s  %8s  %-20s  %s\n", "STATE", "LEFT", "TOKEN", "HOLDER");
      }
      bool held = bson_iter_init_find (&it, &item, "held") && BSON_ITER_HOLDS_BOOL (&it) && bson_iter_bool (&it);
      int64_t left = bson_iter_init_find (&it, &item, "remainingMs") && BSON_ITER_HOLDS_NUMBER (&it)
                        ? bson_iter_as_int64 (&it)
                        : 0;
      int64_t token = bson_iter_init_find (&it, &item, "token") && BSON_ITER_HOLDS_NUMBER (&it) ? bson_iter_as_int64 (&it)
                                                                                               : 0;
      const char *owner = bson_iter_init_find (&it, &item, "owner") && BSON_ITER_HOLDS_UTF8 (&it)
                             ? bson_iter_utf8 (&it, NULL)
                             : "-";
      char left_s[32] = "-";
      if (held) {
         cli_format_duration (left, left_s, sizeof left_s);
      }
      char *id = id_json (&item), *shown = cli_escape_text (id);
      cli_print_padded (shown, id_w);
      printf ("  %-7s  %8s  %-20" PRId64 "  ", held ? "held" : "expired", left_s, token);
      print_escaped (owner);
      putchar ('\n');
      bson_free (shown);
      bson_free (id);
   }
   if (n == 0) {
      printf ("no locked documents\n");
   }
   if (bson_iter_init_find (&it, out, "truncated") && BSON_ITER_HOLDS_BOOL (&it) && bson_iter_bool (&it)) {
      printf ("(first %d shown)\n", n);
   }
}

int
cli_status_docs (cli_conn_t *conn, const char *ns, bool json)
{
   const char *dot = strchr (ns, '.');
   if (!dot || dot == ns || !dot[1]) {
      return cli_usage_error ("status", "--docs takes DATABASE.COLLECTION, not '%s'", ns);
   }
   char *db = bson_strndup (ns, (size_t) (dot - ns));
   bson_t out;
   bson_error_t error;
   int rc;
   if (mongolock_doc_lock_list (conn->client, db, dot + 1, NULL, 10000, &out, &error)) {
      if (json) {
         bson_t doc = BSON_INITIALIZER;
         BSON_APPEND_UTF8 (&doc, "database", db);
         BSON_APPEND_UTF8 (&doc, "collection", dot + 1);
         copy_with_string_tokens (&out, &doc);
         cli_print_json (&doc);
         bson_destroy (&doc);
      } else {
         print_table (&out);
      }
      rc = CLI_EXIT_OK;
   } else {
      rc = error.domain == MONGOLOCK_ERROR_DOMAIN && error.code == MONGOLOCK_ERROR_INVALID_ARGUMENT
              ? cli_usage_error ("status", "%s", error.message)
              : cli_report_error ("cannot list locked documents", &error);
   }
   bson_destroy (&out);
   bson_free (db);
   return rc;
}
