/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The free fast path's copy of a radix-tree leaf (tsd.h, tsd_tls_t): a new thread has none (a
 * key no address has, so that its first free reads the root, even of NULL or an address in the
 * first gigabyte); a free of a block keeps the block's leaf, the one the root names; a free of
 * NULL, whose gigabyte has no leaf, keeps nothing (the root's empty leaf is never kept, or a
 * leaf made there later would go unseen); blocks freed through the kept leaf go to the cache
 * as before.
 */
#include <pthread.h>

#include "allocator/internal/tcache.h"
#include "allocator/internal/tsd.h"
#include "unit.h"

static void *thread_main(void *arg) {
    (void)arg;
    check_eq(tsd_tls.leaf_key, UINTPTR_MAX);
    free(NULL); /* the thread's first call: its state is tsd_uninit */
    check_eq(tsd_tls.leaf_key, UINTPTR_MAX);
    void *p = malloc(64);
    check(p != NULL);
    free(p);
    uintptr_t a = (uintptr_t)p;
    check_eq(tsd_tls.leaf_key, a >> RTREE_LEAF_SHIFT);
    check(tsd_tls.leaf == rtree_leaf_of(a));
    check(tsd_tls.leaf != (char *)rtree.zero_leaf);
    free(NULL);
    check_eq(tsd_tls.leaf_key, a >> RTREE_LEAF_SHIFT);
    /* Frees through the kept leaf reach the cache. */
    tcache_t *tc = &tsd_get()->tcache;
    cache_bin_t *cb = &tc->bins[sz_size2index(64) + 1];
    void *q[8];
    for (int i = 0; i < 8; i++)
        check((q[i] = malloc(64)) != NULL);
    uint32_t before = cache_bin_ncached(cb);
    for (int i = 0; i < 8; i++)
        free(q[i]);
    check_eq(cache_bin_ncached(cb), before + 8);
    return NULL;
}

int main(void) {
    free(malloc(1)); /* boot */
    pthread_t t;
    check(pthread_create(&t, NULL, thread_main, NULL) == 0);
    pthread_join(t, NULL);
    return unit_finish("leaf_cache");
}
