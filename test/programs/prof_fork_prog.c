/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * programs/prof_fork: threads allocate with every allocation sampled while the main thread forks
 * again and again; each child allocates (so takes backtraces) and exits. The allocations are
 * made through a function of a dlopened library (this file built with -DPLUGIN), so each
 * backtrace has a frame of code that may be unloaded and reads the count of unloaded objects
 * with dl_iterate_phdr, under glibc's loader lock (code loaded at start-up needs no such
 * check, and its walks do not call the loader). glibc does
 * not renew that lock in a child, so a fork while another thread walked left the child hung on
 * its first sample; an alarm turns such a hang into a failure. To make the window wide, this
 * program interposes dl_iterate_phdr (linked -rdynamic): in the allocating threads, it holds
 * the lock 200 us per object.
 *
 * Usage: prof_fork_prog PLUGIN.so FORKS
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

#ifdef PLUGIN
/* f(), from a frame of this library (not a tail call: the frame must stay on the stack). */
void plugin_run(void (*f)(void)) {
    f();
    __asm__ volatile("" ::: "memory");
}
#else
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

static void (*plugin_run)(void (*)(void));

static volatile long churned; /* allocations by the churning threads, each sampled */

static void churn_loop(void) {
    while (!stop) {
        __atomic_fetch_add(&churned, 1, __ATOMIC_RELAXED);
        void *p = malloc(64);
        __asm__ volatile("" : : "r"(p) : "memory");
        free(p);
    }
}

static void *churn(void *arg) {
    (void)arg;
    slow = 1;
    plugin_run(churn_loop);
    return NULL;
}

static void child_allocs(void) {
    for (int j = 0; j < 100; j++) {
        void *p = malloc(32 + (size_t)j);
        __asm__ volatile("" : : "r"(p) : "memory");
        free(p);
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s PLUGIN.so FORKS\n", argv[0]);
        return 2;
    }
    int forks = atoi(argv[2]);
    real_iterate = (int (*)(phdr_cb_t, void *))dlsym(RTLD_NEXT, "dl_iterate_phdr");
    void *h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (real_iterate == NULL || h == NULL)
        return 1;
    *(void **)&plugin_run = dlsym(h, "plugin_run");
    if (plugin_run == NULL)
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
            plugin_run(child_allocs);
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
    printf("%d forks: %d children hung, %d failed; %ld allocations churned, %ld slowed calls\n",
           forks, hung, failed, churned, slowed);
    return hung == 0 && failed == 0 && churned > 0 && slowed > 0 ? 0 : 1;
}
#endif
