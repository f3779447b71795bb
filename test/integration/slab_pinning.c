/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * One live region pins its whole slab, so the slabs of the classes of a few KiB are kept small
 * (sc.c: doubled to hold four regions only within four pages). For the largest small class:
 * blocks made one after another without a thread cache fill its slabs in order; freeing three
 * of every four leaves one live block in (at most) every slab; stats.active then grows by the
 * live blocks' slabs: at most 16 smallest exact runs of pages for 16 live blocks (7 pages for
 * 14336 B with 4 KiB pages; slabs of four regions and 14 pages pinned twice that).
 */
#include "../test.h"

typedef int mallctl_fn(const char *, void *, size_t *, void *, size_t);
static mallctl_fn *mallctl_f;
static void *(*mallocx_f)(size_t, int);
static void (*dallocx_f)(void *, int);

#define NBLOCKS 64

static size_t read_size(const char *name) {
    size_t v = 0, sz = sizeof(v);
    expect_d_eq(mallctl_f(name, &v, &sz, NULL, 0), 0);
    return v;
}

static size_t active_now(void) {
    uint64_t epoch = 1;
    expect_d_eq(mallctl_f("epoch", NULL, NULL, &epoch, sizeof(epoch)), 0);
    return read_size("stats.active");
}

int main(void) {
    if (!test_allocator_active())
        return test_done();
    mallctl_f = (mallctl_fn *)test_sym("mallctl");
    mallocx_f = (void *(*)(size_t, int))test_sym("mallocx");
    dallocx_f = (void (*)(void *, int))test_sym("dallocx");
    require_true(mallctl_f != NULL && mallocx_f != NULL && dallocx_f != NULL);
    unsigned nbins = 0;
    size_t sz = sizeof(nbins);
    expect_d_eq(mallctl_f("arenas.nbins", &nbins, &sz, NULL, 0), 0);
    require_true(nbins > 0);
    char name[64];
    snprintf(name, sizeof(name), "arenas.bin.%u.size", nbins - 1);
    size_t size = read_size(name);
    size_t page = read_size("arenas.page");
    size_t run = 1;
    while (run * page % size != 0)
        run++;

    int flags = MALLOCX_TCACHE_NONE;
    void *p[NBLOCKS];
    size_t before = active_now();
    for (unsigned i = 0; i < NBLOCKS; i++) {
        p[i] = mallocx_f(size, flags);
        require_true(p[i] != NULL);
        memset(p[i], 1, size);
    }
    for (unsigned i = 0; i < NBLOCKS; i++)
        if (i % 4 != 0)
            dallocx_f(p[i], flags);
    size_t pinned = active_now() - before;
    /* A bin may keep one partly used slab of the class from before, hence one run more. */
    expect_zu_le(pinned, (NBLOCKS / 4 + 1) * run * page);
    expect_zu_ge(pinned, (NBLOCKS / 4) * size);
    for (unsigned i = 0; i < NBLOCKS; i += 4)
        dallocx_f(p[i], flags);
    return test_done();
}
