/*
 * The thread states of a fork child keep the right owner. liballocator records each state's pid
 * and tid and, when the live states pile up, recycles those whose thread the kernel no longer
 * knows (tsd_reap in src/tsd.c). A child's only thread carries the state its parent thread made,
 * under the parent's ids; if the child kept those ids, a reap in the child would find them gone
 * once the parent thread exits, and hand the child's own live state to another thread.
 *
 * A worker thread of the parent forks and then exits (the parent joins it, then tells the child).
 * The child, running on that worker's state, starts 100 threads that all stay alive together
 * (well past the reap threshold) and allocate; each reports the address of its per-thread
 * counter (thread.allocatedp, inside its state). None may be the child's own, and the child's
 * counter must still count the child's allocations.
 */
#include "../test.h"

#include <allocator.h>
#include <pthread.h>
#include <sys/wait.h>

enum { CHILD_THREADS = 100 };

static int go_pipe[2];
static pthread_barrier_t all_alive;
static uint64_t *thread_counters[CHILD_THREADS];

static uint64_t *my_counter(void) {
    uint64_t *p = NULL;
    size_t len = sizeof(p);
    if (mallctl("thread.allocatedp", &p, &len, NULL, 0) != 0)
        return NULL;
    return p;
}

static void *child_thread(void *arg) {
    size_t i = (size_t)(uintptr_t)arg;
    void *p = test_launder(malloc(100 + i));
    thread_counters[i] = my_counter();
    pthread_barrier_wait(&all_alive); /* all alive at once, states all on the live list */
    free(p);
    return NULL;
}

/* The child: returns its exit status (0 ok). */
static int child_main(void) {
    char c;
    if (read(go_pipe[0], &c, 1) != 1)
        return 2; /* the parent's forking thread has exited once this returns */
    uint64_t *mine = my_counter();
    if (mine == NULL)
        return 3;
    if (pthread_barrier_init(&all_alive, NULL, CHILD_THREADS + 1) != 0)
        return 4;
    pthread_t t[CHILD_THREADS];
    for (size_t i = 0; i < CHILD_THREADS; i++) {
        if (pthread_create(&t[i], NULL, child_thread, (void *)(uintptr_t)i) != 0)
            return 5;
    }
    pthread_barrier_wait(&all_alive);
    for (size_t i = 0; i < CHILD_THREADS; i++)
        pthread_join(t[i], NULL);
    for (size_t i = 0; i < CHILD_THREADS; i++) {
        if (thread_counters[i] == NULL || thread_counters[i] == mine) {
            printf("child: thread %zu got %s\n", i,
                   thread_counters[i] == NULL ? "no state" : "the forking thread's state");
            return 1;
        }
    }
    uint64_t before = *mine;
    void *p = test_launder(malloc(5000));
    free(p);
    if (*mine == before || my_counter() != mine) {
        printf("child: the forking thread's counter no longer counts its allocations\n");
        return 1;
    }
    return 0;
}

static void *forker(void *arg) {
    free(test_launder(malloc(10))); /* this thread's own state, made in the parent */
    pid_t *pid = arg;
    *pid = fork();
    if (*pid == 0) {
        alarm(60);
        int status = child_main();
        fflush(stdout);
        _exit(status);
    }
    return NULL; /* the parent's copy of the thread exits now */
}

int main(void) {
    test_allocator_active();
    require_true(pipe(go_pipe) == 0);
    for (int round = 0; round < 5; round++) {
        pid_t pid = -1;
        pthread_t t;
        require_true(pthread_create(&t, NULL, forker, &pid) == 0);
        require_true(pthread_join(t, NULL) == 0);
        require_true(pid > 0);
        /* The forking thread is gone from the parent; its tid no longer exists. */
        require_true(write(go_pipe[1], "g", 1) == 1);
        int status = 0;
        require_true(waitpid(pid, &status, 0) == pid);
        if (!test_check_(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
            test_fail("round %d: child ended with status %#x", round, status);
            break;
        }
    }
    return test_done();
}
