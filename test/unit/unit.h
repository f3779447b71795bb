/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * unit.h: a tiny harness for unit tests of internals. Each check prints file:line and the
 * values on failure; main() returns unit_finish(), which is 1 if any check failed.
 */
#ifndef TEST_UNIT_H
#define TEST_UNIT_H

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int unit_failures;
static int unit_checks;

#define check(cond)                                                                                \
    do {                                                                                           \
        unit_checks++;                                                                             \
        if (!(cond)) {                                                                             \
            unit_failures++;                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);              \
        }                                                                                          \
    } while (0)

#define check_eq(a, b)                                                                             \
    do {                                                                                           \
        unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b);           \
        unit_checks++;                                                                             \
        if (va_ != vb_) {                                                                          \
            unit_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s == %s failed: %llu != %llu\n", __FILE__, __LINE__, #a, #b,  \
                    va_, vb_);                                                                     \
        }                                                                                          \
    } while (0)

/* Strings a and b equal; on failure prints both, and the offset where they first differ. */
#define check_str(a, b)                                                                            \
    do {                                                                                           \
        const char *sa_ = (a), *sb_ = (b);                                                         \
        unit_checks++;                                                                             \
        if (strcmp(sa_, sb_) != 0) {                                                               \
            size_t at_ = 0;                                                                        \
            while (sa_[at_] == sb_[at_])                                                           \
                at_++;                                                                             \
            unit_failures++;                                                                       \
            fprintf(stderr,                                                                        \
                    "%s:%d: %s == %s failed at offset %zu:\n--- got:\n%s\n--- expected:\n%s\n",    \
                    __FILE__, __LINE__, #a, #b, at_, sa_, sb_);                                    \
        }                                                                                          \
    } while (0)

/* Run fn(arg) in a child with stderr captured; true if it died of SIGABRT saying want. */
static inline bool unit_aborts_with(void (*fn)(void *), void *arg, const char *want) {
    int fds[2];
    if (pipe(fds) != 0)
        return false;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 2);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    char buf[512];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof(buf) - 1 && (r = read(fds[0], buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fds[0]);
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return false;
    if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT || strstr(buf, want) == NULL) {
        fprintf(stderr, "child status %d, said: %s\n", status, buf);
        return false;
    }
    return true;
}

#ifdef ALLOCATOR_INTERNAL_TCACHE_H
/* Activate every bin of tc's cached classes, as each class's first use in the slow path does. */
static inline void unit_tcache_activate_all(tcache_t *tc) {
    for (unsigned bi = 1; bi <= tc->nhbins; bi++)
        if (!tcache_bin_active(tc, bi))
            tcache_bin_activate(tc, bi);
}
#endif

#ifdef ALLOCATOR_INTERNAL_TSD_H
/*
 * The calling thread's cache, made by a first malloc (which also initialises the allocator),
 * with every cached class's bin active.
 */
static inline tcache_t *unit_thread_cache(void) {
    free(malloc(1));
    tsd_t *tsd = tsd_get();
    check(tsd_is_real(tsd));
    unit_tcache_activate_all(&tsd->tcache);
    return &tsd->tcache;
}
#endif

#ifdef ALLOCATOR_INTERNAL_PROF_H
/* A heap profile dump (prof_dump_fd) read back into buf[0..cap), NUL-terminated; "" if it fails. */
static inline const char *unit_prof_dump(char *buf, size_t cap) {
    char path[] = "/tmp/allocator-unit-prof.XXXXXX";
    int fd = mkstemp(path);
    check(fd >= 0);
    if (fd < 0)
        return "";
    unlink(path);
    check(!prof_dump_fd(fd));
    lseek(fd, 0, SEEK_SET);
    size_t len = 0;
    ssize_t r;
    while (len < cap - 1 && (r = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    close(fd);
    buf[len] = '\0';
    return buf;
}
#endif

static inline int unit_finish(const char *name) {
    fprintf(stderr, "%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
    return unit_failures != 0;
}

#endif
