/* SPDX-License-Identifier: Apache-2.0 */
/* Keeping URI credentials out of messages (see redact-private.h). Works on the URI as
 * typed, so it also covers URIs that libmongoc refuses or splits wrongly. */
#include "redact-private.h"

#include <string.h>

#define MAX_NEEDLES 64
#define MIN_BARE_SECRET 3

typedef struct {
   char *s[MAX_NEEDLES];
   size_t n;
} needles_t;

static void
add (needles_t *nd, const char *s, size_t len, size_t min_len)
{
   if (len < min_len || len == 0 || nd->n == MAX_NEEDLES) {
      return;
   }
   nd->s[nd->n++] = bson_strndup (s, len);
}

static int
hexval (char c)
{
   return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes s[0..len) (invalid escapes are kept as typed). */
static char *
decode (const char *s, size_t len, size_t *out_len)
{
   char *d = bson_malloc (len + 1);
   size_t k = 0;
   for (size_t i = 0; i < len; i++) {
      if (s[i] == '%' && i + 2 < len && hexval (s[i + 1]) >= 0 && hexval (s[i + 2]) >= 0) {
         d[k++] = (char) (hexval (s[i + 1]) * 16 + hexval (s[i + 2]));
         i += 2;
      } else {
         d[k++] = s[i];
      }
   }
   d[k] = '\0';
   *out_len = k;
   return d;
}

/* A userinfo and its password (after the first ':'). */
static void
add_user_password (needles_t *nd, const char *ui, size_t len)
{
   add (nd, ui, len, MIN_BARE_SECRET);
   const char *colon = memchr (ui, ':', len);
   if (colon) {
      add (nd, colon + 1, len - (size_t) (colon + 1 - ui), MIN_BARE_SECRET);
   }
}

/* The secrets of one userinfo form (as typed, or decoded). */
static void
add_userinfo (needles_t *nd, const char *ui, size_t len)
{
   add_user_password (nd, ui, len);
   /* With an '@' inside, libmongoc splits at the first one: what it takes for the userinfo. */
   for (size_t i = 0; i < len; i++) {
      if (ui[i] == '@') {
         add_user_password (nd, ui, i);
      }
   }
   /* "rest@" for every split point libmongoc or a reader might choose. */
   char *with_at = bson_strdup_printf ("%.*s@", (int) len, ui);
   add (nd, with_at, len + 1, 2);
   for (size_t i = 0; i < len; i++) {
      if (ui[i] == ':' || ui[i] == '@' || ui[i] == '/') {
         add (nd, with_at + i + 1, len - i, 2);
      }
   }
   bson_free (with_at);
}

static void
collect (const char *uri, needles_t *nd)
{
   const char *start = strstr (uri, "://");
   if (!start) {
      return;
   }
   start += 3;
   const char *at = strrchr (start, '@');
   if (!at) {
      return;
   }
   size_t len = (size_t) (at - start);
   add_userinfo (nd, start, len);
   size_t dlen;
   char *decoded = decode (start, len, &dlen);
   if (dlen != len || memcmp (decoded, start, len) != 0) {
      add_userinfo (nd, decoded, dlen);
      /* The password decoded on its own (the user name may decode to hold a ':'). */
      const char *colon = memchr (start, ':', len);
      if (colon) {
         size_t plen;
         char *p = decode (colon + 1, len - (size_t) (colon + 1 - start), &plen);
         add (nd, p, plen, MIN_BARE_SECRET);
         bson_free (p);
      }
   }
   bson_free (decoded);
}

char *
_mongolock_redact_uri (const char *uri, const char *message)
{
   if (!message) {
      return NULL;
   }
   needles_t nd = {.n = 0};
   if (uri) {
      collect (uri, &nd);
   }
   bson_string_t *out = bson_string_new (NULL);
   for (const char *p = message; *p;) {
      /* The longest secret starting here wins. */
      size_t best = 0;
      bool best_at = false;
      for (size_t i = 0; i < nd.n; i++) {
         size_t l = strlen (nd.s[i]);
         if (l > best && strncmp (p, nd.s[i], l) == 0) {
            best = l;
            best_at = nd.s[i][l - 1] == '@';
         }
      }
      if (best) {
         bson_string_append (out, best_at ? "***@" : "***");
         p += best;
      } else {
         bson_string_append_c (out, *p++);
      }
   }
   for (size_t i = 0; i < nd.n; i++) {
      bson_free (nd.s[i]);
   }
   return bson_string_free (out, false);
}

void
_mongolock_redact_error (const char *uri, bson_error_t *error)
{
   if (!error) {
      return;
   }
   error->message[sizeof error->message - 1] = '\0';
   char *r = _mongolock_redact_uri (uri, error->message);
   bson_strncpy (error->message, r, sizeof error->message);
   bson_free (r);
}

bool
_mongolock_uri_userinfo_ambiguous (const char *uri)
{
   const char *p = uri ? strstr (uri, "://") : NULL;
   if (!p) {
      return false;
   }
   int ats = 0;
   for (p += 3; *p && *p != '/' && *p != '?'; p++) {
      ats += *p == '@';
   }
   return ats > 1;
}
