/* SPDX-License-Identifier: Apache-2.0 */
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
   cr_assert_eq (_mongolock_backoff_clamp (500, 100, -1, 0), 100, "never past the deadline");
   cr_assert_eq (_mongolock_backoff_clamp (500, 1000, 20, 0), 25, "never much past the holder's lease");
   cr_assert_eq (_mongolock_backoff_clamp (10, 1000, 200, 0), 10, "short sleeps untouched");
   cr_assert_eq (_mongolock_backoff_clamp (500, -3, -1, 0), 0, "never negative");
   cr_assert_eq (_mongolock_backoff_clamp (500, 1000, 0, 0), 5, "expired holder: retry almost at once");
   /* Still held after the estimate said it was over: the margin doubles, and is the floor's
    * double, so an early clock-offset estimate is not polled every few ms. */
   cr_assert_eq (_mongolock_backoff_clamp (500, 1000, 0, 1), 10);
   cr_assert_eq (_mongolock_backoff_clamp (0, 1000, 0, 1), 5);
   cr_assert_eq (_mongolock_backoff_clamp (0, 1000, 0, 3), 20);
   cr_assert_eq (_mongolock_backoff_clamp (500, 1000, 0, 3), 40);
   cr_assert_eq (_mongolock_backoff_clamp (5000, 10000, 0, 40), 320, "the margin stops growing at 320 ms");
   cr_assert_eq (_mongolock_backoff_clamp (0, 12, 0, 5), 12, "never past the deadline");
   cr_assert_eq (_mongolock_backoff_clamp (0, 1000, 300, 4), 0, "a live holder's estimate sets no floor");
}

Test (backoff, until_expiry_sleeps_out_the_holders_lease)
{
   uint64_t rng = 7;
   for (int i = 0; i < 1000; i++) {
      int64_t d = _mongolock_backoff_next_ms (&rng, 0, MONGOLOCK_BACKOFF_UNTIL_EXPIRY, 5, 100, 800);
      cr_assert (d >= 800 && d <= 805, "%" PRId64 " is not the holder's 800 ms plus jitter", d);
      cr_assert_eq (_mongolock_backoff_clamp (d, 10000, 800, 0) >= 800, true, "the clamp keeps the wait");
      cr_assert_eq (_mongolock_backoff_clamp (d, 300, 800, 0), 300, "never past the deadline");
   }
   /* Unknown holder expiry: full jitter, as the default strategy. */
   for (int i = 0; i < 1000; i++) {
      int64_t d = _mongolock_backoff_next_ms (&rng, 3, MONGOLOCK_BACKOFF_UNTIL_EXPIRY, 5, 100, -1);
      cr_assert (d >= 0 && d <= 40, "%" PRId64, d);
      d = _mongolock_backoff_next_ms (&rng, 3, MONGOLOCK_BACKOFF_FULL_JITTER, 5, 100, 800);
      cr_assert (d >= 0 && d <= 40, "full jitter ignores the holder: %" PRId64, d);
   }
}

Test (backoff, strategy_option_is_checked)
{
   mongolock_lock_opts_t *opts = mongolock_lock_opts_new ();
   bson_error_t error;
   cr_assert (mongolock_lock_opts_set_backoff_strategy (opts, MONGOLOCK_BACKOFF_UNTIL_EXPIRY, &error));
   cr_assert_not (mongolock_lock_opts_set_backoff_strategy (opts, (mongolock_backoff_strategy_t) 7, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   mongolock_lock_opts_destroy (opts);
}
