#!/usr/bin/env bash
# Scenario 5: hit ratio under a Zipf(0.99) key popularity with a key space twice what the device
# holds. Both servers get the same DRAM and the same device size, the same preload (every key once,
# so the cache starts full and half the keys are already gone), then the same seeded mixed stream
# (gets and sets drawn from the same Zipf law): warmup, then measure. ssdcached as FIFO
# (--reinsert off), with reinsertion at eviction (--reinsert on, each share in S5_SHARES), then
# extstore, one after the other on fresh files. Results: $OUT_DIR/s5.jsonl, and a table of misses,
# hit ratio, device bytes written per set (aio_write_bytes / sets) and RSS on stderr.
# shellcheck source=common.sh disable=SC2153  # PORT and PID are set by start_server
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if quick; then
  : "${S5_DEVICE:=256M}" "${S5_WARMUP:=1}" "${S5_DURATION:=1.5}"
fi
S5_DEVICE=${S5_DEVICE:-1G}
S5_VALUE=${S5_VALUE:-4096}
S5_ZIPF=${S5_ZIPF:-0.99}
S5_SET_RATIO=${S5_SET_RATIO:-0.1}
S5_CONNS=${S5_CONNS:-32}
S5_PIPELINE=${S5_PIPELINE:-1}
S5_WARMUP=${S5_WARMUP:-10}
S5_DURATION=${S5_DURATION:-10}
S5_SSD_MEM=${S5_SSD_MEM:-64}
S5_SSD_INDEX=${S5_SSD_INDEX:-64}
S5_MC_MEM=${S5_MC_MEM:-$((S5_SSD_MEM + S5_SSD_INDEX))}
S5_EXT_OPTS=${S5_EXT_OPTS:-ext_item_age=0}
S5_PRELOAD_ARGS=${S5_PRELOAD_ARGS:---num-conns 2 --pipeline 8}
# Reinsertion shares (--reinsert-share) to run besides FIFO; "" runs FIFO only.
S5_SHARES=${S5_SHARES:-20 50}

bench_init s5
dev_bytes=$("$PYTHON" -c "import sys; s=sys.argv[1]; m={'K':1<<10,'M':1<<20,'G':1<<30,'T':1<<40}
print(int(s[:-1])*m[s[-1]] if s[-1] in m else int(s))" "$S5_DEVICE")
# Twice the device capacity in values (item headers and slab slack make the real ratio a bit more).
keys=${S5_KEYS:-$((2 * dev_bytes / S5_VALUE))}
"${HELPER[@]}" note --out "$RESULTS" --scenario s5 --label config --server "" \
  device="$S5_DEVICE" value="$S5_VALUE" keys="$keys" zipf="$S5_ZIPF" set_ratio="$S5_SET_RATIO" \
  conns="$S5_CONNS" pipeline="$S5_PIPELINE" warmup="$S5_WARMUP" duration="$S5_DURATION" \
  ssd_mem="$S5_SSD_MEM" ssd_index="$S5_SSD_INDEX" mc_mem="$S5_MC_MEM" ext_opts="$S5_EXT_OPTS"

variants=(fifo)
for share in $S5_SHARES; do variants+=("reinsert$share"); done
variants+=(extstore)
for srv in "${variants[@]}"; do
  drop_caches >/dev/null
  if [[ $srv != extstore ]]; then
    policy=(--reinsert off)
    if [[ $srv == reinsert* ]]; then policy=(--reinsert on --reinsert-share "${srv#reinsert}"); fi
    start_ssdcached "$srv" "$WORK/ssd.dat" --device-size "$S5_DEVICE" -m "$S5_SSD_MEM" \
      -i "$S5_SSD_INDEX" "${policy[@]}"
  else
    rm -f "$WORK/ext.dat"
    start_memcached extstore -t 1 -m "$S5_MC_MEM" \
      -o "ext_path=$WORK/ext.dat:$((dev_bytes / 1048576))M,$S5_EXT_OPTS"
  fi
  log "$srv: preload $keys keys"
  # shellcheck disable=SC2086
  run_load "preload-$srv" "$PORT" --method set --preload --num-calls 1 $S5_PRELOAD_ARGS \
    --sizes "d$S5_VALUE" --key-space "$keys" --timeout 5000
  label="zipf-$srv"
  log "$label"
  measure "$label" "$srv" "$PORT" "$PID" keys="$keys" zipf="$S5_ZIPF" -- --method mixed \
    --set-ratio "$S5_SET_RATIO" --key-dist "zipf:$S5_ZIPF" --num-conns "$S5_CONNS" \
    --pipeline "$S5_PIPELINE" --sizes "d$S5_VALUE" --key-space "$keys" --warmup "$S5_WARMUP" \
    --duration "$S5_DURATION" --timeout 5000 --seed 7
  if [[ $srv == fifo ]]; then
    profile_under_load s5-zipf-ssdcached "$PID" "$PORT" --method mixed --set-ratio "$S5_SET_RATIO" \
      --key-dist "zipf:$S5_ZIPF" --num-conns "$S5_CONNS" --pipeline "$S5_PIPELINE" \
      --sizes "d$S5_VALUE" --key-space "$keys" --timeout 5000 --seed 8
  fi
  stop_server "$PID"
  rm -f "$WORK/ssd.dat" "$WORK/ext.dat"
done
"$PYTHON" - "$RESULTS" >&2 <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"zipf-' in l]
fifo = next((r for r in recs if r["label"] == "zipf-fifo"), None)
def row(r):
    d = r.get("stats_delta", {})
    misses = r["gets"] - r["hits"]
    # The stats delta spans warmup and measurement: divide by the server's sets over the same.
    sets = d.get("cmd_set", r["sets"])
    wps = d.get("aio_write_bytes", 0) / max(1, sets)
    out = {"misses": misses, "hit_ratio": round(r["hit_ratio"], 4), "write_bytes_per_set": round(wps),
           "rss_mib": round(r["rss_kb"] / 1024), "ops_per_s": round(r["ops_per_s"]),
           "reinserted_bytes": d.get("reinserted_bytes", 0)}
    if fifo and r is not fifo:
        # Runs of a fixed duration serve different numbers of gets: compare miss ratios.
        fm = 1 - fifo["hit_ratio"]
        fd = fifo.get("stats_delta", {})
        fw = fd.get("aio_write_bytes", 0) / max(1, fd.get("cmd_set", fifo["sets"]))
        out["misses_vs_fifo"] = round((1 - r["hit_ratio"]) / fm, 3) if fm else None
        out["writes_vs_fifo"] = round(wps / fw, 3) if fw else None
    return out
for r in recs:
    print("s5", r["label"], json.dumps(row(r)))
PY
log "done"
