/* SPDX-License-Identifier: Apache-2.0 */
#include "proxy.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <mongoc/mongoc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAIRS 64
#define POLL_IDLE_MS 200

enum { TO_SERVER = 0, TO_CLIENT = 1 };

/* Bytes read from one side, waiting for their due time to be written to the other. */
typedef struct _chunk_t {
   struct _chunk_t *next;
   int64_t due_us;
   int starts; /* wire messages beginning in this chunk */
   bool reset; /* reset the pair once this chunk is written */
   size_t len;
   char data[];
} chunk_t;

/* Where one direction's byte stream is in its sequence of wire messages. */
typedef struct {
   uint8_t head[4]; /* the length prefix, as far as read */
   int have;        /* bytes of head read; 4 while in a message's body */
   int64_t left;    /* body bytes of the current message still to come */
} framer_t;

typedef struct {
   int client; /* -1 when the slot is free */
   int server; /* -1 for a hung connection: nothing behind it */
   bool doomed; /* a reset is queued: read no more from the client */
   chunk_t *head[2], *tail[2];
   framer_t framer[2];
} pair_t;

struct _mltest_proxy_t {
   char *target_uri;
   int listener;
   int port;
   struct sockaddr_in target;
   int wake[2]; /* a byte here makes the loop re-read its settings */
   _Atomic int mode;
   _Atomic int latency_ms;
   _Atomic int reset_countdown; /* > 0: messages until the reset, the last one included */
   _Atomic int64_t counts[4];   /* as mltest_proxy_counts_t */
   _Atomic bool stop;
   pthread_t thread;
   pair_t pairs[MAX_PAIRS];
};

enum { COUNT_TO_SERVER, COUNT_TO_CLIENT, COUNT_ACCEPTED, COUNT_RESETS };

static int64_t
now_us (void)
{
   struct timespec ts;
   clock_gettime (CLOCK_MONOTONIC, &ts);
   return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
wake (mltest_proxy_t *px)
{
   char b = 1;
   (void) write (px->wake[1], &b, 1);
}

static void
close_pair (pair_t *p, bool reset)
{
   if (p->client >= 0) {
      if (reset) {
         struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* close sends RST */
         setsockopt (p->client, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      }
      close (p->client);
   }
   if (p->server >= 0) {
      close (p->server);
   }
   for (int d = 0; d < 2; d++) {
      while (p->head[d]) {
         chunk_t *next = p->head[d]->next;
         bson_free (p->head[d]);
         p->head[d] = next;
      }
   }
   memset (p, 0, sizeof *p);
   p->client = p->server = -1;
}

static void
accept_one (mltest_proxy_t *px, int mode)
{
   int c = accept (px->listener, NULL, NULL);
   if (c < 0) {
      return;
   }
   atomic_fetch_add (&px->counts[COUNT_ACCEPTED], 1);
   if (mode == MLTEST_PROXY_REFUSE) {
      close (c);
      return;
   }
   int one = 1;
   int s = -1;
   if (mode == MLTEST_PROXY_PASS || mode == MLTEST_PROXY_STALL) {
      s = socket (AF_INET, SOCK_STREAM, 0);
      if (s < 0 || connect (s, (struct sockaddr *) &px->target, sizeof px->target) != 0) {
         if (s >= 0) {
            close (s);
         }
         close (c);
         return;
      }
      setsockopt (s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
   }
   setsockopt (c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
   for (int i = 0; i < MAX_PAIRS; i++) {
      if (px->pairs[i].client < 0) {
         px->pairs[i].client = c;
         px->pairs[i].server = s;
         return;
      }
   }
   close (c); /* full */
   if (s >= 0) {
      close (s);
   }
}

/* Advances f over data[*off..len) up to the start of the next message, which it returns
 * true for (at *off); false when the data ends first (*off == len). A length prefix below
 * 4 (not MongoDB) makes the rest of the stream one endless message. */
static bool
next_message (framer_t *f, const char *data, size_t len, size_t *off)
{
   while (*off < len) {
      if (f->have == 0 && f->left == 0) {
         f->have = -1; /* seen: consume it on the next call */
         return true;
      }
      if (f->have < 0) {
         f->have = 0;
      }
      if (f->have < 4) {
         f->head[f->have++] = (uint8_t) data[(*off)++];
         if (f->have == 4) {
            int32_t n = (int32_t) ((uint32_t) f->head[0] | (uint32_t) f->head[1] << 8 | (uint32_t) f->head[2] << 16 |
                                   (uint32_t) f->head[3] << 24);
            f->left = n >= 4 ? n - 4 : INT64_MAX;
            if (f->left == 0) {
               f->have = 0;
            }
         }
         continue;
      }
      size_t take = (size_t) (f->left < (int64_t) (len - *off) ? f->left : (int64_t) (len - *off));
      *off += take;
      f->left -= (int64_t) take;
      if (f->left == 0) {
         f->have = 0;
      }
   }
   return false;
}

static void
enqueue (mltest_proxy_t *px, pair_t *p, int dir, const char *data, size_t len, int starts, bool reset)
{
   chunk_t *c = bson_malloc (sizeof *c + len);
   memcpy (c->data, data, len);
   c->len = len;
   c->starts = starts;
   c->reset = reset;
   c->next = NULL;
   c->due_us = now_us () + (int64_t) atomic_load (&px->latency_ms) * 1000;
   if (p->tail[dir] && p->tail[dir]->due_us > c->due_us) {
      c->due_us = p->tail[dir]->due_us; /* the latency went down: keep the order */
   }
   if (p->tail[dir]) {
      p->tail[dir]->next = c;
   } else {
      p->head[dir] = c;
   }
   p->tail[dir] = c;
}

/* Claims one message from the reset countdown: true when it is the one to reset at. */
static bool
reset_here (mltest_proxy_t *px)
{
   int n = atomic_load (&px->reset_countdown);
   while (n > 0 && !atomic_compare_exchange_weak (&px->reset_countdown, &n, n - 1)) {
   }
   return n == 1;
}

/* Reads what one side sent and queues it for the other. Returns false when the
 * connection ended. */
static bool
pump (mltest_proxy_t *px, pair_t *p, int dir, int mode)
{
   char buf[65536];
   ssize_t n = read (dir == TO_SERVER ? p->client : p->server, buf, sizeof buf);
   if (n <= 0) {
      return n < 0 && (errno == EINTR || errno == EAGAIN);
   }
   bool drop = p->server < 0 || mode == MLTEST_PROXY_BLACKHOLE || (dir == TO_SERVER && p->doomed);
   size_t off = 0;
   int starts = 0;
   while (next_message (&p->framer[dir], buf, (size_t) n, &off)) {
      if (drop) {
         continue;
      }
      if (dir == TO_SERVER && reset_here (px)) {
         enqueue (px, p, dir, buf, off, starts, true);
         p->doomed = true;
         return true;
      }
      starts++;
   }
   if (!drop) {
      enqueue (px, p, dir, buf, (size_t) n, starts, false);
   }
   return true;
}

/* Writes every chunk that is due; returns the earliest due time still queued (or -1). */
static int64_t
deliver (mltest_proxy_t *px, int mode)
{
   int64_t now = now_us (), next = -1;
   for (int i = 0; i < MAX_PAIRS; i++) {
      pair_t *p = &px->pairs[i];
      for (int dir = 0; dir < 2 && p->client >= 0; dir++) {
         while (p->head[dir] && p->head[dir]->due_us <= now) {
            chunk_t *c = p->head[dir];
            int to = dir == TO_SERVER ? p->server : p->client;
            bool ok = true;
            if (mode != MLTEST_PROXY_BLACKHOLE) {
               /* Counted first, so whoever receives the bytes sees them counted. */
               atomic_fetch_add (&px->counts[dir == TO_SERVER ? COUNT_TO_SERVER : COUNT_TO_CLIENT], c->starts);
               for (size_t off = 0; ok && off < c->len;) {
                  ssize_t w = write (to, c->data + off, c->len - off);
                  ok = w > 0;
                  off += ok ? (size_t) w : 0;
               }
            }
            p->head[dir] = c->next;
            if (!p->head[dir]) {
               p->tail[dir] = NULL;
            }
            bool reset = c->reset;
            bson_free (c);
            if (reset) {
               atomic_fetch_add (&px->counts[COUNT_RESETS], 1); /* before the client sees it */
            }
            if (reset || !ok) {
               close_pair (p, reset);
               break;
            }
         }
         if (p->client >= 0 && p->head[dir] && (next < 0 || p->head[dir]->due_us < next)) {
            next = p->head[dir]->due_us;
         }
      }
   }
   return next;
}

static void *
proxy_main (void *arg)
{
   mltest_proxy_t *px = arg;
   while (!atomic_load (&px->stop)) {
      int mode = atomic_load (&px->mode);
      bool stalled = mode == MLTEST_PROXY_STALL;
      if (mode == MLTEST_PROXY_REFUSE) {
         for (int i = 0; i < MAX_PAIRS; i++) {
            close_pair (&px->pairs[i], false);
         }
      }
      int64_t next_due = stalled ? -1 : deliver (px, mode);
      int timeout = POLL_IDLE_MS;
      if (next_due >= 0) {
         int64_t wait_ms = (next_due - now_us () + 999) / 1000;
         timeout = wait_ms < 0 ? 0 : wait_ms < POLL_IDLE_MS ? (int) wait_ms : POLL_IDLE_MS;
      }
      struct pollfd fds[2 + 2 * MAX_PAIRS];
      int who[2 + 2 * MAX_PAIRS]; /* pair index * 2 + direction */
      nfds_t n = 0;
      fds[n++] = (struct pollfd){.fd = px->listener, .events = POLLIN};
      fds[n++] = (struct pollfd){.fd = px->wake[0], .events = POLLIN};
      for (int i = 0; i < MAX_PAIRS && !stalled; i++) {
         pair_t *p = &px->pairs[i];
         if (p->client >= 0) {
            who[n] = i * 2 + TO_SERVER;
            fds[n++] = (struct pollfd){.fd = p->client, .events = POLLIN};
            if (p->server >= 0) {
               who[n] = i * 2 + TO_CLIENT;
               fds[n++] = (struct pollfd){.fd = p->server, .events = POLLIN};
            }
         }
      }
      if (poll (fds, n, timeout) <= 0) {
         continue;
      }
      if (fds[1].revents) {
         char b[64];
         (void) read (px->wake[0], b, sizeof b);
         continue; /* re-read the settings before moving any more bytes */
      }
      if (fds[0].revents & POLLIN) {
         accept_one (px, mode);
      }
      for (nfds_t k = 2; k < n; k++) {
         pair_t *p = &px->pairs[who[k] / 2];
         if (fds[k].revents && p->client >= 0 && !pump (px, p, who[k] % 2, mode)) {
            close_pair (p, false);
         }
      }
   }
   for (int i = 0; i < MAX_PAIRS; i++) {
      close_pair (&px->pairs[i], false);
   }
   return NULL;
}

mltest_proxy_t *
mltest_proxy_start (const char *target_uri)
{
   bson_error_t error;
   mongoc_uri_t *uri = mongoc_uri_new_with_error (target_uri, &error);
   cr_assert (uri, "bad target URI: %s", error.message);
   const mongoc_host_list_t *host = mongoc_uri_get_hosts (uri);
   cr_assert (host, "the target URI has no host");
   mltest_proxy_t *px = bson_malloc0 (sizeof *px);
   px->target_uri = bson_strdup (target_uri);
   px->target.sin_family = AF_INET;
   px->target.sin_port = htons (host->port);
   const char *name = strcmp (host->host, "localhost") == 0 ? "127.0.0.1" : host->host;
   cr_assert_eq (inet_pton (AF_INET, name, &px->target.sin_addr), 1, "the proxy needs an IPv4 target, got %s", host->host);
   mongoc_uri_destroy (uri);
   for (int i = 0; i < MAX_PAIRS; i++) {
      px->pairs[i].client = px->pairs[i].server = -1;
   }
   px->listener = socket (AF_INET, SOCK_STREAM, 0);
   cr_assert (px->listener >= 0);
   struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
   addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
   cr_assert_eq (bind (px->listener, (struct sockaddr *) &addr, sizeof addr), 0);
   cr_assert_eq (listen (px->listener, 64), 0);
   socklen_t len = sizeof addr;
   cr_assert_eq (getsockname (px->listener, (struct sockaddr *) &addr, &len), 0);
   px->port = ntohs (addr.sin_port);
   cr_assert_eq (pipe (px->wake), 0);
   cr_assert_eq (pthread_create (&px->thread, NULL, proxy_main, px), 0);
   return px;
}

char *
mltest_proxy_uri (const mltest_proxy_t *px, const char *extra)
{
   /* Keep the target's options; replace "mongodb://hosts/" by the proxy's address. */
   const char *target_uri = px->target_uri;
   const char *rest = target_uri + strlen ("mongodb://");
   cr_assert (strncmp (target_uri, "mongodb://", strlen ("mongodb://")) == 0, "not a mongodb:// URI");
   const char *q = strchr (rest, '?');
   const char *opts = q ? q + 1 : "";
   bool direct = strcasestr (opts, "directConnection=") != NULL;
   return bson_strdup_printf ("mongodb://127.0.0.1:%d/?%s%s%s%s%s",
                              px->port,
                              direct ? "" : "directConnection=true",
                              *opts && !direct ? "&" : "",
                              opts,
                              extra && *extra ? "&" : "",
                              extra ? extra : "");
}

void
mltest_proxy_set_mode (mltest_proxy_t *px, mltest_proxy_mode_t mode)
{
   atomic_store (&px->mode, (int) mode);
   wake (px);
}

void
mltest_proxy_set_latency_ms (mltest_proxy_t *px, int ms)
{
   cr_assert_geq (ms, 0);
   atomic_store (&px->latency_ms, ms);
   wake (px);
}

void
mltest_proxy_reset_at_message (mltest_proxy_t *px, int n)
{
   atomic_store (&px->reset_countdown, n > 0 ? n : 0);
   wake (px);
}

void
mltest_proxy_pause_ms (mltest_proxy_t *px, int ms)
{
   mltest_proxy_set_mode (px, MLTEST_PROXY_STALL);
   struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000};
   while (nanosleep (&ts, &ts) != 0 && errno == EINTR) {
   }
   mltest_proxy_set_mode (px, MLTEST_PROXY_PASS);
}

void
mltest_proxy_counts (mltest_proxy_t *px, mltest_proxy_counts_t *out)
{
   out->to_server = atomic_load (&px->counts[COUNT_TO_SERVER]);
   out->to_client = atomic_load (&px->counts[COUNT_TO_CLIENT]);
   out->accepted = atomic_load (&px->counts[COUNT_ACCEPTED]);
   out->resets = atomic_load (&px->counts[COUNT_RESETS]);
}

void
mltest_proxy_stop (mltest_proxy_t *px)
{
   if (!px) {
      return;
   }
   atomic_store (&px->stop, true);
   wake (px);
   pthread_join (px->thread, NULL);
   close (px->listener);
   close (px->wake[0]);
   close (px->wake[1]);
   bson_free (px->target_uri);
   bson_free (px);
}
