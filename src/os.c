/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * os: the process queries of os.h, made with raw system calls and reads of /proc into stack
 * buffers (glibc's sched_getaffinity wrapper and sysconf may allocate or read files through
 * stdio; these do neither). Stateless; callable from any thread at any time, init included.
 */
#include "allocator/internal/os.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "allocator/internal/io.h"

unsigned os_ncpus(void) {
    cpu_set_t set;
    /* The kernel returns the bytes of the mask it wrote (its own mask size), or -errno. */
    long r = syscall(SYS_sched_getaffinity, 0, sizeof(set), &set);
    if (r <= 0)
        return 1;
    unsigned n = 0;
    for (size_t i = 0; i < (size_t)r && i < sizeof(set); i++)
        n += (unsigned)__builtin_popcount(((unsigned char *)&set)[i]);
    return n == 0 ? 1 : n;
}

int os_gettid(void) { return (int)syscall(SYS_gettid); }

/* Read a small /proc file into buf (NUL-terminated); returns its length, or -1. */
static ssize_t os_read_proc(int tid, const char *leaf, char *buf, size_t size) {
    char path[64];
    io_format(path, sizeof(path), "/proc/self/task/%d/%s", tid, leaf);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n;
    do {
        n = read(fd, buf, size - 1);
    } while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

static uint64_t os_parse_u64(const char *s) {
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    return v;
}

os_thread_t os_thread_probe(int tid) {
    os_thread_t pr = {0, 0, 0};
    char buf[512];
    ssize_t n = os_read_proc(tid, "stat", buf, sizeof(buf));
    if (n <= 0)
        return pr;
    /* "pid (comm) S ..."; comm may hold spaces and parentheses, so find the last ')'. */
    ssize_t close_paren = -1;
    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == ')')
            close_paren = i;
    }
    if (close_paren < 0 || close_paren + 2 >= n)
        return pr;
    pr.state = buf[close_paren + 2];
    char sched[128];
    if (os_read_proc(tid, "schedstat", sched, sizeof(sched)) > 0) {
        /* "run_ns wait_ns slices" */
        const char *p = sched;
        pr.run_ns = os_parse_u64(p);
        for (int field = 0; field < 2 && *p != '\0'; p++) {
            if (*p == ' ')
                field++;
        }
        pr.slices = os_parse_u64(p);
        return pr;
    }
    const char *p = buf + close_paren + 2;
    for (int field = 3; field < 14 && *p != '\0'; p++) {
        if (*p == ' ')
            field++;
    }
    uint64_t ticks = os_parse_u64(p);
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == ' ')
        ticks += os_parse_u64(p + 1);
    pr.run_ns = ticks * 10000000;
    return pr;
}

/* ---- the clock, from the vDSO ------------------------------------------------------------- */

/*
 * The number of symbols in a dynamic symbol table, from its DT_HASH table (its chain count) or,
 * without one, its DT_GNU_HASH table (one past the highest index any bucket's chain reaches).
 */
static size_t os_vdso_nsyms(const Elf32_Word *hash, const Elf32_Word *gnu) {
    if (hash != NULL)
        return hash[1];
    if (gnu == NULL)
        return 0;
    Elf32_Word nbuckets = gnu[0], symoffset = gnu[1], bloom_words = gnu[2];
    const Elf32_Word *buckets = gnu + 4 + bloom_words * (sizeof(ElfW(Addr)) / 4);
    const Elf32_Word *chains = buckets + nbuckets;
    Elf32_Word last = 0;
    for (Elf32_Word b = 0; b < nbuckets; b++) {
        if (buckets[b] > last)
            last = buckets[b];
    }
    if (last < symoffset)
        return symoffset;
    while ((chains[last - symoffset] & 1) == 0)
        last++;
    return (size_t)last + 1;
}

/* Whether the strings are equal (libc's strcmp lies on pages a program may not otherwise use). */
static bool os_str_eq(const char *a, const char *b) {
    while (*a != '\0' && *a == *b)
        a++, b++;
    return *a == *b;
}

void *os_vdso_lookup(const char *name) {
    uintptr_t base = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
    if (base == 0)
        return NULL;
    const ElfW(Ehdr) *eh = (const ElfW(Ehdr) *)base;
    if (eh->e_ident[EI_MAG0] != ELFMAG0 || eh->e_ident[EI_MAG1] != ELFMAG1 ||
        eh->e_ident[EI_MAG2] != ELFMAG2 || eh->e_ident[EI_MAG3] != ELFMAG3 ||
        eh->e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32))
        return NULL;
    const ElfW(Phdr) *ph = (const ElfW(Phdr) *)(base + eh->e_phoff);
    uintptr_t bias = 0;
    bool loaded = false;
    const ElfW(Dyn) *dyn = NULL;
    for (unsigned i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_LOAD && !loaded) {
            bias = base + ph[i].p_offset - ph[i].p_vaddr;
            loaded = true;
        } else if (ph[i].p_type == PT_DYNAMIC) {
            dyn = (const ElfW(Dyn) *)(base + ph[i].p_offset);
        }
    }
    if (!loaded || dyn == NULL)
        return NULL;
    const ElfW(Sym) *syms = NULL;
    const char *strs = NULL;
    const Elf32_Word *hash = NULL, *gnu = NULL;
    for (; dyn->d_tag != DT_NULL; dyn++) {
        uintptr_t at = bias + dyn->d_un.d_ptr;
        if (dyn->d_tag == DT_SYMTAB)
            syms = (const ElfW(Sym) *)at;
        else if (dyn->d_tag == DT_STRTAB)
            strs = (const char *)at;
        else if (dyn->d_tag == DT_HASH)
            hash = (const Elf32_Word *)at;
        else if (dyn->d_tag == DT_GNU_HASH)
            gnu = (const Elf32_Word *)at;
    }
    if (syms == NULL || strs == NULL)
        return NULL;
    size_t n = os_vdso_nsyms(hash, gnu);
    for (size_t i = 0; i < n; i++) {
        if (ELF64_ST_TYPE(syms[i].st_info) == STT_FUNC && syms[i].st_shndx != SHN_UNDEF &&
            os_str_eq(strs + syms[i].st_name, name))
            return (void *)(bias + syms[i].st_value);
    }
    return NULL;
}

typedef int (*os_clock_fn_t)(clockid_t, struct timespec *);
/* NULL until looked up; then the vDSO's function, or os_clock_syscall where there is none. */
static os_clock_fn_t os_clock_fn;

static int os_clock_syscall(clockid_t id, struct timespec *ts) {
    return (int)syscall(SYS_clock_gettime, id, ts);
}

int os_clock_gettime(clockid_t id, struct timespec *ts) {
    os_clock_fn_t fn = atomic_load_relaxed(&os_clock_fn);
    if (unlikely(fn == NULL)) {
#if defined(__aarch64__)
        fn = (os_clock_fn_t)os_vdso_lookup("__kernel_clock_gettime");
#else
        fn = (os_clock_fn_t)os_vdso_lookup("__vdso_clock_gettime");
#endif
        if (fn == NULL)
            fn = os_clock_syscall;
        atomic_store_relaxed(&os_clock_fn, fn); /* racing lookups find the same */
    }
    int r = fn(id, ts);
    if (r < 0 && fn == os_clock_syscall)
        return -1; /* syscall(2) has set errno */
    if (r < 0) {
        errno = -r; /* the vDSO returns -errno, as the system call does */
        return -1;
    }
    return 0;
}
