#ifndef MONGOLOCK_FENCE_H
#define MONGOLOCK_FENCE_H

#include <mongoc/mongoc.h>

#include <mongolock/mongolock-macros.h>

MONGOLOCK_BEGIN_DECLS

/*
 * Fenced writes: a business document records in fence_field the fencing token of the
 * last lock holder that wrote it. A write carrying token T applies only when the stored
 * token is missing or <= T, and stores T. A holder whose lease expired while it was paused
 * carries an older token than the holder that took over and wrote since, so its late
 * write matches nothing and is rejected.
 */

/*
 * Builds the fenced form of an update. selector: borrowed filter. update: borrowed
 * operator update ({"$set": ..., "$inc": ...}); replacement documents and pipelines are
 * refused, and so is an update that itself writes fence_field. fence_field: a top-level
 * field name. token > 0.
 * filter_out and update_out (OUT, always initialised, the caller's to destroy) receive
 *   filter: {$and: [selector, {fence_field: {$not: {$gt: token}}}]}
 *   update: update with fence_field: token added to its $set.
 * Does not block (no I/O).
 */
MONGOLOCK_EXPORT bool
mongolock_fence_build (const bson_t *selector,
                       const bson_t *update,
                       const char *fence_field,
                       int64_t token,
                       bson_t *filter_out,
                       bson_t *update_out,
                       bson_error_t *error);

/*
 * Runs the fenced update on one document of collection (borrowed). *applied (OUT,
 * required) is true when a document matched and was written, false when none matched:
 * either no document matches selector or a newer token has written it (a stale holder).
 * opts: borrowed, optional, passed to mongoc_collection_update_one (writeConcern, ...);
 * "upsert" is refused, since a rejected stale write must not insert.
 * Blocks: one update on the application's collection, bounded by that client's own URI
 * timeouts (mongolock does not run it on its workers).
 */
MONGOLOCK_EXPORT bool
mongolock_fenced_update_one (mongoc_collection_t *collection,
                             const bson_t *selector,
                             const bson_t *update,
                             const char *fence_field,
                             int64_t token,
                             const bson_t *opts,
                             bool *applied,
                             bson_error_t *error);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_FENCE_H */
