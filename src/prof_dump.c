/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * prof_dump: heap profiles in jemalloc's heap_v2 text format, the one jeprof reads:
 *
 *   heap_v2/<sample period>
 *     t*: <live objects>: <live bytes> [<sampled allocations>: <their bytes>]
 *     t<uid>: ... [...] <thread name>              one line per thread record
 *   @ 0x<frame> 0x<frame> ...                      one record per stack, innermost frame first
 *     t*: ...
 *     t<uid>: ...
 *
 *   MAPPED_LIBRARIES:
 *   <the contents of /proc/self/maps>
 *
 * jeprof scales each record's pair by 1 / (1 - exp(-s / period)), s being the record's mean
 * object size, into estimates of the true totals; that is exact only when all of a record's
 * objects have one size. As jemalloc 5.3 does, the profiler keeps each sample's own estimate
 * (prof.h, prof_cnt_t), and a record's pair is the one that jeprof's scaling turns into the sum
 * of those (prof_unbias_out), so a stack that allocates both tiny and huge blocks is estimated
 * right. The bracketed pair is non-zero with prof_accum only. Files are named
 * <prefix>.<pid>.<seq>.<kind><kseq>.heap (kind m prof.dump, i interval, u gdump; the final dump
 * is <prefix>.<pid>.<seq>.f.heap), written under "<name>.tmp" and renamed when complete.
 *
 * No stdio and no allocation: one static buffer written with write(2), guarded, with the
 * sequence numbers, by prof_dump_lock; prof_lock is held while the counts are read. The event
 * dumps (interval and gdump) run in an allocating thread outside any other lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "allocator/internal/conf.h"
#include "allocator/internal/io.h"
#include "allocator/internal/prof.h"

#define PROF_DUMP_BUF 65536
typedef struct prof_out_s {
    int fd;
    bool err;
    size_t len;
    char buf[PROF_DUMP_BUF];
} prof_out_t;

static prof_out_t prof_out CACHE_ALIGNED; /* prof_dump_lock */
static uint64_t prof_dump_seq, prof_dump_mseq, prof_dump_iseq, prof_dump_useq;
/* prof.prefix's value once written (prof_dump_prefix_on), else opt_prof_prefix is used. */
static char prof_dump_prefix[sizeof(opt_prof_prefix)]; /* prof_dump_lock */
static bool prof_dump_prefix_on;                      /* prof_dump_lock */
static uint64_t prof_idump_accum; /* atomic: bytes toward the next interval dump */
static size_t prof_gdump_peak;    /* atomic: the mapped bytes of the last gdump */

static void out_flush(prof_out_t *o) {
    size_t off = 0;
    while (off < o->len && !o->err) {
        ssize_t w = write(o->fd, o->buf + off, o->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            o->err = true;
        else
            off += (size_t)w;
    }
    o->len = 0;
}

static void out_bytes(prof_out_t *o, const char *s, size_t n) {
    while (n > 0) {
        if (o->len == PROF_DUMP_BUF)
            out_flush(o);
        size_t k = PROF_DUMP_BUF - o->len < n ? PROF_DUMP_BUF - o->len : n;
        memcpy(o->buf + o->len, s, k);
        o->len += k;
        s += k;
        n -= k;
    }
}

static void out_fmt(prof_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_fmt(prof_out_t *o, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    size_t n = io_vformat(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    out_bytes(o, tmp, n < sizeof(tmp) ? n : sizeof(tmp) - 1);
}

static void out_cnt(prof_out_t *o, const char *who, const prof_cnt_t *c) {
    size_t lg = atomic_load_relaxed(&prof_lg_sample);
    uint64_t co, cb, ao, ab;
    prof_unbias_out(c->curobjs_shifted_unbiased, c->curbytes_unbiased, lg, &co, &cb);
    prof_unbias_out(c->accumobjs_shifted_unbiased, c->accumbytes_unbiased, lg, &ao, &ab);
    out_fmt(o, "  %s: %llu: %llu [%llu: %llu]", who, (unsigned long long)co,
            (unsigned long long)cb, (unsigned long long)ao, (unsigned long long)ab);
}

static bool cnt_shown(const prof_cnt_t *c) { return c->curobjs != 0 || c->accumobjs != 0; }

static void out_gctx(const prof_gctx_t *g, const prof_cnt_t *sum, void *arg) {
    prof_out_t *o = arg;
    void *const *frames;
    unsigned n = prof_gctx_frames(g, &frames);
    out_bytes(o, "@", 1);
    for (unsigned i = 0; i < n; i++)
        out_fmt(o, " %p", frames[i]);
    out_bytes(o, "\n", 1);
    out_cnt(o, "t*", sum);
    out_bytes(o, "\n", 1);
    for (const prof_tctx_t *t = prof_gctx_tctxs(g); t != NULL; t = t->gnext) {
        prof_cnt_t c;
        prof_tctx_cnt_locked(t, &c);
        if (!cnt_shown(&c))
            continue;
        char who[32];
        io_format(who, sizeof(who), "t%llu", (unsigned long long)t->tdata->uid);
        out_cnt(o, who, &c);
        out_bytes(o, "\n", 1);
    }
}

/* The whole profile into o (prof_dump_lock held; takes prof_lock). */
static void prof_dump_body(prof_out_t *o) {
    mutex_lock(&prof_lock);
    prof_cnt_t all;
    size_t nstacks;
    prof_cnt_all_locked(&all, &nstacks);
    out_fmt(o, "heap_v2/%llu\n", (unsigned long long)1 << atomic_load_relaxed(&prof_lg_sample));
    out_cnt(o, "t*", &all);
    out_bytes(o, "\n", 1);
    for (const prof_tdata_t *td = prof_tdatas_locked(); td != NULL; td = td->next) {
        prof_cnt_t sum;
        memset(&sum, 0, sizeof(sum));
        for (const prof_tctx_t *t = td->tctxs; t != NULL; t = t->tnext) {
            prof_cnt_t c;
            prof_tctx_cnt_locked(t, &c);
            prof_cnt_add(&sum, &c);
        }
        if (!td->attached && !cnt_shown(&sum))
            continue;
        char who[32];
        io_format(who, sizeof(who), "t%llu", (unsigned long long)td->uid);
        out_cnt(o, who, &sum);
        if (td->name[0] != '\0')
            out_fmt(o, " %s", td->name);
        out_bytes(o, "\n", 1);
    }
    prof_gctx_foreach_locked(out_gctx, o);
    mutex_unlock(&prof_lock);
    out_bytes(o, "\nMAPPED_LIBRARIES:\n", 19);
    int mfd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (mfd >= 0) {
        for (;;) {
            if (o->len == PROF_DUMP_BUF)
                out_flush(o);
            ssize_t r = read(mfd, o->buf + o->len, PROF_DUMP_BUF - o->len);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            o->len += (size_t)r;
        }
        close(mfd);
    }
    out_flush(o);
}

bool prof_dump_fd(int fd) {
    mutex_lock(&prof_dump_lock);
    prof_out.fd = fd;
    prof_out.err = false;
    prof_out.len = 0;
    prof_dump_body(&prof_out);
    bool err = prof_out.err;
    mutex_unlock(&prof_dump_lock);
    return err;
}

/* Write the profile to path (through path.tmp). prof_dump_lock held. Returns true on failure. */
static bool prof_dump_to(const char *path) {
    char tmp[PATH_MAX + 8];
    if (io_format(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return true;
    int saved = errno;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        io_warn("failed to open \"%s\" for a heap profile\n", tmp);
        errno = saved;
        return true;
    }
    prof_out.fd = fd;
    prof_out.err = false;
    prof_out.len = 0;
    prof_dump_body(&prof_out);
    bool err = prof_out.err;
    err |= close(fd) != 0;
    if (!err)
        err = rename(tmp, path) != 0;
    if (err)
        unlink(tmp);
    errno = saved;
    return err;
}

bool prof_dump(char kind, const char *filename) {
    if (!opt_prof)
        return true;
    tsd_t *tsd = tsd_get();
    bool real = tsd_is_real(tsd), was = real && tsd->prof_busy;
    if (real)
        tsd->prof_busy = true;
    mutex_lock(&prof_dump_lock);
    char path[PATH_MAX];
    bool err = false;
    if (filename == NULL) {
        const char *prefix = prof_dump_prefix_on ? prof_dump_prefix : opt_prof_prefix;
        if (prefix[0] == '\0') {
            err = true;
        } else {
            uint64_t *kseq = kind == 'm' ? &prof_dump_mseq : kind == 'i' ? &prof_dump_iseq
                                                                         : &prof_dump_useq;
            if (kind == 'f')
                io_format(path, sizeof(path), "%s.%d.%llu.f.heap", prefix, (int)getpid(),
                          (unsigned long long)prof_dump_seq);
            else
                io_format(path, sizeof(path), "%s.%d.%llu.%c%llu.heap", prefix,
                          (int)getpid(), (unsigned long long)prof_dump_seq, kind,
                          (unsigned long long)(*kseq)++);
            prof_dump_seq++;
            filename = path;
        }
    }
    if (!err)
        err = prof_dump_to(filename);
    mutex_unlock(&prof_dump_lock);
    if (real)
        tsd->prof_busy = was;
    return err;
}

bool prof_dump_prefix_set(const char *prefix) {
    size_t len = strnlen(prefix, sizeof(prof_dump_prefix));
    if (len == sizeof(prof_dump_prefix))
        return true;
    mutex_lock(&prof_dump_lock);
    memcpy(prof_dump_prefix, prefix, len + 1);
    prof_dump_prefix_on = true;
    mutex_unlock(&prof_dump_lock);
    return false;
}

void prof_event_dumps_slow(uint64_t bytes) {
    if (prof_interval != 0 && atomic_load_relaxed(&prof_active)) {
        uint64_t acc = __atomic_add_fetch(&prof_idump_accum, bytes, __ATOMIC_RELAXED);
        if (acc >= prof_interval) {
            __atomic_sub_fetch(&prof_idump_accum, prof_interval, __ATOMIC_RELAXED);
            prof_dump('i', NULL);
        }
    }
    if (atomic_load_relaxed(&prof_gdump_on) && atomic_load_relaxed(&prof_active)) {
        size_t mapped = arenas_mapped_estimate();
        size_t peak = atomic_load_relaxed(&prof_gdump_peak);
        if (mapped > peak && __atomic_compare_exchange_n(&prof_gdump_peak, &peak, mapped, false,
                                                         __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            prof_dump('u', NULL);
    }
}

void prof_atexit(void) {
    if (opt_prof_final)
        prof_dump('f', NULL);
    if (!opt_prof_leak)
        return;
    mutex_lock(&prof_lock);
    prof_cnt_t all;
    size_t nstacks;
    prof_cnt_all_locked(&all, &nstacks);
    mutex_unlock(&prof_lock);
    if (all.curbytes == 0)
        return;
    /* The same scaling jeprof applies, over the whole heap (jemalloc's summary). */
    double period = (double)((uint64_t)1 << atomic_load_relaxed(&prof_lg_sample));
    double ratio = (double)all.curbytes / (double)all.curobjs / period;
    double scale = 1.0 / (1.0 - prof_exp(-ratio));
    unsigned long long bytes = (unsigned long long)((double)all.curbytes * scale + 0.5);
    unsigned long long objs = (unsigned long long)((double)all.curobjs * scale + 0.5);
    io_printf("<allocator>: Leak approximation summary: ~%llu byte%s, ~%llu object%s, >= %zu "
              "context%s\n",
              bytes, bytes != 1 ? "s" : "", objs, objs != 1 ? "s" : "", nstacks,
              nstacks != 1 ? "s" : "");
    io_printf("<allocator>: Run jeprof on dump output for leak detail\n");
}

void prof_dump_postfork_child(void) {
    prof_dump_seq = prof_dump_mseq = prof_dump_iseq = prof_dump_useq = 0;
    atomic_store_relaxed(&prof_idump_accum, 0);
}
