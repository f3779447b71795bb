/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * os: the CPU count follows the affinity mask; os_gettid is the kernel's id; os_thread_probe
 * reads a running thread, a thread asleep in the kernel, and a thread that is gone.
 */
#include "allocator/internal/os.h"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

static int pipefd[2];
static int helper_tid;

static void *helper(void *arg) {
    (void)arg;
    __atomic_store_n(&helper_tid, os_gettid(), __ATOMIC_RELEASE);
    char c;
    /* Asleep in the kernel until main writes. */
    while (read(pipefd[0], &c, 1) < 0) {
    }
    return NULL;
}

int main(void) {
    cpu_set_t set;
    check(sched_getaffinity(0, sizeof(set), &set) == 0);
    check_eq(os_ncpus(), CPU_COUNT(&set));
    /* Narrowed to one CPU, the count follows the mask, then the wider mask again. */
    int first = 0;
    while (first < CPU_SETSIZE && !CPU_ISSET(first, &set))
        first++;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    check(sched_setaffinity(0, sizeof(one), &one) == 0);
    check_eq(os_ncpus(), 1);
    check(sched_setaffinity(0, sizeof(set), &set) == 0);
    check_eq(os_ncpus(), CPU_COUNT(&set));

    check_eq(os_gettid(), syscall(SYS_gettid));
    check_eq(os_gettid(), getpid()); /* the main thread's id is the process's */

    /* This thread, reading its own stat, is running; its CPU time does not go back. */
    os_thread_t me = os_thread_probe(os_gettid());
    check_eq(me.state, 'R');
    volatile unsigned long spin = 0;
    for (unsigned long i = 0; i < 20000000; i++)
        spin = spin + i;
    check(spin != 0);
    os_thread_t me2 = os_thread_probe(os_gettid());
    check_eq(me2.state, 'R');
    check(me2.run_ns >= me.run_ns);

    /* A thread blocked in read() is seen asleep ('S'), with its own id; once joined, gone. */
    check(pipe(pipefd) == 0);
    pthread_t th;
    check(pthread_create(&th, NULL, helper, NULL) == 0);
    int tid;
    while ((tid = __atomic_load_n(&helper_tid, __ATOMIC_ACQUIRE)) == 0)
        sched_yield();
    check(tid != os_gettid());
    char state = 0;
    for (int i = 0; i < 10000 && state != 'S'; i++) { /* up to 10 s on a busy machine */
        state = os_thread_probe(tid).state;
        if (state != 'S') {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    }
    check_eq(state, 'S');
    check(write(pipefd[1], "x", 1) == 1);
    check(pthread_join(th, NULL) == 0);
    /* Joined, it may linger a moment as a zombie ('Z', 'X') before the kernel drops its entry. */
    os_thread_t gone = os_thread_probe(tid);
    for (int i = 0; i < 10000 && gone.state != 0; i++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        gone = os_thread_probe(tid);
    }
    check_eq(gone.state, 0);
    check_eq(gone.run_ns, 0);
    return unit_finish("os");
}
