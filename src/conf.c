/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * conf: the options table, the string tokenizer and the source readers. conf_boot() runs once,
 * from init, before any arena exists; the opt_* values are read-only after that. Nothing here
 * allocates, locks, or calls ctype or stdio.
 */
#include "allocator/internal/conf.h"

#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "allocator/internal/io.h"

#define CONF_DEF_BOOL(name, def, max) bool opt_##name = def;
#define CONF_DEF_UNSIGNED(name, def, max) unsigned opt_##name = def;
#define CONF_DEF_SSIZE(name, def, max) ssize_t opt_##name = def;
#define CONF_DEF_SIZE(name, def, max) size_t opt_##name = def;
#define CONF_DEF_CHARS(name, def, max) char opt_##name[(max) + 1] = def;
#define CONF_DEF_ENUM(name, def, max)                                                              \
    conf_##name##_t opt_##name = def;                                                              \
    _Static_assert(sizeof(opt_##name) == sizeof(int), "conf_apply stores an enum as an int");
#define CONF_DEF_JUNK(name, def, max) bool opt_##name##_alloc = def, opt_##name##_free = def;
#define CONF_DEF(kind, name, def, min, max) CONF_DEF_##kind(name, def, max)
CONF_OPTIONS(CONF_DEF)

const char *const conf_dss_names[] = {
    [DSS_DISABLED] = "disabled", [DSS_PRIMARY] = "primary", [DSS_SECONDARY] = "secondary", NULL};
const char *const conf_percpu_arena_names[] = {
    [PERCPU_ARENA_DISABLED] = "disabled", [PERCPU_ARENA_PERCPU] = "percpu", NULL};
const char *const conf_thp_names[] = {
    [THP_DEFAULT] = "default", [THP_ALWAYS] = "always", [THP_NEVER] = "never", NULL};
const char *const conf_metadata_thp_names[] = {[METADATA_THP_DISABLED] = "disabled",
                                               [METADATA_THP_AUTO] = "auto",
                                               [METADATA_THP_ALWAYS] = "always",
                                               NULL};
const char *const conf_zero_realloc_names[] = {[ZERO_REALLOC_FREE] = "free",
                                               [ZERO_REALLOC_ALLOC] = "alloc",
                                               [ZERO_REALLOC_ABORT] = "abort",
                                               NULL};

const char *const conf_src_names[CONF_NSRC] = {"default", "--with-malloc-conf", "malloc_conf",
                                               "/etc/malloc.conf", "MALLOC_CONF"};

/* The program may define malloc_conf; ours is a weak default so a static link accepts both. */
EXPORT __attribute__((weak)) const char *malloc_conf = NULL;

typedef enum {
    OPT_BOOL,
    OPT_UNSIGNED,
    OPT_SSIZE,
    OPT_SIZE,
    OPT_CHARS,
    OPT_ENUM,
    OPT_JUNK
} opt_kind_t;

/* The table the parser and the views read, made from CONF_OPTIONS (conf.h says what a kind is). */
typedef struct {
    const char *name;
    opt_kind_t kind;
    void *var; /* NULL for JUNK */
    long long min, max;
    const char *const *values; /* ENUM: the words, ended by NULL */
} opt_desc_t;

#define CONF_VAR_BOOL(name) &opt_##name
#define CONF_VAR_UNSIGNED(name) &opt_##name
#define CONF_VAR_SSIZE(name) &opt_##name
#define CONF_VAR_SIZE(name) &opt_##name
#define CONF_VAR_CHARS(name) opt_##name
#define CONF_VAR_ENUM(name) &opt_##name
#define CONF_VAR_JUNK(name) NULL
#define CONF_ROW(kind, name, def, min, max)                                                        \
    {#name, OPT_##kind, CONF_VAR_##kind(name), min, max, CONF_NAMES_##kind(name)},
#define CONF_NAMES_ENUM(name) conf_##name##_names
#define CONF_NAMES_BOOL(name) NULL
#define CONF_NAMES_UNSIGNED(name) NULL
#define CONF_NAMES_SSIZE(name) NULL
#define CONF_NAMES_SIZE(name) NULL
#define CONF_NAMES_CHARS(name) NULL
#define CONF_NAMES_JUNK(name) NULL
static const opt_desc_t opt_table[CONF_NOPTIONS] = {CONF_OPTIONS(CONF_ROW)};

/* Where each option's effective value came from (confirm_conf). */
static conf_src_t opt_src[CONF_NOPTIONS];

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
static COLD void conf_report(const char *what, const char *k, size_t klen, const char *v,
                             size_t vlen) {
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
    for (size_t i = 0; i < CONF_NOPTIONS; i++) {
        const opt_desc_t *o = &opt_table[i];
        if (!conf_eq(k, klen, o->name))
            continue;
        long long n;
        switch (o->kind) {
        case OPT_BOOL:
            if (conf_eq(v, vlen, "true") && o->max == 1)
                *(bool *)o->var = true;
            else if (conf_eq(v, vlen, "false") && o->min == 0)
                *(bool *)o->var = false;
            else
                goto invalid;
            break;
        case OPT_ENUM: {
            int j = 0;
            while (o->values[j] != NULL && !conf_eq(v, vlen, o->values[j]))
                j++;
            if (o->values[j] == NULL)
                goto invalid;
            *(int *)o->var = j;
            break;
        }
        case OPT_UNSIGNED:
            if (!conf_parse_int(v, vlen, o->min, o->max, &n))
                goto range;
            *(unsigned *)o->var = (unsigned)n;
            break;
        case OPT_SSIZE:
            if (!conf_parse_int(v, vlen, o->min, o->max, &n))
                goto range;
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
        case OPT_CHARS:
            if (vlen > (size_t)o->max)
                goto range;
            memcpy(o->var, v, vlen);
            ((char *)o->var)[vlen] = '\0';
            break;
        }
        opt_src[i] = src;
        return true;
    range:
        if (o->kind != OPT_CHARS && conf_parse_int(v, vlen, -(1LL << 62), 1LL << 62, &n)) {
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
    /* The system call, not libc's readlink: a call would make libc's text around readlink
     * resident (64 KiB, the kernel's fault-around) in every program (nstime.c says more). */
    ssize_t n = (ssize_t)syscall(SYS_readlinkat, AT_FDCWD, "/etc/malloc.conf", etc_buf,
                                 sizeof(etc_buf) - 1);
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

const char *conf_option_name(size_t i) { return i < CONF_NOPTIONS ? opt_table[i].name : NULL; }

conf_value_t conf_option_value(size_t i, unsigned narenas) {
    const opt_desc_t *o = &opt_table[i];
    conf_value_t r = {CONF_T_STRING, {.s = NULL}};
    switch (o->kind) {
    case OPT_BOOL:
        r.type = CONF_T_BOOL;
        r.b = *(const bool *)o->var;
        break;
    case OPT_UNSIGNED:
        r.type = CONF_T_UNSIGNED;
        r.u = o->var == (void *)&opt_narenas ? narenas : *(const unsigned *)o->var;
        break;
    case OPT_SSIZE:
        r.type = CONF_T_SSIZE;
        r.d = *(const ssize_t *)o->var;
        break;
    case OPT_SIZE:
        r.type = CONF_T_SIZE;
        r.z = *(const size_t *)o->var;
        break;
    case OPT_CHARS:
        r.s = (const char *)o->var;
        break;
    case OPT_ENUM:
        r.s = o->values[*(const int *)o->var];
        break;
    case OPT_JUNK:
        r.s = opt_junk_alloc ? (opt_junk_free ? "true" : "alloc")
                             : (opt_junk_free ? "free" : "false");
        break;
    }
    return r;
}

COLD void conf_confirm(unsigned narenas) {
    for (size_t i = 0; i < CONF_NOPTIONS; i++) {
        conf_value_t v = conf_option_value(i, narenas);
        char val[sizeof(opt_prof_prefix) + 2]; /* the longest string option, quoted */
        switch (v.type) {
        case CONF_T_BOOL:
            io_format(val, sizeof(val), "%s", v.b ? "true" : "false");
            break;
        case CONF_T_UNSIGNED:
            io_format(val, sizeof(val), "%u", v.u);
            break;
        case CONF_T_SSIZE:
            io_format(val, sizeof(val), "%zd", v.d);
            break;
        case CONF_T_SIZE:
            io_format(val, sizeof(val), "%zu", v.z);
            break;
        case CONF_T_STRING:
            /* junk's value is a word, as the option is written; the other strings are quoted */
            io_format(val, sizeof(val), opt_table[i].kind == OPT_JUNK ? "%s" : "\"%s\"", v.s);
            break;
        }
        io_printf("<allocator>: option %s = %s (from %s)\n", opt_table[i].name, val,
                  conf_src_names[opt_src[i]]);
    }
}

/*
 * The documentation checks' view of the options table (test/unit/doc_names.c): option i's name
 * and the type the manual gives it, or false past the end.
 */
bool conf_option_get(size_t i, const char **name, const char **type) {
    if (i >= CONF_NOPTIONS)
        return false;
    static const char *const type_names[] = {
        [CONF_T_BOOL] = "bool",   [CONF_T_UNSIGNED] = "unsigned",   [CONF_T_SSIZE] = "ssize_t",
        [CONF_T_SIZE] = "size_t", [CONF_T_STRING] = "const char *",
    };
    *name = opt_table[i].name;
    *type = type_names[conf_option_value(i, 0).type];
    return true;
}
