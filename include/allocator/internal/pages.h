/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pages: the allocator's only contact with the kernel's memory calls (mmap, munmap, madvise,
 * sbrk).
 *
 * Contracts:
 *  - pages_map(size, align): size and align are multiples of PAGE, align a power of two.
 *    Returns memory aligned to align, zero-filled, readable and writable, or NULL (errno is
 *    left as the caller had it). Never returns memory overlapping a live mapping.
 *  - pages_unmap(addr, size): addr/size as returned or split from pages_map.
 *  - pages_purge(addr, size): the range keeps its address but its contents are discarded; the
 *    next touch reads zeros (MADV_DONTNEED on private anonymous memory). Returns true when the
 *    kernel refused.
 *  - pages_purge_lazy(addr, size): MADV_FREE: the kernel may discard the contents (the next
 *    touch then reads zeros) or leave them; until it does, the pages stay resident. Returns true
 *    when refused (a kernel before 4.5 has no MADV_FREE: every later call returns true at once).
 *  - pages_move(src, size, dst): moves the pages of [src, src + size) to [dst, dst + size) without
 *    copying (Linux's mremap with MREMAP_FIXED and MREMAP_DONTUNMAP, 5.7 and later): dst then
 *    holds what src held (what it held before is dropped), and src stays mapped but reads as
 *    zero, holding no page. Both lie in private anonymous mappings of pages_map's (never the
 *    break, never a custom source's memory), and dst in a block whose arena is never reset or
 *    destroyed (see PAGES_MOVE_LOST). Returns PAGES_MOVE_MOVED; or PAGES_MOVE_NOT_MOVED with
 *    both ranges as they were (src spans two mappings, the kernel cannot, moves are off); or
 *    PAGES_MOVE_LOST: the kernel unmapped dst before failing (it unmaps the destination first
 *    and may check the commit charge after) and it could not be mapped again, so another
 *    thread's mmap may hold it: the caller must never touch, free or unmap that range again.
 *    After any failure, or once the process's mappings pass a quarter of vm.max_map_count
 *    (counted every 1,024 moves: moved pages never merge back with the mapping around them, so
 *    each move may split one in three), every call returns PAGES_MOVE_NOT_MOVED at once.
 *  - pages_brk(incr): libc's sbrk (so that the program's own sbrk calls see where the break is):
 *    moves the program break by incr bytes (0: reads it) and returns the break before the move,
 *    or NULL when the kernel refused (the break is unchanged; errno is left as the caller had
 *    it). Only dss.c calls it, under its lock. Pages the break gains read as zero.
 */
#ifndef ALLOCATOR_INTERNAL_PAGES_H
#define ALLOCATOR_INTERNAL_PAGES_H

#include "allocator/internal/util.h"

/* The kernel's page size, read at boot; PAGE is a multiple of it. */
extern size_t pages_os_page;
/* LG_PAGE unless --with-lg-page fixed it (config.h): set by pages_boot, never changed after. */
extern unsigned pages_lg_page HIDDEN;

/*
 * The test-only page setting: in debug builds (--enable-debug), with this environment variable
 * set to N (12..16, at least the kernel's page, at most LG_PAGE_MAX), the allocator uses pages
 * of 2^N bytes instead of the kernel's; legal, since such a page is a whole run of the kernel's.
 * The test suite runs at 16 and 64 KiB pages on a 4 KiB kernel this way. Release builds and
 * --with-lg-page builds ignore it, saying so on stderr.
 */
#define PAGES_TEST_LG_PAGE_ENV "ALLOCATOR_TEST_LG_PAGE"

/*
 * The kernel's page size, from the auxiliary vector (getauxval(AT_PAGESZ), or /proc/self/auxv
 * should that say 0); 0 when neither can tell. Safe in glibc's static startup: glibc reads the
 * vector before any code of the program runs.
 */
size_t pages_kernel_page(void);

/*
 * The first step of boot: reads the kernel's page (pages_kernel_page) and sets pages_os_page and
 * pages_lg_page. Returns true (after printing why) if the kernel's page is larger than any this
 * build serves (LG_PAGE_MAX: --with-lg-page's value, else 64 KiB).
 */
bool pages_boot(void);
void *pages_map(size_t size, size_t align);
void pages_unmap(void *addr, size_t size);
bool pages_purge(void *addr, size_t size);
bool pages_purge_lazy(void *addr, size_t size);
/* Does the kernel take MADV_FREE? (false once a call was refused with EINVAL) */
bool pages_can_purge_lazy(void);
/* Ask for (huge true) or against transparent huge pages on a range (opt thp, metadata_thp). */
void pages_set_thp(void *addr, size_t size, bool huge);
void *pages_brk(intptr_t incr);
/* Statistics: bytes currently mapped through pages_map (all users). */
size_t pages_mapped_bytes(void);
/* Is any page of [addr, addr + size) resident (mincore)? True also when the kernel will not say. */
bool pages_resident_any(void *addr, size_t size);
typedef enum { PAGES_MOVE_MOVED, PAGES_MOVE_NOT_MOVED, PAGES_MOVE_LOST } pages_move_result_t;
pages_move_result_t pages_move(void *src, size_t size, void *dst);
/*
 * Test hooks. pages_move_refused true: every pages_move returns PAGES_MOVE_NOT_MOVED without a
 * system call, and moves resume when it is false again. pages_move_hook, when set, is called
 * instead of the kernel's move (after the probe and the source check) and returns true for a
 * failure, after doing to dst what a failing kernel may (unmapping it, say).
 */
extern bool pages_move_refused;
extern bool (*pages_move_hook)(void *src, size_t size, void *dst);

/*
 * Test hook for injected mmap failures. 0 (the default): no injection. N > 0: each pages_map
 * call counts it down, so N - 1 further calls succeed and the Nth fails (1: the next call
 * fails); from then on it holds -1 and every call fails. Any negative value: every call fails.
 * Only the test setting it back to 0 ends the failures. A failed call returns NULL and maps
 * nothing; pages_unmap, pages_purge and pages_set_thp are not affected.
 */
extern long pages_fail_after;

#endif
