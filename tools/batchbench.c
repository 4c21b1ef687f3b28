/* rwkvx-batchbench: aggregate decode speed of several conversations at once
   through rwkvx_eval_batch, against one conversation at a time.

   rwkvx-batchbench MODEL.gguf [--streams 1,2,4,8,16] [--threads N] [--context N] [--gen N] [--repeat R]

   For each stream count S: S states are filled with --context tokens (64 by
   default, random ids), then decode --gen steps (32) with one rwkvx_eval_batch
   call per step advancing all S states by one token, last-position logits
   for each. Prints tokens/s for all streams together (the median of --repeat
   runs, 3) and the ratio to the one-stream rate measured in the same run,
   and the same from CPU time (all threads), which other programs on a
   shared machine do not inflate. */
#include "cli.h"
#include "../rwkvx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_now(void) { /* all threads of the process */
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* tokens/s of S streams decoding `gen` steps after `context` tokens each;
   *cpu_ms: CPU milliseconds per token, all threads together */
static double run(rwkvx_model *m, int S, int threads, int context, int gen, double *cpu_ms) {
    int V = rwkvx_n_vocab(m), i, t;
    rwkvx_state **st = (rwkvx_state **)calloc((size_t)S, sizeof *st);
    const int32_t **tk = (const int32_t **)calloc((size_t)S, sizeof *tk);
    int32_t *next = (int32_t *)calloc((size_t)S, sizeof *next), *prompt = (int32_t *)malloc((size_t)context * sizeof *prompt);
    size_t *n = (size_t *)calloc((size_t)S, sizeof *n);
    float **lg = (float **)calloc((size_t)S, sizeof *lg);
    double t0, c0, dt = -1;
    if (!st || !tk || !next || !prompt || !n || !lg) return -1;
    for (i = 0; i < S; i++) {
        if (rwkvx_state_create(&st[i], m) != RWKVX_OK || !(lg[i] = (float *)malloc((size_t)V * sizeof(float)))) goto done;
        rwkvx_state_set_threads(st[i], threads);
        for (t = 0; t < context; t++) prompt[t] = (int32_t)((t * 7919 + i * 104729 + 1) % V);
        if (rwkvx_eval(st[i], prompt, (size_t)context, NULL, 0) != RWKVX_OK) goto done;
        next[i] = (int32_t)(i % V), tk[i] = &next[i], n[i] = 1;
    }
    t0 = now(), c0 = cpu_now();
    for (t = 0; t < gen; t++) {
        if (rwkvx_eval_batch(st, tk, n, (size_t)S, lg, 0) != RWKVX_OK) goto done;
        for (i = 0; i < S; i++) next[i] = (int32_t)((next[i] * 31 + t + 1) % V); /* any tokens: the cost is the same */
    }
    dt = (double)S * gen / (now() - t0);
    *cpu_ms = 1e3 * (cpu_now() - c0) / ((double)S * gen);
done:
    for (i = 0; i < S; i++) rwkvx_state_free(st[i]), free(lg[i]);
    free(st), free(tk), free(next), free(prompt), free(n), free(lg);
    return dt;
}

int main(int argc, char **argv) {
    const char *streams = "1,2,4,8,16";
    int threads = 0, context = 64, gen = 32, repeat = 3, i;
    rwkvx_model *m;
    rwkvx_info info;
    char err[RWKVX_ERROR_MAX], list[256], *p;
    double one = 0, one_cpu = 0;
    cli_robust_threads(argv);
    cli_start("rwkvx-batchbench");
    if (argc == 2 && !strcmp(argv[1], "--version")) { printf("rwkvx-batchbench %s\n", RWKVX_VERSION_STRING); return cli_finish(0); }
    if (argc < 2 || argv[1][0] == '-')
        return cli_fail("usage: rwkvx-batchbench MODEL.gguf [--streams 1,2,4,8,16] [--threads N] [--context N] [--gen N] [--repeat R]");
    for (i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--version")) { printf("rwkvx-batchbench %s\n", RWKVX_VERSION_STRING); return cli_finish(0); }
        if (!strcmp(a, "--streams")) streams = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--threads")) threads = cli_threads(cli_value(argc, argv, &i));
        else if (!strcmp(a, "--context")) context = (int)cli_long_option(a, cli_value(argc, argv, &i), 1, 1L << 20, NULL);
        else if (!strcmp(a, "--gen")) gen = (int)cli_long_option(a, cli_value(argc, argv, &i), 1, 1L << 20, NULL);
        else if (!strcmp(a, "--repeat")) repeat = (int)cli_long_option(a, cli_value(argc, argv, &i), 1, 64, NULL);
        else cli_unknown(a);
    }
    if (!cli_check_input(argv[1])) return 1;
    if (rwkvx_load_file(&m, argv[1], NULL, err) != RWKVX_OK) return cli_fail("%s", err);
    rwkvx_model_info(m, &info);
    printf("model %s: %d blocks, C=%d, vocab %d; %d threads; context %d, %d decode steps, median of %d\n", argv[1],
           info.n_rwkv + info.n_sparse, info.n_embd, info.n_vocab, threads, context, gen, repeat);
    printf("| streams | tokens/s (all streams) | x one stream | CPU ms per token | x one stream (CPU) |\n"
           "| ---: | ---: | ---: | ---: | ---: |\n");
    snprintf(list, sizeof list, "%s", streams);
    for (p = strtok(list, ","); p; p = strtok(NULL, ",")) {
        int S = atoi(p), r;
        double runs[64], cpu[64];
        if (S < 1 || S > 4096) return cli_fail("bad stream count '%s' in --streams", p);
        for (r = 0; r < repeat; r++)
            if ((runs[r] = run(m, S, threads, context, gen, &cpu[r])) < 0) return cli_fail("evaluation failed");
        qsort(runs, (size_t)r, sizeof runs[0], cmp_double);
        qsort(cpu, (size_t)r, sizeof cpu[0], cmp_double);
        if (S == 1) one = runs[r / 2], one_cpu = cpu[r / 2];
        printf("| %d | %.1f | %.2f | %.2f | %.2f |\n", S, runs[r / 2], one > 0 ? runs[r / 2] / one : 0.0, cpu[r / 2],
               one_cpu > 0 ? one_cpu / cpu[r / 2] : 0.0);
        fflush(stdout);
    }
    rwkvx_model_free(m);
    return 0;
}
