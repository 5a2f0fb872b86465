/* SPDX-License-Identifier: Apache-2.0 */
/* The lease engine: what every lock shape shares (see lib/engine/README.md).
 *   cancel.c     cancellation flags and the waiters they wake
 *   exec.c       per-client command workers: one deadline bounds every command
 *   scheduler.c  per-client renewal and lost-lease watchdog (one thread per client)
 *   hold.c       the lease state of one handle, shared with the scheduler; events
 *   acquire.c    the acquire loop: deadline, lease-aware backoff, cancellation
 *   watcher.c    per-client change-stream watcher that wakes waiters on release
 * Arrows run one way: public API files -> shapes -> engine -> client. */
#ifndef MONGOLOCK_ENGINE_PRIVATE_H
#define MONGOLOCK_ENGINE_PRIVATE_H

#include "client-private.h"

/* ---- options, events, backoff (lock-opts.c, event.c, backoff.c) ---- */

struct _mongolock_lock_opts_t {
   int64_t lease_ms;
   int64_t wait_ms;
   int64_t backoff_base_ms;
   int64_t backoff_cap_ms;
   mongolock_backoff_strategy_t backoff_strategy;
   bool auto_renew;
   bool reentrant;
   bool fair; /* FIFO queue on the server (named locks only) */
   mongolock_event_cb_t cb;
   void *cb_data;
   mongolock_cancel_t *cancel;
};

struct _mongolock_event_t {
   mongolock_event_type_t type;
   const char *key;
   int64_t token;
   int64_t wait_ms;
   int64_t hold_ms;
   int attempts;
   const bson_error_t *error;
   const char *wait_mode; /* MONGOLOCK_EVENT_WAIT_MODE: "change-stream" or "backoff" */
};

/* Full-jitter backoff: a value in [0, min(cap, base * 2^attempt)] drawn from *rng. */
int64_t
_mongolock_backoff_ms (uint64_t *rng, int attempt, int64_t base_ms, int64_t cap_ms);

/* The sleep before the next attempt under strategy: full jitter, or (UNTIL_EXPIRY, when
 * holder_left_ms >= 0) the holder's remaining lease plus a jitter in [0, base]. Not yet
 * bounded by the deadline (see _mongolock_backoff_clamp). */
int64_t
_mongolock_backoff_next_ms (uint64_t *rng, int attempt, mongolock_backoff_strategy_t strategy, int64_t base_ms,
                            int64_t cap_ms, int64_t holder_left_ms);

/* Bounds a sleep by the time left before the deadline and (when holder_left_ms >= 0) by
 * the holder's remaining lease plus a small margin (5 ms). early: how many answers in a
 * row said "still held" although the estimate had the holder's lease over (holder_left
 * 0): the margin doubles with each (at most 320 ms), and with holder_left 0 the sleep is
 * at least half of it, so a clock-offset estimate that runs early costs a few attempts,
 * never a poll. Never negative. */
int64_t
_mongolock_backoff_clamp (int64_t sleep_ms, int64_t deadline_left_ms, int64_t holder_left_ms, int early);

/* xorshift64* step; *state must be non-zero. */
uint64_t
_mongolock_rand_next (uint64_t *state);

/* ---- cancel.c ---------------------------------------------------------------------- */

/* A thread waiting on cond (with mu) that a raised flag must wake. */
typedef struct _mongolock_waiter_t {
   pthread_mutex_t *mu;
   pthread_cond_t *cond;
   struct _mongolock_waiter_t *prev, *next;
} _mongolock_waiter_t;

/* Registers / unregisters w with cancel (NULL: no-op). The caller must not hold w->mu
 * (raise takes the flag's lock, then w->mu). */
void
_mongolock_cancel_add (mongolock_cancel_t *cancel, _mongolock_waiter_t *w);
void
_mongolock_cancel_remove (mongolock_cancel_t *cancel, _mongolock_waiter_t *w);

/* Sets error to MONGOLOCK_ERROR_CANCELLED about what. */
void
_mongolock_set_cancelled (bson_error_t *error, const char *what);

/* Sleeps until the monotonic time until_ms or until cancel is raised (NULL: plain sleep).
 * Returns false when cancelled. */
bool
_mongolock_sleep_until (int64_t until_ms, mongolock_cancel_t *cancel);

/* pthread_cond_timedwait on a CLOCK_MONOTONIC condvar until the monotonic time in ms. */
void
_mongolock_cond_wait_until (pthread_cond_t *cond, pthread_mutex_t *mu, int64_t until_ms);

/* Initialises a condvar on CLOCK_MONOTONIC. */
void
_mongolock_cond_init (pthread_cond_t *cond);

/* ---- exec.c ------------------------------------------------------------------------ */

/* One command for the client's workers. */
typedef struct {
   const bson_t *cmd;          /* borrowed; copied when the call starts */
   bool write;                 /* write concern appended; else a primary read */
   int64_t deadline_ms;        /* monotonic; the call returns by then */
   mongolock_cancel_t *cancel; /* optional */
   const char *db;             /* borrowed, copied; NULL: the client's lock database */
} _mongolock_call_t;

/* Completion of an asynchronous command, run on a worker thread. reply and error are
 * valid only during the call. sent_ms: a monotonic time no later than the earliest the
 * server can have run the command (when it was handed to its connection, on a pool the
 * client owns; else when the worker began sending it, before server selection); 0 when
 * the deadline passed before it could be sent. */
typedef void (*_mongolock_done_fn) (void *ctx, bool ok, const bson_t *reply, const bson_error_t *error, int64_t sent_ms);

/* Runs call and waits for it until its deadline or its cancellation, whichever is first;
 * then the command is abandoned (a worker finishes it and drops the reply) and the call
 * returns false with MONGOLOCK_ERROR_STORE_TIMEOUT or MONGOLOCK_ERROR_CANCELLED. reply is
 * always initialised. *sent_ms (optional OUT): as for _mongolock_done_fn. */
bool
_mongolock_exec (mongolock_client_t *client, const _mongolock_call_t *call, bson_t *reply, int64_t *sent_ms,
                 bson_error_t *error);

/* A task run on a worker with a pooled client: returns ok, or false with error. */
typedef bool (*_mongolock_task_fn) (mongoc_client_t *c, void *task_ctx, int64_t deadline_ms, bson_error_t *error);

/* Runs task on a worker and waits for it until deadline_ms (then false with
 * MONGOLOCK_ERROR_STORE_TIMEOUT). task_ctx is the job's from now on: task_free frees it
 * once neither side needs it. On success take (run under the job's lock) moves the
 * result out of task_ctx into out. */
bool
_mongolock_exec_task (mongolock_client_t *client,
                      int64_t deadline_ms,
                      _mongolock_task_fn task,
                      void *task_ctx,
                      void (*task_free) (void *task_ctx),
                      void (*take) (void *task_ctx, void *out),
                      void *out,
                      bson_error_t *error);

/* Queues call (cancel ignored) and returns at once; done runs on a worker thread once the
 * command ended or its deadline passed before a worker could send it. */
void
_mongolock_exec_async (mongolock_client_t *client, const _mongolock_call_t *call, _mongolock_done_fn done, void *ctx);

/* Starts / stops the client's workers. stop waits for commands under way (each bounded by
 * the URI's socketTimeoutMS) and fails queued ones. */
void
_mongolock_exec_init (mongolock_client_t *client);
void
_mongolock_exec_shutdown (mongolock_client_t *client);

/* Checks a write reply: writeErrors and writeConcernError become errors. */
bool
_mongolock_check_write_reply (const bson_t *reply, bson_error_t *error);

/* Whether error is one an election or a network hiccup causes (what the retryable-writes
 * specification retries): a waiting acquire tries again until its deadline. */
bool
_mongolock_is_transient (const bson_error_t *error);

/* Reads a renew's or release's findAndModify reply: *matched when lastErrorObject.n is 1
 * (the server still had this owner and token). The shapes' parse_update. */
bool
_mongolock_parse_matched (const bson_t *reply, bool *matched, bson_error_t *error);

/* Whether error is E11000 (duplicate key), in any error-API version's domain. */
bool
_mongolock_is_duplicate_key (const bson_error_t *error);

/* ---- hold.c / scheduler.c ------------------------------------------------------------ */

/* The lease of one handle. Shared by the handle, the client's scheduler and in-flight
 * renewals, so it is reference-counted and every mutable field is under the client's
 * scheduler lock (client->sched.mu). */
typedef struct _mongolock_lease_t {
   mongolock_client_t *client;
   int refs;
   /* Fixed while the handle lives. */
   char *key;
   char *db; /* the database of the lock's documents; NULL: the client's */
   int64_t lease_ms;
   mongolock_event_cb_t cb;
   void *cb_data;
   /* The hold. */
   bool held;
   int64_t token;
   int64_t expiry_ms;   /* monotonic: send time of the last acquire/renew + lease */
   int64_t acquired_ms; /* monotonic */
   /* Automatic renewal (under the scheduler). */
   bool registered;
   bson_t *renew_cmd;          /* the renew command for this hold */
   bool (*parse_renew) (const bson_t *reply, bool *renewed, bson_error_t *error);
   int64_t next_renew_ms;      /* when to send the next renew (fixed when set) */
   int64_t attempt_ms;         /* when the newest renew in flight was sent */
   int64_t renewed_ms;         /* when the last successful renew was recorded */
   int in_flight;              /* renew commands under way */
   bool renew_failed;          /* the last renew failed (network, server error) */
   bson_error_t renew_error;   /* ... with this error */
   int emitting;               /* event callbacks running from the scheduler or workers */
   struct _mongolock_lease_t *prev, *next;
} _mongolock_lease_t;

_mongolock_lease_t *
_mongolock_lease_new (mongolock_client_t *client, const char *key, int64_t lease_ms, mongolock_event_cb_t cb,
                      void *cb_data);

/* Drops the handle's reference: unregisters it, waits for its callbacks to end. */
void
_mongolock_lease_destroy (_mongolock_lease_t *lease);

/* Drops one reference (under client->sched.mu); frees at zero. */
void
_mongolock_lease_unref_locked (_mongolock_lease_t *lease);

/* Delivers an event to the lease's callback, if any, on the calling thread. */
void
_mongolock_lease_emit (const _mongolock_lease_t *lease,
                       mongolock_event_type_t type,
                       int64_t token,
                       int64_t wait_ms,
                       int64_t hold_ms,
                       int attempts,
                       const bson_error_t *error);

/* Delivers MONGOLOCK_EVENT_WAIT_MODE (mode: static string; why: the reason for
 * "backoff", else NULL). */
void
_mongolock_lease_emit_wait_mode (const _mongolock_lease_t *lease, const char *mode, int64_t wait_ms, int attempts,
                                 const bson_error_t *why);

/* Hold state, read under the lock. */
int64_t
_mongolock_lease_remaining_ms (_mongolock_lease_t *lease);
int64_t
_mongolock_lease_token (_mongolock_lease_t *lease);
bool
_mongolock_lease_held (_mongolock_lease_t *lease);
int64_t
_mongolock_lease_hold_ms (_mongolock_lease_t *lease);

/* Records a successful acquire (held, token, expiry from sent_ms). */
void
_mongolock_lease_set_held (_mongolock_lease_t *lease, int64_t token, int64_t sent_ms);

/* Records the reply of a renew sent at sent_ms: renewed extends the lease, !renewed ends
 * the hold. Returns whether the hold (with that token) was still current. */
bool
_mongolock_lease_renewed (_mongolock_lease_t *lease, int64_t token, bool renewed, int64_t sent_ms);

/* Ends the hold; returns whether it was still held and its token (*token, optional). */
bool
_mongolock_lease_end (_mongolock_lease_t *lease, int64_t *token);

/* Hands the lease to the client's scheduler, which renews it with renew_cmd (taken over)
 * until _mongolock_sched_remove. parse reads a renew reply: *renewed set, or false with
 * error when the reply is malformed. */
typedef bool (*_mongolock_parse_renew_fn) (const bson_t *reply, bool *renewed, bson_error_t *error);
bool
_mongolock_sched_add (_mongolock_lease_t *lease, bson_t *renew_cmd, _mongolock_parse_renew_fn parse, bson_error_t *error);

/* Unregisters the lease (no-op when not registered). Never waits for a renew under way:
 * its reply is dropped. Waits only for an event callback of this lease that is running. */
void
_mongolock_sched_remove (_mongolock_lease_t *lease);

/* Starts nothing; stops the scheduler thread if it runs (client destroy). */
void
_mongolock_sched_shutdown (mongolock_client_t *client);

/* ---- watcher.c: wake-up on release ---------------------------------------------------- */

/* Where a shape's releases of one key show in a change stream: the namespace of the lock
 * documents, the document's _id, and the owner field every release removes ($unset by
 * release, force release and releasing writes; absent from a replacement). All borrowed
 * from the shape's self or the client: valid while the handle lives. */
typedef struct {
   const char *db;          /* NULL: the client's lock database */
   const char *collection;  /* the client's lock collection for named locks */
   const char *owner_field; /* top-level field name */
   bson_value_t key;        /* the lock document's _id (borrowed) */
} _mongolock_watch_target_t;

typedef enum {
   _MONGOLOCK_WATCH_STARTING = 0, /* the stream is being opened: sleep as with it, at most 2 s */
   _MONGOLOCK_WATCH_STREAM,       /* events arrive: sleep until the holder's expiry or a wake */
   _MONGOLOCK_WATCH_BACKOFF,      /* no stream (standalone, or it failed): today's backoff */
} _mongolock_watch_mode_t;

/* One waiting acquire's registration with its client's watcher (on the waiter's stack). */
typedef struct _mongolock_watch_entry_t {
   struct _mongolock_watch_stream_t *stream;
   bson_value_t key; /* shallow copy of the target's key */
   uint32_t since_t; /* operationTime (seconds) of the last busy answer; 0: unknown */
   pthread_cond_t cond;
   bool woken; /* a release of key (or a change of mode) since the last rearm */
   unsigned releases; /* releases of key seen since registration (never reset) */
   bool uncovered;    /* try again at once: the stream opened without covering the last
                       * answer, or a fair release named this waiter the next owner */
   char *owner;       /* a fair waiter's owner (woken only by releases naming it or none) */
   struct _mongolock_watch_entry_t *prev, *next;
} _mongolock_watch_entry_t;

/* Registers e for releases of target's key. Starts nothing: the stream opens on the first
 * _mongolock_watch_mode. Call before the attempt whose busy answer may make it sleep, so a
 * release in between sets e->woken. */
void
_mongolock_watch_register (mongolock_client_t *client, const _mongolock_watch_target_t *target,
                           _mongolock_watch_entry_t *e);

/* Clears e's wake-up before the next attempt. fair_owner (copied; NULL for a plain
 * waiter): the owner the attempt queues, so that a fair release naming another owner
 * does not wake it. */
void
_mongolock_watch_rearm (mongolock_client_t *client, _mongolock_watch_entry_t *e, const char *fair_owner);

/* Records the operationTime of a busy answer (reply of the attempt; nothing without one,
 * e.g. a standalone): a stream opened later starts early enough to hold every release
 * after it, so the waiter needs no extra attempt when the stream opens. */
void
_mongolock_watch_note_answer (mongolock_client_t *client, _mongolock_watch_entry_t *e, const bson_t *reply);

/* The mode of e's stream, starting its watcher thread on first use. why (OUT, optional):
 * for BACKOFF, the reason. */
_mongolock_watch_mode_t
_mongolock_watch_mode (mongolock_client_t *client, _mongolock_watch_entry_t *e, bson_error_t *why);

/* Sleeps until until_ms, a release of e's key, a change of its stream's mode from mode
 * (the one the sleep was chosen for: a change before the call counts too) (*mode_changed
 * set: choose the sleep again, no attempt is due), or cancellation.
 * Returns false when cancelled. */
bool
_mongolock_watch_sleep (mongolock_client_t *client, _mongolock_watch_entry_t *e, int64_t until_ms,
                        _mongolock_watch_mode_t mode, mongolock_cancel_t *cancel, bool *mode_changed);

void
_mongolock_watch_unregister (mongolock_client_t *client, _mongolock_watch_entry_t *e);

/* Clears e's wake-up flag (not *uncovered) and returns the releases of e's key seen so
 * far (a running count, never reset), and (*uncovered, optional) whether the stream
 * opened without covering e's last answer since the last rearm. A release after this
 * call wakes the next _mongolock_watch_sleep. */
unsigned
_mongolock_watch_releases (mongolock_client_t *client, _mongolock_watch_entry_t *e, bool *uncovered);

/* Client life: init before any handle; shutdown stops every watcher thread (each within
 * one getMore's await, at most about half a second). */
void
_mongolock_watch_init (mongolock_client_t *client);
void
_mongolock_watch_shutdown (mongolock_client_t *client);

/* ---- lock shapes and handles (acquire.c, handle.c) ------------------------------------ */

typedef struct _mongolock_handle_t _mongolock_handle_t;


/* What one acquire attempt found. */
typedef struct {
   bool acquired;
   int64_t token;             /* when acquired */
   int64_t holder_expires_ms; /* the other holder's expiry by the server's wall clock; -1 unknown */
   /* Fair shapes (queue_pos -1 otherwise): waiters ahead of this handle in the queue
    * (0: at its head), -1 when not queued; the head entry's expiry by the server's wall
    * clock (-1: no queue); whether the lock had no owner (released, not yet taken). */
   int queue_pos;
   int64_t head_expires_ms;
   bool no_owner;
} _mongolock_attempt_t;

/* A lock shape: what its documents and commands look like. self: the shape's own data
 * for one handle (the key, for named locks). Every command returned is the caller's. */
typedef struct {
   /* join: a waiting acquire (a fair shape queues it when busy); false for a try. */
   bson_t *(*acquire_cmd) (const void *self, mongolock_client_t *client, const char *owner, int64_t lease_ms,
                           bool join);
   bool (*parse_acquire) (const void *self, const char *owner, const bson_t *reply, _mongolock_attempt_t *res,
                          bson_error_t *error);
   bson_t *(*renew_cmd) (const void *self, mongolock_client_t *client, const char *owner, int64_t token,
                         int64_t lease_ms);
   bson_t *(*release_cmd) (const void *self, mongolock_client_t *client, const char *owner, int64_t token);
   /* Reads the reply of a renew or release: *matched when the server still had us. */
   bool (*parse_update) (const bson_t *reply, bool *matched, bson_error_t *error);
   /* Where releases of this handle's lock show (db left NULL: the engine fills in the
    * handle's). NULL: the shape has no wake-up, waiters back off. */
   void (*watch_target) (const void *self, mongolock_client_t *client, _mongolock_watch_target_t *out);
   /* Removes owner's queue entry (fair shapes; NULL: no queue). */
   bson_t *(*dequeue_cmd) (const void *self, mongolock_client_t *client, const char *owner);
} _mongolock_shape_t;

/* A handle on one lock of some shape: owner identity, options, reentrancy, the lease. */
struct _mongolock_handle_t {
   mongolock_client_t *client;
   const _mongolock_shape_t *shape;
   const void *self;
   char *key;   /* for messages and events */
   char *owner; /* identity/nonce, then identity/nonce.generation: see _mongolock_handle_next_owner */
   char nonce[17];
   unsigned generation;
   bson_t *acquire_cmd; /* for the current owner, built on first use (a waiting acquire) */
   bson_t *try_cmd;     /* the same for try_acquire */
   char *db;    /* the database of the lock's documents; NULL: the client's lock database */
   int64_t lease_ms, wait_ms, backoff_base_ms, backoff_cap_ms;
   mongolock_backoff_strategy_t backoff_strategy;
   bool auto_renew, reentrant;
   bool fair;   /* the shape queues waiters (opts fair, on a shape with dequeue_cmd) */
   bool queued; /* the server may hold a queue entry of this owner */
   int head_n;  /* the attempt after which this waiter was first at place 0 or 1 of the queue; -1 */
   bool retry_transient; /* a waiting acquire tries again after transient errors (default) */
   mongolock_cancel_t *cancel;
   uint64_t rng;
   int count; /* reentrant holds; 1 when held without reentrancy */
   _mongolock_lease_t *lease;
};

/* Sets up h (key copied) with a fresh random owner; false with error when the random
 * source fails. */
bool
_mongolock_handle_init (_mongolock_handle_t *h,
                        mongolock_client_t *client,
                        const _mongolock_shape_t *shape,
                        const void *self,
                        const char *key,
                        const mongolock_lock_opts_t *opts,
                        bson_error_t *error);

/* Sends every command of h (acquire, renew, release) to database db (copied) instead of
 * the client's lock database. Call right after _mongolock_handle_init. */
void
_mongolock_handle_set_database (_mongolock_handle_t *h, const char *db);

/* Releases a held lock (one attempt, errors to the event callback) and frees h's parts. */
void
_mongolock_handle_cleanup (_mongolock_handle_t *h);

/* One attempt (*acquired OUT) or, with acquired NULL, waiting up to the handle's wait. */
bool
_mongolock_handle_acquire (_mongolock_handle_t *h, bool *acquired, bson_error_t *error);

bool
_mongolock_handle_renew (_mongolock_handle_t *h, bson_error_t *error);

bool
_mongolock_handle_release (_mongolock_handle_t *h, bson_error_t *error);

/* Sends the release command for (owner, token) within the client's timeout. */
bool
_mongolock_handle_send_release (_mongolock_handle_t *h, int64_t token, bool *matched, bson_error_t *error);

/* The hold was released on the server by a command of the shape other than release (a
 * write that also releases): the handle stops holding it, as after a release (RELEASED
 * event, new owner). With a reentrant count above one only the count drops. */
void
_mongolock_handle_released_by_write (_mongolock_handle_t *h);

/* The server no longer records the hold (a fenced write matched nothing): the handle stops
 * holding it and LOST fires, as when a renew finds it gone. */
void
_mongolock_handle_lost (_mongolock_handle_t *h);

/* The holder's remaining lease by the server's clock (holder_expires_ms: its expiry by
 * the server's wall clock), estimated with the client's clock offset; -1 when unknown. */
int64_t
_mongolock_holder_left_ms (_mongolock_handle_t *h, int64_t holder_expires_ms, int64_t deadline);

/* ---- fair.c: when a queued fair waiter tries again ------------------------------------- */

/* Sleeps a waiter that res says is queued (res->queue_pos >= 0) until its next attempt is
 * due: its place reached by releases counted since base_releases (change-stream mode),
 * its holder's (or, second in line, the head's) expiry, its queue entry's refresh
 * (sent_ms: the monotonic send time of the attempt), or its deadline; in backoff mode
 * (we NULL or no stream) its backoff, bounded by the refresh. *mode_name (OUT): the wait
 * mode when known, else NULL; why (OUT): the reason for "backoff". Returns false when
 * cancelled. */
bool
_mongolock_fair_sleep (_mongolock_handle_t *h, _mongolock_watch_entry_t *we, unsigned base_releases,
                       const _mongolock_attempt_t *res, int n, int64_t sent_ms, int64_t deadline,
                       const char **mode_name, bson_error_t *why);

/* Removes h's queue entry from the server when h->queued (fair shapes): one command within
 * the client's timeout, best effort (errors dropped: the entry's queue lease ends it). */
void
_mongolock_handle_dequeue (_mongolock_handle_t *h);

/* A hold has ended: later acquisitions record a new owner. */
void
_mongolock_handle_next_owner (_mongolock_handle_t *h);

/* A new {$filter: ...} expression: the document's holders (semaphore, reader/writer lock)
 * still live by the server's clock ($$NOW). Caller destroys. (lib/shapes/holders.c) */
bson_t *
_mongolock_live_holders_new (void);

#endif
