/* SPDX-License-Identifier: Apache-2.0 */
/* The reader/writer lock's documents and commands: one document per key in the client's
 * lock collection, {_id: key, kind: "rwlock", holders: [{owner, token, mode: "r"|"w",
 * acquiredAt, expiresAt}], waiting: [{owner, until}], token, expiresAt}. Many readers or
 * one writer. Writer preference is recorded on the server: a writer that finds the lock
 * busy leaves a mark in 'waiting' (until $$NOW + its lease), and no new reader enters
 * while another's live mark is there, so a stream of readers cannot starve a writer; a
 * writer that goes away stops blocking readers when its mark runs out. Renew and release
 * are the holders' common commands (holders.c). */
#include "../rwlock-private.h"
#include "shapes-private.h"

#include <string.h>

/*
 * Acquire: one findAndModify upsert on {_id}; against one $$NOW:
 *   live, wait: the holders and waiting marks still live (expired ones are dropped)
 *   ok:   the document is a reader/writer lock, or no lock of another kind is live on it;
 *         else nothing changes: a live named lock is an exclusive holder (busy, like a
 *         writer), a live semaphore is MONGOLOCK_ERROR_MISMATCH
 *   mine: this owner already holds (a retry after a lost reply): its entry is extended
 *   take: a writer: no live holder; a reader: no live writer and no other's live mark
 *   a writer's own mark is removed when it enters and set (again) when it does not
 * Variables: $$me, $$mode ('r' or 'w'), $$lease (ms).
 */
static const char ACQUIRE[] =
   "{'query': {}, 'upsert': true, 'new': true, 'update': ["
   " {'$set': {'_mlk_live': {'$filter': {'input': {'$ifNull': ['$holders', []]}, 'as': 'h',"
   "     'cond': {'$gt': ['$$h.expiresAt', '$$NOW']}}},"
   "   '_mlk_wait': {'$filter': {'input': {'$ifNull': ['$waiting', []]}, 'as': 'w',"
   "     'cond': {'$and': [{'$gt': ['$$w.until', '$$NOW']}, {'$ne': ['$$w.owner', '$$me']}]}}}}},"
   " {'$set': {'_mlk_ok': {'$cond': [{'$and': [{'$eq': ['$kind', 'rwlock']}, {'$eq': [{'$type': '$owner'}, 'missing']}]},"
   "     true, {'$lte': ['$expiresAt', '$$NOW']}]},"
   "   '_mlk_mine': {'$in': ['$$me', '$_mlk_live.owner']},"
   "   '_mlk_free': {'$cond': [{'$eq': ['$$mode', 'w']}, {'$eq': [{'$size': '$_mlk_live'}, 0]},"
   "     {'$and': [{'$not': [{'$in': ['w', '$_mlk_live.mode']}]}, {'$eq': [{'$size': '$_mlk_wait'}, 0]}]}]}}},"
   " {'$set': {'_mlk_take': {'$and': ['$_mlk_ok', {'$not': ['$_mlk_mine']}, '$_mlk_free']},"
   "   '_mlk_mine': {'$and': ['$_mlk_ok', '$_mlk_mine']}}},"
   " {'$set': {'token': {'$cond': ['$_mlk_take', {'$max': ["
   "     {'$add': [{'$ifNull': ['$token', {'$numberLong': '0'}]}, {'$numberLong': '1'}]},"
   "     {'$multiply': [{'$toLong': '$$NOW'}, {'$numberLong': '1048576'}]}]}, '$token']}}},"
   " {'$set': {"
   "   'holders': {'$cond': ['$_mlk_take',"
   "     {'$concatArrays': ['$_mlk_live', [{'owner': '$$me', 'token': '$token', 'mode': '$$mode',"
   "       'acquiredAt': '$$NOW', 'expiresAt': {'$add': ['$$NOW', '$$lease']}}]]},"
   "     {'$cond': ['$_mlk_mine',"
   "       {'$map': {'input': '$_mlk_live', 'in': {'$cond': [{'$eq': ['$$this.owner', '$$me']},"
   "         {'$mergeObjects': ['$$this', {'expiresAt': {'$add': ['$$NOW', '$$lease']}}]}, '$$this']}}},"
   "       {'$cond': ['$_mlk_ok', '$_mlk_live', '$holders']}]}]},"
   "   'waiting': {'$cond': ['$_mlk_ok',"
   "     {'$cond': [{'$and': [{'$eq': ['$$mode', 'w']}, {'$not': ['$_mlk_take']}, {'$not': ['$_mlk_mine']}]},"
   "       {'$concatArrays': ['$_mlk_wait', [{'owner': '$$me', 'until': {'$add': ['$$NOW', '$$lease']}}]]},"
   "       '$_mlk_wait']},"
   "     '$waiting']},"
   "   'kind': {'$cond': ['$_mlk_ok', 'rwlock', '$kind']},"
   "   'owner': {'$cond': ['$_mlk_ok', '$$REMOVE', '$owner']},"
   "   'permits': {'$cond': ['$_mlk_ok', '$$REMOVE', '$permits']}}},"
   " {'$set': {'expiresAt': {'$cond': ['$_mlk_ok',"
   "   {'$ifNull': [{'$max': '$holders.expiresAt'}, '$$NOW']}, '$expiresAt']}}},"
   " {'$unset': ['_mlk_live', '_mlk_wait', '_mlk_ok', '_mlk_mine', '_mlk_free', '_mlk_take']}]}";

static bson_t *
acquire_cmd (const void *self, mongolock_client_t *client, const char *me, int64_t lease_ms, bool join)
{
   (void) join;
   const _mongolock_rw_self_t *s = self;
   bson_t *let = BCON_NEW ("me", BCON_UTF8 (me),
                           "mode", BCON_UTF8 (s->mode == MONGOLOCK_RWLOCK_WRITE ? "w" : "r"),
                           "lease", BCON_INT64 (lease_ms));
   bson_t *cmd = _mongolock_shape_command ("findAndModify", client->collection, s->key, ACQUIRE, let);
   bson_destroy (let);
   return cmd;
}

static bool
parse_acquire (const void *self, const char *me, const bson_t *reply, _mongolock_attempt_t *res, bson_error_t *error)
{
   const _mongolock_rw_self_t *s = self;
   _mongolock_holders_t h;
   if (!_mongolock_holders_find (reply, me, &h, error)) {
      return false;
   }
   res->acquired = h.mine;
   res->token = h.my_token;
   res->holder_expires_ms = h.min_expires_ms >= 0 ? h.min_expires_ms : -1;
   if (h.mine) {
      return true;
   }
   if (strcmp (h.kind, "semaphore") == 0 && !h.named_owner) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_MISMATCH,
                            "key \"%s\" is held as a semaphore, not as a reader/writer lock",
                            s->key);
      return false;
   }
   if (h.named_owner) {
      /* A live named lock is an exclusive holder, like a writer: busy, not a mismatch
       * (mongolock run KEY and mongolock run --shared KEY share a key). */
      res->holder_expires_ms = h.expires_ms > 0 ? h.expires_ms : -1;
   }
   return true; /* busy */
}

const _mongolock_shape_t _mongolock_rwlock_shape = {
   .acquire_cmd = acquire_cmd,
   .parse_acquire = parse_acquire,
   .renew_cmd = _mongolock_holders_renew_cmd,
   .release_cmd = _mongolock_holders_release_cmd,
   .parse_update = _mongolock_parse_matched,
};
