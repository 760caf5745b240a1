#!/usr/bin/env bash
# Runs the fuzzers built in BUILD_DIR (make fuzz / make fuzz-ci), each for SECONDS on a throwaway
# copy of its seed corpus, so that runs never grow tests/fuzz/corpus. Crashing inputs are kept in
# BUILD_DIR/artifacts/. Exits non-zero if any fuzzer found a crash, a leak or a hang.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [--parallel]
#
# --parallel runs the fuzzers side by side (one core each) instead of one after the other.
set -euo pipefail

build_dir=${1:?usage: run.sh BUILD_DIR SECONDS [--parallel]}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS [--parallel]}
parallel=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
artifacts="$build_dir/artifacts"
mkdir -p "$artifacts"

# name  max_len  (the parser needs room for lines longer than max_line; the recovery fuzzer's ops
# are small and its runs are slow, so shorter inputs search better)
fuzzers=("parser 8192" "recover 2048" "binary 8192")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run_one() {
  local name=$1 max_len=$2
  local corpus="$work/$name"
  mkdir -p "$corpus"
  cp "$here/corpus/$name"/* "$corpus/"
  # -timeout: an input running 30 s is a hang (recover_fuzz aborts its own IO waits after 20 s).
  "$build_dir/tests/fuzz/${name}_fuzz" -max_total_time="$seconds" -max_len="$max_len" \
    -timeout=30 -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$corpus" \
    >"$work/$name.log" 2>&1
}

report() {
  local name=$1 status=$2
  # The stats lines and, on failure, the report that explains it.
  if [[ $status -eq 0 ]]; then
    grep -E '^(stat::|Done )' "$work/$name.log" | sed "s/^/${name}_fuzz: /" || true
    echo "fuzz: $name OK ($seconds s)"
  else
    tail -n 60 "$work/$name.log"
    echo "fuzz: $name FAILED (status $status); inputs in $artifacts/" >&2
  fi
}

failed=0
if [[ $parallel == --parallel ]]; then
  pids=()
  for f in "${fuzzers[@]}"; do
    # shellcheck disable=SC2086
    run_one $f &
    pids+=($!)
  done
  for i in "${!fuzzers[@]}"; do
    status=0
    wait "${pids[$i]}" || status=$?
    report "${fuzzers[$i]%% *}" "$status"
    [[ $status -eq 0 ]] || failed=1
  done
else
  for f in "${fuzzers[@]}"; do
    echo "fuzz: ${f%% *} for $seconds s"
    status=0
    # shellcheck disable=SC2086
    run_one $f || status=$?
    report "${f%% *}" "$status"
    [[ $status -eq 0 ]] || failed=1
  done
fi
exit $failed
