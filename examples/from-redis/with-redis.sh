#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs a command against a throwaway redis-server on 127.0.0.1 (no persistence), then stops
# that server by its PID, also when the command fails.
#   with-redis.sh CMD [ARGS...]     CMD gets HOST:PORT as its last argument and in REDIS_ADDR
# Exits 77 (meson's "skipped") when redis-server is not installed.
# MONGOLOCK_TEST_WRAPPER (optional), as in tests/run-live.sh: put before CMD only.
set -uo pipefail
command -v redis-server >/dev/null || { echo "with-redis: redis-server is not installed: skipped" >&2; exit 77; }
read -r -a wrapper <<< "${MONGOLOCK_TEST_WRAPPER:-}"
dir=$(mktemp -d)
pid=""
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi; rm -rf "$dir"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
ready=""
for _ in 1 2 3 4 5 6 7 8; do   # a random port; another if it is taken
  port=$((20000 + RANDOM % 40000))
  : > "$dir/log"
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --daemonize no \
    --dir "$dir" --logfile "$dir/log" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do   # up to 30 s on a loaded machine
    if grep -q 'Ready to accept connections' "$dir/log"; then ready=1; break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$ready" ] && break
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; pid=""
done
if [ -z "$ready" ]; then echo "with-redis: redis-server did not start:" >&2; cat "$dir/log" >&2; exit 1; fi
export REDIS_ADDR="127.0.0.1:$port"
"${wrapper[@]}" "$@" "$REDIS_ADDR"
rc=$?
exit $rc
