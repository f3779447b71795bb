/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * threadchurn: many short-lived threads.  The main thread runs CONCURRENT threads at a time until
 * TOTAL have run.  Each allocates PER_THREAD blocks of random size (16..2048 B), frees three in
 * four of them and leaves the rest to the main thread, which frees them after joining it: blocks
 * of a thread that has exited.  This measures thread-state setup and teardown (cache creation,
 * flushing a cache at exit) and what happens to a dead thread's memory.
 *
 *     threadchurn TOTAL CONCURRENT PER_THREAD [SEED]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "rng.h"

typedef struct {
    uint64_t seed;
    size_t per_thread;
    unsigned char **left; /* blocks this thread leaves behind */
    size_t nleft;
} job_t;

static void *worker(void *arg) {
    job_t *job = arg;
    uint64_t rng = job->seed;
    unsigned char **all = malloc(job->per_thread * sizeof *all);
    job->left = malloc((job->per_thread / 4 + 1) * sizeof *job->left);
    if (all == NULL || job->left == NULL) {
        abort();
    }
    for (size_t i = 0; i < job->per_thread; i++) {
        size_t size = 16 + rng_next(&rng) % 2033;
        all[i] = malloc(size);
        if (all[i] == NULL) {
            abort();
        }
        all[i][0] = (unsigned char)i;
        all[i][size - 1] = 1;
    }
    job->nleft = 0;
    for (size_t i = 0; i < job->per_thread; i++) {
        if (i % 4 == 3) {
            job->left[job->nleft++] = all[i];
        } else {
            free(all[i]);
        }
    }
    free(all);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: threadchurn TOTAL CONCURRENT PER_THREAD [SEED]\n");
        return 2;
    }
    unsigned long total = strtoul(argv[1], NULL, 0);
    int conc = atoi(argv[2]);
    size_t per = strtoull(argv[3], NULL, 0);
    uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 0) : 42;
    if (conc < 1 || conc > 64 || per == 0) {
        fprintf(stderr, "threadchurn: bad arguments\n");
        return 2;
    }
    job_t jobs[64];
    pthread_t tid[64];
    unsigned long started = 0;
    while (started < total) {
        int n = 0;
        for (; n < conc && started < total; n++, started++) {
            jobs[n].seed = seed + started * 0x9E3779B97F4A7C15ULL;
            jobs[n].per_thread = per;
            if (pthread_create(&tid[n], NULL, worker, &jobs[n])) {
                return 1;
            }
        }
        for (int t = 0; t < n; t++) {
            pthread_join(tid[t], NULL);
            for (size_t i = 0; i < jobs[t].nleft; i++) {
                free(jobs[t].left[i]);
            }
            free(jobs[t].left);
        }
    }
    return 0;
}
