/* libFuzzer target: the two World-vocabulary parsers, on the same text.

   - the converter's (rwkvx_convert.h, vocab_world_text: `--vocab FILE`),
   - the header's (rwkvx_tokenizer_from_vocab: `rwkvx-tokenize --vocab FILE`).

   Each must refuse bad text with a one-line message and never crash. When
   both accept it, they must agree token by token: the bytes the converter
   stores in the model file (Python repr escapes, unescaped again by the
   loader) are the bytes the header's parser read. A tokenizer that parses
   also encodes and decodes the input text itself (round trip). */
#define RWKVX_CONVERT_TESTING 1
#include "../rwkvx_convert.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what, long id) {
    fprintf(stderr, "fuzz_vocab: %s (token %ld)\n", what, id);
    abort();
}

static void round_trip(const rwkvx_tokenizer *tk, const uint8_t *data, size_t size) {
    int32_t *ids = (int32_t *)malloc((size + 1) * sizeof *ids);
    char *back = (char *)malloc(size + 1);
    size_t n = 0, m = 0;
    if (!ids || !back) abort();
    if (rwkvx_tokenize(tk, (const char *)data, size, ids, size + 1, &n) == RWKVX_OK) {
        if (rwkvx_detokenize(tk, ids, n, back, size + 1, &m) != RWKVX_OK || m != size || memcmp(back, data, size))
            fail("decode(encode(text)) differs from text", -1);
    }
    free(ids);
    free(back);
}

/* One converter token against the header's parser of the same text. */
static void compare_token(void *ctx, uint32_t id, const char *bytes, long k) {
    const rwkvx_tokenizer *tk = (const rwkvx_tokenizer *)ctx;
    const char *hb;
    size_t hn;
    if (k < 0) fail("the converter wrote an escape the loader cannot read", (long)id);
    if (!tk) return;
    if (rwkvx_tokenizer_token(tk, (int32_t)id, &hb, &hn) != RWKVX_TOKEN_TEXT && k > 0)
        fail("a converter token is not a text token of the header's parser", (long)id);
    if (k > 0 && ((size_t)k != hn || memcmp(hb, bytes, hn)))
        fail("the two parsers decode a token differently", (long)id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[RWKVX_CONVERT_ERROR_MAX] = "", herr[RWKVX_ERROR_MAX] = "";
    rwkvx_tokenizer *tk = NULL;
    uint64_t lines = 0, i;
    uint32_t n_vocab;
    rwkvx_status s, cs;

    for (i = 0; i < size; i++) lines += data[i] == '\n';
    n_vocab = (uint32_t)(lines + 2 < 1u << 20 ? lines + 2 : 1u << 20);
    s = rwkvx_tokenizer_from_vocab(&tk, (const char *)data, size, herr);
    if (s != RWKVX_OK && (!herr[0] || strchr(herr, '\n'))) fail("header refusal without a one-line message", -1);

    /* The converter's tokens 1 .. n_real-1 are lines 1, 2, ... with ids 1, 2, ...:
       compared with the header's when both parsers accept the text */
    cs = rwkvx__convert_parse_vocab(data, size, n_vocab, compare_token, s == RWKVX_OK ? tk : NULL, err);
    if (cs != RWKVX_OK && (!err[0] || strchr(err, '\n'))) fail("converter refusal without a one-line message", -1);

    if (s == RWKVX_OK) round_trip(tk, data, size);
    rwkvx_tokenizer_free(tk);
    return 0;
}
