/* rwkvx-logits: run tokens through a model and write the logits as float32.

   rwkvx-logits MODEL.gguf (--tokens 1,2,3 | --tokens-file F) --out F.f32
                [--all] [--mode whole|single|ragged] [--threads N]
                [--chunk-size B] [--chunk-topk K] [--max-context N]
                [--kv-limit MAX[,KEEP[,WINDOW]]]

   whole  = one eval call for all tokens
   single = one token per call
   ragged = pieces of irregular sizes (7, 1, 50, 1, 3, 64, 2, 100, repeating)
   Without --all only the last position's logits are written. */
#include "cli.h" /* first: it sets _POSIX_C_SOURCE */
#include "../rwkvx.h"

static void usage(void) {
    printf("usage: rwkvx-logits MODEL.gguf (--tokens 1,2,3 | --tokens-file F) --out F.f32\n"
           "                    [--all] [--mode whole|single|ragged] [model options]\n"
           "  --tokens LIST      token ids separated by commas or spaces\n"
           "  --tokens-file F    token ids separated by commas or white space\n"
           "  --out F.f32        the logits, float32 (written whole or not at all)\n"
           "  --all              every position's logits, not only the last one's\n"
           "  --mode M           whole (one call), single (a token a call), ragged (pieces)\n"
           CLI_MODEL_USAGE);
}

/* Evaluates the tokens in pieces as --mode says; logits of every position
   (all) or of the last one. */
static rwkvx_status eval_tokens(rwkvx_state *state, const int32_t *tokens, size_t n, const char *mode, int all,
                                float *logits, size_t V) {
    static const size_t ragged[] = {7, 1, 50, 1, 3, 64, 2, 100};
    size_t done = 0, piece_index = 0;
    rwkvx_status s = RWKVX_OK;
    while (done < n && s == RWKVX_OK) {
        size_t piece = n - done;
        if (!strcmp(mode, "single")) piece = 1;
        if (!strcmp(mode, "ragged") && piece > ragged[piece_index % 8]) piece = ragged[piece_index % 8];
        piece_index++;
        /* each piece writes its own positions, or the last one overwrites */
        s = rwkvx_eval(state, tokens + done, piece, all ? logits + done * V : logits, all ? RWKVX_EVAL_ALL_LOGITS : 0);
        done += piece;
    }
    return s;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *tokens_arg = NULL, *tokens_file = NULL, *out_path = NULL, *mode = "whole";
    int all = 0, i, rc = 1;
    cli_model_options mo;
    rwkvx_options opt;
    rwkvx_model *model = NULL;
    rwkvx_state *state = NULL;
    int32_t *tokens = NULL;
    float *logits = NULL;
    size_t n_tokens, V, n_out;
    char err[RWKVX_ERROR_MAX];
    cli_output out;
    rwkvx_status s;

    cli_start("rwkvx-logits");
    memset(&mo, 0, sizeof mo);
    memset(&opt, 0, sizeof opt);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--version")) { printf("rwkvx-logits %s\n", RWKVX_VERSION_STRING); return cli_finish(0); }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return cli_finish(0); }
        if (!strcmp(a, "--version")) { printf("%s %s\n", cli_program, RWKVX_VERSION_STRING); return cli_finish(0); }
        if (cli_model_option(argc, argv, &i, &mo)) continue;
        if (!strcmp(a, "--all")) all = 1;
        else if (!strcmp(a, "--tokens")) tokens_arg = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--tokens-file")) tokens_file = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--out")) out_path = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--mode")) mode = cli_value(argc, argv, &i);
        else if (a[0] != '-' && !model_path) model_path = a;
        else cli_unknown(a);
    }
    if (!model_path) return cli_fail("no model given (rwkvx-logits --help)");
    if (!out_path) return cli_fail("no --out file given");
    if (!tokens_arg == !tokens_file) return cli_fail("give exactly one of --tokens and --tokens-file");
    if (strcmp(mode, "whole") && strcmp(mode, "single") && strcmp(mode, "ragged"))
        return cli_fail("unknown --mode '%s' (whole, single or ragged)", mode);
    if (tokens_file) {
        char *text = cli_read_file(tokens_file, NULL);
        if (!text) return 1;
        tokens = cli_parse_tokens(text, tokens_file, &n_tokens);
        free(text);
    } else {
        tokens = cli_parse_tokens(tokens_arg, "--tokens", &n_tokens);
    }
    if (n_tokens == 0) return cli_fail("no tokens given");
    if (mo.max_context && n_tokens > (size_t)mo.max_context) {
        free(tokens);
        return cli_fail("%lu tokens exceed the context limit of %d (--max-context)", (unsigned long)n_tokens, mo.max_context);
    }
    {
        const char *inputs[3];
        inputs[0] = model_path, inputs[1] = tokens_file, inputs[2] = NULL;
        if (!cli_check_input(model_path) || !cli_output_open(&out, out_path, inputs)) { free(tokens); return 1; }
    }
    CLI_SET_RWKVX_OPTIONS(opt, mo);
    if (rwkvx_load_file(&model, model_path, &opt, err) != RWKVX_OK) {
        cli_fail("cannot load '%s': %s", model_path, err);
        goto done;
    }
    V = (size_t)rwkvx_n_vocab(model);
    {
        rwkvx_info info;
        rwkvx_model_info(model, &info);
        if (info.n_nonfinite)
            cli_warn("%llu weights are NaN or infinite (first in '%s'); the logits will be NaN",
                     (unsigned long long)info.n_nonfinite, info.nonfinite_tensor);
    }
    for (i = 0; (size_t)i < n_tokens; i++)
        if (tokens[i] >= (int32_t)V) {
            cli_fail("token %d is out of range (vocabulary %lu)", (int)tokens[i], (unsigned long)V);
            goto done;
        }
    n_out = (all ? n_tokens : 1) * V;
    logits = (float *)malloc(n_out * sizeof(float));
    if (!logits || rwkvx_state_new(model, &state) != RWKVX_OK) { cli_fail("out of memory"); goto done; }
    rwkvx_state_set_threads(state, mo.threads);
    s = eval_tokens(state, tokens, n_tokens, mode, all, logits, V);
    if (s != RWKVX_OK) { cli_fail("eval failed: %s", rwkvx_status_string(s)); goto done; }
    fwrite(logits, sizeof(float), n_out, out.f);
    rc = !cli_output_commit(&out);
done:
    cli_output_abort(&out);
    rwkvx_state_free(state);
    rwkvx_free(model);
    free(logits);
    free(tokens);
    return cli_finish(rc);
}
