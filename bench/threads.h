/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * threads.h: run n copies of a benchmark's worker, the t-th given seed + t, and wait for them all.
 */
#ifndef BENCH_THREADS_H
#define BENCH_THREADS_H

#include <pthread.h>
#include <stdint.h>

/* Returns 0, or 1 if a thread could not be started (n is at most 256). */
static inline int threads_run(int n, void *(*worker)(void *), uint64_t seed) {
    pthread_t tid[256];
    if (n > 256)
        return 1;
    for (int t = 0; t < n; t++) {
        if (pthread_create(&tid[t], NULL, worker, (void *)(uintptr_t)(seed + (uint64_t)t)) != 0)
            return 1;
    }
    for (int t = 0; t < n; t++)
        pthread_join(tid[t], NULL);
    return 0;
}

#endif
