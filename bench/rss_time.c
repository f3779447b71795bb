/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rss_time: does the allocator give memory back, and when?  The program behind issue 4's
 * RSS-over-time benchmark; bench/rss_time.py runs it once per allocator and samples its resident
 * set from outside every 100 ms.  It goes through these phases:
 *
 *   build  THREADS threads allocate MIB MiB between them (an equal share each), sizes drawn
 *          log-uniformly from 16 B up to MAX rounded down to a power of two (a uniformly
 *          chosen doubling, then a uniform size inside it), writing to every page of every
 *          object;
 *   free   FREE_PCT percent of all objects, picked by a seeded shuffle, are freed in that random
 *          order, dealt round-robin to the threads, so most frees come from a thread that did
 *          not allocate the object;
 *   churn  for CHURN_S seconds, every 10 ms, each thread replaces random survivors (freed, and
 *          a new object of a fresh size put in the slot) at RATE MiB/s between all threads, so
 *          the live bytes stay about level while the allocator keeps working slowly;
 *   idle   IDLE_S seconds without a single allocator call from any thread (the workers wait on a
 *          barrier, the main thread sleeps): what the allocator returns on its own;
 *   wake   each thread makes 1,000 malloc/free pairs of the same size mix, then all wait WAKE_S
 *          seconds: what the next bit of activity returns (skipped with -w 0);
 *   end    the program exits, leaving the survivors to the kernel.
 *
 * Every size and every choice comes from seeded generators, one per thread, and the churn's work
 * per 10 ms tick is fixed, so every allocator sees the same requests and the live bytes at each
 * phase are the same for all.  When a phase begins (so at the end of the one before), a marker
 * line goes to standard error and, with -p FILE, to FILE:
 *
 *     phase NAME mono_s S t_s S live_bytes N objects N rss_kib N hwm_kib N
 *
 * mono_s is CLOCK_MONOTONIC (what a driver's time.monotonic() reads), t_s the seconds since the
 * program started, live_bytes the requested sizes of the objects live then added up, rss_kib and
 * hwm_kib the program's own VmRSS and VmHWM.  Markers are formatted on the stack and written with
 * write(2), so the idle phase makes no allocator call.
 *
 *     rss_time [-m MIB] [-t THREADS] [-M MAX] [-f FREE_PCT] [-c CHURN_S] [-r RATE] [-i IDLE_S]
 *              [-w WAKE_S] [-s SEED] [-p FILE]
 *
 * Defaults: 1024 MiB, 4 threads, 1 MiB, 90%, 5 s, 4 MiB/s, 13 s (a 10 s decay time and some
 * slack), 1 s, seed 42.  RSS_TIME_MIB, RSS_TIME_THREADS, RSS_TIME_CHURN_S and RSS_TIME_IDLE_S in
 * the environment replace those defaults; options replace both.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rng.h"

#define MAX_THREADS 64
#define TICK_NS 10000000L /* the churn's step: 10 ms */
#define WAKE_PAIRS 1000

typedef struct {
    unsigned char *p;
    size_t size;
} obj_t;

typedef struct {
    int id;
    pthread_t tid;
    uint64_t rng;
    obj_t *built; /* build phase: this thread's objects, in allocation order */
    size_t nbuilt, cap;
} worker_t;

/* Parameters. */
static size_t total_bytes = (size_t)1024 << 20;
static int nthreads = 4;
static size_t max_size = (size_t)1 << 20;
static int free_pct = 90;
static double churn_s = 5, idle_s = 13, wake_s = 1, rate_mib = 4;
static uint64_t seed = 42;
static int phase_fd = -1;

/* Shared state.  The workers and the main thread meet at `barrier` twice per phase: once to
 * start it, once when every worker has finished it; in between only the workers touch the
 * objects, and the main thread reads them only while the workers wait. */
static pthread_barrier_t barrier;
static worker_t workers[MAX_THREADS];
static obj_t *all; /* after the build: every object, shuffled; [0, nfree) get freed */
static size_t nall, nfree;
static unsigned lg_max;
static struct timespec t0;

/* A size from 16 B up to 2^lg_max - 1: a doubling [2^b, 2^(b+1)) chosen uniformly, then a
 * uniform size inside it.  The density falls as 1/size, like log-uniform: as many objects of
 * 16-31 B as of 512-1023 KiB, and the large ones hold nearly all the bytes. */
static size_t draw_size(uint64_t *rng) {
    unsigned b = 4 + (unsigned)(rng_next(rng) % (lg_max - 4));
    size_t base = (size_t)1 << b;
    return base + (size_t)(rng_next(rng) % base);
}

static unsigned char *new_object(size_t size) {
    unsigned char *p = malloc(size);
    if (p == NULL) {
        fprintf(stderr, "rss_time: malloc(%zu) failed\n", size);
        abort();
    }
    /* Write every page, as a program filling the object would. */
    memset(p, 0x5c, size < 64 ? size : 64);
    for (size_t off = 4096; off < size; off += 4096) {
        p[off] = (unsigned char)off;
    }
    p[size - 1] = 1;
    return p;
}

static struct timespec now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts;
}

static void sleep_until(struct timespec when) {
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &when, NULL) == EINTR) {
    }
}

static struct timespec ts_add(struct timespec ts, double seconds) {
    long ns = (long)(seconds * 1e9);
    ts.tv_sec += ns / 1000000000L;
    ts.tv_nsec += ns % 1000000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* The value in KiB after `key` in /proc/self/status (VmRSS:, VmHWM:), read without stdio. */
static long status_kib(const char *key) {
    char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        return -1;
    }
    buf[n] = '\0';
    char *at = strstr(buf, key);
    return at == NULL ? -1 : strtol(at + strlen(key), NULL, 10);
}

static void write_all(int fd, const char *s, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, s, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        s += n;
        len -= (size_t)n;
    }
}

/* Called by the main thread while every worker waits at the barrier. */
static void marker(const char *phase, size_t live, size_t objects) {
    struct timespec ts = now();
    long rel_ns = (ts.tv_sec - t0.tv_sec) * 1000000000L + (ts.tv_nsec - t0.tv_nsec);
    char line[256];
    int len = snprintf(line, sizeof line,
                       "phase %s mono_s %lld.%09ld t_s %ld.%06ld live_bytes %zu objects %zu "
                       "rss_kib %ld hwm_kib %ld\n",
                       phase, (long long)ts.tv_sec, ts.tv_nsec, rel_ns / 1000000000L,
                       rel_ns % 1000000000L / 1000, live, objects, status_kib("VmRSS:"),
                       status_kib("VmHWM:"));
    if (len > 0) {
        write_all(2, line, (size_t)len);
        if (phase_fd >= 0) {
            write_all(phase_fd, line, (size_t)len);
        }
    }
}

static void survivors(size_t *live, size_t *objects) {
    *live = 0;
    for (size_t i = nfree; i < nall; i++) {
        *live += all[i].size;
    }
    *objects = nall - nfree;
}

static void build(worker_t *w) {
    size_t target = total_bytes / (size_t)nthreads, sum = 0;
    while (sum < target) {
        if (w->nbuilt == w->cap) {
            w->cap = w->cap ? 2 * w->cap : 1024;
            w->built = realloc(w->built, w->cap * sizeof *w->built);
            if (w->built == NULL) {
                abort();
            }
        }
        size_t size = draw_size(&w->rng);
        w->built[w->nbuilt].p = new_object(size);
        w->built[w->nbuilt].size = size;
        w->nbuilt++;
        sum += size;
    }
}

static void free_share(worker_t *w) {
    for (size_t i = (size_t)w->id; i < nfree; i += (size_t)nthreads) {
        free(all[i].p);
        all[i].p = NULL;
    }
}

/* Survivors are dealt like the frees: slot nfree + id + k * nthreads belongs to this thread. */
static void churn(worker_t *w) {
    size_t mine = 0;
    if (nall - nfree > (size_t)w->id) {
        mine = (nall - nfree - (size_t)w->id + (size_t)nthreads - 1) / (size_t)nthreads;
    }
    if (mine == 0) {
        return;
    }
    long ticks = (long)(churn_s * 1e9 / TICK_NS + 0.5);
    int64_t per_tick = (int64_t)(rate_mib * 1048576.0 * TICK_NS / 1e9 / nthreads);
    int64_t budget = 0;
    struct timespec start = now();
    for (long t = 0; t < ticks; t++) {
        sleep_until(ts_add(start, (double)t * TICK_NS / 1e9));
        budget += per_tick;
        while (budget > 0) {
            obj_t *o = &all[nfree + (size_t)w->id + (size_t)nthreads * (rng_next(&w->rng) % mine)];
            free(o->p);
            o->size = draw_size(&w->rng);
            o->p = new_object(o->size);
            budget -= (int64_t)o->size;
        }
    }
}

static void wake(worker_t *w) {
    for (int i = 0; i < WAKE_PAIRS; i++) {
        size_t size = draw_size(&w->rng);
        unsigned char *p = malloc(size);
        if (p == NULL) {
            abort();
        }
        *(volatile unsigned char *)p = 1;
        free(p);
    }
}

static void *worker_main(void *arg) {
    worker_t *w = arg;
    void (*const phases[])(worker_t *) = {build, free_share, churn, wake};
    size_t nphases = sizeof phases / sizeof phases[0] - (wake_s > 0 ? 0 : 1);
    for (size_t i = 0; i < nphases; i++) {
        pthread_barrier_wait(&barrier);
        phases[i](w);
        pthread_barrier_wait(&barrier);
    }
    /* Stay alive, and silent, until the main thread exits: a thread exit would flush caches and
     * free thread state, which is allocator activity the last phase does not ask for. */
    pthread_barrier_wait(&barrier);
    return NULL;
}

static void run_phase(void) {
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
}

static double env_or(const char *name, double dflt) {
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? strtod(v, NULL) : dflt;
}

static void usage(void) {
    fprintf(stderr, "usage: rss_time [-m MIB] [-t THREADS] [-M MAX] [-f FREE_PCT] [-c CHURN_S] "
                    "[-r RATE_MIB_S] [-i IDLE_S] [-w WAKE_S] [-s SEED] [-p FILE]\n");
    exit(2);
}

int main(int argc, char **argv) {
    t0 = now();
    double mib = env_or("RSS_TIME_MIB", 1024);
    nthreads = (int)env_or("RSS_TIME_THREADS", nthreads);
    churn_s = env_or("RSS_TIME_CHURN_S", churn_s);
    idle_s = env_or("RSS_TIME_IDLE_S", idle_s);
    const char *phase_path = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "m:t:M:f:c:r:i:w:s:p:")) != -1) {
        switch (opt) {
        case 'm':
            mib = strtod(optarg, NULL);
            break;
        case 't':
            nthreads = atoi(optarg);
            break;
        case 'M':
            max_size = strtoull(optarg, NULL, 0);
            break;
        case 'f':
            free_pct = atoi(optarg);
            break;
        case 'c':
            churn_s = strtod(optarg, NULL);
            break;
        case 'r':
            rate_mib = strtod(optarg, NULL);
            break;
        case 'i':
            idle_s = strtod(optarg, NULL);
            break;
        case 'w':
            wake_s = strtod(optarg, NULL);
            break;
        case 's':
            seed = strtoull(optarg, NULL, 0);
            break;
        case 'p':
            phase_path = optarg;
            break;
        default:
            usage();
        }
    }
    if (optind != argc || !(mib > 0) || nthreads < 1 || nthreads > MAX_THREADS || max_size < 32 ||
        free_pct < 0 || free_pct > 100 || churn_s < 0 || rate_mib < 0 || idle_s < 0 || wake_s < 0) {
        usage();
    }
    total_bytes = (size_t)(mib * 1048576.0);
    for (lg_max = 5; ((size_t)1 << (lg_max + 1)) <= max_size; lg_max++) {
    }
    if (phase_path != NULL) {
        phase_fd = open(phase_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (phase_fd < 0) {
            perror(phase_path);
            return 2;
        }
    }

    if (pthread_barrier_init(&barrier, NULL, (unsigned)nthreads + 1) != 0) {
        return 1;
    }
    for (int t = 0; t < nthreads; t++) {
        workers[t].id = t;
        workers[t].rng = (seed + (uint64_t)t + 1) * 0x9E3779B97F4A7C15ULL;
        if (pthread_create(&workers[t].tid, NULL, worker_main, &workers[t]) != 0) {
            fprintf(stderr, "rss_time: pthread_create failed\n");
            return 1;
        }
    }

    marker("build", 0, 0);
    run_phase();

    /* Gather every object in thread order (the same list for every allocator), then shuffle it:
     * the first nfree are freed, in that order, dealt round-robin to the threads. */
    for (int t = 0; t < nthreads; t++) {
        nall += workers[t].nbuilt;
    }
    all = malloc(nall * sizeof *all);
    if (all == NULL) {
        abort();
    }
    size_t k = 0, live = 0;
    for (int t = 0; t < nthreads; t++) {
        for (size_t i = 0; i < workers[t].nbuilt; i++) {
            live += workers[t].built[i].size;
            all[k++] = workers[t].built[i];
        }
        free(workers[t].built);
        workers[t].built = NULL;
    }
    uint64_t rng = seed;
    for (size_t i = nall - 1; i > 0; i--) {
        size_t j = (size_t)(rng_next(&rng) % (i + 1));
        obj_t tmp = all[i];
        all[i] = all[j];
        all[j] = tmp;
    }
    nfree = nall * (size_t)free_pct / 100;

    marker("free", live, nall);
    run_phase();

    size_t objects;
    survivors(&live, &objects);
    marker("churn", live, objects);
    run_phase();

    survivors(&live, &objects);
    marker("idle", live, objects);
    sleep_until(ts_add(now(), idle_s));

    if (wake_s > 0) {
        marker("wake", live, objects);
        run_phase();
        sleep_until(ts_add(now(), wake_s));
    }
    marker("end", live, objects);
    return 0;
}
