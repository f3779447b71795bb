/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bionic's heap-walking interface: malloc_disable, malloc_enable, malloc_iterate.
 *
 * Threads allocate blocks of every size range (small, large, huge), free some of them (the freed
 * small ones stay in the threads' caches), and park. A walk over every writable mapping of
 * /proc/self/maps, with the heap disabled, must visit each live block exactly once with its
 * usable size, and no freed one. Then: a thread that allocates or frees while the heap is
 * disabled waits until it is enabled; fork between disable and enable leaves both sides
 * disabled until each enables; the disabling thread that allocates is stopped with a message.
 */
#include "../test.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>

typedef void iterate_cb_t(uintptr_t base, size_t size, void *arg);
static void (*p_disable)(void);
static void (*p_enable)(void);
static int (*p_iterate)(uintptr_t, size_t, iterate_cb_t *, void *);

#define NTHREADS 4
#define PER_THREAD 3000

typedef struct block_s {
    uintptr_t addr;
    size_t size;
} block_t;

static block_t live[NTHREADS][PER_THREAD];
static size_t nlive[NTHREADS];
static uintptr_t freed[NTHREADS][PER_THREAD];
static size_t nfreed[NTHREADS];

static pthread_barrier_t allocated; /* nobody frees until all have allocated */
static atomic_int parked;
static atomic_int release_threads;

static size_t pick_size(uint64_t *rng, unsigned i) {
    switch (i % 16) {
    case 0:
        return test_rand_range(rng, 16 << 10, 256 << 10); /* large */
    case 1:
        if (i % 160 == 1)
            return test_rand_range(rng, 3 << 20, 5 << 20); /* huge */
        return test_rand_range(rng, 4096, 14336);
    default:
        return test_rand_range(rng, 0, 2048); /* small, 0 included */
    }
}

static void *worker(void *arg) {
    unsigned t = (unsigned)(uintptr_t)arg;
    uint64_t rng = 0x9e3779b97f4a7c15ULL * (t + 1);
    void *mine[PER_THREAD];
    for (unsigned i = 0; i < PER_THREAD; i++) {
        mine[i] = malloc(pick_size(&rng, i));
        if (mine[i] == NULL)
            abort();
    }
    pthread_barrier_wait(&allocated);
    for (unsigned i = 0; i < PER_THREAD; i++) {
        if (i % 3 == 0) {
            freed[t][nfreed[t]++] = (uintptr_t)mine[i];
            free(mine[i]);
        } else {
            live[t][nlive[t]].addr = (uintptr_t)mine[i];
            live[t][nlive[t]++].size = malloc_usable_size(mine[i]);
        }
    }
    atomic_fetch_add(&parked, 1);
    while (!atomic_load(&release_threads))
        sched_yield();
    for (unsigned i = 0; i < nlive[t]; i++)
        free((void *)live[t][i].addr);
    return NULL;
}

/* What the walk saw: preallocated, because the callback may not allocate. */
#define MAX_VISITS (1u << 20)
static block_t *visits;
static size_t nvisits;

static void record(uintptr_t base, size_t size, void *arg) {
    (void)arg;
    if (nvisits < MAX_VISITS) {
        visits[nvisits].addr = base;
        visits[nvisits].size = size;
    }
    nvisits++;
}

static int cmp_block(const void *a, const void *b) {
    uintptr_t x = ((const block_t *)a)->addr, y = ((const block_t *)b)->addr;
    return x < y ? -1 : x > y;
}

static const block_t *find_visit(uintptr_t addr) {
    block_t key = {addr, 0};
    return bsearch(&key, visits, nvisits < MAX_VISITS ? nvisits : MAX_VISITS, sizeof(block_t),
                   cmp_block);
}

/* The writable mappings of /proc/self/maps, read with plain system calls before disabling. */
static char maps_text[1 << 20];
static uintptr_t ranges[4096][2];
static size_t nranges;

static void read_writable_mappings(void) {
    int fd = open("/proc/self/maps", O_RDONLY);
    require_true(fd >= 0);
    size_t len = 0;
    ssize_t n;
    while ((n = read(fd, maps_text + len, sizeof(maps_text) - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    maps_text[len] = '\0';
    nranges = 0;
    for (char *line = maps_text; *line != '\0' && nranges < 4096;) {
        char *end;
        uintptr_t lo = strtoull(line, &end, 16);
        uintptr_t hi = strtoull(end + 1, &end, 16);
        if (end[1] == 'r' && end[2] == 'w') {
            ranges[nranges][0] = lo;
            ranges[nranges++][1] = hi;
        }
        char *nl = strchr(line, '\n');
        if (nl == NULL)
            break;
        line = nl + 1;
    }
}

static void walk_everything(void) {
    nvisits = 0;
    for (size_t i = 0; i < nranges; i++)
        expect_d_eq(p_iterate(ranges[i][0], ranges[i][1] - ranges[i][0], record, NULL), 0);
}

static void check_walk(void) {
    pthread_t th[NTHREADS];
    pthread_barrier_init(&allocated, NULL, NTHREADS);
    for (unsigned t = 0; t < NTHREADS; t++)
        require_true(pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)t) == 0);
    while (atomic_load(&parked) != NTHREADS)
        sched_yield();
    read_writable_mappings();

    p_disable();
    walk_everything();
    p_enable();

    require_true(nvisits <= MAX_VISITS);
    qsort(visits, nvisits, sizeof(block_t), cmp_block);
    for (size_t i = 1; i < nvisits; i++) {
        if (visits[i].addr == visits[i - 1].addr)
            test_fail("block %#lx visited twice", (unsigned long)visits[i].addr);
    }
    size_t total = 0, missing = 0, badsize = 0, ghosts = 0;
    for (unsigned t = 0; t < NTHREADS; t++) {
        for (size_t i = 0; i < nlive[t]; i++) {
            const block_t *v = find_visit(live[t][i].addr);
            total++;
            if (v == NULL)
                missing++;
            else if (v->size != live[t][i].size)
                badsize++;
        }
        for (size_t i = 0; i < nfreed[t]; i++) {
            if (find_visit(freed[t][i]) != NULL)
                ghosts++;
        }
    }
    expect_zu_eq(missing, 0);
    expect_zu_eq(badsize, 0);
    expect_zu_eq(ghosts, 0);
    expect_zu_gt(total, (size_t)NTHREADS * PER_THREAD / 2);
    /* Every block reported (the program's own and libc's included) has its usable size. */
    size_t wrong = 0;
    for (size_t i = 0; i < nvisits; i++) {
        if (malloc_usable_size((void *)visits[i].addr) != visits[i].size)
            wrong++;
    }
    expect_zu_eq(wrong, 0);

    /* A range that holds one block reports that block only. */
    nvisits = 0;
    expect_d_eq(p_iterate(live[0][1].addr, 1, record, NULL), 0);
    expect_zu_eq(nvisits, 1);
    expect_true(nvisits == 1 && visits[0].addr == live[0][1].addr);

    atomic_store(&release_threads, 1);
    for (unsigned t = 0; t < NTHREADS; t++)
        pthread_join(th[t], NULL);

    /* Without malloc_disable the walk disables around itself; freed blocks are gone. */
    read_writable_mappings();
    walk_everything();
    /* Freed blocks may have been reused by the walk's own setup; most must be gone. */
    qsort(visits, nvisits < MAX_VISITS ? nvisits : MAX_VISITS, sizeof(block_t), cmp_block);
    size_t stale = 0;
    for (unsigned t = 0; t < NTHREADS; t++) {
        for (size_t i = 0; i < nlive[t]; i++)
            stale += find_visit(live[t][i].addr) != NULL;
    }
    expect_zu_lt(stale, 16);
}

/* ---- blocking ---------------------------------------------------------------------------- */

static atomic_int go, done_alloc, done_free, done_new;
static void *to_free;

static void *alloc_worker(void *arg) {
    (void)arg;
    free(malloc(64)); /* a live thread, with a cache */
    while (!atomic_load(&go))
        sched_yield();
    void *p = malloc(64);
    atomic_store(&done_alloc, 1);
    free(p);
    return NULL;
}

static void *free_worker(void *arg) {
    (void)arg;
    free(malloc(64));
    while (!atomic_load(&go))
        sched_yield();
    free(to_free);
    atomic_store(&done_free, 1);
    return NULL;
}

static void *new_worker(void *arg) {
    (void)arg;
    while (!atomic_load(&go))
        sched_yield();
    void *p = malloc(64); /* this thread's first call */
    atomic_store(&done_new, 1);
    free(p);
    return NULL;
}

static void check_blocking(void) {
    to_free = malloc(64);
    pthread_t a, f, n;
    require_true(pthread_create(&a, NULL, alloc_worker, NULL) == 0);
    require_true(pthread_create(&f, NULL, free_worker, NULL) == 0);
    require_true(pthread_create(&n, NULL, new_worker, NULL) == 0);
    usleep(20000);
    p_disable();
    atomic_store(&go, 1);
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    /* Whatever the scheduler did, none may have got through while disabled. */
    int a_done = atomic_load(&done_alloc), f_done = atomic_load(&done_free),
        n_done = atomic_load(&done_new);
    p_enable();
    expect_d_eq(a_done, 0);
    expect_d_eq(f_done, 0);
    expect_d_eq(n_done, 0);
    pthread_join(a, NULL);
    pthread_join(f, NULL);
    pthread_join(n, NULL);
    expect_d_eq(atomic_load(&done_alloc), 1);
    expect_d_eq(atomic_load(&done_free), 1);
    expect_d_eq(atomic_load(&done_new), 1);
}

/* ---- fork -------------------------------------------------------------------------------- */

static void *child_thread(void *arg) {
    void *p = malloc(300);
    if (p != NULL)
        memset(p, 1, 300);
    free(p);
    return arg;
}

static void check_fork(void) {
    void *keep = malloc(1000);
    p_disable();
    pid_t pid = fork();
    if (pid == 0) {
        /* The child is disabled too: it can walk, then enables and allocates as usual. */
        nvisits = 0;
        if (p_iterate((uintptr_t)keep, 1, record, NULL) != 0 || nvisits != 1)
            _exit(2);
        p_enable();
        void *p = malloc(5000);
        if (p == NULL)
            _exit(3);
        free(p);
        pthread_t t;
        if (pthread_create(&t, NULL, child_thread, NULL) != 0)
            _exit(4);
        pthread_join(t, NULL);
        _exit(0);
    }
    p_enable();
    require_true(pid > 0);
    int status = 0;
    expect_d_eq(waitpid(pid, &status, 0), pid);
    expect_true(WIFEXITED(status));
    expect_d_eq(WEXITSTATUS(status), 0);
    free(keep);

    /* The disabling thread may not allocate: stopped with a message, not a deadlock. */
    int fds[2];
    require_true(pipe(fds) == 0);
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        p_disable();
        void *volatile p = malloc(10);
        (void)p;
        _exit(0);
    }
    close(fds[1]);
    char msg[512];
    ssize_t len = read(fds[0], msg, sizeof(msg) - 1);
    close(fds[0]);
    msg[len > 0 ? len : 0] = '\0';
    expect_d_eq(waitpid(pid, &status, 0), pid);
    expect_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    expect_str_contains(msg, "malloc_disable");
}

int main(void) {
    if (!test_allocator_active())
        test_skip("liballocator is not the allocator here");
    p_disable = (void (*)(void))test_sym("malloc_disable");
    p_enable = (void (*)(void))test_sym("malloc_enable");
    p_iterate = (int (*)(uintptr_t, size_t, iterate_cb_t *, void *))test_sym("malloc_iterate");
    require_true(p_disable != NULL && p_enable != NULL && p_iterate != NULL);
    visits = malloc(MAX_VISITS * sizeof(block_t));
    require_ptr_not_null(visits);
    check_walk();
    check_blocking();
    check_fork();
    return test_done();
}
