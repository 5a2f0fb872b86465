/* SPDX-License-Identifier: Apache-2.0 */
/* The wait report of `mongolock run` (wait-report.h). */
#include "wait-report.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct cli_wait_report {
   mongolock_client_t *client;
   const char *key;
   int64_t started_ms;
   bool tty;
   int64_t interval_ms;
   pthread_t thread;
   pthread_mutex_t mu;
   pthread_cond_t cond; /* on CLOCK_MONOTONIC */
   bool stop;
   bool shown; /* a live line is on the terminal */
};

static int64_t
mono_ms (void)
{
   struct timespec ts;
   clock_gettime (CLOCK_MONOTONIC, &ts);
   return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "held by H (token T), lease ends in D" or why not, for the lock's state now. */
static void
describe_holder (cli_wait_report_t *r, char *buf, size_t len)
{
   bson_t locks;
   bson_error_t error;
   /* The exact key sorts first among the keys it prefixes. */
   if (!mongolock_client_list_locks (r->client, r->key, 1, &locks, &error)) {
      snprintf (buf, len, "holder unknown (%s)", error.message);
      bson_destroy (&locks);
      return;
   }
   bson_iter_t it;
   const char *owner = NULL, *key = NULL, *kind = "lock";
   int64_t token = 0, left = 0, permits = 0;
   bool held = false;
   /* A semaphore's or reader/writer lock's live holders: the one whose lease ends first. */
   const char *h_owner = NULL, *h_mode = NULL;
   int64_t h_token = 0, h_left = 0, n_holders = 0;
   if (bson_iter_init (&it, &locks) && bson_iter_next (&it) && BSON_ITER_HOLDS_DOCUMENT (&it)) {
      bson_iter_t f;
      bson_iter_recurse (&it, &f);
      while (bson_iter_next (&f)) {
         const char *k = bson_iter_key (&f);
         if (strcmp (k, "key") == 0 && BSON_ITER_HOLDS_UTF8 (&f)) {
            key = bson_iter_utf8 (&f, NULL);
         } else if (strcmp (k, "owner") == 0 && BSON_ITER_HOLDS_UTF8 (&f)) {
            owner = bson_iter_utf8 (&f, NULL);
         } else if (strcmp (k, "token") == 0 && BSON_ITER_HOLDS_NUMBER (&f)) {
            token = bson_iter_as_int64 (&f);
         } else if (strcmp (k, "remainingMs") == 0 && BSON_ITER_HOLDS_NUMBER (&f)) {
            left = bson_iter_as_int64 (&f);
         } else if (strcmp (k, "held") == 0 && BSON_ITER_HOLDS_BOOL (&f)) {
            held = bson_iter_bool (&f);
         } else if (strcmp (k, "kind") == 0 && BSON_ITER_HOLDS_UTF8 (&f)) {
            kind = bson_iter_utf8 (&f, NULL);
         } else if (strcmp (k, "permits") == 0 && BSON_ITER_HOLDS_NUMBER (&f)) {
            permits = bson_iter_as_int64 (&f);
         } else if (strcmp (k, "holders") == 0 && BSON_ITER_HOLDS_ARRAY (&f)) {
            bson_iter_t hs, h;
            bson_iter_recurse (&f, &hs);
            while (bson_iter_next (&hs)) {
               const char *o = NULL, *m = NULL;
               int64_t t = 0, l = 0;
               if (!BSON_ITER_HOLDS_DOCUMENT (&hs) || !bson_iter_recurse (&hs, &h)) {
                  continue;
               }
               while (bson_iter_next (&h)) {
                  const char *hk = bson_iter_key (&h);
                  if (strcmp (hk, "owner") == 0 && BSON_ITER_HOLDS_UTF8 (&h)) {
                     o = bson_iter_utf8 (&h, NULL);
                  } else if (strcmp (hk, "mode") == 0 && BSON_ITER_HOLDS_UTF8 (&h)) {
                     m = bson_iter_utf8 (&h, NULL);
                  } else if (strcmp (hk, "token") == 0 && BSON_ITER_HOLDS_NUMBER (&h)) {
                     t = bson_iter_as_int64 (&h);
                  } else if (strcmp (hk, "remainingMs") == 0 && BSON_ITER_HOLDS_NUMBER (&h)) {
                     l = bson_iter_as_int64 (&h);
                  }
               }
               if (o && (n_holders++ == 0 || l < h_left)) {
                  h_owner = o, h_mode = m, h_token = t, h_left = l;
               }
            }
         }
      }
   }
   if (key && strcmp (key, r->key) == 0 && held && !owner && h_owner) {
      char *h = cli_escape_text (h_owner);
      char d[32], what[48];
      cli_format_duration (h_left > 0 ? h_left : 0, d, sizeof d);
      if (strcmp (kind, "semaphore") == 0) {
         snprintf (what, sizeof what, "[permit of %" PRId64 "]", permits);
      } else {
         snprintf (what, sizeof what, "[%s]", h_mode && strcmp (h_mode, "w") == 0 ? "write" : "read");
      }
      char others[48] = "";
      if (n_holders > 1) {
         snprintf (others, sizeof others, " and %" PRId64 " other holder%s", n_holders - 1, n_holders > 2 ? "s" : "");
      }
      /* The holder named is the one whose lease ends first. */
      snprintf (buf, len, "held by %s (token %" PRId64 ") %s%s, its lease ends in %s", h, h_token, what, others, d);
      bson_free (h);
   } else if (!key || strcmp (key, r->key) != 0 || !held || !owner) {
      snprintf (buf, len, "not held at the moment (being taken)");
   } else {
      char *h = cli_escape_text (owner);
      char d[32];
      cli_format_duration (left, d, sizeof d);
      snprintf (buf, len, "held by %s (token %" PRId64 "), its lease ends in %s", h, token, d);
      bson_free (h);
   }
   bson_destroy (&locks);
}

static void
report (cli_wait_report_t *r)
{
   char holder[768], waited[32];
   describe_holder (r, holder, sizeof holder);
   cli_format_duration (mono_ms () - r->started_ms, waited, sizeof waited);
   char *key = cli_escape_text (r->key);
   if (r->tty) {
      /* Rewritten in place; "\033[K" clears what a longer previous line left. */
      fprintf (stderr, "\r%s: waiting %s for lock \"%s\": %s\033[K", cli_progname, waited, key, holder);
      r->shown = true;
   } else {
      fprintf (stderr, "%s: still waiting for lock \"%s\" after %s: %s\n", cli_progname, key, waited, holder);
   }
   fflush (stderr);
   bson_free (key);
}

static void *
report_main (void *arg)
{
   cli_wait_report_t *r = arg;
   pthread_mutex_lock (&r->mu);
   /* On a terminal at once; -v's line first after an interval (the "is busy" line came). */
   int64_t next = r->tty ? mono_ms () : mono_ms () + r->interval_ms;
   while (!r->stop) {
      int64_t now = mono_ms ();
      if (now >= next) {
         pthread_mutex_unlock (&r->mu);
         report (r);
         pthread_mutex_lock (&r->mu);
         next = now + r->interval_ms;
         continue;
      }
      struct timespec ts = {.tv_sec = (time_t) (next / 1000), .tv_nsec = (long) (next % 1000) * 1000000};
      pthread_cond_timedwait (&r->cond, &r->mu, &ts);
   }
   pthread_mutex_unlock (&r->mu);
   return NULL;
}

cli_wait_report_t *
cli_wait_report_start (mongolock_client_t *client, const char *key, int64_t started_ms, bool verbose)
{
   bool tty = isatty (2);
   if (!tty && !verbose) {
      return NULL;
   }
   cli_wait_report_t *r = bson_malloc0 (sizeof *r);
   r->client = client;
   r->key = key;
   r->started_ms = started_ms;
   r->tty = tty;
   r->interval_ms = tty ? CLI_WAIT_TTY_INTERVAL_MS : CLI_WAIT_VERBOSE_INTERVAL_MS;
   pthread_condattr_t ca;
   pthread_condattr_init (&ca);
   pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
   pthread_cond_init (&r->cond, &ca);
   pthread_condattr_destroy (&ca);
   pthread_mutex_init (&r->mu, NULL);
   if (pthread_create (&r->thread, NULL, report_main, r) != 0) {
      pthread_cond_destroy (&r->cond);
      pthread_mutex_destroy (&r->mu);
      bson_free (r);
      return NULL;
   }
   return r;
}

void
cli_wait_report_stop (cli_wait_report_t *r)
{
   if (!r) {
      return;
   }
   pthread_mutex_lock (&r->mu);
   r->stop = true;
   pthread_cond_signal (&r->cond);
   pthread_mutex_unlock (&r->mu);
   pthread_join (r->thread, NULL);
   if (r->shown) {
      fputs ("\r\033[K", stderr);
      fflush (stderr);
   }
   pthread_cond_destroy (&r->cond);
   pthread_mutex_destroy (&r->mu);
   bson_free (r);
}
