/*
 * mallctl, mallctlbymib and mallctlnametomib given hostile arguments, for every name of
 * src/ctl.c ("<i>" and "<j>" as 0) but arenas.create and tcache.create (reads that create; see
 * mallctl.c), by name and by MIB. A PROT_NONE guard page catches any access the call must not
 * make:
 *   - oldp given without oldlenp: nothing is written (jemalloc reads only when both are given);
 *   - oldlenp given without oldp: *oldlenp is left alone;
 *   - newp NULL with a nonzero newlen: nothing is read;
 *   - newp pointing at the guard page with a newlen no value has (2, 3, 5, 6, 7, 9, 12, 16,
 *     4096): EINVAL or EPERM, and the guard page is never read;
 *   - oldp ending at the guard page with *oldlenp from 0 to 16: no byte past *oldlenp is
 *     written, and *oldlenp never grows;
 *   - each index component of the MIB set to values past every table (4095, 4098, 2^32,
 *     SIZE_MAX, and for arena indices the last arena + 1): ENOENT;
 *   - mallctlnametomib with NULL arguments: EINVAL, and a MIB buffer ending at the guard page
 *     with *miblenp exactly the depth: no write past it.
 * A fault names the call (the handler prints it) and fails the test.
 */
#include "../test.h"

#include <allocator.h>
#include <signal.h>
#include <sys/mman.h>

static const char *const names[] = {
    "version", "epoch", "background_thread", "max_background_threads", "config.cache_oblivious",
    "config.debug", "config.fill", "config.lazy_lock", "config.malloc_conf",
    "config.opt_safety_checks", "config.prof", "config.prof_libgcc", "config.prof_libunwind",
    "config.stats", "config.utrace", "config.xmalloc", "opt.abort", "opt.abort_conf",
    "opt.confirm_conf", "opt.narenas", "opt.tcache", "opt.tcache_max", "opt.dirty_decay_ms",
    "opt.muzzy_decay_ms", "opt.retain", "opt.dss", "opt.junk", "opt.zero", "opt.xmalloc",
    "opt.stats_print", "opt.stats_print_opts", "opt.percpu_arena", "opt.background_thread",
    "opt.max_background_threads", "opt.thp", "opt.metadata_thp", "opt.oversize_threshold",
    "opt.lg_extent_max_active_fit", "opt.zero_realloc", "opt.prof", "opt.prof_prefix",
    "opt.prof_active", "opt.prof_thread_active_init", "opt.lg_prof_sample", "opt.lg_prof_interval",
    "opt.prof_gdump", "opt.prof_final", "opt.prof_leak", "opt.prof_accum", "thread.arena",
    "thread.allocated", "thread.allocatedp", "thread.deallocated", "thread.deallocatedp",
    "thread.tcache.enabled", "thread.tcache.flush", "thread.idle", "tcache.flush",
    "tcache.destroy", "arena.0.reset", "arena.0.destroy", "arena.0.extent_hooks",
    "arena.0.initialized", "arena.0.purge", "arena.0.decay", "arena.0.dss",
    "arena.0.dirty_decay_ms", "arena.0.muzzy_decay_ms", "arenas.narenas", "arenas.dirty_decay_ms",
    "arenas.muzzy_decay_ms", "arenas.quantum", "arenas.page", "arenas.tcache_max", "arenas.nbins",
    "arenas.nhbins", "arenas.bin.0.size", "arenas.bin.0.nregs", "arenas.bin.0.slab_size",
    "arenas.nlextents", "arenas.lextent.0.size", "arenas.lookup", "stats.allocated",
    "stats.active", "stats.metadata", "stats.resident", "stats.mapped", "stats.retained",
    "stats.background_thread.num_threads", "stats.background_thread.num_runs",
    "stats.background_thread.run_interval", "stats.arenas.0.nthreads", "stats.arenas.0.dss",
    "stats.arenas.0.dirty_decay_ms", "stats.arenas.0.muzzy_decay_ms", "stats.arenas.0.pactive",
    "stats.arenas.0.pdirty", "stats.arenas.0.pmuzzy", "stats.arenas.0.mapped",
    "stats.arenas.0.retained", "stats.arenas.0.dirty_npurge", "stats.arenas.0.dirty_nmadvise",
    "stats.arenas.0.dirty_purged", "stats.arenas.0.muzzy_npurge", "stats.arenas.0.muzzy_nmadvise",
    "stats.arenas.0.muzzy_purged", "stats.arenas.0.small.allocated",
    "stats.arenas.0.small.nmalloc", "stats.arenas.0.small.ndalloc",
    "stats.arenas.0.small.nrequests", "stats.arenas.0.small.nfills",
    "stats.arenas.0.small.nflushes", "stats.arenas.0.large.allocated",
    "stats.arenas.0.large.nmalloc", "stats.arenas.0.large.ndalloc",
    "stats.arenas.0.large.nrequests", "stats.arenas.0.bins.0.nmalloc",
    "stats.arenas.0.bins.0.ndalloc", "stats.arenas.0.bins.0.nrequests",
    "stats.arenas.0.bins.0.curregs", "stats.arenas.0.bins.0.nfills",
    "stats.arenas.0.bins.0.nflushes", "stats.arenas.0.bins.0.nslabs",
    "stats.arenas.0.bins.0.nreslabs", "stats.arenas.0.bins.0.curslabs",
    "stats.arenas.0.lextents.0.nmalloc", "stats.arenas.0.lextents.0.ndalloc",
    "stats.arenas.0.lextents.0.nrequests", "stats.arenas.0.lextents.0.curlextents",
};

static const char *current_name;
static const char *current_case;

static void on_fault(int sig) {
    char msg[256];
    int n = snprintf(msg, sizeof(msg), "FAIL: signal %d in %s, case \"%s\"\n", sig, current_name,
                     current_case);
    if (write(2, msg, (size_t)n) < 0)
        _exit(3);
    _exit(2);
}

static unsigned char *guard; /* a PROT_NONE page; the page before it is writable */

typedef int call_fn(const char *name, const size_t *mib, size_t miblen, void *oldp,
                    size_t *oldlenp, void *newp, size_t newlen);

static int by_name(const char *name, const size_t *mib, size_t miblen, void *oldp,
                   size_t *oldlenp, void *newp, size_t newlen) {
    (void)mib, (void)miblen;
    return mallctl(name, oldp, oldlenp, newp, newlen);
}

static int by_mib(const char *name, const size_t *mib, size_t miblen, void *oldp,
                  size_t *oldlenp, void *newp, size_t newlen) {
    (void)name;
    return mallctlbymib(mib, miblen, oldp, oldlenp, newp, newlen);
}

/* Names whose write has an effect the rest of the test must not see. */
static bool effectful_write(const char *name) {
    return strcmp(name, "thread.arena") == 0 || strcmp(name, "background_thread") == 0 ||
           strcmp(name, "max_background_threads") == 0 ||
           strcmp(name, "thread.tcache.enabled") == 0 ||
           strcmp(name, "arena.0.extent_hooks") == 0 || strcmp(name, "arena.0.dss") == 0 ||
           strstr(name, "decay_ms") != NULL || strcmp(name, "epoch") == 0;
}

static void probe(const char *name, const size_t *mib, size_t miblen, call_fn *call) {
    size_t len;
    current_case = "oldp without oldlenp";
    call(name, mib, miblen, guard, NULL, NULL, 0);

    current_case = "oldlenp without oldp";
    len = 77;
    call(name, mib, miblen, NULL, &len, NULL, 0);
    if (!test_check_(len == 77))
        test_fail("%s: oldlenp without oldp changed *oldlenp to %zu", name, len);

    if (!effectful_write(name)) {
        current_case = "newp NULL, newlen 8";
        call(name, mib, miblen, NULL, NULL, NULL, 8);
    }

    static const size_t bad_lens[] = {2, 3, 5, 6, 7, 9, 12, 16, 4096};
    current_case = "newp at the guard page, a length no value has";
    for (size_t i = 0; i < sizeof(bad_lens) / sizeof(bad_lens[0]); i++) {
        int err = call(name, mib, miblen, NULL, NULL, guard, bad_lens[i]);
        if (!test_check_(err == EINVAL || err == EPERM))
            test_fail("%s: newlen %zu: error %d, expected EINVAL or EPERM", name, bad_lens[i],
                      err);
    }

    current_case = "oldp ending at the guard page";
    for (size_t k = 0; k <= 16; k++) {
        len = k;
        call(name, mib, miblen, guard - k, &len, NULL, 0);
        if (!test_check_(len <= k))
            test_fail("%s: *oldlenp %zu grew to %zu", name, k, len);
    }
}

int main(void) {
    if (!test_allocator_active() || test_sym("mallctl") == NULL) {
        if (test_glibc_allowed())
            test_skip("mallctl is liballocator's");
        return test_done();
    }
    size_t page = test_page_size();
    unsigned char *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    require_true(map != MAP_FAILED);
    require_true(mprotect(map + page, page, PROT_NONE) == 0);
    guard = map + page;
    signal(SIGSEGV, on_fault);
    signal(SIGBUS, on_fault);

    unsigned narenas = 0;
    size_t sz = sizeof(narenas);
    require_true(mallctl("arenas.narenas", &narenas, &sz, NULL, 0) == 0);
    /* Past the last arena, every bin and large class, and both special arena indices. */
    const size_t bad_index[] = {4095, 4098, 9999, (size_t)1 << 32, SIZE_MAX, narenas + 1};

    for (size_t n = 0; n < sizeof(names) / sizeof(names[0]); n++) {
        const char *name = names[n];
        current_name = name;
        probe(name, NULL, 0, by_name);

        size_t mib[8], miblen = 8;
        current_case = "mallctlnametomib";
        if (!test_check_(mallctlnametomib(name, mib, &miblen) == 0)) {
            test_fail("mallctlnametomib(\"%s\") failed", name);
            continue;
        }
        probe(name, mib, miblen, by_mib);

        /* The exact depth, the MIB buffer ending at the guard page. */
        current_case = "mallctlnametomib into a buffer ending at the guard page";
        size_t *tight = (size_t *)(void *)(guard - miblen * sizeof(size_t));
        size_t tight_len = miblen;
        expect_d_eq(mallctlnametomib(name, tight, &tight_len), 0);
        expect_zu_eq(tight_len, miblen);

        /* Index components past every table. */
        current_case = "index components out of range";
        const char *s = name;
        for (size_t d = 0; d < miblen; d++) {
            const char *dot = strchr(s, '.');
            bool is_index = s[0] == '0' && (s[1] == '.' || s[1] == '\0');
            if (is_index) {
                size_t saved = mib[d];
                /* narenas + 1 is a valid bin or large class index: arenas only. */
                bool arena_index = d == 1 || (d == 2 && strncmp(name, "stats.", 6) == 0);
                size_t nbad = sizeof(bad_index) / sizeof(bad_index[0]) - (arena_index ? 0 : 1);
                for (size_t b = 0; b < nbad; b++) {
                    mib[d] = bad_index[b];
                    unsigned char out[16];
                    size_t len = sizeof(out);
                    int err = mallctlbymib(mib, miblen, out, &len, NULL, 0);
                    if (!test_check_(err == ENOENT))
                        test_fail("%s with component %zu = %zu: error %d, expected ENOENT",
                                  name, d, bad_index[b], err);
                }
                mib[d] = saved;
            }
            if (dot == NULL)
                break;
            s = dot + 1;
        }
    }
    current_case = "mallctlnametomib with NULL arguments";
    size_t mib[8], miblen = 8;
    expect_d_eq(mallctlnametomib("version", NULL, &miblen), EINVAL);
    expect_d_eq(mallctlnametomib("version", mib, NULL), EINVAL);
    expect_d_eq(mallctlnametomib(NULL, mib, &miblen), ENOENT);
    expect_d_eq(mallctlbymib(NULL, 1, NULL, NULL, NULL, 0), ENOENT);
    return test_done();
}
