/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pages: mmap, munmap, mremap, madvise and sbrk, behind the narrow interface in pages.h.
 * Alignment beyond the kernel's page is had by mapping size + align and trimming both ends (so is
 * a PAGE larger than the kernel's). Stateless but for the page sizes set at boot, an atomic byte
 * counter and whether pages_move may still be tried; callable from any thread, any lock held
 * (pages_brk only under dss.c's lock, which owns the break).
 */
#include "allocator/internal/pages.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "allocator/internal/io.h"

unsigned pages_lg_page = LG_PAGE_MIN;
size_t pages_os_page = (size_t)1 << LG_PAGE_MIN;
long pages_fail_after;
static size_t pages_mapped;

size_t pages_kernel_page(void) {
    /*
     * glibc fills getauxval's copy of the auxiliary vector (_dl_aux_init) before anything in a
     * static program can run, IRELATIVE resolvers and constructors included; elsewhere the
     * dynamic loader has done it. Should it say 0 all the same, the kernel's copy tells.
     */
    unsigned long ps = getauxval(AT_PAGESZ);
    if (ps != 0)
        return ps;
    int fd = open("/proc/self/auxv", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    unsigned long pair[2];
    ssize_t n;
    while ((n = read(fd, pair, sizeof(pair))) == (ssize_t)sizeof(pair) && pair[0] != AT_NULL) {
        if (pair[0] == AT_PAGESZ) {
            ps = pair[1];
            break;
        }
    }
    close(fd);
    return ps;
}

/* The test-only page setting (pages.h): its lg, or 0 when unset or refused (with a message). */
static unsigned pages_test_lg_page(unsigned lg_os) {
    const char *v = secure_getenv(PAGES_TEST_LG_PAGE_ENV);
    if (v == NULL)
        return 0;
    if (!config_debug) {
        io_printf("<allocator>: %s is honoured only in debug builds; ignored\n",
                  PAGES_TEST_LG_PAGE_ENV);
        return 0;
    }
    unsigned lg = 0;
    bool ok = *v != '\0';
    for (const char *c = v; ok && *c != '\0'; c++) {
        ok = *c >= '0' && *c <= '9' && lg < 100;
        lg = lg * 10 + (unsigned)(*c - '0');
    }
    if (!ok || config_lg_page != 0 || lg < lg_os || lg < LG_PAGE_MIN || lg > LG_PAGE_MAX) {
        io_printf("<allocator>: %s=%s: not a page size this build can use on this kernel "
                  "(%u to %u%s); ignored\n",
                  PAGES_TEST_LG_PAGE_ENV, v, lg_os, LG_PAGE_MAX,
                  config_lg_page != 0 ? ", and --with-lg-page fixed it" : "");
        return 0;
    }
    return lg;
}

bool pages_boot(void) {
    size_t ps = pages_kernel_page();
    if (ps == 0 || !is_pow2(ps))
        ps = (size_t)1 << LG_PAGE_MIN;
    pages_os_page = ps;
    unsigned lg_os = lg_floor(ps);
    if (lg_os > LG_PAGE_MAX) {
        if (config_lg_page != 0)
            io_printf("<allocator>: this build assumes %zu-byte pages but the kernel uses %zu-byte "
                      "pages; rebuild without --with-lg-page, or with --with-lg-page=%u\n",
                      (size_t)1 << LG_PAGE_MAX, ps, lg_os);
        else
            io_printf("<allocator>: the kernel uses %zu-byte pages; this allocator serves pages "
                      "of at most %zu bytes\n",
                      ps, (size_t)1 << LG_PAGE_MAX);
        return true;
    }
    unsigned lg = pages_test_lg_page(lg_os);
    if (config_lg_page == 0)
        pages_lg_page = lg != 0 ? lg : lg_os < LG_PAGE_MIN ? LG_PAGE_MIN : lg_os;
    return false;
}

static bool pages_injected_failure(void) {
    if (likely(pages_fail_after == 0))
        return false;
    if (__atomic_sub_fetch(&pages_fail_after, 1, __ATOMIC_RELAXED) <= 0) {
        __atomic_store_n(&pages_fail_after, -1, __ATOMIC_RELAXED);
        return true;
    }
    return false;
}

static void *pages_mmap(size_t size) {
    if (pages_injected_failure())
        return NULL;
    int saved = errno;
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errno = saved;
    return p == MAP_FAILED ? NULL : p;
}

static void pages_munmap(void *addr, size_t size) {
    int saved = errno;
    if (munmap(addr, size) != 0)
        io_warn("munmap(%p, %zu) failed\n", addr, size);
    errno = saved;
}

void *pages_map(size_t size, size_t align) {
    assert(size != 0 && (size & PAGE_MASK) == 0);
    assert(is_pow2(align) && align >= PAGE);
    if (align <= pages_os_page) {
        void *p = pages_mmap(size);
        if (p != NULL)
            atomic_add_relaxed(&pages_mapped, size);
        return p;
    }
    size_t alloc = size + align - pages_os_page;
    if (alloc < size)
        return NULL;
    char *raw = pages_mmap(alloc);
    if (raw == NULL)
        return NULL;
    char *ret = (char *)ALIGN_UP((uintptr_t)raw, align);
    size_t lead = (size_t)(ret - raw);
    size_t trail = alloc - lead - size;
    if (lead != 0)
        pages_munmap(raw, lead);
    if (trail != 0)
        pages_munmap(ret + size, trail);
    atomic_add_relaxed(&pages_mapped, size);
    return ret;
}

void pages_unmap(void *addr, size_t size) {
    pages_munmap(addr, size);
    atomic_sub_relaxed(&pages_mapped, size);
}

bool pages_purge(void *addr, size_t size) {
    int saved = errno;
    int r = madvise(addr, size, MADV_DONTNEED);
    errno = saved;
    return r != 0;
}

static bool pages_lazy_refused;

bool pages_purge_lazy(void *addr, size_t size) {
#ifdef MADV_FREE
    if (atomic_load_relaxed(&pages_lazy_refused))
        return true;
    int saved = errno;
    int r = madvise(addr, size, MADV_FREE);
    if (r != 0 && errno == EINVAL)
        atomic_store_relaxed(&pages_lazy_refused, true);
    errno = saved;
    return r != 0;
#else
    (void)addr, (void)size;
    return true;
#endif
}

bool pages_can_purge_lazy(void) {
#ifdef MADV_FREE
    return !atomic_load_relaxed(&pages_lazy_refused);
#else
    return false;
#endif
}

void pages_set_thp(void *addr, size_t size, bool huge) {
    int saved = errno;
    if (madvise(addr, size, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0)
        io_warn("madvise(%p, %zu, %s) failed\n", addr, size, huge ? "MADV_HUGEPAGE" : "MADV_NOHUGEPAGE");
    errno = saved;
}

void *pages_brk(intptr_t incr) {
    int saved = errno;
    void *old = sbrk(incr);
    errno = saved;
    return old == (void *)-1 ? NULL : old;
}

size_t pages_mapped_bytes(void) { return atomic_load_relaxed(&pages_mapped); }

/* ---- moving pages ------------------------------------------------------------------------ */

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4 /* Linux 5.7; older headers lack the name */
#endif
#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17 */
#endif

bool pages_move_refused;
bool (*pages_move_hook)(void *src, size_t size, void *dst);
/* 0: not tried yet, 1: usable, -1: refused (by the probe, a failed move or too many mappings). */
static int pages_move_state;
static size_t pages_moves; /* successful moves, for the periodic count of mappings */

static bool pages_mremap(void *src, size_t size, void *dst) {
    int saved = errno;
    void *r = mremap(src, size, size, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, dst);
    errno = saved;
    return r != dst;
}

/*
 * Does the kernel move pages as pages_move needs? Tried on two pages of a scratch mapping of the
 * kernel's page size each: on success they are unmapped; after a failure they are left as they
 * are, since the failed call may have unmapped the destination and another thread mapped
 * something there since.
 */
static bool pages_move_probe(void) {
    size_t ps = pages_os_page;
    char *p = pages_mmap(2 * ps);
    if (p == NULL)
        return false;
    p[0] = 42;
    if (pages_mremap(p, ps, p + ps))
        return false;
    bool ok = p[ps] == 42 && p[0] == 0;
    pages_munmap(p, 2 * ps);
    return ok;
}

/* A small decimal number read from a file of /proc, or 0. No stdio: it may allocate. */
static size_t pages_read_number(const char *path, char *buf, size_t len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, len);
    close(fd);
    size_t v = 0;
    for (ssize_t i = 0; i < n && buf[i] >= '0' && buf[i] <= '9'; i++)
        v = v * 10 + (size_t)(buf[i] - '0');
    return v;
}

/*
 * Moves split mappings (pages.h): every PAGES_MOVE_CHECK moves, count the process's mappings and
 * stop moving once they pass a quarter of vm.max_map_count.
 */
#define PAGES_MOVE_CHECK 1024
static COLD void pages_move_count_maps(void) {
    char buf[4096];
    size_t max = pages_read_number("/proc/sys/vm/max_map_count", buf, sizeof(buf));
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (max == 0 || fd < 0) {
        if (fd >= 0)
            close(fd);
        atomic_store_release(&pages_move_state, -1);
        return;
    }
    size_t lines = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
    close(fd);
    if (lines > max / 4)
        atomic_store_release(&pages_move_state, -1);
}

bool pages_resident_any(void *addr, size_t size) {
    unsigned char vec[512];
    size_t ps = pages_os_page;
    for (size_t off = 0; off < size; off += sizeof(vec) * ps) {
        size_t n = size - off < sizeof(vec) * ps ? size - off : sizeof(vec) * ps;
        int saved = errno;
        int r = mincore((char *)addr + off, n, vec);
        errno = saved;
        if (r != 0)
            return true;
        for (size_t i = 0; i < (n + ps - 1) / ps; i++)
            if (vec[i] & 1)
                return true;
    }
    return false;
}

COLD pages_move_result_t pages_move(void *src, size_t size, void *dst) {
    int state = atomic_load_acquire(&pages_move_state);
    if (unlikely(state == 0)) {
        state = pages_move_probe() ? 1 : -1;
        atomic_store_release(&pages_move_state, state);
    }
    if (state < 0 || pages_move_refused)
        return PAGES_MOVE_NOT_MOVED;
    int saved = errno;
    /*
     * The source must be one mapping: some kernels check that only after unmapping the
     * destination. Growing it in place by a page, which needs the same, tells: EFAULT when it
     * spans mappings, ENOMEM when the page after it is taken (a chunk goes on); if it grew, the
     * page is ours and goes again.
     */
    void *r = mremap(src, size, size + pages_os_page, 0);
    if (r == src)
        pages_munmap((char *)src + size, pages_os_page);
    else if (errno != ENOMEM) {
        errno = saved;
        return PAGES_MOVE_NOT_MOVED;
    }
    errno = saved;
    bool failed = pages_move_hook != NULL ? pages_move_hook(src, size, dst)
                                          : pages_mremap(src, size, dst);
    if (!failed) {
        if (__atomic_add_fetch(&pages_moves, 1, __ATOMIC_RELAXED) % PAGES_MOVE_CHECK == 0)
            pages_move_count_maps();
        return PAGES_MOVE_MOVED;
    }
    /* No more moves. The destination may be unmapped now: map it again unless someone has. */
    atomic_store_release(&pages_move_state, -1);
    r = mmap(dst, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
             -1, 0);
    errno = saved;
    if (r == dst)
        return PAGES_MOVE_NOT_MOVED;
    if (r != MAP_FAILED)
        pages_munmap(r, size); /* an old kernel took the address as a hint */
    return PAGES_MOVE_LOST;
}
