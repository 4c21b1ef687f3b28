/* libFuzzer target: the two World-vocabulary parsers, on the same text.

   - the converter's (rwkvx_convert.h, vocab_world_text: `--vocab FILE`),
   - the header's (rwkvx_tokenizer_from_vocab: `rwkvx-tokenize --vocab FILE`).

   Each must refuse bad text with a one-line message and never crash. When
   both accept it, they must agree token by token: the bytes the converter
   stores in the model file (Python repr escapes, unescaped again by the
   loader) are the bytes the header's parser read. A tokenizer that parses
   also encodes and decodes the input text itself (round trip). */
#define RWKVX_CONVERT_IMPLEMENTATION /* also rwkvx.h's implementation */
#include "../rwkvx_convert.h"


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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cv_vocab v;
    cv_err err;
    rwkvx_tokenizer *tk = NULL;
    char herr[RWKVX_ERROR_MAX];
    uint64_t lines = 0, i;
    int ok;
    rwkvx_status s;

    for (i = 0; i < size; i++) lines += data[i] == '\n';
    memset(&err, 0, sizeof err);
    ok = vocab_world_text(&v, "fuzz.txt", data, size, (uint32_t)(lines + 2 < 1u << 20 ? lines + 2 : 1u << 20), &err);
    if (!ok && (!err.msg[0] || strchr(err.msg, '\n'))) fail("converter refusal without a one-line message", -1);

    herr[0] = 0;
    s = rwkvx_tokenizer_from_vocab(&tk, (const char *)data, size, herr);
    if (s != RWKVX_OK && (!herr[0] || strchr(herr, '\n'))) fail("header refusal without a one-line message", -1);

    if (ok && s == RWKVX_OK) {
        /* The converter's tokens 1 .. n_real-1 are lines 1, 2, ... with ids 1, 2, ... */
        unsigned char *bytes = (unsigned char *)malloc(size * 4 + 8);
        if (!bytes) abort();
        for (i = 1; i < v.n_real; i++) {
            const char *hb;
            size_t hn;
            long k = rwkvx__unescape(v.text[i], strlen(v.text[i]), (char *)bytes);
            if (k < 0) fail("the converter wrote an escape the loader cannot read", (long)i);
            if (rwkvx_tokenizer_token(tk, (int32_t)i, &hb, &hn) != RWKVX_TOKEN_TEXT && k > 0)
                fail("a converter token is not a text token of the header's parser", (long)i);
            if (k > 0 && ((size_t)k != hn || memcmp(hb, bytes, hn)))
                fail("the two parsers decode a token differently", (long)i);
        }
        free(bytes);
    }
    if (s == RWKVX_OK) round_trip(tk, data, size);
    rwkvx_tokenizer_free(tk);
    vocab_free(&v);
    return 0;
}
