/* SPDX-License-Identifier: Apache-2.0 */
/* Internal layout of mongolock_semaphore_t (lib/semaphore.c, lib/shapes/semaphore.c). */
#ifndef MONGOLOCK_SEMAPHORE_PRIVATE_H
#define MONGOLOCK_SEMAPHORE_PRIVATE_H

#include "engine/engine-private.h"
#include <mongolock/mongolock-semaphore.h>

/* The semaphore shape's data for one handle. */
typedef struct {
   const char *key; /* the handle's key (h.key); first: shapes/holders.c reads it */
   int32_t permits;
} _mongolock_sem_self_t;

struct _mongolock_semaphore_t {
   _mongolock_handle_t h;
   _mongolock_sem_self_t self;
};

/* Documents {_id: key, kind: "semaphore", permits, holders: [...], token, expiresAt}. */
extern const _mongolock_shape_t _mongolock_semaphore_shape;

#endif
