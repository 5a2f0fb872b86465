#!/usr/bin/env bash
# Every source, build and script file of the project names its licence in an SPDX line
# ("SPDX-License-Identifier: Apache-2.0") within its first 3 lines.
#   tests/check-spdx.sh          list the files without one and fail, or print a summary
#   tests/check-spdx.sh --list   print the files the rule covers (tools/add-spdx.sh uses it)
# Covered: lib/ include/ tools/ tests/ examples/ bench/ docker/ .ci/ run meson.build
# meson_options.txt; C, shell, meson, JS, Python, YAML, suppression files and man pages.
# Skipped: what cannot hold a comment or is not ours (JSON, node_modules, package-lock.json,
# Markdown) and generated files (only tracked files are read in a git checkout).
set -euo pipefail
cd "$(dirname "$0")/.."

list_files() {
  local roots=(lib include tools tests examples bench docker .ci run meson.build meson_options.txt)
  local existing=() r
  for r in "${roots[@]}"; do [ -e "$r" ] && existing+=("$r"); done
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -- "${existing[@]}"
  else
    find "${existing[@]}" -type f -not -path '*/node_modules/*' -not -path '*/build*/*'
  fi | grep -v -E '(^|/)node_modules/|(^|/)package-lock\.json$|\.json$|\.md$' |
    grep -E '\.(c|h|in|js|py|sh|build|txt|yaml|yml|supp|1)$|(^|/)run$' || true
}

if [ "${1:-}" = --list ]; then list_files; exit 0; fi

missing=()
n=0
while IFS= read -r f; do
  n=$((n + 1))
  head -n 3 "$f" | grep -q 'SPDX-License-Identifier: Apache-2\.0' || missing+=("$f")
done < <(list_files)

if [ ${#missing[@]} -gt 0 ]; then
  printf '%s\n' "${missing[@]}"
  echo "check-spdx: ${#missing[@]} of $n files have no 'SPDX-License-Identifier: Apache-2.0' line in their first 3 lines (tools/add-spdx.sh adds them)" >&2
  exit 1
fi
echo "check-spdx: all $n files carry an SPDX line"
