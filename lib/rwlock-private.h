/* SPDX-License-Identifier: Apache-2.0 */
/* Internal layout of mongolock_rwlock_t (lib/rwlock.c, lib/shapes/rwlock.c). */
#ifndef MONGOLOCK_RWLOCK_PRIVATE_H
#define MONGOLOCK_RWLOCK_PRIVATE_H

#include "engine/engine-private.h"
#include <mongolock/mongolock-rwlock.h>

/* The reader/writer shape's data for one handle. */
typedef struct {
   const char *key; /* the handle's key (h.key); first: shapes/holders.c reads it */
   mongolock_rwlock_mode_t mode;
} _mongolock_rw_self_t;

struct _mongolock_rwlock_t {
   _mongolock_handle_t h;
   _mongolock_rw_self_t self;
};

/* Documents {_id: key, kind: "rwlock", holders: [...], waiting: [...], token, expiresAt}. */
extern const _mongolock_shape_t _mongolock_rwlock_shape;

#endif
