/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * config: build options as constants, so code says `if (config_debug)` rather than #ifdef.
 * The values come from configure through config_gen.h.
 */
#ifndef ALLOCATOR_INTERNAL_CONFIG_H
#define ALLOCATOR_INTERNAL_CONFIG_H

#include <stdbool.h>

#include "allocator/internal/config_gen.h"

static const bool config_debug = ALLOCATOR_DEBUG != 0;
static const bool config_stats = true;
static const bool config_fill = true;
static const bool config_prof = true;
static const bool config_prof_libgcc = ALLOCATOR_PROF_LIBGCC != 0;

/*
 * The page size. --with-lg-page=N fixes it at build time: config_lg_page is N and LG_PAGE a
 * constant (the kernel's page may then be smaller, never larger). By default config_lg_page is 0
 * and LG_PAGE reads pages_lg_page, which pages_boot sets once, first thing in the boot sequence,
 * from the kernel's page (the auxiliary vector) or the test-only page setting (pages.h): any
 * size from LG_PAGE_MIN to LG_PAGE_MAX. Until then it reads LG_PAGE_MIN. Array bounds that
 * depend on the page use LG_PAGE_MIN or LG_PAGE_MAX (constants either way); the free fast path's
 * radix-tree key uses LG_PAGE_MIN (rtree.h), so it shifts by a constant in every build.
 */
static const unsigned config_lg_page = ALLOCATOR_LG_PAGE;
#define LG_PAGE_MIN (ALLOCATOR_LG_PAGE != 0 ? ALLOCATOR_LG_PAGE : 12)
#define LG_PAGE_MAX (ALLOCATOR_LG_PAGE != 0 ? ALLOCATOR_LG_PAGE : 16)
extern unsigned pages_lg_page __attribute__((visibility("hidden")));
#define LG_PAGE (config_lg_page != 0 ? config_lg_page : pages_lg_page)
#define PAGE ((size_t)1 << LG_PAGE)
#define PAGE_MASK (PAGE - 1)
/* Arenas carve memory from chunks of this size and alignment. */
#define LG_CHUNK 21
#define CHUNK ((size_t)1 << LG_CHUNK)
#define LG_VADDR ALLOCATOR_LG_VADDR
#define LG_QUANTUM 4
#define QUANTUM ((size_t)1 << LG_QUANTUM)

#endif
