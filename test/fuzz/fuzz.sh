#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# test/fuzz/fuzz.sh -- runs the fuzzer (tbin/fuzz/fuzz, test/fuzz/main.c) single-threaded and
# with threads under each MALLOC_CONF variant below, splitting a wall-clock budget evenly.
#
#   bash test/fuzz/fuzz.sh [--seconds TOTAL] [--bin PATH] [--threads N]
#
# `make check` runs it for about 30 s (test/run.sh, test "fuzz/fuzz"); `make fuzz FUZZ_SECONDS=N`
# for N seconds. Each run gets a fresh seed (FUZZ_SEED=S fixes them: run i uses S + i). One line
# per run with its operations per second; a failing run prints the fuzzer's report (the check
# that failed, the last operations of every thread, and the command that replays it). Exit 0
# when every run passed. Pass or fail depends only on what the checks see, never on the speed.
set -u

seconds=30
bin=
threads=4
while [ $# -gt 0 ]; do
    case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --bin) bin=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds TOTAL] [--bin PATH] [--threads N]" >&2; exit 2 ;;
    esac
done
if [ -z "$bin" ]; then
    bin=${TOP_BUILDDIR:-.}/tbin/fuzz/fuzz
fi
[ -x "$bin" ] || { echo "fuzz.sh: $bin is not built (make tests)" >&2; exit 1; }

# The variants: the default, then each option that changes a path the fuzzer drives.
variants=(
    ""
    "tcache:false"
    "narenas:1"
    "dirty_decay_ms:0"
    "dirty_decay_ms:100,muzzy_decay_ms:200"
    "retain:false"
    "junk:true"
    "zero:true"
    "background_thread:true,dirty_decay_ms:20,muzzy_decay_ms:20"
    "tcache_max:1024"
    "thp:always"
    "dss:primary,retain:false"
    "prof:true,lg_prof_sample:10,prof_recent_alloc_max:64"
)

nruns=$((${#variants[@]} * 2))
per_run=$(awk -v t="$seconds" -v n="$nruns" 'BEGIN { printf "%.2f", t / n }')
echo "fuzz.sh: $nruns runs of ${per_run} s (total ${seconds} s), $bin"

out=$(mktemp "${TMPDIR:-/tmp}/fuzz-out.XXXXXX") || exit 1
trap 'rm -f "$out"' EXIT
nfail=0
i=0
total_ops=0
for conf in "${variants[@]}"; do
    for n in 1 "$threads"; do
        seed_args=()
        if [ -n "${FUZZ_SEED:-}" ]; then
            seed_args=(--seed $((FUZZ_SEED + i)))
        fi
        i=$((i + 1))
        MALLOC_CONF=$conf "$bin" --seconds "$per_run" --threads "$n" "${seed_args[@]}" \
            >"$out" 2>&1 </dev/null
        rc=$?
        line=$(sed -n 's/^fuzz: ok: //p' "$out")
        if [ "$rc" -eq 0 ] && [ -n "$line" ]; then
            ops=${line%% operations*}
            total_ops=$((total_ops + ops))
            rate=$(sed -n 's/.*, \([0-9]*\) ops\/s.*/\1/p' <<<"$line")
            seed=$(sed -n 's/.*(seed \([0-9]*\),.*/\1/p' <<<"$line")
            printf 'ok   threads %-2s %8s ops/s  seed %-16s MALLOC_CONF=%s\n' "$n" "$rate" \
                "$seed" "$conf"
        else
            nfail=$((nfail + 1))
            printf 'FAIL threads %-2s exit %s  MALLOC_CONF=%s\n' "$n" "$rc" "$conf"
            sed -e 's/^/    /' "$out"
        fi
    done
done
echo "fuzz.sh: $((nruns - nfail)) of $nruns runs passed, $total_ops operations"
[ "$nfail" -eq 0 ]
