/* Spawning and supervising the command of `mongolock run`. */
#ifndef MONGOLOCK_CLI_CHILD_H
#define MONGOLOCK_CLI_CHILD_H

#include "cli.h"

#include <signal.h>
#include <sys/types.h>

/*
 * Starts argv (argv[0] looked up in PATH like execvp) with environ plus env_name=env_value
 * (when env_name is not NULL) and the signal mask child_mask. Sets *pid and returns
 * CLI_EXIT_OK once the command runs; when it cannot be started, prints why and returns
 * CLI_EXIT_NO_COMMAND (not found), CLI_EXIT_CANNOT_EXEC or CLI_EXIT_INTERNAL. The child
 * gets SIGKILL if mongolock dies.
 */
int
cli_child_spawn (char **argv, const char *env_name, const char *env_value, const sigset_t *child_mask, pid_t *pid);

typedef struct {
   pid_t pid;
   int sigfd;       /* signalfd for INT, TERM, HUP and CHLD (blocked in every thread) */
   int lost_fd;     /* becomes readable when the lease is lost */
   int64_t grace_ms; /* SIGTERM to SIGKILL after a loss */
   const char *grace_text;
   bool verbose;
   void (*on_lost) (void *data); /* called once, before the child gets SIGTERM */
   void *on_lost_data;
} cli_supervise_t;

enum { CLI_SUPERVISE_EXITED, CLI_SUPERVISE_LOST, CLI_SUPERVISE_ERROR };

/*
 * Waits for the child, forwarding INT, TERM and HUP sent to mongolock (not those the
 * terminal already sent to the whole process group). When lost_fd becomes readable, sends
 * the child SIGTERM, then SIGKILL after grace_ms. Fills *status (waitpid status) and
 * returns CLI_SUPERVISE_EXITED, or CLI_SUPERVISE_LOST when the lease was lost first.
 */
int
cli_child_supervise (const cli_supervise_t *sv, int *status);

#endif
