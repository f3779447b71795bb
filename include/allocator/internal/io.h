/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * io: text output without stdio. The allocator may not call anything that allocates, so messages
 * and statistics are formatted here into caller-supplied buffers and written with write(2), or
 * passed to the application's malloc_message callback.
 */
#ifndef ALLOCATOR_INTERNAL_IO_H
#define ALLOCATOR_INTERNAL_IO_H

#include <stdarg.h>

#include "allocator/internal/util.h"

/* The application's message hook (NULL: standard error); exported as part of the API. */
extern void (*malloc_message)(void *cbopaque, const char *s);

/* Signature of malloc_message and of malloc_stats_print's write callback. */
typedef void io_write_cb_t(void *opaque, const char *s);

/*
 * A subset of printf: flags '-' and '0', a width, length modifiers l, ll, z; conversions
 * d i u x s c p %. Always NUL-terminates (when n > 0); returns the length it wanted to write.
 */
size_t io_vformat(char *buf, size_t n, const char *fmt, va_list ap);
size_t io_format(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Write a string to malloc_message if the application set one, else to standard error. */
void io_write(const char *s);
/* Format and io_write() (truncates past 1 KiB). */
void io_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "<allocator>: " + message; aborts too when io_abort_on_warning (opt abort:true) is set. */
extern bool io_abort_on_warning;
void io_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "<allocator>: " + message, then abort(). */
void io_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2))) NORETURN COLD;

/* A buffered writer that flushes through a callback (used by the statistics printer). */
typedef struct io_buf_s {
    io_write_cb_t *cb;
    void *opaque;
    size_t len;
    char data[4096];
} io_buf_t;

void io_buf_init(io_buf_t *b, io_write_cb_t *cb, void *opaque);
void io_buf_printf(io_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void io_buf_flush(io_buf_t *b);

/* Default write callback: the whole string to fd 2 with write(2), retrying on EINTR. */
void io_write_stderr(void *opaque, const char *s);

#endif
