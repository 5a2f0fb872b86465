#!/usr/bin/env bash
# Builds the API reference: meson compile -C build docs (meson passes the arguments).
# Usage: build-docs.sh DOXYGEN DOXYFILE SOURCE_ROOT
# Doxygen warns only about members of documented files, so a public header without an
# @file block would pass unchecked: every header must have one. Then any Doxygen warning
# (WARN_AS_ERROR = FAIL_ON_WARNINGS) fails the build.
set -euo pipefail
doxygen="$1" doxyfile=$(realpath "$2") src="$3"
bad=0
for h in "$src"/include/mongolock/*.h "$src"/include/mongolock/*.h.in; do
  if ! grep -q '@file' "$h"; then
    echo "${h#"$src"/}: no @file block: Doxygen would not check its functions" >&2
    bad=1
  fi
done
[ "$bad" -eq 0 ] || exit 1
cd "$(dirname "$doxyfile")"
"$doxygen" "$doxyfile"
echo "API reference: $(pwd)/html/index.html"
