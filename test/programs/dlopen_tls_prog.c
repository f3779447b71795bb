/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * dlopen_tls.sh's program. liballocator.so must load with dlopen() into a process whose static TLS
 * surplus is nearly used up: its thread-local storage is one initial-exec pointer (8 bytes; a
 * debug build adds the lock witness's state).
 *
 *   dlopen_tls_prog measure DIR
 *       dlopens DIR/tls_<N>_<k>.so (N bytes of initial-exec TLS each) largest first, as many as
 *       fit, and prints the bytes of static TLS they took: what the surplus had free.
 *   dlopen_tls_prog run DIR BYTES LIBALLOCATOR
 *       takes exactly BYTES of the surplus with those objects, checks that DIR/tls_probe.so (8
 *       bytes more TLS than the script means to leave free) no longer fits, then dlopens
 *       LIBALLOCATOR (must succeed), finds mallocx, sallocx, dallocx and mallctl with dlsym and
 *       uses them from this thread and four others; then dlclose()s it while those threads
 *       still live, lets them exit (their liballocator state must not be touched through
 *       unmapped code), and starts and ends more threads. Prints "dlopen_tls: ok" on success.
 *
 * The objects come in sizes 1024 (several copies) and 512 down to 8 (one each), all 8-byte
 * aligned, so any multiple of 8 can be taken exactly. Built and linked without liballocator.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NCOPIES_1K = 8 };

static const char *dir;
static int failures;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "FAIL: " __VA_ARGS__);                                                     \
        fprintf(stderr, "\n");                                                                     \
        failures++;                                                                                \
    } while (0)

/* dlopen DIR/tls_<bytes>_<copy>.so; returns the handle or NULL (error text in *err). */
static void *load_block(unsigned bytes, unsigned copy, const char **err) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/tls_%u_%u.so", dir, bytes, copy);
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    *err = h == NULL ? dlerror() : NULL;
    if (h != NULL) {
        char *(*touch)(void) = (char *(*)(void))dlsym(h, "tls_block_touch");
        if (touch == NULL || touch() == NULL) {
            FAIL("tls_block_touch missing in %s", path);
        }
    }
    return h;
}

static int is_static_tls_error(const char *err) {
    return err != NULL && strstr(err, "static TLS") != NULL;
}

/* Takes `bytes` (a multiple of 8) of static TLS; returns the bytes taken. */
static unsigned take(unsigned bytes, int greedy) {
    unsigned taken = 0;
    const char *err;
    for (unsigned c = 0; c < NCOPIES_1K && (greedy || bytes - taken >= 1024); c++) {
        if (load_block(1024, c, &err) != NULL) {
            taken += 1024;
        } else if (is_static_tls_error(err)) {
            break;
        } else {
            FAIL("dlopen: %s", err);
            return taken;
        }
    }
    for (unsigned n = 512; n >= 8; n /= 2) {
        if (!greedy && (bytes - taken) < n) {
            continue;
        }
        if (load_block(n, 0, &err) != NULL) {
            taken += n;
        } else if (!is_static_tls_error(err)) {
            FAIL("dlopen: %s", err);
        } else if (!greedy) {
            FAIL("%u bytes of static TLS did not fit after %u of %u: %s", n, taken, bytes, err);
        }
    }
    return taken;
}

/* ---- liballocator, loaded late -------------------------------------------------------------- */

static void *(*p_mallocx)(size_t, int);
static size_t (*p_sallocx)(const void *, int);
static void (*p_dallocx)(void *, int);
static int (*p_mallctl)(const char *, void *, size_t *, void *, size_t);
static pthread_barrier_t used, closed;

static int use_allocator(unsigned seed) {
    int bad = 0;
    void *keep[64];
    for (unsigned i = 0; i < 64; i++) {
        size_t n = 1 + (i * 977 + seed * 131) % 70000;
        keep[i] = p_mallocx(n, 0);
        if (keep[i] == NULL || p_sallocx(keep[i], 0) < n) {
            bad = 1;
            keep[i] = NULL;
            continue;
        }
        memset(keep[i], (int)i, n < 256 ? n : 256);
    }
    for (unsigned i = 0; i < 64; i++) {
        if (keep[i] != NULL) {
            p_dallocx(keep[i], 0);
        }
    }
    return bad;
}

static void *thread_user(void *arg) {
    int bad = use_allocator((unsigned)(uintptr_t)arg);
    pthread_barrier_wait(&used);   /* done with liballocator */
    pthread_barrier_wait(&closed); /* main has dlclose()d it: now exit */
    return (void *)(uintptr_t)bad;
}

static void *thread_plain(void *arg) {
    void *p = malloc(1000); /* glibc's malloc: liballocator never replaced it here */
    free(p);
    return arg;
}

static void run(unsigned bytes, const char *liballocator) {
    unsigned taken = take(bytes, 0);
    if (taken != bytes) {
        FAIL("took %u bytes of static TLS, wanted %u", taken, bytes);
    }
    char probe[4096];
    snprintf(probe, sizeof(probe), "%s/tls_probe.so", dir);
    if (dlopen(probe, RTLD_NOW | RTLD_LOCAL) != NULL) {
        FAIL("tls_probe.so still fit: the surplus was not used up as planned");
    }
    const char *err = dlerror();
    if (!is_static_tls_error(err)) {
        FAIL("dlopen(tls_probe.so): %s", err != NULL ? err : "no error");
    }
    printf("static TLS: took %u bytes; the probe object no longer fits (%s)\n", taken,
           err != NULL ? err : "");

    void *h = dlopen(liballocator, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        FAIL("dlopen(liballocator): %s", dlerror());
        return;
    }
    p_mallocx = (void *(*)(size_t, int))dlsym(h, "mallocx");
    p_sallocx = (size_t(*)(const void *, int))dlsym(h, "sallocx");
    p_dallocx = (void (*)(void *, int))dlsym(h, "dallocx");
    p_mallctl = (int (*)(const char *, void *, size_t *, void *, size_t))dlsym(h, "mallctl");
    if (p_mallocx == NULL || p_sallocx == NULL || p_dallocx == NULL || p_mallctl == NULL) {
        FAIL("dlsym of mallocx/sallocx/dallocx/mallctl failed");
        return;
    }
    void *p = p_mallocx(100, 0);
    if (p == NULL || p_sallocx(p, 0) != 112) {
        FAIL("mallocx(100) from the dlopened liballocator: %p, usable %zu", p,
             p != NULL ? p_sallocx(p, 0) : 0);
    }
    const char *version = NULL;
    size_t len = sizeof(version);
    uint64_t epoch = 1;
    size_t allocated = 0, alen = sizeof(allocated);
    if (p_mallctl("version", &version, &len, NULL, 0) != 0 || version == NULL ||
        p_mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch)) != 0 ||
        p_mallctl("stats.allocated", &allocated, &alen, NULL, 0) != 0 || allocated < 112) {
        FAIL("mallctl version/epoch/stats.allocated");
    } else {
        printf("liballocator %s loaded with dlopen: mallocx works, stats.allocated %zu\n", version,
               allocated);
    }
    if (p != NULL) {
        p_dallocx(p, 0);
    }

    enum { NUSERS = 4 };
    pthread_t t[NUSERS];
    pthread_barrier_init(&used, NULL, NUSERS + 1);
    pthread_barrier_init(&closed, NULL, NUSERS + 1);
    for (uintptr_t i = 0; i < NUSERS; i++) {
        if (pthread_create(&t[i], NULL, thread_user, (void *)(i + 1)) != 0) {
            FAIL("pthread_create");
            return;
        }
    }
    pthread_barrier_wait(&used);
    if (dlclose(h) != 0) {
        FAIL("dlclose: %s", dlerror());
    }
    pthread_barrier_wait(&closed);
    for (int i = 0; i < NUSERS; i++) {
        void *bad = NULL;
        pthread_join(t[i], &bad);
        if (bad != NULL) {
            FAIL("a thread's mallocx/sallocx checks failed");
        }
    }
    for (int round = 0; round < 20; round++) {
        pthread_t u;
        if (pthread_create(&u, NULL, thread_plain, NULL) == 0) {
            pthread_join(u, NULL);
        }
    }
    printf("dlclose, then %d threads that had used it exited, then 20 more came and went\n",
           NUSERS);
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "measure") == 0) {
        dir = argv[2];
        unsigned taken = take(0, 1);
        printf("%u\n", taken);
        return failures != 0;
    }
    if (argc >= 5 && strcmp(argv[1], "run") == 0) {
        dir = argv[2];
        run((unsigned)strtoul(argv[3], NULL, 10), argv[4]);
        if (failures == 0) {
            printf("dlopen_tls: ok\n");
        }
        return failures != 0;
    }
    fprintf(stderr, "usage: dlopen_tls_prog measure DIR | run DIR BYTES LIBALLOCATOR\n");
    return 2;
}
