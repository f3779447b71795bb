/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prof_recent_prog: the last-N records seen through the public interface, for prof_recent.sh.
 * Run with prof:true and lg_prof_sample:0 (every allocation sampled).
 *
 *   prof_recent_prog records M OUT   M allocations of sizes 1000 + i from alloc_site(); those
 *       with i % 3 == 0 are freed by this thread in free_site(), i % 3 == 1 by a second thread
 *       in thread_free_site(), the rest stay live. The threads are named "planter" and
 *       "freer" (thread.prof.name). No other allocation is made from the first
 *       of them to the dump, which is written to OUT.json; OUT.txt gets the run-time addresses
 *       of the three functions and the main thread's uid-free facts the checker needs.
 *   prof_recent_prog progress N      N live sampled allocations, then a thread that allocates
 *       and frees 64 bytes in a loop, timing each call, while this thread dumps ten times.
 *       Each batch's write callback waits (up to 60 s) until the allocating thread has made
 *       progress since the previous batch, so a dump that stopped sampled allocations for its
 *       whole length fails here. Then five more dumps that only write, each after this thread
 *       sleeps as long as the previous dump took, for comparison. Prints each dump's length and
 *       batch count, and the allocating thread's longest malloc or free (and how many took over
 *       10 us, 100 us, 1 ms) during those five dumps and during the sleeps.
 * Everything the dump writes goes to memory taken with mmap, so the callback allocates nothing.
 */
#define _GNU_SOURCE
#include <allocator.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    void (*write_cb)(void *, const char *);
    void *cbopaque;
} dump_args_t;

typedef struct {
    char *data;
    size_t len, cap;
    unsigned writes;
} out_t;

static void out_init(out_t *o, size_t cap) {
    o->data = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (o->data == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    o->cap = cap;
    o->len = 0;
    o->writes = 0;
}

static void out_append(out_t *o, const char *s) {
    size_t n = strlen(s);
    o->writes++;
    if (o->len + n + 1 > o->cap) {
        fprintf(stderr, "dump larger than %zu bytes\n", o->cap);
        _exit(2);
    }
    memcpy(o->data + o->len, s, n + 1);
    o->len += n;
}

static void write_file(const char *path, const char *s, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || write(fd, s, n) != (ssize_t)n || close(fd) != 0) {
        perror(path);
        exit(2);
    }
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- records ---- */

/* Sites the checker finds by name: not inlined, and not cloned under another name. */
#ifdef __clang__
#define SITE __attribute__((noinline))
#else
#define SITE __attribute__((noinline, noclone))
#endif

#define MAX_M 100000
static void *blocks[MAX_M];
static volatile unsigned sink_counter;

SITE static void alloc_site(unsigned i) {
    blocks[i] = malloc(1000 + i);
    __asm__ volatile("" ::: "memory");
    sink_counter++;
}

SITE static void free_site(unsigned i) {
    free(blocks[i]);
    __asm__ volatile("" ::: "memory");
    sink_counter++;
}

SITE static void thread_free_site(unsigned i) {
    free(blocks[i]);
    __asm__ volatile("" ::: "memory");
    sink_counter++;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int phase; /* 1: the helper may free; 2: it has */
static unsigned nplanted;

static void set_name(const char *name) {
    if (mallctl("thread.prof.name", NULL, NULL, &name, sizeof(name)) != 0) {
        fprintf(stderr, "thread.prof.name failed\n");
        exit(2);
    }
}

static void *freeing_thread(void *arg) {
    (void)arg;
    free(malloc(8)); /* this thread's state, before the planted sequence */
    set_name("freer");
    pthread_mutex_lock(&lock);
    while (phase != 1)
        pthread_cond_wait(&cond, &lock);
    for (unsigned i = 1; i < nplanted; i += 3)
        thread_free_site(i);
    phase = 2;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void out_cb(void *opaque, const char *s) { out_append(opaque, s); }

static int records(unsigned m, const char *base) {
    static out_t out;
    out_init(&out, (size_t)256 << 20);
    char path[4096];
    nplanted = m;
    set_name("planter");
    pthread_t t;
    pthread_create(&t, NULL, freeing_thread, NULL);
    /* Everything that might allocate before the planted sequence: stdio, the path. */
    snprintf(path, sizeof(path), "%s.txt", base);
    char facts[256];
    int flen = snprintf(facts, sizeof(facts), "alloc_site %p\nfree_site %p\nthread_free_site %p\n",
                        (void *)alloc_site, (void *)free_site, (void *)thread_free_site);
    write_file(path, facts, (size_t)flen);
    snprintf(path, sizeof(path), "%s.json", base);

    for (unsigned i = 0; i < m; i++)
        alloc_site(i);
    for (unsigned i = 0; i < m; i += 3)
        free_site(i);
    pthread_mutex_lock(&lock);
    phase = 1;
    pthread_cond_broadcast(&cond);
    while (phase != 2)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);

    dump_args_t args = {out_cb, &out};
    int err = mallctl("experimental.prof_recent.alloc_dump", NULL, NULL, &args, sizeof(args));
    if (err != 0) {
        fprintf(stderr, "alloc_dump: error %d\n", err);
        return 1;
    }
    write_file(path, out.data, out.len);
    pthread_join(t, NULL);
    printf("dump: %zu bytes in %u writes\n", out.len, out.writes);
    return 0;
}

/* ---- progress ---- */

static atomic_ulong progress_count;
static atomic_bool stop;

/*
 * The allocating thread's calls, by window: 1 while a dump runs, 2 while this thread sleeps as
 * long as the dump took (the machine's own noise, to compare with), 0 otherwise (not counted).
 */
enum { W_NONE, W_DUMP, W_IDLE, W_N };
static atomic_int window;
typedef struct {
    unsigned long pairs, over_10us, over_100us, over_1ms;
    uint64_t longest;
} lat_t;
static lat_t lat[W_N]; /* written by the allocating thread only */

static void lat_add(lat_t *l, uint64_t ns) {
    l->over_10us += ns > 10000;
    l->over_100us += ns > 100000;
    l->over_1ms += ns > 1000000;
    if (ns > l->longest)
        l->longest = ns;
}

static void *allocating_thread(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        int w = atomic_load(&window);
        uint64_t t0 = now_ns();
        void *volatile p = malloc(64); /* volatile: the pair may not be optimised away */
        uint64_t t1 = now_ns();
        free(p);
        uint64_t t2 = now_ns();
        lat_add(&lat[w], t1 - t0);
        lat_add(&lat[w], t2 - t1);
        lat[w].pairs++;
        atomic_fetch_add(&progress_count, 1);
    }
    return NULL;
}

static void sleep_ns(uint64_t ns) {
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

typedef struct {
    out_t out;
    unsigned long last;
    unsigned stalls;
    bool wait; /* wait for the allocating thread after each batch */
} progress_out_t;

/* After each batch: wait until the allocating thread has moved since the previous one. */
static void progress_cb(void *opaque, const char *s) {
    progress_out_t *p = opaque;
    out_append(&p->out, s);
    if (!p->wait)
        return;
    uint64_t deadline = now_ns() + 60ull * 1000000000u;
    while (atomic_load(&progress_count) == p->last) {
        if (now_ns() > deadline) {
            p->stalls++;
            break;
        }
        sleep_ns(20000);
    }
    p->last = atomic_load(&progress_count);
}

static int progress(unsigned n) {
    static progress_out_t po;
    out_init(&po.out, (size_t)256 << 20);
    for (unsigned i = 0; i < n; i++)
        blocks[i] = malloc(100 + i % 1000);
    pthread_t t;
    pthread_create(&t, NULL, allocating_thread, NULL);
    while (atomic_load(&progress_count) < 1000)
        sched_yield();
    int bad = 0;
    uint64_t last_dump = 150000000;
    /*
     * Dumps 0-4 wait for progress after each batch (the check); the waiting itself disturbs the
     * allocating thread (each wake-up of this thread may take its processor), so the latencies
     * are counted over dumps 5-9, which only write, each after an idle window as long.
     */
    for (int rep = 0; rep < 10; rep++) {
        po.wait = rep < 5;
        if (!po.wait) {
            atomic_store(&window, W_IDLE);
            sleep_ns(last_dump);
            atomic_store(&window, W_NONE);
        }
        po.out.len = 0;
        po.out.writes = 0;
        po.last = atomic_load(&progress_count);
        unsigned long before = po.last;
        dump_args_t args = {progress_cb, &po};
        atomic_store(&window, po.wait ? W_NONE : W_DUMP);
        uint64_t t0 = now_ns();
        int err = mallctl("experimental.prof_recent.alloc_dump", NULL, NULL, &args, sizeof(args));
        uint64_t t1 = now_ns();
        atomic_store(&window, W_NONE);
        last_dump = t1 - t0;
        unsigned long during = atomic_load(&progress_count) - before;
        unsigned nrec = 0;
        for (const char *q = strstr(po.out.data, "{\"size\":"); q != NULL;
             q = strstr(q + 1, "{\"size\":"))
            nrec++;
        printf("dump %d: %u records, %zu bytes in %u batches, %.1f ms; the allocating thread made "
               "%lu malloc/free pairs meanwhile\n",
               rep, nrec, po.out.len, po.out.writes, (double)(t1 - t0) / 1e6, during);
        if (err != 0 || nrec != n || po.out.writes < 2 || during == 0) {
            fprintf(stderr, "dump %d: error %d, %u records (want %u), %u batches, %lu pairs\n", rep,
                    err, nrec, n, po.out.writes, during);
            bad = 1;
        }
    }
    atomic_store(&stop, true);
    pthread_join(t, NULL);
    if (po.stalls != 0) {
        fprintf(stderr, "%u batches found the allocating thread stopped for 60 s\n", po.stalls);
        bad = 1;
    }
    static const char *const what[W_N] = {NULL, "during dumps 5-9", "idle windows as long"};
    for (int w = W_DUMP; w < W_N; w++)
        printf("allocating thread, %s: %lu malloc/free pairs, longest call %.1f us; calls over "
               "10 us %lu, over 100 us %lu, over 1 ms %lu\n",
               what[w], lat[w].pairs, (double)lat[w].longest / 1e3, lat[w].over_10us,
               lat[w].over_100us, lat[w].over_1ms);
    return bad;
}

int main(int argc, char **argv) {
    bool prof = false;
    size_t len = sizeof(prof);
    if (mallctl("config.prof", &prof, &len, NULL, 0) != 0 || !prof) {
        printf("SKIP: profiling is not built (config.prof is false)\n");
        return 77;
    }
    if (argc == 4 && strcmp(argv[1], "records") == 0) {
        unsigned m = (unsigned)atoi(argv[2]);
        return m > 0 && m <= MAX_M ? records(m, argv[3]) : 2;
    }
    if (argc == 3 && strcmp(argv[1], "progress") == 0) {
        unsigned n = (unsigned)atoi(argv[2]);
        return n > 0 && n <= MAX_M ? progress(n) : 2;
    }
    fprintf(stderr, "usage: %s records M OUT | progress N\n", argv[0]);
    return 2;
}
