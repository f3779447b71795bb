/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dlopen and dlclose while the heap profiler unwinds (prof_dlopen.sh). Built twice: with
 * -DPLUGIN as the shared object plugin_alloc lives in, and without as the program: three
 * threads allocate and free mixed sizes while a fourth loads the plugin, calls plugin_alloc
 * (whose allocations are sampled with the plugin's frames on the stack) and unloads it, over
 * and over, for the seconds given. The sample rate is high (lg_prof_sample:10), so the
 * unwinder walks the loaded objects' tables while they are being added and removed. A hang is
 * caught by alarm(); every thread must have made progress.
 */
#include <stdlib.h>

#ifdef PLUGIN
__attribute__((visibility("default"))) void plugin_alloc(void) {
    void *p[16];
    for (int i = 0; i < 16; i++)
        p[i] = malloc((size_t)(i + 1) * 700);
    for (int i = 0; i < 16; i++)
        free(p[i]);
}
#else
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile int stop;
static const char *plugin;
static unsigned long counts[4];

static void *allocator(void *arg) {
    unsigned long *n = arg;
    unsigned x = (unsigned)(n - counts) * 7919 + 1;
    while (!stop) {
        void *p[32];
        for (int i = 0; i < 32; i++) {
            x = x * 1103515245 + 12345;
            p[i] = malloc(16 + (x >> 16) % 20000);
        }
        for (int i = 0; i < 32; i++)
            free(p[i]);
        ++*n;
    }
    return NULL;
}

static void *loader(void *arg) {
    unsigned long *n = arg;
    while (!stop) {
        void *h = dlopen(plugin, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            fprintf(stderr, "dlopen %s: %s\n", plugin, dlerror());
            exit(1);
        }
        void (*fn)(void) = (void (*)(void))dlsym(h, "plugin_alloc");
        if (fn == NULL)
            exit(1);
        fn();
        dlclose(h);
        ++*n;
    }
    return NULL;
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "prof_dlopen_prog: hung (alarm fired)\n";
    write(2, msg, sizeof(msg) - 1);
    _exit(2);
}

int main(int argc, char **argv) {
    if (argc != 3)
        return 2;
    plugin = argv[1];
    int seconds = atoi(argv[2]);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)seconds + 60);
    pthread_t t[4];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, allocator, &counts[i]);
    pthread_create(&t[3], NULL, loader, &counts[3]);
    sleep((unsigned)seconds);
    stop = 1;
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    printf("rounds: %lu %lu %lu, loads: %lu\n", counts[0], counts[1], counts[2], counts[3]);
    for (int i = 0; i < 4; i++) {
        if (counts[i] == 0)
            return 1;
    }
    return 0;
}
#endif
