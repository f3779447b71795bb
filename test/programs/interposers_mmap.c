/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * An interposer on mmap, munmap and open/open64/openat (run by interposers.sh), as tracing and
 * sandboxing tools build them: each function finds the real one with dlsym(RTLD_NEXT, ...) on its
 * first use. dlsym may allocate, and the allocator may map memory for that allocation, which calls
 * back into this mmap while it is still resolving: such nested calls go straight to the system
 * call, the usual way out.
 *
 * At exit it prints "mmap-interposer: mmap N (bytes B) munmap N open N" on stderr.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef void *(*mmap_fn)(void *, size_t, int, int, int, off_t);
typedef int (*munmap_fn)(void *, size_t);
typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);

static mmap_fn next_mmap;
static munmap_fn next_munmap;
static open_fn next_open, next_open64;
static openat_fn next_openat;
static __thread int resolving; /* this thread is inside dlsym for us */
static unsigned long n_mmap, n_munmap, n_open;
static unsigned long long mmap_bytes;

/* Resolves one symbol; returns NULL when called again from within dlsym. */
static void *resolve(void **slot, const char *name) {
    void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (f != NULL || resolving) {
        return f;
    }
    resolving = 1;
    f = dlsym(RTLD_NEXT, name);
    resolving = 0;
    if (f == NULL) {
        static const char msg[] = "mmap-interposer: dlsym(RTLD_NEXT) failed\n";
        (void)!write(2, msg, sizeof(msg) - 1);
        _exit(99);
    }
    __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    return f;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    __atomic_add_fetch(&n_mmap, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&mmap_bytes, len, __ATOMIC_RELAXED);
    mmap_fn f = (mmap_fn)resolve((void **)&next_mmap, "mmap");
    if (f == NULL) {
        return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    }
    return f(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    return mmap(addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len) {
    __atomic_add_fetch(&n_munmap, 1, __ATOMIC_RELAXED);
    munmap_fn f = (munmap_fn)resolve((void **)&next_munmap, "munmap");
    if (f == NULL) {
        return (int)syscall(SYS_munmap, addr, len);
    }
    return f(addr, len);
}

static mode_t mode_arg(int flags, va_list ap) {
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

/* Counts an open and forwards it to the next definition of name (an openat one when at). */
static int open_next(void **slot, const char *name, bool at, int dirfd, const char *path, int flags,
                     mode_t mode) {
    __atomic_add_fetch(&n_open, 1, __ATOMIC_RELAXED);
    void *f = resolve(slot, name);
    if (f == NULL) {
        return (int)syscall(SYS_openat, dirfd, path, flags, mode);
    }
    return at ? ((openat_fn)f)(dirfd, path, flags, mode) : ((open_fn)f)(path, flags, mode);
}

int open(const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return open_next((void **)&next_open, "open", false, AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return open_next((void **)&next_open64, "open64", false, AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...) {
    va_list ap;
    va_start(ap, flags);
    mode_t mode = mode_arg(flags, ap);
    va_end(ap);
    return open_next((void **)&next_openat, "openat", true, dirfd, path, flags, mode);
}

__attribute__((destructor)) static void report(void) {
    char line[160];
    int n =
        snprintf(line, sizeof(line), "mmap-interposer: mmap %lu (bytes %llu) munmap %lu open %lu\n",
                 n_mmap, mmap_bytes, n_munmap, n_open);
    if (n > 0) {
        (void)!write(2, line, (size_t)n);
    }
}
