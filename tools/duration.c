/* SPDX-License-Identifier: Apache-2.0 */
/* Durations on the command line: "500ms", "30s", "1.5s", "5m", "2h"; a bare number is
 * seconds (as in flock -w and timeout). */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* 2^53 ms (about 285,000 years): far beyond any limit, small enough that no later
 * arithmetic on a parsed duration can overflow int64. */
#define DURATION_MAX_MS (INT64_C (1) << 53)

static bool
fail (char *err, size_t errlen, const char *msg)
{
   if (err && errlen) {
      snprintf (err, errlen, "%s", msg);
   }
   return false;
}

bool
cli_parse_duration (const char *s, int64_t *ms, char *err, size_t errlen)
{
   if (!s || !*s) {
      return fail (err, errlen, "empty duration");
   }
   const char *p = s;
   int64_t whole = 0;
   int digits = 0;
   while (*p >= '0' && *p <= '9') {
      if (whole > DURATION_MAX_MS) {
         return fail (err, errlen, "duration too large");
      }
      whole = whole * 10 + (*p - '0');
      digits++;
      p++;
   }
   /* Fraction: up to 9 digits kept exactly as frac / 10^frac_digits. */
   int64_t frac = 0, frac_scale = 1;
   int frac_digits = 0;
   if (*p == '.') {
      p++;
      while (*p >= '0' && *p <= '9') {
         if (frac_digits == 9) {
            return fail (err, errlen, "too many decimal places");
         }
         frac = frac * 10 + (*p - '0');
         frac_scale *= 10;
         frac_digits++;
         p++;
      }
      if (frac_digits == 0) {
         return fail (err, errlen, "expected digits after the decimal point");
      }
   }
   if (digits == 0) {
      return fail (err, errlen, "expected a number followed by an optional unit (ms, s, m, h)");
   }
   int64_t unit;
   if (*p == '\0' || strcmp (p, "s") == 0) {
      unit = 1000;
   } else if (strcmp (p, "ms") == 0) {
      unit = 1;
   } else if (strcmp (p, "m") == 0) {
      unit = 60 * 1000;
   } else if (strcmp (p, "h") == 0) {
      unit = 3600 * 1000;
   } else {
      return fail (err, errlen, "unknown unit (use ms, s, m or h)");
   }
   if (whole > DURATION_MAX_MS / unit) {
      return fail (err, errlen, "duration too large");
   }
   /* frac < frac_scale <= 10^9 and unit <= 3.6e6, so frac * unit < 3.6e15 fits. */
   int64_t frac_num = frac * unit;
   if (frac_num % frac_scale != 0) {
      return fail (err, errlen, "finer than a millisecond");
   }
   int64_t total = whole * unit + frac_num / frac_scale;
   if (total > DURATION_MAX_MS) {
      return fail (err, errlen, "duration too large");
   }
   *ms = total;
   return true;
}

bool
cli_duration_arg (const char *cmd, const char *option, const char *arg, int64_t lo, int64_t hi, int64_t *ms)
{
   char why[128];
   int64_t v;
   if (!cli_parse_duration (arg, &v, why, sizeof why)) {
      cli_usage_error (cmd, "invalid duration for %s: \"%s\": %s", option, arg, why);
      return false;
   }
   if (v < lo || v > hi) {
      char a[32], b[32];
      cli_format_duration (lo, a, sizeof a);
      cli_format_duration (hi, b, sizeof b);
      cli_usage_error (cmd, "%s %s is out of range (%s to %s)", option, arg, a, b);
      return false;
   }
   *ms = v;
   return true;
}

void
cli_format_duration (int64_t ms, char *buf, size_t len)
{
   const char *sign = "";
   if (ms < 0) {
      sign = "-";
      ms = ms == INT64_MIN ? INT64_MAX : -ms;
   }
   if (ms < 1000) {
      snprintf (buf, len, "%s%" PRId64 "ms", sign, ms);
   } else if (ms < 60 * 1000) {
      snprintf (buf, len, "%s%" PRId64 ".%" PRId64 "s", sign, ms / 1000, (ms % 1000) / 100);
   } else if (ms < 3600 * 1000) {
      snprintf (buf, len, "%s%" PRId64 "m%02" PRId64 "s", sign, ms / 60000, (ms / 1000) % 60);
   } else {
      snprintf (buf, len, "%s%" PRId64 "h%02" PRId64 "m", sign, ms / 3600000, (ms / 60000) % 60);
   }
}
