#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs one live test binary against a MongoDB.
#  - MONGOLOCK_TEST_URI set: use that server (a real MongoDB, e.g. from docker/).
#  - otherwise: start the bundled test server (tests/mongod-lite) on a free loopback port,
#    wait for it to say READY, run the tests, and stop it by PID, also when tests fail.
#  - MONGOLOCK_TEST_MODE=replset: the bundled server runs as a one-member replica set
#    "rs0" with test commands (failpoints) enabled, like docker/'s test profile, and the
#    tests connect with replicaSet=rs0. Unset or "standalone": a standalone (the default).
#  - MONGOLOCK_TEST_WRAPPER (optional): a command put before the test binary only, e.g.
#    "valgrind --error-exitcode=99 --leak-check=full" (never before the server).
#  - MONGOLOCK_TEST_SET_URI=1 (optional): also export MONGOLOCK_URI, the server's URI, for
#    programs that read it as a user's would (the README's examples).
set -uo pipefail
exe="$1"; shift
read -r -a wrapper <<< "${MONGOLOCK_TEST_WRAPPER:-}"
if [ -n "${MONGOLOCK_TEST_URI:-}" ]; then
  [ -n "${MONGOLOCK_TEST_SET_URI:-}" ] && export MONGOLOCK_URI="$MONGOLOCK_TEST_URI"
  exec "${wrapper[@]}" "$exe" "$@"
fi
server="${MONGOD_LITE:?MONGOD_LITE must point at tests/mongod-lite/server.js}"
if [ ! -d "$(dirname "$server")/node_modules" ]; then
  echo "run-live: the test server's npm dependencies are missing: run 'npm ci' in $(dirname "$server") (./run does it)" >&2
  exit 1
fi
mode_args=()
uri_opts="serverSelectionTimeoutMS=5000"
case "${MONGOLOCK_TEST_MODE:-standalone}" in
  standalone) ;;
  replset) mode_args=(--replset rs0 --enable-test-commands); uri_opts="replicaSet=rs0&$uri_opts" ;;
  *) echo "run-live: MONGOLOCK_TEST_MODE must be standalone or replset" >&2; exit 2 ;;
esac
. "$(dirname "$0")/ready-port.sh"
out=$(mktemp)
node "$server" --port 0 "${mode_args[@]+"${mode_args[@]}"}" ${MONGOD_LITE_ARGS:-} >"$out" 2>"$out.err" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$out" "$out.err"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
port=""
for _ in $(seq 1 300); do   # up to 30 s on a loaded machine
  port=$(mltest_ready_port "$out")   # a complete line only: the server may be writing it
  [ -n "$port" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "run-live: the test server exited before it was ready:" >&2; cat "$out.err" >&2; exit 1
  fi
  sleep 0.1
done
[ -n "$port" ] || { echo "run-live: the test server did not become ready" >&2; cat "$out.err" >&2; exit 1; }
export MONGOLOCK_TEST_URI="mongodb://127.0.0.1:$port/?$uri_opts"
[ -n "${MONGOLOCK_TEST_SET_URI:-}" ] && export MONGOLOCK_URI="$MONGOLOCK_TEST_URI"
"${wrapper[@]}" "$exe" "$@"
rc=$?
if [ -s "$out.err" ]; then echo "--- test server stderr ---" >&2; tail -n 50 "$out.err" >&2; fi
exit $rc
