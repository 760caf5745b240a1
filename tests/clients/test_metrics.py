#!/usr/bin/python3
"""The metrics endpoint (--metrics-port), read by Prometheus's own parser.

Run with Debian's /usr/bin/python3 (python3-prometheus-client and python3-pymemcache):

    /usr/bin/python3 tests/clients/test_metrics.py [path/to/ssdcached]

Scrapes http://127.0.0.1:PORT/metrics, parses it with prometheus_client.parser
(text_string_to_metric_families), checks that every `stats`, `stats slabs`, `stats items` and
`stats settings` field has its series and that the values move after sets and gets; then
hostile HTTP: bad requests get 400/404/405, and a client that never finishes its request holds
neither the scrape of others nor the memcached port. Servers are started as in
test_pymemcache.py (its ServerProcess). The last line is "N passed, M failed".
"""

import http.client
import socket
import subprocess
import sys
import time
import unittest

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError as e:  # pragma: no cover - environment problem
    print(f"cannot import prometheus_client ({e}); install python3-prometheus-client "
          f"(tools/install-deps.sh) and run with /usr/bin/python3", file=sys.stderr)
    print("0 passed, 1 failed")
    sys.exit(1)

import test_pymemcache as base


def free_port():
    with socket.socket() as s:
        s.bind((base.HOST, 0))
        return s.getsockname()[1]


def http_get(port, path="/metrics", method="GET"):
    conn = http.client.HTTPConnection(base.HOST, port, timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def raw_exchange(port, data):
    with socket.create_connection((base.HOST, port), timeout=10) as s:
        s.sendall(data)
        reply = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return reply
            reply += chunk


def stats_text(server, group=""):
    """The raw reply of `stats [group]` as name -> value."""
    with socket.create_connection(server.address, timeout=10) as s:
        s.sendall(f"stats {group}\r\n".encode() if group else b"stats\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    out = {}
    for line in data.decode().split("\r\n"):
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = parts[2]
    return out


class Scrape:
    """One parsed page: families by name, and samples by (name, frozenset(labels))."""

    def __init__(self, port):
        status, headers, body = http_get(port)
        if status != 200:
            raise AssertionError(f"GET /metrics: {status}")
        self.content_type = headers.get("Content-Type", "")
        self.text = body.decode()
        self.families = {}
        self.samples = {}
        for family in text_string_to_metric_families(self.text):
            if family.name in self.families:
                raise AssertionError(f"family {family.name} appears twice (samples split)")
            if family.type == "untyped":  # a sample outside its family's TYPE
                raise AssertionError(f"untyped family {family.name}")
            self.families[family.name] = family
            for s in family.samples:
                self.samples[(s.name, frozenset(s.labels.items()))] = s.value

    def value(self, name, **labels):
        return self.samples[(name, frozenset(labels.items()))]


def is_number(v):
    try:
        float(v)
        return True
    except ValueError:
        return False


class MetricsTest(unittest.TestCase):
    server = None
    metrics_port = None

    @classmethod
    def setUpClass(cls):
        cls.metrics_port = free_port()
        cls.server = base.ServerProcess("metrics", ["--metrics-port", str(cls.metrics_port)])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop_or_fail()

    def client(self):
        return base.make_client(self.server)

    def test_every_stat_has_its_series(self):
        c = self.client()
        for i in range(20):
            c.set(f"series:{i}", b"x" * (100 + 300 * (i % 4)))
        c.get("series:1")
        c.close()
        page = Scrape(self.metrics_port)
        self.assertTrue(page.content_type.startswith("text/plain; version=0.0.4"))
        f = page.families
        # Values that the `stats` connection itself does not move.
        stable = {"cmd_get", "cmd_set", "get_hits", "get_misses", "curr_items", "total_items",
                  "bytes", "limit_maxbytes", "max_connections", "disk_slabs_total",
                  "index_capacity", "version"}
        for name, value in stats_text(self.server).items():
            if not is_number(value):
                self.assertIn(f"ssdcached_{name}_info", f, name)
                self.assertEqual(page.value(f"ssdcached_{name}_info", **{name: value}), 1)
                continue
            self.assertIn(f"ssdcached_{name}", f, name)
            family = f[f"ssdcached_{name}"]
            sample = f"ssdcached_{name}_total" if family.type == "counter" else family.name
            if name in stable:
                self.assertEqual(page.value(sample), float(value), name)
        for group, prefix in (("slabs", "ssdcached_slab_"), ("items", "ssdcached_items_")):
            for name, value in stats_text(self.server, group).items():
                parts = name.split(":")
                if len(parts) == 1:
                    self.assertIn(f"ssdcached_{name}", f, name)
                    continue
                cls, field = parts[-2], parts[-1]
                self.assertIn(prefix + field, f, name)
                family = f[prefix + field]
                sample = family.name + ("_total" if family.type == "counter" else "")
                if field not in ("age", "age_hot"):
                    self.assertEqual(page.value(sample, slab=cls), float(value), name)
        info = f["ssdcached_settings_info"].samples[0].labels
        for name, value in stats_text(self.server, "settings").items():
            if is_number(value):
                self.assertEqual(page.value(f"ssdcached_setting_{name}"), float(value), name)
            else:
                self.assertEqual(info.get(name), value, name)
        self.assertEqual(page.value("ssdcached_setting_metrics_port"), self.metrics_port)
        self.assertEqual(info["metrics_addr"], "127.0.0.1")

    def test_types(self):
        f = Scrape(self.metrics_port).families
        for counter in ("ssdcached_cmd_get", "ssdcached_get_hits", "ssdcached_bytes_read",
                        "ssdcached_total_connections", "ssdcached_slab_writes"):
            self.assertEqual(f[counter].type, "counter", counter)
        for gauge in ("ssdcached_curr_items", "ssdcached_curr_connections",
                      "ssdcached_disk_slabs_used", "ssdcached_reads_in_flight_max"):
            self.assertEqual(f[gauge].type, "gauge", gauge)
        for hist in ("ssdcached_request_latency_seconds", "ssdcached_device_latency_seconds"):
            self.assertEqual(f[hist].type, "histogram")

    def test_values_move_after_sets_and_gets(self):
        before = Scrape(self.metrics_port)
        c = self.client()
        for i in range(50):
            self.assertTrue(c.set(f"move:{i}", b"v" * 500))
        for i in range(30):
            self.assertEqual(c.get(f"move:{i}"), b"v" * 500)
        for i in range(7):
            self.assertIsNone(c.get(f"absent:{i}"))
        c.close()
        after = Scrape(self.metrics_port)

        def delta(name, **labels):
            return after.value(name, **labels) - before.value(name, **labels)

        self.assertEqual(delta("ssdcached_cmd_set_total"), 50)
        self.assertEqual(delta("ssdcached_get_hits_total"), 30)
        self.assertEqual(delta("ssdcached_get_misses_total"), 7)
        self.assertEqual(delta("ssdcached_curr_items"), 50)
        self.assertGreater(delta("ssdcached_bytes_read_total"), 50 * 500)
        lat = "ssdcached_request_latency_seconds"
        self.assertEqual(delta(lat + "_count", request="set"), 50)
        self.assertEqual(delta(lat + "_count", request="get"), 37)
        self.assertGreater(delta(lat + "_sum", request="set"), 0)
        # Buckets are cumulative, end at +Inf = count, and their bounds increase.
        buckets = [(float(s.labels["le"]), s.value) for s in after.families[lat].samples
                   if s.name == lat + "_bucket" and s.labels["request"] == "set"]
        self.assertEqual(buckets, sorted(buckets))
        self.assertEqual(buckets[-1], (float("inf"), after.value(lat + "_count", request="set")))
        # The class of a 500-byte item counts the sets.
        slab_sets = sum(v for (name, labels), v in after.samples.items()
                        if name == "ssdcached_slab_cmd_set_total") - sum(
            v for (name, labels), v in before.samples.items()
            if name == "ssdcached_slab_cmd_set_total")
        self.assertEqual(slab_sets, 50)

    def test_bad_requests(self):
        port = self.metrics_port
        self.assertEqual(http_get(port, "/nothing")[0], 404)
        self.assertEqual(http_get(port, "/")[0], 404)
        self.assertEqual(http_get(port, "/metrics", method="POST")[0], 405)
        status, headers, body = http_get(port, "/metrics", method="HEAD")
        self.assertEqual((status, body), (200, b""))
        self.assertGreater(int(headers["Content-Length"]), 1000)
        self.assertEqual(http_get(port, "/metrics?x=1")[0], 200)
        for garbage in (b"hello\r\n\r\n", b"GET\r\n\r\n", b"GET /metrics SPDY/3\r\n\r\n",
                        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\0" * 200 + b"\n\n",
                        b"GET /" + b"a" * 9000):
            reply = raw_exchange(port, garbage)
            self.assertTrue(reply.startswith(b"HTTP/1.1 400 "), (garbage[:20], reply[:60]))
        # Still serving both ports.
        self.assertEqual(http_get(port)[0], 200)
        c = self.client()
        self.assertTrue(c.set("after-garbage", b"1"))
        c.close()

    def test_slow_clients_block_nobody(self):
        port = self.metrics_port
        slow = []
        for _ in range(5):
            s = socket.create_connection((base.HOST, port), timeout=10)
            s.sendall(b"GET /met")  # never finished
            slow.append(s)
        # One that asks but never reads its reply.
        lazy = socket.create_connection((base.HOST, port), timeout=10)
        lazy.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        lazy.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        slow.append(lazy)
        try:
            start = time.monotonic()
            for _ in range(5):
                self.assertEqual(http_get(port)[0], 200)
                c = self.client()
                self.assertTrue(c.set("slow", b"1"))
                self.assertEqual(c.get("slow"), b"1")
                c.close()
            self.assertLess(time.monotonic() - start, 5)
        finally:
            for s in slow:
                s.close()


class OptionsTest(unittest.TestCase):
    def test_off_by_default_and_in_settings(self):
        s = base.ServerProcess("nometrics")
        try:
            settings = stats_text(s, "settings")
            self.assertEqual(settings["metrics_port"], "0")
            self.assertEqual(settings["metrics_addr"], "127.0.0.1")
        finally:
            self.assertEqual(s.stop(), 0)

    def test_bad_values_refused(self):
        for args, word in ((["--metrics-port", "70000"], "--metrics-port"),
                           (["--metrics-port", "1", "--metrics-addr", "[::1"], "--metrics-addr")):
            r = subprocess.run([base.SERVER_BIN, *args], capture_output=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(word.encode(), r.stderr)
        r = subprocess.run([base.SERVER_BIN, "--help"], capture_output=True, timeout=30)
        self.assertIn(b"--metrics-port", r.stdout)
        self.assertIn(b"--metrics-addr", r.stdout)


def main():
    return base.run_cases((MetricsTest, OptionsTest))


if __name__ == "__main__":
    sys.exit(main())
