/* SPDX-License-Identifier: Apache-2.0 */
/* Internal layout of document locks (mongolock-doc.h): the engine's handle on the
 * document shape (lib/shapes/doc.c). */
#ifndef MONGOLOCK_DOC_PRIVATE_H
#define MONGOLOCK_DOC_PRIVATE_H

#include "engine/engine-private.h"

/* Lock field names. */
typedef struct {
   char *owner, *expiry, *token;
} _mongolock_doc_fields_t;

struct _mongolock_doc_lock_opts_t {
   mongolock_lock_opts_t *lock; /* lease, wait, backoff, renew, events, cancel */
   _mongolock_doc_fields_t f;
};

/* The shape's data for one handle (the engine's self). */
typedef struct {
   char *collection;
   bson_value_t id;
   _mongolock_doc_fields_t f;
   bson_t *doc; /* the post-image of the acquire that took the lock; written by the shape */
} _mongolock_doc_self_t;

struct _mongolock_doc_lock_t {
   _mongolock_handle_t h;
   _mongolock_doc_self_t self;
};

/* The document shape: lock fields inside business documents. */
extern const _mongolock_shape_t _mongolock_doc_shape;

/* Sets dst to copies of the names / frees them. */
void
_mongolock_doc_fields_set (_mongolock_doc_fields_t *dst, const char *owner, const char *expiry, const char *token);
void
_mongolock_doc_fields_free (_mongolock_doc_fields_t *f);

/* Commands of the document shape beyond the engine's (lib/shapes/doc.c). Each returns a
 * new command, the caller's; NULL with INVALID_ARGUMENT when update is refused. */
bson_t *
_mongolock_doc_fenced_update_cmd (const _mongolock_doc_self_t *s, const char *owner, int64_t token,
                                  const bson_t *update, int flags, bool release, bson_error_t *error);
bson_t *
_mongolock_doc_exists_cmd (const _mongolock_doc_self_t *s);
bson_t *
_mongolock_doc_list_cmd (const char *collection, const _mongolock_doc_fields_t *f, int64_t limit);

#endif
