/* Shared by the converter's fuzz targets (fuzz_pth.c, fuzz_safetensors.c):
   tools/convert.c compiled into the harness (its main renamed), the input
   read from memory, and, when a checkpoint converts, the GGUF it writes loaded
   back by rwkvx.h and run for two tokens. Properties checked:

   - no crash, leak, overflow or undefined behaviour (ASan/UBSan);
   - every refusal comes with a message of one non-empty line;
   - whatever the converter writes, the library loads (else abort: the two
     disagree about the format). */
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION 1 /* no CRC check on data.pkl: let mutations reach the pickle */
#endif
#define main rwkvx_convert_main
#include "../tools/convert.c"
#undef main

#define RWKVX_IMPLEMENTATION
#include "../rwkvx.h"

#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_message(const cv_err *err) {
    if (!err->msg[0] || strchr(err->msg, '\n')) {
        fprintf(stderr, "refusal without a one-line message: '%s'\n", err->msg);
        abort();
    }
}

/* The GGUF the converter writes goes to one file per process. */
static const char *fuzz_out_path(void) {
    static char path[256];
    if (!path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(path, sizeof path, "%s/rwkvx-fuzz-%ld.gguf", dir && *dir ? dir : "/tmp", (long)getpid());
    }
    return path;
}

/* The converter's GGUF writer into a new file at `path`. */
static int fuzz_write_gguf(const char *path, cv_input *in, const cv_src_list *src, const cv_model *mdl, cv_plan *plan,
                           const cv_vocab *vocab, const cv_options_meta *meta, uint64_t *size, cv_err *err) {
    FILE *fp = fopen(path, "wb");
    int ok;
    if (!fp) return cv_fail(err, "cannot create '%s'", path);
    ok = gguf_write_stream(fp, path, in, src, mdl, plan, vocab, meta, size, err);
    if (fclose(fp) != 0 && ok) ok = cv_fail(err, "cannot write '%s'", path);
    return ok;
}

/* Loads the converted file and runs two tokens through it. */
static void fuzz_load_back(const char *path) {
    char err[RWKVX_ERROR_MAX];
    rwkvx_model *m = NULL;
    rwkvx_state *st = NULL;
    rwkvx_options opt;
    int32_t tokens[2] = {0, 0};
    float *logits;
    memset(&opt, 0, sizeof opt);
    opt.no_mmap = 1;
    if (rwkvx_load_file(&m, path, &opt, err) != RWKVX_OK) {
        fprintf(stderr, "the converter wrote a file the library refuses: %s\n", err);
        abort();
    }
    tokens[1] = rwkvx_n_vocab(m) - 1;
    logits = (float *)malloc((size_t)rwkvx_n_vocab(m) * sizeof(float));
    if (!logits || rwkvx_state_new(m, &st) != RWKVX_OK || rwkvx_eval(st, tokens, 2, logits, 0) != RWKVX_OK) {
        fprintf(stderr, "a converted model does not run\n");
        abort();
    }
    free(logits);
    rwkvx_state_free(st);
    rwkvx_free(m);
}

/* Reads a checkpoint from memory with `reader`, then builds, plans and writes
   the model the way rwkvx-convert does (the weight type chosen by the size). */
static void fuzz_convert(const uint8_t *data, size_t size, int (*reader)(cv_input *, cv_src_list *, cv_err *)) {
    static const int types[4] = {GGML_F32, GGML_F16, GGML_BF16, GGML_Q8_0};
    cv_input in;
    cv_src_list src;
    cv_model mdl;
    cv_plan plan;
    cv_vocab vocab;
    cv_options_meta meta;
    cv_err err;
    uint64_t out_bytes = 0;
    int ok;

    memset(&in, 0, sizeof in);
    memset(&src, 0, sizeof src);
    memset(&mdl, 0, sizeof mdl);
    memset(&plan, 0, sizeof plan);
    memset(&vocab, 0, sizeof vocab);
    memset(&meta, 0, sizeof meta);
    memset(&err, 0, sizeof err);
    in.path = "fuzz-input";
    in.map = data;               /* read in place; never unmapped */
    in.size = size;
    ok = reader(&in, &src, &err) && model_build(&mdl, &src, &err);
    if (ok) {
        plan.quant.name = "fuzz";
        plan.quant.matrix_type = types[size % 4];
        plan.quant.head_type = -1;
        meta.name = "fuzz";
        meta.chunk_size = 4;
        meta.topk = 2;
        meta.ln_eps = 1e-5f; /* what a released checkpoint (no config.json) records */
        meta.gn_eps = 64e-5f;
        ok = plan_build(&plan, &mdl, &src, &err) &&
             fuzz_write_gguf(fuzz_out_path(), &in, &src, &mdl, &plan, &vocab, &meta, &out_bytes, &err);
        if (ok) fuzz_load_back(fuzz_out_path());
        remove(fuzz_out_path());
    }
    if (!ok) fuzz_check_message(&err);
    free(plan.v);
    model_free(&mdl);
    src_list_free(&src);
}
