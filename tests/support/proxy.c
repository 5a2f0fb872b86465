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
#include <unistd.h>

#define MAX_PAIRS 64

typedef struct {
   int client; /* -1 when the slot is free */
   int server; /* -1 in blackhole mode: nothing behind it */
} pair_t;

struct _mltest_proxy_t {
   char *target_uri;
   int listener;
   int port;
   struct sockaddr_in target;
   int wake[2]; /* a byte here makes the loop re-read the mode */
   _Atomic int mode;
   _Atomic bool stop;
   pthread_t thread;
   pair_t pairs[MAX_PAIRS];
};

static void
close_pair (pair_t *p)
{
   if (p->client >= 0) {
      close (p->client);
   }
   if (p->server >= 0) {
      close (p->server);
   }
   p->client = p->server = -1;
}

static void
accept_one (mltest_proxy_t *px, int mode)
{
   int c = accept (px->listener, NULL, NULL);
   if (c < 0) {
      return;
   }
   if (mode == MLTEST_PROXY_REFUSE) {
      close (c);
      return;
   }
   int s = -1;
   if (mode == MLTEST_PROXY_PASS) {
      s = socket (AF_INET, SOCK_STREAM, 0);
      if (s < 0 || connect (s, (struct sockaddr *) &px->target, sizeof px->target) != 0) {
         if (s >= 0) {
            close (s);
         }
         close (c);
         return;
      }
      int one = 1;
      setsockopt (s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
   }
   int one = 1;
   setsockopt (c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
   for (int i = 0; i < MAX_PAIRS; i++) {
      if (px->pairs[i].client < 0) {
         px->pairs[i] = (pair_t){c, s};
         return;
      }
   }
   close (c); /* full */
   if (s >= 0) {
      close (s);
   }
}

/* Moves one read's worth of bytes from -> to (dropped when to is -1 or in blackhole mode).
 * Returns false when the connection ended. */
static bool
pump (int from, int to, int mode)
{
   char buf[65536];
   ssize_t n = read (from, buf, sizeof buf);
   if (n <= 0) {
      return n < 0 && (errno == EINTR || errno == EAGAIN);
   }
   if (to < 0 || mode == MLTEST_PROXY_BLACKHOLE) {
      return true;
   }
   for (ssize_t off = 0; off < n;) {
      ssize_t w = write (to, buf + off, (size_t) (n - off));
      if (w <= 0) {
         return false;
      }
      off += w;
   }
   return true;
}

static void *
proxy_main (void *arg)
{
   mltest_proxy_t *px = arg;
   while (!atomic_load (&px->stop)) {
      int mode = atomic_load (&px->mode);
      if (mode == MLTEST_PROXY_REFUSE) {
         for (int i = 0; i < MAX_PAIRS; i++) {
            close_pair (&px->pairs[i]);
         }
      }
      struct pollfd fds[2 + 2 * MAX_PAIRS];
      int who[2 + 2 * MAX_PAIRS]; /* pair index * 2 + side */
      nfds_t n = 0;
      fds[n++] = (struct pollfd){.fd = px->listener, .events = POLLIN};
      fds[n++] = (struct pollfd){.fd = px->wake[0], .events = POLLIN};
      for (int i = 0; i < MAX_PAIRS; i++) {
         if (px->pairs[i].client >= 0) {
            who[n] = i * 2;
            fds[n++] = (struct pollfd){.fd = px->pairs[i].client, .events = POLLIN};
            if (px->pairs[i].server >= 0) {
               who[n] = i * 2 + 1;
               fds[n++] = (struct pollfd){.fd = px->pairs[i].server, .events = POLLIN};
            }
         }
      }
      if (poll (fds, n, 200) <= 0) {
         continue;
      }
      if (fds[1].revents) {
         char b[64];
         (void) read (px->wake[0], b, sizeof b);
         continue; /* re-read the mode before moving any more bytes */
      }
      if (fds[0].revents & POLLIN) {
         accept_one (px, mode);
      }
      for (nfds_t k = 2; k < n; k++) {
         if (!fds[k].revents) {
            continue;
         }
         pair_t *p = &px->pairs[who[k] / 2];
         if (p->client < 0) {
            continue;
         }
         bool from_client = who[k] % 2 == 0;
         if (!pump (from_client ? p->client : p->server, from_client ? p->server : p->client, mode)) {
            close_pair (p);
         }
      }
   }
   for (int i = 0; i < MAX_PAIRS; i++) {
      close_pair (&px->pairs[i]);
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
      px->pairs[i] = (pair_t){-1, -1};
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
   char b = 1;
   (void) write (px->wake[1], &b, 1);
}

void
mltest_proxy_stop (mltest_proxy_t *px)
{
   if (!px) {
      return;
   }
   atomic_store (&px->stop, true);
   char b = 1;
   (void) write (px->wake[1], &b, 1);
   pthread_join (px->thread, NULL);
   close (px->listener);
   close (px->wake[0]);
   close (px->wake[1]);
   bson_free (px->target_uri);
   bson_free (px);
}
