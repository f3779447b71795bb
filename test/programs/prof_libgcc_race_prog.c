/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * programs/prof_libgcc_race: the first backtrace of a profiled process loads libgcc_s with
 * dlopen, which waits for the loader's lock. A thread that already holds that lock (here: inside
 * a dlopened library's constructor, which glibc runs under it) and then takes a sample must not
 * wait for that load in turn, or both wait for ever. Built twice: with -DPLUGIN as the library
 * whose constructor waits for the main program's signal, then allocates; without as the
 * program: thread L dlopens the library; once L is in the constructor, profiling is turned on
 * and thread A (and the main thread, in pthread_create) allocate: the first sample starts loading
 * libgcc_s and blocks on the loader's lock L holds. 300 ms later the constructor allocates (a
 * sample too) and must carry on without libgcc_s. An alarm turns a hang into a failure.
 *
 * Usage: prof_libgcc_race_prog PLUGIN.so   (MALLOC_CONF=prof:true,prof_active:false,lg_prof_sample:0)
 */
#include <stdlib.h>

#ifdef PLUGIN
#include <unistd.h>

extern volatile int race_in_ctor, race_go; /* the program's */

__attribute__((constructor)) static void plugin_ctor(void) {
    race_in_ctor = 1;
    while (!race_go)
        ;
    usleep(300000);
    void *p = malloc(100); /* sampled, under the loader's lock */
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
}
#else
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

typedef int mallctl_fn(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);

__attribute__((visibility("default"))) volatile int race_in_ctor, race_go;
static const char *plugin;

static void *loader(void *arg) {
    (void)arg;
    void *h = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        fprintf(stderr, "dlopen %s: %s\n", plugin, dlerror());
        exit(1);
    }
    return h;
}

static void *sampler(void *arg) {
    (void)arg;
    void *p = malloc(200); /* the process's first sample: it loads libgcc_s */
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
    return NULL;
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "prof_libgcc_race_prog: hung (alarm fired)\n";
    write(2, msg, sizeof(msg) - 1);
    _exit(2);
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    plugin = argv[1];
    signal(SIGALRM, on_alarm);
    alarm(20);
    /* Looked up before L holds the loader's lock: dlsym takes it too. */
    mallctl_fn *ctl = (mallctl_fn *)dlsym(RTLD_DEFAULT, "mallctl");
    if (ctl == NULL)
        return 1;
    pthread_t l, a;
    if (pthread_create(&l, NULL, loader, NULL) != 0)
        return 1;
    while (!race_in_ctor)
        usleep(1000);
    race_go = 1; /* the constructor allocates 300 ms from now */
    bool on = true;
    if (ctl("prof.active", NULL, NULL, &on, sizeof(on)) != 0) {
        fprintf(stderr, "prof.active failed\n");
        return 1;
    }
    if (pthread_create(&a, NULL, sampler, NULL) != 0)
        return 1;
    void *h;
    pthread_join(a, NULL);
    pthread_join(l, &h);
    printf("both threads ended\n");
    return h != NULL ? 0 : 1;
}
#endif
