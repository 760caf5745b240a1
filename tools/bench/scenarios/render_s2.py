"""Scenario 2 of docs/benchmarks.md (device-resident reads against fio and extstore): render(R) with R
the render.py module (its helpers and its goals list)."""


def render(R):
    w, fmt, us, cpu, rfmt, ratio, delta, table = (R.w, R.fmt, R.us, R.cpu, R.rfmt, R.ratio,
                                                  R.delta, R.table)
    cpu_us, profile, runs, per_s, one, ccpu, goals = (R.cpu_us, R.profile, R.runs, R.per_s, R.one,
                                                      R.ccpu, R.goals)
    s2 = R.section("2. Device-resident reads", "s2")
    if s2:
        c = one(s2, "config") or {}
        dc = (one(s2, "drop_caches") or {}).get("dropped")
        w("%s keys × %s-byte values (%s MiB working set, %s× the memory slabs) on a %s file; gets, "
          "pipeline 1, so connections = outstanding requests (%s s after %s s warmup). ssdcached `-m %s "
          "-i %s%s` (default `--max-aio 1024`); memcached + extstore `-t 1 -m %s -o ext_path=FILE:%s,%s,ext_threads=N`; fio "
          "`--rw=randread --bs=4k --ioengine=libaio --direct=1 --iodepth=conns` on a fully written file "
          "of the same size. Page cache dropped (`echo 3 > /proc/sys/vm/drop_caches`) before every "
          "run: **%s**. ssdcached reads with O_DIRECT; extstore reads through the page cache, which "
          "refills during a run (`disk/read bytes` = bytes read from the disk, `/proc/PID/io`, / bytes "
          "extstore read: above 100%% is readahead)." % (
              fmt(c.get("keys")), c.get("value"), fmt(c.get("working_set_mib")),
              fmt((c.get("working_set_mib") or 0) / max(1, c.get("ssd_mem") or 1), 0), c.get("device"),
              c.get("duration"), c.get("warmup"), c.get("ssd_mem"), c.get("ssd_index"),
              (" " + c["ssd_extra"]) if c.get("ssd_extra") else "",
              c.get("mc_mem"), c.get("device"), c.get("ext_opts"), dc or "?"))
        w()
        rs = [r for r in runs(s2) if r.get("mode") != "open"]
        exts = sorted({r["server"] for r in rs if r["server"].startswith("extstore")},
                      key=lambda s: int(s.split("-t")[-1]) if "-t" in s else 0)
        pts = sorted({r["conns"] for r in rs})
        rows, prow, plot2, crow = [], [], [], []
        g_fio, g_ext, g_bound = [], [], []
        for conns in pts:
            get = lambda srv: next((r for r in rs if r["conns"] == conns and r["server"] == srv), None)
            a, f = get("ssdcached"), get("fio")
            row = [conns, fmt(a and a["ops_per_s"])]
            for e in exts:
                row.append(fmt(get(e) and get(e)["ops_per_s"]))
            row.append(fmt(f and f["ops_per_s"]))
            rf = ratio(a and a["ops_per_s"], f and f["ops_per_s"])
            row.append(rfmt(rf))
            g_fio.append(rf)
            for e in exts:
                re_ = ratio(a and a["ops_per_s"], get(e) and get(e)["ops_per_s"])
                row.append(rfmt(re_))
                if e == exts[0]:
                    g_ext.append(re_)
            rows.append(row)
            pr = [conns, us(a and a["p99_us"])] + [us(get(e) and get(e)["p99_us"]) for e in exts] + \
                 [us(f and f["p99_us"])]
            rb, rn = delta(a, "aio_read_bytes"), delta(a, "aio_reads")
            pr += [fmt(per_s(a, "reads_device")), fmt(rb / rn) if rb and rn else "–",
                   fmt(a and a.get("mean_aio_in_flight"), 1), cpu(a), ccpu(a)]
            for e in exts:
                er = get(e)
                rb, eb = (er or {}).get("io_read_bytes"), delta(er, "extstore_bytes_read")
                pr += ["%.2f" % er["hit_ratio"] if er else "–",
                       "%.0f%%" % (100.0 * rb / eb) if rb is not None and eb else "–", cpu(er)]
            pr.append(cpu(f))
            prow.append(pr)
            plot2.append((conns, a, [get(e) for e in exts], f))
            # The network ceiling (same gets from DRAM) and the bound it sets with fio: per device
            # get, a one-core server spends at least the CPU of a DRAM get plus that of one fio IO.
            sd, md = get("ssdcached-dram"), get("memcached-dram")
            t_net, t_io, t_dev = cpu_us(sd), cpu_us(f), cpu_us(a)
            if t_net and t_io:
                # Never above fio itself: where fio is not CPU-bound, the device is the limit.
                bound = min(1e6 / (t_net + t_io), f["ops_per_s"])
                rb_ = ratio(a and a["ops_per_s"], bound)
                g_bound.append((bound / f["ops_per_s"], rb_))
                crow.append([conns, fmt(sd["ops_per_s"]), cpu(sd), fmt(t_net, 1),
                             fmt(per_s(sd, "reads_device")), fmt(md and md["ops_per_s"]),
                             fmt(cpu_us(md), 1), fmt(f["ops_per_s"]), cpu(f), fmt(t_io, 1),
                             fmt(bound), rfmt(bound / f["ops_per_s"]), fmt(t_dev, 1),
                             fmt(a and a["ops_per_s"]), rfmt(rb_)])
        table(["conns"] + ["ssdcached ops/s"] + ["%s ops/s" % e for e in exts] + ["fio IOPS",
              "ssdcached/fio"] + ["ssdcached/%s" % e for e in exts], rows)
        hdr = ["conns", "ssdcached p99"] + ["%s p99" % e for e in exts] + ["fio p99",
               "ssdcached reads_device/s", "ssdcached bytes/read", "ssdcached mean aio_in_flight",
               "ssdcached CPU",
               "load tool CPU (ssd run)"]
        for e in exts:
            hdr += ["%s hit ratio" % e, "%s disk/read bytes" % e, "%s CPU" % e]
        hdr.append("fio CPU")
        table(hdr, prow)
        if crow:
            w("**The network ceiling.** The same 4 KiB gets answered from DRAM (ssdcached with memory "
              "slabs larger than the working set, memcached -t 1 without extstore), on the same core, "
              "at the same connections. Per device get a one-core server spends at least the CPU of a "
              "DRAM get (receive, parse, send 4 KiB over TCP) plus the CPU of one fio IO (submit, "
              "complete): with CPU µs per op = CPU share / ops per second, device gets/s ≤ "
              "10⁶ / (CPU µs per DRAM get + CPU µs per fio IO) on one core (and never more than fio's "
              "IOPS). That bound, as a "
              "fraction of fio's IOPS, is the most the 0.8× goal can reach on this machine:")
            w()
            table(["conns", "ssdcached DRAM gets/s", "its CPU", "CPU µs/get", "its device reads/s",
                   "memcached -t 1 DRAM gets/s", "its CPU µs/get", "fio IOPS", "fio CPU",
                   "fio CPU µs/IO", "bound gets/s", "bound / fio", "ssdcached device get CPU µs",
                   "ssdcached device gets/s", "ssdcached / bound"], crow)
        ok_f = [x for x in g_fio if x is not None]
        ok_e = [x for x in g_ext if x is not None]
        ok_b = [b for b in g_bound if b[1] is not None]
        goals.append(("2a. Device reads ≥ 0.8× fio 4 KiB random-read IOPS at the same queue depth",
                      "ratio %s at %s outstanding%s" % (
                          ", ".join(fmt(x, 2) for x in ok_f), "/".join(str(p) for p in pts),
                          "; network ceiling bounds it at %s× fio; ssdcached reaches %s of that bound"
                          % (", ".join(fmt(b[0], 2) for b in ok_b),
                             ", ".join(fmt(b[1], 2) for b in ok_b)) if ok_b else ""),
                      bool(ok_f) and min(ok_f) >= 0.8))
        if exts:
            goals.append(("2b. Device reads ≥ 1.0× extstore (%s)" % exts[0],
                          "ratio %s" % ", ".join(fmt(x, 2) for x in ok_e),
                          bool(ok_e) and min(ok_e) >= 1.0))
        orow, g_open = [], []
        opens = [r for r in runs(s2) if r.get("mode") == "open"]
        for rate in sorted({r["rate"] for r in opens}):
            get = lambda srv: next((r for r in opens if r["rate"] == rate and r["server"] == srv), None)
            a, d, f = get("ssdcached"), get("ssdcached-dram"), get("fio")
            bound = 2 * (f["p99_us"] + d["p99_us"]) if f and d else None
            r_ = ratio(a and a["p99_us"], bound)
            g_open.append((rate, r_))
            orow.append([fmt(rate), fmt(a and a.get("conns")), fmt(a and a["ops_per_s"]),
                         us(a and a["p50_us"]), us(a and a["p99_us"]), us(a and a["p999_us"]),
                         us(d and d["p50_us"]), us(d and d["p99_us"]), us(f and f["p50_us"]),
                         us(f and f["p99_us"]), us(bound), rfmt(r_), cpu(a)])
        if orow:
            w("**Open loop at a fixed rate** (requests on a schedule, latency from the scheduled time): "
              "ssdcached's device gets, the same gets from DRAM (ssdcached with memory slabs above the "
              "working set) and fio 8 KiB random reads at the same rate and depth. Goal: ssdcached's "
              "p99 ≤ 2 × (fio p99 + DRAM p99).")
            w()
            table(["gets/s", "conns", "ssdcached ops/s", "p50", "p99", "p99.9", "DRAM gets p50",
                   "DRAM gets p99", "fio p50", "fio p99", "bound 2×(fio+DRAM) p99",
                   "ssdcached p99 / bound", "ssdcached CPU"], orow)
            ok_o = [x for _, x in g_open if x is not None]
            goals.append(("2c. Device gets at a fixed rate: p99 ≤ 2× (fio p99 + DRAM-get p99)",
                          "ratio %s at %s gets/s" % (", ".join(fmt(x, 2) for x in ok_o),
                                                      "/".join(fmt(r) for r, _ in g_open)),
                          bool(ok_o) and max(ok_o) <= 1.0))
        # Issue 13: a get of a value no larger than a block reads one block (1.1x: the bound).
        amp = [(r["conns"], ratio(delta(r, "aio_read_bytes"), delta(r, "reads_device"))) for r in rs
               if r["server"] == "ssdcached"]
        amp = [(n, x) for n, x in sorted(amp) if x is not None]
        if amp:
            cap = round(1.1 * 4096 * -(-(c.get("value") or 4096) // 4096))
            goals.append(("2d. Read amplification: aio_read_bytes / reads_device ≤ %s bytes per device "
                          "get (1.1× the value rounded up to 4 KiB)" % fmt(cap),
                          "%s bytes at %s outstanding" % (", ".join(fmt(x) for _, x in amp),
                                                          "/".join(str(n) for n, _ in amp)),
                          max(x for _, x in amp) <= cap))
        w("![scenario 2](img/s2.png)")
        w()
        pre = [r for r in s2 if r.get("label", "").startswith("preload-")]
        if pre:
            w("Items held after the preload: " + ", ".join(
                "%s %s" % (r["server"], fmt(r.get("data", {}).get("stats", {}).get("curr_items")))
                for r in pre) + ".")
            w()
        w("**Where the time goes.**")
        w()
        for conns in pts:
            profile("s2", "s2-get-c%s-ssdcached" % conns)
