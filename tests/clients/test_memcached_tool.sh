#!/usr/bin/env bash
# Drives ssdcached with memcached-tool, the Perl script of Debian's memcached package
# (/usr/share/memcached/scripts/memcached-tool): the subcommands display, stats, settings and
# sizes, each under a timeout (the tool waits for END forever), checking that it finishes and
# prints what it prints for memcached. dump and keys need `lru_crawler metadump` (not here yet).
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

# run_tool SUBCOMMAND: the tool's output; fails the test if it errs or does not finish in 10 s.
run_tool() {
  local out status=0
  out=$(timeout 10 perl "$TOOL" "127.0.0.1:$PORT" "$1" 2>&1) || status=$?
  [[ $status -eq 0 ]] || die "memcached-tool $1 exited with $status (124: timed out): $out"
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

log "memcached-tool: display, stats, settings, sizes passed"
