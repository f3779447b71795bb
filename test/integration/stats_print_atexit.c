/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * stats_print:true: the report at exit. It is written through a duplicate of standard error
 * taken at init (close-on-exec, so programs the process runs do not inherit it), so it survives
 * a program that closes standard error in its own atexit handler; when the program has set
 * malloc_message by then, the report goes there instead.
 *
 * Each case re-executes this test with stats_print:true added to MALLOC_CONF, its standard output
 * and error on one pipe, and reads what the child wrote.
 */
#include "../test.h"

#include <fcntl.h>
#include <sys/stat.h>

#define BEGIN "___ Begin allocator statistics ___"
#define END "___ End allocator statistics ___"

static char self_path[4096];

static void close_stderr(void) {
    static const char msg[] = "closing stderr\n";
    if (write(1, msg, sizeof(msg) - 1) < 0) {
        _exit(3);
    }
    close(2);
}

static void message_cb(void *opaque, const char *s) {
    (void)opaque;
    /* Each piece marked, so a report that bypassed the hook shows unmarked. */
    char buf[8192];
    int n = snprintf(buf, sizeof(buf), "MSG<%s>\n", s);
    if (n > 0 && write(1, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1) < 0) {
        _exit(3);
    }
}

/* The duplicate of fd 2 at 100 or above: the same open pipe, close-on-exec. */
static int find_duplicate(bool *cloexec) {
    struct stat err;
    if (fstat(2, &err) != 0) {
        return -1;
    }
    for (int fd = 100; fd < 4096; fd++) {
        struct stat st;
        if (fstat(fd, &st) == 0 && st.st_dev == err.st_dev && st.st_ino == err.st_ino) {
            *cloexec = (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
            return fd;
        }
    }
    return -1;
}

static int child(const char *mode) {
    free(test_launder(malloc(100))); /* the allocator is up: its atexit handler is registered */
    if (strcmp(mode, "--child-close") == 0) {
        atexit(close_stderr); /* registered later, so it runs first */
    } else if (strcmp(mode, "--child-message") == 0) {
        void (**hook)(void *, const char *) = test_sym("malloc_message");
        if (hook == NULL) {
            return 2;
        }
        *hook = message_cb;
    } else if (strcmp(mode, "--child-cloexec") == 0) {
        bool cloexec = false;
        int fd = find_duplicate(&cloexec);
        printf("duplicate %s, cloexec %d\n", fd >= 100 ? "found" : "missing", cloexec);
        fflush(stdout);
    }
    return 0;
}

static int run_child(const char *mode, char *out, size_t outsize) {
    int fd = -1;
    pid_t pid = test_fork_piped(&fd, true);
    if (pid == 0) {
        char conf[1024];
        const char *old = getenv("MALLOC_CONF");
        snprintf(conf, sizeof(conf), "%s%sstats_print:true", old != NULL ? old : "",
                 old != NULL && old[0] != '\0' ? "," : "");
        setenv("MALLOC_CONF", conf, 1);
        execl(self_path, self_path, mode, (char *)NULL);
        _exit(127);
    }
    return test_child_collect(fd, pid, out, outsize);
}

static bool exited_ok(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

int main(int argc, char **argv) {
    if (argc > 1) {
        return child(argv[1]);
    }
    if (!test_allocator_active()) {
        return test_done();
    }
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
    require_true(n > 0);
    self_path[n] = '\0';
    static char out[1 << 20];

    /* The program closes standard error in its atexit handler: the report still comes. */
    expect_true(exited_ok(run_child("--child-close", out, sizeof(out))));
    const char *closing = strstr(out, "closing stderr\n");
    expect_ptr_not_null(closing);
    expect_str_contains(closing, BEGIN);
    expect_str_contains(closing, END);

    /* malloc_message set: every piece of the report goes through it. */
    expect_true(exited_ok(run_child("--child-message", out, sizeof(out))));
    expect_str_contains(out, "MSG<" BEGIN);
    expect_str_contains(out, END "\n>\n");
    const char *begin = strstr(out, BEGIN);
    expect_true(begin != NULL && begin >= out + 4 && strncmp(begin - 4, "MSG<", 4) == 0);
    expect_ptr_null(strstr(begin != NULL ? begin + 1 : out, BEGIN)); /* one report only */

    /* The duplicate exists and is close-on-exec. */
    expect_true(exited_ok(run_child("--child-cloexec", out, sizeof(out))));
    expect_str_contains(out, "duplicate found, cloexec 1\n");
    expect_str_contains(out, BEGIN);
    return test_done();
}
