/* test_convert_api: the converter library (rwkvx_convert.h) called from C.

   test_convert_api CHECKPOINT REFERENCE.gguf TMPDIR

   REFERENCE.gguf is what `rwkvx-convert CHECKPOINT REFERENCE.gguf --type f16
   --chunk-size 16 --chunk-topk 3` wrote: rwkvx_convert_file with the same
   options must write the same bytes, and the file must load and run. Then
   the step-by-step calls (inputs, summary), and refusals: an unknown type, an
   output that is the input (left untouched), a missing input, NULL
   arguments, a second write; each with a one-line message and no output. */
#include "../rwkvx_convert.h"

#include <stdlib.h>
#include <string.h>

#include "check.h"

/* The whole of a file into a malloc'd buffer (NULL when unreadable). */
static unsigned char *read_all(const char *path, long *size) {
    FILE *f = fopen(path, "rb");
    unsigned char *p = NULL;
    if (f && fseek(f, 0, SEEK_END) == 0 && (*size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (p = (unsigned char *)malloc((size_t)*size + 1)) && fread(p, 1, (size_t)*size, f) != (size_t)*size) {
        free(p);
        p = NULL;
    }
    if (f) fclose(f);
    return p;
}

static int file_exists(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static int one_line(const char *err) { return err[0] && !strchr(err, '\n'); }

/* The converted model loads and evaluates two tokens. */
static void check_runs(const char *path) {
    char err[RWKVX_ERROR_MAX];
    rwkvx_model *m;
    rwkvx_state *s;
    int32_t tokens[2] = {1, 2};
    float *logits;
    if (!CHECK(rwkvx_load_file(&m, path, NULL, err) == RWKVX_OK, "load %s: %s", path, err)) return;
    logits = (float *)malloc(sizeof(float) * (size_t)rwkvx_n_vocab(m));
    CHECK(logits && rwkvx_state_create(&s, m) == RWKVX_OK && rwkvx_eval(s, tokens, 2, logits, 0) == RWKVX_OK,
          "the converted model runs");
    free(logits);
    rwkvx_state_free(s);
    rwkvx_model_free(m);
}

/* rwkvx_convert_file writes what rwkvx-convert wrote. */
static void check_file(const char *in, const char *ref, const char *out) {
    char err[RWKVX_CONVERT_ERROR_MAX];
    rwkvx_convert_options opt;
    unsigned char *a, *b;
    long na = 0, nb = 0;
    memset(&opt, 0, sizeof opt);
    opt.chunk_size = 16;
    opt.chunk_topk = 3; /* type NULL: f16 */
    if (!CHECK(rwkvx_convert_file(in, out, &opt, err) == RWKVX_OK, "convert %s: %s", in, err)) return;
    a = read_all(ref, &na);
    b = read_all(out, &nb);
    CHECK(a && b && na == nb && memcmp(a, b, (size_t)na) == 0, "%s and %s differ (%ld, %ld bytes)", ref, out, na, nb);
    free(a);
    free(b);
    check_runs(out);
}

/* open / write / summary, by hand; a second write is refused. */
static void check_steps(const char *in, const char *out) {
    char err[RWKVX_CONVERT_ERROR_MAX];
    rwkvx_convert_options opt;
    rwkvx_converter *cv;
    FILE *f;
    memset(&opt, 0, sizeof opt);
    opt.type = "q4_k_m";
    opt.vocab = "bytes";
    if (!CHECK(rwkvx_convert_open(&cv, in, &opt, err) == RWKVX_OK, "open %s: %s", in, err)) return;
    CHECK(rwkvx_convert_n_inputs(cv) == 1 && strcmp(rwkvx_convert_input(cv, 0), in) == 0, "one input, the checkpoint");
    CHECK(rwkvx_convert_input(cv, 1) == NULL && rwkvx_convert_input(cv, -1) == NULL, "inputs out of range are NULL");
    CHECK(strcmp(rwkvx_convert_summary(cv), "") == 0, "no summary before write");
    f = fopen(out, "wb");
    if (CHECK(f != NULL, "create %s", out)) {
        CHECK(rwkvx_convert_write(cv, f, out, err) == RWKVX_OK, "write: %s", err);
        CHECK(rwkvx_convert_write(cv, f, out, err) == RWKVX_ERR_ARGUMENT && one_line(err), "a second write is refused");
        fclose(f);
    }
    CHECK(strstr(rwkvx_convert_summary(cv), "weights:      q4_k_m (llama.cpp's mix") != NULL &&
              strstr(rwkvx_convert_summary(cv), "vocabulary:   256 single bytes") != NULL,
          "summary: %s", rwkvx_convert_summary(cv));
    CHECK(rwkvx_convert_warning(cv) == NULL, "no non-finite warning");
    rwkvx_convert_free(cv);
    check_runs(out);
}

/* Refusals: status, one-line message, nothing written. */
static void check_refusals(const char *in, const char *tmpdir) {
    char err[RWKVX_CONVERT_ERROR_MAX], out[1024], tmp[1100];
    rwkvx_convert_options opt;
    rwkvx_converter *cv = (rwkvx_converter *)&opt; /* must be set to NULL */
    unsigned char *before, *after;
    long n0 = 0, n1 = 0;
    snprintf(out, sizeof out, "%s/api-refused.gguf", tmpdir);
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    remove(out);
    memset(&opt, 0, sizeof opt);
    opt.type = "q9_9";
    CHECK(rwkvx_convert_file(in, out, &opt, err) == RWKVX_ERR_ARGUMENT && one_line(err) && strstr(err, "q9_9"),
          "unknown type: %s", err);
    opt.type = NULL;
    opt.head_type = "q4_k_m";
    CHECK(rwkvx_convert_file(in, out, &opt, err) == RWKVX_ERR_ARGUMENT && one_line(err), "a mix as head type: %s", err);
    opt.head_type = NULL;
    opt.chunk_size = -1;
    CHECK(rwkvx_convert_file(in, out, &opt, err) == RWKVX_ERR_ARGUMENT && one_line(err), "negative chunk size: %s", err);
    opt.chunk_size = 0;
    CHECK(rwkvx_convert_file("/nonexistent/model.pth", out, &opt, err) == RWKVX_ERR_FORMAT && one_line(err) &&
              strstr(err, "/nonexistent/model.pth"),
          "missing input: %s", err);
    CHECK(rwkvx_convert_open(&cv, NULL, NULL, err) == RWKVX_ERR_ARGUMENT && cv == NULL && one_line(err),
          "NULL input: %s", err);
    CHECK(rwkvx_convert_file(in, NULL, NULL, err) == RWKVX_ERR_ARGUMENT && one_line(err), "NULL output");
    CHECK(rwkvx_convert_write(NULL, stdout, out, NULL) == RWKVX_ERR_ARGUMENT, "NULL converter, NULL err");
    CHECK(!file_exists(out) && !file_exists(tmp), "refusals write nothing");
    before = read_all(in, &n0);
    CHECK(rwkvx_convert_file(in, in, NULL, err) == RWKVX_ERR_ARGUMENT && one_line(err) && strstr(err, "refusing"),
          "output = input: %s", err);
    after = read_all(in, &n1);
    CHECK(before && after && n0 == n1 && memcmp(before, after, (size_t)n0) == 0, "the input is untouched");
    free(before);
    free(after);
    CHECK(rwkvx_convert_n_inputs(NULL) == 0 && rwkvx_convert_input(NULL, 0) == NULL &&
              strcmp(rwkvx_convert_summary(NULL), "") == 0 && rwkvx_convert_warning(NULL) == NULL,
          "getters take NULL");
    rwkvx_convert_free(NULL);
    CHECK(rwkvx_convert_type_ok("q8_0", 0) && rwkvx_convert_type_ok("q5_k_m", 1) && !rwkvx_convert_type_ok("q5_k_m", 0) &&
              !rwkvx_convert_type_ok(NULL, 1),
          "type names");
}

int main(int argc, char **argv) {
    char out[1024];
    if (argc != 4) {
        fprintf(stderr, "usage: test_convert_api CHECKPOINT REFERENCE.gguf TMPDIR\n");
        return 2;
    }
    snprintf(out, sizeof out, "%s/api.f16.gguf", argv[3]);
    check_file(argv[1], argv[2], out);
    snprintf(out, sizeof out, "%s/api.q4_k_m.gguf", argv[3]);
    check_steps(argv[1], out);
    check_refusals(argv[1], argv[3]);
    return check_report("test_convert_api");
}
