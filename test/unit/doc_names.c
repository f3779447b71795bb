/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The names the manual page must document, from the code's own tables: every leaf of the mallctl
 * tree (ctl.c, ctl_stats.c) and every option of conf.h's table (CONF_OPTIONS). Run as a unit
 * test (no argument) it checks that the walk is sound: every name resolves (numeric levels as 0)
 * to a MIB of one integer per component, answers a read and a write probe with jemalloc's codes,
 * and every option is readable as opt.<name> with the option's type. test/programs/manpage.sh runs it with
 *   --mallctl  one line per name: "NAME ACCESS SIZE" (ACCESS r-, rw, -w or --; SIZE the bytes
 *              a read returns, or - when a read returns nothing)
 *   --options  one line per option: "NAME<TAB>TYPE"
 * and compares the lists with doc/allocator.3.
 */
#include <errno.h>
#include <string.h>

#include "allocator/internal/conf.h"
#include "allocator/internal/ctl.h"
#include "unit.h"

/* The profiler's names answer only with profiling on (jemalloc's ENOENT otherwise). */
const char *malloc_conf = "prof:true";

typedef struct {
    char name[CTL_NAME_MAX];
    char access[3];
    size_t size; /* 0: a read returns nothing */
    bool ok;     /* resolved, and both probes gave a known answer */
} leaf_t;

#define LEAVES_MAX 512
static leaf_t leaves[LEAVES_MAX];
static size_t nleaves;

/* NAME with each "<x>" level replaced by 0; returns the number of components. */
static size_t concrete(const char *name, char *out) {
    size_t ncomp = 1;
    for (; *name != '\0'; name++) {
        if (*name == '<') {
            *out++ = '0';
            name = strchr(name, '>');
            continue;
        }
        ncomp += *name == '.';
        *out++ = *name;
    }
    *out = '\0';
    return ncomp;
}

/*
 * Access from two probes that change nothing: a read with a 64-byte buffer (a readable leaf
 * copies what fits, returns EINVAL and sets the length to its type's size; one that is not
 * readable returns EPERM) and a write of zero bytes (a read-only leaf returns EPERM, a writable
 * one EINVAL for the wrong length, before acting).
 */
static void probe(leaf_t *l) {
    char name[CTL_NAME_MAX];
    size_t ncomp = concrete(l->name, name);
    size_t mib[CTL_MAX_DEPTH], miblen = CTL_MAX_DEPTH;
    if (ctl_nametomib(name, mib, &miblen) != 0 || miblen != ncomp) {
        fprintf(stderr, "%s: does not resolve to %zu components\n", name, ncomp);
        return;
    }
    char buf[64];
    size_t len = sizeof(buf);
    int r = ctl_byname(name, buf, &len, NULL, 0);
    bool readable = r == 0 || r == EINVAL;
    l->size = readable && len != sizeof(buf) ? len : 0;
    int dummy = 0;
    int w = ctl_byname(name, NULL, NULL, &dummy, 0);
    bool writable = w == EINVAL;
    l->access[0] = readable ? 'r' : '-';
    l->access[1] = writable ? 'w' : '-';
    l->access[2] = '\0';
    l->ok = (readable || r == EPERM) && (writable || w == EPERM);
    if (!l->ok)
        fprintf(stderr, "%s: read probe %d, write probe %d\n", name, r, w);
}

static void collect(const char *name, void *arg) {
    (void)arg;
    if (nleaves < LEAVES_MAX)
        strcpy(leaves[nleaves].name, name);
    nleaves++;
}

static const leaf_t *leaf_find(const char *name) {
    for (size_t i = 0; i < nleaves; i++) {
        if (strcmp(leaves[i].name, name) == 0)
            return &leaves[i];
    }
    return NULL;
}

static size_t type_size(const char *type) {
    if (strcmp(type, "bool") == 0)
        return sizeof(bool);
    if (strcmp(type, "unsigned") == 0)
        return sizeof(unsigned);
    return sizeof(size_t); /* ssize_t, size_t, const char * */
}

int main(int argc, char **argv) {
    /* The ctl_* calls expect what mallctl provides: the allocator and this thread's state made. */
    void *volatile p = malloc(1); /* volatile: a compiler may drop a malloc that is only freed */
    free(p);
    ctl_names_foreach(collect, NULL);
    check(nleaves <= LEAVES_MAX);
    for (size_t i = 0; i < nleaves && i < LEAVES_MAX; i++)
        probe(&leaves[i]);

    if (argc > 1 && strcmp(argv[1], "--mallctl") == 0) {
        for (size_t i = 0; i < nleaves; i++) {
            if (leaves[i].size != 0)
                printf("%s %s %zu\n", leaves[i].name, leaves[i].access, leaves[i].size);
            else
                printf("%s %s -\n", leaves[i].name, leaves[i].access);
        }
        return 0;
    }
    const char *oname, *otype;
    if (argc > 1 && strcmp(argv[1], "--options") == 0) {
        for (size_t i = 0; conf_option_get(i, &oname, &otype); i++)
            printf("%s\t%s\n", oname, otype);
        return 0;
    }

    /* The walk reaches every part of the tree, and only leaves that answer. */
    check(nleaves > 100);
    check(leaf_find("version") != NULL);
    check(leaf_find("arena.<i>.purge") != NULL);
    check(leaf_find("stats.arenas.<i>.bins.<j>.nmalloc") != NULL);
    check(leaf_find("arenas.lextent.<i>.size") != NULL);
    check(leaf_find("stats.arenas") == NULL);
    size_t bad = 0;
    for (size_t i = 0; i < nleaves; i++)
        bad += !leaves[i].ok;
    check_eq(bad, 0);
    /* The probes tell the kinds of leaf apart. */
    const leaf_t *l;
    check((l = leaf_find("version")) != NULL && strcmp(l->access, "r-") == 0 &&
          l->size == sizeof(char *));
    check((l = leaf_find("epoch")) != NULL && strcmp(l->access, "rw") == 0 && l->size == 8);
    check((l = leaf_find("tcache.flush")) != NULL && strcmp(l->access, "-w") == 0 && l->size == 0);
    check((l = leaf_find("arena.<i>.purge")) != NULL && strcmp(l->access, "--") == 0);
    check((l = leaf_find("config.debug")) != NULL && l->size == sizeof(bool));

    /* Every option reads back as opt.<name>, read-only, with the option's type; and no more. */
    size_t nopts = 0;
    for (size_t i = 0; conf_option_get(i, &oname, &otype); i++, nopts++) {
        char name[CTL_NAME_MAX];
        snprintf(name, sizeof(name), "opt.%s", oname);
        l = leaf_find(name);
        check(l != NULL);
        if (l == NULL) {
            fprintf(stderr, "option %s has no mallctl %s\n", oname, name);
            continue;
        }
        check(strcmp(l->access, "r-") == 0);
        check_eq(l->size, type_size(otype));
    }
    size_t nopt_leaves = 0;
    for (size_t i = 0; i < nleaves; i++)
        nopt_leaves += strncmp(leaves[i].name, "opt.", 4) == 0;
    check_eq(nopt_leaves, nopts);
    check(nopts > 20);
    return unit_finish("doc_names");
}
