#!/usr/bin/env bash
# Scenario 6: warm-restart rebuild rate. Fill a device file with ~85 % of its size in 4,000-byte
# values, stop ssdcached with SIGTERM (it writes its memory slabs), start it again on the same file
# and read the "warm restart: ... scanned X MiB in T s (R GiB/s)" log line; twice, so a slow first
# start (cold file system metadata) shows. Reports GiB/s of device scanned and items/s.
# Results: $OUT_DIR/s6.jsonl.
# shellcheck source=common.sh disable=SC2153  # PORT and PID are set by start_server
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if quick; then
  : "${S6_DEVICE_MIB:=256}"
fi
S6_DEVICE_MIB=${S6_DEVICE_MIB:-2048}
S6_VALUE=${S6_VALUE:-4000}
S6_MEM=${S6_MEM:-64}
S6_RESTARTS=${S6_RESTARTS:-2}
# Items of ~4 KiB chunks (header + key + value rounded up to its class) filling ~85 % of the device.
S6_ITEMS=${S6_ITEMS:-$((S6_DEVICE_MIB * 1024 * 1024 * 85 / 100 / 4096))}
S6_LOAD_ARGS=${S6_LOAD_ARGS:---num-conns 4 --pipeline 16}
S6_KILLS=${S6_KILLS:-2}
# Overwritten before each SIGKILL (5 %): memory slabs and journal entries the crash leaves behind.
S6_KILL_ITEMS=${S6_KILL_ITEMS:-$((S6_ITEMS / 20))}
S6_FIO_DEPTHS=${S6_FIO_DEPTHS:-1 16}

bench_init s6
"${HELPER[@]}" note --out "$RESULTS" --scenario s6 --label config --server "" \
  device_mib="$S6_DEVICE_MIB" value="$S6_VALUE" items="$S6_ITEMS" ssd_mem="$S6_MEM"

DEV=$WORK/ssd.dat
ARGS=(--device-size "${S6_DEVICE_MIB}M" -m "$S6_MEM")
start_ssdcached ssdcached-fill "$DEV" "${ARGS[@]}"
log "filling: $S6_ITEMS items of $S6_VALUE bytes"
# shellcheck disable=SC2086
run_load fill "$PORT" --method set --preload --num-calls 1 $S6_LOAD_ARGS --sizes "d$S6_VALUE" \
  --key-space "$S6_ITEMS" --key-prefix k --timeout 5000
stop_server "$PID"

for run in $(seq 1 "$S6_RESTARTS"); do
  # Not start_ssdcached: that one starts from a fresh file.
  start_server "ssdcached-restart$run" "$SSDCACHED" -l 127.0.0.1 -p @PORT@ -D "$DEV" "${ARGS[@]}"
  line=$(grep -m1 'warm restart: .* scanned' "$WORK/ssdcached-restart$run.log" || true)
  [[ -n $line ]] || die "no warm-restart line in $WORK/ssdcached-restart$run.log"
  log "restart $run: ${line#*] }"
  # "... N items (...) from S slabs; scanned M MiB in T s (R GiB/s)"
  read -r items slabs mib secs < <(sed -E \
    's/.*warm restart: ([0-9]+) items .* from ([0-9]+) slabs; scanned ([0-9]+) MiB in ([0-9.]+) s.*/\1 \2 \3 \4/' \
    <<<"$line")
  "${HELPER[@]}" note --out "$RESULTS" --scenario s6 --label "restart$run" --server ssdcached \
    items="$items" slabs="$slabs" mib="$mib" seconds="$secs" \
    gib_s="$("$PYTHON" -c "print(round($mib / 1024 / max($secs, 1e-6), 3))")" \
    items_s="$("$PYTHON" -c "print(round($items / max($secs, 1e-6)))")" line="${line#*] }"
  stop_server "$PID"
done

# s6_scan_note LABEL LOG: records the "warm restart: ... scanned" line of LOG under LABEL; sets
# SCAN_GIB_S.
s6_scan_note() {
  local label=$1 logf=$2 line items slabs mib secs
  line=$(grep -m1 'warm restart: .* scanned' "$logf" || true)
  [[ -n $line ]] || die "no warm-restart line in $logf"
  log "$label: ${line#*] }"
  read -r items slabs mib secs < <(sed -E \
    's/.*warm restart: ([0-9]+) items .* from ([0-9]+) slabs; scanned ([0-9]+) MiB in ([0-9.]+) s.*/\1 \2 \3 \4/' \
    <<<"$line")
  SCAN_GIB_S=$("$PYTHON" -c "print(round($mib / 1024 / max($secs, 1e-6), 3))")
  "${HELPER[@]}" note --out "$RESULTS" --scenario s6 --label "$label" --server ssdcached \
    items="$items" slabs="$slabs" mib="$mib" seconds="$secs" gib_s="$SCAN_GIB_S" \
    items_s="$("$PYTHON" -c "print(round($items / max($secs, 1e-6)))")" line="${line#*] }"
}

# s6_kill_restart RUN: a crash restart. Starts on the filled file, overwrites S6_KILL_ITEMS keys,
# kills the server with SIGKILL (what only its memory slabs held is lost, the journal keeps the
# overwrites' order), starts it again and records the scan as killRUN.
s6_kill_restart() {
  local run=$1
  start_server "ssdcached-prekill$run" "$SSDCACHED" -l 127.0.0.1 -p @PORT@ -D "$DEV" "${ARGS[@]}"
  # shellcheck disable=SC2086
  run_load "overwrite$run" "$PORT" --method set --preload --num-calls 1 $S6_LOAD_ARGS \
    --sizes "d$S6_VALUE" --key-space "$S6_KILL_ITEMS" --key-prefix k --timeout 5000
  kill -KILL "$PID" 2>/dev/null || true
  stop_server "$PID"
  start_server "ssdcached-kill$run" "$SSDCACHED" -l 127.0.0.1 -p @PORT@ -D "$DEV" "${ARGS[@]}"
  s6_scan_note "kill$run" "$WORK/ssdcached-kill$run.log"
  KILL_GIB_S=$SCAN_GIB_S
  stop_server "$PID"
}

# s6_fio_seqread DEPTH: fio's 1 MiB O_DIRECT sequential read of the whole device file (read-only,
# libaio), on the server's core, recorded as fio-seq-qdDEPTH; sets FIO_GIB_S.
s6_fio_seqread() {
  local depth=$1 label="fio-seq-qd$1" rc=0
  pin_server "$FIO" --name=seqread --filename="$DEV" --size="${S6_DEVICE_MIB}M" --readonly \
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
"${HELPER[@]}" note --out "$RESULTS" --scenario s6 --label crash-config --server "" \
  kill_items="$S6_KILL_ITEMS" kills="$S6_KILLS" fio_depths="$S6_FIO_DEPTHS"
for run in $(seq 1 "$S6_KILLS"); do
  s6_kill_restart "$run"
  best_fio=0
  for depth in $S6_FIO_DEPTHS; do
    s6_fio_seqread "$depth"
    best_fio=$("$PYTHON" -c "print(max($best_fio, $FIO_GIB_S))")
  done
  ratio=$("$PYTHON" -c "print(round($KILL_GIB_S / max($best_fio, 1e-9), 3))")
  log "kill$run: scan $KILL_GIB_S GiB/s = ${ratio}x fio's sequential read ($best_fio GiB/s)"
  "${HELPER[@]}" note --out "$RESULTS" --scenario s6 --label "ratio$run" --server ssdcached \
    scan_gib_s="$KILL_GIB_S" fio_gib_s="$best_fio" ratio="$ratio"
done
log "done"
