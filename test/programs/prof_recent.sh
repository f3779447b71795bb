#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The last-N records through the public interface, with every allocation sampled
# (lg_prof_sample:0); prof_recent_prog.c says what the program does.
#   - records: with prof_recent_alloc_max:20 (and :-1), the dump parses as JSON (python3's json),
#     has jemalloc 5.3's members in jemalloc's order, and holds exactly the last 20 planted
#     allocations (all 100 of them, last, when unlimited), oldest first, each with its size, a
#     usable size at least as large, the right release state, the allocating stack (starting in
#     alloc_site: no allocator frame above the program's call) and, once freed, the freeing
#     thread and stack (starting in free_site in the allocating thread, thread_free_site in
#     another, whose uid differs), and both threads' names;
#   - progress: ten dumps of 10,000 records while another thread allocates: each dump holds the
#     10,000 records and takes several batches; in the first five the allocating thread moves
#     between every two batches (the program waits for it, up to 60 s). The longest malloc or
#     free of that thread during the last five dumps, and during idle windows as long, is
#     printed (a figure for the record, not checked).
. "$(dirname "$0")/common.bash"

CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"
PYTHON=$(find_python)
[ -n "$PYTHON" ] || skip "python3 is not installed"
need_tool nm binutils

d=$TEST_TMPDIR
prog=$d/prof_recent_prog
"$CC" -O1 -g -fno-omit-frame-pointer -fno-optimize-sibling-calls -pthread \
    -I"$TOP_SRCDIR/include" -o "$prog" "$TOP_SRCDIR/test/programs/prof_recent_prog.c" \
    -L"$TOP_BUILDDIR/lib" -lallocator -Wl,-rpath,"$TOP_BUILDDIR/lib" ||
    fail "building prof_recent_prog"

check_records() { # MAX M
    local max=$1 m=$2 out=$d/rec_$1 status
    MALLOC_CONF=prof:true,lg_prof_sample:0,prof_recent_alloc_max:$max "$prog" records "$m" "$out"
    status=$?
    [ $status -eq 77 ] && skip "profiling is not built"
    [ $status -eq 0 ] || fail "prof_recent_prog records $m (max $max) exited with $status"
    "$PYTHON" - "$out.json" "$out.txt" "$prog" "$max" "$m" <<'PY' || fail "records (max $max): the dump is wrong"
import json, re, subprocess, sys
path, facts, prog, cap, m = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
bad = []
def problem(s):
    bad.append(s)
with open(path) as f:
    text = f.read()
d = json.loads(text)
if "\n" in text or " " in text:
    problem("the dump is not compact JSON")
if list(d) != ["sample_interval", "recent_alloc_max", "recent_alloc"]:
    problem("top-level members %s" % list(d))
if d["sample_interval"] != 1:
    problem("sample_interval %s, want 1 (lg_prof_sample:0)" % d["sample_interval"])
if d["recent_alloc_max"] != cap:
    problem("recent_alloc_max %s, want %d" % (d["recent_alloc_max"], cap))
# The functions' ranges at run time: nm's addresses and sizes, moved by the program's load bias.
sizes = {}
for line in subprocess.run(["nm", "-S", "--defined-only", prog], capture_output=True,
                           text=True, check=True).stdout.splitlines():
    f = line.split()
    if len(f) == 4:
        sizes[f[3]] = (int(f[0], 16), int(f[1], 16))
ranges = {}
for line in open(facts):
    name, addr = line.split()
    base, size = sizes[name]
    lo = int(addr, 16)
    ranges[name] = (lo, lo + size)
def first_frame_in(trace, name):
    # The innermost frame: the program's call, with no frame of the allocator above it.
    lo, hi = ranges[name]
    return len(trace) > 0 and lo < int(trace[0], 16) <= hi
recs = d["recent_alloc"]
n = m if cap < 0 else min(cap, m)
if cap >= 0 and len(recs) != n:
    problem("%d records, want %d" % (len(recs), n))
if len(recs) < n:
    print("\n".join(bad), file=sys.stderr); sys.exit(1)
recs = recs[len(recs) - n:]
alloc_keys = ["size", "usize", "released", "alloc_thread_uid", "alloc_thread_name", "alloc_time",
              "alloc_trace"]
dalloc_keys = ["dalloc_thread_uid", "dalloc_thread_name", "dalloc_time", "dalloc_trace"]
main_uid = recs[0]["alloc_thread_uid"]
for k, r in enumerate(recs):
    i = m - n + k
    want_released = i % 3 != 2
    keys = alloc_keys + (dalloc_keys if want_released else [])
    if list(r) != keys:
        problem("record %d (planted %d): members %s, want %s" % (k, i, list(r), keys))
        continue
    if r["size"] != 1000 + i or r["usize"] < r["size"]:
        problem("record %d: size %d usize %d, want size %d" % (k, r["size"], r["usize"], 1000 + i))
    if r["released"] != want_released:
        problem("record %d (planted %d): released %s" % (k, i, r["released"]))
    if r["alloc_thread_uid"] != main_uid or r["alloc_thread_name"] != "planter":
        problem("record %d: alloc_thread_uid %s, want %s, name %s" %
                (k, r["alloc_thread_uid"], main_uid, r["alloc_thread_name"]))
    for key in ("alloc_trace",) + (("dalloc_trace",) if want_released else ()):
        if not r[key] or not all(re.fullmatch(r"0x[0-9a-f]+", a) for a in r[key]):
            problem("record %d: %s %s" % (k, key, r[key]))
    if not first_frame_in(r["alloc_trace"], "alloc_site"):
        problem("record %d: alloc_trace does not start in alloc_site: %s" % (k, r["alloc_trace"][:3]))
    if want_released:
        site = "free_site" if i % 3 == 0 else "thread_free_site"
        if not first_frame_in(r["dalloc_trace"], site):
            problem("record %d: dalloc_trace does not start in %s: %s" % (k, site, r["dalloc_trace"][:3]))
        same = r["dalloc_thread_uid"] == r["alloc_thread_uid"]
        if r["dalloc_thread_name"] != ("planter" if i % 3 == 0 else "freer"):
            problem("record %d: dalloc_thread_name %s" % (k, r["dalloc_thread_name"]))
        if same != (i % 3 == 0):
            problem("record %d: dalloc_thread_uid %s, alloc_thread_uid %s" %
                    (k, r["dalloc_thread_uid"], r["alloc_thread_uid"]))
        if r["dalloc_time"] < r["alloc_time"]:
            problem("record %d: freed before it was made" % k)
    if k > 0 and r["alloc_time"] < recs[k - 1]["alloc_time"]:
        problem("record %d: older than the record before it" % k)
if bad:
    print("\n".join(bad[:20]), file=sys.stderr)
    sys.exit(1)
print("max %d: %d records, the last %d planted allocations, as expected" % (cap, len(d["recent_alloc"]), n))
PY
}

check_records 20 100
check_records -1 100

MALLOC_CONF=prof:true,lg_prof_sample:0,prof_recent_alloc_max:10000 "$prog" progress 10000 ||
    fail "progress: a dump of 10,000 records stopped the allocating thread, or was wrong"
