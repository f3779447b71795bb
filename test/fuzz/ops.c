/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The fuzzer's operations: their source (a seeded PRNG or a byte string), the decoder that
 * turns the source into operations, and the executor that runs one against the allocator and
 * checks every result against the shadow model (model.c). The driver (main.c) and the libFuzzer
 * entry (libfuzzer.c) share all of it.
 *
 * Checks after each operation: the block is 16-byte aligned and aligned as asked; its usable
 * size (malloc_usable_size and sallocx, which agree) is at least the request and what nallocx
 * predicts, and every usable byte is written; its range meets no other live block's; contents
 * survive realloc, rallocx, xallocx and a pass to another thread, and are intact at free; calloc,
 * MALLOCX_ZERO and zero:true memory is zero, and so is a zeroing resize's growth; junk:true fills
 * new memory with 0xa5; a block in an explicit arena is in that arena; impossible requests fail
 * with the documented error and leave the block alone; with one thread, thread.allocated -
 * thread.deallocated, stats.allocated and mallinfo2 account for the bytes live. Between them run
 * the calls that change later paths: cache and arena flushes, purges, trims, thread.arena,
 * thread.tcache.enabled, decay times, mallopt, and arena resets.
 *
 * Only correct programs are modelled: no invalid or double free, no use after free.
 */
#include "fuzz.h"

#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../include/allocator.h"

/* glibc's internal names, which liballocator defines too (no header declares them all). */
void *__libc_malloc(size_t size);
void __libc_free(void *ptr);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *ptr, size_t size);
void *__libc_memalign(size_t align, size_t size);
void *__libc_valloc(size_t size);
void *__libc_pvalloc(size_t size);
int __posix_memalign(void **memptr, size_t align, size_t size);

fuzz_conf_t fuzz_conf = {.nthreads = 1, .max_live = (size_t)256 << 20, .page = 4096};

/* ---- the source ---------------------------------------------------------------------------- */

void src_init_seed(fuzz_src_t *src, uint64_t seed) {
    memset(src, 0, sizeof(*src));
    src->state = seed;
}

void src_init_bytes(fuzz_src_t *src, const uint8_t *data, size_t len) {
    memset(src, 0, sizeof(*src));
    src->data = data;
    src->len = len;
}

uint64_t src_bits(fuzz_src_t *src, unsigned n) {
    uint64_t v;
    if (src->data == NULL) {
        uint64_t z = (src->state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        v = z ^ (z >> 31);
    } else {
        v = 0;
        for (unsigned i = 0; i < (n + 7) / 8; i++) {
            uint64_t b = 0;
            if (src->pos < src->len)
                b = src->data[src->pos++];
            else
                src->done = true;
            v |= b << (8 * i);
        }
    }
    return n >= 64 ? v : v & (((uint64_t)1 << n) - 1);
}

/* ---- the decoder --------------------------------------------------------------------------- */

static const char *const op_names[OP_NKINDS] = {
    [OP_MALLOC] = "malloc",
    [OP_CALLOC] = "calloc",
    [OP_POSIX_MEMALIGN] = "posix_memalign",
    [OP_ALIGNED_ALLOC] = "aligned_alloc",
    [OP_MEMALIGN] = "memalign",
    [OP_VALLOC] = "valloc",
    [OP_PVALLOC] = "pvalloc",
    [OP_LIBC_MALLOC] = "__libc_malloc",
    [OP_LIBC_CALLOC] = "__libc_calloc",
    [OP_LIBC_MEMALIGN] = "__libc_memalign",
    [OP_LIBC_VALLOC] = "__libc_valloc",
    [OP_LIBC_PVALLOC] = "__libc_pvalloc",
    [OP_LIBC_POSIX_MEMALIGN] = "__posix_memalign",
    [OP_MALLOCX] = "mallocx",
    [OP_REALLOC] = "realloc",
    [OP_REALLOCARRAY] = "reallocarray",
    [OP_LIBC_REALLOC] = "__libc_realloc",
    [OP_RALLOCX] = "rallocx",
    [OP_XALLOCX] = "xallocx",
    [OP_FREE] = "free",
    [OP_LIBC_FREE] = "__libc_free",
    [OP_FREE_SIZED] = "free_sized",
    [OP_FREE_ALIGNED_SIZED] = "free_aligned_sized",
    [OP_DALLOCX] = "dallocx",
    [OP_SDALLOCX] = "sdallocx",
    [OP_CHECK] = "check",
    [OP_HANDOFF] = "handoff",
    [OP_TAKE] = "take",
    [OP_IMPOSSIBLE] = "impossible",
    [OP_TRIM] = "malloc_trim",
    [OP_MALLINFO] = "mallinfo",
    [OP_FLUSH] = "flush",
    [OP_PURGE] = "purge",
    [OP_MALLOPT] = "mallopt",
    [OP_MALLOC_INFO] = "malloc_info",
    [OP_ARENA_RESET] = "arena_reset",
    [OP_CTL] = "mallctl",
};

const char *op_name(unsigned kind) { return kind < OP_NKINDS ? op_names[kind] : "?"; }

/* Relative frequencies: about as many blocks freed as allocated, so slots stay half full; the
 * calls that purge every arena are rare, since each makes the next allocations fault pages in. */
static const uint16_t op_weights[OP_NKINDS] = {
    [OP_MALLOC] = 96,
    [OP_CALLOC] = 32,
    [OP_POSIX_MEMALIGN] = 16,
    [OP_ALIGNED_ALLOC] = 16,
    [OP_MEMALIGN] = 12,
    [OP_VALLOC] = 8,
    [OP_PVALLOC] = 8,
    [OP_LIBC_MALLOC] = 8,
    [OP_LIBC_CALLOC] = 8,
    [OP_LIBC_MEMALIGN] = 4,
    [OP_LIBC_VALLOC] = 4,
    [OP_LIBC_PVALLOC] = 4,
    [OP_LIBC_POSIX_MEMALIGN] = 4,
    [OP_MALLOCX] = 80,
    [OP_REALLOC] = 64,
    [OP_REALLOCARRAY] = 12,
    [OP_LIBC_REALLOC] = 8,
    [OP_RALLOCX] = 48,
    [OP_XALLOCX] = 32,
    [OP_FREE] = 120,
    [OP_LIBC_FREE] = 12,
    [OP_FREE_SIZED] = 24,
    [OP_FREE_ALIGNED_SIZED] = 16,
    [OP_DALLOCX] = 32,
    [OP_SDALLOCX] = 32,
    [OP_CHECK] = 24,
    [OP_HANDOFF] = 32,
    [OP_TAKE] = 32,
    [OP_IMPOSSIBLE] = 4,
    [OP_TRIM] = 1,
    [OP_MALLINFO] = 2,
    [OP_FLUSH] = 8,
    [OP_PURGE] = 1,
    [OP_MALLOPT] = 1,
    [OP_MALLOC_INFO] = 1,
    [OP_ARENA_RESET] = 1,
    [OP_CTL] = 4,
};

/* Sizes: zero and tiny ones, size-class edges, page multiples, chunk edges, up to 40 MiB. */
static size_t decode_size(fuzz_src_t *src) {
    unsigned c = (unsigned)src_bits(src, 10);
    size_t r = (size_t)src_bits(src, 32);
    long delta = (long)src_bits(src, 2) - 1; /* -1, 0, 1, 2 */
    if (delta == 2)
        delta = 0;
    size_t page = fuzz_conf.page;
    size_t base;
    if (c < 32)
        return 0;
    if (c < 256)
        return 1 + r % 64;
    if (c < 480)
        return 1 + r % 1024;
    if (c < 640)
        return 1 + r % 16384;
    if (c < 800)
        base = nallocx(1 + r % 65536, 0); /* a class edge, small or large */
    else if (c < 840) {                   /* a class edge, log-uniform up to 4 MiB */
        unsigned lg = (unsigned)(r % 22);
        base = nallocx(((size_t)1 << lg) + (r >> 8) % ((size_t)1 << lg), 0);
    } else if (c < 920)
        base = (1 + r % 64) * page;
    else if (c < 990)
        return 1 + r % ((size_t)256 << 10);
    else if (c < 1010)
        return 1 + r % ((size_t)2 << 20);
    else if (c < 1016) { /* chunk multiples, exact or a byte or a page off */
        base = (1 + r % 4) * ((size_t)2 << 20);
        delta *= (long)(r >> 16 & 1 ? page : 1);
    } else if (c < 1022)
        return 1 + r % ((size_t)8 << 20);
    else
        return 1 + r % ((size_t)40 << 20);
    return delta < 0 && base == 0 ? 0 : (size_t)((long)base + delta);
}

/* An alignment's log: mostly small, sometimes a page, rarely up to 4 MiB. */
static unsigned decode_lg_align(fuzz_src_t *src) {
    unsigned c = (unsigned)src_bits(src, 8);
    if (c < 128)
        return 4 + c % 4; /* 16..128 */
    if (c < 200)
        return c % 13; /* 1..4096 */
    if (c < 250)
        return 12 + c % 5;
    return 17 + c % 6; /* 128 KiB..4 MiB */
}

void op_decode(fuzz_src_t *src, fuzz_op_t *op) {
    static unsigned total;
    if (total == 0) {
        unsigned t = 0;
        for (unsigned k = 0; k < OP_NKINDS; k++)
            t += op_weights[k];
        total = t;
    }
    memset(op, 0, sizeof(*op));
    unsigned w = (unsigned)(src_bits(src, 16) % total);
    unsigned k = 0;
    while (w >= op_weights[k]) {
        w -= op_weights[k];
        k++;
    }
    op->kind = (uint8_t)k;
    op->variant = (uint8_t)src_bits(src, 8);
    /* A quarter of operations reuse a few hot slots, for quick free-then-allocate churn. */
    unsigned s = (unsigned)src_bits(src, 10);
    op->slot = (uint16_t)(s & 3 ? (s >> 2) % FUZZ_SLOTS : (s >> 2) % 8);
    op->aux = (uint32_t)src_bits(src, 16);
    op->size = decode_size(src);
    if (k == OP_XALLOCX)
        op->extra = src_bits(src, 1) ? decode_size(src) : 0;
    unsigned lg = decode_lg_align(src);
    op->align = (size_t)1 << lg;
    if (k == OP_MEMALIGN || k == OP_LIBC_MEMALIGN) {
        if (op->variant & 1) /* not a power of two: rounded up */
            op->align += op->align / 2;
    }
    if (k == OP_MALLOCX || k == OP_RALLOCX || k == OP_XALLOCX) {
        unsigned f = (unsigned)src_bits(src, 4);
        if (f & 1)
            op->flags |= MALLOCX_LG_ALIGN(lg);
        if ((f & 6) == 6)
            op->flags |= MALLOCX_ZERO;
    }
}

/* ---- failure reports ----------------------------------------------------------------------- */

static fuzz_thread_t *threads[FUZZ_MAX_THREADS];
static __thread fuzz_thread_t *cur_thread;
static int failing;

void fuzz_thread_register(fuzz_thread_t *t) {
    if (t->tid < FUZZ_MAX_THREADS)
        threads[t->tid] = t;
    cur_thread = t;
}

void fuzz_dump_logs(void) {
    for (unsigned i = 0; i < FUZZ_MAX_THREADS; i++) {
        fuzz_thread_t *t = threads[i];
        if (t == NULL)
            continue;
        uint64_t n = t->nops;
        uint64_t first = n >= FUZZ_LOG ? n - FUZZ_LOG + 1 : 0;
        fuzz_print("fuzz: thread %u, last operations (of %" PRIu64 "):\n", i, n + 1);
        for (uint64_t j = first; j <= n; j++) {
            const fuzz_log_t *l = &t->log[j % FUZZ_LOG];
            if (l->n != j)
                continue;
            fuzz_print("  t%u #%" PRIu64 " %s slot %u size %zu extra %zu align %zu flags %#x "
                       "aux %#x var %u: %#" PRIxPTR " -> %#" PRIxPTR "\n",
                       i, j, op_name(l->op.kind), l->op.slot, l->op.size, l->op.extra, l->op.align,
                       (unsigned)l->op.flags, l->op.aux, l->op.variant, l->in, l->out);
        }
    }
}

void fuzz_fail(const char *fmt, ...) {
    char buf[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (__atomic_exchange_n(&failing, 1, __ATOMIC_SEQ_CST) != 0) {
        /* Another thread is reporting already; let it finish. */
        for (;;)
            pause();
    }
    fuzz_thread_t *t = cur_thread;
    fuzz_print("fuzz: FAIL: %s\n", buf);
    if (t != NULL)
        fuzz_print("fuzz: in thread %u, operation #%" PRIu64 "\n", t->tid, t->nops);
    fuzz_dump_logs();
    const char *conf = getenv("MALLOC_CONF");
    fuzz_print("fuzz: seed %" PRIu64 ", %u thread(s), MALLOC_CONF=%s\n", fuzz_conf.seed,
               fuzz_conf.nthreads, conf != NULL ? conf : "");
    if (fuzz_conf.replay_hint != NULL) {
        fuzz_print("fuzz: replay: MALLOC_CONF='%s' %s --replay %" PRIu64 " --threads %u"
                   " --ops %" PRIu64 "\n",
                   conf != NULL ? conf : "", fuzz_conf.replay_hint, fuzz_conf.seed,
                   fuzz_conf.nthreads, t != NULL ? t->nops + 1 : 0);
        if (fuzz_conf.nthreads > 1)
            fuzz_print("fuzz: (threads interleave differently on every run: a threaded replay "
                       "may need several tries)\n");
    }
    if (fuzz_conf.abort_on_fail)
        abort();
    _exit(1);
}

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (__builtin_expect(!(cond), 0))                                                          \
            fuzz_fail(__VA_ARGS__);                                                                \
    } while (0)

/* ---- setup --------------------------------------------------------------------------------- */

static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static int32_t queue[FUZZ_QUEUE];
static unsigned queue_head, queue_len;

void fuzz_setup(void) {
    size_t sz = sizeof(bool);
    bool b;
    CHECK(mallctl("opt.zero", &b, &sz, NULL, 0) == 0, "mallctl opt.zero failed");
    fuzz_conf.opt_zero = b;
    const char *s;
    sz = sizeof(s);
    CHECK(mallctl("opt.junk", &s, &sz, NULL, 0) == 0, "mallctl opt.junk failed");
    fuzz_conf.opt_junk_alloc = strcmp(s, "true") == 0 || strcmp(s, "alloc") == 0;
    fuzz_conf.opt_junk_free = strcmp(s, "true") == 0 || strcmp(s, "free") == 0;
    sz = sizeof(s);
    CHECK(mallctl("opt.zero_realloc", &s, &sz, NULL, 0) == 0, "mallctl opt.zero_realloc failed");
    fuzz_conf.zero_realloc_free = strcmp(s, "free") == 0;
    size_t page;
    sz = sizeof(page);
    CHECK(mallctl("arenas.page", &page, &sz, NULL, 0) == 0, "mallctl arenas.page failed");
    fuzz_conf.page = page;
    unsigned n;
    sz = sizeof(n);
    CHECK(mallctl("arenas.narenas", &n, &sz, NULL, 0) == 0, "mallctl arenas.narenas failed");
    fuzz_conf.narenas = n;
    for (unsigned i = 0; i < FUZZ_ARENAS; i++) {
        sz = sizeof(n);
        CHECK(mallctl("arenas.create", &n, &sz, NULL, 0) == 0, "mallctl arenas.create failed");
        fuzz_conf.arenas[i] = n;
    }
    queue_head = queue_len = 0;
}

/* The calling thread's thread.allocated - thread.deallocated. */
static uint64_t thread_in_use(void) {
    uint64_t a = 0, d = 0;
    size_t sz = sizeof(a);
    CHECK(mallctl("thread.allocated", &a, &sz, NULL, 0) == 0, "thread.allocated failed");
    sz = sizeof(d);
    CHECK(mallctl("thread.deallocated", &d, &sz, NULL, 0) == 0, "thread.deallocated failed");
    return a - d;
}

void fuzz_thread_init(fuzz_thread_t *t, unsigned tid) {
    memset(t, 0, sizeof(*t));
    t->tid = tid;
    for (unsigned i = 0; i < FUZZ_SLOTS; i++)
        t->slots[i] = -1;
    for (unsigned i = 0; i < FUZZ_LOG; i++)
        t->log[i].n = UINT64_MAX;
    unsigned tc;
    size_t sz = sizeof(tc);
    t->tcache = mallctl("tcaches.create", &tc, &sz, NULL, 0) == 0 ? tc : UINT32_MAX;
    t->in_use_base = thread_in_use();
}

/* ---- helpers ------------------------------------------------------------------------------- */

/* Hides a value from the compiler, which would otherwise warn about (or fold) requests it can
 * see are impossible. */
static size_t launder(size_t x) {
    __asm__ volatile("" : "+r"(x));
    return x;
}

static size_t pow2_ceil(size_t x) {
    size_t p = 1;
    while (p < x)
        p <<= 1;
    return p;
}

/* Bound the bytes live at once: a request that would pass the cap shrinks to under 64 KiB. */
static size_t clamp_size(size_t size) {
    if (size > 65536 && model_live_bytes() + size > fuzz_conf.max_live)
        return size % 65536;
    return size;
}

/*
 * A resize's target size: the decoded one, or for a quarter of resizes one near the block's
 * own (a little more, double, half, a page more), the growth and shrinking programs do most
 * and the in-place paths serve.
 */
static size_t resize_size(const fuzz_op_t *op, const fuzz_rec_t *rec) {
    size_t size = op->size;
    if (rec != NULL && (op->variant & 6) == 0) {
        switch ((op->variant >> 3) % 4) {
        case 0:
            size = rec->req + op->aux % 4096;
            break;
        case 1:
            size = rec->req * 2;
            break;
        case 2:
            size = rec->req / 2;
            break;
        default:
            size = rec->req + fuzz_conf.page;
            break;
        }
    }
    return clamp_size(size);
}

/* The tcache bits of a mallocx-family flags word, as aux asks. */
static int tcache_flags(const fuzz_thread_t *t, unsigned choice) {
    switch (choice % 8) {
    case 0:
    case 1:
        return MALLOCX_TCACHE_NONE;
    case 2:
        return t->tcache != UINT32_MAX ? MALLOCX_TCACHE(t->tcache) : 0;
    default:
        return 0;
    }
}

/* The arena bits (and the arena, + 1, in *arena) as aux asks. */
static int arena_flags(unsigned choice, unsigned *arena) {
    unsigned a;
    switch (choice % 8) {
    case 0:
        a = fuzz_conf.arenas[(choice >> 3) % FUZZ_ARENAS];
        break;
    case 1:
        a = (choice >> 3) % fuzz_conf.narenas;
        break;
    default:
        *arena = 0;
        return 0;
    }
    *arena = a + 1;
    return MALLOCX_ARENA(a);
}

static unsigned arena_of(void *p) {
    unsigned a = UINT32_MAX;
    size_t sz = sizeof(a);
    CHECK(mallctl("arenas.lookup", &a, &sz, &p, sizeof(p)) == 0, "arenas.lookup(%p) failed", p);
    return a;
}

/* The alignment flags of a block, for nallocx and sdallocx. */
static int align_flags(size_t align) { return align == 0 ? 0 : MALLOCX_ALIGN(align); }

/* Checks common to every block just returned; registers it and writes its pattern. */
static int32_t accept_block(void *p, size_t req, size_t align, unsigned arena, bool explicit_tc,
                            bool zero, unsigned from, const char *what) {
    CHECK(p != NULL, "%s(%zu, align %zu) returned NULL (errno %d)", what, req, align, errno);
    CHECK(((uintptr_t)p & 15) == 0, "%s(%zu) returned %p, not 16-byte aligned", what, req, p);
    CHECK(align == 0 || ((uintptr_t)p & (align - 1)) == 0,
          "%s(%zu, align %zu) returned %p, misaligned", what, req, align, p);
    size_t us = malloc_usable_size(p);
    size_t sx = sallocx(p, 0);
    CHECK(us == sx, "%s(%zu) = %p: malloc_usable_size %zu but sallocx %zu", what, req, p, us, sx);
    CHECK(us >= req, "%s(%zu) = %p: usable size %zu below the request", what, req, p, us);
    size_t na = nallocx(req == 0 ? 1 : req, align_flags(align));
    CHECK(na == us, "%s(%zu, align %zu) = %p: usable size %zu, nallocx says %zu", what, req, align,
          p, us, na);
    if (arena != 0 && !explicit_tc) {
        unsigned got = arena_of(p);
        CHECK(got == arena - 1, "%s(%zu) with MALLOCX_ARENA(%u) = %p: in arena %u", what, req,
              arena - 1, p, got);
    }
    int32_t r = model_add(p, us, req, align, from);
    fuzz_rec_t *rec = model_rec(r);
    if (zero || fuzz_conf.opt_zero)
        zero_verify(rec, 0, us, zero ? "zeroed allocation" : "allocation with zero:true");
    else if (fuzz_conf.opt_junk_alloc)
        byte_verify(rec, 0, us, 0xa5, "allocation with junk:true");
    pattern_fill(rec, 0, us);
    return r;
}

/* Free the block in slot s the way kind says, checking its contents first. */
static void free_slot(fuzz_thread_t *t, unsigned s, unsigned kind, unsigned aux) {
    int32_t r = t->slots[s];
    fuzz_rec_t *rec = model_rec(r);
    void *p = (void *)rec->addr;
    pattern_verify(rec, 0, rec->usize, "contents at free");
    size_t us = malloc_usable_size(p);
    CHECK(us == rec->usize, "usable size of %p changed from %zu to %zu while live", p, rec->usize,
          us);
    size_t req = rec->req, align = rec->align, usize = rec->usize;
    unsigned from = rec->from;
    model_unlink(r);
    model_release(r);
    t->slots[s] = -1;
    switch (kind) {
    case OP_LIBC_FREE:
        __libc_free(p);
        break;
    case OP_FREE_SIZED:
    case OP_FREE_ALIGNED_SIZED:
        /* C23: free_aligned_sized for aligned_alloc's blocks, free_sized for the rest. */
        if (align != 0 && from == OP_ALIGNED_ALLOC)
            free_aligned_sized(p, align, req);
        else if (align == 0)
            free_sized(p, req);
        else
            free(p);
        break;
    case OP_DALLOCX:
        dallocx(p, tcache_flags(t, aux));
        break;
    case OP_SDALLOCX: {
        /* Any size from the request to the usable size is allowed. */
        size_t sz = req + (aux >> 4) % (usize - req + 1);
        sdallocx(p, sz, align_flags(align) | tcache_flags(t, aux));
        break;
    }
    default:
        free(p);
        break;
    }
}

/* After a resize from old_us that kept the first keep bytes: the pattern for the rest, or for
 * all of it when the block went from the sparse pattern to the dense one. */
static void resize_fill(const fuzz_rec_t *rec, size_t old_us, size_t keep) {
    if (pattern_dense(rec->usize) && !pattern_dense(old_us))
        keep = 0;
    pattern_fill(rec, keep, rec->usize);
}

/*
 * A resize by op (realloc, rallocx, xallocx) took rec from usable size old_us to us: what it
 * kept must be intact, growth must be zero where zero (MALLOCX_ZERO) or zero:true asks for it,
 * then the model's pattern covers the new size.
 */
static void resize_settle(fuzz_rec_t *rec, size_t old_us, size_t us, bool zero, const char *op) {
    char what[64];
    rec->usize = us;
    size_t keep = old_us < us ? old_us : us;
    snprintf(what, sizeof(what), "contents after %s", op);
    pattern_verify_kept(rec, old_us, keep, what);
    if (us > old_us && (zero || fuzz_conf.opt_zero)) {
        snprintf(what, sizeof(what), "%s %s growth", op,
                 zero ? "MALLOCX_ZERO" : "with zero:true");
        zero_verify(rec, old_us, us, what);
    }
    resize_fill(rec, old_us, keep);
}

/* ---- the operations ------------------------------------------------------------------------ */

static void op_alloc(fuzz_thread_t *t, const fuzz_op_t *op) {
    unsigned s = op->slot;
    if (t->slots[s] >= 0)
        free_slot(t, s, OP_FREE, 0);
    size_t size = clamp_size(op->size);
    size_t req = size, align = 0;
    bool zero = false, explicit_tc = false;
    unsigned arena = 0;
    void *p = NULL;
    int rc;
    errno = 0;
    switch (op->kind) {
    case OP_MALLOC:
        p = malloc(size);
        break;
    case OP_LIBC_MALLOC:
        p = __libc_malloc(size);
        break;
    case OP_CALLOC:
    case OP_LIBC_CALLOC: {
        size_t n = 1 + op->aux % 8;
        req = n * (size / n);
        p = op->kind == OP_CALLOC ? calloc(n, size / n) : __libc_calloc(n, size / n);
        zero = true;
        break;
    }
    case OP_POSIX_MEMALIGN:
    case OP_LIBC_POSIX_MEMALIGN:
        align = op->align < sizeof(void *) ? sizeof(void *) : op->align;
        rc = op->kind == OP_POSIX_MEMALIGN ? posix_memalign(&p, align, size)
                                           : __posix_memalign(&p, align, size);
        CHECK(rc == 0, "posix_memalign(%zu, %zu) returned %d", align, size, rc);
        break;
    case OP_ALIGNED_ALLOC:
        align = op->align;
        p = aligned_alloc(align, size);
        break;
    case OP_MEMALIGN:
    case OP_LIBC_MEMALIGN:
        p = op->kind == OP_MEMALIGN ? memalign(op->align, size) : __libc_memalign(op->align, size);
        align = pow2_ceil(op->align);
        break;
    case OP_VALLOC:
    case OP_LIBC_VALLOC:
        p = op->kind == OP_VALLOC ? valloc(size) : __libc_valloc(size);
        align = fuzz_conf.page;
        break;
    case OP_PVALLOC:
    case OP_LIBC_PVALLOC:
        p = op->kind == OP_PVALLOC ? pvalloc(size) : __libc_pvalloc(size);
        align = fuzz_conf.page;
        req = (size == 0 ? 1 : size + fuzz_conf.page - 1) / fuzz_conf.page * fuzz_conf.page;
        if (size == 0)
            req = fuzz_conf.page;
        break;
    case OP_MALLOCX: {
        if (size == 0)
            size = req = 1; /* mallocx(0) is undefined */
        int tf = tcache_flags(t, op->aux);
        explicit_tc = tf != 0 && tf != MALLOCX_TCACHE_NONE;
        int flags = op->flags | tf | arena_flags(op->aux >> 3, &arena);
        p = mallocx(size, flags);
        unsigned lg = (unsigned)op->flags & 0x3f;
        align = lg == 0 ? 0 : (size_t)1 << lg;
        zero = (flags & MALLOCX_ZERO) != 0;
        break;
    }
    default:
        return;
    }
    /* Alignments up to 16 are every block's; the model keeps only the larger ones. */
    if (align <= 16)
        align = 0;
    t->slots[s] =
        accept_block(p, req, align, arena, explicit_tc, zero, op->kind, op_name(op->kind));
}

/* realloc, reallocarray and __libc_realloc; on an empty slot they allocate. */
static void op_realloc(fuzz_thread_t *t, const fuzz_op_t *op) {
    unsigned s = op->slot;
    int32_t r = t->slots[s];
    fuzz_rec_t *rec = r >= 0 ? model_rec(r) : NULL;
    size_t size = resize_size(op, rec);
    void *old = rec != NULL ? (void *)rec->addr : NULL;
    size_t old_us = rec != NULL ? rec->usize : 0;
    if (rec != NULL) {
        pattern_verify(rec, 0, old_us, "contents before realloc");
        model_unlink(r);
    }
    void *p;
    errno = 0;
    if (op->kind == OP_REALLOCARRAY) {
        size_t n = 1 + op->aux % 4;
        size = n * (size / n);
        p = reallocarray(old, n, size / n);
    } else if (op->kind == OP_LIBC_REALLOC) {
        p = __libc_realloc(old, size);
    } else {
        p = realloc(old, size);
    }
    if (rec == NULL) {
        t->slots[s] = accept_block(p, size, 0, 0, false, false, op->kind, op_name(op->kind));
        return;
    }
    if (size == 0 && fuzz_conf.zero_realloc_free) {
        CHECK(p == NULL, "%s(%p, 0) returned %p, expected NULL (the block freed)",
              op_name(op->kind), old, p);
        model_release(r);
        t->slots[s] = -1;
        return;
    }
    CHECK(p != NULL, "%s(%p, %zu) returned NULL (errno %d)", op_name(op->kind), old, size, errno);
    CHECK(((uintptr_t)p & 15) == 0, "%s(%p, %zu) returned %p, not 16-byte aligned",
          op_name(op->kind), old, size, p);
    size_t us = malloc_usable_size(p);
    CHECK(us == sallocx(p, 0), "%s: malloc_usable_size and sallocx of %p differ", op_name(op->kind),
          p);
    CHECK(us >= size, "%s(%p, %zu) = %p: usable size %zu below the request", op_name(op->kind), old,
          size, p, us);
    CHECK(us == nallocx(size == 0 ? 1 : size, 0), "%s(%p, %zu) = %p: usable size %zu, nallocx %zu",
          op_name(op->kind), old, size, p, us, nallocx(size == 0 ? 1 : size, 0));
    rec->addr = (uintptr_t)p;
    resize_settle(rec, old_us, us, false, "realloc");
    rec->req = size;
    rec->align = 0;
    rec->from = op->kind;
    model_relink(r, p, us);
}

static void op_rallocx(fuzz_thread_t *t, const fuzz_op_t *op) {
    unsigned s = op->slot;
    int32_t r = t->slots[s];
    if (r < 0)
        return;
    fuzz_rec_t *rec = model_rec(r);
    size_t size = resize_size(op, rec);
    if (size == 0)
        size = 1;
    void *old = (void *)rec->addr;
    size_t old_us = rec->usize;
    int tf = tcache_flags(t, op->aux);
    bool explicit_tc = tf != 0 && tf != MALLOCX_TCACHE_NONE;
    unsigned arena;
    int flags = op->flags | tf | arena_flags(op->aux >> 3, &arena);
    unsigned lg = (unsigned)op->flags & 0x3f;
    size_t align = lg == 0 || lg <= 4 ? 0 : (size_t)1 << lg;
    bool zero = (flags & MALLOCX_ZERO) != 0;
    pattern_verify(rec, 0, old_us, "contents before rallocx");
    model_unlink(r);
    void *p = rallocx(old, size, flags);
    CHECK(p != NULL, "rallocx(%p, %zu, %#x) returned NULL", old, size, (unsigned)flags);
    CHECK(((uintptr_t)p & 15) == 0 && (align == 0 || ((uintptr_t)p & (align - 1)) == 0),
          "rallocx(%p, %zu, %#x) returned %p, misaligned", old, size, (unsigned)flags, p);
    size_t us = sallocx(p, 0);
    CHECK(us == malloc_usable_size(p), "rallocx: malloc_usable_size and sallocx of %p differ", p);
    CHECK(us >= size, "rallocx(%p, %zu) = %p: usable size %zu below the request", old, size, p, us);
    size_t na = nallocx(size, align_flags(align));
    CHECK(us == na, "rallocx(%p, %zu, %#x) = %p: usable size %zu, nallocx %zu", old, size,
          (unsigned)flags, p, us, na);
    if (arena != 0 && !explicit_tc) {
        unsigned got = arena_of(p);
        CHECK(got == arena - 1, "rallocx(%p, %zu) with MALLOCX_ARENA(%u) = %p: in arena %u", old,
              size, arena - 1, p, got);
    }
    rec->addr = (uintptr_t)p;
    resize_settle(rec, old_us, us, zero, "rallocx");
    rec->req = size;
    rec->align = align;
    rec->from = OP_RALLOCX;
    model_relink(r, p, us);
}

static void op_xallocx(fuzz_thread_t *t, const fuzz_op_t *op) {
    int32_t r = t->slots[op->slot];
    if (r < 0)
        return;
    fuzz_rec_t *rec = model_rec(r);
    size_t size = resize_size(op, rec);
    if (size == 0)
        size = 1;
    size_t extra = clamp_size(op->extra);
    void *p = (void *)rec->addr;
    size_t old_us = rec->usize;
    bool zero = (op->flags & MALLOCX_ZERO) != 0;
    pattern_verify(rec, 0, old_us, "contents before xallocx");
    model_unlink(r);
    size_t got = xallocx(p, size, extra, op->flags);
    size_t sx = sallocx(p, 0);
    CHECK(got == sx, "xallocx(%p, %zu, %zu, %#x) returned %zu but sallocx says %zu", p, size, extra,
          (unsigned)op->flags, got, sx);
    CHECK(got == malloc_usable_size(p), "xallocx: malloc_usable_size and sallocx of %p differ", p);
    if (got != old_us) {
        CHECK(got >= size, "xallocx(%p, %zu, %zu) resized from %zu to %zu, below the request", p,
              size, extra, old_us, got);
        CHECK(got <= nallocx(size + extra, 0),
              "xallocx(%p, %zu, %zu) resized from %zu to %zu, "
              "past size + extra",
              p, size, extra, old_us, got);
    }
    resize_settle(rec, old_us, got, zero, "xallocx");
    if (got != old_us) {
        /* A sized free must name the class xallocx resized to; its real size always does. */
        rec->req = got;
        rec->from = OP_XALLOCX;
    }
    model_relink(r, p, got);
}

/*
 * experimental.utilization.query on a live block of usable size us: a block of its own (0 free of
 * 1, no bin), or a slab with a region in use (a slab of the classes of a few pages may hold only
 * one), of at least its regions' size, counted in its bin's totals.
 */
static void check_utilization(void *p, size_t us) {
    struct {
        size_t nfree, nregs, size, bin_nfree, bin_nregs;
        void *slabcur_addr;
    } u;
    size_t len = sizeof(u);
    const void *q = p;
    CHECK(mallctl("experimental.utilization.query", &u, &len, &q, sizeof(q)) == 0 &&
              len == sizeof(u),
          "experimental.utilization.query(%p) failed", p);
    if (u.bin_nregs == 0) {
        CHECK(u.nfree == 0 && u.nregs == 1 && u.size >= us && u.bin_nfree == 0 &&
                  u.slabcur_addr == NULL,
              "utilization of block %p (usable %zu): %zu free of 1, size %zu, bin %zu of %zu", p,
              us, u.nfree, u.size, u.bin_nfree, u.bin_nregs);
        return;
    }
    CHECK(u.nregs >= 1 && u.nfree < u.nregs && u.size >= u.nregs * us &&
              u.bin_nregs >= u.nregs && u.bin_nregs % u.nregs == 0 && u.bin_nfree >= u.nfree &&
              u.bin_nfree < u.bin_nregs,
          "utilization of block %p (usable %zu): %zu free of %zu, size %zu, bin %zu free of %zu",
          p, us, u.nfree, u.nregs, u.size, u.bin_nfree, u.bin_nregs);
}

static void op_check(fuzz_thread_t *t, const fuzz_op_t *op) {
    int32_t r = t->slots[op->slot];
    if (r < 0)
        return;
    fuzz_rec_t *rec = model_rec(r);
    void *p = (void *)rec->addr;
    pattern_verify(rec, 0, rec->usize, "contents read back");
    size_t us = malloc_usable_size(p), sx = sallocx(p, 0);
    CHECK(us == rec->usize && sx == rec->usize,
          "block %p (%s, req %zu): usable size %zu, sallocx %zu, model %zu", p, op_name(rec->from),
          rec->req, us, sx, rec->usize);
    if (rec->from != OP_XALLOCX) {
        size_t na = nallocx(rec->req == 0 ? 1 : rec->req, align_flags(rec->align));
        CHECK(na == us, "block %p (%s, req %zu, align %zu): usable size %zu, nallocx %zu", p,
              op_name(rec->from), rec->req, rec->align, us, na);
    }
    /* arenas.lookup answers for every live block (which arena is checked where a block is
     * placed in an explicit one). */
    if (op->aux & 1)
        (void)arena_of(p);
    if (op->aux & 2)
        check_utilization(p, us);
}

static void op_handoff(fuzz_thread_t *t, const fuzz_op_t *op) {
    int32_t r = t->slots[op->slot];
    if (r < 0)
        return;
    pthread_mutex_lock(&queue_lock);
    if (queue_len < FUZZ_QUEUE) {
        queue[(queue_head + queue_len) % FUZZ_QUEUE] = r;
        queue_len++;
        t->slots[op->slot] = -1;
    }
    pthread_mutex_unlock(&queue_lock);
}

static void op_take(fuzz_thread_t *t, const fuzz_op_t *op) {
    unsigned s = op->slot;
    pthread_mutex_lock(&queue_lock);
    int32_t r = -1;
    if (queue_len != 0) {
        r = queue[queue_head];
        queue_head = (queue_head + 1) % FUZZ_QUEUE;
        queue_len--;
    }
    pthread_mutex_unlock(&queue_lock);
    if (r < 0)
        return;
    if (t->slots[s] >= 0)
        free_slot(t, s, OP_FREE, 0);
    t->slots[s] = r;
    fuzz_rec_t *rec = model_rec(r);
    pattern_verify(rec, 0, rec->usize < 4096 ? rec->usize : 4096,
                   "contents passed between threads");
}

static void op_impossible(fuzz_thread_t *t, const fuzz_op_t *op) {
    int32_t r = t->slots[op->slot];
    fuzz_rec_t *rec = r >= 0 ? model_rec(r) : NULL;
    void *old = rec != NULL ? (void *)rec->addr : NULL;
    size_t too_big = launder((size_t)PTRDIFF_MAX + 1 + (op->aux & 0xfff));
    void *p = (void *)1;
    int rc;
    errno = 0;
    switch (op->variant % 12) {
    case 0:
        p = malloc(too_big);
        CHECK(p == NULL && errno == ENOMEM, "malloc(%zu) = %p, errno %d", too_big, p, errno);
        break;
    case 1:
        p = calloc(launder(SIZE_MAX / 2 + 1), 2 + (op->aux & 7));
        CHECK(p == NULL && errno == ENOMEM, "calloc overflowing = %p, errno %d", p, errno);
        break;
    case 2:
        p = mallocx(too_big, op->flags);
        CHECK(p == NULL, "mallocx(%zu) = %p", too_big, p);
        CHECK(nallocx(too_big, 0) == 0, "nallocx(%zu) = %zu", too_big, nallocx(too_big, 0));
        break;
    case 3:
        rc = posix_memalign(&p, launder(24), 8);
        CHECK(rc == EINVAL && p == (void *)1, "posix_memalign(24) = %d, %p", rc, p);
        rc = posix_memalign(&p, 64, launder(SIZE_MAX - 100));
        CHECK(rc == ENOMEM && p == (void *)1, "posix_memalign(64, SIZE_MAX - 100) = %d, %p", rc, p);
        break;
    case 4:
        p = aligned_alloc(launder(24), 8);
        CHECK(p == NULL && errno == EINVAL, "aligned_alloc(24, 8) = %p, errno %d", p, errno);
        break;
    case 5:
        p = pvalloc(launder(SIZE_MAX - 10));
        CHECK(p == NULL && errno == ENOMEM, "pvalloc(SIZE_MAX - 10) = %p, errno %d", p, errno);
        break;
    case 6:
        p = memalign(launder(SIZE_MAX / 2 + 2), 1);
        CHECK(p == NULL && errno == EINVAL, "memalign(SIZE_MAX / 2 + 2) = %p, errno %d", p, errno);
        break;
    case 7:
        if (old == NULL)
            break;
        p = realloc(old, too_big);
        CHECK(p == NULL && errno == ENOMEM, "realloc(%p, %zu) = %p, errno %d", old, too_big, p,
              errno);
        break;
    case 8:
        if (old == NULL)
            break;
        p = reallocarray(old, launder(SIZE_MAX / 2), 3);
        CHECK(p == NULL && errno == ENOMEM, "reallocarray overflowing = %p, errno %d", p, errno);
        break;
    case 9:
        if (old == NULL)
            break;
        p = rallocx(old, too_big, 0);
        CHECK(p == NULL, "rallocx(%p, %zu) = %p", old, too_big, p);
        break;
    case 11:
        /* NULL is no block: freeing it does nothing, and it has no usable size. */
        free(NULL);
        free_sized(NULL, 0);
        free_aligned_sized(NULL, 64, 0);
        CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu",
              malloc_usable_size(NULL));
        break;
    case 10:
        if (old == NULL)
            break;
        {
            size_t got = xallocx(old, too_big, 0, 0);
            CHECK(got == rec->usize, "xallocx(%p, %zu) = %zu, usable size was %zu", old, too_big,
                  got, rec->usize);
        }
        break;
    }
    if (rec != NULL) {
        CHECK(malloc_usable_size(old) == rec->usize, "a failed request changed %p's size", old);
        pattern_verify(rec, 0, rec->usize, "contents after a failed request");
    }
}

/* Runtime controls that change which paths later operations take. */
static void op_ctl(const fuzz_op_t *op) {
    static const ssize_t decay_ms[] = {-1, 0, 1, 10, 1000, 10000};
    char name[64];
    size_t sz;
    switch (op->variant % 5) {
    case 0: {
        bool on = (op->aux & 1) != 0, old;
        sz = sizeof(old);
        CHECK(mallctl("thread.tcache.enabled", &old, &sz, &on, sizeof(on)) == 0,
              "thread.tcache.enabled failed");
        break;
    }
    case 1: {
        /* Automatic arenas only: a thread bound to an explicit one would keep it from being
         * destroyed. */
        unsigned a = op->aux % fuzz_conf.narenas, got;
        sz = sizeof(got);
        CHECK(mallctl("thread.arena", NULL, NULL, &a, sizeof(a)) == 0, "thread.arena = %u failed",
              a);
        CHECK(mallctl("thread.arena", &got, &sz, NULL, 0) == 0 && got == a,
              "thread.arena reads %u after setting %u", got, a);
        break;
    }
    case 2: {
        unsigned a = op->aux & 1 ? fuzz_conf.arenas[(op->aux >> 1) % FUZZ_ARENAS]
                                 : (op->aux >> 1) % fuzz_conf.narenas;
        ssize_t ms = decay_ms[(op->aux >> 8) % (sizeof(decay_ms) / sizeof(decay_ms[0]))];
        /* Automatic arenas are made when a thread first needs them; until then there is no
         * decay time to set (EFAULT, as in jemalloc). */
        bool init = false;
        sz = sizeof(init);
        snprintf(name, sizeof(name), "arena.%u.initialized", a);
        CHECK(mallctl(name, &init, &sz, NULL, 0) == 0, "mallctl %s failed", name);
        if (!init)
            break;
        snprintf(name, sizeof(name), "arena.%u.%s_decay_ms", a, op->aux & 0x80 ? "muzzy" : "dirty");
        CHECK(mallctl(name, NULL, NULL, &ms, sizeof(ms)) == 0, "mallctl %s = %zd failed", name, ms);
        ssize_t back;
        sz = sizeof(back);
        CHECK(mallctl(name, &back, &sz, NULL, 0) == 0, "mallctl %s (read) failed", name);
        /* Other threads set the same arenas' decay times (every one of them under narenas:1):
         * between the write and the read, one of theirs may land. */
        bool known = back == ms;
        for (size_t i = 0; fuzz_conf.nthreads > 1 && i < sizeof(decay_ms) / sizeof(decay_ms[0]); i++)
            known = known || back == decay_ms[i];
        CHECK(known, "%s reads %zd after %zd", name, back, ms);
        break;
    }
    case 3:
        CHECK(mallctl("thread.idle", NULL, NULL, NULL, 0) == 0, "thread.idle failed");
        break;
    default: {
        uint64_t epoch = 1;
        sz = sizeof(epoch);
        CHECK(mallctl("epoch", &epoch, &sz, &epoch, sizeof(epoch)) == 0, "epoch failed");
        size_t allocated;
        sz = sizeof(allocated);
        CHECK(mallctl("stats.allocated", &allocated, &sz, NULL, 0) == 0, "stats.allocated failed");
        if (fuzz_conf.nthreads == 1) {
            size_t live = model_live_bytes();
            CHECK(allocated >= live, "stats.allocated %zu below the %zu bytes live", allocated,
                  live);
        }
        break;
    }
    }
}

static void op_misc(fuzz_thread_t *t, const fuzz_op_t *op) {
    char name[64];
    unsigned a;
    switch (op->kind) {
    case OP_TRIM: {
        int rc = malloc_trim(op->aux & 1 ? 0 : op->size);
        CHECK(rc == 0 || rc == 1, "malloc_trim returned %d", rc);
        break;
    }
    case OP_MALLINFO: {
        struct mallinfo2 mi = mallinfo2();
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        struct mallinfo m1 = mallinfo(); /* glibc deprecates it; programs still call it */
#pragma GCC diagnostic pop
        CHECK(m1.uordblks >= 0 && m1.hblkhd >= 0, "mallinfo: negative counts");
        CHECK(mi.fordblks <= mi.arena, "mallinfo2: fordblks %zu above arena %zu (uordblks %zu)",
              mi.fordblks, mi.arena, mi.uordblks);
        if (fuzz_conf.nthreads == 1) {
            /* One thread: nothing else allocates while the model's blocks are counted. */
            size_t live = model_live_bytes();
            CHECK(mi.uordblks >= live, "mallinfo2: uordblks %zu below the %zu bytes live",
                  mi.uordblks, live);
            uint64_t in_use = thread_in_use() - t->in_use_base;
            CHECK(in_use == live,
                  "thread.allocated - thread.deallocated grew by %" PRIu64
                  " since the start, but the blocks live are %zu bytes",
                  in_use, live);
        }
        break;
    }
    case OP_FLUSH:
        if ((op->aux & 6) == 0 && t->tcache != UINT32_MAX) {
            /* Replace the explicit cache: destroy flushes what it holds. */
            unsigned tc = t->tcache, fresh;
            size_t sz = sizeof(fresh);
            CHECK(mallctl("tcaches.destroy", NULL, NULL, &tc, sizeof(tc)) == 0,
                  "tcaches.destroy(%u) failed", tc);
            t->tcache = mallctl("tcaches.create", &fresh, &sz, NULL, 0) == 0 ? fresh : UINT32_MAX;
        } else if (op->aux & 1 && t->tcache != UINT32_MAX) {
            unsigned tc = t->tcache;
            CHECK(mallctl("tcaches.flush", NULL, NULL, &tc, sizeof(tc)) == 0,
                  "tcaches.flush(%u) failed", tc);
        } else {
            CHECK(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0,
                  "thread.tcache.flush failed");
        }
        break;
    case OP_PURGE:
        switch (op->aux % 4) {
        case 0:
            a = MALLCTL_ARENAS_ALL;
            break;
        case 1:
            a = fuzz_conf.arenas[(op->aux >> 2) % FUZZ_ARENAS];
            break;
        default:
            a = (op->aux >> 2) % fuzz_conf.narenas;
            break;
        }
        snprintf(name, sizeof(name), "arena.%u.%s", a, op->variant & 1 ? "purge" : "decay");
        CHECK(mallctl(name, NULL, NULL, NULL, 0) == 0, "mallctl %s failed", name);
        break;
    case OP_MALLOPT: {
        static const int knobs[] = {M_MXFAST,   M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD,
                                    M_MMAP_MAX, M_CHECK_ACTION,   M_PERTURB, M_ARENA_TEST};
        if (op->variant & 1) {
            int v = 1 + (int)(op->aux % (fuzz_conf.narenas + 2));
            CHECK(mallopt(M_ARENA_MAX, v) == 1, "mallopt(M_ARENA_MAX, %d) failed", v);
        } else {
            int k = knobs[op->aux % (sizeof(knobs) / sizeof(knobs[0]))];
            CHECK(mallopt(k, (int)(op->aux >> 4)) == 1, "mallopt(%d) failed", k);
        }
        break;
    }
    case OP_CTL:
        op_ctl(op);
        break;
    case OP_MALLOC_INFO: {
        FILE *f = fopen("/dev/null", "w");
        if (f == NULL)
            break;
        int rc = malloc_info(op->variant & 1, f);
        fclose(f);
        CHECK(rc == ((op->variant & 1) ? EINVAL : 0), "malloc_info(%d) returned %d",
              op->variant & 1, rc);
        break;
    }
    default:
        break;
    }
}

/*
 * Discard an explicit arena's blocks with arena.<i>.reset, or destroy the arena and create
 * another in its place. As jemalloc asks, the caches that may hold its blocks are flushed first;
 * the model drops the blocks that arenas.lookup places in the arena (checking their contents).
 * Only with one thread: the explicit arenas are shared, and other threads' caches could hold
 * their blocks. Not under libFuzzer either: a block of the arena freed into the thread's cache
 * may since have gone to libFuzzer itself, which the reset would then discard.
 */
static void op_arena_reset(fuzz_thread_t *t, const fuzz_op_t *op) {
    if (fuzz_conf.nthreads != 1 || fuzz_conf.foreign_blocks)
        return;
    unsigned k = op->aux % FUZZ_ARENAS;
    unsigned a = fuzz_conf.arenas[k];
    CHECK(mallctl("thread.tcache.flush", NULL, NULL, NULL, 0) == 0, "thread.tcache.flush failed");
    if (t->tcache != UINT32_MAX) {
        unsigned tc = t->tcache;
        CHECK(mallctl("tcaches.flush", NULL, NULL, &tc, sizeof(tc)) == 0, "tcaches.flush failed");
    }
    uint64_t dropped = 0;
    for (unsigned s = 0; s < FUZZ_SLOTS; s++) {
        int32_t r = t->slots[s];
        if (r < 0)
            continue;
        fuzz_rec_t *rec = model_rec(r);
        if (arena_of((void *)rec->addr) != a)
            continue;
        pattern_verify(rec, 0, rec->usize, "contents before an arena reset");
        dropped += rec->usize;
        model_unlink(r);
        model_release(r);
        t->slots[s] = -1;
    }
    pthread_mutex_lock(&queue_lock);
    unsigned kept = 0;
    for (unsigned i = 0; i < queue_len; i++) {
        int32_t r = queue[(queue_head + i) % FUZZ_QUEUE];
        fuzz_rec_t *rec = model_rec(r);
        if (arena_of((void *)rec->addr) == a) {
            pattern_verify(rec, 0, rec->usize, "contents before an arena reset");
            dropped += rec->usize;
            model_unlink(r);
            model_release(r);
        } else {
            queue[(queue_head + kept++) % FUZZ_QUEUE] = r;
        }
    }
    queue_len = kept;
    pthread_mutex_unlock(&queue_lock);
    t->in_use_base += dropped;
    char name[64];
    if (op->variant & 1) {
        snprintf(name, sizeof(name), "arena.%u.destroy", a);
        CHECK(mallctl(name, NULL, NULL, NULL, 0) == 0, "mallctl %s failed", name);
        unsigned n;
        size_t sz = sizeof(n);
        CHECK(mallctl("arenas.create", &n, &sz, NULL, 0) == 0, "arenas.create failed");
        fuzz_conf.arenas[k] = n;
    } else {
        snprintf(name, sizeof(name), "arena.%u.reset", a);
        CHECK(mallctl(name, NULL, NULL, NULL, 0) == 0, "mallctl %s failed", name);
    }
}

void fuzz_step(fuzz_thread_t *t, const fuzz_op_t *op) {
    fuzz_log_t *l = &t->log[t->nops % FUZZ_LOG];
    int32_t r = t->slots[op->slot];
    l->n = t->nops;
    l->op = *op;
    l->in = r >= 0 ? model_rec(r)->addr : 0;
    l->out = 0;
    switch (op->kind) {
    case OP_MALLOC:
    case OP_CALLOC:
    case OP_POSIX_MEMALIGN:
    case OP_ALIGNED_ALLOC:
    case OP_MEMALIGN:
    case OP_VALLOC:
    case OP_PVALLOC:
    case OP_LIBC_MALLOC:
    case OP_LIBC_CALLOC:
    case OP_LIBC_MEMALIGN:
    case OP_LIBC_VALLOC:
    case OP_LIBC_PVALLOC:
    case OP_LIBC_POSIX_MEMALIGN:
    case OP_MALLOCX:
        op_alloc(t, op);
        break;
    case OP_REALLOC:
    case OP_REALLOCARRAY:
    case OP_LIBC_REALLOC:
        op_realloc(t, op);
        break;
    case OP_RALLOCX:
        op_rallocx(t, op);
        break;
    case OP_XALLOCX:
        op_xallocx(t, op);
        break;
    case OP_FREE:
    case OP_LIBC_FREE:
    case OP_FREE_SIZED:
    case OP_FREE_ALIGNED_SIZED:
    case OP_DALLOCX:
    case OP_SDALLOCX:
        if (r >= 0)
            free_slot(t, op->slot, op->kind, op->aux);
        break;
    case OP_CHECK:
        op_check(t, op);
        break;
    case OP_HANDOFF:
        op_handoff(t, op);
        break;
    case OP_TAKE:
        op_take(t, op);
        break;
    case OP_IMPOSSIBLE:
        op_impossible(t, op);
        break;
    case OP_ARENA_RESET:
        op_arena_reset(t, op);
        break;
    default:
        op_misc(t, op);
        break;
    }
    r = t->slots[op->slot];
    l->out = r >= 0 ? model_rec(r)->addr : 0;
    t->nops++;
}

void fuzz_thread_finish(fuzz_thread_t *t) {
    for (unsigned s = 0; s < FUZZ_SLOTS; s++)
        if (t->slots[s] >= 0)
            free_slot(t, s, OP_FREE, 0);
    if (t->tcache != UINT32_MAX) {
        unsigned tc = t->tcache;
        CHECK(mallctl("tcaches.destroy", NULL, NULL, &tc, sizeof(tc)) == 0,
              "tcaches.destroy(%u) failed", tc);
        t->tcache = UINT32_MAX;
    }
}

void fuzz_queue_drain(fuzz_thread_t *t) {
    fuzz_op_t op = {.kind = OP_TAKE, .slot = 0};
    for (;;) {
        pthread_mutex_lock(&queue_lock);
        unsigned n = queue_len;
        pthread_mutex_unlock(&queue_lock);
        if (n == 0)
            break;
        op_take(t, &op);
        free_slot(t, 0, OP_FREE, 0);
    }
}
