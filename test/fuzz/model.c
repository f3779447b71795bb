/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The fuzzer's shadow model: a record per live block (address, usable size, request,
 * alignment, contents key), kept in an ordered set by address so that a new or resized block is
 * checked against its two neighbours only, O(log n) per operation. The set is a treap whose nodes
 * are the records themselves, in one array mapped at start (the model never calls the allocator it
 * checks). One mutex guards the set, the free list of records and the live totals; threads take it
 * only around those updates, never across a call into the allocator.
 *
 * Ordering with the allocator: a block's range leaves the set before the call that frees or
 * resizes it, and enters after the call that returns it, so the set is always a subset of the
 * blocks really live, and any overlap it sees is the allocator's.
 *
 * Contents: every usable byte of a block holds a pattern computed from the block's id and the
 * byte's offset; it is checked when the block is freed, resized, passed between threads or read
 * back, so a write by the allocator into a live block is found at the latest when it is freed.
 */
#include "fuzz.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static pthread_mutex_t model_lock = PTHREAD_MUTEX_INITIALIZER;
static fuzz_rec_t *recs;
static unsigned nrecs;
static int32_t root = -1;
static int32_t free_head = -1;
static uint64_t next_id = 1;
static uint32_t prio_state = 0x9e3779b9u;
static size_t live_bytes, live_blocks;

void fuzz_print(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
    for (size_t off = 0; off < len;) {
        ssize_t w = write(2, buf + off, len - off);
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

void model_init(unsigned n) {
    size_t bytes = (size_t)n * sizeof(fuzz_rec_t);
    if (recs != NULL)
        munmap(recs, (size_t)nrecs * sizeof(fuzz_rec_t));
    recs = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (recs == MAP_FAILED) {
        fuzz_print("fuzz: cannot map the model (%zu bytes)\n", bytes);
        _exit(2);
    }
    nrecs = n;
    root = -1;
    free_head = -1;
    for (unsigned i = n; i-- > 0;) {
        recs[i].next_free = free_head;
        free_head = (int32_t)i;
    }
    live_bytes = live_blocks = 0;
}

fuzz_rec_t *model_rec(int32_t r) { return &recs[r]; }

/* ---- the treap ----------------------------------------------------------------------------- */

/* Split t into keys < key (*l) and >= key (*r). */
static void treap_split(int32_t t, uintptr_t key, int32_t *l, int32_t *r) {
    if (t < 0) {
        *l = *r = -1;
        return;
    }
    if (recs[t].addr < key) {
        treap_split(recs[t].right, key, &recs[t].right, r);
        *l = t;
    } else {
        treap_split(recs[t].left, key, l, &recs[t].left);
        *r = t;
    }
}

/* Every key of a below every key of b. */
static int32_t treap_merge(int32_t a, int32_t b) {
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    if (recs[a].prio > recs[b].prio) {
        recs[a].right = treap_merge(recs[a].right, b);
        return a;
    }
    recs[b].left = treap_merge(a, recs[b].left);
    return b;
}

static const char *from_name(const fuzz_rec_t *rec) { return op_name(rec->from); }

/* Insert r, failing if its range meets a neighbour's. Model lock held. */
static void treap_insert_checked(int32_t r) {
    fuzz_rec_t *n = &recs[r];
    int32_t pred = -1, succ = -1;
    for (int32_t t = root; t >= 0;) {
        if (recs[t].addr < n->addr) {
            pred = t;
            t = recs[t].right;
        } else {
            succ = t;
            t = recs[t].left;
        }
    }
    if (pred >= 0 && recs[pred].addr + recs[pred].usize > n->addr) {
        pthread_mutex_unlock(&model_lock);
        fuzz_fail("overlap: new block %#" PRIxPTR "+%zu (req %zu, %s) starts inside live block "
                  "%#" PRIxPTR "+%zu (req %zu, %s)",
                  n->addr, n->usize, n->req, from_name(n), recs[pred].addr, recs[pred].usize,
                  recs[pred].req, from_name(&recs[pred]));
    }
    if (succ >= 0 && recs[succ].addr < n->addr + n->usize) {
        pthread_mutex_unlock(&model_lock);
        fuzz_fail("overlap: new block %#" PRIxPTR "+%zu (req %zu, %s) covers live block "
                  "%#" PRIxPTR "+%zu (req %zu, %s)",
                  n->addr, n->usize, n->req, from_name(n), recs[succ].addr, recs[succ].usize,
                  recs[succ].req, from_name(&recs[succ]));
    }
    prio_state ^= prio_state << 13;
    prio_state ^= prio_state >> 17;
    prio_state ^= prio_state << 5;
    n->prio = prio_state;
    n->left = n->right = -1;
    int32_t l, rr;
    treap_split(root, n->addr, &l, &rr);
    root = treap_merge(treap_merge(l, r), rr);
}

static void treap_remove(int32_t r) {
    int32_t l, m, rr;
    treap_split(root, recs[r].addr, &l, &m);
    treap_split(m, recs[r].addr + 1, &m, &rr);
    if (m != r) {
        pthread_mutex_unlock(&model_lock);
        fuzz_fail("model: block %#" PRIxPTR " is not in the ordered set", recs[r].addr);
    }
    root = treap_merge(l, rr);
}

/* ---- records ------------------------------------------------------------------------------- */

int32_t model_add(void *ptr, size_t usize, size_t req, size_t align, unsigned from) {
    pthread_mutex_lock(&model_lock);
    int32_t r = free_head;
    if (r < 0) {
        pthread_mutex_unlock(&model_lock);
        fuzz_fail("model: out of records");
    }
    free_head = recs[r].next_free;
    fuzz_rec_t *n = &recs[r];
    n->addr = (uintptr_t)ptr;
    n->usize = usize;
    n->req = req;
    n->align = align;
    n->id = next_id++;
    n->from = (uint8_t)from;
    n->next_free = -1;
    treap_insert_checked(r);
    live_bytes += usize;
    live_blocks++;
    pthread_mutex_unlock(&model_lock);
    return r;
}

void model_unlink(int32_t r) {
    pthread_mutex_lock(&model_lock);
    treap_remove(r);
    live_bytes -= recs[r].usize;
    live_blocks--;
    pthread_mutex_unlock(&model_lock);
}

void model_relink(int32_t r, void *ptr, size_t usize) {
    pthread_mutex_lock(&model_lock);
    recs[r].addr = (uintptr_t)ptr;
    recs[r].usize = usize;
    treap_insert_checked(r);
    live_bytes += usize;
    live_blocks++;
    pthread_mutex_unlock(&model_lock);
}

/* Return an unlinked record to the free list. */
void model_release(int32_t r) {
    pthread_mutex_lock(&model_lock);
    recs[r].next_free = free_head;
    free_head = r;
    pthread_mutex_unlock(&model_lock);
}

size_t model_live_bytes(void) {
    pthread_mutex_lock(&model_lock);
    size_t v = live_bytes;
    pthread_mutex_unlock(&model_lock);
    return v;
}

size_t model_live_blocks(void) {
    pthread_mutex_lock(&model_lock);
    size_t v = live_blocks;
    pthread_mutex_unlock(&model_lock);
    return v;
}

/* ---- contents ------------------------------------------------------------------------------ */

static inline uint64_t pattern_word(uint64_t id, size_t off) {
    uint64_t x = id * 0x9e3779b97f4a7c15ull ^ (uint64_t)off * 0xbf58476d1ce4e5b9ull;
    return x ^ (x >> 29);
}

static inline uint8_t pattern_byte(uint64_t id, size_t o) {
    return (uint8_t)(pattern_word(id, o & ~(size_t)7) >> ((o & 7) * 8));
}

static void dense_fill(const fuzz_rec_t *rec, size_t from, size_t to) {
    uint8_t *p = (uint8_t *)rec->addr;
    size_t o = from;
    for (; o < to && (o & 7) != 0; o++)
        p[o] = pattern_byte(rec->id, o);
    for (; o + 8 <= to; o += 8) {
        uint64_t w = pattern_word(rec->id, o);
        memcpy(p + o, &w, 8);
    }
    for (; o < to; o++)
        p[o] = pattern_byte(rec->id, o);
}

static __attribute__((noreturn)) void contents_fail(const fuzz_rec_t *rec, size_t off, unsigned got,
                                                    unsigned want, const char *what,
                                                    const char *when) {
    fuzz_fail("%s: block %#" PRIxPTR "+%zu (req %zu, align %zu, %s, id %" PRIu64
              "): byte at offset %zu is %#x, %s %#x",
              when, rec->addr, rec->usize, rec->req, rec->align, from_name(rec), rec->id, off, got,
              what, want);
}

static void dense_verify(const fuzz_rec_t *rec, size_t from, size_t to, const char *when) {
    const uint8_t *p = (const uint8_t *)rec->addr;
    size_t o = from;
    for (; o < to && (o & 7) != 0; o++)
        if (p[o] != pattern_byte(rec->id, o))
            contents_fail(rec, o, p[o], pattern_byte(rec->id, o), "expected", when);
    for (; o + 8 <= to; o += 8) {
        uint64_t w;
        memcpy(&w, p + o, 8);
        if (w != pattern_word(rec->id, o))
            break;
    }
    for (; o < to; o++)
        if (p[o] != pattern_byte(rec->id, o))
            contents_fail(rec, o, p[o], pattern_byte(rec->id, o), "expected", when);
}

/*
 * Blocks above SPARSE_MIN hold the pattern only in the first 64 bytes of every 4 KiB and in
 * their last 64 bytes: enough to see that every page is there, writable and carried over by a
 * resize, at a fraction of the cost of writing tens of MiB per operation.
 */
#define SPARSE_MIN ((size_t)256 << 10)
#define STRIDE 4096
#define HEAD 64

bool pattern_dense(size_t usize) { return usize <= SPARSE_MIN; }

static void heads(const fuzz_rec_t *rec, size_t from, size_t to, const char *when) {
    for (size_t k = from / STRIDE * STRIDE; k < to; k += STRIDE) {
        size_t a = k > from ? k : from, b = k + HEAD < to ? k + HEAD : to;
        if (a >= b)
            continue;
        if (when != NULL)
            dense_verify(rec, a, b, when);
        else
            dense_fill(rec, a, b);
    }
}

void pattern_fill(const fuzz_rec_t *rec, size_t from, size_t to) {
    if (pattern_dense(rec->usize)) {
        dense_fill(rec, from, to);
        return;
    }
    heads(rec, from, to, NULL);
    dense_fill(rec, rec->usize - HEAD, rec->usize);
}

void pattern_verify(const fuzz_rec_t *rec, size_t from, size_t to, const char *when) {
    if (pattern_dense(rec->usize)) {
        dense_verify(rec, from, to, when);
        return;
    }
    heads(rec, from, to, when);
    if (to == rec->usize)
        dense_verify(rec, rec->usize - HEAD, rec->usize, when);
}

void pattern_verify_kept(const fuzz_rec_t *rec, size_t old_usize, size_t keep, const char *when) {
    if (pattern_dense(old_usize) && pattern_dense(rec->usize))
        dense_verify(rec, 0, keep, when);
    else
        heads(rec, 0, keep, when);
}

void byte_verify(const fuzz_rec_t *rec, size_t from, size_t to, uint8_t byte, const char *when) {
    const uint8_t *p = (const uint8_t *)rec->addr;
    uint64_t w8 = 0x0101010101010101ull * byte;
    size_t o = from;
    for (; o < to && (o & 7) != 0; o++)
        if (p[o] != byte)
            contents_fail(rec, o, p[o], byte, "expected", when);
    for (; o + 8 <= to; o += 8) {
        uint64_t w;
        memcpy(&w, p + o, 8);
        if (w != w8)
            break;
    }
    for (; o < to; o++)
        if (p[o] != byte)
            contents_fail(rec, o, p[o], byte, "expected", when);
}

void zero_verify(const fuzz_rec_t *rec, size_t from, size_t to, const char *when) {
    byte_verify(rec, from, to, 0, when);
}
