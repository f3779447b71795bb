/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * thp_threads: many threads that allocate a little and then sit idle, the case where huge pages
 * can make RSS balloon (each arena's first chunk, metadata, per-thread caches backed by 2 MiB
 * pages). Prints the process's RSS and AnonHugePages once every thread is idle.
 *
 *   thp_threads [NTHREADS]       (default 256)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_barrier_t ready, done;

static void *worker(void *arg) {
    (void)arg;
    void *keep[16];
    for (int i = 0; i < 16; i++) {
        keep[i] = malloc(i < 12 ? 64 : 4096);
        memset(keep[i], 1, i < 12 ? 64 : 4096);
    }
    for (int i = 0; i < 8; i++)
        free(keep[i]);
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&done);
    for (int i = 8; i < 16; i++)
        free(keep[i]);
    return NULL;
}

static long status_kib(const char *path, const char *key) {
    FILE *f = fopen(path, "r");
    char line[256];
    long v = -1;
    size_t n = strlen(key);
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, key, n) == 0) {
            v = strtol(line + n, NULL, 10);
            break;
        }
    }
    if (f != NULL)
        fclose(f);
    return v;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 256;
    pthread_t *t = calloc((size_t)n, sizeof(*t));
    pthread_barrier_init(&ready, NULL, (unsigned)n + 1);
    pthread_barrier_init(&done, NULL, (unsigned)n + 1);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 << 10);
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], &attr, worker, NULL);
    pthread_barrier_wait(&ready);
    printf("threads %d rss_kib %ld anon_huge_kib %ld\n", n, status_kib("/proc/self/status", "VmRSS:"),
           status_kib("/proc/self/smaps_rollup", "AnonHugePages:"));
    pthread_barrier_wait(&done);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    return 0;
}
