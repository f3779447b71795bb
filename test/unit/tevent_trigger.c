/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The thread event trigger, driven directly with the profiler on. It has two paths: the general
 * one (the thread's first allocation, a thread without a profiler record, interval dumps or
 * gdump on) and the one for everything else, which makes no call. Both must charge the bytes
 * since the counter was armed to the tick and to the sample countdown, report a due sample and
 * a due tick, draw the next interval from the thread's generator, and arm the counter with the
 * nearest event. The same state run through each path gives the same result here.
 */
#include "allocator/internal/conf.h"
#include "allocator/internal/prof.h"
#include "allocator/internal/tevent.h"
#include "unit.h"

typedef struct {
    int64_t armed, left, tick, sample;
} state_t;

/*
 * Arm tsd with s, run the trigger: the general path with interval dumps on (at an interval no
 * test reaches, so none is written), else the call-free one.
 */
static unsigned run(tsd_t *tsd, state_t s, bool general, state_t *out) {
    prof_interval = general ? (uint64_t)1 << 62 : 0;
    tsd->event_armed = s.armed;
    tsd->event_left = s.left;
    tsd->tick_left = s.tick;
    tsd->prof_sample_left = s.sample;
    unsigned due = tevent_trigger(tsd);
    prof_interval = 0;
    *out = (state_t){tsd->event_armed, tsd->event_left, tsd->tick_left, tsd->prof_sample_left};
    return due;
}

/* s through both paths from the same generator state: the same result, returned. */
static unsigned both(tsd_t *tsd, state_t s, state_t *out) {
    prof_tdata_t *td = tsd->prof_tdata;
    uint64_t prng = td->prng;
    state_t a, b;
    unsigned due_a = run(tsd, s, false, &a);
    uint64_t after = td->prng;
    td->prng = prng;
    unsigned due_b = run(tsd, s, true, &b);
    check_eq(td->prng, after);
    check_eq(due_a, due_b);
    check(a.armed == b.armed && a.left == b.left && a.tick == b.tick && a.sample == b.sample);
    check_eq(a.armed, a.left);
    *out = a;
    return due_a;
}

int main(void) {
    free(malloc(1)); /* the thread's first allocation: the general path sets the countdowns */
    tsd_t *tsd = tsd_get();
    check(tsd_is_real(tsd));
    prof_tdata_t *td = tsd->prof_tdata;
    check(td != NULL);
    check(tsd->tick_left > 0 && tsd->prof_sample_left > 0);
    check_eq(tsd->event_armed,
             tsd->tick_left < tsd->prof_sample_left ? tsd->tick_left : tsd->prof_sample_left);
    check(!prof_event_dumps_on());

    /* 100 bytes used of 1000 armed: nothing due, the countdowns charged, the nearest armed. */
    state_t r;
    check_eq(both(tsd, (state_t){1000, 900, 5000, 1000}, &r), 0u);
    check(r.tick == 4900 && r.sample == 900 && r.armed == 900);

    /* The sample countdown runs out: a sample due, the next interval drawn (at least 1). */
    check_eq(both(tsd, (state_t){1000, -24, 5000, 1000}, &r), TEVENT_SAMPLE);
    check(r.tick == 3976 && r.sample >= 1 && r.armed == (r.sample < 3976 ? r.sample : 3976));

    /* The tick runs out: due, and its countdown starts again. */
    check_eq(both(tsd, (state_t){1000, -1, 1000, 1u << 30}, &r), TEVENT_TICK);
    check(r.tick == TEVENT_TICK_BYTES && r.sample == (1 << 30) - 1001);
    check_eq(r.armed, TEVENT_TICK_BYTES);

    /* Both at once. */
    check_eq(both(tsd, (state_t){64, -10, 20, 30}, &r), TEVENT_TICK | TEVENT_SAMPLE);
    check_eq(r.tick, TEVENT_TICK_BYTES);

    /* Inside the profiler (or with profiling inactive) the countdown is drawn again, and no
     * sample is due. */
    tsd->prof_busy = true;
    check_eq(both(tsd, (state_t){1000, -24, 5000, 1000}, &r), 0u);
    check(r.sample >= 1);
    tsd->prof_busy = false;
    atomic_store_relaxed(&prof_active, false);
    check_eq(both(tsd, (state_t){1000, -24, 5000, 1000}, &r), 0u);
    atomic_store_relaxed(&prof_active, true);

    /* The draws have the sampler's mean, 2^lg_prof_sample: within 2% over 50,000 draws (4.4
     * standard errors). */
    double sum = 0;
    enum { N = 50000 };
    for (int i = 0; i < N; i++) {
        check_eq(both(tsd, (state_t){1, -1, 1 << 30, 1}, &r), TEVENT_SAMPLE);
        sum += (double)r.sample;
    }
    double mean = sum / N, want = (double)((uint64_t)1 << opt_lg_prof_sample);
    check(mean > 0.98 * want && mean < 1.02 * want);
    return unit_finish("tevent_trigger");
}
