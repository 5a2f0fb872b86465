/*
 * bench-acquire: cost of an uncontended acquire + release cycle.
 * Prints, per cycle: server commands (counted with libmongoc's APM callbacks; the floor is
 * 2: one findAndModify to acquire, one to release), client CPU time (getrusage), and wall-clock latency
 * percentiles.
 *
 *   bench-acquire [URI] [cycles]     (URI defaults to MONGOLOCK_URI)
 */
#include <mongolock/mongolock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static int commands_by_name[3]; /* findAndModify, update, other */

static void
on_started (const mongoc_apm_command_started_t *event)
{
   const char *name = mongoc_apm_command_started_get_command_name (event);
   commands_by_name[strcmp (name, "findAndModify") == 0 ? 0 : strcmp (name, "update") == 0 ? 1 : 2]++;
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

int
main (int argc, char **argv)
{
   const char *uri_s = argc > 1 ? argv[1] : getenv ("MONGOLOCK_URI");
   int cycles = argc > 2 ? atoi (argv[2]) : 2000;
   if (!uri_s || cycles <= 0) {
      fprintf (stderr, "usage: %s URI [cycles]  (or set MONGOLOCK_URI)\n", argv[0]);
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
   mongoc_client_pool_set_apm_callbacks (pool, cbs, NULL);
   mongolock_client_opts_t *copts = mongolock_client_opts_new ();
   mongolock_client_opts_set_database (copts, "mongolock_bench", NULL);
   mongolock_client_t *client = mongolock_client_new_from_pool (pool, copts, &error);
   mongolock_lock_t *lock = mongolock_lock_new (client, "bench", NULL, &error);
   int64_t *lat = malloc (sizeof *lat * (size_t) cycles);
   /* Warm up the connection (handshake commands are not part of a cycle). */
   bool acquired = false;
   bool tried = mongolock_lock_try_acquire (lock, &acquired, &error);
   if (!tried || !acquired || !mongolock_lock_release (lock, &error)) {
      fprintf (stderr, "bench-acquire: %s\n", tried && !acquired ? "lock busy" : error.message);
      return 1;
   }
   memset (commands_by_name, 0, sizeof commands_by_name);
   double cpu0 = cpu_us ();
   int64_t t0 = bson_get_monotonic_time ();
   for (int i = 0; i < cycles; i++) {
      int64_t s = bson_get_monotonic_time ();
      tried = mongolock_lock_try_acquire (lock, &acquired, &error);
      if (!tried || !acquired || !mongolock_lock_release (lock, &error)) {
         fprintf (stderr, "bench-acquire: cycle %d: %s\n", i, tried && !acquired ? "lock busy" : error.message);
         return 1;
      }
      lat[i] = bson_get_monotonic_time () - s;
   }
   double wall_s = (double) (bson_get_monotonic_time () - t0) / 1e6;
   double cpu = cpu_us () - cpu0;
   qsort (lat, (size_t) cycles, sizeof *lat, cmp64);
   int total = commands_by_name[0] + commands_by_name[1] + commands_by_name[2];
   printf ("mongolock bench-acquire: %d uncontended acquire+release cycles\n\n", cycles);
   printf ("| metric                          | value      |\n");
   printf ("|---------------------------------|------------|\n");
   printf ("| server commands per cycle       | %10.2f |\n", (double) total / cycles);
   printf ("|   findAndModify per cycle       | %10.2f |\n", (double) commands_by_name[0] / cycles);
   printf ("|   update per cycle              | %10.2f |\n", (double) commands_by_name[1] / cycles);
   printf ("|   other per cycle               | %10.2f |\n", (double) commands_by_name[2] / cycles);
   printf ("| client CPU per cycle (us)       | %10.1f |\n", cpu / cycles);
   printf ("| latency p50 (us)                | %10" PRId64 " |\n", lat[cycles / 2]);
   printf ("| latency p99 (us)                | %10" PRId64 " |\n", lat[(cycles * 99) / 100]);
   printf ("| cycles per second               | %10.0f |\n", cycles / wall_s);
   mongoc_client_t *mc = mongoc_client_pool_pop (pool);
   mongoc_database_t *db = mongoc_client_get_database (mc, "mongolock_bench");
   mongoc_database_drop (db, NULL);
   mongoc_database_destroy (db);
   mongoc_client_pool_push (pool, mc);
   free (lat);
   mongolock_lock_destroy (lock);
   mongolock_client_destroy (client);
   mongolock_client_opts_destroy (copts);
   mongoc_client_pool_destroy (pool);
   mongoc_apm_callbacks_destroy (cbs);
   mongoc_uri_destroy (uri);
   mongoc_cleanup ();
   return 0;
}
