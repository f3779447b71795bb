/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * programs/prof_unwind: the profiler's cached CFI walk (prof_unwind, linked in from
 * liballocator.a) must report exactly the frames libgcc's _Unwind_Backtrace reports, on many
 * stacks: recursion through functions built at -O0 and at -O2 without frame pointers, large
 * frames, VLAs and alloca (CFAs on the frame pointer, RBP or x29), frames in a shared library,
 * a thread's stack, a stack deeper than the walk's limit, and each stack twice (rows computed,
 * then cached). A signal handler's stack may instead make the walk give up (return 0), but
 * never differ. Then the shared library is closed and another build of it, with other frame
 * sizes at the same code offsets, is opened in its place: rows cached for the first must not be
 * used for it. Shapes in assembly add remember/restore_state (answered) and CFI the walk does
 * not model (given up: see give_up[]); on aarch64, return addresses signed with pointer
 * authentication, by an assembly shape and by the shapes built with -mbranch-protection=pac-ret
 * (answered, with the signatures stripped: qemu's default CPU signs). Built for x86_64
 * (prof_unwind.sh) and for aarch64, run under qemu (prof_unwind_aarch64.sh). Rows of the
 * program's own code (loaded at start-up, never unloaded) are used without asking the loader
 * whether code was unloaded; rows of the library's code are checked, at most once per walk.
 * Every walk goes through its thread's memo, as the profiler's do: the second walk of each stack
 * replays the first (every stack word it read unchanged), the third, from another call site,
 * takes its frames of the program's code from the memo; both must still match libgcc's.
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

#include "allocator/internal/prof.h" /* prof_unwind and its memo */

#define MAX 128

typedef int (*shape_next_t)(int depth, unsigned code);
typedef int (*shape_fn_t)(int depth, unsigned code, shape_next_t next);
#define DECL(name) int name##_o0(int, unsigned, shape_next_t); int name##_o2(int, unsigned, shape_next_t)
DECL(shape_big);
DECL(shape_vla);
DECL(shape_alloca);
DECL(shape_small);
#ifdef PAC_SHAPES /* aarch64: the shapes again, built with -mbranch-protection=pac-ret+leaf */
int shape_big_pac(int, unsigned, shape_next_t);
int shape_vla_pac(int, unsigned, shape_next_t);
int shape_alloca_pac(int, unsigned, shape_next_t);
int shape_small_pac(int, unsigned, shape_next_t);
#endif

/*
 * Shapes in assembly with CFI that compilers emit only in some functions:
 * - shape_asm_state saves its CFI state before an early exit (never taken) and restores it
 *   after (DW_CFA_remember_state / restore_state), as functions with several epilogues do
 *   (on aarch64 that epilogue restores x30, the return-address column, in between);
 * - shape_asm_expr gives its CFA as a DWARF expression (DW_CFA_def_cfa_expression), which the
 *   cached walk does not evaluate: with it on the stack the walk must give up;
 * - on aarch64, shape_asm_sign signs its return address (paciasp, DW_CFA_AARCH64_negate_ra_state):
 *   the walk strips the signature, as libgcc does, and must answer; shape_asm_reg keeps it in
 *   x19 (DW_CFA_register): the walk must give up.
 * give_up[] lists those the walk must give up on.
 */
int shape_asm_state(int depth, unsigned code, shape_next_t next);
int shape_asm_expr(int depth, unsigned code, shape_next_t next);
#if defined(__x86_64__)
static const shape_fn_t give_up[] = {shape_asm_expr};
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
#elif defined(__aarch64__)
int shape_asm_sign(int depth, unsigned code, shape_next_t next);
int shape_asm_reg(int depth, unsigned code, shape_next_t next);
static const shape_fn_t give_up[] = {shape_asm_expr, shape_asm_reg};
__asm__(".text\n"
        "shape_asm_state:\n"
        ".cfi_startproc\n"
        "    stp x29, x30, [sp, #-32]!\n"
        ".cfi_def_cfa_offset 32\n"
        ".cfi_offset 29, -32\n"
        ".cfi_offset 30, -24\n"
        "    mov x29, sp\n"
        "    cmn w0, #1234\n" /* depth == -1234: never */
        "    b.ne 1f\n"
        ".cfi_remember_state\n"
        "    ldp x29, x30, [sp], #32\n"
        ".cfi_restore 30\n"
        ".cfi_restore 29\n"
        ".cfi_def_cfa_offset 0\n"
        "    mov w0, #0\n"
        "    ret\n"
        "1:\n"
        ".cfi_restore_state\n"
        "    blr x2\n"
        "    ldp x29, x30, [sp], #32\n"
        ".cfi_restore 30\n"
        ".cfi_restore 29\n"
        ".cfi_def_cfa_offset 0\n"
        "    ret\n"
        ".cfi_endproc\n"
        "shape_asm_expr:\n"
        ".cfi_startproc\n"
        "    stp x29, x30, [sp, #-16]!\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset 29, -16\n"
        ".cfi_offset 30, -8\n"
        "    mov x29, sp\n"
        ".cfi_escape 0x0f, 0x02, 0x8d, 0x10\n" /* DW_CFA_def_cfa_expression: DW_OP_breg29 16 */
        "    blr x2\n"
        "    ldp x29, x30, [sp], #16\n"
        ".cfi_def_cfa sp, 0\n"
        ".cfi_restore 30\n"
        ".cfi_restore 29\n"
        "    ret\n"
        ".cfi_endproc\n"
        "shape_asm_sign:\n"
        ".cfi_startproc\n"
        "    hint #25\n" /* paciasp: sign x30 with SP (a NOP without pointer authentication) */
        ".cfi_window_save\n" /* DW_CFA_AARCH64_negate_ra_state (0x2d) */
        "    stp x29, x30, [sp, #-16]!\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset 29, -16\n"
        ".cfi_offset 30, -8\n"
        "    mov x29, sp\n"
        "    blr x2\n"
        "    ldp x29, x30, [sp], #16\n"
        ".cfi_def_cfa_offset 0\n"
        ".cfi_restore 30\n"
        ".cfi_restore 29\n"
        "    hint #29\n" /* autiasp */
        ".cfi_window_save\n"
        "    ret\n"
        ".cfi_endproc\n"
        "shape_asm_reg:\n"
        ".cfi_startproc\n"
        "    stp x29, x19, [sp, #-16]!\n"
        ".cfi_def_cfa_offset 16\n"
        ".cfi_offset 29, -16\n"
        ".cfi_offset 19, -8\n"
        "    mov x19, x30\n"
        ".cfi_register 30, 19\n"
        "    blr x2\n"
        "    mov x30, x19\n"
        ".cfi_restore 30\n"
        "    ldp x29, x19, [sp], #16\n"
        ".cfi_def_cfa_offset 0\n"
        ".cfi_restore 29\n"
        ".cfi_restore 19\n"
        "    ret\n"
        ".cfi_endproc\n");
#else
#error "programs/prof_unwind: no assembly shapes for this architecture"
#endif

static shape_fn_t shapes[24];

#if defined(__aarch64__)
/* Does paciasp change a return address here (the CPU has pointer authentication, enabled)? */
static bool pac_active(void) {
    uintptr_t before, after;
    __asm__ volatile("mov x9, x30\n"
                     "adr x30, .\n"
                     "mov %0, x30\n"
                     "hint #25\n" /* paciasp */
                     "mov %1, x30\n"
                     "mov x30, x9\n"
                     : "=r"(before), "=r"(after)
                     :
                     : "x9", "x30");
    return before != after;
}
#endif
static unsigned nshapes;
static unsigned compared, gave_up, failures;
static unsigned long frames_fast, frames_ref; /* frames of the walks answered, of those given up */
static volatile int in_signal;
static int may_give_up; /* frame_600k is on the stack */
static int expect_give_up; /* one of give_up[] is on the stack */

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
static __thread prof_unwind_memo_t memo;
static unsigned long memo_hits, memo_replays;

static __attribute__((noinline)) void compare(const char *what) {
    static trace_t fast, ref;
    unsigned long hits = memo.hits, replays = memo.replays;
    fast.n = prof_unwind(fast.ip, MAX, 0, 0, &memo);
    memo_hits += memo.hits - hits;
    memo_replays += memo.replays - replays;
    ref.n = 0;
    _Unwind_Backtrace(collect, &ref);
    if (fast.n == 0)
        frames_ref += ref.n;
    else
        frames_fast += fast.n;
    if (expect_give_up) {
        if (fast.n != 0) {
            printf("FAIL %s: the fast walk went through it\n", what);
            failures++;
        }
        gave_up++;
        return;
    }
    if (fast.n == 0) {
        gave_up++;
        if (!in_signal && !may_give_up) {
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

/* Recurse through the shapes chosen by code's digits, compare at the bottom: twice from one
 * call site (the second walk a replay of the first) and once from another (walked from the
 * memo up to the frame that differs). */
static volatile int walks_at_one_site = 2; /* read at run time: the loop is not unrolled */

static int next_shape(int depth, unsigned code) {
    if (depth == 0) {
        for (int i = 0; i < walks_at_one_site; i++)
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

/*
 * Frames larger than the shapes': 100 KiB, whose return address a row must still hold (aarch64
 * saves it at the bottom of the frame, about 100 KiB below the CFA), and 600 KiB, which may be
 * past what a row holds (the walk may give up there, but must not differ).
 */
static __attribute__((noinline)) int frame_100k(int depth, unsigned code, shape_next_t next) {
    volatile char buf[100 << 10];
    buf[code % sizeof(buf)] = (char)depth;
    int r = next(depth, code);
    return r + buf[(code * 7) % sizeof(buf)];
}

static __attribute__((noinline)) int frame_600k(int depth, unsigned code, shape_next_t next) {
    volatile char buf[600 << 10];
    buf[code % sizeof(buf)] = (char)depth;
    int r = next(depth, code);
    return r + buf[(code * 7) % sizeof(buf)];
}

/*
 * Replays: the same stack from two call sites in turn, two walks each. Every walk starts at the
 * same place with the same return address; the second of each pair finds every word the first
 * read unchanged and replays it, the first finds replay_site's return address changed and walks.
 */
static __attribute__((noinline)) void replay_leaf(const char *what) {
    compare(what);
    __asm__ volatile("" ::: "memory"); /* not a tail call */
}

static __attribute__((noinline)) void replay_site(int site) {
    if (site)
        replay_leaf("replay, site 1");
    else
        replay_leaf("replay, site 0");
    __asm__ volatile("" ::: "memory");
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
    nshapes = 9;
#if defined(__aarch64__)
    shapes[nshapes++] = shape_asm_sign;
    printf("pointer authentication: %s\n", pac_active() ? "on (return addresses signed)" : "off");
#endif
#ifdef PAC_SHAPES
    shapes[nshapes++] = shape_big_pac;
    shapes[nshapes++] = shape_vla_pac;
    shapes[nshapes++] = shape_alloca_pac;
    shapes[nshapes++] = shape_small_pac;
#endif
    lib_first = nshapes;
    run_shapes("remember/restore_state", 6, 30);
    expect_give_up = 1;
    unsigned ngive_up = sizeof(give_up) / sizeof(give_up[0]);
    for (unsigned i = 0; i < ngive_up; i++) {
        what_now = "a shape the walk does not model";
        give_up[i](0, 1, next_shape);
        give_up[i](0, 1, next_shape);
    }
    expect_give_up = 0;
    unsigned expr_gave_up = gave_up;

    what_now = "main";
    compare("main");
    unsigned long replays = memo.replays;
    for (int i = 0; i < 40; i++)
        replay_site((i / 2) % 2);
    if (memo.replays - replays != 20) {
        printf("FAIL: 40 walks from two call sites in turn made %lu replays, not 20\n",
               memo.replays - replays);
        failures++;
    }
    what_now = "a 100 KiB frame";
    frame_100k(0, 1, next_shape);
    what_now = "a 600 KiB frame";
    may_give_up = 1;
    frame_600k(0, 1, next_shape);
    may_give_up = 0;
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
    printf("%u stacks compared, %u given up (signal, CFI not modelled, a frame too large), %u "
           "failures, %u rows cached; frames: %lu walked with cached rows (%lu of them from the "
           "memo), %lu left to libgcc; %lu walks replayed\n",
           compared, gave_up, failures, cached, frames_fast, memo_hits, frames_ref, memo_replays);
    if (expr_gave_up != 6 * ngive_up) { /* two walks of each, each compared three times */
        printf("FAIL: %u walks gave up under the shapes not modelled, not %u\n", expr_gave_up,
               6 * ngive_up);
        failures++;
    }
    /* Each stack's second walk, but those through the dlopened library (half the stacks) or
     * deeper than the memo: about a sixth. */
    if (memo_replays < compared / 10) {
        printf("FAIL: %lu of %u walks replayed\n", memo_replays, compared);
        failures++;
    }
    if (memo_hits < frames_fast / 8) { /* each stack's third walk, and the second of some */
        printf("FAIL: %lu of %lu frames walked from the memo\n", memo_hits, frames_fast);
        failures++;
    }
    return failures == 0 && compared > 500 && cached > 20 ? 0 : 1;
}
