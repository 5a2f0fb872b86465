/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-redis-lock: the Redis peer of bench-acquire, for docs/from-redis.md. Cost of an
 * uncontended acquire + release cycle of the usual single-instance Redis lock:
 * SET key token NX PX lease, then a Lua compare-and-DEL (EVALSHA of a loaded script).
 * Prints the same table as bench-acquire. Built only when hiredis is found.
 *
 *   bench-redis-lock [HOST:PORT] [cycles] [--kv]    (HOST:PORT defaults to REDIS_ADDR; the
 *   arguments in any order; --kv: key=value lines, with bytes on the wire and heap
 *   allocations per cycle, for bench/run-bench.sh)
 *   bench/compare-redis.sh runs both benchmarks against throwaway servers.
 */
#include "measure.h"

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define RELEASE_LUA                                                                \
   "if redis.call('get', KEYS[1]) == ARGV[1] then "                               \
   "return redis.call('del', KEYS[1]) else return 0 end"

static int64_t
now_us (void)
{
   struct timespec ts;
   clock_gettime (CLOCK_MONOTONIC, &ts);
   return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double
cpu_us (void)
{
   struct rusage ru;
   getrusage (RUSAGE_SELF, &ru);
   return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int
cmp64 (const void *a, const void *b)
{
   int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
   return (x > y) - (x < y);
}

/* One cycle: 0 when both commands did what they should. */
static int
cycle (redisContext *c, const char *sha, int i)
{
   char token[32];
   snprintf (token, sizeof token, "bench-%d", i);
   redisReply *r = redisCommand (c, "SET bench-lock %s NX PX 30000", token);
   int bad = !r || r->type != REDIS_REPLY_STATUS;
   freeReplyObject (r);
   r = bad ? NULL : redisCommand (c, "EVALSHA %s 1 bench-lock %s", sha, token);
   bad = bad || !r || r->type != REDIS_REPLY_INTEGER || r->integer != 1;
   freeReplyObject (r);
   return bad;
}

int
main (int argc, char **argv)
{
   const char *addr = getenv ("REDIS_ADDR");
   int cycles = 2000;
   bool kv = false;
   for (int i = 1; i < argc; i++) {
      if (strcmp (argv[i], "--kv") == 0) {
         kv = true;
      } else if (strchr (argv[i], ':')) {
         addr = argv[i];
      } else {
         cycles = atoi (argv[i]);
      }
   }
   const char *colon = addr ? strrchr (addr, ':') : NULL;
   if (!colon || cycles <= 0) {
      fprintf (stderr, "usage: %s HOST:PORT [cycles]  (or set REDIS_ADDR)\n", argv[0]);
      return 2;
   }
   char host[256];
   snprintf (host, sizeof host, "%.*s", (int) (colon - addr), addr);
   struct timeval tv = {5, 0};
   redisContext *c = redisConnectWithTimeout (host, atoi (colon + 1), tv);
   if (!c || c->err) {
      fprintf (stderr, "bench-redis-lock: connect %s: %s\n", addr, c ? c->errstr : "out of memory");
      redisFree (c);
      return 1;
   }
   redisSetTimeout (c, tv);
   redisReply *r = redisCommand (c, "SCRIPT LOAD %s", RELEASE_LUA);
   if (!r || r->type != REDIS_REPLY_STRING) {
      fprintf (stderr, "bench-redis-lock: SCRIPT LOAD failed\n");
      freeReplyObject (r);
      redisFree (c);
      return 1;
   }
   char sha[64];
   snprintf (sha, sizeof sha, "%s", r->str);
   freeReplyObject (r);
   int64_t *lat = malloc (sizeof *lat * (size_t) cycles);
   if (!lat || cycle (c, sha, -1) != 0) { /* warm up */
      fprintf (stderr, "bench-redis-lock: warm-up cycle failed\n");
      free (lat);
      redisFree (c);
      return 1;
   }
   int64_t *ping = malloc (sizeof *ping * (size_t) cycles);
   for (int i = 0; ping && i < cycles; i++) { /* one round trip, for scale */
      int64_t s = now_us ();
      freeReplyObject (redisCommand (c, "PING"));
      ping[i] = now_us () - s;
   }
   measure_heap_t h0, h1;
   measure_heap (&h0);
   uint64_t bytes0 = measure_tcp_bytes ();
   double cpu0 = cpu_us ();
   int64_t t0 = now_us ();
   for (int i = 0; i < cycles; i++) {
      int64_t s = now_us ();
      if (cycle (c, sha, i) != 0) {
         fprintf (stderr, "bench-redis-lock: cycle %d failed\n", i);
         free (lat);
         redisFree (c);
         return 1;
      }
      lat[i] = now_us () - s;
   }
   double wall_s = (double) (now_us () - t0) / 1e6;
   double cpu = cpu_us () - cpu0;
   uint64_t bytes = measure_tcp_bytes () - bytes0;
   measure_heap (&h1);
   qsort (lat, (size_t) cycles, sizeof *lat, cmp64);
   if (ping) {
      qsort (ping, (size_t) cycles, sizeof *ping, cmp64);
   }
   if (kv) {
      printf ("impl=redis\ncycles=%d\ncommands=2.00\nbytes=%.0f\nallocs=%.1f\nheap_growth_bytes=%" PRId64
              "\ncpu_us=%.1f\np50_us=%" PRId64 "\np99_us=%" PRId64 "\ncycles_per_s=%.0f\nrtt_us=%" PRId64 "\n",
              cycles, (double) bytes / cycles, (double) (h1.allocs - h0.allocs) / cycles, h1.live_bytes - h0.live_bytes,
              cpu / cycles, lat[cycles / 2], lat[(cycles * 99) / 100], cycles / wall_s,
              ping ? ping[cycles / 2] : (int64_t) -1);
      free (ping);
      free (lat);
      redisFree (c);
      return 0;
   }
   printf ("redis bench-redis-lock: %d uncontended SET NX PX + EVALSHA compare-and-DEL cycles\n\n", cycles);
   printf ("| metric                          | value      |\n");
   printf ("|---------------------------------|------------|\n");
   printf ("| server commands per cycle       | %10.2f |\n", 2.0);
   printf ("| client CPU per cycle (us)       | %10.1f |\n", cpu / cycles);
   printf ("| latency p50 (us)                | %10" PRId64 " |\n", lat[cycles / 2]);
   printf ("| latency p99 (us)                | %10" PRId64 " |\n", lat[(cycles * 99) / 100]);
   printf ("| cycles per second               | %10.0f |\n", cycles / wall_s);
   printf ("| one round trip (PING) p50 (us)  | %10" PRId64 " |\n", ping ? ping[cycles / 2] : (int64_t) -1);
   free (ping);
   free (lat);
   redisFree (c);
   return 0;
}
