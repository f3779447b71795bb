/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Heap profiling's backtraces in a statically linked program. liballocator.a names libgcc's
 * unwinder (prof_libgcc_static.c), which a static link takes from libgcc_eh; the shared library
 * instead loads libgcc_s when first needed, which a static binary cannot. With every allocation
 * sampled, a dump must hold the stack of a block made here: the function that allocated, main
 * and libc's start (three frames at least), and the frames of the allocator left out.
 */
#include "../test.h"

#include <fcntl.h>

const char *malloc_conf = "prof:true,lg_prof_sample:0";

static char text[1 << 20];

static __attribute__((noinline)) void *allocate(size_t size) { return test_launder(malloc(size)); }

int main(void) {
    bool prof = false, libgcc = false;
    size_t sz = sizeof(bool);
    expect_d_eq(mallctl("opt.prof", &prof, &sz, NULL, 0), 0);
    expect_d_eq(mallctl("config.prof_libgcc", &libgcc, &sz, NULL, 0), 0);
    require_true(prof);
    if (!libgcc)
        test_skip("built without libgcc's unwinder");
    const char *dir = getenv("TEST_TMPDIR");
    require_true(dir != NULL && chdir(dir) == 0);
    void *p = allocate(12345);
    const char *name = "static_prof.heap";
    expect_d_eq(mallctl("prof.dump", NULL, NULL, &name, sizeof(name)), 0);
    int fd = open(name, O_RDONLY);
    require_true(fd >= 0);
    ssize_t len = read(fd, text, sizeof(text) - 1);
    close(fd);
    require_true(len > 0);
    text[len] = '\0';
    /* The block's stack: a line "@ 0x... 0x... 0x..." whose first frame is inside allocate. */
    size_t deepest = 0;
    for (const char *at = strstr(text, "\n@ 0x"); at != NULL; at = strstr(at + 1, "\n@ 0x")) {
        size_t frames = 0;
        for (const char *q = at + 2; *q != '\0' && *q != '\n'; q++)
            frames += q[0] == '0' && q[1] == 'x';
        if (frames > deepest)
            deepest = frames;
    }
    expect_zu_ge(deepest, 3);
    free(p);
    return test_done();
}
