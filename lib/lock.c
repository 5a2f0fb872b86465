#include "lock-private.h"

#include <string.h>

/* Tokens are max(previous + 1, serverNowMs * 2^20): see mongolock_lock_token. */
#define TOKEN_TIME_SCALE 1048576
/* How often one attempt may see E11000 from a concurrent upsert before giving up. */
#define MAX_DUPLICATE_RETRIES 10

static bool
is_duplicate_key (const bson_error_t *error)
{
   return error->domain == MONGOC_ERROR_SERVER && error->code == 11000;
}

/*
 * The acquire command. The query filters on _id alone, since MongoDB refuses $expr in an
 * upsert's query (code 224); the decision is made inside the update pipeline with $cond,
 * against $$NOW, so the server's clock alone decides expiry. When the lock is live and
 * someone else's, every field is set to its own value and the document is unchanged.
 *   take:  expired (or missing: a fresh upsert seed) or already this handle's
 *   fresh: expired, i.e. a new acquisition that needs a new fencing token
 */
static bson_t *
acquire_command (const mongolock_lock_t *lock)
{
   const char *me = lock->owner;
   return BCON_NEW (
      "findAndModify", BCON_UTF8 (lock->client->collection),
      "query", "{", "_id", BCON_UTF8 (lock->key), "}",
      "update", "[",
         "{", "$set", "{",
            "_mlk_take", "{", "$or", "[",
               "{", "$lte", "[", BCON_UTF8 ("$expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
               "{", "$eq", "[", BCON_UTF8 ("$owner"), "{", "$literal", BCON_UTF8 (me), "}", "]", "}",
            "]", "}",
            "_mlk_fresh", "{", "$lte", "[", BCON_UTF8 ("$expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
         "}", "}",
         "{", "$set", "{",
            "owner", "{", "$cond", "[", BCON_UTF8 ("$_mlk_take"),
               "{", "$literal", BCON_UTF8 (me), "}", BCON_UTF8 ("$owner"), "]", "}",
            "token", "{", "$cond", "[", BCON_UTF8 ("$_mlk_fresh"),
               "{", "$max", "[",
                  "{", "$add", "[", "{", "$ifNull", "[", BCON_UTF8 ("$token"), BCON_INT64 (0), "]", "}",
                     BCON_INT64 (1), "]", "}",
                  "{", "$multiply", "[", "{", "$toLong", BCON_UTF8 ("$$NOW"), "}",
                     BCON_INT64 (TOKEN_TIME_SCALE), "]", "}",
               "]", "}",
               BCON_UTF8 ("$token"), "]", "}",
            "expiresAt", "{", "$cond", "[", BCON_UTF8 ("$_mlk_take"),
               "{", "$add", "[", BCON_UTF8 ("$$NOW"), BCON_INT64 (lock->opts.lease_ms), "]", "}",
               BCON_UTF8 ("$expiresAt"), "]", "}",
            "acquiredAt", "{", "$cond", "[", BCON_UTF8 ("$_mlk_fresh"), BCON_UTF8 ("$$NOW"),
               BCON_UTF8 ("$acquiredAt"), "]", "}",
            "leaseMs", "{", "$cond", "[", BCON_UTF8 ("$_mlk_take"), BCON_INT64 (lock->opts.lease_ms),
               BCON_UTF8 ("$leaseMs"), "]", "}",
         "}", "}",
         "{", "$unset", "[", BCON_UTF8 ("_mlk_take"), BCON_UTF8 ("_mlk_fresh"), "]", "}",
      "]",
      "upsert", BCON_BOOL (true),
      "new", BCON_BOOL (true));
}

typedef struct {
   bool acquired;
   int64_t token;
   int64_t holder_expires_ms; /* server wall clock; -1 when unknown */
} attempt_result_t;

static bool
parse_acquire_reply (const mongolock_lock_t *lock, const bson_t *reply, attempt_result_t *res, bson_error_t *error)
{
   bson_iter_t it, value;
   if (!bson_iter_init_find (&it, reply, "value") || !BSON_ITER_HOLDS_DOCUMENT (&it) ||
       !bson_iter_recurse (&it, &value)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_PROTOCOL, "findAndModify returned no lock document");
      return false;
   }
   const char *owner = NULL;
   bool has_token = false;
   res->holder_expires_ms = -1;
   while (bson_iter_next (&value)) {
      const char *k = bson_iter_key (&value);
      if (strcmp (k, "owner") == 0 && BSON_ITER_HOLDS_UTF8 (&value)) {
         owner = bson_iter_utf8 (&value, NULL);
      } else if (strcmp (k, "token") == 0 && BSON_ITER_HOLDS_NUMBER (&value)) {
         res->token = bson_iter_as_int64 (&value);
         has_token = true;
      } else if (strcmp (k, "expiresAt") == 0 && BSON_ITER_HOLDS_DATE_TIME (&value)) {
         res->holder_expires_ms = bson_iter_date_time (&value);
      }
   }
   res->acquired = owner && strcmp (owner, lock->owner) == 0;
   if (res->acquired && (!has_token || res->token <= 0)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_PROTOCOL, "the lock document has no valid fencing token");
      return false;
   }
   return true;
}

/* One attempt, retrying a concurrent-upsert E11000 at once: after it the document exists,
 * so the next attempt updates instead of inserting and decides held or busy. */
static bool
attempt (mongolock_lock_t *lock, attempt_result_t *res, int *round_trips, bson_error_t *error)
{
   bson_t *cmd = acquire_command (lock);
   bool ok = false;
   for (int i = 0; i <= MAX_DUPLICATE_RETRIES; i++) {
      bson_t reply;
      bson_error_t err;
      int64_t sent = _mongolock_now_ms ();
      (*round_trips)++;
      ok = _mongolock_client_write_command (lock->client, cmd, &reply, &err);
      if (ok) {
         ok = parse_acquire_reply (lock, &reply, res, error);
         if (ok && res->acquired) {
            _mongolock_lease_t *l = lock->lease;
            pthread_mutex_lock (&l->mu);
            l->held = true;
            l->token = res->token;
            l->expiry_ms = sent + lock->opts.lease_ms;
            l->acquired_ms = _mongolock_now_ms ();
            pthread_mutex_unlock (&l->mu);
         }
      } else if (error) {
         *error = err;
      }
      bson_destroy (&reply);
      if (ok || !is_duplicate_key (&err)) {
         break;
      }
   }
   bson_destroy (cmd);
   return ok;
}

mongolock_lock_t *
mongolock_lock_new (mongolock_client_t *client, const char *key, const mongolock_lock_opts_t *opts, bson_error_t *error)
{
   if (!client) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "client is NULL");
      return NULL;
   }
   if (!_mongolock_check_string ("lock key", key, MONGOLOCK_KEY_MAX_BYTES, error)) {
      return NULL;
   }
   char nonce[17];
   uint64_t seed = 0;
   if (!_mongolock_random_hex (nonce, 8, error)) {
      return NULL;
   }
   for (int i = 0; i < 16; i++) {
      seed = seed * 16 + (uint64_t) (nonce[i] <= '9' ? nonce[i] - '0' : nonce[i] - 'a' + 10);
   }
   mongolock_lock_t *lock = bson_malloc0 (sizeof *lock);
   mongolock_lock_opts_t *defaults = opts ? NULL : mongolock_lock_opts_new ();
   lock->opts = opts ? *opts : *defaults;
   mongolock_lock_opts_destroy (defaults);
   lock->client = client;
   lock->key = bson_strdup (key);
   memcpy (lock->nonce, nonce, sizeof lock->nonce);
   lock->owner = bson_strdup_printf ("%s/%s", client->identity, nonce);
   lock->rng = seed ? seed : 0x9E3779B97F4A7C15ULL;
   lock->lease = bson_malloc0 (sizeof *lock->lease);
   pthread_mutex_init (&lock->lease->mu, NULL);
   pthread_condattr_t attr;
   pthread_condattr_init (&attr);
   pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
   pthread_cond_init (&lock->lease->cond, &attr);
   pthread_condattr_destroy (&attr);
   return lock;
}

/* A hold has ended (released, or its lease ran out or was lost): later acquisitions record
 * a new owner. The old one can then never be "already ours" again, so a handle told it lost
 * its lease cannot slip back into that lease, under its old fencing token, while the
 * server still has it; it waits for it to expire like anyone else and gets a new token.
 * (A retry after a failed acquire call keeps the owner and may reclaim its own lease.)
 * The renewal threads must be stopped. */
static void
next_owner (mongolock_lock_t *lock)
{
   lock->generation++;
   bson_free (lock->owner);
   lock->owner = bson_strdup_printf ("%s/%s.%u", lock->client->identity, lock->nonce, lock->generation);
}

/* Handles an acquire on a handle that already holds its lock. Returns true when nothing
 * more is to be done (*done set), false with error for a non-reentrant handle. */
static bool
reenter (mongolock_lock_t *lock, bool *done, bson_error_t *error)
{
   *done = false;
   if (lock->count > 0 && !mongolock_lock_is_held (lock)) {
      /* The previous lease ran out or was lost: forget that hold and start afresh. */
      _mongolock_renewer_stop (lock);
      lock->count = 0;
      next_owner (lock);
   }
   if (lock->count == 0) {
      return true;
   }
   if (!lock->opts.reentrant) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_WOULD_DEADLOCK,
                            "this handle already holds lock \"%s\" and is not reentrant",
                            lock->key);
      return false;
   }
   lock->count++;
   *done = true;
   return true;
}

static bool
after_acquired (mongolock_lock_t *lock, int64_t start_ms, int round_trips, bson_error_t *error)
{
   if (lock->count == 0 && lock->opts.auto_renew && !_mongolock_renewer_start (lock, error)) {
      lock->count = 1;
      (void) mongolock_lock_release (lock, NULL); /* don't leave a lease we cannot keep */
      return false;
   }
   lock->count++;
   _mongolock_emit (lock,
                    MONGOLOCK_EVENT_ACQUIRED,
                    mongolock_lock_token (lock),
                    _mongolock_now_ms () - start_ms,
                    0,
                    round_trips,
                    NULL);
   return true;
}

bool
mongolock_lock_try_acquire (mongolock_lock_t *lock, bool *acquired, bson_error_t *error)
{
   if (!lock || !acquired) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is NULL", lock ? "acquired" : "lock");
      return false;
   }
   *acquired = false;
   bool done;
   if (!reenter (lock, &done, error)) {
      return false;
   }
   if (done) {
      *acquired = true;
      return true;
   }
   int64_t start = _mongolock_now_ms ();
   int round_trips = 0;
   attempt_result_t res;
   if (!attempt (lock, &res, &round_trips, error)) {
      return false;
   }
   if (res.acquired) {
      if (!after_acquired (lock, start, round_trips, error)) {
         return false;
      }
      *acquired = true;
   } else {
      _mongolock_emit (lock, MONGOLOCK_EVENT_CONTENDED, 0, _mongolock_now_ms () - start, 0, round_trips, NULL);
   }
   return true;
}

/* The holder's remaining lease by the server's clock, estimated; -1 when unknown. */
static int64_t
holder_left_ms (mongolock_lock_t *lock, int64_t holder_expires_ms)
{
   int64_t offset;
   if (holder_expires_ms < 0 || !_mongolock_client_clock_offset (lock->client, &offset)) {
      return -1;
   }
   int64_t left = holder_expires_ms - (_mongolock_wall_ms () + offset);
   return left < 0 ? 0 : left;
}

bool
mongolock_lock_acquire (mongolock_lock_t *lock, bson_error_t *error)
{
   if (!lock) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "lock is NULL");
      return false;
   }
   bool done;
   if (!reenter (lock, &done, error)) {
      return false;
   }
   if (done) {
      return true;
   }
   int64_t start = _mongolock_now_ms ();
   int64_t deadline = start + lock->opts.wait_ms;
   int round_trips = 0;
   for (int n = 0;; n++) {
      attempt_result_t res;
      if (!attempt (lock, &res, &round_trips, error)) {
         return false;
      }
      if (res.acquired) {
         return after_acquired (lock, start, round_trips, error);
      }
      int64_t now = _mongolock_now_ms ();
      _mongolock_emit (lock, MONGOLOCK_EVENT_CONTENDED, 0, now - start, 0, round_trips, NULL);
      if (now >= deadline) {
         bson_error_t timeout;
         _mongolock_set_error (&timeout,
                               MONGOLOCK_ERROR_TIMEOUT,
                               "lock \"%s\" is held by another owner; gave up after %" PRId64 " ms and %d attempts",
                               lock->key,
                               now - start,
                               round_trips);
         _mongolock_emit (lock, MONGOLOCK_EVENT_TIMED_OUT, 0, now - start, 0, round_trips, &timeout);
         if (error) {
            *error = timeout;
         }
         return false;
      }
      int64_t sleep_ms = _mongolock_backoff_ms (&lock->rng, n, lock->opts.backoff_base_ms, lock->opts.backoff_cap_ms);
      if (sleep_ms > 0) {
         sleep_ms = _mongolock_backoff_clamp (sleep_ms, deadline - now, holder_left_ms (lock, res.holder_expires_ms));
         _mongolock_sleep_ms (sleep_ms);
      }
   }
}

/* Builds {update: coll, updates: [{q: ..., u: [...]}]} for this handle's current token. */
static bson_t *
owner_update_command (const mongolock_lock_t *lock, int64_t token, bool renew)
{
   bson_t *cmd = BCON_NEW ("update", BCON_UTF8 (lock->client->collection));
   bson_t updates, u0, q, expr, gt;
   BSON_APPEND_ARRAY_BEGIN (cmd, "updates", &updates);
   BSON_APPEND_DOCUMENT_BEGIN (&updates, "0", &u0);
   BSON_APPEND_DOCUMENT_BEGIN (&u0, "q", &q);
   BSON_APPEND_UTF8 (&q, "_id", lock->key);
   BSON_APPEND_UTF8 (&q, "owner", lock->owner);
   BSON_APPEND_INT64 (&q, "token", token);
   if (renew) {
      /* Renew only a lease that is still live by the server's clock ($expr is allowed:
       * this update never upserts). */
      BSON_APPEND_DOCUMENT_BEGIN (&q, "$expr", &expr);
      BSON_APPEND_ARRAY_BEGIN (&expr, "$gt", &gt);
      BSON_APPEND_UTF8 (&gt, "0", "$expiresAt");
      BSON_APPEND_UTF8 (&gt, "1", "$$NOW");
      bson_append_array_end (&expr, &gt);
      bson_append_document_end (&q, &expr);
   }
   bson_append_document_end (&u0, &q);
   bson_t *stages = renew ? BCON_NEW ("0", "{", "$set", "{",
                                         "expiresAt", "{", "$add", "[", BCON_UTF8 ("$$NOW"),
                                            BCON_INT64 (lock->opts.lease_ms), "]", "}",
                                         "renewedAt", BCON_UTF8 ("$$NOW"), "}", "}")
                          : BCON_NEW ("0", "{", "$set", "{",
                                         "expiresAt", "{", "$min", "[", BCON_UTF8 ("$expiresAt"),
                                            BCON_UTF8 ("$$NOW"), "]", "}",
                                         "releasedAt", BCON_UTF8 ("$$NOW"), "}", "}",
                                      "1", "{", "$unset", "[", BCON_UTF8 ("owner"), "]", "}");
   BSON_APPEND_ARRAY (&u0, "u", stages);
   bson_destroy (stages);
   BSON_APPEND_BOOL (&u0, "upsert", false);
   BSON_APPEND_BOOL (&u0, "multi", false);
   bson_append_document_end (&updates, &u0);
   bson_append_array_end (cmd, &updates);
   return cmd;
}

/* Runs an owner-checked update; *matched says whether the server still had us as holder. */
static bool
owner_update (mongolock_lock_t *lock, int64_t token, bool renew, bool *matched, bson_error_t *error)
{
   bson_t *cmd = owner_update_command (lock, token, renew);
   bson_t reply;
   bool ok = _mongolock_client_write_command (lock->client, cmd, &reply, error);
   bson_iter_t it;
   if (ok) {
      if (bson_iter_init_find (&it, &reply, "n") && BSON_ITER_HOLDS_NUMBER (&it)) {
         *matched = bson_iter_as_int64 (&it) == 1;
      } else {
         _mongolock_set_error (error, MONGOLOCK_ERROR_PROTOCOL, "update reply has no count");
         ok = false;
      }
   }
   bson_destroy (&reply);
   bson_destroy (cmd);
   return ok;
}

bool
_mongolock_lock_renew_once (mongolock_lock_t *lock, bool *renewed, bson_error_t *error)
{
   _mongolock_lease_t *l = lock->lease;
   pthread_mutex_lock (&l->mu);
   int64_t token = l->token;
   pthread_mutex_unlock (&l->mu);
   int64_t sent = _mongolock_now_ms ();
   if (!owner_update (lock, token, true, renewed, error)) {
      return false;
   }
   pthread_mutex_lock (&l->mu);
   if (l->held && l->token == token) {
      if (*renewed) {
         l->expiry_ms = sent + lock->opts.lease_ms;
      } else {
         l->held = false;
      }
   }
   pthread_mutex_unlock (&l->mu);
   return true;
}

static void
set_lost_error (const mongolock_lock_t *lock, bson_error_t *error)
{
   _mongolock_set_error (error,
                         MONGOLOCK_ERROR_LOST,
                         "lock \"%s\" was lost: the server no longer records this handle as its holder",
                         lock->key);
}

static int64_t
hold_ms (const mongolock_lock_t *lock)
{
   pthread_mutex_lock (&lock->lease->mu);
   int64_t acquired = lock->lease->acquired_ms;
   pthread_mutex_unlock (&lock->lease->mu);
   return _mongolock_now_ms () - acquired;
}

bool
mongolock_lock_renew (mongolock_lock_t *lock, bson_error_t *error)
{
   if (!lock) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "lock is NULL");
      return false;
   }
   pthread_mutex_lock (&lock->lease->mu);
   bool held = lock->lease->held;
   pthread_mutex_unlock (&lock->lease->mu);
   if (lock->count == 0) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_NOT_HELD, "lock \"%s\" is not held by this handle", lock->key);
      return false;
   }
   bool renewed = false;
   if (held && !_mongolock_lock_renew_once (lock, &renewed, error)) {
      return false;
   }
   if (!renewed) {
      bson_error_t lost;
      set_lost_error (lock, &lost);
      _mongolock_emit (lock, MONGOLOCK_EVENT_LOST, mongolock_lock_token (lock), 0, hold_ms (lock), 0, &lost);
      if (error) {
         *error = lost;
      }
      return false;
   }
   _mongolock_emit (lock, MONGOLOCK_EVENT_RENEWED, mongolock_lock_token (lock), 0, hold_ms (lock), 0, NULL);
   return true;
}

bool
mongolock_lock_release (mongolock_lock_t *lock, bson_error_t *error)
{
   if (!lock) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "lock is NULL");
      return false;
   }
   if (lock->count == 0) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_NOT_HELD, "lock \"%s\" is not held by this handle", lock->key);
      return false;
   }
   if (lock->count > 1) {
      lock->count--;
      return true;
   }
   _mongolock_renewer_stop (lock);
   lock->count = 0;
   _mongolock_lease_t *l = lock->lease;
   pthread_mutex_lock (&l->mu);
   int64_t token = l->token;
   bool held = l->held; /* false: the renewal thread already found the lease gone */
   l->held = false;
   pthread_mutex_unlock (&l->mu);
   int64_t held_for = hold_ms (lock);
   bool matched = false;
   bson_error_t err = {0};
   bool ok = false;
   if (!held) {
      set_lost_error (lock, &err);
   } else if (owner_update (lock, token, false, &matched, &err)) {
      ok = matched;
      if (!matched) {
         set_lost_error (lock, &err); /* someone else's lock now: left untouched */
      }
   }
   _mongolock_emit (lock, MONGOLOCK_EVENT_RELEASED, token, 0, held_for, 0, ok ? NULL : &err);
   next_owner (lock);
   if (!ok && error) {
      *error = err;
   }
   return ok;
}

void
mongolock_lock_destroy (mongolock_lock_t *lock)
{
   if (!lock) {
      return;
   }
   if (lock->count > 0) {
      lock->count = 1;
      (void) mongolock_lock_release (lock, NULL); /* errors go to the event callback */
   }
   _mongolock_renewer_stop (lock);
   pthread_mutex_destroy (&lock->lease->mu);
   pthread_cond_destroy (&lock->lease->cond);
   bson_free (lock->lease);
   bson_free (lock->key);
   bson_free (lock->owner);
   bson_free (lock);
}

bool
mongolock_lock_is_held (const mongolock_lock_t *lock)
{
   return mongolock_lock_remaining_ms (lock) > 0;
}

int64_t
mongolock_lock_token (const mongolock_lock_t *lock)
{
   if (!lock) {
      return 0;
   }
   pthread_mutex_lock (&lock->lease->mu);
   int64_t token = lock->lease->token;
   pthread_mutex_unlock (&lock->lease->mu);
   return token;
}

int64_t
mongolock_lock_remaining_ms (const mongolock_lock_t *lock)
{
   if (!lock) {
      return 0;
   }
   pthread_mutex_lock (&lock->lease->mu);
   int64_t left = lock->lease->held ? lock->lease->expiry_ms - _mongolock_now_ms () : 0;
   pthread_mutex_unlock (&lock->lease->mu);
   return left > 0 ? left : 0;
}

const char *
mongolock_lock_owner (const mongolock_lock_t *lock)
{
   return lock ? lock->owner : NULL;
}

const char *
mongolock_lock_key (const mongolock_lock_t *lock)
{
   return lock ? lock->key : NULL;
}

bool
mongolock_lock_get_holder (mongolock_lock_t *lock, char **holder, int64_t *token, bson_error_t *error)
{
   if (!lock || !holder) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is NULL", lock ? "holder" : "lock");
      return false;
   }
   *holder = NULL;
   if (token) {
      *token = 0;
   }
   /* Liveness is computed by the server in the same command that reads the document. */
   bson_t *cmd = BCON_NEW ("aggregate", BCON_UTF8 (lock->client->collection),
                           "pipeline", "[",
                              "{", "$match", "{", "_id", BCON_UTF8 (lock->key), "}", "}",
                              "{", "$project", "{", "owner", BCON_INT32 (1), "token", BCON_INT32 (1),
                                 "live", "{", "$gt", "[", BCON_UTF8 ("$expiresAt"), BCON_UTF8 ("$$NOW"), "]", "}",
                              "}", "}",
                           "]",
                           "cursor", "{", "}");
   bson_t reply;
   bool ok = _mongolock_client_read_command (lock->client, cmd, &reply, error);
   bson_iter_t batch, doc;
   if (ok && _mongolock_first_batch (&reply, &batch) && bson_iter_next (&batch) && BSON_ITER_HOLDS_DOCUMENT (&batch) &&
       bson_iter_recurse (&batch, &doc)) {
      const char *owner = NULL;
      bool live = false;
      int64_t t = 0;
      while (bson_iter_next (&doc)) {
         const char *k = bson_iter_key (&doc);
         if (strcmp (k, "owner") == 0 && BSON_ITER_HOLDS_UTF8 (&doc)) {
            owner = bson_iter_utf8 (&doc, NULL);
         } else if (strcmp (k, "token") == 0 && BSON_ITER_HOLDS_NUMBER (&doc)) {
            t = bson_iter_as_int64 (&doc);
         } else if (strcmp (k, "live") == 0 && BSON_ITER_HOLDS_BOOL (&doc)) {
            live = bson_iter_bool (&doc);
         }
      }
      if (live && owner) {
         *holder = bson_strdup (owner);
         if (token) {
            *token = t;
         }
      }
   }
   bson_destroy (&reply);
   bson_destroy (cmd);
   return ok;
}
