/* json.h - a small strict JSON reader (RFC 8259) and writer for rwkvx-server.

   json_parse reads a whole document into a tree: strings must be valid UTF-8
   (escapes included: a lone surrogate is an error), nesting at most
   JSON_MAX_DEPTH deep, nothing but white space after the value. Every failure
   is a one-line reason, never a crash (fuzz/fuzz_json.c fuzzes it).
   json_get finds an object's member; the writer (jbuf) builds output text,
   escaping strings and replacing bytes that are not UTF-8 with U+FFFD so the
   output is always valid JSON.

   Include it in one file (its functions are static). */
#ifndef RWKVX_JSON_H
#define RWKVX_JSON_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 32

#if defined(__GNUC__) || defined(__clang__)
#define JSON_FN static __attribute__((unused)) /* a program need not use them all */
#else
#define JSON_FN static
#endif

enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

typedef struct json json;
struct json {
    int type;
    double num;                  /* JSON_NUMBER */
    int integral;                /* JSON_NUMBER written without fraction or exponent */
    char *str;                   /* JSON_STRING: the decoded bytes, NUL-terminated */
    size_t len;
    char *key;                   /* a member of an object: its name (decoded) */
    size_t key_len;
    json *child, *next;          /* an array's or object's first element; the next sibling */
    size_t n;                    /* an array's or object's element count */
};

typedef struct {
    const unsigned char *p, *end;
    int depth;
    const char *why;
} json__reader;

JSON_FN void json_free(json *v) {
    while (v) {
        json *next = v->next;
        json_free(v->child);
        free(v->str);
        free(v->key);
        free(v);
        v = next;
    }
}

static void json__space(json__reader *r) {
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

static int json__fail(json__reader *r, const char *why) {
    if (!r->why) r->why = why;
    return 0;
}

/* Length of the UTF-8 character at p (1-4), 0 if it is not one (overlong
   forms, surrogates and code points past U+10FFFF are not). */
JSON_FN size_t json_utf8_char(const unsigned char *p, const unsigned char *end) {
    size_t n, i;
    unsigned cp;
    if (p >= end) return 0;
    if (p[0] < 0x80) return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF) n = 2, cp = p[0] & 0x1Fu;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF) n = 3, cp = p[0] & 0x0Fu;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4) n = 4, cp = p[0] & 0x07u;
    else return 0;
    if ((size_t)(end - p) < n) return 0;
    for (i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (p[i] & 0x3Fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

static size_t json__put_utf8(char *out, unsigned cp) {
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) { out[0] = (char)(0xC0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12); out[1] = (char)(0x80 | (cp >> 6 & 0x3F)); out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18); out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F)); out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int json__hex4(json__reader *r, unsigned *out) {
    int i;
    *out = 0;
    if (r->end - r->p < 4) return json__fail(r, "truncated \\u escape");
    for (i = 0; i < 4; i++) {
        int c = *r->p++, d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return json__fail(r, "bad \\u escape");
        *out = *out << 4 | (unsigned)d;
    }
    return 1;
}

/* A string (r->p at the opening quote) into a new NUL-terminated buffer. */
static int json__string(json__reader *r, char **out, size_t *len) {
    const unsigned char *q;
    char *s;
    size_t n = 0;
    r->p++;
    for (q = r->p; q < r->end && *q != '"'; q++) /* decoded text is never longer than the source */
        if (*q == '\\' && q + 1 < r->end) q++;
    if (q >= r->end) return json__fail(r, "unterminated string");
    if (!(s = (char *)malloc((size_t)(q - r->p) + 1))) return json__fail(r, "out of memory");
    while (*r->p != '"') {
        unsigned c = *r->p;
        if (c < 0x20) { free(s); return json__fail(r, "control character in a string"); }
        if (c == '\\') {
            unsigned cp, lo;
            r->p++;
            switch (*r->p++) {
            case '"': s[n++] = '"'; break;
            case '\\': s[n++] = '\\'; break;
            case '/': s[n++] = '/'; break;
            case 'b': s[n++] = '\b'; break;
            case 'f': s[n++] = '\f'; break;
            case 'n': s[n++] = '\n'; break;
            case 'r': s[n++] = '\r'; break;
            case 't': s[n++] = '\t'; break;
            case 'u':
                if (!json__hex4(r, &cp)) { free(s); return 0; }
                if (cp >= 0xD800 && cp <= 0xDBFF) { /* a surrogate pair: 12 source bytes for 4 */
                    if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u') { free(s); return json__fail(r, "lone surrogate"); }
                    r->p += 2;
                    if (!json__hex4(r, &lo)) { free(s); return 0; }
                    if (lo < 0xDC00 || lo > 0xDFFF) { free(s); return json__fail(r, "lone surrogate"); }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    free(s);
                    return json__fail(r, "lone surrogate");
                }
                n += json__put_utf8(s + n, cp);
                break;
            default: free(s); return json__fail(r, "bad escape");
            }
        } else {
            size_t k = json_utf8_char(r->p, r->end), i;
            if (!k) { free(s); return json__fail(r, "invalid UTF-8 in a string"); }
            for (i = 0; i < k; i++) s[n++] = (char)*r->p++;
        }
    }
    r->p++;
    s[n] = 0;
    *out = s, *len = n;
    return 1;
}

static int json__number(json__reader *r, json *v) {
    const unsigned char *start = r->p;
    char buf[64];
    v->integral = 1;
    if (r->p < r->end && *r->p == '-') r->p++;
    if (r->p >= r->end || *r->p < '0' || *r->p > '9') return json__fail(r, "bad number");
    if (*r->p == '0') r->p++;
    else while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
    if (r->p < r->end && *r->p == '.') {
        v->integral = 0, r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9') return json__fail(r, "bad number");
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        v->integral = 0, r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-')) r->p++;
        if (r->p >= r->end || *r->p < '0' || *r->p > '9') return json__fail(r, "bad number");
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') r->p++;
    }
    if ((size_t)(r->p - start) >= sizeof buf) { /* huge literals: only their size matters */
        v->num = start[0] == '-' ? -1e300 : 1e300;
        v->integral = 0;
        return 1;
    }
    memcpy(buf, start, (size_t)(r->p - start));
    buf[r->p - start] = 0;
    v->num = strtod(buf, NULL);
    if (!(v->num - v->num == 0)) v->num = start[0] == '-' ? -1e300 : 1e300, v->integral = 0; /* past double's range */
    return 1;
}

static int json__literal(json__reader *r, const char *word, int type, json *v) {
    size_t n = strlen(word);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n)) return json__fail(r, "unexpected character");
    r->p += n;
    v->type = type;
    return 1;
}

static json *json__value(json__reader *r);

/* The elements of an array or the members of an object (r->p past the opening bracket). */
static int json__elements(json__reader *r, json *v, int object) {
    json **tail = &v->child;
    char close = object ? '}' : ']';
    json__space(r);
    if (r->p < r->end && *r->p == close) { r->p++; return 1; }
    for (;;) {
        char *key = NULL;
        size_t key_len = 0;
        json *e;
        if (object) {
            json__space(r);
            if (r->p >= r->end || *r->p != '"') return json__fail(r, "expected a member name");
            if (!json__string(r, &key, &key_len)) return 0;
            json__space(r);
            if (r->p >= r->end || *r->p != ':') { free(key); return json__fail(r, "expected ':'"); }
            r->p++;
        }
        if (!(e = json__value(r))) { free(key); return 0; }
        e->key = key, e->key_len = key_len;
        *tail = e, tail = &e->next, v->n++;
        json__space(r);
        if (r->p < r->end && *r->p == ',') { r->p++; continue; }
        if (r->p < r->end && *r->p == close) { r->p++; return 1; }
        return json__fail(r, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static json *json__value(json__reader *r) {
    json *v;
    int ok;
    json__space(r);
    if (r->p >= r->end) { json__fail(r, "unexpected end of input"); return NULL; }
    if (!(v = (json *)calloc(1, sizeof *v))) { json__fail(r, "out of memory"); return NULL; }
    switch (*r->p) {
    case '{': case '[':
        if (++r->depth > JSON_MAX_DEPTH) { ok = json__fail(r, "nested too deeply"); break; }
        v->type = *r->p == '{' ? JSON_OBJECT : JSON_ARRAY;
        r->p++;
        ok = json__elements(r, v, v->type == JSON_OBJECT);
        r->depth--;
        break;
    case '"': v->type = JSON_STRING; ok = json__string(r, &v->str, &v->len); break;
    case 't': ok = json__literal(r, "true", JSON_TRUE, v); break;
    case 'f': ok = json__literal(r, "false", JSON_FALSE, v); break;
    case 'n': ok = json__literal(r, "null", JSON_NULL, v); break;
    default: v->type = JSON_NUMBER; ok = json__number(r, v); break;
    }
    if (!ok) { json_free(v); return NULL; }
    return v;
}

/* The document in text[0..len), or NULL with *why set to a reason. */
JSON_FN json *json_parse(const char *text, size_t len, const char **why) {
    json__reader r;
    json *v;
    r.p = (const unsigned char *)text, r.end = r.p + len, r.depth = 0, r.why = NULL;
    v = json__value(&r);
    if (v) {
        json__space(&r);
        if (r.p != r.end) { json_free(v); v = NULL; json__fail(&r, "text after the JSON value"); }
    }
    if (why) *why = r.why;
    return v;
}

JSON_FN const json *json_get(const json *obj, const char *key) {
    const json *e;
    size_t n = strlen(key);
    if (!obj || obj->type != JSON_OBJECT) return NULL;
    for (e = obj->child; e; e = e->next)
        if (e->key_len == n && !memcmp(e->key, key, n)) return e;
    return NULL;
}

/* ---- writing ---- */

typedef struct {
    char *s;
    size_t len, cap;
    int oom;                     /* an allocation failed: the text is incomplete */
} jbuf;

JSON_FN void jb_add(jbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->len + n + 1) * 2;
        char *p = (char *)realloc(b->s, cap);
        if (!p) { b->oom = 1; return; }
        b->s = p, b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

JSON_FN void jb_str(jbuf *b, const char *s) { jb_add(b, s, strlen(s)); }

JSON_FN void jb_printf(jbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0) jb_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* s[0..n) as a JSON string literal, quotes included. */
JSON_FN void jb_json_string(jbuf *b, const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    jb_add(b, "\"", 1);
    while (p < end) {
        size_t k = json_utf8_char(p, end);
        if (k == 0) { jb_str(b, "\\ufffd"); p++; continue; }
        if (k > 1) { jb_add(b, (const char *)p, k); p += k; continue; }
        switch (*p) {
        case '"': jb_str(b, "\\\""); break;
        case '\\': jb_str(b, "\\\\"); break;
        case '\n': jb_str(b, "\\n"); break;
        case '\r': jb_str(b, "\\r"); break;
        case '\t': jb_str(b, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7F) jb_printf(b, "\\u%04x", *p);
            else jb_add(b, (const char *)p, 1);
        }
        p++;
    }
    jb_add(b, "\"", 1);
}

#endif /* RWKVX_JSON_H */
