/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The thread state of a child forked by a single-threaded process keeps the right owner. Such a
 * fork runs no handler (liballocator registers them only once a process has a second thread:
 * src/atfork.c), so the child's only thread carries the state its parent made, recorded under
 * the parent's pid and tid. When the live states pile up the allocator recycles those whose
 * thread the kernel no longer knows (tsd_reap); once the parent has exited, reading those ids
 * as they are would find the child's own thread gone and hand its live state to another thread.
 * (fork_thread_ids checks the same when the fork ran the handlers.)
 *
 * The test re-executes itself as a fresh process P (so that P's first allocation makes its
 * state, under P's ids), made a subreaper so that P's child C becomes its own once P exits. P,
 * alone, allocates, forks C and exits. C waits until P is gone, starts 100 threads that all stay
 * alive together (well past the reap threshold) and allocate, each reporting the address of its
 * counter (thread.allocatedp, inside its state): none may be C's own, and C's counter must still
 * count C's allocations.
 */
#include "../test.h"

#include <allocator.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/wait.h>

/* C: returns its exit status (0 ok). parent_gone: a pipe's read end whose writer was P. */
static int child_main(int parent_gone) {
    char c;
    if (read(parent_gone, &c, 1) != 0)
        return 2; /* end of file: P has exited */
    return test_child_states_check();
}

/* P: allocates alone, forks C, tells the test C's pid on fd 1 of report, and exits. */
static int parent_main(int report) {
    free(test_launder(malloc(10)));
    int gone[2];
    if (pipe(gone) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        close(gone[1]);
        alarm(60);
        _exit(child_main(gone[0]));
    }
    close(gone[0]);
    if (pid < 0 || write(report, &pid, sizeof(pid)) != (ssize_t)sizeof(pid))
        return 1;
    return 0; /* closes gone[1]: C goes on */
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "parent") == 0)
        return parent_main(atoi(argv[2]));
    test_allocator_active();
    require_true(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
    for (int round = 0; round < 3; round++) {
        int report[2];
        require_true(pipe(report) == 0);
        pid_t p = fork();
        require_true(p >= 0);
        if (p == 0) {
            close(report[0]);
            char fd[16];
            snprintf(fd, sizeof(fd), "%d", report[1]);
            execl("/proc/self/exe", argv[0], "parent", fd, (char *)NULL);
            _exit(127);
        }
        close(report[1]);
        int status = 0;
        require_true(waitpid(p, &status, 0) == p);
        require_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        pid_t c = -1;
        require_true(read(report[0], &c, sizeof(c)) == (ssize_t)sizeof(c));
        close(report[0]);
        require_true(waitpid(c, &status, 0) == c);
        if (!test_check_(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            test_fail("round %d: the child ended with status %#x", round, status);
            break;
        }
    }
    return test_done();
}
