/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * experimental.prof_recent.alloc_max and alloc_dump through mallctl, in a profiling process
 * (the sidecar sets prof:true and prof_recent_alloc_max:5): the option reads back; alloc_max
 * reads, takes -1 and any N, returns the old value on a write and refuses -2, a wrong newlen
 * and a wrong *oldlenp (the last before the new value takes effect); alloc_dump is write-only,
 * wants exactly a callback and its argument, and writes one compact JSON document through the
 * callback (NULL: through malloc_message), with the capacity in force. What the records hold is
 * the concern of unit/prof_recent (the store) and of the sampling tests.
 */
#include "../test.h"

#include <allocator.h>

typedef struct {
    char data[1 << 20];
    size_t len;
    unsigned calls;
} out_t;

static out_t out, msg;

static void out_write(void *opaque, const char *s) {
    out_t *o = opaque;
    size_t n = strlen(s);
    o->calls++;
    if (o->len + n < sizeof(o->data)) {
        memcpy(o->data + o->len, s, n + 1);
        o->len += n;
    }
}

static void message(void *opaque, const char *s) {
    (void)opaque;
    out_write(&msg, s);
}

typedef struct {
    void (*write_cb)(void *, const char *);
    void *cbopaque;
} dump_args_t;

static ssize_t max_get(void) {
    ssize_t v = -7;
    size_t len = sizeof(v);
    expect_d_eq(mallctl("experimental.prof_recent.alloc_max", &v, &len, NULL, 0), 0);
    return v;
}

static void test_alloc_max(void) {
    ssize_t v = 0;
    size_t len = sizeof(v);
    expect_d_eq(mallctl("opt.prof_recent_alloc_max", &v, &len, NULL, 0), 0);
    expect_d_eq(v, 5);
    expect_d_eq(max_get(), 5);

    ssize_t nv = 10, old = 0;
    len = sizeof(old);
    expect_d_eq(mallctl("experimental.prof_recent.alloc_max", &old, &len, &nv, sizeof(nv)), 0);
    expect_d_eq(old, 5);
    expect_d_eq(max_get(), 10);
    nv = -1;
    expect_d_eq(mallctl("experimental.prof_recent.alloc_max", NULL, NULL, &nv, sizeof(nv)), 0);
    expect_d_eq(max_get(), -1);

    nv = -2;
    expect_d_eq(mallctl("experimental.prof_recent.alloc_max", NULL, NULL, &nv, sizeof(nv)), EINVAL);
    int small = 3;
    expect_d_eq(mallctl("experimental.prof_recent.alloc_max", NULL, NULL, &small, sizeof(small)),
                EINVAL);
    nv = 3;
    int shortold = 0;
    len = sizeof(shortold);
    expect_d_eq(mallctl("experimental.prof_recent.alloc_max", &shortold, &len, &nv, sizeof(nv)),
                EINVAL);
    expect_d_eq(max_get(), -1); /* the failed call changed nothing */
    nv = 0;
    expect_d_eq(mallctl("experimental.prof_recent.alloc_max", NULL, NULL, &nv, sizeof(nv)), 0);
    expect_d_eq(max_get(), 0);
    nv = 5;
    expect_d_eq(mallctl("experimental.prof_recent.alloc_max", NULL, NULL, &nv, sizeof(nv)), 0);
}

static void test_alloc_dump(void) {
    dump_args_t args = {out_write, &out};
    char buf[16];
    size_t len = sizeof(buf);
    expect_d_eq(mallctl("experimental.prof_recent.alloc_dump", buf, &len, &args, sizeof(args)),
                EPERM);
    expect_d_eq(mallctl("experimental.prof_recent.alloc_dump", NULL, NULL, NULL, 0), EINVAL);
    expect_d_eq(mallctl("experimental.prof_recent.alloc_dump", NULL, NULL, &args, sizeof(void *)),
                EINVAL);
    expect_zu_eq(out.calls, 0);

    expect_d_eq(mallctl("experimental.prof_recent.alloc_dump", NULL, NULL, &args, sizeof(args)), 0);
    expect_zu_ge(out.calls, 1);
    expect_str_contains(out.data, "{\"sample_interval\":524288,\"recent_alloc_max\":5,"
                                  "\"recent_alloc\":[");
    expect_true(strncmp(out.data, "{\"sample_interval\":", 19) == 0);
    expect_true(out.len >= 2 && strcmp(out.data + out.len - 2, "]}") == 0);

    /* No callback: malloc_message hears it (looked up: a preloaded run links no library). */
    void (**hook)(void *, const char *) =
        (void (**)(void *, const char *))test_sym("malloc_message");
    require_ptr_not_null(hook);
    *hook = message;
    dump_args_t none = {NULL, NULL};
    expect_d_eq(mallctl("experimental.prof_recent.alloc_dump", NULL, NULL, &none, sizeof(none)), 0);
    *hook = NULL;
    expect_zu_ge(msg.calls, 1);
    expect_true(strncmp(msg.data, "{\"sample_interval\":524288,", 26) == 0);
}

int main(void) {
    test_alloc_max();
    test_alloc_dump();
    return test_done();
}
