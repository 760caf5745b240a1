#!/usr/bin/python3
"""TLS (-Z) with clients nobody here wrote: pymemcache's tls_context, openssl s_client, Python's
ssl module for pipelining, and Debian's memcached -Z as the oracle.

Run with Debian's /usr/bin/python3 (python3-pymemcache, openssl):

    /usr/bin/python3 tests/clients/test_tls.py [path/to/ssdcached]

Every certificate is made at test time (`openssl req`, a throwaway self-signed one for
127.0.0.1) in a fresh directory under /var/tmp. Servers are started as in test_pymemcache.py (its
ServerProcess; memcached on a free port). The last line is "N passed, M failed".
"""

import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest

import test_pymemcache as base

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
MEMCACHED = "/usr/bin/memcached"


def make_cert(directory, name):
    """A self-signed certificate and its key for 127.0.0.1: (cert_path, key_path)."""
    cert = os.path.join(directory, f"{name}.crt")
    key = os.path.join(directory, f"{name}.key")
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", f"/CN={name}", "-addext",
                    "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
    return cert, key


def tls_context(cafile):
    """Verifies the server against `cafile`; None: no verification."""
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False  # the certificate names 127.0.0.1; verification stays on
    if cafile is None:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tls_connect(port, cafile):
    raw = socket.create_connection((base.HOST, port), timeout=15)
    return tls_context(cafile).wrap_socket(raw)


def read_until(sock, terminator, limit=64 << 20):
    data = b""
    while not data.endswith(terminator):
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        data += chunk
        if len(data) > limit:
            break
    return data


def exchange(sock, request, terminator):
    sock.sendall(request)
    return read_until(sock, terminator)


def free_port():
    with socket.socket() as s:
        s.bind((base.HOST, 0))
        return s.getsockname()[1]


class MemcachedProcess:
    """Debian's memcached -Z on a free port (the TLS oracle)."""

    def __init__(self, cert, key):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [MEMCACHED, "-U", "0", "-l", base.HOST, "-p", str(self.port), "-m", "64", "-Z", "-o",
             f"ssl_chain_cert={cert},ssl_key={key}"] + (["-u", "root"] if os.getuid() == 0 else []),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection((base.HOST, self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("memcached -Z did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


class TlsTest(unittest.TestCase):
    server = None

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ssdc-tls-", dir="/var/tmp")
        base._tmpdirs.append(cls.dir)
        # The files the server reads; refresh_certs tests replace their content.
        cls.cert, cls.key = make_cert(cls.dir, "server")
        cls.plain_port = free_port()  # memcached's notls: listener
        cls.server = base.ServerProcess(
            "tls", ["-Z", "-o", f"ssl_chain_cert={cls.cert},ssl_key={cls.key}", "-l",
                    f"notls:{base.HOST}:{cls.plain_port}"])

    @classmethod
    def tearDownClass(cls):
        cls.server.stop_or_fail()

    def client(self):
        from pymemcache.client.base import Client
        return Client(self.server.address, tls_context=tls_context(self.cert), connect_timeout=5,
                      timeout=15, default_noreply=False)

    def stats(self, group=""):
        with tls_connect(self.server.port, self.cert) as s:
            text = exchange(s, f"stats {group}".strip().encode() + b"\r\n", b"END\r\n").decode()
        return dict(line.split(" ", 2)[1:] for line in text.split("\r\n")
                    if line.startswith("STAT "))

    def test_pymemcache_commands(self):
        c = self.client()
        self.assertTrue(c.set("k", b"v1"))
        self.assertEqual(c.get("k"), b"v1")
        self.assertTrue(c.set_many({f"m{i}": str(i).encode() for i in range(100)}) == [])
        got = c.get_many([f"m{i}" for i in range(100)])
        self.assertEqual(got, {f"m{i}": str(i).encode() for i in range(100)})
        self.assertTrue(c.delete("m1"))
        self.assertIsNone(c.get("m1"))
        self.assertTrue(c.set("n", b"41"))
        self.assertEqual(c.incr("n", 1), 42)
        self.assertEqual(c.decr("n", 2), 40)
        value, cas = c.gets("k")
        self.assertTrue(c.cas("k", b"v2", cas))
        self.assertFalse(c.cas("k", b"v3", cas))
        self.assertTrue(c.touch("k", 100))
        self.assertEqual(c.get("k"), b"v2")
        big = os.urandom(900 * 1024)  # many TLS records per value
        self.assertTrue(c.set("big", big))
        self.assertEqual(c.get("big"), big)
        c.close()

    def test_openssl_s_client(self):
        script = b"set sc 0 0 5\r\nhello\r\nget sc\r\nversion\r\nquit\r\n"
        r = subprocess.run([OPENSSL, "s_client", "-connect", f"{base.HOST}:{self.server.port}",
                            "-quiet", "-verify_return_error", "-CAfile", self.cert],
                           input=script, capture_output=True, timeout=30)
        self.assertIn(b"STORED\r\nVALUE sc 0 5\r\nhello\r\nEND\r\nVERSION ", r.stdout,
                      r.stderr[-2000:])

    def test_pipelined_small_and_large(self):
        with tls_connect(self.server.port, self.cert) as s:
            n = 3000
            request = b"".join(b"set p%d 0 0 %d\r\n%d\r\nget p%d\r\n" % (i, len(str(i)), i, i)
                               for i in range(n))
            reply = exchange(s, request, b"p%d 0 %d\r\n%d\r\nEND\r\n" % (n - 1, len(str(n - 1)),
                                                                     n - 1))
            expected = b"".join(b"STORED\r\nVALUE p%d 0 %d\r\n%d\r\nEND\r\n" % (i, len(str(i)), i)
                                for i in range(n))
            self.assertEqual(reply, expected)
            values = [os.urandom(100_000 + i * 7919) for i in range(8)]
            request = b"".join(b"set L%d 0 0 %d\r\n" % (i, len(v)) + v + b"\r\n"
                               for i, v in enumerate(values))
            self.assertEqual(exchange(s, request, b"STORED\r\n" * 8), b"STORED\r\n" * 8)
            keys = b" ".join(b"L%d" % i for i in range(8))
            reply = exchange(s, b"get " + keys + b"\r\n", b"\r\nEND\r\n")
            expected = b"".join(b"VALUE L%d 0 %d\r\n" % (i, len(v)) + v + b"\r\n"
                                for i, v in enumerate(values)) + b"END\r\n"
            self.assertEqual(reply, expected)

    def test_garbage_instead_of_a_handshake(self):
        before = int(self.stats()["ssl_handshake_errors"])
        for garbage in (b"get k\r\n", b"GET / HTTP/1.1\r\n\r\n", b"\0" + os.urandom(4095),
                        b"\x16\x03\x01\x02\x00" + os.urandom(512)):
            with socket.create_connection(self.server.address, timeout=15) as raw:
                try:
                    raw.sendall(garbage)
                    raw.shutdown(socket.SHUT_WR)
                    while raw.recv(65536):
                        pass  # a TLS alert at most; then the server closes
                except OSError:
                    pass  # closed already (reset, not connected)
        # A plain client of a TLS port learns nothing and the server goes on.
        stats = self.stats()
        self.assertGreaterEqual(int(stats["ssl_handshake_errors"]), before + 4)
        c = self.client()
        self.assertTrue(c.set("after-garbage", b"ok"))
        self.assertEqual(c.get("after-garbage"), b"ok")
        c.close()

    def test_notls_listener_stays_plain(self):
        with socket.create_connection((base.HOST, self.plain_port), timeout=15) as s:
            self.assertEqual(exchange(s, b"set plain 0 0 1\r\nx\r\nget plain\r\n", b"END\r\n"),
                             b"STORED\r\nVALUE plain 0 1\r\nx\r\nEND\r\n")
        with tls_connect(self.server.port, self.cert) as s:
            self.assertEqual(exchange(s, b"get plain\r\n", b"END\r\n"),
                             b"VALUE plain 0 1\r\nx\r\nEND\r\n")

    def test_stats_settings_say_tls(self):
        settings = self.stats("settings")
        self.assertEqual(settings["ssl_enabled"], "yes")
        self.assertEqual(settings["ssl_chain_cert"], self.cert)
        self.assertEqual(settings["ssl_key"], self.key)
        self.assertEqual(settings["ssl_min_version"], "tlsv1.2")
        self.assertEqual(settings["ssl_verify_mode"], "0")
        self.assertIn("time_since_server_cert_refresh", self.stats())

    def test_refresh_certs(self):
        def peer_cert():
            with tls_connect(self.server.port, self.cert) as s:
                return s.getpeercert(binary_form=True)

        first = peer_cert()
        saved = {p: open(p, "rb").read() for p in (self.cert, self.key)}
        try:
            new_cert, new_key = make_cert(self.dir, "renewed")
            shutil.copy(new_key, self.key)
            shutil.copy(new_cert, self.cert)  # the client trusts the new one from here on
            with tls_connect(self.server.port, saved_ca(self.dir, saved[self.cert])) as s:
                self.assertEqual(exchange(s, b"refresh_certs\r\n", b"\r\n"), b"OK\r\n")
            second = peer_cert()
            self.assertNotEqual(first, second)
            # A broken file: the error, and the certificate in use stays.
            with open(self.cert, "wb") as f:
                f.write(b"not a certificate\n")
            with tls_connect(self.server.port, new_cert) as s:
                reply = exchange(s, b"refresh_certs\r\n", b"\r\n")
            self.assertTrue(reply.startswith(b"Error loading the certificate chain: "), reply)
            with tls_connect(self.server.port, new_cert) as s:
                self.assertEqual(s.getpeercert(binary_form=True), second)
                self.assertEqual(exchange(s, b"version\r\n", b"\r\n")[:8], b"VERSION ")
        finally:
            for path, data in saved.items():
                with open(path, "wb") as f:
                    f.write(data)
            with tls_connect(self.server.port, None) as s:  # whichever certificate it serves
                self.assertEqual(exchange(s, b"refresh_certs\r\n", b"\r\n"), b"OK\r\n")

    def test_same_replies_as_memcached(self):
        script = [b"set d 5 0 3\r\nabc\r\n", b"get d\r\n", b"append d 0 0 2\r\nde\r\n",
                  b"get d\r\n", b"incr d 1\r\n", b"set n 0 0 2\r\n10\r\n", b"incr n 5\r\n",
                  b"decr n 20\r\n", b"touch n 10\r\n", b"delete n\r\n", b"delete n\r\n",
                  b"get n d\r\n", b"bogus\r\n", b"refresh_certs\r\n"]
        oracle = MemcachedProcess(self.cert, self.key)
        try:
            replies = []
            for port in (self.server.port, oracle.port):
                with tls_connect(port, self.cert) as s:
                    got = []
                    for line in script:
                        s.sendall(line + b"mn\r\n")  # mn marks the end of each reply
                        got.append(read_until(s, b"MN\r\n"))
                    for group, names in ((b"settings", ("STAT ssl_",)),
                                         (b"", ("STAT ssl_handshake_errors ",
                                                "STAT time_since_server_cert_refresh "))):
                        s.sendall(b"stats " + group + b"\r\n")
                        text = read_until(s, b"END\r\n").decode()
                        # Settings by name and value; the general stats by name.
                        got.append(sorted(line if group else line.split(" ")[1]
                                          for line in text.split("\r\n")
                                          if line.startswith(names)))
                    replies.append(got)
            ours, theirs = replies
            self.assertEqual(ours, theirs)
        finally:
            oracle.stop()


def saved_ca(directory, cert_bytes):
    path = os.path.join(directory, "old-ca.crt")
    with open(path, "wb") as f:
        f.write(cert_bytes)
    return path


class StartupTest(unittest.TestCase):
    def run_server(self, *args):
        d = tempfile.mkdtemp(prefix="ssdc-tls-start-", dir="/var/tmp")
        base._tmpdirs.append(d)
        return subprocess.run([base.SERVER_BIN, "-p", "0", "-D", os.path.join(d, "dev.dat"),
                               "--device-size", "64M", "-m", "8", *args], capture_output=True,
                              timeout=30)

    def test_missing_or_bad_certificates_refused(self):
        r = self.run_server("-Z")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(b"certificate chain", r.stderr)
        r = self.run_server("-Z", "-o", "ssl_chain_cert=/nonexistent.pem")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(b"Error loading the certificate chain: /nonexistent.pem", r.stderr)

    def test_daemon_reads_relative_certificate_paths(self):
        # -d changes to / after making relative paths absolute: the certificate files too.
        d = tempfile.mkdtemp(prefix="ssdc-tls-daemon-", dir="/var/tmp")
        base._tmpdirs.append(d)
        make_cert(d, "server")
        r = subprocess.run([base.SERVER_BIN, "-d", "-p", "0", "-l", base.HOST, "-D", "dev.dat",
                            "--device-size", "64M", "-m", "8", "-P", "ssd.pid", "-o", "ssd.log",
                            "-Z", "-o", "ssl_chain_cert=server.crt,ssl_key=server.key"],
                           cwd=d, capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        pid = int(open(os.path.join(d, "ssd.pid")).read())
        try:
            deadline = time.monotonic() + 15
            port = None
            while port is None and time.monotonic() < deadline:
                m = re.search(r"listening on 127\.0\.0\.1:(\d+)",
                              open(os.path.join(d, "ssd.log")).read())
                port = int(m.group(1)) if m else time.sleep(0.05)
            self.assertIsNotNone(port)
            with tls_connect(port, os.path.join(d, "server.crt")) as c:
                self.assertEqual(exchange(c, b"set k 0 0 1\r\nv\r\n", b"\r\n"), b"STORED\r\n")
                self.assertEqual(exchange(c, b"refresh_certs\r\n", b"\r\n"), b"OK\r\n")
        finally:
            os.kill(pid, signal.SIGTERM)
            for _ in range(1000):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.01)

    def test_refresh_certs_without_tls(self):
        s = base.ServerProcess("notls")
        try:
            with socket.create_connection(s.address, timeout=10) as c:
                self.assertEqual(exchange(c, b"refresh_certs\r\n", b"\r\n"),
                                 b"Error TLS not enabled\r\n")
                self.assertEqual(exchange(c, b"stats settings\r\n", b"END\r\n").count(
                    b"STAT ssl_enabled no\r\n"), 1)
        finally:
            self.assertEqual(s.stop(), 0)


def main():
    return base.run_cases((TlsTest, StartupTest))


if __name__ == "__main__":
    sys.exit(main())
