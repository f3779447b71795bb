/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Shared helpers for liballocator's integration, stress and static tests.
 *
 * Include this header first: it defines _GNU_SOURCE before any system header. Everything here is
 * static inline or a macro, so a test is one .c file with no test library to link.
 *
 * Checks come in two strengths:
 *   expect_*()  records a failure (file:line, expected, got) and lets the test go on, so one run
 *               shows every broken case; after TEST_MAX_REPORTS messages the rest are counted only.
 *   require_*() stops the test at once; use it when going on would crash (a NULL from malloc).
 * A test ends with `return test_done();`, which prints one summary line and returns 0 when every
 * check held and 1 otherwise. test_skip() exits 77 with a "SKIP:" line.
 *
 * Which allocator is in place. Integration tests run linked with -lallocator and unlinked under
 * LD_PRELOAD, so they must not call the jemalloc-compatible functions or free_sized directly (the
 * unlinked build would not link): test_sym() looks them up with dlsym(RTLD_DEFAULT, ...).
 * test_allocator_active() says whether liballocator serves this process, i.e. mallocx exists; when
 * it does not, the test fails, unless TEST_ALLOW_GLIBC=1 is set in the environment: a developer can
 * then run a test against plain glibc to check the portable semantics, and the checks that only
 * liballocator can pass (size classes, statistics text) are left out. CI never sets it.
 * Static tests link liballocator.a and call the extended interface directly: a static program has
 * no dynamic symbol table for dlsym to search.
 *
 * Compilers know what malloc does and may delete or fold what a test checks: see test_launder().
 */
#ifndef TEST_H
#define TEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../include/allocator.h"

#ifndef TEST_MAX_REPORTS
#define TEST_MAX_REPORTS 25
#endif

/* Counters shared by the checks of one test program (each test is a single translation unit). */
static unsigned long test_nchecks_;
static unsigned long test_nfailed_;

static inline void test_fail_(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void test_fail_(const char *file, int line, const char *fmt, ...) {
    unsigned long n = __atomic_add_fetch(&test_nfailed_, 1, __ATOMIC_RELAXED);
    if (n > TEST_MAX_REPORTS) {
        return;
    }
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s:%d: FAIL: %s\n", file, line, buf);
    if (n == TEST_MAX_REPORTS) {
        fprintf(stderr, "(further failures are counted, not printed)\n");
    }
    fflush(stderr);
}

/* Counts a check; returns its outcome so a caller can stop a loop after the first failure. */
static inline bool test_check_(bool ok) {
    __atomic_add_fetch(&test_nchecks_, 1, __ATOMIC_RELAXED);
    return ok;
}

#define test_fail(...) test_fail_(__FILE__, __LINE__, __VA_ARGS__)

typedef enum { TEST_EQ, TEST_NE, TEST_LT, TEST_LE, TEST_GT, TEST_GE } test_op_t;

static inline const char *test_op_str_(test_op_t op) {
    static const char *const s[] = {"==", "!=", "<", "<=", ">", ">="};
    return s[op];
}

static inline bool test_cmp_u_(const char *file, int line, test_op_t op, uintmax_t a, uintmax_t b,
                               const char *sa, const char *sb) {
    bool ok = op == TEST_EQ   ? a == b
              : op == TEST_NE ? a != b
              : op == TEST_LT ? a < b
              : op == TEST_LE ? a <= b
              : op == TEST_GT ? a > b
                              : a >= b;
    if (!test_check_(ok)) {
        test_fail_(file, line, "expected %s %s %s, got %ju (0x%jx) and %ju (0x%jx)", sa,
                   test_op_str_(op), sb, a, a, b, b);
    }
    return ok;
}

static inline bool test_cmp_d_(const char *file, int line, test_op_t op, intmax_t a, intmax_t b,
                               const char *sa, const char *sb) {
    bool ok = op == TEST_EQ   ? a == b
              : op == TEST_NE ? a != b
              : op == TEST_LT ? a < b
              : op == TEST_LE ? a <= b
              : op == TEST_GT ? a > b
                              : a >= b;
    if (!test_check_(ok)) {
        test_fail_(file, line, "expected %s %s %s, got %jd and %jd", sa, test_op_str_(op), sb, a,
                   b);
    }
    return ok;
}

static inline bool test_bool_(const char *file, int line, bool ok, const char *what) {
    if (!test_check_(ok)) {
        test_fail_(file, line, "expected %s", what);
    }
    return ok;
}

static inline bool test_ptr_(const char *file, int line, test_op_t op, const void *a, const void *b,
                             const char *sa, const char *sb) {
    __asm__ volatile("" : "+r"(a), "+r"(b)); /* no folding from what malloc is assumed to return */
    bool ok = op == TEST_EQ ? a == b : a != b;
    if (!test_check_(ok)) {
        test_fail_(file, line, "expected %s %s %s, got %p and %p", sa, test_op_str_(op), sb, a, b);
    }
    return ok;
}

static inline bool test_aligned_(const char *file, int line, const void *p, uintmax_t alignment,
                                 const char *sp, const char *sa) {
    uintptr_t v = (uintptr_t)p;
    __asm__ volatile("" : "+r"(v)); /* the compiler may assume what malloc aligns: forget it */
    uintmax_t off = (uintmax_t)v & (alignment - 1);
    if (!test_check_(off == 0)) {
        test_fail_(file, line, "expected %s aligned to %s = %ju, got %p (offset %ju)", sp, sa,
                   alignment, p, off);
    }
    return off == 0;
}

static inline bool test_errno_(const char *file, int line, int got, int want, const char *swant) {
    if (!test_check_(got == want)) {
        test_fail_(file, line, "expected errno %s (%d), got %d (%s)", swant, want, got,
                   strerror(got));
    }
    return got == want;
}

static inline bool test_contains_(const char *file, int line, const char *hay, const char *needle,
                                  const char *shay) {
    bool ok = hay != NULL && strstr(hay, needle) != NULL;
    if (!test_check_(ok)) {
        test_fail_(file, line, "expected %s to contain \"%s\"; it begins \"%.300s\"", shay, needle,
                   hay != NULL ? hay : "(null)");
    }
    return ok;
}

#define expect_true(c) test_bool_(__FILE__, __LINE__, (c) ? true : false, #c)
#define expect_false(c) test_bool_(__FILE__, __LINE__, (c) ? false : true, "!(" #c ")")

/* Unsigned comparisons (sizes, addresses as integers). Each operand is evaluated once. */
#define expect_cmp_u_(a, op, b)                                                                    \
    test_cmp_u_(__FILE__, __LINE__, op, (uintmax_t)(a), (uintmax_t)(b), #a, #b)
#define expect_zu_eq(a, b) expect_cmp_u_(a, TEST_EQ, b)
#define expect_zu_ne(a, b) expect_cmp_u_(a, TEST_NE, b)
#define expect_zu_lt(a, b) expect_cmp_u_(a, TEST_LT, b)
#define expect_zu_le(a, b) expect_cmp_u_(a, TEST_LE, b)
#define expect_zu_gt(a, b) expect_cmp_u_(a, TEST_GT, b)
#define expect_zu_ge(a, b) expect_cmp_u_(a, TEST_GE, b)

/* Signed comparisons (return codes). */
#define expect_cmp_d_(a, op, b)                                                                    \
    test_cmp_d_(__FILE__, __LINE__, op, (intmax_t)(a), (intmax_t)(b), #a, #b)
#define expect_d_eq(a, b) expect_cmp_d_(a, TEST_EQ, b)
#define expect_d_ne(a, b) expect_cmp_d_(a, TEST_NE, b)
#define expect_d_lt(a, b) expect_cmp_d_(a, TEST_LT, b)
#define expect_d_le(a, b) expect_cmp_d_(a, TEST_LE, b)
#define expect_d_gt(a, b) expect_cmp_d_(a, TEST_GT, b)
#define expect_d_ge(a, b) expect_cmp_d_(a, TEST_GE, b)

#define expect_ptr_eq(a, b)                                                                        \
    test_ptr_(__FILE__, __LINE__, TEST_EQ, (const void *)(a), (const void *)(b), #a, #b)
#define expect_ptr_ne(a, b)                                                                        \
    test_ptr_(__FILE__, __LINE__, TEST_NE, (const void *)(a), (const void *)(b), #a, #b)
#define expect_ptr_null(p)                                                                         \
    test_ptr_(__FILE__, __LINE__, TEST_EQ, (const void *)(p), NULL, #p, "NULL")
#define expect_ptr_not_null(p)                                                                     \
    test_ptr_(__FILE__, __LINE__, TEST_NE, (const void *)(p), NULL, #p, "NULL")
/* alignment must be a power of two. */
#define expect_ptr_aligned(p, alignment)                                                           \
    test_aligned_(__FILE__, __LINE__, (const void *)(p), (uintmax_t)(alignment), #p, #alignment)
/* Checks errno after a call: `expect_errno(ENOMEM)`. */
#define expect_errno(e) test_errno_(__FILE__, __LINE__, errno, (e), #e)
#define expect_str_contains(hay, needle) test_contains_(__FILE__, __LINE__, (hay), (needle), #hay)

/* Stop the test when a check fails and going on would only crash. */
#define require_(ok)                                                                               \
    do {                                                                                           \
        if (!(ok)) {                                                                               \
            fprintf(stderr, "%s:%d: fatal, the test cannot go on\n", __FILE__, __LINE__);          \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
#define require_true(c) require_(expect_true(c))
#define require_ptr_not_null(p) require_(expect_ptr_not_null(p))
#define require_zu_eq(a, b) require_(expect_zu_eq(a, b))

static inline int test_done(void) {
    const char *name = program_invocation_short_name;
    if (test_nfailed_ != 0) {
        fprintf(stderr, "FAILED: %s: %lu of %lu checks failed\n", name, test_nfailed_,
                test_nchecks_);
        return 1;
    }
    if (test_nchecks_ == 0) {
        fprintf(stderr, "FAILED: %s: made no checks\n", name);
        return 1;
    }
    printf("ok: %s: %lu checks\n", name, test_nchecks_);
    return 0;
}

static inline void test_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static inline void test_skip(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("SKIP: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    exit(77);
}

/* ---- Keeping the compiler out of the way ---- */

/*
 * Compilers know malloc: they delete a malloc/free pair whose block is not used, and fold an
 * alignment or NULL check using what they assume of the result. A test passes every pointer it
 * checks through test_launder(): the compiler must then keep the call, must do all earlier writes
 * to memory, and knows nothing of the value. test_hide() does the same for a size, so a constant
 * impossible size is not folded or warned about at compile time.
 */
static inline void *test_launder(void *p) {
    __asm__ volatile("" : "+r"(p) : : "memory");
    return p;
}

static inline size_t test_hide(size_t n) {
    __asm__ volatile("" : "+r"(n));
    return n;
}

/* ---- The free tag ---- */

/* What a freed block's first word holds while it is free (the allocator's FREE_TAG, tcache.h). */
#define TEST_FREE_TAG UINT64_C(0xffffffffcf7e10a1)

/*
 * A fresh block of each size never reads as tagged, though the last free of its size tagged one:
 * three rounds of malloc and free, then mallocx_fn(size, flags) and realloc(NULL, size).
 */
static inline void test_fresh_untagged(const size_t *sizes, size_t n,
                                       void *(*mallocx_fn)(size_t, int), int flags) {
    for (size_t s = 0; s < n; s++) {
        for (int i = 0; i < 3; i++) {
            uint64_t *p = test_launder(malloc(sizes[s]));
            require_ptr_not_null(p);
            expect_zu_ne(*p, TEST_FREE_TAG);
            free(p);
        }
        uint64_t *p = test_launder(mallocx_fn(sizes[s], flags));
        require_ptr_not_null(p);
        expect_zu_ne(*p, TEST_FREE_TAG);
        free(p);
        p = test_launder(realloc(NULL, sizes[s]));
        require_ptr_not_null(p);
        expect_zu_ne(*p, TEST_FREE_TAG);
        free(p);
    }
}

/* ---- Which allocator serves the process ---- */

static inline void *test_sym(const char *name) { return dlsym(RTLD_DEFAULT, name); }

static inline bool test_glibc_allowed(void) {
    const char *s = getenv("TEST_ALLOW_GLIBC");
    return s != NULL && strcmp(s, "1") == 0;
}

/*
 * True when liballocator serves this process. When it does not, this records a failure (once),
 * unless TEST_ALLOW_GLIBC=1, and returns false: the caller then leaves out checks that only
 * liballocator can pass.
 */
static inline bool test_allocator_active(void) {
    static int state; /* 0 unknown, 1 active, 2 absent */
    if (state == 0) {
        state = test_sym("mallocx") != NULL ? 1 : 2;
        if (state == 2 && !test_glibc_allowed()) {
            test_check_(false);
            test_fail("liballocator is not in place: dlsym(RTLD_DEFAULT, \"mallocx\") is NULL");
        }
    }
    return state == 1;
}

/*
 * liballocator's size class for a request: 16-byte quantum up to 128, then four classes per
 * doubling (160, 192, 224, 256, 320, ...). Size 0 is served from the smallest class.
 */
static inline size_t test_size_class(size_t size) {
    if (size <= 16) {
        return 16;
    }
    if (size <= 128) {
        return (size + 15) & ~(size_t)15;
    }
    /* 2^lg < size <= 2^(lg+1); classes there are 2^lg + k * 2^(lg-2), k = 1..4. */
    unsigned lg = 63u - (unsigned)__builtin_clzll((unsigned long long)(size - 1));
    size_t step = (size_t)1 << (lg - 2);
    return (size + step - 1) & ~(step - 1);
}

static inline size_t test_page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/*
 * Milliseconds of CLOCK_MONOTONIC. Tests never assert timing; a test whose claim holds only soon
 * after an event (pages not purged yet) measures how long it really took and checks the claim
 * only when that was short, so a descheduled run skips the check instead of failing it.
 */
static inline uint64_t test_ms_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- Deterministic pseudo-random numbers (one state per thread) ---- */

static inline uint64_t test_rand(uint64_t *state) {
    /* splitmix64 */
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static inline size_t test_rand_range(uint64_t *state, size_t lo, size_t hi) {
    return lo + (size_t)(test_rand(state) % (uint64_t)(hi - lo + 1));
}

/* ---- Content patterns: prove a block keeps its bytes and does not overlap another ---- */

/*
 * Fills n bytes with a pattern derived from seed: every byte set to a seed-derived value, and the
 * seed itself stored in the first and last 8 bytes when they fit, so a block swapped with, shifted
 * into or overlapping another block is caught.
 */
static inline void test_fill(void *p, size_t n, uint64_t seed) {
    unsigned char b = (unsigned char)(seed * 0x9d + 0x5b);
    memset(p, b, n);
    if (n >= 8) {
        memcpy(p, &seed, 8);
    }
    if (n >= 16) {
        memcpy((char *)p + n - 8, &seed, 8);
    }
}

/* Returns the offset of the first byte that differs from test_fill(p, n, seed), or n if none. */
static inline size_t test_check_fill(const void *p, size_t n, uint64_t seed) {
    const unsigned char *c = p;
    unsigned char b = (unsigned char)(seed * 0x9d + 0x5b);
    size_t head = n >= 8 ? 8 : 0;
    size_t tail = n >= 16 ? 8 : 0;
    if (head != 0 && memcmp(c, &seed, 8) != 0) {
        return 0;
    }
    if (tail != 0 && memcmp(c + n - 8, &seed, 8) != 0) {
        return n - 8;
    }
    size_t i = head;
    /* Compare eight bytes at a time, then the rest. */
    uint64_t w = 0x0101010101010101ULL * b;
    for (; i + 8 <= n - tail; i += 8) {
        uint64_t v;
        memcpy(&v, c + i, 8);
        if (v != w) {
            break;
        }
    }
    for (; i < n - tail; i++) {
        if (c[i] != b) {
            return i;
        }
    }
    return n;
}

static inline bool test_fill_ok_(const char *file, int line, const void *p, size_t n, uint64_t seed,
                                 const char *sp) {
    size_t off = test_check_fill(p, n, seed);
    if (!test_check_(off == n)) {
        test_fail_(file, line,
                   "contents of %s (%zu bytes at %p, seed %" PRIu64 ") changed at offset %zu", sp,
                   n, p, seed, off);
    }
    return off == n;
}
#define expect_fill(p, n, seed) test_fill_ok_(__FILE__, __LINE__, (p), (n), (seed), #p)

/* Returns the offset of the first byte of p[0..n) that is not `byte`, or n if none. */
static inline size_t test_find_not(const void *p, size_t n, unsigned char byte) {
    const unsigned char *c = p;
    size_t i = 0;
    uint64_t w = 0x0101010101010101ULL * byte;
    for (; i + 8 <= n; i += 8) {
        uint64_t v;
        memcpy(&v, c + i, 8);
        if (v != w) {
            break;
        }
    }
    for (; i < n; i++) {
        if (c[i] != byte) {
            return i;
        }
    }
    return n;
}

static inline bool test_all_bytes_(const char *file, int line, const void *p, size_t n,
                                   unsigned char byte, const char *sp) {
    size_t off = test_find_not(p, n, byte);
    if (!test_check_(off == n)) {
        test_fail_(file, line, "expected all %zu bytes of %s (%p) to be 0x%02x; byte %zu is 0x%02x",
                   n, sp, p, (unsigned)byte, off, (unsigned)((const unsigned char *)p)[off]);
    }
    return off == n;
}
#define expect_all_bytes(p, n, byte)                                                               \
    test_all_bytes_(__FILE__, __LINE__, (p), (n), (unsigned char)(byte), #p)

/* Reads a whole stream from its start (malloc'd, NUL-terminated) and closes it. */
static inline char *test_read_stream(FILE *f) {
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long len = ftell(f);
    rewind(f);
    char *buf = malloc((size_t)len + 1);
    if (buf != NULL) {
        size_t got = fread(buf, 1, (size_t)len, f);
        buf[got] = '\0';
    }
    fclose(f);
    return buf;
}

/*
 * Reads a whole file (malloc'd, NUL-terminated), or NULL if it cannot be opened. With read(2),
 * not stdio: a profiling test's dump must not gain a stdio buffer's allocation.
 */
static inline char *test_read_file(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 1 == cap)
            buf = realloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = '\0';
    return buf;
}

/* The lines of /proc/self/maps (the process's mappings), read with read(2), or 0. */
static inline size_t test_maps_count(void) {
    static char buf[1 << 16];
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t lines = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    }
    close(fd);
    return lines;
}

/* ---- Capturing what a call writes to standard error ---- */

typedef struct {
    int saved_fd;
    FILE *file;
} test_capture_t;

/* Sends fd 2 into a temporary file until test_capture_end(). */
static inline bool test_capture_begin(test_capture_t *cap) {
    cap->saved_fd = -1;
    fflush(stderr);
    cap->file = tmpfile();
    if (cap->file == NULL) {
        return false;
    }
    cap->saved_fd = dup(2);
    if (cap->saved_fd < 0 || dup2(fileno(cap->file), 2) < 0) {
        fclose(cap->file);
        return false;
    }
    return true;
}

/* Restores fd 2; returns what was written (malloc'd, NUL-terminated) or NULL. */
static inline char *test_capture_end(test_capture_t *cap) {
    fflush(stderr);
    dup2(cap->saved_fd, 2);
    close(cap->saved_fd);
    return test_read_stream(cap->file);
}

/* ---- Running a child with its output in a pipe ---- */

/*
 * Forks like fork(), with the child's standard output (and standard error too when with_stderr)
 * going into a pipe: returns 0 in the child, which then sets itself up and execs; in the parent,
 * the child's pid, and *fd is the pipe's read end for test_child_collect(). A failed pipe or fork
 * stops the test.
 */
static inline pid_t test_fork_piped(int *fd, bool with_stderr) {
    int fds[2];
    require_true(pipe(fds) == 0);
    pid_t pid = fork();
    require_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 1);
        if (with_stderr) {
            dup2(fds[1], 2);
        }
        close(fds[0]);
        close(fds[1]);
        return 0;
    }
    close(fds[1]);
    *fd = fds[0];
    return pid;
}

/*
 * Reads fd to its end (keeping the first outsize - 1 bytes in out, NUL-terminated, and draining
 * the rest so the child never blocks), closes it, waits for pid and returns its wait status.
 */
static inline int test_child_collect(int fd, pid_t pid, char *out, size_t outsize) {
    char sink[4096];
    size_t len = 0;
    for (;;) {
        bool room = len < outsize - 1;
        ssize_t r = room ? read(fd, out + len, outsize - 1 - len) : read(fd, sink, sizeof(sink));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            break;
        }
        if (room) {
            len += (size_t)r;
        }
    }
    out[len] = '\0';
    close(fd);
    int status = 0;
    require_true(waitpid(pid, &status, 0) == pid);
    return status;
}

/*
 * Finds the statistics line "Allocations: nmalloc N, ndalloc N, nrequests N" in text and returns
 * nmalloc, or -1 when there is none.
 */
static inline long long test_stats_nmalloc(const char *text) {
    const char *s = text ? strstr(text, "Allocations: nmalloc ") : NULL;
    if (s == NULL) {
        return -1;
    }
    return strtoll(s + strlen("Allocations: nmalloc "), NULL, 10);
}

/* Resident set size of this process in bytes, from /proc/self/statm. */
static inline size_t test_rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f != NULL) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2) {
            resident = 0;
        }
        fclose(f);
    }
    return (size_t)resident * test_page_size();
}

/* ---- running this program again as a child under another MALLOC_CONF ---- */

extern char **environ;

typedef struct {
    int status; /* from waitpid */
    char *out;  /* standard output */
    char *err;  /* standard error */
} test_child_t;

/*
 * Runs /proc/self/exe (argv[0] name, one argument arg) with the environment minus MALLOC_CONF
 * plus MALLOC_CONF=conf (conf NULL: unset) and no core dumps; collects its status and output.
 */
static inline test_child_t test_run_self(const char *name, const char *arg, const char *conf) {
    test_child_t c = {-1, NULL, NULL};
    FILE *out = tmpfile(), *err = tmpfile();
    require_true(out != NULL && err != NULL);
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = calloc(n + 2, sizeof(char *));
    require_ptr_not_null(env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "MALLOC_CONF=", 12) != 0)
            env[k++] = environ[i];
    }
    char *conf_var = NULL;
    if (conf != NULL) {
        conf_var = malloc(strlen(conf) + 13);
        require_ptr_not_null(conf_var);
        strcpy(conf_var, "MALLOC_CONF=");
        strcat(conf_var, conf);
        env[k++] = conf_var;
    }
    env[k] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    require_true(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        dup2(fileno(out), 1);
        dup2(fileno(err), 2);
        char *argv[] = {(char *)name, (char *)arg, NULL};
        execve("/proc/self/exe", argv, env);
        _exit(127);
    }
    require_true(waitpid(pid, &c.status, 0) == pid);
    c.out = test_read_stream(out);
    c.err = test_read_stream(err);
    require_true(c.out != NULL && c.err != NULL);
    free(env);
    free(conf_var);
    return c;
}

/* ---- threads bound to arenas ---- */

typedef struct {
    pthread_barrier_t all_alive;
    sem_t chosen;
} test_arenas_sync_t;
typedef struct {
    test_arenas_sync_t *sync;
    unsigned arena;
} test_arenas_slot_t;

static inline void *test_thread_arena_(void *arg) {
    test_arenas_slot_t *slot = arg;
    free(test_launder(malloc(64)));
    size_t sz = sizeof(slot->arena);
    if (mallctl("thread.arena", &slot->arena, &sz, NULL, 0) != 0)
        slot->arena = UINT32_MAX;
    sem_post(&slot->sync->chosen);
    pthread_barrier_wait(&slot->sync->all_alive);
    return NULL;
}

/*
 * Starts n threads (n <= 64) one after another, each once the previous one has its arena, and
 * keeps them all alive until the last has chosen (so none frees its arena for the next): got[i]
 * is the arena of the i-th (UINT32_MAX if thread.arena failed).
 */
static inline void test_thread_arenas(unsigned n, unsigned *got) {
    test_arenas_sync_t sync;
    pthread_t tids[64];
    test_arenas_slot_t slots[64];
    require_true(n <= 64 && pthread_barrier_init(&sync.all_alive, NULL, n) == 0);
    require_true(sem_init(&sync.chosen, 0, 0) == 0);
    for (unsigned i = 0; i < n; i++) {
        slots[i].sync = &sync;
        require_true(pthread_create(&tids[i], NULL, test_thread_arena_, &slots[i]) == 0);
        while (sem_wait(&sync.chosen) != 0)
            ;
    }
    for (unsigned i = 0; i < n; i++) {
        pthread_join(tids[i], NULL);
        got[i] = slots[i].arena;
    }
    pthread_barrier_destroy(&sync.all_alive);
    sem_destroy(&sync.chosen);
}

/* ---- mallctl readers and the size mixes of random workloads, shared by the tests ---- */

/* Reads name into v (size bytes); a failure or a short read fails the test. */
static inline bool test_ctl_read_(const char *file, int line, const char *name, void *v,
                                  size_t size) {
    size_t len = size;
    int err = mallctl(name, v, &len, NULL, 0);
    if (!test_check_(err == 0 && len == size)) {
        test_fail_(file, line, "mallctl(\"%s\"): error %d, length %zu (want %zu)", name, err,
                   len, size);
        return false;
    }
    return true;
}
static inline size_t test_ctl_size_(const char *file, int line, const char *name) {
    size_t v = 0;
    test_ctl_read_(file, line, name, &v, sizeof(v));
    return v;
}
static inline uint64_t test_ctl_u64_(const char *file, int line, const char *name) {
    uint64_t v = 0;
    test_ctl_read_(file, line, name, &v, sizeof(v));
    return v;
}
static inline unsigned test_ctl_unsigned_(const char *file, int line, const char *name) {
    unsigned v = 0;
    test_ctl_read_(file, line, name, &v, sizeof(v));
    return v;
}
#define test_ctl_size(name) test_ctl_size_(__FILE__, __LINE__, name)
#define test_ctl_u64(name) test_ctl_u64_(__FILE__, __LINE__, name)
#define test_ctl_unsigned(name) test_ctl_unsigned_(__FILE__, __LINE__, name)

/* A statistic of type size_t, read after advancing the epoch (statistics are refreshed then). */
static inline size_t test_stat_size_(const char *file, int line, const char *name) {
    uint64_t epoch = 1;
    int err = mallctl("epoch", NULL, NULL, &epoch, sizeof(epoch));
    if (!test_check_(err == 0))
        test_fail_(file, line, "mallctl(\"epoch\"): error %d", err);
    return test_ctl_size_(file, line, name);
}
#define test_stat_size(name) test_stat_size_(__FILE__, __LINE__, name)

/* The arena that owns p ("arenas.lookup"); UINT32_MAX, and a failed test, if it fails. */
static inline unsigned test_arena_of_(const char *file, int line, void *p) {
    unsigned a = UINT32_MAX;
    size_t len = sizeof(a);
    int err = mallctl("arenas.lookup", &a, &len, &p, sizeof(p));
    if (!test_check_(err == 0)) {
        test_fail_(file, line, "arenas.lookup(%p): error %d", p, err);
        return UINT32_MAX;
    }
    return a;
}
#define test_arena_of(p) test_arena_of_(__FILE__, __LINE__, p)

/*
 * A random workload's request sizes: each band is drawn with the given weight, out of 1000 in
 * all, and its size uniformly in [lo, hi]; the last band takes whatever weight remains.
 */
typedef struct {
    unsigned permille;
    size_t lo, hi;
} test_size_band_t;
static inline size_t test_rand_size(uint64_t *rng, const test_size_band_t *bands, size_t nbands) {
    uint64_t pick = test_rand(rng) % 1000;
    size_t i = 0;
    for (unsigned below = bands[0].permille; i + 1 < nbands && pick >= below;
         below += bands[++i].permille) {
    }
    return test_rand_range(rng, bands[i].lo, bands[i].hi);
}
#define TEST_RAND_SIZE(rng, bands) test_rand_size(rng, bands, sizeof(bands) / sizeof((bands)[0]))

/* The calling thread's allocation counter (thread.allocatedp: it lies inside its state), or NULL. */
static inline uint64_t *test_thread_counter(void) {
    uint64_t *p = NULL;
    size_t len = sizeof(p);
    if (mallctl("thread.allocatedp", &p, &len, NULL, 0) != 0)
        return NULL;
    return p;
}

/*
 * The fork tests' check of a child whose only thread carries the state its parent made
 * (stress/fork_thread_ids, stress/fork_single_reap): TEST_CHILD_THREADS threads that stay alive
 * together (well past the 32 live states at which the allocator looks for states of threads
 * that are gone: tsd_reap) allocate and report their counters' addresses. None may be the
 * calling thread's, and its counter must still count its allocations. Returns 0, or the number
 * of the check that failed (3 to 7).
 */
enum { TEST_CHILD_THREADS = 100 };
static pthread_barrier_t test_child_all_alive __attribute__((unused));
static uint64_t *test_child_counters[TEST_CHILD_THREADS] __attribute__((unused));

static inline void *test_child_thread_(void *arg) {
    size_t i = (size_t)(uintptr_t)arg;
    void *p = test_launder(malloc(100 + i));
    test_child_counters[i] = test_thread_counter();
    pthread_barrier_wait(&test_child_all_alive); /* all alive at once, states all listed */
    free(p);
    return NULL;
}

static inline int test_child_states_check(void) {
    uint64_t *mine = test_thread_counter();
    if (mine == NULL)
        return 3;
    if (pthread_barrier_init(&test_child_all_alive, NULL, TEST_CHILD_THREADS + 1) != 0)
        return 4;
    pthread_t t[TEST_CHILD_THREADS];
    for (size_t i = 0; i < TEST_CHILD_THREADS; i++) {
        if (pthread_create(&t[i], NULL, test_child_thread_, (void *)(uintptr_t)i) != 0)
            return 5;
    }
    pthread_barrier_wait(&test_child_all_alive);
    for (size_t i = 0; i < TEST_CHILD_THREADS; i++)
        pthread_join(t[i], NULL);
    for (size_t i = 0; i < TEST_CHILD_THREADS; i++) {
        if (test_child_counters[i] == NULL || test_child_counters[i] == mine)
            return 6; /* a thread got no state, or the forking thread's */
    }
    uint64_t before = *mine;
    void *p = test_launder(malloc(5000));
    free(p);
    if (*mine == before || test_thread_counter() != mine)
        return 7; /* the forking thread's counter no longer counts its allocations */
    return 0;
}

#endif /* TEST_H */
