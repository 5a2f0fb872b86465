/* SPDX-License-Identifier: Apache-2.0 */
/* The semaphore's documents and commands: one document per key in the client's lock
 * collection, {_id: key, kind: "semaphore", permits: N, holders: [{owner, token,
 * acquiredAt, expiresAt}], token: the last token given, expiresAt: the latest holder's
 * expiry (for the TTL index and for named locks, which see the key as busy while it is
 * live)}. The engine (lib/engine) does the rest. */
#include "../semaphore-private.h"
#include "shapes-private.h"

#include <string.h>

/*
 * Acquire: one findAndModify upsert on {_id} (MongoDB refuses $expr in an upsert's query,
 * code 224); the pipeline decides, against one $$NOW:
 *   live: the holders whose expiresAt is after $$NOW (expired ones are dropped here)
 *   ok:   the document is this semaphore with these N permits, or has no live holder
 *         (then it becomes one: a named lock's document whose lease has run out, or a
 *         semaphore whose holders have all gone, with any N); else nothing changes and
 *         the reply shows the mismatch (MONGOLOCK_ERROR_MISMATCH). A named lock that took
 *         the key sets 'owner' (and its release unsets it): while it is there the
 *         named lock's expiresAt decides.
 *   mine: this owner is already a live holder (a retry after a lost reply): its entry is
 *         extended, its token kept
 *   take: ok, not mine, and fewer than N live holders: a new entry with a new token,
 *         max(last token + 1, $$NOW in ms * 2^20), as for named locks
 * Variables: $$me (owner), $$n (permits), $$lease (ms).
 */
static const char ACQUIRE[] =
   "{'query': {}, 'upsert': true, 'new': true, 'update': ["
   " {'$set': {'_mlk_live': {'$filter': {'input': {'$ifNull': ['$holders', []]}, 'as': 'h',"
   "   'cond': {'$gt': ['$$h.expiresAt', '$$NOW']}}}}},"
   " {'$set': {'_mlk_ok': {'$cond': [{'$and': [{'$eq': ['$kind', 'semaphore']}, {'$eq': [{'$type': '$owner'}, 'missing']}]},"
   "     {'$or': [{'$eq': ['$permits', '$$n']}, {'$eq': [{'$size': '$_mlk_live'}, 0]}]},"
   "     {'$lte': ['$expiresAt', '$$NOW']}]},"
   "   '_mlk_mine': {'$in': ['$$me', '$_mlk_live.owner']}}},"
   " {'$set': {'_mlk_take': {'$and': ['$_mlk_ok', {'$not': ['$_mlk_mine']},"
   "     {'$lt': [{'$size': '$_mlk_live'}, '$$n']}]},"
   "   '_mlk_mine': {'$and': ['$_mlk_ok', '$_mlk_mine']}}},"
   " {'$set': {'token': {'$cond': ['$_mlk_take', {'$max': ["
   "     {'$add': [{'$ifNull': ['$token', {'$numberLong': '0'}]}, {'$numberLong': '1'}]},"
   "     {'$multiply': [{'$toLong': '$$NOW'}, {'$numberLong': '1048576'}]}]}, '$token']}}},"
   " {'$set': {"
   "   'holders': {'$cond': ['$_mlk_take',"
   "     {'$concatArrays': ['$_mlk_live', [{'owner': '$$me', 'token': '$token', 'acquiredAt': '$$NOW',"
   "       'expiresAt': {'$add': ['$$NOW', '$$lease']}}]]},"
   "     {'$cond': ['$_mlk_mine',"
   "       {'$map': {'input': '$_mlk_live', 'in': {'$cond': [{'$eq': ['$$this.owner', '$$me']},"
   "         {'$mergeObjects': ['$$this', {'expiresAt': {'$add': ['$$NOW', '$$lease']}}]}, '$$this']}}},"
   "       {'$cond': ['$_mlk_ok', '$_mlk_live', '$holders']}]}]},"
   "   'kind': {'$cond': ['$_mlk_ok', 'semaphore', '$kind']},"
   "   'permits': {'$cond': ['$_mlk_ok', '$$n', '$permits']},"
   "   'owner': {'$cond': ['$_mlk_ok', '$$REMOVE', '$owner']},"
   "   'waiting': {'$cond': ['$_mlk_ok', '$$REMOVE', '$waiting']}}},"
   " {'$set': {'expiresAt': {'$cond': ['$_mlk_ok',"
   "   {'$ifNull': [{'$max': '$holders.expiresAt'}, '$$NOW']}, '$expiresAt']}}},"
   " {'$unset': ['_mlk_live', '_mlk_ok', '_mlk_mine', '_mlk_take']}]}";

static bson_t *
acquire_cmd (const void *self, mongolock_client_t *client, const char *me, int64_t lease_ms, bool join)
{
   (void) join;
   const _mongolock_sem_self_t *s = self;
   bson_t *let = BCON_NEW ("me", BCON_UTF8 (me), "n", BCON_INT32 (s->permits), "lease", BCON_INT64 (lease_ms));
   bson_t *cmd = _mongolock_shape_command ("findAndModify", client->collection, s->key, ACQUIRE, let);
   bson_destroy (let);
   return cmd;
}

static bool
parse_acquire (const void *self, const char *me, const bson_t *reply, _mongolock_attempt_t *res, bson_error_t *error)
{
   const _mongolock_sem_self_t *s = self;
   _mongolock_holders_t h;
   if (!_mongolock_holders_find (reply, me, &h, error)) {
      return false;
   }
   res->acquired = h.mine;
   res->token = h.my_token;
   res->holder_expires_ms = h.min_expires_ms >= 0 ? h.min_expires_ms : (h.expires_ms > 0 ? h.expires_ms : -1);
   if (h.mine) {
      return true;
   }
   if (strcmp (h.kind, "semaphore") != 0 || h.named_owner) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_MISMATCH,
                            "key \"%s\" is held as another kind of lock (%s), not as a semaphore",
                            s->key,
                            h.kind[0] && !h.named_owner ? h.kind : "a named lock");
      return false;
   }
   if (h.permits != s->permits) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_MISMATCH,
                            "semaphore \"%s\" has %" PRId64 " permits while it is held; this handle asks for %d",
                            s->key,
                            h.permits,
                            (int) s->permits);
      return false;
   }
   return true; /* busy: N live holders */
}

const _mongolock_shape_t _mongolock_semaphore_shape = {
   .acquire_cmd = acquire_cmd,
   .parse_acquire = parse_acquire,
   .renew_cmd = _mongolock_holders_renew_cmd,
   .release_cmd = _mongolock_holders_release_cmd,
   .parse_update = _mongolock_parse_matched,
};
