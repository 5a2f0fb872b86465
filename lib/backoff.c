/* SPDX-License-Identifier: Apache-2.0 */
#include "lock-private.h"

/* How far past the holder's estimated expiry a waiter may sleep: the estimate comes from
 * a clock-offset measurement and a round trip, so allow for its error. */
#define HOLDER_MARGIN_MS 5
/* The margin grows to at most HOLDER_MARGIN_MS x 2^this (320 ms). */
#define EARLY_MAX_DOUBLINGS 6

uint64_t
_mongolock_rand_next (uint64_t *state)
{
   uint64_t x = *state;
   x ^= x >> 12;
   x ^= x << 25;
   x ^= x >> 27;
   *state = x;
   return x * 0x2545F4914F6CDD1DULL;
}

int64_t
_mongolock_backoff_ms (uint64_t *rng, int attempt, int64_t base_ms, int64_t cap_ms)
{
   int64_t ceiling = base_ms;
   for (int i = 0; i < attempt && ceiling < cap_ms; i++) {
      ceiling *= 2;
   }
   if (ceiling > cap_ms) {
      ceiling = cap_ms;
   }
   return (int64_t) (_mongolock_rand_next (rng) % (uint64_t) (ceiling + 1));
}

int64_t
_mongolock_backoff_next_ms (uint64_t *rng, int attempt, mongolock_backoff_strategy_t strategy, int64_t base_ms,
                            int64_t cap_ms, int64_t holder_left_ms)
{
   if (strategy == MONGOLOCK_BACKOFF_UNTIL_EXPIRY && holder_left_ms >= 0) {
      /* Sleep out the holder's lease; the jitter spreads waiters that woke together. The
       * clamp then allows HOLDER_MARGIN_MS past the estimate, not the whole jitter. */
      return holder_left_ms + (int64_t) (_mongolock_rand_next (rng) % (uint64_t) (base_ms + 1));
   }
   return _mongolock_backoff_ms (rng, attempt, base_ms, cap_ms);
}

int64_t
_mongolock_backoff_clamp (int64_t sleep_ms, int64_t deadline_left_ms, int64_t holder_left_ms, int early)
{
   if (holder_left_ms >= 0) {
      /* Each answer "still held" after the estimate said the lease was over doubles the
       * margin, and (the estimate having been early by at least the last margin) sets
       * the floor: the estimate's error is then found in a few attempts, not polled. */
      int e = early < 0 ? 0 : early > EARLY_MAX_DOUBLINGS ? EARLY_MAX_DOUBLINGS : early;
      int64_t margin = (int64_t) HOLDER_MARGIN_MS << e;
      if (sleep_ms > holder_left_ms + margin) {
         sleep_ms = holder_left_ms + margin;
      }
      if (e > 0 && holder_left_ms == 0 && sleep_ms < margin / 2) {
         sleep_ms = margin / 2;
      }
   }
   if (sleep_ms > deadline_left_ms) {
      sleep_ms = deadline_left_ms;
   }
   return sleep_ms < 0 ? 0 : sleep_ms;
}
