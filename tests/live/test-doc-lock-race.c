/* SPDX-License-Identifier: Apache-2.0 */
/* Live: 8 forked processes run read-modify-write on one document's counter under its
 * document lock, round after round: each reads the counter from the document the acquire
 * returned, writes counter + 1 with a fenced $set (no $inc: a lost update would show), and
 * checks on every round that no one else is inside (a flag in shared memory), that the
 * counter it read equals the increments made so far, and that its token is larger than
 * the previous holder's. */
#include <criterion/criterion.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "doc-lock-test.h"

typedef struct {
   _Atomic long holder;
   _Atomic int64_t last_token;
   _Atomic long overlaps;
   _Atomic long token_violations;
   _Atomic long stale_reads;
   _Atomic long not_applied;
   _Atomic long increments;
} shared_t;

static int
worker (const char *lockdb, const char *db, shared_t *s, long me, int rounds)
{
   mongoc_init ();
   bson_error_t error;
   mongolock_client_opts_t *o = mongolock_client_opts_new ();
   mongolock_client_opts_set_database (o, lockdb, NULL);
   mongolock_client_t *c = mongolock_client_new (mltest_uri (), o, &error);
   mongolock_client_opts_destroy (o);
   mongolock_doc_lock_opts_t *dopts = mongolock_doc_lock_opts_new ();
   mongolock_lock_opts_t *lo = mongolock_doc_lock_opts_lock_opts (dopts);
   mongolock_lock_opts_set_lease_ms (lo, 10000, NULL);
   mongolock_lock_opts_set_wait_ms (lo, 120000, NULL);
   mongolock_lock_opts_set_backoff (lo, 1, 20, NULL);
   bson_value_t id = {.value_type = BSON_TYPE_UTF8, .value.v_utf8 = {(char *) "counter", 7}};
   mongolock_doc_lock_t *l = mongolock_doc_lock_new (c, db, "users", &id, dopts, &error);
   mongolock_doc_lock_opts_destroy (dopts);
   int failures = 0;
   for (int i = 0; i < rounds && l; i++) {
      if (!mongolock_doc_lock_acquire (l, &error)) {
         fprintf (stderr, "worker %ld: acquire: %s\n", me, error.message);
         failures++;
         continue;
      }
      if (atomic_exchange (&s->holder, me) != 0) {
         atomic_fetch_add (&s->overlaps, 1);
      }
      int64_t token = mongolock_doc_lock_token (l);
      if (token <= atomic_load (&s->last_token)) {
         atomic_fetch_add (&s->token_violations, 1);
      }
      atomic_store (&s->last_token, token);
      int64_t v = dlt_int (mongolock_doc_lock_document (l), "counter");
      if (v != atomic_load (&s->increments)) {
         atomic_fetch_add (&s->stale_reads, 1);
      }
      sched_yield ();
      bson_t *u = BCON_NEW ("$set", "{", "counter", BCON_INT64 (v + 1), "}");
      mongolock_doc_write_result_t res = 0;
      if (!mongolock_doc_lock_update (l, u, 0, &res, &error) || res != MONGOLOCK_DOC_WRITE_APPLIED) {
         atomic_fetch_add (&s->not_applied, 1);
      } else {
         atomic_fetch_add (&s->increments, 1);
      }
      bson_destroy (u);
      long expected = me;
      if (!atomic_compare_exchange_strong (&s->holder, &expected, 0)) {
         atomic_fetch_add (&s->overlaps, 1);
      }
      if (!mongolock_doc_lock_release (l, &error)) {
         fprintf (stderr, "worker %ld: release: %s\n", me, error.message);
         failures++;
      }
   }
   failures += l ? 0 : 1;
   mongolock_doc_lock_destroy (l);
   mongolock_client_destroy (c);
   mongoc_cleanup ();
   return failures;
}

Test (doc_lock_race, forked_read_modify_write_keeps_every_increment, .timeout = 600)
{
   enum { PROCS = 8, ROUNDS = 60 };
   dlt_env_t e;
   dlt_setup (&e);
   dlt_insert (&e, "{'_id': 'counter', 'counter': 0, 'other': {'keep': [1, 2, 3]}}");
   shared_t *s = mmap (NULL, sizeof *s, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
   cr_assert (s != MAP_FAILED);
   memset (s, 0, sizeof *s);
   pid_t pids[PROCS];
   for (int p = 0; p < PROCS; p++) {
      pids[p] = fork ();
      cr_assert (pids[p] >= 0);
      if (pids[p] == 0) {
         _exit (worker (e.lockdb, e.db, s, (long) getpid (), ROUNDS) ? 1 : 0);
      }
   }
   for (int p = 0; p < PROCS; p++) {
      int status;
      cr_assert_eq (waitpid (pids[p], &status, 0), pids[p]);
      cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "worker %d failed (status %d)", p, status);
   }
   cr_assert_eq (atomic_load (&s->overlaps), 0, "two holders overlapped %ld times", atomic_load (&s->overlaps));
   cr_assert_eq (atomic_load (&s->token_violations), 0, "%ld tokens not larger than the previous holder's",
                 atomic_load (&s->token_violations));
   cr_assert_eq (atomic_load (&s->stale_reads), 0, "%ld acquires returned a stale counter",
                 atomic_load (&s->stale_reads));
   cr_assert_eq (atomic_load (&s->not_applied), 0, "%ld fenced writes were not applied", atomic_load (&s->not_applied));
   cr_assert_eq (atomic_load (&s->increments), (long) PROCS * ROUNDS);
   mongoc_collection_t *coll = mongoc_client_get_collection (e.mc, e.db, "users");
   bson_t *filter = BCON_NEW ("_id", BCON_UTF8 ("counter"));
   mongoc_cursor_t *cur = mongoc_collection_find_with_opts (coll, filter, NULL, NULL);
   const bson_t *doc;
   cr_assert (mongoc_cursor_next (cur, &doc));
   cr_assert_eq (dlt_int (doc, "counter"), (int64_t) PROCS * ROUNDS, "lost updates: counter %" PRId64,
                 dlt_int (doc, "counter"));
   cr_assert_not (dlt_has (doc, MONGOLOCK_DOC_DEFAULT_OWNER_FIELD), "a lock was left behind");
   bson_t *want_other = mltest_bson ("{'keep': [1, 2, 3]}");
   bson_iter_t it;
   cr_assert (bson_iter_init_find (&it, doc, "other") && BSON_ITER_HOLDS_DOCUMENT (&it));
   uint32_t len;
   const uint8_t *data;
   bson_iter_document (&it, &len, &data);
   bson_t other;
   bson_init_static (&other, data, len);
   cr_assert (bson_equal (&other, want_other), "another field changed");
   bson_destroy (want_other);
   mongoc_cursor_destroy (cur);
   bson_destroy (filter);
   mongoc_collection_destroy (coll);
   munmap (s, sizeof *s);
   dlt_teardown (&e);
}
