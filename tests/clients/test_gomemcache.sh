#!/usr/bin/env bash
# Builds tests/clients/gomemcache with Debian's Go and gomemcache, offline (GOPATH mode over
# /usr/share/gocode, no module download), then runs it. Run by run_client.sh (the program finds
# the server in its environment). GOCACHE defaults to a directory of the build tree (CMake passes
# SSDC_GOCACHE) so that only the first run compiles the standard library.
set -euo pipefail

# shellcheck source=lib.sh source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${SSDC_WORK:?run by run_client.sh}"
command -v go >/dev/null || die "go not found: install golang-go (tools/install-deps.sh)"
[[ -d /usr/share/gocode/src/github.com/bradfitz/gomemcache/memcache ]] ||
  die "gomemcache not found: install golang-github-bradfitz-gomemcache-dev (tools/install-deps.sh)"

export GOPATH=/usr/share/gocode GO111MODULE=off GOFLAGS='' GOPROXY=off GOENV=off
export GOCACHE=${SSDC_GOCACHE:-$SSDC_WORK/gocache}
mkdir -p "$GOCACHE"
start=$(date +%s%3N)
go build -o "$SSDC_WORK/gomemcache-test" "$CLIENTS_DIR/gomemcache/main.go"
log "go build: $(($(date +%s%3N) - start)) ms ($(go version))"
"$SSDC_WORK/gomemcache-test"
