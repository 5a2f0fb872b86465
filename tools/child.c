/* SPDX-License-Identifier: Apache-2.0 */
/* The command `mongolock run` runs: spawning it under the reaper, forwarding signals,
 * stopping it on a lost or expiring lease. The caller has blocked the signals it watches
 * (through a signalfd) in every thread, so only this loop ever sees them.
 *
 * Why a reaper process: PR_SET_PDEATHSIG reaches only the direct child, and a process
 * group only the processes that stay in it. The reaper (reaper.c) is a child subreaper
 * that outlives mongolock by design: it holds the read end of a pipe whose only write end
 * is mongolock's, so when mongolock dies, by any signal, the kernel closes it and the
 * reaper kills the group and every process re-parented to it, until none is left. */
#include "child.h"
#include "reaper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static int64_t
now_ms (void)
{
   struct timespec ts;
   clock_gettime (CLOCK_MONOTONIC, &ts);
   return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Where execvp would look for name, computed before fork (the child may only make
 * async-signal-safe calls, and the parent has other threads). NULL-terminated. */
static char **
exec_candidates (const char *name)
{
   if (strchr (name, '/')) {
      char **c = bson_malloc0 (2 * sizeof *c);
      c[0] = bson_strdup (name);
      return c;
   }
   const char *path = getenv ("PATH");
   if (!path) {
      path = "/usr/local/bin:/usr/bin:/bin";
   }
   size_t n = 1;
   for (const char *p = path; *p; p++) {
      n += *p == ':';
   }
   char **c = bson_malloc0 ((n + 1) * sizeof *c);
   size_t i = 0;
   const char *start = path;
   for (;;) {
      const char *end = strchr (start, ':');
      size_t len = end ? (size_t) (end - start) : strlen (start);
      /* An empty entry means the current directory. */
      c[i++] = len ? bson_strdup_printf ("%.*s/%s", (int) len, start, name) : bson_strdup_printf ("./%s", name);
      if (!end) {
         break;
      }
      start = end + 1;
   }
   return c;
}

static void
strv_free (char **v)
{
   if (v) {
      for (char **p = v; *p; p++) {
         bson_free (*p);
      }
      bson_free (v);
   }
}

/* environ with NAME=VALUE set (replacing any NAME=...), when name is given. */
static char **
child_environment (const char *name, const char *value)
{
   size_t n = 0;
   for (char **e = environ; e && *e; e++) {
      n++;
   }
   char **env = bson_malloc0 ((n + 2) * sizeof *env);
   size_t k = 0, name_len = name ? strlen (name) : 0;
   for (char **e = environ; e && *e; e++) {
      if (name && strncmp (*e, name, name_len) == 0 && (*e)[name_len] == '=') {
         continue;
      }
      env[k++] = bson_strdup (*e);
   }
   if (name) {
      env[k++] = bson_strdup_printf ("%s=%s", name, value);
   }
   return env;
}

static void
close_fd (int *fd)
{
   if (*fd >= 0) {
      close (*fd);
      *fd = -1;
   }
}

/* Reads one message; false at EOF or error (the reaper is gone). Blocks when asked to. */
static bool
read_msg (int fd, cli_reaper_msg_t *m, bool block)
{
   size_t got = 0;
   while (got < sizeof *m) {
      ssize_t r = read (fd, (char *) m + got, sizeof *m - got);
      if (r > 0) {
         got += (size_t) r;
      } else if (r < 0 && errno == EINTR) {
         continue;
      } else if (r < 0 && errno == EAGAIN && (block || got > 0)) {
         struct pollfd pfd = {.fd = fd, .events = POLLIN};
         (void) poll (&pfd, 1, -1);
      } else {
         if (r == 0) {
            errno = 0; /* EOF */
         }
         return false;
      }
   }
   return true;
}

static void
reap_reaper (pid_t reaper)
{
   int st;
   while (waitpid (reaper, &st, 0) < 0 && errno == EINTR) {
   }
}

int
cli_child_spawn (char **argv, const char *env_name, const char *env_value, const sigset_t *child_mask,
                 int64_t deadline_ms, cli_child_t *child)
{
   memset (child, 0, sizeof *child);
   child->ctl_w = child->events_r = -1;
   char **candidates = exec_candidates (argv[0]);
   char **env = child_environment (env_name, env_value);
   int ctl[2] = {-1, -1}, events[2] = {-1, -1};
   int rc = CLI_EXIT_OK;
   if (pipe2 (ctl, O_CLOEXEC) != 0 || pipe2 (events, O_CLOEXEC) != 0) {
      cli_error ("cannot create a pipe: %s", strerror (errno));
      rc = CLI_EXIT_INTERNAL;
      goto done;
   }
   /* Only when mongolock owns the terminal may it hand it on. */
   bool take_tty = isatty (0) && tcgetpgrp (0) == getpgrp ();
   cli_reaper_args_t args = {.argv = argv,
                             .candidates = candidates,
                             .env = env,
                             .child_mask = child_mask,
                             .parent = getpid (),
                             .take_tty = take_tty,
                             .ctl_r = ctl[0],
                             .events_w = events[1],
                             .deadline_ms = deadline_ms};
   pid_t reaper = fork ();
   if (reaper < 0) {
      cli_error ("cannot fork: %s", strerror (errno));
      rc = CLI_EXIT_INTERNAL;
      goto done;
   }
   if (reaper == 0) {
      cli_reaper_main (&args);
   }
   close_fd (&ctl[0]);
   close_fd (&events[1]);
   child->reaper = reaper;
   child->ctl_w = ctl[1];
   child->events_r = events[0];
   ctl[1] = events[0] = -1;
   fcntl (child->events_r, F_SETFL, O_NONBLOCK);
   cli_reaper_msg_t m;
   if (!read_msg (child->events_r, &m, true) || (m.type != CLI_REAPER_STARTED && m.type != CLI_REAPER_EXEC_FAILED)) {
      cli_error ("cannot start the command: its supervising process failed");
      rc = CLI_EXIT_INTERNAL;
   } else if (m.type == CLI_REAPER_EXEC_FAILED) {
      cli_error ("%s: %s", argv[0], m.value == ENOENT ? "command not found" : strerror (m.value));
      rc = m.value == ENOENT ? CLI_EXIT_NO_COMMAND : CLI_EXIT_CANNOT_EXEC;
   } else {
      child->pgid = (pid_t) m.value;
   }
   if (rc != CLI_EXIT_OK) {
      close_fd (&child->ctl_w); /* the reaper kills whatever is left and exits */
      while (read_msg (child->events_r, &m, true)) {
      }
      close_fd (&child->events_r);
      reap_reaper (reaper);
   }
done:
   close_fd (&ctl[0]);
   close_fd (&ctl[1]);
   close_fd (&events[0]);
   close_fd (&events[1]);
   strv_free (candidates);
   strv_free (env);
   return rc;
}

static void
send_ctl (const cli_supervise_t *sv, int32_t kind, int sig, int64_t deadline_ms)
{
   cli_reaper_ctl_t c = {.kind = kind, .sig = sig, .deadline_ms = deadline_ms};
   ssize_t w = write (sv->child->ctl_w, &c, sizeof c); /* < PIPE_BUF: atomic */
   (void) w;
}

static void
send_signal (const cli_supervise_t *sv, int sig)
{
   send_ctl (sv, CLI_REAPER_SIGNAL, sig, 0);
}

/* Reads every pending signal; forwards INT, TERM and HUP to the command's processes. The
 * command runs in its own process group, so a signal from the terminal reached mongolock
 * alone (or, when the command's group owns the terminal, the command alone). */
static void
drain_signals (const cli_supervise_t *sv)
{
   struct signalfd_siginfo si;
   while (read (sv->sigfd, &si, sizeof si) == (ssize_t) sizeof si) {
      int sig = (int) si.ssi_signo;
      if (sig != SIGINT && sig != SIGTERM && sig != SIGHUP) {
         continue; /* SIGCHLD: the reaper's end shows on its events pipe */
      }
      if (sv->verbose) {
         cli_error ("forwarding %s to the command (process group %d)", strsignal (sig), (int) sv->child->pgid);
      }
      send_signal (sv, sig);
   }
}

typedef struct {
   bool stopping, killed, lost, expiring;
   int64_t kill_at;   /* when stopping */
   int64_t lease_end; /* by mongolock's clock, from the largest lease left seen */
   int64_t reaper_deadline; /* the last one sent */
} stop_state_t;

/* The reaper's own deadline, for when mongolock cannot act (stopped, starved): SIGKILL as
 * the lease ends, or, once the lease is lost, a second after mongolock's own SIGKILL. */
static void
update_reaper_deadline (const cli_supervise_t *sv, stop_state_t *s)
{
   int64_t d = INT64_MAX;
   if (s->lost) {
      d = s->kill_at == INT64_MAX ? INT64_MAX : s->kill_at + 1000;
   } else if (s->lease_end != INT64_MAX) {
      d = s->lease_end - sv->kill_before_ms;
   }
   if (d != s->reaper_deadline) {
      s->reaper_deadline = d;
      send_ctl (sv, CLI_REAPER_DEADLINE, 0, d);
   }
}

static void
start_stop (const cli_supervise_t *sv, stop_state_t *s, int64_t now)
{
   if (!s->stopping) {
      s->stopping = true;
      s->kill_at = now + sv->grace_ms;
      send_signal (sv, SIGTERM);
   }
}

int
cli_child_supervise (const cli_supervise_t *sv, int *status)
{
   stop_state_t s = {.kill_at = INT64_MAX, .lease_end = INT64_MAX, .reaper_deadline = INT64_MAX};
   bool exited = false;
   *status = 0;
   char grace[32];
   cli_format_duration (sv->grace_ms, grace, sizeof grace);
   for (;;) {
      int64_t now = now_ms ();
      if (sv->remaining_ms && !s.lost) {
         int64_t left = sv->remaining_ms (sv->data);
         if (left > 0 && (s.lease_end == INT64_MAX || now + left > s.lease_end)) {
            s.lease_end = now + left;
         }
         if (s.lease_end != INT64_MAX) {
            if (!s.stopping && now >= s.lease_end - sv->term_before_ms) {
               s.expiring = true;
               if (sv->on_expiring) {
                  sv->on_expiring (sv->data, s.lease_end - now);
               }
               start_stop (sv, &s, now);
            }
            if (s.stopping && s.lease_end - sv->kill_before_ms < s.kill_at) {
               s.kill_at = s.lease_end - sv->kill_before_ms;
            }
         }
      }
      update_reaper_deadline (sv, &s);
      if (s.stopping && !s.killed && now >= s.kill_at) {
         if (s.expiring && now >= s.lease_end - sv->kill_before_ms) {
            cli_error ("the command's processes are still running as the lease ends: sending SIGKILL");
         } else if (sv->grace_ms > 0) {
            /* With --kill-after 0 SIGKILL follows SIGTERM at once: nothing to report, and
             * after the command's exit the reaper may not yet have said that none is left. */
            cli_error ("the command's processes did not exit %s after SIGTERM: sending SIGKILL", grace);
         }
         send_signal (sv, SIGKILL);
         s.killed = true;
      }
      /* Wake at least once a second: a bound on any missed wake-up. */
      int64_t timeout = 1000;
      if (!s.stopping && s.lease_end != INT64_MAX && s.lease_end - sv->term_before_ms - now < timeout) {
         timeout = s.lease_end - sv->term_before_ms - now;
      }
      if (s.stopping && !s.killed && s.kill_at - now < timeout) {
         timeout = s.kill_at - now;
      }
      timeout = timeout < 0 ? 0 : timeout;
      struct pollfd fds[3] = {{.fd = sv->sigfd, .events = POLLIN},
                              {.fd = s.lost ? -1 : sv->lost_fd, .events = POLLIN},
                              {.fd = sv->child->events_r, .events = POLLIN}};
      int n = poll (fds, 3, (int) timeout);
      if (n < 0 && errno != EINTR) {
         cli_error ("poll: %s", strerror (errno));
      }
      if (n <= 0) {
         continue;
      }
      if (fds[0].revents & POLLIN) {
         drain_signals (sv);
      }
      if (fds[1].revents & (POLLIN | POLLHUP)) {
         s.lost = true;
         if (sv->on_lost) {
            sv->on_lost (sv->data);
         }
         /* The server may already have given the lock to another: --kill-after from now at most. */
         bool was_stopping = s.stopping;
         start_stop (sv, &s, now_ms ());
         if (was_stopping && now_ms () + sv->grace_ms < s.kill_at) {
            s.kill_at = now_ms () + sv->grace_ms;
         }
      }
      if (fds[2].revents & (POLLIN | POLLHUP | POLLERR)) {
         cli_reaper_msg_t m;
         bool gone = false, eof = false;
         for (;;) {
            if (!read_msg (sv->child->events_r, &m, false)) {
               eof = errno != EAGAIN;
               break;
            }
            if (m.type == CLI_REAPER_EXITED) {
               exited = true;
               *status = m.value;
               /* Processes it left behind must not run on: stop them (the lock is kept meanwhile). */
               start_stop (sv, &s, now_ms ());
            } else if (m.type == CLI_REAPER_ALL_GONE) {
               gone = true;
            }
         }
         if (gone || eof) {
            close_fd (&sv->child->ctl_w);
            close_fd (&sv->child->events_r);
            reap_reaper (sv->child->reaper);
            if (!gone) {
               /* The reaper died: kill what can still be found. */
               kill (-sv->child->pgid, SIGKILL);
               cli_error ("the process supervising the command died unexpectedly");
               return CLI_SUPERVISE_ERROR;
            }
            if (!exited) {
               cli_error ("the command's exit status was not reported");
               return CLI_SUPERVISE_ERROR;
            }
            return s.lost || s.expiring ? CLI_SUPERVISE_LOST : CLI_SUPERVISE_EXITED;
         }
      }
   }
}
