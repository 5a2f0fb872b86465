/* SPDX-License-Identifier: Apache-2.0 */
/* The benchmarks' reference point: the smallest lock a developer would write by hand with
 * libmongoc. Acquire is one findAndModify upsert on {_id: key, expiresAt <= client now};
 * a live lock of someone else makes the upsert insert a duplicate _id (E11000): busy.
 * Release is one deleteOne on {_id: key, owner}. No fencing token, the client's clock
 * decides expiry, no renewal, no deadline beyond the driver's timeouts: what mongolock
 * adds is measured against it. */
#ifndef MONGOLOCK_BENCH_MINIMAL_LOCK_H
#define MONGOLOCK_BENCH_MINIMAL_LOCK_H

#include <mongoc/mongoc.h>

/* 1 acquired, 0 busy, -1 failed (error set). coll: borrowed; its write concern is used. */
int
minimal_lock_acquire (mongoc_collection_t *coll, const char *key, const char *owner, int64_t lease_ms,
                      bson_error_t *error);

/* 1 released, 0 not held by owner, -1 failed (error set). */
int
minimal_lock_release (mongoc_collection_t *coll, const char *key, const char *owner, bson_error_t *error);

#endif
