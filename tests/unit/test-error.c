/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>
#include <mongolock/mongolock.h>
#include <string.h>

Test (error, code_names_are_distinct_and_unknown_is_named)
{
   const char *seen[16] = {0};
   for (int c = MONGOLOCK_ERROR_INVALID_ARGUMENT; c <= MONGOLOCK_ERROR_MISMATCH; c++) {
      const char *name = mongolock_error_code_name (c);
      cr_assert_str_neq (name, "UNKNOWN", "code %d has no name", c);
      for (int j = 1; j < c; j++) {
         cr_assert_str_neq (name, seen[j], "codes %d and %d share a name", c, j);
      }
      seen[c] = name;
   }
   cr_assert_str_eq (mongolock_error_code_name (0), "UNKNOWN");
   cr_assert_str_eq (mongolock_error_code_name (9999), "UNKNOWN");
}

Test (error, version_macros_agree)
{
   cr_assert (MONGOLOCK_CHECK_VERSION (0, 0, 0));
   cr_assert (MONGOLOCK_CHECK_VERSION (MONGOLOCK_VERSION_MAJOR, MONGOLOCK_VERSION_MINOR, MONGOLOCK_VERSION_MICRO));
   cr_assert_not (MONGOLOCK_CHECK_VERSION (MONGOLOCK_VERSION_MAJOR + 1, 0, 0));
   char buf[32];
   snprintf (buf, sizeof buf, "%d.%d.%d", MONGOLOCK_VERSION_MAJOR, MONGOLOCK_VERSION_MINOR, MONGOLOCK_VERSION_MICRO);
   cr_assert_str_eq (buf, MONGOLOCK_VERSION_S);
}
