/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Without prof:true the last-N names answer ENOENT, as jemalloc's do, while
 * opt.prof_recent_alloc_max (set by the sidecar) still reads back.
 */
#include "../test.h"

#include <allocator.h>

static void sink(void *opaque, const char *s) {
    (void)opaque, (void)s;
    test_fail("the dump wrote without profiling");
}

int main(void) {
    ssize_t v = 0;
    size_t len = sizeof(v);
    expect_d_eq(mallctl("opt.prof_recent_alloc_max", &v, &len, NULL, 0), 0);
    expect_d_eq(v, -1);
    expect_d_eq(mallctl("experimental.prof_recent.alloc_max", &v, &len, NULL, 0), ENOENT);
    struct {
        void (*write_cb)(void *, const char *);
        void *cbopaque;
    } args = {sink, NULL};
    expect_d_eq(mallctl("experimental.prof_recent.alloc_dump", NULL, NULL, &args, sizeof(args)),
                ENOENT);
    return test_done();
}
