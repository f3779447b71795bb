/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ctl: the mallctl namespace. A static tree of named nodes (and numeric "<i>" nodes), each leaf
 * a small handler; names resolve to MIBs (one integer per component) and MIBs to handlers.
 * Statistics are read from a snapshot refreshed by writing "epoch", as jemalloc does, so a
 * reader sees values that agree with each other. ctl_lock (rank CTL) guards the snapshot.
 */
#ifndef ALLOCATOR_INTERNAL_CTL_H
#define ALLOCATOR_INTERNAL_CTL_H

#include "allocator/internal/util.h"

#define CTL_MAX_DEPTH 8

/*
 * mallctl, mallctlnametomib and mallctlbymib (api_ctl.c calls them once the allocator is
 * initialised and the calling thread's state is made).
 */
int ctl_byname(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
int ctl_nametomib(const char *name, size_t *mibp, size_t *miblenp);
int ctl_bymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
              size_t newlen);

/*
 * Every leaf name ("arena.<i>.purge", "stats.arenas.<i>.bins.<j>.nmalloc"), for the check that
 * keeps the manual page complete. Names are shorter than CTL_NAME_MAX.
 */
#define CTL_NAME_MAX 128
void ctl_names_foreach(void (*cb)(const char *name, void *arg), void *arg);

void ctl_prefork(void);
void ctl_postfork_parent(void);
void ctl_postfork_child(void);

#endif
