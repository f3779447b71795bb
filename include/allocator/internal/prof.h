/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prof: heap profiling, jemalloc's design. Each thread samples its allocations by bytes: the
 * distance to the next sampled byte is drawn from an exponential distribution whose mean is
 * 2^lg_prof_sample (a Poisson process over the bytes allocated), so an allocation of size s is
 * sampled with probability 1 - exp(-s / 2^lg_prof_sample), and jeprof's scaling turns the
 * sampled counts back into estimates of the true ones. A sampled allocation's backtrace (cached
 * CFI rows, else libgcc's unwinder; never under an allocator lock) is counted in the stack
 * table under (stack, thread), and its block keeps a pointer to that count until it is freed.
 *
 * Files: prof.c (state, the sampler, backtraces, thread records), prof_data.c (the stack table),
 * prof_dump.c (heap_v2 files, the leak summary), prof_unwind.c (the backtrace walk). prof_lock
 * (RANK_PROF) guards the stack table, the thread records and every count; prof_dump_lock
 * (RANK_PROF_DUMP, taken first) serialises dumps and their sequence numbers. Neither is held
 * while an arena lock is taken.
 */
#ifndef ALLOCATOR_INTERNAL_PROF_H
#define ALLOCATOR_INTERNAL_PROF_H

#include <unwind.h>

#include "allocator/internal/edata.h"
#include "allocator/internal/tsd.h"

/*
 * Functions that may be on the stack between an exported entry point and the unwinder carry
 * PROF_FRAME: they live in one section, and backtraces drop the frames inside it, so a profile
 * starts at the program's call of malloc. (A function with a section of its own is not split
 * into hot and cold parts, so no part of it lands elsewhere.)
 */
#define PROF_FRAME __attribute__((section("allocator_prof_frames"), noinline))
/* The exported allocating entry points: in the section too (a build without tail calls keeps
 * their frames), inlining left to the compiler. */
#define PROF_ENTRY __attribute__((section("allocator_prof_frames")))

#define PROF_BT_MAX 128
/*
 * A thread's spare extents for sampled small blocks (prof_tdata_t.spare). A program that frees
 * its blocks in bursts frees its sampled ones in bursts too (bench/batch: about 12 a round at the
 * default rate); each one past the spares and the thread cache's 16 KiB bin (4) goes back to
 * the arena, and the next burst's samples take a new extent each, about 2,000 instructions in
 * the page allocator for the pair: with one spare, 5% of batch_fifo's time.
 */
#define PROF_SPARES 8
#define PROF_THREAD_NAME_MAX 16 /* bytes with the terminating NUL, as jemalloc's */

typedef struct prof_bt_s {
    unsigned n;
    /* Not 0: the frames are those of the thread's walk record of this number (prof_backtrace;
     * the stack table then knows them again without hashing them: prof_data.c). */
    uint64_t same_as;
    /* Where the frames are (prof_bt_frames): NULL, in frames; else in the thread's walk record,
     * a replayed walk's, not copied (valid until the thread's next walk, so for its sample). */
    void *const *at;
    void *frames[PROF_BT_MAX];
} prof_bt_t;

static inline void *const *prof_bt_frames(const prof_bt_t *bt) {
    return bt->at != NULL ? bt->at : bt->frames;
}

/*
 * Counts of sampled objects, raw and unbiased (jemalloc 5.3's scheme): each sample adds, besides
 * one object and its usize, the estimate of the true totals it stands for, taken at its own size
 * s: 1 / (1 - exp(-s / period)) objects (kept times 2^PROF_CNT_SHIFT, so that rounding to whole
 * numbers loses little) and s / (1 - exp(-s / period)) bytes. A dump writes the pair that
 * jeprof's per-record scaling turns back into those sums (prof_unbias_out).
 */
#define PROF_CNT_SHIFT 3
typedef struct prof_cnt_s {
    uint64_t curobjs, curbytes;     /* live sampled objects and their bytes */
    uint64_t accumobjs, accumbytes; /* every sampled allocation (prof_accum) */
    uint64_t curobjs_shifted_unbiased, curbytes_unbiased;
    uint64_t accumobjs_shifted_unbiased, accumbytes_unbiased;
} prof_cnt_t;

static inline void prof_cnt_add(prof_cnt_t *sum, const prof_cnt_t *c) {
    sum->curobjs += c->curobjs;
    sum->curbytes += c->curbytes;
    sum->accumobjs += c->accumobjs;
    sum->accumbytes += c->accumbytes;
    sum->curobjs_shifted_unbiased += c->curobjs_shifted_unbiased;
    sum->curbytes_unbiased += c->curbytes_unbiased;
    sum->accumobjs_shifted_unbiased += c->accumobjs_shifted_unbiased;
    sum->accumbytes_unbiased += c->accumbytes_unbiased;
}

/*
 * A thread's memo of its walks (prof_unwind.c): per depth, a frame's state (SP, return address,
 * and FP where its CFA is on FP) and the addresses its row gave for its caller's SP, return
 * address and FP. A walk from the same first SP whose frame matches its depth's entry reads the
 * stack there without looking the row up or checking bounds again: a program that samples from
 * a loop walks the same frames each time. Only frames of code loaded at start-up (whose rows
 * never change) are kept.
 */
#define PROF_UNWIND_MEMO_N 32
typedef struct {
    uintptr_t pc, sp, ra_at, fp, cfa, fp_at; /* fp_at 0: FP is not saved there */
    unsigned flags;
} prof_unwind_memo_frame_t;
/*
 * ...and the last walk itself, when every frame it read was in the memo: the stack words it read
 * (return addresses and saved FPs) and what it found there, and its frames. A walk that starts
 * where it did and finds every one of those words unchanged is that walk again (the rows are
 * permanent, the bounds the same): it copies the frames without walking (a replay).
 */
#define PROF_UNWIND_REPLAY_WORDS (2 * PROF_UNWIND_MEMO_N)
typedef struct {
    uintptr_t lo;       /* the walks' first SP */
    unsigned depth;     /* f[0 .. depth) made by walks from lo (pc 0: matches nothing) */
    unsigned long hits; /* frames walked from the memo (tests) */
    unsigned long replays; /* walks replayed (tests) */
    prof_unwind_memo_frame_t f[PROF_UNWIND_MEMO_N];
    /* The last walk, to replay, while r_valid; r_gen numbers the records made: it goes up by 2,
     * so that a thread's two memos (prof_tdata_t.memo), started at 0 and 1, never share one. */
    uint64_t r_gen;
    bool r_valid;
    bool r_uses_fp; /* its frames depend on its first FP */
    unsigned r_nwords, r_n, r_max;
    uintptr_t r_pc, r_fp, r_skip_lo, r_skip_hi; /* r_lo: lo */
    const uintptr_t *r_at[PROF_UNWIND_REPLAY_WORDS];
    uintptr_t r_word[PROF_UNWIND_REPLAY_WORDS];
    void *r_frames[PROF_UNWIND_MEMO_N];
} prof_unwind_memo_t;

typedef struct prof_gctx_s prof_gctx_t;
typedef struct prof_tctx_s prof_tctx_t;
typedef struct prof_tdata_s prof_tdata_t;

/*
 * One stack's counts for one thread; a sampled block points to it (extent_t.prof_tctx), and
 * each live block counts in cnt.curobjs, so one with curobjs 0 has no block pointing to it.
 * Its life (prof_data.c): made by the thread's first sample of the stack; kept while it has
 * something to show (live objects, or with prof_accum sampled allocations) or sits in its
 * thread's cache; then freed (recycled), and its stack with its last tctx. prof_lock guards it.
 */
struct prof_tctx_s {
    prof_gctx_t *gctx;          /* NULL once retired */
    prof_tdata_t *tdata;        /* NULL once retired */
    prof_tctx_t *gnext, *gprev; /* the stack's list (gnext: the free list's link when free) */
    prof_tctx_t *tnext, *tprev; /* the thread's list */
    prof_cnt_t cnt;
    bool retired; /* unlinked by prof.reset: counts only its own blocks' frees, then recycled */
    bool cached;  /* in its thread's valid cache (prof_tdata_t.cache) */
    bool pinned;  /* its thread's pending counts are its (prof_tdata_t.pend_t): it stays */
};

/* A thread's record: it outlives the thread while its counts are not zero. */
struct prof_tdata_s {
    uint64_t uid;
    char name[PROF_THREAD_NAME_MAX];
    bool active;   /* thread.prof.active */
    bool attached; /* its thread is alive */
    uint64_t prng;
    prof_tdata_t *next; /* every record */
    prof_tctx_t *tctxs; /* its counts, one per stack */
    /*
     * The thread's last tctx per slot (stack hash >> 58), valid while cache_gen is
     * prof_reset_gen (0: invalid, as once the thread left). Every tctx in a valid cache is live;
     * one there whose counts are all zero is kept for the thread's next sample of its stack,
     * and freed when the slot takes another or the thread leaves.
     */
    uint64_t cache_gen;
    prof_tctx_t *cache[64];
    /*
     * The tctx the thread last counted a sample in, for the stack of walk record last_same_as
     * (prof_bt_t.same_as), while no slot of the cache has changed since (cache_epoch counts the
     * changes): a thread sampling one stack again finds it without hashing the stack. One entry
     * per memo (index: the record number's parity).
     */
    uint64_t cache_epoch, last_epoch[2], last_same_as[2];
    prof_tctx_t *last_tctx[2];
    /*
     * The 16 KiB extents of the thread's last freed sampled small blocks (nspare of them, the
     * last freed on top), still registered as sampled (reporting class spare_report[i],
     * prof_tctx EXTENT_PROF_SPARE), of automatic arenas: the thread's next sampled small blocks
     * take them as they are (malloc.c). Given back to their arenas when the thread leaves. The
     * thread's own; no lock.
     */
    extent_t *spare[PROF_SPARES];
    unsigned spare_report[PROF_SPARES];
    unsigned nspare;
    /*
     * Counts of pend_t not yet in it: the thread's samples of the stack it last counted, and its
     * frees of pend_t's blocks, made without prof_lock (prof_data.c). Only the thread writes
     * them (relaxed atomics; a dump reads them under prof_lock and adds them to pend_t's);
     * pend_t is set and cleared, and pend folded into it, by the thread under prof_lock. They
     * are deltas: a field wraps below 0 when pend_t's own counts hold the other part.
     */
    prof_tctx_t *pend_t;
    prof_cnt_t pend;
    /*
     * The thread's walks (prof_backtrace): two memos, each for the walks from one first SP, the
     * one a walk from a third takes over alternating (memo_victim). A thread samples from two
     * allocator functions (malloc_event for a block its cache had, alloc_slow for the others),
     * whose first SPs differ: with one memo, a thread sampling both kinds in turn walked the
     * rows every time (threads_32: 15% of its samples), and took the lock for each.
     */
    prof_unwind_memo_t memo[2];
    unsigned memo_victim;
};

/* Runtime state (prof_lock is not needed to read these). */
extern bool prof_active;             /* prof.active (atomic) */
extern bool prof_thread_active_init; /* prof.thread_active_init (atomic) */
extern bool prof_gdump_on;           /* prof.gdump (atomic) */
extern size_t prof_lg_sample;        /* prof.lg_sample (changed by prof.reset) */
extern uint64_t prof_interval;       /* bytes between interval dumps; 0: none */
extern mutex_t prof_lock;
extern mutex_t prof_dump_lock;

/* After conf_boot: the runtime state from the options, the exit hooks. */
void prof_boot(void);

/* The thread's uid (assigned when its state is made, increasing from 0). */
static inline uint64_t prof_thread_uid(const tsd_t *tsd) { return tsd->prof_thread_uid; }

/* The thread's record, made on first use (prof_tdata_make); NULL when out of memory. */
prof_tdata_t *prof_tdata_make(tsd_t *tsd);
static inline prof_tdata_t *prof_tdata_get(tsd_t *tsd) {
    return likely(tsd->prof_tdata != NULL) ? tsd->prof_tdata : prof_tdata_make(tsd);
}
/* Bytes to the next sampled byte: 1 + an exponential draw with mean 2^lg_prof_sample. */
int64_t prof_sample_interval(tsd_t *tsd);
/* Draw one interval from prng state *state with mean 2^lg (the sampler, for unit tests); and
 * the interval a random r gives, 1 + -ln(r / 2^64) * 2^lg (tests). */
uint64_t prof_interval_draw(uint64_t *state, size_t lg);
uint64_t prof_draw_u64(uint64_t r, size_t lg);
/* Natural logarithm and exponential without libm (for the sampler and the leak summary). */
double prof_ln(double x);
double prof_exp(double x);
/*
 * A sampled block shrinks in place from old_usize to usize: should it stay sampled? True with
 * probability (1 - exp(-usize / period)) / (1 - exp(-old_usize / period)), so that it is
 * sampled as often as a block allocated at usize would be.
 */
bool prof_sample_kept(tsd_t *tsd, size_t old_usize, size_t usize);
/*
 * A 64-bit linear congruential generator (Knuth's MMIX constants: full period from any state,
 * as jemalloc's sampler uses one), its high bits folded into the low. The draw takes its
 * leading zeros and the next 7 bits, the generator's best; the low bits only refine the step.
 */
static ALWAYS_INLINE uint64_t prof_prng_next(uint64_t *state) {
    uint64_t x = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    *state = x;
    return x ^ (x >> 31);
}

#define PROF_LN2 0.69314718055994530942

/* ln c and 1 / c for the middle c of each of 128 equal steps of [1, 2) (prof.c, prof_ln). */
extern const double prof_ln_tab[128][2] HIDDEN;

/*
 * The interval drawn from a random r: -ln(u) * 2^lg + 1 for u = r / 2^64, in integer steps as far
 * as they go. r = mant / 2^lz with mant's top bit set, so u = m * 2^-(lz + 1) with m = mant / 2^63
 * in [1, 2), and -ln u = (lz + 1) ln 2 - ln m. m - c, for c the middle of m's step of
 * prof_ln_tab, is mant's bits below the step's 7, less half a step, read as a signed integer:
 * one conversion. Three terms of ln(1 + x)'s series leave an error below x^4 / 4 < 2^-34
 * (|x| < 2^-8), far below what a sampling interval needs (prof_ln, for the leak summary's
 * figures, keeps five). r = 0 is read as 1 (u = 2^-64, -ln u = 44.4); next to 1, where -ln u
 * is about 2^-64, rounding may leave it below 0, read as 0.
 */
static ALWAYS_INLINE uint64_t prof_draw(uint64_t r, size_t lg) {
    r = r != 0 ? r : 1;
    unsigned lz = (unsigned)__builtin_clzll(r);
    uint64_t mant = r << lz;
    unsigned i = (unsigned)(mant >> 56) & 127;
    int64_t below = (int64_t)(mant & (((uint64_t)1 << 56) - 1)) - ((int64_t)1 << 55);
    double x = (double)below * (1.0 / 9223372036854775808.0) * prof_ln_tab[i][1];
    double ln_m = prof_ln_tab[i][0] + x * (1 + x * (-1.0 / 2 + x * (1.0 / 3)));
    union {
        uint64_t bits;
        double d;
    } scale = {.bits = (uint64_t)(1023 + lg) << 52}; /* 2^lg, lg < 64 */
    double d = ((double)(lz + 1) * PROF_LN2 - ln_m) * scale.d;
    return d >= 9.0e18 ? (uint64_t)INT64_MAX : d > 0 ? (uint64_t)(int64_t)d + 1 : 1;
}

/* prof_sample_next for a thread without a record yet (made here). */
int64_t prof_sample_next_slow(tsd_t *tsd, bool *wanted);
/*
 * The countdown ran out (the thread event, tevent.c; opt_prof on): the bytes to the next sample,
 * as prof_sample_interval, and *wanted: is this sample to be taken (profiling and the thread
 * active, not inside the profiler)? Inline in the trigger: a sample's draw is a few dozen
 * instructions, and in a program of large blocks most allocations sample. _td: for a thread
 * whose record td exists (no call).
 */
static ALWAYS_INLINE int64_t prof_sample_next_td(tsd_t *tsd, prof_tdata_t *td, bool *wanted) {
    *wanted = !tsd->prof_busy && atomic_load_relaxed(&prof_active) && td->active;
    return (int64_t)prof_draw(prof_prng_next(&td->prng), atomic_load_relaxed(&prof_lg_sample));
}
static ALWAYS_INLINE int64_t prof_sample_next(tsd_t *tsd, bool *wanted) {
    prof_tdata_t *td = tsd->prof_tdata;
    if (unlikely(td == NULL))
        return prof_sample_next_slow(tsd, wanted);
    return prof_sample_next_td(tsd, td, wanted);
}
/*
 * prof_unwind.c: the calling thread's return addresses, innermost first, walked with cached
 * rows of the DWARF CFI (x86_64, aarch64), as _Unwind_Backtrace reports them: frames[0] is
 * inside prof_unwind itself (where it captured the registers), frames[1] in its caller, and so on.
 * Leading frames whose address is in [skip_lo, skip_hi) are left out (not counted in max).
 * Returns 0 when it cannot answer exactly (the caller then uses _Unwind_Backtrace). memo, the
 * calling thread's own (or NULL), remembers the frames walked for the next walk.
 */
unsigned prof_unwind(void **frames, unsigned max, uintptr_t skip_lo, uintptr_t skip_hi,
                     prof_unwind_memo_t *memo);
/*
 * The same walk from registers its caller captured with prof_unwind_regs (regs[0] the caller's
 * SP once that call returned, regs[1] the return address, regs[2] the frame pointer, RBP or x29;
 * zeros on other architectures), while that caller is still live: frames[0] is then in that
 * caller, and the walk has one frame (prof_unwind's own) fewer to step through.
 */
void prof_unwind_regs(uintptr_t *regs) HIDDEN;
unsigned prof_unwind_at(const uintptr_t *regs, void **frames, unsigned max, uintptr_t skip_lo,
                        uintptr_t skip_hi, prof_unwind_memo_t *memo);
/*
 * The memo's last walk again, for the same arguments, if every stack word it read is unchanged
 * (then it is that walk: prof.h's prof_unwind_memo_t): its frames, or 0 to walk. Few registers
 * and no frame of its own to set up: the common case of a program that samples in a loop.
 * frames NULL: not copied (they are the memo's r_frames).
 */
unsigned prof_unwind_replay(const uintptr_t *regs, void **frames, unsigned max,
                            uintptr_t skip_lo, uintptr_t skip_hi, prof_unwind_memo_t *memo);
/*
 * libgcc's unwinder, as heap profiling uses it: the shared library loads libgcc_s when a backtrace
 * first needs it (a walk gives up, or meets an object without an .eh_frame_hdr table:
 * prof_libgcc_shared.c), the static one names the functions (prof_libgcc_static.c).
 * prof_libgcc_load may load it (no allocator lock held; inside prof_unwind's walk bracket, which
 * the fork hooks wait for); prof_libgcc_loaded never does. Both give NULL without the unwinder,
 * and prof_libgcc_load also while another thread is loading it (it never waits for that load).
 */
typedef struct {
    _Unwind_Reason_Code (*backtrace)(_Unwind_Trace_Fn fn, void *arg);
    const void *(*find_fde)(void *pc, void *bases); /* bases: struct dwarf_eh_bases * */
    _Unwind_Ptr (*get_ip)(struct _Unwind_Context *ctx);
} prof_libgcc_t;
const prof_libgcc_t *prof_libgcc_load(void);
/*
 * The bracket around a call into the loader or libgcc that a fork waits for: false (and nothing
 * to undo) when a fork is waiting, and the call must then not be made.
 */
bool prof_unwind_loader_enter(void);
void prof_unwind_loader_exit(void);
const prof_libgcc_t *prof_libgcc_loaded(void);
void prof_libgcc_postfork_child(void);
/* The rows' cache, from base memory (prof_boot); without it every frame is computed anew. */
void prof_unwind_boot(void);
/*
 * Fork: glibc does not renew dl_iterate_phdr's lock in the child, so the prefork hook makes
 * walks that would call into the loader or libgcc give up, and waits for those inside to leave
 * (walks through cached rows call neither); the child also empties the slots a vanished thread
 * was writing, so they cache again.
 */
void prof_unwind_prefork(void);
void prof_unwind_postfork_parent(void);
void prof_unwind_postfork_child(void);
/* How many slots of the cache hold a row (tests). */
unsigned prof_unwind_cached(void);
/* How many times walks have asked the loader for its unload count to check a cached row
 * (tests: rows of code loaded at start-up never need it). */
unsigned long prof_unwind_subs_reads(void);
extern const char __start_allocator_prof_frames[] HIDDEN;
extern const char __stop_allocator_prof_frames[] HIDDEN;

/*
 * The calling thread's backtrace, without the allocator's frames: prof_unwind's cached walk,
 * or libgcc's unwinder where that walk gives up. Inline, so that both walk one allocator frame
 * fewer (each costs libgcc about 1,500 instructions, the cached walk 60); the cached walk starts
 * from the registers captured here, not in prof_unwind. The unwinder may allocate
 * (libgcc sorts a static program's frame tables on first use): such a malloc is served as usual,
 * and prof_busy keeps it from being sampled.
 */
_Unwind_Reason_Code prof_unwind_frame(struct _Unwind_Context *ctx, void *arg);
static ALWAYS_INLINE void prof_backtrace(tsd_t *tsd, prof_bt_t *bt) {
    bool was = tsd->prof_busy;
    tsd->prof_busy = true;
    uintptr_t regs[3];
    prof_unwind_regs(regs); /* here, in the allocator's function that takes the backtrace */
    prof_tdata_t *td = tsd->prof_tdata;
    prof_unwind_memo_t *memo = NULL;
    if (td != NULL) {
        unsigned i = td->memo[1].lo == regs[0]   ? 1
                     : td->memo[0].lo == regs[0] ? 0
                                                 : td->memo_victim;
        td->memo_victim = i ^ 1;
        memo = &td->memo[i];
    }
    uintptr_t lo = (uintptr_t)__start_allocator_prof_frames;
    uintptr_t hi = (uintptr_t)__stop_allocator_prof_frames;
    bt->n = prof_unwind_replay(regs, NULL, PROF_BT_MAX, lo, hi, memo);
    bt->at = bt->n != 0 ? (void *const *)memo->r_frames : NULL;
    if (bt->n == 0)
        bt->n = prof_unwind_at(regs, bt->frames, PROF_BT_MAX, lo, hi, memo);
    /* Frames of the cached walk, recorded (or replayed): the record's number says so. */
    bt->same_as = bt->n != 0 && memo != NULL && memo->r_valid ? memo->r_gen : 0;
    const prof_libgcc_t *lib = bt->n == 0 ? prof_libgcc_loaded() : NULL; /* the walk loads it */
    /* libgcc finds frame tables through the loader (dl_iterate_phdr's lock, or its own): inside
     * the bracket, or no frames while a fork is waiting. */
    if (lib != NULL && prof_unwind_loader_enter()) {
        lib->backtrace(prof_unwind_frame, bt);
        prof_unwind_loader_exit();
    }
    tsd->prof_busy = was;
}

/* prof_data.c: the stack table. */
/*
 * Unit tests' steps of prof_sampled_alloc_bt: the counts of (bt, tsd's thread), made if needed
 * (NULL when out of memory), then a sampled block of usize bytes just made in e counted there.
 * Until counted, the tctx lives only in the thread's cache: count it before the thread's next
 * prof_tctx_get, reset or exit.
 */
prof_tctx_t *prof_tctx_get(tsd_t *tsd, const prof_bt_t *bt);
void prof_sampled_alloc(extent_t *e, prof_tctx_t *tctx, size_t usize);
/* Both under one hold of prof_lock: count the block of e (usize, of class ind) under (bt, tsd's
 * thread). Left uncounted when out of memory. */
void prof_sampled_alloc_bt(tsd_t *tsd, const prof_bt_t *bt, extent_t *e, size_t usize,
                           unsigned ind);
/* Uncount the sampled block of e (usize as counted) before it is freed, or when it stops
 * being sampled. */
void prof_sampled_free(extent_t *e, size_t usize);
/* The same, for the free path, which knows usize's class ind. */
void prof_sampled_free_ind(extent_t *e, size_t usize, unsigned ind);
/* The same by the thread of tsd (one with a state of its own, or NULL): a block of the tctx
 * its pending counts are for is uncounted there, without prof_lock. */
void prof_sampled_free_by(tsd_t *tsd, extent_t *e, size_t usize, unsigned ind);
/* t's counts with its thread's pending ones (prof_lock held). */
void prof_tctx_cnt_locked(const prof_tctx_t *t, prof_cnt_t *out);
/* The sampled block of e was resized in place: count it at usize instead of old_usize (its
 * cumulative counts, prof_accum, keep the size it was sampled at). */
void prof_sampled_resize(extent_t *e, size_t old_usize, size_t usize);
/* The unbiasing tables start again for period 2^lg (prof_boot, prof.reset; prof_lock held or
 * no thread yet): each class is computed when first counted. */
void prof_unbias_init(size_t lg);
/*
 * The pair (objects, bytes) to write for unbiased sums (objects shifted by PROF_CNT_SHIFT) at
 * period 2^lg: jeprof scales a record's pair (c, s) by 1 / (1 - exp(-(s / c) / period)), so the
 * pair written is the one that this scaling maps onto the sums: with x = bytes / objects, the
 * mean size, s = bytes * (1 - exp(-x / period)) and c = s / x.
 */
void prof_unbias_out(uint64_t objs_shifted, uint64_t bytes, size_t lg, uint64_t *objs_out,
                     uint64_t *bytes_out);
/*
 * arena.<i>.reset or .destroy is about to free every block of arena at once: its sampled blocks
 * are uncounted and their last-N records released (by tsd's thread, with no stack). Takes
 * prof_lock, prof_recent_lock and the arena's extents lock, in that order.
 */
struct arena_s;
void prof_arena_reset(tsd_t *tsd, struct arena_s *arena);
/* prof.reset: forget every count (blocks still live stop being counted); new lg_sample, which
 * the calling thread samples at from its next allocation, others from their next sample. */
void prof_reset(size_t lg_sample);
/* The thread is leaving: its record stays for its counts, and can be reused once they are 0. */
void prof_thread_exit(tsd_t *tsd);
/* A new record, reusing one whose thread left and whose counts are all zero. prof_lock held. */
prof_tdata_t *prof_tdata_new_locked(void);
/* Sum of every count; the number of stacks with live objects. prof_lock held. */
void prof_cnt_all_locked(prof_cnt_t *all, size_t *nstacks);
/* Visit every stack with counts to show: fn(gctx, sum over its threads). prof_lock held. */
void prof_gctx_foreach_locked(void (*fn)(const prof_gctx_t *g, const prof_cnt_t *sum, void *arg),
                              void *arg);
/* A stack's frames and its per-thread counts. */
unsigned prof_gctx_frames(const prof_gctx_t *g, void *const **frames);
const prof_tctx_t *prof_gctx_tctxs(const prof_gctx_t *g);
/* Every thread record. prof_lock held. */
prof_tdata_t *prof_tdatas_locked(void);
/* The stack table's size (tests): stacks and tctxs in use, bytes ever taken from base for them. */
typedef struct prof_table_usage_s {
    size_t stacks, tctxs, bytes;
} prof_table_usage_t;
void prof_table_usage(prof_table_usage_t *u);

/* prof_dump.c */
/* Write a heap_v2 profile: to filename if given, else <prefix>.<pid>.<seq>.<kind><kseq>.heap. */
bool prof_dump(char kind, const char *filename);
/*
 * The prefix of the dumps named by the allocator from now on (prof.prefix; opt.prof_prefix until
 * set). Returns true, changing nothing, if it is longer than opt.prof_prefix may be.
 */
bool prof_dump_prefix_set(const char *prefix);
/* The events' dumps, from an allocating thread outside any lock: interval dumps and gdump. */
void prof_event_dumps_slow(uint64_t bytes);
/* Are interval dumps or gdump on (prof_event_dumps has anything to do)? */
static inline bool prof_event_dumps_on(void) {
    return prof_interval != 0 || atomic_load_relaxed(&prof_gdump_on);
}
static inline void prof_event_dumps(uint64_t bytes) {
    if (prof_event_dumps_on())
        prof_event_dumps_slow(bytes);
}
/* Write the profile to fd (unit tests). Returns true if a write failed. */
bool prof_dump_fd(int fd);
/* The child's dumps start their sequence numbers again (its pid is new). */
void prof_dump_postfork_child(void);
/* At exit: the final dump (prof_final) and the leak summary (prof_leak). */
void prof_atexit(void);

void prof_prefork(void);
void prof_postfork_parent(void);
void prof_postfork_child(void);

#endif
