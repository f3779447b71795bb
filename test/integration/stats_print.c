/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * malloc_stats_print: the text report, the JSON report ('J') in jemalloc 5's layout, the option
 * letters that leave sections out (g m a b l x e; d and h have nothing to leave out), and where
 * the report goes without a write callback (malloc_message, else standard error).
 *
 * A known mix of blocks is held while reporting: 1000 x 100 B (the 112 B class) and 10 x 1 MiB.
 * The text and JSON reports are taken back to back, with nothing allocated in between, so their
 * totals must agree with each other and with mallinfo2() (which reads the same totals). JSON is
 * checked by a structural scan here and, when python3 is installed, parsed by python3's json
 * module, which also checks the tables against the size-class arrays. String escaping is checked
 * in a re-executed copy of this test whose stats_print_opts holds a quote, a backslash, a tab
 * and a byte that is not UTF-8.
 */
#include "../test.h"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sys/wait.h>

#define OUT_MAX ((size_t)8 << 20)
#define NSMALL 1000
#define NLARGE 10
#define WEIRD_OPTS                                                                                 \
    "a\"b\\c\td\xff"                                                                               \
    "e"
#define WEIRD_JSON "\"stats_print_opts\": \"a\\\"b\\\\c\\u0009d\\ufffde\""

typedef void stats_print_fn(void (*)(void *, const char *), void *, const char *);
static stats_print_fn *stats_print_f;

/* Output of one report, appended by out_cb without allocating. */
typedef struct {
    char *buf;
    size_t len;
    bool overflow;
    bool allocate; /* also malloc and free inside the callback */
} out_t;

static char text_buf[OUT_MAX], json_buf[OUT_MAX], aux_buf[OUT_MAX];

static void out_cb(void *opaque, const char *s) {
    out_t *o = opaque;
    size_t n = strlen(s);
    if (o->allocate) {
        free(test_launder(malloc(n + 1)));
    }
    if (o->len + n + 1 > OUT_MAX) {
        o->overflow = true;
        return;
    }
    memcpy(o->buf + o->len, s, n + 1);
    o->len += n;
}

static char *report_into(char *buf, const char *opts, bool allocate) {
    out_t o = {buf, 0, false, allocate};
    buf[0] = '\0';
    stats_print_f(out_cb, &o, opts);
    expect_false(o.overflow);
    return buf;
}

static char *report(const char *opts) { return report_into(aux_buf, opts, false); }

static unsigned long long number_after(const char *s, const char *key) {
    const char *p = s != NULL ? strstr(s, key) : NULL;
    return p != NULL ? strtoull(p + strlen(key), NULL, 10) : ~0ULL;
}

/*
 * A structural check of JSON without a parser: strings closed and free of raw control
 * characters, brackets balanced and matched, no comma before a closing bracket, one value.
 */
static bool json_well_formed(const char *s) {
    char stack[64];
    int depth = 0;
    bool in_str = false, done = false;
    char prev = 0;
    for (; *s != '\0'; s++) {
        char c = *s;
        if (in_str) {
            if (c == '\\' && s[1] != '\0') {
                s++;
            } else if (c == '"') {
                in_str = false;
            } else if ((unsigned char)c < 0x20) {
                return false;
            }
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\n') {
            continue;
        }
        if (done) {
            return false;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (depth == (int)sizeof(stack)) {
                return false;
            }
            stack[depth++] = c == '{' ? '}' : ']';
        } else if (c == '}' || c == ']') {
            if (depth == 0 || stack[--depth] != c || prev == ',') {
                return false;
            }
            done = depth == 0;
        }
        prev = c;
    }
    return !in_str && depth == 0 && done;
}

static bool have_python(void) {
    static int state; /* 0 unknown, 1 yes, 2 no */
    if (state == 0) {
        state = system("command -v python3 >/dev/null 2>&1") == 0 ? 1 : 2;
    }
    return state == 1;
}

/* Scratch directory: TEST_TMPDIR (set by test/run.sh), else a fresh one. */
static const char *tmpdir(void) {
    static char dir[512];
    if (dir[0] == '\0') {
        const char *d = getenv("TEST_TMPDIR");
        snprintf(dir, sizeof(dir), "%s", d != NULL && d[0] != '\0' ? d : "/tmp/stats_print.XXXXXX");
        if (d == NULL || d[0] == '\0') {
            require_ptr_not_null(mkdtemp(dir));
        }
    }
    return dir;
}

static bool write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return false;
    }
    bool ok = fputs(s, f) >= 0;
    return fclose(f) == 0 && ok;
}

static void save_json(const char *name, const char *json) {
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir(), name);
    expect_true(write_file(path, json));
}

/* The JSON report parses: the structural scan now, python3's parser at the end (python_checks). */
static void expect_json_parses(const char *json, const char *opts) {
    static unsigned n;
    if (!expect_true(json_well_formed(json))) {
        fprintf(stderr, "malformed JSON for opts \"%s\"\n", opts);
    }
    char name[64];
    snprintf(name, sizeof(name), "report%03u.json", n++);
    save_json(name, json);
}

/*
 * One python3 run (it is slow to start): parses every saved report, then prints values from
 * main.json (the "J" report taken beside the text one) and child.json (test_escaping), one
 * "name value" per line.
 */
static const char python_check[] =
    "import glob, json, os, sys\n"
    "dir = sys.argv[1]\n"
    "nbad = 0\n"
    "for p in sorted(glob.glob(os.path.join(dir, 'report*.json'))):\n"
    "    try:\n"
    "        json.load(open(p))\n"
    "    except ValueError as e:\n"
    "        nbad += 1\n"
    "        print('rejected', p, e)\n"
    "print('nbad', nbad)\n"
    "d = json.load(open(os.path.join(dir, 'main.json')))['jemalloc']\n"
    "a, s, sa = d['arenas'], d['stats'], d['stats.arenas']\n"
    "m = sa['merged']\n"
    "per = [v for k, v in sa.items() if k != 'merged']\n"
    "bi = [b['size'] for b in a['bin']].index(112)\n"
    "li = [l['size'] for l in a['lextent']].index(1048576)\n"
    "def alloc(v): return v['small']['allocated'] + v['large']['allocated']\n"
    "print('allocated', s['allocated'])\n"
    "print('merged', alloc(m))\n"
    "print('arenas', sum(alloc(v) for v in per))\n"
    "print('narenas', len(per))\n"
    "print('curregs', m['bins'][bi]['curregs'])\n"
    "print('curlextents', m['lextents'][li]['curlextents'])\n"
    "print('tables', int(len(a['bin']) == a['nbins'] == len(m['bins']) and\n"
    "                  len(a['lextent']) == a['nlextents'] == len(m['lextents']) and\n"
    "                  all(len(v['bins']) == a['nbins'] for v in per)))\n"
    "o = json.load(open(os.path.join(dir, 'child.json')))['jemalloc']['opt']\n"
    "print('escaped', int(o['stats_print_opts'] == 'a\"b\\\\c\\td\\ufffde'))\n";

static unsigned long long main_allocated = ~0ULL;

static void python_checks(void) {
    if (!have_python()) {
        return; /* the structural scans and exact-text checks stand alone */
    }
    char spath[512], opath[512], cmd[2048];
    snprintf(spath, sizeof(spath), "%s/check.py", tmpdir());
    snprintf(opath, sizeof(opath), "%s/check.out", tmpdir());
    require_true(write_file(spath, python_check));
    snprintf(cmd, sizeof(cmd), "python3 '%s' '%s' >'%s' 2>&1", spath, tmpdir(), opath);
    int rc = system(cmd);
    FILE *f = fopen(opath, "r");
    char *out = f != NULL ? test_read_stream(f) : NULL;
    require_ptr_not_null(out);
    if (!expect_d_eq(rc, 0) || number_after(out, "nbad ") != 0) {
        fprintf(stderr, "python3's check of the JSON reports:\n%s\n", out);
    }
    expect_zu_eq(number_after(out, "nbad "), 0);
    expect_zu_eq(number_after(out, "allocated "), main_allocated);
    expect_zu_eq(number_after(out, "merged "), main_allocated);
    expect_zu_eq(number_after(out, "arenas "), main_allocated);
    expect_zu_ge(number_after(out, "narenas "), 1);
    expect_zu_ge(number_after(out, "curregs "), NSMALL);
    expect_zu_ge(number_after(out, "curlextents "), NLARGE);
    expect_zu_eq(number_after(out, "tables "), 1);
    expect_zu_eq(number_after(out, "escaped "), 1);
    free(out);
}

/* The first row in [from, to) whose 7 numeric columns start with size; its 7th column. */
static long long table_col7(const char *from, const char *to, size_t size) {
    for (const char *line = from; line != NULL && line < to; line = strchr(line, '\n')) {
        line += *line == '\n';
        size_t sz;
        unsigned ind;
        unsigned long long c3, c4, c5, c6, c7;
        if (sscanf(line, "%zu %u %llu %llu %llu %llu %llu", &sz, &ind, &c3, &c4, &c5, &c6, &c7) ==
                7 &&
            sz == size) {
            return (long long)c7;
        }
    }
    return -1;
}

static void test_text_and_json(void) {
    /* Back to back, nothing allocated in between: the totals are the same numbers. */
    char *text = report_into(text_buf, "", false);
    char *json = report_into(json_buf, "J", false);
    struct mallinfo2 mi = mallinfo2();

    size_t begin_len = strlen("___ Begin allocator statistics ___\n");
    const char *end_line = "___ End allocator statistics ___\n";
    expect_true(strncmp(text, "___ Begin allocator statistics ___\n", begin_len) == 0);
    expect_true(strlen(text) > strlen(end_line) &&
                strcmp(text + strlen(text) - strlen(end_line), end_line) == 0);
    expect_str_contains(text, "\nAllocated: ");
    expect_str_contains(text, ", active: ");
    expect_str_contains(text, ", metadata: ");
    expect_str_contains(text, ", resident: ");
    expect_str_contains(text, ", mapped: ");
    expect_str_contains(text, ", retained: ");
    expect_str_contains(text, "\nAllocations: nmalloc ");
    expect_str_contains(text, "\nVersion: \"");
    expect_str_contains(text, "Build-time option settings\n");
    expect_str_contains(text, "Run-time option settings\n");
    expect_str_contains(text, "  opt.tcache: ");
    expect_str_contains(text, "  opt.dirty_decay_ms: ");
    expect_str_contains(text, "\nCPUs: ");
    expect_str_contains(text, "\nMerged arenas stats:\n");
    expect_str_contains(text, "\narenas[0]:\n");

    unsigned long long allocated = number_after(text, "\nAllocated: ");
    expect_zu_ge(allocated, NSMALL * 112 + NLARGE * ((size_t)1 << 20));
    expect_zu_eq(allocated, mi.uordblks);
    expect_zu_ge(test_stats_nmalloc(text), NSMALL + NLARGE);

    /* The merged tables hold the mix. */
    const char *merged = strstr(text, "Merged arenas stats:");
    const char *arena0 = merged != NULL ? strstr(merged, "arenas[0]:") : NULL;
    require_true(merged != NULL && arena0 != NULL);
    const char *bins = strstr(merged, "curslabs");
    const char *large = strstr(merged, "curlextents");
    const char *extents = strstr(merged, "nretained");
    require_true(bins != NULL && large != NULL && extents != NULL);
    require_true(bins < large && large < extents && extents < arena0);
    expect_d_ge(table_col7(bins, large, 112), NSMALL);
    expect_d_ge(table_col7(large, extents, (size_t)1 << 20), NLARGE);

    /* JSON: the same totals, the jemalloc layout. */
    expect_true(strncmp(json, "{\n\"jemalloc\": {", 15) == 0);
    expect_json_parses(json, "J");
    const char *jstats = strstr(json, "\n\t\"stats\": {");
    require_true(jstats != NULL);
    expect_zu_eq(number_after(jstats, "\"allocated\": "), allocated);
    expect_zu_eq(number_after(jstats, "\"nmalloc\": "), (size_t)test_stats_nmalloc(text));
    static const char *const keys[] = {
        "\"version\": ",        "\"config\": {",      "\"opt\": {",     "\"arenas\": {",
        "\"narenas\": ",        "\"quantum\": 16",    "\"page\": ",     "\"tcache_max\": ",
        "\"nbins\": ",          "\"nhbins\": ",       "\"bin\": [",     "\"nregs\": ",
        "\"slab_size\": ",      "\"nlextents\": ",    "\"lextent\": [", "\"stats\": {",
        "\"metadata\": ",       "\"resident\": ",     "\"mapped\": ",   "\"retained\": ",
        "\"stats.arenas\": {",  "\"merged\": {",      "\"0\": {",       "\"nthreads\": ",
        "\"pactive\": ",        "\"pdirty\": ",       "\"pmuzzy\": 0",  "\"dirty_npurge\": ",
        "\"dirty_nmadvise\": ", "\"dirty_purged\": ", "\"small\": {",   "\"large\": {",
        "\"bins\": [",          "\"curregs\": ",      "\"curslabs\": ", "\"nfills\": ",
        "\"nflushes\": ",       "\"nslabs\": ",       "\"nreslabs\": ", "\"lextents\": [",
        "\"curlextents\": ",    "\"extents\": [",     "\"mutexes\": {", "\"num_wait\": ",
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        expect_str_contains(json, keys[i]);
    }

    main_allocated = allocated;
    save_json("main.json", json);
}

/* Each letter leaves out its section and nothing else. */
static void test_letters(void) {
    static const struct {
        const char *opts;
        const char *gone[3];
        const char *kept[2];
    } cases[] = {
        {"g",
         {"Version:", "Run-time option settings", "Quantum size"},
         {"Merged arenas", "arenas[0]:"}},
        {"m", {"Merged arenas stats:"}, {"arenas[0]:", "Version:"}},
        {"a", {"arenas[0]:"}, {"Merged arenas stats:", "Version:"}},
        {"ma", {"Merged arenas stats:", "arenas[0]:", "curslabs"}, {"Version:"}},
        {"b", {"curslabs"}, {"curlextents", "nretained"}},
        {"l", {"curlextents"}, {"curslabs", "nretained"}},
        {"x", {"n_waiting"}, {"curslabs", "nretained"}},
        {"e", {"nretained"}, {"curslabs", "curlextents"}},
        {"d", {NULL}, {"Merged arenas stats:", "arenas[0]:"}},
        {"h", {NULL}, {"Merged arenas stats:", "arenas[0]:"}},
        {"gmablxedh", {"Version:", "arenas[0]:", "curslabs"}, {NULL}},
        {"?!z", {NULL}, {"Version:", "curslabs"}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = report(cases[i].opts);
        expect_true(strncmp(text, "___ Begin allocator statistics ___\n", 35) == 0);
        expect_str_contains(text, "\nAllocated: ");
        expect_str_contains(text, "\nAllocations: nmalloc ");
        expect_str_contains(text, "___ End allocator statistics ___\n");
        for (int g = 0; g < 3 && cases[i].gone[g] != NULL; g++) {
            if (!expect_true(strstr(text, cases[i].gone[g]) == NULL)) {
                fprintf(stderr, "opts \"%s\" printed \"%s\"\n", cases[i].opts, cases[i].gone[g]);
            }
        }
        for (int k = 0; k < 2 && cases[i].kept[k] != NULL; k++) {
            if (!expect_true(strstr(text, cases[i].kept[k]) != NULL)) {
                fprintf(stderr, "opts \"%s\" left out \"%s\"\n", cases[i].opts, cases[i].kept[k]);
            }
        }
    }

    static const struct {
        const char *opts;
        const char *gone[3];
        const char *kept;
    } jcases[] = {
        {"Jg", {"\"version\"", "\"opt\"", "\"arenas\""}, "\"merged\""},
        {"Jm", {"\"merged\""}, "\"0\": {"},
        {"Ja", {"\"0\": {"}, "\"merged\""},
        {"Jma", {"\"stats.arenas\""}, "\"stats\": {"},
        {"Jb", {"\"bins\""}, "\"lextents\""},
        {"Jl", {"\"lextents\""}, "\"bins\""},
        {"Jx", {"\"num_wait\"", "\"mutexes\"", "\"mutex\""}, "\"bins\""},
        {"Je", {"\"extents\": ["}, "\"bins\""},
        {"Jdh", {NULL}, "\"merged\""},
        {"gmablxedhJ", {"\"version\"", "\"merged\"", "\"0\": {"}, "\"allocated\""},
    };
    for (size_t i = 0; i < sizeof(jcases) / sizeof(jcases[0]); i++) {
        char *json = report(jcases[i].opts);
        expect_json_parses(json, jcases[i].opts);
        expect_str_contains(json, "\"jemalloc\": {");
        expect_str_contains(json, jcases[i].kept);
        for (int g = 0; g < 3 && jcases[i].gone[g] != NULL; g++) {
            if (!expect_true(strstr(json, jcases[i].gone[g]) == NULL)) {
                fprintf(stderr, "opts \"%s\" printed %s\n", jcases[i].opts, jcases[i].gone[g]);
            }
        }
    }
}

/* write_cb NULL: malloc_message when the program set one, else standard error. */
static void test_default_output(void) {
    test_capture_t cap;
    require_true(test_capture_begin(&cap));
    stats_print_f(NULL, NULL, "");
    char *text = test_capture_end(&cap);
    require_ptr_not_null(text);
    expect_true(strncmp(text, "___ Begin allocator statistics ___\n", 35) == 0);
    expect_str_contains(text, "\nAllocated: ");
    expect_str_contains(text, "___ End allocator statistics ___\n");
    free(text);

    require_true(test_capture_begin(&cap));
    stats_print_f(NULL, NULL, "J");
    text = test_capture_end(&cap);
    require_ptr_not_null(text);
    expect_json_parses(text, "J to stderr");
    free(text);

    typedef void message_fn(void *, const char *);
    message_fn **message = (message_fn **)test_sym("malloc_message");
    require_ptr_not_null(message);
    out_t o = {aux_buf, 0, false, false};
    aux_buf[0] = '\0';
    require_true(test_capture_begin(&cap));
    *message = out_cb;
    stats_print_f(NULL, &o, "ga");
    *message = NULL;
    text = test_capture_end(&cap);
    require_ptr_not_null(text);
    expect_zu_eq(strlen(text), 0); /* nothing on standard error */
    free(text);
    expect_true(strncmp(aux_buf, "___ Begin allocator statistics ___\n", 35) == 0);
    expect_str_contains(aux_buf, "___ End allocator statistics ___\n");
}

/* Reports while another thread allocates, and from a callback that itself allocates. */
static volatile int stop;

static void *churn(void *arg) {
    (void)arg;
    void *keep[64] = {NULL};
    for (unsigned i = 0; !stop; i++) {
        unsigned k = i % 64;
        free(keep[k]);
        keep[k] = malloc((size_t)16 << (i % 17));
    }
    for (unsigned k = 0; k < 64; k++) {
        free(keep[k]);
    }
    return NULL;
}

static void test_concurrent(void) {
    pthread_t t;
    require_true(pthread_create(&t, NULL, churn, NULL) == 0);
    for (int i = 0; i < 20; i++) {
        char *json = report_into(aux_buf, i % 2 ? "J" : "Jbl", true);
        if (!json_well_formed(json)) {
            expect_true(false);
            break;
        }
        char *text = report_into(aux_buf, "", true);
        expect_str_contains(text, "___ End allocator statistics ___\n");
    }
    stop = 1;
    pthread_join(t, NULL);
    char *json = report_into(json_buf, "J", true);
    expect_json_parses(json, "J after threads");
}

/*
 * A destroyed arena leaves its per-arena section and, its counters kept, appears in the
 * "destroyed" section ('d' omits it). Set to 1 once arena destruction (ctl.c) records the
 * arena with stats_arena_destroyed(); until then only the omissions are checked.
 */
#define STATS_DESTROYED_RECORDED 1

static void test_destroyed(void) {
    typedef int mallctl_fn(const char *, void *, size_t *, void *, size_t);
    typedef void *mallocx_fn(size_t, int);
    mallctl_fn *mallctl_f = (mallctl_fn *)test_sym("mallctl");
    mallocx_fn *mallocx_f = (mallocx_fn *)test_sym("mallocx");
    require_true(mallctl_f != NULL && mallocx_f != NULL);
    unsigned ind;
    size_t sz = sizeof(ind);
    require_true(mallctl_f("arenas.create", &ind, &sz, NULL, 0) == 0);
    for (int i = 0; i < 100; i++) {
        void *p = mallocx_f(100, MALLOCX_ARENA(ind) | MALLOCX_TCACHE_NONE);
        require_ptr_not_null(p);
        free(p);
    }
    char name[64], section[64];
    snprintf(section, sizeof(section), "\narenas[%u]:\n", ind);
    expect_str_contains(report(""), section);
    snprintf(name, sizeof(name), "arena.%u.destroy", ind);
    require_true(mallctl_f(name, NULL, NULL, NULL, 0) == 0);

    char *text = report("");
    expect_true(strstr(text, section) == NULL);
    const char *d = strstr(text, "Destroyed arenas stats:");
    if (STATS_DESTROYED_RECORDED || d != NULL) {
        require_ptr_not_null(d);
        const char *small = strstr(d, "small:");
        unsigned long long allocated = ~0ULL, nmalloc = 0;
        require_ptr_not_null(small);
        expect_d_eq(sscanf(small + strlen("small:"), "%llu %llu", &allocated, &nmalloc), 2);
        expect_zu_ge(nmalloc, 100);
        char *json = report("J");
        expect_json_parses(json, "J with a destroyed arena");
        expect_str_contains(json, "\"destroyed\": {");
    }
    text = report("d");
    expect_true(strstr(text, "Destroyed arenas stats:") == NULL);
    expect_true(strstr(report("Jd"), "\"destroyed\"") == NULL);
}

/* String escaping, in a copy of this program whose stats_print_opts is WEIRD_OPTS. */
static int child_main(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        return 2;
    }
    char *json = report_into(json_buf, "Jma", false);
    size_t len = strlen(json);
    return write(fd, json, len) == (ssize_t)len && close(fd) == 0 ? 0 : 3;
}

static void test_escaping(void) {
    char path[512], conf[512];
    snprintf(path, sizeof(path), "%s/child.json", tmpdir());
    const char *old = getenv("MALLOC_CONF");
    snprintf(conf, sizeof(conf), "%s%sstats_print_opts:%s", old != NULL ? old : "",
             old != NULL && old[0] != '\0' ? "," : "", WEIRD_OPTS);
    fflush(NULL);
    pid_t pid = fork();
    require_true(pid >= 0);
    if (pid == 0) {
        setenv("MALLOC_CONF", conf, 1);
        setenv("STATS_PRINT_CHILD", path, 1);
        execl("/proc/self/exe", program_invocation_name, (char *)NULL);
        _exit(127);
    }
    int status;
    require_true(waitpid(pid, &status, 0) == pid);
    require_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    FILE *f = fopen(path, "r");
    require_ptr_not_null(f);
    char *json = test_read_stream(f);
    require_ptr_not_null(json);
    expect_str_contains(json, WEIRD_JSON);
    expect_json_parses(json, "Jma, stats_print_opts with escapes");
    free(json);
}

int main(void) {
    const char *child = getenv("STATS_PRINT_CHILD");
    if (!test_allocator_active()) {
        if (test_glibc_allowed()) {
            test_skip("liballocator is not in place (TEST_ALLOW_GLIBC=1)");
        }
        return test_done();
    }
    stats_print_f = (stats_print_fn *)test_sym("malloc_stats_print");
    require_ptr_not_null(stats_print_f);
    if (child != NULL) {
        return child_main(child);
    }

    static void *small[NSMALL], *large[NLARGE];
    for (int i = 0; i < NSMALL; i++) {
        small[i] = test_launder(malloc(100));
        require_ptr_not_null(small[i]);
    }
    for (int i = 0; i < NLARGE; i++) {
        large[i] = test_launder(malloc((size_t)1 << 20));
        require_ptr_not_null(large[i]);
    }

    test_text_and_json();
    test_letters();
    test_default_output();
    test_escaping();
    test_concurrent();
    test_destroyed();
    python_checks();

    for (int i = 0; i < NSMALL; i++) {
        free(small[i]);
    }
    for (int i = 0; i < NLARGE; i++) {
        free(large[i]);
    }
    return test_done();
}
