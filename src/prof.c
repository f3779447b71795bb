/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prof: the profiler's state, the per-thread sampler, backtraces and thread records (prof.h).
 * The allocation paths (malloc.c, through tevent.c) ask prof_sample_wanted when a thread's
 * sample countdown runs out, take the backtrace here with no lock held, and count the block in
 * the stack table (prof_data.c). The sampler is a 64-bit xorshift-multiply generator per thread
 * and a logarithm computed from the double's exponent and a short series, so no libm is needed.
 *
 * prof_active, prof_thread_active_init, prof_gdump_on and prof_lg_sample are read without a
 * lock (relaxed atomics); thread records are guarded by prof_lock.
 */
#include "allocator/internal/prof.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unwind.h>

#include "allocator/internal/base.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/io.h"

bool prof_active;
bool prof_thread_active_init;
bool prof_gdump_on;
size_t prof_lg_sample;
uint64_t prof_interval;
mutex_t prof_lock = MUTEX_INITIALIZER(RANK_PROF);
mutex_t prof_dump_lock = MUTEX_INITIALIZER(RANK_PROF_DUMP);

void prof_boot(void) {
    if (!opt_prof)
        return;
    atomic_store_relaxed(&prof_active, opt_prof_active);
    atomic_store_relaxed(&prof_thread_active_init, opt_prof_thread_active_init);
    atomic_store_relaxed(&prof_gdump_on, opt_prof_gdump);
    atomic_store_relaxed(&prof_lg_sample, opt_lg_prof_sample);
    prof_unbias_init(opt_lg_prof_sample);
    prof_interval = opt_lg_prof_interval >= 0 ? (uint64_t)1 << opt_lg_prof_interval : 0;
    tsd_exit_hook = prof_thread_exit;
    prof_unwind_boot();
    if (opt_prof_final || opt_prof_leak)
        atexit(prof_atexit);
}

/* ---- the sampler ---------------------------------------------------------------------------- */

static uint64_t prof_prng_next(uint64_t *state) {
    /* splitmix64: a full-period 64-bit sequence with well-mixed outputs. */
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#define PROF_LN2 0.69314718055994530942

double prof_ln(double x) {
    /* x = m * 2^e; ln m = 2 atanh(t), t = (m - 1) / (m + 1), by its series. */
    uint64_t bits;
    memcpy(&bits, &x, sizeof(bits));
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    bits = (bits & (((uint64_t)1 << 52) - 1)) | ((uint64_t)1023 << 52);
    double m;
    memcpy(&m, &bits, sizeof(m));
    if (m > 1.4142135623730951) { /* m in [1/sqrt 2, sqrt 2): |t| <= 0.172 */
        m *= 0.5;
        e++;
    }
    double t = (m - 1) / (m + 1), t2 = t * t;
    double s = 1 + t2 * (1.0 / 3 + t2 * (1.0 / 5 + t2 * (1.0 / 7 + t2 * (1.0 / 9 + t2 / 11))));
    return e * PROF_LN2 + 2 * t * s;
}

double prof_exp(double x) {
    if (x < -700)
        return 0;
    if (x > 700)
        x = 700;
    /* x = k ln 2 + r, |r| <= ln2 / 2; e^r by its series, then scaled by 2^k. */
    double kf = x / PROF_LN2;
    int k = (int)(kf < 0 ? kf - 0.5 : kf + 0.5);
    double r = x - k * PROF_LN2, term = 1, sum = 1;
    for (int i = 1; i < 14; i++) {
        term *= r / i;
        sum += term;
    }
    uint64_t bits = (uint64_t)(k + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof(scale));
    return sum * scale;
}

uint64_t prof_interval_draw(uint64_t *state, size_t lg) {
    /* u uniform in (0, 1]: 53 random bits, plus one so that ln never sees 0. */
    double u = (double)((prof_prng_next(state) >> 11) + 1) * (1.0 / 9007199254740992.0);
    double d = -prof_ln(u) * (double)((uint64_t)1 << lg);
    return d >= 9.0e18 ? (uint64_t)INT64_MAX : (uint64_t)d + 1;
}

/* ---- thread records ------------------------------------------------------------------------- */

prof_tdata_t *prof_tdata_get(tsd_t *tsd) {
    if (tsd->prof_tdata != NULL)
        return tsd->prof_tdata;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    mutex_lock(&prof_lock);
    prof_tdata_t *td = prof_tdata_new_locked();
    if (td != NULL) {
        td->uid = tsd->prof_thread_uid;
        td->name[0] = '\0';
        td->active = atomic_load_relaxed(&prof_thread_active_init);
        td->prng = td->uid * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)tsd ^
                   ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec;
        td->attached = true;
    }
    mutex_unlock(&prof_lock);
    tsd->prof_tdata = td;
    return td;
}

int64_t prof_sample_interval(tsd_t *tsd) {
    prof_tdata_t *td = prof_tdata_get(tsd);
    uint64_t fallback = (uint64_t)(uintptr_t)tsd ^ tsd->thread_allocated;
    uint64_t *state = td != NULL ? &td->prng : &fallback;
    return (int64_t)prof_interval_draw(state, atomic_load_relaxed(&prof_lg_sample));
}

bool prof_sample_kept(tsd_t *tsd, size_t old_usize, size_t usize) {
    prof_tdata_t *td = prof_tdata_get(tsd);
    if (td == NULL)
        return true;
    double period = (double)((uint64_t)1 << atomic_load_relaxed(&prof_lg_sample));
    double keep = (1 - prof_exp(-(double)usize / period)) / (1 - prof_exp(-(double)old_usize / period));
    double u = (double)(prof_prng_next(&td->prng) >> 11) * (1.0 / 9007199254740992.0);
    return u < keep;
}

bool prof_sample_wanted(tsd_t *tsd) {
    if (!opt_prof || tsd->prof_busy || !atomic_load_relaxed(&prof_active))
        return false;
    prof_tdata_t *td = prof_tdata_get(tsd);
    return td != NULL && td->active;
}

/* ---- backtraces ----------------------------------------------------------------------------- */

/* _Unwind_Backtrace's callback (prof_backtrace, prof.h): one frame. */
_Unwind_Reason_Code prof_unwind_frame(struct _Unwind_Context *ctx, void *arg) {
    prof_bt_t *bt = arg;
    uintptr_t ip = prof_libgcc_loaded()->get_ip(ctx); /* called by it: it is loaded */
    if (ip == 0)
        return _URC_END_OF_STACK;
    /* The allocator's frames come first (innermost); leave them out. */
    if (bt->n == 0 && ip >= (uintptr_t)__start_allocator_prof_frames &&
        ip < (uintptr_t)__stop_allocator_prof_frames)
        return _URC_NO_REASON;
    bt->frames[bt->n++] = (void *)ip;
    return bt->n == PROF_BT_MAX ? _URC_END_OF_STACK : _URC_NO_REASON;
}
