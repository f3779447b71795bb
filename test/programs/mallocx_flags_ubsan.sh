#!/bin/bash
# The flag macros of include/allocator.h are free of undefined behaviour for every value they
# take: a program built with -fsanitize=undefined -fno-sanitize-recover computes MALLOCX_ARENA(a)
# for every arena index 0..4094 (from a value the compiler cannot fold), MALLOCX_TCACHE(tc) for
# every cache index, MALLOCX_ALIGN and MALLOCX_LG_ALIGN for every alignment, and decodes each
# back (jemalloc 5's bit layout). MALLOCX_ARENA once shifted an int: from 2047 on the sanitizer
# stopped the program with "left shift ... cannot be represented in type 'int'". The program is
# linked with liballocator and allocates from a created arena with a high-bit flag too.
. "$(dirname "$0")/common.bash"

need_tool gcc gcc
src=$TEST_TMPDIR/flags.c
cat >"$src" <<'CEOF'
#include <allocator.h>
#include <stdio.h>

int main(void) {
    int bad = 0;
    for (volatile unsigned a = 0; a <= 4094; a++) {
        unsigned f = (unsigned)MALLOCX_ARENA(a);
        if ((f >> 20) != a + 1 || (f & 0xfffff) != 0) {
            printf("MALLOCX_ARENA(%u) = %#x\n", (unsigned)a, f);
            bad = 1;
        }
    }
    for (volatile int tc = -1; tc <= 4093; tc++) {
        unsigned f = (unsigned)MALLOCX_TCACHE(tc);
        if (((f >> 8) & 0xfff) != (unsigned)(tc + 2) || (f & ~0xfff00u) != 0) {
            printf("MALLOCX_TCACHE(%d) = %#x\n", (int)tc, f);
            bad = 1;
        }
    }
    for (volatile unsigned lg = 0; lg < 63; lg++) {
        if (MALLOCX_ALIGN((size_t)1 << lg) != (int)lg || MALLOCX_LG_ALIGN(lg) != (int)lg) {
            printf("MALLOCX_ALIGN(1 << %u) = %d\n", (unsigned)lg, MALLOCX_ALIGN((size_t)1 << lg));
            bad = 1;
        }
    }
    /* A flag word with the top bit set still selects its arena when it exists. */
    unsigned a = 0;
    size_t sz = sizeof(a);
    if (mallctl("arenas.create", &a, &sz, NULL, 0) != 0) {
        printf("arenas.create failed\n");
        return 1;
    }
    volatile unsigned high = 2047;
    void *p = mallocx(64, MALLOCX_ARENA(high) | MALLOCX_TCACHE_NONE);
    if (a < 2047 && p != NULL) {
        printf("mallocx with MALLOCX_ARENA(2047), an arena that does not exist, gave %p\n", p);
        bad = 1;
    }
    p = mallocx(64, MALLOCX_ARENA(a) | MALLOCX_ZERO | MALLOCX_TCACHE_NONE);
    unsigned got = 9999;
    sz = sizeof(got);
    if (p == NULL || mallctl("arenas.lookup", &got, &sz, &p, sizeof(p)) != 0 || got != a) {
        printf("mallocx(MALLOCX_ARENA(%u)) = %p, in arena %u\n", a, p, got);
        bad = 1;
    }
    dallocx(p, MALLOCX_TCACHE_NONE);
    if (!bad)
        printf("flags ok\n");
    return bad;
}
CEOF
gcc -std=gnu11 -O1 -Wall -Wextra -Werror -fsanitize=undefined -fno-sanitize-recover=all \
    -I"$TOP_SRCDIR/include" "$src" -o "$TEST_TMPDIR/flags" -L"$TOP_BUILDDIR/lib" -lallocator \
    -Wl,-rpath,"$TOP_BUILDDIR/lib" 2>"$TEST_TMPDIR/cc.err" || {
    if grep -q 'ubsan' "$TEST_TMPDIR/cc.err"; then
        skip "gcc cannot link -fsanitize=undefined here (libubsan missing)"
    fi
    cat "$TEST_TMPDIR/cc.err" >&2
    fail "the flags program does not build"
}
out=$("$TEST_TMPDIR/flags" 2>&1)
rc=$?
echo "$out" | head -20
[ "$rc" -eq 0 ] || fail "the flags program exited $rc (undefined behaviour, or a flag decoded wrong)"
[[ $out == *"flags ok"* ]] || fail "the flags program did not finish its checks"
echo "ok: $PROG_TEST"
