/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * emitter: one document written as indented text or as JSON from the same calls, so the two
 * forms of a report cannot drift apart. The statistics report (stats_print.c) is its user; it
 * knows nothing about the allocator. Output goes through an io_buf_t (io.h): nothing here
 * allocates, takes a lock or uses stdio, so it may run anywhere io_buf_printf may.
 *
 * Contract. The caller owns the emitter_t and serialises calls on it. A document is
 * emitter_begin, any calls, emitter_end; in JSON it is then exactly one object (well formed for
 * any key and string bytes: see emitter_s). Every emitter_open is matched by an emitter_close,
 * at most 32 deep.
 *
 * A value call emitter_u/d/b/s(em, key, label, v) prints `label: v` in text and `"key": v` in
 * JSON. label "" leaves the pair out of the text; label NULL prints the prefix (emitter_prefix)
 * and then key as the label; key NULL leaves the pair out of the JSON. Directly inside an array
 * JSON has no keys: a key only says that the value is an element.
 *
 * emitter_open(em, key, title, array) opens an object (or array) named key: in text it prints
 * title on a line of its own and indents what follows by two spaces until emitter_close, or with
 * title NULL prints nothing and does not indent. In JSON, key NULL makes an array element; in
 * text, key and array make no difference.
 *
 * Tables: an emitter_col_t array describes the columns. In text, emitter_header prints their
 * headings and emitter_row a row of numbers, each cell right-aligned to the end of its column's
 * width (at least one space between cells), the first cell led by a left-aligned label. In JSON,
 * emitter_header prints nothing and emitter_row prints the columns that have keys (see
 * emitter_row).
 */
#ifndef ALLOCATOR_INTERNAL_EMITTER_H
#define ALLOCATOR_INTERNAL_EMITTER_H

#include "allocator/internal/io.h"

typedef struct emitter_s {
    io_buf_t *b;
    bool json;
    bool compact;       /* JSON: no newlines or indentation, no space after ':' (emitter_compact) */
    bool comma;         /* JSON: the innermost open container has a member already */
    unsigned depth;     /* JSON: open containers (indentation, one tab each, at most 8) */
    unsigned indent;    /* text: indentation level (two spaces each) */
    uint32_t array;     /* bit i set when open container i (from the innermost) is an array */
    uint32_t titled;    /* text: bit i set when open container i printed a title */
    const char *prefix; /* text: put before a key printed as its own label ("opt.") */
} emitter_t;

/*
 * A table column: its JSON key (NULL: text only; "a.b" is member b of an object a), its text
 * heading (NULL: JSON only) and its width in text, the cell's right edge from the previous one's.
 */
typedef struct emitter_col_s {
    const char *key;
    const char *head;
    unsigned width;
} emitter_col_t;

/* An emitter writing text, or JSON, to b; b stays the caller's (it flushes it at the end). */
void emitter_init(emitter_t *em, io_buf_t *b, bool json);
static inline bool emitter_json(const emitter_t *em) { return em->json; }
/*
 * JSON: write it compact from here on, as jemalloc's emitter_output_json_compact does: no
 * newline, indentation or space between tokens, and no newline after the closing brace.
 */
static inline void emitter_compact(emitter_t *em) { em->compact = true; }
/* Text: the prefix of labels taken from keys (label NULL), until changed; NULL for none. */
static inline void emitter_prefix(emitter_t *em, const char *prefix) { em->prefix = prefix; }

/* Start and end the document: in JSON "{" and "\n}\n" ("}" compact) around it; in text nothing. */
void emitter_begin(emitter_t *em);
void emitter_end(emitter_t *em);
/* Text only: a formatted line (or part of one), not indented; JSON leaves it out. */
void emitter_text(emitter_t *em, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void emitter_u(emitter_t *em, const char *key, const char *label, unsigned long long v);
void emitter_d(emitter_t *em, const char *key, const char *label, long long v);
void emitter_b(emitter_t *em, const char *key, const char *label, bool v);
/* Text: the string in double quotes, as is. JSON: a string, escaped (see emitter.c). */
void emitter_s(emitter_t *em, const char *key, const char *label, const char *s);

void emitter_open(emitter_t *em, const char *key, const char *title, bool array);
void emitter_close(emitter_t *em);

/* Text: the headings of cols[0..n) that have one, the first led by title (NULL: none). */
void emitter_header(emitter_t *em, const char *title, const emitter_col_t *cols, unsigned n);
/*
 * One table row of values v[0..n) in columns cols[0..n). Text: lead (NULL: none), then the
 * columns that have headings, on one line. JSON: the columns that have keys, as one object named
 * key (key "" or inside an array: an array element) on one line, or, with key NULL (inside an
 * object only), as members of the current object.
 */
void emitter_row(emitter_t *em, const char *key, const char *lead, const emitter_col_t *cols,
                 unsigned n, const uint64_t *v);
/*
 * Text: a "---" line standing for a run of rows left out of a table, when *gap is set; clears
 * *gap. The caller sets *gap when it skips a row, and calls this before the next row it prints
 * and after the last.
 */
void emitter_gap(emitter_t *em, bool *gap);

#endif
