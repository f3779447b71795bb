/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * realloc: blocks that grow and shrink through realloc.
 *
 *     realloc str|vec LIVE ROUNDS MAXLEN [SEED]
 *
 * str: LIVE strings are built at once, a random string at a time gaining a short piece (1-32
 * bytes) through realloc to exactly its new length, the way a naive string builder appends; when
 * a string passes its target length (up to MAXLEN) it is trimmed to half with realloc and freed
 * later.  Most calls stay inside one size class; the rest test growing in place or moving.
 *
 * vec: LIVE vectors grow by doubling their capacity from 16 bytes to a random target up to
 * MAXLEN, filling what they gain, then shrink by halving back to 16 bytes and start again.  Large
 * sizes test whether realloc extends and shrinks extents in place or copies.
 *
 * ROUNDS is the number of completed strings or vector cycles.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

typedef struct {
    unsigned char *p;
    size_t len;    /* bytes in use */
    size_t target; /* length at which this one turns around */
    int shrinking;
} item_t;

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (q == NULL) {
        abort();
    }
    return q;
}

/* Log-uniform target in [64, maxlen]. */
static size_t pick_target(uint64_t *rng, size_t maxlen) {
    size_t lg = 6 + rng_next(rng) % 15;
    size_t cap = (size_t)1 << lg;
    if (cap > maxlen) {
        cap = maxlen;
    }
    return cap / 2 + rng_next(rng) % (cap / 2 + 1);
}

static unsigned long run_str(item_t *it, size_t live, unsigned long rounds, size_t maxlen,
                             uint64_t *rng) {
    unsigned long done = 0, sum = 0;
    while (done < rounds) {
        item_t *s = &it[rng_next(rng) % live];
        size_t piece = 1 + rng_next(rng) % 32;
        s->p = xrealloc(s->p, s->len + piece + 1);
        memset(s->p + s->len, 'a' + (int)(piece % 26), piece);
        s->len += piece;
        s->p[s->len] = 0;
        if (s->len >= s->target) {
            s->len /= 2;
            s->p = xrealloc(s->p, s->len + 1);
            s->p[s->len] = 0;
            sum += s->p[0];
            free(s->p);
            s->p = NULL;
            s->len = 0;
            s->target = pick_target(rng, maxlen);
            done++;
        }
    }
    return sum;
}

static unsigned long run_vec(item_t *it, size_t live, unsigned long rounds, size_t maxlen,
                             uint64_t *rng) {
    unsigned long done = 0, sum = 0;
    while (done < rounds) {
        item_t *v = &it[rng_next(rng) % live];
        if (!v->shrinking) {
            size_t old = v->len;
            size_t cap = old ? old * 2 : 16;
            v->p = xrealloc(v->p, cap);
            /* Write the new half one cache line at a time, as a vector being filled would. */
            for (size_t i = old; i < cap; i += 64) {
                v->p[i] = (unsigned char)i;
            }
            v->len = cap;
            if (cap >= v->target) {
                v->shrinking = 1;
            }
        } else {
            v->len /= 2;
            v->p = xrealloc(v->p, v->len);
            sum += v->p[0];
            if (v->len <= 16) {
                v->shrinking = 0;
                v->target = pick_target(rng, maxlen);
                done++;
            }
        }
    }
    return sum;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: realloc str|vec LIVE ROUNDS MAXLEN [SEED]\n");
        return 2;
    }
    int vec = strcmp(argv[1], "vec") == 0;
    if (!vec && strcmp(argv[1], "str") != 0) {
        fprintf(stderr, "realloc: unknown mode %s\n", argv[1]);
        return 2;
    }
    size_t live = strtoull(argv[2], NULL, 0);
    unsigned long rounds = strtoul(argv[3], NULL, 0);
    size_t maxlen = strtoull(argv[4], NULL, 0);
    uint64_t rng = argc > 5 ? strtoull(argv[5], NULL, 0) : 42;
    if (live == 0 || maxlen < 128) {
        fprintf(stderr, "realloc: bad arguments\n");
        return 2;
    }
    item_t *it = calloc(live, sizeof *it);
    if (it == NULL) {
        return 1;
    }
    for (size_t i = 0; i < live; i++) {
        it[i].target = pick_target(&rng, maxlen);
    }
    unsigned long sum =
        vec ? run_vec(it, live, rounds, maxlen, &rng) : run_str(it, live, rounds, maxlen, &rng);
    for (size_t i = 0; i < live; i++) {
        free(it[i].p);
    }
    free(it);
    return sum == 1 ? 3 : 0;
}
