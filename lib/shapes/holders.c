/* SPDX-License-Identifier: Apache-2.0 */
/* What the shapes that keep a list of holders (semaphore, rwlock) share: command
 * templates written as JSON with single quotes for readability, per-call values passed in
 * the command's 'let' (MongoDB 5.0+), never spliced into the text; renew and release,
 * which touch only this holder's entry; reading an acquire's reply. */
#include "shapes-private.h"

#include <string.h>

bson_t *
_mongolock_shape_json (const char *tmpl)
{
   char *json = bson_strdup (tmpl);
   for (char *p = json; *p; p++) {
      if (*p == '\'') {
         *p = '"';
      }
   }
   bson_error_t err;
   bson_t *doc = bson_new_from_json ((const uint8_t *) json, -1, &err);
   if (!doc) {
      MONGOC_ERROR ("mongolock: bad command template: %s", err.message);
      BSON_ASSERT (doc); /* a programming error: every template is a constant */
   }
   bson_free (json);
   return doc;
}

bson_t *
_mongolock_shape_command (const char *cmd_name, const char *collection, const char *key, const char *tmpl,
                          const bson_t *let)
{
   bson_t *body = _mongolock_shape_json (tmpl);
   bson_t *cmd = bson_new ();
   bson_t q;
   BSON_APPEND_UTF8 (cmd, cmd_name, collection);
   bson_iter_t it;
   BSON_ASSERT (bson_iter_init (&it, body));
   while (bson_iter_next (&it)) {
      if (strcmp (bson_iter_key (&it), "query") == 0 && BSON_ITER_HOLDS_DOCUMENT (&it)) {
         /* {_id: key, ...the template's query} */
         bson_t tq;
         uint32_t len;
         const uint8_t *data;
         bson_iter_document (&it, &len, &data);
         BSON_ASSERT (bson_init_static (&tq, data, len));
         BSON_APPEND_DOCUMENT_BEGIN (cmd, "query", &q);
         BSON_APPEND_UTF8 (&q, "_id", key);
         bson_concat (&q, &tq);
         bson_append_document_end (cmd, &q);
      } else {
         BSON_ASSERT (bson_append_iter (cmd, NULL, 0, &it));
      }
   }
   BSON_APPEND_DOCUMENT (cmd, "let", let);
   bson_destroy (body);
   return cmd;
}

/* This holder's entry ($$this), by owner and token. */
#define IS_MINE "{'$and': [{'$eq': ['$$this.owner', '$$me']}, {'$eq': ['$$this.token', '$$tok']}]}"

/* Renew: only this holder's entry, only while it is live by the server's clock ($expr is
 * allowed: no upsert). A findAndModify, so that the driver retries it across an election
 * (see named.c). Variables: $$me, $$tok, $$lease. */
static const char RENEW[] =
   "{'query': {'$expr': {'$gt': [{'$size': {'$filter': {'input': {'$ifNull': ['$holders', []]},"
   "   'cond': {'$and': [" IS_MINE ", {'$gt': ['$$this.expiresAt', '$$NOW']}]}}}}, 0]}},"
   " 'update': [{'$set': {"
   "   'holders': {'$map': {'input': '$holders', 'in': {'$cond': [" IS_MINE ","
   "     {'$mergeObjects': ['$$this', {'expiresAt': {'$add': ['$$NOW', '$$lease']}}]}, '$$this']}}},"
   "   'expiresAt': {'$max': ['$expiresAt', {'$add': ['$$NOW', '$$lease']}]}}}],"
   " 'fields': {'_id': 1}}";

/* Release: removes only this holder's entry (a stale holder's release matches nothing and
 * frees nothing of anyone else's); the document and its last token stay. A named lock that
 * took the key after this entry expired ('owner' set) keeps the expired entry in its
 * document: the release must not match then, or its new expiresAt (from the holders left)
 * would end the named lock's lease. Variables: $$me, $$tok. */
static const char RELEASE[] =
   "{'query': {'$expr': {'$and': [{'$eq': [{'$type': '$owner'}, 'missing']},"
   "   {'$gt': [{'$size': {'$filter': {'input': {'$ifNull': ['$holders', []]},"
   "   'cond': " IS_MINE "}}}, 0]}]}},"
   " 'update': [{'$set': {'holders': {'$filter': {'input': '$holders', 'cond': {'$not': [" IS_MINE "]}}}}},"
   "   {'$set': {'expiresAt': {'$ifNull': [{'$max': '$holders.expiresAt'}, '$$NOW']}, 'releasedAt': '$$NOW'}}],"
   " 'fields': {'_id': 1}}";

/* The renew (lease_ms > 0) or release (lease_ms 0) command of holder (me, token). */
static bson_t *
owner_cmd (mongolock_client_t *client, const char *key, const char *me, int64_t token, int64_t lease_ms)
{
   bson_t *let = BCON_NEW ("me", BCON_UTF8 (me), "tok", BCON_INT64 (token));
   if (lease_ms > 0) {
      BSON_APPEND_INT64 (let, "lease", lease_ms);
   }
   bson_t *cmd = _mongolock_shape_command ("findAndModify", client->collection, key, lease_ms > 0 ? RENEW : RELEASE, let);
   bson_destroy (let);
   return cmd;
}

/* A holders shape's self starts with its key (see _mongolock_holders_renew_cmd). */
static const char *
self_key (const void *self)
{
   return *(const char *const *) self;
}

bson_t *
_mongolock_holders_renew_cmd (const void *self, mongolock_client_t *client, const char *me, int64_t token,
                              int64_t lease_ms)
{
   return owner_cmd (client, self_key (self), me, token, lease_ms);
}

bson_t *
_mongolock_holders_release_cmd (const void *self, mongolock_client_t *client, const char *me, int64_t token)
{
   return owner_cmd (client, self_key (self), me, token, 0);
}

bool
_mongolock_holders_find (const bson_t *reply,
                         const char *me,
                         _mongolock_holders_t *out,
                         bson_error_t *error)
{
   memset (out, 0, sizeof *out);
   out->min_expires_ms = -1;
   bson_iter_t it, value, holders, h;
   if (!bson_iter_init_find (&it, reply, "value") || !BSON_ITER_HOLDS_DOCUMENT (&it) ||
       !bson_iter_recurse (&it, &value)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_PROTOCOL, "findAndModify returned no lock document");
      return false;
   }
   while (bson_iter_next (&value)) {
      const char *k = bson_iter_key (&value);
      if (strcmp (k, "owner") == 0) {
         out->named_owner = true;
      } else if (strcmp (k, "kind") == 0 && BSON_ITER_HOLDS_UTF8 (&value)) {
         bson_strncpy (out->kind, bson_iter_utf8 (&value, NULL), sizeof out->kind);
      } else if (strcmp (k, "permits") == 0 && BSON_ITER_HOLDS_NUMBER (&value)) {
         out->permits = bson_iter_as_int64 (&value);
      } else if (strcmp (k, "expiresAt") == 0 && BSON_ITER_HOLDS_DATE_TIME (&value)) {
         out->expires_ms = bson_iter_date_time (&value);
      } else if (strcmp (k, "holders") == 0 && BSON_ITER_HOLDS_ARRAY (&value) && bson_iter_recurse (&value, &holders)) {
         while (bson_iter_next (&holders)) {
            if (!BSON_ITER_HOLDS_DOCUMENT (&holders) || !bson_iter_recurse (&holders, &h)) {
               continue;
            }
            bool mine = false;
            int64_t token = 0, expires = -1;
            char mode = 0;
            while (bson_iter_next (&h)) {
               const char *hk = bson_iter_key (&h);
               if (strcmp (hk, "owner") == 0 && BSON_ITER_HOLDS_UTF8 (&h)) {
                  mine = strcmp (bson_iter_utf8 (&h, NULL), me) == 0;
               } else if (strcmp (hk, "token") == 0 && BSON_ITER_HOLDS_NUMBER (&h)) {
                  token = bson_iter_as_int64 (&h);
               } else if (strcmp (hk, "expiresAt") == 0 && BSON_ITER_HOLDS_DATE_TIME (&h)) {
                  expires = bson_iter_date_time (&h);
               } else if (strcmp (hk, "mode") == 0 && BSON_ITER_HOLDS_UTF8 (&h)) {
                  mode = bson_iter_utf8 (&h, NULL)[0];
               }
            }
            out->count++;
            if (mode == 'w') {
               out->writers++;
            }
            if (mine) {
               out->mine = true;
               out->my_token = token;
            }
            if (expires >= 0 && (out->min_expires_ms < 0 || expires < out->min_expires_ms)) {
               out->min_expires_ms = expires;
            }
         }
      }
   }
   if (out->mine && out->my_token <= 0) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_PROTOCOL, "the lock document has no valid fencing token for this holder");
      return false;
   }
   return true;
}

bson_t *
_mongolock_live_holders_new (void)
{
   return BCON_NEW ("$filter", "{",
                       "input", "{", "$ifNull", "[", BCON_UTF8 ("$holders"), "[", "]", "]", "}",
                       "cond", "{", "$gt", "[", BCON_UTF8 ("$$this.expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
                    "}");
}
