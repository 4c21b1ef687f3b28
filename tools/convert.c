/* rwkvx-convert: turn an RWKV-7 or RWKV-X checkpoint into an rwkvx GGUF file.
 *
 *   rwkvx-convert IN OUT.gguf [--type TYPE] [--head-type TYPE] [--chunk-size B]
 *                 [--chunk-topk K] [--vocab VOCAB.txt|bytes] [--llama-cpp]
 *
 * IN is a PyTorch checkpoint (a .pth: the ZIP archive torch.save writes), a
 * .safetensors file, a Hugging Face model directory, or a GGUF file to
 * re-quantise; the format is recognised by content, not by extension.  TYPE:
 * f32, f16, bf16, ggml's block types (q8_0, q4_0 ... iq4_xs) or llama.cpp's
 * mixes q4_k_m, q5_k_m (docs/QUANT.md).
 *
 * The conversion itself is the library rwkvx_convert.h (its top comment is
 * the manual); this file is the command line around it: the options, the
 * output written through a temporary file (tools/cli.h: mkstemp next to OUT,
 * renamed over OUT when complete, so a failed or interrupted run leaves OUT as
 * it was and no temporary file; an OUT that is an input or the vocabulary is
 * refused) and the summary.  Any error prints one line starting with
 * "rwkvx-convert: " and exits with 1.
 *
 * Build: cc -std=c99 -O2 -o rwkvx-convert tools/convert.c -lm
 */

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#ifndef _FILE_OFFSET_BITS
#define _FILE_OFFSET_BITS 64
#endif

#include "../rwkvx_convert.h"
#include "cli.h" /* option ranges, safe output */

typedef struct {
    const char *in_path, *out_path;
    rwkvx_convert_options convert;
} convert_args;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: rwkvx-convert IN OUT.gguf [--type TYPE] [--head-type TYPE] [--chunk-size B]\n"
            "                     [--chunk-topk K] [--vocab VOCAB.txt|bytes] [--llama-cpp]\n"
            "\n"
            "Converts an RWKV-7 or RWKV-X checkpoint (PyTorch .pth or .safetensors,\n"
            "recognised by content) into an rwkvx GGUF model file, or re-quantises a\n"
            "GGUF model file (its metadata is kept).\n"
            "\n"
            "  --type T         matrix type: f32, f16 (default), bf16, q8_0, q4_0, q4_1,\n"
            "                   q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, iq4_xs\n"
            "                   (every matrix, LoRAs and head included), or llama.cpp's\n"
            "                   mixes q4_k_m, q5_k_m (that type, q6_k head, f32 LoRAs);\n"
            "                   vectors and the fused time-mix lerp are always f32; rows\n"
            "                   that do not fit a type's blocks take llama.cpp's fallback\n"
            "  --head-type T    type of the head (output.weight), overriding --type\n"
            "                   (type names in any case: q4_k_m or Q4_K_M)\n"
            "  --chunk-size B   sparse attention chunk size stored in the file, 1 to 2^24\n"
            "                   (default 2048)\n"
            "  --chunk-topk K   chunks each query attends to, its own included, 1 to 2^24\n"
            "                   (default 3)\n"
            "  --vocab FILE     embed an RWKV World vocabulary (rwkv_vocab_v20230424.txt)\n"
            "  --vocab bytes    embed a 256-token byte vocabulary (token id = byte)\n"
            "  --llama-cpp      write llama.cpp's rwkv7 layout (plain RWKV-7 only, needs --vocab)\n"
            "  -h, --help       show this help\n");
}

/* --chunk-size and --chunk-topk: the range the loader accepts (cli.h), so
 * the converter never writes a file the library then refuses. */
static int parse_chunk_option(const char *name, const char *val, int *out)
{
    long v;
    if (!cli_parse_long(val, 1, CLI_CHUNK_MAX, &v))
        return !cli_fail("bad %s '%s' (a whole number from 1 to %ld)", name, val, CLI_CHUNK_MAX);
    *out = (int)v;
    return 1;
}

/* One option's value (the text after '=' or the next argument). */
static int parse_option(const char *name, const char *val, rwkvx_convert_options *c)
{
    if (strcmp(name, "--type") == 0) {
        if (!rwkvx_convert_type_ok(val, 1))
            return !cli_fail("--type must be one of %s, q4_k_m, q5_k_m, not '%s'", RWKVX_CONVERT_TYPE_NAMES, val);
        c->type = val;
    } else if (strcmp(name, "--head-type") == 0) {
        if (!rwkvx_convert_type_ok(val, 0))
            return !cli_fail("--head-type must be one of %s, not '%s'", RWKVX_CONVERT_TYPE_NAMES, val);
        c->head_type = val;
    } else if (strcmp(name, "--chunk-size") == 0) {
        return parse_chunk_option(name, val, &c->chunk_size);
    } else if (strcmp(name, "--chunk-topk") == 0) {
        return parse_chunk_option(name, val, &c->chunk_topk);
    } else {
        if (!*val)
            return !cli_fail("--vocab needs a file name or 'bytes'");
        c->vocab = val;
    }
    return 1;
}

/* Returns 1 to run, 0 on an error (printed), -1 when help was asked for. */
static int parse_args(int argc, char **argv, convert_args *opt)
{
    int i, n_pos = 0;
    memset(opt, 0, sizeof *opt);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL, *eq;
        char opt_name[32];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            return -1;
        if (strcmp(a, "--llama-cpp") == 0) {
            opt->convert.llama_cpp = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (a[0] == '-' && a[1] != '\0')
                return !cli_fail("unknown option '%s' (see --help)", a);
            if (n_pos == 0)
                opt->in_path = a;
            else if (n_pos == 1)
                opt->out_path = a;
            else
                return !cli_fail("unexpected argument '%s' (see --help)", a);
            n_pos++;
            continue;
        }
        eq = strchr(a, '=');
        snprintf(opt_name, sizeof opt_name, "%.*s", (int)(eq ? eq - a : (long)strlen(a)), a);
        if (strcmp(opt_name, "--type") != 0 && strcmp(opt_name, "--chunk-size") != 0 &&
            strcmp(opt_name, "--chunk-topk") != 0 && strcmp(opt_name, "--vocab") != 0 &&
            strcmp(opt_name, "--head-type") != 0)
            return !cli_fail("unknown option '%s' (see --help)", a);
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else
            return !cli_fail("option '%s' needs a value", opt_name);
        if (!parse_option(opt_name, val, &opt->convert))
            return 0;
    }
    if (n_pos != 2)
        return !cli_fail("expected IN and OUT.gguf (see --help)");
    return 1;
}

/* A model directory's files are inputs too: the output may not be one of
 * them (cli.h compares device and inode). */
static int check_output_not_shard(const char *out_path, const rwkvx_converter *cv)
{
    int i, n = rwkvx_convert_n_inputs(cv), ok;
    const char **inputs = (const char **)malloc(((size_t)n + 1) * sizeof *inputs);
    if (!inputs) return !cli_fail("out of memory");
    for (i = 0; i < n; i++)
        inputs[i] = rwkvx_convert_input(cv, i);
    inputs[n] = NULL;
    ok = cli_check_output(out_path, inputs);
    free(inputs);
    return ok;
}

int main(int argc, char **argv)
{
    char err[RWKVX_CONVERT_ERROR_MAX] = "";
    convert_args opt;
    rwkvx_converter *cv = NULL;
    const char *inputs[3];
    cli_output out;
    int rc, ok = 0, reported = 0; /* reported: cli.h has printed the error */

    memset(&out, 0, sizeof out);
    cli_start("rwkvx-convert");

    rc = parse_args(argc, argv, &opt);
    if (rc < 0) {
        usage(stdout);
        return 0;
    }
    if (rc == 0)
        return 1;
    /* the output is checked (and its temporary file made) before any work */
    inputs[0] = opt.in_path;
    inputs[1] = opt.convert.vocab && strcmp(opt.convert.vocab, "bytes") != 0 ? opt.convert.vocab : NULL;
    inputs[2] = NULL;
    if (!cli_output_open(&out, opt.out_path, inputs))
        return 1; /* cli.h has printed the error */
    if (rwkvx_convert_open(&cv, opt.in_path, &opt.convert, err) != RWKVX_OK)
        goto done;
    if (!check_output_not_shard(opt.out_path, cv)) {
        reported = 1;
        goto done;
    }
    if (rwkvx_convert_write(cv, out.f, opt.out_path, err) != RWKVX_OK)
        goto done;
    if (!cli_output_commit(&out)) {
        reported = 1;
        goto done;
    }
    fputs(rwkvx_convert_summary(cv), stdout);
    if (rwkvx_convert_warning(cv))
        fprintf(stderr, "rwkvx-convert: warning: %s\n", rwkvx_convert_warning(cv));
    ok = 1;
done:
    cli_output_abort(&out);
    if (!ok && !reported)
        fprintf(stderr, "rwkvx-convert: %s\n", err[0] ? err : "failed");
    rwkvx_convert_free(cv);
    return ok ? cli_finish(0) : 1;
}
