/*
 * liballocator public interface.
 *
 * The standard allocation functions (malloc, free, calloc, realloc, ...) are declared by
 * <stdlib.h> and <malloc.h>; this header adds what those do not declare, and the
 * jemalloc-compatible extended interface: the mallocx family, mallctl and malloc_stats_print,
 * with jemalloc 5's flag encoding, so code written for jemalloc builds against it unchanged.
 */
#ifndef ALLOCATOR_H
#define ALLOCATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ALLOCATOR_VERSION_STRING "0.1.0"

/* Flags for the mallocx family: the same bits as jemalloc 5. */
#define MALLOCX_LG_ALIGN(la) ((int)(la))
#define MALLOCX_ALIGN(a) ((int)(__builtin_ffsl((long)(a)) - 1))
#define MALLOCX_ZERO ((int)0x40)
/* Bits 8-19 select an explicit thread cache (tc + 2); 1 means "no thread cache". */
#define MALLOCX_TCACHE(tc) ((int)(((tc) + 2) << 8))
#define MALLOCX_TCACHE_NONE MALLOCX_TCACHE(-1)
/*
 * Bits 20-31 select an arena (a + 1, a <= 4094). Shifted as unsigned: (a + 1) << 20 does not fit
 * an int from a = 2047 on, and shifting an int there is undefined behaviour. The result is int,
 * as jemalloc's API has it (the top bit set is the same bit pattern).
 */
#define MALLOCX_ARENA(a) ((int)(((unsigned)(a) + 1) << 20))

/* Pseudo arena indices accepted by "arena.<i>.*" mallctl names. */
#define MALLCTL_ARENAS_ALL 4096
#define MALLCTL_ARENAS_DESTROYED 4097

/*
 * Custom memory sources for an arena (mallctl "arena.<i>.extent_hooks", "arenas.create"), with
 * jemalloc 5's layout and meaning. Boolean results are "true = failed / declined".
 */
typedef struct extent_hooks_s extent_hooks_t;
typedef void *(extent_alloc_t)(extent_hooks_t *, void *new_addr, size_t size, size_t alignment,
                               bool *zero, bool *commit, unsigned arena_ind);
typedef bool(extent_dalloc_t)(extent_hooks_t *, void *addr, size_t size, bool committed,
                              unsigned arena_ind);
typedef void(extent_destroy_t)(extent_hooks_t *, void *addr, size_t size, bool committed,
                               unsigned arena_ind);
typedef bool(extent_commit_t)(extent_hooks_t *, void *addr, size_t size, size_t offset,
                              size_t length, unsigned arena_ind);
typedef bool(extent_decommit_t)(extent_hooks_t *, void *addr, size_t size, size_t offset,
                                size_t length, unsigned arena_ind);
typedef bool(extent_purge_t)(extent_hooks_t *, void *addr, size_t size, size_t offset,
                             size_t length, unsigned arena_ind);
typedef bool(extent_split_t)(extent_hooks_t *, void *addr, size_t size, size_t size_a,
                             size_t size_b, bool committed, unsigned arena_ind);
typedef bool(extent_merge_t)(extent_hooks_t *, void *addr_a, size_t size_a, void *addr_b,
                             size_t size_b, bool committed, unsigned arena_ind);
struct extent_hooks_s {
    extent_alloc_t *alloc;
    extent_dalloc_t *dalloc;
    extent_destroy_t *destroy;
    extent_commit_t *commit;
    extent_decommit_t *decommit;
    extent_purge_t *purge_lazy;
    extent_purge_t *purge_forced;
    extent_split_t *split;
    extent_merge_t *merge;
};

/*
 * glibc-style functions that not every libc header declares. glibc declares its own with
 * __THROW, which is noexcept in C++; a C++ redeclaration must carry the same specification.
 */
#if defined(__cplusplus) && defined(__THROW)
#define ALLOCATOR_LIBC_NOTHROW __THROW
#else
#define ALLOCATOR_LIBC_NOTHROW
#endif
void *reallocarray(void *ptr, size_t nmemb, size_t size) ALLOCATOR_LIBC_NOTHROW;
void *pvalloc(size_t size) ALLOCATOR_LIBC_NOTHROW;
void *valloc(size_t size) ALLOCATOR_LIBC_NOTHROW;
void *memalign(size_t alignment, size_t size) ALLOCATOR_LIBC_NOTHROW;
size_t malloc_usable_size(void *ptr) ALLOCATOR_LIBC_NOTHROW;
void free_sized(void *ptr, size_t size) ALLOCATOR_LIBC_NOTHROW;
void free_aligned_sized(void *ptr, size_t alignment, size_t size) ALLOCATOR_LIBC_NOTHROW;
int malloc_trim(size_t pad) ALLOCATOR_LIBC_NOTHROW;

/* jemalloc-compatible extended interface. */
void *mallocx(size_t size, int flags);
void *rallocx(void *ptr, size_t size, int flags);
size_t xallocx(void *ptr, size_t size, size_t extra, int flags);
size_t sallocx(const void *ptr, int flags);
void dallocx(void *ptr, int flags);
void sdallocx(void *ptr, size_t size, int flags);
size_t nallocx(size_t size, int flags);
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
int mallctlnametomib(const char *name, size_t *mibp, size_t *miblenp);
int mallctlbymib(const size_t *mib, size_t miblen, void *oldp, size_t *oldlenp, void *newp,
                 size_t newlen);
void malloc_stats_print(void (*write_cb)(void *, const char *), void *cbopaque,
                        const char *opts);

/*
 * Heap walking, with bionic's signatures and meaning. malloc_disable stops every allocation and
 * free in every thread (the calling thread included: it must not allocate) until malloc_enable;
 * fork in between is allowed, and parent and child each call malloc_enable. malloc_iterate
 * calls callback once for every live allocation whose start lies in [base, base + size), with
 * its start and usable size; blocks free in thread caches are not live. The callback must not
 * allocate. Returns 0, or -1 with errno set. Called without malloc_disable, it disables and
 * enables around the walk itself.
 */
void malloc_disable(void);
void malloc_enable(void);
int malloc_iterate(uintptr_t base, size_t size, void (*callback)(uintptr_t base, size_t size, void *arg),
                   void *arg);

/* Compiled-in option string a program may define, read at initialisation. */
extern const char *malloc_conf;
/* Where messages go; NULL (the default) means standard error. */
extern void (*malloc_message)(void *cbopaque, const char *s);

#ifdef __cplusplus
}
#endif

#endif /* ALLOCATOR_H */
