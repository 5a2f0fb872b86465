/* SPDX-License-Identifier: Apache-2.0 */
#include "client-private.h"

#include <string.h>
#include <unistd.h>

char *
_mongolock_default_identity (bson_error_t *error)
{
   char host[256] = "unknown-host";
   if (gethostname (host, sizeof host - 1) != 0 || host[0] == '\0') {
      bson_strncpy (host, "unknown-host", sizeof host);
   }
   host[sizeof host - 1] = '\0';
   /* Keep the identity within MONGOLOCK_IDENTITY_MAX_BYTES whatever the host name. */
   if (strlen (host) > 128) {
      host[128] = '\0';
   }
   if (!bson_utf8_validate (host, strlen (host), false)) {
      bson_strncpy (host, "unknown-host", sizeof host);
   }
   char rnd[33];
   if (!_mongolock_random_hex (rnd, 16, error)) {
      return NULL;
   }
   return bson_strdup_printf ("%s:%d:%s", host, (int) getpid (), rnd);
}
