<?php
// Debian's php-memcached (PHP over libmemcached 1.1) against ssdcached, in ASCII and with
// Memcached::OPT_BINARY_PROTOCOL, over TCP, the IPv6 loopback and the unix socket: set/get,
// getMulti/setMulti/deleteMulti, add/replace/append/prepend, delete, increment/decrement (with an
// initial value in binary), get with GET_EXTENDED and cas, touch, a value of about 500 KB, PHP
// arrays (the php serializer), getVersion, getStats, flush. getAllKeys (`stats cachedump`) has
// its own test, test_getallkeys.sh. Run by run_client.sh, which names the server in the environment
// (SSDC_HOST, SSDC_PORT, SSDC_IPV6, SSDC_SOCKET).

$failed = [];

function check(string $what, $got, $want): void {
    global $failed;
    if (is_array($got) && is_array($want)) {  // a multi-get's order is the server's
        ksort($got);
        ksort($want);
    }
    if ($got === $want) return;
    $failed[] = $what;
    fwrite(STDERR, "FAIL $what: got " . var_export($got, true) . ", want " .
        var_export($want, true) . "\n");
}

function exercise(Memcached $m, string $tag, bool $binary): void {
    $k = "$tag:k";
    check("$tag set", $m->set($k, 'hello'), true);
    check("$tag get", $m->get($k), 'hello');
    check("$tag get miss", $m->get("$tag:missing"), false);
    check("$tag miss code", $m->getResultCode(), Memcached::RES_NOTFOUND);
    check("$tag array", $m->set("$tag:a", ['a' => [1, 2]]) ? $m->get("$tag:a") : null,
        ['a' => [1, 2]]);
    check("$tag add existing", $m->add($k, 'x'), false);
    check("$tag add new", $m->add("$tag:new", 'n'), true);
    check("$tag replace missing", $m->replace("$tag:none", 'x'), false);
    check("$tag replace", $m->replace("$tag:new", 'r'), true);
    check("$tag append", $m->append("$tag:new", '>'), true);
    check("$tag prepend", $m->prepend("$tag:new", '<'), true);
    check("$tag after append/prepend", $m->get("$tag:new"), '<r>');

    $many = [];
    for ($i = 0; $i < 100; $i++) $many["$tag:m$i"] = "value $i";
    check("$tag setMulti", $m->setMulti($many), true);
    check("$tag getMulti", $m->getMulti(array_merge(array_keys($many), ["$tag:missing"])), $many);
    $deleted = $m->deleteMulti(array_slice(array_keys($many), 0, 50));
    check("$tag deleteMulti", count(array_filter($deleted, fn($r) => $r === true)), 50);
    check("$tag getMulti after delete", count($m->getMulti(array_keys($many))), 50);

    check("$tag delete", $m->delete($k), true);
    check("$tag delete again", $m->delete($k), false);
    check("$tag get deleted", $m->get($k), false);

    $m->set("$tag:n", 10);
    check("$tag increment", $m->increment("$tag:n", 5), 15);
    check("$tag decrement", $m->decrement("$tag:n", 20), 0);
    check("$tag increment missing", $m->increment("$tag:nope", 1), false);
    if ($binary) {
        check("$tag increment with initial", $m->increment("$tag:init", 1, 10, 0), 10);
        check("$tag increment after initial", $m->increment("$tag:init", 1, 10, 0), 11);
        check("$tag decrement with initial", $m->decrement("$tag:dinit", 1, 7, 0), 7);
    }

    $e = $m->get("$tag:new", null, Memcached::GET_EXTENDED);
    check("$tag get extended", is_array($e) ? $e['value'] : $e, '<r>');
    if (is_array($e)) {
        check("$tag cas stale", $m->cas($e['cas'] + 1, "$tag:new", 'x'), false);
        check("$tag cas", $m->cas($e['cas'], "$tag:new", 'swapped'), true);
        check("$tag cas again", $m->cas($e['cas'], "$tag:new", 'y'), false);
        check("$tag after cas", $m->get("$tag:new"), 'swapped');
    }
    check("$tag touch", $m->touch("$tag:new", 300), true);
    check("$tag touch missing", $m->touch("$tag:missing", 300), false);

    $big = random_bytes(500000);
    check("$tag large set", $m->set("$tag:big", $big), true);
    check("$tag large get", $m->get("$tag:big") === $big, true);
    $both = $m->getMulti(["$tag:big", "$tag:new"]);
    check("$tag large in a multi-get", ($both["$tag:big"] ?? null) === $big, true);

    $versions = $m->getVersion();
    check("$tag version", is_array($versions) && str_starts_with(reset($versions), '1.6.'), true);
    $stats = $m->getStats();
    check("$tag stats pid", is_array($stats) && reset($stats)['pid'] > 0, true);
}

$host = getenv('SSDC_HOST');
$port = (int) getenv('SSDC_PORT');
$ipv6 = getenv('SSDC_IPV6');
$socket = getenv('SSDC_SOCKET');
if (!$host || !$port || !$socket) {
    fwrite(STDERR, "SSDC_HOST, SSDC_PORT, SSDC_SOCKET not set (run by run_client.sh)\n");
    exit(1);
}
fwrite(STDERR, "php " . PHP_VERSION . ", php-memcached " . phpversion('memcached') . "\n");

$servers = ['tcp' => [$host, $port], 'unix' => [$socket, 0]];
if ($ipv6) $servers['ipv6'] = [$ipv6, $port];
foreach ($servers as $name => [$address, $p]) {
    foreach ([false, true] as $binary) {
        $m = new Memcached();
        $m->setOption(Memcached::OPT_BINARY_PROTOCOL, $binary);
        $m->setOption(Memcached::OPT_COMPRESSION, false);
        $m->setOption(Memcached::OPT_RECV_TIMEOUT, 5000000);
        $m->setOption(Memcached::OPT_SEND_TIMEOUT, 5000000);
        $m->addServer($address, $p);
        exercise($m, $name . ($binary ? '-binary' : '-ascii'), $binary);
        $m->quit();
    }
}
$m = new Memcached();
$m->addServer($host, $port);
check('flush', $m->flush(), true);
check('nothing after flush', $m->get('tcp-ascii:new'), false);

if ($failed) {
    fwrite(STDERR, count($failed) . " checks failed\n");
    exit(1);
}
echo "php-memcached: every check passed on " . implode(', ', array_keys($servers)) . "\n";
