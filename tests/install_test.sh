#!/usr/bin/env bash
# `make install` (cmake/install.cmake) staged into a temporary DESTDIR: the server, its man page
# and the documentation land where docs/operations.md says.
#
#   tests/install_test.sh BUILD_DIR
set -euo pipefail
build=${1:?usage: install_test.sh BUILD_DIR}
stage=$(mktemp -d /var/tmp/ssdc-install-XXXXXX)
trap 'rm -rf "$stage"' EXIT
DESTDIR=$stage cmake --install "$build" --prefix /usr/local >"$stage.log" 2>&1 ||
  { cat "$stage.log"; rm -f "$stage.log"; exit 1; }
rm -f "$stage.log"
missing=0
for f in bin/ssdcached share/man/man1/ssdcached.1 share/doc/ssdcache/README.md \
  share/doc/ssdcache/design.md share/doc/ssdcache/protocol.md share/doc/ssdcache/operations.md \
  share/doc/ssdcache/cluster.md lib/systemd/system/ssdcached.service; do
  if [[ ! -s $stage/usr/local/$f ]]; then
    echo "not installed: /usr/local/$f"
    missing=1
  fi
done
[[ $missing -eq 0 ]] || exit 1
grep -q '^\.TH SSDCACHED 1 ' "$stage/usr/local/share/man/man1/ssdcached.1" ||
  { echo "ssdcached.1 has no .TH line"; exit 1; }
echo "install: server, man page and docs staged"
