/* SPDX-License-Identifier: Apache-2.0 */
/* mongolock release --force KEY: an administrator's break of a stuck lock. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char release_help[] =
   "Usage: mongolock release --force [--json] KEY [CONNECTION OPTIONS]\n"
   "Break the lock KEY whoever holds it, and print who held it. The holder finds out on\n"
   "its next renewal (a 'mongolock run' holding it stops its command). Fencing tokens keep\n"
   "increasing: the next holder gets a larger token.\n"
   "\n"
   "  --force                 required: this breaks another process's lock\n"
   "  --json                  print {key, found, wasHeld, holder, token (a string),\n"
   "                          expiresAt, holders: [{holder, token, mode?}]} as JSON\n"
   "Exit status: 0 when broken or already free, 1 when no lock KEY exists.\n";

int
cli_cmd_release (int argc, char **argv, cli_common_t *common)
{
   static const struct option longopts[] = {
      CLI_COMMON_LONG_OPTIONS,
      {"force", no_argument, NULL, 'f'},
      {"json", no_argument, NULL, 'j'},
      {0},
   };
   bool force = false, json = false, help = false;
   int opt;
   opterr = 0;
   optind = 0;
   while ((opt = getopt_long (argc, argv, ":hf", longopts, NULL)) != -1) {
      switch (opt) {
      case 'f':
         force = true;
         break;
      case 'j':
         json = true;
         break;
      case 'h':
         help = true;
         break;
      default: {
         int rc = cli_other_option ("release", common, opt, argv, &help);
         if (rc >= 0) {
            return rc;
         }
      }
      }
   }
   if (help) {
      fputs (release_help, stdout);
      fputs (cli_common_help, stdout);
      return CLI_EXIT_OK;
   }
   if (optind >= argc) {
      return cli_usage_error ("release", "missing lock KEY");
   }
   if (optind + 1 < argc) {
      return cli_usage_error ("release", "unexpected argument '%s' (one KEY at a time)", argv[optind + 1]);
   }
   const char *key = argv[optind];
   if (!force) {
      return cli_usage_error ("release", "refusing to break lock \"%s\" without --force", key);
   }
   cli_conn_t conn;
   int rc;
   if (!cli_connect (common, 30000, &conn, &rc)) {
      return rc;
   }
   bool was_held = false;
   bson_t previous;
   bson_error_t error;
   if (!mongolock_client_force_release (conn.client, key, &was_held, &previous, &error)) {
      rc = cli_report_error ("cannot release the lock", &error);
      bson_destroy (&previous);
      cli_disconnect (&conn);
      return rc;
   }
   const char *holder = NULL;
   int64_t token = 0, expires = 0;
   bool found = !bson_empty (&previous), has_expires = false;
   bson_iter_t it;
   if (bson_iter_init_find (&it, &previous, "owner") && BSON_ITER_HOLDS_UTF8 (&it)) {
      holder = bson_iter_utf8 (&it, NULL);
   }
   if (bson_iter_init_find (&it, &previous, "token") && BSON_ITER_HOLDS_NUMBER (&it)) {
      token = bson_iter_as_int64 (&it);
   }
   if (bson_iter_init_find (&it, &previous, "expiresAt") && BSON_ITER_HOLDS_DATE_TIME (&it)) {
      expires = bson_iter_date_time (&it);
      has_expires = true;
   }
   /* A semaphore's or reader/writer lock's live holders (none for a named lock): each one
    * as "HOLDER (token N)", and as {holder, token, mode?} in JSON. */
   bson_string_t *text = bson_string_new (NULL);
   bson_t holders = BSON_INITIALIZER;
   uint32_t n_holders = 0;
   bson_iter_t hs, he;
   if (bson_iter_init_find (&it, &previous, "holders") && BSON_ITER_HOLDS_ARRAY (&it) && bson_iter_recurse (&it, &hs)) {
      while (bson_iter_next (&hs)) {
         const char *o = NULL, *m = NULL;
         int64_t t = 0;
         if (!BSON_ITER_HOLDS_DOCUMENT (&hs) || !bson_iter_recurse (&hs, &he)) {
            continue;
         }
         while (bson_iter_next (&he)) {
            if (strcmp (bson_iter_key (&he), "owner") == 0 && BSON_ITER_HOLDS_UTF8 (&he)) {
               o = bson_iter_utf8 (&he, NULL);
            } else if (strcmp (bson_iter_key (&he), "mode") == 0 && BSON_ITER_HOLDS_UTF8 (&he)) {
               m = bson_iter_utf8 (&he, NULL);
            } else if (strcmp (bson_iter_key (&he), "token") == 0 && BSON_ITER_HOLDS_NUMBER (&he)) {
               t = bson_iter_as_int64 (&he);
            }
         }
         char idx[16], *esc = cli_escape_text (o ? o : "?"), *san = cli_utf8_sanitize (o ? o : "?");
         bson_t d;
         snprintf (idx, sizeof idx, "%u", n_holders);
         bson_string_append_printf (text, "%s%s (token %" PRId64 ")", n_holders++ ? ", " : "", esc, t);
         BSON_APPEND_DOCUMENT_BEGIN (&holders, idx, &d);
         BSON_APPEND_UTF8 (&d, "holder", san);
         cli_append_token (&d, "token", t);
         if (m) {
            BSON_APPEND_UTF8 (&d, "mode", strcmp (m, "w") == 0 ? "write" : "read");
         }
         bson_append_document_end (&holders, &d);
         bson_free (esc);
         bson_free (san);
      }
   }
   if (json) {
      bson_t out = BSON_INITIALIZER;
      char *k = cli_utf8_sanitize (key);
      BSON_APPEND_UTF8 (&out, "key", k);
      bson_free (k);
      BSON_APPEND_BOOL (&out, "found", found);
      BSON_APPEND_BOOL (&out, "wasHeld", was_held);
      if (holder) {
         char *h = cli_utf8_sanitize (holder);
         BSON_APPEND_UTF8 (&out, "holder", h);
         bson_free (h);
      } else {
         BSON_APPEND_NULL (&out, "holder");
      }
      cli_append_token (&out, "token", token);
      if (has_expires) {
         BSON_APPEND_DATE_TIME (&out, "expiresAt", expires);
      }
      BSON_APPEND_ARRAY (&out, "holders", &holders);
      cli_print_json (&out);
      bson_destroy (&out);
   }
   if (!found) {
      cli_error ("no lock \"%s\" in %s.%s",
                 key,
                 mongolock_client_database_name (conn.client),
                 mongolock_client_collection_name (conn.client));
      rc = CLI_EXIT_NOT_FOUND;
   } else {
      if (!json) {
         char *h = cli_escape_text (holder ? holder : "?"), *k = cli_escape_text (key);
         if (was_held && !holder && n_holders > 0) {
            printf ("released lock \"%s\" held by %s\n", k, text->str);
         } else if (was_held) {
            printf ("released lock \"%s\" held by %s (token %" PRId64 ")\n", k, h, token);
         } else if (holder) {
            printf ("lock \"%s\" was not held: the lease of %s (token %" PRId64 ") had already expired\n", k, h, token);
         } else {
            printf ("lock \"%s\" was not held (already free; last token %" PRId64 ")\n", k, token);
         }
         bson_free (h);
         bson_free (k);
      }
      rc = CLI_EXIT_OK;
   }
   bson_string_free (text, true);
   bson_destroy (&holders);
   bson_destroy (&previous);
   cli_disconnect (&conn);
   return rc;
}
