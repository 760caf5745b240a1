#!/usr/bin/env bash
# The clients that list keys with libmemcached's memcached_dump (`stats cachedump <class> 0` for
# classes 0..63): php-memcached's Memcached::getAllKeys() (Debian's php-memcached) and
# libmemcached-tools' memcdump, against ssdcached: every key stored and not deleted comes back,
# from the device and from DRAM, and under -X getAllKeys lists nothing, as against memcached -X
# (php-memcached answers an empty list when the server refuses stats cachedump).
#
#   tests/clients/test_getallkeys.sh [path/to/ssdcached]     (or SSDCACHED_BIN=...)
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
trap clients_cleanup EXIT
clients_init "${1:-}"

command -v php >/dev/null || die "php not found: install php-cli and php-memcached (tools/install-deps.sh)"
php -r 'exit(class_exists("Memcached") ? 0 : 1);' || die "php-memcached is not installed"

# The PHP side: stores N keys of two sizes (most end up on the device: -m 4), deletes one,
# overwrites one, and checks that getAllKeys() returns exactly the others. With "refused" it
# expects an empty list, as memcached -X gives.
read -r -d '' SCRIPT <<'PHP' || true
$port = (int)$argv[1];
$m = new Memcached();
$m->addServer('127.0.0.1', $port);
if ($argv[2] === 'refused') {
    $m->set('k', 'v');
    $keys = $m->getAllKeys();
    if ($keys !== []) { fwrite(STDERR, "getAllKeys under -X: " . var_export($keys, true) . "\n"); exit(1); }
    exit(0);
}
$want = [];
for ($i = 0; $i < 12000; $i++) {
    $key = "php:key:$i";
    if (!$m->set($key, str_repeat(chr(97 + $i % 26), $i % 2 ? 1000 : 20))) {
        fwrite(STDERR, "set $key: " . $m->getResultMessage() . "\n"); exit(1);
    }
    $want[$key] = true;
}
$m->delete('php:key:7');
unset($want['php:key:7']);
$m->set('php:key:8', 'now small');
$keys = $m->getAllKeys();
if ($keys === false) { fwrite(STDERR, "getAllKeys: " . $m->getResultMessage() . "\n"); exit(1); }
$got = array_fill_keys($keys, true);
if (count($keys) !== count($got)) { fwrite(STDERR, "a key listed twice\n"); exit(1); }
$missing = array_diff_key($want, $got);
$extra = array_diff_key($got, $want);
if ($missing || $extra) {
    fwrite(STDERR, count($missing) . " missing (" . implode(' ', array_slice(array_keys($missing), 0, 5))
        . "), " . count($extra) . " extra (" . implode(' ', array_slice(array_keys($extra), 0, 5)) . ")\n");
    exit(1);
}
echo count($keys) . " keys listed\n";
PHP

start_ssdcached main -m 4
out=$(timeout 60 php -r "$SCRIPT" "$SSDC_PORT" all 2>&1) || die "getAllKeys: $out"
log "php-memcached getAllKeys: $out"
[[ $(stat_of "$SSDC_PORT" slab_writes) -gt 4 ]] || die "the keys never reached the device"

keys=$(timeout 60 memcdump --servers="127.0.0.1:$SSDC_PORT" | sort) || die "memcdump failed"
[[ $(wc -l <<<"$keys") -eq 11999 ]] || die "memcdump: $(wc -l <<<"$keys") keys, want 11999"
grep -qx 'php:key:8' <<<"$keys" || die "memcdump: no php:key:8"
if grep -qx 'php:key:7' <<<"$keys"; then die "memcdump: the deleted php:key:7"; fi
log "memcdump: 11999 keys"

start_ssdcached refusing -X
out=$(timeout 60 php -r "$SCRIPT" "$SSDC_PORT" refused 2>&1) || die "getAllKeys under -X: $out"
log "php-memcached getAllKeys: listed every key; nothing under -X"
