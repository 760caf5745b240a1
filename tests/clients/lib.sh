# shellcheck shell=bash
# shellcheck disable=SC2016  # bash -c '...' snippets take their values as "$1" "$2" on purpose
# Helpers shared by the client tests (sourced, not run). Every server listens on 127.0.0.1 on a port
# the kernel picks (-p 0; the port is read from the server's log), keeps its device file under the
# test's own directory in /var/tmp, and is stopped by the caller's EXIT trap (clients_cleanup).
# Every wait is bounded.

export CLIENTS_DIR
CLIENTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SSDC_PIDS=()    # every ssdcached started, for the cleanup trap
OTHER_PIDS=()   # helpers (proxies, nutcracker) started, for the cleanup trap
WORK=""

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
  log "FAIL: $*"
  exit 1
}

# Finds the server binary (argv[1] or $SSDCACHED_BIN) and makes the work directory.
clients_init() {
  SSDCACHED_BIN=${1:-${SSDCACHED_BIN:-}}
  [[ -n $SSDCACHED_BIN && -x $SSDCACHED_BIN ]] ||
    die "ssdcached binary not found: pass it as argv[1] or SSDCACHED_BIN (got '${SSDCACHED_BIN}')"
  WORK=$(mktemp -d /var/tmp/ssdc-clients-XXXXXX)
}

clients_cleanup() {
  local pid
  for pid in "${OTHER_PIDS[@]}" "${SSDC_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${OTHER_PIDS[@]}" "${SSDC_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n $WORK && -d $WORK ]]; then rm -rf "$WORK"; fi
}

# True once something accepts connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start_ssdcached NAME [extra flags...]: sets SSDC_PID and SSDC_PORT.
start_ssdcached() {
  local name=$1
  shift
  local dir="$WORK/$name"
  mkdir -p "$dir"
  "$SSDCACHED_BIN" -p 0 -l 127.0.0.1 -D "$dir/dev.dat" --device-size 128M -m 64 -i 8 \
    -o "$dir/ssdcached.log" "$@" </dev/null >/dev/null 2>"$dir/stderr" &
  SSDC_PID=$!
  SSDC_PIDS+=("$SSDC_PID")
  SSDC_PORT=""
  local i
  for ((i = 0; i < 300; i++)); do  # 15 s
    if [[ -f $dir/ssdcached.log ]]; then
      SSDC_PORT=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$dir/ssdcached.log" |
        head -n1 | sed 's/.*://') || true
    fi
    if [[ -n $SSDC_PORT ]] && port_open "$SSDC_PORT"; then
      log "ssdcached $name: pid $SSDC_PID, port $SSDC_PORT"
      return 0
    fi
    if ! kill -0 "$SSDC_PID" 2>/dev/null; then
      die "ssdcached $name exited at start-up: $(cat "$dir/stderr" "$dir/ssdcached.log" 2>/dev/null)"
    fi
    sleep 0.05
  done
  die "ssdcached $name did not start within 15 s"
}

# stop_ssdcached PID: SIGTERM, wait up to 60 s, fail unless the exit status is 0.
stop_ssdcached() {
  local pid=$1 i status=0
  kill -TERM "$pid" 2>/dev/null || die "ssdcached pid $pid was not running at stop"
  for ((i = 0; i < 600; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    die "ssdcached pid $pid did not exit within 60 s of SIGTERM"
  fi
  wait "$pid" || status=$?
  [[ $status -eq 0 ]] || die "ssdcached pid $pid exited with $status on SIGTERM (want 0)"
  log "ssdcached pid $pid: SIGTERM -> exit 0"
}

# raw_cmd PORT BYTES: sends BYTES (printf format) followed by quit, prints the whole reply.
raw_cmd() {
  timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"; printf "$2quit\r\n" >&3; cat <&3' \
    _ "$1" "$2"
}

# stat_of PORT NAME: one value of `stats`.
stat_of() {
  raw_cmd "$1" 'stats\r\n' | tr -d '\r' | awk -v n="$2" '$1 == "STAT" && $2 == n { print $3 }'
}

# free_port: a port on 127.0.0.1 that was free a moment ago (callers retry if it is taken since).
free_port() {
  /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# True when this machine can listen on the IPv6 loopback (a container may have no ::1).
has_ipv6_loopback() {
  /usr/bin/python3 -c 'import socket
s = socket.socket(socket.AF_INET6)
s.bind(("::1", 0))' 2>/dev/null
}
