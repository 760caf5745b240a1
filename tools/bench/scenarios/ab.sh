#!/usr/bin/env bash
# A/B of two ssdcached binaries on the same load, side by side: both servers run at once (pinned to
# the server CPU, each on its own device file), and short get runs alternate between them, so that
# the drift of a shared machine hits both alike. Prints each run and the medians: ops/s, the
# pairwise new/old ratio, and the server's CPU per get (from /proc, user + system).
#
#   tools/bench/scenarios/ab.sh OLD_BIN NEW_BIN [dram|device] [ROUNDS]    (default dram 8)
#
# dram: 100k keys of 100 bytes, -m 256 (scenario 1's gets); device: 150k keys of 4 KiB, -m 64 on a
# 2 GiB device (scenario 2's gets, nearly all from the device). Uses build/release's load tool.
set -euo pipefail
OLD=$1 NEW=$2 KIND=${3:-dram} ROUNDS=${4:-8}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BENCH=${BENCH:-$REPO/build/release/tools/bench/ssdcache-bench}
DIR=$(mktemp -d "${BENCH_TMP:-/var/tmp}/ssdcache-ab.XXXXXX")
if [[ $KIND == dram ]]; then
  SERVER_ARGS=(--device-size 1G -m 256 -i 64) LOAD=(--sizes d100 --key-space 100000)
  CONFIGS=("32 1" "8 8" "1 1")
else
  SERVER_ARGS=(--device-size 2G -m 64 -i 64) LOAD=(--sizes d4096 --key-space 150000)
  CONFIGS=("32 1" "64 1")
fi
PORT_OLD=$((30000 + RANDOM % 10000))
PORT_NEW=$((PORT_OLD + 1))
taskset -c 1 "$OLD" -l 127.0.0.1 -p $PORT_OLD -D "$DIR/old.dat" "${SERVER_ARGS[@]}" >"$DIR/old.log" 2>&1 &
PID_OLD=$!
taskset -c 1 "$NEW" -l 127.0.0.1 -p $PORT_NEW -D "$DIR/new.dat" "${SERVER_ARGS[@]}" >"$DIR/new.log" 2>&1 &
PID_NEW=$!
trap 'kill $PID_OLD $PID_NEW 2>/dev/null; wait; rm -rf "$DIR"' EXIT
sleep 2
for port in $PORT_OLD $PORT_NEW; do
  taskset -c 0 "$BENCH" --server 127.0.0.1:$port --quiet --method set --preload --num-calls 1 \
    --num-conns 8 --pipeline 16 "${LOAD[@]}" >/dev/null
done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for cfg in "${CONFIGS[@]}"; do
  read -r conns pipeline <<<"$cfg"
  for round in $(seq 1 "$ROUNDS"); do
    for who in old new; do
      if [[ $who == old ]]; then port=$PORT_OLD pid=$PID_OLD; else port=$PORT_NEW pid=$PID_NEW; fi
      before=$(ticks $pid)
      taskset -c 0 "$BENCH" --server 127.0.0.1:$port --quiet --json "$DIR/run.json" --method get \
        --num-conns "$conns" --pipeline "$pipeline" "${LOAD[@]}" --duration 3 --warmup 0.5 >/dev/null
      ops=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["ops_per_s"])' \
        "$DIR/run.json")
      echo "c$conns-p$pipeline $round $who $ops $(($(ticks $pid) - before))"
    done
  done
done | tee "$DIR/runs.txt"
python3 - "$DIR/runs.txt" "$(getconf CLK_TCK)" <<'PY'
import collections, statistics, sys
runs = collections.defaultdict(lambda: collections.defaultdict(list))
for line in open(sys.argv[1]):
    cfg, _, who, ops, ticks = line.split()
    ops, cpu_s = float(ops), int(ticks) / int(sys.argv[2])
    runs[cfg][who].append((ops, 1e6 * cpu_s / (ops * 3.5)))  # 3 s + 0.5 s warm-up
for cfg, r in runs.items():
    med = lambda who, i: statistics.median(x[i] for x in r[who])
    pair = statistics.median(n[0] / o[0] for o, n in zip(r["old"], r["new"]))
    print(f"{cfg}: ops/s old {med('old', 0):.0f} new {med('new', 0):.0f} "
          f"(new/old {med('new', 0) / med('old', 0):.3f}, pairwise {pair:.3f}); "
          f"CPU us/get old {med('old', 1):.2f} new {med('new', 1):.2f}")
PY
