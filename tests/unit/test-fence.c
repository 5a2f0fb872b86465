/* SPDX-License-Identifier: Apache-2.0 */
/* mongolock_fence_build: the filter and update a fenced write sends. */
#include <criterion/criterion.h>
#include <mongolock/mongolock.h>
#include <string.h>

static char *
build (const char *sel, const char *upd, int64_t token, bson_t *f, bson_t *u, bson_error_t *error, bool *ok)
{
   bson_t *s = bson_new_from_json ((const uint8_t *) sel, -1, NULL);
   bson_t *p = bson_new_from_json ((const uint8_t *) upd, -1, NULL);
   cr_assert (s && p);
   *ok = mongolock_fence_build (s, p, "fence", token, f, u, error);
   bson_destroy (s);
   bson_destroy (p);
   char *fs = bson_as_canonical_extended_json (f, NULL);
   return fs;
}

Test (fence, adds_condition_and_sets_token)
{
   bson_t f, u;
   bson_error_t error;
   bool ok;
   char *fs = build ("{\"_id\": 7}", "{\"$set\": {\"a\": 1}, \"$inc\": {\"n\": 1}}", 42, &f, &u, &error, &ok);
   cr_assert (ok, "%s", error.message);
   cr_assert_str_eq (fs,
                     "{ \"$and\" : [ { \"_id\" : { \"$numberInt\" : \"7\" } }, { \"fence\" : { \"$not\" : { \"$gt\" : { "
                     "\"$numberLong\" : \"42\" } } } } ] }");
   char *us = bson_as_canonical_extended_json (&u, NULL);
   cr_assert_str_eq (us,
                     "{ \"$set\" : { \"a\" : { \"$numberInt\" : \"1\" }, \"fence\" : { \"$numberLong\" : \"42\" } }, "
                     "\"$inc\" : { \"n\" : { \"$numberInt\" : \"1\" } } }");
   bson_free (fs);
   bson_free (us);
   bson_destroy (&f);
   bson_destroy (&u);
}

Test (fence, adds_set_when_missing)
{
   bson_t f, u;
   bson_error_t error;
   bool ok;
   char *fs = build ("{}", "{\"$inc\": {\"n\": 1}}", 5, &f, &u, &error, &ok);
   cr_assert (ok);
   char *us = bson_as_canonical_extended_json (&u, NULL);
   cr_assert_str_eq (us, "{ \"$inc\" : { \"n\" : { \"$numberInt\" : \"1\" } }, \"$set\" : { \"fence\" : { \"$numberLong\" : \"5\" } } }");
   bson_free (fs);
   bson_free (us);
   bson_destroy (&f);
   bson_destroy (&u);
}

Test (fence, refuses_replacement_self_write_and_bad_token)
{
   bson_t f, u;
   bson_error_t error;
   bool ok;
   const char *bad[][2] = {
      {"{\"a\": 1}", "replacement"},
      {"{\"$set\": {\"fence\": 1}}", "fence field"},
      {"{\"$unset\": {\"fence.x\": 1}}", "fence field"},
      {"{}", "empty"},
   };
   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      bson_free (build ("{}", bad[i][0], 5, &f, &u, &error, &ok));
      cr_assert_not (ok, "%s accepted", bad[i][0]);
      cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
      cr_assert (strstr (error.message, bad[i][1]), "%s: %s", bad[i][0], error.message);
      bson_destroy (&f);
      bson_destroy (&u);
   }
   bson_free (build ("{}", "{\"$set\": {\"x\": 1}}", 0, &f, &u, &error, &ok));
   cr_assert_not (ok);
   cr_assert (strstr (error.message, "positive"));
   bson_destroy (&f);
   bson_destroy (&u);
}
