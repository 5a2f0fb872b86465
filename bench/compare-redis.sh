#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Uncontended lock cycle, side by side (docs/from-redis.md): mongolock's bench-acquire on the
# bundled test server (or MONGOLOCK_URI) and bench-redis-lock on a throwaway redis-server
# (--save '' --appendonly no); then the polling load of one mongolock waiter (bench-wait-load,
# default backoff and a 1 s cap). Each server is started on 127.0.0.1 and stopped by its PID.
#   bench/compare-redis.sh [CYCLES] [BUILDDIR]      (defaults: 5000, build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cycles="${1:-5000}"
build="${2:-$root/build}"
for exe in bench/bench-acquire bench/bench-wait-load bench/bench-redis-lock; do
  [ -x "$build/$exe" ] || { echo "compare-redis: $build/$exe is missing (build first; bench-redis-lock needs libhiredis-dev)" >&2; exit 1; }
done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
# mongo PROGRAM ARGS...: runs PROGRAM URI ARGS against MONGOLOCK_URI, else against the bundled
# test server, which tests/run-live.sh starts and stops by PID.
mongo() {
  if [ -n "${MONGOLOCK_URI:-}" ]; then
    "$1" "$MONGOLOCK_URI" "${@:2}"
  else
    MONGOD_LITE="$root/tests/mongod-lite/server.js" "$root/tests/run-live.sh" \
      bash -c '"$0" "$MONGOLOCK_TEST_URI" "$@"' "$@"
  fi
}
mongo "$build/bench/bench-acquire" "$cycles"
echo
mongo "$build/bench/bench-wait-load" 5
mongo "$build/bench/bench-wait-load" 10 1000
echo
"$root/examples/from-redis/with-redis.sh" "$build/bench/bench-redis-lock" "$cycles"
