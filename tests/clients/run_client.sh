#!/usr/bin/env bash
# Runs one client program against a fresh ssdcached that listens on 127.0.0.1, on [::1] (on the
# same port, when this machine has an IPv6 loopback) and on a unix socket:
#
#   tests/clients/run_client.sh PROGRAM [ARGS...]      (SSDCACHED_BIN=path/to/ssdcached)
#
# The program finds the server in its environment: SSDC_HOST (127.0.0.1), SSDC_PORT, SSDC_IPV6
# ("::1", or empty when there is no IPv6 loopback), SSDC_SOCKET (the unix socket's path) and
# SSDC_WORK (a scratch directory of its own). It must exit 0, and the server must then stop on
# SIGTERM with status 0.
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap clients_cleanup EXIT
clients_init ""
[[ $# -ge 1 ]] || die "usage: run_client.sh PROGRAM [ARGS...]"
command -v "$1" >/dev/null || die "$1 not found: install the test packages (tools/install-deps.sh)"

export SSDC_HOST=127.0.0.1 SSDC_SOCKET=$WORK/ssdcached.sock SSDC_WORK=$WORK/client SSDC_IPV6=""
extra=(--unix-socket "$SSDC_SOCKET")
if has_ipv6_loopback; then
  SSDC_IPV6=::1
  extra+=(-l ::1)
else
  log "no IPv6 loopback here: the [::1] checks are skipped"
fi
start_ssdcached server "${extra[@]}"
export SSDC_PORT
mkdir -p "$SSDC_WORK"
status=0
"$@" || status=$?
if [[ $status -ne 0 ]]; then
  tail -n 20 "$WORK/server/ssdcached.log" >&2 || true
  die "$* exited with $status"
fi
stop_ssdcached "$SSDC_PID"
log "passed: $*"
