/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * rseq_off.sh's probe: prints glibc's __rseq_size, the size of the restartable-sequences area
 * glibc registered with the kernel for this thread (0: none, as with glibc.pthread.rseq=0), after
 * an allocation from a second thread. glibc before 2.35 has no such symbol: it prints "absent".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

extern const unsigned int __rseq_size __attribute__((weak));

static void *thread_main(void *arg) {
    free(malloc(100));
    return arg;
}

int main(void) {
    pthread_t t;
    if (pthread_create(&t, NULL, thread_main, NULL) != 0 || pthread_join(t, NULL) != 0) {
        return 1;
    }
    if (&__rseq_size == NULL) {
        printf("absent\n");
    } else {
        printf("%u\n", __rseq_size);
    }
    return 0;
}
