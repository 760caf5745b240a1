#!/usr/bin/env bash
# Scenario 7: how cost grows with the item count. For each count in S7_COUNTS, a fresh ssdcached
# with an index and a device sized for it is loaded with that many small items (values of
# S7_SIZES, keys "k" + zero-padded id, a pipelined preload), then: a get-only Zipf read load over
# the loaded keys (gets/s, p99), RSS per item ((RSS loaded - RSS empty) / items, as s4) and
# index_bytes / curr_items, a SIGTERM stop (memory slabs, then the index snapshot) and a timed
# restart on the same file (exec until the port opens; the items the restart brought back).
# Results: $OUT_DIR/s7.jsonl.
# shellcheck source=common.sh disable=SC2153  # PORT and PID are set by start_server
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=s6lib.sh
source "$SCEN_DIR/s6lib.sh"

if quick; then
  : "${S7_COUNTS:=100000 300000}" "${S7_WARMUP:=0.3}" "${S7_DURATION:=1}"
fi
# The 50M count took 4.7 of the scenario's 5.6 minutes at load average 2.4 (a 172 s load, a 55 s
# stop, a 44 s restart: all three cost more per item than at 10M); S7_COUNTS="1000000 10000000"
# skips it.
S7_COUNTS=${S7_COUNTS:-1000000 10000000 50000000}
S7_SIZES=${S7_SIZES:-u32,100}
S7_MEM=${S7_MEM:-16}
# Every key is written once: admission (--admit on) would keep most of them off the device.
S7_SERVER_ARGS=${S7_SERVER_ARGS:---admit off}
# -i per count: the smallest power-of-two index (64-byte buckets of 6 slots, src/storage/index.h)
# whose load stays at or under S7_MAX_LOAD_PCT %; S7_INDEX_MIB fixes one -i for every count.
S7_MAX_LOAD_PCT=${S7_MAX_LOAD_PCT:-90}
S7_INDEX_MIB=${S7_INDEX_MIB:-}
# Device bytes per item: header 48 + key 9 + value 32..100 is 89..157 bytes, in chunks of 96, 120,
# 152 and 192 bytes (stats slabs): 137 bytes on average; 160 leaves the FIFO room so that no
# item is evicted (the table shows `slab_evictions`).
S7_ITEM_BYTES=${S7_ITEM_BYTES:-160}
S7_LOAD_ARGS=${S7_LOAD_ARGS:---num-conns 4 --pipeline 32}
S7_GET_ARGS=${S7_GET_ARGS:---key-dist zipf:0.99 --num-conns 32 --pipeline 1}
S7_WARMUP=${S7_WARMUP:-1}
S7_DURATION=${S7_DURATION:-4}

bench_init s7
"${HELPER[@]}" note --out "$RESULTS" --scenario s7 --label config --server "" \
  counts="$S7_COUNTS" sizes="$S7_SIZES" ssd_mem="$S7_MEM" server_args="$S7_SERVER_ARGS" \
  max_load_pct="$S7_MAX_LOAD_PCT" item_bytes="$S7_ITEM_BYTES" snapshot_size=auto \
  load_args="$S7_LOAD_ARGS" \
  get_args="$S7_GET_ARGS" warmup="$S7_WARMUP" duration="$S7_DURATION"

# index_mib N: -i for N items.
index_mib() {
  [[ -n $S7_INDEX_MIB ]] && { echo "$S7_INDEX_MIB"; return; }
  local slots=$(($1 * 100 / S7_MAX_LOAD_PCT)) buckets=1
  while ((buckets * 6 < slots)); do buckets=$((buckets * 2)); done
  local mib=$((buckets * 64 >> 20))
  echo $((mib < 1 ? 1 : mib))
}

# snapshot_mib IDX N: the region --snapshot-size auto reserves on a new device, which the device
# holds besides the items: room for a snapshot of the whole index (12 bytes per slot, 6 slots per
# 64-byte bucket: 9/8 of -i), 768 bytes per MiB of device for slab records and the 128 KiB access
# table (src/storage/snapshot.h), at most 1/8 of the device.
snapshot_mib() { echo $(($1 * 9 / 8 + $2 * S7_ITEM_BYTES / 1048576 / 1024 + 2)); }

# s7_count N: one item count, one record.
s7_count() {
  local n=$1 dev=$WORK/s7.dat label="n$1" idx snap mib empty t0 load_s before after
  idx=$(index_mib "$n")
  snap=$(snapshot_mib "$idx" "$n")
  # Chunks, memory slabs written at the stop, the snapshot, the journal and a margin.
  mib=$((n * S7_ITEM_BYTES / 1048576 + S7_MEM + snap + 64))
  local args=(-m "$S7_MEM" -i "$idx")
  # shellcheck disable=SC2206  # S7_SERVER_ARGS is a list of words
  args+=($S7_SERVER_ARGS)
  start_ssdcached "ssdcached-$label" "$dev" --device-size "${mib}M" "${args[@]}"
  sleep 1
  empty=$(rss_kb "$PID")
  log "$label: loading $n items ($S7_SIZES) into -i $idx, a $mib MiB device"
  t0=$(now_s)
  # shellcheck disable=SC2086
  run_load "load-$label" "$PORT" --method set --preload --num-calls 1 $S7_LOAD_ARGS \
    --sizes "$S7_SIZES" --key-space "$n" --key-prefix k --timeout 5000
  load_s=$(elapsed "$t0")
  sleep 2
  "${HELPER[@]}" snapshot --port "$PORT" --pid "$PID" --out "$RAW/$label.loaded.json" --slabs
  # shellcheck disable=SC2086
  measure "get-$label" ssdcached "$PORT" "$PID" items="$n" index_mib="$idx" device_mib="$mib" \
    rss_empty_kb="$empty" rss_loaded_kb="$(rss_kb "$PID")" load_s="$load_s" -- --method get \
    $S7_GET_ARGS --sizes "$S7_SIZES" --key-space "$n" --key-prefix k --warmup "$S7_WARMUP" \
    --duration "$S7_DURATION"
  before=$("${HELPER[@]}" stat --port "$PORT" --name curr_items)
  s6_stop "ssdcached-$label"
  local stop_s=$STOP_S snap_s=$SNAP_S
  s6_start "ssdcached-$label-restart" "$dev" "$mib" "${args[@]}"
  after=$("${HELPER[@]}" stat --port "$PORT" --name curr_items)
  log "$label: $after of $before items back after the restart"
  # Not measured: SIGKILL spares the second snapshot write (a minute at 50M items).
  kill -KILL "$PID" 2>/dev/null || true
  stop_server "$PID"
  "${HELPER[@]}" note --out "$RESULTS" --scenario s7 --label "restart-$label" --server ssdcached \
    --json-file "$RAW/$label.loaded.json" items="$n" index_mib="$idx" device_mib="$mib" \
    snapshot_mib="$snap" rss_empty_kb="$empty" load_s="$load_s" \
    stop_s="$stop_s" snapshot_write_s="$snap_s" restart_s="$RESTART_S" rebuild_s="$SECS" \
    snapshot="$SNAPSHOT" items_before="$before" items_after="$after" line="$LINE"
  rm -f "$dev"
}

for n in $S7_COUNTS; do s7_count "$n"; done
log "done"
