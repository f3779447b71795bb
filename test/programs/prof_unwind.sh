#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# The profiler's cached CFI walk against libgcc's _Unwind_Backtrace, frame for frame, on many
# stacks (prof_unwind_prog.c): shapes built at -O0 and -O2 without frame pointers, two builds
# of a shared library swapped by dlclose/dlopen, a thread, a signal handler. On the machine's
# own architecture if the walk models it (x86_64, aarch64; elsewhere it gives up, and the
# profiler then uses libgcc); prof_unwind_aarch64.sh runs the same comparison for aarch64
# under qemu.
. "$(dirname "$0")/common.bash"
. "$(dirname "$0")/prof_unwind.bash"

CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"
case $("$CC" -dumpmachine) in
x86_64-* | aarch64-*) ;;
*) skip "the cached walk models x86_64 and aarch64 only" ;;
esac
prof_unwind_compare "$CC" "$TOP_BUILDDIR"
