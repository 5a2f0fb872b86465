/* SPDX-License-Identifier: Apache-2.0 */
#include "lock-test.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

mongolock_client_t *
lt_client_timeout_at (const char *uri, const char *db, int64_t timeout_ms)
{
   bson_error_t error;
   mongolock_client_opts_t *o = mongolock_client_opts_new ();
   cr_assert (mongolock_client_opts_set_database (o, db, &error), "%s", error.message);
   if (timeout_ms > 0) {
      cr_assert (mongolock_client_opts_set_timeout_ms (o, timeout_ms, &error), "%s", error.message);
   }
   mongolock_client_t *c = mongolock_client_new (uri, o, &error);
   cr_assert (c, "client: %s", error.message);
   mongolock_client_opts_destroy (o);
   return c;
}

mongolock_client_t *
lt_client_at (const char *uri, const char *db)
{
   return lt_client_timeout_at (uri, db, 0);
}

mongolock_client_t *
lt_proxied_client (mltest_proxy_t *px, const char *db, const char *options, int64_t timeout_ms)
{
   char *uri = mltest_proxy_uri (px, options);
   mongolock_client_t *c = lt_client_timeout_at (uri, db, timeout_ms);
   bson_free (uri);
   return c;
}

mongolock_client_t *
lt_client (char **db_out)
{
   char *db = mltest_db_name ("lock");
   mongolock_client_t *c = lt_client_at (mltest_uri (), db);
   if (db_out) {
      *db_out = db;
   } else {
      bson_free (db);
   }
   return c;
}

mongolock_lock_t *
lt_lock (mongolock_client_t *c, const char *key, int64_t lease_ms, int64_t wait_ms, int flags)
{
   bson_error_t error;
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   cr_assert (mongolock_lock_opts_set_lease_ms (o, lease_ms, &error), "%s", error.message);
   cr_assert (mongolock_lock_opts_set_wait_ms (o, wait_ms, &error), "%s", error.message);
   cr_assert (mongolock_lock_opts_set_backoff (o, 2, 50, &error));
   mongolock_lock_opts_set_auto_renew (o, flags & LT_RENEW);
   mongolock_lock_opts_set_reentrant (o, flags & LT_REENTRANT);
   mongolock_lock_t *l = mongolock_lock_new (c, key, o, &error);
   cr_assert (l, "lock: %s", error.message);
   mongolock_lock_opts_destroy (o);
   return l;
}

mongolock_lock_t *
lt_renewing_lock (mongolock_client_t *c, const char *key, int64_t lease_ms, int64_t wait_ms, lt_events_t *ev)
{
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   bson_error_t error;
   cr_assert (mongolock_lock_opts_set_lease_ms (o, lease_ms, &error), "%s", error.message);
   cr_assert (mongolock_lock_opts_set_wait_ms (o, wait_ms, &error), "%s", error.message);
   mongolock_lock_opts_set_auto_renew (o, true);
   mongolock_lock_opts_set_event_callback (o, lt_events_cb, ev);
   mongolock_lock_t *l = mongolock_lock_new (c, key, o, &error);
   cr_assert (l, "%s", error.message);
   mongolock_lock_opts_destroy (o);
   return l;
}

bool
lt_try (mongolock_lock_t *l)
{
   bson_error_t error;
   bool acquired = true;
   cr_assert (mongolock_lock_try_acquire (l, &acquired, &error), "try_acquire failed: %s (%u/%u)", error.message,
              error.domain, error.code);
   return acquired;
}

void
lt_events_init (lt_events_t *ev)
{
   memset (ev, 0, sizeof *ev);
   pthread_mutex_init (&ev->mu, NULL);
   pthread_cond_init (&ev->cond, NULL);
}

void
lt_events_cb (const mongolock_event_t *event, void *data)
{
   lt_events_t *ev = data;
   pthread_mutex_lock (&ev->mu);
   ev->count[mongolock_event_type (event)]++;
   if (mongolock_event_wait_mode (event)) {
      snprintf (ev->wait_mode, sizeof ev->wait_mode, "%s", mongolock_event_wait_mode (event));
   }
   ev->last_wait_ms = mongolock_event_wait_ms (event);
   ev->last_attempts = mongolock_event_attempts (event);
   ev->last_error_code = mongolock_event_error (event) ? mongolock_event_error (event)->code : 0;
   if (mongolock_event_error (event)) {
      snprintf (ev->last_error, sizeof ev->last_error, "%s", mongolock_event_error (event)->message);
   }
   pthread_cond_broadcast (&ev->cond);
   pthread_mutex_unlock (&ev->mu);
}

int
lt_events_count (lt_events_t *ev, mongolock_event_type_t type)
{
   pthread_mutex_lock (&ev->mu);
   int n = ev->count[type];
   pthread_mutex_unlock (&ev->mu);
   return n;
}

int
lt_events_wait (lt_events_t *ev, mongolock_event_type_t type, int n, int64_t timeout_ms)
{
   struct timespec ts;
   clock_gettime (CLOCK_REALTIME, &ts);
   ts.tv_sec += timeout_ms / 1000;
   ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
   if (ts.tv_nsec >= 1000000000L) {
      ts.tv_sec++;
      ts.tv_nsec -= 1000000000L;
   }
   pthread_mutex_lock (&ev->mu);
   while (ev->count[type] < n) {
      if (pthread_cond_timedwait (&ev->cond, &ev->mu, &ts) != 0) {
         break;
      }
   }
   int got = ev->count[type];
   pthread_mutex_unlock (&ev->mu);
   return got;
}

void
lt_cleanup (mongolock_client_t *c, char *db)
{
   mongoc_client_t *mc = mltest_client ();
   mltest_drop_db (mc, db);
   mongoc_client_destroy (mc);
   mongolock_client_destroy (c);
   bson_free (db);
}

void
lt_read_then_kill (int fd, pid_t child, int64_t msg[2])
{
   cr_assert_eq (read (fd, msg, 2 * sizeof *msg), (ssize_t) (2 * sizeof *msg), "child acquired");
   cr_assert_eq (kill (child, SIGKILL), 0);
   int status;
   cr_assert_eq (waitpid (child, &status, 0), child);
   cr_assert (WIFSIGNALED (status));
}
