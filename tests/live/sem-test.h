/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for the semaphore's live tests. */
#ifndef SEM_TEST_H
#define SEM_TEST_H

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

#endif
