/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * xfree: threads that only allocate hand blocks to threads that only free.  PRODUCERS threads
 * each allocate batches of BATCH blocks of one SIZE, write them and queue the batch; CONSUMERS
 * threads take batches off the queue, read every block and free it.  The queue holds at most
 * DEPTH batches (a full queue blocks the producers), so at most about DEPTH * BATCH blocks are
 * live at once whatever the allocator: memory past that is what the allocator keeps.
 *
 *     xfree PRODUCERS CONSUMERS TOTAL SIZE BATCH DEPTH
 *
 * TOTAL blocks are moved in all, split evenly over the producers.  Every free is of a block
 * another thread allocated: an allocator that parks such frees in the freeing thread's cache or
 * arena, rather than giving them back to the slab they came from, grows here.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct batch_s {
    struct batch_s *next;
    unsigned char **blocks;
} batch_t;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t nonempty, nonfull;
    batch_t *head, *tail, *spare; /* queued batches, and emptied ones for reuse */
    unsigned queued, producing;   /* batches queued; producers not yet finished */
} q = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL,
       NULL, 0, 0};

static size_t size, batch, depth;
static unsigned long per_producer;

static void *producer(void *arg) {
    unsigned char tag = (unsigned char)(uintptr_t)arg;
    for (unsigned long done = 0; done < per_producer; done += batch) {
        pthread_mutex_lock(&q.lock);
        while (q.queued >= depth) {
            pthread_cond_wait(&q.nonfull, &q.lock);
        }
        batch_t *b = q.spare;
        q.spare = b->next;
        pthread_mutex_unlock(&q.lock);
        for (size_t i = 0; i < batch; i++) {
            unsigned char *p = malloc(size);
            if (p == NULL) {
                abort();
            }
            memset(p, tag, size);
            b->blocks[i] = p;
        }
        pthread_mutex_lock(&q.lock);
        b->next = NULL;
        if (q.tail != NULL) {
            q.tail->next = b;
        } else {
            q.head = b;
        }
        q.tail = b;
        q.queued++;
        pthread_cond_signal(&q.nonempty);
        pthread_mutex_unlock(&q.lock);
    }
    pthread_mutex_lock(&q.lock);
    q.producing--;
    pthread_cond_broadcast(&q.nonempty);
    pthread_mutex_unlock(&q.lock);
    return NULL;
}

static void *consumer(void *arg) {
    unsigned long sum = 0;
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&q.lock);
        while (q.head == NULL && q.producing > 0) {
            pthread_cond_wait(&q.nonempty, &q.lock);
        }
        batch_t *b = q.head;
        if (b == NULL) {
            pthread_mutex_unlock(&q.lock);
            break;
        }
        q.head = b->next;
        if (q.head == NULL) {
            q.tail = NULL;
        }
        q.queued--;
        pthread_mutex_unlock(&q.lock);
        for (size_t i = 0; i < batch; i++) {
            sum += b->blocks[i][size - 1];
            free(b->blocks[i]);
        }
        pthread_mutex_lock(&q.lock);
        b->next = q.spare;
        q.spare = b;
        pthread_cond_signal(&q.nonfull);
        pthread_mutex_unlock(&q.lock);
    }
    return (void *)(uintptr_t)(sum == 1);
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: xfree PRODUCERS CONSUMERS TOTAL SIZE BATCH DEPTH\n");
        return 2;
    }
    int np = atoi(argv[1]), nc = atoi(argv[2]);
    unsigned long total = strtoul(argv[3], NULL, 0);
    size = strtoull(argv[4], NULL, 0);
    batch = strtoull(argv[5], NULL, 0);
    depth = strtoull(argv[6], NULL, 0);
    if (np < 1 || nc < 1 || np + nc > 256 || size == 0 || batch == 0 || depth == 0) {
        fprintf(stderr, "xfree: bad arguments\n");
        return 2;
    }
    per_producer = total / (unsigned long)np;
    /* Batches and their pointer arrays come from one block allocated up front, so the only
     * allocations during the run are the blocks themselves.  depth + np batches: every producer
     * may hold one while the queue is full. */
    size_t nb = depth + (size_t)np + (size_t)nc;
    batch_t *bs = malloc(nb * sizeof(batch_t) + nb * batch * sizeof(unsigned char *));
    if (bs == NULL) {
        return 1;
    }
    unsigned char **ptrs = (unsigned char **)(bs + nb);
    for (size_t i = 0; i < nb; i++) {
        bs[i].blocks = ptrs + i * batch;
        bs[i].next = q.spare;
        q.spare = &bs[i];
    }
    q.producing = (unsigned)np;
    pthread_t tid[256];
    for (int t = 0; t < np + nc; t++) {
        void *(*fn)(void *) = t < np ? producer : consumer;
        if (pthread_create(&tid[t], NULL, fn, (void *)(uintptr_t)(t + 1)) != 0) {
            return 1;
        }
    }
    for (int t = 0; t < np + nc; t++) {
        pthread_join(tid[t], NULL);
    }
    free(bs);
    return 0;
}
