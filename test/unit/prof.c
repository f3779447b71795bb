/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The heap profiler's parts, driven directly:
 * - the sampler: prof_ln and prof_exp against libm; intervals drawn with mean 2^12 have that
 *   mean, and the share above the mean is exp(-1), as an exponential distribution's is;
 * - the stack table: one count per (stack, thread), found again for the same stack; sampled
 *   blocks (fake extents) counted and uncounted; per-thread counts under one stack; prof.reset
 *   forgets the counts, and a block sampled before it is freed without harm;
 * - the dump writer: the heap_v2 lines for a known table (jemalloc 5.3's per-sample unbiasing,
 *   computed here with libm), the thread's name, and MAPPED_LIBRARIES;
 * - a stack mixing 64-byte and 1 MiB samples: jeprof's scaling of its record gives the sum of
 *   the per-sample estimates (1.64 M objects), not the 1,300 its mean size would.
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
    /* Every step of prof_ln's table, and both ends of each, over several exponents. */
    for (int k = 0; k <= 128 * 16; k++) {
        double x = (1 + k / (128.0 * 16)) * ldexp(1, k % 7 - 4);
        double want = log(x), got = prof_ln(x);
        check(fabs(got - want) <= 1e-14 * (fabs(want) > 1 ? fabs(want) : 1));
    }
    for (int k = 1; k <= 1000; k++) { /* the draw's u in (0, 1], near 1 where ln is small */
        double x = 1 - k * 1e-7;
        check(fabs(prof_ln(x) - log(x)) <= 1e-15);
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
    /* Each draw against libm's logarithm of the same random number, at lg 40 (where the
     * interval's integer keeps 12 digits), over every step of the table and the leading zeros:
     * the series leaves an error below 2^-34 in -ln u, 64 once scaled by 2^40. */
    uint64_t r = 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < 100000; i++) {
        r = r * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t x = r >> (i % 61);
        if (x == 0)
            continue;
        double want = -log((double)x / 18446744073709551616.0) * 1099511627776.0 + 1;
        double got = (double)prof_draw_u64(x, 40);
        check(fabs(got - want) <= 1e-12 * want + 66);
    }
    check(prof_draw_u64(0, 0) == prof_draw_u64(1, 0)); /* 0 is read as 1 */
    check(prof_draw_u64(UINT64_MAX, 12) == 1);         /* u next to 1: the shortest interval */
    /* lg 0: intervals of about one byte, so every allocation is sampled. */
    state = 7;
    for (int i = 0; i < 1000; i++)
        check(prof_interval_draw(&state, 0) < 64);
}

static prof_bt_t bt_make(uintptr_t a, uintptr_t b, uintptr_t c) {
    prof_bt_t bt;
    bt.n = 3;
    bt.same_as = 0;
    bt.at = NULL;
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
    prof_unbias_init(19);
    prof_bt_t a = bt_make(0x1000, 0x2000, 0x3000), b = bt_make(0x1000, 0x2000, 0x4000);
    /* Each counted before the next prof_tctx_get (prof.h): until then only the cache keeps it. */
    prof_tctx_t *ta = prof_tctx_get(tsd, &a);
    check(ta != NULL);
    prof_sampled_alloc(&ext[0], ta, 100);
    prof_sampled_alloc(&ext[1], ta, 200);
    prof_tctx_t *tb = prof_tctx_get(tsd, &b);
    check(tb != NULL && ta != tb);
    prof_sampled_alloc(&ext[2], tb, 64);
    check(prof_tctx_get(tsd, &a) == ta);
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

static const char *dump_text(void) { return unit_prof_dump(text.data, sizeof(text.data)); }

/*
 * What a record should say for sampled blocks of the given sizes at period 2^lg, computed here
 * with libm as jemalloc 5.3 defines it: each block stands for 1 / p objects and size / p bytes,
 * p = 1 - exp(-class size / period); the pair written (c, s) is the one jeprof's scaling maps
 * onto those sums: x = bytes / objects, s = bytes * (1 - exp(-x / period)), c = s / x.
 */
typedef struct {
    double objs, bytes; /* the true estimate */
    unsigned long long c, s;
} want_t;

static want_t want_for(const size_t *sizes, size_t n, size_t lg) {
    want_t w = {0, 0, 0, 0};
    double period = ldexp(1, (int)lg);
    for (size_t i = 0; i < n; i++) {
        double sz = (double)sz_index2size(sz_size2index(sizes[i]));
        double p = 1 - exp(-sz / period);
        w.objs += round(8 / p) / 8;
        w.bytes += round(sz / p);
    }
    if (n != 0) {
        double x = w.bytes / w.objs, y = w.bytes * (1 - exp(-x / period));
        w.c = (unsigned long long)llround(y / x);
        w.s = (unsigned long long)llround(y);
    }
    return w;
}

/* Does the line after prefix in s say "cur_c: cur_s [acc_c: acc_s]" (each within 1)? */
static bool line_says(const char *s, const char *prefix, want_t cur, want_t acc) {
    const char *p = strstr(s, prefix);
    unsigned long long v[4];
    if (p == NULL || sscanf(p + strlen(prefix), "%llu: %llu [%llu: %llu]", &v[0], &v[1], &v[2],
                            &v[3]) != 4) {
        fprintf(stderr, "no line \"%s...\"\n", prefix);
        return false;
    }
    unsigned long long w[4] = {cur.c, cur.s, acc.c, acc.s};
    for (int i = 0; i < 4; i++) {
        if (v[i] + 1 < w[i] || v[i] > w[i] + 1) {
            fprintf(stderr, "\"%s\": %llu, want %llu (field %d)\n", prefix, v[i], w[i], i);
            return false;
        }
    }
    return true;
}

static void test_dump(void) {
    atomic_store_relaxed(&prof_lg_sample, 19);
    tsd_t *tsd = tsd_get();
    prof_tdata_t *td = prof_tdata_get(tsd);
    strcpy(td->name, "unit-main");
    const char *s = dump_text();
    char want[512];
    unsigned long long uid = td->uid, ouid = other_tctx->tdata->uid;
    /* Live: 100 and 200 (stack a, this thread), 48 (stack a, the other thread); 64 (stack b)
     * was freed. Every one sampled (prof_accum): those and the 64. */
    const size_t live_all[] = {100, 200, 48}, acc_all[] = {100, 200, 48, 64};
    const size_t mine[] = {100, 200}, mine_acc[] = {100, 200, 64}, other[] = {48}, b[] = {64};
    check(strncmp(s, "heap_v2/524288\n  t*: ", 21) == 0);
    check(line_says(s, "heap_v2/524288\n  t*: ", want_for(live_all, 3, 19), want_for(acc_all, 4, 19)));
    snprintf(want, sizeof(want), "\n  t%llu: ", uid);
    check(line_says(s, want, want_for(mine, 2, 19), want_for(mine_acc, 3, 19)));
    check(strstr(s, "] unit-main\n") != NULL);
    /* The other thread left; its record stays for its live block. */
    snprintf(want, sizeof(want), "\n  t%llu: ", ouid);
    check(line_says(s, want, want_for(other, 1, 19), want_for(other, 1, 19)));
    check(line_says(s, "\n@ 0x1000 0x2000 0x3000\n  t*: ", want_for(live_all, 3, 19),
                    want_for(live_all, 3, 19)));
    check(line_says(s, "\n@ 0x1000 0x2000 0x4000\n  t*: ", want_for(NULL, 0, 19),
                    want_for(b, 1, 19)));
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

/*
 * jemalloc 5.3's per-sample unbiasing: one stack allocates 200 blocks of 64 bytes and 20 of
 * 1 MiB, all sampled. jeprof, scaling the record by its mean size (95 KiB), would estimate 1,300
 * objects; the true estimate is 200 * 8,192.5 + 20 * 1.16 objects (1.64 M) and 129 MB. The record
 * written must scale to that (within 1%: the counts are written as integers).
 */
static void test_unbias_mixed(void) {
    prof_reset(19);
    tsd_t *tsd = tsd_get();
    prof_bt_t m = bt_make(0x5000, 0x6000, 0x7000);
    static extent_t e[220];
    static size_t sizes[220];
    prof_tctx_t *t = prof_tctx_get(tsd, &m);
    check(t != NULL);
    for (int i = 0; i < 220; i++) {
        sizes[i] = i < 200 ? 64 : 1 << 20;
        prof_sampled_alloc(&e[i], t, sizes[i]);
    }
    const char *s = dump_text();
    const char *rec = "\n@ 0x5000 0x6000 0x7000\n  t*: ", *p = strstr(s, rec);
    unsigned long long c = 0, b = 0;
    check(p != NULL && sscanf(p + strlen(rec), "%llu: %llu", &c, &b) == 2);
    want_t w = want_for(sizes, 220, 19);
    /* What jeprof makes of the record: scaled by 1 / (1 - exp(-(b / c) / period)). */
    double scale = c == 0 ? 0 : 1 / (1 - exp(-((double)b / (double)c) / 524288.0));
    check(fabs((double)c * scale - w.objs) < 0.01 * w.objs);
    check(fabs((double)b * scale - w.bytes) < 0.01 * w.bytes);
    check(w.objs > 1.6e6 && w.objs < 1.7e6);
    if (unit_failures != 0)
        fprintf(stderr, "record %llu: %llu, scale %g; want %g objects, %g bytes\n", c, b, scale,
                w.objs, w.bytes);
    for (int i = 0; i < 220; i++)
        prof_sampled_free(&e[i], sizes[i]);
}

int main(void) {
    test_math();
    test_sampler();
    test_table();
    test_dump();
    test_unbias_mixed();
    return unit_finish("prof");
}
