/* SPDX-License-Identifier: Apache-2.0 */
/* Named lock, no server: the commands the shape builds (issue 10, lean commands). The
 * acquire command is built once per handle and carries the owner only in its let; the
 * replies are cut to what the client reads; the command stays well under the 1,137 bytes
 * of pipeline that used to be rebuilt, with the owner twice, for every attempt. */
#include "lock-private.h"

#include <criterion/criterion.h>
#include <string.h>

#define OWNER "host.example:4242:0123456789abcdef0123456789abcdef/0123456789abcdef"

static mongolock_client_t *
fake_client (void)
{
   mongolock_client_t *c = bson_malloc0 (sizeof *c);
   c->collection = bson_strdup ("locks");
   return c;
}

static void
fake_client_free (mongolock_client_t *c)
{
   bson_free (c->collection);
   bson_free (c);
}

/* The value of top-level field name of doc, as JSON (NULL when absent). */
static char *
field_json (const bson_t *doc, const char *name)
{
   bson_iter_t it;
   if (!bson_iter_init_find (&it, doc, name)) {
      return NULL;
   }
   bson_t wrap = BSON_INITIALIZER;
   bson_append_iter (&wrap, name, -1, &it);
   char *json = bson_as_relaxed_extended_json (&wrap, NULL);
   bson_destroy (&wrap);
   return json;
}

static bool
contains (const bson_t *doc, const char *text)
{
   char *json = bson_as_relaxed_extended_json (doc, NULL);
   bool found = strstr (json, text) != NULL;
   bson_free (json);
   return found;
}

Test (named_commands, acquire_is_built_once_and_takes_the_owner_from_let)
{
   mongolock_client_t *c = fake_client ();
   _mongolock_named_t n;
   _mongolock_named_init (&n, c, "invoice/42", 30000);
   bson_t *a = _mongolock_named_shape.acquire_cmd (&n, c, OWNER, 30000, true);
   bson_t *b = _mongolock_named_shape.acquire_cmd (&n, c, OWNER ".1", 30000, true);
   /* The same command but for the let: the owner is nowhere else. */
   char *la = field_json (a, "let"), *lb = field_json (b, "let");
   cr_assert_str_eq (la, "{ \"let\" : { \"o\" : \"" OWNER "\", \"e\" : { \"$add\" : [ \"$$NOW\", 30000 ] } } }");
   cr_assert_str_eq (lb, "{ \"let\" : { \"o\" : \"" OWNER ".1\", \"e\" : { \"$add\" : [ \"$$NOW\", 30000 ] } } }");
   cr_assert_eq (a->len + 2, b->len);
   cr_assert_eq (memcmp (bson_get_data (a) + 4, bson_get_data (n.acquire) + 4, n.acquire->len - 5), 0,
                 "the attempt's command starts with the handle's");
   cr_assert_not (contains (n.acquire, OWNER), "the handle's command names no owner");
   /* Only what the client reads comes back: whether the owner is this attempt's, not the
    * owner itself. */
   char *fields = field_json (a, "fields");
   cr_assert_str_eq (fields, "{ \"fields\" : { \"_id\" : 0, \"token\" : 1, \"expiresAt\" : 1, "
                             "\"mine\" : { \"$eq\" : [ \"$owner\", \"$$o\" ] } } }");
   /* The new expiry is written once, in the let, and used twice. */
   cr_assert (contains (n.acquire, "\"expiresAt\" : \"$$e\""));
   cr_assert_not (contains (n.acquire, "\"$add\" : [ \"$$NOW\""), "the expiry is computed in the let only");
   /* Compact: a 10-byte key and a 66-byte owner (the wire adds the write concern,
    * maxTimeMS, $db and lsid). */
   cr_assert_leq (a->len, 750, "acquire command is %u bytes", a->len);
   cr_assert (contains (a, "\"$$NOW\""), "the server's clock decides");
   cr_assert (contains (a, "\"upsert\" : true"));
   bson_free (la);
   bson_free (lb);
   bson_free (fields);
   bson_destroy (a);
   bson_destroy (b);
   _mongolock_named_cleanup (&n);
   fake_client_free (c);
}

/* A let value is an expression: an owner that starts with '$' would be read as a field
 * path, so it goes in as a $literal. */
Test (named_commands, dollar_owner_is_a_literal)
{
   mongolock_client_t *c = fake_client ();
   _mongolock_named_t n;
   _mongolock_named_init (&n, c, "k", 1000);
   bson_t *a = _mongolock_named_shape.acquire_cmd (&n, c, "$owner/1", 1000, true);
   char *let = field_json (a, "let");
   cr_assert_str_eq (let, "{ \"let\" : { \"o\" : { \"$literal\" : \"$owner/1\" }, \"e\" : { \"$add\" : [ \"$$NOW\", 1000 ] } } }");
   bson_free (let);
   bson_destroy (a);
   _mongolock_named_cleanup (&n);
   fake_client_free (c);
}

Test (named_commands, release_and_renew_match_owner_and_token_and_return_little)
{
   mongolock_client_t *c = fake_client ();
   _mongolock_named_t n;
   _mongolock_named_init (&n, c, "k", 1000);
   bson_t *rel = _mongolock_named_shape.release_cmd (&n, c, OWNER, 7);
   bson_t *ren = _mongolock_named_shape.renew_cmd (&n, c, OWNER, 7, 1000);
   char *q = field_json (rel, "query");
   cr_assert_str_eq (q, "{ \"query\" : { \"_id\" : \"k\", \"owner\" : \"" OWNER "\", \"token\" : 7 } }");
   bson_free (q);
   q = field_json (ren, "query");
   cr_assert_str_eq (q, "{ \"query\" : { \"_id\" : \"k\", \"owner\" : \"" OWNER
                        "\", \"token\" : 7, \"$expr\" : { \"$gt\" : [ \"$expiresAt\", \"$$NOW\" ] } } }");
   bson_free (q);
   /* The release returns its post-image cut to the owner it removed: {}. */
   char *f = field_json (rel, "fields");
   cr_assert_str_eq (f, "{ \"fields\" : { \"_id\" : 0, \"owner\" : 1 } }");
   bson_free (f);
   f = field_json (rel, "new");
   cr_assert_str_eq (f, "{ \"new\" : true }");
   bson_free (f);
   f = field_json (ren, "fields");
   cr_assert_str_eq (f, "{ \"fields\" : { \"_id\" : 0, \"token\" : 1 } }");
   bson_free (f);
   cr_assert (contains (ren, "\"$add\" : [ \"$$NOW\", 1000 ]"));
   /* One $set stage forgets the owner ($$REMOVE) and marks the lease expired. */
   f = field_json (rel, "update");
   cr_assert_str_eq (f, "{ \"update\" : [ { \"$set\" : { \"expiresAt\" : { \"$min\" : [ \"$expiresAt\", \"$$NOW\" ] }, "
                        "\"releasedAt\" : \"$$NOW\", \"owner\" : \"$$REMOVE\" } } ] }");
   bson_free (f);
   bson_destroy (rel);
   bson_destroy (ren);
   _mongolock_named_cleanup (&n);
   fake_client_free (c);
}

/* The acquire's reply says "mine" (the server compared the owner with the let's): that,
 * not an owner field, decides acquired or busy; the holder's expiry comes back either way. */
static bool
parse (const char *value_json, _mongolock_attempt_t *res, bson_error_t *error)
{
   char *json = bson_strdup_printf ("{'lastErrorObject': {'n': 1, 'updatedExisting': true}, 'value': %s, 'ok': 1}",
                                    value_json);
   for (char *p = json; *p; p++) {
      if (*p == '\'') {
         *p = '"';
      }
   }
   bson_t *reply = bson_new_from_json ((const uint8_t *) json, -1, NULL);
   cr_assert (reply);
   memset (res, 0, sizeof *res);
   bool ok = _mongolock_named_shape.parse_acquire (NULL, OWNER, reply, res, error);
   bson_destroy (reply);
   bson_free (json);
   return ok;
}

Test (named_commands, acquire_reply_mine_decides)
{
   _mongolock_attempt_t res;
   bson_error_t error;
   cr_assert (parse ("{'token': {'$numberLong': '42'}, 'expiresAt': {'$date': 5000}, 'mine': true}", &res, &error));
   cr_assert (res.acquired);
   cr_assert_eq (res.token, 42);
   cr_assert_eq (res.holder_expires_ms, 5000);
   /* Someone else's: busy until its expiry. */
   cr_assert (parse ("{'token': {'$numberLong': '43'}, 'expiresAt': {'$date': 7000}, 'mine': false}", &res, &error));
   cr_assert_not (res.acquired);
   cr_assert_eq (res.holder_expires_ms, 7000);
   /* An owner field proves nothing: only the server's comparison does. */
   cr_assert_not (parse ("{'owner': '" OWNER "', 'token': {'$numberLong': '42'}}", &res, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_PROTOCOL);
   /* Mine without a valid token is a protocol error, never "acquired". */
   cr_assert_not (parse ("{'token': 0, 'mine': true}", &res, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_PROTOCOL);
}
