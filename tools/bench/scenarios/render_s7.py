"""Scenario 7 of docs/benchmarks.md (how cost grows): render(R) with R the render.py module."""


def render(R):
    w, fmt, us, table = R.w, R.fmt, R.us, R.table
    s7 = R.section("7. How cost grows with the item count", "s7")
    if not s7:
        return
    c = next((r for r in s7 if r.get("label") == "config"), {})
    # Runs before `--snapshot-size auto` held a full index set the size per count.
    snapshot = ("`--snapshot-size auto`, which reserves room for a snapshot of the whole index"
                if c.get("snapshot_size") == "auto" else "`--snapshot-size` 13 bytes per item")
    w("For each item count, a fresh ssdcached (`%s`, `-i` the smallest power-of-two index "
      "whose load stays ≤ %s%%, `--device-size` %s bytes per item plus the snapshot region, "
      "%s) is loaded by a preload (`%s`, values `--sizes %s`, "
      "keys `k` + zero-padded id); then gets only over the loaded keys (`%s`, %s s after %s s "
      "warmup), RSS from `/proc/PID/status` (empty, and 2 s after the load), a SIGTERM stop "
      "(memory slabs, then the index snapshot) and a start on the same file, timed from exec "
      "until the port opens with the index complete (*back*: `curr_items` after it / before the "
      "stop)." % (
          " ".join(filter(None, ["-m %s" % c.get("ssd_mem"), c.get("server_args")])),
          c.get("max_load_pct"), c.get("item_bytes"), snapshot,
          c.get("load_args"), c.get("sizes"), c.get("get_args"), c.get("duration"),
          c.get("warmup")))
    w()
    gets = {r.get("items"): r for r in s7 if r.get("label", "").startswith("get-")}
    rows = []
    for r in s7:
        if not r.get("label", "").startswith("restart-"):
            continue
        n = r.get("items")
        g = gets.get(n, {})
        st = r.get("data", {}).get("stats", {})
        held = st.get("curr_items") or 0
        rss_item = (g["rss_loaded_kb"] - g["rss_empty_kb"]) * 1024.0 / held \
            if held and "rss_loaded_kb" in g else None
        used = st.get("disk_slabs_used", 0) * (st.get("slab_page_size") or 1048576)
        rows.append([
            fmt(n), "%s (%.2f)" % (fmt(r.get("index_mib")), held / max(1, st.get("index_capacity")
                                                                         or 1)),
            "%s / %s" % (fmt(used / 1048576.0), fmt(r.get("device_mib"))), fmt(r.get("load_s"), 1),
            fmt(g.get("ops_per_s")), us(g.get("p99_us")),
            fmt(g.get("rss_loaded_kb", 0) / 1024.0, 0), fmt(rss_item, 2),
            fmt(st.get("index_bytes", 0) / held, 2) if held else "–",
            "**%.2f**" % float(r.get("restart_s", 0)),
            "snapshot" if str(r.get("snapshot")) == "1" else "scan",
            "%s / %s" % (fmt(r.get("items_after")), fmt(r.get("items_before"))),
            "%.2f" % float(r.get("stop_s", 0)), r.get("snapshot_write_s", "-"),
            "%s / %s" % (fmt(n - held), fmt(st.get("slab_evictions")))])
    table(["items", "-i MiB (load)", "device MiB used / size", "load s", "gets/s", "p99",
           "RSS MiB", "RSS/item B", "index B/item", "restart s", "from", "back", "stop s",
           "snapshot s", "keys lost / slab evictions"], rows)
    w("*RSS/item* is (RSS loaded − RSS empty) / items: the index is mapped at start but backed "
      "only as its pages are first written, so it is in the growth; *index B/item* is "
      "`index_bytes / curr_items` (64-byte buckets of 6 slots: 10.67 B per slot / load). *stop* "
      "is SIGTERM to exit, *snapshot* the write it contains. *Keys lost* are keys loaded but not "
      "held (two keys with the same 16-bit tag in one bucket pair: one replaces the other, "
      "counted in `evictions`); *slab evictions* above 0 would mean a device too small.")
    w()
