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
 *                    [--lease-ms 30000] [--wait-ms 10000] [--backoff BASE,CAP]...
 *
 * Hand-off: for each acquisition whose previous holder was another process, the time from
 * the middle of that holder's release call (about when the server ran it) to the
 * acquire's return, also in RTTs of a ping measured before the run. wait cmds/s: per
 * process, the commands it sent beyond one findAndModify per acquisition and one release
 * (i.e. failed attempts, change-stream getMores) per second spent inside acquire, mean
 * over the processes. to another %: acquisitions whose previous holder was another process.
 *
 * --think-us sleeps between a release and the next acquire (default 0: a tight loop, where
 * the releasing process competes at once). URI defaults to MONGOLOCK_URI. --backoff may be repeated to compare settings; each
 * setting prints one Markdown table. Exits 1 on an overlap, a token out of order or a
 * process that crashed, 2 on bad usage.
 */
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

/* One acquisition: its wait and how many findAndModify attempts it took. */
typedef struct {
   int64_t wait_us;
   int64_t attempts;
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
   int64_t wait_us; /* sum of time inside acquire calls */
   long samples;    /* wait samples stored, <= capacity */
   bool connected;
   char first_error[BSON_ERROR_BUFFER_SIZE + 16];
} proc_stats_t;

/* Shared by the parent and the processes of one run (MAP_SHARED); the samples (capacity
 * per process) follow it. */
typedef struct {
   pthread_barrier_t start; /* the processes and the parent */
   _Atomic long holder;     /* index + 1 of the process inside the critical section, 0 when none */
   _Atomic int64_t last_token;
   _Atomic long overlaps;
   _Atomic long token_violations;
   _Atomic long seq; /* acquisitions so far, in holding order */
   long hcap;        /* capacity of handoff[] */
   proc_stats_t proc[MAX_PROCS];
} shared_t;

/* One acquisition in holding order (index = seq), for the hand-off to another process. */
typedef struct {
   int proc;
   int64_t acquired_us, release_start_us, release_end_us;
} handoff_t;

static double rtt_us = 0; /* median ping RTT, measured by the parent before the runs */

typedef struct {
   int procs;
   double seconds;
   long acquisitions, in_window, timeouts, errors, crashed, dropped_samples;
   long min_acq, max_acq, contended;
   long commands[CMD_KINDS];
   long overlaps, token_violations;
   double p50_ms, p99_ms, max_ms, contended_p50_ms, contended_p99_ms, held_pct, mean_held_ms;
   double handoff_p50_ms, handoff_p99_ms, wait_cmds_per_s;
   long handoffs;
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
static long
critical_section (shared_t *s, long me, int64_t token, int hold_us)
{
   long prev = atomic_exchange (&s->holder, me);
   long seq = atomic_fetch_add (&s->seq, 1);
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
   return seq;
}

typedef struct {
   mongoc_uri_t *uri;
   mongoc_client_pool_t *pool;
   mongoc_apm_callbacks_t *cbs;
   mongolock_client_t *client;
   mongolock_lock_t *lock;
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
   if (ok) {
      c->lock = mongolock_lock_new (c->client, key, lo, error);
   }
   mongolock_lock_opts_destroy (lo);
   if (!c->lock) {
      return false;
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
   mongolock_lock_destroy (c->lock);
   mongolock_client_destroy (c->client);
   mongoc_client_pool_destroy (c->pool);
   mongoc_apm_callbacks_destroy (c->cbs);
   mongoc_uri_destroy (c->uri);
}

static void
proc_loop (const config_t *cfg, mongolock_lock_t *lock, shared_t *s, int me, sample_t *samples, long capacity,
           handoff_t *handoff)
{
   proc_stats_t *st = &s->proc[me];
   bson_error_t error;
   int64_t end = now_us () + (int64_t) cfg->seconds * 1000000;
   int consecutive = 0;
   while (now_us () < end && consecutive < MAX_CONSECUTIVE_ERRORS) {
      long attempts0 = commands[CMD_FIND_AND_MODIFY];
      int64_t t0 = now_us ();
      bool got = mongolock_lock_acquire (lock, &error);
      st->wait_us += now_us () - t0;
      if (!got) {
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
      if (st->samples < capacity) {
         samples[st->samples++] = (sample_t){t1 - t0, commands[CMD_FIND_AND_MODIFY] - attempts0};
      }
      long seq = critical_section (s, me + 1, mongolock_lock_token (lock), cfg->hold_us);
      int64_t tr = now_us ();
      if (!mongolock_lock_release (lock, &error)) {
         st->errors++;
         note_error (st, "release", &error);
      }
      int64_t t2 = now_us ();
      if (seq < s->hcap) {
         handoff[seq] = (handoff_t){me, t1, tr, t2};
      }
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
proc_main (const config_t *cfg, const backoff_t *bo, const char *key, shared_t *s, int me, sample_t *samples, long capacity,
           handoff_t *handoff)
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
      proc_loop (cfg, conn.lock, s, me, samples, capacity, handoff);
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

static int
cmp_i64 (const void *a, const void *b)
{
   int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
   return (x > y) - (x < y);
}

/* Hand-off to another process (percentiles) and commands per second of waiting. */
static void
summarize_handoff (shared_t *s, const handoff_t *h, result_t *r)
{
   long n = atomic_load (&s->seq);
   n = n < s->hcap ? n : s->hcap;
   int64_t *d = malloc (sizeof *d * (size_t) (n > 0 ? n : 1));
   long k = 0;
   for (long i = 1; i < n; i++) {
      if (h[i].proc != h[i - 1].proc && h[i - 1].release_end_us > 0 && h[i].acquired_us > 0) {
         int64_t mid = (h[i - 1].release_start_us + h[i - 1].release_end_us) / 2;
         d[k++] = h[i].acquired_us - mid;
      }
   }
   qsort (d, (size_t) k, sizeof *d, cmp_i64);
   r->handoffs = k;
   r->handoff_p50_ms = k ? (double) d[(k * 50 + 99) / 100 - 1] / 1000.0 : 0;
   r->handoff_p99_ms = k ? (double) d[(k * 99 + 99) / 100 - 1] / 1000.0 : 0;
   free (d);
   double sum = 0;
   int np = 0;
   for (int p = 0; p < r->procs; p++) {
      const proc_stats_t *st = &s->proc[p];
      long total = st->commands[CMD_FIND_AND_MODIFY] + st->commands[CMD_UPDATE] + st->commands[CMD_OTHER];
      long extra = total - 2 * st->acquisitions;
      if (st->wait_us > 0) {
         sum += (double) (extra > 0 ? extra : 0) / ((double) st->wait_us / 1e6);
         np++;
      }
   }
   r->wait_cmds_per_s = np ? sum / np : 0;
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
   long hcap = (long) cfg->seconds * SAMPLES_PER_SECOND + 1000;
   size_t size = sizeof (shared_t) + sizeof (sample_t) * (size_t) capacity * (size_t) procs +
                 sizeof (handoff_t) * (size_t) hcap;
   shared_t *s = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
   if (s == MAP_FAILED) {
      perror ("bench-contention: mmap");
      return false;
   }
   sample_t *samples = (sample_t *) (s + 1);
   handoff_t *handoff = (handoff_t *) (samples + (size_t) capacity * (size_t) procs);
   memset (s, 0, sizeof *s);
   s->hcap = hcap;
   pthread_barrierattr_t attr;
   pthread_barrierattr_init (&attr);
   pthread_barrierattr_setpshared (&attr, PTHREAD_PROCESS_SHARED);
   pthread_barrier_init (&s->start, &attr, (unsigned) procs + 1);
   pthread_barrierattr_destroy (&attr);

   char key[96];
   snprintf (key, sizeof key, "contention/b%" PRId64 "-c%" PRId64 "/p%d", bo->base_ms, bo->cap_ms, procs);
   pid_t pids[MAX_PROCS];
   fflush (stdout);
   fflush (stderr);
   for (int p = 0; p < procs; p++) {
      pids[p] = fork ();
      if (pids[p] == 0) {
         _exit (proc_main (cfg, bo, key, s, p, samples + (long) p * capacity, capacity, handoff));
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
   summarize_handoff (s, handoff, r);
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
           "| overlaps | token errors | timeouts | errors | hand-off p50 ms (RTTs) | hand-off p99 ms (RTTs) "
           "| wait cmds/s per proc | to another %% |\n");
   printf ("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
}

static void
print_row (const result_t *r)
{
   long total = r->commands[CMD_FIND_AND_MODIFY] + r->commands[CMD_UPDATE] + r->commands[CMD_OTHER];
   double acq = r->acquisitions > 0 ? (double) r->acquisitions : 1.0;
   printf ("| %d | %.0f | %.2f | %.2f | %.1f | %.1f | %.2f | %.1f | %.2f | %.2f | %.2f | %ld/%ld (%.2f) | %.0f "
           "| %ld | %ld | %ld | %ld | %.2f (%.1f) | %.2f (%.1f) | %.1f | %.0f |\n",
           r->procs, (double) r->in_window / r->seconds, r->p50_ms, r->p99_ms, r->max_ms,
           100.0 * (double) r->contended / acq, r->contended_p50_ms, r->contended_p99_ms, r->mean_held_ms,
           (double) total / acq, (double) r->commands[CMD_FIND_AND_MODIFY] / acq, r->min_acq, r->max_acq,
           r->max_acq > 0 ? (double) r->min_acq / (double) r->max_acq : 0.0, r->held_pct, r->overlaps,
           r->token_violations, r->timeouts, r->errors + r->crashed, r->handoff_p50_ms,
           rtt_us > 0 ? r->handoff_p50_ms * 1000.0 / rtt_us : 0, r->handoff_p99_ms,
           rtt_us > 0 ? r->handoff_p99_ms * 1000.0 / rtt_us : 0, r->wait_cmds_per_s,
           100.0 * (double) r->handoffs / acq);
   if (r->dropped_samples > 0) {
      printf ("\n(%ld wait samples over the per-process capacity were not kept)\n\n", r->dropped_samples);
   }
   fflush (stdout);
}

/* Median of 200 ping round trips (after a warm-up), in microseconds; 0 on failure. */
static double
measure_rtt (const config_t *cfg)
{
   mongoc_client_t *c = mongoc_client_new (cfg->uri);
   if (!c) {
      return 0;
   }
   bson_t *ping = BCON_NEW ("ping", BCON_INT32 (1));
   int64_t d[200];
   int n = 0;
   for (int i = 0; i < 220; i++) {
      int64_t t0 = now_us ();
      bool ok = mongoc_client_command_simple (c, "admin", ping, NULL, NULL, NULL);
      if (ok && i >= 20) {
         d[n++] = now_us () - t0;
      }
   }
   bson_destroy (ping);
   mongoc_client_destroy (c);
   qsort (d, (size_t) n, sizeof *d, cmp_i64);
   return n ? (double) d[n / 2] : 0;
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
            "          [--lease-ms %d] [--wait-ms %d] [--backoff BASE,CAP]...\n"
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
   rtt_us = measure_rtt (&cfg);
   print_config (&cfg);
   printf ("- ping RTT (median of 200): %.0f us\n", rtt_us);
   int rc = 0;
   for (int b = 0; b < cfg.nbackoff && rc != 2; b++) {
      print_table_header (&cfg.backoff[b]);
      for (int k = 0; k < cfg.nprocs; k++) {
         result_t r;
         if (!run_one (&cfg, &cfg.backoff[b], cfg.procs[k], &r)) {
            rc = 2;
            break;
         }
         print_row (&r);
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
