#!/usr/bin/env bash
# Scenario 2: gets of 4,000-byte values (with header and key, an item that fits in one 4 KiB block)
# from a working set many times the memory-slab DRAM, so that they come from the device. ssdcached vs memcached + extstore (same DRAM) vs fio 4 KiB random reads
# (libaio, O_DIRECT, iodepth = outstanding requests) as the physical limit. Pipeline 1, so the
# number of connections is the number of outstanding requests. Results: $OUT_DIR/s2.jsonl.
# shellcheck source=common.sh disable=SC2153  # PORT and PID are set by start_server
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if quick; then
  : "${S2_DEVICE:=512M}" "${S2_KEYS:=32768}" "${S2_SSD_MEM:=32}" "${S2_CONNS:=32 256}"
  : "${S2_DURATION:=1}" "${S2_WARMUP:=0.3}" "${S2_FIO_RUNTIME:=1}" "${S2_FIO_RAMP:=0}"
fi
S2_DEVICE=${S2_DEVICE:-4G}      # device file (ssdcached), extstore file and fio file size
# 4,000 (not 4,096): each get is then one block, as fio's reads are (items up to a block never
# straddle one; a 4,096-byte value with its header and key needs two).
S2_VALUE=${S2_VALUE:-4000}
S2_KEYS=${S2_KEYS:-262144}      # 1 GiB of values by default: 16x the memory slabs
S2_CONNS=${S2_CONNS:-32 64 128 256}
S2_DURATION=${S2_DURATION:-4}
S2_WARMUP=${S2_WARMUP:-1}
S2_FIO_RUNTIME=${S2_FIO_RUNTIME:-4}
S2_FIO_RAMP=${S2_FIO_RAMP:-1}
S2_SSD_MEM=${S2_SSD_MEM:-64}
S2_SSD_INDEX=${S2_SSD_INDEX:-64}
S2_MC_MEM=${S2_MC_MEM:-$((S2_SSD_MEM + S2_SSD_INDEX))}
# More ssdcached flags, e.g. "--max-aio 256" (its default, 1024, is above the outstanding gets).
S2_SSD_EXTRA=${S2_SSD_EXTRA:-}
# extstore IO threads: one peer per value ("1" is memcached's default).
S2_EXT_THREADS=${S2_EXT_THREADS:-1 8}
# ext_item_age=0: write items to flash as soon as they are cold. With Debian's defaults extstore
# dropped most of a 1 GiB preload at this DRAM (evictions), which would turn gets into cheap misses.
S2_EXT_OPTS=${S2_EXT_OPTS:-ext_item_age=0}
# Preload concurrency: at 8 connections x pipeline 8 extstore evicted items it had not yet written
# to flash; 2 x 8 kept them all. Every server gets the same preload.
S2_PRELOAD_ARGS=${S2_PRELOAD_ARGS:---num-conns 2 --pipeline 8}

bench_init s2
ws_mib=$((S2_KEYS * S2_VALUE / 1048576))
"${HELPER[@]}" note --out "$RESULTS" --scenario s2 --label config --server "" \
  keys="$S2_KEYS" value="$S2_VALUE" working_set_mib="$ws_mib" device="$S2_DEVICE" \
  duration="$S2_DURATION" warmup="$S2_WARMUP" ssd_mem="$S2_SSD_MEM" ssd_index="$S2_SSD_INDEX" \
  mc_mem="$S2_MC_MEM" ext_opts="$S2_EXT_OPTS" ext_threads="${S2_EXT_THREADS// /,}" \
  ssd_extra="$S2_SSD_EXTRA"
((ws_mib >= 4 * S2_SSD_MEM)) || log "WARNING: working set $ws_mib MiB < 4 x -m $S2_SSD_MEM MiB"

dev_bytes=$("$PYTHON" -c "import sys; s=sys.argv[1]; m={'K':1<<10,'M':1<<20,'G':1<<30,'T':1<<40}
print(int(s[:-1])*m[s[-1]] if s[-1] in m else int(s))" "$S2_DEVICE")

# Each server is started and preloaded in turn (a server still flushing its preload would steal
# CPU from the next one's), then left to settle; a preload that left keys out (extstore evicting
# what it has not written yet) is run once more, and what each server holds is recorded.
servers=()
declare -A PORTS PIDS
preload() {
  local srv=$1 attempt held
  for attempt in 1 2; do
    log "preload $S2_KEYS x $S2_VALUE B into $srv (attempt $attempt)"
    # shellcheck disable=SC2086
    run_load "preload-$srv-$attempt" "${PORTS[$srv]}" --method set --preload --num-calls 1 \
      $S2_PRELOAD_ARGS --sizes "d$S2_VALUE" --key-space "$S2_KEYS"
    sleep 2
    snapshot "${PORTS[$srv]}" "${PIDS[$srv]}" "$RAW/preload-$srv.after.json"
    held=$("$PYTHON" -c "import json,sys; print(json.load(open(sys.argv[1]))['stats'].get('curr_items', 0))" \
      "$RAW/preload-$srv.after.json")
    ((held >= S2_KEYS)) && break
    log "$srv holds $held of $S2_KEYS keys after the preload"
  done
  "${HELPER[@]}" note --out "$RESULTS" --scenario s2 --label "preload-$srv" --server "$srv" \
    --json-file "$RAW/preload-$srv.after.json" attempts="$attempt"
}
# shellcheck disable=SC2086
start_ssdcached ssdcached "$WORK/ssd.dat" --device-size "$S2_DEVICE" -m "$S2_SSD_MEM" \
  -i "$S2_SSD_INDEX" $S2_SSD_EXTRA
PORTS[ssdcached]=$PORT PIDS[ssdcached]=$PID
servers+=(ssdcached)
preload ssdcached
for t in $S2_EXT_THREADS; do
  name=extstore-t$t
  start_memcached "$name" -t 1 -m "$S2_MC_MEM" \
    -o "ext_path=$WORK/$name.dat:$((dev_bytes / 1048576))M,ext_threads=$t,$S2_EXT_OPTS"
  PORTS[$name]=$PORT PIDS[$name]=$PID
  servers+=("$name")
  preload "$name"
done
# The network ceiling: the same gets answered from DRAM, by ssdcached with memory slabs larger
# than the working set (no device read) and by memcached -t 1 without extstore. A server that
# answers over TCP and reads the device on one core spends, per get, at least the CPU of the
# first (its network and protocol path) plus that of one fio IO: the analysis turns the two into
# a bound on device gets/s (render.py). S2_CEILING=0 leaves them out.
S2_CEILING=${S2_CEILING:-1}
if ((S2_CEILING)); then
  dram_mib=$((ws_mib * 3 / 2 + 64))
  start_ssdcached ssdcached-dram "$WORK/ssd-dram.dat" --device-size "$S2_DEVICE" -m "$dram_mib" \
    -i "$S2_SSD_INDEX"
  PORTS[ssdcached-dram]=$PORT PIDS[ssdcached-dram]=$PID
  servers+=(ssdcached-dram)
  preload ssdcached-dram
  start_memcached memcached-dram -t 1 -m "$dram_mib"
  PORTS[memcached-dram]=$PORT PIDS[memcached-dram]=$PID
  servers+=(memcached-dram)
  preload memcached-dram
fi
# fio's file, laid out (written) by fio itself so that no read hits a hole.
log "laying out the fio file ($S2_DEVICE)"
pin_server "$FIO" --name=layout --filename="$WORK/fio.dat" --size="$S2_DEVICE" --rw=write --bs=1M \
  --ioengine=libaio --direct=1 --iodepth=8 --output="$RAW/fio-layout.txt" >/dev/null 2>&1 ||
  die "fio could not lay out $WORK/fio.dat"

# fio_randread LABEL KEY=VALUE... -- FIO_ARGS...: random reads of fio's file on the server's core,
# recorded under LABEL with the KEY=VALUE fields.
fio_randread() {
  local label=$1 rc=0 kv=()
  shift
  while [[ $# -gt 0 && $1 != -- ]]; do
    kv+=("$1")
    shift
  done
  shift
  pin_server "$FIO" --name=randread --filename="$WORK/fio.dat" --size="$S2_DEVICE" \
    --rw=randread --ioengine=libaio --direct=1 --time_based --ramp_time="$S2_FIO_RAMP" \
    --randrepeat=0 --norandommap --output-format=json --output="$RAW/$label.fio.json" "$@" \
    >/dev/null 2>&1 || rc=$?
  "${HELPER[@]}" fio --out "$RESULTS" --scenario s2 --label "$label" --rc "$rc" \
    --fio-json "$RAW/$label.fio.json" "${kv[@]}"
}

dropped=$(drop_caches)
"${HELPER[@]}" note --out "$RESULTS" --scenario s2 --label drop_caches --server "" \
  dropped="$dropped"
log "page cache dropped before every run: $dropped"

i=0
for conns in $S2_CONNS; do
  order=("${servers[@]}" fio)
  if ((i % 2 == 1)); then order=(fio "${servers[@]}"); fi
  i=$((i + 1))
  for srv in "${order[@]}"; do
    drop_caches >/dev/null
    label="get-c$conns-$srv"
    log "$label"
    if [[ $srv == fio ]]; then
      fio_randread "$label" conns="$conns" iodepth="$conns" -- --bs=4k --iodepth="$conns" \
        --runtime="$S2_FIO_RUNTIME"
    else
      measure "$label" "$srv" "${PORTS[$srv]}" "${PIDS[$srv]}" method=get conns="$conns" \
        pipeline=1 -- --method get --num-conns "$conns" --pipeline 1 --sizes "d$S2_VALUE" \
        --key-space "$S2_KEYS" --duration "$S2_DURATION" --warmup "$S2_WARMUP" --timeout 5000
    fi
  done
done

# Open loop at a fixed rate, far below the closed-loop peak: the latency a light load sees. The same
# schedule of gets (S2_OPEN_RATES per second over S2_OPEN_CONNS connections, latency counted from
# the scheduled time) on ssdcached (device reads) and on ssdcached-dram (the same gets from DRAM),
# and fio reading 8 KiB blocks (a 4 KiB value's chunk spans 2 blocks) at the same rate and depth.
# The goal: ssdcached's p99 <= 2 x (fio's p99 + the DRAM gets' p99).
S2_OPEN_RATES=${S2_OPEN_RATES:-10000}
S2_OPEN_CONNS=${S2_OPEN_CONNS:-32}
S2_OPEN_DURATION=${S2_OPEN_DURATION:-$((S2_DURATION * 2))}
for rate in $S2_OPEN_RATES; do
  for srv in ssdcached ssdcached-dram fio; do
    [[ $srv == ssdcached-dram && -z ${PORTS[$srv]:-} ]] && continue
    drop_caches >/dev/null
    label="open-r$rate-$srv"
    log "$label"
    if [[ $srv == fio ]]; then
      fio_randread "$label" mode=open rate="$rate" conns="$S2_OPEN_CONNS" -- --bs=8k \
        --iodepth="$S2_OPEN_CONNS" --rate_iops="$rate" --runtime="$S2_OPEN_DURATION"
    else
      measure "$label" "$srv" "${PORTS[$srv]}" "${PIDS[$srv]}" mode=open rate="$rate" \
        conns="$S2_OPEN_CONNS" method=get pipeline=1 -- --method get --num-conns "$S2_OPEN_CONNS" \
        --pipeline 1 --call-rate "$rate" --sizes "d$S2_VALUE" --key-space "$S2_KEYS" \
        --duration "$S2_OPEN_DURATION" --warmup "$S2_WARMUP" --timeout 5000
    fi
  done
done

# Where ssdcached's time goes at the highest and the lowest queue depth.
for conns in $S2_CONNS; do :; done
last=$conns
first=${S2_CONNS%% *}
for conns in $first $last; do
  profile_under_load "s2-get-c$conns-ssdcached" "${PIDS[ssdcached]}" "${PORTS[ssdcached]}" \
    --method get --num-conns "$conns" --pipeline 1 --sizes "d$S2_VALUE" --key-space "$S2_KEYS" \
    --timeout 5000
done
log "done"
