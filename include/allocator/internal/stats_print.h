/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * stats_print: the statistics report of malloc_stats_print, glibc's malloc_stats and
 * stats_print:true (at exit), in text or (opts "J") in jemalloc 5's JSON layout, made from
 * stats.h's snapshots through the emitter (emitter.h). It holds no allocator lock while the write
 * callback runs, so the callback may allocate or call mallctl.
 */
#ifndef ALLOCATOR_INTERNAL_STATS_PRINT_H
#define ALLOCATOR_INTERNAL_STATS_PRINT_H

#include "allocator/internal/emitter.h"
#include "allocator/internal/io.h"
#include "allocator/internal/stats.h"

/*
 * Print the report (the allocator must be initialised); cb NULL means malloc_message or standard error. opts holds jemalloc 5's
 * letters: J JSON; g no constants (version, build, options); m no merged arena; d no destroyed
 * arenas; a no per-arena sections; b no bins; l no large classes; x no mutex counters; e no free
 * extents; h no HPA (there is none). Other characters are ignored.
 */
void stats_print(io_write_cb_t *cb, void *opaque, const char *opts);
/*
 * Init, once, after the options are parsed: with stats_print:true, take a duplicate of standard
 * error and register the report at exit (through it, unless malloc_message is set by then).
 */
void stats_print_boot(void);
/* Fork, in the child: make the report's lock fresh (a report may be blocked in its callback). */
void stats_print_postfork_child(void);

#endif
