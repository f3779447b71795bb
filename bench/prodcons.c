/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prodcons: producer/consumer.  A producer thread allocates blocks of random size (MIN..MAX),
 * writes them and pushes them into a bounded single-producer single-consumer ring; a consumer
 * thread pops, reads and frees them.  Every block is freed by a thread that did not allocate it,
 * the pattern of a pipeline or a work queue.
 *
 *     prodcons THREADS TOTAL MIN MAX [SEED]
 *
 * THREADS = 1: one thread allocates a ring-full and then frees it, over and over (the same blocks
 * without the cross-thread handover).  THREADS = 2k: k producer/consumer pairs, each moving
 * TOTAL / k blocks.  A full or empty ring spins briefly, then yields the processor.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "rng.h"

enum { RING = 1024 };

typedef struct {
    _Alignas(64) _Atomic size_t head; /* written by the consumer */
    _Alignas(64) _Atomic size_t tail; /* written by the producer */
    _Alignas(64) unsigned char *slot[RING];
    unsigned long count;
    uint64_t seed;
} ring_t;

static size_t minsz, maxsz;

static unsigned char *produce(uint64_t *rng) {
    size_t size = minsz + rng_next(rng) % (maxsz - minsz + 1);
    unsigned char *p = malloc(size);
    if (p == NULL) {
        abort();
    }
    p[0] = (unsigned char)size;
    p[size - 1] = 1;
    return p;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static void backoff(unsigned *spins) {
    if (++*spins < 64) {
        cpu_relax();
    } else {
        sched_yield();
    }
}

static void *producer(void *arg) {
    ring_t *r = arg;
    uint64_t rng = r->seed;
    for (unsigned long i = 0; i < r->count; i++) {
        unsigned char *p = produce(&rng);
        size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
        unsigned spins = 0;
        while (t - atomic_load_explicit(&r->head, memory_order_acquire) == RING) {
            backoff(&spins);
        }
        r->slot[t % RING] = p;
        atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    }
    return NULL;
}

static void *consumer(void *arg) {
    ring_t *r = arg;
    unsigned long sum = 0;
    for (unsigned long i = 0; i < r->count; i++) {
        size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
        unsigned spins = 0;
        while (atomic_load_explicit(&r->tail, memory_order_acquire) == h) {
            backoff(&spins);
        }
        unsigned char *p = r->slot[h % RING];
        atomic_store_explicit(&r->head, h + 1, memory_order_release);
        sum += p[0];
        free(p);
    }
    return (void *)(uintptr_t)(sum == 1);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: prodcons THREADS TOTAL MIN MAX [SEED]\n");
        return 2;
    }
    int nthreads = atoi(argv[1]);
    unsigned long total = strtoul(argv[2], NULL, 0);
    minsz = strtoull(argv[3], NULL, 0);
    maxsz = strtoull(argv[4], NULL, 0);
    uint64_t seed = argc > 5 ? strtoull(argv[5], NULL, 0) : 42;
    if (nthreads < 1 || nthreads > 64 || minsz == 0 || maxsz < minsz) {
        fprintf(stderr, "prodcons: bad arguments\n");
        return 2;
    }

    if (nthreads == 1) {
        static unsigned char *held[RING];
        uint64_t rng = seed;
        unsigned long sum = 0;
        for (unsigned long done = 0; done < total; done += RING) {
            for (size_t i = 0; i < RING; i++) {
                held[i] = produce(&rng);
            }
            for (size_t i = 0; i < RING; i++) {
                sum += held[i][0];
                free(held[i]);
            }
        }
        return sum == 1 ? 3 : 0;
    }

    int pairs = nthreads / 2;
    ring_t *rings = aligned_alloc(64, sizeof(ring_t) * (size_t)pairs);
    pthread_t tid[64];
    if (rings == NULL) {
        return 1;
    }
    for (int k = 0; k < pairs; k++) {
        atomic_init(&rings[k].head, 0);
        atomic_init(&rings[k].tail, 0);
        rings[k].count = total / (unsigned long)pairs;
        rings[k].seed = seed + (uint64_t)k * 0x9E3779B97F4A7C15ULL;
    }
    for (int k = 0; k < pairs; k++) {
        if (pthread_create(&tid[2 * k], NULL, producer, &rings[k]) ||
            pthread_create(&tid[2 * k + 1], NULL, consumer, &rings[k])) {
            return 1;
        }
    }
    for (int t = 0; t < 2 * pairs; t++) {
        pthread_join(tid[t], NULL);
    }
    free(rings);
    return 0;
}
