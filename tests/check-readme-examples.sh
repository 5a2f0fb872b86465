#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every C code block of README.md is a complete program in examples/, shown verbatim, so
# what the README shows is what meson compiles and CI runs (under valgrind). Each ```c block
# must follow a marker line naming its file:
#   <!-- example: examples/readme-lock.c -->
# and equal that file byte for byte, except for a first line holding the file's SPDX
# licence comment, which the README leaves out. Fails with a diff for each block that drifted.
# Usage: tests/check-readme-examples.sh [SOURCE_ROOT]
set -euo pipefail
root="${1:-$(dirname "$0")/..}"
exec python3 - "$root" <<'PY'
import difflib, os, re, sys
root = sys.argv[1]
lines = open(os.path.join(root, "README.md"), encoding="utf-8").read().split("\n")
marker = re.compile(r"^<!-- example: (\S+) -->$")
blocks, bad, i = 0, 0, 0
while i < len(lines):
    if lines[i].strip().startswith("```c"):
        blocks += 1
        start = i
        j = i + 1
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        body = "\n".join(lines[i + 1:j]) + "\n"
        m = marker.match(lines[start - 1]) if start > 0 else None
        if not m:
            print(f"README.md:{start + 1}: a C block without an '<!-- example: FILE -->' line before it")
            bad += 1
        else:
            path = os.path.join(root, m.group(1))
            try:
                want = open(path, encoding="utf-8").read()
                first, _, rest = want.partition("\n")
                if "SPDX-License-Identifier:" in first:
                    want = rest
            except OSError as e:
                print(f"README.md:{start + 1}: {e}")
                bad += 1
            else:
                if want != body:
                    bad += 1
                    print(f"README.md:{start + 1}: the block differs from {m.group(1)}:")
                    sys.stdout.writelines(difflib.unified_diff(
                        want.splitlines(True), body.splitlines(True), m.group(1), "README.md"))
        i = j
    i += 1
if blocks == 0:
    print("README.md has no C block: nothing checked (was the marker format changed?)")
    sys.exit(1)
print(f"{blocks} C block(s) in README.md, {bad} differing from examples/")
sys.exit(1 if bad else 0)
PY
