#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The suite's threaded tests with glibc's restartable sequences turned off
# (GLIBC_TUNABLES=glibc.pthread.rseq=0); the rest of `make check` runs with them on (glibc 2.35+
# registers rseq for every thread by default). A probe first checks that the tunable took effect
# (glibc's __rseq_size is 0 under it and not otherwise). Then, under the tunable: the stress test
# thread_churn (threads start and end: rseq registration and teardown), the integration tests
# threads and malloc_basic (linked and under LD_PRELOAD), and the static startup test. Test
# binaries that the current `make check` did not build (a TESTS filter) are built first.
. "$(dirname "$0")/common.bash"
. "$(dirname "$0")/scratch_build.bash"

CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"
OFF="glibc.pthread.rseq=0${GLIBC_TUNABLES:+:$GLIBC_TUNABLES}"

"$CC" -O2 -pthread -o "$TEST_TMPDIR/probe" "$TOP_SRCDIR/test/programs/rseq_off_probe.c" ||
    fail "building the probe"
on=$("$ALLOCATOR_SH" "$TEST_TMPDIR/probe") || fail "probe failed under liballocator"
off=$(GLIBC_TUNABLES=$OFF "$ALLOCATOR_SH" "$TEST_TMPDIR/probe") || fail "probe failed (rseq off)"
[ "$on" != absent ] || skip "this glibc has no rseq registration (no __rseq_size)"
echo "__rseq_size: $on with rseq on, $off with GLIBC_TUNABLES=$OFF"
[ "$off" = 0 ] || fail "GLIBC_TUNABLES=$OFF did not turn rseq off (__rseq_size $off)"
[ "$on" != 0 ] || echo "(the kernel refused rseq: the default runs have it off too)"

tbin=$TOP_BUILDDIR/tbin
bins=(stress/thread_churn integration/threads integration/threads.preload
    integration/malloc_basic integration/malloc_basic.preload)
[ "${HAVE_STATIC:-yes}" = yes ] && bins+=(static/static_startup)
missing=()
for b in "${bins[@]}"; do [ -x "$tbin/$b" ] || missing+=("tbin/$b"); done
if [ "${#missing[@]}" -gt 0 ]; then
    scratch_make "$TOP_BUILDDIR" "${missing[@]}" >"$TEST_TMPDIR/build.log" 2>&1 ||
        { tail -20 "$TEST_TMPDIR/build.log" >&2; fail "building ${missing[*]}"; }
fi

for b in "${bins[@]}"; do
    start=$(date +%s%N)
    case $b in
    *.preload) pre=$ALLOCATOR_SO ;;
    *) pre= ;;
    esac
    if [ "$b" = static/static_startup ]; then
        cmd=(bash "$TOP_SRCDIR/test/static/static_startup.sh" "$tbin/$b")
    else
        cmd=("$tbin/$b")
    fi
    if ! (cd "$TOP_BUILDDIR" && env GLIBC_TUNABLES="$OFF" ${pre:+LD_PRELOAD=$pre} \
        timeout 120 "${cmd[@]}") >"$TEST_TMPDIR/out" 2>&1; then
        tail -20 "$TEST_TMPDIR/out" >&2
        fail "$b with GLIBC_TUNABLES=$OFF"
    fi
    echo "rseq off: $b passed ($((($(date +%s%N) - start) / 1000000)) ms)"
done
echo "ok: $PROG_TEST"
