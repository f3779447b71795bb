#!/bin/bash
# include/allocator.h is usable from C++ (the C++ test of thread_exit_cxx.sh links the library):
# with <malloc.h> and <stdlib.h> in either order, and the extended interface callable. glibc
# declares its allocation functions noexcept in C++, so a redeclaration without it is an error.
# Each program is compiled, linked with liballocator and run: it exits 0 only if mallocx,
# sallocx and dallocx worked (a 100-byte request has a usable size of 112), and a program that
# exits 3 on purpose must be seen to fail, so the check of the exit code is itself checked.
. "$(dirname "$0")/common.bash"

CXX=${CXX:-g++}
command -v "$CXX" >/dev/null 2>&1 || skip "no C++ compiler ($CXX; Debian package g++)"
[ -e "$TOP_BUILDDIR/lib/liballocator.so" ] || fail "no $TOP_BUILDDIR/lib/liballocator.so"

# build_run NAME HEADERS... : writes, builds and runs a program; sets rc to its exit code
# (or 200 if it did not build).
build_run() {
    local name=$1 src=$TEST_TMPDIR/$1.cc bin=$TEST_TMPDIR/$1
    shift
    : >"$src"
    for h in "$@"; do echo "#include <$h>" >>"$src"; done
    cat >>"$src"
    rc=200
    if ! "$CXX" -std=c++17 -Wall -Werror -I"$TOP_SRCDIR/include" "$src" -o "$bin" \
        -L"$TOP_BUILDDIR/lib" -lallocator -Wl,-rpath,"$TOP_BUILDDIR/lib" 2>"$TEST_TMPDIR/err"; then
        grep -E 'error' "$TEST_TMPDIR/err" | head -6 >&2
        return
    fi
    "$bin" >"$TEST_TMPDIR/out" 2>&1
    rc=$?
}

status=0
for order in "allocator.h malloc.h" "malloc.h allocator.h" "allocator.h cstdlib" \
    "cstdlib allocator.h"; do
    build_run h $order <<'CXXEOF'
int main() {
    void *p = mallocx(100, MALLOCX_ZERO);
    if (p == nullptr || static_cast<unsigned char *>(p)[99] != 0)
        return 2;
    size_t n = sallocx(p, 0);
    dallocx(p, 0);
    return n == 112 ? 0 : 1;
}
CXXEOF
    what="C++, #include <${order// /> then <}>"
    if [ "$rc" -eq 0 ]; then
        echo "$what: compiles, links and runs (exit 0)"
    elif [ "$rc" -eq 200 ]; then
        echo "FAIL: $PROG_TEST: $what: does not compile or link" >&2
        status=1
    else
        echo "FAIL: $PROG_TEST: $what: the program exited $rc" >&2
        cat "$TEST_TMPDIR/out" >&2
        status=1
    fi
done

# The exit code is really looked at: a program that fails on purpose is seen to fail.
build_run fails allocator.h cstdlib <<'CXXEOF'
int main() {
    void *p = mallocx(100, 0);
    dallocx(p, 0);
    return 3;
}
CXXEOF
if [ "$rc" -ne 3 ]; then
    echo "FAIL: $PROG_TEST: a program returning 3 gave $rc: exit codes are not checked" >&2
    status=1
fi

[ "$status" -eq 0 ] && echo "ok: $PROG_TEST"
exit "$status"
