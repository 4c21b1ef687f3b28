/* Checks a conversation recorded by rwkvx-chat --dump-tokens / --dump-logits:
   feeding every token of the transcript at once must give, at each position
   where the chat sampled, the logits the chat saw turn by turn.

   test_chat_replay MODEL.gguf TOKENS.txt LOGITS.bin [MIN_RECORDS]
   test_chat_replay --argmax LOGITS.f32 N ID: ID is the largest of the first N
   logits in LOGITS.f32 (greedy decoding's first token). */
#include "../rwkvx.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    char err[RWKVX_ERROR_MAX];
    rwkvx_model *m;
    rwkvx_state *s;
    FILE *f;
    int32_t *ids = NULL;
    size_t n = 0, cap = 0, records = 0, V;
    float *all, *row, worst = 0;
    uint64_t pos;
    int id, min_records = argc > 4 ? atoi(argv[4]) : 2;
    if (argc == 5 && strcmp(argv[1], "--argmax") == 0) {
        float x, best = 0;
        int i = 0, arg = -1, lim = atoi(argv[3]);
        if (!(f = fopen(argv[2], "rb"))) return 1;
        for (; i < lim && fread(&x, 4, 1, f) == 1; i++)
            if (arg < 0 || x > best) best = x, arg = i;
        fclose(f);
        printf("argmax %d, want %s\n", arg, argv[4]);
        return arg == atoi(argv[4]) ? 0 : 1;
    }
    if (argc < 4) { fprintf(stderr, "usage: test_chat_replay MODEL.gguf TOKENS.txt LOGITS.bin [MIN_RECORDS]\n"); return 2; }
    if (rwkvx_load_file(&m, argv[1], NULL, err) != RWKVX_OK) { fprintf(stderr, "%s\n", err); return 1; }
    V = (size_t)rwkvx_n_vocab(m);
    if (!(f = fopen(argv[2], "r"))) { fprintf(stderr, "cannot read %s\n", argv[2]); return 1; }
    while (fscanf(f, "%d", &id) == 1) {
        if (n == cap) ids = (int32_t *)realloc(ids, (cap = cap * 2 + 256) * sizeof *ids);
        ids[n++] = id;
    }
    fclose(f);
    all = (float *)malloc(n * V * sizeof *all + 1);
    row = (float *)malloc(V * sizeof *row);
    rwkvx_state_new(m, &s);
    if (!n || rwkvx_eval(s, ids, n, all, RWKVX_EVAL_ALL_LOGITS) != RWKVX_OK) { fprintf(stderr, "eval failed (%lu tokens)\n", (unsigned long)n); return 1; }
    if (!(f = fopen(argv[3], "rb"))) { fprintf(stderr, "cannot read %s\n", argv[3]); return 1; }
    while (fread(&pos, 8, 1, f) == 1) {
        size_t i;
        if (fread(row, sizeof *row, V, f) != V || pos < 1 || pos > n) { fprintf(stderr, "bad record at position %llu\n", (unsigned long long)pos); return 1; }
        for (i = 0; i < V; i++) {
            float d = fabsf(row[i] - all[(pos - 1) * V + i]);
            if (!(d <= worst)) worst = d;
        }
        records++;
    }
    fclose(f);
    printf("%lu tokens, %lu sampling steps, max|diff| %.3g\n", (unsigned long)n, (unsigned long)records, (double)worst);
    free(ids); free(all); free(row);
    rwkvx_state_free(s);
    rwkvx_free(m);
    if ((int)records < min_records) { fprintf(stderr, "too few records\n"); return 1; }
    return worst <= 1e-4f ? 0 : 1;
}
