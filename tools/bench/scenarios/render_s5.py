"""Scenario 5 of docs/benchmarks.md (hit ratio under Zipf): render(R) with R the render.py module.

The warmup and the measured run are separate records (labels warmup-* and zipf-*, a fixed number of
requests each): the figures are the measured run's; device rewrites add the warmup's writes.
"""

# Policy counters shown when a run has them (compaction, reinsertion at eviction, admission).
POLICY_STATS = ("slab_compacted_bytes", "reinserted_items", "admit_probation", "admit_promoted", "admit_dropped",
                "admit_ghost_hits")


def size_bytes(s):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    s = str(s or "0")
    return int(s[:-1]) * units[s[-1]] if s[-1] in units else int(s)


def written(r):
    """Bytes written to the device and sets over warmup + measured (extstore: what it wrote)."""
    d = r.get("stats_delta", {})
    wb = d.get("aio_write_bytes", d.get("extstore_bytes_written"))
    return wb, d.get("cmd_set", r.get("sets"))


def evictions(r):
    """Items dropped over warmup + measured (extstore: from DRAM and from flash)."""
    d = r.get("stats_delta", {})
    return d.get("evictions", 0) + d.get("extstore_objects_evicted", 0) if d else None


def per_set(r):
    wb, sets = written(r)
    return wb / sets if wb is not None and sets else None


def miss_ratio(r):
    return 1 - r["hit_ratio"] if r and r.get("hit_ratio") is not None else None


def versus(rs, fifo):
    """variant -> (misses / FIFO's, bytes written per set / FIFO's), both from the same run."""
    out = {}
    for r in rs:
        m, fm = miss_ratio(r), miss_ratio(fifo)
        ws, fws = per_set(r), per_set(fifo) if fifo else None
        out[r["server"]] = (m / fm if m is not None and fm else None,
                            ws / fws if ws is not None and fws else None)
    return out


def best_variant(vs):
    """The ssdcached variant nearest the goal: the fewest misses among those within the write
    bound, else the fewest misses."""
    cand = [(k, m, wr) for k, (m, wr) in vs.items()
            if k not in ("fifo", "extstore") and m is not None and wr is not None]
    within = [c for c in cand if c[2] <= 1.2]
    return min(within or cand, key=lambda c: c[1]) if cand else None


def render(R):
    w, fmt, one, table, delta, goals = R.w, R.fmt, R.one, R.table, R.delta, R.goals
    s5 = R.section("5. Hit ratio under Zipf", "s5")
    if not s5:
        return
    c = one(s5, "config") or {}
    rs = [r for r in R.runs(s5) if r["label"].startswith("zipf-")]
    warm = {r["server"]: r for r in R.runs(s5) if r["label"].startswith("warmup-")}
    fifo = next((r for r in rs if r["server"] == "fifo"), None)
    dev = c.get("device_bytes") or size_bytes(c.get("device"))

    def rewrites(runs):
        wb = [written(r)[0] for r in runs if r]
        return sum(wb) / dev if wb and None not in wb and dev else None

    w("%s keys × %s-byte values (≈ 2× the %s device), preloaded once (so half are already gone), "
      "then gets and sets (%s sets) with Zipf(%s) popularity, %s connections × pipeline %s: a "
      "warmup of %s requests, then %s measured (the requests whose sets write the device %s and %s "
      "times at %s bytes per set; at most %s s and %s s), same seeds for all. ssdcached `-m %s -i "
      "%s` (1/16 of the device each) with all three policy flags given: *fifo* `--compact off "
      "--reinsert off --admit off` (the FIFO of the issue, every ratio's reference), *compact* "
      "`--compact on` (memory slab compaction), *reinsertN* `--reinsert on --reinsert-share N`, "
      "*admit* `--admit on`, and their combinations joined by '-'; extstore `-t 1 -m %s -o %s`. Everything below is the measured "
      "run but *device rewrites*: bytes written after the preload (warmup + measured) / device "
      "size; a run stopped by its time cap (a busy machine) has fewer requests and rewrites, and "
      "compares less well." % (
          fmt(c.get("keys")), c.get("value"), c.get("device"), c.get("set_ratio"), c.get("zipf"),
          c.get("conns"), c.get("pipeline"), fmt(c.get("warmup_calls")), fmt(c.get("calls")),
          c.get("warmup_rewrites"), c.get("rewrites"), fmt(c.get("set_bytes")), c.get("warmup"),
          c.get("duration"), c.get("ssd_mem"), c.get("ssd_index"), c.get("mc_mem"),
          c.get("ext_opts")))
    w()
    vs = versus(rs, fifo)
    rows = []
    for r in rs:
        dev_gets, mem = delta(r, "reads_device"), delta(r, "reads_memory")
        rows.append([r["server"], "%.3f" % r["hit_ratio"], R.rfmt(vs[r["server"]][0]),
                     fmt(r["ops_per_s"]), R.us(r["p99_us"]),
                     fmt(dev_gets) if dev_gets is not None else fmt(delta(r, "get_extstore")),
                     fmt(mem) if mem is not None else "–", R.cpu(r), R.ccpu(r)])
    table(["variant", "hit ratio", "misses vs FIFO", "ops/s", "p99",
           "gets from device (ssdcached) / from extstore", "gets from memory slabs", "CPU",
           "load tool CPU"], rows)
    shown = [k for k in POLICY_STATS if any(k in r.get("stats_delta", {}) for r in rs)]
    rows = []
    for r in rs:
        rw = rewrites([warm.get(r["server"]), r])
        capped = (r.get("total_ops") or 0) < (c.get("calls") or 0)
        rows.append([r["server"], fmt(r.get("total_ops")) + (" (time cap)" if capped else ""),
                     fmt(per_set(r)),
                     R.rfmt(vs[r["server"]][1]), fmt(rw, 1) if rw is not None else "–",
                     fmt(r.get("rss_kb", 0) / 1024.0),
                     fmt(r.get("stats_after", {}).get("curr_items")),
                     fmt(evictions(r))] + [fmt(delta(r, k)) for k in shown])
    table(["variant", "requests", "device bytes written / set", "vs FIFO", "device rewrites",
           "RSS MiB", "items at end", "evictions"] + shown, rows)
    w("Bytes written per set: `aio_write_bytes` / `cmd_set` (extstore: `extstore_bytes_written`, "
      "through the page cache); evictions (extstore: + `extstore_objects_evicted`) and the policy "
      "counters are deltas over the measured run.")
    w()
    ext = next((r for r in rs if r["server"] == "extstore"), None)
    best = best_variant(vs)
    if fifo and ext:
        b = next((r for r in rs if best and r["server"] == best[0]), None)
        w("Hit ratio / extstore's: fifo %s%s." % (
            R.rfmt(R.ratio(fifo["hit_ratio"], ext["hit_ratio"])),
            ", %s %s" % (b["server"], R.rfmt(R.ratio(b["hit_ratio"], ext["hit_ratio"])))
            if b else ""))
        w()
    if best:
        others = ", ".join("%s %s/%s" % (k, fmt(m, 2), fmt(wr, 2)) for k, (m, wr) in vs.items()
                           if k not in ("fifo", "extstore", best[0]) and m is not None
                           and wr is not None)
        goals.append(("5. misses ≤ 0.85x FIFO and device bytes written per set ≤ 1.2x FIFO "
                      "(best ssdcached variant; name it)",
                      "%s: misses %s× FIFO, writes/set %s× FIFO (others, misses/writes: %s)" % (
                          best[0], fmt(best[1], 2), fmt(best[2], 2), others or "–"),
                      best[1] <= 0.85 and best[2] <= 1.2))
    w("**Where the time goes.**")
    w()
    R.profile("s5", "s5-zipf-ssdcached")
