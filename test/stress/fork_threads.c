/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fork while other threads allocate: worker threads allocate and free all the time while the main
 * thread (and, now and then, a worker) forks. Meanwhile a churner starts short threads one after
 * another (each allocates, and its key destructor allocates; some make their first call in the
 * last destructor round, so thread states are reaped), and a cycler creates, uses and destroys
 * arenas and explicit thread caches, so forks land inside thread start and exit and inside
 * arenas.create and arena.<i>.destroy. Each child:
 *   - runs under alarm(10), so an allocator lock left held across fork turns into a SIGALRM death
 *     the parent reports instead of a hung test;
 *   - allocates, checks and frees many sizes (small, large, huge, aligned, calloc, realloc);
 *   - frees blocks the parent allocated before the fork, after checking their contents;
 *   - starts a thread that allocates too, and forks a grandchild once in a while;
 *   - creates an arena and an explicit thread cache, uses and destroys them, reads statistics;
 *   - leaves with _exit(0), or a distinct code on a failed check.
 * The parent waits for each child and checks how it ended.
 */
#include "../test.h"

#include <allocator.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

enum { WORKERS = 2, FORKS = 200, PARENT_BLOCKS = 64 };

static atomic_bool stop;
static atomic_long worker_ops, churned_threads, cycled_arenas;
static atomic_int worker_forks_failed, churn_failures;

static unsigned char *parent_blocks[PARENT_BLOCKS];
static size_t parent_sizes[PARENT_BLOCKS];

static const test_size_band_t size_bands[] = {{800, 1, 1024}, {197, 1025, 32768}, {3, 32769, (size_t)2 << 20}};

/* Exit codes of a child that found something wrong. */
enum {
    CHILD_NULL = 10,
    CHILD_CONTENTS = 11,
    CHILD_ALIGN = 12,
    CHILD_ZERO = 13,
    CHILD_THREAD = 14,
    CHILD_GRANDCHILD = 15,
    CHILD_MALLCTL = 16
};

/* An arena and an explicit cache: create, use, destroy. Returns false if a call failed. */
static bool arena_and_tcache_cycle(void) {
    unsigned ind, tc;
    size_t sz = sizeof(ind);
    if (mallctl("arenas.create", &ind, &sz, NULL, 0) != 0)
        return false;
    void *a = mallocx(1000, MALLOCX_ARENA(ind) | MALLOCX_TCACHE_NONE);
    void *b = mallocx((size_t)3 << 20, MALLOCX_ARENA(ind) | MALLOCX_TCACHE_NONE);
    if (a == NULL || b == NULL)
        return false;
    memset(a, 1, 1000);
    dallocx(a, MALLOCX_TCACHE_NONE);
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.destroy", ind); /* frees b too */
    if (mallctl(name, NULL, NULL, NULL, 0) != 0)
        return false;
    sz = sizeof(tc);
    if (mallctl("tcache.create", &tc, &sz, NULL, 0) != 0)
        return false;
    void *c = mallocx(64, MALLOCX_TCACHE(tc));
    if (c == NULL)
        return false;
    dallocx(c, MALLOCX_TCACHE(tc));
    if (mallctl("tcache.destroy", NULL, NULL, &tc, sizeof(tc)) != 0)
        return false;
    uint64_t epoch = 1;
    size_t allocated;
    sz = sizeof(allocated);
    return mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)) == 0 &&
           mallctl("stats.allocated", &allocated, &sz, NULL, 0) == 0;
}

static pthread_key_t churn_key;

/* The value counts rounds (low byte), bit 8 marks a late thread: no call before its last round. */
static void churn_dtor(void *arg) {
    uintptr_t v = (uintptr_t)arg, round = v & 0xff, late = v >> 8;
    if (round < PTHREAD_DESTRUCTOR_ITERATIONS) {
        pthread_setspecific(churn_key, (void *)(v + 1));
        if (late)
            return;
    }
    void *p = test_launder(malloc(200 + round));
    if (p == NULL)
        atomic_fetch_add(&churn_failures, 1);
    free(p);
}

static void *short_thread(void *arg) {
    uintptr_t n = (uintptr_t)arg;
    if (n % 2 == 0) {
        free(test_launder(malloc(100 + n % 1000)));
        pthread_setspecific(churn_key, (void *)1);
    } else {
        pthread_setspecific(churn_key, (void *)(1 | (uintptr_t)1 << 8));
    }
    return NULL;
}

static void *churner(void *arg) {
    (void)arg;
    for (uintptr_t n = 0; !atomic_load_explicit(&stop, memory_order_relaxed); n++) {
        pthread_t t;
        if (pthread_create(&t, NULL, short_thread, (void *)n) != 0 ||
            pthread_join(t, NULL) != 0) {
            atomic_fetch_add(&churn_failures, 1);
            break;
        }
        atomic_fetch_add(&churned_threads, 1);
    }
    return NULL;
}

static void *cycler(void *arg) {
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        if (!arena_and_tcache_cycle()) {
            atomic_fetch_add(&churn_failures, 1);
            break;
        }
        atomic_fetch_add(&cycled_arenas, 1);
        usleep(100);
    }
    return NULL;
}

static void *child_thread(void *arg) {
    uint64_t rng = (uint64_t)(uintptr_t)arg;
    for (int i = 0; i < 100; i++) {
        size_t n = TEST_RAND_SIZE(&rng, size_bands);
        unsigned char *p = test_launder(malloc(n));
        if (p == NULL) {
            return (void *)1;
        }
        test_fill(p, n, (uint64_t)i);
        if (test_check_fill(p, n, (uint64_t)i) != n) {
            return (void *)1;
        }
        free(p);
    }
    return NULL;
}

/* Allocator work in a child; returns 0 or a CHILD_* code. */
static int child_work(uint64_t seed, bool may_fork, bool own_parent_blocks) {
    uint64_t rng = seed;
    /* The parent's blocks are intact and ours to free. */
    for (int i = 0; own_parent_blocks && i < PARENT_BLOCKS; i++) {
        if (test_check_fill(parent_blocks[i], parent_sizes[i], (uint64_t)i) != parent_sizes[i]) {
            return CHILD_CONTENTS;
        }
        free(parent_blocks[i]);
    }
    enum { NB = 64 };
    void *blocks[NB];
    size_t sizes[NB];
    for (int i = 0; i < NB; i++) {
        sizes[i] = TEST_RAND_SIZE(&rng, size_bands);
        if (i % 7 == 0) {
            blocks[i] = test_launder(calloc(1, sizes[i]));
            if (blocks[i] == NULL) {
                return CHILD_NULL;
            }
            if (test_find_not(blocks[i], sizes[i], 0) != sizes[i]) {
                return CHILD_ZERO;
            }
        } else if (i % 7 == 1) {
            size_t alignment = (size_t)64 << (i % 10);
            if (posix_memalign(&blocks[i], alignment, sizes[i]) != 0) {
                return CHILD_NULL;
            }
            if (((uintptr_t)test_launder(blocks[i]) & (alignment - 1)) != 0) {
                return CHILD_ALIGN;
            }
        } else {
            blocks[i] = test_launder(malloc(sizes[i]));
            if (blocks[i] == NULL) {
                return CHILD_NULL;
            }
        }
        test_fill(blocks[i], sizes[i], (uint64_t)i + 1000);
    }
    for (int i = 0; i < NB; i += 3) {
        size_t n = TEST_RAND_SIZE(&rng, size_bands);
        unsigned char *q = test_launder(realloc(blocks[i], n));
        if (q == NULL) {
            return CHILD_NULL;
        }
        size_t keep = n < sizes[i] ? n : sizes[i];
        uint64_t s = (uint64_t)i + 1000;
        if (keep >= 8 && memcmp(q, &s, 8) != 0) {
            return CHILD_CONTENTS;
        }
        blocks[i] = q;
        sizes[i] = n;
        test_fill(q, n, s);
    }
    for (int i = 0; i < NB; i++) {
        if (test_check_fill(blocks[i], sizes[i], (uint64_t)i + 1000) != sizes[i]) {
            return CHILD_CONTENTS;
        }
        free(blocks[i]);
    }
    /* Threads work in the child too. */
    pthread_t t;
    void *ret = (void *)1;
    if (pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)seed) != 0 ||
        pthread_join(t, &ret) != 0 || ret != NULL) {
        return CHILD_THREAD;
    }
    if (!arena_and_tcache_cycle()) {
        return CHILD_MALLCTL;
    }
    if (may_fork) {
        pid_t g = fork();
        if (g == 0) {
            alarm(10);
            _exit(child_work(seed + 1, false, false) == 0 ? 0 : 1);
        }
        int st;
        if (g < 0 || waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            return CHILD_GRANDCHILD;
        }
    }
    return 0;
}

static void make_parent_blocks(uint64_t *rng) {
    for (int i = 0; i < PARENT_BLOCKS; i++) {
        parent_sizes[i] = TEST_RAND_SIZE(rng, size_bands);
        parent_blocks[i] = test_launder(malloc(parent_sizes[i]));
        require_ptr_not_null(parent_blocks[i]);
        test_fill(parent_blocks[i], parent_sizes[i], (uint64_t)i);
    }
}

static void free_parent_blocks(void) {
    for (int i = 0; i < PARENT_BLOCKS; i++) {
        free(parent_blocks[i]);
        parent_blocks[i] = NULL;
    }
}

/* Forks one child that runs child_work; returns how it ended as a test check. */
static bool fork_and_check(uint64_t seed, bool may_fork, const char *who) {
    pid_t pid = fork();
    if (pid < 0) {
        test_check_(false);
        test_fail("%s: fork failed: %s", who, strerror(errno));
        return false;
    }
    if (pid == 0) {
        alarm(10);
        _exit(child_work(seed, may_fork, true));
    }
    int status;
    pid_t got;
    while ((got = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {
    }
    if (!test_check_(got == pid)) {
        test_fail("%s: waitpid: %s", who, strerror(errno));
        return false;
    }
    if (WIFSIGNALED(status)) {
        test_check_(false);
        test_fail("%s: child %d killed by signal %d%s", who, (int)pid, WTERMSIG(status),
                  WTERMSIG(status) == SIGALRM ? " (SIGALRM: deadlocked for 10 s after fork)" : "");
        return false;
    }
    if (!test_check_(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        test_fail("%s: child %d exited with %d (10 NULL, 11 contents, 12 alignment, 13 calloc "
                  "not zero, 14 thread, 15 grandchild, 16 mallctl)",
                  who, (int)pid, WEXITSTATUS(status));
        return false;
    }
    return true;
}

static void *worker(void *arg) {
    uintptr_t id = (uintptr_t)arg;
    uint64_t rng = 31337 + id;
    enum { SLOTS = 64 };
    static _Thread_local unsigned char *slots[SLOTS];
    static _Thread_local size_t sizes[SLOTS];
    long ops = 0;
    int forks = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        size_t k = (size_t)(test_rand(&rng) % SLOTS);
        if (slots[k] != NULL) {
            if (test_check_fill(slots[k], sizes[k], k + (id << 32)) != sizes[k]) {
                expect_fill(slots[k], sizes[k], k + (id << 32));
                break;
            }
            free(slots[k]);
            slots[k] = NULL;
        } else {
            sizes[k] =
                test_rand(&rng) % 64 == 0 ? TEST_RAND_SIZE(&rng, size_bands) : test_rand_range(&rng, 1, 2048);
            slots[k] = test_launder(malloc(sizes[k]));
            require_ptr_not_null(slots[k]);
            test_fill(slots[k], sizes[k], k + (id << 32));
        }
        /* Leave the forking thread and its children some CPU on a small machine. */
        if (ops % 4096 == 0) {
            usleep(200);
        }
        /* Worker 0 forks too, now and then, while the others keep going. */
        if (++ops % 50000 == 0 && id == 0 && forks < 10) {
            forks++;
            pid_t pid = fork();
            if (pid == 0) {
                alarm(10);
                void *p = malloc(100);
                free(p);
                p = malloc((size_t)1 << 20);
                free(p);
                _exit(p == NULL ? 1 : 0);
            }
            int st;
            if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                atomic_fetch_add(&worker_forks_failed, 1);
            }
        }
    }
    for (size_t k = 0; k < SLOTS; k++) {
        free(slots[k]);
    }
    atomic_fetch_add(&worker_ops, ops);
    return NULL;
}

int main(void) {
    test_allocator_active();
    require_true(pthread_key_create(&churn_key, churn_dtor) == 0);
    pthread_t workers[WORKERS], churn_thread, cycle_thread;
    for (uintptr_t i = 0; i < WORKERS; i++) {
        require_true(pthread_create(&workers[i], NULL, worker, (void *)i) == 0);
    }
    require_true(pthread_create(&churn_thread, NULL, churner, NULL) == 0);
    require_true(pthread_create(&cycle_thread, NULL, cycler, NULL) == 0);
    uint64_t rng = 4242;
    int ok = 0;
    for (int i = 0; i < FORKS; i++) {
        make_parent_blocks(&rng);
        char who[32];
        snprintf(who, sizeof(who), "fork %d", i);
        if (fork_and_check((uint64_t)i * 7919, i % 20 == 0, who)) {
            ok++;
        } else if (test_nfailed_ > 5) {
            free_parent_blocks();
            break;
        }
        free_parent_blocks();
    }
    atomic_store(&stop, true);
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(workers[i], NULL);
    }
    pthread_join(churn_thread, NULL);
    pthread_join(cycle_thread, NULL);
    expect_d_eq(ok, FORKS);
    expect_d_eq(atomic_load(&churn_failures), 0);
    expect_d_gt(atomic_load(&churned_threads), 0);
    expect_d_gt(atomic_load(&cycled_arenas), 0);
    expect_d_eq(atomic_load(&worker_forks_failed), 0);
    expect_d_gt(atomic_load(&worker_ops), 0);
    printf("%d forks, %ld worker operations, %ld short threads, %ld arenas cycled\n", ok,
           atomic_load(&worker_ops), atomic_load(&churned_threads), atomic_load(&cycled_arenas));
    return test_done();
}
