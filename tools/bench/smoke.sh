#!/usr/bin/env bash
# Smoke test for ssdcache-bench: start memcached on a free local port, run two seconds of verified
# mixed load, and fail if the tool fails. Usage: smoke.sh PATH/TO/ssdcache-bench [SERVER_BIN]
set -euo pipefail

bench=${1:?usage: smoke.sh PATH/TO/ssdcache-bench [SERVER_BIN]}
server_bin=${2:-/usr/bin/memcached}

if [[ ! -x $server_bin ]]; then
  echo "SKIP: $server_bin is not installed"
  exit 0
fi

# memcached refuses to run as root unless told which user to run as.
user_args=()
if [[ $EUID -eq 0 ]]; then user_args=(-u root); fi

server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT

# Pick a free port: a random high port nobody listens on, then wait until our server accepts.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=
for _ in $(seq 1 20); do
  candidate=$((20000 + RANDOM % 40000))
  if listening "$candidate"; then continue; fi
  "$server_bin" -U 0 -l 127.0.0.1 -p "$candidate" -m 64 "${user_args[@]}" &
  server_pid=$!
  for _ in $(seq 1 50); do
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    if listening "$candidate"; then
      port=$candidate
      break
    fi
    sleep 0.1
  done
  [[ -n $port ]] && break
  cleanup
  server_pid=
done
if [[ -z $port ]]; then
  echo "FAIL: could not start $server_bin on a free port"
  exit 1
fi

json=$(mktemp)
trap 'cleanup; rm -f "$json"' EXIT
"$bench" --server "127.0.0.1:$port" --num-conns 8 --pipeline 4 --method mixed --set-ratio 0.1 \
  --key-space 5000 --sizes u24,2000 --preload --verify --duration 2 --json "$json"

# Everything was preloaded into a cache far larger than the key space: gets must hit.
min_hit_ratio=${SMOKE_MIN_HIT_RATIO:-0.99}
hit_ratio=$(sed -n 's/^ *"hit_ratio": \([0-9.]*\),$/\1/p' "$json")
if ! awk -v h="$hit_ratio" -v m="$min_hit_ratio" 'BEGIN { exit !(h != "" && h >= m) }'; then
  echo "FAIL: hit ratio '$hit_ratio' below $min_hit_ratio"
  exit 1
fi
echo "PASS: hit ratio $hit_ratio"

# Open loop: a fixed schedule of requests, several due per wake-up and sent per connection in one
# write. The tool must issue exactly --num-calls requests, all answered, none wrong.
"$bench" --server "127.0.0.1:$port" --num-conns 8 --pipeline 4 --method mixed --set-ratio 0.1 \
  --key-space 5000 --sizes u24,2000 --verify --call-rate 20000 --num-calls 10000 --duration 30 \
  --quiet --json "$json" >/dev/null
total=$(sed -n 's/^ *"total_ops": \([0-9]*\),$/\1/p' "$json")
errors=$(sed -n 's/^ *"errors": {"total": \([0-9]*\),.*$/\1/p' "$json")
stop=$(sed -n 's/^ *"stop_reason": "\([^"]*\)",$/\1/p' "$json")
if [[ $total != 10000 || $errors != 0 || $stop != num-calls ]]; then
  echo "FAIL: open loop: total_ops '$total' (want 10000), errors '$errors', stopped by '$stop'"
  exit 1
fi
echo "PASS: open loop, $total requests on schedule"
