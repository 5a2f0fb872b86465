/* SPDX-License-Identifier: Apache-2.0 */
/* Internal layout of mongolock_lock_t, its options and events. */
#ifndef MONGOLOCK_LOCK_PRIVATE_H
#define MONGOLOCK_LOCK_PRIVATE_H

#include "engine/engine-private.h"

/* The named shape's data for one handle (its self): the key and the parts of its
 * commands that never change for the handle, built once (lib/shapes/named.c). */
typedef struct {
   const char *key;        /* borrowed from the handle */
   const char *collection; /* borrowed from the client */
   int64_t lease_ms;
   bson_t *acquire;        /* the acquire command without its let */
   bson_t *expires;        /* the let's e: {$add: ["$$NOW", lease_ms]} */
   bson_t *renew_update;   /* renew's update pipeline */
   bson_t *release_update; /* release's update pipeline */
   bson_t *fair_acquire;   /* fair mode: the queueing acquire without its let; NULL: not fair */
   const char *identity;   /* fair mode: the client's identity (borrowed), in queue entries */
} _mongolock_named_t;

/* Tokens are max(previous + 1, serverNowMs * 2^20): see mongolock_lock_token. */
#define _MONGOLOCK_TOKEN_TIME_SCALE 1048576

/* Builds n's commands for key (borrowed: it must outlive n) in client's lock collection,
 * with leases of lease_ms. */
void
_mongolock_named_init (_mongolock_named_t *n, const mongolock_client_t *client, const char *key, int64_t lease_ms);

void
_mongolock_named_cleanup (_mongolock_named_t *n);

/* Fair mode (lib/shapes/named-fair.c): builds n's queueing acquire and its release that
 * names the next owner; call after _mongolock_named_init. */
void
_mongolock_named_set_fair (_mongolock_named_t *n, const mongolock_client_t *client);

/* The fair acquire's parts used by named.c: the command for owner me (join: a waiting
 * acquire queues when busy), the queue read from a reply's lock document (value), and
 * the command that removes me's entry. Each command returned is the caller's. */
bson_t *
_mongolock_named_fair_cmd (const _mongolock_named_t *n, const char *me, bool join);
void
_mongolock_named_fair_parse_queue (bson_iter_t *queue, const char *me, _mongolock_attempt_t *res);
bson_t *
_mongolock_named_dequeue_cmd (const _mongolock_named_t *n, const char *me);

/* A named lock: the engine's handle on the named-lock shape (lib/shapes/named.c). */
struct _mongolock_lock_t {
   _mongolock_handle_t h;
   _mongolock_named_t named;
};

/* Whether a waiting acquire tries again after transient errors (default true). The
 * fail-open guard turns it off: it falls back to its local mutex at the first one. */
void
_mongolock_lock_set_retry_transient (mongolock_lock_t *lock, bool retry);

/* The named-lock shape: documents {_id: key, owner, token, expiresAt, ...} in the
 * client's lock collection. self is a _mongolock_named_t. */
extern const _mongolock_shape_t _mongolock_named_shape;

#endif
