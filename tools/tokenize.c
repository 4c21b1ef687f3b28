/* rwkvx-tokenize: the World tokenizer on the command line.

   rwkvx-tokenize (MODEL.gguf | --vocab VOCAB.txt) [--decode] [--bench]

   Reads bytes on stdin and writes their token ids, separated by spaces, on
   stdout; with --decode reads ids (separated by spaces, commas or newlines)
   and writes their bytes. --bench encodes stdin (repeated to 64 MB) a few
   times and prints the encoding speed. Errors: one line on stderr, status 1. */
#define RWKVX_IMPLEMENTATION
#include "../rwkvx.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail(const char *fmt, const char *arg) {
    fprintf(stderr, "rwkvx-tokenize: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return 1;
}

static char *read_stream(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0, got;
    char *buf = (char *)malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *more = (char *)realloc(buf, cap * 2);
            if (!more) { free(buf); return NULL; }
            buf = more;
            cap *= 2;
        }
    }
    if (buf && ferror(f)) { free(buf); return NULL; }
    if (buf) buf[n] = 0; /* n < cap: room for a terminator */
    *len = n;
    return buf;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* This process's CPU time: on a machine shared with other programs the wall
   time includes their time slices, the CPU time does not. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int bench(const rwkvx_tokenizer *tok, const char *text, size_t len) {
    enum { PIECE = 1 << 20 };
    size_t total = 64u << 20, i, n_ids = 0, n;
    char *big;
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (PIECE + 1));
    double best = 1e30, best_cpu = 1e30;
    int rep;
    if (!len) return fail("%s", "--bench needs some text on stdin");
    big = (char *)malloc(total);
    if (!big || !ids) return fail("%s", "out of memory");
    for (i = 0; i < total; i++) big[i] = text[i % len];
    for (rep = 0; rep < 5; rep++) {
        double t0 = now(), c0 = cpu_now(), dt, dc;
        n_ids = 0;
        for (i = 0; i < total; i += PIECE) {
            if (rwkvx_tokenize(tok, big + i, total - i < PIECE ? total - i : PIECE, ids, PIECE + 1, &n) != RWKVX_OK)
                return fail("%s", "the text cannot be encoded");
            n_ids += n;
        }
        dt = now() - t0, dc = cpu_now() - c0;
        if (dt < best) best = dt;
        if (dc < best_cpu) best_cpu = dc;
    }
    printf("encoded %.0f MB (%lu tokens, %.2f bytes/token) in %.3f s: %.1f MB/s (best of 5); CPU time %.3f s: %.1f MB/s\n",
           (double)total / 1e6, (unsigned long)n_ids, (double)total / (double)n_ids, best, (double)total / 1e6 / best,
           best_cpu, (double)total / 1e6 / best_cpu);
    free(big);
    free(ids);
    return 0;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *vocab_path = NULL;
    int decode = 0, do_bench = 0, i, rc = 0;
    char err[RWKVX_ERROR_MAX], *input;
    size_t len;
    rwkvx_model *model = NULL;
    rwkvx_tokenizer *own = NULL;
    const rwkvx_tokenizer *tok;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--decode") == 0) decode = 1;
        else if (strcmp(argv[i], "--bench") == 0) do_bench = 1;
        else if (strcmp(argv[i], "--vocab") == 0 && i + 1 < argc) vocab_path = argv[++i];
        else if (strcmp(argv[i], "--version") == 0) { printf("rwkvx-tokenize %s\n", RWKVX_VERSION_STRING); return 0; }
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: rwkvx-tokenize (MODEL.gguf | --vocab VOCAB.txt) [--decode] [--bench]\n"
                   "  bytes on stdin -> token ids on stdout; --decode: ids -> bytes;\n"
                   "  --bench: encoding speed on stdin's text\n");
            return 0;
        } else if (argv[i][0] == '-' && argv[i][1]) return fail("unknown or incomplete option '%s' (see --help)", argv[i]);
        else if (!model_path) model_path = argv[i];
        else return fail("unexpected argument '%s'", argv[i]);
    }
    if (!!model_path == !!vocab_path) return fail("%s", "give either MODEL.gguf or --vocab VOCAB.txt (see --help)");
    if (vocab_path) {
        FILE *f = fopen(vocab_path, "rb");
        char *text;
        if (!f) return fail("cannot open '%s'", vocab_path);
        text = read_stream(f, &len);
        fclose(f);
        if (!text) return fail("cannot read '%s'", vocab_path);
        if (rwkvx_tokenizer_from_vocab(&own, text, len, err) != RWKVX_OK) { free(text); return fail("%s", err); }
        free(text);
        tok = own;
    } else {
        if (rwkvx_load_file(&model, model_path, NULL, err) != RWKVX_OK) return fail("%s", err);
        tok = rwkvx_model_tokenizer(model);
        if (!tok) { rwkvx_free(model); return fail("'%s' has no vocabulary (convert it with --vocab)", model_path); }
    }
    input = read_stream(stdin, &len);
    if (!input) rc = fail("%s", "cannot read stdin");
    else if (do_bench) rc = bench(tok, input, len);
    else if (!decode) {
        int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (len + 1));
        size_t n = 0, k;
        if (!ids) rc = fail("%s", "out of memory");
        else if (rwkvx_tokenize(tok, input, len, ids, len + 1, &n) != RWKVX_OK)
            rc = fail("%s", "the input has a byte no token covers");
        else {
            for (k = 0; k < n; k++) printf(k ? " %d" : "%d", (int)ids[k]);
            printf("\n");
        }
        free(ids);
    } else {
        size_t pos = 0, max = rwkvx_tokenizer_max_bytes(tok) + 4, n;
        char *out = (char *)malloc(max);
        while (out && rc == 0) {
            char *end;
            long id;
            int32_t one;
            while (pos < len && strchr(" \t\r\n,", input[pos]) && input[pos]) pos++;
            if (pos >= len) break;
            if (input[pos] < '0' || input[pos] > '9') { rc = fail("%s", "--decode expects token ids"); break; }
            id = strtol(input + pos, &end, 10);
            pos = (size_t)(end - input);
            if (pos < len && !strchr(" \t\r\n,", input[pos])) { rc = fail("%s", "--decode expects token ids"); break; }
            if (id > 0x7fffffff || rwkvx_tokenizer_token(tok, (int32_t)id, NULL, NULL) == RWKVX_TOKEN_INVALID) {
                char num[32];
                sprintf(num, "%ld", id);
                rc = fail("token id %s is outside the vocabulary", num);
                break;
            }
            one = (int32_t)id;
            rwkvx_detokenize(tok, &one, 1, out, max, &n);
            fwrite(out, 1, n, stdout);
        }
        free(out);
    }
    free(input);
    rwkvx_tokenizer_free(own);
    rwkvx_free(model);
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) rc = fail("%s", "cannot write stdout");
    return rc;
}
