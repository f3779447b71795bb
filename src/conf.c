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
ssize_t opt_muzzy_decay_ms = 0;
bool opt_retain = true;
bool opt_background_thread = false;
size_t opt_max_background_threads = 0; /* 0: the number of CPUs, resolved at boot */
size_t opt_oversize_threshold = (size_t)8 << 20;
size_t opt_lg_extent_max_active_fit = 6;
const char *opt_dss = "disabled";
const char *opt_percpu_arena = "disabled";
const char *opt_thp = "default";
const char *opt_metadata_thp = "disabled";
const char *opt_zero_realloc = "free";
bool opt_prof = false;
char opt_prof_prefix[256] = "jeprof";
bool opt_prof_active = true;
bool opt_prof_thread_active_init = true;
size_t opt_lg_prof_sample = 19;
ssize_t opt_lg_prof_interval = -1;
bool opt_prof_gdump = false;
bool opt_prof_final = false;
bool opt_prof_leak = false;
bool opt_prof_accum = false;

static const char *const dss_values[] = {"disabled", NULL};
static const char *const percpu_values[] = {"disabled", NULL};
static const char *const thp_values[] = {"default", "always", "never", NULL};
static const char *const metadata_thp_values[] = {"disabled", "auto", "always", NULL};
static const char *const zero_realloc_values[] = {"free", "alloc", "abort", NULL};

const char *const conf_src_names[CONF_NSRC] = {"default", "--with-malloc-conf", "malloc_conf",
                                               "/etc/malloc.conf", "MALLOC_CONF"};

/* The program may define malloc_conf; ours is a weak default so a static link accepts both. */
EXPORT __attribute__((weak)) const char *malloc_conf = NULL;

/*
 * OPT_BOOL accepts "true"/"false" within [min, max] (a feature not built yet admits only its
 * off value); OPT_INT is an ssize_t (or opt_narenas), OPT_SIZE a size_t, OPT_ENUM one of the
 * listed words (var is a const char *), OPT_STR a bounded copy.
 */
typedef enum { OPT_BOOL, OPT_INT, OPT_SIZE, OPT_JUNK, OPT_STR, OPT_ENUM } opt_type_t;

typedef struct {
    const char *name;
    opt_type_t type;
    void *var;
    long long min, max;
    conf_src_t src; /* where the effective value came from */
    const char *const *values;
} opt_desc_t;

static opt_desc_t opt_table[] = {
    {"abort", OPT_BOOL, &opt_abort, 0, 1, CONF_SRC_DEFAULT, NULL},
    {"abort_conf", OPT_BOOL, &opt_abort_conf, 0, 1, CONF_SRC_DEFAULT, NULL},
    {"confirm_conf", OPT_BOOL, &opt_confirm_conf, 0, 1, CONF_SRC_DEFAULT, NULL},
    {"narenas", OPT_INT, &opt_narenas, 1, 4096 - 2, CONF_SRC_DEFAULT, NULL},
    {"tcache", OPT_BOOL, &opt_tcache, 0, 1, CONF_SRC_DEFAULT, NULL},
    {"tcache_max", OPT_SIZE, &opt_tcache_max, 0, (long long)8 << 20, CONF_SRC_DEFAULT, NULL},
    {"dirty_decay_ms", OPT_INT, &opt_dirty_decay_ms, -1, (long long)1 << 40, CONF_SRC_DEFAULT,
     NULL},
    {"junk", OPT_JUNK, NULL, 0, 0, CONF_SRC_DEFAULT, NULL},
    {"zero", OPT_BOOL, &opt_zero, 0, 1, CONF_SRC_DEFAULT, NULL},
    {"xmalloc", OPT_BOOL, &opt_xmalloc, 0, 1, CONF_SRC_DEFAULT, NULL},
    {"stats_print", OPT_BOOL, &opt_stats_print, 0, 1, CONF_SRC_DEFAULT, NULL},
    {"stats_print_opts", OPT_STR, opt_stats_print_opts, 0, sizeof(opt_stats_print_opts) - 1,
     CONF_SRC_DEFAULT, NULL},
    {"muzzy_decay_ms", OPT_INT, &opt_muzzy_decay_ms, -1, (long long)1 << 40, CONF_SRC_DEFAULT,
     NULL},
    {"retain", OPT_BOOL, &opt_retain, 0, 1, CONF_SRC_DEFAULT, NULL},
    {"background_thread", OPT_BOOL, &opt_background_thread, 0, 1, CONF_SRC_DEFAULT, NULL},
    {"max_background_threads", OPT_SIZE, &opt_max_background_threads, 1, 64, CONF_SRC_DEFAULT,
     NULL},
    {"oversize_threshold", OPT_SIZE, &opt_oversize_threshold, 0, (long long)1 << 47,
     CONF_SRC_DEFAULT, NULL},
    {"lg_extent_max_active_fit", OPT_SIZE, &opt_lg_extent_max_active_fit, 0, 63, CONF_SRC_DEFAULT,
     NULL},
    {"dss", OPT_ENUM, &opt_dss, 0, 0, CONF_SRC_DEFAULT, dss_values},
    {"percpu_arena", OPT_ENUM, &opt_percpu_arena, 0, 0, CONF_SRC_DEFAULT, percpu_values},
    {"thp", OPT_ENUM, &opt_thp, 0, 0, CONF_SRC_DEFAULT, thp_values},
    {"metadata_thp", OPT_ENUM, &opt_metadata_thp, 0, 0, CONF_SRC_DEFAULT, metadata_thp_values},
    {"zero_realloc", OPT_ENUM, &opt_zero_realloc, 0, 0, CONF_SRC_DEFAULT, zero_realloc_values},
    /* Profiling options are recorded for the profiling work; config.prof is false. */
    {"prof", OPT_BOOL, &opt_prof, 0, 1, CONF_SRC_DEFAULT, NULL},
    {"prof_prefix", OPT_STR, opt_prof_prefix, 0, sizeof(opt_prof_prefix) - 1, CONF_SRC_DEFAULT,
     NULL},
    {"prof_active", OPT_BOOL, &opt_prof_active, 0, 1, CONF_SRC_DEFAULT, NULL},
    {"prof_thread_active_init", OPT_BOOL, &opt_prof_thread_active_init, 0, 1, CONF_SRC_DEFAULT,
     NULL},
    {"lg_prof_sample", OPT_SIZE, &opt_lg_prof_sample, 0, 62, CONF_SRC_DEFAULT, NULL},
    {"lg_prof_interval", OPT_INT, &opt_lg_prof_interval, -1, 62, CONF_SRC_DEFAULT, NULL},
    {"prof_gdump", OPT_BOOL, &opt_prof_gdump, 0, 1, CONF_SRC_DEFAULT, NULL},
    {"prof_final", OPT_BOOL, &opt_prof_final, 0, 1, CONF_SRC_DEFAULT, NULL},
    {"prof_leak", OPT_BOOL, &opt_prof_leak, 0, 1, CONF_SRC_DEFAULT, NULL},
    {"prof_accum", OPT_BOOL, &opt_prof_accum, 0, 1, CONF_SRC_DEFAULT, NULL},
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

/*
 * A whole value as jemalloc reads one (strtoimax/strtoumax with base 0): an optional sign, then
 * "0x"/"0X" and hex digits, "0" and octal digits, or decimal digits. Written out here because
 * options are read in glibc's static startup, where the libc functions (locale) may not be
 * ready. Trailing characters, no digits or a magnitude past 2^62 fail, as do values outside
 * [min, max].
 */
bool conf_parse_int(const char *v, size_t vlen, long long min, long long max, long long *out) {
    size_t i = 0;
    bool neg = false;
    if (i < vlen && (v[i] == '-' || v[i] == '+')) {
        neg = v[i] == '-';
        i++;
    }
    if (i == vlen)
        return false;
    unsigned base = 10;
    if (v[i] == '0') {
        base = 8; /* the 0 is a digit too: "0" alone is zero */
        if (vlen - i > 2 && (v[i + 1] == 'x' || v[i + 1] == 'X')) {
            base = 16;
            i += 2;
        }
    }
    unsigned long long acc = 0;
    for (; i < vlen; i++) {
        char c = v[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        if (d >= base)
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

/* "<allocator>: what: k:v", or "...: k" alone when v is NULL; cut to one bounded line. */
static void conf_report(const char *what, const char *k, size_t klen, const char *v, size_t vlen) {
    char buf[512];
    size_t n = io_format(buf, sizeof(buf), "<allocator>: %s: ", what);
    for (size_t i = 0; i < klen && n + 2 < sizeof(buf); i++)
        buf[n++] = k[i];
    if (v != NULL && n + 2 < sizeof(buf))
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
            if (conf_eq(v, vlen, "true") && o->max == 1)
                *(bool *)o->var = true;
            else if (conf_eq(v, vlen, "false") && o->min == 0)
                *(bool *)o->var = false;
            else
                goto invalid;
            break;
        case OPT_ENUM: {
            size_t j = 0;
            while (o->values[j] != NULL && !conf_eq(v, vlen, o->values[j]))
                j++;
            if (o->values[j] == NULL)
                goto invalid;
            *(const char **)o->var = o->values[j];
            break;
        }
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
        if ((o->type == OPT_INT || o->type == OPT_SIZE) && o->min != o->max &&
            conf_parse_int(v, vlen, -(1LL << 62), 1LL << 62, &n)) {
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

/* k is the rest of the string from the fault on; it is quoted as is, with no ':' added. */
static void conf_bad(const char *k, size_t klen, const char *v, size_t vlen, void *opaque) {
    (void)v, (void)vlen, (void)opaque;
    conf_report("Malformed conf string", k, klen, NULL, 0);
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
}

void conf_confirm(unsigned narenas) {
    for (size_t i = 0; i < ARRAY_SIZE(opt_table); i++) {
        const opt_desc_t *o = &opt_table[i];
        char val[sizeof(opt_prof_prefix) + 2]; /* the longest string option, quoted */
        switch (o->type) {
        case OPT_BOOL:
            io_format(val, sizeof(val), "%s", *(bool *)o->var ? "true" : "false");
            break;
        case OPT_INT:
            if (o->var == (void *)&opt_narenas)
                io_format(val, sizeof(val), "%u", narenas);
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
        case OPT_ENUM:
            io_format(val, sizeof(val), "\"%s\"", *(const char **)o->var);
            break;
        }
        io_printf("<allocator>: option %s = %s (from %s)\n", o->name, val, conf_src_names[o->src]);
    }
}

/*
 * The documentation check's view of the options table (test/unit/doc_names.c): option i's name
 * and the type the manual gives it, or false past the end.
 */
bool conf_option_get(size_t i, const char **name, const char **type) {
    if (i >= ARRAY_SIZE(opt_table))
        return false;
    static const char *const type_names[] = {
        [OPT_BOOL] = "bool", [OPT_INT] = "ssize_t", [OPT_SIZE] = "size_t",
        [OPT_JUNK] = "const char *", [OPT_STR] = "const char *", [OPT_ENUM] = "const char *",
    };
    const opt_desc_t *o = &opt_table[i];
    *name = o->name;
    *type = o->var == (void *)&opt_narenas ? "unsigned" : type_names[o->type];
    return true;
}
