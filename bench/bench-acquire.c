/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench-acquire: cost of an uncontended acquire + release cycle, for mongolock or for the
 * minimal hand-written libmongoc lock (minimal-lock.c) on the same server.
 * Per cycle: server commands (libmongoc APM command-started callbacks; the floor is 2),
 * bytes on the wire (both directions, TCP_INFO), heap allocations and the heap still in
 * use after the run (measure.c), client CPU (getrusage, every thread) and latency.
 *
 *   bench-acquire [URI] [CYCLES] [--impl mongolock|minimal] [--kv] [--dump]
 *
 * URI defaults to MONGOLOCK_URI, CYCLES to 2000. --kv prints key=value lines for
 * bench/run-bench.sh instead of a table; --dump prints every command and reply (use 1 cycle). Instructions per cycle come from running it under
 * valgrind --tool=callgrind with two cycle counts (bench/run-bench.sh does).
 */
#include "measure.h"
#include "minimal-lock.h"

#include <mongolock/mongolock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static long commands_by_name[3]; /* findAndModify, delete, other */
static bool dump;                /* --dump: print the commands and replies as sent */

/* --dump: the bytes each top-level field of doc takes (type byte, name, value), so that a
 * command's or a reply's size can be accounted for field by field. */
static void
dump_fields (const bson_t *doc)
{
   bson_iter_t it;
   if (!bson_iter_init (&it, doc)) {
      return;
   }
   printf ("  fields:");
   /* An element runs from its offset to the next one's (the last one to the terminator). */
   const char *key = NULL;
   uint32_t start = 0;
   while (bson_iter_next (&it)) {
      if (key) {
         printf (" %s=%u", key, bson_iter_offset (&it) - start);
      }
      key = bson_iter_key (&it);
      start = bson_iter_offset (&it);
   }
   if (key) {
      printf (" %s=%u", key, doc->len - 1 - start);
   }
   printf (" (+5 length and terminator, +21 OP_MSG header on the wire)\n");
}

static void
on_started (const mongoc_apm_command_started_t *event)
{
   const char *name = mongoc_apm_command_started_get_command_name (event);
   commands_by_name[strcmp (name, "findAndModify") == 0 ? 0 : strcmp (name, "delete") == 0 ? 1 : 2]++;
   if (dump) {
      const bson_t *cmd = mongoc_apm_command_started_get_command (event);
      char *json = bson_as_relaxed_extended_json (cmd, NULL);
      printf ("command (%u bytes of BSON): %s\n", cmd->len, json);
      dump_fields (cmd);
      bson_free (json);
   }
}

static void
on_succeeded (const mongoc_apm_command_succeeded_t *event)
{
   if (dump) {
      const bson_t *reply = mongoc_apm_command_succeeded_get_reply (event);
      char *json = bson_as_relaxed_extended_json (reply, NULL);
      printf ("reply (%u bytes of BSON): %s\n", reply->len, json);
      dump_fields (reply);
      bson_free (json);
   }
}

typedef struct {
   bool minimal;
   mongolock_lock_t *lock;      /* mongolock */
   mongoc_client_t *mc;         /* minimal */
   mongoc_collection_t *coll;   /* minimal */
   char owner[64];
} impl_t;

static bool
cycle (impl_t *im, bson_error_t *error)
{
   if (im->minimal) {
      int got = minimal_lock_acquire (im->coll, "bench", im->owner, 30000, error);
      if (got == 0) {
         bson_set_error (error, 0, 0, "lock busy");
      }
      return got == 1 && minimal_lock_release (im->coll, "bench", im->owner, error) == 1;
   }
   bool acquired = false;
   if (!mongolock_lock_try_acquire (im->lock, &acquired, error)) {
      return false;
   }
   if (!acquired) {
      bson_set_error (error, 0, 0, "lock busy");
      return false;
   }
   return mongolock_lock_release (im->lock, error);
}

int
main (int argc, char **argv)
{
   const char *uri_s = getenv ("MONGOLOCK_URI");
   long cycles = 2000;
   bool kv = false, minimal = false;
   for (int i = 1; i < argc; i++) {
      if (strcmp (argv[i], "--kv") == 0) {
         kv = true;
      } else if (strcmp (argv[i], "--dump") == 0) {
         dump = true;
      } else if (strcmp (argv[i], "--impl") == 0 && i + 1 < argc) {
         minimal = strcmp (argv[++i], "minimal") == 0;
         if (!minimal && strcmp (argv[i], "mongolock") != 0) {
            cycles = -1;
         }
      } else if (strstr (argv[i], "://")) {
         uri_s = argv[i];
      } else {
         cycles = atol (argv[i]);
      }
   }
   if (!uri_s || cycles <= 0) {
      fprintf (stderr, "usage: %s [URI] [CYCLES] [--impl mongolock|minimal] [--kv] [--dump]  (or set MONGOLOCK_URI)\n", argv[0]);
      return 2;
   }
   mongoc_init ();
   bson_error_t error;
   mongoc_uri_t *uri = mongoc_uri_new_with_error (uri_s, &error);
   if (!uri) {
      fprintf (stderr, "%s\n", error.message);
      return 2;
   }
   mongoc_client_pool_t *pool = mongoc_client_pool_new (uri);
   mongoc_client_pool_set_error_api (pool, MONGOC_ERROR_API_VERSION_2);
   mongoc_apm_callbacks_t *cbs = mongoc_apm_callbacks_new ();
   mongoc_apm_set_command_started_cb (cbs, on_started);
   mongoc_apm_set_command_succeeded_cb (cbs, on_succeeded);
   mongoc_client_pool_set_apm_callbacks (pool, cbs, NULL);
   char dbname[64]; /* one per process: runs may overlap */
   snprintf (dbname, sizeof dbname, "mongolock_bench_%ld", (long) getpid ());
   mongolock_client_opts_t *copts = mongolock_client_opts_new ();
   mongolock_client_opts_set_database (copts, dbname, NULL);
   mongolock_client_t *client = NULL;
   impl_t im = {.minimal = minimal};
   snprintf (im.owner, sizeof im.owner, "bench-%ld", (long) getpid ());
   if (minimal) {
      /* The same write concern as mongolock's default, set once on the collection. */
      im.mc = mongoc_client_pool_pop (pool);
      im.coll = mongoc_client_get_collection (im.mc, dbname, "minimal_locks");
      mongoc_write_concern_t *wc = mongoc_write_concern_new ();
      mongoc_write_concern_set_w (wc, MONGOC_WRITE_CONCERN_W_MAJORITY);
      mongoc_collection_set_write_concern (im.coll, wc);
      mongoc_write_concern_destroy (wc);
   } else {
      client = mongolock_client_new_from_pool (pool, copts, &error);
      im.lock = client ? mongolock_lock_new (client, "bench", NULL, &error) : NULL;
      if (!im.lock) {
         fprintf (stderr, "bench-acquire: %s\n", error.message);
         return 1;
      }
   }
   int64_t *lat = malloc (sizeof *lat * (size_t) cycles);
   /* Warm up: the connection, the handshake and every one-time allocation are not part of
    * a cycle. */
   for (int i = 0; i < (dump ? 1 : 100); i++) {
      if (!cycle (&im, &error)) {
         fprintf (stderr, "bench-acquire: warm-up: %s\n", error.message);
         return 1;
      }
   }
   /* One round trip for scale: the p50 of ping. */
   long npings = cycles < 1000 ? cycles : 1000;
   int64_t *pings = malloc (sizeof *pings * (size_t) npings);
   mongoc_client_t *pc = mongoc_client_pool_pop (pool);
   bson_t ping = BSON_INITIALIZER;
   BSON_APPEND_INT32 (&ping, "ping", 1);
   for (long i = 0; i < npings; i++) {
      int64_t s = measure_now_us ();
      mongoc_client_command_simple (pc, "admin", &ping, NULL, NULL, NULL);
      pings[i] = measure_now_us () - s;
   }
   bson_destroy (&ping);
   mongoc_client_pool_push (pool, pc);
   int64_t rtt = measure_percentile (pings, npings, 50);
   free (pings);
   memset (commands_by_name, 0, sizeof commands_by_name);
   measure_heap_t h0, h1;
   measure_heap (&h0);
   uint64_t bytes0 = measure_tcp_bytes ();
   double cpu0 = measure_cpu_us ();
   int64_t t0 = measure_now_us ();
   for (long i = 0; i < cycles; i++) {
      int64_t s = measure_now_us ();
      if (!cycle (&im, &error)) {
         fprintf (stderr, "bench-acquire: cycle %ld: %s\n", i, error.message);
         return 1;
      }
      lat[i] = measure_now_us () - s;
   }
   double wall_s = (double) (measure_now_us () - t0) / 1e6;
   double cpu = measure_cpu_us () - cpu0;
   uint64_t bytes = measure_tcp_bytes () - bytes0;
   measure_heap (&h1);
   long total = commands_by_name[0] + commands_by_name[1] + commands_by_name[2];
   double n = (double) cycles;
   int64_t p50 = measure_percentile (lat, cycles, 50), p99 = measure_percentile (lat, cycles, 99);
   const char *name = minimal ? "minimal libmongoc lock" : "mongolock";
   if (kv) {
      printf ("impl=%s\ncycles=%ld\ncommands=%.2f\nbytes=%.0f\nallocs=%.1f\nheap_growth_bytes=%" PRId64
              "\nheap_growth_blocks=%" PRId64 "\ncpu_us=%.1f\np50_us=%" PRId64 "\np99_us=%" PRId64 "\ncycles_per_s=%.0f\nrtt_us=%" PRId64 "\n",
              minimal ? "minimal" : "mongolock", cycles, (double) total / n, (double) bytes / n,
              (double) (h1.allocs - h0.allocs) / n, h1.live_bytes - h0.live_bytes, h1.live_blocks - h0.live_blocks,
              cpu / n, p50, p99, n / wall_s, rtt);
   } else {
      printf ("%s bench-acquire: %ld uncontended acquire+release cycles\n\n", name, cycles);
      printf ("| metric                          | value      |\n");
      printf ("|---------------------------------|------------|\n");
      printf ("| server commands per cycle       | %10.2f |\n", (double) total / n);
      printf ("|   findAndModify per cycle       | %10.2f |\n", (double) commands_by_name[0] / n);
      printf ("|   delete per cycle              | %10.2f |\n", (double) commands_by_name[1] / n);
      printf ("|   other per cycle               | %10.2f |\n", (double) commands_by_name[2] / n);
      printf ("| bytes on the wire per cycle     | %10.0f |\n", (double) bytes / n);
      printf ("| heap allocations per cycle      | %10.1f |\n", (double) (h1.allocs - h0.allocs) / n);
      printf ("| heap growth over the run (B)    | %10" PRId64 " |\n", h1.live_bytes - h0.live_bytes);
      printf ("| client CPU per cycle (us)       | %10.1f |\n", cpu / n);
      printf ("| latency p50 (us)                | %10" PRId64 " |\n", p50);
      printf ("| latency p99 (us)                | %10" PRId64 " |\n", p99);
      printf ("| cycles per second               | %10.0f |\n", n / wall_s);
      printf ("| one round trip (ping) p50 (us)  | %10" PRId64 " |\n", rtt);
   }
   free (lat);
   if (minimal) {
      mongoc_collection_destroy (im.coll);
      mongoc_client_pool_push (pool, im.mc);
   }
   mongoc_client_t *mc = mongoc_client_pool_pop (pool);
   mongoc_database_t *db = mongoc_client_get_database (mc, dbname);
   mongoc_database_drop (db, NULL);
   mongoc_database_destroy (db);
   mongoc_client_pool_push (pool, mc);
   mongolock_lock_destroy (im.lock);
   mongolock_client_destroy (client);
   mongolock_client_opts_destroy (copts);
   mongoc_client_pool_destroy (pool);
   mongoc_apm_callbacks_destroy (cbs);
   mongoc_uri_destroy (uri);
   mongoc_cleanup ();
   return 0;
}
