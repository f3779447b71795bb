/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The zero_realloc option, which decides realloc(p, 0): each value in a child process of its own
 * (this program re-executed as "--child" with MALLOC_CONF set), since options are read once:
 *   - free (the default, glibc's behaviour): p is freed and the result is NULL;
 *   - alloc: the result is a new minimal block, p is freed;
 *   - abort: the process dies of SIGABRT with the manual's message;
 * and opt.zero_realloc reads the word back in each. The parent's own MALLOC_CONF (the CHECK_CONFS
 * reruns) is kept for the children, with zero_realloc appended so that it wins.
 */
#include "../test.h"

#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>

extern char **environ;

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
    errno = 0;
    void *r = test_launder(realloc(p, 0));
    printf("result=%s errno=%d usable=%zu\n", r == NULL ? "null" : "block", errno,
           r != NULL ? malloc_usable_size(r) : 0);
    fflush(stdout);
    free(r);
    return 0;
}

typedef struct {
    int status;
    char *out, *err;
} child_t;

static child_t run_child(const char *value) {
    child_t c = {-1, NULL, NULL};
    FILE *out = tmpfile(), *err = tmpfile();
    require_true(out != NULL && err != NULL);
    size_t n = 0;
    while (environ[n] != NULL)
        n++;
    char **env = calloc(n + 2, sizeof(char *));
    require_ptr_not_null(env);
    const char *old = getenv("MALLOC_CONF");
    char conf[512];
    snprintf(conf, sizeof(conf), "MALLOC_CONF=%s%szero_realloc:%s", old != NULL ? old : "",
             old != NULL && *old != '\0' ? "," : "", value);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "MALLOC_CONF=", 12) != 0)
            env[k++] = environ[i];
    }
    env[k++] = conf;
    env[k] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    require_true(pid >= 0);
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        dup2(fileno(out), 1);
        dup2(fileno(err), 2);
        char *argv[] = {"zero_realloc", "--child", NULL};
        execve("/proc/self/exe", argv, env);
        _exit(127);
    }
    require_true(waitpid(pid, &c.status, 0) == pid);
    c.out = test_read_stream(out);
    c.err = test_read_stream(err);
    require_true(c.out != NULL && c.err != NULL);
    free(env);
    return c;
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
    free(c.out), free(c.err);

    c = run_child("alloc");
    expect_true(exited_0(&c));
    expect_str_contains(c.out, "mallctl=0 opt=alloc\n");
    expect_str_contains(c.out, "result=block errno=0 usable=");
    expect_true(strstr(c.out, "usable=0\n") == NULL);
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
