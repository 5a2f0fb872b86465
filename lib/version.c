/* SPDX-License-Identifier: Apache-2.0 */
/* The version of this build of the library, for programs to read at run time. */
#include "mongolock-private.h"

const char *
mongolock_get_version (void)
{
   return MONGOLOCK_VERSION_S;
}

int
mongolock_get_major_version (void)
{
   return MONGOLOCK_VERSION_MAJOR;
}

int
mongolock_get_minor_version (void)
{
   return MONGOLOCK_VERSION_MINOR;
}

int
mongolock_get_micro_version (void)
{
   return MONGOLOCK_VERSION_MICRO;
}

bool
mongolock_check_version (int major, int minor, int micro)
{
   if (MONGOLOCK_VERSION_MAJOR != major) {
      return MONGOLOCK_VERSION_MAJOR > major;
   }
   if (MONGOLOCK_VERSION_MINOR != minor) {
      return MONGOLOCK_VERSION_MINOR > minor;
   }
   return MONGOLOCK_VERSION_MICRO >= micro;
}
