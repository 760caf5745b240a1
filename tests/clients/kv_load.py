#!/usr/bin/python3
"""Writes or reads numbered keys through a memcached endpoint (here: nutcracker) with pymemcache,
retrying each operation a bounded number of times. Used by test_twemproxy.sh.

    kv_load.py set PORT PREFIX COUNT [--attempts A] [--sleep S]
    kv_load.py get PORT PREFIX COUNT [--attempts A] [--sleep S] [--expect-all]

Key i is PREFIX:i and its value is derived from the key (sizes 20..1000 bytes), so a read checks
the bytes. `set` exits 1 if a key could not be stored within A attempts. `get` prints
"found F of N" and exits 1 if a value was wrong, a read failed A times, or (with --expect-all)
a key was missing. Both print how many retries they needed. Everything goes to 127.0.0.1 only.
"""

import argparse
import socket
import sys
import time

from pymemcache import exceptions as pmc_exc
from pymemcache.client.base import Client

RETRYABLE = (pmc_exc.MemcacheServerError, pmc_exc.MemcacheUnexpectedCloseError,
             pmc_exc.MemcacheUnknownError, socket.timeout, ConnectionError, OSError)


def key_of(prefix, i):
    return f"{prefix}:{i}".encode()


def value_of(key, i):
    body = b"v(" + key + b")"
    size = 20 + (i % 50) * 20
    return (body * (size // len(body) + 1))[:size]


def attempt(client, op, attempts, pause, stats):
    last = None
    for n in range(attempts):
        try:
            return op()
        except RETRYABLE as e:  # nutcracker answers SERVER_ERROR for a dead backend
            last = e
            stats["retries"] += 1
            client.close()
            if n + 1 < attempts:
                time.sleep(pause)
    raise RuntimeError(f"gave up after {attempts} attempts: {type(last).__name__}: {last}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=("set", "get"))
    p.add_argument("port", type=int)
    p.add_argument("prefix")
    p.add_argument("count", type=int)
    p.add_argument("--attempts", type=int, default=1)
    p.add_argument("--sleep", type=float, default=0.1)
    p.add_argument("--expect-all", action="store_true")
    a = p.parse_args()

    client = Client(("127.0.0.1", a.port), default_noreply=False, connect_timeout=5, timeout=10)
    stats = {"retries": 0}
    try:
        if a.mode == "set":
            for i in range(a.count):
                k = key_of(a.prefix, i)
                v = value_of(k, i)
                try:
                    ok = attempt(client, lambda: client.set(k, v), a.attempts, a.sleep, stats)
                except RuntimeError as e:
                    print(f"set {k.decode()}: {e}", file=sys.stderr)
                    return 1
                if ok is not True:
                    print(f"set {k.decode()}: not stored ({ok!r})", file=sys.stderr)
                    return 1
            print(f"stored {a.count} retries {stats['retries']}")
            return 0

        found = wrong = 0
        for start in range(0, a.count, 100):
            idx = range(start, min(start + 100, a.count))
            keys = [key_of(a.prefix, i) for i in idx]
            try:
                got = attempt(client, lambda: client.get_many(keys), a.attempts, a.sleep, stats)
            except RuntimeError as e:
                print(f"get_many {keys[0].decode()}..: {e}", file=sys.stderr)
                return 1
            for i, k in zip(idx, keys):
                if k in got:
                    found += 1
                    if got[k] != value_of(k, i):
                        wrong += 1
                        print(f"wrong value for {k.decode()}", file=sys.stderr)
        print(f"found {found} of {a.count} retries {stats['retries']}")
        if wrong or (a.expect_all and found != a.count):
            return 1
        return 0
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
