/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The zero_realloc option, which decides realloc(p, 0): each value in a child process of its own
 * (this program re-executed as "--child" with MALLOC_CONF set), since options are read once:
 *   - free (the default, glibc's behaviour): p is freed and the result is NULL;
 *   - alloc: the result is a new minimal block, p is freed;
 *   - abort: the process dies of SIGABRT with the manual's message;
 * and opt.zero_realloc reads the word back in each, and stats.zero_reallocs counts the call
 * (realloc(NULL, 0) is no such call). The parent's own MALLOC_CONF (the CHECK_CONFS
 * reruns) is kept for the children, with zero_realloc appended so that it wins.
 */
#include "../test.h"

#include <malloc.h>
#include <signal.h>


static size_t zero_reallocs(void) {
    size_t n = 0, len = sizeof(n);
    return mallctl("stats.zero_reallocs", &n, &len, NULL, 0) == 0 ? n : (size_t)-1;
}

/* The child: one realloc(p, 0), then what came of it on standard output. */
static int child(void) {
    const char *word = NULL;
    size_t len = sizeof(word);
    int err = mallctl("opt.zero_realloc", &word, &len, NULL, 0);
    printf("mallctl=%d opt=%s\n", err, err == 0 ? word : "?");
    fflush(stdout); /* before a realloc that may abort */
    char *p = test_launder(malloc(100));
    if (p == NULL)
        return 2;
    memset(p, 7, 100);
    free(test_launder(realloc(NULL, 0)));
    size_t before = zero_reallocs();
    errno = 0;
    void *r = test_launder(realloc(p, 0));
    int saved = errno;
    size_t after = zero_reallocs();
    printf("result=%s errno=%d usable=%zu\n", r == NULL ? "null" : "block", saved,
           r != NULL ? malloc_usable_size(r) : 0);
    printf("zero_reallocs %zu -> %zu\n", before, after);
    fflush(stdout);
    free(r);
    return 0;
}

typedef test_child_t child_t;

/* Runs this program as a child with zero_realloc:value added to MALLOC_CONF. */
static child_t run_child(const char *value) {
    const char *old = getenv("MALLOC_CONF");
    char conf[512];
    snprintf(conf, sizeof(conf), "%s%szero_realloc:%s", old != NULL ? old : "",
             old != NULL && *old != '\0' ? "," : "", value);
    return test_run_self("zero_realloc", "--child", conf);
}

static bool exited_0(const child_t *c) {
    bool ok = WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0;
    if (!ok)
        fprintf(stderr, "child status %#x; stdout:\n%s\nstderr:\n%s\n", c->status, c->out, c->err);
    return ok;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--child") == 0)
        return child();
    if (!test_allocator_active())
        test_skip("the allocator is not the one serving malloc");

    child_t c = run_child("free");
    expect_true(exited_0(&c));
    expect_str_contains(c.out, "mallctl=0 opt=free\n");
    expect_str_contains(c.out, "result=null errno=0 usable=0\n");
    expect_str_contains(c.out, "zero_reallocs 0 -> 1\n");
    free(c.out), free(c.err);

    c = run_child("alloc");
    expect_true(exited_0(&c));
    expect_str_contains(c.out, "mallctl=0 opt=alloc\n");
    expect_str_contains(c.out, "result=block errno=0 usable=");
    expect_true(strstr(c.out, "usable=0\n") == NULL);
    expect_str_contains(c.out, "zero_reallocs 0 -> 1\n");
    free(c.out), free(c.err);

    c = run_child("abort");
    expect_true(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT);
    expect_str_contains(c.out, "mallctl=0 opt=abort\n");
    expect_true(strstr(c.out, "result=") == NULL);
    expect_str_contains(c.err, ", 0) with zero_realloc:abort");
    free(c.out), free(c.err);

    /* A word that only starts like a valid one is invalid: the default stays. */
    c = run_child("ab");
    expect_true(exited_0(&c));
    expect_str_contains(c.err, "Invalid conf pair: zero_realloc:ab");
    expect_str_contains(c.out, "mallctl=0 opt=free\n");
    expect_str_contains(c.out, "result=null");
    free(c.out), free(c.err);
    return test_done();
}
