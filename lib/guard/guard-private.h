/* SPDX-License-Identifier: Apache-2.0 */
/* Internal layout of the duplicate-creation guard. */
#ifndef MONGOLOCK_GUARD_PRIVATE_H
#define MONGOLOCK_GUARD_PRIVATE_H

#include "../lock-private.h"

/* Tri-state of the secret in the options. */
typedef enum {
   _MONGOLOCK_SECRET_FROM_ENV = 0,
   _MONGOLOCK_SECRET_NONE,
   _MONGOLOCK_SECRET_GIVEN,
} _mongolock_secret_source_t;

struct _mongolock_guard_opts_t {
   int64_t lease_ms;
   int64_t wait_ms;
   bool auto_renew;
   mongolock_guard_degraded_t degraded;
   int64_t store_retry_ms;
   _mongolock_secret_source_t secret_source;
   unsigned char *secret;
   size_t secret_len;
   mongolock_event_cb_t event_cb;
   void *event_data;
   mongolock_guard_warning_cb_t warning_cb;
   void *warning_data;
};

/* One key's process-local mutex and warning throttle. */
typedef struct _mongolock_local_entry_t {
   struct _mongolock_local_entry_t *next;
   char *key;
   bool held;
   int users;            /* holders and waiters */
   int64_t last_warn_ms; /* monotonic; -1 never */
   pthread_cond_t cond;
} _mongolock_local_entry_t;

#define _MONGOLOCK_LOCAL_BUCKETS 64

/* Keyed process-local mutexes for fail-open runs, with a per-key warning throttle. */
typedef struct {
   pthread_mutex_t mu;
   _mongolock_local_entry_t *buckets[_MONGOLOCK_LOCAL_BUCKETS];
   size_t count;
   int64_t warn_interval_ms;
} _mongolock_local_table_t;

struct _mongolock_guard_t {
   mongolock_client_t *client;
   int64_t lease_ms;
   int64_t wait_ms;
   bool auto_renew;
   mongolock_guard_degraded_t degraded;
   unsigned char *secret; /* NULL: plain SHA-256 */
   size_t secret_len;
   mongolock_event_cb_t event_cb;
   void *event_data;
   mongolock_guard_warning_cb_t warning_cb;
   void *warning_data;
   _mongolock_local_table_t local;
   int64_t store_retry_ms;
   /* Fail-open: the store was found unreachable; skip it until store_down_until_ms
    * (monotonic, 0 when not marked). Under store_mu. */
   pthread_mutex_t store_mu;
   int64_t store_down_until_ms;
   bson_error_t store_error;
};

void
_mongolock_local_init (_mongolock_local_table_t *t);
void
_mongolock_local_destroy (_mongolock_local_table_t *t);

/* Takes key's local mutex, waiting at most wait_ms. Returns false on timeout. */
bool
_mongolock_local_lock (_mongolock_local_table_t *t, const char *key, int64_t wait_ms);
void
_mongolock_local_unlock (_mongolock_local_table_t *t, const char *key);

/* True (and records now) when key has not warned within the table's interval. */
bool
_mongolock_local_warn_due (_mongolock_local_table_t *t, const char *key);

/* For tests: shortens the warning interval of a guard. */
void
_mongolock_guard_set_warning_interval_ms (mongolock_guard_t *guard, int64_t ms);

/* Number of entries in the local table (for tests). */
size_t
_mongolock_local_count (_mongolock_local_table_t *t);

/* True for errors meaning "the store could not be reached": server selection and network. */
bool
_mongolock_is_unreachable (const bson_error_t *error);

/* True when error carries the server's code (any server-error domain, error API 1 or 2). */
bool
_mongolock_is_server_code (const bson_error_t *error, uint32_t code);

/* Reads {leaseMs, waitMs} (and, when allowed, namespace and principal) from opts. */
typedef struct {
   int64_t lease_ms;
   int64_t wait_ms;
   const char *ns;        /* borrowed from opts, NULL when absent */
   const char *principal; /* borrowed from opts, NULL when absent */
} _mongolock_call_opts_t;

bool
_mongolock_call_opts_parse (const mongolock_guard_t *guard,
                            const bson_t *opts,
                            bool allow_key_fields,
                            _mongolock_call_opts_t *out,
                            bson_error_t *error);

/* Appends {leaseMs, waitMs} of call to out (the per-call opts of mongolock_guard_run). */
void
_mongolock_call_opts_append (const _mongolock_call_opts_t *call, bson_t *out);

#endif
