/*
 * unit.h: a tiny harness for unit tests of internals. Each check prints file:line and the
 * values on failure; main() returns unit_finish(), which is 1 if any check failed.
 */
#ifndef TEST_UNIT_H
#define TEST_UNIT_H

#include <stdio.h>
#include <stdlib.h>

static int unit_failures;
static int unit_checks;

#define check(cond)                                                                                \
    do {                                                                                           \
        unit_checks++;                                                                             \
        if (!(cond)) {                                                                             \
            unit_failures++;                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);              \
        }                                                                                          \
    } while (0)

#define check_eq(a, b)                                                                             \
    do {                                                                                           \
        unsigned long long va_ = (unsigned long long)(a), vb_ = (unsigned long long)(b);           \
        unit_checks++;                                                                             \
        if (va_ != vb_) {                                                                          \
            unit_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s == %s failed: %llu != %llu\n", __FILE__, __LINE__, #a, #b,  \
                    va_, vb_);                                                                     \
        }                                                                                          \
    } while (0)

static inline int unit_finish(const char *name) {
    fprintf(stderr, "%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
    return unit_failures != 0;
}

#endif
