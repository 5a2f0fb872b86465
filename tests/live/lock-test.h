/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers for the lock's live tests. */
#ifndef LOCK_TEST_H
#define LOCK_TEST_H

#include <mongolock/mongolock.h>
#include <pthread.h>
#include <sys/types.h>

#include "live.h"
#include "proxy.h"

/* A lock client on the server under test, using a fresh database whose name is written to
 * *db (caller frees with bson_free; NULL to ignore). */
mongolock_client_t *lt_client (char **db);

/* A lock client for uri (borrowed) whose lock collection lives in database db (borrowed). */
mongolock_client_t *lt_client_at (const char *uri, const char *db);

/* Reads the two int64 a forked holder writes on fd once it holds (its send time and its
 * token), then SIGKILLs it and reaps it, asserting each step. */
void lt_read_then_kill (int fd, pid_t child, int64_t msg[2]);

/* The same with the client's timeout set to timeout_ms (0: the default). */
mongolock_client_t *lt_client_timeout_at (const char *uri, const char *db, int64_t timeout_ms);

/* A lock client for db that reaches the server through the proxy, with extra URI options
 * (may be NULL) and the client's timeout (0: the default). */
mongolock_client_t *lt_proxied_client (mltest_proxy_t *px, const char *db, const char *options, int64_t timeout_ms);

/* A handle with the given lease (ms), wait (ms) and flags. */
enum { LT_RENEW = 1, LT_REENTRANT = 2 };
mongolock_lock_t *lt_lock (mongolock_client_t *c, const char *key, int64_t lease_ms, int64_t wait_ms, int flags);

typedef struct lt_events lt_events_t;

/* An auto-renewed handle whose events go to ev (lt_events_cb). */
mongolock_lock_t *lt_renewing_lock (mongolock_client_t *c, const char *key, int64_t lease_ms, int64_t wait_ms,
                                    lt_events_t *ev);

/* try_acquire that asserts no error; returns whether acquired. */
bool lt_try (mongolock_lock_t *l);

/* Records events; thread-safe (the renewal thread delivers some). */
struct lt_events {
   pthread_mutex_t mu;
   pthread_cond_t cond;
   int count[16];
   int64_t last_wait_ms;
   int last_attempts;
   uint32_t last_error_code;
   char last_error[512]; /* message of the last event that had an error */
   char wait_mode[32];   /* of the last MONGOLOCK_EVENT_WAIT_MODE, "" before any */
};

void lt_events_init (lt_events_t *ev);
void lt_events_cb (const mongolock_event_t *event, void *data);
/* Waits up to timeout_ms for at least n events of type; returns the count seen. */
int lt_events_wait (lt_events_t *ev, mongolock_event_type_t type, int n, int64_t timeout_ms);
int lt_events_count (lt_events_t *ev, mongolock_event_type_t type);

/* Drops the client's database and destroys it. */
void lt_cleanup (mongolock_client_t *c, char *db);

#endif
