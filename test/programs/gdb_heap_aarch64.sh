#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The gdb command `heap` on an aarch64 core: gdb_heap_prog.c (see gdb_heap.sh) is cross-built
# and linked statically with a cross-built liballocator.a (gdb finds no shared libraries in the
# cores qemu-user writes: they carry no link map it can follow), run under qemu-aarch64-static with its "abort" argument
# (qemu-user writes the guest's core, qemu_prog_*.core, when the core size limit allows), and
# gdb-multiarch runs `heap json`, `heap block` and `heap top 3` on that core; gdb_heap_check.py
# compares them with the numbers the program wrote, as for the native live process and core.
#
# Skips when gdb-multiarch (Debian package gdb-multiarch: the native gdb reads only x86_64
# cores), the cross compiler, the aarch64 C library or qemu-aarch64-static is missing.
. "$(dirname "$0")/common.bash"
. "$(dirname "$0")/scratch_build.bash"

need_tool gdb-multiarch gdb-multiarch
need_aarch64
[ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ] ||
    skip "no aarch64 dynamic loader in $SYSROOT (Debian package libc6-arm64-cross)"
PY=$(find_python)
[ -n "$PY" ] || skip "no python3"

here=$TOP_SRCDIR/test/programs
script=$TOP_SRCDIR/bin/allocator-gdb.py
d=$TEST_TMPDIR
b=$d/aarch64
SCRATCH_TARGETS="lib/liballocator.a" scratch_build "$b" --host=aarch64-linux-gnu
"$XCC" -std=gnu11 -O1 -g -D_GNU_SOURCE -I"$b/include" -I"$TOP_SRCDIR/include" \
    -fno-builtin-malloc -fno-builtin-free -pthread -static -o "$d/prog" \
    "$here/gdb_heap_prog.c" "$b/lib/liballocator.a" || fail "cross-building gdb_heap_prog"

# The guest's core, in a directory of its own: qemu may leave a core of itself there too.
ulimit -c unlimited 2>/dev/null ||
    skip "core dumps are off for this process (hard limit $(ulimit -H -c)); qemu writes none"
mkdir -p "$d/run"
rc=0
(cd "$d/run" && QEMU_LD_PREFIX=$SYSROOT "$QEMU" "$d/prog" "$d/expected" abort) \
    >"$d/run.out" 2>&1 || rc=$?
core=$(ls "$d"/run/qemu_prog_*.core 2>/dev/null | head -1)
find "$d/run" -maxdepth 1 -name 'core*' -delete
[ -n "$core" ] && [ -s "$d/expected" ] ||
    { cat "$d/run.out" >&2; fail "qemu wrote no core of the aarch64 program (status $rc)"; }
echo "aarch64 program under $QEMU: status $rc, core $(basename "$core")"

export GDB_HEAP_EXPECTED="$d/expected"
gdb-multiarch -nx -batch -iex 'set debuginfod enabled off' -iex "set sysroot $SYSROOT" \
    -ex "source $script" \
    -ex 'echo @@ text\n' -ex 'heap' -ex 'echo @@ json\n' -ex 'heap json' -ex "source $here/gdb_heap_blocks.py" \
    "$d/prog" "$core" >"$d/core.out" 2>&1
grep -q '"allocated"' "$d/core.out" ||
    { tail -30 "$d/core.out" >&2; fail "gdb-multiarch: no heap json from the aarch64 core"; }
"$PY" "$here/gdb_heap_check.py" "$d/expected" "$d/core.out" aarch64-core || {
    tail -40 "$d/core.out" >&2
    fail "aarch64 core: heap output does not match the program's heap"
}
echo "ok: $PROG_TEST"
