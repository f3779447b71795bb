/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * conf: runtime options (opt_*), and the parser of jemalloc-style option strings
 * ("name:value,name:value"). The parser is pure (no allocation, no ctype, no stdio) so it can
 * run during glibc's static startup and be unit tested without initialising the allocator.
 */
#ifndef ALLOCATOR_INTERNAL_CONF_H
#define ALLOCATOR_INTERNAL_CONF_H

#include "allocator/internal/util.h"

/*
 * The run-time options, each defined once, here. A row is X(KIND, name, default, min, max):
 *   BOOL      bool opt_<name>; "true"/"false", min 0 / max 1 admit each (a feature not built
 *             yet admits only its off value)
 *   UNSIGNED  unsigned opt_<name>, in [min, max]
 *   SSIZE     ssize_t opt_<name>, in [min, max]
 *   SIZE      size_t opt_<name>, in [min, max]
 *   CHARS     char opt_<name>[max + 1], a string of at most max characters
 *   ENUM      conf_<name>_t opt_<name>, one of the words conf_<name>_names lists
 *   JUNK      the two bools opt_junk_alloc and opt_junk_free, from true, false, alloc or free
 * From the rows come the opt_* variables, conf_apply's parser, the opt.* mallctl names (ctl.c),
 * the "opt." lines of the statistics report (stats_print.c), confirm_conf's lines, and the list
 * the manual page and README checks compare with (conf_option_get). The order is the report's,
 * which is jemalloc's. An option costs one row (and its lines in doc/allocator.3 and README.md).
 */
#define CONF_OPTIONS(X)                                                                            \
    X(BOOL, abort, false, 0, 1)                                                                    \
    X(BOOL, abort_conf, false, 0, 1)                                                               \
    X(BOOL, confirm_conf, false, 0, 1)                                                             \
    X(BOOL, retain, true, 0, 1)                                                                    \
    X(ENUM, dss, DSS_SECONDARY, 0, 0)                                                              \
    X(UNSIGNED, narenas, 0, 1, 4096 - 2) /* 0: four per CPU this process may run on */             \
    X(ENUM, percpu_arena, PERCPU_ARENA_DISABLED, 0, 0)                                             \
    X(SIZE, oversize_threshold, (size_t)8 << 20, 0, 1LL << 47)                                     \
    X(ENUM, metadata_thp, METADATA_THP_DISABLED, 0, 0)                                             \
    X(BOOL, background_thread, false, 0, 1)                                                        \
    X(SIZE, max_background_threads, 0, 1, 64) /* 0: the number of CPUs, resolved at boot */        \
    X(SSIZE, dirty_decay_ms, 10000, -1, 1LL << 40)                                                 \
    X(SSIZE, muzzy_decay_ms, 0, -1, 1LL << 40)                                                     \
    X(SIZE, lg_extent_max_active_fit, 6, 0, 63)                                                    \
    X(JUNK, junk, false, 0, 0)                                                                     \
    X(BOOL, zero, false, 0, 1)                                                                     \
    X(BOOL, xmalloc, false, 0, 1)                                                                  \
    X(BOOL, tcache, true, 0, 1)                                                                    \
    X(SIZE, tcache_max, (size_t)32 << 10, 0, 8LL << 20)                                            \
    X(ENUM, thp, THP_DEFAULT, 0, 0)                                                                \
    X(BOOL, prof, false, 0, 1)                                                                     \
    X(CHARS, prof_prefix, "jeprof", 0, 255)                                                        \
    X(BOOL, prof_active, true, 0, 1)                                                               \
    X(BOOL, prof_thread_active_init, true, 0, 1)                                                   \
    X(SIZE, lg_prof_sample, 19, 0, 62)                                                             \
    X(BOOL, prof_accum, false, 0, 1)                                                               \
    X(SSIZE, lg_prof_interval, -1, -1, 62)                                                         \
    X(BOOL, prof_gdump, false, 0, 1)                                                               \
    X(BOOL, prof_final, false, 0, 1)                                                               \
    X(BOOL, prof_leak, false, 0, 1)                                                                \
    X(SSIZE, prof_recent_alloc_max, 0, -1, (long long)(SIZE_MAX >> 1)) /* -1: unlimited */         \
    X(BOOL, stats_print, false, 0, 1)                                                              \
    X(CHARS, stats_print_opts, "", 0, 63)                                                          \
    X(ENUM, zero_realloc, ZERO_REALLOC_FREE, 0, 0)

/*
 * The words of the ENUM options, parsed once by conf_apply; the code compares the enum, and the
 * opt.* names still read the word (conf_<name>_names[opt_<name>]).
 */
/* dss: where chunks come from; jemalloc's words and order (arena.<i>.dss reads them too). */
typedef enum { DSS_DISABLED, DSS_PRIMARY, DSS_SECONDARY } conf_dss_t;
typedef enum { PERCPU_ARENA_DISABLED, PERCPU_ARENA_PERCPU } conf_percpu_arena_t;
typedef enum { THP_DEFAULT, THP_ALWAYS, THP_NEVER } conf_thp_t;
typedef enum { METADATA_THP_DISABLED, METADATA_THP_AUTO, METADATA_THP_ALWAYS } conf_metadata_thp_t;
typedef enum { ZERO_REALLOC_FREE, ZERO_REALLOC_ALLOC, ZERO_REALLOC_ABORT } conf_zero_realloc_t;
extern const char *const conf_dss_names[];
extern const char *const conf_percpu_arena_names[];
extern const char *const conf_thp_names[];
extern const char *const conf_metadata_thp_names[];
extern const char *const conf_zero_realloc_names[];

#define CONF_DECL_BOOL(name, max) extern bool opt_##name;
#define CONF_DECL_UNSIGNED(name, max) extern unsigned opt_##name;
#define CONF_DECL_SSIZE(name, max) extern ssize_t opt_##name;
#define CONF_DECL_SIZE(name, max) extern size_t opt_##name;
#define CONF_DECL_CHARS(name, max) extern char opt_##name[(max) + 1];
#define CONF_DECL_ENUM(name, max) extern conf_##name##_t opt_##name;
#define CONF_DECL_JUNK(name, max) extern bool opt_##name##_alloc, opt_##name##_free;
#define CONF_DECL(kind, name, def, min, max) CONF_DECL_##kind(name, max)
CONF_OPTIONS(CONF_DECL)

/* CONF_OPT_<name>: the option's index in the table (and the last component of opt.<name>). */
#define CONF_INDEX(kind, name, def, min, max) CONF_OPT_##name,
enum { CONF_OPTIONS(CONF_INDEX) CONF_NOPTIONS };

/* An option's value as the opt.* names and the report show it. */
typedef enum { CONF_T_BOOL, CONF_T_UNSIGNED, CONF_T_SSIZE, CONF_T_SIZE, CONF_T_STRING } conf_type_t;
typedef struct {
    conf_type_t type;
    union {
        bool b;
        unsigned u;
        ssize_t d;
        size_t z;
        const char *s;
    };
} conf_value_t;

/* Option i's name and value; narenas shows the given count (the one in use), not the request. */
const char *conf_option_name(size_t i);
conf_value_t conf_option_value(size_t i, unsigned narenas);

/* Where an option's value came from, in increasing precedence. */
typedef enum {
    CONF_SRC_DEFAULT,
    CONF_SRC_BUILTIN, /* --with-malloc-conf */
    CONF_SRC_SYMBOL,  /* the program's malloc_conf */
    CONF_SRC_ETC,     /* the /etc/malloc.conf link */
    CONF_SRC_ENV,     /* MALLOC_CONF */
    CONF_NSRC
} conf_src_t;

extern const char *const conf_src_names[CONF_NSRC];

/*
 * Tokenise one option string. For each pair calls cb(name, nlen, value, vlen, opaque).
 * Malformed text (a key with no ':' or an illegal character) is reported through bad(), which
 * receives the rest of the string. Pure: touches nothing but its arguments.
 */
typedef void conf_pair_cb_t(const char *k, size_t klen, const char *v, size_t vlen, void *opaque);
void conf_tokenize(const char *s, conf_pair_cb_t *cb, conf_pair_cb_t *bad, void *opaque);

/* Parse an integer in [min, max] (decimal, or 0x hex; leading '-' when min < 0). */
bool conf_parse_int(const char *v, size_t vlen, long long min, long long max, long long *out);

/*
 * Apply one pair to the opt_* variables from source src. Returns false and prints
 * "<allocator>: Invalid conf pair: k:v" (or a range message) on an invalid pair.
 */
bool conf_apply(const char *k, size_t klen, const char *v, size_t vlen, conf_src_t src);

/* Read all sources in order and apply them (init calls this once). */
void conf_boot(void);
/* confirm_conf: print each option's effective value and source (narenas: the count in use). */
void conf_confirm(unsigned narenas);

/*
 * Option i of the table (name, and its type as the manual writes it: bool, unsigned, ssize_t,
 * size_t, const char *); false past the last one. For the checks that keep the manual page and
 * README's options table complete.
 */
bool conf_option_get(size_t i, const char **name, const char **type);

#endif
