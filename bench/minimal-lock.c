/* SPDX-License-Identifier: Apache-2.0 */
/* See minimal-lock.h. */
#include "minimal-lock.h"

#include <sys/time.h>

int
minimal_lock_acquire (mongoc_collection_t *coll, const char *key, const char *owner, int64_t lease_ms,
                      bson_error_t *error)
{
   struct timeval tv;
   gettimeofday (&tv, NULL);
   int64_t now = (int64_t) tv.tv_sec * 1000 + tv.tv_usec / 1000;
   bson_t *query = BCON_NEW ("_id", BCON_UTF8 (key), "expiresAt", "{", "$lte", BCON_DATE_TIME (now), "}");
   bson_t *update = BCON_NEW ("$set", "{", "owner", BCON_UTF8 (owner), "expiresAt", BCON_DATE_TIME (now + lease_ms), "}");
   bson_t reply;
   bool ok = mongoc_collection_find_and_modify (coll, query, NULL, update, NULL, false, true, false, &reply, error);
   bson_destroy (&reply);
   bson_destroy (query);
   bson_destroy (update);
   if (ok) {
      return 1;
   }
   return error->code == 11000 ? 0 : -1;
}

int
minimal_lock_release (mongoc_collection_t *coll, const char *key, const char *owner, bson_error_t *error)
{
   bson_t *filter = BCON_NEW ("_id", BCON_UTF8 (key), "owner", BCON_UTF8 (owner));
   bson_t reply;
   bool ok = mongoc_collection_delete_one (coll, filter, NULL, &reply, error);
   bson_iter_t it;
   int deleted = ok && bson_iter_init_find (&it, &reply, "deletedCount") ? (int) bson_iter_as_int64 (&it) : 0;
   bson_destroy (&reply);
   bson_destroy (filter);
   return ok ? deleted == 1 : -1;
}
