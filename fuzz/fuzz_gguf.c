/* libFuzzer target: the GGUF loader, from memory. A file that loads must
   also survive a state and a few tokens. */
#define RWKVX_IMPLEMENTATION
#include "../rwkvx.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[RWKVX_ERROR_MAX];
    rwkvx_model *m = NULL;
    rwkvx_state *st = NULL;
    if (rwkvx_load_memory(&m, data, size, NULL, err) != RWKVX_OK) return 0;
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
