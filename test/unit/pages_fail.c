/*
 * Injected mmap failures (pages_fail_after, pages.h): every point where the allocator maps memory
 * may fail, and each failure must come back as NULL with errno ENOMEM (or an error code), leave no
 * lock held and no structure half-built, and the same request must succeed once mapping works
 * again. The points: a fresh chunk, a leaf of the radix tree, a new base (metadata) block for a
 * chunk record and for an arena; a thread whose state cannot be made is served without a cache
 * meanwhile. Then every public allocation function with the next 1, 2, 3, ... maps failing until
 * the request succeeds, and ordinary use from several threads afterwards.
 *
 * pages_fail_after = N lets N - 1 further maps succeed, then fails every map until it is set to 0
 * again. The hooks are driven from one thread, so the count is exact. Placement is arranged
 * rather than hoped for:
 *  - a request in a freshly created arena (MALLOCX_ARENA, no thread cache) has no free extent to
 *    reuse, so it must map a chunk; the public functions ask for ever larger sizes for the same
 *    reason;
 *  - base_exhaust() leaves the current base block with at most 8 free bytes, so the next metadata
 *    record needs a new block; base_room() leaves a fresh block with room;
 *  - a 2 GiB PROT_NONE reservation pushes the next chunk below it, into 1 GiB of address space
 *    no mapping has touched, so its radix-tree leaf must be created (run first, before any freed
 *    chunk leaves a hole above it);
 *  - a failed map makes the allocator unmap every wholly free chunk and try once more; each
 *    scenario first does that itself (settle()), so the retry finds nothing new to use and
 *    freed address space does not undo the placement above.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "allocator.h"
#include "allocator/internal/arena.h"
#include "allocator/internal/base.h"
#include "allocator/internal/pages.h"
#include "allocator/internal/rtree.h"
#include "unit.h"

#define MiB ((size_t)1 << 20)
#define LEAF_SPAN ((size_t)1 << 30) /* address space one radix-tree leaf covers */

/* No wholly free chunk is left mapped (what a failed map would otherwise release). */
static void settle(void) { arenas_release_free_chunks(); }

/*
 * Leaves the current base block with at most 8 free bytes (metadata nobody frees: it is base),
 * after settle().
 */
static void base_exhaust(void) {
    settle();
    for (int i = 0; i < 64; i++) {
        size_t before = base_mapped_bytes();
        check(base_alloc(((size_t)64 << 10) - 8, 8) != NULL);
        if (base_mapped_bytes() != before)
            return;
    }
    check(!"base_exhaust: no new base block after 64 tries");
}

/* Leaves a fresh base block (64 KiB less a few bytes free). */
static void base_room(void) {
    base_exhaust();
    check(base_alloc(16, 8) != NULL);
}

static unsigned leaves_in_use(void) {
    unsigned n = 0;
    for (size_t i = 0; i < RTREE_ROOT_N; i++)
        n += __atomic_load_n(&rtree.root[i], __ATOMIC_ACQUIRE) != 0;
    return n;
}

static unsigned arena_create(void) {
    unsigned ind = 0;
    size_t len = sizeof(ind);
    int r = mallctl("arenas.create", &ind, &len, NULL, 0);
    check_eq(r, 0);
    return ind;
}

#define ARENA_FLAGS(a) (MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE)

/* Touch the first and last byte: the memory behind a pointer must be usable. */
static void touch(void *p, size_t size) {
    volatile char *c = p;
    c[0] = 1;
    c[size - 1] = 2;
}

/* ---- the single points --------------------------------------------------------------------- */

static void test_fresh_chunk(void) {
    unsigned a = arena_create();
    base_room();
    size_t base_before = base_mapped_bytes(), pages_before = pages_mapped_bytes();
    pages_fail_after = 1; /* the chunk's own map fails */
    errno = 0;
    void *p = mallocx(100, ARENA_FLAGS(a));
    check(p == NULL);
    check_eq(errno, ENOMEM);
    check_eq(base_mapped_bytes(), base_before); /* the failure was the chunk, not metadata */
    check_eq(pages_mapped_bytes(), pages_before);
    void *q = mallocx(100, ARENA_FLAGS(a)); /* still failing until cleared */
    check(q == NULL);
    pages_fail_after = 0;
    p = mallocx(100, ARENA_FLAGS(a));
    check(p != NULL);
    if (p != NULL) {
        touch(p, 100);
        check_eq(sallocx(p, 0), 112);
        dallocx(p, ARENA_FLAGS(a));
    }
    /* A large request in the same arena, failing then succeeding. */
    base_room();
    pages_fail_after = 1;
    p = mallocx(40 * MiB, ARENA_FLAGS(a));
    check(p == NULL);
    check_eq(errno, ENOMEM);
    pages_fail_after = 0;
    p = mallocx(40 * MiB, ARENA_FLAGS(a));
    check(p != NULL);
    if (p != NULL) {
        touch(p, 40 * MiB);
        dallocx(p, ARENA_FLAGS(a));
    }
}

static void test_rtree_leaf(void) {
    unsigned a = arena_create();
    char *reserve =
        mmap(NULL, 2 * LEAF_SPAN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    check(reserve != MAP_FAILED);
    if (reserve == MAP_FAILED)
        return;
    base_room();
    unsigned leaves = leaves_in_use();
    pages_fail_after = 1; /* the chunk fails */
    errno = 0;
    check(mallocx(100, ARENA_FLAGS(a)) == NULL);
    check_eq(errno, ENOMEM);
    pages_fail_after = 2; /* the chunk is mapped, its leaf fails; the chunk is given back */
    errno = 0;
    size_t pages_before = pages_mapped_bytes();
    check(mallocx(100, ARENA_FLAGS(a)) == NULL);
    check_eq(errno, ENOMEM);
    check_eq(leaves_in_use(), leaves);
    check_eq(pages_mapped_bytes(), pages_before);
    pages_fail_after = 0;
    char *p = mallocx(100, ARENA_FLAGS(a));
    check(p != NULL);
    if (p != NULL) {
        touch(p, 100);
        /* The arrangement held: the chunk went below the reservation and needed a new leaf. */
        check(p < reserve);
        check(leaves_in_use() > leaves);
        dallocx(p, ARENA_FLAGS(a));
    }
    munmap(reserve, 2 * LEAF_SPAN);
}

static void test_base_block(void) {
    /* A chunk record needs metadata: with the base block full, its new block is the first map. */
    unsigned a = arena_create();
    base_exhaust();
    size_t base_before = base_mapped_bytes(), pages_before = pages_mapped_bytes();
    pages_fail_after = 1;
    errno = 0;
    check(mallocx(100, ARENA_FLAGS(a)) == NULL);
    check_eq(errno, ENOMEM);
    check_eq(base_mapped_bytes(), base_before);
    check_eq(pages_mapped_bytes(), pages_before);
    pages_fail_after = 0;
    void *p = mallocx(100, ARENA_FLAGS(a));
    check(p != NULL);
    if (p != NULL)
        dallocx(p, ARENA_FLAGS(a));

    /* An arena struct is metadata too: arenas.create fails with an error code, then works. */
    unsigned ind = 0;
    size_t len = sizeof(ind);
    base_exhaust();
    pages_fail_after = 1;
    int r = mallctl("arenas.create", &ind, &len, NULL, 0);
    check(r != 0);
    pages_fail_after = 0;
    check_eq(mallctl("arenas.create", &ind, &len, NULL, 0), 0);
}

/*
 * A thread whose state cannot be made (no metadata block for it): its calls are served without
 * a cache from arena 0 meanwhile (tsd_fetch's fallback), and it gets its state on a later call.
 */
static void *thread_first_call(void *arg) {
    int *ok = arg;
    base_exhaust();
    pages_fail_after = 1;
    errno = 0;
    char *p = malloc(16); /* the state's block fails; arena 0 has room for 16 bytes */
    int failed_map = pages_fail_after == -1;
    pages_fail_after = 0;
    uint64_t allocated = 1;
    size_t len = sizeof(allocated);
    int r1 = mallctl("thread.allocated", &allocated, &len, NULL, 0);
    uint64_t before = allocated;
    if (p != NULL)
        p[15] = 1;
    free(p);
    void *q = malloc(16);
    void *r = malloc(100000);
    int r2 = mallctl("thread.allocated", &allocated, &len, NULL, 0);
    *ok = failed_map && p != NULL && q != NULL && r != NULL && r1 == 0 && r2 == 0 && before == 0 &&
          allocated > before;
    if (!*ok)
        fprintf(stderr, "thread: failed_map %d, p %p, q %p, r %p, allocated %llu -> %llu\n",
                failed_map, (void *)p, q, r, (unsigned long long)before,
                (unsigned long long)allocated);
    free(q);
    free(r);
    return NULL;
}

static void test_thread_state(void) {
    int ok = 0;
    pthread_t t;
    check_eq(pthread_create(&t, NULL, thread_first_call, &ok), 0);
    check_eq(pthread_join(t, NULL), 0);
    check(ok);
}

/* ---- every public function, failing at the 1st, 2nd, 3rd ... map ---------------------------- */

typedef enum {
    OP_MALLOC,
    OP_CALLOC,
    OP_REALLOC,
    OP_POSIX_MEMALIGN,
    OP_ALIGNED_ALLOC,
    OP_MALLOCX
} op_t;
static const char *const op_names[] = {"malloc",         "calloc",        "realloc",
                                       "posix_memalign", "aligned_alloc", "mallocx"};

/*
 * Each attempt asks for more than the largest chunk any earlier one could have left behind (a
 * free extent never spans chunks), so no retained extent can serve it.
 */
static size_t max_chunk = 2 * MiB;

static int op_flags(op_t op) {
    return op == OP_POSIX_MEMALIGN  ? MALLOCX_ALIGN(8 * MiB)
           : op == OP_ALIGNED_ALLOC ? MALLOCX_ALIGN(4 * MiB)
           : op == OP_MALLOCX       ? MALLOCX_ALIGN(2 * MiB)
                                    : 0;
}

/* Runs op once; returns the block (NULL on failure, errno then ENOMEM). */
static void *run_op(op_t op, size_t size, void *old) {
    void *p = NULL;
    int r;
    switch (op) {
    case OP_MALLOC:
        return malloc(size);
    case OP_CALLOC:
        return calloc(size / 16, 16);
    case OP_REALLOC:
        return realloc(old, size);
    case OP_POSIX_MEMALIGN:
        r = posix_memalign(&p, 8 * MiB, size);
        if (r != 0) {
            errno = r;
            check(p == NULL);
            return NULL;
        }
        return p;
    case OP_ALIGNED_ALLOC:
        return aligned_alloc(4 * MiB, size);
    case OP_MALLOCX:
        return mallocx(size, MALLOCX_ALIGN(2 * MiB));
    }
    return NULL;
}

static void test_sweep(op_t op) {
    int n;
    void *p = NULL;
    for (n = 1; n <= 12; n++) {
        size_t size = max_chunk + MiB;
        size_t chunk = (nallocx(size, op_flags(op)) + 2 * MiB - 1) & ~(2 * MiB - 1);
        max_chunk = chunk > max_chunk ? chunk : max_chunk;
        char *old = NULL;
        if (op == OP_REALLOC) {
            old = malloc(1000);
            check(old != NULL);
            if (old == NULL)
                return;
            memset(old, 0x3c, 1000);
        }
        base_exhaust(); /* map 1 is a base block; then the chunk; then any new leaf */
        pages_fail_after = n;
        errno = 0;
        p = run_op(op, size, old);
        int err = errno;
        pages_fail_after = 0;
        if (p != NULL) {
            touch(p, size);
            if (op == OP_REALLOC) {
                check(((char *)p)[500] == 0x3c); /* the contents moved */
            }
            break;
        }
        if (err != ENOMEM) {
            fprintf(stderr, "%s: failing at map %d: errno %d, expected ENOMEM\n", op_names[op], n,
                    err);
            check_eq(err, ENOMEM);
        }
        if (op == OP_REALLOC) {
            /* A failed realloc leaves the old block alone. */
            size_t i = 0;
            while (i < 1000 && old[i] == 0x3c)
                i++;
            check_eq(i, 1000);
            free(old);
        }
    }
    /*
     * The request needed a chunk at least, and a base block for its record unless one released
     * by settle() was reused: map 1 must have failed.
     */
    check(n >= 2 && n <= 12);
    fprintf(stderr, "%s: NULL and ENOMEM when map 1..%d failed; succeeded when map %d would\n",
            op_names[op], n - 1, n);
    if (p != NULL) {
        if (op == OP_MALLOCX)
            dallocx(p, 0);
        else
            free(p);
    }
}

/* ---- afterwards: ordinary use, from several threads ---------------------------------------- */

static void *churn(void *arg) {
    uint64_t x = (uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
    enum { SLOTS = 512 };
    void *slot[SLOTS] = {0};
    int bad = 0;
    for (int i = 0; i < 50000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        unsigned k = (unsigned)(x % SLOTS);
        free(slot[k]);
        size_t size = (x >> 20) % 100 == 0 ? (x >> 32) % (4 * MiB) + 1 : (x >> 32) % 3000 + 1;
        slot[k] = malloc(size);
        if (slot[k] == NULL)
            bad = 1;
        else
            memset(slot[k], (int)k, size < 64 ? size : 64);
    }
    for (unsigned k = 0; k < SLOTS; k++)
        free(slot[k]);
    return (void *)(uintptr_t)bad;
}

static void test_recovery(void) {
    pthread_t t[3];
    for (uintptr_t i = 0; i < 3; i++)
        check_eq(pthread_create(&t[i], NULL, churn, (void *)(i + 1)), 0);
    void *bad = (void *)1;
    for (int i = 0; i < 3; i++) {
        check_eq(pthread_join(t[i], &bad), 0);
        check(bad == NULL);
    }
    check_eq(malloc_trim(0) >= 0, 1);
    uint64_t epoch = 1;
    size_t allocated = 0, len = sizeof(allocated);
    check_eq(mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)), 0);
    check_eq(mallctl("stats.allocated", &allocated, &len, NULL, 0), 0);
}

int main(void) {
    free(malloc(1)); /* initialise */
    /* First, while no chunk has been freed: a hole left by one would take the next chunk. */
    test_rtree_leaf();
    test_fresh_chunk();
    test_base_block();
    test_thread_state();
    for (op_t op = OP_MALLOC; op <= OP_MALLOCX; op++)
        test_sweep(op);
    test_recovery();
    return unit_finish("pages_fail");
}
