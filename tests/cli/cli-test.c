/* SPDX-License-Identifier: Apache-2.0 */
#include "cli-test.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "live.h"

const char *
cli_path (void)
{
   const char *p = getenv ("MONGOLOCK_CLI");
   cr_assert (p && *p, "MONGOLOCK_CLI is not set: run the CLI tests through meson test");
   return p;
}

static int
temp_file (char *path, size_t len, const char *tag)
{
   snprintf (path, len, "/tmp/mlcli-%s-XXXXXX", tag);
   int fd = mkstemp (path);
   cr_assert (fd >= 0, "mkstemp: %s", strerror (errno));
   return fd;
}

void
cli_start (cli_proc_t *p, const char *const *args)
{
   cli_start_fds (p, args, CLI_FD_DEFAULT, CLI_FD_DEFAULT, CLI_FD_DEFAULT);
}

void
cli_start_fds (cli_proc_t *p, const char *const *args, int in_fd, int out_fd, int err_fd)
{
   size_t n = 0;
   while (args[n]) {
      n++;
   }
   char **argv = calloc (n + 2, sizeof *argv);
   argv[0] = strdup (cli_path ());
   for (size_t i = 0; i < n; i++) {
      argv[i + 1] = strdup (args[i]);
   }
   int out = temp_file (p->out_path, sizeof p->out_path, "out");
   int err = temp_file (p->err_path, sizeof p->err_path, "err");
   int devnull = open ("/dev/null", O_RDONLY);
   cr_assert (devnull >= 0);
   /* Criterion blocks no signals we care about, but make sure the tool starts clean. */
   sigset_t none;
   sigemptyset (&none);
   p->started_ms = mltest_now_ms ();
   p->pid = fork ();
   cr_assert (p->pid >= 0, "fork: %s", strerror (errno));
   if (p->pid == 0) {
      sigprocmask (SIG_SETMASK, &none, NULL);
      /* Nor ignored: a suite started under nohup (SIGHUP ignored) or as a background job
       * (SIGINT) would pass that on, and the tool, like any program, keeps an inherited
       * "ignore" (its command then ignores them too). */
      signal (SIGHUP, SIG_DFL);
      signal (SIGINT, SIG_DFL);
      signal (SIGTERM, SIG_DFL);
      signal (SIGQUIT, SIG_DFL);
      int want[3] = {in_fd == CLI_FD_DEFAULT ? devnull : in_fd, out_fd == CLI_FD_DEFAULT ? out : out_fd,
                     err_fd == CLI_FD_DEFAULT ? err : err_fd};
      for (int fd = 0; fd <= 2; fd++) {
         /* Above 2 first, so that dup2 of one never clobbers the other. */
         if (want[fd] >= 0) {
            want[fd] = fcntl (want[fd], F_DUPFD, 10);
         }
      }
      for (int fd = 0; fd <= 2; fd++) {
         if (want[fd] >= 0) {
            dup2 (want[fd], fd);
         } else {
            close (fd);
         }
      }
      /* Only 0, 1 and 2: a descriptor the command sees is then one mongolock leaked. */
      for (int fd = 3; fd < 1024; fd++) {
         close (fd);
      }
      execv (argv[0], argv);
      _exit (126);
   }
   close (out);
   close (err);
   close (devnull);
   for (size_t i = 0; i <= n; i++) {
      free (argv[i]);
   }
   free (argv);
}

bool
cli_wait_stderr (const cli_proc_t *p, const char *needle, int64_t timeout_ms)
{
   int64_t deadline = mltest_now_ms () + timeout_ms;
   for (;;) {
      char *err = cli_read (p->err_path);
      bool found = err && strstr (err, needle);
      free (err);
      if (found) {
         return true;
      }
      if (mltest_now_ms () > deadline) {
         return false;
      }
      mltest_sleep_ms (5);
   }
}

bool
cli_running (const cli_proc_t *p)
{
   siginfo_t si;
   memset (&si, 0, sizeof si);
   return waitid (P_PID, (id_t) p->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == 0;
}

void
cli_wait (cli_proc_t *p, int64_t timeout_ms, cli_result_t *r)
{
   memset (r, 0, sizeof *r);
   int status = 0;
   int64_t deadline = mltest_now_ms () + timeout_ms;
   for (;;) {
      pid_t w = waitpid (p->pid, &status, WNOHANG);
      if (w == p->pid) {
         break;
      }
      cr_assert (w == 0 || errno == EINTR, "waitpid: %s", strerror (errno));
      if (mltest_now_ms () > deadline) {
         kill (p->pid, SIGKILL);
         waitpid (p->pid, &status, 0);
         char *err = cli_read (p->err_path);
         cr_assert_fail ("mongolock (pid %d) still running after %lld ms; stderr:\n%s",
                         (int) p->pid,
                         (long long) timeout_ms,
                         err ? err : "");
      }
      mltest_sleep_ms (5);
   }
   r->elapsed_ms = mltest_now_ms () - p->started_ms;
   if (WIFEXITED (status)) {
      r->code = WEXITSTATUS (status);
   } else {
      r->signaled = true;
      r->code = 128 + WTERMSIG (status);
   }
   r->out = cli_read (p->out_path);
   r->err = cli_read (p->err_path);
   cr_assert (r->out && r->err);
   unlink (p->out_path);
   unlink (p->err_path);
}

void
cli_run (cli_result_t *r, const char *const *args)
{
   cli_proc_t p;
   cli_start (&p, args);
   cli_wait (&p, 60000, r);
}

void
cli_result_destroy (cli_result_t *r)
{
   free (r->out);
   free (r->err);
   memset (r, 0, sizeof *r);
}

char *
cli_tmpdir (void)
{
   char *d = strdup ("/tmp/mlcli-dir-XXXXXX");
   cr_assert (mkdtemp (d), "mkdtemp: %s", strerror (errno));
   return d;
}

void
cli_rmdir (const char *dir)
{
   DIR *d = opendir (dir);
   if (!d) {
      return;
   }
   struct dirent *e;
   while ((e = readdir (d)) != NULL) {
      if (strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0) {
         char *p = cli_file (dir, e->d_name);
         if (unlink (p) != 0) {
            cli_rmdir (p);
         }
         free (p);
      }
   }
   closedir (d);
   rmdir (dir);
}

char *
cli_file (const char *dir, const char *name)
{
   size_t len = strlen (dir) + strlen (name) + 2;
   char *p = malloc (len);
   snprintf (p, len, "%s/%s", dir, name);
   return p;
}

bool
cli_wait_file (const char *path, int64_t timeout_ms)
{
   int64_t deadline = mltest_now_ms () + timeout_ms;
   while (access (path, F_OK) != 0) {
      if (mltest_now_ms () > deadline) {
         return false;
      }
      mltest_sleep_ms (5);
   }
   return true;
}

char *
cli_read (const char *path)
{
   FILE *f = fopen (path, "rb");
   if (!f) {
      return NULL;
   }
   size_t cap = 4096, n = 0, r;
   char *buf = malloc (cap);
   while ((r = fread (buf + n, 1, cap - n - 1, f)) > 0) {
      n += r;
      if (n + 1 == cap) {
         cap *= 2;
         buf = realloc (buf, cap);
      }
   }
   fclose (f);
   buf[n] = '\0';
   return buf;
}

void
cli_write (const char *path, const char *s)
{
   FILE *f = fopen (path, "wb");
   cr_assert (f, "cannot write %s: %s", path, strerror (errno));
   fputs (s, f);
   fclose (f);
}

char *
cli_uri_with_credentials (const char *user, const char *password)
{
   const char *uri = mltest_uri ();
   const char *hosts = strstr (uri, "://");
   cr_assert (hosts, "unexpected URI %s", uri);
   hosts += 3;
   /* Drop credentials already present (a real server's test URI may carry some). */
   const char *slash = strchr (hosts, '/');
   const char *at = strchr (hosts, '@');
   if (at && (!slash || at < slash)) {
      hosts = at + 1;
   }
   return bson_strdup_printf ("%.*s%s:%s@%s", (int) (strstr (uri, "://") + 3 - uri), uri, user, password, hosts);
}

int
cli_count_lines (const char *s, const char *needle)
{
   int n = 0;
   while (s && *s) {
      const char *end = strchr (s, '\n');
      size_t len = end ? (size_t) (end - s) : strlen (s);
      char *line = strndup (s, len);
      n += strstr (line, needle) != NULL;
      free (line);
      s = end ? end + 1 : s + len;
   }
   return n;
}

static int
cmp_str (const void *a, const void *b)
{
   return strcmp (*(const char *const *) a, *(const char *const *) b);
}

char *
cli_index_names (mongoc_client_t *client, const char *db, const char *coll)
{
   mongoc_collection_t *c = mongoc_client_get_collection (client, db, coll);
   mongoc_cursor_t *cursor = mongoc_collection_find_indexes_with_opts (c, NULL);
   const bson_t *doc;
   char *names[64];
   size_t n = 0;
   while (mongoc_cursor_next (cursor, &doc) && n < 64) {
      bson_iter_t it;
      if (bson_iter_init_find (&it, doc, "name") && BSON_ITER_HOLDS_UTF8 (&it)) {
         names[n++] = strdup (bson_iter_utf8 (&it, NULL));
      }
   }
   bson_error_t error;
   if (mongoc_cursor_error (cursor, &error)) {
      cr_assert_eq (error.code, 26, "listIndexes %s.%s: %s", db, coll, error.message);
   }
   mongoc_cursor_destroy (cursor);
   mongoc_collection_destroy (c);
   qsort (names, n, sizeof names[0], cmp_str);
   size_t len = 1;
   for (size_t i = 0; i < n; i++) {
      len += strlen (names[i]) + 1;
   }
   char *out = calloc (1, len);
   for (size_t i = 0; i < n; i++) {
      if (i) {
         strcat (out, ",");
      }
      strcat (out, names[i]);
      free (names[i]);
   }
   return out;
}

bool
cli_process_gone (pid_t pid)
{
   if (kill (pid, 0) != 0) {
      return errno == ESRCH;
   }
   char path[64], state = '?';
   snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
   FILE *f = fopen (path, "r");
   if (!f) {
      return true;
   }
   /* A live process's stat can always be read: a failed read means it was reaped meanwhile. */
   bool got = fscanf (f, "%*d (%*[^)]) %c", &state) == 1;
   fclose (f);
   return !got || state == 'Z' || state == 'X';
}

void
cli_fx_init (cli_fx_t *fx, const char *tag, bool in_dir)
{
   fx->db = mltest_db_name (tag);
   fx->dir = in_dir ? cli_tmpdir () : NULL;
   bson_error_t error;
   mongolock_client_opts_t *o = mongolock_client_opts_new ();
   cr_assert (mongolock_client_opts_set_database (o, fx->db, &error));
   fx->lib = mongolock_client_new (mltest_uri (), o, &error);
   cr_assert (fx->lib, "%s", error.message);
   mongolock_client_opts_destroy (o);
   /* Commands run in the fixture's directory. */
   cr_assert (!in_dir || chdir (fx->dir) == 0);
}

void
cli_fx_fini (cli_fx_t *fx)
{
   mongoc_client_t *c = mltest_client ();
   mltest_drop_db (c, fx->db);
   mongoc_client_destroy (c);
   mongolock_client_destroy (fx->lib);
   if (fx->dir) {
      cr_assert (chdir ("/") == 0);
      cli_rmdir (fx->dir);
      free (fx->dir);
   }
   bson_free (fx->db);
}
