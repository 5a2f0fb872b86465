/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for the conformance tests of the bundled test server (issue 2). Every test
 * runs unchanged against a real MongoDB 6.0-8.0 through MONGOLOCK_TEST_URI, so the
 * helpers only ever look at what a real server sends. */
#ifndef CONF_CONFORMANCE_H
#define CONF_CONFORMANCE_H

#include <stddef.h>
#include <stdint.h>

#include "live.h"

/* Suite init/fini: mongoc_init / mongoc_cleanup. */
void conf_init (void);
void conf_fini (void);

/* A client and a fresh database name (caller frees both with conf_close, which also
 * drops the database). */
mongoc_client_t *conf_open (const char *tag, char **db);
void conf_close (mongoc_client_t *client, char *db);

/* Finds a dotted path ("cursor.firstBatch.0.a") in doc. */
bool conf_find (const bson_t *doc, const char *path, bson_iter_t *it);

/* The BSON type at path, or BSON_TYPE_EOD when the path is absent. */
bson_type_t conf_type (const bson_t *doc, const char *path);

/* Asserting accessors: the value at path must be present and of the named kind. */
int64_t conf_int (const bson_t *doc, const char *path); /* int32, int64 or integral double */
int32_t conf_int32 (const bson_t *doc, const char *path); /* exactly int32 */
int64_t conf_int64 (const bson_t *doc, const char *path); /* exactly int64 */
double conf_double (const bson_t *doc, const char *path); /* exactly double */
int64_t conf_date (const bson_t *doc, const char *path); /* exactly a date: ms since epoch */
bool conf_bool (const bson_t *doc, const char *path); /* exactly bool */
const char *conf_str (const bson_t *doc, const char *path); /* exactly utf8; points into doc */
void conf_doc (const bson_t *doc, const char *path, bson_t *out); /* document or array; out is read-only */

/* Relaxed extended JSON of doc for messages; caller frees with bson_free. */
char *conf_json (const bson_t *doc);

/* Runs json (relaxed JSON, single quotes allowed) on db, in session cs when not NULL
 * (cursors must be continued in the session that opened them), and returns ok. reply
 * (optional OUT) is always initialised. */
bool conf_run (mongoc_client_t *client, mongoc_client_session_t *cs, const char *db, const char *json, bson_t *reply,
               bson_error_t *error);

/* Runs json on db and asserts ok:1 with no writeErrors; reply (optional OUT) as mltest_cmd. */
void conf_ok (mongoc_client_t *client, const char *db, const char *json, bson_t *reply);
void conf_ok_in (mongoc_client_t *client, mongoc_client_session_t *cs, const char *db, const char *json,
                 bson_t *reply);

/* Runs json on db and asserts a command error: ok:0 with the given code (not a
 * writeError), plus codeName and errmsg strings, and the connection still alive (a
 * server error, not a network error). reply (optional OUT) is the server's reply. */
void conf_cmd_error (mongoc_client_t *client, const char *db, const char *json, int32_t code, bson_t *reply);
void conf_cmd_error_in (mongoc_client_t *client, mongoc_client_session_t *cs, const char *db, const char *json,
                        int32_t code, bson_t *reply);

/* Runs json on db and asserts a command error with some code (for refusals whose exact
 * code differs between versions or is not documented); returns the code. */
int32_t conf_cmd_refused (mongoc_client_t *client, const char *db, const char *json);

/* Asserts reply has ok:1 and a writeErrors array whose entry number nth has the given
 * index and code plus an errmsg string. Returns that entry in *entry (read-only view,
 * optional). */
void conf_write_error (const bson_t *reply, int nth, int32_t index, int32_t code, bson_t *entry);

/* Number of entries in the array at path (asserts it is an array). */
int conf_array_len (const bson_t *doc, const char *path);

/* Runs find (filter json, sort json; either may be NULL) on coll and returns all
 * documents (single batch of up to 10000; asserts exhaustion). Caller frees with
 * conf_docs_free. */
bson_t **conf_find_all (mongoc_client_t *client, const char *db, const char *coll, const char *filter,
                        const char *sort, int *n);
void conf_docs_free (bson_t **docs, int n);

/* Counts documents in coll matching filter json (NULL: all) with the count command. */
int64_t conf_count (mongoc_client_t *client, const char *db, const char *coll, const char *filter);

/* The server's own clock: hello.localTime in ms since the epoch. */
int64_t conf_server_time_ms (mongoc_client_t *client);

/* True when the server is a replica set member (hello.setName) or mongos. */
bool conf_is_replset_or_mongos (mongoc_client_t *client);

/* ---- raw wire protocol (plain sockets) ---- */

/* A TCP connection to the first host of MONGOLOCK_TEST_URI; asserts success. */
int conf_raw_connect (void);

/* Sends all of buf; false when the peer has gone. */
bool conf_raw_send (int fd, const void *buf, size_t len);

/* Reads one whole message within timeout_ms. Returns 1 with *msg (bson_malloc'd, caller
 * frees) and *len; 0 when the server closed the connection (EOF or reset); -1 on timeout
 * or a reply that is not a well-formed message. */
int conf_raw_recv (int fd, int64_t timeout_ms, uint8_t **msg, size_t *len);

/* Builds messages; caller frees with bson_free. */
uint8_t *conf_op_msg (int32_t request_id, const bson_t *body, size_t *len);
uint8_t *conf_op_msg_seq (int32_t request_id, const bson_t *body, const char *seq_id, const bson_t **docs, int ndocs,
                          size_t *len);
uint8_t *conf_op_query (int32_t request_id, const char *ns, const bson_t *query, size_t *len);

/* Parses a reply message (OP_MSG kind 0, or OP_REPLY's first document) into out
 * (initialised copy on success). Also returns the header's responseTo and opcode. */
bool conf_parse_reply (const uint8_t *msg, size_t len, bson_t *out, int32_t *response_to, int32_t *opcode);

/* Sends body as an OP_MSG on fd and returns the reply document (asserts a reply). */
void conf_raw_command (int fd, const bson_t *body, bson_t *reply);

#endif
