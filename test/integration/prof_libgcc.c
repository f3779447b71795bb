/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * libgcc's unwinder is loaded when heap profiling first needs it, not with the library
 * (prof_libgcc_shared.c): it costs every process about 90 KiB resident and 0.2 ms to load.
 * prof_libgcc.conf turns profiling on but inactive, so nothing is sampled at first: a C program
 * that names no unwinder function itself (this one) must then not have libgcc_s mapped, after
 * plenty of allocation. Once profiling is activated and samples every allocation, the samples'
 * stacks reach this file's function (a dump holds a stack with several frames), still without
 * libgcc_s: the cached walk finds its frame descriptions through the objects' .eh_frame_hdr
 * tables. A sample taken in a signal handler is one the walk does not model (the signal frame):
 * libgcc_s is then loaded and its _Unwind_Backtrace takes the stack through the signal frame.
 */
#include "../test.h"

#include <fcntl.h>
#include <signal.h>

typedef int mallctl_fn(const char *, void *, size_t *, void *, size_t);
static mallctl_fn *mallctl_f;
#define mallctl mallctl_f

static char text[1 << 20];

/* The whole of a small file into text (NUL-terminated); false when it cannot be read. */
static bool slurp(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return false;
    size_t len = 0;
    ssize_t r;
    while (len + 1 < sizeof(text) && (r = read(fd, text + len, sizeof(text) - 1 - len)) > 0)
        len += (size_t)r;
    close(fd);
    text[len] = '\0';
    return true;
}

static bool libgcc_mapped(void) {
    require_true(slurp("/proc/self/maps"));
    return strstr(text, "/libgcc_s.so") != NULL;
}

/*
 * The frames of the dump's (text's) stack whose counts line starts with counts ("t*: N: B"), or
 * of the first stack for NULL; 0 if there is none.
 */
static size_t frames_of(const char *counts) {
    const char *at = strstr(text, "\n@ 0x");
    if (counts != NULL) {
        char want[64];
        snprintf(want, sizeof(want), "\n  %s ", counts);
        const char *c = strstr(text, want);
        if (c == NULL)
            return 0;
        while (c > text && !(c[0] == '\n' && c[1] == '@'))
            c--;
        at = c;
    }
    size_t frames = 0;
    for (const char *p = at != NULL ? at + 2 : ""; *p != '\0' && *p != '\n'; p++)
        frames += p[0] == '0' && p[1] == 'x';
    return frames;
}

static __attribute__((noinline)) void allocate_some(size_t n) {
    void *keep[64];
    for (size_t i = 0; i < n; i++) {
        keep[i % 64] = test_launder(malloc(16 + i % 5000));
        if (i % 64 == 63)
            for (unsigned j = 0; j < 64; j++)
                free(keep[j]);
    }
}

static void *handler_blocks[16];
static volatile int handler_nblocks = 16; /* read at run time: one call site, not unrolled */

static __attribute__((noinline)) void allocate_in_handler(void) {
    for (int i = 0; i < handler_nblocks; i++)
        handler_blocks[i] = test_launder(malloc(7000)); /* class 7168 */
}

static void on_signal(int sig) {
    (void)sig;
    allocate_in_handler(); /* raise()d from main: no allocation of main's is under way */
}

int main(void) {
    if (!test_allocator_active())
        return test_done();
    expect_false(libgcc_mapped());
    mallctl_f = (mallctl_fn *)test_sym("mallctl");
    require_true(mallctl_f != NULL);
    bool prof = false, libgcc = false;
    size_t sz = sizeof(bool);
    expect_d_eq(mallctl("opt.prof", &prof, &sz, NULL, 0), 0);
    expect_d_eq(mallctl("config.prof_libgcc", &libgcc, &sz, NULL, 0), 0);
    require_true(prof);

    allocate_some(100000);
    expect_false(libgcc_mapped());

    size_t lg = 0;
    bool on = true;
    expect_d_eq(mallctl("prof.reset", NULL, NULL, &lg, sizeof(lg)), 0);
    expect_d_eq(mallctl("prof.active", NULL, NULL, &on, sizeof(on)), 0);
    /* The thread's next sample was drawn before the reset (mean 512 KiB): go well past it. */
    allocate_some(20000);
    if (!libgcc) { /* no unwinder: no stacks, and nothing loaded */
        expect_false(libgcc_mapped());
        return test_done();
    }
    const char *dir = getenv("TEST_TMPDIR");
    require_true(dir != NULL && chdir(dir) == 0);
    const char *name = "prof_libgcc.heap";
    expect_d_eq(mallctl("prof.dump", NULL, NULL, &name, sizeof(name)), 0);
    require_true(slurp(name));
    /* A stack line of allocate_some's: it, main, libc's start. */
    expect_zu_ge(frames_of(NULL), 3);
    expect_false(libgcc_mapped());

    /* From a signal handler: the walk gives up at the signal frame, libgcc's unwinder goes on. */
    expect_true(signal(SIGUSR1, on_signal) != SIG_ERR);
    expect_d_eq(raise(SIGUSR1), 0);
    expect_true(libgcc_mapped());
    name = "prof_libgcc.2.heap";
    expect_d_eq(mallctl("prof.dump", NULL, NULL, &name, sizeof(name)), 0);
    require_true(slurp(name));
    /* The handler's 16 blocks of 7168 bytes (every one sampled, so counted exactly), from
     * allocate_in_handler, the signal frame, raise's frames, main and libc's start. */
    expect_zu_ge(frames_of("t*: 16: 114688"), 5);
    return test_done();
}
