#!/bin/bash
# SPDX-License-Identifier: BSD-2-Clause
# Real programs under valgrind's memcheck with liballocator preloaded: sort with two threads,
# python3 (dicts, JSON, threads) and a small threaded C program (cross-thread frees, realloc,
# aligned and zeroed blocks, a fork, a thread-local destructor that allocates), the last also
# with junk filling and a background thread. memcheck is told not to replace malloc in user
# libraries (--soname-synonyms=somalloc=nouserintercepts), so liballocator's own code runs under
# it: memcheck must report no error at all (invalid reads or writes, uninitialised values in
# jumps or syscalls), its own heap must stay unused ("total heap usage: 0 allocs"), each program
# must do its job, and liballocator's statistics at exit show it served the program.
# Skipped when valgrind is not installed; about 30 s.
. "$(dirname "$0")/common.bash"

need_tool valgrind valgrind
need_tool cc gcc

export LC_ALL=C
run=0

# memcheck NAME FLOOR CONF COMMAND [ARGS...]: runs COMMAND under memcheck with liballocator and
# MALLOC_CONF=stats_print:true[,CONF]; stdout goes to $TEST_TMPDIR/NAME.out.
memcheck() {
    local name=$1 floor=$2 conf=$3
    shift 3
    local log=$TEST_TMPDIR/$name.vg err=$TEST_TMPDIR/$name.err
    run=$((run + 1))
    MALLOC_CONF=stats_print:true${conf:+,$conf} LD_PRELOAD=$ALLOCATOR_SO \
        valgrind --tool=memcheck --soname-synonyms=somalloc=nouserintercepts \
        --error-exitcode=99 --child-silent-after-fork=no --trace-children=no \
        --log-file="$log" "$@" >"$TEST_TMPDIR/$name.out" 2>"$err"
    local status=$?
    # valgrind 3.19 gives up on the DWARF 5 forms clang 14 emits (strx, addrx, rnglistx): the
    # build, not the library, is what it cannot run.
    if grep -q "debuginfo reader: ensure_valid failed" "$log"; then
        grep -m 3 "unhandled dwarf2 abbrev form\|Giving up" "$log" >&2
        skip "valgrind cannot read the library's debug information (clang's DWARF 5?)"
    fi
    if [ "$status" -ne 0 ] || ! grep -q "ERROR SUMMARY: 0 errors" "$log"; then
        grep -v '^==[0-9]*== *$' "$log" | head -60 >&2
        tail -5 "$err" >&2
        fail "$name: exit status $status under memcheck (99: memcheck found errors)"
    fi
    # Every process valgrind watched (the fork child too) ends with a summary.
    if grep "total heap usage:" "$log" | grep -qv "total heap usage: 0 allocs"; then
        grep "total heap usage:" "$log" >&2
        fail "$name: memcheck's own malloc served the program, not liballocator"
    fi
    local n
    n=$(max_nmalloc "$err")
    [ -n "$n" ] && [ "$n" -ge "$floor" ] ||
        fail "$name: liballocator's statistics show nmalloc ${n:-none}, expected >= $floor"
    echo "$name: no memcheck error; nmalloc $n"
}

# sort: two threads, output equal to plain sort's.
seq 1 40000 | shuf --random-source=<(yes) >"$TEST_TMPDIR/numbers" || fail "no input for sort"
memcheck sort 300 "" sort -n --parallel=2 -S 2M "$TEST_TMPDIR/numbers"
seq 1 40000 | cmp -s - "$TEST_TMPDIR/sort.out" || fail "sort under memcheck: wrong output"

# python3: the interpreter's own allocator is pymalloc, but dicts, strings and threads still
# reach malloc often.
# The interpreter itself, not a wrapper script (pyenv's shims are shell scripts that exec it).
python=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null)
if [ -n "$python" ] && [ -x "$python" ]; then
    memcheck python3 1000 "" "$python" -c '
import json, threading
d = {i: str(i) * 3 for i in range(20000)}
s = json.dumps(d)
out = []
def work(k):
    out.append(sum(len(bytes(1000 + j)) for j in range(1000)) + k)
ts = [threading.Thread(target=work, args=(k,)) for k in range(3)]
[t.start() for t in ts]
[t.join() for t in ts]
print(len(s), len(json.loads(s)), sorted(out))'
    want='515560 20000 [1499500, 1499501, 1499502]'
    [ "$(cat "$TEST_TMPDIR/python3.out")" = "$want" ] ||
        fail "python3 under memcheck printed \"$(cat "$TEST_TMPDIR/python3.out")\", expected \"$want\""
else
    echo "note: python3 is not installed; its run is left out"
fi

# A threaded C program.
cat >"$TEST_TMPDIR/threads.c" <<'EOF'
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern int __cxa_thread_atexit_impl(void (*)(void *), void *, void *);
extern void *__dso_handle;

enum { THREADS = 4, ROUNDS = 150, SLOTS = 64 };
static void *handoff[THREADS][SLOTS];
static pthread_barrier_t barrier;

static void tls_dtor(void *p) {
    free(p);
    char *q = malloc(5000);
    memset(q, 1, 5000);
    free(q);
}

static int check(const unsigned char *p, size_t n, unsigned char v) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return 0;
    return 1;
}

static void *worker(void *arg) {
    unsigned id = (unsigned)(size_t)arg, seed = id * 7919 + 1;
    __cxa_thread_atexit_impl(tls_dtor, malloc(100), &__dso_handle);
    for (int r = 0; r < ROUNDS; r++) {
        for (int s = 0; s < SLOTS; s++) {
            seed = seed * 1103515245 + 12345;
            size_t n = (seed >> 8) % (s % 8 == 0 ? 70000 : 900) + 1;
            unsigned char *p = (s % 5 == 0) ? calloc(1, n) : malloc(n);
            if (p == NULL || (s % 5 == 0 && !check(p, n, 0)))
                abort();
            memset(p, (int)(id + 1), n);
            if (s % 7 == 0) {
                p = realloc(p, n * 2 + 1);
                if (p == NULL || !check(p, n, (unsigned char)(id + 1)))
                    abort();
            }
            free(handoff[id][s]);
            handoff[id][s] = p;
        }
        void *a = NULL;
        if (posix_memalign(&a, 4096, 10000) != 0 || ((size_t)a & 4095) != 0)
            abort();
        free(a);
        pthread_barrier_wait(&barrier);
        /* Swap tables with the next thread: its blocks are freed here. */
        if (id == 0) {
            for (int s = 0; s < SLOTS; s++) {
                void *t = handoff[0][s];
                for (unsigned k = 0; k + 1 < THREADS; k++)
                    handoff[k][s] = handoff[k + 1][s];
                handoff[THREADS - 1][s] = t;
            }
        }
        pthread_barrier_wait(&barrier);
    }
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    pthread_barrier_init(&barrier, NULL, THREADS);
    for (size_t i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    pid_t pid = fork();
    if (pid == 0) {
        for (int s = 0; s < SLOTS; s++)
            free(handoff[0][s]);
        char *p = malloc(1 << 20);
        memset(p, 2, 1 << 20);
        free(p);
        _exit(0);
    }
    int status = 1;
    waitpid(pid, &status, 0);
    for (int k = 0; k < THREADS; k++)
        for (int s = 0; s < SLOTS; s++)
            free(handoff[k][s]);
    printf("threads: done, child status %d\n", status);
    return status != 0;
}
EOF
cc -O1 -g -pthread -o "$TEST_TMPDIR/threads" "$TEST_TMPDIR/threads.c" || fail "building threads.c"
memcheck threads 5000 "" "$TEST_TMPDIR/threads"
memcheck threads_junk 5000 "junk:true,background_thread:true,dirty_decay_ms:0" \
    "$TEST_TMPDIR/threads"
grep -q "^threads: done, child status 0$" "$TEST_TMPDIR/threads.out" ||
    fail "threads.c under memcheck: $(cat "$TEST_TMPDIR/threads.out")"

echo "valgrind_memcheck: ok ($run programs under memcheck)"
