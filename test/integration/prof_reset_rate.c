/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prof.reset with a new sample rate applies to the calling thread from its next allocation. At
 * lg_prof_sample:30 (this test's MALLOC_CONF) a thread's first allocation draws its countdown to
 * the next sample with a mean of 1 GiB; after prof.reset to lg 0 (a sample every byte, on
 * average) the next block must be sampled, and it was not before the reset restarted the
 * thread's countdowns (it waited for the old one, about a GiB, to run out). A dump then counts
 * the block live; one freed is no longer counted.
 */
#include "../test.h"

#include <unistd.h>

/* The live-object count of a fresh dump's "t*:" line, or -1. */
static long live_objects(void) {
    const char *name = "rate.heap";
    expect_d_eq(mallctl("prof.dump", NULL, NULL, &name, sizeof(name)), 0);
    char *text = test_read_file(name);
    long objs = -1;
    const char *t = text != NULL ? strstr(text, "\n  t*: ") : NULL;
    if (t != NULL)
        objs = strtol(t + 7, NULL, 10);
    free(text);
    return objs;
}

int main(void) {
    if (!test_allocator_active())
        return test_done();
    const char *dir = getenv("TEST_TMPDIR");
    require_true(dir != NULL && chdir(dir) == 0);
    size_t lg = 0, len = sizeof(lg);
    expect_d_eq(mallctl("prof.lg_sample", &lg, &len, NULL, 0), 0);
    if (lg != 30)
        test_skip("lg_prof_sample is %zu here, not 30 (MALLOC_CONF overridden)", lg);
    free(test_launder(malloc(1000))); /* this thread's countdown: drawn at 2^30 */
    lg = 0;
    expect_d_eq(mallctl("prof.reset", NULL, NULL, &lg, sizeof(lg)), 0);
    long before = live_objects();
    void *p = test_launder(malloc(20000));
    require_ptr_not_null(p);
    expect_d_eq(live_objects(), before + 1);
    free(p);
    expect_d_eq(live_objects(), before);
    return test_done();
}
