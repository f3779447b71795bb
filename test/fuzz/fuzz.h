/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The allocation fuzzer's shared declarations: the operation source and decoder, the shadow
 * model of live blocks, and the per-thread executor.
 *
 * One operation is a kind (which entry point), a slot (which of the thread's blocks), a size
 * and flags. The decoder reads them from a source, which is either a seeded PRNG (the driver,
 * test/fuzz/main.c) or a byte string (the libFuzzer entry, test/fuzz/libfuzzer.c), so both
 * explore the same operations. The executor runs one operation against the allocator and checks
 * the result against the model (test/fuzz/model.c), which keeps every live block's range, request
 * and contents pattern. A failed check prints what failed, every thread's last operations and the
 * seed, and exits with status 1.
 */
#ifndef FUZZ_H
#define FUZZ_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FUZZ_MAX_THREADS 16
#define FUZZ_SLOTS 256 /* blocks a thread holds at most */
#define FUZZ_QUEUE 512 /* blocks in transit between threads */
#define FUZZ_LOG 48    /* operations remembered per thread, printed on failure */
#define FUZZ_ARENAS 2  /* arenas made with "arenas.create" */

/* ---- the source of operations ------------------------------------------------------------ */

typedef struct fuzz_src_s {
    uint64_t state;      /* PRNG state (splitmix64) when data is NULL */
    const uint8_t *data; /* a byte string, or NULL */
    size_t len, pos;
    bool done; /* the byte string ran out */
} fuzz_src_t;

void src_init_seed(fuzz_src_t *src, uint64_t seed);
void src_init_bytes(fuzz_src_t *src, const uint8_t *data, size_t len);
/* The next n bits (1..64), from the PRNG or the next bytes (zeros once they ran out). */
uint64_t src_bits(fuzz_src_t *src, unsigned n);

/* ---- operations ---------------------------------------------------------------------------- */

typedef enum {
    /* allocate into a slot (an occupant is freed first) */
    OP_MALLOC,
    OP_CALLOC,
    OP_POSIX_MEMALIGN,
    OP_ALIGNED_ALLOC,
    OP_MEMALIGN,
    OP_VALLOC,
    OP_PVALLOC,
    OP_LIBC_MALLOC,
    OP_LIBC_CALLOC,
    OP_LIBC_MEMALIGN,
    OP_LIBC_VALLOC,
    OP_LIBC_PVALLOC,
    OP_LIBC_POSIX_MEMALIGN,
    OP_MALLOCX,
    /* resize a slot's block */
    OP_REALLOC,
    OP_REALLOCARRAY,
    OP_LIBC_REALLOC,
    OP_RALLOCX,
    OP_XALLOCX,
    /* free a slot's block */
    OP_FREE,
    OP_LIBC_FREE,
    OP_FREE_SIZED,
    OP_FREE_ALIGNED_SIZED,
    OP_DALLOCX,
    OP_SDALLOCX,
    /* the rest */
    OP_CHECK,       /* read a block back in full; usable size, sallocx, nallocx */
    OP_HANDOFF,     /* pass a block to the shared queue, for another thread */
    OP_TAKE,        /* take a block from the queue into a slot */
    OP_IMPOSSIBLE,  /* a request that must fail with ENOMEM or EINVAL and change nothing */
    OP_TRIM,        /* malloc_trim */
    OP_MALLINFO,    /* mallinfo, mallinfo2 */
    OP_FLUSH,       /* thread.tcache.flush, tcaches.flush */
    OP_PURGE,       /* arena.<i>.purge or arena.<i>.decay */
    OP_MALLOPT,     /* mallopt: M_ARENA_MAX, or a glibc knob that has no effect */
    OP_MALLOC_INFO, /* malloc_info to /dev/null */
    OP_ARENA_RESET, /* arena.<i>.reset or .destroy of an explicit arena (one thread only) */
    OP_CTL,         /* thread.tcache.enabled, thread.arena, decay times, thread.idle, stats */
    OP_NKINDS
} op_kind_t;

typedef struct fuzz_op_s {
    uint8_t kind;    /* op_kind_t */
    uint8_t variant; /* a choice within the kind (which flags, which failing request, ...) */
    uint16_t slot;
    uint32_t aux; /* calloc's element count, an arena index, a tcache choice, ... */
    size_t size;
    size_t extra; /* xallocx's extra */
    size_t align; /* the aligned family's alignment (memalign's may not be a power of two) */
    int flags;    /* mallocx family flags, before the executor adds the tcache and arena */
} fuzz_op_t;

const char *op_name(unsigned kind);
/* Decode one operation; the size is unclamped (the executor bounds live memory). */
void op_decode(fuzz_src_t *src, fuzz_op_t *op);

/* ---- the shadow model ---------------------------------------------------------------------- */

/* One live block. The owner thread alone touches a record it holds in a slot; the address range
 * and the tree links change only under the model lock. */
typedef struct fuzz_rec_s {
    uintptr_t addr;
    size_t usize; /* usable size: the range the block owns */
    size_t req;   /* what was asked for */
    size_t align; /* alignment asked for (0: natural) */
    uint64_t id;  /* the contents pattern's key */
    uint8_t from; /* op_kind_t that made it */
    /* treap links (model lock) */
    int32_t left, right;
    uint32_t prio;
    int32_t next_free;
} fuzz_rec_t;

void model_init(unsigned nrecs);
fuzz_rec_t *model_rec(int32_t r);
/* A new record for a block just returned; checks it against every live range. */
int32_t model_add(void *ptr, size_t usize, size_t req, size_t align, unsigned from);
/* Take a record's range out of the ordered set (before the block is freed or resized). */
void model_unlink(int32_t r);
/* Put it back with a new range (after a resize), checking for overlap. */
void model_relink(int32_t r, void *ptr, size_t usize);
void model_release(int32_t r);
size_t model_live_bytes(void);
size_t model_live_blocks(void);

/*
 * The contents pattern: byte o of block id is a function of (id, o). Blocks up to 256 KiB hold
 * it in every byte; larger ones in the first 64 bytes of every 4 KiB and their last 64 bytes.
 * pattern_verify_kept checks what a resize from old_usize to rec->usize must have carried over.
 */
bool pattern_dense(size_t usize);
void pattern_fill(const fuzz_rec_t *rec, size_t from, size_t to);
void pattern_verify(const fuzz_rec_t *rec, size_t from, size_t to, const char *when);
void pattern_verify_kept(const fuzz_rec_t *rec, size_t old_usize, size_t keep, const char *when);
void zero_verify(const fuzz_rec_t *rec, size_t from, size_t to, const char *when);
void byte_verify(const fuzz_rec_t *rec, size_t from, size_t to, uint8_t byte, const char *when);

/* ---- the executor -------------------------------------------------------------------------- */

typedef struct fuzz_log_s {
    uint64_t n;
    fuzz_op_t op;
    uintptr_t in, out;
} fuzz_log_t;

typedef struct fuzz_thread_s {
    unsigned tid;
    fuzz_src_t src;
    int32_t slots[FUZZ_SLOTS];
    uint64_t nops;
    unsigned tcache;      /* explicit cache from tcaches.create, or UINT32_MAX */
    uint64_t in_use_base; /* thread.allocated - thread.deallocated at the start, plus the
                             bytes arena resets discarded (no deallocation counts them) */
    fuzz_log_t log[FUZZ_LOG];
} fuzz_thread_t;

typedef struct fuzz_conf_s {
    uint64_t seed;
    unsigned nthreads;
    size_t max_live; /* bytes live at once, all threads together */
    /* the allocator's options, read with mallctl */
    bool opt_zero, opt_junk_alloc, opt_junk_free, zero_realloc_free;
    size_t page;
    unsigned narenas;             /* automatic arenas */
    unsigned arenas[FUZZ_ARENAS]; /* explicit ones */
    const char *replay_hint;      /* the program, for the replay command printed on failure */
    bool abort_on_fail;           /* a failed check aborts (libFuzzer then keeps the input) */
    bool foreign_blocks;          /* blocks the model does not know are live (libFuzzer's) */
} fuzz_conf_t;

extern fuzz_conf_t fuzz_conf;

/* Reads the options and makes the explicit arenas; call once before any thread starts. */
void fuzz_setup(void);
void fuzz_thread_init(fuzz_thread_t *t, unsigned tid);
void fuzz_thread_register(fuzz_thread_t *t); /* for the failure report */
void fuzz_step(fuzz_thread_t *t, const fuzz_op_t *op);
/* Frees every block the thread holds, checking contents; destroys its explicit cache. */
void fuzz_thread_finish(fuzz_thread_t *t);
/* Frees the blocks still in the handoff queue. */
void fuzz_queue_drain(fuzz_thread_t *t);

/* Prints the message, every registered thread's recent operations and how to replay; exits 1
 * (or aborts, as fuzz_conf.abort_on_fail says). */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fuzz_dump_logs(void);
/* write(2) to stderr without stdio (the allocator under test may be what broke). */
void fuzz_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* FUZZ_H */
