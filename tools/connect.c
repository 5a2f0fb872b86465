/* SPDX-License-Identifier: Apache-2.0 */
/* Common options, the connection to the server and how errors map to exit codes. */
#include "cli.h"
#include "redact-private.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Used when neither an option nor the URI sets them. */
#define DEFAULT_SERVER_TIMEOUT_MS 10000
#define DEFAULT_CONNECT_TIMEOUT_MS 10000

const char *cli_progname = "mongolock";
const char *cli_secret_uri = NULL;

const char cli_common_help[] =
   "Connection options (also accepted before the subcommand):\n"
   "  --uri URI               MongoDB connection string (default: $MONGOLOCK_URI)\n"
   "  --db NAME               database of the lock collection (default: mongolock)\n"
   "  --collection NAME       lock collection (default: locks)\n"
   "  --server-timeout D      give up finding/connecting to a server after D (default: 10s)\n"
   "  --socket-timeout D      give up waiting for a reply after D\n"
   "  --help                  show this help\n"
   "Durations: 500ms, 30s, 1.5s, 5m, 2h; a bare number is seconds.\n";

void
cli_common_init (cli_common_t *common)
{
   memset (common, 0, sizeof *common);
   common->server_timeout_ms = -1;
   common->socket_timeout_ms = -1;
}

static void
vreport (const char *fmt, va_list ap) BSON_GNUC_PRINTF (1, 0);

static void
vreport (const char *fmt, va_list ap)
{
   char buf[1024];
   vsnprintf (buf, sizeof buf, fmt, ap);
   /* Whatever produced the message (libmongoc included), no URI password in it. */
   char *safe = _mongolock_redact_uri (cli_secret_uri, buf);
   /* One line per error, whatever the driver's message holds. */
   for (char *p = safe; *p; p++) {
      if (*p == '\n' || *p == '\r') {
         *p = ' ';
      }
   }
   fprintf (stderr, "%s: %s\n", cli_progname, safe);
   bson_free (safe);
}

void
cli_error (const char *fmt, ...)
{
   va_list ap;
   va_start (ap, fmt);
   vreport (fmt, ap);
   va_end (ap);
}

int
cli_usage_error (const char *cmd, const char *fmt, ...)
{
   va_list ap;
   va_start (ap, fmt);
   vreport (fmt, ap);
   va_end (ap);
   fprintf (stderr, "Try '%s %s%s--help' for more information.\n", cli_progname, cmd ? cmd : "", cmd ? " " : "");
   return CLI_EXIT_USAGE;
}

int
cli_option_error (const char *cmd, int opt, char **argv)
{
   const char *arg = optind > 0 ? argv[optind - 1] : "";
   if (opt == ':') {
      return cli_usage_error (cmd, "option '%s' needs an argument", arg);
   }
   if (optopt && strncmp (arg, "--", 2) != 0) {
      return cli_usage_error (cmd, "unknown option '-%c'", optopt);
   }
   return cli_usage_error (cmd, "unknown option '%s'", arg);
}

int
cli_other_option (const char *cmd, cli_common_t *common, int opt, char **argv, bool *help)
{
   int r = cli_common_option (common, opt, optarg, help);
   if (r < 0) {
      return CLI_EXIT_USAGE;
   }
   return r == 0 ? cli_option_error (cmd, opt, argv) : -1;
}

int
cli_common_option (cli_common_t *common, int opt, const char *arg, bool *help)
{
   switch (opt) {
   case CLI_OPT_URI:
      common->uri = arg;
      return 1;
   case CLI_OPT_DB:
      common->db = arg;
      return 1;
   case CLI_OPT_COLLECTION:
      common->collection = arg;
      return 1;
   case CLI_OPT_SERVER_TIMEOUT:
      return cli_duration_arg (NULL, "--server-timeout", arg, 1, 3600 * 1000, &common->server_timeout_ms) ? 1 : -1;
   case CLI_OPT_SOCKET_TIMEOUT:
      return cli_duration_arg (NULL, "--socket-timeout", arg, 1, 24 * 3600 * 1000, &common->socket_timeout_ms) ? 1
                                                                                                              : -1;
   case CLI_OPT_HELP:
      *help = true;
      return 1;
   default:
      return 0;
   }
}

static void
set_ms (mongoc_uri_t *uri, const char *option, int64_t ms)
{
   mongoc_uri_set_option_as_int32 (uri, option, ms > INT32_MAX ? INT32_MAX : (int32_t) ms);
}

bool
cli_connect (const cli_common_t *common, int64_t socket_default_ms, cli_conn_t *conn, int *exit_code)
{
   memset (conn, 0, sizeof *conn);
   const char *uri_string = common->uri;
   if (!uri_string) {
      uri_string = getenv ("MONGOLOCK_URI");
   }
   if (!uri_string || !*uri_string) {
      cli_usage_error (NULL, "no server given: use --uri URI or set MONGOLOCK_URI");
      *exit_code = CLI_EXIT_USAGE;
      return false;
   }
   bson_error_t error;
   /* The URI itself is never printed, and every message is redacted (cli_error): it may
    * hold a password. */
   cli_secret_uri = uri_string;
   if (_mongolock_uri_userinfo_ambiguous (uri_string)) {
      cli_error ("invalid MongoDB URI%s: %s", common->uri ? "" : " in MONGOLOCK_URI", _MONGOLOCK_AMBIGUOUS_USERINFO);
      *exit_code = CLI_EXIT_BAD_URI;
      return false;
   }
   conn->uri = mongoc_uri_new_with_error (uri_string, &error);
   if (!conn->uri) {
      cli_error ("invalid MongoDB URI%s: %s", common->uri ? "" : " in MONGOLOCK_URI", error.message);
      *exit_code = CLI_EXIT_BAD_URI;
      return false;
   }
   if (common->server_timeout_ms >= 0) {
      set_ms (conn->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, common->server_timeout_ms);
      set_ms (conn->uri, MONGOC_URI_CONNECTTIMEOUTMS, common->server_timeout_ms);
   } else {
      if (!mongoc_uri_has_option (conn->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS)) {
         set_ms (conn->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, DEFAULT_SERVER_TIMEOUT_MS);
      }
      if (!mongoc_uri_has_option (conn->uri, MONGOC_URI_CONNECTTIMEOUTMS)) {
         int32_t sst = mongoc_uri_get_option_as_int32 (
            conn->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, DEFAULT_SERVER_TIMEOUT_MS);
         set_ms (conn->uri, MONGOC_URI_CONNECTTIMEOUTMS, sst < DEFAULT_CONNECT_TIMEOUT_MS ? sst : DEFAULT_CONNECT_TIMEOUT_MS);
      }
   }
   if (common->socket_timeout_ms >= 0) {
      set_ms (conn->uri, MONGOC_URI_SOCKETTIMEOUTMS, common->socket_timeout_ms);
   } else if (!mongoc_uri_has_option (conn->uri, MONGOC_URI_SOCKETTIMEOUTMS)) {
      set_ms (conn->uri, MONGOC_URI_SOCKETTIMEOUTMS, socket_default_ms);
   }
   if (!mongoc_uri_get_appname (conn->uri)) {
      mongoc_uri_set_appname (conn->uri, "mongolock-cli");
   }
   conn->pool = mongoc_client_pool_new_with_error (conn->uri, &error);
   if (!conn->pool) {
      cli_error ("invalid MongoDB URI%s: %s", common->uri ? "" : " in MONGOLOCK_URI", error.message);
      *exit_code = CLI_EXIT_BAD_URI;
      cli_disconnect (conn);
      return false;
   }
   mongoc_client_pool_set_error_api (conn->pool, MONGOC_ERROR_API_VERSION_2);

   mongolock_client_opts_t *opts = mongolock_client_opts_new ();
   bool ok = (!common->db || mongolock_client_opts_set_database (opts, common->db, &error)) &&
             (!common->collection || mongolock_client_opts_set_collection (opts, common->collection, &error));
   if (ok) {
      conn->client = mongolock_client_new_from_pool (conn->pool, opts, &error);
      ok = conn->client != NULL;
   }
   mongolock_client_opts_destroy (opts);
   if (!ok) {
      *exit_code = cli_report_error ("invalid lock collection settings", &error);
      cli_disconnect (conn);
      return false;
   }
   return true;
}

void
cli_disconnect (cli_conn_t *conn)
{
   mongolock_client_destroy (conn->client);
   mongoc_client_pool_destroy (conn->pool);
   mongoc_uri_destroy (conn->uri);
   memset (conn, 0, sizeof *conn);
}

int
cli_ping (cli_conn_t *conn)
{
   bson_t cmd = BSON_INITIALIZER, reply;
   bson_error_t error;
   BSON_APPEND_INT32 (&cmd, "ping", 1);
   mongoc_client_t *c = mongoc_client_pool_pop (conn->pool);
   bool ok = mongoc_client_command_simple (c, "admin", &cmd, NULL, &reply, &error);
   mongoc_client_pool_push (conn->pool, c);
   bson_destroy (&cmd);
   bson_destroy (&reply);
   return ok ? CLI_EXIT_OK : cli_report_error ("cannot use the server", &error);
}

int
cli_exit_code_for (const bson_error_t *error)
{
   if (error->domain == MONGOLOCK_ERROR_DOMAIN) {
      switch (error->code) {
      case MONGOLOCK_ERROR_INVALID_ARGUMENT:
      case MONGOLOCK_ERROR_MISMATCH: /* run --permits N on a key used otherwise */
         return CLI_EXIT_USAGE;
      case MONGOLOCK_ERROR_TIMEOUT:
         return CLI_EXIT_BUSY;
      case MONGOLOCK_ERROR_LOST:
         return CLI_EXIT_LOST;
      case MONGOLOCK_ERROR_DUPLICATES:
         return CLI_EXIT_DUPLICATES;
      case MONGOLOCK_ERROR_INDEX_CONFLICT:
         return CLI_EXIT_CONFLICT;
      case MONGOLOCK_ERROR_INTERNAL:
         return CLI_EXIT_INTERNAL;
      case MONGOLOCK_ERROR_STORE_TIMEOUT: /* no answer by the deadline: never "busy" */
         return CLI_EXIT_UNREACHABLE;
      case MONGOLOCK_ERROR_LEASE_TOO_SHORT: /* the lock could not be kept */
         return CLI_EXIT_LOST;
      default:
         return CLI_EXIT_SERVER;
      }
   }
   if (error->domain == MONGOC_ERROR_CLIENT && error->code == MONGOC_ERROR_CLIENT_AUTHENTICATE) {
      return CLI_EXIT_AUTH;
   }
   /* 18 AuthenticationFailed, 13 Unauthorized. */
   if ((error->domain == MONGOC_ERROR_SERVER || error->domain == MONGOC_ERROR_QUERY) &&
       (error->code == 18 || error->code == 13)) {
      return CLI_EXIT_AUTH;
   }
   if (error->domain == MONGOC_ERROR_SERVER_SELECTION || error->domain == MONGOC_ERROR_STREAM) {
      return CLI_EXIT_UNREACHABLE;
   }
   return CLI_EXIT_SERVER;
}

int
cli_report_error (const char *what, const bson_error_t *error)
{
   int code = cli_exit_code_for (error);
   const char *kind = "";
   switch (code) {
   case CLI_EXIT_AUTH:
      kind = "authentication failed: ";
      break;
   case CLI_EXIT_UNREACHABLE:
      kind = "server unreachable: ";
      break;
   case CLI_EXIT_SERVER:
      kind = error->domain == MONGOC_ERROR_SERVER ? "server error: " : "";
      break;
   default:
      break;
   }
   if (code == CLI_EXIT_AUTH && strncasecmp (error->message, "Authentication failed.", 23) == 0) {
      /* The driver's whole message; say what to check instead of repeating it. */
      cli_error ("%s: authentication failed: check the user, password and authSource in the URI", what);
   } else if (error->domain == MONGOC_ERROR_SERVER) {
      cli_error ("%s: %s%s (code %u)", what, kind, error->message, error->code);
   } else {
      cli_error ("%s: %s%s", what, kind, error->message);
   }
   return code;
}
