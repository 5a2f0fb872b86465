/* SPDX-License-Identifier: Apache-2.0 */
/* URI credentials never reach a message: the redaction helper on many URI shapes, and
 * mongolock_client_new's errors for the URIs. */
#include <criterion/criterion.h>
#include <mongolock/mongolock.h>
#include <string.h>

#include "redact-private.h"

static void
init (void)
{
   mongoc_init ();
}
static void
fini (void)
{
   mongoc_cleanup ();
}
TestSuite (redact, .init = init, .fini = fini);

static void
check (const char *uri, const char *message, const char *expected)
{
   char *r = _mongolock_redact_uri (uri, message);
   cr_assert_str_eq (r, expected, "uri %s, message \"%s\"", uri, message);
   bson_free (r);
}

Test (redact, password_and_userinfo_in_many_uri_shapes)
{
   /* Well-formed: the password goes, the user name may stay. */
   check ("mongodb://alice:S3cr3t@db1/", "auth as alice with S3cr3t failed", "auth as alice with *** failed");
   check ("mongodb://alice:S3cr3t@db1/", "bad URI mongodb://alice:S3cr3t@db1/", "bad URI mongodb://***@db1/");
   check ("mongodb+srv://alice:S3cr3t@cluster0.example.net/?retryWrites=true",
          "Failed to look up SRV record for alice:S3cr3t@cluster0",
          "Failed to look up SRV record for ***@cluster0");
   check ("mongodb://alice:S3cr3t@h1:27017,h2:27018,h3/?replicaSet=rs0",
          "password S3cr3t for h1:27017,h2:27018",
          "password *** for h1:27017,h2:27018");
   /* ':' in the password (unescaped): libmongoc names the whole password. */
   check ("mongodb://alice:S3cr3t:Pa55w0rd@127.0.0.1/",
          "Password \"S3cr3t:Pa55w0rd\" must not have unescaped chars",
          "Password \"***\" must not have unescaped chars");
   check ("mongodb://alice:S3cr3t:Pa55w0rd@127.0.0.1/", "tail Pa55w0rd@127.0.0.1", "tail ***@127.0.0.1");
   /* '@' in the password: libmongoc takes "ss@127.0.0.1" for the host. */
   check ("mongodb://alice:p@ss@127.0.0.1:1/", "[Failed to resolve ss@127.0.0.1]", "[Failed to resolve ***@127.0.0.1]");
   check ("mongodb://alice:pa55@w0rd@127.0.0.1/", "resolve w0rd@127.0.0.1; user alice:pa55",
          "resolve ***@127.0.0.1; user ***");
   /* '@' in the user name, and '/' in the password. */
   check ("mongodb://al@ce:pw123@h/", "host ce:pw123@h and pw123", "host ***@h and ***");
   check ("mongodb://alice:pw/x12@h/", "Invalid host alice:pw/x12@h (x12@h)", "Invalid host ***@h (***@h)");
   /* Percent-encoded: both the typed and the decoded forms. */
   check ("mongodb://alice:p%40ss%3Aw0rd@h/", "typed p%40ss%3Aw0rd decoded p@ss:w0rd", "typed *** decoded ***");
   check ("mongodb://alice:S3%zzcr@h/", "Incorrect URI escapes in password S3%zzcr", "Incorrect URI escapes in password ***");
   /* A user name only, or no userinfo at all: nothing to hide, nothing mangled. */
   check ("mongodb://a@h/", "a lone a: Failed to resolve h", "a lone a: Failed to resolve h");
   check ("mongodb://h1,h2/?appname=x", "Failed to resolve h1", "Failed to resolve h1");
   check ("not a uri", "Invalid URI Schema", "Invalid URI Schema");
   /* A one-letter password is redacted where it stands before '@', not everywhere. */
   check ("mongodb://u:p@h/", "pass u:p@h: p", "pass ***@h: p");
   check (NULL, "unchanged", "unchanged");
   cr_assert_null (_mongolock_redact_uri ("mongodb://u:p@h/", NULL));
}

Test (redact, error_in_place_and_ambiguous_userinfo)
{
   bson_error_t e;
   bson_set_error (&e, 1, 2, "pw is S3cr3t!");
   _mongolock_redact_error ("mongodb://u:S3cr3t@h/", &e);
   cr_assert_str_eq (e.message, "pw is ***!");
   cr_assert_eq (e.domain, 1);
   cr_assert_eq (e.code, 2);
   _mongolock_redact_error ("mongodb://u:S3cr3t@h/", NULL);
   cr_assert (_mongolock_uri_userinfo_ambiguous ("mongodb://alice:p@ss@127.0.0.1/"));
   cr_assert (_mongolock_uri_userinfo_ambiguous ("mongodb+srv://a@b:c@cluster"));
   cr_assert_not (_mongolock_uri_userinfo_ambiguous ("mongodb://alice:p%40ss@127.0.0.1/"));
   cr_assert_not (_mongolock_uri_userinfo_ambiguous ("mongodb://h/?appname=a@b@c"));
   cr_assert_not (_mongolock_uri_userinfo_ambiguous ("mongodb://u:p@h1,h2"));
   cr_assert_not (_mongolock_uri_userinfo_ambiguous (NULL));
}

/* mongolock_client_new's error names neither the password nor any piece of it. */
Test (redact, client_new_errors_hold_no_password)
{
   static const struct {
      const char *uri;
      const char *secrets[3];
   } cases[] = {
      {"mongodb://alice:S3cr3t:Pa55w0rd@127.0.0.1/", {"S3cr3t", "Pa55w0rd", NULL}},
      {"mongodb://alice:S3cr3t@Pa55w0rd@127.0.0.1/", {"S3cr3t", "Pa55w0rd", NULL}},
      {"mongodb://alice:S3cr3t%zzPa55@127.0.0.1/", {"S3cr3t", "Pa55", NULL}},
      {"mongodb://alice:S3cr3t/Pa55w0rd@127.0.0.1/", {"S3cr3t", "Pa55w0rd", NULL}},
      {"mongodb+srv://alice:S3cr3t:Pa55w0rd@cluster.example.net/", {"S3cr3t", "Pa55w0rd", NULL}},
      {"mongodb://alice:S3cr3t@127.0.0.1,[::1/", {"S3cr3t", NULL, NULL}},
   };
   for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      bson_error_t error;
      memset (&error, 0, sizeof error);
      mongolock_client_t *c = mongolock_client_new (cases[i].uri, NULL, &error);
      cr_assert_null (c, "%s was accepted", cases[i].uri);
      cr_assert_eq (error.domain, MONGOLOCK_ERROR_DOMAIN);
      cr_assert_eq (error.code, MONGOLOCK_ERROR_INVALID_ARGUMENT);
      for (int k = 0; cases[i].secrets[k]; k++) {
         cr_assert_null (strstr (error.message, cases[i].secrets[k]), "%s: \"%s\" leaks %s", cases[i].uri,
                         error.message, cases[i].secrets[k]);
      }
   }
}
