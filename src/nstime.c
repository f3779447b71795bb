/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nstime: the monotonic clock behind the constructor-set gate of nstime.h, read through the
 * vDSO's clock_gettime (found once, by the constructor) or else the system call. Stateless
 * apart from the gate, that function and the test hook.
 */
#include "allocator/internal/nstime.h"

#include <elf.h>
#include <errno.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

bool nstime_ready;
uint64_t nstime_ready_ns;
uint64_t (*nstime_hook)(void);

typedef int (*nstime_vdso_fn_t)(clockid_t, struct timespec *);
static nstime_vdso_fn_t nstime_vdso_fn; /* NULL: the system call */

/*
 * The vDSO's clock_gettime, from the dynamic symbol table of the image the kernel maps into every
 * process (AT_SYSINFO_EHDR), or NULL (no vDSO, as under some emulators; another architecture).
 *
 * Why not libc's clock_gettime, which calls the same function: the kernel maps a file's pages
 * 64 KiB around each one first touched (fault-around), and a program that never reads the clock
 * itself (most small ones) never touches the part of libc's text that holds its wrapper. The
 * library's first call made those pages resident in every process. With this and conf.c's
 * readlink made a system call: peak RSS of bench/fixed 16 1000, mean of 30 runs, 1,453 ->
 * 1,376 KiB (glibc's own malloc: 1,115).
 */
static nstime_vdso_fn_t nstime_vdso_find(void) {
#if defined(__x86_64__)
    static const char name[] = "__vdso_clock_gettime";
#elif defined(__aarch64__)
    static const char name[] = "__kernel_clock_gettime";
#else
    static const char name[] = "";
#endif
    uintptr_t base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    if (name[0] == '\0' || base == 0)
        return NULL;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
    if (eh->e_ident[EI_MAG0] != ELFMAG0 || eh->e_ident[EI_MAG1] != ELFMAG1 ||
        eh->e_ident[EI_MAG2] != ELFMAG2 || eh->e_ident[EI_MAG3] != ELFMAG3 ||
        eh->e_ident[EI_CLASS] != ELFCLASS64)
        return NULL;
    /* Addresses in the image are link-time; bias turns them into this mapping's. */
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
    const Elf64_Dyn *dyn = NULL;
    uintptr_t bias = 0;
    bool loaded = false;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && !loaded) {
            bias = base + ph[i].p_offset - ph[i].p_vaddr;
            loaded = true;
        } else if (ph[i].p_type == PT_DYNAMIC) {
            dyn = (const Elf64_Dyn *)(base + ph[i].p_offset);
        }
    }
    if (!loaded || dyn == NULL)
        return NULL;
    const Elf64_Sym *syms = NULL;
    const char *strs = NULL;
    const Elf32_Word *hash = NULL; /* DT_HASH: its second word is the number of symbols */
    for (; dyn->d_tag != DT_NULL; dyn++) {
        if (dyn->d_tag == DT_SYMTAB)
            syms = (const Elf64_Sym *)(bias + dyn->d_un.d_ptr);
        else if (dyn->d_tag == DT_STRTAB)
            strs = (const char *)(bias + dyn->d_un.d_ptr);
        else if (dyn->d_tag == DT_HASH)
            hash = (const Elf32_Word *)(bias + dyn->d_un.d_ptr);
    }
    if (syms == NULL || strs == NULL || hash == NULL)
        return NULL;
    for (Elf32_Word i = 0; i < hash[1]; i++) {
        const Elf64_Sym *s = &syms[i];
        if (s->st_shndx == SHN_UNDEF || s->st_value == 0 ||
            ELF64_ST_TYPE(s->st_info) != STT_FUNC)
            continue;
        const char *n = strs + s->st_name;
        size_t k = 0;
        while (name[k] != '\0' && n[k] == name[k])
            k++;
        if (name[k] == '\0' && n[k] == '\0')
            return (nstime_vdso_fn_t)(bias + s->st_value);
    }
    return NULL;
}

__attribute__((constructor)) static void nstime_constructor(void) {
    atomic_store_relaxed(&nstime_vdso_fn, nstime_vdso_find());
    atomic_store_relaxed(&nstime_ready, true);
    atomic_store_relaxed(&nstime_ready_ns, nstime_now_precise());
}

bool nstime_vdso_used(void) { return atomic_load_relaxed(&nstime_vdso_fn) != NULL; }

void nstime_vdso_forget(void) { atomic_store_relaxed(&nstime_vdso_fn, NULL); }

/* The coarse clock costs a few nanoseconds (no hardware counter read); kernels lack it rarely. */
static clockid_t nstime_clock = CLOCK_MONOTONIC_COARSE;

static uint64_t nstime_read(clockid_t id) {
    struct timespec ts;
    int r;
    nstime_vdso_fn_t fn = atomic_load_relaxed(&nstime_vdso_fn);
    if (fn != NULL) {
        r = fn(id, &ts); /* 0, or a negative errno; errno is left alone */
    } else {
        int saved = errno;
        r = (int)syscall(SYS_clock_gettime, id, &ts);
        errno = saved;
    }
    if (r != 0)
        return UINT64_MAX;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t nstime_now(void) {
    if (nstime_hook != NULL)
        return nstime_hook();
    uint64_t t = nstime_read(atomic_load_relaxed(&nstime_clock));
    if (unlikely(t == UINT64_MAX)) {
        atomic_store_relaxed(&nstime_clock, CLOCK_MONOTONIC);
        t = nstime_read(CLOCK_MONOTONIC);
    }
    return t == UINT64_MAX ? 0 : t;
}

uint64_t nstime_now_precise(void) {
    if (nstime_hook != NULL)
        return nstime_hook();
    uint64_t t = nstime_read(CLOCK_MONOTONIC);
    return t == UINT64_MAX ? 0 : t;
}
