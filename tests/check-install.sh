#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs mongolock into a temporary prefix and uses it as a user would:
#   - P/bin/mongolock --version runs (it finds P's libmongolock through its rpath) and names
#     the installed library's version;
#   - the headers, the pkg-config file and the man page are where the README says;
#   - a small program compiled with `pkg-config --cflags --libs mongolock` (and nothing from
#     the source tree) links against the installed library and runs.
# Usage: tests/check-install.sh [PREFIX]   (default: a new temporary directory, removed after)
# Needs the build dependencies (./run build installs them). Builds in its own directory.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix="${1:-$tmp/prefix}"
builddir="$tmp/build"

echo "==> meson setup --prefix=$prefix (library and tool only)"
meson setup "$builddir" --prefix="$prefix" -Dtests=disabled -Dexamples=false -Dbench=false \
  -Dwerror=true >/dev/null
meson compile -C "$builddir" >/dev/null
meson install -C "$builddir" >/dev/null

fail() { echo "check-install: $*" >&2; exit 1; }

version=$(meson introspect --projectinfo "$builddir" | python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')

# Nothing may come from the build tree or the environment.
unset LD_LIBRARY_PATH
[ -x "$prefix/bin/mongolock" ] || fail "no $prefix/bin/mongolock"
out=$("$prefix/bin/mongolock" --version) || fail "the installed mongolock does not run"
echo "$out"
case "$out" in *"libmongolock $version"*) ;; *) fail "--version does not name libmongolock $version" ;; esac
tool_libs=$(ldd "$prefix/bin/mongolock")
grep -q "libmongolock.so.* => $prefix/" <<<"$tool_libs" ||
  fail "the installed mongolock does not load the installed library: $(grep mongolock <<<"$tool_libs")"

[ -f "$prefix/include/mongolock/mongolock.h" ] || fail "no headers in $prefix/include/mongolock"
[ -f "$prefix/include/mongolock/mongolock-version.h" ] || fail "the generated version header is not installed"
[ -f "$prefix/share/man/man1/mongolock.1" ] || fail "no man page in $prefix/share/man/man1"
pc=$(find "$prefix" -name mongolock.pc -path '*/pkgconfig/*' | head -n1)
[ -n "$pc" ] || fail "no mongolock.pc installed"
echo "pkg-config file: ${pc#"$prefix"/}"

export PKG_CONFIG_PATH="$(dirname "$pc")${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
[ "$(pkg-config --modversion mongolock)" = "$version" ] || fail "pkg-config --modversion is not $version"
libdir=$(pkg-config --variable=libdir mongolock)

cat >"$tmp/user.c" <<'C'
#include <mongolock/mongolock.h>
#include <stdio.h>
#include <string.h>

int
main (void)
{
   mongoc_init ();
   bson_error_t error;
   /* No server is contacted: creating a client only parses the URI. */
   mongolock_client_t *client = mongolock_client_new ("mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=100", NULL, &error);
   if (!client) {
      fprintf (stderr, "client: %s\n", error.message);
      return 1;
   }
   mongolock_lock_t *lock = mongolock_lock_new (client, "install-check", NULL, &error);
   int rc = lock && !mongolock_lock_is_held (lock) && strcmp (mongolock_get_version (), MONGOLOCK_VERSION_S) == 0 ? 0 : 1;
   printf ("libmongolock %s (headers %s), lock %s\n", mongolock_get_version (), MONGOLOCK_VERSION_S,
           mongolock_lock_key (lock));
   mongolock_lock_destroy (lock);
   mongolock_client_destroy (client);
   mongoc_cleanup ();
   return rc;
}
C
# shellcheck disable=SC2046
cc -Wall -Wextra -Werror -o "$tmp/user" "$tmp/user.c" $(pkg-config --cflags --libs mongolock) \
  -Wl,-rpath,"$libdir" || fail "a program does not build with pkg-config --cflags --libs mongolock"
case "$(pkg-config --cflags mongolock)" in *"$src"*) fail "pkg-config points into the source tree" ;; esac
"$tmp/user" || fail "the program built against the installed library fails"
user_libs=$(ldd "$tmp/user")
grep -q "libmongolock.so.* => $prefix/" <<<"$user_libs" || fail "the program does not load the installed library"
echo "check-install: the installed tool, headers, pkg-config file, man page and library work"
