/* SPDX-License-Identifier: Apache-2.0 */
/* Spawning and supervising the command of `mongolock run`, through the reaper. */
#ifndef MONGOLOCK_CLI_CHILD_H
#define MONGOLOCK_CLI_CHILD_H

#include "cli.h"

#include <signal.h>
#include <sys/types.h>

/* The command, as seen from mongolock. */
typedef struct {
   pid_t reaper;
   pid_t pgid;  /* the command's pid and process group */
   int ctl_w;   /* signal numbers to the reaper; closing it makes the reaper kill everything */
   int events_r;
} cli_child_t;

/*
 * Starts argv (argv[0] looked up in PATH like execvp) with environ plus env_name=env_value
 * (when env_name is not NULL) and the signal mask child_mask, in a new process group under
 * a reaper process (see reaper.h); when stdin is the terminal and mongolock is in its
 * foreground, the command's group gets the terminal while it runs. Fills *child and
 * returns CLI_EXIT_OK once the command runs; when it cannot be started, prints why and
 * returns CLI_EXIT_NO_COMMAND (not found), CLI_EXIT_CANNOT_EXEC or CLI_EXIT_INTERNAL, with
 * nothing left running. If mongolock dies, even by SIGKILL, the reaper kills every
 * process of the command; and at deadline_ms (CLOCK_MONOTONIC; INT64_MAX for none) unless
 * a later order moves it (cli_child_supervise does), even if mongolock is stopped from the
 * moment the command starts.
 */
int
cli_child_spawn (char **argv, const char *env_name, const char *env_value, const sigset_t *child_mask,
                 int64_t deadline_ms, cli_child_t *child);

typedef struct {
   cli_child_t *child;
   int sigfd;         /* signalfd for INT, TERM, HUP and CHLD (blocked in every thread) */
   int lost_fd;       /* becomes readable when the lease is lost */
   int64_t grace_ms;  /* SIGTERM to SIGKILL (--kill-after) */
   /* Lease watch: remaining_ms (NULL: none) returns the lease left by mongolock's clock.
    * When it falls to term_before_ms the command's processes get SIGTERM, and at
    * kill_before_ms SIGKILL, so that they are gone before the server's lease ends. */
   int64_t (*remaining_ms) (void *data);
   int64_t term_before_ms, kill_before_ms;
   bool verbose;
   void (*on_lost) (void *data); /* called once, before the SIGTERM for a lost lease */
   void (*on_expiring) (void *data, int64_t left_ms); /* called once, before an early SIGTERM */
   void *data;
} cli_supervise_t;

enum { CLI_SUPERVISE_EXITED, CLI_SUPERVISE_LOST, CLI_SUPERVISE_ERROR };

/*
 * Waits until no process of the command is left, forwarding INT, TERM and HUP sent to
 * mongolock to all of them. Stops them (SIGTERM, then SIGKILL after grace_ms) when the
 * lease is lost (lost_fd), when the lease is about to run out (see above; the kill
 * deadline is then the earlier of the two), and when the command itself exited but left
 * processes behind. Fills *status with the command's waitpid status and returns
 * CLI_SUPERVISE_EXITED, or CLI_SUPERVISE_LOST when it was stopped for the lease, or
 * CLI_SUPERVISE_ERROR when the reaper failed (after killing the group).
 */
int
cli_child_supervise (const cli_supervise_t *sv, int *status);

#endif
