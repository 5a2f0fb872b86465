/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MONGOLOCK_ERROR_H
#define MONGOLOCK_ERROR_H

/**
 * @file
 * @brief Errors: the mongolock error domain and its codes.
 */

#include <bson/bson.h>

#include <mongolock/mongolock-macros.h>

MONGOLOCK_BEGIN_DECLS

/**
 * @brief The bson_error_t domain of mongolock's own errors ("ML").
 *
 * Errors are reported through bson_error_t. mongolock's own errors use
 * MONGOLOCK_ERROR_DOMAIN and a mongolock_error_code_t; errors from the driver or the
 * server pass through unchanged with their own domain and code (for example
 * MONGOC_ERROR_SERVER_SELECTION when the server cannot be reached, or MONGOC_ERROR_SERVER
 * with the server's code).
 *
 * Contention is never an error: "another holder has the lock" is reported through an
 * out-parameter (see mongolock_lock_try_acquire). Only a wait that ran out of time while
 * others held the lock is an error (MONGOLOCK_ERROR_TIMEOUT); a deadline that passed
 * without an answer from the server is MONGOLOCK_ERROR_STORE_TIMEOUT, never TIMEOUT.
 */
#define MONGOLOCK_ERROR_DOMAIN 0x4d4c /* "ML" */

/** @brief The codes of errors in #MONGOLOCK_ERROR_DOMAIN. */
typedef enum {
   /** A NULL, empty, malformed or out-of-range argument; the message names it. */
   MONGOLOCK_ERROR_INVALID_ARGUMENT = 1,
   /** mongolock_lock_acquire waited until its deadline without getting the lock. */
   MONGOLOCK_ERROR_TIMEOUT = 2,
   /** The lease was lost: the server no longer records this handle as the holder (it
    * expired and someone else took it, or an administrator broke it). */
   MONGOLOCK_ERROR_LOST = 3,
   /** renew or release on a handle that does not hold its lock. */
   MONGOLOCK_ERROR_NOT_HELD = 4,
   /** A non-reentrant handle tried to acquire the lock it already holds. */
   MONGOLOCK_ERROR_WOULD_DEADLOCK = 5,
   /** The server replied with something mongolock cannot interpret. */
   MONGOLOCK_ERROR_PROTOCOL = 6,
   /** A unique index cannot be built: the collection already holds duplicates. */
   MONGOLOCK_ERROR_DUPLICATES = 7,
   /** An index with the same name or key but different options already exists. */
   MONGOLOCK_ERROR_INDEX_CONFLICT = 8,
   /** A caller's callback reported failure (its error is passed through when it set one). */
   MONGOLOCK_ERROR_CALLBACK = 9,
   /** An internal failure: out of memory, thread creation, random source. */
   MONGOLOCK_ERROR_INTERNAL = 10,
   /** The lock store gave no answer before the call's deadline (unreachable, hung or too
    * slow). Never a sign of contention: nothing is known about who holds the lock. A
    * command abandoned at its deadline may still land on the server; see each call. */
   MONGOLOCK_ERROR_STORE_TIMEOUT = 11,
   /** The call was cancelled through its mongolock_cancel_t. */
   MONGOLOCK_ERROR_CANCELLED = 12,
   /** The lease is too short for this connection: after acquiring (and one immediate
    * renewal) less than half of it was left, so it could not be kept. The lock was
    * released. Use a longer lease. */
   MONGOLOCK_ERROR_LEASE_TOO_SHORT = 13,
   /** A document lock's document does not exist (mongolock-doc.h): the lock never
    * creates it. Not contention: no wait is spent on it. */
   MONGOLOCK_ERROR_NOT_FOUND = 14,
   /** The key is in use as a lock of another kind (a named lock, a semaphore, a
    * reader/writer lock), or as a semaphore with another number of permits, while it has
    * a live holder: the handle never joins it (no silent mix). Not contention: no wait is
    * spent on it. Once every holder is gone the key may be used as anything. */
   MONGOLOCK_ERROR_MISMATCH = 15,
} mongolock_error_code_t;

/**
 * @brief A static, human-readable name for a mongolock error code.
 * @param code  A #mongolock_error_code_t value (any int is accepted).
 * @return "TIMEOUT", "LOST", ... for a mongolock code, "UNKNOWN" for any other value: a
 *         static string, never NULL, never freed.
 *
 * Errors: none. Thread safety: any thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT const char *
mongolock_error_code_name (int code);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_ERROR_H */
