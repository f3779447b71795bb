#!/bin/bash
# Runs the statically linked static_startup binary ($1) the ways glibc's static startup differs:
# without LD_LIBRARY_PATH (startup only mallocs), with it (startup also frees), and with
# statistics printed at exit, which must come from liballocator.
set -u
bin=${1:?usage: static_startup.sh BINARY}
status=0

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

run "no LD_LIBRARY_PATH" env -u LD_LIBRARY_PATH -u MALLOC_CONF "$bin" || true
run "LD_LIBRARY_PATH=/nonexistent:/tmp" env -u MALLOC_CONF LD_LIBRARY_PATH=/nonexistent:/tmp \
    "$bin" || true

# With stats_print:true the statistics are written to stderr at exit.
if out=$(run "MALLOC_CONF=stats_print:true" env MALLOC_CONF=stats_print:true \
    LD_LIBRARY_PATH=/nonexistent "$bin"); then
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
