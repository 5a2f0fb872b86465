/* SPDX-License-Identifier: Apache-2.0 */
/* What the benchmarks measure about one process, the same way for every lock they compare:
 * bytes on its TCP connections, heap allocations, CPU time, and a monotonic clock. */
#ifndef MONGOLOCK_BENCH_MEASURE_H
#define MONGOLOCK_BENCH_MEASURE_H

#include <stdint.h>

/* Monotonic time in microseconds. */
int64_t
measure_now_us (void);

/* User + system CPU time of the whole process (every thread) in microseconds. */
double
measure_cpu_us (void);

/* Bytes sent plus bytes received so far on every TCP socket the process has open
 * (TCP_INFO tcpi_bytes_sent + tcpi_bytes_received, headers excluded): what a lock puts on
 * the wire, whatever its client library. Sockets closed meanwhile are not counted. */
uint64_t
measure_tcp_bytes (void);

/* Heap allocations made by every thread since the process started (malloc, calloc,
 * realloc, the aligned forms), and the bytes still allocated (usable sizes). Counted by
 * wrappers around glibc's allocator in this program; always 0 under valgrind tools that
 * replace the allocator (memcheck, massif). */
typedef struct {
   uint64_t allocs;
   int64_t live_bytes;
   int64_t live_blocks;
} measure_heap_t;

void
measure_heap (measure_heap_t *out);

/* Sorts n values and returns the nearest-rank percentile pct (0..100); 0 when n is 0. */
int64_t
measure_percentile (int64_t *values, long n, double pct);

#endif
