/* SPDX-License-Identifier: Apache-2.0 */
/* Internal declarations shared by lib/ files. Not installed. */
#ifndef MONGOLOCK_PRIVATE_H
#define MONGOLOCK_PRIVATE_H

#include <mongolock/mongolock.h>

#include <pthread.h>

/* Sets error (when non-NULL) in MONGOLOCK_ERROR_DOMAIN. */
void
_mongolock_set_error (bson_error_t *error, mongolock_error_code_t code, const char *fmt, ...)
   BSON_GNUC_PRINTF (3, 4);

/* Monotonic clock in milliseconds. */
int64_t
_mongolock_now_ms (void);

/* Sleeps ms milliseconds (restarting after signals). */
void
_mongolock_sleep_ms (int64_t ms);

/* True when s is a non-empty, valid UTF-8 string of at most max_bytes bytes. */
bool
_mongolock_check_string (const char *what, const char *s, size_t max_bytes, bson_error_t *error);

/* True when lo <= v <= hi, else sets an INVALID_ARGUMENT error naming what. */
bool
_mongolock_check_range (const char *what, int64_t v, int64_t lo, int64_t hi, bson_error_t *error);

/* MongoDB's naming rules (names.c): a database name, a collection name, and the two
 * joined as "<db>.<coll>". Each sets an INVALID_ARGUMENT error saying what is wrong. */
bool
_mongolock_check_db_name (const char *name, bson_error_t *error);
bool
_mongolock_check_coll_name (const char *name, bson_error_t *error);
bool
_mongolock_check_namespace (const char *db, const char *coll, bson_error_t *error);

/* Zeroed memory aligned to align (a power of two): for structs with bson_t members,
 * which libbson declares 128-byte aligned. Aborts when out of memory; free with free(). */
void *
_mongolock_aligned_alloc0 (size_t align, size_t size);

/* Fills buf (2*n+1 bytes) with 2*n hex digits of n random bytes from OpenSSL. */
bool
_mongolock_random_hex (char *buf, size_t n, bson_error_t *error);

#endif
