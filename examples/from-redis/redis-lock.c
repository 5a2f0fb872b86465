/* SPDX-License-Identifier: Apache-2.0 */
/* A Redis lock done correctly; see redis-lock.h. */
#include "redis-lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "invoice-job.h"

#define RENEW_LUA                                                                  \
   "if redis.call('get', KEYS[1]) == ARGV[1] then "                               \
   "return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
#define RELEASE_LUA                                                                \
   "if redis.call('get', KEYS[1]) == ARGV[1] then "                               \
   "return redis.call('del', KEYS[1]) else return 0 end"

static char host[256] = "127.0.0.1";
static int port = 6379;

/* Connects; every command then waits at most 2 s for its answer. */
redisContext *
redis_lock_connect (void)
{
   struct timeval tv = {2, 0};
   redisContext *c = redisConnectWithTimeout (host, port, tv);
   if (!c || c->err) {
      fprintf (stderr, "redis-lock: connect %s:%d: %s\n", host, port, c ? c->errstr : "out of memory");
      redisFree (c);
      return NULL;
   }
   redisSetTimeout (c, tv);
   return c;
}

static bool
new_token (char out[33])
{
   unsigned char raw[16];
   if (getrandom (raw, sizeof raw, 0) != (ssize_t) sizeof raw) {
      return false;
   }
   for (int i = 0; i < 16; i++) {
      snprintf (out + 2 * i, 3, "%02x", raw[i]);
   }
   return true;
}

/* SET NX PX until it succeeds or the wait runs out. 1: held, 0: busy for the whole wait,
 * -1: Redis failed (never reported as busy). */
static int
set_nx_until (redisContext *c, redis_lock_t *l, int wait_ms)
{
   int64_t deadline = job_now_ms () + wait_ms;
   for (int attempt = 0;; attempt++) {
      int64_t sent = job_now_ms ();
      redisReply *r = redisCommand (c, "SET %s %s NX PX %d", l->key, l->token, l->lease_ms);
      if (!r) {
         fprintf (stderr, "redis-lock: SET %s: %s\n", l->key, c->errstr);
         return -1;
      }
      int got = r->type == REDIS_REPLY_STATUS ? 1 : r->type == REDIS_REPLY_NIL ? 0 : -1;
      if (got < 0) {
         fprintf (stderr, "redis-lock: SET %s: %s\n", l->key, r->type == REDIS_REPLY_ERROR ? r->str : "odd reply");
      }
      freeReplyObject (r);
      if (got == 1) {
         l->sent_ms = sent;
      }
      int64_t left = deadline - job_now_ms ();
      if (got != 0 || left <= 0) {
         return got;
      }
      /* Full jitter: a random sleep in [0, min(100, 5 * 2^attempt)] ms, not past the deadline. */
      int64_t cap = attempt < 5 ? 5 << attempt : 100;
      int64_t nap = (int64_t) (random () % (cap + 1));
      job_sleep_ms (nap < left ? nap : left);
   }
}

/* The renewal thread: compare-and-PEXPIRE every third of the lease on its own connection
 * (a hiredis context is not thread-safe); after a failure, again every tenth of the lease
 * until the lease is gone by this process's clock. Sets lost when it cannot keep it. */
static void *
renew_loop (void *arg)
{
   redis_lock_t *l = arg;
   redisContext *c = NULL;
   int64_t next = l->sent_ms + l->lease_ms / 3;
   pthread_mutex_lock (&l->mu);
   while (!l->stop && !atomic_load (&l->lost)) {
      struct timespec ts = {(time_t) (next / 1000), (long) (next % 1000) * 1000000L};
      if (pthread_cond_timedwait (&l->cv, &l->mu, &ts) == 0 || l->stop) {
         continue;
      }
      pthread_mutex_unlock (&l->mu);
      int64_t sent = job_now_ms ();
      c = c ? c : redis_lock_connect ();
      redisReply *r = c ? redisCommand (c, "EVAL %s 1 %s %s %d", RENEW_LUA, l->key, l->token, l->lease_ms) : NULL;
      if (r && r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
         l->sent_ms = sent;
         next = sent + l->lease_ms / 3;
      } else if (r && r->type == REDIS_REPLY_INTEGER) {
         atomic_store (&l->lost, true); /* the key expired, and maybe someone else holds it */
      } else if (job_now_ms () >= l->sent_ms + l->lease_ms) {
         atomic_store (&l->lost, true); /* could not renew before the lease ran out */
      } else {
         next = job_now_ms () + l->lease_ms / 10;
         if (!r) { /* a broken context cannot be reused */
            redisFree (c);
            c = NULL;
         }
      }
      freeReplyObject (r);
      pthread_mutex_lock (&l->mu);
   }
   pthread_mutex_unlock (&l->mu);
   redisFree (c);
   return NULL;
}

static bool
start_renewer (redis_lock_t *l)
{
   pthread_condattr_t attr;
   pthread_condattr_init (&attr);
   pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
   pthread_cond_init (&l->cv, &attr);
   pthread_condattr_destroy (&attr);
   pthread_mutex_init (&l->mu, NULL);
   return pthread_create (&l->renewer, NULL, renew_loop, l) == 0;
}

static void
stop_renewer (redis_lock_t *l)
{
   pthread_mutex_lock (&l->mu);
   l->stop = true;
   pthread_cond_signal (&l->cv);
   pthread_mutex_unlock (&l->mu);
   pthread_join (l->renewer, NULL);
   pthread_cond_destroy (&l->cv);
   pthread_mutex_destroy (&l->mu);
}

/* Compare-and-DEL. False when the key was no longer ours (expired, maybe taken) or Redis failed. */
static bool
compare_and_del (redisContext *c, redis_lock_t *l)
{
   redisReply *r = redisCommand (c, "EVAL %s 1 %s %s", RELEASE_LUA, l->key, l->token);
   bool ok = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
   if (!ok) {
      fprintf (stderr, "redis-lock: release %s: %s\n", l->key,
               !r ? c->errstr : r->type == REDIS_REPLY_ERROR ? r->str : "the lock had expired");
   }
   freeReplyObject (r);
   return ok;
}

bool
redis_lock_set_addr (const char *addr)
{
   const char *colon = strrchr (addr, ':');
   int p = colon ? atoi (colon + 1) : 0;
   if (!colon || colon == addr || (size_t) (colon - addr) >= sizeof host || p <= 0 || p > 65535) {
      return false;
   }
   snprintf (host, sizeof host, "%.*s", (int) (colon - addr), addr);
   port = p;
   return true;
}

int
redis_lock_acquire (redisContext *c, redis_lock_t *l, const char *key, int lease_ms, int wait_ms)
{
   *l = (redis_lock_t) {.key = key, .lease_ms = lease_ms};
   if (!new_token (l->token)) {
      return -1;
   }
   int got = set_nx_until (c, l, wait_ms);
   if (got == 1 && !start_renewer (l)) {
      compare_and_del (c, l);
      return -1;
   }
   return got;
}

bool
redis_lock_release (redisContext *c, redis_lock_t *l)
{
   stop_renewer (l);
   bool ok = !atomic_load (&l->lost);
   if (!ok) {
      /* Too late to undo: the job may have overlapped another holder's. Redis gives no
       * fencing token that the job's own write could have been made conditional on. */
      fprintf (stderr, "redis-lock: lost %s during the hold\n", l->key);
   }
   return compare_and_del (c, l) && ok;
}
