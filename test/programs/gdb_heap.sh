#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The gdb command `heap` (bin/allocator-gdb.py) on a heap of known shape, live and on a core.
#
# gdb_heap_prog.c builds the heap (classes per thread, large and huge blocks, some freed, three
# parked threads, blocks left in thread caches) and writes what it holds to a file. gdb -batch
# stops it at heap_ready(), runs `heap`, `heap json`, `heap block` on a live, an inner and three
# freed addresses and `heap top 3`, then writes a core with gcore; a second gdb -batch runs the
# same on the core. gdb_heap_check.py compares both with the program's numbers: live blocks per
# class, large and huge blocks exactly; the threads' caches hold at least what the program left
# there; allocated + tcached equals mallctl's stats.allocated; live and core JSON are equal. The
# live run again with heap profiling sampling many small blocks: the same counts, the sampled
# blocks live blocks of their class.
# Then: the gdb auto-load file that `make install` writes loads the command by itself; a
# library without debug information and an unknown layout version get clear errors, and a
# process stopped inside the allocator can still be walked.
#
# Skips when gdb is missing (Debian package gdb) or cannot trace a process (ptrace refused).
. "$(dirname "$0")/common.bash"
. "$(dirname "$0")/scratch_build.bash"

need_tool gdb gdb
CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"
PY=$(find_python)
[ -n "$PY" ] || skip "no python3"

here=$TOP_SRCDIR/test/programs
script=$TOP_SRCDIR/bin/allocator-gdb.py
d=$TEST_TMPDIR
# The program needs libgcc_s (as any C++ program does), so that the loader maps it at start-up
# with its own allocator: heap profiling's first backtrace would otherwise dlopen it
# (prof_libgcc_shared.c), and the loader's records of it (a link map of 1.2 KiB) would be live
# blocks in the program's classes that the program did not make (section 2b counts them exactly).
build() {
    "$CC" -std=gnu11 -O1 -g -D_GNU_SOURCE -I"$TOP_BUILDDIR/include" -I"$TOP_SRCDIR/include" \
        -fno-builtin-malloc -fno-builtin-free -pthread -o "$d/prog" "$here/gdb_heap_prog.c" \
        -L"$TOP_BUILDDIR/lib" -lallocator -Wl,-rpath,"$TOP_BUILDDIR/lib" "$@"
}
build -Wl,--no-as-needed -lgcc_s -Wl,--as-needed 2>/dev/null || build || fail "building gdb_heap_prog"

GDB=(gdb -nx -batch -iex 'set debuginfod enabled off' -iex 'set pagination off'
    -iex 'set confirm off')
# What every run does once the heap is there: the sections gdb_heap_check.py reads.
export GDB_HEAP_EXPECTED="$d/expected"
heap_cmds=(-ex 'echo @@ text\n' -ex 'heap' -ex 'echo @@ json\n' -ex 'heap json'
    -ex "source $here/gdb_heap_blocks.py")

# 1. Live, stopped at a breakpoint; then a core of that state.
"${GDB[@]}" -ex 'break heap_ready' -ex 'run' -ex "source $script" "${heap_cmds[@]}" \
    -ex "gcore $d/core" -ex 'kill' --args "$d/prog" "$d/expected" >"$d/live.out" 2>&1
if grep -q -e 'ptrace: Operation not permitted' -e 'Could not trace the inferior' \
    -e "Couldn't get registers" "$d/live.out"; then
    skip "gdb cannot trace a process here (ptrace refused): $(grep -m1 -i ptrace "$d/live.out")"
fi
if ! grep -q 'hit Breakpoint 1, heap_ready' "$d/live.out" || [ ! -s "$d/expected" ]; then
    tail -30 "$d/live.out" >&2
    fail "the program did not reach heap_ready under gdb"
fi
grep -E '^(liballocator heap|  thread )' "$d/live.out"
"$PY" "$here/gdb_heap_check.py" "$d/expected" "$d/live.out" live || {
    tail -40 "$d/live.out" >&2
    fail "live process: heap output does not match the program's heap"
}
walk=$(sed -n 's/^liballocator heap:.*; walk \([0-9.]*\) s$/\1/p' "$d/live.out" | head -1)
echo "live: the walk took $walk s"

# 2. The core written by gcore.
[ -s "$d/core" ] || { tail -20 "$d/live.out" >&2; fail "gcore wrote no core"; }
"${GDB[@]}" -ex "source $script" "${heap_cmds[@]}" "$d/prog" "$d/core" >"$d/core.out" 2>&1
"$PY" "$here/gdb_heap_check.py" "$d/expected" "$d/core.out" core "$d/live.out" || {
    tail -40 "$d/core.out" >&2
    fail "core file: heap output does not match the program's heap"
}

# 2b. The same heap under heap profiling at a 1 KiB period, so that many small blocks are sampled
# (each alone in a 16 KiB extent of its own): they must count as live blocks of their class,
# exactly as before, and `heap block` must find them.
GDB_HEAP_PROF=1 MALLOC_CONF=prof:true,lg_prof_sample:10 "${GDB[@]}" -ex 'break heap_ready' \
    -ex 'run' -ex "source $script" "${heap_cmds[@]}" -ex 'kill' --args "$d/prog" \
    "$d/expected" >"$d/prof.out" 2>&1
GDB_HEAP_PROF=1 "$PY" "$here/gdb_heap_check.py" "$d/expected" "$d/prof.out" prof || {
    tail -40 "$d/prof.out" >&2
    fail "under heap profiling: heap output does not match the program's heap"
}
grep -q 'sampled by the heap profiler' "$d/prof.out" ||
    fail "under heap profiling: \`heap\` does not say how many small blocks are sampled"

# 3. The auto-load file of an installed library: `heap` without sourcing anything.
inst=$d/inst
scratch_make "$TOP_BUILDDIR" -s install prefix="$inst" >"$d/install.out" 2>&1 ||
    { cat "$d/install.out" >&2; fail "make install prefix=$inst"; }
auto=$inst/share/gdb/auto-load$inst/lib/liballocator.so.1-gdb.py
[ -e "$auto" ] || fail "make install wrote no gdb auto-load file at $auto"
[ -e "$inst/share/liballocator/allocator-gdb.py" ] || fail "make install: no allocator-gdb.py"
LD_LIBRARY_PATH=$inst/lib "${GDB[@]}" -iex "add-auto-load-safe-path $inst/share/gdb/auto-load" \
    -iex "add-auto-load-scripts-directory $inst/share/gdb/auto-load" \
    -ex 'break heap_ready' -ex 'run' -ex 'info sharedlibrary' -ex 'echo @@ json\n' \
    -ex 'heap json' -ex 'kill' --args "$d/prog" "$d/expected" >"$d/auto.out" 2>&1
grep -q "$inst/lib/liballocator.so.1" "$d/auto.out" ||
    { tail -20 "$d/auto.out" >&2; fail "auto-load run: the installed library was not loaded"; }
"$PY" "$here/gdb_heap_check.py" "$d/expected" "$d/auto.out" auto-load || {
    tail -20 "$d/auto.out" >&2
    fail "the installed auto-load file did not give a working heap command"
}

# 4. Clear errors: no debug information; a layout version the script does not know.
mkdir -p "$d/stripped"
objcopy --strip-debug "$TOP_BUILDDIR/lib/liballocator.so.1" "$d/stripped/liballocator.so.1" ||
    fail "objcopy --strip-debug"
LD_LIBRARY_PATH=$d/stripped "${GDB[@]}" -ex 'break heap_ready' -ex 'run' \
    -ex "source $script" -ex 'heap' -ex 'kill' --args "$d/prog" "$d/expected" \
    >"$d/stripped.out" 2>&1
grep -q "stripped/liballocator.so.1 has no debug information" "$d/stripped.out" || {
    tail -10 "$d/stripped.out" >&2
    fail "a library without debug information: no clear message"
}
echo "without debug information: $(grep -m1 'has no debug information' "$d/stripped.out" |
    cut -c1-100)..."
"${GDB[@]}" -ex "source $script" -ex 'python SUPPORTED_LAYOUTS = (99,)' -ex 'heap' \
    "$d/prog" "$d/core" >"$d/layout.out" 2>&1
grep -q 'has heap layout version [0-9]*; this allocator-gdb.py reads version 99' "$d/layout.out" || {
    tail -10 "$d/layout.out" >&2
    fail "an unknown layout version: no clear message"
}
echo "unknown layout version: $(grep -m1 'has heap layout version' "$d/layout.out" | cut -c1-100)..."

# 5. A process stopped inside the allocator, in the middle of a thread cache's flush: the walk
# still ends with a JSON object (counters caught mid-update may only give warnings), and the
# blocks the flush has taken out of the cache but not yet returned count as cached, not live.
"${GDB[@]}" -iex 'set breakpoint pending on' -ex 'break bin_dalloc_batch' -ex 'run' -ex 'bt 2' \
    -ex "source $script" -ex 'echo @@ json\n' -ex 'heap json' -ex 'kill' \
    --args "$d/prog" "$d/expected" >"$d/inside.out" 2>&1
grep -q '^#1 .*tcache_flush_bin' "$d/inside.out" ||
    { tail -10 "$d/inside.out" >&2; fail "the program did not stop in a flush (bin_dalloc_batch)"; }
sed -n '/^@@ json/,$p' "$d/inside.out" | grep '^{' | "$PY" -c '
import json, sys
j = json.load(sys.stdin)
assert j["classes"] and j["allocated"] > 0, "no classes"
n = sum(t.get("flushing", 0) for t in j["tcaches"])
assert n > 0, "no thread cache shows blocks being flushed"
print("stopped in a flush: %d blocks being flushed counted as cached; %d classes, %d warnings"
      % (n, len(j["classes"]), len(j["warnings"])))' ||
    { tail -10 "$d/inside.out" >&2; fail "stopped inside the allocator: wrong or no heap json"; }
echo "ok: $PROG_TEST"
