/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * timeit: the benchmark harness's stopwatch (not a workload; run.sh builds it and uses it for
 * every run).  It starts one command, waits for it, and writes one line to the file given with -o:
 *
 *     status elapsed_s maxrss_kib user_s sys_s
 *
 * status is "ok", "exit:N", "signal:N" or "timeout".  elapsed_s is wall time from fork to the
 * child's exit (CLOCK_MONOTONIC), maxrss_kib the child's peak resident set from wait4()'s rusage
 * (the largest of the child and the descendants it waited for), user_s and sys_s its CPU times.
 *
 *     timeit -o FILE [-t TIMEOUT_S] [-p LIB] -- COMMAND [ARGS...]
 *
 * -p LIB sets LD_PRELOAD=LIB in the child only (an empty LIB removes LD_PRELOAD), so the harness
 * itself always runs on glibc's malloc.  -t kills the child's process group after TIMEOUT_S
 * seconds (default 300, whole seconds).  The child's standard streams are inherited.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double tv_seconds(struct timeval tv) {
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

static volatile sig_atomic_t alarm_fired;

static void on_alarm(int sig) {
    (void)sig;
    alarm_fired = 1;
}

static void usage(void) {
    fprintf(stderr, "usage: timeit -o FILE [-t TIMEOUT_S] [-p LIB] -- COMMAND [ARGS...]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *out = NULL;
    const char *preload = NULL;
    double timeout = 300;
    int opt;
    while ((opt = getopt(argc, argv, "+o:t:p:")) != -1) {
        switch (opt) {
        case 'o':
            out = optarg;
            break;
        case 't':
            timeout = atof(optarg);
            break;
        case 'p':
            preload = optarg;
            break;
        default:
            usage();
        }
    }
    if (out == NULL || optind >= argc) {
        usage();
    }

    double start = now();
    pid_t pid = fork();
    if (pid < 0) {
        perror("timeit: fork");
        return 2;
    }
    if (pid == 0) {
        /* Own process group, so a timeout also reaches the command's children. */
        setpgid(0, 0);
        if (preload != NULL) {
            if (preload[0] != '\0') {
                setenv("LD_PRELOAD", preload, 1);
            } else {
                unsetenv("LD_PRELOAD");
            }
        }
        execvp(argv[optind], argv + optind);
        fprintf(stderr, "timeit: %s: %s\n", argv[optind], strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);

    /* Block in wait4; SIGALRM (no SA_RESTART) interrupts it when the time is up. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    alarm(timeout < 1 ? 1 : (unsigned)timeout);
    int status = 0;
    struct rusage ru;
    int timed_out = 0;
    for (;;) {
        pid_t r = wait4(pid, &status, 0, &ru);
        if (r == pid) {
            break;
        }
        if (r < 0 && errno != EINTR) {
            perror("timeit: wait4");
            return 2;
        }
        if (alarm_fired && !timed_out) {
            timed_out = 1;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
        }
    }
    alarm(0);
    double elapsed = now() - start;

    char st[32];
    if (timed_out) {
        snprintf(st, sizeof st, "timeout");
    } else if (WIFSIGNALED(status)) {
        snprintf(st, sizeof st, "signal:%d", WTERMSIG(status));
    } else if (WEXITSTATUS(status) != 0) {
        snprintf(st, sizeof st, "exit:%d", WEXITSTATUS(status));
    } else {
        snprintf(st, sizeof st, "ok");
    }
    FILE *f = fopen(out, "w");
    if (f == NULL) {
        perror(out);
        return 2;
    }
    /* Microseconds: the kernel splits exact CPU time between user and sys; short workloads
     * (10 ms) need the digits for ratios. */
    fprintf(f, "%s %.6f %ld %.6f %.6f\n", st, elapsed, ru.ru_maxrss, tv_seconds(ru.ru_utime),
            tv_seconds(ru.ru_stime));
    fclose(f);
    return strcmp(st, "ok") == 0 ? 0 : 1;
}
