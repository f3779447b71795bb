#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# bench/thp_threads.sh -- RSS of a process with many idle threads, with the kernel's transparent
# huge pages set to "madvise" and then "always", under liballocator and each peer.
#
#   bench/thp_threads.sh [--lib PATH] [NTHREADS]
#
# Needs root to write /sys/kernel/mm/transparent_hugepage/enabled; the setting is restored on
# exit. Prints one line per mode and allocator: RSS and AnonHugePages in KiB once all threads
# have allocated a little and sit idle (bench/thp_threads.c).
set -euo pipefail
bench=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lib="$bench/../lib/liballocator.so"
if [ "${1:-}" = --lib ]; then lib=$2; shift 2; fi
n=${1:-256}
knob=/sys/kernel/mm/transparent_hugepage/enabled
[ -w "$knob" ] || { echo "thp_threads: $knob is not writable (run as root)" >&2; exit 77; }
old=$(sed -e 's/.*\[\(.*\)\].*/\1/' "$knob")
trap 'echo "$old" > "$knob"' EXIT
bin=$(mktemp -d)/thp_threads
cc -O2 -pthread -o "$bin" "$bench/thp_threads.c"
multiarch=$(cc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
peers=("liballocator=$lib" "jemalloc=/usr/lib/$multiarch/libjemalloc.so.2"
    "mimalloc=/usr/lib/$multiarch/libmimalloc.so.2"
    "tcmalloc=/usr/lib/$multiarch/libtcmalloc_minimal.so.4" "glibc=")
printf '%-8s %-13s %10s %14s\n' thp allocator rss_kib anon_huge_kib
for mode in madvise always; do
    echo "$mode" > "$knob"
    for p in "${peers[@]}"; do
        name=${p%%=*} so=${p#*=}
        [ -z "$so" ] || [ -e "$so" ] || continue
        line=$(LD_PRELOAD=$so "$bin" "$n")
        set -- $line
        printf '%-8s %-13s %10s %14s\n' "$mode" "$name" "$4" "$6"
    done
done
