/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The emitter, driven into a buffer: the exact text layout of a small document (values, labels,
 * prefixes, titled and untitled sections, a table with aligned columns and a gap), the exact
 * JSON of the same calls (indented, and compact), JSON string escaping (quotes, backslash, control characters, invalid
 * UTF-8 as U+FFFD), and that what it writes is valid JSON, checked by a small validator here
 * (itself checked on good and bad input first).
 */
#include "allocator/internal/emitter.h"

#include <stdint.h>

#include "unit.h"

/* ---- Output collected from the io_buf_t's callback ---- */

typedef struct {
    char data[1 << 16];
    size_t len;
    unsigned pieces;
    bool overflow;
} sink_t;

static void sink_write(void *opaque, const char *s) {
    sink_t *k = opaque;
    size_t n = strlen(s);
    k->pieces++;
    if (k->len + n >= sizeof(k->data)) {
        k->overflow = true;
        return;
    }
    memcpy(k->data + k->len, s, n + 1);
    k->len += n;
}

static sink_t sink;
static io_buf_t buf;
static bool compact; /* emit() makes a compact JSON emitter */

/* Run emit on a fresh emitter (text or JSON) and return everything it wrote. */
static const char *emit(void (*fn)(emitter_t *), bool json) {
    sink.len = 0;
    sink.data[0] = '\0';
    sink.overflow = false;
    io_buf_init(&buf, sink_write, &sink);
    emitter_t em;
    emitter_init(&em, &buf, json);
    if (compact)
        emitter_compact(&em);
    fn(&em);
    io_buf_flush(&buf);
    check(!sink.overflow);
    return sink.data;
}

/* ---- A JSON validator (RFC 8259), written independently of the emitter ---- */

typedef struct {
    const char *p;
    unsigned depth;
} json_t;

static bool json_value(json_t *j);

static void json_ws(json_t *j) {
    while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
        j->p++;
}

/* One UTF-8 character at p: decode it and reject overlong forms, surrogates and > U+10FFFF. */
static bool json_utf8(json_t *j) {
    const unsigned char *s = (const unsigned char *)j->p;
    unsigned len = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (len == 0 || s[0] >= 0xf8)
        return false;
    uint32_t cp = s[0] & (0x7f >> len);
    for (unsigned i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return false;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return false;
    j->p += len;
    return true;
}

static bool json_string(json_t *j) {
    if (*j->p++ != '"')
        return false;
    for (;;) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            j->p++;
            return true;
        }
        if (c < 0x20) /* the end of the input too */
            return false;
        if (c >= 0x80) {
            if (!json_utf8(j))
                return false;
            continue;
        }
        j->p++;
        if (c != '\\')
            continue;
        c = (unsigned char)*j->p++;
        if (c == 'u') {
            for (int i = 0; i < 4; i++, j->p++) {
                char h = *j->p;
                if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F')))
                    return false;
            }
        } else if (c == '\0' || strchr("\"\\/bfnrt", c) == NULL) {
            return false;
        }
    }
}

static bool json_digits(json_t *j) {
    if (*j->p < '0' || *j->p > '9')
        return false;
    while (*j->p >= '0' && *j->p <= '9')
        j->p++;
    return true;
}

static bool json_number(json_t *j) {
    if (*j->p == '-')
        j->p++;
    if (*j->p == '0')
        j->p++;
    else if (!json_digits(j))
        return false;
    if (*j->p == '.') {
        j->p++;
        if (!json_digits(j))
            return false;
    }
    if (*j->p == 'e' || *j->p == 'E') {
        j->p++;
        if (*j->p == '+' || *j->p == '-')
            j->p++;
        if (!json_digits(j))
            return false;
    }
    return true;
}

/* An object ('{') or array ('['): members separated by commas, none after the last. */
static bool json_container(json_t *j, char close) {
    j->p++;
    json_ws(j);
    if (*j->p == close) {
        j->p++;
        return true;
    }
    for (;;) {
        if (close == '}') {
            if (!json_string(j))
                return false;
            json_ws(j);
            if (*j->p++ != ':')
                return false;
        }
        if (!json_value(j))
            return false;
        json_ws(j);
        char c = *j->p++;
        if (c == close)
            return true;
        if (c != ',')
            return false;
        json_ws(j);
    }
}

static bool json_value(json_t *j) {
    json_ws(j);
    char c = *j->p;
    bool ok;
    if (c == '{' || c == '[') {
        if (++j->depth > 64)
            return false;
        ok = json_container(j, c == '{' ? '}' : ']');
        j->depth--;
    } else if (c == '"') {
        ok = json_string(j);
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        ok = json_number(j);
    } else {
        static const char *const lit[] = {"true", "false", "null"};
        ok = false;
        for (unsigned i = 0; i < 3 && !ok; i++) {
            size_t n = strlen(lit[i]);
            if (strncmp(j->p, lit[i], n) == 0) {
                j->p += n;
                ok = true;
            }
        }
    }
    return ok;
}

/* s is exactly one JSON value, with only whitespace around it. */
static bool json_valid(const char *s) {
    json_t j = {s, 0};
    if (!json_value(&j))
        return false;
    json_ws(&j);
    return *j.p == '\0';
}

static void test_validator(void) {
    check(json_valid("{\"a\": [1, -2.5e3, 0, true, false, null, \"x\\u00e9\\n\", {}, []]}"));
    check(json_valid("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""));
    check(!json_valid(""));
    check(!json_valid("{\"a\": 1,}"));
    check(!json_valid("[1,]"));
    check(!json_valid("{\"a\" 1}"));
    check(!json_valid("{\"a\": 1"));
    check(!json_valid("[1 2]"));
    check(!json_valid("[01]"));
    check(!json_valid("{} {}"));
    check(!json_valid("{a: 1}"));
    check(!json_valid("\"tab\there\""));
    check(!json_valid("\"\\q\""));
    check(!json_valid("\"\\u12\""));
    check(!json_valid("\"\xff\""));
    check(!json_valid("\"\xc0\xaf\""));         /* overlong '/' */
    check(!json_valid("\"\xed\xa0\x80\""));     /* a UTF-16 surrogate */
    check(!json_valid("\"\xf4\x90\x80\x80\"")); /* above U+10FFFF */
    check(!json_valid("\"\xe2\x82\""));         /* cut short */
    check(!json_valid("[tru]"));
}

/* ---- The document ---- */

/* Columns: text only, both, a nested key ("mutex.wait"), JSON only. */
static const emitter_col_t cols[] = {
    {NULL, "size", 10},
    {"count", "count", 8},
    {"mutex.wait", "wait", 8},
    {"extra", NULL, 0},
};

static void doc(emitter_t *em) {
    emitter_begin(em);
    emitter_text(em, "== %s ==\n", "report");
    emitter_open(em, "doc", NULL, false);
    emitter_s(em, "version", "Version", "1.2");
    emitter_u(em, "pages", "", 7);       /* JSON only */
    emitter_u(em, NULL, "Text only", 9); /* text only */
    emitter_prefix(em, "opt.");
    emitter_open(em, "opt", "Options:", false);
    emitter_b(em, "abort", NULL, true);
    emitter_d(em, "decay_ms", NULL, -1);
    emitter_close(em);
    emitter_prefix(em, NULL);
    emitter_open(em, "table", "Table:", true);
    emitter_header(em, "rows:", cols, 4);
    uint64_t r1[] = {16, 3, 0, 5};
    emitter_row(em, "", NULL, cols, 4, r1);
    bool gap = true;
    emitter_gap(em, &gap);
    check(!gap);
    emitter_gap(em, &gap); /* nothing: no rows were left out since */
    uint64_t r2[] = {123456789012ULL, 1234567890, 42, 6};
    emitter_row(em, "", NULL, cols, 4, r2);
    emitter_close(em);
    uint64_t tot[] = {99, 8, 1, 2};
    emitter_row(em, NULL, "totals:", cols, 4, tot); /* JSON: members of "doc" */
    emitter_row(em, "sum", "sum:", cols, 3, tot);   /* JSON: object "sum" */
    emitter_open(em, "list", NULL, true);
    emitter_u(em, "ignored", "", 1); /* in an array: the key is dropped */
    emitter_s(em, "k", "", "s");
    emitter_close(em);
    emitter_close(em);
    emitter_text(em, "== end ==\n");
    emitter_end(em);
}

static const char doc_text[] = "== report ==\n"
                               "Version: \"1.2\"\n"
                               "Text only: 9\n"
                               "Options:\n"
                               "  opt.abort: true\n"
                               "  opt.decay_ms: -1\n"
                               "Table:\n"
                               "  rows: size   count    wait\n"
                               "          16       3       0\n"
                               "                       ---\n"
                               "   123456789012 1234567890      42\n"
                               "totals: 99       8       1\n"
                               "sum:    99       8       1\n"
                               "== end ==\n";

static const char doc_json[] =
    "{\n"
    "\"doc\": {\n"
    "\t\"version\": \"1.2\",\n"
    "\t\"pages\": 7,\n"
    "\t\"opt\": {\n"
    "\t\t\"abort\": true,\n"
    "\t\t\"decay_ms\": -1\n"
    "\t},\n"
    "\t\"table\": [\n"
    "\t\t{\"count\": 3, \"mutex\": {\"wait\": 0}, \"extra\": 5},\n"
    "\t\t{\"count\": 1234567890, \"mutex\": {\"wait\": 42}, \"extra\": 6}\n"
    "\t],\n"
    "\t\"count\": 8,\n"
    "\t\"mutex\": {\"wait\": 1},\n"
    "\t\"extra\": 2,\n"
    "\t\"sum\": {\"count\": 8, \"mutex\": {\"wait\": 1}},\n"
    "\t\"list\": [\n"
    "\t\t1,\n"
    "\t\t\"s\"\n"
    "\t]\n"
    "}\n"
    "}\n";

/* The same document compact, as jemalloc's last-N dump is written: one line, no spaces. */
static const char doc_json_compact[] =
    "{\"doc\":{\"version\":\"1.2\",\"pages\":7,\"opt\":{\"abort\":true,\"decay_ms\":-1},"
    "\"table\":[{\"count\":3,\"mutex\":{\"wait\":0},\"extra\":5},"
    "{\"count\":1234567890,\"mutex\":{\"wait\":42},\"extra\":6}],"
    "\"count\":8,\"mutex\":{\"wait\":1},\"extra\":2,\"sum\":{\"count\":8,\"mutex\":{\"wait\":1}},"
    "\"list\":[1,\"s\"]}}";

static void test_doc(void) {
    check_str(emit(doc, false), doc_text);
    const char *json = emit(doc, true);
    check_str(json, doc_json);
    check(json_valid(json));
    compact = true;
    json = emit(doc, true);
    check_str(json, doc_json_compact);
    check(json_valid(json));
    check_str(emit(doc, false), doc_text); /* text ignores it */
    compact = false;
}

/* ---- Strings ---- */

/*
 * A quote, a backslash, control characters, DEL, well-formed UTF-8 of each length, and what is
 * not: a stray 0xff, an overlong form, a surrogate, a code point above U+10FFFF, and a sequence
 * cut short by the end of the string. Each byte that does not begin well-formed UTF-8 is one
 * U+FFFD, and the bytes after it are looked at afresh.
 */
static const char weird[] = "a\"b\\c\td\x01\x1f\x7f|\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80|\xff|"
                            "\xc0\xaf|\xed\xa0\x80|\xf4\x90\x80\x80|\xe2\x82";
static const char weird_json[] = "\"a\\\"b\\\\c\\u0009d\\u0001\\u001f\x7f|\xc3\xa9\xe2\x82\xac"
                                 "\xf0\x9f\x98\x80|\\ufffd|\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|"
                                 "\\ufffd\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\"";

static void strings(emitter_t *em) {
    emitter_begin(em);
    emitter_s(em, weird, "label", weird); /* keys are escaped the same way */
    emitter_end(em);
}

/* Long enough to be escaped in several pieces of the emitter's 128-byte buffer. */
static char long_in[3 * 300 + 1];
static char long_json[4 * 300 + 1];

static void long_string(emitter_t *em) {
    emitter_begin(em);
    emitter_s(em, "k", NULL, long_in);
    emitter_end(em);
}

static void test_strings(void) {
    char expect[1024];
    snprintf(expect, sizeof(expect), "label: \"%s\"\n", weird); /* text: as is */
    check_str(emit(strings, false), expect);
    snprintf(expect, sizeof(expect), "{\n%s: %s\n}\n", weird_json, weird_json);
    const char *json = emit(strings, true);
    check_str(json, expect);
    check(json_valid(json));

    for (int i = 0; i < 300; i++) {
        memcpy(long_in + 3 * i, "ab\"", 3);
        memcpy(long_json + 4 * i, "ab\\\"", 4);
    }
    static char long_expect[2048];
    snprintf(long_expect, sizeof(long_expect), "{\n\"k\": \"%s\"\n}\n", long_json);
    json = emit(long_string, true);
    check_str(json, long_expect);
    check(json_valid(json));
}

/* ---- Nesting deeper than the indentation goes ---- */

static void deep(emitter_t *em) {
    emitter_begin(em);
    for (int i = 0; i < 12; i++)
        emitter_open(em, i % 2 ? "a" : "o", "t", i % 2 != 0);
    emitter_u(em, "n", "n", 1);
    emitter_u(em, "m", "m", 2);
    for (int i = 0; i < 12; i++)
        emitter_close(em);
    emitter_u(em, "after", "after", 3);
    emitter_end(em);
}

static void test_deep(void) {
    const char *json = emit(deep, true);
    check(json_valid(json));
    /* Indentation stops at eight tabs; the closing brackets still match. */
    check(strstr(json, "\n\t\t\t\t\t\t\t\t1,\n\t\t\t\t\t\t\t\t2\n") != NULL);
    check(strstr(json, "\n\t]\n},\n\"after\": 3\n}\n") != NULL);
    const char *text = emit(deep, false);
    /* Twelve titled levels: the values are indented by 24 spaces, then back to none. */
    check(
        strstr(text, "\n                        n: 1\n                        m: 2\nafter: 3\n") !=
        NULL);
}

int main(void) {
    test_validator();
    test_doc();
    test_strings();
    test_deep();
    return unit_finish("emitter");
}
