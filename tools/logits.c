/* rwkvx-logits: run tokens through a model and write the logits as float32.

   rwkvx-logits MODEL.gguf (--tokens 1,2,3 | --tokens-file F) --out F.f32
                [--all] [--mode whole|single|ragged] [--threads N]
                [--chunk-size B] [--chunk-topk K] [--max-context N]
                [--kv-limit MAX[,KEEP[,WINDOW]]]

   whole  = one eval call for all tokens
   single = one token per call
   ragged = pieces of irregular sizes (7, 1, 50, 1, 3, 64, 2, 100, repeating)
   Without --all only the last position's logits are written. */
#define RWKVX_IMPLEMENTATION
#include "../rwkvx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *fmt, const char *arg) {
    fprintf(stderr, "rwkvx-logits: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 1;
}

/* Parses ids separated by spaces, commas or newlines. Returns the count, or
   -1 with a message on a malformed id. */
static long parse_tokens(const char *text, int32_t **out) {
    size_t cap = 64, n = 0;
    int32_t *ids = (int32_t *)malloc(cap * sizeof *ids);
    const char *p = text;
    if (!ids) return -1;
    for (;;) {
        char *end;
        long v;
        while (*p == ' ' || *p == ',' || *p == '\n' || *p == '\r' || *p == '\t') p++;
        if (!*p) break;
        errno = 0;
        v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > INT32_MAX) {
            fprintf(stderr, "rwkvx-logits: bad token id near '%.20s'\n", p);
            free(ids);
            return -1;
        }
        if (n == cap) {
            int32_t *bigger = (int32_t *)realloc(ids, 2 * cap * sizeof *ids);
            if (!bigger) { free(ids); return -1; }
            ids = bigger, cap *= 2;
        }
        ids[n++] = (int32_t)v;
        p = end;
    }
    *out = ids;
    return (long)n;
}

static char *read_text_file(const char *path) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long size;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = (char *)malloc((size_t)size + 1)) != NULL) {
        if (fread(buf, 1, (size_t)size, f) != (size_t)size) { free(buf); buf = NULL; }
        else buf[size] = 0;
    }
    fclose(f);
    return buf;
}

static int parse_int(const char *s, int lo, int *out) {
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > 1 << 30) return 0;
    *out = (int)v;
    return 1;
}

int main(int argc, char **argv) {
    static const int ragged[] = {7, 1, 50, 1, 3, 64, 2, 100};
    const char *model_path = NULL, *tokens_arg = NULL, *tokens_file = NULL, *out_path = NULL, *mode = "whole";
    int all = 0, threads = 0, i, rc = 1;
    rwkvx_options opt;
    rwkvx_model *model = NULL;
    rwkvx_state *state = NULL;
    int32_t *tokens = NULL;
    float *logits = NULL;
    long n_tokens;
    size_t V, done, piece_index = 0;
    char err[RWKVX_ERROR_MAX], *text;
    FILE *out;
    rwkvx_status s = RWKVX_OK;

    memset(&opt, 0, sizeof opt);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--all")) { all = 1; continue; }
        if (!strcmp(a, "--version")) { printf("rwkvx-logits %s\n", RWKVX_VERSION_STRING); return 0; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: rwkvx-logits MODEL.gguf (--tokens 1,2,3 | --tokens-file F) --out F.f32\n"
                   "                    [--all] [--mode whole|single|ragged] [--threads N]\n"
                   "                    [--chunk-size B] [--chunk-topk K] [--max-context N]\n"
                   "                    [--kv-limit MAX[,KEEP[,WINDOW]]]\n");
            return 0;
        }
        if (a[0] == '-' && a[1] == '-') {
            if (!next) return fail("option %s needs a value", a);
            i++;
            if (!strcmp(a, "--tokens")) tokens_arg = next;
            else if (!strcmp(a, "--tokens-file")) tokens_file = next;
            else if (!strcmp(a, "--out")) out_path = next;
            else if (!strcmp(a, "--mode")) mode = next;
            else if (!strcmp(a, "--threads")) { if (!parse_int(next, 1, &threads)) return fail("bad --threads '%s'", next); }
            else if (!strcmp(a, "--chunk-size")) { if (!parse_int(next, 1, &opt.chunk_size)) return fail("bad --chunk-size '%s'", next); }
            else if (!strcmp(a, "--chunk-topk")) { if (!parse_int(next, 1, &opt.chunk_topk)) return fail("bad --chunk-topk '%s'", next); }
            else if (!strcmp(a, "--max-context")) { if (!parse_int(next, 1, &opt.max_context)) return fail("bad --max-context '%s'", next); }
            else if (!strcmp(a, "--kv-limit")) { if (rwkvx_parse_kv_limit(next, &opt) != RWKVX_OK) return fail("bad --kv-limit '%s' (MAX[,KEEP[,WINDOW]])", next); }
            else return fail("unknown option %s", a);
        } else if (!model_path) {
            model_path = a;
        } else {
            return fail("unexpected argument '%s'", a);
        }
    }
    if (!model_path) return fail("%s", "no model given (rwkvx-logits --help)");
    if (!out_path) return fail("%s", "no --out file given");
    if (!tokens_arg == !tokens_file) return fail("%s", "give exactly one of --tokens and --tokens-file");
    if (strcmp(mode, "whole") && strcmp(mode, "single") && strcmp(mode, "ragged"))
        return fail("unknown --mode '%s' (whole, single or ragged)", mode);

    text = tokens_file ? read_text_file(tokens_file) : NULL;
    if (tokens_file && !text) return fail("cannot read tokens file '%s'", tokens_file);
    n_tokens = parse_tokens(tokens_file ? text : tokens_arg, &tokens);
    free(text);
    if (n_tokens < 0) return 1;
    if (n_tokens == 0) { free(tokens); return fail("%s", "no tokens given"); }
    if (opt.max_context && n_tokens > opt.max_context) {
        fprintf(stderr, "rwkvx-logits: %ld tokens exceed the context limit of %d (--max-context)\n", n_tokens, opt.max_context);
        free(tokens);
        return 1;
    }

    if (rwkvx_load_file(&model, model_path, &opt, err) != RWKVX_OK) {
        free(tokens);
        return fail("%s", err);
    }
    V = (size_t)rwkvx_n_vocab(model);
    {
        rwkvx_info info;
        rwkvx_model_info(model, &info);
        if (info.n_nonfinite)
            fprintf(stderr, "rwkvx-logits: warning: %llu weights are NaN or infinite (first in '%s'); the logits will be NaN\n",
                    (unsigned long long)info.n_nonfinite, info.nonfinite_tensor);
    }
    for (i = 0; i < n_tokens; i++)
        if (tokens[i] >= (int32_t)V) {
            fprintf(stderr, "rwkvx-logits: token %d is out of range (vocabulary %zu)\n", (int)tokens[i], V);
            goto done;
        }
    logits = (float *)malloc((all ? (size_t)n_tokens : 1) * V * sizeof(float));
    if (!logits || rwkvx_state_new(model, &state) != RWKVX_OK) { fail("%s", "out of memory"); goto done; }
    rwkvx_state_set_threads(state, threads);

    for (done = 0; done < (size_t)n_tokens && s == RWKVX_OK;) {
        size_t piece = (size_t)n_tokens - done;
        if (!strcmp(mode, "single")) piece = 1;
        if (!strcmp(mode, "ragged") && piece > (size_t)ragged[piece_index % 8]) piece = (size_t)ragged[piece_index % 8];
        piece_index++;
        /* each piece writes its own positions, or the last one overwrites */
        s = rwkvx_eval(state, tokens + done, piece, all ? logits + done * V : logits, all ? RWKVX_EVAL_ALL_LOGITS : 0);
        done += piece;
    }
    if (s != RWKVX_OK) { fprintf(stderr, "rwkvx-logits: eval failed: %s\n", rwkvx_status_string(s)); goto done; }

    out = fopen(out_path, "wb");
    if (!out) { fail("cannot write '%s'", out_path); goto done; }
    if (fwrite(logits, sizeof(float), (all ? (size_t)n_tokens : 1) * V, out) != (all ? (size_t)n_tokens : 1) * V) {
        fclose(out);
        fail("cannot write '%s'", out_path);
        goto done;
    }
    if (fclose(out) != 0) { fail("cannot write '%s'", out_path); goto done; }
    rc = 0;
done:
    rwkvx_state_free(state);
    rwkvx_free(model);
    free(logits);
    free(tokens);
    return rc;
}
