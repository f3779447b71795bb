/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * programs/prof_fork: threads allocate with every allocation sampled (each backtrace reads the
 * count of unloaded objects with dl_iterate_phdr, under glibc's loader lock) while the main
 * thread forks again and again; each child allocates (so takes backtraces) and exits. glibc does
 * not renew that lock in a child, so a fork while another thread walked left the child hung on
 * its first sample; an alarm turns such a hang into a failure. To make the window wide, this
 * program interposes dl_iterate_phdr (linked -rdynamic): in the allocating threads, it holds
 * the lock 200 us per object.
 *
 * Usage: prof_fork_prog FORKS
 */
#define _GNU_SOURCE /* dl_iterate_phdr, RTLD_NEXT */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile int stop;
static __thread int slow; /* this thread's dl_iterate_phdr calls are slowed */

typedef int (*phdr_cb_t)(struct dl_phdr_info *, size_t, void *);
static int (*real_iterate)(phdr_cb_t, void *);

typedef struct {
    phdr_cb_t cb;
    void *arg;
} slow_arg_t;

static volatile long slowed; /* calls slowed down: the interposition works */

static int slow_cb(struct dl_phdr_info *info, size_t size, void *arg) {
    slow_arg_t *a = arg;
    slowed++;
    usleep(200);
    return a->cb(info, size, a->arg);
}

int dl_iterate_phdr(phdr_cb_t cb, void *arg) {
    if (!slow)
        return real_iterate(cb, arg);
    slow_arg_t a = {cb, arg};
    return real_iterate(slow_cb, &a);
}

static void *churn(void *arg) {
    (void)arg;
    slow = 1;
    while (!stop) {
        void *p = malloc(64);
        __asm__ volatile("" : : "r"(p) : "memory");
        free(p);
    }
    return NULL;
}

int main(int argc, char **argv) {
    int forks = argc > 1 ? atoi(argv[1]) : 200;
    real_iterate = (int (*)(phdr_cb_t, void *))dlsym(RTLD_NEXT, "dl_iterate_phdr");
    if (real_iterate == NULL)
        return 1;
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&t[i], NULL, churn, NULL) != 0)
            return 1;
    int hung = 0, failed = 0;
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            alarm(10);
            for (int j = 0; j < 100; j++) {
                void *p = malloc(32 + (size_t)j);
                __asm__ volatile("" : : "r"(p) : "memory");
                free(p);
            }
            _exit(0);
        }
        int st;
        if (waitpid(pid, &st, 0) != pid)
            return 1;
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM) {
            hung++;
            break; /* one is enough */
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
            failed++;
    }
    stop = 1;
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("%d forks: %d children hung, %d failed; %ld slowed calls\n", forks, hung, failed,
           slowed);
    return hung == 0 && failed == 0 && slowed > 0 ? 0 : 1;
}
