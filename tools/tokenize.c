/* rwkvx-tokenize: the World tokenizer on the command line.

   rwkvx-tokenize (MODEL.gguf | --vocab VOCAB.txt) [--decode] [--bench]

   Reads bytes on stdin and writes their token ids, separated by spaces, on
   stdout; with --decode reads ids (separated by spaces, commas or newlines)
   and writes their bytes. --bench encodes stdin (repeated to 64 MB) a few
   times and prints the encoding speed. Errors: one line on stderr, status 1. */
#include "cli.h" /* first: it sets _POSIX_C_SOURCE */
#include "../rwkvx.h"

#define BENCH_BYTES (64u << 20) /* --bench encodes this much */
#ifndef PIECE_BYTES
#define PIECE_BYTES (1u << 16) /* stdin is encoded in pieces of this size */
#endif

/* Up to `limit` bytes of stdin (NUL-terminated); NULL after a message. */
static char *read_stdin(size_t limit, size_t *len) {
    size_t cap = 1 << 16, n = 0, got;
    char *buf = (char *)malloc(cap + 1);
    while (buf && n < limit && (got = fread(buf + n, 1, (cap < limit ? cap : limit) - n, stdin)) > 0) {
        n += got;
        if (n == cap && cap < limit) {
            char *more = (char *)realloc(buf, cap * 2 + 1);
            if (!more) { free(buf); buf = NULL; break; }
            buf = more;
            cap *= 2;
        }
    }
    if (!buf) { cli_fail("out of memory"); return NULL; }
    if (ferror(stdin)) { free(buf); cli_fail("cannot read standard input: %s", strerror(errno)); return NULL; }
    buf[n] = 0;
    *len = n;
    return buf;
}

/* Encodes stdin in pieces, in bounded memory, with the ids of encoding it
   whole. Greedy longest match decides a token from at most max_bytes bytes
   after its start, so a token is final once that many bytes past its start
   have been read; the bytes from the first token not yet final on are
   encoded again with the next piece. */
static int encode_stream(const rwkvx_tokenizer *tok) {
    size_t max_bytes = rwkvx_tokenizer_max_bytes(tok), cap = PIECE_BYTES + max_bytes + 1, len = 0, n_out = 0;
    char *buf = (char *)malloc(cap);
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (cap + 1));
    int at_end = 0, rc = 0;
    if (!buf || !ids) { free(buf); free(ids); return cli_fail("out of memory"); }
    while (!at_end && rc == 0) {
        size_t n = 0, k, start = 0, got = fread(buf + len, 1, cap - len, stdin);
        len += got;
        at_end = got == 0 || feof(stdin);
        if (ferror(stdin)) { rc = cli_fail("cannot read standard input: %s", strerror(errno)); break; }
        if (rwkvx_tokenize(tok, buf, len, ids, cap + 1, &n) != RWKVX_OK) { rc = cli_fail("the input has a byte no token covers"); break; }
        for (k = 0; k < n; k++) {
            size_t bytes = 0;
            if (!at_end && start + max_bytes > len) break; /* a longer token might start here */
            rwkvx_tokenizer_token(tok, ids[k], NULL, &bytes);
            printf(n_out++ ? " %d" : "%d", (int)ids[k]);
            start += bytes;
        }
        memmove(buf, buf + start, len - start);
        len -= start;
        if (cli_stdout_failed()) rc = 1; /* cli_finish says why */
    }
    if (rc == 0) printf("\n");
    free(buf);
    free(ids);
    return rc;
}

/* Reads token ids (separated by white space or commas) from stdin and writes
   their bytes, one id at a time. */
static int decode_stream(const rwkvx_tokenizer *tok) {
    size_t max = rwkvx_tokenizer_max_bytes(tok) + 4, n;
    char *out = (char *)malloc(max);
    int ch = getchar();
    if (!out) return cli_fail("out of memory");
    for (;;) {
        long id = 0;
        int32_t one;
        while (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == ',') ch = getchar();
        if (ch == EOF) break;
        if (ch < '0' || ch > '9') { free(out); return cli_fail("--decode expects token ids (digits separated by spaces or commas)"); }
        for (; ch >= '0' && ch <= '9'; ch = getchar())
            if ((id = id * 10 + (ch - '0')) > INT32_MAX) id = (long)INT32_MAX + 1; /* stays out of range */
        if (ch != EOF && ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n' && ch != ',') {
            free(out);
            return cli_fail("--decode expects token ids (digits separated by spaces or commas)");
        }
        if (id > INT32_MAX || rwkvx_tokenizer_token(tok, (int32_t)id, NULL, NULL) == RWKVX_TOKEN_INVALID) {
            free(out);
            return cli_fail("token id %ld%s is outside the vocabulary", id > INT32_MAX ? (long)INT32_MAX : id, id > INT32_MAX ? "+" : "");
        }
        one = (int32_t)id;
        rwkvx_detokenize(tok, &one, 1, out, max, &n);
        fwrite(out, 1, n, stdout);
        if (cli_stdout_failed()) break; /* cli_finish says why */
    }
    free(out);
    return ferror(stdin) ? cli_fail("cannot read standard input: %s", strerror(errno)) : 0;
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
    size_t total = BENCH_BYTES, i, n_ids = 0, n;
    char *big;
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (PIECE + 1));
    double best = 1e30, best_cpu = 1e30;
    int rep;
    if (!len) return cli_fail("--bench needs some text on stdin");
    big = (char *)malloc(total);
    if (!big || !ids) return cli_fail("out of memory");
    for (i = 0; i < total; i++) big[i] = text[i % len];
    for (rep = 0; rep < 5; rep++) {
        double t0 = cli_now(), c0 = cpu_now(), dt, dc;
        n_ids = 0;
        for (i = 0; i < total; i += PIECE) {
            if (rwkvx_tokenize(tok, big + i, total - i < PIECE ? total - i : PIECE, ids, PIECE + 1, &n) != RWKVX_OK)
                return cli_fail("the text cannot be encoded");
            n_ids += n;
        }
        dt = cli_now() - t0, dc = cpu_now() - c0;
        if (dc < best_cpu) best_cpu = dc;
        if (dt < best) best = dt;
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
    int decode = 0, do_bench = 0, i, rc;
    char err[RWKVX_ERROR_MAX];
    rwkvx_model *model = NULL;
    rwkvx_tokenizer *own = NULL;
    const rwkvx_tokenizer *tok;
    cli_start("rwkvx-tokenize");
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--decode") == 0) decode = 1;
        else if (strcmp(argv[i], "--bench") == 0) do_bench = 1;
        else if (strcmp(argv[i], "--version") == 0) { printf("%s %s\n", cli_program, RWKVX_VERSION_STRING); return cli_finish(0); }
        else if (strcmp(argv[i], "--vocab") == 0) vocab_path = cli_value(argc, argv, &i);
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            printf("usage: rwkvx-tokenize (MODEL.gguf | --vocab VOCAB.txt) [--decode] [--bench]\n"
                   "  bytes on stdin -> token ids on stdout; --decode: ids -> bytes;\n"
                   "  --bench: encoding speed on stdin's text (its first 64 MB)\n");
            return cli_finish(0);
        } else if (argv[i][0] != '-' && !model_path) model_path = argv[i];
        else cli_unknown(argv[i]);
    }
    if (!!model_path == !!vocab_path) return cli_fail("give either MODEL.gguf or --vocab VOCAB.txt (see --help)");
    if (vocab_path) {
        size_t len;
        char *text = cli_read_file(vocab_path, &len);
        if (!text) return 1;
        if (rwkvx_tokenizer_from_vocab(&own, text, len, err) != RWKVX_OK) { free(text); return cli_fail("%s", err); }
        free(text);
        tok = own;
    } else {
        if (!cli_check_input(model_path)) return 1;
        if (rwkvx_load_file(&model, model_path, NULL, err) != RWKVX_OK) return cli_fail("cannot load '%s': %s", model_path, err);
        tok = rwkvx_model_tokenizer(model);
        if (!tok) { rwkvx_free(model); return cli_fail("'%s' has no vocabulary (convert it with --vocab)", model_path); }
    }
    if (do_bench) {
        size_t len;
        char *input = read_stdin(BENCH_BYTES, &len);
        rc = input ? bench(tok, input, len) : 1;
        free(input);
    } else {
        rc = decode ? decode_stream(tok) : encode_stream(tok);
    }
    rwkvx_tokenizer_free(own);
    rwkvx_free(model);
    return cli_finish(rc);
}
