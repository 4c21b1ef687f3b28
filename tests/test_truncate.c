/* test_truncate: the converter's readers refuse every truncated checkpoint
   with a one-line message and read nothing past the end (run under ASan).

   test_truncate FILE.pth|FILE.safetensors ...

   Each FILE must convert whole. Then its first n bytes, each in a block of
   exactly n bytes, are read for every n in the first and last 4 KB (the ZIP
   local headers, central directory and end records; the safetensors length
   and JSON header), at each tensor's first and last byte, and at every 61st
   byte in between; every one must be refused. The readers take the bytes
   from memory through the converter's testing entry point (rwkvx_convert.h,
   section 13) with data.pkl's CRC ignored, so that bounds checks, not the
   checksum, must catch every cut. */
#define RWKVX_CONVERT_TESTING 1
#include "../rwkvx_convert.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* Reads data[0..n) from its own block of n bytes; returns 1 when it reads
   and builds a model, 0 when refused (with the message checked). */
static int try_read(const unsigned char *data, uint64_t n)
{
    unsigned char *copy = malloc(n ? (size_t)n : 1);
    char err[RWKVX_CONVERT_ERROR_MAX] = "";
    rwkvx_converter *cv = NULL;
    memcpy(copy, data, (size_t)n);
    if (rwkvx__convert_open_memory(&cv, copy, (size_t)n, NULL, 1, err) != RWKVX_OK) {
        CHECK(err[0] && !strchr(err, '\n'), "cut at %" PRIu64 " refused with a one-line message", n);
        free(copy);
        return 0;
    }
    rwkvx_convert_free(cv); /* the converter reads `copy` until freed */
    free(copy);
    return 1;
}

static void cut(const unsigned char *data, uint64_t at, const char *path)
{
    CHECK(!try_read(data, at), "%s cut to %" PRIu64 " bytes refused", path, at);
}

/* The whole file into memory; NULL (with a message) if it cannot be read. */
static unsigned char *read_all(const char *path, uint64_t *n)
{
    FILE *f = fopen(path, "rb");
    unsigned char *data = NULL;
    long size;
    if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (data = malloc((size_t)size + 1)) && fread(data, 1, (size_t)size, f) == (size_t)size) {
        *n = (uint64_t)size;
    } else {
        printf("FAIL: cannot read %s\n", path);
        free(data);
        data = NULL;
    }
    if (f)
        fclose(f);
    return data;
}

int main(int argc, char **argv)
{
    int a;
    for (a = 1; a < argc; a++) {
        char err[RWKVX_CONVERT_ERROR_MAX] = "";
        rwkvx_converter *whole = NULL;
        uint64_t n = 0, at;
        unsigned char *data = read_all(argv[a], &n);
        int i;
        if (!data)
            return 1;
        if (rwkvx__convert_open_memory(&whole, data, (size_t)n, NULL, 1, err) != RWKVX_OK) {
            printf("FAIL: %s does not convert whole: %s\n", argv[a], err);
            return 1;
        }
        for (at = 0; at < n; at++)
            if (at < 4096 || n - at <= 4096 || at % 61 == 0)
                cut(data, at, argv[a]);
        for (i = 0; i < rwkvx__convert_n_tensors(whole); i++) { /* the first and the last byte of every tensor */
            uint64_t offset, bytes;
            rwkvx__convert_tensor_bytes(whole, i, &offset, &bytes);
            cut(data, offset, argv[a]);
            if (bytes)
                cut(data, offset + bytes - 1, argv[a]);
        }
        rwkvx_convert_free(whole);
        free(data);
    }
    return check_report("test_truncate");
}
