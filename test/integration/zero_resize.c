/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * zero:true and resizing in place (found by the fuzzer, test/fuzz): every byte an allocation
 * adds must read zero, the bytes a realloc, rallocx or xallocx adds to a large block in place
 * included (jemalloc's opt.zero: each byte is zeroed once, when first allocated). Growth in
 * place once zeroed only when MALLOCX_ZERO asked for it, so with zero:true a plain realloc
 * could hand back another block's old bytes.
 *
 * Each round frees a large block full of 0xee (dirty pages, no decay: see the .conf sidecar),
 * allocates a smaller one where it was, and grows that; the growth must be zero, whichever way
 * the block grew (in place or moved).
 */
#include "../test.h"

#include <malloc.h>

enum { WAY_REALLOC, WAY_RALLOCX, WAY_XALLOCX, NWAYS };
static const char *const way_names[NWAYS] = {"realloc", "rallocx", "xallocx"};

int main(void) {
    if (!test_allocator_active())
        return test_done();
    size_t page = test_page_size();
    int checked = 0;
    for (int way = 0; way < NWAYS; way++) {
        for (size_t small = 16 * page; small <= 64 * page; small += 16 * page) {
            size_t big = 4 * small;
            void *old = malloc(test_hide(big));
            require_ptr_not_null(old);
            memset(old, 0xee, big);
            free(test_launder(old));
            unsigned char *p = malloc(test_hide(small));
            require_ptr_not_null(p);
            expect_all_bytes(p, malloc_usable_size(p), 0);
            memset(p, 0x11, small);
            size_t grown;
            if (way == WAY_REALLOC) {
                p = realloc(p, test_hide(big));
                grown = malloc_usable_size(p);
            } else if (way == WAY_RALLOCX) {
                p = rallocx(p, test_hide(big), 0);
                grown = malloc_usable_size(p);
            } else {
                grown = xallocx(p, test_hide(big), 0, 0);
            }
            require_ptr_not_null(p);
            if (grown <= small)
                continue; /* xallocx could not grow in place: nothing to see */
            checked++;
            expect_all_bytes(p, small, 0x11);
            if (!expect_all_bytes(p + small, grown - small, 0))
                test_fail("%s of a %zu-byte block to %zu with zero:true", way_names[way], small,
                          grown);
            free(p);
        }
    }
    expect_d_gt(checked, 0);
    return test_done();
}
