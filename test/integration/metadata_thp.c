/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * metadata_thp:always (this test's MALLOC_CONF): the metadata allocator maps whole chunks and
 * asks for huge pages on them, and stats.metadata_thp counts those chunks after an epoch: at
 * least one, and never more than the chunks metadata has mapped (stats.metadata's bytes
 * rounded up to chunks, plus one being filled). opt.metadata_thp reads the setting back.
 */
#include "../test.h"

int main(void) {
    if (!test_allocator_active())
        return test_done();
    const char *mode = NULL;
    size_t len = sizeof(mode);
    expect_d_eq(mallctl("opt.metadata_thp", &mode, &len, NULL, 0), 0);
    require_true(mode != NULL);
    size_t nthp = test_stat_size("stats.metadata_thp");
    size_t chunk = (size_t)2 << 20;
    size_t metadata = test_ctl_size("stats.metadata");
    if (strcmp(mode, "always") == 0) {
        expect_zu_ge(nthp, 1);
        expect_zu_le(nthp, (metadata + chunk - 1) / chunk + 1);
    } else if (strcmp(mode, "disabled") == 0) {
        expect_zu_eq(nthp, 0);
    }
    return test_done();
}
