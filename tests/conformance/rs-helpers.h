/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for the replica-set conformance tests (failpoints, retryable writes, step-down,
 * hello). Like conformance.h, they only look at what a real server sends, so the tests
 * run unchanged against a one-member replica set started with enableTestCommands=1
 * (docker/, profile "test") or against the bundled server in either mode. */
#ifndef CONF_RS_HELPERS_H
#define CONF_RS_HELPERS_H

#include "conformance.h"

/* True when hello says the server is a replica-set member (setName). */
bool rs_is_replset (mongoc_client_t *client);

/* True when configureFailPoint exists (enableTestCommands=1); false when the server
 * refuses it as an unknown command (59). Any other answer fails the test. It turns the
 * failpoint off: call rs_failpoints_exclusive first. */
bool rs_test_commands (mongoc_client_t *client);

/* The failCommand failpoint is one per server: tests that set it must not overlap, neither
 * Criterion's parallel workers nor other test programs sharing a real server. Takes an
 * exclusive lock (flock on a file named after MONGOLOCK_TEST_URI's first host) that the
 * calling process holds until it exits (each Criterion test is its own process). */
void rs_failpoints_exclusive (void);

/* Sets the failCommand failpoint: mode and data are relaxed JSON ('alwaysOn',
 * "{'times': 1}"...). Asserts success. rs_failpoint_off turns it off. */
void rs_failpoint (mongoc_client_t *client, const char *mode_json, const char *data_json);
void rs_failpoint_off (mongoc_client_t *client);

/* A fresh session id document {id: UUID} in out (caller destroys). */
void rs_lsid (bson_t *out);

/* Runs json on a raw connection fd, with $db set to db and, when lsid is not NULL, the
 * lsid appended (and txnNumber when txn >= 0). reply is initialised; returns ok. */
bool rs_raw (int fd, const char *db, const bson_t *lsid, int64_t txn, const char *json, bson_t *reply);

/* Like rs_raw, but returns false when the connection was closed instead of answering
 * (reply then empty). */
bool rs_raw_maybe (int fd, const char *db, const bson_t *lsid, int64_t txn, const char *json, bson_t *reply,
                   bool *closed);

/* A raw connection whose handshake names the application app (client.application.name,
 * which failCommand's appName matches), with the driver/os fields mongod requires. */
int rs_connect_app (const char *app);

/* A name unique to this process and call, for appName: "<tag>-<pid>-<n>" (caller frees). */
char *rs_app_name (const char *tag);

/* True when reply.errorLabels holds label. */
bool rs_has_label (const bson_t *reply, const char *label);

/* Waits up to ms for hello to report a writable primary (after a step-down). */
bool rs_wait_primary (mongoc_client_t *client, int64_t ms);

#endif
