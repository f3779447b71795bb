# SPDX-License-Identifier: BSD-2-Clause
"""Draws bench/rss_time.py's samples as an SVG line chart (standard library only).

    python3 rss_plot.py SAMPLES_CSV PHASES_CSV OUT_SVG

Two panels of resident set (MiB) against time, one line per series (an allocator's variants,
such as "[bgthread]", are dashed in its colour).  Time 0 is, for each series, the end of its free
phase: build and free take each allocator a different time (and a busy machine adds its own
share), while churn, idle and wake last the same for all, so aligning there puts every series'
later phases in the same place.  The top panel shows the whole run; the lower one shows churn,
idle and wake on a logarithmic scale (powers of two), where the allocators differ.  Shaded bands are the phases (build's start
is the median over the series), dots on a line mark that series' own phase changes, and the
dashed black line is issue 4's target, 1.1 x live bytes + 8 MiB, with the live bytes dotted.
"""
import csv
import math
import statistics
import sys
from xml.sax.saxutils import escape

COLOR = {"liballocator": "#d62728", "jemalloc": "#1f77b4", "mimalloc": "#2ca02c",
         "tcmalloc": "#9467bd", "glibc": "#7f7f7f"}
EXTRA_COLORS = ["#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
DASHES = ["7,4", "2,3", "10,3,2,3"]
PHASES = ["build", "free", "churn", "idle", "wake"]
PHASE_FILL = {"build": "#f3f3f3", "free": "#ffffff", "churn": "#eef4fb", "idle": "#ffffff",
              "wake": "#f6f0fa"}


def nice_step(span, ticks):
    """A step of 1, 2 or 5 times a power of ten giving about `ticks` intervals over span."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def styles(labels):
    """A (colour, dash) per series: base allocators solid in their colour, variants dashed."""
    out, spare, variants = {}, list(EXTRA_COLORS), {}
    for label in labels:
        base = label.split("[", 1)[0]
        if base not in COLOR:
            COLOR[base] = spare.pop(0) if spare else "#000000"
        if "[" in label:
            k = variants.get(base, 0)
            variants[base] = k + 1
            out[label] = (COLOR[base], DASHES[k % len(DASHES)])
        else:
            out[label] = (COLOR[base], None)
    return out


class Panel:
    """A plotting area: x in seconds from x0 to x1; y in MiB from 0 to y1, or, when y0 is
    given, from y0 to y1 on a logarithmic scale."""

    def __init__(self, x, y, w, h, x0, x1, y1, y0=None):
        self.x, self.y, self.w, self.h = x, y, w, h
        self.x0, self.x1, self.y0, self.y1 = x0, x1, y0, y1

    def px(self, t):
        return self.x + (t - self.x0) / (self.x1 - self.x0) * self.w

    def py(self, mib):
        if self.y0 is None:
            return self.y + self.h - min(mib, self.y1) / self.y1 * self.h
        m = min(max(mib, self.y0), self.y1)
        return self.y + self.h - math.log(m / self.y0) / math.log(self.y1 / self.y0) * self.h

    def yticks(self):
        if self.y0 is None:
            step = nice_step(self.y1, 6)
            return [k * step for k in range(int(self.y1 / step + 1e-9) + 1)]
        out, v = [], self.y0
        while v <= self.y1 * (1 + 1e-9):
            out.append(v)
            v *= 2
        return out


def draw_panel(svg, p, title, series, markers, bands, target, live, style, clip_id):
    svg.append('<defs><clipPath id="%s"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>'
               '</clipPath></defs>' % (clip_id, p.x, p.y - 2, p.w, p.h + 4))
    # Phase bands, each with its name at the top.
    for name, start, end in bands:
        a, b = max(start, p.x0), min(end, p.x1)
        if b <= a:
            continue
        svg.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>'
                   % (p.px(a), p.y, p.px(b) - p.px(a), p.h, PHASE_FILL.get(name, "#ffffff")))
        svg.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#999" '
                   'stroke-dasharray="3,3"/>' % (p.px(a), p.y, p.px(a), p.y + p.h))
        if p.px(b) - p.px(a) > 24:
            svg.append('<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%s</text>'
                       % ((p.px(a) + p.px(b)) / 2, p.y + 12, name))
    # Grid and axes.
    for v in p.yticks():
        y = p.py(v)
        svg.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e0e0e0"/>'
                   % (p.x, y, p.x + p.w, y))
        svg.append('<text x="%.1f" y="%.1f" text-anchor="end">%g</text>' % (p.x - 5, y + 4, v))
    xstep = nice_step(p.x1 - p.x0, 12)
    t = math.ceil(p.x0 / xstep) * xstep
    while t <= p.x1 + 1e-9:
        x = p.px(t)
        svg.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#444"/>'
                   % (x, p.y + p.h, x, p.y + p.h + 4))
        svg.append('<text x="%.1f" y="%.1f" text-anchor="middle">%g</text>'
                   % (x, p.y + p.h + 16, t))
        t += xstep
    svg.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="none" stroke="#444"/>'
               % (p.x, p.y, p.w, p.h))
    svg.append('<text x="%.1f" y="%.1f" font-weight="bold">%s</text>'
               % (p.x, p.y - 8, escape(title)))
    svg.append('<text x="%.1f" y="%.1f" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">'
               'RSS (MiB)</text>' % (p.x - 42, p.y + p.h / 2, p.x - 42, p.y + p.h / 2))
    svg.append('<text x="%.1f" y="%.1f" text-anchor="middle">seconds from the end of the free '
               'phase</text>' % (p.x + p.w / 2, p.y + p.h + 32))
    # Target and live bytes.
    if target is not None and target <= p.y1 and (p.y0 is None or target >= p.y0):
        y = p.py(target)
        svg.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000" '
                   'stroke-dasharray="8,4" stroke-width="1.2"/>' % (p.x, y, p.x + p.w, y))
        svg.append('<text x="%.1f" y="%.1f" text-anchor="end">target %.0f MiB</text>'
                   % (p.x + p.w - 4, y - 4, target))
    if live is not None and live <= p.y1 and (p.y0 is None or live >= p.y0):
        y = p.py(live)
        svg.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#000" '
                   'stroke-dasharray="1,3"/>' % (p.x, y, p.x + p.w, y))
        svg.append('<text x="%.1f" y="%.1f" text-anchor="end">live %.0f MiB</text>'
                   % (p.x + p.w - 4, y + 13, live))
    # The lines, then each series' own phase changes as dots.
    svg.append('<g clip-path="url(#%s)">' % clip_id)
    for label, pts in series.items():
        color, dash = style[label]
        coords = " ".join("%.1f,%.1f" % (p.px(t), p.py(m)) for t, m in pts
                          if p.x0 <= t <= p.x1)
        if not coords:
            continue
        svg.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="1.6"%s>'
                   '<title>%s</title></polyline>'
                   % (coords, color, ' stroke-dasharray="%s"' % dash if dash else "",
                      escape(label)))
        for t in markers.get(label, []):
            if p.x0 <= t <= p.x1 and pts:
                m = min(pts, key=lambda s: abs(s[0] - t))[1]
                svg.append('<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>'
                           % (p.px(t), p.py(m), color))
    svg.append("</g>")


def plot(samples_csv, phases_csv, out_svg):
    phases = list(csv.DictReader(open(phases_csv)))
    zero = {r["allocator"]: float(r["t_seconds"]) for r in phases if r["phase"] == "churn"}
    series = {}
    for r in csv.DictReader(open(samples_csv)):
        a = r["allocator"]
        series.setdefault(a, []).append(
            (float(r["t_seconds"]) - zero.get(a, 0.0), int(r["rss_kib"]) / 1024.0))
    starts, markers, live_at_idle = {}, {}, []
    for r in phases:
        t = float(r["t_seconds"]) - zero.get(r["allocator"], 0.0)
        starts.setdefault(r["phase"], []).append(t)
        if r["phase"] in PHASES[1:] + ["end"]:
            markers.setdefault(r["allocator"], []).append(t)
        if r["phase"] == "idle":
            live_at_idle.append(int(r["live_bytes"]) / 1048576.0)
    if not series:
        sys.exit("rss_plot.py: no samples in %s" % samples_csv)
    style = styles(list(series))
    t_begin = min(pts[0][0] for pts in series.values() if pts)
    t_end = max(pts[-1][0] for pts in series.values() if pts)
    med = {k: statistics.median(v) for k, v in starts.items()}
    bands = []
    names = [n for n in PHASES if n in med]
    for i, n in enumerate(names):
        end = med[names[i + 1]] if i + 1 < len(names) else med.get("end", t_end)
        bands.append((n, med[n], end))
    live = statistics.median(live_at_idle) if live_at_idle else None
    target = 1.1 * live + 8 if live is not None else None

    width, left, right_legend = 980, 70, 200
    plot_w = width - left - right_legend - 20
    top_h, low_h = 300, 240
    height = 50 + top_h + 60 + low_h + 50
    peak = max(m for pts in series.values() for _, m in pts)
    y1_top = nice_step(peak * 1.05, 6) * math.ceil(peak * 1.05 / nice_step(peak * 1.05, 6))
    z0 = -1.0
    later = [m for pts in series.values() for t, m in pts if t >= 0.5]
    # The lower panel is logarithmic, in powers of two from below the live bytes (or the
    # lowest sample) to above the highest sample, so 100 MiB and 1 GiB both read well.
    lowest = min(later + [live or peak]) if later else peak
    y0_low = 2.0 ** math.floor(math.log2(max(lowest * 0.9, 1.0)))
    y1_low = 2.0 ** math.ceil(math.log2(max(later + [target or 0]) * 1.05 if later else peak))

    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="11">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="10" y="20" font-size="14" font-weight="bold">Resident set over time: '
           'build, free 90%, churn, idle, wake (bench/rss_time.py)</text>']
    top = Panel(left, 50, plot_w, top_h, min(t_begin, med.get("build", 0.0)), t_end, y1_top)
    draw_panel(svg, top, "whole run", series, markers, bands, target, None, style, "clip_top")
    low = Panel(left, 50 + top_h + 60, plot_w, low_h, z0, t_end, y1_low, y0_low)
    draw_panel(svg, low, "from the end of the free phase, logarithmic scale", series, markers,
               bands,
               target, live, style, "clip_low")

    # Legend, right of the panels.
    lx, ly = left + plot_w + 20, 60
    for i, label in enumerate(series):
        color, dash = style[label]
        y = ly + i * 18
        svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>'
                   % (lx, y, lx + 26, y, color,
                      ' stroke-dasharray="%s"' % dash if dash else ""))
        svg.append('<text x="%d" y="%d">%s</text>' % (lx + 32, y + 4, escape(label)))
    y = ly + len(series) * 18 + 10
    svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#000" stroke-dasharray="8,4"/>'
               % (lx, y, lx + 26, y))
    svg.append('<text x="%d" y="%d">1.1 x live + 8 MiB</text>' % (lx + 32, y + 4))
    y += 18
    svg.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#000" stroke-dasharray="1,3"/>'
               % (lx, y, lx + 26, y))
    svg.append('<text x="%d" y="%d">live bytes</text>' % (lx + 32, y + 4))
    y += 18
    svg.append('<circle cx="%d" cy="%d" r="2.5" fill="#444"/>' % (lx + 13, y))
    svg.append('<text x="%d" y="%d">phase change</text>' % (lx + 32, y + 4))
    svg.append("</svg>")
    with open(out_svg, "w") as f:
        f.write("\n".join(svg) + "\n")


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    plot(sys.argv[1], sys.argv[2], sys.argv[3])


if __name__ == "__main__":
    main()
