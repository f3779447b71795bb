/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * A malloc interposer built the way memory profilers are (run by interposers.sh): it defines
 * malloc, calloc, realloc and free, finds the functions it wraps with dlsym(RTLD_NEXT, ...) on its
 * first call, and measures each block with malloc_usable_size. dlsym itself may allocate (calloc,
 * for its error state) while the interposer is still resolving: calloc then returns NULL, as
 * profilers do, and malloc serves from a small static buffer, which free recognises and ignores.
 *
 * At exit it prints "interposer: malloc N calloc N realloc N free N, live bytes B, while
 * resolving: malloc N calloc N (given NULL), usable-size errors E" on stderr; E counts blocks
 * whose usable size was smaller than requested.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *(*next_malloc)(size_t);
static void *(*next_calloc)(size_t, size_t);
static void *(*next_realloc)(void *, size_t);
static void (*next_free)(void *);
static size_t (*next_usable_size)(void *);

static int resolving;
static unsigned long n_malloc, n_calloc, n_realloc, n_free, n_usable_errors;
static unsigned long n_early_malloc, n_early_calloc; /* calls made while resolving */
static long long live_bytes;

/* Blocks handed out while resolving: never freed, never passed on. */
static _Alignas(16) char early_buf[8192];
static size_t early_used;

static int is_early(const void *p) {
    return (const char *)p >= early_buf && (const char *)p < early_buf + sizeof(early_buf);
}

static void *early_alloc(size_t size) {
    size_t at = __atomic_fetch_add(&early_used, (size + 15) & ~(size_t)15, __ATOMIC_RELAXED);
    if (at + size > sizeof(early_buf)) {
        return NULL;
    }
    return early_buf + at;
}

static void resolve(void) {
    if (__atomic_load_n(&next_free, __ATOMIC_ACQUIRE) != NULL) {
        return;
    }
    __atomic_store_n(&resolving, 1, __ATOMIC_RELAXED);
    next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    next_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    next_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    next_usable_size = (size_t(*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
    /* An optional function, as profilers look some up: its absence is an error inside dlsym,
     * which allocates the error message, here while resolving. */
    if (dlsym(RTLD_NEXT, "interposer_optional_absent") == NULL) {
        (void)dlerror();
    }
    void (*f)(void *) = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    __atomic_store_n(&next_free, f, __ATOMIC_RELEASE);
    __atomic_store_n(&resolving, 0, __ATOMIC_RELAXED);
    if (next_malloc == NULL || next_calloc == NULL || next_realloc == NULL || f == NULL ||
        next_usable_size == NULL) {
        static const char msg[] = "interposer: dlsym(RTLD_NEXT) failed\n";
        (void)!write(2, msg, sizeof(msg) - 1);
        _exit(99);
    }
}

static void account(void *p, size_t requested, int sign) {
    if (p == NULL) {
        return;
    }
    size_t usable = next_usable_size(p);
    if (sign > 0 && usable < requested) {
        __atomic_add_fetch(&n_usable_errors, 1, __ATOMIC_RELAXED);
    }
    __atomic_add_fetch(&live_bytes, sign * (long long)usable, __ATOMIC_RELAXED);
}

void *malloc(size_t size) {
    if (__atomic_load_n(&resolving, __ATOMIC_RELAXED)) {
        __atomic_add_fetch(&n_early_malloc, 1, __ATOMIC_RELAXED);
        return early_alloc(size);
    }
    resolve();
    __atomic_add_fetch(&n_malloc, 1, __ATOMIC_RELAXED);
    void *p = next_malloc(size);
    account(p, size, 1);
    return p;
}

void *calloc(size_t n, size_t size) {
    if (__atomic_load_n(&resolving, __ATOMIC_RELAXED)) {
        __atomic_add_fetch(&n_early_calloc, 1, __ATOMIC_RELAXED);
        return NULL; /* dlsym's own calloc: it copes */
    }
    resolve();
    __atomic_add_fetch(&n_calloc, 1, __ATOMIC_RELAXED);
    void *p = next_calloc(n, size);
    account(p, n * size, 1);
    return p;
}

void *realloc(void *old, size_t size) {
    if (is_early(old)) {
        void *p = malloc(size);
        if (p != NULL) {
            size_t avail = (size_t)(early_buf + sizeof(early_buf) - (char *)old);
            memcpy(p, old, size < avail ? size : avail);
        }
        return p;
    }
    resolve();
    __atomic_add_fetch(&n_realloc, 1, __ATOMIC_RELAXED);
    account(old, 0, -1);
    void *p = next_realloc(old, size);
    if (p == NULL && size != 0) {
        account(old, 0, 1); /* the old block lives on */
    }
    account(p, size, 1);
    return p;
}

void free(void *p) {
    if (p == NULL || is_early(p)) {
        return;
    }
    resolve();
    __atomic_add_fetch(&n_free, 1, __ATOMIC_RELAXED);
    account(p, 0, -1);
    next_free(p);
}

__attribute__((destructor)) static void report(void) {
    char line[256];
    int n =
        snprintf(line, sizeof(line),
                 "interposer: malloc %lu calloc %lu realloc %lu free %lu, live bytes %lld, "
                 "while resolving: malloc %lu calloc %lu (given NULL), usable-size errors %lu\n",
                 n_malloc, n_calloc, n_realloc, n_free, live_bytes, n_early_malloc, n_early_calloc,
                 n_usable_errors);
    if (n > 0) {
        (void)!write(2, line, (size_t)n);
    }
}
