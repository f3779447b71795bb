#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The profiler's cached CFI walk against libgcc's _Unwind_Backtrace, frame for frame, on many
# stacks (prof_unwind_prog.c): shapes built at -O0 and -O2 without frame pointers, two builds
# of a shared library swapped by dlclose/dlopen, a thread, a signal handler. x86_64 only (the
# walk gives up everywhere else, and the profiler then uses libgcc).
. "$(dirname "$0")/common.bash"

CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"
[ "$(uname -m)" = x86_64 ] || skip "the cached walk is x86_64 only"
lib=$TOP_BUILDDIR/lib/liballocator.a
[ -f "$lib" ] || fail "no $lib"
grep -q 'ALLOCATOR_PROF_LIBGCC 1' "$TOP_BUILDDIR/include/allocator/internal/config_gen.h" 2>/dev/null ||
    skip "built without libgcc's unwinder"
d=$TEST_TMPDIR
src=$TOP_SRCDIR/test/programs
"$CC" -O0 -g -c '-DSHAPE(n)=n##_o0' -o "$d/o0.o" "$src/prof_unwind_shapes.c" || fail "build -O0"
"$CC" -O2 -g -fomit-frame-pointer -c '-DSHAPE(n)=n##_o2' -o "$d/o2.o" \
    "$src/prof_unwind_shapes.c" || fail "build -O2"
"$CC" -O2 -g -fPIC -shared -DPAD=1000 -o "$d/a.so" "$src/prof_unwind_shapes.c" || fail "lib A"
"$CC" -O2 -g -fPIC -shared -DPAD=3000 -o "$d/b.so" "$src/prof_unwind_shapes.c" || fail "lib B"
"$CC" -O2 -g -pthread -o "$d/prog" "$src/prof_unwind_prog.c" "$d/o0.o" "$d/o2.o" "$lib" -ldl ||
    fail "building the program"
out=$("$d/prog" "$d/a.so" "$d/b.so" 2>&1)
rc=$?
echo "$out" | tail -40
[ "$rc" = 0 ] || fail "the walks differ (above)"
