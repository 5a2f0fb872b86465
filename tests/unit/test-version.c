/* SPDX-License-Identifier: Apache-2.0 */
#include <criterion/criterion.h>
#include <mongolock/mongolock.h>
#include <stdio.h>

/* The run-time version functions report the version the library was built as, which for
 * this build is the headers' version. */
Test (version, functions_match_the_headers)
{
   cr_assert_str_eq (mongolock_get_version (), MONGOLOCK_VERSION_S);
   cr_assert_eq (mongolock_get_major_version (), MONGOLOCK_VERSION_MAJOR);
   cr_assert_eq (mongolock_get_minor_version (), MONGOLOCK_VERSION_MINOR);
   cr_assert_eq (mongolock_get_micro_version (), MONGOLOCK_VERSION_MICRO);
   char buf[48];
   snprintf (buf, sizeof buf, "%d.%d.%d", mongolock_get_major_version (), mongolock_get_minor_version (),
             mongolock_get_micro_version ());
   cr_assert_str_eq (buf, mongolock_get_version ());
}

Test (version, check_version_orders_each_part)
{
   const int ma = MONGOLOCK_VERSION_MAJOR, mi = MONGOLOCK_VERSION_MINOR, mc = MONGOLOCK_VERSION_MICRO;
   cr_assert (mongolock_check_version (0, 0, 0));
   cr_assert (mongolock_check_version (ma, mi, mc));
   cr_assert_not (mongolock_check_version (ma, mi, mc + 1));
   cr_assert_not (mongolock_check_version (ma, mi + 1, 0));
   cr_assert_not (mongolock_check_version (ma + 1, 0, 0));
   /* A larger minor or micro never outweighs a smaller major, nor a micro a minor. */
   cr_assert (mongolock_check_version (ma - 1, mi + 100, mc + 100));
   cr_assert (mongolock_check_version (ma, mi - 1, mc + 100));
   /* It agrees with the compile-time macro on this build. */
   for (int a = 0; a <= ma + 1; a++) {
      for (int b = 0; b <= mi + 1; b++) {
         for (int c = 0; c <= mc + 1; c++) {
            cr_assert_eq (mongolock_check_version (a, b, c), MONGOLOCK_CHECK_VERSION (a, b, c), "%d.%d.%d", a, b, c);
         }
      }
   }
}
