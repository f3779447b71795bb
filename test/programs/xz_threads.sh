#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# xz with two threads (-T2) under liballocator: compress 50 MB and decompress it again, both
# multithreaded (xz splits the input into blocks that worker threads compress, and decompresses
# multi-block files in parallel). The round trip must give back the input byte for byte, and
# plain xz must accept the file made under liballocator. xz closes its standard error before it
# exits, so liballocator's exit statistics cannot be printed; the dynamic linker's record of
# symbol bindings shows instead that xz's and liblzma's malloc and free are liballocator's.
. "$(dirname "$0")/common.bash"

need_tool xz xz-utils
need_tool base64 coreutils

in=$TEST_TMPDIR/input
# Half incompressible-ish text, half very compressible, 50 MB in all.
{ head -c 19000000 /dev/urandom | base64 -w 76; seq 1 3300000; } | head -c 50000000 >"$in"
[ "$(wc -c <"$in")" -eq 50000000 ] || fail "could not generate the input"

with_allocator_bindings "$TEST_TMPDIR/ld1" xz -T2 -2 --block-size=4MiB -c "$in" \
    >"$TEST_TMPDIR/input.xz" || fail "xz -T2 compression under liballocator exited with $?"
xz -t "$TEST_TMPDIR/input.xz" || fail "plain xz rejects the file compressed under liballocator"
expect_bound "$TEST_TMPDIR/ld1" xz "xz -T2 compression"
expect_bound "$TEST_TMPDIR/ld1" liblzma.so "xz -T2 compression"

with_allocator_bindings "$TEST_TMPDIR/ld2" xz -T2 -d -c "$TEST_TMPDIR/input.xz" \
    >"$TEST_TMPDIR/output" || fail "xz -T2 decompression under liballocator exited with $?"
expect_same_file "$in" "$TEST_TMPDIR/output" "xz -T2 round trip"
expect_bound "$TEST_TMPDIR/ld2" liblzma.so "xz -T2 decompression"
# Threads really ran: a multi-block file and, for decompression, xz's threaded decoder.
[ "$(xz --robot -lv "$TEST_TMPDIR/input.xz" | grep -c '^block')" -gt 4 ] ||
    fail "the compressed file has too few blocks for -T2 to have used threads"
echo "ok: $PROG_TEST"
