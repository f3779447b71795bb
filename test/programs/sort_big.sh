#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# sort of 300 MB of random lines under liballocator, with two sorting threads (--parallel=2):
# the output must equal plain sort's, compared by checksum, and be sorted.
. "$(dirname "$0")/common.bash"

need_tool sort coreutils
need_tool base64 coreutils

export LC_ALL=C
# The input and one output stay on disk (600 MB); the plain run's output is only checksummed.
avail=$(df -Pk "$TEST_TMPDIR" | awk 'NR == 2 { print $4 }')
[ "${avail:-0}" -gt 1000000 ] || skip "needs 1 GB free in $TEST_TMPDIR, has ${avail:-?} kB"
in=$TEST_TMPDIR/lines
# 300 MB of random base64 text cut into lines at every '+': lines of random length, 64 bytes on
# average (a fast generator: no interpreter loop).
head -c 225000000 /dev/urandom | base64 -w 0 | tr '+' '\n' >"$in" ||
    fail "could not generate the input"
size=$(wc -c <"$in")
[ "$size" -gt 290000000 ] || fail "input is only $size bytes"

plain=$(sort --parallel=2 -T "$TEST_TMPDIR" "$in" | sha256sum | cut -d' ' -f1) ||
    fail "plain sort failed"
with_allocator "$TEST_TMPDIR/err" sort --parallel=2 -T "$TEST_TMPDIR" "$in" \
    >"$TEST_TMPDIR/alloc.out" ||
    { tail -20 "$TEST_TMPDIR/err" >&2; fail "sort under liballocator exited with $?"; }
got=$(sha256sum <"$TEST_TMPDIR/alloc.out" | cut -d' ' -f1)
[ "$plain" = "$got" ] ||
    fail "sort of $size bytes: output under liballocator differs from plain sort's (sha256" \
        "$got, expected $plain; $(wc -c <"$TEST_TMPDIR/alloc.out") bytes)"
sort -c "$TEST_TMPDIR/alloc.out" || fail "sort under liballocator produced unsorted output"
expect_served "$TEST_TMPDIR/err" 100 "sort"
rm -f "$in" "$TEST_TMPDIR/alloc.out"
echo "ok: $PROG_TEST"
