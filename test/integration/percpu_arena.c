/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * percpu_arena:percpu (the sidecar sets it): opt.percpu_arena reads "percpu"; without an
 * explicit narenas there is one automatic arena per CPU of the affinity mask; a thread moved to
 * another CPU takes that CPU's arena (its number modulo opt.narenas) at its next allocation that
 * misses the thread cache; thread.arena refuses another automatic arena (EPERM), as jemalloc does,
 * and still binds the thread to a manual one, which the CPU then no longer overrides.
 */
#include "../test.h"

#include <sched.h>

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);
static mallctl_fn ctl;

static unsigned thread_arena(void) {
    unsigned ind = 9999;
    size_t len = sizeof(ind);
    expect_d_eq(ctl("thread.arena", &ind, &len, NULL, 0), 0);
    return ind;
}

static bool pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set) == 0 && sched_getcpu() == cpu;
}

/* An allocation past the thread cache (tcache_max is 32 KiB by default): a slow path. */
static void slow_alloc(void) { free(test_launder(malloc((size_t)1 << 20))); }

int main(void) {
    if (!test_allocator_active())
        return test_done();
    ctl = (mallctl_fn)test_sym("mallctl");
    require_true(ctl != NULL);
    const char *mode = NULL;
    size_t len = sizeof(mode);
    require_true(ctl("opt.percpu_arena", &mode, &len, NULL, 0) == 0);
    expect_true(mode != NULL && strcmp(mode, "percpu") == 0);
    unsigned narenas = 0;
    len = sizeof(narenas);
    require_true(ctl("opt.narenas", &narenas, &len, NULL, 0) == 0);
    cpu_set_t mask;
    require_true(sched_getaffinity(0, sizeof(mask), &mask) == 0);
    const char *env = getenv("MALLOC_CONF");
    if (env == NULL || strstr(env, "narenas:") == NULL)
        expect_zu_eq(narenas, (size_t)CPU_COUNT(&mask));
    require_true(narenas >= 1);
    /* Every CPU we may run on, in turn: the arena follows. */
    int seen = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && seen < 4; cpu++) {
        if (!CPU_ISSET(cpu, &mask) || !pin(cpu))
            continue;
        seen++;
        slow_alloc();
        expect_zu_eq(thread_arena(), (unsigned)cpu % narenas);
    }
    expect_true(seen >= 1);
    sched_setaffinity(0, sizeof(mask), &mask);
    /* Automatic arenas cannot be chosen by hand; a manual one can, and sticks. */
    if (narenas >= 2) {
        unsigned other = (thread_arena() + 1) % narenas;
        expect_d_eq(ctl("thread.arena", NULL, NULL, &other, sizeof(other)), EPERM);
    }
    unsigned manual = 0;
    len = sizeof(manual);
    require_true(ctl("arenas.create", &manual, &len, NULL, 0) == 0);
    expect_zu_ge(manual, narenas);
    expect_d_eq(ctl("thread.arena", NULL, NULL, &manual, sizeof(manual)), 0);
    slow_alloc();
    expect_zu_eq(thread_arena(), manual);
    return test_done();
}
