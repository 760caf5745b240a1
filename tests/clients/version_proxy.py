#!/usr/bin/python3
"""A loopback TCP proxy that passes every byte through, except that it rewrites the server's
"VERSION 0.x.y" reply to "VERSION 1.6.0".

Why: libmemcached 1.1 (memcstat, memcdump) refuses a major version of 0 ("strtol() failed to parse
major version") and memccapable takes "version < 1.6" as an old memcached and then expects the
pre-1.6 replies to "version foo bar" and "quit foo bar". ssdcached 0.1.0 answers like memcached
1.6 does; this proxy lets those tools check everything else while the version number is an open
issue (see tests/clients/test_libmemcached_tools.sh).

Usage: version_proxy.py TARGET_PORT PORT_FILE [LIFETIME_SECONDS]
Listens on 127.0.0.1 on a port the kernel picks, writes that port to PORT_FILE, and exits after
LIFETIME_SECONDS (default 300) at the latest.
"""

import os
import re
import socket
import sys
import threading
import time

HOST = "127.0.0.1"
VERSION_RE = re.compile(rb"VERSION 0\.[0-9]+\.[0-9]+[^\r\n]*\r\n")
LONGEST_VERSION_LINE = 64


def pump(src, dst, rewrite):
    carry = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if rewrite:
                data = VERSION_RE.sub(b"VERSION 1.6.0\r\n", carry + data)
                # Keep back a tail that may be the start of a VERSION line split over two reads.
                cut = data.rfind(b"VERSION ", max(0, len(data) - LONGEST_VERSION_LINE))
                if cut >= 0 and b"\n" not in data[cut:]:
                    data, carry = data[:cut], data[cut:]
                else:
                    carry = b""
            dst.sendall(data)
        if carry:
            dst.sendall(carry)
    except OSError:
        pass
    finally:
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass


def serve(client, target_port):
    try:
        upstream = socket.create_connection((HOST, target_port), timeout=10)
        upstream.settimeout(None)
    except OSError:
        client.close()
        return
    threads = [threading.Thread(target=pump, args=(client, upstream, False), daemon=True),
               threading.Thread(target=pump, args=(upstream, client, True), daemon=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    upstream.close()


def main():
    target_port = int(sys.argv[1])
    port_file = sys.argv[2]
    lifetime = float(sys.argv[3]) if len(sys.argv) > 3 else 300.0
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, 0))
    listener.listen(64)
    listener.settimeout(0.5)
    with open(port_file + ".tmp", "w") as f:
        f.write(f"{listener.getsockname()[1]}\n")
    os.replace(port_file + ".tmp", port_file)
    deadline = time.monotonic() + lifetime
    while time.monotonic() < deadline:
        try:
            client, _ = listener.accept()
        except socket.timeout:
            continue
        client.settimeout(None)
        threading.Thread(target=serve, args=(client, target_port), daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
