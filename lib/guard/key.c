/* SPDX-License-Identifier: Apache-2.0 */
/* Canonical keys: the version-1 payload (see mongolock-guard.h) and its hash. */
#include "guard-private.h"

#include <math.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_MAX_BYTES 1024
#define PATH_MAX_CHARS 128

/* A bounded output buffer: appends past MONGOLOCK_KEY_PAYLOAD_MAX_BYTES fail. */
typedef struct {
   char data[MONGOLOCK_KEY_PAYLOAD_MAX_BYTES + 1];
   size_t len;
} payload_t;

static bool
too_long (bson_error_t *error)
{
   _mongolock_set_error (error,
                         MONGOLOCK_ERROR_INVALID_ARGUMENT,
                         "the key payload exceeds %d bytes",
                         MONGOLOCK_KEY_PAYLOAD_MAX_BYTES);
   return false;
}

static bool
put (payload_t *p, const void *bytes, size_t n, bson_error_t *error)
{
   if (n > MONGOLOCK_KEY_PAYLOAD_MAX_BYTES - p->len) {
      return too_long (error);
   }
   memcpy (p->data + p->len, bytes, n);
   p->len += n;
   p->data[p->len] = '\0';
   return true;
}

static bool
putf (payload_t *p, bson_error_t *error, const char *fmt, ...) BSON_GNUC_PRINTF (3, 4);

static bool
putf (payload_t *p, bson_error_t *error, const char *fmt, ...)
{
   char tmp[64];
   va_list ap;
   va_start (ap, fmt);
   int n = vsnprintf (tmp, sizeof tmp, fmt, ap);
   va_end (ap);
   BSON_ASSERT (n >= 0 && (size_t) n < sizeof tmp);
   return put (p, tmp, (size_t) n, error);
}

/* netstr(x) = <len> ":" x */
static bool
put_netstr (payload_t *p, const char *s, size_t n, bson_error_t *error)
{
   return putf (p, error, "%zu:", n) && put (p, s, n, error);
}

static bool
put_hex (payload_t *p, const uint8_t *bytes, size_t n, bson_error_t *error)
{
   static const char digits[] = "0123456789abcdef";
   if (2 * n > MONGOLOCK_KEY_PAYLOAD_MAX_BYTES - p->len) {
      return too_long (error);
   }
   for (size_t i = 0; i < n; i++) {
      p->data[p->len++] = digits[bytes[i] >> 4];
      p->data[p->len++] = digits[bytes[i] & 15];
   }
   p->data[p->len] = '\0';
   return true;
}

static const char *
type_name (bson_type_t t)
{
   switch (t) {
   case BSON_TYPE_DECIMAL128:
      return "decimal128";
   case BSON_TYPE_REGEX:
      return "regex";
   case BSON_TYPE_TIMESTAMP:
      return "timestamp";
   case BSON_TYPE_CODE:
   case BSON_TYPE_CODEWSCOPE:
      return "javascript";
   case BSON_TYPE_SYMBOL:
      return "symbol";
   case BSON_TYPE_DBPOINTER:
      return "dbPointer";
   case BSON_TYPE_UNDEFINED:
      return "undefined";
   case BSON_TYPE_MINKEY:
      return "minKey";
   case BSON_TYPE_MAXKEY:
      return "maxKey";
   default:
      return "unknown";
   }
}

/* Numbers: integral values in the int64 range are "i<n>;" whatever their BSON type, the
 * rest of the doubles their IEEE-754 bits. */
static bool
put_double (payload_t *p, double d, bson_error_t *error)
{
   if (isnan (d)) {
      return put (p, "dnan;", 5, error);
   }
   /* [-2^63, 2^63): every integral double here converts to int64 exactly. */
   if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == trunc (d)) {
      return putf (p, error, "i%" PRId64 ";", (int64_t) d);
   }
   uint64_t bits;
   memcpy (&bits, &d, sizeof bits);
   return putf (p, error, "d%016" PRIx64 ";", bits);
}

typedef struct {
   const char *key;
   size_t key_len;
   bson_iter_t it;
} field_t;

static int
field_cmp (const void *a, const void *b)
{
   const field_t *x = a, *y = b;
   size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
   int c = memcmp (x->key, y->key, n);
   if (c != 0) {
      return c;
   }
   return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static bool encode_container (payload_t *p, bson_iter_t *children, bool is_array, int depth, char *path, bson_error_t *error);

/* path: the field path so far ("a.b"), for error messages; restored before returning. */
static bool
encode_value (payload_t *p, bson_iter_t *it, int depth, char *path, bson_error_t *error)
{
   bson_type_t t = bson_iter_type (it);
   switch (t) {
   case BSON_TYPE_DOCUMENT:
   case BSON_TYPE_ARRAY: {
      if (depth + 1 > MONGOLOCK_KEY_MAX_DEPTH) {
         _mongolock_set_error (error,
                               MONGOLOCK_ERROR_INVALID_ARGUMENT,
                               "key attribute \"%s\" nests deeper than %d levels",
                               path,
                               MONGOLOCK_KEY_MAX_DEPTH);
         return false;
      }
      bson_iter_t child;
      if (!bson_iter_recurse (it, &child)) {
         _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "key attribute \"%s\" is corrupt BSON", path);
         return false;
      }
      return encode_container (p, &child, t == BSON_TYPE_ARRAY, depth + 1, path, error);
   }
   case BSON_TYPE_UTF8: {
      uint32_t n;
      const char *s = bson_iter_utf8 (it, &n);
      if (!bson_utf8_validate (s, n, true)) {
         _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "key attribute \"%s\" is not valid UTF-8", path);
         return false;
      }
      return put (p, "s", 1, error) && put_netstr (p, s, n, error) && put (p, ";", 1, error);
   }
   case BSON_TYPE_INT32:
      return putf (p, error, "i%" PRId32 ";", bson_iter_int32 (it));
   case BSON_TYPE_INT64:
      return putf (p, error, "i%" PRId64 ";", bson_iter_int64 (it));
   case BSON_TYPE_DOUBLE:
      return put_double (p, bson_iter_double (it), error);
   case BSON_TYPE_BOOL:
      return put (p, bson_iter_bool (it) ? "t;" : "f;", 2, error);
   case BSON_TYPE_NULL:
      return put (p, "z;", 2, error);
   case BSON_TYPE_OID: {
      char hex[25];
      bson_oid_to_string (bson_iter_oid (it), hex);
      return put (p, "o", 1, error) && put (p, hex, 24, error) && put (p, ";", 1, error);
   }
   case BSON_TYPE_DATE_TIME:
      return putf (p, error, "D%" PRId64 ";", bson_iter_date_time (it));
   case BSON_TYPE_BINARY: {
      bson_subtype_t sub;
      uint32_t n;
      const uint8_t *bytes;
      bson_iter_binary (it, &sub, &n, &bytes);
      return putf (p, error, "b%d:", (int) sub) && put_hex (p, bytes, n, error) && put (p, ";", 1, error);
   }
   case BSON_TYPE_EOD:
   case BSON_TYPE_DECIMAL128:
   case BSON_TYPE_REGEX:
   case BSON_TYPE_TIMESTAMP:
   case BSON_TYPE_CODE:
   case BSON_TYPE_CODEWSCOPE:
   case BSON_TYPE_SYMBOL:
   case BSON_TYPE_DBPOINTER:
   case BSON_TYPE_UNDEFINED:
   case BSON_TYPE_MINKEY:
   case BSON_TYPE_MAXKEY:
   default:
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_INVALID_ARGUMENT,
                            "key attribute \"%s\" has unsupported BSON type %s",
                            path,
                            type_name (t));
      return false;
   }
}

/* Appends ".key" (or "key" at the top) to path, truncating; returns the old length. */
static size_t
path_push (char *path, const char *key)
{
   size_t old = strlen (path);
   if (old < PATH_MAX_CHARS) {
      snprintf (path + old, PATH_MAX_CHARS + 1 - old, "%s%s", old ? "." : "", key);
   }
   return old;
}

static bool
encode_container (payload_t *p, bson_iter_t *children, bool is_array, int depth, char *path, bson_error_t *error)
{
   field_t *fields = NULL;
   size_t n = 0, cap = 0;
   bool ok = false;
   while (bson_iter_next (children)) {
      if (n == cap) {
         cap = cap ? cap * 2 : 8;
         fields = bson_realloc (fields, cap * sizeof *fields);
      }
      fields[n].key = bson_iter_key (children);
      fields[n].key_len = strlen (fields[n].key);
      fields[n].it = *children;
      n++;
   }
   /* bson_iter_next returns false both at the end and at a corrupt element; only then is
    * err_off non-zero (libbson, bson-iter.c: _bson_iter_next_internal). Stopping there
    * would hash the good prefix: {a: 1, <corrupt>} would lock the same key as {a: 1}. */
   if (children->err_off != 0) {
      if (path[0]) {
         _mongolock_set_error (error,
                               MONGOLOCK_ERROR_INVALID_ARGUMENT,
                               "key attribute \"%s\" is corrupt BSON (at byte %" PRIu32 " of it)",
                               path,
                               children->err_off);
      } else {
         _mongolock_set_error (error,
                               MONGOLOCK_ERROR_INVALID_ARGUMENT,
                               "key attributes are corrupt BSON (at byte %" PRIu32 ")",
                               children->err_off);
      }
      goto done;
   }
   if (!is_array && n > 1) {
      qsort (fields, n, sizeof *fields, field_cmp);
      for (size_t i = 1; i < n; i++) {
         if (field_cmp (&fields[i - 1], &fields[i]) == 0) {
            size_t old = path_push (path, fields[i].key);
            _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "key attribute \"%s\" appears twice", path);
            path[old] = '\0';
            goto done;
         }
      }
   }
   if (!put (p, is_array ? "[" : "{", 1, error)) {
      goto done;
   }
   for (size_t i = 0; i < n; i++) {
      size_t old = path_push (path, fields[i].key);
      bool field_ok = true;
      if (!is_array) {
         if (!bson_utf8_validate (fields[i].key, fields[i].key_len, false)) {
            _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "a key attribute's name is not valid UTF-8");
            field_ok = false;
         } else {
            field_ok = put_netstr (p, fields[i].key, fields[i].key_len, error);
         }
      }
      field_ok = field_ok && encode_value (p, &fields[i].it, depth, path, error);
      path[old] = '\0';
      if (!field_ok) {
         goto done;
      }
   }
   ok = put (p, is_array ? "]" : "}", 1, error);
done:
   bson_free (fields);
   return ok;
}

/* Builds the payload into a heap buffer (wiped and freed by the caller). */
static payload_t *
build_payload (const char *ns, const bson_t *attributes, const char *principal, bson_error_t *error)
{
   if (!_mongolock_check_string ("key namespace", ns, NS_MAX_BYTES, error)) {
      return NULL;
   }
   if (principal && !_mongolock_check_string ("key principal", principal, MONGOLOCK_KEY_PAYLOAD_MAX_BYTES, error)) {
      return NULL;
   }
   if (!attributes) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "key attributes are NULL");
      return NULL;
   }
   bson_iter_t it;
   if (!bson_iter_init (&it, attributes)) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "key attributes are corrupt BSON");
      return NULL;
   }
   payload_t *p = bson_malloc0 (sizeof *p);
   char path[PATH_MAX_CHARS + 1] = "";
   bool ok = put (p, "ml1\n", 4, error) && put_netstr (p, ns, strlen (ns), error) && put (p, "\n", 1, error) &&
             (principal ? put (p, "p", 1, error) && put_netstr (p, principal, strlen (principal), error)
                        : put (p, "-", 1, error)) &&
             put (p, "\n", 1, error) && encode_container (p, &it, false, 1, path, error);
   if (!ok) {
      OPENSSL_cleanse (p, sizeof *p);
      bson_free (p);
      return NULL;
   }
   return p;
}

static void
payload_free (payload_t *p)
{
   if (p) {
      OPENSSL_cleanse (p, sizeof *p); /* attribute values may be personal data */
      bson_free (p);
   }
}

bool
mongolock_key_payload (const char *ns,
                       const bson_t *attributes,
                       const char *principal,
                       char **payload_out,
                       size_t *len_out,
                       bson_error_t *error)
{
   if (!payload_out) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "payload_out is NULL");
      return false;
   }
   *payload_out = NULL;
   payload_t *p = build_payload (ns, attributes, principal, error);
   if (!p) {
      return false;
   }
   *payload_out = bson_malloc (p->len + 1);
   memcpy (*payload_out, p->data, p->len + 1);
   if (len_out) {
      *len_out = p->len;
   }
   payload_free (p);
   return true;
}

bool
mongolock_key_build (const char *ns,
                     const bson_t *attributes,
                     const char *principal,
                     const void *secret,
                     size_t secret_len,
                     char **key_out,
                     bson_error_t *error)
{
   if (!key_out) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INVALID_ARGUMENT, "key_out is NULL");
      return false;
   }
   *key_out = NULL;
   if (secret && (secret_len == 0 || secret_len > MONGOLOCK_KEY_SECRET_MAX_BYTES)) {
      _mongolock_set_error (error,
                            MONGOLOCK_ERROR_INVALID_ARGUMENT,
                            "the key secret must be 1 to %d bytes long",
                            MONGOLOCK_KEY_SECRET_MAX_BYTES);
      return false;
   }
   payload_t *p = build_payload (ns, attributes, principal, error);
   if (!p) {
      return false;
   }
   unsigned char md[SHA256_DIGEST_LENGTH];
   bool ok = true;
   if (secret) {
      unsigned int md_len = 0;
      ok = HMAC (EVP_sha256 (), secret, (int) secret_len, (const unsigned char *) p->data, p->len, md, &md_len) &&
           md_len == SHA256_DIGEST_LENGTH;
   } else {
      ok = SHA256 ((const unsigned char *) p->data, p->len, md) != NULL;
   }
   payload_free (p);
   if (!ok) {
      _mongolock_set_error (error, MONGOLOCK_ERROR_INTERNAL, "OpenSSL could not hash the key payload");
      return false;
   }
   static const char digits[] = "0123456789abcdef";
   char *key = bson_malloc (MONGOLOCK_KEY_LENGTH + 1);
   memcpy (key, secret ? "ml1:h:" : "ml1:s:", 6);
   for (size_t i = 0; i < sizeof md; i++) {
      key[6 + 2 * i] = digits[md[i] >> 4];
      key[6 + 2 * i + 1] = digits[md[i] & 15];
   }
   key[MONGOLOCK_KEY_LENGTH] = '\0';
   OPENSSL_cleanse (md, sizeof md);
   *key_out = key;
   return true;
}
