/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MONGOLOCK_LOCK_H
#define MONGOLOCK_LOCK_H

/**
 * @file
 * @brief Lease locks on a named key: acquire, renew, release, fencing tokens and events.
 */

#include <mongolock/mongolock-cancel.h>
#include <mongolock/mongolock-client.h>
#include <mongolock/mongolock-macros.h>

MONGOLOCK_BEGIN_DECLS

/**
 * @brief One handle on a named lock.
 *
 * A handle is used by one thread at a time (it is NOT thread-safe; give each thread its
 * own handle). Two handles on the same key exclude each other whether they live in one
 * process or in two: the owner recorded in the lock document is the client identity plus
 * a random per-handle nonce.
 *
 * The lock is a lease: held until released or until the lease runs out by the server's
 * clock. Expiry is decided only by the server's clock ($$NOW), never by the client's.
 */
typedef struct _mongolock_lock_t mongolock_lock_t;

/** @brief Builder for lock settings. Used by one thread at a time; a lock copies what it
 * needs. Its functions never block. */
typedef struct _mongolock_lock_opts_t mongolock_lock_opts_t;

/** Keys are UTF-8 strings of 1..MONGOLOCK_KEY_MAX_BYTES bytes. */
#define MONGOLOCK_KEY_MAX_BYTES 512
/** The shortest lease accepted, in ms. */
#define MONGOLOCK_LEASE_MIN_MS 50
/** The longest lease accepted, in ms (a day). */
#define MONGOLOCK_LEASE_MAX_MS (24 * 3600 * 1000)
/** The default lease, in ms. */
#define MONGOLOCK_DEFAULT_LEASE_MS 30000
/** The longest wait accepted, in ms (a day). */
#define MONGOLOCK_WAIT_MAX_MS (24 * 3600 * 1000)
/** The default wait of mongolock_lock_acquire(), in ms. */
#define MONGOLOCK_DEFAULT_WAIT_MS 10000
/** The largest backoff base or cap accepted, in ms. */
#define MONGOLOCK_BACKOFF_MAX_MS 60000
/* Backoff defaults, chosen with bench/bench-contention: with a 1000 ms cap, a process that
 * releases and re-acquires at once starved waiters for seconds (contended p99 0.9-5.4 s,
 * fairness 0.00-0.13 for a 0.2 ms hold); a 100 ms cap cut that 3-4x for about one more
 * command per contended acquisition. Raise the cap for locks held for seconds with many
 * waiters, to poll the server less. */
/** The default backoff base, in ms (see mongolock_lock_opts_set_backoff()). */
#define MONGOLOCK_DEFAULT_BACKOFF_BASE_MS 5
/** The default backoff cap, in ms. */
#define MONGOLOCK_DEFAULT_BACKOFF_CAP_MS 100
/** A fair waiter's queue entry lives this long on the server (ms) unless its waiter
 * refreshes it (every half of it): a waiter that died blocks the queue at most
 * this long (see mongolock_lock_opts_set_fair()). */
#define MONGOLOCK_FAIR_QUEUE_LEASE_MS 3000

/** @brief What happened to a lock; delivered to the event callback. */
typedef enum {
   MONGOLOCK_EVENT_ACQUIRED = 1, /**< the handle took the lock (wait_ms, attempts set) */
   MONGOLOCK_EVENT_CONTENDED,    /**< an attempt found another holder (attempts, wait_ms so far) */
   MONGOLOCK_EVENT_TIMED_OUT,    /**< mongolock_lock_acquire gave up at its deadline */
   MONGOLOCK_EVENT_RENEWED,      /**< the lease was extended (hold_ms so far) */
   MONGOLOCK_EVENT_LOST,         /**< the lease ended while the handle believed it held it */
   MONGOLOCK_EVENT_RELEASED,     /**< released; error set when the release failed */
   MONGOLOCK_EVENT_DEGRADED,     /**< a guard ran a callback under its process-local mutex because
                                    the lock store was unreachable (error: the store's error) */
   MONGOLOCK_EVENT_WAIT_MODE,    /**< how a waiting acquire learns of releases (see
                                    mongolock_event_wait_mode and docs/wake-up.md); once per
                                    waiting acquire when first known, and again when it changes */
} mongolock_event_type_t;

/** @brief An event, valid only during the callback. Read it with the mongolock_event_*
 * getters, which never block and may be called from the callback's thread only. */
typedef struct _mongolock_event_t mongolock_event_t;

/**
 * @brief Event callback.
 *
 * Runs on the thread that caused the event: the caller's thread, or (for RENEWED and LOST
 * with auto-renewal) the client's renewal scheduler or one of its command workers; two of
 * those may overlap. It must not call into the same handle, and should return quickly:
 * LOST of the client's other handles waits for it. release and destroy wait for a
 * callback of the handle that is running.
 * @param event      Borrowed: valid only during the call.
 * @param user_data  As given to mongolock_lock_opts_set_event_callback().
 */
typedef void (*mongolock_event_cb_t) (const mongolock_event_t *event, void *user_data);

/**
 * @brief The event's type.
 * @param event  Borrowed, required (not NULL).
 * @return The type.
 *
 * Errors: none. Thread safety: the callback's thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT mongolock_event_type_t
mongolock_event_type (const mongolock_event_t *event);

/**
 * @brief Static name of an event type ("acquired", "contended", ...).
 * @param type  Any value.
 * @return A static string, never NULL; "unknown" for a value that is no event type.
 *
 * Errors: none. Thread safety: any thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT const char *
mongolock_event_type_name (mongolock_event_type_t type);

/**
 * @brief The lock's key.
 * @param event  Borrowed, required.
 * @return Owned by the handle; valid during the callback.
 *
 * Errors: none. Thread safety: the callback's thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT const char *
mongolock_event_key (const mongolock_event_t *event);

/**
 * @brief Fencing token of the acquisition concerned.
 * @param event  Borrowed, required.
 * @return The token, 0 when none.
 *
 * Errors: none. Thread safety: the callback's thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT int64_t
mongolock_event_token (const mongolock_event_t *event);

/**
 * @brief Milliseconds spent waiting in the acquire that produced the event.
 * @param event  Borrowed, required.
 * @return The wait, 0 for events of no acquire.
 *
 * Errors: none. Thread safety: the callback's thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT int64_t
mongolock_event_wait_ms (const mongolock_event_t *event);

/**
 * @brief Milliseconds the lock has been held (RENEWED, LOST, RELEASED).
 * @param event  Borrowed, required.
 * @return The hold so far, 0 for other events.
 *
 * Errors: none. Thread safety: the callback's thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT int64_t
mongolock_event_hold_ms (const mongolock_event_t *event);

/**
 * @brief Server round trips made by the acquire that produced the event.
 * @param event  Borrowed, required.
 * @return The count, 0 for events of no acquire.
 *
 * Errors: none. Thread safety: the callback's thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT int
mongolock_event_attempts (const mongolock_event_t *event);

/**
 * @brief The error behind LOST, TIMED_OUT, DEGRADED or a failed RELEASED.
 * @param event  Borrowed, required.
 * @return Borrowed, valid during the callback; NULL for other events.
 *
 * Errors: none. Thread safety: the callback's thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT const bson_error_t *
mongolock_event_error (const mongolock_event_t *event);

/**
 * @brief How a waiting acquire learns that the lock was released, for
 * #MONGOLOCK_EVENT_WAIT_MODE.
 *
 * - "change-stream": the client's change-stream watcher (one per client and lock
 *   collection, shared by all its waiting handles) wakes the waiter as soon as the holder
 *   releases; the waiter otherwise sleeps until the holder's lease ends.
 * - "backoff": no stream (the server is a standalone, or the stream failed three times in
 *   a row): the waiter retries by its backoff. mongolock_event_error() then gives the
 *   reason (for a standalone, the server's error 40573); the watcher tries to open its
 *   stream again a minute later. See docs/wake-up.md.
 * @param event  Borrowed, required.
 * @return A static string for #MONGOLOCK_EVENT_WAIT_MODE, NULL for every other event.
 *
 * Errors: none. Thread safety: the callback's thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT const char *
mongolock_event_wait_mode (const mongolock_event_t *event);

/**
 * @brief New options with every default set.
 * @return The options, the caller's: free them with mongolock_lock_opts_destroy(). Never
 *         NULL (libbson's allocator aborts when out of memory).
 *
 * Errors: none. Thread safety: any thread. Blocking: does not block.
 */
MONGOLOCK_EXPORT mongolock_lock_opts_t *
mongolock_lock_opts_new (void);

/**
 * @brief Frees options.
 * @param opts  Owned; NULL is a no-op.
 *
 * Errors: none. Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_lock_opts_destroy (mongolock_lock_opts_t *opts);

/**
 * @brief Lease length. Each acquire or renew extends the lease to this long from the
 * server's "now".
 * @param opts      Borrowed.
 * @param lease_ms  #MONGOLOCK_LEASE_MIN_MS..#MONGOLOCK_LEASE_MAX_MS (default
 *                  #MONGOLOCK_DEFAULT_LEASE_MS).
 * @param error     OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT (out of range or
 *         NULL opts; opts unchanged).
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_lock_opts_set_lease_ms (mongolock_lock_opts_t *opts, int64_t lease_ms, bson_error_t *error);

/**
 * @brief How long mongolock_lock_acquire() waits for a busy lock.
 * @param opts     Borrowed.
 * @param wait_ms  0..#MONGOLOCK_WAIT_MAX_MS (default #MONGOLOCK_DEFAULT_WAIT_MS); 0 means
 *                 a single attempt.
 * @param error    OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT (out of range or
 *         NULL opts; opts unchanged).
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_lock_opts_set_wait_ms (mongolock_lock_opts_t *opts, int64_t wait_ms, bson_error_t *error);

/**
 * @brief Backoff between attempts.
 *
 * Attempt n sleeps a uniformly random time in [0, min(cap, base * 2^n)] ("full jitter"),
 * never past the deadline and never much past the current holder's remaining lease.
 * While the client's change stream wakes waiters (a replica set: see
 * mongolock_lock_acquire()), the backoff is used only when the holder's expiry is unknown;
 * base is then the jitter added to the sleep until the holder's expiry.
 * @param opts     Borrowed.
 * @param base_ms  1 <= base_ms <= cap_ms (default #MONGOLOCK_DEFAULT_BACKOFF_BASE_MS).
 * @param cap_ms   cap_ms <= #MONGOLOCK_BACKOFF_MAX_MS (default #MONGOLOCK_DEFAULT_BACKOFF_CAP_MS).
 * @param error    OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT (opts unchanged).
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_lock_opts_set_backoff (mongolock_lock_opts_t *opts,
                                 int64_t base_ms,
                                 int64_t cap_ms,
                                 bson_error_t *error);

/** @brief How a waiter sleeps between attempts on a busy lock. */
typedef enum {
   /** Exponential backoff with full jitter (set_backoff), cut short at the holder's
    * estimated expiry. The default. */
   MONGOLOCK_BACKOFF_FULL_JITTER = 0,
   /** Sleep until the holder's lease ends by the server's clock (estimated from the
    * holder's expiry and a measured clock offset), plus up to a few ms of jitter, then
    * try again: one attempt per holder's lease instead of polling, like Mongoid::Locker's
    * locked_at_backoff. A holder that releases early is noticed only at its lease's end,
    * so use it for long holds with short leases. Falls back to full jitter when the
    * holder's expiry is unknown. Never sleeps past the acquire's deadline. */
   MONGOLOCK_BACKOFF_UNTIL_EXPIRY = 1,
} mongolock_backoff_strategy_t;

/**
 * @brief Chooses the backoff strategy (default #MONGOLOCK_BACKOFF_FULL_JITTER).
 * @param opts      Borrowed.
 * @param strategy  A #mongolock_backoff_strategy_t value.
 * @param error     OUT, optional: set when false is returned.
 * @return true when set; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT for an unknown
 *         value or NULL opts.
 *
 * Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT bool
mongolock_lock_opts_set_backoff_strategy (mongolock_lock_opts_t *opts,
                                          mongolock_backoff_strategy_t strategy,
                                          bson_error_t *error);

/**
 * @brief Automatic renewal (default off).
 *
 * While held, the client's renewal scheduler (one thread per client, shared by all its
 * handles) renews the lease a third into its length. A failed renew is retried every
 * tenth of the lease until the lease is really gone, and a renew left unanswered for a
 * tenth of the lease is joined by another on a fresh connection, so a lease survives any
 * outage shorter than its remaining time. If the lease runs out by the client's monotonic
 * clock before a renew lands, or the server says it is gone, the handle stops holding the
 * lock and the LOST event fires: no later than the lease's end, even while renew commands
 * hang on a partitioned network. A renew in flight never delays another handle's
 * renewals, nor release or destroy of this one.
 * @param opts        Borrowed; NULL is a no-op.
 * @param auto_renew  true to renew automatically.
 *
 * Errors: none. Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_lock_opts_set_auto_renew (mongolock_lock_opts_t *opts, bool auto_renew);

/**
 * @brief Reentrancy (default off).
 *
 * On: acquiring a lock this handle already holds increments a count (no server round
 * trip) and each release decrements it; the lock is released on the server when the
 * count returns to zero. Off: such an acquire fails with #MONGOLOCK_ERROR_WOULD_DEADLOCK.
 * @param opts       Borrowed; NULL is a no-op.
 * @param reentrant  true for a reentrant lock.
 *
 * Errors: none. Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_lock_opts_set_reentrant (mongolock_lock_opts_t *opts, bool reentrant);

/**
 * @brief Fair (FIFO) waiting for a named exclusive lock (default off).
 *
 * On: the waiters of a key queue by arrival, and the queue is recorded on the server in
 * the lock document (`queue: [{o: owner, e: expiry}]`). An attempt takes the lock only
 * when it is free (by the server's clock) and the queue is empty or this handle is at its
 * head; otherwise a waiting acquire joins the tail (or refreshes its entry) in the same
 * single findAndModify. So a handle that just released the lock, or any newcomer, cannot
 * take it ahead of the waiters: it queues behind them. Each entry lives
 * #MONGOLOCK_FAIR_QUEUE_LEASE_MS on the server and its waiter refreshes it every 1.5 s,
 * so a waiter whose process died blocks a free lock for at most that long.
 * A waiter does not retry on every release: with the client's change stream it tries
 * when enough releases of the key have passed to bring it to the head (or its holder's
 * lease ends, or its entry needs refreshing): about one command per 1.5 s while queued,
 * plus one to take the lock. In backoff mode (a standalone) it polls with its backoff, still
 * without barging. When mongolock_lock_acquire() gives up (deadline, cancellation, error)
 * it removes its entry (one command, best effort). mongolock_lock_try_acquire() never
 * joins the queue: it takes the lock only when it is free and nobody waits.
 *
 * Fairness holds among fair handles: a handle without this option on the same key ignores
 * the queue (it may take a free lock ahead of the queued waiters, who then wait for its
 * release); the queue survives it. Fencing tokens, release, renewal, force release and
 * mongolock_lock_get_holder() are unchanged. Semaphores, reader/writer and document
 * locks refuse options with fair set (#MONGOLOCK_ERROR_INVALID_ARGUMENT). What it costs is
 * measured in docs/wake-up.md and docs/bench.md.
 * @param opts  Borrowed; NULL is a no-op.
 * @param fair  true for FIFO waiting.
 *
 * Errors: none. Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_lock_opts_set_fair (mongolock_lock_opts_t *opts, bool fair);

/**
 * @brief Event callback (default none).
 * @param opts       Borrowed; NULL is a no-op.
 * @param cb         The callback (see #mongolock_event_cb_t for its threads), or NULL to
 *                   remove it.
 * @param user_data  Borrowed: passed to @p cb; must outlive every handle made with these
 *                   options.
 *
 * Errors: none. Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_lock_opts_set_event_callback (mongolock_lock_opts_t *opts,
                                        mongolock_event_cb_t cb,
                                        void *user_data);

/**
 * @brief Cancellation flag (default none) obeyed by acquire and try_acquire.
 *
 * While it is raised they return within a few milliseconds with
 * #MONGOLOCK_ERROR_CANCELLED, whether they are sleeping between attempts or waiting for
 * the server. See mongolock-cancel.h.
 * @param opts    Borrowed; NULL is a no-op.
 * @param cancel  Borrowed, or NULL for none; it must outlive every handle made with these
 *                options.
 *
 * Errors: none. Thread safety: one thread at a time per opts. Blocking: does not block.
 */
MONGOLOCK_EXPORT void
mongolock_lock_opts_set_cancel (mongolock_lock_opts_t *opts, mongolock_cancel_t *cancel);

/**
 * @brief Creates a handle for @p key. Does not contact the server.
 * @param client  Borrowed: must outlive the handle.
 * @param key     Borrowed, copied: 1..#MONGOLOCK_KEY_MAX_BYTES bytes of valid UTF-8
 *                without NUL.
 * @param opts    Borrowed, optional (NULL for defaults); copied.
 * @param error   OUT, optional: set when NULL is returned.
 * @return The handle, the caller's (free it with mongolock_lock_destroy()), or NULL with
 *         #MONGOLOCK_ERROR_INVALID_ARGUMENT.
 *
 * Thread safety: any thread (the client is thread-safe); the handle is then used by one
 * thread at a time. Blocking: does not block.
 */
MONGOLOCK_EXPORT mongolock_lock_t *
mongolock_lock_new (mongolock_client_t *client,
                    const char *key,
                    const mongolock_lock_opts_t *opts,
                    bson_error_t *error);

/**
 * @brief Destroys the handle; if it still holds its lock, releases it first.
 * @param lock  Owned; NULL is a no-op.
 *
 * Errors: the release is one attempt; any error is reported only to the event callback
 * (RELEASED with an error). Thread safety: no other call may be running on the handle; it
 * waits for an event callback of the handle that is running.
 * Blocking: as mongolock_lock_release() when held (at most the client's timeout), else
 * not at all.
 */
MONGOLOCK_EXPORT void
mongolock_lock_destroy (mongolock_lock_t *lock);

/**
 * @brief One attempt to take the lock: a single findAndModify in the uncontended case.
 *
 * On a handle whose previous lease ran out or was lost, the old hold is forgotten (its
 * reentrancy count too) and a new acquisition starts under a new owner (see
 * mongolock_lock_owner()): it waits, like any other handle, until that old lease has
 * expired on the server, and then gets a new, larger fencing token. When the answer
 * leaves less than half the lease (a slow connection), the lock is taken again at once;
 * if that too leaves less than half, it is released and the call fails with
 * #MONGOLOCK_ERROR_LEASE_TOO_SHORT. A command abandoned at the deadline may still take
 * the lock on the server: the lease then runs out by itself, or this handle's next
 * acquire (same owner) reclaims it.
 * @param lock      Borrowed.
 * @param acquired  OUT, required: true when this handle now holds the lock, false when
 *                  another holder has it; both return true.
 * @param error     OUT, optional: set when false is returned.
 * @return true when the server answered (see @p acquired). false for everything else
 *         (never reported as acquired or busy): an unreachable server, a timeout
 *         (#MONGOLOCK_ERROR_STORE_TIMEOUT), a server error, #MONGOLOCK_ERROR_CANCELLED
 *         when the handle's cancellation flag is raised, #MONGOLOCK_ERROR_WOULD_DEADLOCK
 *         (see mongolock_lock_opts_set_reentrant()), #MONGOLOCK_ERROR_LEASE_TOO_SHORT, or
 *         #MONGOLOCK_ERROR_INVALID_ARGUMENT for a NULL argument.
 *
 * Thread safety: one thread at a time per handle.
 * Blocking: at most the client's timeout (mongolock_client_opts_set_timeout_ms()), which
 * bounds server selection, connecting and the command. Only on the LEASE_TOO_SHORT path
 * (a slow answer) may the immediate retake and then the release each add up to one more
 * timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_lock_try_acquire (mongolock_lock_t *lock, bool *acquired, bson_error_t *error);

/**
 * @brief Takes the lock, waiting up to the wait set in the options.
 *
 * On a replica set a busy attempt registers with the client's change-stream watcher
 * (started by the first wait of the client, a thread of its own, one stream per lock
 * collection shared by all its handles: docs/wake-up.md) and sleeps until the holder's
 * lease ends or the holder releases, whichever is first, then tries again at once. Where
 * no stream can be opened (a standalone) or it keeps failing, it sleeps by its backoff
 * instead; either way #MONGOLOCK_EVENT_WAIT_MODE says which, and the stream never causes
 * an error.
 * Errors an election or a network hiccup causes (server selection, network,
 * NotWritablePrimary and the other codes the retryable-writes specification retries) are
 * tried again with backoff until the wait runs out, and the last one is returned then;
 * other errors end the wait at once.
 * @param lock   Borrowed.
 * @param error  OUT, optional: set when false is returned.
 * @return true when held. false with #MONGOLOCK_ERROR_TIMEOUT when the wait ran out while
 *         others held it, #MONGOLOCK_ERROR_STORE_TIMEOUT when it ran out waiting for the
 *         server's answer (unreachable, hung or slow: never reported as busy),
 *         #MONGOLOCK_ERROR_CANCELLED, or the errors of mongolock_lock_try_acquire().
 *
 * Thread safety: one thread at a time per handle.
 * Blocking: at most wait_ms, everything included (server selection, connecting, commands,
 * the majority wait, backoff), plus scheduling slack of a few milliseconds and at most one
 * grace for a round trip under way when the deadline falls (max(250 ms, 8 x the client's
 * last round trip), never more than the client's timeout, none before the client's first
 * answer); with wait_ms 0, as mongolock_lock_try_acquire(). A fair handle
 * (mongolock_lock_opts_set_fair()) that gives up while queued then sends one command to
 * leave the queue: at most the client's timeout more (one round trip normally). See
 * docs/failure-modes.md.
 */
MONGOLOCK_EXPORT bool
mongolock_lock_acquire (mongolock_lock_t *lock, bson_error_t *error);

/**
 * @brief Extends the lease to the full lease length from the server's now.
 *
 * One findAndModify, matching this handle's owner and fencing token and a lease that has
 * not yet expired on the server.
 * @param lock   Borrowed.
 * @param error  OUT, optional: set when false is returned.
 * @return true when extended. false with #MONGOLOCK_ERROR_NOT_HELD when the handle does
 *         not hold the lock, #MONGOLOCK_ERROR_LOST when the server no longer records it as
 *         holder (the handle then stops holding it), #MONGOLOCK_ERROR_STORE_TIMEOUT, or the
 *         driver's error (for these two the handle keeps its state; retry).
 *
 * Thread safety: one thread at a time per handle (safe against the client's renewal
 * scheduler). Blocking: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_lock_renew (mongolock_lock_t *lock, bson_error_t *error);

/**
 * @brief Releases the lock.
 *
 * One findAndModify matching this handle's owner and token, which marks the document free
 * and keeps it (so tokens keep increasing). With reentrancy, only the last release reaches
 * the server. The handle stops holding the lock even when the release fails.
 * @param lock   Borrowed.
 * @param error  OUT, optional: set when false is returned.
 * @return true when released. false with #MONGOLOCK_ERROR_NOT_HELD,
 *         #MONGOLOCK_ERROR_LOST (someone else has taken or broken it; their lock is
 *         untouched), #MONGOLOCK_ERROR_STORE_TIMEOUT (the lease then runs out on the
 *         server by itself), or the driver's error.
 *
 * Thread safety: one thread at a time per handle. Blocking: at most the client's timeout;
 * never waits for a renewal in flight.
 */
MONGOLOCK_EXPORT bool
mongolock_lock_release (mongolock_lock_t *lock, bson_error_t *error);

/**
 * @brief Whether the handle holds the lock by its own bookkeeping (lease not yet run out).
 * @param lock  Borrowed; NULL gives false.
 * @return true while held and the lease has not run out by the client's monotonic clock.
 *
 * Errors: none. Thread safety: one thread at a time per handle (safe against the client's
 * renewal scheduler). Blocking: only a short internal lock.
 */
MONGOLOCK_EXPORT bool
mongolock_lock_is_held (const mongolock_lock_t *lock);

/**
 * @brief The fencing token of the current (or last) acquisition.
 *
 * Guarantee: for one key in one lock collection, each acquisition gets a token strictly
 * greater than every earlier acquisition's, including across release, takeover of an
 * expired lease and deletion of the document by the TTL index. A token is
 * max(previous + 1, serverNowMs * 2^20), computed by the server in the acquiring command.
 * Across a deletion it relies on the server clock: the document is deleted at least the
 * cleanup delay (mongolock_client_opts_set_cleanup_secs()) after the last lease ended, so
 * tokens stay increasing unless the server clock steps back by more than the lease plus
 * that delay, and fewer than 2^20 acquisitions happen in one millisecond.
 * Use it with mongolock_fence_build() to reject a late write from an expired holder.
 * @param lock  Borrowed; NULL gives 0.
 * @return The token, 0 before the first acquisition.
 *
 * Errors: none. Thread safety: as mongolock_lock_is_held(). Blocking: only a short
 * internal lock.
 */
MONGOLOCK_EXPORT int64_t
mongolock_lock_token (const mongolock_lock_t *lock);

/**
 * @brief Milliseconds of lease left by the client's monotonic clock.
 *
 * Measured from when the acquire or renew that set it was sent, so never longer than the
 * server's view.
 * @param lock  Borrowed; NULL gives 0.
 * @return The lease left; 0 when not held.
 *
 * Errors: none. Thread safety: as mongolock_lock_is_held(). Blocking: only a short
 * internal lock.
 */
MONGOLOCK_EXPORT int64_t
mongolock_lock_remaining_ms (const mongolock_lock_t *lock);

/**
 * @brief The owner string this handle records in the lock document.
 *
 * "<identity>/<nonce>", and "<identity>/<nonce>.<n>" after n holds have ended. It changes
 * whenever a hold ends (a release, or a new acquire after the lease ran out or was lost),
 * so a handle never takes back, under its old fencing token, a lease it was told it lost.
 * @param lock  Borrowed; NULL gives NULL.
 * @return Owned by the handle; valid until the handle's next acquire, release or destroy.
 *
 * Errors: none. Thread safety: one thread at a time per handle. Blocking: does not block.
 */
MONGOLOCK_EXPORT const char *
mongolock_lock_owner (const mongolock_lock_t *lock);

/**
 * @brief The key.
 * @param lock  Borrowed; NULL gives NULL.
 * @return Owned by the handle; valid until it is destroyed.
 *
 * Errors: none. Thread safety: any thread while the handle lives. Blocking: does not block.
 */
MONGOLOCK_EXPORT const char *
mongolock_lock_key (const mongolock_lock_t *lock);

/**
 * @brief Asks the server who holds the lock now. One aggregate command.
 * @param lock    Borrowed.
 * @param holder  OUT, required: a copy of the holder's owner string (the caller frees it
 *                with bson_free()), or NULL when the lock is free or expired by the
 *                server's clock.
 * @param token   OUT, optional: the holder's fencing token (0 when free).
 * @param error   OUT, optional: set when false is returned.
 * @return true when the server answered; false with #MONGOLOCK_ERROR_INVALID_ARGUMENT,
 *         #MONGOLOCK_ERROR_STORE_TIMEOUT or the driver's or server's error, or with
 *         #MONGOLOCK_ERROR_MISMATCH when the key is held as a semaphore or reader/writer
 *         lock (live holders by the server's clock, none of them a named lock): there is no
 *         one holder to name, and "free" would be wrong.
 *
 * Thread safety: one thread at a time per handle. Blocking: at most the client's timeout.
 */
MONGOLOCK_EXPORT bool
mongolock_lock_get_holder (mongolock_lock_t *lock, char **holder, int64_t *token, bson_error_t *error);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_LOCK_H */
