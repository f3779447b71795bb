/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nstime: the clock is readable once constructors have run; on x86_64 and aarch64 it is read
 * through the vDSO wherever the kernel maps one; each reading lies between two readings of the
 * same clock through libc, before and after it, and readings do not go back, through the vDSO
 * and through the system call (the path of a process without one); the test hook replaces both
 * clocks.
 */
#include "allocator/internal/nstime.h"

#include <errno.h>
#include <sys/auxv.h>
#include <time.h>

#include "unit.h"

static uint64_t libc_ns(clockid_t id) {
    struct timespec ts;
    check(clock_gettime(id, &ts) == 0);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t fake_ns(void) { return 42; }

int main(void) {
    check(nstime_usable());
#if defined(__x86_64__) || defined(__aarch64__)
    if (getauxval(AT_SYSINFO_EHDR) != 0)
        check(nstime_vdso_used());
#endif
    /* Through the vDSO (where there is one), then through the system call. */
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            nstime_vdso_forget();
            check(!nstime_vdso_used());
        }
        for (int i = 0; i < 1000; i++) {
            uint64_t before = libc_ns(CLOCK_MONOTONIC);
            uint64_t t = nstime_now_precise();
            uint64_t after = libc_ns(CLOCK_MONOTONIC);
            check(before <= t && t <= after);
            uint64_t cbefore = libc_ns(CLOCK_MONOTONIC_COARSE);
            uint64_t c = nstime_now();
            uint64_t cafter = libc_ns(CLOCK_MONOTONIC_COARSE);
            check(cbefore <= c && c <= cafter);
        }
        errno = EDOM; /* a clock reading leaves errno alone */
        (void)nstime_now();
        (void)nstime_now_precise();
        check_eq(errno, EDOM);
        uint64_t last = nstime_now_precise();
        for (int i = 0; i < 10000; i++) {
            uint64_t t = nstime_now_precise();
            check(t >= last);
            last = t;
        }
    }
    check(nstime_ready_ns != 0 && nstime_ready_ns <= nstime_now_precise());
    nstime_hook = fake_ns;
    check_eq(nstime_now(), 42);
    check_eq(nstime_now_precise(), 42);
    nstime_hook = NULL;
    check(nstime_now_precise() > 42);
    return unit_finish("nstime");
}
