/* SPDX-License-Identifier: Apache-2.0 */
/* Live: first-or-create and update-or-create: basics, a multi-process race (exactly one
 * document per key, every caller gets it back), and the 11000 path when a writer bypasses
 * the lock and the unique index stops it. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "guard-test.h"

TestSuite (create, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 300);

typedef struct {
   mongolock_client_t *c;
   mongolock_guard_t *g;
   mongoc_client_t *mc;
   mongoc_collection_t *coll;
   char *db;
} env_t;

static void
env_init (env_t *e)
{
   e->c = lt_client (&e->db);
   e->g = gt_guard (e->c, MONGOLOCK_GUARD_FAIL_CLOSED, 5000, 10000, NULL, NULL);
   e->coll = gt_collection (e->db, "users", &e->mc);
}

static void
env_fini (env_t *e)
{
   mongoc_collection_destroy (e->coll);
   mongoc_client_destroy (e->mc);
   mongolock_guard_destroy (e->g);
   lt_cleanup (e->c, e->db);
}

static const char *
str_field (const bson_t *doc, const char *name)
{
   bson_iter_t it;
   return bson_iter_init_find (&it, doc, name) && BSON_ITER_HOLDS_UTF8 (&it) ? bson_iter_utf8 (&it, NULL) : NULL;
}

static int64_t
int_field (const bson_t *doc, const char *name)
{
   bson_iter_t it;
   return bson_iter_init_find (&it, doc, name) && BSON_ITER_HOLDS_NUMBER (&it) ? bson_iter_as_int64 (&it) : -1;
}

static void
id_hex (const bson_t *doc, char hex[25])
{
   bson_iter_t it;
   hex[0] = '\0';
   if (bson_iter_init_find (&it, doc, "_id") && BSON_ITER_HOLDS_OID (&it)) {
      bson_oid_to_string (bson_iter_oid (&it), hex);
   }
}

Test (create, first_or_create_creates_once_then_finds)
{
   env_t e;
   env_init (&e);
   bson_error_t error;
   bson_t *filter = mltest_bson ("{'tenant': 1, 'email': 'a@example.com'}");
   bson_t *doc_a = mltest_bson ("{'name': 'A'}");
   bson_t *doc_b = mltest_bson ("{'name': 'B'}");
   bson_t out;
   bool created = false;
   mongolock_guard_mode_t mode = MONGOLOCK_GUARD_MODE_NONE;
   cr_assert (mongolock_guard_first_or_create (e.g, e.coll, filter, doc_a, NULL, &out, &created, &mode, &error), "%s",
              error.message);
   cr_assert (created);
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCKED);
   char id1[25], id2[25];
   id_hex (&out, id1);
   cr_assert_eq (strlen (id1), 24, "a generated ObjectId");
   cr_assert_str_eq (str_field (&out, "name"), "A");
   cr_assert_str_eq (str_field (&out, "email"), "a@example.com");
   cr_assert_eq (int_field (&out, "tenant"), 1);
   bson_destroy (&out);

   cr_assert (mongolock_guard_first_or_create (e.g, e.coll, filter, doc_b, NULL, &out, &created, &mode, &error));
   cr_assert_not (created);
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_NONE, "found without taking the lock");
   id_hex (&out, id2);
   cr_assert_str_eq (id1, id2);
   cr_assert_str_eq (str_field (&out, "name"), "A", "the existing document, not the new fields");
   bson_destroy (&out);
   cr_assert_eq (gt_count (e.coll, "{}"), 1);

   /* _id from the filter or the document is kept. */
   bson_t *by_id = mltest_bson ("{'_id': 'fixed'}");
   cr_assert (mongolock_guard_first_or_create (e.g, e.coll, by_id, NULL, NULL, &out, &created, NULL, &error));
   cr_assert (created);
   cr_assert_str_eq (str_field (&out, "_id"), "fixed");
   bson_destroy (&out);
   bson_t *f2 = mltest_bson ("{'email': 'b@example.com'}");
   bson_t *d2 = mltest_bson ("{'_id': 'given', 'name': 'B'}");
   bson_t *opts = mltest_bson ("{'principal': 'tenant-2', 'namespace': 'mydb.users', 'waitMs': 500}");
   cr_assert (mongolock_guard_first_or_create (e.g, e.coll, f2, d2, opts, &out, &created, NULL, &error), "%s",
              error.message);
   cr_assert (created);
   cr_assert_str_eq (str_field (&out, "_id"), "given");
   bson_destroy (&out);
   cr_assert_eq (gt_count (e.coll, "{}"), 3);

   bson_destroy (opts);
   bson_destroy (f2);
   bson_destroy (d2);
   bson_destroy (by_id);
   bson_destroy (filter);
   bson_destroy (doc_a);
   bson_destroy (doc_b);
   env_fini (&e);
}

Test (create, bad_arguments_insert_nothing)
{
   env_t e;
   env_init (&e);
   bson_error_t error;
   bson_t out;
   const char *bad_filters[] = {"{'$or': [{'a': 1}]}", "{'a.b': 1}", "{'a': {'$gt': 1}}",
                                "{'a': {'$regularExpression': {'pattern': 'x', 'options': ''}}}"};
   for (size_t i = 0; i < sizeof bad_filters / sizeof bad_filters[0]; i++) {
      bson_t *f = mltest_bson (bad_filters[i]);
      cr_assert_not (mongolock_guard_first_or_create (e.g, e.coll, f, NULL, NULL, &out, NULL, NULL, &error), "%s",
                     bad_filters[i]);
      cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s: %s", bad_filters[i], error.message);
      cr_assert (bson_empty (&out));
      bson_destroy (&out);
      bson_t *u = mltest_bson ("{'$set': {'x': 1}}");
      cr_assert_not (mongolock_guard_update_or_create (e.g, e.coll, f, u, NULL, &out, NULL, NULL, &error));
      cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
      bson_destroy (&out);
      bson_destroy (u);
      bson_destroy (f);
   }
   bson_t *f = mltest_bson ("{'email': 'x'}");
   bson_t *d = mltest_bson ("{'email': 'y'}");
   cr_assert_not (mongolock_guard_first_or_create (e.g, e.coll, f, d, NULL, &out, NULL, NULL, &error));
   cr_assert (strstr (error.message, "repeats filter field"), "%s", error.message);
   bson_destroy (&out);
   bson_t *replacement = mltest_bson ("{'name': 'x'}");
   cr_assert_not (mongolock_guard_update_or_create (e.g, e.coll, f, replacement, NULL, &out, NULL, NULL, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   bson_destroy (&out);
   bson_t *bad_opts = mltest_bson ("{'principal': 7}");
   cr_assert_not (mongolock_guard_first_or_create (e.g, e.coll, f, NULL, bad_opts, &out, NULL, NULL, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   bson_destroy (&out);
   cr_assert_not (mongolock_guard_first_or_create (e.g, e.coll, f, NULL, NULL, NULL, NULL, NULL, &error));
   cr_assert_eq (gt_count (e.coll, "{}"), 0);
   bson_destroy (bad_opts);
   bson_destroy (replacement);
   bson_destroy (f);
   bson_destroy (d);
   env_fini (&e);
}

/* ---- multi-process race ---- */

enum { PROCS = 8, ROUNDS = 25 };

typedef struct {
   char ids[ROUNDS][PROCS][25];
   int created[ROUNDS][PROCS];
   int64_t n[ROUNDS][PROCS];
   int failures;
} race_t;

typedef enum { RACE_FIRST_OR_CREATE, RACE_UPDATE_OR_CREATE } race_kind_t;

static int
race_child (const char *db, race_t *r, gt_barrier_t *barrier, int me, race_kind_t kind)
{
   bson_error_t error;
   mongolock_client_opts_t *o = mongolock_client_opts_new ();
   mongolock_client_opts_set_database (o, db, NULL);
   mongolock_client_t *c = mongolock_client_new (mltest_uri (), o, &error);
   mongolock_client_opts_destroy (o);
   mongolock_guard_opts_t *go = mongolock_guard_opts_new ();
   mongolock_guard_opts_set_wait_ms (go, 60000, NULL);
   mongolock_guard_t *g = c ? mongolock_guard_new (c, go, &error) : NULL;
   mongolock_guard_opts_destroy (go);
   mongoc_client_t *mc = mongoc_client_new (mltest_uri ());
   mongoc_collection_t *coll = mongoc_client_get_collection (mc, db, "users");
   int failures = g ? 0 : 1;
   for (int round = 0; round < ROUNDS; round++) {
      gt_barrier_wait (barrier); /* every process starts the round together */
      if (!g) {
         continue;
      }
      char email[64];
      snprintf (email, sizeof email, "user%d@example.com", round);
      bson_t *filter = BCON_NEW ("email", BCON_UTF8 (email));
      bson_t out;
      bool created = false;
      bool ok;
      if (kind == RACE_FIRST_OR_CREATE) {
         bson_t *doc = BCON_NEW ("by", BCON_INT32 (me));
         ok = mongolock_guard_first_or_create (g, coll, filter, doc, NULL, &out, &created, NULL, &error);
         bson_destroy (doc);
      } else {
         bson_t *update = BCON_NEW ("$inc", "{", "n", BCON_INT32 (1), "}");
         ok = mongolock_guard_update_or_create (g, coll, filter, update, NULL, &out, &created, NULL, &error);
         bson_destroy (update);
      }
      if (ok) {
         id_hex (&out, r->ids[round][me]);
         r->created[round][me] = created;
         r->n[round][me] = int_field (&out, "n");
      } else {
         fprintf (stderr, "process %d round %d: %s\n", me, round, error.message);
         failures++;
      }
      bson_destroy (&out);
      bson_destroy (filter);
   }
   mongoc_collection_destroy (coll);
   mongoc_client_destroy (mc);
   mongolock_guard_destroy (g);
   mongolock_client_destroy (c);
   return failures;
}

static void
run_race (race_kind_t kind)
{
   char *db = mltest_db_name ("race");
   race_t *r = mmap (NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
   cr_assert (r != MAP_FAILED);
   memset (r, 0, sizeof *r);
   gt_barrier_t *barrier = gt_barrier_new (PROCS);
   /* Children must not inherit a client: fork before this process makes any. (No
    * mongoc_cleanup here: libmongoc cannot be initialised again after it.) */
   pid_t pids[PROCS];
   for (int p = 0; p < PROCS; p++) {
      pids[p] = fork ();
      cr_assert (pids[p] >= 0);
      if (pids[p] == 0) {
         _exit (race_child (db, r, barrier, p, kind) ? 1 : 0);
      }
   }
   for (int p = 0; p < PROCS; p++) {
      int status;
      cr_assert_eq (waitpid (pids[p], &status, 0), pids[p]);
      cr_assert (WIFEXITED (status) && WEXITSTATUS (status) == 0, "process %d failed (status %d)", p, status);
   }
   mongoc_client_t *mc;
   mongoc_collection_t *coll = gt_collection (db, "users", &mc);
   for (int round = 0; round < ROUNDS; round++) {
      char filter[96];
      snprintf (filter, sizeof filter, "{'email': 'user%d@example.com'}", round);
      cr_assert_eq (gt_count (coll, filter), 1, "round %d: exactly one document per key", round);
      bson_t *f = mltest_bson (filter);
      bson_t out;
      bool found = false;
      mongoc_cursor_t *cur = mongoc_collection_find_with_opts (coll, f, NULL, NULL);
      const bson_t *doc;
      char id[25] = "";
      if (mongoc_cursor_next (cur, &doc)) {
         id_hex (doc, id);
         found = true;
         bson_copy_to (doc, &out);
      }
      mongoc_cursor_destroy (cur);
      cr_assert (found);
      int creators = 0;
      for (int p = 0; p < PROCS; p++) {
         cr_assert_str_eq (r->ids[round][p], id, "round %d: process %d got another document", round, p);
         creators += r->created[round][p];
      }
      cr_assert_eq (creators, 1, "round %d: %d callers say they created it", round, creators);
      if (kind == RACE_UPDATE_OR_CREATE) {
         cr_assert_eq (int_field (&out, "n"), PROCS, "round %d: every increment applied once", round);
         /* the post-images are 1..PROCS, each seen once */
         int seen[PROCS + 1] = {0};
         for (int p = 0; p < PROCS; p++) {
            cr_assert (r->n[round][p] >= 1 && r->n[round][p] <= PROCS);
            seen[r->n[round][p]]++;
         }
         for (int v = 1; v <= PROCS; v++) {
            cr_assert_eq (seen[v], 1, "round %d: post-image %d seen %d times", round, v, seen[v]);
         }
      }
      bson_destroy (&out);
      bson_destroy (f);
   }
   mltest_drop_db (mc, db);
   mongoc_collection_destroy (coll);
   mongoc_client_destroy (mc);
   gt_barrier_free (barrier);
   munmap (r, sizeof *r);
   bson_free (db);
}

Test (create, first_or_create_multi_process_race_makes_one_document)
{
   run_race (RACE_FIRST_OR_CREATE);
}

Test (create, update_or_create_multi_process_race_makes_one_document)
{
   run_race (RACE_UPDATE_OR_CREATE);
}

/* ---- the 11000 path: a writer that bypasses the lock ----
 * An APM hook on the business client inserts a competing document (from another client,
 * as a process that ignores the lock would) just before our insert is sent: after the
 * in-lock check found nothing. */
typedef struct {
   const char *db;
   const char *command; /* "insert" or "findAndModify" (with upsert: true) */
   const char *email;
   int fired;
} bypass_t;

static void
on_started (const mongoc_apm_command_started_t *event)
{
   bypass_t *b = mongoc_apm_command_started_get_context (event);
   if (b->fired || strcmp (mongoc_apm_command_started_get_command_name (event), b->command) != 0) {
      return;
   }
   if (strcmp (b->command, "findAndModify") == 0) {
      bson_iter_t it;
      if (!bson_iter_init_find (&it, mongoc_apm_command_started_get_command (event), "upsert") ||
          !bson_iter_as_bool (&it)) {
         return;
      }
   }
   b->fired++;
   mongoc_client_t *other = mltest_client ();
   mongoc_collection_t *coll = mongoc_client_get_collection (other, b->db, "users");
   bson_t *winner = BCON_NEW ("_id", BCON_UTF8 ("winner"), "email", BCON_UTF8 (b->email), "by", BCON_UTF8 ("bypass"));
   bson_error_t error;
   cr_assert (mongoc_collection_insert_one (coll, winner, NULL, NULL, &error), "%s", error.message);
   bson_destroy (winner);
   mongoc_collection_destroy (coll);
   mongoc_client_destroy (other);
}

static void
arm (mongoc_client_t *mc, bypass_t *b)
{
   mongoc_apm_callbacks_t *cbs = mongoc_apm_callbacks_new ();
   mongoc_apm_set_command_started_cb (cbs, on_started);
   mongoc_client_set_apm_callbacks (mc, cbs, b);
   mongoc_apm_callbacks_destroy (cbs);
}

static void
ensure_email_index (mongoc_collection_t *coll)
{
   bson_t *keys = mltest_bson ("{'email': 1}");
   bson_t report;
   bson_error_t error;
   cr_assert (mongolock_unique_index_ensure (coll, keys, NULL, &report, &error), "%s", error.message);
   bson_destroy (&report);
   bson_destroy (keys);
}

Test (create, first_or_create_returns_the_winner_after_a_bypassing_insert)
{
   env_t e;
   env_init (&e);
   ensure_email_index (e.coll);
   bypass_t b = {e.db, "insert", "race@example.com", 0};
   arm (e.mc, &b);
   bson_error_t error;
   bson_t *filter = mltest_bson ("{'email': 'race@example.com'}");
   bson_t *doc = mltest_bson ("{'by': 'guard'}");
   bson_t out;
   bool created = true;
   mongolock_guard_mode_t mode;
   cr_assert (mongolock_guard_first_or_create (e.g, e.coll, filter, doc, NULL, &out, &created, &mode, &error), "%s",
              error.message);
   cr_assert_eq (b.fired, 1, "the bypassing insert ran between our check and our insert");
   cr_assert_not (created, "our insert hit 11000");
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCKED);
   cr_assert_str_eq (str_field (&out, "_id"), "winner", "the winner's document comes back");
   cr_assert_str_eq (str_field (&out, "by"), "bypass");
   cr_assert_eq (gt_count (e.coll, "{}"), 1);
   bson_destroy (&out);
   bson_destroy (filter);
   bson_destroy (doc);
   env_fini (&e);
}

Test (create, without_the_unique_index_a_bypassing_insert_duplicates)
{
   /* Why the index is the floor: the same bypass with no index leaves two documents. */
   env_t e;
   env_init (&e);
   bypass_t b = {e.db, "insert", "race@example.com", 0};
   arm (e.mc, &b);
   bson_error_t error;
   bson_t *filter = mltest_bson ("{'email': 'race@example.com'}");
   bson_t out;
   bool created = false;
   cr_assert (mongolock_guard_first_or_create (e.g, e.coll, filter, NULL, NULL, &out, &created, NULL, &error));
   cr_assert (created);
   cr_assert_eq (gt_count (e.coll, "{}"), 2);
   bson_destroy (&out);
   bson_destroy (filter);
   env_fini (&e);
}

Test (create, an_11000_from_another_index_passes_through)
{
   env_t e;
   env_init (&e);
   bson_t *keys = mltest_bson ("{'phone': 1}");
   bson_t report;
   bson_error_t error;
   cr_assert (mongolock_unique_index_ensure (e.coll, keys, NULL, &report, &error), "%s", error.message);
   bson_destroy (&report);
   mltest_cmd_ok (e.mc, e.db, "{'insert': 'users', 'documents': [{'email': 'a', 'phone': '555'}]}", NULL);
   bson_t *filter = mltest_bson ("{'email': 'b'}");
   bson_t *doc = mltest_bson ("{'phone': '555'}");
   bson_t out;
   cr_assert_not (mongolock_guard_first_or_create (e.g, e.coll, filter, doc, NULL, &out, NULL, NULL, &error));
   cr_assert_eq (error.code, 11000, "%u/%u %s", error.domain, error.code, error.message);
   cr_assert (bson_empty (&out));
   bson_destroy (&out);
   bson_destroy (filter);
   bson_destroy (doc);
   bson_destroy (keys);
   env_fini (&e);
}

Test (create, update_or_create_creates_then_updates)
{
   env_t e;
   env_init (&e);
   bson_error_t error;
   bson_t *filter = mltest_bson ("{'email': 'c@example.com'}");
   bson_t *update = mltest_bson ("{'$inc': {'n': 1}, '$set': {'name': 'C'}}");
   bson_t out;
   bool created = false;
   mongolock_guard_mode_t mode;
   cr_assert (mongolock_guard_update_or_create (e.g, e.coll, filter, update, NULL, &out, &created, &mode, &error), "%s",
              error.message);
   cr_assert (created);
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_LOCKED);
   cr_assert_eq (int_field (&out, "n"), 1);
   cr_assert_str_eq (str_field (&out, "email"), "c@example.com", "seeded from the filter");
   cr_assert_str_eq (str_field (&out, "name"), "C");
   bson_destroy (&out);
   cr_assert (mongolock_guard_update_or_create (e.g, e.coll, filter, update, NULL, &out, &created, &mode, &error));
   cr_assert_not (created);
   cr_assert_eq (mode, MONGOLOCK_GUARD_MODE_NONE, "an existing document is updated without the lock");
   cr_assert_eq (int_field (&out, "n"), 2, "the post-image");
   bson_destroy (&out);
   cr_assert_eq (gt_count (e.coll, "{}"), 1);
   bson_destroy (filter);
   bson_destroy (update);
   env_fini (&e);
}

Test (create, update_or_create_updates_the_winner_after_a_bypassing_insert)
{
   env_t e;
   env_init (&e);
   ensure_email_index (e.coll);
   bypass_t b = {e.db, "findAndModify", "race@example.com", 0};
   arm (e.mc, &b);
   bson_error_t error;
   bson_t *filter = mltest_bson ("{'email': 'race@example.com'}");
   bson_t *update = mltest_bson ("{'$inc': {'n': 1}}");
   bson_t out;
   bool created = true;
   cr_assert (mongolock_guard_update_or_create (e.g, e.coll, filter, update, NULL, &out, &created, NULL, &error), "%s",
              error.message);
   cr_assert_eq (b.fired, 1);
   cr_assert_not (created);
   cr_assert_str_eq (str_field (&out, "_id"), "winner");
   cr_assert_eq (int_field (&out, "n"), 1, "our update applied to the winner");
   cr_assert_eq (gt_count (e.coll, "{}"), 1);
   bson_destroy (&out);
   bson_destroy (filter);
   bson_destroy (update);
   env_fini (&e);
}
