/* SPDX-License-Identifier: Apache-2.0 */
/* See measure.h. The allocation counters wrap glibc's allocator through its exported
 * __libc_* entry points, so every library of the process (libmongoc, libbson, hiredis,
 * mongolock) is counted alike. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "measure.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/tcp.h>

int64_t
measure_now_us (void)
{
   struct timespec ts;
   clock_gettime (CLOCK_MONOTONIC, &ts);
   return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

double
measure_cpu_us (void)
{
   struct rusage ru;
   getrusage (RUSAGE_SELF, &ru);
   return (double) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + (double) (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

uint64_t
measure_tcp_bytes (void)
{
   uint64_t total = 0;
   DIR *d = opendir ("/proc/self/fd");
   if (!d) {
      return 0;
   }
   struct dirent *e;
   while ((e = readdir (d))) {
      char *end;
      long fd = strtol (e->d_name, &end, 10);
      if (*end != '\0' || fd == dirfd (d)) {
         continue;
      }
      struct tcp_info ti;
      socklen_t len = sizeof ti;
      memset (&ti, 0, sizeof ti);
      int saved = errno;
      if (getsockopt ((int) fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && len >= sizeof ti) {
         total += ti.tcpi_bytes_sent + ti.tcpi_bytes_received;
      }
      errno = saved;
   }
   closedir (d);
   return total;
}

/* ---- heap counters ------------------------------------------------------------------ */

extern void *__libc_malloc (size_t);
extern void *__libc_calloc (size_t, size_t);
extern void *__libc_realloc (void *, size_t);
extern void __libc_free (void *);
extern void *__libc_memalign (size_t, size_t);

static _Atomic uint64_t n_allocs;
static _Atomic int64_t n_live_bytes;
static _Atomic int64_t n_live_blocks;

static void *
counted (void *p)
{
   if (p) {
      atomic_fetch_add_explicit (&n_allocs, 1, memory_order_relaxed);
      atomic_fetch_add_explicit (&n_live_blocks, 1, memory_order_relaxed);
      atomic_fetch_add_explicit (&n_live_bytes, (int64_t) malloc_usable_size (p), memory_order_relaxed);
   }
   return p;
}

static void
uncounted (void *p)
{
   if (p) {
      atomic_fetch_sub_explicit (&n_live_blocks, 1, memory_order_relaxed);
      atomic_fetch_sub_explicit (&n_live_bytes, (int64_t) malloc_usable_size (p), memory_order_relaxed);
   }
}

void *
malloc (size_t n)
{
   return counted (__libc_malloc (n));
}

void *
calloc (size_t n, size_t size)
{
   return counted (__libc_calloc (n, size));
}

void *
realloc (void *p, size_t n)
{
   uncounted (p);
   void *q = __libc_realloc (p, n);
   if (!q && p && n > 0) {
      counted (p); /* failed: p is still allocated */
      return NULL;
   }
   return counted (q);
}

void
free (void *p)
{
   uncounted (p);
   __libc_free (p);
}

void *
memalign (size_t align, size_t n)
{
   return counted (__libc_memalign (align, n));
}

void *
aligned_alloc (size_t align, size_t n)
{
   return counted (__libc_memalign (align, n));
}

int
posix_memalign (void **out, size_t align, size_t n)
{
   void *p = counted (__libc_memalign (align, n));
   if (!p) {
      return ENOMEM;
   }
   *out = p;
   return 0;
}

void
measure_heap (measure_heap_t *out)
{
   out->allocs = atomic_load (&n_allocs);
   out->live_bytes = atomic_load (&n_live_bytes);
   out->live_blocks = atomic_load (&n_live_blocks);
}

static int
cmp64 (const void *a, const void *b)
{
   int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
   return (x > y) - (x < y);
}

int64_t
measure_percentile (int64_t *values, long n, double pct)
{
   if (n <= 0) {
      return 0;
   }
   qsort (values, (size_t) n, sizeof *values, cmp64);
   long rank = (long) ((double) n * pct / 100.0 + 0.999999);
   return values[rank > 0 ? (rank <= n ? rank - 1 : n - 1) : 0];
}
