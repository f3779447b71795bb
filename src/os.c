/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * os: the process queries of os.h, made with raw system calls and reads of /proc into stack
 * buffers (glibc's sched_getaffinity wrapper and sysconf may allocate or read files through
 * stdio; these do neither). Stateless; callable from any thread at any time, init included.
 */
#include "allocator/internal/os.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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
    /* Bit by bit: __builtin_popcount is a call into libgcc's helper on CPUs without popcnt,
     * code at the far end of the library's text, which boot would then make resident. */
    for (size_t i = 0; i < (size_t)r && i < sizeof(set); i++) {
        for (unsigned b = ((unsigned char *)&set)[i]; b != 0; b &= b - 1)
            n++;
    }
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

COLD os_thread_t os_thread_probe(int tid) {
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
