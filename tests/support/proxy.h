/* SPDX-License-Identifier: Apache-2.0 */
/* A TCP proxy on 127.0.0.1 in front of the server under test, for fault tests that run
 * unchanged against the bundled server and a real MongoDB. It can cut the network
 * (connections refused), partition it (bytes silently dropped), stall it (bytes held, then
 * delivered), slow it (a delay per direction), hang new connections after accepting them,
 * and reset the connection that carries the Nth next MongoDB message.
 *
 * The proxy runs its own thread; every function below may be called from any thread while
 * it runs (except mltest_proxy_stop, which must be the last call). Messages are counted by
 * the MongoDB wire protocol's length prefix (the first int32 of every message), not by TCP
 * reads, so a message split over several reads or several messages in one read count right. */
#ifndef MLTEST_PROXY_H
#define MLTEST_PROXY_H

#include <stdbool.h>
#include <stdint.h>

typedef struct _mltest_proxy_t mltest_proxy_t;

typedef enum {
   /* Forward everything (after the latency, if any). */
   MLTEST_PROXY_PASS = 0,
   /* Close every connection and every new one at once (the server is down). */
   MLTEST_PROXY_REFUSE,
   /* A partition: keep connections open and drop every byte, in flight or new, both ways.
    * New connections are accepted and hang forever. Bytes dropped are lost for good, so a
    * connection that lived through a partition stays broken after PASS returns. */
   MLTEST_PROXY_BLACKHOLE,
   /* Existing connections keep working; new connections are accepted (the TCP handshake
    * succeeds) and then never forwarded or answered, and stay so after the mode changes:
    * a server that accepts and never replies. */
   MLTEST_PROXY_HANG_NEW,
   /* Nothing moves: no byte is read or delivered on any connection (they queue in the
    * kernel's buffers); new connections are accepted and connected to the server. Back to
    * PASS, everything held is delivered in order: a pause, not a loss. */
   MLTEST_PROXY_STALL,
} mltest_proxy_mode_t;

/* Messages seen by the proxy since it started (read with mltest_proxy_counts). */
typedef struct {
   int64_t to_server; /* messages (by length prefix) whose first byte reached the server */
   int64_t to_client; /* the same, server to client */
   int64_t accepted;  /* connections accepted, whatever the mode */
   int64_t resets;    /* connections reset by mltest_proxy_reset_at_message */
} mltest_proxy_counts_t;

/* Starts a proxy to the first host of target_uri on a free loopback port (asserts). */
mltest_proxy_t *mltest_proxy_start (const char *target_uri);

/* The proxy's target URI with its hosts replaced by the proxy's address,
 * directConnection=true (so a replica set's members are not reached around it) and
 * extra_options ("a=1&b=2", may be NULL) appended. The caller frees it with bson_free. */
char *mltest_proxy_uri (const mltest_proxy_t *proxy, const char *extra_options);

/* Switches mode; takes effect before the proxy moves another byte. */
void mltest_proxy_set_mode (mltest_proxy_t *proxy, mltest_proxy_mode_t mode);

/* Delays every chunk read from either side by ms (>= 0; 0, the default, turns it off)
 * before it is forwarded: a one-way delay per direction, so a round trip costs 2 * ms.
 * Order is kept. Applies to bytes read from now on. */
void mltest_proxy_set_latency_ms (mltest_proxy_t *proxy, int ms);

/* Arms a one-shot reset: the first n - 1 client-to-server messages from now on (on any
 * connection) are forwarded; the nth is not: the connection carrying it is reset (RST to
 * the client, SO_LINGER 0) and its server side closed, right after the bytes that came
 * before that message on it. n <= 0 disarms. Only forwarded messages count (not those a
 * partition drops or a hung connection swallows). */
void mltest_proxy_reset_at_message (mltest_proxy_t *proxy, int n);

/* STALL for ms milliseconds, then PASS (blocks the caller for ms). */
void mltest_proxy_pause_ms (mltest_proxy_t *proxy, int ms);

/* Copies the counters into *out. */
void mltest_proxy_counts (mltest_proxy_t *proxy, mltest_proxy_counts_t *out);

/* Stops the proxy, closing every connection. NULL is a no-op. */
void mltest_proxy_stop (mltest_proxy_t *proxy);

#endif
