/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Heap profiling through the public interface (prof.conf turns it on, with prof_final,
 * prof_leak and an interval dump every MiB). prof.reset to lg_sample 0 samples every allocation,
 * so the counts below are exact:
 * - sampled blocks behave: usable size of the requested class, realloc in place within it,
 *   calloc zeroed, alignment kept, sized free accepted; thread.allocated stays exact;
 * - a sampled large block grows and shrinks in place, counted at its new size; an unsampled one
 *   that grows in place counts the growth toward the sample countdown;
 * - a sampled small block's extent is reused by the thread's next one;
 * - arena.<i>.reset and .destroy uncount the arena's sampled blocks and release their last-N
 *   records;
 * - the extent a thread keeps from a freed sampled small block is no block to malloc_iterate,
 *   and a double free of that block is still caught;
 * - prof.dump to a named file writes heap_v2/1, the live count, stacks and MAPPED_LIBRARIES;
 *   without a name it writes jeprof.<pid>.<seq>.m<mseq>.heap with both numbers counting up;
 * - thread.prof.name appears on the thread's per-thread line, and bad names are EFAULT;
 * - prof.reset clears the counts, and blocks sampled before it are freed without harm;
 * - interval dumps (i) appear, and gdump (u) writes one when the mapped memory peaks;
 * - a forked child profiles on its own: its dump is named with its pid and sequence 0, and its
 *   final dump (f) and leak summary are written at its exit.
 * The dumps go to the test's scratch directory (the default prefix is relative).
 */
#include "../test.h"

#include <allocator.h>
#include <fcntl.h>
#include <glob.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>

/* Through dlsym: the .preload build is not linked with the library. */
typedef int mallctl_fn(const char *, void *, size_t *, void *, size_t);
static mallctl_fn *mallctl_f;
static void (*sdallocx_f)(void *, size_t, int);
static size_t (*nallocx_f)(size_t, int);
static void *(*mallocx_f)(size_t, int);
static void *(*rallocx_f)(void *, size_t, int);
static size_t (*xallocx_f)(void *, size_t, size_t, int);
#define mallctl mallctl_f
#define sdallocx sdallocx_f
#define nallocx nallocx_f
#define mallocx mallocx_f
#define rallocx rallocx_f
#define xallocx xallocx_f

static size_t count_files(const char *pattern) {
    glob_t g;
    size_t n = glob(pattern, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
    globfree(&g);
    return n;
}

static void reset(size_t lg) { expect_d_eq(mallctl("prof.reset", NULL, NULL, &lg, sizeof(lg)), 0); }

static char *dump_named(const char *name) {
    expect_d_eq(mallctl("prof.dump", NULL, NULL, &name, sizeof(name)), 0);
    char *text = test_read_file(name);
    expect_ptr_not_null(text);
    return text;
}

/* The live-object count of the header's "t*:" line, or -1. */
static long live_count(const char *text) {
    const char *t = strstr(text, "\n  t*: ");
    return t == NULL ? -1 : strtol(t + 7, NULL, 10);
}

static void test_blocks(void) {
    uint64_t *allocp;
    size_t sz = sizeof(allocp);
    require_(expect_d_eq(mallctl("thread.allocatedp", &allocp, &sz, NULL, 0), 0));
    uint64_t a0 = *allocp;
    char *p = test_launder(malloc(24));
    require_ptr_not_null(p);
    expect_zu_eq(*allocp - a0, 32);
    expect_zu_eq(malloc_usable_size(p), 32);
    memset(p, 7, 32);
    expect_ptr_eq(test_launder(realloc(p, 30)), p); /* the same class: stays */
    sdallocx(p, 24, 0);
    unsigned char *z = test_launder(calloc(10, 100));
    require_ptr_not_null(z);
    bool zero = true;
    for (size_t i = 0; i < 1000; i++)
        zero &= z[i] == 0;
    expect_true(zero);
    free(z);
    void *a = test_launder(aligned_alloc(4096, 100));
    expect_ptr_aligned(a, 4096);
    expect_zu_eq(malloc_usable_size(a), nallocx(100, 12)); /* MALLOCX_LG_ALIGN(12) */
    free(a);
    void *big = test_launder(malloc(100000));
    require_ptr_not_null(big);
    expect_zu_eq(malloc_usable_size(big), nallocx(100000, 0));
    big = test_launder(realloc(big, 300000));
    require_ptr_not_null(big);
    free(big);
}

/*
 * A sampled block is handed out as any other: never reading as a freed block's tag (the free
 * tag, tcache.h), though the thread's cache it may come from tagged it at the last free. Every
 * allocation is sampled here (prof.reset to lg_sample 0).
 */
static void test_tag_cleared(void) {
    static const size_t sizes[] = {16, 64, 100, 10000, 20000, 40000};
    test_fresh_untagged(sizes, sizeof(sizes) / sizeof(sizes[0]), mallocx_f, 4); /* LG_ALIGN(4) */
}

/* The live objects and bytes of a dump taken now (the header's "t*:" line). */
static void live_now(long *objs, long *bytes) {
    *objs = *bytes = -1;
    char *text = dump_named("live.heap");
    if (text == NULL)
        return;
    const char *t = strstr(text, "\n  t*: ");
    if (t != NULL && sscanf(t + 7, "%ld: %ld", objs, bytes) != 2)
        *objs = *bytes = -1;
    free(text);
}

/*
 * A sampled large block resizes in place (it used to move on every realloc): in a new arena
 * nothing follows it, so growth by rallocx and xallocx and a shrink keep its address, and the
 * profile counts it at its new size. An unsampled block that grows in place counts the bytes
 * gained toward the sample countdown: at lg_sample 0 the growth takes a sample, and the block
 * becomes sampled where it is. Sizes in pages: a class of fewer than 4 pages is small.
 */
static void test_resize_in_place(void) {
    unsigned a;
    size_t sz = sizeof(a), page = 0;
    require_(expect_d_eq(mallctl("arenas.create", &a, &sz, NULL, 0), 0));
    sz = sizeof(page);
    require_(expect_d_eq(mallctl("arenas.page", &page, &sz, NULL, 0), 0));
    int flags = MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE;
    long objs0, bytes0, objs, bytes;
    const size_t s1 = 5 * page - 100, s2 = 12 * page, s3 = 24 * page, s4 = 8 * page;
    reset(0);
    live_now(&objs0, &bytes0);
    char *p = test_launder(mallocx(s1, flags));
    require_ptr_not_null(p);
    size_t u1 = nallocx(s1, 0), u2 = nallocx(s2, 0), u3 = nallocx(s3, 0), u4 = nallocx(s4, 0);
    live_now(&objs, &bytes);
    expect_d_eq(objs, objs0 + 1);
    expect_d_eq(bytes, bytes0 + (long)u1);
    memset(p, 3, u1);
    expect_ptr_eq(test_launder(rallocx(p, s2, flags)), p);
    expect_zu_eq(malloc_usable_size(p), u2);
    expect_true(p[0] == 3 && p[u1 - 1] == 3);
    live_now(&objs, &bytes);
    expect_d_eq(objs, objs0 + 1);
    expect_d_eq(bytes, bytes0 + (long)u2);
    expect_zu_eq(xallocx(p, s3, 0, flags), u3);
    live_now(&objs, &bytes);
    expect_d_eq(bytes, bytes0 + (long)u3);
    /* At a period of 1 byte a shrunk block stays sampled (probability 1 - e^-s4). */
    expect_ptr_eq(test_launder(rallocx(p, s4, flags)), p);
    live_now(&objs, &bytes);
    expect_d_eq(objs, objs0 + 1);
    expect_d_eq(bytes, bytes0 + (long)u4);
    free(p);
    live_now(&objs, &bytes);
    expect_d_eq(objs, objs0);
    expect_d_eq(bytes, bytes0);
    /* Allocated unsampled (prof.active off), then grown with sampling on. */
    bool off = false, on = true;
    expect_d_eq(mallctl("prof.active", NULL, NULL, &off, sizeof(off)), 0);
    p = test_launder(mallocx(s1, flags));
    expect_d_eq(mallctl("prof.active", NULL, NULL, &on, sizeof(on)), 0);
    require_ptr_not_null(p);
    live_now(&objs, &bytes);
    expect_d_eq(objs, objs0);
    expect_ptr_eq(test_launder(rallocx(p, s2, flags)), p);
    live_now(&objs, &bytes);
    expect_d_eq(objs, objs0 + 1);
    expect_d_eq(bytes, bytes0 + (long)u2);
    expect_zu_eq(malloc_usable_size(p), u2);
    free(p);
    live_now(&objs, &bytes);
    expect_d_eq(objs, objs0);
    expect_d_eq(bytes, bytes0);
}

/* Extents of the smallest large class the thread's arena has made so far. */
static uint64_t lextent0_made(void) {
    unsigned a;
    size_t sz = sizeof(a);
    expect_d_eq(mallctl("thread.arena", &a, &sz, NULL, 0), 0);
    uint64_t e = 1, n = 0;
    expect_d_eq(mallctl("epoch", NULL, NULL, &e, sizeof(e)), 0);
    char name[64];
    snprintf(name, sizeof(name), "stats.arenas.%u.lextents.0.nmalloc", a);
    sz = sizeof(n);
    expect_d_eq(mallctl(name, &n, &sz, NULL, 0), 0);
    return n;
}

/*
 * A sampled small block lives in an extent of its own (16 KiB with 4 KiB pages); its free leaves
 * that extent with the thread (kept as it is, or in its cache as a free block of that class),
 * and the next sampled small block takes it from there, so a thread that samples small blocks
 * over and over makes no new extent for each.
 */
static void test_sampled_reuse(void) {
    /* Three at a time when the cache holds the class: one kept, two in the cache. */
    bool tcache = false;
    size_t tcache_max = 0, page = 0, sz = sizeof(tcache);
    expect_d_eq(mallctl("opt.tcache", &tcache, &sz, NULL, 0), 0);
    sz = sizeof(tcache_max);
    expect_d_eq(mallctl("opt.tcache_max", &tcache_max, &sz, NULL, 0), 0);
    expect_d_eq(mallctl("arenas.page", &page, &sz, NULL, 0), 0);
    int n = tcache && tcache_max >= 4 * page ? 3 : 1;
    reset(0);
    char *p[3];
    for (int k = 0; k < n; k++)
        p[k] = test_launder(malloc(100));
    for (int k = 0; k < n; k++)
        free(p[k]); /* the thread now keeps them */
    uint64_t before = lextent0_made();
    for (int i = 0; i < 20; i++) {
        for (int k = 0; k < n; k++) {
            p[k] = test_launder(malloc(100));
            require_ptr_not_null(p[k]);
            expect_zu_eq(malloc_usable_size(p[k]), nallocx(100, 0));
            memset(p[k], 1, 100);
        }
        for (int k = 0; k < n; k++)
            free(p[k]);
    }
    expect_zu_eq((size_t)lextent0_made(), (size_t)before);
}

/* The last-N records' JSON, through alloc_dump's callback (static: no allocation in it). */
static char recent_json[1 << 16];
static size_t recent_len;
static void recent_write(void *opaque, const char *s) {
    (void)opaque;
    size_t n = strlen(s);
    if (recent_len + n < sizeof(recent_json)) {
        memcpy(recent_json + recent_len, s, n);
        recent_len += n;
        recent_json[recent_len] = '\0';
    }
}

static size_t count_str(const char *s, const char *needle) {
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static size_t recent_unreleased(void) {
    struct {
        void (*write_cb)(void *, const char *);
        void *cbopaque;
    } args = {recent_write, NULL};
    recent_len = 0;
    recent_json[0] = '\0';
    expect_d_eq(mallctl("experimental.prof_recent.alloc_dump", NULL, NULL, &args, sizeof(args)),
                0);
    return count_str(recent_json, "\"released\":false");
}

/*
 * arena.<i>.reset and .destroy free every block of the arena at once: the sampled ones among
 * them leave the profile, and their last-N records are marked released.
 */
static void test_arena_reset(void) {
    ssize_t max = 64, old_max = 0;
    size_t sz = sizeof(old_max);
    expect_d_eq(mallctl("experimental.prof_recent.alloc_max", &old_max, &sz, &max, sizeof(max)),
                0);
    for (int destroy = 0; destroy < 2; destroy++) {
        unsigned a;
        sz = sizeof(a);
        require_(expect_d_eq(mallctl("arenas.create", &a, &sz, NULL, 0), 0));
        int flags = MALLOCX_ARENA(a) | MALLOCX_TCACHE_NONE;
        reset(0);
        long objs0, bytes0, objs, bytes;
        live_now(&objs0, &bytes0);
        size_t unreleased0 = recent_unreleased();
        size_t want_bytes = 0;
        for (int i = 0; i < 6; i++) {
            size_t size = i % 2 == 0 ? 100 : 50000;
            require_ptr_not_null(test_launder(mallocx(size, flags)));
            want_bytes += nallocx(size, 0);
        }
        live_now(&objs, &bytes);
        expect_d_eq(objs, objs0 + 6);
        expect_d_eq(bytes, bytes0 + (long)want_bytes);
        expect_zu_eq(recent_unreleased(), unreleased0 + 6);
        char name[64];
        snprintf(name, sizeof(name), "arena.%u.%s", a, destroy ? "destroy" : "reset");
        expect_d_eq(mallctl(name, NULL, NULL, NULL, 0), 0);
        live_now(&objs, &bytes);
        expect_d_eq(objs, objs0);
        expect_d_eq(bytes, bytes0);
        expect_zu_eq(recent_unreleased(), unreleased0);
    }
    expect_d_eq(mallctl("experimental.prof_recent.alloc_max", NULL, NULL, &old_max,
                        sizeof(old_max)), 0);
}

static void count_block(uintptr_t base, size_t size, void *arg) {
    (void)base;
    (void)size;
    ++*(size_t *)arg;
}

/*
 * The extent of a freed sampled small block stays with its thread, still registered, for the
 * thread's next one: the heap walk must not report it as a block, and a second free of it (or a
 * use after the free) must still be caught.
 */
static void test_spare(void) {
    int (*iterate)(uintptr_t, size_t, void (*)(uintptr_t, size_t, void *), void *) =
        (int (*)(uintptr_t, size_t, void (*)(uintptr_t, size_t, void *), void *))test_sym(
            "malloc_iterate");
    require_true(iterate != NULL);
    reset(0);
    char *q = test_launder(malloc(100)); /* takes the thread's spare, if it had one */
    char *p = test_launder(malloc(100));
    require_true(p != NULL && q != NULL);
    size_t n = 0;
    expect_d_eq(iterate((uintptr_t)p, 16 << 10, count_block, &n), 0);
    expect_zu_eq(n, 1);
    free(p); /* the spare now */
    n = 0;
    expect_d_eq(iterate((uintptr_t)p, 16 << 10, count_block, &n), 0);
    expect_zu_eq(n, 0);
    int fds[2];
    require_(expect_d_eq(pipe(fds), 0));
    pid_t pid = fork();
    require_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        free(test_launder(p));
        _exit(0);
    }
    close(fds[1]);
    char out[512];
    ssize_t r = read(fds[0], out, sizeof(out) - 1);
    out[r > 0 ? r : 0] = '\0';
    close(fds[0]);
    int status;
    require_(expect_d_eq(waitpid(pid, &status, 0), pid));
    expect_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    expect_str_contains(out, "double free");
    free(q);

    /*
     * A burst: the thread keeps up to 8 spares (PROF_SPARES), and its next sampled small blocks
     * take them back, the last freed first. With one spare, the other blocks' extents went back
     * to the page allocator and each of the next samples made a new one.
     */
    enum { SPARES = 8 };
    char *drain[SPARES], *burst[SPARES + 2];
    for (int i = 0; i < SPARES; i++) /* whatever spares the thread had */
        drain[i] = test_launder(malloc(100));
    for (int i = 0; i < SPARES + 2; i++)
        burst[i] = test_launder(malloc(100));
    for (int i = 0; i < SPARES + 2; i++)
        free(burst[i]);
    for (int i = SPARES - 1; i >= 0; i--) {
        char *again = test_launder(malloc(100));
        expect_ptr_eq(again, burst[i]);
        burst[i] = again;
    }
    for (int i = 0; i < SPARES; i++) {
        free(burst[i]);
        free(drain[i]);
    }
}

static void *named_thread(void *arg) {
    const char *name = "worker-7", *bad = "bad\001name", *got = NULL;
    size_t sz = sizeof(got);
    expect_d_eq(mallctl("thread.prof.name", NULL, NULL, &name, sizeof(name)), 0);
    expect_d_eq(mallctl("thread.prof.name", &got, &sz, NULL, 0), 0);
    expect_true(got != NULL && strcmp(got, "worker-7") == 0);
    expect_d_eq(mallctl("thread.prof.name", NULL, NULL, &bad, sizeof(bad)), EFAULT);
    *(void **)arg = malloc(5000);
    return NULL;
}

static void test_dump_and_names(void) {
    reset(0);
    void *keep[10];
    for (int i = 0; i < 10; i++)
        keep[i] = malloc(1000);
    void *from_thread = NULL;
    pthread_t t;
    require_(expect_d_eq(pthread_create(&t, NULL, named_thread, &from_thread), 0));
    pthread_join(t, NULL);
    char *text = dump_named("named.heap");
    if (text != NULL) {
        expect_true(strncmp(text, "heap_v2/1\n", 10) == 0);
        expect_d_ge(live_count(text), 11);
        expect_str_contains(text, "\n@ 0x");
        expect_str_contains(text, "\nMAPPED_LIBRARIES:\n");
        expect_str_contains(text, "] worker-7\n");
        free(text);
    }
    /* prof.reset forgets everything; freeing what was sampled before it is harmless. */
    reset(0);
    text = dump_named("after_reset.heap");
    if (text != NULL) {
        expect_true(strstr(text, "\n  t*: 0: 0 [0: 0]\n") != NULL);
        expect_true(strstr(text, "\n@ ") == NULL);
        free(text);
    }
    for (int i = 0; i < 10; i++)
        free(keep[i]);
    free(from_thread);
    for (int i = 0; i < 3; i++)
        keep[i] = malloc(2000);
    text = dump_named("three.heap");
    if (text != NULL) {
        expect_d_eq(live_count(text), 3);
        free(text);
    }
    for (int i = 0; i < 3; i++)
        free(keep[i]);
    /* prof.active and thread.prof.active off: nothing is sampled. */
    bool off = false, on = true;
    reset(0);
    expect_d_eq(mallctl("prof.active", NULL, NULL, &off, sizeof(off)), 0);
    keep[0] = malloc(100);
    expect_d_eq(mallctl("prof.active", NULL, NULL, &on, sizeof(on)), 0);
    expect_d_eq(mallctl("thread.prof.active", NULL, NULL, &off, sizeof(off)), 0);
    keep[1] = malloc(100);
    expect_d_eq(mallctl("thread.prof.active", NULL, NULL, &on, sizeof(on)), 0);
    text = dump_named("inactive.heap");
    if (text != NULL) {
        expect_d_eq(live_count(text), 0);
        free(text);
    }
    keep[2] = malloc(100);
    text = dump_named("active.heap");
    if (text != NULL) {
        expect_d_eq(live_count(text), 1);
        free(text);
    }
    for (int i = 0; i < 3; i++)
        free(keep[i]);
    /* Unnamed dumps: jeprof.<pid>.<seq>.m<mseq>.heap. */
    const char *none = NULL;
    expect_d_eq(mallctl("prof.dump", NULL, NULL, &none, sizeof(none)), 0);
    expect_d_eq(mallctl("prof.dump", NULL, NULL, &none, sizeof(none)), 0);
    char pat[64];
    snprintf(pat, sizeof(pat), "jeprof.%d.*.m0.heap", (int)getpid());
    expect_zu_eq(count_files(pat), 1);
    snprintf(pat, sizeof(pat), "jeprof.%d.*.m1.heap", (int)getpid());
    expect_zu_eq(count_files(pat), 1);
    /* prof.prefix names the next ones (write-only; NULL and over 255 bytes are EINVAL). */
    const char *prefix = "renamed";
    expect_d_eq(mallctl("prof.prefix", NULL, NULL, &prefix, sizeof(prefix)), 0);
    expect_d_eq(mallctl("prof.dump", NULL, NULL, &none, sizeof(none)), 0);
    snprintf(pat, sizeof(pat), "renamed.%d.*.m2.heap", (int)getpid());
    expect_zu_eq(count_files(pat), 1);
    snprintf(pat, sizeof(pat), "jeprof.%d.*.m2.heap", (int)getpid());
    expect_zu_eq(count_files(pat), 0);
    char *got = NULL;
    size_t len = sizeof(got);
    expect_d_eq(mallctl("prof.prefix", &got, &len, NULL, 0), EPERM);
    expect_d_eq(mallctl("prof.prefix", NULL, NULL, &none, sizeof(none)), EINVAL);
    expect_d_eq(mallctl("prof.prefix", NULL, NULL, &prefix, sizeof(prefix) - 1), EINVAL);
    static char longer[300];
    memset(longer, 'p', sizeof(longer) - 1);
    const char *lp = longer;
    expect_d_eq(mallctl("prof.prefix", NULL, NULL, &lp, sizeof(lp)), EINVAL);
    longer[255] = '\0'; /* the longest accepted */
    expect_d_eq(mallctl("prof.prefix", NULL, NULL, &lp, sizeof(lp)), 0);
    prefix = "jeprof";
    expect_d_eq(mallctl("prof.prefix", NULL, NULL, &prefix, sizeof(prefix)), 0);
    expect_d_eq(mallctl("prof.dump", NULL, NULL, &none, sizeof(none)), 0);
    snprintf(pat, sizeof(pat), "jeprof.%d.*.m3.heap", (int)getpid());
    expect_zu_eq(count_files(pat), 1);
}

static void test_event_dumps(void) {
    char pat[64];
    /* lg_prof_interval:20: a dump per MiB allocated. */
    for (int i = 0; i < 64; i++)
        free(malloc(64 << 10));
    snprintf(pat, sizeof(pat), "jeprof.%d.*.i*.heap", (int)getpid());
    expect_zu_ge(count_files(pat), 1);
    bool on = true, off = false;
    expect_d_eq(mallctl("prof.gdump", NULL, NULL, &on, sizeof(on)), 0);
    void *blocks[64];
    for (int i = 0; i < 64; i++)
        blocks[i] = malloc(1 << 20);
    expect_d_eq(mallctl("prof.gdump", NULL, NULL, &off, sizeof(off)), 0);
    snprintf(pat, sizeof(pat), "jeprof.%d.*.u*.heap", (int)getpid());
    expect_zu_ge(count_files(pat), 1);
    for (int i = 0; i < 64; i++)
        free(blocks[i]);
}

__attribute__((noinline)) static void *child_alloc(void) { return malloc(3000); }

static void test_fork(void) {
    int fds[2];
    require_(expect_d_eq(pipe(fds), 0));
    pid_t pid = fork();
    require_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        void *keep = child_alloc();
        const char *none = NULL;
        int err = mallctl("prof.dump", NULL, NULL, &none, sizeof(none));
        test_launder(keep);
        exit(err == 0 ? 0 : 3); /* exit, not _exit: the final dump and the summary run */
    }
    close(fds[1]);
    char out[4096];
    size_t len = 0;
    ssize_t r;
    while (len < sizeof(out) - 1 && (r = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fds[0]);
    int status;
    require_(expect_d_eq(waitpid(pid, &status, 0), pid));
    expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char path[64];
    snprintf(path, sizeof(path), "jeprof.%d.0.m0.heap", (int)pid);
    char *text = test_read_file(path);
    if (expect_ptr_not_null(text)) {
        expect_d_ge(live_count(text), 1);
        free(text);
    }
    snprintf(path, sizeof(path), "jeprof.%d.1.f.heap", (int)pid);
    expect_zu_eq(count_files(path), 1);
    expect_str_contains(out, "<allocator>: Leak approximation summary: ~");
    expect_str_contains(out, "<allocator>: Run jeprof on dump output for leak detail\n");
}

int main(void) {
    if (!test_allocator_active())
        return test_done();
    mallctl_f = (mallctl_fn *)test_sym("mallctl");
    sdallocx_f = (void (*)(void *, size_t, int))test_sym("sdallocx");
    nallocx_f = (size_t(*)(size_t, int))test_sym("nallocx");
    mallocx_f = (void *(*)(size_t, int))test_sym("mallocx");
    rallocx_f = (void *(*)(void *, size_t, int))test_sym("rallocx");
    xallocx_f = (size_t(*)(void *, size_t, size_t, int))test_sym("xallocx");
    require_true(mallctl_f != NULL && sdallocx_f != NULL && nallocx_f != NULL &&
                 mallocx_f != NULL && rallocx_f != NULL && xallocx_f != NULL);
    const char *dir = getenv("TEST_TMPDIR");
    require_true(dir != NULL && chdir(dir) == 0);
    bool prof = false;
    size_t sz = sizeof(prof);
    expect_d_eq(mallctl("opt.prof", &prof, &sz, NULL, 0), 0);
    require_true(prof);
    reset(0);
    /* The first sample loads libgcc's unwinder, whose allocations thread.allocated counts. */
    free(test_launder(malloc(64)));
    test_blocks();
    test_tag_cleared();
    test_resize_in_place();
    test_sampled_reuse();
    test_arena_reset();
    test_spare();
    test_dump_and_names();
    test_event_dumps();
    test_fork();
    reset(19);
    return test_done();
}
