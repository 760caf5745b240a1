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
log "done"
