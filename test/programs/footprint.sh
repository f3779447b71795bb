#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The start-up footprint: state that a minimal program does not use stays untouched, so its pages
# are never made resident (footprint_prog.c lists the library's data and .bss pages the process
# made its own). Checked: the background threads' table, which boot used to set up whole
# (12 KiB) though no thread runs unless background_thread asks; and the library's text: the code
# a program runs comes first (Makefile.in, SHLIB_FIRST), so 32 KiB at least of the rest stays out
# of memory (the kernel maps text 64 KiB around each page touched), and where the link placed it
# in its own sections before .text (obj/hot.ld), all of it lies in one 64 KiB window: a minimal
# program has at most one window of text resident. The program runs on a fresh copy of the
# library, whose pages the copy left in the page cache in large folios, all of which the kernel
# maps: how much of a window becomes resident depends on how the file came into the cache, and
# a copy (as bench/run.sh makes, as an installed library read by many processes) is the case
# where whole windows do; and
# the small variables of .bss (64 bytes or less, about a hundred, most written by every program)
# lie together on a few pages (configure: -fdata-sections, --sort-section=alignment), not on 15
# or 16 pages between the big tables: 3 with gcc and with clang. gcc aligns big objects to 32
# bytes, so they sort first; clang leaves a struct at its type's alignment, so the big .bss
# tables whose type is 8-aligned carry CACHE_ALIGNED (the radix tree's root, the statistics
# snapshots, the dump buffers): without it, clang's build had them on 11 pages.
# Also the libc functions the library calls (lazy binding, LD_DEBUG=bindings): libc's pages are
# mapped 64 KiB at a time around each one touched, so a minimal program must not call
# pthread_mutex_trylock (glibc's reads a jump table in its .rodata: one more window; mutex.h),
# the condition variables' functions (background threads only), dl_iterate_phdr (profiling),
# clock_gettime (nstime.c reads the clock through the vDSO), readlink (conf.c: the system call) or
# __register_atfork (pthread_atfork: glibc's first registration reads a constant in its .rodata,
# one more window, 120 KiB resident with its code; a process with one thread needs no fork
# handler, so they are registered only once it has a second: atfork.h).
. "$(dirname "$0")/common.bash"

CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"
need_tool nm binutils
so=$(readlink -f "$ALLOCATOR_SO")
"$CC" -O2 -o "$TEST_TMPDIR/prog" "$TOP_SRCDIR/test/programs/footprint_prog.c" ||
    fail "building the program"
# The pages lying wholly inside symbol $1 (offsets from the load address, hex, one a line).
inner_pages() {
    local pg addr size a e p
    pg=$(getconf PAGESIZE)
    read -r addr size < <(nm -S "$so" | awk -v sym="$1" '$4 == sym { print $1, $2; exit }')
    [ -n "${addr:-}" ] || return 0
    a=$((16#$addr)) e=$((16#$addr + 16#$size))
    for ((p = (a + pg - 1) / pg * pg; p + pg <= e; p += pg)); do printf '%x\n' "$p"; done
}
small_pages=$(nm -S "$so" | while read -r addr size type name; do
    case $type in b | B) ((16#$size <= 64)) && echo $((16#$addr / 4096)) ;; esac
done | sort -u | wc -l)
echo "small .bss variables: on $small_pages pages"
[ "$small_pages" -gt 0 ] || fail "no small .bss variable seen: the probe is broken"
[ "$small_pages" -le 5 ] || fail "the small .bss variables are spread over $small_pages pages"

nm -S "$so" | awk '$4 == "bg_threads" { found = 1 } END { exit !found }' ||
    skip "no symbol table in $so (stripped?)"
bg=$(inner_pages bg_threads)
[ -n "$bg" ] || fail "the background threads' table holds no whole page: its residency cannot be checked"

mkdir -p "$TEST_TMPDIR/copy"
cp "$so" "$TEST_TMPDIR/copy/liballocator.so.1" || fail "copying the library"
out=$(LD_PRELOAD=$TEST_TMPDIR/copy/liballocator.so.1 "$TEST_TMPDIR/prog") ||
    fail "the program failed"
resident=$(echo "$out" | grep -v '^text')
read -r _ text_pages text_present < <(echo "$out" | grep '^text')
[ "${text_pages:-0}" -gt 0 ] || fail "no executable mapping of the library seen: the probe is broken"
echo "text: $text_present of $text_pages pages present"
# The layout that keeps a minimal program's code together is the default build's: a debug
# build's code (asserts, validation) is larger, and where its fault-around windows fall moves
# with its size.
if grep -q 'define ALLOCATOR_DEBUG 1' "$TOP_BUILDDIR/include/allocator/internal/config_gen.h"; then
    echo "a debug build: the text pages are not checked"
else
    [ "$text_present" -le $((text_pages - 32768 / $(getconf PAGESIZE))) ] ||
        fail "$text_present of the library's $text_pages text pages are present: the code a minimal program runs is not together"
    if readelf -SW "$so" | grep -q ' allocator_hot '; then
        window=$((65536 / $(getconf PAGESIZE)))
        [ "$window" -ge 1 ] || window=1
        [ "$text_present" -le "$window" ] ||
            fail "$text_present text pages present, more than one 64 KiB window: the code" \
                "a minimal program runs spills out of obj/hot.ld's sections (a function to" \
                "mark TEXT_HOT or COLD, or a module for SHLIB_FIRST?)"
        echo "text: the code a minimal program runs fits one 64 KiB window"
    fi
fi
[ -n "$resident" ] || fail "no resident page listed at all: the probe is broken"
touched=$(comm -12 <(echo "$bg" | sort) <(echo "$resident" | sort))
[ -z "$touched" ] || fail "the background threads' table is resident without background threads: $touched"
echo "background table: $(echo "$bg" | wc -l) pages inside it, none resident"


if readelf -d "$so" | grep -Eq 'BIND_NOW|FLAGS.*NOW'; then
    echo "the library binds its symbols at load: which libc functions it calls cannot be seen"
else
    calls=$(LD_DEBUG=bindings LD_PRELOAD=$so "$TEST_TMPDIR/prog" 2>&1 >/dev/null |
        grep "binding file $so \[0\] to " | sed "s/.*symbol \`\([^']*\)'.*/\1/" | sort -u)
    echo "$calls" | grep -qx pthread_mutex_lock || fail "no lazy binding seen: the probe is broken"
    bad=$(echo "$calls" | grep -E '^(pthread_mutex_trylock|pthread_cond.*|dl_iterate_phdr|_Unwind.*|clock_gettime|readlink|__register_atfork|pthread_atfork)$')
    [ -z "$bad" ] || fail "a minimal program made liballocator call: $bad"
    echo "libc functions called: $(echo $calls)"
fi
