/* SPDX-License-Identifier: Apache-2.0 */
/* A bounded wire-level fuzzer (issue 2: bad input gets a typed error or a closed
 * connection for that client only; the server never crashes or hangs, and other clients
 * are unaffected).
 *
 * It takes valid messages of the kinds mongolock and its tools send - the OP_QUERY and
 * OP_MSG hello, find, insert (with a document sequence), an update with a pipeline, a
 * findAndModify shaped like the lock's acquire, an aggregate - and mutates them: bit
 * flips, truncation, changed length fields, random section kinds and flags, extra
 * sections, huge declared sizes inside the BSON, nesting bombs, garbage tails. Each
 * message goes to the server on a connection of its own, which the fuzzer then
 * half-closes. Every reply must be a well-formed message, and the server must end the
 * connection within a few seconds (a server that waits forever for the rest of a message
 * the peer will never send has hung). After every batch a fresh mongoc client must get an
 * answer to ping within a second.
 *
 * The same holds for a real mongod (src/mongo/transport: a session ends on EOF; op_msg.cpp
 * and bson_validate.cpp refuse malformed input), so the test runs unchanged against one.
 * The run is a fixed number of iterations from a seeded PRNG; the seed is printed first
 * and in every failure, and MONGOLOCK_FUZZ_SEED=<n> replays a run. A 20 s guard stops a
 * slow machine early (and says so) rather than letting the run grow. Mutated messages may
 * write into databases whose names the mutation changed; against a real server those
 * that are near our database's name are dropped at the end. */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conformance.h"

TestSuite (fuzz, .init = conf_init, .fini = conf_fini, .timeout = 240);

#define ITERATIONS 12000
#define BATCH 50
#define GUARD_MS 20000
#define EOF_WAIT_MS 5000
#define PING_MS 1000

typedef struct {
   uint64_t s;
} rng_t;

static uint64_t
rnd (rng_t *r)
{
   /* xorshift64* */
   r->s ^= r->s >> 12;
   r->s ^= r->s << 25;
   r->s ^= r->s >> 27;
   return r->s * UINT64_C (2685821657736338717);
}

static uint32_t
below (rng_t *r, uint32_t n)
{
   return n ? (uint32_t) (rnd (r) % n) : 0;
}

static void
put32 (uint8_t *p, uint32_t v)
{
   p[0] = (uint8_t) v;
   p[1] = (uint8_t) (v >> 8);
   p[2] = (uint8_t) (v >> 16);
   p[3] = (uint8_t) (v >> 24);
}

static uint32_t
get32 (const uint8_t *p)
{
   return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16) | ((uint32_t) p[3] << 24);
}

typedef struct {
   uint8_t *data;
   size_t len;
} msg_t;

static msg_t
op_msg_json (int32_t id, const char *db, const char *json)
{
   bson_t *b = mltest_bson (json);
   BSON_APPEND_UTF8 (b, "$db", db);
   msg_t m;
   m.data = conf_op_msg (id, b, &m.len);
   bson_destroy (b);
   return m;
}

/* The valid messages the mutations start from. */
static int
make_seeds (const char *db, msg_t *seeds)
{
   int n = 0;
   bson_t *hello = mltest_bson ("{'isMaster': 1, 'helloOk': true, 'client': {'driver': {'name': 'fuzz', 'version': '1'}}}");
   seeds[n].data = conf_op_query (1, "admin.$cmd", hello, &seeds[n].len);
   n++;
   bson_destroy (hello);
   seeds[n++] = op_msg_json (2, "admin", "{'hello': 1}");
   seeds[n++] = op_msg_json (3, db,
                             "{'find': 'c', 'filter': {'a': {'$gt': 1}, 'b': {'$in': ['x', 'y']}}, "
                             "'sort': {'a': 1}, 'projection': {'a': 1}, 'batchSize': 2}");
   bson_t *insert = mltest_bson ("{'insert': 'c', 'ordered': false}");
   BSON_APPEND_UTF8 (insert, "$db", db);
   bson_t *d1 = mltest_bson ("{'a': 1, 'b': 'x', 'arr': [1, 2, {'c': null}]}");
   bson_t *d2 = mltest_bson ("{'_id': 7, 'a': {'$numberLong': '9007199254740993'}, 'when': {'$date': 0}}");
   const bson_t *docs[] = {d1, d2};
   seeds[n].data = conf_op_msg_seq (4, insert, "documents", docs, 2, &seeds[n].len);
   n++;
   bson_destroy (d1);
   bson_destroy (d2);
   bson_destroy (insert);
   seeds[n++] = op_msg_json (5, db,
                             "{'update': 'c', 'updates': [{'q': {'_id': 'k'}, 'u': [{'$set': {'n': {'$add': "
                             "[{'$ifNull': ['$n', 0]}, 1]}, 'at': '$$NOW'}}, {'$unset': ['tmp']}], 'upsert': true}], "
                             "'writeConcern': {'w': 'majority'}}");
   seeds[n++] = op_msg_json (6, db,
                             "{'findAndModify': 'c', 'query': {'_id': 'lock'}, 'update': [{'$set': {'take': {'$lte': "
                             "['$expiresAt', '$$NOW']}}}, {'$set': {'owner': {'$cond': ['$take', 'me', '$owner']}, "
                             "'token': {'$max': [{'$add': [{'$ifNull': ['$token', 0]}, 1]}, {'$multiply': "
                             "[{'$toLong': '$$NOW'}, 1048576]}]}, 'expiresAt': {'$add': ['$$NOW', 30000]}}}, "
                             "{'$unset': ['take']}], 'upsert': true, 'new': true}");
   seeds[n++] = op_msg_json (7, db,
                             "{'aggregate': 'c', 'pipeline': [{'$match': {'a': {'$exists': true}}}, {'$group': {'_id': "
                             "'$b', 'n': {'$sum': 1}, 'm': {'$max': '$a'}}}, {'$sort': {'n': -1}}, {'$project': "
                             "{'n': 1, 'live': {'$gt': ['$m', null]}}}], 'cursor': {'batchSize': 5}}");
   return n;
}

/* `depth` containers around {x: 1}, built directly as bytes (appending level by level
 * would copy quadratically): each level is a document {name: child, ...tail} or, with
 * arrays, an array; kind 1 nests {$and: [child]}, kind 2 {$add: [child, 1]}. */
static uint8_t *
nested_bytes (uint32_t depth, int kind, bool arrays, size_t *out_len)
{
   static const uint8_t innermost[] = {12, 0, 0, 0, 0x10, 'x', 0, 1, 0, 0, 0, 0};
   static const uint8_t one[] = {0x10, '1', 0, 1, 0, 0, 0}; /* "1": int32 1 */
   /* Containers from the inside out: kind 0 one per level, kinds 1 and 2 two (array, doc). */
   size_t n = kind == 0 ? depth : 2 * (size_t) depth;
   size_t len = sizeof innermost, head = 0;
   for (size_t k = 0; k < n; k++) {
      bool array_level = kind == 0 ? arrays : (k % 2 == 0);
      const char *name = kind == 0 ? (arrays ? "0" : "a") : (array_level ? "0" : (kind == 1 ? "$and" : "$add"));
      size_t tail = kind == 2 && array_level ? sizeof one : 0;
      head += 4 + 1 + strlen (name) + 1;
      len += 4 + 1 + strlen (name) + 1 + tail + 1;
   }
   uint8_t *buf = bson_malloc (len);
   size_t pos = head, end = head + sizeof innermost;
   memcpy (buf + pos, innermost, sizeof innermost);
   for (size_t k = 0; k < n; k++) {
      bool array_level = kind == 0 ? arrays : (k % 2 == 0);
      const char *name = kind == 0 ? (arrays ? "0" : "a") : (array_level ? "0" : (kind == 1 ? "$and" : "$add"));
      size_t nl = strlen (name);
      size_t start = pos - (4 + 1 + nl + 1);
      /* The child is a document except under an array-valued field. */
      bool child_is_array = kind == 0 ? (arrays && k > 0) : !array_level;
      buf[start + 4] = child_is_array ? 0x04 : 0x03;
      memcpy (buf + start + 5, name, nl + 1);
      if (kind == 2 && array_level) {
         memcpy (buf + end, one, sizeof one);
         end += sizeof one;
      }
      buf[end++] = 0;
      put32 (buf + start, (uint32_t) (end - start));
      pos = start;
   }
   *out_len = len;
   return buf;
}

/* A command with a nesting bomb: in a ping's extra field (kind 0), a find filter of nested
 * $and (kind 1), or a $project of nested $add (kind 2). */
static msg_t
depth_bomb (rng_t *r, const char *db)
{
   static const uint32_t depths[] = {150, 199, 200, 201, 202, 1000, 20000};
   uint32_t depth = depths[below (r, sizeof depths / sizeof depths[0])];
   int kind = (int) below (r, 3);
   size_t nlen;
   uint8_t *nested = nested_bytes (depth, kind, below (r, 2) == 0, &nlen);
   bson_t inner;
   cr_assert (bson_init_static (&inner, nested, nlen));
   bson_t *body = bson_new ();
   if (kind == 1) {
      BSON_APPEND_UTF8 (body, "find", "c");
      BSON_APPEND_DOCUMENT (body, "filter", &inner);
   } else if (kind == 2) {
      bson_t pipe, stage, proj;
      BSON_APPEND_UTF8 (body, "aggregate", "c");
      BSON_APPEND_ARRAY_BEGIN (body, "pipeline", &pipe);
      BSON_APPEND_DOCUMENT_BEGIN (&pipe, "0", &stage);
      BSON_APPEND_DOCUMENT_BEGIN (&stage, "$project", &proj);
      BSON_APPEND_DOCUMENT (&proj, "v", &inner);
      bson_append_document_end (&stage, &proj);
      bson_append_document_end (&pipe, &stage);
      bson_append_array_end (body, &pipe);
      bson_t cursor = BSON_INITIALIZER;
      BSON_APPEND_DOCUMENT (body, "cursor", &cursor);
   } else {
      BSON_APPEND_INT32 (body, "ping", 1);
      BSON_APPEND_DOCUMENT (body, "deep", &inner);
   }
   BSON_APPEND_UTF8 (body, "$db", kind == 0 ? "admin" : db);
   bson_free (nested);
   msg_t m;
   m.data = conf_op_msg ((int32_t) rnd (r), body, &m.len);
   bson_destroy (body);
   return m;
}

static const uint32_t interesting32[] = {0u,         1u,         4u,         5u,          15u,         16u,
                                         17u,        0x7fu,      0x80u,      0xffu,       0x7fffu,     0xffffu,
                                         48000000u,  48000001u,  16777216u,  16793600u,   0x7fffffffu, 0x80000000u,
                                         0xfffffffeu, 0xffffffffu};

/* A mutated copy of seed; describes the mutation in what. */
static msg_t
mutate (rng_t *r, const msg_t *seed, const char *db, char *what, size_t what_len)
{
   msg_t m;
   int strategy = (int) below (r, 12);
   if (strategy == 11) {
      snprintf (what, what_len, "depth bomb");
      return depth_bomb (r, db);
   }
   /* Room for appended bytes. */
   size_t cap = seed->len + 4096;
   m.data = bson_malloc0 (cap);
   memcpy (m.data, seed->data, seed->len);
   m.len = seed->len;
   switch (strategy) {
   case 0: {
      uint32_t flips = 1 + below (r, 8);
      for (uint32_t i = 0; i < flips; i++) {
         size_t at = below (r, (uint32_t) m.len);
         m.data[at] ^= (uint8_t) (1u << below (r, 8));
      }
      snprintf (what, what_len, "%" PRIu32 " bit flips", flips);
      break;
   }
   case 1:
      m.len = below (r, (uint32_t) m.len);
      snprintf (what, what_len, "truncated to %zu bytes", m.len);
      break;
   case 2:
      m.len = 16 + below (r, (uint32_t) m.len - 16);
      put32 (m.data, (uint32_t) m.len);
      snprintf (what, what_len, "truncated to %zu bytes, length field fixed", m.len);
      break;
   case 3: {
      uint32_t v = below (r, 2) ? interesting32[below (r, sizeof interesting32 / sizeof interesting32[0])]
                                : (uint32_t) rnd (r);
      put32 (m.data, v);
      snprintf (what, what_len, "messageLength %" PRIu32 " (actual %zu)", v, m.len);
      break;
   }
   case 4: {
      /* A random byte at a random offset past the header: section kinds, BSON types,
       * lengths. */
      size_t at = 16 + below (r, (uint32_t) m.len - 16);
      static const uint8_t vals[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x7f, 0x80, 0xff, 0x13, 0x42};
      m.data[at] = below (r, 2) ? vals[below (r, sizeof vals)] : (uint8_t) rnd (r);
      snprintf (what, what_len, "byte %zu set to 0x%02x", at, m.data[at]);
      break;
   }
   case 5: {
      /* An extra section of a random kind and random content. */
      uint32_t n = below (r, 64);
      m.data[m.len] = below (r, 2) ? (uint8_t) below (r, 3) : (uint8_t) rnd (r);
      put32 (m.data + m.len + 1, below (r, 2) ? n + 4 : (uint32_t) rnd (r));
      for (uint32_t i = 0; i < n; i++) {
         m.data[m.len + 5 + i] = (uint8_t) rnd (r);
      }
      m.len += 5 + n;
      put32 (m.data, (uint32_t) m.len);
      snprintf (what, what_len, "extra section kind %u, %" PRIu32 " bytes", m.data[seed->len], n);
      break;
   }
   case 6: {
      /* A huge or negative int32 at a random offset inside the BSON: document, string,
       * binary and sequence lengths. */
      if (m.len < 26) {
         break;
      }
      size_t at = 21 + below (r, (uint32_t) m.len - 25);
      uint32_t v = interesting32[below (r, sizeof interesting32 / sizeof interesting32[0])];
      put32 (m.data + at, v);
      snprintf (what, what_len, "int32 at %zu set to %" PRIu32, at, v);
      break;
   }
   case 7: {
      /* The message twice, or followed by garbage. */
      if (below (r, 2)) {
         memcpy (m.data + m.len, seed->data, seed->len < 4096 ? seed->len : 4096);
         m.len += seed->len < 4096 ? seed->len : 4096;
         snprintf (what, what_len, "sent twice");
      } else {
         uint32_t n = 1 + below (r, 600);
         for (uint32_t i = 0; i < n; i++) {
            m.data[m.len + i] = (uint8_t) rnd (r);
         }
         m.len += n;
         snprintf (what, what_len, "%" PRIu32 " bytes of garbage after it", n);
      }
      break;
   }
   case 8: {
      uint32_t flags = below (r, 2) ? (1u << below (r, 32)) : (uint32_t) rnd (r);
      if (m.len >= 20) {
         put32 (m.data + 16, flags);
      }
      snprintf (what, what_len, "flagBits 0x%08" PRIx32, flags);
      break;
   }
   case 9: {
      /* Another opcode, among them removed legacy ones and OP_COMPRESSED. */
      static const uint32_t ops[] = {1, 1000, 2001, 2002, 2004, 2005, 2006, 2007, 2010, 2011, 2012, 2013, 0, 0xffffffffu};
      uint32_t op = ops[below (r, sizeof ops / sizeof ops[0])];
      put32 (m.data + 12, op);
      snprintf (what, what_len, "opCode %" PRIu32, op);
      break;
   }
   default: {
      /* Random bytes over a random stretch. */
      size_t at = below (r, (uint32_t) m.len);
      size_t n = 1 + below (r, 32);
      for (size_t i = at; i < m.len && i < at + n; i++) {
         m.data[i] = (uint8_t) rnd (r);
      }
      snprintf (what, what_len, "%zu random bytes at %zu", n, at);
      break;
   }
   }
   if (below (r, 4) == 0 && m.len > 0) {
      size_t at = below (r, (uint32_t) m.len);
      m.data[at] ^= (uint8_t) (1u << below (r, 8));
      size_t used = strlen (what);
      snprintf (what + used, what_len - used, " + a bit flip at %zu", at);
   }
   return m;
}

/* Reads until the server closes the connection. Returns false (with why) when it does not
 * close within EOF_WAIT_MS, or sends something that is not a well-formed message. */
static bool
drain_until_closed (int fd, char *why, size_t why_len)
{
   int64_t deadline = mltest_now_ms () + EOF_WAIT_MS;
   uint8_t *buf = NULL;
   size_t have = 0, cap = 0;
   for (;;) {
      while (have >= 4) {
         uint32_t len = get32 (buf);
         if (len < 16 || len > 48000000u) {
            snprintf (why, why_len, "a reply with messageLength %" PRIu32, len);
            bson_free (buf);
            return false;
         }
         if (have < len) {
            break;
         }
         bson_t reply;
         int32_t opcode;
         if (!conf_parse_reply (buf, len, &reply, NULL, &opcode)) {
            snprintf (why, why_len, "an unparsable reply of %" PRIu32 " bytes", len);
            bson_free (buf);
            return false;
         }
         bson_destroy (&reply);
         memmove (buf, buf + len, have - len);
         have -= len;
      }
      int64_t left = deadline - mltest_now_ms ();
      if (left <= 0) {
         snprintf (why, why_len, "the connection was still open %d ms after the input ended", EOF_WAIT_MS);
         bson_free (buf);
         return false;
      }
      struct pollfd p = {.fd = fd, .events = POLLIN};
      int rc = poll (&p, 1, (int) left);
      if (rc < 0 && errno == EINTR) {
         continue;
      }
      if (rc == 0) {
         continue;
      }
      if (cap - have < 65536) {
         cap = cap * 2 + 65536;
         buf = bson_realloc (buf, cap);
      }
      ssize_t n = recv (fd, buf + have, cap - have, 0);
      if (n < 0 && errno == EINTR) {
         continue;
      }
      if (n <= 0) {
         /* EOF or reset: the server ended it. A partial reply before that is not OK. */
         bool whole = have == 0;
         if (!whole) {
            snprintf (why, why_len, "the connection closed in the middle of a reply (%zu bytes)", have);
         }
         bson_free (buf);
         return whole;
      }
      have += (size_t) n;
   }
}

/* A fresh client (new connection, short timeouts) pings the server. */
static bool
ping_ok (char *why, size_t why_len)
{
   bson_error_t error;
   mongoc_uri_t *uri = mongoc_uri_new_with_error (mltest_uri (), &error);
   cr_assert (uri, "bad MONGOLOCK_TEST_URI: %s", error.message);
   mongoc_uri_set_option_as_int32 (uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, PING_MS);
   mongoc_uri_set_option_as_int32 (uri, MONGOC_URI_CONNECTTIMEOUTMS, PING_MS);
   mongoc_uri_set_option_as_int32 (uri, MONGOC_URI_SOCKETTIMEOUTMS, PING_MS);
   mongoc_client_t *c = mongoc_client_new_from_uri_with_error (uri, &error);
   cr_assert (c, "%s", error.message);
   bson_t *cmd = BCON_NEW ("ping", BCON_INT32 (1));
   bson_t reply;
   bool ok = mongoc_client_command_simple (c, "admin", cmd, NULL, &reply, &error);
   if (!ok) {
      snprintf (why, why_len, "ping from a fresh client failed: %s", error.message);
   }
   bson_destroy (&reply);
   bson_destroy (cmd);
   mongoc_client_destroy (c);
   mongoc_uri_destroy (uri);
   return ok;
}

/* Drops the databases that mutated $db names may have created: same length as ours and at
 * most three characters different. Only where listDatabases exists (a real server). */
static void
drop_near_names (const char *db)
{
   mongoc_client_t *c = mltest_client ();
   bson_t *cmd = BCON_NEW ("listDatabases", BCON_INT32 (1), "nameOnly", BCON_BOOL (true));
   bson_t reply;
   bson_error_t error;
   if (mongoc_client_command_simple (c, "admin", cmd, NULL, &reply, &error)) {
      bson_iter_t it, dbs, d;
      if (bson_iter_init_find (&it, &reply, "databases") && bson_iter_recurse (&it, &dbs)) {
         while (bson_iter_next (&dbs)) {
            if (!bson_iter_recurse (&dbs, &d) || !bson_iter_find (&d, "name") || !BSON_ITER_HOLDS_UTF8 (&d)) {
               continue;
            }
            const char *name = bson_iter_utf8 (&d, NULL);
            if (strlen (name) != strlen (db) || strcmp (name, db) == 0) {
               continue;
            }
            int diff = 0;
            for (size_t i = 0; name[i]; i++) {
               diff += name[i] != db[i];
            }
            if (diff <= 3) {
               mltest_drop_db (c, name);
            }
         }
      }
   }
   bson_destroy (&reply);
   bson_destroy (cmd);
   mongoc_client_destroy (c);
}

Test (fuzz, mutated_messages_never_crash_or_hang_the_server)
{
   uint64_t seed;
   const char *env = getenv ("MONGOLOCK_FUZZ_SEED");
   if (env && *env) {
      seed = strtoull (env, NULL, 0);
   } else {
      seed = (uint64_t) mltest_now_ms () ^ ((uint64_t) getpid () << 32);
   }
   if (!seed) {
      seed = 1;
   }
   rng_t r = {seed};
   cr_log_info ("fuzz seed %" PRIu64 " (replay with MONGOLOCK_FUZZ_SEED=%" PRIu64 ")", seed, seed);
   fprintf (stderr, "conf-fuzz: seed %" PRIu64 "\n", seed);

   char *db = mltest_db_name ("fuzz");
   msg_t seeds[8];
   int nseeds = make_seeds (db, seeds);
   char why[640] = "";
   cr_assert (ping_ok (why, sizeof why), "seed %" PRIu64 ": before fuzzing: %s", seed, why);

   int64_t start = mltest_now_ms ();
   int done = 0;
   for (; done < ITERATIONS; done++) {
      if (mltest_now_ms () - start > GUARD_MS) {
         /* Not cr_log_warn: Criterion exits 1 after a warning, failing a passing test. */
         fprintf (stderr, "conf-fuzz: stopped after %d of %d iterations: the %d ms guard ran out (a slow machine)\n",
                  done, ITERATIONS, GUARD_MS);
         break;
      }
      int which = (int) below (&r, (uint32_t) nseeds);
      char what[160];
      msg_t m = mutate (&r, &seeds[which], db, what, sizeof what);
      int fd = conf_raw_connect ();
      /* In one to three pieces: the server must put a message together from parts. */
      size_t sent = 0;
      int pieces = 1 + (int) below (&r, 3);
      for (int p = 0; p < pieces && sent < m.len; p++) {
         size_t n = p == pieces - 1 ? m.len - sent : below (&r, (uint32_t) (m.len - sent + 1));
         if (!conf_raw_send (fd, m.data + sent, n)) {
            break; /* the server already hung up: fine */
         }
         sent += n;
      }
      shutdown (fd, SHUT_WR);
      bool ok = drain_until_closed (fd, why, sizeof why);
      close (fd);
      cr_assert (ok, "seed %" PRIu64 ", iteration %d, seed message %d, %s: %s", seed, done, which, what, why);
      bson_free (m.data);
      if ((done + 1) % BATCH == 0) {
         cr_assert (ping_ok (why, sizeof why), "seed %" PRIu64 ", after iteration %d: %s", seed, done, why);
      }
   }
   int64_t ms = mltest_now_ms () - start;
   cr_assert (ping_ok (why, sizeof why), "seed %" PRIu64 ", at the end: %s", seed, why);
   cr_log_info ("fuzz: %d messages in %" PRId64 " ms", done, ms);
   fprintf (stderr, "conf-fuzz: %d mutated messages in %" PRId64 " ms\n", done, ms);

   for (int i = 0; i < nseeds; i++) {
      bson_free (seeds[i].data);
   }
   drop_near_names (db);
   mongoc_client_t *c = mltest_client ();
   conf_close (c, db);
}
