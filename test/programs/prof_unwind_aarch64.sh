#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# programs/prof_unwind for aarch64: liballocator.a cross built (configure
# --host=aarch64-linux-gnu, out of tree), prof_unwind_prog.c and its shapes built with the cross
# compiler, and run under qemu-aarch64-static with the aarch64 loader and libraries of
# $SYSROOT. The cached walk must give exactly _Unwind_Backtrace's frames on every stack, and
# answer on every ordinary one (so a walk that silently always gave up fails), including frames
# whose return address is signed (paciasp, DW_CFA_AARCH64_negate_ra_state: qemu's default CPU
# signs; the shapes also built with -mbranch-protection=pac-ret+leaf); it must give up on a CFA
# expression and a return address kept in another register. Skips when the cross compiler,
# qemu-aarch64-static or the aarch64 loader is missing (Debian packages gcc-aarch64-linux-gnu,
# qemu-user-static, libc6-dev-arm64-cross).
. "$(dirname "$0")/common.bash"
. "$(dirname "$0")/scratch_build.bash"
. "$(dirname "$0")/prof_unwind.bash"

need_aarch64
[ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ] ||
    skip "no aarch64 dynamic loader in $SYSROOT (Debian package libc6-dev-arm64-cross)"

b=$TEST_TMPDIR/aarch64
scratch_build "$b" --host=aarch64-linux-gnu
prof_unwind_compare "$XCC" "$b" env QEMU_LD_PREFIX="$SYSROOT" "$QEMU"
echo "ok: $PROG_TEST"
