/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for the change-stream conformance tests (rule 18). Each test runs unchanged
 * against a real one-member replica set: the helpers look only at what a server sends. */
#ifndef CONF_CHANGESTREAM_H
#define CONF_CHANGESTREAM_H

#include "conformance.h"

/* Skips the calling test (cr_skip_test) unless the server is a replica-set member or
 * mongos; change streams need one (40573 on a standalone). */
void cs_require_replset (mongoc_client_t *c);

/* Skips the calling test unless the server is a standalone. */
void cs_require_standalone (mongoc_client_t *c);

/* A new explicit session (cursors must be continued in the session that opened them). */
mongoc_client_session_t *cs_session (mongoc_client_t *c);

/* Runs an aggregate (json) in session s on db, asserts ok:1 and a non-zero cursor id,
 * and returns the id. reply (optional OUT) is the server's reply. */
int64_t cs_open (mongoc_client_t *c, mongoc_client_session_t *s, const char *db, const char *json, bson_t *reply);

/* getMore on cursor id of collection coll ("$cmd.aggregate" for a database stream) with
 * maxTimeMS await_ms (-1: none) and batchSize batch (0: none); asserts ok:1 and returns
 * the reply in *reply (caller destroys). */
void cs_get_more (mongoc_client_t *c, mongoc_client_session_t *s, const char *db, const char *coll, int64_t id,
                  int await_ms, int batch, bson_t *reply);

/* Runs getMore (1 s awaits) until n events came or timeout_ms passed, appending copies
 * to *events (caller frees with conf_docs_free). Returns how many came (asserts n). *id
 * becomes 0 when the server closed the cursor. */
int cs_collect (mongoc_client_t *c, mongoc_client_session_t *s, const char *db, const char *coll, int64_t *id, int n,
                int64_t timeout_ms, bson_t ***events);

/* Runs the aggregate json in session s on db (a stream of coll) and collects n events as
 * cs_collect does, starting with those of the first batch. *id is the cursor's id after
 * (0 once the server closed it). */
int cs_open_collect (mongoc_client_t *c, mongoc_client_session_t *s, const char *db, const char *coll, const char *json,
                     int n, int64_t timeout_ms, bson_t ***events, int64_t *id);

/* Copies of the documents in the array at path of reply (caller frees with conf_docs_free). */
bson_t **cs_batch (const bson_t *reply, const char *path, int *n);

/* Asserts that doc's top-level field names are exactly names (NULL-terminated), in order. */
void cs_assert_fields (const bson_t *doc, const char *const *names);

/* The resume token at path of doc as relaxed JSON (caller frees with bson_free). */
char *cs_token_json (const bson_t *doc, const char *path);

#endif
