/* SPDX-License-Identifier: Apache-2.0 */
/* The reaper: the process between `mongolock run` and its command. */
#ifndef MONGOLOCK_CLI_REAPER_H
#define MONGOLOCK_CLI_REAPER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Messages from the reaper (on its events pipe), each one cli_reaper_msg_t. */
enum {
   CLI_REAPER_STARTED = 1, /* value: the command's pid, also its process group id */
   CLI_REAPER_EXEC_FAILED, /* value: errno of the failed exec (the command never ran) */
   CLI_REAPER_EXITED,      /* value: waitpid status of the command */
   CLI_REAPER_ALL_GONE,    /* no process of the command is left; the reaper exits next */
};

typedef struct {
   int32_t type;
   int32_t value;
} cli_reaper_msg_t;

/* Orders from mongolock (on the ctl pipe), each one cli_reaper_ctl_t. */
enum {
   CLI_REAPER_SIGNAL = 1, /* send sig to all the command's processes */
   CLI_REAPER_DEADLINE,   /* SIGKILL them all at deadline_ms (CLOCK_MONOTONIC) unless moved */
};

typedef struct {
   int32_t kind;
   int32_t sig;
   int64_t deadline_ms;
} cli_reaper_ctl_t;

typedef struct {
   char **argv;       /* the command */
   char **candidates; /* paths to try for argv[0], NULL-terminated */
   char **env;        /* the command's environment */
   const sigset_t *child_mask;
   pid_t parent;      /* mongolock's pid */
   bool take_tty;     /* give the terminal on fd 0 to the command's group while it runs */
   int ctl_r;         /* cli_reaper_ctl_t from mongolock; EOF: mongolock died */
   int events_w;      /* cli_reaper_msg_t to mongolock */
   int64_t deadline_ms; /* the first deadline (CLOCK_MONOTONIC; INT64_MAX: none), in force
                         * before the command starts: mongolock may be stopped before it
                         * ever orders one */
} cli_reaper_args_t;

/*
 * The body of the reaper, run in a child of mongolock right after fork (so it makes only
 * async-signal-safe calls, never returns, and closes every other descriptor first). It is
 * a child subreaper (PR_SET_CHILD_SUBREAPER): every process of the command whose parent
 * dies is re-parented to it, so "no child left" means "no process of the command left",
 * even for processes that moved to another process group or session. It starts the
 * command in a new process group, reports on events_w, and for each signal ordered on
 * ctl_r sends it to the command's group and to each of its own children (and their
 * groups). When ctl_r reaches EOF (mongolock is gone, even by SIGKILL), or the deadline
 * last ordered passes (mongolock is stopped or starved and cannot act before the lease
 * ends), it SIGKILLs them all, again and again, until none is left.
 */
void
cli_reaper_main (const cli_reaper_args_t *a) __attribute__ ((noreturn));

#endif
