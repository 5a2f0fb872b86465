#!/usr/bin/env bash
# Uncontended lock cycle, side by side (docs/from-redis.md): mongolock's bench-acquire on the
# bundled test server (or MONGOLOCK_URI) and bench-redis-lock on a throwaway redis-server
# (--save '' --appendonly no). Each server is started on 127.0.0.1 and stopped by its PID.
#   bench/compare-redis.sh [CYCLES] [BUILDDIR]      (defaults: 5000, build)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cycles="${1:-5000}"
build="${2:-$root/build}"
for exe in bench/bench-acquire bench/bench-redis-lock; do
  [ -x "$build/$exe" ] || { echo "compare-redis: $build/$exe is missing (build first; bench-redis-lock needs libhiredis-dev)" >&2; exit 1; }
done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
if [ -n "${MONGOLOCK_URI:-}" ]; then
  "$build/bench/bench-acquire" "$MONGOLOCK_URI" "$cycles"
else
  # tests/run-live.sh starts the test server, runs the program and stops the server by PID.
  MONGOD_LITE="$root/tests/mongod-lite/server.js" "$root/tests/run-live.sh" \
    bash -c '"$0" "$MONGOLOCK_TEST_URI" "$1"' "$build/bench/bench-acquire" "$cycles"
fi
echo
"$root/examples/from-redis/with-redis.sh" "$build/bench/bench-redis-lock" "$cycles"
