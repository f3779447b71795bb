/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * io: formatting and writing of messages without stdio. Called from every layer, including
 * under allocator locks and during glibc's static startup, so nothing here allocates, locks, or
 * touches errno visibly (write(2) may set it; callers that care save it). No state but the
 * application's malloc_message pointer.
 */
#include "allocator/internal/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

EXPORT void (*malloc_message)(void *cbopaque, const char *s);

void io_write_stderr(void *opaque, const char *s) {
    (void)opaque;
    int saved = errno;
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, s, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        s += w;
        len -= (size_t)w;
    }
    errno = saved;
}

void io_write(const char *s) {
    io_write_cb_t *cb = malloc_message;
    if (cb != NULL)
        cb(NULL, s);
    else
        io_write_stderr(NULL, s);
}

typedef struct {
    char *buf;
    size_t n;
    size_t pos;
} sink_t;

static void sink_putc(sink_t *s, char c) {
    if (s->pos + 1 < s->n)
        s->buf[s->pos] = c;
    s->pos++;
}

static void sink_pad(sink_t *s, char c, int count) {
    for (; count > 0; count--)
        sink_putc(s, c);
}

/* Emit digits of v in base (10 or 16) with width/padding rules. */
static void sink_uint(sink_t *s, unsigned long long v, unsigned base, bool neg, int width,
                      bool left, bool zero) {
    char tmp[24];
    int len = 0;
    do {
        unsigned d = (unsigned)(v % base);
        tmp[len++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v != 0);
    int total = len + (neg ? 1 : 0);
    if (!left && !zero)
        sink_pad(s, ' ', width - total);
    if (neg)
        sink_putc(s, '-');
    if (!left && zero)
        sink_pad(s, '0', width - total);
    while (len > 0)
        sink_putc(s, tmp[--len]);
    if (left)
        sink_pad(s, ' ', width - total);
}

size_t io_vformat(char *buf, size_t n, const char *fmt, va_list ap) {
    sink_t s = {buf, n, 0};
    for (const char *f = fmt; *f != '\0'; f++) {
        if (*f != '%') {
            sink_putc(&s, *f);
            continue;
        }
        f++;
        bool left = false, zero = false;
        for (;; f++) {
            if (*f == '-')
                left = true;
            else if (*f == '0')
                zero = true;
            else
                break;
        }
        int width = 0;
        while (*f >= '0' && *f <= '9')
            width = width * 10 + (*f++ - '0');
        int lng = 0; /* 0 int, 1 long, 2 long long, 3 size_t */
        if (*f == 'l') {
            lng = 1;
            f++;
            if (*f == 'l') {
                lng = 2;
                f++;
            }
        } else if (*f == 'z') {
            lng = 3;
            f++;
        }
        switch (*f) {
        case 'd':
        case 'i': {
            long long v = lng == 0   ? va_arg(ap, int)
                          : lng == 1 ? va_arg(ap, long)
                          : lng == 2 ? va_arg(ap, long long)
                                     : (long long)va_arg(ap, ptrdiff_t);
            unsigned long long mag = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
            sink_uint(&s, mag, 10, v < 0, width, left, zero);
            break;
        }
        case 'u':
        case 'x': {
            unsigned long long v = lng == 0   ? va_arg(ap, unsigned)
                                   : lng == 1 ? va_arg(ap, unsigned long)
                                   : lng == 2 ? va_arg(ap, unsigned long long)
                                              : va_arg(ap, size_t);
            sink_uint(&s, v, *f == 'x' ? 16 : 10, false, width, left, zero);
            break;
        }
        case 'p': {
            uintptr_t v = (uintptr_t)va_arg(ap, void *);
            sink_putc(&s, '0');
            sink_putc(&s, 'x');
            sink_uint(&s, v, 16, false, width > 2 ? width - 2 : 0, left, zero);
            break;
        }
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (str == NULL)
                str = "(null)";
            int len = (int)strlen(str);
            if (!left)
                sink_pad(&s, ' ', width - len);
            for (int i = 0; i < len; i++)
                sink_putc(&s, str[i]);
            if (left)
                sink_pad(&s, ' ', width - len);
            break;
        }
        case 'c':
            sink_putc(&s, (char)va_arg(ap, int));
            break;
        case '%':
            sink_putc(&s, '%');
            break;
        case '\0':
            f--;
            break;
        default:
            sink_putc(&s, '%');
            sink_putc(&s, *f);
            break;
        }
    }
    if (n > 0)
        buf[s.pos < n ? s.pos : n - 1] = '\0';
    return s.pos;
}

size_t io_format(char *buf, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t r = io_vformat(buf, n, fmt, ap);
    va_end(ap);
    return r;
}

void io_printf(const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    io_vformat(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    io_write(buf);
}

/* "<allocator>: " + the formatted message, written out. */
static void io_vmessage(const char *fmt, va_list ap) {
    char buf[1024];
    size_t pre = io_format(buf, sizeof(buf), "<allocator>: ");
    io_vformat(buf + pre, sizeof(buf) - pre, fmt, ap);
    io_write(buf);
}

void io_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    io_vmessage(fmt, ap);
    va_end(ap);
    abort();
}

bool io_abort_on_warning;

void io_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    io_vmessage(fmt, ap);
    va_end(ap);
    if (io_abort_on_warning)
        abort();
}

void util_assert_fail(const char *file, int line, const char *expr) {
    io_fatal("%s:%d: failed assertion: \"%s\"\n", file, line, expr);
}

void io_buf_init(io_buf_t *b, io_write_cb_t *cb, void *opaque) {
    b->cb = cb != NULL ? cb : (malloc_message != NULL ? malloc_message : io_write_stderr);
    b->opaque = opaque;
    b->len = 0;
    b->data[0] = '\0';
}

void io_buf_flush(io_buf_t *b) {
    if (b->len == 0)
        return;
    b->data[b->len] = '\0';
    b->cb(b->opaque, b->data);
    b->len = 0;
}

void io_buf_printf(io_buf_t *b, const char *fmt, ...) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    size_t len = io_vformat(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (len >= sizeof(line))
        len = sizeof(line) - 1;
    if (b->len + len + 1 > sizeof(b->data))
        io_buf_flush(b);
    memcpy(b->data + b->len, line, len);
    b->len += len;
    b->data[b->len] = '\0';
}
