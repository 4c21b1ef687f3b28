/* The smallest complete use of rwkvx.h: load, tokenize, generate, free.
   minimal MODEL.gguf "PROMPT"
   Every call that can fail is checked, and the program says why it stops. */
#define RWKVX_IMPLEMENTATION
#include "../rwkvx.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int stop(const char *why, const char *detail) {
    fprintf(stderr, "minimal: %s%s%s\n", why, detail ? ": " : "", detail ? detail : "");
    return 1;
}

int main(int argc, char **argv) {
    char err[RWKVX_ERROR_MAX], text[512];
    rwkvx_model *model;
    rwkvx_state *state = NULL;
    rwkvx_sampler *sampler = NULL;
    rwkvx_decoder dec;
    const rwkvx_tokenizer *tok;
    int32_t *ids, token;
    float *logits;
    size_t n_ids, n, i, len;
    rwkvx_status s;
    if (argc != 3) return stop("usage: minimal MODEL.gguf PROMPT", NULL);
    if ((len = strlen(argv[2])) == 0) return stop("the prompt is empty", NULL);
    if (rwkvx_load_file(&model, argv[1], NULL, err) != RWKVX_OK) return stop(err, NULL);
    if (!(tok = rwkvx_model_tokenizer(model))) return stop("the model has no vocabulary (rwkvx-convert --vocab)", argv[1]);
    ids = malloc(sizeof(int32_t) * (len + 1));                        /* len + 1 ids always suffice */
    logits = malloc(sizeof(float) * (size_t)rwkvx_n_vocab(model));
    if (!ids || !logits) return stop("out of memory", NULL);
    if ((s = rwkvx_tokenize(tok, argv[2], len, ids, len + 1, &n_ids)) != RWKVX_OK) return stop("cannot tokenize", rwkvx_status_string(s));
    if ((s = rwkvx_state_create(&state, model)) != RWKVX_OK ||
        (s = rwkvx_sampler_new(&sampler, rwkvx_n_vocab(model), tok, NULL, 42)) != RWKVX_OK) /* reference defaults, seed 42 */
        return stop("cannot start", rwkvx_status_string(s));
    rwkvx_decoder_init(&dec);
    if ((s = rwkvx_eval(state, ids, n_ids, logits, 0)) != RWKVX_OK)  /* the prompt at once */
        return stop("eval failed", rwkvx_status_string(s));
    for (i = 0; i < 100; i++) {                                        /* 100 tokens */
        token = rwkvx_sample(sampler, logits);
        if (token <= 0) break;                                         /* 0: end of text (-1: nothing to draw) */
        if (rwkvx_decoder_push(&dec, tok, token, text, sizeof text, &n) != RWKVX_OK) break; /* whole UTF-8 characters */
        fwrite(text, 1, n, stdout);
        if ((s = rwkvx_eval(state, &token, 1, logits, 0)) != RWKVX_OK) return stop("eval failed", rwkvx_status_string(s));
    }
    fwrite(text, 1, rwkvx_decoder_flush(&dec, text), stdout);
    printf("\n");
    rwkvx_sampler_free(sampler); rwkvx_state_free(state); rwkvx_model_free(model); free(logits); free(ids);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : stop("cannot write standard output", NULL);
}
