/* SPDX-License-Identifier: Apache-2.0 */
#include "mongolock-private.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
_mongolock_set_error (bson_error_t *error, mongolock_error_code_t code, const char *fmt, ...)
{
   if (!error) {
      return;
   }
   va_list ap;
   error->domain = MONGOLOCK_ERROR_DOMAIN;
   error->code = (uint32_t) code;
   va_start (ap, fmt);
   vsnprintf (error->message, sizeof error->message, fmt, ap);
   va_end (ap);
}

int64_t
_mongolock_now_ms (void)
{
   return bson_get_monotonic_time () / 1000;
}

void
_mongolock_sleep_ms (int64_t ms)
{
   if (ms <= 0) {
      return;
   }
   struct timespec ts = {.tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000L};
   while (nanosleep (&ts, &ts) != 0 && errno == EINTR) {
   }
}

bool
_mongolock_check_string (const char *what, const char *s, size_t max_bytes, bson_error_t *error)
{
   if (!s) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is NULL", what);
      return false;
   }
   size_t len = strlen (s);
   if (len == 0) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is empty", what);
      return false;
   }
   if (len > max_bytes) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_INVALID_ARGUMENT,
                            "%s is %zu bytes long; the limit is %zu",
                            what,
                            len,
                            max_bytes);
      return false;
   }
   if (!bson_utf8_validate (s, len, false)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "%s is not valid UTF-8", what);
      return false;
   }
   return true;
}

bool
_mongolock_check_range (const char *what, int64_t v, int64_t lo, int64_t hi, bson_error_t *error)
{
   if (v < lo || v > hi) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_INVALID_ARGUMENT,
                            "%s is %" PRId64 "; it must be between %" PRId64 " and %" PRId64,
                            what,
                            v,
                            lo,
                            hi);
      return false;
   }
   return true;
}

bool
_mongolock_random_hex (char *buf, size_t n, bson_error_t *error)
{
   unsigned char raw[64];
   BSON_ASSERT (n <= sizeof raw);
   if (RAND_bytes (raw, (int) n) != 1) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INTERNAL, "OpenSSL RAND_bytes failed");
      return false;
   }
   static const char digits[] = "0123456789abcdef";
   for (size_t i = 0; i < n; i++) {
      buf[2 * i] = digits[raw[i] >> 4];
      buf[2 * i + 1] = digits[raw[i] & 15];
   }
   buf[2 * n] = '\0';
   return true;
}

void *
_mongolock_aligned_alloc0 (size_t align, size_t size)
{
   size_t rounded = (size + align - 1) / align * align;
   void *p = aligned_alloc (align, rounded);
   if (!p) {
      abort ();
   }
   memset (p, 0, rounded);
   return p;
}
