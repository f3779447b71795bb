/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The default arena count follows the CPUs a process may run on, not the machine's: in a
 * container or under `taskset -c 0`, opt.narenas (mallctl) is the number of CPUs in the affinity
 * mask, so 1 for one CPU, and threads spread over all of those arenas and no others.
 *
 * The parent runs this program again as a child under `taskset -c 0` (sched_setaffinity before
 * exec when taskset is missing), under `taskset -c 0,1` when two CPUs are available, and once
 * with MALLOC_CONF=narenas:3 (an explicit value wins). Each child prints "narenas N cpus M
 * maxarena K", K being the highest "thread.arena" among 16 threads started one after another
 * (each has chosen its arena before the next starts; all stay alive until the last has chosen),
 * so the least-loaded choice must use every arena up to N - 1 and none beyond. Children get no
 * MALLOC_CONF but the one the case sets; LD_PRELOAD is inherited, so the preload variant checks
 * the same.
 *
 * mallopt(M_ARENA_MAX, n) may raise the automatic count, but not past the arena kept for
 * oversize requests (index opt.narenas, found with arenas.lookup on an oversize block): a child
 * under narenas:3 that asks for 1000 still spreads its threads over arenas 0..2 only. It once
 * spread them over 0..15, the oversize arena among them.
 */
#include "../test.h"
#include <malloc.h>

#include <pthread.h>
#include <sched.h>
#include <semaphore.h>

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static mallctl_fn ctl;
static pthread_barrier_t all_chose;
static sem_t chose; /* threads start one at a time: arena_choose() sees every earlier choice */

static void *thread_arena(void *arg) {
    free(malloc(100)); /* the first call picks this thread's arena */
    unsigned ind = 0;
    size_t len = sizeof(ind);
    if (ctl("thread.arena", &ind, &len, NULL, 0) != 0) {
        ind = 9999;
    }
    *(unsigned *)arg = ind;
    sem_post(&chose);
    pthread_barrier_wait(&all_chose); /* all alive at once: they must spread */
    return NULL;
}

static int child(void) {
    ctl = (mallctl_fn)test_sym("mallctl");
    if (ctl == NULL) {
        printf("child: no mallctl\n");
        return 1;
    }
    unsigned narenas = 0;
    size_t len = sizeof(narenas);
    if (ctl("opt.narenas", &narenas, &len, NULL, 0) != 0) {
        printf("child: mallctl opt.narenas failed\n");
        return 1;
    }
    if (getenv("TEST_ARENA_MAX") != NULL) {
        if (mallopt(M_ARENA_MAX, atoi(getenv("TEST_ARENA_MAX"))) != 1) {
            printf("child: mallopt(M_ARENA_MAX) failed\n");
            return 1;
        }
        /* The oversize arena, if any, must be past every automatic one. */
        size_t threshold = 0;
        len = sizeof(threshold);
        if (ctl("opt.oversize_threshold", &threshold, &len, NULL, 0) == 0 && threshold != 0) {
            void *big = malloc(threshold);
            unsigned huge = 0;
            len = sizeof(huge);
            if (big == NULL || ctl("arenas.lookup", &huge, &len, &big, sizeof(big)) != 0) {
                printf("child: arenas.lookup of an oversize block failed\n");
                return 1;
            }
            free(big);
            printf("huge %u\n", huge);
        }
    }
    cpu_set_t set;
    int cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : -1;
    enum { NTHREADS = 16 };
    pthread_t t[NTHREADS];
    unsigned ind[NTHREADS], max = 0;
    pthread_barrier_init(&all_chose, NULL, NTHREADS);
    sem_init(&chose, 0, 0);
    for (int i = 0; i < NTHREADS; i++) {
        if (pthread_create(&t[i], NULL, thread_arena, &ind[i]) != 0) {
            return 1;
        }
        sem_wait(&chose);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(t[i], NULL);
        max = ind[i] > max ? ind[i] : max;
    }
    printf("narenas %u cpus %d maxarena %u\n", narenas, cpus, max);
    return 0;
}

static char self_path[4096];

/*
 * Runs the child pinned to CPUs 0..ncpus-1 with conf as MALLOC_CONF (NULL: none), and
 * arena_max (if not NULL) for mallopt(M_ARENA_MAX); parses what it prints.
 */
static char child_out[512];
static bool run_child_max(int ncpus, const char *conf, const char *arena_max, unsigned *narenas,
                          int *cpus, unsigned *max) {
    int fd = -1;
    pid_t pid = test_fork_piped(&fd, false);
    if (pid == 0) {
        unsetenv("MALLOC_CONF");
        unsetenv("TEST_ARENA_MAX");
        if (conf != NULL) {
            setenv("MALLOC_CONF", conf, 1);
        }
        if (arena_max != NULL) {
            setenv("TEST_ARENA_MAX", arena_max, 1);
        }
        const char *list = ncpus == 1 ? "0" : "0,1";
        execlp("taskset", "taskset", "-c", list, self_path, "--child", (char *)NULL);
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int i = 0; i < ncpus; i++) {
            CPU_SET(i, &set);
        }
        if (sched_setaffinity(0, sizeof(set), &set) != 0) {
            _exit(126);
        }
        execl(self_path, self_path, "--child", (char *)NULL);
        _exit(127);
    }
    char *out = child_out;
    int status = test_child_collect(fd, pid, child_out, sizeof(child_out));
    const char *line = strstr(out, "narenas ");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || line == NULL ||
        sscanf(line, "narenas %u cpus %d maxarena %u", narenas, cpus, max) != 3) {
        test_fail("child pinned to %d CPU(s), MALLOC_CONF=%s: status 0x%x, output \"%s\"", ncpus,
                  conf != NULL ? conf : "(none)", status, out);
        return false;
    }
    printf("pinned to %d CPU(s), MALLOC_CONF=%s: %s", ncpus, conf != NULL ? conf : "(none)", line);
    return true;
}

static bool run_child(int ncpus, const char *conf, unsigned *narenas, int *cpus, unsigned *max) {
    return run_child_max(ncpus, conf, NULL, narenas, cpus, max);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--child") == 0) {
        return child();
    }
    if (!test_allocator_active()) {
        return test_done();
    }
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
    require_true(n > 0);
    self_path[n] = '\0';

    cpu_set_t set;
    require_true(sched_getaffinity(0, sizeof(set), &set) == 0);
    bool have0 = CPU_ISSET(0, &set), have01 = have0 && CPU_ISSET(1, &set);
    if (!have0) {
        test_skip("CPU 0 is not in this process's affinity mask");
    }

    unsigned narenas = 0, max = 0;
    int cpus = 0;
    if (run_child(1, NULL, &narenas, &cpus, &max)) {
        expect_d_eq(cpus, 1);
        expect_zu_eq(narenas, 1);
        expect_zu_eq(max, 0); /* 16 live threads, all on arena 0 */
    }
    if (have01 && run_child(2, NULL, &narenas, &cpus, &max)) {
        expect_d_eq(cpus, 2);
        expect_zu_eq(narenas, 2);
        expect_zu_eq(max, 1); /* spread over arenas 0 and 1, and no further */
    }
    if (run_child(1, "narenas:3", &narenas, &cpus, &max)) {
        expect_zu_eq(narenas, 3);
        expect_zu_eq(max, 2);
    }
    /* M_ARENA_MAX cannot reach the oversize arena (index 3 here). */
    if (run_child_max(1, "narenas:3", "1000", &narenas, &cpus, &max)) {
        unsigned huge = 0;
        const char *h = strstr(child_out, "huge ");
        require_true(h != NULL && sscanf(h, "huge %u", &huge) == 1);
        expect_zu_eq(huge, 3);
        expect_zu_lt(max, huge);
        expect_zu_eq(max, 2);
    }
    /* Lowering it works: two arenas. */
    if (run_child_max(1, "narenas:3", "2", &narenas, &cpus, &max)) {
        expect_zu_eq(max, 1);
    }
    return test_done();
}
