/* libFuzzer target: restoring a saved state. The model comes from
   $RWKVX_FUZZ_MODEL (default fuzz/corpus/gguf/r1s1-f16.gguf: a tiny RWKV-X,
   one RWKV-7 block and one sparse block, chunk 4, whose saved states seed
   fuzz/corpus/state). Each input goes to two states: one of the model as
   loaded by default (state format version 1) and one of the model loaded
   with a K/V limit of 12 / 8 / 2 positions (version 2: compacted caches and
   the window's queries). A state that restores must save back to the same
   bytes and run tokens (past an eviction, for the limited one). */
#include "../rwkvx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static rwkvx_model *model[2];
static rwkvx_state *state[2];

static void restore(rwkvx_state *st, const uint8_t *data, size_t size) {
    static const int32_t tokens[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 1}; /* vocabulary 16 */
    if (rwkvx_state_load(st, data, size) == RWKVX_OK) {
        size_t bytes = rwkvx_state_save_bytes(st);
        unsigned char *back = (unsigned char *)malloc(bytes);
        if (bytes != size || !back || rwkvx_state_save(st, back, bytes) != RWKVX_OK || memcmp(back, data, size)) abort();
        free(back);
        rwkvx_eval(st, tokens, 16, NULL, 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!model[0]) {
        const char *path = getenv("RWKVX_FUZZ_MODEL");
        char err[RWKVX_ERROR_MAX];
        rwkvx_options limited;
        memset(&limited, 0, sizeof limited);
        limited.kv_max = 12, limited.kv_keep = 8, limited.kv_window = 2;
        if (!path) path = "fuzz/corpus/gguf/r1s1-f16.gguf";
        if (rwkvx_load_file(&model[0], path, NULL, err) != RWKVX_OK || rwkvx_state_new(model[0], &state[0]) != RWKVX_OK ||
            rwkvx_load_file(&model[1], path, &limited, err) != RWKVX_OK || rwkvx_state_new(model[1], &state[1]) != RWKVX_OK) {
            fprintf(stderr, "fuzz_state: %s\n", err);
            abort();
        }
    }
    restore(state[0], data, size);
    restore(state[1], data, size);
    return 0;
}
