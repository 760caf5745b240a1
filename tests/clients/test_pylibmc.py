#!/usr/bin/python3
"""Debian's pylibmc (python3-pylibmc: Python over libmemcached 1.1) against ssdcached, in ASCII and
in binary mode, over TCP, the IPv6 loopback and the unix socket.

Run by run_client.sh, which starts the server and names it in the environment (SSDC_HOST,
SSDC_PORT, SSDC_IPV6, SSDC_SOCKET). Every command pylibmc offers is used as an application would:
set/get, multi-get and multi-set, add/replace/append/prepend, delete (and multi), incr/decr, gets
and cas, touch, a value of about 500 KB, stats, flush. Exits 1 after listing what failed.
"""

import os
import sys

import pylibmc

FAILED = []


def check(what, got, want):
    if got != want:
        FAILED.append(what)
        print(f"FAIL {what}: got {got!r}, want {want!r}", file=sys.stderr)


def raises(what, exc, fn, *args):
    try:
        fn(*args)
    except exc:
        return
    except Exception as e:  # noqa: BLE001 - the wrong exception is a failure to report
        check(what, type(e).__name__, exc.__name__)
        return
    check(what, "no exception", exc.__name__)


def exercise(mc, tag, binary):
    """The whole surface on one client; keys carry `tag` so the runs do not meet."""
    k = f"{tag}:k"
    check(f"{tag} set", mc.set(k, b"hello"), True)
    check(f"{tag} get", mc.get(k), b"hello")
    check(f"{tag} get miss", mc.get(f"{tag}:missing"), None)
    check(f"{tag} str value", (mc.set(f"{tag}:s", "text") and mc.get(f"{tag}:s")), "text")
    check(f"{tag} pickled", (mc.set(f"{tag}:o", {"a": [1, 2]}) and mc.get(f"{tag}:o")),
          {"a": [1, 2]})
    check(f"{tag} add existing", mc.add(k, b"x"), False)
    check(f"{tag} add new", mc.add(f"{tag}:new", b"n"), True)
    # libmemcached reports a binary NOT_FOUND status as an error (memcached gives the same).
    if binary:
        raises(f"{tag} replace missing", pylibmc.NotFound, mc.replace, f"{tag}:none", b"x")
    else:
        check(f"{tag} replace missing", mc.replace(f"{tag}:none", b"x"), False)
    check(f"{tag} replace", mc.replace(f"{tag}:new", b"r"), True)
    check(f"{tag} append", mc.append(f"{tag}:new", b">"), True)
    check(f"{tag} prepend", mc.prepend(f"{tag}:new", b"<"), True)
    check(f"{tag} after append/prepend", mc.get(f"{tag}:new"), b"<r>")
    many = {f"{tag}:m{i}": f"value {i}".encode() for i in range(100)}
    check(f"{tag} set_multi", mc.set_multi(many), [])
    check(f"{tag} get_multi", mc.get_multi(list(many) + [f"{tag}:missing"]), many)
    check(f"{tag} delete_multi", mc.delete_multi(list(many)[:50]), True)
    check(f"{tag} get_multi after delete", len(mc.get_multi(list(many))), 50)
    check(f"{tag} delete", mc.delete(k), True)
    check(f"{tag} delete again", mc.delete(k), False)
    check(f"{tag} get deleted", mc.get(k), None)
    n = f"{tag}:n"
    mc.set(n, b"10")
    check(f"{tag} incr", mc.incr(n, 5), 15)
    check(f"{tag} decr", mc.decr(n, 20), 0)
    check(f"{tag} incr again", mc.incr(n, 7), 7)
    raises(f"{tag} incr missing", pylibmc.NotFound, mc.incr, f"{tag}:nope", 1)
    value, cas = mc.gets(f"{tag}:s")
    check(f"{tag} gets", value, "text")
    check(f"{tag} cas stale", mc.cas(f"{tag}:s", "other", cas + 1), False)
    check(f"{tag} cas", mc.cas(f"{tag}:s", "swapped", cas), True)
    check(f"{tag} after cas", mc.get(f"{tag}:s"), "swapped")
    check(f"{tag} cas again with the old unique", mc.cas(f"{tag}:s", "x", cas), False)
    check(f"{tag} touch", mc.touch(f"{tag}:s", 300), True)
    check(f"{tag} touch missing", mc.touch(f"{tag}:missing", 300), False)
    big = os.urandom(500_000)
    check(f"{tag} large set", mc.set(f"{tag}:big", big), True)
    check(f"{tag} large get", mc.get(f"{tag}:big") == big, True)
    check(f"{tag} large in a multi-get", mc.get_multi([f"{tag}:big", f"{tag}:s"]),
          {f"{tag}:big": big, f"{tag}:s": "swapped"})
    stats = mc.get_stats()
    check(f"{tag} stats servers", len(stats), 1)
    check(f"{tag} stats pid", int(stats[0][1]["pid"]) > 0, True)


def main():
    host, port = os.environ["SSDC_HOST"], os.environ["SSDC_PORT"]
    ipv6, sock = os.environ.get("SSDC_IPV6", ""), os.environ["SSDC_SOCKET"]
    print(f"pylibmc {pylibmc.__version__}, libmemcached {pylibmc.libmemcached_version}",
          file=sys.stderr)
    endpoints = [("tcp", f"{host}:{port}"), ("unix", sock)]
    if ipv6:
        endpoints.append(("ipv6", f"[{ipv6}]:{port}"))
    for name, spec in endpoints:
        for binary in (False, True):
            tag = f"{name}-{'binary' if binary else 'ascii'}"
            mc = pylibmc.Client([spec], binary=binary, behaviors={"cas": True})
            exercise(mc, tag, binary)
            mc.disconnect_all()
    mc = pylibmc.Client([f"{host}:{port}"], binary=True)
    check("flush_all", mc.flush_all(), True)
    check("nothing after flush_all", mc.get("tcp-ascii:s"), None)
    if FAILED:
        print(f"pylibmc: {len(FAILED)} checks failed", file=sys.stderr)
        return 1
    print(f"pylibmc: every check passed on {', '.join(n for n, _ in endpoints)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
