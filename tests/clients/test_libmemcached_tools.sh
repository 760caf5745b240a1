#!/usr/bin/env bash
# The bash -c '...' snippets take their values as "$1" "$2" on purpose.
# shellcheck disable=SC2016 source-path=SCRIPTDIR
# Drives ssdcached with Debian's libmemcached-tools (libmemcached 1.1), clients nobody on the team
# wrote: memccp, memccat, memcrm, memcexist, memctouch, memcflush, memcstat, memcslap and the ASCII
# conformance checker memccapable -a; then the same tools with --binary and memccapable -b.
#
#   tests/clients/test_libmemcached_tools.sh [path/to/ssdcached]     (or SSDCACHED_BIN=...)
#
# ssdcached's version reply leads with the memcached protocol level (1.6.18-ssdcache-X): libmemcached
# refuses a major version of 0, and memccapable picks the replies it expects by version.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap clients_cleanup EXIT
clients_init "${1:-}"

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
check() {  # check DESCRIPTION COMMAND...: counts a pass when COMMAND succeeds
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

for tool in memccp memccat memcrm memcexist memctouch memcflush memcstat memcslap memccapable; do
  command -v "$tool" >/dev/null || die "$tool not found: install libmemcached-tools (tools/install-deps.sh)"
done
[[ -x /usr/bin/python3 ]] || die "/usr/bin/python3 not found (the version proxy needs it)"

start_ssdcached main
PORT=$SSDC_PORT
MAIN_PID=$SSDC_PID
S="--servers=127.0.0.1:$PORT"

# --- memccp / memccat / memcexist / memctouch / memcrm ------------------------------------------
FILES="$WORK/files"
mkdir -p "$FILES" "$WORK/out"
printf 'hello from memccp\n' >"$FILES/text.txt"
head -c 200000 /dev/urandom >"$FILES/random.bin"
: >"$FILES/empty"
printf 'flagged\n' >"$FILES/flagged.txt"

check "memccp stores three files" memccp "$S" "$FILES/text.txt" "$FILES/random.bin" "$FILES/empty"
check "memccp --flags stores with flags" memccp "$S" --flags=1234 "$FILES/flagged.txt"
# memccat adds a newline after each value on stdout; --file writes the value's exact bytes.
for f in text.txt random.bin empty flagged.txt; do
  if memccat "$S" --file="$WORK/out/$f" "$f" && cmp -s "$FILES/$f" "$WORK/out/$f"; then
    pass "memccat $f returns the bytes memccp stored"
  else
    fail "memccat $f returns the bytes memccp stored"
  fi
done
flags_line=$(memccat "$S" --flags flagged.txt 2>&1 | head -n1 || true)
if [[ $flags_line == *1234* ]]; then pass "memccat --flags shows 1234"; else fail "memccat --flags shows 1234 (got '$flags_line')"; fi
check "memcexist finds text.txt" memcexist "$S" text.txt
check "memcexist does not find a missing key" bash -c '! memcexist "$1" no-such-key' _ "$S"
check "memctouch touches text.txt" memctouch "$S" --expire=300 text.txt
check "memctouch fails on a missing key" bash -c '! memctouch "$1" --expire=300 no-such-key' _ "$S"
check "memccp --add refuses an existing key" bash -c '! memccp "$1" --add "$2" 2>/dev/null' _ "$S" "$FILES/text.txt"
check "memcrm removes text.txt" memcrm "$S" text.txt
check "memccat no longer finds text.txt" bash -c '! memccat "$1" text.txt >/dev/null 2>&1' _ "$S"
rm -f "$WORK/out/random.bin"
check "memccat still finds random.bin" memccat "$S" --file="$WORK/out/random.bin" random.bin
check "random.bin is intact" cmp -s "$FILES/random.bin" "$WORK/out/random.bin"

# --- memcflush ---------------------------------------------------------------------------------
check "memcflush" memcflush "$S"
check "nothing left after memcflush" bash -c '! memccat "$1" random.bin >/dev/null 2>&1' _ "$S"
items=$(stat_of "$PORT" curr_items)
check "curr_items is 0 after memcflush (got $items)" test "$items" = 0

# --- memcslap ----------------------------------------------------------------------------------
sets0=$(stat_of "$PORT" cmd_set)
check "memcslap --test=set" timeout 120 memcslap "$S" --concurrency=2 --execute-number=2000 --test=set
sets1=$(stat_of "$PORT" cmd_set)
check "memcslap set: cmd_set grew by 4000 (got $((sets1 - sets0)))" test $((sets1 - sets0)) -eq 4000
hits0=$(stat_of "$PORT" get_hits)
miss0=$(stat_of "$PORT" get_misses)
check "memcslap --test=get" timeout 120 memcslap "$S" --concurrency=2 --execute-number=2000 --test=get
hits1=$(stat_of "$PORT" get_hits)
miss1=$(stat_of "$PORT" get_misses)
check "memcslap get: 4000 hits (got $((hits1 - hits0)))" test $((hits1 - hits0)) -eq 4000
check "memcslap get: no misses (got $((miss1 - miss0)))" test $((miss1 - miss0)) -eq 0
hits0=$hits1
check "memcslap --test=mget" timeout 120 memcslap "$S" --concurrency=2 --execute-number=2000 --test=mget
hits1=$(stat_of "$PORT" get_hits)
check "memcslap mget: 4000 hits (got $((hits1 - hits0)))" test $((hits1 - hits0)) -eq 4000

# --- memcstat ----------------------------------------------------------------------------------
STANDARD_FIELDS=(pid uptime time version pointer_size rusage_user rusage_system curr_connections
  total_connections connection_structures cmd_get cmd_set cmd_flush cmd_touch get_hits get_misses
  get_expired delete_misses delete_hits incr_misses incr_hits decr_misses decr_hits cas_misses
  cas_hits cas_badval touch_hits touch_misses bytes_read bytes_written limit_maxbytes threads
  curr_items total_items bytes evictions)

# check_memcstat_output FILE: the standard fields are there, with this server's pid and items.
check_memcstat_output() {
  local out=$1 field missing=() pid items
  grep -q "^Server: 127.0.0.1 (" "$out" || missing+=("Server: line")
  for field in "${STANDARD_FIELDS[@]}"; do
    grep -qE "^[[:space:]]+$field: " "$out" || missing+=("$field")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "memcstat output lacks: ${missing[*]}"
    return 1
  fi
  pid=$(awk '$1 == "pid:" { print $2 }' "$out")
  items=$(awk '$1 == "curr_items:" { print $2 }' "$out")
  [[ $pid == "$MAIN_PID" ]] || { log "memcstat pid $pid, server pid $MAIN_PID"; return 1; }
  [[ $items == "$(stat_of "$PORT" curr_items)" ]] || { log "memcstat curr_items $items"; return 1; }
}

if memcstat "$S" >"$WORK/memcstat.out" 2>"$WORK/memcstat.err"; then
  check "memcstat shows the standard fields" check_memcstat_output "$WORK/memcstat.out"
else
  fail "memcstat failed: $(cat "$WORK/memcstat.err")"
fi

# --- memcached-tool (memcached's own stats reader, shipped in Debian's memcached package) ------
MEMCACHED_TOOL=/usr/share/memcached/scripts/memcached-tool
if [[ -f $MEMCACHED_TOOL ]]; then
  raw_cmd "$PORT" 'set mt:one 0 0 3\r\nabc\r\n' >/dev/null
  perl "$MEMCACHED_TOOL" "127.0.0.1:$PORT" display >"$WORK/mt-display.out" 2>&1
  perl "$MEMCACHED_TOOL" "127.0.0.1:$PORT" stats >"$WORK/mt-stats.out" 2>&1
  check "memcached-tool display shows the slab class table" grep -q "Item_Size" "$WORK/mt-display.out"
  check "memcached-tool display lists a class with items" \
    grep -Eq '^ +[0-9]+ +[0-9.]+[KM]?B +[0-9]+s +[0-9]+ +[1-9][0-9]* ' "$WORK/mt-display.out"
  check "memcached-tool stats reads curr_items" grep -Eq 'curr_items +[1-9]' "$WORK/mt-stats.out"
else
  log "memcached-tool not installed; skipped"
fi

# --- memccapable -a ----------------------------------------------------------------------------
ALL_ASCII_CHECKS=("ascii version" "ascii quit" "ascii verbosity" "ascii set" "ascii set noreply"
  "ascii get" "ascii gets" "ascii mget" "ascii flush" "ascii flush noreply" "ascii add"
  "ascii add noreply" "ascii replace" "ascii replace noreply" "ascii cas" "ascii cas noreply"
  "ascii delete" "ascii delete noreply" "ascii incr" "ascii incr noreply" "ascii decr"
  "ascii decr noreply" "ascii append" "ascii append noreply" "ascii prepend"
  "ascii prepend noreply" "ascii stat")
# run_memccapable PORT OUT: prints "name|pass" or "name|FAIL" per check. Unbuffered stdout keeps
# each [pass] (stdout) and [FAIL] (stderr) on the line of its check.
run_memccapable() {
  stdbuf -o0 -e0 timeout 120 memccapable -a -t 10 -h 127.0.0.1 -p "$1" >"$2" 2>&1 || true
  sed -nE 's/^(ascii [a-z ]*[a-z])[[:space:]]+\[(pass|FAIL)\].*/\1|\2/p' "$2"
}
status_in() {  # status_in RESULTS NAME
  printf '%s\n' "$1" | awk -F'|' -v n="$2" '$1 == n { print $2 }'
}
direct=$(run_memccapable "$PORT" "$WORK/memccapable.out")
log "memccapable -a:"$'\n'"$direct"
for name in "${ALL_ASCII_CHECKS[@]}"; do
  check "memccapable: $name" test "$(status_in "$direct" "$name")" = pass
done
check "memccapable: All tests passed" grep -q "All tests passed" "$WORK/memccapable.out"

# --- the same tools in binary mode (--binary), and memccapable -b ---------------------------------
B=(--binary "$S")
check "binary: memccp stores two files" memccp "${B[@]}" "$FILES/text.txt" "$FILES/random.bin"
rm -f "$WORK/out/text.txt" "$WORK/out/random.bin"
check "binary: memccat text.txt" memccat "${B[@]}" --file="$WORK/out/text.txt" text.txt
check "binary: text.txt is intact" cmp -s "$FILES/text.txt" "$WORK/out/text.txt"
check "binary: memccat random.bin" memccat "${B[@]}" --file="$WORK/out/random.bin" random.bin
check "binary: random.bin is intact" cmp -s "$FILES/random.bin" "$WORK/out/random.bin"
check "binary: memccp --flags" memccp "${B[@]}" --flags=4321 "$FILES/flagged.txt"
flags_line=$(memccat "${B[@]}" --flags flagged.txt 2>&1 | head -n1 || true)
check "binary: memccat --flags shows 4321 (got '$flags_line')" test "${flags_line#*4321}" != "$flags_line"
check "binary: memcexist finds text.txt" memcexist "${B[@]}" text.txt
check "binary: memcexist misses a missing key" bash -c '! memcexist --binary "$1" no-such-key' _ "$S"
check "binary: memctouch" memctouch "${B[@]}" --expire=300 text.txt
check "binary: memctouch fails on a missing key" \
  bash -c '! memctouch --binary "$1" --expire=300 no-such-key' _ "$S"
check "binary: memccp --add refuses an existing key" \
  bash -c '! memccp --binary "$1" --add "$2" 2>/dev/null' _ "$S" "$FILES/text.txt"
check "binary: memcrm" memcrm "${B[@]}" text.txt
check "binary: text.txt is gone" bash -c '! memccat --binary "$1" text.txt >/dev/null 2>&1' _ "$S"
if memcstat "${B[@]}" >"$WORK/memcstat-binary.out" 2>"$WORK/memcstat-binary.err"; then
  check "binary: memcstat shows the standard fields" check_memcstat_output "$WORK/memcstat-binary.out"
else
  fail "binary: memcstat failed: $(cat "$WORK/memcstat-binary.err")"
fi
sets0=$(stat_of "$PORT" cmd_set)
check "binary: memcslap --test=set" \
  timeout 120 memcslap "${B[@]}" --concurrency=2 --execute-number=500 --test=set
sets1=$(stat_of "$PORT" cmd_set)
check "binary: memcslap set: cmd_set grew by 1000 (got $((sets1 - sets0)))" \
  test $((sets1 - sets0)) -eq 1000
hits0=$(stat_of "$PORT" get_hits)
check "binary: memcslap --test=get" \
  timeout 120 memcslap "${B[@]}" --concurrency=2 --execute-number=500 --test=get
hits1=$(stat_of "$PORT" get_hits)
check "binary: memcslap get: 1000 hits (got $((hits1 - hits0)))" test $((hits1 - hits0)) -eq 1000
check "binary: memcflush" memcflush "${B[@]}"
check "binary: nothing left after memcflush" \
  bash -c '! memccat --binary "$1" random.bin >/dev/null 2>&1' _ "$S"

# memccapable -b: every binary check it has must pass (it flushes the server).
stdbuf -o0 -e0 timeout 120 memccapable -b -t 10 -h 127.0.0.1 -p "$PORT" \
  >"$WORK/memccapable-b.out" 2>&1 || true
binary_results=$(sed -nE 's/^(binary [a-z_ ]*[a-z])[[:space:]]+\[(pass|FAIL)\].*/\1|\2/p' \
  "$WORK/memccapable-b.out")
log "memccapable -b:"$'\n'"$binary_results"
check "memccapable -b ran all 27 checks ($(grep -c . <<<"$binary_results"))" \
  test "$(grep -c "|pass$" <<<"$binary_results")" -ge 27
check "memccapable -b: no FAIL" bash -c '! grep -q "|FAIL$" <<<"$1"' _ "$binary_results"
check "memccapable -b: All tests passed" grep -q "All tests passed" "$WORK/memccapable-b.out"

# --- the server is still healthy and stops cleanly ------------------------------------------------
reply=$(raw_cmd "$PORT" 'set after 0 0 2\r\nok\r\nget after\r\n' | tr -d '\r' | tr '\n' ' ')
check "server still serves after all tools" test "$reply" = "STORED VALUE after 0 2 ok END "
stop_ssdcached "$MAIN_PID"
pass "SIGTERM -> exit 0"

echo "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
