/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A Redis lock done correctly, as the Redis documentation's single-instance pattern
 * describes it; the code a migration to mongolock deletes. Used by before-redis.c (the
 * "before" program) and cutover.c (both locks during the move).
 *
 *   take:    SET key <random token> NX PX <lease>, retried with jittered backoff until a
 *            deadline;
 *   renew:   a thread runs a Lua compare-and-PEXPIRE every third of the lease (a bare
 *            PEXPIRE would extend whoever holds the key, even after it expired and another
 *            process took it);
 *   release: a Lua compare-and-DEL (a bare DEL would delete another holder's lock).
 *
 * What it cannot give, however carefully written: a fencing token, expiry by one clock
 * that all agree on, and a lock that survives a failover (replication is asynchronous).
 * See docs/from-redis.md. (It borrows job_now_ms and job_sleep_ms from invoice-job.c.)
 */
#ifndef REDIS_LOCK_H
#define REDIS_LOCK_H

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* One hold of one key. Fields are private to redis-lock.c. */
typedef struct {
   const char *key;
   char token[33];  /* 128 random bits: this hold and no other */
   int lease_ms;
   int64_t sent_ms; /* when the last successful SET / renew was sent: the lease runs from there */
   pthread_t renewer;
   pthread_mutex_t mu;
   pthread_cond_t cv;
   bool stop;
   atomic_bool lost;
} redis_lock_t;

/* Sets the server, "HOST:PORT" (default 127.0.0.1:6379). False when malformed. */
bool
redis_lock_set_addr (const char *addr);

/* A new connection (the caller frees it with redisFree); every command on it waits at most
 * 2 s for its answer. NULL (with a message on stderr) when Redis cannot be reached. */
redisContext *
redis_lock_connect (void);

/*
 * Takes the lock on key (borrowed; must outlive the hold) with SET NX PX, waiting up to
 * wait_ms with backoff, and starts the renewal thread. Returns 1 when held, 0 when others
 * held it for the whole wait, -1 when Redis failed (never reported as busy).
 */
int
redis_lock_acquire (redisContext *c, redis_lock_t *l, const char *key, int lease_ms, int wait_ms);

/*
 * Stops the renewal thread and releases with compare-and-DEL. Returns false (with a
 * message on stderr) when the lock was lost at any point of the hold (renewal failed, or
 * the key had expired), or when Redis failed: the job may then have overlapped another
 * holder's.
 */
bool
redis_lock_release (redisContext *c, redis_lock_t *l);

#endif /* REDIS_LOCK_H */
