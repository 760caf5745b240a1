"""Scenario 6 of docs/benchmarks.md (warm restarts): render(R) with R the render.py module."""


def render(R):
    w, fmt, one, table, goals = R.w, R.fmt, R.one, R.table, R.goals
    s6 = R.section("6. Warm restart", "s6")
    if not s6:
        return
    c = one(s6, "config") or {}
    w("A %s MiB device file filled with %s items of %s bytes by `--preload` sets (`-m %s`), then "
      "SIGTERM (the stop writes the memory slabs, then the index snapshot) and starts on the same "
      "file. *restart* is from exec until the port opens with the index complete; *rebuild* is the "
      "server's `warm restart:` log line (snapshot loaded, or the scan of the device when the "
      "snapshot header was wiped: `scan`); then every item is read once (*back*). *stop* is "
      "SIGTERM to exit, *snapshot* the write it contains. *back* counts gets that hit out of the keys "
      "set; the few short of them are keys the fill lost to index tag collisions (counted in "
      "`evictions`), the same with the scan." % (
          c.get("device_mib"), fmt(c.get("items")), c.get("value"), c.get("ssd_mem")))
    w()

    def s6_rows(prefix):
        rows = []
        for r in s6:
            label = r.get("label", "")
            if not label.startswith(prefix) or "restart_s" not in r:
                continue
            rows.append([label, fmt(r.get("device_mib")), fmt(r.get("items")),
                         "snapshot" if str(r.get("snapshot")) == "1" else "scan",
                         fmt(r.get("mib")), "%.2f" % float(r.get("seconds", 0)),
                         "**%.2f**" % float(r.get("restart_s", 0)),
                         "%s / %s" % (fmt(r.get("hits")), fmt(r.get("expected"))),
                         "%.2f" % float(r.get("stop_s", 0)), r.get("snapshot_write_s", "-")])
        return rows

    head = ["run", "device MiB", "items", "from", "MiB read", "rebuild s", "restart s", "back",
            "stop s", "snapshot s"]
    table(head, s6_rows("restart") + s6_rows("scan"))
    w("Restart time against the item count (device %s MiB):" % c.get("device_mib"))
    w()
    table(head, s6_rows("count-"))
    w("Restart time against the device size (%s items):" % fmt(c.get("fixed_items")))
    w()
    table(head, s6_rows("size-"))
    full = [r for r in s6 if r.get("label", "").startswith("restart") and "restart_s" in r]
    if full:
        worst = max(float(r["restart_s"]) for r in full)
        # Every item the stop held (the fill may lose a few keys to tag collisions, counted).
        every = all(str(r.get("hits")) == str(r.get("items")) for r in full)
        goals.append(("6. Clean restart of a full %s MiB device ≤ 1 s, every item back" %
                      c.get("device_mib"), "%.2f s, %s" % (worst, "every item" if every else
                                                           "**items missing**"),
                      worst <= 1.0 and every))
    render_crash(R, s6)


def render_crash(R, s6):
    """Crash restarts (SIGKILL) and fio's sequential read of the same file, in the same run."""
    w, fmt, one, table = R.w, R.fmt, R.one, R.table
    kills = [r for r in s6 if r.get("label", "").startswith("kill")]
    fios = [r for r in s6 if r.get("label", "").startswith("fio-seq")]
    ratios = {r["label"][len("ratio"):]: r for r in s6 if r.get("label", "").startswith("ratio")}
    if not kills:
        return
    w("Crash restarts: %s keys overwritten, then SIGKILL and a restart on the same file; fio reads "
      "the same file sequentially (1 MiB, O_DIRECT, libaio) after each." % fmt(
          (one(s6, "crash-config") or {}).get("kill_items")))
    w()
    rows = []
    for r in kills:
        ratio = ratios.get(r["label"][len("kill"):], {})
        rows.append([r["label"], fmt(r.get("items")), fmt(r.get("mib")),
                     "%.2f" % float(r.get("seconds", 0)), "**%.2f**" % float(r.get("gib_s", 0)),
                     "%.2f" % float(ratio.get("ratio", 0))])
    for r in fios:
        rows.append([r["label"], "", "", "%.2f" % float(r.get("duration_s", 0)),
                     "%.2f" % (float(r.get("bw_bytes_per_s", 0)) / 2**30), ""])
    table(["run", "items", "MiB scanned", "seconds", "GiB/s", "x fio (same round)"], rows)
    got = [float(r.get("ratio", 0)) for _, r in sorted(ratios.items())]
    if got:
        R.goals.append(("6b. Crash restart scan ≥ 0.8x fio 1 MiB sequential read (same round)",
                        "%s× fio per round (scan %s GiB/s; fio %s GiB/s)" % (
                            ", ".join("%.2f" % x for x in got),
                            ", ".join(str(r.get("scan_gib_s")) for _, r in sorted(ratios.items())),
                            ", ".join(str(r.get("fio_gib_s")) for _, r in sorted(ratios.items()))),
                        min(got) >= 0.8))
