#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The library built with -fsanitize=undefined -fno-sanitize-recover=all (gcc's UBSan: shifts out
# of range, signed overflow, misaligned or null pointers, out-of-bounds indices of arrays of known
# size, null arguments declared nonnull, ...) in an out-of-tree build, then the unit, integration
# (linked and LD_PRELOADed, and once more under tcache:false) and stress tiers run against it:
# any undefined behaviour stops the test that reached it with "runtime error: ..." on stderr.
# The first run found a null source pointer handed to memcpy for a last-N record with a thread
# name and no frames (prof_recent.c).
# Left out: integration/prof_libgcc, which checks that profiling leaves libgcc_s unmapped (the
# sanitizer's runtime, libubsan, loads it itself); the static tier (no static libubsan to link
# against glibc's static startup); the programs tier (real programs and cross builds).
# A build and about 90 s of tests on 2 idle cores:
# run.sh limit: 1200
. "$(dirname "$0")/common.bash"
. "$(dirname "$0")/scratch_build.bash"

need_tool gcc gcc
# The runtime must be there: a probe links a one-line program the same way.
echo 'int main(void) { return 0; }' >"$TEST_TMPDIR/probe.c"
gcc -fsanitize=undefined -o "$TEST_TMPDIR/probe" "$TEST_TMPDIR/probe.c" 2>/dev/null ||
    skip "gcc cannot link -fsanitize=undefined here (libubsan missing)"

flags="-O1 -g -fsanitize=undefined -fno-sanitize-recover=all"
b=$TEST_TMPDIR/ubsan
SCRATCH_TARGETS=all scratch_build "$b" CC=gcc "CFLAGS=$flags" LDFLAGS=-fsanitize=undefined
grep -q -- '-fsanitize=undefined' "$b/Makefile" || fail "the scratch build did not take the flags"
echo "built with $flags in $b"

tests="unit stress"
for f in "$TOP_SRCDIR"/test/integration/*.c; do
    name=$(basename "$f" .c)
    [ "$name" = prof_libgcc ] || tests="$tests integration/$name"
done
scratch_make "$b" -j2 tests TESTS="$tests" >"$TEST_TMPDIR/tests.log" 2>&1 ||
    { tail -30 "$TEST_TMPDIR/tests.log" >&2; fail "building the test programs failed"; }

log=$TEST_TMPDIR/check.log
start=$(date +%s)
TOP_SRCDIR=$TOP_SRCDIR TOP_BUILDDIR=$b HAVE_STATIC=no TESTS=$tests CHECK_JOBS=2 \
    CHECK_CONFS=tcache:false CHECK_LOGDIR=$TEST_TMPDIR/logs \
    bash "$TOP_SRCDIR/test/run.sh" >"$log" 2>&1
rc=$?
grep -E '^(FAIL|SKIP): ' "$log" | sed -e 's/^/ubsan: /'
echo "ubsan: $(tail -1 "$log") in $(($(date +%s) - start)) s"
if grep -rq 'runtime error:' "$TEST_TMPDIR/logs"; then
    grep -rh 'runtime error:' "$TEST_TMPDIR/logs" | sort | uniq -c | head -20 >&2
    fail "undefined behaviour (above)"
fi
if [ "$rc" -ne 0 ]; then
    sed -n '/^---- last/,/^----$/p' "$log" | head -80 >&2
    fail "the suite failed in the sanitizer build (above)"
fi
passed=$(tail -1 "$log" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
[ "${passed:-0}" -ge 100 ] || fail "only ${passed:-0} tests ran in the sanitizer build"
echo "ok: $PROG_TEST"
