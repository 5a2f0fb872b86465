/* Internal layout of mongolock_lock_t, its options and events. */
#ifndef MONGOLOCK_LOCK_PRIVATE_H
#define MONGOLOCK_LOCK_PRIVATE_H

#include "engine/engine-private.h"

/* A named lock: the engine's handle on the named-lock shape (lib/shapes/named.c). */
struct _mongolock_lock_t {
   _mongolock_handle_t h;
};

/* Whether a waiting acquire tries again after transient errors (default true). The
 * fail-open guard turns it off: it falls back to its local mutex at the first one. */
void
_mongolock_lock_set_retry_transient (mongolock_lock_t *lock, bool retry);

/* The named-lock shape: documents {_id: key, owner, token, expiresAt, ...} in the
 * client's lock collection. self is the key (a NUL-terminated string). */
extern const _mongolock_shape_t _mongolock_named_shape;

#endif
