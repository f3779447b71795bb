/*
 * Two threads destroy the same manual arena at once. Exactly one may succeed; the other must get
 * EFAULT and leave the arena alone. A destroy that looked the arena up before the first one
 * finished, and acted on it after, would destroy it a second time: put it on the spare list
 * twice, so that two later arenas.create calls share one arena under two indices.
 *
 * Each round: the main thread creates an arena and allocates from it, the two racers destroy it
 * together; then the main thread creates two arenas, allocates from each, and checks that
 * arenas.lookup finds each block in its own arena and that writing one block does not change
 * the other, before destroying both.
 */
#include "../test.h"

#include <allocator.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

enum { ROUNDS = 30000 };

static atomic_bool stop;
static pthread_barrier_t start, done;
static unsigned shared_ind;
static int results[2];

static void *racer(void *arg) {
    int me = (int)(uintptr_t)arg;
    char name[64];
    for (;;) {
        pthread_barrier_wait(&start);
        if (atomic_load(&stop))
            break;
        snprintf(name, sizeof(name), "arena.%u.destroy", shared_ind);
        results[me] = mallctl(name, NULL, NULL, NULL, 0);
        pthread_barrier_wait(&done);
    }
    return NULL;
}

static unsigned arena_create(void) {
    unsigned ind = 0;
    size_t sz = sizeof(ind);
    require_true(mallctl("arenas.create", &ind, &sz, NULL, 0) == 0);
    return ind;
}

static unsigned arena_of(void *p) {
    unsigned ind = UINT_MAX;
    size_t sz = sizeof(ind);
    if (mallctl("arenas.lookup", &ind, &sz, &p, sizeof(p)) != 0)
        return UINT_MAX;
    return ind;
}

static void arena_destroy(unsigned ind) {
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.destroy", ind);
    expect_d_eq(mallctl(name, NULL, NULL, NULL, 0), 0);
}

int main(void) {
    test_allocator_active();
    require_true(pthread_barrier_init(&start, NULL, 3) == 0);
    require_true(pthread_barrier_init(&done, NULL, 3) == 0);
    pthread_t racers[2];
    for (int i = 0; i < 2; i++)
        require_true(pthread_create(&racers[i], NULL, racer, (void *)(uintptr_t)i) == 0);
    long both = 0, neither = 0, not_efault = 0, shared = 0;
    for (int r = 0; r < ROUNDS; r++) {
        shared_ind = arena_create();
        require_ptr_not_null(mallocx(100, MALLOCX_ARENA(shared_ind) | MALLOCX_TCACHE_NONE));
        pthread_barrier_wait(&start);
        pthread_barrier_wait(&done);
        int ok = (results[0] == 0) + (results[1] == 0);
        both += ok == 2;
        neither += ok == 0;
        not_efault += ok == 1 && results[0] != EFAULT && results[1] != EFAULT;

        unsigned a = arena_create(), b = arena_create();
        unsigned char *pa = mallocx(4000, MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE);
        unsigned char *pb = mallocx(4000, MALLOCX_ARENA(b) | MALLOCX_TCACHE_NONE);
        require_true(pa != NULL && pb != NULL);
        memset(pa, 0xa, 4000);
        memset(pb, 0xb, 4000);
        if (a == b || arena_of(pa) != a || arena_of(pb) != b || pa == pb ||
            test_find_not(pa, 4000, 0xa) != 4000) {
            shared++;
            break; /* the arenas are mixed up: going on could crash */
        }
        arena_destroy(a);
        arena_destroy(b);
    }
    atomic_store(&stop, true);
    pthread_barrier_wait(&start);
    for (int i = 0; i < 2; i++)
        pthread_join(racers[i], NULL);
    expect_d_eq(both, 0);
    expect_d_eq(neither, 0);
    expect_d_eq(not_efault, 0);
    expect_d_eq(shared, 0);
    return test_done();
}
