/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prof: the profiler's state, the per-thread sampler, backtraces and thread records (prof.h).
 * The allocation paths (malloc.c, through tevent.c) ask prof_sample_next when a thread's
 * sample countdown runs out, take the backtrace here with no lock held, and count the block in
 * the stack table (prof_data.c). The sampler is a 64-bit linear congruential generator per
 * thread and a logarithm computed from the random number's leading zeros, a table and a short
 * series, so no libm is needed.
 *
 * prof_active, prof_thread_active_init, prof_gdump_on and prof_lg_sample are read without a
 * lock (relaxed atomics); thread records are guarded by prof_lock.
 */
#include "allocator/internal/prof.h"

#include <stdlib.h>
#include <string.h>
#include <unwind.h>

#include "allocator/internal/base.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/io.h"
#include "allocator/internal/nstime.h"

bool prof_active;
bool prof_thread_active_init;
bool prof_gdump_on;
size_t prof_lg_sample;
uint64_t prof_interval;
mutex_t prof_lock = MUTEX_INITIALIZER(RANK_PROF);
mutex_t prof_dump_lock = MUTEX_INITIALIZER(RANK_PROF_DUMP);

TEXT_HOT void prof_boot(void) {
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

/*
 * ln c and 1 / c at the middle c = 1 + (i + 1/2) / 128 of each of 128 equal steps of [1, 2),
 * so that ln m = ln c + ln(1 + r) with r = (m - c) / c, |r| < 1/256, where five terms of the
 * series of ln(1 + r) leave an error below r^6 / 6 (4e-16): no division, and no branch that
 * would be mispredicted half the time. The sampler's draw (prof_draw) uses the same steps.
 */
const double prof_ln_tab[128][2] = {
    {0.003898640415657323, 0.9961089494163424}, {0.011650617219975274, 0.9884169884169884},
    {0.019342962843130935, 0.9808429118773946}, {0.026976587698202076, 0.973384030418251},
    {0.034552381506659735, 0.9660377358490566}, {0.04207121392068706, 0.9588014981273408},
    {0.04953393512227663, 0.9516728624535316}, {0.056941376400138424, 0.9446494464944649},
    {0.06429435070539725, 0.9377289377289377}, {0.07159365318700882, 0.9309090909090909},
    {0.07884006170777602, 0.924187725631769}, {0.08603433734180316, 0.9175627240143369},
    {0.0931772248541833, 0.9110320284697508}, {0.10026945316367515, 0.9045936395759717},
    {0.10731173578908805, 0.8982456140350877}, {0.11430477128005863, 0.89198606271777},
    {0.12124924363286968, 0.8858131487889274}, {0.12814582269193003, 0.8797250859106529},
    {0.13499516453750482, 0.8737201365187713}, {0.14179791186025734, 0.8677966101694915},
    {0.14855469432313714, 0.8619528619528619}, {0.15526612891112396, 0.8561872909698997},
    {0.16193282026931324, 0.8504983388704319}, {0.16855536102980667, 0.8448844884488449},
    {0.17513433212784915, 0.839344262295082}, {0.18167030310763468, 0.8338762214983714},
    {0.188163832418183, 0.8284789644012945}, {0.19461546769967167, 0.8231511254019293},
    {0.20102574606059073, 0.8178913738019169}, {0.2073951943460706, 0.8126984126984127},
    {0.21372432939771813, 0.807570977917981}, {0.2200136583052821, 0.8025078369905956},
    {0.22626367865045338, 0.7975077881619937}, {0.23247487874309405, 0.7925696594427245},
    {0.238647737850175, 0.7876923076923077}, {0.24478272641769092, 0.7828746177370031},
    {0.25088030628580943, 0.7781155015197568}, {0.2569409308975004, 0.7734138972809668},
    {0.26296504550088134, 0.7687687687687688}, {0.26895308734550394, 0.764179104477612},
    {0.2749054858727992, 0.7596439169139466}, {0.2808226629008878, 0.7551622418879056},
    {0.2867050328039543, 0.750733137829912}, {0.29255300268637746, 0.7463556851311953},
    {0.2983669725517973, 0.7420289855072464}, {0.3041473354672967, 0.7377521613832853},
    {0.3098944777228647, 0.7335243553008596}, {0.31560877898630335, 0.7293447293447294},
    {0.3212906124537343, 0.7252124645892352}, {0.32694034499585334, 0.7211267605633803},
    {0.3325583373000766, 0.7170868347338936}, {0.3381449440087164, 0.713091922005571},
    {0.34370051385331846, 0.7091412742382271}, {0.34922538978528833, 0.7052341597796143},
    {0.35471990910292905, 0.7013698630136986}, {0.3601844035750078, 0.6975476839237057},
    {0.3656191995609647, 0.6937669376693767}, {0.3710246181278727, 0.6900269541778976},
    {0.3764009751642531, 0.6863270777479893}, {0.38174858149084834, 0.6826666666666666},
    {0.3870677429684483, 0.6790450928381963}, {0.3923587606028639, 0.6754617414248021},
    {0.39762193064713847, 0.6719160104986877}, {0.40285754470108354, 0.6684073107049608},
    {0.4080658898082217, 0.6649350649350649}, {0.4132472485502193, 0.661498708010336},
    {0.4184018991388838, 0.6580976863753213}, {0.4235301155058033, 0.6547314578005116},
    {0.4286321673896988, 0.6513994910941476}, {0.4337083204215594, 0.6481012658227848},
    {0.43875883620762796, 0.6448362720403022}, {0.443783972410301, 0.6416040100250626},
    {0.4487839828270067, 0.6384039900249376}, {0.4537591174671205, 0.6352357320099256},
    {0.4587096226269767, 0.6320987654320988}, {0.4636357409630325, 0.628992628992629},
    {0.46853771156323926, 0.6259168704156479}, {0.4734157700166721, 0.6228710462287105},
    {0.47827014848147026, 0.6198547215496368}, {0.4831010757511358, 0.6168674698795181},
    {0.487908777319239, 0.6139088729016786}, {0.49269347544257525, 0.6109785202863962},
    {0.49745538920281895, 0.6080760095011877}, {0.5021947345667155, 0.6052009456264775},
    {0.5069117244448543, 0.6023529411764705}, {0.5116065687490621, 0.5995316159250585},
    {0.5162794744484545, 0.5967365967365967}, {0.5209306456241853, 0.5939675174013921},
    {0.5255602835229274, 0.5912240184757506}, {0.5301685866091216, 0.5885057471264368},
    {0.5347557506160276, 0.585812356979405}, {0.5393219685956089, 0.5831435079726651},
    {0.5438674309672835, 0.5804988662131519}, {0.5483923255655732, 0.5778781038374717},
    {0.5528968376866777, 0.5752808988764045}, {0.5573811501340064, 0.5727069351230425},
    {0.5618454432626918, 0.5701559020044543}, {0.5662898950231159, 0.5676274944567627},
    {0.5707146810034716, 0.565121412803532}, {0.575119974471388, 0.5626373626373626},
    {0.5795059464146423, 0.5601750547045952}, {0.5838727655809827, 0.5577342047930284},
    {0.5882205985170861, 0.5553145336225597}, {0.5925496096066716, 0.5529157667386609},
    {0.5968599611077938, 0.5505376344086022}, {0.6011518131893349, 0.5481798715203426},
    {0.6054253239667169, 0.5458422174840085}, {0.6096806495368553, 0.5435244161358811},
    {0.6139179440123705, 0.5412262156448203}, {0.6181373595550788, 0.5389473684210526},
    {0.6223390464087788, 0.5366876310272537}, {0.6265231529313527, 0.534446764091858},
    {0.6306898256261987, 0.5322245322245323}, {0.6348392091730102, 0.5300207039337475},
    {0.6389714464579207, 0.5278350515463918}, {0.6430866786030273, 0.5256673511293635},
    {0.6471850449953096, 0.523517382413088}, {0.6512666833149581, 0.5213849287169042},
    {0.6553317295631277, 0.5192697768762677}, {0.6593803180891278, 0.5171717171717172},
    {0.6634125816170663, 0.5150905432595574}, {0.6674286512719562, 0.5130260521042084},
    {0.6714286566053024, 0.5109780439121756}, {0.6754127256201767, 0.5089463220675944},
    {0.6793809847957973, 0.5069306930693069}, {0.6833335591116206, 0.504930966469428},
    {0.6872705720709603, 0.5029469548133595}, {0.691192145724142, 0.5009784735812133}};

static ALWAYS_INLINE double prof_ln_inline(double x) {
    /* x = m * 2^e, m in [1, 2). */
    uint64_t bits;
    memcpy(&bits, &x, sizeof(bits));
    int e = (int)((bits >> 52) & 0x7ff) - 1023;
    unsigned i = (unsigned)(bits >> 45) & 127;
    bits = (bits & (((uint64_t)1 << 52) - 1)) | ((uint64_t)1023 << 52);
    double m;
    memcpy(&m, &bits, sizeof(m));
    double c = 1 + ((double)i + 0.5) * (1.0 / 128);
    double r = (m - c) * prof_ln_tab[i][1];
    double s = r * (1 + r * (-1.0 / 2 + r * (1.0 / 3 + r * (-1.0 / 4 + r * (1.0 / 5)))));
    return e * PROF_LN2 + prof_ln_tab[i][0] + s;
}

double prof_ln(double x) { return prof_ln_inline(x); }

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

uint64_t prof_draw_u64(uint64_t r, size_t lg) { return prof_draw(r, lg); }

uint64_t prof_interval_draw(uint64_t *state, size_t lg) {
    return prof_draw(prof_prng_next(state), lg);
}

/* ---- thread records ------------------------------------------------------------------------- */

prof_tdata_t *prof_tdata_make(tsd_t *tsd) {
    uint64_t now = nstime_stamp();
    mutex_lock(&prof_lock);
    prof_tdata_t *td = prof_tdata_new_locked();
    if (td != NULL) {
        td->uid = tsd->prof_thread_uid;
        td->name[0] = '\0';
        td->active = atomic_load_relaxed(&prof_thread_active_init);
        /* Seeds of threads made together differ in a few bits: a finaliser spreads them
         * (splitmix64's). */
        uint64_t z = td->uid * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)tsd ^
                     (now << 20) ^ (now >> 30);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        td->prng = z ^ (z >> 31);
        td->attached = true;
    }
    mutex_unlock(&prof_lock);
    tsd->prof_tdata = td;
    return td;
}

static ALWAYS_INLINE int64_t prof_interval_next(tsd_t *tsd, prof_tdata_t *td) {
    uint64_t r;
    if (likely(td != NULL)) {
        r = prof_prng_next(&td->prng);
    } else { /* no record (out of memory): a state made up for this draw */
        uint64_t fallback = (uint64_t)(uintptr_t)tsd ^ tsd->thread_allocated;
        r = prof_prng_next(&fallback);
    }
    return (int64_t)prof_draw(r, atomic_load_relaxed(&prof_lg_sample));
}

int64_t prof_sample_interval(tsd_t *tsd) { return prof_interval_next(tsd, prof_tdata_get(tsd)); }

bool prof_sample_kept(tsd_t *tsd, size_t old_usize, size_t usize) {
    prof_tdata_t *td = prof_tdata_get(tsd);
    if (td == NULL)
        return true;
    double period = (double)((uint64_t)1 << atomic_load_relaxed(&prof_lg_sample));
    double keep = (1 - prof_exp(-(double)usize / period)) / (1 - prof_exp(-(double)old_usize / period));
    double u = (double)(prof_prng_next(&td->prng) >> 11) * (1.0 / 9007199254740992.0);
    return u < keep;
}

int64_t prof_sample_next_slow(tsd_t *tsd, bool *wanted) {
    prof_tdata_t *td = prof_tdata_get(tsd);
    if (td != NULL)
        return prof_sample_next_td(tsd, td, wanted);
    *wanted = false; /* no record to count it in (out of memory) */
    return prof_interval_next(tsd, NULL);
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
