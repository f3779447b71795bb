/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * One shared object of dlopen_tls.sh: TLS_BYTES bytes of initial-exec thread-local storage (the
 * linker marks the object STATIC_TLS), so dlopen() must place it in glibc's static TLS surplus.
 */
#ifndef TLS_BYTES
#error "build with -DTLS_BYTES=N"
#endif

__thread __attribute__((tls_model("initial-exec"), aligned(8))) char tls_block[TLS_BYTES];

char *tls_block_touch(void) {
    tls_block[0]++;
    tls_block[TLS_BYTES - 1]++;
    return tls_block;
}
