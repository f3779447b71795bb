#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Forks while other threads take sampled backtraces (prof_fork_prog.c): no child may hang on the
# loader lock a walk held in the parent (glibc does not renew it in the child), so the fork waits
# for walks under way. The program allocates through a dlopened library (so each walk asks the
# loader whether code was unloaded) and slows dl_iterate_phdr down in the allocating threads so
# that a fork nearly always lands inside one.
. "$(dirname "$0")/common.bash"

build_plugin_prog "$TOP_SRCDIR/test/programs/prof_fork_prog.c" -rdynamic
d=$TEST_TMPDIR
out=$(env LD_PRELOAD="$ALLOCATOR_SO" MALLOC_CONF=prof:true,lg_prof_sample:0 "$d/prog" \
    "$d/plugin.so" 200 2>&1)
rc=$?
echo "$out"
[ "$rc" = 0 ] || fail "a child hung or failed, or dl_iterate_phdr was not slowed (above)"
