#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# liballocator.so loaded with dlopen() when glibc's static TLS surplus is all but used up, then
# dlclose()d while threads that used it still live (dlopen_tls_prog.c says how).
#
# liballocator's thread-local storage is one initial-exec structure of three words (tsd.h,
# tsd_tls_t: the thread's state and the free fast path's copy of a radix-tree leaf): its PT_TLS
# segment must be 24 bytes (readelf -lW). A debug build adds the lock witness's per-thread state (src/mutex.c), so
# there it may be larger, up to 64 bytes. The program first measures the free surplus T by
# loading test objects with initial-exec TLS until one fails ("cannot allocate memory in static
# TLS block"), then, in a new process, takes T - N bytes so that exactly N remain, N being the
# PT_TLS size rounded up to 8, checks that an object of N + 8 bytes no longer fits, and dlopens
# liballocator.so into them. That runs twice: with glibc's default surplus, and with
# GLIBC_TUNABLES making it small (glibc.rtld.optional_static_tls=0, glibc.rtld.nns=1).
. "$(dirname "$0")/common.bash"

CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"
need_tool readelf binutils

so=$(readlink -f "$ALLOCATOR_SO")
tls=$(readelf -lW "$so" | awk '$1 == "TLS" { print $6 }')
[ -n "$tls" ] || fail "readelf -lW $so shows no TLS segment"
echo "readelf -lW liballocator.so: PT_TLS MemSiz $tls ($((tls)) bytes)"
if grep -q 'define ALLOCATOR_DEBUG 1' "$TOP_BUILDDIR/include/allocator/internal/config_gen.h" \
    2>/dev/null; then
    [ $((tls)) -le 64 ] || fail "debug build: liballocator.so's PT_TLS is $((tls)) bytes (limit 64)"
else
    [ $((tls)) -eq 24 ] || fail "liballocator.so's PT_TLS is $((tls)) bytes, expected 24 (three words)"
fi
left=$(((tls + 7) / 8 * 8))

here=$TOP_SRCDIR/test/programs
d=$TEST_TMPDIR
specs=(1024:0 1024:1 1024:2 1024:3 1024:4 1024:5 1024:6 1024:7 512:0 256:0 128:0 64:0 32:0 16:0
    8:0)
pids=()
for s in "${specs[@]}"; do
    "$CC" -O2 -fPIC -shared -DTLS_BYTES="${s%:*}" -o "$d/tls_${s%:*}_${s#*:}.so" \
        "$here/dlopen_tls_block.c" &
    pids+=($!)
done
"$CC" -O2 -fPIC -shared -DTLS_BYTES=$((left + 8)) -o "$d/tls_probe.so" "$here/dlopen_tls_block.c" &
pids+=($!)
for p in "${pids[@]}"; do wait "$p" || fail "building the TLS test objects"; done
readelf -d "$d/tls_8_0.so" | grep -q STATIC_TLS || fail "the test objects are not marked STATIC_TLS"
"$CC" -O2 -g -pthread -o "$d/prog" "$here/dlopen_tls_prog.c" -ldl || fail "building dlopen_tls_prog"

for tunables in "" "glibc.rtld.optional_static_tls=0:glibc.rtld.nns=1"; do
    label=${tunables:-default surplus}
    free=$(env GLIBC_TUNABLES="$tunables" "$d/prog" measure "$d") ||
        fail "$label: measuring the static TLS surplus failed"
    echo "$label: $free bytes of static TLS surplus were free"
    [ "$free" -ge "$left" ] || fail "$label: not even $left bytes of static TLS surplus are free"
    [ "$free" -lt 8192 ] || fail "$label: the test objects did not use up the surplus"
    if ! env GLIBC_TUNABLES="$tunables" "$d/prog" run "$d" $((free - left)) "$so" >"$d/out" 2>&1
    then
        cat "$d/out" >&2
        fail "$label: dlopen of liballocator.so with $left bytes of surplus left failed"
    fi
    sed -e "s/^/$label: /" "$d/out"
    grep -q '^dlopen_tls: ok$' "$d/out" || fail "$label: the program did not finish"
done
echo "ok: $PROG_TEST"
