/* SPDX-License-Identifier: Apache-2.0 */
/* Document lock, no server: option checks and the commands the shape builds (the fenced
 * filter, update-and-release merged into the caller's update, refusals). */
#include "doc-private.h"

#include <criterion/criterion.h>
#include <string.h>

static _mongolock_doc_self_t
self_for (int32_t id)
{
   _mongolock_doc_self_t s;
   memset (&s, 0, sizeof s);
   s.collection = bson_strdup ("users");
   s.id.value_type = BSON_TYPE_INT32;
   s.id.value.v_int32 = id;
   _mongolock_doc_fields_set (&s.f, "lo", "le", "lt");
   return s;
}

static void
self_free (_mongolock_doc_self_t *s)
{
   bson_free (s->collection);
   _mongolock_doc_fields_free (&s->f);
}

static void
assert_json (const bson_t *doc, const char *want)
{
   char *got = bson_as_relaxed_extended_json (doc, NULL);
   cr_assert_str_eq (got, want);
   bson_free (got);
}

/* The query and update of a findAndModify (renew, release and fenced writes are
 * findAndModify so that the driver retries them across an election). */
static void
statement (const bson_t *cmd, bson_t *q, bson_t *u)
{
   bson_iter_t f;
   uint32_t len;
   const uint8_t *data;
   cr_assert (bson_iter_init (&f, cmd) && bson_iter_next (&f));
   cr_assert_str_eq (bson_iter_key (&f), "findAndModify");
   bool have_q = false, have_u = false;
   while (bson_iter_next (&f)) {
      if (strcmp (bson_iter_key (&f), "query") == 0) {
         bson_iter_document (&f, &len, &data);
         bson_init_static (q, data, len);
         have_q = true;
      } else if (strcmp (bson_iter_key (&f), "update") == 0) {
         if (BSON_ITER_HOLDS_ARRAY (&f)) {
            bson_iter_array (&f, &len, &data);
         } else {
            bson_iter_document (&f, &len, &data);
         }
         bson_init_static (u, data, len);
         have_u = true;
      } else {
         cr_assert (strcmp (bson_iter_key (&f), "fields") == 0, "unexpected field %s", bson_iter_key (&f));
      }
   }
   cr_assert (have_q && have_u);
}

Test (doc_commands, fenced_update_carries_owner_token_and_live_lease)
{
   _mongolock_doc_self_t s = self_for (7);
   bson_t *update = BCON_NEW ("$inc", "{", "balance", BCON_INT32 (-1), "}");
   bson_error_t error;
   bson_t *cmd = _mongolock_doc_fenced_update_cmd (&s, "me", 42, update, 0, false, &error);
   cr_assert (cmd, "%s", error.message);
   bson_t q, u;
   statement (cmd, &q, &u);
   assert_json (&q, "{ \"_id\" : { \"$eq\" : 7 }, \"lo\" : \"me\", \"lt\" : 42, \"$expr\" : { \"$gt\" : [ \"$le\", \"$$NOW\" ] } }");
   assert_json (&u, "{ \"$inc\" : { \"balance\" : -1 } }");
   bson_destroy (cmd);
   bson_destroy (update);
   self_free (&s);
}

Test (doc_commands, update_and_release_merges_into_the_callers_unset)
{
   _mongolock_doc_self_t s = self_for (7);
   bson_error_t error;
   bson_t q, u;
   bson_t *update = BCON_NEW ("$set", "{", "a", BCON_INT32 (1), "}", "$unset", "{", "z", BCON_UTF8 (""), "}");
   bson_t *cmd = _mongolock_doc_fenced_update_cmd (&s, "me", 42, update, MONGOLOCK_DOC_UPDATE_RELEASE, true, &error);
   cr_assert (cmd, "%s", error.message);
   statement (cmd, &q, &u);
   assert_json (&u, "{ \"$set\" : { \"a\" : 1 }, \"$unset\" : { \"z\" : \"\", \"lo\" : \"\", \"le\" : \"\" } }");
   bson_destroy (cmd);
   bson_destroy (update);
   /* No $unset of its own: one is added. */
   update = BCON_NEW ("$set", "{", "a", BCON_INT32 (1), "}");
   cmd = _mongolock_doc_fenced_update_cmd (&s, "me", 42, update, MONGOLOCK_DOC_UPDATE_RELEASE, true, &error);
   statement (cmd, &q, &u);
   assert_json (&u, "{ \"$set\" : { \"a\" : 1 }, \"$unset\" : { \"lo\" : \"\", \"le\" : \"\" } }");
   bson_destroy (cmd);
   /* release false (a reentrant inner hold): no $unset. */
   cmd = _mongolock_doc_fenced_update_cmd (&s, "me", 42, update, MONGOLOCK_DOC_UPDATE_RELEASE, false, &error);
   statement (cmd, &q, &u);
   assert_json (&u, "{ \"$set\" : { \"a\" : 1 } }");
   bson_destroy (cmd);
   bson_destroy (update);
   /* A pipeline gets a final $unset stage. */
   update = BCON_NEW ("0", "{", "$set", "{", "a", BCON_INT32 (2), "}", "}");
   cmd = _mongolock_doc_fenced_update_cmd (
      &s, "me", 42, update, MONGOLOCK_DOC_UPDATE_RELEASE | MONGOLOCK_DOC_UPDATE_PIPELINE, true, &error);
   cr_assert (cmd, "%s", error.message);
   statement (cmd, &q, &u);
   assert_json (&u, "{ \"0\" : { \"$set\" : { \"a\" : 2 } }, \"1\" : { \"$unset\" : [ \"lo\", \"le\" ] } }");
   bson_destroy (cmd);
   bson_destroy (update);
   self_free (&s);
}

Test (doc_commands, writes_to_lock_fields_are_refused)
{
   _mongolock_doc_self_t s = self_for (7);
   const char *bad[] = {"{\"$set\": {\"lo\": 1}}", "{\"$set\": {\"le.x\": 1}}", "{\"$rename\": {\"lt\": \"y\"}}",
                        "{\"a\": 1}", "{\"$rename\": {\"x\": \"le\"}}"};
   for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      bson_error_t error;
      bson_t *update = bson_new_from_json ((const uint8_t *) bad[i], -1, &error);
      cr_assert (update);
      cr_assert_null (_mongolock_doc_fenced_update_cmd (&s, "me", 1, update, 0, false, &error), "%s", bad[i]);
      cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
      bson_destroy (update);
   }
   /* "lot" is not "lo": only the field itself and paths inside it are the lock's. */
   bson_t *ok = BCON_NEW ("$set", "{", "lot", BCON_INT32 (1), "}");
   bson_error_t error;
   bson_t *cmd = _mongolock_doc_fenced_update_cmd (&s, "me", 1, ok, 0, false, &error);
   cr_assert (cmd, "%s", error.message);
   bson_destroy (cmd);
   bson_destroy (ok);
   self_free (&s);
}

Test (doc_commands, options_and_handle_arguments_are_checked)
{
   bson_error_t error;
   mongolock_doc_lock_opts_t *o = mongolock_doc_lock_opts_new ();
   cr_assert (mongolock_doc_lock_opts_set_fields (o, "a", "b", "c", &error));
   cr_assert (mongolock_doc_lock_opts_set_fields (o, NULL, "x", NULL, &error), "NULL keeps the others");
   cr_assert_not (mongolock_doc_lock_opts_set_fields (o, "x", NULL, NULL, &error), "same as the expiry field");
   cr_assert_not (mongolock_doc_lock_opts_set_fields (o, "a\xff", NULL, NULL, &error), "invalid UTF-8");
   char longname[MONGOLOCK_DOC_FIELD_MAX_BYTES + 2];
   memset (longname, 'f', sizeof longname - 1);
   longname[sizeof longname - 1] = '\0';
   cr_assert_not (mongolock_doc_lock_opts_set_fields (o, longname, NULL, NULL, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   cr_assert_not (mongolock_doc_lock_opts_set_fields (NULL, "a", "b", "c", &error));
   cr_assert (mongolock_doc_lock_opts_lock_opts (o));
   cr_assert_null (mongolock_doc_lock_opts_lock_opts (NULL));
   bson_value_t id = {.value_type = BSON_TYPE_INT32, .value.v_int32 = 1};
   cr_assert_null (mongolock_doc_lock_new (NULL, "db", "users", &id, o, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   mongolock_doc_lock_opts_destroy (o);
   mongolock_doc_lock_opts_destroy (NULL);
   mongolock_doc_lock_destroy (NULL);
   cr_assert_null (mongolock_doc_lock_document (NULL));
   cr_assert_not (mongolock_doc_lock_is_held (NULL));
   bson_t out;
   cr_assert_not (mongolock_doc_lock_list (NULL, "db", "c", NULL, 10, &out, &error));
   bson_destroy (&out);
}
