#!/usr/bin/env python3
"""Helpers for the benchmark scenarios (standard library only).

  snapshot --port P --pid PID --out FILE     server `stats` + /proc (RSS, CPU, IO) as JSON
  sample --port P --seconds S --out FILE     gauges once a second until SIGTERM (or S seconds)
  record --out RESULTS ... key=value ...     one JSON line from a load run and its snapshots
  fio --out RESULTS ... --fio-json FILE      one JSON line from a fio run
  note --out RESULTS ... key=value ...       one JSON line of plain values
  stat --port P --name NAME                  prints one `stats` value ("" when absent)
  machine --out FILE --repo DIR --tmp DIR    the machine, the date and the commit
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

# Gauges sampled during a run (the ones a server has; the others are skipped).
SAMPLED = [
    "aio_in_flight", "aio_queued", "memory_slabs_free", "memory_slabs_flushing",
    "curr_connections", "extstore_io_queue",
]


def server_stats(port, arg="", timeout=5.0):
    """Returns the `stats [arg]` reply as a dict (numbers converted), {} if unreachable."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(("stats %s\r\n" % arg if arg else "stats\r\n").encode())
            buf = b""
            deadline = time.monotonic() + timeout
            while not buf.endswith(b"END\r\n") and time.monotonic() < deadline:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except OSError:
        return {}
    out = {}
    for line in buf.decode(errors="replace").split("\r\n"):
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            out[parts[1]] = to_number(parts[2])
    return out


def to_number(text):
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def proc_info(pid):
    info = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:", "VmSize:", "Threads:")):
                    k, v = line.split(":", 1)
                    info[k] = int(v.split()[0])
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
            # utime and stime are fields 14 and 15 (1-based) of the whole line.
            info["cpu_s"] = (int(fields[11]) + int(fields[12])) / CLK_TCK
        with open("/proc/%d/io" % pid) as f:
            for line in f:
                k, v = line.split(":", 1)
                info["io_" + k.strip()] = int(v)
    except (OSError, ValueError, IndexError):
        pass
    return info


def cmd_snapshot(a):
    snap = {"time": time.time(), "stats": server_stats(a.port), "proc": proc_info(a.pid)}
    if a.slabs:
        snap["slabs"] = server_stats(a.port, "slabs")
    with open(a.out, "w") as f:
        json.dump(snap, f)


def cmd_stat(a):
    print(server_stats(a.port).get(a.name, ""))


def cmd_sample(a):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    samples = []
    deadline = time.monotonic() + a.seconds
    while not stop and time.monotonic() < deadline:
        st = server_stats(a.port, timeout=2.0)
        samples.append({k: st[k] for k in SAMPLED if k in st})
        for _ in range(10):  # 1 s in slices, so SIGTERM is answered quickly
            if stop:
                break
            time.sleep(0.1)
    with open(a.out, "w") as f:
        json.dump(samples, f)


def parse_kv(items):
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = to_number(v)
    return out


def load_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def append(path, rec):
    with open(path, "a") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")


def cmd_record(a):
    bench = load_json(a.bench, {})
    before = load_json(a.before, {})
    after = load_json(a.after, {})
    samples = load_json(a.samples, []) or []
    rec = {"scenario": a.scenario, "label": a.label, "server": a.server, "rc": a.rc}
    rec.update(parse_kv(a.kv))
    lat = bench.get("latency_us", {})
    rec.update({
        "ops_per_s": bench.get("ops_per_s", 0.0),
        "duration_s": bench.get("duration_s", 0.0),
        "total_ops": bench.get("total_ops", 0),
        "gets": bench.get("gets", 0), "hits": bench.get("hits", 0),
        "hit_ratio": bench.get("hit_ratio", 0.0),
        "sets": bench.get("sets", 0), "stored": bench.get("stored", 0),
        "errors": bench.get("errors", {}).get("total", 0),
        "aborted": bench.get("errors", {}).get("aborted", 0),
        "p50_us": lat.get("p50", 0), "p99_us": lat.get("p99", 0), "p999_us": lat.get("p999", 0),
        "mean_us": lat.get("mean", 0.0), "max_us": lat.get("max", 0),
        "preload": bench.get("preload"),
    })
    b, e = before.get("stats", {}), after.get("stats", {})
    rec["stats_delta"] = {k: e[k] - b[k] for k in e
                          if isinstance(e[k], (int, float)) and isinstance(b.get(k), (int, float))}
    rec["stats_after"] = e
    pb, pe = before.get("proc", {}), after.get("proc", {})
    wall = after.get("time", 0) - before.get("time", 0)
    rec["wall_s"] = wall
    if "cpu_s" in pb and "cpu_s" in pe:
        rec["server_cpu_s"] = pe["cpu_s"] - pb["cpu_s"]
        rec["server_cpu_util"] = rec["server_cpu_s"] / wall if wall > 0 else 0.0
    for k in ("io_read_bytes", "io_write_bytes"):
        if k in pb and k in pe:
            rec[k] = pe[k] - pb[k]
    rec["rss_kb"] = pe.get("VmRSS", 0)
    client = load_json(a.bench.replace(".json", ".time.json"), {}) or {}
    if client.get("wall_s"):
        rec["client_cpu_util"] = client["cpu_s"] / client["wall_s"]
    for k in SAMPLED:
        vals = [s[k] for s in samples if isinstance(s.get(k), (int, float))]
        if vals:
            rec["mean_" + k] = sum(vals) / len(vals)
            rec["max_" + k] = max(vals)
    append(a.out, rec)


def cmd_fio(a):
    fio = load_json(a.fio_json, {}) or {}
    rec = {"scenario": a.scenario, "label": a.label, "server": "fio", "rc": a.rc}
    rec.update(parse_kv(a.kv))
    jobs = fio.get("jobs", [])
    if jobs:
        j = jobs[0]
        side = j["read"] if j["read"].get("io_bytes", 0) > 0 else j["write"]
        pct = side.get("clat_ns", {}).get("percentile", {})
        rec.update({
            "ops_per_s": side.get("iops", 0.0),
            "bw_bytes_per_s": side.get("bw_bytes", 0),
            "duration_s": side.get("runtime", 0) / 1000.0,
            "total_ops": side.get("total_ios", 0),
            "p50_us": pct.get("50.000000", 0) / 1000.0,
            "p99_us": pct.get("99.000000", 0) / 1000.0,
            "p999_us": pct.get("99.900000", 0) / 1000.0,
            "mean_us": side.get("clat_ns", {}).get("mean", 0.0) / 1000.0,
            "fio_cpu_usr": j.get("usr_cpu", 0.0), "fio_cpu_sys": j.get("sys_cpu", 0.0),
        })
        rec["server_cpu_util"] = (rec["fio_cpu_usr"] + rec["fio_cpu_sys"]) / 100.0
    append(a.out, rec)


def cmd_note(a):
    rec = {"scenario": a.scenario, "label": a.label, "server": a.server}
    rec.update(parse_kv(a.kv))
    if a.json_file:
        rec["data"] = load_json(a.json_file, {})
    append(a.out, rec)


def run(cmd, strip=True):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout
        return out.strip() if strip else out
    except (OSError, subprocess.SubprocessError):
        return ""


def cmd_getall(a):
    """Gets every key prefix + id (0..count-1, zero-padded as ssdcache-bench writes them) once,
    in pipelined multi-gets, and prints "hits misses wrong_size"."""
    width = len(str(max(a.count - 1, 0)))
    hits = misses = wrong = 0
    with socket.create_connection(("127.0.0.1", a.port), timeout=30) as sock:
        f = sock.makefile("rb")
        batch, depth = 100, 8
        ids = list(range(a.count))
        chunks = [ids[i:i + batch] for i in range(0, len(ids), batch)]
        for i in range(len(chunks) + depth):
            if i < len(chunks):
                keys = " ".join("%s%0*d" % (a.prefix, width, k) for k in chunks[i])
                sock.sendall(("get %s\r\n" % keys).encode())
            if i < depth:
                continue
            want = len(chunks[i - depth])
            got = 0
            while True:
                line = f.readline()
                if not line or line == b"END\r\n":
                    break
                size = int(line.split()[3])
                f.read(size + 2)
                got += 1
                if a.size and size != a.size:
                    wrong += 1
            hits += got
            misses += want - got
    print(hits, misses, wrong)


def cmd_time(a):
    """Runs a command and writes its wall and CPU time (the load tool's CPU share)."""
    import resource
    cmd = a.argv[1:] if a.argv and a.argv[0] == "--" else a.argv
    t0 = time.monotonic()
    try:
        rc = subprocess.call(cmd)
    except OSError:
        rc = 127
    wall = time.monotonic() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(a.out, "w") as f:
        json.dump({"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime, "rc": rc}, f)
    return rc


def cmd_machine(a):
    mem_kb = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    dirty = run(["git", "-C", a.repo, "status", "--porcelain", "--", "src", "tools/bench",
                 "CMakeLists.txt"], strip=False)
    m = {
        "date_utc": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "mem_gib": round(mem_kb / 1048576, 1),
        "kernel": run(["uname", "-r"]),
        "loadavg_at_start": open("/proc/loadavg").read().split()[:3],
        "df": run(["df", "-hT", a.tmp]),
        "lsblk": run(["lsblk", "-d", "-o", "NAME,SIZE,ROTA,TYPE,MODEL"]),
        "commit": run(["git", "-C", a.repo, "rev-parse", "--short=12", "HEAD"]),
        "commit_subject": run(["git", "-C", a.repo, "log", "-1", "--format=%s"]),
        "worktree_dirty": [l[3:] for l in dirty.splitlines() if len(l) > 3],
        "memcached": run(["memcached", "-V"]),
        "fio": run(["fio", "--version"]),
        "aio_max_nr": open("/proc/sys/fs/aio-max-nr").read().strip(),
        "quick": os.environ.get("BENCH_QUICK", "0") == "1",
        "pin": os.environ.get("BENCH_PIN", "1") == "1",
    }
    with open(a.out, "w") as f:
        json.dump(m, f, indent=1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("snapshot")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--slabs", action="store_true")
    s = sub.add_parser("stat")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--name", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--out", required=True)
    for name in ("record", "fio", "note"):
        s = sub.add_parser(name)
        s.add_argument("--out", required=True)
        s.add_argument("--scenario", required=True)
        s.add_argument("--label", required=True)
        s.add_argument("--server", default="")
        s.add_argument("--rc", type=int, default=0)
        if name == "record":
            for f in ("bench", "before", "after", "samples"):
                s.add_argument("--" + f, required=True)
        if name == "fio":
            s.add_argument("--fio-json", required=True)
        if name == "note":
            s.add_argument("--json-file")
        s.add_argument("kv", nargs="*")
    s = sub.add_parser("getall")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--prefix", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--size", type=int, default=0)
    s = sub.add_parser("time")
    s.add_argument("--out", required=True)
    s.add_argument("argv", nargs=argparse.REMAINDER)
    s = sub.add_parser("machine")
    s.add_argument("--out", required=True)
    s.add_argument("--repo", required=True)
    s.add_argument("--tmp", required=True)
    a = p.parse_args()
    return {"snapshot": cmd_snapshot, "sample": cmd_sample, "record": cmd_record, "fio": cmd_fio,
     "note": cmd_note, "stat": cmd_stat, "machine": cmd_machine, "time": cmd_time,
     "getall": cmd_getall}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
