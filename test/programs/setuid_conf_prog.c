/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Helper of setuid_conf.sh (compiled by it, not by make): reports whether the kernel marked the
 * process secure (AT_SECURE, as for a setuid program run by another user), whether MALLOC_CONF
 * reached it, and the options liballocator settled on. Linked with -lallocator.
 */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "allocator.h"

int main(void) {
    unsigned narenas = 0;
    bool tcache = false;
    size_t sz = sizeof(narenas);
    int err = mallctl("opt.narenas", &narenas, &sz, NULL, 0);
    sz = sizeof(tcache);
    err |= mallctl("opt.tcache", &tcache, &sz, NULL, 0);
    const char *env = getenv("MALLOC_CONF");
    printf("secure=%lu uid=%u euid=%u env=%s err=%d narenas=%u tcache=%s\n", getauxval(AT_SECURE),
           (unsigned)getuid(), (unsigned)geteuid(), env ? env : "(unset)", err, narenas,
           tcache ? "true" : "false");
    return err != 0;
}
