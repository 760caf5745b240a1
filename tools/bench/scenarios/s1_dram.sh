#!/usr/bin/env bash
# Scenario 1: small items that fit in DRAM. 100-byte values, 100k keys preloaded, get and set
# separately, connections x pipeline depths; ssdcached (-m large) vs memcached -t 1, both running,
# measured alternately. Results: $OUT_DIR/s1.jsonl.
# shellcheck source=common.sh disable=SC2153  # PORT and PID are set by start_server
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if quick; then
  : "${S1_KEYS:=20000}" "${S1_CONNS:=1 32}" "${S1_PIPELINES:=1 8}" "${S1_DURATION:=0.8}"
  : "${S1_WARMUP:=0.2}"
fi
S1_KEYS=${S1_KEYS:-100000}
S1_VALUE=${S1_VALUE:-100}
S1_CONNS=${S1_CONNS:-1 8 32 128}
S1_PIPELINES=${S1_PIPELINES:-1 8}
S1_METHODS=${S1_METHODS:-get set}
S1_DURATION=${S1_DURATION:-4}
S1_WARMUP=${S1_WARMUP:-1}
S1_SSD_MEM=${S1_SSD_MEM:-256}     # ssdcached -m: memory slabs
S1_SSD_INDEX=${S1_SSD_INDEX:-64}  # ssdcached -i: index
S1_DEVICE=${S1_DEVICE:-1G}
# Same DRAM budget: memcached -m = ssdcached -m + -i.
S1_MC_MEM=${S1_MC_MEM:-$((S1_SSD_MEM + S1_SSD_INDEX))}

bench_init s1
"${HELPER[@]}" note --out "$RESULTS" --scenario s1 --label config --server "" \
  keys="$S1_KEYS" value="$S1_VALUE" duration="$S1_DURATION" warmup="$S1_WARMUP" \
  ssd_mem="$S1_SSD_MEM" ssd_index="$S1_SSD_INDEX" device="$S1_DEVICE" mc_mem="$S1_MC_MEM"

start_ssdcached ssdcached "$WORK/ssd.dat" --device-size "$S1_DEVICE" -m "$S1_SSD_MEM" \
  -i "$S1_SSD_INDEX"
SSD_PORT=$PORT SSD_PID=$PID
start_memcached memcached -t 1 -m "$S1_MC_MEM"
MC_PORT=$PORT MC_PID=$PID

for srv in ssdcached memcached; do
  if [[ $srv == ssdcached ]]; then port=$SSD_PORT; else port=$MC_PORT; fi
  log "preload $S1_KEYS keys into $srv"
  run_load "preload-$srv" "$port" --method set --preload --num-calls 1 --num-conns 8 \
    --pipeline 16 --sizes "d$S1_VALUE" --key-space "$S1_KEYS"
done

i=0
for method in $S1_METHODS; do
  for conns in $S1_CONNS; do
    for pipeline in $S1_PIPELINES; do
      # Alternate which server goes first, so slow drift (page cache, other load) hits both.
      if ((i % 2 == 0)); then order="ssdcached memcached"; else order="memcached ssdcached"; fi
      i=$((i + 1))
      for srv in $order; do
        if [[ $srv == ssdcached ]]; then port=$SSD_PORT pid=$SSD_PID; else port=$MC_PORT pid=$MC_PID; fi
        label="$method-c$conns-p$pipeline-$srv"
        log "$label"
        measure "$label" "$srv" "$port" "$pid" method="$method" conns="$conns" \
          pipeline="$pipeline" -- --method "$method" --num-conns "$conns" --pipeline "$pipeline" \
          --sizes "d$S1_VALUE" --key-space "$S1_KEYS" --duration "$S1_DURATION" \
          --warmup "$S1_WARMUP"
      done
    done
  done
done

# Where ssdcached's time goes: flat profiles under gets and sets, 32 connections, pipeline 8.
for method in $S1_METHODS; do
  profile_under_load "s1-$method-c32-p8-ssdcached" "$SSD_PID" "$SSD_PORT" --method "$method" \
    --num-conns 32 --pipeline 8 --sizes "d$S1_VALUE" --key-space "$S1_KEYS"
done
log "done"
