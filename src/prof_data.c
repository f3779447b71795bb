/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prof_data: the stack table (jemalloc's gctx/tctx idea). A stack (prof_gctx_t) is one distinct
 * backtrace, found by hash in a chained table; under it, one prof_tctx_t per thread that
 * allocated from that stack holds the counts (live objects and bytes, and with prof_accum every
 * sampled allocation), and each sampled block points at its tctx. A thread record
 * (prof_tdata_t) lists its tctxs and keeps a small cache from stack hash to tctx, so a thread
 * that samples the same stack again finds its counts without walking the stack's list.
 *
 * Life cycle: a tctx lives while it has something to show (live blocks; with prof_accum, any
 * sampled allocation, until prof.reset) or sits in its thread's cache; a stack lives while it
 * has a tctx. So when the last block of a tctx is freed (prof_accum off) it goes at once unless
 * cached, and a cached one goes when its slot takes another stack or its thread leaves; the
 * cache lets a stack that allocates and frees one block at a time keep its records (at most 64
 * a thread). prof.reset unlinks every tctx (and so empties the table); one that still has live
 * blocks stays "retired", counting only their frees, and is recycled with the last of them. A
 * record whose thread left and whose counts are all zero is reused by the next thread.
 *
 * Everything here comes from base (metadata, never from the arenas being profiled) and is
 * recycled, never unmapped: tctxs on one free list, stacks on free lists by size (in cache
 * lines), so the table's memory is bounded by the most stacks of each size live at once, not
 * by how many were ever sampled. prof_lock guards all of it, and a dump holds it while it reads
 * the table, so it never sees a stack go.
 *
 * Except a thread's pending counts (prof_tdata_t.pend): a thread that samples the stack it
 * counted last (its walk record again, its cache unchanged, no reset since) counts the block in
 * its own pend, for the tctx pend_t, without the lock; so does its free of a block of pend_t.
 * Each locked step would cost a locked instruction, which waits for every store before it to
 * reach the cache: after a program's writes to fresh memory, most of a sample's time. pend_t is
 * pinned (set, with pend folded into it, only by its thread under the lock): it is neither
 * freed nor recycled, whatever its own counts say, until the thread folds pend into it (its
 * next locked sample, its exit, a fork for the threads the child does not keep). A reset that
 * comes between a thread's check and its count finds pend_t pinned and retires it with the
 * rest: the counts land on the retired tctx, which their blocks point to. Readers (dumps, under
 * the lock) add pend to pend_t's counts.
 */
#include <stddef.h>
#include <string.h>

#include "allocator/internal/arena.h"
#include "allocator/internal/base.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/prof.h"
#include "allocator/internal/prof_recent.h"

struct prof_gctx_s {
    prof_gctx_t *next; /* hash chain, or its size's free list */
    uint64_t hash;
    prof_tctx_t *tctxs; /* never empty while in the table */
    unsigned n;
    unsigned lines; /* its size, in cache lines */
    void *frames[];
};

/* A stack of n frames takes this many cache lines (1 to PROF_GCTX_LINES_MAX). */
#define PROF_GCTX_LINES(n)                                                                         \
    ((offsetof(prof_gctx_t, frames) + (size_t)(n) * sizeof(void *) + CACHELINE - 1) / CACHELINE)
#define PROF_GCTX_LINES_MAX PROF_GCTX_LINES(PROF_BT_MAX)

#define PROF_NBUCKETS 4096
static prof_gctx_t *prof_buckets[PROF_NBUCKETS];
static prof_gctx_t *prof_gctx_free[PROF_GCTX_LINES_MAX + 1]; /* recycled stacks, by lines */
static prof_tdata_t *prof_tdata_list;
static prof_tctx_t *prof_tctx_free; /* recycled, through gnext */
static uint64_t prof_reset_gen = 1; /* read without the lock by the pending path (atomic) */
static prof_table_usage_t prof_usage;

/* Each frame mixed in with a multiply, the whole finished once: its top bits pick the thread's
 * cache slot, its low bits the table's bucket. */
static ALWAYS_INLINE uint64_t prof_bt_hash(const prof_bt_t *bt) {
    void *const *frames = prof_bt_frames(bt);
    uint64_t h = 0xcbf29ce484222325ULL ^ bt->n;
    for (unsigned i = 0; i < bt->n; i++)
        h = (h ^ (uint64_t)(uintptr_t)frames[i]) * 0x100000001b3ULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32);
}

static unsigned prof_cache_slot(uint64_t hash) { return (unsigned)(hash >> 58); }

static ALWAYS_INLINE bool prof_gctx_is(const prof_gctx_t *g, uint64_t hash, const prof_bt_t *bt) {
    if (g->hash != hash || g->n != bt->n)
        return false;
    void *const *frames = prof_bt_frames(bt);
    for (unsigned i = 0; i < bt->n; i++) { /* a few frames: no call of memcmp */
        if (g->frames[i] != frames[i])
            return false;
    }
    return true;
}

/* The stack bt (of that hash), entered in the table if new (with no tctx yet); NULL if OOM. */
static prof_gctx_t *prof_gctx_find_locked(uint64_t hash, const prof_bt_t *bt) {
    prof_gctx_t **head = &prof_buckets[hash % PROF_NBUCKETS];
    for (prof_gctx_t *g = *head; g != NULL; g = g->next) {
        if (prof_gctx_is(g, hash, bt))
            return g;
    }
    unsigned lines = (unsigned)PROF_GCTX_LINES(bt->n);
    prof_gctx_t *g = prof_gctx_free[lines];
    if (g != NULL) {
        prof_gctx_free[lines] = g->next;
    } else {
        if ((g = base_alloc((size_t)lines * CACHELINE, CACHELINE)) == NULL)
            return NULL;
        g->lines = lines;
        prof_usage.bytes += (size_t)lines * CACHELINE;
    }
    g->hash = hash;
    g->tctxs = NULL;
    g->n = bt->n;
    memcpy(g->frames, prof_bt_frames(bt), bt->n * sizeof(void *));
    g->next = *head;
    *head = g;
    prof_usage.stacks++;
    return g;
}

/* Take g, with no tctx left, out of the table, and keep its memory for a stack of its size. */
static void prof_gctx_release_locked(prof_gctx_t *g) {
    assert(g->tctxs == NULL);
    prof_gctx_t **p = &prof_buckets[g->hash % PROF_NBUCKETS];
    while (*p != g)
        p = &(*p)->next;
    *p = g->next;
    g->next = prof_gctx_free[g->lines];
    prof_gctx_free[g->lines] = g;
    prof_usage.stacks--;
}

static prof_tctx_t *prof_tctx_new_locked(prof_gctx_t *g, prof_tdata_t *td) {
    prof_tctx_t *t = prof_tctx_free;
    if (t != NULL) {
        prof_tctx_free = t->gnext;
    } else {
        if ((t = base_alloc(sizeof(*t), 16)) == NULL)
            return NULL;
        prof_usage.bytes += sizeof(*t);
    }
    memset(t, 0, sizeof(*t));
    t->gctx = g;
    t->tdata = td;
    t->gnext = g->tctxs;
    if (g->tctxs != NULL)
        g->tctxs->gprev = t;
    g->tctxs = t;
    t->tnext = td->tctxs;
    if (td->tctxs != NULL)
        td->tctxs->tprev = t;
    td->tctxs = t;
    prof_usage.tctxs++;
    return t;
}

/* Nothing to show: no live block, no cumulative count, and no pending count (not pinned). */
static bool prof_tctx_empty(const prof_tctx_t *t) {
    return !t->pinned && t->cnt.curobjs == 0 && t->cnt.accumobjs == 0;
}

/*
 * Take t (not retired) off its thread's list and cache and off its stack's list; the stack
 * leaves the table with its last tctx.
 */
static void prof_tctx_unlink_locked(prof_tctx_t *t) {
    prof_tdata_t *td = t->tdata;
    prof_gctx_t *g = t->gctx;
    assert(!t->retired && td != NULL && g != NULL);
    if (t->cached) {
        td->cache[prof_cache_slot(g->hash)] = NULL;
        atomic_store_relaxed(&td->cache_epoch, td->cache_epoch + 1); /* read by its thread */
        t->cached = false;
    }
    if (t->tprev != NULL)
        t->tprev->tnext = t->tnext;
    else
        td->tctxs = t->tnext;
    if (t->tnext != NULL)
        t->tnext->tprev = t->tprev;
    if (t->gprev != NULL)
        t->gprev->gnext = t->gnext;
    else
        g->tctxs = t->gnext;
    if (t->gnext != NULL)
        t->gnext->gprev = t->gprev;
    if (g->tctxs == NULL)
        prof_gctx_release_locked(g);
}

/* Recycle t, unlinked or retired, that no block points to any more. */
static void prof_tctx_recycle_locked(prof_tctx_t *t) {
    assert(t->cnt.curobjs == 0 && !t->pinned);
    t->gnext = prof_tctx_free;
    prof_tctx_free = t;
    prof_usage.tctxs--;
}

static void prof_tctx_destroy_locked(prof_tctx_t *t) {
    prof_tctx_unlink_locked(t);
    prof_tctx_recycle_locked(t);
}

/* prof_tctx_get_locked when the thread's cache misses: the table, and the cache filled. */
static NOINLINE prof_tctx_t *prof_tctx_find_locked(prof_tdata_t *td, const prof_bt_t *bt,
                                                   uint64_t hash) {
    prof_gctx_t *g = prof_gctx_find_locked(hash, bt);
    if (g == NULL)
        return NULL;
    prof_tctx_t *t;
    for (t = g->tctxs; t != NULL && t->tdata != td; t = t->gnext) {
    }
    if (t == NULL && (t = prof_tctx_new_locked(g, td)) == NULL) {
        if (g->tctxs == NULL)
            prof_gctx_release_locked(g);
        return NULL;
    }
    /* The slot's last tctx was kept only for being there: with nothing to show, it goes. */
    unsigned slot = prof_cache_slot(hash);
    prof_tctx_t *old = td->cache[slot];
    td->cache[slot] = t;
    atomic_store_relaxed(&td->cache_epoch, td->cache_epoch + 1);
    t->cached = true;
    if (old != NULL) {
        old->cached = false;
        if (prof_tctx_empty(old))
            prof_tctx_destroy_locked(old);
    }
    return t;
}

/* The counts of (bt, td's thread), made if needed; NULL when out of memory. */
static ALWAYS_INLINE prof_tctx_t *prof_tctx_get_locked(prof_tdata_t *td, const prof_bt_t *bt,
                                                       uint64_t hash) {
    if (td->cache_gen != prof_reset_gen) {
        memset(td->cache, 0, sizeof(td->cache));
        td->cache_gen = prof_reset_gen;
        atomic_store_relaxed(&td->cache_epoch, td->cache_epoch + 1);
    }
    prof_tctx_t *t = td->cache[prof_cache_slot(hash)];
    if (likely(t != NULL && prof_gctx_is(t->gctx, hash, bt)))
        return t;
    return prof_tctx_find_locked(td, bt, hash);
}

prof_tctx_t *prof_tctx_get(tsd_t *tsd, const prof_bt_t *bt) {
    prof_tdata_t *td = prof_tdata_get(tsd);
    if (td == NULL)
        return NULL;
    uint64_t hash = prof_bt_hash(bt);
    mutex_lock(&prof_lock);
    prof_tctx_t *t = prof_tctx_get_locked(td, bt, hash);
    mutex_unlock(&prof_lock);
    return t;
}

/*
 * Per size class: the objects (shifted) and bytes one sample of it stands for at period
 * 2^prof_unbias_lg, each filled when a sample of the class is first counted (0: not yet; a
 * filled one is at least the class size), so a short program computes only what it uses.
 * prof_lock.
 */
static uint64_t prof_unbias_objs[SC_NSIZES], prof_unbias_bytes[SC_NSIZES]; /* (atomic: the
                                                                              pending path) */
static size_t prof_unbias_lg;

static uint64_t prof_round(double d) { return d >= 1.8e19 ? UINT64_MAX : (uint64_t)(d + 0.5); }

void prof_unbias_init(size_t lg) {
    for (unsigned i = 0; i < SC_NSIZES; i++) {
        atomic_store_relaxed(&prof_unbias_objs[i], 0);
        atomic_store_relaxed(&prof_unbias_bytes[i], 0);
    }
    prof_unbias_lg = lg;
}

static NOINLINE void prof_unbias_fill(unsigned ind) {
    double sz = (double)sz_index2size(ind);
    double p = 1 - prof_exp(-sz / (double)((uint64_t)1 << prof_unbias_lg)); /* sampled */
    atomic_store_relaxed(&prof_unbias_objs[ind], prof_round((double)(1 << PROF_CNT_SHIFT) / p));
    atomic_store_relaxed(&prof_unbias_bytes[ind], prof_round(sz / p));
}

/* Class ind, its table entries filled. */
static ALWAYS_INLINE unsigned prof_unbias_at(unsigned ind) {
    if (unlikely(atomic_load_relaxed(&prof_unbias_bytes[ind]) == 0))
        prof_unbias_fill(ind);
    return ind;
}

void prof_unbias_out(uint64_t objs_shifted, uint64_t bytes, size_t lg, uint64_t *objs_out,
                     uint64_t *bytes_out) {
    if (objs_shifted == 0 || bytes == 0) {
        *objs_out = *bytes_out = 0;
        return;
    }
    double c = (double)objs_shifted / (double)(1 << PROF_CNT_SHIFT), b = (double)bytes;
    double x = b / c, y = b * (1 - prof_exp(-x / (double)((uint64_t)1 << lg)));
    *objs_out = prof_round(y / x);
    *bytes_out = prof_round(y);
}

/*
 * usize of class ind counted in c (sign 1, and with accum its cumulative counts too), or
 * uncounted (sign -1), with the unbiasing entries objs and bytes. Each field is written alone
 * (relaxed): c may be a thread's pending counts, which dumps read meanwhile.
 */
static ALWAYS_INLINE void prof_cnt_step(prof_cnt_t *c, size_t usize, uint64_t objs,
                                        uint64_t bytes, int sign, bool accum) {
    uint64_t s = (uint64_t)(int64_t)sign;
#define PROF_CNT_BUMP(field, by)                                                                   \
    atomic_store_relaxed(&c->field, atomic_load_relaxed(&c->field) + (by))
    PROF_CNT_BUMP(curobjs, s);
    PROF_CNT_BUMP(curbytes, s * usize);
    PROF_CNT_BUMP(curobjs_shifted_unbiased, s * objs);
    PROF_CNT_BUMP(curbytes_unbiased, s * bytes);
    if (accum) {
        PROF_CNT_BUMP(accumobjs, 1);
        PROF_CNT_BUMP(accumbytes, usize);
        PROF_CNT_BUMP(accumobjs_shifted_unbiased, objs);
        PROF_CNT_BUMP(accumbytes_unbiased, bytes);
    }
#undef PROF_CNT_BUMP
}

/* usize of class ind (its table entries filled) counted, or uncounted (sign -1). */
static void prof_cnt_cur_add(prof_tctx_t *t, size_t usize, unsigned ind, int sign) {
    prof_cnt_step(&t->cnt, usize, prof_unbias_objs[ind], prof_unbias_bytes[ind], sign, false);
}

static ALWAYS_INLINE void prof_sampled_alloc_locked(extent_t *e, prof_tctx_t *tctx,
                                                     size_t usize, unsigned ind) {
    prof_unbias_at(ind);
    prof_cnt_step(&tctx->cnt, usize, prof_unbias_objs[ind], prof_unbias_bytes[ind], 1,
                  opt_prof_accum);
    e->prof_tctx = tctx;
}

/* ---- a thread's pending counts (prof_tdata_t.pend; the file's head) -------------------------- */

/* c, read field by field (relaxed: its thread may be writing it). */
static void prof_cnt_read(const prof_cnt_t *c, prof_cnt_t *out) {
    out->curobjs = atomic_load_relaxed(&c->curobjs);
    out->curbytes = atomic_load_relaxed(&c->curbytes);
    out->accumobjs = atomic_load_relaxed(&c->accumobjs);
    out->accumbytes = atomic_load_relaxed(&c->accumbytes);
    out->curobjs_shifted_unbiased = atomic_load_relaxed(&c->curobjs_shifted_unbiased);
    out->curbytes_unbiased = atomic_load_relaxed(&c->curbytes_unbiased);
    out->accumobjs_shifted_unbiased = atomic_load_relaxed(&c->accumobjs_shifted_unbiased);
    out->accumbytes_unbiased = atomic_load_relaxed(&c->accumbytes_unbiased);
}

void prof_tctx_cnt_locked(const prof_tctx_t *t, prof_cnt_t *out) {
    *out = t->cnt;
    if (t->pinned && t->tdata != NULL && t->tdata->pend_t == t) {
        prof_cnt_t p;
        prof_cnt_read(&t->tdata->pend, &p);
        prof_cnt_add(out, &p);
    }
}

static void prof_tctx_unused_locked(prof_tctx_t *t);

/* td's thread (or, in a forked child, the only thread) folds its pending counts into pend_t,
 * which is then treated as a free of its last block would have treated it. */
static void prof_pend_flush_locked(prof_tdata_t *td) {
    prof_tctx_t *t = td->pend_t;
    if (t == NULL)
        return;
    prof_cnt_t p;
    prof_cnt_read(&td->pend, &p);
    prof_cnt_add(&t->cnt, &p);
    memset(&td->pend, 0, sizeof(td->pend)); /* its thread's own, and the lock held */
    td->pend_t = NULL;
    t->pinned = false;
    if (t->cnt.curobjs == 0 && !t->cached)
        prof_tctx_unused_locked(t);
}

/*
 * The class's unbiasing entries, if filled (0 while not: prof.reset empties the table, and only
 * the locked path fills it).
 */
static ALWAYS_INLINE bool prof_unbias_get(unsigned ind, uint64_t *objs, uint64_t *bytes) {
    *objs = atomic_load_relaxed(&prof_unbias_objs[ind]);
    *bytes = atomic_load_relaxed(&prof_unbias_bytes[ind]);
    return *bytes != 0;
}

void prof_sampled_alloc(extent_t *e, prof_tctx_t *tctx, size_t usize) {
    mutex_lock(&prof_lock);
    prof_sampled_alloc_locked(e, tctx, usize, sz_size2index(usize));
    mutex_unlock(&prof_lock);
}

/*
 * prof_sampled_alloc_bt under prof_lock; same: the stack is the one td counted last for the
 * memo of entry k.
 */
static NOINLINE void prof_sampled_alloc_bt_locked(prof_tdata_t *td, const prof_bt_t *bt,
                                                  extent_t *e, size_t usize, unsigned ind,
                                                  bool same, unsigned k) {
    mutex_lock(&prof_lock);
    prof_pend_flush_locked(td); /* before the cache may change: its tctx is then unpinned */
    prof_tctx_t *t;
    if (same && td->cache_epoch == td->last_epoch[k] && td->cache_gen == prof_reset_gen) {
        t = td->last_tctx[k];
    } else if ((t = prof_tctx_get_locked(td, bt, prof_bt_hash(bt))) != NULL) {
        td->last_tctx[k] = t;
        td->last_same_as[k] = bt->same_as;
        td->last_epoch[k] = td->cache_epoch;
    }
    if (t != NULL) {
        prof_sampled_alloc_locked(e, t, usize, ind);
        td->pend_t = t;
        t->pinned = true;
    }
    mutex_unlock(&prof_lock);
}

void prof_sampled_alloc_bt(tsd_t *tsd, const prof_bt_t *bt, extent_t *e, size_t usize,
                           unsigned ind) {
    prof_tdata_t *td = tsd->prof_tdata;
    if (unlikely(td == NULL) && (td = prof_tdata_make(tsd)) == NULL)
        return;
    /*
     * The stack the thread counted last (the same walk record), its tctx still in the thread's
     * cache (no slot changed since, no reset): counted there without hashing the stack. The
     * cache's tctxs live while they are in it, so last_tctx is one. One entry per memo of the
     * thread's walks (prof.h), the record number's parity: a thread sampling in two allocator
     * functions in turn finds both. When it is the one the thread's pending counts are for, as
     * it is from the second time, counted there, with no lock (the file's head); this path
     * makes no call, so it saves no register.
     */
    unsigned k = (unsigned)(bt->same_as & 1);
    bool same = bt->same_as != 0 && bt->same_as == td->last_same_as[k] &&
                atomic_load_relaxed(&td->cache_epoch) == td->last_epoch[k] &&
                td->cache_gen == atomic_load_relaxed(&prof_reset_gen);
    uint64_t objs, bytes;
    if (same && td->pend_t == td->last_tctx[k] && prof_unbias_get(ind, &objs, &bytes)) {
        prof_cnt_step(&td->pend, usize, objs, bytes, 1, opt_prof_accum);
        /* After the counts: a fork's copy that holds the pointer holds them. */
        atomic_store_release(&e->prof_tctx, td->pend_t);
        return;
    }
    prof_sampled_alloc_bt_locked(td, bt, e, usize, ind, same, k);
}

static void prof_sampled_free_locked(extent_t *e, size_t usize, unsigned ind);

void prof_sampled_free(extent_t *e, size_t usize) { prof_sampled_free_ind(e, usize, sz_size2index(usize)); }

void prof_sampled_free_ind(extent_t *e, size_t usize, unsigned ind) {
    mutex_lock(&prof_lock);
    prof_sampled_free_locked(e, usize, ind);
    mutex_unlock(&prof_lock);
}

void prof_sampled_free_by(tsd_t *tsd, extent_t *e, size_t usize, unsigned ind) {
    prof_tdata_t *td = tsd != NULL ? tsd->prof_tdata : NULL;
    uint64_t objs, bytes;
    if (td != NULL && e->prof_tctx != NULL && e->prof_tctx == td->pend_t &&
        prof_unbias_get(ind, &objs, &bytes)) {
        e->prof_tctx = NULL;
        prof_cnt_step(&td->pend, usize, objs, bytes, -1, false);
        return;
    }
    prof_sampled_free_ind(e, usize, ind);
}

void prof_sampled_resize(extent_t *e, size_t old_usize, size_t usize) {
    mutex_lock(&prof_lock);
    prof_tctx_t *t = e->prof_tctx;
    if (t != NULL) {
        prof_cnt_cur_add(t, old_usize, prof_unbias_at(sz_size2index(old_usize)), -1);
        prof_cnt_cur_add(t, usize, prof_unbias_at(sz_size2index(usize)), 1);
    }
    mutex_unlock(&prof_lock);
}

/*
 * The last block of t, not cached, was freed: t goes unless it has cumulative counts, or its
 * thread's pending counts are for it (pinned: the thread's fold of them calls this again).
 */
static NOINLINE void prof_tctx_unused_locked(prof_tctx_t *t) {
    assert(t->retired || t->tdata->cache_gen != prof_reset_gen ||
           t->tdata->cache[prof_cache_slot(t->gctx->hash)] != t);
    if (t->pinned)
        return;
    if (t->retired)
        prof_tctx_recycle_locked(t);
    else if (t->cnt.accumobjs == 0)
        prof_tctx_destroy_locked(t);
}

/*
 * Uncount the sampled block of e (usize, of class ind, as counted). prof_lock held. A cached
 * tctx stays (the common case of a stack that allocates and frees one block at a time).
 */
static ALWAYS_INLINE void prof_sampled_free_locked(extent_t *e, size_t usize, unsigned ind) {
    prof_tctx_t *t = e->prof_tctx;
    e->prof_tctx = NULL;
    if (t != NULL) {
        prof_cnt_cur_add(t, usize, prof_unbias_at(ind), -1);
        if (unlikely(t->cnt.curobjs == 0) && !t->cached)
            prof_tctx_unused_locked(t);
    }
}

void prof_arena_reset(tsd_t *tsd, arena_t *arena) {
    if (!opt_prof)
        return;
    bool real = tsd != NULL && tsd_is_real(tsd);
    uint64_t uid = real ? prof_thread_uid(tsd) : 0;
    const char *name = real && tsd->prof_tdata != NULL ? tsd->prof_tdata->name : NULL;
    mutex_lock(&prof_lock);
    prof_recent_lock_all();
    mutex_lock(&arena->ex.lock);
    /* Every extent, free or active, registers its first page: walk each chunk by them. */
    for (const chunk_t *c = arena->ex.chunks; c != NULL; c = c->next) {
        for (uintptr_t addr = c->addr; addr < c->addr + c->size;) {
            rtree_entry_t entry = rtree_read((void *)addr);
            extent_t *e = rtree_entry_extent(entry);
            if (e == NULL || e->addr != addr || e->size == 0)
                break; /* cannot happen under the lock; stop rather than loop */
            if (rtree_entry_binid(entry) != 0 && rtree_entry_prof(entry)) {
                unsigned ind = rtree_entry_binid(entry) - 1;
                prof_sampled_free_locked(e, sz_index2size(ind), ind);
                prof_recent_release_locked(uid, name, &e->prof_recent);
            }
            addr = e->addr + e->size;
        }
    }
    mutex_unlock(&arena->ex.lock);
    prof_recent_unlock_all();
    mutex_unlock(&prof_lock);
}

/*
 * Retire t (prof.reset, or its record is reused): out of the table, recycled now unless blocks
 * point to it; then it counts only their frees, and the last of them recycles it.
 */
static void prof_tctx_retire_locked(prof_tctx_t *t) {
    prof_tctx_unlink_locked(t);
    if (t->cnt.curobjs == 0 && !t->pinned) {
        prof_tctx_recycle_locked(t);
    } else {
        t->retired = true;
        t->gctx = NULL;
        t->tdata = NULL;
        t->cnt.accumobjs = t->cnt.accumbytes = 0;
        t->cnt.accumobjs_shifted_unbiased = t->cnt.accumbytes_unbiased = 0;
    }
}

void prof_reset(size_t lg_sample) {
    mutex_lock(&prof_dump_lock);
    mutex_lock(&prof_lock);
    for (prof_tdata_t *td = prof_tdata_list; td != NULL; td = td->next) {
        while (td->tctxs != NULL)
            prof_tctx_retire_locked(td->tctxs);
    }
    atomic_store_relaxed(&prof_reset_gen, prof_reset_gen + 1);
    atomic_store_relaxed(&prof_lg_sample, lg_sample);
    prof_unbias_init(lg_sample);
    mutex_unlock(&prof_lock);
    mutex_unlock(&prof_dump_lock);
    /*
     * The calling thread's countdown to its next sample was drawn at the old rate (a mean of
     * 512 KiB by default, a GiB at lg_prof_sample:30): it draws again at the new one with its
     * next allocation. Other threads keep theirs until they run out.
     */
    tsd_t *tsd = tsd_get();
    if (tsd_is_real(tsd))
        tsd_events_restart(tsd);
}

static bool prof_tdata_idle_locked(const prof_tdata_t *td) {
    for (const prof_tctx_t *t = td->tctxs; t != NULL; t = t->tnext) {
        if (t->cnt.curobjs != 0 || t->cnt.accumobjs != 0)
            return false;
    }
    return true;
}

prof_tdata_t *prof_tdata_new_locked(void) {
    for (prof_tdata_t *td = prof_tdata_list; td != NULL; td = td->next) {
        if (!td->attached && prof_tdata_idle_locked(td)) {
            while (td->tctxs != NULL)
                prof_tctx_retire_locked(td->tctxs);
            td->cache_gen = 0;
            return td;
        }
    }
    prof_tdata_t *td = base_alloc(sizeof(*td), CACHELINE);
    if (td == NULL)
        return NULL;
    memset(td, 0, sizeof(*td));
    td->memo[1].r_gen = 1; /* its records odd, memo[0]'s even (prof.h) */
    td->next = prof_tdata_list;
    prof_tdata_list = td;
    return td;
}

/*
 * td's thread has left (or, in a forked child, was not copied): its cache goes, and with it the
 * tctxs kept only for being there; the rest go as their last blocks are freed.
 */
static void prof_tdata_detach_locked(prof_tdata_t *td) {
    prof_pend_flush_locked(td);
    td->attached = false;
    if (td->cache_gen == prof_reset_gen) {
        for (unsigned i = 0; i < sizeof(td->cache) / sizeof(td->cache[0]); i++) {
            if (td->cache[i] != NULL)
                td->cache[i]->cached = false;
        }
    }
    td->cache_gen = 0;
    for (prof_tctx_t *t = td->tctxs, *next; t != NULL; t = next) {
        next = t->tnext;
        if (prof_tctx_empty(t))
            prof_tctx_destroy_locked(t);
    }
}

void prof_thread_exit(tsd_t *tsd) {
    prof_tdata_t *td = tsd->prof_tdata;
    if (td == NULL)
        return;
    while (td->nspare != 0) {
        extent_t *spare = td->spare[--td->nspare];
        arena_dalloc((void *)spare->addr, rtree_read((void *)spare->addr));
    }
    mutex_lock(&prof_lock);
    prof_tdata_detach_locked(td);
    mutex_unlock(&prof_lock);
    tsd->prof_tdata = NULL;
}

prof_tdata_t *prof_tdatas_locked(void) { return prof_tdata_list; }

void prof_gctx_foreach_locked(void (*fn)(const prof_gctx_t *g, const prof_cnt_t *sum, void *arg),
                              void *arg) {
    for (size_t b = 0; b < PROF_NBUCKETS; b++) {
        for (const prof_gctx_t *g = prof_buckets[b]; g != NULL; g = g->next) {
            prof_cnt_t sum;
            memset(&sum, 0, sizeof(sum));
            for (const prof_tctx_t *t = g->tctxs; t != NULL; t = t->gnext) {
                prof_cnt_t c;
                prof_tctx_cnt_locked(t, &c);
                prof_cnt_add(&sum, &c);
            }
            if (sum.curobjs != 0 || sum.accumobjs != 0)
                fn(g, &sum, arg);
        }
    }
}

static void prof_cnt_all_one(const prof_gctx_t *g, const prof_cnt_t *sum, void *arg) {
    void **a = arg;
    prof_cnt_add(a[0], sum);
    if (sum->curobjs != 0)
        ++*(size_t *)a[1];
    (void)g;
}

void prof_cnt_all_locked(prof_cnt_t *all, size_t *nstacks) {
    memset(all, 0, sizeof(*all));
    *nstacks = 0;
    void *a[2] = {all, nstacks};
    prof_gctx_foreach_locked(prof_cnt_all_one, a);
}

unsigned prof_gctx_frames(const prof_gctx_t *g, void *const **frames) {
    *frames = g->frames;
    return g->n;
}

const prof_tctx_t *prof_gctx_tctxs(const prof_gctx_t *g) { return g->tctxs; }

void prof_table_usage(prof_table_usage_t *u) {
    mutex_lock(&prof_lock);
    *u = prof_usage;
    mutex_unlock(&prof_lock);
}

void prof_prefork(void) {
    prof_unwind_prefork(); /* first: walks under way take no allocator lock to end */
    mutex_lock(&prof_dump_lock);
    mutex_lock(&prof_lock);
}

void prof_postfork_parent(void) {
    mutex_unlock(&prof_lock);
    mutex_unlock(&prof_dump_lock);
    prof_unwind_postfork_parent();
}

void prof_postfork_child(void) {
    mutex_postfork_child(&prof_lock);
    mutex_postfork_child(&prof_dump_lock);
    /* Only the forking thread lives on: the others' records keep their counts, detached. */
    tsd_t *self = tsd_get();
    prof_tdata_t *keep = tsd_is_real(self) ? self->prof_tdata : NULL;
    for (prof_tdata_t *td = prof_tdata_list; td != NULL; td = td->next) {
        if (td != keep && td->attached)
            prof_tdata_detach_locked(td);
    }
    prof_dump_postfork_child();
    prof_unwind_postfork_child();
}
