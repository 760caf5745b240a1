"""Scenario 8 of docs/benchmarks.md (the small-object tier): render(R) with R the render.py module.

`render_s8.py S8_JSONL` prints the figures of each variant as JSON lines (s8_small_tier.sh's
summary). Records: config, then per variant (slab, tier) preload-*, warmup-*, zipf-* (the measured
stream: every figure but the preload's and the never-written keys' comes from it) and miss-*.
"""

import json
import sys


def _d(r, key):
    return (r or {}).get("stats_delta", {}).get(key)


def _a(r, key):
    return (r or {}).get("stats_after", {}).get(key)


def _div(a, b):
    return a / b if a is not None and b else None


def figures(recs):
    """variant -> dict of the scenario's figures (None where a server has no such stat)."""
    c = next((r for r in recs if r.get("label") == "config"), {})
    by = {r["label"]: r for r in recs if "ops_per_s" in r}
    n = c.get("items") or 0
    # Key "k" + zero-padded id (ssdcache-bench: digits of the largest id) + the value.
    item_bytes = 1 + len(str(max(n - 1, 0))) + (c.get("value") or 0)
    out = {}
    for v in str(c.get("variants", "")).split():
        p, z, m = by.get("preload-" + v), by.get("zipf-" + v), by.get("miss-" + v)
        if not z:
            continue
        pre = (p or {}).get("preload") or {}
        tier_items = None
        if _a(z, "small_items") is not None:
            tier_items = _a(z, "small_items") + (_a(z, "small_log_items") or 0)
        sets = _a(z, "small_sets")
        # reads_device and reads_memory count the tier's lookups too (its set reads, its log's
        # answers): device hits are the hits DRAM did not answer.
        dev_hits = z.get("hits", 0) - (_d(z, "reads_memory") or 0)
        f = {
            "preload_s": pre.get("seconds"), "preload_stored": pre.get("stored"),
            "preload_sets_per_s": _div(pre.get("stored"), pre.get("seconds")),
            "preload_no_room": _d(p, "small_no_room"),
            "preload_write_amp": _div(_d(p, "aio_write_bytes"),
                                      (pre.get("stored") or 0) * item_bytes),
            "requests": z.get("total_ops"), "gets": z.get("gets"),
            "misses": z.get("gets", 0) - z.get("hits", 0),
            "miss_ratio": 1 - z["hit_ratio"] if z.get("gets") else None,
            "hit_ratio": z.get("hit_ratio"), "ops_per_s": z.get("ops_per_s"),
            "p99_us": z.get("p99_us"), "cpu": z.get("server_cpu_util"),
            "curr_items": _a(z, "curr_items"), "index_entries": _a(z, "index_entries"),
            "tier_items": tier_items, "small_sets": sets,
            "fill": _div(_a(z, "small_items"), (sets or 0) * (c.get("set_items") or 28)),
            "dram_per_item": _div(_a(z, "small_dram_bytes"), tier_items),
            "filter_per_item": _div(_a(z, "small_filter_bytes"), tier_items),
            "small_dram_bytes": _a(z, "small_dram_bytes"),
            "rss_kb": z.get("rss_kb"), "rss_empty_kb": (p or {}).get("rss_empty_kb"),
            "reads_per_tier_hit": _div(_d(z, "small_set_reads"), _d(z, "small_set_hits")),
            "reads_per_hit": _div(_d(z, "reads_device"), dev_hits),
            "aio_reads_per_get": _div(_d(z, "aio_reads"), z.get("gets")),
            "miss_gets": (m or {}).get("gets"), "miss_hits": (m or {}).get("hits"),
            "reads_per_miss": _div(_d(m, "reads_device"), (m or {}).get("gets")),
            "false_positive_reads": _d(m, "small_false_positive_reads"),
            "miss_ops_per_s": (m or {}).get("ops_per_s"),
            "tier_write_amp": _div(_d(z, "small_set_write_bytes"), _d(z, "small_stored_bytes")),
            "write_amp": _div(_d(z, "aio_write_bytes"), (z.get("stored") or 0) * item_bytes),
            "records_per_set_write": _div(_d(z, "small_stored_bytes"),
                                          (_d(z, "small_set_writes") or 0) * item_bytes),
        }
        for k in ("small_log_hits", "small_set_hits", "small_no_room", "small_evictions",
                  "small_admission_drops", "evictions", "index_evictions", "small_mark_writes",
                  "small_set_writes", "reads_memory", "reads_device", "aio_reads", "aio_writes"):
            f[k] = _d(z, k)
        out[v] = f
    slab, tier = out.get("slab"), out.get("tier")
    if slab and tier:
        tier["misses_vs_slab"] = _div(tier["miss_ratio"], slab["miss_ratio"])
        tier["ops_vs_slab"] = _div(tier["ops_per_s"], slab["ops_per_s"])
        tier["rss_diff_per_item"] = _div(
            ((tier["rss_kb"] or 0) - (slab["rss_kb"] or 0)) * 1024.0, tier["tier_items"])
        tier["write_amp_vs_slab"] = _div(tier["write_amp"], slab["write_amp"])
    return c, out


def _f(R, x, digits=0):
    return R.fmt(x, digits) if x is not None else "–"


def render(R):
    w, fmt, table, goals = R.w, R.fmt, R.table, R.goals
    s8 = R.section("8. The small-object tier", "s8")
    if not s8:
        return
    c, fs = figures(s8)
    w("%s distinct keys (`k` + zero-padded id) of %s-byte values on a %s device, ssdcached `-m %s "
      "-i %s %s`, one server after the other: *slab* `--small-max 0` (the slab tier alone) and "
      "*tier* `--small-max %s --small-share %s` (%s sets of 4 KiB: the items fill them %s%% at "
      "%s per set). Each: every key written once (`--preload`, `%s`), then gets and sets (%s "
      "sets) with Zipf(%s) popularity (`%s`): a warmup of %s requests, then %s measured (at most "
      "%s s each); then %s gets of keys never written (`m` + id). Figures are the measured "
      "stream's unless named otherwise." % (
          fmt(c.get("items")), c.get("value"), c.get("device"), c.get("mem_mib"),
          c.get("index_mib"), c.get("server_args"), c.get("small_max"), c.get("small_share"),
          fmt(c.get("small_sets")),
          fmt(100.0 * (c.get("items") or 0) / max(1, (c.get("small_sets") or 0)
                                                  * (c.get("set_items") or 28)), 1),
          c.get("set_items"), c.get("preload_args"), c.get("set_ratio"), c.get("zipf"),
          c.get("mixed_args"), fmt(c.get("warmup_calls")), fmt(c.get("calls")),
          c.get("duration"), fmt(c.get("miss_calls"))))
    w()
    rows = []
    for v, f in fs.items():
        rows.append([v, fmt(f["preload_sets_per_s"]), _f(R, f["preload_no_room"]),
                     fmt(f["requests"]), "%.3f" % f["hit_ratio"], fmt(f["misses"]),
                     R.rfmt(f.get("misses_vs_slab")), fmt(f["ops_per_s"]),
                     R.rfmt(f.get("ops_vs_slab")), R.us(f["p99_us"]), R.cpu({"x": f["cpu"]}, "x"),
                     _f(R, f["curr_items"]), _f(R, f["tier_items"]),
                     _f(R, 100 * f["fill"], 1) + "%" if f["fill"] is not None else "–"])
    table(["server", "preload sets/s", "preload no room", "requests", "hit ratio", "misses",
           "misses vs slab", "ops/s", "vs slab", "p99", "CPU", "items held", "in the tier",
           "tier fill"], rows)
    rows = []
    for v, f in fs.items():
        rows.append([v, _f(R, f["dram_per_item"], 2), _f(R, f["filter_per_item"], 2),
                     _f(R, (f["rss_kb"] or 0) / 1024.0), _f(R, f.get("rss_diff_per_item"), 2),
                     _f(R, f["reads_per_tier_hit"], 3), _f(R, f["reads_per_hit"], 3),
                     _f(R, f["reads_per_miss"], 3), _f(R, f["tier_write_amp"], 1),
                     _f(R, f["write_amp"], 1), _f(R, f["preload_write_amp"], 1),
                     _f(R, f["records_per_set_write"], 2)])
    table(["server", "tier DRAM B/item", "filters B/item", "RSS MiB", "RSS − slab's, B/item",
           "reads / tier set hit", "device reads / hit", "reads / never-written get",
           "tier WA", "device WA", "preload WA", "records / set write"], rows)
    shown = ("reads_memory", "reads_device", "small_log_hits", "small_set_hits",
             "small_set_writes", "small_mark_writes", "aio_reads", "aio_writes", "small_no_room",
             "small_evictions", "small_admission_drops", "evictions", "index_evictions")
    rows = [[v] + [_f(R, f.get(k)) for k in shown] for v, f in fs.items()]
    table(["server"] + list(shown), rows)
    w("*Tier DRAM* is `small_dram_bytes` (filters, hit, void and generation bits, the 4 MiB log "
      "and its index, move and read buffers, size counts) / (`small_items` + `small_log_items`); "
      "*RSS − slab's* the difference of the two servers' RSS after the measured stream over the "
      "same items. *Device reads / hit*: `reads_device` (slab and tier reads) / hits not "
      "answered from DRAM (hits − `reads_memory`: memory slabs and the tier's log); per "
      "never-written get: `reads_device` / gets over the last pass. *Tier WA* "
      "`small_set_write_bytes / small_stored_bytes` (new records only: a copy kept for its meta "
      "marks, `small_mark_writes`, costs set writes, not stored bytes); *device WA* "
      "`aio_write_bytes` / (sets stored × key + value bytes), *preload WA* the same over the "
      "preload. *Records / set write*: new records per set write (`small_stored_bytes` / item "
      "bytes / `small_set_writes`). Counters are deltas over the measured "
      "stream.")
    w()
    slab, tier = fs.get("slab"), fs.get("tier")
    if not (slab and tier):
        return
    mv, ov = tier.get("misses_vs_slab"), tier.get("ops_vs_slab")
    goals.append(("8a. Tier: misses ≤ 1/3 of the slab tier's alone (same -m/-i and device)",
                  "%s× (hit ratio %.3f against %.3f)" % (
                      _f(R, mv, 2), tier["hit_ratio"], slab["hit_ratio"]),
                  mv is not None and mv <= 1 / 3.0))
    goals.append(("8b. Tier: throughput ≥ 0.8× the slab tier's alone",
                  "%s× (%s against %s ops/s; p99 %s against %s)" % (
                      _f(R, ov, 2), _f(R, tier["ops_per_s"]), _f(R, slab["ops_per_s"]),
                      R.us(tier["p99_us"]), R.us(slab["p99_us"])),
                  ov is not None and ov >= 0.8))
    dpi, rpi = tier["dram_per_item"], tier.get("rss_diff_per_item")
    goals.append(("8c. Tier: DRAM ≤ 1 byte per small item at ~90% full (stats and RSS)",
                  "%s B by its stats, %s B by RSS, %s items at %s%% fill" % (
                      _f(R, dpi, 2), _f(R, rpi, 2), _f(R, tier["tier_items"]),
                      _f(R, 100 * (tier["fill"] or 0), 1)),
                  dpi is not None and rpi is not None and dpi <= 1 and rpi <= 1))
    hr, mr = tier["reads_per_tier_hit"], tier["reads_per_miss"]
    goals.append(("8d. Tier: device reads ≤ 1.1 per hit, ≤ 0.1 per get of a key never written",
                  "%s per set hit (%s per device hit, slabs too), %s per never-written get" % (
                      _f(R, hr, 3), _f(R, tier["reads_per_hit"], 3), _f(R, mr, 3)),
                  hr is not None and mr is not None and hr <= 1.1 and mr <= 0.1))
    wa = tier["tier_write_amp"]
    goals.append(("8e. Tier: write amplification ≤ 4× (against the slab tier's)",
                  "sets %s×; device %s× against the slab tier's %s×" % (
                      _f(R, wa, 1), _f(R, tier["write_amp"], 1), _f(R, slab["write_amp"], 1)),
                  wa is not None and wa <= 4))
    R.profile("s8", "s8-zipf-tier")


def main():
    with open(sys.argv[1]) as f:
        recs = [json.loads(l) for l in f if l.strip()]
    _, fs = figures(recs)
    for v, f in fs.items():
        print("s8", v, json.dumps({k: round(x, 4) if isinstance(x, float) else x
                                   for k, x in f.items()}))


if __name__ == "__main__":
    main()
