/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The fuzzer's driver: runs random operations (ops.c) from a seeded PRNG in one or more threads
 * for a wall-clock budget, checking each against the shadow model (model.c), then frees what is
 * left and prints the operations per second. Threads pass blocks to each other through a shared
 * queue, so blocks are freed and resized by threads that did not allocate them, and each
 * worker's thread is replaced by a new one every few thousand operations.
 *
 *   fuzz [--seed S | --replay S] [--seconds X] [--threads N] [--ops N] [--max-live-mib M]
 *
 * --seconds is the budget (default 2; pass/fail never depends on it); --ops stops each thread
 * after N operations; --replay S is --seed S with no time limit, to rerun a failure, which
 * prints the command. Thread i draws from seed S + i, so a single-threaded run with the same
 * seed and MALLOC_CONF makes the same operations. Exit 0: every check held; 1: a check failed
 * (what, the last operations of every thread and the replay command are on stderr); 2: usage.
 */
#include "fuzz.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../include/allocator.h"

static double deadline;
static uint64_t max_ops = UINT64_MAX;
static fuzz_thread_t thread_state[FUZZ_MAX_THREADS];

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A crash inside the allocator: print the operations that led there, then die of the signal. */
static void on_signal(int sig) {
    fuzz_print("fuzz: signal %d (%s)\n", sig, strsignal(sig));
    fuzz_fail("killed by signal %d", sig);
}

/*
 * With threads, each worker's operations are split into generations of a few thousand: a
 * generation's thread exits and a new one carries on with the same slots and explicit cache,
 * so blocks outlive the thread that allocated them and thread exit runs with blocks in flight.
 */
static bool churn;
static bool thread_done[FUZZ_MAX_THREADS];
static uint64_t generation_end[FUZZ_MAX_THREADS];

static void *thread_main(void *arg) {
    fuzz_thread_t *t = arg;
    fuzz_thread_register(t);
    fuzz_op_t op;
    for (;;) {
        if (t->nops >= max_ops || ((t->nops & 63) == 0 && now() >= deadline)) {
            thread_done[t->tid] = true;
            break;
        }
        if (churn && t->nops >= generation_end[t->tid]) {
            /* The next generation's length, from the op count (not the op source). */
            uint64_t h = (t->nops + 1) * 0x9e3779b97f4a7c15ull;
            generation_end[t->tid] = t->nops + 2000 + (h >> 40) % 30000;
            if (t->nops != 0)
                return NULL;
        }
        op_decode(&t->src, &op);
        fuzz_step(t, &op);
    }
    fuzz_thread_finish(t);
    return NULL;
}

static void usage(void) {
    fprintf(stderr, "usage: fuzz [--seed S | --replay S] [--seconds X] [--threads N] [--ops N] "
                    "[--max-live-mib M]\n");
    exit(2);
}

int main(int argc, char **argv) {
    uint64_t seed = 0;
    bool have_seed = false, replay = false;
    double seconds = 2;
    unsigned nthreads = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (strcmp(a, "--seed") == 0 || strcmp(a, "--replay") == 0) {
            seed = strtoull(v, NULL, 0);
            have_seed = true;
            replay = strcmp(a, "--replay") == 0;
        } else if (strcmp(a, "--seconds") == 0) {
            seconds = strtod(v, NULL);
        } else if (strcmp(a, "--threads") == 0) {
            nthreads = (unsigned)strtoul(v, NULL, 0);
        } else if (strcmp(a, "--ops") == 0) {
            max_ops = strtoull(v, NULL, 0);
        } else if (strcmp(a, "--max-live-mib") == 0) {
            fuzz_conf.max_live = (size_t)strtoull(v, NULL, 0) << 20;
        } else {
            usage();
        }
    }
    if (nthreads == 0 || nthreads > FUZZ_MAX_THREADS)
        usage();
    if (!have_seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed =
            ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
        seed &= 0xffffffffffffull; /* short enough to type */
    }
    if (replay)
        seconds = 1e9;
    fuzz_conf.seed = seed;
    fuzz_conf.nthreads = nthreads;
    fuzz_conf.replay_hint = argv[0];
    signal(SIGSEGV, on_signal);
    signal(SIGBUS, on_signal);
    signal(SIGABRT, on_signal);
    signal(SIGILL, on_signal);
    signal(SIGFPE, on_signal);

    fuzz_setup();
    model_init(nthreads * FUZZ_SLOTS + FUZZ_QUEUE + 16);
    const char *conf = getenv("MALLOC_CONF");
    printf("fuzz: seed %" PRIu64 ", %u thread(s), %.1f s, MALLOC_CONF=%s\n", seed, nthreads,
           replay ? 0.0 : seconds, conf != NULL ? conf : "");
    fflush(stdout);

    double start = now();
    deadline = start + seconds;
    pthread_t tids[FUZZ_MAX_THREADS];
    for (unsigned i = 0; i < nthreads; i++) {
        fuzz_thread_init(&thread_state[i], i);
        src_init_seed(&thread_state[i].src, seed + i);
    }
    if (nthreads == 1) {
        thread_main(&thread_state[0]);
    } else {
        for (unsigned i = 0; i < nthreads; i++) {
            if (pthread_create(&tids[i], NULL, thread_main, &thread_state[i]) != 0) {
                fprintf(stderr, "fuzz: pthread_create failed\n");
                return 2;
            }
        }
        churn = true;
        bool joined[FUZZ_MAX_THREADS] = {false};
        for (bool alive = true; alive;) {
            alive = false;
            for (unsigned i = 0; i < nthreads; i++) {
                if (joined[i])
                    continue;
                pthread_join(tids[i], NULL);
                if (thread_done[i]) {
                    joined[i] = true;
                    continue;
                }
                alive = true;
                if (pthread_create(&tids[i], NULL, thread_main, &thread_state[i]) != 0) {
                    fprintf(stderr, "fuzz: pthread_create failed\n");
                    return 2;
                }
            }
        }
    }
    fuzz_thread_t *last = &thread_state[0];
    fuzz_thread_register(last);
    fuzz_queue_drain(last);
    double elapsed = now() - start;
    uint64_t total = 0;
    for (unsigned i = 0; i < nthreads; i++)
        total += thread_state[i].nops;
    if (model_live_blocks() != 0)
        fuzz_fail("%zu blocks still in the model after every thread freed its own",
                  model_live_blocks());
    printf("fuzz: ok: %" PRIu64 " operations in %.2f s, %.0f ops/s (seed %" PRIu64 ", %u "
           "thread(s))\n",
           total, elapsed, (double)total / elapsed, seed, nthreads);
    return 0;
}
