# Sourced after common.sh by the scenarios that time restarts (s6, s7): a timed SIGTERM stop and a
# timed start on an existing device file, with the figures of the server's log lines.
# shellcheck shell=bash
# shellcheck disable=SC2034  # PORT, ITEMS, SLABS, ... are the figures the callers read

now_s() { date +%s.%N; }
elapsed() { "$PYTHON" -c "print(round($(now_s) - $1, 3))"; }

# s6_stop NAME: SIGTERM, waits for the exit (up to 5 minutes, past the unit's 60 s stop timeout:
# the time is what is measured); STOP_S (seconds) and SNAP_S (the snapshot write the server
# logged, "-" when it wrote none).
s6_stop() {
  local name=$1 t0 line
  t0=$(now_s)
  kill -TERM "$PID"
  for _ in $(seq 1 30000); do kill -0 "$PID" 2>/dev/null || break; sleep 0.01; done
  STOP_S=$(elapsed "$t0")
  stop_server "$PID"
  line=$(grep -m1 'clean stop: snapshot of' "$WORK/$name.log" || true)
  SNAP_S=$(sed -nE 's/.* written in ([0-9.]+) s.*/\1/p' <<<"$line")
  SNAP_S=${SNAP_S:--}
  log "$name: stopped in $STOP_S s (snapshot written in $SNAP_S s)"
}

# s6_start NAME DEV MIB [ARGS...]: starts ssdcached on the existing file with ARGS (its -m, -i,
# ...: the ones it was filled with); RESTART_S from exec until the port opens, and the
# warm-restart line's figures (ITEMS SLABS MIB_READ SECS, SNAPSHOT 1/0, LINE).
s6_start() {
  local name=$1 dev=$2 mib=$3 port t0 args
  shift 3
  port=$((30000 + RANDOM % 30000))
  args=("$SSDCACHED" -l 127.0.0.1 -p "$port" -D "$dev" --device-size "${mib}M" "$@")
  if [[ $BENCH_PIN == 1 ]]; then args=(taskset -c "$BENCH_SERVER_CPU" "${args[@]}"); fi
  t0=$(now_s)
  "${args[@]}" >"$WORK/$name.log" 2>&1 &
  PID=$!
  SERVER_PIDS+=("$PID")
  for _ in $(seq 1 60000); do
    listening "$port" && break
    kill -0 "$PID" 2>/dev/null || die "$name exited: $(tail -3 "$WORK/$name.log")"
    sleep 0.005
  done
  RESTART_S=$(elapsed "$t0")
  PORT=$port
  LINE=$(grep -m1 'warm restart: .* scanned' "$WORK/$name.log" || true)
  [[ -n $LINE ]] || die "no warm-restart line in $WORK/$name.log"
  LINE=${LINE#*] }
  # "... N items (...) from S slabs; scanned M MiB in T s (R GiB/s); snapshot loaded ..."
  read -r ITEMS SLABS MIB_READ SECS < <(sed -E \
    's/.*warm restart: ([0-9]+) items .* from ([0-9]+) slabs; scanned ([0-9]+) MiB in ([0-9.]+) s.*/\1 \2 \3 \4/' \
    <<<"$LINE")
  SNAPSHOT=0
  if [[ $LINE == *"snapshot loaded"* ]]; then SNAPSHOT=1; fi
  log "$name: port open after $RESTART_S s: $LINE"
}
