/* The named lock's documents and commands: one document per key in the client's lock
 * collection, {_id: key, owner, token, expiresAt, acquiredAt, leaseMs, renewedAt,
 * releasedAt}. The engine (lib/engine) does the rest. */
#include "../lock-private.h"

#include <string.h>

/* Tokens are max(previous + 1, serverNowMs * 2^20): see mongolock_lock_token. */
#define TOKEN_TIME_SCALE 1048576

/*
 * The acquire command. The query filters on _id alone, since MongoDB refuses $expr in an
 * upsert's query (code 224); the decision is made inside the update pipeline with $cond,
 * against $$NOW, so the server's clock alone decides expiry. When the lock is live and
 * someone else's, every field is set to its own value and the document is unchanged.
 *   take:  expired (or missing: a fresh upsert seed) or already this handle's
 *   fresh: expired, i.e. a new acquisition that needs a new fencing token
 */
static bson_t *
acquire_cmd (const void *self, mongolock_client_t *client, const char *me, int64_t lease_ms)
{
   return BCON_NEW (
      "findAndModify", BCON_UTF8 (client->collection),
      "query", "{", "_id", BCON_UTF8 ((const char *) self), "}",
      "update", "[",
         "{", "$set", "{",
            "_mlk_take", "{", "$or", "[",
               "{", "$lte", "[", BCON_UTF8 ("$expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
               "{", "$eq", "[", BCON_UTF8 ("$owner"), "{", "$literal", BCON_UTF8 (me), "}", "]", "}",
            "]", "}",
            "_mlk_fresh", "{", "$lte", "[", BCON_UTF8 ("$expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
         "}", "}",
         "{", "$set", "{",
            "owner", "{", "$cond", "[", BCON_UTF8 ("$_mlk_take"),
               "{", "$literal", BCON_UTF8 (me), "}", BCON_UTF8 ("$owner"), "]", "}",
            "token", "{", "$cond", "[", BCON_UTF8 ("$_mlk_fresh"),
               "{", "$max", "[",
                  "{", "$add", "[", "{", "$ifNull", "[", BCON_UTF8 ("$token"), BCON_INT64 (0), "]", "}",
                     BCON_INT64 (1), "]", "}",
                  "{", "$multiply", "[", "{", "$toLong", BCON_UTF8 ("$$NOW"), "}",
                     BCON_INT64 (TOKEN_TIME_SCALE), "]", "}",
               "]", "}",
               BCON_UTF8 ("$token"), "]", "}",
            "expiresAt", "{", "$cond", "[", BCON_UTF8 ("$_mlk_take"),
               "{", "$add", "[", BCON_UTF8 ("$$NOW"), BCON_INT64 (lease_ms), "]", "}",
               BCON_UTF8 ("$expiresAt"), "]", "}",
            "acquiredAt", "{", "$cond", "[", BCON_UTF8 ("$_mlk_fresh"), BCON_UTF8 ("$$NOW"),
               BCON_UTF8 ("$acquiredAt"), "]", "}",
            "leaseMs", "{", "$cond", "[", BCON_UTF8 ("$_mlk_take"), BCON_INT64 (lease_ms),
               BCON_UTF8 ("$leaseMs"), "]", "}",
         "}", "}",
         "{", "$unset", "[", BCON_UTF8 ("_mlk_take"), BCON_UTF8 ("_mlk_fresh"), "]", "}",
      "]",
      "upsert", BCON_BOOL (true),
      "new", BCON_BOOL (true));
}

static bool
parse_acquire (const void *self, const char *me, const bson_t *reply, _mongolock_attempt_t *res, bson_error_t *error)
{
   (void) self;
   bson_iter_t it, value;
   if (!bson_iter_init_find (&it, reply, "value") || !BSON_ITER_HOLDS_DOCUMENT (&it) ||
       !bson_iter_recurse (&it, &value)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_PROTOCOL, "findAndModify returned no lock document");
      return false;
   }
   const char *owner = NULL;
   bool has_token = false;
   res->holder_expires_ms = -1;
   while (bson_iter_next (&value)) {
      const char *k = bson_iter_key (&value);
      if (strcmp (k, "owner") == 0 && BSON_ITER_HOLDS_UTF8 (&value)) {
         owner = bson_iter_utf8 (&value, NULL);
      } else if (strcmp (k, "token") == 0 && BSON_ITER_HOLDS_NUMBER (&value)) {
         res->token = bson_iter_as_int64 (&value);
         has_token = true;
      } else if (strcmp (k, "expiresAt") == 0 && BSON_ITER_HOLDS_DATE_TIME (&value)) {
         res->holder_expires_ms = bson_iter_date_time (&value);
      }
   }
   res->acquired = owner && strcmp (owner, me) == 0;
   if (res->acquired && (!has_token || res->token <= 0)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_PROTOCOL, "the lock document has no valid fencing token");
      return false;
   }
   return true;
}

/* {findAndModify: coll, query: {_id, owner, token[, live]}, update: [...], fields: {_id}}.
 * A findAndModify, not an update: libmongoc 1.23 makes a generic write command retryable
 * (lsid + txnNumber) only for findAndModify, and renew and release must ride out an
 * election like the acquire. The reply carries only _id. */
static bson_t *
owner_update (const char *key, mongolock_client_t *client, const char *owner, int64_t token, bool renew, int64_t lease_ms)
{
   bson_t *cmd = BCON_NEW ("findAndModify", BCON_UTF8 (client->collection));
   bson_t q, expr, gt;
   BSON_APPEND_DOCUMENT_BEGIN (cmd, "query", &q);
   BSON_APPEND_UTF8 (&q, "_id", key);
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
   bson_t *stages = renew ? BCON_NEW ("0", "{", "$set", "{",
                                         "expiresAt", "{", "$add", "[", BCON_UTF8 ("$$NOW"),
                                            BCON_INT64 (lease_ms), "]", "}",
                                         "renewedAt", BCON_UTF8 ("$$NOW"), "}", "}")
                          : BCON_NEW ("0", "{", "$set", "{",
                                         "expiresAt", "{", "$min", "[", BCON_UTF8 ("$expiresAt"),
                                            BCON_UTF8 ("$$NOW"), "]", "}",
                                         "releasedAt", BCON_UTF8 ("$$NOW"), "}", "}",
                                      "1", "{", "$unset", "[", BCON_UTF8 ("owner"), "]", "}");
   BSON_APPEND_ARRAY (cmd, "update", stages);
   bson_destroy (stages);
   BCON_APPEND (cmd, "fields", "{", "_id", BCON_INT32 (1), "}");
   return cmd;
}

static bson_t *
renew_cmd (const void *self, mongolock_client_t *client, const char *owner, int64_t token, int64_t lease_ms)
{
   return owner_update ((const char *) self, client, owner, token, true, lease_ms);
}

static bson_t *
release_cmd (const void *self, mongolock_client_t *client, const char *owner, int64_t token)
{
   return owner_update ((const char *) self, client, owner, token, false, 0);
}

/* Releases show in the client's lock collection as updates that remove "owner" (release,
 * force release), or as deletes (cleanup, an operator). */
static void
watch_target (const void *self, mongolock_client_t *client, _mongolock_watch_target_t *out)
{
   const char *key = self;
   out->collection = client->collection;
   out->owner_field = "owner";
   out->key.value_type = BSON_TYPE_UTF8;
   memcpy (&out->key.value.v_utf8.str, &key, sizeof key); /* only ever read */
   out->key.value.v_utf8.len = (uint32_t) strlen (key);
}

const _mongolock_shape_t _mongolock_named_shape = {
   acquire_cmd, parse_acquire, renew_cmd, release_cmd, _mongolock_parse_matched, watch_target};
