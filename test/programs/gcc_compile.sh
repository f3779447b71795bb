#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# gcc -O2 under liballocator compiling a large generated C file (thousands of functions, big
# switch statements and initialised tables, to give the optimiser work): the object file must be
# identical to the one a plain gcc makes, and the linked program must print the known result.
# gcc runs cc1 and as as child processes; each prints its own statistics, and cc1's count.
. "$(dirname "$0")/common.bash"

need_tool gcc gcc
need_tool awk mawk

src=$TEST_TMPDIR/big.c
awk 'BEGIN {
    n = 1500
    print "#include <stdio.h>"
    print "static const unsigned table[] = {"
    for (i = 0; i < 4000; i++) printf "%d,%s", (i * 2654435761) % 4294967296, (i % 8 == 7) ? "\n" : " "
    print "};"
    for (i = 0; i < n; i++) {
        printf "static unsigned f%d(unsigned x) {\n", i
        printf "    unsigned acc = %d;\n", i
        printf "    for (unsigned k = 0; k < %d; k++) {\n", 3 + i % 5
        printf "        switch ((x + k) %% 6) {\n"
        for (c = 0; c < 6; c++)
            printf "        case %d: acc = acc * %d + table[(x + %d * k) %% 4000] + %d; break;\n", c, 31 + c, c + 1, i % 97
        printf "        }\n    }\n"
        if (i > 0) printf "    return acc ^ f%d(x >> 3);\n}\n", i - 1
        else printf "    return acc;\n}\n"
    }
    print "int main(void) {"
    print "    unsigned long long sum = 0;"
    for (i = 0; i < n; i += 50) printf "    sum += f%d(%d);\n", i, i * 13
    print "    printf(\"%llu\\n\", sum);"
    print "    return 0;"
    print "}"
}' >"$src" || fail "could not generate the C file"

cd "$TEST_TMPDIR" || fail "no scratch directory"
gcc -O2 -c -o plain.o big.c || fail "plain gcc failed"
gcc -o plain plain.o && ./plain >plain.out || fail "the plainly compiled program failed"

with_allocator "$TEST_TMPDIR/err" gcc -O2 -c -o alloc.o big.c ||
    { tail -20 "$TEST_TMPDIR/err" >&2; fail "gcc -O2 under liballocator exited with $?"; }
expect_same_file plain.o alloc.o "gcc -O2 object file"
gcc -o alloc alloc.o && ./alloc >alloc.out || fail "the program compiled under liballocator failed"
expect_same_file plain.out alloc.out "output of the compiled program"
# cc1 (and as) print statistics too; at least two processes must have.
[ "$(grep -c '^___ Begin allocator statistics ___' "$TEST_TMPDIR/err")" -ge 2 ] ||
    fail "expected statistics from gcc and its child processes, got fewer than two blocks"
expect_served "$TEST_TMPDIR/err" 20000 "gcc -O2 (cc1)"
echo "ok: $PROG_TEST"
