/* SPDX-License-Identifier: Apache-2.0 */
/* Live: `mongolock status` and `mongolock release --force`, and an authentication failure. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <mongolock/mongolock.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli-test.h"
#include "live.h"

static void
init (void)
{
   mongoc_init ();
}
static void
fini (void)
{
   mongoc_cleanup ();
}
TestSuite (cli_admin, .init = init, .fini = fini, .timeout = 300);

#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})

typedef cli_fx_t fx_t;

static void
fx_init (fx_t *fx)
{
   cli_fx_init (fx, "clis", false);
}

static void
fx_fini (fx_t *fx)
{
   cli_fx_fini (fx);
}

static mongolock_lock_t *
take (fx_t *fx, const char *key, int64_t lease_ms)
{
   bson_error_t error;
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   cr_assert (mongolock_lock_opts_set_lease_ms (o, lease_ms, &error));
   mongolock_lock_t *l = mongolock_lock_new (fx->lib, key, o, &error);
   mongolock_lock_opts_destroy (o);
   bool acquired = false;
   cr_assert (mongolock_lock_try_acquire (l, &acquired, &error), "%s", error.message);
   cr_assert (acquired);
   return l;
}

/* Waits (bounded) until the server no longer records a live holder. */
static void
wait_expired (mongolock_lock_t *l)
{
   int64_t deadline = mltest_now_ms () + 20000;
   for (;;) {
      char *h = NULL;
      bson_error_t error;
      cr_assert (mongolock_lock_get_holder (l, &h, NULL, &error), "%s", error.message);
      if (!h) {
         return;
      }
      bson_free (h);
      cr_assert_lt (mltest_now_ms (), deadline, "the lease never expired");
      mltest_sleep_ms (20);
   }
}

static void
tool (fx_t *fx, cli_result_t *r, const char *a, const char *b, const char *c, const char *d)
{
   const char *argv[] = {"--uri", mltest_uri (), "--db", fx->db, a, b, c, d, NULL};
   cli_run (r, argv);
}

static const char *
str_at (const bson_t *doc, const char *path)
{
   bson_iter_t it;
   if (bson_iter_init (&it, doc) && bson_iter_find_descendant (&it, path, &it) && BSON_ITER_HOLDS_UTF8 (&it)) {
      return bson_iter_utf8 (&it, NULL);
   }
   return NULL;
}

static bool
is_null_at (const bson_t *doc, const char *path)
{
   bson_iter_t it;
   return bson_iter_init (&it, doc) && bson_iter_find_descendant (&it, path, &it) && BSON_ITER_HOLDS_NULL (&it);
}

static int64_t
int_at (const bson_t *doc, const char *path)
{
   bson_iter_t it;
   cr_assert (bson_iter_init (&it, doc) && bson_iter_find_descendant (&it, path, &it) && BSON_ITER_HOLDS_NUMBER (&it),
              "no number at %s", path);
   return bson_iter_as_int64 (&it);
}

static bool
bool_at (const bson_t *doc, const char *path)
{
   bson_iter_t it;
   cr_assert (bson_iter_init (&it, doc) && bson_iter_find_descendant (&it, path, &it) && BSON_ITER_HOLDS_BOOL (&it),
              "no bool at %s", path);
   return bson_iter_bool (&it);
}

/* A fencing token as status and release print it in JSON: a decimal string, since a JSON
 * number of that size (about 2^60) is rounded by JavaScript and jq. */
static void
assert_token_at (const bson_t *doc, const char *path, int64_t token)
{
   char expected[32];
   snprintf (expected, sizeof expected, "%" PRId64, token);
   const char *s = str_at (doc, path);
   cr_assert (s, "%s is not a string", path);
   cr_assert_str_eq (s, expected, "%s", path);
}

/* No JSON number in text has more digits than a double holds exactly (15 always are). */
static void
assert_no_long_numbers (const char *text)
{
   bool in_string = false;
   int digits = 0;
   for (const char *p = text; *p; p++) {
      if (*p == '"' && (p == text || p[-1] != '\\')) {
         in_string = !in_string;
      }
      digits = (!in_string && *p >= '0' && *p <= '9') ? digits + 1 : 0;
      cr_assert_leq (digits, 15, "a number JavaScript would round in:\n%s", text);
   }
}

Test (cli_admin, status_shows_held_expired_and_free_locks)
{
   fx_t fx;
   fx_init (&fx);
   bson_error_t error;
   mongolock_lock_t *held = take (&fx, "app/held", 60000);
   mongolock_lock_t *expired = take (&fx, "app/expired", 200);
   mongolock_lock_t *freed = take (&fx, "app/free", 60000);
   mongolock_lock_t *other = take (&fx, "other/x", 60000);
   cr_assert (mongolock_lock_release (freed, &error), "%s", error.message);
   wait_expired (expired);

   cli_result_t r;
   tool (&fx, &r, "status", "--prefix", "app/", "--json");
   cli_assert_code (&r, 0);
   bson_t *doc = bson_new_from_json ((const uint8_t *) r.out, -1, &error);
   cr_assert (doc, "status --json parses: %s\n%s", error.message, r.out);
   cr_assert_str_eq (str_at (doc, "database"), fx.db);
   cr_assert_str_eq (str_at (doc, "collection"), "locks");
   /* Sorted by key; the prefix left out other/x. */
   cr_assert_str_eq (str_at (doc, "locks.0.key"), "app/expired");
   cr_assert_str_eq (str_at (doc, "locks.1.key"), "app/free");
   cr_assert_str_eq (str_at (doc, "locks.2.key"), "app/held");
   cr_assert_null (str_at (doc, "locks.3.key"));

   cr_assert_str_eq (str_at (doc, "locks.2.state"), "held");
   cr_assert (bool_at (doc, "locks.2.held"));
   cr_assert_str_eq (str_at (doc, "locks.2.holder"), mongolock_lock_owner (held));
   assert_token_at (doc, "locks.2.token", mongolock_lock_token (held));
   assert_no_long_numbers (r.out);
   int64_t left = int_at (doc, "locks.2.remainingMs");
   cr_assert (left > 0 && left <= 60000, "time left %" PRId64, left);

   cr_assert_str_eq (str_at (doc, "locks.0.state"), "expired");
   cr_assert_not (bool_at (doc, "locks.0.held"));
   cr_assert_str_eq (str_at (doc, "locks.0.holder"), mongolock_lock_owner (expired));
   assert_token_at (doc, "locks.0.token", mongolock_lock_token (expired));
   cr_assert_leq (int_at (doc, "locks.0.remainingMs"), 0);

   cr_assert_str_eq (str_at (doc, "locks.1.state"), "free");
   cr_assert (is_null_at (doc, "locks.1.holder"));
   assert_token_at (doc, "locks.1.token", mongolock_lock_token (freed));
   bson_destroy (doc);
   cli_result_destroy (&r);

   /* The table: a header and one line per lock. */
   tool (&fx, &r, "status", NULL, NULL, NULL);
   cli_assert_code (&r, 0);
   cr_assert_eq (cli_count_lines (r.out, ""), 5, "%s", r.out);
   cr_assert (strncmp (r.out, "KEY", 3) == 0, "%s", r.out);
   cr_assert_eq (cli_count_lines (r.out, "app/held     held"), 1, "%s", r.out);
   cr_assert_eq (cli_count_lines (r.out, "app/expired  expired"), 1, "%s", r.out);
   cr_assert_eq (cli_count_lines (r.out, "app/free     free"), 1, "%s", r.out);
   cr_assert_eq (cli_count_lines (r.out, mongolock_lock_owner (other)), 1, "%s", r.out);
   cli_result_destroy (&r);

   /* A prefix is literal text, not a pattern. */
   tool (&fx, &r, "status", "--prefix", "app.", NULL);
   cli_assert_code (&r, 0);
   cr_assert_str_eq (r.out, "no locks with prefix \"app.\"\n");
   cli_result_destroy (&r);

   mongolock_lock_destroy (held);
   mongolock_lock_destroy (expired);
   mongolock_lock_destroy (freed);
   mongolock_lock_destroy (other);
   fx_fini (&fx);
}

Test (cli_admin, release_force_prints_the_holder_and_the_holder_loses_it)
{
   fx_t fx;
   fx_init (&fx);
   bson_error_t error;
   mongolock_lock_t *l = take (&fx, "stuck", 60000);
   char token[32];
   snprintf (token, sizeof token, "(token %" PRId64 ")", mongolock_lock_token (l));

   cli_result_t r;
   tool (&fx, &r, "release", "--force", "stuck", NULL);
   cli_assert_code (&r, 0);
   cr_assert (strstr (r.out, "released lock \"stuck\" held by") && strstr (r.out, mongolock_lock_owner (l)) &&
                 strstr (r.out, token),
              "%s", r.out);
   cli_result_destroy (&r);
   cr_assert_not (mongolock_lock_renew (l, &error), "the broken holder cannot renew");
   cr_assert_eq (error.code, MONGOLOCK_ERROR_LOST);

   /* Again: nothing to break, but the lock exists. */
   tool (&fx, &r, "release", "--force", "stuck", NULL);
   cli_assert_code (&r, 0);
   cr_assert (strstr (r.out, "was not held"), "%s", r.out);
   cli_result_destroy (&r);

   /* An expired lease: names the last holder, breaks nothing. */
   mongolock_lock_t *e = take (&fx, "old", 200);
   wait_expired (e);
   tool (&fx, &r, "release", "--force", "old", "--json");
   cli_assert_code (&r, 0);
   bson_t *doc = bson_new_from_json ((const uint8_t *) r.out, -1, &error);
   cr_assert (doc, "%s\n%s", error.message, r.out);
   cr_assert (bool_at (doc, "found"));
   cr_assert_not (bool_at (doc, "wasHeld"));
   cr_assert_str_eq (str_at (doc, "holder"), mongolock_lock_owner (e));
   assert_token_at (doc, "token", mongolock_lock_token (e));
   assert_no_long_numbers (r.out);
   bson_destroy (doc);
   cli_result_destroy (&r);

   /* No such lock: its own exit code and a message. */
   tool (&fx, &r, "release", "--force", "never-existed", NULL);
   cli_assert_code (&r, 1);
   cr_assert (strstr (r.err, "no lock \"never-existed\""), "%s", r.err);
   cr_assert_str_empty (r.out);
   cli_result_destroy (&r);

   /* The next holder gets a larger token. */
   mongolock_lock_t *next = take (&fx, "stuck", 60000);
   cr_assert_gt (mongolock_lock_token (next), mongolock_lock_token (l));
   mongolock_lock_destroy (next);
   mongolock_lock_destroy (l);
   mongolock_lock_destroy (e);
   fx_fini (&fx);
}

Test (cli_admin, authentication_failure_exits_77_on_every_subcommand)
{
   char *uri = cli_uri_with_credentials ("mongolock_no_such_user", "wrong-password");
   char *db = mltest_db_name ("cliauth");
   char *dir = cli_tmpdir ();
   char *marker = cli_file (dir, "ran");
   const char *const *cases[] = {
      ARGS ("--uri", uri, "--db", db, "status"),
      ARGS ("--uri", uri, "--db", db, "release", "--force", "k"),
      ARGS ("--uri", uri, "--db", db, "migrate"),
      ARGS ("--uri", uri, "--db", db, "run", "--key", "k", "--", "touch", marker),
   };
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      cli_result_t r;
      cli_run (&r, cases[i]);
      cli_assert_code (&r, 77);
      cr_assert (strstr (r.err, "authentication failed"), "%s", r.err);
      cr_assert_eq (cli_count_lines (r.err, ""), 1, "one line:\n%s", r.err);
      cr_assert_null (strstr (r.err, "wrong-password"), "the password is printed:\n%s", r.err);
      cli_result_destroy (&r);
   }
   cr_assert (access (marker, F_OK) != 0, "run started its command without a lock");
   /* Nothing was written: the lock database does not exist. */
   mongoc_client_t *c = mltest_client ();
   bson_t reply;
   mltest_cmd_ok (c, db, "{'listCollections': 1}", &reply);
   bson_iter_t it, batch;
   cr_assert (bson_iter_init (&it, &reply) && bson_iter_find_descendant (&it, "cursor.firstBatch", &it) &&
              bson_iter_recurse (&it, &batch));
   cr_assert_not (bson_iter_next (&batch));
   bson_destroy (&reply);
   mltest_drop_db (c, db);
   mongoc_client_destroy (c);
   free (marker);
   cli_rmdir (dir);
   free (dir);
   bson_free (db);
   bson_free (uri);
}

/* A lock document written by someone else, with whatever bytes it holds. */
static void
insert_lock (fx_t *fx, const char *key, const char *owner)
{
   mongoc_client_t *c = mltest_client ();
   mongoc_collection_t *coll = mongoc_client_get_collection (c, fx->db, "locks");
   bson_t *doc = BCON_NEW ("_id", BCON_UTF8 (key), "owner", BCON_UTF8 (owner), "token", BCON_INT64 (5),
                           "expiresAt", BCON_DATE_TIME ((int64_t) time (NULL) * 1000 + 600000), "acquiredAt",
                           BCON_DATE_TIME ((int64_t) time (NULL) * 1000), "leaseMs", BCON_INT64 (600000));
   bson_error_t error;
   cr_assert (mongoc_collection_insert_one (coll, doc, NULL, NULL, &error), "%s", error.message);
   bson_destroy (doc);
   mongoc_collection_destroy (coll);
   mongoc_client_destroy (c);
}

static bool
has_control_bytes (const char *s)
{
   for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
      if ((*p < 0x20 && *p != '\n') || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)) {
         return true;
      }
   }
   return false;
}

/* A lock name or holder that holds terminal escapes must not drive the terminal of whoever
 * runs `status` (nor break its JSON). */
Test (cli_admin, status_escapes_control_bytes_in_keys_and_holders)
{
   fx_t fx;
   fx_init (&fx);
   const char *key = "evil\x1b[2J\x07key\x7f\xc2\x9b" "1m\\";
   const char *owner = "host\x1b]0;pwned\x07:1:ab\r\n";
   insert_lock (&fx, key, owner);

   cli_result_t r;
   tool (&fx, &r, "status", NULL, NULL, NULL);
   cli_assert_code (&r, 0);
   cr_assert_not (has_control_bytes (r.out), "raw control bytes in the table:\n%s", r.out);
   cr_assert (strstr (r.out, "evil\\x1B[2J\\x07key\\x7F\\xC2\\x9B1m\\\\"), "%s", r.out);
   cr_assert (strstr (r.out, "host\\x1B]0;pwned\\x07:1:ab\\x0D\\x0A\n"), "%s", r.out);
   cr_assert_eq (cli_count_lines (r.out, ""), 2, "a header and one line:\n%s", r.out);
   cli_result_destroy (&r);

   /* JSON: escaped in the text, exact once parsed. */
   tool (&fx, &r, "status", "--json", NULL, NULL);
   cli_assert_code (&r, 0);
   cr_assert_not (has_control_bytes (r.out), "raw control bytes in the JSON:\n%s", r.out);
   bson_error_t error;
   bson_t *doc = bson_new_from_json ((const uint8_t *) r.out, -1, &error);
   cr_assert (doc, "status --json parses: %s\n%s", error.message, r.out);
   cr_assert_str_eq (str_at (doc, "locks.0.key"), key);
   cr_assert_str_eq (str_at (doc, "locks.0.holder"), owner);
   bson_destroy (doc);
   cli_result_destroy (&r);

   /* release --force prints the holder too. */
   tool (&fx, &r, "release", "--force", key, NULL);
   cli_assert_code (&r, 0);
   cr_assert_not (has_control_bytes (r.out), "raw control bytes:\n%s", r.out);
   cli_result_destroy (&r);
   fx_fini (&fx);
}

/* With stdout closed, the first socket the driver opens would become fd 1 and the table
 * (more than a stdio buffer, so written while connected) would go into it. With a reader
 * that went away, EPIPE is reported (exit 74), not a silent death by SIGPIPE. */
Test (cli_admin, status_with_stdout_closed_or_a_broken_pipe)
{
   fx_t fx;
   fx_init (&fx);
   mongolock_lock_t *locks[120];
   for (int i = 0; i < 120; i++) {
      char key[96];
      snprintf (key, sizeof key, "a-rather-long-lock-name-so-that-the-table-fills-several-buffers/%03d", i);
      locks[i] = take (&fx, key, 600000);
   }
   const char *args[] = {"--uri", mltest_uri (), "--db", fx.db, "status", NULL};
   cli_proc_t p;
   cli_result_t r;
   cli_start_fds (&p, args, CLI_FD_DEFAULT, CLI_FD_CLOSED, CLI_FD_DEFAULT);
   cli_wait (&p, 60000, &r);
   cli_assert_code (&r, 0);
   cr_assert_str_empty (r.err);
   cli_result_destroy (&r);

   int pfd[2];
   cr_assert (pipe (pfd) == 0);
   close (pfd[0]);
   cli_start_fds (&p, args, CLI_FD_DEFAULT, pfd[1], CLI_FD_DEFAULT);
   close (pfd[1]);
   cli_wait (&p, 60000, &r);
   cr_assert_not (r.signaled, "mongolock died of signal %d", r.code - 128);
   cli_assert_code (&r, 74);
   cr_assert (strstr (r.err, "cannot write to standard output: Broken pipe"), "%s", r.err);
   cr_assert_eq (cli_count_lines (r.err, ""), 1, "%s", r.err);
   cli_result_destroy (&r);
   for (int i = 0; i < 120; i++) {
      mongolock_lock_destroy (locks[i]);
   }
   fx_fini (&fx);
}

/* Column where the STATE column starts on each line of a status table, counted in terminal
 * columns (UTF-8 continuation bytes take none). */
static int
state_column (const char *line, size_t len)
{
   int col = 0;
   for (size_t i = 0; i < len; i++) {
      if (strncmp (line + i, "  held", 6) == 0 || strncmp (line + i, "  free", 6) == 0 ||
          strncmp (line + i, "  expired", 9) == 0 || strncmp (line + i, "  STATE", 7) == 0) {
         return col + 2;
      }
      col += ((unsigned char) line[i] & 0xC0) != 0x80;
   }
   return -1;
}

/* Long keys (beyond 60 columns) and keys with multi-byte characters keep the table aligned. */
Test (cli_admin, status_table_stays_aligned_for_long_and_non_ascii_keys)
{
   fx_t fx;
   fx_init (&fx);
   const char *keys[] = {"a", "caf\xc3\xa9/\xc3\xa9t\xc3\xa9",
                         "reports/2026/12/01/a-very-long-lock-name-for-the-nightly-billing-export-of-tenant-42", "z"};
   mongolock_lock_t *locks[4];
   for (int i = 0; i < 4; i++) {
      locks[i] = take (&fx, keys[i], 60000);
   }
   cli_result_t r;
   tool (&fx, &r, "status", NULL, NULL, NULL);
   cli_assert_code (&r, 0);
   cr_assert_eq (cli_count_lines (r.out, ""), 5, "%s", r.out);
   int col = -1;
   for (const char *s = r.out; *s;) {
      const char *end = strchr (s, '\n');
      size_t len = end ? (size_t) (end - s) : strlen (s);
      int c = state_column (s, len);
      cr_assert_gt (c, 0, "no state in line: %.*s", (int) len, s);
      if (col < 0) {
         col = c;
      }
      cr_assert_eq (c, col, "misaligned:\n%s", r.out);
      s = end ? end + 1 : s + len;
   }
   cr_assert_eq (col, (int) strlen (keys[2]) + 2, "%s", r.out);
   cli_result_destroy (&r);
   for (int i = 0; i < 4; i++) {
      mongolock_lock_destroy (locks[i]);
   }
   fx_fini (&fx);
}

/* release --force prints one of the three lines the man page shows, and the man page shows
 * exactly those. */
Test (cli_admin, release_force_prints_what_the_man_page_says)
{
   const char *man_path = getenv ("MONGOLOCK_MAN");
   cr_assert (man_path);
   char *man = cli_read (man_path);
   cr_assert (man);
   cr_assert (strstr (man, "\nreleased lock \"KEY\" held by HOLDER (token N)\n"
                           "lock \"KEY\" was not held: the lease of HOLDER (token N) had already expired\n"
                           "lock \"KEY\" was not held (already free; last token N)\n"),
              "the man page does not show release's three lines");
   free (man);
   fx_t fx;
   fx_init (&fx);
   char expected[512];
   cli_result_t r;
   mongolock_lock_t *l = take (&fx, "k", 60000);
   tool (&fx, &r, "release", "--force", "k", NULL);
   cli_assert_code (&r, 0);
   snprintf (expected, sizeof expected, "released lock \"k\" held by %s (token %" PRId64 ")\n", mongolock_lock_owner (l),
             mongolock_lock_token (l));
   cr_assert_str_eq (r.out, expected);
   cli_result_destroy (&r);
   tool (&fx, &r, "release", "--force", "k", NULL);
   cli_assert_code (&r, 0);
   snprintf (expected, sizeof expected, "lock \"k\" was not held (already free; last token %" PRId64 ")\n",
             mongolock_lock_token (l));
   cr_assert_str_eq (r.out, expected);
   cli_result_destroy (&r);
   mongolock_lock_t *e = take (&fx, "e", 200);
   wait_expired (e);
   tool (&fx, &r, "release", "--force", "e", NULL);
   cli_assert_code (&r, 0);
   snprintf (expected, sizeof expected, "lock \"e\" was not held: the lease of %s (token %" PRId64 ") had already expired\n",
             mongolock_lock_owner (e), mongolock_lock_token (e));
   cr_assert_str_eq (r.out, expected);
   cli_result_destroy (&r);
   mongolock_lock_destroy (l);
   mongolock_lock_destroy (e);
   fx_fini (&fx);
}

typedef struct {
   mongolock_lock_t *l;
   bool ok;
} fair_waiter_t;

static void *
fair_wait_main (void *arg)
{
   fair_waiter_t *w = arg;
   w->ok = mongolock_lock_acquire (w->l, NULL);
   return NULL;
}

static mongolock_lock_t *
fair_handle (fx_t *fx, const char *key)
{
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   cr_assert (mongolock_lock_opts_set_wait_ms (o, 60000, NULL));
   mongolock_lock_opts_set_fair (o, true);
   mongolock_lock_t *l = mongolock_lock_new (fx->lib, key, o, NULL);
   mongolock_lock_opts_destroy (o);
   cr_assert_not_null (l);
   return l;
}

/* A fair lock with queued waiters (mongolock_lock_opts_set_fair): status shows how many
 * wait, and release --force hands the lock to the head of the queue. */
Test (cli_admin, status_shows_a_fair_queue_and_release_force_keeps_it)
{
   fx_t fx;
   fx_init (&fx);
   mongolock_lock_t *holder = fair_handle (&fx, "fair/k");
   bool got = false;
   cr_assert (mongolock_lock_try_acquire (holder, &got, NULL) && got);
   fair_waiter_t w[2];
   pthread_t th[2];
   cli_result_t r;
   for (int i = 0; i < 2; i++) {
      w[i] = (fair_waiter_t){fair_handle (&fx, "fair/k"), false};
      cr_assert_eq (pthread_create (&th[i], NULL, fair_wait_main, &w[i]), 0);
      /* Queued in order: wait until status counts it. */
      char want[32];
      snprintf (want, sizeof want, "(%d queued)", i + 1);
      int64_t until = mltest_now_ms () + 30000;
      for (;;) {
         tool (&fx, &r, "status", NULL, NULL, NULL);
         cli_assert_code (&r, 0);
         bool seen = cli_count_lines (r.out, want) == 1;
         cli_result_destroy (&r);
         if (seen) {
            break;
         }
         cr_assert_lt (mltest_now_ms (), until, "status never showed %s", want);
         mltest_sleep_ms (20);
      }
   }
   bson_error_t error;
   tool (&fx, &r, "status", "--json", NULL, NULL);
   cli_assert_code (&r, 0);
   bson_t *doc = bson_new_from_json ((const uint8_t *) r.out, -1, &error);
   cr_assert (doc, "status --json parses: %s\n%s", error.message, r.out);
   cr_assert_eq (int_at (doc, "locks.0.queued"), 2);
   cr_assert_str_eq (str_at (doc, "locks.0.holder"), mongolock_lock_owner (holder));
   bson_destroy (doc);
   cli_result_destroy (&r);
   /* Forced free: the first waiter takes it, the second stays queued. */
   tool (&fx, &r, "release", "--force", "fair/k", NULL);
   cli_assert_code (&r, 0);
   cli_result_destroy (&r);
   pthread_join (th[0], NULL);
   cr_assert (w[0].ok);
   cr_assert (mongolock_lock_is_held (w[0].l));
   tool (&fx, &r, "status", "--json", NULL, NULL);
   doc = bson_new_from_json ((const uint8_t *) r.out, -1, &error);
   cr_assert (doc, "%s", r.out);
   cr_assert_str_eq (str_at (doc, "locks.0.holder"), mongolock_lock_owner (w[0].l));
   cr_assert_eq (int_at (doc, "locks.0.queued"), 1);
   bson_destroy (doc);
   cli_result_destroy (&r);
   cr_assert (mongolock_lock_release (w[0].l, NULL));
   pthread_join (th[1], NULL);
   cr_assert (w[1].ok);
   for (int i = 0; i < 2; i++) {
      mongolock_lock_destroy (w[i].l);
   }
   mongolock_lock_destroy (holder);
   fx_fini (&fx);
}
