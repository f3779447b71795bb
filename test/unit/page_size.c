/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * pages_boot: the page size is the kernel's (pages_kernel_page agrees with sysconf and the auxiliary
 * vector); the test-only ALLOCATOR_TEST_LG_PAGE is honoured in debug builds that read the page
 * at boot, within the kernel's page and LG_PAGE_MAX, and ignored otherwise; a page set larger
 * than the kernel's still maps page-aligned memory.
 */
#include "allocator/internal/pages.h"

#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "unit.h"

static unsigned lg_kernel;

/*
 * pages_boot with the variable set to v (NULL: unset); returns the LG_PAGE it chose. This
 * program's own malloc is the library's, booted at the page it started with: the page is put
 * back before anything else runs (setenv and a failed check's message allocate).
 */
static unsigned boot_with(const char *v) {
    if (v != NULL)
        setenv(PAGES_TEST_LG_PAGE_ENV, v, 1);
    else
        unsetenv(PAGES_TEST_LG_PAGE_ENV);
    unsigned saved = pages_lg_page;
    pages_lg_page = LG_PAGE_MIN;
    bool refused = pages_boot();
    unsigned got = LG_PAGE;
    pages_lg_page = saved;
    check(!refused);
    check_eq(pages_os_page, (size_t)1 << lg_kernel);
    return got;
}

int main(void) {
    free(malloc(1)); /* the library boots now, at the page this run was started with */
    size_t kernel = (size_t)sysconf(_SC_PAGESIZE);
    check_eq(pages_kernel_page(), kernel);
    check_eq(pages_kernel_page(), (size_t)getauxval(AT_PAGESZ));
    lg_kernel = lg_floor(kernel);

    unsigned fixed = config_lg_page;
    unsigned natural = fixed != 0 ? fixed : lg_kernel;
    check_eq(boot_with(NULL), natural);
    /* Honoured only in debug builds that read the page at boot. */
    bool honoured = config_debug && fixed == 0;
    for (unsigned lg = lg_kernel; lg <= 16; lg++) {
        char v[16];
        snprintf(v, sizeof(v), "%u", lg);
        check_eq(boot_with(v), honoured ? lg : natural);
    }
    /* Refused: below the kernel's page, above 64 KiB, not a number. */
    const char *bad[] = {"11", "17", "", "16x", "x", "-16", "1000000000000000000016"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        check_eq(boot_with(bad[i]), natural);
    if (lg_kernel > 12) {
        char v[16];
        snprintf(v, sizeof(v), "%u", lg_kernel - 1);
        check_eq(boot_with(v), natural);
    }

    /* A page larger than the kernel's: mappings are aligned to it. */
    if (honoured && lg_kernel < 16) {
        unsigned saved = pages_lg_page;
        bool aligned = true;
        pages_lg_page = 16;
        for (int i = 0; i < 8; i++) {
            void *p = pages_map(3 * PAGE, PAGE);
            aligned = aligned && p != NULL && ((uintptr_t)p & (PAGE - 1)) == 0;
            if (p != NULL)
                pages_unmap(p, 3 * PAGE);
        }
        pages_lg_page = saved;
        check(aligned);
    }
    unsetenv(PAGES_TEST_LG_PAGE_ENV);
    return unit_finish("page_size");
}
