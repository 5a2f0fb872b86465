#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# expect-exit.sh CODE CMD [ARGS...]: succeeds only when CMD exits with exactly CODE (a
# program's self-check must fail the way it says, not crash).
code="$1"; shift
"$@"
rc=$?
[ "$rc" -eq "$code" ] && exit 0
echo "expect-exit: expected exit $code, got $rc" >&2
exit 1
