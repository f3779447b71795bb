# SPDX-License-Identifier: BSD-2-Clause
# Shared by the programs tests that build liballocator again in another configuration (a cross
# build, musl, another page size); sourced after common.bash. Its name does not end in .sh, so
# test/run.sh does not take it for a test.
#
# scratch_build DIR CONFIGURE_ARGS...: configures the source tree out of tree in DIR (made
#     fresh) with the given arguments, then builds $SCRATCH_TARGETS there (default
#     lib/liballocator.a). Output goes to DIR/build.log; on failure the log's tail is printed and
#     the test FAILs.
# scratch_make DIR TARGETS...: runs make in DIR, isolated from the make that runs `make check`.
# static_wrap_flags [glibc|musl]: the linker flags of test/static/static_startup.ldflags (the
#     --wrap list of the static startup test), without the lines marked "glibc only" for musl.

# The make running `make check` exports its jobserver and command-line variables (TESTS among
# them); a make started here must not inherit them.
scratch_make() {
    local dir=$1
    shift
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES -u TESTS -u CHECK_CONFS \
        -u CHECK_JOBS make --no-print-directory -C "$dir" "$@"
}

scratch_build() {
    local dir=$1
    shift
    [ -x "$TOP_SRCDIR/configure" ] ||
        fail "$TOP_SRCDIR/configure is missing (run ./autogen.sh in the source tree)"
    rm -rf "$dir"
    mkdir -p "$dir" || fail "cannot make $dir"
    if ! (cd "$dir" && "$TOP_SRCDIR/configure" "$@") >"$dir/build.log" 2>&1; then
        tail -30 "$dir/build.log" >&2
        fail "configure $* failed (log above)"
    fi
    # shellcheck disable=SC2086 # a list of targets
    if ! scratch_make "$dir" -j2 ${SCRATCH_TARGETS:-lib/liballocator.a} >>"$dir/build.log" 2>&1
    then
        grep -E 'error|Error' "$dir/build.log" | sed -e "s|$TOP_SRCDIR/||" | sort -u | head -40 >&2
        fail "building ${SCRATCH_TARGETS:-lib/liballocator.a} (configure $*) failed" \
            "(compiler errors above)"
    fi
}

static_wrap_flags() {
    local f="$TOP_SRCDIR/test/static/static_startup.ldflags"
    if [ "${1:-glibc}" = musl ]; then
        grep -v 'glibc only' "$f"
    else
        cat "$f"
    fi | sed -e 's/#.*//' | tr '\n' ' '
}
