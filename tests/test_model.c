/* test_model: every golden case, in every mode, against the reference logits.

   test_model [--whole] CASES.txt FIXTURE_DIR GGUF_DIR TYPE...

   For each line of CASES.txt (model chunk topk logits T V tokens...) and each
   weight TYPE it loads GGUF_DIR/<model stem>.<TYPE>.gguf and checks:
   - whole prompt, token by token and ragged pieces against the golden logits
     of every position (max |diff| <= the type's bound);
   - prefill == decode: the three modes give identical logits;
   - save + restore and fork give identical continuations;
   - 1 thread and 2 threads give identical logits (when built with OpenMP);
   - a state from another model, a truncated state, bad tokens are refused.
   --whole (the quick tier, make check) evaluates the whole prompt only and
   skips the comparisons between modes and the f16 keys and values.
   Prints the worst difference per type and "test_model: N passed, N failed". */
#include "../rwkvx.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char model[256], logits[256];
    int chunk, topk, T, V;
    int32_t tokens[4096];
} test_case;


/* The bound each weight type is held to (max |diff| over all logits).
   f32 is the design's 1e-3. The checkpoints are bf16, and their values are
   also exact in f16 but for a few tiny ones, so bf16 and f16 are held to the
   same 1e-3 (measured: 3.0e-5 worst). q8_0 rounds every weight to 8 bits:
   these tiny random models are very sensitive to that (quantizing only the
   embedding moves their logits by 0.46), measured worst 1.91 with logits of
   standard deviation 1; an f32 model holding the same dequantized weights
   gives bit-identical logits, so this is quantization, not the kernel. */
static double bound_for(const char *type) {
    if (!strcmp(type, "q8_0")) return 3.0;
    return 1e-3;
}

static float *read_floats(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    float *buf = (float *)malloc(n * sizeof(float));
    if (!f || !buf || fread(buf, sizeof(float), n, f) != n) {
        if (f) fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    return buf;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double worst = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= worst)) worst = d; /* NaN counts as worst */
    }
    return worst;
}

/* Runs the case's tokens in pieces; piece sizes cycle through `pieces` (0 = all). */
static int run(rwkvx_state *st, const test_case *c, const int *pieces, int n_pieces, float *logits) {
    int done = 0, k = 0;
    while (done < c->T) {
        int n = c->T - done;
        if (n_pieces && pieces[k % n_pieces] < n) n = pieces[k % n_pieces];
        k++;
        if (rwkvx_eval(st, c->tokens + done, (size_t)n, logits + (size_t)done * c->V, RWKVX_EVAL_ALL_LOGITS) != RWKVX_OK)
            return 0;
        done += n;
    }
    return 1;
}

/* The three ways every case is evaluated, each from a fresh state: 0 the whole
   prompt (2 threads), 1 token by token (1 thread), 2 ragged pieces (2 threads). */
static int eval_mode(rwkvx_model *m, const test_case *c, int mode, float *logits) {
    static const int ragged[] = {7, 1, 50, 1, 3, 64, 2, 100};
    static const int single[] = {1};
    rwkvx_state *st = NULL;
    int ok;
    if (!logits || rwkvx_state_new(m, &st) != RWKVX_OK) return 0;
    rwkvx_state_set_threads(st, mode == 1 ? 1 : 2);
    ok = run(st, c, mode == 0 ? NULL : mode == 1 ? single : ragged, mode == 0 ? 0 : mode == 1 ? 1 : 8, logits);
    rwkvx_state_free(st);
    return ok;
}

static int read_case(FILE *f, test_case *c) {
    int i, ch;
    while ((ch = fgetc(f)) != EOF) { /* skip blank space and # comment lines */
        if (ch == '#') {
            while ((ch = fgetc(f)) != EOF && ch != '\n') {}
        } else if (ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t') {
            ungetc(ch, f);
            break;
        }
    }
    if (fscanf(f, "%255s %d %d %255s %d %d", c->model, &c->chunk, &c->topk, c->logits, &c->T, &c->V) != 6) return 0;
    if (c->T <= 0 || c->T > 4096) return 0;
    for (i = 0; i < c->T; i++)
        if (fscanf(f, "%d", &c->tokens[i]) != 1) return 0;
    return 1;
}

static void model_path(char *out, size_t n, const char *dir, const char *model, const char *type) {
    const char *dot = strrchr(model, '.');
    int stem = dot ? (int)(dot - model) : (int)strlen(model);
    snprintf(out, n, "%s/%.*s.%s.gguf", dir, stem, model, type);
}

/* Save after `half` tokens, restore into a fresh state, fork, and continue
   all three: each must reproduce the uninterrupted run bit for bit. */
static void check_state_round_trip(rwkvx_model *m, const test_case *c, const float *expect, const char *where) {
    rwkvx_state *a = NULL, *b = NULL, *fork = NULL;
    int half = c->T / 2 + 3, rest = c->T - half;
    size_t V = (size_t)c->V, bytes;
    float *out = (float *)malloc((size_t)c->T * V * sizeof(float));
    void *saved = NULL;
    if (rwkvx_state_new(m, &a) || rwkvx_state_new(m, &b) || !out) { CHECK(0, "%s: state_new", where); goto done; }
    CHECK(rwkvx_eval(a, c->tokens, (size_t)half, out, RWKVX_EVAL_ALL_LOGITS) == RWKVX_OK, "%s: eval first half", where);
    CHECK(rwkvx_state_position(a) == (uint64_t)half, "%s: position counter", where);
    bytes = rwkvx_state_save_bytes(a);
    saved = malloc(bytes);
    CHECK(saved && rwkvx_state_save(a, saved, bytes) == RWKVX_OK, "%s: save", where);
    CHECK(rwkvx_state_save(a, saved, bytes - 1) == RWKVX_ERR_ARGUMENT, "%s: save into a short buffer refused", where);
    CHECK(rwkvx_state_load(b, saved, bytes - 1) == RWKVX_ERR_FORMAT, "%s: truncated state refused", where);
    CHECK(rwkvx_state_load(b, saved, bytes) == RWKVX_OK, "%s: restore", where);
    CHECK(rwkvx_state_copy(a, &fork) == RWKVX_OK, "%s: fork", where);
    {
        rwkvx_state *each[3];
        int s;
        each[0] = a, each[1] = b, each[2] = fork;
        for (s = 0; s < 3 && fork; s++) {
            memset(out + (size_t)half * V, 0, (size_t)rest * V * sizeof(float));
            CHECK(rwkvx_eval(each[s], c->tokens + half, (size_t)rest, out + (size_t)half * V, RWKVX_EVAL_ALL_LOGITS) == RWKVX_OK,
                  "%s: eval second half", where);
            CHECK(max_diff(out + (size_t)half * V, expect + (size_t)half * V, (size_t)rest * V) == 0,
                  "%s: %s", where, s == 0 ? "continuation differs from one run" : s == 1 ? "restored state continues differently" : "forked state continues differently");
        }
    }
    /* reset gives a fresh state again */
    rwkvx_state_reset(b);
    CHECK(rwkvx_eval(b, c->tokens, (size_t)c->T, out, RWKVX_EVAL_ALL_LOGITS) == RWKVX_OK && max_diff(out, expect, (size_t)c->T * V) == 0,
          "%s: reset state differs from a new one", where);
done:
    rwkvx_state_free(a);
    rwkvx_state_free(b);
    rwkvx_state_free(fork);
    free(saved);
    free(out);
}

/* Keys and values kept in f16 (rwkvx_options.kv_f16, on the f32 model):
   whole, single and ragged evaluation still agree bit for bit and a saved
   state continues identically. The logits move by rounding (about 5e-3 on
   these models) or, where a gate margin is below what f16 resolves, by a
   different chunk choice: printed, not bounded. */
static void check_kv_f16(const char *path, const test_case *c, const float *golden, const char *where) {
    size_t n = (size_t)c->T * (size_t)c->V;
    float *got[3];
    rwkvx_model *m = NULL;
    rwkvx_options opt;
    char err[RWKVX_ERROR_MAX];
    int mode;
    memset(&opt, 0, sizeof opt);
    opt.chunk_size = c->chunk, opt.chunk_topk = c->topk, opt.kv_f16 = 1;
    if (rwkvx_load_file(&m, path, &opt, err) != RWKVX_OK) { CHECK(0, "%s: %s", where, err); return; }
    for (mode = 0; mode < 3; mode++) {
        got[mode] = (float *)malloc(n * sizeof(float));
        CHECK(eval_mode(m, c, mode, got[mode]), "%s: eval (kv_f16)", where);
    }
    printf("  %-28s f16 keys and values: max|diff| %.3g\n", c->model, max_diff(got[0], golden, n));
    CHECK(max_diff(got[0], golden, n) < 1e3, "%s: kv_f16 logits not finite", where);
    CHECK(max_diff(got[0], got[1], n) == 0 && max_diff(got[0], got[2], n) == 0, "%s: kv_f16: whole, single and ragged differ", where);
    check_state_round_trip(m, c, got[0], where);
    for (mode = 0; mode < 3; mode++) free(got[mode]);
    rwkvx_free(m);
}

static void check_bad_calls(rwkvx_model *m, const test_case *c, const char *where) {
    rwkvx_state *st = NULL;
    int32_t bad[2];
    float logit;
    if (rwkvx_state_new(m, &st) != RWKVX_OK) { CHECK(0, "%s: state_new", where); return; }
    bad[0] = c->tokens[0], bad[1] = c->V;
    CHECK(rwkvx_eval(st, bad, 2, NULL, 0) == RWKVX_ERR_ARGUMENT, "%s: token id = vocab size refused", where);
    bad[1] = -1;
    CHECK(rwkvx_eval(st, bad, 2, NULL, 0) == RWKVX_ERR_ARGUMENT, "%s: negative token id refused", where);
    CHECK(rwkvx_eval(st, bad, 0, &logit, 0) == RWKVX_ERR_ARGUMENT, "%s: empty run refused", where);
    CHECK(rwkvx_state_position(st) == 0, "%s: refused calls leave the state alone", where);
    rwkvx_state_free(st);
}

/* The whole file at path, read into memory 64-byte aligned (*base to free) */
static unsigned char *read_aligned(const char *path, size_t *n, void **base) {
    FILE *f = fopen(path, "rb");
    long size;
    unsigned char *p = NULL;
    *base = NULL;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 && (*base = malloc((size_t)size + 64))) {
        p = (unsigned char *)*base + (64 - (uintptr_t)*base % 64) % 64;
        if (fread(p, 1, (size_t)size, f) != (size_t)size) p = NULL;
        *n = (size_t)size;
    }
    fclose(f);
    return p;
}
static uint64_t hash_bytes(const unsigned char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Q8_0 matrices are rearranged at load: in the private mapping of the file
   (which must stay as it was on disk), or in a copy for a model in the
   caller's memory (which must stay unchanged too). Both give the logits of
   the file load (`expect`), bit for bit. */
static void check_load_ways(const char *path, const rwkvx_options *opt, const test_case *c, const float *expect, uint64_t file_hash,
                            const char *where) {
    size_t n = 0, count = (size_t)c->T * (size_t)c->V;
    void *base;
    unsigned char *file = read_aligned(path, &n, &base);
    float *got = (float *)malloc(count * sizeof(float));
    rwkvx_model *m = NULL;
    char err[RWKVX_ERROR_MAX];
    CHECK(file && hash_bytes(file, n) == file_hash, "%s: the file changed on disk after loading and running it", where);
    if (file && got && rwkvx_load_memory(&m, file, n, opt, err) == RWKVX_OK) {
        CHECK(eval_mode(m, c, 0, got) && !memcmp(got, expect, count * sizeof(float)), "%s: loaded from memory, the logits differ", where);
        rwkvx_free(m);
        CHECK(hash_bytes(file, n) == file_hash, "%s: rwkvx_load_memory changed the caller's bytes", where);
    } else
        CHECK(0, "%s: rwkvx_load_memory: %s", where, file && got ? err : "out of memory");
    free(base);
    free(got);
}

/* A state saved from model `a` must be refused by model `b`. */
static void check_foreign_state(rwkvx_model *a, rwkvx_model *b, const char *where) {
    rwkvx_state *sa = NULL, *sb = NULL;
    int32_t tok = 1;
    void *buf = NULL;
    size_t bytes;
    if (rwkvx_state_new(a, &sa) || rwkvx_state_new(b, &sb)) { CHECK(0, "%s: state_new", where); goto done; }
    rwkvx_eval(sa, &tok, 1, NULL, 0);
    bytes = rwkvx_state_save_bytes(sa);
    buf = malloc(bytes);
    if (!buf || rwkvx_state_save(sa, buf, bytes) != RWKVX_OK) { CHECK(0, "%s: save", where); goto done; }
    CHECK(rwkvx_state_load(sb, buf, bytes) == RWKVX_ERR_MISMATCH, "%s: state from another model refused", where);
    ((unsigned char *)buf)[0] ^= 1;
    CHECK(rwkvx_state_load(sa, buf, bytes) == RWKVX_ERR_FORMAT, "%s: state with a bad magic refused", where);
done:
    free(buf);
    rwkvx_state_free(sa);
    rwkvx_state_free(sb);
}

int main(int argc, char **argv) {
    test_case *c = (test_case *)malloc(sizeof *c);
    rwkvx_model *previous = NULL;
    int ti, whole_only = argc > 1 && !strcmp(argv[1], "--whole");
    FILE *f;
    if (whole_only) argc--, argv++;
    if (argc < 5 || !c) {
        fprintf(stderr, "usage: test_model [--whole] CASES.txt FIXTURE_DIR GGUF_DIR TYPE...\n");
        return 2;
    }
    for (ti = 4; ti < argc; ti++) {
        const char *type = argv[ti];
        double worst = 0;
        int n_cases = 0;
        f = fopen(argv[1], "r");
        if (!f) { fprintf(stderr, "cannot open %s\n", argv[1]); return 2; }
        for (;;) {
            char path[1024], where[512], err[RWKVX_ERROR_MAX];
            rwkvx_model *m = NULL;
            rwkvx_options opt;
            float *golden, *got[3];
            uint64_t file_hash = 0;
            size_t n;
            int mode;
            if (!read_case(f, c)) break;
            n = (size_t)c->T * (size_t)c->V;
            snprintf(path, sizeof path, "%s/%s", argv[2], c->logits);
            golden = read_floats(path, n);
            if (!golden) { fprintf(stderr, "cannot read %s\n", path); return 2; }
            model_path(path, sizeof path, argv[3], c->model, type);
            snprintf(where, sizeof where, "%s [%s, T=%d]", c->model, type, c->T);
            memset(&opt, 0, sizeof opt);
            opt.chunk_size = c->chunk;
            opt.chunk_topk = c->topk;
            if (!strcmp(type, "q8_0")) {
                void *base;
                size_t bytes = 0;
                unsigned char *file = read_aligned(path, &bytes, &base);
                file_hash = file ? hash_bytes(file, bytes) : 0;
                free(base);
            }
            if (rwkvx_load_file(&m, path, &opt, err) != RWKVX_OK) {
                CHECK(0, "%s: %s", where, err);
                free(golden);
                continue;
            }
            for (mode = 0; mode < 3; mode++) got[mode] = NULL;
            for (mode = 0; mode < (whole_only ? 1 : 3); mode++) {
                double d;
                got[mode] = (float *)malloc(n * sizeof(float));
                CHECK(eval_mode(m, c, mode, got[mode]), "%s: eval", where);
                d = max_diff(got[mode], golden, n);
                if (d > worst) worst = d;
                printf("  %-28s %-5s T=%-4d %-6s max|diff| %.3g\n", c->model, type, c->T, mode == 0 ? "whole" : mode == 1 ? "single" : "ragged", d);
                CHECK(d <= bound_for(type), "%s: logits differ from the reference beyond the bound", where);
            }
            /* whole (2 threads) vs single (1 thread) vs ragged: prefill == decode, any thread count */
            if (!whole_only) {
                CHECK(max_diff(got[0], got[1], n) == 0, "%s: whole prompt and token-by-token differ", where);
                CHECK(max_diff(got[0], got[2], n) == 0, "%s: whole prompt and ragged pieces differ", where);
            }
            check_state_round_trip(m, c, got[0], where);
            if (!strcmp(type, "q8_0")) check_load_ways(path, &opt, c, got[0], file_hash, where);
            if (!strcmp(type, "f32") && !whole_only) check_kv_f16(path, c, golden, where);
            check_bad_calls(m, c, where);
            if (previous) {
                rwkvx_info a, b;
                rwkvx_model_info(previous, &a);
                rwkvx_model_info(m, &b);
                if (a.n_rwkv != b.n_rwkv || a.n_sparse != b.n_sparse) check_foreign_state(previous, m, where);
            }
            rwkvx_free(previous);
            previous = m;
            for (mode = 0; mode < 3; mode++) free(got[mode]);
            free(golden);
            n_cases++;
        }
        fclose(f);
        printf("%s: %d cases, worst max|diff| %.3g (bound %.g)\n", type, n_cases, worst, bound_for(type));
        if (n_cases == 0) CHECK(0, "%s: no cases ran", type);
    }
    rwkvx_free(previous);
    free(c);
    return check_report("test_model");
}
