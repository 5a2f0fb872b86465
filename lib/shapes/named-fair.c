/* SPDX-License-Identifier: Apache-2.0 */
/* The named lock's fair mode (mongolock_lock_opts_set_fair): the lock document also holds
 * a FIFO queue of waiters, queue: [{o: owner, c: its client's identity, e: entry expiry}],
 * decided by the server's clock in the same single findAndModify as the lock itself. The
 * engine (lib/engine/fair.c) decides when a queued waiter tries again. */
#include "../lock-private.h"

#include <string.h>

/*
 * The queueing acquire, without its let ($$o: this attempt's owner; $$c: its client's
 * identity; $$j: true for a waiting acquire, which queues when busy). Filtered on _id alone (no $expr in an
 * upsert's query, code 224); two stages:
 *   1. queue := its entries whose expiry is still in the future by $$NOW (a waiter that
 *      stopped refreshing its entry drops out; a missing queue is []);
 *   2. merged into the document ($$ROOT keeps _id, releasedAt, ...):
 *      - the lock is free (expiresAt <= $$NOW, or missing in an upsert seed) and the
 *        queue is empty or its head is $$o: taken as by the plain acquire (new token
 *        max(token + 1, $$NOW ms * 2^20)), and $$o's entry removed;
 *      - live and already $$o's: the lease extended, the token kept;
 *      - otherwise, when $$j: $$o's entry refreshed (expiry $$NOW + queue lease) where
 *        it stands, or appended at the tail; when not $$j: nothing.
 * The reply carries token, expiresAt, the queue (the client reads its place), and, as the
 * plain acquire's, "mine" (owner == $$o, computed by the projection, which sees the let)
 * and "hasOwner" (a released lock not yet taken has none).
 */
static bson_t *
build_fair_acquire (const char *collection, const char *key, int64_t lease_ms)
{
   return BCON_NEW (
      "findAndModify", BCON_UTF8 (collection),
      "query", "{", "_id", BCON_UTF8 (key), "}",
      "update", "[",
         "{", "$set", "{", "queue", "{", "$filter", "{",
            "input", "{", "$ifNull", "[", BCON_UTF8 ("$queue"), "[", "]", "]", "}",
            "cond", "{", "$gt", "[", BCON_UTF8 ("$$this.e"), BCON_UTF8 ("$$NOW"), "]", "}",
         "}", "}", "}", "}",
         "{", "$replaceWith", "{", "$mergeObjects", "[", BCON_UTF8 ("$$ROOT"),
            "{", "$cond", "[",
               "{", "$and", "[",
                  "{", "$lte", "[", BCON_UTF8 ("$expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
                  "{", "$or", "[",
                     "{", "$eq", "[", "{", "$size", BCON_UTF8 ("$queue"), "}", BCON_INT32 (0), "]", "}",
                     "{", "$eq", "[", "{", "$arrayElemAt", "[", BCON_UTF8 ("$queue.o"), BCON_INT32 (0), "]", "}",
                        BCON_UTF8 ("$$o"), "]", "}",
                  "]", "}",
               "]", "}",
               "{",
                  "owner", BCON_UTF8 ("$$o"),
                  "token", "{", "$max", "[",
                     "{", "$add", "[", BCON_UTF8 ("$token"), BCON_INT32 (1), "]", "}",
                     "{", "$multiply", "[", "{", "$toLong", BCON_UTF8 ("$$NOW"), "}",
                        BCON_INT32 (_MONGOLOCK_TOKEN_TIME_SCALE), "]", "}",
                  "]", "}",
                  "expiresAt", "{", "$add", "[", BCON_UTF8 ("$$NOW"), BCON_INT64 (lease_ms), "]", "}",
                  "acquiredAt", BCON_UTF8 ("$$NOW"),
                  "leaseMs", BCON_INT64 (lease_ms),
                  "queue", "{", "$filter", "{", "input", BCON_UTF8 ("$queue"),
                     "cond", "{", "$ne", "[", BCON_UTF8 ("$$this.o"), BCON_UTF8 ("$$o"), "]", "}", "}", "}",
               "}",
               "{", "$cond", "[",
                  "{", "$and", "[",
                     "{", "$gt", "[", BCON_UTF8 ("$expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
                     "{", "$eq", "[", BCON_UTF8 ("$owner"), BCON_UTF8 ("$$o"), "]", "}",
                  "]", "}",
                  "{", "expiresAt", "{", "$add", "[", BCON_UTF8 ("$$NOW"), BCON_INT64 (lease_ms), "]", "}", "}",
                  "{", "$cond", "[", BCON_UTF8 ("$$j"),
                     "{", "queue", "{", "$cond", "[",
                        "{", "$in", "[", BCON_UTF8 ("$$o"), BCON_UTF8 ("$queue.o"), "]", "}",
                        "{", "$map", "{", "input", BCON_UTF8 ("$queue"), "in", "{", "$cond", "[",
                           "{", "$eq", "[", BCON_UTF8 ("$$this.o"), BCON_UTF8 ("$$o"), "]", "}",
                           "{", "o", BCON_UTF8 ("$$o"), "c", BCON_UTF8 ("$$c"),
                              "e", "{", "$add", "[", BCON_UTF8 ("$$NOW"), BCON_INT64 (MONGOLOCK_FAIR_QUEUE_LEASE_MS), "]", "}",
                           "}",
                           BCON_UTF8 ("$$this"),
                        "]", "}", "}", "}",
                        "{", "$concatArrays", "[", BCON_UTF8 ("$queue"), "[",
                           "{", "o", BCON_UTF8 ("$$o"), "c", BCON_UTF8 ("$$c"),
                              "e", "{", "$add", "[", BCON_UTF8 ("$$NOW"), BCON_INT64 (MONGOLOCK_FAIR_QUEUE_LEASE_MS), "]", "}",
                           "}",
                        "]", "]", "}",
                     "]", "}", "}",
                     "{", "}",
                  "]", "}",
               "]", "}",
            "]", "}",
         "]", "}", "}",
      "]",
      "upsert", BCON_BOOL (true),
      "new", BCON_BOOL (true),
      "fields", "{", "_id", BCON_INT32 (0), "token", BCON_INT32 (1), "expiresAt", BCON_INT32 (1),
         "queue", BCON_INT32 (1),
         "mine", "{", "$eq", "[", BCON_UTF8 ("$owner"), BCON_UTF8 ("$$o"), "]", "}",
         "hasOwner", "{", "$gt", "[", BCON_UTF8 ("$owner"), BCON_NULL, "]", "}", "}");
}

/* The first live entry's field f (o or c), else null: {$let: {vars: {h: first live},
 * in: {$ifNull: ["$$h.f", null]}}}. */
static void
append_head_field (bson_t *parent, const char *name, const char *path)
{
   bson_t *e = BCON_NEW ("$let", "{",
      "vars", "{", "h", "{", "$arrayElemAt", "[",
         "{", "$filter", "{", "input", "{", "$ifNull", "[", BCON_UTF8 ("$queue"), "[", "]", "]", "}",
            "cond", "{", "$gt", "[", BCON_UTF8 ("$$this.e"), BCON_UTF8 ("$$NOW"), "]", "}", "}", "}",
         BCON_INT32 (0), "]", "}", "}",
      "in", "{", "$ifNull", "[", BCON_UTF8 (path), BCON_NULL, "]", "}",
   "}");
   BSON_APPEND_DOCUMENT (parent, name, e);
   bson_destroy (e);
}

void
_mongolock_named_set_fair (_mongolock_named_t *n, const mongolock_client_t *client)
{
   n->identity = client->identity;
   n->fair_acquire = build_fair_acquire (n->collection, n->key, n->lease_ms);
   /* The release also names the queue's head (nextOwner) and its client (nextClient):
    * the change stream of that client alone is sent the release (watcher.c), and it
    * wakes only that waiter. A release with nobody queued names null. */
   bson_destroy (n->release_update);
   bson_t *set = BCON_NEW (
      "expiresAt", "{", "$min", "[", BCON_UTF8 ("$expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
      "releasedAt", BCON_UTF8 ("$$NOW"));
   append_head_field (set, "nextOwner", "$$h.o");
   append_head_field (set, "nextClient", "$$h.c");
   BSON_APPEND_UTF8 (set, "owner", "$$REMOVE");
   n->release_update = BCON_NEW ("0", "{", "$set", BCON_DOCUMENT (set), "}");
   bson_destroy (set);
}

/* A let value is an expression: an owner that starts with '$' goes in as a $literal. */
static void
append_owner (bson_t *let, const char *me)
{
   if (me[0] == '$') {
      bson_t lit;
      BSON_APPEND_DOCUMENT_BEGIN (let, "o", &lit);
      BSON_APPEND_UTF8 (&lit, "$literal", me);
      bson_append_document_end (let, &lit);
   } else {
      BSON_APPEND_UTF8 (let, "o", me);
   }
}

bson_t *
_mongolock_named_fair_cmd (const _mongolock_named_t *n, const char *me, bool join)
{
   bson_t *cmd = bson_sized_new (n->fair_acquire->len + (uint32_t) strlen (me) + 64);
   bson_concat (cmd, n->fair_acquire);
   bson_t let;
   BSON_APPEND_DOCUMENT_BEGIN (cmd, "let", &let);
   append_owner (&let, me);
   BSON_APPEND_BOOL (&let, "j", join);
   bson_t lit;
   BSON_APPEND_DOCUMENT_BEGIN (&let, "c", &lit); /* an identity may start with '$' */
   BSON_APPEND_UTF8 (&lit, "$literal", n->identity);
   bson_append_document_end (&let, &lit);
   bson_append_document_end (cmd, &let);
   return cmd;
}

void
_mongolock_named_fair_parse_queue (bson_iter_t *queue, const char *me, _mongolock_attempt_t *res)
{
   bson_iter_t arr, entry;
   if (!BSON_ITER_HOLDS_ARRAY (queue) || !bson_iter_recurse (queue, &arr)) {
      return;
   }
   for (int i = 0; bson_iter_next (&arr); i++) {
      if (!BSON_ITER_HOLDS_DOCUMENT (&arr) || !bson_iter_recurse (&arr, &entry)) {
         continue;
      }
      while (bson_iter_next (&entry)) {
         const char *k = bson_iter_key (&entry);
         if (strcmp (k, "o") == 0 && BSON_ITER_HOLDS_UTF8 (&entry) && res->queue_pos < 0 &&
             strcmp (bson_iter_utf8 (&entry, NULL), me) == 0) {
            res->queue_pos = i;
         } else if (i == 0 && strcmp (k, "e") == 0 && BSON_ITER_HOLDS_DATE_TIME (&entry)) {
            res->head_expires_ms = bson_iter_date_time (&entry);
         }
      }
   }
}

/* {findAndModify, query: {_id}, update: {$pull: {queue: {o: me}}}}: $pull applies its
 * condition to each element as if it were a top-level document (manual, "$pull", "Remove
 * Items from an Array of Documents"); a missing queue or document changes nothing. A
 * findAndModify so that it is retryable like the other commands of the handle. */
bson_t *
_mongolock_named_dequeue_cmd (const _mongolock_named_t *n, const char *me)
{
   return BCON_NEW ("findAndModify", BCON_UTF8 (n->collection),
                    "query", "{", "_id", BCON_UTF8 (n->key), "}",
                    "update", "{", "$pull", "{", "queue", "{", "o", BCON_UTF8 (me), "}", "}", "}",
                    "fields", "{", "_id", BCON_INT32 (1), "}");
}
