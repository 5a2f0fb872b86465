/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The job that both halves of the Redis -> mongolock example guard, and the race that
 * checks them. Neither half's lock code lives here: only what they share.
 *
 * The job: "create the invoice for order N if it is missing". Several forked workers run
 * it for the same orders at the same moment. The invoice is a file in a fresh directory
 * (not a Redis key, not a MongoDB document), so the two programs differ only in how they
 * lock. Shared memory counts the workers inside the job for each order: a program knows
 * whether its lock worked, and exits non-zero when it did not.
 */
#ifndef INVOICE_JOB_H
#define INVOICE_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOB_MAX_ORDERS 64

typedef struct {
   int workers;      /* --workers N: forked processes (default 4) */
   int orders;       /* --orders N: orders 1..N, visited by every worker (default 5) */
   int job_ms;       /* --job-ms N: time to "render" one invoice (default 50) */
   int lease_ms;     /* --lease-ms N: lock lease / Redis PX (default 1000) */
   int wait_ms;      /* --wait-ms N: longest wait for a busy lock (default 10000) */
   bool no_lock;     /* --no-lock: run the job unguarded, to show the check failing */
   const char *target; /* the first other argument: where the lock store is */
} job_plan_t;

/* Parses argv into plan (defaults first). Prints usage and returns false on a bad argument. */
bool
job_parse (int argc, char **argv, job_plan_t *plan, const char *usage);

/*
 * The critical section: creates invoice-<order>.txt unless it exists. Records in shared
 * memory how many workers were inside it at once for this order, and how many invoices it
 * created. Returns false only when the file cannot be written.
 */
bool
job_create_invoice_if_missing (int order);

/* The lock key of an order's job: "invoice:<order>". buf: at least 32 bytes. */
const char *
job_key (int order, char *buf, size_t size);

/*
 * A worker: runs job_create_invoice_if_missing (order) for orders 1..plan->orders, each
 * under the lock job_key (order). Runs in a forked child; returns that child's exit status
 * (0 when every job ran under the lock).
 */
typedef int (*job_worker_fn) (int worker, const job_plan_t *plan);

/*
 * Forks plan->workers children, releases them at the same instant, waits for them and
 * checks the outcome: every invoice created exactly once, and never two workers inside the
 * job for one order at the same time. With plan->no_lock the children run the job without
 * calling worker. name: the program's name, for the report. Returns the program's exit
 * status: 0 all good, 1 the job ran twice (the lock failed), 3 a worker failed (lock
 * store error, timeout, lost lease).
 */
int
job_race (const char *name, const job_plan_t *plan, job_worker_fn worker);

/* Milliseconds on the monotonic clock. */
int64_t
job_now_ms (void);

/* Sleeps ms milliseconds (<= 0: not at all). */
void
job_sleep_ms (int64_t ms);

#endif /* INVOICE_JOB_H */
