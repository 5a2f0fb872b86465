#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The benchmark side by side (./run bench): mongolock, a minimal hand-written libmongoc lock
# and a hiredis Redis lock (SET NX PX + Lua compare-and-DEL, polling every 10 and 50 ms),
# in one run, on servers it starts on 127.0.0.1 and stops by PID: the bundled test server
# as a standalone and as a replica set (tests/run-live.sh), or MONGOLOCK_URI alone, and a
# throwaway redis-server (examples/from-redis/with-redis.sh, --save '' --appendonly no).
# Writes a Markdown report and a gnuplot plot:
#   MONGOLOCK_BENCH_OUT      where (default docs/): bench.md and bench.svg
#   MONGOLOCK_BENCH_SECONDS  seconds per contention run (default 5)
#   MONGOLOCK_BENCH_CYCLES   uncontended cycles (default 5000)
#   MONGOLOCK_BENCH_PROCS    process counts (default 2,8,32)
#   MONGOLOCK_BENCH_HOLD_US  hold time under contention (default 1000)
#   MONGOLOCK_BENCH_CALLGRIND=0  skip the instruction counts (valgrind)
#   MONGOLOCK_BENCH_PLOT=0   skip the plot (no gnuplot needed)
# Usage: bench/run-bench.sh [BUILDDIR]   (built already; ./run bench builds first)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
secs="${MONGOLOCK_BENCH_SECONDS:-5}"
cycles="${MONGOLOCK_BENCH_CYCLES:-5000}"
procs="${MONGOLOCK_BENCH_PROCS:-2,8,32}"
hold="${MONGOLOCK_BENCH_HOLD_US:-1000}"
out="${MONGOLOCK_BENCH_OUT:-$root/docs}"
self="$root/bench/run-bench.sh"

# Instructions per cycle: the difference between two runs under callgrind, so start-up and
# shut-down cancel out. instr CMD... (the cycle count is appended).
instr() {
  [ "${MONGOLOCK_BENCH_CALLGRIND:-1}" = 0 ] && { echo "-"; return; }
  local a b n1=100 n2=600
  a=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" "$n1" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  b=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" "$n2" 2>&1 >/dev/null | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  if [ -n "$a" ] && [ -n "$b" ]; then echo $(( (b - a) / (n2 - n1) )); else echo "-"; fi
}

case "${2:-}" in
  __mongo)   # inside run-live.sh: MONGOLOCK_TEST_URI is the server; $3: the mode's name
    dir="$3"; uri="$MONGOLOCK_TEST_URI"
    echo "==> $dir: uncontended cycles" >&2
    "$build/bench/bench-acquire" "$uri" "$cycles" --kv > "$dir/mongolock.kv"
    "$build/bench/bench-acquire" "$uri" "$cycles" --kv --impl minimal > "$dir/minimal.kv"
    echo "instr=$(instr "$build/bench/bench-acquire" "$uri" --kv)" >> "$dir/mongolock.kv"
    echo "instr=$(instr "$build/bench/bench-acquire" "$uri" --kv --impl minimal)" >> "$dir/minimal.kv"
    echo "==> $dir: contention, $procs processes, ${secs} s each" >&2
    "$build/bench/bench-contention" "$uri" --procs "$procs" --seconds "$secs" --hold-us "$hold" --kv > "$dir/mongolock.rows"
    "$build/bench/bench-contention" "$uri" --procs "$procs" --seconds "$secs" --hold-us "$hold" --kv --distinct >> "$dir/mongolock.rows"
    "$build/bench/bench-contention" "$uri" --procs "$procs" --seconds "$secs" --hold-us "$hold" --kv --fair > "$dir/fair.rows"
    "$build/bench/bench-contention" "$uri" --procs "$procs" --seconds "$secs" --hold-us "$hold" --kv --minimal-poll-ms 10 > "$dir/minimal.rows"
    "$build/bench/bench-contention" "$uri" --procs "$procs" --seconds "$secs" --hold-us "$hold" --kv --minimal-poll-ms 10 --distinct >> "$dir/minimal.rows"
    exit 0 ;;
  __all)     # inside with-redis.sh: REDIS_ADDR is the Redis server
    tmp="$3"
    echo "==> redis: uncontended cycles" >&2
    "$build/bench/bench-redis-lock" "$REDIS_ADDR" "$cycles" --kv > "$tmp/redis.kv"
    echo "instr=$(instr "$build/bench/bench-redis-lock" "$REDIS_ADDR" --kv)" >> "$tmp/redis.kv"
    for poll in 10 50; do
      echo "==> redis: contention, polling every $poll ms" >&2
      "$build/bench/bench-redis-contention" "$REDIS_ADDR" --procs "$procs" --seconds "$secs" --hold-us "$hold" --poll-ms "$poll" > "$tmp/redis$poll.rows"
      "$build/bench/bench-redis-contention" "$REDIS_ADDR" --procs "$procs" --seconds "$secs" --hold-us "$hold" --poll-ms "$poll" --distinct >> "$tmp/redis$poll.rows"
    done
    if [ -n "${MONGOLOCK_URI:-}" ]; then
      mkdir -p "$tmp/uri"
      MONGOLOCK_TEST_URI="$MONGOLOCK_URI" "$self" "$build" __mongo "$tmp/uri"
    else
      for mode in standalone replset; do
        mkdir -p "$tmp/$mode"
        MONGOD_LITE="$root/tests/mongod-lite/server.js" MONGOLOCK_TEST_MODE=$mode \
          "$root/tests/run-live.sh" "$self" "$build" __mongo "$tmp/$mode"
      done
    fi
    exit 0 ;;
esac

for exe in bench-acquire bench-contention bench-redis-lock bench-redis-contention; do
  [ -x "$build/bench/$exe" ] || { echo "run-bench: $build/bench/$exe is missing (build first; the Redis programs need libhiredis-dev)" >&2; exit 1; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$root/examples/from-redis/with-redis.sh" "$self" "$build" __all "$tmp" >/dev/null

# ---- the report ---------------------------------------------------------------------
kv() { sed -n "s/^$2=//p" "$1" | head -n1; }
modes=(); for m in standalone replset uri; do [ -d "$tmp/$m" ] && modes+=("$m"); done
redis_rtt=$(kv "$tmp/redis.kv" rtt_us)
mkdir -p "$out"
md="$out/bench.md"
{
  echo "# Benchmark: mongolock, a minimal libmongoc lock and a Redis lock, side by side"
  echo
  echo "Generated by \`./run bench\` on $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), load average $(cut -d' ' -f1-3 /proc/loadavg) at the end;"
  echo "$cycles uncontended cycles; contention runs of $secs s, hold $hold µs; servers on 127.0.0.1."
  echo "MongoDB: $( [ -d "$tmp/uri" ] && echo "MONGOLOCK_URI" || echo "the bundled test server (tests/mongod-lite, Node.js), as a standalone and as a one-member replica set")."
  echo "Redis: a local redis-server, no persistence. RTT: p50 of \`ping\` (MongoDB) or \`PING\` (Redis)."
  echo
  echo "## One uncontended acquire + release"
  echo
  echo "| lock | server | commands | bytes on the wire | client instructions | client CPU µs | heap allocations | heap growth (B) | latency p50 µs | RTT µs |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for m in "${modes[@]}"; do
    for impl in mongolock minimal; do
      f="$tmp/$m/$impl.kv"
      echo "| $impl | $m | $(kv "$f" commands) | $(kv "$f" bytes) | $(kv "$f" instr) | $(kv "$f" cpu_us) | $(kv "$f" allocs) | $(kv "$f" heap_growth_bytes) | $(kv "$f" p50_us) | $(kv "$f" rtt_us) |"
    done
  done
  f="$tmp/redis.kv"
  echo "| redis (hiredis) | redis | $(kv "$f" commands) | $(kv "$f" bytes) | $(kv "$f" instr) | $(kv "$f" cpu_us) | $(kv "$f" allocs) | $(kv "$f" heap_growth_bytes) | $(kv "$f" p50_us) | $redis_rtt |"
  echo
  echo "## Under contention"
  echo
  echo "P processes loop acquire / hold / release on one key, or on P distinct keys. hand-off: from a"
  echo "release call to the next acquisition by another process (ms, and in RTTs of that server);"
  echo "waiting cmds/s: commands beyond one acquire and one release per acquisition, per process and"
  echo "second; Jain: fairness of acquisitions per process (1 = equal). mongolock waits with its default"
  echo "backoff; \"mongolock fair\" queues its waiters (mongolock_lock_opts_set_fair, one key only); the"
  echo "minimal lock and Redis poll at a fixed interval."
  echo
  echo "| lock | server | keys | P | acquisitions/s | hand-off p50 ms (RTTs) | hand-off p99 ms (RTTs) | waiting cmds/s | wait p99 ms | wait max ms | Jain |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  row() {  # row LABEL SERVER RTT_US FILE
    awk -v label="$1" -v server="$2" -v rtt="$3" '
      /^row / { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        r = rtt > 0 ? rtt / 1000.0 : 0
        h50 = v["handoffs"] > 0 ? sprintf("%.2f (%.0f)", v["handoff_p50_ms"], r > 0 ? v["handoff_p50_ms"] / r : 0) : "-"
        h99 = v["handoffs"] > 0 ? sprintf("%.2f (%.0f)", v["handoff_p99_ms"], r > 0 ? v["handoff_p99_ms"] / r : 0) : "-"
        printf "| %s | %s | %s | %s | %.0f | %s | %s | %.1f | %.1f | %.1f | %.3f |\n", label, server, v["keys"], v["procs"],
          v["acq_per_s"], h50, h99, v["wait_cmds_per_proc_s"], v["wait_p99_ms"], v["wait_max_ms"], v["jain"] }' "$4"
  }
  for m in "${modes[@]}"; do
    row mongolock "$m" "$(kv "$tmp/$m/mongolock.kv" rtt_us)" "$tmp/$m/mongolock.rows"
    row "mongolock fair" "$m" "$(kv "$tmp/$m/mongolock.kv" rtt_us)" "$tmp/$m/fair.rows"
    row "minimal, poll 10 ms" "$m" "$(kv "$tmp/$m/minimal.kv" rtt_us)" "$tmp/$m/minimal.rows"
  done
  row "redis, poll 10 ms" redis "$redis_rtt" "$tmp/redis10.rows"
  row "redis, poll 50 ms" redis "$redis_rtt" "$tmp/redis50.rows"
  bad=$(cat "$tmp"/*/*.rows "$tmp"/*.rows | grep -E -c 'overlaps=[1-9]|token_errors=[1-9]' || true)
  echo
  echo "Mutual exclusion and fencing-token order were checked on every acquisition: $bad violations."
  echo
  echo "![acquisitions per second and hand-off](bench.svg)"
} > "$md"
echo "==> wrote $md"

# ---- the plot -------------------------------------------------------------------------
if [ "${MONGOLOCK_BENCH_PLOT:-1}" != 0 ]; then
  data="$tmp/plot.dat"
  : > "$data"
  series=()
  add() {  # add TITLE RTT_US FILE: one gnuplot data block (procs, acq/s, hand-off p50 in RTTs), one key
    awk -v rtt="$2" '/^row / && / keys=one / { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      printf "%s %s %.2f\n", v["procs"], v["acq_per_s"], (rtt > 0 ? v["handoff_p50_ms"] * 1000 / rtt : 0) }' "$3" >> "$data"
    printf '\n\n' >> "$data"
    series+=("$1")
  }
  for m in "${modes[@]}"; do
    add "mongolock ($m)" "$(kv "$tmp/$m/mongolock.kv" rtt_us)" "$tmp/$m/mongolock.rows"
    add "mongolock fair ($m)" "$(kv "$tmp/$m/mongolock.kv" rtt_us)" "$tmp/$m/fair.rows"
    add "minimal, poll 10 ms ($m)" "$(kv "$tmp/$m/minimal.kv" rtt_us)" "$tmp/$m/minimal.rows"
  done
  add "redis, poll 10 ms" "$redis_rtt" "$tmp/redis10.rows"
  add "redis, poll 50 ms" "$redis_rtt" "$tmp/redis50.rows"
  {
    echo "set terminal svg size 960,420 dynamic background rgb 'white'"
    echo "set output '$out/bench.svg'"
    echo "set multiplot layout 1,2 title 'One key, P processes (hold $hold us) - $(date -u '+%Y-%m-%d'), $(nproc) cores'"
    echo "set logscale x 2; set xlabel 'processes'; set key top left; set grid"
    echo "set ylabel 'acquisitions/s'"
    printf "plot "; for i in "${!series[@]}"; do printf "'%s' index %d using 1:2 with linespoints title '%s'%s" "$data" "$i" "${series[$i]}" "$([ "$i" -lt $((${#series[@]} - 1)) ] && echo ', ')"; done; echo
    echo "set ylabel 'hand-off p50 (RTTs of its server)'; set logscale y"
    printf "plot "; for i in "${!series[@]}"; do printf "'%s' index %d using 1:3 with linespoints title '%s'%s" "$data" "$i" "${series[$i]}" "$([ "$i" -lt $((${#series[@]} - 1)) ] && echo ', ')"; done; echo
    echo "unset multiplot"
  } > "$tmp/plot.gp"
  gnuplot "$tmp/plot.gp"
  echo "==> wrote $out/bench.svg"
fi
