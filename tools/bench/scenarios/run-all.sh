#!/usr/bin/env bash
# Runs the benchmark scenarios and renders docs/benchmarks.md + docs/img/*.png. `make bench` calls
# it after installing the packages and building the release binaries.
#
#   tools/bench/scenarios/run-all.sh [BIN_DIR]       (default build/release)
#
# Environment: BENCH_QUICK=1 (everything in ~2 minutes, for development), BENCH_SCENARIOS="s1 s2 s3
# s4 s5 s6 s7 s8" (a subset), BENCH_PIN=0 (no CPU pinning), BENCH_PERF=0 (no perf profiles), BENCH_TMP
# (data files, default /var/tmp), BENCH_OUT (results, default build/bench), BENCH_DOC (default
# docs/benchmarks.md), and each scenario's S<N>_* knobs (see the scripts).
set -euo pipefail

SCEN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCEN_DIR/../../.." && pwd)
if [[ $# -ge 1 ]]; then
  BENCH_BIN_DIR=$(cd "$1" && pwd)
  export BENCH_BIN_DIR
fi
export BENCH_OUT=${BENCH_OUT:-$REPO/build/bench}
BENCH_DOC=${BENCH_DOC:-$REPO/docs/benchmarks.md}
BENCH_IMG=${BENCH_IMG:-$(dirname "$BENCH_DOC")/img}
SCENARIOS=${BENCH_SCENARIOS:-s1 s2 s3 s4 s5 s6 s7 s8}
PYTHON=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}

declare -A SCRIPT=([s1]=s1_dram.sh [s2]=s2_device_reads.sh [s3]=s3_write_stream.sh
  [s4]=s4_dram_per_item.sh [s5]=s5_hit_ratio.sh [s6]=s6_restart.sh [s7]=s7_scale.sh
  [s8]=s8_small_tier.sh)

mkdir -p "$BENCH_OUT"
echo "run-all: $(uptime)"
read -r load1 _ </proc/loadavg
if awk -v l="$load1" 'BEGIN { exit !(l > 1.0) }'; then
  echo "run-all: WARNING: load average $load1 > 1 before starting; other work on this machine" \
    "will distort the numbers (the ratios suffer less than the absolute figures)"
fi
"$PYTHON" "$SCEN_DIR/benchlib.py" machine --out "$BENCH_OUT/machine.json" --repo "$REPO" \
  --tmp "${BENCH_TMP:-/var/tmp}"

failed=()
timings="{"
for s in $SCENARIOS; do
  script=${SCRIPT[$s]:-}
  if [[ -z $script ]]; then
    echo "run-all: unknown scenario $s" >&2
    exit 2
  fi
  start=$(date +%s)
  echo "run-all: === $s ($script) at $(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
  if ! "$SCEN_DIR/$script"; then
    echo "run-all: $s FAILED" >&2
    failed+=("$s")
  fi
  timings+="\"$s\": $(($(date +%s) - start)), "
done
timings+="\"load_at_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
echo "$timings" >"$BENCH_OUT/timings.json"

"$PYTHON" "$SCEN_DIR/render.py" "$BENCH_OUT" "$BENCH_DOC" "$BENCH_IMG" "$SCEN_DIR/analysis.md"
echo "run-all: results in $BENCH_OUT, report in $BENCH_DOC"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run-all: failed scenarios: ${failed[*]}" >&2
  exit 1
fi
