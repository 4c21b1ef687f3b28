/* libFuzzer target: the JSON reader of rwkvx-server (tools/json.h).

   Any bytes: json_parse either refuses them with a reason or returns a tree.
   A tree written back as text (this file's writer, on jb_json_string) must
   parse again and write back to the very same text; every string the
   reader returns is valid UTF-8 without NUL bytes cut short (its length is
   what was decoded). */
#include "../tools/json.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void write_value(jbuf *b, const json *v) {
    const json *e;
    switch (v->type) {
    case JSON_NULL: jb_str(b, "null"); break;
    case JSON_FALSE: jb_str(b, "false"); break;
    case JSON_TRUE: jb_str(b, "true"); break;
    case JSON_NUMBER: jb_printf(b, "%.17g", v->num); break;
    case JSON_STRING: jb_json_string(b, v->str, v->len); break;
    default:
        jb_str(b, v->type == JSON_ARRAY ? "[" : "{");
        for (e = v->child; e; e = e->next) {
            if (e != v->child) jb_str(b, ",");
            if (v->type == JSON_OBJECT) jb_json_string(b, e->key, e->key_len), jb_str(b, ":");
            write_value(b, e);
        }
        jb_str(b, v->type == JSON_ARRAY ? "]" : "}");
    }
}

static void check_strings(const json *v) {
    for (; v; v = v->next) {
        const unsigned char *p;
        size_t i, k;
        if (v->type == JSON_STRING) {
            p = (const unsigned char *)v->str;
            for (i = 0; i < v->len; i += k)
                if (!(k = json_utf8_char(p + i, p + v->len))) abort();
        }
        check_strings(v->child);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *why = NULL;
    json *v = json_parse((const char *)data, size, &why), *again;
    jbuf a = {0}, b = {0};
    if (!v) {
        if (!why || !*why) abort(); /* a refusal always says why */
        return 0;
    }
    check_strings(v);
    write_value(&a, v);
    if (a.oom || !(again = json_parse(a.s, a.len, &why))) abort();
    write_value(&b, again);
    if (b.oom || a.len != b.len || memcmp(a.s, b.s, a.len)) abort();
    json_free(v);
    json_free(again);
    free(a.s);
    free(b.s);
    return 0;
}
