#!/bin/bash
# Background threads must not touch /proc. They used to be named by their creator with
# pthread_setname_np, which for another thread opens /proc/self/task/<tid>/comm for writing;
# the dentries that leaves made the kernel's reaping of the process's fork children slow (under
# thread churn, seconds per child: test/stress/fork_threads went from 1 s to 40 s with
# background_thread:true). They now name themselves, which glibc does with prctl.
#
# A small program runs with MALLOC_CONF=background_thread:true under strace: it allocates until
# its background threads exist and are named "allocator_bg" (it reads /proc/self/task/*/comm
# itself, read-only), then forks a child that does the same (the child starts its own
# threads). strace must show no open of a .../comm file for writing, in either process.
. "$(dirname "$0")/common.bash"

need_tool strace strace
need_tool cc gcc

cat >"$TEST_TMPDIR/bg.c" <<'EOF'
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* How many threads of this process are named allocator_bg. */
static int named_threads(void) {
    DIR *d = opendir("/proc/self/task");
    if (d == NULL)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], name[64] = "";
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            if (fgets(name, sizeof(name), f) != NULL && strcmp(name, "allocator_bg\n") == 0)
                n++;
            fclose(f);
        }
    }
    closedir(d);
    return n;
}

/* Allocates and frees (which starts the threads lazily) until one is named; 0 if so. */
static int wait_for_threads(const char *who) {
    for (int i = 0; i < 500; i++) {
        for (int j = 0; j < 100; j++) {
            void *volatile p = malloc((size_t)(j + 1) * 4096);
            free(p);
        }
        if (named_threads() > 0) {
            printf("%s: background threads named\n", who);
            fflush(stdout);
            return 0;
        }
        usleep(10000);
    }
    printf("%s: no thread named allocator_bg after 5 s\n", who);
    return 1;
}

int main(void) {
    if (wait_for_threads("parent") != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0)
        _exit(wait_for_threads("child"));
    int status = 1;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
EOF
cc -O1 -o "$TEST_TMPDIR/bg" "$TEST_TMPDIR/bg.c" || fail "building bg.c"

MALLOC_CONF=background_thread:true LD_PRELOAD=$ALLOCATOR_SO \
    strace -f -qq -o "$TEST_TMPDIR/trace" -e trace=open,openat,openat2 \
    "$TEST_TMPDIR/bg" >"$TEST_TMPDIR/out" 2>"$TEST_TMPDIR/err" ||
    { cat "$TEST_TMPDIR/out" "$TEST_TMPDIR/err" >&2; fail "the program failed under strace"; }
grep -q "^parent: background threads named$" "$TEST_TMPDIR/out" &&
    grep -q "^child: background threads named$" "$TEST_TMPDIR/out" ||
    fail "background threads not seen: $(cat "$TEST_TMPDIR/out")"
grep -q 'comm", O_RDONLY' "$TEST_TMPDIR/trace" ||
    fail "strace saw none of the program's own reads of comm: is the filter right?"
if grep -E 'comm", O_(WRONLY|RDWR)' "$TEST_TMPDIR/trace" >&2; then
    fail "a thread was named through /proc (above)"
fi
echo "background_proc: ok (no write to /proc/self/task/*/comm)"
