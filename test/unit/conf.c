/* SPDX-License-Identifier: BSD-2-Clause */
/* The option parser: tokenising, integers, valid and invalid pairs, precedence by order. */
#include <string.h>

#include "allocator/internal/conf.h"
#include "unit.h"

static char seen[512];
static int nbad;

static void pair(const char *k, size_t kl, const char *v, size_t vl, void *opaque) {
    (void)opaque;
    strncat(seen, k, kl);
    strcat(seen, "=");
    strncat(seen, v, vl);
    strcat(seen, ";");
}

static void bad(const char *k, size_t kl, const char *v, size_t vl, void *opaque) {
    (void)k, (void)kl, (void)v, (void)vl, (void)opaque;
    nbad++;
}

static bool apply(const char *k, const char *v) {
    return conf_apply(k, strlen(k), v, strlen(v), CONF_SRC_ENV);
}

int main(void) {
    conf_tokenize("a:1,bb:two,c_3:", pair, bad, NULL);
    check(strcmp(seen, "a=1;bb=two;c_3=;") == 0);
    check_eq(nbad, 0);
    conf_tokenize("nocolon", pair, bad, NULL);
    check_eq(nbad, 1);
    conf_tokenize("x:1,", pair, bad, NULL);
    check_eq(nbad, 2);
    conf_tokenize("sp ace:1", pair, bad, NULL);
    check_eq(nbad, 3);

    long long v;
    check(conf_parse_int("123", 3, 0, 1000, &v) && v == 123);
    check(conf_parse_int("-1", 2, -1, 10, &v) && v == -1);
    check(conf_parse_int("0x10", 4, 0, 100, &v) && v == 16);
    check(!conf_parse_int("-2", 2, -1, 10, &v));
    check(!conf_parse_int("12a", 3, 0, 1000, &v));
    check(!conf_parse_int("", 0, 0, 1000, &v));
    check(!conf_parse_int("99999999999999999999999", 23, 0, 1LL << 62, &v));
    /* Base 0, as jemalloc's strtoumax/strtoimax: 010 is octal (it was read as 10), 0x hex. */
    check(conf_parse_int("010", 3, 0, 1000, &v) && v == 8);
    check(conf_parse_int("0x10", 4, 0, 1000, &v) && v == 16);
    check(conf_parse_int("0X1f", 4, 0, 1000, &v) && v == 31);
    check(conf_parse_int("0", 1, 0, 1000, &v) && v == 0);
    check(conf_parse_int("00", 2, 0, 1000, &v) && v == 0);
    check(conf_parse_int("-010", 4, -100, 100, &v) && v == -8);
    check(conf_parse_int("+7", 2, 0, 100, &v) && v == 7);
    check(conf_parse_int("0777", 4, 0, 1000, &v) && v == 511);
    check(!conf_parse_int("08", 2, 0, 1000, &v));
    check(!conf_parse_int("019", 3, 0, 1000, &v));
    check(!conf_parse_int("0x", 2, 0, 1000, &v));
    check(!conf_parse_int("0x1g", 4, 0, 1000, &v));
    check(!conf_parse_int("1f", 2, 0, 1000, &v));
    check(!conf_parse_int("+", 1, 0, 1000, &v));
    check(!conf_parse_int("-", 1, -10, 1000, &v));
    check(!conf_parse_int("+-1", 3, -10, 1000, &v));
    check(!conf_parse_int(" 1", 2, 0, 1000, &v));
    check(conf_parse_int("0x4000000000000000", 18, 0, 1LL << 62, &v) && v == 1LL << 62);
    check(!conf_parse_int("0x4000000000000001", 18, 0, (1LL << 62), &v));

    check(apply("tcache", "false") && !opt_tcache);
    check(apply("tcache", "true") && opt_tcache);
    check(!apply("tcache", "maybe") && opt_tcache);
    check(apply("narenas", "3") && opt_narenas == 3);
    check(!apply("narenas", "0") && opt_narenas == 3);
    check(apply("narenas", "010") && opt_narenas == 8);
    check(apply("narenas", "0x10") && opt_narenas == 16);
    check(!apply("narenas", "09") && opt_narenas == 16);  /* not octal: invalid, ignored */
    check(!apply("narenas", "16k") && opt_narenas == 16); /* trailing garbage */
    check(apply("tcache_max", "0x2000") && opt_tcache_max == 8192);
    check(apply("dirty_decay_ms", "0100") && opt_dirty_decay_ms == 64);
    check(apply("dirty_decay_ms", "-1") && opt_dirty_decay_ms == -1);
    check(apply("dirty_decay_ms", "0") && opt_dirty_decay_ms == 0);
    check(!apply("dirty_decay_ms", "-5") && opt_dirty_decay_ms == 0);
    check(apply("junk", "alloc") && opt_junk_alloc && !opt_junk_free);
    check(apply("junk", "false") && !opt_junk_alloc && !opt_junk_free);
    check(apply("tcache_max", "4096") && opt_tcache_max == 4096);
    check(apply("stats_print_opts", "gbl") && strcmp(opt_stats_print_opts, "gbl") == 0);
    check(!apply("no_such_option", "1"));
    /* Words are parsed to enums once; a word that is not listed (or only starts like one) is
     * invalid and changes nothing. */
    check(opt_thp == THP_DEFAULT && opt_metadata_thp == METADATA_THP_DISABLED);
    check(opt_zero_realloc == ZERO_REALLOC_FREE && opt_dss == DSS_SECONDARY);
    check(apply("thp", "never") && opt_thp == THP_NEVER);
    check(apply("thp", "always") && opt_thp == THP_ALWAYS);
    check(!apply("thp", "alwaysx") && opt_thp == THP_ALWAYS);
    check(!apply("thp", "n") && opt_thp == THP_ALWAYS);
    check(apply("thp", "default") && opt_thp == THP_DEFAULT);
    check(apply("metadata_thp", "auto") && opt_metadata_thp == METADATA_THP_AUTO);
    check(apply("metadata_thp", "always") && opt_metadata_thp == METADATA_THP_ALWAYS);
    check(!apply("metadata_thp", "au") && opt_metadata_thp == METADATA_THP_ALWAYS);
    check(apply("zero_realloc", "abort") && opt_zero_realloc == ZERO_REALLOC_ABORT);
    check(apply("zero_realloc", "alloc") && opt_zero_realloc == ZERO_REALLOC_ALLOC);
    check(!apply("zero_realloc", "ab") && opt_zero_realloc == ZERO_REALLOC_ALLOC);
    check(apply("zero_realloc", "free") && opt_zero_realloc == ZERO_REALLOC_FREE);
    check(apply("dss", "primary") && opt_dss == DSS_PRIMARY);
    check(!apply("dss", "prim") && opt_dss == DSS_PRIMARY);
    check(!apply("dss", "tertiary") && opt_dss == DSS_PRIMARY);
    check(apply("dss", "disabled") && opt_dss == DSS_DISABLED);
    check(apply("dss", "secondary") && opt_dss == DSS_SECONDARY);
    check_str(conf_dss_names[DSS_PRIMARY], "primary");
    check(apply("percpu_arena", "percpu") && opt_percpu_arena == PERCPU_ARENA_PERCPU);
    check(!apply("percpu_arena", "phycpu") && opt_percpu_arena == PERCPU_ARENA_PERCPU);
    check(apply("percpu_arena", "disabled") && opt_percpu_arena == PERCPU_ARENA_DISABLED);
    check_str(conf_zero_realloc_names[ZERO_REALLOC_ABORT], "abort");
    check_str(conf_metadata_thp_names[METADATA_THP_AUTO], "auto");
    check_str(conf_thp_names[THP_NEVER], "never");
    /* A string option longer than its buffer is out of range, and ignored. */
    char longer[sizeof(opt_prof_prefix) + 1];
    memset(longer, 'x', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    check(apply("prof_prefix", longer + 1) &&
          strlen(opt_prof_prefix) == sizeof(opt_prof_prefix) - 1);
    check(!apply("prof_prefix", longer) && strlen(opt_prof_prefix) == sizeof(opt_prof_prefix) - 1);
    /* The table's view: names in order, types as the manual writes them. */
    const char *name, *type;
    check(conf_option_get(CONF_OPT_narenas, &name, &type));
    check_str(name, "narenas");
    check_str(type, "unsigned");
    check(conf_option_get(CONF_OPT_zero_realloc, &name, &type));
    check_str(name, "zero_realloc");
    check_str(type, "const char *");
    check(conf_option_get(CONF_OPT_dirty_decay_ms, &name, &type) && strcmp(type, "ssize_t") == 0);
    check(!conf_option_get(CONF_NOPTIONS, &name, &type));
    check(conf_option_value(CONF_OPT_narenas, 7).u == 7); /* the count in use, as given */
    check_str(conf_option_value(CONF_OPT_junk, 0).s, "false");
    /* The last setting wins, as later sources override earlier ones. */
    check(apply("xmalloc", "true") && apply("xmalloc", "false") && !opt_xmalloc);
    return unit_finish("conf");
}
