/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * experimental.utilization.query and experimental.utilization.batch_query (jemalloc 5.3's names,
 * which programs that compact their heap read before moving an object) and
 * stats.arenas.<i>.bins.<j>.nonfull_slabs, on a fresh arena filled without a thread cache so that
 * every count is known: a slab's free regions, regions and size, its bin's free regions and
 * regions over all its slabs, and the slab the bin hands out from next; a large block (twice the
 * largest small class: the page size decides it) reports 0 free of 1; addresses that are no block report zeros; wrong lengths and NULLs are EINVAL and
 * write nothing.
 */
#include "../test.h"

#define SIZE 64
#define MAXREGS 4096 /* 64 B regions in a 64 KiB page: 1024 */

typedef struct {
    size_t nfree, nregs, size, bin_nfree, bin_nregs;
    void *slabcur_addr;
} util_t;

static util_t query(const void *p) {
    util_t u;
    memset(&u, 0xab, sizeof(u));
    size_t len = sizeof(u);
    expect_d_eq(mallctl("experimental.utilization.query", &u, &len, &p, sizeof(p)), 0);
    expect_zu_eq(len, sizeof(u));
    return u;
}

static size_t nonfull_slabs(unsigned arena, unsigned bin) {
    char name[96];
    snprintf(name, sizeof(name), "stats.arenas.%u.bins.%u.nonfull_slabs", arena, bin);
    return test_stat_size(name);
}

/* The answers to bad arguments: EINVAL, and the output left as it was. */
static void check_einval(void) {
    int x = 0;
    const void *p = &x;
    const void *ps[2] = {&x, &x};
    unsigned char out[64], ref[64];
    memset(ref, 0x5a, sizeof(ref));
    size_t len;
#define EINVAL_CASE(name, oldp, oldlenp, newp, newlen)                                             \
    do {                                                                                           \
        memcpy(out, ref, sizeof(out));                                                             \
        expect_d_eq(mallctl(name, oldp, oldlenp, newp, newlen), EINVAL);                         \
        expect_d_eq(memcmp(out, ref, sizeof(out)), 0);                                             \
    } while (0)
    const char *q = "experimental.utilization.query", *b = "experimental.utilization.batch_query";
    len = sizeof(util_t) - 1;
    EINVAL_CASE(q, out, &len, &p, sizeof(p)); /* output one byte short */
    len = sizeof(util_t) + 8;
    EINVAL_CASE(q, out, &len, &p, sizeof(p)); /* output too long */
    len = sizeof(util_t);
    EINVAL_CASE(q, out, &len, &p, sizeof(p) - 1); /* input not one pointer */
    EINVAL_CASE(q, out, &len, NULL, 0);           /* no input */
    EINVAL_CASE(q, NULL, &len, &p, sizeof(p));    /* no output */
    EINVAL_CASE(q, out, NULL, &p, sizeof(p));
    len = 2 * 3 * sizeof(size_t);
    EINVAL_CASE(b, out, &len, ps, 0);                  /* no addresses */
    EINVAL_CASE(b, out, &len, ps, sizeof(ps) - 1);     /* not whole pointers */
    EINVAL_CASE(b, out, &len, NULL, sizeof(ps));       /* no input */
    EINVAL_CASE(b, NULL, &len, ps, sizeof(ps));        /* no output */
    len = 3 * sizeof(size_t);
    EINVAL_CASE(b, out, &len, ps, sizeof(ps)); /* room for one answer, two addresses */
    len = 2 * 3 * sizeof(size_t) + 1;
    EINVAL_CASE(b, out, &len, ps, sizeof(ps));
#undef EINVAL_CASE
}

int main(void) {
    if (!test_allocator_active())
        return test_done();

    unsigned arena = 0;
    size_t alen = sizeof(arena);
    require_zu_eq(mallctl("arenas.create", &arena, &alen, NULL, 0), 0);
    unsigned nbins = test_ctl_unsigned("arenas.nbins"), bin = UINT32_MAX;
    char name[96];
    for (unsigned j = 0; j < nbins && bin == UINT32_MAX; j++) {
        snprintf(name, sizeof(name), "arenas.bin.%u.size", j);
        if (test_ctl_size(name) == SIZE)
            bin = j;
    }
    require_true(bin != UINT32_MAX);
    uint32_t nregs32 = 0;
    size_t sz = sizeof(nregs32);
    snprintf(name, sizeof(name), "arenas.bin.%u.nregs", bin);
    expect_d_eq(mallctl(name, &nregs32, &sz, NULL, 0), 0);
    size_t nregs = nregs32;
    snprintf(name, sizeof(name), "arenas.bin.%u.slab_size", bin);
    size_t slab_size = test_ctl_size(name);
    require_true(nregs >= 4 && nregs <= MAXREGS && slab_size == nregs * SIZE);

    /* Half a slab: all from the arena's first slab of the class, which is its current one. */
    int flags = MALLOCX_ARENA(arena) | MALLOCX_TCACHE_NONE;
    void *blocks[2 * MAXREGS + 1];
    size_t k = nregs / 2;
    for (size_t i = 0; i < k; i++)
        require_ptr_not_null(blocks[i] = mallocx(SIZE, flags));
    util_t u = query(blocks[0]);
    expect_zu_eq(u.nregs, nregs);
    expect_zu_eq(u.nfree, nregs - k);
    expect_zu_eq(u.size, slab_size);
    expect_zu_eq(u.bin_nregs, nregs);
    expect_zu_eq(u.bin_nfree, nregs - k);
    char *slab0 = u.slabcur_addr;
    for (size_t i = 0; i < k; i++)
        expect_true((char *)blocks[i] >= slab0 && (char *)blocks[i] < slab0 + slab_size);
    expect_zu_eq(nonfull_slabs(arena, bin), 0);

    /* A region given back is free in its slab again. */
    dallocx(blocks[k - 1], flags);
    u = query(blocks[0]);
    expect_zu_eq(u.nfree, nregs - k + 1);
    expect_zu_eq(u.bin_nfree, nregs - k + 1);
    require_ptr_not_null(blocks[k - 1] = mallocx(SIZE, flags));

    /* Fill the first slab and start a second: the bin hands out from the second. */
    size_t n = nregs + 1;
    for (size_t i = k; i < n; i++)
        require_ptr_not_null(blocks[i] = mallocx(SIZE, flags));
    u = query(blocks[0]);
    expect_zu_eq(u.nfree, 0);
    expect_zu_eq(u.bin_nregs, 2 * nregs);
    expect_zu_eq(u.bin_nfree, nregs - 1);
    char *slab1 = u.slabcur_addr;
    expect_true(slab1 != NULL && slab1 != slab0);
    util_t u1 = query(blocks[nregs]);
    expect_zu_eq(u1.nfree, nregs - 1);
    expect_ptr_eq(u1.slabcur_addr, slab1);
    expect_true((char *)blocks[nregs] >= slab1 && (char *)blocks[nregs] < slab1 + slab_size);

    /* A free region in the full first slab puts it on the non-full list. */
    dallocx(blocks[1], flags);
    expect_zu_eq(query(blocks[0]).nfree, 1);
    expect_zu_eq(nonfull_slabs(arena, bin), 1);

    /* A large block, and addresses that are no block. */
    /* Past the largest small class, whatever the page (small classes reach four pages). */
    snprintf(name, sizeof(name), "arenas.bin.%u.size", nbins - 1);
    void *big = mallocx(2 * test_ctl_size(name) + 1, flags);
    require_ptr_not_null(big);
    u = query(big);
    expect_zu_eq(u.nfree, 0);
    expect_zu_eq(u.nregs, 1);
    expect_zu_ge(u.size, sallocx(big, 0));
    expect_zu_eq(u.bin_nfree, 0);
    expect_zu_eq(u.bin_nregs, 0);
    expect_ptr_null(u.slabcur_addr);
    int local = 0;
    const void *nothing[] = {&local, NULL, (void *)(uintptr_t)-4096};
    for (size_t i = 0; i < sizeof(nothing) / sizeof(nothing[0]); i++) {
        u = query(nothing[i]);
        expect_true(u.nfree == 0 && u.nregs == 0 && u.size == 0 && u.bin_nfree == 0 &&
                    u.bin_nregs == 0 && u.slabcur_addr == NULL);
    }

    /* The batch form: three words an address, in order. */
    const void *in[4] = {blocks[0], blocks[nregs], big, &local};
    size_t out[4][3];
    memset(out, 0xab, sizeof(out));
    size_t len = sizeof(out);
    expect_d_eq(mallctl("experimental.utilization.batch_query", out, &len, in, sizeof(in)), 0);
    expect_zu_eq(len, sizeof(out));
    size_t want[4][3] = {{1, nregs, slab_size}, {nregs - 1, nregs, slab_size},
                         {0, 1, query(big).size}, {0, 0, 0}};
    for (size_t i = 0; i < 4; i++)
        for (size_t w = 0; w < 3; w++)
            expect_zu_eq(out[i][w], want[i][w]);

    check_einval();

    dallocx(big, flags);
    for (size_t i = 0; i < n; i++)
        if (i != 1)
            dallocx(blocks[i], flags);
    return test_done();
}
