/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The heap profiler's parts, driven directly:
 * - the sampler: prof_ln and prof_exp against libm; intervals drawn with mean 2^12 have that
 *   mean, and the share above the mean is exp(-1), as an exponential distribution's is;
 * - the stack table: one count per (stack, thread), found again for the same stack; sampled
 *   blocks (fake extents) counted and uncounted; per-thread counts under one stack; prof.reset
 *   forgets the counts, and a block sampled before it is freed without harm;
 * - the dump writer: the exact heap_v2 lines for a known table, the thread's name, and
 *   MAPPED_LIBRARIES.
 */
#include <math.h>
#include <pthread.h>
#include <unistd.h>

#include "allocator/internal/conf.h"
#include "allocator/internal/prof.h"
#include "unit.h"

static void test_math(void) {
    const double xs[] = {1e-300, 1e-9, 0.001, 0.3, 0.5, 0.999999, 1.0, 1.5, 7.0, 1e12};
    for (size_t i = 0; i < sizeof(xs) / sizeof(xs[0]); i++) {
        double want = log(xs[i]), got = prof_ln(xs[i]);
        check(fabs(got - want) <= 1e-9 * (fabs(want) > 1 ? fabs(want) : 1));
    }
    const double es[] = {-50, -3.5, -1, -1e-6, 0, 0.25, 2, 30};
    for (size_t i = 0; i < sizeof(es) / sizeof(es[0]); i++) {
        double want = exp(es[i]), got = prof_exp(es[i]);
        check(fabs(got - want) <= 1e-12 * want);
    }
}

static void test_sampler(void) {
    uint64_t state = 42;
    const size_t n = 200000;
    double sum = 0;
    size_t above = 0;
    uint64_t min = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        uint64_t d = prof_interval_draw(&state, 12);
        sum += (double)d;
        above += d > 4096;
        min = d < min ? d : min;
    }
    double mean = sum / (double)n;
    /* 1 + Exp(4096): mean 4096.5 with a standard error of about 9. */
    check(fabs(mean - 4096.5) < 60);
    check(fabs((double)above / (double)n - exp(-1)) < 0.005);
    check(min >= 1);
    /* lg 0: intervals of about one byte, so every allocation is sampled. */
    state = 7;
    for (int i = 0; i < 1000; i++)
        check(prof_interval_draw(&state, 0) < 64);
}

static prof_bt_t bt_make(uintptr_t a, uintptr_t b, uintptr_t c) {
    prof_bt_t bt;
    bt.n = 3;
    bt.frames[0] = (void *)a;
    bt.frames[1] = (void *)b;
    bt.frames[2] = (void *)c;
    return bt;
}

static void cnt_all(prof_cnt_t *c, size_t *nstacks) {
    mutex_lock(&prof_lock);
    prof_cnt_all_locked(c, nstacks);
    mutex_unlock(&prof_lock);
}

static prof_bt_t bt_shared;
static prof_tctx_t *other_tctx;
static extent_t other_ext;

static void *other_thread(void *arg) {
    (void)arg;
    free(malloc(1)); /* makes this thread's state */
    other_tctx = prof_tctx_get(tsd_get(), &bt_shared);
    if (other_tctx != NULL)
        prof_sampled_alloc(&other_ext, other_tctx, 48);
    return NULL;
}

static extent_t ext[4];

static void test_table(void) {
    free(malloc(1));
    tsd_t *tsd = tsd_get();
    check(tsd_is_real(tsd));
    opt_prof_accum = true;
    prof_bt_t a = bt_make(0x1000, 0x2000, 0x3000), b = bt_make(0x1000, 0x2000, 0x4000);
    prof_tctx_t *ta = prof_tctx_get(tsd, &a), *tb = prof_tctx_get(tsd, &b);
    check(ta != NULL && tb != NULL && ta != tb);
    check(prof_tctx_get(tsd, &a) == ta);
    prof_sampled_alloc(&ext[0], ta, 100);
    prof_sampled_alloc(&ext[1], ta, 200);
    prof_sampled_alloc(&ext[2], tb, 64);
    check(ext[0].prof_tctx == ta);
    prof_cnt_t c;
    size_t nstacks;
    cnt_all(&c, &nstacks);
    check_eq(c.curobjs, 3);
    check_eq(c.curbytes, 364);
    check_eq(c.accumobjs, 3);
    check_eq(nstacks, 2);
    prof_sampled_free(&ext[2], 64);
    check(ext[2].prof_tctx == NULL);
    cnt_all(&c, &nstacks);
    check_eq(c.curobjs, 2);
    check_eq(c.curbytes, 300);
    check_eq(c.accumbytes, 364);
    check_eq(nstacks, 1);
    /* Another thread, the same stack: its own count under the same stack. */
    bt_shared = a;
    pthread_t t;
    pthread_create(&t, NULL, other_thread, NULL);
    pthread_join(t, NULL);
    check(other_tctx != NULL && other_tctx != ta && other_tctx->gctx == ta->gctx);
    unsigned n = 0;
    for (const prof_tctx_t *x = prof_gctx_tctxs(ta->gctx); x != NULL; x = x->gnext)
        n++;
    check_eq(n, 2);
    cnt_all(&c, &nstacks);
    check_eq(c.curobjs, 3);
    check_eq(c.curbytes, 348);
}

typedef struct {
    char data[1 << 20];
} text_t;
static text_t text;

static const char *dump_text(void) {
    char path[] = "/tmp/allocator-unit-prof.XXXXXX";
    int fd = mkstemp(path);
    check(fd >= 0);
    if (fd < 0)
        return "";
    unlink(path);
    check(!prof_dump_fd(fd));
    lseek(fd, 0, SEEK_SET);
    ssize_t r = read(fd, text.data, sizeof(text.data) - 1);
    close(fd);
    text.data[r > 0 ? r : 0] = '\0';
    return text.data;
}

static void test_dump(void) {
    atomic_store_relaxed(&prof_lg_sample, 19);
    tsd_t *tsd = tsd_get();
    prof_tdata_t *td = prof_tdata_get(tsd);
    strcpy(td->name, "unit-main");
    const char *s = dump_text();
    char want[512];
    unsigned long long uid = td->uid, ouid = other_tctx->tdata->uid;
    snprintf(want, sizeof(want), "heap_v2/524288\n  t*: 3: 348 [4: 412]\n");
    check(strncmp(s, want, strlen(want)) == 0);
    snprintf(want, sizeof(want), "\n  t%llu: 2: 300 [3: 364] unit-main\n", uid);
    check(strstr(s, want) != NULL);
    /* The other thread left; its record stays for its live block. */
    snprintf(want, sizeof(want), "\n  t%llu: 1: 48 [1: 48]\n", ouid);
    check(strstr(s, want) != NULL);
    snprintf(want, sizeof(want), "\n@ 0x1000 0x2000 0x3000\n  t*: 3: 348 [3: 348]\n");
    check(strstr(s, want) != NULL);
    snprintf(want, sizeof(want), "\n  t%llu: 2: 300 [2: 300]\n", uid);
    check(strstr(s, want) != NULL);
    snprintf(want, sizeof(want), "\n@ 0x1000 0x2000 0x4000\n  t*: 0: 0 [1: 64]\n");
    check(strstr(s, want) != NULL);
    check(strstr(s, "\n\nMAPPED_LIBRARIES:\n") != NULL);
    check(strstr(s, "[stack]") != NULL);
    if (unit_failures != 0)
        fprintf(stderr, "--- the dump:\n%.2000s\n", s);

    /* prof.reset: nothing left to show; blocks sampled before it are freed harmlessly. */
    prof_reset(19);
    prof_cnt_t c;
    size_t nstacks;
    cnt_all(&c, &nstacks);
    check_eq(c.curobjs, 0);
    check_eq(c.accumobjs, 0);
    s = dump_text();
    check(strncmp(s, "heap_v2/524288\n  t*: 0: 0 [0: 0]\n", 33) == 0);
    check(strstr(s, "\n@ ") == NULL);
    prof_sampled_free(&ext[0], 100);
    prof_sampled_free(&ext[1], 200);
    prof_sampled_free(&other_ext, 48);
    cnt_all(&c, &nstacks);
    check_eq(c.curobjs, 0);
    check_eq(c.curbytes, 0);
    /* Counting starts again from zero. */
    prof_bt_t a = bt_make(0x1000, 0x2000, 0x3000);
    prof_tctx_t *t = prof_tctx_get(tsd, &a);
    check(t != NULL && !t->retired);
    prof_sampled_alloc(&ext[3], t, 16);
    cnt_all(&c, &nstacks);
    check_eq(c.curobjs, 1);
    check_eq(nstacks, 1);
    prof_sampled_free(&ext[3], 16);
}

int main(void) {
    test_math();
    test_sampler();
    test_table();
    test_dump();
    return unit_finish("prof");
}
