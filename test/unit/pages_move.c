/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Moving pages (pages_move, pages.h) and realloc's use of it for huge blocks (malloc.c,
 * ralloc_move): a move carries the contents and leaves the source mapped, empty and not
 * resident; a source spanning two mappings is refused with both ranges intact (some kernels
 * would unmap the destination before refusing it); with moves refused (the test hook) realloc
 * copies; and when a move fails after the destination was unmapped, realloc recovers: the range
 * is mapped again when it can be, and when another mapping took it, that block is left allocated
 * for good and the contents go to another. The extent sets are validated after each realloc.
 * Runs first in its process, before anything disables moves (any failure does).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "allocator.h"
#include "allocator/internal/arena.h"
#include "allocator/internal/pages.h"
#include "unit.h"

#define MiB ((size_t)1 << 20)

static void fill(char *p, size_t n, uint64_t seed) {
    for (size_t o = 0; o < n; o += 4096)
        memcpy(p + o, &(uint64_t){seed ^ o}, 8);
}

static bool filled(const char *p, size_t n, uint64_t seed) {
    for (size_t o = 0; o < n; o += 4096) {
        uint64_t v;
        memcpy(&v, p + o, 8);
        if (v != (seed ^ o))
            return false;
    }
    return true;
}

static bool reads_zero(const char *p, size_t n) {
    for (size_t o = 0; o < n; o += 4096)
        if (p[o] != 0 || p[o + 4095] != 0)
            return false;
    return true;
}

/* Purge the thread's arena and unmap every wholly free chunk: the next huge block maps one. */
static void fresh_start(void) {
    unsigned ai;
    size_t sz = sizeof(ai);
    check_eq(mallctl("thread.arena", &ai, &sz, NULL, 0), 0);
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.purge", ai);
    check_eq(mallctl(name, NULL, NULL, NULL, 0), 0);
    arenas_release_free_chunks();
}

/* A block of n bytes, filled from seed, allocated after fresh_start (so its home is untouched). */
static char *fresh_block(size_t n, uint64_t seed) {
    fresh_start();
    char *p = malloc(n);
    check(p != NULL);
    if (p != NULL)
        fill(p, n, seed);
    return p;
}

static void validate_thread_arena(void) {
    unsigned ai;
    size_t sz = sizeof(ai);
    check_eq(mallctl("thread.arena", &ai, &sz, NULL, 0), 0);
    mutex_lock(&arenas[ai]->ex.lock);
    extents_validate(&arenas[ai]->ex);
    mutex_unlock(&arenas[ai]->ex.lock);
}

/* Two separate mappings of 4 MiB: the source's pages go to the destination. */
static void test_move(void) {
    size_t n = 4 * MiB;
    char *a = pages_map(n, PAGE), *b = pages_map(n, PAGE);
    check(a != NULL && b != NULL);
    fill(a, n, 1);
    check_eq(pages_resident_any(b, n), 0);
    check_eq(pages_move(a, n, b), PAGES_MOVE_MOVED);
    check(filled(b, n, 1));
    check_eq(pages_resident_any(a, n), 0);
    check(reads_zero(a, n)); /* mapped still: readable, zero */
    pages_unmap(a, n);
    pages_unmap(b, n);
}

/* [a, a + 2n) made of two mappings: refused, and neither range changed. */
static void test_split_source(void) {
    size_t n = 2 * MiB;
    char *a = pages_map(2 * n, PAGE), *x = pages_map(n, PAGE), *b = pages_map(2 * n, PAGE);
    check(a != NULL && x != NULL && b != NULL);
    fill(a, 2 * n, 2);
    fill(x, n, 3);
    check_eq(pages_move(x, n, a + n), PAGES_MOVE_MOVED); /* a's second half: another mapping */
    fill(b, 2 * n, 4);
    check_eq(pages_move(a, 2 * n, b), PAGES_MOVE_NOT_MOVED);
    check(filled(a, n, 2));
    check(filled(a + n, n, 3));
    check(filled(b, 2 * n, 4));
    pages_unmap(a, 2 * n);
    pages_unmap(b, 2 * n);
    pages_unmap(x, n);
}

/*
 * A 4 MiB block alone in a new chunk, grown to 8 MiB: with moves refused it is copied (the old
 * range keeps its pages, dirty); then it moves (the old range keeps none).
 */
static char *grow(char *p, size_t n, uint64_t seed, bool moved) {
    char *q = realloc(p, 2 * n);
    check(q != NULL && q != p);
    check(filled(q, n, seed));
    check_eq(pages_resident_any(p, n), !moved);
    validate_thread_arena();
    return q;
}

static void test_realloc(void) {
    size_t n = 4 * MiB;
    char *p = fresh_block(n, 5);
    pages_move_refused = true;
    char *q = grow(p, n, 5, false);
    pages_move_refused = false;
    free(q);
    p = fresh_block(n, 6); /* the new home must be untouched */
    q = grow(p, n, 6, true);
    free(q);
}

/* A failing kernel: the destination unmapped, and with taken, another mapping put there. */
static bool taken;
static void *intruder;
static bool fail_after_unmap(void *src, size_t size, void *dst) {
    (void)src;
    check_eq(munmap(dst, size), 0);
    if (taken) {
        intruder = mmap(dst, 4096, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        check(intruder == dst);
    }
    return true;
}

/* The state of moves after a failure can only be undone by a new process: run it in a child. */
static void test_failure(bool take) {
    pid_t pid = fork();
    check(pid >= 0);
    if (pid == 0) {
        size_t n = 4 * MiB;
        char *p = fresh_block(n, 7);
        taken = take;
        pages_move_hook = fail_after_unmap;
        char *q = realloc(p, 2 * n);
        pages_move_hook = NULL;
        check(q != NULL);
        check(filled(q, n, 7));
        if (take) {
            /* The lost block was not handed out, and the intruder's page is untouched. */
            check(q != intruder);
            check(((char *)intruder)[0] == 0);
        }
        validate_thread_arena();
        /* No more moves: the next growth copies, the old range stays resident. */
        fill(q, 2 * n, 8);
        char *r = realloc(q, 4 * n);
        check(r != NULL && filled(r, 2 * n, 8));
        check_eq(pages_resident_any(q, 2 * n), 1);
        free(r);
        _exit(unit_failures == 0 ? 0 : 1);
    }
    int status = 0;
    check_eq(waitpid(pid, &status, 0), pid);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(void) {
    free(malloc(1)); /* initialise */
    test_move();
    test_split_source();
    test_realloc();
    test_failure(false);
    test_failure(true);
    return unit_finish("pages_move");
}
