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

/* The page size the build assumes; the kernel's may be smaller, never larger. */
#define LG_PAGE ALLOCATOR_LG_PAGE
#define PAGE ((size_t)1 << LG_PAGE)
#define PAGE_MASK (PAGE - 1)
/* Arenas carve memory from chunks of this size and alignment. */
#define LG_CHUNK 21
#define CHUNK ((size_t)1 << LG_CHUNK)
#define LG_VADDR ALLOCATOR_LG_VADDR
#define LG_QUANTUM 4
#define QUANTUM ((size_t)1 << LG_QUANTUM)

#endif
