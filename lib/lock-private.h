/* Internal layout of mongolock_lock_t, its options and events. */
#ifndef MONGOLOCK_LOCK_PRIVATE_H
#define MONGOLOCK_LOCK_PRIVATE_H

#include "client-private.h"

struct _mongolock_lock_opts_t {
   int64_t lease_ms;
   int64_t wait_ms;
   int64_t backoff_base_ms;
   int64_t backoff_cap_ms;
   bool auto_renew;
   bool reentrant;
   mongolock_event_cb_t cb;
   void *cb_data;
};

struct _mongolock_event_t {
   mongolock_event_type_t type;
   const char *key;
   int64_t token;
   int64_t wait_ms;
   int64_t hold_ms;
   int attempts;
   const bson_error_t *error;
};

/* State shared between the caller's thread and the renewal thread, under mu. */
typedef struct {
   pthread_mutex_t mu;
   pthread_cond_t cond;
   bool held;
   int64_t token;
   int64_t expiry_ms;   /* monotonic: send time of the last acquire/renew + lease */
   int64_t acquired_ms; /* monotonic */
   bool stop;           /* asks the renewal threads to exit */
   bool renew_failed;   /* the last renew command failed (network, server error) */
   bson_error_t renew_error; /* ... with this error */
} _mongolock_lease_t;

struct _mongolock_lock_t {
   mongolock_client_t *client;
   char *key;
   char *owner;       /* identity/nonce, then identity/nonce.generation: see next_owner */
   char nonce[17];
   unsigned generation;
   mongolock_lock_opts_t opts;
   uint64_t rng;
   int count; /* reentrant holds; 1 when held without reentrancy */
   _mongolock_lease_t *lease;
   /* Automatic renewal: the renewer sends renew commands; the watchdog alone declares the
    * lease lost when it runs out by the client's clock, so LOST fires on time even while
    * the renewer is stuck in a command on a partitioned network. */
   pthread_t renewer;
   pthread_t watchdog;
   bool renewer_running;
};

/* Delivers an event to the handle's callback, if any. */
void
_mongolock_emit (const mongolock_lock_t *lock,
                 mongolock_event_type_t type,
                 int64_t token,
                 int64_t wait_ms,
                 int64_t hold_ms,
                 int attempts,
                 const bson_error_t *error);

/* Full-jitter backoff: a value in [0, min(cap, base * 2^attempt)] drawn from *rng. */
int64_t
_mongolock_backoff_ms (uint64_t *rng, int attempt, int64_t base_ms, int64_t cap_ms);

/* Bounds a sleep by the time left before the deadline and (when holder_left_ms >= 0) by
 * the holder's remaining lease plus a small margin. Never negative. */
int64_t
_mongolock_backoff_clamp (int64_t sleep_ms, int64_t deadline_left_ms, int64_t holder_left_ms);

/* xorshift64* step; *state must be non-zero. */
uint64_t
_mongolock_rand_next (uint64_t *state);

/* Sends one renew command. Returns true and sets *renewed: true when the lease was
 * extended (and the lease state updated), false when the server no longer records this
 * handle as holder. Returns false with error when the command failed. */
bool
_mongolock_lock_renew_once (mongolock_lock_t *lock, bool *renewed, bson_error_t *error);

/* Starts/stops the renewal threads (renewer and watchdog). */
bool
_mongolock_renewer_start (mongolock_lock_t *lock, bson_error_t *error);
void
_mongolock_renewer_stop (mongolock_lock_t *lock);

#endif
