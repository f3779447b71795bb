/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Records of sampled blocks that arena.<i>.reset freed must be released by the reset, and must
 * not disturb the blocks made after it in the same metadata. With every allocation sampled and
 * room for 60 records: 50 blocks in a created arena, reset, 50 more there (reusing the extents'
 * metadata), freed with dallocx. Making the last ones evicts 40 of the first 50 records; the
 * dump then holds the 10 newest of those, released by the reset, and the 50 later ones, each
 * released. (Before eviction checked the link, it cut the links of the later blocks, whose
 * records then stayed unreleased.)
 */
#include "../test.h"

#include <allocator.h>

static char out[1 << 20];
static size_t outlen;

static void out_write(void *opaque, const char *s) {
    (void)opaque;
    size_t n = strlen(s);
    if (outlen + n < sizeof(out)) {
        memcpy(out + outlen, s, n + 1);
        outlen += n;
    }
}

int main(void) {
    unsigned ind = 0;
    size_t len = sizeof(ind);
    require_true(mallctl("arenas.create", &ind, &len, NULL, 0) == 0);
    int flags = MALLOCX_ARENA(ind) | MALLOCX_TCACHE_NONE;
    void *p[50];
    for (int i = 0; i < 50; i++)
        require_ptr_not_null(p[i] = mallocx(1000, flags));
    char name[64];
    snprintf(name, sizeof(name), "arena.%u.reset", ind);
    expect_d_eq(mallctl(name, NULL, NULL, NULL, 0), 0);
    for (int i = 0; i < 50; i++)
        require_ptr_not_null(p[i] = mallocx(2000, flags));
    for (int i = 0; i < 50; i++)
        dallocx(p[i], flags);

    struct {
        void (*write_cb)(void *, const char *);
        void *cbopaque;
    } args = {out_write, NULL};
    expect_d_eq(mallctl("experimental.prof_recent.alloc_dump", NULL, NULL, &args, sizeof(args)), 0);
    unsigned before = 0, after = 0, after_released = 0;
    for (const char *q = strstr(out, "{\"size\":"); q != NULL; q = strstr(q + 1, "{\"size\":")) {
        bool released = strncmp(strstr(q, "\"released\":"), "\"released\":true", 15) == 0;
        if (strncmp(q, "{\"size\":1000,", 13) == 0) {
            before++;
            expect_true(released);
        } else if (strncmp(q, "{\"size\":2000,", 13) == 0) {
            after++;
            after_released += released;
        }
    }
    expect_zu_eq(before, 10);
    expect_zu_eq(after, 50);
    expect_zu_eq(after_released, 50);
    return test_done();
}
