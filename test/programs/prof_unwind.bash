# SPDX-License-Identifier: BSD-2-Clause
# Shared by programs/prof_unwind (x86_64, or whatever the host is) and programs/prof_unwind_aarch64
# (cross built, run under qemu); sourced after common.bash. Its name does not end in .sh, so
# test/run.sh does not take it for a test.
#
# prof_unwind_compare CC BUILD [RUNNER...]: builds prof_unwind_prog.c with CC against
#     BUILD/lib/liballocator.a (the shapes at -O0, and at -O2 without frame pointers, into the
#     program; two builds of them as shared libraries), runs it (through RUNNER, if given) and
#     FAILs unless the cached walk gave exactly _Unwind_Backtrace's frames on every stack and
#     answered on every ordinary one (the program's checks). Skips when BUILD was configured
#     without libgcc's unwinder.
prof_unwind_compare() {
    local cc=$1 build=$2
    shift 2
    local lib=$build/lib/liballocator.a d=$TEST_TMPDIR src=$TOP_SRCDIR/test/programs out rc
    [ -f "$lib" ] || fail "no $lib"
    grep -q 'ALLOCATOR_PROF_LIBGCC 1' "$build/include/allocator/internal/config_gen.h" \
        2>/dev/null || skip "built without libgcc's unwinder"
    "$cc" -O0 -g -c '-DSHAPE(n)=n##_o0' -o "$d/o0.o" "$src/prof_unwind_shapes.c" ||
        fail "build -O0"
    "$cc" -O2 -g -fomit-frame-pointer -c '-DSHAPE(n)=n##_o2' -o "$d/o2.o" \
        "$src/prof_unwind_shapes.c" || fail "build -O2"
    local pac_objs=() pac_flags=()
    case $("$cc" -dumpmachine) in
    aarch64*)
        # The shapes again with their return addresses signed (pointer authentication).
        "$cc" -O2 -g -fomit-frame-pointer -mbranch-protection=pac-ret+leaf -c \
            '-DSHAPE(n)=n##_pac' -o "$d/pac.o" "$src/prof_unwind_shapes.c" || fail "build pac-ret"
        pac_objs=("$d/pac.o")
        pac_flags=(-DPAC_SHAPES)
        ;;
    esac
    "$cc" -O2 -g -fPIC -shared -DPAD=1000 -o "$d/a.so" "$src/prof_unwind_shapes.c" || fail "lib A"
    "$cc" -O2 -g -fPIC -shared -DPAD=3000 -o "$d/b.so" "$src/prof_unwind_shapes.c" || fail "lib B"
    "$cc" -O2 -g -pthread "${pac_flags[@]}" -I"$TOP_SRCDIR/include" -I"$build/include" \
        -o "$d/prog" "$src/prof_unwind_prog.c" "$d/o0.o" \
        "$d/o2.o" "${pac_objs[@]}" "$lib" \
        -ldl || fail "building the program"
    out=$("$@" "$d/prog" "$d/a.so" "$d/b.so" 2>&1)
    rc=$?
    echo "$out" | tail -40
    [ "$rc" = 0 ] || fail "the walks differ, or the cached walk gave up (above)"
}
