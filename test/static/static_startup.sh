#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Runs the statically linked static_startup binary ($1) the ways glibc's static startup differs:
# without LD_LIBRARY_PATH (startup only mallocs), with it (startup also frees), and with
# statistics printed at exit, which must come from liballocator.
# The program prints where its allocations before constructors came from ("early caller:"
# offsets); addr2line names those functions, and one must be glibc's own startup (_dl_*: what
# _dl_non_dynamic_init calls), so the blocks the program checked are glibc's. A run with
# dss:primary has the program check that those blocks came from the program break.
# STATIC_RUNNER, when set, is a command that runs the binary (an emulator for a cross-built one:
# test/programs/cross_aarch64.sh sets "qemu-aarch64-static", and ADDR2LINE and NM to the cross
# tools).
set -u
bin=${1:?usage: static_startup.sh BINARY}
status=0
read -r -a runner <<<"${STATIC_RUNNER:-}"

run() {
    local what=$1
    shift
    local out
    if ! out=$("$@" 2>&1); then
        echo "FAIL: static_startup.sh: $what: exited non-zero" >&2
        printf '%s\n' "$out" >&2
        status=1
        return 1
    fi
    printf '%s\n' "$out"
}

# name_callers OUTPUT: names the functions behind OUTPUT's "early caller:" lines.
name_callers() {
    local a2l=${ADDR2LINE:-addr2line} nm=${NM:-nm} offsets base names o
    offsets=$(printf '%s\n' "$1" | sed -n 's/^early caller: //p')
    [ -n "$offsets" ] || return 0 # no allocation before constructors (musl)
    if ! command -v "$a2l" >/dev/null 2>&1 || ! command -v "$nm" >/dev/null 2>&1; then
        echo "(no $a2l or $nm: the early callers are not named)"
        return 0
    fi
    base=$("$nm" "$bin" | awk '$3 == "__ehdr_start" { print $1 }')
    names=$(for o in $offsets; do printf '%#x\n' $((o + 0x${base:-0})); done |
        "$a2l" -f -e "$bin" | sed -n 'p;n' | sort | uniq -c | sed -e 's/^ *//')
    echo "allocations before constructors, by caller: $(printf '%s\n' "$names" | paste -sd,)"
    if ! printf '%s\n' "$names" | grep -q ' _dl_'; then
        echo "FAIL: static_startup.sh: no allocation before constructors came from glibc's" \
            "startup (_dl_* functions)" >&2
        status=1
    fi
}

if out=$(run "no LD_LIBRARY_PATH" env -u LD_LIBRARY_PATH -u MALLOC_CONF "${runner[@]}" "$bin"); then
    printf '%s\n' "$out" | grep -v '^early caller: '
    name_callers "$out"
else
    status=1
fi
if out=$(run "LD_LIBRARY_PATH=/nonexistent:/tmp" env -u MALLOC_CONF \
    LD_LIBRARY_PATH=/nonexistent:/tmp "${runner[@]}" "$bin"); then
    printf '%s\n' "$out" | grep -v '^early caller: '
    name_callers "$out"
else
    status=1
fi

# With dss:primary, glibc's early blocks come from the program break (the program checks).
if out=$(run "MALLOC_CONF=dss:primary" env MALLOC_CONF=dss:primary LD_LIBRARY_PATH=/nonexistent \
    "${runner[@]}" "$bin"); then
    printf '%s\n' "$out" | grep '^dss: '
    if ! printf '%s\n' "$out" | grep -q '^dss: '; then
        echo "FAIL: static_startup.sh: dss:primary: the program made no dss check" >&2
        status=1
    fi
else
    status=1
fi

# With stats_print:true the statistics are written to stderr at exit.
if out=$(run "MALLOC_CONF=stats_print:true" env MALLOC_CONF=stats_print:true \
    LD_LIBRARY_PATH=/nonexistent "${runner[@]}" "$bin"); then
    printf '%s\n' "$out" | grep -v -e '^ ' -e '^$' | head -3
    if ! printf '%s\n' "$out" | grep -q '^___ Begin allocator statistics ___'; then
        echo "FAIL: static_startup.sh: stats_print:true printed no statistics at exit" >&2
        status=1
    fi
    n=$(printf '%s\n' "$out" | sed -n 's/^ *Allocations: nmalloc \([0-9][0-9]*\),.*/\1/p' | sort -n |
        tail -1)
    if [ -z "$n" ] || [ "$n" -lt 100 ]; then
        echo "FAIL: static_startup.sh: expected nmalloc >= 100 in the exit statistics, got '${n}'" >&2
        status=1
    fi
else
    status=1
fi
exit $status
