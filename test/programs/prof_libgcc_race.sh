#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The first sample loads libgcc_s while another thread, inside the loader's lock (a dlopened
# library's constructor), takes a sample: neither may wait for the other (prof_libgcc_race_prog.c).
. "$(dirname "$0")/common.bash"

build_plugin_prog "$TOP_SRCDIR/test/programs/prof_libgcc_race_prog.c" -rdynamic
d=$TEST_TMPDIR
out=$(env LD_PRELOAD="$ALLOCATOR_SO" MALLOC_CONF=prof:true,prof_active:false,lg_prof_sample:0 \
    "$d/prog" "$d/plugin.so" 2>&1)
rc=$?
echo "$out"
[ "$rc" = 0 ] || fail "a thread hung or failed (above)"
