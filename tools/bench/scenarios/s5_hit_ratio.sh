#!/usr/bin/env bash
# Scenario 5: hit ratio under a Zipf(0.99) key popularity with a key space twice what the device
# holds. Every server gets the same DRAM and the same device size, the same preload (every key once,
# so the cache starts full and half the keys are already gone), then the same seeded mixed stream
# (gets and sets drawn from the same Zipf law): warmup, then measure. ssdcached as FIFO
# (--compact off --reinsert off --admit off), with memory slab compaction (compact), reinsertion
# at eviction (reinsertN: --reinsert on --reinsert-share N), admission (admit) and combinations
# (compact-reinsert20), then extstore, one after the other on fresh files (S5_VARIANTS). Every
# ssdcached variant passes all three flags, whatever their defaults. Results: $OUT_DIR/s5.jsonl, and a table of misses, hit ratio,
# device bytes written per set (aio_write_bytes / sets) and RSS on stderr.
#
# Sizes: a policy only shows once the mixed stream has rewritten the device a few times (the
# preload only fills it once), and variants compare only in the same state, so warmup and
# measurement are counts of requests, not seconds: the full run of 2026-12-03 04:21 (1 GiB device,
# 10 s + 10 s) ran at 4.7-5.3k sets/s x 4,594 device bytes per set (4 KiB value + header + slab
# slack, ~1.12x the value) = ~23 MB/s and rewrote the device 0.45 times, too little to tell FIFO
# from reinsertion; on a busy machine the same seconds gave one variant half the sets of another.
# Now a 256 MiB device, and the requests that make FIFO's sets rewrite it S5_WARMUP_REWRITES = 2
# times in the warmup and S5_REWRITES = 1 more time measured (256 MiB / 4,587 bytes / 0.1 sets =
# ~585k requests per rewrite: ~12 s at the ~47k requests/s of an idle machine); S5_WARMUP and
# S5_DURATION cap them at 45 s and 25 s (a busy machine: at 9-16k requests/s on 2026-12-03 05:13
# every run hit its caps, then 60 s and 30 s: 1.6-2.4 rewrites, and s5 took 10 minutes). DRAM keeps
# the issue's ratios to the device: -m and -i 1/16 of it each (16 + 16 MiB), extstore -m their sum.
# Six variants x ~45 s = ~4.5 minutes on an idle machine, at most ~8 on a busy one.
# shellcheck source=common.sh disable=SC2153  # PORT and PID are set by start_server
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if quick; then
  : "${S5_DEVICE:=64M}" "${S5_SSD_MEM:=4}" "${S5_SSD_INDEX:=4}" "${S5_WARMUP:=4}"
  : "${S5_DURATION:=3}"
fi
S5_DEVICE=${S5_DEVICE:-256M}
S5_VALUE=${S5_VALUE:-4096}
S5_ZIPF=${S5_ZIPF:-0.99}
S5_SET_RATIO=${S5_SET_RATIO:-0.1}
S5_CONNS=${S5_CONNS:-32}
S5_PIPELINE=${S5_PIPELINE:-1}
S5_WARMUP_REWRITES=${S5_WARMUP_REWRITES:-2}
S5_REWRITES=${S5_REWRITES:-1}
# Device bytes FIFO writes per set (measured: 4,594 for 4096-byte values).
S5_SET_BYTES=${S5_SET_BYTES:-$((S5_VALUE * 112 / 100))}
S5_WARMUP=${S5_WARMUP:-45}
S5_DURATION=${S5_DURATION:-25}
S5_SSD_MEM=${S5_SSD_MEM:-16}
S5_SSD_INDEX=${S5_SSD_INDEX:-16}
S5_MC_MEM=${S5_MC_MEM:-$((S5_SSD_MEM + S5_SSD_INDEX))}
# extstore evicts whole pages (64 MiB by default): 16 MiB pages keep 16 of them on the 256 MiB file,
# the granularity of the default on 1 GiB.
S5_EXT_OPTS=${S5_EXT_OPTS:-ext_item_age=0,ext_page_size=16}
S5_PRELOAD_ARGS=${S5_PRELOAD_ARGS:---num-conns 2 --pipeline 8}
# fifo (today's FIFO: every policy off), compact (memory slab compaction), reinsertN (share N% of
# the bytes stored), admit, and their combinations, then extstore; in this order.
S5_VARIANTS=${S5_VARIANTS:-fifo compact reinsert20 compact-reinsert20 compact-reinsert50 compact-admit-reinsert20 extstore}

# ssdcached_policy VARIANT: the --compact/--reinsert/--admit flags of a variant name, words joined
# by '-' (fifo: none; compact, admit, reinsertN), all three always given.
ssdcached_policy() {
  local word compact=off admit=off reinsert=(--reinsert off) words
  IFS=- read -ra words <<<"$1"
  for word in "${words[@]}"; do
    case $word in
      fifo) ;;
      compact) compact=on ;;
      admit) admit=on ;;
      reinsert[0-9]*) reinsert=(--reinsert on --reinsert-share "${word#reinsert}") ;;
      *) die "unknown s5 variant $1" ;;
    esac
  done
  POLICY=(--compact "$compact" "${reinsert[@]}" --admit "$admit")
}

bench_init s5
dev_bytes=$("$PYTHON" -c "import sys; s=sys.argv[1]; m={'K':1<<10,'M':1<<20,'G':1<<30,'T':1<<40}
print(int(s[:-1])*m[s[-1]] if s[-1] in m else int(s))" "$S5_DEVICE")
# Twice the device capacity in values (item headers and slab slack make the real ratio a bit more).
keys=${S5_KEYS:-$((2 * dev_bytes / S5_VALUE))}
# requests REWRITES: how many requests carry the sets that write the device REWRITES times.
requests() {
  "$PYTHON" -c "import sys; d, b, r, n = map(float, sys.argv[1:]); print(int(n * d / b / r))" \
    "$dev_bytes" "$S5_SET_BYTES" "$S5_SET_RATIO" "$1"
}
warmup_calls=$(requests "$S5_WARMUP_REWRITES")
calls=$(requests "$S5_REWRITES")
"${HELPER[@]}" note --out "$RESULTS" --scenario s5 --label config --server "" \
  device="$S5_DEVICE" value="$S5_VALUE" keys="$keys" zipf="$S5_ZIPF" set_ratio="$S5_SET_RATIO" \
  conns="$S5_CONNS" pipeline="$S5_PIPELINE" warmup="$S5_WARMUP" duration="$S5_DURATION" \
  warmup_calls="$warmup_calls" calls="$calls" warmup_rewrites="$S5_WARMUP_REWRITES" \
  rewrites="$S5_REWRITES" set_bytes="$S5_SET_BYTES" \
  ssd_mem="$S5_SSD_MEM" ssd_index="$S5_SSD_INDEX" mc_mem="$S5_MC_MEM" ext_opts="$S5_EXT_OPTS" \
  device_bytes="$dev_bytes" variants="$S5_VARIANTS"

for srv in $S5_VARIANTS; do
  drop_caches >/dev/null
  if [[ $srv != extstore ]]; then
    ssdcached_policy "$srv"
    start_ssdcached "$srv" "$WORK/ssd.dat" --device-size "$S5_DEVICE" -m "$S5_SSD_MEM" \
      -i "$S5_SSD_INDEX" "${POLICY[@]}"
  else
    rm -f "$WORK/ext.dat"
    start_memcached extstore -t 1 -m "$S5_MC_MEM" \
      -o "$S5_EXT_OPTS,ext_path=$WORK/ext.dat:$((dev_bytes / 1048576))M"
  fi
  log "$srv: preload $keys keys"
  # shellcheck disable=SC2086
  run_load "preload-$srv" "$PORT" --method set --preload --num-calls 1 $S5_PRELOAD_ARGS \
    --sizes "d$S5_VALUE" --key-space "$keys" --timeout 5000
  mixed=(--method mixed --set-ratio "$S5_SET_RATIO" --key-dist "zipf:$S5_ZIPF"
    --num-conns "$S5_CONNS" --pipeline "$S5_PIPELINE" --sizes "d$S5_VALUE" --key-space "$keys"
    --timeout 5000)
  # Recorded (label warmup-*) for its bytes written: render.py adds them to the rewrites.
  log "$srv: warmup, $warmup_calls requests (at most $S5_WARMUP s)"
  measure "warmup-$srv" "$srv" "$PORT" "$PID" keys="$keys" zipf="$S5_ZIPF" -- "${mixed[@]}" \
    --num-calls "$warmup_calls" --duration "$S5_WARMUP" --seed 6
  log "zipf-$srv: $calls requests (at most $S5_DURATION s)"
  measure "zipf-$srv" "$srv" "$PORT" "$PID" keys="$keys" zipf="$S5_ZIPF" -- "${mixed[@]}" \
    --num-calls "$calls" --duration "$S5_DURATION" --seed 7
  if [[ $srv == fifo ]]; then
    profile_under_load s5-zipf-ssdcached "$PID" "$PORT" "${mixed[@]}" --seed 8
  fi
  stop_server "$PID"
  rm -f "$WORK/ssd.dat" "$WORK/ext.dat"
done
"$PYTHON" - "$RESULTS" "$dev_bytes" >&2 <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
warm = {r["server"]: r for r in recs if r["label"].startswith("warmup-")}
recs = [r for r in recs if r["label"].startswith("zipf-")]
dev = int(sys.argv[2])
fifo = next((r for r in recs if r["label"] == "zipf-fifo"), None)
def written(r):
    # The server's bytes written over its sets in the measured run (the stats delta).
    # extstore has no aio_write_bytes: extstore_bytes_written (through the page cache) instead.
    d = r.get("stats_delta", {})
    return d.get("aio_write_bytes", d.get("extstore_bytes_written", 0)), d.get("cmd_set", r["sets"])
def row(r):
    wb, sets = written(r)
    wps = wb / max(1, sets)
    out = {"misses": r["gets"] - r["hits"], "hit_ratio": round(r["hit_ratio"], 4),
           "write_bytes_per_set": round(wps), "device_rewrites": round(wb / dev, 2),
           "warmup_rewrites": round(written(warm[r["server"]])[0] / dev, 2)
           if r["server"] in warm else None, "requests": r["total_ops"],
           "rss_mib": round(r["rss_kb"] / 1024), "ops_per_s": round(r["ops_per_s"]),
           "reinserted_bytes": r.get("stats_delta", {}).get("reinserted_bytes", 0)}
    if fifo and r is not fifo:
        # A capped run serves fewer gets: compare miss ratios.
        fm = 1 - fifo["hit_ratio"]
        fwb, fsets = written(fifo)
        fw = fwb / max(1, fsets)
        out["misses_vs_fifo"] = round((1 - r["hit_ratio"]) / fm, 3) if fm else None
        out["writes_vs_fifo"] = round(wps / fw, 3) if fw else None
    return out
for r in recs:
    print("s5", r["label"], json.dumps(row(r)))
PY
log "done"
