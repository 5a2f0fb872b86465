/* SPDX-License-Identifier: Apache-2.0 */
/* The command-line tool without a server: duration parsing, help, usage errors, bad URIs,
 * an unreachable server, spec file errors. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "cli-test.h"
#include "cli.h"
#include "live.h"

static void
init (void)
{
   unsetenv ("MONGOLOCK_URI");
}
TestSuite (cli, .init = init, .timeout = 120);

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

/* ---- durations (tools/duration.c, linked in) ---- */

Test (cli, duration_accepts_units_fractions_and_bare_seconds)
{
   static const struct {
      const char *s;
      int64_t ms;
   } ok[] = {
      {"500ms", 500},     {"30s", 30000},        {"5m", 300000},   {"2h", 7200000},
      {"0", 0},           {"0ms", 0},            {"10", 10000},    {"1.5s", 1500},
      {"1.5", 1500},      {"0.25m", 15000},      {"007s", 7000},   {"0.001s", 1},
      {"1.250s", 1250},   {"9007199254740992ms", INT64_C (9007199254740992)},
   };
   for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
      int64_t ms = -1;
      char err[128] = "";
      cr_assert (cli_parse_duration (ok[i].s, &ms, err, sizeof err), "\"%s\" refused: %s", ok[i].s, err);
      cr_assert_eq (ms, ok[i].ms, "\"%s\" parsed as %lld", ok[i].s, (long long) ms);
   }
}

Test (cli, duration_rejects_garbage_and_overflow_with_a_reason)
{
   static const struct {
      const char *s;
      const char *why;
   } bad[] = {
      {"", "empty"},
      {"s", "expected a number"},
      {"ms", "expected a number"},
      {"-1s", "expected a number"},
      {"+1s", "expected a number"},
      {".5s", "expected a number"},
      {"1.s", "decimal point"},
      {"1x", "unknown unit"},
      {"1S", "unknown unit"},
      {"1 s", "unknown unit"},
      {" 1s", "expected a number"},
      {"1s ", "unknown unit"},
      {"5m30s", "unknown unit"},
      {"1e3", "unknown unit"},
      {"0x10", "unknown unit"},
      {"1.0005s", "millisecond"},
      {"0.5ms", "millisecond"},
      {"1.2345678901s", "decimal places"},
      {"9007199254740993ms", "too large"},
      {"99999999999999999999s", "too large"},
      {"9223372036854775807ms", "too large"},
      {"184467440737095516160000h", "too large"},
      {"3000000000h", "too large"},
   };
   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      int64_t ms = 12345;
      char err[128] = "";
      cr_assert_not (cli_parse_duration (bad[i].s, &ms, err, sizeof err), "\"%s\" accepted as %lld", bad[i].s,
                     (long long) ms);
      cr_assert_eq (ms, 12345, "\"%s\": output touched on failure", bad[i].s);
      cr_assert (strstr (err, bad[i].why), "\"%s\": reason \"%s\" lacks \"%s\"", bad[i].s, err, bad[i].why);
   }
}

Test (cli, duration_formatting)
{
   static const struct {
      int64_t ms;
      const char *s;
   } cases[] = {{0, "0ms"}, {850, "850ms"}, {12345, "12.3s"}, {302000, "5m02s"}, {11040000, "3h04m"}, {-1500, "-1.5s"}};
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      char buf[32];
      cli_format_duration (cases[i].ms, buf, sizeof buf);
      cr_assert_str_eq (buf, cases[i].s);
   }
}

/* ---- the binary ---- */

static void
expect (const char *const *args, int code, const char *stderr_has)
{
   cli_result_t r;
   cli_run (&r, args);
   cli_assert_code (&r, code);
   if (stderr_has) {
      cr_assert (strstr (r.err, stderr_has), "stderr lacks \"%s\":\n%s", stderr_has, r.err);
   }
   cli_result_destroy (&r);
}

Test (cli, version_and_help_on_every_subcommand)
{
   cli_result_t r;
   cli_run (&r, ARGS ("--version"));
   cli_assert_code (&r, 0);
   cr_assert (strncmp (r.out, "mongolock ", 10) == 0, "%s", r.out);
   cli_result_destroy (&r);
   const char *cmds[] = {"run", "status", "release", "migrate"};
   for (size_t i = 0; i < 4; i++) {
      char usage[64];
      snprintf (usage, sizeof usage, "Usage: mongolock %s", cmds[i]);
      cli_run (&r, ARGS (cmds[i], "--help"));
      cli_assert_code (&r, 0);
      cr_assert (strstr (r.out, usage), "%s --help:\n%s", cmds[i], r.out);
      cr_assert (strstr (r.out, "--uri"), "%s --help lists the connection options", cmds[i]);
      cr_assert_str_empty (r.err);
      cli_result_destroy (&r);
      cli_run (&r, ARGS ("help", cmds[i]));
      cli_assert_code (&r, 0);
      cr_assert (strstr (r.out, usage));
      cli_result_destroy (&r);
   }
   cli_run (&r, ARGS ("--help"));
   cli_assert_code (&r, 0);
   for (size_t i = 0; i < 4; i++) {
      cr_assert (strstr (r.out, cmds[i]));
   }
   cli_result_destroy (&r);
}

/* status --docs lists business documents, which have no key prefix: --prefix with it was
 * silently ignored. */
Test (cli, status_prefix_with_docs_is_a_usage_error)
{
   expect (ARGS ("status", "--docs", "app.users", "--prefix", "x"), 64, "--prefix and --docs cannot be combined");
   expect (ARGS ("status", "--prefix", "x", "--docs", "app.users", "--json"), 64, "--prefix and --docs cannot be combined");
}

Test (cli, usage_errors_exit_64_with_one_message_and_a_hint)
{
   expect (ARGS ("x"), 64, "unknown command 'x'");
   expect (ARGS ("--bogus"), 64, "unknown option '--bogus'");
   expect (ARGS ("status", "--bogus"), 64, "unknown option '--bogus'");
   expect (ARGS ("status", "--prefix"), 64, "needs an argument");
   expect (ARGS ("status", "extra"), 64, "unexpected argument");
   expect (ARGS ("run"), 64, "missing KEY");
   expect (ARGS ("run", "-w", "1s"), 64, "missing KEY");
   expect (ARGS ("run", "--", "true"), 64, "missing COMMAND"); /* "true" is the KEY */
   expect (ARGS ("run", "k", "--"), 64, "missing COMMAND");
   expect (ARGS ("run", "-E", "256", "k", "true"), 64, "not an exit status");
   expect (ARGS ("run", "-E", "-1", "k", "true"), 64, "not an exit status");
   expect (ARGS ("run", "--conflict-exit-code", "x", "k", "true"), 64, "not an exit status");
   expect (ARGS ("run", "--wait", "never", "k", "true"), 64, "invalid duration");
   /* Parsed, then refused only for the missing server. */
   expect (ARGS ("run", "--wait", "forever", "-E", "0", "k", "--", "true"), 64, "no server given");
   expect (ARGS ("run", "-w", "inf", "--conflict-exit-code", "255", "k", "true"), 64, "no server given");
   expect (ARGS ("run", "--key", "k"), 64, "missing COMMAND");
   expect (ARGS ("run", "--key", "k", "--lease", "10ms", "--", "true"), 64, "out of range");
   expect (ARGS ("run", "--key", "k", "--lease", "25h", "--", "true"), 64, "out of range");
   expect (ARGS ("run", "--key", "k", "--wait", "5x", "--", "true"), 64, "unknown unit");
   expect (ARGS ("run", "--key", "k", "--wait", "99999999999999999999s", "--", "true"), 64, "too large");
   expect (ARGS ("run", "--key", "k", "--fence-env", "1BAD", "--", "true"), 64, "not a valid environment");
   expect (ARGS ("run", "--key", "k", "--fence-env", "A=B", "--", "true"), 64, "not a valid environment");
   expect (ARGS ("--server-timeout", "0", "status"), 64, "out of range");
   expect (ARGS ("status", "--socket-timeout", "abc"), 64, "invalid duration");
   expect (ARGS ("release", "k"), 64, "without --force");
   expect (ARGS ("release", "--force"), 64, "missing lock KEY");
   expect (ARGS ("release", "--force", "a", "b"), 64, "one KEY at a time");
   expect (ARGS ("migrate", "spec.json"), 64, "--spec");
   /* No server given at all. */
   expect (ARGS ("status"), 64, "no server given");
   expect (ARGS ("run", "--key", "k", "--", "true"), 64, "no server given");

   cli_result_t r;
   cli_run (&r, ARGS ("run", "--key", "k", "--lease", "1y", "--", "true"));
   cr_assert_eq (cli_count_lines (r.err, "mongolock:"), 1, "one error line:\n%s", r.err);
   cr_assert (strstr (r.err, "Try 'mongolock run --help'"), "%s", r.err);
   cr_assert_str_empty (r.out);
   cli_result_destroy (&r);
}

Test (cli, bad_uri_exits_78_without_echoing_the_password)
{
   expect (ARGS ("--uri", "mongodb://x:y:z", "status"), 78, "invalid MongoDB URI");
   expect (ARGS ("--uri", "http://example.com", "status"), 78, "invalid MongoDB URI");
   expect (ARGS ("status", "--uri", "mongodb://h/?replicaSet="), 78, "invalid MongoDB URI");
   cli_result_t r;
   cli_run (&r, ARGS ("--uri", "mongodb://admin:s3cr3tpw@db.example:99999/", "release", "--force", "k"));
   cli_assert_code (&r, 78);
   cr_assert_null (strstr (r.err, "s3cr3tpw"), "the password is printed:\n%s", r.err);
   cr_assert_eq (cli_count_lines (r.err, ""), 1, "one line:\n%s", r.err);
   cli_result_destroy (&r);
   setenv ("MONGOLOCK_URI", "mongodb://", 1);
   expect (ARGS ("status"), 78, "in MONGOLOCK_URI");
   unsetenv ("MONGOLOCK_URI");
}

/* The URIs, and more shapes: no password (nor a piece of it) on stderr, from any
 * command, given with --uri or MONGOLOCK_URI, with the driver's log on or off. */
Test (cli, no_uri_password_reaches_stderr)
{
   static const char *const uris[] = {
      "mongodb://alice:S3cr3t:Pa55w0rd@127.0.0.1/",
      "mongodb://alice:S3cr3t@Pa55w0rd@127.0.0.1:1/",
      "mongodb://alice:S3cr3t/Pa55w0rd@127.0.0.1/",
      "mongodb://alice:S3cr3t%zzPa55w0rd@127.0.0.1/",
      "mongodb+srv://alice:S3cr3t:Pa55w0rd@cluster.invalid/",
      "mongodb://alice:S3cr3tPa55w0rd@127.0.0.1:1,[::1/",
      "mongodb://alice:S3cr3tPa55w0rd@127.0.0.1:1/?serverSelectionTimeoutMS=%zz",
      "mongodb://alice:S3cr3tPa55w0rd@nohost.invalid:1/?replicaSet=rs0&serverSelectionTimeoutMS=300",
   };
   static const char *const secrets[] = {"S3cr3t", "Pa55w0rd", "w0rd", NULL};
   /* Each URI one way, the four ways in turn (the suite also runs under valgrind). */
   for (size_t i = 0; i < sizeof uris / sizeof uris[0]; i++) {
      for (int how = (int) (i % 4); how == (int) (i % 4); how++) {
         cli_result_t r;
         if (how & 2) {
            setenv ("MONGOLOCK_DRIVER_LOG", "1", 1);
         }
         if (how & 1) {
            setenv ("MONGOLOCK_URI", uris[i], 1);
            cli_run (&r, ARGS ("--server-timeout", "300ms", "run", "-k", "k", "--", "true"));
         } else {
            cli_run (&r, ARGS ("--uri", uris[i], "--server-timeout", "300ms", "status"));
         }
         unsetenv ("MONGOLOCK_URI");
         unsetenv ("MONGOLOCK_DRIVER_LOG");
         cr_assert (r.code == 78 || r.code == 69, "%s: exit %d\n%s", uris[i], r.code, r.err);
         for (int k = 0; secrets[k]; k++) {
            cr_assert_null (strstr (r.err, secrets[k]), "%s (%d): %s on stderr:\n%s", uris[i], how, secrets[k], r.err);
         }
         cr_assert (strstr (r.err, "mongolock: "), "%s", r.err);
         cli_result_destroy (&r);
      }
   }
   /* An unescaped '@' in the password: refused with what to do, not "Failed to resolve". */
   expect (ARGS ("--uri", "mongodb://alice:S3cr3t@Pa55w0rd@127.0.0.1:1/", "status"), 78, "percent-encode it as %40");
}

/* ---- escaping text from the database (tools/escape.c, linked in) ---- */

Test (cli, escape_text_for_the_terminal)
{
   static const struct {
      const char *in, *out;
   } cases[] = {
      {"plain/key-1", "plain/key-1"},
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x92"},
      {"a\x1b[31mb\x07", "a\\x1B[31mb\\x07"},
      {"tab\there\r\n", "tab\\x09here\\x0D\\x0A"},
      {"del\x7f c1\xc2\x9b", "del\\x7F c1\\xC2\\x9B"},
      {"back\\slash", "back\\\\slash"},
      {"bad\xff\xfe", "bad\\xFF\\xFE"},
      {"trunc\xe2\x82", "trunc\\xE2\\x82"},
      {"overlong\xc0\xaf", "overlong\\xC0\\xAF"},
      {"surrogate\xed\xa0\x80", "surrogate\\xED\\xA0\\x80"},
      /* bidirectional overrides and isolates (RLO; LRI, PDI, RLM), not the letters they reorder */
      {"a\xe2\x80\xae" "cba", "a\\xE2\\x80\\xAE" "cba"},
      {"\xe2\x81\xa6x\xe2\x81\xa9\xe2\x80\x8f\xd7\x90", "\\xE2\\x81\\xA6x\\xE2\\x81\\xA9\\xE2\\x80\\x8F\xd7\x90"},
      {"", ""},
   };
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      char *e = cli_escape_text (cases[i].in);
      cr_assert_str_eq (e, cases[i].out, "case %zu", i);
      bson_free (e);
   }
   char *e = cli_escape_text (NULL);
   cr_assert_str_eq (e, "");
   bson_free (e);
}

Test (cli, json_strings_are_valid_utf8_with_every_control_escaped)
{
   char *s = cli_utf8_sanitize ("ok\xc3\xa9 bad\xff end\xe2\x82");
   cr_assert_str_eq (s, "ok\xc3\xa9 bad\xef\xbf\xbd end\xef\xbf\xbd\xef\xbf\xbd");
   bson_free (s);
   bson_t *doc = BCON_NEW ("k", BCON_UTF8 ("a\x1b\x7f\xc2\x9b\xc3\xa9"));
   char *json = bson_as_relaxed_extended_json (doc, NULL);
   char *safe = cli_json_escape_controls (json);
   cr_assert_str_eq (safe, "{ \"k\" : \"a\\u001b\\u007f\\u009b\xc3\xa9\" }");
   bson_error_t error;
   bson_t *back = bson_new_from_json ((const uint8_t *) safe, -1, &error);
   cr_assert (back, "%s", error.message);
   cr_assert (bson_equal (back, doc), "the escapes parse back to the same string");
   bson_destroy (back);
   bson_free (safe);
   bson_free (json);
   bson_destroy (doc);
}

/* A loopback port nothing listens on: bound, read, closed. */
static int
closed_port (void)
{
   int fd = socket (AF_INET, SOCK_STREAM, 0);
   struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK)};
   cr_assert (bind (fd, (struct sockaddr *) &a, sizeof a) == 0);
   socklen_t len = sizeof a;
   cr_assert (getsockname (fd, (struct sockaddr *) &a, &len) == 0);
   close (fd);
   return ntohs (a.sin_port);
}

Test (cli, unreachable_server_exits_69_within_the_configured_timeout)
{
   char uri[64];
   snprintf (uri, sizeof uri, "mongodb://127.0.0.1:%d/", closed_port ());
   char *dir = cli_tmpdir ();
   char *marker = cli_file (dir, "ran");
   const char *const *cases[] = {
      ARGS ("--uri", uri, "--server-timeout", "300ms", "status"),
      ARGS ("--uri", uri, "--server-timeout", "300ms", "release", "--force", "k"),
      ARGS ("--uri", uri, "--server-timeout", "300ms", "migrate"),
      ARGS ("--uri", uri, "--server-timeout", "300ms", "run", "--key", "k", "--wait", "5s", "--", "touch", marker),
   };
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      cli_result_t r;
      cli_run (&r, cases[i]);
      cli_assert_code (&r, 69);
      cr_assert (strstr (r.err, "unreachable"), "%s", r.err);
      cr_assert_eq (cli_count_lines (r.err, ""), 1, "one line:\n%s", r.err);
      /* Bounded by the timeout (0.3 s) with a wide margin for a loaded machine. */
      cr_assert_lt (r.elapsed_ms, 20000, "took %lld ms", (long long) r.elapsed_ms);
      cli_result_destroy (&r);
   }
   cr_assert (access (marker, F_OK) != 0, "run started its command without a lock");
   /* MONGOLOCK_URI is used when --uri is absent. */
   setenv ("MONGOLOCK_URI", uri, 1);
   expect (ARGS ("status", "--server-timeout", "300ms"), 69, "unreachable");
   unsetenv ("MONGOLOCK_URI");
   free (marker);
   cli_rmdir (dir);
   free (dir);
}

Test (cli, spec_file_missing_66_invalid_65_before_any_connection)
{
   char *dir = cli_tmpdir ();
   char *missing = cli_file (dir, "nope.json");
   /* No server is given: the spec is checked first. */
   expect (ARGS ("migrate", "--spec", missing), 66, "cannot read spec file");
   expect (ARGS ("migrate", "--spec", dir), 66, "Is a directory");
   static const struct {
      const char *json;
      const char *why;
   } bad[] = {
      {"{\"indexes\": [", "not valid JSON"},
      {"", "not valid JSON"},
      {"{}", "missing \"indexes\""},
      {"{\"indexes\": {}}", "indexes: must be an array"},
      {"{\"indexes\": [], \"databse\": \"x\"}", "unknown top-level field \"databse\""},
      {"{\"database\": 5, \"indexes\": []}", "database: must be a non-empty string"},
      {"{\"indexes\": [5]}", "indexes[0]: must be an object"},
      {"{\"indexes\": [{\"keys\": {\"a\": 1}}]}", "indexes[0]: missing \"collection\""},
      {"{\"indexes\": [{\"collection\": \"c\"}]}", "indexes[0]: missing \"keys\""},
      {"{\"indexes\": [{\"collection\": \"c\", \"keys\": {}}]}", "at least one field"},
      {"{\"indexes\": [{\"collection\": \"c\", \"keys\": {\"a\": 2}}]}", "indexes[0].keys.a: must be 1 or -1"},
      {"{\"indexes\": [{\"collection\": \"c\", \"keys\": {\"a\": \"text\"}}]}", "must be 1 or -1"},
      {"{\"indexes\": [{\"collection\": \"c\", \"keys\": {\"a\": 1}}, {\"collection\": \"\", \"keys\": {\"a\": 1}}]}",
       "indexes[1].collection"},
      {"{\"indexes\": [{\"collection\": \"c\", \"keys\": {\"a\": 1}, \"unique\": false}]}", "unknown field \"unique\""},
      {"{\"indexes\": [{\"collection\": \"c\", \"keys\": {\"a\": 1}, \"partialFilterExpression\": 1}]}",
       "partialFilterExpression: must be an object"},
      {"{\"indexes\": [{\"collection\": \"c\", \"keys\": {\"a\": 1}, \"name\": \"\"}]}", "name: must be a non-empty"},
   };
   char *path = cli_file (dir, "spec.json");
   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      cli_write (path, bad[i].json);
      cli_result_t r;
      cli_run (&r, ARGS ("migrate", "--spec", path));
      cli_assert_code (&r, 65);
      cr_assert (strstr (r.err, bad[i].why), "spec %s: stderr lacks \"%s\":\n%s", bad[i].json, bad[i].why, r.err);
      cr_assert_eq (cli_count_lines (r.err, ""), 1, "one line:\n%s", r.err);
      cli_result_destroy (&r);
   }
   /* A valid spec gets as far as the connection. */
   cli_write (path, "{\"database\": \"app\", \"indexes\": [{\"collection\": \"c\", \"keys\": {\"a\": 1}}]}");
   char uri[64];
   snprintf (uri, sizeof uri, "mongodb://127.0.0.1:%d/", closed_port ());
   expect (ARGS ("migrate", "--spec", path, "--uri", uri, "--server-timeout", "200ms"), 69, "unreachable");
   free (path);
   free (missing);
   cli_rmdir (dir);
   free (dir);
}

/* --version names the library the tool runs with (mongolock_get_version), not only the
 * headers it was compiled against. */
Test (cli, version_prints_the_library_version)
{
   cli_result_t r;
   cli_run (&r, ARGS ("--version"));
   cli_assert_code (&r, 0);
   char want[64];
   snprintf (want, sizeof want, "libmongolock %s", mongolock_get_version ());
   cr_assert (strstr (r.out, want), "--version lacks \"%s\":\n%s", want, r.out);
   cli_result_destroy (&r);
}

/* JSON output keeps every 64-bit integer exact for JavaScript and jq: tokens as decimal
 * strings, other integers beyond 2^53 as {"$numberLong": "..."}, nested ones included. */
Test (cli, json_output_never_has_a_number_a_double_would_round)
{
   bson_t *doc = BCON_NEW ("small", BCON_INT64 (INT64_C (1) << 53), "big", BCON_INT64 ((INT64_C (1) << 53) + 1),
                           "neg", BCON_INT64 (-INT64_C (1883370142481514496)), "nested", "[", "{", "v",
                           BCON_INT64 (INT64_C (1883370142481514497)), "}", "]", "i32", BCON_INT32 (7));
   cli_append_token (doc, "token", INT64_C (1883370142481514496));
   fflush (stdout);
   int saved = dup (1);
   char path[] = "/tmp/mlcli-json-XXXXXX";
   int fd = mkstemp (path);
   cr_assert (fd >= 0 && saved >= 0);
   dup2 (fd, 1);
   cli_print_json (doc);
   fflush (stdout);
   dup2 (saved, 1);
   close (saved);
   close (fd);
   char *out = cli_read (path);
   unlink (path);
   cr_assert_str_eq (out,
                     "{ \"small\" : 9007199254740992, \"big\" : { \"$numberLong\" : \"9007199254740993\" }, "
                     "\"neg\" : { \"$numberLong\" : \"-1883370142481514496\" }, \"nested\" : [ { \"v\" : { "
                     "\"$numberLong\" : \"1883370142481514497\" } } ], \"i32\" : 7, \"token\" : "
                     "\"1883370142481514496\" }\n");
   /* Extended JSON parsers read the wrapped values back exactly. */
   bson_error_t error;
   bson_t *back = bson_new_from_json ((const uint8_t *) out, -1, &error);
   cr_assert (back, "%s", error.message);
   bson_iter_t it;
   cr_assert (bson_iter_init (&it, back) && bson_iter_find_descendant (&it, "nested.0.v", &it));
   cr_assert (BSON_ITER_HOLDS_INT64 (&it) && bson_iter_int64 (&it) == INT64_C (1883370142481514497));
   bson_destroy (back);
   free (out);
   bson_destroy (doc);
}

/* Every exit status the tool can return, as the help and the man page must list them. */
static const char *const exit_codes[] = {"0", "1", "64", "65", "66", "69", "70", "74", "75", "76", "77",
                                         "78", "79", "80", "81", "126", "127", "128+N"};

Test (cli, help_lists_version_and_every_exit_code_and_so_does_the_man_page)
{
   cli_result_t r;
   cli_run (&r, ARGS ("--help"));
   cli_assert_code (&r, 0);
   cr_assert (strstr (r.out, "--version"), "--help does not list --version:\n%s", r.out);
   const char *status = strstr (r.out, "Exit status:");
   cr_assert (status, "%s", r.out);
   for (size_t i = 0; i < sizeof exit_codes / sizeof exit_codes[0]; i++) {
      char line[32];
      snprintf (line, sizeof line, "\n  %s ", exit_codes[i]);
      cr_assert (strstr (status, line), "--help lacks exit status %s:\n%s", exit_codes[i], status);
   }
   cli_result_destroy (&r);
   const char *man_path = getenv ("MONGOLOCK_MAN");
   cr_assert (man_path, "MONGOLOCK_MAN is not set");
   char *man = cli_read (man_path);
   cr_assert (man, "cannot read %s", man_path);
   const char *section = strstr (man, ".SH EXIT STATUS");
   cr_assert (section);
   for (size_t i = 0; i < sizeof exit_codes / sizeof exit_codes[0]; i++) {
      char line[32];
      snprintf (line, sizeof line, "\n.B %s\n", exit_codes[i]);
      cr_assert (strstr (section, line), "the man page lacks exit status %s", exit_codes[i]);
   }
   /* And the options this tool has: -E, --wait forever, the positional KEY. */
   cr_assert (strstr (man, "conflict\\-exit\\-code") && strstr (man, "forever"), "man page");
   free (man);
   cli_run (&r, ARGS ("run", "--help"));
   cr_assert (strstr (r.out, "-E, --conflict-exit-code N") && strstr (r.out, "forever") &&
                 strstr (r.out, "mongolock run [OPTIONS] KEY [--] COMMAND"),
              "%s", r.out);
   cli_result_destroy (&r);
}

Test (cli, display_width_counts_columns_not_bytes)
{
   cr_assert_eq (cli_display_width ("abc"), 3);
   cr_assert_eq (cli_display_width ("\xc3\xa9vian"), 5);           /* é: 2 bytes, 1 column */
   cr_assert_eq (cli_display_width ("\xe6\x97\xa5\xe6\x9c\xac"), 4); /* 日本: wide */
   cr_assert_eq (cli_display_width ("e\xcc\x81"), 1);              /* e + combining acute */
   cr_assert_eq (cli_display_width ("\\x1B"), 4);
   cr_assert_eq (cli_display_width (""), 0);
}

/* ---- the reaper (tools/child.c and reaper.c, linked in) ---- */

/* mongolock can be stopped (SIGSTOP, a debugger, a starved machine) between the command's
 * start and its first order to the reaper: the deadline given at spawn must already hold. */
Test (cli, the_reapers_first_deadline_holds_before_any_order)
{
   char dir[] = "/tmp/mlreap-XXXXXX";
   cr_assert (mkdtemp (dir));
   char *pidfile = bson_strdup_printf ("%s/pid", dir);
   char *script = bson_strdup_printf ("echo $$ > %s; exec sleep 30", pidfile);
   char *argv[] = {"sh", "-c", script, NULL};
   sigset_t mask;
   sigprocmask (SIG_SETMASK, NULL, &mask);
   cli_child_t child;
   int64_t start = mltest_now_ms ();
   /* CLOCK_MONOTONIC, like mltest_now_ms. */
   cr_assert_eq (cli_child_spawn (argv, NULL, NULL, &mask, start + 1500, &child), CLI_EXIT_OK);
   pid_t cmd = 0;
   while (!cmd && mltest_now_ms () < start + 10000) {
      char *text = cli_read (pidfile);
      cmd = text ? (pid_t) atoi (text) : 0;
      free (text);
      mltest_sleep_ms (5);
   }
   cr_assert_gt (cmd, 0, "the command never started");
   /* No order is ever sent: as if mongolock were stopped. */
   while (!cli_process_gone (cmd) && mltest_now_ms () < start + 15000) {
      mltest_sleep_ms (10);
   }
   int64_t took = mltest_now_ms () - start;
   bool alive = !cli_process_gone (cmd);
   close (child.ctl_w); /* the reaper kills whatever is left and exits */
   int st;
   waitpid (child.reaper, &st, 0);
   close (child.events_r);
   cr_assert_not (alive, "the command ran on for %" PRId64 " ms past its 1500 ms deadline", took - 1500);
   cr_assert_geq (took, 1500, "killed %" PRId64 " ms before its deadline", 1500 - took);
   unlink (pidfile);
   rmdir (dir);
   bson_free (pidfile);
   bson_free (script);
}
