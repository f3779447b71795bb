/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Aligned requests of size 0 (found by the fuzzer, test/fuzz): posix_memalign, aligned_alloc
 * and memalign with size 0 and an alignment from 32 to a page once returned a block of the
 * 16-byte class, whose regions are only 16-byte aligned, so half of them were misaligned. Each
 * alignment is asked for many times at once, so that consecutive regions of any class the
 * allocator picks are seen; every block must be aligned, non-NULL, distinct and usable.
 */
#include "../test.h"

#include <malloc.h>

#define NBLOCKS 64

int main(void) {
    test_allocator_active();
    size_t page = test_page_size();
    for (size_t align = 32; align <= 4 * page; align *= 2) {
        for (int fn = 0; fn < 3; fn++) {
            void *blocks[NBLOCKS];
            for (int i = 0; i < NBLOCKS; i++) {
                void *p = NULL;
                if (fn == 0)
                    expect_d_eq(posix_memalign(&p, align, test_hide(0)), 0);
                else if (fn == 1)
                    p = aligned_alloc(align, test_hide(0));
                else
                    p = memalign(align, test_hide(0));
                p = test_launder(p);
                require_ptr_not_null(p);
                if (!expect_ptr_aligned(p, align))
                    test_fail("function %d (0 posix_memalign, 1 aligned_alloc, 2 memalign), "
                              "alignment %zu, size 0, block %d", fn, align, i);
                /* Every usable byte belongs to this block alone. */
                memset(p, i, malloc_usable_size(p));
                blocks[i] = p;
            }
            for (int i = 0; i < NBLOCKS; i++) {
                expect_all_bytes(blocks[i], malloc_usable_size(blocks[i]), (unsigned char)i);
                free(blocks[i]);
            }
        }
    }
    return test_done();
}
