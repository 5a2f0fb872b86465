/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the shapes that keep a list of holders in one document per key:
 * {_id: key, kind, holders: [{owner, token, acquiredAt, expiresAt[, mode]}], token,
 * expiresAt, ...} (semaphore.c, rwlock.c). */
#ifndef MONGOLOCK_SHAPES_PRIVATE_H
#define MONGOLOCK_SHAPES_PRIVATE_H

#include "../engine/engine-private.h"

/* Parses a constant JSON template written with single quotes; aborts on a bad one. */
bson_t *
_mongolock_shape_json (const char *tmpl);

/* {cmd_name: collection, <template's fields, its query prefixed by _id: key>, let: let}.
 * let: borrowed, copied. Returns the caller's command. */
bson_t *
_mongolock_shape_command (const char *cmd_name, const char *collection, const char *key, const char *tmpl,
                          const bson_t *let);

/* The renew and release commands of holder (me, token) of a holders shape (semaphore,
 * rwlock): each matches and changes only that entry. Shape callbacks (renew_cmd,
 * release_cmd) for both: their self is a struct whose first member is the key
 * (const char *). Return the caller's command. */
bson_t *
_mongolock_holders_renew_cmd (const void *self, mongolock_client_t *client, const char *me, int64_t token,
                              int64_t lease_ms);
bson_t *
_mongolock_holders_release_cmd (const void *self, mongolock_client_t *client, const char *me, int64_t token);

/* What a holders document says. */
typedef struct {
   char kind[16];          /* "" when missing */
   bool named_owner;       /* a top-level owner: a named lock took the key */
   int64_t permits;        /* 0 when missing */
   int64_t expires_ms;     /* the document's expiresAt, 0 when missing */
   int count;              /* entries in holders */
   int writers;            /* entries with mode "w" */
   bool mine;              /* an entry has owner me */
   int64_t my_token;       /* its token */
   int64_t min_expires_ms; /* the earliest entry's expiry; -1 without entries */
} _mongolock_holders_t;

/* Reads the post-image of an acquire (reply.value). */
bool
_mongolock_holders_find (const bson_t *reply, const char *me, _mongolock_holders_t *out, bson_error_t *error);

#endif
