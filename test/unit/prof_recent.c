/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The last-N record store, fed fake frames and a fake clock: nothing is kept at capacity 0;
 * eviction takes the oldest and clears its block's slot; a free marks the record released with
 * its own thread, time and stack (and the thread's name, when it has one) and clears the slot, and
 * a free of an evicted record's block does nothing; shrinking evicts the oldest, -1 keeps
 * everything; records and stacks are recycled (a steady store takes no more base memory); deep
 * stacks keep 128 frames. The dump: jemalloc's compact JSON exactly; written in batches of at most
 * one buffer each; the records present when it began stay (new records, frees and a shrink during
 * the dump act on the others, and take effect on the pinned ones when it ends); one dumper at a
 * time; a dump from a dump's callback returns; a fork child whose parent was dumping in another
 * thread can dump.
 */
#include "allocator/internal/prof_recent.h"

#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

#include "allocator/internal/base.h"
#include "allocator/internal/nstime.h"
#include "allocator/internal/pages.h"
#include "unit.h"

static uint64_t fake_now;
static uint64_t fake_clock(void) { return fake_now; }

#define NSLOTS 4096
static prof_recent_t *slots[NSLOTS];

static void *frames_a[] = {(void *)0x1000, (void *)0x2000};
static void *frames_d[] = {(void *)0xabcdef};
static void *deep[200];

/* ---- Dump output ---- */

typedef struct {
    char *data;
    size_t len, cap;
    unsigned writes;
    size_t longest; /* the longest single write */
    void (*on_write)(unsigned nwrites);
} sink_t;

static sink_t sink;

static void sink_write(void *opaque, const char *s) {
    sink_t *k = opaque;
    size_t n = strlen(s);
    k->writes++;
    if (n > k->longest)
        k->longest = n;
    if (k->len + n + 1 > k->cap) {
        k->cap = (k->len + n + 1) * 2;
        k->data = realloc(k->data, k->cap);
    }
    memcpy(k->data + k->len, s, n + 1);
    k->len += n;
    if (k->on_write != NULL)
        k->on_write(k->writes);
}

static const char *dump_now(void (*on_write)(unsigned)) {
    sink.len = 0;
    sink.writes = 0;
    sink.longest = 0;
    sink.on_write = on_write;
    if (sink.data != NULL)
        sink.data[0] = '\0';
    prof_recent_dump(524288, sink_write, &sink);
    return sink.data;
}

/* How many times needle occurs in s. */
static unsigned count_of(const char *s, const char *needle) {
    unsigned n = 0;
    for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The sizes of the records in a dump, in order. */
static unsigned sizes_of(const char *s, size_t *out, unsigned cap) {
    unsigned n = 0;
    for (const char *p = strstr(s, "{\"size\":"); p != NULL && n < cap;
         p = strstr(p + 1, "{\"size\":"))
        out[n++] = strtoull(p + 8, NULL, 10);
    return n;
}

static void reset(void) {
    prof_recent_max_set(0);
    check_eq(prof_recent_count(), 0);
    memset(slots, 0, sizeof(slots));
}

/* ---- Tests ---- */

static void test_off(void) {
    check_eq(prof_recent_max_get(), 0);
    prof_recent_alloc(1, NULL, 10, 16, frames_a, 2, &slots[0]);
    check(slots[0] == NULL);
    check_eq(prof_recent_count(), 0);
    check_str(dump_now(NULL),
              "{\"sample_interval\":524288,\"recent_alloc_max\":0,\"recent_alloc\":[]}");
    check_eq(sink.writes, 1);
}

static void test_exact_json(void) {
    reset();
    check_eq(prof_recent_max_set(3), 0);
    fake_now = 100;
    prof_recent_alloc(7, NULL, 10, 16, frames_a, 2, &slots[0]);
    fake_now = 150;
    prof_recent_alloc(9, NULL, 1000, 1024, NULL, 0, &slots[1]);
    check(slots[0] != NULL && slots[1] != NULL);
    fake_now = 200;
    prof_recent_dalloc(8, NULL, &slots[0], frames_d, 1);
    check(slots[0] == NULL);
    prof_recent_dalloc(8, NULL, &slots[0], frames_d, 1); /* no record any more: nothing */
    check_str(dump_now(NULL),
              "{\"sample_interval\":524288,\"recent_alloc_max\":3,\"recent_alloc\":["
              "{\"size\":10,\"usize\":16,\"released\":true,\"alloc_thread_uid\":7,"
              "\"alloc_time\":100,\"alloc_trace\":[\"0x1000\",\"0x2000\"],"
              "\"dalloc_thread_uid\":8,\"dalloc_time\":200,\"dalloc_trace\":[\"0xabcdef\"]},"
              "{\"size\":1000,\"usize\":1024,\"released\":false,\"alloc_thread_uid\":9,"
              "\"alloc_time\":150,\"alloc_trace\":[]}]}");
    check_eq(sink.writes, 1);
}

/* Thread names (thread.prof.name), as jemalloc writes them: only when set, escaped, cut. */
static void test_names(void) {
    reset();
    prof_recent_max_set(3);
    fake_now = 300;
    prof_recent_alloc(4, "worker \"a\"", 32, 32, NULL, 0, &slots[0]);
    prof_recent_alloc(5, "", 48, 48, frames_d, 1, &slots[1]);
    fake_now = 400;
    prof_recent_dalloc(6, "reaper", &slots[0], frames_d, 1);
    prof_recent_dalloc(7, NULL, &slots[1], NULL, 0);
    check_str(dump_now(NULL),
              "{\"sample_interval\":524288,\"recent_alloc_max\":3,\"recent_alloc\":["
              "{\"size\":32,\"usize\":32,\"released\":true,\"alloc_thread_uid\":4,"
              "\"alloc_thread_name\":\"worker \\\"a\\\"\",\"alloc_time\":300,\"alloc_trace\":[],"
              "\"dalloc_thread_uid\":6,\"dalloc_thread_name\":\"reaper\",\"dalloc_time\":400,"
              "\"dalloc_trace\":[\"0xabcdef\"]},"
              "{\"size\":48,\"usize\":48,\"released\":true,\"alloc_thread_uid\":5,"
              "\"alloc_time\":300,\"alloc_trace\":[\"0xabcdef\"],"
              "\"dalloc_thread_uid\":7,\"dalloc_time\":400,\"dalloc_trace\":[]}]}");
    /* A long name keeps its first PROF_RECENT_NAME_MAX bytes, beside a full stack. */
    char name[400];
    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    reset();
    prof_recent_max_set(1);
    prof_recent_alloc(1, name, 1, 16, deep, 200, &slots[0]);
    prof_recent_dalloc(1, name, &slots[0], deep, 200);
    const char *json = dump_now(NULL);
    name[PROF_RECENT_NAME_MAX] = '\0';
    char want[sizeof(name) + 32];
    snprintf(want, sizeof(want), "\"alloc_thread_name\":\"%s\",", name);
    check(strstr(json, want) != NULL);
    snprintf(want, sizeof(want), "\"dalloc_thread_name\":\"%s\",", name);
    check(strstr(json, want) != NULL);
    check_eq(count_of(json, "\"0x"), 2 * 128);
}

static void test_eviction(void) {
    reset();
    prof_recent_max_set(3);
    for (unsigned i = 0; i < 5; i++)
        prof_recent_alloc(1, NULL, i + 1, 16, frames_a, 2, &slots[i]);
    check_eq(prof_recent_count(), 3);
    /* The two oldest went, and their blocks' links with them. */
    check(slots[0] == NULL && slots[1] == NULL);
    check(slots[2] != NULL && slots[3] != NULL && slots[4] != NULL);
    size_t sizes[8];
    check_eq(sizes_of(dump_now(NULL), sizes, 8), 3);
    check(sizes[0] == 3 && sizes[1] == 4 && sizes[2] == 5);
    /* A freed record is evicted in its turn like any other. */
    prof_recent_dalloc(2, NULL, &slots[2], frames_d, 1);
    prof_recent_alloc(1, NULL, 6, 16, frames_a, 2, &slots[5]);
    check_eq(sizes_of(dump_now(NULL), sizes, 8), 3);
    check(sizes[0] == 4 && sizes[1] == 5 && sizes[2] == 6);
    check_eq(count_of(sink.data, "\"released\":true"), 0);
}

/*
 * A block freed without the store hearing of it (arena reset): its metadata, slot included, is
 * reused by a new sampled block, which gets its own record; evicting the stale record leaves the
 * new link alone, and the new block's free releases the new record.
 */
static void test_stale_link(void) {
    reset();
    prof_recent_max_set(2);
    prof_recent_alloc(1, NULL, 111, 112, frames_a, 2, &slots[0]);
    slots[0] = NULL; /* reused: a sampled block's slot starts NULL */
    prof_recent_alloc(1, NULL, 222, 224, frames_a, 2, &slots[0]);
    prof_recent_t *fresh = slots[0];
    prof_recent_alloc(1, NULL, 333, 336, frames_a, 2, &slots[1]); /* evicts the stale record */
    check(slots[0] == fresh);
    prof_recent_dalloc(2, NULL, &slots[0], frames_d, 1);
    check(slots[0] == NULL);
    size_t sizes[4];
    check_eq(sizes_of(dump_now(NULL), sizes, 4), 2);
    check(sizes[0] == 222 && sizes[1] == 333);
    check(strstr(sink.data, "{\"size\":222,\"usize\":224,\"released\":true,") != NULL);
}

static void test_shrink_and_unlimited(void) {
    reset();
    check_eq(prof_recent_max_set(-1), 0);
    for (unsigned i = 0; i < 1000; i++)
        prof_recent_alloc(1, NULL, i, 16, frames_a, 2, &slots[i]);
    check_eq(prof_recent_count(), 1000);
    check_eq(count_of(dump_now(NULL), "{\"size\":"), 1000);
    check(strstr(sink.data, "\"recent_alloc_max\":-1,") != NULL);
    prof_recent_dalloc(3, NULL, &slots[995], frames_d, 1);
    check_eq(prof_recent_max_set(10), -1);
    check_eq(prof_recent_count(), 10);
    unsigned linked = 0;
    for (unsigned i = 0; i < 1000; i++)
        linked += slots[i] != NULL;
    check_eq(linked, 9); /* 990..999 kept, 995 freed */
    check(slots[989] == NULL && slots[990] != NULL && slots[999] != NULL);
    size_t sizes[16];
    check_eq(sizes_of(dump_now(NULL), sizes, 16), 10);
    check(sizes[0] == 990 && sizes[9] == 999);
    check_eq(count_of(sink.data, "\"released\":true"), 1);
    check_eq(prof_recent_max_set(0), 10);
    check(slots[999] == NULL);
    check_eq(prof_recent_count(), 0);
}

static void test_recycling(void) {
    reset();
    prof_recent_max_set(100);
    for (unsigned i = 0; i < 100; i++) {
        prof_recent_alloc(1, NULL, i, 16, deep, 1 + i % 128, &slots[i]);
        prof_recent_dalloc(1, NULL, &slots[i], deep, 1 + (i * 7) % 128);
    }
    size_t before = base_allocated_bytes();
    for (unsigned round = 0; round < 20; round++) {
        for (unsigned i = 0; i < 100; i++) {
            prof_recent_alloc(1, NULL, i, 16, deep, 1 + i % 128, &slots[i]);
            prof_recent_dalloc(1, NULL, &slots[i], deep, 1 + (i * 7) % 128);
        }
    }
    check_eq(base_allocated_bytes(), before);
    /* Deeper than 128: the innermost 128 frames. */
    reset();
    prof_recent_max_set(1);
    prof_recent_alloc(1, NULL, 1, 16, deep, 200, &slots[0]);
    check_eq(count_of(dump_now(NULL), "\"0x"), 128);
    check(strstr(sink.data, "\"0x7f\"]") != NULL); /* deep[127] */
}

/* ---- A dump while the store changes ---- */

#define PINNED 50

/* During the first batch's write: new records, frees and a shrink. */
static void mid_dump(unsigned nwrites) {
    if (nwrites != 1)
        return;
    check_eq(prof_recent_count(), PINNED);
    /* 60 new records: they evict only each other, keeping the newest PINNED of them. */
    for (unsigned i = 0; i < 60; i++)
        prof_recent_alloc(2, NULL, 1000 + i, 16, frames_a, 2, &slots[100 + i]);
    check_eq(prof_recent_count(), 2 * PINNED);
    unsigned pinned_linked = 0;
    for (unsigned i = 0; i < PINNED; i++)
        pinned_linked += slots[i] != NULL;
    check_eq(pinned_linked, PINNED);
    check(slots[100 + 9] == NULL && slots[100 + 10] != NULL);
    /* Free the newest pinned record (its batch is still to come) and the oldest (written). */
    prof_recent_dalloc(3, NULL, &slots[PINNED - 1], frames_d, 1);
    prof_recent_dalloc(3, NULL, &slots[0], frames_d, 1);
    /* Shrink: the new records go down to 20 now, the pinned ones wait for the end. */
    check_eq(prof_recent_max_set(20), PINNED);
    check_eq(prof_recent_count(), PINNED + 20);
    check(slots[1] != NULL);
    /* A dump from inside the dump's callback returns rather than waiting for itself. */
    prof_recent_dump(1, sink_write, &sink);
}

static void test_dump_during_changes(void) {
    reset();
    prof_recent_max_set(PINNED);
    for (unsigned i = 0; i < PINNED; i++)
        prof_recent_alloc(1, NULL, i + 1, 16, deep, 128, &slots[i]);
    const char *json = dump_now(mid_dump);
    /* 128 frames a record: a buffer holds fewer than 20, so several batches, each one write. */
    check(sink.writes >= 3);
    check(sink.longest < PROF_RECENT_BUF_SIZE);
    size_t sizes[2 * PINNED];
    check_eq(sizes_of(json, sizes, 2 * PINNED), PINNED);
    bool in_order = true;
    for (unsigned i = 0; i < PINNED; i++)
        in_order &= sizes[i] == i + 1;
    check(in_order);
    check(strstr(json, "\"recent_alloc_max\":50,") != NULL);
    check(json[sink.len - 1] == '}' && json[sink.len - 2] == ']');
    /* The newest pinned record was freed before its batch: released, with the free's stack. */
    check_eq(count_of(json, "\"released\":true"), 1);
    check(strstr(json, "{\"size\":50,\"usize\":16,\"released\":true,") != NULL);
    check(strstr(json, "\"dalloc_thread_uid\":3,") != NULL);
    /* After the dump: the newest 20, the pinned ones evicted and unlinked. */
    check_eq(prof_recent_count(), 20);
    unsigned pinned_linked = 0;
    for (unsigned i = 0; i < PINNED; i++)
        pinned_linked += slots[i] != NULL;
    check_eq(pinned_linked, 0);
    check_eq(sizes_of(dump_now(NULL), sizes, 2 * PINNED), 20);
    check(sizes[0] == 1040 && sizes[19] == 1059);
}

/* ---- One dumper at a time ---- */

static sink_t sink2;
static volatile bool second_started;

static void *second_dumper(void *arg) {
    (void)arg;
    second_started = true;
    prof_recent_dump(7, sink_write, &sink2);
    return NULL;
}

static pthread_t second;

static void start_second(unsigned nwrites) {
    if (nwrites != 1)
        return;
    pthread_create(&second, NULL, second_dumper, NULL);
    while (!second_started)
        sched_yield();
    /* Given time to run, the second dump still must not write while this one is going. */
    usleep(50 * 1000);
    check_eq(sink2.writes, 0);
}

static void test_one_dumper(void) {
    const char *json = dump_now(start_second);
    pthread_join(second, NULL);
    check(sink.writes >= 1 && sink2.writes >= 1);
    check(strncmp(json, "{\"sample_interval\":524288,", 26) == 0);
    check(strncmp(sink2.data, "{\"sample_interval\":7,", 21) == 0);
    check_eq(count_of(sink2.data, "{\"sample_interval\""), 1);
}

/* ---- fork while another thread dumps ---- */

static pthread_mutex_t park_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cond = PTHREAD_COND_INITIALIZER;
static int park_state; /* 1: the dumper is in its callback; 2: let it go */

static void park(unsigned nwrites) {
    if (nwrites != 1)
        return;
    pthread_mutex_lock(&park_lock);
    park_state = 1;
    pthread_cond_broadcast(&park_cond);
    while (park_state != 2)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
}

static void *parked_dumper(void *arg) {
    (void)arg;
    dump_now(park);
    return NULL;
}

static void test_fork_during_dump(void) {
    reset();
    prof_recent_max_set(3);
    for (unsigned i = 0; i < 5; i++)
        prof_recent_alloc(1, NULL, i + 1, 16, frames_a, 2, &slots[i]);
    pthread_t t;
    pthread_create(&t, NULL, parked_dumper, NULL);
    pthread_mutex_lock(&park_lock);
    while (park_state != 1)
        pthread_cond_wait(&park_cond, &park_lock);
    pthread_mutex_unlock(&park_lock);
    /* The dumper holds the dump lock: new records are kept beside the pinned ones. */
    prof_recent_alloc(1, NULL, 6, 16, frames_a, 2, &slots[5]);
    check_eq(prof_recent_count(), 4);
    /* The allocator's atfork handlers (this test's malloc is the library's) run the hooks. */
    pid_t pid = fork();
    if (pid == 0) {
        /* The parent's dump is over here: unpinned and trimmed, and a dump can run. */
        sink_t mine = {0};
        prof_recent_dump(1, sink_write, &mine);
        size_t sizes[8];
        unsigned n = sizes_of(mine.data, sizes, 8);
        _exit(prof_recent_count() == 3 && n == 3 && sizes[0] == 4 && sizes[2] == 6 ? 0 : 1);
    }
    int status = -1;
    check(pid > 0 && waitpid(pid, &status, 0) == pid);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    pthread_mutex_lock(&park_lock);
    park_state = 2;
    pthread_cond_broadcast(&park_cond);
    pthread_mutex_unlock(&park_lock);
    pthread_join(t, NULL);
    check_eq(prof_recent_count(), 3);
}

/* ---- Threads recording and freeing while dumps run and the capacity changes ---- */

#define NWORKERS 4
#define WORKER_SLOTS 64
/*
 * Operations a worker makes before it idles until the end. Unbounded, four workers taking the
 * store's lock back to back kept the dumping thread waiting at every batch (the lock favours the
 * thread that released it), and in a slow build on busy cores the 60 rounds of dumps took longer
 * than the test's limit.
 */
#define WORKER_OPS_MAX 20000
static prof_recent_t *worker_slots[NWORKERS][WORKER_SLOTS];
static volatile bool workers_stop;
static volatile unsigned long worker_ops[NWORKERS];

static bool workers_made(unsigned long ops) {
    for (unsigned w = 0; w < NWORKERS; w++)
        if (worker_ops[w] < ops)
            return false;
    return true;
}

static void *worker(void *arg) {
    unsigned w = (unsigned)(uintptr_t)arg;
    for (unsigned long i = 0; !workers_stop; i++) {
        if (worker_ops[w] >= WORKER_OPS_MAX) {
            usleep(1000);
            continue;
        }
        prof_recent_t **slot = &worker_slots[w][i % WORKER_SLOTS];
        /* A block is freed before its slot is used again, as prof frees a block first. */
        prof_recent_dalloc(w, "w", slot, deep, (unsigned)(i % 40));
        check(*slot == NULL);
        prof_recent_alloc(w, NULL, i, 16, deep, (unsigned)(1 + i % 130), slot);
        worker_ops[w]++;
    }
    return NULL;
}

static void test_concurrent(void) {
    reset();
    prof_recent_max_set(200);
    pthread_t t[NWORKERS];
    for (unsigned w = 0; w < NWORKERS; w++)
        pthread_create(&t[w], NULL, worker, (void *)(uintptr_t)w);
    static const ssize_t caps[] = {200, 50, -1, 0, 300, 1};
    /* At least 60 rounds, and until every worker has done its share meanwhile. */
    for (unsigned round = 0; round < 60 || !workers_made(2000); round++) {
        ssize_t cap = caps[round % 6];
        prof_recent_max_set(cap);
        const char *json = dump_now(NULL);
        unsigned n = count_of(json, "{\"size\":");
        if (cap >= 0)
            check(n <= (size_t)cap * 2); /* what it pinned, beside at most cap new ones */
        check(json[sink.len - 1] == '}');
        size_t held = prof_recent_count();
        if (cap >= 0)
            check(held <= (size_t)cap + NWORKERS); /* trimmed at the end; workers add since */
    }
    /*
     * Bounded before the workers stop: a last round at -1 (unlimited) keeps every record the
     * workers made while it dumped, tens of thousands in a slow build (UBSan, two busy cores),
     * and the dump below would then write them all (it ran past the 120 s limit).
     */
    prof_recent_max_set(4 * NWORKERS * WORKER_SLOTS);
    workers_stop = true;
    for (unsigned w = 0; w < NWORKERS; w++)
        pthread_join(t[w], NULL);
    /* Every slot still linked has a record, and freeing them all unlinks them all. */
    prof_recent_max_set(-1);
    size_t linked = 0;
    for (unsigned w = 0; w < NWORKERS; w++)
        for (unsigned i = 0; i < WORKER_SLOTS; i++)
            linked += worker_slots[w][i] != NULL;
    check(linked <= prof_recent_count());
    for (unsigned w = 0; w < NWORKERS; w++)
        for (unsigned i = 0; i < WORKER_SLOTS; i++) {
            prof_recent_dalloc(w, NULL, &worker_slots[w][i], NULL, 0);
            check(worker_slots[w][i] == NULL);
        }
    check_eq(count_of(dump_now(NULL), "\"released\":false"), 0);
}

int main(void) {
    free(malloc(1)); /* boot the allocator (and its atfork handlers) before the store is used */
    nstime_hook = fake_clock;
    for (unsigned i = 0; i < 200; i++)
        deep[i] = (void *)(uintptr_t)i;
    test_off();
    test_exact_json();
    test_names();
    test_eviction();
    test_stale_link();
    test_shrink_and_unlimited();
    test_recycling();
    test_dump_during_changes();
    test_one_dumper();
    test_fork_during_dump();
    test_concurrent();
    return unit_finish("prof_recent");
}
