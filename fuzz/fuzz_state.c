/* libFuzzer target: restoring a saved state. The model comes from
   $RWKVX_FUZZ_MODEL (default fuzz/corpus/gguf/r1s1-f16.gguf: a tiny RWKV-X,
   one RWKV-7 block and one sparse block, chunk 4, whose saved states seed
   fuzz/corpus/state). A state that restores must save back to the same
   bytes and run a token. */
#define RWKVX_IMPLEMENTATION
#include "../rwkvx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static rwkvx_model *model;
static rwkvx_state *state;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!model) {
        const char *path = getenv("RWKVX_FUZZ_MODEL");
        char err[RWKVX_ERROR_MAX];
        if (rwkvx_load_file(&model, path ? path : "fuzz/corpus/gguf/r1s1-f16.gguf", NULL, err) != RWKVX_OK ||
            rwkvx_state_new(model, &state) != RWKVX_OK) {
            fprintf(stderr, "fuzz_state: %s\n", err);
            abort();
        }
    }
    if (rwkvx_state_load(state, data, size) == RWKVX_OK) {
        size_t bytes = rwkvx_state_save_bytes(state);
        unsigned char *back = (unsigned char *)malloc(bytes);
        int32_t token = 1;
        if (bytes != size || !back || rwkvx_state_save(state, back, bytes) != RWKVX_OK || memcmp(back, data, size)) abort();
        free(back);
        rwkvx_eval(state, &token, 1, NULL, 0);
    }
    return 0;
}
