#!/usr/bin/env bash
# Adds "SPDX-License-Identifier: Apache-2.0" to files that lack it in their first 3 lines,
# in each file type's comment style: C /* ... */, JS // ..., shell, Python, meson, YAML and
# suppression files # ..., man pages .\" ...; after a shebang line when there is one.
# Idempotent: a file that already has the line is left alone.
#   tools/add-spdx.sh            every file tests/check-spdx.sh covers
#   tools/add-spdx.sh FILE...    only these
set -euo pipefail
cd "$(dirname "$0")/.."
id='SPDX-License-Identifier: Apache-2.0'

comment_for() {
  case "$1" in
    *.c|*.h|*.h.in) echo "/* $id */" ;;
    *.js) echo "// $id" ;;
    *.1) echo ".\\\" $id" ;;
    *.sh|*.py|*.build|*.txt|*.yaml|*.yml|*.supp|run|*/run) echo "# $id" ;;
    *) return 1 ;;
  esac
}

if [ $# -eq 0 ]; then
  mapfile -t files < <(tests/check-spdx.sh --list)
else
  files=("$@")
fi

added=0
for f in "${files[@]}"; do
  [ -f "$f" ] || { echo "add-spdx: no such file: $f" >&2; exit 1; }
  head -n 3 "$f" | grep -q "$id" && continue
  line=$(comment_for "$f") || { echo "add-spdx: no comment style for $f" >&2; exit 1; }
  tmp=$(mktemp)
  if head -n 1 "$f" | grep -q '^#!'; then
    { head -n 1 "$f"; printf '%s\n' "$line"; tail -n +2 "$f"; } >"$tmp"
  else
    { printf '%s\n' "$line"; cat "$f"; } >"$tmp"
  fi
  # Keep the file's mode (scripts stay executable).
  cat "$tmp" >"$f"; rm -f "$tmp"
  added=$((added + 1))
done
echo "add-spdx: added the line to $added file(s)"
