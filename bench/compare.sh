#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# bench/compare.sh [-n RUNS] -- COMMAND [ARGS...]
#
# Runs COMMAND under liballocator, jemalloc, mimalloc, tcmalloc and glibc (LD_PRELOAD),
# interleaving the allocators run by run, RUNS times each (default 5), and prints per allocator
# the median wall time and median peak RSS, with ratios to liballocator. Peers that are not
# installed are left out. Run from the build tree (uses lib/liballocator.so).
set -euo pipefail
runs=5
if [ "${1-}" = "-n" ]; then runs=$2; shift 2; fi
[ "${1-}" = "--" ] && shift
[ $# -gt 0 ] || { echo "usage: $0 [-n RUNS] -- COMMAND [ARGS...]" >&2; exit 2; }

top=$(cd "$(dirname "$0")/.." && pwd)
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
declare -A libs=(
    [liballocator]="$top/lib/liballocator.so"
    [jemalloc]="/usr/lib/$multiarch/libjemalloc.so.2"
    [mimalloc]="/usr/lib/$multiarch/libmimalloc.so.2"
    [tcmalloc]="/usr/lib/$multiarch/libtcmalloc_minimal.so.4"
    [glibc]=""
)
order=(liballocator jemalloc mimalloc tcmalloc glibc)
present=()
for a in "${order[@]}"; do
    if [ -z "${libs[$a]}" ] || [ -e "${libs[$a]}" ]; then present+=("$a"); fi
done
[ -x /usr/bin/time ] || { echo "bench/compare.sh needs /usr/bin/time (package time)" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for ((r = 0; r < runs; r++)); do
    for a in "${present[@]}"; do
        if ! LD_PRELOAD="${libs[$a]}" /usr/bin/time -f "%e %M" -o "$tmp/t" "$@" >/dev/null 2>"$tmp/err"; then
            echo "$a: command failed:" >&2
            tail -5 "$tmp/err" >&2
            exit 1
        fi
        cat "$tmp/t" >>"$tmp/$a"
    done
done

median() { sort -g | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
base_t=$(cut -d' ' -f1 "$tmp/liballocator" | median)
base_m=$(cut -d' ' -f2 "$tmp/liballocator" | median)
printf '%-14s %10s %8s %12s %8s\n' allocator "time(s)" ratio "peakRSS(KiB)" ratio
for a in "${present[@]}"; do
    t=$(cut -d' ' -f1 "$tmp/$a" | median)
    m=$(cut -d' ' -f2 "$tmp/$a" | median)
    awk -v a="$a" -v t="$t" -v m="$m" -v bt="$base_t" -v bm="$base_m" \
        'BEGIN { printf "%-14s %10.2f %8.2f %12d %8.2f\n", a, t, (bt > 0 ? t / bt : 0), m, (bm > 0 ? m / bm : 0) }' 
done
echo "(medians of $runs runs; ratio = allocator / liballocator; command: $*)"
