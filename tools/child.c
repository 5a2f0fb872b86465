/* The command `mongolock run` runs: spawning it, forwarding signals, killing it on a lost
 * lease, and reaping it. The caller has blocked the signals it watches (through a
 * signalfd) in every thread, so only this loop ever sees them. */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
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

static bool
retry_errno (int e)
{
   return e == ENOENT || e == ENOTDIR || e == ESTALE || e == ENODEV || e == ETIMEDOUT || e == ELOOP ||
          e == ENAMETOOLONG;
}

/* In the child: async-signal-safe calls only. */
static void
child_exec (char **argv, char **candidates, char **env, const sigset_t *mask, pid_t parent, int err_fd)
{
   /* If mongolock itself dies (even by SIGKILL) the command must not run on without its
    * lock: the kernel kills it. */
   prctl (PR_SET_PDEATHSIG, SIGKILL);
   if (getppid () != parent) {
      _exit (CLI_EXIT_INTERNAL);
   }
   sigprocmask (SIG_SETMASK, mask, NULL);
   int saved = ENOENT;
   bool eacces = false;
   for (char **c = candidates; *c; c++) {
      execve (*c, argv, env);
      int e = errno;
      if (e == EACCES) {
         eacces = true;
      } else if (!retry_errno (e)) {
         saved = e;
         break;
      }
   }
   if (eacces && retry_errno (saved)) {
      saved = EACCES;
   }
   ssize_t w = write (err_fd, &saved, sizeof saved);
   (void) w;
   _exit (saved == ENOENT ? CLI_EXIT_NO_COMMAND : CLI_EXIT_CANNOT_EXEC);
}

int
cli_child_spawn (char **argv, const char *env_name, const char *env_value, const sigset_t *child_mask, pid_t *pid)
{
   char **candidates = exec_candidates (argv[0]);
   char **env = child_environment (env_name, env_value);
   int err_pipe[2];
   int rc = CLI_EXIT_OK;
   if (pipe2 (err_pipe, O_CLOEXEC) != 0) {
      cli_error ("cannot create a pipe: %s", strerror (errno));
      rc = CLI_EXIT_INTERNAL;
      goto done;
   }
   pid_t parent = getpid ();
   pid_t child = fork ();
   if (child < 0) {
      cli_error ("cannot fork: %s", strerror (errno));
      close (err_pipe[0]);
      close (err_pipe[1]);
      rc = CLI_EXIT_INTERNAL;
      goto done;
   }
   if (child == 0) {
      close (err_pipe[0]);
      child_exec (argv, candidates, env, child_mask, parent, err_pipe[1]);
   }
   close (err_pipe[1]);
   /* EOF (exec closed the pipe) means the command runs; an errno means it could not. */
   int child_errno = 0;
   ssize_t r;
   do {
      r = read (err_pipe[0], &child_errno, sizeof child_errno);
   } while (r < 0 && errno == EINTR);
   close (err_pipe[0]);
   if (r == (ssize_t) sizeof child_errno) {
      int status;
      while (waitpid (child, &status, 0) < 0 && errno == EINTR) {
      }
      cli_error ("%s: %s", argv[0], child_errno == ENOENT ? "command not found" : strerror (child_errno));
      rc = child_errno == ENOENT ? CLI_EXIT_NO_COMMAND : CLI_EXIT_CANNOT_EXEC;
      goto done;
   }
   *pid = child;
done:
   strv_free (candidates);
   strv_free (env);
   return rc;
}

/* Reads every pending signal; forwards INT, TERM and HUP to the child. */
static void
drain_signals (int sigfd, pid_t pid, bool verbose)
{
   struct signalfd_siginfo si;
   while (read (sigfd, &si, sizeof si) == (ssize_t) sizeof si) {
      int sig = (int) si.ssi_signo;
      if (sig != SIGINT && sig != SIGTERM && sig != SIGHUP) {
         continue; /* SIGCHLD: the waitpid below handles it */
      }
      /* The terminal sends ^C (and hangup) to the whole foreground process group, the
       * command included: forwarding it too would deliver it twice. */
      if (si.ssi_code == SI_KERNEL) {
         continue;
      }
      if (verbose) {
         cli_error ("forwarding %s to pid %d", strsignal (sig), (int) pid);
      }
      kill (pid, sig);
   }
}

int
cli_child_supervise (const cli_supervise_t *sv, int *status)
{
   bool lost = false, killed = false;
   int64_t kill_at = 0;
   for (;;) {
      int st;
      pid_t w = waitpid (sv->pid, &st, WNOHANG);
      if (w == sv->pid) {
         *status = st;
         return lost ? CLI_SUPERVISE_LOST : CLI_SUPERVISE_EXITED;
      }
      if (w < 0 && errno != EINTR) {
         cli_error ("cannot wait for pid %d: %s", (int) sv->pid, strerror (errno));
         *status = 0;
         return CLI_SUPERVISE_ERROR;
      }
      int64_t now = now_ms ();
      if (lost && !killed && now >= kill_at) {
         cli_error ("pid %d did not exit %s after SIGTERM: sending SIGKILL", (int) sv->pid, sv->grace_text);
         kill (sv->pid, SIGKILL);
         killed = true;
      }
      /* Wake at least once a second: a bound on any missed wake-up. */
      int64_t timeout = 1000;
      if (lost && !killed && kill_at - now < timeout) {
         timeout = kill_at - now;
      }
      struct pollfd fds[2] = {{.fd = sv->sigfd, .events = POLLIN}, {.fd = lost ? -1 : sv->lost_fd, .events = POLLIN}};
      int n = poll (fds, 2, (int) timeout);
      if (n < 0 && errno != EINTR) {
         cli_error ("poll: %s", strerror (errno));
      }
      if (n <= 0) {
         continue;
      }
      if (fds[0].revents & POLLIN) {
         drain_signals (sv->sigfd, sv->pid, sv->verbose);
      }
      if (fds[1].revents & (POLLIN | POLLHUP)) {
         lost = true;
         sv->on_lost (sv->on_lost_data);
         kill (sv->pid, SIGTERM);
         kill_at = now_ms () + sv->grace_ms;
      }
   }
}
