# Sourced by the scenario scripts: paths, knobs, server start/stop with a trap, stats, pinning.
# Every server listens on 127.0.0.1 on a free port; every data file lives in a temporary directory
# under $BENCH_TMP (default /var/tmp, a disk filesystem: O_DIRECT fails on tmpfs).
# shellcheck shell=bash

set -euo pipefail

SCEN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCEN_DIR/../../.." && pwd)
BIN_DIR=${BENCH_BIN_DIR:-$REPO/build/release}
SSDCACHED=${SSDCACHED:-$BIN_DIR/src/ssdcached}
BENCH=${BENCH:-$BIN_DIR/tools/bench/ssdcache-bench}
MEMCACHED=${MEMCACHED:-/usr/bin/memcached}
FIO=${FIO:-fio}
OUT_DIR=${BENCH_OUT:-$REPO/build/bench}
BENCH_TMP=${BENCH_TMP:-/var/tmp}
BENCH_QUICK=${BENCH_QUICK:-0}
# The load tool runs on CPU $BENCH_CLIENT_CPU and the system under test (server or fio) on
# $BENCH_SERVER_CPU, so that they do not fight for one core; BENCH_PIN=0 lets the kernel place them.
BENCH_PIN=${BENCH_PIN:-1}
BENCH_CLIENT_CPU=${BENCH_CLIENT_CPU:-0}
BENCH_SERVER_CPU=${BENCH_SERVER_CPU:-1}
# perf profiles of ssdcached (cpu-clock, a few seconds per scenario) when perf works.
BENCH_PERF=${BENCH_PERF:-1}
PYTHON=${PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}
HELPER=("$PYTHON" "$SCEN_DIR/benchlib.py")

quick() { [[ $BENCH_QUICK == 1 ]]; }
log() { printf '[%s %s] %s\n' "$(date -u +%H:%M:%S)" "${SCENARIO:-bench}" "$*" >&2; }
die() {
  log "FATAL: $*"
  exit 1
}

PIN_CLIENT=()
if [[ $BENCH_PIN == 1 ]]; then PIN_CLIENT=(taskset -c "$BENCH_CLIENT_CPU"); fi
pin_client() {
  if [[ $BENCH_PIN == 1 ]]; then taskset -c "$BENCH_CLIENT_CPU" "$@"; else "$@"; fi
}
pin_server() {
  if [[ $BENCH_PIN == 1 ]]; then taskset -c "$BENCH_SERVER_CPU" "$@"; else "$@"; fi
}

# --- lifetime -------------------------------------------------------------------------------------

SERVER_PIDS=()
WORK=

cleanup() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid" 2>/dev/null || true; fi
  done
  for pid in "${SERVER_PIDS[@]}"; do
    # Bounded: ssdcached writes its open memory slabs at shutdown; a few seconds at most.
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SERVER_PIDS=()
  if [[ -n $WORK && -d $WORK ]]; then rm -rf "$WORK"; fi
}

# bench_init NAME: results go to $OUT_DIR/NAME.jsonl (one JSON record per line), raw outputs to
# $OUT_DIR/raw/NAME/, data files to a fresh $WORK directory removed on exit.
bench_init() {
  SCENARIO=$1
  [[ -x $SSDCACHED ]] || die "no ssdcached at $SSDCACHED (build it, or set BENCH_BIN_DIR)"
  [[ -x $BENCH ]] || die "no ssdcache-bench at $BENCH (build it, or set BENCH_BIN_DIR)"
  [[ -x $MEMCACHED ]] || die "no memcached at $MEMCACHED (tools/install-deps.sh bench)"
  mkdir -p "$OUT_DIR/raw/$SCENARIO"
  RAW=$OUT_DIR/raw/$SCENARIO
  RESULTS=$OUT_DIR/$SCENARIO.jsonl
  : >"$RESULTS"
  WORK=$(mktemp -d "$BENCH_TMP/ssdcache-bench.XXXXXX")
  local fstype
  fstype=$(stat -f -c %T "$WORK")
  if [[ $fstype == tmpfs || $fstype == ramfs ]]; then
    die "$BENCH_TMP is $fstype: O_DIRECT does not work there and it is not a disk; set BENCH_TMP"
  fi
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  log "work dir $WORK ($fstype), results $RESULTS"
}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_server NAME CMD... (the command must contain the literal word @PORT@, replaced by the port).
# Sets PORT and PID. The server runs pinned, its output goes to $WORK/NAME.log.
start_server() {
  local name=$1
  shift
  local attempt candidate pid args a
  for attempt in $(seq 1 10); do
    candidate=$((20000 + RANDOM % 40000))
    if listening "$candidate"; then continue; fi
    args=()
    for a in "$@"; do args+=("${a//@PORT@/$candidate}"); done
    if [[ $BENCH_PIN == 1 ]]; then args=(taskset -c "$BENCH_SERVER_CPU" "${args[@]}"); fi
    # Started directly (not through a function), so that $! is the server itself (taskset execs).
    "${args[@]}" >"$WORK/$name.log" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    # Bounded wait: warm restart is never used (fresh files), so start-up takes well under 30 s.
    for _ in $(seq 1 300); do
      if ! kill -0 "$pid" 2>/dev/null; then break; fi
      if listening "$candidate"; then
        PORT=$candidate
        PID=$pid
        log "$name: pid $PID port $PORT: ${args[*]}"
        return 0
      fi
      sleep 0.1
    done
    log "$name did not start on port $candidate (attempt $attempt):"
    tail -5 "$WORK/$name.log" >&2 || true
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  die "could not start $name"
}

stop_server() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local keep=() p
  for p in "${SERVER_PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  SERVER_PIDS=("${keep[@]+"${keep[@]}"}")
}

# memcached refuses to run as root unless told which user to run as.
MC_USER=()
if [[ $EUID -eq 0 ]]; then MC_USER=(-u root); fi

# start_ssdcached NAME DEVICE_FILE ARGS...
start_ssdcached() {
  local name=$1 dev=$2
  shift 2
  rm -f "$dev"
  start_server "$name" "$SSDCACHED" -l 127.0.0.1 -p @PORT@ -D "$dev" "$@"
}

# start_memcached NAME ARGS... (one worker thread unless ARGS says otherwise)
start_memcached() {
  local name=$1
  shift
  start_server "$name" "$MEMCACHED" -U 0 -l 127.0.0.1 -p @PORT@ "${MC_USER[@]}" "$@"
}

# --- measurements ---------------------------------------------------------------------------------

# snapshot PORT PID FILE: server stats + /proc (RSS, CPU ticks, IO bytes) as JSON.
snapshot() { "${HELPER[@]}" snapshot --port "$1" --pid "$2" --out "$3"; }

# rss_kb PID: VmRSS of a process, in KiB.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

drop_caches() {
  sync
  if echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; then echo yes; else echo no; fi
}

# run_load LABEL PORT BENCH_ARGS...: the load tool, pinned, quiet, JSON to $RAW/LABEL.json.
# Never aborts the scenario: a failed run is recorded with its exit status.
run_load() {
  local label=$1 port=$2
  shift 2
  local rc=0
  "${HELPER[@]}" time --out "$RAW/$label.time.json" -- \
    "${PIN_CLIENT[@]}" "$BENCH" --server "127.0.0.1:$port" --quiet --json "$RAW/$label.json" "$@" \
    >"$RAW/$label.txt" 2>"$RAW/$label.err" || rc=$?
  if [[ $rc -ne 0 ]]; then log "$label: ssdcache-bench exit status $rc ($(tail -1 "$RAW/$label.err"))"; fi
  LOAD_RC=$rc
}

# measure LABEL SERVER_KIND PORT PID [key=value...] -- BENCH_ARGS...
# Snapshots around one load run, samples the server's gauges once a second meanwhile, and appends
# one record to $RESULTS.
measure() {
  local label=$1 kind=$2 port=$3 pid=$4
  shift 4
  local kv=()
  while [[ $# -gt 0 && $1 != -- ]]; do
    kv+=("$1")
    shift
  done
  [[ ${1:-} == -- ]] && shift
  snapshot "$port" "$pid" "$RAW/$label.before.json"
  local sampler
  "${HELPER[@]}" sample --port "$port" --seconds 3600 --out "$RAW/$label.samples.json" &
  sampler=$!
  run_load "$label" "$port" "$@"
  kill -TERM "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  snapshot "$port" "$pid" "$RAW/$label.after.json"
  "${HELPER[@]}" record --out "$RESULTS" --scenario "$SCENARIO" --label "$label" --server "$kind" \
    --bench "$RAW/$label.json" --before "$RAW/$label.before.json" \
    --after "$RAW/$label.after.json" --samples "$RAW/$label.samples.json" \
    --rc "$LOAD_RC" "${kv[@]+"${kv[@]}"}"
}

# perf_profile LABEL PID SECONDS: flat cpu-clock profile of a running process (best effort; perf
# attached with -p sometimes records nothing on this VM, so it tries three times).
perf_profile() {
  local label=$1 pid=$2 secs=$3
  [[ $BENCH_PERF == 1 ]] && command -v perf >/dev/null 2>&1 || return 0
  for _ in 1 2 3; do
    timeout $((secs + 20)) perf record --per-thread -e cpu-clock -F 999 -p "$pid" \
      -o "$WORK/$label.perf" -- sleep "$secs" >/dev/null 2>&1 || true
    timeout 60 perf report -q -i "$WORK/$label.perf" --stdio --no-children --sort dso,sym \
      2>/dev/null | grep -v '^$' | head -25 >"$RAW/$label.perf.txt" || true
    [[ -s $RAW/$label.perf.txt ]] && return 0
  done
  log "perf recorded no samples for $label"
}

# profile_under_load LABEL PID PORT BENCH_ARGS...: perf_profile of PID while the load tool runs
# (not a measurement: the load is stopped once the profile is taken).
profile_under_load() {
  local label=$1 pid=$2 port=$3
  shift 3
  [[ $BENCH_PERF == 1 ]] || return 0
  local cmd=("$BENCH" --server "127.0.0.1:$port" --quiet --duration 20 "$@")
  if [[ $BENCH_PIN == 1 ]]; then cmd=(taskset -c "$BENCH_CLIENT_CPU" "${cmd[@]}"); fi
  "${cmd[@]}" >/dev/null 2>&1 &
  local load=$!
  sleep 1
  perf_profile "$label" "$pid" 2
  kill -TERM "$load" 2>/dev/null || true
  wait "$load" 2>/dev/null || true
}
