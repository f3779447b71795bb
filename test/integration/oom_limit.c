/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Running out of address space: under `prlimit --as=512MiB` (setrlimit when prlimit is missing),
 * a child process allocates ever more memory (64 MiB blocks, then 1 MiB, 16 KiB and 256 bytes)
 * until each size returns NULL with errno ENOMEM. The program then goes on: it frees everything
 * and allocates normally, and another thread, waiting all along, allocates every kind of block and
 * reads statistics while the main thread does too (MALLOC_CONF gets narenas:1, so both use the
 * same arena's locks): no lock was left held by a failed path. A second child runs the same
 * exhaustion with MALLOC_CONF=xmalloc:true and must abort with a "<allocator>: " message.
 *
 * The parent checks both children's exit status and output. Children inherit LD_PRELOAD and
 * MALLOC_CONF, so the preload and MALLOC_CONF reruns exercise the same paths.
 */
#include "../test.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#define MiB ((size_t)1 << 20)
#define AS_LIMIT (512 * MiB)

/* ---- the children --------------------------------------------------------------------------- */

/* Blocks held during exhaustion: static, so holding them needs no allocation. */
enum { MAX_BLOCKS = 1 << 18 };
static void *held[MAX_BLOCKS];
static size_t nheld;

/* say(): write a line to stdout with no stdio buffer (stdio may not get one once memory is out). */
static void say(const char *s) {
    size_t len = strlen(s);
    while (len > 0) {
        ssize_t w = write(1, s, len);
        if (w <= 0) {
            return;
        }
        s += w;
        len -= (size_t)w;
    }
}

/* Allocates blocks of one size until NULL; returns how many it got; *err is the final errno. */
static size_t exhaust(size_t size, int *err) {
    size_t n = 0;
    while (nheld < MAX_BLOCKS) {
        errno = 0;
        void *p = malloc(size);
        if (p == NULL) {
            *err = errno;
            return n;
        }
        ((volatile char *)p)[0] = 1; /* keep the allocation; do not touch the rest */
        held[nheld++] = p;
        n++;
    }
    *err = -1; /* never failed */
    return n;
}

static int pipe_go[2];
static const char *thread_verdict = "did not run";

typedef int (*mallctl_fn)(const char *, void *, size_t *, void *, size_t);

static bool stats_read(void) {
    mallctl_fn ctl = (mallctl_fn)test_sym("mallctl");
    if (ctl == NULL) {
        return true; /* checked by the parent through test_allocator_active() */
    }
    uint64_t epoch = 1;
    size_t allocated = 0, len = sizeof(allocated);
    return ctl("epoch", NULL, NULL, &epoch, sizeof(epoch)) == 0 &&
           ctl("stats.allocated", &allocated, &len, NULL, 0) == 0 && allocated > 0;
}

/*
 * Every kind of block: small, large (within a chunk), huge (within the 64 MiB chunks freed);
 * calloc, realloc, aligned.
 *
 * Then a block larger than every chunk its arena freed (3 MiB in the arena whose chunks held
 * the 1 MiB blocks): an extent never spans two chunks, so it needs a new mapping, which the
 * address-space limit refuses until the allocator unmaps wholly free chunks (of every arena)
 * and tries again.
 */
static char failure_note[128];

/* Keeps the first failure for the report; returns ok. */
static bool note_failure(bool ok, const char *what, size_t size) {
    if (!ok && failure_note[0] == '\0') {
        snprintf(failure_note, sizeof(failure_note), " (first failure: %s(%zu))", what, size);
    }
    return ok;
}

static bool allocate_everything(void) {
    static const size_t sizes[] = {1, 16, 100, 1000, 5000, 20000, 100000, MiB, 20 * MiB};
    bool ok = true;
    for (int round = 0; round < 20 && ok; round++) {
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
            char *p = malloc(sizes[i]);
            char *q = calloc(1, sizes[i]);
            void *a = NULL;
            int r = posix_memalign(&a, 4096, sizes[i]);
            ok = ok && note_failure(p != NULL, "malloc", sizes[i]) &&
                 note_failure(q != NULL, "calloc", sizes[i]) &&
                 note_failure(r == 0, "posix_memalign", sizes[i]);
            if (p != NULL) {
                memset(p, 0x11, sizes[i] < 4096 ? sizes[i] : 4096);
                size_t grown = sizes[i] + sizes[i] / 2 + 1;
                char *g = realloc(p, grown);
                ok = ok && note_failure(g != NULL && g[0] == 0x11, "realloc", grown);
                p = g != NULL ? g : p;
            }
            ok = ok && (q == NULL || q[sizes[i] - 1] == 0);
            free(p);
            free(q);
            free(a);
        }
    }
    void *p = malloc(3 * MiB);
    ok = ok && note_failure(p != NULL, "malloc after exhaustion", 3 * MiB);
    free(p);
    return ok && stats_read();
}

static void *waiting_thread(void *arg) {
    (void)arg;
    char c;
    /* Blocks in read(), which allocates nothing, until main has been through exhaustion. */
    if (read(pipe_go[0], &c, 1) != 1) {
        thread_verdict = "no go signal";
        return NULL;
    }
    thread_verdict = allocate_everything() ? "ok" : "an allocation failed after recovery";
    return NULL;
}

static int child_limited(bool expect_abort) {
    static char line[512];
    pthread_t t;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur > AS_LIMIT) {
        say("child: RLIMIT_AS is not set\n");
        return 2;
    }
    if (pipe(pipe_go) != 0 || pthread_create(&t, NULL, waiting_thread, NULL) != 0) {
        say("child: setup failed\n");
        return 2;
    }
    static const size_t steps[] = {64 * MiB, MiB, 16384, 256};
    int status = 0;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int err = 0;
        size_t n = exhaust(steps[i], &err);
        if (expect_abort) {
            say("child: xmalloc:true, yet malloc returned NULL\n");
            return 3;
        }
        snprintf(line, sizeof(line), "child: %zu-byte blocks: %zu allocated, then NULL, errno %d\n",
                 steps[i], n, err);
        say(line);
        if (err != ENOMEM) {
            say("child: FAIL: expected errno ENOMEM\n");
            status = 1;
        }
    }
    size_t total = nheld;
    if (total == 0) {
        say("child: FAIL: nothing could be allocated at all\n");
        status = 1;
    }
    /* Go on: free everything, then allocate normally here and in the waiting thread at once. */
    while (nheld > 0) {
        free(held[--nheld]);
    }
    if (write(pipe_go[1], "g", 1) != 1) {
        return 2;
    }
    bool main_ok = allocate_everything();
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30;
    if (pthread_timedjoin_np(t, NULL, &deadline) != 0) {
        say("child: FAIL: the waiting thread hung after recovery: a lock left held?\n");
        _exit(1);
    }
    snprintf(line, sizeof(line),
             "child: after freeing %zu blocks: main thread %s, other thread %s%s\n", total,
             main_ok ? "ok" : "an allocation failed", thread_verdict, failure_note);
    say(line);
    if (!main_ok || strcmp(thread_verdict, "ok") != 0) {
        status = 1;
    }
    if (status == 0) {
        say("child: ok\n");
    }
    return status;
}

/* ---- the parent ----------------------------------------------------------------------------- */

static char self_path[4096];

/* Runs this program as `mode` under the address-space limit; returns its wait status. */
static int run_child(const char *mode, const char *extra_conf, char *out, size_t outsize) {
    int fd = -1;
    pid_t pid = test_fork_piped(&fd, true);
    if (pid == 0) {
        char conf[1024];
        const char *old = getenv("MALLOC_CONF");
        snprintf(conf, sizeof(conf), "%s%snarenas:1%s", old != NULL ? old : "",
                 old != NULL && old[0] != '\0' ? "," : "", extra_conf);
        setenv("MALLOC_CONF", conf, 1);
        char limit[64];
        snprintf(limit, sizeof(limit), "--as=%zu", AS_LIMIT);
        execlp("prlimit", "prlimit", limit, "--", self_path, mode, (char *)NULL);
        /* No prlimit: set the limit here; exec keeps it. */
        struct rlimit rl = {AS_LIMIT, AS_LIMIT};
        if (setrlimit(RLIMIT_AS, &rl) != 0) {
            _exit(126);
        }
        execl(self_path, self_path, mode, (char *)NULL);
        _exit(127);
    }
    return test_child_collect(fd, pid, out, outsize);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--child") == 0) {
        return child_limited(false);
    }
    if (argc > 1 && strcmp(argv[1], "--child-xmalloc") == 0) {
        return child_limited(true);
    }
    if (!test_allocator_active()) {
        return test_done();
    }
    ssize_t n = readlink("/proc/self/exe", self_path, sizeof(self_path) - 1);
    require_true(n > 0);
    self_path[n] = '\0';

    static char out[65536];
    int status = run_child("--child", "", out, sizeof(out));
    printf("%s", out);
    if (!expect_true(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "the limited child failed: wait status 0x%x\n", status);
    }
    expect_str_contains(out, "child: ok");
    expect_str_contains(out, "child: 67108864-byte blocks: ");

    status = run_child("--child-xmalloc", ",xmalloc:true", out, sizeof(out));
    printf("%s", out);
    if (!expect_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT)) {
        fprintf(stderr, "with xmalloc:true the child should abort; wait status 0x%x\n", status);
    }
    expect_str_contains(out, "<allocator>: ");
    return test_done();
}
