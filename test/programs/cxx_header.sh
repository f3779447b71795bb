#!/bin/bash
# include/allocator.h is usable from C++ (the C++ test of thread_exit_cxx.sh links the library):
# with <malloc.h> and <stdlib.h> in either order, and the extended interface callable. glibc
# declares its allocation functions noexcept in C++, so a redeclaration without it is an error.
. "$(dirname "$0")/common.bash"

CXX=${CXX:-g++}
command -v "$CXX" >/dev/null 2>&1 || skip "no C++ compiler ($CXX; Debian package g++)"
status=0
for order in "allocator.h malloc.h" "malloc.h allocator.h" "allocator.h cstdlib" \
    "cstdlib allocator.h"; do
    src=$TEST_TMPDIR/h.cc
    : >"$src"
    for h in $order; do echo "#include <$h>" >>"$src"; done
    cat >>"$src" <<'CXXEOF'
int main() {
    void *p = mallocx(100, MALLOCX_ZERO);
    size_t n = sallocx(p, 0);
    dallocx(p, 0);
    return n == 112 ? 0 : 1;
}
CXXEOF
    if "$CXX" -std=c++17 -fsyntax-only -Wall -I"$TOP_SRCDIR/include" "$src" \
        2>"$TEST_TMPDIR/err"; then
        echo "C++, #include <${order// /> then <}>: compiles"
    else
        echo "FAIL: $PROG_TEST: C++, #include <${order// /> then <}>: does not compile:" >&2
        grep -E 'error' "$TEST_TMPDIR/err" | head -6 >&2
        status=1
    fi
done
[ "$status" -eq 0 ] && echo "ok: $PROG_TEST"
exit "$status"
