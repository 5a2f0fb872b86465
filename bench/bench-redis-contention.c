/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-redis-contention: the Redis peer of bench-contention --kv. P forked processes loop
 * on one key (or, --distinct, one key each): SET key token NX PX, polling every POLL ms
 * while busy (10 ms like redis-semaphore, 50 ms like Parse's CreateLock), hold, release
 * with a Lua compare-and-DEL. Prints the same "row key=value..." line per process count.
 *
 *   bench-redis-contention HOST:PORT [--procs 2,8,32] [--seconds 5] [--hold-us 1000]
 *                          [--poll-ms 10] [--distinct]
 */
#include "measure.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 64
#define MAX_SAMPLES 200000
#define RELEASE_LUA                                                                \
   "if redis.call('get', KEYS[1]) == ARGV[1] then "                               \
   "return redis.call('del', KEYS[1]) else return 0 end"

typedef struct {
   long acquisitions, commands, errors;
   long samples;
} proc_t;

typedef struct {
   _Atomic long releaser;
   _Atomic int64_t released_us;
   _Atomic long holder;
   _Atomic long overlaps;
   proc_t proc[MAX_PROCS];
} shared_t;

typedef struct {
   int64_t wait_us, handoff_us;
} sample_t;

static void
sleep_us (int64_t us)
{
   struct timespec ts = {(time_t) (us / 1000000), (long) (us % 1000000) * 1000};
   while (clock_nanosleep (CLOCK_MONOTONIC, 0, &ts, &ts) != 0) {
   }
}

static int
proc_main (const char *host, int port, const char *key, int me, bool distinct, int seconds, int hold_us,
           int poll_ms, shared_t *s, sample_t *samples)
{
   alarm ((unsigned) seconds + 60);
   struct timeval tv = {5, 0};
   redisContext *c = redisConnectWithTimeout (host, port, tv);
   proc_t *st = &s->proc[me];
   if (!c || c->err) {
      st->errors++;
      return 1;
   }
   char token[32];
   snprintf (token, sizeof token, "p%d-%ld", me, (long) getpid ());
   int64_t end = measure_now_us () + (int64_t) seconds * 1000000;
   while (measure_now_us () < end) {
      int64_t t0 = measure_now_us ();
      bool got = false;
      while (!got && measure_now_us () < end + 2000000) {
         redisReply *r = redisCommand (c, "SET %s %s NX PX 30000", key, token);
         st->commands++;
         if (!r) {
            st->errors++;
            redisFree (c);
            return 1;
         }
         got = r->type == REDIS_REPLY_STATUS;
         freeReplyObject (r);
         if (!got) {
            sleep_us ((int64_t) poll_ms * 1000);
         }
      }
      if (!got) {
         break;
      }
      int64_t t1 = measure_now_us ();
      long prev = atomic_load (&s->releaser);
      int64_t handoff = !distinct && prev != 0 && prev != me + 1 ? t1 - atomic_load (&s->released_us) : -1;
      if (st->samples < MAX_SAMPLES) {
         samples[st->samples++] = (sample_t){t1 - t0, handoff};
      }
      if (!distinct && atomic_exchange (&s->holder, me + 1) != 0) {
         atomic_fetch_add (&s->overlaps, 1);
      }
      sleep_us (hold_us);
      if (!distinct) {
         atomic_store (&s->holder, 0);
         atomic_store (&s->released_us, measure_now_us ());
         atomic_store (&s->releaser, me + 1);
      }
      redisReply *r = redisCommand (c, "EVAL %s 1 %s %s", RELEASE_LUA, key, token);
      st->commands++;
      if (!r || r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
         st->errors++;
      }
      freeReplyObject (r);
      if (t1 < end) {
         st->acquisitions++;
      }
   }
   redisFree (c);
   return 0;
}

static void
run (const char *host, int port, int procs, bool distinct, int seconds, int hold_us, int poll_ms)
{
   size_t size = sizeof (shared_t) + sizeof (sample_t) * MAX_SAMPLES * (size_t) procs;
   shared_t *s = mmap (NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
   if (s == MAP_FAILED) {
      perror ("mmap");
      exit (2);
   }
   sample_t *samples = (sample_t *) (s + 1);
   pid_t pids[MAX_PROCS];
   char key[64];
   fflush (stdout);
   for (int p = 0; p < procs; p++) {
      snprintf (key, sizeof key, "bench-contention/%d%s%d", procs, distinct ? "/" : "", distinct ? p : 0);
      pids[p] = fork ();
      if (pids[p] == 0) {
         _exit (proc_main (host, port, key, p, distinct, seconds, hold_us, poll_ms, s,
                           samples + (size_t) p * MAX_SAMPLES));
      }
   }
   long crashed = 0;
   for (int p = 0; p < procs; p++) {
      int status;
      if (waitpid (pids[p], &status, 0) != pids[p] || !WIFEXITED (status) || WEXITSTATUS (status) != 0) {
         crashed++;
      }
   }
   long acq = 0, cmds = 0, errors = crashed, n = 0, nh = 0;
   double sum = 0, sq = 0;
   for (int p = 0; p < procs; p++) {
      acq += s->proc[p].acquisitions;
      cmds += s->proc[p].commands;
      errors += s->proc[p].errors;
      n += s->proc[p].samples;
      sum += (double) s->proc[p].acquisitions;
      sq += (double) s->proc[p].acquisitions * (double) s->proc[p].acquisitions;
   }
   int64_t *waits = malloc (sizeof *waits * (size_t) (n + 1)), *handoffs = malloc (sizeof *handoffs * (size_t) (n + 1));
   long k = 0;
   for (int p = 0; p < procs; p++) {
      for (long i = 0; i < s->proc[p].samples; i++) {
         sample_t x = samples[(size_t) p * MAX_SAMPLES + (size_t) i];
         waits[k++] = x.wait_us;
         if (x.handoff_us >= 0) {
            handoffs[nh++] = x.handoff_us;
         }
      }
   }
   long all_acq = n; /* acquisitions, including those that ended after the window */
   double waiting = (double) (cmds - 2 * all_acq);
   printf ("row procs=%d keys=%s acq_per_s=%.1f handoff_p50_ms=%.3f handoff_p99_ms=%.3f handoffs=%ld "
           "wait_cmds_per_proc_s=%.2f wait_p99_ms=%.2f wait_max_ms=%.2f jain=%.3f cmds_per_acq=%.2f "
           "overlaps=%ld token_errors=0 timeouts=0 errors=%ld\n",
           procs, distinct ? "distinct" : "one", (double) acq / seconds, measure_percentile (handoffs, nh, 50) / 1e3,
           measure_percentile (handoffs, nh, 99) / 1e3, nh, (waiting > 0 ? waiting : 0) / procs / seconds,
           measure_percentile (waits, n, 99) / 1e3, measure_percentile (waits, n, 100) / 1e3,
           sq > 0 ? sum * sum / (procs * sq) : 0, all_acq > 0 ? (double) cmds / (double) all_acq : 0,
           atomic_load (&s->overlaps), errors);
   fflush (stdout);
   free (waits);
   free (handoffs);
   munmap (s, size);
}

int
main (int argc, char **argv)
{
   const char *addr = getenv ("REDIS_ADDR");
   int procs[16] = {2, 8, 32}, nprocs = 3, seconds = 5, hold_us = 1000, poll_ms = 10;
   bool distinct = false;
   for (int i = 1; i < argc; i++) {
      const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
      if (strcmp (a, "--distinct") == 0) {
         distinct = true;
      } else if (v && strcmp (a, "--procs") == 0) {
         nprocs = 0;
         for (char *p = argv[++i]; *p && nprocs < 16;) {
            procs[nprocs++] = (int) strtol (p, &p, 10);
            p += *p == ',';
         }
      } else if (v && strcmp (a, "--seconds") == 0) {
         seconds = atoi (argv[++i]);
      } else if (v && strcmp (a, "--hold-us") == 0) {
         hold_us = atoi (argv[++i]);
      } else if (v && strcmp (a, "--poll-ms") == 0) {
         poll_ms = atoi (argv[++i]);
      } else if (strchr (a, ':')) {
         addr = a;
      } else {
         addr = NULL;
         break;
      }
   }
   const char *colon = addr ? strrchr (addr, ':') : NULL;
   if (!colon || seconds <= 0 || poll_ms < 0 || hold_us < 0) {
      fprintf (stderr, "usage: %s HOST:PORT [--procs 2,8,32] [--seconds 5] [--hold-us 1000] [--poll-ms 10] [--distinct]\n",
               argv[0]);
      return 2;
   }
   char host[256];
   snprintf (host, sizeof host, "%.*s", (int) (colon - addr), addr);
   for (int k = 0; k < nprocs; k++) {
      if (procs[k] < 1 || procs[k] > MAX_PROCS) {
         fprintf (stderr, "procs must be 1..%d\n", MAX_PROCS);
         return 2;
      }
      run (host, atoi (colon + 1), procs[k], distinct, seconds, hold_us, poll_ms);
   }
   return 0;
}
