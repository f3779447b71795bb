/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The thread states of a fork child keep the right owner. liballocator records each state's pid
 * and tid and, when the live states pile up, recycles those whose thread the kernel no longer
 * knows (tsd_reap in src/tsd.c). A child's only thread carries the state its parent thread made,
 * under the parent's ids; if the child kept those ids, a reap in the child would find them gone
 * once the parent thread exits, and hand the child's own live state to another thread.
 *
 * A worker thread of the parent forks and then exits (the parent joins it, then tells the child).
 * The child, running on that worker's state, starts 100 threads that all stay alive together
 * (well past the reap threshold) and allocate; each reports the address of its per-thread
 * counter (thread.allocatedp, inside its state). None may be the child's own, and the child's
 * counter must still count the child's allocations.
 */
#include "../test.h"

#include <allocator.h>
#include <pthread.h>
#include <sys/wait.h>

static int go_pipe[2];

/* The child: returns its exit status (0 ok). */
static int child_main(void) {
    char c;
    if (read(go_pipe[0], &c, 1) != 1)
        return 2; /* the parent's forking thread has exited once this returns */
    int failed = test_child_states_check();
    if (failed != 0)
        printf("child: check %d of test_child_states_check failed\n", failed);
    return failed;
}

static void *forker(void *arg) {
    free(test_launder(malloc(10))); /* this thread's own state, made in the parent */
    pid_t *pid = arg;
    *pid = fork();
    if (*pid == 0) {
        alarm(60);
        int status = child_main();
        fflush(stdout);
        _exit(status);
    }
    return NULL; /* the parent's copy of the thread exits now */
}

int main(void) {
    test_allocator_active();
    require_true(pipe(go_pipe) == 0);
    for (int round = 0; round < 5; round++) {
        pid_t pid = -1;
        pthread_t t;
        require_true(pthread_create(&t, NULL, forker, &pid) == 0);
        require_true(pthread_join(t, NULL) == 0);
        require_true(pid > 0);
        /* The forking thread is gone from the parent; its tid no longer exists. */
        require_true(write(go_pipe[1], "g", 1) == 1);
        int status = 0;
        require_true(waitpid(pid, &status, 0) == pid);
        if (!test_check_(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            test_fail("round %d: child ended with status %#x", round, status);
            break;
        }
    }
    return test_done();
}
