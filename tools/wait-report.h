/* SPDX-License-Identifier: Apache-2.0 */
/* What `mongolock run` shows while it waits for a busy lock: who holds it, how long its
 * lease has left and how long this run has waited. */
#ifndef MONGOLOCK_CLI_WAIT_REPORT_H
#define MONGOLOCK_CLI_WAIT_REPORT_H

#include "cli.h"

typedef struct cli_wait_report cli_wait_report_t;

/* How often the report is refreshed. */
#define CLI_WAIT_TTY_INTERVAL_MS 1000     /* the live line on a terminal */
#define CLI_WAIT_VERBOSE_INTERVAL_MS 5000 /* -v's periodic line elsewhere */

/*
 * Starts reporting the wait for key (borrowed: must outlive the report) begun at
 * started_ms (CLOCK_MONOTONIC ms) on a thread of its own, which reads the holder with
 * mongolock_client_list_locks on client (thread-safe). When standard error is a terminal:
 * one line rewritten in place ("\r") every second. Otherwise, with verbose: a line every
 * 5 s. Otherwise nothing: returns NULL, as when the thread cannot be started.
 */
cli_wait_report_t *
cli_wait_report_start (mongolock_client_t *client, const char *key, int64_t started_ms, bool verbose);

/* Stops the thread (waiting for a listing in flight, bounded by the client's timeout),
 * clears the live line and frees r. NULL is a no-op. */
void
cli_wait_report_stop (cli_wait_report_t *r);

#endif
