/*
 * conf: the options table, the string tokenizer and the source readers. conf_boot() runs once,
 * from init, before any arena exists; the opt_* values are read-only after that. Nothing here
 * allocates, locks, or calls ctype or stdio.
 */
#include "allocator/internal/conf.h"

#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "allocator/internal/io.h"

bool opt_abort = false;
bool opt_abort_conf = false;
bool opt_confirm_conf = false;
unsigned opt_narenas = 0;
bool opt_tcache = true;
size_t opt_tcache_max = (size_t)32 << 10;
ssize_t opt_dirty_decay_ms = 10000;
bool opt_junk_alloc = false;
bool opt_junk_free = false;
bool opt_zero = false;
bool opt_xmalloc = false;
bool opt_stats_print = false;
char opt_stats_print_opts[64];

const char *const conf_src_names[CONF_NSRC] = {"default", "--with-malloc-conf", "malloc_conf",
                                               "/etc/malloc.conf", "MALLOC_CONF"};

/* The program may define malloc_conf; ours is a weak default so a static link accepts both. */
EXPORT __attribute__((weak)) const char *malloc_conf = NULL;

typedef enum { OPT_BOOL, OPT_INT, OPT_SIZE, OPT_JUNK, OPT_STR } opt_type_t;

typedef struct {
    const char *name;
    opt_type_t type;
    void *var;
    long long min, max;
    conf_src_t src; /* where the effective value came from */
} opt_desc_t;

static opt_desc_t opt_table[] = {
    {"abort", OPT_BOOL, &opt_abort, 0, 1, CONF_SRC_DEFAULT},
    {"abort_conf", OPT_BOOL, &opt_abort_conf, 0, 1, CONF_SRC_DEFAULT},
    {"confirm_conf", OPT_BOOL, &opt_confirm_conf, 0, 1, CONF_SRC_DEFAULT},
    {"narenas", OPT_INT, &opt_narenas, 1, 4096 - 2, CONF_SRC_DEFAULT},
    {"tcache", OPT_BOOL, &opt_tcache, 0, 1, CONF_SRC_DEFAULT},
    {"tcache_max", OPT_SIZE, &opt_tcache_max, 0, (long long)8 << 20, CONF_SRC_DEFAULT},
    {"dirty_decay_ms", OPT_INT, &opt_dirty_decay_ms, -1, (long long)1 << 40, CONF_SRC_DEFAULT},
    {"junk", OPT_JUNK, NULL, 0, 0, CONF_SRC_DEFAULT},
    {"zero", OPT_BOOL, &opt_zero, 0, 1, CONF_SRC_DEFAULT},
    {"xmalloc", OPT_BOOL, &opt_xmalloc, 0, 1, CONF_SRC_DEFAULT},
    {"stats_print", OPT_BOOL, &opt_stats_print, 0, 1, CONF_SRC_DEFAULT},
    {"stats_print_opts", OPT_STR, opt_stats_print_opts, 0, sizeof(opt_stats_print_opts) - 1,
     CONF_SRC_DEFAULT},
};

static bool conf_is_key_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

void conf_tokenize(const char *s, conf_pair_cb_t *cb, conf_pair_cb_t *bad, void *opaque) {
    if (s == NULL)
        return;
    while (*s != '\0') {
        const char *k = s;
        while (conf_is_key_char(*s))
            s++;
        size_t klen = (size_t)(s - k);
        if (*s != ':' || klen == 0) {
            bad(k, strlen(k), "", 0, opaque);
            return;
        }
        const char *v = ++s;
        while (*s != ',' && *s != '\0')
            s++;
        cb(k, klen, v, (size_t)(s - v), opaque);
        if (*s == ',') {
            s++;
            if (*s == '\0') {
                bad(s - 1, 1, "", 0, opaque);
                return;
            }
        }
    }
}

bool conf_parse_int(const char *v, size_t vlen, long long min, long long max, long long *out) {
    size_t i = 0;
    bool neg = false;
    if (i < vlen && v[i] == '-') {
        neg = true;
        i++;
    }
    if (i == vlen)
        return false;
    unsigned base = 10;
    if (vlen - i > 2 && v[i] == '0' && (v[i + 1] == 'x' || v[i + 1] == 'X')) {
        base = 16;
        i += 2;
    }
    unsigned long long acc = 0;
    for (; i < vlen; i++) {
        char c = v[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        if (acc > (~0ULL - d) / base)
            return false;
        acc = acc * base + d;
    }
    if (acc > (unsigned long long)1 << 62)
        return false;
    long long val = neg ? -(long long)acc : (long long)acc;
    if (val < min || val > max)
        return false;
    *out = val;
    return true;
}

static bool conf_had_error;

static bool conf_eq(const char *a, size_t alen, const char *lit) {
    return alen == strlen(lit) && memcmp(a, lit, alen) == 0;
}

static void conf_report(const char *what, const char *k, size_t klen, const char *v, size_t vlen) {
    char buf[512];
    size_t n = io_format(buf, sizeof(buf), "<allocator>: %s: ", what);
    for (size_t i = 0; i < klen && n + 2 < sizeof(buf); i++)
        buf[n++] = k[i];
    if (n + 2 < sizeof(buf))
        buf[n++] = ':';
    for (size_t i = 0; i < vlen && n + 2 < sizeof(buf); i++)
        buf[n++] = v[i];
    buf[n++] = '\n';
    buf[n] = '\0';
    io_write(buf);
    conf_had_error = true;
}

bool conf_apply(const char *k, size_t klen, const char *v, size_t vlen, conf_src_t src) {
    for (size_t i = 0; i < ARRAY_SIZE(opt_table); i++) {
        opt_desc_t *o = &opt_table[i];
        if (!conf_eq(k, klen, o->name))
            continue;
        long long n;
        switch (o->type) {
        case OPT_BOOL:
            if (conf_eq(v, vlen, "true"))
                *(bool *)o->var = true;
            else if (conf_eq(v, vlen, "false"))
                *(bool *)o->var = false;
            else
                goto invalid;
            break;
        case OPT_INT:
            if (!conf_parse_int(v, vlen, o->min, o->max, &n))
                goto range;
            if (o->var == (void *)&opt_narenas)
                opt_narenas = (unsigned)n;
            else
                *(ssize_t *)o->var = (ssize_t)n;
            break;
        case OPT_SIZE:
            if (!conf_parse_int(v, vlen, o->min, o->max, &n))
                goto range;
            *(size_t *)o->var = (size_t)n;
            break;
        case OPT_JUNK:
            if (conf_eq(v, vlen, "true")) {
                opt_junk_alloc = opt_junk_free = true;
            } else if (conf_eq(v, vlen, "false")) {
                opt_junk_alloc = opt_junk_free = false;
            } else if (conf_eq(v, vlen, "alloc")) {
                opt_junk_alloc = true;
                opt_junk_free = false;
            } else if (conf_eq(v, vlen, "free")) {
                opt_junk_alloc = false;
                opt_junk_free = true;
            } else {
                goto invalid;
            }
            break;
        case OPT_STR:
            if (vlen > (size_t)o->max)
                goto range;
            memcpy(o->var, v, vlen);
            ((char *)o->var)[vlen] = '\0';
            break;
        }
        o->src = src;
        return true;
    range:
        if (o->type != OPT_STR && conf_parse_int(v, vlen, -(1LL << 62), 1LL << 62, &n)) {
            conf_report("Out-of-range conf value", k, klen, v, vlen);
            return false;
        }
    invalid:
        conf_report("Invalid conf pair", k, klen, v, vlen);
        return false;
    }
    conf_report("Invalid conf pair", k, klen, v, vlen);
    return false;
}

static void conf_pair(const char *k, size_t klen, const char *v, size_t vlen, void *opaque) {
    conf_apply(k, klen, v, vlen, (conf_src_t)(uintptr_t)opaque);
}

static void conf_bad(const char *k, size_t klen, const char *v, size_t vlen, void *opaque) {
    (void)opaque;
    conf_report("Malformed conf string", k, klen, v, vlen);
}

void conf_boot(void) {
    static char etc_buf[256];
    const char *sources[CONF_NSRC] = {NULL};
    sources[CONF_SRC_BUILTIN] = ALLOCATOR_MALLOC_CONF;
    sources[CONF_SRC_SYMBOL] = malloc_conf;
    ssize_t n = readlink("/etc/malloc.conf", etc_buf, sizeof(etc_buf) - 1);
    bool secure = getauxval(AT_SECURE) != 0;
    if (n > 0 && !secure) {
        etc_buf[n] = '\0';
        sources[CONF_SRC_ETC] = etc_buf;
    }
    sources[CONF_SRC_ENV] = secure_getenv("MALLOC_CONF");
    for (int src = CONF_SRC_BUILTIN; src < CONF_NSRC; src++) {
        /* abort_conf must be known before reporting an error in an earlier pair. */
        conf_tokenize(sources[src], conf_pair, conf_bad, (void *)(uintptr_t)src);
    }
    if (conf_had_error && opt_abort_conf)
        io_fatal("Abort (abort_conf:true) on invalid conf value (see above)\n");
    if (opt_confirm_conf)
        conf_confirm();
}

void conf_confirm(void) {
    for (size_t i = 0; i < ARRAY_SIZE(opt_table); i++) {
        const opt_desc_t *o = &opt_table[i];
        char val[80];
        switch (o->type) {
        case OPT_BOOL:
            io_format(val, sizeof(val), "%s", *(bool *)o->var ? "true" : "false");
            break;
        case OPT_INT:
            if (o->var == (void *)&opt_narenas)
                io_format(val, sizeof(val), "%u", opt_narenas);
            else
                io_format(val, sizeof(val), "%zd", *(ssize_t *)o->var);
            break;
        case OPT_SIZE:
            io_format(val, sizeof(val), "%zu", *(size_t *)o->var);
            break;
        case OPT_JUNK:
            io_format(val, sizeof(val), "%s",
                      opt_junk_alloc ? (opt_junk_free ? "true" : "alloc")
                                     : (opt_junk_free ? "free" : "false"));
            break;
        case OPT_STR:
            io_format(val, sizeof(val), "\"%s\"", (const char *)o->var);
            break;
        }
        io_printf("<allocator>: option %s = %s (from %s)\n", o->name, val,
                  conf_src_names[o->src]);
    }
}
