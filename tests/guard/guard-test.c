/* SPDX-License-Identifier: Apache-2.0 */
#include "guard-test.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

mongolock_client_t *
gt_unreachable_client_with (int64_t server_selection_ms)
{
   int fd = socket (AF_INET, SOCK_STREAM, 0);
   cr_assert (fd >= 0);
   struct sockaddr_in addr;
   memset (&addr, 0, sizeof addr);
   addr.sin_family = AF_INET;
   addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
   addr.sin_port = 0;
   cr_assert_eq (bind (fd, (struct sockaddr *) &addr, sizeof addr), 0);
   socklen_t len = sizeof addr;
   cr_assert_eq (getsockname (fd, (struct sockaddr *) &addr, &len), 0);
   int port = ntohs (addr.sin_port);
   close (fd); /* never listened: connections are refused */
   char *uri = bson_strdup_printf (
      "mongodb://127.0.0.1:%d/?serverSelectionTimeoutMS=%" PRId64 "&connectTimeoutMS=200&heartbeatFrequencyMS=500",
      port, server_selection_ms);
   bson_error_t error;
   mongolock_client_t *c = mongolock_client_new (uri, NULL, &error);
   cr_assert (c, "client: %s", error.message);
   bson_free (uri);
   return c;
}

mongolock_client_t *
gt_unreachable_client (void)
{
   return gt_unreachable_client_with (300);
}

void
gt_warnings_init (gt_warnings_t *w)
{
   memset (w, 0, sizeof *w);
   pthread_mutex_init (&w->mu, NULL);
}

void
gt_warnings_cb (const char *key, const char *message, void *data)
{
   gt_warnings_t *w = data;
   pthread_mutex_lock (&w->mu);
   w->count++;
   snprintf (w->last_key, sizeof w->last_key, "%s", key);
   snprintf (w->last_message, sizeof w->last_message, "%s", message);
   pthread_mutex_unlock (&w->mu);
}

int
gt_warnings_count (gt_warnings_t *w)
{
   pthread_mutex_lock (&w->mu);
   int n = w->count;
   pthread_mutex_unlock (&w->mu);
   return n;
}

mongolock_guard_t *
gt_guard (mongolock_client_t *c,
          mongolock_guard_degraded_t degraded,
          int64_t lease_ms,
          int64_t wait_ms,
          lt_events_t *events,
          gt_warnings_t *warnings)
{
   bson_error_t error;
   mongolock_guard_opts_t *o = mongolock_guard_opts_new ();
   cr_assert (mongolock_guard_opts_set_lease_ms (o, lease_ms, &error), "%s", error.message);
   cr_assert (mongolock_guard_opts_set_wait_ms (o, wait_ms, &error), "%s", error.message);
   cr_assert (mongolock_guard_opts_set_secret (o, NULL, 0, &error));
   mongolock_guard_opts_set_degraded_mode (o, degraded);
   if (events) {
      mongolock_guard_opts_set_event_callback (o, lt_events_cb, events);
   }
   if (warnings) {
      mongolock_guard_opts_set_warning_callback (o, gt_warnings_cb, warnings);
   }
   mongolock_guard_t *g = mongolock_guard_new (c, o, &error);
   cr_assert (g, "guard: %s", error.message);
   mongolock_guard_opts_destroy (o);
   return g;
}

mongoc_collection_t *
gt_collection (const char *db, const char *name, mongoc_client_t **mc)
{
   *mc = mltest_client ();
   return mongoc_client_get_collection (*mc, db, name);
}

int64_t
gt_count (mongoc_collection_t *coll, const char *filter_json)
{
   bson_t *f = mltest_bson (filter_json);
   bson_error_t error;
   int64_t n = mongoc_collection_count_documents (coll, f, NULL, NULL, NULL, &error);
   cr_assert_geq (n, 0, "count: %s", error.message);
   bson_destroy (f);
   return n;
}

gt_barrier_t *
gt_barrier_new (unsigned n)
{
   gt_barrier_t *b = mmap (NULL, sizeof *b, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
   cr_assert (b != MAP_FAILED);
   pthread_barrierattr_t attr;
   pthread_barrierattr_init (&attr);
   pthread_barrierattr_setpshared (&attr, PTHREAD_PROCESS_SHARED);
   cr_assert_eq (pthread_barrier_init (&b->barrier, &attr, n), 0);
   pthread_barrierattr_destroy (&attr);
   return b;
}

void
gt_barrier_wait (gt_barrier_t *b)
{
   pthread_barrier_wait (&b->barrier);
}

void
gt_barrier_free (gt_barrier_t *b)
{
   pthread_barrier_destroy (&b->barrier);
   munmap (b, sizeof *b);
}
