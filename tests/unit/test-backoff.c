/* Backoff: full jitter within [0, min(cap, base*2^n)], clamped by deadline and holder. */
#include "lock-private.h"

#include <criterion/criterion.h>

Test (backoff, stays_within_exponential_ceiling_and_cap)
{
   uint64_t rng = 12345;
   for (int attempt = 0; attempt < 40; attempt++) {
      int64_t ceiling = 10;
      for (int i = 0; i < attempt && ceiling < 1000; i++) {
         ceiling *= 2;
      }
      if (ceiling > 1000) {
         ceiling = 1000;
      }
      int64_t max_seen = 0;
      for (int i = 0; i < 2000; i++) {
         int64_t d = _mongolock_backoff_ms (&rng, attempt, 10, 1000);
         cr_assert (d >= 0 && d <= ceiling, "attempt %d: %" PRId64 " outside [0, %" PRId64 "]", attempt, d, ceiling);
         if (d > max_seen) {
            max_seen = d;
         }
      }
      /* Full jitter spreads over the whole range, not just its bottom. */
      cr_assert (max_seen >= ceiling * 8 / 10, "attempt %d: max %" PRId64 " of %" PRId64, attempt, max_seen, ceiling);
   }
}

Test (backoff, jitter_is_spread_not_constant)
{
   uint64_t rng = 99;
   int buckets[10] = {0};
   for (int i = 0; i < 10000; i++) {
      int64_t d = _mongolock_backoff_ms (&rng, 20, 1, 999);
      buckets[d / 100]++;
   }
   for (int b = 0; b < 10; b++) {
      cr_assert (buckets[b] > 700 && buckets[b] < 1300, "bucket %d has %d of 10000", b, buckets[b]);
   }
}

Test (backoff, clamp_by_deadline_and_holder)
{
   cr_assert_eq (_mongolock_backoff_clamp (500, 100, -1), 100, "never past the deadline");
   cr_assert_eq (_mongolock_backoff_clamp (500, 1000, 20), 25, "never much past the holder's lease");
   cr_assert_eq (_mongolock_backoff_clamp (10, 1000, 200), 10, "short sleeps untouched");
   cr_assert_eq (_mongolock_backoff_clamp (500, -3, -1), 0, "never negative");
   cr_assert_eq (_mongolock_backoff_clamp (500, 1000, 0), 5, "expired holder: retry almost at once");
}
