/* rwkvx-soak: decode a long run of sampled tokens and watch speed and memory.

   rwkvx-soak MODEL.gguf [--tokens N] [--every N] [--kv-limit MAX[,KEEP[,WINDOW]]]
              [--seed N] [--threads N] [--temp T] [--csv FILE]

   Decodes one token at a time, each drawn by the library's sampler (the
   reference defaults, or --temp) from the logits of the one before, for
   --tokens tokens (default 1,000,000), and every --every tokens (50,000)
   prints a row: tokens so far, decode speed over the interval (tokens/s),
   resident memory (VmRSS from /proc/self/status), the positions each sparse
   head holds and their K/V bytes. At the end it fits the resident memory
   against the tokens (least squares over the rows) and sets the slope beside
   the K/V bytes one token adds (rwkvx_info.kv_token_bytes): without a limit
   memory should grow by that and nothing else; with --kv-limit it should
   stay flat once the cache is full. --csv writes the rows. docs/SOAK.md has
   the measurements; tools/plot_soak.py draws them. */
#define RWKVX_IMPLEMENTATION
#include "../rwkvx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int fail(const char *fmt, const char *arg) {
    fprintf(stderr, "rwkvx-soak: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 1;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

/* Resident memory in bytes (VmRSS), or -1 where /proc is not there. */
static long long resident_bytes(void) {
    char line[256];
    long long kib = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) {
            kib = strtoll(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kib < 0 ? -1 : kib * 1024;
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *path = NULL, *csv_path = NULL;
    long tokens = 1000000, every = 50000, seed = 1, threads = 1, v, i;
    double temp = -1;
    rwkvx_options opt;
    rwkvx_model *m = NULL;
    rwkvx_state *st = NULL;
    rwkvx_sampler *sampler = NULL;
    rwkvx_info info;
    char err[RWKVX_ERROR_MAX];
    float *logits = NULL;
    FILE *csv = NULL;
    int32_t token;
    double t0, t_last, sx = 0, sy = 0, sxx = 0, sxy = 0;
    long long rss;
    int rc = 1, n_rows = 0;

    memset(&opt, 0, sizeof opt);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--version")) { printf("rwkvx-soak %s\n", RWKVX_VERSION_STRING); return 0; }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: rwkvx-soak MODEL.gguf [--tokens N] [--every N] [--kv-limit MAX[,KEEP[,WINDOW]]]\n"
                   "                  [--seed N] [--threads N] [--temp T] [--csv FILE]\n");
            return 0;
        }
        if (a[0] != '-') {
            if (path) return fail("more than one model given ('%s')", a);
            path = a;
            continue;
        }
        if (!next) return fail("%s needs a value", a);
        i++;
        if (!strcmp(a, "--tokens")) { if (!parse_long(next, 1, 1L << 40, &tokens)) return fail("bad --tokens '%s'", next); }
        else if (!strcmp(a, "--every")) { if (!parse_long(next, 1, 1L << 40, &every)) return fail("bad --every '%s'", next); }
        else if (!strcmp(a, "--seed")) { if (!parse_long(next, 0, 1L << 62, &seed)) return fail("bad --seed '%s'", next); }
        else if (!strcmp(a, "--threads")) { if (!parse_long(next, 1, 1024, &threads)) return fail("bad --threads '%s'", next); }
        else if (!strcmp(a, "--kv-limit")) { if (rwkvx_parse_kv_limit(next, &opt) != RWKVX_OK) return fail("bad --kv-limit '%s' (MAX[,KEEP[,WINDOW]])", next); }
        else if (!strcmp(a, "--csv")) csv_path = next;
        else if (!strcmp(a, "--temp")) {
            char *end;
            temp = strtod(next, &end);
            if (end == next || *end || !(temp >= 0 && temp <= 100)) return fail("bad --temp '%s'", next);
        } else return fail("unknown option %s", a);
    }
    if (!path) return fail("%s", "no model given (rwkvx-soak --help)");
    (void)v;

    if (rwkvx_load_file(&m, path, &opt, err) != RWKVX_OK) return fail("%s", err);
    rwkvx_model_info(m, &info);
    logits = (float *)malloc(sizeof(float) * (size_t)info.n_vocab);
    if (!logits || rwkvx_state_new(m, &st) != RWKVX_OK ||
        rwkvx_sampler_new(&sampler, info.n_vocab, rwkvx_model_tokenizer(m), NULL, (uint64_t)seed) != RWKVX_OK) {
        fail("%s", "out of memory");
        goto done;
    }
    if (temp >= 0) {
        rwkvx_sampler_params p;
        rwkvx_sampler_get_params(sampler, &p);
        p.temperature = (float)temp;
        rwkvx_sampler_set_params(sampler, &p);
    }
    rwkvx_state_set_threads(st, (int)threads);
    if (csv_path && !(csv = fopen(csv_path, "w"))) { fail("cannot write '%s'", csv_path); goto done; }

    printf("# %s: %d RWKV-7 + %d sparse blocks, C = %d, chunk %d, top-k %d; %ld tokens, seed %ld, %ld thread%s\n", path,
           info.n_rwkv, info.n_sparse, info.n_embd, info.chunk_size, info.chunk_topk, tokens, seed, threads, threads == 1 ? "" : "s");
    if (info.kv_max)
        printf("# K/V limit: max %d, keep %d, window %d positions per head\n", info.kv_max, info.kv_keep, info.kv_window);
    else
        printf("# K/V limit: none (the exact rule)\n");
    printf("# K/V bytes per token: %.2f (keys and values %s, chunk means f32)\n", info.kv_token_bytes, info.kv_f16 ? "f16" : "f32");
    printf("%10s %10s %12s %12s %12s\n", "tokens", "tok/s", "RSS MiB", "KV positions", "KV MiB");
    if (csv) fprintf(csv, "tokens,seconds,tokens_per_s,rss_bytes,kv_positions,kv_bytes\n");

    token = 0; /* the first token: end of text, as a document starts */
    t0 = t_last = now_seconds();
    for (i = 1; i <= tokens; i++) {
        rwkvx_status s = rwkvx_eval(st, &token, 1, logits, 0);
        if (s != RWKVX_OK) {
            fprintf(stderr, "rwkvx-soak: eval failed at token %ld: %s\n", i, rwkvx_status_string(s));
            goto done;
        }
        token = rwkvx_sample(sampler, logits);
        if (token < 0) token = 0; /* nothing left to draw (NaN logits): go on with end of text */
        if (i % every == 0 || i == tokens) {
            double t = now_seconds(), rate = (double)(i % every ? i % every : every) / (t - t_last);
            uint64_t kv = rwkvx_state_kv_positions(st);
            double kv_bytes = (double)kv * info.kv_token_bytes;
            rss = resident_bytes();
            printf("%10ld %10.0f %12.2f %12llu %12.2f\n", i, rate, (double)rss / 1048576.0, (unsigned long long)kv, kv_bytes / 1048576.0);
            fflush(stdout);
            if (csv) fprintf(csv, "%ld,%.3f,%.1f,%lld,%llu,%.0f\n", i, t - t0, rate, rss, (unsigned long long)kv, kv_bytes);
            sx += (double)i, sy += (double)rss, sxx += (double)i * (double)i, sxy += (double)i * (double)rss;
            n_rows++;
            t_last = t;
        }
    }
    if (n_rows >= 2) {
        double slope = (n_rows * sxy - sx * sy) / (n_rows * sxx - sx * sx);
        printf("# resident memory slope (least squares over the rows): %.1f bytes/token; K/V bytes per token %.2f%s\n", slope,
               info.kv_token_bytes, info.kv_max ? " until the cache is full, then 0" : "");
    }
    printf("# %ld tokens in %.1f s (%.0f tokens/s)\n", tokens, now_seconds() - t0, (double)tokens / (now_seconds() - t0));
    rc = 0;
done:
    if (csv && fclose(csv) != 0 && rc == 0) rc = fail("cannot write '%s'", csv_path);
    rwkvx_sampler_free(sampler);
    rwkvx_state_free(st);
    rwkvx_free(m);
    free(logits);
    return rc;
}
