/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prof_recent: the store of the last N sampled allocations and its JSON dump (see
 * prof_recent.h for the contract). The records form one list, oldest first; a new record is
 * appended and, when the store is full, the oldest is evicted first (its block's slot cleared).
 * Records and stacks come from base and go back to free lists here (stacks by capacity class),
 * so the store allocates from no arena and its memory is bounded by the largest capacity used.
 *
 * prof_recent_lock guards everything here (prof_recent_max is also read without it). A dump
 * holds its own lock, prof_recent_dump_lock, from start to end, and prof_recent_lock only to
 * start, to copy each batch of records, and to end: at its start the records then present are
 * pinned (the prefix of the list up to prof_recent_pinned_last) and nothing evicts them until
 * it ends; records made meanwhile are appended after them and evict only each other, at most
 * prof_recent_max of them; at its end the store is trimmed to its capacity again, oldest first.
 * So a dump shows exactly the records present when it began, and after it the store holds the
 * newest records, as if no dump had run. A batch's records are copied under the lock (their
 * fields, and pointers to their stacks, which stay put while pinned) and formatted and written
 * after it is released.
 */
#include "allocator/internal/prof_recent.h"

#include <pthread.h>
#include <string.h>

#include "allocator/internal/base.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/emitter.h"
#include "allocator/internal/mutex.h"
#include "allocator/internal/nstime.h"

/*
 * One side of a record: the backtrace, nframes frames innermost first, then the thread's name
 * (namelen bytes and a NUL, after the frames), in room for 4 << cls words.
 */
typedef struct prof_recent_stack_s {
    struct prof_recent_stack_s *next_free; /* on its class's free list */
    unsigned cls, nframes, namelen;
    void *frames[];
} prof_recent_stack_t;

/* 4 to 256 words: 128 frames (PROF_RECENT_FRAMES_MAX) and a name of 255 bytes fit. */
#define STACK_NCLASSES 7
_Static_assert(PROF_RECENT_FRAMES_MAX + (PROF_RECENT_NAME_MAX + 8) / 8 <=
                   4u << (STACK_NCLASSES - 1),
               "stack classes");

static const char *stack_name(const prof_recent_stack_t *s) {
    return s != NULL && s->namelen != 0 ? (const char *)(s->frames + s->nframes) : NULL;
}

/* A record. Every field is guarded by prof_recent_lock. */
struct prof_recent_s {
    prof_recent_t *next;  /* the next newer record (the free list's link when free) */
    prof_recent_t **slot; /* the sampled block's link to this record; NULL once released */
    size_t size, usize;
    uint64_t alloc_uid, alloc_time;
    uint64_t dalloc_uid, dalloc_time;                /* once released */
    prof_recent_stack_t *alloc_stack, *dalloc_stack; /* NULL: no frames (or no memory) */
    bool released;
};

static mutex_t prof_recent_lock = MUTEX_INITIALIZER(RANK_PROF_RECENT);

ssize_t prof_recent_max; /* written under the lock, read without it (prof_recent_max_get) */
static prof_recent_t *prof_recent_head, *prof_recent_tail; /* oldest, newest */
static size_t prof_recent_n;
static prof_recent_t *prof_recent_free_records;
static prof_recent_stack_t *prof_recent_free_stacks[STACK_NCLASSES];

/* A dump in progress: its thread, the newest record it pins, and the records made since. */
static bool prof_recent_dumping;
static pthread_t prof_recent_dumper;
static prof_recent_t *prof_recent_pinned_last; /* NULL: the store was empty when it began */
static size_t prof_recent_nnew;

/* Monotonic nanoseconds (jemalloc's default profiling clock); 0 before constructors have run. */

/* ---- Records and stacks ------------------------------------------------------------------ */

static prof_recent_stack_t *stack_new(void *const *frames, unsigned nframes, const char *name) {
    size_t namelen = name != NULL ? strnlen(name, PROF_RECENT_NAME_MAX) : 0;
    if (nframes == 0 && namelen == 0)
        return NULL;
    if (nframes > PROF_RECENT_FRAMES_MAX)
        nframes = PROF_RECENT_FRAMES_MAX;
    size_t words = nframes + (namelen != 0 ? (namelen + 8) / 8 : 0);
    unsigned cls = 0;
    while ((4u << cls) < words)
        cls++;
    prof_recent_stack_t *s = prof_recent_free_stacks[cls];
    if (s != NULL) {
        prof_recent_free_stacks[cls] = s->next_free;
    } else {
        s = base_alloc(sizeof(*s) + ((size_t)4 << cls) * sizeof(void *), 16);
        if (s == NULL)
            return NULL;
        s->cls = cls;
    }
    s->nframes = nframes;
    s->namelen = (unsigned)namelen;
    if (nframes != 0) /* frames may be NULL then, which memcpy must not be given */
        memcpy(s->frames, frames, nframes * sizeof(void *));
    if (namelen != 0) {
        memcpy(s->frames + nframes, name, namelen);
        ((char *)(s->frames + nframes))[namelen] = '\0';
    }
    return s;
}

static void stack_free(prof_recent_stack_t *s) {
    if (s == NULL)
        return;
    s->next_free = prof_recent_free_stacks[s->cls];
    prof_recent_free_stacks[s->cls] = s;
}

static prof_recent_t *record_new(void) {
    prof_recent_t *rec = prof_recent_free_records;
    if (rec != NULL)
        prof_recent_free_records = rec->next;
    else
        rec = base_alloc(sizeof(*rec), 16);
    return rec;
}

/*
 * Unlinked from the list already: cut the block's link to it, and recycle it. The link is cut
 * only if it still names this record: a block freed without prof_recent_dalloc (arena.<i>.reset
 * and destroy free every block of the arena at once) leaves its record linked to metadata that
 * a later sampled block may reuse, whose own link must survive.
 */
static void record_evict(prof_recent_t *rec) {
    if (rec->slot != NULL) {
        prof_recent_t *expect = rec;
        __atomic_compare_exchange_n(rec->slot, &expect, NULL, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED);
    }
    stack_free(rec->alloc_stack);
    stack_free(rec->dalloc_stack);
    rec->next = prof_recent_free_records;
    prof_recent_free_records = rec;
}

/* Evict the oldest record that no dump pins: the head, or the one after the pinned prefix. */
static void evict_oldest_unpinned(void) {
    prof_recent_t *prev = prof_recent_dumping ? prof_recent_pinned_last : NULL;
    prof_recent_t *rec = prev != NULL ? prev->next : prof_recent_head;
    assert(rec != NULL);
    if (prev != NULL)
        prev->next = rec->next;
    else
        prof_recent_head = rec->next;
    if (prof_recent_tail == rec)
        prof_recent_tail = prev;
    prof_recent_n--;
    if (prof_recent_dumping)
        prof_recent_nnew--;
    record_evict(rec);
}

/*
 * Down to the capacity (all records, or while a dump runs, those it does not pin), at most
 * TRIM_CHUNK evictions at a time: the lock is released between chunks, so that a large
 * eviction (a shrink, or the end of a dump of many records) makes sampled allocations in other
 * threads wait for one chunk at most. The lock is held on entry and on return.
 */
#define TRIM_CHUNK 256
static void trim(void) {
    for (;;) {
        ssize_t max = prof_recent_max;
        if (max < 0)
            return;
        unsigned k = 0;
        while ((prof_recent_dumping ? prof_recent_nnew : prof_recent_n) > (size_t)max) {
            if (k++ == TRIM_CHUNK)
                break;
            evict_oldest_unpinned();
        }
        if (k <= TRIM_CHUNK)
            return;
        mutex_unlock(&prof_recent_lock);
        mutex_lock(&prof_recent_lock);
    }
}

/* ---- The store's interface --------------------------------------------------------------- */

ssize_t prof_recent_max_set(ssize_t max) {
    assert(max >= -1);
    mutex_lock(&prof_recent_lock);
    ssize_t old = prof_recent_max;
    atomic_store_relaxed(&prof_recent_max, max);
    trim();
    mutex_unlock(&prof_recent_lock);
    return old;
}

void prof_recent_alloc(uint64_t thread_uid, const char *thread_name, size_t size, size_t usize,
                       void *const *frames, unsigned nframes, prof_recent_t **slot) {
    if (prof_recent_max_get() == 0)
        return;
    uint64_t now = nstime_stamp();
    mutex_lock(&prof_recent_lock);
    ssize_t max = prof_recent_max;
    size_t held = prof_recent_dumping ? prof_recent_nnew : prof_recent_n;
    if (max > 0 && held >= (size_t)max)
        evict_oldest_unpinned();
    prof_recent_t *rec = max != 0 ? record_new() : NULL;
    if (rec != NULL) {
        *rec = (prof_recent_t){.slot = slot,
                               .size = size,
                               .usize = usize,
                               .alloc_uid = thread_uid,
                               .alloc_time = now,
                               .alloc_stack = stack_new(frames, nframes, thread_name)};
        if (prof_recent_tail != NULL)
            prof_recent_tail->next = rec;
        else
            prof_recent_head = rec;
        prof_recent_tail = rec;
        prof_recent_n++;
        if (prof_recent_dumping)
            prof_recent_nnew++;
        atomic_store_relaxed(slot, rec);
    }
    mutex_unlock(&prof_recent_lock);
}

/* Mark the record *slot links released by this thread, now, with this stack (the lock held). */
static void prof_recent_release_at(uint64_t thread_uid, const char *thread_name,
                                   prof_recent_t **slot, uint64_t now, void *const *frames,
                                   unsigned nframes) {
    prof_recent_t *rec = *slot;
    if (rec != NULL && rec->slot == slot) {
        atomic_store_relaxed(slot, NULL);
        rec->slot = NULL;
        rec->released = true;
        rec->dalloc_uid = thread_uid;
        rec->dalloc_time = now;
        rec->dalloc_stack = stack_new(frames, nframes, thread_name);
    }
}

void prof_recent_dalloc_slow(uint64_t thread_uid, const char *thread_name, prof_recent_t **slot,
                             void *const *frames, unsigned nframes) {
    uint64_t now = nstime_stamp();
    mutex_lock(&prof_recent_lock);
    /* Read again under the lock: an eviction may have cut the link since the caller looked. */
    prof_recent_release_at(thread_uid, thread_name, slot, now, frames, nframes);
    mutex_unlock(&prof_recent_lock);
}

void prof_recent_lock_all(void) { mutex_lock(&prof_recent_lock); }
void prof_recent_unlock_all(void) { mutex_unlock(&prof_recent_lock); }

void prof_recent_release_locked(uint64_t thread_uid, const char *thread_name,
                                prof_recent_t **slot) {
    prof_recent_release_at(thread_uid, thread_name, slot, nstime_stamp(), NULL, 0);
}

size_t prof_recent_count(void) {
    mutex_lock(&prof_recent_lock);
    size_t n = prof_recent_n;
    mutex_unlock(&prof_recent_lock);
    return n;
}

TEXT_HOT void prof_recent_boot(void) {
    atomic_store_relaxed(&prof_recent_max, opt_prof_recent_alloc_max);
}

/* ---- The dump ---------------------------------------------------------------------------- */

/* A record as a batch copies it under the lock. */
typedef struct {
    size_t size, usize;
    uint64_t alloc_uid, alloc_time, dalloc_uid, dalloc_time;
    const prof_recent_stack_t *alloc_stack, *dalloc_stack;
    bool released;
} prof_recent_snap_t;

/*
 * The most one record can take in the JSON, and the document's opening and closing: a record's
 * members are under 270 bytes with every number at 20 digits, each frame is ,"0x" and at most
 * 16 hex digits and a quote (21), and a thread's name is its key (21) and each byte escaped as
 * \u00XX at worst (6).
 */
#define DUMP_RECORD_FIXED 320
#define DUMP_FRAME 24
#define DUMP_NAME 24
#define DUMP_NAME_BYTE 6
#define DUMP_ENDS 160
#define DUMP_BATCH_MAX 512
#define DUMP_COPY_CHUNK 32

static pthread_mutex_t prof_recent_dump_lock = PTHREAD_MUTEX_INITIALIZER;

/* The dumper's working memory (prof_recent_dump_lock): static, so a dump allocates nothing. */
static struct {
    io_write_cb_t *write_cb;
    void *cbopaque;
    size_t len;
    char out[PROF_RECENT_BUF_SIZE]; /* the batch being written: one call of write_cb */
    io_buf_t staging;               /* the emitter's buffer, emptied into out */
    prof_recent_snap_t snaps[DUMP_BATCH_MAX];
} dump CACHE_ALIGNED;

static void dump_write_out(void) {
    if (dump.len == 0)
        return;
    dump.out[dump.len] = '\0';
    if (config_debug)
        witness_assert_none();
    dump.write_cb(dump.cbopaque, dump.out);
    dump.len = 0;
}

/* staging's callback: append to the batch (a full batch is written, but batches are sized so
 * that it never is). */
static void dump_append(void *opaque, const char *s) {
    (void)opaque;
    size_t n = strlen(s);
    if (dump.len + n >= sizeof(dump.out))
        dump_write_out();
    memcpy(dump.out + dump.len, s, n);
    dump.len += n;
}

static size_t dump_bound_stack(const prof_recent_stack_t *s) {
    return s != NULL ? DUMP_FRAME * s->nframes + DUMP_NAME + DUMP_NAME_BYTE * s->namelen : 0;
}

static size_t dump_bound(const prof_recent_t *rec) {
    return DUMP_RECORD_FIXED + dump_bound_stack(rec->alloc_stack) +
           dump_bound_stack(rec->dalloc_stack);
}

static void dump_trace(emitter_t *em, const char *key, const prof_recent_stack_t *s) {
    emitter_open(em, key, NULL, true);
    for (unsigned i = 0; s != NULL && i < s->nframes; i++) {
        char frame[24];
        io_format(frame, sizeof(frame), "0x%lx", (unsigned long)(uintptr_t)s->frames[i]);
        emitter_s(em, "", "", frame);
    }
    emitter_close(em);
}

static void dump_record(emitter_t *em, const prof_recent_snap_t *r) {
    emitter_open(em, NULL, NULL, false);
    emitter_u(em, "size", "", r->size);
    emitter_u(em, "usize", "", r->usize);
    emitter_b(em, "released", "", r->released);
    emitter_u(em, "alloc_thread_uid", "", r->alloc_uid);
    if (stack_name(r->alloc_stack) != NULL)
        emitter_s(em, "alloc_thread_name", "", stack_name(r->alloc_stack));
    emitter_u(em, "alloc_time", "", r->alloc_time);
    dump_trace(em, "alloc_trace", r->alloc_stack);
    if (r->released) {
        emitter_u(em, "dalloc_thread_uid", "", r->dalloc_uid);
        if (stack_name(r->dalloc_stack) != NULL)
            emitter_s(em, "dalloc_thread_name", "", stack_name(r->dalloc_stack));
        emitter_u(em, "dalloc_time", "", r->dalloc_time);
        dump_trace(em, "dalloc_trace", r->dalloc_stack);
    }
    emitter_close(em);
}

/* Pin the records present now; returns the oldest (NULL: none) and the capacity. */
static prof_recent_t *dump_start(ssize_t *max) {
    mutex_lock(&prof_recent_lock);
    prof_recent_dumping = true;
    prof_recent_dumper = pthread_self();
    prof_recent_pinned_last = prof_recent_tail;
    prof_recent_nnew = 0;
    prof_recent_t *first = prof_recent_head;
    *max = prof_recent_max;
    mutex_unlock(&prof_recent_lock);
    return first;
}

/* Unpin, and trim what the dump kept beyond the capacity. prof_recent_lock held. */
static void dump_finish_locked(void) {
    prof_recent_dumping = false;
    prof_recent_pinned_last = NULL;
    prof_recent_nnew = 0;
    trim();
}

/*
 * Copy the next records from *cursor (pinned, so still listed) while their JSON fits in what
 * is left of the batch; advance *cursor, NULL after the last pinned record. Returns how many.
 * The lock is taken for DUMP_COPY_CHUNK records at a time; between chunks *cursor stays valid,
 * since pinned records are neither evicted nor relinked (only the last one's next changes).
 */
static unsigned dump_copy_batch(prof_recent_t **cursor, size_t used) {
    unsigned k = 0;
    bool full = false;
    while (*cursor != NULL && !full && k < DUMP_BATCH_MAX) {
        /* DUMP_COPY_CHUNK records per hold of the lock: a few microseconds each. */
        mutex_lock(&prof_recent_lock);
        for (unsigned c = 0; *cursor != NULL && c < DUMP_COPY_CHUNK && k < DUMP_BATCH_MAX;
             c++, k++) {
            prof_recent_t *rec = *cursor;
            size_t bound = dump_bound(rec);
            if (k > 0 && used + bound + DUMP_ENDS >= sizeof(dump.out)) {
                full = true;
                break;
            }
            used += bound;
            dump.snaps[k] = (prof_recent_snap_t){.size = rec->size,
                                                 .usize = rec->usize,
                                                 .alloc_uid = rec->alloc_uid,
                                                 .alloc_time = rec->alloc_time,
                                                 .dalloc_uid = rec->dalloc_uid,
                                                 .dalloc_time = rec->dalloc_time,
                                                 .alloc_stack = rec->alloc_stack,
                                                 .dalloc_stack = rec->dalloc_stack,
                                                 .released = rec->released};
            *cursor = rec == prof_recent_pinned_last ? NULL : rec->next;
        }
        mutex_unlock(&prof_recent_lock);
    }
    return k;
}

void prof_recent_dump(uint64_t sample_interval, io_write_cb_t *write_cb, void *cbopaque) {
    if (pthread_mutex_trylock(&prof_recent_dump_lock) != 0) {
        /* A dump from the write callback of a dump would wait for itself: do nothing. */
        mutex_lock(&prof_recent_lock);
        bool own = prof_recent_dumping && pthread_equal(prof_recent_dumper, pthread_self());
        mutex_unlock(&prof_recent_lock);
        if (own)
            return;
        pthread_mutex_lock(&prof_recent_dump_lock);
    }
    dump.write_cb =
        write_cb != NULL ? write_cb : (malloc_message != NULL ? malloc_message : io_write_stderr);
    dump.cbopaque = cbopaque;
    dump.len = 0;
    io_buf_init(&dump.staging, dump_append, NULL);
    emitter_t em;
    emitter_init(&em, &dump.staging, true);
    emitter_compact(&em);

    ssize_t max;
    prof_recent_t *cursor = dump_start(&max);
    emitter_begin(&em);
    emitter_u(&em, "sample_interval", "", sample_interval);
    emitter_d(&em, "recent_alloc_max", "", max);
    emitter_open(&em, "recent_alloc", NULL, true);
    do {
        unsigned k = dump_copy_batch(&cursor, dump.len + dump.staging.len);
        for (unsigned i = 0; i < k; i++)
            dump_record(&em, &dump.snaps[i]);
        if (cursor == NULL) {
            emitter_close(&em);
            emitter_end(&em);
        }
        io_buf_flush(&dump.staging);
        dump_write_out();
    } while (cursor != NULL);

    mutex_lock(&prof_recent_lock);
    dump_finish_locked();
    mutex_unlock(&prof_recent_lock);
    pthread_mutex_unlock(&prof_recent_dump_lock);
}

/* ---- fork -------------------------------------------------------------------------------- */

void prof_recent_prefork(void) { mutex_lock(&prof_recent_lock); }

void prof_recent_postfork_parent(void) { mutex_unlock(&prof_recent_lock); }

/*
 * The dump lock is not taken at fork (a dump's callback may fork). In the child it is renewed,
 * and a dump another thread was running is over: its pinned records are unpinned and trimmed.
 * A dump the forking thread runs (fork from its callback) goes on in the child too.
 */
void prof_recent_postfork_child(void) {
    mutex_postfork_child(&prof_recent_lock);
    if (prof_recent_dumping && pthread_equal(prof_recent_dumper, pthread_self()))
        return;
    pthread_mutex_init(&prof_recent_dump_lock, NULL);
    if (prof_recent_dumping) {
        mutex_lock(&prof_recent_lock);
        dump_finish_locked();
        mutex_unlock(&prof_recent_lock);
    }
}
