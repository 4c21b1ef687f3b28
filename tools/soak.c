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
#include "cli.h" /* first: it sets _POSIX_C_SOURCE */
#include "../rwkvx.h"

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

int main(int argc, char **argv) {
    const char *path = NULL, *csv_path = NULL;
    long tokens = 1000000, every = 50000, seed = 1, threads, i;
    int k;
    double temp = -1;
    rwkvx_options opt;
    rwkvx_model *m = NULL;
    rwkvx_state *st = NULL;
    rwkvx_sampler *sampler = NULL;
    rwkvx_info info;
    char err[RWKVX_ERROR_MAX];
    float *logits = NULL;
    FILE *csv = NULL;
    cli_output csv_out;
    cli_model_options mo;
    int32_t token;
    double t0, t_last, sx = 0, sy = 0, sxx = 0, sxy = 0;
    long long rss;
    int rc = 1, n_rows = 0;

    cli_start("rwkvx-soak");
    memset(&opt, 0, sizeof opt);
    memset(&mo, 0, sizeof mo);
    memset(&csv_out, 0, sizeof csv_out);
    mo.threads = 1;
    for (k = 1; k < argc; k++) {
        const char *a = argv[k];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: rwkvx-soak MODEL.gguf [--tokens N] [--every N] [--seed N] [--temp T] [--csv FILE]\n"
                   "                  [model options; --threads defaults to 1 here]\n" CLI_MODEL_USAGE);
            return cli_finish(0);
        }
        if (!strcmp(a, "--version")) { printf("%s %s\n", cli_program, RWKVX_VERSION_STRING); return cli_finish(0); }
        if (cli_model_option(argc, argv, &k, &mo)) continue;
        if (!strcmp(a, "--tokens")) tokens = cli_long_option(a, cli_value(argc, argv, &k), 1, 1L << 40, NULL);
        else if (!strcmp(a, "--every")) every = cli_long_option(a, cli_value(argc, argv, &k), 1, 1L << 40, NULL);
        else if (!strcmp(a, "--seed")) seed = cli_long_option(a, cli_value(argc, argv, &k), 0, 1L << 62, NULL);
        else if (!strcmp(a, "--csv")) csv_path = cli_value(argc, argv, &k);
        else if (!strcmp(a, "--temp")) {
            const char *v = cli_value(argc, argv, &k);
            if (!cli_parse_double(v, 0, 100, &temp)) cli_die("bad --temp '%s' (a number from 0 to 100)", v);
        } else if (a[0] != '-' && !path) path = a;
        else cli_unknown(a);
    }
    if (!path) return cli_fail("no model given (rwkvx-soak --help)");
    threads = mo.threads;
    CLI_SET_RWKVX_OPTIONS(opt, mo);
    if (!cli_check_input(path)) return 1;
    {
        const char *inputs[2];
        inputs[0] = path, inputs[1] = NULL;
        if (csv_path && !cli_output_open(&csv_out, csv_path, inputs)) return 1;
        csv = csv_out.f;
    }
    if (rwkvx_load_file(&m, path, &opt, err) != RWKVX_OK) {
        cli_fail("cannot load '%s': %s", path, err);
        goto done;
    }
    rwkvx_model_info(m, &info);
    logits = (float *)malloc(sizeof(float) * (size_t)info.n_vocab);
    if (!logits || rwkvx_state_new(m, &st) != RWKVX_OK ||
        rwkvx_sampler_new(&sampler, info.n_vocab, rwkvx_model_tokenizer(m), NULL, (uint64_t)seed) != RWKVX_OK) {
        cli_fail("out of memory");
        goto done;
    }
    if (temp >= 0) {
        rwkvx_sampler_params p;
        rwkvx_sampler_get_params(sampler, &p);
        p.temperature = (float)temp;
        rwkvx_sampler_set_params(sampler, &p);
    }
    rwkvx_state_set_threads(st, (int)threads);

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
    t0 = t_last = cli_now();
    for (i = 1; i <= tokens; i++) {
        rwkvx_status s = rwkvx_eval(st, &token, 1, logits, 0);
        if (s != RWKVX_OK) {
            cli_fail("eval failed at token %ld: %s", i, rwkvx_status_string(s));
            goto done;
        }
        token = rwkvx_sample(sampler, logits);
        if (token < 0) token = 0; /* nothing left to draw (NaN logits): go on with end of text */
        if (i % every == 0 || i == tokens) {
            double t = cli_now(), rate = (double)(i % every ? i % every : every) / (t - t_last);
            uint64_t kv = rwkvx_state_kv_positions(st);
            double kv_bytes = (double)kv * info.kv_token_bytes;
            rss = resident_bytes();
            printf("%10ld %10.0f %12.2f %12llu %12.2f\n", i, rate, (double)rss / 1048576.0, (unsigned long long)kv, kv_bytes / 1048576.0);
            fflush(stdout);
            if (cli_stdout_failed()) goto done; /* cli_finish says why */
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
    printf("# %ld tokens in %.1f s (%.0f tokens/s)\n", tokens, cli_now() - t0, (double)tokens / (cli_now() - t0));
    rc = csv && !cli_output_commit(&csv_out);
done:
    if (csv) cli_output_abort(&csv_out);
    rwkvx_sampler_free(sampler);
    rwkvx_state_free(st);
    rwkvx_free(m);
    free(logits);
    return cli_finish(rc);
}
