/* A TCP proxy on 127.0.0.1 in front of the server under test, for outage tests that run
 * unchanged against the bundled server and a real MongoDB: the network between client and
 * server can be cut (connections refused) or partitioned (bytes silently dropped). */
#ifndef MLTEST_PROXY_H
#define MLTEST_PROXY_H

#include <stdbool.h>

typedef struct _mltest_proxy_t mltest_proxy_t;

typedef enum {
   MLTEST_PROXY_PASS = 0,  /* forward everything */
   MLTEST_PROXY_REFUSE,    /* close every connection and every new one at once */
   MLTEST_PROXY_BLACKHOLE, /* keep connections open, drop every byte (a partition) */
} mltest_proxy_mode_t;

/* Starts a proxy to the first host of target_uri on a free loopback port (asserts). */
mltest_proxy_t *mltest_proxy_start (const char *target_uri);

/* The proxy's target URI with its hosts replaced by the proxy's address,
 * directConnection=true (so a replica set's members are not reached around it) and
 * extra_options ("a=1&b=2", may be NULL) appended. The caller frees it with bson_free. */
char *mltest_proxy_uri (const mltest_proxy_t *proxy, const char *extra_options);

void mltest_proxy_set_mode (mltest_proxy_t *proxy, mltest_proxy_mode_t mode);

/* Stops the proxy, closing every connection. NULL is a no-op. */
void mltest_proxy_stop (mltest_proxy_t *proxy);

#endif
