# SPDX-License-Identifier: BSD-2-Clause
"""RSS over time (issue 4's benchmark): how much memory each allocator gives back, and when.

    python3 bench/rss_time.py [--lib PATH] [--out DIR] [--allocators LIST] [--variant NAME=CONF]
                              [--no-bgthread] [--jobs N] [--quick] [--mib N] [--threads N]
                              [--churn S] [--rate MIB_S] [--idle S] [--wake S] [--interval S]

Builds bench/rss_time.c (the workload: build ~1 GiB of mixed sizes over 4 threads, free 90% in
random order across threads, churn slowly, idle, wake; its header says more), then runs it once
per series, sampling the process's resident set from outside (/proc/PID/statm) every 100 ms.
The series are liballocator (through LD_PRELOAD), jemalloc, mimalloc, tcmalloc, glibc (nothing
preloaded), and liballocator and jemalloc again with MALLOC_CONF=background_thread:true (the
"[bgthread]" series; an allocator that does not know the option warns on standard error and runs
without it).  MALLOC_CONF is cleared for every other series.  Writes to bench/results/rss_time/
(or --out):

    samples.csv   allocator, t_seconds, rss_kib, phase: every sample (t from the launch)
    phases.csv    the program's phase markers: when each phase began, live bytes, its own RSS
    summary.csv   the table below, one row per series
    report.md     the printed table and notes
    rss_time.svg  RSS (MiB) against time, one line per series, phases marked (bench/rss_plot.py)
    stderr_*.txt  each run's standard error (markers, and any warning from the allocator)
    meta.txt      machine, date, command, versions

and prints a table: per series the peak RSS (VmHWM), the RSS when the free phase ended, the RSS
after the idle phase ("final") and after the wake phase, the live bytes, final / (1.1 x live +
8 MiB) (issue 4's target: at most 1), and how long into the idle phase RSS first met that target.

Options:
  --lib PATH        liballocator to test (default: lib/liballocator.so of the tree above bench/)
  --out DIR         where the results go (default bench/results/rss_time)
  --allocators L    comma-separated subset of liballocator,jemalloc,mimalloc,tcmalloc,glibc
                    (their [bgthread] and --variant series follow their allocator)
  --variant N=CONF  one more liballocator series, "liballocator[N]", run under MALLOC_CONF=CONF
                    (repeatable), e.g. --variant nodecay=dirty_decay_ms:-1
  --no-bgthread     leave out the two background_thread:true series
  --jobs N          at most N series at a time (default 2).  A series starts only when every
                    one running has reached its idle phase, so the busy phases (build, free,
                    churn) never overlap and only the idle and wake phases share the machine;
                    --jobs 1 runs the series strictly one after another
  --quick           256 MiB, 3 s of churn: a check that everything works (idle stays 13 s)
  --mib, --threads, --churn, --rate, --idle, --wake   passed to rss_time (-m -t -c -r -i -w)
  --interval S      sampling period (default 0.1)

The seven series take about 100 s on two cores (about 175 s with --jobs 1).
"""
import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)
sys.dont_write_bytecode = True  # no __pycache__ in bench/
import rss_plot  # noqa: E402  (bench/rss_plot.py, beside this file)

ALLOCATORS = ["liballocator", "jemalloc", "mimalloc", "tcmalloc", "glibc"]
PEER_FILES = {"jemalloc": "libjemalloc.so.2", "mimalloc": "libmimalloc.so.2",
              "tcmalloc": "libtcmalloc_minimal.so.4"}
PACKAGES = {"jemalloc": "libjemalloc2", "mimalloc": "libmimalloc2.0",
            "tcmalloc": "libtcmalloc-minimal4", "glibc": "libc6"}
BG_CONF = "background_thread:true"
CFLAGS = ["-O2", "-std=gnu11", "-pthread", "-Wall", "-Wextra", "-fno-builtin-malloc",
          "-fno-builtin-calloc", "-fno-builtin-realloc", "-fno-builtin-free"]
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024
TARGET_SLACK_KIB = 8 * 1024  # issue 4: RSS within 1.1 x live + 8 MiB


def say(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_args():
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("-h", "--help", action="store_true")
    ap.add_argument("--lib", default=os.path.join(TOP, "lib", "liballocator.so"))
    ap.add_argument("--out", default=os.path.join(BENCH, "results", "rss_time"))
    ap.add_argument("--allocators", default=",".join(ALLOCATORS))
    ap.add_argument("--variant", action="append", default=[])
    ap.add_argument("--no-bgthread", action="store_true")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--mib", type=float)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--churn", type=float)
    ap.add_argument("--rate", type=float)
    ap.add_argument("--idle", type=float)
    ap.add_argument("--wake", type=float)
    ap.add_argument("--interval", type=float, default=0.1)
    args = ap.parse_args()
    if args.help:
        print(__doc__.strip())
        sys.exit(0)
    if args.quick:
        args.mib = args.mib or 256
        args.churn = 3 if args.churn is None else args.churn
    if args.jobs < 1 or args.interval <= 0:
        ap.error("--jobs and --interval must be positive")
    return args


def find_series(args):
    """[(label, allocator, preload path or '', MALLOC_CONF or None)] and notes on what is missing."""
    multiarch = subprocess.run(["cc", "-print-multiarch"], capture_output=True,
                               text=True).stdout.strip() or "x86_64-linux-gnu"
    paths = {"liballocator": args.lib, "glibc": ""}
    for a, f in PEER_FILES.items():
        paths[a] = os.path.join("/usr/lib", multiarch, f)
    wanted = [a.strip() for a in args.allocators.split(",") if a.strip()]
    for a in wanted:
        if a not in ALLOCATORS:
            sys.exit("rss_time.py: unknown allocator %s (one of %s)" % (a, ",".join(ALLOCATORS)))
    notes, present = [], []
    for a in ALLOCATORS:
        if a not in wanted:
            continue
        if paths[a] and not os.path.exists(paths[a]) and a != "liballocator":
            notes.append("%s left out: %s missing (apt-get install %s)" % (
                a, paths[a], PACKAGES.get(a, "?")))
            say("rss_time.py: " + notes[-1])
            continue
        present.append(a)
    series = [(a, a, paths[a], None) for a in present]
    if not args.no_bgthread:
        for a in ("liballocator", "jemalloc"):
            if a in present:
                series.append(("%s[bgthread]" % a, a, paths[a], BG_CONF))
    for v in args.variant:
        name, sep, conf = v.partition("=")
        if not sep or not name or not conf:
            sys.exit("rss_time.py: --variant wants NAME=CONF, got %r" % v)
        if "liballocator" in present:
            series.append(("liballocator[%s]" % name, "liballocator", paths["liballocator"],
                           conf))
    return series, notes


def build_program(work):
    """Compiles rss_time.c into bench/bin/ when the binary is missing or older than the source."""
    src = os.path.join(BENCH, "rss_time.c")
    binary = os.path.join(BENCH, "bin", "rss_time")
    os.makedirs(os.path.dirname(binary), exist_ok=True)
    if not os.path.exists(binary) or os.path.getmtime(src) > os.path.getmtime(binary):
        cc = os.environ.get("CC", "cc").split()
        tmp = os.path.join(work, "rss_time")
        subprocess.run(cc + CFLAGS + ["-o", tmp, src], check=True)
        shutil.move(tmp, binary)
    return binary


def program_args(args):
    out = []
    for flag, value in (("-m", args.mib), ("-t", args.threads), ("-c", args.churn),
                        ("-r", args.rate), ("-i", args.idle), ("-w", args.wake)):
        if value is not None:
            out += [flag, "%g" % value]
    return out


def read_rss_kib(pid):
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * PAGE_KIB
    except (OSError, IndexError, ValueError):
        return None


def read_markers(path):
    markers = []
    if os.path.exists(path):
        for line in open(path):
            w = line.split()
            if len(w) >= 2 and w[0] == "phase":
                m = {"phase": w[1]}
                for k, v in zip(w[2::2], w[3::2]):
                    m[k] = float(v)
                markers.append(m)
    return markers


class Run:
    """One series: the process, its samples (monotonic time, RSS KiB) and, at the end, its
    markers and exit status."""

    def __init__(self, label, alloc, preload, conf, binary, pargs, work, out):
        self.label, self.alloc, self.conf = label, alloc, conf
        slug = label.replace("[", "_").replace("]", "")
        self.phase_file = os.path.join(work, "phases_%s.txt" % slug)
        self.err_path = os.path.join(out, "stderr_%s.txt" % slug)
        env = dict(os.environ)
        env.pop("MALLOC_CONF", None)
        env.pop("LD_PRELOAD", None)
        if preload:
            env["LD_PRELOAD"] = preload
        if conf is not None:
            env["MALLOC_CONF"] = conf
        self.err = open(self.err_path, "w")
        self.start = time.monotonic()
        self.proc = subprocess.Popen([binary, "-p", self.phase_file] + pargs, env=env,
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        self.samples = []
        self.status = None
        self.markers = []
        self.idle = False

    def idling(self):
        """Whether the program has announced its idle phase (or ended)."""
        if not self.idle:
            self.idle = self.status is not None or any(
                m["phase"] in ("idle", "wake", "end") for m in read_markers(self.phase_file))
        return self.idle

    def sample(self):
        """Takes one sample; returns False once the process has ended."""
        if self.proc.poll() is not None:
            self.finish()
            return False
        rss = read_rss_kib(self.proc.pid)
        if rss:  # a process that has just exited reads as 0
            self.samples.append((time.monotonic(), rss))
        return True

    def finish(self):
        self.err.close()
        rc = self.proc.returncode
        self.status = "ok" if rc == 0 else ("signal:%d" % -rc if rc < 0 else "exit:%d" % rc)
        self.markers = read_markers(self.phase_file)


def run_all(series, binary, pargs, work, out, jobs, interval):
    queue = list(series)
    active, done = [], []
    total = len(series)
    tick = time.monotonic()
    while queue or active:
        while queue and len(active) < jobs and all(r.idling() for r in active):
            label, alloc, preload, conf = queue.pop(0)
            say("rss_time.py: [%d/%d] %s%s" % (total - len(queue), total, label,
                                                 " (MALLOC_CONF=%s)" % conf if conf else ""))
            active.append(Run(label, alloc, preload, conf, binary, pargs, work, out))
        for r in list(active):
            if not r.sample():
                active.remove(r)
                done.append(r)
                if r.status != "ok":
                    say("rss_time.py: %s: %s (see %s)" % (r.label, r.status, r.err_path))
        tick += interval
        delay = tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        else:
            tick = time.monotonic()  # fell behind (busy machine): do not try to catch up
    order = [s[0] for s in series]
    return sorted(done, key=lambda r: order.index(r.label))


def phase_at(markers, mono):
    name = "start"
    for m in markers:
        if m["mono_s"] <= mono:
            name = m["phase"] if m["phase"] != "end" else "exit"
    return name


def summarise(r):
    """One row of the table for a finished run (None where the run did not get that far)."""
    by = {m["phase"]: m for m in r.markers}
    idle = by.get("idle")
    after_idle = by.get("wake") or by.get("end")
    live_kib = idle["live_bytes"] / 1024 if idle else None
    target_kib = 1.1 * live_kib + TARGET_SLACK_KIB if live_kib is not None else None
    peak = max([s[1] for s in r.samples] + [m.get("hwm_kib", 0) for m in r.markers] or [0])
    final = after_idle["rss_kib"] if after_idle and idle else None
    to_target = None
    if idle and after_idle and target_kib:
        for mono, rss in r.samples:
            if idle["mono_s"] <= mono <= after_idle["mono_s"] and rss <= target_kib:
                to_target = mono - idle["mono_s"]
                break
    return {
        "allocator": r.label,
        "status": r.status,
        "malloc_conf": r.conf or "",
        "peak_kib": peak or None,
        "after_free_kib": by["churn"]["rss_kib"] if "churn" in by else None,
        "after_churn_kib": idle["rss_kib"] if idle else None,
        "final_kib": final,
        "after_wake_kib": by["end"]["rss_kib"] if "end" in by and "wake" in by else None,
        "built_kib": by["free"]["live_bytes"] / 1024 if "free" in by else None,
        "live_kib": live_kib,
        "target_kib": target_kib,
        "final_over_target": final / target_kib if final and target_kib else None,
        "idle_s_to_target": to_target,
    }


def mib(kib):
    return "-" if kib is None else "%.0f" % (kib / 1024)


def table(rows):
    head = ["allocator", "peak", "after free", "final (idle)", "after wake", "live",
            "final / (1.1 live + 8)", "idle s to target"]
    out = ["| " + " | ".join(head) + " |", "|:--" + "|--:" * (len(head) - 1) + "|"]
    for s in rows:
        ratio = "-" if s["final_over_target"] is None else "%.2f" % s["final_over_target"]
        reach = "-" if s["idle_s_to_target"] is None else "%.1f" % s["idle_s_to_target"]
        if s["live_kib"] is not None and s["idle_s_to_target"] is None:
            reach = "never"
        label = s["allocator"] + ("" if s["status"] == "ok" else " (%s)" % s["status"])
        out.append("| " + " | ".join([label, mib(s["peak_kib"]), mib(s["after_free_kib"]),
                                      mib(s["final_kib"]), mib(s["after_wake_kib"]),
                                      mib(s["live_kib"]), ratio, reach]) + " |")
    return "\n".join(out)


def pkgver(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True,
                       text=True)
    return r.stdout.strip() or "?"


def write_meta(path, args, series, notes, binary_args, runtime):
    with open(path, "w") as f:
        f.write("date=%s\n" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
        f.write("command=bench/rss_time.py %s\n" % " ".join(sys.argv[1:]))
        f.write("program=rss_time %s\n" % " ".join(binary_args))
        f.write("nproc=%d\n" % os.cpu_count())
        f.write("kernel=%s\n" % os.uname().release)
        thp = "/sys/kernel/mm/transparent_hugepage/enabled"
        if os.path.exists(thp):
            f.write("thp=%s\n" % open(thp).read().strip())
        git = subprocess.run(["git", "-C", TOP, "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip()
        f.write("liballocator=%s (git %s)\n" % (args.lib, git or "?"))
        for a in ("jemalloc", "mimalloc", "tcmalloc", "glibc"):
            f.write("%s=%s\n" % (a, pkgver(PACKAGES[a])))
        f.write("series=%s\n" % ",".join(s[0] for s in series))
        f.write("loadavg_end=%s\n" % " ".join(open("/proc/loadavg").read().split()[:3]))
        f.write("runtime_s=%.0f\n" % runtime)
        for n in notes:
            f.write("note=%s\n" % n)


def main():
    args = parse_args()
    series, notes = find_series(args)
    if any(s[1] == "liballocator" for s in series) and not os.path.exists(args.lib):
        sys.exit("rss_time.py: %s not found; build first (make), or pass --lib" % args.lib)
    if not series:
        sys.exit("rss_time.py: no allocator to run")
    os.makedirs(args.out, exist_ok=True)
    t_start = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        binary = build_program(work)
        # Test one fixed copy of the library: the tree may be rebuilt while this runs.
        lib_copy = os.path.join(work, "liballocator.so")
        shutil.copy(args.lib, lib_copy)
        series = [(l, a, lib_copy if p == args.lib else p, c) for l, a, p, c in series]
        pargs = program_args(args)
        say("rss_time.py: %d series, about %d s each, overlapping in their idle phases; "
            "results in %s" % (
            len(series), 5 + (args.churn if args.churn is not None else 5) +
            (args.idle if args.idle is not None else 13) +
            (args.wake if args.wake is not None else 1), args.out))
        runs = run_all(series, binary, pargs, work, args.out, args.jobs, args.interval)

    with open(os.path.join(args.out, "samples.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["allocator", "t_seconds", "rss_kib", "phase"])
        for r in runs:
            for mono, rss in r.samples:
                # Before the first marker the program is still being loaded (or not yet exec'd);
                # after the last it is exiting.
                phase = phase_at(r.markers, mono)
                if phase not in ("start", "exit"):
                    w.writerow([r.label, "%.3f" % (mono - r.start), rss, phase])
    with open(os.path.join(args.out, "phases.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["allocator", "phase", "t_seconds", "live_bytes", "objects", "rss_kib",
                    "hwm_kib"])
        for r in runs:
            for m in r.markers:
                w.writerow([r.label, m["phase"], "%.3f" % (m["mono_s"] - r.start),
                            "%d" % m["live_bytes"], "%d" % m["objects"], "%d" % m["rss_kib"],
                            "%d" % m["hwm_kib"]])
    rows = [summarise(r) for r in runs]
    fields = list(rows[0].keys())
    with open(os.path.join(args.out, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for s in rows:
            w.writerow({k: ("" if v is None else "%.0f" % v if k.endswith("_kib") else
                            "%.3f" % v if isinstance(v, float) else v) for k, v in s.items()})

    runtime = time.monotonic() - t_start
    write_meta(os.path.join(args.out, "meta.txt"), args, series, notes, pargs, runtime)
    svg = os.path.join(args.out, "rss_time.svg")
    rss_plot.plot(os.path.join(args.out, "samples.csv"), os.path.join(args.out, "phases.csv"),
                  svg)

    live = [s["live_kib"] for s in rows if s["live_kib"] is not None]
    built = [s["built_kib"] for s in rows if s["built_kib"] is not None]
    report = ["# RSS over time\n",
              "MiB (RSS from /proc, live = bytes the program holds, requested sizes). Peak is "
              "VmHWM; \"after free\" is when the free phase ended; \"final\" is after %g s of "
              "idling with no allocator call; \"after wake\" follows 1,000 malloc/free pairs "
              "per thread. Target (issue 4): final <= 1.1 x live + 8 MiB." % (
                  args.idle if args.idle is not None else 13), ""]
    if built and live:
        report.append("Built %.0f MiB, live after the free phase and churn %.0f MiB.\n" % (
            statistics.median(built) / 1024, statistics.median(live) / 1024))
    meta = dict(l.rstrip("\n").split("=", 1) for l in open(os.path.join(args.out, "meta.txt"))
                if "=" in l and not l.startswith("note="))
    report.append("%s; %s CPUs, Linux %s, THP %s; liballocator git %s; jemalloc %s, mimalloc %s, "
                  "tcmalloc %s, glibc %s; load average at the end %s; %s s.\n" % (
                      meta.get("date"), meta.get("nproc"), meta.get("kernel"), meta.get("thp"),
                      meta.get("liballocator", "?").rpartition("git ")[2].rstrip(")"),
                      meta.get("jemalloc"), meta.get("mimalloc"), meta.get("tcmalloc"),
                      meta.get("glibc"), meta.get("loadavg_end"), meta.get("runtime_s")))
    report.append(table(rows))
    for n in notes:
        report.append("\nnote: " + n)
    warn = []
    for r in runs:
        text = open(r.err_path).read()
        lines = [l for l in text.splitlines() if l and not l.startswith("phase ")]
        if lines:
            warn.append("%s said on stderr: %s" % (r.label, lines[0][:160]))
    for w_ in warn:
        report.append("\nnote: " + w_)
    text = "\n".join(report) + "\n"
    print(text)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(text)
    say("rss_time.py: wrote %s/{samples.csv,phases.csv,summary.csv,report.md,rss_time.svg,"
        "meta.txt} in %.0f s" % (args.out, runtime))
    return 0 if all(r.status == "ok" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
