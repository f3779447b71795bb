/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * script: single-threaded, the heap of a scripting language's interpreter.  Values are boxed
 * numbers (16 B), strings (header and bytes in one block, 8-300 B of text) and tables (a header
 * and an open-addressing array of 24-byte slots that doubles as it fills: 192 B to 24 KiB, so the
 * 5-14 KiB size classes get their share).  Each of STEPS steps builds a table of 10-700 fields,
 * renders it into a string grown by realloc, looks fields up, and then keeps the table in a ring
 * of KEEP tables, freeing the table it pushes out with everything in it.
 *
 *     script STEPS KEEP [SEED]
 *
 * Prints a checksum of the rendered strings ("checksum N").
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

typedef struct {
    uint32_t kind; /* 0: number, 1: string */
    uint32_t len;
    union {
        double num;
        char text[8]; /* a string's bytes run on past the header */
    } u;
} value_t;

typedef struct {
    value_t *key; /* NULL: empty slot */
    value_t *val;
    uint64_t hash;
} slot_t;

typedef struct {
    slot_t *slots;
    size_t cap, n;
} table_t;

static void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (p == NULL) {
        abort();
    }
    return p;
}

static value_t *str_new(uint64_t *rng, size_t len) {
    value_t *v = xmalloc(offsetof(value_t, u.text) + len + 1);
    v->kind = 1;
    v->len = (uint32_t)len;
    uint64_t r = rng_next(rng);
    memset(v->u.text, 'a' + (int)(r % 26), len);
    for (size_t i = 0; i < len && i < 8; i++) { /* distinct keys: random first bytes */
        v->u.text[i] = (char)('a' + (r >> (5 * i + 8)) % 26);
    }
    v->u.text[len] = '\0';
    return v;
}

static value_t *num_new(double d) {
    value_t *v = xmalloc(sizeof(value_t));
    v->kind = 0;
    v->len = 0;
    v->u.num = d;
    return v;
}

static uint64_t str_hash(const value_t *s) {
    uint64_t h = 1469598103934665603ULL;
    for (uint32_t i = 0; i < s->len; i++) {
        h = (h ^ (unsigned char)s->u.text[i]) * 1099511628211ULL;
    }
    return h;
}

static void table_put(table_t *t, value_t *key, value_t *val);

static void table_grow(table_t *t) {
    slot_t *old = t->slots;
    size_t oldcap = t->cap;
    t->cap = oldcap ? 2 * oldcap : 8;
    t->slots = calloc(t->cap, sizeof(slot_t));
    if (t->slots == NULL) {
        abort();
    }
    t->n = 0;
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].key != NULL) {
            table_put(t, old[i].key, old[i].val);
        }
    }
    free(old);
}

static void table_put(table_t *t, value_t *key, value_t *val) {
    if (4 * (t->n + 1) > 3 * t->cap) {
        table_grow(t);
    }
    uint64_t h = str_hash(key);
    size_t i = h & (t->cap - 1);
    while (t->slots[i].key != NULL) {
        i = (i + 1) & (t->cap - 1);
    }
    t->slots[i] = (slot_t){key, val, h};
    t->n++;
}

static value_t *table_get(const table_t *t, const value_t *key) {
    if (t->cap == 0) {
        return NULL;
    }
    uint64_t h = str_hash(key);
    for (size_t i = h & (t->cap - 1); t->slots[i].key != NULL; i = (i + 1) & (t->cap - 1)) {
        if (t->slots[i].hash == h && t->slots[i].key->len == key->len &&
            memcmp(t->slots[i].key->u.text, key->u.text, key->len) == 0) {
            return t->slots[i].val;
        }
    }
    return NULL;
}

static void table_free(table_t *t) {
    for (size_t i = 0; i < t->cap; i++) {
        if (t->slots[i].key != NULL) {
            free(t->slots[i].key);
            free(t->slots[i].val);
        }
    }
    free(t->slots);
    free(t);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: script STEPS KEEP [SEED]\n");
        return 2;
    }
    unsigned long steps = strtoul(argv[1], NULL, 0);
    size_t keep = strtoull(argv[2], NULL, 0);
    uint64_t rng = argc > 3 ? strtoull(argv[3], NULL, 0) : 42;
    if (keep == 0) {
        fprintf(stderr, "script: KEEP must be positive\n");
        return 2;
    }
    table_t **ring = calloc(keep, sizeof(*ring));
    uint64_t checksum = 0;
    for (unsigned long s = 0; s < steps; s++) {
        table_t *t = xmalloc(sizeof(*t));
        *t = (table_t){NULL, 0, 0};
        size_t nfields = 10 + rng_next(&rng) % 691;
        value_t **keys = xmalloc(nfields * sizeof(*keys));
        for (size_t f = 0; f < nfields; f++) {
            value_t *k = str_new(&rng, 4 + rng_next(&rng) % 12);
            value_t *v = (rng_next(&rng) & 3) == 0 ? num_new((double)f)
                                                   : str_new(&rng, 8 + rng_next(&rng) % 293);
            keys[f] = k;
            if (table_get(t, k) != NULL) {
                free(k);
                free(v);
                keys[f] = NULL;
                continue;
            }
            table_put(t, k, v);
        }
        /* Render: "key=value;" for every field, into a string grown by doubling. */
        size_t cap = 64, len = 0;
        char *out = xmalloc(cap);
        for (size_t f = 0; f < nfields; f++) {
            if (keys[f] == NULL) {
                continue;
            }
            const value_t *v = table_get(t, keys[f]);
            char num[32];
            const char *text = v->kind ? v->u.text : num;
            size_t vl = v->kind ? v->len : (size_t)snprintf(num, sizeof num, "%g", v->u.num);
            size_t need = len + keys[f]->len + vl + 3;
            if (need > cap) {
                while (need > cap) {
                    cap *= 2;
                }
                out = realloc(out, cap);
                if (out == NULL) {
                    abort();
                }
            }
            memcpy(out + len, keys[f]->u.text, keys[f]->len);
            len += keys[f]->len;
            out[len++] = '=';
            memcpy(out + len, text, vl);
            len += vl;
            out[len++] = ';';
        }
        checksum = checksum * 31 + len + (unsigned char)out[len / 2];
        free(out);
        free(keys);
        if (ring[s % keep] != NULL) {
            table_free(ring[s % keep]);
        }
        ring[s % keep] = t;
    }
    for (size_t k = 0; k < keep; k++) {
        if (ring[k] != NULL) {
            table_free(ring[k]);
        }
    }
    free(ring);
    printf("checksum %llu\n", (unsigned long long)(checksum % 1000000007ULL));
    return 0;
}
