/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MONGOLOCK_FENCE_H
#define MONGOLOCK_FENCE_H

/**
 * @file
 * @brief Fenced writes: business writes conditional on a lock's fencing token.
 *
 * A business document records in a fence field the fencing token of the last lock holder
 * that wrote it. A write carrying token T applies only when the stored token is missing or
 * <= T, and stores T. A holder whose lease expired while it was paused carries an older
 * token than the holder that took over and wrote since, so its late write matches nothing
 * and is rejected.
 */

#include <mongoc/mongoc.h>

#include <mongolock/mongolock-macros.h>

MONGOLOCK_BEGIN_DECLS

/**
 * @brief Builds the fenced form of an update (no I/O).
 *
 * The results are
 *   - filter: `{$and: [selector, {fence_field: {$not: {$gt: token}}}]}`
 *   - update: @p update with `fence_field: token` added to its `$set`.
 *
 * @param selector    Borrowed: the filter of the business write.
 * @param update      Borrowed: an operator update (`{"$set": ..., "$inc": ...}`);
 *                    replacement documents and pipelines are refused, and so is an update
 *                    that itself writes @p fence_field.
 * @param fence_field Borrowed: a top-level field name.
 * @param token       The lock's fencing token (mongolock_lock_token()), > 0.
 * @param filter_out  OUT, always initialised, the caller's to destroy: the fenced filter.
 * @param update_out  OUT, always initialised, the caller's to destroy: the fenced update.
 * @param error       OUT, optional: set when false is returned.
 * @return true when built; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT for a NULL
 *         argument, a token <= 0, an empty or non-operator update, or one that writes the
 *         fence field.
 *
 * Thread safety: any thread (touches only its arguments). Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_fence_build (const bson_t *selector,
                       const bson_t *update,
                       const char *fence_field,
                       int64_t token,
                       bson_t *filter_out,
                       bson_t *update_out,
                       bson_error_t *error);

/**
 * @brief Runs the fenced update on one document of @p collection.
 *
 * @param collection  Borrowed: the application's collection.
 * @param selector    Borrowed: as for mongolock_fence_build().
 * @param update      Borrowed: as for mongolock_fence_build().
 * @param fence_field Borrowed: as for mongolock_fence_build().
 * @param token       The lock's fencing token, > 0.
 * @param opts        Borrowed, optional: passed to mongoc_collection_update_one()
 *                    (writeConcern, ...); "upsert" is refused, since a rejected stale
 *                    write must not insert.
 * @param applied     OUT, required: true when a document matched and was written; false
 *                    when none matched: either no document matches @p selector or a newer
 *                    token has written it (a stale holder); to tell those two apart, use
 *                    mongolock_fenced_update_one_result().
 * @param error       OUT, optional: set when false is returned.
 * @return true when the update ran (whatever @p applied says); false with
 *         #MONGOLOCK_ERROR_INVALID_ARGUMENT (as mongolock_fence_build(), a NULL
 *         collection or applied, or upsert in @p opts) or the driver's or server's error.
 *
 * Thread safety: as the collection (a mongoc_collection_t is used by one thread at a time).
 * Blocking: one update on the application's collection, bounded by that client's own URI
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

/** What a fenced update found (mongolock_fenced_update_one_result). */
typedef enum {
   /** A document matched selector, held no newer token, and was written. */
   MONGOLOCK_FENCE_APPLIED = 1,
   /** A document matches selector but holds a newer token: this holder is stale, nothing
    * was written. */
   MONGOLOCK_FENCE_STALE = 2,
   /** No document matched selector when the update ran: nothing was written. */
   MONGOLOCK_FENCE_NO_DOCUMENT = 3,
} mongolock_fence_result_t;

/**
 * Runs the fenced update on one document (as mongolock_fenced_update_one) and says which
 * of the three outcomes it had, so that a stale holder is never mistaken for a missing
 * document or the other way round.
 *
 * One round trip when the write applies. When nothing matched, one more: a find on
 * selector (limit 1, only fence_field returned, from the primary, with opts' sessionId,
 * collation and let) tells STALE from NO_DOCUMENT. The server cannot say why an update
 * matched nothing, and an operator update ($inc, $push, ...) cannot in general be
 * rewritten as a pipeline that decides with $cond, so the extra read is only paid by the
 * writes that did not apply. A document that appears, or starts to match, between the two
 * is not written and is reported as NO_DOCUMENT (true of the moment the update ran); a
 * stored token never decreases, so STALE stays true.
 *
 * @param collection  borrowed: the application's collection.
 * @param selector    borrowed: which document (the first match is written).
 * @param update      borrowed: an operator update, as for mongolock_fence_build.
 * @param fence_field a top-level field name holding the last writer's token.
 * @param token       this holder's fencing token (> 0).
 * @param opts        borrowed, optional: mongoc_collection_update_one's options
 *                    (writeConcern, sessionId, collation, let, hint, ...); "upsert" is
 *                    refused, since a rejected stale write must not insert.
 * @param result      OUT, required: APPLIED, STALE or NO_DOCUMENT (0 on failure).
 * @param stored_token OUT, optional: with STALE, the newer token the document holds;
 *                    otherwise 0.
 * @param error       OUT, optional: why it failed.
 * @return true with *result set; false on MONGOLOCK_ERROR_INVALID_ARGUMENT (NULL
 *         collection or result, a bad field, token or update, "upsert" in opts: nothing
 *         sent) or the driver's or server's error. A failed update wrote nothing unless it
 *         timed out (then it may have landed); a failure of the follow-up find means the
 *         update did not apply, but not why.
 * Thread safety: as the collection; mongoc_collection_t is not thread-safe, so one thread
 * at a time per collection handle.
 * Blocking: one or two commands on the application's collection, each bounded by that
 * client's own URI timeouts (socketTimeoutMS, serverSelectionTimeoutMS); mongolock does not
 * run them on its workers.
 */
MONGOLOCK_EXPORT bool
mongolock_fenced_update_one_result (mongoc_collection_t *collection,
                                    const bson_t *selector,
                                    const bson_t *update,
                                    const char *fence_field,
                                    int64_t token,
                                    const bson_t *opts,
                                    mongolock_fence_result_t *result,
                                    int64_t *stored_token,
                                    bson_error_t *error);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_FENCE_H */
