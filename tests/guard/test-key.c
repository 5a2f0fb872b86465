/* SPDX-License-Identifier: Apache-2.0 */
/* Canonical keys: the version-1 payload, test vectors (computed independently with
 * Python's hashlib/hmac from the payload strings), order independence, type rules,
 * limits and bad input. A failing vector means the key format changed: existing locks
 * would no longer exclude callers of the previous release. */
#include <criterion/criterion.h>
#include <mongolock/mongolock.h>
#include <stdlib.h>
#include <string.h>

static bson_t *
json (const char *j)
{
   bson_error_t error;
   bson_t *b = bson_new_from_json ((const uint8_t *) j, -1, &error);
   cr_assert (b, "bad JSON %s: %s", j, error.message);
   return b;
}

static char *
key_of (const char *ns, const bson_t *attrs, const char *principal, const char *secret)
{
   char *key = NULL;
   bson_error_t error;
   bool ok = mongolock_key_build (ns, attrs, principal, secret, secret ? strlen (secret) : 0, &key, &error);
   cr_assert (ok, "key_build: %s", error.message);
   cr_assert_eq (strlen (key), MONGOLOCK_KEY_LENGTH);
   return key;
}

static char *
key_json (const char *ns, const char *j, const char *principal, const char *secret)
{
   bson_t *b = json (j);
   char *k = key_of (ns, b, principal, secret);
   bson_destroy (b);
   return k;
}

static char *
payload_json (const char *ns, const char *j, const char *principal)
{
   bson_t *b = json (j);
   char *p = NULL;
   bson_error_t error;
   cr_assert (mongolock_key_payload (ns, b, principal, &p, NULL, &error), "payload: %s", error.message);
   bson_destroy (b);
   return p;
}

static void
expect_key (const char *ns, const char *j, const char *principal, const char *secret, const char *expected)
{
   char *k = key_json (ns, j, principal, secret);
   cr_assert_str_eq (k, expected, "key of %s", j);
   bson_free (k);
}

static void
expect_payload (const char *ns, const char *j, const char *principal, const char *expected)
{
   char *p = payload_json (ns, j, principal);
   cr_assert_str_eq (p, expected);
   bson_free (p);
}

static void
expect_same (const char *a, const char *b)
{
   char *ka = key_json ("ns", a, NULL, NULL), *kb = key_json ("ns", b, NULL, NULL);
   cr_assert_str_eq (ka, kb, "%s and %s should give the same key", a, b);
   bson_free (ka);
   bson_free (kb);
}

static void
expect_different (const char *a, const char *b)
{
   char *ka = key_json ("ns", a, NULL, NULL), *kb = key_json ("ns", b, NULL, NULL);
   cr_assert_str_neq (ka, kb, "%s and %s should give different keys", a, b);
   bson_free (ka);
   bson_free (kb);
}

static void
expect_refused (const char *ns, const bson_t *attrs, const char *principal, const char *needle)
{
   char *key = (char *) "untouched";
   bson_error_t error;
   cr_assert_not (mongolock_key_build (ns, attrs, principal, NULL, 0, &key, &error));
   cr_assert_null (key);
   cr_assert_eq (error.domain, MONGOLOCK_ERROR_DOMAIN);
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   if (needle) {
      cr_assert (strstr (error.message, needle), "message \"%s\" should mention \"%s\"", error.message, needle);
   }
}

#define USERS "{\"tenant\": 7, \"email\": \"a@example.com\"}"

Test (key, vector_plain_sha256)
{
   expect_payload ("users", USERS, NULL, "ml1\n5:users\n-\n{5:emails13:a@example.com;6:tenanti7;}");
   expect_key ("users", USERS, NULL, NULL, "ml1:s:63d2a3c60f65d9220acdb8e88f21e90e9493bdfe4250a54672db8f7ed3992302");
}

Test (key, vector_hmac_sha256)
{
   expect_key ("users", USERS, NULL, "s3cret", "ml1:h:3e91ed3007904e5cfa5eae030c3da9919b61e0c3b16ddeb3eb98387186df4833");
}

Test (key, vector_with_principal)
{
   expect_payload ("users", USERS, "tenant-42", "ml1\n5:users\np9:tenant-42\n{5:emails13:a@example.com;6:tenanti7;}");
   expect_key ("users", USERS, "tenant-42", NULL,
               "ml1:s:15f59c29a770bb41494f767969565ff43ce9102009fde66a00ce7f7c9768895a");
   expect_key ("users", USERS, "tenant-42", "s3cret",
               "ml1:h:d3c21d7d1b161ee4487f81db5ab7d85d4ba4460c05bfd7eeb66d1a4546f4828b");
}

Test (key, vector_all_supported_types)
{
   const char *j = "{\"o\": {\"$oid\": \"5f0a1b2c3d4e5f6a7b8c9d0e\"}, \"d\": {\"$date\": {\"$numberLong\": "
                   "\"1700000000000\"}}, \"bin\": {\"$binary\": {\"base64\": \"AQL/\", \"subType\": \"00\"}}, "
                   "\"b\": [1, 1.5, \"x\"], \"a\": {\"y\": true, \"x\": null}}";
   expect_payload ("orders", j, NULL,
                   "ml1\n6:orders\n-\n{1:a{1:xz;1:yt;}1:b[i1;d3ff8000000000000;s1:x;]3:binb0:0102ff;1:dD1700000000000;"
                   "1:oo5f0a1b2c3d4e5f6a7b8c9d0e;}");
   expect_key ("orders", j, NULL, NULL, "ml1:s:edf46e5a57baa5c17d448ac1af79cb3a8d16ec7d195497f41e2f316e070cd5be");
}

Test (key, vector_number_one)
{
   /* int32 1, int64 1 and double 1.0 all give this key. */
   const char *expected = "ml1:s:64f078bc6e4b64dde7edb9bc5fefd648d7798761794dd59fb9094b9638cd4d5c";
   expect_key ("n", "{\"v\": 1}", NULL, NULL, expected);
   expect_key ("n", "{\"v\": {\"$numberLong\": \"1\"}}", NULL, NULL, expected);
   expect_key ("n", "{\"v\": 1.0}", NULL, NULL, expected);
}

Test (key, field_order_does_not_matter_at_any_level)
{
   expect_same ("{\"a\": 1, \"b\": 2}", "{\"b\": 2, \"a\": 1}");
   expect_same ("{\"x\": {\"p\": 1, \"q\": {\"m\": 1, \"n\": 2}}}", "{\"x\": {\"q\": {\"n\": 2, \"m\": 1}, \"p\": 1}}");
   expect_same ("{\"l\": [{\"a\": 1, \"b\": 2}]}", "{\"l\": [{\"b\": 2, \"a\": 1}]}");
   /* bytewise order: "B" (0x42) < "a" (0x61) < "aa" < "b" */
   expect_payload ("ns", "{\"b\": 1, \"aa\": 1, \"a\": 1, \"B\": 1}", NULL, "ml1\n2:ns\n-\n{1:Bi1;1:ai1;2:aai1;1:bi1;}");
}

Test (key, array_order_matters)
{
   expect_different ("{\"l\": [1, 2]}", "{\"l\": [2, 1]}");
}

Test (key, numbers_compare_by_value_types_otherwise_matter)
{
   expect_same ("{\"v\": 1}", "{\"v\": {\"$numberDouble\": \"1.0\"}}");
   expect_same ("{\"v\": {\"$numberLong\": \"-5\"}}", "{\"v\": -5.0}");
   expect_same ("{\"v\": 0}", "{\"v\": {\"$numberDouble\": \"-0.0\"}}");
   expect_different ("{\"v\": 1}", "{\"v\": \"1\"}");
   expect_different ("{\"v\": 1}", "{\"v\": 1.5}");
   expect_different ("{\"v\": 1}", "{\"v\": true}");
   expect_different ("{\"v\": 0}", "{\"v\": false}");
   expect_different ("{\"v\": null}", "{}");
   expect_different ("{\"v\": null}", "{\"v\": 0}");
   expect_different ("{\"v\": \"\"}", "{\"v\": null}");
   expect_different ("{\"v\": [1]}", "{\"v\": 1}");
   expect_different ("{\"v\": {}}", "{\"v\": []}");
   /* 2^53 + 1 is exact in int64 but not as a double: they differ, as in MongoDB. */
   expect_different ("{\"v\": {\"$numberLong\": \"9007199254740993\"}}", "{\"v\": 9007199254740992.0}");
   expect_same ("{\"v\": {\"$numberLong\": \"9007199254740992\"}}", "{\"v\": 9007199254740992.0}");
   /* The largest int64 is not 2^63 as a double. */
   expect_different ("{\"v\": {\"$numberLong\": \"9223372036854775807\"}}", "{\"v\": 9223372036854775808.0}");
}

Test (key, number_encodings)
{
   expect_payload ("n", "{\"v\": 1.5}", NULL, "ml1\n1:n\n-\n{1:vd3ff8000000000000;}");
   expect_payload ("n", "{\"v\": -0.25}", NULL, "ml1\n1:n\n-\n{1:vdbfd0000000000000;}");
   expect_payload ("n", "{\"v\": {\"$numberDouble\": \"Infinity\"}}", NULL, "ml1\n1:n\n-\n{1:vd7ff0000000000000;}");
   expect_payload ("n", "{\"v\": {\"$numberDouble\": \"NaN\"}}", NULL, "ml1\n1:n\n-\n{1:vdnan;}");
   expect_payload ("n", "{\"v\": {\"$numberDouble\": \"-0.0\"}}", NULL, "ml1\n1:n\n-\n{1:vi0;}");
   expect_payload ("n", "{\"v\": 9223372036854775808.0}", NULL, "ml1\n1:n\n-\n{1:vd43e0000000000000;}");
   expect_payload ("n", "{\"v\": -9223372036854775808.0}", NULL, "ml1\n1:n\n-\n{1:vi-9223372036854775808;}");
   expect_payload ("n", "{\"v\": {\"$numberInt\": \"-2147483648\"}}", NULL, "ml1\n1:n\n-\n{1:vi-2147483648;}");
}

Test (key, namespace_principal_and_secret_separate_keys)
{
   char *a = key_json ("users", USERS, NULL, NULL);
   char *b = key_json ("accounts", USERS, NULL, NULL);
   char *c = key_json ("users", USERS, "t1", NULL);
   char *d = key_json ("users", USERS, "t2", NULL);
   char *e = key_json ("users", USERS, NULL, "one");
   char *f = key_json ("users", USERS, NULL, "two");
   char *all[] = {a, b, c, d, e, f};
   for (int i = 0; i < 6; i++) {
      for (int j = i + 1; j < 6; j++) {
         cr_assert_str_neq (all[i], all[j], "keys %d and %d collide", i, j);
      }
   }
   cr_assert (strncmp (e, "ml1:h:", 6) == 0 && strncmp (a, "ml1:s:", 6) == 0);
   for (int i = 0; i < 6; i++) {
      bson_free (all[i]);
   }
}

Test (key, length_prefixes_prevent_ambiguity)
{
   /* Without length prefixes these would serialise alike. */
   char *a = key_json ("a", "{\"b\": 1}", "x", NULL);
   char *b = key_json ("a\n-", "{\"b\": 1}", NULL, NULL);
   cr_assert_str_neq (a, b);
   bson_free (a);
   bson_free (b);
   expect_different ("{\"ab\": \"c\"}", "{\"a\": \"bc\"}");
   expect_different ("{\"s\": \"x;s1:y\"}", "{\"s\": [\"x\", \"y\"]}");
}

Test (key, strings_with_nul_bytes_are_kept_whole)
{
   bson_t b = BSON_INITIALIZER;
   bson_append_utf8 (&b, "s", 1, "a\0b", 3);
   char *p = NULL;
   size_t len = 0;
   bson_error_t error;
   cr_assert (mongolock_key_payload ("n", &b, NULL, &p, &len, &error), "%s", error.message);
   cr_assert_eq (len, 22);
   cr_assert (memcmp (p, "ml1\n1:n\n-\n{1:ss3:a\0b;}", 22) == 0);
   bson_free (p);
   bson_destroy (&b);
}

Test (key, depth_limit)
{
   /* The attributes document is level 1: four levels are allowed, five are not. */
   bson_t *ok = json ("{\"a\": {\"b\": {\"c\": {\"d\": 1}}}}");
   bson_t *deep = json ("{\"a\": {\"b\": {\"c\": {\"d\": {\"e\": 1}}}}}");
   bson_t *deep_array = json ("{\"a\": [[[[1]]]]}");
   char *k = key_of ("ns", ok, NULL, NULL);
   bson_free (k);
   expect_refused ("ns", deep, NULL, "a.b.c.d");
   expect_refused ("ns", deep_array, NULL, "nests deeper than 4");
   bson_destroy (ok);
   bson_destroy (deep);
   bson_destroy (deep_array);
}

Test (key, payload_limit)
{
   /* payload = "ml1\n1:n\n-\n{1:v" (14) + "s" + "<L>:" + L + ";}" */
   char *s = bson_malloc (8200);
   memset (s, 'x', 8200);
   bson_t b = BSON_INITIALIZER;
   bson_append_utf8 (&b, "v", 1, s, 8170);
   char *p = NULL;
   size_t len = 0;
   bson_error_t error;
   cr_assert (mongolock_key_payload ("n", &b, NULL, &p, &len, &error), "%s", error.message);
   cr_assert_eq (len, MONGOLOCK_KEY_PAYLOAD_MAX_BYTES);
   bson_free (p);
   bson_reinit (&b);
   bson_append_utf8 (&b, "v", 1, s, 8171);
   expect_refused ("n", &b, NULL, "8192 bytes");
   bson_destroy (&b);
   bson_free (s);
}

Test (key, unsupported_types_are_refused_with_their_path)
{
   const char *cases[][2] = {
      {"{\"a\": {\"$numberDecimal\": \"1\"}}", "decimal128"},
      {"{\"a\": {\"$regularExpression\": {\"pattern\": \"x\", \"options\": \"\"}}}", "regex"},
      {"{\"a\": {\"$timestamp\": {\"t\": 1, \"i\": 1}}}", "timestamp"},
      {"{\"a\": {\"$minKey\": 1}}", "minKey"},
      {"{\"a\": {\"$maxKey\": 1}}", "maxKey"},
      {"{\"a\": {\"$code\": \"x\"}}", "javascript"},
      {"{\"a\": {\"$undefined\": true}}", "undefined"},
      {"{\"a\": {\"$symbol\": \"x\"}}", "symbol"},
      {"{\"z\": 1, \"x\": {\"y\": [1, {\"$numberDecimal\": \"2\"}]}}", "\"x.y.1\""},
   };
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      bson_t *b = json (cases[i][0]);
      expect_refused ("ns", b, NULL, cases[i][1]);
      bson_destroy (b);
   }
}

Test (key, bad_input)
{
   bson_t *attrs = json ("{\"a\": 1}");
   char *key = NULL;
   bson_error_t error;
   expect_refused (NULL, attrs, NULL, "namespace");
   expect_refused ("", attrs, NULL, "namespace");
   expect_refused ("ns", NULL, NULL, "attributes");
   expect_refused ("ns", attrs, "", "principal");
   expect_refused ("\xff\xfe", attrs, NULL, "UTF-8");
   cr_assert_not (mongolock_key_build ("ns", attrs, NULL, NULL, 0, NULL, &error));
   cr_assert_not (mongolock_key_build ("ns", attrs, NULL, "", 0, &key, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   char big[MONGOLOCK_KEY_SECRET_MAX_BYTES + 1];
   memset (big, 's', sizeof big);
   cr_assert_not (mongolock_key_build ("ns", attrs, NULL, big, sizeof big, &key, &error));
   cr_assert (mongolock_key_build ("ns", attrs, NULL, big, sizeof big - 1, &key, &error));
   bson_free (key);
   bson_destroy (attrs);

   /* a duplicated field and a string that is not UTF-8 */
   bson_t dup = BSON_INITIALIZER;
   BSON_APPEND_INT32 (&dup, "a", 1);
   BSON_APPEND_INT32 (&dup, "a", 2);
   expect_refused ("ns", &dup, NULL, "appears twice");
   bson_destroy (&dup);
   bson_t bad = BSON_INITIALIZER;
   bson_append_utf8 (&bad, "s", 1, "\xc3\x28", 2);
   expect_refused ("ns", &bad, NULL, "UTF-8");
   bson_destroy (&bad);
}

/* Corrupt BSON whose first fields are fine: iteration stops at the bad element, and a
 * builder that does not look at why it stopped would hash the good prefix, so the corrupt
 * document would lock the same key as {a: 1}. Each must be refused, nested ones too. */
static void
expect_corrupt_refused (const uint8_t *bytes, size_t len, const char *needle)
{
   bson_t b;
   cr_assert (bson_init_static (&b, bytes, len), "the test's BSON (%zu bytes) has a valid frame", len);
   expect_refused ("ns", &b, NULL, needle);
   char *p = NULL;
   bson_error_t error;
   cr_assert_not (mongolock_key_payload ("ns", &b, NULL, &p, NULL, &error), "payload of corrupt BSON: %s", p);
   cr_assert_null (p);
}

Test (key, corrupt_bson_is_refused_not_truncated)
{
   /* {a: 1} itself: 12 bytes, and accepted. */
   static const uint8_t a1[] = {12, 0, 0, 0, 0x10, 'a', 0, 1, 0, 0, 0, 0};
   bson_t ok;
   cr_assert (bson_init_static (&ok, a1, sizeof a1));
   bson_free (key_of ("ns", &ok, NULL, NULL));

   /* {a: 1} then an element of unknown type 0x99 */
   static const uint8_t unknown_type[] = {15, 0, 0, 0, 0x10, 'a', 0, 1, 0, 0, 0, 0x99, 'b', 0, 0};
   expect_corrupt_refused (unknown_type, sizeof unknown_type, "corrupt BSON");
   /* {a: 1} then a string whose length runs past the document */
   static const uint8_t bad_length[] = {21, 0, 0, 0, 0x10, 'a', 0, 1, 0, 0, 0, 0x02, 'b', 0, 0xff, 0, 0, 0, 'x', 0, 0};
   expect_corrupt_refused (bad_length, sizeof bad_length, "corrupt BSON");
   /* {a: 1} then an early end-of-document byte followed by more bytes */
   static const uint8_t early_end[] = {15, 0, 0, 0, 0x10, 'a', 0, 1, 0, 0, 0, 0, 'g', 0, 0};
   expect_corrupt_refused (early_end, sizeof early_end, "corrupt BSON");
   /* {n: {a: 1, <unknown type>}}: the corruption is one level down */
   static const uint8_t nested[] = {23, 0, 0, 0, 0x03, 'n', 0, 15, 0, 0, 0, 0x10, 'a', 0, 1, 0, 0, 0, 0x99, 'b', 0, 0, 0};
   expect_corrupt_refused (nested, sizeof nested, "\"n\" is corrupt BSON");
   /* {n: [1, <bad string length>]} */
   static const uint8_t in_array[] = {29,   0,   0, 0, 0x04, 'n', 0, /* n: [ */
                                      21,   0,   0, 0,                /* the array's length */
                                      0x10, '0', 0, 1, 0,    0,   0, /* 1 */
                                      0x02, '1', 0, 0xff, 0, 0,   0, 'x', 0, /* a string of 255 bytes? */
                                      0,    0};
   expect_corrupt_refused (in_array, sizeof in_array, "\"n\" is corrupt BSON");
}

Test (key, empty_attributes_are_a_valid_singleton_key)
{
   expect_payload ("config", "{}", NULL, "ml1\n6:config\n-\n{}");
}

/* The guard's secret: explicit, from MONGOLOCK_KEY_SECRET, or explicitly none. A client is
 * made for an unused port: creating it does not contact the server. */
static char *
guard_key (mongolock_guard_opts_t *opts, bool *has_secret)
{
   bson_error_t error;
   mongolock_client_t *client = mongolock_client_new ("mongodb://127.0.0.1:9", NULL, &error);
   cr_assert (client, "%s", error.message);
   mongolock_guard_t *guard = mongolock_guard_new (client, opts, &error);
   cr_assert (guard, "%s", error.message);
   bson_t *attrs = json (USERS);
   char *key = NULL;
   cr_assert (mongolock_guard_key (guard, "users", attrs, NULL, &key, &error), "%s", error.message);
   *has_secret = mongolock_guard_has_secret (guard);
   bson_destroy (attrs);
   mongolock_guard_destroy (guard);
   mongolock_client_destroy (client);
   return key;
}

#define PLAIN "ml1:s:63d2a3c60f65d9220acdb8e88f21e90e9493bdfe4250a54672db8f7ed3992302"
#define HMAC_S3CRET "ml1:h:3e91ed3007904e5cfa5eae030c3da9919b61e0c3b16ddeb3eb98387186df4833"

Test (key, guard_secret_sources, .init = mongoc_init, .fini = mongoc_cleanup)
{
   bool has;
   bson_error_t error;
   unsetenv (MONGOLOCK_KEY_SECRET_ENV);
   char *k = guard_key (NULL, &has);
   cr_assert_str_eq (k, PLAIN);
   cr_assert_not (has);
   bson_free (k);

   setenv (MONGOLOCK_KEY_SECRET_ENV, "s3cret", 1);
   k = guard_key (NULL, &has);
   cr_assert_str_eq (k, HMAC_S3CRET, "the guard reads MONGOLOCK_KEY_SECRET");
   cr_assert (has);
   bson_free (k);

   mongolock_guard_opts_t *o = mongolock_guard_opts_new ();
   cr_assert (mongolock_guard_opts_set_secret (o, NULL, 0, &error));
   k = guard_key (o, &has);
   cr_assert_str_eq (k, PLAIN, "an explicit 'no secret' ignores the environment");
   bson_free (k);

   setenv (MONGOLOCK_KEY_SECRET_ENV, "other", 1);
   cr_assert (mongolock_guard_opts_set_secret (o, "s3cret", 6, &error));
   k = guard_key (o, &has);
   cr_assert_str_eq (k, HMAC_S3CRET, "an explicit secret wins over the environment");
   bson_free (k);
   mongolock_guard_opts_destroy (o);

   setenv (MONGOLOCK_KEY_SECRET_ENV, "", 1);
   k = guard_key (NULL, &has);
   cr_assert_str_eq (k, PLAIN, "an empty MONGOLOCK_KEY_SECRET counts as unset");
   bson_free (k);
   unsetenv (MONGOLOCK_KEY_SECRET_ENV);
}

Test (key, guard_options_are_checked)
{
   bson_error_t error;
   mongolock_guard_opts_t *o = mongolock_guard_opts_new ();
   cr_assert_not (mongolock_guard_opts_set_lease_ms (o, MONGOLOCK_LEASE_MIN_MS - 1, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   cr_assert_not (mongolock_guard_opts_set_lease_ms (o, MONGOLOCK_GUARD_LEASE_MAX_MS + 1, &error));
   cr_assert (mongolock_guard_opts_set_lease_ms (o, MONGOLOCK_GUARD_LEASE_MAX_MS, &error));
   cr_assert_not (mongolock_guard_opts_set_wait_ms (o, -1, &error));
   cr_assert_not (mongolock_guard_opts_set_wait_ms (o, MONGOLOCK_GUARD_WAIT_MAX_MS + 1, &error));
   cr_assert (mongolock_guard_opts_set_wait_ms (o, 0, &error));
   cr_assert_not (mongolock_guard_opts_set_secret (o, "x", 0, &error));
   cr_assert_not (mongolock_guard_opts_set_secret (o, NULL, 3, &error));
   cr_assert_not (mongolock_guard_opts_set_lease_ms (NULL, 100, &error));
   cr_assert_null (mongolock_guard_new (NULL, o, &error));
   cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
   mongolock_guard_opts_destroy (o);
   mongolock_guard_opts_destroy (NULL);
   mongolock_guard_destroy (NULL);
   cr_assert_str_eq (mongolock_guard_mode_name (MONGOLOCK_GUARD_MODE_LOCAL), "local");
   cr_assert_str_eq (mongolock_guard_mode_name (MONGOLOCK_GUARD_MODE_LOCKED), "locked");
   cr_assert_str_eq (mongolock_event_type_name (MONGOLOCK_EVENT_DEGRADED), "degraded");
}
