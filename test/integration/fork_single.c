/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Forks of a process that had one thread when it started allocating. liballocator registers its
 * fork handlers only once the process has a second thread (src/atfork.c): a process with one
 * thread forks with no lock held and every list true, and glibc's first pthread_atfork makes
 * 120 KiB of libc resident in every program (programs/footprint checks that a minimal program
 * makes no registration).
 *
 * 1. A single-threaded parent forks; the child allocates and frees many sizes, starts a thread
 *    that allocates (its handlers are armed then), forks a grandchild that allocates, and exits.
 * 2. The handlers are armed before a new thread can take a lock, even when the thread that
 *    creates it is inside the allocator: the main thread, still alone, prints statistics and,
 *    from the report's callback (malloc_stats_print's lock held), starts a thread that has never
 *    allocated and forks. The child prints statistics too: it can only take that lock if the
 *    fork ran the handlers (their child hook renews it), which pthread_create's own allocation
 *    armed. Under alarm(10): a lock left held is a SIGALRM death, reported.
 */
#include "../test.h"

#include <allocator.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>

/* The child's checks; returns its exit status (0: all good). */
static int child_allocates(int depth);

static void *thread_allocates(void *arg) {
    (void)arg;
    for (size_t size = 8; size <= ((size_t)4 << 20); size = size * 3 / 2 + 1) {
        unsigned char *p = test_launder(malloc(size));
        if (p == NULL)
            return (void *)1;
        p[0] = 1;
        p[size - 1] = 2;
        free(p);
    }
    return NULL;
}

/* Fork, run child_allocates(depth + 1) in the child; the child's exit status, or -1. */
static int fork_and_wait(int depth) {
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        alarm(10);
        _exit(child_allocates(depth + 1));
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

static int child_allocates(int depth) {
    void *blocks[64];
    for (size_t i = 0; i < 64; i++) {
        size_t size = (size_t)1 << (i % 22);
        blocks[i] = test_launder(malloc(size));
        if (blocks[i] == NULL)
            return 2;
        memset(blocks[i], (int)i, size);
    }
    for (size_t i = 0; i < 64; i++)
        free(blocks[i]);
    pthread_t t;
    void *ret = NULL;
    if (pthread_create(&t, NULL, thread_allocates, NULL) != 0 || pthread_join(t, &ret) != 0)
        return 3;
    if (ret != NULL)
        return 4;
    if (depth < 2 && fork_and_wait(depth) != 0)
        return 5;
    return 0;
}

static void count_bytes(void *arg, const char *s) { *(size_t *)arg += strlen(s); }

static int forker_status = -1;

static void *forker(void *arg) {
    (void)arg;
    pid_t pid = fork(); /* this thread has not allocated */
    if (pid == 0) {
        alarm(10);
        size_t n = 0;
        malloc_stats_print(count_bytes, &n, NULL);
        void *p = malloc(100);
        free(p);
        _exit(n > 0 && p != NULL ? 0 : 1);
    }
    int status = 0;
    if (pid > 0 && waitpid(pid, &status, 0) == pid)
        forker_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return NULL;
}

static bool in_report;

static void report_starts_a_forker(void *arg, const char *s) {
    (void)s;
    if (in_report)
        return;
    in_report = true;
    pthread_t t;
    *(int *)arg = pthread_create(&t, NULL, forker, NULL) == 0 && pthread_join(t, NULL) == 0;
}

int main(void) {
    if (!test_allocator_active())
        test_skip("liballocator is not the allocator here");
    free(test_launder(malloc(10))); /* boot, with this thread alone */

    int status = fork_and_wait(0);
    if (!test_check_(status == 0))
        test_fail("a single-threaded parent's child ended with %d", status);

    int started = 0;
    malloc_stats_print(report_starts_a_forker, &started, NULL);
    expect_true(started);
    if (!test_check_(forker_status == 0))
        test_fail("the child of a fork during a report ended with %d (142: SIGALRM, a lock held)",
                  forker_status);
    return test_done();
}
