#!/usr/bin/env bash
# The bash -c '...' snippets take their values as "$1" on purpose.
# shellcheck disable=SC2016 source-path=SCRIPTDIR
# twemproxy (Debian's nutcracker) in front of 3 ssdcached, as tools/cluster sets it up:
#   1. 10,000 keys written through nutcracker and all read back through it, byte for byte;
#   2. `stats` on each instance: curr_items shows the keys spread over all three (ketama, fnv1a_64);
#   3. one instance killed with SIGKILL: with auto_eject_hosts nutcracker ejects it and the pool
#      keeps serving: new sets and gets through nutcracker succeed with bounded client retries
#      (more attempts than server_failure_limit, as twemproxy's docs prescribe), keys of the
#      surviving instances are all still found, and nutcracker counts the ejection;
#   4. the survivors stop on SIGTERM with exit 0; the trap kills everything else.
#
#   tests/clients/test_twemproxy.sh [path/to/ssdcached]     (or SSDCACHED_BIN=...)
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap clients_cleanup EXIT
clients_init "${1:-}"

NUTCRACKER=/usr/sbin/nutcracker
[[ -x $NUTCRACKER ]] || die "$NUTCRACKER not found: install nutcracker (tools/install-deps.sh)"
/usr/bin/python3 -c 'import pymemcache' 2>/dev/null ||
  die "pymemcache missing: install python3-pymemcache (tools/install-deps.sh)"

KEYS=10000
RETRY_MS=5000      # server_retry_timeout: an ejected instance is tried again after 5 s
FAILURE_LIMIT=2    # server_failure_limit: ejected after 2 consecutive failures
ATTEMPTS=$((FAILURE_LIMIT + 2))
LOAD="/usr/bin/python3 $CLIENTS_DIR/kv_load.py"

PASSED=0
FAILED=0
pass() {
  PASSED=$((PASSED + 1))
  log "ok: $*"
}
fail() {
  FAILED=$((FAILED + 1))
  log "FAIL: $*"
}

PORTS=()
PIDS=()
for i in 0 1 2; do
  start_ssdcached "ssdc$i"
  PORTS+=("$SSDC_PORT")
  PIDS+=("$SSDC_PID")
done

write_config() {
  cat >"$WORK/nutcracker.yml" <<YAML
ssdcache:
  listen: 127.0.0.1:$NUT_PORT
  hash: fnv1a_64
  distribution: ketama
  timeout: 2000
  backlog: 1024
  preconnect: true
  auto_eject_hosts: true
  server_retry_timeout: $RETRY_MS
  server_failure_limit: $FAILURE_LIMIT
  servers:
   - 127.0.0.1:${PORTS[0]}:1 ssdc0
   - 127.0.0.1:${PORTS[1]}:1 ssdc1
   - 127.0.0.1:${PORTS[2]}:1 ssdc2
YAML
}

start_nutcracker() {
  local attempt i
  for attempt in 1 2 3; do
    NUT_PORT=$(free_port)
    NUT_STATS_PORT=$(free_port)
    write_config
    "$NUTCRACKER" -t -c "$WORK/nutcracker.yml" >/dev/null 2>&1 ||
      die "nutcracker -t rejects the config: $("$NUTCRACKER" -t -c "$WORK/nutcracker.yml" 2>&1)"
    # -a/-s: the stats endpoint stays on loopback (its default is 0.0.0.0:22222); -i 1000: stats
    # are aggregated every second instead of every 30.
    "$NUTCRACKER" -c "$WORK/nutcracker.yml" -o "$WORK/nutcracker.log" -p "$WORK/nutcracker.pid" \
      -a 127.0.0.1 -s "$NUT_STATS_PORT" -i 1000 </dev/null >/dev/null 2>&1 &
    NUT_PID=$!
    OTHER_PIDS+=("$NUT_PID")
    for ((i = 0; i < 100; i++)); do  # 10 s
      if ! kill -0 "$NUT_PID" 2>/dev/null; then break; fi
      if port_open "$NUT_PORT"; then
        log "nutcracker: pid $NUT_PID, port $NUT_PORT, stats port $NUT_STATS_PORT"
        return 0
      fi
      sleep 0.1
    done
    kill -KILL "$NUT_PID" 2>/dev/null || true
    log "nutcracker attempt $attempt did not come up: $(tail -n3 "$WORK/nutcracker.log" 2>/dev/null)"
  done
  die "nutcracker did not start"
}

# nut_stat NAME: the first value of NAME in nutcracker's stats JSON.
nut_stat() {
  timeout 5 bash -c 'cat <"/dev/tcp/127.0.0.1/$1"' _ "$NUT_STATS_PORT" |
    grep -oE "\"$1\":[ ]*[0-9]+" | head -n1 | grep -oE '[0-9]+$'
}

start_nutcracker

# --- 1. write 10,000 keys through nutcracker and read them all back ------------------------------
if out=$($LOAD set "$NUT_PORT" key "$KEYS" 2>&1); then pass "set $KEYS keys through nutcracker ($out)"
else fail "set $KEYS keys through nutcracker: $out"; fi
if out=$($LOAD get "$NUT_PORT" key "$KEYS" --expect-all 2>&1); then pass "read back through nutcracker: $out"
else fail "read back through nutcracker: $out"; fi

# --- 2. the keys are spread over all three instances --------------------------------------------
COUNTS=()
total=0
for i in 0 1 2; do
  COUNTS+=("$(stat_of "${PORTS[$i]}" curr_items)")
  total=$((total + COUNTS[i]))
done
log "curr_items per instance: ${COUNTS[*]}"
if [[ $total -eq $KEYS ]]; then pass "curr_items add up to $KEYS"; else fail "curr_items add up to $total, not $KEYS"; fi
for i in 0 1 2; do
  # ketama with 160 points per server: each of 3 equal servers holds roughly a third.
  if [[ ${COUNTS[$i]} -ge $((KEYS / 6)) ]]; then pass "instance $i holds ${COUNTS[$i]} keys (>= $((KEYS / 6)))"
  else fail "instance $i holds only ${COUNTS[$i]} keys"; fi
done

# --- 3. SIGKILL one instance; the pool keeps serving ----------------------------------------------
kill -KILL "${PIDS[1]}"
wait "${PIDS[1]}" 2>/dev/null || true
log "killed instance 1 (pid ${PIDS[1]}) with SIGKILL"
SURVIVING=$((COUNTS[0] + COUNTS[2]))

# Ejection delay: the first requests that hash to the dead instance fail (SERVER_ERROR Connection
# refused) until it has failed server_failure_limit times; then nutcracker ejects it. Probe with
# single attempts until one whole round succeeds, for at most 30 s.
ejected=""
for ((round = 0; round < 60; round++)); do
  if $LOAD set "$NUT_PORT" "probe$round" 50 >/dev/null 2>&1; then
    ejected=$round
    break
  fi
  sleep 0.5
done
if [[ -n $ejected ]]; then pass "a clean round of 50 sets after $ejected failed rounds (dead instance ejected)"
else fail "nutcracker still failing sets 30 s after the kill"; fi

if out=$($LOAD set "$NUT_PORT" after 1000 --attempts "$ATTEMPTS" --sleep 0.2 2>&1); then
  pass "1000 new sets through nutcracker after the ejection, <= $ATTEMPTS attempts each ($out)"
else fail "sets after the ejection: $out"; fi
if out=$($LOAD get "$NUT_PORT" after 1000 --attempts "$ATTEMPTS" --sleep 0.2 --expect-all 2>&1); then
  pass "1000 new keys read back after the ejection ($out)"
else fail "gets after the ejection: $out"; fi

# Consistent hashing: keys of the survivors did not move, so exactly their keys are still found;
# the dead instance's keys now map to the survivors and miss.
if out=$($LOAD get "$NUT_PORT" key "$KEYS" --attempts "$ATTEMPTS" --sleep 0.2 2>&1); then
  found=$(sed -nE 's/^found ([0-9]+) of.*/\1/p' <<<"$out")
  if [[ $found -eq $SURVIVING ]]; then pass "old keys: $found found = survivors' curr_items ($out)"
  else fail "old keys: found $found, survivors held $SURVIVING ($out)"; fi
else fail "reading the old keys after the ejection: $out"; fi

ejects=""
for ((i = 0; i < 30; i++)); do  # stats are aggregated every second
  ejects=$(nut_stat server_ejects || true)
  [[ -n $ejects && $ejects -gt 0 ]] && break
  sleep 0.2
done
if [[ -n $ejects && $ejects -gt 0 ]]; then pass "nutcracker stats: server_ejects $ejects"
else fail "nutcracker stats show no ejection (server_ejects '${ejects}')"; fi

# --- 4. clean stop --------------------------------------------------------------------------------
kill -TERM "$NUT_PID"
for ((i = 0; i < 100; i++)); do kill -0 "$NUT_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$NUT_PID" 2>/dev/null; then fail "nutcracker still running 10 s after SIGTERM"
else pass "nutcracker stopped"; fi
for i in 0 2; do
  stop_ssdcached "${PIDS[$i]}"
  pass "instance $i: SIGTERM -> exit 0"
done

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
