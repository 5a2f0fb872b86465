/* SPDX-License-Identifier: Apache-2.0 */
/* The named lock's documents and commands: one document per key in the client's lock
 * collection, {_id: key, owner, token, expiresAt, acquiredAt, leaseMs, renewedAt,
 * releasedAt}. The engine (lib/engine) does the rest.
 *
 * What never changes for a handle is built once, when the handle is made
 * (_mongolock_named_init): the whole acquire command, with the owner passed through the
 * command's `let` (MongoDB 5.0+), and the update pipelines of renew and release. Per
 * attempt only the owner is appended; per renew or release, the query (owner, token). */
#include "../lock-private.h"

#include <string.h>

/* Tokens are max(previous + 1, serverNowMs * 2^20): see mongolock_lock_token. */
#define TOKEN_TIME_SCALE _MONGOLOCK_TOKEN_TIME_SCALE

/*
 * The acquire command, without its let. The query filters on _id alone, since MongoDB
 * refuses $expr in an upsert's query (code 224); the decision is made inside the update
 * pipeline, against $$NOW, so the server's clock alone decides expiry. The let binds $$o,
 * the owner of this attempt, and $$e, the new expiry ($$NOW + lease, evaluated once per
 * command: let expressions may use $$NOW). One $replaceWith stage merges into the
 * document ($$ROOT, so _id, renewedAt and releasedAt stay):
 *   - expired (or missing: a fresh upsert seed {_id}, whose expiresAt sorts before any
 *     date): a new holder, with a new fencing token max(token + 1, $$NOW ms * 2^20)
 *     ($add of a missing token is null, which $max ignores);
 *   - live and already this owner's: the lease extended from now, the token kept (the
 *     owner names one handle, so leaseMs is already this lease);
 *   - live and someone else's: nothing ({}), the document unchanged.
 * The reply carries only what parse_acquire reads (fields): the token, expiresAt and
 * "mine", whether the post-image's owner is $$o (a computed projection field, MongoDB
 * 4.4+, seeing the command's let), instead of the owner itself.
 */
static bson_t *
build_acquire (const char *collection, const char *key, int64_t lease_ms)
{
   return BCON_NEW (
      "findAndModify", BCON_UTF8 (collection),
      "query", "{", "_id", BCON_UTF8 (key), "}",
      "update", "[", "{", "$replaceWith", "{", "$mergeObjects", "[", BCON_UTF8 ("$$ROOT"),
         "{", "$cond", "[",
            "{", "$lte", "[", BCON_UTF8 ("$expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
            "{",
               "owner", BCON_UTF8 ("$$o"),
               "token", "{", "$max", "[",
                  "{", "$add", "[", BCON_UTF8 ("$token"), BCON_INT32 (1), "]", "}",
                  "{", "$multiply", "[", "{", "$toLong", BCON_UTF8 ("$$NOW"), "}", BCON_INT32 (TOKEN_TIME_SCALE), "]", "}",
               "]", "}",
               "expiresAt", BCON_UTF8 ("$$e"),
               "acquiredAt", BCON_UTF8 ("$$NOW"),
               "leaseMs", BCON_INT64 (lease_ms),
            "}",
            "{", "$cond", "[",
               "{", "$eq", "[", BCON_UTF8 ("$owner"), BCON_UTF8 ("$$o"), "]", "}",
               "{", "expiresAt", BCON_UTF8 ("$$e"), "}",
               "{", "}",
            "]", "}",
         "]", "}",
      "]", "}", "}", "]",
      "upsert", BCON_BOOL (true),
      "new", BCON_BOOL (true),
      "fields", "{", "_id", BCON_INT32 (0), "token", BCON_INT32 (1), "expiresAt", BCON_INT32 (1),
         "mine", "{", "$eq", "[", BCON_UTF8 ("$owner"), BCON_UTF8 ("$$o"), "]", "}", "}");
}

void
_mongolock_named_init (_mongolock_named_t *n, const mongolock_client_t *client, const char *key, int64_t lease_ms)
{
   n->key = key;
   n->collection = client->collection;
   n->lease_ms = lease_ms;
   n->fair_acquire = NULL;
   n->acquire = build_acquire (client->collection, key, lease_ms);
   n->expires = BCON_NEW ("$add", "[", BCON_UTF8 ("$$NOW"), BCON_INT64 (lease_ms), "]");
   /* Renew only extends; release marks the lease expired (keeping the document, so that
    * tokens keep increasing) and forgets the owner ($$REMOVE: one stage, not a $unset). */
   n->renew_update = BCON_NEW ("0", "{", "$set", "{",
                                  "expiresAt", "{", "$add", "[", BCON_UTF8 ("$$NOW"), BCON_INT64 (lease_ms), "]", "}",
                                  "renewedAt", BCON_UTF8 ("$$NOW"), "}", "}");
   n->release_update = BCON_NEW ("0", "{", "$set", "{",
                                    "expiresAt", "{", "$min", "[", BCON_UTF8 ("$expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
                                    "releasedAt", BCON_UTF8 ("$$NOW"),
                                    "owner", BCON_UTF8 ("$$REMOVE"), "}", "}");
}

void
_mongolock_named_cleanup (_mongolock_named_t *n)
{
   bson_destroy (n->acquire);
   bson_destroy (n->expires);
   bson_destroy (n->renew_update);
   bson_destroy (n->release_update);
   bson_destroy (n->fair_acquire);
}

/* The acquire command for owner me: the handle's, with let {o: me, e: expiry}. A let
 * value is an expression, so an owner that starts with '$' (a field path) goes in as a
 * $literal. */
static bson_t *
acquire_cmd (const void *self, mongolock_client_t *client, const char *me, int64_t lease_ms, bool join)
{
   const _mongolock_named_t *n = self;
   BSON_ASSERT (lease_ms == n->lease_ms && client->collection == n->collection);
   if (n->fair_acquire) {
      return _mongolock_named_fair_cmd (n, me, join);
   }
   bson_t *cmd = bson_sized_new (n->acquire->len + n->expires->len + (uint32_t) strlen (me) + 64);
   bson_concat (cmd, n->acquire);
   bson_t let, lit;
   BSON_APPEND_DOCUMENT_BEGIN (cmd, "let", &let);
   if (me[0] == '$') {
      BSON_APPEND_DOCUMENT_BEGIN (&let, "o", &lit);
      BSON_APPEND_UTF8 (&lit, "$literal", me);
      bson_append_document_end (&let, &lit);
   } else {
      BSON_APPEND_UTF8 (&let, "o", me);
   }
   BSON_APPEND_DOCUMENT (&let, "e", n->expires);
   bson_append_document_end (cmd, &let);
   return cmd;
}

static bool
parse_acquire (const void *self, const char *me, const bson_t *reply, _mongolock_attempt_t *res, bson_error_t *error)
{
   (void) self;
   (void) me; /* the server compared the owner with it: "mine" */
   bson_iter_t it, value;
   if (!bson_iter_init_find (&it, reply, "value") || !BSON_ITER_HOLDS_DOCUMENT (&it) ||
       !bson_iter_recurse (&it, &value)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_PROTOCOL, "findAndModify returned no lock document");
      return false;
   }
   bool has_mine = false, has_token = false;
   res->acquired = false;
   res->holder_expires_ms = -1;
   res->queue_pos = -1;
   res->head_expires_ms = -1;
   while (bson_iter_next (&value)) {
      const char *k = bson_iter_key (&value);
      if (strcmp (k, "mine") == 0 && BSON_ITER_HOLDS_BOOL (&value)) {
         res->acquired = bson_iter_bool (&value);
         has_mine = true;
      } else if (strcmp (k, "token") == 0 && BSON_ITER_HOLDS_NUMBER (&value)) {
         res->token = bson_iter_as_int64 (&value);
         has_token = true;
      } else if (strcmp (k, "expiresAt") == 0 && BSON_ITER_HOLDS_DATE_TIME (&value)) {
         res->holder_expires_ms = bson_iter_date_time (&value);
      } else if (strcmp (k, "queue") == 0) {
         _mongolock_named_fair_parse_queue (&value, me, res);
      } else if (strcmp (k, "hasOwner") == 0 && BSON_ITER_HOLDS_BOOL (&value)) {
         res->no_owner = !bson_iter_bool (&value); /* fair replies only */
      }
   }
   if (!has_mine) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_PROTOCOL, "the acquire's reply does not say whose the lock is");
      return false;
   }
   if (res->acquired && (!has_token || res->token <= 0)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_PROTOCOL, "the lock document has no valid fencing token");
      return false;
   }
   return true;
}

/* {findAndModify: coll, query: {_id, owner, token[, live]}, update: [...], fields}.
 * A findAndModify, not an update: libmongoc 1.23 makes a generic write command retryable
 * (lsid + txnNumber) only for findAndModify, and renew and release must ride out an
 * election like the acquire. The client reads only lastErrorObject.n, so the reply's
 * value is cut to almost nothing: renew's to the token (bounded, unlike the key);
 * release's to the post-image's owner, which the release removed, i.e. an empty
 * document. */
static bson_t *
owner_update (const _mongolock_named_t *n, const char *owner, int64_t token, const bson_t *stages, bool renew)
{
   bson_t *cmd = bson_sized_new (256 + stages->len + (uint32_t) (strlen (n->key) + strlen (owner)));
   BSON_APPEND_UTF8 (cmd, "findAndModify", n->collection);
   bson_t q, expr, gt, fields;
   BSON_APPEND_DOCUMENT_BEGIN (cmd, "query", &q);
   BSON_APPEND_UTF8 (&q, "_id", n->key);
   BSON_APPEND_UTF8 (&q, "owner", owner);
   BSON_APPEND_INT64 (&q, "token", token);
   if (renew) {
      /* Renew only a lease that is still live by the server's clock ($expr is allowed:
       * this command never upserts). */
      BSON_APPEND_DOCUMENT_BEGIN (&q, "$expr", &expr);
      BSON_APPEND_ARRAY_BEGIN (&expr, "$gt", &gt);
      BSON_APPEND_UTF8 (&gt, "0", "$expiresAt");
      BSON_APPEND_UTF8 (&gt, "1", "$$NOW");
      bson_append_array_end (&expr, &gt);
      bson_append_document_end (&q, &expr);
   }
   bson_append_document_end (cmd, &q);
   BSON_APPEND_ARRAY (cmd, "update", stages);
   if (!renew) {
      BSON_APPEND_BOOL (cmd, "new", true);
   }
   BSON_APPEND_DOCUMENT_BEGIN (cmd, "fields", &fields);
   BSON_APPEND_INT32 (&fields, "_id", 0);
   BSON_APPEND_INT32 (&fields, renew ? "token" : "owner", 1);
   bson_append_document_end (cmd, &fields);
   return cmd;
}

static bson_t *
renew_cmd (const void *self, mongolock_client_t *client, const char *owner, int64_t token, int64_t lease_ms)
{
   const _mongolock_named_t *n = self;
   BSON_ASSERT (lease_ms == n->lease_ms && client->collection == n->collection);
   return owner_update (n, owner, token, n->renew_update, true);
}

static bson_t *
release_cmd (const void *self, mongolock_client_t *client, const char *owner, int64_t token)
{
   (void) client;
   const _mongolock_named_t *n = self;
   return owner_update (n, owner, token, n->release_update, false);
}

/* Releases show in the client's lock collection as updates that remove "owner" (release,
 * force release), or as deletes (cleanup, an operator). */
static void
watch_target (const void *self, mongolock_client_t *client, _mongolock_watch_target_t *out)
{
   (void) client;
   const _mongolock_named_t *n = self;
   out->collection = n->collection;
   out->owner_field = "owner";
   out->key.value_type = BSON_TYPE_UTF8;
   memcpy (&out->key.value.v_utf8.str, &n->key, sizeof n->key); /* only ever read */
   out->key.value.v_utf8.len = (uint32_t) strlen (n->key);
}

static bson_t *
dequeue_cmd (const void *self, mongolock_client_t *client, const char *me)
{
   (void) client;
   return _mongolock_named_dequeue_cmd (self, me);
}

const _mongolock_shape_t _mongolock_named_shape = {
   acquire_cmd, parse_acquire, renew_cmd, release_cmd, _mongolock_parse_matched, watch_target, dequeue_cmd};
