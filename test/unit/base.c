/* SPDX-License-Identifier: BSD-2-Clause */
/* The metadata allocator: aligned, zeroed, distinct, and accounted. */
#include <string.h>

#include "allocator/internal/base.h"
#include "allocator/internal/pages.h"
#include "unit.h"

int main(void) {
    pages_boot();
    size_t before = base_allocated_bytes();
    char *prev = NULL;
    for (int i = 0; i < 10000; i++) {
        size_t size = 1 + (size_t)(i * 37) % 1000;
        size_t align = (size_t)1 << (i % 7);
        char *p = base_alloc(size, align);
        check(p != NULL);
        check_eq((uintptr_t)p % align, 0);
        bool zero = true;
        for (size_t j = 0; j < size; j++)
            zero &= p[j] == 0;
        check(zero);
        memset(p, 0xff, size);
        check(p != prev);
        prev = p;
    }
    check(base_allocated_bytes() > before);
    check(base_mapped_bytes() >= base_allocated_bytes());
    /* A request larger than a block gets its own block. */
    char *big = base_alloc((size_t)1 << 20, 64);
    check(big != NULL && big[(1 << 20) - 1] == 0);
    return unit_finish("base");
}
