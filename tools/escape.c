/* SPDX-License-Identifier: Apache-2.0 */
/* Showing strings from the database (lock names, holders) without letting their bytes
 * drive the terminal or break the JSON output. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when p starts an invalid one
 * (stray continuation byte, overlong form, surrogate, above U+10FFFF, truncated). */
static size_t
utf8_len (const unsigned char *p, uint32_t *cp)
{
   unsigned c = p[0];
   size_t n;
   uint32_t v, min;
   if (c < 0x80) {
      *cp = c;
      return 1;
   } else if (c >= 0xC2 && c <= 0xDF) {
      n = 2, v = c & 0x1F, min = 0x80;
   } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3, v = c & 0x0F, min = 0x800;
   } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4, v = c & 0x07, min = 0x10000;
   } else {
      return 0;
   }
   for (size_t i = 1; i < n; i++) {
      if ((p[i] & 0xC0) != 0x80) {
         return 0;
      }
      v = (v << 6) | (p[i] & 0x3F);
   }
   if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
      return 0;
   }
   *cp = v;
   return n;
}

/* C0 controls, DEL and C1 controls: a terminal acts on them. And the bidirectional
 * formatting characters (ALM, LRM, RLM, LRE..RLO, LRI..PDI), which reorder what follows
 * on the line as displayed, so that one key could look like another. */
static bool
is_control (uint32_t cp)
{
   return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x061C || cp == 0x200E || cp == 0x200F ||
          (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

char *
cli_escape_text (const char *s)
{
   bson_string_t *out = bson_string_new (NULL);
   const unsigned char *p = (const unsigned char *) (s ? s : "");
   while (*p) {
      uint32_t cp = 0;
      size_t n = utf8_len (p, &cp);
      if (n == 0 || is_control (cp)) {
         for (size_t i = 0; i < (n ? n : 1); i++) {
            bson_string_append_printf (out, "\\x%02X", p[i]);
         }
         p += n ? n : 1;
      } else if (*p == '\\') {
         bson_string_append (out, "\\\\");
         p++;
      } else {
         for (size_t i = 0; i < n; i++) {
            bson_string_append_c (out, (char) p[i]);
         }
         p += n;
      }
   }
   return bson_string_free (out, false);
}

char *
cli_utf8_sanitize (const char *s)
{
   bson_string_t *out = bson_string_new (NULL);
   const unsigned char *p = (const unsigned char *) (s ? s : "");
   while (*p) {
      uint32_t cp;
      size_t n = utf8_len (p, &cp);
      if (n == 0) {
         bson_string_append (out, "\xEF\xBF\xBD"); /* U+FFFD */
         p++;
      } else {
         for (size_t i = 0; i < n; i++) {
            bson_string_append_c (out, (char) p[i]);
         }
         p += n;
      }
   }
   return bson_string_free (out, false);
}

char *
cli_json_escape_controls (const char *json)
{
   bson_string_t *out = bson_string_new (NULL);
   const unsigned char *p = (const unsigned char *) json;
   while (*p) {
      /* Outside strings JSON is ASCII without DEL, so these are inside strings. */
      if (*p == 0x7F) {
         bson_string_append (out, "\\u007f");
         p++;
      } else if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) {
         bson_string_append_printf (out, "\\u00%02x", p[1]);
         p += 2;
      } else {
         bson_string_append_c (out, (char) *p++);
      }
   }
   return bson_string_free (out, false);
}

/* Columns a code point takes on a terminal: 0 for combining marks, 2 for East Asian wide
 * and emoji ranges, else 1 (a table of the common ranges, not the whole of Unicode). */
static int
cp_width (uint32_t cp)
{
   if ((cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x200B && cp <= 0x200F) || (cp >= 0xFE00 && cp <= 0xFE0F)) {
      return 0;
   }
   if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF && cp != 0x303F) ||
       (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0xFE30 && cp <= 0xFE4F) ||
       (cp >= 0xFF00 && cp <= 0xFF60) || (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
       (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD)) {
      return 2;
   }
   return 1;
}

int
cli_display_width (const char *s)
{
   int w = 0;
   const unsigned char *p = (const unsigned char *) (s ? s : "");
   while (*p) {
      uint32_t cp = 0;
      size_t n = utf8_len (p, &cp);
      w += n ? cp_width (cp) : 1;
      p += n ? n : 1;
   }
   return w;
}

void
cli_print_padded (const char *s, int width)
{
   fputs (s, stdout);
   for (int pad = width - cli_display_width (s); pad > 0; pad--) {
      putchar (' ');
   }
}
