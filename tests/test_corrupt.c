/* test_corrupt: damaged and hostile GGUF files must give an error, never a crash.

   test_corrupt MODEL.gguf

   - every truncation inside the header, at every tensor's first and last
     byte, and a spread of them through the data;
   - every header byte flipped, one at a time (loads that still succeed must
     then run a token without harm);
   - hand-made headers with absurd counts (2^63 tensors or keys, a 2^40-entry
     vocabulary or array), lengths and dimensions (dims whose product
     overflows size_t), offsets past the end, overlapping and misaligned
     tensors, tensors of the wrong shape or type for their role; each must
     give its status code and a message naming the problem;
   - NaN and infinite weights: the model loads, rwkvx_info counts them and
     names the first tensor, and tokens run (and sample) without harm;
   - the context limit (rwkvx_options.max_context) and tokens out of range.
   Run it under ASan/UBSan: the point is that nothing reads out of bounds.
   docs/HOSTILE.md lists which catalogue line each check covers. */
#include "../rwkvx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long size;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = (unsigned char *)malloc((size_t)size)) != NULL && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    *n = buf ? (size_t)size : 0;
    fclose(f);
    return buf;
}

/* Loads `n` bytes of `data` (a malloc'd block of exactly n bytes when the
   sanitizer is to see overreads); if it loads, runs one token. */
static rwkvx_status load_and_run(const unsigned char *data, size_t n, char *err) {
    rwkvx_model *m = NULL;
    rwkvx_status s = rwkvx_load_memory(&m, data, n, NULL, err);
    if (s == RWKVX_OK) {
        rwkvx_state *st = NULL;
        int32_t tok = 0;
        float *logits = (float *)malloc((size_t)rwkvx_n_vocab(m) * sizeof(float));
        if (logits && rwkvx_state_new(m, &st) == RWKVX_OK) rwkvx_eval(st, &tok, 1, logits, 0);
        rwkvx_state_free(st);
        free(logits);
        rwkvx_free(m);
    } else {
        CHECK(strlen(err) > 0 && strchr(err, '\n') == NULL, "error message is one non-empty line (at %zu)", n);
    }
    return s;
}

/* The first n bytes in a block of their own, so reading past them is caught. */
static rwkvx_status try_load(const unsigned char *data, size_t n, char *err) {
    unsigned char *copy = (unsigned char *)malloc(n ? n : 1);
    rwkvx_status s;
    memcpy(copy, data, n);
    s = load_and_run(copy, n, err);
    free(copy);
    return s;
}

/* The layout of a valid GGUF file (trusting it: the file is our own, intact):
   where each tensor's info fields and data are, and each array's count. */
typedef struct {
    char name[96];
    uint32_t n_dims, type;
    uint64_t ne[4], offset;
    size_t ne_at, type_at, offset_at, bytes;
} tinfo;

typedef struct {
    char key[96];
    size_t count_at;                   /* arrays only (0 otherwise) */
} kvinfo;

static tinfo tensors[4096];
static kvinfo kvs[256];
static size_t n_tensors, n_kvs, data_at;

static size_t skip_value(const unsigned char *p, uint32_t type) {
    static const size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    uint64_t len;
    if (type != 8) return sizes[type];
    memcpy(&len, p, 8);
    return 8 + (size_t)len;
}

static size_t tensor_bytes(const tinfo *t) {
    uint64_t n = t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
    return t->type == 0 ? 4 * n : t->type == 8 ? n / 32 * 34 : 2 * n;
}

static size_t header_bytes(const unsigned char *file) {
    uint64_t n_t, n_kv, k, j, len, count;
    uint32_t type, d;
    size_t at = 24;
    memcpy(&n_t, file + 8, 8);
    memcpy(&n_kv, file + 16, 8);
    n_kvs = n_kv < 256 ? (size_t)n_kv : 256;
    for (k = 0; k < n_kv; k++) {
        memcpy(&len, file + at, 8);
        if (k < 256) {
            snprintf(kvs[k].key, sizeof kvs[k].key, "%.*s", (int)(len < 95 ? len : 95), (const char *)file + at + 8);
            kvs[k].count_at = 0;
        }
        at += 8 + (size_t)len;
        memcpy(&type, file + at, 4);
        at += 4;
        if (type == 9) {
            memcpy(&type, file + at, 4);
            memcpy(&count, file + at + 4, 8);
            if (k < 256) kvs[k].count_at = at + 4;
            at += 12;
            for (j = 0; j < count; j++) at += skip_value(file + at, type);
        } else {
            at += skip_value(file + at, type);
        }
    }
    n_tensors = n_t < 4096 ? (size_t)n_t : 4096;
    for (k = 0; k < n_t; k++) {
        tinfo *t = &tensors[k < 4096 ? k : 4095];
        memcpy(&len, file + at, 8);
        snprintf(t->name, sizeof t->name, "%.*s", (int)(len < 95 ? len : 95), (const char *)file + at + 8);
        at += 8 + (size_t)len;
        memcpy(&t->n_dims, file + at, 4);
        t->ne_at = at + 4;
        for (d = 0; d < 4; d++) t->ne[d] = 1;
        for (d = 0; d < t->n_dims; d++) memcpy(&t->ne[d], file + at + 4 + 8 * d, 8);
        at += 4 + 8 * (size_t)t->n_dims;
        t->type_at = at;
        memcpy(&t->type, file + at, 4);
        t->offset_at = at + 4;
        memcpy(&t->offset, file + at + 4, 8);
        at += 4 + 8;
        t->bytes = tensor_bytes(t);
    }
    data_at = (at + 31) / 32 * 32;
    return data_at;
}

static const tinfo *find_tensor(const char *name) {
    size_t i;
    for (i = 0; i < n_tensors; i++)
        if (!strcmp(tensors[i].name, name)) return &tensors[i];
    return NULL;
}

static const kvinfo *find_kv(const char *key) {
    size_t i;
    for (i = 0; i < n_kvs; i++)
        if (!strcmp(kvs[i].key, key)) return &kvs[i];
    return NULL;
}

static void put_u64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static void put_u32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }

/* Loads a patched copy (bad) and checks the status and that the message
   contains `word`. */
static void expect(const unsigned char *bad, size_t n, rwkvx_status want, const char *word, const char *what) {
    char err[RWKVX_ERROR_MAX];
    rwkvx_status s;
    err[0] = 0;
    s = try_load(bad, n, err);
    CHECK(s == want && strstr(err, word) != NULL, "%s: status %d (want %d), message '%s' (want '%s')", what, (int)s, (int)want, err, word);
}

/* Sets element k of a tensor to the non-finite value `bits` (for Q8_0, the
   scale of block k); returns how many weights that makes non-finite. */
static uint64_t poison(unsigned char *file, const tinfo *t, size_t k, uint32_t f32_bits) {
    unsigned char *p = file + data_at + t->offset;
    uint16_t h = (uint16_t)(f32_bits >> 31 << 15 | 0x7c00 | ((f32_bits & 0x7fffff) ? 0x200 : 0));
    switch (t->type) {
    case 0: memcpy(p + 4 * k, &f32_bits, 4); return 1;
    case 1: memcpy(p + 2 * k, &h, 2); return 1;
    case 30: { uint16_t b = (uint16_t)(f32_bits >> 16); memcpy(p + 2 * k, &b, 2); return 1; }
    default: memcpy(p + 34 * k, &h, 2); return 32;
    }
}

/* NaN and infinite weights: counted at load, named, and harmless to run. */
static void nonfinite_weights(const unsigned char *file, size_t n) {
    unsigned char *bad = (unsigned char *)malloc(n);
    const tinfo *t = find_tensor("blk.0.time_mix_key.weight");
    rwkvx_model *m = NULL;
    rwkvx_state *st = NULL;
    rwkvx_sampler *sm = NULL;
    rwkvx_info info;
    char err[RWKVX_ERROR_MAX];
    uint64_t want;
    float *logits;
    int32_t tokens[3] = {1, 2, 3};
    memcpy(bad, file, n);
    if (!t) { CHECK(0, "model has blk.0.time_mix_key.weight"); free(bad); return; }
    want = poison(bad, t, 0, 0x7fc00000u) + poison(bad, t, 2, 0x7f800000u) + poison(bad, t, 5, 0xff800000u);
    CHECK(rwkvx_load_memory(&m, bad, n, NULL, err) == RWKVX_OK, "a model with NaN/Inf weights loads");
    if (!m) { free(bad); return; }
    rwkvx_model_info(m, &info);
    CHECK(info.n_nonfinite == want, "rwkvx_info counts the NaN/Inf weights (%llu, want %llu)",
          (unsigned long long)info.n_nonfinite, (unsigned long long)want);
    CHECK(info.nonfinite_tensor && !strcmp(info.nonfinite_tensor, t->name), "rwkvx_info names the first tensor holding one");
    logits = (float *)malloc(3 * (size_t)rwkvx_n_vocab(m) * sizeof(float));
    CHECK(rwkvx_state_new(m, &st) == RWKVX_OK && rwkvx_eval(st, tokens, 3, logits, RWKVX_EVAL_ALL_LOGITS) == RWKVX_OK,
          "tokens run through NaN/Inf weights");
    CHECK(rwkvx_sampler_new(&sm, rwkvx_n_vocab(m), NULL, NULL, 1) == RWKVX_OK, "sampler");
    if (sm) {
        int32_t id = rwkvx_sample(sm, logits);
        CHECK(id >= -1 && id < rwkvx_n_vocab(m), "sampling NaN logits gives a token or -1, no crash (got %d)", (int)id);
    }
    rwkvx_sampler_free(sm);
    rwkvx_state_free(st);
    free(logits);
    rwkvx_free(m);
    /* and the intact file reports none */
    CHECK(rwkvx_load_memory(&m, file, n, NULL, err) == RWKVX_OK, "intact file loads");
    if (m) {
        rwkvx_model_info(m, &info);
        CHECK(info.n_nonfinite == 0 && info.nonfinite_tensor == NULL, "an intact model has no NaN/Inf weights");
        rwkvx_free(m);
    }
    free(bad);
}

/* rwkvx_options.max_context: runs and restored states past it fail with
   RWKVX_ERR_CONTEXT and change nothing. */
static void context_limit(const unsigned char *file, size_t n) {
    rwkvx_options opt;
    rwkvx_model *m = NULL, *big = NULL;
    rwkvx_state *st = NULL, *sb = NULL;
    rwkvx_info info;
    char err[RWKVX_ERROR_MAX];
    int32_t tokens[6] = {1, 2, 3, 4, 5, 6};
    unsigned char *saved = NULL;
    size_t bytes;
    memset(&opt, 0, sizeof opt);
    opt.max_context = -1;
    CHECK(rwkvx_load_memory(&m, file, n, &opt, err) == RWKVX_ERR_ARGUMENT, "negative max_context refused");
    opt.max_context = 4;
    if (rwkvx_load_memory(&m, file, n, &opt, err) != RWKVX_OK || rwkvx_state_new(m, &st) != RWKVX_OK) {
        CHECK(0, "load with max_context");
        rwkvx_free(m);
        return;
    }
    rwkvx_model_info(m, &info);
    CHECK(info.max_context == 4, "rwkvx_info reports max_context");
    CHECK(rwkvx_eval(st, tokens, 5, NULL, 0) == RWKVX_ERR_CONTEXT && rwkvx_state_position(st) == 0,
          "a prompt longer than the limit refused, state untouched");
    CHECK(rwkvx_eval(st, tokens, 4, NULL, 0) == RWKVX_OK, "a prompt of exactly the limit runs");
    CHECK(rwkvx_eval(st, tokens, 1, NULL, 0) == RWKVX_ERR_CONTEXT && rwkvx_state_position(st) == 4,
          "one token past the limit refused");
    CHECK(!strcmp(rwkvx_status_string(RWKVX_ERR_CONTEXT), "context limit reached"), "status string");
    /* a state of 6 tokens saved under a larger limit does not restore under this one */
    opt.max_context = 8;
    if (rwkvx_load_memory(&big, file, n, &opt, err) == RWKVX_OK && rwkvx_state_new(big, &sb) == RWKVX_OK &&
        rwkvx_eval(sb, tokens, 6, NULL, 0) == RWKVX_OK && (saved = (unsigned char *)malloc(bytes = rwkvx_state_save_bytes(sb))) &&
        rwkvx_state_save(sb, saved, bytes) == RWKVX_OK) {
        CHECK(rwkvx_state_load(st, saved, bytes) == RWKVX_ERR_CONTEXT && rwkvx_state_position(st) == 4,
              "a saved state past the limit refused, state untouched");
    } else {
        CHECK(0, "save a state under max_context 8");
    }
    free(saved);
    rwkvx_state_free(sb);
    rwkvx_free(big);
    rwkvx_state_free(st);
    rwkvx_free(m);
}

/* Hostile headers made by patching one field of the intact file. */
static void hostile_headers(const unsigned char *file, size_t n) {
    unsigned char *bad = (unsigned char *)malloc(n);
    const tinfo *first = &tensors[0], *second = &tensors[1], *last = &tensors[n_tensors - 1], *t;
    const kvinfo *kv;
    char err[RWKVX_ERROR_MAX];
    size_t i;
    /* truncated at every tensor's first and last byte */
    for (i = 0; i < n_tensors; i++) {
        size_t at = data_at + (size_t)tensors[i].offset;
        CHECK(try_load(file, at, err) != RWKVX_OK, "cut at a tensor's first byte refused (at %zu)", at);
        CHECK(try_load(file, at + tensors[i].bytes - 1, err) != RWKVX_OK, "cut before a tensor's last byte refused (at %zu)",
              (size_t)(at + tensors[i].bytes - 1));
    }
#define PATCH(stmt, want, word, what) (memcpy(bad, file, n), (stmt), expect(bad, n, want, word, what))
    PATCH(put_u64(bad + last->offset_at, (uint64_t)1 << 62), RWKVX_ERR_FORMAT, "offset", "tensor offset past the end");
    PATCH(put_u64(bad + last->offset_at, n), RWKVX_ERR_FORMAT, "offset", "tensor offset at the end of the file");
    PATCH(put_u64(bad + second->offset_at, first->offset), RWKVX_ERR_FORMAT, "offset", "overlapping tensors");
    PATCH(put_u64(bad + second->offset_at, second->offset + 1), RWKVX_ERR_FORMAT, "offset", "misaligned tensor");
    PATCH(put_u64(bad + second->offset_at, second->offset + 32), RWKVX_ERR_FORMAT, "offset", "a gap between tensors");
    /* dimensions: one absurd, two whose product overflows size_t (and 2^62 bytes) */
    PATCH(put_u64(bad + first->ne_at, (uint64_t)1 << 62), RWKVX_ERR_FORMAT, "dimension", "dimension 2^62");
    t = find_tensor("token_embd.weight");
    if (t && t->n_dims == 2)
        PATCH((put_u64(bad + t->ne_at, (uint64_t)1 << 32), put_u64(bad + t->ne_at + 8, (uint64_t)1 << 32)),
              RWKVX_ERR_FORMAT, "dimension", "dims 2^32 x 2^32 (product overflows)");
    PATCH(put_u32(bad + first->ne_at - 4, 5), RWKVX_ERR_FORMAT, "dimensions", "five dimensions");
    /* a wrong shape for the role: a non-square matrix transposed */
    t = find_tensor("blk.0.channel_mix_key.weight");
    if (t && t->ne[0] != t->ne[1])
        PATCH((put_u64(bad + t->ne_at, t->ne[1]), put_u64(bad + t->ne_at + 8, t->ne[0])), RWKVX_ERR_FORMAT, "shape",
              "transposed matrix");
    /* a wrong type for the role: an F32 vector stored as F16 (same bytes) */
    t = find_tensor("token_embd_norm.weight");
    if (t && t->type == 0)
        PATCH((put_u32(bad + t->type_at, 1), put_u64(bad + t->ne_at, 2 * t->ne[0])), RWKVX_ERR_FORMAT, "F32",
              "F16 where an F32 vector belongs");
    PATCH(put_u32(bad + first->type_at, 16), RWKVX_ERR_UNSUPPORTED, "type", "type IQ2_XXS (a ggml type rwkvx lacks)");
    PATCH(put_u32(bad + first->type_at, 1000), RWKVX_ERR_UNSUPPORTED, "type", "unknown type 1000");
    /* absurd array counts: 2^40 entries */
    kv = find_kv("rwkvx.block_order");
    if (kv && kv->count_at)
        PATCH(put_u64(bad + kv->count_at, (uint64_t)1 << 40), RWKVX_ERR_FORMAT, "rwkvx.block_order", "2^40 block order entries");
    kv = find_kv("tokenizer.ggml.tokens");
    if (kv && kv->count_at) {
        PATCH(put_u64(bad + kv->count_at, (uint64_t)1 << 40), RWKVX_ERR_FORMAT, "tokenizer.ggml.tokens",
              "a 2^40-token vocabulary");
        PATCH(put_u64(bad + kv->count_at, ~(uint64_t)0), RWKVX_ERR_FORMAT, "tokenizer.ggml.tokens",
              "a 2^64-1-token vocabulary");
    }
#undef PATCH
    free(bad);
}

int main(int argc, char **argv) {
    char err[RWKVX_ERROR_MAX];
    size_t n, hdr, cut, i;
    unsigned char *file;
    if (argc != 2 || !(file = read_all(argv[1], &n))) {
        fprintf(stderr, "usage: test_corrupt MODEL.gguf\n");
        return 2;
    }
    CHECK(try_load(file, n, err) == RWKVX_OK, "the intact file loads (%zu bytes)", n);
    hdr = header_bytes(file);
    for (cut = 0; cut < hdr; cut++) CHECK(try_load(file, cut, err) != RWKVX_OK, "truncated header refused (at %zu)", cut);
    for (cut = hdr; cut + 64 < n; cut += 1 + (n - hdr) / 97)
        CHECK(try_load(file, cut, err) != RWKVX_OK, "truncated data refused (at %zu)", cut);
    for (i = 0; i < hdr; i++) { /* any outcome but a crash is fine */
        file[i] ^= 0xff;
        load_and_run(file, n, err);
        file[i] ^= 0x80 ^ 0xff;
        load_and_run(file, n, err);
        file[i] ^= 0x80;
        CHECK_PASS();
    }
    {   /* absurd counts: 2^63 tensors, 2^63 keys, a key of length 2^64-1 */
        unsigned char *bad = (unsigned char *)malloc(n);
        memcpy(bad, file, n);
        put_u64(bad + 8, (uint64_t)1 << 63);
        CHECK(try_load(bad, n, err) == RWKVX_ERR_FORMAT, "2^63 tensors refused (byte 8)");
        memcpy(bad, file, n);
        put_u64(bad + 16, (uint64_t)1 << 63);
        CHECK(try_load(bad, n, err) == RWKVX_ERR_FORMAT, "2^63 keys refused (byte 16)");
        memcpy(bad, file, n);
        put_u64(bad + 24, ~(uint64_t)0);
        CHECK(try_load(bad, n, err) == RWKVX_ERR_FORMAT, "key length 2^64-1 refused (byte 24)");
        memcpy(bad, file, n);
        bad[4] = 2;
        CHECK(try_load(bad, n, err) == RWKVX_ERR_UNSUPPORTED, "GGUF v2 refused (byte 4)");
        free(bad);
    }
    hostile_headers(file, n);
    nonfinite_weights(file, n);
    context_limit(file, n);
    free(file);
    return check_report("test_corrupt");
}
