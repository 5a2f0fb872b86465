/* SPDX-License-Identifier: Apache-2.0 */
#include "mongolock-private.h"

const char *
mongolock_error_code_name (int code)
{
   switch ((mongolock_error_code_t) code) {
   case MONGOLOCK_ERROR_INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
   case MONGOLOCK_ERROR_TIMEOUT:
      return "TIMEOUT";
   case MONGOLOCK_ERROR_LOST:
      return "LOST";
   case MONGOLOCK_ERROR_NOT_HELD:
      return "NOT_HELD";
   case MONGOLOCK_ERROR_WOULD_DEADLOCK:
      return "WOULD_DEADLOCK";
   case MONGOLOCK_ERROR_PROTOCOL:
      return "PROTOCOL";
   case MONGOLOCK_ERROR_DUPLICATES:
      return "DUPLICATES";
   case MONGOLOCK_ERROR_INDEX_CONFLICT:
      return "INDEX_CONFLICT";
   case MONGOLOCK_ERROR_CALLBACK:
      return "CALLBACK";
   case MONGOLOCK_ERROR_INTERNAL:
      return "INTERNAL";
   case MONGOLOCK_ERROR_STORE_TIMEOUT:
      return "STORE_TIMEOUT";
   case MONGOLOCK_ERROR_CANCELLED:
      return "CANCELLED";
   case MONGOLOCK_ERROR_LEASE_TOO_SHORT:
      return "LEASE_TOO_SHORT";
   case MONGOLOCK_ERROR_NOT_FOUND:
      return "NOT_FOUND";
   case MONGOLOCK_ERROR_MISMATCH:
      return "MISMATCH";
   }
   return "UNKNOWN";
}
