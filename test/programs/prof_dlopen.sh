#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A thread that dlopens and dlcloses a library in a loop while three others allocate, with heap
# profiling sampling often (prof_dlopen_prog.c): nothing may hang, every thread must progress,
# and the profile written at exit must hold stacks.
. "$(dirname "$0")/common.bash"

build_plugin_prog "$TOP_SRCDIR/test/programs/prof_dlopen_prog.c"
d=$TEST_TMPDIR
for conf in "prof:true,lg_prof_sample:10,prof_final:true,prof_prefix:$d/p" \
    "prof:true,lg_prof_sample:0,prof_accum:true"; do
    out=$(env LD_PRELOAD="$ALLOCATOR_SO" MALLOC_CONF="$conf" "$d/prog" "$d/plugin.so" 2 2>&1) ||
        { echo "$out" >&2; fail "MALLOC_CONF=$conf: the program failed or hung"; }
    echo "MALLOC_CONF=$conf: $out"
done
prof=("$d"/p.*.f.heap)
[ -f "${prof[0]}" ] || fail "no final profile"
n=$(grep -c '^@ ' "${prof[0]}")
[ "$n" -gt 0 ] || fail "the final profile holds no stacks"
echo "final profile: $n stacks"
