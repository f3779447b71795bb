/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * programs/prof_unwind: the profiler's cached CFI walk (prof_unwind, linked in from
 * liballocator.a) must report exactly the frames libgcc's _Unwind_Backtrace reports, on many
 * stacks: recursion through functions built at -O0 and at -O2 without frame pointers, large
 * frames, VLAs and alloca (RBP-based CFAs), frames in a shared library, a thread's stack, a
 * stack deeper than the walk's limit, and each stack twice (rows computed, then cached). A
 * signal handler's stack may instead make the walk give up (return 0), but never differ. Then
 * the shared library is closed and another build of it, with other frame sizes at the same
 * code offsets, is opened in its place: rows cached for the first must not be used for it.
 * Two shapes in assembly add remember/restore_state (answered) and a CFA expression (given up).
 * Rows of the program's own code (loaded at start-up, never unloaded) are used without asking
 * the loader whether code was unloaded; rows of the library's code are checked, at most once
 * per walk.
 *
 * Usage: prof_unwind_prog LIB_A.so LIB_B.so
 */
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unwind.h>

unsigned prof_unwind(void **frames, unsigned max, uintptr_t skip_lo, uintptr_t skip_hi);
void prof_unwind_boot(void);
unsigned prof_unwind_cached(void);
unsigned long prof_unwind_subs_reads(void);

#define MAX 128

typedef int (*shape_next_t)(int depth, unsigned code);
typedef int (*shape_fn_t)(int depth, unsigned code, shape_next_t next);
#define DECL(name) int name##_o0(int, unsigned, shape_next_t); int name##_o2(int, unsigned, shape_next_t)
DECL(shape_big);
DECL(shape_vla);
DECL(shape_alloca);
DECL(shape_small);

/*
 * Two shapes in assembly with CFI that compilers emit only in some functions:
 * - shape_asm_state saves its CFI state before an early exit (never taken) and restores it
 *   after (DW_CFA_remember_state / restore_state), as functions with several epilogues do;
 * - shape_asm_expr gives its CFA as a DWARF expression (RBP + 16, DW_CFA_def_cfa_expression),
 *   which the cached walk does not evaluate: with it on the stack the walk must give up.
 */
int shape_asm_state(int depth, unsigned code, shape_next_t next);
int shape_asm_expr(int depth, unsigned code, shape_next_t next);
__asm__(".text\n"
        "shape_asm_state:\n"
        ".cfi_startproc\n"
        "    push %rbx\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbx, -16\n"
        "    cmp $-12345, %edi\n"
        "    jne 1f\n"
        ".cfi_remember_state\n"
        "    pop %rbx\n"
        ".cfi_def_cfa_offset 8\n"
        ".cfi_restore %rbx\n"
        "    xor %eax, %eax\n"
        "    ret\n"
        "1:\n"
        ".cfi_restore_state\n"
        "    sub $32, %rsp\n" /* absolute offsets: clang's assembler forgets restore_state's */
        ".cfi_def_cfa_offset 48\n"
        "    call *%rdx\n"
        "    add $32, %rsp\n"
        ".cfi_def_cfa_offset 16\n"
        "    pop %rbx\n"
        ".cfi_def_cfa_offset 8\n"
        "    ret\n"
        ".cfi_endproc\n"
        "shape_asm_expr:\n"
        ".cfi_startproc\n"
        "    push %rbp\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset %rbp, -16\n"
        "    mov %rsp, %rbp\n"
        ".cfi_escape 0x0f, 0x02, 0x76, 0x10\n" /* DW_CFA_def_cfa_expression: DW_OP_breg6 16 */
        "    sub $16, %rsp\n"
        "    call *%rdx\n"
        "    leave\n"
        ".cfi_def_cfa %rsp, 8\n"
        "    ret\n"
        ".cfi_endproc\n");

static shape_fn_t shapes[16];
static unsigned nshapes;
static unsigned compared, gave_up, failures;
static volatile int in_signal;
static int expect_give_up; /* shape_asm_expr is on the stack */

typedef struct {
    unsigned n;
    void *ip[MAX];
} trace_t;

static _Unwind_Reason_Code collect(struct _Unwind_Context *ctx, void *arg) {
    trace_t *t = arg;
    uintptr_t ip = _Unwind_GetIP(ctx);
    if (ip == 0)
        return _URC_END_OF_STACK;
    t->ip[t->n++] = (void *)ip;
    return t->n == MAX ? _URC_END_OF_STACK : _URC_NO_REASON;
}

/* Both walks from here: the fast one's frames [2..] against libgcc's [1..] (each first reports
 * its own call site in compare, and the fast one first its own frame). */
static __attribute__((noinline)) void compare(const char *what) {
    static trace_t fast, ref;
    fast.n = prof_unwind(fast.ip, MAX, 0, 0);
    ref.n = 0;
    _Unwind_Backtrace(collect, &ref);
    if (expect_give_up) {
        if (fast.n != 0) {
            printf("FAIL %s: the fast walk went through a CFA expression\n", what);
            failures++;
        }
        gave_up++;
        return;
    }
    if (fast.n == 0) {
        gave_up++;
        if (!in_signal) {
            printf("FAIL %s: the fast walk gave up on an ordinary stack\n", what);
            failures++;
        }
        return;
    }
    compared++;
    bool ok = fast.n >= 2 && ref.n >= 1;
    unsigned n = fast.n - 2;
    if (ok && (fast.n == MAX || ref.n == MAX)) /* both cut at MAX: the common prefix */
        n = ref.n - 1 < n ? ref.n - 1 : n;
    else if (ok && n != ref.n - 1)
        ok = false;
    for (unsigned i = 0; ok && i < n; i++)
        ok = fast.ip[i + 2] == ref.ip[i + 1];
    if (!ok) {
        failures++;
        printf("FAIL %s: fast %u frames, libgcc %u\n", what, fast.n, ref.n);
        for (unsigned i = 0; i < fast.n || i < ref.n; i++)
            printf("  %3u %18p %18p\n", i, i < fast.n ? fast.ip[i] : NULL,
                   i + 1 < ref.n + 1 && i >= 1 && i - 1 < ref.n ? ref.ip[i - 1] : NULL);
    }
}

static const char *what_now;

/* Recurse through the shapes chosen by code's digits, compare at the bottom (twice). */
static int next_shape(int depth, unsigned code) {
    if (depth == 0) {
        compare(what_now);
        compare(what_now);
        return 0;
    }
    return shapes[(code + (unsigned)depth * 7) % nshapes](depth - 1, code, next_shape);
}

static void run_shapes(const char *what, int depth, unsigned codes) {
    what_now = what;
    for (unsigned code = 1; code <= codes; code++)
        next_shape(depth, code);
}

static void *thread_main(void *arg) {
    (void)arg;
    run_shapes("thread", 9, 40);
    return NULL;
}

static void on_signal(int sig) {
    (void)sig;
    in_signal = 1;
    compare("signal handler");
    in_signal = 0;
}

static unsigned lib_first;

static void *lib_load(const char *path) {
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        printf("FAIL dlopen %s: %s\n", path, dlerror());
        exit(1);
    }
    const char *names[] = {"shape_big", "shape_vla", "shape_alloca", "shape_small"};
    nshapes = lib_first;
    for (unsigned i = 0; i < 4; i++)
        shapes[nshapes++] = (shape_fn_t)dlsym(h, names[i]);
    return h;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s LIB_A.so LIB_B.so\n", argv[0]);
        return 2;
    }
    shape_fn_t mine[] = {shape_big_o0, shape_vla_o0, shape_alloca_o0, shape_small_o0,
                         shape_big_o2, shape_vla_o2, shape_alloca_o2, shape_small_o2};
    memcpy(shapes, mine, sizeof(mine));
    prof_unwind_boot();
    shapes[8] = shape_asm_state;
    nshapes = lib_first = 9;
    run_shapes("remember/restore_state", 6, 30);
    what_now = "CFA expression";
    expect_give_up = 1;
    shape_asm_expr(0, 1, next_shape);
    shape_asm_expr(0, 1, next_shape);
    expect_give_up = 0;
    unsigned expr_gave_up = gave_up;

    what_now = "main";
    compare("main");
    run_shapes("program's shapes", 6, 60);
    unsigned long reads = prof_unwind_subs_reads();
    run_shapes("program's shapes, again", 6, 60);
    run_shapes("deep", 200, 3);
    if (prof_unwind_subs_reads() != reads) {
        printf("FAIL: walks through code loaded at start-up asked the loader %lu times\n",
               prof_unwind_subs_reads() - reads);
        failures++;
    }

    void *h = lib_load(argv[1]);
    run_shapes("with library A", 8, 60);
    reads = prof_unwind_subs_reads();
    unsigned walks = compared;
    run_shapes("with library A, again", 8, 60);
    walks = compared - walks;
    if (prof_unwind_subs_reads() == reads || prof_unwind_subs_reads() - reads > walks) {
        printf("FAIL: %u walks through a dlopened library checked cached rows %lu times\n", walks,
               prof_unwind_subs_reads() - reads);
        failures++;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, NULL) != 0 || pthread_join(t, NULL) != 0)
        return 1;
    signal(SIGUSR1, on_signal);
    raise(SIGUSR1);

    /* The other build in the same place: its return addresses match A's, its frames do not. */
    for (int round = 0; round < 4; round++) {
        dlclose(h);
        h = lib_load(argv[round % 2 == 0 ? 2 : 1]);
        run_shapes(round % 2 == 0 ? "library B after A" : "library A after B", 8, 30);
    }
    dlclose(h);

    unsigned cached = prof_unwind_cached();
    printf("%u stacks compared, %u given up (signal), %u failures, %u rows cached\n", compared,
           gave_up, failures, cached);
    if (expr_gave_up != 4) { /* two walks, each compared twice */
        printf("FAIL: %u walks gave up under the CFA expression, not 4\n", expr_gave_up);
        failures++;
    }
    return failures == 0 && compared > 500 && cached > 20 ? 0 : 1;
}
