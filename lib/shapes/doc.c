/* SPDX-License-Identifier: Apache-2.0 */
/* The document lock's commands and replies: three lock fields (owner, expiry, token)
 * inside a business document {_id: id, ...} of any collection. The engine (lib/engine)
 * does the rest. Every filter matches _id with $eq, so an _id that is itself a document
 * is compared as a value and never read as query operators. */
#include "../doc-private.h"

#include <string.h>

/* Tokens are max(previous + 1, serverNowMs * 2^20), as for named locks. */
#define TOKEN_TIME_SCALE 1048576

/* "$<field>" for use in expressions. */
typedef struct {
   char owner[MONGOLOCK_DOC_FIELD_MAX_BYTES + 2];
   char expiry[MONGOLOCK_DOC_FIELD_MAX_BYTES + 2];
   char token[MONGOLOCK_DOC_FIELD_MAX_BYTES + 2];
} refs_t;

static void
make_refs (const _mongolock_doc_fields_t *f, refs_t *r)
{
   bson_snprintf (r->owner, sizeof r->owner, "$%s", f->owner);
   bson_snprintf (r->expiry, sizeof r->expiry, "$%s", f->expiry);
   bson_snprintf (r->token, sizeof r->token, "$%s", f->token);
}

/* Appends {_id: {$eq: id}} fields to q. */
static void
append_id (bson_t *q, const _mongolock_doc_self_t *s)
{
   bson_t eq;
   BSON_APPEND_DOCUMENT_BEGIN (q, "_id", &eq);
   BSON_APPEND_VALUE (&eq, "$eq", &s->id);
   bson_append_document_end (q, &eq);
}

/*
 * One findAndModify on {_id}, no upsert, returning the post-image. One $set stage whose
 * expressions all read the document as it was (and one $$NOW), so no temporary field is
 * ever written into the business document:
 *   take  = expiry <= $$NOW (missing counts: BSON order) or owner == me
 *   fresh = expiry <= $$NOW: a new holder, so a new token
 * When the lock is live and someone else's, each lock field is set to itself.
 */
static bson_t *
acquire_cmd (const void *self, mongolock_client_t *client, const char *me, int64_t lease_ms, bool join)
{
   (void) join;
   (void) client;
   const _mongolock_doc_self_t *s = self;
   refs_t r;
   make_refs (&s->f, &r);
   bson_t *fresh = BCON_NEW ("$lte", "[", BCON_UTF8 (r.expiry), BCON_UTF8 ("$$NOW"), "]");
   bson_t *take = BCON_NEW ("$or", "[", BCON_DOCUMENT (fresh),
                               "{", "$eq", "[", BCON_UTF8 (r.owner), "{", "$literal", BCON_UTF8 (me), "}", "]", "}",
                            "]");
   bson_t *set = BCON_NEW (
      s->f.owner, "{", "$cond", "[", BCON_DOCUMENT (take), "{", "$literal", BCON_UTF8 (me), "}", BCON_UTF8 (r.owner), "]", "}",
      s->f.expiry, "{", "$cond", "[", BCON_DOCUMENT (take),
         "{", "$add", "[", BCON_UTF8 ("$$NOW"), BCON_INT64 (lease_ms), "]", "}", BCON_UTF8 (r.expiry), "]", "}",
      s->f.token, "{", "$cond", "[", BCON_DOCUMENT (fresh),
         "{", "$max", "[",
            "{", "$add", "[", "{", "$ifNull", "[", BCON_UTF8 (r.token), BCON_INT64 (0), "]", "}", BCON_INT64 (1), "]", "}",
            "{", "$multiply", "[", "{", "$toLong", BCON_UTF8 ("$$NOW"), "}", BCON_INT64 (TOKEN_TIME_SCALE), "]", "}",
         "]", "}",
         BCON_UTF8 (r.token), "]", "}");
   bson_t *cmd = BCON_NEW ("findAndModify", BCON_UTF8 (s->collection));
   bson_t q;
   BSON_APPEND_DOCUMENT_BEGIN (cmd, "query", &q);
   append_id (&q, s);
   bson_append_document_end (cmd, &q);
   bson_t *update = BCON_NEW ("0", "{", "$set", BCON_DOCUMENT (set), "}");
   BSON_APPEND_ARRAY (cmd, "update", update);
   BSON_APPEND_BOOL (cmd, "upsert", false);
   BSON_APPEND_BOOL (cmd, "new", true);
   bson_destroy (update);
   bson_destroy (set);
   bson_destroy (take);
   bson_destroy (fresh);
   return cmd;
}

static bool
parse_acquire (const void *self, const char *me, const bson_t *reply, _mongolock_attempt_t *res, bson_error_t *error)
{
   const _mongolock_doc_self_t *s = self;
   bson_iter_t it, value;
   if (bson_iter_init_find (&it, reply, "value") && BSON_ITER_HOLDS_NULL (&it)) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_NOT_FOUND,
                            "no document with this _id in %s: a document lock never creates it",
                            s->collection);
      return false;
   }
   uint32_t len;
   const uint8_t *data;
   if (!bson_iter_init_find (&it, reply, "value") || !BSON_ITER_HOLDS_DOCUMENT (&it) ||
       !bson_iter_recurse (&it, &value)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_PROTOCOL, "findAndModify returned no document");
      return false;
   }
   bson_iter_document (&it, &len, &data);
   const char *owner = NULL;
   bool has_token = false;
   res->holder_expires_ms = -1;
   while (bson_iter_next (&value)) {
      const char *k = bson_iter_key (&value);
      if (strcmp (k, s->f.owner) == 0 && BSON_ITER_HOLDS_UTF8 (&value)) {
         owner = bson_iter_utf8 (&value, NULL);
      } else if (strcmp (k, s->f.token) == 0 && BSON_ITER_HOLDS_NUMBER (&value)) {
         res->token = bson_iter_as_int64 (&value);
         has_token = true;
      } else if (strcmp (k, s->f.expiry) == 0 && BSON_ITER_HOLDS_DATE_TIME (&value)) {
         res->holder_expires_ms = bson_iter_date_time (&value);
      }
   }
   res->acquired = owner && strcmp (owner, me) == 0;
   if (res->acquired && (!has_token || res->token <= 0)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_PROTOCOL, "the locked document has no valid fencing token");
      return false;
   }
   if (res->acquired) {
      /* The caller gets the document as it is under the lock. */
      bson_reinit (s->doc);
      bson_t doc;
      if (bson_init_static (&doc, data, len)) {
         bson_concat (s->doc, &doc);
      }
   }
   return true;
}

/* {_id: {$eq: id}, owner: me, token: t[, $expr: {$gt: [$expiry, $$NOW]}]} */
static void
append_fence (bson_t *q, const _mongolock_doc_self_t *s, const char *owner, int64_t token, bool live)
{
   append_id (q, s);
   BSON_APPEND_UTF8 (q, s->f.owner, owner);
   BSON_APPEND_INT64 (q, s->f.token, token);
   if (live) {
      refs_t r;
      make_refs (&s->f, &r);
      bson_t *expr = BCON_NEW ("$gt", "[", BCON_UTF8 (r.expiry), BCON_UTF8 ("$$NOW"), "]");
      BSON_APPEND_DOCUMENT (q, "$expr", expr);
      bson_destroy (expr);
   }
}

/* {findAndModify: coll, query: fence, update: u, fields: {_id: 1}}; u is an array
 * (pipeline) or an operator document. A findAndModify, not an update, so that libmongoc
 * 1.23 retries it once across an election (it gives a generic command a txnNumber only
 * when it is a findAndModify); the reply carries only _id. */
static bson_t *
update_cmd (const _mongolock_doc_self_t *s, const char *owner, int64_t token, bool live, const bson_t *u, bool pipeline)
{
   bson_t *cmd = BCON_NEW ("findAndModify", BCON_UTF8 (s->collection));
   bson_t q;
   BSON_APPEND_DOCUMENT_BEGIN (cmd, "query", &q);
   append_fence (&q, s, owner, token, live);
   bson_append_document_end (cmd, &q);
   if (pipeline) {
      BSON_APPEND_ARRAY (cmd, "update", u);
   } else {
      BSON_APPEND_DOCUMENT (cmd, "update", u);
   }
   BCON_APPEND (cmd, "fields", "{", "_id", BCON_INT32 (1), "}");
   return cmd;
}

static bson_t *
renew_cmd (const void *self, mongolock_client_t *client, const char *owner, int64_t token, int64_t lease_ms)
{
   (void) client;
   const _mongolock_doc_self_t *s = self;
   bson_t *u = BCON_NEW ("0", "{", "$set", "{",
                            s->f.expiry, "{", "$add", "[", BCON_UTF8 ("$$NOW"), BCON_INT64 (lease_ms), "]", "}",
                         "}", "}");
   bson_t *cmd = update_cmd (s, owner, token, true, u, true);
   bson_destroy (u);
   return cmd;
}

/* Removes owner and expiry; the token stays so the next holder's is larger. */
static bson_t *
release_cmd (const void *self, mongolock_client_t *client, const char *owner, int64_t token)
{
   (void) client;
   const _mongolock_doc_self_t *s = self;
   bson_t *u = BCON_NEW ("0", "{", "$unset", "[", BCON_UTF8 (s->f.owner), BCON_UTF8 (s->f.expiry), "]", "}");
   bson_t *cmd = update_cmd (s, owner, token, false, u, true);
   bson_destroy (u);
   return cmd;
}

/* Releases show in the business collection as updates that remove the owner field
 * (release, a releasing fenced write), or as deletes of the document. */
static void
watch_target (const void *self, mongolock_client_t *client, _mongolock_watch_target_t *out)
{
   (void) client;
   const _mongolock_doc_self_t *s = self;
   out->collection = s->collection;
   out->owner_field = s->f.owner;
   out->key = s->id;
}

const _mongolock_shape_t _mongolock_doc_shape = {
   acquire_cmd, parse_acquire, renew_cmd, release_cmd, _mongolock_parse_matched, watch_target, NULL};

/* ---- fenced writes and listing ------------------------------------------------------- */

/* Whether path is a lock field or inside one. */
static bool
is_lock_path (const _mongolock_doc_fields_t *f, const char *path)
{
   const char *names[3] = {f->owner, f->expiry, f->token};
   for (int i = 0; i < 3; i++) {
      size_t n = strlen (names[i]);
      if (strncmp (path, names[i], n) == 0 && (path[n] == '\0' || path[n] == '.')) {
         return true;
      }
   }
   return false;
}

/* Refuses a write to a lock field in the keys of doc (or the strings of an array). */
static bool
check_paths (const _mongolock_doc_fields_t *f, const bson_iter_t *container, const char *where, bson_error_t *error)
{
   bson_iter_t it;
   if (!bson_iter_recurse (container, &it)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is not a document", where);
      return false;
   }
   bool array = BSON_ITER_HOLDS_ARRAY (container);
   bool rename = strcmp (where, "$rename") == 0; /* {$rename: {from: "to"}}: both are written */
   while (bson_iter_next (&it)) {
      const char *path = array ? (BSON_ITER_HOLDS_UTF8 (&it) ? bson_iter_utf8 (&it, NULL) : "") : bson_iter_key (&it);
      if (rename && BSON_ITER_HOLDS_UTF8 (&it) && is_lock_path (f, bson_iter_utf8 (&it, NULL))) {
         path = bson_iter_utf8 (&it, NULL);
      }
      if (is_lock_path (f, path)) {
         _mongolock_set_error (
            error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s writes the lock field \"%s\": only the lock may", where, path);
         return false;
      }
   }
   return true;
}

/* Checks update and copies it into u, adding the release when asked. */
static bool
build_update (const _mongolock_doc_self_t *s, const bson_t *update, bool pipeline, bool release, bson_t *u,
              bson_error_t *error)
{
   bson_iter_t it;
   if (!bson_iter_init (&it, update) || bson_empty (update)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "update is empty or corrupt");
      return false;
   }
   bool has_unset = false;
   uint32_t n = 0;
   while (bson_iter_next (&it)) {
      const char *k = bson_iter_key (&it);
      if (pipeline) {
         bson_iter_t stage;
         if (!BSON_ITER_HOLDS_DOCUMENT (&it) || !bson_iter_recurse (&it, &stage) || !bson_iter_next (&stage)) {
            _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "pipeline stage %s is not a stage", k);
            return false;
         }
         const char *op = bson_iter_key (&stage);
         if (strcmp (op, "$set") != 0 && strcmp (op, "$addFields") != 0 && strcmp (op, "$unset") != 0) {
            _mongolock_set_error (error,
                                  MONGOLOCK_ERROR_INVALID_ARGUMENT,
                                  "pipeline stage %s would drop or rewrite the lock fields: use $set, $addFields or $unset",
                                  op);
            return false;
         }
         if (BSON_ITER_HOLDS_UTF8 (&stage)) {
            if (is_lock_path (&s->f, bson_iter_utf8 (&stage, NULL))) {
               _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s writes a lock field", op);
               return false;
            }
         } else if (!check_paths (&s->f, &stage, op, error)) {
            return false;
         }
         char key[16];
         bson_snprintf (key, sizeof key, "%u", n++);
         bson_append_iter (u, key, -1, &it);
         continue;
      }
      if (k[0] != '$') {
         _mongolock_set_error (error,
                               MONGOLOCK_ERROR_INVALID_ARGUMENT,
                               "update field \"%s\" is not an operator: a replacement document would drop the lock",
                               k);
         return false;
      }
      if (!BSON_ITER_HOLDS_DOCUMENT (&it) || !check_paths (&s->f, &it, k, error)) {
         if (!BSON_ITER_HOLDS_DOCUMENT (&it)) {
            _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s takes a document", k);
         }
         return false;
      }
      if (release && strcmp (k, "$unset") == 0) {
         /* Merge the release into the caller's $unset. */
         bson_t child, theirs;
         uint32_t len;
         const uint8_t *data;
         bson_iter_document (&it, &len, &data);
         BSON_APPEND_DOCUMENT_BEGIN (u, "$unset", &child);
         if (bson_init_static (&theirs, data, len)) {
            bson_concat (&child, &theirs);
         }
         BSON_APPEND_UTF8 (&child, s->f.owner, "");
         BSON_APPEND_UTF8 (&child, s->f.expiry, "");
         bson_append_document_end (u, &child);
         has_unset = true;
         continue;
      }
      bson_append_iter (u, k, -1, &it);
   }
   if (release && pipeline) {
      char key[16];
      bson_snprintf (key, sizeof key, "%u", n);
      bson_t *stage = BCON_NEW ("$unset", "[", BCON_UTF8 (s->f.owner), BCON_UTF8 (s->f.expiry), "]");
      BSON_APPEND_DOCUMENT (u, key, stage);
      bson_destroy (stage);
   } else if (release && !has_unset) {
      bson_t child;
      BSON_APPEND_DOCUMENT_BEGIN (u, "$unset", &child);
      BSON_APPEND_UTF8 (&child, s->f.owner, "");
      BSON_APPEND_UTF8 (&child, s->f.expiry, "");
      bson_append_document_end (u, &child);
   }
   return true;
}

bson_t *
_mongolock_doc_fenced_update_cmd (const _mongolock_doc_self_t *s, const char *owner, int64_t token,
                                  const bson_t *update, int flags, bool release, bson_error_t *error)
{
   bool pipeline = (flags & MONGOLOCK_DOC_UPDATE_PIPELINE) != 0;
   bson_t u = BSON_INITIALIZER;
   if (!build_update (s, update, pipeline, release, &u, error)) {
      bson_destroy (&u);
      return NULL;
   }
   bson_t *cmd = update_cmd (s, owner, token, true, &u, pipeline);
   bson_destroy (&u);
   return cmd;
}

bson_t *
_mongolock_doc_exists_cmd (const _mongolock_doc_self_t *s)
{
   bson_t *cmd = BCON_NEW ("find", BCON_UTF8 (s->collection));
   bson_t filter;
   BSON_APPEND_DOCUMENT_BEGIN (cmd, "filter", &filter);
   append_id (&filter, s);
   bson_append_document_end (cmd, &filter);
   BCON_APPEND (cmd, "projection", "{", "_id", BCON_INT32 (1), "}", "limit", BCON_INT32 (1), "singleBatch", BCON_BOOL (true));
   return cmd;
}

/* Liveness and time left by the server's clock, in the same command that reads. */
bson_t *
_mongolock_doc_list_cmd (const char *collection, const _mongolock_doc_fields_t *f, int64_t limit)
{
   refs_t r;
   make_refs (f, &r);
   return BCON_NEW (
      "aggregate", BCON_UTF8 (collection),
      "pipeline", "[",
         "{", "$match", "{", f->owner, "{", "$exists", BCON_BOOL (true), "}", "}", "}",
         "{", "$limit", BCON_INT64 (limit + 1), "}",
         "{", "$project", "{",
            "_id", BCON_INT32 (1),
            "owner", BCON_UTF8 (r.owner),
            "token", BCON_UTF8 (r.token),
            "expiresAt", BCON_UTF8 (r.expiry),
            "held", "{", "$gt", "[", BCON_UTF8 (r.expiry), BCON_UTF8 ("$$NOW"), "]", "}",
            "remainingMs", "{", "$cond", "[", "{", "$gt", "[", BCON_UTF8 (r.expiry), BCON_UTF8 ("$$NOW"), "]", "}",
               "{", "$toLong", "{", "$subtract", "[", BCON_UTF8 (r.expiry), BCON_UTF8 ("$$NOW"), "]", "}", "}",
               BCON_INT64 (0), "]", "}",
         "}", "}",
      "]",
      "cursor", "{", "batchSize", BCON_INT64 (limit + 1), "}");
}
