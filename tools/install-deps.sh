#!/usr/bin/env bash
# Installs the Debian packages needed to build and run ssdcached (`server`: what `make run` needs) or
# also to test it (`test`, the default: `make test`, `make deps`), or to benchmark it against its
# peers (`bench`: what `make bench` adds). Safe to run repeatedly: it only touches apt when
# something is missing, so `make run`, `make test` and `make bench` can always call it.
#
#   tools/install-deps.sh [server|test|bench]
set -euo pipefail

PROFILE=${1:-test}
SERVER_PACKAGES=(
  cmake
  g++
  make
  pkg-config
  libaio-dev
  libspdlog-dev
  libfmt-dev
  libcli11-dev
  libxxhash-dev
  libisal-dev
  libssl-dev   # OpenSSL 3 for -Z (TLS); pulls in the libssl3 runtime
)
TEST_PACKAGES=(
  libgtest-dev
  libgmock-dev
  memcached        # differential tests' oracle; its memcached-tool script (tests/clients)
  netcat-openbsd   # `nc -q1` in the README and the tests
  python3-pymemcache   # tests/clients: pymemcache, run with Debian's /usr/bin/python3
  python3-prometheus-client  # tests/clients/test_metrics.py: Prometheus's own parser
  openssl              # tests/clients/test_tls.py: throwaway certificates, openssl s_client
  libmemcached-tools   # tests/clients: memccp, memcstat, memcslap, memccapable, ...
  nutcracker           # twemproxy: tools/cluster and tests/clients/test_twemproxy.sh
  ruby ruby-dalli      # tests/clients/test_dalli.rb: a binary-protocol-only client
  python3-pylibmc      # tests/clients/test_pylibmc.py: libmemcached from Python, ASCII and binary
  libcache-memcached-fast-perl   # tests/clients/test_memcached_fast.pl
  php-cli php-memcached          # tests/clients/test_php_memcached.php, test_php_sessions.sh,
                                 # test_getallkeys.sh
  golang-go golang-github-bradfitz-gomemcache-dev   # tests/clients/gomemcache (built offline)
  clang                # make fuzz / fuzz-ci: libFuzzer targets (tests/fuzz)
  libclang-rt-14-dev   # libFuzzer and the sanitizer runtimes of clang 14
  clang-format         # make format-check, part of make test
  lld                  # links the test executables faster than GNU ld (CMakeLists.txt)
)
BENCH_PACKAGES=(
  memcached     # the peer: memcached -t 1, and extstore (-o ext_path=FILE:SIZE)
  fio           # 4 KiB random reads and 1 MiB sequential IO, O_DIRECT: the device's limit
  gnuplot-nox   # docs/img/*.png
  python3       # the scenarios' helpers (standard library only)
  util-linux    # taskset, lsblk
  procps        # uptime, free
)
case $PROFILE in
  server) PACKAGES=("${SERVER_PACKAGES[@]}") ;;
  test) PACKAGES=("${SERVER_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
  bench) PACKAGES=("${SERVER_PACKAGES[@]}" "${BENCH_PACKAGES[@]}") ;;
  *)
    echo "install-deps: unknown profile '$PROFILE' (expected server, test or bench)" >&2
    exit 2
    ;;
esac

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#PACKAGES[@]} packages ($PROFILE) already installed"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}"
"${SUDO[@]}" apt-get update
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}"
