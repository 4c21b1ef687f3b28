/* Shared by the converter's fuzz targets (fuzz_pth.c, fuzz_safetensors.c):
   the input read from memory by the converter's testing entry point
   (rwkvx_convert.h, section 13; data.pkl's CRC ignored so that mutations
   reach the pickle machine) and, when a checkpoint reads, converted with the
   public API and the GGUF it writes loaded back by rwkvx.h and run for two
   tokens. Properties checked:

   - no crash, leak, overflow or undefined behaviour (ASan/UBSan);
   - every refusal comes with a message of one non-empty line;
   - whatever the converter writes, the library loads (else abort: the two
     disagree about the format). */
#define RWKVX_CONVERT_TESTING 1
#include "../rwkvx_convert.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_message(const char *err) {
    if (!err[0] || strchr(err, '\n')) {
        fprintf(stderr, "refusal without a one-line message: '%s'\n", err);
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

/* Reads a checkpoint from memory (format detection, then the .pth or
   .safetensors reader), then plans and writes the model as rwkvx-convert
   does (the weight type chosen by the size). */
static void fuzz_convert(const uint8_t *data, size_t size) {
    static const char *const types[4] = {"f32", "f16", "bf16", "q8_0"};
    char err[RWKVX_CONVERT_ERROR_MAX] = "";
    rwkvx_convert_options opt;
    rwkvx_converter *cv = NULL;
    rwkvx_status s;
    memset(&opt, 0, sizeof opt);
    opt.type = types[size % 4];
    opt.chunk_size = 4;
    opt.chunk_topk = 2;
    s = rwkvx__convert_open_memory(&cv, data, size, &opt, 1, err);
    if (s == RWKVX_OK) {
        FILE *fp = fopen(fuzz_out_path(), "wb");
        if (!fp) {
            perror(fuzz_out_path());
            abort();
        }
        s = rwkvx_convert_write(cv, fp, fuzz_out_path(), err);
        if (fclose(fp) != 0 && s == RWKVX_OK) {
            fprintf(stderr, "cannot write %s\n", fuzz_out_path());
            abort();
        }
        if (s == RWKVX_OK) fuzz_load_back(fuzz_out_path());
        remove(fuzz_out_path());
    }
    if (s != RWKVX_OK) fuzz_check_message(err);
    rwkvx_convert_free(cv);
}
