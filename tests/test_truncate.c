/* test_truncate: the converter's readers refuse every truncated checkpoint
   with a one-line message and read nothing past the end (run under ASan).

   test_truncate FILE.pth|FILE.safetensors ...

   Each FILE must convert whole. Then its first n bytes, each in a block of
   exactly n bytes, are read for every n in the first and last 4 KB (the ZIP
   local headers, central directory and end records; the safetensors length
   and JSON header), at each tensor's first and last byte, and at every 61st
   byte in between; every one must be refused. */
#define RWKVX_CONVERT_IMPLEMENTATION /* also rwkvx.h's implementation */
#include "../rwkvx_convert.h"

#include "check.h"

typedef int (*reader_fn)(cv_input *, cv_src_list *, cv_err *);

/* Reads data[0..n) from its own block of n bytes; returns 1 when it reads
   and builds a model, 0 when refused (with the message checked). */
static int try_read(const unsigned char *data, uint64_t n, reader_fn reader, cv_src_list *keep)
{
    unsigned char *copy = malloc(n ? (size_t)n : 1);
    cv_input in;
    cv_src_list src;
    cv_model mdl;
    cv_err err;
    int ok;
    memcpy(copy, data, (size_t)n);
    memset(&in, 0, sizeof in);
    memset(&src, 0, sizeof src);
    memset(&mdl, 0, sizeof mdl);
    memset(&err, 0, sizeof err);
    in.path = "cut";
    in.map = copy;
    in.size = n;
    ok = reader(&in, &src, &err) && model_build(&mdl, &src, &err);
    if (!ok)
        CHECK(err.msg[0] && !strchr(err.msg, '\n'), "cut at %" PRIu64 " refused with a one-line message", n);
    model_free(&mdl);
    if (ok && keep)
        *keep = src;
    else
        src_list_free(&src);
    free(copy);
    return ok;
}

static void cut(const unsigned char *data, uint64_t at, reader_fn reader, const char *path)
{
    CHECK(!try_read(data, at, reader, NULL), "%s cut to %" PRIu64 " bytes refused", path, at);
}

int main(int argc, char **argv)
{
    int a;
    for (a = 1; a < argc; a++) {
        cv_input in;
        cv_err err;
        cv_src_list src;
        unsigned char *data;
        reader_fn reader;
        uint64_t n, at;
        uint32_t i;
        memset(&err, 0, sizeof err);
        memset(&src, 0, sizeof src);
        if (!input_open(&in, argv[a], &err) || !(data = input_read_alloc(&in, 0, in.size, &err))) {
            printf("FAIL: %s\n", err.msg);
            return 1;
        }
        n = in.size;
        input_close(&in);
        reader = n >= 4 && memcmp(data, "PK\x03\x04", 4) == 0 ? pth_read : st_read;
        if (!try_read(data, n, reader, &src)) {
            printf("FAIL: %s does not convert whole\n", argv[a]);
            return 1;
        }
        for (at = 0; at < n; at++)
            if (at < 4096 || n - at <= 4096 || at % 61 == 0)
                cut(data, at, reader, argv[a]);
        for (i = 0; i < src.n; i++) { /* the first and the last byte of every tensor */
            uint64_t bytes = src.v[i].n_elems * cv_dtype_size(src.v[i].dtype);
            cut(data, src.v[i].offset, reader, argv[a]);
            if (bytes)
                cut(data, src.v[i].offset + bytes - 1, reader, argv[a]);
        }
        src_list_free(&src);
        free(data);
    }
    return check_report("test_truncate");
}
