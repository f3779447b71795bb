#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A build for 64 KiB pages (--with-lg-page=16), out of tree in TEST_TMPDIR, runs its own
# `make check` over every unit, integration and static test (linked and LD_PRELOAD variants; not
# the MALLOC_CONF reruns, nor the stress and programs tiers, which the default build runs) on
# this machine's smaller kernel page: the page size the build assumes is a maximum, and the
# kernel's (getauxval(AT_PAGESZ)) may be smaller. (A kernel page larger than the build's is
# refused: cross_aarch64.sh checks that under qemu with 64 KiB pages.) The tests' expectations
# (which sizes are small or large, how blocks fill slabs and chunks) come from the build's page
# size, read through mallctl, so none is left out.
. "$(dirname "$0")/common.bash"
. "$(dirname "$0")/scratch_build.bash"

b=$TEST_TMPDIR/lg16
SCRATCH_TARGETS=all scratch_build "$b" --with-lg-page=16
grep -q 'define ALLOCATOR_LG_PAGE 16' "$b/include/allocator/internal/config_gen.h" ||
    fail "the build did not take --with-lg-page=16"

scratch_make "$b" -j2 check TESTS="unit integration static" CHECK_CONFS= >"$b/check.log" 2>&1
status=$?
grep -E '^(PASS|FAIL|SKIP): ' "$b/check.log" | sed -e 's/^/lg_page=16: /'
tail -1 "$b/check.log"
if [ "$status" -ne 0 ]; then
    sed -n '/^---- last/,/^----$/p' "$b/check.log" | head -80 >&2
    fail "make check of the --with-lg-page=16 build failed"
fi
echo "ok: $PROG_TEST"
