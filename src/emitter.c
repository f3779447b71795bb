/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * emitter: the text and JSON writer of the statistics report (see emitter.h for the contract).
 * Text is written as it comes; JSON puts each member on a line of its own, indented by one tab
 * per open container (or, compact, everything on one line without spaces: the last-N records'
 * dump), with the comma that separates it from the previous member written first, so closing a
 * container needs no look-back. Strings are escaped into a small stack buffer and
 * written through the caller's io_buf_t; there is no state beyond the emitter_t, and no lock.
 */
#include "allocator/internal/emitter.h"

#include <string.h>

void emitter_init(emitter_t *em, io_buf_t *b, bool json) {
    *em = (emitter_t){.b = b, .json = json};
}

static void emitter_puts(emitter_t *em, const char *s) { io_buf_printf(em->b, "%s", s); }

static void emitter_pad(emitter_t *em, size_t n) {
    static const char spaces[] = "                                ";
    const size_t max = sizeof(spaces) - 1;
    for (; n > 0; n -= n < max ? n : max)
        emitter_puts(em, spaces + max - (n < max ? n : max));
}

/* Length of the well-formed UTF-8 sequence that starts s (n bytes left), or 0. */
static size_t emitter_utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t len = c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
    if (len == 0 || len > n)
        return 0;
    /* The second byte excludes overlong forms, UTF-16 surrogates and code points > 0x10ffff. */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    for (size_t i = 1; i < len; i++, lo = 0x80, hi = 0xbf) {
        if (s[i] < lo || s[i] > hi)
            return 0;
    }
    return len;
}

/*
 * s[0..n) as a JSON string: '"', '\' and control characters escaped (\u00XX); a byte that does
 * not begin well-formed UTF-8 becomes \ufffd, so the output is valid JSON whatever the input.
 */
static void emitter_json_str(emitter_t *em, const char *s, size_t n) {
    char out[128];
    size_t k = 0;
    out[k++] = '"';
    for (size_t i = 0; i < n;) {
        if (k + 8 > sizeof(out)) {
            out[k] = '\0';
            emitter_puts(em, out);
            k = 0;
        }
        unsigned char c = (unsigned char)s[i];
        size_t len = emitter_utf8_len((const unsigned char *)s + i, n - i);
        if (len == 0) {
            memcpy(out + k, "\\ufffd", 6);
            k += 6;
            len = 1;
        } else if (c == '"' || c == '\\') {
            out[k++] = '\\';
            out[k++] = (char)c;
        } else if (c < 0x20) {
            k += io_format(out + k, sizeof(out) - k, "\\u%04x", c);
        } else {
            memcpy(out + k, s + i, len);
            k += len;
        }
        i += len;
    }
    out[k++] = '"';
    out[k] = '\0';
    emitter_puts(em, out);
}

static void emitter_json_indent(emitter_t *em, unsigned depth) {
    static const char tabs[] = "\t\t\t\t\t\t\t\t";
    emitter_puts(em, tabs + (sizeof(tabs) - 1 - (depth < sizeof(tabs) ? depth : sizeof(tabs) - 1)));
}

/* JSON: start a line of its own (not compact), indented to depth. */
static void emitter_json_newline(emitter_t *em, unsigned depth) {
    if (em->compact)
        return;
    emitter_puts(em, "\n");
    emitter_json_indent(em, depth);
}

/* JSON: ": " between a key and its value, ":" compact. */
static const char *emitter_json_colon(const emitter_t *em) { return em->compact ? ":" : ": "; }

/* JSON: start a member (key NULL, or inside an array: an element) on a line of its own. */
static void emitter_json_member(emitter_t *em, const char *key) {
    if (em->comma)
        emitter_puts(em, ",");
    emitter_json_newline(em, em->depth);
    if (key != NULL && !(em->array & 1)) {
        emitter_json_str(em, key, strlen(key));
        emitter_puts(em, emitter_json_colon(em));
    }
    em->comma = true;
}

void emitter_begin(emitter_t *em) {
    if (em->json)
        emitter_puts(em, "{");
}

void emitter_end(emitter_t *em) {
    if (em->json)
        emitter_puts(em, em->compact ? "}" : "\n}\n");
}

void emitter_text(emitter_t *em, const char *fmt, ...) {
    if (em->json)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    io_vformat(line, sizeof(line), fmt, ap);
    va_end(ap);
    emitter_puts(em, line);
}

/* Start a key/value pair; false when this form leaves it out (see emitter.h). */
static bool emitter_key(emitter_t *em, const char *key, const char *label) {
    if (em->json) {
        if (key != NULL)
            emitter_json_member(em, key);
        return key != NULL;
    }
    if (label != NULL && label[0] == '\0')
        return false;
    emitter_pad(em, 2 * em->indent);
    if (label == NULL && em->prefix != NULL)
        emitter_puts(em, em->prefix);
    io_buf_printf(em->b, "%s: ", label != NULL ? label : key);
    return true;
}

void emitter_u(emitter_t *em, const char *key, const char *label, unsigned long long v) {
    if (emitter_key(em, key, label))
        io_buf_printf(em->b, "%llu%s", v, em->json ? "" : "\n");
}

void emitter_d(emitter_t *em, const char *key, const char *label, long long v) {
    if (emitter_key(em, key, label))
        io_buf_printf(em->b, "%lld%s", v, em->json ? "" : "\n");
}

void emitter_b(emitter_t *em, const char *key, const char *label, bool v) {
    if (emitter_key(em, key, label))
        io_buf_printf(em->b, "%s%s", v ? "true" : "false", em->json ? "" : "\n");
}

void emitter_s(emitter_t *em, const char *key, const char *label, const char *s) {
    if (!emitter_key(em, key, label))
        return;
    if (em->json)
        emitter_json_str(em, s, strlen(s));
    else
        io_buf_printf(em->b, "\"%s\"\n", s);
}

void emitter_open(emitter_t *em, const char *key, const char *title, bool array) {
    if (em->json) {
        emitter_json_member(em, key);
        emitter_puts(em, array ? "[" : "{");
        em->comma = false;
        em->depth++;
    } else if (title != NULL) {
        emitter_pad(em, 2 * em->indent);
        io_buf_printf(em->b, "%s\n", title);
        em->indent++;
    }
    em->array = em->array << 1 | array;
    em->titled = em->titled << 1 | (title != NULL);
}

void emitter_close(emitter_t *em) {
    if (em->json) {
        em->depth--;
        emitter_json_newline(em, em->depth);
        emitter_puts(em, em->array & 1 ? "]" : "}");
        em->comma = true;
    } else if (em->titled & 1) {
        em->indent--;
    }
    em->array >>= 1;
    em->titled >>= 1;
}

/* Text: one cell right-aligned in width; lead, when given, starts the cell on the left. */
static void emitter_cell(emitter_t *em, const char *lead, const char *s, unsigned width) {
    size_t used = (lead != NULL ? strlen(lead) : 0) + strlen(s);
    if (lead != NULL)
        emitter_puts(em, lead);
    emitter_pad(em, used < width ? width - used : 1);
    emitter_puts(em, s);
}

void emitter_header(emitter_t *em, const char *title, const emitter_col_t *cols, unsigned n) {
    if (em->json)
        return;
    emitter_pad(em, 2 * em->indent);
    for (unsigned i = 0; i < n; i++) {
        if (cols[i].head != NULL) {
            emitter_cell(em, title, cols[i].head, cols[i].width);
            title = NULL;
        }
    }
    emitter_puts(em, "\n");
}

void emitter_row(emitter_t *em, const char *key, const char *lead, const emitter_col_t *cols,
                 unsigned n, const uint64_t *v) {
    if (!em->json) {
        emitter_pad(em, 2 * em->indent);
        for (unsigned i = 0; i < n; i++) {
            if (cols[i].head == NULL)
                continue;
            char num[24];
            io_format(num, sizeof(num), "%llu", (unsigned long long)v[i]);
            emitter_cell(em, lead, num, cols[i].width);
            lead = NULL;
        }
        emitter_puts(em, "\n");
        return;
    }
    if (key != NULL) {
        emitter_json_member(em, key[0] != '\0' ? key : NULL);
        emitter_puts(em, "{");
    }
    bool first = true;
    for (unsigned i = 0; i < n; i++) {
        const char *k = cols[i].key;
        if (k == NULL)
            continue;
        if (key == NULL)
            emitter_json_member(em, NULL);
        else if (!first)
            emitter_puts(em, em->compact ? "," : ", ");
        first = false;
        const char *dot = strchr(k, '.');
        emitter_json_str(em, k, dot != NULL ? (size_t)(dot - k) : strlen(k));
        if (dot != NULL) {
            emitter_puts(em, em->compact ? ":{" : ": {");
            emitter_json_str(em, dot + 1, strlen(dot + 1));
        }
        io_buf_printf(em->b, "%s%llu%s", emitter_json_colon(em), (unsigned long long)v[i],
                      dot != NULL ? "}" : "");
    }
    if (key != NULL)
        emitter_puts(em, "}");
}

void emitter_gap(emitter_t *em, bool *gap) {
    if (*gap && !em->json) {
        emitter_pad(em, 2 * em->indent);
        emitter_puts(em, "                     ---\n");
    }
    *gap = false;
}
