/* SPDX-License-Identifier: Apache-2.0 */
/* E11000 is recognised whichever error API version produced it (issue 8, item 10). */
#include <criterion/criterion.h>

#include "engine/engine-private.h"

Test (dupkey, recognised_in_every_server_error_domain)
{
   const uint32_t domains[] = {MONGOC_ERROR_SERVER, MONGOC_ERROR_QUERY, MONGOC_ERROR_COMMAND, MONGOC_ERROR_COLLECTION};
   for (size_t i = 0; i < sizeof domains / sizeof domains[0]; i++) {
      bson_error_t e;
      bson_set_error (&e, domains[i], 11000, "E11000 duplicate key error");
      cr_assert (_mongolock_is_duplicate_key (&e), "domain %u", domains[i]);
   }
}

Test (dupkey, other_codes_and_client_domains_are_not)
{
   bson_error_t e;
   bson_set_error (&e, MONGOC_ERROR_SERVER, 11001, "x");
   cr_assert_not (_mongolock_is_duplicate_key (&e));
   bson_set_error (&e, MONGOC_ERROR_STREAM, 11000, "x");
   cr_assert_not (_mongolock_is_duplicate_key (&e), "a stream error with the same number");
   bson_set_error (&e, MONGOLOCK_ERROR_DOMAIN, 11000, "x");
   cr_assert_not (_mongolock_is_duplicate_key (&e));
}
