/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers for the guard's live tests. */
#ifndef GUARD_TEST_H
#define GUARD_TEST_H

#include <mongolock/mongolock.h>
#include <pthread.h>

#include "../live/lock-test.h"

/* A lock client for a loopback port nobody listens on (bound, read, closed), with the given
 * server selection timeout (ms) and a short connect timeout: the lock store is unreachable
 * for real. */
mongolock_client_t *gt_unreachable_client_with (int64_t server_selection_ms);

/* gt_unreachable_client_with (300). */
mongolock_client_t *gt_unreachable_client (void);

/* Records warnings from a guard (thread-safe). */
typedef struct {
   pthread_mutex_t mu;
   int count;
   char last_key[128];
   char last_message[512];
} gt_warnings_t;

void gt_warnings_init (gt_warnings_t *w);
void gt_warnings_cb (const char *key, const char *message, void *data);
int gt_warnings_count (gt_warnings_t *w);

/* A guard on c with the given degraded mode, lease and wait; events and warnings optional. */
mongolock_guard_t *gt_guard (mongolock_client_t *c,
                             mongolock_guard_degraded_t degraded,
                             int64_t lease_ms,
                             int64_t wait_ms,
                             lt_events_t *events,
                             gt_warnings_t *warnings);

/* A business collection db.name on a new single-threaded client (*mc receives it). */
mongoc_collection_t *gt_collection (const char *db, const char *name, mongoc_client_t **mc);

/* Number of documents in coll matching the relaxed-JSON filter. */
int64_t gt_count (mongoc_collection_t *coll, const char *filter_json);

/* A barrier shared by forked processes (lives in MAP_SHARED memory). */
typedef struct {
   pthread_barrier_t barrier;
} gt_barrier_t;

gt_barrier_t *gt_barrier_new (unsigned n);
void gt_barrier_wait (gt_barrier_t *b);
void gt_barrier_free (gt_barrier_t *b);

#endif
