# SPDX-License-Identifier: BSD-2-Clause
"""Summarises a benchmark run of bench/run.sh (standard library only).

    python3 report.py RESULTS_DIR

Reads RESULTS_DIR/raw.csv (one row per run), meta.txt and instructions.csv; prints a Markdown
report on standard output and writes RESULTS_DIR/results.csv (medians and ratios per workload
and allocator).  Ratios are liballocator / peer: below 1 means liballocator is faster (or
smaller).  Runs that failed are left out of the medians and listed.

Allocators not in ORDER are liballocator under another MALLOC_CONF (run.sh --variant, e.g.
"liballocator[nodecay]") or another build of it (run.sh --build): each gets its columns and ratios after the peers', but is never a peer
(the best-peer figures leave the variants out).
"""
import csv
import math
import os
import statistics
import sys

ORDER = ["liballocator", "jemalloc", "mimalloc", "tcmalloc", "glibc"]
SHORT = {"liballocator": "lib", "jemalloc": "je", "mimalloc": "mi", "tcmalloc": "tc",
         "glibc": "glibc"}
LIB = "liballocator"


def short(a):
    return SHORT.get(a) or a.replace(LIB, SHORT[LIB], 1)


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else float("nan")


def fmt_time(t):
    if t is None:
        return "FAIL"
    return "%.3f" % t if t < 10 else "%.2f" % t


def fmt_ratio(r):
    return "-" if r is None or math.isnan(r) else "%.2f" % r


def fmt_mib(kib):
    return "FAIL" if kib is None else "%.1f" % (kib / 1024.0)


def table(header, rows, align=None):
    out = ["| " + " | ".join(header) + " |"]
    align = align or (["l"] + ["r"] * (len(header) - 1))
    out.append("|" + "|".join(":--" if a == "l" else "--:" for a in align) + "|")
    for r in rows:
        out.append("| " + " | ".join(r) + " |")
    return "\n".join(out)


def read_meta(path):
    meta, notes = {}, []
    if os.path.exists(path):
        for line in open(path):
            k, _, v = line.rstrip("\n").partition("=")
            if k == "note":
                notes.append(v)
            elif k in ("variant", "build"):
                meta.setdefault("variants", []).append(v)
            else:
                meta[k] = v
    return meta, notes


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    res = sys.argv[1]
    meta, notes = read_meta(os.path.join(res, "meta.txt"))
    rows = list(csv.DictReader(open(os.path.join(res, "raw.csv"))))

    workloads, present, seen = [], set(), []
    runs, failed = {}, {}
    for r in rows:
        w, a = r["workload"], r["allocator"]
        if w not in workloads:
            workloads.append(w)
        present.add(a)
        if a not in seen:
            seen.append(a)
        if r["status"] == "ok" and r["time_s"]:
            runs.setdefault((w, a), []).append(r)
        else:
            failed.setdefault((w, a), []).append(r["status"] or "missing")
    allocs = [a for a in ORDER if a in present]
    peers = [a for a in allocs if a != LIB]
    variants = [a for a in seen if a not in ORDER]
    allocs += variants
    others = peers + variants  # the allocators liballocator gets a ratio to
    # A run of liballocator against its variants alone has no peer: no "best peer" figures.
    show_best = bool(peers) or not variants

    def if_best(cells):
        return cells if show_best else []

    med = {}
    for key, rs in runs.items():
        times = [float(r["time_s"]) for r in rs]
        extra = [float(r["extra_value"]) for r in rs if r["extra_value"]]
        med[key] = {
            "n": len(rs),
            "time": statistics.median(times),
            "tmin": min(times),
            "tmax": max(times),
            "rss": statistics.median(float(r["peak_rss_kib"]) for r in rs),
            "cpu": statistics.median(float(r["user_s"]) + float(r["sys_s"]) for r in rs),
            "extra_name": rs[0]["extra_name"] if extra else "",
            "extra": statistics.median(extra) if extra else None,
        }

    # Paired ratios: liballocator's time over a peer's in the same round of runs (they ran back
    # to back), median over rounds.  Drifts in machine speed between rounds cancel out.
    by_run = {}
    for (w, a), rs in runs.items():
        for r in rs:
            by_run.setdefault((w, r["run"]), {})[a] = float(r["time_s"])

    def paired(w, a):
        xs = []
        for (w2, _), ts in by_run.items():
            if w2 != w or LIB not in ts:
                continue
            if a is None:
                peer = [ts[p] for p in peers if p in ts]
                if peer:
                    xs.append(ts[LIB] / min(peer))
            elif a in ts:
                xs.append(ts[LIB] / ts[a])
        return statistics.median(xs) if xs else None

    def get(w, a, f):
        m = med.get((w, a))
        return m[f] if m else None

    def ratio(w, a, f):
        x, y = get(w, LIB, f), get(w, a, f)
        return x / y if x and y else None

    def best_peer(w, f):
        vals = [get(w, a, f) for a in peers if get(w, a, f)]
        return min(vals) if vals else None

    def ratio_best(w, f):
        x, b = get(w, LIB, f), best_peer(w, f)
        return x / b if x and b else None

    # results.csv
    with open(os.path.join(res, "results.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["workload", "allocator", "runs_ok", "runs_failed", "time_s", "time_min_s",
                      "time_max_s", "peak_rss_kib", "cpu_s", "extra_name", "extra_value",
                      "time_ratio_lib_over", "rss_ratio_lib_over"])
        for w in workloads:
            for a in allocs:
                m = med.get((w, a))
                nf = len(failed.get((w, a), []))
                if not m:
                    out.writerow([w, a, 0, nf] + [""] * 9)
                    continue
                out.writerow([w, a, m["n"], nf, "%.4f" % m["time"], "%.4f" % m["tmin"],
                              "%.4f" % m["tmax"], "%.0f" % m["rss"], "%.3f" % m["cpu"],
                              m["extra_name"], "" if m["extra"] is None else "%.0f" % m["extra"],
                              fmt_ratio(ratio(w, a, "time")), fmt_ratio(ratio(w, a, "rss"))])

    p = print
    p("# liballocator benchmark report\n")
    p("- date: %s; command: `%s`; runs per workload and allocator: %s%s" % (
        meta.get("date", "?"), meta.get("command", "?"), meta.get("runs", "?"),
        " (quick mode)" if meta.get("quick") == "1" else ""))
    p("- machine: %s CPUs, %s, %s MiB, %s, %s" % (
        meta.get("nproc", "?"), meta.get("cpu", "?"), meta.get("memory_mib", "?"),
        meta.get("kernel", "?"), meta.get("os", "?")))
    p("- load average at start / end: %s / %s; suite runtime %s s" % (
        meta.get("loadavg_start", "?"), meta.get("loadavg_end", "?"), meta.get("runtime_s", "?")))
    p("- liballocator %s (git %s); jemalloc %s, mimalloc %s, tcmalloc %s, glibc %s" % (
        meta.get("liballocator", "?"), meta.get("git", "?"), meta.get("jemalloc", "?"),
        meta.get("mimalloc", "?"), meta.get("tcmalloc", "?"), meta.get("glibc", "?")))
    for v in meta.get("variants", []):
        p("- variant: %s" % v)
    for n in notes:
        p("- note: %s" % n)
    p("")

    p("## Time (median wall seconds; ratio = liballocator / peer, below 1 is better)\n")
    header = ["workload"] + [short(a) for a in allocs] + \
        ["lib/%s" % short(a) for a in others] + if_best(["lib/best"])
    trows = []
    for w in workloads:
        trows.append([w] + [fmt_time(get(w, a, "time")) for a in allocs] +
                     [fmt_ratio(ratio(w, a, "time")) for a in others] +
                     if_best([fmt_ratio(ratio_best(w, "time"))]))
    trows.append(["**geomean**"] + [""] * len(allocs) +
                 ["**%s**" % fmt_ratio(geomean([ratio(w, a, "time") for w in workloads]))
                  for a in others] +
                 if_best(["**%s**" % fmt_ratio(geomean([ratio_best(w, "time")
                                                        for w in workloads]))]))
    p(table(header, trows))
    p("")

    p("## Peak RSS (median MiB; ratio = liballocator / peer)\n")
    rrows = []
    for w in workloads:
        rrows.append([w] + [fmt_mib(get(w, a, "rss")) for a in allocs] +
                     [fmt_ratio(ratio(w, a, "rss")) for a in others] +
                     if_best([fmt_ratio(ratio_best(w, "rss"))]))
    rrows.append(["**geomean**"] + [""] * len(allocs) +
                 ["**%s**" % fmt_ratio(geomean([ratio(w, a, "rss") for w in workloads]))
                  for a in others] +
                 if_best(["**%s**" % fmt_ratio(geomean([ratio_best(w, "rss")
                                                        for w in workloads]))]))
    p(table(header, rrows))
    p("")

    extra_ws = [w for w in workloads if any(get(w, a, "extra") is not None for a in allocs)]
    if extra_ws:
        p("## Other figures (medians)\n")
        erows = []
        for w in extra_ws:
            name = next(get(w, a, "extra_name") for a in allocs if get(w, a, "extra") is not None)
            vals = []
            for a in allocs:
                v = get(w, a, "extra")
                if v is None:
                    vals.append("-")
                elif name.endswith("_kib"):
                    vals.append("%.1f MiB" % (v / 1024.0))
                else:
                    vals.append("%.0f" % v)
            erows.append(["%s: %s" % (w, name.replace("_kib", ""))] + vals)
        p(table(["figure"] + [short(a) for a in allocs], erows))
        p("")

    families = []
    for w in workloads:
        base, _, t = w.rpartition("_t")
        if base and t.isdigit() and base not in families:
            families.append(base)
    if families:
        p("## Thread scaling (median wall seconds for the same total work; "
          "speedup = t1 / tN)\n")
        srows = []
        for fam in families:
            ts = sorted(int(w.rpartition("_t")[2]) for w in workloads
                        if w.rpartition("_t")[0] == fam)
            for a in allocs:
                times = [get("%s_t%d" % (fam, t), a, "time") for t in ts]
                row = ["%s %s" % (fam, short(a))] + [fmt_time(x) for x in times]
                row += ["%.2f" % (times[0] / x) if times[0] and x else "-" for x in times[1:]]
                srows.append(row)
        p(table(["workload"] + ["%d thr" % t for t in ts] +
                ["speedup %d" % t for t in ts[1:]], srows))
        p("")

    ipath = os.path.join(res, "instructions.csv")
    irows = list(csv.DictReader(open(ipath))) if os.path.exists(ipath) else []
    if irows:
        sizes = []
        per = {}
        for r in irows:
            size = r.get("size") or "64"
            if size not in sizes:
                sizes.append(size)
            per[(r["allocator"], size)] = r["per_pair"]
        names = []
        for r in irows:
            if r["allocator"] not in names:
                names.append(r["allocator"])
        p("## Instructions per malloc/free pair (callgrind, (I(2N) - I(N)) / N, N = %s, one "
          "block of the size kept live; includes the loop and two PLT calls)\n" % irows[0]["n"])
        p(table(["allocator"] + ["%s B" % s for s in sizes],
                [[a] + [per.get((a, s), "-") for s in sizes] for a in names]))
        p("")

    # Every allocator against the others, in the form of issue 15's table: geomeans of each
    # one's time and peak RSS relative to jemalloc, and relative to the best of the *other*
    # allocators on each workload (variants and builds of liballocator are measured against the
    # peers only, never against liballocator or each other).
    main_allocs = [a for a in ORDER if a in present]
    cols = main_allocs + variants

    def rel_best(w, a, f):
        if a in variants:
            rivals = peers
        else:
            rivals = [b for b in main_allocs if b != a]
        x = get(w, a, f)
        vals = [get(w, b, f) for b in rivals if get(w, b, f)]
        return x / min(vals) if x and vals else None

    if len(main_allocs) > 1:
        p("## All allocators (geometric means over the workloads)\n")
        arows = []
        if "jemalloc" in present:
            for f, label in (("time", "time, relative to jemalloc"),
                             ("rss", "peak RSS, relative to jemalloc")):
                arows.append([label] + [fmt_ratio(geomean(
                    [get(w, a, f) / get(w, "jemalloc", f) for w in workloads
                     if get(w, a, f) and get(w, "jemalloc", f)])) for a in cols])
        for f, label in (("time", "time / the best other allocator on each workload"),
                         ("rss", "peak RSS / the best other on each workload")):
            arows.append([label] + [fmt_ratio(geomean([rel_best(w, a, f) for w in workloads]))
                                    for a in cols])
        for f, label in (("time", "workloads above 1.15x the best other: time"),
                         ("rss", "workloads above 1.15x the best other: peak RSS")):
            arows.append([label] + ["%d" % sum(1 for w in workloads
                                               if (rel_best(w, a, f) or 0) > 1.15)
                                    for a in cols])
        p(table(["geomean over workloads"] + [short(a) for a in cols], arows))
        p("")

    p("## Summary\n")
    sm = []
    for a in others:
        sm.append(["vs %s" % a] + [fmt_ratio(geomean([ratio(w, a, f) for w in workloads]))
                                   for f in ("time", "cpu")] +
                  [fmt_ratio(geomean([paired(w, a) for w in workloads]))] +
                  [fmt_ratio(geomean([ratio(w, a, "rss") for w in workloads]))])
    if show_best:
        sm.append(["vs best peer per workload"] +
                  [fmt_ratio(geomean([ratio_best(w, f) for w in workloads]))
                   for f in ("time", "cpu")] +
                  [fmt_ratio(geomean([paired(w, None) for w in workloads]))] +
                  [fmt_ratio(geomean([ratio_best(w, "rss") for w in workloads]))])
    p(table(["liballocator", "wall time", "CPU time", "wall time, paired",
             "peak RSS"], sm))
    p("")
    p("Geometric means over the %d workloads of liballocator / peer (below 1: liballocator is "
      "faster or smaller).  Wall time and CPU time (user + system) are ratios of medians; "
      "\"paired\" is the median over rounds of the ratio between runs made back to back, which "
      "cancels drifts in the speed of a shared machine.  \"Best peer\" is, per workload, the "
      "fastest (smallest) of the peers." % len(workloads))
    p("")
    fastest = [w for w in workloads if get(w, LIB, "time") and best_peer(w, "time") and
               get(w, LIB, "time") <= best_peer(w, "time")]
    if show_best:
        p("liballocator is fastest of all in %d of %d workloads%s." % (
            len(fastest), len(workloads), (": " + ", ".join(fastest)) if fastest else ""))
    worst = sorted((ratio_best(w, "time"), w) for w in workloads if ratio_best(w, "time"))
    if worst:
        p("Largest time gaps to the best peer: %s." % ", ".join(
            "%s %.2fx" % (w, r) for r, w in reversed(worst[-5:]) if r > 1))
    worst = sorted((ratio_best(w, "rss"), w) for w in workloads if ratio_best(w, "rss"))
    if worst:
        p("Largest peak-RSS gaps to the best peer: %s." % ", ".join(
            "%s %.2fx" % (w, r) for r, w in reversed(worst[-5:]) if r > 1))
    spreads = [(get(w, LIB, "tmax") - get(w, LIB, "tmin")) / get(w, LIB, "time")
               for w in workloads if get(w, LIB, "time")]
    if spreads and meta.get("runs", "1") != "1":
        p("Run-to-run spread of liballocator's times ((max - min) / median): median %.0f%%, "
          "largest %.0f%%." % (100 * statistics.median(spreads), 100 * max(spreads)))
    if failed:
        p("")
        p("Failed runs (left out of the medians): %s." % "; ".join(
            "%s [%s]: %s" % (w, a, ", ".join(sorted(set(st))))
            for (w, a), st in sorted(failed.items())))


if __name__ == "__main__":
    main()
