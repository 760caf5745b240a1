#!/usr/bin/env bash
# Scenario 4: DRAM per item. Load N small items (32-byte values, keys "k" + zero-padded id) and
# report (RSS loaded - RSS empty) / items from /proc/PID/status VmRSS, for ssdcached, memcached and
# memcached + extstore, plus ssdcached's own index_bytes / curr_items. Servers run one at a time.
# Results: $OUT_DIR/s4.jsonl.
# shellcheck source=common.sh disable=SC2153  # PORT and PID are set by start_server
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if quick; then
  : "${S4_ITEMS:=360000}" "${S4_SSD_INDEX:=4}" "${S4_DEVICE:=256M}" "${S4_MC_MEM:=128}"
fi
# Default: 11.6M items in a 128 MiB index (2M buckets x 6 slots = 12.58M slots, load 0.92), as
# many as the time budget allows (ssdcached loads them in ~12 s, memcached in ~35 s).
S4_ITEMS=${S4_ITEMS:-11600000}
S4_VALUE=${S4_VALUE:-32}
S4_SSD_INDEX=${S4_SSD_INDEX:-128}
S4_SSD_MEM=${S4_SSD_MEM:-4}  # the smallest -m (4 slabs): one slab class is in use
S4_DEVICE=${S4_DEVICE:-2G}
S4_MC_MEM=${S4_MC_MEM:-2048}  # large enough to hold every item (memcached) or header (extstore)
# ext_item_size: values above this go to flash (the default, 512, would keep 32-byte values in
# DRAM); ext_item_age=0 writes them as soon as possible.
S4_EXT_OPTS=${S4_EXT_OPTS:-ext_item_size=16,ext_item_age=0}
S4_PEERS=${S4_PEERS:-memcached extstore}
S4_LOAD_ARGS=${S4_LOAD_ARGS:---num-conns 4 --pipeline 32}

bench_init s4
"${HELPER[@]}" note --out "$RESULTS" --scenario s4 --label config --server "" \
  items="$S4_ITEMS" value="$S4_VALUE" ssd_index="$S4_SSD_INDEX" ssd_mem="$S4_SSD_MEM" \
  device="$S4_DEVICE" mc_mem="$S4_MC_MEM" ext_opts="$S4_EXT_OPTS"

# load_and_measure NAME PORT PID EMPTY_RSS_KB [key=value...]
load_and_measure() {
  local name=$1 port=$2 pid=$3 empty=$4
  shift 4
  log "$name: loading $S4_ITEMS items"
  local t0 t1
  t0=$(date +%s.%N)
  # shellcheck disable=SC2086
  run_load "load-$name" "$port" --method set --preload --num-calls 1 $S4_LOAD_ARGS \
    --sizes "d$S4_VALUE" --key-space "$S4_ITEMS" --key-prefix k --timeout 5000
  t1=$(date +%s.%N)
  # Let background threads (extstore flushing, LRU maintainer) settle, then read RSS.
  sleep 3
  "${HELPER[@]}" snapshot --port "$port" --pid "$pid" --out "$RAW/$name.loaded.json" --slabs
  "${HELPER[@]}" note --out "$RESULTS" --scenario s4 --label "$name" --server "$name" \
    --json-file "$RAW/$name.loaded.json" rss_empty_kb="$empty" rss_loaded_kb="$(rss_kb "$pid")" \
    load_s="$("$PYTHON" -c "print(round($t1 - $t0, 2))")" items_sent="$S4_ITEMS" "$@"
}

# ssdcached: first two baselines with the smallest index, -m M and -m 2M: they tell whether the
# index (RSS with -i N minus RSS with -i 1, both empty) and the memory slabs (RSS with -m 2M minus
# RSS with -m M) are already resident in an empty server, in which case they are missing from the
# growth under load and are added back to the total.
start_ssdcached ssdcached-i1 "$WORK/ssd.dat" --device-size "$S4_DEVICE" -m "$S4_SSD_MEM" -i 1
sleep 1
base_noindex=$(rss_kb "$PID")
stop_server "$PID"
rm -f "$WORK/ssd.dat"
start_ssdcached ssdcached-i1-2m "$WORK/ssd.dat" --device-size "$S4_DEVICE" \
  -m $((2 * S4_SSD_MEM)) -i 1
sleep 1
base_2m=$(rss_kb "$PID")
stop_server "$PID"
rm -f "$WORK/ssd.dat"

start_ssdcached ssdcached "$WORK/ssd.dat" --device-size "$S4_DEVICE" -m "$S4_SSD_MEM" \
  -i "$S4_SSD_INDEX"
sleep 1
empty=$(rss_kb "$PID")
load_and_measure ssdcached "$PORT" "$PID" "$empty" rss_base_noindex_kb="$base_noindex" \
  rss_base_2m_kb="$base_2m"
stop_server "$PID"
rm -f "$WORK/ssd.dat"

for peer in $S4_PEERS; do
  if [[ $peer == extstore ]]; then
    start_memcached extstore -t 1 -m "$S4_MC_MEM" \
      -o "ext_path=$WORK/ext.dat:$S4_DEVICE,$S4_EXT_OPTS"
  else
    start_memcached memcached -t 1 -m "$S4_MC_MEM"
  fi
  sleep 1
  empty=$(rss_kb "$PID")
  load_and_measure "$peer" "$PORT" "$PID" "$empty"
  stop_server "$PID"
  rm -f "$WORK/ext.dat"
done
log "done"
