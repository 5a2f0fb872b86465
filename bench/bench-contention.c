/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-contention: P forked processes contend for one key.
 *
 * For each process count P, each process loops for the run's duration: acquire the shared
 * key with mongolock_lock_acquire (library backoff unless --backoff is given), hold it for
 * H microseconds, release. Each process records in shared memory its acquisitions, the
 * wait of every acquisition (from the acquire call to its return), the server commands it
 * sent (libmongoc APM command-started callbacks on its pool) and its timeouts and errors.
 * Every holder also checks mutual exclusion with an atomic holder word and that fencing
 * tokens increase; both violation counts must be 0.
 *
 *   bench-contention [URI] [--procs 1,2,4,8,16] [--seconds 5] [--hold-us 200] [--think-us 0]
 *                    [--lease-ms 30000] [--wait-ms 10000] [--backoff BASE,CAP]... [--distinct] [--kv]
 *
 * --minimal-poll-ms N runs the minimal hand-written libmongoc lock (minimal-lock.c) instead,
 * polling every N ms while busy (its commands are counted the same way).
 * --fair makes the mongolock handles fair (mongolock_lock_opts_set_fair: FIFO waiters).
 * --distinct gives each process its own key (scaling without contention); --kv prints one
 * "row key=value..." line per run for bench/run-bench.sh: acquisitions/s, hand-off to another
 * process (from the releaser's release call to the next holder's acquire return) p50/p99,
 * commands/s sent by each process beyond one acquire and one release per acquisition, wait
 * p99/max and Jain's fairness index of acquisitions per process.
 * --think-us sleeps between a release and the next acquire (default 0: a tight loop, where
 * the releasing process competes at once). URI defaults to MONGOLOCK_URI. --backoff may be repeated to compare settings; each
 * setting prints one Markdown table. Exits 1 on an overlap, a token out of order or a
 * process that crashed, 2 on bad usage.
 */
#include "minimal-lock.h"

#include <mongolock/mongolock.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 64
#define MAX_PROC_COUNTS 16
#define MAX_BACKOFFS 8
#define MAX_SECONDS 600
/* Wait samples kept per process and second: far above what two round trips per
 * acquisition allow; beyond it samples are dropped (and counted). */
#define SAMPLES_PER_SECOND 20000
#define MAX_SAMPLES_PER_PROC (2 * 1000 * 1000)
/* A process stops after this many consecutive failed acquires (server gone). */
#define MAX_CONSECUTIVE_ERRORS 3

typedef enum { CMD_FIND_AND_MODIFY, CMD_UPDATE, CMD_OTHER, CMD_KINDS } cmd_kind_t;

typedef struct {
   int64_t base_ms, cap_ms;
} backoff_t;

/* One acquisition: its wait, how many findAndModify attempts it took, and (one shared
 * key) how long after another process's release it came: -1 when the previous holder was
 * this process or there was none. */
typedef struct {
   int64_t wait_us;
   int64_t attempts;
   int64_t handoff_us;
} sample_t;

typedef struct {
   const char *uri;
   int procs[MAX_PROC_COUNTS];
   int nprocs;
   int seconds;
   int hold_us;
   int think_us;
   int64_t lease_ms;
   int64_t wait_ms;
   backoff_t backoff[MAX_BACKOFFS];
   int nbackoff;
   bool distinct; /* each process its own key: scaling, no contention */
   bool kv;       /* key=value lines for bench/run-bench.sh instead of tables */
   bool fair;     /* mongolock_lock_opts_set_fair: waiters queue FIFO on the server */
   int minimal_poll_ms; /* > 0: the minimal libmongoc lock (minimal-lock.c), polling this often */
   char db[64];
} config_t;

/* One process's results; written only by that process, read by the parent after waitpid. */
typedef struct {
   long acquisitions;
   long in_window; /* acquisitions that returned before the run's end */
   long timeouts;
   long errors; /* failed acquires other than timeouts, failed releases */
   long commands[CMD_KINDS];
   int64_t held_us; /* sum of acquire return .. release return, within the run */
   long samples;    /* wait samples stored, <= capacity */
   bool connected;
   char first_error[BSON_ERROR_BUFFER_SIZE + 16];
} proc_stats_t;

/* Shared by the parent and the processes of one run (MAP_SHARED); the samples (capacity
 * per process) follow it. */
typedef struct {
   pthread_barrier_t start; /* the processes and the parent */
   _Atomic long holder;     /* index + 1 of the process inside the critical section, 0 when none */
   _Atomic long releaser;   /* index + 1 of the process that released last, 0 before any */
   _Atomic int64_t released_us; /* when it had released (monotonic; every process shares the clock) */
   _Atomic int64_t last_token;
   _Atomic long overlaps;
   _Atomic long token_violations;
   proc_stats_t proc[MAX_PROCS];
} shared_t;

typedef struct {
   int procs;
   double seconds;
   long acquisitions, in_window, timeouts, errors, crashed, dropped_samples;
   long min_acq, max_acq, contended;
   long commands[CMD_KINDS];
   long overlaps, token_violations;
   double p50_ms, p99_ms, max_ms, contended_p50_ms, contended_p99_ms, held_pct, mean_held_ms;
   long handoffs;
   double handoff_p50_ms, handoff_p99_ms, jain;
} result_t;

static long commands[CMD_KINDS]; /* this process's, from the APM callback */

static void
on_command_started (const mongoc_apm_command_started_t *event)
{
   const char *name = mongoc_apm_command_started_get_command_name (event);
   commands[strcmp (name, "findAndModify") == 0 ? CMD_FIND_AND_MODIFY
            : strcmp (name, "update") == 0      ? CMD_UPDATE
                                                 : CMD_OTHER]++;
}

static int64_t
now_us (void)
{
   return bson_get_monotonic_time ();
}

static void
sleep_us (int64_t us)
{
   struct timespec ts = {(time_t) (us / 1000000), (long) (us % 1000000) * 1000};
   while (clock_nanosleep (CLOCK_MONOTONIC, 0, &ts, &ts) != 0) {
   }
}

static void
note_error (proc_stats_t *st, const char *what, const bson_error_t *error)
{
   if (!st->first_error[0]) {
      snprintf (st->first_error, sizeof st->first_error, "%s: %s", what, error->message);
   }
}

/* The critical section: claim the holder word, check the token order, hold, give the word
 * back. Any other holder inside at the same time shows up as an overlap. */
static void
critical_section (shared_t *s, long me, int64_t token, int hold_us)
{
   long prev = atomic_exchange (&s->holder, me);
   if (prev != 0) {
      atomic_fetch_add (&s->overlaps, 1);
   }
   if (token <= atomic_load (&s->last_token)) {
      atomic_fetch_add (&s->token_violations, 1);
   }
   atomic_store (&s->last_token, token);
   if (hold_us > 0) {
      sleep_us (hold_us);
   } else {
      sched_yield ();
   }
   long expected = me;
   if (!atomic_compare_exchange_strong (&s->holder, &expected, 0)) {
      atomic_fetch_add (&s->overlaps, 1);
   }
}

typedef struct {
   mongoc_uri_t *uri;
   mongoc_client_pool_t *pool;
   mongoc_apm_callbacks_t *cbs;
   mongolock_client_t *client;
   mongolock_lock_t *lock;
   mongoc_client_t *mc;       /* the minimal lock's */
   mongoc_collection_t *coll; /* the minimal lock's */
   const char *key;
} proc_conn_t;

static bool
proc_connect (const config_t *cfg, const backoff_t *bo, const char *key, proc_conn_t *c, bson_error_t *error)
{
   memset (c, 0, sizeof *c);
   c->uri = mongoc_uri_new_with_error (cfg->uri, error);
   if (!c->uri) {
      return false;
   }
   c->pool = mongoc_client_pool_new (c->uri);
   mongoc_client_pool_set_error_api (c->pool, MONGOC_ERROR_API_VERSION_2);
   c->cbs = mongoc_apm_callbacks_new ();
   mongoc_apm_set_command_started_cb (c->cbs, on_command_started);
   mongoc_client_pool_set_apm_callbacks (c->pool, c->cbs, NULL); /* before first use */
   mongolock_client_opts_t *copts = mongolock_client_opts_new ();
   mongolock_client_opts_set_database (copts, cfg->db, NULL);
   c->client = mongolock_client_new_from_pool (c->pool, copts, error);
   mongolock_client_opts_destroy (copts);
   if (!c->client) {
      return false;
   }
   mongolock_lock_opts_t *lo = mongolock_lock_opts_new ();
   bool ok = mongolock_lock_opts_set_lease_ms (lo, cfg->lease_ms, error) &&
             mongolock_lock_opts_set_wait_ms (lo, cfg->wait_ms, error) &&
             mongolock_lock_opts_set_backoff (lo, bo->base_ms, bo->cap_ms, error);
   mongolock_lock_opts_set_fair (lo, cfg->fair);
   if (ok) {
      c->lock = mongolock_lock_new (c->client, key, lo, error);
   }
   mongolock_lock_opts_destroy (lo);
   if (!c->lock) {
      return false;
   }
   c->key = key;
   if (cfg->minimal_poll_ms > 0) {
      c->mc = mongoc_client_pool_pop (c->pool);
      c->coll = mongoc_client_get_collection (c->mc, cfg->db, "minimal_locks");
      mongoc_write_concern_t *wc = mongoc_write_concern_new ();
      mongoc_write_concern_set_w (wc, MONGOC_WRITE_CONCERN_W_MAJORITY);
      mongoc_collection_set_write_concern (c->coll, wc);
      mongoc_write_concern_destroy (wc);
   }
   /* Opens the connection (the handshake is not a counted command). */
   char *holder = NULL;
   ok = mongolock_lock_get_holder (c->lock, &holder, NULL, error);
   bson_free (holder);
   return ok;
}

static void
proc_disconnect (proc_conn_t *c)
{
   if (c->coll) {
      mongoc_collection_destroy (c->coll);
      mongoc_client_pool_push (c->pool, c->mc);
   }
   mongolock_lock_destroy (c->lock);
   mongolock_client_destroy (c->client);
   mongoc_client_pool_destroy (c->pool);
   mongoc_apm_callbacks_destroy (c->cbs);
   mongoc_uri_destroy (c->uri);
}

/* The minimal lock's acquire: poll until held (true), the wait runs out or it fails. */
static bool
minimal_acquire (const config_t *cfg, const proc_conn_t *c, const char *owner, bson_error_t *error)
{
   int64_t deadline = now_us () + cfg->wait_ms * 1000;
   for (;;) {
      int got = minimal_lock_acquire (c->coll, c->key, owner, cfg->lease_ms, error);
      if (got != 0) {
         return got == 1;
      }
      if (now_us () >= deadline) {
         bson_set_error (error, MONGOLOCK_ERROR_DOMAIN, MONGOLOCK_ERROR_TIMEOUT, "busy");
         return false;
      }
      sleep_us ((int64_t) cfg->minimal_poll_ms * 1000);
   }
}

static void
proc_loop (const config_t *cfg, const proc_conn_t *c, shared_t *s, int me, sample_t *samples, long capacity)
{
   mongolock_lock_t *lock = c->lock;
   char owner[64];
   snprintf (owner, sizeof owner, "bench-%d-%ld", me, (long) getpid ());
   int64_t fake_token = 0; /* the minimal lock has no fencing token: order is not checked */
   proc_stats_t *st = &s->proc[me];
   bson_error_t error;
   int64_t end = now_us () + (int64_t) cfg->seconds * 1000000;
   int consecutive = 0;
   while (now_us () < end && consecutive < MAX_CONSECUTIVE_ERRORS) {
      long attempts0 = commands[CMD_FIND_AND_MODIFY];
      int64_t t0 = now_us ();
      if (!(c->coll ? minimal_acquire (cfg, c, owner, &error) : mongolock_lock_acquire (lock, &error))) {
         if (error.domain == MONGOLOCK_ERROR_DOMAIN && error.code == MONGOLOCK_ERROR_TIMEOUT) {
            st->timeouts++;
         } else {
            st->errors++;
            consecutive++;
            note_error (st, "acquire", &error);
         }
         continue;
      }
      consecutive = 0;
      int64_t t1 = now_us ();
      long prev = atomic_load (&s->releaser);
      int64_t handoff = !cfg->distinct && prev != 0 && prev != me + 1 ? t1 - atomic_load (&s->released_us) : -1;
      if (st->samples < capacity) {
         samples[st->samples++] = (sample_t){t1 - t0, commands[CMD_FIND_AND_MODIFY] - attempts0, handoff};
      }
      if (cfg->distinct) {
         if (cfg->hold_us > 0) {
            sleep_us (cfg->hold_us);
         }
      } else {
         fake_token = atomic_load (&s->last_token) + 1;
         critical_section (s, me + 1, c->coll ? fake_token : mongolock_lock_token (lock), cfg->hold_us);
         /* Recorded before the release is sent: the hand-off includes the release's trip. */
         atomic_store (&s->released_us, now_us ());
         atomic_store (&s->releaser, me + 1);
      }
      if (!(c->coll ? minimal_lock_release (c->coll, c->key, owner, &error) == 1 : mongolock_lock_release (lock, &error))) {
         st->errors++;
         note_error (st, "release", &error);
      }
      int64_t t2 = now_us ();
      st->acquisitions++;
      if (t1 < end) {
         st->in_window++;
         st->held_us += (t2 < end ? t2 : end) - t1;
      }
      if (cfg->think_us > 0) {
         sleep_us (cfg->think_us); /* work between critical sections: lets waiters in */
      }
   }
}

static int
proc_main (const config_t *cfg, const backoff_t *bo, const char *key, shared_t *s, int me, sample_t *samples, long capacity)
{
   /* Bounds the process in time even if the server hangs (default action: terminate). */
   alarm ((unsigned) (cfg->seconds + cfg->wait_ms / 1000 + 120));
   mongoc_init ();
   proc_stats_t *st = &s->proc[me];
   proc_conn_t conn;
   bson_error_t error;
   st->connected = proc_connect (cfg, bo, key, &conn, &error);
   if (!st->connected) {
      note_error (st, "connect", &error);
   }
   memset (commands, 0, sizeof commands);
   pthread_barrier_wait (&s->start); /* every process reaches it, connected or not */
   if (st->connected) {
      proc_loop (cfg, &conn, s, me, samples, capacity);
   }
   memcpy (st->commands, commands, sizeof commands);
   proc_disconnect (&conn);
   mongoc_cleanup ();
   return 0;
}

static int
cmp_wait (const void *a, const void *b)
{
   int64_t x = ((const sample_t *) a)->wait_us, y = ((const sample_t *) b)->wait_us;
   return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted values, in ms. */
static double
percentile_ms (const sample_t *sorted, long n, int pct)
{
   if (n == 0) {
      return 0;
   }
   long rank = (n * pct + 99) / 100;
   return (double) sorted[rank > 0 ? rank - 1 : 0].wait_us / 1000.0;
}

static void
summarize (shared_t *s, const sample_t *samples, long capacity, result_t *r)
{
   long nsamples = 0;
   int64_t held_us = 0;
   r->min_acq = -1;
   for (int p = 0; p < r->procs; p++) {
      const proc_stats_t *st = &s->proc[p];
      r->acquisitions += st->acquisitions;
      r->in_window += st->in_window;
      r->timeouts += st->timeouts;
      r->errors += st->errors + (st->connected ? 0 : 1);
      r->dropped_samples += st->acquisitions - st->samples;
      for (int k = 0; k < CMD_KINDS; k++) {
         r->commands[k] += st->commands[k];
      }
      held_us += st->held_us;
      nsamples += st->samples;
      r->min_acq = r->min_acq < 0 || st->in_window < r->min_acq ? st->in_window : r->min_acq;
      r->max_acq = st->in_window > r->max_acq ? st->in_window : r->max_acq;
      if (st->first_error[0]) {
         fprintf (stderr, "bench-contention: process %d: %s\n", p, st->first_error);
      }
   }
   sample_t *all = malloc (sizeof *all * (size_t) (nsamples > 0 ? nsamples : 1));
   sample_t *contended = malloc (sizeof *contended * (size_t) (nsamples > 0 ? nsamples : 1));
   long n = 0;
   for (int p = 0; p < r->procs; p++) {
      memcpy (all + n, samples + (long) p * capacity, sizeof *all * (size_t) s->proc[p].samples);
      n += s->proc[p].samples;
   }
   qsort (all, (size_t) n, sizeof *all, cmp_wait);
   for (long i = 0; i < n; i++) {
      if (all[i].attempts > 1) {
         contended[r->contended++] = all[i]; /* stays sorted */
      }
   }
   r->p50_ms = percentile_ms (all, n, 50);
   r->p99_ms = percentile_ms (all, n, 99);
   r->max_ms = n > 0 ? (double) all[n - 1].wait_us / 1000.0 : 0;
   r->contended_p50_ms = percentile_ms (contended, r->contended, 50);
   r->contended_p99_ms = percentile_ms (contended, r->contended, 99);
   /* Hand-offs, sorted by their own value (reusing the contended buffer). */
   for (long i = 0; i < n; i++) {
      if (all[i].handoff_us >= 0) {
         contended[r->handoffs++] = (sample_t){all[i].handoff_us, 0, 0};
      }
   }
   qsort (contended, (size_t) r->handoffs, sizeof *contended, cmp_wait);
   r->handoff_p50_ms = percentile_ms (contended, r->handoffs, 50);
   r->handoff_p99_ms = percentile_ms (contended, r->handoffs, 99);
   /* Jain's fairness index of the acquisitions per process: 1 when all got the same. */
   double sum = 0, sq = 0;
   for (int p = 0; p < r->procs; p++) {
      sum += (double) s->proc[p].in_window;
      sq += (double) s->proc[p].in_window * (double) s->proc[p].in_window;
   }
   r->jain = sq > 0 ? sum * sum / ((double) r->procs * sq) : 0;
   free (all);
   free (contended);
   r->overlaps = atomic_load (&s->overlaps);
   r->token_violations = atomic_load (&s->token_violations);
   r->held_pct = 100.0 * (double) held_us / (r->seconds * 1e6);
   r->mean_held_ms = r->in_window > 0 ? (double) held_us / (double) r->in_window / 1000.0 : 0;
}

/* One run: P processes on a fresh key. Returns false when the run could not be made. */
static bool
run_one (const config_t *cfg, const backoff_t *bo, int procs, result_t *r)
{
   long capacity = (long) cfg->seconds * SAMPLES_PER_SECOND + 1000;
   if (capacity > MAX_SAMPLES_PER_PROC) {
      capacity = MAX_SAMPLES_PER_PROC;
   }
   size_t size = sizeof (shared_t) + sizeof (sample_t) * (size_t) capacity * (size_t) procs;
   shared_t *s = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
   if (s == MAP_FAILED) {
      perror ("bench-contention: mmap");
      return false;
   }
   sample_t *samples = (sample_t *) (s + 1);
   memset (s, 0, sizeof *s);
   pthread_barrierattr_t attr;
   pthread_barrierattr_init (&attr);
   pthread_barrierattr_setpshared (&attr, PTHREAD_PROCESS_SHARED);
   pthread_barrier_init (&s->start, &attr, (unsigned) procs + 1);
   pthread_barrierattr_destroy (&attr);

   char key[96];
   snprintf (key, sizeof key, "contention/b%" PRId64 "-c%" PRId64 "/p%d%s", bo->base_ms, bo->cap_ms, procs,
             cfg->distinct ? "/" : "");
   pid_t pids[MAX_PROCS];
   fflush (stdout);
   fflush (stderr);
   for (int p = 0; p < procs; p++) {
      pids[p] = fork ();
      if (pids[p] == 0) {
         if (cfg->distinct) {
            size_t len = strlen (key);
            snprintf (key + len, sizeof key - len, "%d", p);
         }
         _exit (proc_main (cfg, bo, key, s, p, samples + (long) p * capacity, capacity));
      }
      if (pids[p] < 0) {
         perror ("bench-contention: fork");
         exit (2); /* the started processes would wait at the barrier until their alarm */
      }
   }
   pthread_barrier_wait (&s->start);
   memset (r, 0, sizeof *r);
   r->procs = procs;
   for (int p = 0; p < procs; p++) {
      int status;
      if (waitpid (pids[p], &status, 0) != pids[p] || !WIFEXITED (status) || WEXITSTATUS (status) != 0) {
         fprintf (stderr, "bench-contention: process %d (pid %ld) did not exit cleanly (status %d)\n", p,
                  (long) pids[p], status);
         r->crashed++;
      }
   }
   r->seconds = cfg->seconds; /* acq/s counts what was acquired within it */
   summarize (s, samples, capacity, r);
   pthread_barrier_destroy (&s->start);
   munmap (s, size);
   return true;
}

static void
print_table_header (const backoff_t *bo)
{
   printf ("\n### backoff base %" PRId64 " ms, cap %" PRId64 " ms\n\n", bo->base_ms, bo->cap_ms);
   printf ("| procs | acq/s | wait p50 ms | wait p99 ms | wait max ms | contended %% | contended p50 ms "
           "| contended p99 ms | hold+release ms | cmds/acq | fAM/acq | fairness min/max | lock held %% "
           "| overlaps | token errors | timeouts | errors |\n");
   printf ("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
}

/* One result as key=value lines (bench/run-bench.sh reads them). */
static void
print_kv (const config_t *cfg, const result_t *r)
{
   long fam = r->commands[CMD_FIND_AND_MODIFY];
   long total = fam + r->commands[CMD_UPDATE] + r->commands[CMD_OTHER];
   /* Commands beyond one acquire and one release per acquisition were sent while waiting. */
   double waiting_cmds = (double) (total - 2 * r->acquisitions);
   printf ("row procs=%d keys=%s acq_per_s=%.1f handoff_p50_ms=%.3f handoff_p99_ms=%.3f handoffs=%ld "
           "wait_cmds_per_proc_s=%.2f wait_p99_ms=%.2f wait_max_ms=%.2f jain=%.3f cmds_per_acq=%.2f "
           "overlaps=%ld token_errors=%ld timeouts=%ld errors=%ld\n",
           r->procs, cfg->distinct ? "distinct" : "one", (double) r->in_window / r->seconds, r->handoff_p50_ms,
           r->handoff_p99_ms, r->handoffs, (waiting_cmds > 0 ? waiting_cmds : 0) / r->procs / r->seconds, r->p99_ms,
           r->max_ms, r->jain, r->acquisitions > 0 ? (double) total / (double) r->acquisitions : 0, r->overlaps,
           r->token_violations, r->timeouts, r->errors + r->crashed);
   fflush (stdout);
}

static void
print_row (const result_t *r)
{
   long total = r->commands[CMD_FIND_AND_MODIFY] + r->commands[CMD_UPDATE] + r->commands[CMD_OTHER];
   double acq = r->acquisitions > 0 ? (double) r->acquisitions : 1.0;
   printf ("| %d | %.0f | %.2f | %.2f | %.1f | %.1f | %.2f | %.1f | %.2f | %.2f | %.2f | %ld/%ld (%.2f) | %.0f "
           "| %ld | %ld | %ld | %ld |\n",
           r->procs, (double) r->in_window / r->seconds, r->p50_ms, r->p99_ms, r->max_ms,
           100.0 * (double) r->contended / acq, r->contended_p50_ms, r->contended_p99_ms, r->mean_held_ms,
           (double) total / acq, (double) r->commands[CMD_FIND_AND_MODIFY] / acq, r->min_acq, r->max_acq,
           r->max_acq > 0 ? (double) r->min_acq / (double) r->max_acq : 0.0, r->held_pct, r->overlaps,
           r->token_violations, r->timeouts, r->errors + r->crashed);
   if (r->dropped_samples > 0) {
      printf ("\n(%ld wait samples over the per-process capacity were not kept)\n\n", r->dropped_samples);
   }
   fflush (stdout);
}

static void
print_config (const config_t *cfg)
{
   mongoc_uri_t *uri = mongoc_uri_new (cfg->uri);
   printf ("mongolock bench-contention: P forked processes, one shared key; each loops acquire -> hold -> release\n\n");
   printf ("- server: ");
   for (const mongoc_host_list_t *h = uri ? mongoc_uri_get_hosts (uri) : NULL; h; h = h->next) {
      printf ("%s%s", h->host_and_port, h->next ? "," : "");
   }
   printf (" (database %s, dropped at the end; write concern: library default)\n", cfg->db);
   printf ("- per process count: %d s; hold %d us (sleep); think %d us (sleep after release); lease %" PRId64
           " ms; wait %" PRId64 " ms\n",
           cfg->seconds, cfg->hold_us, cfg->think_us, cfg->lease_ms, cfg->wait_ms);
   printf ("- backoff: full jitter, attempt n sleeps U[0, min(cap, base*2^n)] ms; library default base %d, cap %d\n",
           MONGOLOCK_DEFAULT_BACKOFF_BASE_MS, MONGOLOCK_DEFAULT_BACKOFF_CAP_MS);
   printf ("- machine: %ld online CPUs\n", sysconf (_SC_NPROCESSORS_ONLN));
   printf ("- wait: acquire call to return. contended: acquisitions that took more than one attempt (these\n"
           "  slept in backoff), with their own wait percentiles. hold+release: acquire return to release\n"
           "  return, mean. cmds/acq: all commands sent (APM) per acquisition, release included; fAM/acq:\n"
           "  findAndModify attempts per acquisition. fairness: fewest/most acquisitions of one process (ratio).\n"
           "  lock held %%: hold+release time summed over wall time. overlaps and token errors must be 0.\n");
   mongoc_uri_destroy (uri);
}

static void
drop_database (const config_t *cfg)
{
   mongoc_client_t *c = mongoc_client_new (cfg->uri);
   if (!c) {
      return;
   }
   mongoc_client_set_error_api (c, MONGOC_ERROR_API_VERSION_2);
   mongoc_database_t *db = mongoc_client_get_database (c, cfg->db);
   bson_error_t error;
   if (!mongoc_database_drop (db, &error)) {
      fprintf (stderr, "bench-contention: dropping %s: %s\n", cfg->db, error.message);
   }
   mongoc_database_destroy (db);
   mongoc_client_destroy (c);
}

static bool
int_arg (const char *s, long lo, long hi, long *out)
{
   char *end;
   long v = s ? strtol (s, &end, 10) : 0;
   if (!s || *s == '\0' || *end != '\0' || v < lo || v > hi) {
      return false;
   }
   *out = v;
   return true;
}

/* "1,2,4" into out[]; false on anything else. */
static bool
list_arg (const char *s, long lo, long hi, long *out, int max, int *n)
{
   *n = 0;
   if (!s) {
      return false;
   }
   for (const char *p = s;;) {
      char *end;
      long v = strtol (p, &end, 10);
      if (end == p || v < lo || v > hi || *n == max || (*end != ',' && *end != '\0')) {
         return false;
      }
      out[(*n)++] = v;
      if (*end == '\0') {
         return true;
      }
      p = end + 1;
   }
}

static int
usage (const char *argv0)
{
   fprintf (stderr,
            "usage: %s [URI] [--procs 1,2,4,8,16] [--seconds 5] [--hold-us 200] [--think-us 0]\n"
            "          [--lease-ms %d] [--wait-ms %d] [--backoff BASE,CAP]... [--distinct] [--kv]\n"
            "          [--minimal-poll-ms N] [--fair]\n"
            "URI defaults to MONGOLOCK_URI. Procs 1..%d; --backoff may be repeated (up to %d).\n",
            argv0, MONGOLOCK_DEFAULT_LEASE_MS, MONGOLOCK_DEFAULT_WAIT_MS, MAX_PROCS, MAX_BACKOFFS);
   return 2;
}

static bool
parse_args (int argc, char **argv, config_t *cfg)
{
   long v, list[MAX_PROC_COUNTS];
   for (int i = 1; i < argc; i++) {
      const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
      bool ok = true;
      if (strcmp (a, "--procs") == 0) {
         ok = list_arg (val, 1, MAX_PROCS, list, MAX_PROC_COUNTS, &cfg->nprocs);
         for (int k = 0; ok && k < cfg->nprocs; k++) {
            cfg->procs[k] = (int) list[k];
         }
      } else if (strcmp (a, "--seconds") == 0) {
         ok = int_arg (val, 1, MAX_SECONDS, &v);
         cfg->seconds = (int) v;
      } else if (strcmp (a, "--hold-us") == 0) {
         ok = int_arg (val, 0, 10 * 1000 * 1000, &v);
         cfg->hold_us = (int) v;
      } else if (strcmp (a, "--think-us") == 0) {
         ok = int_arg (val, 0, 10 * 1000 * 1000, &v);
         cfg->think_us = (int) v;
      } else if (strcmp (a, "--lease-ms") == 0) {
         ok = int_arg (val, MONGOLOCK_LEASE_MIN_MS, MONGOLOCK_LEASE_MAX_MS, &v);
         cfg->lease_ms = v;
      } else if (strcmp (a, "--wait-ms") == 0) {
         ok = int_arg (val, 0, MONGOLOCK_WAIT_MAX_MS, &v);
         cfg->wait_ms = v;
      } else if (strcmp (a, "--minimal-poll-ms") == 0) {
         ok = int_arg (val, 1, 10000, &v);
         cfg->minimal_poll_ms = (int) v;
      } else if (strcmp (a, "--fair") == 0) {
         cfg->fair = true;
         continue;
      } else if (strcmp (a, "--distinct") == 0 || strcmp (a, "--kv") == 0) {
         *(a[2] == 'd' ? &cfg->distinct : &cfg->kv) = true;
         continue;
      } else if (strcmp (a, "--backoff") == 0) {
         int n;
         ok = cfg->nbackoff < MAX_BACKOFFS && list_arg (val, 1, MONGOLOCK_BACKOFF_MAX_MS, list, 2, &n) && n == 2 &&
              list[0] <= list[1];
         if (ok) {
            cfg->backoff[cfg->nbackoff++] = (backoff_t){list[0], list[1]};
         }
      } else if (a[0] != '-' && !cfg->uri) {
         cfg->uri = a;
         continue;
      } else {
         return false;
      }
      if (!ok) {
         return false;
      }
      i++;
   }
   return true;
}

int
main (int argc, char **argv)
{
   config_t cfg = {.procs = {1, 2, 4, 8, 16},
                   .nprocs = 5,
                   .seconds = 5,
                   .hold_us = 200,
                   .lease_ms = MONGOLOCK_DEFAULT_LEASE_MS,
                   .wait_ms = MONGOLOCK_DEFAULT_WAIT_MS};
   if (!parse_args (argc, argv, &cfg)) {
      return usage (argv[0]);
   }
   if (!cfg.uri) {
      cfg.uri = getenv ("MONGOLOCK_URI");
   }
   if (!cfg.uri || !*cfg.uri) {
      fprintf (stderr, "bench-contention: give a URI or set MONGOLOCK_URI\n");
      return usage (argv[0]);
   }
   if (cfg.nbackoff == 0) {
      cfg.backoff[cfg.nbackoff++] = (backoff_t){MONGOLOCK_DEFAULT_BACKOFF_BASE_MS, MONGOLOCK_DEFAULT_BACKOFF_CAP_MS};
   }
   snprintf (cfg.db, sizeof cfg.db, "mongolock_bench_contention_%ld", (long) getpid ());
   mongoc_init ();
   if (!cfg.kv) {
      print_config (&cfg);
   }
   int rc = 0;
   for (int b = 0; b < cfg.nbackoff && rc != 2; b++) {
      if (!cfg.kv) {
         print_table_header (&cfg.backoff[b]);
      }
      for (int k = 0; k < cfg.nprocs; k++) {
         result_t r;
         if (!run_one (&cfg, &cfg.backoff[b], cfg.procs[k], &r)) {
            rc = 2;
            break;
         }
         if (cfg.kv) {
            print_kv (&cfg, &r);
         } else {
            print_row (&r);
         }
         if (r.overlaps || r.token_violations || r.crashed) {
            rc = 1;
         }
         if (r.acquisitions == 0 && r.errors > 0) {
            fprintf (stderr, "bench-contention: no acquisition succeeded; stopping\n");
            rc = 2;
            break;
         }
      }
   }
   drop_database (&cfg);
   mongoc_cleanup ();
   return rc;
}
