#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Options from the environment and /etc/malloc.conf are ignored in setuid programs: a program
# linked with liballocator is made setuid root and run by an unprivileged user (AT_SECURE set by
# the kernel) with MALLOC_CONF=narenas:5 in its environment; it must report that the variable
# reached it but opt.narenas is not 5. The same binary without the setuid bit, run by the same
# user, must honour the variable (so the test cannot pass by ignoring it always). When there is
# no /etc/malloc.conf, one is made for a moment (narenas:6) to check that source the same way.
# Needs root, setpriv (util-linux) and a C compiler; skips otherwise.
. "$(dirname "$0")/common.bash"

[ "$(id -u)" -eq 0 ] || skip "needs root (to make a setuid-root binary and switch users)"
need_tool setpriv util-linux
CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"

USER_ID=65534 # nobody
etc_made=
dir=
cleanup() {
    [ -n "$etc_made" ] && rm -f /etc/malloc.conf
    [ -n "$dir" ] && rm -rf "$dir"
}
trap cleanup EXIT

# "${NOBODY[@]}" COMMAND...: run COMMAND as uid/gid 65534 with no supplementary groups.
NOBODY=(setpriv "--reuid=$USER_ID" "--regid=$USER_ID" --clear-groups --)

# The binaries must be reachable by the unprivileged user (TEST_TMPDIR's parents are private)
# and on a file system that honours the setuid bit: try a few places.
for base in "${TMPDIR:-/tmp}" /var/tmp "$TOP_BUILDDIR/tbin"; do
    [ -d "$base" ] || continue
    d=$(mktemp -d "$base/allocator-setuid.XXXXXX" 2>/dev/null) || continue
    chmod 755 "$d"
    cp "$ALLOCATOR_SO" "$d/liballocator.so.1" || { rm -rf "$d"; continue; }
    ln -s liballocator.so.1 "$d/liballocator.so"
    if ! "$CC" -O1 -I"$TOP_SRCDIR/include" -o "$d/plain" \
        "$TOP_SRCDIR/test/programs/setuid_conf_prog.c" -L"$d" -lallocator -Wl,-rpath,"$d" \
        2>"$TEST_TMPDIR/cc.err"; then
        cat "$TEST_TMPDIR/cc.err" >&2
        rm -rf "$d"
        fail "cannot compile setuid_conf_prog.c"
    fi
    cp "$d/plain" "$d/setuid"
    chown root:root "$d" "$d"/*
    chmod 755 "$d/plain" "$d/liballocator.so.1"
    chmod 4755 "$d/setuid"
    probe=$("${NOBODY[@]}" "$d/setuid" 2>/dev/null)
    if [[ $probe == secure=1\ * ]]; then
        dir=$d
        break
    fi
    rm -rf "$d"
done
[ -n "$dir" ] || skip "no directory where user $USER_ID can run a setuid binary (nosuid mounts?)"
echo "setuid test binaries in $dir"

# field NAME LINE: the value of NAME=VALUE in LINE.
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

# run WHAT COMMAND...: run, require exit 0, print and return its report line in $out, stderr in
# $err_text.
run() {
    local what=$1
    shift
    out=$("$@" 2>"$TEST_TMPDIR/stderr") || {
        cat "$TEST_TMPDIR/stderr" >&2
        fail "$what: exit status $?"
    }
    err_text=$(cat "$TEST_TMPDIR/stderr")
    echo "$what: $out"
}

# The default, for comparison.
run "nobody, plain, no MALLOC_CONF" env -u MALLOC_CONF "${NOBODY[@]}" "$dir/plain"
default_narenas=$(field narenas "$out")
[ "$default_narenas" != 5 ] && [ "$default_narenas" != 6 ] ||
    skip "the default narenas is $default_narenas here, which this test uses as a marker"

# Control: not setuid, the environment is read.
run "nobody, plain" env MALLOC_CONF=narenas:5,tcache:false "${NOBODY[@]}" "$dir/plain"
[ "$(field secure "$out")" = 0 ] || fail "the plain binary ran with AT_SECURE set"
[ "$(field narenas "$out")" = 5 ] || fail "a plain program ignored MALLOC_CONF=narenas:5: $out"
[ "$(field tcache "$out")" = false ] ||
    fail "a plain program ignored MALLOC_CONF=tcache:false: $out"

# Setuid: the variable arrives but is not used.
run "nobody, setuid" env MALLOC_CONF=narenas:5,tcache:false "${NOBODY[@]}" "$dir/setuid"
[ "$(field secure "$out")" = 1 ] || fail "the setuid binary did not run with AT_SECURE set: $out"
[ "$(field euid "$out")" = 0 ] || fail "the setuid binary did not run as euid 0: $out"
[ "$(field env "$out")" = narenas:5,tcache:false ] ||
    fail "MALLOC_CONF did not reach the setuid program, so the test proves nothing: $out"
[ "$(field narenas "$out")" = "$default_narenas" ] ||
    fail "setuid program: opt.narenas is $(field narenas "$out"), expected the default" \
        "$default_narenas (MALLOC_CONF=narenas:5 must be ignored)"
[ "$(field tcache "$out")" = true ] ||
    fail "setuid program took tcache:false from MALLOC_CONF: $out"

# Nor is a bad pair reported: the variable is not parsed at all.
run "nobody, setuid, bad pair" env MALLOC_CONF=bogus_option:1 "${NOBODY[@]}" "$dir/setuid"
[ -z "$err_text" ] || fail "setuid program parsed MALLOC_CONF: stderr: $err_text"

# /etc/malloc.conf, when it can be made without disturbing an existing one.
if [ -e /etc/malloc.conf ] || [ -L /etc/malloc.conf ]; then
    echo "note: /etc/malloc.conf exists ($(readlink /etc/malloc.conf)); its check is left out"
elif ln -s narenas:6 /etc/malloc.conf 2>/dev/null; then
    etc_made=yes
    out_plain=$(env -u MALLOC_CONF "${NOBODY[@]}" "$dir/plain" 2>&1)
    out_setuid=$(env -u MALLOC_CONF "${NOBODY[@]}" "$dir/setuid" 2>&1)
    rm -f /etc/malloc.conf
    etc_made=
    echo "/etc/malloc.conf -> narenas:6, plain: $out_plain"
    echo "/etc/malloc.conf -> narenas:6, setuid: $out_setuid"
    [ "$(field narenas "$out_plain")" = 6 ] ||
        fail "a plain program ignored /etc/malloc.conf -> narenas:6: $out_plain"
    [ "$(field secure "$out_setuid")" = 1 ] || fail "setuid run without AT_SECURE: $out_setuid"
    [ "$(field narenas "$out_setuid")" = "$default_narenas" ] ||
        fail "setuid program took narenas from /etc/malloc.conf: $out_setuid"
else
    echo "note: cannot create /etc/malloc.conf; its check is left out"
fi

echo "ok: $PROG_TEST"
