/* The README's embedding example: greedy continuation of a list of token ids. */
#define RWKVX_IMPLEMENTATION
#include "../rwkvx.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    char err[RWKVX_ERROR_MAX];
    rwkvx_model *model;
    rwkvx_state *state;
    int32_t token = argc > 2 ? atoi(argv[2]) : 0;
    int i, v;
    float *logits;
    if (argc < 2) { fprintf(stderr, "usage: embed MODEL.gguf [FIRST_TOKEN]\n"); return 1; }
    if (rwkvx_load_file(&model, argv[1], NULL, err) != RWKVX_OK) { fprintf(stderr, "%s\n", err); return 1; }
    if (rwkvx_state_create(&state, model) != RWKVX_OK) return 1;
    logits = malloc(sizeof(float) * (size_t)rwkvx_n_vocab(model));
    for (i = 0; i < 16; i++) {                      /* 16 greedy steps */
        if (rwkvx_eval(state, &token, 1, logits, 0) != RWKVX_OK) return 1;
        for (token = 0, v = 1; v < rwkvx_n_vocab(model); v++)
            if (logits[v] > logits[token]) token = v;
        printf("%d ", (int)token);
    }
    printf("\n");
    free(logits); rwkvx_state_free(state); rwkvx_model_free(model);
    return 0;
}
