/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * falseshare: does the allocator put blocks used by different threads in one cache line?
 *
 *     falseshare thrash|scratch THREADS ROUNDS WRITES SIZE
 *
 * thrash (active false sharing): every thread repeatedly allocates a SIZE-byte block, writes to
 * it WRITES times and frees it.  If blocks of different threads share a cache line, the writes
 * bounce the line between cores and the run slows down many times.
 *
 * scratch (passive false sharing): the main thread allocates THREADS small blocks back to back
 * (they share cache lines) and gives one to each thread; each thread frees the block it was
 * given and then runs the thrash loop.  An allocator that hands a freed block to the thread that
 * freed it gives every thread a block in the lines the main thread packed together.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long rounds, writes;
static size_t size;

typedef struct {
    unsigned char *given;
} job_t;

static void *worker(void *arg) {
    job_t *job = arg;
    free(job->given);
    for (unsigned long r = 0; r < rounds; r++) {
        volatile unsigned char *p = malloc(size);
        if (p == NULL) {
            abort();
        }
        for (unsigned long w = 0; w < writes; w++) {
            for (size_t i = 0; i < size; i++) {
                p[i] = (unsigned char)(p[i] + 1);
            }
        }
        free((void *)p);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: falseshare thrash|scratch THREADS ROUNDS WRITES SIZE\n");
        return 2;
    }
    int scratch = strcmp(argv[1], "scratch") == 0;
    if (!scratch && strcmp(argv[1], "thrash") != 0) {
        fprintf(stderr, "falseshare: unknown mode %s\n", argv[1]);
        return 2;
    }
    int nthreads = atoi(argv[2]);
    rounds = strtoul(argv[3], NULL, 0);
    writes = strtoul(argv[4], NULL, 0);
    size = strtoull(argv[5], NULL, 0);
    if (nthreads < 1 || nthreads > 64 || size == 0) {
        fprintf(stderr, "falseshare: bad arguments\n");
        return 2;
    }
    job_t jobs[64];
    pthread_t tid[64];
    for (int t = 0; t < nthreads; t++) {
        jobs[t].given = scratch ? malloc(size) : NULL;
        if (scratch && jobs[t].given == NULL) {
            return 1;
        }
    }
    for (int t = 0; t < nthreads; t++) {
        if (pthread_create(&tid[t], NULL, worker, &jobs[t])) {
            return 1;
        }
    }
    for (int t = 0; t < nthreads; t++) {
        pthread_join(tid[t], NULL);
    }
    return 0;
}
