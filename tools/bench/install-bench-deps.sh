#!/usr/bin/env bash
# Installs the Debian packages the benchmarks (`make bench`, tools/bench/scenarios/) need: the peers
# (memcached, with extstore), fio as the device's physical limit, and gnuplot for the plots. Safe to
# run repeatedly: apt is only touched when something is missing.
set -euo pipefail

PACKAGES=(
  memcached     # the peer: memcached -t 1, and extstore (-o ext_path=FILE:SIZE)
  fio           # 4 KiB random reads and 1 MiB sequential writes, O_DIRECT: the device's limit
  gnuplot-nox   # docs/img/*.png
  python3       # the scenarios' helpers (standard library only)
  util-linux    # taskset, lsblk
  procps        # uptime, free
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-bench-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-bench-deps: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
fi

echo "install-bench-deps: installing ${missing[*]}"
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
