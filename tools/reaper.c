/* SPDX-License-Identifier: Apache-2.0 */
/* The reaper (see reaper.h). Async-signal-safe calls only: it is forked from a process
 * with threads and never execs. */
#include "reaper.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* Descriptors the reaper keeps, moved to fixed numbers before closing the rest. */
enum { FD_CTL = 3, FD_EVENTS = 4, FD_FIRST_FREE = 5 };

static void
send_msg (int32_t type, int32_t value)
{
   cli_reaper_msg_t m = {.type = type, .value = value};
   ssize_t w;
   do {
      w = write (FD_EVENTS, &m, sizeof m); /* < PIPE_BUF: atomic */
   } while (w < 0 && errno == EINTR);
}

static int64_t
mono_ms (void)
{
   struct timespec ts;
   clock_gettime (CLOCK_MONOTONIC, &ts);
   return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
close_others (void)
{
   if (close_range (FD_FIRST_FREE, ~0U, 0) != 0) {
      for (int fd = FD_FIRST_FREE; fd < 65536; fd++) {
         close (fd);
      }
   }
}

/* Sends sig to the command's group and to every child of the reaper (and the group each
 * leads): the latter are the processes re-parented to it, wherever they moved. */
static void
signal_all (pid_t pgid, int sig)
{
   if (pgid > 0) {
      kill (-pgid, sig);
   }
   char path[64] = "/proc/self/task/";
   size_t n = strlen (path);
   char digits[16];
   int k = 0;
   for (pid_t p = getpid (); p > 0 && k < 15; p /= 10) {
      digits[k++] = (char) ('0' + p % 10);
   }
   while (k > 0) {
      path[n++] = digits[--k];
   }
   memcpy (path + n, "/children", sizeof "/children");
   int fd = open (path, O_RDONLY | O_CLOEXEC);
   if (fd < 0) {
      return;
   }
   char buf[4096];
   ssize_t len = 0, r;
   while (len < (ssize_t) sizeof buf - 1 && (r = read (fd, buf + len, sizeof buf - 1 - (size_t) len)) > 0) {
      len += r;
   }
   close (fd);
   pid_t pid = 0;
   for (ssize_t i = 0; i < len; i++) {
      if (buf[i] >= '0' && buf[i] <= '9') {
         pid = pid * 10 + (buf[i] - '0');
      } else if (pid > 0) {
         kill (pid, sig);
         if (getpgid (pid) == pid) {
            kill (-pid, sig);
         }
         pid = 0;
      }
   }
   /* A list longer than the buffer: the next call (the caller repeats) gets the rest. */
}

/* Job control while the command's group owns the terminal: ^Z stopped it (or it touched
 * the terminal wrongly). Hand the terminal back and stop mongolock's group too, so the
 * shell sees the job stopped; when the shell continues it, give the terminal back to the
 * command and continue it. (Renewals stop meanwhile: a long suspension loses the lease.) */
static void
suspend (pid_t cmd, pid_t own_group, int sig)
{
   if (sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU) {
      return; /* SIGSTOP from a debugger or an operator: not the terminal's business */
   }
   tcsetpgrp (0, own_group);
   kill (0, SIGTSTP); /* returns once the shell continues the job */
   tcsetpgrp (0, cmd);
   kill (-cmd, SIGCONT);
}

/* Runs in the command's process, before exec. */
static void __attribute__ ((noreturn))
exec_command (const cli_reaper_args_t *a, pid_t reaper, int go_r, int err_w)
{
   setpgid (0, 0);
   /* Wait until the reaper has set up the group (and the terminal): EOF on go_r. */
   char c;
   while (read (go_r, &c, 1) < 0 && errno == EINTR) {
   }
   prctl (PR_SET_PDEATHSIG, SIGKILL);
   if (getppid () != reaper) {
      _exit (127);
   }
   struct sigaction dfl;
   memset (&dfl, 0, sizeof dfl);
   dfl.sa_handler = SIG_DFL;
   sigaction (SIGPIPE, &dfl, NULL); /* mongolock ignores it; the command must not */
   sigprocmask (SIG_SETMASK, a->child_mask, NULL);
   int saved = ENOENT;
   bool eacces = false;
   for (char **p = a->candidates; *p; p++) {
      execve (*p, a->argv, a->env);
      int e = errno;
      if (e == EACCES) {
         eacces = true;
      } else if (!(e == ENOENT || e == ENOTDIR || e == ESTALE || e == ENODEV || e == ETIMEDOUT || e == ELOOP ||
                   e == ENAMETOOLONG)) {
         saved = e;
         break;
      }
   }
   if (eacces && saved == ENOENT) {
      saved = EACCES;
   }
   ssize_t w = write (err_w, &saved, sizeof saved);
   (void) w;
   _exit (saved == ENOENT ? 127 : 126);
}

void
cli_reaper_main (const cli_reaper_args_t *a)
{
   /* Keep ctl_r and events_w only (close-on-exec: the command must not inherit them). Via
    * high numbers, since either may be 3 or 4 already; every other copy of the pipes'
    * ends (ctl's write end above all) is closed. */
   int ctl = fcntl (a->ctl_r, F_DUPFD_CLOEXEC, 64), events = fcntl (a->events_w, F_DUPFD_CLOEXEC, 64);
   if (ctl < 0 || events < 0 || dup3 (ctl, FD_CTL, O_CLOEXEC) < 0 || dup3 (events, FD_EVENTS, O_CLOEXEC) < 0) {
      _exit (70);
   }
   close_others ();
   struct sigaction ign;
   memset (&ign, 0, sizeof ign);
   ign.sa_handler = SIG_IGN;
   sigaction (SIGPIPE, &ign, NULL);
   prctl (PR_SET_CHILD_SUBREAPER, 1);
   /* INT, TERM, HUP and CHLD are blocked (inherited): mongolock decides about signals.
    * TTOU too, to take the terminal back from the background. */
   sigset_t chld;
   sigemptyset (&chld);
   sigaddset (&chld, SIGCHLD);
   sigaddset (&chld, SIGTTOU);
   sigprocmask (SIG_BLOCK, &chld, NULL);
   sigdelset (&chld, SIGTTOU);
   int sfd = signalfd (-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
   int go[2], err[2];
   if (sfd < 0 || pipe2 (go, O_CLOEXEC) != 0 || pipe2 (err, O_CLOEXEC) != 0) {
      send_msg (CLI_REAPER_EXEC_FAILED, errno);
      send_msg (CLI_REAPER_ALL_GONE, 0);
      _exit (70);
   }
   if (getppid () != a->parent) {
      _exit (70); /* mongolock died before the command started */
   }
   pid_t self = getpid ();
   pid_t cmd = fork ();
   if (cmd < 0) {
      send_msg (CLI_REAPER_EXEC_FAILED, errno);
      send_msg (CLI_REAPER_ALL_GONE, 0);
      _exit (70);
   }
   if (cmd == 0) {
      close (go[1]);
      close (err[0]);
      exec_command (a, self, go[0], err[1]);
   }
   close (go[0]);
   close (err[1]);
   setpgid (cmd, cmd); /* both sides, so neither order of the two calls races */
   pid_t own_group = getpgrp ();
   bool took_tty = a->take_tty && tcsetpgrp (0, cmd) == 0;
   close (go[1]);
   int child_errno = 0;
   ssize_t r;
   do {
      r = read (err[0], &child_errno, sizeof child_errno);
   } while (r < 0 && errno == EINTR);
   close (err[0]);
   bool failed = r == (ssize_t) sizeof child_errno;
   send_msg (failed ? CLI_REAPER_EXEC_FAILED : CLI_REAPER_STARTED, failed ? child_errno : (int32_t) cmd);

   bool orphaned = false; /* mongolock is gone, or the deadline passed: kill everything */
   int64_t deadline = a->deadline_ms;
   bool ctl_open = true;
   for (;;) {
      int st;
      pid_t w;
      while ((w = waitpid (-1, &st, WNOHANG | (took_tty ? WUNTRACED : 0))) > 0) {
         if (WIFSTOPPED (st)) {
            suspend (cmd, own_group, WSTOPSIG (st));
         } else if (w == cmd && !failed) {
            send_msg (CLI_REAPER_EXITED, st);
         }
      }
      if (w < 0 && errno == ECHILD) {
         break;
      }
      int64_t now = mono_ms ();
      if (!orphaned && now >= deadline) {
         orphaned = true;
      }
      if (orphaned) {
         signal_all (cmd, SIGKILL);
      }
      int64_t timeout = orphaned ? 20 : 1000;
      if (!orphaned && deadline - now < timeout) {
         timeout = deadline - now;
      }
      struct pollfd fds[2] = {{.fd = ctl_open ? FD_CTL : -1, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
      int n = poll (fds, 2, (int) timeout);
      if (n <= 0) {
         continue;
      }
      if (fds[1].revents & POLLIN) {
         struct signalfd_siginfo si;
         while (read (sfd, &si, sizeof si) == (ssize_t) sizeof si) {
         }
      }
      if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
         cli_reaper_ctl_t c;
         size_t got = 0;
         while (got < sizeof c && ((r = read (FD_CTL, (char *) &c + got, sizeof c - got)) > 0 || (r < 0 && errno == EINTR))) {
            got += r > 0 ? (size_t) r : 0;
         }
         if (got < sizeof c) {
            /* EOF: the only write end was mongolock's, so it is gone. */
            orphaned = true;
            signal_all (cmd, SIGKILL);
            ctl_open = false;
         } else if (c.kind == CLI_REAPER_DEADLINE) {
            deadline = c.deadline_ms;
         } else if (c.kind == CLI_REAPER_SIGNAL) {
            signal_all (cmd, c.sig);
            if (c.sig == SIGTERM || c.sig == SIGHUP || c.sig == SIGINT) {
               signal_all (cmd, SIGCONT); /* a stopped process must be able to act on it */
            }
         }
      }
   }
   if (took_tty) {
      tcsetpgrp (0, own_group);
   }
   send_msg (CLI_REAPER_ALL_GONE, 0);
   _exit (0);
}
