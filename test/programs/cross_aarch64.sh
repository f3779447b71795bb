#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Cross build for aarch64, run under qemu-user (binfmt need not be registered: qemu is named
# explicitly).
#
#  1. `configure --host=aarch64-linux-gnu` out of tree, then liballocator.a and .so build.
#  2. test/static/static_startup.c (glibc's early allocations served; no clock, ctype, sysconf or
#     stdio call before constructors; allocation from constructors, threads and a forked child)
#     is linked for aarch64 with -static and with -static-pie, and each runs through
#     static_startup.sh under qemu-aarch64-static, with and without LD_LIBRARY_PATH.
#  3. One build on every aarch64 kernel page: qemu's -p reports 64 KiB, 16 KiB or 4 KiB pages
#     (AT_PAGESZ); the static program (which checks arenas.page against getauxval(AT_PAGESZ)
#     and prints it) passes under each, read in glibc's static startup; so does a dynamic
#     program (cross_aarch64_page.c) under 64 KiB pages.
#  4. The test-only setting on aarch64: a debug cross build runs the static program with
#     ALLOCATOR_TEST_LG_PAGE=16 (64 KiB pages) on qemu's 4 KiB ones, and with
#     ALLOCATOR_TEST_LG_PAGE=14 under 16 KiB ones.
#  5. Kernel page larger than a --with-lg-page=12 build's: under 64 KiB pages a dynamic program
#     linked with it gets the message "this build assumes 4096-byte pages ..." and ENOMEM from
#     every allocation (cross_aarch64_page.c refused); the static program prints the same
#     message and exits with status 127 before its constructors: glibc's static startup cannot
#     go on without malloc (given NULL in _dl_init_paths, glibc's own fatal_error died of
#     SIGSEGV), so liballocator ends the process itself, no crash.
#
# Skips when the cross compiler, its static libc or qemu-aarch64-static is missing (Debian
# packages gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user-static).
. "$(dirname "$0")/common.bash"
. "$(dirname "$0")/scratch_build.bash"

need_aarch64
case $("$XCC" -print-file-name=libc.a) in
/*) ;;
*) skip "no static libc for aarch64 (Debian package libc6-dev-arm64-cross)" ;;
esac

# xlink OUT MODE SOURCE BUILD [EXTRA...]: compile and link one aarch64 test program; MODE is
# -static, -static-pie or -pie.
xlink() {
    local out=$1 mode=$2 src=$3 build=$4
    shift 4
    "$XCC" -std=gnu11 -O2 -g -D_GNU_SOURCE -I"$build/include" -I"$TOP_SRCDIR/include" \
        -I"$TOP_SRCDIR/test" -fno-builtin-malloc -fno-builtin-calloc -fno-builtin-realloc \
        -fno-builtin-free -fPIE "$mode" -o "$out" "$src" "$@" 2>"$out.err" ||
        { cat "$out.err" >&2; fail "linking $out for aarch64 failed"; }
    readelf -h "$out" | grep -q 'Machine: *AArch64' || fail "$out is not an aarch64 binary"
}

# 1. The cross build.
b=$TEST_TMPDIR/aarch64
SCRATCH_TARGETS="lib/liballocator.a lib/liballocator.so" \
    scratch_build "$b" --host=aarch64-linux-gnu
readelf -h "$b/lib/liballocator.so" | grep -q 'Machine: *AArch64' ||
    fail "liballocator.so is not an aarch64 object"
echo "cross build: liballocator.a and liballocator.so for aarch64 built"

# 2. The static startup program, -static and -static-pie, under qemu.
src=$TOP_SRCDIR/test/static/static_startup.c
wraps=$(static_wrap_flags glibc)
# shellcheck disable=SC2086 # a word list
xlink "$TEST_TMPDIR/static_startup" -static "$src" "$b" $wraps "$b/lib/liballocator.a" \
    -lpthread -lm
# shellcheck disable=SC2086
xlink "$TEST_TMPDIR/static_startup_pie" -static-pie "$src" "$b" $wraps \
    "$b/lib/liballocator.a" -lpthread -lm
export STATIC_RUNNER=$QEMU ADDR2LINE=aarch64-linux-gnu-addr2line NM=aarch64-linux-gnu-nm
bash "$TOP_SRCDIR/test/static/static_startup.sh" "$TEST_TMPDIR/static_startup" ||
    fail "aarch64 -static: static_startup failed under $QEMU"
bash "$TOP_SRCDIR/test/static/static_startup_pie.sh" "$TEST_TMPDIR/static_startup_pie" ||
    fail "aarch64 -static-pie: static_startup failed under $QEMU"
echo "aarch64 -static and -static-pie: static_startup passed under $QEMU"

if ! "$QEMU" -h 2>/dev/null | grep -q -e '^-p '; then
    echo "(this $QEMU has no -p PAGESIZE option: the other page sizes are left out)"
    echo "ok: $PROG_TEST"
    exit 0
fi
have_ld=no
[ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ] && have_ld=yes

# 3. The same build under 64, 16 and 4 KiB pages.
for p in 65536 16384 4096; do
    env -u LD_LIBRARY_PATH "$QEMU" -p "$p" "$TEST_TMPDIR/static_startup" \
        >"$TEST_TMPDIR/p$p.out" 2>&1 ||
        { tail -20 "$TEST_TMPDIR/p$p.out" >&2; fail "static_startup under $p-byte pages"; }
    grep -q "^page: $p " "$TEST_TMPDIR/p$p.out" ||
        { grep page: "$TEST_TMPDIR/p$p.out" >&2; fail "static_startup under $p-byte pages did not use them"; }
done
echo "one build, -static: static_startup passed under 64, 16 and 4 KiB pages, using each"
if [ "$have_ld" = yes ]; then
    xlink "$TEST_TMPDIR/page" -pie "$TOP_SRCDIR/test/programs/cross_aarch64_page.c" "$b" \
        -L"$b/lib" -lallocator
    if ! QEMU_LD_PREFIX=$SYSROOT "$QEMU" -p 65536 -E LD_LIBRARY_PATH="$b/lib" \
        "$TEST_TMPDIR/page" 65536 >"$TEST_TMPDIR/page.out" 2>&1; then
        cat "$TEST_TMPDIR/page.out" >&2
        fail "64 KiB pages: dynamic program failed"
    fi
    echo "one build, shared: $(cat "$TEST_TMPDIR/page.out")"
else
    echo "(no aarch64 dynamic loader in $SYSROOT: the dynamic programs are left out)"
fi

# 4. The test-only setting, in a debug build.
bd=$TEST_TMPDIR/aarch64-debug
scratch_build "$bd" --host=aarch64-linux-gnu --enable-debug
# shellcheck disable=SC2086
xlink "$TEST_TMPDIR/static_startup_debug" -static "$src" "$bd" $wraps "$bd/lib/liballocator.a" \
    -lpthread -lm
for run in "16 4096 65536" "14 16384 16384" "16 16384 65536"; do
    read -r lg p want <<<"$run"
    env -u LD_LIBRARY_PATH "$QEMU" -p "$p" -E ALLOCATOR_TEST_LG_PAGE="$lg" \
        "$TEST_TMPDIR/static_startup_debug" >"$TEST_TMPDIR/d$lg.out" 2>&1 ||
        { tail -20 "$TEST_TMPDIR/d$lg.out" >&2; fail "debug build, ALLOCATOR_TEST_LG_PAGE=$lg, $p-byte pages"; }
    grep -q "^page: $want " "$TEST_TMPDIR/d$lg.out" ||
        fail "debug build, ALLOCATOR_TEST_LG_PAGE=$lg under $p-byte pages: not $want-byte pages"
done
echo "debug build: ALLOCATOR_TEST_LG_PAGE=16 on 4 KiB and 16 KiB pages, =14 on 16 KiB: static_startup passed"

# 5. A 64 KiB kernel page meets a --with-lg-page=12 build.
bf=$TEST_TMPDIR/aarch64-lg12
SCRATCH_TARGETS="lib/liballocator.a lib/liballocator.so" \
    scratch_build "$bf" --host=aarch64-linux-gnu --with-lg-page=12
# shellcheck disable=SC2086
xlink "$TEST_TMPDIR/static_startup12" -static "$src" "$bf" $wraps "$bf/lib/liballocator.a" \
    -lpthread -lm
msg="<allocator>: this build assumes 4096-byte pages but the kernel uses 65536-byte pages;"
msg="$msg rebuild without --with-lg-page, or with --with-lg-page=16"
rc=0
"$QEMU" -p 65536 "$TEST_TMPDIR/static_startup12" >"$TEST_TMPDIR/p64.out" 2>&1 || rc=$?
[ "$rc" -eq 127 ] || { cat "$TEST_TMPDIR/p64.out" >&2
    fail "64 KiB pages: the 4 KiB static build ended with status $rc, not a clean exit 127"; }
grep -q -F "$msg" "$TEST_TMPDIR/p64.out" ||
    { cat "$TEST_TMPDIR/p64.out" >&2; fail "64 KiB pages: static program: no clear message"; }
echo "64 KiB pages, --with-lg-page=12 static build: refused with the message, exit status 127"
if [ "$have_ld" = yes ]; then
    xlink "$TEST_TMPDIR/page12" -pie "$TOP_SRCDIR/test/programs/cross_aarch64_page.c" "$bf" \
        -L"$bf/lib" -lallocator
    if ! QEMU_LD_PREFIX=$SYSROOT "$QEMU" -p 65536 -E LD_LIBRARY_PATH="$bf/lib" \
        "$TEST_TMPDIR/page12" refused >"$TEST_TMPDIR/page12.out" 2>&1; then
        cat "$TEST_TMPDIR/page12.out" >&2
        fail "64 KiB pages: dynamic program: allocations did not fail with ENOMEM"
    fi
    if ! grep -q -F "$msg" "$TEST_TMPDIR/page12.out" ||
        ! grep -q 'page-mismatch: ok' "$TEST_TMPDIR/page12.out"; then
        cat "$TEST_TMPDIR/page12.out" >&2
        fail "64 KiB pages: dynamic program: no message or no ENOMEM"
    fi
    echo "64 KiB pages, --with-lg-page=12 shared build: message, then ENOMEM from every allocation"
fi
echo "ok: $PROG_TEST"
