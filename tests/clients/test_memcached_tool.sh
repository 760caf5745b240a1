#!/usr/bin/env bash
# Drives ssdcached with memcached-tool, the Perl script of Debian's memcached package
# (/usr/share/memcached/scripts/memcached-tool): every subcommand it has (display, the default;
# stats, settings, sizes; dump and keys, with and without a limit, over `lru_crawler metadump`;
# move, which in this version of the script has no code of its own and prints display), each
# under a timeout (the tool waits for END forever), checking that it finishes and prints what it
# prints for memcached; and that what `dump` prints restores the items into another server.
#
#   tests/clients/test_memcached_tool.sh [path/to/ssdcached]     (or SSDCACHED_BIN=...)
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap clients_cleanup EXIT
clients_init "${1:-}"

TOOL=/usr/share/memcached/scripts/memcached-tool
[[ -x $TOOL ]] || die "$TOOL not found: install memcached (tools/install-deps.sh)"
command -v perl >/dev/null || die "perl not found (memcached depends on it)"

start_ssdcached main
PORT=$SSDC_PORT

# Three items of one class, one hit.
reply=$(raw_cmd "$PORT" 'set a 0 0 5\r\nhello\r\nset b 0 0 5\r\nhello\r\nset c 0 0 5\r\nhello\r\nget a\r\n')
[[ $(grep -c STORED <<<"$reply") -eq 3 ]] || die "sets failed: $reply"

# run_tool SUBCOMMAND [ARGS...]: the tool's output; fails the test if it errs or does not finish
# in 10 s.
run_tool() {
  local out status=0
  out=$(timeout 10 perl "$TOOL" "127.0.0.1:$PORT" "$@" 2>&1) || status=$?
  [[ $status -eq 0 ]] || die "memcached-tool $* exited with $status (124: timed out): $out"
  printf '%s\n' "$out" | tr -d '\r'  # the tool keeps the \r of each STAT line
}

# display: a header and one row per class with pages; ours holds the 3 items.
out=$(run_tool display)
log "display:"$'\n'"$out"
grep -q '^  #  Item_Size  Max_age   Pages   Count   Full?  Evicted Evict_Time OOM$' <<<"$out" ||
  die "display: no header"
# "  N   SIZE   AGEs   PAGES   COUNT   FULL   EVICTED   EVICT_TIME   OOM"
grep -Eq '^ +[0-9]+ +[0-9.]+[BK] +[0-9]+s +1 +3 +no +0 +0 +0$' <<<"$out" ||
  die "display: no row for the class holding the 3 items"

# stats: every general stat, sorted; the ones we know.
out=$(run_tool stats)
grep -Eq '^ +curr_items +3$' <<<"$out" || die "stats: curr_items is not 3: $out"
grep -Eq '^ +get_hits +1$' <<<"$out" || die "stats: get_hits is not 1"
grep -Eq '^ +accepting_conns +1$' <<<"$out" || die "stats: no accepting_conns"

# settings
out=$(run_tool settings)
grep -Eq "^ +tcpport +$PORT\$" <<<"$out" || die "settings: no tcpport $PORT: $out"
grep -Eq '^ +maxconns +[0-9]+$' <<<"$out" || die "settings: no maxconns"

# sizes: a header and a row "SIZE COUNT" holding the 3 items (memcached-tool hung here before).
out=$(run_tool sizes)
log "sizes:"$'\n'"$out"
grep -q 'Size' <<<"$out" || die "sizes: no header"
grep -Eq '^ +[0-9]+ +3$' <<<"$out" || die "sizes: no row with the 3 items"

# No subcommand is display; so is move (slabs reassign is gone from the script: docs/protocol.md).
grep -q 'Item_Size' <<<"$(run_tool)" || die "no subcommand: not display"
grep -q 'Item_Size' <<<"$(run_tool move 6 7)" || die "move: not display"

# keys and dump list what `lru_crawler metadump all` lists: 6 keys, one needing URI encoding.
reply=$(raw_cmd "$PORT" 'set user:42 7 0 3\r\nabc\r\nset ttl 3 3600 2\r\nhi\r\nset b/c~d 0 0 4\r\ndata\r\n')
[[ $(grep -c STORED <<<"$reply") -eq 3 ]] || die "sets failed: $reply"
out=$(run_tool keys)
log "keys:"$'\n'"$out"
[[ $(grep -c '^key=' <<<"$out") -eq 6 ]] || die "keys: not 6 keys: $out"
grep -Eq '^key=user%3A42 exp=-1 la=[0-9]+ cas=[0-9]+ fetch=no cls=[0-9]+ size=58$' <<<"$out" ||
  die "keys: no line for user:42"
grep -Eq '^key=b%2Fc~d exp=-1 ' <<<"$out" || die "keys: b/c~d not encoded as memcached does"
grep -Eq '^key=a exp=-1 la=[0-9]+ cas=[0-9]+ fetch=yes ' <<<"$out" || die "keys: a was fetched"
[[ $(run_tool keys 2 | grep -c '^key=') -eq 2 ]] || die "keys 2: not 2 keys"

out=$(run_tool dump)
grep -q '^add user:42 7 0 3$' <<<"$out" || die "dump: no add line for user:42: $out"
grep -Eq '^add ttl 3 [0-9]{10} 2$' <<<"$out" || die "dump: ttl's absolute exptime"
grep -q '^add b/c~d 0 0 4$' <<<"$out" || die "dump: b/c~d decoded"
[[ $(grep -c '^add ' <<<"$out") -eq 6 ]] || die "dump: not 6 items"
[[ $(run_tool dump 3 | grep -c '^add ') -eq 3 ]] || die "dump 3: not 3 items"

# What dump prints loads the items into another server.
timeout 10 perl "$TOOL" "127.0.0.1:$PORT" dump >"$WORK/dump.txt" 2>/dev/null || die "dump failed"
start_ssdcached copy
reply=$({
  cat "$WORK/dump.txt"
  printf 'get user:42 ttl b/c~d a\r\nquit\r\n'
} | timeout 10 nc -q1 127.0.0.1 "$SSDC_PORT" | tr -d '\r')
[[ $(grep -c '^STORED$' <<<"$reply") -eq 6 ]] || die "restore: not 6 STORED: $reply"
for want in 'VALUE user:42 7 3' 'VALUE ttl 3 2' 'VALUE b/c~d 0 4' 'VALUE a 0 5'; do
  grep -qx "$want" <<<"$reply" || die "restore: no '$want': $reply"
done

log "memcached-tool: display, stats, settings, sizes, move, keys, dump passed"
