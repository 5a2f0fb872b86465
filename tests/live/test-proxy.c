/* SPDX-License-Identifier: Apache-2.0 */
/* Live: the fault proxy (tests/support/proxy.h) does what each mode says, measured through
 * libmongoc and through raw wire messages against the server under test. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <mongoc/mongoc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "live.h"
#include "proxy.h"

TestSuite (proxy, .init = mongoc_init, .fini = mongoc_cleanup, .timeout = 120);

/* A single-threaded client through the proxy (one connection, no monitor thread). */
static mongoc_client_t *
client_via (mltest_proxy_t *px, const char *options)
{
   char *uri = mltest_proxy_uri (px, options);
   bson_error_t error;
   mongoc_uri_t *u = mongoc_uri_new_with_error (uri, &error);
   cr_assert (u, "%s", error.message);
   mongoc_client_t *c = mongoc_client_new_from_uri_with_error (u, &error);
   cr_assert (c, "%s", error.message);
   mongoc_uri_destroy (u);
   mongoc_client_set_error_api (c, MONGOC_ERROR_API_VERSION_2);
   bson_free (uri);
   return c;
}

static bool
ping (mongoc_client_t *c, bson_error_t *error)
{
   bson_t *cmd = BCON_NEW ("ping", BCON_INT32 (1));
   bool ok = mongoc_client_command_simple (c, "admin", cmd, NULL, NULL, error);
   bson_destroy (cmd);
   return ok;
}

static int64_t
timed_ping (mongoc_client_t *c, bool *ok, bson_error_t *error)
{
   int64_t t0 = mltest_now_ms ();
   *ok = ping (c, error);
   return mltest_now_ms () - t0;
}

static mltest_proxy_counts_t
counts (mltest_proxy_t *px)
{
   mltest_proxy_counts_t c;
   mltest_proxy_counts (px, &c);
   return c;
}

Test (proxy, latency_is_one_way_per_direction)
{
   mltest_proxy_t *px = mltest_proxy_start (mltest_uri ());
   mongoc_client_t *c = client_via (px, NULL);
   bson_error_t error;
   bool ok;
   cr_assert (ping (c, &error), "%s", error.message); /* connect and handshake first */
   int64_t fast = timed_ping (c, &ok, &error);
   cr_assert (ok, "%s", error.message);

   mltest_proxy_counts_t before = counts (px);
   mltest_proxy_set_latency_ms (px, 100);
   int64_t slow = timed_ping (c, &ok, &error);
   cr_assert (ok, "%s", error.message);
   cr_assert_geq (slow, 200, "a ping over a 100 ms one-way delay took %" PRId64 " ms", slow);
   cr_assert_lt (slow, 200 + fast + 1500, "a ping over a 100 ms one-way delay took %" PRId64 " ms", slow);
   mltest_proxy_counts_t after = counts (px);
   cr_assert_eq (after.to_server - before.to_server, 1, "one message each way per ping");
   cr_assert_eq (after.to_client - before.to_client, 1, "one message each way per ping");

   mltest_proxy_set_latency_ms (px, 0);
   int64_t again = timed_ping (c, &ok, &error);
   cr_assert (ok, "%s", error.message);
   cr_assert_lt (again, 200, "latency 0 is off again (%" PRId64 " ms)", again);
   mongoc_client_destroy (c);
   mltest_proxy_stop (px);
}

Test (proxy, reset_at_nth_message_fails_that_command_and_the_next_reconnects)
{
   mltest_proxy_t *px = mltest_proxy_start (mltest_uri ());
   mongoc_client_t *c = client_via (px, NULL);
   bson_error_t error;
   cr_assert (ping (c, &error), "%s", error.message);
   mltest_proxy_counts_t before = counts (px);

   mltest_proxy_reset_at_message (px, 3);
   cr_assert (ping (c, &error), "message 1 passes: %s", error.message);
   cr_assert (ping (c, &error), "message 2 passes: %s", error.message);
   cr_assert_not (ping (c, &error), "message 3 is reset");
   cr_assert_eq (error.domain, MONGOC_ERROR_STREAM, "a network error, got domain %u code %u: %s", error.domain,
                 error.code, error.message);
   mltest_proxy_counts_t mid = counts (px);
   cr_assert_eq (mid.resets - before.resets, 1);
   cr_assert_eq (mid.to_server - before.to_server, 2, "the reset message never reached the server");

   cr_assert (ping (c, &error), "the next command runs on a new connection: %s", error.message);
   cr_assert (ping (c, &error), "one-shot: %s", error.message);
   mltest_proxy_counts_t after = counts (px);
   cr_assert_gt (after.accepted, mid.accepted, "a new connection was made");
   cr_assert_eq (after.resets, mid.resets, "the reset fires once");
   mongoc_client_destroy (c);
   mltest_proxy_stop (px);
}

/* A hung new connection: the TCP connect succeeds, the handshake is never answered, so
 * the client gives up after connectTimeoutMS, while a connection made before still works. */
Test (proxy, hang_new_hangs_only_new_connections)
{
   mltest_proxy_t *px = mltest_proxy_start (mltest_uri ());
   mongoc_client_t *old = client_via (px, NULL);
   bson_error_t error;
   cr_assert (ping (old, &error), "%s", error.message);

   mltest_proxy_set_mode (px, MLTEST_PROXY_HANG_NEW);
   mongoc_client_t *fresh = client_via (px, "connectTimeoutMS=400&serverSelectionTimeoutMS=1000");
   bool ok;
   int64_t took = timed_ping (fresh, &ok, &error);
   cr_assert_not (ok, "a hung connection cannot answer");
   cr_assert_geq (took, 350, "it failed after %" PRId64 " ms, before connectTimeoutMS: not a hang", took);
   cr_assert_lt (took, 5000, "it failed after %" PRId64 " ms", took);
   cr_assert_geq (counts (px).accepted, 2, "the hung connection was accepted");
   cr_assert (ping (old, &error), "the existing connection still works: %s", error.message);

   mltest_proxy_set_mode (px, MLTEST_PROXY_PASS);
   mongoc_client_destroy (fresh);
   fresh = client_via (px, "connectTimeoutMS=2000");
   cr_assert (ping (fresh, &error), "back to PASS, new connections work: %s", error.message);
   mongoc_client_destroy (fresh);
   mongoc_client_destroy (old);
   mltest_proxy_stop (px);
}

static void *
pass_later (void *arg)
{
   mltest_sleep_ms (300);
   mltest_proxy_set_mode (arg, MLTEST_PROXY_PASS);
   return NULL;
}

Test (proxy, stall_holds_bytes_and_delivers_them_after)
{
   mltest_proxy_t *px = mltest_proxy_start (mltest_uri ());
   mongoc_client_t *c = client_via (px, NULL);
   bson_error_t error;
   cr_assert (ping (c, &error), "%s", error.message);
   mltest_proxy_set_mode (px, MLTEST_PROXY_STALL);
   pthread_t t;
   cr_assert_eq (pthread_create (&t, NULL, pass_later, px), 0);
   bool ok;
   int64_t took = timed_ping (c, &ok, &error);
   pthread_join (t, NULL);
   cr_assert (ok, "a stalled connection resumes: %s", error.message);
   cr_assert_geq (took, 250, "the ping waited out the stall (%" PRId64 " ms)", took);

   int64_t t0 = mltest_now_ms ();
   mltest_proxy_pause_ms (px, 100);
   cr_assert_geq (mltest_now_ms () - t0, 100);
   cr_assert (ping (c, &error), "%s", error.message);
   mongoc_client_destroy (c);
   mltest_proxy_stop (px);
}

/* --- raw wire messages: messages are counted by their length prefix, not by reads --- */

static int
raw_connect (mltest_proxy_t *px)
{
   char *uri_s = mltest_proxy_uri (px, NULL);
   mongoc_uri_t *uri = mongoc_uri_new (uri_s);
   struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons (mongoc_uri_get_hosts (uri)->port)};
   a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
   mongoc_uri_destroy (uri);
   bson_free (uri_s);
   int fd = socket (AF_INET, SOCK_STREAM, 0);
   cr_assert (fd >= 0 && connect (fd, (struct sockaddr *) &a, sizeof a) == 0, "connect: %s", strerror (errno));
   struct timeval tv = {.tv_sec = 10};
   setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
   return fd;
}

static void
put_le32 (uint8_t *p, uint32_t v)
{
   p[0] = (uint8_t) v, p[1] = (uint8_t) (v >> 8), p[2] = (uint8_t) (v >> 16), p[3] = (uint8_t) (v >> 24);
}

/* An OP_MSG {ping: 1, $db: "admin"}; returns its length. */
static size_t
op_msg_ping (uint8_t *out, int32_t request_id)
{
   bson_t *b = BCON_NEW ("ping", BCON_INT32 (1), "$db", "admin");
   size_t len = 16 + 4 + 1 + b->len;
   put_le32 (out, (uint32_t) len);
   put_le32 (out + 4, (uint32_t) request_id);
   put_le32 (out + 8, 0);
   put_le32 (out + 12, 2013); /* OP_MSG */
   put_le32 (out + 16, 0);    /* flagBits */
   out[20] = 0;               /* section kind 0: the body */
   memcpy (out + 21, bson_get_data (b), b->len);
   bson_destroy (b);
   return len;
}

static void
send_all (int fd, const uint8_t *p, size_t n)
{
   cr_assert_eq (write (fd, p, n), (ssize_t) n);
}

/* Reads one reply; returns false (errno set) when the connection failed. */
static bool
read_reply (int fd)
{
   uint8_t head[4];
   size_t have = 0;
   while (have < 4) {
      ssize_t n = read (fd, head + have, 4 - have);
      if (n <= 0) {
         return false;
      }
      have += (size_t) n;
   }
   size_t len = head[0] | head[1] << 8 | head[2] << 16 | (size_t) head[3] << 24;
   cr_assert (len > 4 && len < 1000000);
   uint8_t rest[4096];
   for (size_t left = len - 4; left > 0;) {
      ssize_t n = read (fd, rest, left < sizeof rest ? left : sizeof rest);
      if (n <= 0) {
         return false;
      }
      left -= (size_t) n;
   }
   return true;
}

Test (proxy, messages_are_counted_by_length_prefix_not_by_reads)
{
   mltest_proxy_t *px = mltest_proxy_start (mltest_uri ());
   int fd = raw_connect (px);
   uint8_t buf[1024];

   /* One message in three writes, far apart: one message. */
   size_t len = op_msg_ping (buf, 1);
   send_all (fd, buf, 3);
   mltest_sleep_ms (50);
   send_all (fd, buf + 3, 10);
   mltest_sleep_ms (50);
   send_all (fd, buf + 13, len - 13);
   cr_assert (read_reply (fd), "%s", strerror (errno));
   mltest_proxy_counts_t c = counts (px);
   cr_assert_eq (c.to_server, 1);
   cr_assert_eq (c.to_client, 1);

   /* Two messages in one write count two: armed at the third, both are answered and the
    * next one is reset. */
   mltest_proxy_reset_at_message (px, 3);
   size_t l1 = op_msg_ping (buf, 2);
   size_t l2 = op_msg_ping (buf + l1, 3);
   send_all (fd, buf, l1 + l2);
   cr_assert (read_reply (fd), "the first message is answered: %s", strerror (errno));
   cr_assert (read_reply (fd), "the second message is answered: %s", strerror (errno));
   cr_assert_eq (counts (px).to_server, 3);
   send_all (fd, buf, op_msg_ping (buf, 4));
   errno = 0;
   cr_assert_not (read_reply (fd), "the third is not answered");
   cr_assert_eq (errno, ECONNRESET, "the connection is reset (RST), got: %s", strerror (errno));
   close (fd);

   /* Armed at the second of two messages in one write: only the first reaches the server
    * (its reply may be lost in the reset). */
   fd = raw_connect (px);
   mltest_proxy_reset_at_message (px, 2);
   send_all (fd, buf, l1 + l2);
   errno = 0;
   while (read_reply (fd)) {
   }
   cr_assert_eq (errno, ECONNRESET, "the connection is reset (RST), got: %s", strerror (errno));
   c = counts (px);
   cr_assert_eq (c.to_server, 4, "the reset messages were not forwarded");
   cr_assert_eq (c.resets, 2);
   close (fd);
   mltest_proxy_stop (px);
}
