#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# liballocator behind and in front of interposers, in both LD_PRELOAD orders:
#   interposers_malloc.so  wraps malloc/calloc/realloc/free like a memory profiler: resolves the
#                          next functions with dlsym(RTLD_NEXT) on its first call, returns NULL
#                          from calloc while dlsym runs, measures blocks with malloc_usable_size;
#   interposers_mmap.so    wraps mmap/munmap/open*, resolving each with dlsym on first use.
# Each runs an allocation-heavy python3 one-liner (PYTHONMALLOC=malloc) and a threaded C program
# (interposers_threads.c). Results must equal a plain run's; liballocator's statistics at exit
# (stats_print:true) must show it served the process; with the interposer first, its own report
# must show it saw the traffic (malloc calls; liballocator's chunk mmaps), and no block may have
# a usable size below its request.
. "$(dirname "$0")/common.bash"

CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"
PY=$(find_python)
[ -n "$PY" ] || skip "python3 is not installed (Debian package python3)"

here=$TOP_SRCDIR/test/programs
d=$TEST_TMPDIR
for so in malloc mmap; do
    "$CC" -O2 -g -fPIC -shared -o "$d/interposer_$so.so" "$here/interposers_$so.c" -ldl ||
        fail "building interposers_$so.so"
done
"$CC" -O2 -g -pthread -o "$d/threads" "$here/interposers_threads.c" ||
    fail "building the threaded program"

# The one-liner: dicts, lists, strings and a json round trip, all through malloc.
pycode='import json
d = [{"k%d" % i: [str(j) * (j % 7) for j in range(i % 40)]} for i in range(20000)]
s = json.dumps(d)
e = json.loads(s)
print(len(s), sum(len(next(iter(x.values()))) for x in e), e == d)'

"$PY" -c "$pycode" >"$d/py.plain" || fail "plain python3 run failed"
grep -q ' True$' "$d/py.plain" || fail "plain python3 run gave an unexpected result"
"$d/threads" >"$d/threads.plain" || fail "plain threaded run failed"

# run NAME PRELOAD_LIST EXPECTED_OUTPUT COMMAND...: one run under PRELOAD_LIST with statistics.
run() {
    local name=$1 preload=$2 expected=$3
    shift 3
    if ! env LD_PRELOAD="$preload" MALLOC_CONF=stats_print:true PYTHONMALLOC=malloc "$@" \
        >"$d/$name.out" 2>"$d/$name.err"; then
        tail -20 "$d/$name.err" >&2
        fail "$name: exited non-zero"
    fi
    expect_same_file "$expected" "$d/$name.out" "$name"
    expect_served "$d/$name.err" 10000 "$name"
}

# interposer_saw NAME WORD MIN: the interposer's report in NAME's stderr ("interposer: malloc N
# ..." or "mmap-interposer: mmap N ... open N") counts WORD at least MIN times (the first count
# after WORD, not the ones made while resolving later in the line).
interposer_saw() {
    local n
    n=$(awk -v w="$2" '/interposer: / {
        for (i = 1; i < NF; i++) if ($i == w) { print $(i + 1); exit }
    }' "$d/$1.err")
    [ -n "$n" ] || fail "$1: no interposer report on stderr"
    [ "$n" -ge "$3" ] || fail "$1: the interposer counted $2 $n, expected at least $3"
    echo "$1: the interposer counted $2 $n"
}

so=$ALLOCATOR_SO
for prog in py threads; do
    if [ $prog = py ]; then cmd=("$PY" -c "$pycode"); else cmd=("$d/threads"); fi
    # The profiler first: every call passes through it to liballocator.
    run "malloc-first-$prog" "$d/interposer_malloc.so $so" "$d/$prog.plain" "${cmd[@]}"
    interposer_saw "malloc-first-$prog" malloc 10000
    grep -h '^interposer: ' "$d/malloc-first-$prog.err" | head -1
    grep -q 'usable-size errors 0$' "$d/malloc-first-$prog.err" ||
        fail "malloc-first-$prog: malloc_usable_size below the request: $(grep interposer: \
            "$d/malloc-first-$prog.err")"
    # liballocator first: it answers every call; the profiler's functions are never reached.
    run "malloc-second-$prog" "$so $d/interposer_malloc.so" "$d/$prog.plain" "${cmd[@]}"
    grep -q '^interposer: malloc 0 calloc 0 realloc 0 free 0,' "$d/malloc-second-$prog.err" ||
        fail "malloc-second-$prog: the profiler behind liballocator was called"
    # The mmap/open interposer first: liballocator's own chunk maps go through it.
    run "mmap-first-$prog" "$d/interposer_mmap.so $so" "$d/$prog.plain" "${cmd[@]}"
    interposer_saw "mmap-first-$prog" mmap 1
    run "mmap-second-$prog" "$so $d/interposer_mmap.so" "$d/$prog.plain" "${cmd[@]}"
done
interposer_saw mmap-first-py open 10
echo "ok: $PROG_TEST"
