#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# No module includes a module above it. doc/DESIGN.md's layer table (the rows after the
# "<!-- layers:" line: layer | module | files | concept) gives every source file a layer and a
# module; a file may include the headers of its own module and of lower layers only. Every
# src/*.c and include/allocator/internal/*.h must have a row, every file a row names must exist,
# and no file but src/pages.c may call mmap, munmap, mremap, madvise or sbrk.
#
# The check runs on the tree, then on a copy with a back-edge put in (pages.c including api.h),
# which it must reject, so a check that has stopped seeing back-edges fails too.
. "$(dirname "$0")/common.bash"

# check_layers ROOT: prints each problem; exits 1 if there is any.
check_layers() {
    local root=$1
    awk -v root="$root" '
        function base(p) { sub(/.*\//, "", p); return p }
        FNR == 1 { fileno++ }
        # Pass 1: the layer table.
        fileno == 1 && /<!-- layers:/ { intable = 1; next }
        fileno == 1 && intable && /^\|/ {
            n = split($0, col, "|")
            layer = col[2]; gsub(/ /, "", layer)
            if (layer !~ /^[0-9]+$/) next
            module = col[3]; gsub(/ /, "", module)
            files = col[4]
            while (match(files, /`[^`]+`/)) {
                f = substr(files, RSTART + 1, RLENGTH - 2)
                files = substr(files, RSTART + RLENGTH)
                if (f in lay) { print "layer table: " f " has two rows"; bad = 1 }
                lay[f] = layer + 0; mod[f] = module; named[f] = 1
            }
            next
        }
        fileno == 1 && intable && !/^\|/ { intable = 0; next }
        fileno == 1 { next }
        # Pass 2: every source file.
        FNR == 1 {
            cur = base(FILENAME)
            if (cur == "config_gen.h.in") cur = "config_gen.h"
            seen[cur] = 1
            if (!(cur in lay)) {
                print FILENAME ": not in the layer table of doc/DESIGN.md (add a row)"
                bad = 1
            }
        }
        /^[ \t]*#[ \t]*include[ \t]*"allocator/ {
            inc = $0; sub(/^[^"]*"/, "", inc); sub(/".*/, "", inc); inc = base(inc)
            if (!(cur in lay)) next
            if (!(inc in lay)) {
                print FILENAME ":" FNR ": includes " inc ", which is not in the layer table"
                bad = 1
            } else if (mod[inc] != mod[cur] && lay[inc] >= lay[cur]) {
                printf "%s:%d: back-edge: %s (layer %d, %s) includes %s (layer %d, %s)\n",
                    FILENAME, FNR, cur, lay[cur], mod[cur], inc, lay[inc], mod[inc]
                bad = 1
            }
        }
        FILENAME !~ /\/src\/pages\.c$/ && !/^[ \t]*(\*|\/\*|\/\/)/ && /(^|[^_a-zA-Z0-9.>])(mmap|munmap|mremap|madvise|sbrk)[ \t]*\(/ {
            print FILENAME ":" FNR ": calls the kernel'"'"'s memory interface outside pages.c"
            bad = 1
        }
        END {
            for (f in named) {
                if (!(f in seen) && f != "allocator.h") {
                    print "layer table: " f " names no file in src/ or include/allocator/internal/"
                    bad = 1
                }
            }
            exit bad
        }
    ' "$root/doc/DESIGN.md" "$root"/src/*.c "$root"/include/allocator/internal/*.h \
        "$root"/include/allocator/internal/*.h.in
}

[ -f "$TOP_SRCDIR/doc/DESIGN.md" ] || fail "no doc/DESIGN.md in $TOP_SRCDIR"
grep -q '<!-- layers:' "$TOP_SRCDIR/doc/DESIGN.md" || fail "doc/DESIGN.md has no layer table"
if ! check_layers "$TOP_SRCDIR" >"$TEST_TMPDIR/out"; then
    cat "$TEST_TMPDIR/out" >&2
    fail "a module includes a module above it, or the layer table is out of date"
fi
nfiles=$(ls "$TOP_SRCDIR"/src/*.c "$TOP_SRCDIR"/include/allocator/internal/*.h | wc -l)
[ "$nfiles" -gt 40 ] || fail "only $nfiles source files found in $TOP_SRCDIR"

# The same check must see a back-edge and an mmap call put into a copy of the tree.
copy=$TEST_TMPDIR/tree
mkdir -p "$copy/doc" "$copy/include/allocator" || fail "mkdir"
cp -r "$TOP_SRCDIR/src" "$copy/" && cp -r "$TOP_SRCDIR/include/allocator/internal" \
    "$copy/include/allocator/" && cp "$TOP_SRCDIR/doc/DESIGN.md" "$copy/doc/" || fail "copy"
check_layers "$copy" >"$TEST_TMPDIR/copy.out" || fail "the copy of the tree fails where the tree passes"
echo '#include "allocator/internal/api.h"' >>"$copy/src/pages.c"
echo 'static void *layers_probe(void) { return mmap(0, 4096, 0, 0, -1, 0); }' >>"$copy/src/base.c"
if check_layers "$copy" >"$TEST_TMPDIR/copy.out"; then
    fail "a back-edge (pages.c including api.h) went unseen"
fi
grep -q 'back-edge: pages.c (layer [0-9]*, pages) includes api.h' "$TEST_TMPDIR/copy.out" ||
    fail "the back-edge report is missing: $(cat "$TEST_TMPDIR/copy.out")"
grep -q 'base.c:.*outside pages.c' "$TEST_TMPDIR/copy.out" ||
    fail "the mmap call outside pages.c went unseen: $(cat "$TEST_TMPDIR/copy.out")"
echo "$nfiles files, no back-edge; a planted back-edge and mmap call are reported"
