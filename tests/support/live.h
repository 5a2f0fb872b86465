/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the live test suites. Every live test reads MONGOLOCK_TEST_URI, so
 * the same binary runs against the bundled test server or a real MongoDB. */
#ifndef MLTEST_LIVE_H
#define MLTEST_LIVE_H

#include <mongoc/mongoc.h>

/* The server under test (MONGOLOCK_TEST_URI); fails the test when it is not set. */
const char *mltest_uri (void);

/* A fresh database name unique to this process and call: "mlt_<tag>_<pid>_<n>". The
 * caller frees it with bson_free. */
char *mltest_db_name (const char *tag);

/* A new single-threaded client for the server under test (caller destroys it). */
mongoc_client_t *mltest_client (void);

/* Runs a command given as relaxed JSON ('single quotes' allowed, turned into ") on db and
 * returns true when ok:1. reply (optional OUT) is always initialised when given. */
bool mltest_cmd (mongoc_client_t *client, const char *db, const char *json, bson_t *reply, bson_error_t *error);

/* Asserts that the command succeeds; reply as above. */
void mltest_cmd_ok (mongoc_client_t *client, const char *db, const char *json, bson_t *reply);

/* Asserts that the command fails with the given server error code (command error or the
 * first writeError). */
void mltest_cmd_fails (mongoc_client_t *client, const char *db, const char *json, int32_t code);

/* bson_new_from_json of relaxed JSON with single quotes; asserts it parses. */
bson_t *mltest_bson (const char *json);

/* Drops the database, ignoring errors. */
void mltest_drop_db (mongoc_client_t *client, const char *db);

/* The failCommand failpoint and the primary are one per server: tests that set a failpoint
 * or step the primary down must not overlap, neither Criterion's parallel workers nor other
 * test programs sharing a server. Takes an exclusive lock (flock on a file named after
 * MONGOLOCK_TEST_URI's first host, in MONGOLOCK_BUILD_ROOT or /tmp) that the calling
 * process holds until it exits (each Criterion test is its own process). Idempotent. */
void mltest_failpoints_exclusive (void);

/* Monotonic milliseconds. */
int64_t mltest_now_ms (void);

/* Sleeps ms milliseconds. */
void mltest_sleep_ms (int64_t ms);

#endif
