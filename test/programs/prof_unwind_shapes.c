/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Stack shapes for programs/prof_unwind, compiled several times (-O0 and -O2 without frame
 * pointers into the program, and twice into shared libraries with different frame sizes): each
 * function does its own thing to its frame and calls on, not as a tail call, through next().
 * SHAPE(name) gives each build its own names; PAD sizes the large frames.
 */
#include <alloca.h>
#include <string.h>

#ifndef SHAPE
#define SHAPE(name) name
#endif
#ifndef PAD
#define PAD 3000
#endif

typedef int (*shape_next_t)(int depth, unsigned code);

/* A large frame (the CFA is RSP + a big offset at -O2). */
__attribute__((noinline)) int SHAPE(shape_big)(int depth, unsigned code, shape_next_t next) {
    volatile char buf[PAD];
    buf[depth % PAD] = (char)code;
    int r = next(depth, code);
    return r + buf[(depth * 7) % PAD];
}

/* A variable-length array: the CFA is RBP-based even at -O2. */
__attribute__((noinline)) int SHAPE(shape_vla)(int depth, unsigned code, shape_next_t next) {
    size_t n = 16 + (code % 200);
    char vla[n];
    memset(vla, (int)code, n);
    __asm__ volatile("" : : "r"(vla) : "memory");
    int r = next(depth, code);
    return r + vla[n / 2];
}

/* alloca, and callee-saved registers in use across the call. */
__attribute__((noinline)) int SHAPE(shape_alloca)(int depth, unsigned code, shape_next_t next) {
    char *p = alloca(32 + depth % 64);
    p[0] = (char)depth;
    __asm__ volatile("" : : "r"(p) : "memory");
    int a = depth * 3, b = (int)code ^ 5, c = depth + 11;
    int r = next(depth, code);
    return r + a + b + c + p[0];
}

/* A small frame, nothing saved but the return address. */
__attribute__((noinline)) int SHAPE(shape_small)(int depth, unsigned code, shape_next_t next) {
    int r = next(depth, code);
    __asm__ volatile("" : "+r"(r));
    return r + 1;
}
