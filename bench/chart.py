# SPDX-License-Identifier: BSD-2-Clause
"""Draws bench/run.sh's results as an SVG chart (standard library only).

    python3 chart.py RESULTS_CSV OUT_SVG

Two panels of grouped horizontal bars, one group per workload and one bar per allocator: median
wall time divided by the fastest allocator's (left) and median peak RSS divided by the smallest
(right).  1.0 is the best of the five; bars longer than the axis are clipped and labelled.
Variants of liballocator (run.sh --variant, "liballocator[NAME]") get bars of their own, after
the five, in colours of their own, but do not count when finding the best.
"""
import csv
import sys
from xml.sax.saxutils import escape

ORDER = ["liballocator", "jemalloc", "mimalloc", "tcmalloc", "glibc"]
COLOR = {"liballocator": "#d62728", "jemalloc": "#1f77b4", "mimalloc": "#2ca02c",
         "tcmalloc": "#9467bd", "glibc": "#7f7f7f"}
VARIANT_COLORS = ["#ff9896", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
CAP = 4.0  # the axis ends at 4x the best


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = list(csv.DictReader(open(sys.argv[1])))
    workloads, allocs, val = [], [], {}
    for r in rows:
        if r["workload"] not in workloads:
            workloads.append(r["workload"])
        if r["allocator"] not in allocs:
            allocs.append(r["allocator"])
        if r["time_s"]:
            val[(r["workload"], r["allocator"])] = (float(r["time_s"]), float(r["peak_rss_kib"]))
    variants = [a for a in allocs if a not in ORDER]
    for i, a in enumerate(variants):
        COLOR[a] = VARIANT_COLORS[i % len(VARIANT_COLORS)]
    allocs = [a for a in ORDER if a in allocs] + variants

    bar, gap, label_w, panel_w, top = 6, 10, 120, 330, 60
    group_h = bar * len(allocs) + gap
    height = top + group_h * len(workloads) + 40
    width = label_w + 2 * panel_w + 70
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="18" font-size="14" font-weight="bold">liballocator and peers: '
           'relative to the best allocator per workload (1.0 = best, shorter is better)</text>'
           % 10]
    # Legend.
    x = 10
    for a in allocs:
        svg.append('<rect x="%d" y="28" width="10" height="10" fill="%s"/>' % (x, COLOR[a]))
        svg.append('<text x="%d" y="37">%s</text>' % (x + 14, a))
        x += 18 + 7 * len(a) + 14

    for p, (title, idx) in enumerate([("wall time / fastest", 0), ("peak RSS / smallest", 1)]):
        x0 = label_w + p * (panel_w + 35)
        scale = (panel_w - 30) / CAP
        svg.append('<text x="%d" y="%d" font-weight="bold">%s</text>' % (x0, top - 6, title))
        for t in [1, 2, 3, 4]:
            gx = x0 + t * scale
            svg.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" '
                       'stroke-width="%s"/>' % (gx, top, gx, height - 30,
                                                "#444" if t == 1 else "#ddd",
                                                "1" if t == 1 else "0.7"))
            svg.append('<text x="%.1f" y="%d" text-anchor="middle">%dx</text>'
                       % (gx, height - 16, t))
        svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444"/>'
                   % (x0, top, x0, height - 30))
        for i, w in enumerate(workloads):
            y = top + i * group_h
            if p == 0:
                svg.append('<text x="%d" y="%d" text-anchor="end">%s</text>'
                           % (label_w - 6, y + group_h / 2 + 2, escape(w)))
            vals = [val[(w, a)][idx] for a in allocs if (w, a) in val and a not in variants]
            best = min(vals) if vals else None
            prev_clipped = False
            for j, a in enumerate(allocs):
                if (w, a) not in val or not best:
                    continue
                r = val[(w, a)][idx] / best
                length = min(r, CAP) * scale
                by = y + j * bar
                svg.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s">'
                           '<title>%s %s: %.2fx</title></rect>'
                           % (x0, by, length, bar - 1, COLOR[a], escape(w), a, r))
                if r > CAP:
                    # Clipped: print the value, moved right when the bar above was clipped too.
                    shift = 24 if prev_clipped else 0
                    svg.append('<text x="%.1f" y="%d" font-size="8">%.1fx</text>'
                               % (x0 + length + 2 + shift, by + bar, r))
                prev_clipped = r > CAP and not prev_clipped
    svg.append("</svg>")
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
