/* SPDX-License-Identifier: Apache-2.0 */
/* Live: the exclusive lock's and the semaphore's fault tests (test-semaphore-race.c),
 * for the reader/writer lock. A SIGKILLed holder (a writer blocking a reader, a reader
 * blocking a writer) is never released: the waiter gets in once the holder's lease has
 * ended by the server's clock, and not before. A partition (the proxy blackholes) of an
 * auto-renewed reader or writer reports LOST when its lease runs out, and another client
 * is refused until then and then gets the lock. */
#include <criterion/criterion.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proxy.h"
#include "sem-test.h"

TestSuite (rwfault, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 300);

enum { LEASE = 1500 };

/* What the killed holder last told the parent: when (monotonic ms), the lease it then
 * believed it had left (a lower bound on the server's: it is counted from when the last
 * acquire or renew was sent) and its token. */
typedef struct {
   int64_t at;
   int64_t remaining;
   int64_t token;
} held_t;

/* Forks a process that takes "k" of db in mode with LEASE and auto-renewal, lets it renew a
 * few times, reports held_t through a pipe and waits; the parent SIGKILLs it at once.
 * Returns when it is dead, with the report and the time of the kill (monotonic ms). */
static void
hold_and_kill (const char *db, mongolock_rwlock_mode_t mode, held_t *held, int64_t *killed_at)
{
   int fds[2];
   cr_assert_eq (pipe (fds), 0);
   pid_t child = fork ();
   cr_assert (child >= 0);
   if (child == 0) {
      close (fds[0]);
      bson_error_t error;
      mongolock_client_opts_t *o = mongolock_client_opts_new ();
      mongolock_client_opts_set_database (o, db, NULL);
      mongolock_client_t *cc = mongolock_client_new (mltest_uri (), o, &error);
      mongolock_lock_opts_t *lo = mongolock_lock_opts_new ();
      mongolock_lock_opts_set_lease_ms (lo, LEASE, NULL);
      mongolock_lock_opts_set_auto_renew (lo, true);
      mongolock_rwlock_t *rw = cc ? mongolock_rwlock_new (cc, "k", mode, lo, &error) : NULL;
      bool acquired = false;
      if (!rw || !mongolock_rwlock_try_acquire (rw, &acquired, &error) || !acquired) {
         _exit (1);
      }
      mltest_sleep_ms (2 * LEASE); /* past its first lease: only renewals keep it */
      held_t msg = {mltest_now_ms (), mongolock_rwlock_remaining_ms (rw), mongolock_rwlock_token (rw)};
      if (msg.remaining <= 0 || write (fds[1], &msg, sizeof msg) != sizeof msg) {
         _exit (2);
      }
      for (;;) {
         pause ();
      }
   }
   close (fds[1]);
   ssize_t n = read (fds[0], held, sizeof *held);
   close (fds[0]);
   if (n != (ssize_t) sizeof *held) {
      kill (child, SIGKILL);
   }
   cr_assert_eq (n, (ssize_t) sizeof *held, "the holder acquired and renewed its lease");
   cr_assert_eq (kill (child, SIGKILL), 0);
   *killed_at = mltest_now_ms ();
   int status;
   cr_assert_eq (waitpid (child, &status, 0), child);
   cr_assert (WIFSIGNALED (status), "the holder was killed (status %d)", status);
}

/* The holder in holder_mode is killed; a waiter in waiter_mode polls with try_acquire. It
 * is refused while the holder's lease is live (the holder's own view of it is a lower bound
 * of the server's), and gets in within the lease after the kill plus a generous margin. */
static void
killed_holder_blocks_until_its_lease_ends (mongolock_rwlock_mode_t holder_mode, mongolock_rwlock_mode_t waiter_mode)
{
   char *db;
   mongolock_client_t *c = lt_client (&db);
   held_t held;
   int64_t killed_at;
   hold_and_kill (db, holder_mode, &held, &killed_at);
   int64_t live_until = held.at + held.remaining;
   mongolock_rwlock_t *waiter = st_rw (c, "k", waiter_mode, 5000, 0, 0, NULL);
   int refusals = 0;
   while (!st_rw_try (waiter)) {
      refusals++;
      mltest_sleep_ms (25);
      cr_assert_lt (mltest_now_ms () - killed_at, LEASE + 5000, "never got in after the holder died");
   }
   int64_t got = mltest_now_ms ();
   cr_assert_geq (got, live_until - 1,
                  "got in %" PRId64 " ms before the killed holder's lease ended (it had %" PRId64 " ms left)",
                  live_until - got, held.remaining);
   cr_assert_gt (refusals, 5, "the waiter was refused while the lease was live (%d refusals)", refusals);
   cr_assert_gt (mongolock_rwlock_token (waiter), held.token);
   cr_assert_eq (st_holders (db, "k"), 1, "the dead holder's entry was dropped");
   mongolock_rwlock_destroy (waiter);
   lt_cleanup (c, db);
}

Test (rwfault, killed_writer_blocks_a_reader_until_its_lease_ends)
{
   killed_holder_blocks_until_its_lease_ends (MONGOLOCK_RWLOCK_WRITE, MONGOLOCK_RWLOCK_READ);
}

Test (rwfault, killed_reader_blocks_a_writer_until_its_lease_ends)
{
   killed_holder_blocks_until_its_lease_ends (MONGOLOCK_RWLOCK_READ, MONGOLOCK_RWLOCK_WRITE);
}

/* An auto-renewed holder in mode behind the proxy; the proxy blackholes before its first
 * renewal (at LEASE/3): LOST when the lease runs out (not when the stuck renew times out),
 * and a direct client in other_mode, refused while the lease is live, gets the lock only
 * after it has expired. */
static void
partition_reports_lost_at_lease_end (mongolock_rwlock_mode_t mode, mongolock_rwlock_mode_t other_mode)
{
   char *db;
   mongolock_client_t *direct = lt_client (&db);
   mltest_proxy_t *px = mltest_proxy_start (mltest_uri ());
   mongolock_client_t *c = lt_proxied_client (px, db, "socketTimeoutMS=6000&serverSelectionTimeoutMS=3000", 0);
   lt_events_t ev;
   lt_events_init (&ev);
   mongolock_rwlock_t *a = st_rw (c, "k", mode, LEASE, 10000, LT_RENEW, &ev);
   mongolock_rwlock_t *b = st_rw (direct, "k", other_mode, 5000, 10000, 0, NULL);
   int64_t t0 = mltest_now_ms ();
   cr_assert (st_rw_try (a));
   mltest_proxy_set_mode (px, MLTEST_PROXY_BLACKHOLE);
   /* While a's lease is live on the server (it began no earlier than t0), b is refused. */
   int refusals = 0;
   while (mltest_now_ms () - t0 < LEASE - 100) {
      bool in = st_rw_try (b);
      int64_t at = mltest_now_ms () - t0;
      cr_assert_not (in && at < LEASE, "taken over %" PRId64 " ms after the acquire, before the lease ended", at);
      if (in) {
         break;
      }
      refusals++;
      mltest_sleep_ms (50);
   }
   cr_assert_gt (refusals, 3, "b was refused while a's lease was live (%d refusals)", refusals);
   cr_assert_eq (lt_events_wait (&ev, MONGOLOCK_EVENT_LOST, 1, 10000), 1, "LOST fired");
   int64_t lost_after = mltest_now_ms () - t0;
   cr_assert_lt (lost_after, 4000, "LOST came %" PRId64 " ms after the acquire, lease %d ms", lost_after, LEASE);
   cr_assert_eq (ev.last_error_code, MONGOLOCK_ERROR_LOST);
   cr_assert_not (mongolock_rwlock_is_held (a));
   bson_error_t error;
   cr_assert (mongolock_rwlock_is_held (b) || mongolock_rwlock_acquire (b, &error), "%s", error.message);
   int64_t taken_after = mltest_now_ms () - t0;
   cr_assert_geq (taken_after, LEASE, "taken over %" PRId64 " ms after the acquire, before it expired", taken_after);
   cr_assert_gt (mongolock_rwlock_token (b), mongolock_rwlock_token (a));
   cr_assert_eq (st_holders (db, "k"), 1, "only the new holder is on the server");
   mltest_proxy_set_mode (px, MLTEST_PROXY_REFUSE);
   mongolock_rwlock_destroy (a);
   cr_assert_eq (lt_events_count (&ev, MONGOLOCK_EVENT_LOST), 1, "LOST fires once");
   mongolock_rwlock_destroy (b);
   mongolock_client_destroy (c);
   mltest_proxy_stop (px);
   lt_cleanup (direct, db);
}

Test (rwfault, partitioned_reader_reports_lost_at_lease_end)
{
   partition_reports_lost_at_lease_end (MONGOLOCK_RWLOCK_READ, MONGOLOCK_RWLOCK_WRITE);
}

Test (rwfault, partitioned_writer_reports_lost_at_lease_end)
{
   partition_reports_lost_at_lease_end (MONGOLOCK_RWLOCK_WRITE, MONGOLOCK_RWLOCK_READ);
}
