/* SPDX-License-Identifier: Apache-2.0 */
/* Shared declarations of the mongolock command-line tool. The tool uses only the public
 * library API (<mongolock/mongolock.h>). */
#ifndef MONGOLOCK_CLI_H
#define MONGOLOCK_CLI_H

#include <mongolock/mongolock.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Exit codes (documented in mongolock.1). Mostly sysexits.h values, so they stay clear of
 * the small codes commands usually exit with; `run` passes its command's status through.
 */
enum {
   CLI_EXIT_OK = 0,
   CLI_EXIT_NOT_FOUND = 1,       /* release --force: no such lock */
   CLI_EXIT_USAGE = 64,          /* bad option, argument or duration */
   CLI_EXIT_SPEC_INVALID = 65,   /* spec file is not valid JSON or not in the spec format */
   CLI_EXIT_SPEC_MISSING = 66,   /* spec file missing or unreadable */
   CLI_EXIT_UNREACHABLE = 69,    /* no server reachable within the timeouts */
   CLI_EXIT_INTERNAL = 70,       /* out of resources, fork failed, ... */
   CLI_EXIT_IO = 74,             /* standard output could not be written (EPIPE, ENOSPC, ...) */
   CLI_EXIT_BUSY = 75,           /* lock held by another (after --wait, or at once with --wait 0) */
   CLI_EXIT_SERVER = 76,         /* the server refused or failed a command */
   CLI_EXIT_AUTH = 77,           /* authentication (or authorization) failed */
   CLI_EXIT_BAD_URI = 78,        /* the MongoDB URI is malformed */
   CLI_EXIT_LOST = 79,           /* run: the lease was lost while the command ran */
   CLI_EXIT_DUPLICATES = 80,     /* migrate: existing data has duplicates */
   CLI_EXIT_CONFLICT = 81,       /* migrate: an existing index conflicts */
   CLI_EXIT_CANNOT_EXEC = 126,   /* run: command found but not executable */
   CLI_EXIT_NO_COMMAND = 127,    /* run: command not found */
};

/* Options every subcommand accepts. Durations in ms; -1 means "not given". */
typedef struct {
   const char *uri; /* --uri, else $MONGOLOCK_URI */
   const char *db;
   const char *collection;
   int64_t server_timeout_ms;
   int64_t socket_timeout_ms;
} cli_common_t;

/* getopt_long ids of the common options; subcommands add their own below 0x100. */
enum {
   CLI_OPT_URI = 0x100,
   CLI_OPT_DB,
   CLI_OPT_COLLECTION,
   CLI_OPT_SERVER_TIMEOUT,
   CLI_OPT_SOCKET_TIMEOUT,
   CLI_OPT_HELP,
};

/* The common long options (entries for struct option tables), terminated by {0}. */
#define CLI_COMMON_LONG_OPTIONS                                                   \
   {"uri", required_argument, NULL, CLI_OPT_URI},                                 \
      {"db", required_argument, NULL, CLI_OPT_DB},                                \
      {"collection", required_argument, NULL, CLI_OPT_COLLECTION},                \
      {"server-timeout", required_argument, NULL, CLI_OPT_SERVER_TIMEOUT},        \
      {"socket-timeout", required_argument, NULL, CLI_OPT_SOCKET_TIMEOUT},        \
      {"help", no_argument, NULL, CLI_OPT_HELP}

/* Help text lines for the common options. */
extern const char cli_common_help[];

/* Program name for messages ("mongolock"). */
extern const char *cli_progname;

/* The URI in use (set by cli_connect, else $MONGOLOCK_URI at start): cli_error and the
 * driver's log handler redact its credentials from every message. */
extern const char *cli_secret_uri;

void
cli_common_init (cli_common_t *common);

/*
 * Handles one getopt_long result that is a common option. Returns 1 when handled, 0 when
 * it is not a common option, -1 after printing a usage error (exit CLI_EXIT_USAGE). Sets
 * *help for --help.
 */
int
cli_common_option (cli_common_t *common, int opt, const char *arg, bool *help);

/* Reports an option getopt_long did not accept (opt is '?' or ':'); returns CLI_EXIT_USAGE. */
int
cli_option_error (const char *cmd, int opt, char **argv);

/* The fallback of every option loop: opt is a common option (handled: returns -1, keep
 * parsing) or one not accepted (a usage error is printed and its exit code returned). */
int
cli_other_option (const char *cmd, cli_common_t *common, int opt, char **argv, bool *help);

/* Prints "mongolock: <message>\n" to stderr, on one line, without URI credentials. */
void
cli_error (const char *fmt, ...) BSON_GNUC_PRINTF (1, 2);

/* Prints a usage error and a hint to run `mongolock CMD --help`; returns CLI_EXIT_USAGE. */
int
cli_usage_error (const char *cmd, const char *fmt, ...) BSON_GNUC_PRINTF (2, 3);

/*
 * Parses a duration: digits with an optional fraction and an optional unit ms, s, m or h
 * (no unit means seconds), e.g. "500ms", "30s", "1.5s", "5m", "0". Returns false and writes
 * a reason to err (errlen bytes) for anything else or a value above 2^53 ms. Never sets
 * *ms on failure.
 */
bool
cli_parse_duration (const char *s, int64_t *ms, char *err, size_t errlen);

/* Parses a duration option's argument and checks lo <= ms <= hi; prints a usage error
 * naming the option and returns false when it does not parse or is out of range. */
bool
cli_duration_arg (const char *cmd, const char *option, const char *arg, int64_t lo, int64_t hi, int64_t *ms);

/* Formats ms as a short human duration ("850ms", "12.3s", "5m02s", "3h04m") into buf. */
void
cli_format_duration (int64_t ms, char *buf, size_t len);

/* A connection: the pool (error API 2) and the mongolock client on it. */
typedef struct {
   mongoc_client_pool_t *pool;
   mongolock_client_t *client;
   mongoc_uri_t *uri;
} cli_conn_t;

/*
 * Connects: parses the URI (from common or $MONGOLOCK_URI), applies the timeouts
 * (socket_default_ms when no --socket-timeout and the URI sets none), creates the pool
 * and the mongolock client on it. Returns false after printing a one-line error, with
 * *exit_code set. Does not contact the server; cli_ping does.
 */
bool
cli_connect (const cli_common_t *common, int64_t socket_default_ms, cli_conn_t *conn, int *exit_code);

/* Frees what cli_connect made; safe on a zeroed conn. */
void
cli_disconnect (cli_conn_t *conn);

/* Runs {ping: 1} so that an unreachable server or a failed authentication is reported as
 * such before any real work. Returns CLI_EXIT_OK or the exit code after printing why. */
int
cli_ping (cli_conn_t *conn);

/* The exit code for an error from the driver, the server or the library. */
int
cli_exit_code_for (const bson_error_t *error);

/* Prints "mongolock: <what>: <explanation of error>" and returns cli_exit_code_for(error). */
int
cli_report_error (const char *what, const bson_error_t *error);

/*
 * Text from the database made safe for a terminal: control characters (C0, DEL, C1) and
 * bytes that are not valid UTF-8 become \xNN, and '\' becomes "\\". Caller frees with
 * bson_free. NULL is treated as "".
 */
char *
cli_escape_text (const char *s);

/* Terminal columns s takes (UTF-8: a code point is one column, combining marks none, East
 * Asian wide characters two; an invalid byte one). */
int
cli_display_width (const char *s);

/* Prints s to stdout, then spaces up to width columns (none when s is wider). */
void
cli_print_padded (const char *s, int width);

/* s with every byte that is not part of valid UTF-8 replaced by U+FFFD (JSON strings must
 * be UTF-8; libbson refuses to print a document holding such a string). Caller frees. */
char *
cli_utf8_sanitize (const char *s);

/* JSON text (valid UTF-8) with DEL and C1 controls, which libbson leaves raw, written as
 * \u00XX. Caller frees. */
char *
cli_json_escape_controls (const char *json);

/* Prints a BSON document as one line of relaxed extended JSON to stdout, every control
 * character escaped (strings must be valid UTF-8: see cli_utf8_sanitize), and every
 * 64-bit integer a double cannot hold exactly (beyond +-2^53) written as
 * {"$numberLong": "N"}, so that JavaScript and jq do not round it (json.c). */
void
cli_print_json (const bson_t *doc);

/* Appends a fencing token as a decimal string ("1883370142481514496"): tokens are about
 * 2^60, and a JSON number that large is rounded by JavaScript and jq (json.c). */
void
cli_append_token (bson_t *doc, const char *key, int64_t token);

/* status --docs DB.COLL (status-docs.c): lists locked documents; returns the exit code. */
int
cli_status_docs (cli_conn_t *conn, const char *ns, bool json);

/* Subcommands: argv[0] is the subcommand's name. Each returns the exit code. */
int
cli_cmd_run (int argc, char **argv, cli_common_t *common);
int
cli_cmd_status (int argc, char **argv, cli_common_t *common);
int
cli_cmd_release (int argc, char **argv, cli_common_t *common);
int
cli_cmd_migrate (int argc, char **argv, cli_common_t *common);

#endif
