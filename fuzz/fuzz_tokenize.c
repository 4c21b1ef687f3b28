/* libFuzzer target: the header's World tokenizer on arbitrary bytes (any
   text a user pastes, invalid UTF-8 included), with the World vocabulary
   from $RWKVX_FUZZ_VOCAB (default tests/fixtures/rwkv_vocab_v20230424.txt).

   - encoding covers every byte (the vocabulary has all 256) and decoding
     gives the input back exactly;
   - the count-only call and a short buffer report the same count;
   - the streaming decoder's output, flushed, is exactly the input, and when
     the input is valid UTF-8 no chunk it emits ends inside a character. */
#include "../rwkvx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static rwkvx_tokenizer *tok;

static void fail(const char *what) {
    fprintf(stderr, "fuzz_tokenize: %s\n", what);
    abort();
}

/* Length of the valid UTF-8 prefix of p[0..n) that ends on a character
   boundary (n when all of it is valid). */
static size_t utf8_valid(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t need = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0, k;
        if (!need || i + need > n) return i;
        for (k = 1; k < need; k++)
            if ((p[i + k] & 0xC0) != 0x80) return i;
        if ((c == 0xE0 && p[i + 1] < 0xA0) || (c == 0xED && p[i + 1] > 0x9F) || (c == 0xF0 && p[i + 1] < 0x90) ||
            (c == 0xF4 && p[i + 1] > 0x8F))
            return i;
        i += need;
    }
    return n;
}

static void load_vocab(void) {
    const char *path = getenv("RWKVX_FUZZ_VOCAB");
    FILE *f = fopen(path ? path : "tests/fixtures/rwkv_vocab_v20230424.txt", "rb");
    char err[RWKVX_ERROR_MAX], *text;
    long n;
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) fail("cannot read the vocabulary");
    text = (char *)malloc((size_t)n + 1);
    if (!text || fread(text, 1, (size_t)n, f) != (size_t)n) fail("cannot read the vocabulary");
    fclose(f);
    if (rwkvx_tokenizer_from_vocab(&tok, text, (size_t)n, err) != RWKVX_OK) fail(err);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int32_t *ids;
    char *back, *chunk;
    size_t n = 0, n2 = 0, m = 0, i, at = 0, max_chunk;
    int valid;
    rwkvx_decoder dec;
    if (!tok) load_vocab();
    ids = (int32_t *)malloc((size + 1) * sizeof *ids);
    back = (char *)malloc(size + 1);
    max_chunk = rwkvx_tokenizer_max_bytes(tok) + 4;
    chunk = (char *)malloc(max_chunk);
    if (!ids || !back || !chunk) fail("out of memory");
    if (rwkvx_tokenize(tok, (const char *)data, size, ids, size + 1, &n) != RWKVX_OK) fail("text the World vocabulary cannot encode");
    if (n > size) fail("more tokens than bytes");
    if (rwkvx_tokenize(tok, (const char *)data, size, NULL, 0, &n2) != (size ? RWKVX_ERR_ARGUMENT : RWKVX_OK) || n2 != n)
        fail("the count-only call disagrees");
    if (n > 1 && (rwkvx_tokenize(tok, (const char *)data, size, ids, n - 1, &n2) != RWKVX_ERR_ARGUMENT || n2 != n))
        fail("a short id buffer is not reported");
    if (rwkvx_detokenize(tok, ids, n, back, size + 1, &m) != RWKVX_OK || m != size || memcmp(back, data, size))
        fail("decode(encode(text)) differs from text");
    valid = utf8_valid(data, size) == size;
    rwkvx_decoder_init(&dec);
    for (i = 0; i < n; i++) {
        size_t k = 0;
        if (rwkvx_decoder_push(&dec, tok, ids[i], chunk, max_chunk, &k) != RWKVX_OK) fail("decoder refused a token");
        if (at + k > size || memcmp(chunk, data + at, k)) fail("the decoder's output differs from the text");
        at += k;
        if (valid && utf8_valid(data, at) != at) fail("the decoder emitted half a character of valid UTF-8");
    }
    m = rwkvx_decoder_flush(&dec, chunk);
    if (at + m != size || memcmp(chunk, data + at, m)) fail("the decoder lost or changed bytes");
    free(ids);
    free(back);
    free(chunk);
    return 0;
}
