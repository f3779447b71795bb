/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * atfork: the fork handlers' registration (src/atfork.c). Each case runs in a child of its own,
 * where it sets the state the case starts from, so the cases do not see each other's handlers:
 *  - a single-threaded process leaves the handlers known but not registered (SET), and a fork
 *    then runs none of them;
 *  - atfork_arm before atfork_set (background threads started by the boot sequence) leaves the
 *    state WANTED, and atfork_set then registers them: a fork runs prepare and parent in the
 *    parent and child in the child;
 *  - atfork_arm from SET registers them (a gate that found a second thread);
 *  - a child that inherits ARMING from a parent whose thread was registering (a fork that fell
 *    inside the registration) does not wait for a thread that is not there: atfork_arm
 *    returns and the state is ARMED (before, it waited for ever: under alarm(5) here), also
 *    when the fork fell before the parent recorded which thread registers (the pid came in a
 *    second store then, and the child waited for ever);
 *  - the registering thread itself passes its gates while it registers.
 */
#include "allocator/internal/atfork.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

static int nprepare, nparent, nchild;
static void on_prepare(void) { nprepare++; }
static void on_parent(void) { nparent++; }
static void on_child(void) { nchild++; }

/* Fork; the child exits with nchild. Returns that, or -1. */
static int fork_and_count(void) {
    pid_t pid = fork();
    if (pid == 0)
        _exit(nchild);
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

/* Run a case in a child under alarm(5); returns its exit status (0: passed). */
static int in_child(int (*fn)(void)) {
    pid_t pid = fork();
    if (pid == 0) {
        alarm(5);
        _exit(fn());
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Registered once: the state says so, and a fork runs each handler once (child: in the child). */
static bool registered_once(void) {
    return atfork_state == ATFORK_ARMED && fork_and_count() == 1 && nprepare == 1 && nparent == 1;
}

static int case_wanted_then_set(void) {
    atfork_state = ATFORK_UNSET;
    atfork_arm();
    if (atfork_state != ATFORK_WANTED)
        return 1;
    atfork_set(on_prepare, on_parent, on_child, false);
    return registered_once() ? 0 : 2;
}

static int case_set_then_arm(void) {
    atfork_state = ATFORK_UNSET;
    atfork_set(on_prepare, on_parent, on_child, false);
    if (atfork_state != ATFORK_SET || fork_and_count() != 0 || nprepare != 0)
        return 1; /* not registered: the fork ran none */
    atfork_arm();
    return registered_once() ? 0 : 2;
}

static int case_set_now(void) {
    atfork_state = ATFORK_UNSET;
    atfork_set(on_prepare, on_parent, on_child, true);
    return registered_once() ? 0 : 1;
}

static void *idle_thread(void *arg) { return arg; }

/* As a child of a fork made while a thread of the parent was in pthread_atfork. */
static int case_inherited_arming(void) {
    pthread_t other;
    if (pthread_create(&other, NULL, idle_thread, NULL) != 0 || pthread_join(other, NULL) != 0)
        return 2;
    atfork_state = atfork_arming_word(getppid());
    atfork_registrar = other;
    atfork_arm();
    return atfork_state == ATFORK_ARMED ? 0 : 1;
}

/* The fork fell between the parent's move to ARMING and its record of which thread registers. */
static int case_inherited_arming_unclaimed(void) {
    atfork_state = atfork_arming_word(getppid());
    memset(&atfork_registrar, 0, sizeof(atfork_registrar));
    atfork_arm();
    return atfork_state == ATFORK_ARMED ? 0 : 1;
}

/* The registering thread's own gates (pthread_atfork may allocate) pass without waiting. */
static int case_arming_reentered(void) {
    atfork_state = atfork_arming_word(getpid());
    atfork_registrar = pthread_self();
    atfork_arm();
    return atfork_state == atfork_arming_word(getpid()) ? 0 : 1;
}

int main(void) {
    free(malloc(16)); /* the allocator boots: fork_boot hands over the real handlers */
    /* One thread: known, not registered (unless the C library cannot say, or profiling). */
    check(atfork_state == ATFORK_SET || atfork_state == ATFORK_ARMED);
    if (!atfork_threaded() && atfork_state == ATFORK_SET)
        check_eq(in_child(case_set_then_arm), 0);
    check_eq(in_child(case_wanted_then_set), 0);
    check_eq(in_child(case_set_now), 0);
    check_eq(in_child(case_inherited_arming), 0);
    check_eq(in_child(case_inherited_arming_unclaimed), 0);
    check_eq(in_child(case_arming_reentered), 0);
    return unit_finish("atfork");
}
