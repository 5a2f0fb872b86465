/* SPDX-License-Identifier: Apache-2.0 */
/* Keeping URI credentials out of messages. Internal; also compiled into the CLI, so it
 * depends on libbson only. */
#ifndef MONGOLOCK_REDACT_PRIVATE_H
#define MONGOLOCK_REDACT_PRIVATE_H

#include <bson/bson.h>

#include <stdbool.h>

/*
 * Returns a copy of message (the caller frees it with bson_free) in which every secret of
 * the MongoDB URI uri is replaced by "***": the userinfo (everything between "://" and the
 * last '@' of the string, as typed and percent-decoded), the password (after the
 * userinfo's first ':'), the same for each shorter userinfo ending before an '@' in it
 * (libmongoc splits at the first '@'), and the userinfo and each of its tails that starts after a ':',
 * '@' or '/', followed by '@' (so "Failed to resolve ss@host" from "user:p@ss@host"
 * becomes "Failed to resolve ***@host"). A userinfo or password shorter than 3 bytes is
 * redacted only in those '@'-terminated forms (a bare "p" would blank every 'p'). uri or
 * message NULL: a copy of message (or NULL). Never fails; thread-safe.
 */
char *
_mongolock_redact_uri (const char *uri, const char *message);

/* Redacts error->message in place (see _mongolock_redact_uri). error NULL: no-op. */
void
_mongolock_redact_error (const char *uri, bson_error_t *error);

/*
 * Whether uri's authority (between "://" and the next '/', '?' or the end) holds more than
 * one '@': a user name or password with an unescaped '@', which libmongoc would split
 * into a wrong password and a host name made of the rest of the password.
 */
bool
_mongolock_uri_userinfo_ambiguous (const char *uri);

/* The explanation for such a URI (without the URI). */
#define _MONGOLOCK_AMBIGUOUS_USERINFO                                                          \
   "the user name or password holds an unescaped '@' (percent-encode it as %40, and ':' as " \
   "%3A, as RFC 3986 requires)"

#endif
