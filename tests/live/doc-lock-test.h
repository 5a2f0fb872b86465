/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers for the document lock's live tests. */
#ifndef DOC_LOCK_TEST_H
#define DOC_LOCK_TEST_H

#include "lock-test.h"

/* A lock client (its own lock database) and a business database "<...>_biz" whose
 * collection "users" the tests lock documents in. */
typedef struct {
   mongolock_client_t *c;
   mongoc_client_t *mc; /* plain driver client for setup and checks */
   char *lockdb;
   char *db;
} dlt_env_t;

void dlt_setup (dlt_env_t *e);
void dlt_teardown (dlt_env_t *e);

/* Inserts a document (relaxed JSON, single quotes allowed) into db.users. */
void dlt_insert (dlt_env_t *e, const char *json);

/* The document of db.users with _id id (int32), or NULL; the caller destroys it. */
bson_t *dlt_find (dlt_env_t *e, int32_t id);

/* A doc lock on db.users {_id: id (int32)} through client c. ev, cancel, fields: optional
 * (fields: owner, expiry, token names). */
enum { DLT_RENEW = 1, DLT_REENTRANT = 2, DLT_UNTIL_EXPIRY = 4 };
mongolock_doc_lock_t *dlt_lock (mongolock_client_t *c, const char *db, int32_t id, int64_t lease_ms, int64_t wait_ms,
                                int flags, lt_events_t *ev, mongolock_cancel_t *cancel, const char *const *fields);

/* try_acquire asserting no error; returns whether acquired. */
bool dlt_try (mongolock_doc_lock_t *l);

/* The int64 (any number type) at key in doc, or -1 when missing. */
int64_t dlt_int (const bson_t *doc, const char *key);

/* Whether doc has key. */
bool dlt_has (const bson_t *doc, const char *key);

#endif
