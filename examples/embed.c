#define RWKVX_IMPLEMENTATION
#include "rwkvx.h"
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    char err[RWKVX_ERROR_MAX];
    rwkvx_model *model;
    rwkvx_state *state;
    int32_t token = argc > 2 ? atoi(argv[2]) : 0;   /* the first token */
    rwkvx_status s;
    float *logits;
    if (argc < 2) { fprintf(stderr, "usage: embed MODEL.gguf [FIRST_TOKEN]\n"); return 1; }
    if (rwkvx_load_file(&model, argv[1], NULL, err) != RWKVX_OK) { fprintf(stderr, "embed: %s\n", err); return 1; }
    if ((s = rwkvx_state_create(&state, model)) != RWKVX_OK ||        /* one per conversation */
        !(logits = malloc(sizeof(float) * (size_t)rwkvx_n_vocab(model)))) { fprintf(stderr, "embed: out of memory\n"); return 1; }
    for (int i = 0; i < 16; i++) {                  /* 16 greedy steps */
        if ((s = rwkvx_eval(state, &token, 1, logits, 0)) != RWKVX_OK) { /* any run of tokens works */
            fprintf(stderr, "embed: token %d: %s\n", (int)token, rwkvx_status_string(s));
            return 1;
        }
        token = 0;
        for (int v = 1; v < rwkvx_n_vocab(model); v++) if (logits[v] > logits[token]) token = v;
        printf("%d ", (int)token);
    }
    printf("\n");
    free(logits); rwkvx_state_free(state); rwkvx_model_free(model);
    return 0;
}
