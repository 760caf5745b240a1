#!/usr/bin/env bash
# Scenario 8: the small-object tier (issue 14) against the slab tier alone. Two servers, one after
# the other, with the same -m, -i and device file size: *slab* (`--small-max 0`) and *tier*
# (`--small-max S8_SMALL_MAX --small-share P`). Each gets the same seeded workload over
# S8_ITEMS distinct keys ("k" + zero-padded id) of S8_VALUE-byte values:
#   preload   every key written once (ssdcache-bench --preload, pipelined: S8_PRELOAD_ARGS);
#   warmup    S8_WARMUP_CALLS requests of gets and sets (S8_SET_RATIO) with Zipf(S8_ZIPF)
#             popularity over the same keys (at most S8_WARMUP s), recorded for its writes;
#   zipf      S8_CALLS more (at most S8_DURATION s): misses, hit ratio, throughput, device
#             reads per hit, write amplification (the measured figures);
#   miss      S8_MISS_CALLS gets of keys never written ("m" + id, uniform): device reads per miss.
# Each phase is one record of $OUT_DIR/s8.jsonl with the server's stats before and after
# (`measure`); the empty server's RSS is in the preload record. A summary goes to stderr.
#
# Sizes: the issue's scale is 50M items on a 16 GiB device with -i 64 (the slab tier alone then
# indexes ~5.6M of them); the default is 1/8 of it (6.25M items, 2 GiB, -i 8, -m 8) so that s8
# takes a few minutes; S8_ITEMS=50000000 S8_DEVICE=16G S8_INDEX=64 S8_MEM=64 is the full scale.
# The tier's share: P% of the device so that its sets hold the items S8_FILL% full (the issue
# measures DRAM at 90%): a 100-byte value with a 7-8 digit key takes 32 + 9 + 100 = ~141 bytes of a
# set (SetRecordHeader 32 B, set_page.h), 28 of them in a set's 4,056 payload bytes; so
# P = N / (28 x S8_FILL%) x 4096 / device, rounded to the nearest percent (47 at both scales: the
# sets hold the N items 90.6% full). S8_SMALL_SHARE fixes it.
# shellcheck source=common.sh disable=SC2153  # PORT and PID are set by start_server
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if quick; then
  : "${S8_ITEMS:=200000}" "${S8_DEVICE:=64M}" "${S8_INDEX:=1}" "${S8_MEM:=4}"
  : "${S8_WARMUP_CALLS:=100000}" "${S8_CALLS:=100000}" "${S8_MISS_CALLS:=20000}"
  : "${S8_WARMUP:=10}" "${S8_DURATION:=10}"
fi
S8_ITEMS=${S8_ITEMS:-6250000}
S8_DEVICE=${S8_DEVICE:-2G}
S8_INDEX=${S8_INDEX:-8}
S8_MEM=${S8_MEM:-8}
S8_VALUE=${S8_VALUE:-100}
S8_ZIPF=${S8_ZIPF:-0.9}
S8_SET_RATIO=${S8_SET_RATIO:-0.1}
S8_SMALL_MAX=${S8_SMALL_MAX:-256}
S8_FILL=${S8_FILL:-90}
S8_SET_ITEMS=${S8_SET_ITEMS:-28}
S8_SMALL_SHARE=${S8_SMALL_SHARE:-}
# Every key is written once, as in s7: admission would keep the first writes off the device.
S8_SERVER_ARGS=${S8_SERVER_ARGS:---admit off}
S8_PRELOAD_ARGS=${S8_PRELOAD_ARGS:---num-conns 4 --pipeline 16}
S8_MIXED_ARGS=${S8_MIXED_ARGS:---num-conns 32 --pipeline 1}
S8_WARMUP_CALLS=${S8_WARMUP_CALLS:-1000000}
S8_CALLS=${S8_CALLS:-1000000}
S8_MISS_CALLS=${S8_MISS_CALLS:-200000}
S8_WARMUP=${S8_WARMUP:-90}
S8_DURATION=${S8_DURATION:-90}
S8_VARIANTS=${S8_VARIANTS:-slab tier}

bench_init s8
dev_bytes=$("$PYTHON" -c "import sys; s=sys.argv[1]; m={'K':1<<10,'M':1<<20,'G':1<<30,'T':1<<40}
print(int(s[:-1])*m[s[-1]] if s[-1] in m else int(s))" "$S8_DEVICE")
if [[ -z $S8_SMALL_SHARE ]]; then
  S8_SMALL_SHARE=$("$PYTHON" -c "import sys; n, f, k, d = map(float, sys.argv[1:])
print(max(1, min(90, round(n / (k * f / 100) * 4096 * 100 / d))))" \
    "$S8_ITEMS" "$S8_FILL" "$S8_SET_ITEMS" "$dev_bytes")
fi
# Engine::SmallSets: slice / 100 x share / 4096, in this order.
# shellcheck disable=SC2017
small_sets=$((dev_bytes / 100 * S8_SMALL_SHARE / 4096))
"${HELPER[@]}" note --out "$RESULTS" --scenario s8 --label config --server "" \
  items="$S8_ITEMS" device="$S8_DEVICE" device_bytes="$dev_bytes" index_mib="$S8_INDEX" \
  mem_mib="$S8_MEM" value="$S8_VALUE" zipf="$S8_ZIPF" set_ratio="$S8_SET_RATIO" \
  small_max="$S8_SMALL_MAX" small_share="$S8_SMALL_SHARE" small_sets="$small_sets" \
  fill_target="$S8_FILL" set_items="$S8_SET_ITEMS" server_args="$S8_SERVER_ARGS" \
  preload_args="$S8_PRELOAD_ARGS" mixed_args="$S8_MIXED_ARGS" \
  warmup_calls="$S8_WARMUP_CALLS" calls="$S8_CALLS" miss_calls="$S8_MISS_CALLS" \
  warmup="$S8_WARMUP" duration="$S8_DURATION" variants="$S8_VARIANTS"

# s8_variant NAME: one server through the four phases.
s8_variant() {
  local v=$1 tier empty
  case $v in
    slab) tier=(--small-max 0) ;;
    tier) tier=(--small-max "$S8_SMALL_MAX" --small-share "$S8_SMALL_SHARE") ;;
    *) die "unknown s8 variant $v" ;;
  esac
  drop_caches >/dev/null
  # shellcheck disable=SC2206  # S8_SERVER_ARGS is a list of words
  local args=(--device-size "$S8_DEVICE" -m "$S8_MEM" -i "$S8_INDEX" "${tier[@]}" $S8_SERVER_ARGS)
  start_ssdcached "$v" "$WORK/s8.dat" "${args[@]}"
  sleep 1
  empty=$(rss_kb "$PID")
  local keys=(--sizes "d$S8_VALUE" --key-space "$S8_ITEMS" --timeout 5000)
  log "$v: preload $S8_ITEMS keys"
  # shellcheck disable=SC2086
  measure "preload-$v" "$v" "$PORT" "$PID" rss_empty_kb="$empty" -- --method set --preload \
    --num-calls 1 $S8_PRELOAD_ARGS "${keys[@]}" --key-prefix k
  # shellcheck disable=SC2206
  local mixed=(--method mixed --set-ratio "$S8_SET_RATIO" --key-dist "zipf:$S8_ZIPF" $S8_MIXED_ARGS
    "${keys[@]}" --key-prefix k)
  log "$v: warmup, $S8_WARMUP_CALLS requests (at most $S8_WARMUP s)"
  measure "warmup-$v" "$v" "$PORT" "$PID" -- "${mixed[@]}" --num-calls "$S8_WARMUP_CALLS" \
    --duration "$S8_WARMUP" --seed 6
  log "$v: measured, $S8_CALLS requests (at most $S8_DURATION s)"
  measure "zipf-$v" "$v" "$PORT" "$PID" rss_empty_kb="$empty" -- "${mixed[@]}" \
    --num-calls "$S8_CALLS" --duration "$S8_DURATION" --seed 7
  log "$v: $S8_MISS_CALLS gets of keys never written"
  # shellcheck disable=SC2086
  measure "miss-$v" "$v" "$PORT" "$PID" -- --method get $S8_MIXED_ARGS "${keys[@]}" \
    --key-prefix m --num-calls "$S8_MISS_CALLS" --duration "$S8_DURATION" --seed 8
  if [[ $v == tier ]]; then
    profile_under_load s8-zipf-tier "$PID" "$PORT" "${mixed[@]}" --seed 9
  fi
  stop_server "$PID"
  rm -f "$WORK/s8.dat"
}

for v in $S8_VARIANTS; do s8_variant "$v"; done
"$PYTHON" "$SCEN_DIR/render_s8.py" "$RESULTS" >&2
log "done"
