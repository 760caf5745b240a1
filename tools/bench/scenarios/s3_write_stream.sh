#!/usr/bin/env bash
# Scenario 3: a stream of 4 KiB sets that writes the device twice over. ssdcached vs memcached +
# extstore (same DRAM), and fio 1 MiB sequential O_DIRECT writes as the limit. Each server starts
# empty on a fresh file. Results: $OUT_DIR/s3.jsonl.
# shellcheck source=common.sh disable=SC2153  # PORT and PID are set by start_server
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if quick; then
  : "${S3_DEVICE:=256M}" "${S3_FIO_RUNTIME:=2}"
fi
S3_DEVICE=${S3_DEVICE:-2G}
S3_VALUE=${S3_VALUE:-4096}
S3_FILL=${S3_FILL:-2}             # device capacities written
S3_CONNS=${S3_CONNS:-8}
S3_PIPELINE=${S3_PIPELINE:-16}
S3_SSD_MEM=${S3_SSD_MEM:-64}
S3_SSD_INDEX=${S3_SSD_INDEX:-64}
S3_MC_MEM=${S3_MC_MEM:-$((S3_SSD_MEM + S3_SSD_INDEX))}
S3_EXT_OPTS=${S3_EXT_OPTS:-ext_item_age=0}
S3_FIO_RUNTIME=${S3_FIO_RUNTIME:-5}
S3_FIO_DEPTH=${S3_FIO_DEPTH:-8}
S3_REPEAT=${S3_REPEAT:-1}

bench_init s3
dev_bytes=$("$PYTHON" -c "import sys; s=sys.argv[1]; m={'K':1<<10,'M':1<<20,'G':1<<30,'T':1<<40}
print(int(s[:-1])*m[s[-1]] if s[-1] in m else int(s))" "$S3_DEVICE")
sets=$((S3_FILL * dev_bytes / S3_VALUE))
"${HELPER[@]}" note --out "$RESULTS" --scenario s3 --label config --server "" \
  device="$S3_DEVICE" device_bytes="$dev_bytes" value="$S3_VALUE" sets="$sets" \
  conns="$S3_CONNS" pipeline="$S3_PIPELINE" ssd_mem="$S3_SSD_MEM" ssd_index="$S3_SSD_INDEX" \
  mc_mem="$S3_MC_MEM" ext_opts="$S3_EXT_OPTS" fio_depth="$S3_FIO_DEPTH"

for rep in $(seq 1 "$S3_REPEAT"); do
  # memcached-dram: memcached -t 1 without extstore (evicting in DRAM), the same stream with no
  # device at all: how fast a one-core server takes it in when nothing is written (render.py
  # reports it as a fraction of fio).
  order=(ssdcached extstore memcached-dram fio)
  if ((rep % 2 == 0)); then order=(fio memcached-dram extstore ssdcached); fi
  for srv in "${order[@]}"; do
    label="set-$srv-r$rep"
    log "$label: $sets sets of $S3_VALUE B"
    drop_caches >/dev/null  # sync + drop: no earlier dirty pages are written during this run
    if [[ $srv == fio ]]; then
      rm -f "$WORK/fio.dat"
      rc=0
      pin_server "$FIO" --name=seqwrite --filename="$WORK/fio.dat" --size="$S3_DEVICE" \
        --rw=write --bs=1M --ioengine=libaio --direct=1 --iodepth="$S3_FIO_DEPTH" --time_based \
        --runtime="$S3_FIO_RUNTIME" --output-format=json --output="$RAW/$label.fio.json" \
        >/dev/null 2>&1 || rc=$?
      "${HELPER[@]}" fio --out "$RESULTS" --scenario s3 --label "$label" --rc "$rc" \
        --fio-json "$RAW/$label.fio.json" rep="$rep" iodepth="$S3_FIO_DEPTH"
      rm -f "$WORK/fio.dat"
      continue
    fi
    if [[ $srv == ssdcached ]]; then
      start_ssdcached ssdcached "$WORK/ssd.dat" --device-size "$S3_DEVICE" -m "$S3_SSD_MEM" \
        -i "$S3_SSD_INDEX"
    elif [[ $srv == memcached-dram ]]; then
      start_memcached memcached-dram -t 1 -m "$S3_MC_MEM"
    else
      rm -f "$WORK/ext.dat"
      start_memcached extstore -t 1 -m "$S3_MC_MEM" \
        -o "ext_path=$WORK/ext.dat:$((dev_bytes / 1048576))M,$S3_EXT_OPTS"
    fi
    # Key space = number of sets: mostly new keys, a few overwrites (uniform draws).
    measure "$label" "$srv" "$PORT" "$PID" rep="$rep" value="$S3_VALUE" -- --method set \
      --num-conns "$S3_CONNS" --pipeline "$S3_PIPELINE" --sizes "d$S3_VALUE" \
      --key-space "$sets" --num-calls "$sets" --duration 3600 --timeout 5000
    # extstore writes through the page cache: time the sync that makes its writes reach the disk
    # (ssdcached writes with O_DIRECT, so its sync is near zero).
    t0=$(date +%s.%N)
    sync
    t1=$(date +%s.%N)
    "${HELPER[@]}" note --out "$RESULTS" --scenario s3 --label "sync-$label" --server "$srv" \
      sync_s="$("$PYTHON" -c "print(round($t1 - $t0, 3))")"
    if [[ $srv == ssdcached && $rep == 1 ]]; then
      # Where the time goes under the same stream (device already full: steady state).
      profile_under_load s3-set-ssdcached "$PID" "$PORT" --method set --num-conns "$S3_CONNS" \
        --pipeline "$S3_PIPELINE" --sizes "d$S3_VALUE" --key-space "$sets" --timeout 5000
    fi
    stop_server "$PID"
    rm -f "$WORK/ssd.dat" "$WORK/ext.dat"
  done
done
log "done"
