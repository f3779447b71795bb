#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# A program written and built for jemalloc (Debian's <jemalloc/jemalloc.h>, linked with
# -ljemalloc) runs under liballocator unchanged: with liballocator preloaded, every jemalloc
# function it calls must reach liballocator, not libjemalloc. Proof, three ways:
#   - the dynamic linker's own record (LD_DEBUG=bindings, LD_BIND_NOW=1): each of the program's
#     references to mallocx, rallocx, xallocx, sallocx, dallocx, sdallocx, nallocx, mallctl,
#     mallctlnametomib, mallctlbymib, malloc_stats_print and malloc_usable_size is bound to
#     liballocator;
#   - the answers are liballocator's: a version like 0.1.0, arenas.nbins 35 (with 4 KiB pages),
#     arenas.bin.0.size 16,
#     nallocx(1, 0) 16, statistics beginning "___ Begin allocator statistics ___";
#   - run without the preload, the same binary gives jemalloc's answers (36 bins, an 8-byte class,
#     its own statistics header), so the facts above do tell the two apart.
# The program's own checks (contents kept, alignment, zeroing, xallocx == sallocx, ENOENT) must
# pass under both. Skips when libjemalloc-dev or a C compiler is missing.
. "$(dirname "$0")/common.bash"

CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"
[ -f /usr/include/jemalloc/jemalloc.h ] ||
    skip "jemalloc's header is not installed (Debian package libjemalloc-dev)"

prog=$TEST_TMPDIR/jemalloc_abi_prog
"$CC" -O1 -o "$prog" "$TOP_SRCDIR/test/programs/jemalloc_abi_prog.c" -ljemalloc \
    2>"$TEST_TMPDIR/cc.err" || {
    cat "$TEST_TMPDIR/cc.err" >&2
    skip "cannot build a program with -ljemalloc (Debian package libjemalloc-dev)"
}
libs=$(ldd "$prog")
[[ $libs == *libjemalloc* ]] || fail "the program is not linked with libjemalloc: $libs"

# value KEY FILE
value() { sed -n "s/^$1=//p" "$2" | head -n 1; }

# Plain: jemalloc's answers.
"$prog" >"$TEST_TMPDIR/plain.out" 2>&1 || {
    cat "$TEST_TMPDIR/plain.out" >&2
    fail "the program fails under jemalloc"
}
echo "--- under jemalloc:"
cat "$TEST_TMPDIR/plain.out"

# Preloaded: liballocator's, bindings recorded.
LD_BIND_NOW=1 LD_DEBUG=bindings LD_DEBUG_OUTPUT=$TEST_TMPDIR/bind \
    "$ALLOCATOR_SH" "$prog" >"$TEST_TMPDIR/ours.out" 2>&1 ||
    { cat "$TEST_TMPDIR/ours.out" >&2; fail "the program fails under liballocator"; }
echo "--- under liballocator:"
cat "$TEST_TMPDIR/ours.out"

# Every extended-interface reference of the program binds to liballocator.
name=$(basename "$prog")
for sym in mallocx rallocx xallocx sallocx dallocx sdallocx nallocx mallctl mallctlnametomib \
    mallctlbymib malloc_stats_print malloc_usable_size malloc free; do
    lines=$(cat "$TEST_TMPDIR"/bind.* 2>/dev/null | grep -E "binding file ([^ ]*/)?$name \[" |
        grep -F "normal symbol \`$sym'")
    [ -n "$lines" ] || fail "LD_DEBUG=bindings recorded no binding of the program's $sym"
    if printf '%s\n' "$lines" | grep -v -q ' to [^ ]*liballocator[^ ]* '; then
        printf '%s\n' "$lines" >&2
        fail "the program's $sym is bound to something other than liballocator"
    fi
done
echo "bindings: all of the program's jemalloc functions are bound to liballocator"

# liballocator's answers...
v=$(value version "$TEST_TMPDIR/ours.out")
[[ $v =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || fail "version under liballocator is '$v'"
[[ $v == 5.* ]] && fail "version under liballocator is jemalloc's ($v)"
# 35 small classes with 4 KiB pages: four per doubling below 4 pages (4 * (lg_page + 2) - 21).
page=$(value page "$TEST_TMPDIR/ours.out")
lg_page=0
while [ $((1 << lg_page)) -lt "${page:-0}" ]; do lg_page=$((lg_page + 1)); done
[ "$page" = 4096 ] || echo "note: liballocator's page is $page"
nbins=$((4 * (lg_page + 2) - 21))
[ "$(value nbins "$TEST_TMPDIR/ours.out")" = "$nbins" ] ||
    fail "arenas.nbins is not liballocator's $nbins"
[ "$(value bin0 "$TEST_TMPDIR/ours.out")" = 16 ] ||
    fail "arenas.bin.0.size is not liballocator's 16"
[ "$(value nallocx1 "$TEST_TMPDIR/ours.out")" = 16 ] ||
    fail "nallocx(1, 0) is not liballocator's 16"
[ "$(value usable1 "$TEST_TMPDIR/ours.out")" = 16 ] ||
    fail "malloc_usable_size(malloc(1)) is not liballocator's 16"
[ "$(value nallocx100 "$TEST_TMPDIR/ours.out")" = 112 ] || fail "nallocx(100, 0) is not 112"
[ "$(value stats_first_line "$TEST_TMPDIR/ours.out")" = "___ Begin allocator statistics ___" ] ||
    fail "malloc_stats_print did not print liballocator's header"
[ "$(value failures "$TEST_TMPDIR/ours.out")" = 0 ] || fail "the program's own checks failed"

# ...which are not jemalloc's.
[ "$(value nbins "$TEST_TMPDIR/plain.out")" != "$nbins" ] ||
    fail "jemalloc also reports $nbins bins: nbins proves nothing"
[ "$(value nallocx1 "$TEST_TMPDIR/plain.out")" != 16 ] || fail "jemalloc also gives nallocx(1) = 16"
[ "$(value stats_first_line "$TEST_TMPDIR/plain.out")" != "___ Begin allocator statistics ___" ] ||
    fail "the plain run printed liballocator's header: libjemalloc is not what it uses"
[ "$(value version "$TEST_TMPDIR/plain.out")" != "$v" ] || fail "both runs report version $v"
echo "ok: $PROG_TEST"
