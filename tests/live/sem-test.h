/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for the semaphore's and the reader/writer lock's live tests. */
#ifndef SEM_TEST_H
#define SEM_TEST_H

#include <stdio.h>

#include "lock-test.h"

/* A semaphore handle with the given permits, lease (ms), wait (ms) and LT_* flags; events
 * to ev when not NULL (with LT_RENEW: auto-renewed). Asserts it was created. */
mongolock_semaphore_t *st_sem (mongolock_client_t *c, const char *key, int permits, int64_t lease_ms, int64_t wait_ms,
                               int flags, lt_events_t *ev);

/* try_acquire that asserts no error; returns whether acquired. */
bool st_try (mongolock_semaphore_t *s);

/* The semaphore's document as stored (asserts it exists); caller destroys. */
bson_t *st_doc (const char *db, const char *key);

/* Number of entries in the document's holders array. */
int st_holders (const char *db, const char *key);

/* A reader/writer handle in mode with the given lease (ms), wait (ms) and LT_* flags;
 * events to ev when not NULL (with LT_RENEW: auto-renewed). Asserts it was created. */
mongolock_rwlock_t *st_rw (mongolock_client_t *c, const char *key, mongolock_rwlock_mode_t mode, int64_t lease_ms,
                           int64_t wait_ms, int flags, lt_events_t *ev);

/* mongolock_rwlock_try_acquire that asserts no error; returns whether acquired. */
bool st_rw_try (mongolock_rwlock_t *rw);

/* A sem-worker process run under libfaketime (the skew tests), read line by line. */
typedef struct {
   FILE *f;
   char line[512];
} st_worker_t;

/* Starts sem-worker under faketime with the given offset ("+1h", "-1h") on key "skewed" of
 * db: kind is a permit count ("2": a semaphore) or "r" / "w" (a reader/writer lock in that
 * mode); lease, wait and hold in ms (see sem-worker.c). Asserts faketime is installed. */
void st_worker_start (st_worker_t *w, const char *offset, const char *db, const char *kind, int64_t lease,
                      int64_t wait, int64_t hold);

/* The worker's next line without its newline (asserts there is one); valid until the next call. */
const char *st_worker_line (st_worker_t *w);

/* Waits for the worker and asserts it exited with 0. */
void st_worker_end (st_worker_t *w);

#endif
