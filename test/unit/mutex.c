/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mutex: an uncontended lock counts nothing; a lock() that finds the mutex held is counted once
 * (the n_waiting of the statistics), whether or not the waiter had to sleep; many threads taking
 * one lock, with holders descheduled now and then, all finish with their increments intact;
 * debug builds abort on a lock-order reversal, and default builds keep no witness.
 */
#include "allocator/internal/mutex.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "allocator/internal/os.h"
#include "unit.h"

static mutex_t lock = MUTEX_INITIALIZER(RANK_BIN);
static int waiter_tid;

static void *waiter(void *arg) {
    (void)arg;
    __atomic_store_n(&waiter_tid, os_gettid(), __ATOMIC_RELEASE);
    mutex_lock(&lock);
    mutex_unlock(&lock);
    return NULL;
}

/* Wait (up to about 10 s on a busy machine) for thread tid to be asleep in the kernel. */
static char wait_asleep(int tid) {
    char state = 0;
    for (int i = 0; i < 10000 && state != 'S'; i++) {
        state = os_thread_probe(tid).state;
        if (state != 'S') {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    return state;
}

enum { NTHREADS = 4, NITERS = 20000 };
static unsigned long shared_count;

static void *hammer(void *arg) {
    (void)arg;
    for (int i = 0; i < NITERS; i++) {
        mutex_lock(&lock);
        unsigned long v = shared_count; /* a torn read-modify-write if exclusion failed */
        if (i % 64 == 0)
            sched_yield(); /* a holder descheduled now and then */
        shared_count = v + 1;
        mutex_unlock(&lock);
    }
    return NULL;
}

int main(void) {
    /* Uncontended, and a trylock of a free lock: nothing counted. */
    mutex_lock(&lock);
    mutex_unlock(&lock);
    check(mutex_trylock(&lock));
    mutex_unlock(&lock);
    check_eq(lock.ncontended, 0);

    /* A trylock of a held lock fails and counts nothing (it never waits). */
    mutex_lock(&lock);
    check(!mutex_trylock(&lock));
    check(!mutex_trylock_unordered(&lock));
    check_eq(lock.ncontended, 0);

    /* A waiter that finds it held sleeps until the holder lets go, and is counted once. */
    pthread_t th;
    check(pthread_create(&th, NULL, waiter, NULL) == 0);
    int tid;
    while ((tid = __atomic_load_n(&waiter_tid, __ATOMIC_ACQUIRE)) == 0)
        sched_yield();
    check_eq(wait_asleep(tid), 'S');
    mutex_unlock(&lock);
    check(pthread_join(th, NULL) == 0);
    check_eq(lock.ncontended, 1);

    /* Many threads on one lock: exclusion holds and all finish. */
    pthread_t ths[NTHREADS];
    for (int i = 0; i < NTHREADS; i++)
        check(pthread_create(&ths[i], NULL, hammer, NULL) == 0);
    for (int i = 0; i < NTHREADS; i++)
        check(pthread_join(ths[i], NULL) == 0);
    check_eq(shared_count, (unsigned long)NTHREADS * NITERS);

    /* The witness: taking a bin lock while holding an extents lock aborts in debug builds. */
    pid_t pid = fork();
    if (pid == 0) {
        static mutex_t outer = MUTEX_INITIALIZER(RANK_EXTENTS);
        static mutex_t inner = MUTEX_INITIALIZER(RANK_BIN);
        close(2); /* the expected report is not this test's output */
        mutex_lock(&outer);
        mutex_lock(&inner);
        mutex_unlock(&inner);
        mutex_unlock(&outer);
        _exit(0);
    }
    int status;
    check(waitpid(pid, &status, 0) == pid);
    if (config_debug)
        check(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    else
        check(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* In order, and a second lock of one rank taken by trylock: no abort in any build. */
    pid = fork();
    if (pid == 0) {
        static mutex_t bin_lock = MUTEX_INITIALIZER(RANK_BIN);
        static mutex_t ex_a = MUTEX_INITIALIZER(RANK_EXTENTS);
        static mutex_t ex_b = MUTEX_INITIALIZER(RANK_EXTENTS);
        mutex_lock(&bin_lock);
        mutex_lock(&ex_a);
        if (!mutex_trylock_unordered(&ex_b))
            _exit(2);
        mutex_unlock(&ex_b);
        mutex_unlock(&ex_a);
        mutex_unlock(&bin_lock);
        witness_assert_none();
        _exit(0);
    }
    check(waitpid(pid, &status, 0) == pid);
    check(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return unit_finish("mutex");
}
