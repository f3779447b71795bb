/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The mallctl resolver (ctl.c), driven through ctl_byname, ctl_nametomib and ctl_bymib: a name
 * resolves to one MIB component per name component, and that MIB reaches the same leaf; a
 * partial MIB (a short *miblenp) is completed with an index; unknown names, indices out of range
 * and interior nodes are ENOENT; a wrong length is EINVAL and the wrong direction EPERM, as in
 * jemalloc. The opt.* leaves, made from conf.h's option table, read the options' values.
 */
#include <errno.h>
#include <string.h>

#include "allocator.h"
#include "allocator/internal/conf.h"
#include "allocator/internal/ctl.h"
#include "allocator/internal/sc.h"
#include "unit.h"

static size_t nametomib(const char *name, size_t *mib, size_t miblen) {
    size_t len = miblen;
    int r = ctl_nametomib(name, mib, &len);
    check_eq(r, 0);
    return r == 0 ? len : 0;
}

static size_t read_size(const char *name) {
    size_t v = 0, len = sizeof(v);
    check_eq(ctl_byname(name, &v, &len, NULL, 0), 0);
    check_eq(len, sizeof(v));
    return v;
}

/* A name resolves to one component per level; the MIB reads what the name reads. */
static void test_name_to_mib(void) {
    size_t mib[CTL_MAX_DEPTH];
    check_eq(nametomib("arenas.page", mib, CTL_MAX_DEPTH), 2);
    size_t page = 0, len = sizeof(page);
    check_eq(ctl_bymib(mib, 2, &page, &len, NULL, 0), 0);
    check_eq(page, read_size("arenas.page"));
    check(page >= 4096 && (page & (page - 1)) == 0);

    /* Siblings get different components, and a numeric level is the number itself. */
    size_t mib2[CTL_MAX_DEPTH];
    check_eq(nametomib("arenas.quantum", mib2, CTL_MAX_DEPTH), 2);
    check_eq(mib2[0], mib[0]);
    check(mib2[1] != mib[1]);
    check_eq(nametomib("arenas.bin.3.size", mib, CTL_MAX_DEPTH), 4);
    check_eq(mib[0], mib2[0]);
    check_eq(mib[2], 3);
    check_eq(nametomib("stats.arenas.4096.pactive", mib, CTL_MAX_DEPTH), 4);
    check_eq(mib[2], MALLCTL_ARENAS_ALL);

    /* A string leaf by MIB: the same pointer as by name. */
    const char *v1 = NULL, *v2 = NULL;
    len = sizeof(v1);
    check_eq(ctl_byname("version", &v1, &len, NULL, 0), 0);
    check_eq(nametomib("version", mib, CTL_MAX_DEPTH), 1);
    len = sizeof(v2);
    check_eq(ctl_bymib(mib, 1, &v2, &len, NULL, 0), 0);
    check(v1 != NULL && v1 == v2);

    /* A write through a MIB reaches the same leaf: epoch advances by one per write. */
    uint64_t e0 = 0, e1 = 0, one = 1;
    len = sizeof(e0);
    check_eq(ctl_byname("epoch", &e0, &len, NULL, 0), 0);
    check_eq(nametomib("epoch", mib, CTL_MAX_DEPTH), 1);
    check_eq(ctl_bymib(mib, 1, NULL, NULL, &one, sizeof(one)), 0);
    len = sizeof(e1);
    check_eq(ctl_byname("epoch", &e1, &len, NULL, 0), 0);
    check_eq(e1, e0 + 1);
}

/*
 * Every leaf of the tree (numeric levels as 0): its MIB answers a read probe exactly as its name
 * does (same code, same length), so names and MIBs reach the same nodes everywhere.
 */
static size_t nleaves, nsame;
static void leaf_same(const char *pattern, void *arg) {
    (void)arg;
    char name[CTL_NAME_MAX], *o = name;
    size_t ncomp = 1;
    for (const char *p = pattern; *p != '\0'; p++) {
        if (*p == '<') {
            *o++ = '0';
            p = strchr(p, '>');
            continue;
        }
        ncomp += *p == '.';
        *o++ = *p;
    }
    *o = '\0';
    nleaves++;
    size_t mib[CTL_MAX_DEPTH], miblen = CTL_MAX_DEPTH;
    if (ctl_nametomib(name, mib, &miblen) != 0 || miblen != ncomp) {
        fprintf(stderr, "%s: no MIB of %zu components\n", name, ncomp);
        return;
    }
    char b1[64], b2[64];
    size_t l1 = sizeof(b1), l2 = sizeof(b2);
    int r1 = ctl_byname(name, b1, &l1, NULL, 0);
    int r2 = ctl_bymib(mib, miblen, b2, &l2, NULL, 0);
    if (r1 == r2 && l1 == l2)
        nsame++;
    else
        fprintf(stderr, "%s: by name %d (%zu bytes), by MIB %d (%zu bytes)\n", name, r1, l1, r2,
                l2);
}

static void test_every_leaf(void) {
    ctl_names_foreach(leaf_same, NULL);
    check(nleaves > 100);
    check_eq(nsame, nleaves);
}

/* A short *miblenp gives the MIB of the name's first levels, which the caller completes. */
static void test_partial_mib(void) {
    size_t full[CTL_MAX_DEPTH], mib[CTL_MAX_DEPTH];
    check_eq(nametomib("arenas.bin.0.size", full, CTL_MAX_DEPTH), 4);
    /* Cut after the index: the rest of the name is not looked at. */
    check_eq(nametomib("arenas.bin.0.size", mib, 3), 3);
    check(memcmp(mib, full, 3 * sizeof(size_t)) == 0);
    for (size_t j = 0; j < SC_NBINS; j += SC_NBINS / 7) {
        char name[64];
        snprintf(name, sizeof(name), "arenas.bin.%zu.size", j);
        mib[2] = j;
        mib[3] = full[3];
        size_t v = 0, len = sizeof(v);
        check_eq(ctl_bymib(mib, 4, &v, &len, NULL, 0), 0);
        check_eq(v, read_size(name));
    }
    /* jemalloc's manual's example: arena.<i>.purge with the index filled in (all arenas). */
    size_t purge[CTL_MAX_DEPTH];
    check_eq(nametomib("arena.0.purge", purge, CTL_MAX_DEPTH), 3);
    check_eq(nametomib("arena.0.purge", mib, 2), 2);
    check_eq(mib[0], purge[0]);
    mib[1] = MALLCTL_ARENAS_ALL;
    mib[2] = purge[2];
    check_eq(ctl_bymib(mib, 3, NULL, NULL, NULL, 0), 0);
    /* Cut at an interior node; a *miblenp past the name's depth becomes the depth. */
    check_eq(nametomib("stats.arenas.0.bins.0.nmalloc", mib, 1), 1);
    check_eq(nametomib("arenas.page", mib, 1), 1);
    check_eq(nametomib("arenas.page", mib, 2), 2);
    check_eq(nametomib("arenas.page", mib, CTL_MAX_DEPTH - 1), 2);
    /* A cut may not go on past a leaf. */
    size_t len = 1;
    check_eq(ctl_nametomib("version.x", mib, &len), ENOENT);
}

/* Unknown names, indices out of range, interior nodes: ENOENT, by name and by MIB. */
static void test_enoent(void) {
    static const char *const bad[] = {
        "",                          /* empty */
        ".",                         /* empty components */
        "arenas..page",              /* */
        "arenas.",                   /* */
        ".arenas.page",              /* */
        "nosuch",                    /* unknown */
        "arenas.nosuch",             /* unknown child */
        "arenas.pag",                /* a prefix of a name is not the name */
        "arenas.pagex",              /* */
        "arenas.page.x",             /* past a leaf */
        "arenas",                    /* interior */
        "arenas.bin.0",              /* interior below an index */
        "stats.arenas.0.bins",       /* */
        "arenas.bin.x.size",         /* not a number where one is expected */
        "arenas.bin.-1.size",        /* */
        "arenas.bin.99999.size",     /* out of range */
        "arenas.lextent.99999.size", /* */
        "arena.5000.purge",          /* neither an arena nor MALLCTL_ARENAS_ALL */
        "stats.arenas.4098.pactive", /* */
        "stats.arenas.0.bins.99999.nmalloc",
        "opt.nosuch",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t v[8], len = sizeof(size_t);
        size_t mib[CTL_MAX_DEPTH], miblen = CTL_MAX_DEPTH;
        int r = ctl_byname(bad[i], v, &len, NULL, 0);
        int m = ctl_nametomib(bad[i], mib, &miblen);
        check_eq(r, ENOENT);
        check_eq(m, ENOENT);
        if (r != ENOENT || m != ENOENT)
            fprintf(stderr, "\"%s\": byname %d, nametomib %d\n", bad[i], r, m);
    }
    size_t v, len = sizeof(v);
    check_eq(ctl_byname(NULL, &v, &len, NULL, 0), ENOENT);

    size_t mib[CTL_MAX_DEPTH];
    check_eq(nametomib("arenas.bin.0.size", mib, CTL_MAX_DEPTH), 4);
    check_eq(ctl_bymib(mib, 3, &v, &len, NULL, 0), ENOENT); /* interior */
    check_eq(ctl_bymib(mib, 0, &v, &len, NULL, 0), ENOENT);
    check_eq(ctl_bymib(NULL, 4, &v, &len, NULL, 0), ENOENT);
    check_eq(ctl_bymib(mib, CTL_MAX_DEPTH + 1, &v, &len, NULL, 0), ENOENT);
    size_t save = mib[2];
    mib[2] = SC_NBINS; /* index out of range */
    check_eq(ctl_bymib(mib, 4, &v, &len, NULL, 0), ENOENT);
    mib[2] = save;
    mib[3] = 1000; /* no such child */
    check_eq(ctl_bymib(mib, 4, &v, &len, NULL, 0), ENOENT);
    mib[0] = 1000;
    check_eq(ctl_bymib(mib, 4, &v, &len, NULL, 0), ENOENT);
    check_eq(nametomib("version", mib, CTL_MAX_DEPTH), 1);
    mib[1] = 0; /* past a leaf */
    check_eq(ctl_bymib(mib, 2, &v, &len, NULL, 0), ENOENT);
}

/* EINVAL for wrong lengths and missing arguments, EPERM for the wrong direction. */
static void test_einval_eperm(void) {
    size_t mib[CTL_MAX_DEPTH], len = CTL_MAX_DEPTH;
    check_eq(ctl_nametomib("arenas.page", NULL, &len), EINVAL);
    check_eq(ctl_nametomib("arenas.page", mib, NULL), EINVAL);

    /* A short buffer gets what fits, and its length, with EINVAL. */
    size_t page = read_size("arenas.page");
    unsigned char b[sizeof(size_t)] = {0};
    len = 4;
    check_eq(ctl_byname("arenas.page", b, &len, NULL, 0), EINVAL);
    check_eq(len, 4);
    check(memcmp(b, &page, 4) == 0);
    check_eq(b[4], 0);
    /* A long one too: the leaf's size is the answer. */
    unsigned char big[32];
    len = sizeof(big);
    check_eq(ctl_byname("arenas.page", big, &len, NULL, 0), EINVAL);
    check_eq(len, sizeof(size_t));

    /* Writes of the wrong size. */
    uint64_t e = 1;
    check_eq(ctl_byname("epoch", NULL, NULL, &e, sizeof(e) - 1), EINVAL);
    unsigned u = 0;
    check_eq(ctl_byname("tcache.flush", NULL, NULL, &u, sizeof(u) + 1), EINVAL);
    check_eq(ctl_byname("tcache.flush", NULL, NULL, NULL, 0), EINVAL);
    /* Creating names insist on a readable result before they act. */
    len = 2;
    check_eq(ctl_byname("arenas.create", &u, &len, NULL, 0), EINVAL);
    check_eq(len, 0);

    /* Read-only, write-only and neither. */
    check_eq(ctl_byname("version", NULL, NULL, &e, sizeof(e)), EPERM);
    check_eq(ctl_byname("arenas.page", NULL, NULL, &page, sizeof(page)), EPERM);
    check_eq(ctl_byname("opt.narenas", NULL, NULL, &u, sizeof(u)), EPERM);
    len = sizeof(u);
    check_eq(ctl_byname("tcache.flush", &u, &len, NULL, 0), EPERM);
    check_eq(ctl_byname("arena.0.purge", &u, &len, NULL, 0), EPERM);
    check_eq(ctl_byname("arena.0.purge", NULL, NULL, &u, sizeof(u)), EPERM);
    check_eq(ctl_byname("arena.0.purge", NULL, NULL, NULL, 0), 0);
    /* The same by MIB. */
    check_eq(nametomib("version", mib, CTL_MAX_DEPTH), 1);
    check_eq(ctl_bymib(mib, 1, NULL, NULL, &e, sizeof(e)), EPERM);
}

/* opt.<name> is option <name> of conf.h's table: its component, its type and its value. */
static void test_opt_leaves(void) {
    size_t mib[CTL_MAX_DEPTH];
    check_eq(nametomib("opt.tcache_max", mib, CTL_MAX_DEPTH), 2);
    check_eq(mib[1], CONF_OPT_tcache_max);
    size_t z = 0, len = sizeof(z);
    check_eq(ctl_bymib(mib, 2, &z, &len, NULL, 0), 0);
    check_eq(z, opt_tcache_max);
    /* narenas reads the count in use, as an unsigned. */
    unsigned u = 0;
    len = sizeof(u);
    check_eq(ctl_byname("opt.narenas", &u, &len, NULL, 0), 0);
    check_eq(len, sizeof(unsigned));
    check(u >= 1);
    /* Options held as enums still read as their words. */
    const char *s = NULL;
    len = sizeof(s);
    check_eq(ctl_byname("opt.zero_realloc", &s, &len, NULL, 0), 0);
    check(s != NULL && strcmp(s, conf_zero_realloc_names[opt_zero_realloc]) == 0);
    check(s != NULL && strcmp(s, "free") == 0); /* the default; this test sets no options */
    check_eq(ctl_byname("opt.thp", &s, &len, NULL, 0), 0);
    check(s != NULL && strcmp(s, "default") == 0);
    check_eq(ctl_byname("opt.metadata_thp", &s, &len, NULL, 0), 0);
    check(s != NULL && strcmp(s, "disabled") == 0);
    check_eq(ctl_byname("opt.junk", &s, &len, NULL, 0), 0);
    check(s != NULL && strcmp(s, "false") == 0);
    check_eq(ctl_byname("opt.prof_prefix", &s, &len, NULL, 0), 0);
    check(s != NULL && strcmp(s, "jeprof") == 0);
    bool b = true;
    len = sizeof(b);
    check_eq(ctl_byname("opt.abort", &b, &len, NULL, 0), 0);
    check(!b);
    ssize_t d = 0;
    len = sizeof(d);
    check_eq(ctl_byname("opt.lg_prof_interval", &d, &len, NULL, 0), 0);
    check_eq(d, -1);
    /* Every option of the table, in its order, and nothing else. */
    for (size_t i = 0; i < CONF_NOPTIONS; i++) {
        char name[CTL_NAME_MAX];
        snprintf(name, sizeof(name), "opt.%s", conf_option_name(i));
        check_eq(nametomib(name, mib, CTL_MAX_DEPTH), 2);
        check_eq(mib[1], i);
    }
    mib[1] = CONF_NOPTIONS;
    len = sizeof(d);
    check_eq(ctl_bymib(mib, 2, &d, &len, NULL, 0), ENOENT);
}

int main(void) {
    /* The ctl_* calls expect what mallctl provides: the allocator and this thread's state made. */
    void *volatile p = malloc(1); /* volatile: a compiler may drop a malloc that is only freed */
    free(p);
    test_name_to_mib();
    test_every_leaf();
    test_partial_mib();
    test_enoent();
    test_einval_eperm();
    test_opt_leaves();
    return unit_finish("ctl_resolver");
}
