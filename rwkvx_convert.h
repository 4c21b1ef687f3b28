/* rwkvx_convert.h - the rwkvx converter as a library: RWKV-7 / RWKV-X
   checkpoints (and GGUF files to re-quantise) into rwkvx's GGUF files.

   Do this:
       #define RWKVX_CONVERT_IMPLEMENTATION
   before you include this file in *one* C file to create the implementation.
   Everywhere else include it plainly. The implementation is built on
   rwkvx.h's (its f16/bf16 conversions, UTF-8 and hex helpers, non-finite
   count, weight-type table and dequantisers, tensor-role table): defining
   RWKVX_CONVERT_IMPLEMENTATION also defines RWKVX_IMPLEMENTATION, so that
   file holds the model library too (define both there, or only this one;
   no other file may define RWKVX_IMPLEMENTATION). Give that file nothing
   else: unlike rwkvx.h's (rwkvx__*), the converter's internal names are not
   prefixed (cv_*, model_build, GGML_F32, DIM_C, ...), so they could collide
   with a program's own or ggml.h's (the Makefile compiles it alone:
   build/lib/rwkvx_convert.c). rwkvx.h must be on the include path. C99,
   libc and libm; POSIX mmap and stat where available.

   WHAT IT READS AND WRITES
       In: a PyTorch .pth (the ZIP archive torch.save writes), a .safetensors
       file, a Hugging Face directory (flash-linear-attention's
       RWKV7ForCausalLM: config.json + model.safetensors or its shards), or a
       GGUF file (re-quantised, its metadata kept); the format is recognised
       by content. Nothing in the input is executed: the pickle is run by a
       small machine with an allow-list of globals, and every count, offset
       and size is checked against the file (docs/HOSTILE.md).
       Out: docs/FORMAT.md's GGUF v3 (or llama.cpp's rwkv7 layout), weights
       f32, f16, bf16 or ggml's block types, quantised byte for byte as
       ggml's reference quantisers do (docs/QUANT.md).

   THE API IN ONE SCREEN
       char err[RWKVX_CONVERT_ERROR_MAX];
       rwkvx_convert_options opt = {0};          // zero: f16, no vocabulary
       opt.type = "q8_0";
       if (rwkvx_convert_file("model.pth", "model.gguf", &opt, err) != RWKVX_OK)
           { fprintf(stderr, "%s\n", err); return 1; }

     or, step by step (what rwkvx-convert does, to print its summary and to
     write through its own temporary file):
       rwkvx_converter *cv;
       rwkvx_convert_open(&cv, "model.pth", &opt, err);  // read and check IN
       rwkvx_convert_write(cv, fp, "model.gguf", err);   // plan and write
       fputs(rwkvx_convert_summary(cv), stdout);         // what was written
       rwkvx_convert_free(cv);

   - rwkvx_convert_open reads the input's tensor list (not the weights), the
     block layout and, for a Hugging Face directory, config.json; it checks
     names and shapes and the options against the input.
     rwkvx_convert_n_inputs / rwkvx_convert_input list the files it opened
     (the shards of a directory): an output must not be one of them.
   - rwkvx_convert_write reads the vocabulary, chooses each tensor's type
     and writes the whole file to a stream opened for writing ("wb"), which
     it does not close; it reads the weights as it goes. Call it once.
   - rwkvx_convert_file does both, writing OUT.tmp beside OUT and renaming
     it over OUT when complete (a failure leaves OUT as it was); it refuses
     an OUT that is the input, one of its shards or the vocabulary file.
   - Errors: every function that can fail returns an rwkvx_status and writes
     a one-line reason into `err` (RWKVX_CONVERT_ERROR_MAX bytes, may be
     NULL). The library never prints, exits or aborts.
   - Options are zero by default: rwkvx_convert_options below.
   - Conventions are rwkvx.h's (API CONVENTIONS there): the made object's
     address first, `err` last, NULL-tolerant getters and free.

   NOTE: the vocabulary text parser here (the RWKV World file, Python
   literals) and rwkvx.h's reader of the vocabulary embedded in a GGUF file
   are two on purpose: the converter's writes what the header's reads, and
   fuzz/fuzz_vocab.c cross-checks one against the other. */
#ifndef RWKVX_CONVERT_H
#define RWKVX_CONVERT_H

#include "rwkvx.h"
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

enum { RWKVX_CONVERT_ERROR_MAX = 512 }; /* size of the converter's error buffer */

/* The weight type names `type` and `head_type` take, for messages. */
#define RWKVX_CONVERT_TYPE_NAMES \
    "f32, f16, bf16, q4_0, q4_1, q5_0, q5_1, q8_0, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, iq4_xs"

typedef struct {
    const char *type;      /* matrix type: a name of RWKVX_CONVERT_TYPE_NAMES, or
                              llama.cpp's mixes "q4_k_m" / "q5_k_m"; NULL: "f16" */
    const char *head_type; /* the head's (output.weight) type; NULL: as `type` */
    const char *vocab;     /* NULL: none; "bytes": 256 byte tokens; else an RWKV
                              World vocabulary file (rwkv_vocab_v20230424.txt) */
    int chunk_size;        /* sparse attention chunk size stored, 1 to 2^24; 0: 2048 */
    int chunk_topk;        /* chunks each query attends to, 1 to 2^24; 0: 3 */
    int llama_cpp;         /* nonzero: llama.cpp's rwkv7 layout (plain RWKV-7, needs vocab) */
} rwkvx_convert_options;   /* a GGUF input takes none of vocab, chunk_*, llama_cpp */

typedef struct rwkvx_converter rwkvx_converter;

/* One call: IN to OUT (through OUT.tmp). opt may be NULL (the defaults). */
RWKVX_API rwkvx_status rwkvx_convert_file(const char *in_path, const char *out_path,
                                          const rwkvx_convert_options *opt, char *err);

/* Reads and checks IN (see above); *cv is NULL on failure. */
RWKVX_API rwkvx_status rwkvx_convert_open(rwkvx_converter **cv, const char *in_path,
                                          const rwkvx_convert_options *opt, char *err);
/* Plans and writes the output to `out` (out_path names it in messages and the
   summary). Once per converter. */
RWKVX_API rwkvx_status rwkvx_convert_write(rwkvx_converter *cv, FILE *out, const char *out_path, char *err);
/* The files open() read (the input, or a directory's safetensors files). */
RWKVX_API int          rwkvx_convert_n_inputs(const rwkvx_converter *cv);
RWKVX_API const char  *rwkvx_convert_input(const rwkvx_converter *cv, int i);  /* NULL out of range */
/* After write: what was read and written, lines ending in '\n' ("" before). */
RWKVX_API const char  *rwkvx_convert_summary(const rwkvx_converter *cv);
/* After write: NULL, or one line (no '\n') about NaN or infinite weights
   written (the model will compute NaN). */
RWKVX_API const char  *rwkvx_convert_warning(const rwkvx_converter *cv);
RWKVX_API void         rwkvx_convert_free(rwkvx_converter *cv);
/* 1 when `name` is a weight type `type` (mixes allowed) or `head_type`
   (mixes not) takes. */
RWKVX_API int          rwkvx_convert_type_ok(const char *name, int mix_allowed);

#ifdef RWKVX_CONVERT_TESTING
/* Not part of the API: entry points of the project's fuzz targets and tests
   (fuzz/, tests/test_truncate.c) into the converter's readers, on bytes in
   memory. Defined where the implementation is compiled with
   RWKVX_CONVERT_TESTING too (the Makefile's ASan/UBSan and fuzz builds). */

/* rwkvx_convert_open on a .pth or .safetensors file held in data[0..size)
   (kept by the caller until rwkvx_convert_free); skip_crc ignores data.pkl's
   CRC, so that fuzzed pickles reach the pickle machine. */
RWKVX_API rwkvx_status rwkvx__convert_open_memory(rwkvx_converter **cv, const void *data, size_t size,
                                                  const rwkvx_convert_options *opt, int skip_crc, char *err);
/* The input's tensors: how many, and where tensor i's bytes lie in it. */
RWKVX_API int          rwkvx__convert_n_tensors(const rwkvx_converter *cv);
RWKVX_API void         rwkvx__convert_tensor_bytes(const rwkvx_converter *cv, int i, uint64_t *offset,
                                                   uint64_t *bytes);
/* The config.json parser on text[0..size): the two epsilons it records. */
RWKVX_API rwkvx_status rwkvx__convert_parse_config(const char *text, size_t size, float *ln_eps, float *gn_eps,
                                                   char *err);
/* The --vocab parser on text[0..size), into n_vocab tokens; then each(ctx,
   id, bytes, n) for the file's tokens 1, 2, ...: the bytes the loader reads
   back from the text the converter stores (n < 0: text it cannot read). */
RWKVX_API rwkvx_status rwkvx__convert_parse_vocab(const void *text, size_t size, uint32_t n_vocab,
                                                  void (*each)(void *ctx, uint32_t id, const char *bytes, long n),
                                                  void *ctx, char *err);
#endif

#ifdef __cplusplus
}
#endif
#endif /* RWKVX_CONVERT_H */

/* ======================================================================== */
/*                             IMPLEMENTATION                               */
/* ======================================================================== */
#ifdef RWKVX_CONVERT_IMPLEMENTATION
#ifndef RWKVX_CONVERT_IMPLEMENTATION_DONE
#define RWKVX_CONVERT_IMPLEMENTATION_DONE

#ifndef RWKVX_IMPLEMENTATION
#define RWKVX_IMPLEMENTATION
#endif
#include "rwkvx.h"

/* Sections, in reading order:
 *    1. utilities: errors, checked arithmetic, little-endian helpers
 *    2. input file: mmap with a stdio fallback
 *    3. source tensors: what every reader produces
 *    4. safetensors reader and its strict JSON parser
 *    5. ZIP reader (stored entries only, ZIP64 aware)
 *    6. restricted pickle machine
 *    7. .pth reader: ZIP + pickle -> source tensors
 *    8. number formats: f16, bf16 and ggml's block types (quantisers)
 *    9. model layout: names, shapes, block order
 *   10. vocabulary
 *   11. output plan and GGUF writer (11b: llama.cpp's layout; 11c: Hugging Face input)
 *  11d. GGUF input: re-quantising a GGUF file
 *   12. the API: open, write, summary
 *
 *   13. for the project's fuzz targets and tests (RWKVX_CONVERT_TESTING)
 *
 * Compile-time switches: CV_NO_MMAP reads with stdio instead of mmap;
 * RWKVX_CONVERT_TESTING adds section 13. */


#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


#if !defined(CV_NO_MMAP) && (defined(__unix__) || defined(__APPLE__))
#include <sys/mman.h>
#define CV_HAVE_MMAP 1
#else
#define CV_HAVE_MMAP 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CV_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CV_PRINTF(fmt, args)
#endif

/* Hard caps: hostile files are refused before they can make us allocate. */
enum {
    CV_MAX_DIMS = 4,               /* dimensions of a source tensor */
    CV_MAX_TENSORS = 1 << 16,      /* tensors in a checkpoint */
    CV_MAX_BLOCKS = 4096,          /* RWKV-7 or sparse blocks */
    CV_MAX_NAME = 1024             /* bytes in a tensor name */
};
#define CV_MAX_ST_HEADER ((uint64_t)100 << 20)   /* safetensors JSON header */
#define CV_MAX_ZIP_CD ((uint64_t)256 << 20)      /* ZIP central directory */
#define CV_MAX_PICKLE ((uint64_t)256 << 20)      /* data.pkl */
#define CV_MAX_VOCAB_FILE ((uint64_t)64 << 20)   /* vocabulary text file */
#define CV_ALIGN 32                              /* GGUF tensor alignment */


/* ========================================================================
 * 1. Utilities: errors, checked arithmetic, little-endian helpers
 * ======================================================================== */

/* The first failure wins: later messages (from cleanup paths) are dropped, so
 * the user sees the cause rather than a consequence. */
typedef struct {
    char msg[512];
} cv_err;

static int cv_fail(cv_err *err, const char *fmt, ...) CV_PRINTF(2, 3);

/* Records a message and returns 0, so `return cv_fail(err, ...)` reads well. */
static int cv_fail(cv_err *err, const char *fmt, ...)
{
    va_list ap;
    char *p;
    if (err->msg[0] != '\0')
        return 0;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    /* Names come from untrusted files: keep the message on one line. */
    for (p = err->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
            *p = '?';
    return 0;
}

static int cv_add(uint64_t a, uint64_t b, uint64_t *r)
{
    if (b > UINT64_MAX - a)
        return 0;
    *r = a + b;
    return 1;
}

static int cv_mul(uint64_t a, uint64_t b, uint64_t *r)
{
    if (a != 0 && b > UINT64_MAX / a)
        return 0;
    *r = a * b;
    return 1;
}

static uint64_t cv_align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) / a * a;
}

static uint16_t rd16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t rd64(const unsigned char *p)
{
    return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

static void *cv_malloc(uint64_t n, cv_err *err)
{
    void *p;
    if (n > SIZE_MAX) {
        cv_fail(err, "out of memory (%" PRIu64 " bytes)", n);
        return NULL;
    }
    p = malloc(n ? (size_t)n : 1);
    if (!p)
        cv_fail(err, "out of memory (%" PRIu64 " bytes)", n);
    return p;
}

/* Grows an array so that it holds at least `need` elements; returns the new
 * pointer, or NULL (leaving the old one valid) when out of memory. */
static void *cv_grow(void *p, uint32_t *cap, uint32_t need, size_t elem)
{
    uint64_t n = *cap ? *cap : 16;
    void *q;
    if (need <= *cap)
        return p;
    while (n < need)
        n *= 2;
    if (n > UINT32_MAX)
        n = UINT32_MAX;
    if (n * elem > SIZE_MAX)
        return NULL;
    q = realloc(p, (size_t)(n * elem));
    if (q)
        *cap = (uint32_t)n;
    return q;
}

static char *cv_strndup(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* The last path component, without directories. */
static const char *cv_basename(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* ========================================================================
 * 2. Input file: mmap with a stdio fallback
 * ======================================================================== */

typedef struct cv_input {
    const char *path;
    FILE *fp;
    const unsigned char *map;   /* the whole file when mmap worked, else NULL */
    uint64_t size;
    int in_memory;              /* map is the caller's bytes (section 13): not unmapped */
    int skip_crc;               /* data.pkl's CRC not checked (section 13: fuzzing) */
} cv_input;

static int input_open(cv_input *in, const char *path, cv_err *err)
{
    struct stat st;
    memset(in, 0, sizeof *in);
    in->path = path;
    in->fp = fopen(path, "rb");
    if (!in->fp)
        return cv_fail(err, "cannot open '%s': %s", path, strerror(errno));
    if (fstat(fileno(in->fp), &st) != 0 || !S_ISREG(st.st_mode))
        return cv_fail(err, "'%s' is not a regular file", path);
    in->size = (uint64_t)st.st_size;
#if CV_HAVE_MMAP
    if (in->size > 0 && in->size <= SIZE_MAX) {
        void *p = mmap(NULL, (size_t)in->size, PROT_READ, MAP_PRIVATE, fileno(in->fp), 0);
        if (p != MAP_FAILED)
            in->map = p;
    }
#endif
    return 1;
}

static void input_close(cv_input *in)
{
#if CV_HAVE_MMAP
    if (in->map && !in->in_memory)
        munmap((void *)in->map, (size_t)in->size);
#endif
    if (in->fp)
        fclose(in->fp);
    memset(in, 0, sizeof *in);
}

/* Is [off, off+n) inside the file? */
static int input_has(const cv_input *in, uint64_t off, uint64_t n)
{
    return off <= in->size && n <= in->size - off;
}

static int input_read(cv_input *in, uint64_t off, void *dst, uint64_t n, cv_err *err)
{
    if (!input_has(in, off, n))
        return cv_fail(err, "'%s': %" PRIu64 " bytes at offset %" PRIu64 " lie past the end of the file (%" PRIu64 " bytes)",
                       in->path, n, off, in->size);
    if (n == 0)
        return 1;
    if (in->map) {
        memcpy(dst, in->map + off, (size_t)n);
        return 1;
    }
    if (fseeko(in->fp, (off_t)off, SEEK_SET) != 0 || fread(dst, 1, (size_t)n, in->fp) != (size_t)n)
        return cv_fail(err, "cannot read '%s' at offset %" PRIu64 ": %s", in->path, off,
                       ferror(in->fp) ? strerror(errno) : "unexpected end of file");
    return 1;
}

/* Reads [off, off+n) into a fresh buffer (the caller frees it). */
static unsigned char *input_read_alloc(cv_input *in, uint64_t off, uint64_t n, cv_err *err)
{
    unsigned char *buf;
    if (!input_has(in, off, n)) {
        input_read(in, off, NULL, n, err);
        return NULL;
    }
    buf = cv_malloc(n + 1, err);
    if (!buf)
        return NULL;
    if (!input_read(in, off, buf, n, err)) {
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    return buf;
}

/* ========================================================================
 * 3. Source tensors: what every reader produces
 *
 * Both readers end with a list of named, contiguous, little-endian tensors,
 * each a byte range of the input file.
 * ======================================================================== */

typedef enum { SRC_BF16, SRC_F16, SRC_F32 } cv_dtype;

static const char *const cv_dtype_name[] = {"bf16", "f16", "f32"};

static uint64_t cv_dtype_size(cv_dtype t)
{
    return t == SRC_F32 ? 4 : 2;
}

typedef struct {
    char *name;
    cv_dtype dtype;
    int ggml_type;     /* the same as a ggml type, or a GGUF input's ggml type */
    int ndim;
    uint64_t shape[CV_MAX_DIMS];
    uint64_t n_elems;
    uint64_t offset;   /* file offset of the first element */
    struct cv_input *in; /* the file holding it (a shard), NULL: the one input */
    int transposed;    /* holds the transpose of `shape` (Hugging Face LoRAs) */
} cv_src;

typedef struct {
    cv_src *v;
    uint32_t n, cap;
    const char *format;   /* "PyTorch .pth (ZIP + pickle)", "safetensors" or "GGUF" */
} cv_src_list;

/* Product of the dimensions, or 0 with an error on overflow. */
static int shape_elems(const uint64_t *shape, int ndim, uint64_t *out)
{
    uint64_t n = 1;
    int i;
    for (i = 0; i < ndim; i++)
        if (!cv_mul(n, shape[i], &n))
            return 0;
    *out = n;
    return 1;
}

static void shape_format(char *buf, size_t size, const uint64_t *shape, int ndim)
{
    size_t used = 0;
    int i;
    used += (size_t)snprintf(buf, size, "(");
    for (i = 0; i < ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRIu64, i ? ", " : "", shape[i]);
    if (used < size)
        snprintf(buf + used, size - used, ")");
}

/* Adds a tensor whose byte range the reader has already checked. */
static int src_add(cv_src_list *list, const char *name, size_t name_len, cv_dtype dtype,
                   int ndim, const uint64_t *shape, uint64_t offset, cv_err *err)
{
    cv_src *t;
    void *p;
    if (name_len == 0 || name_len > CV_MAX_NAME || memchr(name, '\0', name_len))
        return cv_fail(err, "invalid tensor name (empty, too long or containing NUL)");
    if (ndim > CV_MAX_DIMS)
        return cv_fail(err, "tensor '%.*s' has %d dimensions (at most %d supported)", (int)name_len, name, ndim,
                       CV_MAX_DIMS);
    if (list->n >= CV_MAX_TENSORS)
        return cv_fail(err, "more than %d tensors in the checkpoint", CV_MAX_TENSORS);
    p = cv_grow(list->v, &list->cap, list->n + 1, sizeof *list->v);
    if (!p)
        return cv_fail(err, "out of memory");
    list->v = p;
    t = &list->v[list->n];
    memset(t, 0, sizeof *t);
    t->name = cv_strndup(name, name_len);
    if (!t->name)
        return cv_fail(err, "out of memory");
    list->n++;
    t->dtype = dtype;
    t->ggml_type = dtype == SRC_F32 ? 0 : dtype == SRC_F16 ? 1 : 30; /* GGML_F32, GGML_F16, GGML_BF16 */
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->offset = offset;
    if (!shape_elems(shape, ndim, &t->n_elems))
        return cv_fail(err, "tensor '%s': element count overflows", t->name);
    return 1;
}

static void src_list_free(cv_src_list *list)
{
    uint32_t i;
    for (i = 0; i < list->n; i++)
        free(list->v[i].name);
    free(list->v);
    memset(list, 0, sizeof *list);
}

/* ========================================================================
 * 4. Safetensors reader and its strict JSON parser
 *
 * File: u64 LE header length n, n bytes of JSON
 *   {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [b, e]}, ...,
 *    "__metadata__": {"key": "value", ...}}
 * then the data section; offsets are relative to its start.  The parser
 * accepts exactly this shape (no recursion, no generic values).
 * ======================================================================== */

typedef struct {
    const char *p, *begin, *end;
    cv_err *err;
    const char *file;   /* a JSON file (config.json) rather than a safetensors header */
} js_cursor;

static int js_fail(js_cursor *j, const char *what)
{
    if (j->file)
        return cv_fail(j->err, "'%s': %s at offset %lu", j->file, what, (unsigned long)(j->p - j->begin));
    /* The header starts at file offset 8: report file offsets. */
    return cv_fail(j->err, "safetensors header: %s at file offset %lu", what,
                   (unsigned long)(j->p - j->begin) + 8ul);
}

static void js_skip_ws(js_cursor *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int js_peek(js_cursor *j, char c)
{
    js_skip_ws(j);
    return j->p < j->end && *j->p == c;
}

static int js_expect(js_cursor *j, char c)
{
    char what[32];
    if (js_peek(j, c)) {
        j->p++;
        return 1;
    }
    snprintf(what, sizeof what, "expected '%c'", c);
    return js_fail(j, what);
}

static int js_hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;
    int i;
    for (i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return 0;
    }
    *out = v;
    return 1;
}

/* Parses a JSON string into a fresh NUL-terminated buffer (escapes decoded;
 * the decoded text is never longer than the quoted source). */
static int js_string(js_cursor *j, char **out, size_t *out_len)
{
    unsigned char *buf, *w;
    const char *start;
    *out = NULL;
    if (!js_expect(j, '"'))
        return 0;
    start = j->p;
    while (j->p < j->end && *j->p != '"')
        j->p += (*j->p == '\\' && j->p + 1 < j->end) ? 2 : 1;
    if (j->p >= j->end)
        return js_fail(j, "unterminated string");
    buf = malloc((size_t)(j->p - start) + 1);
    if (!buf)
        return cv_fail(j->err, "out of memory");
    w = buf;
    for (j->p = start; *j->p != '"'; j->p++) {
        unsigned char c = (unsigned char)*j->p;
        uint32_t cp, lo;
        if (c < 0x20) {
            free(buf);
            return js_fail(j, "control character in string");
        }
        if (c != '\\') {
            *w++ = c;
            continue;
        }
        j->p++;
        switch (*j->p) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u':
            if (j->end - j->p < 5 || !js_hex4(j->p + 1, &cp)) {
                free(buf);
                return js_fail(j, "bad \\u escape");
            }
            j->p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                /* A high surrogate must be followed by an escaped low one. */
                if (j->end - j->p < 7 || j->p[1] != '\\' || j->p[2] != 'u' || !js_hex4(j->p + 3, &lo) ||
                    lo < 0xdc00 || lo > 0xdfff) {
                    free(buf);
                    return js_fail(j, "unpaired surrogate in \\u escape");
                }
                j->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0) {
                free(buf);
                return js_fail(j, "invalid \\u escape");
            }
            w += rwkvx__utf8_put(w, cp);
            break;
        default:
            free(buf);
            return js_fail(j, "bad escape in string");
        }
    }
    j->p++; /* closing quote */
    *w = '\0';
    *out = (char *)buf;
    *out_len = (size_t)(w - buf);
    return 1;
}

/* A non-negative integer without sign, fraction or exponent. */
static int js_uint(js_cursor *j, uint64_t *out)
{
    uint64_t v = 0;
    const char *start;
    js_skip_ws(j);
    start = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (!cv_mul(v, 10, &v) || !cv_add(v, (uint64_t)(*j->p - '0'), &v))
            return js_fail(j, "integer too large");
        j->p++;
    }
    if (j->p == start)
        return js_fail(j, "expected a non-negative integer");
    if (j->p - start > 1 && *start == '0')
        return js_fail(j, "integer with a leading zero");
    if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
        return js_fail(j, "expected an integer");
    *out = v;
    return 1;
}

/* `[` uint (`,` uint)* `]`, at most `max` values. */
static int js_uint_array(js_cursor *j, uint64_t *vals, int max, int *count)
{
    *count = 0;
    if (!js_expect(j, '['))
        return 0;
    if (js_peek(j, ']')) {
        j->p++;
        return 1;
    }
    for (;;) {
        if (*count >= max)
            return js_fail(j, "too many values in array");
        if (!js_uint(j, &vals[(*count)++]))
            return 0;
        if (js_peek(j, ']')) {
            j->p++;
            return 1;
        }
        if (!js_expect(j, ','))
            return 0;
    }
}

/* `__metadata__` is a flat {string: string} object; it is checked and ignored. */
static int st_skip_metadata(js_cursor *j)
{
    char *s;
    size_t n;
    if (!js_expect(j, '{'))
        return 0;
    if (js_peek(j, '}')) {
        j->p++;
        return 1;
    }
    for (;;) {
        if (!js_string(j, &s, &n))
            return 0;
        free(s);
        if (!js_expect(j, ':') || !js_string(j, &s, &n))
            return 0;
        free(s);
        if (js_peek(j, '}')) {
            j->p++;
            return 1;
        }
        if (!js_expect(j, ','))
            return 0;
    }
}

/* One tensor entry: {"dtype": .., "shape": [..], "data_offsets": [b, e]}. */
static int st_tensor_entry(js_cursor *j, const char *name, size_t name_len, uint64_t data_start,
                           uint64_t data_size, cv_src_list *out)
{
    uint64_t shape[8], offsets[2], n_elems, n_bytes;
    int ndim = -1, n_offsets = -1, have_dtype = 0;
    cv_dtype dtype = SRC_F32;
    char *field, *value;
    size_t field_len, value_len;

    if (!js_expect(j, '{'))
        return 0;
    for (;;) {
        if (!js_string(j, &field, &field_len))
            return 0;
        if (!js_expect(j, ':')) {
            free(field);
            return 0;
        }
        if (strcmp(field, "dtype") == 0 && !have_dtype) {
            free(field);
            if (!js_string(j, &value, &value_len))
                return 0;
            if (strcmp(value, "BF16") == 0)
                dtype = SRC_BF16;
            else if (strcmp(value, "F16") == 0)
                dtype = SRC_F16;
            else if (strcmp(value, "F32") == 0)
                dtype = SRC_F32;
            else {
                cv_fail(j->err, "safetensors tensor '%s': unsupported dtype '%s' (BF16, F16 and F32 are supported)",
                        name, value);
                free(value);
                return 0;
            }
            free(value);
            have_dtype = 1;
        } else if (strcmp(field, "shape") == 0 && ndim < 0) {
            free(field);
            if (!js_uint_array(j, shape, 8, &ndim))
                return 0;
        } else if (strcmp(field, "data_offsets") == 0 && n_offsets < 0) {
            free(field);
            if (!js_uint_array(j, offsets, 2, &n_offsets))
                return 0;
            if (n_offsets != 2)
                return js_fail(j, "data_offsets must hold two integers");
        } else {
            cv_fail(j->err, "safetensors tensor '%s': unexpected or repeated field '%s'", name, field);
            free(field);
            return 0;
        }
        if (js_peek(j, '}')) {
            j->p++;
            break;
        }
        if (!js_expect(j, ','))
            return 0;
    }
    if (!have_dtype || ndim < 0 || n_offsets < 0)
        return cv_fail(j->err, "safetensors tensor '%s': needs dtype, shape and data_offsets", name);
    if (!shape_elems(shape, ndim, &n_elems) || !cv_mul(n_elems, cv_dtype_size(dtype), &n_bytes))
        return cv_fail(j->err, "safetensors tensor '%s': size overflows", name);
    if (offsets[0] > offsets[1] || offsets[1] > data_size)
        return cv_fail(j->err,
                       "safetensors tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                       "] lie outside the data section (%" PRIu64 " bytes)",
                       name, offsets[0], offsets[1], data_size);
    if (offsets[1] - offsets[0] != n_bytes)
        return cv_fail(j->err,
                       "safetensors tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] hold %" PRIu64
                       " bytes but its shape and dtype need %" PRIu64,
                       name, offsets[0], offsets[1], offsets[1] - offsets[0], n_bytes);
    return src_add(out, name, name_len, dtype, ndim, shape, data_start + offsets[0], j->err);
}

static int st_read(cv_input *in, cv_src_list *out, cv_err *err)
{
    unsigned char len8[8];
    uint64_t header_len, data_start;
    char *header, *name;
    size_t name_len;
    js_cursor j;
    int ok = 0;

    out->format = "safetensors";
    if (!input_read(in, 0, len8, 8, err))
        return 0;
    header_len = rd64(len8);
    if (header_len > in->size - 8)
        return cv_fail(err, "safetensors header length %" PRIu64 " runs past the end of the file (%" PRIu64 " bytes)",
                       header_len, in->size);
    if (header_len > CV_MAX_ST_HEADER)
        return cv_fail(err, "safetensors header length %" PRIu64 " exceeds the %" PRIu64 " byte limit", header_len,
                       CV_MAX_ST_HEADER);
    header = (char *)input_read_alloc(in, 8, header_len, err);
    if (!header)
        return 0;
    data_start = 8 + header_len;
    j.p = j.begin = header;
    j.end = header + header_len;
    j.err = err;
    j.file = NULL;

    if (!js_expect(&j, '{'))
        goto done;
    if (js_peek(&j, '}')) {
        j.p++;
    } else {
        for (;;) {
            int entry_ok;
            if (!js_string(&j, &name, &name_len))
                goto done;
            if (!js_expect(&j, ':')) {
                free(name);
                goto done;
            }
            if (strcmp(name, "__metadata__") == 0)
                entry_ok = st_skip_metadata(&j);
            else
                entry_ok = st_tensor_entry(&j, name, name_len, data_start, in->size - data_start, out);
            free(name);
            if (!entry_ok)
                goto done;
            if (js_peek(&j, '}')) {
                j.p++;
                break;
            }
            if (!js_expect(&j, ','))
                goto done;
        }
    }
    js_skip_ws(&j);
    if (j.p != j.end) {
        js_fail(&j, "unexpected data after the header object");
        goto done;
    }
    ok = 1;
done:
    free(header);
    return ok;
}

/* ========================================================================
 * 5. ZIP reader (stored entries only, ZIP64 aware)
 *
 * Layout (APPNOTE): local header + data per entry, the central directory,
 * [ZIP64 end record, ZIP64 locator], end-of-central-directory record.  The
 * central directory is authoritative for sizes (torch sets flag bit 3, so
 * local headers carry zeros); the local header's own name and extra lengths
 * decide where an entry's data starts (PyTorch 2.x pads extras to align it).
 * ======================================================================== */

#define ZIP_SIG_LOCAL 0x04034b50u
#define ZIP_SIG_CENTRAL 0x02014b50u
#define ZIP_SIG_EOCD 0x06054b50u
#define ZIP_SIG_EOCD64 0x06064b50u
#define ZIP_SIG_LOCATOR64 0x07064b50u

typedef struct {
    char *name;
    uint64_t offset;   /* of the data, in the file */
    uint64_t size;
    uint32_t crc;
} zip_entry;

typedef struct {
    zip_entry *v;
    uint32_t n;
} zip_dir;

typedef struct {
    uint64_t n_entries, cd_offset, cd_size;
    uint64_t cd_limit;   /* the central directory must end before this offset */
} zip_end;

static void zip_dir_free(zip_dir *dir)
{
    uint32_t i;
    for (i = 0; i < dir->n; i++)
        free(dir->v[i].name);
    free(dir->v);
    memset(dir, 0, sizeof *dir);
}

/* Reads the ZIP64 end record through its locator (20 bytes before EOCD). */
static int zip_read_end64(cv_input *in, uint64_t locator_off, zip_end *end, cv_err *err)
{
    unsigned char loc[20], rec[56];
    uint64_t rec_off;
    if (!input_read(in, locator_off, loc, 20, err))
        return 0;
    rec_off = rd64(loc + 8);
    if (rd32(loc + 4) != 0 || rd32(loc + 16) > 1)
        return cv_fail(err, "multi-disk ZIP archives are not supported");
    if (rec_off > locator_off || locator_off - rec_off < 56)
        return cv_fail(err, "ZIP64 end record offset %" PRIu64 " is invalid", rec_off);
    if (!input_read(in, rec_off, rec, 56, err))
        return 0;
    if (rd32(rec) != ZIP_SIG_EOCD64)
        return cv_fail(err, "ZIP64 end record not found at offset %" PRIu64, rec_off);
    if (rd32(rec + 16) != 0 || rd32(rec + 20) != 0 || rd64(rec + 24) != rd64(rec + 32))
        return cv_fail(err, "multi-disk ZIP archives are not supported");
    end->n_entries = rd64(rec + 32);
    end->cd_size = rd64(rec + 40);
    end->cd_offset = rd64(rec + 48);
    end->cd_limit = rec_off;
    return 1;
}

/* Finds the end-of-central-directory record: the last 22..65557 bytes. */
static int zip_read_end(cv_input *in, zip_end *end, cv_err *err)
{
    uint64_t tail_len = in->size < 22 + 0xffff ? in->size : 22 + 0xffff;
    uint64_t eocd_off = 0, pos;
    unsigned char *tail, *e;
    int found = 0;
    uint32_t cd_size32, cd_off32;
    uint16_t n16;

    if (in->size < 22)
        return cv_fail(err, "truncated ZIP archive: no end-of-central-directory record");
    tail = input_read_alloc(in, in->size - tail_len, tail_len, err);
    if (!tail)
        return 0;
    for (pos = tail_len - 22 + 1; pos-- > 0;) {
        if (rd32(tail + pos) == ZIP_SIG_EOCD && pos + 22 + rd16(tail + pos + 20) == tail_len) {
            found = 1;
            break;
        }
    }
    if (!found) {
        free(tail);
        return cv_fail(err, "truncated ZIP archive: no end-of-central-directory record at the end of the file");
    }
    e = tail + pos;
    eocd_off = in->size - tail_len + pos;
    if (rd16(e + 4) != 0 || rd16(e + 6) != 0 || rd16(e + 8) != rd16(e + 10)) {
        free(tail);
        return cv_fail(err, "multi-disk ZIP archives are not supported");
    }
    n16 = rd16(e + 10);
    cd_size32 = rd32(e + 12);
    cd_off32 = rd32(e + 16);
    free(tail);

    end->n_entries = n16;
    end->cd_size = cd_size32;
    end->cd_offset = cd_off32;
    end->cd_limit = eocd_off;
    if (eocd_off >= 20) {
        unsigned char sig[4];
        if (!input_read(in, eocd_off - 20, sig, 4, err))
            return 0;
        if (rd32(sig) == ZIP_SIG_LOCATOR64)
            return zip_read_end64(in, eocd_off - 20, end, err);
    }
    if (n16 == 0xffff || cd_size32 == 0xffffffffu || cd_off32 == 0xffffffffu)
        return cv_fail(err, "ZIP64 archive without a ZIP64 end-record locator");
    return 1;
}

/* Replaces 0xffffffff sizes/offset by the values in the ZIP64 extra field. */
static int zip_apply_zip64_extra(const unsigned char *extra, uint32_t extra_len, uint64_t *usize, uint64_t *csize,
                                 uint64_t *lho)
{
    uint32_t p = 0;
    while (p + 4 <= extra_len) {
        uint32_t id = rd16(extra + p), len = rd16(extra + p + 2), q = p + 4;
        if (p + 4 + len > extra_len)
            return 0;
        if (id == 0x0001) {
            uint64_t *fields[3];
            int n = 0, i;
            if (*usize == 0xffffffffu)
                fields[n++] = usize;
            if (*csize == 0xffffffffu)
                fields[n++] = csize;
            if (*lho == 0xffffffffu)
                fields[n++] = lho;
            for (i = 0; i < n; i++) {
                if (q + 8 > p + 4 + len)
                    return 0;
                *fields[i] = rd64(extra + q);
                q += 8;
            }
        }
        p += 4 + len;
    }
    return 1;
}

/* Checks an entry's local header and works out where its data starts. */
static int zip_locate_data(cv_input *in, zip_entry *ent, uint64_t lho, uint64_t data_limit, cv_err *err)
{
    unsigned char lh[30];
    uint32_t name_len, extra_len;
    uint64_t data;
    char *local_name;
    int same;

    if (lho > data_limit || data_limit - lho < 30)
        return cv_fail(err, "ZIP entry '%s': local header offset %" PRIu64 " is outside the archive", ent->name, lho);
    if (!input_read(in, lho, lh, 30, err))
        return 0;
    if (rd32(lh) != ZIP_SIG_LOCAL)
        return cv_fail(err, "ZIP entry '%s': no local header at offset %" PRIu64, ent->name, lho);
    if ((rd16(lh + 6) & 1) || rd16(lh + 8) != 0)
        return cv_fail(err, "ZIP entry '%s': local header says compressed or encrypted", ent->name);
    name_len = rd16(lh + 26);
    extra_len = rd16(lh + 28);
    data = lho + 30 + name_len + extra_len;
    if (data > data_limit || ent->size > data_limit - data)
        return cv_fail(err, "ZIP entry '%s': %" PRIu64 " bytes at offset %" PRIu64 " run past the archive data (truncated?)",
                       ent->name, ent->size, data);
    local_name = (char *)input_read_alloc(in, lho + 30, name_len, err);
    if (!local_name)
        return 0;
    same = name_len == strlen(ent->name) && memcmp(local_name, ent->name, name_len) == 0;
    free(local_name);
    if (!same)
        return cv_fail(err, "ZIP entry '%s': local header names a different file", ent->name);
    ent->offset = data;
    return 1;
}

static int zip_entry_cmp(const void *a, const void *b)
{
    return strcmp(((const zip_entry *)a)->name, ((const zip_entry *)b)->name);
}

static int zip_read_dir(cv_input *in, zip_dir *dir, cv_err *err)
{
    zip_end end = {0, 0, 0, 0};
    unsigned char *cd = NULL;
    uint64_t p = 0, i;
    int ok = 0;

    memset(dir, 0, sizeof *dir);
    if (!zip_read_end(in, &end, err))
        return 0;
    if (end.cd_offset > end.cd_limit || end.cd_size > end.cd_limit - end.cd_offset)
        return cv_fail(err, "ZIP central directory (%" PRIu64 " bytes at offset %" PRIu64 ") lies outside the archive",
                       end.cd_size, end.cd_offset);
    if (end.cd_size > CV_MAX_ZIP_CD)
        return cv_fail(err, "ZIP central directory too large (%" PRIu64 " bytes)", end.cd_size);
    if (end.n_entries > end.cd_size / 46)
        return cv_fail(err, "ZIP archive claims %" PRIu64 " entries, more than its directory can hold", end.n_entries);
    if (end.n_entries > CV_MAX_TENSORS * 2u + 64)
        return cv_fail(err, "ZIP archive has too many entries (%" PRIu64 ")", end.n_entries);
    cd = input_read_alloc(in, end.cd_offset, end.cd_size, err);
    if (!cd)
        return 0;
    dir->v = calloc((size_t)end.n_entries + 1, sizeof *dir->v);
    if (!dir->v) {
        cv_fail(err, "out of memory");
        goto done;
    }
    for (i = 0; i < end.n_entries; i++) {
        const unsigned char *h = cd + p;
        uint32_t flags, method, name_len, extra_len, comment_len;
        uint64_t csize, usize, lho;
        zip_entry *ent = &dir->v[dir->n];

        if (end.cd_size - p < 46 || rd32(h) != ZIP_SIG_CENTRAL) {
            cv_fail(err, "corrupt ZIP central directory at offset %" PRIu64, end.cd_offset + p);
            goto done;
        }
        flags = rd16(h + 8);
        method = rd16(h + 10);
        ent->crc = rd32(h + 16);
        csize = rd32(h + 20);
        usize = rd32(h + 24);
        name_len = rd16(h + 28);
        extra_len = rd16(h + 30);
        comment_len = rd16(h + 32);
        lho = rd32(h + 42);
        if (end.cd_size - p - 46 < (uint64_t)name_len + extra_len + comment_len) {
            cv_fail(err, "corrupt ZIP central directory at offset %" PRIu64, end.cd_offset + p);
            goto done;
        }
        if (name_len == 0 || memchr(h + 46, '\0', name_len)) {
            cv_fail(err, "ZIP entry with an empty or invalid name at offset %" PRIu64, end.cd_offset + p);
            goto done;
        }
        ent->name = cv_strndup((const char *)h + 46, name_len);
        if (!ent->name) {
            cv_fail(err, "out of memory");
            goto done;
        }
        dir->n++;
        if (!zip_apply_zip64_extra(h + 46 + name_len, extra_len, &usize, &csize, &lho)) {
            cv_fail(err, "ZIP entry '%s': malformed extra field", ent->name);
            goto done;
        }
        if (flags & 1) {
            cv_fail(err, "ZIP entry '%s' is encrypted; encrypted archives are not supported", ent->name);
            goto done;
        }
        if (method != 0) {
            cv_fail(err, "ZIP entry '%s' is compressed (method %u); only stored entries are supported (re-save with torch.save)",
                    ent->name, (unsigned)method);
            goto done;
        }
        if (csize != usize) {
            cv_fail(err, "ZIP entry '%s' is stored but its sizes differ", ent->name);
            goto done;
        }
        ent->size = usize;
        if (!zip_locate_data(in, ent, lho, end.cd_offset, err))
            goto done;
        p += 46 + (uint64_t)name_len + extra_len + comment_len;
    }
    qsort(dir->v, dir->n, sizeof *dir->v, zip_entry_cmp);
    for (i = 1; i < dir->n; i++)
        if (strcmp(dir->v[i - 1].name, dir->v[i].name) == 0) {
            cv_fail(err, "ZIP archive holds '%s' twice", dir->v[i].name);
            goto done;
        }
    ok = 1;
done:
    free(cd);
    return ok;
}

static const zip_entry *zip_find(const zip_dir *dir, const char *name)
{
    zip_entry key;
    key.name = (char *)name;
    return bsearch(&key, dir->v, dir->n, sizeof *dir->v, zip_entry_cmp);
}

/* CRC-32 (IEEE, reflected), as ZIP stores it. */
static uint32_t crc32_of(const unsigned char *p, uint64_t n)
{
    uint32_t table[256], crc = 0xffffffffu;
    uint32_t i, k;
    for (i = 0; i < 256; i++) {
        uint32_t c = i;
        for (k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    while (n--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc ^ 0xffffffffu;
}

/* ========================================================================
 * 6. Restricted pickle machine
 *
 * Interprets the protocol-2 pickle torch.save writes: a dict (or OrderedDict)
 * of  torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
 * requires_grad, hooks[, metadata])  calls whose storages are persistent ids
 * ('storage', torch.XStorage, key, location, numel).  Objects live in one
 * array and refer to each other by index; nothing is ever called, and the
 * only globals are the allow-listed names below.  Every stack, memo and
 * object count is capped, and no function recurses.
 * ======================================================================== */

enum {
    PK_MAX_OBJECTS = 1 << 21,
    PK_MAX_STACK = 1 << 20,
    PK_MAX_MARKS = 1 << 12,
    PK_MAX_MEMO = 1 << 22,
    PK_MAX_ITEMS = 1 << 24,
    PK_MAX_DIMS = 8,
    PK_MAX_GLOBAL_LINE = 256
};

typedef enum {
    PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_TUPLE, PK_LIST, PK_DICT, PK_GLOBAL, PK_STORAGE, PK_TENSOR
} pk_kind;

static const char *const pk_kind_name[] = {"None", "bool", "int", "float", "str", "tuple",
                                           "list", "dict", "global", "storage", "tensor"};

typedef enum {
    G_REBUILD_TENSOR, G_REBUILD_PARAMETER, G_ORDERED_DICT, G_BF16_STORAGE, G_HALF_STORAGE, G_FLOAT_STORAGE
} pk_global_id;

static const struct {
    const char *module, *name;
} pk_allowed_globals[] = {
    {"torch._utils", "_rebuild_tensor_v2"}, {"torch._utils", "_rebuild_parameter"},
    {"collections", "OrderedDict"},         {"torch", "BFloat16Storage"},
    {"torch", "HalfStorage"},               {"torch", "FloatStorage"},
};

typedef struct {
    pk_kind kind;
    int64_t num;        /* int / bool value; global id; storage or tensor index */
    const char *str;    /* PK_STR: bytes inside the pickle, not NUL-terminated */
    uint64_t str_len;
    uint32_t *items;    /* tuple / list elements; dict: key, value, key, value ... */
    uint32_t n_items, cap_items;
} pk_obj;

typedef struct {
    cv_dtype dtype;
    const char *key;
    uint64_t key_len;
    uint64_t numel;
} pk_storage;

typedef struct {
    uint32_t storage;
    uint64_t offset;
    int ndim;
    uint64_t size[PK_MAX_DIMS], stride[PK_MAX_DIMS];
} pk_tensor;

typedef struct {
    const unsigned char *code;
    uint64_t len, pos, op_pos;
    const char *where;              /* the entry name, for messages */
    pk_obj *obj;
    uint32_t n_obj, cap_obj;
    uint32_t *stack;
    uint32_t sp, cap_stack;
    uint32_t *marks;                /* stack heights at each MARK */
    uint32_t n_marks, cap_marks;
    uint32_t *memo;                 /* object index + 1; 0 = unset */
    uint32_t cap_memo, n_memo;
    pk_storage *storages;
    uint32_t n_storages, cap_storages;
    pk_tensor *tensors;
    uint32_t n_tensors, cap_tensors;
    uint64_t n_items_total;
    cv_err *err;
} pk_machine;

static int pk_fail(pk_machine *m, const char *fmt, ...) CV_PRINTF(2, 3);

/* Every pickle error names the opcode's offset inside data.pkl. */
static int pk_fail(pk_machine *m, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return cv_fail(m->err, "%s at offset %" PRIu64 " of '%s'", what, m->op_pos, m->where);
}

static void pk_free(pk_machine *m)
{
    uint32_t i;
    for (i = 0; i < m->n_obj; i++)
        free(m->obj[i].items);
    free(m->obj);
    free(m->stack);
    free(m->marks);
    free(m->memo);
    free(m->storages);
    free(m->tensors);
}

static int pk_new(pk_machine *m, pk_kind kind, uint32_t *out)
{
    void *p;
    if (m->n_obj >= PK_MAX_OBJECTS)
        return pk_fail(m, "pickle too large (more than %d objects)", PK_MAX_OBJECTS);
    p = cv_grow(m->obj, &m->cap_obj, m->n_obj + 1, sizeof *m->obj);
    if (!p)
        return cv_fail(m->err, "out of memory");
    m->obj = p;
    memset(&m->obj[m->n_obj], 0, sizeof *m->obj);
    m->obj[m->n_obj].kind = kind;
    *out = m->n_obj++;
    return 1;
}

static int pk_push(pk_machine *m, uint32_t obj)
{
    void *p;
    if (m->sp >= PK_MAX_STACK)
        return pk_fail(m, "pickle stack overflow");
    p = cv_grow(m->stack, &m->cap_stack, m->sp + 1, sizeof *m->stack);
    if (!p)
        return cv_fail(m->err, "out of memory");
    m->stack = p;
    m->stack[m->sp++] = obj;
    return 1;
}

/* Pushes a fresh object of the given kind. */
static int pk_push_new(pk_machine *m, pk_kind kind, int64_t num)
{
    uint32_t o;
    if (!pk_new(m, kind, &o))
        return 0;
    m->obj[o].num = num;
    return pk_push(m, o);
}

static uint32_t pk_frame_base(const pk_machine *m)
{
    return m->n_marks ? m->marks[m->n_marks - 1] : 0;
}

/* Pops one object; popping through a MARK is an error, as in Python. */
static int pk_pop(pk_machine *m, uint32_t *out)
{
    if (m->sp <= pk_frame_base(m))
        return pk_fail(m, "pickle stack underflow");
    *out = m->stack[--m->sp];
    return 1;
}

static int pk_top(pk_machine *m, uint32_t *out)
{
    if (m->sp <= pk_frame_base(m))
        return pk_fail(m, "pickle stack underflow");
    *out = m->stack[m->sp - 1];
    return 1;
}

/* Ends the innermost MARK: the objects above it are stack[*first .. sp). */
static int pk_pop_mark(pk_machine *m, uint32_t *first)
{
    if (m->n_marks == 0)
        return pk_fail(m, "pickle MARK missing");
    *first = m->marks[--m->n_marks];
    return 1;
}

static int pk_add_item(pk_machine *m, uint32_t container, uint32_t item)
{
    pk_obj *c = &m->obj[container];
    void *p;
    if (m->n_items_total >= PK_MAX_ITEMS)
        return pk_fail(m, "pickle too large (more than %d container items)", PK_MAX_ITEMS);
    p = cv_grow(c->items, &c->cap_items, c->n_items + 1, sizeof *c->items);
    if (!p)
        return cv_fail(m->err, "out of memory");
    c->items = p;
    c->items[c->n_items++] = item;
    m->n_items_total++;
    return 1;
}

/* Makes a tuple of stack[first .. first+n) and replaces them by it. */
static int pk_make_tuple(pk_machine *m, uint32_t first, uint32_t n)
{
    uint32_t t, i;
    if (!pk_new(m, PK_TUPLE, &t))
        return 0;
    for (i = 0; i < n; i++)
        if (!pk_add_item(m, t, m->stack[first + i]))
            return 0;
    m->sp = first;
    return pk_push(m, t);
}

/* Bounds-checked access to the opcode's argument bytes. */
static int pk_arg(pk_machine *m, uint64_t n, const unsigned char **out)
{
    if (n > m->len - m->pos)
        return pk_fail(m, "truncated pickle");
    *out = m->code + m->pos;
    m->pos += n;
    return 1;
}

static int pk_memo_put(pk_machine *m, uint64_t idx)
{
    uint32_t top, old_cap = m->cap_memo;
    void *p;
    if (idx >= PK_MAX_MEMO)
        return pk_fail(m, "pickle memo index %" PRIu64 " too large", idx);
    if (!pk_top(m, &top))
        return 0;
    p = cv_grow(m->memo, &m->cap_memo, (uint32_t)idx + 1, sizeof *m->memo);
    if (!p)
        return cv_fail(m->err, "out of memory");
    m->memo = p;
    if (m->cap_memo > old_cap)
        memset(m->memo + old_cap, 0, (m->cap_memo - old_cap) * sizeof *m->memo);
    if (m->memo[idx] == 0)
        m->n_memo++;
    m->memo[idx] = top + 1;
    return 1;
}

static int pk_memo_get(pk_machine *m, uint64_t idx)
{
    if (idx >= m->cap_memo || m->memo[idx] == 0)
        return pk_fail(m, "pickle memo entry %" PRIu64 " is not set", idx);
    return pk_push(m, m->memo[idx] - 1);
}

static int pk_push_str(pk_machine *m, uint64_t len)
{
    const unsigned char *s = NULL;
    uint32_t o = 0;
    if (!pk_arg(m, len, &s) || !pk_new(m, PK_STR, &o))
        return 0;
    m->obj[o].str = (const char *)s;
    m->obj[o].str_len = len;
    return pk_push(m, o);
}

static int pk_str_is(const pk_obj *o, const char *s)
{
    return o->kind == PK_STR && o->str_len == strlen(s) && memcmp(o->str, s, o->str_len) == 0;
}

/* Resolves "module name" against the allow-list; anything else is refused. */
static int pk_global(pk_machine *m, const char *module, uint64_t module_len, const char *name, uint64_t name_len)
{
    size_t i;
    for (i = 0; i < sizeof pk_allowed_globals / sizeof pk_allowed_globals[0]; i++) {
        if (strlen(pk_allowed_globals[i].module) == module_len && strlen(pk_allowed_globals[i].name) == name_len &&
            memcmp(pk_allowed_globals[i].module, module, module_len) == 0 &&
            memcmp(pk_allowed_globals[i].name, name, name_len) == 0)
            return pk_push_new(m, PK_GLOBAL, (int64_t)i);
    }
    return pk_fail(m, "forbidden pickle global '%.*s %.*s'", (int)(module_len > 100 ? 100 : module_len), module,
                   (int)(name_len > 100 ? 100 : name_len), name);
}

/* GLOBAL: "module\nname\n" in the opcode stream. */
static int pk_op_global(pk_machine *m)
{
    const char *module = (const char *)m->code + m->pos, *name, *nl;
    uint64_t avail = m->len - m->pos, module_len, name_len;
    nl = memchr(module, '\n', (size_t)(avail < PK_MAX_GLOBAL_LINE ? avail : PK_MAX_GLOBAL_LINE));
    if (!nl)
        return pk_fail(m, "malformed pickle GLOBAL");
    module_len = (uint64_t)(nl - module);
    name = nl + 1;
    avail -= module_len + 1;
    nl = memchr(name, '\n', (size_t)(avail < PK_MAX_GLOBAL_LINE ? avail : PK_MAX_GLOBAL_LINE));
    if (!nl)
        return pk_fail(m, "malformed pickle GLOBAL");
    name_len = (uint64_t)(nl - name);
    m->pos += module_len + name_len + 2;
    return pk_global(m, module, module_len, name, name_len);
}

static int pk_op_stack_global(pk_machine *m)
{
    uint32_t name = 0, module = 0;
    if (!pk_pop(m, &name) || !pk_pop(m, &module))
        return 0;
    if (m->obj[name].kind != PK_STR || m->obj[module].kind != PK_STR)
        return pk_fail(m, "pickle STACK_GLOBAL needs two strings");
    return pk_global(m, m->obj[module].str, m->obj[module].str_len, m->obj[name].str, m->obj[name].str_len);
}

/* BINPERSID: ('storage', torch.XStorage, key, location, numel) -> storage. */
static int pk_op_persid(pk_machine *m)
{
    uint32_t pid = 0, o = 0;
    const pk_obj *t, *cls, *key, *numel;
    static const cv_dtype storage_dtype[] = {SRC_BF16, SRC_F16, SRC_F32};
    pk_storage *s;
    void *p;

    if (!pk_pop(m, &pid))
        return 0;
    t = &m->obj[pid];
    if (t->kind != PK_TUPLE || t->n_items != 5 || !pk_str_is(&m->obj[t->items[0]], "storage"))
        return pk_fail(m, "unsupported pickle persistent id (expected a ('storage', ...) tuple)");
    cls = &m->obj[t->items[1]];
    key = &m->obj[t->items[2]];
    numel = &m->obj[t->items[4]];
    if (cls->kind != PK_GLOBAL || cls->num < G_BF16_STORAGE)
        return pk_fail(m, "pickle persistent id names no storage type (BFloat16Storage, HalfStorage, FloatStorage)");
    if (key->kind != PK_STR || m->obj[t->items[3]].kind != PK_STR || numel->kind != PK_INT || numel->num < 0)
        return pk_fail(m, "malformed pickle storage persistent id");
    p = cv_grow(m->storages, &m->cap_storages, m->n_storages + 1, sizeof *m->storages);
    if (!p)
        return cv_fail(m->err, "out of memory");
    m->storages = p;
    s = &m->storages[m->n_storages];
    s->dtype = storage_dtype[cls->num - G_BF16_STORAGE];
    s->key = key->str;
    s->key_len = key->str_len;
    s->numel = (uint64_t)numel->num;
    if (!pk_new(m, PK_STORAGE, &o))
        return 0;
    m->obj[o].num = m->n_storages++;
    return pk_push(m, o);
}

/* Reads a tuple of non-negative ints (a size or a stride). */
static int pk_int_tuple(pk_machine *m, uint32_t tuple, uint64_t *vals, int *n)
{
    const pk_obj *t = &m->obj[tuple];
    uint32_t i;
    if (t->kind != PK_TUPLE || t->n_items > PK_MAX_DIMS)
        return pk_fail(m, "tensor size/stride must be a tuple of at most %d ints", PK_MAX_DIMS);
    for (i = 0; i < t->n_items; i++) {
        const pk_obj *v = &m->obj[t->items[i]];
        if (v->kind != PK_INT || v->num < 0)
            return pk_fail(m, "tensor size/stride must hold non-negative ints");
        vals[i] = (uint64_t)v->num;
    }
    *n = (int)t->n_items;
    return 1;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]).
 * Only records the view; extents are checked once names are known (section 7). */
static int pk_rebuild_tensor(pk_machine *m, const pk_obj *args)
{
    pk_tensor t;
    int n_stride;
    const pk_obj *storage, *offset;
    void *p;
    uint32_t o;

    if (args->n_items != 6 && args->n_items != 7)
        return pk_fail(m, "_rebuild_tensor_v2 takes 6 or 7 arguments, got %u", (unsigned)args->n_items);
    storage = &m->obj[args->items[0]];
    offset = &m->obj[args->items[1]];
    if (storage->kind != PK_STORAGE)
        return pk_fail(m, "_rebuild_tensor_v2: first argument is a %s, not a storage", pk_kind_name[storage->kind]);
    if (offset->kind != PK_INT || offset->num < 0)
        return pk_fail(m, "_rebuild_tensor_v2: bad storage offset");
    memset(&t, 0, sizeof t);
    t.storage = (uint32_t)storage->num;
    t.offset = (uint64_t)offset->num;
    if (!pk_int_tuple(m, args->items[2], t.size, &t.ndim) || !pk_int_tuple(m, args->items[3], t.stride, &n_stride))
        return 0;
    if (n_stride != t.ndim)
        return pk_fail(m, "_rebuild_tensor_v2: size and stride differ in length");
    if (m->obj[args->items[4]].kind != PK_BOOL)
        return pk_fail(m, "_rebuild_tensor_v2: requires_grad is not a bool");
    p = cv_grow(m->tensors, &m->cap_tensors, m->n_tensors + 1, sizeof *m->tensors);
    if (!p)
        return cv_fail(m->err, "out of memory");
    m->tensors = p;
    m->tensors[m->n_tensors] = t;
    if (!pk_new(m, PK_TENSOR, &o))
        return 0;
    m->obj[o].num = m->n_tensors++;
    return pk_push(m, o);
}

/* REDUCE: call an allow-listed callable on an argument tuple. */
static int pk_op_reduce(pk_machine *m)
{
    uint32_t args_i = 0, fn_i = 0;
    const pk_obj *args, *fn;
    if (!pk_pop(m, &args_i) || !pk_pop(m, &fn_i))
        return 0;
    args = &m->obj[args_i];
    fn = &m->obj[fn_i];
    if (fn->kind != PK_GLOBAL)
        return pk_fail(m, "pickle REDUCE on a %s", pk_kind_name[fn->kind]);
    if (args->kind != PK_TUPLE)
        return pk_fail(m, "pickle REDUCE arguments are not a tuple");
    switch ((pk_global_id)fn->num) {
    case G_REBUILD_TENSOR:
        return pk_rebuild_tensor(m, args);
    case G_REBUILD_PARAMETER:
        /* _rebuild_parameter(data, requires_grad, hooks) is its tensor. */
        if (args->n_items != 3 || m->obj[args->items[0]].kind != PK_TENSOR)
            return pk_fail(m, "_rebuild_parameter: expected (tensor, requires_grad, hooks)");
        return pk_push(m, args->items[0]);
    case G_ORDERED_DICT:
        if (args->n_items != 0)
            return pk_fail(m, "OrderedDict() with arguments is not supported");
        return pk_push_new(m, PK_DICT, 0);
    default:
        return pk_fail(m, "calling '%s %s' is not allowed", pk_allowed_globals[fn->num].module,
                       pk_allowed_globals[fn->num].name);
    }
}

/* SETITEM / SETITEMS / APPEND / APPENDS add stack[first..sp) to the object
 * just below them, which must be a dict (pairs) or a list. */
static int pk_fill(pk_machine *m, uint32_t first, pk_kind want)
{
    uint32_t target, i, n = m->sp - first;
    if (first <= pk_frame_base(m))
        return pk_fail(m, "pickle stack underflow");
    target = m->stack[first - 1];
    if (m->obj[target].kind != want)
        return pk_fail(m, "pickle %s on a %s", want == PK_DICT ? "SETITEM" : "APPEND", pk_kind_name[m->obj[target].kind]);
    if (want == PK_DICT && n % 2 != 0)
        return pk_fail(m, "pickle SETITEMS with an odd number of objects");
    for (i = 0; i < n; i++)
        if (!pk_add_item(m, target, m->stack[first + i]))
            return 0;
    m->sp = first;
    return 1;
}

static int pk_op_mark(pk_machine *m)
{
    void *p;
    if (m->n_marks >= PK_MAX_MARKS)
        return pk_fail(m, "pickle MARKs nested too deeply");
    p = cv_grow(m->marks, &m->cap_marks, m->n_marks + 1, sizeof *m->marks);
    if (!p)
        return cv_fail(m->err, "out of memory");
    m->marks = p;
    m->marks[m->n_marks++] = m->sp;
    return 1;
}

/* Sign-extends an n-byte little-endian two's complement integer (LONG1). */
static int pk_op_long1(pk_machine *m)
{
    const unsigned char *n = NULL, *b = NULL;
    uint64_t v = 0;
    int i;
    if (!pk_arg(m, 1, &n))
        return 0;
    if (*n > 8)
        return pk_fail(m, "pickle integer too large (%u bytes)", (unsigned)*n);
    if (!pk_arg(m, *n, &b))
        return 0;
    for (i = *n - 1; i >= 0; i--)
        v = (v << 8) | b[i];
    if (*n > 0 && *n < 8 && (b[*n - 1] & 0x80))
        v |= UINT64_MAX << (8 * *n);
    /* Two's complement reinterpretation, without implementation-defined casts. */
    return pk_push_new(m, PK_INT, v <= (uint64_t)INT64_MAX ? (int64_t)v : -(int64_t)(UINT64_MAX - v) - 1);
}

/* Runs the pickle to STOP; *result is the object it returns. */
static int pk_run(pk_machine *m, uint32_t *result)
{
    const unsigned char *a = NULL;
    uint32_t x = 0, y = 0, first = 0;

    while (m->pos < m->len) {
        unsigned char op = m->code[m->pos];
        m->op_pos = m->pos++;
        switch (op) {
        case 0x80: /* PROTO */
            if (!pk_arg(m, 1, &a))
                return 0;
            if (*a < 2 || *a > 5)
                return pk_fail(m, "unsupported pickle protocol %u", (unsigned)*a);
            break;
        case 0x95: /* FRAME: a length hint, nothing to do */
            if (!pk_arg(m, 8, &a))
                return 0;
            break;
        case '}': /* EMPTY_DICT */
            if (!pk_push_new(m, PK_DICT, 0))
                return 0;
            break;
        case ']': /* EMPTY_LIST */
            if (!pk_push_new(m, PK_LIST, 0))
                return 0;
            break;
        case ')': /* EMPTY_TUPLE */
            if (!pk_push_new(m, PK_TUPLE, 0))
                return 0;
            break;
        case '(': /* MARK */
            if (!pk_op_mark(m))
                return 0;
            break;
        case 'X': /* BINUNICODE */
            if (!pk_arg(m, 4, &a) || !pk_push_str(m, rd32(a)))
                return 0;
            break;
        case 0x8c: /* SHORT_BINUNICODE */
            if (!pk_arg(m, 1, &a) || !pk_push_str(m, *a))
                return 0;
            break;
        case 0x8d: /* BINUNICODE8 */
            if (!pk_arg(m, 8, &a) || !pk_push_str(m, rd64(a)))
                return 0;
            break;
        case 'J': /* BININT: signed 32-bit */
            if (!pk_arg(m, 4, &a) || !pk_push_new(m, PK_INT, (int64_t)rd32(a) - (rd32(a) >> 31 ? INT64_C(1) << 32 : 0)))
                return 0;
            break;
        case 'K': /* BININT1 */
            if (!pk_arg(m, 1, &a) || !pk_push_new(m, PK_INT, a[0]))
                return 0;
            break;
        case 'M': /* BININT2 */
            if (!pk_arg(m, 2, &a) || !pk_push_new(m, PK_INT, rd16(a)))
                return 0;
            break;
        case 0x8a: /* LONG1 */
            if (!pk_op_long1(m))
                return 0;
            break;
        case 'G': /* BINFLOAT: the value is never needed */
            if (!pk_arg(m, 8, &a) || !pk_push_new(m, PK_FLOAT, 0))
                return 0;
            break;
        case 'N': /* NONE */
            if (!pk_push_new(m, PK_NONE, 0))
                return 0;
            break;
        case 0x88: /* NEWTRUE */
        case 0x89: /* NEWFALSE */
            if (!pk_push_new(m, PK_BOOL, op == 0x88))
                return 0;
            break;
        case 't': /* TUPLE */
            if (!pk_pop_mark(m, &first) || !pk_make_tuple(m, first, m->sp - first))
                return 0;
            break;
        case 0x85: /* TUPLE1 */
        case 0x86: /* TUPLE2 */
        case 0x87: /* TUPLE3 */
            x = (uint32_t)(op - 0x84);
            if (m->sp < pk_frame_base(m) + x)
                return pk_fail(m, "pickle stack underflow");
            if (!pk_make_tuple(m, m->sp - x, x))
                return 0;
            break;
        case 'q': /* BINPUT */
            if (!pk_arg(m, 1, &a) || !pk_memo_put(m, a[0]))
                return 0;
            break;
        case 'r': /* LONG_BINPUT */
            if (!pk_arg(m, 4, &a) || !pk_memo_put(m, rd32(a)))
                return 0;
            break;
        case 0x94: /* MEMOIZE */
            if (!pk_memo_put(m, m->n_memo))
                return 0;
            break;
        case 'h': /* BINGET */
            if (!pk_arg(m, 1, &a) || !pk_memo_get(m, a[0]))
                return 0;
            break;
        case 'j': /* LONG_BINGET */
            if (!pk_arg(m, 4, &a) || !pk_memo_get(m, rd32(a)))
                return 0;
            break;
        case 's': /* SETITEM */
            if (m->sp < pk_frame_base(m) + 2)
                return pk_fail(m, "pickle stack underflow");
            if (!pk_fill(m, m->sp - 2, PK_DICT))
                return 0;
            break;
        case 'u': /* SETITEMS */
            if (!pk_pop_mark(m, &first) || !pk_fill(m, first, PK_DICT))
                return 0;
            break;
        case 'a': /* APPEND */
            if (m->sp < pk_frame_base(m) + 1)
                return pk_fail(m, "pickle stack underflow");
            if (!pk_fill(m, m->sp - 1, PK_LIST))
                return 0;
            break;
        case 'e': /* APPENDS */
            if (!pk_pop_mark(m, &first) || !pk_fill(m, first, PK_LIST))
                return 0;
            break;
        case 'c': /* GLOBAL */
            if (!pk_op_global(m))
                return 0;
            break;
        case 0x93: /* STACK_GLOBAL */
            if (!pk_op_stack_global(m))
                return 0;
            break;
        case 'R': /* REDUCE */
            if (!pk_op_reduce(m))
                return 0;
            break;
        case 'b': /* BUILD: only the `_metadata` of an OrderedDict, ignored */
            if (!pk_pop(m, &x) || !pk_top(m, &y))
                return 0;
            if (m->obj[y].kind != PK_DICT)
                return pk_fail(m, "pickle BUILD on a %s is not supported", pk_kind_name[m->obj[y].kind]);
            break;
        case 'Q': /* BINPERSID */
            if (!pk_op_persid(m))
                return 0;
            break;
        case '.': /* STOP */
            return pk_pop(m, result);
        default:
            return cv_fail(m->err, "unsupported pickle opcode 0x%02x at offset %" PRIu64 " of '%s'", (unsigned)op,
                           m->op_pos, m->where);
        }
    }
    m->op_pos = m->pos;
    return pk_fail(m, "pickle ends without STOP");
}

/* ========================================================================
 * 7. .pth reader: ZIP + pickle -> source tensors
 * ======================================================================== */

/* Finds "<prefix>/data.pkl" (prefix without '/'); there must be exactly one. */
static const zip_entry *pth_find_pickle(const zip_dir *dir, cv_err *err)
{
    const zip_entry *found = NULL;
    uint32_t i;
    for (i = 0; i < dir->n; i++) {
        const char *name = dir->v[i].name, *slash = strchr(name, '/');
        if (slash && slash != name && strcmp(slash, "/data.pkl") == 0) {
            if (found) {
                cv_fail(err, "ZIP archive holds several checkpoints ('%s' and '%s')", found->name, name);
                return NULL;
            }
            found = &dir->v[i];
        }
    }
    if (!found)
        cv_fail(err, "ZIP archive has no '<name>/data.pkl': not a PyTorch checkpoint");
    return found;
}

/* Contiguity: stride[i] = product of size[i+1..] wherever size[i] > 1. */
static int pk_tensor_contiguous(const pk_tensor *t)
{
    uint64_t expected = 1;
    int i;
    for (i = t->ndim - 1; i >= 0; i--) {
        if (t->size[i] != 1 && t->stride[i] != expected)
            return 0;
        if (!cv_mul(expected, t->size[i], &expected))
            return 0;
    }
    return 1;
}

/* Checks one (name, tensor) pair of the state dict against its storage entry. */
static int pth_add_tensor(const pk_machine *m, const pk_obj *key, const pk_tensor *t, const zip_dir *dir,
                          const char *prefix, cv_src_list *out, cv_err *err)
{
    const pk_storage *s = &m->storages[t->storage];
    char entry_name[512], sizes[160], strides[160];
    const zip_entry *ent;
    uint64_t esize = cv_dtype_size(s->dtype), storage_bytes, n_elems, end;
    int name_len = (int)(key->str_len > 200 ? 200 : key->str_len);

    if (s->key_len > 200)
        return cv_fail(err, "tensor '%.*s': storage key too long", name_len, key->str);
    snprintf(entry_name, sizeof entry_name, "%s/data/%.*s", prefix, (int)s->key_len, s->key);
    ent = zip_find(dir, entry_name);
    if (!ent)
        return cv_fail(err, "tensor '%.*s': storage '%.*s' has no ZIP entry '%s'", name_len, key->str,
                       (int)s->key_len, s->key, entry_name);
    if (!cv_mul(s->numel, esize, &storage_bytes) || storage_bytes > ent->size)
        return cv_fail(err, "tensor '%.*s': storage '%.*s' declares %" PRIu64 " elements but its ZIP entry holds %" PRIu64
                       " bytes", name_len, key->str, (int)s->key_len, s->key, s->numel, ent->size);
    if (t->ndim > CV_MAX_DIMS)
        return cv_fail(err, "tensor '%.*s' has %d dimensions (at most %d supported)", name_len, key->str, t->ndim,
                       CV_MAX_DIMS);
    if (!shape_elems(t->size, t->ndim, &n_elems))
        return cv_fail(err, "tensor '%.*s': element count overflows", name_len, key->str);
    if (!pk_tensor_contiguous(t)) {
        shape_format(sizes, sizeof sizes, t->size, t->ndim);
        shape_format(strides, sizeof strides, t->stride, t->ndim);
        return cv_fail(err, "tensor '%.*s' is not contiguous (size %s, stride %s); save it with .contiguous()",
                       name_len, key->str, sizes, strides);
    }
    if (!cv_add(t->offset, n_elems, &end) || end > s->numel)
        return cv_fail(err, "tensor '%.*s': storage offset %" PRIu64 " + %" PRIu64
                       " elements runs past the end of storage '%.*s' (%" PRIu64 " elements)",
                       name_len, key->str, t->offset, n_elems, (int)s->key_len, s->key, s->numel);
    return src_add(out, key->str, (size_t)key->str_len, s->dtype, t->ndim, t->size, ent->offset + t->offset * esize,
                   err);
}

/* PyTorch 2.x records the storages' byte order; older files are little-endian. */
static int pth_check_byteorder(cv_input *in, const zip_dir *dir, const char *prefix, cv_err *err)
{
    char name[300];
    const zip_entry *ent;
    unsigned char buf[8];
    snprintf(name, sizeof name, "%s/byteorder", prefix);
    ent = zip_find(dir, name);
    if (!ent)
        return 1;
    if (ent->size > sizeof buf || !input_read(in, ent->offset, buf, ent->size, err))
        return cv_fail(err, "ZIP entry '%s' is malformed", name);
    if (ent->size != 6 || memcmp(buf, "little", 6) != 0)
        return cv_fail(err, "'%s' says the storages are not little-endian; big-endian checkpoints are not supported", name);
    return 1;
}

static int pth_read(cv_input *in, cv_src_list *out, cv_err *err)
{
    zip_dir dir;
    pk_machine m;
    const zip_entry *pkl;
    unsigned char *code = NULL;
    char prefix[256];
    uint32_t root, i;
    const pk_obj *dict;
    int ok = 0;

    out->format = "PyTorch .pth (ZIP + pickle)";
    memset(&m, 0, sizeof m);
    if (!zip_read_dir(in, &dir, err))
        goto done;
    pkl = pth_find_pickle(&dir, err);
    if (!pkl)
        goto done;
    if (strlen(pkl->name) - strlen("/data.pkl") >= sizeof prefix) {
        cv_fail(err, "ZIP entry name '%s' too long", pkl->name);
        goto done;
    }
    snprintf(prefix, sizeof prefix, "%.*s", (int)(strlen(pkl->name) - strlen("/data.pkl")), pkl->name);
    if (!pth_check_byteorder(in, &dir, prefix, err))
        goto done;
    if (pkl->size > CV_MAX_PICKLE) {
        cv_fail(err, "'%s' too large (%" PRIu64 " bytes)", pkl->name, pkl->size);
        goto done;
    }
    code = input_read_alloc(in, pkl->offset, pkl->size, err);
    if (!code)
        goto done;
    if (crc32_of(code, pkl->size) != pkl->crc && !in->skip_crc) {
        cv_fail(err, "ZIP entry '%s' fails its CRC check (corrupt file?)", pkl->name);
        goto done;
    }

    m.code = code;
    m.len = pkl->size;
    m.where = pkl->name;
    m.err = err;
    if (!pk_run(&m, &root))
        goto done;
    dict = &m.obj[root];
    if (dict->kind != PK_DICT) {
        cv_fail(err, "'%s' holds a %s, not a state dict of tensors", pkl->name, pk_kind_name[dict->kind]);
        goto done;
    }
    for (i = 0; i + 1 < dict->n_items; i += 2) {
        const pk_obj *key = &m.obj[dict->items[i]], *val = &m.obj[dict->items[i + 1]];
        if (key->kind != PK_STR) {
            cv_fail(err, "'%s': state dict key %u is a %s, not a string", pkl->name, i / 2, pk_kind_name[key->kind]);
            goto done;
        }
        if (val->kind != PK_TENSOR) {
            cv_fail(err, "'%s': entry '%.*s' is a %s, not a tensor (expected a flat state dict)", pkl->name,
                    (int)(key->str_len > 200 ? 200 : key->str_len), key->str, pk_kind_name[val->kind]);
            goto done;
        }
        if (!pth_add_tensor(&m, key, &m.tensors[val->num], &dir, prefix, out, err))
            goto done;
    }
    ok = 1;
done:
    pk_free(&m);
    free(code);
    zip_dir_free(&dir);
    return ok;
}

/* ========================================================================
 * 8. Number formats: f16, bf16 and ggml's block types
 *
 * The quantised types are ggml's, with its numbers and byte layouts, so the
 * files are interchangeable with llama.cpp's.  The quantisers follow the
 * published formulas of ggml's reference quantisers without importance
 * matrix (quantize_row_*_ref, and quantize_iq4_nl/xs with no weights); the
 * code is our own.  tools/quant_rms.py compares their round-trip error with
 * ggml's own, tensor by tensor (docs/QUANT.md has the figures).
 * ======================================================================== */

enum {
    GGML_F32 = 0, GGML_F16 = 1, GGML_Q4_0 = 2, GGML_Q4_1 = 3, GGML_Q5_0 = 6, GGML_Q5_1 = 7, GGML_Q8_0 = 8,
    GGML_Q2_K = 10, GGML_Q3_K = 11, GGML_Q4_K = 12, GGML_Q5_K = 13, GGML_Q6_K = 14, GGML_IQ4_NL = 20,
    GGML_IQ4_XS = 23, GGML_BF16 = 30
};
enum { QK = 32, QK_K = 256 };   /* values per block: the small types, the K types */
#define GROUP_MAX_EPS 1e-15f    /* a group whose largest |x| is below this is all zero */

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* f16 and bf16 to f32: rwkvx.h's rwkvx__f16_to_f32 / rwkvx__bf16_to_f32. */

/* Round to nearest, ties to even; overflow gives inf, NaN stays a quiet NaN. */
static uint16_t f32_to_f16(float f)
{
    uint32_t x = f32_bits(f), sign = (x >> 16) & 0x8000, exp = (x >> 23) & 0xff, man = x & 0x7fffff;
    int e = (int)exp - 127 + 15;
    uint32_t h, rem;
    if (exp == 0xff)
        return (uint16_t)(sign | 0x7c00 | (man ? 0x200 | (man >> 13) : 0));
    if (e >= 0x1f)
        return (uint16_t)(sign | 0x7c00);
    if (e <= 0) {
        /* Subnormal half: value = man24 * 2^(exp-150), unit 2^-24. */
        uint32_t shift = (uint32_t)(14 - e), half_way;
        if (e < -10)
            return (uint16_t)sign;
        man |= 0x800000;
        h = man >> shift;
        rem = man & ((1u << shift) - 1);
        half_way = 1u << (shift - 1);
        if (rem > half_way || (rem == half_way && (h & 1)))
            h++;
        return (uint16_t)(sign | h);
    }
    h = ((uint32_t)e << 10) | (man >> 13);
    rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++; /* a carry into the exponent is the correct rounding, up to inf */
    return (uint16_t)(sign | h);
}

static uint16_t f32_to_bf16(float f)
{
    uint32_t x = f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

/* Source bytes (little-endian) -> f32, exact for all three source types. */
static void src_to_f32(cv_dtype dtype, const unsigned char *src, uint64_t n, float *dst)
{
    uint64_t i;
    switch (dtype) {
    case SRC_BF16:
        for (i = 0; i < n; i++)
            dst[i] = rwkvx__bf16_to_f32(rd16(src + 2 * i));
        break;
    case SRC_F16:
        for (i = 0; i < n; i++)
            dst[i] = rwkvx__f16_to_f32(rd16(src + 2 * i));
        break;
    case SRC_F32:
        for (i = 0; i < n; i++)
            dst[i] = f32_from_bits(rd32(src + 4 * i));
        break;
    }
}

static void put16(unsigned char *p, uint16_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

/* --- helpers shared by the quantisers --- */

/* Nearest integer, ties to even (ggml's nearest_int).  Out-of-range and NaN
 * arguments, which only hostile data produce, are clamped instead of being
 * undefined behaviour. */
static int nearest_int(float x)
{
    if (!(x > -4194303.0f))
        return x == x ? -4194303 : 0;
    if (x > 4194303.0f)
        return 4194303;
    return (int)lrintf(x);
}

static int clamp_int(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* (int)v for a level computed as x * id + offset, kept inside [0, top]: the
 * truncating conversion of ggml's 32-value quantisers, defined for any v. */
static int trunc_level(float v, int top)
{
    if (!(v > 0.0f))
        return 0;
    return v >= (float)top ? top : (int)v;
}

/* The value of largest magnitude (the first of equals), and that magnitude. */
static float signed_absmax(const float *x, int n, float *amax)
{
    float max = 0.0f;
    int i;
    *amax = 0.0f;
    for (i = 0; i < n; i++)
        if (fabsf(x[i]) > *amax) {
            *amax = fabsf(x[i]);
            max = x[i];
        }
    return max;
}

/* Packs 32 levels of 0..15 as ggml's 32-value types do: byte j holds value j
 * in its low nibble and value j + 16 in its high nibble. */
static void pack_nibbles32(const uint8_t *l, unsigned char *qs)
{
    int j;
    for (j = 0; j < 16; j++)
        qs[j] = (unsigned char)((l[j] & 15) | (l[j + 16] & 15) << 4);
}

/* The fifth bits of 32 levels of 0..31 (bit j of value j), little-endian. */
static void pack_high_bits32(const uint8_t *l, unsigned char *qh)
{
    uint32_t h = 0;
    int j;
    for (j = 0; j < 32; j++)
        h |= (uint32_t)((l[j] >> 4) & 1) << j;
    put32(qh, h);
}

/* --- the 32-value types --- */

/* Symmetric: d = max / -(levels / 2), value = (q - levels / 2) * d, where max
 * is the value of largest magnitude (so it maps to level 0 exactly). */
static void quantize_symmetric32(const float *x, int levels, unsigned char *d_out, uint8_t *l)
{
    float amax, max = signed_absmax(x, QK, &amax);
    float d = max / -(float)(levels / 2), id = d != 0.0f ? 1.0f / d : 0.0f;
    int j;
    put16(d_out, f32_to_f16(d));
    for (j = 0; j < QK; j++)
        l[j] = (uint8_t)trunc_level(x[j] * id + ((float)(levels / 2) + 0.5f), levels - 1);
}

/* Affine: d = (max - min) / (levels - 1), value = q * d + min. */
static void quantize_affine32(const float *x, int levels, unsigned char *dm_out, uint8_t *l)
{
    float min = x[0], max = x[0], d, id;
    int j;
    for (j = 1; j < QK; j++) {
        if (x[j] < min)
            min = x[j];
        if (x[j] > max)
            max = x[j];
    }
    d = (max - min) / (float)(levels - 1);
    id = d != 0.0f ? 1.0f / d : 0.0f;
    put16(dm_out, f32_to_f16(d));
    put16(dm_out + 2, f32_to_f16(min));
    for (j = 0; j < QK; j++)
        l[j] = (uint8_t)trunc_level((x[j] - min) * id + 0.5f, levels - 1);
}

static void quantize_q4_0(const float *x, unsigned char *b)
{
    uint8_t l[QK];
    quantize_symmetric32(x, 16, b, l);
    pack_nibbles32(l, b + 2);
}

static void quantize_q4_1(const float *x, unsigned char *b)
{
    uint8_t l[QK];
    quantize_affine32(x, 16, b, l);
    pack_nibbles32(l, b + 4);
}

static void quantize_q5_0(const float *x, unsigned char *b)
{
    uint8_t l[QK];
    quantize_symmetric32(x, 32, b, l);
    pack_high_bits32(l, b + 2);
    pack_nibbles32(l, b + 6);
}

static void quantize_q5_1(const float *x, unsigned char *b)
{
    uint8_t l[QK];
    quantize_affine32(x, 32, b, l);
    pack_high_bits32(l, b + 4);
    pack_nibbles32(l, b + 8);
}

/* d = max|x| / 127, q = round(x / d) (half away from zero, as ggml). */
static void quantize_q8_0(const float *x, unsigned char *b)
{
    float amax, d, id;
    int j;
    signed_absmax(x, QK, &amax);
    d = amax / 127.0f;
    id = d != 0.0f ? 1.0f / d : 0.0f;
    put16(b, f32_to_f16(d));
    for (j = 0; j < QK; j++) {
        /* 1 / d overflows when d is subnormal: divide instead.  Either way
         * |q| <= 127 up to rounding; the clamp keeps the cast defined. */
        float q = isfinite(id) ? roundf(x[j] * id) : roundf(x[j] / d);
        b[2 + j] = (unsigned char)(int8_t)(q > 127.0f ? 127.0f : q < -127.0f ? -127.0f : q);
    }
}

/* The 16 non-uniform levels of IQ4_NL and IQ4_XS. */
static const int8_t iq4_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* Index of the level nearest to v (the lower one on a tie). */
static int iq4_nearest(float v)
{
    int lo = 0, hi = 15;
    if (!(v > iq4_levels[0]))
        return 0;
    if (v >= iq4_levels[15])
        return 15;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (v < iq4_levels[mid])
            hi = mid;
        else
            lo = mid;
    }
    return v - iq4_levels[hi - 1] < iq4_levels[hi] - v ? hi - 1 : hi;
}

/* The scale of one group of 32 for the IQ4 levels: try 15 scales around
 * max / -127 and keep the least-squares one with the smallest x^2-weighted
 * error.  Returns 0 for a group that is all (nearly) zero. */
static float iq4_group_scale(const float *x)
{
    float amax, max = signed_absmax(x, QK, &amax), d, id, sumqx = 0.0f, sumq2 = 0.0f, best;
    int j, t;
    if (amax < GROUP_MAX_EPS)
        return 0.0f;
    d = max / 127.0f; /* -max / levels[0] */
    id = 1.0f / d;
    for (j = 0; j < QK; j++) {
        float q = iq4_levels[iq4_nearest(id * x[j])], w = x[j] * x[j];
        sumqx += w * q * x[j];
        sumq2 += w * q * q;
    }
    d = sumqx / sumq2;
    best = d * sumqx;
    for (t = -7; t <= 7; t++) {
        id = ((float)t + iq4_levels[0]) / max;
        sumqx = sumq2 = 0.0f;
        for (j = 0; j < QK; j++) {
            float q = iq4_levels[iq4_nearest(id * x[j])], w = x[j] * x[j];
            sumqx += w * q * x[j];
            sumq2 += w * q * q;
        }
        if (sumq2 > 0.0f && sumqx * sumqx > best * sumq2) {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    return d;
}

/* Levels of 32 values for the group scale d (index of the level of x / d). */
static void iq4_levels32(const float *x, float d, uint8_t *l)
{
    float id = d != 0.0f ? 1.0f / d : 0.0f;
    int j;
    for (j = 0; j < QK; j++)
        l[j] = (uint8_t)iq4_nearest(id * x[j]);
}

static void quantize_iq4_nl(const float *x, unsigned char *b)
{
    uint8_t l[QK];
    float d = iq4_group_scale(x);
    put16(b, f32_to_f16(d));
    iq4_levels32(x, d, l);
    pack_nibbles32(l, b + 2);
}

/* IQ4_XS: eight groups of 32 with 6-bit group scales (offset 32) under one
 * f16 super-block scale d = -max_scale / 32. */
static void quantize_iq4_xs(const float *x, unsigned char *b)
{
    float scales[8], max_scale = 0.0f, amax_scale = 0.0f, d, id;
    uint16_t scales_h = 0;
    uint8_t l[QK];
    int g;
    for (g = 0; g < 8; g++) {
        scales[g] = iq4_group_scale(x + QK * g);
        if (fabsf(scales[g]) > amax_scale) {
            amax_scale = fabsf(scales[g]);
            max_scale = scales[g];
        }
    }
    d = -max_scale / 32.0f;
    put16(b, f32_to_f16(d));
    id = d != 0.0f ? 1.0f / d : 0.0f;
    memset(b + 4, 0, 4);
    for (g = 0; g < 8; g++) {
        int ls = clamp_int(nearest_int(id * scales[g]), -32, 31);
        iq4_levels32(x + QK * g, d * (float)ls, l);
        pack_nibbles32(l, b + 8 + 16 * g);
        ls += 32;
        b[4 + g / 2] |= (unsigned char)((ls & 15) << (4 * (g % 2)));
        scales_h |= (uint16_t)((ls >> 4) << (2 * g));
    }
    put16(b + 2, scales_h);
}

/* --- the K types: super-blocks of 256 in groups of 16 or 32 --- */

/* ggml's make_qkx2_quants: levels 0..nmax with a scale and a minimum (min
 * <= 0) for one group, fitted by weighted least squares over nstep + 1
 * candidate scales; L gets the levels, *neg_min the minimum negated.  The
 * error is weighted |diff| (use_mad) or diff^2. */
static float fit_scale_min(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *neg_min,
                           uint8_t *Laux, float rmin, float rdelta, int nstep, int use_mad)
{
    float min = x[0], max = x[0], sum_w = weights[0], sum_x = sum_w * x[0], iscale, scale, best_error = 0.0f;
    int i, is;
    for (i = 1; i < n; i++) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if (min > 0.0f)
        min = 0.0f;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.0f;
    }
    iscale = (float)nmax / (max - min);
    scale = 1.0f / iscale;
    for (i = 0; i < n; i++) {
        float diff;
        L[i] = (uint8_t)clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
        diff = scale * L[i] + min - x[i];
        best_error += weights[i] * (use_mad ? fabsf(diff) : diff * diff);
    }
    for (is = 0; is <= nstep; is++) {
        float sum_l = 0.0f, sum_l2 = 0.0f, sum_xl = 0.0f, D;
        iscale = (rmin + rdelta * (float)is + (float)nmax) / (max - min);
        for (i = 0; i < n; i++) {
            int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sum_l += weights[i] * (float)l;
            sum_l2 += weights[i] * (float)l * (float)l;
            sum_xl += weights[i] * (float)l * x[i];
        }
        D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0.0f) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D, error = 0.0f;
            if (this_min > 0.0f) {
                this_min = 0.0f;
                this_scale = sum_xl / sum_l2;
            }
            for (i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                error += weights[i] * (use_mad ? fabsf(diff) : diff * diff);
            }
            if (error < best_error) {
                memcpy(L, Laux, (size_t)n);
                best_error = error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *neg_min = -min;
    return scale;
}

/* Symmetric levels round(iscale * x) in -nmax..nmax-1 of n <= 32 values,
 * with the x^2-weighted sums of x * l and l^2 (the symmetric fits' trials). */
static void symmetric_levels(int n, int nmax, const float *x, float iscale, int8_t *l8, float *sumlx, float *suml2)
{
    int i;
    *sumlx = *suml2 = 0.0f;
    for (i = 0; i < n; i++) {
        int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        float w = x[i] * x[i];
        l8[i] = (int8_t)l;
        *sumlx += w * x[i] * (float)l;
        *suml2 += w * (float)l * (float)l;
    }
}

/* ggml's make_q3_quants (with its error-reducing passes): symmetric levels
 * -nmax..nmax-1 for one group, stored with +nmax in L; returns the scale. */
static float fit_scale_q3(int n, int nmax, const float *x, uint8_t *L)
{
    int8_t l8[32];
    float amax, max = signed_absmax(x, n, &amax), sumlx, suml2;
    int i, pass;
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    symmetric_levels(n, nmax, x, -(float)nmax / max, l8, &sumlx, &suml2);
    for (pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (i = 0; i < n; i++) {
            float w = x[i] * x[i], slx = sumlx - w * x[i] * l8[i];
            if (slx > 0.0f) {
                float sl2 = suml2 - w * (float)l8[i] * (float)l8[i];
                int new_l = clamp_int(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != l8[i]) {
                    slx += w * x[i] * (float)new_l;
                    sl2 += w * (float)new_l * (float)new_l;
                    if (sl2 > 0.0f && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        l8[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed)
            break;
    }
    for (i = 0; i < n; i++)
        L[i] = (uint8_t)(l8[i] + nmax);
    return sumlx / suml2;
}

/* ggml's make_qx_quants with x^2 weights (rmse_type 1): symmetric levels
 * -nmax..nmax-1 stored with +nmax, best of 19 candidate scales. */
static float fit_scale_symmetric(int n, int nmax, const float *x, uint8_t *L)
{
    int8_t l8[32];
    float amax, max = signed_absmax(x, n, &amax), sumlx, suml2, scale, best;
    int i, is;
    if (amax < GROUP_MAX_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    symmetric_levels(n, nmax, x, -(float)nmax / max, l8, &sumlx, &suml2);
    for (i = 0; i < n; i++)
        L[i] = (uint8_t)(l8[i] + nmax);
    scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    best = scale * sumlx;
    for (is = -9; is <= 9; is++) {
        if (is == 0)
            continue;
        symmetric_levels(n, nmax, x, -((float)nmax + 0.1f * (float)is) / max, l8, &sumlx, &suml2);
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            for (i = 0; i < n; i++)
                L[i] = (uint8_t)(l8[i] + nmax);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Levels 0..top of n values for a group stored as value = d * l - dm. */
static void requantize_affine(const float *x, int n, float d, float dm, int top, uint8_t *L)
{
    int i;
    if (d == 0.0f)
        return; /* keep the levels of the fit: they multiply a zero scale */
    for (i = 0; i < n; i++)
        L[i] = (uint8_t)clamp_int(nearest_int((x[i] + dm) / d), 0, top);
}

/* Levels -lo..hi of n values stored with +lo for a group value = d * l. */
static void requantize_symmetric(const float *x, int n, float d, int lo, int hi, uint8_t *L)
{
    int i;
    if (d == 0.0f)
        return;
    for (i = 0; i < n; i++)
        L[i] = (uint8_t)(clamp_int(nearest_int(x[i] / d), -lo, hi) + lo);
}

/* A group's scale (or minimum) v as a level 0..top of the super-block's
 * largest, max (Q2_K's 4-bit and Q4_K/Q5_K's 6-bit group scales). */
static int scale_level(float v, float max, int top)
{
    return max > 0.0f ? clamp_int(nearest_int((float)top / max * v), 0, top) : 0;
}

/* Four 2-bit levels per byte: byte l of each 128-value half holds values
 * l, l + 32, l + 64, l + 96 (Q2_K, and the low bits of Q3_K). */
static void pack_2bit_k(const uint8_t *L, unsigned char *qs)
{
    int h, l;
    for (h = 0; h < QK_K; h += 128)
        for (l = 0; l < 32; l++)
            qs[h / 4 + l] = (unsigned char)((L[h + l] & 3) | (L[h + l + 32] & 3) << 2 | (L[h + l + 64] & 3) << 4 |
                                            (L[h + l + 96] & 3) << 6);
}

/* Q2_K: 16 groups of 16, levels 0..3, 4-bit scale and 4-bit minimum per
 * group under the f16 super-scales d and dmin.  Layout: scales[16] (low
 * nibble scale, high nibble minimum), qs[64], d, dmin. */
static void quantize_q2_k(const float *x, unsigned char *b)
{
    uint8_t L[QK_K], Laux[16];
    float weights[16], mins[16], scales[16], max_scale = 0.0f, max_min = 0.0f, d, dmin;
    int j, i;
    for (j = 0; j < 16; j++) {
        for (i = 0; i < 16; i++)
            weights[i] = fabsf(x[16 * j + i]);
        scales[j] = fit_scale_min(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 1);
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }
    for (j = 0; j < 16; j++) {
        b[j] = (unsigned char)(scale_level(scales[j], max_scale, 15) | scale_level(mins[j], max_min, 15) << 4);
    }
    put16(b + 80, max_scale > 0.0f ? f32_to_f16(max_scale / 15.0f) : 0);
    put16(b + 82, max_min > 0.0f ? f32_to_f16(max_min / 15.0f) : 0);
    d = rwkvx__f16_to_f32(rd16(b + 80));
    dmin = rwkvx__f16_to_f32(rd16(b + 82));
    for (j = 0; j < 16; j++)
        requantize_affine(x + 16 * j, 16, d * (float)(b[j] & 15), dmin * (float)(b[j] >> 4), 3, L + 16 * j);
    pack_2bit_k(L, b + 16);
}

/* Q3_K: 16 groups of 16, levels -4..3, 6-bit signed group scales (offset
 * 32) under one f16 scale.  Layout: hmask[32] (bit 2 of the level + 4: bit
 * k of byte m for value 32 k + m), qs[64] (low 2 bits), scales[12], d. */
static void quantize_q3_k(const float *x, unsigned char *b)
{
    uint8_t L[QK_K];
    float scales[16], amax = 0.0f, max_scale = 0.0f, d;
    int j;
    for (j = 0; j < 16; j++) {
        scales[j] = fit_scale_q3(16, 4, x + 16 * j, L + 16 * j);
        if (fabsf(scales[j]) > amax) {
            amax = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    memset(b, 0, 110);
    if (max_scale != 0.0f) {
        float iscale = -32.0f / max_scale;
        for (j = 0; j < 16; j++) {
            int l = clamp_int(nearest_int(iscale * scales[j]), -32, 31) + 32;
            b[96 + j % 8] |= (unsigned char)((l & 15) << (4 * (j / 8)));
            b[96 + 8 + j % 4] |= (unsigned char)((l >> 4) << (2 * (j / 4)));
        }
        put16(b + 108, f32_to_f16(1.0f / iscale));
    }
    d = rwkvx__f16_to_f32(rd16(b + 108));
    for (j = 0; j < 16; j++) {
        int sc = (b[96 + j % 8] >> (4 * (j / 8)) & 15) | ((b[104 + j % 4] >> (2 * (j / 4)) & 3) << 4);
        requantize_symmetric(x + 16 * j, 16, d * (float)(sc - 32), 4, 3, L + 16 * j);
    }
    for (j = 0; j < QK_K; j++)
        if (L[j] > 3) {
            b[j % 32] |= (unsigned char)(1 << (j / 32));
            L[j] -= 4;
        }
    pack_2bit_k(L, b + 32);
}

/* The 6-bit scale and minimum of group j (of 8) in Q4_K's and Q5_K's 12
 * scale bytes: groups 0-3 in the low 6 bits of bytes j and j + 4, groups 4-7
 * in the nibbles of byte j + 4 and the top 2 bits of bytes j - 4 and j. */
static void k4_scale_min(const unsigned char *s, int j, int *sc, int *m)
{
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

static void k4_pack_scale_min(unsigned char *s, int j, int sc, int m)
{
    if (j < 4) {
        s[j] = (unsigned char)sc;
        s[j + 4] = (unsigned char)m;
    } else {
        s[j + 4] = (unsigned char)((sc & 15) | (m & 15) << 4);
        s[j - 4] |= (unsigned char)((sc >> 4) << 6);
        s[j] |= (unsigned char)((m >> 4) << 6);
    }
}

/* Q4_K and Q5_K: 8 groups of 32, levels 0..top, 6-bit scales and minimums
 * under f16 d and dmin (bytes 0..3), the 12 scale bytes at 4; L gets the
 * levels.  The fit weights are |x| + the group's RMS, as in ggml. */
static void quantize_k_scale_min(const float *x, int top, float rmin, int nstep, unsigned char *b, uint8_t *L)
{
    uint8_t Laux[32];
    float weights[32], mins[8], scales[8], max_scale = 0.0f, max_min = 0.0f, d, dmin;
    int j, i;
    for (j = 0; j < 8; j++) {
        const float *xg = x + 32 * j;
        float sum_x2 = 0.0f, av_x;
        for (i = 0; i < 32; i++)
            sum_x2 += xg[i] * xg[i];
        av_x = sqrtf(sum_x2 / 32.0f);
        for (i = 0; i < 32; i++)
            weights[i] = av_x + fabsf(xg[i]);
        scales[j] = fit_scale_min(32, top, xg, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale)
            max_scale = scales[j];
        if (mins[j] > max_min)
            max_min = mins[j];
    }
    for (j = 0; j < 8; j++) {
        k4_pack_scale_min(b + 4, j, scale_level(scales[j], max_scale, 63), scale_level(mins[j], max_min, 63));
    }
    put16(b, f32_to_f16(max_scale / 63.0f));
    put16(b + 2, f32_to_f16(max_min / 63.0f));
    d = rwkvx__f16_to_f32(rd16(b));
    dmin = rwkvx__f16_to_f32(rd16(b + 2));
    for (j = 0; j < 8; j++) {
        int sc, m;
        k4_scale_min(b + 4, j, &sc, &m);
        requantize_affine(x + 32 * j, 32, d * (float)sc, dmin * (float)m, top, L + 32 * j);
    }
}

/* Q4_K layout: d, dmin, scales[12], qs[128] (byte l of each 64-value
 * quarter: value l in the low nibble, value l + 32 in the high one). */
static void quantize_q4_k(const float *x, unsigned char *b)
{
    uint8_t L[QK_K];
    int q, l;
    quantize_k_scale_min(x, 15, -1.0f, 20, b, L);
    for (q = 0; q < QK_K; q += 64)
        for (l = 0; l < 32; l++)
            b[16 + q / 2 + l] = (unsigned char)(L[q + l] | L[q + l + 32] << 4);
}

/* Q5_K layout: d, dmin, scales[12], qh[32] (bits 2k and 2k+1 of byte l: the
 * fifth bits of values 64k + l and 64k + l + 32), qs[128] as Q4_K's. */
static void quantize_q5_k(const float *x, unsigned char *b)
{
    uint8_t L[QK_K];
    int q, l;
    quantize_k_scale_min(x, 31, -0.5f, 15, b, L);
    memset(b + 16, 0, 32);
    for (q = 0; q < QK_K; q += 64)
        for (l = 0; l < 32; l++) {
            uint8_t lo = L[q + l], hi = L[q + l + 32];
            b[16 + l] |= (unsigned char)((lo >> 4) << (q / 32) | (hi >> 4) << (q / 32 + 1));
            b[48 + q / 2 + l] = (unsigned char)((lo & 15) | (hi & 15) << 4);
        }
}

/* Q6_K: 16 groups of 16, levels -32..31, int8 group scales under one f16
 * scale.  Layout: ql[128], qh[64], scales[16], d; in each 128-value half, ql
 * byte l holds the low nibbles of values l (low) and l + 64 (high), byte l +
 * 32 those of l + 32 and l + 96, and qh byte l their top 2 bits in order. */
static void quantize_q6_k(const float *x, unsigned char *b)
{
    uint8_t L[QK_K];
    float scales[16], max_scale = 0.0f, amax = 0.0f, iscale, d;
    int j, h, l;
    for (j = 0; j < 16; j++) {
        scales[j] = fit_scale_symmetric(16, 32, x + 16 * j, L + 16 * j);
        if (fabsf(scales[j]) > amax) {
            amax = fabsf(scales[j]);
            max_scale = scales[j];
        }
    }
    memset(b, 0, 210);
    if (amax < GROUP_MAX_EPS)
        return;
    iscale = -128.0f / max_scale;
    put16(b + 208, f32_to_f16(1.0f / iscale));
    d = rwkvx__f16_to_f32(rd16(b + 208));
    for (j = 0; j < 16; j++) {
        int sc = nearest_int(iscale * scales[j]);
        b[192 + j] = (unsigned char)(int8_t)clamp_int(sc, -128, 127);
        requantize_symmetric(x + 16 * j, 16, d * (float)(int8_t)b[192 + j], 32, 31, L + 16 * j);
    }
    for (h = 0; h < QK_K; h += 128) {
        unsigned char *ql = b + h / 2, *qh = b + 128 + h / 4;
        const uint8_t *Lh = L + h;
        for (l = 0; l < 32; l++) {
            ql[l] = (unsigned char)((Lh[l] & 15) | (Lh[l + 64] & 15) << 4);
            ql[l + 32] = (unsigned char)((Lh[l + 32] & 15) | (Lh[l + 96] & 15) << 4);
            qh[l] = (unsigned char)((Lh[l] >> 4) | (Lh[l + 32] >> 4) << 2 | (Lh[l + 64] >> 4) << 4 |
                                    (Lh[l + 96] >> 4) << 6);
        }
    }
}

/* --- dequantisation, as ggml's dequantize_row_* --- */

static void unpack_nibbles32(const unsigned char *qs, int *l)
{
    int j;
    for (j = 0; j < 16; j++) {
        l[j] = qs[j] & 15;
        l[j + 16] = qs[j] >> 4;
    }
}

static void dequantize_q4_0(const unsigned char *b, float *y)
{
    float d = rwkvx__f16_to_f32(rd16(b));
    int l[QK], j;
    unpack_nibbles32(b + 2, l);
    for (j = 0; j < QK; j++)
        y[j] = (float)(l[j] - 8) * d;
}

static void dequantize_q4_1(const unsigned char *b, float *y)
{
    float d = rwkvx__f16_to_f32(rd16(b)), m = rwkvx__f16_to_f32(rd16(b + 2));
    int l[QK], j;
    unpack_nibbles32(b + 4, l);
    for (j = 0; j < QK; j++)
        y[j] = (float)l[j] * d + m;
}

static void dequantize_q5_0(const unsigned char *b, float *y)
{
    float d = rwkvx__f16_to_f32(rd16(b));
    uint32_t qh = rd32(b + 2);
    int l[QK], j;
    unpack_nibbles32(b + 6, l);
    for (j = 0; j < QK; j++)
        y[j] = (float)((l[j] | (int)((qh >> j) & 1) << 4) - 16) * d;
}

static void dequantize_q5_1(const unsigned char *b, float *y)
{
    float d = rwkvx__f16_to_f32(rd16(b)), m = rwkvx__f16_to_f32(rd16(b + 2));
    uint32_t qh = rd32(b + 4);
    int l[QK], j;
    unpack_nibbles32(b + 8, l);
    for (j = 0; j < QK; j++)
        y[j] = (float)(l[j] | (int)((qh >> j) & 1) << 4) * d + m;
}

static void dequantize_q8_0(const unsigned char *b, float *y)
{
    float d = rwkvx__f16_to_f32(rd16(b));
    int j;
    for (j = 0; j < QK; j++)
        y[j] = (float)(int8_t)b[2 + j] * d;
}

static void dequantize_iq4_nl(const unsigned char *b, float *y)
{
    float d = rwkvx__f16_to_f32(rd16(b));
    int l[QK], j;
    unpack_nibbles32(b + 2, l);
    for (j = 0; j < QK; j++)
        y[j] = d * (float)iq4_levels[l[j]];
}

static void dequantize_iq4_xs(const unsigned char *b, float *y)
{
    float d = rwkvx__f16_to_f32(rd16(b));
    uint16_t scales_h = rd16(b + 2);
    int g, j, l[QK];
    for (g = 0; g < 8; g++) {
        int ls = ((b[4 + g / 2] >> (4 * (g % 2))) & 15) | ((scales_h >> (2 * g)) & 3) << 4;
        float dl = d * (float)(ls - 32);
        unpack_nibbles32(b + 8 + 16 * g, l);
        for (j = 0; j < QK; j++)
            y[QK * g + j] = dl * (float)iq4_levels[l[j]];
    }
}

static void dequantize_q2_k(const unsigned char *b, float *y)
{
    float d = rwkvx__f16_to_f32(rd16(b + 80)), dmin = rwkvx__f16_to_f32(rd16(b + 82));
    int i;
    for (i = 0; i < QK_K; i++) {
        int h = i / 128, k = i % 128 / 32, l = i % 32, g = i / 16;
        int q = b[16 + 32 * h + l] >> (2 * k) & 3;
        y[i] = d * (float)(b[g] & 15) * (float)q - dmin * (float)(b[g] >> 4);
    }
}

static void dequantize_q3_k(const unsigned char *b, float *y)
{
    float d = rwkvx__f16_to_f32(rd16(b + 108));
    int i;
    for (i = 0; i < QK_K; i++) {
        int h = i / 128, k = i % 128 / 32, l = i % 32, g = i / 16;
        int sc = (b[96 + g % 8] >> (4 * (g / 8)) & 15) | ((b[104 + g % 4] >> (2 * (g / 4)) & 3) << 4);
        int q = (b[32 + 32 * h + l] >> (2 * k) & 3) - ((b[l] >> (i / 32) & 1) ? 0 : 4);
        y[i] = d * (float)(sc - 32) * (float)q;
    }
}

static void dequantize_q4_k(const unsigned char *b, float *y)
{
    float d = rwkvx__f16_to_f32(rd16(b)), dmin = rwkvx__f16_to_f32(rd16(b + 2));
    int i;
    for (i = 0; i < QK_K; i++) {
        int sc, m, q = b[16 + i / 64 * 32 + i % 32] >> (4 * (i / 32 % 2)) & 15;
        k4_scale_min(b + 4, i / 32, &sc, &m);
        y[i] = d * (float)sc * (float)q - dmin * (float)m;
    }
}

static void dequantize_q5_k(const unsigned char *b, float *y)
{
    float d = rwkvx__f16_to_f32(rd16(b)), dmin = rwkvx__f16_to_f32(rd16(b + 2));
    int i;
    for (i = 0; i < QK_K; i++) {
        int sc, m, q = (b[48 + i / 64 * 32 + i % 32] >> (4 * (i / 32 % 2)) & 15) | (b[16 + i % 32] >> (i / 32) & 1) << 4;
        k4_scale_min(b + 4, i / 32, &sc, &m);
        y[i] = d * (float)sc * (float)q - dmin * (float)m;
    }
}

static void dequantize_q6_k(const unsigned char *b, float *y)
{
    float d = rwkvx__f16_to_f32(rd16(b + 208));
    int i;
    for (i = 0; i < QK_K; i++) {
        int h = i / 128, k = i % 128 / 32, l = i % 32;
        int lo = b[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2)) & 15, hi = b[128 + 32 * h + l] >> (2 * k) & 3;
        y[i] = d * (float)(int8_t)b[192 + i / 16] * (float)((lo | hi << 4) - 32);
    }
}

/* --- the table of types --- */

typedef void (*cv_quantize_fn)(const float *x, unsigned char *block);
typedef void (*cv_dequantize_fn)(const unsigned char *block, float *y);

typedef struct {
    int id;                       /* ggml's number */
    const char *name, *label;     /* for options ("q4_k"), for messages ("Q4_K") */
    uint32_t block, bytes;        /* values per block, bytes per block */
    int scale_at[2];              /* byte offsets of the block's f16 scales, -1: none */
    int fallback;                 /* llama.cpp's type for rows not a multiple of block, -1: none */
    cv_quantize_fn quantize;      /* NULL for the float types */
    cv_dequantize_fn dequantize;
} cv_type;

/* The fallbacks are llama.cpp's (llama_tensor_get_type): the K types and
 * IQ4_XS go to a 32-value type of about the same size; a row that is not a
 * multiple of 32 either is stored as F16. */
static const cv_type cv_types[] = {
    {GGML_F32, "f32", "F32", 1, 4, {-1, -1}, -1, NULL, NULL},
    {GGML_F16, "f16", "F16", 1, 2, {-1, -1}, -1, NULL, NULL},
    {GGML_BF16, "bf16", "BF16", 1, 2, {-1, -1}, -1, NULL, NULL},
    {GGML_Q4_0, "q4_0", "Q4_0", QK, 18, {0, -1}, GGML_F16, quantize_q4_0, dequantize_q4_0},
    {GGML_Q4_1, "q4_1", "Q4_1", QK, 20, {0, 2}, GGML_F16, quantize_q4_1, dequantize_q4_1},
    {GGML_Q5_0, "q5_0", "Q5_0", QK, 22, {0, -1}, GGML_F16, quantize_q5_0, dequantize_q5_0},
    {GGML_Q5_1, "q5_1", "Q5_1", QK, 24, {0, 2}, GGML_F16, quantize_q5_1, dequantize_q5_1},
    {GGML_Q8_0, "q8_0", "Q8_0", QK, 34, {0, -1}, GGML_F16, quantize_q8_0, dequantize_q8_0},
    {GGML_Q2_K, "q2_k", "Q2_K", QK_K, 84, {80, 82}, GGML_IQ4_NL, quantize_q2_k, dequantize_q2_k},
    {GGML_Q3_K, "q3_k", "Q3_K", QK_K, 110, {108, -1}, GGML_IQ4_NL, quantize_q3_k, dequantize_q3_k},
    {GGML_Q4_K, "q4_k", "Q4_K", QK_K, 144, {0, 2}, GGML_Q5_0, quantize_q4_k, dequantize_q4_k},
    {GGML_Q5_K, "q5_k", "Q5_K", QK_K, 176, {0, 2}, GGML_Q5_1, quantize_q5_k, dequantize_q5_k},
    {GGML_Q6_K, "q6_k", "Q6_K", QK_K, 210, {208, -1}, GGML_Q8_0, quantize_q6_k, dequantize_q6_k},
    {GGML_IQ4_NL, "iq4_nl", "IQ4_NL", QK, 18, {0, -1}, GGML_F16, quantize_iq4_nl, dequantize_iq4_nl},
    {GGML_IQ4_XS, "iq4_xs", "IQ4_XS", QK_K, 136, {0, -1}, GGML_IQ4_NL, quantize_iq4_xs, dequantize_iq4_xs},
};
#define CV_N_TYPES (sizeof cv_types / sizeof cv_types[0])

/* The type with ggml number id, or NULL. */
static const cv_type *type_info(int id)
{
    size_t i;
    for (i = 0; i < CV_N_TYPES; i++)
        if (cv_types[i].id == id)
            return &cv_types[i];
    return NULL;
}

/* Type names in any case: ggml and llama.cpp's tools write Q4_K_M, BF16 */
static int type_name_is(const char *name, const char *canonical)
{
    for (; *name && *canonical; name++, canonical++)
        if ((*name >= 'A' && *name <= 'Z' ? *name - 'A' + 'a' : *name) != *canonical)
            return 0;
    return *name == *canonical;
}

static const cv_type *type_by_name(const char *name)
{
    size_t i;
    for (i = 0; i < CV_N_TYPES; i++)
        if (type_name_is(name, cv_types[i].name))
            return &cv_types[i];
    return NULL;
}

static const char *ggml_type_name(int type)
{
    const cv_type *t = type_info(type);
    return t ? t->name : "?";
}

/* Bytes a tensor of n elements (a multiple of the type's block) takes. */
static uint64_t ggml_bytes(int type, uint64_t n)
{
    const cv_type *t = type_info(type);
    return n / t->block * t->bytes;
}

/* Encodes n f32 values (n a multiple of the type's block) into dst. */
static void encode_f32(int type, const float *x, uint64_t n, unsigned char *dst)
{
    const cv_type *t = type_info(type);
    uint64_t i;
    switch (type) {
    case GGML_F32:
        for (i = 0; i < n; i++)
            put32(dst + 4 * i, f32_bits(x[i]));
        break;
    case GGML_F16:
        for (i = 0; i < n; i++)
            put16(dst + 2 * i, f32_to_f16(x[i]));
        break;
    case GGML_BF16:
        for (i = 0; i < n; i++)
            put16(dst + 2 * i, f32_to_bf16(x[i]));
        break;
    default:
        for (i = 0; i < n / t->block; i++)
            t->quantize(x + i * t->block, dst + i * t->bytes);
        break;
    }
}

/* Decodes n values (a multiple of the type's block) of any type to f32. */
static void decode_to_f32(int type, const unsigned char *src, uint64_t n, float *dst)
{
    const cv_type *t = type_info(type);
    uint64_t i;
    switch (type) {
    case GGML_F32:
        src_to_f32(SRC_F32, src, n, dst);
        break;
    case GGML_F16:
        src_to_f32(SRC_F16, src, n, dst);
        break;
    case GGML_BF16:
        src_to_f32(SRC_BF16, src, n, dst);
        break;
    default:
        for (i = 0; i < n / t->block; i++)
            t->dequantize(src + i * t->bytes, dst + i * t->block);
        break;
    }
}

/* Elements of an encoded run of n values that are NaN or infinite (for a
 * block type, the values of each block with a non-finite f16 scale). */
static uint64_t count_nonfinite(int type, const unsigned char *p, uint64_t n)
{
    const cv_type *t = type_info(type);
    uint64_t i, bad = 0;
    int k;
    switch (type) {
    case GGML_F32:
        for (i = 0; i < n; i++)
            bad += (rd32(p + 4 * i) & 0x7f800000u) == 0x7f800000u;
        break;
    case GGML_F16:
        for (i = 0; i < n; i++)
            bad += (rd16(p + 2 * i) & 0x7c00u) == 0x7c00u;
        break;
    case GGML_BF16:
        for (i = 0; i < n; i++)
            bad += (rd16(p + 2 * i) & 0x7f80u) == 0x7f80u;
        break;
    default:
        for (i = 0; i < n / t->block; i++)
            for (k = 0; k < 2; k++)
                if (t->scale_at[k] >= 0 && (rd16(p + i * t->bytes + (unsigned)t->scale_at[k]) & 0x7c00u) == 0x7c00u) {
                    bad += t->block;
                    break;
                }
        break;
    }
    return bad;
}

/* ========================================================================
 * 9. Model layout: names, shapes, block order
 *
 * Names: RWKV-7 releases use the bare names below; RWKV-X prefixes them with
 * "rwkv." and adds "moba.J.*" sparse blocks.  Every tensor must land in
 * exactly one slot, every required slot must be filled, and every shape must
 * agree with C, V, F, H and the LoRA ranks read from a few defining tensors.
 * What the file holds (names, shapes, order) is rwkvx.h's tensor table
 * (RWKVX__MODEL_TENSORS, ...); the slots below are the checkpoint's names and
 * shapes for its rows.
 * ======================================================================== */

/* The sizes shapes are made of: those of rwkvx.h's tensor table, with the
 * same numbers (mdl->dim[] answers for both), then two that only
 * checkpoints use: r_k is (H, 64) there and [C] in the file. */
typedef enum {
    DIM_1 = RWKVX__DIM_1, DIM_6 = RWKVX__DIM_6, DIM_C = RWKVX__DIM_C, DIM_V = RWKVX__DIM_V, DIM_F = RWKVX__DIM_F,
    DIM_DW = RWKVX__DIM_Dw, DIM_DA = RWKVX__DIM_Da, DIM_DV = RWKVX__DIM_Dv, DIM_DG = RWKVX__DIM_Dg,
    DIM_H = RWKVX__DIM_COUNT, DIM_64, DIM_COUNT
} cv_dim;

#define CV_DIM_NAME(D) #D,
static const char *const cv_dim_name[DIM_COUNT] = {RWKVX__DIMS(CV_DIM_NAME) "H", "64"};
#undef CV_DIM_NAME

/* How a checkpoint tensor becomes (part of) its file tensor: as it is, or
 * transposed (a LoRA factor is stored (in, out): w1 (C, Dw) is written
 * ne [C, Dw], Dw rows of C). */
typedef enum { AS_IS, TRANSPOSED } cv_slot_how;

/* A checkpoint tensor and the row of rwkvx.h's tensor table it fills: the
 * file's name, shape and order come from that table.  A row filled by
 * several slots takes them in slot order: the six x_* of the fused lerp. */
typedef struct {
    const char *src;     /* after "blocks.N." / "moba.J.", or the whole name */
    int row;             /* RWKVX__M_*, RWKVX__R_* or RWKVX__S_* */
    int ndim;
    cv_dim dim[3];       /* its shape in the checkpoint */
    cv_slot_how how;
} cv_slot;

#define VEC_C 1, {DIM_C}, AS_IS
#define MIX_C 3, {DIM_1, DIM_1, DIM_C}, AS_IS

enum { G_EMB, G_LN0_W, G_LN0_B, G_LN_OUT_W, G_LN_OUT_B, G_HEAD, G_N_SLOTS };

static const cv_slot cv_global_slots[G_N_SLOTS] = {
    {"emb.weight", RWKVX__M_EMB, 2, {DIM_V, DIM_C}, AS_IS},
    {"blocks.0.ln0.weight", RWKVX__M_LN0_W, VEC_C},
    {"blocks.0.ln0.bias", RWKVX__M_LN0_B, VEC_C},
    {"ln_out.weight", RWKVX__M_LNOUT_W, VEC_C},
    {"ln_out.bias", RWKVX__M_LNOUT_B, VEC_C},
    {"head.weight", RWKVX__M_HEAD, 2, {DIM_V, DIM_C}, AS_IS},
};

enum {
    R_LN1_W, R_LN1_B, R_LN2_W, R_LN2_B,
    R_X_R, R_X_W, R_X_K, R_X_V, R_X_A, R_X_G,
    R_W0, R_W1, R_W2, R_A0, R_A1, R_A2, R_V0, R_V1, R_V2, R_G1, R_G2,
    R_K_K, R_K_A, R_R_K, R_RECEPTANCE, R_KEY, R_VALUE, R_OUTPUT, R_LNX_W, R_LNX_B,
    R_FFN_X_K, R_FFN_KEY, R_FFN_VALUE, R_N_SLOTS
};

/* In the table's order (the order of the checks, so of their messages). */
static const cv_slot cv_rwkv_slots[R_N_SLOTS] = {
    {"ln1.weight", RWKVX__R_LN1_W, VEC_C},
    {"ln1.bias", RWKVX__R_LN1_B, VEC_C},
    {"ln2.weight", RWKVX__R_LN2_W, VEC_C},
    {"ln2.bias", RWKVX__R_LN2_B, VEC_C},
    {"att.x_r", RWKVX__R_LERP, MIX_C},
    {"att.x_w", RWKVX__R_LERP, MIX_C},
    {"att.x_k", RWKVX__R_LERP, MIX_C},
    {"att.x_v", RWKVX__R_LERP, MIX_C},
    {"att.x_a", RWKVX__R_LERP, MIX_C},
    {"att.x_g", RWKVX__R_LERP, MIX_C},
    {"att.w0", RWKVX__R_W0, MIX_C},
    {"att.w1", RWKVX__R_W1, 2, {DIM_C, DIM_DW}, TRANSPOSED},
    {"att.w2", RWKVX__R_W2, 2, {DIM_DW, DIM_C}, TRANSPOSED},
    {"att.a0", RWKVX__R_A0, MIX_C},
    {"att.a1", RWKVX__R_A1, 2, {DIM_C, DIM_DA}, TRANSPOSED},
    {"att.a2", RWKVX__R_A2, 2, {DIM_DA, DIM_C}, TRANSPOSED},
    {"att.v0", RWKVX__R_V0, MIX_C},
    {"att.v1", RWKVX__R_V1, 2, {DIM_C, DIM_DV}, TRANSPOSED},
    {"att.v2", RWKVX__R_V2, 2, {DIM_DV, DIM_C}, TRANSPOSED},
    {"att.g1", RWKVX__R_G1, 2, {DIM_C, DIM_DG}, TRANSPOSED},
    {"att.g2", RWKVX__R_G2, 2, {DIM_DG, DIM_C}, TRANSPOSED},
    {"att.k_k", RWKVX__R_K_K, MIX_C},
    {"att.k_a", RWKVX__R_K_A, MIX_C},
    {"att.r_k", RWKVX__R_R_K, 2, {DIM_H, DIM_64}, AS_IS},
    {"att.receptance.weight", RWKVX__R_WR, 2, {DIM_C, DIM_C}, AS_IS},
    {"att.key.weight", RWKVX__R_WK, 2, {DIM_C, DIM_C}, AS_IS},
    {"att.value.weight", RWKVX__R_WV, 2, {DIM_C, DIM_C}, AS_IS},
    {"att.output.weight", RWKVX__R_WO, 2, {DIM_C, DIM_C}, AS_IS},
    {"att.ln_x.weight", RWKVX__R_LNX_W, VEC_C},
    {"att.ln_x.bias", RWKVX__R_LNX_B, VEC_C},
    {"ffn.x_k", RWKVX__R_FFN_LERP, MIX_C},
    {"ffn.key.weight", RWKVX__R_FFN_KEY, 2, {DIM_F, DIM_C}, AS_IS},
    {"ffn.value.weight", RWKVX__R_FFN_VALUE, 2, {DIM_C, DIM_F}, AS_IS},
};

enum { S_LN1_W, S_LN1_B, S_LN2_W, S_LN2_B, S_Q, S_K, S_V, S_O, S_FFN_X_K, S_FFN_KEY, S_FFN_VALUE, S_N_SLOTS };

static const cv_slot cv_sparse_slots[S_N_SLOTS] = {
    {"ln1.weight", RWKVX__S_LN1_W, VEC_C},
    {"ln1.bias", RWKVX__S_LN1_B, VEC_C},
    {"ln2.weight", RWKVX__S_LN2_W, VEC_C},
    {"ln2.bias", RWKVX__S_LN2_B, VEC_C},
    {"att.receptance.weight", RWKVX__S_WQ, 2, {DIM_C, DIM_C}, AS_IS},
    {"att.key.weight", RWKVX__S_WK, 2, {DIM_C, DIM_C}, AS_IS},
    {"att.value.weight", RWKVX__S_WV, 2, {DIM_C, DIM_C}, AS_IS},
    {"att.output.weight", RWKVX__S_WO, 2, {DIM_C, DIM_C}, AS_IS},
    {"ffn.x_k", RWKVX__S_FFN_LERP, MIX_C},
    {"ffn.key.weight", RWKVX__S_FFN_KEY, 2, {DIM_F, DIM_C}, AS_IS},
    {"ffn.value.weight", RWKVX__S_FFN_VALUE, 2, {DIM_C, DIM_F}, AS_IS},
};

typedef struct {
    int prefixed;                  /* RWKV-7 names carry "rwkv." (RWKV-X layout) */
    uint32_t n_rwkv, n_sparse;
    uint64_t dim[DIM_COUNT];       /* values of C, V, F, ... */
    int32_t global[G_N_SLOTS];     /* source tensor index, -1 when absent */
    int32_t *rwkv;                 /* [n_rwkv][R_N_SLOTS] */
    int32_t *sparse;               /* [n_sparse][S_N_SLOTS] */
    int32_t *order;                /* n_rwkv + n_sparse: i for RWKV-7 block i, -1-j for sparse j */
    int dropped_v_first;           /* block 0 had v0/v1/v2, not written */
} cv_model;

typedef enum { NAME_GLOBAL, NAME_RWKV, NAME_SPARSE } cv_name_kind;

/* Each kind of tensor list: its rows in rwkvx.h's table, and the checkpoint
 * slots that fill them. */
typedef struct {
    const rwkvx__tensor_spec *rows;
    int n_rows;
    const cv_slot *slots;
    int n_slots;
} cv_kind;

static const cv_kind cv_kinds[3] = {
    {rwkvx__model_tensors, RWKVX__M_COUNT, cv_global_slots, G_N_SLOTS},
    {rwkvx__rwkv_tensors, RWKVX__R_COUNT, cv_rwkv_slots, R_N_SLOTS},
    {rwkvx__sparse_tensors, RWKVX__S_COUNT, cv_sparse_slots, S_N_SLOTS},
};

/* Block 0 makes v_first: its v0/v1/v2 (NOT_FIRST rows of the table) are
 * neither needed nor written (--llama-cpp writes placeholders instead). */
static int not_in_block(uint32_t block, int rwkv_row)
{
    return block == 0 && rwkvx__rwkv_tensors[rwkv_row].where == RWKVX__NOT_FIRST;
}

/* "<digits>.<rest>" with no leading zeros and a value below CV_MAX_BLOCKS. */
static int parse_index(const char *s, uint32_t *idx, const char **rest)
{
    uint32_t v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (uint32_t)(*p - '0');
        if (v >= CV_MAX_BLOCKS)
            return 0;
        p++;
    }
    if (p == s || *p != '.' || (p - s > 1 && *s == '0'))
        return 0;
    *idx = v;
    *rest = p + 1;
    return 1;
}

static int slot_lookup(const cv_slot *slots, int n, const char *name)
{
    int i;
    for (i = 0; i < n; i++)
        if (strcmp(slots[i].src, name) == 0)
            return i;
    return -1;
}

/* Maps a source name to (kind, block, slot); 0 for an unknown name. */
static int classify_name(const char *name, int prefixed, cv_name_kind *kind, uint32_t *block, int *slot)
{
    const char *rest;
    if (strncmp(name, "moba.", 5) == 0) {
        *kind = NAME_SPARSE;
        if (!parse_index(name + 5, block, &rest))
            return 0;
        *slot = slot_lookup(cv_sparse_slots, S_N_SLOTS, rest);
        return *slot >= 0;
    }
    if (prefixed) {
        if (strncmp(name, "rwkv.", 5) != 0)
            return 0;
        name += 5;
    }
    *block = 0;
    *kind = NAME_GLOBAL;
    *slot = slot_lookup(cv_global_slots, G_N_SLOTS, name);
    if (*slot >= 0)
        return 1;
    *kind = NAME_RWKV;
    if (strncmp(name, "blocks.", 7) != 0 || !parse_index(name + 7, block, &rest))
        return 0;
    *slot = slot_lookup(cv_rwkv_slots, R_N_SLOTS, rest);
    return *slot >= 0;
}

static int32_t *model_slot(cv_model *mdl, cv_name_kind kind, uint32_t block, int slot)
{
    switch (kind) {
    case NAME_GLOBAL: return &mdl->global[slot];
    case NAME_RWKV: return &mdl->rwkv[(size_t)block * R_N_SLOTS + (size_t)slot];
    default: return &mdl->sparse[(size_t)block * S_N_SLOTS + (size_t)slot];
    }
}

/* The name a slot has in the source file, for messages about missing tensors. */
static void source_name(const cv_model *mdl, cv_name_kind kind, uint32_t block, int slot, char *buf, size_t size)
{
    const char *pre = mdl->prefixed ? "rwkv." : "";
    if (kind == NAME_GLOBAL)
        snprintf(buf, size, "%s%s", pre, cv_global_slots[slot].src);
    else if (kind == NAME_RWKV)
        snprintf(buf, size, "%sblocks.%u.%s", pre, (unsigned)block, cv_rwkv_slots[slot].src);
    else
        snprintf(buf, size, "moba.%u.%s", (unsigned)block, cv_sparse_slots[slot].src);
}

static void model_free(cv_model *mdl)
{
    free(mdl->rwkv);
    free(mdl->sparse);
    free(mdl->order);
    memset(mdl, 0, sizeof *mdl);
}

/* Pass 1: decide the naming scheme and count the blocks. */
static int model_count_blocks(cv_model *mdl, const cv_src_list *src, cv_err *err)
{
    uint32_t i, block;
    cv_name_kind kind;
    int slot;
    for (i = 0; i < src->n; i++)
        if (strncmp(src->v[i].name, "rwkv.", 5) == 0)
            mdl->prefixed = 1;
    for (i = 0; i < src->n; i++) {
        const char *name = src->v[i].name;
        if (!classify_name(name, mdl->prefixed, &kind, &block, &slot)) {
            if (mdl->prefixed && strncmp(name, "rwkv.", 5) != 0 && strncmp(name, "moba.", 5) != 0)
                return cv_fail(err, "unknown tensor '%s' (this RWKV-X checkpoint names RWKV-7 tensors 'rwkv.*')", name);
            return cv_fail(err, "unknown tensor '%s'", name);
        }
        if (kind == NAME_RWKV && block + 1 > mdl->n_rwkv)
            mdl->n_rwkv = block + 1;
        if (kind == NAME_SPARSE && block + 1 > mdl->n_sparse)
            mdl->n_sparse = block + 1;
    }
    return 1;
}

/* Pass 2: put every tensor in its slot; refuse duplicates. */
static int model_assign_slots(cv_model *mdl, const cv_src_list *src, cv_err *err)
{
    uint32_t i, block;
    cv_name_kind kind;
    int slot;
    mdl->rwkv = malloc(((size_t)mdl->n_rwkv * R_N_SLOTS + 1) * sizeof *mdl->rwkv);
    mdl->sparse = malloc(((size_t)mdl->n_sparse * S_N_SLOTS + 1) * sizeof *mdl->sparse);
    if (!mdl->rwkv || !mdl->sparse)
        return cv_fail(err, "out of memory");
    for (i = 0; i < G_N_SLOTS; i++)
        mdl->global[i] = -1;
    for (i = 0; i < mdl->n_rwkv * R_N_SLOTS; i++)
        mdl->rwkv[i] = -1;
    for (i = 0; i < mdl->n_sparse * S_N_SLOTS; i++)
        mdl->sparse[i] = -1;
    for (i = 0; i < src->n; i++) {
        int32_t *p;
        classify_name(src->v[i].name, mdl->prefixed, &kind, &block, &slot);
        p = model_slot(mdl, kind, block, slot);
        if (*p >= 0)
            return cv_fail(err, "duplicated tensor '%s'", src->v[i].name);
        *p = (int32_t)i;
    }
    return 1;
}

/* Every slot is required, except v0/v1/v2 of block 0 (not_in_block). */
static int model_check_missing(cv_model *mdl, cv_err *err)
{
    char name[128];
    uint32_t b;
    int s;
    if (mdl->n_rwkv == 0)
        return cv_fail(err, "no RWKV-7 blocks found (no '%sblocks.N.*' tensors)", mdl->prefixed ? "rwkv." : "");
    for (s = 0; s < G_N_SLOTS; s++)
        if (mdl->global[s] < 0) {
            source_name(mdl, NAME_GLOBAL, 0, s, name, sizeof name);
            return cv_fail(err, "missing tensor '%s'", name);
        }
    for (b = 0; b < mdl->n_rwkv; b++)
        for (s = 0; s < R_N_SLOTS; s++) {
            if (*model_slot(mdl, NAME_RWKV, b, s) < 0 && !not_in_block(b, cv_rwkv_slots[s].row)) {
                source_name(mdl, NAME_RWKV, b, s, name, sizeof name);
                return cv_fail(err, "missing tensor '%s'", name);
            }
        }
    for (b = 0; b < mdl->n_sparse; b++)
        for (s = 0; s < S_N_SLOTS; s++)
            if (*model_slot(mdl, NAME_SPARSE, b, s) < 0) {
                source_name(mdl, NAME_SPARSE, b, s, name, sizeof name);
                return cv_fail(err, "missing tensor '%s'", name);
            }
    return 1;
}

/* Reads dimension `axis` of a defining tensor that must have `ndim` dims. */
static int define_dim(cv_model *mdl, const cv_src_list *src, int32_t idx, int ndim, int axis, cv_dim dim, cv_err *err)
{
    const cv_src *t = &src->v[idx];
    char shape[160];
    if (t->ndim != ndim) {
        shape_format(shape, sizeof shape, t->shape, t->ndim);
        return cv_fail(err, "tensor '%s' has shape %s, expected %d dimensions", t->name, shape, ndim);
    }
    if (t->shape[axis] == 0 || t->shape[axis] > UINT32_MAX)
        return cv_fail(err, "tensor '%s': dimension %s = %" PRIu64 " is out of range", t->name, cv_dim_name[dim],
                       t->shape[axis]);
    mdl->dim[dim] = t->shape[axis];
    return 1;
}

/* C, V from the embedding, F from the first FFN, LoRA ranks from block 0
 * (Dv from block 1: block 0 has no value-residual LoRA). */
static int model_define_dims(cv_model *mdl, const cv_src_list *src, cv_err *err)
{
    const int32_t *b0 = mdl->rwkv;
    mdl->dim[DIM_1] = 1;
    mdl->dim[DIM_6] = 6;
    mdl->dim[DIM_64] = 64;
    if (!define_dim(mdl, src, mdl->global[G_EMB], 2, 0, DIM_V, err) ||
        !define_dim(mdl, src, mdl->global[G_EMB], 2, 1, DIM_C, err) ||
        !define_dim(mdl, src, b0[R_FFN_KEY], 2, 0, DIM_F, err) ||
        !define_dim(mdl, src, b0[R_W1], 2, 1, DIM_DW, err) || !define_dim(mdl, src, b0[R_A1], 2, 1, DIM_DA, err) ||
        !define_dim(mdl, src, b0[R_G1], 2, 1, DIM_DG, err))
        return 0;
    if (mdl->n_rwkv > 1 && !define_dim(mdl, src, mdl->rwkv[R_N_SLOTS + R_V1], 2, 1, DIM_DV, err))
        return 0;
    if (mdl->dim[DIM_C] % 64 != 0)
        return cv_fail(err, "embedding size C = %" PRIu64 " is not a multiple of the head size 64", mdl->dim[DIM_C]);
    mdl->dim[DIM_H] = mdl->dim[DIM_C] / 64;
    return 1;
}

static int check_shape(const cv_model *mdl, const cv_src *t, const cv_slot *slot, cv_err *err)
{
    char have[160], want_sym[80] = "(", want_val[160];
    uint64_t want[3];
    int i, ok = t->ndim == slot->ndim;
    for (i = 0; i < slot->ndim; i++) {
        want[i] = mdl->dim[slot->dim[i]];
        if (ok && t->shape[i] != want[i])
            ok = 0;
    }
    if (ok)
        return 1;
    for (i = 0; i < slot->ndim; i++) {
        strcat(want_sym, i ? ", " : "");
        strcat(want_sym, cv_dim_name[slot->dim[i]]);
    }
    strcat(want_sym, ")");
    shape_format(have, sizeof have, t->shape, t->ndim);
    shape_format(want_val, sizeof want_val, want, slot->ndim);
    return cv_fail(err, "tensor '%s' has shape %s, expected %s = %s", t->name, have, want_sym, want_val);
}

static int model_check_shapes(cv_model *mdl, const cv_src_list *src, cv_err *err)
{
    uint32_t b;
    int s;
    for (s = 0; s < G_N_SLOTS; s++)
        if (!check_shape(mdl, &src->v[mdl->global[s]], &cv_global_slots[s], err))
            return 0;
    for (b = 0; b < mdl->n_rwkv; b++)
        for (s = 0; s < R_N_SLOTS; s++) {
            int32_t idx = *model_slot(mdl, NAME_RWKV, b, s);
            if (not_in_block(b, cv_rwkv_slots[s].row)) { /* dropped unchecked */
                if (idx >= 0)
                    mdl->dropped_v_first = 1;
                continue;
            }
            if (!check_shape(mdl, &src->v[idx], &cv_rwkv_slots[s], err))
                return 0;
        }
    for (b = 0; b < mdl->n_sparse; b++)
        for (s = 0; s < S_N_SLOTS; s++)
            if (!check_shape(mdl, &src->v[*model_slot(mdl, NAME_SPARSE, b, s)], &cv_sparse_slots[s], err))
                return 0;
    return 1;
}

/* One sparse block after each run of n_rwkv / n_sparse RWKV-7 blocks. */
static int model_block_order(cv_model *mdl, cv_err *err)
{
    uint32_t i, n = 0, interval;
    mdl->order = malloc(((size_t)mdl->n_rwkv + mdl->n_sparse) * sizeof *mdl->order);
    if (!mdl->order)
        return cv_fail(err, "out of memory");
    if (mdl->n_sparse > 0 && mdl->n_rwkv % mdl->n_sparse != 0)
        return cv_fail(err,
                       "%u RWKV-7 blocks cannot be split evenly among %u sparse blocks (n_rwkv %% n_sparse != 0); "
                       "the block order is undefined",
                       (unsigned)mdl->n_rwkv, (unsigned)mdl->n_sparse);
    interval = mdl->n_sparse ? mdl->n_rwkv / mdl->n_sparse : 0;
    for (i = 0; i < mdl->n_rwkv; i++) {
        mdl->order[n++] = (int32_t)i;
        if (interval && (i + 1) % interval == 0)
            mdl->order[n++] = -1 - (int32_t)((i + 1) / interval - 1);
    }
    return 1;
}

static int model_build(cv_model *mdl, const cv_src_list *src, cv_err *err)
{
    memset(mdl, 0, sizeof *mdl);
    if (src->n == 0)
        return cv_fail(err, "the checkpoint holds no tensors");
    return model_count_blocks(mdl, src, err) && model_assign_slots(mdl, src, err) && model_check_missing(mdl, err) &&
           model_define_dims(mdl, src, err) && model_check_shapes(mdl, src, err) && model_block_order(mdl, err);
}

/* ========================================================================
 * 10. Vocabulary
 *
 * World vocabulary lines: `ID LITERAL LENGTH`, LITERAL a Python str ('..' or
 * "..") or bytes (b'..') literal, LENGTH its byte count.  Token texts are
 * stored as Python's repr(bytes)[2:-1], as llama.cpp stores this vocabulary.
 * ======================================================================== */

enum { TOKEN_NORMAL = 1, TOKEN_CONTROL = 3, TOKEN_UNUSED = 5 };

typedef struct {
    char **text;
    int32_t *type;
    uint32_t n;
    uint32_t n_real;        /* tokens before padding */
    const char *what;       /* for the summary */
    int world;              /* the RWKV World vocabulary (token 261 is "\n\n") */
} cv_vocab;

static void vocab_free(cv_vocab *v)
{
    uint32_t i;
    for (i = 0; i < v->n; i++)
        free(v->text[i]);
    free(v->text);
    free(v->type);
    memset(v, 0, sizeof *v);
}

/* Python's repr(bytes)[2:-1]: ' delimiters unless the bytes hold ' and no ". */
static char *py_bytes_repr(const unsigned char *b, size_t n)
{
    int has_sq = memchr(b, '\'', n) != NULL, has_dq = memchr(b, '"', n) != NULL;
    unsigned char quote = has_sq && !has_dq ? '"' : '\'';
    char *out = malloc(4 * n + 1), *w = out;
    size_t i;
    if (!out)
        return NULL;
    for (i = 0; i < n; i++) {
        unsigned char c = b[i];
        if (c == quote || c == '\\') {
            *w++ = '\\';
            *w++ = (char)c;
        } else if (c == '\t' || c == '\n' || c == '\r') {
            *w++ = '\\';
            *w++ = c == '\t' ? 't' : c == '\n' ? 'n' : 'r';
        } else if (c < 0x20 || c >= 0x7f) {
            w += sprintf(w, "\\x%02x", (unsigned)c);
        } else {
            *w++ = (char)c;
        }
    }
    *w = '\0';
    return out;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads exactly `digits` hex digits. */
static int hex_run(const char *p, const char *end, int digits, uint32_t *out)
{
    uint32_t v = 0;
    int i;
    if (end - p < digits)
        return 0;
    for (i = 0; i < digits; i++) {
        int h = hex_value(p[i]);
        if (h < 0)
            return 0;
        v = (v << 4) | (uint32_t)h;
    }
    *out = v;
    return 1;
}

/* Decodes a Python str or bytes literal s[0..n) into bytes; out has room for
 * n bytes (no literal decodes to more bytes than it has characters).
 * Returns NULL or the reason it is not a literal we understand. */
static const char *py_literal_decode(const char *s, size_t n, unsigned char *out, size_t *out_len)
{
    const char *p = s, *end = s + n;
    int is_bytes = 0;
    char quote;
    unsigned char *w = out;

    if (p < end && (*p == 'b' || *p == 'B')) {
        is_bytes = 1;
        p++;
    }
    if (p >= end || (*p != '\'' && *p != '"'))
        return "not a quoted Python literal";
    quote = *p++;
    if (end - p < 1 || end[-1] != quote)
        return "literal does not end with its quote";
    end--;
    while (p < end) {
        unsigned char c = (unsigned char)*p++;
        uint32_t cp;
        int is_code_point = 0;
        if (c == (unsigned char)quote)
            return "unescaped quote inside the literal";
        if (c != '\\') {
            if (is_bytes && c >= 0x80)
                return "non-ASCII character in a bytes literal";
            *w++ = c;
            continue;
        }
        if (p >= end)
            return "literal ends with a backslash";
        c = (unsigned char)*p++;
        switch (c) {
        case '\\': case '\'': case '"': cp = c; break;
        case 'n': cp = '\n'; break;
        case 't': cp = '\t'; break;
        case 'r': cp = '\r'; break;
        case 'a': cp = 7; break;
        case 'b': cp = 8; break;
        case 'f': cp = 12; break;
        case 'v': cp = 11; break;
        case 'x':
            if (!hex_run(p, end, 2, &cp))
                return "bad \\x escape";
            p += 2;
            is_code_point = !is_bytes;
            break;
        case 'u':
        case 'U':
            if (is_bytes) { /* not an escape in a bytes literal */
                *w++ = '\\';
                *w++ = c;
                continue;
            }
            if (!hex_run(p, end, c == 'u' ? 4 : 8, &cp))
                return "bad \\u or \\U escape";
            p += c == 'u' ? 4 : 8;
            is_code_point = 1;
            break;
        default:
            if (c >= '0' && c <= '7') {
                int k;
                cp = (uint32_t)(c - '0');
                for (k = 0; k < 2 && p < end && *p >= '0' && *p <= '7'; k++)
                    cp = cp * 8 + (uint32_t)(*p++ - '0');
                if (is_bytes && cp > 0xff)
                    return "octal escape above \\377 in a bytes literal";
                is_code_point = !is_bytes;
                break;
            }
            /* Python keeps unknown escapes as they are. */
            *w++ = '\\';
            *w++ = c;
            continue;
        }
        if (is_code_point) {
            if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return "escape is not a valid Unicode scalar value";
            w += rwkvx__utf8_put(w, cp);
        } else {
            *w++ = (unsigned char)cp;
        }
    }
    *out_len = (size_t)(w - out);
    return NULL;
}

static int vocab_reserve(cv_vocab *v, uint32_t n, cv_err *err)
{
    v->text = calloc(n ? n : 1, sizeof *v->text);
    v->type = calloc(n ? n : 1, sizeof *v->type);
    if (!v->text || !v->type)
        return cv_fail(err, "out of memory");
    return 1;
}

static int vocab_push(cv_vocab *v, char *text, int32_t type, cv_err *err)
{
    if (!text)
        return cv_fail(err, "out of memory");
    v->text[v->n] = text;
    v->type[v->n++] = type;
    return 1;
}

/* "[PADn]" tokens, n = the token id as llama.cpp writes them, up to V. */
static int vocab_pad(cv_vocab *v, uint32_t n_vocab, cv_err *err)
{
    char buf[32];
    v->n_real = v->n;
    while (v->n < n_vocab) {
        snprintf(buf, sizeof buf, "[PAD%u]", (unsigned)v->n);
        if (!vocab_push(v, cv_strndup(buf, strlen(buf)), TOKEN_UNUSED, err))
            return 0;
    }
    return 1;
}

static int vocab_bytes(cv_vocab *v, uint32_t n_vocab, cv_err *err)
{
    uint32_t i;
    memset(v, 0, sizeof *v);
    v->what = "256 single bytes";
    if (n_vocab < 256)
        return cv_fail(err, "--vocab bytes needs vocab_size >= 256, but the model has %u", (unsigned)n_vocab);
    if (!vocab_reserve(v, n_vocab, err))
        return 0;
    for (i = 0; i < 256; i++) {
        unsigned char b = (unsigned char)i;
        if (!vocab_push(v, py_bytes_repr(&b, 1), TOKEN_NORMAL, err))
            return 0;
    }
    return vocab_pad(v, n_vocab, err);
}

/* Parses one `ID LITERAL LENGTH` line into its token bytes. */
static int vocab_parse_line(const char *line, size_t len, const char *path, uint32_t line_no, uint32_t expect_id,
                            unsigned char *bytes, size_t *n_bytes, cv_err *err)
{
    const char *first_space = memchr(line, ' ', len), *last_space = line + len, *why;
    uint64_t id = 0, length = 0;
    const char *p;

    while (last_space > line && last_space[-1] != ' ')
        last_space--;
    if (!first_space || last_space <= first_space + 1)
        return cv_fail(err, "%s line %u: expected 'ID LITERAL LENGTH'", path, (unsigned)line_no);
    last_space--; /* points at the space itself */
    for (p = line; p < first_space; p++) {
        if (*p < '0' || *p > '9' || id > UINT32_MAX)
            return cv_fail(err, "%s line %u: bad token id", path, (unsigned)line_no);
        id = id * 10 + (uint64_t)(*p - '0');
    }
    for (p = last_space + 1; p < line + len; p++) {
        if (*p < '0' || *p > '9' || length > UINT32_MAX)
            return cv_fail(err, "%s line %u: bad length field", path, (unsigned)line_no);
        length = length * 10 + (uint64_t)(*p - '0');
    }
    if (p == last_space + 1)
        return cv_fail(err, "%s line %u: missing length field", path, (unsigned)line_no);
    if (id != expect_id)
        return cv_fail(err, "%s line %u: token id %" PRIu64 ", expected %u (ids must be 1, 2, 3, ...)", path,
                       (unsigned)line_no, id, (unsigned)expect_id);
    why = py_literal_decode(first_space + 1, (size_t)(last_space - first_space - 1), bytes, n_bytes);
    if (why)
        return cv_fail(err, "%s line %u: %s", path, (unsigned)line_no, why);
    if (*n_bytes != length)
        return cv_fail(err, "%s line %u: token %u has %lu bytes but its length field says %" PRIu64, path,
                       (unsigned)line_no, (unsigned)id, (unsigned long)*n_bytes, length);
    return 1;
}

/* Parses a World vocabulary held in memory, text[0..size) (`path` only names
 * it in messages), into v: token 0 "<s>", the file's tokens, padding up to
 * n_vocab.  The fuzzers call this directly. */
static int vocab_world_text(cv_vocab *v, const char *path, const unsigned char *text, uint64_t size, uint32_t n_vocab,
                            cv_err *err)
{
    unsigned char *bytes = NULL;
    uint64_t pos = 0, n_lines = 0, i;
    uint32_t line_no = 0;
    int ok = 0;

    memset(v, 0, sizeof *v);
    v->what = "RWKV World";
    v->world = 1;
    if (size > CV_MAX_VOCAB_FILE)
        return cv_fail(err, "vocabulary file '%s' is too large (%" PRIu64 " bytes)", path, size);
    for (i = 0; i < size; i++)
        n_lines += text[i] == '\n';
    if (size > 0 && text[size - 1] != '\n')
        n_lines++;
    if (n_lines == 0)
        return cv_fail(err, "vocabulary '%s' is empty", path);
    if (n_lines + 1 > n_vocab)
        return cv_fail(err, "vocabulary '%s' has %" PRIu64 " tokens (with token 0) but the model's vocab_size is %u", path,
                       n_lines + 1, (unsigned)n_vocab);
    bytes = malloc((size_t)size + 1);
    if (!bytes)
        return cv_fail(err, "out of memory");
    if (!vocab_reserve(v, n_vocab, err) || !vocab_push(v, cv_strndup("<s>", 3), TOKEN_CONTROL, err))
        goto done;
    while (pos < size) {
        const char *line = (const char *)text + pos;
        const char *nl = memchr(line, '\n', (size_t)(size - pos));
        size_t len = nl ? (size_t)(nl - line) : (size_t)(size - pos), n_bytes = 0;
        pos += len + (nl != NULL);
        line_no++;
        if (len > 0 && line[len - 1] == '\r')
            len--;
        if (!vocab_parse_line(line, len, path, line_no, line_no, bytes, &n_bytes, err) ||
            !vocab_push(v, py_bytes_repr(bytes, n_bytes), TOKEN_NORMAL, err))
            goto done;
    }
    ok = vocab_pad(v, n_vocab, err);
done:
    free(bytes);
    return ok;
}

static int vocab_world(cv_vocab *v, const char *path, uint32_t n_vocab, cv_err *err)
{
    cv_input in;
    unsigned char *text = NULL;
    int ok = 0;

    memset(v, 0, sizeof *v);
    if (!input_open(&in, path, err))
        goto done;
    if (in.size > CV_MAX_VOCAB_FILE) {
        cv_fail(err, "vocabulary file '%s' is too large (%" PRIu64 " bytes)", path, in.size);
        goto done;
    }
    text = input_read_alloc(&in, 0, in.size, err);
    if (text)
        ok = vocab_world_text(v, path, text, in.size, n_vocab, err);
done:
    free(text);
    input_close(&in);
    return ok;
}

/* ========================================================================
 * 11. Output plan and GGUF writer
 * ======================================================================== */

typedef struct {
    char name[64];
    uint32_t n_dims;
    uint64_t ne[4];
    int type;
    int copy;             /* a GGUF input tensor already in its output type: copied */
    int n_parts;
    int32_t part[6];      /* source tensors, concatenated in this order */
    int transpose;        /* write the (rows, cols) source as (cols, rows) */
    uint64_t n_elems, n_bytes, offset;
    uint64_t n_nonfinite; /* NaN or infinite values written (warned about) */
} cv_out;

/* What the user asked for: one type for every matrix, or one of llama.cpp's
 * mixes, and optionally the head's type. */
typedef struct {
    const char *name;     /* as given to --type: "q4_0", "q4_k_m", ... */
    int matrix_type;      /* ggml type of the 2-D matrices */
    int mix;              /* q4_k_m or q5_k_m: llama.cpp's recipe */
    int head_type;        /* --head-type, -1 when not given */
} cv_quant;

/* Matrices whose rows did not fit the chosen type's blocks, by (from, to). */
typedef struct {
    int from, to;
    uint32_t count;
} cv_fallback;

typedef struct {
    cv_out *v;
    uint32_t n, cap;
    cv_quant quant;
    int llama_cpp;        /* llama.cpp's rwkv7 layout (section 11b) */
    cv_fallback fallback[8];
    uint32_t n_fallback;  /* entries used in fallback[] */
    uint64_t data_bytes;  /* padded sum */
} cv_plan;

static void llama_cpp_shape(cv_out *o, const rwkvx__tensor_spec *row);

typedef enum { ROLE_VECTOR, ROLE_LORA, ROLE_HEAD, ROLE_MATRIX } cv_role;

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* What a row of rwkvx.h's table is: a vector, the head, a LoRA factor (a
 * matrix one of whose sizes is a LoRA rank) or another matrix. */
static cv_role row_role(const rwkvx__tensor_spec *row)
{
    int i;
    if (row->kind == RWKVX__VECTOR)
        return ROLE_VECTOR;
    if (row == &rwkvx__model_tensors[RWKVX__M_HEAD])
        return ROLE_HEAD;
    for (i = 0; i < 2; i++)
        if (row->ne[i] == RWKVX__DIM_Dw || row->ne[i] == RWKVX__DIM_Da || row->ne[i] == RWKVX__DIM_Dv ||
            row->ne[i] == RWKVX__DIM_Dg)
            return ROLE_LORA;
    return ROLE_MATRIX;
}

/* What a GGUF input's tensor is, known by its name (ours or llama.cpp's) and
 * rank only.  llama.cpp's quantiser keeps some RWKV tensors unquantised by
 * name ("do not quantize RWKV's small yet 2D weights"), and so does this:
 * the LoRA factors (the table's, and RWKV-6's time_mix_decay_w1/w2) and,
 * even stored 2-D, the fused lerp, w0, a0, v0 and RWKV-6's
 * time_mix_first. */
/* Is `name` the tensor of table row `row` (the whole name, or "blk.N." /
 * "sparse.J." and the row's name)? */
static int names_row(const char *name, const char *row)
{
    size_t n = strlen(name), r = strlen(row);
    return n == r ? strcmp(name, row) == 0 : n > r && name[n - r - 1] == '.' && strcmp(name + n - r, row) == 0;
}

/* A vector of the table by its name: llama.cpp's layout stores some of them
 * with more than one dimension (channel_mix_lerp_k as [C,1,1], r_k as
 * [64,H]), and the loader takes every vector in F32 only. */
static int is_vector_row(const char *name)
{
    int i;
    for (i = 0; i < RWKVX__M_COUNT; i++)
        if (rwkvx__model_tensors[i].kind == RWKVX__VECTOR && names_row(name, rwkvx__model_tensors[i].name))
            return 1;
    for (i = 0; i < RWKVX__R_COUNT; i++)
        if (rwkvx__rwkv_tensors[i].kind == RWKVX__VECTOR && names_row(name, rwkvx__rwkv_tensors[i].name))
            return 1;
    for (i = 0; i < RWKVX__S_COUNT; i++)
        if (rwkvx__sparse_tensors[i].kind == RWKVX__VECTOR && names_row(name, rwkvx__sparse_tensors[i].name))
            return 1;
    return 0;
}

static cv_role tensor_role(const char *name, uint32_t n_dims)
{
    static const char *const rwkv6_lora[] = {"time_mix_decay_w1.weight", "time_mix_decay_w2.weight"};
    size_t i;
    if (n_dims < 2 || is_vector_row(name))
        return ROLE_VECTOR;
    if (ends_with(name, "time_mix_first.weight"))
        return ROLE_VECTOR;
    for (i = 0; i < RWKVX__R_COUNT; i++)
        if (row_role(&rwkvx__rwkv_tensors[i]) == ROLE_LORA && ends_with(name, rwkvx__rwkv_tensors[i].name))
            return ROLE_LORA;
    for (i = 0; i < sizeof rwkv6_lora / sizeof rwkv6_lora[0]; i++)
        if (ends_with(name, rwkv6_lora[i]))
            return ROLE_LORA;
    return strcmp(name, rwkvx__model_tensors[RWKVX__M_HEAD].name) == 0 ? ROLE_HEAD : ROLE_MATRIX;
}

static void note_fallback(cv_plan *plan, int from, int to)
{
    uint32_t i;
    for (i = 0; i < plan->n_fallback; i++)
        if (plan->fallback[i].from == from && plan->fallback[i].to == to) {
            plan->fallback[i].count++;
            return;
        }
    if (plan->n_fallback < sizeof plan->fallback / sizeof plan->fallback[0]) {
        plan->fallback[plan->n_fallback].from = from;
        plan->fallback[plan->n_fallback].to = to;
        plan->fallback[plan->n_fallback++].count = 1;
    }
}

/* The output type of a tensor.  The mixes follow llama.cpp's quantiser for
 * the rwkv7 architecture (llama_model_quantize_impl, llama_tensor_get_type):
 * its name-based bumps (attn_v, ffn_down, attn_qkv) never match RWKV-7's
 * tensor names, so every matrix takes the mix's type, the LoRAs stay
 * unquantised (F32 here) and the head is Q6_K (Q8_0 when its rows do not
 * fit 256-value blocks); the embedding takes the mix's type.  Our sparse
 * blocks have no llama.cpp counterpart and are treated like the RWKV-7
 * matrices.  A single type (--type q4_0, ...) applies to every matrix,
 * LoRAs and head included.  Rows that do not fit the type's blocks take
 * llama.cpp's fallback chain, except for a type the user gave for that
 * tensor (--head-type), which is refused. */
static int choose_type(cv_plan *plan, cv_out *o, cv_role role, cv_err *err)
{
    const cv_quant *q = &plan->quant;
    int type = q->matrix_type, given = 0;
    if (role == ROLE_VECTOR) {
        o->type = GGML_F32;
        return 1;
    }
    if (role == ROLE_LORA && q->mix)
        type = GGML_F32;
    if (role == ROLE_HEAD && q->head_type >= 0) {
        type = q->head_type;
        given = 1;
    } else if (role == ROLE_HEAD && q->mix) {
        type = GGML_Q6_K;
    }
    while (o->ne[0] % type_info(type)->block != 0) {
        int next = type_info(type)->fallback;
        if (given)
            return cv_fail(err, "tensor '%s' has rows of %" PRIu64 " values, not a multiple of %s's blocks of %u",
                           o->name, o->ne[0], type_info(type)->label, (unsigned)type_info(type)->block);
        note_fallback(plan, type, next);
        type = next;
    }
    o->type = type;
    return 1;
}

/* Adds the file tensor `name`, a row of rwkvx.h's table (its shape in this
 * model's sizes), made of the source tensors `parts`, concatenated and, if
 * `how` says so, transposed. */
static int plan_add(cv_plan *plan, const cv_model *mdl, const cv_src_list *src, const char *name,
                    const rwkvx__tensor_spec *row, const int32_t *parts, int n_parts, cv_slot_how how, cv_err *err)
{
    cv_out *o;
    uint64_t n_source = 0;
    int k;
    void *p = cv_grow(plan->v, &plan->cap, plan->n + 1, sizeof *plan->v);
    if (!p)
        return cv_fail(err, "out of memory");
    plan->v = p;
    o = &plan->v[plan->n++];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    memcpy(o->part, parts, (size_t)n_parts * sizeof *parts);
    o->n_parts = n_parts;
    o->transpose = how == TRANSPOSED;
    /* a vector of one row is 1-D; the fused lerp is [C, 6] (docs/FORMAT.md) */
    o->n_dims = row->kind == RWKVX__VECTOR && row->ne[1] == RWKVX__DIM_1 ? 1 : 2;
    o->ne[0] = mdl->dim[row->ne[0]];
    if (o->n_dims == 2)
        o->ne[1] = mdl->dim[row->ne[1]];
    o->n_elems = mdl->dim[row->ne[0]] * mdl->dim[row->ne[1]];
    for (k = 0; k < n_parts; k++)
        n_source += src->v[parts[k]].n_elems;
    if (n_source != o->n_elems) /* the slot and table rows disagree: the writer would overrun */
        return cv_fail(err, "internal error: the table gives tensor '%s' %" PRIu64 " values, its checkpoint tensors %" PRIu64,
                       name, o->n_elems, n_source);
    if (!choose_type(plan, o, row_role(row), err))
        return 0;
    if (plan->llama_cpp)
        llama_cpp_shape(o, row);
    o->n_bytes = ggml_bytes(o->type, o->n_elems);
    o->offset = plan->data_bytes;
    plan->data_bytes += cv_align_up(o->n_bytes, CV_ALIGN);
    return 1;
}

/* Adds table row `row` of one block (or of the model) under `name`, from the
 * block's source tensors `filled` (one per slot of its kind). */
static int plan_row(cv_plan *plan, const cv_model *mdl, const cv_src_list *src, cv_name_kind kind,
                    const int32_t *filled, int row, const char *name, cv_err *err)
{
    const cv_kind *k = &cv_kinds[kind];
    int32_t parts[6];
    cv_slot_how how = AS_IS;
    int s, n = 0;
    for (s = 0; s < k->n_slots; s++)
        if (k->slots[s].row == row && n < (int)(sizeof parts / sizeof parts[0])) {
            parts[n++] = filled[s];
            how = k->slots[s].how;
        }
    return plan_add(plan, mdl, src, name, &k->rows[row], parts, n, how, err);
}

/* llama.cpp's loader requires block 0's v0/v1/v2, which it never uses: they
 * are written as copies of a0/a1/a2, shapes included (docs/FORMAT.md). */
static int llama_cpp_placeholder(int row)
{
    switch (row) {
    case RWKVX__R_V0: return RWKVX__R_A0;
    case RWKVX__R_V1: return RWKVX__R_A1;
    case RWKVX__R_V2: return RWKVX__R_A2;
    default: return row;
    }
}

static int plan_rwkv_block(cv_plan *plan, const cv_model *mdl, const cv_src_list *src, uint32_t b, cv_err *err)
{
    const int32_t *filled = mdl->rwkv + (size_t)b * R_N_SLOTS;
    char name[64];
    int r;
    for (r = 0; r < RWKVX__R_COUNT; r++) {
        int from = r;
        if (not_in_block(b, r)) {
            if (!plan->llama_cpp)
                continue;
            from = llama_cpp_placeholder(r);
        }
        snprintf(name, sizeof name, "%s.%u.%s", RWKVX__RWKV_PREFIX, (unsigned)b, rwkvx__rwkv_tensors[r].name);
        if (!plan_row(plan, mdl, src, NAME_RWKV, filled, from, name, err))
            return 0;
    }
    return 1;
}

static int plan_sparse_block(cv_plan *plan, const cv_model *mdl, const cv_src_list *src, uint32_t j, cv_err *err)
{
    const int32_t *filled = mdl->sparse + (size_t)j * S_N_SLOTS;
    char name[64];
    int r;
    for (r = 0; r < RWKVX__S_COUNT; r++) {
        snprintf(name, sizeof name, "%s.%u.%s", RWKVX__SPARSE_PREFIX, (unsigned)j, rwkvx__sparse_tensors[r].name);
        if (!plan_row(plan, mdl, src, NAME_SPARSE, filled, r, name, err))
            return 0;
    }
    return 1;
}

/* The model's own rows [from, to) of the table. */
static int plan_model_rows(cv_plan *plan, const cv_model *mdl, const cv_src_list *src, int from, int to, cv_err *err)
{
    int r;
    for (r = from; r < to; r++)
        if (!plan_row(plan, mdl, src, NAME_GLOBAL, mdl->global, r, rwkvx__model_tensors[r].name, err))
            return 0;
    return 1;
}

/* Tensors in execution order: the embedding and its norm, blocks as they
 * run, the output norm and the head (the model's rows, in the table's
 * order, around the blocks). */
static int plan_build(cv_plan *plan, const cv_model *mdl, const cv_src_list *src, cv_err *err)
{
    uint32_t i;
    if (!plan_model_rows(plan, mdl, src, RWKVX__M_EMB, RWKVX__M_LN0_B + 1, err))
        return 0;
    for (i = 0; i < mdl->n_rwkv + mdl->n_sparse; i++) {
        int32_t id = mdl->order[i];
        if (!(id >= 0 ? plan_rwkv_block(plan, mdl, src, (uint32_t)id, err)
                      : plan_sparse_block(plan, mdl, src, (uint32_t)(-1 - id), err)))
            return 0;
    }
    return plan_model_rows(plan, mdl, src, RWKVX__M_LNOUT_W, RWKVX__M_COUNT, err);
}

/* --- the header is assembled in memory, then written in one go --- */

enum {
    GGUF_U32 = 4, GGUF_I32 = 5, GGUF_F32 = 6, GGUF_STRING = 8, GGUF_ARRAY = 9
};

typedef struct {
    unsigned char *p;
    size_t n, cap;
    int oom;
    uint64_t n_kv;
} cv_buf;

static void buf_put(cv_buf *b, const void *src, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        unsigned char *q;
        while (cap < b->n + n)
            cap *= 2;
        q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void buf_u32(cv_buf *b, uint32_t v)
{
    unsigned char t[4];
    put32(t, v);
    buf_put(b, t, 4);
}

static void buf_u64(cv_buf *b, uint64_t v)
{
    buf_u32(b, (uint32_t)v);
    buf_u32(b, (uint32_t)(v >> 32));
}

static void buf_str(cv_buf *b, const char *s)
{
    size_t n = strlen(s);
    buf_u64(b, n);
    buf_put(b, s, n);
}

static void kv_key(cv_buf *b, const char *key, uint32_t type)
{
    buf_str(b, key);
    buf_u32(b, type);
    b->n_kv++;
}

static void kv_u32(cv_buf *b, const char *key, uint32_t v)
{
    kv_key(b, key, GGUF_U32);
    buf_u32(b, v);
}

static void kv_f32(cv_buf *b, const char *key, float v)
{
    kv_key(b, key, GGUF_F32);
    buf_u32(b, f32_bits(v));
}

static void kv_str(cv_buf *b, const char *key, const char *v)
{
    kv_key(b, key, GGUF_STRING);
    buf_str(b, v);
}

static void kv_i32_array(cv_buf *b, const char *key, const int32_t *v, uint32_t n)
{
    uint32_t i;
    kv_key(b, key, GGUF_ARRAY);
    buf_u32(b, GGUF_I32);
    buf_u64(b, n);
    for (i = 0; i < n; i++)
        buf_u32(b, (uint32_t)v[i]);
}

static void kv_str_array(cv_buf *b, const char *key, char *const *v, uint32_t n)
{
    uint32_t i;
    kv_key(b, key, GGUF_ARRAY);
    buf_u32(b, GGUF_STRING);
    buf_u64(b, n);
    for (i = 0; i < n; i++)
        buf_str(b, v[i]);
}

typedef struct {
    const char *name;           /* general.name */
    uint32_t chunk_size, topk;
    const cv_buf *kv_copy;      /* a GGUF input's key/values, written instead */
    float ln_eps, gn_eps;       /* LayerNorm and ln_x GroupNorm epsilons */
} cv_options_meta;

/* The tokenizer keys, the same in both layouts. */
static void gguf_vocab(cv_buf *b, const cv_vocab *vocab)
{
    uint32_t i;
    if (vocab->n == 0)
        return;
    kv_str(b, "tokenizer.ggml.model", "rwkv");
    kv_str_array(b, "tokenizer.ggml.tokens", vocab->text, vocab->n);
    kv_key(b, "tokenizer.ggml.token_type", GGUF_ARRAY);
    buf_u32(b, GGUF_I32);
    buf_u64(b, vocab->n);
    for (i = 0; i < vocab->n; i++)
        buf_u32(b, (uint32_t)vocab->type[i]);
}

/* Metadata, exactly the keys and types of docs/FORMAT.md, in its order. */
static void gguf_metadata(cv_buf *b, const cv_model *mdl, const cv_vocab *vocab, const cv_options_meta *meta)
{
    kv_str(b, "general.architecture", "rwkvx");
    kv_str(b, "general.name", meta->name);
    kv_u32(b, "general.alignment", CV_ALIGN);
    kv_u32(b, "rwkvx.embedding_length", (uint32_t)mdl->dim[DIM_C]);
    kv_u32(b, "rwkvx.vocab_size", (uint32_t)mdl->dim[DIM_V]);
    kv_u32(b, "rwkvx.feed_forward_length", (uint32_t)mdl->dim[DIM_F]);
    kv_u32(b, "rwkvx.wkv.head_size", 64);
    kv_u32(b, "rwkvx.block_count", mdl->n_rwkv);
    kv_u32(b, "rwkvx.sparse_block_count", mdl->n_sparse);
    kv_i32_array(b, "rwkvx.block_order", mdl->order, mdl->n_rwkv + mdl->n_sparse);
    kv_f32(b, "rwkvx.attention.layer_norm_epsilon", meta->ln_eps);
    kv_f32(b, "rwkvx.attention.group_norm_epsilon", meta->gn_eps);
    kv_u32(b, "rwkvx.attention.decay_lora_rank", (uint32_t)mdl->dim[DIM_DW]);
    kv_u32(b, "rwkvx.attention.iclr_lora_rank", (uint32_t)mdl->dim[DIM_DA]);
    kv_u32(b, "rwkvx.attention.value_residual_mix_lora_rank", (uint32_t)mdl->dim[DIM_DV]);
    kv_u32(b, "rwkvx.attention.gate_lora_rank", (uint32_t)mdl->dim[DIM_DG]);
    kv_u32(b, "rwkvx.sparse.chunk_size", meta->chunk_size);
    kv_u32(b, "rwkvx.sparse.topk", meta->topk);
    gguf_vocab(b, vocab);
}

/* ========================================================================
 * 11b. llama.cpp's rwkv7 layout (--llama-cpp), as its convert_hf_to_gguf.py
 * writes a plain RWKV-7 model and src/models/rwkv7.cpp loads it: keys under
 * "rwkv7.", no vocab_size (the embedding's rows), the fused lerp [C, 1, 1, 6],
 * the FFN lerp [C, 1, 1], block 0's unused v0/v1/v2 as copies of a0/a1/a2,
 * w1/w2 always F32 (llama-quantize leaves them too); docs/FORMAT.md.
 * ======================================================================== */

/* Where llama.cpp's layout differs from ours for a row (above). */
static void llama_cpp_shape(cv_out *o, const rwkvx__tensor_spec *row)
{
    const rwkvx__tensor_spec *t = rwkvx__rwkv_tensors;
    if (row == &t[RWKVX__R_LERP]) {
        o->n_dims = 4;
        o->ne[3] = o->ne[1];
        o->ne[1] = o->ne[2] = 1;
    } else if (row == &t[RWKVX__R_FFN_LERP]) {
        o->n_dims = 3;
        o->ne[1] = o->ne[2] = 1;
    } else if (row == &t[RWKVX__R_W1] || row == &t[RWKVX__R_W2]) {
        o->type = GGML_F32;
    }
}

/* llama.cpp's general.file_type (enum llama_ftype) of the matrix type; a
 * single K type is llama.cpp's _S variant, the mixes its _M (Q3_K: Q3_K_S). */
static uint32_t llama_cpp_file_type(const cv_quant *q)
{
    if (q->mix)
        return q->matrix_type == GGML_Q4_K ? 15 : 17;
    switch (q->matrix_type) {
    case GGML_F16: return 1;
    case GGML_Q4_0: return 2;
    case GGML_Q4_1: return 3;
    case GGML_Q8_0: return 7;
    case GGML_Q5_0: return 8;
    case GGML_Q5_1: return 9;
    case GGML_Q2_K: return 10;
    case GGML_Q3_K: return 11;
    case GGML_Q4_K: return 14;
    case GGML_Q5_K: return 16;
    case GGML_Q6_K: return 18;
    case GGML_IQ4_NL: return 25;
    case GGML_IQ4_XS: return 30;
    case GGML_BF16: return 32;
    default: return 0;
    }
}

/* The keys llama.cpp's converter writes for a plain RWKV-7 model. */
static void gguf_metadata_llama_cpp(cv_buf *b, const cv_model *mdl, const cv_vocab *vocab, const cv_options_meta *meta,
                                    const cv_quant *quant)
{
    kv_str(b, "general.architecture", "rwkv7");
    kv_str(b, "general.name", meta->name);
    kv_u32(b, "general.alignment", CV_ALIGN);
    kv_u32(b, "general.file_type", llama_cpp_file_type(quant));
    kv_u32(b, "rwkv7.context_length", 1048576); /* RWKV is not context limited */
    kv_u32(b, "rwkv7.embedding_length", (uint32_t)mdl->dim[DIM_C]);
    kv_u32(b, "rwkv7.block_count", mdl->n_rwkv);
    kv_f32(b, "rwkv7.attention.layer_norm_epsilon", meta->ln_eps);
    kv_u32(b, "rwkv7.wkv.head_size", 64);
    kv_u32(b, "rwkv7.attention.decay_lora_rank", (uint32_t)mdl->dim[DIM_DW]);
    kv_u32(b, "rwkv7.attention.iclr_lora_rank", (uint32_t)mdl->dim[DIM_DA]);
    kv_u32(b, "rwkv7.attention.value_residual_mix_lora_rank",
           (uint32_t)(mdl->n_rwkv > 1 ? mdl->dim[DIM_DV] : mdl->dim[DIM_DA]));
    kv_u32(b, "rwkv7.attention.gate_lora_rank", (uint32_t)mdl->dim[DIM_DG]);
    kv_u32(b, "rwkv7.feed_forward_length", (uint32_t)mdl->dim[DIM_F]);
    kv_u32(b, "rwkv7.attention.head_count", 0); /* required by llama.cpp, unused */
    gguf_vocab(b, vocab);
    if (vocab->world) { /* what llama.cpp's converter adds to the World vocabulary */
        kv_u32(b, "tokenizer.ggml.eot_token_id", 261); /* "\n\n" ends a chat turn */
        kv_str(b, "tokenizer.chat_template", "rwkv-world");
    }
}

static void gguf_tensor_infos(cv_buf *b, const cv_plan *plan)
{
    uint32_t i, d;
    for (i = 0; i < plan->n; i++) {
        const cv_out *o = &plan->v[i];
        buf_str(b, o->name);
        buf_u32(b, o->n_dims);
        for (d = 0; d < o->n_dims; d++)
            buf_u64(b, o->ne[d]);
        buf_u32(b, (uint32_t)o->type);
        buf_u64(b, o->offset);
    }
}

/* --- the file itself: a sticky-error writer --- */

typedef struct {
    FILE *fp;
    const char *path;
    uint64_t pos;
    int failed;
} cv_writer;

static void w_put(cv_writer *w, const void *p, size_t n)
{
    if (w->failed || n == 0)
        return;
    if (fwrite(p, 1, n, w->fp) != n)
        w->failed = errno ? errno : EIO;
    w->pos += n;
}

static void w_pad(cv_writer *w)
{
    static const unsigned char zeros[CV_ALIGN];
    w_put(w, zeros, (size_t)(cv_align_up(w->pos, CV_ALIGN) - w->pos));
}

/* Builds one output tensor as f32: parts concatenated, transposed if asked. */
static int tensor_gather_f32(cv_input *in, const cv_src_list *src, const cv_out *o, float *dst, cv_err *err)
{
    int k;
    float *tmp = NULL;
    unsigned char *raw = NULL;
    uint64_t at = 0;
    for (k = 0; k < o->n_parts; k++) {
        const cv_src *t = &src->v[o->part[k]];
        uint64_t n_bytes = ggml_bytes(t->ggml_type, t->n_elems);
        const unsigned char *bytes;
        cv_input *tin = t->in ? t->in : in;
        if (tin->map && input_has(tin, t->offset, n_bytes)) {
            bytes = tin->map + t->offset;
        } else {
            raw = input_read_alloc(tin, t->offset, n_bytes, err);
            if (!raw)
                return 0;
            bytes = raw;
        }
        decode_to_f32(t->ggml_type, bytes, t->n_elems, dst + at);
        free(raw);
        raw = NULL;
        at += t->n_elems;
    }
    if (o->transpose && !src->v[o->part[0]].transposed) { /* a transposed source is already in output order */
        const cv_src *t = &src->v[o->part[0]];
        uint64_t rows = t->shape[0], cols = t->shape[1], r, c;
        tmp = cv_malloc(o->n_elems * sizeof *tmp, err);
        if (!tmp)
            return 0;
        memcpy(tmp, dst, (size_t)o->n_elems * sizeof *tmp);
        for (r = 0; r < rows; r++)
            for (c = 0; c < cols; c++)
                dst[c * rows + r] = tmp[r * cols + c];
        free(tmp);
    }
    return 1;
}

/* A GGUF input tensor already in its output type goes through unchanged
 * (as llama.cpp's quantiser does): re-quantising would only add error.  Its
 * NaN or infinite values (or block scales) are counted for the warning. */
static int tensor_copy(cv_writer *w, cv_input *in, const cv_src *t, cv_out *o, cv_err *err)
{
    const cv_type *type = type_info(o->type);
    uint64_t piece_blocks = (1u << 20) / type->bytes, at, n_blocks = o->n_elems / type->block;
    unsigned char *buf = cv_malloc(piece_blocks * type->bytes, err);
    if (!buf)
        return 0;
    for (at = 0; at < n_blocks; at += piece_blocks) {
        uint64_t n = n_blocks - at < piece_blocks ? n_blocks - at : piece_blocks;
        if (!input_read(in, t->offset + at * type->bytes, buf, n * type->bytes, err)) {
            free(buf);
            return 0;
        }
        o->n_nonfinite += count_nonfinite(o->type, buf, n * type->block);
        w_put(w, buf, (size_t)(n * type->bytes));
    }
    free(buf);
    return 1;
}

/* NaN and infinity are warned about later for the float types; a block type
 * cannot hold them at all, and a finite value whose block scale overflows
 * f16 would silently become one: both are refused (the latter after
 * encoding, from the scales).  Values beyond 1e18 are refused here: no type
 * can represent them (f16 scales end at 65504) and the quantisers' sums of
 * squares would overflow to NaN scales, which would zero their group
 * silently instead of overflowing. */
static int check_quantizable(const cv_out *o, const float *x, cv_err *err)
{
    uint64_t i;
    for (i = 0; i < o->n_elems; i++) {
        if (!isfinite(x[i]))
            return cv_fail(err, "tensor '%s' holds a non-finite value, which %s cannot store", o->name,
                           type_info(o->type)->label);
        if (fabsf(x[i]) > 1e18f)
            return cv_fail(err, "tensor '%s' holds a value too large for %s (its f16 block scale overflows)",
                           o->name, type_info(o->type)->label);
    }
    return 1;
}

static int tensor_write(cv_writer *w, cv_input *in, const cv_src_list *src, cv_out *o, cv_err *err)
{
    enum { PIECE = 1 << 16 }; /* elements encoded at a time: a multiple of 256 */
    const cv_type *type = type_info(o->type);
    float *x;
    unsigned char *piece;
    uint64_t i;
    int ok = 0;
    if (o->copy) {
        if (!tensor_copy(w, in, &src->v[o->part[0]], o, err))
            return 0;
        w_pad(w);
        return 1;
    }
    x = cv_malloc(o->n_elems * sizeof *x, err);
    piece = cv_malloc(PIECE * 4, err);
    if (!x || !piece || !tensor_gather_f32(in, src, o, x, err))
        goto done;
    if (type->quantize && !check_quantizable(o, x, err))
        goto done;
    for (i = 0; i < o->n_elems; i += PIECE) {
        uint64_t n = o->n_elems - i < PIECE ? o->n_elems - i : PIECE;
        encode_f32(o->type, x + i, n, piece);
        o->n_nonfinite += count_nonfinite(o->type, piece, n);
        if (type->quantize && o->n_nonfinite) {
            cv_fail(err, "tensor '%s' holds a value too large for %s (its f16 block scale overflows)", o->name,
                    type->label);
            goto done;
        }
        w_put(w, piece, (size_t)ggml_bytes(o->type, n));
    }
    w_pad(w);
    ok = 1;
done:
    free(x);
    free(piece);
    return ok;
}

/* Writes the whole file to `fp` (named `path` in messages), which it does
 * not close; returns its size through *size. */
static int gguf_write_stream(FILE *fp, const char *path, cv_input *in, const cv_src_list *src, const cv_model *mdl,
                             cv_plan *plan, const cv_vocab *vocab, const cv_options_meta *meta, uint64_t *size,
                             cv_err *err)
{
    cv_buf head;
    cv_writer w;
    unsigned char fixed[24];
    uint64_t data_start;
    uint32_t i;
    int ok = 0;

    memset(&head, 0, sizeof head);
    memset(&w, 0, sizeof w);
    if (meta->kv_copy) {
        buf_put(&head, meta->kv_copy->p, meta->kv_copy->n);
        head.n_kv = meta->kv_copy->n_kv;
    } else if (plan->llama_cpp) {
        gguf_metadata_llama_cpp(&head, mdl, vocab, meta, &plan->quant);
    } else {
        gguf_metadata(&head, mdl, vocab, meta);
    }
    gguf_tensor_infos(&head, plan);
    if (head.oom) {
        free(head.p);
        return cv_fail(err, "out of memory");
    }
    w.path = path;
    w.fp = fp;
    memcpy(fixed, "GGUF", 4);
    put32(fixed + 4, 3);
    put32(fixed + 8, plan->n);
    put32(fixed + 12, 0);
    put32(fixed + 16, (uint32_t)head.n_kv);
    put32(fixed + 20, (uint32_t)(head.n_kv >> 32));
    w_put(&w, fixed, sizeof fixed);
    w_put(&w, head.p, head.n);
    w_pad(&w);
    data_start = w.pos;
    for (i = 0; i < plan->n && !w.failed; i++) {
        if (w.pos != data_start + plan->v[i].offset) {
            cv_fail(err, "internal error: tensor '%s' lands at the wrong offset", plan->v[i].name);
            goto done;
        }
        if (!tensor_write(&w, in, src, &plan->v[i], err))
            goto done;
    }
    if (!w.failed && fflush(w.fp) != 0)
        w.failed = errno ? errno : EIO;
    if (w.failed) {
        cv_fail(err, "cannot write '%s': %s", path, strerror(w.failed));
        goto done;
    }
    *size = w.pos;
    ok = 1;
done:
    free(head.p);
    return ok;
}

/* ========================================================================
 * 11c. Hugging Face checkpoints: flash-linear-attention's RWKV7ForCausalLM
 *
 * A directory holding config.json and model.safetensors, or the shards
 * model-0000i-of-0000n.safetensors that model.safetensors.index.json lists,
 * or one such .safetensors file (config.json beside it). The names are
 * mapped back to the released ones, the inverse of flash-linear-attention's
 * utils/convert_from_rwkv7.py: model.embeddings / model.norm / lm_head are
 * emb / ln_out / head, model.layers.N is blocks.N with pre_norm / attn_norm /
 * ffn_norm for ln0 / ln1 / ln2, attn.{r,k,v,o}_proj and attn.g_norm for
 * att.receptance / key / value / output and att.ln_x, and the LoRAs
 * attn.X_lora.lora.{2.bias, 0.weight, 2.weight} for att.X0 / X1 / X2 with
 * X1 and X2 stored transposed; vectors are squeezed to (C,) and an older
 * version fuses the six lerps into attn.x_x (6, C). config.json supplies
 * the norms (LayerNorm eps norm_eps, ln_x GroupNorm eps head_dim * norm_eps)
 * and is checked against the tensors.
 * ======================================================================== */

enum { CV_MAX_SHARDS = 256, CV_MAX_JSON_DEPTH = 32 };

static int read_checkpoint(cv_input *in, cv_src_list *src, cv_err *err); /* section 12 */
#define CV_MAX_JSON_FILE ((uint64_t)64 << 20) /* config.json, the shard index */

typedef struct {
    cv_input in[CV_MAX_SHARDS];
    char *path[CV_MAX_SHARDS];
    uint32_t n;
} cv_inputs;

typedef struct {
    int hf;                       /* the checkpoint uses flash-linear-attention names */
    int tied;                     /* tie_word_embeddings: the head is the embedding */
    uint64_t hidden, layers, vocab, ffn, head_dim; /* 0 when config.json leaves them out (or null) */
    uint64_t rank[4];             /* decay, a, v, gate LoRA ranks */
    double norm_eps;
    float ln_eps, gn_eps;         /* what the model file records */
} cv_hf_config;

static void inputs_close(cv_inputs *ins)
{
    uint32_t i;
    for (i = 0; i < ins->n; i++) {
        input_close(&ins->in[i]);
        free(ins->path[i]);
    }
    ins->n = 0;
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir);
    char *p = malloc(n + strlen(name) + 2);
    if (p)
        sprintf(p, "%s%s%s", dir, n && dir[n - 1] != '/' ? "/" : "", name);
    return p;
}

static int path_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Opens `path` (owned by ins from here on) and reads its tensors into src. */
static int inputs_add(cv_inputs *ins, char *path, cv_src_list *src, cv_err *err)
{
    uint32_t first = src->n, i;
    cv_input *in;
    if (!path)
        return cv_fail(err, "out of memory");
    if (ins->n == CV_MAX_SHARDS) {
        free(path);
        return cv_fail(err, "more than %d checkpoint files", CV_MAX_SHARDS);
    }
    in = &ins->in[ins->n];
    ins->path[ins->n++] = path;
    if (!input_open(in, path, err) || !read_checkpoint(in, src, err))
        return 0;
    for (i = first; i < src->n; i++)
        src->v[i].in = in;
    return 1;
}

/* --- a whole JSON file, any values (config.json, the shard index) --- */

static char *json_file_read(const char *path, js_cursor *j, cv_err *err)
{
    cv_input in;
    char *text = NULL;
    memset(j, 0, sizeof *j);
    if (input_open(&in, path, err)) {
        if (in.size > CV_MAX_JSON_FILE)
            cv_fail(err, "'%s' is too large (%" PRIu64 " bytes)", path, in.size);
        else
            text = (char *)input_read_alloc(&in, 0, in.size, err);
        j->p = j->begin = text;
        j->end = text ? text + in.size : NULL;
    }
    input_close(&in);
    j->err = err;
    j->file = path;
    return text;
}

static int js_literal(js_cursor *j, const char *word)
{
    size_t n = strlen(word);
    js_skip_ws(j);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
        return js_fail(j, "unexpected value");
    j->p += n;
    return 1;
}

/* A JSON number (any form) as a double. */
static int js_number(js_cursor *j, double *out)
{
    char buf[64], *end;
    size_t n = 0;
    js_skip_ws(j);
    while (j->p + n < j->end && n < sizeof buf - 1 && strchr("+-0123456789.eE", j->p[n]))
        n++;
    memcpy(buf, j->p, n);
    buf[n] = 0;
    *out = strtod(buf, &end);
    if (n == 0 || end != buf + n || !isfinite(*out))
        return js_fail(j, "expected a number");
    j->p += n;
    return 1;
}

/* Calls `member` on each key of an object (the cursor then at its value). */
typedef int (*js_member_fn)(js_cursor *j, const char *key, void *ctx);

static int js_skip_value(js_cursor *j, int depth);

static int js_object(js_cursor *j, js_member_fn member, void *ctx, int depth)
{
    char *key;
    size_t n;
    if (depth > CV_MAX_JSON_DEPTH)
        return js_fail(j, "nested too deeply");
    if (!js_expect(j, '{'))
        return 0;
    if (js_peek(j, '}'))
        return j->p++, 1;
    for (;;) {
        int ok;
        if (!js_string(j, &key, &n))
            return 0;
        ok = js_expect(j, ':') && (member ? member(j, key, ctx) : js_skip_value(j, depth + 1));
        free(key);
        if (!ok)
            return 0;
        if (js_peek(j, '}'))
            return j->p++, 1;
        if (!js_expect(j, ','))
            return 0;
    }
}

static int js_skip_value(js_cursor *j, int depth)
{
    double num;
    char *s;
    size_t n;
    if (depth > CV_MAX_JSON_DEPTH)
        return js_fail(j, "nested too deeply");
    js_skip_ws(j);
    if (j->p >= j->end)
        return js_fail(j, "unexpected end");
    switch (*j->p) {
    case '{': return js_object(j, NULL, NULL, depth + 1);
    case '[':
        j->p++;
        if (js_peek(j, ']'))
            return j->p++, 1;
        for (;;) {
            if (!js_skip_value(j, depth + 1))
                return 0;
            if (js_peek(j, ']'))
                return j->p++, 1;
            if (!js_expect(j, ','))
                return 0;
        }
    case '"':
        if (!js_string(j, &s, &n))
            return 0;
        free(s);
        return 1;
    case 't': return js_literal(j, "true");
    case 'f': return js_literal(j, "false");
    case 'n': return js_literal(j, "null");
    default: return js_number(j, &num);
    }
}

static int js_is_null(js_cursor *j)
{
    js_skip_ws(j);
    if ((size_t)(j->end - j->p) >= 4 && memcmp(j->p, "null", 4) == 0)
        return j->p += 4, 1;
    return 0;
}

/* A positive integer, or null (0). */
static int js_size(js_cursor *j, const char *key, uint64_t *out)
{
    double v;
    if (js_is_null(j))
        return *out = 0, 1;
    if (!js_number(j, &v))
        return 0;
    if (v < 1 || v > 1e9 || v != floor(v))
        return cv_fail(j->err, "'%s': \"%s\" is %g, not a positive integer", j->file, key, v);
    *out = (uint64_t)v;
    return 1;
}

static int js_bool(js_cursor *j, int *out)
{
    js_skip_ws(j);
    if (j->p < j->end && *j->p == 't')
        return *out = 1, js_literal(j, "true");
    return *out = 0, js_literal(j, "false");
}

/* --- config.json --- */

static int config_architectures(js_cursor *j)
{
    char *s;
    size_t n;
    int found = 0;
    if (!js_expect(j, '['))
        return 0;
    while (!js_peek(j, ']')) {
        if (!js_string(j, &s, &n))
            return 0;
        found |= strcmp(s, "RWKV7ForCausalLM") == 0 || strcmp(s, "Rwkv7ForCausalLM") == 0;
        if (!found) {
            cv_fail(j->err, "'%s': architecture '%s' is not RWKV7ForCausalLM (flash-linear-attention's RWKV-7)", j->file, s);
            free(s);
            return 0;
        }
        free(s);
        if (!js_peek(j, ']') && !js_expect(j, ','))
            return 0;
    }
    j->p++;
    return 1;
}

/* "value_dim": null, a number, or one number per layer: each must be C. */
static int config_value_dim(js_cursor *j, cv_hf_config *cfg)
{
    uint64_t v;
    if (!js_peek(j, '['))
        return js_size(j, "value_dim", &v) && (v == 0 || v == cfg->hidden || cfg->hidden == 0 ||
                                                cv_fail(j->err, "'%s': value_dim %" PRIu64 " differs from hidden_size",
                                                        j->file, v));
    j->p++;
    while (!js_peek(j, ']')) {
        if (!js_size(j, "value_dim", &v))
            return 0;
        if (cfg->hidden && v != cfg->hidden)
            return cv_fail(j->err, "'%s': value_dim %" PRIu64 " differs from hidden_size %" PRIu64 " (not supported)",
                           j->file, v, cfg->hidden);
        if (!js_peek(j, ']') && !js_expect(j, ','))
            return 0;
    }
    j->p++;
    return 1;
}

static int config_member(js_cursor *j, const char *key, void *ctx)
{
    static const char *const ranks[4] = {"decay_low_rank_dim", "a_low_rank_dim", "v_low_rank_dim", "gate_low_rank_dim"};
    cv_hf_config *cfg = ctx;
    char *s;
    size_t n;
    int flag, i, ok;
    for (i = 0; i < 4; i++)
        if (strcmp(key, ranks[i]) == 0)
            return js_size(j, key, &cfg->rank[i]);
    if (strcmp(key, "architectures") == 0)
        return config_architectures(j);
    if (strcmp(key, "hidden_size") == 0)
        return js_size(j, key, &cfg->hidden);
    if (strcmp(key, "num_hidden_layers") == 0)
        return js_size(j, key, &cfg->layers);
    if (strcmp(key, "vocab_size") == 0)
        return js_size(j, key, &cfg->vocab);
    if (strcmp(key, "intermediate_size") == 0)
        return js_size(j, key, &cfg->ffn);
    if (strcmp(key, "head_dim") == 0)
        return js_size(j, key, &cfg->head_dim);
    if (strcmp(key, "value_dim") == 0)
        return config_value_dim(j, cfg);
    if (strcmp(key, "norm_eps") == 0)
        return js_number(j, &cfg->norm_eps);
    if (strcmp(key, "attn") == 0) /* softmax-attention layers in a hybrid: not an RWKV-7 block */
        return js_is_null(j) || cv_fail(j->err, "'%s': \"attn\" makes some layers softmax attention (a hybrid "
                                                "flash-linear-attention model), which rwkvx cannot run", j->file);
    if (strcmp(key, "tie_word_embeddings") == 0)
        return js_bool(j, &cfg->tied);
    if (strcmp(key, "norm_bias") == 0 || strcmp(key, "norm_first") == 0) {
        if (!js_bool(j, &flag))
            return 0;
        return flag || cv_fail(j->err, "'%s': \"%s\" is false; RWKV-7 has biased LayerNorms before each block",
                               j->file, key);
    }
    if (strcmp(key, "hidden_act") == 0) {
        if (!js_string(j, &s, &n))
            return 0;
        ok = strcmp(s, "sqrelu") == 0 ||
             cv_fail(j->err, "'%s': hidden_act '%s' (RWKV-7's channel mix is sqrelu)", j->file, s);
        free(s);
        return ok;
    }
    return js_skip_value(j, 1);
}

/* Parses config.json's text (`path` names it in messages); the fuzzer calls this. */
static int config_parse(const char *path, const char *text, size_t size, cv_hf_config *cfg, cv_err *err)
{
    js_cursor j;
    memset(&j, 0, sizeof j);
    j.p = j.begin = text;
    j.end = text + size;
    j.err = err;
    j.file = path;
    cfg->norm_eps = 1e-5; /* flash-linear-attention's defaults */
    cfg->head_dim = 64;
    if (!js_object(&j, config_member, cfg, 0))
        return 0;
    js_skip_ws(&j);
    if (j.p != j.end)
        return js_fail(&j, "unexpected data after the object");
    if (cfg->head_dim != 64)
        return cv_fail(err, "'%s': head_dim %" PRIu64 " (only 64 is supported)", path, cfg->head_dim);
    if (!(cfg->norm_eps >= 1e-12 && cfg->norm_eps * 64 < 1)) /* the model file holds it as a positive f32 */
        return cv_fail(err, "'%s': norm_eps %g is out of range [1e-12, 1/64)", path, cfg->norm_eps);
    cfg->ln_eps = (float)cfg->norm_eps;
    cfg->gn_eps = (float)(cfg->norm_eps * (double)cfg->head_dim);
    return 1;
}

static int config_read(const char *path, cv_hf_config *cfg, cv_err *err)
{
    js_cursor j;
    char *text;
    int ok;
    if (!path_exists(path))
        return cv_fail(err, "'%s' is missing: a Hugging Face checkpoint needs its config.json (sizes and norms)", path);
    text = json_file_read(path, &j, err);
    if (!text)
        return 0;
    ok = config_parse(path, text, (size_t)(j.end - j.begin), cfg, err);
    free(text);
    return ok;
}

/* --- model.safetensors.index.json: {"metadata": .., "weight_map": {tensor: shard}} --- */

typedef struct {
    cv_inputs *ins;
    const char *dir;
    cv_src_list *src;
    uint32_t n_listed;
} cv_index;

static int index_weight(js_cursor *j, const char *tensor, void *ctx)
{
    cv_index *x = ctx;
    char *file;
    size_t n;
    uint32_t i;
    (void)tensor;
    if (!js_string(j, &file, &n))
        return 0;
    x->n_listed++;
    for (i = 0; i < x->ins->n; i++)
        if (strcmp(cv_basename(x->ins->path[i]), file) == 0)
            break;
    if (i == x->ins->n) { /* a shard not yet read */
        if (strchr(file, '/') || strcmp(file, ".") == 0 || strcmp(file, "..") == 0 || n == 0) {
            cv_fail(j->err, "'%s': shard name '%s' is not a file name in the checkpoint's directory", j->file, file);
            free(file);
            return 0;
        }
        if (!inputs_add(x->ins, path_join(x->dir, file), x->src, j->err)) {
            free(file);
            return 0;
        }
    }
    free(file);
    return 1;
}

static int index_member(js_cursor *j, const char *key, void *ctx)
{
    return strcmp(key, "weight_map") == 0 ? js_object(j, index_weight, ctx, 1) : js_skip_value(j, 1);
}

static int index_read(const char *path, const char *dir, cv_inputs *ins, cv_src_list *src, cv_err *err)
{
    js_cursor j;
    cv_index x;
    char *text = json_file_read(path, &j, err);
    int ok;
    if (!text)
        return 0;
    x.ins = ins, x.dir = dir, x.src = src, x.n_listed = 0;
    ok = js_object(&j, index_member, &x, 0);
    free(text);
    if (ok && x.n_listed != src->n)
        return cv_fail(err, "'%s' lists %u tensors but its shards hold %u", path, (unsigned)x.n_listed, (unsigned)src->n);
    if (ok && ins->n == 0)
        return cv_fail(err, "'%s' lists no shards", path);
    return ok;
}

/* --- names --- */

static int hf_is_layout(const cv_src_list *src)
{
    uint32_t i;
    for (i = 0; i < src->n; i++)
        if (strncmp(src->v[i].name, "model.layers.", 13) == 0 || strcmp(src->v[i].name, "model.embeddings.weight") == 0)
            return 1;
    return 0;
}

/* The released name of a name after "model.layers.N."; *transposed for a
 * LoRA matrix, *unsqueeze for a vector fla stores as (C,). */
static const char *hf_block_name(const char *rest, char *buf, size_t size, int *transposed, int *unsqueeze)
{
    static const char *const same[] = {"attn.x_r", "attn.x_w", "attn.x_k", "attn.x_v", "attn.x_a", "attn.x_g",
                                       "attn.k_k", "attn.k_a", "attn.r_k", "ffn.x_k", "ffn.key.weight", "ffn.value.weight"};
    static const char *const renamed[][2] = {
        {"pre_norm.", "ln0."}, {"attn_norm.", "ln1."}, {"ffn_norm.", "ln2."}, {"attn.g_norm.", "att.ln_x."},
        {"attn.r_proj.", "att.receptance."}, {"attn.k_proj.", "att.key."}, {"attn.v_proj.", "att.value."},
        {"attn.o_proj.", "att.output."}};
    size_t i;
    *transposed = *unsqueeze = 0;
    for (i = 0; i < sizeof same / sizeof *same; i++)
        if (strcmp(rest, same[i]) == 0) {
            *unsqueeze = strcmp(rest, "attn.r_k") != 0 && !strstr(rest, ".weight");
            snprintf(buf, size, "%s%s", rest[0] == 'a' ? "att." : "", rest[0] == 'a' ? rest + 5 : rest);
            return buf;
        }
    for (i = 0; i < sizeof renamed / sizeof *renamed; i++) {
        size_t n = strlen(renamed[i][0]);
        if (strncmp(rest, renamed[i][0], n) == 0 && (strcmp(rest + n, "weight") == 0 || strcmp(rest + n, "bias") == 0)) {
            snprintf(buf, size, "%s%s", renamed[i][1], rest + n);
            return buf;
        }
    }
    if (strncmp(rest, "attn.", 5) == 0 && strchr("wavg", rest[5]) && strncmp(rest + 6, "_lora.lora.", 11) == 0) {
        const char *which = rest + 17;
        char num = strcmp(which, "2.bias") == 0 ? '0' : strcmp(which, "0.weight") == 0 ? '1'
                 : strcmp(which, "2.weight") == 0 ? '2' : 0;
        if (!num || (rest[5] == 'g' && num == '0'))
            return NULL;
        *transposed = num != '0';
        *unsqueeze = num == '0';
        snprintf(buf, size, "att.%c%c", rest[5], num);
        return buf;
    }
    return NULL;
}

/* Adds one translated tensor to `out`: the released name, the released shape. */
static int hf_add(cv_src_list *out, const cv_src *t, const char *name, int transposed, int unsqueeze, cv_err *err)
{
    uint64_t shape[CV_MAX_DIMS];
    int ndim = t->ndim;
    memcpy(shape, t->shape, sizeof shape);
    if (unsqueeze && ndim == 1)
        shape[2] = shape[0], shape[0] = shape[1] = 1, ndim = 3;
    if (transposed) {
        if (ndim != 2)
            return cv_fail(err, "tensor '%s' should be a matrix", t->name);
        shape[0] = t->shape[1], shape[1] = t->shape[0];
    }
    if (!src_add(out, name, strlen(name), t->dtype, ndim, shape, t->offset, err))
        return 0;
    out->v[out->n - 1].in = t->in;
    out->v[out->n - 1].transposed = transposed;
    return 1;
}

/* attn.x_x (6, C), an older flash-linear-attention layout: the six lerps. */
static int hf_split_lerps(cv_src_list *out, const cv_src *t, uint32_t block, cv_err *err)
{
    static const char lerps[] = "rwkvag";
    char name[64];
    cv_src row = *t;
    int i;
    if (t->ndim != 2 || t->shape[0] != 6)
        return cv_fail(err, "tensor '%s' should have shape (6, C)", t->name);
    row.ndim = 1;
    row.shape[0] = t->shape[1];
    for (i = 0; i < 6; i++) {
        row.offset = t->offset + (uint64_t)i * t->shape[1] * cv_dtype_size(t->dtype);
        snprintf(name, sizeof name, "blocks.%u.att.x_%c", (unsigned)block, lerps[i]);
        if (!hf_add(out, &row, name, 0, 1, err))
            return 0;
    }
    return 1;
}

/* Replaces src by its translation; a name that has no released counterpart is refused. */
static int hf_translate(cv_src_list *src, cv_err *err)
{
    static const char *const global[][2] = {{"model.embeddings.weight", "emb.weight"},
                                            {"model.norm.weight", "ln_out.weight"},
                                            {"model.norm.bias", "ln_out.bias"},
                                            {"lm_head.weight", "head.weight"}};
    cv_src_list out;
    uint32_t i, block;
    int ok = 1;
    memset(&out, 0, sizeof out);
    out.format = src->format;
    for (i = 0; i < src->n && ok; i++) {
        const cv_src *t = &src->v[i];
        char name[160], part[128];
        const char *rest, *mapped = NULL;
        int transposed = 0, unsqueeze = 0;
        size_t g;
        for (g = 0; g < sizeof global / sizeof *global; g++)
            if (strcmp(t->name, global[g][0]) == 0)
                mapped = global[g][1];
        if (!mapped && strncmp(t->name, "model.layers.", 13) == 0 && parse_index(t->name + 13, &block, &rest)) {
            if (strcmp(rest, "attn.x_x") == 0) {
                ok = hf_split_lerps(&out, t, block, err);
                continue;
            }
            if (hf_block_name(rest, part, sizeof part, &transposed, &unsqueeze)) {
                snprintf(name, sizeof name, "blocks.%u.%s", (unsigned)block, part);
                mapped = name;
            }
        }
        if (!mapped) {
            ok = cv_fail(err, "unknown tensor '%s' (not in flash-linear-attention's RWKV-7 layout)", t->name);
            break;
        }
        ok = hf_add(&out, t, mapped, transposed, unsqueeze, err);
    }
    if (ok) {
        out.format = "Hugging Face safetensors (flash-linear-attention RWKV7ForCausalLM)";
        src_list_free(src);
        *src = out;
    } else {
        src_list_free(&out);
    }
    return ok;
}

/* config.json must describe the tensors it came with. */
static int hf_check_config(const cv_hf_config *cfg, const cv_model *mdl, cv_err *err)
{
    static const char *const what[] = {"hidden_size", "vocab_size", "intermediate_size", "num_hidden_layers",
                                       "decay_low_rank_dim", "a_low_rank_dim", "v_low_rank_dim", "gate_low_rank_dim"};
    uint64_t said[8], have[8];
    int i;
    said[0] = cfg->hidden, said[1] = cfg->vocab, said[2] = cfg->ffn, said[3] = cfg->layers;
    have[0] = mdl->dim[DIM_C], have[1] = mdl->dim[DIM_V], have[2] = mdl->dim[DIM_F], have[3] = mdl->n_rwkv;
    for (i = 0; i < 4; i++)
        said[4 + i] = cfg->rank[i];
    have[4] = mdl->dim[DIM_DW], have[5] = mdl->dim[DIM_DA], have[6] = mdl->n_rwkv > 1 ? mdl->dim[DIM_DV] : 0,
    have[7] = mdl->dim[DIM_DG];
    for (i = 0; i < 8; i++)
        if (said[i] && have[i] && said[i] != have[i])
            return cv_fail(err, "config.json says %s %" PRIu64 " but the tensors have %" PRIu64, what[i], said[i], have[i]);
    return 1;
}

/* tie_word_embeddings: transformers makes lm_head the embedding matrix, and a
   checkpoint saved so usually has no lm_head.weight. The output gets the
   embedding as its head (output.weight: llama.cpp's rwkv7 loader needs one). */
static int hf_tie_head(cv_src_list *src, const cv_hf_config *cfg, cv_err *err)
{
    cv_src emb;
    uint32_t i;
    int found = 0;
    memset(&emb, 0, sizeof emb);
    if (!cfg->tied)
        return 1;
    for (i = 0; i < src->n; i++) {
        if (strcmp(src->v[i].name, "head.weight") == 0)
            return 1; /* saved anyway: the same values */
        if (strcmp(src->v[i].name, "emb.weight") == 0)
            emb = src->v[i], found = 1; /* a copy: hf_add may move src->v */
    }
    if (!found)
        return cv_fail(err, "tie_word_embeddings is true but there is no model.embeddings.weight");
    return hf_add(src, &emb, "head.weight", 0, 0, err);
}

/* Reads a checkpoint file, or a Hugging Face directory or .safetensors file. */
static int read_input(const char *path, cv_inputs *ins, cv_src_list *src, cv_hf_config *cfg, cv_err *err)
{
    char *dir, *index = NULL, *config = NULL, *slash;
    int ok = 1, is_dir = path_is_dir(path);
    memset(cfg, 0, sizeof *cfg);
    cfg->ln_eps = 1e-5f; /* what the released checkpoints use */
    cfg->gn_eps = 64e-5f;
    if (!is_dir) {
        if (!inputs_add(ins, cv_strndup(path, strlen(path)), src, err))
            return 0;
        if (!hf_is_layout(src))
            return 1; /* a released checkpoint */
    }
    dir = cv_strndup(path, strlen(path)); /* where config.json is */
    if (dir && !is_dir) {
        slash = strrchr(dir, '/');
        if (slash)
            slash[1] = 0;
        else
            strcpy(dir, ".");
    }
    if (dir) {
        index = path_join(dir, "model.safetensors.index.json");
        config = path_join(dir, "config.json");
    }
    if (!index || !config) {
        ok = cv_fail(err, "out of memory");
    } else if (is_dir && path_exists(index)) {
        ok = index_read(index, dir, ins, src, err);
    } else if (is_dir) {
        char *single = path_join(dir, "model.safetensors");
        if (single && !path_exists(single)) {
            free(single);
            ok = cv_fail(err, "directory '%s' holds neither model.safetensors nor model.safetensors.index.json", path);
        } else {
            ok = inputs_add(ins, single, src, err);
        }
    }
    if (ok && !hf_is_layout(src))
        ok = cv_fail(err, "'%s' does not hold flash-linear-attention RWKV-7 tensors (no model.layers.N.*)", path);
    cfg->hf = 1;
    ok = ok && config_read(config, cfg, err) && hf_translate(src, err) && hf_tie_head(src, cfg, err);
    free(dir);
    free(index);
    free(config);
    return ok;
}

/* ========================================================================
 * 11d. GGUF input: re-quantising a GGUF file
 *
 * IN may be a GGUF file (ours, or llama.cpp's), so that an f32 or f16 model
 * can be re-quantised without its checkpoint: every tensor is decoded to
 * f32 (dequantised) and encoded in the type the options choose for it by
 * name; one already in that type is copied.  The key/values are copied as
 * they are, except general.alignment (the output's is 32) and
 * general.file_type (llama.cpp's summary of the old types, now wrong).
 * Every count, length and offset is checked against the file.
 * ======================================================================== */

enum { GGUF_TYPE_COUNT = 13, GGUF_MAX_KV = 1 << 20, GGUF_MAX_KEY = 1 << 16, GGUF_MAX_TENSOR_NAME = 63 };

typedef struct {
    cv_input *in;
    uint64_t pos;
    cv_err *err;
} gg_cursor;

static int gg_read(gg_cursor *c, void *dst, uint64_t n, const char *what)
{
    if (!input_has(c->in, c->pos, n))
        return cv_fail(c->err, "'%s': truncated GGUF file (%s at offset %" PRIu64 " runs past the end)", c->in->path,
                       what, c->pos);
    if (!input_read(c->in, c->pos, dst, n, c->err))
        return 0;
    c->pos += n;
    return 1;
}

static int gg_u32(gg_cursor *c, uint32_t *v, const char *what)
{
    unsigned char b[4];
    if (!gg_read(c, b, 4, what))
        return 0;
    *v = rd32(b);
    return 1;
}

static int gg_u64(gg_cursor *c, uint64_t *v, const char *what)
{
    unsigned char b[8];
    if (!gg_read(c, b, 8, what))
        return 0;
    *v = rd64(b);
    return 1;
}

/* A string of at most max bytes into a fresh NUL-terminated buffer (out
 * NULL: skipped). */
static int gg_string(gg_cursor *c, uint64_t max, char **out, const char *what)
{
    uint64_t len;
    if (!gg_u64(c, &len, what))
        return 0;
    if (len > max)
        return cv_fail(c->err, "'%s': GGUF %s of %" PRIu64 " bytes (at most %" PRIu64 ")", c->in->path, what, len, max);
    if (!out) {
        if (!input_has(c->in, c->pos, len))
            return cv_fail(c->err, "'%s': truncated GGUF file (%s at offset %" PRIu64 " runs past the end)",
                           c->in->path, what, c->pos);
        c->pos += len;
        return 1;
    }
    *out = cv_malloc(len + 1, c->err);
    if (!*out)
        return 0;
    if (!gg_read(c, *out, len, what)) {
        free(*out);
        *out = NULL;
        return 0;
    }
    (*out)[len] = '\0';
    if (strlen(*out) != len) {
        free(*out);
        *out = NULL;
        return cv_fail(c->err, "'%s': GGUF %s contains a NUL byte", c->in->path, what);
    }
    return 1;
}

/* Skips one value of GGUF type `type` (arrays of scalars or strings). */
static int gg_skip_value(gg_cursor *c, uint32_t type, int in_array, const char *key)
{
    static const uint8_t size[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    uint32_t elem;
    uint64_t count, i, bytes;
    if (type >= GGUF_TYPE_COUNT)
        return cv_fail(c->err, "'%s': GGUF key '%s' has unknown value type %u", c->in->path, key, (unsigned)type);
    if (type == GGUF_STRING)
        return gg_string(c, UINT64_MAX, NULL, "string value");
    if (type != GGUF_ARRAY) {
        if (!input_has(c->in, c->pos, size[type]))
            return cv_fail(c->err, "'%s': truncated GGUF file (value of '%s' runs past the end)", c->in->path, key);
        c->pos += size[type];
        return 1;
    }
    if (in_array)
        return cv_fail(c->err, "'%s': GGUF key '%s' holds an array of arrays (not supported)", c->in->path, key);
    if (!gg_u32(c, &elem, "array type") || !gg_u64(c, &count, "array length"))
        return 0;
    if (elem == GGUF_STRING) {
        for (i = 0; i < count; i++)
            if (!gg_skip_value(c, elem, 1, key))
                return 0;
        return 1;
    }
    if (elem >= GGUF_TYPE_COUNT || elem == GGUF_ARRAY)
        return gg_skip_value(c, elem, 1, key);
    if (!cv_mul(count, size[elem], &bytes) || !input_has(c->in, c->pos, bytes))
        return cv_fail(c->err, "'%s': GGUF array '%s' of %" PRIu64 " values runs past the end of the file", c->in->path,
                       key, count);
    c->pos += bytes;
    return 1;
}

/* Appends bytes [from, to) of the input to b. */
static int gg_copy(gg_cursor *c, cv_buf *b, uint64_t from, uint64_t to)
{
    unsigned char *p = input_read_alloc(c->in, from, to - from, c->err);
    if (!p)
        return 0;
    buf_put(b, p, (size_t)(to - from));
    free(p);
    return 1;
}

/* Reads the key/values, copying them to kv; *alignment gets general.alignment. */
static int gg_read_kv(gg_cursor *c, uint64_t n_kv, cv_buf *kv, uint32_t *alignment, char *arch, size_t arch_size)
{
    uint64_t i;
    for (i = 0; i < n_kv; i++) {
        uint64_t start = c->pos;
        char *key = NULL;
        uint32_t type, v;
        int ok;
        if (!gg_string(c, GGUF_MAX_KEY, &key, "key"))
            return 0;
        ok = gg_u32(c, &type, "value type");
        if (ok && strcmp(key, "general.alignment") == 0) {
            ok = type == GGUF_U32 ? gg_u32(c, &v, "value")
                                  : cv_fail(c->err, "'%s': GGUF general.alignment is not a u32", c->in->path);
            if (ok && (v == 0 || (v & (v - 1)) != 0 || v > 65536))
                ok = cv_fail(c->err, "'%s': GGUF general.alignment %u is not a power of two up to 65536",
                             c->in->path, (unsigned)v);
            if (ok) {
                *alignment = v;
                kv_u32(kv, "general.alignment", CV_ALIGN);
            }
        } else if (ok && strcmp(key, "general.architecture") == 0 && type == GGUF_STRING) {
            char *value = NULL;
            ok = gg_string(c, 256, &value, "general.architecture");
            if (ok) {
                snprintf(arch, arch_size, "%s", value);
                ok = gg_copy(c, kv, start, c->pos);
                kv->n_kv++;
            }
            free(value);
        } else if (ok) {
            ok = gg_skip_value(c, type, 0, key);
            if (ok && strcmp(key, "general.file_type") != 0) {
                ok = gg_copy(c, kv, start, c->pos);
                kv->n_kv++;
            }
        }
        free(key);
        if (!ok)
            return 0;
    }
    return 1;
}

static int gg_name_cmp(const void *a, const void *b)
{
    return strcmp((*(const cv_src *const *)a)->name, (*(const cv_src *const *)b)->name);
}

/* Tensor names must be unique: the loader finds tensors by name. */
static int gg_check_unique(const cv_src_list *src, cv_err *err)
{
    const cv_src **sorted = cv_malloc((uint64_t)src->n * sizeof *sorted, err);
    uint32_t i;
    int ok = 1;
    if (!sorted)
        return 0;
    for (i = 0; i < src->n; i++)
        sorted[i] = &src->v[i];
    qsort(sorted, src->n, sizeof *sorted, gg_name_cmp);
    for (i = 1; i < src->n && ok; i++)
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0)
            ok = cv_fail(err, "GGUF tensor name '%s' appears twice", sorted[i]->name);
    free(sorted);
    return ok;
}

/* One tensor info: name, dimensions (ggml order: ne[0] is the row length),
 * type and offset; the offset is made absolute once the data start is known. */
static int gg_read_tensor_info(gg_cursor *c, cv_src_list *src)
{
    char *name = NULL;
    uint32_t n_dims, type, d;
    uint64_t ne[CV_MAX_DIMS], offset;
    const cv_type *t;
    int ok;
    if (!gg_string(c, GGUF_MAX_TENSOR_NAME, &name, "tensor name"))
        return 0;
    ok = gg_u32(c, &n_dims, "tensor dimension count");
    if (ok && (n_dims < 1 || n_dims > CV_MAX_DIMS))
        ok = cv_fail(c->err, "GGUF tensor '%s' has %u dimensions (1 to %d supported)", name, (unsigned)n_dims,
                     CV_MAX_DIMS);
    for (d = 0; ok && d < n_dims; d++) {
        ok = gg_u64(c, &ne[d], "tensor dimension");
        if (ok && (ne[d] == 0 || ne[d] > ((uint64_t)1 << 40)))
            ok = cv_fail(c->err, "GGUF tensor '%s' has dimension %u of %" PRIu64, name, (unsigned)d, ne[d]);
    }
    ok = ok && gg_u32(c, &type, "tensor type") && gg_u64(c, &offset, "tensor offset");
    if (ok && !(t = type_info((int)type)))
        ok = cv_fail(c->err, "GGUF tensor '%s' has ggml type %u, which rwkvx-convert cannot read", name, (unsigned)type);
    if (ok && ne[0] % t->block != 0)
        ok = cv_fail(c->err, "GGUF tensor '%s' has rows of %" PRIu64 " values, not a multiple of %s's blocks of %u",
                     name, ne[0], t->label, (unsigned)t->block);
    if (ok && src_add(src, name, strlen(name), SRC_F32, (int)n_dims, ne, offset, c->err))
        src->v[src->n - 1].ggml_type = (int)type;
    else
        ok = 0;
    free(name);
    return ok;
}

/* Reads a GGUF file's key/values (copied to kv) and tensor list. */
static int gguf_read(cv_input *in, cv_src_list *src, cv_buf *kv, char *arch, size_t arch_size, cv_err *err)
{
    gg_cursor c;
    unsigned char magic[4];
    uint32_t version, alignment = CV_ALIGN, i;
    uint64_t n_tensors, n_kv, data_start;
    c.in = in;
    c.pos = 0;
    c.err = err;
    src->format = "GGUF";
    if (!gg_read(&c, magic, 4, "magic") || !gg_u32(&c, &version, "version"))
        return 0;
    if (version != 2 && version != 3)
        return cv_fail(err, "'%s': GGUF version %u (2 and 3 are supported)", in->path, (unsigned)version);
    if (!gg_u64(&c, &n_tensors, "tensor count") || !gg_u64(&c, &n_kv, "key/value count"))
        return 0;
    if (n_tensors == 0 || n_tensors > CV_MAX_TENSORS)
        return cv_fail(err, "'%s': GGUF tensor count %" PRIu64 " (1 to %d supported)", in->path, n_tensors,
                       CV_MAX_TENSORS);
    if (n_kv > GGUF_MAX_KV)
        return cv_fail(err, "'%s': GGUF key/value count %" PRIu64 " (at most %d)", in->path, n_kv, GGUF_MAX_KV);
    if (!gg_read_kv(&c, n_kv, kv, &alignment, arch, arch_size))
        return 0;
    if (kv->oom)
        return cv_fail(err, "out of memory");
    for (i = 0; i < n_tensors; i++)
        if (!gg_read_tensor_info(&c, src))
            return 0;
    if (!gg_check_unique(src, err))
        return 0;
    data_start = cv_align_up(c.pos, alignment);
    for (i = 0; i < src->n; i++) {
        cv_src *t = &src->v[i];
        const cv_type *type = type_info(t->ggml_type);
        uint64_t n_bytes, at;
        /* Checked here so that no later size computation can overflow: the
         * data lies in the file, so n_elems is at most a few times its size. */
        if (!cv_mul(t->n_elems / type->block, type->bytes, &n_bytes))
            return cv_fail(err, "GGUF tensor '%s': byte size overflows", t->name);
        if (t->offset % alignment != 0)
            return cv_fail(err, "GGUF tensor '%s': offset %" PRIu64 " is not a multiple of the alignment %u", t->name,
                           t->offset, (unsigned)alignment);
        if (!cv_add(data_start, t->offset, &at) || !input_has(in, at, n_bytes))
            return cv_fail(err, "GGUF tensor '%s' runs past the end of the file (truncated?)", t->name);
        t->offset = at;
    }
    return 1;
}

/* The output plan of a GGUF input: its tensors in their order, each in the
 * type the options choose for its name; in llama.cpp's layout (llama_cpp)
 * w1/w2 stay F32, as llama_cpp_shape writes them. */
static int plan_from_gguf(cv_plan *plan, const cv_src_list *src, int llama_cpp, cv_err *err)
{
    const rwkvx__tensor_spec *rows = rwkvx__rwkv_tensors;
    uint32_t i;
    for (i = 0; i < src->n; i++) {
        const cv_src *t = &src->v[i];
        cv_out *o;
        void *p = cv_grow(plan->v, &plan->cap, plan->n + 1, sizeof *plan->v);
        if (!p)
            return cv_fail(err, "out of memory");
        plan->v = p;
        o = &plan->v[plan->n++];
        memset(o, 0, sizeof *o);
        snprintf(o->name, sizeof o->name, "%s", t->name);
        o->n_dims = (uint32_t)t->ndim;
        memcpy(o->ne, t->shape, (size_t)t->ndim * sizeof *t->shape);
        o->part[0] = (int32_t)i;
        o->n_parts = 1;
        o->n_elems = t->n_elems;
        if (!choose_type(plan, o, tensor_role(o->name, o->n_dims), err))
            return 0;
        if (llama_cpp && (names_row(o->name, rows[RWKVX__R_W1].name) || names_row(o->name, rows[RWKVX__R_W2].name)))
            o->type = GGML_F32;
        o->copy = o->type == t->ggml_type;
        o->n_bytes = ggml_bytes(o->type, o->n_elems);
        o->offset = plan->data_bytes;
        plan->data_bytes += cv_align_up(o->n_bytes, CV_ALIGN);
    }
    return 1;
}

/* Does the file at path start with GGUF's magic?  (Errors are left to the
 * reader that then opens it.) */
static int path_is_gguf(const char *path)
{
    unsigned char magic[4];
    FILE *f = fopen(path, "rb");
    int yes = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
    if (f)
        fclose(f);
    return yes;
}

static int gguf_open(cv_inputs *ins, const char *path, cv_err *err)
{
    ins->path[0] = cv_strndup(path, strlen(path));
    if (!ins->path[0])
        return cv_fail(err, "out of memory");
    ins->n = 1;
    return input_open(&ins->in[0], ins->path[0], err);
}

/* ========================================================================
 * 12. The API: open, write, summary
 * ======================================================================== */

/* Detects the input format by content and reads its tensor list. */
static int read_checkpoint(cv_input *in, cv_src_list *src, cv_err *err)
{
    unsigned char head[9] = {0};
    uint64_t n = in->size < 9 ? in->size : 9;
    if (!input_read(in, 0, head, n, err))
        return 0;
    if (n >= 4 && memcmp(head, "PK\x03\x04", 4) == 0)
        return pth_read(in, src, err);
    /* safetensors before the pickle test: a header length of 128, 384, ...
     * also starts with the bytes 0x80, 0x00..0x05 */
    if (n == 9 && head[8] == '{')
        return st_read(in, src, err);
    if (n >= 2 && head[0] == 0x80 && head[1] <= 5)
        return cv_fail(err, "'%s' is a bare pickle (legacy torch.save format); re-save it with a current torch.save",
                       in->path);
    return cv_fail(err, "'%s' is neither a PyTorch .pth (ZIP) nor a safetensors file", in->path);
}

/* What llama.cpp cannot take: a sparse block, a file without a vocabulary. */
static int llama_cpp_check(const cv_model *mdl, const cv_vocab *vocab, float gn_eps, cv_err *err)
{
    if (gn_eps != 64e-5f)
        return cv_fail(err, "--llama-cpp: this model's ln_x epsilon is %g; llama.cpp fixes it at 64e-5", gn_eps);
    if (mdl->n_sparse)
        return cv_fail(err, "--llama-cpp: this RWKV-X model has %u sparse block%s; llama.cpp runs plain RWKV-7 only",
                       (unsigned)mdl->n_sparse, mdl->n_sparse == 1 ? "" : "s");
    if (vocab->n == 0)
        return cv_fail(err, "--llama-cpp needs a vocabulary (--vocab rwkv_vocab_v20230424.txt or --vocab bytes): "
                            "llama.cpp refuses a model without one");
    return 1;
}

/* A model-file name for general.name: the input's base name, less extension. */
static void model_name(const char *path, char *buf, size_t size)
{
    const char *base = cv_basename(path), *dot = strrchr(base, '.');
    size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), base);
}

/* A type name (or a mix) into the plan's choice; 0 when unknown. */
static int parse_type(const char *val, int mix_allowed, cv_quant *q)
{
    const cv_type *t = type_by_name(val);
    q->mix = 0;
    q->name = t ? t->name : NULL;
    if (mix_allowed && (type_name_is(val, "q4_k_m") || type_name_is(val, "q5_k_m"))) {
        t = type_info(val[1] == '4' ? GGML_Q4_K : GGML_Q5_K);
        q->name = val[1] == '4' ? "q4_k_m" : "q5_k_m";
        q->mix = 1;
    }
    if (!t)
        return 0;
    q->matrix_type = t->id;
    return 1;
}

struct rwkvx_converter {
    char *in_path;                 /* as given */
    char *vocab;                   /* options.vocab, copied */
    uint32_t chunk_size, topk;
    int chunk_given;               /* chunk_size or chunk_topk was set */
    int llama_cpp, from_gguf, written;
    cv_inputs ins;
    cv_hf_config cfg;
    cv_src_list src;
    cv_model mdl;
    cv_plan plan;
    cv_vocab vocabulary;
    cv_buf kv_copy;                /* a GGUF input's key/values */
    char arch[64];                 /* a GGUF input's general.architecture */
    cv_buf summary;                /* text, NUL-terminated once written */
    char warning[512];
};

/* --- the summary: text the tool prints after a conversion --- */

static void buf_printf(cv_buf *b, const char *fmt, ...) CV_PRINTF(2, 3);

static void buf_printf(cv_buf *b, const char *fmt, ...)
{
    char small[256], *big = NULL;
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n >= sizeof small) {
        big = (char *)malloc((size_t)n + 1);
        if (!big) {
            b->oom = 1;
            return;
        }
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    buf_put(b, big ? big : small, (size_t)n);
    free(big);
}

/* The types chosen: what was asked, how many tensors of each type, and the
 * fallbacks taken for rows that did not fit the blocks. */
static void summary_weights(cv_buf *s, const cv_plan *plan)
{
    const cv_quant *q = &plan->quant;
    uint32_t count[CV_N_TYPES] = {0}, i, k, vectors = 0;
    int first = 1;
    if (q->mix)
        buf_printf(s, "weights:      %s (llama.cpp's mix: %s matrices, %s head, f32 LoRAs), f32 vectors and lerps\n",
                   q->name, ggml_type_name(q->matrix_type),
                   ggml_type_name(q->head_type >= 0 ? q->head_type : GGML_Q6_K));
    else if (q->head_type >= 0)
        buf_printf(s, "weights:      %s matrices, %s head, f32 vectors and lerps\n", ggml_type_name(q->matrix_type),
                   ggml_type_name(q->head_type));
    else
        buf_printf(s, "weights:      %s matrices, f32 vectors and lerps\n", ggml_type_name(q->matrix_type));
    for (i = 0; i < plan->n; i++) {
        if (tensor_role(plan->v[i].name, plan->v[i].n_dims) == ROLE_VECTOR) {
            vectors++;
            continue;
        }
        for (k = 0; k < CV_N_TYPES; k++)
            count[k] += cv_types[k].id == plan->v[i].type;
    }
    buf_printf(s, "types:       ");
    for (k = 0; k < CV_N_TYPES; k++)
        if (count[k]) {
            buf_printf(s, "%s %u %s", first ? "" : ",", (unsigned)count[k], cv_types[k].name);
            first = 0;
        }
    buf_printf(s, "%s matrices, %u f32 vectors\n", first ? " no" : "", (unsigned)vectors);
    for (i = 0; i < plan->n_fallback; i++) {
        const cv_fallback *f = &plan->fallback[i];
        buf_printf(s, "fallback:     %u matri%s with rows not a multiple of %u stored as %s instead of %s (as llama.cpp)\n",
                   (unsigned)f->count, f->count == 1 ? "x" : "ces", (unsigned)type_info(f->from)->block,
                   ggml_type_name(f->to), ggml_type_name(f->from));
    }
}

/* The summary of a re-quantised GGUF file. */
static void summary_gguf(cv_buf *s, const rwkvx_converter *cv, const char *out_path, uint64_t out_bytes)
{
    uint32_t count[CV_N_TYPES] = {0}, i, k;
    for (i = 0; i < cv->src.n; i++)
        for (k = 0; k < CV_N_TYPES; k++)
            count[k] += cv_types[k].id == cv->src.v[i].ggml_type;
    buf_printf(s, "input:        %s (GGUF, architecture %s, %u tensors:", cv->in_path,
               cv->arch[0] ? cv->arch : "unknown", (unsigned)cv->src.n);
    for (k = 0; k < CV_N_TYPES; k++)
        if (count[k])
            buf_printf(s, " %u %s", (unsigned)count[k], cv_types[k].name);
    buf_printf(s, ")\n");
    summary_weights(s, &cv->plan);
    buf_printf(s, "output:       %s, %u tensors, %" PRIu64 " bytes\n", out_path, (unsigned)cv->plan.n, out_bytes);
}

/* The execution order, r0 s0 r1 ..., wrapped at 64 columns. */
static void summary_order(cv_buf *s, const cv_model *mdl)
{
    uint64_t line = 0;
    uint32_t i;
    int first = 1;
    buf_printf(s, "order:       ");
    for (i = 0; i < mdl->n_rwkv + mdl->n_sparse; i++) {
        char item[16];
        int32_t id = mdl->order[i];
        int len = snprintf(item, sizeof item, " %c%d", id >= 0 ? 'r' : 's', id >= 0 ? id : -1 - id);
        if (line + (uint64_t)len > 64 && !first) {
            buf_printf(s, "\n             ");
            line = 0;
        }
        buf_printf(s, "%s", item);
        line += (uint64_t)len;
        first = 0;
    }
    buf_printf(s, "\n");
}

/* The summary of a converted checkpoint. */
static void summary_checkpoint(cv_buf *s, const rwkvx_converter *cv, const char *out_path, uint64_t out_bytes)
{
    const cv_model *mdl = &cv->mdl;
    const cv_plan *plan = &cv->plan;
    const cv_src_list *src = &cv->src;
    uint64_t n_params = 0;
    uint32_t i, dtype_count[3] = {0, 0, 0};

    for (i = 0; i < plan->n; i++)
        n_params += plan->v[i].n_elems;
    for (i = 0; i < src->n; i++)
        dtype_count[src->v[i].dtype]++;
    buf_printf(s, "input:        %s (%s, %u tensors:", cv->in_path, src->format, (unsigned)src->n);
    for (i = 0; i < 3; i++)
        if (dtype_count[i])
            buf_printf(s, " %u %s", (unsigned)dtype_count[i], cv_dtype_name[i]);
    buf_printf(s, ")\n");
    if (mdl->n_sparse)
        buf_printf(s, "layout:       RWKV-X, %u RWKV-7 block%s + %u sparse block%s (one after every %u)\n",
                   (unsigned)mdl->n_rwkv, mdl->n_rwkv == 1 ? "" : "s", (unsigned)mdl->n_sparse,
                   mdl->n_sparse == 1 ? "" : "s", (unsigned)(mdl->n_rwkv / mdl->n_sparse));
    else
        buf_printf(s, "layout:       %s, %u RWKV-7 block%s, no sparse blocks%s\n", mdl->prefixed ? "RWKV-X" : "RWKV-7",
                   (unsigned)mdl->n_rwkv, mdl->n_rwkv == 1 ? "" : "s",
                   cv->llama_cpp ? " (written in llama.cpp's rwkv7 layout)" : "");
    summary_order(s, mdl);
    buf_printf(s, "dimensions:   C=%" PRIu64 " H=%" PRIu64 " (head size 64) F=%" PRIu64 " V=%" PRIu64 "\n",
               mdl->dim[DIM_C], mdl->dim[DIM_H], mdl->dim[DIM_F], mdl->dim[DIM_V]);
    buf_printf(s, "LoRA ranks:   decay %" PRIu64 ", iclr %" PRIu64 ", value %" PRIu64 ", gate %" PRIu64 "%s\n",
               mdl->dim[DIM_DW], mdl->dim[DIM_DA], mdl->dim[DIM_DV], mdl->dim[DIM_DG],
               mdl->dropped_v_first ? " (block 0 v0/v1/v2 dropped)" : "");
    /* A checkpoint does not record the chunk size and top-k it was trained
     * with, and a hybrid run with others is another model: say so. */
    if (mdl->n_sparse)
        buf_printf(s, "sparse:       chunk size %u, top-k %u%s\n", (unsigned)cv->chunk_size, (unsigned)cv->topk,
                   !cv->chunk_given
                       ? " (defaults: checkpoints do not record them; --chunk-size, --chunk-topk if trained otherwise)"
                       : "");
    else
        buf_printf(s, "sparse:       none\n");
    buf_printf(s, "parameters:   %" PRIu64 "\n", n_params);
    summary_weights(s, plan);
    if (cv->vocabulary.n)
        buf_printf(s, "vocabulary:   %s, %u tokens (+%u padding up to V)\n", cv->vocabulary.what,
                   (unsigned)cv->vocabulary.n_real, (unsigned)(cv->vocabulary.n - cv->vocabulary.n_real));
    else
        buf_printf(s, "vocabulary:   none\n");
    buf_printf(s, "output:       %s, %u tensors, %" PRIu64 " bytes\n", out_path, (unsigned)plan->n, out_bytes);
}

/* NaN or infinite weights are converted as they are (the model then computes
 * NaN), with one warning; Q8_0 cannot hold them and refuses. */
static void note_nonfinite(rwkvx_converter *cv)
{
    const cv_plan *plan = &cv->plan;
    uint64_t values = 0;
    uint32_t i, tensors = 0;
    const char *first = NULL;
    for (i = 0; i < plan->n; i++)
        if (plan->v[i].n_nonfinite) {
            values += plan->v[i].n_nonfinite;
            tensors++;
            if (!first)
                first = plan->v[i].name;
        }
    if (values)
        snprintf(cv->warning, sizeof cv->warning,
                 "%" PRIu64 " weight%s in %u tensor%s (first '%s') %s NaN or infinite "
                 "in the output (already in the checkpoint, or out of the output type's range); the model will compute NaN",
                 values, values == 1 ? "" : "s", (unsigned)tensors, tensors == 1 ? "" : "s", first,
                 values == 1 ? "is" : "are");
}

/* --- the calls --- */

/* The converter's message into the caller's buffer, and the status. */
static rwkvx_status cv_report(const cv_err *e, rwkvx_status status, char *err)
{
    if (err)
        snprintf(err, RWKVX_CONVERT_ERROR_MAX, "%s", e->msg[0] ? e->msg : "failed");
    return status;
}

/* The options into the converter: defaults, type names, ranges. */
static int cv_take_options(rwkvx_converter *cv, const rwkvx_convert_options *opt, cv_err *err)
{
    const char *type = opt && opt->type ? opt->type : "f16";
    cv->plan.quant.head_type = -1;
    if (!parse_type(type, 1, &cv->plan.quant))
        return cv_fail(err, "type must be one of %s, q4_k_m, q5_k_m, not '%s'", RWKVX_CONVERT_TYPE_NAMES, type);
    if (opt && opt->head_type) {
        cv_quant head;
        if (!parse_type(opt->head_type, 0, &head))
            return cv_fail(err, "head type must be one of %s, not '%s'", RWKVX_CONVERT_TYPE_NAMES, opt->head_type);
        cv->plan.quant.head_type = head.matrix_type;
    }
    cv->chunk_size = 2048;
    cv->topk = 3;
    if (opt && (opt->chunk_size < 0 || opt->chunk_size > (1 << 24) || opt->chunk_topk < 0 ||
                opt->chunk_topk > (1 << 24)))
        return cv_fail(err, "chunk size and top-k must be from 1 to 2^24 (0: the defaults)");
    if (opt && opt->chunk_size)
        cv->chunk_size = (uint32_t)opt->chunk_size;
    if (opt && opt->chunk_topk)
        cv->topk = (uint32_t)opt->chunk_topk;
    cv->chunk_given = opt && (opt->chunk_size || opt->chunk_topk);
    cv->llama_cpp = opt && opt->llama_cpp;
    cv->plan.llama_cpp = cv->llama_cpp;
    if (opt && opt->vocab && !*opt->vocab)
        return cv_fail(err, "--vocab needs a file name or 'bytes'");
    if (opt && opt->vocab && !(cv->vocab = cv_strndup(opt->vocab, strlen(opt->vocab))))
        return cv_fail(err, "out of memory");
    return 1;
}

/* A GGUF input: its tensors re-quantised, its metadata kept. */
static int cv_open_gguf(rwkvx_converter *cv, cv_err *err)
{
    if (cv->vocab || cv->chunk_given || cv->llama_cpp)
        return cv_fail(err, "a GGUF input keeps its metadata: --vocab, --chunk-size, --chunk-topk and --llama-cpp "
                            "apply to checkpoints");
    return gguf_open(&cv->ins, cv->in_path, err) &&
           gguf_read(&cv->ins.in[0], &cv->src, &cv->kv_copy, cv->arch, sizeof cv->arch, err) &&
           plan_from_gguf(&cv->plan, &cv->src, strcmp(cv->arch, "rwkv7") == 0, err);
}

RWKVX_API rwkvx_status rwkvx_convert_open(rwkvx_converter **out, const char *in_path,
                                          const rwkvx_convert_options *opt, char *err)
{
    rwkvx_converter *cv;
    cv_err e;
    int ok;
    memset(&e, 0, sizeof e);
    if (out)
        *out = NULL;
    if (!out || !in_path) {
        cv_fail(&e, "rwkvx_convert_open: NULL argument");
        return cv_report(&e, RWKVX_ERR_ARGUMENT, err);
    }
    cv = (rwkvx_converter *)calloc(1, sizeof *cv);
    if (!cv || !(cv->in_path = cv_strndup(in_path, strlen(in_path)))) {
        free(cv);
        cv_fail(&e, "out of memory");
        return cv_report(&e, RWKVX_ERR_NOMEM, err);
    }
    if (!cv_take_options(cv, opt, &e)) {
        rwkvx_convert_free(cv);
        return cv_report(&e, RWKVX_ERR_ARGUMENT, err);
    }
    cv->from_gguf = path_is_gguf(in_path);
    if (cv->from_gguf)
        ok = cv_open_gguf(cv, &e);
    else
        ok = read_input(in_path, &cv->ins, &cv->src, &cv->cfg, &e) && model_build(&cv->mdl, &cv->src, &e) &&
             (!cv->cfg.hf || hf_check_config(&cv->cfg, &cv->mdl, &e));
    if (!ok) {
        rwkvx_convert_free(cv);
        return cv_report(&e, RWKVX_ERR_FORMAT, err);
    }
    *out = cv;
    return RWKVX_OK;
}

/* A checkpoint's vocabulary, llama.cpp's checks and the output types. */
static int cv_plan_checkpoint(rwkvx_converter *cv, cv_err *err)
{
    uint32_t n_vocab = (uint32_t)cv->mdl.dim[DIM_V];
    if (cv->vocab && !(strcmp(cv->vocab, "bytes") == 0 ? vocab_bytes(&cv->vocabulary, n_vocab, err)
                                                       : vocab_world(&cv->vocabulary, cv->vocab, n_vocab, err)))
        return 0;
    if (cv->llama_cpp && !llama_cpp_check(&cv->mdl, &cv->vocabulary, cv->cfg.gn_eps, err))
        return 0;
    return plan_build(&cv->plan, &cv->mdl, &cv->src, err);
}

RWKVX_API rwkvx_status rwkvx_convert_write(rwkvx_converter *cv, FILE *out, const char *out_path, char *err)
{
    cv_options_meta meta;
    char name[256];
    uint64_t out_bytes = 0;
    cv_err e;
    memset(&e, 0, sizeof e);
    memset(&meta, 0, sizeof meta);
    if (!cv || !out || !out_path || cv->written) {
        cv_fail(&e, cv && cv->written ? "rwkvx_convert_write: already written" : "rwkvx_convert_write: NULL argument");
        return cv_report(&e, RWKVX_ERR_ARGUMENT, err);
    }
    cv->written = 1;
    if (cv->from_gguf)
        meta.kv_copy = &cv->kv_copy;
    else if (!cv_plan_checkpoint(cv, &e))
        return cv_report(&e, RWKVX_ERR_FORMAT, err);
    model_name(cv->in_path, name, sizeof name);
    meta.name = name;
    meta.chunk_size = cv->chunk_size;
    meta.topk = cv->topk;
    meta.ln_eps = cv->cfg.ln_eps;
    meta.gn_eps = cv->cfg.gn_eps;
    if (!gguf_write_stream(out, out_path, &cv->ins.in[0], &cv->src, &cv->mdl, &cv->plan, &cv->vocabulary, &meta,
                           &out_bytes, &e))
        return cv_report(&e, RWKVX_ERR_IO, err);
    if (cv->from_gguf)
        summary_gguf(&cv->summary, cv, out_path, out_bytes);
    else
        summary_checkpoint(&cv->summary, cv, out_path, out_bytes);
    buf_put(&cv->summary, "", 1); /* the terminating NUL */
    note_nonfinite(cv);
    return RWKVX_OK;
}

RWKVX_API int rwkvx_convert_n_inputs(const rwkvx_converter *cv)
{
    return cv ? (int)cv->ins.n : 0;
}

RWKVX_API const char *rwkvx_convert_input(const rwkvx_converter *cv, int i)
{
    return cv && i >= 0 && (uint32_t)i < cv->ins.n ? cv->ins.path[i] : NULL;
}

RWKVX_API const char *rwkvx_convert_summary(const rwkvx_converter *cv)
{
    return cv && cv->summary.p && !cv->summary.oom ? (const char *)cv->summary.p : "";
}

RWKVX_API const char *rwkvx_convert_warning(const rwkvx_converter *cv)
{
    return cv && cv->warning[0] ? cv->warning : NULL;
}

RWKVX_API void rwkvx_convert_free(rwkvx_converter *cv)
{
    if (!cv)
        return;
    free(cv->plan.v);
    free(cv->kv_copy.p);
    free(cv->summary.p);
    vocab_free(&cv->vocabulary);
    model_free(&cv->mdl);
    src_list_free(&cv->src);
    inputs_close(&cv->ins);
    free(cv->vocab);
    free(cv->in_path);
    free(cv);
}

RWKVX_API int rwkvx_convert_type_ok(const char *name, int mix_allowed)
{
    cv_quant q;
    return name && parse_type(name, mix_allowed, &q);
}

/* --- rwkvx_convert_file: the output written whole or not at all --- */

/* 1 when `a` and `b` name one existing file. */
static int cv_same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* An output that is one of the inputs (or the vocabulary) would destroy it. */
static int cv_check_output(const rwkvx_converter *cv, const char *out_path, cv_err *err)
{
    uint32_t i;
    for (i = 0; i < cv->ins.n; i++)
        if (cv_same_file(out_path, cv->ins.path[i]))
            return cv_fail(err, "refusing to write '%s': it is the input '%s'", out_path, cv->ins.path[i]);
    if (cv->vocab && strcmp(cv->vocab, "bytes") != 0 && cv_same_file(out_path, cv->vocab))
        return cv_fail(err, "refusing to write '%s': it is the input '%s'", out_path, cv->vocab);
    return 1;
}

RWKVX_API rwkvx_status rwkvx_convert_file(const char *in_path, const char *out_path,
                                          const rwkvx_convert_options *opt, char *err)
{
    rwkvx_converter *cv;
    rwkvx_status s;
    char *tmp;
    FILE *f;
    cv_err e;
    memset(&e, 0, sizeof e);
    if (!in_path || !out_path || !*out_path) {
        cv_fail(&e, "rwkvx_convert_file: NULL or empty file name");
        return cv_report(&e, RWKVX_ERR_ARGUMENT, err);
    }
    if ((s = rwkvx_convert_open(&cv, in_path, opt, err)) != RWKVX_OK)
        return s;
    if (!cv_check_output(cv, out_path, &e)) {
        rwkvx_convert_free(cv);
        return cv_report(&e, RWKVX_ERR_ARGUMENT, err);
    }
    tmp = (char *)malloc(strlen(out_path) + 5);
    if (!tmp) {
        rwkvx_convert_free(cv);
        cv_fail(&e, "out of memory");
        return cv_report(&e, RWKVX_ERR_NOMEM, err);
    }
    sprintf(tmp, "%s.tmp", out_path);
    if (!(f = fopen(tmp, "wb"))) {
        cv_fail(&e, "cannot create '%s': %s", tmp, strerror(errno));
        s = cv_report(&e, RWKVX_ERR_IO, err);
    } else {
        s = rwkvx_convert_write(cv, f, out_path, err);
        if (fclose(f) != 0 && s == RWKVX_OK) {
            cv_fail(&e, "cannot write '%s': %s", tmp, strerror(errno));
            s = cv_report(&e, RWKVX_ERR_IO, err);
        }
        if (s == RWKVX_OK && rename(tmp, out_path) != 0) {
            cv_fail(&e, "cannot rename '%s' to '%s': %s", tmp, out_path, strerror(errno));
            s = cv_report(&e, RWKVX_ERR_IO, err);
        }
        if (s != RWKVX_OK)
            remove(tmp);
    }
    free(tmp);
    rwkvx_convert_free(cv);
    return s;
}

/* ========================================================================
 * 13. For the project's fuzz targets and tests (RWKVX_CONVERT_TESTING)
 * ======================================================================== */
#ifdef RWKVX_CONVERT_TESTING

RWKVX_API rwkvx_status rwkvx__convert_open_memory(rwkvx_converter **out, const void *data, size_t size,
                                                  const rwkvx_convert_options *opt, int skip_crc, char *err)
{
    rwkvx_converter *cv;
    cv_input *in;
    uint32_t i;
    cv_err e;
    memset(&e, 0, sizeof e);
    *out = NULL;
    cv = (rwkvx_converter *)calloc(1, sizeof *cv);
    if (!cv || !(cv->in_path = cv_strndup("memory", 6)) || !(cv->ins.path[0] = cv_strndup("memory", 6))) {
        rwkvx_convert_free(cv);
        cv_fail(&e, "out of memory");
        return cv_report(&e, RWKVX_ERR_NOMEM, err);
    }
    cv->ins.n = 1;
    in = &cv->ins.in[0];
    in->path = cv->ins.path[0];
    in->map = (const unsigned char *)data;
    in->size = size;
    in->in_memory = 1;
    in->skip_crc = skip_crc;
    cv->cfg.ln_eps = 1e-5f; /* what a released checkpoint (no config.json) records */
    cv->cfg.gn_eps = 64e-5f;
    if (!cv_take_options(cv, opt, &e)) {
        rwkvx_convert_free(cv);
        return cv_report(&e, RWKVX_ERR_ARGUMENT, err);
    }
    if (!read_checkpoint(in, &cv->src, &e) || !model_build(&cv->mdl, &cv->src, &e)) {
        rwkvx_convert_free(cv);
        return cv_report(&e, RWKVX_ERR_FORMAT, err);
    }
    for (i = 0; i < cv->src.n; i++)
        cv->src.v[i].in = in;
    *out = cv;
    return RWKVX_OK;
}

RWKVX_API int rwkvx__convert_n_tensors(const rwkvx_converter *cv)
{
    return (int)cv->src.n;
}

RWKVX_API void rwkvx__convert_tensor_bytes(const rwkvx_converter *cv, int i, uint64_t *offset, uint64_t *bytes)
{
    const cv_src *t = &cv->src.v[i];
    *offset = t->offset;
    *bytes = t->n_elems * cv_dtype_size(t->dtype);
}

RWKVX_API rwkvx_status rwkvx__convert_parse_config(const char *text, size_t size, float *ln_eps, float *gn_eps,
                                                   char *err)
{
    cv_hf_config cfg;
    cv_err e;
    memset(&cfg, 0, sizeof cfg);
    memset(&e, 0, sizeof e);
    if (!config_parse("config.json", text, size, &cfg, &e))
        return cv_report(&e, RWKVX_ERR_FORMAT, err);
    *ln_eps = cfg.ln_eps;
    *gn_eps = cfg.gn_eps;
    return RWKVX_OK;
}

RWKVX_API rwkvx_status rwkvx__convert_parse_vocab(const void *text, size_t size, uint32_t n_vocab,
                                                  void (*each)(void *ctx, uint32_t id, const char *bytes, long n),
                                                  void *ctx, char *err)
{
    cv_vocab v;
    cv_err e;
    uint32_t i;
    memset(&e, 0, sizeof e);
    memset(&v, 0, sizeof v);
    if (!vocab_world_text(&v, "vocab.txt", (const unsigned char *)text, size, n_vocab, &e)) {
        vocab_free(&v); /* what it read before the refusal */
        return cv_report(&e, RWKVX_ERR_FORMAT, err);
    }
    for (i = 1; i < v.n_real; i++) {
        size_t n = strlen(v.text[i]);
        char *bytes = (char *)malloc(n + 1);
        if (!bytes) {
            vocab_free(&v);
            cv_fail(&e, "out of memory");
            return cv_report(&e, RWKVX_ERR_NOMEM, err);
        }
        each(ctx, i, bytes, rwkvx__unescape(v.text[i], n, bytes));
        free(bytes);
    }
    vocab_free(&v);
    return RWKVX_OK;
}

#endif /* RWKVX_CONVERT_TESTING */

#endif /* RWKVX_CONVERT_IMPLEMENTATION_DONE */
#endif /* RWKVX_CONVERT_IMPLEMENTATION */
