/* libFuzzer target: the GGUF loader, from memory. A file that loads must
   also survive a state and a few tokens, and its vocabulary (if any) must
   encode and decode a piece of the input the same way round. */
#include "../rwkvx.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[RWKVX_ERROR_MAX];
    rwkvx_model *m = NULL;
    rwkvx_state *st = NULL;
    if (rwkvx_load_memory(&m, data, size, NULL, err) != RWKVX_OK) return 0;
    if (rwkvx_model_tokenizer(m)) {
        const rwkvx_tokenizer *tk = rwkvx_model_tokenizer(m);
        size_t len = size < 64 ? size : 64, n = 0, back_len = 0;
        int32_t ids[65];
        char *back = (char *)malloc(65 * (rwkvx_tokenizer_max_bytes(tk) + 1));
        if (back && rwkvx_tokenize(tk, (const char *)data, len, ids, 65, &n) == RWKVX_OK &&
            (rwkvx_detokenize(tk, ids, n, back, 65 * (rwkvx_tokenizer_max_bytes(tk) + 1), &back_len) != RWKVX_OK ||
             back_len != len || memcmp(back, data, len)))
            abort();
        free(back);
    }
    if (rwkvx_state_new(m, &st) == RWKVX_OK) {
        int32_t tokens[3] = {0, 0, 0};
        float *logits = (float *)malloc(sizeof(float) * (size_t)rwkvx_n_vocab(m));
        tokens[1] = rwkvx_n_vocab(m) - 1;
        if (logits) rwkvx_eval(st, tokens, 3, logits, 0);
        free(logits);
        rwkvx_state_free(st);
    }
    rwkvx_free(m);
    return 0;
}
