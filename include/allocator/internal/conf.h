/*
 * conf: runtime options (opt_*), and the parser of jemalloc-style option strings
 * ("name:value,name:value"). The parser is pure (no allocation, no ctype, no stdio) so it can
 * run during glibc's static startup and be unit tested without initialising the allocator.
 */
#ifndef ALLOCATOR_INTERNAL_CONF_H
#define ALLOCATOR_INTERNAL_CONF_H

#include "allocator/internal/util.h"

extern bool opt_abort;
extern bool opt_abort_conf;
extern bool opt_confirm_conf;
extern unsigned opt_narenas; /* 0: four per CPU this process may run on */
extern bool opt_tcache;
extern size_t opt_tcache_max;
extern ssize_t opt_dirty_decay_ms;
extern bool opt_junk_alloc;
extern bool opt_junk_free;
extern bool opt_zero;
extern bool opt_xmalloc;
extern bool opt_stats_print;
extern char opt_stats_print_opts[64];
extern ssize_t opt_muzzy_decay_ms;
extern bool opt_retain;
extern bool opt_background_thread;
extern size_t opt_max_background_threads;
extern size_t opt_oversize_threshold;
extern size_t opt_lg_extent_max_active_fit;
extern const char *opt_dss;
extern const char *opt_percpu_arena;
extern const char *opt_thp;
extern const char *opt_metadata_thp;
extern const char *opt_zero_realloc;
extern bool opt_prof;
extern char opt_prof_prefix[256];
extern bool opt_prof_active;
extern bool opt_prof_thread_active_init;
extern size_t opt_lg_prof_sample;
extern ssize_t opt_lg_prof_interval;
extern bool opt_prof_gdump;
extern bool opt_prof_final;
extern bool opt_prof_leak;
extern bool opt_prof_accum;

/* Where an option's value came from, in increasing precedence. */
typedef enum {
    CONF_SRC_DEFAULT,
    CONF_SRC_BUILTIN,   /* --with-malloc-conf */
    CONF_SRC_SYMBOL,    /* the program's malloc_conf */
    CONF_SRC_ETC,       /* the /etc/malloc.conf link */
    CONF_SRC_ENV,       /* MALLOC_CONF */
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
 * size_t, const char *); false past the last one. For the check that keeps the manual complete.
 */
bool conf_option_get(size_t i, const char **name, const char **type);

#endif
