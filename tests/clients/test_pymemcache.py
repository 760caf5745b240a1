#!/usr/bin/python3
"""Drives ssdcached through pymemcache, a memcached client nobody on the team wrote.

Run with Debian's /usr/bin/python3 (the python3-pymemcache package is built for it):

    /usr/bin/python3 tests/clients/test_pymemcache.py [path/to/ssdcached]

The server binary comes from argv[1] or $SSDCACHED_BIN. Every server this test starts listens on
127.0.0.1 on a port the kernel picks (-p 0; the port is read from the server's log), keeps its
device file in a fresh directory under /var/tmp, and is stopped with SIGTERM at the end, which must
give exit status 0. An atexit hook kills whatever is still running if the test dies half-way.
Plain unittest, no pytest; the last line is "N passed, M failed[, K skipped]".
"""

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

try:
    from pymemcache import exceptions as pmc_exc
    from pymemcache.client.base import Client
    from pymemcache.client.hash import HashClient
    import pymemcache
except ImportError as e:  # pragma: no cover - environment problem, not a test failure to hide
    print(f"cannot import pymemcache ({e}); install python3-pymemcache (tools/install-deps.sh) "
          f"and run with /usr/bin/python3", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(1)

SERVER_BIN = None  # set in main()
HOST = "127.0.0.1"
START_TIMEOUT_S = 15
STOP_TIMEOUT_S = 60
SLAB_SIZE = 1 << 20  # the default -I

_servers = []  # every ServerProcess ever started, for the atexit safety net
_tmpdirs = []


class ServerProcess:
    """One ssdcached on 127.0.0.1, port chosen by the kernel, device file under /var/tmp."""

    def __init__(self, name, extra_args=()):
        self.name = name
        self.dir = tempfile.mkdtemp(prefix=f"ssdc-pymc-{name}-", dir="/var/tmp")
        _tmpdirs.append(self.dir)
        self.log_path = os.path.join(self.dir, "ssdcached.log")
        # -m 64 holds 64 memory slabs: more than the 45 slab classes of -I 1M plus 8, so the server
        # does not warn; the device needs 2 disk slabs more than that; -i 8 keeps the index small
        # (786432 entries is plenty here).
        args = [SERVER_BIN, "-p", "0", "-l", HOST, "-D", os.path.join(self.dir, "dev.dat"),
                "--device-size", "128M", "-m", "64", "-i", "8", "-o", self.log_path,
                *extra_args]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        _servers.append(self)
        self.port = self._wait_for_port()

    def _log(self):
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _wait_for_port(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        pattern = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
        while time.monotonic() < deadline:
            m = pattern.search(self._log())
            if m:
                port = int(m.group(1))
                # The log line is written just before the loop runs; wait until it accepts.
                while time.monotonic() < deadline:
                    try:
                        socket.create_connection((HOST, port), timeout=1).close()
                        return port
                    except OSError:
                        time.sleep(0.05)
                break
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                raise RuntimeError(f"ssdcached {self.name} exited with {self.proc.returncode} at "
                                   f"start-up: {err.strip()} {self._log().strip()}")
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"ssdcached {self.name} did not start within {START_TIMEOUT_S}s")

    @property
    def address(self):
        return (HOST, self.port)

    def stop(self):
        """SIGTERM, wait, return the exit status (None if it had to be killed)."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def stop_or_fail(self):
        """stop(), raising AssertionError with the log's tail unless the exit status is 0."""
        status = self.stop()
        if status != 0:
            raise AssertionError(f"ssdcached {self.name} exited with {status}: "
                                 f"{self.log()[-2000:]}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def log(self):
        return self._log()


def _cleanup_at_exit():
    for s in _servers:
        s.kill()
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


atexit.register(_cleanup_at_exit)


def make_client(server, **kw):
    kw.setdefault("default_noreply", False)
    return Client(server.address, connect_timeout=5, timeout=15, **kw)


def stat_int(stats, name):
    value = stats[name.encode()]
    return int(value) if not isinstance(value, int) else value


class SingleServerTest(unittest.TestCase):
    """Every Client command against one ssdcached."""

    server = None

    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess("single")

    @classmethod
    def tearDownClass(cls):
        status = cls.server.stop()
        if status != 0:
            raise AssertionError(f"ssdcached did not exit 0 on SIGTERM (status {status}); log:\n"
                                 f"{cls.server.log()}")

    def setUp(self):
        self.c = make_client(self.server)
        self.c.flush_all()

    def tearDown(self):
        self.c.close()

    def test_set_get(self):
        self.assertTrue(self.c.set(b"k1", b"v1"))
        self.assertEqual(self.c.get(b"k1"), b"v1")
        self.assertTrue(self.c.set("str-key", "str-value"))
        self.assertEqual(self.c.get("str-key"), b"str-value")
        self.assertIsNone(self.c.get(b"missing"))
        self.assertEqual(self.c.get(b"missing", default=b"dflt"), b"dflt")
        self.assertTrue(self.c.set(b"k1", b"v2"))  # overwrite
        self.assertEqual(self.c.get(b"k1"), b"v2")
        self.assertTrue(self.c.set(b"empty", b""))
        self.assertEqual(self.c.get(b"empty"), b"")
        self.assertTrue(self.c.set(b"k" * 250, b"longest key"))
        self.assertEqual(self.c.get(b"k" * 250), b"longest key")

    def test_flags_roundtrip(self):
        # A serde sees the flags pymemcache stores and reads back: 32 bits must survive.
        class FlagsSerde:
            def serialize(self, key, value):
                return value[0], value[1]

            def deserialize(self, key, value, flags):
                return value, flags

        fc = make_client(self.server, serde=FlagsSerde())
        try:
            for flags in (0, 1, 0xDEADBEEF, 0xFFFFFFFF):
                self.assertTrue(fc.set(b"flagged", (b"x", flags)))
                self.assertEqual(fc.get(b"flagged"), (b"x", flags))
        finally:
            fc.close()

    def test_get_many_set_many(self):
        values = {f"many:{i}".encode(): f"value-{i}".encode() * (i + 1) for i in range(100)}
        self.assertEqual(self.c.set_many(values), [])
        keys = list(values) + [b"many:absent1", b"many:absent2"]
        got = self.c.get_many(keys)
        self.assertEqual(got, values)
        self.assertEqual(self.c.get_many([]), {})
        self.assertEqual(self.c.get_multi([b"many:1", b"many:absent1"]),
                         {b"many:1": values[b"many:1"]})

    def test_add(self):
        self.assertTrue(self.c.add(b"addk", b"first"))
        self.assertFalse(self.c.add(b"addk", b"second"))
        self.assertEqual(self.c.get(b"addk"), b"first")

    def test_replace(self):
        self.assertFalse(self.c.replace(b"repk", b"nothing there"))
        self.assertIsNone(self.c.get(b"repk"))
        self.c.set(b"repk", b"old")
        self.assertTrue(self.c.replace(b"repk", b"new"))
        self.assertEqual(self.c.get(b"repk"), b"new")

    def test_append_prepend(self):
        self.assertFalse(self.c.append(b"cat", b"tail"))
        self.assertFalse(self.c.prepend(b"cat", b"head"))
        self.assertIsNone(self.c.get(b"cat"))
        self.c.set(b"cat", b"middle")
        self.assertTrue(self.c.append(b"cat", b"-tail"))
        self.assertTrue(self.c.prepend(b"cat", b"head-"))
        self.assertEqual(self.c.get(b"cat"), b"head-middle-tail")

    def test_gets_cas(self):
        self.assertEqual(self.c.gets(b"casv"), (None, None))
        self.assertIsNone(self.c.cas(b"casv", b"x", 1))  # NOT_FOUND
        self.c.set(b"casv", b"one")
        value, token = self.c.gets(b"casv")
        self.assertEqual(value, b"one")
        self.assertTrue(self.c.cas(b"casv", b"two", token))
        self.assertEqual(self.c.get(b"casv"), b"two")
        self.assertFalse(self.c.cas(b"casv", b"three", token))  # EXISTS: token is stale
        self.assertEqual(self.c.get(b"casv"), b"two")
        value2, token2 = self.c.gets(b"casv")
        self.assertNotEqual(token, token2)
        many = self.c.gets_many([b"casv", b"nope"])
        self.assertEqual(many, {b"casv": (b"two", token2)})
        self.c.set(b"casv", b"changed behind our back")
        self.assertFalse(self.c.cas(b"casv", b"lost update", token2))
        self.assertEqual(self.c.get(b"casv"), b"changed behind our back")

    def test_incr_decr(self):
        self.assertIsNone(self.c.incr(b"ctr", 1))
        self.assertIsNone(self.c.decr(b"ctr", 1))
        self.c.set(b"ctr", b"10")
        self.assertEqual(self.c.incr(b"ctr", 5), 15)
        self.assertEqual(self.c.decr(b"ctr", 3), 12)
        self.assertEqual(self.c.decr(b"ctr", 100), 0)  # decr stops at 0
        self.c.set(b"ctr", b"18446744073709551615")
        self.assertEqual(self.c.incr(b"ctr", 1), 0)  # incr wraps at 2^64
        self.assertEqual(self.c.get(b"ctr"), b"0")
        self.c.set(b"notnum", b"abc")
        with self.assertRaises(pmc_exc.MemcacheClientError):
            self.c.incr(b"notnum", 1)

    def test_delete(self):
        self.c.set(b"del", b"x")
        self.assertTrue(self.c.delete(b"del"))
        self.assertFalse(self.c.delete(b"del"))
        self.assertIsNone(self.c.get(b"del"))
        self.c.set_many({b"dm1": b"1", b"dm2": b"2", b"dm3": b"3"})
        self.assertTrue(self.c.delete_many([b"dm1", b"dm2", b"dm-absent"]))
        self.assertEqual(self.c.get_many([b"dm1", b"dm2", b"dm3"]), {b"dm3": b"3"})

    def test_touch_and_expiry(self):
        self.assertFalse(self.c.touch(b"tch", 100))
        self.c.set(b"tch", b"kept", expire=2)
        self.c.set(b"gone", b"expires", expire=2)
        self.assertTrue(self.c.touch(b"tch", 300))
        time.sleep(3.5)
        self.assertEqual(self.c.get(b"tch"), b"kept")
        self.assertIsNone(self.c.get(b"gone"))
        self.assertTrue(self.c.touch(b"tch", -1))  # negative exptime: expired at once
        self.assertIsNone(self.c.get(b"tch"))

    def test_gat(self):
        if not hasattr(self.c, "gat"):
            self.skipTest(f"pymemcache {pymemcache.__version__} has no gat/gats")
        self.c.set(b"gatk", b"v", expire=2)
        self.assertEqual(self.c.gat(b"gatk", 300), b"v")

    def test_flush_all(self):
        self.c.set_many({b"f1": b"1", b"f2": b"2"})
        self.assertTrue(self.c.flush_all())
        self.assertEqual(self.c.get_many([b"f1", b"f2"]), {})
        self.c.set(b"f3", b"3")
        self.assertTrue(self.c.flush_all(delay=2))  # delayed flush: still there for now
        self.assertEqual(self.c.get(b"f3"), b"3")
        time.sleep(3.5)
        self.assertIsNone(self.c.get(b"f3"))

    def test_stats(self):
        self.c.set(b"st", b"x")
        self.c.get(b"st")
        self.c.get(b"st-miss")
        stats = self.c.stats()
        for name in ("pid", "uptime", "time", "version", "pointer_size", "rusage_user",
                     "rusage_system", "curr_connections", "total_connections", "cmd_get",
                     "cmd_set", "cmd_flush", "get_hits", "get_misses", "delete_hits",
                     "delete_misses", "incr_hits", "incr_misses", "cas_hits", "cas_badval",
                     "touch_hits", "bytes_read", "bytes_written", "limit_maxbytes", "threads",
                     "curr_items", "total_items", "bytes", "evictions"):
            self.assertIn(name.encode(), stats, name)
        self.assertEqual(stat_int(stats, "pid"), self.server.proc.pid)
        self.assertGreaterEqual(stat_int(stats, "get_hits"), 1)
        self.assertGreaterEqual(stat_int(stats, "get_misses"), 1)
        self.assertEqual(stat_int(stats, "curr_items"), 1)
        self.assertAlmostEqual(stat_int(stats, "time"), time.time(), delta=5)
        settings = self.c.stats("settings")
        self.assertEqual(stat_int(settings, "tcpport"), self.server.port)
        self.assertEqual(stat_int(settings, "item_size_max"), SLAB_SIZE - 64)

    def test_version(self):
        out = subprocess.run([SERVER_BIN, "--version"], capture_output=True, text=True,
                             timeout=30, check=True).stdout.split()
        self.assertEqual(self.c.version(), out[-1].encode())

    def test_noreply_variants(self):
        q = make_client(self.server, default_noreply=True)
        try:
            self.assertTrue(q.set(b"nr", b"1"))
            self.assertTrue(q.add(b"nr-add", b"a"))
            self.assertTrue(q.add(b"nr-add", b"b"))  # not stored, but noreply says nothing
            self.assertTrue(q.replace(b"nr", b"5"))
            self.assertTrue(q.append(b"nr-add", b"+"))
            self.assertTrue(q.prepend(b"nr-add", b"-"))
            self.assertIsNone(q.incr(b"nr", 10, noreply=True))
            self.assertIsNone(q.decr(b"nr", 3, noreply=True))
            self.assertTrue(q.set(b"nr-del", b"x"))
            self.assertTrue(q.delete(b"nr-del"))
            self.assertTrue(q.set(b"nr-touch", b"t", expire=2))
            self.assertTrue(q.touch(b"nr-touch", 300))
            self.assertEqual(q.set_many({b"nr-m1": b"1", b"nr-m2": b"2"}), [])
            self.assertTrue(q.delete_many([b"nr-m1"]))
            # A get on the same connection is answered after every noreply command before it.
            self.assertEqual(q.get(b"nr"), b"12")
            self.assertEqual(q.get(b"nr-add"), b"-a+")
            self.assertIsNone(q.get(b"nr-del"))
            self.assertEqual(q.get_many([b"nr-m1", b"nr-m2"]), {b"nr-m2": b"2"})
            _, token = q.gets(b"nr")
            self.assertTrue(q.cas(b"nr", b"cas-noreply", token, noreply=True))
            self.assertEqual(q.get(b"nr"), b"cas-noreply")
            time.sleep(3.5)
            self.assertEqual(q.get(b"nr-touch"), b"t")
            self.assertTrue(q.flush_all(noreply=True))
            self.assertIsNone(q.get(b"nr"))
        finally:
            q.close()
        # The other connection saw nothing odd either: its next reply is its own.
        self.assertEqual(self.c.version(), self.c.version())

    def test_binary_values(self):
        values = {
            b"bin:all-bytes": bytes(range(256)) * 16,
            b"bin:crlf": b"\r\nEND\r\nVALUE x 0 1\r\n\r\n",
            b"bin:nul": b"\x00" * 1000,
            b"bin:high": bytes([0xFF, 0xFE, 0x80, 0x00, 0x0D, 0x0A]) * 100,
            b"bin:random": os.urandom(100_000),
        }
        for k, v in values.items():
            self.assertTrue(self.c.set(k, v))
        for k, v in values.items():
            self.assertEqual(self.c.get(k), v, k)
        self.assertEqual(self.c.get_many(list(values)), values)

    def test_large_values(self):
        # An item (item header + key + value) must fit in item_size_max (the slab minus its 64-byte
        # header). The item header is part of the device format, so find the exact limit by
        # bisection inside a 128-byte window below item_size_max, then check both sides of it.
        item_size_max = stat_int(self.c.stats("settings"), "item_size_max")
        self.assertEqual(item_size_max, SLAB_SIZE - 64)
        key = b"large:max"
        payload = os.urandom(item_size_max)

        def fits(n):
            try:
                return self.c.set(key, payload[:n])
            except pmc_exc.MemcacheServerError as e:
                self.assertIn(b"too large", str(e).encode())
                return False

        lo, hi = item_size_max - 128 - len(key), item_size_max - len(key)
        self.assertTrue(fits(lo), "a value 128 bytes below item_size_max is refused")
        self.assertFalse(fits(hi), "a value of item_size_max bytes is accepted")
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if fits(mid):
                lo = mid
            else:
                hi = mid
        header = item_size_max - len(key) - lo
        print(f"\n  largest value for a {len(key)}-byte key: {lo} bytes "
              f"(item header {header} bytes)", file=sys.stderr)
        self.assertTrue(self.c.set(key, payload[:lo]))
        self.assertEqual(self.c.get(key), payload[:lo])
        self.assertEqual(self.c.get_many([key]), {key: payload[:lo]})
        # One byte more does not fit; like memcached the old value is dropped.
        with self.assertRaises(pmc_exc.MemcacheServerError):
            self.c.set(key, payload[:lo + 1])
        self.assertIsNone(self.c.get(key))
        # The connection is still in sync after the refused value.
        self.assertTrue(self.c.set(b"large:after", b"ok"))
        self.assertEqual(self.c.get(b"large:after"), b"ok")
        # Values of every size class up to 512 KB round trip.
        sizes = [1000 * 2 ** i for i in range(10)]
        for n in sizes:
            self.assertTrue(self.c.set(f"large:{n}".encode(), payload[:n]))
        for n in sizes:
            self.assertEqual(self.c.get(f"large:{n}".encode()), payload[:n], n)

    def test_values_read_back_from_device(self):
        # 40 values of 200 KB fill several slabs of their class; 80 MB more push them out of the
        # 64 MiB of memory slabs (which keep serving recently written slabs), so the gets below
        # read them back from the device through libaio.
        before = stat_int(self.c.stats(), "reads_device")
        values = {f"dev:{i}".encode(): os.urandom(200_000) for i in range(40)}
        for k, v in values.items():
            self.assertTrue(self.c.set(k, v))
        filler = os.urandom(200_000)
        for i in range(400):
            self.assertTrue(self.c.set(f"dev:filler:{i}".encode(), filler))
        for k, v in values.items():
            self.assertEqual(self.c.get(k), v, k)
        self.assertEqual(self.c.get_many(list(values)), values)
        self.assertGreater(stat_int(self.c.stats(), "reads_device"), before)

    def test_quit_and_reconnect(self):
        self.c.set(b"q", b"1")
        self.c.quit()
        self.assertEqual(self.c.get(b"q"), b"1")  # pymemcache reconnects on its own

    def test_client_side_key_errors(self):
        with self.assertRaises(pmc_exc.MemcacheClientError):
            self.c.set(b"k" * 251, b"too long a key")
        with self.assertRaises(pmc_exc.MemcacheClientError):
            self.c.set(b"has space", b"x")
        self.assertEqual(self.c.version(), self.c.version())


class HashClientTest(unittest.TestCase):
    """pymemcache's HashClient spreads keys over 3 ssdcached (client-side hashing, as mcrouter)."""

    servers = []

    @classmethod
    def setUpClass(cls):
        cls.servers = []
        for i in range(3):
            cls.servers.append(ServerProcess(f"hash{i}"))

    @classmethod
    def tearDownClass(cls):
        bad = []
        for s in cls.servers:
            status = s.stop()
            if status != 0:
                bad.append(f"{s.name}: {status}\n{s.log()}")
        if bad:
            raise AssertionError("ssdcached did not exit 0 on SIGTERM: " + "\n".join(bad))

    def test_keys_spread_over_all_instances(self):
        hc = HashClient([s.address for s in self.servers], connect_timeout=5, timeout=15,
                        default_noreply=False, use_pooling=False, retry_attempts=1,
                        dead_timeout=60)
        try:
            hc.flush_all()
            n = 3000
            values = {f"hash:{i}".encode(): f"v{i}".encode() for i in range(n)}
            for start in range(0, n, 500):
                chunk = dict(list(values.items())[start:start + 500])
                self.assertEqual(hc.set_many(chunk), [])
            got = {}
            for start in range(0, n, 500):
                got.update(hc.get_many(list(values)[start:start + 500]))
            self.assertEqual(got, values)
            for i in range(0, n, 97):  # single-key commands route the same way
                k = f"hash:{i}".encode()
                self.assertEqual(hc.get(k), values[k])
            self.assertTrue(hc.delete(b"hash:0"))
            self.assertIsNone(hc.get(b"hash:0"))
            self.assertEqual(hc.incr(b"hash:counter", 1), None)
            hc.set(b"hash:counter", b"41")
            self.assertEqual(hc.incr(b"hash:counter", 1), 42)
        finally:
            hc.close()
        counts = []
        for s in self.servers:
            c = make_client(s)
            try:
                counts.append(stat_int(c.stats(), "curr_items"))
            finally:
                c.close()
        print(f"\n  HashClient: curr_items per instance {counts}", file=sys.stderr)
        self.assertEqual(sum(counts), n)  # 3000 - hash:0 + hash:counter
        for count in counts:
            # Rendezvous hashing over 3 nodes: each gets about a third.
            self.assertGreater(count, n // 6, counts)


class ShutdownTest(unittest.TestCase):
    """SIGTERM writes the memory slabs and exits 0; the log says so."""

    def test_sigterm_exits_zero_after_writes(self):
        s = ServerProcess("shutdown")
        try:
            c = make_client(s)
            values = {f"sd:{i}".encode(): os.urandom(1000) for i in range(500)}
            self.assertEqual(c.set_many(values), [])
            self.assertEqual(c.get_many(list(values)), values)
            c.close()
            self.assertEqual(s.stop(), 0, s.log())
            self.assertIn("shutdown complete", s.log())
            self.assertIn("500 items", s.log())
        finally:
            s.kill()


def run_cases(cases, title=""):
    """Runs the unittest cases against argv[1] or $SSDCACHED_BIN; prints "N passed, M failed"
    last; the exit status. Shared by the client tests written in Python."""
    global SERVER_BIN
    SERVER_BIN = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SSDCACHED_BIN")
    if not SERVER_BIN or not os.access(SERVER_BIN, os.X_OK):
        print(f"ssdcached binary not found: pass it as argv[1] or SSDCACHED_BIN "
              f"(got {SERVER_BIN!r})", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    SERVER_BIN = os.path.abspath(SERVER_BIN)
    print(f"{title}python {sys.version.split()[0]}, server {SERVER_BIN}", file=sys.stderr)
    suite = unittest.TestSuite()
    loader = unittest.TestLoader()
    for case in cases:
        suite.addTests(loader.loadTestsFromTestCase(case))
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stderr).run(suite)
    # A failing setUpClass/tearDownClass is an error that belongs to no test that ran.
    problems = result.failures + result.errors
    failed = len(problems) + len(result.unexpectedSuccesses)
    failed_runs = sum(1 for test, _ in problems if isinstance(test, unittest.TestCase))
    skipped = len(result.skipped)
    passed = result.testsRun - failed_runs - len(result.unexpectedSuccesses) - skipped
    sys.stderr.flush()
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 0 if failed == 0 and result.testsRun > 0 else 1


def main():
    return run_cases((SingleServerTest, HashClientTest, ShutdownTest),
                     f"pymemcache {pymemcache.__version__}, ")


if __name__ == "__main__":
    sys.exit(main())
