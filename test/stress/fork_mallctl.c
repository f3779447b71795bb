/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fork() while another thread is inside mallctl, statistics printing and explicit thread-cache
 * calls: the child must find every lock free (a deadlock is caught by alarm()).
 */
#include "../test.h"

#include <allocator.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

static atomic_bool stop;

static void sink(void *opaque, const char *s) {
    (void)opaque;
    (void)s;
}

static void *reader(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) {
        uint64_t e = 1;
        size_t sz = sizeof(e);
        mallctl("epoch", &e, &sz, &e, sizeof(e));
        size_t allocated;
        sz = sizeof(allocated);
        mallctl("stats.allocated", &allocated, &sz, NULL, 0);
        unsigned tc;
        sz = sizeof(tc);
        if (mallctl("tcache.create", &tc, &sz, NULL, 0) == 0) {
            void *p = mallocx(100, MALLOCX_TCACHE(tc));
            dallocx(p, MALLOCX_TCACHE(tc));
            mallctl("tcache.destroy", NULL, NULL, &tc, sizeof(tc));
        }
        malloc_stats_print(sink, NULL, "a");
    }
    return NULL;
}

int main(void) {
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        require_true(pthread_create(&t[i], NULL, reader, NULL) == 0);
    int ok = 0;
    enum { FORKS = 100 };
    for (int i = 0; i < FORKS; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(10);
            uint64_t e = 1;
            size_t sz = sizeof(e);
            if (mallctl("epoch", &e, &sz, &e, sizeof(e)) != 0)
                _exit(2);
            unsigned tc;
            sz = sizeof(tc);
            if (mallctl("tcache.create", &tc, &sz, NULL, 0) != 0)
                _exit(3);
            void *p = malloc(1000);
            malloc_stats_print(sink, NULL, NULL);
            free(p);
            _exit(0);
        }
        int st;
        require_true(pid > 0 && waitpid(pid, &st, 0) == pid);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            ok++;
        else
            test_fail_(__FILE__, __LINE__, "child %d ended with status 0x%x%s", i, st,
                       WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? " (deadlock)" : "");
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    expect_d_eq(ok, FORKS);
    return test_done();
}
