#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# One build at three page sizes: the library reads the page size at boot (README, "Page size"),
# and in a debug build the test-only setting ALLOCATOR_TEST_LG_PAGE=N makes it use 2^N-byte
# pages on this machine's 4 KiB kernel (legal: a 64 KiB page is a run of sixteen 4 KiB ones).
# The default build's `make check` is the 4 KiB run; this test runs the suite again at 16 KiB
# (N=14) and 64 KiB (N=16) from one debug build:
#   - the unit, integration (linked, LD_PRELOAD and the CHECK_CONFS reruns), static and stress
#     tiers, and the programs tests gdb_heap (the gdb script on a page read at boot),
#     interposers and dlopen_tls; not the other programs tests (real programs, cross builds,
#     documentation checks), which do not depend on the page size or take minutes.
# When `make check` runs in a debug build with the page read at boot, that build is used (its
# runs keep their logs apart, CHECK_LOGDIR); otherwise a debug build is made in TEST_TMPDIR. Each run is checked to have used its page size (arenas.page,
# through a probe, and the integration/mallctl test expects it) before its results count.
# Two runs of most of the suite and maybe a build: about 5 minutes in all on 2 idle cores, but a
# default build's `make -j2 check` beside two `yes >/dev/null` loops, with another test beside
# it, took 378 s for the 16 KiB run alone and passed 900 s before the 64 KiB run ended:
# run.sh limit: 1800
. "$(dirname "$0")/common.bash"
. "$(dirname "$0")/scratch_build.bash"

TIERS="unit integration static stress programs/gdb_heap programs/interposers programs/dlopen_tls"
cfg=$TOP_BUILDDIR/include/allocator/internal/config_gen.h
if grep -q 'define ALLOCATOR_DEBUG 1' "$cfg" && grep -q 'define ALLOCATOR_LG_PAGE 0' "$cfg"; then
    b=$TOP_BUILDDIR
    echo "using this debug build ($b)"
else
    b=$TEST_TMPDIR/debug
    SCRATCH_TARGETS=all scratch_build "$b" --enable-debug
    grep -q 'define ALLOCATOR_LG_PAGE 0' "$b/include/allocator/internal/config_gen.h" ||
        fail "the debug build does not read the page size at boot"
    echo "made a debug build in $b"
fi
# shellcheck disable=SC2086 # TIERS is a list of patterns
scratch_make "$b" -j2 tests TESTS="$TIERS" >"$TEST_TMPDIR/tests.log" 2>&1 ||
    { tail -30 "$TEST_TMPDIR/tests.log" >&2; fail "building the test programs failed"; }

have_static=$(sed -n 's/^HAVE_STATIC = //p' "$b/Makefile")
mkdir -p "$TEST_TMPDIR/logs" || fail "cannot make $TEST_TMPDIR/logs"

# The page a process of this build uses under the setting N (the probe: arenas.page).
cat >"$TEST_TMPDIR/probe.c" <<'PROBE'
#include <stdio.h>
#include "allocator.h"
int main(void) {
    size_t page = 0, len = sizeof(page);
    if (mallctl("arenas.page", &page, &len, NULL, 0) != 0)
        return 1;
    printf("%zu\n", page);
    return 0;
}
PROBE
cc -I"$b/include" -I"$TOP_SRCDIR/include" -o "$TEST_TMPDIR/probe" "$TEST_TMPDIR/probe.c" \
    -L"$b/lib" -Wl,-rpath,"$b/lib" -lallocator || fail "cannot build the page probe"

status=0
for lg in 14 16; do
    want=$((1 << lg))
    got=$(ALLOCATOR_TEST_LG_PAGE=$lg "$TEST_TMPDIR/probe") || fail "the page probe failed"
    [ "$got" = "$want" ] ||
        fail "ALLOCATOR_TEST_LG_PAGE=$lg: arenas.page is $got, not $want (setting not honoured)"
    log=$TEST_TMPDIR/check$lg.log
    start=$(date +%s)
    ALLOCATOR_TEST_LG_PAGE=$lg TOP_SRCDIR=$TOP_SRCDIR TOP_BUILDDIR=$b HAVE_STATIC=$have_static \
        TESTS=$TIERS CHECK_JOBS=2 CHECK_LOGDIR=$TEST_TMPDIR/logs/$lg \
        bash "$TOP_SRCDIR/test/run.sh" >"$log" 2>&1
    rc=$?
    grep -E '^(PASS|FAIL|SKIP): ' "$log" | sed -e "s/^/page $want: /"
    echo "page $want: $(tail -1 "$log") in $(($(date +%s) - start)) s"
    if [ "$rc" -ne 0 ]; then
        sed -n '/^---- last/,/^----$/p' "$log" | head -80 >&2
        status=1
    fi
done
[ "$status" -eq 0 ] || fail "the suite failed at a larger page (above)"
echo "ok: $PROG_TEST"
