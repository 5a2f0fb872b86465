#ifndef MONGOLOCK_LOCK_H
#define MONGOLOCK_LOCK_H

#include <mongolock/mongolock-cancel.h>
#include <mongolock/mongolock-client.h>
#include <mongolock/mongolock-macros.h>

MONGOLOCK_BEGIN_DECLS

/*
 * mongolock_lock_t: one handle on a named lock. A handle is used by one thread at a time
 * (it is NOT thread-safe; give each thread its own handle). Two handles on the same key
 * exclude each other whether they live in one process or in two: the owner recorded in
 * the lock document is the client identity plus a random per-handle nonce.
 *
 * The lock is a lease: held until released or until the lease runs out by the server's
 * clock. Expiry is decided only by the server's clock ($$NOW), never by the client's.
 */
typedef struct _mongolock_lock_t mongolock_lock_t;

/* Builder for lock settings. Not thread-safe; a lock copies what it needs. */
typedef struct _mongolock_lock_opts_t mongolock_lock_opts_t;

/* Limits and defaults. Keys are UTF-8 strings of 1..MONGOLOCK_KEY_MAX_BYTES bytes. */
#define MONGOLOCK_KEY_MAX_BYTES 512
#define MONGOLOCK_LEASE_MIN_MS 50
#define MONGOLOCK_LEASE_MAX_MS (24 * 3600 * 1000)
#define MONGOLOCK_DEFAULT_LEASE_MS 30000
#define MONGOLOCK_WAIT_MAX_MS (24 * 3600 * 1000)
#define MONGOLOCK_DEFAULT_WAIT_MS 10000
#define MONGOLOCK_BACKOFF_MAX_MS 60000
/* Backoff defaults, chosen with bench/bench-contention: with a 1000 ms cap, a process that
 * releases and re-acquires at once starved waiters for seconds (contended p99 0.9-5.4 s,
 * fairness 0.00-0.13 for a 0.2 ms hold); a 100 ms cap cut that 3-4x for about one more
 * command per contended acquisition. Raise the cap for locks held for seconds with many
 * waiters, to poll the server less. */
#define MONGOLOCK_DEFAULT_BACKOFF_BASE_MS 5
#define MONGOLOCK_DEFAULT_BACKOFF_CAP_MS 100

/* What happened to a lock; delivered to the event callback. */
typedef enum {
   MONGOLOCK_EVENT_ACQUIRED = 1, /* the handle took the lock (wait_ms, attempts set) */
   MONGOLOCK_EVENT_CONTENDED,    /* an attempt found another holder (attempts, wait_ms so far) */
   MONGOLOCK_EVENT_TIMED_OUT,    /* mongolock_lock_acquire gave up at its deadline */
   MONGOLOCK_EVENT_RENEWED,      /* the lease was extended (hold_ms so far) */
   MONGOLOCK_EVENT_LOST,         /* the lease ended while the handle believed it held it */
   MONGOLOCK_EVENT_RELEASED,     /* released; error set when the release failed */
   MONGOLOCK_EVENT_DEGRADED,     /* a guard ran a callback under its process-local mutex because
                                    the lock store was unreachable (error: the store's error) */
   MONGOLOCK_EVENT_WAIT_MODE,    /* how a waiting acquire learns of releases (see
                                    mongolock_event_wait_mode and docs/wake-up.md); once per
                                    waiting acquire when first known, and again when it changes */
} mongolock_event_type_t;

/* An event, valid only during the callback. Read it with the getters below. */
typedef struct _mongolock_event_t mongolock_event_t;

/*
 * Event callback. Runs on the thread that caused the event: the caller's thread, or (for
 * RENEWED and LOST with auto-renewal) the client's renewal scheduler or one of its command
 * workers; two of those may overlap. It must not call into the same handle, and should
 * return quickly: LOST of the client's other handles waits for it. release and destroy
 * wait for a callback of the handle that is running. user_data: as given to
 * set_event_callback.
 */
typedef void (*mongolock_event_cb_t) (const mongolock_event_t *event, void *user_data);

MONGOLOCK_EXPORT mongolock_event_type_t
mongolock_event_type (const mongolock_event_t *event);
/* Static name of an event type ("acquired", "contended", ...). */
MONGOLOCK_EXPORT const char *
mongolock_event_type_name (mongolock_event_type_t type);
/* The lock's key; owned by the handle. */
MONGOLOCK_EXPORT const char *
mongolock_event_key (const mongolock_event_t *event);
/* Fencing token of the acquisition concerned, 0 when none. */
MONGOLOCK_EXPORT int64_t
mongolock_event_token (const mongolock_event_t *event);
/* Milliseconds spent waiting in the acquire that produced the event, else 0. */
MONGOLOCK_EXPORT int64_t
mongolock_event_wait_ms (const mongolock_event_t *event);
/* Milliseconds the lock has been held (RENEWED, LOST, RELEASED), else 0. */
MONGOLOCK_EXPORT int64_t
mongolock_event_hold_ms (const mongolock_event_t *event);
/* Server round trips made by the acquire that produced the event, else 0. */
MONGOLOCK_EXPORT int
mongolock_event_attempts (const mongolock_event_t *event);
/* The error behind LOST, TIMED_OUT or a failed RELEASED; NULL otherwise. */
MONGOLOCK_EXPORT const bson_error_t *
mongolock_event_error (const mongolock_event_t *event);

/**
 * How a waiting acquire learns that the lock was released, for MONGOLOCK_EVENT_WAIT_MODE.
 *
 * - "change-stream": the client's change-stream watcher (one per client and lock
 *   collection, shared by all its waiting handles) wakes the waiter as soon as the holder
 *   releases; the waiter otherwise sleeps until the holder's lease ends.
 * - "backoff": no stream (the server is a standalone, or the stream failed
 *   three times in a row): the waiter retries by its backoff.
 *   mongolock_event_error then gives the reason (for a standalone, the server's error
 *   40573); the watcher tries to open its stream again a minute later.
 *
 * @param event borrowed, valid only during the callback.
 * @return a static string for MONGOLOCK_EVENT_WAIT_MODE, NULL for every other event.
 * Errors: none. Thread safety: any thread. Blocking: never.
 */
MONGOLOCK_EXPORT const char *
mongolock_event_wait_mode (const mongolock_event_t *event);

/* Returns new options with every default set; the caller destroys them. */
MONGOLOCK_EXPORT mongolock_lock_opts_t *
mongolock_lock_opts_new (void);

/* Frees opts. NULL is a no-op. */
MONGOLOCK_EXPORT void
mongolock_lock_opts_destroy (mongolock_lock_opts_t *opts);

/*
 * Lease length in ms, MONGOLOCK_LEASE_MIN_MS..MONGOLOCK_LEASE_MAX_MS
 * (default MONGOLOCK_DEFAULT_LEASE_MS). Each acquire or renew extends the lease to this
 * long from the server's "now".
 */
MONGOLOCK_EXPORT bool
mongolock_lock_opts_set_lease_ms (mongolock_lock_opts_t *opts, int64_t lease_ms, bson_error_t *error);

/*
 * How long mongolock_lock_acquire waits for a busy lock, 0..MONGOLOCK_WAIT_MAX_MS
 * (default MONGOLOCK_DEFAULT_WAIT_MS). 0 means a single attempt.
 */
MONGOLOCK_EXPORT bool
mongolock_lock_opts_set_wait_ms (mongolock_lock_opts_t *opts, int64_t wait_ms, bson_error_t *error);

/*
 * Backoff between attempts: attempt n sleeps a uniformly random time in
 * [0, min(cap, base * 2^n)] ("full jitter"), never past the deadline and never much past
 * the current holder's remaining lease. 1 <= base <= cap <= MONGOLOCK_BACKOFF_MAX_MS.
 * While the client's change stream wakes waiters (a replica set: see
 * mongolock_lock_acquire), the backoff is used only when the holder's expiry is unknown;
 * base is then the jitter added to the sleep until the holder's expiry.
 */
MONGOLOCK_EXPORT bool
mongolock_lock_opts_set_backoff (mongolock_lock_opts_t *opts,
                                 int64_t base_ms,
                                 int64_t cap_ms,
                                 bson_error_t *error);

/* How a waiter sleeps between attempts on a busy lock. */
typedef enum {
   /* Exponential backoff with full jitter (set_backoff), cut short at the holder's
    * estimated expiry. The default. */
   MONGOLOCK_BACKOFF_FULL_JITTER = 0,
   /* Sleep until the holder's lease ends by the server's clock (estimated from the
    * holder's expiry and a measured clock offset), plus up to a few ms of jitter, then
    * try again: one attempt per holder's lease instead of polling, like Mongoid::Locker's
    * locked_at_backoff. A holder that releases early is noticed only at its lease's end,
    * so use it for long holds with short leases. Falls back to full jitter when the
    * holder's expiry is unknown. Never sleeps past the acquire's deadline. */
   MONGOLOCK_BACKOFF_UNTIL_EXPIRY = 1,
} mongolock_backoff_strategy_t;

/* Chooses the backoff strategy (default MONGOLOCK_BACKOFF_FULL_JITTER). Returns false
 * with MONGOLOCK_ERROR_INVALID_ARGUMENT for an unknown value or NULL opts. */
MONGOLOCK_EXPORT bool
mongolock_lock_opts_set_backoff_strategy (mongolock_lock_opts_t *opts,
                                          mongolock_backoff_strategy_t strategy,
                                          bson_error_t *error);

/*
 * Automatic renewal (default off): while held, the client's renewal scheduler (one thread
 * per client, shared by all its handles) renews the lease a third into its length. A
 * failed renew is retried every tenth of the lease until the lease is really gone, and a
 * renew left unanswered for a tenth of the lease is joined by another on a fresh
 * connection, so a lease survives any outage shorter than its remaining time. If the
 * lease runs out by the client's monotonic clock before a renew lands, or the server says
 * it is gone, the handle stops holding the lock and the LOST event fires: no later than
 * the lease's end, even while renew commands hang on a partitioned network. A renew in
 * flight never delays another handle's renewals, nor release or destroy of this one.
 */
MONGOLOCK_EXPORT void
mongolock_lock_opts_set_auto_renew (mongolock_lock_opts_t *opts, bool auto_renew);

/*
 * Reentrancy (default off): acquiring a lock this handle already holds increments a count
 * (no server round trip) and each release decrements it; the lock is released on the
 * server when the count returns to zero. Off: such an acquire fails with
 * MONGOLOCK_ERROR_WOULD_DEADLOCK.
 */
MONGOLOCK_EXPORT void
mongolock_lock_opts_set_reentrant (mongolock_lock_opts_t *opts, bool reentrant);

/* Event callback (default none). cb may be NULL to remove it; user_data is borrowed. */

MONGOLOCK_EXPORT void
mongolock_lock_opts_set_event_callback (mongolock_lock_opts_t *opts,
                                        mongolock_event_cb_t cb,
                                        void *user_data);

/*
 * Cancellation flag (default none) obeyed by acquire and try_acquire: while it is raised
 * they return within a few milliseconds with MONGOLOCK_ERROR_CANCELLED, whether they are
 * sleeping between attempts or waiting for the server. cancel: borrowed; it must outlive
 * every handle made with these options. See mongolock-cancel.h.
 */
MONGOLOCK_EXPORT void
mongolock_lock_opts_set_cancel (mongolock_lock_opts_t *opts, mongolock_cancel_t *cancel);

/*
 * Creates a handle for key. client: borrowed, must outlive the handle. key: borrowed,
 * copied; 1..MONGOLOCK_KEY_MAX_BYTES bytes of valid UTF-8 without NUL. opts: borrowed,
 * optional. Returns the handle (the caller's) or NULL with error
 * (MONGOLOCK_ERROR_INVALID_ARGUMENT). Does not contact the server.
 */
MONGOLOCK_EXPORT mongolock_lock_t *
mongolock_lock_new (mongolock_client_t *client,
                    const char *key,
                    const mongolock_lock_opts_t *opts,
                    bson_error_t *error);

/*
 * Destroys the handle. If it still holds its lock, releases it first: one attempt, any
 * error reported only to the event callback (RELEASED with an error). NULL is a no-op.
 * Blocks: as mongolock_lock_release when held, else not at all.
 */
MONGOLOCK_EXPORT void
mongolock_lock_destroy (mongolock_lock_t *lock);

/*
 * One attempt to take the lock: a single findAndModify in the uncontended case.
 * On a handle whose previous lease ran out or was lost, the old hold is forgotten (its
 * reentrancy count too) and a new acquisition starts under a new owner (see
 * mongolock_lock_owner): it waits, like any other handle, until that old lease has expired
 * on the server, and then gets a new, larger fencing token.
 * *acquired (OUT, required) is true when this handle now holds the lock and false when
 * another holder has it; both return true. Returns false with error for everything else:
 * an unreachable server, a timeout, a server error (never reported as acquired or busy),
 * or MONGOLOCK_ERROR_WOULD_DEADLOCK (see set_reentrant).
 * Blocks: at most the client's timeout (mongolock_client_opts_set_timeout_ms), which
 * bounds server selection, connecting and the command; then MONGOLOCK_ERROR_STORE_TIMEOUT.
 * MONGOLOCK_ERROR_CANCELLED when the handle's cancellation flag is raised. When the
 * answer leaves less than half the lease (a slow connection), the lock is taken again at
 * once; if that too leaves less than half, it is released and the call fails with
 * MONGOLOCK_ERROR_LEASE_TOO_SHORT. A command abandoned at the deadline may still take the
 * lock on the server: the lease then runs out by itself, or this handle's next acquire
 * (same owner) reclaims it.
 */
MONGOLOCK_EXPORT bool
mongolock_lock_try_acquire (mongolock_lock_t *lock, bool *acquired, bson_error_t *error);

/*
 * Takes the lock, waiting up to the wait set in the options. On a replica set a busy
 * attempt registers with the client's change-stream watcher (started by the first wait
 * of the client, a thread of its own, one stream per lock collection shared by all its
 * handles: docs/wake-up.md) and sleeps until the holder's lease ends or the holder
 * releases, whichever is first, then tries again at once. Where no stream can be opened
 * (a standalone) or it keeps failing, it sleeps by its backoff instead; either way
 * MONGOLOCK_EVENT_WAIT_MODE says which, and the stream never causes an error. Returns true
 * when held. Returns false with MONGOLOCK_ERROR_TIMEOUT when the wait ran out while others
 * held it, MONGOLOCK_ERROR_STORE_TIMEOUT when it ran out waiting for the server's answer
 * (unreachable, hung or slow: never reported as busy), MONGOLOCK_ERROR_CANCELLED, or the
 * underlying error when the server failed. Errors an election or a network hiccup causes
 * (server selection, network, NotWritablePrimary and the other codes the retryable-writes
 * specification retries) are tried again with backoff until the wait runs out, and the
 * last one is returned then; other errors end the wait at once.
 * Blocks: at most wait_ms, everything included (server selection, connecting, commands,
 * the majority wait, backoff), plus scheduling slack of a few milliseconds; with
 * wait_ms 0, as mongolock_lock_try_acquire. Otherwise as mongolock_lock_try_acquire.
 */
MONGOLOCK_EXPORT bool
mongolock_lock_acquire (mongolock_lock_t *lock, bson_error_t *error);

/*
 * Extends the lease to the full lease length from the server's now. One findAndModify,
 * matching this handle's owner and fencing token and a lease that has not yet expired on
 * the server. Errors: MONGOLOCK_ERROR_NOT_HELD when the handle does not hold the lock,
 * MONGOLOCK_ERROR_LOST when the server no longer records it as holder (the handle then
 * stops holding it), or the driver's error (the handle keeps its state; retry).
 * Blocks: at most the client's timeout (then MONGOLOCK_ERROR_STORE_TIMEOUT).
 */
MONGOLOCK_EXPORT bool
mongolock_lock_renew (mongolock_lock_t *lock, bson_error_t *error);

/*
 * Releases the lock: one findAndModify matching this handle's owner and token, which
 * marks the document free and keeps it (so tokens keep increasing). With reentrancy, only
 * the last release reaches the server. The handle stops holding the lock even when the
 * release fails. Errors: MONGOLOCK_ERROR_NOT_HELD, MONGOLOCK_ERROR_LOST (someone else has
 * taken or broken it; their lock is untouched), or the driver's error.
 * Blocks: at most the client's timeout (then MONGOLOCK_ERROR_STORE_TIMEOUT and the lease
 * runs out on the server by itself). Never waits for a renewal in flight.
 */
MONGOLOCK_EXPORT bool
mongolock_lock_release (mongolock_lock_t *lock, bson_error_t *error);

/* Whether the handle holds the lock by its own bookkeeping (lease not yet run out).
 * Does not block (a short internal lock). The getters below do not block either. */
MONGOLOCK_EXPORT bool
mongolock_lock_is_held (const mongolock_lock_t *lock);

/*
 * The fencing token of the current (or last) acquisition, 0 before the first one.
 *
 * Guarantee: for one key in one lock collection, each acquisition gets a token strictly
 * greater than every earlier acquisition's, including across release, takeover of an
 * expired lease and deletion of the document by the TTL index. A token is
 * max(previous + 1, serverNowMs * 2^20), computed by the server in the acquiring command.
 * Across a deletion it relies on the server clock: the document is deleted at least the
 * cleanup delay (mongolock_client_opts_set_cleanup_secs) after the last lease ended, so
 * tokens stay increasing unless the server clock steps back by more than the lease plus
 * that delay, and fewer than 2^20 acquisitions happen in one millisecond.
 * Use it with mongolock_fence_build to reject a late write from an expired holder.
 */
MONGOLOCK_EXPORT int64_t
mongolock_lock_token (const mongolock_lock_t *lock);

/*
 * Milliseconds of lease left by the client's monotonic clock, measured from when the
 * acquire or renew that set it was sent (so never longer than the server's view); 0 when
 * not held.
 */
MONGOLOCK_EXPORT int64_t
mongolock_lock_remaining_ms (const mongolock_lock_t *lock);

/*
 * The owner string this handle records in the lock document: "<identity>/<nonce>", and
 * "<identity>/<nonce>.<n>" after n holds have ended. It changes whenever a hold ends (a
 * release, or a new acquire after the lease ran out or was lost), so a handle never takes
 * back, under its old fencing token, a lease it was told it lost. Owned by the handle;
 * valid until the handle's next acquire, release or destroy.
 */
MONGOLOCK_EXPORT const char *
mongolock_lock_owner (const mongolock_lock_t *lock);

/* The key. Owned by the handle. */
MONGOLOCK_EXPORT const char *
mongolock_lock_key (const mongolock_lock_t *lock);

/*
 * Asks the server who holds the lock now. *holder (OUT, required) receives a copy of the
 * holder's owner string (the caller frees it with bson_free), or NULL when the lock is
 * free or expired by the server's clock. *token (OUT, optional) receives the holder's
 * fencing token (0 when free). One aggregate command.
 * Blocks: at most the client's timeout (then MONGOLOCK_ERROR_STORE_TIMEOUT).
 */
MONGOLOCK_EXPORT bool
mongolock_lock_get_holder (mongolock_lock_t *lock, char **holder, int64_t *token, bson_error_t *error);

MONGOLOCK_END_DECLS

#endif /* MONGOLOCK_LOCK_H */
