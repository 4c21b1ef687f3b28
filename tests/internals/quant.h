/* test_internals quant: ggml's block weight types, from single blocks to whole models.

   test_internals quant blocks FILE.blocks...
       Golden blocks made by ggml (tests/quant/make_golden_blocks.py): for each
       block, rwkvx's dequantization (row_to_f32, i.e. the group loader that
       the decode kernel inlines) equals ggml's f32 values bit for bit (any
       NaN matches any NaN), also converted from any group of 32 on; the decode kernel (T = 1) and the prefill kernel
       (T = 3) multiplying the blocks by one-hot inputs give those values too
       (finite blocks; a zero's sign is not kept by a sum); each block is
       read from an allocation of exactly its size (ASan builds catch a read
       outside it); the load-time non-finite count equals the number of
       non-finite values ggml writes.
   test_internals quant models MODEL.gguf TYPE...
       For each TYPE (ggml's name, or "mixed": every matrix another type) the
       model's matrices, embedding and head included, are replaced by blocks
       of that type (random contents at the weights' scale; rows that are not
       whole blocks of it fall back to q4_0, else stay f32), next to an f32
       twin holding rwkvx's dequantization of those blocks. Both are loaded
       from memory and run whole, token by token and in ragged pieces, with 1
       and 2 threads: all logits must be identical (prefill == decode, any
       thread count, and the block kernels == the f32 kernels on the same
       values), finite, and token_bytes must count each matrix in its type;
       a NaN scale counts its block's values in n_nonfinite.
   test_internals quant write MODEL.gguf TYPE OUT.gguf
       Writes such a model (matrices of random blocks at the weights' scale)
       for benchmarks: rwkvx-bench runs it like any other file.
   test_internals quant speed [--rows R --cols C] TYPE...
       A benchmark, not a test: the matrix kernels' throughput with the
       weights in cache, one thread, f16 first as the baseline.
       Then "intdot": a random product of each integer type for T = 1, 3, 64 (equal), whose
       hash every build of the integer kernels prints alike.
   Prints "test_internals quant: N passed, N failed". */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static unsigned char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long size;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = (unsigned char *)malloc((size_t)size)) && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n = buf ? (size_t)size : 0;
    return buf;
}

static int same_value(float a, float b) { /* bit for bit, any NaN matching any NaN */
    uint32_t x, y;
    if (a != a || b != b) return a != a && b != b;
    memcpy(&x, &a, 4), memcpy(&y, &b, 4);
    return x == y;
}

/* ---- golden blocks ---- */

/* How far a type of integer products may land from W[r][c] for a one-hot
   input e_c: Q8_0's e_c quantizes to d = 1 / 127 and q = 127, y = (W's
   scale * d) * 127 q, three roundings: 1e-6 |W|. A K type's value is
   d sc u - dm o, each term rounded on its own before the difference
   (see "Integer products of the K types"), so the bound scales with the
   terms, |d sc| 63 + |dm o|, not with their difference. */
/* m as the loader leaves it: a 32-value type packed into a copy (*packed, to free) */
static void pack_for_products(rwkvx__mat *m, unsigned char **packed) {
    size_t n = rwkvx__packed_bytes(m);
    m->packed = m->packed_last = NULL;
    *packed = n ? (unsigned char *)malloc(n) : NULL;
    if (*packed) rwkvx__pack_rows(m, *packed);
}

static double one_hot_tolerance(const rwkvx__mat *w, int64_t r, int64_t c, float e) {
    if (rwkvx__int_type(w->type) == 256) {
        rwkvx__kscale k;
        const unsigned char *b = (const unsigned char *)w->data + (size_t)r * rwkvx__row_bytes(w) + (size_t)(c / 256) * rwkvx__span_bytes(w->type);
        int sc, o;
        rwkvx__kscales(b, w->type, &k);
        rwkvx__kscale_at(&k, (int)(c % 256 / 16), &sc, &o);
        return 1e-6 * (fabs(e) + fabs((double)k.d * sc) * 63 + fabs((double)k.dm * o));
    }
    if (w->type == RWKVX_TYPE_Q4_1 && rwkvx__int_path(w)) { /* d q + m: two rounded terms that can cancel */
        const unsigned char *b = (const unsigned char *)w->data + (size_t)r * rwkvx__row_bytes(w) + (size_t)(c / 32) * 20;
        return 1e-6 * (fabs(e) + fabs((double)rwkvx__f16_at(b)) * 15 + fabs((double)rwkvx__f16_at(b + 2)));
    }
    return 1e-6 * fabs(e);
}

/* y = W x for one-hot inputs x = e_c, c < cols, through the matrix kernels
   with T tokens (T = 1: the decode kernel): y[r] must be W[r][c], or within
   one_hot_tolerance of it for a type of integer products. */
static int one_hot_products(const rwkvx__mat *w, int T, const float *expect, const int *finite_row) {
    size_t stride = (rwkvx__work_floats((size_t)w->cols) + 15) / 16 * 16;
    float *base = (float *)malloc((stride + 16) * sizeof(float)), *x = (float *)calloc((size_t)(T * w->cols), sizeof(float));
    float *y = (float *)malloc((size_t)(T * w->rows) * sizeof(float));
    rwkvx__work work;
    int64_t c, r;
    int t, ok = base && x && y, integer = rwkvx__int_path(w);
    work.base = base + (16 - (uintptr_t)base / sizeof(float) % 16) % 16; /* 64-byte aligned */
    work.stride = stride;
    for (c = 0; ok && c < w->cols; c++) {
        for (t = 0; t < T; t++) x[t * w->cols + c] = 1.0f;
        rwkvx__matmul(w, x, w->cols, y, w->rows, T, &work, 1);
        for (t = 0; t < T; t++) x[t * w->cols + c] = 0.0f;
        for (r = 0; r < w->rows; r++) {
            float e = expect[r * w->cols + c];
            if (!finite_row[r]) continue;
            for (t = 0; t < T; t++)
                if (!(y[t * w->rows + r] == e || (integer && fabs(y[t * w->rows + r] - e) <= one_hot_tolerance(w, r, c, e)))) ok = 0;
        }
    }
    free(base), free(x), free(y);
    return ok;
}

static void check_blocks_file(const char *path) {
    size_t n = 0, i, j, n_bad = 0;
    unsigned char *file = read_file(path, &n);
    uint32_t head[4];
    const rwkvx__type_row *t;
    const unsigned char *blocks;
    float *ggml, *mine;
    int *finite_row;
    int exact = 1;
    char where[512];
    if (!file || n < 24 || memcmp(file, "RWKVXQB1", 8)) { CHECK(0, "%s: %s", path, "cannot read a golden block file"); free(file); return; }
    memcpy(head, file + 8, 16);
    t = rwkvx__type_of(head[0]);
    if (!t || (uint32_t)t->block != head[1] || (uint32_t)t->bytes != head[2] ||
        n != 24 + (size_t)head[3] * (head[2] + 4 * (size_t)head[1])) {
        CHECK(0, "%s: %s", path, "header does not match the type table");
        free(file);
        return;
    }
    snprintf(where, sizeof where, "%s (%s, %u blocks)", path, t->name, head[3]);
    blocks = file + 24;
    ggml = (float *)malloc((size_t)head[3] * head[1] * sizeof(float)); /* aligned copy */
    memcpy(ggml, blocks + (size_t)head[3] * head[2], (size_t)head[3] * head[1] * sizeof(float));
    mine = (float *)malloc((size_t)head[3] * head[1] * sizeof(float));
    finite_row = (int *)malloc(head[3] * sizeof(int));
    for (i = 0; i < head[3]; i++) {  /* each block alone, in an allocation of its size */
        unsigned char *one = (unsigned char *)malloc(head[2]);
        memcpy(one, blocks + i * head[2], head[2]);
        t->to_f32(one, 0, head[1], mine + i * head[1]);
        free(one);
        finite_row[i] = 1;
        for (j = 0; j < head[1]; j++) {
            float v = ggml[i * head[1] + j];
            if (!same_value(mine[i * head[1] + j], v)) {
                if (exact) printf("  block %zu value %zu: rwkvx %.9g, ggml %.9g\n", i, j, mine[i * head[1] + j], v);
                exact = 0;
            }
            if (!isfinite(v)) n_bad++, finite_row[i] = 0;
        }
    }
    CHECK(exact, "%s: %s", where, "dequantized values differ from ggml's");
    {   /* the blocks as one row, converted from every group on (prefill slices
           start at any multiple of 32, inside a block of 256) */
        size_t values = (size_t)head[3] * head[1], g;
        float *part = (float *)malloc(values * sizeof(float));
        int same = 1;
        for (g = 0; g < values / 32 && g < 64; g++) {
            t->to_f32(blocks, (int64_t)(32 * g), (int64_t)(values - 32 * g), part);
            for (j = 0; j < values - 32 * g; j++) same &= same_value(part[j], mine[32 * g + j]);
        }
        CHECK(same, "%s: %s", where, "a row converted from a group inside a block differs");
        free(part);
    }
    CHECK(rwkvx__count_nonfinite(blocks, head[0], (size_t)head[3] * head[2]) == n_bad, "%s: %s", where, "non-finite count differs");
    {   /* the blocks as a matrix of one block per row, through the kernels */
        rwkvx__mat w;
        unsigned char *packed;
        w.data = blocks, w.type = (rwkvx_type)head[0], w.rows = head[3], w.cols = head[1];
        pack_for_products(&w, &packed);
        CHECK(one_hot_products(&w, 1, ggml, finite_row), "%s: %s", where, "decode kernel (T = 1) differs from ggml's values");
        CHECK(one_hot_products(&w, 3, ggml, finite_row), "%s: %s", where, "prefill kernel (T = 3) differs from ggml's values");
        free(packed);
    }
    printf("  %-8s %4u blocks, %5zu non-finite values: %s\n", t->name, head[3], n_bad, exact ? "bit-exact" : "DIFFERENT");
    free(ggml), free(mine), free(finite_row), free(file);
}

/* ---- whole models ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_random(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t)(rng >> 32); }

/* One block of `type` standing for the weights x of a block: a plain type
   holds x rounded; a block type random bytes, then every f16 scale set to
   one magnitude (random signs, so that minimums and offsets do not all push
   one way) that gives the block x's RMS. */
static void make_block(const rwkvx__type_row *t, unsigned char *b, const float *x) {
    float v[256];
    double sum = 0, want = 0, k;
    int i, s;
    uint16_t one = 0x3c00, scale;
    if (t->block == 1) {
        uint32_t bits;
        memcpy(&bits, x, 4);
        scale = !strcmp(t->name, "bf16") ? (uint16_t)(bits >> 16) : rwkvx__f32_to_f16(x[0]);
        memcpy(b, &scale, 2);
        return;
    }
    for (i = 0; i < t->bytes; i++) b[i] = (unsigned char)next_random();
    for (s = 0; s < t->n_scales; s++) memcpy(b + t->scale_off + 2 * s, &one, 2);
    t->to_f32(b, 0, t->block, v);
    for (i = 0; i < t->block; i++) sum += (double)v[i] * v[i], want += (double)x[i] * x[i];
    k = sum > 0 ? sqrt(want / sum) : 0;
    if (k > 60000) k = 60000;
    scale = rwkvx__f32_to_f16((float)k);
    for (s = 0; s < t->n_scales; s++) {
        uint16_t h = (uint16_t)(scale | (s && (next_random() & 1) ? 0x8000 : 0));
        memcpy(b + t->scale_off + 2 * s, &h, 2);
    }
}

/* Where make_pair put the first block of a block type (0: none), and its type */
static size_t first_block_at;
static const rwkvx__type_row *first_block_type;

typedef struct {          /* a GGUF being written into memory */
    unsigned char *p;
    size_t n, cap;
} buffer;

static void put(buffer *b, const void *data, size_t n) { /* b NULL: nothing */
    if (!b) return;
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = (unsigned char *)realloc(b->p, b->cap);
    }
    if (data) memcpy(b->p + b->n, data, n);
    else memset(b->p + b->n, 0, n);
    b->n += n;
}

/* Is the tensor whose data the model holds at `data` one of its matrices? */
static int is_matrix(const rwkvx_model *m, const void *data) {
    const rwkvx__mat *mats[RWKVX__BLOCK_MATS];
    int i, j, n;
    if (data == m->emb.data || data == m->head.data) return 1;
    for (i = 0; i < m->n_rwkv + m->n_sparse; i++)
        for (n = rwkvx__block_mats(m, m->order[i], mats), j = 0; j < n; j++)
            if (mats[j]->data == data) return 1;
    return 0;
}

/* Model m's file with every matrix (of a plain type) in type types[k %
   n_types] for the k-th matrix, as blocks in *quant, and their dequantized
   values as f32 in *twin (may be NULL); 0 if the file cannot be parsed. */
static int make_pair(const rwkvx_model *m, const uint32_t *types, int n_types, buffer *quant, buffer *twin) {
    const unsigned char *file = m->file;
    size_t n = m->file_bytes;
    rwkvx__gguf g;
    rwkvx__cursor c;
    uint32_t alignment = 32;
    char err[RWKVX_ERROR_MAX];
    size_t kv_end, off_q = 0, off_t = 0;
    uint64_t i;
    int pass, k;
    float *source = NULL;
    memset(&g, 0, sizeof g);
    g.err = err;
    c.p = file, c.left = n;
    if (rwkvx__gguf_parse_header(&g, &c, &alignment) != RWKVX_OK) return 0;
    kv_end = (size_t)(c.p - file);
    if (rwkvx__gguf_parse_tensors(&g, &c, file, n, alignment) != RWKVX_OK) return 0;
    put(quant, file, kv_end), put(twin, file, kv_end);
    for (pass = 0; pass < 2; pass++) {             /* 0: tensor infos, 1: data */
        if (pass) {
            put(quant, NULL, (alignment - quant->n % alignment) % alignment);
            if (twin) put(twin, NULL, (alignment - twin->n % alignment) % alignment);
        }
        for (k = 0, i = 0; i < g.n_t; i++) {
            const rwkvx__tinfo *ti = &g.t[i];
            const unsigned char *src = g.data + ti->offset;
            uint32_t type = RWKVX_TYPE_F32;
            const rwkvx__type_row *row;
            size_t bytes, r, b, twin_bytes = (size_t)(ti->ne[0] * ti->ne[1] * ti->ne[2] * ti->ne[3]) * 4;
            if (rwkvx__type_of(ti->type)->block == 1 && ti->n_dims == 2 && is_matrix(m, src)) {
                type = types[k++ % n_types];
                if (ti->ne[0] % (uint64_t)rwkvx__type_of(type)->block) type = ti->ne[0] % 32 ? ti->type : RWKVX_TYPE_Q4_0;
            } else type = ti->type;
            if (type == ti->type) twin_bytes = ti->bytes;
            row = rwkvx__type_of(type);
            bytes = (size_t)(ti->ne[0] * ti->ne[1] * ti->ne[2] * ti->ne[3]) / (size_t)row->block * (size_t)row->bytes;
            if (!pass) {
                uint32_t name_len[2] = {(uint32_t)ti->name_len, 0}, n_dims = (uint32_t)ti->n_dims;
                uint64_t oq = off_q, ot = off_t;
                uint32_t twin_type = type == ti->type ? type : RWKVX_TYPE_F32;
                put(quant, name_len, 8), put(quant, ti->name, ti->name_len), put(quant, &n_dims, 4);
                put(quant, ti->ne, 8 * n_dims), put(quant, &type, 4), put(quant, &oq, 8);
                put(twin, name_len, 8), put(twin, ti->name, ti->name_len), put(twin, &n_dims, 4);
                put(twin, ti->ne, 8 * n_dims), put(twin, &twin_type, 4), put(twin, &ot, 8);
                off_q += (bytes + alignment - 1) / alignment * alignment;
                off_t += (twin_bytes + alignment - 1) / alignment * alignment;
                continue;
            }
            if (type == ti->type) {
                put(quant, src, ti->bytes), put(twin, src, ti->bytes);
            } else {
                size_t q0 = quant->n, t0 = twin ? twin->n : 0, cols = (size_t)ti->ne[0];
                const rwkvx__type_row *from = rwkvx__type_of(ti->type);
                put(quant, NULL, bytes), put(twin, NULL, twin_bytes);
                source = (float *)realloc(source, cols * sizeof(float));
                if (!first_block_at && row->block > 1) first_block_at = q0, first_block_type = row;
                for (r = 0; r < (size_t)ti->ne[1]; r++) {
                    from->to_f32(src + r * cols * (size_t)from->bytes, 0, (int64_t)cols, source);
                    for (b = 0; b < cols / (size_t)row->block; b++) {
                        unsigned char *blk = quant->p + q0 + (r * cols / (size_t)row->block + b) * (size_t)row->bytes;
                        make_block(row, blk, source + b * (size_t)row->block);
                        if (twin) row->to_f32(blk, 0, row->block, (float *)(void *)(twin->p + t0) + r * cols + b * (size_t)row->block);
                    }
                }
            }
            put(quant, NULL, (alignment - bytes % alignment) % alignment);
            put(twin, NULL, (alignment - twin_bytes % alignment) % alignment);
        }
    }
    RWKVX_FREE(g.kv), RWKVX_FREE(g.t);
    free(source);
    return 1;
}

enum { N_TOKENS = 40 };

/* The most the logits of a model whose matrices take the integer products
   (int8 activations, rwkvx__int_type) may differ from its f32 twin's, at
   any one logit and on average. Measured over 20 random draws of each type
   (3 December 2026, C = 256): mean |diff| 0.014-0.017 (q4_K), 0.014-0.051
   (q5_K), 0.028-0.057 (q3_K, q6_K), 0.018-0.032 (q8_0), 0.020-0.033 (mixed);
   C = 128, q8_0: 0.036-0.064. The largest single logit has a long tail over
   draws, for every type (q8_0's blocks of 32 too: 0.1-1.02; the K types
   0.07-2.32, a few draws in 20 above 1): random blocks have random
   minimums, and some draws sit near a tie of a nonlinearity. The mean has
   a tail too at C = 128, since Q4_0, Q4_1 and IQ4_NL (and so the q4_0
   fallback of the K types there) take the integer products: over 8 draws
   (3 December 2026, night) q8_0 0.037-0.177, q4_0 0.039-0.060, q5_K with
   its q4_0 fallback 0.038-0.15. A kernel that reads a wrong code or scale
   moves the mean by the logits' own size (~1). */
#define INT8_BOUND 3.0
#define INT8_MEAN_BOUND 0.25

/* Does any matrix of m take the integer products? */
static int integer_products(const rwkvx_model *m) {
    const rwkvx__mat *mats[RWKVX__BLOCK_MATS];
    int i, j, n, any = rwkvx__int_path(&m->head);
    for (i = 0; i < m->n_rwkv + m->n_sparse; i++)
        for (n = rwkvx__block_mats(m, m->order[i], mats), j = 0; j < n; j++) any |= rwkvx__int_path(mats[j]);
    return any != 0;
}

/* Logits of every position: mode 0 whole, 1 token by token, 2 ragged. */
static int eval_all(const rwkvx_model *m, int mode, int threads, float *logits) {
    static const int ragged[] = {7, 1, 13, 2, 3, 14};
    int32_t tokens[N_TOKENS];
    rwkvx_state *st = NULL;
    int V = rwkvx_n_vocab(m), done = 0, k = 0, ok = 1;
    for (k = 0; k < N_TOKENS; k++) tokens[k] = (int32_t)((k * 7919 + 13) % V);
    if (rwkvx_state_new(m, &st) != RWKVX_OK) return 0;
    rwkvx_state_set_threads(st, threads);
    for (k = 0; ok && done < N_TOKENS; k++) {
        int n = mode == 0 ? N_TOKENS : mode == 1 ? 1 : ragged[k % 6];
        if (n > N_TOKENS - done) n = N_TOKENS - done;
        ok = rwkvx_eval(st, tokens + done, (size_t)n, logits + (size_t)done * V, RWKVX_EVAL_ALL_LOGITS) == RWKVX_OK;
        done += n;
    }
    rwkvx_state_free(st);
    return ok;
}

/* The types a TYPE argument names: ggml's name of one, or "mixed" (all). */
static int parse_types(const char *name, uint32_t *one, const uint32_t **types) {
    static const uint32_t all[] = {RWKVX_TYPE_Q4_0, RWKVX_TYPE_Q4_1, RWKVX_TYPE_Q5_0, RWKVX_TYPE_Q5_1, RWKVX_TYPE_Q8_0,
                                   RWKVX_TYPE_Q2_K, RWKVX_TYPE_Q3_K, RWKVX_TYPE_Q4_K, RWKVX_TYPE_Q5_K, RWKVX_TYPE_Q6_K,
                                   RWKVX_TYPE_IQ4_NL, RWKVX_TYPE_IQ4_XS, RWKVX_TYPE_F16, RWKVX_TYPE_BF16};
    int t;
    *types = one;
    if (!strcmp(name, "mixed")) { *types = all; return (int)(sizeof all / sizeof *all); }
    for (t = 0; t < 64; t++)
        if (rwkvx_type_name(t) && !strcmp(rwkvx_type_name(t), name)) { *one = (uint32_t)t; return 1; }
    return 0;
}

/* The same blocks written to a file and loaded from it (the loader packs
   them in its private mapping, not in a copy): the logits of the memory
   load, bit for bit; and the caller's memory, which the library never
   writes, unchanged after load and runs. */
static void check_file_load(const char *path, const char *type_name, const buffer *quant, const float *ref, size_t count, const char *where) {
    char file[1024], err[RWKVX_ERROR_MAX];
    uint64_t before = rwkvx__fnv(0xcbf29ce484222325ull, quant->p, quant->n);
    rwkvx_model *m = NULL;
    float *got = (float *)malloc(count * sizeof(float));
    FILE *f;
    int written;
    snprintf(file, sizeof file, "%s.%s.packed-test.gguf", path, type_name);
    f = fopen(file, "wb");
    written = f && fwrite(quant->p, 1, quant->n, f) == quant->n;
    if (f && fclose(f) != 0) written = 0;
    CHECK(written, "%s: %s", where, "cannot write the model to a file");
    if (written && rwkvx_load_file(&m, file, NULL, err) != RWKVX_OK) CHECK(0, "%s: %s", where, err);
    if (m) CHECK(got && eval_all(m, 0, 2, got) && !memcmp(got, ref, count * sizeof(float)), "%s: %s", where, "loaded from a file: logits differ from the memory load's");
    CHECK(rwkvx__fnv(0xcbf29ce484222325ull, quant->p, quant->n) == before, "%s: %s", where, "rwkvx_load_memory's bytes were written");
    rwkvx_free(m);
    remove(file);
    free(got);
}

static void check_model(const char *path, const char *type_name) {
    size_t V, count, i;
    rwkvx_model *f32 = NULL, *mq = NULL, *mt = NULL;
    buffer quant = {NULL, 0, 0}, twin = {NULL, 0, 0};
    uint32_t one;
    const uint32_t *types;
    int n_types = parse_types(type_name, &one, &types), mode, threads, finite = 1, integer = 0;
    double max_diff = 0, sum_diff = 0;
    float *ref = NULL, *got = NULL;
    char where[512], err[RWKVX_ERROR_MAX];
    rwkvx_info info;
    snprintf(where, sizeof where, "%s as %s", path, type_name);
    if (!n_types) { CHECK(0, "%s: %s", where, "unknown type"); return; }
    if (rwkvx_load_file(&f32, path, NULL, err) != RWKVX_OK) { CHECK(0, "%s: %s", where, err); return; }
    first_block_at = 0;
    if (!make_pair(f32, types, n_types, &quant, &twin)) CHECK(0, "%s: %s", where, "cannot rewrite the model");
    else if (rwkvx_load_memory(&mq, quant.p, quant.n, NULL, err) != RWKVX_OK) CHECK(0, "%s: %s", where, err);
    else if (rwkvx_load_memory(&mt, twin.p, twin.n, NULL, err) != RWKVX_OK) CHECK(0, "%s: %s", where, err);
    if (mq && mt) {
        integer = integer_products(mq); /* the type's, or its q4_0 fallback's */
        V = (size_t)rwkvx_n_vocab(mq);
        count = (size_t)N_TOKENS * V;
        ref = (float *)malloc(count * sizeof(float));
        got = (float *)malloc(count * sizeof(float));
        CHECK(eval_all(mt, 0, 2, ref), "%s: %s", where, "f32 twin: whole prompt fails");
        for (i = 0; i < count; i++) finite &= isfinite(ref[i]) != 0;
        CHECK(finite, "%s: %s", where, "logits are not finite");
        if (integer) { /* int8 activations: near the twin (bound measured), and the reference of the 6 runs */
            float *twin_logits = ref;
            ref = (float *)malloc(count * sizeof(float));
            CHECK(eval_all(mq, 0, 1, ref), "%s: %s", where, "whole prompt fails");
            for (i = 0; i < count; i++) {
                double d = fabs((double)ref[i] - twin_logits[i]);
                if (!(d <= max_diff)) max_diff = d;
                sum_diff += d;
            }
            CHECK(max_diff <= INT8_BOUND, "%s: %s", where, "int8 activations move the logits beyond the bound");
            CHECK(sum_diff / count <= INT8_MEAN_BOUND, "%s: %s", where, "int8 activations move the logits beyond the bound on average");
            free(twin_logits);
        }
        for (mode = 0; mode < 3; mode++)
            for (threads = 1; threads <= 2; threads++) {
                char what[128];
                snprintf(what, sizeof what, "mode %d, %d threads: logits differ from the %s", mode, threads,
                         integer ? "whole prompt's (1 thread)" : "f32 twin's");
                CHECK(eval_all(mq, mode, threads, got) && !memcmp(got, ref, count * sizeof(float)), "%s: %s", where, what);
            }
        check_file_load(path, type_name, &quant, ref, count, where);
        rwkvx_model_info(mq, &info);
        {   /* token_bytes in the blocks' own sizes: less than the twin's, by the file's shrinkage */
            rwkvx_info ti;
            rwkvx_model_info(mt, &ti);
            CHECK(info.token_bytes < ti.token_bytes && ti.token_bytes - info.token_bytes <= twin.n - quant.n, "%s: %s", where, "token_bytes does not count the matrices in their types");
        }
        if (first_block_at) { /* a NaN scale: the block's values are counted at load */
            uint16_t nan = 0x7e00;
            rwkvx_model *bad = NULL;
            memcpy(quant.p + first_block_at + first_block_type->scale_off, &nan, 2);
            CHECK(rwkvx_load_memory(&bad, quant.p, quant.n, NULL, err) == RWKVX_OK, "%s: %s", where, "a NaN scale is refused");
            if (bad) rwkvx_model_info(bad, &info);
            CHECK(bad && info.n_nonfinite == (uint64_t)first_block_type->block && info.nonfinite_tensor, "%s: %s", where, "a NaN scale's block is not counted in n_nonfinite");
            rwkvx_free(bad);
        }
        printf("  %-38s %-7s %7.2f MB (f32 twin %.2f MB), %zu logits identical in 6 runs", path, type_name,
               quant.n / 1e6, twin.n / 1e6, count);
        if (integer) /* the hash: the same in every build of the integer kernels (the rule is exact) */
            printf(", int8 activations: max|diff| %.3g, mean %.3g from the twin (bounds %g, %g), logits hash %016llx", max_diff,
                   sum_diff / count, INT8_BOUND, INT8_MEAN_BOUND,
                   (unsigned long long)rwkvx__fnv(0xcbf29ce484222325ull, ref, count * sizeof(float)));
        printf("\n");
    }
    free(ref), free(got), free(quant.p), free(twin.p);
    rwkvx_free(f32), rwkvx_free(mq), rwkvx_free(mt);
}

/* quant blocks, then intdot: for each type of the integer products, a random matrix (an
   odd number of blocks per row, rows not a multiple of the row block) times
   random inputs through rwkvx__matmul for T = 1, 3 and 64, every output
   equal for T = 1 and the others; prints the hash of the outputs, which
   every build of the integer kernels must print alike (their rule is
   exact): tests/run.sh compares the builds. */
static void check_intdot_type(rwkvx_type type) {
    enum { ROWS = 37, T = 64 };
    const rwkvx__type_row *t = rwkvx__type_of(type);
    int64_t cols = (int64_t)t->block * (t->block == 32 ? 7 : 3);
    size_t stride = (rwkvx__work_floats((size_t)cols) + 15) / 16 * 16, nb = (size_t)ROWS * (size_t)(cols / t->block) * (size_t)t->bytes, i;
    unsigned char *w = (unsigned char *)malloc(nb);
    float *base = (float *)malloc((stride + 16) * sizeof(float)), *x = (float *)malloc((size_t)(T * cols) * sizeof(float));
    float *y1 = (float *)malloc(T * ROWS * sizeof(float)), *y = (float *)malloc(T * ROWS * sizeof(float));
    rwkvx__mat m;
    rwkvx__work work;
    unsigned char *packed;
    uint64_t h = 0xcbf29ce484222325ull;
    int same = 1, tt, k, s;
    static const int Ts[] = {3, T};
    char where[64];
    for (i = 0; i < nb; i++) w[i] = (unsigned char)next_random();
    for (i = 0; i < nb; i += (size_t)t->bytes) /* scales: random f16 of magnitude 2^-10 .. 2^-3 */
        for (s = 0; s < t->n_scales; s++) {
            uint16_t d = (uint16_t)(((5 + next_random() % 8) << 10) | (next_random() & 0x83ff));
            memcpy(w + i + t->scale_off + 2 * s, &d, 2);
        }
    for (i = 0; i < (size_t)(T * cols); i++) x[i] = ((float)(next_random() % 20001) - 10000.0f) / 997.0f;
    m.data = w, m.type = type, m.rows = ROWS, m.cols = cols;
    pack_for_products(&m, &packed);
    work.base = base + (16 - (uintptr_t)base / sizeof(float) % 16) % 16;
    work.stride = stride;
    for (tt = 0; tt < T; tt++) rwkvx__matmul(&m, x + tt * cols, cols, y1 + tt * ROWS, ROWS, 1, &work, 1);
    for (k = 0; k < 2; k++) {
        rwkvx__matmul(&m, x, cols, y, ROWS, Ts[k], &work, 1);
        same &= !memcmp(y, y1, (size_t)Ts[k] * ROWS * sizeof(float));
    }
    snprintf(where, sizeof where, "intdot %s", t->name);
    CHECK(same, "%s: %s", where, "T = 3 and T = 64 differ from T = 1");
    h = rwkvx__fnv(h, y1, T * ROWS * sizeof(float));
    printf("intdot %s: %s products, hash %016llx\n", t->name, rwkvx__int_path(&m) ? "integer" : "f32", (unsigned long long)h);
    free(packed), free(w), free(base), free(x), free(y1), free(y);
}

static void check_intdot(void) {
    static const rwkvx_type types[] = {RWKVX_TYPE_Q8_0, RWKVX_TYPE_Q4_0, RWKVX_TYPE_Q4_1, RWKVX_TYPE_IQ4_NL, RWKVX_TYPE_Q2_K, RWKVX_TYPE_Q3_K, RWKVX_TYPE_Q4_K, RWKVX_TYPE_Q5_K, RWKVX_TYPE_Q6_K};
    size_t k;
    for (k = 0; k < sizeof types / sizeof *types; k++) check_intdot_type(types[k]);
}

/* quant write: a model of random blocks for benchmarks (not a test). */
static int write_model(const char *in, const char *type_name, const char *out) {
    rwkvx_model *m = NULL;
    buffer quant = {NULL, 0, 0};
    uint32_t one;
    const uint32_t *types;
    int n_types = parse_types(type_name, &one, &types), ok;
    char err[RWKVX_ERROR_MAX];
    FILE *f;
    if (!n_types) { fprintf(stderr, "test_internals quant: unknown type '%s'\n", type_name); return 1; }
    if (rwkvx_load_file(&m, in, NULL, err) != RWKVX_OK) { fprintf(stderr, "test_internals quant: %s\n", err); return 1; }
    ok = make_pair(m, types, n_types, &quant, NULL) && (f = fopen(out, "wb")) != NULL;
    ok = ok && fwrite(quant.p, 1, quant.n, f) == quant.n;
    ok = ok && fclose(f) == 0;
    if (!ok) fprintf(stderr, "test_internals quant: cannot write '%s'\n", out);
    free(quant.p);
    rwkvx_free(m);
    return ok ? 0 : 1;
}

/* quant speed: the matrix kernels' own throughput, weights in cache (a
   benchmark, not a test): for each type, a random 512 x 768 matrix (or
   --rows/--cols) times T = 1 and T = 64 inputs, one thread, repeated for
   about 0.3 s each; prints G weights/s and GB/s of weights (T = 1: what
   decode can stream at most from one core), and GMAC/s at T = 64, with f16's
   figures of the same run first as the baseline. */
static double wall_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void speed_type(rwkvx_type type, int64_t rows, int64_t cols) {
    const rwkvx__type_row *t = rwkvx__type_of(type);
    size_t nb = (size_t)rows * (size_t)(cols / t->block) * (size_t)t->bytes, stride = (rwkvx__work_floats((size_t)cols) + 15) / 16 * 16, i;
    unsigned char *w = (unsigned char *)malloc(nb);
    float *base = (float *)malloc((stride + 16) * sizeof(float)), *x = (float *)malloc((size_t)(64 * cols) * sizeof(float));
    float *y = (float *)malloc((size_t)(64 * rows) * sizeof(float));
    rwkvx__mat m;
    rwkvx__work work;
    unsigned char *packed;
    int k, s;
    for (i = 0; i < nb; i++) w[i] = (unsigned char)next_random();
    for (i = 0; i < nb; i += (size_t)t->bytes) /* finite scales: a plain type's values, a block's f16 scales */
        for (s = 0; s < (t->block == 1 ? t->bytes / 2 : t->n_scales); s++) {
            uint16_t d = (uint16_t)(0x2000 | (next_random() & 0x83ff));
            if (t->block == 1 && t->bytes == 2 && !strcmp(t->name, "bf16")) d = (uint16_t)(0x3c00 | (next_random() & 0x807f));
            memcpy(w + i + (t->block == 1 ? 2 * (size_t)s : (size_t)t->scale_off + 2 * (size_t)s), &d, 2);
        }
    for (i = 0; i < (size_t)(64 * cols); i++) x[i] = ((float)(next_random() % 2001) - 1000.0f) / 1000.0f;
    m.data = w, m.type = type, m.rows = rows, m.cols = cols;
    pack_for_products(&m, &packed);
    work.base = base + (16 - (uintptr_t)base / sizeof(float) % 16) % 16;
    work.stride = stride;
    printf("  %-7s", t->name);
    for (k = 0; k < 5; k++) {
        static const int tokens[5] = {1, 2, 4, 8, 64};
        int T = tokens[k], reps = 0;
        double start = wall_seconds(), dt;
        do rwkvx__matmul(&m, x, cols, y, rows, T, &work, 1), reps++;
        while ((dt = wall_seconds() - start) < 0.3);
        if (T == 1)
            printf(" T=1: %6.2f G weights/s %6.2f GB/s", (double)rows * cols * reps / dt / 1e9, (double)nb * reps / dt / 1e9);
        else
            printf("   T=%d: %5.1f GMAC/s", T, (double)rows * cols * T * reps / dt / 1e9);
    }
    printf("   (%s)\n", rwkvx__int_path(&m) ? "int8 inputs" : "f32");
    free(packed), free(w), free(base), free(x), free(y);
}

static int speed_main(int argc, char **argv) {
    int64_t rows = 512, cols = 768;
    int i, k;
    for (i = 2; i + 1 < argc && argv[i][0] == '-'; i += 2)
        if (!strcmp(argv[i], "--rows")) rows = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--cols")) cols = atoi(argv[i + 1]);
    if (rows < 1 || cols < 256 || cols % 256) { fprintf(stderr, "test_internals quant speed: --cols a multiple of 256\n"); return 2; }
    printf("in-cache matrix kernels, %lld x %lld, one thread:\n", (long long)rows, (long long)cols);
    speed_type(RWKVX_TYPE_F16, rows, cols);
    for (; i < argc; i++) {
        for (k = 0; k < 64; k++)
            if (rwkvx_type_name(k) && !strcmp(rwkvx_type_name(k), argv[i])) break;
        if (k == 64) { fprintf(stderr, "test_internals quant speed: unknown type '%s'\n", argv[i]); return 2; }
        speed_type((rwkvx_type)k, rows, cols);
    }
    return 0;
}

static int quant_main(int argc, char **argv) {
    int i;
    if (argc == 5 && !strcmp(argv[1], "write")) return write_model(argv[2], argv[3], argv[4]);
    if (argc >= 2 && !strcmp(argv[1], "speed")) return speed_main(argc, argv);
    if (argc < 3 || (strcmp(argv[1], "blocks") && strcmp(argv[1], "models"))) {
        fprintf(stderr, "usage: test_internals quant blocks FILE.blocks... | test_internals quant models MODEL.gguf TYPE...\n"
                        "       test_internals quant write MODEL.gguf TYPE OUT.gguf | test_internals quant speed [--rows R --cols C] TYPE...\n");
        return 2;
    }
    if (!strcmp(argv[1], "blocks")) {
        for (i = 2; i < argc; i++) check_blocks_file(argv[i]);
        check_intdot();
    } else
        for (i = 3; i < argc; i++) check_model(argv[2], argv[i]);
    return check_report("test_internals quant");
}
