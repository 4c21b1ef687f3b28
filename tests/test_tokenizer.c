/* Tokenizer tests: the reference cases of tests/fixtures/tokenizer.json,
   every vocabulary token encoding to itself, decode(encode(x)) == x for random
   byte strings (whole and through the streaming decoder, which must never end
   a chunk in half a UTF-8 character), the vocabulary parser's errors, and the
   same on the tokenizers of model files.

   test_tokenizer VOCAB.txt CASES.txt [MODEL.gguf [world|bytes]]...
   A `world` model must carry VOCAB.txt's vocabulary (checked token by token);
   a `bytes` model the 256-byte vocabulary. */
#include "../rwkvx.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t next_u32(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (uint32_t)(rng >> 16); }

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    if (!f) return NULL;
    do {
        if (n + 65536 > cap) { cap = (n + 65536) * 2; buf = (char *)realloc(buf, cap); }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return buf;
}

/* Is buf[0..n) a sequence of complete UTF-8 characters? (structure only) */
static int utf8_complete(const unsigned char *p, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t need = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0, k;
        if (!need || i + need > n) return 0;
        for (k = 1; k < need; k++)
            if ((p[i + k] & 0xC0) != 0x80) return 0;
        i += need;
    }
    return 1;
}

/* Reference cases: "HEX id id ..." lines. */
static void test_cases(const rwkvx_tokenizer *tk, const char *path, const char *what) {
    size_t len, n_cases = 0;
    char *text = read_all(path, &len), *line, *save = NULL;
    if (!text) { CHECK(0, "cannot read %s", path); return; }
    text = (char *)realloc(text, len + 1);
    text[len] = 0;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        unsigned char bytes[4096];
        int32_t want[4096], got[4096];
        size_t nb = 0, nw = 0, ng = 0, i;
        char *tok = strtok(line, " "), *end;
        if (!tok || line[0] == '#') continue;
        if (strcmp(tok, "-") != 0)
            for (i = 0; tok[i] && tok[i + 1]; i += 2) { unsigned v; sscanf(tok + i, "%2x", &v); bytes[nb++] = (unsigned char)v; }
        while ((tok = strtok(NULL, " ")) != NULL) want[nw++] = (int32_t)strtol(tok, &end, 10);
        CHECK(rwkvx_tokenize(tk, (const char *)bytes, nb, got, 4096, &ng) == RWKVX_OK, "%s: tokenize failed", what);
        CHECK(ng == nw && memcmp(got, want, nw * sizeof *want) == 0, "%s: case %lu (%lu bytes) gives %lu ids, want %lu",
              what, (unsigned long)n_cases, (unsigned long)nb, (unsigned long)ng, (unsigned long)nw);
        n_cases++;
    }
    CHECK(n_cases >= 20, "%s: only %lu cases", what, (unsigned long)n_cases);
    printf("  %s: %lu reference cases\n", what, (unsigned long)n_cases);
    free(text);
}

/* decode(encode(x)) == x, whole and streamed. */
static void test_round_trip(const rwkvx_tokenizer *tk, const char *what, int text_only) {
    enum { N = 3000 };
    static unsigned char x[N], y[N + 8];
    static int32_t ids[N + 1];
    size_t max = rwkvx_tokenizer_max_bytes(tk) + 4;
    char *chunk = (char *)malloc(max);
    int round;
    for (round = 0; round < 300; round++) {
        size_t n = next_u32() % N, n_ids = 0, n_out = 0, i;
        int utf8 = round % 3 == 1;
        /* random bytes, or random UTF-8 text (ASCII, 2-, 3- and 4-byte characters), or bytes from a small alphabet */
        for (i = 0; i < n;) {
            uint32_t r = next_u32();
            if (round % 3 == 0) { x[i++] = (unsigned char)r; continue; }
            if (round % 3 == 2) { x[i++] = " \nabcdeThe.\xe4\xb8\x80"[r % 14]; continue; }
            if (r % 4 == 0 || i + 4 > n) { x[i++] = (unsigned char)(' ' + r % 90); continue; }
            if (r % 4 == 1) { x[i++] = (unsigned char)(0xC2 + (r >> 8) % 30); x[i++] = (unsigned char)(0x80 + (r >> 16) % 64); }
            else if (r % 4 == 2) { x[i++] = 0xE4 + (r >> 8) % 5; x[i++] = (unsigned char)(0x80 + (r >> 12) % 64); x[i++] = (unsigned char)(0x80 + (r >> 20) % 64); }
            else { x[i++] = 0xF0; x[i++] = (unsigned char)(0x90 + (r >> 8) % 32); x[i++] = (unsigned char)(0x80 + (r >> 14) % 64); x[i++] = (unsigned char)(0x80 + (r >> 20) % 64); }
        }
        n = i;
        CHECK(rwkvx_tokenize(tk, (const char *)x, n, ids, N + 1, &n_ids) == RWKVX_OK, "%s: tokenize", what);
        for (i = 0; i < n_ids; i++) {
            CHECK(rwkvx_tokenizer_token(tk, ids[i], NULL, NULL) == RWKVX_TOKEN_TEXT, "%s: encoding produced non-text token %d", what, (int)ids[i]);
            if (text_only) CHECK(ids[i] != 0, "%s: encoding produced token 0", what);
        }
        CHECK(rwkvx_detokenize(tk, ids, n_ids, (char *)y, sizeof y, &n_out) == RWKVX_OK && n_out == n && memcmp(x, y, n) == 0,
              "%s: detokenize(tokenize(x)) != x (round %d, %lu bytes)", what, round, (unsigned long)n);
        /* streamed */
        {
            rwkvx_decoder d;
            size_t k;
            rwkvx_decoder_init(&d);
            n_out = 0;
            for (i = 0; i < n_ids; i++) {
                CHECK(rwkvx_decoder_push(&d, tk, ids[i], chunk, max, &k) == RWKVX_OK, "%s: decoder_push", what);
                if (utf8) CHECK(utf8_complete((unsigned char *)chunk, k), "%s: streamed chunk ends inside a character", what);
                memcpy(y + n_out, chunk, k);
                n_out += k;
            }
            n_out += rwkvx_decoder_flush(&d, (char *)y + n_out);
            CHECK(n_out == n && memcmp(x, y, n) == 0, "%s: streamed decode differs (round %d)", what, round);
        }
        /* the id count is reported when the buffer is short */
        if (n_ids > 1) {
            size_t need = 0;
            CHECK(rwkvx_tokenize(tk, (const char *)x, n, ids, n_ids - 1, &need) == RWKVX_ERR_ARGUMENT && need == n_ids,
                  "%s: short buffer does not report the count", what);
            CHECK(rwkvx_tokenize(tk, (const char *)x, n, NULL, 0, &need) == RWKVX_ERR_ARGUMENT && need == n_ids, "%s: counting", what);
        }
    }
    free(chunk);
}

/* Every text token's bytes encode to exactly that token (longest match). */
static void test_every_token(const rwkvx_tokenizer *tk, const char *what) {
    int id, n_text = 0;
    for (id = 0; id < rwkvx_tokenizer_n_tokens(tk); id++) {
        const char *b;
        size_t len, n = 0;
        int32_t got[2] = {-1, -1};
        if (rwkvx_tokenizer_token(tk, id, &b, &len) != RWKVX_TOKEN_TEXT) continue;
        n_text++;
        CHECK(rwkvx_tokenize(tk, b, len, got, 2, &n) == RWKVX_OK && n == 1 && got[0] == id, "%s: token %d does not encode to itself", what, id);
    }
    printf("  %s: %d text tokens encode to themselves\n", what, n_text);
}

static void test_decoder_units(const rwkvx_tokenizer *tk) {
    /* byte tokens of the World vocabulary are id = byte + 1: feed "é" (C3 A9) and "😀" (F0 9F 98 80) byte by byte */
    const unsigned char s[] = {0xC3, 0xA9, 0xF0, 0x9F, 0x98, 0x80, 'a', 0xFF, 0xC3, 'b'};
    const size_t want[] = {0, 2, 0, 0, 0, 4, 1, 1, 0, 2};
    char out[64];
    size_t i, k;
    rwkvx_decoder d;
    rwkvx_decoder_init(&d);
    for (i = 0; i < sizeof s; i++) {
        CHECK(rwkvx_decoder_push(&d, tk, s[i] + 1, out, sizeof out, &k) == RWKVX_OK && k == want[i],
              "decoder: byte %lu emits %lu bytes, want %lu", (unsigned long)i, (unsigned long)k, (unsigned long)want[i]);
    }
    CHECK(rwkvx_decoder_flush(&d, out) == 0, "decoder: nothing should be left");
    CHECK(rwkvx_decoder_push(&d, tk, 0xE4 + 1, out, sizeof out, &k) == RWKVX_OK && k == 0, "decoder: held lead byte");
    CHECK(rwkvx_decoder_push(&d, tk, 'x' + 1, out, 1, &k) == RWKVX_ERR_ARGUMENT && k == 0, "decoder: short buffer");
    CHECK(rwkvx_decoder_flush(&d, out) == 1 && (unsigned char)out[0] == 0xE4, "decoder: flush gives the held byte");
    CHECK(rwkvx_decoder_push(&d, tk, 0, out, sizeof out, &k) == RWKVX_OK && k == 0, "decoder: token 0 emits nothing");
    CHECK(rwkvx_decoder_push(&d, tk, rwkvx_tokenizer_n_tokens(tk), out, sizeof out, &k) == RWKVX_ERR_ARGUMENT, "decoder: bad id");
}

static void test_vocab_errors(void) {
    static const char *bad[] = {
        "1 'a' 2\n",            /* length mismatch */
        "1 a 1\n",              /* not a literal */
        "x 'a' 1\n",            /* bad id */
        "1 'a' 1\n1 'b' 1\n",   /* repeated id */
        "0 'a' 1\n",            /* id 0 is <s> */
        "1 'a'\n",              /* no length */
        "1 '\\x4' 1\n",         /* short \\x */
        "1 b'\xc3\xa9' 2\n",    /* non-ASCII bytes literal */
        "1 '\\ud800' 3\n",      /* surrogate */
        "1 'a'b' 3\n",          /* quote inside */
        "",                     /* no tokens */
    };
    static const struct { const char *line; const char *bytes; size_t len; } good[] = {
        {"1 '\\x41\\t\\n\\r\\\\\\'' 6\n", "A\t\n\r\\'", 6},
        {"1 '\\xe9' 2\n", "\xc3\xa9", 2},                 /* str \\x is a code point */
        {"1 b'\\xe9' 1\n", "\xe9", 1},                    /* bytes \\x is a byte */
        {"1 '\\u4e00\\U0001F600' 7\n", "\xe4\xb8\x80\xf0\x9f\x98\x80", 7},
        {"1 \"it's\" 4\r\n", "it's", 4},
        {"1 b'\\u' 2\n", "\\u", 2},
        {"1 '\\0\\101' 2\n", "\0A", 2},
        {"3 ' ' 1\n1 'a' 1\n", " ", 1},                   /* ids in any order; id 3 checked below */
    };
    size_t i;
    char err[RWKVX_ERROR_MAX];
    for (i = 0; i < sizeof bad / sizeof *bad; i++) {
        rwkvx_tokenizer *tk = NULL;
        err[0] = 0;
        CHECK(rwkvx_tokenizer_from_vocab(&tk, bad[i], strlen(bad[i]), err) != RWKVX_OK && !tk && err[0],
              "bad vocabulary %lu accepted", (unsigned long)i);
    }
    for (i = 0; i < sizeof good / sizeof *good; i++) {
        rwkvx_tokenizer *tk = NULL;
        const char *b = NULL;
        size_t len = 0;
        int id = i + 1 == sizeof good / sizeof *good ? 3 : 1;
        CHECK(rwkvx_tokenizer_from_vocab(&tk, good[i].line, strlen(good[i].line), err) == RWKVX_OK, "good vocabulary %lu: %s", (unsigned long)i, err);
        if (!tk) continue;
        CHECK(rwkvx_tokenizer_token(tk, id, &b, &len) == RWKVX_TOKEN_TEXT && len == good[i].len && memcmp(b, good[i].bytes, len) == 0,
              "good vocabulary %lu decodes wrongly", (unsigned long)i);
        CHECK(rwkvx_tokenizer_token(tk, 0, NULL, &len) == RWKVX_TOKEN_SPECIAL && len == 0, "token 0 is special");
        if (id == 3) CHECK(rwkvx_tokenizer_token(tk, 2, NULL, NULL) == RWKVX_TOKEN_SPECIAL, "a missing id is special");
        rwkvx_tokenizer_free(tk);
    }
    {   /* a byte no token covers */
        rwkvx_tokenizer *tk = NULL;
        int32_t ids[4];
        size_t n;
        CHECK(rwkvx_tokenizer_from_vocab(&tk, "1 'a' 1\n", 8, err) == RWKVX_OK, "one-token vocabulary");
        CHECK(rwkvx_tokenize(tk, "ab", 2, ids, 4, &n) == RWKVX_ERR_UNSUPPORTED && n == 1, "uncovered byte");
        CHECK(rwkvx_tokenize(tk, "<s>", 3, ids, 4, &n) == RWKVX_ERR_UNSUPPORTED, "<s> is not text");
        rwkvx_tokenizer_free(tk);
    }
}

/* The model's tokenizer must equal the vocabulary file's, token by token. */
static void test_same_vocab(const rwkvx_tokenizer *a, const rwkvx_tokenizer *b, const char *what) {
    int id, n = rwkvx_tokenizer_n_tokens(a), pads = 0;
    for (id = 0; id < rwkvx_tokenizer_n_tokens(b); id++) {
        const char *x, *y;
        size_t nx, ny;
        int kx = rwkvx_tokenizer_token(a, id, &x, &nx), ky = rwkvx_tokenizer_token(b, id, &y, &ny);
        if (id >= n) { pads += ky == RWKVX_TOKEN_SPECIAL && ny == 0; continue; }
        CHECK(kx == ky && nx == ny && memcmp(x, y, nx) == 0, "%s: token %d differs from the vocabulary file", what, id);
    }
    CHECK(pads == rwkvx_tokenizer_n_tokens(b) - n, "%s: padding tokens must be special", what);
    printf("  %s: %d tokens as in the vocabulary file, %d padding tokens\n", what, n, pads);
}

int main(int argc, char **argv) {
    size_t len;
    char err[RWKVX_ERROR_MAX], *text;
    rwkvx_tokenizer *world = NULL;
    int i;
    if (argc < 3 || argc % 2 == 0) { fprintf(stderr, "usage: test_tokenizer VOCAB.txt CASES.txt [MODEL.gguf world|bytes]...\n"); return 2; }
    text = read_all(argv[1], &len);
    if (!text) { fprintf(stderr, "cannot read %s\n", argv[1]); return 1; }
    if (rwkvx_tokenizer_from_vocab(&world, text, len, err) != RWKVX_OK) { fprintf(stderr, "%s\n", err); return 1; }
    free(text);
    CHECK(rwkvx_tokenizer_n_tokens(world) == 65530, "World vocabulary: %d tokens", rwkvx_tokenizer_n_tokens(world));
    printf("vocabulary file %s\n", argv[1]);
    test_cases(world, argv[2], "vocabulary file");
    test_every_token(world, "vocabulary file");
    test_round_trip(world, "vocabulary file", 1);
    test_decoder_units(world);
    test_vocab_errors();
    for (i = 3; i + 1 < argc; i += 2) {
        rwkvx_model *m;
        const rwkvx_tokenizer *tk;
        printf("model %s (%s)\n", argv[i], argv[i + 1]);
        if (rwkvx_load_file(&m, argv[i], NULL, err) != RWKVX_OK) { CHECK(0, "%s", err); continue; }
        tk = rwkvx_model_tokenizer(m);
        CHECK(tk != NULL, "%s has no tokenizer", argv[i]);
        if (tk && strcmp(argv[i + 1], "world") == 0) {
            test_same_vocab(world, tk, "model");
            test_cases(tk, argv[2], "model");
            test_round_trip(tk, "model", 1);
            {   /* "<s>" and "[PADn]" texts encode as their bytes, never as the special tokens */
                int32_t ids[16];
                size_t n, k;
                CHECK(rwkvx_tokenize(tk, "<s>[PAD65531]", 13, ids, 16, &n) == RWKVX_OK, "specials as text");
                for (k = 0; k < n; k++) CHECK(ids[k] != 0 && ids[k] < 65530, "special token %d produced", (int)ids[k]);
            }
        } else if (tk) {
            int id;
            CHECK(rwkvx_tokenizer_n_tokens(tk) == rwkvx_n_vocab(m), "bytes vocabulary padded to the model");
            for (id = 0; id < 256; id++) {
                const char *b;
                size_t n;
                CHECK(rwkvx_tokenizer_token(tk, id, &b, &n) == RWKVX_TOKEN_TEXT && n == 1 && (unsigned char)b[0] == id, "byte token %d", id);
            }
            test_every_token(tk, "bytes model");
            test_round_trip(tk, "bytes model", 0);
        }
        rwkvx_free(m);
    }
    rwkvx_tokenizer_free(world);
    return check_report("test_tokenizer");
}
