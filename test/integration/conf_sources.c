/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Where options come from, and what happens to bad ones.
 *
 * This program defines the malloc_conf symbol ("narenas:3"). The parent checks opt.narenas
 * against it (or against MALLOC_CONF, which the reruns under narenas:1 set and which must win),
 * then re-executes itself (/proc/self/exe --child) with chosen MALLOC_CONF values and checks
 * what each child reports through mallctl and what it writes on standard error:
 *
 * - MALLOC_CONF overrides the symbol key by key; within one string the last pair wins.
 * - An invalid pair prints "<allocator>: Invalid conf pair: NAME:VALUE" exactly once, is
 *   ignored, and the program goes on with the other pairs.
 * - Options for features not built yet (background_thread:true, retain:false, dss:primary,
 *   percpu_arena:phycpu, muzzy_decay_ms:1000) are rejected the same way and keep their values.
 * - abort_conf:true with an invalid pair anywhere aborts (the child dies of SIGABRT); without
 *   one the program runs.
 * - confirm_conf:true prints every option once, with its value and its source (default,
 *   malloc_conf, MALLOC_CONF).
 * - A valid configuration prints nothing.
 * - Hostile strings: values and keys of 60,000 characters, embedded separators (':' or '=' in a
 *   value, spaces), huge and negative numbers of every kind, empty values, "0x" alone: each pair
 *   is refused with one bounded line naming it and the valid pairs around it still apply;
 *   malformed text (an empty pair, a trailing comma, a key without a value) prints
 *   "<allocator>: Malformed conf string: REST" and ends the string, as in jemalloc; the library
 *   never writes to standard output; abort_conf:true makes malformed text fatal too.
 * - confirm_conf prints a long string option (a 200-character prof_prefix) whole.
 *
 * The setuid case (MALLOC_CONF and /etc/malloc.conf ignored under AT_SECURE) needs root and a
 * second user: test/programs/setuid_conf.sh.
 */
#include "../test.h"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>

const char *malloc_conf = "narenas:3";


/*
 * What the symbol should give. The library reads the program's malloc_conf only when the
 * executable exports it: always when linked with -lallocator, but an executable linked without
 * the library (the preload build) keeps it out of its dynamic symbol table, exactly as with
 * jemalloc, and the default applies. dlsym tells which case this is.
 */
static char sym_narenas[16] = "3";
static const char *sym_source = "malloc_conf";

static void symbol_expectations(void) {
    if (test_sym("malloc_conf") == (void *)&malloc_conf) {
        return;
    }
    cpu_set_t set;
    unsigned ncpus = 1;
    if (sched_getaffinity(0, sizeof(set), &set) == 0) {
        ncpus = (unsigned)CPU_COUNT(&set);
    }
    snprintf(sym_narenas, sizeof(sym_narenas), "%u", ncpus);
    sym_source = "default";
    printf("note: this executable does not export malloc_conf; expecting the default narenas "
           "%s\n",
           sym_narenas);
}

/* ---- the child ---------------------------------------------------------------------------- */

static void child_report(void) {
    unsigned narenas = 0;
    bool tcache = false, bg = false, retain = false, abort_conf = false;
    ssize_t dirty = 0, muzzy = 0;
    const char *dss = "?", *percpu = "?";
    int err = 0;
#define RD(name, var)                                                                              \
    do {                                                                                           \
        size_t sz_ = sizeof(var);                                                                  \
        int e_ = mallctl(name, &(var), &sz_, NULL, 0);                                             \
        if (e_ != 0 || sz_ != sizeof(var)) {                                                       \
            err = e_ != 0 ? e_ : -1;                                                               \
        }                                                                                          \
    } while (0)
    RD("opt.narenas", narenas);
    RD("opt.tcache", tcache);
    RD("opt.dirty_decay_ms", dirty);
    RD("opt.background_thread", bg);
    RD("opt.retain", retain);
    RD("opt.dss", dss);
    RD("opt.percpu_arena", percpu);
    RD("opt.muzzy_decay_ms", muzzy);
    RD("opt.abort_conf", abort_conf);
#undef RD
    /* The program keeps working after its options were read. */
    void *p = malloc(1000);
    free(p);
    printf("err=%d narenas=%u tcache=%s dirty_decay_ms=%zd background_thread=%s retain=%s "
           "dss=%s percpu_arena=%s muzzy_decay_ms=%zd abort_conf=%s\n",
           err, narenas, tcache ? "true" : "false", dirty, bg ? "true" : "false",
           retain ? "true" : "false", dss, percpu, muzzy, abort_conf ? "true" : "false");
    fflush(stdout);
}

/* ---- the parent --------------------------------------------------------------------------- */

typedef test_child_t child_t;

/* Runs this program as a child with MALLOC_CONF = conf (NULL: unset); collects its output. */
static child_t run_child(const char *conf) { return test_run_self("conf_sources", "--child", conf); }

static void child_free(child_t *c) {
    free(c->out);
    free(c->err);
}

/* How many times needle occurs in hay. */
static unsigned count(const char *hay, const char *needle) {
    unsigned n = 0;
    for (const char *s = hay; (s = strstr(s, needle)) != NULL; s += strlen(needle)) {
        n++;
    }
    return n;
}

/* The child exited 0 and reported "key=value" (value ends at a space or newline). */
static bool child_says_(const char *file, int line, const child_t *c, const char *conf,
                        const char *key, const char *want) {
    char needle[128];
    snprintf(needle, sizeof(needle), " %s=%s", key, want);
    const char *s = strstr(c->out, needle);
    bool ok = WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0 &&
              strncmp(c->out, "err=0 ", 6) == 0 && s != NULL &&
              (s[strlen(needle)] == ' ' || s[strlen(needle)] == '\n');
    if (!test_check_(ok)) {
        test_fail_(file, line,
                   "MALLOC_CONF=%s: expected the child to report %s=%s; status 0x%x, stdout "
                   "\"%.300s\", stderr \"%.300s\"",
                   conf ? conf : "(unset)", key, want, (unsigned)c->status, c->out, c->err);
    }
    return ok;
}
#define child_says(c, conf, key, want) child_says_(__FILE__, __LINE__, (c), (conf), (key), (want))

/* The child's stderr holds line exactly once. */
static bool once_(const char *file, int line, const child_t *c, const char *conf,
                  const char *text) {
    char full[256];
    snprintf(full, sizeof(full), "%s\n", text);
    unsigned n = count(c->err, full);
    if (!test_check_(n == 1)) {
        test_fail_(file, line,
                   "MALLOC_CONF=%s: expected \"%s\" once on stderr, found %u times; "
                   "stderr \"%.400s\"",
                   conf ? conf : "(unset)", text, n, c->err);
    }
    return n == 1;
}
#define once(c, conf, text) once_(__FILE__, __LINE__, (c), (conf), (text))

static void test_own_options(void) {
    /* This process: the symbol, unless the rerun's MALLOC_CONF sets narenas. */
    const char *env = getenv("MALLOC_CONF");
    unsigned want = (unsigned)strtoul(sym_narenas, NULL, 10);
    const char *s = env != NULL ? strstr(env, "narenas:") : NULL;
    if (s != NULL && (s == env || s[-1] == ',')) {
        want = (unsigned)strtoul(s + 8, NULL, 10);
    }
    unsigned narenas = 0;
    size_t sz = sizeof(narenas);
    expect_d_eq(mallctl("opt.narenas", &narenas, &sz, NULL, 0), 0);
    expect_zu_eq(narenas, want);
    expect_d_eq(strcmp(malloc_conf, "narenas:3"), 0);
#ifndef ALLOCATOR_TEST_PRELOAD
    /* Linked with the library, the executable exports the symbol and the library reads it. */
    expect_ptr_eq(test_sym("malloc_conf"), &malloc_conf);
#endif
}

static void test_precedence(void) {
    child_t c = run_child(NULL);
    child_says(&c, NULL, "narenas", sym_narenas);
    child_says(&c, NULL, "tcache", "true");
    if (!test_check_(c.err[0] == '\0')) {
        test_fail("a valid configuration wrote to stderr: \"%.300s\"", c.err);
    }
    child_free(&c);

    c = run_child("narenas:2");
    child_says(&c, "narenas:2", "narenas", "2");
    child_free(&c);

    /* The environment overrides only the keys it names. */
    c = run_child("tcache:false,dirty_decay_ms:0");
    child_says(&c, "tcache:false,dirty_decay_ms:0", "narenas", sym_narenas);
    child_says(&c, "tcache:false,dirty_decay_ms:0", "tcache", "false");
    child_says(&c, "tcache:false,dirty_decay_ms:0", "dirty_decay_ms", "0");
    child_free(&c);

    /* Numbers are read as jemalloc reads them (base 0): 010 is octal, 0x10 hex. */
    c = run_child("narenas:010,dirty_decay_ms:0x20");
    child_says(&c, "narenas:010,dirty_decay_ms:0x20", "narenas", "8");
    child_says(&c, "narenas:010,dirty_decay_ms:0x20", "dirty_decay_ms", "32");
    expect_true(c.err[0] == '\0');
    child_free(&c);
    c = run_child("narenas:0x10");
    child_says(&c, "narenas:0x10", "narenas", "16");
    child_free(&c);
    c = run_child("narenas:09");
    child_says(&c, "narenas:09", "narenas", sym_narenas);
    once(&c, "narenas:09", "<allocator>: Invalid conf pair: narenas:09");
    child_free(&c);

    /* Within one source, the last pair wins. */
    c = run_child("narenas:5,narenas:6");
    child_says(&c, "narenas:5,narenas:6", "narenas", "6");
    child_free(&c);

    /* An empty MALLOC_CONF changes nothing. */
    c = run_child("");
    child_says(&c, "", "narenas", sym_narenas);
    expect_true(c.err[0] == '\0');
    child_free(&c);
}

static void test_invalid_pairs(void) {
    const char *conf = "bogus_option:1,narenas:2,tcache:maybe";
    child_t c = run_child(conf);
    child_says(&c, conf, "narenas", "2"); /* the valid pair after the bad one applies */
    child_says(&c, conf, "tcache", "true");
    once(&c, conf, "<allocator>: Invalid conf pair: bogus_option:1");
    once(&c, conf, "<allocator>: Invalid conf pair: tcache:maybe");
    expect_zu_eq(count(c.err, "<allocator>:"), 2);
    child_free(&c);

    conf = "narenas:many";
    c = run_child(conf);
    child_says(&c, conf, "narenas", sym_narenas); /* the symbol's value stays */
    once(&c, conf, "<allocator>: Invalid conf pair: narenas:many");
    child_free(&c);

    /* A number out of range is rejected too, naming the pair. */
    conf = "dirty_decay_ms:-5";
    c = run_child(conf);
    child_says(&c, conf, "dirty_decay_ms", "10000");
    expect_zu_eq(count(c.err, "dirty_decay_ms:-5\n"), 1);
    expect_zu_eq(count(c.err, "<allocator>:"), 1);
    child_free(&c);
}

/* Options of features that are not built are refused, and keep their only value. */
static void test_unbuilt_features(void) {
    static const char *const pairs[][3] = {
        {"percpu_arena:phycpu", "percpu_arena", "disabled"},
    };
    char all[256] = "";
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        strcat(all, pairs[i][0]);
        strcat(all, ",");
        /* One at a time. */
        child_t c = run_child(pairs[i][0]);
        child_says(&c, pairs[i][0], pairs[i][1], pairs[i][2]);
        char msg[128];
        snprintf(msg, sizeof(msg), "<allocator>: Invalid conf pair: %s", pairs[i][0]);
        once(&c, pairs[i][0], msg);
        child_free(&c);
    }
    /* All at once, then a valid pair that must still apply. */
    strcat(all, "narenas:2");
    child_t c = run_child(all);
    child_says(&c, all, "narenas", "2");
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        child_says(&c, all, pairs[i][1], pairs[i][2]);
        expect_zu_eq(count(c.err, pairs[i][0]), 1);
    }
    expect_zu_eq(count(c.err, "<allocator>:"), sizeof(pairs) / sizeof(pairs[0]));
    child_free(&c);
    /* Their built values are accepted silently. */
    const char *ok = "dss:disabled,percpu_arena:disabled";
    c = run_child(ok);
    child_says(&c, ok, "narenas", sym_narenas);
    expect_true(c.err[0] == '\0');
    child_free(&c);
}

/* The decay and retention options are taken as given, and bad values refused. */
static void test_decay_options(void) {
    const char *conf = "background_thread:true,retain:false,muzzy_decay_ms:1000,"
                       "dirty_decay_ms:-1";
    child_t c = run_child(conf);
    child_says(&c, conf, "background_thread", "true");
    child_says(&c, conf, "retain", "false");
    child_says(&c, conf, "muzzy_decay_ms", "1000");
    child_says(&c, conf, "dirty_decay_ms", "-1");
    expect_true(c.err[0] == '\0');
    child_free(&c);
    conf = "muzzy_decay_ms:-2";
    c = run_child(conf);
    child_says(&c, conf, "muzzy_decay_ms", "0");
    expect_zu_eq(count(c.err, "<allocator>:"), 1);
    child_free(&c);
}

/* A string of n copies of c, then tail; freed by the caller. */
static char *repeat(char c, size_t n, const char *tail) {
    char *s = malloc(n + strlen(tail) + 1);
    require_ptr_not_null(s);
    memset(s, c, n);
    strcpy(s + n, tail);
    return s;
}

/* The child wrote its one report line on standard output and nothing else. */
static void only_report(const child_t *c, const char *conf) {
    if (!test_check_(count(c->out, "\n") == 1 && strncmp(c->out, "err=", 4) == 0)) {
        test_fail("MALLOC_CONF=%.80s: stdout is not just the report: \"%.300s\"", conf, c->out);
    }
}

static void test_hostile_strings(void) {
    /* Every pair here is refused; the valid ones after them apply. */
    static const char *const refused[] = {
        "narenas:99999999999999999999999", "narenas:-1", "narenas:-99999999999999999999",
        "narenas:18446744073709551617", "narenas:0x", "narenas:", "narenas:3:4", "narenas:2=3",
        "narenas: 2", "narenas:2 ", "narenas:--2", "narenas:0xfffffffffffffffffffff",
        "tcache_max:18446744073709551616", "tcache_max:-1", "oversize_threshold:-0x1",
        "dirty_decay_ms:-9223372036854775809", "dirty_decay_ms:9223372036854775807",
        "dirty_decay_ms:-2", "muzzy_decay_ms:-9223372036854775808", "lg_prof_sample:64",
        "tcache:true:false", "tcache:", "tcache:1", "junk:truee", "thp:always,",
    };
    char conf[2048] = "";
    for (size_t i = 0; i + 1 < sizeof(refused) / sizeof(refused[0]); i++) {
        strcat(conf, refused[i]);
        strcat(conf, ",");
    }
    strcat(conf, "narenas:2,dirty_decay_ms:5,tcache:false");
    child_t c = run_child(conf);
    child_says(&c, conf, "narenas", "2");
    child_says(&c, conf, "dirty_decay_ms", "5");
    child_says(&c, conf, "tcache", "false");
    for (size_t i = 0; i + 1 < sizeof(refused) / sizeof(refused[0]); i++) {
        char line[128];
        snprintf(line, sizeof(line), ": %s\n", refused[i]);
        if (!test_check_(count(c.err, line) == 1)) {
            test_fail("MALLOC_CONF=...%s...: expected one line ending \"%s\"; stderr \"%.600s\"",
                      refused[i], refused[i], c.err);
        }
    }
    expect_zu_eq(count(c.err, "<allocator>:"), sizeof(refused) / sizeof(refused[0]) - 1);
    only_report(&c, conf);
    child_free(&c);

    /* Malformed text ends the string; what came before applies. */
    static const char *const malformed[][2] = {
        {"narenas:2,,tcache:false", ",tcache:false"},
        {"narenas:2,tcache:false,", ","},
        {"narenas:2,tcache", "tcache"},
        {"narenas:2,tcache!:false", "tcache!:false"},
        {"narenas:2,:false", ":false"},
    };
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        c = run_child(malformed[i][0]);
        child_says(&c, malformed[i][0], "narenas", "2");
        char line[128];
        snprintf(line, sizeof(line), "<allocator>: Malformed conf string: %s", malformed[i][1]);
        once(&c, malformed[i][0], line);
        expect_zu_eq(count(c.err, "<allocator>:"), 1);
        only_report(&c, malformed[i][0]);
        child_free(&c);
    }

    /* Long values and keys: one bounded line each, and the next pair applies. */
    char *long_value = repeat('a', 60000, ",narenas:2");
    char *long_key = repeat('k', 60000, ":1,narenas:2");
    memcpy(long_value, "stats_print_opts:", 17);
    const char *longs[] = {long_value, long_key};
    for (size_t i = 0; i < 2; i++) {
        c = run_child(longs[i]);
        child_says(&c, "(60,000 characters)", "narenas", "2");
        expect_zu_eq(count(c.err, "<allocator>: Invalid conf pair: "), 1);
        expect_zu_eq(count(c.err, "\n"), 1);
        expect_zu_le(strlen(c.err), 1024);
        only_report(&c, "(60,000 characters)");
        child_free(&c);
    }
    free(long_value);
    free(long_key);

    /* abort_conf:true: malformed text is fatal too. */
    c = run_child("abort_conf:true,narenas:2,,");
    if (!test_check_(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT)) {
        test_fail("abort_conf with a malformed string: status 0x%x", (unsigned)c.status);
    }
    expect_true(c.out[0] == '\0');
    child_free(&c);
}

static void test_abort_conf(void) {
    static const char *const bad[] = {
        "abort_conf:true,bogus_option:1",
        "bogus_option:1,abort_conf:true", /* the error came first: still fatal */
        "abort_conf:true,dss:tertiary",
        "abort_conf:true,narenas:x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        child_t c = run_child(bad[i]);
        if (!test_check_(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT)) {
            test_fail("MALLOC_CONF=%s: expected the child to die of SIGABRT; status 0x%x, stdout "
                      "\"%.200s\", stderr \"%.300s\"",
                      bad[i], (unsigned)c.status, c.out, c.err);
        }
        expect_zu_ge(count(c.err, "<allocator>: Invalid conf pair: "), 1);
        expect_true(c.out[0] == '\0'); /* it died before main */
        child_free(&c);
    }
    const char *good = "abort_conf:true,narenas:2";
    child_t c = run_child(good);
    child_says(&c, good, "narenas", "2");
    child_says(&c, good, "abort_conf", "true");
    expect_true(c.err[0] == '\0');
    child_free(&c);
}

static void test_confirm_conf(void) {
    const char *conf = "confirm_conf:true,tcache:false";
    child_t c = run_child(conf);
    child_says(&c, conf, "narenas", sym_narenas);
    child_says(&c, conf, "tcache", "false");
    char line[128];
    snprintf(line, sizeof(line), "<allocator>: option narenas = %s (from %s)", sym_narenas,
             sym_source);
    once(&c, conf, line);
    once(&c, conf, "<allocator>: option tcache = false (from MALLOC_CONF)");
    once(&c, conf, "<allocator>: option confirm_conf = true (from MALLOC_CONF)");
    once(&c, conf, "<allocator>: option dirty_decay_ms = 10000 (from default)");
    once(&c, conf, "<allocator>: option abort_conf = false (from default)");
    once(&c, conf, "<allocator>: option junk = false (from default)");
    once(&c, conf, "<allocator>: option dss = \"secondary\" (from default)");
    /* Every option, each once. */
    static const char *const names[] = {
        "abort",
        "abort_conf",
        "confirm_conf",
        "narenas",
        "tcache",
        "tcache_max",
        "dirty_decay_ms",
        "junk",
        "zero",
        "xmalloc",
        "stats_print",
        "stats_print_opts",
        "muzzy_decay_ms",
        "retain",
        "background_thread",
        "max_background_threads",
        "oversize_threshold",
        "lg_extent_max_active_fit",
        "dss",
        "percpu_arena",
        "thp",
        "metadata_thp",
        "zero_realloc",
        "prof",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char needle[96];
        snprintf(needle, sizeof(needle), "<allocator>: option %s = ", names[i]);
        if (!test_check_(count(c.err, needle) == 1)) {
            test_fail("confirm_conf: \"%s\" appears %u times", needle, count(c.err, needle));
        }
    }
    /* Each line names a source. */
    unsigned lines = count(c.err, "<allocator>: option ");
    unsigned sourced = count(c.err, " (from default)\n") + count(c.err, " (from malloc_conf)\n") +
                       count(c.err, " (from MALLOC_CONF)\n");
    expect_zu_eq(lines, sourced);
    expect_zu_ge(lines, sizeof(names) / sizeof(names[0]));
    child_free(&c);

    /* Overridden by the environment, the source says so. */
    conf = "confirm_conf:true,narenas:2";
    c = run_child(conf);
    once(&c, conf, "<allocator>: option narenas = 2 (from MALLOC_CONF)");
    child_free(&c);

    /* A long string option is printed whole. */
    char *prefix = repeat('p', 200, ",confirm_conf:true");
    char *long_conf = malloc(strlen(prefix) + 16);
    require_ptr_not_null(long_conf);
    strcpy(long_conf, "prof_prefix:");
    strcat(long_conf, prefix);
    c = run_child(long_conf);
    char *want = malloc(400);
    require_ptr_not_null(want);
    snprintf(want, 400, "<allocator>: option prof_prefix = \"%.200s\" (from MALLOC_CONF)\n",
             prefix);
    if (!test_check_(count(c.err, want) == 1)) {
        test_fail("confirm_conf: expected \"%s\"; stderr \"%.2000s\"", want, c.err);
    }
    child_free(&c);
    free(want);
    free(long_conf);
    free(prefix);

    /* Without confirm_conf, nothing is printed. */
    c = run_child("tcache:false");
    expect_zu_eq(count(c.err, "<allocator>: option "), 0);
    child_free(&c);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--child") == 0) {
        child_report();
        return 0;
    }
    if (!test_allocator_active() || test_sym("mallctl") == NULL) {
        if (test_glibc_allowed()) {
            test_skip("options are liballocator's; nothing to test under glibc");
        }
        return test_done();
    }
    symbol_expectations();
    test_own_options();
    test_precedence();
    test_invalid_pairs();
    test_unbuilt_features();
    test_decay_options();
    test_hostile_strings();
    test_abort_conf();
    test_confirm_conf();
    return test_done();
}
