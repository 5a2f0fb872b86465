/* SPDX-License-Identifier: Apache-2.0 */
/* mongolock run: run a command while holding a lock, renewed in the background. */
#include "child.h"
#include "hold.h"
#include "wait-report.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char run_help[] =
   "Usage: mongolock run [OPTIONS] KEY [--] COMMAND [ARGS...]\n"
   "       mongolock run --key KEY [OPTIONS] [--] COMMAND [ARGS...]\n"
   "OPTIONS include --permits N (a semaphore permit) or --shared (a reader's hold).\n"
   "Take the lock KEY (waiting up to --wait), run COMMAND with the lease renewed in the\n"
   "background, release the lock when COMMAND exits and exit with its status (128+N when\n"
   "it was killed by signal N). COMMAND runs in its own process group; INT, TERM and HUP\n"
   "sent to mongolock are forwarded to all its processes. Processes COMMAND leaves behind\n"
   "are stopped before the lock is released. If the lease is lost, or cannot be renewed\n"
   "and is about to end, COMMAND's processes get SIGTERM (SIGKILL after --kill-after, and\n"
   "in any case before the lease ends) and mongolock exits with 79. If mongolock dies,\n"
   "they are killed.\n"
   "\n"
   "  -k, --key KEY           lock name (else the first argument after the options)\n"
   "      --permits N         a permit of the semaphore KEY: at most N commands hold KEY\n"
   "                          at once (every run on KEY must give the same N)\n"
   "      --shared            a reader's hold on the reader/writer lock KEY: shared with\n"
   "                          other --shared runs, excluded by a plain run on KEY (the\n"
   "                          writer), which in turn waits for every reader\n"
   "  -l, --lease D           lease length, renewed every third of it (default: 30s)\n"
   "  -w, --wait D|forever    wait up to D for a busy lock (default: 0, fail at once);\n"
   "                          forever (or inf) waits until it is free\n"
   "  -E, --conflict-exit-code N\n"
   "                          exit with N (0-255) when the lock is busy (default: 75)\n"
   "      --fence-env NAME    put the fencing token in COMMAND's environment as NAME\n"
   "      --kill-after D      SIGKILL this long after SIGTERM (default: 10s; when the lease\n"
   "                          is running out, at most a tenth of it)\n"
   "  -v, --verbose           report acquisition, release and forwarded signals on stderr,\n"
   "                          and every 5s while waiting\n"
   "While waiting on a terminal (standard error), a line shows the holder, its lease left\n"
   "and the time waited.\n"
   "Exit status: COMMAND's, or 75 busy (or -E's N), 79 lease lost, 126/127 COMMAND not\n"
   "runnable/found, 128+N stopped by signal N while waiting, 64 usage, 69 unreachable,\n"
   "70 internal error, 76 server error, 77 authentication, 78 bad URI.\n";

typedef struct {
   const char *key;
   int64_t lease_ms, wait_ms, grace_ms;
   bool wait_forever; /* --wait forever: wait_ms is the library's maximum, repeated */
   int busy_code;     /* -E: the exit status when the lock is busy */
   const char *fence_env;
   int permits; /* > 0: --permits */
   bool shared;
   bool verbose;
   char **cmd;
} run_opts_t;

typedef struct {
   pthread_mutex_t mu;
   int lost_w;
   char reason[512];
   const char *key;
   cli_hold_t *lock; /* used by the main thread only */
} run_state_t;

static int64_t
mono_ms (void)
{
   struct timespec ts;
   clock_gettime (CLOCK_MONOTONIC, &ts);
   return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs on the renewal thread (signals blocked there, as everywhere). */
static void
on_event (const mongolock_event_t *event, void *data)
{
   run_state_t *st = data;
   if (mongolock_event_type (event) != MONGOLOCK_EVENT_LOST) {
      return;
   }
   const bson_error_t *e = mongolock_event_error (event);
   pthread_mutex_lock (&st->mu);
   snprintf (st->reason, sizeof st->reason, "%s", e ? e->message : "the lease ended");
   pthread_mutex_unlock (&st->mu);
   ssize_t w = write (st->lost_w, "L", 1);
   (void) w;
}

static void
on_lost (void *data)
{
   run_state_t *st = data;
   pthread_mutex_lock (&st->mu);
   cli_error ("lost the lock \"%s\": %s; stopping the command (SIGTERM to its processes)", st->key, st->reason);
   pthread_mutex_unlock (&st->mu);
}

static void
on_expiring (void *data, int64_t left_ms)
{
   run_state_t *st = data;
   char left[32];
   cli_format_duration (left_ms < 0 ? 0 : left_ms, left, sizeof left);
   cli_error ("the lease on \"%s\" could not be renewed and ends in %s: stopping the command (SIGTERM to its "
              "processes) so that it is gone by then",
              st->key,
              left);
}

static int64_t
lease_left (void *data)
{
   run_state_t *st = data;
   return cli_hold_remaining_ms (st->lock);
}

/* A stop signal (INT, TERM, HUP) waiting on sigfd, else 0. SIGCHLD is dropped. */
static int
pending_stop_signal (int sigfd)
{
   struct signalfd_siginfo si;
   while (read (sigfd, &si, sizeof si) == (ssize_t) sizeof si) {
      if (si.ssi_signo != SIGCHLD) {
         return (int) si.ssi_signo;
      }
   }
   return 0;
}

static void
report_busy (cli_hold_t *lock, int64_t waited_ms, int64_t wait_ms)
{
   char *holder = cli_hold_holder (lock);
   char waited[32] = "";
   if (wait_ms > 0) {
      cli_format_duration (waited_ms, waited, sizeof waited);
   }
   char *shown = cli_escape_text (holder ? holder : "other processes");
   cli_error ("%s%s%s%s \"%s\" is held by %s",
              wait_ms > 0 ? "gave up after " : "",
              waited,
              wait_ms > 0 ? ": " : "",
              cli_hold_what (lock),
              cli_hold_key (lock),
              shown);
   bson_free (shown);
   bson_free (holder);
}

/* While the main thread waits for the lock, this thread watches for a stop signal (INT,
 * TERM, HUP) and cancels the wait through the library's cancellation flag. */
typedef struct {
   int sigfd;
   int quit_r; /* readable when the wait is over */
   mongolock_cancel_t *cancel;
   int signo; /* the stop signal that cancelled the wait, 0 for none */
} sigwatch_t;

static void *
sigwatch_main (void *arg)
{
   sigwatch_t *w = arg;
   for (;;) {
      struct pollfd pfd[2] = {{.fd = w->sigfd, .events = POLLIN}, {.fd = w->quit_r, .events = POLLIN}};
      if (poll (pfd, 2, -1) < 0 && errno != EINTR) {
         return NULL;
      }
      if (pfd[1].revents) {
         return NULL;
      }
      int sig = (pfd[0].revents & POLLIN) ? pending_stop_signal (w->sigfd) : 0;
      if (sig) {
         w->signo = sig; /* read by the main thread after pthread_join */
         mongolock_cancel_raise (w->cancel);
         return NULL;
      }
   }
}

static bool
is_timeout (const bson_error_t *error)
{
   return error->domain == MONGOLOCK_ERROR_DOMAIN && error->code == MONGOLOCK_ERROR_TIMEOUT;
}

/* Takes the lock with the library's own wait (deadline, backoff, transient errors tried
 * again), cancelled at once by a stop signal (exit 128+signal). Returns CLI_EXIT_OK when
 * acquired; *busy tells "held by another for the whole wait" (the caller exits with -E's
 * code, which may even be 0) from every other failure. */
static int
acquire (cli_hold_t *lock,
         mongolock_client_t *client,
         mongolock_cancel_t *cancel,
         const run_opts_t *o,
         int sigfd,
         bool *busy)
{
   *busy = false;
   int64_t wait_ms = o->wait_ms;
   bool verbose = o->verbose;
   int64_t start = mono_ms ();
   int quit[2];
   if (pipe2 (quit, O_CLOEXEC) != 0) {
      cli_error ("cannot set up signal handling: %s", strerror (errno));
      return CLI_EXIT_INTERNAL;
   }
   sigwatch_t w = {sigfd, quit[0], cancel, 0};
   pthread_t watcher;
   bool watching = pthread_create (&watcher, NULL, sigwatch_main, &w) == 0;
   bson_error_t error;
   bool acquired = false;
   bool ok = cli_hold_try_acquire (lock, &acquired, &error);
   if (ok && !acquired && wait_ms > 0) {
      if (verbose) {
         char d[32];
         cli_format_duration (wait_ms, d, sizeof d);
         if (o->wait_forever) {
            cli_error ("%s \"%s\" is busy; waiting until it is free", cli_hold_what (lock), cli_hold_key (lock));
         } else {
            cli_error ("%s \"%s\" is busy; waiting up to %s", cli_hold_what (lock), cli_hold_key (lock), d);
         }
      }
      cli_wait_report_t *rep = cli_wait_report_start (client, cli_hold_key (lock), start, verbose);
      /* forever: the library's longest wait (24h), again and again; a stop signal or an
       * error other than "still busy" ends it. */
      do {
         ok = acquired = cli_hold_acquire (lock, &error);
      } while (!acquired && o->wait_forever && is_timeout (&error));
      cli_wait_report_stop (rep);
   }
   ssize_t wr = write (quit[1], "q", 1);
   (void) wr;
   if (watching) {
      pthread_join (watcher, NULL);
   }
   close (quit[0]);
   close (quit[1]);
   int sig = w.signo ? w.signo : pending_stop_signal (sigfd);
   if (sig) {
      if (acquired) {
         (void) cli_hold_release (lock, NULL);
      }
      cli_error ("interrupted by %s while acquiring lock \"%s\"", strsignal (sig), cli_hold_key (lock));
      return 128 + sig;
   }
   int64_t now = mono_ms ();
   if (acquired) {
      if (verbose) {
         char took[32];
         cli_format_duration (now - start, took, sizeof took);
         cli_error ("acquired lock \"%s\" (token %" PRId64 ") after %s",
                    cli_hold_key (lock),
                    cli_hold_token (lock),
                    took);
      }
      return CLI_EXIT_OK;
   }
   if (ok || is_timeout (&error)) {
      report_busy (lock, now - start, wait_ms);
      *busy = true;
      return CLI_EXIT_BUSY;
   }
   char what[600];
   snprintf (what, sizeof what, "cannot acquire lock \"%s\"", cli_hold_key (lock));
   return cli_report_error (what, &error);
}

static bool
valid_env_name (const char *s)
{
   if (!*s || (*s >= '0' && *s <= '9')) {
      return false;
   }
   for (; *s; s++) {
      if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))) {
         return false;
      }
   }
   return true;
}

/* --wait: a duration up to the library's maximum (24h), or forever. */
static bool
parse_wait (const char *arg, run_opts_t *o)
{
   if (strcmp (arg, "forever") == 0 || strcmp (arg, "inf") == 0 || strcmp (arg, "infinity") == 0) {
      o->wait_forever = true;
      o->wait_ms = MONGOLOCK_WAIT_MAX_MS;
      return true;
   }
   o->wait_forever = false;
   return cli_duration_arg ("run", "--wait", arg, 0, MONGOLOCK_WAIT_MAX_MS, &o->wait_ms);
}

/* -E: an exit status, 0 to 255. */
static bool
parse_exit_code (const char *arg, int *code)
{
   char *end = NULL;
   long v = strtol (arg, &end, 10);
   if (!*arg || *end || v < 0 || v > 255) {
      cli_usage_error ("run", "--conflict-exit-code: \"%s\" is not an exit status (0 to 255)", arg);
      return false;
   }
   *code = (int) v;
   return true;
}

static int
parse (int argc, char **argv, cli_common_t *common, run_opts_t *o)
{
   static const struct option longopts[] = {
      CLI_COMMON_LONG_OPTIONS,
      {"key", required_argument, NULL, 'k'},
      {"lease", required_argument, NULL, 'l'},
      {"wait", required_argument, NULL, 'w'},
      {"conflict-exit-code", required_argument, NULL, 'E'},
      {"fence-env", required_argument, NULL, 'F'},
      {"kill-after", required_argument, NULL, 'K'},
      {"verbose", no_argument, NULL, 'v'},
      {"permits", required_argument, NULL, 'P'},
      {"shared", no_argument, NULL, 'S'},
      {0},
   };
   memset (o, 0, sizeof *o);
   o->lease_ms = MONGOLOCK_DEFAULT_LEASE_MS;
   o->grace_ms = 10000;
   o->busy_code = CLI_EXIT_BUSY;
   bool help = false;
   int opt;
   opterr = 0;
   optind = 0;
   /* "+": stop at COMMAND, whose own options are not ours. */
   while ((opt = getopt_long (argc, argv, "+:hk:l:w:E:v", longopts, NULL)) != -1) {
      switch (opt) {
      case 'k':
         o->key = optarg;
         break;
      case 'l':
         if (!cli_duration_arg ("run", "--lease", optarg, MONGOLOCK_LEASE_MIN_MS, MONGOLOCK_LEASE_MAX_MS, &o->lease_ms)) {
            return CLI_EXIT_USAGE;
         }
         break;
      case 'w':
         if (!parse_wait (optarg, o)) {
            return CLI_EXIT_USAGE;
         }
         break;
      case 'E':
         if (!parse_exit_code (optarg, &o->busy_code)) {
            return CLI_EXIT_USAGE;
         }
         break;
      case 'K':
         if (!cli_duration_arg ("run", "--kill-after", optarg, 0, 3600 * 1000, &o->grace_ms)) {
            return CLI_EXIT_USAGE;
         }
         break;
      case 'F':
         if (!valid_env_name (optarg)) {
            return cli_usage_error ("run", "--fence-env: \"%s\" is not a valid environment variable name", optarg);
         }
         o->fence_env = optarg;
         break;
      case 'v':
         o->verbose = true;
         break;
      case 'P': {
         char *end = NULL;
         long n = strtol (optarg, &end, 10);
         if (!*optarg || *end || n < 1 || n > MONGOLOCK_SEMAPHORE_PERMITS_MAX) {
            return cli_usage_error ("run", "--permits: \"%s\" is not a number from 1 to %d", optarg,
                                    MONGOLOCK_SEMAPHORE_PERMITS_MAX);
         }
         o->permits = (int) n;
         break;
      }
      case 'S':
         o->shared = true;
         break;
      case 'h':
         help = true;
         break;
      default: {
         int rc = cli_other_option ("run", common, opt, argv, &help);
         if (rc >= 0) {
            return rc;
         }
      }
      }
   }
   if (help) {
      fputs (run_help, stdout);
      fputs (cli_common_help, stdout);
      return -1;
   }
   if (!o->key) {
      /* flock's habit: `run KEY [--] COMMAND`. */
      if (optind >= argc) {
         return cli_usage_error ("run", "missing KEY (mongolock run KEY -- COMMAND, or --key KEY)");
      }
      o->key = argv[optind++];
      if (optind < argc && strcmp (argv[optind], "--") == 0) {
         optind++;
      }
   }
   if (o->permits > 0 && o->shared) {
      return cli_usage_error ("run", "--permits and --shared cannot be combined");
   }
   if (optind >= argc) {
      return cli_usage_error ("run", "missing COMMAND to run");
   }
   o->cmd = argv + optind;
   return CLI_EXIT_OK;
}

/*
 * When a lease that cannot be renewed is about to end, the command is stopped so that it
 * is gone before the server may grant the lock to another holder: SIGTERM when the lease
 * left (by mongolock's clock, which never runs ahead of the server's) falls to kill-after
 * + margin, SIGKILL when it falls to margin. margin = a twentieth of the lease, at most
 * 1 s; the kill-after used there is at most a tenth of the lease, so SIGTERM never comes
 * while more than 15% of the lease is left. The first renewal cannot be sent before the
 * acquire's answer, so the lease left dips to L - 2 x round trip before it lands: with
 * 15%, a 1 s lease works over a 400 ms round trip (issue 8), and a lease that ends while
 * its renewals really fail still leaves the command a tenth of it to stop.
 */
static void
lease_deadlines (const run_opts_t *o, int64_t *term_before, int64_t *kill_before)
{
   int64_t margin = o->lease_ms / 20 > 1000 ? 1000 : o->lease_ms / 20;
   int64_t grace = o->lease_ms / 10;
   grace = o->grace_ms < grace ? o->grace_ms : grace;
   *term_before = grace + margin;
   *kill_before = margin;
}

/* Runs the command under the held lock; returns the exit code. */
static int
run_locked (cli_hold_t *lock, const run_opts_t *o, run_state_t *st, int sigfd, int lost_r, const sigset_t *old)
{
   char token[32];
   snprintf (token, sizeof token, "%" PRId64, cli_hold_token (lock));
   int64_t term_before, kill_before;
   lease_deadlines (o, &term_before, &kill_before);
   /* The reaper's SIGKILL deadline holds from the start: mongolock may be stopped before
    * its supervising loop orders one. */
   int64_t kill_at = mono_ms () + cli_hold_remaining_ms (lock) - kill_before;
   cli_child_t child;
   int rc = cli_child_spawn (o->cmd, o->fence_env, token, old, kill_at, &child);
   bool lost = false;
   int status = 0;
   if (rc == CLI_EXIT_OK) {
      st->lock = lock;
      cli_supervise_t sv = {.child = &child,
                            .sigfd = sigfd,
                            .lost_fd = lost_r,
                            .grace_ms = o->grace_ms,
                            .remaining_ms = lease_left,
                            .verbose = o->verbose,
                            .on_lost = on_lost,
                            .on_expiring = on_expiring,
                            .data = st,
                            .term_before_ms = term_before,
                            .kill_before_ms = kill_before};
      int how = cli_child_supervise (&sv, &status);
      lost = how == CLI_SUPERVISE_LOST;
      if (how == CLI_SUPERVISE_ERROR) {
         rc = CLI_EXIT_INTERNAL;
      } else if (WIFEXITED (status)) {
         rc = WEXITSTATUS (status);
      } else if (WIFSIGNALED (status)) {
         rc = 128 + WTERMSIG (status);
      }
   }
   bson_error_t error;
   if (lost) {
      /* Stopped for the lease: if a late renewal kept it after all, free it now. */
      if (cli_hold_is_held (lock)) {
         (void) cli_hold_release (lock, NULL);
      }
   } else if (!cli_hold_release (lock, &error)) {
      if (error.domain == MONGOLOCK_ERROR_DOMAIN &&
          (error.code == MONGOLOCK_ERROR_LOST || error.code == MONGOLOCK_ERROR_NOT_HELD)) {
         lost = true;
         cli_error ("the lock \"%s\" was lost before the command finished: %s", o->key, error.message);
      } else {
         char what[600];
         snprintf (what, sizeof what, "could not release lock \"%s\" (it expires with its lease)", o->key);
         (void) cli_report_error (what, &error);
      }
   } else if (o->verbose) {
      cli_error ("released lock \"%s\"", o->key);
   }
   return lost ? CLI_EXIT_LOST : rc;
}

int
cli_cmd_run (int argc, char **argv, cli_common_t *common)
{
   run_opts_t o;
   int rc = parse (argc, argv, common, &o);
   if (rc != CLI_EXIT_OK) {
      return rc < 0 ? CLI_EXIT_OK : rc;
   }
   /* Block the signals we handle before any thread exists (the driver's monitors, the
    * renewal thread): they inherit the mask, so only the signalfd sees these signals. */
   run_state_t st = {.lost_w = -1, .key = o.key};
   pthread_mutex_init (&st.mu, NULL);
   sigset_t set, old;
   sigemptyset (&set);
   sigaddset (&set, SIGINT);
   sigaddset (&set, SIGTERM);
   sigaddset (&set, SIGHUP);
   sigaddset (&set, SIGCHLD);
   pthread_sigmask (SIG_BLOCK, &set, &old);
   int sigfd = signalfd (-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
   int lost_pipe[2] = {-1, -1};
   if (sigfd < 0 || pipe2 (lost_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
      cli_error ("cannot set up signal handling: %s", strerror (errno));
      rc = CLI_EXIT_INTERNAL;
      goto out;
   }
   st.lost_w = lost_pipe[1];

   /* A renewal must not hang past the lease: half of it, between 1 s and 30 s. */
   int64_t socket_ms = o.lease_ms / 2;
   socket_ms = socket_ms < 1000 ? 1000 : socket_ms > 30000 ? 30000 : socket_ms;
   cli_conn_t conn;
   if (cli_connect (common, socket_ms, &conn, &rc)) {
      mongolock_lock_opts_t *lo = mongolock_lock_opts_new ();
      mongolock_cancel_t *cancel = mongolock_cancel_new ();
      bson_error_t error;
      cli_hold_t *lock = NULL;
      if (mongolock_lock_opts_set_lease_ms (lo, o.lease_ms, &error) &&
          mongolock_lock_opts_set_wait_ms (lo, o.wait_ms, &error)) {
         mongolock_lock_opts_set_auto_renew (lo, true);
         mongolock_lock_opts_set_event_callback (lo, on_event, &st);
         mongolock_lock_opts_set_cancel (lo, cancel);
         lock = cli_hold_new (conn.client, o.key, o.permits, o.shared, lo, &error);
      }
      mongolock_lock_opts_destroy (lo);
      if (!lock) {
         rc = cli_report_error ("invalid lock", &error);
      } else {
         bool busy = false;
         rc = acquire (lock, conn.client, cancel, &o, sigfd, &busy);
         if (rc == CLI_EXIT_OK) {
            rc = run_locked (lock, &o, &st, sigfd, lost_pipe[0], &old);
         } else if (busy) {
            rc = o.busy_code;
         }
      }
      cli_hold_destroy (lock);
      mongolock_cancel_destroy (cancel);
      cli_disconnect (&conn);
   }
out:
   pthread_mutex_destroy (&st.mu);
   if (sigfd >= 0) {
      close (sigfd);
   }
   if (lost_pipe[0] >= 0) {
      close (lost_pipe[0]);
      close (lost_pipe[1]);
   }
   return rc;
}
