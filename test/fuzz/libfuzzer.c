/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The fuzzer as a libFuzzer target, for coverage-guided runs by hand (`make fuzz-libfuzzer`,
 * README.md): each input is a byte string the same decoder as the driver's (ops.c) turns into
 * operations, run single-threaded against the shadow model; what is left is freed at the end of
 * the input. A failed check prints its report and aborts, and libFuzzer keeps the input
 * (crash-*) to rerun with `tbin/libfuzzer/fuzz crash-...`.
 */
#include "fuzz.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static fuzz_thread_t state;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static bool ready;
    if (!ready) {
        fuzz_conf.abort_on_fail = true;
        fuzz_conf.foreign_blocks = true;
        fuzz_setup();
        model_init(FUZZ_SLOTS + FUZZ_QUEUE + 16);
        ready = true;
    }
    fuzz_thread_init(&state, 0);
    fuzz_thread_register(&state);
    src_init_bytes(&state.src, data, size);
    fuzz_op_t op;
    /* At most one operation per 4 input bytes, so that short inputs run fast. */
    for (size_t i = 0; i < size / 4 + 1; i++) {
        op_decode(&state.src, &op);
        if (state.src.done)
            break;
        fuzz_step(&state, &op);
    }
    fuzz_thread_finish(&state);
    fuzz_queue_drain(&state);
    return 0;
}
