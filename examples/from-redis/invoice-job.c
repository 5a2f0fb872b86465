/* SPDX-License-Identifier: Apache-2.0 */
/* The shared job and the race that checks it; see invoice-job.h. */
#include "invoice-job.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Shared by the parent and every forked worker (MAP_SHARED). */
typedef struct {
   atomic_int inside[JOB_MAX_ORDERS + 1];     /* workers inside the job for an order now */
   atomic_int max_inside[JOB_MAX_ORDERS + 1]; /* the most there ever were at once */
   atomic_int created[JOB_MAX_ORDERS + 1];    /* invoices written for an order */
} job_shared_t;

static job_shared_t *shared;
static char dir[64];
static int job_ms;
static int worker_id;

int64_t
job_now_ms (void)
{
   struct timespec ts;
   clock_gettime (CLOCK_MONOTONIC, &ts);
   return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
job_sleep_ms (int64_t ms)
{
   if (ms <= 0) {
      return;
   }
   struct timespec ts = {(time_t) (ms / 1000), (long) (ms % 1000) * 1000000L};
   while (nanosleep (&ts, &ts) != 0 && errno == EINTR) {
   }
}

static bool
int_arg (const char *s, int min, int max, int *out)
{
   char *end;
   errno = 0;
   long v = strtol (s, &end, 10);
   if (errno || end == s || *end || v < min || v > max) {
      return false;
   }
   *out = (int) v;
   return true;
}

bool
job_parse (int argc, char **argv, job_plan_t *plan, const char *usage)
{
   *plan = (job_plan_t) {.workers = 4, .orders = 5, .job_ms = 50, .lease_ms = 1000, .wait_ms = 10000};
   for (int i = 1; i < argc; i++) {
      const char *a = argv[i];
      const char *v = i + 1 < argc ? argv[i + 1] : "";
      bool ok = true;
      if (strcmp (a, "--no-lock") == 0) {
         plan->no_lock = true;
         continue;
      } else if (strcmp (a, "--workers") == 0) {
         ok = int_arg (v, 1, 64, &plan->workers);
      } else if (strcmp (a, "--orders") == 0) {
         ok = int_arg (v, 1, JOB_MAX_ORDERS, &plan->orders);
      } else if (strcmp (a, "--job-ms") == 0) {
         ok = int_arg (v, 0, 600000, &plan->job_ms);
      } else if (strcmp (a, "--lease-ms") == 0) {
         ok = int_arg (v, 100, 600000, &plan->lease_ms);
      } else if (strcmp (a, "--wait-ms") == 0) {
         ok = int_arg (v, 0, 600000, &plan->wait_ms);
      } else if (a[0] != '-' && !plan->target) {
         plan->target = a;
         continue;
      } else {
         ok = false;
      }
      if (!ok) {
         fprintf (stderr, "usage: %s %s [--workers N] [--orders N] [--job-ms N] [--lease-ms N] [--wait-ms N] [--no-lock]\n",
                  argv[0], usage);
         return false;
      }
      i++;
   }
   return true;
}

const char *
job_key (int order, char *buf, size_t size)
{
   snprintf (buf, size, "invoice:%d", order);
   return buf;
}

static void
note_max (atomic_int *max, int n)
{
   int seen = atomic_load (max);
   while (n > seen && !atomic_compare_exchange_weak (max, &seen, n)) {
   }
}

bool
job_create_invoice_if_missing (int order)
{
   char path[128];
   snprintf (path, sizeof path, "%s/invoice-%d.txt", dir, order);
   note_max (&shared->max_inside[order], atomic_fetch_add (&shared->inside[order], 1) + 1);
   bool ok = true;
   if (access (path, F_OK) != 0) {   /* missing: create it */
      job_sleep_ms (job_ms);          /* rendering the invoice takes a while */
      FILE *f = fopen (path, "w");
      ok = f && fprintf (f, "invoice for order %d, written by worker %d\n", order, worker_id) > 0;
      ok = f && fclose (f) == 0 && ok;
      atomic_fetch_add (&shared->created[order], 1);
   }
   atomic_fetch_sub (&shared->inside[order], 1);
   return ok;
}

static int
child (const job_plan_t *plan, job_worker_fn worker, int go_fd)
{
   char byte;
   while (read (go_fd, &byte, 1) < 0 && errno == EINTR) { /* the starting gun: EOF */
   }
   close (go_fd);
   if (!plan->no_lock) {
      return worker (worker_id, plan);
   }
   for (int order = 1; order <= plan->orders; order++) {
      if (!job_create_invoice_if_missing (order)) {
         return 3;
      }
   }
   return 0;
}

static void
remove_dir (int orders)
{
   for (int order = 1; order <= orders; order++) {
      char path[128];
      snprintf (path, sizeof path, "%s/invoice-%d.txt", dir, order);
      unlink (path);
   }
   rmdir (dir);
}

int
job_race (const char *name, const job_plan_t *plan, job_worker_fn worker)
{
   shared = mmap (NULL, sizeof *shared, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
   snprintf (dir, sizeof dir, "/tmp/invoices-XXXXXX");
   int go[2];
   if (shared == MAP_FAILED || !mkdtemp (dir) || pipe (go) != 0) {
      perror (name);
      return 3;
   }
   job_ms = plan->job_ms;
   fflush (NULL);
   pid_t pids[64];
   int started = 0;
   for (; started < plan->workers; started++) {
      worker_id = started + 1;
      pids[started] = fork ();
      if (pids[started] < 0) {
         perror ("fork");
         break;
      }
      if (pids[started] == 0) {
         close (go[1]);
         int rc = child (plan, worker, go[0]);
         fflush (NULL);
         _exit (rc);
      }
   }
   worker_id = 0;
   close (go[0]);
   int64_t t0 = job_now_ms ();
   close (go[1]); /* go */
   int failed_workers = started < plan->workers ? 1 : 0;
   for (int i = 0; i < started; i++) {
      int status;
      while (waitpid (pids[i], &status, 0) < 0 && errno == EINTR) {
      }
      if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
         fprintf (stderr, "%s: worker %d failed (%s %d)\n", name, i + 1,
                  WIFEXITED (status) ? "exit" : "signal", WIFEXITED (status) ? WEXITSTATUS (status) : WTERMSIG (status));
         failed_workers++;
      }
   }
   int64_t elapsed = job_now_ms () - t0;
   int twice = 0, missing = 0, created = 0;
   for (int order = 1; order <= plan->orders; order++) {
      int c = atomic_load (&shared->created[order]), m = atomic_load (&shared->max_inside[order]);
      created += c;
      twice += c > 1 || m > 1;
      missing += c == 0;
      if (c != 1 || m != 1) {
         printf ("%s: order %d: %d invoice(s) created, up to %d workers in the job at once\n", name, order, c, m);
      }
   }
   printf ("%s: %d workers x %d orders%s: %d invoices created in %" PRId64 " ms; %s\n", name, plan->workers,
           plan->orders, plan->no_lock ? " WITHOUT a lock" : "", created, elapsed,
           twice ? "the job RAN TWICE for some orders" : "each order's job ran once, never concurrently");
   remove_dir (plan->orders);
   munmap (shared, sizeof *shared);
   return twice ? 1 : (failed_workers || missing) ? 3 : 0;
}
