#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# liballocator built with musl (Debian's musl-tools: musl-gcc) in an out-of-tree build
# (configure CC=musl-gcc), linked statically into test/static/static_startup.c and run through
# static_startup.sh (with and without LD_LIBRARY_PATH; statistics at exit). musl's startup makes
# no allocation, so the program's checks of glibc's early blocks do not apply; the rest do: no
# clock, ctype, sysconf or stdio call before constructors, liballocator's size classes, allocation
# from constructors, threads and a forked child. Only -static: Debian's musl-gcc wrapper makes a
# dynamically linked program of -static-pie.
. "$(dirname "$0")/common.bash"
. "$(dirname "$0")/scratch_build.bash"

need_tool musl-gcc musl-tools

b=$TEST_TMPDIR/musl
scratch_build "$b" CC=musl-gcc
echo "liballocator.a built with musl-gcc"

wraps=$(static_wrap_flags musl)
# shellcheck disable=SC2086 # the wrap flags are a word list
musl-gcc -std=gnu11 -O2 -g -D_GNU_SOURCE -I"$b/include" -I"$TOP_SRCDIR/include" \
    -I"$TOP_SRCDIR/test" -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc \
    -fno-builtin-free -static -o "$TEST_TMPDIR/static_startup" \
    "$TOP_SRCDIR/test/static/static_startup.c" $wraps "$b/lib/liballocator.a" -lpthread \
    2>"$TEST_TMPDIR/link.err" ||
    { cat "$TEST_TMPDIR/link.err" >&2; fail "linking with musl failed"; }
if readelf -l "$TEST_TMPDIR/static_startup" | grep -q 'Requesting program interpreter'; then
    fail "the musl program is not static"
fi
bash "$TOP_SRCDIR/test/static/static_startup.sh" "$TEST_TMPDIR/static_startup" ||
    fail "static_startup (musl, -static) failed"
echo "ok: $PROG_TEST"
