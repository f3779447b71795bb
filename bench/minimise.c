/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * minimise: single-threaded compute over many small objects, in the manner of a two-level logic
 * minimiser.  A random Boolean function of VARS variables (each minterm on with probability
 * 1/2) is reduced to its prime implicants by repeated merging (Quine-McCluskey): every cube is a
 * small heap block (one byte per variable), every pass builds a hash table of the cubes (chained
 * entries, one small block each), makes a merged cube for each pair that differs in exactly one
 * variable, and frees the cubes that merged.  The primes are kept in growing arrays (realloc).
 * ROUNDS functions are minimised one after another.
 *
 *     minimise ROUNDS VARS [SEED]
 *
 * Prints the number of primes of the last function ("primes N").
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

typedef struct {
    unsigned char *v; /* VARS bytes: 0, 1, or 2 (either) */
    int merged;
} cube_t;

typedef struct entry_s {
    struct entry_s *next;
    cube_t *c;
} entry_t;

typedef struct {
    cube_t **a;
    size_t n, cap;
} list_t;

static size_t nvars;

static void list_push(list_t *l, cube_t *c) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->a = realloc(l->a, l->cap * sizeof(*l->a));
        if (l->a == NULL) {
            abort();
        }
    }
    l->a[l->n++] = c;
}

static cube_t *cube_new(const unsigned char *v) {
    cube_t *c = malloc(sizeof(*c));
    if (c == NULL || (c->v = malloc(nvars)) == NULL) {
        abort();
    }
    memcpy(c->v, v, nvars);
    c->merged = 0;
    return c;
}

static void cube_free(cube_t *c) {
    free(c->v);
    free(c);
}

static uint64_t hash(const unsigned char *v) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < nvars; i++) {
        h = (h ^ v[i]) * 1099511628211ULL;
    }
    return h;
}

/* One pass: the cubes of `cur` (all with the same number of 2s) merged pairwise into `next`;
 * unmerged ones move to `primes`, merged ones are freed. */
static void pass(list_t *cur, list_t *next, list_t *primes) {
    size_t nb = 16;
    while (nb < 2 * cur->n) {
        nb *= 2;
    }
    entry_t **tab = calloc(nb, sizeof(*tab));
    entry_t **seen = calloc(nb, sizeof(*seen)); /* the merged cubes made so far, deduplicated */
    unsigned char *key = malloc(nvars);
    if (tab == NULL || seen == NULL || key == NULL) {
        abort();
    }
    for (size_t i = 0; i < cur->n; i++) {
        entry_t *e = malloc(sizeof(*e));
        if (e == NULL) {
            abort();
        }
        size_t b = hash(cur->a[i]->v) & (nb - 1);
        e->c = cur->a[i];
        e->next = tab[b];
        tab[b] = e;
    }
    for (size_t i = 0; i < cur->n; i++) {
        cube_t *c = cur->a[i];
        for (size_t k = 0; k < nvars; k++) {
            if (c->v[k] != 0) {
                continue; /* look for the partner with a 1 here, once per pair */
            }
            memcpy(key, c->v, nvars);
            key[k] = 1;
            for (entry_t *e = tab[hash(key) & (nb - 1)]; e != NULL; e = e->next) {
                if (memcmp(e->c->v, key, nvars) != 0) {
                    continue;
                }
                c->merged = e->c->merged = 1;
                key[k] = 2;
                size_t sb = hash(key) & (nb - 1);
                entry_t *s = seen[sb];
                while (s != NULL && memcmp(s->c->v, key, nvars) != 0) {
                    s = s->next;
                }
                if (s == NULL) {
                    s = malloc(sizeof(*s));
                    if (s == NULL) {
                        abort();
                    }
                    s->c = cube_new(key);
                    s->next = seen[sb];
                    seen[sb] = s;
                    list_push(next, s->c);
                }
                break;
            }
        }
    }
    for (size_t b = 0; b < nb; b++) {
        for (entry_t *e = tab[b], *n; e != NULL; e = n) {
            n = e->next;
            free(e);
        }
        for (entry_t *e = seen[b], *n; e != NULL; e = n) {
            n = e->next;
            free(e);
        }
    }
    for (size_t i = 0; i < cur->n; i++) {
        if (cur->a[i]->merged) {
            cube_free(cur->a[i]);
        } else {
            list_push(primes, cur->a[i]);
        }
    }
    cur->n = 0;
    free(key);
    free(seen);
    free(tab);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: minimise ROUNDS VARS [SEED]\n");
        return 2;
    }
    unsigned long rounds = strtoul(argv[1], NULL, 0);
    nvars = strtoull(argv[2], NULL, 0);
    uint64_t rng = argc > 3 ? strtoull(argv[3], NULL, 0) : 42;
    if (nvars < 2 || nvars > 20) {
        fprintf(stderr, "minimise: VARS must be 2..20\n");
        return 2;
    }
    size_t nprimes = 0;
    unsigned char v[20];
    for (unsigned long r = 0; r < rounds; r++) {
        list_t cur = {0}, next = {0}, primes = {0};
        for (uint64_t m = 0; m < ((uint64_t)1 << nvars); m++) {
            if (rng_next(&rng) & 1) {
                for (size_t k = 0; k < nvars; k++) {
                    v[k] = (unsigned char)((m >> k) & 1);
                }
                list_push(&cur, cube_new(v));
            }
        }
        while (cur.n > 0) {
            pass(&cur, &next, &primes);
            list_t t = cur;
            cur = next;
            next = t;
        }
        nprimes = primes.n;
        for (size_t i = 0; i < primes.n; i++) {
            cube_free(primes.a[i]);
        }
        free(primes.a);
        free(cur.a);
        free(next.a);
    }
    printf("primes %zu\n", nprimes);
    return 0;
}
