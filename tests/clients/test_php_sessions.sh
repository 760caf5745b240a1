#!/usr/bin/env bash
# PHP sessions stored in ssdcached by php-memcached's session handler, with its locking, in ASCII
# and in binary mode (memcached.sess_binary_protocol): a session's data survives between requests;
# a second request of the same session waits while the first one holds the lock (a key
# memc.sess.key.lock.ID added with `add`), then sees what the first one wrote; session_destroy
# deletes it. Run by run_client.sh (SSDC_HOST, SSDC_PORT, SSDC_WORK).
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${SSDC_HOST:?run by run_client.sh}" "${SSDC_PORT:?run by run_client.sh}" "${SSDC_WORK:?run by run_client.sh}"
REQUEST=$CLIENTS_DIR/php_session_request.php

# request BINARY ID HOLD [destroy]: one PHP request; prints what it printed.
request() {
  local binary=$1
  shift
  timeout 30 php -d session.save_handler=memcached \
    -d session.save_path="$SSDC_HOST:$SSDC_PORT" -d session.use_cookies=0 \
    -d session.use_only_cookies=0 -d session.use_strict_mode=0 -d session.cache_limiter= \
    -d memcached.sess_locking=1 -d memcached.sess_lock_wait_min=50 \
    -d memcached.sess_lock_wait_max=50 -d memcached.sess_lock_retries=200 \
    -d memcached.sess_binary_protocol="$binary" "$REQUEST" "$@"
}

now_ms() { date +%s%3N; }
# present KEY: whether the server holds KEY (the reply is read whole before it is looked at).
present() {
  local reply
  reply=$(raw_cmd "$SSDC_PORT" "get $1\r\n")
  [[ $reply == VALUE* ]]
}

for binary in 0 1; do
  sid="sess${binary}x$RANDOM$RANDOM"
  lock="memc.sess.key.lock.$sid"
  [[ $(request "$binary" "$sid" 0) == 1 ]] || die "binary=$binary: first request did not count 1"
  [[ $(request "$binary" "$sid" 0) == 2 ]] || die "binary=$binary: the session was not kept"
  present "memc.sess.key.$sid" || die "binary=$binary: no session item memc.sess.key.$sid"

  # A holds the session 1.5 s; B starts once A's lock is there and must wait for it.
  request "$binary" "$sid" 1.5 >"$SSDC_WORK/a.out" &
  a_pid=$!
  for ((i = 0; i < 100; i++)); do
    present "$lock" && break
    sleep 0.05
  done
  ((i < 100)) || die "binary=$binary: request A's lock $lock never appeared"
  start=$(now_ms)
  b=$(request "$binary" "$sid" 0)
  waited=$(($(now_ms) - start))
  wait "$a_pid" || die "binary=$binary: request A failed"
  [[ $(cat "$SSDC_WORK/a.out") == 3 ]] || die "binary=$binary: A counted $(cat "$SSDC_WORK/a.out")"
  [[ $b == 4 ]] || die "binary=$binary: B counted '$b', want 4 (it did not see A's write)"
  ((waited >= 700)) || die "binary=$binary: B took ${waited} ms: it did not wait for A's lock"
  present "$lock" && die "binary=$binary: the lock $lock is still there after both requests"
  log "binary=$binary: B waited ${waited} ms for A's lock, then counted 4"

  [[ $(request "$binary" "$sid" 0 destroy) == destroyed ]] || die "binary=$binary: destroy failed"
  [[ $(request "$binary" "$sid" 0) == 1 ]] || die "binary=$binary: destroyed session came back"
done
echo "php sessions: data kept, locking and destroy work in ASCII and binary"
