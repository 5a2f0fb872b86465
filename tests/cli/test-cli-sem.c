/* SPDX-License-Identifier: Apache-2.0 */
/* Live: `mongolock run --permits N` (at most N commands per key) and `--shared` (readers
 * of a reader/writer lock; a plain run on the key is the writer). */
#include <criterion/criterion.h>
#include <mongolock/mongolock.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli-test.h"
#include "live.h"

TestSuite (cli_sem, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 300);

typedef cli_fx_t fx_t;

static void
fx_init (fx_t *fx)
{
   cli_fx_init (fx, "clis", true);
}

static void
fx_fini (fx_t *fx)
{
   cli_fx_fini (fx);
}

/* `mongolock --uri U --db DB run ARGS...` (NULL-terminated), waited for. */
static void
run (fx_t *fx, cli_result_t *r, ...)
{
   const char *argv[64] = {"--uri", mltest_uri (), "--db", fx->db, "run"};
   int n = 5;
   va_list ap;
   va_start (ap, r);
   const char *a;
   while ((a = va_arg (ap, const char *)) != NULL) {
      cr_assert (n < 62);
      argv[n++] = a;
   }
   va_end (ap);
   argv[n] = NULL;
   cli_run (r, argv);
}

static void
start (fx_t *fx, cli_proc_t *p, const char *const *extra)
{
   const char *argv[64] = {"--uri", mltest_uri (), "--db", fx->db, "run"};
   int n = 5;
   for (; *extra; extra++) {
      argv[n++] = *extra;
   }
   argv[n] = NULL;
   cli_start (p, argv);
}

Test (cli_sem, permits_n_admits_n_then_busy_and_mismatch_is_usage)
{
   fx_t fx;
   fx_init (&fx);
   bson_error_t error;
   mongolock_semaphore_t *a = mongolock_semaphore_new (fx.lib, "api", 2, NULL, &error);
   mongolock_semaphore_t *b = mongolock_semaphore_new (fx.lib, "api", 2, NULL, &error);
   cli_result_t r;
   run (&fx, &r, "--key", "api", "--permits", "2", "--fence-env", "TOK", "--", "sh", "-c", "echo $TOK", NULL);
   cli_assert_code (&r, 0);
   cr_assert_gt (atoll (r.out), 0, "the permit's token: %s", r.out);
   cli_result_destroy (&r);
   bool acquired;
   cr_assert (mongolock_semaphore_try_acquire (a, &acquired, &error) && acquired);
   cr_assert (mongolock_semaphore_try_acquire (b, &acquired, &error) && acquired);
   run (&fx, &r, "--key", "api", "--permits", "2", "--", "true", NULL);
   cli_assert_code (&r, 75);
   cr_assert (strstr (r.err, "semaphore \"api\""), "%s", r.err);
   cli_result_destroy (&r);
   run (&fx, &r, "--key", "api", "--permits", "3", "--", "true", NULL);
   cli_assert_code (&r, 64);
   cr_assert (strstr (r.err, "2 permits"), "%s", r.err);
   cli_result_destroy (&r);
   cr_assert (mongolock_semaphore_release (a, &error), "%s", error.message);
   run (&fx, &r, "--key", "api", "--permits", "2", "--", "true", NULL);
   cli_assert_code (&r, 0);
   cli_result_destroy (&r);
   const char *bad[][2] = {{"--permits", "0"}, {"--permits", "x"}, {"--permits", "1001"}, {"--shared", "--permits"}};
   for (size_t i = 0; i < 4; i++) {
      run (&fx, &r, "--key", "api", bad[i][0], bad[i][1], "2", "--", "true", NULL);
      cli_assert_code (&r, 64);
      cli_result_destroy (&r);
   }
   mongolock_semaphore_destroy (a);
   mongolock_semaphore_destroy (b);
   fx_fini (&fx);
}

/* Five runs with --permits 2 at once: each records how many are inside (files in the
 * directory) when it starts; never more than 2, and all of them run. */
Test (cli_sem, at_most_n_commands_at_once)
{
   fx_t fx;
   fx_init (&fx);
   enum { N = 5 };
   cli_proc_t p[N];
   const char *args[] = {"--key", "jobs", "--permits", "2", "--wait", "60s", "--", "sh", "-c",
                         "touch in.$$; ls in.* | wc -l >> counts; sleep 0.6; rm in.$$", NULL};
   for (int i = 0; i < N; i++) {
      start (&fx, &p[i], args);
   }
   for (int i = 0; i < N; i++) {
      cli_result_t r;
      cli_wait (&p[i], 90000, &r);
      cli_assert_code (&r, 0);
      cli_result_destroy (&r);
   }
   char *counts = cli_read ("counts");
   int lines = 0, max = 0;
   for (char *line = strtok (counts, "\n"); line; line = strtok (NULL, "\n")) {
      int v = atoi (line);
      max = v > max ? v : max;
      lines++;
   }
   cr_assert_eq (lines, N, "every command ran");
   cr_assert_leq (max, 2, "at most 2 commands inside at once (saw %d)", max);
   free (counts);
   fx_fini (&fx);
}

Test (cli_sem, shared_runs_share_and_a_plain_run_is_the_writer)
{
   fx_t fx;
   fx_init (&fx);
   bson_error_t error;
   mongolock_rwlock_t *reader = mongolock_rwlock_new (fx.lib, "db", MONGOLOCK_RWLOCK_READ, NULL, &error);
   bool acquired;
   cr_assert (mongolock_rwlock_try_acquire (reader, &acquired, &error) && acquired);
   cli_result_t r;
   run (&fx, &r, "--key", "db", "--shared", "--", "true", NULL);
   cli_assert_code (&r, 0);
   cli_result_destroy (&r);
   run (&fx, &r, "--key", "db", "--", "true", NULL);
   cli_assert_code (&r, 75);
   cli_result_destroy (&r);
   cr_assert (mongolock_rwlock_release (reader, &error), "%s", error.message);
   /* A plain run holds the key: --shared waits for it. */
   cli_proc_t w;
   const char *wargs[] = {"--key", "db", "--", "sh", "-c", "touch w; sleep 1.5", NULL};
   start (&fx, &w, wargs);
   cr_assert (cli_wait_file ("w", 20000));
   run (&fx, &r, "--key", "db", "--shared", "--", "true", NULL);
   cli_assert_code (&r, 75);
   cr_assert (strstr (r.err, "shared lock \"db\""), "%s", r.err);
   cli_result_destroy (&r);
   run (&fx, &r, "--key", "db", "--shared", "--wait", "30s", "--", "true", NULL);
   cli_assert_code (&r, 0);
   cli_result_destroy (&r);
   cli_wait (&w, 30000, &r);
   cli_assert_code (&r, 0);
   cli_result_destroy (&r);
   mongolock_rwlock_destroy (reader);
   fx_fini (&fx);
}

Test (cli_sem, status_shows_every_holder)
{
   fx_t fx;
   fx_init (&fx);
   bson_error_t error;
   bool acquired;
   mongolock_semaphore_t *s[2];
   for (int i = 0; i < 2; i++) {
      s[i] = mongolock_semaphore_new (fx.lib, "sem", 3, NULL, &error);
      cr_assert (mongolock_semaphore_try_acquire (s[i], &acquired, &error) && acquired);
   }
   mongolock_rwlock_t *r = mongolock_rwlock_new (fx.lib, "rw", MONGOLOCK_RWLOCK_READ, NULL, &error);
   cr_assert (mongolock_rwlock_try_acquire (r, &acquired, &error) && acquired);
   mongolock_lock_t *l = mongolock_lock_new (fx.lib, "plain", NULL, &error);
   cr_assert (mongolock_lock_try_acquire (l, &acquired, &error) && acquired);
   const char *args[] = {"--uri", mltest_uri (), "--db", fx.db, "status", NULL};
   cli_result_t res;
   cli_run (&res, args);
   cli_assert_code (&res, 0);
   cr_assert_eq (cli_count_lines (res.out, "[permit of 3]"), 2, "%s", res.out);
   cr_assert_eq (cli_count_lines (res.out, "[read]"), 1, "%s", res.out);
   cr_assert (strstr (res.out, mongolock_semaphore_owner (s[0])) && strstr (res.out, mongolock_semaphore_owner (s[1])),
              "%s", res.out);
   cr_assert (strstr (res.out, mongolock_rwlock_owner (r)), "%s", res.out);
   cr_assert (strstr (res.out, mongolock_lock_owner (l)), "%s", res.out);
   cli_result_destroy (&res);
   const char *jargs[] = {"--uri", mltest_uri (), "--db", fx.db, "status", "--json", NULL};
   cli_run (&res, jargs);
   cli_assert_code (&res, 0);
   bson_t doc;
   cr_assert (bson_init_from_json (&doc, res.out, -1, &error), "%s: %s", error.message, res.out);
   bson_iter_t it;
   cr_assert (bson_iter_init (&it, &doc) && bson_iter_find_descendant (&it, "locks.2.holders.1.holder", &it),
              "%s", res.out); /* locks sorted: plain, rw, sem (two permits) */
   cr_assert (bson_iter_init (&it, &doc) && bson_iter_find_descendant (&it, "locks.2.permits", &it), "%s", res.out);
   cr_assert (bson_iter_init (&it, &doc) && bson_iter_find_descendant (&it, "locks.2.kind", &it));
   cr_assert_str_eq (bson_iter_utf8 (&it, NULL), "semaphore");
   cr_assert (bson_iter_init (&it, &doc) && bson_iter_find_descendant (&it, "locks.1.holders.0.mode", &it));
   cr_assert_str_eq (bson_iter_utf8 (&it, NULL), "read");
   bson_destroy (&doc);
   cli_result_destroy (&res);
   for (int i = 0; i < 2; i++) {
      mongolock_semaphore_destroy (s[i]);
   }
   mongolock_rwlock_destroy (r);
   mongolock_lock_destroy (l);
   fx_fini (&fx);
}

/* -v's wait line names a semaphore's holder (it used to say "not held at the moment"
 * while every permit was held). */
Test (cli_sem, verbose_wait_names_a_permit_holder)
{
   fx_t fx;
   fx_init (&fx);
   bson_error_t error;
   bool acquired;
   mongolock_semaphore_t *s = mongolock_semaphore_new (fx.lib, "one", 1, NULL, &error);
   cr_assert (mongolock_semaphore_try_acquire (s, &acquired, &error) && acquired, "%s", error.message);
   cli_result_t r;
   run (&fx, &r, "--key", "one", "--permits", "1", "-v", "--wait", "10s", "--", "true", NULL);
   cli_assert_code (&r, 75);
   char expected[512];
   snprintf (expected, sizeof expected, "held by %s (token %" PRId64 ") [permit of 1], its lease ends in ",
             mongolock_semaphore_owner (s), mongolock_semaphore_token (s));
   cr_assert (strstr (r.err, expected), "no \"%s\" in:\n%s", expected, r.err);
   cli_result_destroy (&r);
   mongolock_semaphore_destroy (s);
   fx_fini (&fx);
}

/* release --force names every holder of a semaphore it broke (it used to print "held by
 * ?"), and --json lists them. */
Test (cli_sem, release_force_names_every_permit_holder)
{
   fx_t fx;
   fx_init (&fx);
   bson_error_t error;
   bool acquired;
   mongolock_semaphore_t *s[2];
   for (int i = 0; i < 2; i++) {
      s[i] = mongolock_semaphore_new (fx.lib, "sem", 3, NULL, &error);
      cr_assert (mongolock_semaphore_try_acquire (s[i], &acquired, &error) && acquired, "%s", error.message);
   }
   const char *args[] = {"--uri", mltest_uri (), "--db", fx.db, "release", "--force", "sem", NULL};
   cli_result_t r;
   cli_run (&r, args);
   cli_assert_code (&r, 0);
   char expected[512];
   snprintf (expected, sizeof expected, "released lock \"sem\" held by %s (token %" PRId64 "), %s (token %" PRId64 ")\n",
             mongolock_semaphore_owner (s[0]), mongolock_semaphore_token (s[0]), mongolock_semaphore_owner (s[1]),
             mongolock_semaphore_token (s[1]));
   cr_assert_str_eq (r.out, expected);
   cli_result_destroy (&r);
   mongolock_rwlock_t *rw = mongolock_rwlock_new (fx.lib, "rw", MONGOLOCK_RWLOCK_READ, NULL, &error);
   cr_assert (mongolock_rwlock_try_acquire (rw, &acquired, &error) && acquired, "%s", error.message);
   const char *jargs[] = {"--uri", mltest_uri (), "--db", fx.db, "release", "--force", "--json", "rw", NULL};
   cli_run (&r, jargs);
   cli_assert_code (&r, 0);
   bson_t doc;
   bson_iter_t it;
   cr_assert (bson_init_from_json (&doc, r.out, -1, &error), "%s: %s", error.message, r.out);
   cr_assert (bson_iter_init (&it, &doc) && bson_iter_find_descendant (&it, "holders.0.holder", &it), "%s", r.out);
   cr_assert_str_eq (bson_iter_utf8 (&it, NULL), mongolock_rwlock_owner (rw));
   cr_assert (bson_iter_init (&it, &doc) && bson_iter_find_descendant (&it, "holders.0.mode", &it), "%s", r.out);
   cr_assert_str_eq (bson_iter_utf8 (&it, NULL), "read");
   cr_assert (bson_iter_init (&it, &doc) && bson_iter_find_descendant (&it, "wasHeld", &it) && bson_iter_bool (&it),
              "%s", r.out);
   bson_destroy (&doc);
   cli_result_destroy (&r);
   for (int i = 0; i < 2; i++) {
      mongolock_semaphore_destroy (s[i]);
   }
   mongolock_rwlock_destroy (rw);
   fx_fini (&fx);
}

/* What the man page says of the other runs on a held semaphore's key: a --shared run is
 * a usage error (64), a plain run finds the key busy (75, or -E's N). */
Test (cli_sem, other_kinds_on_a_held_semaphore_key)
{
   fx_t fx;
   fx_init (&fx);
   bson_error_t error;
   bool acquired;
   mongolock_semaphore_t *s = mongolock_semaphore_new (fx.lib, "k", 2, NULL, &error);
   cr_assert (mongolock_semaphore_try_acquire (s, &acquired, &error) && acquired, "%s", error.message);
   cli_result_t r;
   run (&fx, &r, "--key", "k", "--shared", "--", "true", NULL);
   cli_assert_code (&r, 64);
   cli_result_destroy (&r);
   run (&fx, &r, "--key", "k", "--", "true", NULL);
   cli_assert_code (&r, 75);
   cli_result_destroy (&r);
   run (&fx, &r, "-E", "3", "--key", "k", "--", "true", NULL);
   cli_assert_code (&r, 3);
   cli_result_destroy (&r);
   const char *man_path = getenv ("MONGOLOCK_MAN");
   cr_assert (man_path, "MONGOLOCK_MAN is not set");
   char *man = cli_read (man_path);
   cr_assert (man);
   cr_assert_null (strstr (man, "(or a plain or"), "the man page says a plain run on a semaphore's key exits with 64");
   free (man);
   mongolock_semaphore_destroy (s);
   fx_fini (&fx);
}
