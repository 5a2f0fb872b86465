/* SPDX-License-Identifier: Apache-2.0 */
/* Live: the semaphore's rules one by one: N permits, contention is not an error, another
 * N or another kind of lock is MONGOLOCK_ERROR_MISMATCH, release and renew touch only
 * this handle's entry, expired permits are reclaimed by the server's clock, tokens
 * strictly increase across permits. */
#include <criterion/criterion.h>
#include <string.h>

#include "sem-test.h"

TestSuite (semaphore, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 120);

Test (semaphore, n_permits_then_busy_then_free_again)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_semaphore_t *s[4];
   int64_t last = 0;
   for (int i = 0; i < 4; i++) {
      s[i] = st_sem (c, "api", 3, 10000, 0, 0, NULL);
   }
   for (int i = 0; i < 3; i++) {
      cr_assert (st_try (s[i]), "permit %d", i);
      cr_assert_gt (mongolock_semaphore_token (s[i]), last, "tokens strictly increase across permits");
      last = mongolock_semaphore_token (s[i]);
      cr_assert_gt (mongolock_semaphore_remaining_ms (s[i]), 5000);
   }
   cr_assert_eq (st_holders (db, "api"), 3);
   cr_assert_not (st_try (s[3]), "a fourth handle is busy, not an error");
   bson_error_t error;
   cr_assert_not (mongolock_semaphore_acquire (s[3], &error), "wait 0");
   cr_assert_eq (error.code, MONGOLOCK_ERROR_TIMEOUT, "%s", error.message);
   cr_assert (mongolock_semaphore_release (s[1], &error), "%s", error.message);
   cr_assert_eq (st_holders (db, "api"), 2);
   cr_assert (st_try (s[3]));
   cr_assert_gt (mongolock_semaphore_token (s[3]), last);
   /* A released handle gets a new owner and, acquiring again, a new larger token. */
   cr_assert_not (st_try (s[1]));
   cr_assert (mongolock_semaphore_release (s[0], &error), "%s", error.message);
   cr_assert (st_try (s[1]));
   cr_assert_gt (mongolock_semaphore_token (s[1]), mongolock_semaphore_token (s[3]));
   cr_assert_eq (mongolock_semaphore_permits (s[1]), 3);
   cr_assert_str_eq (mongolock_semaphore_key (s[1]), "api");
   cr_assert (mongolock_semaphore_renew (s[1], &error), "%s", error.message);
   for (int i = 0; i < 4; i++) {
      mongolock_semaphore_destroy (s[i]); /* releases the held ones */
   }
   cr_assert_eq (st_holders (db, "api"), 0, "destroy released every permit");
   lt_cleanup (c, db);
}

Test (semaphore, other_n_or_other_kind_is_a_mismatch_never_a_mix)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_semaphore_t *three = st_sem (c, "k", 3, 10000, 0, 0, NULL);
   mongolock_semaphore_t *five = st_sem (c, "k", 5, 10000, 5000, 0, NULL);
   cr_assert (st_try (three));
   bool acquired = true;
   bson_error_t error;
   cr_assert_not (mongolock_semaphore_try_acquire (five, &acquired, &error));
   cr_assert_not (acquired);
   cr_assert_eq (error.domain, MONGOLOCK_ERROR_DOMAIN);
   cr_assert_eq (error.code, MONGOLOCK_ERROR_MISMATCH, "%s", error.message);
   cr_assert (strstr (error.message, "3 permits"), "%s", error.message);
   int64_t t0 = mltest_now_ms ();
   cr_assert_not (mongolock_semaphore_acquire (five, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_MISMATCH, "%s", error.message);
   cr_assert_lt (mltest_now_ms () - t0, 2000, "a mismatch is final, not waited on");
   cr_assert_eq (st_holders (db, "k"), 1);
   /* A named lock sees the key busy; a semaphore on a named lock's live key: mismatch. */
   mongolock_lock_t *named = lt_lock (c, "k", 10000, 0, 0);
   cr_assert_not (lt_try (named));
   cr_assert (mongolock_semaphore_release (three, &error), "%s", error.message);
   /* No live holder: the next acquire decides N (here 5). */
   cr_assert (st_try (five));
   cr_assert_not (mongolock_semaphore_try_acquire (three, &acquired, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_MISMATCH, "%s", error.message);
   int64_t t5 = mongolock_semaphore_token (five);
   cr_assert (mongolock_semaphore_release (five, &error), "%s", error.message);
   cr_assert (lt_try (named), "a named lock takes the key once no permit is held");
   cr_assert_gt (mongolock_lock_token (named), t5, "tokens increase across kinds");
   cr_assert_not (mongolock_semaphore_try_acquire (three, &acquired, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_MISMATCH, "%s", error.message);
   cr_assert (strstr (error.message, "another kind"), "%s", error.message);
   cr_assert (mongolock_lock_release (named, &error), "%s", error.message);
   cr_assert (st_try (three), "a released named lock's key can become a semaphore");
   cr_assert_gt (mongolock_semaphore_token (three), mongolock_lock_token (named));
   mongolock_lock_destroy (named);
   mongolock_semaphore_destroy (three);
   mongolock_semaphore_destroy (five);
   lt_cleanup (c, db);
}

/* A holder that stops renewing loses its permit when its lease ends by the server's
 * clock; its late release and renew fail with LOST and touch nobody else's entry. */
Test (semaphore, expired_permit_is_reclaimed_and_stale_release_frees_nothing)
{
   enum { SHORT = 400 };
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_semaphore_t *stale = st_sem (c, "k", 2, SHORT, 0, 0, NULL);
   mongolock_semaphore_t *a = st_sem (c, "k", 2, 20000, 0, 0, NULL);
   mongolock_semaphore_t *b = st_sem (c, "k", 2, 20000, 10000, 0, NULL);
   cr_assert (st_try (stale));
   cr_assert (st_try (a));
   cr_assert_not (st_try (b));
   int64_t t0 = mltest_now_ms ();
   bson_error_t error;
   cr_assert (mongolock_semaphore_acquire (b, &error), "%s", error.message);
   int64_t waited = mltest_now_ms () - t0;
   cr_assert_lt (waited, SHORT + 5000, "the expired permit was reclaimed (%" PRId64 " ms)", waited);
   cr_assert_gt (mongolock_semaphore_token (b), mongolock_semaphore_token (a));
   cr_assert_eq (st_holders (db, "k"), 2, "the expired entry was dropped");
   /* The stale holder still believes it may hold (its own clock may not have run out if
    * the wait was short): its renew and release must fail and change nothing. */
   cr_assert_not (mongolock_semaphore_renew (stale, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_LOST, "%s", error.message);
   cr_assert_not (mongolock_semaphore_release (stale, &error));
   cr_assert (error.code == MONGOLOCK_ERROR_NOT_HELD || error.code == MONGOLOCK_ERROR_LOST, "%s", error.message);
   cr_assert_eq (st_holders (db, "k"), 2, "a stale release freed nothing");
   cr_assert (mongolock_semaphore_renew (a, &error), "%s", error.message);
   cr_assert (mongolock_semaphore_renew (b, &error), "%s", error.message);
   mongolock_semaphore_destroy (stale);
   mongolock_semaphore_destroy (a);
   mongolock_semaphore_destroy (b);
   lt_cleanup (c, db);
}

Test (semaphore, auto_renew_keeps_the_permit_and_reentrancy_counts)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_semaphore_t *a = st_sem (c, "k", 1, 600, 0, LT_RENEW | LT_REENTRANT, &ev);
   mongolock_semaphore_t *b = st_sem (c, "k", 1, 600, 0, 0, NULL);
   cr_assert (st_try (a));
   cr_assert (st_try (a), "reentrant");
   cr_assert_geq (lt_events_wait (&ev, MONGOLOCK_EVENT_RENEWED, 3, 10000), 3, "renewed");
   cr_assert_not (st_try (b), "still held after several leases");
   bson_error_t error;
   cr_assert (mongolock_semaphore_release (a, &error));
   cr_assert (mongolock_semaphore_is_held (a), "one reentrant hold left");
   cr_assert (mongolock_semaphore_release (a, &error));
   cr_assert_not (mongolock_semaphore_is_held (a));
   cr_assert (st_try (b));
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_LOST), 0);
   mongolock_semaphore_destroy (a);
   mongolock_semaphore_destroy (b);
   lt_cleanup (c, db);
}

Test (semaphore, invalid_arguments)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   bson_error_t error;
   cr_assert_null (mongolock_semaphore_new (c, "k", 0, NULL, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   cr_assert_null (mongolock_semaphore_new (c, "k", MONGOLOCK_SEMAPHORE_PERMITS_MAX + 1, NULL, &error));
   cr_assert_null (mongolock_semaphore_new (c, "", 2, NULL, &error));
   cr_assert_null (mongolock_semaphore_new (NULL, "k", 2, NULL, &error));
   mongolock_semaphore_t *s = mongolock_semaphore_new (c, "k", 2, NULL, &error);
   cr_assert (s);
   cr_assert_not (mongolock_semaphore_try_acquire (s, NULL, &error));
   cr_assert_not (mongolock_semaphore_release (s, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_NOT_HELD);
   cr_assert_eq (mongolock_semaphore_token (s), 0);
   mongolock_semaphore_destroy (s);
   mongolock_semaphore_destroy (NULL);
   lt_cleanup (c, db);
}

/* Release and renew touch only this handle's entry: a release (here of an entry that has
 * expired but is still in the document) leaves the other holder's entry alone. */
Test (semaphore, release_removes_only_its_own_entry)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_semaphore_t *a = st_sem (c, "k", 2, 300, 0, 0, NULL);
   mongolock_semaphore_t *b = st_sem (c, "k", 2, 20000, 0, 0, NULL);
   cr_assert (st_try (a));
   cr_assert (st_try (b));
   mltest_sleep_ms (700); /* a's lease is over; nobody acquired, so its entry is still there */
   cr_assert_eq (st_holders (db, "k"), 2);
   bson_error_t error;
   cr_assert_not (mongolock_semaphore_renew (a, &error), "an expired entry is not renewed");
   cr_assert_eq (error.code, MONGOLOCK_ERROR_LOST, "%s", error.message);
   cr_assert (st_try (a), "a takes a new permit (new owner, new token) next to b");
   cr_assert_eq (st_holders (db, "k"), 2, "the expired entry was replaced, not added to");
   cr_assert (mongolock_semaphore_release (a, &error), "%s", error.message);
   cr_assert_eq (st_holders (db, "k"), 1);
   cr_assert (mongolock_semaphore_renew (b, &error), "b's entry survived a's release: %s", error.message);
   cr_assert (mongolock_semaphore_release (b, &error), "%s", error.message);
   cr_assert_eq (st_holders (db, "k"), 0);
   mongolock_semaphore_destroy (a);
   mongolock_semaphore_destroy (b);
   lt_cleanup (c, db);
}

/* An administrator's forced release drops every permit: the holders find out (LOST) on
 * their next renew, and the key is free for anyone. */
Test (semaphore, force_release_drops_every_permit)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_semaphore_t *a = st_sem (c, "k", 2, 20000, 0, 0, NULL);
   mongolock_semaphore_t *b = st_sem (c, "k", 2, 20000, 0, 0, NULL);
   cr_assert (st_try (a));
   cr_assert (st_try (b));
   bool was_held = false;
   bson_error_t error;
   bson_t prev;
   cr_assert (mongolock_client_force_release (c, "k", &was_held, &prev, &error), "%s", error.message);
   cr_assert (was_held, "live permits were broken");
   bson_destroy (&prev);
   cr_assert_eq (st_holders (db, "k"), 0);
   cr_assert_not (mongolock_semaphore_renew (a, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_LOST, "%s", error.message);
   mongolock_lock_t *named = lt_lock (c, "k", 10000, 0, 0);
   cr_assert (lt_try (named), "the key is free");
   cr_assert_gt (mongolock_lock_token (named), mongolock_semaphore_token (b));
   mongolock_lock_destroy (named);
   mongolock_semaphore_destroy (a);
   mongolock_semaphore_destroy (b);
   lt_cleanup (c, db);
}

/* The engine's cancellation applies: a waiter on a full semaphore returns CANCELLED within
 * a few hundred ms of the flag being raised from another thread. */
static void *
raise_later (void *arg)
{
   mltest_sleep_ms (300);
   mongolock_cancel_raise (arg);
   return NULL;
}

Test (semaphore, cancel_ends_a_wait)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_semaphore_t *a = st_sem (c, "k", 1, 20000, 0, 0, NULL);
   cr_assert (st_try (a));
   mongolock_cancel_t *cancel = mongolock_cancel_new ();
   mongolock_lock_opts_t *o = mongolock_lock_opts_new ();
   mongolock_lock_opts_set_wait_ms (o, 30000, NULL);
   mongolock_lock_opts_set_cancel (o, cancel);
   bson_error_t error;
   mongolock_semaphore_t *b = mongolock_semaphore_new (c, "k", 1, o, &error);
   mongolock_lock_opts_destroy (o);
   pthread_t t;
   pthread_create (&t, NULL, raise_later, cancel);
   int64_t t0 = mltest_now_ms ();
   cr_assert_not (mongolock_semaphore_acquire (b, &error));
   int64_t took = mltest_now_ms () - t0;
   pthread_join (t, NULL);
   cr_assert_eq (error.code, MONGOLOCK_ERROR_CANCELLED, "%s", error.message);
   cr_assert_lt (took, 3000, "cancelled after %" PRId64 " ms", took);
   mongolock_semaphore_destroy (b);
   mongolock_cancel_destroy (cancel);
   mongolock_semaphore_destroy (a);
   lt_cleanup (c, db);
}

Test (semaphore, a_named_locks_get_holder_never_calls_a_held_semaphore_free)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_lock_t *named = lt_lock (c, "k", 10000, 0, 0);
   mongolock_semaphore_t *s = st_sem (c, "k", 2, 10000, 0, 0, NULL);
   mongolock_semaphore_t *brief = st_sem (c, "k", 2, 400, 0, 0, NULL);
   mongolock_rwlock_t *reader = st_rw (c, "rw", MONGOLOCK_RWLOCK_READ, 10000, 0, 0, NULL);
   mongolock_lock_t *named_rw = lt_lock (c, "rw", 10000, 0, 0);
   cr_assert (st_try (s) && st_try (brief));
   cr_assert (st_rw_try (reader));
   char *holder = NULL;
   int64_t token = -1;
   bson_error_t error;
   cr_assert_not (mongolock_lock_get_holder (named, &holder, &token, &error), "a held semaphore is not free");
   cr_assert_eq (error.domain, MONGOLOCK_ERROR_DOMAIN);
   cr_assert_eq (error.code, MONGOLOCK_ERROR_MISMATCH, "%s", error.message);
   cr_assert (strstr (error.message, "semaphore with 2 live holders"), "%s", error.message);
   cr_assert_null (holder);
   cr_assert_eq (token, 0);
   cr_assert_not (mongolock_lock_get_holder (named_rw, &holder, NULL, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_MISMATCH, "%s", error.message);
   cr_assert (strstr (error.message, "reader/writer lock with 1 live holder,"), "%s", error.message);
   /* Counted by the server's clock: the brief permit's expiry leaves one. */
   int64_t deadline = mltest_now_ms () + 10000;
   for (;;) {
      cr_assert_not (mongolock_lock_get_holder (named, &holder, NULL, &error));
      if (strstr (error.message, "with 1 live holder,")) {
         break;
      }
      cr_assert (strstr (error.message, "with 2 live holders"), "%s", error.message);
      cr_assert_lt (mltest_now_ms (), deadline, "the expired permit is still counted");
      mltest_sleep_ms (50);
   }
   /* Released: free again, the ordinary answer. */
   cr_assert (mongolock_semaphore_release (s, &error), "%s", error.message);
   cr_assert (mongolock_lock_get_holder (named, &holder, &token, &error), "%s", error.message);
   cr_assert_null (holder, "free once no permit is live");
   cr_assert_eq (token, 0);
   cr_assert (mongolock_rwlock_release (reader, &error), "%s", error.message);
   cr_assert (mongolock_lock_get_holder (named_rw, &holder, NULL, &error), "%s", error.message);
   cr_assert_null (holder);
   mongolock_lock_destroy (named);
   mongolock_lock_destroy (named_rw);
   mongolock_semaphore_destroy (s);
   mongolock_semaphore_destroy (brief);
   mongolock_rwlock_destroy (reader);
   lt_cleanup (c, db);
}

/* A semaphore's or reader's entry that expired stays in the document when a named lock
 * takes the key; the stale holder's late release must not end the named lock's lease (it
 * did: the release set expiresAt from the holders left, none, to $$NOW, and a second named
 * lock got in beside the first). */
Test (semaphore, stale_release_never_frees_a_named_lock_on_the_key)
{
   enum { SHORT = 300 };
   char *db;
   mongolock_client_t *c = lt_client (&db);
   for (int kind = 0; kind < 2; kind++) {
      const char *key = kind ? "rw" : "sem";
      mongolock_semaphore_t *s = kind ? NULL : st_sem (c, key, 2, SHORT, 0, 0, NULL);
      mongolock_rwlock_t *r = kind ? st_rw (c, key, MONGOLOCK_RWLOCK_READ, SHORT, 0, 0, NULL) : NULL;
      mongolock_lock_t *named = lt_lock (c, key, 30000, 0, 0);
      mongolock_lock_t *other = lt_lock (c, key, 30000, 0, 0);
      cr_assert (kind ? st_rw_try (r) : st_try (s));
      int64_t deadline = mltest_now_ms () + 10000; /* until the entry expires by the server's clock */
      while (!lt_try (named)) {
         cr_assert_lt (mltest_now_ms (), deadline, "%s: the expired entry never let a named lock in", key);
         mltest_sleep_ms (50);
      }
      bson_error_t error;
      bool released = kind ? mongolock_rwlock_release (r, &error) : mongolock_semaphore_release (s, &error);
      cr_assert_not (released, "%s: a stale holder's release succeeded on a named lock's document", key);
      cr_assert_eq (error.code, MONGOLOCK_ERROR_LOST, "%s: %s", key, error.message);
      char *holder = NULL;
      cr_assert (mongolock_lock_get_holder (other, &holder, NULL, &error), "%s", error.message);
      cr_assert (holder && strcmp (holder, mongolock_lock_owner (named)) == 0, "%s: the named lock's holder is %s", key,
                 holder ? holder : "nobody");
      bson_free (holder);
      cr_assert_not (lt_try (other), "%s: a second named lock got in beside the first", key);
      cr_assert (mongolock_lock_renew (named, &error), "%s: %s", key, error.message);
      mongolock_lock_destroy (other);
      mongolock_lock_destroy (named);
      mongolock_semaphore_destroy (s);
      mongolock_rwlock_destroy (r);
   }
   lt_cleanup (c, db);
}

/* mongolock_client_list_locks gives "permits" for semaphores only: a named lock that took
 * an expired semaphore's key was listed as kind "lock" with the semaphore's permits. */
Test (semaphore, list_locks_gives_permits_for_semaphores_only)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   mongolock_semaphore_t *s = st_sem (c, "k", 4, 300, 0, 0, NULL);
   mongolock_lock_t *named = lt_lock (c, "k", 30000, 0, 0);
   cr_assert (st_try (s));
   bson_t locks;
   bson_error_t error;
   bson_iter_t it;
   cr_assert (mongolock_client_list_locks (c, "k", 0, &locks, &error), "%s", error.message);
   cr_assert (bson_iter_init (&it, &locks) && bson_iter_find_descendant (&it, "0.permits", &it), "a semaphore's permits");
   cr_assert_eq (bson_iter_as_int64 (&it), 4);
   bson_destroy (&locks);
   int64_t deadline = mltest_now_ms () + 10000; /* until the permit expires by the server's clock */
   while (!lt_try (named)) {
      cr_assert_lt (mltest_now_ms (), deadline, "the expired permit never let a named lock in");
      mltest_sleep_ms (50);
   }
   cr_assert (mongolock_client_list_locks (c, "k", 0, &locks, &error), "%s", error.message);
   cr_assert (bson_iter_init (&it, &locks) && bson_iter_find_descendant (&it, "0.kind", &it));
   cr_assert_str_eq (bson_iter_utf8 (&it, NULL), "lock");
   cr_assert_not (bson_iter_init (&it, &locks) && bson_iter_find_descendant (&it, "0.permits", &it),
                  "a named lock listed with permits");
   bson_destroy (&locks);
   mongolock_lock_destroy (named);
   mongolock_semaphore_destroy (s);
   lt_cleanup (c, db);
}
