#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Unit test of tests/ready-port.sh: only a complete READY line gives the server's port.
set -uo pipefail
. "$(dirname "$0")/ready-port.sh"
f=$(mktemp)
trap 'rm -f "$f"' EXIT
fail=0
expect() { # CONTENT(printf format) EXPECTED
  printf "$1" > "$f"
  local got; got=$(mltest_ready_port "$f")
  if [ "$got" != "$2" ]; then echo "FAIL: $(printf '%q' "$(cat "$f")") gave '$got', expected '$2'"; fail=1; fi
}
expect 'READY 45678\n' 45678
expect 'READY 4' ''                     # cut short while the server writes it
expect 'READY 45678' ''                 # no newline yet: wait for it
expect 'starting\nREADY 27017\nmore\n' 27017
expect 'READY 12x\n' ''
expect 'NOT READY 1\n' ''
expect '' ''
[ "$fail" -eq 0 ] && echo "ready-port: ok"
exit "$fail"
