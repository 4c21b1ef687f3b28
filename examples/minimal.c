/* The smallest complete use of rwkvx.h: load, tokenize, generate, free.
   minimal MODEL.gguf "PROMPT" */
#define RWKVX_IMPLEMENTATION
#include "../rwkvx.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    char err[RWKVX_ERROR_MAX], text[512];
    rwkvx_model *model;
    rwkvx_state *state;
    rwkvx_sampler *sampler;
    rwkvx_decoder dec;
    int32_t ids[1024], token;
    size_t n_ids, n, i;
    if (argc < 3) { fprintf(stderr, "usage: minimal MODEL.gguf PROMPT\n"); return 1; }
    if (rwkvx_load_file(&model, argv[1], NULL, err) != RWKVX_OK) { fprintf(stderr, "%s\n", err); return 1; }
    const rwkvx_tokenizer *tok = rwkvx_model_tokenizer(model);         /* NULL: no vocabulary */
    float *logits = malloc(sizeof(float) * (size_t)rwkvx_n_vocab(model));
    if (!tok || rwkvx_tokenize(tok, argv[2], strlen(argv[2]), ids, 1024, &n_ids) != RWKVX_OK) return 1;
    rwkvx_state_create(&state, model);
    rwkvx_sampler_new(&sampler, rwkvx_n_vocab(model), tok, NULL, 42);  /* reference defaults, seed 42 */
    rwkvx_decoder_init(&dec);
    rwkvx_eval(state, ids, n_ids, logits, 0);                          /* the prompt at once */
    for (i = 0; i < 100; i++) {                                        /* 100 tokens */
        token = rwkvx_sample(sampler, logits);
        if (token <= 0) break;                                         /* 0: end of text */
        rwkvx_decoder_push(&dec, tok, token, text, sizeof text, &n);   /* whole UTF-8 characters */
        fwrite(text, 1, n, stdout);
        rwkvx_eval(state, &token, 1, logits, 0);
    }
    fwrite(text, 1, rwkvx_decoder_flush(&dec, text), stdout);
    printf("\n");
    rwkvx_sampler_free(sampler); rwkvx_state_free(state); rwkvx_model_free(model); free(logits);
    return 0;
}
