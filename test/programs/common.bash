# SPDX-License-Identifier: BSD-2-Clause
# Shared by test/programs/*.sh (sourced, not run: its name does not end in .sh, so test/run.sh
# does not take it for a test).
#
# A programs test runs a real program under liballocator ("$ALLOCATOR_SH" PROG ARGS) with
# MALLOC_CONF=stats_print:true, checks that the program did its job (its output equals a plain
# run's, or a known result), and checks that liballocator served it: every process that loaded
# the library prints its statistics to stderr at exit, starting with
# "___ Begin allocator statistics ___" and with a line "Allocations: nmalloc N, ndalloc N,
# nrequests N"; the largest nmalloc seen must reach a floor set per program.
#
# Environment (set by test/run.sh): ALLOCATOR_SO, ALLOCATOR_SH, TOP_SRCDIR, TOP_BUILDDIR,
# TEST_TMPDIR. Run by hand, a test takes TOP_BUILDDIR (default: the source tree) to find them.

set -u
set -o pipefail

PROG_TEST=$(basename "${BASH_SOURCE[1]:-$0}" .sh)

TOP_SRCDIR=${TOP_SRCDIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TOP_BUILDDIR=${TOP_BUILDDIR:-$TOP_SRCDIR}
ALLOCATOR_SO=${ALLOCATOR_SO:-$TOP_BUILDDIR/lib/liballocator.so}
ALLOCATOR_SH=${ALLOCATOR_SH:-$TOP_BUILDDIR/bin/allocator.sh}
if [ -z "${TEST_TMPDIR:-}" ]; then
    TEST_TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/allocator-programs.XXXXXX") || exit 1
    trap 'rm -rf "$TEST_TMPDIR"' EXIT
fi
unset MALLOC_CONF LD_PRELOAD

fail() {
    echo "FAIL: $PROG_TEST: $*" >&2
    exit 1
}

skip() {
    echo "SKIP: $PROG_TEST: $*"
    exit 77
}

# need_tool COMMAND DEBIAN_PACKAGE: skip the test when a program is not installed.
need_tool() {
    command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed (Debian package $2)"
}

# need_aarch64: the aarch64 cross compiler and qemu-user (XCC, QEMU, SYSROOT set), or skip.
need_aarch64() {
    XCC=aarch64-linux-gnu-gcc
    QEMU=qemu-aarch64-static
    SYSROOT=/usr/aarch64-linux-gnu
    need_tool "$XCC" gcc-aarch64-linux-gnu
    need_tool "$QEMU" qemu-user-static
}

# build_plugin_prog SRC [PROGRAM_FLAGS...]: a test built twice from one source file, with
# -DPLUGIN as the shared library $TEST_TMPDIR/plugin.so and without as the program
# $TEST_TMPDIR/prog (threads, dlopen, and any flags given); skips without a C compiler.
build_plugin_prog() {
    local src=$1
    shift
    CC=${CC:-cc}
    command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"
    "$CC" -O2 -g -fPIC -shared -DPLUGIN -o "$TEST_TMPDIR/plugin.so" "$src" ||
        fail "building the library"
    "$CC" -O2 -g -pthread "$@" -o "$TEST_TMPDIR/prog" "$src" -ldl || fail "building the program"
}

[ -e "$ALLOCATOR_SO" ] || fail "liballocator.so not found at $ALLOCATOR_SO"
[ -e "$ALLOCATOR_SH" ] || fail "allocator.sh not found at $ALLOCATOR_SH"

# with_allocator STDERR_FILE COMMAND [ARGS...]: runs COMMAND under liballocator with statistics
# printed at exit; its stderr (statistics included) goes to STDERR_FILE, stdout is left alone.
# Returns COMMAND's exit status.
with_allocator() {
    local errfile=$1
    shift
    MALLOC_CONF=stats_print:true "$ALLOCATOR_SH" "$@" 2>"$errfile"
}

# max_nmalloc FILE: the largest nmalloc among the statistics blocks in FILE (empty if none).
max_nmalloc() {
    sed -n 's/^ *Allocations: nmalloc \([0-9][0-9]*\), .*/\1/p' "$1" | sort -n | tail -1
}

# expect_served STDERR_FILE MIN_NMALLOC WHAT: fails unless liballocator printed statistics in
# STDERR_FILE and some process in it made at least MIN_NMALLOC allocations.
expect_served() {
    local errfile=$1 min=$2 what=$3 blocks n
    blocks=$(grep -c '^___ Begin allocator statistics ___' "$errfile")
    if [ "${blocks:-0}" -eq 0 ]; then
        echo "--- stderr of $what (last 20 lines) ---" >&2
        tail -20 "$errfile" >&2
        fail "$what: no liballocator statistics on stderr: liballocator did not serve it" \
            "(expected a line '___ Begin allocator statistics ___' with MALLOC_CONF=stats_print:true)"
    fi
    n=$(max_nmalloc "$errfile")
    if [ -z "$n" ]; then
        fail "$what: statistics without an 'Allocations: nmalloc N, ...' line"
    fi
    if [ "$n" -lt "$min" ]; then
        fail "$what: largest nmalloc is $n, expected at least $min ($blocks statistics blocks)"
    fi
    echo "$what: served by liballocator ($blocks processes printed statistics; max nmalloc $n)"
}

# For programs that close their standard error before exit (xz does: the statistics written at
# exit then fail with EBADF), the proof is the dynamic linker's own record instead:
# with_allocator_bindings PREFIX COMMAND [ARGS...] runs COMMAND under liballocator with
# LD_DEBUG=bindings written to PREFIX.PID files; expect_bound PREFIX OBJECT WHAT then fails unless
# OBJECT's (e.g. "xz" or "liblzma.so") references to malloc and free were bound to liballocator.
with_allocator_bindings() {
    local prefix=$1
    shift
    LD_DEBUG=bindings LD_DEBUG_OUTPUT=$prefix "$ALLOCATOR_SH" "$@"
}

expect_bound() {
    local prefix=$1 object=$2 what=$3 sym lines
    for sym in malloc free; do
        lines=$(cat "$prefix".* 2>/dev/null |
            grep -E "binding file ([^ ]*/)?$object[^ /]* \[" | grep -F "normal symbol \`$sym'")
        if [ -z "$lines" ]; then
            fail "$what: no binding of $object's $sym recorded by LD_DEBUG=bindings"
        fi
        if printf '%s\n' "$lines" | grep -v -q ' to [^ ]*liballocator[^ ]* '; then
            printf '%s\n' "$lines" | grep -v ' to [^ ]*liballocator[^ ]* ' | head -3 >&2
            fail "$what: $object's $sym is bound to something other than liballocator"
        fi
    done
    echo "$what: $object's malloc and free are bound to liballocator"
}

# expect_same_file EXPECTED ACTUAL WHAT: fails unless both files have the same contents.
expect_same_file() {
    local a b
    a=$(sha256sum <"$1" | cut -d' ' -f1)
    b=$(sha256sum <"$2" | cut -d' ' -f1)
    if [ "$a" != "$b" ]; then
        echo "--- first differences ---" >&2
        cmp "$1" "$2" 2>&1 | head -3 >&2
        fail "$3: output differs from the plain run ($(wc -c <"$1") vs $(wc -c <"$2") bytes," \
            "sha256 $a vs $b)"
    fi
}

# A python3 that is a real executable, not a version manager's shell shim.
find_python() {
    local p
    for p in /usr/bin/python3 "$(command -v python3 2>/dev/null)"; do
        if [ -n "$p" ] && [ -x "$p" ] && head -c 4 "$p" | grep -q 'ELF'; then
            echo "$p"
            return 0
        fi
    done
    command -v python3 2>/dev/null
}
