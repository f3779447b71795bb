/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * early_calls.h: counts calls, made before the program's first constructor, to functions that
 * must not run that early in a static program: clock and time functions (the VDSO is not set up
 * yet), ctype (the locale is not initialised), sysconf and CPU counts, and stdio.
 *
 * liballocator initialises on the first malloc, which glibc's static startup makes from
 * _dl_non_dynamic_init, before constructors run. Its init must not call any of these. Linked
 * with --wrap=NAME for each NAME below (static_startup.ldflags), every reference to NAME from any
 * input object, liballocator.a and libc.a included, is bound to __wrap_NAME here, which counts
 * the call while early_calls_open is set and forwards to the real function. A call inside one
 * object of libc.a, or through glibc's internal aliases (__sysconf, __clock_gettime), does not
 * pass through a wrapper: those are glibc's own business; every call through the public name is
 * seen. ctype's macros call __ctype_b_loc, __ctype_tolower_loc and __ctype_toupper_loc, so
 * those are wrapped as well as the function forms.
 *
 * Include this in one test program only. The program calls early_calls_close() from its first
 * constructor, then early_calls_report() to print (and count as failures) the early calls.
 * The wrappers use no stdio, no locks and no allocation. Names only glibc has (the _chk and
 * __isoc99_ variants) are wrapped only when building against glibc; their --wrap flags are on
 * lines marked "glibc only" in the .ldflags sidecars, which test/programs/musl_static.sh drops.
 */
#ifndef EARLY_CALLS_H
#define EARLY_CALLS_H

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/sysinfo.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Set until the first constructor runs (static storage, so true from the very first call). */
static volatile int early_calls_open = 1;

/* X(name): every wrapped function, in the order reports list them. */
// clang-format off
#define EARLY_CALLS_COMMON(X)                                                                      \
    X(clock_gettime) X(gettimeofday) X(time) X(clock) X(timespec_get)                            \
    X(__ctype_b_loc) X(__ctype_tolower_loc) X(__ctype_toupper_loc)                               \
    X(isalnum) X(isalpha) X(isblank) X(iscntrl) X(isdigit) X(isgraph) X(islower) X(isprint)      \
    X(ispunct) X(isspace) X(isupper) X(isxdigit) X(tolower) X(toupper)                           \
    X(sysconf) X(get_nprocs) X(get_nprocs_conf)                                                  \
    X(fopen) X(fdopen) X(fclose) X(fflush) X(setvbuf) X(fread) X(fgets) X(fwrite) X(fputs)       \
    X(puts) X(fputc) X(putc) X(putchar) X(perror) X(printf) X(fprintf) X(dprintf) X(sprintf)     \
    X(snprintf) X(vprintf) X(vfprintf) X(vdprintf) X(vsprintf) X(vsnprintf) X(sscanf)            \
    X(vsscanf) X(fscanf) X(vfscanf)
#ifdef __GLIBC__
#define EARLY_CALLS_GLIBC(X)                                                                       \
    X(fopen64) X(__isoc99_sscanf) X(__isoc99_vsscanf) X(__isoc99_fscanf) X(__isoc99_vfscanf)      \
    X(__printf_chk) X(__fprintf_chk) X(__vfprintf_chk) X(__sprintf_chk) X(__snprintf_chk)         \
    X(__vsnprintf_chk)
#else
#define EARLY_CALLS_GLIBC(X)
#endif
#define EARLY_CALLS_ALL(X) EARLY_CALLS_COMMON(X) EARLY_CALLS_GLIBC(X)
// clang-format on

#define EARLY_CALLS_ENUM(name) EARLY_##name,
enum { EARLY_CALLS_ALL(EARLY_CALLS_ENUM) EARLY_CALLS_N };
#define EARLY_CALLS_NAME(name) #name,
static const char *const early_calls_names[EARLY_CALLS_N] = {EARLY_CALLS_ALL(EARLY_CALLS_NAME)};
static unsigned long early_calls_count[EARLY_CALLS_N];

#define EARLY_NOTE(name)                                                                           \
    do {                                                                                           \
        if (early_calls_open) {                                                                    \
            __atomic_add_fetch(&early_calls_count[EARLY_##name], 1, __ATOMIC_RELAXED);             \
        }                                                                                          \
    } while (0)

/* A fixed-signature wrapper: declares __real_NAME and defines __wrap_NAME. */
#define EARLY_WRAP(ret, name, params, args)                                                        \
    ret __real_##name params;                                                                      \
    ret __wrap_##name params;                                                                      \
    ret __wrap_##name params {                                                                     \
        EARLY_NOTE(name);                                                                          \
        return __real_##name args;                                                                 \
    }

/* A variadic wrapper, ret name(fixed..., fmt, ...), forwarding to a v-function, vfn. */
#define EARLY_WRAP_VA(ret, name, vfn, params, args)                                                \
    ret __wrap_##name params;                                                                      \
    ret __wrap_##name params {                                                                     \
        EARLY_NOTE(name);                                                                          \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        ret r = vfn args;                                                                          \
        va_end(ap);                                                                                \
        return r;                                                                                  \
    }

EARLY_WRAP(int, clock_gettime, (clockid_t c, struct timespec *ts), (c, ts))
EARLY_WRAP(int, gettimeofday, (struct timeval * tv, void *tz), (tv, tz))
EARLY_WRAP(time_t, time, (time_t * t), (t))
EARLY_WRAP(clock_t, clock, (void), ())
EARLY_WRAP(int, timespec_get, (struct timespec * ts, int base), (ts, base))

#ifdef __GLIBC__
EARLY_WRAP(const unsigned short **, __ctype_b_loc, (void), ())
EARLY_WRAP(const int32_t **, __ctype_tolower_loc, (void), ())
EARLY_WRAP(const int32_t **, __ctype_toupper_loc, (void), ())
#else
/* musl keeps these for glibc-built objects; its own headers do not use them. */
EARLY_WRAP(const unsigned short **, __ctype_b_loc, (void), ())
EARLY_WRAP(const int **, __ctype_tolower_loc, (void), ())
EARLY_WRAP(const int **, __ctype_toupper_loc, (void), ())
#endif
EARLY_WRAP(int, isalnum, (int c), (c))
EARLY_WRAP(int, isalpha, (int c), (c))
EARLY_WRAP(int, isblank, (int c), (c))
EARLY_WRAP(int, iscntrl, (int c), (c))
EARLY_WRAP(int, isdigit, (int c), (c))
EARLY_WRAP(int, isgraph, (int c), (c))
EARLY_WRAP(int, islower, (int c), (c))
EARLY_WRAP(int, isprint, (int c), (c))
EARLY_WRAP(int, ispunct, (int c), (c))
EARLY_WRAP(int, isspace, (int c), (c))
EARLY_WRAP(int, isupper, (int c), (c))
EARLY_WRAP(int, isxdigit, (int c), (c))
EARLY_WRAP(int, tolower, (int c), (c))
EARLY_WRAP(int, toupper, (int c), (c))

EARLY_WRAP(long, sysconf, (int name), (name))
EARLY_WRAP(int, get_nprocs, (void), ())
EARLY_WRAP(int, get_nprocs_conf, (void), ())

EARLY_WRAP(FILE *, fopen, (const char *path, const char *mode), (path, mode))
EARLY_WRAP(FILE *, fdopen, (int fd, const char *mode), (fd, mode))
EARLY_WRAP(int, fclose, (FILE * f), (f))
EARLY_WRAP(int, fflush, (FILE * f), (f))
EARLY_WRAP(int, setvbuf, (FILE * f, char *buf, int mode, size_t size), (f, buf, mode, size))
EARLY_WRAP(size_t, fread, (void *p, size_t size, size_t n, FILE *f), (p, size, n, f))
EARLY_WRAP(char *, fgets, (char *s, int n, FILE *f), (s, n, f))
EARLY_WRAP(size_t, fwrite, (const void *p, size_t size, size_t n, FILE *f), (p, size, n, f))
EARLY_WRAP(int, fputs, (const char *s, FILE *f), (s, f))
EARLY_WRAP(int, puts, (const char *s), (s))
EARLY_WRAP(int, fputc, (int c, FILE *f), (c, f))
EARLY_WRAP(int, putc, (int c, FILE *f), (c, f))
EARLY_WRAP(int, putchar, (int c), (c))
EARLY_WRAP(void, perror, (const char *s), (s))
EARLY_WRAP(int, vprintf, (const char *fmt, va_list ap), (fmt, ap))
EARLY_WRAP(int, vfprintf, (FILE * f, const char *fmt, va_list ap), (f, fmt, ap))
EARLY_WRAP(int, vdprintf, (int fd, const char *fmt, va_list ap), (fd, fmt, ap))
EARLY_WRAP(int, vsprintf, (char *s, const char *fmt, va_list ap), (s, fmt, ap))
EARLY_WRAP(int, vsnprintf, (char *s, size_t n, const char *fmt, va_list ap), (s, n, fmt, ap))
EARLY_WRAP(int, vsscanf, (const char *s, const char *fmt, va_list ap), (s, fmt, ap))
EARLY_WRAP(int, vfscanf, (FILE * f, const char *fmt, va_list ap), (f, fmt, ap))
EARLY_WRAP_VA(int, printf, __real_vprintf, (const char *fmt, ...), (fmt, ap))
EARLY_WRAP_VA(int, fprintf, __real_vfprintf, (FILE * f, const char *fmt, ...), (f, fmt, ap))
EARLY_WRAP_VA(int, dprintf, __real_vdprintf, (int fd, const char *fmt, ...), (fd, fmt, ap))
EARLY_WRAP_VA(int, sprintf, __real_vsprintf, (char *s, const char *fmt, ...), (s, fmt, ap))
EARLY_WRAP_VA(int, snprintf, __real_vsnprintf, (char *s, size_t n, const char *fmt, ...),
              (s, n, fmt, ap))
EARLY_WRAP_VA(int, sscanf, __real_vsscanf, (const char *s, const char *fmt, ...), (s, fmt, ap))
EARLY_WRAP_VA(int, fscanf, __real_vfscanf, (FILE * f, const char *fmt, ...), (f, fmt, ap))

#ifdef __GLIBC__
/* What glibc's headers redirect to: C99 scanf, _FORTIFY_SOURCE, 64-bit fopen. */
EARLY_WRAP(FILE *, fopen64, (const char *path, const char *mode), (path, mode))
EARLY_WRAP(int, __isoc99_vsscanf, (const char *s, const char *fmt, va_list ap), (s, fmt, ap))
EARLY_WRAP(int, __isoc99_vfscanf, (FILE * f, const char *fmt, va_list ap), (f, fmt, ap))
EARLY_WRAP(int, __vfprintf_chk, (FILE * f, int flag, const char *fmt, va_list ap),
           (f, flag, fmt, ap))
EARLY_WRAP(int, __vsnprintf_chk,
           (char *s, size_t n, int flag, size_t slen, const char *fmt, va_list ap),
           (s, n, flag, slen, fmt, ap))
/* Not wrapped themselves (nothing calls them but the wrappers below). */
int __vprintf_chk(int flag, const char *fmt, va_list ap);
int __vsprintf_chk(char *s, int flag, size_t slen, const char *fmt, va_list ap);
EARLY_WRAP_VA(int, __isoc99_sscanf, __real___isoc99_vsscanf, (const char *s, const char *fmt, ...),
              (s, fmt, ap))
EARLY_WRAP_VA(int, __isoc99_fscanf, __real___isoc99_vfscanf, (FILE * f, const char *fmt, ...),
              (f, fmt, ap))
EARLY_WRAP_VA(int, __printf_chk, __vprintf_chk, (int flag, const char *fmt, ...), (flag, fmt, ap))
EARLY_WRAP_VA(int, __fprintf_chk, __real___vfprintf_chk, (FILE * f, int flag, const char *fmt, ...),
              (f, flag, fmt, ap))
EARLY_WRAP_VA(int, __sprintf_chk, __vsprintf_chk,
              (char *s, int flag, size_t slen, const char *fmt, ...), (s, flag, slen, fmt, ap))
EARLY_WRAP_VA(int, __snprintf_chk, __real___vsnprintf_chk,
              (char *s, size_t n, int flag, size_t slen, const char *fmt, ...),
              (s, n, flag, slen, fmt, ap))
#endif

/* From the first constructor: later calls are not counted. */
static inline void early_calls_close(void) { early_calls_open = 0; }

/* Prints every function called before constructors; returns how many distinct ones were. */
static inline int early_calls_report(void) {
    int bad = 0;
    for (int i = 0; i < EARLY_CALLS_N; i++) {
        if (early_calls_count[i] != 0) {
            fprintf(stderr, "  called before constructors: %s (%lu times)\n", early_calls_names[i],
                    early_calls_count[i]);
            bad++;
        }
    }
    return bad;
}

#endif /* EARLY_CALLS_H */
