/* test_corrupt: damaged and hostile GGUF files must give an error, never a crash.

   test_corrupt MODEL.gguf

   - every truncation inside the header and a spread of them through the data;
   - every header byte flipped, one at a time (loads that still succeed must
     then run a token without harm);
   - hand-made headers with absurd counts, lengths and dimensions.
   Run it under ASan/UBSan: the point is that nothing reads out of bounds. */
#define RWKVX_IMPLEMENTATION
#include "../rwkvx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int passed, failed;

static void check(int ok, const char *what, size_t at) {
    if (ok) passed++;
    else {
        failed++;
        if (failed < 20) printf("FAIL %s (at %zu)\n", what, at);
    }
}

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long size;
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = (unsigned char *)malloc((size_t)size)) != NULL && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    *n = buf ? (size_t)size : 0;
    fclose(f);
    return buf;
}

/* Loads `n` bytes of `data` (a malloc'd block of exactly n bytes when the
   sanitizer is to see overreads); if it loads, runs one token. */
static rwkvx_status load_and_run(const unsigned char *data, size_t n, char *err) {
    rwkvx_model *m = NULL;
    rwkvx_status s = rwkvx_load_memory(&m, data, n, NULL, err);
    if (s == RWKVX_OK) {
        rwkvx_state *st = NULL;
        int32_t tok = 0;
        float *logits = (float *)malloc((size_t)rwkvx_n_vocab(m) * sizeof(float));
        if (logits && rwkvx_state_new(m, &st) == RWKVX_OK) rwkvx_eval(st, &tok, 1, logits, 0);
        rwkvx_state_free(st);
        free(logits);
        rwkvx_free(m);
    } else {
        check(strlen(err) > 0 && strchr(err, '\n') == NULL, "error message is one non-empty line", n);
    }
    return s;
}

/* The first n bytes in a block of their own, so reading past them is caught. */
static rwkvx_status try_load(const unsigned char *data, size_t n, char *err) {
    unsigned char *copy = (unsigned char *)malloc(n ? n : 1);
    rwkvx_status s;
    memcpy(copy, data, n);
    s = load_and_run(copy, n, err);
    free(copy);
    return s;
}

/* Where the tensor data starts in a valid GGUF file: walks the key/values
   and tensor infos (trusting them: the file is our own, intact). */
static size_t skip_value(const unsigned char *p, uint32_t type) {
    static const size_t sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    uint64_t len;
    if (type != 8) return sizes[type];
    memcpy(&len, p, 8);
    return 8 + (size_t)len;
}

static size_t header_bytes(const unsigned char *file) {
    uint64_t n_t, n_kv, k, j, len, count;
    uint32_t type, dims;
    size_t at = 24;
    memcpy(&n_t, file + 8, 8);
    memcpy(&n_kv, file + 16, 8);
    for (k = 0; k < n_kv; k++) {
        memcpy(&len, file + at, 8);
        at += 8 + (size_t)len;
        memcpy(&type, file + at, 4);
        at += 4;
        if (type == 9) {
            memcpy(&type, file + at, 4);
            memcpy(&count, file + at + 4, 8);
            at += 12;
            for (j = 0; j < count; j++) at += skip_value(file + at, type);
        } else {
            at += skip_value(file + at, type);
        }
    }
    for (k = 0; k < n_t; k++) {
        memcpy(&len, file + at, 8);
        at += 8 + (size_t)len;
        memcpy(&dims, file + at, 4);
        at += 4 + 8 * (size_t)dims + 4 + 8;
    }
    return (at + 31) / 32 * 32;
}

static void put_u64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }

int main(int argc, char **argv) {
    char err[RWKVX_ERROR_MAX];
    size_t n, hdr, cut, i;
    unsigned char *file;
    if (argc != 2 || !(file = read_all(argv[1], &n))) {
        fprintf(stderr, "usage: test_corrupt MODEL.gguf\n");
        return 2;
    }
    check(try_load(file, n, err) == RWKVX_OK, "the intact file loads", n);
    hdr = header_bytes(file);
    for (cut = 0; cut < hdr; cut++) check(try_load(file, cut, err) != RWKVX_OK, "truncated header refused", cut);
    for (cut = hdr; cut + 64 < n; cut += 1 + (n - hdr) / 97)
        check(try_load(file, cut, err) != RWKVX_OK, "truncated data refused", cut);
    for (i = 0; i < hdr; i++) { /* any outcome but a crash is fine */
        file[i] ^= 0xff;
        load_and_run(file, n, err);
        file[i] ^= 0x80 ^ 0xff;
        load_and_run(file, n, err);
        file[i] ^= 0x80;
        passed++;
    }
    {   /* absurd counts: 2^63 tensors, 2^63 keys, a key of length 2^64-1 */
        unsigned char *bad = (unsigned char *)malloc(n);
        memcpy(bad, file, n);
        put_u64(bad + 8, (uint64_t)1 << 63);
        check(try_load(bad, n, err) == RWKVX_ERR_FORMAT, "2^63 tensors refused", 8);
        memcpy(bad, file, n);
        put_u64(bad + 16, (uint64_t)1 << 63);
        check(try_load(bad, n, err) == RWKVX_ERR_FORMAT, "2^63 keys refused", 16);
        memcpy(bad, file, n);
        put_u64(bad + 24, ~(uint64_t)0);
        check(try_load(bad, n, err) == RWKVX_ERR_FORMAT, "key length 2^64-1 refused", 24);
        memcpy(bad, file, n);
        bad[4] = 2;
        check(try_load(bad, n, err) == RWKVX_ERR_UNSUPPORTED, "GGUF v2 refused", 4);
        free(bad);
    }
    free(file);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
