#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The heap profiler against jeprof: prof_planted.c allocates about 100 MB from plant_big and
# about 10 MB from plant_small and keeps it all; with prof:true at the default rate (one sample
# per 512 KiB on average) and prof_final:true, `jeprof --text PROGRAM PROFILES` must attribute
# about 90% and 9% of the heap to the two functions, in their own (flat) column, so the
# allocator's frames are not in the stacks. jemalloc's profiles of the same program give 90% and
# 9%. One profile holds about 210 samples, 20 of them plant_small's, so the four runs' profiles
# are read together (the program is built without PIE so their addresses agree) and the bounds
# (85-95%, 5-14%) are several standard deviations wide.
#
# Then the same program linked statically with liballocator.a: its profile must put plant_big
# first with at least 80%.
. "$(dirname "$0")/common.bash"

CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"
need_tool jeprof libjemalloc-dev
need_tool perl perl

d=$TEST_TMPDIR
src=$TOP_SRCDIR/test/programs/prof_planted.c
lib=$TOP_BUILDDIR/lib
"$CC" -O2 -g -no-pie -o "$d/planted" "$src" -L"$lib" -lallocator -Wl,-rpath,"$lib" ||
    fail "building prof_planted.c"

for i in 1 2 3 4; do
    MALLOC_CONF="prof:true,prof_final:true,prof_prefix:$d/run" "$d/planted" >/dev/null ||
        fail "run $i of the planted program failed"
done
profiles=("$d"/run.*.f.heap)
[ "${#profiles[@]}" -eq 4 ] || fail "expected 4 final profiles (run.<pid>.<seq>.f.heap), found ${#profiles[@]}"
head -1 "${profiles[0]}" | grep -qx 'heap_v2/524288' || fail "the profile's header is not heap_v2/524288"

# pct FUNCTION FILE: the flat percentage jeprof --text gives FUNCTION, as an integer (0 if absent).
pct() {
    awk -v f="$1" '$6 == f { sub(/%/, "", $2); printf "%d\n", $2 + 0.5; found = 1 }
        END { if (!found) print 0 }' "$2"
}

jeprof --text "$d/planted" "${profiles[@]}" >"$d/text" 2>"$d/err" ||
    { cat "$d/err" >&2; fail "jeprof --text failed"; }
cat "$d/text"
big=$(pct plant_big "$d/text")
small=$(pct plant_small "$d/text")
echo "plant_big ${big}%, plant_small ${small}%"
[ "$big" -ge 85 ] && [ "$big" -le 95 ] || fail "plant_big has ${big}% of the heap, expected 85-95%"
[ "$small" -ge 5 ] && [ "$small" -le 14 ] || fail "plant_small has ${small}% of the heap, expected 5-14%"

# A static program: the same profile from liballocator.a (libgcc's unwinder linked in).
if "$CC" -O2 -g -static -o "$d/planted_static" "$src" "$lib/liballocator.a" -lpthread \
    2>"$d/static.err"; then
    MALLOC_CONF="prof:true,prof_final:true,prof_prefix:$d/static" "$d/planted_static" >/dev/null ||
        fail "the static planted program failed"
    sprof=("$d"/static.*.f.heap)
    [ -f "${sprof[0]}" ] || fail "the static program wrote no final profile"
    jeprof --text "$d/planted_static" "${sprof[0]}" >"$d/stext" 2>"$d/err" ||
        { cat "$d/err" >&2; fail "jeprof --text failed on the static program's profile"; }
    first=$(awk '$2 ~ /%$/ { print $6; exit }' "$d/stext")
    sbig=$(pct plant_big "$d/stext")
    echo "static: top function $first, plant_big ${sbig}%"
    [ "$first" = plant_big ] && [ "$sbig" -ge 80 ] ||
        { cat "$d/stext" >&2; fail "the static program's profile does not put plant_big first with >= 80%"; }
else
    echo "no static libc: the static program was not profiled"
fi
