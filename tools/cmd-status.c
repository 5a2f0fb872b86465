/* SPDX-License-Identifier: Apache-2.0 */
/* mongolock status: list locks with holder, fencing token and time left by the server's clock. */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char status_help[] =
   "Usage: mongolock status [--prefix P | --docs DB.COLL] [--json] [CONNECTION OPTIONS]\n"
   "List locks sorted by key: key, state (held, expired or free), time left by the\n"
   "server's clock, fencing token and holder. A semaphore (run --permits) or a\n"
   "reader/writer lock (run --shared) shows one line per live holder, its holder column\n"
   "saying \"[permit of N]\", \"[read]\" or \"[write]\".\n"
   "\n"
   "  --prefix P              only locks whose key starts with P\n"
   "  --json                  one JSON document: {\"locks\": [{key, kind, state, held,\n"
   "                          holder, token (a string), remainingMs, expiresAt, holders:\n"
   "                          [{holder, token (a string), mode, remainingMs}], queued,\n"
   "                          permits?}, ...]} (queued: waiters of a fair lock)\n"
   "  --docs DB.COLL          instead: documents of a business collection locked in place\n"
   "                          (document locks, default field names), held or expired\n";

typedef struct {
   const char *key;
   const char *holder; /* NULL: none */
   int64_t token;
   int64_t queued; /* fair waiters */
   bool has_remaining;
   int64_t remaining_ms;
   bool has_expires;
   int64_t expires_at;
   bool held;
   const char *kind;
   int64_t permits; /* 0: none */
   bson_iter_t holders; /* valid when has_holders */
   bool has_holders;
} lock_row_t;

/* One live holder of a semaphore or reader/writer lock. */
typedef struct {
   const char *owner;
   const char *mode; /* NULL when none */
   int64_t token;
   int64_t remaining_ms;
} holder_row_t;

/* Next holder of row (iterates row->holders); false at the end. */
static bool
next_holder (lock_row_t *row, holder_row_t *h)
{
   bson_iter_t it;
   memset (h, 0, sizeof *h);
   h->owner = "";
   while (row->has_holders && bson_iter_next (&row->holders)) {
      if (!BSON_ITER_HOLDS_DOCUMENT (&row->holders) || !bson_iter_recurse (&row->holders, &it)) {
         continue;
      }
      while (bson_iter_next (&it)) {
         const char *k = bson_iter_key (&it);
         if (strcmp (k, "owner") == 0 && BSON_ITER_HOLDS_UTF8 (&it)) {
            h->owner = bson_iter_utf8 (&it, NULL);
         } else if (strcmp (k, "mode") == 0 && BSON_ITER_HOLDS_UTF8 (&it)) {
            h->mode = bson_iter_utf8 (&it, NULL);
         } else if (strcmp (k, "token") == 0 && BSON_ITER_HOLDS_NUMBER (&it)) {
            h->token = bson_iter_as_int64 (&it);
         } else if (strcmp (k, "remainingMs") == 0 && BSON_ITER_HOLDS_NUMBER (&it)) {
            h->remaining_ms = bson_iter_as_int64 (&it);
         }
      }
      return true;
   }
   return false;
}

static void
read_row (const bson_t *doc, lock_row_t *row)
{
   memset (row, 0, sizeof *row);
   row->key = "";
   row->kind = "lock";
   bson_iter_t it;
   bson_iter_init (&it, doc);
   while (bson_iter_next (&it)) {
      const char *k = bson_iter_key (&it);
      if (strcmp (k, "key") == 0 && BSON_ITER_HOLDS_UTF8 (&it)) {
         row->key = bson_iter_utf8 (&it, NULL);
      } else if (strcmp (k, "owner") == 0 && BSON_ITER_HOLDS_UTF8 (&it)) {
         row->holder = bson_iter_utf8 (&it, NULL);
      } else if (strcmp (k, "token") == 0 && BSON_ITER_HOLDS_NUMBER (&it)) {
         row->token = bson_iter_as_int64 (&it);
      } else if (strcmp (k, "remainingMs") == 0 && BSON_ITER_HOLDS_NUMBER (&it)) {
         row->has_remaining = true;
         row->remaining_ms = bson_iter_as_int64 (&it);
      } else if (strcmp (k, "expiresAt") == 0 && BSON_ITER_HOLDS_DATE_TIME (&it)) {
         row->has_expires = true;
         row->expires_at = bson_iter_date_time (&it);
      } else if (strcmp (k, "held") == 0 && BSON_ITER_HOLDS_BOOL (&it)) {
         row->held = bson_iter_bool (&it);
      } else if (strcmp (k, "kind") == 0 && BSON_ITER_HOLDS_UTF8 (&it)) {
         row->kind = bson_iter_utf8 (&it, NULL);
      } else if (strcmp (k, "permits") == 0 && BSON_ITER_HOLDS_NUMBER (&it)) {
         row->permits = bson_iter_as_int64 (&it);
      } else if (strcmp (k, "queued") == 0 && BSON_ITER_HOLDS_NUMBER (&it)) {
         row->queued = bson_iter_as_int64 (&it);
      } else if (strcmp (k, "holders") == 0 && BSON_ITER_HOLDS_ARRAY (&it)) {
         row->has_holders = bson_iter_recurse (&it, &row->holders);
      }
   }
}

static const char *
row_state (const lock_row_t *row)
{
   return row->held ? "held" : row->holder ? "expired" : "free";
}

static void
print_json (const bson_t *locks, mongolock_client_t *client)
{
   bson_t out = BSON_INITIALIZER, arr, item;
   BSON_APPEND_UTF8 (&out, "database", mongolock_client_database_name (client));
   BSON_APPEND_UTF8 (&out, "collection", mongolock_client_collection_name (client));
   BSON_APPEND_ARRAY_BEGIN (&out, "locks", &arr);
   bson_iter_t it;
   uint32_t i = 0;
   bson_iter_init (&it, locks);
   while (bson_iter_next (&it)) {
      bson_t doc;
      uint32_t len;
      const uint8_t *data;
      if (!BSON_ITER_HOLDS_DOCUMENT (&it)) {
         continue;
      }
      bson_iter_document (&it, &len, &data);
      bson_init_static (&doc, data, len);
      lock_row_t row;
      read_row (&doc, &row);
      char idx[16];
      snprintf (idx, sizeof idx, "%u", i++);
      BSON_APPEND_DOCUMENT_BEGIN (&arr, idx, &item);
      char *key = cli_utf8_sanitize (row.key);
      BSON_APPEND_UTF8 (&item, "key", key);
      bson_free (key);
      BSON_APPEND_UTF8 (&item, "kind", row.kind);
      BSON_APPEND_UTF8 (&item, "state", row_state (&row));
      BSON_APPEND_BOOL (&item, "held", row.held);
      if (row.holder) {
         char *h = cli_utf8_sanitize (row.holder);
         BSON_APPEND_UTF8 (&item, "holder", h);
         bson_free (h);
      } else {
         BSON_APPEND_NULL (&item, "holder");
      }
      cli_append_token (&item, "token", row.token);
      BSON_APPEND_INT64 (&item, "queued", row.queued);
      if (row.has_remaining) {
         BSON_APPEND_INT64 (&item, "remainingMs", row.remaining_ms);
      } else {
         BSON_APPEND_NULL (&item, "remainingMs");
      }
      if (row.has_expires) {
         BSON_APPEND_DATE_TIME (&item, "expiresAt", row.expires_at);
      } else {
         BSON_APPEND_NULL (&item, "expiresAt");
      }
      if (row.permits > 0) {
         BSON_APPEND_INT64 (&item, "permits", row.permits);
      }
      bson_t hs, hd;
      BSON_APPEND_ARRAY_BEGIN (&item, "holders", &hs);
      holder_row_t h;
      for (uint32_t j = 0; next_holder (&row, &h); j++) {
         char hidx[16];
         snprintf (hidx, sizeof hidx, "%u", j);
         BSON_APPEND_DOCUMENT_BEGIN (&hs, hidx, &hd);
         char *o = cli_utf8_sanitize (h.owner);
         BSON_APPEND_UTF8 (&hd, "holder", o);
         bson_free (o);
         cli_append_token (&hd, "token", h.token);
         if (h.mode) {
            BSON_APPEND_UTF8 (&hd, "mode", strcmp (h.mode, "w") == 0 ? "write" : "read");
         }
         BSON_APPEND_INT64 (&hd, "remainingMs", h.remaining_ms);
         bson_append_document_end (&hs, &hd);
      }
      bson_append_array_end (&item, &hs);
      bson_append_document_end (&arr, &item);
   }
   bson_append_array_end (&out, &arr);
   cli_print_json (&out);
   bson_destroy (&out);
}

static void
print_table (const bson_t *locks, const char *prefix)
{
   bson_iter_t it;
   int key_w = 3;
   uint32_t n = 0;
   bson_iter_init (&it, locks);
   while (bson_iter_next (&it)) {
      bson_t doc;
      uint32_t len;
      const uint8_t *data;
      bson_iter_document (&it, &len, &data);
      bson_init_static (&doc, data, len);
      lock_row_t row;
      read_row (&doc, &row);
      char *key = cli_escape_text (row.key);
      int w = cli_display_width (key);
      bson_free (key);
      key_w = w > key_w ? w : key_w; /* every key fits: the columns stay aligned */
      n++;
   }
   if (n == 0) {
      char *p = cli_escape_text (prefix);
      printf ("no locks%s%s%s\n", prefix ? " with prefix \"" : "", p, prefix ? "\"" : "");
      bson_free (p);
      return;
   }
   cli_print_padded ("KEY", key_w);
   printf ("  %-7s  %8s  %-20s  %s\n", "STATE", "LEFT", "TOKEN", "HOLDER");
   bson_iter_init (&it, locks);
   while (bson_iter_next (&it)) {
      bson_t doc;
      uint32_t len;
      const uint8_t *data;
      bson_iter_document (&it, &len, &data);
      bson_init_static (&doc, data, len);
      lock_row_t row;
      read_row (&doc, &row);
      char left[32] = "-";
      if (row.held && row.has_remaining) {
         cli_format_duration (row.remaining_ms, left, sizeof left);
      }
      char *key = cli_escape_text (row.key);
      holder_row_t h;
      bool any = false;
      while (next_holder (&row, &h)) {
         /* A semaphore or reader/writer lock: one line per live holder. */
         any = true;
         char hleft[32], what[48];
         cli_format_duration (h.remaining_ms > 0 ? h.remaining_ms : 0, hleft, sizeof hleft);
         if (h.mode) {
            snprintf (what, sizeof what, "[%s]", strcmp (h.mode, "w") == 0 ? "write" : "read");
         } else {
            snprintf (what, sizeof what, "[permit of %" PRId64 "]", row.permits);
         }
         char *holder = cli_escape_text (h.owner);
         cli_print_padded (key, key_w);
         printf ("  %-7s  %8s  %-20" PRId64 "  %s %s\n", "held", hleft, h.token, holder, what);
         bson_free (holder);
      }
      if (!any) {
         char *holder = cli_escape_text (row.holder ? row.holder : "-");
         cli_print_padded (key, key_w);
         printf ("  %-7s  %8s  %-20" PRId64 "  %s", row.held ? "held" : row_state (&row), left, row.token, holder);
         if (row.queued > 0) {
            printf (" (%" PRId64 " queued)", row.queued);
         }
         printf ("\n");
         bson_free (holder);
      }
      bson_free (key);
   }
}

int
cli_cmd_status (int argc, char **argv, cli_common_t *common)
{
   static const struct option longopts[] = {
      CLI_COMMON_LONG_OPTIONS,
      {"prefix", required_argument, NULL, 'p'},
      {"json", no_argument, NULL, 'j'},
      {"docs", required_argument, NULL, 'd'},
      {0},
   };
   const char *prefix = NULL, *docs = NULL;
   bool json = false, help = false;
   int opt;
   opterr = 0;
   optind = 0;
   while ((opt = getopt_long (argc, argv, ":h", longopts, NULL)) != -1) {
      switch (opt) {
      case 'p':
         prefix = optarg;
         break;
      case 'j':
         json = true;
         break;
      case 'd':
         docs = optarg;
         break;
      case 'h':
         help = true;
         break;
      default: {
         int rc = cli_other_option ("status", common, opt, argv, &help);
         if (rc >= 0) {
            return rc;
         }
      }
      }
   }
   if (help) {
      fputs (status_help, stdout);
      fputs (cli_common_help, stdout);
      return CLI_EXIT_OK;
   }
   if (optind < argc) {
      return cli_usage_error ("status", "unexpected argument '%s'", argv[optind]);
   }
   if (docs && prefix) {
      return cli_usage_error ("status", "--prefix and --docs cannot be combined");
   }
   cli_conn_t conn;
   int rc;
   if (!cli_connect (common, 30000, &conn, &rc)) {
      return rc;
   }
   if (docs) {
      rc = cli_status_docs (&conn, docs, json); /* status-docs.c */
      cli_disconnect (&conn);
      return rc;
   }
   bson_t locks;
   bson_error_t error;
   if (mongolock_client_list_locks (conn.client, prefix, 0, &locks, &error)) {
      if (json) {
         print_json (&locks, conn.client);
      } else {
         print_table (&locks, prefix && *prefix ? prefix : NULL);
      }
      rc = CLI_EXIT_OK;
   } else {
      rc = cli_report_error ("cannot list locks", &error);
   }
   bson_destroy (&locks);
   cli_disconnect (&conn);
   return rc;
}
