"""The plots of docs/benchmarks.md (docs/img/*.png, with gnuplot when installed): render(R) with R
the render.py module."""
import os
import shutil
import subprocess


def plot(R, name, title, series, ylabel_t="ops/s"):
    """series: list of (title, [(x, ops, p99_us)])"""
    if not shutil.which("gnuplot") or not any(pts for _, pts in series):
        return
    os.makedirs(R.IMG, exist_ok=True)
    data_dir = os.path.join(R.OUT, "plot")
    os.makedirs(data_dir, exist_ok=True)
    files = []
    for i, (t, pts) in enumerate(series):
        path = os.path.join(data_dir, "%s-%d.dat" % (name, i))
        with open(path, "w") as f:
            for x, ops, p99 in pts:
                if ops is not None:
                    f.write("%s %s %s\n" % (x, ops, (p99 or 0) / 1000.0))
        files.append((t, path))
    out = os.path.join(R.IMG, name + ".png")
    gp = ["set terminal pngcairo size 1100,420 font 'sans,10'",
          "set output '%s'" % out, "set multiplot layout 1,2 title '%s'" % title,
          "set logscale x 2", "set grid", "set key top left", "set xlabel 'connections'",
          "set ylabel '%s'" % ylabel_t, "set yrange [0:*]"]
    gp.append("plot " + ", ".join("'%s' using 1:2 with linespoints lw 2 title '%s'" % (p, t)
                                  for t, p in files))
    gp += ["set ylabel 'p99 latency (ms)'", "set logscale y", "set yrange [*:*]",
           "set key top left"]
    gp.append("plot " + ", ".join("'%s' using 1:3 with linespoints lw 2 title '%s'" % (p, t)
                                  for t, p in files))
    gp.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(gp), text=True, check=False, timeout=60)


def render(R):
    s1, s2 = R.load("s1"), R.load("s2")
    if s1:
        rs = R.runs(s1)
        for method in ("get", "set"):
            series = []
            for srv in ("ssdcached", "memcached"):
                for pipe in sorted({r["pipeline"] for r in rs}):
                    pts = sorted((r["conns"], r["ops_per_s"], r["p99_us"]) for r in rs
                                 if r.get("method") == method and r["server"] == srv and
                                 r["pipeline"] == pipe)
                    series.append(("%s pipeline %s" % (srv, pipe), pts))
            plot(R, "s1-" + method, "Scenario 1: DRAM-resident %s, 100-byte values" % method, series)
    if s2:
        rs = [r for r in R.runs(s2) if r.get("mode") != "open"]
        series = []
        for srv in sorted({r["server"] for r in rs}, key=lambda s: (s != "ssdcached", s == "fio", s)):
            pts = sorted((r["conns"], r["ops_per_s"], r["p99_us"]) for r in rs if r["server"] == srv)
            note = {"fio": " (4 KiB randread, iodepth = conns)"}.get(srv, " (from DRAM)"
                                                                  if srv.endswith("-dram") else "")
            series.append((srv + note, pts))
        plot(R, "s2", "Scenario 2: device-resident 4 KiB gets", series, "ops/s (fio: IOPS)")
