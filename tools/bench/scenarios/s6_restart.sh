#!/usr/bin/env bash
# Scenario 6: restarts. Fill a device file with 4,000-byte values, stop ssdcached with SIGTERM (it
# writes its memory slabs, then the index snapshot), start it again on the same file and time it
# from exec until the port opens, then get every item once. Clean restarts load the snapshot; the
# same device with its snapshot header wiped shows the scan the snapshot replaces. Two tables:
# restart time against the item count at a fixed device size (S6_COUNT_PCTS, % of the device),
# and against the device size at a fixed item count (S6_SIZES_MIB), each with the stop time and
# the snapshot write it contains. Reads the "warm restart: ..." and "clean stop: ..." log lines.
# Results: $OUT_DIR/s6.jsonl.
# shellcheck source=common.sh disable=SC2153  # PORT and PID are set by start_server
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=s6lib.sh
source "$SCEN_DIR/s6lib.sh"

if quick; then
  : "${S6_DEVICE_MIB:=256}"
  : "${S6_COUNT_PCTS:=20 85}"
  : "${S6_SIZES_MIB:=256 1024}"
fi
S6_DEVICE_MIB=${S6_DEVICE_MIB:-4096}
S6_VALUE=${S6_VALUE:-4000}
S6_MEM=${S6_MEM:-64}
S6_RESTARTS=${S6_RESTARTS:-2}
S6_COUNT_PCTS=${S6_COUNT_PCTS:-10 40 85}
S6_SIZES_MIB=${S6_SIZES_MIB:-1024 4096 16384}
# Items of ~4 KiB chunks (header + key + value rounded up to its class) filling PCT % of MIB.
items_for() { echo $(($1 * 1024 * 1024 * $2 / 100 / 4096)); }
S6_ITEMS=${S6_ITEMS:-$(items_for "$S6_DEVICE_MIB" 85)}
# The size table's item count: 85 % of its smallest device.
S6_FIXED_ITEMS=${S6_FIXED_ITEMS:-$(items_for "$(tr ' ' '\n' <<<"$S6_SIZES_MIB" | sort -n | head -1)" 85)}
S6_LOAD_ARGS=${S6_LOAD_ARGS:---num-conns 4 --pipeline 16}
S6_JOURNAL=${S6_JOURNAL:-4194304}  # --journal-size (default 4M): the snapshot region follows it
S6_KILLS=${S6_KILLS:-4}
# Overwritten before each SIGKILL (5 %): memory slabs and journal entries the crash leaves behind.
S6_KILL_ITEMS=${S6_KILL_ITEMS:-$((S6_ITEMS / 20))}
S6_FIO_DEPTHS=${S6_FIO_DEPTHS:-1 16}

bench_init s6
"${HELPER[@]}" note --out "$RESULTS" --scenario s6 --label config --server "" \
  device_mib="$S6_DEVICE_MIB" value="$S6_VALUE" items="$S6_ITEMS" ssd_mem="$S6_MEM" \
  count_pcts="$S6_COUNT_PCTS" sizes_mib="$S6_SIZES_MIB" fixed_items="$S6_FIXED_ITEMS"

# s6_fill NAME DEV MIB ITEMS: a fresh device file of MIB filled with ITEMS values; the server
# stays up (PORT, PID).
s6_fill() {
  local name=$1 dev=$2 mib=$3 items=$4
  start_ssdcached "$name" "$dev" --device-size "${mib}M" -m "$S6_MEM"
  log "$name: filling $mib MiB with $items items of $S6_VALUE bytes"
  # shellcheck disable=SC2086
  run_load "$name" "$PORT" --method set --preload --num-calls 1 $S6_LOAD_ARGS \
    --sizes "d$S6_VALUE" --key-space "$items" --key-prefix k --timeout 5000
}

# s6_restart LABEL DEV MIB EXPECT: a timed start, a get of every item, a timed stop; one record.
s6_restart() {
  local label=$1 dev=$2 mib=$3 expect=$4 hits misses wrong
  s6_start "ssdcached-$label" "$dev" "$mib" -m "$S6_MEM"
  read -r hits misses wrong < <("${HELPER[@]}" getall --port "$PORT" --prefix k --count "$expect" \
    --size "$S6_VALUE")
  log "$label: $hits of $expect items back ($misses misses, $wrong of another size)"
  s6_stop "ssdcached-$label"
  "${HELPER[@]}" note --out "$RESULTS" --scenario s6 --label "$label" --server ssdcached \
    device_mib="$mib" items="$ITEMS" slabs="$SLABS" mib="$MIB_READ" seconds="$SECS" \
    restart_s="$RESTART_S" snapshot="$SNAPSHOT" expected="$expect" hits="$hits" misses="$misses" \
    stop_s="$STOP_S" snapshot_write_s="$SNAP_S" \
    gib_s="$("$PYTHON" -c "print(round($MIB_READ / 1024 / max($SECS, 1e-6), 3))")" \
    items_s="$("$PYTHON" -c "print(round($ITEMS / max($SECS, 1e-6)))")" line="$LINE"
}

# s6_wipe_snapshot DEV: zeroes the snapshot header (behind the superblock and the journal), so
# that the next start scans the same device.
s6_wipe_snapshot() {
  dd if=/dev/zero of="$1" bs=4096 count=1 seek=$((1 + S6_JOURNAL / 4096)) conv=notrunc \
    status=none
}

# The clean restarts of a full device: S6_RESTARTS with the snapshot, then one scan.
s6_clean_restarts() {
  local dev=$WORK/ssd.dat
  s6_fill ssdcached-fill "$dev" "$S6_DEVICE_MIB" "$S6_ITEMS"
  s6_stop ssdcached-fill
  "${HELPER[@]}" note --out "$RESULTS" --scenario s6 --label stop-fill --server ssdcached \
    device_mib="$S6_DEVICE_MIB" items="$S6_ITEMS" stop_s="$STOP_S" snapshot_write_s="$SNAP_S"
  for run in $(seq 1 "$S6_RESTARTS"); do
    s6_restart "restart$run" "$dev" "$S6_DEVICE_MIB" "$S6_ITEMS"
  done
  s6_wipe_snapshot "$dev"
  s6_restart scan "$dev" "$S6_DEVICE_MIB" "$S6_ITEMS"
  rm -f "$dev"
}

# Restart time against the item count, at S6_DEVICE_MIB.
s6_count_table() {
  local dev=$WORK/count.dat pct items
  for pct in $S6_COUNT_PCTS; do
    items=$(items_for "$S6_DEVICE_MIB" "$pct")
    s6_fill "ssdcached-fill-count-$pct" "$dev" "$S6_DEVICE_MIB" "$items"
    s6_stop "ssdcached-fill-count-$pct"
    s6_restart "count-$pct" "$dev" "$S6_DEVICE_MIB" "$items"
    rm -f "$dev"
  done
}

# Restart time against the device size, at S6_FIXED_ITEMS items; the scan beside it.
s6_size_table() {
  local dev=$WORK/size.dat mib
  for mib in $S6_SIZES_MIB; do
    s6_fill "ssdcached-fill-size-$mib" "$dev" "$mib" "$S6_FIXED_ITEMS"
    s6_stop "ssdcached-fill-size-$mib"
    s6_restart "size-$mib" "$dev" "$mib" "$S6_FIXED_ITEMS"
    s6_wipe_snapshot "$dev"
    s6_restart "size-$mib-scan" "$dev" "$mib" "$S6_FIXED_ITEMS"
    rm -f "$dev"
  done
}


# s6_kill_restart RUN DEV: a crash restart. Starts on the filled file, overwrites S6_KILL_ITEMS
# keys, kills the server with SIGKILL (what only its memory slabs held is lost, the journal keeps
# the overwrites' order), starts it again (a scan: the snapshot is never trusted after an unclean
# stop) and records it as killRUN; sets KILL_GIB_S.
s6_kill_restart() {
  local run=$1 dev=$2
  s6_start "ssdcached-prekill$run" "$dev" "$S6_DEVICE_MIB" -m "$S6_MEM"
  # shellcheck disable=SC2086
  run_load "overwrite$run" "$PORT" --method set --preload --num-calls 1 $S6_LOAD_ARGS \
    --sizes "d$S6_VALUE" --key-space "$S6_KILL_ITEMS" --key-prefix k --timeout 5000
  kill -KILL "$PID" 2>/dev/null || true
  stop_server "$PID"
  s6_start "ssdcached-kill$run" "$dev" "$S6_DEVICE_MIB" -m "$S6_MEM"
  KILL_GIB_S=$("$PYTHON" -c "print(round($MIB_READ / 1024 / max($SECS, 1e-6), 3))")
  "${HELPER[@]}" note --out "$RESULTS" --scenario s6 --label "kill$run" --server ssdcached \
    device_mib="$S6_DEVICE_MIB" items="$ITEMS" slabs="$SLABS" mib="$MIB_READ" seconds="$SECS" \
    restart_s="$RESTART_S" snapshot="$SNAPSHOT" gib_s="$KILL_GIB_S" line="$LINE"
  s6_stop "ssdcached-kill$run"
}

# s6_fio_seqread DEPTH DEV: fio's 1 MiB O_DIRECT sequential read of the whole device file
# (read-only, libaio), on the server's core, recorded as fio-seq-qdDEPTH; sets FIO_GIB_S.
s6_fio_seqread() {
  local depth=$1 dev=$2 label="fio-seq-qd$1" rc=0
  pin_server "$FIO" --name=seqread --filename="$dev" --size="${S6_DEVICE_MIB}M" --readonly \
    --rw=read --bs=1M --ioengine=libaio --direct=1 --iodepth="$depth" --output-format=json \
    --output="$RAW/$label.fio.json" >/dev/null 2>&1 || rc=$?
  "${HELPER[@]}" fio --out "$RESULTS" --scenario s6 --label "$label" --rc "$rc" \
    --fio-json "$RAW/$label.fio.json" iodepth="$depth"
  FIO_GIB_S=$("$PYTHON" -c "import json; j = json.load(open('$RAW/$label.fio.json'))['jobs'][0]
print(round(j['read']['bw_bytes'] / 2**30, 3))" 2>/dev/null || echo 0)
  log "$label: $FIO_GIB_S GiB/s"
}

# Crash restarts and fio alternate, so that both see the same state of the machine; each crash
# restart's scan rate is compared with the best fio rate of its round (fio right after it).
s6_crash_restarts() {
  local dev=$WORK/kill.dat run depth best_fio ratio
  "${HELPER[@]}" note --out "$RESULTS" --scenario s6 --label crash-config --server "" \
    kill_items="$S6_KILL_ITEMS" kills="$S6_KILLS" fio_depths="$S6_FIO_DEPTHS"
  s6_fill ssdcached-fill-kill "$dev" "$S6_DEVICE_MIB" "$S6_ITEMS"
  s6_stop ssdcached-fill-kill
  for run in $(seq 1 "$S6_KILLS"); do
    s6_kill_restart "$run" "$dev"
    best_fio=0
    for depth in $S6_FIO_DEPTHS; do
      s6_fio_seqread "$depth" "$dev"
      best_fio=$("$PYTHON" -c "print(max($best_fio, $FIO_GIB_S))")
    done
    ratio=$("$PYTHON" -c "print(round($KILL_GIB_S / max($best_fio, 1e-9), 3))")
    log "kill$run: scan $KILL_GIB_S GiB/s = ${ratio}x fio's sequential read ($best_fio GiB/s)"
    "${HELPER[@]}" note --out "$RESULTS" --scenario s6 --label "ratio$run" --server ssdcached \
      scan_gib_s="$KILL_GIB_S" fio_gib_s="$best_fio" ratio="$ratio"
  done
  rm -f "$dev"
}

s6_clean_restarts
s6_crash_restarts
s6_count_table
s6_size_table
log "done"
