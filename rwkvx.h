/* rwkvx.h - RWKV-X and RWKV-7 language models on a CPU, in one header.

   Do this:
       #define RWKVX_IMPLEMENTATION
   before you include this file in *one* C or C++ file to create the
   implementation. Everywhere else include it plainly.

   C99, libc and libm only. Build with -fopenmp to use several cores (the
   numbers are the same with and without it, and for any thread count). By
   default a state picks its thread count as it runs: all cores, or fewer
   while other programs hold some (rwkvx_state_set_threads).

   WHAT IT COMPUTES
       RWKV-X (arXiv 2504.21463): a released RWKV-7 model with top-k chunk
       sparse-attention blocks spliced in (MoBA rule, exact in prefill and in
       decode). A plain RWKV-7 model is an RWKV-X model with no sparse block.
       Models come in our GGUF v3 file (docs/FORMAT.md), made from released
       .pth / .safetensors checkpoints by tools/convert.c (rwkvx-convert).
       Weights F32, F16, BF16 or ggml's block types Q4_0, Q4_1, Q5_0, Q5_1,
       Q8_0, Q2_K .. Q6_K, IQ4_NL, IQ4_XS (each tensor its own type),
       dequantized exactly as ggml does; arithmetic in f32, except the
       products of the matrices in the K types, Q8_0, Q4_0, Q4_1 and IQ4_NL
       (all but Q2_K and Q3_K rearranged at load), which multiply the weights'
       integer codes with int8-quantized inputs, as ggml does: the same bits
       on every CPU, in every mode and thread count.

   THE API IN ONE SCREEN
       rwkvx_model *m; rwkvx_state *s; char err[RWKVX_ERROR_MAX];
       if (rwkvx_load_file(&m, "model.gguf", NULL, err) != RWKVX_OK)
           { fprintf(stderr, "%s\n", err); return 1; }
       rwkvx_state_create(&s, m);                  // one per conversation
       float *logits = malloc(rwkvx_n_vocab(m) * sizeof(float));
       int32_t prompt[] = {510, 4600, 33};
       rwkvx_eval(s, prompt, 3, logits, 0);        // logits of the last token
       ...                                         // pick a token, eval it, ...
       rwkvx_state_free(s); rwkvx_model_free(m);

   - A model is immutable once loaded: share it between threads. A state is
     one sequence (a conversation): use one per thread.
   - Every function that can fail returns an rwkvx_status; rwkvx_status_string()
     names it. Loading also writes a one-line reason into `err` (may be NULL).
     A failed call leaves the state as it was.
   - rwkvx_eval takes a run of tokens of any length. With logits == NULL the
     head is skipped; with RWKVX_EVAL_ALL_LOGITS it writes n_tokens * n_vocab
     floats (every position), else n_vocab (the last position).
   - Many conversations at once: rwkvx_eval_batch advances several states,
     each by its own run of tokens (decode steps of many conversations, a
     prompt beside them), in passes of up to 64 tokens in all, reading each
     weight once per pass: 8 decode steps cost little more than one (the
     products take every state's tokens as rows; the recurrence, token shift
     and sparse attention run per state). Every state's logits and new state
     are bit for bit those of rwkvx_eval on it alone, in any batch and order.
       rwkvx_state *st[2] = {chat_a, chat_b};
       const int32_t *tk[2] = {&next_a, prompt_b};  size_t n[2] = {1, n_prompt};
       float *lg[2] = {logits_a, logits_b};        // n_vocab floats each
       rwkvx_eval_batch(st, tk, n, 2, lg, 0);      // one decode step + a prompt
     The states must come from one model (else RWKVX_ERR_MISMATCH); the
     first one keeps a buffer of up to 64 rows of logits for such calls.
   - State: reset, clone (fork a conversation), save to bytes and load them
     back (versioned; a state from another model, chunk size or K/V limit
     setting is refused).
   - Text: rwkvx_model_tokenizer(m) is the World tokenizer of the vocabulary
     embedded in the file (NULL without one); rwkvx_tokenize turns bytes into
     ids (greedy longest match), rwkvx_detokenize and the streaming
     rwkvx_decoder (never half a UTF-8 character) turn ids back into bytes.
     rwkvx_token_bytes(m, id) gives a token's raw vocabulary bytes (token 0's
     is "<s>"); rwkvx_tokenizer_token marks it special, with no text.
   - Sampling: an rwkvx_sampler (temperature, top-p, top-k, min-p, presence
     and frequency penalties with decay, bans, a seed) picks from the logits
     with rwkvx_sample; it allocates only when created.
   - Memory: the model is mapped (mmap) or read once; a state allocates at
     creation, and its sparse-block K/V storage grows geometrically as the
     context grows (2*C floats per token per sparse block, half that with
     rwkvx_options.kv_f16). Nothing else allocates during rwkvx_eval
     (rwkvx_eval_batch: the first state's logits buffer, when it grows).
     rwkvx_options.kv_max bounds that storage (opt-in, an approximation:
     older positions the recent queries attend to least are evicted).
   - Speed (docs/PERFORMANCE.md): SIMD kernels chosen at compile time
     (AVX-512, AVX2+FMA+F16C, NEON; -march=native), OpenMP over weight rows;
     a run of tokens reads each weight once per 64 tokens. tools/bench.c
     (rwkvx-bench) measures it against the machine's limits.
   - Hostile files: every count, offset and size is checked before use (see
     docs/HOSTILE.md). NaN or infinite weights load (the model then computes
     NaN): rwkvx_info.n_nonfinite counts them so tools can warn (all the
     values of a block whose scale is). A quantized block's bytes, whatever
     they hold, never make a kernel read outside the block.
     rwkvx_options.max_context caps the tokens a state holds (an eval or
     state load past it is RWKVX_ERR_CONTEXT and changes nothing).

   API CONVENTIONS (one rule for every function)
     - Names: rwkvx_<object>_<verb> for the objects model, state, tokenizer,
       sampler and decoder; the verbs every program calls are short:
       rwkvx_load_file / rwkvx_load_memory (make a model), rwkvx_eval,
       rwkvx_eval_batch,
       rwkvx_n_vocab, rwkvx_token_bytes, rwkvx_tokenize, rwkvx_detokenize,
       rwkvx_sample (and one helper, rwkvx_status_string). Each
       object that is made is released by its own
       rwkvx_<object>_free (rwkvx_model_free, rwkvx_state_free,
       rwkvx_tokenizer_free, rwkvx_sampler_free).
     - Arguments: the object a function works on comes first; a function
       that makes an object takes the address of the result first, then its
       inputs, then `err` (a RWKVX_ERROR_MAX buffer for a one-line reason, may
       be NULL) last. On failure the result is set to NULL.
     - NULL: a free function given NULL does nothing; a getter (a function
       that returns a value rather than a status) given a NULL object returns
       0, NULL, a zeroed struct or its documented "none" value
       (RWKVX_TOKEN_INVALID; -1 from rwkvx_sample); a void function that
       changes an object does nothing with NULL; a function that returns an
       rwkvx_status returns RWKVX_ERR_ARGUMENT for a NULL object or a NULL
       pointer it needs.
     - Deprecated names, kept and tested, for programs written against 0.1:
       rwkvx_free (= rwkvx_model_free), rwkvx_state_new(model, &state) (=
       rwkvx_state_create(&state, model)), rwkvx_state_copy(src, &copy) (=
       rwkvx_state_clone(&copy, src)), and rwkvx_parse_kv_limit (the text
       "MAX[,KEEP[,WINDOW]]" into rwkvx_options: the tools read their
       command lines with tools/cli.h now). They will stay at least until 1.0.

   VERSION: RWKVX_VERSION_MAJOR / _MINOR / _PATCH and RWKVX_VERSION_STRING
   below (semantic versioning; CHANGELOG.md lists what each release changed).

   CONFIGURATION (define before the implementation)
       RWKVX_STATIC     make every function static
       RWKVX_NO_SIMD    use only the portable scalar kernels (the reference)
       RWKVX_NO_AVX512  on an AVX-512 machine, use the AVX2 kernels
       RWKVX_NO_INT8    no int8 inputs: every product in f32 (slower)
       RWKVX_NO_MMAP    read model files with fread instead of mmap
       RWKVX_MALLOC / RWKVX_REALLOC / RWKVX_FREE   your allocator (all three)

   LICENSE: MIT, see the end of the file.
*/
#ifndef RWKVX_H
#define RWKVX_H

#include <stddef.h>
#include <stdint.h>

#define RWKVX_VERSION_MAJOR 0
#define RWKVX_VERSION_MINOR 2
#define RWKVX_VERSION_PATCH 0
#define RWKVX_VERSION_STRING "0.2.0"

#if defined(RWKVX_STATIC) && (defined(__GNUC__) || defined(__clang__))
#define RWKVX_API static __attribute__((unused)) /* a program need not use it all */
#elif defined(RWKVX_STATIC)
#define RWKVX_API static
#else
#define RWKVX_API extern
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    RWKVX_OK = 0,
    RWKVX_ERR_IO,          /* a file could not be opened or read */
    RWKVX_ERR_FORMAT,      /* not a valid model file or state */
    RWKVX_ERR_UNSUPPORTED, /* valid but not something this build handles */
    RWKVX_ERR_NOMEM,       /* an allocation failed */
    RWKVX_ERR_ARGUMENT,    /* a bad argument (token id out of range, ...) */
    RWKVX_ERR_MISMATCH,    /* a state from another model or chunk size */
    RWKVX_ERR_CONTEXT      /* past the context limit (rwkvx_options.max_context) */
} rwkvx_status;

enum { RWKVX_ERROR_MAX = 256 };          /* size of an error message buffer */
enum { RWKVX_EVAL_ALL_LOGITS = 1 };      /* rwkvx_eval flag */

typedef enum {                           /* ggml's type numbers and block layouts */
    RWKVX_TYPE_F32 = 0, RWKVX_TYPE_F16 = 1,
    RWKVX_TYPE_Q4_0 = 2, RWKVX_TYPE_Q4_1 = 3, RWKVX_TYPE_Q5_0 = 6, RWKVX_TYPE_Q5_1 = 7,
    RWKVX_TYPE_Q8_0 = 8,                 /* the above: blocks of 32 values */
    RWKVX_TYPE_Q2_K = 10, RWKVX_TYPE_Q3_K = 11, RWKVX_TYPE_Q4_K = 12, RWKVX_TYPE_Q5_K = 13,
    RWKVX_TYPE_Q6_K = 14,                /* super-blocks of 256 values */
    RWKVX_TYPE_IQ4_NL = 20,              /* 32 values */
    RWKVX_TYPE_IQ4_XS = 23,              /* 256 values */
    RWKVX_TYPE_BF16 = 30
} rwkvx_type;

typedef struct rwkvx_model rwkvx_model;  /* immutable weights, shareable */
typedef struct rwkvx_state rwkvx_state;  /* one sequence's recurrent + KV state */

typedef struct {          /* zero means "as the file says" */
    int chunk_size;       /* sparse attention chunk size B */
    int chunk_topk;       /* chunks each query attends to, its own included */
    int no_mmap;          /* 1: read the file into memory instead of mapping it */
    int skip_sparse;      /* 1: run the RWKV-7 blocks only (to measure what the
                             sparse blocks cost; the logits are not the model's) */
    int max_context;      /* > 0: a state holds at most this many tokens; an eval
                             or state load past it fails with RWKVX_ERR_CONTEXT */
    int kv_f16;           /* 1: keep the sparse blocks' keys and values in f16
                             (half the memory and memory traffic; the logits
                             move by about as much as f16 weights move them) */
    /* Bounded K/V memory, opt-in (an approximation of the model; all zero: the
       exact MoBA rule, the default). When a sparse block's cache is full (kv_max
       positions per head) and a token arrives, each head keeps its kv_window most
       recent positions and the kv_keep - kv_window older ones that the queries of
       those recent positions attend to most (summed softmax weights), in position
       order, and drops the rest; chunks are then runs of chunk_size kept entries.
       The released RWKV-X code uses 20000 / 16000 / 2000. Details: "Bounded K/V
       memory" in the implementation, docs/SOAK.md for what it costs. */
    int kv_max;           /* > 0: positions a sparse block's head holds at most */
    int kv_keep;          /* positions left after an eviction, the window included
                             (0: kv_max * 4 / 5); kv_window < kv_keep < kv_max */
    int kv_window;        /* recent positions always kept, whose queries vote
                             (0: kv_max / 10) */
} rwkvx_options;

typedef struct {
    int n_embd, n_head, n_ffn, n_vocab;
    int n_rwkv, n_sparse;             /* block counts */
    int chunk_size, chunk_topk;       /* in force for this load */
    int n_tokens;                     /* embedded vocabulary size (0: none) */
    rwkvx_type weight_type;           /* type of the large matrices (the first
                                         block's receptance; others may differ) */
    size_t weight_bytes;              /* bytes of tensor data */
    size_t token_bytes;               /* weight bytes one decoded token reads: every
                                         matrix but the embedding, one row of that */
    double token_flops;               /* 2 x multiply-adds of the block matrices per
                                         prompt token (head and attention excluded) */
    int max_context;                  /* tokens a state may hold (0: no limit) */
    int kv_f16;                       /* keys and values of sparse blocks kept in f16 */
    int kv_max, kv_keep, kv_window;   /* the K/V limit in force (0, 0, 0: exact rule) */
    double kv_token_bytes;            /* bytes a state's sparse-block memory grows by
                                         per token: keys, values, chunk means (until
                                         the K/V limit, if any, is reached) */
    uint64_t n_nonfinite;             /* weights that are NaN or infinite, counted at
                                         load: the model then computes NaN (warn) */
    const char *nonfinite_tensor;     /* the first tensor holding one (NULL: none) */
} rwkvx_info;

RWKVX_API const char  *rwkvx_status_string(rwkvx_status s);
/* ggml's lower-case name of a weight type ("q4_k"), NULL for a type this
   library does not read. */
RWKVX_API const char  *rwkvx_type_name(int type);

RWKVX_API rwkvx_status rwkvx_load_file(rwkvx_model **model, const char *path,
                                       const rwkvx_options *opt, char *err);
/* `data` must stay valid and unchanged until rwkvx_model_free (it is used in place
   when suitably aligned, else copied; it is never written: the matrices in
   Q8_0, Q4_0, Q4_1, IQ4_NL, Q4_K, Q5_K and Q6_K, which the products take in
   another layout, are copied). rwkvx_load_file maps the file privately and
   rearranges those matrices in that mapping (the file is not written; those
   pages become the process's own memory, as with --no-mmap). */
RWKVX_API rwkvx_status rwkvx_load_memory(rwkvx_model **model, const void *data, size_t bytes,
                                         const rwkvx_options *opt, char *err);
RWKVX_API void         rwkvx_model_free(rwkvx_model *model);
RWKVX_API void         rwkvx_model_info(const rwkvx_model *model, rwkvx_info *info);
RWKVX_API int          rwkvx_n_vocab(const rwkvx_model *model);
/* Bytes of token `id` of the embedded vocabulary, or NULL (no vocabulary, bad id). */
RWKVX_API const char  *rwkvx_token_bytes(const rwkvx_model *model, int id, size_t *len);

/* A fresh state of `model` (which must outlive it). */
RWKVX_API rwkvx_status rwkvx_state_create(rwkvx_state **state, const rwkvx_model *model);
RWKVX_API void         rwkvx_state_free(rwkvx_state *state);
RWKVX_API void         rwkvx_state_reset(rwkvx_state *state);
/* A new state equal to `src` (forks a conversation). */
RWKVX_API rwkvx_status rwkvx_state_clone(rwkvx_state **copy, const rwkvx_state *src);
RWKVX_API uint64_t     rwkvx_state_position(const rwkvx_state *state); /* tokens seen */
/* Positions each sparse-block head holds: the tokens seen, or fewer once the
   K/V limit (rwkvx_options.kv_max) has evicted some. */
RWKVX_API uint64_t     rwkvx_state_kv_positions(const rwkvx_state *state);
/* n_threads > 0: exactly that many (at most the cores OpenMP has). 0, the
   default: every core, or fewer while fewer are faster: the state times its
   passes and now and then tries a neighbouring count (with other programs on
   the cores, one thread often beats two that wait for each other). The
   numbers are the same for any count. */
RWKVX_API void         rwkvx_state_set_threads(rwkvx_state *state, int n_threads);
/* The threads the state's next pass runs on (its tuner's count at 0). */
RWKVX_API int          rwkvx_state_threads(const rwkvx_state *state);
RWKVX_API size_t       rwkvx_state_save_bytes(const rwkvx_state *state);
RWKVX_API rwkvx_status rwkvx_state_save(const rwkvx_state *state, void *buf, size_t bytes);
RWKVX_API rwkvx_status rwkvx_state_load(rwkvx_state *state, const void *buf, size_t bytes);

RWKVX_API rwkvx_status rwkvx_eval(rwkvx_state *state, const int32_t *tokens, size_t n_tokens,
                                  float *logits, int flags);
/* Advances n distinct states of one model in one call: state i by its run of
   counts[i] >= 1 tokens (tokens[i]), logits as rwkvx_eval into logits[i]
   (NULL, or a NULL entry: none). Bit-identical to n rwkvx_eval calls. The
   call borrows every state (use none of them elsewhere meanwhile) and keeps,
   in states[0], room for a pass's logits. RWKVX_ERR_MISMATCH: a state of
   another model; any failure changes no state. */
RWKVX_API rwkvx_status rwkvx_eval_batch(rwkvx_state *const *states, const int32_t *const *tokens, const size_t *counts,
                                        size_t n, float *const *logits, int flags);

/* Deprecated names (0.1), the same functions: see API CONVENTIONS above. */
RWKVX_API void         rwkvx_free(rwkvx_model *model);                                 /* rwkvx_model_free */
RWKVX_API rwkvx_status rwkvx_state_new(const rwkvx_model *model, rwkvx_state **state); /* rwkvx_state_create */
RWKVX_API rwkvx_status rwkvx_state_copy(const rwkvx_state *src, rwkvx_state **copy);   /* rwkvx_state_clone */
/* "MAX[,KEEP[,WINDOW]]" (whole numbers >= 1) into opt->kv_max, kv_keep,
   kv_window, the parts left out 0; RWKVX_ERR_ARGUMENT for any other text
   (loading checks the values). */
RWKVX_API rwkvx_status rwkvx_parse_kv_limit(const char *text, rwkvx_options *opt);

/* ---- Tokenizer (World vocabulary embedded in the model file) ---- */

/* Greedy longest match over bytes (the RWKV World tokenizer), with a trie
   built when the model loads. A model file's vocabulary comes with the model
   (rwkvx_model_tokenizer); a vocabulary text file (rwkv_vocab_v20230424.txt)
   can be read without a model (rwkvx_tokenizer_from_vocab).
   Token kinds: TEXT tokens are what encoding produces; SPECIAL tokens (token
   0 "<s>" = end of text, "[PADn]" padding up to the model's vocabulary) are
   never produced by encoding and decode to no bytes. */
typedef struct rwkvx_tokenizer rwkvx_tokenizer;
enum { RWKVX_TOKEN_INVALID = -1, RWKVX_TOKEN_SPECIAL = 0, RWKVX_TOKEN_TEXT = 1 };

/* The model's tokenizer, owned by the model; NULL when the file has no vocabulary. */
RWKVX_API const rwkvx_tokenizer *rwkvx_model_tokenizer(const rwkvx_model *model);
/* Parses a World vocabulary file's text (`ID LITERAL LENGTH` lines, Python
   str or bytes literals). Token 0 is "<s>". Free with rwkvx_tokenizer_free. */
RWKVX_API rwkvx_status rwkvx_tokenizer_from_vocab(rwkvx_tokenizer **tok, const char *text, size_t len, char *err);
RWKVX_API void         rwkvx_tokenizer_free(rwkvx_tokenizer *tok); /* not the model's own */
RWKVX_API int          rwkvx_tokenizer_n_tokens(const rwkvx_tokenizer *tok);
RWKVX_API size_t       rwkvx_tokenizer_max_bytes(const rwkvx_tokenizer *tok); /* longest token */
/* Kind of token `id` (RWKVX_TOKEN_*); *bytes / *len (may be NULL) get the
   bytes decoding emits for it (none for SPECIAL tokens). */
RWKVX_API int          rwkvx_tokenizer_token(const rwkvx_tokenizer *tok, int32_t id, const char **bytes, size_t *len);

/* Encodes len bytes (any bytes, not only UTF-8). *n_ids gets the number of
   tokens; when it exceeds max_ids, the first max_ids are written and the
   result is RWKVX_ERR_ARGUMENT (call again with a buffer of *n_ids).
   len + 1 ids always suffice. RWKVX_ERR_UNSUPPORTED: a byte no token covers. */
RWKVX_API rwkvx_status rwkvx_tokenize(const rwkvx_tokenizer *tok, const char *text, size_t len,
                                      int32_t *ids, size_t max_ids, size_t *n_ids);
/* Concatenates the tokens' bytes; the same contract on max_bytes / *n_bytes.
   An id outside the vocabulary is RWKVX_ERR_ARGUMENT. */
RWKVX_API rwkvx_status rwkvx_detokenize(const rwkvx_tokenizer *tok, const int32_t *ids, size_t n_ids,
                                        char *out, size_t max_bytes, size_t *n_bytes);

/* Streaming decoder for generated tokens: it holds back the bytes of a UTF-8
   character that a later token completes, so what it emits never ends in half
   a character. Bytes that cannot become a valid character are passed through
   as they are, so the concatenated output is exactly the tokens' bytes.
       rwkvx_decoder d; rwkvx_decoder_init(&d);
       rwkvx_decoder_push(&d, tok, id, buf, sizeof buf, &n);  fwrite(buf, 1, n, f);
       ... n = rwkvx_decoder_flush(&d, buf);                   fwrite(buf, 1, n, f);
   A buffer of rwkvx_tokenizer_max_bytes(tok) + 4 bytes always suffices; a
   smaller one that does not fit gives RWKVX_ERR_ARGUMENT and *n_bytes = 0,
   and leaves the decoder unchanged. */
typedef struct {
    unsigned char held[4];
    int n_held;
} rwkvx_decoder;
RWKVX_API void         rwkvx_decoder_init(rwkvx_decoder *dec);
RWKVX_API rwkvx_status rwkvx_decoder_push(rwkvx_decoder *dec, const rwkvx_tokenizer *tok, int32_t id,
                                          char *out, size_t max_bytes, size_t *n_bytes);
RWKVX_API size_t       rwkvx_decoder_flush(rwkvx_decoder *dec, char out[4]); /* the rest, as is */

/* ---- Sampler ---- */

/* The sampler of the reference RWKV pipeline (the `rwkv` package's
   PIPELINE.sample_logits and PIPELINE.generate), with min-p added. Per step:
     1. banned tokens and non-finite logits are removed;
     2. every token generated so far (since rwkvx_sampler_reset) loses
        presence + frequency * count, where count decays by `decay` per
        generated token and a token whose bytes are a piece of " \t0123456789"
        (space, tab, digits) adds 0 to its count (so only presence applies);
     3. temperature 0: the largest logit (lowest id on ties);
     4. else, with p = softmax(logits) at temperature 1: top-p keeps the
        tokens with p >= the p of the first token (most likely first) at which
        the running sum exceeds top_p (ties kept); top-k keeps the k most
        likely; min-p keeps p >= min_p * max p; then one of the kept tokens is
        drawn with weights p^(1/temperature).
   Reference defaults (rwkvx_sampler_defaults, the pipeline's PIPELINE_ARGS):
   temperature 1.0, top_p 0.85, top_k 0 (off), min_p 0 (off), presence 0.2,
   frequency 0.2, decay 0.996. top_p >= 1 is off. The RNG (splitmix64) lives
   in the sampler: the same seed and logits give the same tokens. The sampler
   allocates only in rwkvx_sampler_new. */
typedef struct {
    float temperature;    /* 0: greedy */
    float top_p;          /* [0, 1]; 1: off */
    int   top_k;          /* 0: off */
    float min_p;          /* [0, 1]; 0: off */
    float presence;       /* alpha_presence */
    float frequency;      /* alpha_frequency */
    float decay;          /* alpha_decay, [0, 1] */
} rwkvx_sampler_params;
typedef struct rwkvx_sampler rwkvx_sampler;

RWKVX_API void         rwkvx_sampler_defaults(rwkvx_sampler_params *params);
/* tok (may be NULL: every token counts fully) tells which tokens are
   whitespace or digits; n_vocab is the length of the logits. */
RWKVX_API rwkvx_status rwkvx_sampler_new(rwkvx_sampler **sampler, int n_vocab, const rwkvx_tokenizer *tok,
                                         const rwkvx_sampler_params *params, uint64_t seed);
RWKVX_API void         rwkvx_sampler_free(rwkvx_sampler *sampler);
RWKVX_API rwkvx_status rwkvx_sampler_set_params(rwkvx_sampler *sampler, const rwkvx_sampler_params *params);
RWKVX_API void         rwkvx_sampler_get_params(const rwkvx_sampler *sampler, rwkvx_sampler_params *params);
RWKVX_API rwkvx_status rwkvx_sampler_ban(rwkvx_sampler *sampler, int32_t id, int banned);
RWKVX_API void         rwkvx_sampler_reset(rwkvx_sampler *sampler);        /* forget the penalties */
RWKVX_API void         rwkvx_sampler_seed(rwkvx_sampler *sampler, uint64_t seed);
RWKVX_API uint64_t     rwkvx_sampler_rng(const rwkvx_sampler *sampler);     /* save the RNG ... */
RWKVX_API void         rwkvx_sampler_set_rng(rwkvx_sampler *sampler, uint64_t rng); /* ... restore it */
/* Picks the next token from n_vocab logits (not modified) and counts it for
   the penalties. -1 when every token is banned (or sampler or logits is NULL). */
RWKVX_API int32_t      rwkvx_sample(rwkvx_sampler *sampler, const float *logits);

#ifdef __cplusplus
}
#endif
#endif /* RWKVX_H */

/* ======================================================================== */
/*                             IMPLEMENTATION                               */
/* ======================================================================== */
#ifdef RWKVX_IMPLEMENTATION
#ifndef RWKVX_IMPLEMENTATION_DONE
#define RWKVX_IMPLEMENTATION_DONE

/* Contents, in order (each a banner below): the structures, the model's math
   on them, the kernels the math calls, loading, the state's life, text.
     Utilities and errors                 includes, ISA choice, allocation, errors, OpenMP macros
     Tensors and the model structures     weight matrices, blocks, the model, a product's job
     State structures                     state parts, K/V cache, scratch, thread tuner, a pass
     Forward declarations                 the kernels and state helpers the math calls
     Vector layer                         SIMD vectors: AVX-512, AVX2, NEON, portable C
     RWKV-7 time-mix and channel-mix      layer norm, token shift, WKV-7, relu^2 channel mix
     Sparse attention                     MoBA: chunk gates, top-k chunks, attention
     Bounded K/V memory                   rwkvx_options.kv_max: votes, eviction, compaction
     Forward pass                         a pass through every block; rwkvx_eval(_batch)
     Weight types: one table              RWKVX__TYPES; dequantization to f32; f32 to f16
     Matrix kernels                       Y = W X: decode, a few tokens, prefill panels; int8
                                          inputs, rows packed at load (one exact integer rule)
     GGUF reader                          header, keys and tensor table, every size checked
     Binding tensors to model roles       hparams, weights, vocabulary; rwkvx_load_*, info
     State                                create, free, reset, threads and their tuner
     Saving, restoring and copying states the saved layout; save, load, clone
     Tokenizer                            the World vocabulary's trie; tokenize, decoder
     Sampler                              temperature, top-p/k, min-p, penalties, bans
     Deprecated names                     the 0.1 names */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(RWKVX_NO_MMAP) && (defined(__unix__) || defined(__APPLE__))
#define RWKVX__HAVE_MMAP 1
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

/* Instruction sets, chosen at compile time (see "Vector layer") */
#if !defined(RWKVX_NO_SIMD) && defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define RWKVX__AVX2 1          /* 8-wide f32, fused multiply-add, f16 conversion */
#if defined(__cplusplus) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
/* g++ before 13 warns that AVX-512 intrinsics read an uninitialised value
   (their _mm512_undefined_* pass-through: GCC bug 105593, fixed in 13 by the
   same pragmas inside the intrinsic headers). Scoped to those headers: the
   warnings are reported at their lines, and only when this header is the
   first to include them. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif
#if !defined(RWKVX_NO_AVX512) && defined(__AVX512F__)
#define RWKVX__AVX512 1        /* 16-wide: the matrix kernels use it */
#endif
#elif !defined(RWKVX_NO_SIMD) && defined(__aarch64__) && defined(__ARM_NEON)
#define RWKVX__NEON 1
#include <arm_neon.h>
#endif

#if defined(RWKVX_MALLOC) && defined(RWKVX_REALLOC) && defined(RWKVX_FREE)
#elif !defined(RWKVX_MALLOC) && !defined(RWKVX_REALLOC) && !defined(RWKVX_FREE)
#define RWKVX_MALLOC(n) malloc(n)
#define RWKVX_REALLOC(p, n) realloc(p, n)
#define RWKVX_FREE(p) free(p)
#else
#error "define all of RWKVX_MALLOC, RWKVX_REALLOC and RWKVX_FREE, or none"
#endif

#define RWKVX__HEAD 64          /* head size N, fixed by the architecture */
#define RWKVX__BATCH 64         /* tokens per block of a prefill */

/* ---------------------------------------------------------------------- */
/* Utilities and errors                                                   */
/* ---------------------------------------------------------------------- */

RWKVX_API const char *rwkvx_status_string(rwkvx_status s) {
    switch (s) {
    case RWKVX_OK: return "ok";
    case RWKVX_ERR_IO: return "i/o error";
    case RWKVX_ERR_FORMAT: return "invalid file";
    case RWKVX_ERR_UNSUPPORTED: return "unsupported";
    case RWKVX_ERR_NOMEM: return "out of memory";
    case RWKVX_ERR_ARGUMENT: return "invalid argument";
    case RWKVX_ERR_MISMATCH: return "state does not match the model";
    case RWKVX_ERR_CONTEXT: return "context limit reached";
    }
    return "unknown status";
}

/* Writes a message into `err` (RWKVX_ERROR_MAX bytes, may be NULL) and
   returns the status, so a failure reads `return rwkvx__fail(err, ...)`. */
static rwkvx_status rwkvx__fail(char *err, rwkvx_status s, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, RWKVX_ERROR_MAX, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* No object is larger than PTRDIFF_MAX bytes: refusing more here also tells
   the compiler the memset below is in bounds (gcc 13 with _FORTIFY_SOURCE
   warned otherwise, for counts it could not prove positive). */
static void *rwkvx__calloc(size_t count, size_t size) {
    void *p;
    size_t bytes;
    if (size && count > (size_t)PTRDIFF_MAX / size) return NULL;
    bytes = count * size;
    p = RWKVX_MALLOC(bytes > 0 ? bytes : 1);
    if (p) memset(p, 0, bytes);
    return p;
}

/* a * b, or 0 with *overflow set when it does not fit in size_t */
static size_t rwkvx__mul(size_t a, size_t b, int *overflow) {
    if (a && b > SIZE_MAX / a) { *overflow = 1; return 0; }
    return a * b;
}

static float rwkvx__f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    float f;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);          /* inf, nan */
    else if (exp) bits = sign | ((exp + 112) << 23) | (man << 13);     /* normal */
    else if (man) {                                                     /* subnormal */
        float v = (float)man * (1.0f / 16777216.0f);                    /* man * 2^-24 */
        return sign ? -v : v;
    } else bits = sign;
    memcpy(&f, &bits, 4);
    return f;
}

static float rwkvx__bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float rwkvx__sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

static int rwkvx__max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Threads for a parallel loop of `work` multiply-adds (or comparable steps):
   one below RWKVX__PAR_MIN. Starting and joining a team costs microseconds,
   and far more when another program holds a core and the team waits for
   it: small models ran 7-30x slower on 2 threads than on 1 on a busy
   machine. Which thread computes a value never changes it, so this changes
   the speed only. */
#ifndef RWKVX__PAR_MIN
#define RWKVX__PAR_MIN 131072.0        /* about 10 microseconds of one core's work */
#endif
static int rwkvx__par(int nt, double work) { return work >= RWKVX__PAR_MIN ? nt : 1; }

/* RWKVX__PARALLEL_FOR(nt, schedule): the for loop that follows runs on nt
   threads (one: no team is started) with OpenMP's schedule(...), or as a
   plain loop without OpenMP. */
#ifdef _OPENMP
#define RWKVX__PRAGMA(text) _Pragma(#text)
#define RWKVX__PARALLEL_FOR(nt, ...) RWKVX__PRAGMA(omp parallel for num_threads(nt) schedule(__VA_ARGS__) if ((nt) > 1))
#define RWKVX__PARALLEL(nt) RWKVX__PRAGMA(omp parallel num_threads(nt) if ((nt) > 1))
#define RWKVX__FOR(...) RWKVX__PRAGMA(omp for schedule(__VA_ARGS__))
#else
#define RWKVX__PARALLEL_FOR(nt, ...) (void)(nt);
#define RWKVX__PARALLEL(nt) (void)(nt);
#define RWKVX__FOR(...)
#endif

static int rwkvx__thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* FNV-1a, for the model fingerprint that ties a saved state to its model */
static uint64_t rwkvx__fnv(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = (const unsigned char *)data;
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* ---------------------------------------------------------------------- */
/* Tensors and the model structures                                       */
/* ---------------------------------------------------------------------- */

/* A weight matrix in PyTorch (out, in) layout: `rows` outputs, each a
   contiguous row of `cols` inputs in `type`. Points into the file data
   (the types of rwkvx__packs are multiplied in another layout, see
   rwkvx__pack_rows). */
typedef struct {
    const void *data;
    rwkvx_type type;
    int64_t rows, cols;
    const unsigned char *packed; /* the rows repacked for the integer products (rwkvx__packs), or NULL */
    const unsigned char *packed_last; /* ... and its last block (which may lie elsewhere) */
} rwkvx__mat;

typedef struct {                 /* one RWKV-7 block */
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    const float *lerp;           /* 6 x C: r, w, k, v, a, g */
    const float *w0, *a0, *v0, *k_k, *k_a, *r_k, *lnx_w, *lnx_b;
    rwkvx__mat w1, w2, a1, a2, v1, v2, g1, g2;
    rwkvx__mat wr, wk, wv, wo;
    const float *ffn_lerp;
    rwkvx__mat ffn_key, ffn_value;
} rwkvx__rwkv_block;

typedef struct {                 /* one sparse-attention block */
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b;
    rwkvx__mat wq, wk, wv, wo;
    const float *ffn_lerp;
    rwkvx__mat ffn_key, ffn_value;
} rwkvx__sparse_block;

struct rwkvx_model {
    int n_embd, n_head, n_ffn, n_vocab, n_rwkv, n_sparse;
    int lora_w, lora_a, lora_v, lora_g;
    int chunk_size, chunk_topk;
    float ln_eps, gn_eps;
    int *order;                      /* n_rwkv + n_sparse: i >= 0 RWKV, -1-j sparse */
    rwkvx__rwkv_block *rwkv;
    rwkvx__sparse_block *sparse;
    rwkvx__mat emb, head;
    const float *ln0_w, *ln0_b, *lnout_w, *lnout_b;
    rwkvx_type weight_type;
    size_t weight_bytes;
    uint64_t fingerprint;
    int max_context;                 /* 0: no limit */
    int kv_f16;                      /* sparse-block keys and values in f16 */
    int kv_max, kv_keep, kv_window;  /* the K/V limit (0: the exact rule) */
    uint64_t n_nonfinite;            /* NaN or infinite weights */
    char nonfinite_tensor[96];       /* the first tensor holding one */
    /* vocabulary: token i is tok_bytes[tok_off[i] .. tok_off[i+1]) */
    int n_tokens;
    uint32_t *tok_off;
    char *tok_bytes;
    rwkvx_tokenizer *tok;            /* trie built at load (Tokenizer section) */
    /* where the bytes live */
    const unsigned char *file;
    size_t file_bytes;
    void *owned;                     /* malloc'd copy, or NULL */
    void *mapped;                    /* mmap'd region (private, writable: see rwkvx__pack_model), or NULL */
    void *packed;                    /* packed rows that do not lie in the file image, or NULL */
    size_t mapped_bytes;
};

typedef struct {                 /* one product of a batch: y[t] = W x[t] */
    const rwkvx__mat *w;
    const float *x;              /* T rows of w->cols inputs, ldx floats apart */
    float *y;                    /* T rows of w->rows outputs, ldy floats apart */
    int64_t ldx, ldy;
} rwkvx__job;

typedef struct {                 /* scratch of the matrix products */
    float *base;                 /* [threads][stride], 64-byte aligned */
    size_t stride;               /* floats per thread, a multiple of 16 */
} rwkvx__work;

/* ---------------------------------------------------------------------- */
/* State structures: a sequence's state, its scratch, a pass              */
/* ---------------------------------------------------------------------- */

typedef struct {                 /* one sparse block's memory of the context */
    void **k, **v;               /* [H] per head, [capacity][64] keys and values,
                                    positions in order; f32, or f16 with
                                    rwkvx_options.kv_f16. One array per head: growing
                                    it moves or touches no other head's memory, so
                                    resident memory is what the positions fill */
    float *chunk_mean;           /* [capacity / B][C] mean key of each complete chunk */
    float *chunk_sum;            /* its part CHUNK_SUM (below) */
    float *recent_q;             /* its part RECENT_Q, or NULL without the K/V limit */
} rwkvx__kv_cache;

/* The persistent state of a sequence, described once: each part, the kind
   of block that has one, and how a saved state holds it. This list drives
   creation, reset, clone, save and restore (a new part is a row here, its
   size in rwkvx__part_floats); the fixed-size parts share one allocation.
   KV is a sparse block's keys and values: they grow with the context
   (rwkvx__kv_cache) and only mark where they go in the saved layout, which
   is the list's order, block by block. Everything else a state holds is
   per-call scratch (rwkvx__scratch) or capacity that follows the context.
     X(PART, kind of block, saving) */
#define RWKVX__PARTS(X)                                                                        \
    X(ATT_PREV, RWKV, SAVED)          /* [C] time-mix token shift: the previous token's xn */  \
    X(FFN_PREV, RWKV, SAVED)          /* [C] channel-mix token shift */                        \
    X(WKV, RWKV, TRANSPOSED)          /* [H][64][64] the WKV state, kept transposed */          \
    X(SPARSE_FFN_PREV, SPARSE, SAVED) /* [C] a sparse block's channel-mix token shift */       \
    X(KV, SPARSE, KEYS_VALUES)        /* [n][C] keys, then values, as f32 */                   \
    X(RECENT_Q, SPARSE, SAVED)        /* [kv_window][C] K/V limit: the last kv_window tokens' \
                                         queries, token t in row t % kv_window (else empty) */ \
    X(CHUNK_SUM, SPARSE, REBUILT)     /* [C] running key sum of the current chunk: restore  \
                                         rebuilds it by replaying the keys */

enum { RWKVX__BLOCK_RWKV, RWKVX__BLOCK_SPARSE };
enum { RWKVX__SAVING_SAVED, RWKVX__SAVING_TRANSPOSED, RWKVX__SAVING_KEYS_VALUES, RWKVX__SAVING_REBUILT };
#define RWKVX__PART_ENUM(part, kind, saving) RWKVX__PART_##part,
enum { RWKVX__PARTS(RWKVX__PART_ENUM) RWKVX__N_PARTS };
typedef struct {
    int kind, saving;
} rwkvx__part_info;
#define RWKVX__PART_INFO(part, kind, saving) {RWKVX__BLOCK_##kind, RWKVX__SAVING_##saving},
static const rwkvx__part_info rwkvx__parts[RWKVX__N_PARTS] = {RWKVX__PARTS(RWKVX__PART_INFO)};

typedef struct {                 /* one query's attention in progress, one head */
    const float *q;              /* its 64 query values */
    float *acc;                  /* weighted values so far (64); the output at the end */
    float max, sum;              /* running maximum score and sum of weights */
    uint64_t end;                /* the span being attended ends before this position */
} rwkvx__query;

/* Per-call scratch: the numbers of one forward pass over up to RWKVX__BATCH
   rows (tokens). Each row buffer is [rows][width], rows contiguous, and has
   one role in every block; nothing here outlives a pass (what does is the
   state's persistent part). C = n_embd, F = n_ffn. */
typedef struct {
    float *x;                    /* [C] the residual stream (embedding in, last block out) */
    float *xn;                   /* [C] layer-normed x: the input of a block's half */
    float *shift;                /* [C] token shift: the previous row's xn minus this row's */
    float *mix;                  /* [6][rows][C] time-mix inputs xn + shift * lerp, for r w k v a g */
    float *r, *k, *v;            /* [C] receptance, key, value (RWKV-7 time-mix) */
    float *w, *a, *g;            /* [C] decay, in-context learning rate, output gate */
    float *v_gate;               /* [C] value-residual LoRA output, before its sigmoid (layer > 0) */
    float *kk;                   /* [C] the removal key: k * k_k, L2-normalized per head */
    float *v_first;              /* [C] layer 0's values, mixed back in by later layers */
    float *q;                    /* [C] a sparse block's queries (its keys and values use k, v) */
    float *att;                  /* [C] attention output: the WKV heads' or the sparse heads' */
    float *out;                  /* [C] a half's output projection, added to x */
    float *ffn_in;               /* [C] channel-mix input xn + shift * ffn_lerp */
    float *ffn;                  /* [F] channel-mix hidden layer, relu^2 */
    float *lora_w, *lora_a, *lora_g, *lora_v;   /* [rank] LoRA hidden layers */
    float *rows_block;           /* the row buffers' one allocation */
    rwkvx__work work;            /* the matrix products' scratch */
    void *work_block;            /* its allocation */
    float *gates;                /* [threads][max chunks] gate values */
    int *picked;                 /* [threads][max chunks] chunk selection work */
    int *sel;                    /* [batch][H][sel_max] each query's chunks, per head */
    int *n_sel;                  /* [batch][H] their count, -1: every earlier position */
    int sel_max;                 /* min(top-k - 1, max chunks) */
    rwkvx__query *queries;       /* [threads][batch] attention in progress */
} rwkvx__scratch;

/* The thread count of a state left at 0 threads (rwkvx_state_set_threads).
   Two threads that meet at every barrier are only as fast as the slower
   one: when another program holds a core, one thread can be several times
   faster than two. So the state times its passes and climbs over 1, 2, 4,
   ... and all cores, starting from all:
   - passes are compared per row among passes of similar size (classes of
     1 row, 2-3, 4-7, ...; the first pass of a class is not counted, it
     pages the weights in); the count in use keeps a running mean per class;
   - now and then one pass tries the next count down or up, kept if it took
     under 0.9 of the mean. A try that fails lost some time; the next try
     that way waits until the passes since have taken RWKVX__TUNE_PAYBACK
     times that (at least twice the last wait, at most RWKVX__TUNE_WAIT_MAX
     seconds), so tries cost about 3 % at first and ever less on a steady
     machine; a move makes the way back wait as long for what it gained;
   - a pass over 3x its mean (the machine changed) makes both ways due.
   Which thread computes a number never changes it: only the speed varies. */
#define RWKVX__TUNE_SIZES 8
#define RWKVX__TUNE_PAYBACK 32.0
#define RWKVX__TUNE_WAIT_MAX 10.0
typedef struct {
    int threads;                 /* the count in use; 0: not started (all cores) */
    int trying;                  /* the count this pass tries; 0: none */
    int way;                     /* of the try in progress, else the one to try first: 0 down, 1 up */
    double wait[2], since[2];    /* per way: seconds of passes between tries, and since the last */
    double per_row[RWKVX__TUNE_SIZES]; /* running mean, seconds per row; 0: none yet */
    unsigned char warm[RWKVX__TUNE_SIZES]; /* a pass of that size has run */
} rwkvx__thread_tuner;

struct rwkvx_state {
    const rwkvx_model *model;
    uint64_t n_pos;              /* tokens seen */
    int n_threads;               /* as set: 0 = tuned (tuner) */
    int max_threads;
    rwkvx__thread_tuner tuner;
    float *part[RWKVX__N_PARTS]; /* the fixed-size parts (RWKVX__PARTS), each [blocks][floats] */
    float *parts_block;          /* their one allocation */
    size_t parts_floats;         /* its size */
    rwkvx__kv_cache *kv;         /* per sparse block */
    size_t kv_capacity;          /* positions per head the K/V arrays can hold */
    uint64_t kv_len;             /* positions each sparse head holds: n_pos, or fewer
                                    once the K/V limit has evicted some */
    float *evict_votes;          /* K/V limit: [threads][2 * kv_max] votes and scores */
    int *evict_heap;             /* [threads][kv_keep] the best positions so far */
    unsigned char *evict_kept;   /* [threads][kv_max] which positions stay */
    rwkvx__scratch s;
    size_t batch_done;           /* in rwkvx_eval_batch: 1 + its tokens done; else 0 */
    float *stage;                /* rwkvx_eval_batch's logits of a pass's rows (first state) */
    size_t stage_rows;
};

/* One forward pass runs up to RWKVX__BATCH rows (tokens) through the model.
   The rows may belong to several states (rwkvx_eval_batch), each owning a run
   of consecutive rows: the matrix products take every row at once (each
   weight is read once per pass, and a row's result does not depend on the
   other rows), the per-sequence parts (token shift, the WKV recurrence, the
   sparse blocks' K/V memory and attention) run on each state's rows with its
   own recurrent state. rwkvx_eval is the one-state case. */
typedef struct {
    rwkvx_state *st;
    size_t idx;                  /* its place in rwkvx_eval_batch's arrays */
    int row, T;                  /* its rows: row .. row + T - 1 */
} rwkvx__seg;

typedef struct {
    const rwkvx_model *m;
    rwkvx__scratch *s;           /* the rows' buffers: the first state's scratch */
    rwkvx__seg seg[RWKVX__BATCH];
    unsigned char seg_of[RWKVX__BATCH]; /* row -> its segment */
    int32_t token[RWKVX__BATCH]; /* row -> its token */
    int n_seg, T, nt;            /* segments, rows, threads */
} rwkvx__pass;

/* ---------------------------------------------------------------------- */
/* Forward declarations                                                   */
/* ---------------------------------------------------------------------- */

/* What the model math below calls before its definition: the kernels the
   math is built on ("Weight types", "Matrix kernels") and the state's
   helpers ("State"). */
static void rwkvx__matmul_jobs(const rwkvx__job *jobs, int n_jobs, int T, const rwkvx__work *work, int n_threads);
static void rwkvx__matmul(const rwkvx__mat *w, const float *x, int64_t ldx, float *y, int64_t ldy, int T, const rwkvx__work *work,
                          int n_threads);
static void rwkvx__row_to_f32(const rwkvx__mat *w, int64_t row, int64_t i0, int64_t n, float *out);
static void rwkvx__f32_to_f16_row(const float *x, uint16_t *out, int n);
static float *rwkvx__part_at(const rwkvx_state *st, int part, int i);
static size_t rwkvx__kv_elem_bytes(const rwkvx_model *m);
static int rwkvx__threads(const rwkvx_state *st);
static rwkvx_status rwkvx__kv_reserve(rwkvx_state *st, uint64_t positions);
static int rwkvx__pass_threads(rwkvx_state *const *states, size_t n, int rows);
static double rwkvx__seconds(void);
static void rwkvx__tune_learn(rwkvx_state *st, int rows, int threads, double seconds);

/* ---------------------------------------------------------------------- */
/* Vector layer: the SIMD operations the math and kernels use             */
/* ---------------------------------------------------------------------- */

/* The instruction set is chosen at compile time (-march=native in the
   Makefile): AVX-512 (16 lanes), AVX2 + FMA + F16C (8 lanes), NEON on AArch64
   (8 lanes in two registers), else portable C with 8 lanes, which
   RWKVX_NO_SIMD forces and the tests use as the reference. RWKVX_NO_AVX512
   keeps an AVX-512 machine on the AVX2 kernels. Compile time, not runtime
   dispatch: a header library is compiled by its user for a known target, and
   a runtime choice would make the logits depend on the machine a binary
   lands on. */

#if defined(__GNUC__) || defined(__clang__)
#define RWKVX__INLINE static inline __attribute__((always_inline))
#define RWKVX__UNROLL _Pragma("GCC unroll 8")   /* small constant loops: keep sums in registers */
#else
#define RWKVX__INLINE static
#define RWKVX__UNROLL
#endif

/* A vector of RWKVX__LANES floats and what the kernels do with it: zero,
   load, load of the first n < LANES floats (zeros after), load of f16 values,
   store, c + a * b, broadcast, multiply, and four vectors' lane sums. */
#if defined(RWKVX__AVX512)
#define RWKVX__LANES 16
#define RWKVX__UT 6                    /* 4 x 6 accumulators of the 32 registers */
typedef __m512 rwkvx__v;
RWKVX__INLINE rwkvx__v rwkvx__vzero(void) { return _mm512_setzero_ps(); }
RWKVX__INLINE rwkvx__v rwkvx__vload(const float *p) { return _mm512_loadu_ps(p); }
RWKVX__INLINE rwkvx__v rwkvx__vload_part(const float *p, int n) { return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p); }
RWKVX__INLINE void rwkvx__vstore(float *p, rwkvx__v v) { _mm512_storeu_ps(p, v); }
RWKVX__INLINE rwkvx__v rwkvx__vfma(rwkvx__v a, rwkvx__v b, rwkvx__v c) { return _mm512_fmadd_ps(a, b, c); }
RWKVX__INLINE rwkvx__v rwkvx__vset1(float f) { return _mm512_set1_ps(f); }
RWKVX__INLINE rwkvx__v rwkvx__vload_f16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p)); }
RWKVX__INLINE rwkvx__v rwkvx__vmul(rwkvx__v a, rwkvx__v b) { return _mm512_mul_ps(a, b); }
RWKVX__INLINE rwkvx__v rwkvx__vload_bf16(const uint16_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)p)), 16));
}
RWKVX__INLINE rwkvx__v rwkvx__vload_q8(const signed char *q, uint16_t d) { /* d (f16) times 16 int8 */
    __m512 v = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)q)));
    return _mm512_mul_ps(v, _mm512_set1_ps(_cvtsh_ss(d)));
}
/* out[j] = the lanes of v[j] added by the halving tree (lane l += lane l + h
   for h = 8, 4, 2, 1), four vectors at once */
RWKVX__INLINE void rwkvx__vsum4(const rwkvx__v *v, float *out) {
    __m512 ab = _mm512_add_ps(_mm512_shuffle_f32x4(v[0], v[1], 0x44), _mm512_shuffle_f32x4(v[0], v[1], 0xee));
    __m512 cd = _mm512_add_ps(_mm512_shuffle_f32x4(v[2], v[3], 0x44), _mm512_shuffle_f32x4(v[2], v[3], 0xee));
    __m512 q = _mm512_add_ps(_mm512_shuffle_f32x4(ab, cd, 0x88), _mm512_shuffle_f32x4(ab, cd, 0xdd)); /* a b c d, 4 each */
    __m512 h = _mm512_add_ps(q, _mm512_permute_ps(q, 0x4e));     /* l += l + 2 */
    __m128 r;
    h = _mm512_add_ps(h, _mm512_permute_ps(h, 0xb1));            /* l += l + 1 */
    r = _mm512_castps512_ps128(_mm512_permutexvar_ps(_mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12, 8, 4, 0), h));
    _mm_storeu_ps(out, r);
}
/* LANES small integers (int32), for unpacking quantized weights: LANES bytes
   zero-extended, a bit field of each, sums, shifts, lane l's bit of a word,
   conversion to f32 and a lookup in a table of 16 floats. */
typedef __m512i rwkvx__vi;
RWKVX__INLINE rwkvx__vi rwkvx__vi_u8(const unsigned char *p) { return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p)); }
RWKVX__INLINE rwkvx__vi rwkvx__vi_field(rwkvx__vi v, int shift, int bits) {
    return _mm512_and_si512(_mm512_srl_epi32(v, _mm_cvtsi32_si128(shift)), _mm512_set1_epi32((1 << bits) - 1));
}
RWKVX__INLINE rwkvx__vi rwkvx__vi_add(rwkvx__vi a, rwkvx__vi b) { return _mm512_add_epi32(a, b); }
RWKVX__INLINE rwkvx__vi rwkvx__vi_shl(rwkvx__vi v, int n) { return _mm512_sll_epi32(v, _mm_cvtsi32_si128(n)); }
RWKVX__INLINE rwkvx__vi rwkvx__vi_set1(int x) { return _mm512_set1_epi32(x); }
RWKVX__INLINE rwkvx__vi rwkvx__vi_bits(uint32_t word, int first) {
    __m512i at = _mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), _mm512_set1_epi32(first));
    return _mm512_and_si512(_mm512_srlv_epi32(_mm512_set1_epi32((int)word), at), _mm512_set1_epi32(1));
}
RWKVX__INLINE rwkvx__v rwkvx__vi_float(rwkvx__vi v) { return _mm512_cvtepi32_ps(v); }
RWKVX__INLINE rwkvx__v rwkvx__vlookup16(const float *table, rwkvx__vi i) { return _mm512_permutexvar_ps(i, _mm512_loadu_ps(table)); }
#elif defined(RWKVX__AVX2)
#define RWKVX__LANES 8
#define RWKVX__UT 3                    /* 4 x 3 accumulators of the 16 registers */
typedef __m256 rwkvx__v;
RWKVX__INLINE rwkvx__v rwkvx__vzero(void) { return _mm256_setzero_ps(); }
RWKVX__INLINE rwkvx__v rwkvx__vload(const float *p) { return _mm256_loadu_ps(p); }
RWKVX__INLINE rwkvx__v rwkvx__vload_part(const float *p, int n) {
    static const int32_t mask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_maskload_ps(p, _mm256_loadu_si256((const __m256i *)(const void *)(mask + 8 - n)));
}
RWKVX__INLINE void rwkvx__vstore(float *p, rwkvx__v v) { _mm256_storeu_ps(p, v); }
RWKVX__INLINE rwkvx__v rwkvx__vfma(rwkvx__v a, rwkvx__v b, rwkvx__v c) { return _mm256_fmadd_ps(a, b, c); }
RWKVX__INLINE rwkvx__v rwkvx__vset1(float f) { return _mm256_set1_ps(f); }
RWKVX__INLINE rwkvx__v rwkvx__vload_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)p)); }
RWKVX__INLINE rwkvx__v rwkvx__vmul(rwkvx__v a, rwkvx__v b) { return _mm256_mul_ps(a, b); }
RWKVX__INLINE rwkvx__v rwkvx__vload_bf16(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)p)), 16));
}
RWKVX__INLINE rwkvx__v rwkvx__vload_q8(const signed char *q, uint16_t d) { /* d (f16) times 8 int8 */
    __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)q)));
    return _mm256_mul_ps(v, _mm256_set1_ps(_cvtsh_ss(d)));
}
RWKVX__INLINE void rwkvx__vsum4(const rwkvx__v *v, float *out) { /* halving tree, h = 4, 2, 1 */
    __m256 ab = _mm256_add_ps(_mm256_permute2f128_ps(v[0], v[1], 0x20), _mm256_permute2f128_ps(v[0], v[1], 0x31));
    __m256 cd = _mm256_add_ps(_mm256_permute2f128_ps(v[2], v[3], 0x20), _mm256_permute2f128_ps(v[2], v[3], 0x31));
    __m256 q = _mm256_add_ps(_mm256_shuffle_ps(ab, cd, 0x44), _mm256_shuffle_ps(ab, cd, 0xee)); /* a0 a1 c0 c1 | b0 b1 d0 d1 */
    __m256 h = _mm256_hadd_ps(q, q);                              /* a c a c | b d b d */
    __m128 lo = _mm256_castps256_ps128(h), hi = _mm256_extractf128_ps(h, 1);
    out[0] = _mm_cvtss_f32(lo), out[1] = _mm_cvtss_f32(hi);
    out[2] = _mm_cvtss_f32(_mm_shuffle_ps(lo, lo, 1)), out[3] = _mm_cvtss_f32(_mm_shuffle_ps(hi, hi, 1));
}
typedef __m256i rwkvx__vi;      /* small integers: see the AVX-512 layer */
RWKVX__INLINE rwkvx__vi rwkvx__vi_u8(const unsigned char *p) { return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(const void *)p)); }
RWKVX__INLINE rwkvx__vi rwkvx__vi_field(rwkvx__vi v, int shift, int bits) {
    return _mm256_and_si256(_mm256_srl_epi32(v, _mm_cvtsi32_si128(shift)), _mm256_set1_epi32((1 << bits) - 1));
}
RWKVX__INLINE rwkvx__vi rwkvx__vi_add(rwkvx__vi a, rwkvx__vi b) { return _mm256_add_epi32(a, b); }
RWKVX__INLINE rwkvx__vi rwkvx__vi_shl(rwkvx__vi v, int n) { return _mm256_sll_epi32(v, _mm_cvtsi32_si128(n)); }
RWKVX__INLINE rwkvx__vi rwkvx__vi_set1(int x) { return _mm256_set1_epi32(x); }
RWKVX__INLINE rwkvx__vi rwkvx__vi_bits(uint32_t word, int first) {
    __m256i at = _mm256_add_epi32(_mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0), _mm256_set1_epi32(first));
    return _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)word), at), _mm256_set1_epi32(1));
}
RWKVX__INLINE rwkvx__v rwkvx__vi_float(rwkvx__vi v) { return _mm256_cvtepi32_ps(v); }
RWKVX__INLINE rwkvx__v rwkvx__vlookup16(const float *table, rwkvx__vi i) { /* two 8-entry lookups, bit 3 picks */
    __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table), i), hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table + 8), i);
    return _mm256_blendv_ps(lo, hi, _mm256_castsi256_ps(_mm256_slli_epi32(i, 28)));
}
#elif defined(RWKVX__NEON)
#define RWKVX__LANES 8
#define RWKVX__UT 2                    /* 4 x 2 x 2 accumulators of the 32 registers */
typedef struct { float32x4_t lo, hi; } rwkvx__v;
RWKVX__INLINE rwkvx__v rwkvx__vzero(void) { rwkvx__v r; r.lo = r.hi = vdupq_n_f32(0.0f); return r; }
RWKVX__INLINE rwkvx__v rwkvx__vload(const float *p) { rwkvx__v r; r.lo = vld1q_f32(p); r.hi = vld1q_f32(p + 4); return r; }
RWKVX__INLINE rwkvx__v rwkvx__vload_part(const float *p, int n) {
    float tmp[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(tmp, p, (size_t)n * sizeof(float));
    return rwkvx__vload(tmp);
}
RWKVX__INLINE void rwkvx__vstore(float *p, rwkvx__v v) { vst1q_f32(p, v.lo); vst1q_f32(p + 4, v.hi); }
RWKVX__INLINE rwkvx__v rwkvx__vfma(rwkvx__v a, rwkvx__v b, rwkvx__v c) {
    rwkvx__v r;
    r.lo = vfmaq_f32(c.lo, a.lo, b.lo);
    r.hi = vfmaq_f32(c.hi, a.hi, b.hi);
    return r;
}
RWKVX__INLINE rwkvx__v rwkvx__vset1(float f) { rwkvx__v r; r.lo = r.hi = vdupq_n_f32(f); return r; }
RWKVX__INLINE rwkvx__v rwkvx__vload_f16(const uint16_t *p) {
    rwkvx__v r;
    r.lo = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
    r.hi = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p + 4)));
    return r;
}
RWKVX__INLINE rwkvx__v rwkvx__vmul(rwkvx__v a, rwkvx__v b) {
    rwkvx__v r;
    r.lo = vmulq_f32(a.lo, b.lo);
    r.hi = vmulq_f32(a.hi, b.hi);
    return r;
}
RWKVX__INLINE rwkvx__v rwkvx__vload_bf16(const uint16_t *p) {
    rwkvx__v r;
    r.lo = vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
    r.hi = vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p + 4), 16));
    return r;
}
RWKVX__INLINE rwkvx__v rwkvx__vload_q8(const signed char *q, uint16_t d) { /* d (f16) times 8 int8 */
    int16x8_t h = vmovl_s8(vld1_s8(q));
    float df = rwkvx__f16_to_f32(d);
    rwkvx__v r;
    r.lo = vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(h))), df);
    r.hi = vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(h))), df);
    return r;
}
RWKVX__INLINE void rwkvx__vsum4(const rwkvx__v *v, float *out) { /* halving tree, h = 4, 2, 1 */
    int j;
    for (j = 0; j < 4; j += 2) {
        float32x4_t a = vaddq_f32(v[j].lo, v[j].hi), b = vaddq_f32(v[j + 1].lo, v[j + 1].hi);
        float32x2_t a2 = vadd_f32(vget_low_f32(a), vget_high_f32(a)), b2 = vadd_f32(vget_low_f32(b), vget_high_f32(b));
        vst1_f32(out + j, vpadd_f32(a2, b2));
    }
}
typedef struct { int32x4_t lo, hi; } rwkvx__vi;   /* small integers: see the AVX-512 layer */
RWKVX__INLINE rwkvx__vi rwkvx__vi_u8(const unsigned char *p) {
    uint16x8_t h = vmovl_u8(vld1_u8(p));
    rwkvx__vi r;
    r.lo = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(h)));
    r.hi = vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(h)));
    return r;
}
RWKVX__INLINE rwkvx__vi rwkvx__vi_field(rwkvx__vi v, int shift, int bits) {
    int32x4_t s = vdupq_n_s32(-shift), m = vdupq_n_s32((1 << bits) - 1);
    v.lo = vandq_s32(vshlq_s32(v.lo, s), m);
    v.hi = vandq_s32(vshlq_s32(v.hi, s), m);
    return v;
}
RWKVX__INLINE rwkvx__vi rwkvx__vi_add(rwkvx__vi a, rwkvx__vi b) { a.lo = vaddq_s32(a.lo, b.lo); a.hi = vaddq_s32(a.hi, b.hi); return a; }
RWKVX__INLINE rwkvx__vi rwkvx__vi_shl(rwkvx__vi v, int n) { v.lo = vshlq_s32(v.lo, vdupq_n_s32(n)); v.hi = vshlq_s32(v.hi, vdupq_n_s32(n)); return v; }
RWKVX__INLINE rwkvx__vi rwkvx__vi_set1(int x) { rwkvx__vi r; r.lo = r.hi = vdupq_n_s32(x); return r; }
RWKVX__INLINE rwkvx__vi rwkvx__vi_bits(uint32_t word, int first) {
    static const int32_t lane[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    uint32x4_t w = vdupq_n_u32(word), one = vdupq_n_u32(1);
    int32x4_t f = vdupq_n_s32(-first);
    rwkvx__vi r;
    r.lo = vreinterpretq_s32_u32(vandq_u32(vshlq_u32(w, vsubq_s32(f, vld1q_s32(lane))), one));
    r.hi = vreinterpretq_s32_u32(vandq_u32(vshlq_u32(w, vsubq_s32(f, vld1q_s32(lane + 4))), one));
    return r;
}
RWKVX__INLINE rwkvx__v rwkvx__vi_float(rwkvx__vi v) { rwkvx__v r; r.lo = vcvtq_f32_s32(v.lo); r.hi = vcvtq_f32_s32(v.hi); return r; }
RWKVX__INLINE rwkvx__v rwkvx__vlookup16(const float *table, rwkvx__vi i) {
    int32_t at[8];
    float f[8];
    int l;
    vst1q_s32(at, i.lo), vst1q_s32(at + 4, i.hi);
    for (l = 0; l < 8; l++) f[l] = table[at[l] & 15];
    return rwkvx__vload(f);
}
#else
#define RWKVX__LANES 8
#define RWKVX__UT 4
/* no forced unrolling here: unrolled, the 8-float structs of this layer
   took gcc 12 five minutes to compile at -O2 (the few-token kernels of the
   block types), and the compiler unrolls the lane loops well enough itself */
#undef RWKVX__UNROLL
#define RWKVX__UNROLL
typedef struct { float f[8]; } rwkvx__v;
RWKVX__INLINE rwkvx__v rwkvx__vzero(void) { rwkvx__v r; memset(&r, 0, sizeof r); return r; }
RWKVX__INLINE rwkvx__v rwkvx__vload(const float *p) { rwkvx__v r; memcpy(r.f, p, sizeof r.f); return r; }
RWKVX__INLINE rwkvx__v rwkvx__vload_part(const float *p, int n) {
    rwkvx__v r = rwkvx__vzero();
    memcpy(r.f, p, (size_t)n * sizeof(float));
    return r;
}
RWKVX__INLINE void rwkvx__vstore(float *p, rwkvx__v v) { memcpy(p, v.f, sizeof v.f); }
RWKVX__INLINE rwkvx__v rwkvx__vfma(rwkvx__v a, rwkvx__v b, rwkvx__v c) {
    int l;
    for (l = 0; l < 8; l++) c.f[l] += a.f[l] * b.f[l];
    return c;
}
RWKVX__INLINE rwkvx__v rwkvx__vset1(float f) { rwkvx__v r; int l; for (l = 0; l < 8; l++) r.f[l] = f; return r; }
RWKVX__INLINE rwkvx__v rwkvx__vload_f16(const uint16_t *p) { rwkvx__v r; int l; for (l = 0; l < 8; l++) r.f[l] = rwkvx__f16_to_f32(p[l]); return r; }
RWKVX__INLINE rwkvx__v rwkvx__vmul(rwkvx__v a, rwkvx__v b) { int l; for (l = 0; l < 8; l++) a.f[l] *= b.f[l]; return a; }
RWKVX__INLINE rwkvx__v rwkvx__vload_bf16(const uint16_t *p) { rwkvx__v r; int l; for (l = 0; l < 8; l++) r.f[l] = rwkvx__bf16_to_f32(p[l]); return r; }
RWKVX__INLINE rwkvx__v rwkvx__vload_q8(const signed char *q, uint16_t d) {
    rwkvx__v r;
    float df = rwkvx__f16_to_f32(d);
    int l;
    for (l = 0; l < 8; l++) r.f[l] = df * (float)q[l];
    return r;
}
RWKVX__INLINE void rwkvx__vsum4(const rwkvx__v *v, float *out) { /* halving tree, h = 4, 2, 1 */
    int j, h, l;
    for (j = 0; j < 4; j++) {
        float t[8];
        memcpy(t, v[j].f, sizeof t);
        for (h = 4; h > 0; h /= 2)
            for (l = 0; l < h; l++) t[l] += t[l + h];
        out[j] = t[0];
    }
}
typedef struct { int32_t i[8]; } rwkvx__vi;   /* small integers: see the AVX-512 layer */
RWKVX__INLINE rwkvx__vi rwkvx__vi_u8(const unsigned char *p) { rwkvx__vi r; int l; for (l = 0; l < 8; l++) r.i[l] = p[l]; return r; }
RWKVX__INLINE rwkvx__vi rwkvx__vi_field(rwkvx__vi v, int shift, int bits) {
    int l;
    for (l = 0; l < 8; l++) v.i[l] = (v.i[l] >> shift) & ((1 << bits) - 1);
    return v;
}
RWKVX__INLINE rwkvx__vi rwkvx__vi_add(rwkvx__vi a, rwkvx__vi b) { int l; for (l = 0; l < 8; l++) a.i[l] += b.i[l]; return a; }
RWKVX__INLINE rwkvx__vi rwkvx__vi_shl(rwkvx__vi v, int n) { int l; for (l = 0; l < 8; l++) v.i[l] = (int32_t)((uint32_t)v.i[l] << n); return v; }
RWKVX__INLINE rwkvx__vi rwkvx__vi_set1(int x) { rwkvx__vi r; int l; for (l = 0; l < 8; l++) r.i[l] = x; return r; }
RWKVX__INLINE rwkvx__vi rwkvx__vi_bits(uint32_t word, int first) {
    rwkvx__vi r;
    int l;
    for (l = 0; l < 8; l++) r.i[l] = (int32_t)((word >> (first + l)) & 1u);
    return r;
}
RWKVX__INLINE rwkvx__v rwkvx__vi_float(rwkvx__vi v) { rwkvx__v r; int l; for (l = 0; l < 8; l++) r.f[l] = (float)v.i[l]; return r; }
RWKVX__INLINE rwkvx__v rwkvx__vlookup16(const float *table, rwkvx__vi i) { rwkvx__v r; int l; for (l = 0; l < 8; l++) r.f[l] = table[i.i[l] & 15]; return r; }
#endif

/* The layer's element-wise operations (activations, softmax, f16 storage):
   a + b, a - b; max(a, b) as x86's maxps computes it, a > b ? a : b (so max(0, h)
   is h for NaN and -0); the store of LANES values as f16 (round to nearest
   even); and e^x (rwkvx__vexp, below). */
#if defined(RWKVX__AVX512)
RWKVX__INLINE rwkvx__v rwkvx__vadd(rwkvx__v a, rwkvx__v b) { return _mm512_add_ps(a, b); }
RWKVX__INLINE rwkvx__v rwkvx__vsub(rwkvx__v a, rwkvx__v b) { return _mm512_sub_ps(a, b); }
RWKVX__INLINE rwkvx__v rwkvx__vmax(rwkvx__v a, rwkvx__v b) { return _mm512_max_ps(a, b); }
RWKVX__INLINE void rwkvx__vstore_f16(uint16_t *p, rwkvx__v v) {
    _mm256_storeu_si256((__m256i *)(void *)p, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
RWKVX__INLINE rwkvx__v rwkvx__vround(rwkvx__v v) { return _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
RWKVX__INLINE rwkvx__v rwkvx__vscale2(rwkvx__v v, rwkvx__v n) { return _mm512_scalef_ps(v, n); }
#elif defined(RWKVX__AVX2)
RWKVX__INLINE rwkvx__v rwkvx__vadd(rwkvx__v a, rwkvx__v b) { return _mm256_add_ps(a, b); }
RWKVX__INLINE rwkvx__v rwkvx__vsub(rwkvx__v a, rwkvx__v b) { return _mm256_sub_ps(a, b); }
RWKVX__INLINE rwkvx__v rwkvx__vmax(rwkvx__v a, rwkvx__v b) { return _mm256_max_ps(a, b); }
RWKVX__INLINE void rwkvx__vstore_f16(uint16_t *p, rwkvx__v v) {
    _mm_storeu_si128((__m128i *)(void *)p, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
RWKVX__INLINE rwkvx__v rwkvx__vround(rwkvx__v v) { return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
RWKVX__INLINE rwkvx__v rwkvx__vscale2(rwkvx__v v, rwkvx__v n) { /* v 2^n, n an integer in the normal exponent range */
    return _mm256_mul_ps(v, _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23)));
}
#elif defined(RWKVX__NEON)
RWKVX__INLINE rwkvx__v rwkvx__vadd(rwkvx__v a, rwkvx__v b) { a.lo = vaddq_f32(a.lo, b.lo), a.hi = vaddq_f32(a.hi, b.hi); return a; }
RWKVX__INLINE rwkvx__v rwkvx__vsub(rwkvx__v a, rwkvx__v b) { a.lo = vsubq_f32(a.lo, b.lo), a.hi = vsubq_f32(a.hi, b.hi); return a; }
RWKVX__INLINE rwkvx__v rwkvx__vmax(rwkvx__v a, rwkvx__v b) { /* not vmaxq_f32: it returns the NaN and +0 for (0, -0) */
    a.lo = vbslq_f32(vcgtq_f32(a.lo, b.lo), a.lo, b.lo), a.hi = vbslq_f32(vcgtq_f32(a.hi, b.hi), a.hi, b.hi);
    return a;
}
RWKVX__INLINE void rwkvx__vstore_f16(uint16_t *p, rwkvx__v v) {
    vst1_u16(p, vreinterpret_u16_f16(vcvt_f16_f32(v.lo)));
    vst1_u16(p + 4, vreinterpret_u16_f16(vcvt_f16_f32(v.hi)));
}
#else
RWKVX__INLINE rwkvx__v rwkvx__vadd(rwkvx__v a, rwkvx__v b) { int l; for (l = 0; l < 8; l++) a.f[l] += b.f[l]; return a; }
RWKVX__INLINE rwkvx__v rwkvx__vsub(rwkvx__v a, rwkvx__v b) { int l; for (l = 0; l < 8; l++) a.f[l] -= b.f[l]; return a; }
RWKVX__INLINE rwkvx__v rwkvx__vmax(rwkvx__v a, rwkvx__v b) { int l; for (l = 0; l < 8; l++) a.f[l] = a.f[l] > b.f[l] ? a.f[l] : b.f[l]; return a; }
static uint16_t rwkvx__f32_to_f16(float x);
RWKVX__INLINE void rwkvx__vstore_f16(uint16_t *p, rwkvx__v v) { int l; for (l = 0; l < 8; l++) p[l] = rwkvx__f32_to_f16(v.f[l]); }
#endif

/* e^x for x <= 0 (the softmax weights). On x86: x below -87.33 (the
   smallest normal float) is taken as -87.33, x = n ln2 + r, |r| <= ln2/2, e^r by
   Cephes' degree-6 polynomial, times 2^n, about 2 ulp. Elsewhere expf of each
   lane, as the portable build has always computed it. */
#if defined(RWKVX__AVX2)
RWKVX__INLINE rwkvx__v rwkvx__vexp(rwkvx__v x) {
    rwkvx__v n, r, p;
    x = rwkvx__vmax(x, rwkvx__vset1(-87.33f));
    n = rwkvx__vround(rwkvx__vmul(x, rwkvx__vset1(1.44269504f)));
    r = rwkvx__vfma(n, rwkvx__vset1(-0.693359375f), x);      /* ln2 in two parts: exact n * hi */
    r = rwkvx__vfma(n, rwkvx__vset1(2.12194440e-4f), r);
    p = rwkvx__vfma(rwkvx__vset1(1.9875691500e-4f), r, rwkvx__vset1(1.3981999507e-3f));
    p = rwkvx__vfma(p, r, rwkvx__vset1(8.3334519073e-3f));
    p = rwkvx__vfma(p, r, rwkvx__vset1(4.1665795894e-2f));
    p = rwkvx__vfma(p, r, rwkvx__vset1(1.6666665459e-1f));
    p = rwkvx__vfma(p, r, rwkvx__vset1(5.0000001201e-1f));
    p = rwkvx__vfma(p, rwkvx__vmul(r, r), rwkvx__vadd(r, rwkvx__vset1(1.0f)));
    return rwkvx__vscale2(p, n);
}
#else
RWKVX__INLINE rwkvx__v rwkvx__vexp(rwkvx__v x) {
    float f[RWKVX__LANES];
    int l;
    rwkvx__vstore(f, x);
    for (l = 0; l < RWKVX__LANES; l++) f[l] = expf(f[l]);
    return rwkvx__vload(f);
}
#endif

/* ---------------------------------------------------------------------- */
/* RWKV-7 time-mix and channel-mix                                        */
/* ---------------------------------------------------------------------- */

/* The element-wise work between the matrix products runs token by token;
   in a prefill the tokens are shared out among the threads (each token's
   numbers are the same whoever computes them). */

static void rwkvx__layer_norm(const float *x, float *out, const float *w, const float *b, int n, float eps) {
    double mean = 0, var = 0;
    int i;
    float inv;
    for (i = 0; i < n; i++) mean += x[i];
    mean /= n;
    for (i = 0; i < n; i++) var += (x[i] - mean) * (x[i] - mean);
    var /= n;
    inv = (float)(1.0 / sqrt(var + eps));
    for (i = 0; i < n; i++) out[i] = (float)(x[i] - mean) * inv * w[i] + b[i];
}

/* The previous token's normalized input of a block's token shift: time-mix
   (att_prev) or channel-mix (ffn_prev) of block `id` (m->order's numbering:
   >= 0 an RWKV-7 block, < 0 a sparse block, channel-mix only). */
static float *rwkvx__shift_prev(rwkvx_state *st, int id, int ffn) {
    if (!ffn) return rwkvx__part_at(st, RWKVX__PART_ATT_PREV, id);
    return id >= 0 ? rwkvx__part_at(st, RWKVX__PART_FFN_PREV, id) : rwkvx__part_at(st, RWKVX__PART_SPARSE_FFN_PREV, -1 - id);
}

/* u[t] = LN(x[t]); returns, in d, u_prev(t) - u[t] with u_prev(0) = *prev,
   and leaves the last u in *prev for the next call. */
static void rwkvx__norm_shift(const float *x, float *u, float *d, float *prev, const float *w, const float *b, int T, int C, float eps,
                              int nt) {
    int t;
    nt = rwkvx__par(nt, 4.0 * T * C);
    RWKVX__PARALLEL_FOR(nt, static)
    for (t = 0; t < T; t++) rwkvx__layer_norm(x + (size_t)t * C, u + (size_t)t * C, w, b, C, eps);
    RWKVX__PARALLEL_FOR(nt, static)
    for (t = 0; t < T; t++) {
        const float *before = t ? u + (size_t)(t - 1) * C : prev;
        int i;
        for (i = 0; i < C; i++) d[(size_t)t * C + i] = before[i] - u[(size_t)t * C + i];
    }
    memcpy(prev, u + (size_t)(T - 1) * C, (size_t)C * sizeof(float));
}

/* h = relu(h)^2 in place. Vectorized by hand: the compiler keeps the
   scalar loop's branch, which mispredicts on every other random sign (it
   took 9% of a prefill). max(0, h) with 0 first returns h for NaN and -0,
   exactly what `h < 0 ? 0 : h` gives. */
static void rwkvx__relu_sq(float *h, int n) {
    int i = 0;
    for (; i + RWKVX__LANES <= n; i += RWKVX__LANES) {
        rwkvx__v v = rwkvx__vmax(rwkvx__vzero(), rwkvx__vload(h + i));
        rwkvx__vstore(h + i, rwkvx__vmul(v, v));
    }
    for (; i < n; i++) {
        float v = h[i] < 0.0f ? 0.0f : h[i];
        h[i] = v * v;
    }
}

/* norm_shift of every segment's rows of x into xn and shift, each from its
   state's previous token (rwkvx__shift_prev). */
static void rwkvx__norm_shift_rows(const rwkvx__pass *p, int id, int ffn, const float *w, const float *b) {
    size_t C = (size_t)p->m->n_embd;
    int i;
    for (i = 0; i < p->n_seg; i++) {
        const rwkvx__seg *g = &p->seg[i];
        size_t o = (size_t)g->row * C;
        rwkvx__norm_shift(p->s->x + o, p->s->xn + o, p->s->shift + o, rwkvx__shift_prev(g->st, id, ffn), w, b, g->T, (int)C,
                          p->m->ln_eps, p->nt);
    }
}

/* A block's channel-mix weights (both kinds of block end with one). */
typedef struct {
    const float *ln_w, *ln_b, *lerp;
    const rwkvx__mat *key, *value;
} rwkvx__ffn_weights;

/* those of block `id` (m->order's numbering: >= 0 RWKV-7, < 0 sparse) */
static rwkvx__ffn_weights rwkvx__ffn_of(const rwkvx_model *m, int id) {
    rwkvx__ffn_weights f;
    if (id >= 0) {
        const rwkvx__rwkv_block *blk = &m->rwkv[id];
        f.ln_w = blk->ln2_w, f.ln_b = blk->ln2_b, f.lerp = blk->ffn_lerp, f.key = &blk->ffn_key, f.value = &blk->ffn_value;
    } else {
        const rwkvx__sparse_block *blk = &m->sparse[-1 - id];
        f.ln_w = blk->ln2_w, f.ln_b = blk->ln2_b, f.lerp = blk->ffn_lerp, f.key = &blk->ffn_key, f.value = &blk->ffn_value;
    }
    return f;
}

/* The second half of every block: x += Wv relu(Wk (xn + shift * lerp))^2,
   with xn = LN2(x). */
static void rwkvx__channel_mix(const rwkvx__pass *p, int id) {
    const rwkvx_model *m = p->m;
    const rwkvx__ffn_weights f = rwkvx__ffn_of(m, id);
    rwkvx__scratch *s = p->s;
    int C = m->n_embd, F = m->n_ffn, T = p->T, t, i, nt = p->nt;
    rwkvx__norm_shift_rows(p, id, 1, f.ln_w, f.ln_b);
    for (t = 0; t < T; t++)
        for (i = 0; i < C; i++) s->ffn_in[(size_t)t * C + i] = s->xn[(size_t)t * C + i] + s->shift[(size_t)t * C + i] * f.lerp[i];
    rwkvx__matmul(f.key, s->ffn_in, C, s->ffn, F, T, &s->work, nt);
    nt = rwkvx__par(nt, (double)T * F);
    RWKVX__PARALLEL_FOR(nt, static)
    for (t = 0; t < T; t++) rwkvx__relu_sq(s->ffn + (size_t)t * F, F);
    rwkvx__matmul(f.value, s->ffn, F, s->out, C, T, &s->work, nt);
    for (i = 0; i < T * C; i++) s->x[i] += s->out[i];
}

/* y[t] = W x[t] for every token of the batch, rows of x and y contiguous */
static rwkvx__job rwkvx__job_of(const rwkvx__mat *w, const float *x, float *y) {
    rwkvx__job job;
    job.w = w, job.x = x, job.y = y, job.ldx = w->cols, job.ldy = w->rows;
    return job;
}

/* The block's products: r, k, v and the LoRA first layers (all of them read
   the token-shifted inputs) in one parallel pass, the LoRA squashes, then the
   LoRA second layers in another: w and a get their bases added later, v_gate
   is v's residual gate. Layer 0 has no value LoRA. */
static void rwkvx__time_mix_products(const rwkvx__pass *p, const rwkvx__rwkv_block *blk, int layer) {
    rwkvx__scratch *s = p->s;
    size_t TC = (size_t)p->T * (size_t)p->m->n_embd, i;
    const float *xr = s->mix, *xw = xr + TC, *xk = xw + TC, *xv = xk + TC, *xa = xv + TC, *xg = xa + TC;
    rwkvx__job first[7], second[4];
    int n1 = 0, n2 = 0, nt = p->nt, T = p->T;
    first[n1++] = rwkvx__job_of(&blk->wr, xr, s->r);
    first[n1++] = rwkvx__job_of(&blk->wk, xk, s->k);
    first[n1++] = rwkvx__job_of(&blk->wv, xv, s->v);
    first[n1++] = rwkvx__job_of(&blk->w1, xw, s->lora_w);
    first[n1++] = rwkvx__job_of(&blk->a1, xa, s->lora_a);
    first[n1++] = rwkvx__job_of(&blk->g1, xg, s->lora_g);
    if (layer > 0) first[n1++] = rwkvx__job_of(&blk->v1, xv, s->lora_v);
    rwkvx__matmul_jobs(first, n1, T, &s->work, nt);
    for (i = 0; i < (size_t)T * (size_t)blk->w1.rows; i++) s->lora_w[i] = tanhf(s->lora_w[i]);
    for (i = 0; i < (size_t)T * (size_t)blk->g1.rows; i++) s->lora_g[i] = rwkvx__sigmoid(s->lora_g[i]);
    second[n2++] = rwkvx__job_of(&blk->w2, s->lora_w, s->w);
    second[n2++] = rwkvx__job_of(&blk->a2, s->lora_a, s->a);
    second[n2++] = rwkvx__job_of(&blk->g2, s->lora_g, s->g);
    if (layer > 0) second[n2++] = rwkvx__job_of(&blk->v2, s->lora_v, s->v_gate);
    rwkvx__matmul_jobs(second, n2, T, &s->work, nt);
}

/* The WKV-7 recurrence of one head over T tokens, then its group norm and
   bonus term: the only sequential part of a block. The state is kept
   transposed, St[j][i] = S[i][j] (key index j, value index i; saved states
   use S), so that both steps run along contiguous value vectors:
     sa     = sum_j St[j] kk_j                      (the old state)
     St[j]  = St[j] w_j + sa (-kk_j a_j) + v k_j    for every key j
     y      = sum_j St[j] r_j                       (the new state) */
static void rwkvx__wkv_head(const rwkvx_model *m, const rwkvx__rwkv_block *blk, float *St, const rwkvx__scratch *s, int head,
                            int row, int T) {
    enum { NV = RWKVX__HEAD / RWKVX__LANES };     /* vectors per value row */
    int C = m->n_embd, t, i, j, c;
    for (t = row; t < row + T; t++) {
        size_t o = (size_t)t * C + (size_t)head * RWKVX__HEAD;
        const float *r = s->r + o, *k = s->k + o, *v = s->v + o, *w = s->w + o, *kk = s->kk + o, *a = s->a + o;
        float *y = s->att + o, mean = 0, var = 0, inv, bonus = 0;
        rwkvx__v sa[NV], acc[NV], vv[NV];
        for (c = 0; c < NV; c++) sa[c] = rwkvx__vzero(), acc[c] = rwkvx__vzero(), vv[c] = rwkvx__vload(v + c * RWKVX__LANES);
        for (j = 0; j < RWKVX__HEAD; j++) {
            rwkvx__v kkj = rwkvx__vset1(kk[j]);
            for (c = 0; c < NV; c++) sa[c] = rwkvx__vfma(rwkvx__vload(St + j * RWKVX__HEAD + c * RWKVX__LANES), kkj, sa[c]);
        }
        for (j = 0; j < RWKVX__HEAD; j++) {
            rwkvx__v wj = rwkvx__vset1(w[j]), bj = rwkvx__vset1(-kk[j] * a[j]), kj = rwkvx__vset1(k[j]), rj = rwkvx__vset1(r[j]);
            float *state_row = St + j * RWKVX__HEAD;
            for (c = 0; c < NV; c++) {
                rwkvx__v x = rwkvx__vfma(sa[c], bj, rwkvx__vmul(vv[c], kj));
                x = rwkvx__vfma(rwkvx__vload(state_row + c * RWKVX__LANES), wj, x);
                rwkvx__vstore(state_row + c * RWKVX__LANES, x);
                acc[c] = rwkvx__vfma(x, rj, acc[c]);
            }
        }
        for (c = 0; c < NV; c++) rwkvx__vstore(y + c * RWKVX__LANES, acc[c]);
        for (i = 0; i < RWKVX__HEAD; i++) mean += y[i];
        mean /= RWKVX__HEAD;
        for (i = 0; i < RWKVX__HEAD; i++) var += (y[i] - mean) * (y[i] - mean);
        var /= RWKVX__HEAD;
        inv = 1.0f / sqrtf(var + m->gn_eps);
        for (j = 0; j < RWKVX__HEAD; j++) bonus += r[j] * k[j] * blk->r_k[head * RWKVX__HEAD + j];
        for (i = 0; i < RWKVX__HEAD; i++) {
            int ch = head * RWKVX__HEAD + i;
            y[i] = (y[i] - mean) * inv * blk->lnx_w[ch] + blk->lnx_b[ch] + bonus * v[i];
        }
    }
}

/* One token's decay w, in-context rate a, value residual, normalized key kk
   and key update, between the products and the recurrence (o: the token's
   offset in the batch buffers). */
static void rwkvx__time_mix_token(const rwkvx__rwkv_block *blk, const rwkvx__scratch *s, int layer, int C, size_t o) {
    float *w = s->w + o, *a = s->a + o, *v = s->v + o, *k = s->k + o, *kk = s->kk + o;
    const float *v_gate = s->v_gate + o;
    int i, head;
    for (i = 0; i < C; i++) {
        w[i] = expf(-0.606531f * rwkvx__sigmoid(blk->w0[i] + w[i]));
        a[i] = rwkvx__sigmoid(blk->a0[i] + a[i]);
    }
    if (layer == 0) memcpy(s->v_first + o, v, (size_t)C * sizeof(float));
    else /* value residual: v += (v_first - v) * sigmoid(v0 + (xv @ v1) @ v2) */
        for (i = 0; i < C; i++) v[i] += (s->v_first[o + i] - v[i]) * rwkvx__sigmoid(blk->v0[i] + v_gate[i]);
    for (head = 0; head < C / RWKVX__HEAD; head++) { /* kk = per-head L2 normalize(k * k_k); k *= 1 + (a - 1) * k_a */
        int c0 = head * RWKVX__HEAD;
        float norm = 0;
        for (i = c0; i < c0 + RWKVX__HEAD; i++) {
            kk[i] = k[i] * blk->k_k[i];
            norm += kk[i] * kk[i];
        }
        norm = sqrtf(norm);
        if (norm < 1e-12f) norm = 1e-12f;
        for (i = c0; i < c0 + RWKVX__HEAD; i++) {
            kk[i] /= norm;
            k[i] *= 1.0f + (a[i] - 1.0f) * blk->k_a[i];
        }
    }
}

/* The first half of an RWKV-7 block: x += Wo (g * WKV(r, w, k, v, kk, a)),
   all from the token-shifted xn = LN1(x). */
static void rwkvx__time_mix(const rwkvx__pass *p, int layer) {
    const rwkvx_model *m = p->m;
    const rwkvx__rwkv_block *blk = &m->rwkv[layer];
    rwkvx__scratch *s = p->s;
    int C = m->n_embd, H = m->n_head, nt = p->nt, T = p->T, t, i, pair;
    int nt_mix = rwkvx__par(nt, 6.0 * T * C), nt_token = rwkvx__par(nt, 32.0 * T * C);
    int nt_wkv = rwkvx__par(nt, 4.0 * T * H * RWKVX__HEAD * RWKVX__HEAD);
    size_t TC = (size_t)T * C;

    rwkvx__norm_shift_rows(p, layer, 0, blk->ln1_w, blk->ln1_b);
    RWKVX__PARALLEL_FOR(nt_mix, static)
    for (t = 0; t < T; t++) { /* xr, xw, xk, xv, xa, xg = xn + shift * lerp_q */
        int q, c;
        for (q = 0; q < 6; q++)
            for (c = 0; c < C; c++)
                s->mix[q * TC + (size_t)t * C + c] = s->xn[(size_t)t * C + c] + s->shift[(size_t)t * C + c] * blk->lerp[q * C + c];
    }
    rwkvx__time_mix_products(p, blk, layer);
    RWKVX__PARALLEL_FOR(nt_token, static)
    for (t = 0; t < T; t++) rwkvx__time_mix_token(blk, s, layer, C, (size_t)t * C);
    RWKVX__PARALLEL_FOR(nt_wkv, static)
    for (pair = 0; pair < p->n_seg * H; pair++) { /* (segment, head): independent */
        const rwkvx__seg *g = &p->seg[pair / H];
        int head = pair % H;
        float *S = rwkvx__part_at(g->st, RWKVX__PART_WKV, layer) + (size_t)head * RWKVX__HEAD * RWKVX__HEAD;
        rwkvx__wkv_head(m, blk, S, s, head, g->row, g->T);
    }
    for (i = 0; i < (int)TC; i++) s->att[i] *= s->g[i];
    rwkvx__matmul(&blk->wo, s->att, C, s->out, C, T, &s->work, nt);
    for (i = 0; i < (int)TC; i++) s->x[i] += s->out[i];
}

/* ---------------------------------------------------------------------- */
/* Sparse attention (MoBA rule, docs/MODEL.md 1.4)                        */
/* ---------------------------------------------------------------------- */

/* Appends keys and values of T positions (rows of C) to every head's
   storage and completes chunk means as chunks fill. The running sum adds
   the stored keys (f16-rounded with kv_f16) in position order, so restoring
   a state, which replays this, reproduces the means bit for bit. */
static void rwkvx__kv_append(const rwkvx_model *m, rwkvx__kv_cache *kv, uint64_t pos, const float *k, const float *v, int T) {
    size_t C = (size_t)m->n_embd, B = (size_t)m->chunk_size, i;
    int t, h;
    for (t = 0; t < T; t++, pos++) {
        const float *kt = k + (size_t)t * C, *vt = v + (size_t)t * C;
        for (h = 0; h < m->n_head; h++) {
            size_t at = (size_t)pos * RWKVX__HEAD, c0 = (size_t)h * RWKVX__HEAD;
            if (m->kv_f16) {
                uint16_t *K = (uint16_t *)kv->k[h] + at, *V = (uint16_t *)kv->v[h] + at;
                rwkvx__f32_to_f16_row(kt + c0, K, RWKVX__HEAD);
                rwkvx__f32_to_f16_row(vt + c0, V, RWKVX__HEAD);
                for (i = 0; i < RWKVX__HEAD; i++) kv->chunk_sum[c0 + i] += rwkvx__f16_to_f32(K[i]);
            } else {
                memcpy((float *)kv->k[h] + at, kt + c0, RWKVX__HEAD * sizeof(float));
                memcpy((float *)kv->v[h] + at, vt + c0, RWKVX__HEAD * sizeof(float));
                for (i = 0; i < RWKVX__HEAD; i++) kv->chunk_sum[c0 + i] += kt[c0 + i];
            }
        }
        if ((pos + 1) % B == 0) {
            float *mean = kv->chunk_mean + (pos / B) * C;
            for (i = 0; i < C; i++) mean[i] = kv->chunk_sum[i] / (float)B;
            memset(kv->chunk_sum, 0, C * sizeof(float));
        }
    }
}

/* One head's key or value at a position, as f32 (for saving states); `base`
   is that head's array. */
static void rwkvx__kv_row(const rwkvx_model *m, const void *base, uint64_t pos, float *out) {
    size_t at = (size_t)pos * RWKVX__HEAD;
    int i;
    if (!m->kv_f16) memcpy(out, (const float *)base + at, RWKVX__HEAD * sizeof(float));
    else for (i = 0; i < RWKVX__HEAD; i++) out[i] = rwkvx__f16_to_f32(((const uint16_t *)base)[at + i]);
}

/* p[j] = e^(score[j] - max) for j < 16 (all 16 are computed; the caller uses n) */
static void rwkvx__softmax_weights(const float *score, float max, float *p) {
    int j;
    for (j = 0; j < 16; j += RWKVX__LANES)
        rwkvx__vstore(p + j, rwkvx__vexp(rwkvx__vsub(rwkvx__vload(score + j), rwkvx__vset1(max))));
}

/* One tile of n <= 16 positions (keys K and values V, [n][64], f32 or f16)
   for one query: scores (four positions' lane sums at once), one rescale of
   the running output when the maximum grows, then the weighted values. The
   same tiles in the same order give the same numbers whichever batch the
   query is in. */
static void rwkvx__attend_tile(rwkvx__query *qr, const void *K, const void *V, int f16, int n) {
    enum { NV = RWKVX__HEAD / RWKVX__LANES, TILE = 16 };
    rwkvx__v qv[NV], acc[NV];
    float score[TILE], p[TILE], tile_max = -INFINITY;
    int c, j, u;
    memset(score, 0, sizeof score);
    for (c = 0; c < NV; c++) qv[c] = rwkvx__vmul(rwkvx__vload(qr->q + c * RWKVX__LANES), rwkvx__vset1(0.125f)); /* 1/sqrt(64) */
    for (j = 0; j < n; j += 4) {
        rwkvx__v d[4];
        for (u = 0; u < 4; u++) {
            size_t at = (size_t)(j + u < n ? j + u : n - 1) * RWKVX__HEAD;
            d[u] = rwkvx__vzero();
            for (c = 0; c < NV; c++) {
                rwkvx__v k = f16 ? rwkvx__vload_f16((const uint16_t *)K + at + c * RWKVX__LANES)
                                 : rwkvx__vload((const float *)K + at + c * RWKVX__LANES);
                d[u] = rwkvx__vfma(qv[c], k, d[u]);
            }
        }
        rwkvx__vsum4(d, score + j);
    }
    for (j = 0; j < n; j++)
        if (score[j] > tile_max) tile_max = score[j];
    for (c = 0; c < NV; c++) acc[c] = rwkvx__vload(qr->acc + c * RWKVX__LANES);
    if (tile_max > qr->max) {
        float scale = expf(qr->max - tile_max);
        for (c = 0; c < NV; c++) acc[c] = rwkvx__vmul(acc[c], rwkvx__vset1(scale));
        qr->sum *= scale;
        qr->max = tile_max;
    }
    rwkvx__softmax_weights(score, qr->max, p);
    for (j = 0; j < n; j++) {
        rwkvx__v pv = rwkvx__vset1(p[j]);
        size_t at = (size_t)j * RWKVX__HEAD;
        qr->sum += p[j];
        for (c = 0; c < NV; c++) {
            rwkvx__v v = f16 ? rwkvx__vload_f16((const uint16_t *)V + at + c * RWKVX__LANES)
                             : rwkvx__vload((const float *)V + at + c * RWKVX__LANES);
            acc[c] = rwkvx__vfma(pv, v, acc[c]);
        }
    }
    for (c = 0; c < NV; c++) rwkvx__vstore(qr->acc + c * RWKVX__LANES, acc[c]);
}

/* Queries g[0 .. n) whose spans all start at position `start` (each ends at
   its own g[i]->end) walk them together, 16 positions at a time: each tile
   of keys and values is read from memory once for the whole group. */
static void rwkvx__attend_group(const char *K, const char *V, size_t row_bytes, int f16, uint64_t start, rwkvx__query **g, int n) {
    uint64_t end = 0, a;
    int i;
    for (i = 0; i < n; i++)
        if (g[i]->end > end) end = g[i]->end;
    for (a = start; a < end; a += 16)
        for (i = 0; i < n; i++)
            if (g[i]->end > a)
                rwkvx__attend_tile(g[i], K + a * row_bytes, V + a * row_bytes, f16, g[i]->end - a < 16 ? (int)(g[i]->end - a) : 16);
}

/* a . b over one head (64 values): LANES partial sums, the halving tree */
static float rwkvx__dot64(const float *a, const float *b) {
    enum { NV = RWKVX__HEAD / RWKVX__LANES };
    rwkvx__v d[4];
    float out[4];
    int c;
    d[0] = rwkvx__vzero();
    for (c = 0; c < NV; c++) d[0] = rwkvx__vfma(rwkvx__vload(a + c * RWKVX__LANES), rwkvx__vload(b + c * RWKVX__LANES), d[0]);
    d[1] = d[2] = d[3] = d[0];
    rwkvx__vsum4(d, out);
    return out[0];
}

/* Picks the `want` complete chunks with the largest gates q . mean_j among
   chunks 0..c-1 (ties: the lower index), returned in increasing order. */
static int rwkvx__pick_chunks(const float *q, const float *means, size_t C, uint64_t c, uint64_t want, float *gate, int *picked) {
    uint64_t j;
    int n = 0, a, b;
    for (j = 0; j < c; j++) gate[j] = rwkvx__dot64(q, means + j * C);
    for (j = 0; j < c; j++) { /* insertion into the best-first list */
        int at = n;
        while (at > 0 && gate[picked[at - 1]] < gate[j]) at--;
        if ((uint64_t)at >= want) continue;
        if ((uint64_t)n < want) n++;
        for (a = n - 1; a > at; a--) picked[a] = picked[a - 1];
        picked[at] = (int)j;
    }
    for (a = 1; a < n; a++) /* increasing index: reads memory forward */
        for (b = a; b > 0 && picked[b - 1] > picked[b]; b--) {
            int tmp = picked[b];
            picked[b] = picked[b - 1];
            picked[b - 1] = tmp;
        }
    return n;
}

/* Attention of T queries q (rows of C, positions pos0 ..) for head h, into
   out (rows of C); their chunk selections are in sel_of (the state's
   n_sel and sel, rows from 0). A query attends its selected chunks in increasing order, then its own
   chunk up to itself, or, when every earlier chunk is selected, one span from
   position 0 (docs/MODEL.md 1.4); the queries sharing a span's start walk it
   together (rwkvx__attend_group). qs: room for T queries. */
static void rwkvx__attend_head(const rwkvx_model *m, const rwkvx__kv_cache *kv, const rwkvx__scratch *sel_of, const float *q,
                               float *out, int h, uint64_t pos0, int T, rwkvx__query *qs) {
    const rwkvx__scratch *s = sel_of;
    size_t C = (size_t)m->n_embd, B = (size_t)m->chunk_size, row = RWKVX__HEAD * rwkvx__kv_elem_bytes(m);
    const char *K = (const char *)kv->k[h], *V = (const char *)kv->v[h];
    rwkvx__query *g[RWKVX__BATCH];
    int cursor[RWKVX__BATCH], t, i, n;
    uint64_t j;
    for (t = 0; t < T; t++) {
        qs[t].q = q + (size_t)t * C + (size_t)h * RWKVX__HEAD;
        qs[t].acc = out + (size_t)t * C + (size_t)h * RWKVX__HEAD;
        qs[t].max = -INFINITY, qs[t].sum = 0;
        memset(qs[t].acc, 0, RWKVX__HEAD * sizeof(float));
        cursor[t] = 0;
    }
    for (n = 0, t = 0; t < T; t++) /* every earlier chunk selected: one span from 0 */
        if (s->n_sel[t * m->n_head + h] < 0) qs[t].end = pos0 + (uint64_t)t + 1, g[n++] = &qs[t];
    rwkvx__attend_group(K, V, row, m->kv_f16, 0, g, n);
    for (j = 0; j < (pos0 + (uint64_t)T - 1) / B; j++) { /* selected chunks, in increasing order */
        for (n = 0, t = 0; t < T; t++) {
            const int *sel = s->sel + ((size_t)t * m->n_head + h) * (size_t)s->sel_max;
            if (cursor[t] < s->n_sel[t * m->n_head + h] && (uint64_t)sel[cursor[t]] == j)
                cursor[t]++, qs[t].end = (j + 1) * B, g[n++] = &qs[t];
        }
        if (n) rwkvx__attend_group(K, V, row, m->kv_f16, j * B, g, n);
    }
    for (t = 0; t < T;) { /* own chunks, up to each query */
        uint64_t c = (pos0 + (uint64_t)t) / B;
        for (n = 0; t < T && (pos0 + (uint64_t)t) / B == c; t++)
            if (s->n_sel[t * m->n_head + h] >= 0) qs[t].end = pos0 + (uint64_t)t + 1, g[n++] = &qs[t];
        if (n) rwkvx__attend_group(K, V, row, m->kv_f16, c * B, g, n);
    }
    for (t = 0; t < T; t++)
        for (i = 0; i < RWKVX__HEAD; i++) qs[t].acc[i] /= qs[t].sum;
}

static void rwkvx__kv_remember_queries(const rwkvx_model *m, rwkvx__kv_cache *kv, uint64_t pos, const float *q, int T);

/* Each query's chunks, per head, for every row of the pass: into its own
   state's selection scratch (n_sel, sel, indexed by the row within its run). */
static void rwkvx__select_chunks(const rwkvx__pass *p, int j, int nt) {
    const rwkvx_model *m = p->m;
    const rwkvx__scratch *s = p->s;
    int C = m->n_embd, H = m->n_head, pair;
    RWKVX__PARALLEL_FOR(nt, static)
    for (pair = 0; pair < p->T * H; pair++) {
        int row = pair / H, h = pair % H, tid = rwkvx__thread_id();
        const rwkvx__seg *g = &p->seg[p->seg_of[row]];
        rwkvx_state *st = g->st;
        int local = (row - g->row) * H + h;
        size_t chunks = st->kv_capacity / (size_t)m->chunk_size + 1;
        uint64_t pos = st->kv_len + (uint64_t)(row - g->row), c = pos / (uint64_t)m->chunk_size, want = (uint64_t)m->chunk_topk - 1;
        int *picked = st->s.picked + (size_t)tid * chunks;
        if (want >= c) {
            st->s.n_sel[local] = -1;
        } else {
            st->s.n_sel[local] = rwkvx__pick_chunks(s->q + (size_t)row * C + (size_t)h * RWKVX__HEAD,
                                                    st->kv[j].chunk_mean + (size_t)h * RWKVX__HEAD, (size_t)C, c, want,
                                                    st->s.gates + (size_t)tid * chunks, picked);
            memcpy(st->s.sel + (size_t)local * (size_t)st->s.sel_max, picked, (size_t)st->s.n_sel[local] * sizeof(int));
        }
    }
}

/* The first half of a sparse block: x += Wo attention(q, k, v), all from
   xn = LN1(x) (no token shift), each query over its chosen chunks. */
static void rwkvx__sparse_attention(const rwkvx__pass *p, int j) {
    const rwkvx_model *m = p->m;
    const rwkvx__sparse_block *blk = &m->sparse[j];
    rwkvx__scratch *s = p->s;
    int C = m->n_embd, H = m->n_head, T = p->T, t, i, pair, nt_gate, nt_attend;
    uint64_t span = (uint64_t)m->chunk_topk * (uint64_t)m->chunk_size;
    double gate_work = 0, attend_work = 0;
    for (t = 0; t < T; t++)
        rwkvx__layer_norm(s->x + (size_t)t * C, s->xn + (size_t)t * C, blk->ln1_w, blk->ln1_b, C, m->ln_eps);
    {
        rwkvx__job qkv[3];
        qkv[0] = rwkvx__job_of(&blk->wq, s->xn, s->q);
        qkv[1] = rwkvx__job_of(&blk->wk, s->xn, s->k);
        qkv[2] = rwkvx__job_of(&blk->wv, s->xn, s->v);
        rwkvx__matmul_jobs(qkv, 3, T, &s->work, p->nt);
    }
    /* positions below are cache entries (kv_len): equal to token positions
       until the K/V limit evicts (chunks are then runs of kept entries) */
    for (i = 0; i < p->n_seg; i++) {
        const rwkvx__seg *g = &p->seg[i];
        rwkvx_state *st = g->st;
        uint64_t end = st->n_pos + (uint64_t)g->T;
        size_t o = (size_t)g->row * C;
        rwkvx__kv_append(m, &st->kv[j], st->kv_len, s->k + o, s->v + o, g->T);
        if (m->kv_max > 0) rwkvx__kv_remember_queries(m, &st->kv[j], st->n_pos, s->q + o, g->T);
        /* the parallel loops' work: gates (one 64-dot per complete chunk) and
           the attention (two 64-multiply-adds per attended position) */
        gate_work += (double)g->T * H * (double)(end / (uint64_t)m->chunk_size) * RWKVX__HEAD;
        attend_work += (double)g->T * H * (double)(end < span ? end : span) * 2 * RWKVX__HEAD;
    }
    nt_gate = rwkvx__par(p->nt, gate_work);
    nt_attend = rwkvx__par(p->nt, attend_work);
    rwkvx__select_chunks(p, j, nt_gate);
    RWKVX__PARALLEL_FOR(nt_attend, dynamic, 1)
    for (pair = 0; pair < p->n_seg * H; pair++) { /* (segment, head) */
        const rwkvx__seg *g = &p->seg[pair / H];
        rwkvx_state *st = g->st;
        size_t o = (size_t)g->row * C;
        rwkvx__attend_head(m, &st->kv[j], &st->s, s->q + o, s->att + o, pair % H, st->kv_len, g->T,
                           st->s.queries + (size_t)rwkvx__thread_id() * RWKVX__BATCH);
    }
    rwkvx__matmul(&blk->wo, s->att, C, s->out, C, T, &s->work, p->nt);
    for (t = 0; t < T * C; t++) s->x[t] += s->out[t];
}

/* ---------------------------------------------------------------------- */
/* Bounded K/V memory (opt-in: rwkvx_options.kv_max)                      */
/* ---------------------------------------------------------------------- */

/* The exact MoBA rule keeps every position: memory grows by 2*C values per
   token per sparse block. With kv_max > 0 a state evicts instead. The rule
   follows the released RWKV-X code (`update_kv_cache` in its pip package, a
   SnapKV-style vote; max 20000, keep 16000, window 2000 there):

   - When a token arrives and the cache holds kv_max entries, each head splits
     its entries into the past (all but the last W = kv_window) and the window.
     Each of the W queries of the window's tokens weighs every past key,
     softmax(q . k / 8) over the past alone; an entry's vote is the sum of its
     W weights. The kv_keep - W past entries with the most votes (ties: the
     later entry) stay, with the window: kv_keep entries per head remain.
   - Where we differ, and why. The kept entries stay in position order (the
     released code gathers them in vote order, which scrambles its chunks);
     chunk means are rebuilt from them, and chunks are runs of chunk_size kept
     entries, as the released decoder chunks its compacted cache. The vote
     uses the window's W queries, as its `kv_cache_window_size` ("observation
     window size") and SnapKV intend; the released decoder passes only the
     current query (and its prefill the layer-normed input, not a query). The
     cache holds at most kv_max entries (the released code lets it reach
     kv_max + 1 before it evicts).
   - Eviction happens only before a token that finds exactly kv_max entries,
     and rwkvx_eval ends its batches there, so a prompt evaluated whole, token
     by token or in pieces gives the same logits bit for bit; a saved state
     holds the window's queries and continues identically once restored.
   - Cost: W * (kv_max - W) key dot products per head at each eviction, one
     eviction every kv_max - kv_keep tokens; scratch is allocated with the
     state, so nothing allocates after the cache first fills. */

static int rwkvx__kv_limited(const rwkvx_model *m) { return m->kv_max > 0 && m->n_sparse > 0; }

/* Keeps the queries of tokens pos .. pos+T-1 (rows of C): token t in row t % W. */
static void rwkvx__kv_remember_queries(const rwkvx_model *m, rwkvx__kv_cache *kv, uint64_t pos, const float *q, int T) {
    size_t C = (size_t)m->n_embd;
    int t;
    for (t = 0; t < T; t++)
        memcpy(kv->recent_q + (size_t)((pos + (uint64_t)t) % (uint64_t)m->kv_window) * C, q + (size_t)t * C, C * sizeof(float));
}

/* Chunk means and the running sum of entries 0 .. len-1, added in the order
   and with the values rwkvx__kv_append adds, so they equal a replay's. */
static void rwkvx__kv_rebuild_means(const rwkvx_model *m, rwkvx__kv_cache *kv, uint64_t len) {
    size_t C = (size_t)m->n_embd, B = (size_t)m->chunk_size, i;
    float key[RWKVX__HEAD];
    uint64_t pos;
    int h;
    memset(kv->chunk_sum, 0, C * sizeof(float));
    for (pos = 0; pos < len; pos++) {
        for (h = 0; h < m->n_head; h++) {
            rwkvx__kv_row(m, kv->k[h], pos, key);
            for (i = 0; i < RWKVX__HEAD; i++) kv->chunk_sum[(size_t)h * RWKVX__HEAD + i] += key[i];
        }
        if ((pos + 1) % B == 0) {
            float *mean = kv->chunk_mean + (pos / B) * C;
            for (i = 0; i < C; i++) mean[i] = kv->chunk_sum[i] / (float)B;
            memset(kv->chunk_sum, 0, C * sizeof(float));
        }
    }
}

/* votes[i] for the P past entries of head h: the softmax weights the window's
   queries (tokens n_pos - W .. n_pos - 1) give entry i, summed. score: P floats. */
static void rwkvx__kv_votes(const rwkvx_model *m, const rwkvx__kv_cache *kv, int h, uint64_t n_pos, size_t P,
                            float *votes, float *score) {
    size_t C = (size_t)m->n_embd, W = (size_t)m->kv_window, w, i;
    float key[RWKVX__HEAD];
    memset(votes, 0, P * sizeof(float));
    for (w = 0; w < W; w++) {
        const float *q = kv->recent_q + (size_t)((n_pos - W + w) % W) * C + (size_t)h * RWKVX__HEAD;
        float max = -INFINITY, sum = 0;
        for (i = 0; i < P; i++) {
            rwkvx__kv_row(m, kv->k[h], i, key);
            score[i] = rwkvx__dot64(q, key) * 0.125f; /* 1/sqrt(64), as in attention */
            if (score[i] > max) max = score[i];
        }
        for (i = 0; i < P; i++) sum += (score[i] = expf(score[i] - max));
        for (i = 0; i < P; i++) votes[i] += score[i] / sum;
    }
}

/* Is entry a a better keep than entry b? More votes; ties: the later one. */
static int rwkvx__kv_better(const float *votes, int a, int b) {
    return votes[a] > votes[b] || (votes[a] == votes[b] && a > b);
}

/* kept[i] = 1 for the K of the P entries with the most votes: one pass with a
   heap of the K best so far, the worst of them at its root. */
static void rwkvx__kv_pick(const float *votes, size_t P, size_t K, int *heap, unsigned char *kept) {
    size_t n = 0, i, at, c;
    for (i = 0; i < P; i++) {
        if (n < K) { /* room left: sift the newcomer up past better parents */
            for (at = n++; at > 0 && rwkvx__kv_better(votes, heap[(at - 1) / 2], (int)i); at = (at - 1) / 2)
                heap[at] = heap[(at - 1) / 2];
            heap[at] = (int)i;
        } else if (rwkvx__kv_better(votes, (int)i, heap[0])) { /* replaces the worst: sift it down */
            for (at = 0; (c = 2 * at + 1) < K; at = c) {
                if (c + 1 < K && rwkvx__kv_better(votes, heap[c], heap[c + 1])) c++; /* the worse child */
                if (!rwkvx__kv_better(votes, (int)i, heap[c])) break;
                heap[at] = heap[c];
            }
            heap[at] = (int)i;
        }
    }
    memset(kept, 0, P);
    for (i = 0; i < n; i++) kept[heap[i]] = 1;
}

/* Moves head h's kept past entries, then its window (entries P .. len-1), to
   the front, in order. An entry only moves down, over one already moved. */
static void rwkvx__kv_compact(const rwkvx_model *m, rwkvx__kv_cache *kv, int h, size_t P, size_t len, const unsigned char *kept) {
    size_t row = RWKVX__HEAD * rwkvx__kv_elem_bytes(m), i, to = 0;
    char *K = (char *)kv->k[h], *V = (char *)kv->v[h];
    for (i = 0; i < len; i++)
        if (i >= P || kept[i]) {
            if (to != i) {
                memcpy(K + to * row, K + i * row, row);
                memcpy(V + to * row, V + i * row, row);
            }
            to++;
        }
}

/* Evicts every sparse block's cache, full at kv_max entries, down to kv_keep. */
static void rwkvx__kv_evict(rwkvx_state *st) {
    const rwkvx_model *m = st->model;
    size_t len = (size_t)st->kv_len, W = (size_t)m->kv_window, P = len - W, K = (size_t)m->kv_keep - W;
    int nt = rwkvx__threads(st), pair, j;
    RWKVX__PARALLEL_FOR(nt, dynamic, 1)
    for (pair = 0; pair < m->n_sparse * m->n_head; pair++) { /* (block, head): independent */
        int tid = rwkvx__thread_id(), h = pair % m->n_head;
        rwkvx__kv_cache *kv = &st->kv[pair / m->n_head];
        float *votes = st->evict_votes + (size_t)tid * 2 * (size_t)m->kv_max;
        unsigned char *kept = st->evict_kept + (size_t)tid * (size_t)m->kv_max;
        rwkvx__kv_votes(m, kv, h, st->n_pos, P, votes, votes + m->kv_max);
        rwkvx__kv_pick(votes, P, K, st->evict_heap + (size_t)tid * (size_t)m->kv_keep, kept);
        rwkvx__kv_compact(m, kv, h, P, len, kept);
    }
    for (j = 0; j < m->n_sparse; j++) rwkvx__kv_rebuild_means(m, &st->kv[j], (uint64_t)m->kv_keep);
    st->kv_len = (uint64_t)m->kv_keep;
}

/* ---------------------------------------------------------------------- */
/* Forward pass                                                           */
/* ---------------------------------------------------------------------- */

/* Logits of n rows of the pass, rows[i] into out + i * V. */
static void rwkvx__head(const rwkvx__pass *p, const int *rows, int n, float *out) {
    const rwkvx_model *m = p->m;
    int C = m->n_embd, i;
    for (i = 0; i < n; i++)
        rwkvx__layer_norm(p->s->x + (size_t)rows[i] * C, p->s->xn + (size_t)i * C, m->lnout_w, m->lnout_b, C, m->ln_eps);
    rwkvx__matmul(&m->head, p->s->xn, C, out, m->n_vocab, n, &p->s->work, p->nt);
}

/* Runs the pass's rows through every block and advances its states. */
static void rwkvx__forward(const rwkvx__pass *p) {
    const rwkvx_model *m = p->m;
    int C = m->n_embd, t, b;
    for (t = 0; t < p->T; t++) {
        float *x = p->s->x + (size_t)t * C;
        rwkvx__row_to_f32(&m->emb, p->token[t], 0, C, x);
        rwkvx__layer_norm(x, x, m->ln0_w, m->ln0_b, C, m->ln_eps);
    }
    for (b = 0; b < m->n_rwkv + m->n_sparse; b++) { /* each block: its attention half, then channel mix */
        int id = m->order[b];
        if (id >= 0) rwkvx__time_mix(p, id);
        else rwkvx__sparse_attention(p, -1 - id);
        rwkvx__channel_mix(p, id);
    }
    for (t = 0; t < p->n_seg; t++) {
        p->seg[t].st->n_pos += (uint64_t)p->seg[t].T;
        p->seg[t].st->kv_len += (uint64_t)p->seg[t].T;
    }
}

/* Checks one state's part of a call and makes room for its tokens (a failure
   changes nothing the state computes with). */
static rwkvx_status rwkvx__eval_check(rwkvx_state *st, const rwkvx_model *m, const int32_t *tokens, size_t n) {
    size_t i;
    uint64_t need;
    if (!st || st->model != m) return st ? RWKVX_ERR_MISMATCH : RWKVX_ERR_ARGUMENT;
    if (!tokens || n == 0 || st->batch_done) return RWKVX_ERR_ARGUMENT; /* batch_done: listed twice */
    for (i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->n_vocab) return RWKVX_ERR_ARGUMENT;
    if (st->n_pos + n < st->n_pos) return RWKVX_ERR_ARGUMENT;
    if (m->max_context > 0 && st->n_pos + n > (uint64_t)m->max_context) return RWKVX_ERR_CONTEXT;
    need = st->kv_len + n;
    if (rwkvx__kv_limited(m) && need > (uint64_t)m->kv_max) need = (uint64_t)m->kv_max;
    return rwkvx__kv_reserve(st, need);
}

/* Room in `st` for `rows` rows of logits of a pass shared by several states. */
static rwkvx_status rwkvx__stage_reserve(rwkvx_state *st, size_t rows) {
    float *p;
    int overflow = 0;
    size_t bytes = rwkvx__mul(rwkvx__mul(rows, (size_t)st->model->n_vocab, &overflow), sizeof(float), &overflow);
    if (rows <= st->stage_rows) return RWKVX_OK;
    if (overflow || !(p = (float *)RWKVX_REALLOC(st->stage, bytes))) return RWKVX_ERR_NOMEM;
    st->stage = p;
    st->stage_rows = rows;
    return RWKVX_OK;
}

/* The next pass: each state with tokens left gets as many rows as remain (in
   the order given), within RWKVX__BATCH rows. With the K/V limit a state's
   run stops at a full cache, which is evicted before the next pass, exactly
   as when it is evaluated alone. Returns the number of rows. */
static int rwkvx__plan_pass(rwkvx__pass *p, rwkvx_state *const *states, const int32_t *const *tokens, const size_t *counts,
                            size_t n) {
    const rwkvx_model *m = p->m;
    size_t i;
    p->n_seg = 0, p->T = 0;
    for (i = 0; i < n && p->T < RWKVX__BATCH; i++) {
        rwkvx_state *st = states[i];
        size_t left = counts[i] - (st->batch_done - 1), T = (size_t)(RWKVX__BATCH - p->T), t;
        rwkvx__seg *g = &p->seg[p->n_seg];
        if (left == 0) continue;
        if (rwkvx__kv_limited(m)) {
            if (st->kv_len == (uint64_t)m->kv_max) rwkvx__kv_evict(st);
            if (T > (uint64_t)m->kv_max - st->kv_len) T = (size_t)((uint64_t)m->kv_max - st->kv_len);
        }
        if (T > left) T = left;
        g->st = st, g->idx = i, g->row = p->T, g->T = (int)T;
        for (t = 0; t < T; t++) {
            p->seg_of[p->T + (int)t] = (unsigned char)p->n_seg;
            p->token[p->T + (int)t] = tokens[i][st->batch_done - 1 + t];
        }
        p->T += (int)T, p->n_seg++;
    }
    return p->T;
}

/* The logits a pass owes: every row's (RWKVX_EVAL_ALL_LOGITS) or the row of
   each state's last token. A pass of one state writes straight into its
   buffer; rows of several go through `stage` and are copied out. */
static void rwkvx__pass_logits(const rwkvx__pass *p, const size_t *counts, float *const *logits, int flags, float *stage) {
    size_t V = (size_t)p->m->n_vocab;
    int rows[RWKVX__BATCH], n = 0, i, t, all = flags & RWKVX_EVAL_ALL_LOGITS;
    if (!logits) return;
    for (i = 0; i < p->n_seg; i++) {
        const rwkvx__seg *g = &p->seg[i];
        size_t before = g->st->batch_done - 1; /* its tokens done before this pass */
        if (!logits[g->idx]) continue;
        if (all)
            for (t = 0; t < g->T; t++) rows[n++] = g->row + t;
        else if (before + (size_t)g->T == counts[g->idx])
            rows[n++] = g->row + g->T - 1;
    }
    if (n == 0) return;
    if (p->n_seg == 1) {
        const rwkvx__seg *g = &p->seg[0];
        rwkvx__head(p, rows, n, logits[g->idx] + (all ? (g->st->batch_done - 1) * V : 0));
        return;
    }
    rwkvx__head(p, rows, n, stage);
    for (n = 0, i = 0; i < p->n_seg; i++) {
        const rwkvx__seg *g = &p->seg[i];
        size_t before = g->st->batch_done - 1;
        if (!logits[g->idx]) continue;
        if (all) {
            memcpy(logits[g->idx] + before * V, stage + (size_t)n * V, (size_t)g->T * V * sizeof(float));
            n += g->T;
        } else if (before + (size_t)g->T == counts[g->idx]) {
            memcpy(logits[g->idx], stage + (size_t)n++ * V, V * sizeof(float));
        }
    }
}

/* Checks every state's part of a call and marks it (batch_done = 1: in this
   call, no token done yet); on failure unmarks them and changes nothing. */
static rwkvx_status rwkvx__batch_begin(rwkvx_state *const *states, const int32_t *const *tokens, const size_t *counts, size_t n,
                                       float *const *logits, int flags) {
    const rwkvx_model *m = states[0]->model;
    rwkvx_status s = RWKVX_OK;
    size_t i, total = 0, rows;
    for (i = 0; i < n && s == RWKVX_OK; i++)
        if ((s = rwkvx__eval_check(states[i], m, tokens[i], counts[i])) == RWKVX_OK) {
            states[i]->batch_done = 1;
            total += counts[i];
        }
    if (s == RWKVX_OK && n > 1 && logits) { /* the stage: up to a pass's rows of logits */
        rows = flags & RWKVX_EVAL_ALL_LOGITS ? total : n;
        s = rwkvx__stage_reserve(states[0], rows < RWKVX__BATCH ? rows : RWKVX__BATCH);
    }
    if (s != RWKVX_OK)
        while (i-- > 0) states[i]->batch_done = 0;
    return s;
}

RWKVX_API rwkvx_status rwkvx_eval_batch(rwkvx_state *const *states, const int32_t *const *tokens, const size_t *counts, size_t n,
                                        float *const *logits, int flags) {
    rwkvx__pass p;
    rwkvx_status s;
    size_t i;
    int k;
    if (!states || !tokens || !counts || n == 0 || !states[0]) return RWKVX_ERR_ARGUMENT;
    if ((s = rwkvx__batch_begin(states, tokens, counts, n, logits, flags)) != RWKVX_OK) return s;
    p.m = states[0]->model;
    p.s = &states[0]->s;
    while (rwkvx__plan_pass(&p, states, tokens, counts, n) > 0) {
        double start;
        p.nt = rwkvx__pass_threads(states, n, p.T);
        start = rwkvx__seconds();
        rwkvx__forward(&p);
        rwkvx__pass_logits(&p, counts, logits, flags, states[0]->stage);
        if (states[0]->n_threads <= 0) rwkvx__tune_learn(states[0], p.T, p.nt, rwkvx__seconds() - start);
        for (k = 0; k < p.n_seg; k++) p.seg[k].st->batch_done += (size_t)p.seg[k].T;
    }
    for (i = 0; i < n; i++) states[i]->batch_done = 0;
    return RWKVX_OK;
}

RWKVX_API rwkvx_status rwkvx_eval(rwkvx_state *st, const int32_t *tokens, size_t n, float *logits, int flags) {
    return rwkvx_eval_batch(&st, &tokens, &n, 1, &logits, flags);
}

/* ---------------------------------------------------------------------- */
/* Weight types: one table                                                */
/* ---------------------------------------------------------------------- */

/* Every weight type is one row of RWKVX__TYPES: ggml's number and name, the
   values of one block and its bytes, and where its f16 scales lie (for the
   non-finite count). Values of a row are made only by the type's group
   loader rwkvx__group_<name> ("Weight types: dequantization" below), which
   turns 32 consecutive values into f32 exactly as ggml's reference
   dequantize_row_* does: the decode kernel calls it inlined, and
   rwkvx__to_f32_<name> (prefill panels, the embedding) stores what it gives,
   so decode and prefill see the same f32 weights. A new type is a row here
   plus its group loader.

   X(TYPE, name, ggml's name, values per block, bytes per block,
     offset of the first f16 scale, number of consecutive f16 scales) */
#define RWKVX__TYPES(X)                                  \
    X(F32, f32, "f32", 1, 4, 0, 0)                       \
    X(F16, f16, "f16", 1, 2, 0, 0)                       \
    X(BF16, bf16, "bf16", 1, 2, 0, 0)                    \
    X(Q4_0, q4_0, "q4_0", 32, 18, 0, 1)                  \
    X(Q4_1, q4_1, "q4_1", 32, 20, 0, 2)                  \
    X(Q5_0, q5_0, "q5_0", 32, 22, 0, 1)                  \
    X(Q5_1, q5_1, "q5_1", 32, 24, 0, 2)                  \
    X(Q8_0, q8_0, "q8_0", 32, 34, 0, 1)                  \
    X(Q2_K, q2_k, "q2_K", 256, 84, 80, 2)                \
    X(Q3_K, q3_k, "q3_K", 256, 110, 108, 1)              \
    X(Q4_K, q4_k, "q4_K", 256, 144, 0, 2)                \
    X(Q5_K, q5_k, "q5_K", 256, 176, 0, 2)                \
    X(Q6_K, q6_k, "q6_K", 256, 210, 208, 1)              \
    X(IQ4_NL, iq4_nl, "iq4_nl", 32, 18, 0, 1)            \
    X(IQ4_XS, iq4_xs, "iq4_xs", 256, 136, 0, 1)

/* n values of a row from column i0 as f32 (i0 a multiple of 32; n too, or
   the row's end for a type of 1-value blocks) */
typedef void (*rwkvx__to_f32_fn)(const unsigned char *row, int64_t i0, int64_t n, float *out);

typedef struct {
    const char *name;
    int block;                   /* values per block (1: a plain float type) */
    int bytes;                   /* bytes per block */
    int scale_off, n_scales;     /* f16 scales of a block: any one NaN or
                                    infinite makes all its values so */
    rwkvx__to_f32_fn to_f32;
} rwkvx__type_row;

#define RWKVX__DECLARE_TO_F32(T, t, name, block, bytes, so, ns) \
    static void rwkvx__to_f32_##t(const unsigned char *row, int64_t i0, int64_t n, float *out);
RWKVX__TYPES(RWKVX__DECLARE_TO_F32)

/* The row of ggml type number `type`, or NULL for a type not read here. */
static const rwkvx__type_row *rwkvx__type_of(uint32_t type) {
#define RWKVX__TYPE_CASE(T, t, name, block, bytes, so, ns) \
    case RWKVX_TYPE_##T: { static const rwkvx__type_row r = {name, block, bytes, so, ns, rwkvx__to_f32_##t}; return &r; }
    switch (type) {
        RWKVX__TYPES(RWKVX__TYPE_CASE)
    }
    return NULL;
}

RWKVX_API const char *rwkvx_type_name(int type) {
    const rwkvx__type_row *t = type < 0 ? NULL : rwkvx__type_of((uint32_t)type);
    return t ? t->name : NULL;
}

/* Bytes of a matrix's data, and its bytes per row (in the matrix's own type). */
static size_t rwkvx__row_bytes(const rwkvx__mat *w) {
    const rwkvx__type_row *t = rwkvx__type_of(w->type);
    return t ? (size_t)w->cols / (size_t)t->block * (size_t)t->bytes : 0;
}
static size_t rwkvx__mat_bytes(const rwkvx__mat *w) { return rwkvx__row_bytes(w) * (size_t)w->rows; }

/* ---- Weight types: dequantization ----
   rwkvx__group_<name>(b, sub, w): the 32 values of group `sub` of the block
   at b (a block of 256 has 8 groups; one of 32 is its group 0; a plain type's
   "block" is a run of 32 values) in w[0 .. RWKVX__NG), each an f32 equal bit for bit to what ggml's
   dequantize_row_<name> writes (the formulas below are ggml's, in its order
   of operations; every product in them is exact in f32, so the one rounding
   is that of an added minimum, which a fused multiply-add rounds the same).
   Every byte read lies in the block at b, whatever its contents:
   a hostile block only gives wrong weights (NaN counted at load). */
#define RWKVX__NG (32 / RWKVX__LANES)      /* vectors per group of 32 values */

RWKVX__INLINE float rwkvx__f16_at(const unsigned char *p) {
    uint16_t h;
    memcpy(&h, p, 2);
#if defined(RWKVX__AVX2)
    return _cvtsh_ss(h);
#else
    return rwkvx__f16_to_f32(h);
#endif
}

/* IQ4_NL's and IQ4_XS's 16 levels (ggml's kvalues_iq4nl) */
static const float rwkvx__iq4_levels[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

/* The 16 values a 4-bit code q stands for in one group ("levels"), made in
   one of three ways, each the very operation ggml applies to every value:
   (q + offset) * d, q * a + c (a fused multiply-add: the types whose product
   q * a is exact), or d * table[q]. AVX-512 holds the 16 levels in a register
   and a lookup is one permute (the bit field of a byte needs no mask: the
   permute reads the low 4 bits); elsewhere a lookup computes the level. */
enum { RWKVX__LEV_MUL, RWKVX__LEV_FMA, RWKVX__LEV_TABLE };
#if defined(RWKVX__AVX512)
typedef __m512 rwkvx__lev;
RWKVX__INLINE rwkvx__lev rwkvx__lev_make(int kind, int offset, float a, float c, const float *table) {
    __m512 q = _mm512_cvtepi32_ps(_mm512_add_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                                   _mm512_set1_epi32(kind == RWKVX__LEV_MUL ? offset : 0)));
    if (kind == RWKVX__LEV_MUL) return _mm512_mul_ps(q, _mm512_set1_ps(a));
    if (kind == RWKVX__LEV_FMA) return _mm512_fmadd_ps(q, _mm512_set1_ps(a), _mm512_set1_ps(c));
    return _mm512_mul_ps(_mm512_set1_ps(a), _mm512_loadu_ps(table));
}
RWKVX__INLINE rwkvx__v rwkvx__lev_nibble(rwkvx__lev lev, int kind, rwkvx__vi bytes, int shift) {
    (void)kind;
    return _mm512_permutexvar_ps(_mm512_srl_epi32(bytes, _mm_cvtsi32_si128(shift)), lev);
}
#else
typedef struct { rwkvx__v a, c; rwkvx__vi offset; const float *table; } rwkvx__lev;
RWKVX__INLINE rwkvx__lev rwkvx__lev_make(int kind, int offset, float a, float c, const float *table) {
    rwkvx__lev lev;
    lev.a = rwkvx__vset1(a), lev.c = rwkvx__vset1(c), lev.offset = rwkvx__vi_set1(offset), lev.table = table;
    (void)kind;
    return lev;
}
RWKVX__INLINE rwkvx__v rwkvx__lev_nibble(rwkvx__lev lev, int kind, rwkvx__vi bytes, int shift) {
    rwkvx__vi q = rwkvx__vi_field(bytes, shift, 4);
    if (kind == RWKVX__LEV_MUL) return rwkvx__vmul(rwkvx__vi_float(rwkvx__vi_add(q, lev.offset)), lev.a);
    if (kind == RWKVX__LEV_FMA) return rwkvx__vfma(rwkvx__vi_float(q), lev.a, lev.c);
    return rwkvx__vmul(lev.a, rwkvx__vlookup16(lev.table, q));
}
#endif

/* Lane k of a group whose 32 values are the low then the high nibbles of 16
   bytes at q, through the group's levels */
RWKVX__INLINE rwkvx__v rwkvx__nibbles16(rwkvx__lev lev, int kind, const unsigned char *q, int k) {
    int j = k * RWKVX__LANES;
    return rwkvx__lev_nibble(lev, kind, rwkvx__vi_u8(q + j % 16), j / 16 * 4);
}

RWKVX__INLINE void rwkvx__group_f32(const unsigned char *b, int sub, rwkvx__v *w) {
    const float *p = (const float *)(const void *)b;
    int k;
    (void)sub;
    RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++) w[k] = rwkvx__vload(p + k * RWKVX__LANES);
}

RWKVX__INLINE void rwkvx__group_f16(const unsigned char *b, int sub, rwkvx__v *w) {
    const uint16_t *p = (const uint16_t *)(const void *)b;
    int k;
    (void)sub;
    RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++) w[k] = rwkvx__vload_f16(p + k * RWKVX__LANES);
}

RWKVX__INLINE void rwkvx__group_bf16(const unsigned char *b, int sub, rwkvx__v *w) {
    const uint16_t *p = (const uint16_t *)(const void *)b;
    int k;
    (void)sub;
    RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++) w[k] = rwkvx__vload_bf16(p + k * RWKVX__LANES);
}

/* Q8_0 {f16 d; int8 q[32]}: d * q */
RWKVX__INLINE void rwkvx__group_q8_0(const unsigned char *b, int sub, rwkvx__v *w) {
    uint16_t dh;
    int k;
    (void)sub;
    memcpy(&dh, b, 2);
    RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++) w[k] = rwkvx__vload_q8((const signed char *)(b + 2) + k * RWKVX__LANES, dh);
}

/* Q4_0 {f16 d; u8 qs[16]}: (q - 8) * d, q the low nibbles then the high ones */
RWKVX__INLINE void rwkvx__group_q4_0(const unsigned char *b, int sub, rwkvx__v *w) {
    rwkvx__lev lev = rwkvx__lev_make(RWKVX__LEV_MUL, -8, rwkvx__f16_at(b), 0, NULL);
    int k;
    (void)sub;
    RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++) w[k] = rwkvx__nibbles16(lev, RWKVX__LEV_MUL, b + 2, k);
}

/* Q4_1 {f16 d, m; u8 qs[16]}: q * d + m */
RWKVX__INLINE void rwkvx__group_q4_1(const unsigned char *b, int sub, rwkvx__v *w) {
    rwkvx__lev lev = rwkvx__lev_make(RWKVX__LEV_FMA, 0, rwkvx__f16_at(b), rwkvx__f16_at(b + 2), NULL);
    int k;
    (void)sub;
    RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++) w[k] = rwkvx__nibbles16(lev, RWKVX__LEV_FMA, b + 4, k);
}

/* the 5-bit values of Q5_0 / Q5_1: nibble + 16 x bit v of the 32-bit qh for value v */
RWKVX__INLINE rwkvx__vi rwkvx__q5(const unsigned char *qh, const unsigned char *qs, int k) {
    uint32_t h;
    memcpy(&h, qh, 4);
    int j = k * RWKVX__LANES;
    return rwkvx__vi_add(rwkvx__vi_field(rwkvx__vi_u8(qs + j % 16), j / 16 * 4, 4), rwkvx__vi_shl(rwkvx__vi_bits(h, j), 4));
}

/* Q5_0 {f16 d; u8 qh[4]; u8 qs[16]}: (q - 16) * d */
RWKVX__INLINE void rwkvx__group_q5_0(const unsigned char *b, int sub, rwkvx__v *w) {
    rwkvx__v d = rwkvx__vset1(rwkvx__f16_at(b));
    int k;
    (void)sub;
    RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++)
        w[k] = rwkvx__vmul(rwkvx__vi_float(rwkvx__vi_add(rwkvx__q5(b + 2, b + 6, k), rwkvx__vi_set1(-16))), d);
}

/* Q5_1 {f16 d, m; u8 qh[4]; u8 qs[16]}: q * d + m */
RWKVX__INLINE void rwkvx__group_q5_1(const unsigned char *b, int sub, rwkvx__v *w) {
    rwkvx__v d = rwkvx__vset1(rwkvx__f16_at(b)), m = rwkvx__vset1(rwkvx__f16_at(b + 2));
    int k;
    (void)sub;
    RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++) w[k] = rwkvx__vfma(rwkvx__vi_float(rwkvx__q5(b + 4, b + 8, k)), d, m);
}

/* IQ4_NL {f16 d; u8 qs[16]}: d * level[q] */
RWKVX__INLINE void rwkvx__group_iq4_nl(const unsigned char *b, int sub, rwkvx__v *w) {
    rwkvx__lev lev = rwkvx__lev_make(RWKVX__LEV_TABLE, 0, rwkvx__f16_at(b), 0, rwkvx__iq4_levels);
    int k;
    (void)sub;
    RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++) w[k] = rwkvx__nibbles16(lev, RWKVX__LEV_TABLE, b + 2, k);
}

/* The K types: super-blocks of 256 values in 8 groups of 32; LANES <= 16
   values share one sub-block scale. */

/* Q2_K {u8 scales[16]; u8 qs[64]; f16 d, dmin}: value 128 n + 32 j + l is
   bits 2j of qs[32 n + l], scaled by scales[8 n + 2 j + l / 16] = (s, m)
   (low and high nibble): (d * s) * q - dmin * m */
RWKVX__INLINE void rwkvx__group_q2_k(const unsigned char *b, int sub, rwkvx__v *w) {
    int n = sub / 4, j = sub % 4, k;
    float d = rwkvx__f16_at(b + 80), dmin = rwkvx__f16_at(b + 82);
    RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++) {
        int l = k * RWKVX__LANES, sc = b[8 * n + 2 * j + l / 16];
        rwkvx__v q = rwkvx__vi_float(rwkvx__vi_field(rwkvx__vi_u8(b + 16 + 32 * n + l), 2 * j, 2));
        w[k] = rwkvx__vfma(rwkvx__vset1(d * (float)(sc & 15)), q, rwkvx__vset1(-(dmin * (float)(sc >> 4))));
    }
}

/* Q3_K's 16 six-bit scales packed in 12 bytes (ggml's kmask shuffle, by index) */
RWKVX__INLINE int rwkvx__q3_k_scale(const unsigned char *s, int i) {
    return (((s[i % 8] >> (4 * (i / 8))) & 15) | (((s[8 + i % 4] >> (2 * (i / 4))) & 3) << 4)) - 32;
}

/* Q3_K {u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d}: value 128 n + 32 j + l
   is bits 2j of qs[32 n + l] plus 4 x bit 4n + j of hmask[l], minus 4, times
   d * scale(8 n + 2 j + l / 16) */
RWKVX__INLINE void rwkvx__group_q3_k(const unsigned char *b, int sub, rwkvx__v *w) {
    int n = sub / 4, j = sub % 4, k;
    float d = rwkvx__f16_at(b + 108);
    RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++) {
        int l = k * RWKVX__LANES;
        rwkvx__vi lo = rwkvx__vi_field(rwkvx__vi_u8(b + 32 + 32 * n + l), 2 * j, 2);
        rwkvx__vi hi = rwkvx__vi_shl(rwkvx__vi_field(rwkvx__vi_u8(b + l), 4 * n + j, 1), 2);
        rwkvx__v q = rwkvx__vi_float(rwkvx__vi_add(rwkvx__vi_add(lo, hi), rwkvx__vi_set1(-4)));
        w[k] = rwkvx__vmul(rwkvx__vset1(d * (float)rwkvx__q3_k_scale(b + 96, 8 * n + 2 * j + l / 16)), q);
    }
}

/* Q4_K's and Q5_K's scale and minimum of sub-block j (ggml's get_scale_min_k4) */
RWKVX__INLINE void rwkvx__k4_scale_min(const unsigned char *s, int j, float d, float dmin, float *scale, float *min) {
    int sc, m;
    if (j < 4) sc = s[j] & 63, m = s[j + 4] & 63;
    else sc = (s[j + 4] & 15) | ((s[j - 4] >> 6) << 4), m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    *scale = d * (float)sc;
    *min = dmin * (float)m;
}

/* Q4_K {f16 d, dmin; u8 scales[12]; u8 qs[128]}: group 2c + h is nibble h of
   qs[32 c ..], times its scale minus its minimum */
RWKVX__INLINE void rwkvx__group_q4_k(const unsigned char *b, int sub, rwkvx__v *w) {
    int k;
    float scale, min;
    rwkvx__lev lev;
    rwkvx__k4_scale_min(b + 4, sub, rwkvx__f16_at(b), rwkvx__f16_at(b + 2), &scale, &min);
    lev = rwkvx__lev_make(RWKVX__LEV_FMA, 0, scale, -min, NULL);
    RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++)
        w[k] = rwkvx__lev_nibble(lev, RWKVX__LEV_FMA, rwkvx__vi_u8(b + 16 + 32 * (sub / 2) + k * RWKVX__LANES), 4 * (sub % 2));
}

/* Q5_K {f16 d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]}: Q4_K's nibbles
   plus 16 x bit `sub` of qh[l] */
RWKVX__INLINE void rwkvx__group_q5_k(const unsigned char *b, int sub, rwkvx__v *w) {
    int k;
    float scale, min;
    rwkvx__v vs, vm;
    rwkvx__k4_scale_min(b + 4, sub, rwkvx__f16_at(b), rwkvx__f16_at(b + 2), &scale, &min);
    vs = rwkvx__vset1(scale), vm = rwkvx__vset1(-min);
    RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++) {
        int l = k * RWKVX__LANES;
        rwkvx__vi lo = rwkvx__vi_field(rwkvx__vi_u8(b + 48 + 32 * (sub / 2) + l), 4 * (sub % 2), 4);
        rwkvx__vi hi = rwkvx__vi_shl(rwkvx__vi_field(rwkvx__vi_u8(b + 16 + l), sub, 1), 4);
        w[k] = rwkvx__vfma(vs, rwkvx__vi_float(rwkvx__vi_add(lo, hi)), vm);
    }
}

/* Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}: value 128 n + 32 j + l
   is nibble j / 2 of ql[64 n + 32 (j % 2) + l] plus 16 x bits 2j of
   qh[32 n + l], minus 32, times (d * scales[8 n + 2 j + l / 16]) */
RWKVX__INLINE void rwkvx__group_q6_k(const unsigned char *b, int sub, rwkvx__v *w) {
    int n = sub / 4, j = sub % 4, k;
    float d = rwkvx__f16_at(b + 208);
    RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++) {
        int l = k * RWKVX__LANES;
        rwkvx__vi lo = rwkvx__vi_field(rwkvx__vi_u8(b + 64 * n + 32 * (j % 2) + l), 4 * (j / 2), 4);
        rwkvx__vi hi = rwkvx__vi_shl(rwkvx__vi_field(rwkvx__vi_u8(b + 128 + 32 * n + l), 2 * j, 2), 4);
        rwkvx__v q = rwkvx__vi_float(rwkvx__vi_add(rwkvx__vi_add(lo, hi), rwkvx__vi_set1(-32)));
        w[k] = rwkvx__vmul(rwkvx__vset1(d * (float)(signed char)b[192 + 8 * n + 2 * j + l / 16]), q);
    }
}

/* IQ4_XS {f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128]}: group i is
   (d * (s_i - 32)) * level[q], s_i six bits from scales_l and scales_h */
RWKVX__INLINE void rwkvx__group_iq4_xs(const unsigned char *b, int i, rwkvx__v *w) {
    int k, s;
    uint16_t sh;
    rwkvx__lev lev;
    memcpy(&sh, b + 2, 2);
    s = ((b[4 + i / 2] >> (4 * (i % 2))) & 15) | (((sh >> (2 * i)) & 3) << 4);
    lev = rwkvx__lev_make(RWKVX__LEV_TABLE, 0, rwkvx__f16_at(b) * (float)(s - 32), 0, rwkvx__iq4_levels);
    RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++) w[k] = rwkvx__nibbles16(lev, RWKVX__LEV_TABLE, b + 8 + 16 * i, k);
}

/* The group loader of `type`, and the bytes and groups of one of its blocks
   (a plain type: a run of 32 values, one group); `type` is a constant after
   inlining, so the switches go. */
RWKVX__INLINE void rwkvx__group(const unsigned char *b, rwkvx_type type, int sub, rwkvx__v *w) {
#define RWKVX__GROUP_CASE(T, t, name, block, bytes, so, ns) \
    case RWKVX_TYPE_##T: rwkvx__group_##t(b, sub, w); return;
    switch (type) {
        RWKVX__TYPES(RWKVX__GROUP_CASE)
    }
    rwkvx__group_f32(b, sub, w);
}
RWKVX__INLINE size_t rwkvx__span_bytes(rwkvx_type type) {
#define RWKVX__SPAN_CASE(T, t, name, block, bytes, so, ns) \
    case RWKVX_TYPE_##T: return block == 1 ? 32 * bytes : bytes;
    switch (type) {
        RWKVX__TYPES(RWKVX__SPAN_CASE)
    }
    return 128;
}
RWKVX__INLINE size_t rwkvx__bytes_of_row(rwkvx_type type, int64_t cols) { /* rwkvx__row_bytes, folded */
#define RWKVX__ROW_CASE(T, t, name, block, bytes, so, ns) \
    case RWKVX_TYPE_##T: return (size_t)cols / block * bytes;
    switch (type) {
        RWKVX__TYPES(RWKVX__ROW_CASE)
    }
    return (size_t)cols * 4;
}
RWKVX__INLINE int rwkvx__span_groups(rwkvx_type type) {
#define RWKVX__GROUPS_CASE(T, t, name, block, bytes, so, ns) \
    case RWKVX_TYPE_##T: return block == 1 ? 1 : block / 32;
    switch (type) {
        RWKVX__TYPES(RWKVX__GROUPS_CASE)
    }
    return 1;
}

/* Whether `type` is a plain one (1-value blocks: f32, f16, bf16), and vector
   k of a run of 32 of its values */
RWKVX__INLINE int rwkvx__plain(rwkvx_type type) {
    return type == RWKVX_TYPE_F32 || type == RWKVX_TYPE_F16 || type == RWKVX_TYPE_BF16;
}
RWKVX__INLINE rwkvx__v rwkvx__plain_vector(const unsigned char *b, rwkvx_type type, int k) {
    if (type == RWKVX_TYPE_F16) return rwkvx__vload_f16((const uint16_t *)(const void *)b + k * RWKVX__LANES);
    if (type == RWKVX_TYPE_BF16) return rwkvx__vload_bf16((const uint16_t *)(const void *)b + k * RWKVX__LANES);
    return rwkvx__vload((const float *)(const void *)b + k * RWKVX__LANES);
}

/* A plain type's value at column i (the tail of a row not a multiple of 32) */
static float rwkvx__plain_at(const unsigned char *row, rwkvx_type type, int64_t i) {
    uint16_t h;
    float f;
    if (type == RWKVX_TYPE_F32) { memcpy(&f, row + 4 * i, 4); return f; }
    memcpy(&h, row + 2 * i, 2);
    return type == RWKVX_TYPE_BF16 ? rwkvx__bf16_to_f32(h) : rwkvx__f16_to_f32(h);
}

/* rwkvx__to_f32_<name>: the groups' values stored (one instance per type) */
RWKVX__INLINE void rwkvx__groups_to_f32(const unsigned char *row, rwkvx_type type, int64_t i0, int64_t n, float *out) {
    rwkvx__v w[RWKVX__NG];
    int64_t i = 0;
    int k;
    for (; i + 32 <= n; i += 32) {
        int64_t g = (i0 + i) / 32;
        rwkvx__group(row + (size_t)(g / rwkvx__span_groups(type)) * rwkvx__span_bytes(type), type,
                     (int)(g % rwkvx__span_groups(type)), w);
        RWKVX__UNROLL for (k = 0; k < RWKVX__NG; k++) rwkvx__vstore(out + i + k * RWKVX__LANES, w[k]);
    }
    for (; i < n; i++) out[i] = rwkvx__plain_at(row, type, i0 + i); /* plain types only */
}
#define RWKVX__DEFINE_TO_F32(T, t, name, block, bytes, so, ns)                                  \
    static void rwkvx__to_f32_##t(const unsigned char *row, int64_t i0, int64_t n, float *out) { \
        rwkvx__groups_to_f32(row, RWKVX_TYPE_##T, i0, n, out);                                 \
    }
RWKVX__TYPES(RWKVX__DEFINE_TO_F32)

/* Converts n weights of row `row`, starting at column i0, to f32: the values
   the decode kernel's group loader gives. i0 is a multiple of 32, and so is n
   unless it runs to the end of a row of a plain type (the loader checked that
   rows are whole blocks). */
static void rwkvx__row_to_f32(const rwkvx__mat *w, int64_t row, int64_t i0, int64_t n, float *out) {
    const unsigned char *p = (const unsigned char *)w->data + (size_t)row * rwkvx__row_bytes(w);
    rwkvx__type_of(w->type)->to_f32(p, i0, n, out);
}

/* f32 to f16, rounding to nearest even (as the F16C and NEON instructions
   do): the storage type of f16 keys and values. */
static uint16_t rwkvx__f32_to_f16(float f) {
    uint32_t x, sign, e, m;
    memcpy(&x, &f, 4);
    sign = (x >> 16) & 0x8000u;
    e = (x >> 23) & 0xffu;
    m = x & 0x7fffffu;
    if (e == 0xff) return (uint16_t)(sign | 0x7c00u | (m ? 0x200u : 0u));   /* inf, nan */
    if (e > 142) return (uint16_t)(sign | 0x7c00u);                         /* 2^16 and more: inf */
    if (e < 113) {                                       /* below 2^-14: a multiple of 2^-24 */
        uint32_t shift = 126 - e, q, rem, half;
        if (e < 102) return (uint16_t)sign;              /* below 2^-25: zero */
        m |= 0x800000u;                                  /* value = m 2^(e-150) = (m >> shift) 2^-24 */
        q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1))) q++;
        return (uint16_t)(sign | q);
    } else {                                             /* normal; a carry may round up to inf */
        uint32_t h = ((e - 112) << 10) | (m >> 13), rem = m & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
}

static void rwkvx__f32_to_f16_row(const float *x, uint16_t *out, int n) {
    int i = 0;
    for (; i + RWKVX__LANES <= n; i += RWKVX__LANES) rwkvx__vstore_f16(out + i, rwkvx__vload(x + i));
    for (; i < n; i++) out[i] = rwkvx__f32_to_f16(x[i]);
}

/* ---------------------------------------------------------------------- */
/* Matrix kernels                                                         */
/* ---------------------------------------------------------------------- */

/* The matrix product Y[t][o] = sum_i W[o][i] X[t][i] is nearly all the work.
   Decode (T = 1) reads every weight once per token and is bound by memory
   bandwidth; prefill (T up to RWKVX__BATCH tokens) is bound by arithmetic.
   One routine serves both. Weight rows go in blocks of RWKVX__ROWS: a block's
   weights are converted to f32 once per slice of about RWKVX__KC columns (the
   "panel", which stays in L1 cache next to the matching slice of inputs), and
   a register-blocked microkernel multiplies the panel with RWKVX__UT tokens
   at a time, so each weight is read from memory once per batch of tokens.
   OpenMP hands row blocks to threads.

   Prefill, decode and any thread count agree bit for bit because every kernel
   variant follows one rule: output (t, o) keeps RWKVX__LANES partial sums,
   lane l adds W[o][i] * X[t][i] over the columns i = l (mod LANES) in
   increasing i (one fused multiply-add each in the SIMD kernels), and the
   lanes are added in a fixed tree at the end; one thread computes each
   output. Slicing only pauses a sum, padding adds exact zeros. */

#define RWKVX__ROWS 4                  /* weight rows per block */
#define RWKVX__KC 768                  /* columns per slice, about (see rwkvx__row_block) */
#define RWKVX__PANEL (RWKVX__KC + 32)  /* floats per panel row: a slice has < KC + 32 columns */
#ifndef RWKVX__DECODE_AHEAD
#define RWKVX__DECODE_AHEAD 2          /* decode prefetches the row block this many blocks ahead */
#endif
/* The weights asked for ahead go into the L2 cache only (prefetcht2, the
   locality hint 1): asked into L1, they filled L1's few miss buffers, and the
   loads of the products waited behind them. Into L2, one core streamed f16
   decode 1.3-1.6x faster from memory (10-13 -> 16-19 GB/s; the 1.5B shape's
   decode at 2 threads 6.3 -> 9.6 tok/s) and 4 tokens at once 2x faster;
   Q8_0 and the K types gain less (1.5B shape, 2 threads: q6_K 17 -> 21,
   q4_K 20-22 -> 21-25 tok/s; measured, Zen 4). */
#define RWKVX__AHEAD_LOCALITY 1

/* RWKVX__IN_REGISTER(v): load v once into a register rather than letting
   the compiler fold the load into each of its uses (loads limit the
   microkernel otherwise). */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(RWKVX__AVX2) || defined(RWKVX__AVX512))
#define RWKVX__IN_REGISTER(v) __asm__("" : "+v"(v))
#else
#define RWKVX__IN_REGISTER(v) (void)0
#endif

/* Floats of scratch one thread needs, for matrices of up to max_cols
   columns: a prefill's panel of slices and the partial sums of a block of
   rows for every token of a batch, or a decode's panel of whole rows, or
   the quantized inputs of an integer product (40 bytes per 32 values of
   every token of a batch, or 292 per 256; see "Integer products"). */
static size_t rwkvx__work_floats(size_t max_cols) {
    size_t prefill = RWKVX__ROWS * RWKVX__PANEL + (RWKVX__BATCH + RWKVX__UT) * RWKVX__ROWS * RWKVX__LANES;
    size_t decode = RWKVX__ROWS * ((max_cols + 15) / 16 * 16);
    size_t quantized = RWKVX__BATCH * (max_cols / 32) * 10, most = prefill > decode ? prefill : decode; /* rwkvx__q8x */
    size_t quantized_k = RWKVX__BATCH * (max_cols / 256) * 73 + 8192;                                   /* rwkvx__q8k, panel */
    if (quantized_k > quantized) quantized = quantized_k;
    return ((most > quantized ? most : quantized) + 15) / 16 * 16;
}

/* The microkernel: acc[u][r] (LANES partial sums each) += panel row r times
   input row x[u], over n columns, for r < RWKVX__ROWS and u < U. Panel rows
   are `ps` floats apart and zero from n up to a multiple of LANES; inputs are
   read below n only. `fresh` starts the sums at zero instead of loading acc;
   with `sums`, the last slice's sums are finished there ([u][r]) instead of
   stored to acc. Inlined with U constant, the sums live in registers. */
RWKVX__INLINE void rwkvx__micro(const float *panel, int64_t ps, int64_t n, const float *const *x, int U, float *acc, int fresh,
                                float *sums) {
    rwkvx__v s[RWKVX__UT][RWKVX__ROWS], w[RWKVX__ROWS], xv;
    int64_t i, full = n / RWKVX__LANES * RWKVX__LANES;
    int u, r;
    RWKVX__UNROLL for (u = 0; u < U; u++)
        RWKVX__UNROLL for (r = 0; r < RWKVX__ROWS; r++)
            s[u][r] = fresh ? rwkvx__vzero() : rwkvx__vload(acc + (u * RWKVX__ROWS + r) * RWKVX__LANES);
    for (i = 0; i < full; i += RWKVX__LANES) {
        RWKVX__UNROLL for (r = 0; r < RWKVX__ROWS; r++) w[r] = rwkvx__vload(panel + r * ps + i);
        RWKVX__UNROLL for (u = 0; u < U; u++) {
            xv = rwkvx__vload(x[u] + i);
            RWKVX__IN_REGISTER(xv);
            RWKVX__UNROLL for (r = 0; r < RWKVX__ROWS; r++) s[u][r] = rwkvx__vfma(w[r], xv, s[u][r]);
        }
    }
    if (full < n) { /* the last n - full columns: zero panel padding times zero inputs */
        RWKVX__UNROLL for (r = 0; r < RWKVX__ROWS; r++) w[r] = rwkvx__vload(panel + r * ps + full);
        RWKVX__UNROLL for (u = 0; u < U; u++) {
            xv = rwkvx__vload_part(x[u] + full, (int)(n - full));
            RWKVX__UNROLL for (r = 0; r < RWKVX__ROWS; r++) s[u][r] = rwkvx__vfma(w[r], xv, s[u][r]);
        }
    }
    if (sums) {
        RWKVX__UNROLL for (u = 0; u < U; u++) rwkvx__vsum4(s[u], sums + u * RWKVX__ROWS);
    } else {
        RWKVX__UNROLL for (u = 0; u < U; u++)
            RWKVX__UNROLL for (r = 0; r < RWKVX__ROWS; r++) rwkvx__vstore(acc + (u * RWKVX__ROWS + r) * RWKVX__LANES, s[u][r]);
    }
}

static void rwkvx__micro_1(const float *panel, int64_t ps, int64_t n, const float *const *x, float *acc, int fresh, float *sums) {
    rwkvx__micro(panel, ps, n, x, 1, acc, fresh, sums);
}

static void rwkvx__micro_ut(const float *panel, int64_t ps, int64_t n, const float *const *x, float *acc, int fresh, float *sums) {
    rwkvx__micro(panel, ps, n, x, RWKVX__UT, acc, fresh, sums);
}

/* Asks for the weights of rows o0 .. o0 + RWKVX__ROWS - 1 ahead of their
   use: while a block is multiplied the memory system fetches the next one
   (the hardware prefetchers only follow demand loads). */
static void rwkvx__prefetch_rows(const rwkvx__mat *w, int64_t o0) {
#if defined(__GNUC__) || defined(__clang__)
    size_t row = rwkvx__row_bytes(w), i, end;
    const char *p = (const char *)w->data + (size_t)o0 * row;
    if (o0 >= w->rows) return;
    end = (size_t)(w->rows - o0 < RWKVX__ROWS ? w->rows - o0 : RWKVX__ROWS) * row;
    for (i = 0; i < end; i += 64) __builtin_prefetch(p + i, 0, 2);
#else
    (void)w, (void)o0;
#endif
}

/* s[r] += panel row r . x over n columns for r < NR (the lane rule of the
   microkernel; panel rows zero from n up to a multiple of LANES). Meanwhile
   it asks for the `ahead` bytes at pf, the weights converted next: the
   memory system keeps streaming while this loop computes. */
RWKVX__INLINE void rwkvx__dot_rows(const float *panel, int64_t ps, int64_t n, const float *x, int NR, rwkvx__v *s,
                                   const char *pf, int64_t ahead) {
    int64_t i, full = n / RWKVX__LANES * RWKVX__LANES, lines = (ahead + 63) / 64, steps = full / RWKVX__LANES + 1;
    int64_t per = (lines + steps - 1) / steps, line = 0, k;
    rwkvx__v xv;
    int r;
    (void)pf, (void)per, (void)line, (void)k;
    for (i = 0; i < full; i += RWKVX__LANES) {
#if defined(__GNUC__) || defined(__clang__)
        for (k = 0; k < per && line < lines; k++, line++) __builtin_prefetch(pf + line * 64, 0, RWKVX__AHEAD_LOCALITY);
#endif
        xv = rwkvx__vload(x + i);
        RWKVX__UNROLL for (r = 0; r < NR; r++) s[r] = rwkvx__vfma(rwkvx__vload(panel + r * ps + i), xv, s[r]);
    }
    if (full < n) {
        xv = rwkvx__vload_part(x + full, (int)(n - full));
        RWKVX__UNROLL for (r = 0; r < NR; r++) s[r] = rwkvx__vfma(rwkvx__vload(panel + r * ps + full), xv, s[r]);
    }
}

/* Decode (one token): the block's rows are converted whole, each in one
   sequential pass over its memory (slices would read four rows in short
   pieces, which the memory system streams badly), into a panel of at most
   24 KB so that it stays in L1 cache: all four rows when they are short,
   two or one at a time when they are long. The sums follow the lane rule of
   the sliced prefill path (slicing only pauses them), so decode and prefill
   agree bit for bit. */
static void rwkvx__row_block_1(const rwkvx__job *job, int64_t o0, float *panel) {
    const rwkvx__mat *w = job->w;
    int64_t ps = (w->cols + 15) / 16 * 16;
    int g = (int)(6144 / ps), r0, r;
    rwkvx__v s[RWKVX__ROWS];
    float sums[RWKVX__ROWS];
    if (g < 1) g = 1;
    if (g > RWKVX__ROWS) g = RWKVX__ROWS;
    if (g == 3) g = 2;
    for (r = 0; r < RWKVX__ROWS; r++) s[r] = rwkvx__vzero();
    for (r0 = 0; r0 < RWKVX__ROWS; r0 += g) {
        for (r = 0; r < g; r++) {
            float *p = panel + r * ps;
            int64_t row = o0 + r0 + r < w->rows ? o0 + r0 + r : o0; /* past the matrix: a row to drop */
            rwkvx__row_to_f32(w, row, 0, w->cols, p);
            memset(p + w->cols, 0, (size_t)(ps - w->cols) * sizeof(float));
        }
        {   /* the next rows this thread converts: of this block, or of the next one */
            size_t rb = rwkvx__row_bytes(w);
            int64_t next = o0 + r0 + 2 * g, n_next = w->rows - next < g ? w->rows - next : g;
            const char *pf = (const char *)w->data + (size_t)next * rb;
            int64_t ahead = n_next > 0 ? n_next * (int64_t)rb : 0;
            if (g == 4) rwkvx__dot_rows(panel, ps, w->cols, job->x, 4, s, pf, ahead);
            else if (g == 2) rwkvx__dot_rows(panel, ps, w->cols, job->x, 2, s + r0, pf, ahead);
            else rwkvx__dot_rows(panel, ps, w->cols, job->x, 1, s + r0, pf, ahead);
        }
    }
    rwkvx__vsum4(s, sums);
    for (r = 0; r < RWKVX__ROWS && o0 + r < w->rows; r++) job->y[o0 + r] = sums[r];
}

/* Decode (one token), rows o0 .. o0 + RWKVX__ROWS - 1 when every row length
   is a multiple of 32: the weights go straight from memory into registers
   (no panel), block by block (a K type's 8 groups share its scales: they are
   read once), one row after the other, through the type's group loader, and the weights of the rows `ahead` blocks further on
   are requested meanwhile, a little per step, so that the memory system
   keeps streaming. The sums follow the lane rule of the other paths: decode,
   prefill and any thread count agree bit for bit. */
RWKVX__INLINE void rwkvx__dot_direct(const rwkvx__job *job, int64_t o0, rwkvx_type type) {
    const rwkvx__mat *w = job->w;
    size_t rb = rwkvx__bytes_of_row(type, w->cols), span = rwkvx__span_bytes(type);
    const unsigned char *row[RWKVX__ROWS], *base = (const unsigned char *)w->data;
    const char *pf = (const char *)base + (size_t)(o0 + RWKVX__DECODE_AHEAD * RWKVX__ROWS) * rb;
    int64_t b, spans = w->cols / 32 / rwkvx__span_groups(type), left = w->rows - o0 - RWKVX__DECODE_AHEAD * RWKVX__ROWS;
    int64_t lines, per, line = 0, k;
    rwkvx__v s[RWKVX__ROWS], wv[RWKVX__NG], xv[RWKVX__NG];
    float sums[RWKVX__ROWS];
    int r, j, l;
    for (r = 0; r < RWKVX__ROWS; r++) { /* rows past the matrix: row o0 again, dropped */
        row[r] = base + (size_t)(o0 + r < w->rows ? o0 + r : o0) * rb;
        s[r] = rwkvx__vzero();
    }
    lines = left <= 0 ? 0 : ((left < RWKVX__ROWS ? left : RWKVX__ROWS) * (int64_t)rb + 63) / 64;
    per = (lines + spans - 1) / spans;
    (void)pf, (void)per, (void)line, (void)k;
    for (b = 0; b < spans; b++) {       /* a block of each row (a run of 32 values: plain types) */
        const float *x = job->x + b * 32 * rwkvx__span_groups(type);
#if defined(__GNUC__) || defined(__clang__)
        for (k = 0; k < per && line < lines; k++, line++) __builtin_prefetch(pf + line * 64, 0, RWKVX__AHEAD_LOCALITY);
#endif
        if (rwkvx__span_groups(type) == 1) {   /* one group: its inputs stay in registers for the four rows */
            RWKVX__UNROLL for (l = 0; l < RWKVX__NG; l++) xv[l] = rwkvx__vload(x + l * RWKVX__LANES);
            RWKVX__UNROLL for (r = 0; r < RWKVX__ROWS; r++) {
                rwkvx__group(row[r] + (size_t)b * span, type, 0, wv);
                RWKVX__UNROLL for (l = 0; l < RWKVX__NG; l++) s[r] = rwkvx__vfma(wv[l], xv[l], s[r]);
            }
        } else                                   /* a row's 8 groups in a row: its scales are read once */
            RWKVX__UNROLL for (r = 0; r < RWKVX__ROWS; r++)
                RWKVX__UNROLL for (j = 0; j < rwkvx__span_groups(type); j++) {
                    rwkvx__group(row[r] + (size_t)b * span, type, j, wv);
                    RWKVX__UNROLL for (l = 0; l < RWKVX__NG; l++)
                        s[r] = rwkvx__vfma(wv[l], rwkvx__vload(x + j * 32 + l * RWKVX__LANES), s[r]);
                }
    }
    rwkvx__vsum4(s, sums);
    for (r = 0; r < RWKVX__ROWS && o0 + r < w->rows; r++) job->y[o0 + r] = sums[r];
}

/* one instance per weight type, each with its group loader inlined */
static void rwkvx__row_block_direct(const rwkvx__job *job, int64_t o0) {
#define RWKVX__DIRECT_CASE(T, t, name, block, bytes, so, ns) \
    case RWKVX_TYPE_##T: rwkvx__dot_direct(job, o0, RWKVX_TYPE_##T); break;
    switch (job->w->type) {
        RWKVX__TYPES(RWKVX__DIRECT_CASE)
    }
}

/* ---- A few tokens (2 .. RWKVX__FEW of them): the weights read once ----
   Decoding several conversations together multiplies each matrix with a few
   tokens' inputs. The decode kernel's way serves them: every row length a
   multiple of 32, the weights go straight from memory into registers through
   the type's group loader, and each group, while there, is multiplied with
   up to RWKVX__UT tokens' inputs (read from cache), RWKVX__ROWS x RWKVX__UT
   accumulators in registers. More tokens take more passes over the block, in
   equal shares; the passes after the first find its weights in cache. The
   prefill path's panels would cost a conversion of every weight to f32 and
   its stores and loads again, which a few tokens do not amortize. */
#if RWKVX__UT > 6
#error "rwkvx__few_<type> has passes of up to 6 tokens"
#endif
#ifndef RWKVX__FEW
#define RWKVX__FEW 32                  /* most tokens for this path (above: the panels win; see docs/SERVER.md) */
#endif

/* The largest T that rwkvx__row_block gives to the few-token kernel for
   matrices of `type`: one per type, so that a type with a kernel of its own
   for a few tokens can take them elsewhere. A block type's weights cost more
   to unpack than to multiply, and each pass unpacks them again: two passes
   where they hold 6 tokens each (AVX-512), one where they hold fewer
   (measured, 8 tokens streamed from memory: q8_0 31 against 18 GMAC/s of the
   panels with AVX-512; q5_0 with AVX2, three passes: 13 against 20). */
static int rwkvx__few_limit(rwkvx_type type) {
    return rwkvx__type_of(type)->block == 1 ? RWKVX__FEW : RWKVX__UT >= 6 ? 2 * RWKVX__UT : RWKVX__UT;
}

/* Tokens t0 .. t0 + U - 1 (U <= RWKVX__UT, a constant after inlining) of
   rows o0 .. o0 + RWKVX__ROWS - 1. Lane l of output (t, o) adds the group
   loader's W[o][i] times X[t][i] over i = l (mod LANES) in increasing i, one
   fused multiply-add each, and the lanes meet in rwkvx__vsum4's tree: the
   lane rule of the other paths, so any batch and thread count agree bit for
   bit with decode and prefill. Meanwhile pass `pass` of `passes` over this
   block asks for its share of the rows RWKVX__DECODE_AHEAD blocks on, as
   rwkvx__dot_direct does, so that the memory system streams through every
   pass (into L2: RWKVX__AHEAD_LOCALITY). */
RWKVX__INLINE void rwkvx__dot_few(const rwkvx__job *job, int64_t o0, rwkvx_type type, int64_t t0, int U, int pass, int passes) {
    const rwkvx__mat *w = job->w;
    size_t rb = rwkvx__bytes_of_row(type, w->cols), span = rwkvx__span_bytes(type);
    const unsigned char *row[RWKVX__ROWS], *base = (const unsigned char *)w->data;
    const char *pf = (const char *)base + (size_t)(o0 + RWKVX__DECODE_AHEAD * RWKVX__ROWS) * rb;
    const float *x[RWKVX__UT];
    int G = rwkvx__span_groups(type);
    int64_t b, spans = w->cols / 32 / G, left = w->rows - o0 - RWKVX__DECODE_AHEAD * RWKVX__ROWS;
    int64_t lines, per, line, k;
    rwkvx__v s[RWKVX__UT][RWKVX__ROWS], wv[RWKVX__NG], xr[RWKVX__UT];
    float sums[RWKVX__ROWS];
    int r, j, l, u;
    for (r = 0; r < RWKVX__ROWS; r++) /* rows past the matrix: row o0 again, dropped */
        row[r] = base + (size_t)(o0 + r < w->rows ? o0 + r : o0) * rb;
    RWKVX__UNROLL for (u = 0; u < U; u++) {
        x[u] = job->x + (t0 + u) * job->ldx;
        RWKVX__UNROLL for (r = 0; r < RWKVX__ROWS; r++) s[u][r] = rwkvx__vzero();
    }
    lines = left <= 0 ? 0 : ((left < RWKVX__ROWS ? left : RWKVX__ROWS) * (int64_t)rb + 63) / 64;
    line = lines * pass / passes, lines = lines * (pass + 1) / passes; /* this pass's share */
    per = (lines - line + spans - 1) / spans;
    (void)pf, (void)per, (void)line, (void)k;
    for (b = 0; b < spans; b++) {
        int64_t i0 = b * 32 * G;
#if defined(__GNUC__) || defined(__clang__)
        for (k = 0; k < per && line < lines; k++, line++) __builtin_prefetch(pf + line * 64, 0, RWKVX__AHEAD_LOCALITY);
#endif
        if (rwkvx__plain(type) && U > 2) {
            /* each input vector loaded once for the four rows, each weight
               vector once (loads bound the other order from 3 tokens on; at
               2 it streams from memory faster: measured, AVX-512) */
            RWKVX__UNROLL for (l = 0; l < RWKVX__NG; l++) {
                RWKVX__UNROLL for (u = 0; u < U; u++) {
                    xr[u] = rwkvx__vload(x[u] + i0 + l * RWKVX__LANES);
                    RWKVX__IN_REGISTER(xr[u]);
                }
                RWKVX__UNROLL for (r = 0; r < RWKVX__ROWS; r++) {
                    rwkvx__v wr = rwkvx__plain_vector(row[r] + (size_t)b * span, type, l);
                    RWKVX__UNROLL for (u = 0; u < U; u++) s[u][r] = rwkvx__vfma(wr, xr[u], s[u][r]);
                }
            }
            continue;
        }
        RWKVX__UNROLL for (r = 0; r < RWKVX__ROWS; r++)
            for (j = 0; j < G; j++) {   /* a loop: unrolled, the 6 pass sizes x 13 types took
                                           half the header's compile time, at no measured gain */
                rwkvx__group(row[r] + (size_t)b * span, type, j, wv);
                RWKVX__UNROLL for (u = 0; u < U; u++)
                    RWKVX__UNROLL for (l = 0; l < RWKVX__NG; l++)
                        s[u][r] = rwkvx__vfma(wv[l], rwkvx__vload(x[u] + i0 + j * 32 + l * RWKVX__LANES), s[u][r]);
            }
    }
    RWKVX__UNROLL for (u = 0; u < U; u++) {
        rwkvx__vsum4(s[u], sums);
        for (r = 0; r < RWKVX__ROWS && o0 + r < w->rows; r++) job->y[(t0 + u) * job->ldy + o0 + r] = sums[r];
    }
}

/* one instance per weight type and pass size 2 .. RWKVX__UT (1 when that is
   all the instruction set's registers hold) */
#define RWKVX__FEW_PASS(T, n) \
    else if (U == (n) && (n) <= RWKVX__UT) rwkvx__dot_few(job, o0, RWKVX_TYPE_##T, t0, (n) <= RWKVX__UT ? (n) : 1, pass, passes);
#define RWKVX__DEFINE_FEW(T, t, name, block, bytes, so, ns)                                        \
    static void rwkvx__few_##t(const rwkvx__job *job, int64_t o0, int64_t t0, int U, int pass, int passes) { \
        if (U == 1) rwkvx__dot_few(job, o0, RWKVX_TYPE_##T, t0, 1, pass, passes);                  \
        RWKVX__FEW_PASS(T, 2) RWKVX__FEW_PASS(T, 3) RWKVX__FEW_PASS(T, 4) RWKVX__FEW_PASS(T, 5) \
        RWKVX__FEW_PASS(T, 6)                                                                      \
    }
RWKVX__TYPES(RWKVX__DEFINE_FEW)

/* Rows o0 .. o0 + RWKVX__ROWS - 1 for T tokens, 2 <= T <= RWKVX__FEW, in
   passes of at most RWKVX__UT tokens, as equal as can be */
static void rwkvx__row_block_few(const rwkvx__job *job, int64_t o0, int T) {
    int passes = (T + RWKVX__UT - 1) / RWKVX__UT, t0 = 0, p;
    for (p = 0; p < passes; p++) {
        int U = (T - t0 + (passes - p) - 1) / (passes - p);
        switch (job->w->type) {
#define RWKVX__FEW_CASE(T, t, name, block, bytes, so, ns) \
    case RWKVX_TYPE_##T: rwkvx__few_##t(job, o0, t0, U, p, passes); break;
            RWKVX__TYPES(RWKVX__FEW_CASE)
        }
        t0 += U;
    }
}

/* ---- Integer products: int8 weights times int8 activations ----
   For the matrices of rwkvx__int_path (the 32-value types Q8_0, Q4_0, Q4_1
   and IQ4_NL here, the K types below; the other types keep the f32 path
   above) the product multiplies the weights' integer codes with int8
   activations, as ggml does. Each input row of a product is quantized once
   (by each thread that works on the product) into blocks of 32 values,
   rwkvx__q8x: d = amax / 127 and q = x / d (x times 1 / d, in f32) rounded
   to the nearest integer, ties to even, so |q| <= 127; a block whose amax
   is below 2^-100 is all zeros (d = 0); one holding a NaN or an infinity
   gets d = that amax and q = 0, so its products are NaN.

   The weights are repacked at load (rwkvx__pack_rows) so that one vector
   register holds the same four columns of many rows: then each lane sums
   one row, and no sum is ever added across lanes. A packed block holds 16
   rows; its group g (columns 32 g .. 32 g + 31, rwkvx__pgroup bytes) is
   the 16 rows' f16 scales d (and Q4_1's f16 minimums m), then their codes:
   - Q8_0: 8 chunks of 64 bytes, chunk k holding columns 32 g + 4 k .. + 3
     of row 0, then of row 1, ... row 15;
   - Q4_0, Q4_1, IQ4_NL: 4 vectors of 64 bytes, vector k holding the file's
     bytes 4 k .. 4 k + 3 of each row's 16 in turn: their low nibbles are
     chunk k (columns 4 k ..), their high nibbles chunk k + 4 (16 + 4 k ..).
   A block is as large as its 16 rows in the file. vpdpbusd multiplies
   unsigned by signed bytes: it takes codes c = w + bias >= 0
   (rwkvx__pbias: Q8_0 stored as w + 128, Q4_0's nibbles are w + 8,
   IQ4_NL's levels looked up as level + 128), and a sum starts from -bias
   times the sum of q, so that eight vpdpbusd give one group's exact sums
   of 16 rows. The other kernels multiply signed values.

   The summation rule, the same for every T (decode, a few tokens, prefill),
   every instruction set and every thread count: row o's group g gives the
   exact integer P(g) = sum over its 32 columns i of w[i] * q[i] (w the
   integer the type scales by d: Q8_0's value, Q4_0's nibble - 8, IQ4_NL's
   level, Q4_1's nibble; |P| < 2^20, exact in f32), and the row's sum is
   one float s, from s = 0, taking in increasing g
   s = fma(dw(g) * dx(g), (float)P(g), s), and for Q4_1 then
   s = fma(m(g) * dx(g), (float)S(g), s), S(g) the sum of the input
   block's q (dw * dx one f32 product). Integer sums are exact and every
   float operation is fixed, so the SIMD kernels and the portable C
   reference agree bit for bit. */
typedef struct {
    float d;                     /* the block's scale */
    int32_t sum;                 /* the sum of q */
    signed char q[32];
} rwkvx__q8x;

/* Does `type` go through the integer products, and with inputs in blocks of
   how many values? The K types do (blocks of 256, rwkvx__q8k: see "Integer
   products of the K types"), and the 32-value types above (blocks of 32).
   RWKVX_NO_INT8 turns the integer products off. 0: the f32 path. */
#if !defined(RWKVX_NO_INT8)
#define RWKVX__INT8 1
#endif
RWKVX__INLINE int rwkvx__int_type(rwkvx_type type) {
#if defined(RWKVX_NO_INT8)
    (void)type;
    return 0;
#else
    switch (type) {
    case RWKVX_TYPE_Q2_K: case RWKVX_TYPE_Q3_K: case RWKVX_TYPE_Q4_K: case RWKVX_TYPE_Q5_K: case RWKVX_TYPE_Q6_K: return 256;
    case RWKVX_TYPE_Q8_0: case RWKVX_TYPE_Q4_0: case RWKVX_TYPE_Q4_1: case RWKVX_TYPE_IQ4_NL: return 32;
    default: return 0;
    }
#endif
}
/* The types packed at load: the 32-value types, and Q4_K, Q5_K, Q6_K (see
   "The K types packed"; Q2_K and Q3_K keep the file's layout) */
RWKVX__INLINE int rwkvx__kpacks(rwkvx_type type) {
    return type == RWKVX_TYPE_Q4_K || type == RWKVX_TYPE_Q5_K || type == RWKVX_TYPE_Q6_K;
}
RWKVX__INLINE int rwkvx__packs(const rwkvx__mat *w) {
    return rwkvx__int_type(w->type) == 32 || (rwkvx__int_type(w->type) && rwkvx__kpacks(w->type));
}
/* ... and this matrix: a type that packs only once packed (a matrix made
   outside the loader keeps the f32 path until rwkvx__pack_rows packs it) */
RWKVX__INLINE int rwkvx__int_path(const rwkvx__mat *w) {
    return rwkvx__packs(w) && !w->packed ? 0 : rwkvx__int_type(w->type);
}

#if (defined(RWKVX__AVX512) && defined(__AVX512BW__) && defined(__AVX512VNNI__)) || \
    (defined(RWKVX__AVX2) && ((defined(__AVX512VNNI__) && defined(__AVX512VL__)) || defined(__AVXVNNI__)))
#define RWKVX__DPBUSD 1                   /* the kernels multiply with vpdpbusd */
#else
#define RWKVX__DPBUSD 0
#endif
#define RWKVX__PROWS 16                   /* rows per packed block */
/* bytes per group of a packed block (as many as its 16 rows' blocks), and
   where its codes start */
RWKVX__INLINE int rwkvx__pgroup(rwkvx_type type) {
    if (rwkvx__kpacks(type)) return RWKVX__PROWS * rwkvx__type_of(type)->bytes; /* a super-block of 256 columns */
    return type == RWKVX_TYPE_Q8_0 ? 16 * 34 : type == RWKVX_TYPE_Q4_1 ? 16 * 20 : 16 * 18;
}
RWKVX__INLINE int rwkvx__pcodes(rwkvx_type type) { return type == RWKVX_TYPE_Q4_1 ? 64 : 32; }
/* the kernels' codes are w + bias (see above) */
RWKVX__INLINE int rwkvx__pbias(rwkvx_type type) {
    if (type == RWKVX_TYPE_Q4_0) return 8;
    return (type == RWKVX_TYPE_Q8_0 || type == RWKVX_TYPE_IQ4_NL) && RWKVX__DPBUSD ? 128 : 0;
}

/* A K type's rows [0, rows) at src, rb bytes apart, as one packed block of ng
   super-blocks at out (the layout of "The K types packed"); rows past them
   are zeros. */
static void rwkvx__pack_kblock(rwkvx_type type, const unsigned char *src, size_t rb, int64_t rows, int64_t ng, unsigned char *out) {
    const int bytes = rwkvx__type_of(type)->bytes, units = bytes / 4, G = RWKVX__PROWS * bytes;
    int64_t r, s;
    int k;
    for (r = 0; r < RWKVX__PROWS; r++)
        for (s = 0; s < ng; s++) {
            unsigned char *p = out + (size_t)s * (size_t)G;
            const unsigned char *b = r < rows ? src + (size_t)r * rb + (size_t)s * (size_t)bytes : NULL;
            for (k = 0; k < units; k++) {
                uint32_t v = 0;
                if (b) memcpy(&v, b + 4 * k, 4);
                memcpy(p + 64 * k + 4 * r, &v, 4);
            }
            if (bytes % 4) { /* Q6_K's d */
                if (b) memcpy(p + 64 * units + 2 * r, b + 4 * units, 2);
                else memset(p + 64 * units + 2 * r, 0, 2);
            }
        }
}

/* Rows [0, rows) of the file's layout at src, rb bytes apart (rows <= 16),
   as one packed block of ng groups at out; rows past them are zeros. */
static void rwkvx__pack_block(rwkvx_type type, const unsigned char *src, size_t rb, int64_t rows, int64_t ng, unsigned char *out) {
    const int G = rwkvx__pgroup(type), codes = rwkvx__pcodes(type), bytes = rwkvx__type_of(type)->bytes;
    const uint32_t flip = type == RWKVX_TYPE_Q8_0 ? (uint32_t)rwkvx__pbias(type) * 0x01010101u : 0;
    int64_t r, g;
    int k;
    if (rwkvx__kpacks(type)) {
        rwkvx__pack_kblock(type, src, rb, rows, ng, out);
        return;
    }
    for (r = 0; r < RWKVX__PROWS; r++)
        for (g = 0; g < ng; g++) {
            unsigned char *p = out + (size_t)g * (size_t)G;
            const unsigned char *b = r < rows ? src + (size_t)r * rb + (size_t)g * (size_t)bytes : src;
            int chunks = type == RWKVX_TYPE_Q8_0 ? 8 : 4, at = type == RWKVX_TYPE_Q8_0 ? 2 : bytes - 16;
            for (k = 0; k < chunks; k++) {
                uint32_t v = 0;
                if (r < rows) memcpy(&v, b + at + 4 * k, 4), v ^= flip;
                memcpy(p + codes + 64 * k + 4 * r, &v, 4);
            }
            if (r < rows) memcpy(p + 2 * r, b, 2);
            else memset(p + 2 * r, 0, 2);
            if (type == RWKVX_TYPE_Q4_1) {
                if (r < rows) memcpy(p + 32 + 2 * r, b + 2, 2);
                else memset(p + 32 + 2 * r, 0, 2);
            }
        }
}

/* w packed into a copy at out (rwkvx__packed_bytes(w) bytes): the loader's
   way for a model in the caller's memory, and the tests' */
static size_t rwkvx__packed_bytes(const rwkvx__mat *w) {
    return rwkvx__packs(w) ? (size_t)((w->rows + RWKVX__PROWS - 1) / RWKVX__PROWS) * (size_t)(w->cols / rwkvx__type_of(w->type)->block) * (size_t)rwkvx__pgroup(w->type) : 0;
}
static void rwkvx__pack_rows(rwkvx__mat *w, unsigned char *out) {
    int64_t ng = w->cols / rwkvx__type_of(w->type)->block, blocks = (w->rows + RWKVX__PROWS - 1) / RWKVX__PROWS, b;
    size_t rb = rwkvx__row_bytes(w), block = (size_t)ng * (size_t)rwkvx__pgroup(w->type);
    for (b = 0; b < blocks; b++) {
        int64_t rows = w->rows - b * RWKVX__PROWS;
        rwkvx__pack_block(w->type, (const unsigned char *)w->data + (size_t)(b * RWKVX__PROWS) * rb, rb, rows < RWKVX__PROWS ? rows : RWKVX__PROWS,
                          ng, out + (size_t)b * block);
    }
    w->packed = out;
    w->packed_last = out + (size_t)(blocks - 1) * block;
}
/* w packed where its rows are (a packed block is as large as its 16 rows),
   the last block, if it has fewer rows, at `last` (one block's bytes);
   `spare` holds 16 rows while they are packed */
static void rwkvx__pack_rows_in_place(rwkvx__mat *w, unsigned char *last, unsigned char *spare) {
    int64_t ng = w->cols / rwkvx__type_of(w->type)->block, full = w->rows / RWKVX__PROWS, b;
    size_t rb = rwkvx__row_bytes(w), block = (size_t)ng * (size_t)rwkvx__pgroup(w->type);
    unsigned char *data = (unsigned char *)(uintptr_t)w->data; /* the loader's own copy or private mapping */
    for (b = 0; b < full; b++) {
        memcpy(spare, data + (size_t)b * block, block);
        rwkvx__pack_block(w->type, spare, rb, RWKVX__PROWS, ng, data + (size_t)b * block);
    }
    w->packed = data;
    if (w->rows % RWKVX__PROWS) {
        rwkvx__pack_block(w->type, data + (size_t)full * block, rb, w->rows % RWKVX__PROWS, ng, last);
        w->packed_last = last;
    } else
        w->packed_last = data + (size_t)(full - 1) * block;
}

/* The largest |x[i]| of n values, a NaN if any is NaN (portable C) */
static float rwkvx__amax_ref(const float *x, int n) {
    float amax = 0.0f;
    int i;
    for (i = 0; i < n; i++) { /* a NaN sticks: later values compare false with it */
        float a = fabsf(x[i]);
        if (!(a <= amax) && amax == amax) amax = a;
    }
    return amax;
}

#if defined(RWKVX__AVX2)
static float rwkvx__amax(const float *x, int n) { /* n a multiple of 8 */
    const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps();
    __m128 h;
    int i, bad = 0;
    for (i = 0; i < n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        bad |= _mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        m = _mm256_max_ps(m, _mm256_and_ps(v, abs_mask));
    }
    if (bad) return rwkvx__amax_ref(x, n);
    h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_max_ss(h, _mm_shuffle_ps(h, h, 1)));
}
/* q[i] = x[i] * id rounded to the nearest integer, ties to even, for 32 values */
static void rwkvx__quantize_scaled(const float *x, float id, signed char *q) {
    __m256 s = _mm256_set1_ps(id);
    __m256i a = _mm256_packs_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x), s)),
                                   _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 8), s)));
    __m256i b = _mm256_packs_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 16), s)),
                                   _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + 24), s)));
    _mm256_storeu_si256((__m256i *)(void *)q, _mm256_permutevar8x32_epi32(_mm256_packs_epi16(a, b), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}
#else
#define rwkvx__amax rwkvx__amax_ref
static void rwkvx__quantize_scaled(const float *x, float id, signed char *q) {
    int i;
    for (i = 0; i < 32; i++) q[i] = (signed char)lrintf(x[i] * id); /* nearest, ties to even */
}
#endif

/* n activations (32 or 256) by the rule above: their scale *d and q */
static void rwkvx__quantize_run(const float *x, int n, float *d, signed char *q) {
    float amax = rwkvx__amax(x, n), id;
    int i;
    if (!(amax <= 3.4028235e38f) || amax < 7.8886091e-31f) {   /* NaN or infinite; or below 2^-100 */
        *d = amax < 7.8886091e-31f ? 0.0f : amax;
        memset(q, 0, (size_t)n);
        return;
    }
    *d = amax / 127.0f;
    id = 1.0f / *d;
    for (i = 0; i < n; i += 32) rwkvx__quantize_scaled(x + i, id, q + i);
}
static void rwkvx__quantize_block(const float *x, rwkvx__q8x *out) {
    int32_t sum = 0;
    int i;
    rwkvx__quantize_run(x, 32, &out->d, out->q);
    for (i = 0; i < 32; i++) sum += out->q[i];
    out->sum = sum;
}

/* Decode asks for the weights at pf (a block further on) as it goes, one
   group's lines per group, into L2 (RWKVX__AHEAD_LOCALITY) */
RWKVX__INLINE void rwkvx__pahead(rwkvx_type type, const char *pf, int64_t g) {
#if defined(__GNUC__) || defined(__clang__)
    int l;
    if (pf)
        for (l = 0; l < rwkvx__pgroup(type); l += 64) __builtin_prefetch(pf + g * rwkvx__pgroup(type) + l, 0, RWKVX__AHEAD_LOCALITY);
#else
    (void)type, (void)pf, (void)g;
#endif
}
RWKVX__INLINE int32_t rwkvx__chunk(const signed char *q) { /* 4 input bytes as one lane */
    int32_t v;
    memcpy(&v, q, 4);
    return v;
}
/* IQ4_NL's 16 levels as bytes, signed, their magnitudes, and plus 128 */
#define RWKVX__IQ4_BYTES -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113
#define RWKVX__IQ4_ABS 127, 104, 83, 65, 49, 35, 22, 10, 1, 13, 25, 38, 53, 69, 89, 113
#define RWKVX__IQ4_PLUS 1, 24, 45, 63, 79, 93, 106, (char)118, (char)129, (char)141, (char)153, (char)166, (char)181, (char)197, (char)217, (char)241

/* Rows 16 b .. 16 b + 15 (the packed block at blk, ng groups) times U
   inputs x[u], by the rule: out[16 u + r] for r < 16, u < U <= RWKVX__QUT.
   Inlined with type and U constant, the sums live in registers. */
#if defined(RWKVX__AVX512) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
/* AVX-512 with VNNI: one register holds a chunk of the 16 rows' codes */
#define RWKVX__QUT 8
RWKVX__INLINE __m512i rwkvx__pchunk(rwkvx_type type, const unsigned char *p, int k) {
    __m512i v, low = _mm512_set1_epi8(0x0f);
    if (type == RWKVX_TYPE_Q8_0) return _mm512_loadu_si512((const void *)(p + 32 + 64 * k));
    v = _mm512_loadu_si512((const void *)(p + rwkvx__pcodes(type) + 64 * (k & 3)));
    v = _mm512_and_si512(k < 4 ? v : _mm512_srli_epi16(v, 4), low);
    if (type == RWKVX_TYPE_IQ4_NL) v = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(_mm_setr_epi8(RWKVX__IQ4_PLUS)), v);
    return v;
}
RWKVX__INLINE void rwkvx__ptile(rwkvx_type type, const unsigned char *blk, int64_t ng, const rwkvx__q8x *const *x, int U, float *out,
                                const char *pf) {
    __m512 acc[RWKVX__QUT];
    int64_t g;
    int u, k;
    RWKVX__UNROLL for (u = 0; u < U; u++) acc[u] = _mm512_setzero_ps();
    for (g = 0; g < ng; g++) {
        const unsigned char *p = blk + g * rwkvx__pgroup(type);
        __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p));
        __m512i s[RWKVX__QUT];
        rwkvx__pahead(type, pf, g);
        RWKVX__UNROLL for (u = 0; u < U; u++) s[u] = _mm512_set1_epi32(-rwkvx__pbias(type) * x[u][g].sum);
        RWKVX__UNROLL for (k = 0; k < 8; k++) {
            __m512i w = rwkvx__pchunk(type, p, k);
            RWKVX__UNROLL for (u = 0; u < U; u++) s[u] = _mm512_dpbusd_epi32(s[u], w, _mm512_set1_epi32(rwkvx__chunk(x[u][g].q + 4 * k)));
        }
        RWKVX__UNROLL for (u = 0; u < U; u++)
            acc[u] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(x[u][g].d)), _mm512_cvtepi32_ps(s[u]), acc[u]);
        if (type == RWKVX_TYPE_Q4_1) {
            __m512 dm = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p + 32)));
            RWKVX__UNROLL for (u = 0; u < U; u++)
                acc[u] = _mm512_fmadd_ps(_mm512_mul_ps(dm, _mm512_set1_ps(x[u][g].d)), _mm512_set1_ps((float)x[u][g].sum), acc[u]);
        }
    }
    RWKVX__UNROLL for (u = 0; u < U; u++) _mm512_storeu_ps(out + 16 * u, acc[u]);
}
#elif defined(RWKVX__AVX2)
/* AVX2: two registers, rows 0-7 and 8-15. With VNNI, vpdpbusd as above.
   Without, vpmaddubsw (unsigned times signed bytes, pairs summed in 16
   bits) then vpmaddwd: the nibbles (at most 15) multiply as they are; the
   signed values of Q8_0 and IQ4_NL as |w| times q with w's sign (vpsignb),
   which cannot saturate (2 x 128 x 127 < 2^15). */
#define RWKVX__QUT 2
typedef struct { __m256i w, a; } rwkvx__q8w;   /* a chunk of 8 rows: codes or w, and |w| */
RWKVX__INLINE int rwkvx__signed_codes(rwkvx_type type) {
    return !RWKVX__DPBUSD && (type == RWKVX_TYPE_Q8_0 || type == RWKVX_TYPE_IQ4_NL);
}
RWKVX__INLINE rwkvx__q8w rwkvx__pchunk(rwkvx_type type, const unsigned char *p, int k, int half) {
    rwkvx__q8w c;
    __m256i v, low = _mm256_set1_epi8(0x0f);
    if (type == RWKVX_TYPE_Q8_0) v = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32 + 64 * k + 32 * half));
    else {
        v = _mm256_loadu_si256((const __m256i *)(const void *)(p + rwkvx__pcodes(type) + 64 * (k & 3) + 32 * half));
        v = _mm256_and_si256(k < 4 ? v : _mm256_srli_epi16(v, 4), low);
    }
    c.w = c.a = v;
    if (type == RWKVX_TYPE_IQ4_NL && RWKVX__DPBUSD) c.w = c.a = _mm256_shuffle_epi8(_mm256_setr_epi8(RWKVX__IQ4_PLUS, RWKVX__IQ4_PLUS), v);
    else if (type == RWKVX_TYPE_IQ4_NL) {
        c.w = _mm256_shuffle_epi8(_mm256_setr_epi8(RWKVX__IQ4_BYTES, RWKVX__IQ4_BYTES), v);
        c.a = _mm256_shuffle_epi8(_mm256_setr_epi8(RWKVX__IQ4_ABS, RWKVX__IQ4_ABS), v);
    } else if (rwkvx__signed_codes(type))
        c.a = _mm256_abs_epi8(v);
    return c;
}
RWKVX__INLINE __m256i rwkvx__pstep(rwkvx_type type, __m256i s, rwkvx__q8w c, __m256i xb) {
#if RWKVX__DPBUSD && defined(__AVX512VNNI__) && defined(__AVX512VL__)
    (void)type;
    return _mm256_dpbusd_epi32(s, c.w, xb);
#elif RWKVX__DPBUSD
    (void)type;
    return _mm256_dpbusd_avx_epi32(s, c.w, xb);
#else
    __m256i q = rwkvx__signed_codes(type) ? _mm256_sign_epi8(xb, c.w) : xb;
    return _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(c.a, q), _mm256_set1_epi16(1)));
#endif
}
RWKVX__INLINE void rwkvx__ptile(rwkvx_type type, const unsigned char *blk, int64_t ng, const rwkvx__q8x *const *x, int U, float *out,
                                const char *pf) {
    __m256 acc[RWKVX__QUT][2];
    int64_t g;
    int u, k, h;
    RWKVX__UNROLL for (u = 0; u < U; u++) acc[u][0] = acc[u][1] = _mm256_setzero_ps();
    for (g = 0; g < ng; g++) {
        const unsigned char *p = blk + g * rwkvx__pgroup(type);
        __m256i s[RWKVX__QUT][2];
        rwkvx__pahead(type, pf, g);
        RWKVX__UNROLL for (u = 0; u < U; u++) s[u][0] = s[u][1] = _mm256_set1_epi32(-rwkvx__pbias(type) * x[u][g].sum);
        RWKVX__UNROLL for (k = 0; k < 8; k++) {
            rwkvx__q8w c0 = rwkvx__pchunk(type, p, k, 0), c1 = rwkvx__pchunk(type, p, k, 1);
            RWKVX__UNROLL for (u = 0; u < U; u++) {
                __m256i xb = _mm256_set1_epi32(rwkvx__chunk(x[u][g].q + 4 * k));
                s[u][0] = rwkvx__pstep(type, s[u][0], c0, xb);
                s[u][1] = rwkvx__pstep(type, s[u][1], c1, xb);
                RWKVX__IN_REGISTER(s[u][0]); /* one running sum each: summed as a tree, they spilled */
                RWKVX__IN_REGISTER(s[u][1]);
            }
        }
        RWKVX__UNROLL for (h = 0; h < 2; h++) {
            __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * h)));
            RWKVX__UNROLL for (u = 0; u < U; u++)
                acc[u][h] = _mm256_fmadd_ps(_mm256_mul_ps(dw, _mm256_set1_ps(x[u][g].d)), _mm256_cvtepi32_ps(s[u][h]), acc[u][h]);
            if (type == RWKVX_TYPE_Q4_1) {
                __m256 dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 32 + 16 * h)));
                RWKVX__UNROLL for (u = 0; u < U; u++)
                    acc[u][h] = _mm256_fmadd_ps(_mm256_mul_ps(dm, _mm256_set1_ps(x[u][g].d)), _mm256_set1_ps((float)x[u][g].sum), acc[u][h]);
            }
        }
    }
    RWKVX__UNROLL for (u = 0; u < U; u++) _mm256_storeu_ps(out + 16 * u, acc[u][0]), _mm256_storeu_ps(out + 16 * u + 8, acc[u][1]);
}
#elif defined(RWKVX__NEON)
/* NEON: four registers of 4 rows, signed codes; sdot where the CPU has it,
   else smull and pairwise adds (a pair of products fits in 16 bits) */
#define RWKVX__QUT 2
RWKVX__INLINE int32x4_t rwkvx__pstep(int32x4_t s, int8x16_t w, int8x16_t xb) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(s, w, xb);
#else
    int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(xb)), hi = vmull_s8(vget_high_s8(w), vget_low_s8(xb));
    return vpadalq_s16(s, vpaddq_s16(lo, hi));
#endif
}
RWKVX__INLINE int8x16_t rwkvx__pchunk(rwkvx_type type, const unsigned char *p, int k, int h) {
    static const signed char levels[16] = {RWKVX__IQ4_BYTES};
    uint8x16_t v;
    if (type == RWKVX_TYPE_Q8_0) return vld1q_s8((const signed char *)(p + 32 + 64 * k + 16 * h));
    v = vld1q_u8(p + rwkvx__pcodes(type) + 64 * (k & 3) + 16 * h);
    v = k < 4 ? vandq_u8(v, vdupq_n_u8(0x0f)) : vshrq_n_u8(v, 4);
    return type == RWKVX_TYPE_IQ4_NL ? vqtbl1q_s8(vld1q_s8(levels), v) : vreinterpretq_s8_u8(v);
}
RWKVX__INLINE void rwkvx__ptile(rwkvx_type type, const unsigned char *blk, int64_t ng, const rwkvx__q8x *const *x, int U, float *out,
                                const char *pf) {
    float32x4_t acc[RWKVX__QUT][4];
    int64_t g;
    int u, k, h;
    RWKVX__UNROLL for (u = 0; u < U; u++) RWKVX__UNROLL for (h = 0; h < 4; h++) acc[u][h] = vdupq_n_f32(0.0f);
    for (g = 0; g < ng; g++) {
        const unsigned char *p = blk + g * rwkvx__pgroup(type);
        int32x4_t s[RWKVX__QUT][4];
        rwkvx__pahead(type, pf, g);
        RWKVX__UNROLL for (u = 0; u < U; u++) RWKVX__UNROLL for (h = 0; h < 4; h++) s[u][h] = vdupq_n_s32(-rwkvx__pbias(type) * x[u][g].sum);
        RWKVX__UNROLL for (k = 0; k < 8; k++) {
            int8x16_t w[4];
            RWKVX__UNROLL for (h = 0; h < 4; h++) w[h] = rwkvx__pchunk(type, p, k, h);
            RWKVX__UNROLL for (u = 0; u < U; u++) {
                int8x16_t xb = vreinterpretq_s8_s32(vdupq_n_s32(rwkvx__chunk(x[u][g].q + 4 * k)));
                RWKVX__UNROLL for (h = 0; h < 4; h++) s[u][h] = rwkvx__pstep(s[u][h], w[h], xb);
            }
        }
        RWKVX__UNROLL for (h = 0; h < 4; h++) {
            float32x4_t dw = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(p + 8 * h)));
            RWKVX__UNROLL for (u = 0; u < U; u++) acc[u][h] = vfmaq_f32(acc[u][h], vmulq_n_f32(dw, x[u][g].d), vcvtq_f32_s32(s[u][h]));
            if (type == RWKVX_TYPE_Q4_1) {
                float32x4_t dm = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(p + 32 + 8 * h)));
                RWKVX__UNROLL for (u = 0; u < U; u++)
                    acc[u][h] = vfmaq_f32(acc[u][h], vmulq_n_f32(dm, x[u][g].d), vdupq_n_f32((float)x[u][g].sum));
            }
        }
    }
    RWKVX__UNROLL for (u = 0; u < U; u++) RWKVX__UNROLL for (h = 0; h < 4; h++) vst1q_f32(out + 16 * u + 4 * h, acc[u][h]);
}
#else
/* portable C, the reference */
#define RWKVX__QUT 1
RWKVX__INLINE int rwkvx__pvalue(rwkvx_type type, const unsigned char *p, int r, int i) { /* w of row r, column i of the group */
    static const signed char levels[16] = {RWKVX__IQ4_BYTES};
    int nib;
    if (type == RWKVX_TYPE_Q8_0) return (signed char)p[32 + 64 * (i / 4) + 4 * r + i % 4];
    nib = p[rwkvx__pcodes(type) + 64 * (i % 16 / 4) + 4 * r + i % 4] >> (i < 16 ? 0 : 4) & 15;
    return type == RWKVX_TYPE_IQ4_NL ? levels[nib] : type == RWKVX_TYPE_Q4_0 ? nib - 8 : nib;
}
RWKVX__INLINE void rwkvx__ptile(rwkvx_type type, const unsigned char *blk, int64_t ng, const rwkvx__q8x *const *x, int U, float *out,
                                const char *pf) {
    int64_t g;
    int u, r, i;
    (void)pf;
    for (u = 0; u < U; u++)
        for (r = 0; r < RWKVX__PROWS; r++) {
            float s = 0.0f;
            for (g = 0; g < ng; g++) {
                const unsigned char *p = blk + g * rwkvx__pgroup(type);
                int32_t sum = 0;
                for (i = 0; i < 32; i++) sum += rwkvx__pvalue(type, p, r, i) * x[u][g].q[i];
                s = fmaf(rwkvx__f16_at(p + 2 * r) * x[u][g].d, (float)sum, s);
                if (type == RWKVX_TYPE_Q4_1) s = fmaf(rwkvx__f16_at(p + 32 + 2 * r) * x[u][g].d, (float)x[u][g].sum, s);
            }
            out[16 * u + r] = s;
        }
}
#endif

/* The tile of each type for 1, 2, 4 or RWKVX__QUT inputs (U constant in
   each): a few tokens of a batch take the smallest that holds them; one
   token asks for the weights at pf as it goes */
typedef void (*rwkvx__ptile_fn)(const unsigned char *, int64_t, const void *const *, float *, const char *);
#define RWKVX__PTILE(T, name, U, ahead)                                                                                     \
    static void rwkvx__ptile_##T##_##name(const unsigned char *blk, int64_t ng, const void *const *x, float *out, const char *pf) { \
        (void)pf;                                                                                                            \
        rwkvx__TILE_OF(T)(RWKVX_TYPE_##T, blk, ng, (const rwkvx__INPUT_OF(T) *const *)x, U, out, ahead);                    \
    }
#if RWKVX__QUT >= 4
#define RWKVX__PTILES(T) RWKVX__PTILE(T, 1, 1, pf) RWKVX__PTILE(T, 2, 2, NULL) RWKVX__PTILE(T, 4, 4, NULL) RWKVX__PTILE(T, ut, RWKVX__QUT, NULL)
#define RWKVX__PTILE_PICK(T)                                                                                            \
    return tokens == 1 ? (*U = 1, rwkvx__ptile_##T##_1) : tokens == 2 ? (*U = 2, rwkvx__ptile_##T##_2)                 \
         : tokens <= 4 ? (*U = 4, rwkvx__ptile_##T##_4) : (*U = RWKVX__QUT, rwkvx__ptile_##T##_ut);
#else
#define RWKVX__PTILES(T) RWKVX__PTILE(T, 1, 1, pf) RWKVX__PTILE(T, ut, RWKVX__QUT, NULL)
#define RWKVX__PTILE_PICK(T) return tokens == 1 ? (*U = 1, rwkvx__ptile_##T##_1) : (*U = RWKVX__QUT, rwkvx__ptile_##T##_ut);
#endif

#if defined(RWKVX__NEON)
RWKVX__INLINE int32x4_t rwkvx__idot16(int8x16_t w, int8x16_t x) { /* lanes of 4 consecutive products */
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(vdupq_n_s32(0), w, x);
#else
    int32x4_t lo = vpaddlq_s16(vmull_s8(vget_low_s8(w), vget_low_s8(x)));
    int32x4_t hi = vpaddlq_s16(vmull_s8(vget_high_s8(w), vget_high_s8(x)));
    return vpaddq_s32(lo, hi);
#endif
}
#endif

/* ---- Integer products of the K types ----
   The K types multiply their integer codes with int8 activations too, with
   one input scale per super-block of 256 values, as ggml's q8_K does: each
   input row is quantized in blocks of 256 (rwkvx__q8k: the rule of
   rwkvx__q8x over 256 values), and the sum of each 16 of its q is kept.
   Every K type writes value i of a super-block as d * sc(g) * u[i] - dm *
   o(g), i in the 16 values of sub-block g: u[i] an unsigned code (at most
   63), sc(g) and o(g) small integers, d and dm the super-block's two scales
   (rwkvx__kscales). So a super-block times an input block is
   d dx (sum of sc u q) - dm dx (sum over g of o(g) bs(g)), bs(g) the sum of
   q over sub-block g: two exact integer sums.

   Q4_K, Q5_K and Q6_K are packed at load and follow the rule of "The K
   types packed" below. Q2_K and Q3_K keep the file's layout, and this
   summation rule, the same for every T, instruction set and thread
   count: super-block s gives two sets of 8 exact integer lanes,
   I(s, l) = sum over groups j < 8 of sc(2 j + l / 4) p(j, l), with
   p(j, l) = sum over k < 4 of u[32 j + 4 l + k] q[32 j + 4 l + k], and
   O(s, l) = o(2 l) bs(2 l) + o(2 l + 1) bs(2 l + 1). Float accumulators
   take a[l] = fma(d(s) dx(s), (float)I(s, l), a[l]) and
   b[l] = fma(dm(s) dx(s), (float)O(s, l), b[l]) in increasing s; the result
   is the halving tree over a (l += l + 4, l + 2, l + 1) minus the same tree
   over b. (|I| < 2^26 and |O| < 2^25: int32; vpmaddubsw's pairs stay below
   2^15: 2 x 63 x 127.) */
typedef struct {
    float d;                     /* the block's scale */
    int16_t bsum[16];            /* sums of q over each 16 values */
    signed char q[256];
} rwkvx__q8k;

/* One block of 256 activations: the rule of rwkvx__q8x with one scale. */
static void rwkvx__quantize_k(const float *x, rwkvx__q8k *out) {
    int g, i;
    rwkvx__quantize_run(x, 256, &out->d, out->q);
    for (g = 0; g < 16; g++) {
        int sum = 0;
        for (i = 0; i < 16; i++) sum += out->q[16 * g + i];
        out->bsum[g] = (int16_t)sum;
    }
}

/* The scales of a K type's super-block: d and dm, and per 16 values g the
   integers sc(g) (-128 <= sc < 128) and o(g). AVX2 keeps sc as 16-bit lanes, the
   even g in the low half and the odd g in the high half, so that one
   in-lane shuffle gives group j its pair (sc(2 j) for its first 16 values,
   sc(2 j + 1) for the others). */
typedef struct {
    float d, dm;
#if defined(RWKVX__AVX2)
    __m256i sc, o;
#else
    signed char sc[16];
    int16_t o[16];
#endif
} rwkvx__kscale;

/* The scales from arrays (in the order of g) */
RWKVX__INLINE void rwkvx__kscale_set(rwkvx__kscale *k, const signed char *sc, const int16_t *o) {
#if defined(RWKVX__AVX2)
    __m128i s = _mm_loadu_si128((const __m128i *)(const void *)sc);
    k->sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(s, _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15)));
    k->o = _mm256_loadu_si256((const __m256i *)(const void *)o);
#else
    memcpy(k->sc, sc, 16), memcpy(k->o, o, 32);
#endif
}

/* sc(g) and o(g) of a super-block's scales, g < 16 (what the tests check against) */
RWKVX__INLINE void rwkvx__kscale_at(const rwkvx__kscale *k, int g, int *sc, int *o) {
#if defined(RWKVX__AVX2)
    int16_t s[16], f[16];
    _mm256_storeu_si256((__m256i *)(void *)s, k->sc), _mm256_storeu_si256((__m256i *)(void *)f, k->o);
    *sc = s[g % 2 * 8 + g / 2], *o = f[g];
#else
    *sc = k->sc[g], *o = k->o[g];
#endif
}

/* Q4_K's and Q5_K's eight 6-bit scales and minimums (the bit layout of
   rwkvx__k4_scale_min, four at a time in 32-bit words), each for 32 values */
RWKVX__INLINE void rwkvx__k4_scales(const unsigned char *s, rwkvx__kscale *k) {
    uint32_t w[3], sc[2], mn[2];
    memcpy(w, s, 12);
    sc[0] = w[0] & 0x3f3f3f3fu, mn[0] = w[1] & 0x3f3f3f3fu;
    sc[1] = (w[2] & 0x0f0f0f0fu) | ((w[0] >> 6) & 0x03030303u) << 4;
    mn[1] = ((w[2] >> 4) & 0x0f0f0f0fu) | ((w[1] >> 6) & 0x03030303u) << 4;
    {
#if defined(RWKVX__AVX2)
        __m128i v = _mm_setr_epi32((int)sc[0], (int)sc[1], (int)mn[0], (int)mn[1]);
        __m128i pairs = _mm_unpacklo_epi8(v, v), mins = _mm_unpackhi_epi8(v, v); /* each value for 16 */
        k->sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(pairs, _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15)));
        k->o = _mm256_cvtepu8_epi16(mins);
#else
        unsigned char b[16];
        signed char s16[16];
        int16_t o16[16];
        int j;
        memcpy(b, sc, 8), memcpy(b + 8, mn, 8);
        for (j = 0; j < 8; j++) s16[2 * j] = s16[2 * j + 1] = (signed char)b[j], o16[2 * j] = o16[2 * j + 1] = b[8 + j];
        rwkvx__kscale_set(k, s16, o16);
#endif
    }
}

RWKVX__INLINE void rwkvx__kscales(const unsigned char *b, rwkvx_type type, rwkvx__kscale *k) {
    signed char sc[16];
    int16_t o[16];
    int g;
    switch (type) {
    case RWKVX_TYPE_Q2_K: /* scales[g]: low nibble the scale, high nibble the minimum */
        k->d = rwkvx__f16_at(b + 80), k->dm = rwkvx__f16_at(b + 82);
#if defined(RWKVX__AVX2)
        {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)b), low = _mm_set1_epi8(15);
            k->sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(_mm_and_si128(v, low), _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15)));
            k->o = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(v, 4), low));
        }
#else
        for (g = 0; g < 16; g++) sc[g] = (signed char)(b[g] & 15), o[g] = (int16_t)(b[g] >> 4);
        rwkvx__kscale_set(k, sc, o);
#endif
        break;
    case RWKVX_TYPE_Q3_K: /* d * scale(g) * (u - 4); the 6-bit fields of rwkvx__q3_k_scale, four at a time */
        k->d = k->dm = rwkvx__f16_at(b + 108);
        {
            uint32_t w[3], f[4];
            memcpy(w, b + 96, 12);
            f[0] = (w[0] & 0x0f0f0f0fu) | (w[2] & 0x03030303u) << 4;
            f[1] = (w[1] & 0x0f0f0f0fu) | (w[2] >> 2 & 0x03030303u) << 4;
            f[2] = (w[0] >> 4 & 0x0f0f0f0fu) | (w[2] >> 4 & 0x03030303u) << 4;
            f[3] = (w[1] >> 4 & 0x0f0f0f0fu) | (w[2] >> 6 & 0x03030303u) << 4;
#if defined(RWKVX__AVX2)
            {
                __m128i v = _mm_sub_epi8(_mm_setr_epi32((int)f[0], (int)f[1], (int)f[2], (int)f[3]), _mm_set1_epi8(32));
                k->sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(v, _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15)));
                k->o = _mm256_slli_epi16(_mm256_cvtepi8_epi16(v), 2);
            }
#else
            {
                unsigned char u[16];
                memcpy(u, f, 16);
                for (g = 0; g < 16; g++) sc[g] = (signed char)(u[g] - 32), o[g] = (int16_t)(4 * sc[g]);
                rwkvx__kscale_set(k, sc, o);
            }
#endif
        }
        break;
    case RWKVX_TYPE_Q6_K: /* d * scales[g] * (u - 32) */
        k->d = k->dm = rwkvx__f16_at(b + 208);
#if defined(RWKVX__AVX2)
        {
            __m128i s = _mm_loadu_si128((const __m128i *)(const void *)(b + 192));
            k->sc = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(s, _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15)));
            k->o = _mm256_slli_epi16(_mm256_cvtepi8_epi16(s), 5);
        }
#else
        for (g = 0; g < 16; g++) sc[g] = (signed char)b[192 + g], o[g] = (int16_t)(32 * sc[g]);
        rwkvx__kscale_set(k, sc, o);
#endif
        break;
    default:              /* Q4_K, Q5_K: (d * sc) * u - dmin * m */
        k->d = rwkvx__f16_at(b), k->dm = rwkvx__f16_at(b + 2);
        rwkvx__k4_scales(b + 4, k);
        break;
    }
    (void)sc, (void)o, (void)g;
}

/* 32 bytes, 8 int32 lanes and 8 floats: the operations of the K-type
   products (the AVX2 instructions in AVX2 and AVX-512 builds) */
#if defined(RWKVX__AVX2)
typedef __m256i rwkvx__b32;
typedef __m256i rwkvx__i8;
typedef __m256 rwkvx__f8;
RWKVX__INLINE rwkvx__b32 rwkvx__b32_load(const unsigned char *p) { return _mm256_loadu_si256((const __m256i *)(const void *)p); }
RWKVX__INLINE void rwkvx__b32_store(unsigned char *p, rwkvx__b32 b) { _mm256_storeu_si256((__m256i *)(void *)p, b); }
RWKVX__INLINE rwkvx__b32 rwkvx__b32_field(rwkvx__b32 b, int shift, int bits, int at) { /* ((b >> shift) & mask) << at, per byte */
    __m256i f = _mm256_and_si256(shift ? _mm256_srl_epi16(b, _mm_cvtsi32_si128(shift)) : b, _mm256_set1_epi8((char)((1 << bits) - 1)));
    return at ? _mm256_sll_epi16(f, _mm_cvtsi32_si128(at)) : f;
}
RWKVX__INLINE rwkvx__b32 rwkvx__b32_or(rwkvx__b32 a, rwkvx__b32 b) { return _mm256_or_si256(a, b); }
RWKVX__INLINE rwkvx__i8 rwkvx__i8_zero(void) { return _mm256_setzero_si256(); }
RWKVX__INLINE rwkvx__i8 rwkvx__i8_add(rwkvx__i8 a, rwkvx__i8 b) { return _mm256_add_epi32(a, b); }
/* acc + the lanes sc(2 j + l / 4) p(j, l) of group j: codes u times q */
RWKVX__INLINE rwkvx__i8 rwkvx__i8_dot(rwkvx__i8 acc, rwkvx__b32 u, const signed char *q, const rwkvx__kscale *k, int j) {
    __m256i p = _mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)(const void *)q));
    __m256i s = _mm256_shuffle_epi8(k->sc, _mm256_set1_epi16((short)((2 * j + 1) << 8 | 2 * j)));
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpwssd_epi32(acc, p, s);
#elif defined(__AVXVNNI__)
    return _mm256_dpwssd_avx_epi32(acc, p, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, s));
#endif
}
/* the lanes O(s, l) = o(2 l) bs(2 l) + o(2 l + 1) bs(2 l + 1) */
RWKVX__INLINE rwkvx__i8 rwkvx__koffset(const rwkvx__kscale *k, const int16_t *bsum) {
    return _mm256_madd_epi16(k->o, _mm256_loadu_si256((const __m256i *)(const void *)bsum));
}
RWKVX__INLINE rwkvx__f8 rwkvx__f8_zero(void) { return _mm256_setzero_ps(); }
RWKVX__INLINE rwkvx__f8 rwkvx__f8_load(const float *p) { return _mm256_loadu_ps(p); }
RWKVX__INLINE void rwkvx__f8_store(float *p, rwkvx__f8 a) { _mm256_storeu_ps(p, a); }
RWKVX__INLINE rwkvx__f8 rwkvx__f8_fma(float c, rwkvx__i8 i, rwkvx__f8 a) { return _mm256_fmadd_ps(_mm256_set1_ps(c), _mm256_cvtepi32_ps(i), a); }
RWKVX__INLINE float rwkvx__f8_tree(rwkvx__f8 s) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1)); /* l += l + 4 */
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));                                        /* l += l + 2 */
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));                  /* l += l + 1 */
}
#elif defined(RWKVX__NEON)
typedef struct { uint8x16_t lo, hi; } rwkvx__b32;
typedef struct { int32x4_t lo, hi; } rwkvx__i8;
typedef struct { float32x4_t lo, hi; } rwkvx__f8;
RWKVX__INLINE rwkvx__b32 rwkvx__b32_load(const unsigned char *p) {
    rwkvx__b32 b;
    b.lo = vld1q_u8(p), b.hi = vld1q_u8(p + 16);
    return b;
}
RWKVX__INLINE void rwkvx__b32_store(unsigned char *p, rwkvx__b32 b) { vst1q_u8(p, b.lo), vst1q_u8(p + 16, b.hi); }
RWKVX__INLINE rwkvx__b32 rwkvx__b32_field(rwkvx__b32 b, int shift, int bits, int at) {
    uint8x16_t mask = vdupq_n_u8((uint8_t)((1 << bits) - 1));
    int8x16_t right = vdupq_n_s8((int8_t)-shift), left = vdupq_n_s8((int8_t)at);
    b.lo = vshlq_u8(vandq_u8(vshlq_u8(b.lo, right), mask), left);
    b.hi = vshlq_u8(vandq_u8(vshlq_u8(b.hi, right), mask), left);
    return b;
}
RWKVX__INLINE rwkvx__b32 rwkvx__b32_or(rwkvx__b32 a, rwkvx__b32 b) {
    a.lo = vorrq_u8(a.lo, b.lo), a.hi = vorrq_u8(a.hi, b.hi);
    return a;
}
RWKVX__INLINE rwkvx__i8 rwkvx__i8_zero(void) {
    rwkvx__i8 z;
    z.lo = z.hi = vdupq_n_s32(0);
    return z;
}
RWKVX__INLINE rwkvx__i8 rwkvx__i8_add(rwkvx__i8 a, rwkvx__i8 b) {
    a.lo = vaddq_s32(a.lo, b.lo), a.hi = vaddq_s32(a.hi, b.hi);
    return a;
}
RWKVX__INLINE rwkvx__i8 rwkvx__i8_dot(rwkvx__i8 acc, rwkvx__b32 u, const signed char *q, const rwkvx__kscale *k, int j) {
    acc.lo = vmlaq_n_s32(acc.lo, rwkvx__idot16(vreinterpretq_s8_u8(u.lo), vld1q_s8(q)), k->sc[2 * j]);
    acc.hi = vmlaq_n_s32(acc.hi, rwkvx__idot16(vreinterpretq_s8_u8(u.hi), vld1q_s8(q + 16)), k->sc[2 * j + 1]);
    return acc;
}
RWKVX__INLINE rwkvx__i8 rwkvx__koffset(const rwkvx__kscale *k, const int16_t *bsum) {
    rwkvx__i8 o;
    o.lo = vpaddq_s32(vmull_s16(vld1_s16(k->o), vld1_s16(bsum)), vmull_s16(vld1_s16(k->o + 4), vld1_s16(bsum + 4)));
    o.hi = vpaddq_s32(vmull_s16(vld1_s16(k->o + 8), vld1_s16(bsum + 8)), vmull_s16(vld1_s16(k->o + 12), vld1_s16(bsum + 12)));
    return o;
}
RWKVX__INLINE rwkvx__f8 rwkvx__f8_zero(void) {
    rwkvx__f8 z;
    z.lo = z.hi = vdupq_n_f32(0.0f);
    return z;
}
RWKVX__INLINE rwkvx__f8 rwkvx__f8_load(const float *p) {
    rwkvx__f8 a;
    a.lo = vld1q_f32(p), a.hi = vld1q_f32(p + 4);
    return a;
}
RWKVX__INLINE void rwkvx__f8_store(float *p, rwkvx__f8 a) { vst1q_f32(p, a.lo), vst1q_f32(p + 4, a.hi); }
RWKVX__INLINE rwkvx__f8 rwkvx__f8_fma(float c, rwkvx__i8 i, rwkvx__f8 a) {
    a.lo = vfmaq_f32(a.lo, vdupq_n_f32(c), vcvtq_f32_s32(i.lo));
    a.hi = vfmaq_f32(a.hi, vdupq_n_f32(c), vcvtq_f32_s32(i.hi));
    return a;
}
RWKVX__INLINE float rwkvx__f8_tree(rwkvx__f8 a) {
    float32x4_t s = vaddq_f32(a.lo, a.hi);                       /* l += l + 4 */
    float32x2_t h = vadd_f32(vget_low_f32(s), vget_high_f32(s)); /* l += l + 2 */
    return vget_lane_f32(vpadd_f32(h, h), 0);                    /* l += l + 1 */
}
#else
typedef struct { unsigned char b[32]; } rwkvx__b32;
typedef struct { int32_t i[8]; } rwkvx__i8;
typedef struct { float f[8]; } rwkvx__f8;
RWKVX__INLINE rwkvx__b32 rwkvx__b32_load(const unsigned char *p) {
    rwkvx__b32 b;
    memcpy(b.b, p, 32);
    return b;
}
RWKVX__INLINE void rwkvx__b32_store(unsigned char *p, rwkvx__b32 b) { memcpy(p, b.b, 32); }
RWKVX__INLINE rwkvx__b32 rwkvx__b32_field(rwkvx__b32 b, int shift, int bits, int at) {
    int i;
    for (i = 0; i < 32; i++) b.b[i] = (unsigned char)(((b.b[i] >> shift) & ((1 << bits) - 1)) << at);
    return b;
}
RWKVX__INLINE rwkvx__b32 rwkvx__b32_or(rwkvx__b32 a, rwkvx__b32 b) {
    int i;
    for (i = 0; i < 32; i++) a.b[i] |= b.b[i];
    return a;
}
RWKVX__INLINE rwkvx__i8 rwkvx__i8_zero(void) {
    rwkvx__i8 z;
    memset(&z, 0, sizeof z);
    return z;
}
RWKVX__INLINE rwkvx__i8 rwkvx__i8_add(rwkvx__i8 a, rwkvx__i8 b) {
    int l;
    for (l = 0; l < 8; l++) a.i[l] += b.i[l];
    return a;
}
RWKVX__INLINE rwkvx__i8 rwkvx__i8_dot(rwkvx__i8 acc, rwkvx__b32 u, const signed char *q, const rwkvx__kscale *k, int j) {
    int l, i;
    for (l = 0; l < 8; l++) {
        int32_t p = 0;
        for (i = 0; i < 4; i++) p += u.b[4 * l + i] * q[4 * l + i];
        acc.i[l] += k->sc[2 * j + l / 4] * p;
    }
    return acc;
}
RWKVX__INLINE rwkvx__i8 rwkvx__koffset(const rwkvx__kscale *k, const int16_t *bsum) {
    rwkvx__i8 o;
    int l;
    for (l = 0; l < 8; l++) o.i[l] = k->o[2 * l] * bsum[2 * l] + k->o[2 * l + 1] * bsum[2 * l + 1];
    return o;
}
RWKVX__INLINE rwkvx__f8 rwkvx__f8_zero(void) {
    rwkvx__f8 z;
    memset(&z, 0, sizeof z);
    return z;
}
RWKVX__INLINE rwkvx__f8 rwkvx__f8_load(const float *p) {
    rwkvx__f8 a;
    memcpy(a.f, p, sizeof a.f);
    return a;
}
RWKVX__INLINE void rwkvx__f8_store(float *p, rwkvx__f8 a) { memcpy(p, a.f, sizeof a.f); }
RWKVX__INLINE rwkvx__f8 rwkvx__f8_fma(float c, rwkvx__i8 i, rwkvx__f8 a) {
    int l;
    for (l = 0; l < 8; l++) a.f[l] = fmaf(c, (float)i.i[l], a.f[l]);
    return a;
}
RWKVX__INLINE float rwkvx__f8_tree(rwkvx__f8 a) {
    int h, l;
    for (h = 4; h > 0; h /= 2)
        for (l = 0; l < h; l++) a.f[l] += a.f[l + h];
    return a.f[0];
}
#endif

/* The unsigned codes u of group j (values 32 j .. 32 j + 31) of a Q2_K or
   Q3_K super-block at b (the layouts of the group loaders above; the other
   K types are packed at load: see "The K types packed") */
RWKVX__INLINE rwkvx__b32 rwkvx__kcodes(const unsigned char *b, rwkvx_type type, int j) {
    int n = j / 4, jj = j % 4;
    if (type == RWKVX_TYPE_Q2_K) return rwkvx__b32_field(rwkvx__b32_load(b + 16 + 32 * n), 2 * jj, 2, 0);
    return rwkvx__b32_or(rwkvx__b32_field(rwkvx__b32_load(b + 32 + 32 * n), 2 * jj, 2, 0), /* Q3_K */
                         rwkvx__b32_field(rwkvx__b32_load(b), 4 * n + jj, 1, 2));
}

/* A super-block's lanes I for one input block, its codes read from the
   block at b (decode); or for RWKVX__KUT input blocks, from their unpacked
   copy u (prefill) */
RWKVX__INLINE rwkvx__i8 rwkvx__klanes(const unsigned char *b, rwkvx_type type, const rwkvx__kscale *k, const rwkvx__q8k *x) {
    rwkvx__i8 I[2];
    int j;
    I[0] = I[1] = rwkvx__i8_zero(); /* two chains (integer sums: the same lanes) */
    RWKVX__UNROLL for (j = 0; j < 8; j++) I[j % 2] = rwkvx__i8_dot(I[j % 2], rwkvx__kcodes(b, type, j), x->q + 32 * j, k, j);
    return rwkvx__i8_add(I[0], I[1]);
}
#define RWKVX__KUT 2               /* tokens a prefill multiplies with a row's codes at once (4: no faster, spills) */
/* ... for U input blocks x, x + stride, ...: the codes read once for all of
   them, from the block at b of `type`, or from its unpacked copy when
   `type` is RWKVX_TYPE_F32 */
RWKVX__INLINE void rwkvx__klanes_of(const unsigned char *b, rwkvx_type type, const rwkvx__kscale *k, const rwkvx__q8k *x, int64_t stride,
                                    int U, rwkvx__i8 *I) {
    int j, t;
    RWKVX__UNROLL for (t = 0; t < U; t++) I[t] = rwkvx__i8_zero();
    RWKVX__UNROLL for (j = 0; j < 8; j++) {
        rwkvx__b32 codes = type == RWKVX_TYPE_F32 ? rwkvx__b32_load(b + 32 * j) : rwkvx__kcodes(b, type, j);
        RWKVX__UNROLL for (t = 0; t < U; t++) I[t] = rwkvx__i8_dot(I[t], codes, x[t * stride].q + 32 * j, k, j);
    }
}
RWKVX__INLINE void rwkvx__klanes_tokens(const unsigned char *u, const rwkvx__kscale *k, const rwkvx__q8k *x, int64_t stride, int U,
                                        rwkvx__i8 *I) { /* from the unpacked copy u */
    rwkvx__klanes_of(u, RWKVX_TYPE_F32, k, x, stride, U, I);
}

/* ... and its part of the rule: a += d dx I, b += dm dx O */
RWKVX__INLINE void rwkvx__kfold(rwkvx__i8 I, const rwkvx__kscale *k, const rwkvx__q8k *x, rwkvx__f8 *a, rwkvx__f8 *b) {
    *a = rwkvx__f8_fma(k->d * x->d, I, *a);
    *b = rwkvx__f8_fma(k->dm * x->d, rwkvx__koffset(k, x->bsum), *b);
}

/* The T input rows of a job, each w->cols values (a multiple of the block),
   into q: row t's blocks at q + t * (cols / block), rwkvx__q8x or rwkvx__q8k */
static void rwkvx__quantize_input(const rwkvx__job *job, int T, void *q) {
    int block = rwkvx__int_type(job->w->type);
    int64_t blocks = job->w->cols / block, g;
    int t;
    for (t = 0; t < T; t++)
        for (g = 0; g < blocks; g++) {
            const float *x = job->x + (int64_t)t * job->ldx + g * block;
            if (block == 32) rwkvx__quantize_block(x, (rwkvx__q8x *)q + (int64_t)t * blocks + g);
            else rwkvx__quantize_k(x, (rwkvx__q8k *)q + (int64_t)t * blocks + g);
        }
}

/* Rows o0 .. o0 + RWKVX__ROWS - 1 of a K type's integer product, all T
   tokens, from the quantized inputs q (one instance per type). Decode reads
   each super-block's codes straight into registers, one row after the other
   (four rows side by side spilled registers: measured slower), asking for
   the weights RWKVX__KAHEAD bytes ahead as it goes. Prefill unpacks the
   rows' codes and scales once per slice of RWKVX__KSLICE super-blocks into
   the scratch after q (4 x 8 x 352 bytes: they stay in L1 cache) and
   multiplies each super-block's codes, loaded once, with RWKVX__KUT tokens,
   keeping each output's sums (a, b) there between super-blocks. */
#define RWKVX__KSLICE 8
#ifndef RWKVX__KAHEAD
#define RWKVX__KAHEAD 8192   /* decode asks for the weights this many bytes ahead */
#endif
/* Decode's request for the super-block at b of row `row` RWKVX__KAHEAD bytes
   (whole rows) further on, if the matrix goes that far */
RWKVX__INLINE void rwkvx__kprefetch(const rwkvx__job *job, int64_t row, const unsigned char *b, size_t bytes, size_t rb) {
#if defined(__GNUC__) || defined(__clang__)
    int64_t far = (RWKVX__KAHEAD + (int64_t)rb - 1) / (int64_t)rb;
    const char *pf = (const char *)b + (size_t)far * rb;
    if (row + far >= job->w->rows) return;
    __builtin_prefetch(pf, 0, RWKVX__AHEAD_LOCALITY);
    __builtin_prefetch(pf + 64, 0, RWKVX__AHEAD_LOCALITY);
    if (bytes > 128) __builtin_prefetch(pf + 128, 0, RWKVX__AHEAD_LOCALITY);
    if (bytes > 192) __builtin_prefetch(pf + 192, 0, RWKVX__AHEAD_LOCALITY);
#else
    (void)job, (void)row, (void)b, (void)bytes, (void)rb;
#endif
}
typedef struct {
    rwkvx__kscale k;
    unsigned char u[256];
} rwkvx__kunpacked;
typedef char rwkvx__kscratch_fits[sizeof(rwkvx__q8k) <= 73 * 4 &&
                                  (RWKVX__ROWS * RWKVX__KSLICE * sizeof(rwkvx__kunpacked) + 64) / 4 + RWKVX__BATCH * RWKVX__ROWS * 16 <= 8192
                                  ? 1 : -1]; /* see rwkvx__work_floats */
RWKVX__INLINE void rwkvx__kblock(const rwkvx__job *job, int64_t o0, int64_t rows, int T, rwkvx__q8k *q, rwkvx_type type) {
    int64_t nb = job->w->cols / 256, s, s0;
    size_t rb = rwkvx__bytes_of_row(type, job->w->cols), bytes = rwkvx__span_bytes(type);
    const unsigned char *row[RWKVX__ROWS];
    rwkvx__kscale k;
    int t, r;
    for (r = 0; r < RWKVX__ROWS; r++) /* rows past the matrix: row o0 again, dropped */
        row[r] = (const unsigned char *)job->w->data + (size_t)(o0 + (r < rows ? r : 0)) * rb;
    if (T == 1) {
        for (r = 0; r < rows; r++) {
            rwkvx__f8 sum = rwkvx__f8_zero(), offsets = rwkvx__f8_zero();
            for (s = 0; s < nb; s++) {
                const unsigned char *b = row[r] + (size_t)s * bytes;
                rwkvx__kprefetch(job, o0 + r, b, bytes, rb);
                rwkvx__kscales(b, type, &k);
                rwkvx__kfold(rwkvx__klanes(b, type, &k, q + s), &k, q + s, &sum, &offsets);
            }
            job->y[o0 + r] = rwkvx__f8_tree(sum) - rwkvx__f8_tree(offsets);
        }
        return;
    }
    if (T == RWKVX__KUT) { /* a few tokens: as decode, each super-block's codes unpacked once for all */
        for (r = 0; r < rows; r++) {
            rwkvx__f8 sum[RWKVX__KUT], offsets[RWKVX__KUT];
            int u;
            RWKVX__UNROLL for (u = 0; u < RWKVX__KUT; u++) sum[u] = offsets[u] = rwkvx__f8_zero();
            for (s = 0; s < nb; s++) {
                const unsigned char *b = row[r] + (size_t)s * bytes;
                rwkvx__i8 I[RWKVX__KUT];
                rwkvx__kprefetch(job, o0 + r, b, bytes, rb);
                rwkvx__kscales(b, type, &k);
                rwkvx__klanes_of(b, type, &k, q + s, nb, RWKVX__KUT, I);
                RWKVX__UNROLL for (u = 0; u < RWKVX__KUT; u++) rwkvx__kfold(I[u], &k, q + u * nb + s, &sum[u], &offsets[u]);
            }
            RWKVX__UNROLL for (u = 0; u < RWKVX__KUT; u++)
                job->y[(int64_t)u * job->ldy + o0 + r] = rwkvx__f8_tree(sum[u]) - rwkvx__f8_tree(offsets[u]);
        }
        return;
    }
    rwkvx__prefetch_rows(job->w, o0 + 2 * RWKVX__ROWS); /* as the f32 prefill does */
    {
        uintptr_t after = (uintptr_t)(q + (int64_t)T * nb);
        rwkvx__kunpacked *panel = (rwkvx__kunpacked *)(after + (64 - after % 64) % 64);
        float *acc = (float *)(void *)(panel + RWKVX__ROWS * RWKVX__KSLICE);
        for (s0 = 0; s0 < nb; s0 += RWKVX__KSLICE) {
            int64_t n = nb - s0 < RWKVX__KSLICE ? nb - s0 : RWKVX__KSLICE;
            int first = s0 == 0, last = s0 + n == nb, j;
            for (r = 0; r < RWKVX__ROWS; r++)
                for (s = 0; s < n; s++) {
                    const unsigned char *b = row[r] + (size_t)(s0 + s) * bytes;
                    rwkvx__kunpacked *p = &panel[r * RWKVX__KSLICE + s];
                    rwkvx__kscales(b, type, &p->k);
                    RWKVX__UNROLL for (j = 0; j < 8; j++) rwkvx__b32_store(p->u + 32 * j, rwkvx__kcodes(b, type, j));
                }
            for (t = 0; t < T; t += RWKVX__KUT) /* a row's codes, once in registers, for KUT tokens */
                for (r = 0; r < RWKVX__ROWS; r++) {
                    rwkvx__f8 A[RWKVX__KUT], O[RWKVX__KUT];
                    int u, U = T - t < RWKVX__KUT ? T - t : RWKVX__KUT;
                    float *sums = acc + ((size_t)(t / RWKVX__KUT) * RWKVX__ROWS + (size_t)r) * 16 * RWKVX__KUT;
                    for (u = 0; u < RWKVX__KUT; u++) {
                        A[u] = first ? rwkvx__f8_zero() : rwkvx__f8_load(sums + 16 * u);
                        O[u] = first ? rwkvx__f8_zero() : rwkvx__f8_load(sums + 16 * u + 8);
                    }
                    for (s = 0; s < n; s++) {
                        const rwkvx__kunpacked *p = &panel[r * RWKVX__KSLICE + s];
                        const rwkvx__q8k *x = q + (int64_t)t * nb + s0 + s;
                        rwkvx__i8 I[RWKVX__KUT];
                        if (U == RWKVX__KUT) {
                            rwkvx__klanes_tokens(p->u, &p->k, x, nb, RWKVX__KUT, I);
                            RWKVX__UNROLL for (u = 0; u < RWKVX__KUT; u++) rwkvx__kfold(I[u], &p->k, x + u * nb, &A[u], &O[u]);
                        } else
                            for (u = 0; u < U; u++) {
                                rwkvx__klanes_tokens(p->u, &p->k, x + u * nb, nb, 1, I + u);
                                rwkvx__kfold(I[u], &p->k, x + u * nb, &A[u], &O[u]);
                            }
                    }
                    for (u = 0; u < U; u++)
                        if (!last) rwkvx__f8_store(sums + 16 * u, A[u]), rwkvx__f8_store(sums + 16 * u + 8, O[u]);
                        else if (r < rows) job->y[(int64_t)(t + u) * job->ldy + o0 + r] = rwkvx__f8_tree(A[u]) - rwkvx__f8_tree(O[u]);
                }
        }
    }
}
static void rwkvx__row_block_k(const rwkvx__job *job, int64_t o0, int64_t rows, int T, rwkvx__q8k *q) {
    if (job->w->type == RWKVX_TYPE_Q2_K) rwkvx__kblock(job, o0, rows, T, q, RWKVX_TYPE_Q2_K);
    else rwkvx__kblock(job, o0, rows, T, q, RWKVX_TYPE_Q3_K);
}

/* ---- The K types packed: Q4_K, Q5_K and Q6_K ----
   The K types of the files in circulation (Q4_K_M is Q4_K matrices and a
   Q6_K head) are packed at load like the 32-value types: a packed block
   holds 16 rows, and its group s is their super-block s (256 columns,
   rwkvx__pgroup = 16 times the type's bytes), the file's block read as
   4-byte units, unit k of row r at 64 k + 4 r (one vector of 16 lanes per
   unit, a lane per row); Q6_K's f16 d, the 2 bytes past its 52 units, as
   16 f16 after them. So lane r of unit k holds row r's bytes 4 k .. 4 k + 3:
   - Q4_K: unit 0 is (d, dmin), units 1-3 the 12 bytes of 6-bit scales and
     minimums, units 4 + 8 c + k (c < 4, k < 8) the nibbles of columns
     64 c + 4 k .. + 3 (low) and 64 c + 32 + 4 k .. (high);
   - Q5_K: as Q4_K with the fifth bits in units 4 + k (bit j: 32-value
     sub-block j) and the nibbles from unit 12 on;
   - Q6_K: units 16 n + 8 h + k the low 4 bits (n < 2 the half, h the pair
     of 32-value sub-blocks, nibble its member), units 32 + 8 n + k the two
     high bits of each sub-block of the half, units 48 + v the signed scales
     of the 16-value sub-blocks 4 v .. 4 v + 3.
   The codes u (0 .. 15, 31, 63: unsigned, as vpdpbusd takes them) of
   32-value sub-block j, columns 4 k .. 4 k + 3 of it, are one unit's
   field (rwkvx__kchunk), and each lane sums one row.

   The summation rule of these three types (every T, instruction set and
   thread count): row o's super-block s gives the exact integers
   I(s) = sum over its 16-value sub-blocks g of sc(g) * sum over i in g of
   w[i] * q[i] (w the signed code: Q4_K's and Q5_K's u, Q6_K's u - 32; sc(g)
   Q6_K's scale of g, Q4_K's and Q5_K's of the 32-value sub-block g / 2)
   and, for Q4_K and Q5_K, M(s) = sum over g of m(g) * bs(g) (m the 6-bit
   minimum of sub-block g / 2; bs(g) the sum of q over g); from s = 0,
   s = fma(d * dx, (float)I(s), s), then s = fma(-(dmin * dx), (float)M(s), s)
   (|I| < 2^28, |M| < 2^21: int32). */
RWKVX__INLINE int rwkvx__kmin(rwkvx_type type) { return type != RWKVX_TYPE_Q6_K; } /* M(s) and dmin */

/* Portable C, the reference: row r's pieces of the packed super-block at p */
RWKVX__INLINE uint32_t rwkvx__kunit_of(const unsigned char *p, int k, int r) {
    uint32_t v;
    memcpy(&v, p + 64 * k + 4 * r, 4);
    return v;
}
RWKVX__INLINE int rwkvx__kcode_ref(rwkvx_type type, const unsigned char *p, int r, int i) { /* w of column i */
    int j = i / 32, k = i % 32 / 4, at = 8 * (i % 4);
    if (type == RWKVX_TYPE_Q6_K) {
        int n = j / 4, jj = j % 4;
        int low = (int)(rwkvx__kunit_of(p, 16 * n + 8 * (jj % 2) + k, r) >> at >> 4 * (jj / 2) & 15);
        int high = (int)(rwkvx__kunit_of(p, 32 + 8 * n + k, r) >> at >> 2 * jj & 3);
        return (low | high << 4) - 32;
    } else {
        int first = type == RWKVX_TYPE_Q5_K ? 12 : 4;
        int u = (int)(rwkvx__kunit_of(p, first + 8 * (j / 2) + k, r) >> at >> 4 * (j % 2) & 15);
        if (type == RWKVX_TYPE_Q5_K) u |= (int)(rwkvx__kunit_of(p, 4 + k, r) >> at >> j & 1) << 4;
        return u;
    }
}
/* Q4_K's and Q5_K's scale (minimum: 1) of 32-value sub-block j, the bit
   layout of rwkvx__k4_scale_min */
RWKVX__INLINE int rwkvx__k4_field_ref(const unsigned char *p, int r, int j, int minimum) {
    uint32_t w0 = rwkvx__kunit_of(p, 1, r), w1 = rwkvx__kunit_of(p, 2, r), w2 = rwkvx__kunit_of(p, 3, r);
    uint32_t lo = minimum ? w1 : w0, f;
    f = j < 4 ? lo & 0x3f3f3f3fu : (w2 >> 4 * minimum & 0x0f0f0f0fu) | (lo >> 6 & 0x03030303u) << 4;
    return (int)(f >> 8 * (j % 4) & 0xff);
}
RWKVX__INLINE int rwkvx__kscale_ref(rwkvx_type type, const unsigned char *p, int r, int g) { /* sc(g) */
    if (type == RWKVX_TYPE_Q6_K) return (signed char)(rwkvx__kunit_of(p, 48 + g / 4, r) >> 8 * (g % 4) & 0xff);
    return rwkvx__k4_field_ref(p, r, g / 2, 0);
}
RWKVX__INLINE float rwkvx__kd_ref(rwkvx_type type, const unsigned char *p, int r, int minimum) { /* d, dmin */
    return rwkvx__f16_at(type == RWKVX_TYPE_Q6_K ? p + 64 * 52 + 2 * r : p + 4 * r + 2 * minimum);
}

/* Byte patterns for vpshufb (and NEON's tbl) within each 4-byte lane: byte
   b of the lane, or 0 for -1 */
#define RWKVX__LANE4(a, b, c, d)                                                                                                      \
    (char)((a) < 0 ? -128 : (a)), (char)((b) < 0 ? -128 : (b)), (char)((c) < 0 ? -128 : (c)), (char)((d) < 0 ? -128 : (d)),              \
    (char)((a) < 0 ? -128 : 4 + (a)), (char)((b) < 0 ? -128 : 4 + (b)), (char)((c) < 0 ? -128 : 4 + (c)), (char)((d) < 0 ? -128 : 4 + (d)), \
    (char)((a) < 0 ? -128 : 8 + (a)), (char)((b) < 0 ? -128 : 8 + (b)), (char)((c) < 0 ? -128 : 8 + (c)), (char)((d) < 0 ? -128 : 8 + (d)), \
    (char)((a) < 0 ? -128 : 12 + (a)), (char)((b) < 0 ? -128 : 12 + (b)), (char)((c) < 0 ? -128 : 12 + (c)), (char)((d) < 0 ? -128 : 12 + (d))

/* Rows 16 b .. 16 b + 15 (the packed block at blk, ng super-blocks) times U
   inputs x[u], by the rule: out[16 u + r]. One vector type V of lanes for
   16 rows (AVX-512), 8 (AVX2: two of them) or 4 (NEON: four), and its
   operations: */
#if defined(RWKVX__AVX512) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
#define RWKVX__KPARTS 1
typedef __m512i rwkvx__kvec;
typedef __m512 rwkvx__kfvec;
#define RWKVX__KV_LOAD(p) _mm512_loadu_si512((const void *)(p))
#define RWKVX__KV_SHUF(v, a, b, c, d) _mm512_shuffle_epi8(v, _mm512_broadcast_i32x4(_mm_setr_epi8(RWKVX__LANE4(a, b, c, d))))
#define RWKVX__KV_BYTES(n) _mm512_set1_epi8((char)(n))
#define RWKVX__KV_AND _mm512_and_si512
#define RWKVX__KV_OR _mm512_or_si512
#define RWKVX__KV_ADD _mm512_add_epi32
#define RWKVX__KV_SUB _mm512_sub_epi32
#define RWKVX__KV_MUL _mm512_mullo_epi32
#define RWKVX__KV_ZERO _mm512_setzero_si512
#define RWKVX__KV_SRL16(v, n) _mm512_srl_epi16(v, _mm_cvtsi32_si128(n))
#define RWKVX__KV_SLL16(v, n) _mm512_sll_epi16(v, _mm_cvtsi32_si128(n))
#define RWKVX__KV_SRL32(v, n) _mm512_srli_epi32(v, n)
#define RWKVX__KV_SLL32(v, n) _mm512_slli_epi32(v, n)
#define RWKVX__KV_SRA16_8(v) _mm512_srai_epi16(v, 8)
#define RWKVX__KV_SRA32_24(v) _mm512_srai_epi32(v, 24)
#define RWKVX__KV_DOT(acc, u, x4, sc) _mm512_dpbusd_epi32(acc, u, _mm512_set1_epi32(x4)) /* + 4 u q per lane */
#define RWKVX__KFOLD 0

#define RWKVX__KV_DOT16(acc, pair, x2) _mm512_dpwssd_epi32(acc, pair, _mm512_set1_epi32(x2))   /* + 2 16-bit products */
#define RWKVX__KF_ZERO _mm512_setzero_ps
#define RWKVX__KF_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define RWKVX__KF_FNMA(a, b, c) _mm512_fnmadd_ps(a, b, c)
#define RWKVX__KF_SCALE(v, s) _mm512_mul_ps(v, _mm512_set1_ps(s))
#define RWKVX__KF_INT(v) _mm512_cvtepi32_ps(v)
#define RWKVX__KF_STORE(p, v) _mm512_storeu_ps(p, v)
RWKVX__INLINE void rwkvx__kd_vec(rwkvx_type type, const unsigned char *p, int part, rwkvx__kfvec *d, rwkvx__kfvec *dm) {
    (void)part;
    if (type == RWKVX_TYPE_Q6_K) *d = *dm = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p + 64 * 52)));
    else {
        __m512i u = _mm512_loadu_si512((const void *)p);
        *d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(u)), *dm = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(u, 16)));
    }
}
#elif defined(RWKVX__AVX2)
#define RWKVX__KPARTS 2
typedef __m256i rwkvx__kvec;
typedef __m256 rwkvx__kfvec;
#define RWKVX__KV_LOAD(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define RWKVX__KV_SHUF(v, a, b, c, d) _mm256_shuffle_epi8(v, _mm256_setr_epi8(RWKVX__LANE4(a, b, c, d), RWKVX__LANE4(a, b, c, d)))
#define RWKVX__KV_BYTES(n) _mm256_set1_epi8((char)(n))
#define RWKVX__KV_AND _mm256_and_si256
#define RWKVX__KV_OR _mm256_or_si256
#define RWKVX__KV_ADD _mm256_add_epi32
#define RWKVX__KV_SUB _mm256_sub_epi32
#define RWKVX__KV_MUL _mm256_mullo_epi32
#define RWKVX__KV_ZERO _mm256_setzero_si256
#define RWKVX__KV_SRL16(v, n) _mm256_srl_epi16(v, _mm_cvtsi32_si128(n))
#define RWKVX__KV_SLL16(v, n) _mm256_sll_epi16(v, _mm_cvtsi32_si128(n))
#define RWKVX__KV_SRL32(v, n) _mm256_srli_epi32(v, n)
#define RWKVX__KV_SLL32(v, n) _mm256_slli_epi32(v, n)
#define RWKVX__KV_SRA16_8(v) _mm256_srai_epi16(v, 8)
#define RWKVX__KV_SRA32_24(v) _mm256_srai_epi32(v, 24)
#if RWKVX__DPBUSD && defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define RWKVX__KV_DOT(acc, u, x4, sc) _mm256_dpbusd_epi32(acc, u, _mm256_set1_epi32(x4))
#define RWKVX__KFOLD 0
#define RWKVX__KV_DOT16(acc, pair, x2) _mm256_dpwssd_epi32(acc, pair, _mm256_set1_epi32(x2))
#elif RWKVX__DPBUSD
#define RWKVX__KV_DOT(acc, u, x4, sc) _mm256_dpbusd_avx_epi32(acc, u, _mm256_set1_epi32(x4))
#define RWKVX__KFOLD 0
#define RWKVX__KV_DOT16(acc, pair, x2) _mm256_dpwssd_avx_epi32(acc, pair, _mm256_set1_epi32(x2))
#else /* vpmaddubsw (2 x 63 x 127 < 2^15: no saturation), then vpmaddwd with the scale */
#define RWKVX__KV_DOT(acc, u, x4, sc) _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_set1_epi32(x4)), sc))
#define RWKVX__KFOLD 1
#define RWKVX__KV_DOT16(acc, pair, x2) _mm256_add_epi32(acc, _mm256_madd_epi16(pair, _mm256_set1_epi32(x2)))
#endif
#define RWKVX__KF_ZERO _mm256_setzero_ps
#define RWKVX__KF_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define RWKVX__KF_FNMA(a, b, c) _mm256_fnmadd_ps(a, b, c)
#define RWKVX__KF_SCALE(v, s) _mm256_mul_ps(v, _mm256_set1_ps(s))
#define RWKVX__KF_INT(v) _mm256_cvtepi32_ps(v)
#define RWKVX__KF_STORE(p, v) _mm256_storeu_ps(p, v)
RWKVX__INLINE void rwkvx__kd_vec(rwkvx_type type, const unsigned char *p, int part, rwkvx__kfvec *d, rwkvx__kfvec *dm) {
    if (type == RWKVX_TYPE_Q6_K) *d = *dm = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p + 64 * 52 + 16 * part)));
    else { /* lanes (d, dmin): d of 8 rows in the low half, dmin in the high half */
        __m256i u = _mm256_loadu_si256((const __m256i *)(const void *)(p + 32 * part)), low = _mm256_set1_epi32(0xffff);
        __m256i both = _mm256_permute4x64_epi64(_mm256_packus_epi32(_mm256_and_si256(u, low), _mm256_srli_epi32(u, 16)), 0xd8);
        *d = _mm256_cvtph_ps(_mm256_castsi256_si128(both)), *dm = _mm256_cvtph_ps(_mm256_extracti128_si256(both, 1));
    }
}
#elif defined(RWKVX__NEON)
#define RWKVX__KPARTS 4
typedef int32x4_t rwkvx__kvec;
typedef float32x4_t rwkvx__kfvec;
RWKVX__INLINE int32x4_t rwkvx__kv_shuf(int32x4_t v, int a, int b, int c, int d) {
    const int8_t lane[16] = {RWKVX__LANE4(a, b, c, d)};
    return vreinterpretq_s32_u8(vqtbl1q_u8(vreinterpretq_u8_s32(v), vreinterpretq_u8_s8(vld1q_s8(lane))));
}
RWKVX__INLINE int32x4_t rwkvx__kv_shift16(int32x4_t v, int n) { /* left by n, right by -n, in 16-bit lanes */
    return vreinterpretq_s32_u16(vshlq_u16(vreinterpretq_u16_s32(v), vdupq_n_s16((int16_t)n)));
}
RWKVX__INLINE int32x4_t rwkvx__kv_dot(int32x4_t acc, int32x4_t u, int32_t x4) {
    return rwkvx__pstep(acc, vreinterpretq_s8_s32(u), vreinterpretq_s8_s32(vdupq_n_s32(x4))); /* codes <= 63: signed bytes too */
}
RWKVX__INLINE int32x4_t rwkvx__kv_dot16(int32x4_t acc, int32x4_t pair, int32_t x2) {
    int16x8_t p = vreinterpretq_s16_s32(pair), x = vreinterpretq_s16_s32(vdupq_n_s32(x2));
    int32x4_t lo = vmull_s16(vget_low_s16(p), vget_low_s16(x)), hi = vmull_s16(vget_high_s16(p), vget_high_s16(x));
    return vaddq_s32(acc, vpaddq_s32(lo, hi));
}
#define RWKVX__KV_LOAD(p) vreinterpretq_s32_u8(vld1q_u8(p))
#define RWKVX__KV_SHUF(v, a, b, c, d) rwkvx__kv_shuf(v, a, b, c, d)
#define RWKVX__KV_BYTES(n) vreinterpretq_s32_u8(vdupq_n_u8((uint8_t)(n)))
#define RWKVX__KV_AND vandq_s32
#define RWKVX__KV_OR vorrq_s32
#define RWKVX__KV_ADD vaddq_s32
#define RWKVX__KV_SUB vsubq_s32
#define RWKVX__KV_MUL vmulq_s32
#define RWKVX__KV_ZERO() vdupq_n_s32(0)
#define RWKVX__KV_SRL16(v, n) rwkvx__kv_shift16(v, -(n))
#define RWKVX__KV_SLL16(v, n) rwkvx__kv_shift16(v, n)
#define RWKVX__KV_SRL32(v, n) vreinterpretq_s32_u32(vshrq_n_u32(vreinterpretq_u32_s32(v), n))
#define RWKVX__KV_SLL32(v, n) vshlq_n_s32(v, n)
#define RWKVX__KV_SRA16_8(v) vreinterpretq_s32_s16(vshrq_n_s16(vreinterpretq_s16_s32(v), 8))
#define RWKVX__KV_SRA32_24(v) vshrq_n_s32(v, 24)
#define RWKVX__KV_DOT(acc, u, x4, sc) rwkvx__kv_dot(acc, u, x4)
#define RWKVX__KFOLD 0
#define RWKVX__KV_DOT16(acc, pair, x2) rwkvx__kv_dot16(acc, pair, x2)
#define RWKVX__KF_ZERO() vdupq_n_f32(0.0f)
#define RWKVX__KF_FMA(a, b, c) vfmaq_f32(c, a, b)
#define RWKVX__KF_FNMA(a, b, c) vfmsq_f32(c, a, b)
#define RWKVX__KF_SCALE(v, s) vmulq_n_f32(v, s)
#define RWKVX__KF_INT(v) vcvtq_f32_s32(v)
#define RWKVX__KF_STORE(p, v) vst1q_f32(p, v)
RWKVX__INLINE void rwkvx__kd_vec(rwkvx_type type, const unsigned char *p, int part, rwkvx__kfvec *d, rwkvx__kfvec *dm) {
    if (type == RWKVX_TYPE_Q6_K) *d = *dm = vcvt_f32_f16(vreinterpret_f16_u8(vld1_u8(p + 64 * 52 + 8 * part)));
    else {
        uint16x4x2_t both = vld2_u16((const uint16_t *)(const void *)(p + 16 * part)); /* d and dmin, deinterleaved */
        *d = vcvt_f32_f16(vreinterpret_f16_u16(both.val[0])), *dm = vcvt_f32_f16(vreinterpret_f16_u16(both.val[1]));
    }
}
#endif

#if defined(RWKVX__KPARTS)
/* unit k of part `part` of the rows */
#define RWKVX__KUNIT(p, k, part) RWKVX__KV_LOAD((p) + 64 * (k) + (64 / RWKVX__KPARTS) * (part))
/* the codes u of 32-value sub-block j, columns 4 k .. 4 k + 3 */
RWKVX__INLINE rwkvx__kvec rwkvx__kchunk(rwkvx_type type, const unsigned char *p, int part, int j, int k) {
    rwkvx__kvec low = RWKVX__KV_BYTES(15);
    if (type == RWKVX_TYPE_Q6_K) {
        int n = j / 4, jj = j % 4, up = 4 - 2 * jj; /* the two high bits to bits 4, 5 */
        rwkvx__kvec ql = RWKVX__KUNIT(p, 16 * n + 8 * (jj % 2) + k, part), qh = RWKVX__KUNIT(p, 32 + 8 * n + k, part);
        ql = RWKVX__KV_AND(jj / 2 ? RWKVX__KV_SRL16(ql, 4) : ql, low);
        qh = RWKVX__KV_AND(up >= 0 ? RWKVX__KV_SLL16(qh, up) : RWKVX__KV_SRL16(qh, -up), RWKVX__KV_BYTES(0x30));
        return RWKVX__KV_OR(ql, qh);
    } else {
        rwkvx__kvec u = RWKVX__KUNIT(p, (type == RWKVX_TYPE_Q5_K ? 12 : 4) + 8 * (j / 2) + k, part);
        u = RWKVX__KV_AND(j % 2 ? RWKVX__KV_SRL16(u, 4) : u, low);
        if (type == RWKVX_TYPE_Q5_K) {
            rwkvx__kvec h = RWKVX__KUNIT(p, 4 + k, part); /* bit j to bit 4 */
            u = RWKVX__KV_OR(u, RWKVX__KV_AND(j <= 4 ? RWKVX__KV_SLL16(h, 4 - j) : RWKVX__KV_SRL16(h, j - 4), RWKVX__KV_BYTES(0x10)));
        }
        return u;
    }
}
/* Q4_K's and Q5_K's scales (minimums: 1) of sub-blocks 0-3 (high: 4-7), a byte each in the lanes */
RWKVX__INLINE rwkvx__kvec rwkvx__k4_fields(const unsigned char *p, int part, int minimum, int upper) {
    rwkvx__kvec lo = RWKVX__KUNIT(p, 1 + minimum, part), high;
    if (!upper) return RWKVX__KV_AND(lo, RWKVX__KV_BYTES(0x3f));
    lo = RWKVX__KV_SLL32(RWKVX__KV_AND(RWKVX__KV_SRL32(lo, 6), RWKVX__KV_BYTES(3)), 4);
    high = minimum ? RWKVX__KV_SRL32(RWKVX__KUNIT(p, 3, part), 4) : RWKVX__KUNIT(p, 3, part);
    return RWKVX__KV_OR(RWKVX__KV_AND(high, RWKVX__KV_BYTES(15)), lo);
}
/* byte b of the lanes of f as 32 bits: unsigned; signed (Q6_K's scales) */
#define RWKVX__KBYTE(f, b) RWKVX__KV_SHUF(f, b, -1, -1, -1)
#define RWKVX__KSBYTE(f, b) RWKVX__KV_SRA32_24(RWKVX__KV_SHUF(f, -1, -1, -1, b))

/* The scale of 32-value sub-block j (Q6_K: of its half h) in each lane:
   as 32 bits, or with RWKVX__KFOLD twice in 16 bits (vpmaddwd multiplies
   the products' pairs by it) */
RWKVX__INLINE rwkvx__kvec rwkvx__kscale_vec(rwkvx_type type, const unsigned char *p, int part, int j, int h, rwkvx__kvec sc_lo,
                                            rwkvx__kvec sc_hi) {
    int b = type == RWKVX_TYPE_Q6_K ? 2 * (j % 2) + h : j % 4; /* the scale's byte in its lane */
    rwkvx__kvec f = type == RWKVX_TYPE_Q6_K ? RWKVX__KUNIT(p, 48 + j / 2, part) : j < 4 ? sc_lo : sc_hi;
#if RWKVX__KFOLD
    return type == RWKVX_TYPE_Q6_K ? RWKVX__KV_SRA16_8(RWKVX__KV_SHUF(f, -1, b, -1, b)) : RWKVX__KV_SHUF(f, b, -1, b, -1);
#else
    return type == RWKVX_TYPE_Q6_K ? RWKVX__KSBYTE(f, b) : RWKVX__KBYTE(f, b);
#endif
}

/* One super-block (at p, its part of the rows) times U inputs: the lanes of
   I, and of M (Q4_K, Q5_K) */
RWKVX__INLINE void rwkvx__ksuper(rwkvx_type type, const unsigned char *p, int part, const rwkvx__q8k *const *x, int64_t s, int U,
                                 rwkvx__kvec *I, rwkvx__kvec *M) {
    rwkvx__kvec sc_lo = RWKVX__KV_ZERO(), sc_hi = RWKVX__KV_ZERO();
    int j, h, k, u;
    if (type != RWKVX_TYPE_Q6_K) sc_lo = rwkvx__k4_fields(p, part, 0, 0), sc_hi = rwkvx__k4_fields(p, part, 0, 1);
    RWKVX__UNROLL for (u = 0; u < U; u++) I[u] = RWKVX__KV_ZERO();
    RWKVX__UNROLL for (j = 0; j < 8; j++) {
        rwkvx__kvec P[RWKVX__QUT], sc = sc_lo;
        int sixteen = type == RWKVX_TYPE_Q6_K; /* a scale per 16 values */
        RWKVX__UNROLL for (h = 0; h < 2; h++) { /* chunks 4 h .. 4 h + 3: columns 16 h .. 16 h + 15 */
            if (h == 0 || sixteen) {
                sc = rwkvx__kscale_vec(type, p, part, j, h, sc_lo, sc_hi);
                RWKVX__UNROLL for (u = 0; u < U; u++) P[u] = RWKVX__KV_ZERO();
            }
            RWKVX__UNROLL for (k = 0; k < 4; k++) {
                rwkvx__kvec codes = rwkvx__kchunk(type, p, part, j, 4 * h + k);
                RWKVX__UNROLL for (u = 0; u < U; u++) P[u] = RWKVX__KV_DOT(P[u], codes, rwkvx__chunk(x[u][s].q + 32 * j + 16 * h + 4 * k), sc);
            }
            if (h == 1 || sixteen) {
#if RWKVX__KFOLD
                RWKVX__UNROLL for (u = 0; u < U; u++) I[u] = RWKVX__KV_ADD(I[u], P[u]);
#else
                RWKVX__UNROLL for (u = 0; u < U; u++) I[u] = RWKVX__KV_ADD(I[u], RWKVX__KV_MUL(sc, P[u]));
#endif
            }
        }
    }
    RWKVX__UNROLL for (u = 0; u < U; u++) { /* Q4_K, Q5_K: M = sum m(g) bs(g); Q6_K: I -= 32 sum sc(g) bs(g) */
        rwkvx__kvec O = RWKVX__KV_ZERO();
        RWKVX__UNROLL for (j = 0; j < 8; j++) {
            int32_t bs2;
            rwkvx__kvec pair;
            memcpy(&bs2, x[u][s].bsum + 2 * j, 4); /* bs(2 j), bs(2 j + 1) */
            if (type == RWKVX_TYPE_Q6_K)       /* (sc(2 j), sc(2 j + 1)), 16 bits each */
                pair = RWKVX__KV_SRA16_8(RWKVX__KV_SHUF(RWKVX__KUNIT(p, 48 + j / 2, part), -1, 2 * (j % 2), -1, 2 * (j % 2) + 1));
            else
                pair = RWKVX__KV_SHUF(rwkvx__k4_fields(p, part, 1, j >= 4), j % 4, -1, j % 4, -1); /* (m(j), m(j)) */
            O = RWKVX__KV_DOT16(O, pair, bs2);
        }
        if (type == RWKVX_TYPE_Q6_K) I[u] = RWKVX__KV_SUB(I[u], RWKVX__KV_SLL32(O, 5));
        else M[u] = O;
    }
}

RWKVX__INLINE void rwkvx__ktile(rwkvx_type type, const unsigned char *blk, int64_t ng, const rwkvx__q8k *const *x, int U, float *out,
                                const char *pf) {
    int64_t s;
    int u, part;
    RWKVX__UNROLL for (part = 0; part < RWKVX__KPARTS; part++) { /* each part of the rows on its own: fewer registers */
        rwkvx__kfvec acc[RWKVX__QUT];
        RWKVX__UNROLL for (u = 0; u < U; u++) acc[u] = RWKVX__KF_ZERO();
        for (s = 0; s < ng; s++) {
            const unsigned char *p = blk + s * rwkvx__pgroup(type);
            rwkvx__kvec I[RWKVX__QUT], M[RWKVX__QUT];
            rwkvx__kfvec d, dm;
            if (part == 0) rwkvx__pahead(type, pf, s);
            rwkvx__ksuper(type, p, part, x, s, U, I, M);
            rwkvx__kd_vec(type, p, part, &d, &dm);
            RWKVX__UNROLL for (u = 0; u < U; u++) {
                acc[u] = RWKVX__KF_FMA(RWKVX__KF_SCALE(d, x[u][s].d), RWKVX__KF_INT(I[u]), acc[u]);
                if (rwkvx__kmin(type)) acc[u] = RWKVX__KF_FNMA(RWKVX__KF_SCALE(dm, x[u][s].d), RWKVX__KF_INT(M[u]), acc[u]);
            }
        }
        RWKVX__UNROLL for (u = 0; u < U; u++) RWKVX__KF_STORE(out + 16 * u + 16 / RWKVX__KPARTS * part, acc[u]);
    }
}
#else
RWKVX__INLINE void rwkvx__ktile(rwkvx_type type, const unsigned char *blk, int64_t ng, const rwkvx__q8k *const *x, int U, float *out,
                                const char *pf) {
    int64_t s;
    int u, r, g, i;
    (void)pf;
    for (u = 0; u < U; u++)
        for (r = 0; r < RWKVX__PROWS; r++) {
            float sum = 0.0f;
            for (s = 0; s < ng; s++) {
                const unsigned char *p = blk + s * rwkvx__pgroup(type);
                const rwkvx__q8k *xs = &x[u][s];
                int32_t I = 0, M = 0;
                for (g = 0; g < 16; g++) {
                    int32_t P = 0;
                    for (i = 16 * g; i < 16 * g + 16; i++) P += rwkvx__kcode_ref(type, p, r, i) * xs->q[i];
                    I += rwkvx__kscale_ref(type, p, r, g) * P;
                    if (rwkvx__kmin(type)) M += rwkvx__k4_field_ref(p, r, g / 2, 1) * xs->bsum[g];
                }
                sum = fmaf(rwkvx__kd_ref(type, p, r, 0) * xs->d, (float)I, sum);
                if (rwkvx__kmin(type)) sum = fmaf(-(rwkvx__kd_ref(type, p, r, 1) * xs->d), (float)M, sum);
            }
            out[16 * u + r] = sum;
        }
}
#endif

/* the kernel and input blocks of each packed type */
#define rwkvx__TILE_OF(T) rwkvx__TILE_##T
#define rwkvx__INPUT_OF(T) rwkvx__INPUT_##T
#define rwkvx__TILE_Q8_0 rwkvx__ptile
#define rwkvx__TILE_Q4_0 rwkvx__ptile
#define rwkvx__TILE_Q4_1 rwkvx__ptile
#define rwkvx__TILE_IQ4_NL rwkvx__ptile
#define rwkvx__TILE_Q4_K rwkvx__ktile
#define rwkvx__TILE_Q5_K rwkvx__ktile
#define rwkvx__TILE_Q6_K rwkvx__ktile
#define rwkvx__INPUT_Q8_0 rwkvx__q8x
#define rwkvx__INPUT_Q4_0 rwkvx__q8x
#define rwkvx__INPUT_Q4_1 rwkvx__q8x
#define rwkvx__INPUT_IQ4_NL rwkvx__q8x
#define rwkvx__INPUT_Q4_K rwkvx__q8k
#define rwkvx__INPUT_Q5_K rwkvx__q8k
#define rwkvx__INPUT_Q6_K rwkvx__q8k
RWKVX__PTILES(Q8_0)
RWKVX__PTILES(Q4_0)
RWKVX__PTILES(Q4_1)
RWKVX__PTILES(IQ4_NL)
RWKVX__PTILES(Q4_K)
RWKVX__PTILES(Q5_K)
RWKVX__PTILES(Q6_K)
static rwkvx__ptile_fn rwkvx__ptile_for(rwkvx_type type, int tokens, int *U) {
    switch (type) {
    case RWKVX_TYPE_Q4_0: RWKVX__PTILE_PICK(Q4_0)
    case RWKVX_TYPE_Q4_1: RWKVX__PTILE_PICK(Q4_1)
    case RWKVX_TYPE_IQ4_NL: RWKVX__PTILE_PICK(IQ4_NL)
    case RWKVX_TYPE_Q4_K: RWKVX__PTILE_PICK(Q4_K)
    case RWKVX_TYPE_Q5_K: RWKVX__PTILE_PICK(Q5_K)
    case RWKVX_TYPE_Q6_K: RWKVX__PTILE_PICK(Q6_K)
    default: RWKVX__PTILE_PICK(Q8_0)
    }
}

/* Packed block b of a product (rows 16 b .. 16 b + 15), all T tokens, from
   the job's quantized inputs q, up to RWKVX__QUT tokens at a time: prefill
   reads the block, which stays in cache, once per pass. */
static void rwkvx__row_block_packed(const rwkvx__job *job, int64_t b, int T, const void *q) {
    const rwkvx__mat *w = job->w;
    size_t in = rwkvx__kpacks(w->type) ? sizeof(rwkvx__q8k) : sizeof(rwkvx__q8x); /* an input block */
    int64_t ng = w->cols / rwkvx__type_of(w->type)->block, o0 = b * RWKVX__PROWS, rows = w->rows - o0 < RWKVX__PROWS ? w->rows - o0 : RWKVX__PROWS;
    size_t block = (size_t)ng * (size_t)rwkvx__pgroup(w->type);
    const unsigned char *blk = o0 + RWKVX__PROWS >= w->rows ? w->packed_last : w->packed + (size_t)b * block;
    const char *ahead = o0 + (RWKVX__DECODE_AHEAD + 1) * RWKVX__PROWS <= w->rows ? (const char *)blk + RWKVX__DECODE_AHEAD * block : NULL;
    int t, u, r, U = 1;
    for (t = 0; t < T; t += U) {
        const void *x[RWKVX__QUT];
        float out[RWKVX__QUT * RWKVX__PROWS];
        int left = T - t;
        rwkvx__ptile_fn tile = rwkvx__ptile_for(w->type, left, &U);
        for (u = 0; u < U; u++) /* past the last token: repeated, dropped */
            x[u] = (const char *)q + (size_t)((int64_t)(t + (u < left ? u : left - 1)) * ng) * in;
        tile(blk, ng, x, out, ahead);
        for (u = 0; u < U && u < left; u++)
            for (r = 0; r < rows; r++) job->y[(int64_t)(t + u) * job->ldy + o0 + r] = out[u * RWKVX__PROWS + r];
    }
}

/* Row block b of an integer product (rwkvx__block_rows rows), all T tokens */
static void rwkvx__row_block_int(const rwkvx__job *job, int64_t b, int T, void *q) {
    const rwkvx__mat *w = job->w;
    if (w->packed) rwkvx__row_block_packed(job, b, T, q);
    else {
        int64_t o0 = b * RWKVX__ROWS;
        rwkvx__row_block_k(job, o0, w->rows - o0 < RWKVX__ROWS ? w->rows - o0 : RWKVX__ROWS, T, (rwkvx__q8k *)q);
    }
}

/* Rows o0 .. o0 + RWKVX__ROWS - 1 of a product, for all T tokens. */
static void rwkvx__row_block(const rwkvx__job *job, int64_t o0, int T, float *work) {
    const rwkvx__mat *w = job->w;
    float *panel = work, *acc = work + RWKVX__ROWS * RWKVX__PANEL;
    /* equal slices of at most about KC columns, multiples of 32 (the group loaders' unit) */
    int64_t n_slices = (w->cols + RWKVX__KC - 1) / RWKVX__KC;
    int64_t width = ((w->cols + n_slices - 1) / n_slices + 31) / 32 * 32, c0;
    int t, r;
    if (T == 1) {
        if (w->cols % 32 == 0) rwkvx__row_block_direct(job, o0);
        else rwkvx__row_block_1(job, o0, work);
        return;
    }
    if (T <= rwkvx__few_limit(w->type) && w->cols % 32 == 0) {
        rwkvx__row_block_few(job, o0, T);
        return;
    }
    rwkvx__prefetch_rows(w, o0 + 2 * RWKVX__ROWS);
    for (c0 = 0; c0 < w->cols; c0 += width) {
        int64_t n = w->cols - c0 < width ? w->cols - c0 : width;
        int64_t padded = (n + RWKVX__LANES - 1) / RWKVX__LANES * RWKVX__LANES;
        int last = c0 + n == w->cols;
        for (r = 0; r < RWKVX__ROWS; r++) {
            float *p = panel + r * RWKVX__PANEL;
            int64_t done = 0;
            if (o0 + r < w->rows) rwkvx__row_to_f32(w, o0 + r, c0, n, p), done = n;
            memset(p + done, 0, (size_t)(padded - done) * sizeof(float));
        }
        for (t = 0; t < T; t += RWKVX__UT) {
            const float *x[RWKVX__UT];
            float sums[RWKVX__UT * RWKVX__ROWS];
            int u, left = T - t;
            for (u = 0; u < RWKVX__UT; u++) /* past the last token: repeat it, drop the sums */
                x[u] = job->x + (int64_t)(t + (u < left ? u : left - 1)) * job->ldx + c0;
            if (left == 1) rwkvx__micro_1(panel, RWKVX__PANEL, n, x, acc + t * RWKVX__ROWS * RWKVX__LANES, c0 == 0, last ? sums : NULL);
            else rwkvx__micro_ut(panel, RWKVX__PANEL, n, x, acc + t * RWKVX__ROWS * RWKVX__LANES, c0 == 0, last ? sums : NULL);
            if (last)
                for (u = 0; u < RWKVX__UT && u < left; u++)
                    for (r = 0; r < RWKVX__ROWS && o0 + r < w->rows; r++)
                        job->y[(int64_t)(t + u) * job->ldy + o0 + r] = sums[u * RWKVX__ROWS + r];
        }
    }
}

/* Rows per block a thread takes: a packed block, or RWKVX__ROWS */
static int64_t rwkvx__block_rows(const rwkvx__mat *w) { return w->packed ? RWKVX__PROWS : RWKVX__ROWS; }

/* Runs several independent products of one batch of T <= RWKVX__BATCH tokens
   as one parallel loop over all their row blocks (fewer thread start-ups,
   better balance). `work` holds scratch for every thread. Dynamic
   scheduling copes with cores shared with other programs; which thread
   computes a row never changes its value. */
#define RWKVX__MAX_JOBS 8
#ifndef RWKVX__CHUNKS
#define RWKVX__CHUNKS 8   /* a product's row blocks come in about this many chunks per thread (1, 2: no faster at 16 threads) */
#endif
static void rwkvx__matmul_jobs(const rwkvx__job *jobs, int n_jobs, int T, const rwkvx__work *work, int n_threads) {
    int64_t first[RWKVX__MAX_JOBS + 1] = {0}, total, b, grain; /* all set: the search below reads up to first[n_jobs] */
    double macs = 0;
    int j;
    for (j = 0; j < n_jobs; j++) first[j + 1] = first[j] + (jobs[j].w->rows + rwkvx__block_rows(jobs[j].w) - 1) / rwkvx__block_rows(jobs[j].w);
    total = first[n_jobs];
    for (j = 0; j < n_jobs; j++) macs += (double)jobs[j].w->rows * (double)jobs[j].w->cols * T;
    n_threads = rwkvx__par(n_threads, macs);
    grain = total / ((int64_t)n_threads * RWKVX__CHUNKS);
    if (grain < 1) grain = 1;
    (void)grain;
    RWKVX__PARALLEL(n_threads)
    {
        int quantized = -1; /* the job whose inputs this thread's scratch holds quantized */
        RWKVX__FOR(dynamic, grain)
        for (b = 0; b < total; b++) {
            int k = 0;
            float *scratch = work->base + (size_t)rwkvx__thread_id() * work->stride;
            while (b >= first[k + 1]) k++;
            if (rwkvx__int_path(jobs[k].w)) { /* the integer path: inputs quantized once per job and thread */
                if (quantized != k) rwkvx__quantize_input(&jobs[k], T, scratch), quantized = k;
                rwkvx__row_block_int(&jobs[k], b - first[k], T, scratch);
            } else {                                 /* the f32 path: its panels overwrite the scratch */
                quantized = -1;
                rwkvx__row_block(&jobs[k], (b - first[k]) * RWKVX__ROWS, T, scratch);
            }
        }
    }
}

/* Y[t][o] = sum_i W[o][i] * X[t][i] for t < T. */
static void rwkvx__matmul(const rwkvx__mat *w, const float *x, int64_t ldx, float *y, int64_t ldy, int T, const rwkvx__work *work,
                          int n_threads) {
    rwkvx__job job;
    job.w = w, job.x = x, job.y = y, job.ldx = ldx, job.ldy = ldy;
    rwkvx__matmul_jobs(&job, 1, T, work, n_threads);
}

/* ---------------------------------------------------------------------- */
/* GGUF reader: every count, size and offset is checked before use        */
/* ---------------------------------------------------------------------- */

enum {
    RWKVX__GGUF_U8, RWKVX__GGUF_I8, RWKVX__GGUF_U16, RWKVX__GGUF_I16, RWKVX__GGUF_U32,
    RWKVX__GGUF_I32, RWKVX__GGUF_F32, RWKVX__GGUF_BOOL, RWKVX__GGUF_STRING,
    RWKVX__GGUF_ARRAY, RWKVX__GGUF_U64, RWKVX__GGUF_I64, RWKVX__GGUF_F64
};

typedef struct {                 /* a cursor over the file with a running bound */
    const unsigned char *p;
    size_t left;
} rwkvx__cursor;

typedef struct {
    const char *name;            /* points into the file: not NUL-terminated */
    size_t name_len;
    int n_dims;
    uint64_t ne[4];
    uint32_t type;
    uint64_t offset;
    size_t bytes;
    int used;
} rwkvx__tinfo;

typedef struct {
    const char *key;
    size_t key_len;
    uint32_t type;               /* for arrays: the element type */
    int is_array;
    uint64_t count;              /* array length */
    const unsigned char *value;  /* start of the value (after array header) */
} rwkvx__kv;

typedef struct {
    rwkvx__kv *kv;
    uint64_t n_kv;
    rwkvx__tinfo *t;
    uint64_t n_t;
    const unsigned char *data;   /* start of the tensor data section */
    size_t data_bytes;
    char *err;
} rwkvx__gguf;

static int rwkvx__take(rwkvx__cursor *c, void *out, size_t n) {
    if (c->left < n) return 0;
    if (out) memcpy(out, c->p, n);
    c->p += n;
    c->left -= n;
    return 1;
}

/* Sets *s and *len even when it fails (to an empty string), so that no caller
   ever reads them uninitialised. */
static int rwkvx__take_string(rwkvx__cursor *c, const char **s, size_t *len) {
    uint64_t n;
    *s = "";
    *len = 0;
    if (!rwkvx__take(c, &n, 8) || n > c->left) return 0;
    *s = (const char *)c->p;
    *len = (size_t)n;
    c->p += n;
    c->left -= (size_t)n;
    return 1;
}

static size_t rwkvx__gguf_scalar_bytes(uint32_t type) {
    static const unsigned char sizes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return type < sizeof sizes ? sizes[type] : 0;
}

/* Skips one value of `type`; strings and arrays are walked element by element. */
static int rwkvx__skip_value(rwkvx__cursor *c, uint32_t type, uint64_t count) {
    uint64_t i;
    if (type == RWKVX__GGUF_STRING) {
        for (i = 0; i < count; i++) {
            const char *s;
            size_t n;
            if (!rwkvx__take_string(c, &s, &n)) return 0;
        }
        return 1;
    }
    if (!rwkvx__gguf_scalar_bytes(type) || count > c->left / rwkvx__gguf_scalar_bytes(type)) return 0;
    return rwkvx__take(c, NULL, (size_t)count * rwkvx__gguf_scalar_bytes(type));
}

static int rwkvx__name_eq(const char *a, size_t a_len, const char *b) {
    return strlen(b) == a_len && memcmp(a, b, a_len) == 0;
}

/* Bytes of a tensor of n_elems values whose rows hold row_len (ne[0]);
   0 with *why set when the type is unknown (1), the rows are not whole
   blocks (2) or the size overflows (3). */
static size_t rwkvx__type_bytes(uint32_t type, uint64_t n_elems, uint64_t row_len, int *why) {
    const rwkvx__type_row *t = rwkvx__type_of(type);
    int overflow = 0;
    size_t r;
    *why = !t ? 1 : row_len % (uint64_t)t->block ? 2 : 0;
    if (*why) return 0;
    r = rwkvx__mul((size_t)t->bytes, (size_t)(n_elems / (uint64_t)t->block), &overflow);
    if (overflow || n_elems > SIZE_MAX) *why = 3;
    return *why ? 0 : r;
}

static rwkvx_status rwkvx__gguf_parse_header(rwkvx__gguf *g, rwkvx__cursor *c, uint32_t *alignment) {
    uint32_t magic, version;
    uint64_t i, j;
    if (!rwkvx__take(c, &magic, 4) || !rwkvx__take(c, &version, 4))
        return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "file too short for a GGUF header");
    if (magic != 0x46554747u) return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "not a GGUF file (bad magic)");
    if (version != 3) return rwkvx__fail(g->err, RWKVX_ERR_UNSUPPORTED, "GGUF version %u (only 3 is supported)", version);
    if (!rwkvx__take(c, &g->n_t, 8) || !rwkvx__take(c, &g->n_kv, 8))
        return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "truncated GGUF header");
    /* each key/value needs at least 12 bytes, each tensor info at least 24 */
    if (g->n_kv > c->left / 12 || g->n_t > c->left / 24)
        return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "GGUF counts (%llu tensors, %llu keys) exceed the file size",
                           (unsigned long long)g->n_t, (unsigned long long)g->n_kv);
    g->kv = (rwkvx__kv *)rwkvx__calloc((size_t)g->n_kv + 1, sizeof *g->kv);
    g->t = (rwkvx__tinfo *)rwkvx__calloc((size_t)g->n_t + 1, sizeof *g->t);
    if (!g->kv || !g->t) return rwkvx__fail(g->err, RWKVX_ERR_NOMEM, "out of memory reading the GGUF header");
    *alignment = 32;
    for (i = 0; i < g->n_kv; i++) {
        rwkvx__kv *kv = &g->kv[i];
        if (!rwkvx__take_string(c, &kv->key, &kv->key_len) || !rwkvx__take(c, &kv->type, 4))
            return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "truncated GGUF key %llu", (unsigned long long)i);
        for (j = 0; j < i; j++)
            if (g->kv[j].key_len == kv->key_len && !memcmp(g->kv[j].key, kv->key, kv->key_len))
                return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "duplicate GGUF key '%.*s'", (int)kv->key_len, kv->key);
        kv->count = 1;
        if (kv->type == RWKVX__GGUF_ARRAY) {
            kv->is_array = 1;
            if (!rwkvx__take(c, &kv->type, 4) || !rwkvx__take(c, &kv->count, 8))
                return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "truncated GGUF array '%.*s'", (int)kv->key_len, kv->key);
            if (kv->type == RWKVX__GGUF_ARRAY)
                return rwkvx__fail(g->err, RWKVX_ERR_UNSUPPORTED, "nested GGUF array '%.*s'", (int)kv->key_len, kv->key);
        }
        kv->value = c->p;
        if (!rwkvx__skip_value(c, kv->type, kv->count))
            return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "GGUF value of '%.*s' is truncated or has an unknown type",
                               (int)kv->key_len, kv->key);
        if (rwkvx__name_eq(kv->key, kv->key_len, "general.alignment")) {
            if (kv->type != RWKVX__GGUF_U32 || kv->is_array) return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "general.alignment is not a u32");
            memcpy(alignment, kv->value, 4);
            if (*alignment == 0 || (*alignment & (*alignment - 1)) || *alignment > 65536)
                return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "bad alignment %u", *alignment);
        }
    }
    return RWKVX_OK;
}

/* ggml's name of any tensor type (upper case), for messages about types we cannot run. */
static const char *rwkvx__ggml_type_name(uint32_t type) {
    static const char *const names[] = {"F32", "F16", "Q4_0", "Q4_1", "?", "?", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
                                        "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS",
                                        "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16",
                                        "I32", "I64", "F64", "IQ1_M", "BF16", "?", "?", "?", "TQ1_0", "TQ2_0"};
    return type < sizeof names / sizeof *names ? names[type] : "?";
}

static rwkvx_status rwkvx__gguf_parse_tensors(rwkvx__gguf *g, rwkvx__cursor *c, const unsigned char *file,
                                              size_t file_bytes, uint32_t alignment) {
    uint64_t i, j, expected_offset = 0;
    size_t header_end;
    for (i = 0; i < g->n_t; i++) {
        rwkvx__tinfo *t = &g->t[i];
        uint32_t n_dims;
        uint64_t n_elems = 1;
        int d, why;
        if (!rwkvx__take_string(c, &t->name, &t->name_len) || !rwkvx__take(c, &n_dims, 4))
            return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "truncated tensor info %llu", (unsigned long long)i);
        if (n_dims < 1 || n_dims > 4)
            return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "tensor '%.*s' has %u dimensions", (int)t->name_len, t->name, n_dims);
        t->n_dims = (int)n_dims;
        for (d = 0; d < 4; d++) t->ne[d] = 1;
        for (d = 0; d < t->n_dims; d++) {
            if (!rwkvx__take(c, &t->ne[d], 8))
                return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "truncated tensor info '%.*s'", (int)t->name_len, t->name);
            if (t->ne[d] == 0 || t->ne[d] > ((uint64_t)1 << 40) || n_elems > (((uint64_t)1 << 62) / t->ne[d]))
                return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "tensor '%.*s' has an absurd dimension", (int)t->name_len, t->name);
            n_elems *= t->ne[d];
        }
        if (!rwkvx__take(c, &t->type, 4) || !rwkvx__take(c, &t->offset, 8))
            return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "truncated tensor info '%.*s'", (int)t->name_len, t->name);
        t->bytes = rwkvx__type_bytes(t->type, n_elems, t->ne[0], &why);
        if (why == 1)
            return rwkvx__fail(g->err, RWKVX_ERR_UNSUPPORTED, "tensor '%.*s' has type %u (%s), which this library does not read",
                               (int)t->name_len, t->name, t->type, rwkvx__ggml_type_name(t->type));
        if (why == 2)
            return rwkvx__fail(g->err, RWKVX_ERR_UNSUPPORTED, "tensor '%.*s' has rows of %llu values, not a multiple of %s's block of %d",
                               (int)t->name_len, t->name, (unsigned long long)t->ne[0], rwkvx__type_of(t->type)->name,
                               rwkvx__type_of(t->type)->block);
        if (why)
            return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "tensor '%.*s' is too large", (int)t->name_len, t->name);
        if (t->offset != expected_offset)
            return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "tensor '%.*s' offset %llu is not the expected %llu",
                               (int)t->name_len, t->name, (unsigned long long)t->offset, (unsigned long long)expected_offset);
        expected_offset += (t->bytes + alignment - 1) / alignment * alignment;
        for (j = 0; j < i; j++)
            if (g->t[j].name_len == t->name_len && !memcmp(g->t[j].name, t->name, t->name_len))
                return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "duplicate tensor '%.*s'", (int)t->name_len, t->name);
    }
    header_end = (size_t)(c->p - file);
    header_end = (header_end + alignment - 1) / alignment * alignment;
    if (header_end > file_bytes)
        return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "file ends before the tensor data");
    g->data = file + header_end;
    g->data_bytes = file_bytes - header_end;
    for (i = 0; i < g->n_t; i++) {
        rwkvx__tinfo *t = &g->t[i];
        if (t->offset > g->data_bytes || t->bytes > g->data_bytes - t->offset)
            return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "tensor '%.*s' runs past the end of the file (truncated?)",
                               (int)t->name_len, t->name);
    }
    return RWKVX_OK;
}

static const rwkvx__kv *rwkvx__find_kv(const rwkvx__gguf *g, const char *key) {
    uint64_t i;
    for (i = 0; i < g->n_kv; i++)
        if (rwkvx__name_eq(g->kv[i].key, g->kv[i].key_len, key)) return &g->kv[i];
    return NULL;
}

/* Reads an integer key of any integer type; `required` makes absence an error. */
static rwkvx_status rwkvx__get_int(const rwkvx__gguf *g, const char *key, int required, int64_t lo, int64_t hi, int *out) {
    const rwkvx__kv *kv = rwkvx__find_kv(g, key);
    int64_t v;
    if (!kv) return required ? rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "missing key '%s'", key) : RWKVX_OK;
    if (kv->is_array) return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "key '%s' is an array", key);
    switch (kv->type) {
    case RWKVX__GGUF_U32: { uint32_t x; memcpy(&x, kv->value, 4); v = x; break; }
    case RWKVX__GGUF_I32: { int32_t x; memcpy(&x, kv->value, 4); v = x; break; }
    case RWKVX__GGUF_U64: { uint64_t x; memcpy(&x, kv->value, 8); v = x > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)x; break; }
    case RWKVX__GGUF_I64: { int64_t x; memcpy(&x, kv->value, 8); v = x; break; }
    default: return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "key '%s' is not an integer", key);
    }
    if (v < lo || v > hi)
        return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "key '%s' = %lld is out of range [%lld, %lld]", key, (long long)v,
                           (long long)lo, (long long)hi);
    *out = (int)v;
    return RWKVX_OK;
}

static rwkvx_status rwkvx__get_f32(const rwkvx__gguf *g, const char *key, float *out) {
    const rwkvx__kv *kv = rwkvx__find_kv(g, key);
    if (!kv) return RWKVX_OK; /* optional: the default stays */
    if (kv->is_array || kv->type != RWKVX__GGUF_F32) return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "key '%s' is not an f32", key);
    memcpy(out, kv->value, 4);
    if (!(*out > 0.0f && *out < 1.0f)) return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "key '%s' is out of range", key);
    return RWKVX_OK;
}

/* ---------------------------------------------------------------------- */
/* The model's tensors: one table for the loader and the converter        */
/* ---------------------------------------------------------------------- */

/* Every tensor of a model file, described once: the loader binds each row to
   its field (next section), and rwkvx-convert (rwkvx_convert.h) writes each
   row under its name, with its shape, in this order, which is the file's
   (docs/FORMAT.md lists the same tensors). Three lists: the model's own
   tensors, each RWKV-7 block's (named "blk.N." + NAME) and each sparse
   block's ("sparse.J." + NAME), the last two sharing their norms and
   channel-mix rows.
     X(ROW, NAME, FIELD, KIND, NE0, NE1, WHERE)
   ROW names the row in code (RWKVX__M_HEAD, RWKVX__R_W1, RWKVX__S_WQ).
   KIND MATRIX: ne [NE0, NE1] in any weight type, NE1 rows of NE0 values;
     FIELD is an rwkvx__mat of NE1 rows and NE0 columns.
   KIND VECTOR: NE0 x NE1 F32 values; FIELD is a const float pointer. The
     converter writes ne [NE0] (NE1 = 1) or [NE0, NE1]; the loader takes any
     ne with that many values (llama.cpp's files have [C, 1, 1, 6] and
     [C, 1, 1]: the converter's --llama-cpp layout).
   NE0, NE1: a size of RWKVX__DIMS: C (embedding), V (vocabulary), F (FFN),
     Dw Da Dv Dg (the decay, in-context learning rate, value residual and
     gate LoRA ranks), 1, or 6 (the fused lerp's rows r, w, k, v, a, g).
   WHERE: EVERY block, or NOT_FIRST: RWKV-7 block 0 makes v_first and has no
     value residual mix, so its v0/v1/v2 are ignored by the loader if present
     and left out by the converter (--llama-cpp writes placeholders). */
#define RWKVX__MODEL_TENSORS(X)                                       \
    X(EMB, "token_embd.weight", emb, MATRIX, C, V, EVERY)             \
    X(LN0_W, "token_embd_norm.weight", ln0_w, VECTOR, C, 1, EVERY)    \
    X(LN0_B, "token_embd_norm.bias", ln0_b, VECTOR, C, 1, EVERY)      \
    X(LNOUT_W, "output_norm.weight", lnout_w, VECTOR, C, 1, EVERY)    \
    X(LNOUT_B, "output_norm.bias", lnout_b, VECTOR, C, 1, EVERY)      \
    X(HEAD, "output.weight", head, MATRIX, C, V, EVERY) /* stored even when tied to the embedding (require_head) */

/* What both kinds of block have: their two LayerNorms (their first rows) and
   their channel-mix (their last). */
#define RWKVX__BLOCK_NORMS(X)                                                      \
    X(LN1_W, "attn_norm.weight", ln1_w, VECTOR, C, 1, EVERY)                       \
    X(LN1_B, "attn_norm.bias", ln1_b, VECTOR, C, 1, EVERY)                         \
    X(LN2_W, "attn_norm_2.weight", ln2_w, VECTOR, C, 1, EVERY)                     \
    X(LN2_B, "attn_norm_2.bias", ln2_b, VECTOR, C, 1, EVERY)
#define RWKVX__CHANNEL_MIX(X)                                                      \
    X(FFN_LERP, "channel_mix_lerp_k.weight", ffn_lerp, VECTOR, C, 1, EVERY)        \
    X(FFN_KEY, "channel_mix_key.weight", ffn_key, MATRIX, C, F, EVERY)             \
    X(FFN_VALUE, "channel_mix_value.weight", ffn_value, MATRIX, F, C, EVERY)

#define RWKVX__RWKV_TENSORS(X)                                                     \
    RWKVX__BLOCK_NORMS(X)                                                          \
    X(LERP, "time_mix_lerp_fused.weight", lerp, VECTOR, C, 6, EVERY)               \
    X(W0, "time_mix_w0.weight", w0, VECTOR, C, 1, EVERY)                           \
    X(W1, "time_mix_w1.weight", w1, MATRIX, C, Dw, EVERY)                          \
    X(W2, "time_mix_w2.weight", w2, MATRIX, Dw, C, EVERY)                          \
    X(A0, "time_mix_a0.weight", a0, VECTOR, C, 1, EVERY)                           \
    X(A1, "time_mix_a1.weight", a1, MATRIX, C, Da, EVERY)                          \
    X(A2, "time_mix_a2.weight", a2, MATRIX, Da, C, EVERY)                          \
    X(V0, "time_mix_v0.weight", v0, VECTOR, C, 1, NOT_FIRST)                       \
    X(V1, "time_mix_v1.weight", v1, MATRIX, C, Dv, NOT_FIRST)                      \
    X(V2, "time_mix_v2.weight", v2, MATRIX, Dv, C, NOT_FIRST)                      \
    X(G1, "time_mix_g1.weight", g1, MATRIX, C, Dg, EVERY)                          \
    X(G2, "time_mix_g2.weight", g2, MATRIX, Dg, C, EVERY)                          \
    X(K_K, "time_mix_k_k.weight", k_k, VECTOR, C, 1, EVERY)                        \
    X(K_A, "time_mix_k_a.weight", k_a, VECTOR, C, 1, EVERY)                        \
    X(R_K, "time_mix_r_k.weight", r_k, VECTOR, C, 1, EVERY)                        \
    X(WR, "time_mix_receptance.weight", wr, MATRIX, C, C, EVERY)                   \
    X(WK, "time_mix_key.weight", wk, MATRIX, C, C, EVERY)                          \
    X(WV, "time_mix_value.weight", wv, MATRIX, C, C, EVERY)                        \
    X(WO, "time_mix_output.weight", wo, MATRIX, C, C, EVERY)                       \
    X(LNX_W, "time_mix_ln.weight", lnx_w, VECTOR, C, 1, EVERY)                     \
    X(LNX_B, "time_mix_ln.bias", lnx_b, VECTOR, C, 1, EVERY)                       \
    RWKVX__CHANNEL_MIX(X)

#define RWKVX__SPARSE_TENSORS(X)                                                   \
    RWKVX__BLOCK_NORMS(X)                                                          \
    X(WQ, "attn_q.weight", wq, MATRIX, C, C, EVERY)                                \
    X(WK, "attn_k.weight", wk, MATRIX, C, C, EVERY)                                \
    X(WV, "attn_v.weight", wv, MATRIX, C, C, EVERY)                                \
    X(WO, "attn_output.weight", wo, MATRIX, C, C, EVERY)                           \
    RWKVX__CHANNEL_MIX(X)

#define RWKVX__RWKV_PREFIX "blk"       /* "blk.N.NAME": RWKV-7 block N (llama.cpp's names) */
#define RWKVX__SPARSE_PREFIX "sparse"  /* "sparse.J.NAME": sparse block J */

typedef enum { RWKVX__MATRIX, RWKVX__VECTOR } rwkvx__tensor_kind;
typedef enum { RWKVX__EVERY, RWKVX__NOT_FIRST } rwkvx__tensor_where;
#define RWKVX__DIMS(X) X(1) X(6) X(C) X(V) X(F) X(Dw) X(Da) X(Dv) X(Dg)
#define RWKVX__DIM_ROW(D) RWKVX__DIM_##D,
typedef enum { RWKVX__DIMS(RWKVX__DIM_ROW) RWKVX__DIM_COUNT } rwkvx__dim;
#undef RWKVX__DIM_ROW

typedef struct {
    const char *name;            /* the GGUF name, after "blk.N." / "sparse.J." in a block */
    size_t field;                /* offset of the rwkvx__mat or float pointer it binds to */
    rwkvx__tensor_kind kind;
    rwkvx__dim ne[2];
    rwkvx__tensor_where where;
} rwkvx__tensor_spec;

/* The rows' numbers (RWKVX__M_HEAD, RWKVX__R_W1, RWKVX__S_WQ, ...), and the
   tables as data indexed by them: rwkvx__model_tensors, rwkvx__rwkv_tensors,
   rwkvx__sparse_tensors. */
#define RWKVX__M_ROW(ROW, NAME, FIELD, KIND, NE0, NE1, WHERE) RWKVX__M_##ROW,
#define RWKVX__R_ROW(ROW, NAME, FIELD, KIND, NE0, NE1, WHERE) RWKVX__R_##ROW,
#define RWKVX__S_ROW(ROW, NAME, FIELD, KIND, NE0, NE1, WHERE) RWKVX__S_##ROW,
enum { RWKVX__MODEL_TENSORS(RWKVX__M_ROW) RWKVX__M_COUNT };
enum { RWKVX__RWKV_TENSORS(RWKVX__R_ROW) RWKVX__R_COUNT };
enum { RWKVX__SPARSE_TENSORS(RWKVX__S_ROW) RWKVX__S_COUNT };
#undef RWKVX__M_ROW
#undef RWKVX__R_ROW
#undef RWKVX__S_ROW

/* (each cell is pasted in the macro the list hands it to, before any other
   macro could expand it: a program's own `#define C` changes nothing) */
#define RWKVX__SPEC(TYPE, NAME, FIELD, KIND, NE0, NE1, WHERE) {NAME, offsetof(TYPE, FIELD), KIND, {NE0, NE1}, WHERE},
#define RWKVX__M_SPEC(ROW, NAME, FIELD, KIND, NE0, NE1, WHERE) \
    RWKVX__SPEC(rwkvx_model, NAME, FIELD, RWKVX__##KIND, RWKVX__DIM_##NE0, RWKVX__DIM_##NE1, RWKVX__##WHERE)
#define RWKVX__R_SPEC(ROW, NAME, FIELD, KIND, NE0, NE1, WHERE) \
    RWKVX__SPEC(rwkvx__rwkv_block, NAME, FIELD, RWKVX__##KIND, RWKVX__DIM_##NE0, RWKVX__DIM_##NE1, RWKVX__##WHERE)
#define RWKVX__S_SPEC(ROW, NAME, FIELD, KIND, NE0, NE1, WHERE) \
    RWKVX__SPEC(rwkvx__sparse_block, NAME, FIELD, RWKVX__##KIND, RWKVX__DIM_##NE0, RWKVX__DIM_##NE1, RWKVX__##WHERE)
static const rwkvx__tensor_spec rwkvx__model_tensors[RWKVX__M_COUNT] = {RWKVX__MODEL_TENSORS(RWKVX__M_SPEC)};
static const rwkvx__tensor_spec rwkvx__rwkv_tensors[RWKVX__R_COUNT] = {RWKVX__RWKV_TENSORS(RWKVX__R_SPEC)};
static const rwkvx__tensor_spec rwkvx__sparse_tensors[RWKVX__S_COUNT] = {RWKVX__SPARSE_TENSORS(RWKVX__S_SPEC)};
#undef RWKVX__SPEC
#undef RWKVX__M_SPEC
#undef RWKVX__R_SPEC
#undef RWKVX__S_SPEC

/* ---------------------------------------------------------------------- */
/* Binding tensors to model roles                                         */
/* ---------------------------------------------------------------------- */

typedef struct {
    rwkvx__gguf *g;
    int64_t dim[RWKVX__DIM_COUNT]; /* the table's sizes for this model */
    rwkvx_status status;           /* first failure, later lookups are no-ops */
} rwkvx__binder;

static rwkvx__tinfo *rwkvx__find_tensor(rwkvx__binder *b, const char *name, int required) {
    uint64_t i;
    if (b->status != RWKVX_OK) return NULL;
    for (i = 0; i < b->g->n_t; i++)
        if (rwkvx__name_eq(b->g->t[i].name, b->g->t[i].name_len, name)) {
            b->g->t[i].used = 1;
            return &b->g->t[i];
        }
    if (required) b->status = rwkvx__fail(b->g->err, RWKVX_ERR_FORMAT, "missing tensor '%s'", name);
    return NULL;
}

/* A 1-D F32 vector of exactly n elements (any ne layout with that count). */
static const float *rwkvx__vec(rwkvx__binder *b, const char *name, int64_t n) {
    rwkvx__tinfo *t = rwkvx__find_tensor(b, name, 1);
    if (!t) return NULL;
    if (t->type != RWKVX_TYPE_F32 || (int64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]) != n) {
        b->status = rwkvx__fail(b->g->err, RWKVX_ERR_FORMAT, "tensor '%s' should be F32 with %lld elements", name, (long long)n);
        return NULL;
    }
    return (const float *)(b->g->data + t->offset);
}

/* A (rows, cols) matrix: ne = [cols, rows]. */
static rwkvx__mat rwkvx__matrix(rwkvx__binder *b, const char *name, int64_t rows, int64_t cols) {
    rwkvx__mat m;
    rwkvx__tinfo *t = rwkvx__find_tensor(b, name, 1);
    memset(&m, 0, sizeof m);
    if (!t) return m;
    if (t->n_dims != 2 || (int64_t)t->ne[0] != cols || (int64_t)t->ne[1] != rows) {
        b->status = rwkvx__fail(b->g->err, RWKVX_ERR_FORMAT, "tensor '%s' has shape [%llu, %llu], expected [%lld, %lld]", name,
                                (unsigned long long)t->ne[0], (unsigned long long)t->ne[1], (long long)cols, (long long)rows);
        return m;
    }
    m.data = b->g->data + t->offset;
    m.type = (rwkvx_type)t->type;
    m.rows = rows;
    m.cols = cols;
    return m;
}

/* The table's sizes, from the hyper-parameters (Dv is 0 in a model of one
   RWKV-7 block: only block 0, which has no v1/v2, would use it). */
static void rwkvx__table_dims(const rwkvx_model *m, int64_t *dim) {
    dim[RWKVX__DIM_1] = 1;
    dim[RWKVX__DIM_6] = 6;
    dim[RWKVX__DIM_C] = m->n_embd;
    dim[RWKVX__DIM_V] = m->n_vocab;
    dim[RWKVX__DIM_F] = m->n_ffn;
    dim[RWKVX__DIM_Dw] = m->lora_w;
    dim[RWKVX__DIM_Da] = m->lora_a;
    dim[RWKVX__DIM_Dv] = m->lora_v;
    dim[RWKVX__DIM_Dg] = m->lora_g;
}

/* Binds the tensor `name` as a table row says: its vector or matrix, checked
   against the row's shape, goes to the row's field of `owner` (the model or
   a block). */
static void rwkvx__bind_row(rwkvx__binder *b, const rwkvx__tensor_spec *row, const char *name, void *owner) {
    int64_t ne0 = b->dim[row->ne[0]], ne1 = b->dim[row->ne[1]];
    char *field = (char *)owner + row->field;
    if (row->kind == RWKVX__VECTOR)
        *(const float **)(void *)field = rwkvx__vec(b, name, ne0 * ne1);
    else
        *(rwkvx__mat *)(void *)field = rwkvx__matrix(b, name, ne1, ne0);
}

/* Binds one block's rows ("PREFIX.INDEX.NAME"). A NOT_FIRST row of block 0
   (v0/v1/v2: it makes v_first) is not needed; present, it is only marked
   used, as the converter never writes it but llama.cpp's layout has it. */
static void rwkvx__bind_block(rwkvx__binder *b, const rwkvx__tensor_spec *rows, int n_rows, const char *prefix, int index,
                              void *blk) {
    char name[96];
    int r;
    for (r = 0; r < n_rows; r++) {
        snprintf(name, sizeof name, "%s.%d.%s", prefix, index, rows[r].name);
        if (index == 0 && rows[r].where == RWKVX__NOT_FIRST)
            rwkvx__find_tensor(b, name, 0);
        else
            rwkvx__bind_row(b, &rows[r], name, blk);
    }
}

/* The opt-in K/V limit: kv_max turns it on; kv_keep and kv_window default to
   the released code's proportions (16000 and 2000 of 20000). 2^30 positions
   per head is far past any use and keeps every size computation small. */
static rwkvx_status rwkvx__set_kv_limit(rwkvx_model *m, const rwkvx_options *opt, char *err) {
    int max = opt->kv_max, keep = opt->kv_keep, window = opt->kv_window;
    if (max < 0 || keep < 0 || window < 0)
        return rwkvx__fail(err, RWKVX_ERR_ARGUMENT, "kv_max, kv_keep and kv_window must not be negative");
    if (max == 0) {
        if (keep || window) return rwkvx__fail(err, RWKVX_ERR_ARGUMENT, "kv_keep and kv_window need kv_max");
        return RWKVX_OK;
    }
    if (max > (1 << 30)) return rwkvx__fail(err, RWKVX_ERR_ARGUMENT, "kv_max %d is too large (at most 2^30)", max);
    if (!keep) keep = (int)((int64_t)max * 4 / 5);
    if (!window) window = max / 10;
    if (window < 1 || keep <= window || keep >= max)
        return rwkvx__fail(err, RWKVX_ERR_ARGUMENT, "K/V limit needs 0 < kv_window < kv_keep < kv_max (got kv_max %d, kv_keep %d, kv_window %d)",
                           max, keep, window);
    m->kv_max = max, m->kv_keep = keep, m->kv_window = window;
    return RWKVX_OK;
}

/* The architecture key names the layout: ours ("rwkvx", also for plain RWKV-7)
   or llama.cpp's plain RWKV-7 ("rwkv7"); docs/FORMAT.md sets them side by side. */
static rwkvx_status rwkvx__read_arch(rwkvx__gguf *g, int *llama) {
    const rwkvx__kv *arch = rwkvx__find_kv(g, "general.architecture");
    const char *name;
    int n;
    if (!arch || arch->is_array || arch->type != RWKVX__GGUF_STRING)
        return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "missing general.architecture");
    {
        uint64_t len;
        memcpy(&len, arch->value, 8);
        name = (const char *)arch->value + 8;
        n = (int)(len > 64 ? 64 : len);
    }
    *llama = rwkvx__name_eq(name, (size_t)n, "rwkv7");
    if (*llama || rwkvx__name_eq(name, (size_t)n, "rwkvx")) return RWKVX_OK;
    if (rwkvx__name_eq(name, (size_t)n, "arwkv7"))
        return rwkvx__fail(g->err, RWKVX_ERR_UNSUPPORTED,
                           "architecture 'arwkv7' (RWKV-7 time-mix in a Qwen2 transformer, RMS norms) is not supported");
    return rwkvx__fail(g->err, RWKVX_ERR_UNSUPPORTED,
                       "architecture '%.*s' is neither rwkvx nor llama.cpp's rwkv7 (convert with rwkvx-convert)", n, name);
}

/* What a llama.cpp file says differently: no vocab_size (the embedding's rows
   are the vocabulary), a context length, token_shift_count 2, the ln_x epsilon
   fixed at 64e-5 by llama.cpp's graph (not a key), an optional eot token. */
static rwkvx_status rwkvx__read_llama_hparams(rwkvx__gguf *g, rwkvx_model *m, int big) {
    uint64_t i;
    int ignored = 0, shifts = 2, eot = 0;
    rwkvx_status s;
    const char *emb = rwkvx__model_tensors[RWKVX__M_EMB].name;
    for (i = 0; i < g->n_t; i++)
        if (rwkvx__name_eq(g->t[i].name, g->t[i].name_len, emb)) break;
    if (i == g->n_t) return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "missing tensor '%s'", emb);
    if (g->t[i].n_dims != 2 || g->t[i].ne[1] > (uint64_t)big)
        return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "tensor '%s' is not a [C, V] matrix with V <= %d", emb, big);
    m->n_vocab = (int)g->t[i].ne[1];
    m->gn_eps = 64e-5f;
    if ((s = rwkvx__get_int(g, "rwkv7.context_length", 0, 1, INT32_MAX, &ignored)) ||
        (s = rwkvx__get_int(g, "rwkv7.token_shift_count", 0, 0, 1 << 16, &shifts)) ||
        (s = rwkvx__get_int(g, "tokenizer.ggml.eot_token_id", 0, 0, (int64_t)m->n_vocab - 1, &eot)))
        return s;
    if (shifts != 2)
        return rwkvx__fail(g->err, RWKVX_ERR_UNSUPPORTED, "rwkv7.token_shift_count %d (an RWKV-7 block shifts 2 vectors)", shifts);
    if (rwkvx__find_kv(g, "rwkv7.attention.layer_norm_rms_epsilon"))
        return rwkvx__fail(g->err, RWKVX_ERR_UNSUPPORTED, "rwkv7 file with RMS norms (rwkv7.attention.layer_norm_rms_epsilon) is not supported");
    return RWKVX_OK;
}

/* Reads the hyper-parameters and checks they describe a model we can run. */
static rwkvx_status rwkvx__read_hparams(rwkvx__gguf *g, rwkvx_model *m, const rwkvx_options *opt) {
    rwkvx_status s;
    const int big = 1 << 24;
    int llama = 0;
    char k[10][64];
    const char *pre;
    if ((s = rwkvx__read_arch(g, &llama))) return s;
    pre = llama ? "rwkv7" : "rwkvx";
    m->chunk_size = 2048;
    m->chunk_topk = 3;
    m->ln_eps = 1e-5f;
    m->gn_eps = 64e-5f;
    if (llama && (s = rwkvx__read_llama_hparams(g, m, big))) return s;
    /* the same keys under either prefix (llama.cpp's names, which ours follow) */
    snprintf(k[0], sizeof k[0], "%s.embedding_length", pre);
    snprintf(k[1], sizeof k[1], "%s.vocab_size", pre);
    snprintf(k[2], sizeof k[2], "%s.feed_forward_length", pre);
    snprintf(k[3], sizeof k[3], "%s.block_count", pre);
    snprintf(k[4], sizeof k[4], "%s.attention.decay_lora_rank", pre);
    snprintf(k[5], sizeof k[5], "%s.attention.iclr_lora_rank", pre);
    snprintf(k[6], sizeof k[6], "%s.attention.value_residual_mix_lora_rank", pre);
    snprintf(k[7], sizeof k[7], "%s.attention.gate_lora_rank", pre);
    snprintf(k[8], sizeof k[8], "%s.attention.layer_norm_epsilon", pre);
    snprintf(k[9], sizeof k[9], "%s.wkv.head_size", pre);
    if ((s = rwkvx__get_int(g, k[0], 1, 64, 1 << 16, &m->n_embd)) ||
        (s = rwkvx__get_int(g, k[1], !llama, 1, big, &m->n_vocab)) ||
        (s = rwkvx__get_int(g, k[2], 1, 1, 1 << 20, &m->n_ffn)) ||
        (s = rwkvx__get_int(g, k[3], 1, 1, 4096, &m->n_rwkv)) ||
        (s = rwkvx__get_int(g, k[4], 1, 1, 1 << 16, &m->lora_w)) ||
        (s = rwkvx__get_int(g, k[5], 1, 1, 1 << 16, &m->lora_a)) ||
        (s = rwkvx__get_int(g, k[6], 0, 0, 1 << 16, &m->lora_v)) ||
        (s = rwkvx__get_int(g, k[7], 1, 1, 1 << 16, &m->lora_g)) ||
        (s = rwkvx__get_f32(g, k[8], &m->ln_eps)))
        return s;
    if (!llama &&
        ((s = rwkvx__get_int(g, "rwkvx.sparse_block_count", 0, 0, 4096, &m->n_sparse)) ||
         (s = rwkvx__get_int(g, "rwkvx.sparse.chunk_size", 0, 1, big, &m->chunk_size)) ||
         (s = rwkvx__get_int(g, "rwkvx.sparse.topk", 0, 1, big, &m->chunk_topk)) ||
         (s = rwkvx__get_f32(g, "rwkvx.attention.group_norm_epsilon", &m->gn_eps))))
        return s;
    {
        int head = RWKVX__HEAD;
        if ((s = rwkvx__get_int(g, k[9], 0, 1, 1 << 16, &head))) return s;
        if (head != RWKVX__HEAD) return rwkvx__fail(g->err, RWKVX_ERR_UNSUPPORTED, "head size %d (only 64 is supported)", head);
    }
    if (m->n_embd % RWKVX__HEAD) return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "embedding length %d is not a multiple of 64", m->n_embd);
    if (m->n_rwkv > 1 && m->lora_v == 0) return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "missing key '%s'", k[6]);
    m->n_head = m->n_embd / RWKVX__HEAD;
    if (opt && opt->chunk_size < 0) return rwkvx__fail(g->err, RWKVX_ERR_ARGUMENT, "chunk size must be positive");
    if (opt && opt->chunk_topk < 0) return rwkvx__fail(g->err, RWKVX_ERR_ARGUMENT, "chunk top-k must be positive");
    if (opt && opt->max_context < 0) return rwkvx__fail(g->err, RWKVX_ERR_ARGUMENT, "max_context must not be negative");
    if (opt && opt->chunk_size) m->chunk_size = opt->chunk_size;
    if (opt && opt->chunk_topk) m->chunk_topk = opt->chunk_topk;
    if (opt) m->max_context = opt->max_context;
    if (opt) m->kv_f16 = opt->kv_f16 != 0;
    return opt ? rwkvx__set_kv_limit(m, opt, g->err) : RWKVX_OK;
}

/* The execution order must list every RWKV block and every sparse block once. */
static rwkvx_status rwkvx__read_order(rwkvx__gguf *g, rwkvx_model *m) {
    const rwkvx__kv *kv = rwkvx__find_kv(g, "rwkvx.block_order");
    int n = m->n_rwkv + m->n_sparse, i, next_r = 0, next_s = 0;
    m->order = (int *)rwkvx__calloc((size_t)n, sizeof(int));
    if (!m->order) return rwkvx__fail(g->err, RWKVX_ERR_NOMEM, "out of memory");
    if (!kv) {
        if (m->n_sparse) return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "missing key 'rwkvx.block_order'");
        for (i = 0; i < n; i++) m->order[i] = i;
        return RWKVX_OK;
    }
    if (!kv->is_array || kv->type != RWKVX__GGUF_I32 || kv->count != (uint64_t)n)
        return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "rwkvx.block_order should be %d i32 values", n);
    /* RWKV blocks must run in increasing order (v_first comes from block 0), and
       so must sparse blocks; each appears exactly once. */
    for (i = 0; i < n; i++) {
        int32_t v;
        memcpy(&v, kv->value + 4 * (size_t)i, 4);
        if (v >= 0 ? v != next_r++ : -1 - v != next_s++)
            return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "rwkvx.block_order entry %d (%d) is out of sequence", i, (int)v);
        m->order[i] = v;
    }
    if (next_r != m->n_rwkv || next_s != m->n_sparse || m->order[0] != 0)
        return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "rwkvx.block_order does not match the block counts");
    return RWKVX_OK;
}

/* Turns one token's Python repr escapes (`\\ \' \" \n \t \r \xHH`) into bytes;
   returns the byte count or -1 for a malformed escape. */
static long rwkvx__unescape(const char *s, size_t n, char *out) {
    size_t i;
    long k = 0;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c != '\\') { out[k++] = c; continue; }
        if (++i >= n) return -1;
        switch (s[i]) {
        case '\\': out[k++] = '\\'; break;
        case '\'': out[k++] = '\''; break;
        case '"': out[k++] = '"'; break;
        case 'n': out[k++] = '\n'; break;
        case 't': out[k++] = '\t'; break;
        case 'r': out[k++] = '\r'; break;
        case 'x': {
            int hi, lo;
            if (i + 2 >= n) return -1; /* needs two hex digits */
            hi = s[i + 1], lo = s[i + 2];
            hi = hi >= '0' && hi <= '9' ? hi - '0' : hi >= 'a' && hi <= 'f' ? hi - 'a' + 10 : hi >= 'A' && hi <= 'F' ? hi - 'A' + 10 : -1;
            lo = lo >= '0' && lo <= '9' ? lo - '0' : lo >= 'a' && lo <= 'f' ? lo - 'a' + 10 : lo >= 'A' && lo <= 'F' ? lo - 'A' + 10 : -1;
            if (hi < 0 || lo < 0) return -1;
            out[k++] = (char)(hi * 16 + lo);
            i += 2;
            break;
        }
        default: return -1;
        }
    }
    return k;
}

static rwkvx_status rwkvx__tok_attach(rwkvx__gguf *g, rwkvx_model *m); /* Tokenizer section */

static rwkvx_status rwkvx__read_vocab(rwkvx__gguf *g, rwkvx_model *m) {
    const rwkvx__kv *kv = rwkvx__find_kv(g, "tokenizer.ggml.tokens");
    rwkvx__cursor c;
    size_t total = 0, i;
    if (!kv) return RWKVX_OK;
    if (!kv->is_array || kv->type != RWKVX__GGUF_STRING)
        return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "tokenizer.ggml.tokens is not an array of strings");
    if (kv->count > (uint64_t)m->n_vocab)
        return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "vocabulary has %llu tokens, more than the model's %d",
                           (unsigned long long)kv->count, m->n_vocab);
    /* pass 1: sizes (the escaped text is never shorter than its bytes) */
    c.p = kv->value;
    c.left = (size_t)(g->data - kv->value);
    for (i = 0; i < kv->count; i++) {
        const char *s = "";
        size_t n = 0;
        if (!rwkvx__take_string(&c, &s, &n)) /* bounds-checked by the parser: cannot fail */
            return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "vocabulary token %zu is truncated", i);
        total += n;
    }
    m->n_tokens = (int)kv->count;
    m->tok_off = (uint32_t *)rwkvx__calloc((size_t)m->n_tokens + 1, sizeof(uint32_t));
    m->tok_bytes = (char *)rwkvx__calloc(total + 1, 1);
    if (!m->tok_off || !m->tok_bytes) return rwkvx__fail(g->err, RWKVX_ERR_NOMEM, "out of memory for the vocabulary");
    if (total > UINT32_MAX) return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "vocabulary too large");
    c.p = kv->value;
    c.left = (size_t)(g->data - kv->value);
    for (i = 0; i < kv->count; i++) {
        const char *s = "";
        size_t n = 0;
        long k;
        if (!rwkvx__take_string(&c, &s, &n))
            return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "vocabulary token %zu is truncated", i);
        k = rwkvx__unescape(s, n, m->tok_bytes + m->tok_off[i]);
        if (k < 0) return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "token %zu has a malformed escape", i);
        m->tok_off[i + 1] = m->tok_off[i] + (uint32_t)k;
    }
    return rwkvx__tok_attach(g, m);
}

/* Values of a tensor that are NaN or infinite (exponent bits all ones; for
   a block type the values of each block one of whose f16 scales is: ggml's
   formulas make all of them NaN or infinite then, and no others can be).
   Little-endian host. Runs of 64 with a fixed trip count, so that compilers
   vectorize them. */
static uint64_t rwkvx__count_nonfinite(const unsigned char *p, uint32_t type, size_t bytes) {
    const rwkvx__type_row *t = rwkvx__type_of(type);
    uint64_t bad = 0;
    size_t n = bytes / (size_t)t->bytes, i, j;
    uint32_t mask = type == RWKVX_TYPE_F32 ? 0x7f800000u : type == RWKVX_TYPE_BF16 ? 0x7f80u : 0x7c00u, u;
    uint16_t h;
    int k;
    if (type == RWKVX_TYPE_F32)
        for (i = 0; i < n; i += 64) {
            unsigned c = 0;
            if (n - i < 64) { for (j = i; j < n; j++) { memcpy(&u, p + 4 * j, 4); c += (u & mask) == mask; } bad += c; break; }
            for (j = 0; j < 64; j++) { memcpy(&u, p + 4 * (i + j), 4); c += (u & mask) == mask; }
            bad += c;
        }
    else if (t->block == 1)
        for (i = 0; i < n; i += 64) {
            unsigned c = 0;
            if (n - i < 64) { for (j = i; j < n; j++) { memcpy(&h, p + 2 * j, 2); c += (h & mask) == mask; } bad += c; break; }
            for (j = 0; j < 64; j++) { memcpy(&h, p + 2 * (i + j), 2); c += (h & mask) == mask; }
            bad += c;
        }
    else
        for (i = 0; i < n; i++) {
            int spoilt = 0;
            for (k = 0; k < t->n_scales; k++) {
                memcpy(&h, p + (size_t)t->bytes * i + (size_t)t->scale_off + 2 * (size_t)k, 2);
                spoilt |= (h & mask) == mask;
            }
            bad += spoilt ? (uint64_t)t->block : 0;
        }
    return bad;
}

/* As llama.cpp's rwkv7 loader: no implicit tying, the file stores its head
   (after an earlier failure, that one is reported). */
static rwkvx_status rwkvx__require_head(rwkvx__binder *b) {
    const char *head = rwkvx__model_tensors[RWKVX__M_HEAD].name, *emb = rwkvx__model_tensors[RWKVX__M_EMB].name;
    if (b->status != RWKVX_OK || rwkvx__find_tensor(b, head, 0)) return RWKVX_OK;
    return rwkvx__fail(b->g->err, RWKVX_ERR_FORMAT, "missing tensor '%s' (the head: a model whose head is tied to %s must "
                                                    "store it too, as llama.cpp requires; rwkvx-convert does)", head, emb);
}

static rwkvx_status rwkvx__bind_all(rwkvx__gguf *g, rwkvx_model *m) {
    rwkvx__binder b;
    rwkvx_status s;
    uint64_t i;
    int r;
    b.g = g;
    b.status = RWKVX_OK;
    rwkvx__table_dims(m, b.dim);
    m->rwkv = (rwkvx__rwkv_block *)rwkvx__calloc((size_t)m->n_rwkv, sizeof *m->rwkv);
    m->sparse = (rwkvx__sparse_block *)rwkvx__calloc((size_t)m->n_sparse + 1, sizeof *m->sparse);
    if (!m->rwkv || !m->sparse) return rwkvx__fail(g->err, RWKVX_ERR_NOMEM, "out of memory");
    for (r = 0; r < RWKVX__M_COUNT; r++) {
        if (r == RWKVX__M_HEAD && (s = rwkvx__require_head(&b))) return s;
        rwkvx__bind_row(&b, &rwkvx__model_tensors[r], rwkvx__model_tensors[r].name, m);
    }
    for (r = 0; r < m->n_rwkv; r++)
        rwkvx__bind_block(&b, rwkvx__rwkv_tensors, RWKVX__R_COUNT, RWKVX__RWKV_PREFIX, r, &m->rwkv[r]);
    for (r = 0; r < m->n_sparse; r++)
        rwkvx__bind_block(&b, rwkvx__sparse_tensors, RWKVX__S_COUNT, RWKVX__SPARSE_PREFIX, r, &m->sparse[r]);
    if (b.status != RWKVX_OK) return b.status;
    for (i = 0; i < g->n_t; i++)
        if (!g->t[i].used)
            return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "unexpected tensor '%.*s'", (int)g->t[i].name_len, g->t[i].name);
    m->weight_type = m->rwkv[0].wr.type;
    m->fingerprint = 0xcbf29ce484222325ull;
    for (i = 0; i < g->n_t; i++) { /* names, shapes, types and each tensor's first bytes */
        const rwkvx__tinfo *t = &g->t[i];
        m->weight_bytes += t->bytes;
        m->fingerprint = rwkvx__fnv(m->fingerprint, t->name, t->name_len);
        m->fingerprint = rwkvx__fnv(m->fingerprint, t->ne, sizeof t->ne);
        m->fingerprint = rwkvx__fnv(m->fingerprint, &t->type, sizeof t->type);
        m->fingerprint = rwkvx__fnv(m->fingerprint, g->data + t->offset, t->bytes < 64 ? t->bytes : 64);
    }
    for (i = 0; i < g->n_t; i++) { /* one pass over the weights: the library never prints, tools warn */
        const rwkvx__tinfo *t = &g->t[i];
        uint64_t bad = rwkvx__count_nonfinite(g->data + t->offset, t->type, t->bytes);
        if (bad && !m->n_nonfinite)
            snprintf(m->nonfinite_tensor, sizeof m->nonfinite_tensor, "%.*s", (int)(t->name_len < 95 ? t->name_len : 95), t->name);
        m->n_nonfinite += bad;
    }
    return RWKVX_OK;
}

/* skip_sparse: the sparse blocks leave the execution order (their weights stay
   bound and checked). A different fingerprint keeps such states apart. */
static void rwkvx__drop_sparse(rwkvx_model *m) {
    int i, n = 0;
    for (i = 0; i < m->n_rwkv + m->n_sparse; i++)
        if (m->order[i] >= 0) m->order[n++] = m->order[i];
    m->n_sparse = 0;
    m->fingerprint = rwkvx__fnv(m->fingerprint, "skip_sparse", 11);
}

/* The weight matrices of block `which` (an entry of m->order: i >= 0 RWKV
   block i, -1 - j sparse block j) into mats; returns how many. */
#define RWKVX__BLOCK_MATS 14
static int rwkvx__block_mats(const rwkvx_model *m, int which, const rwkvx__mat **mats) {
    int n = 0;
    if (which >= 0) {
        const rwkvx__rwkv_block *b = &m->rwkv[which];
        mats[n++] = &b->wr, mats[n++] = &b->wk, mats[n++] = &b->wv, mats[n++] = &b->wo;
        mats[n++] = &b->w1, mats[n++] = &b->w2, mats[n++] = &b->a1, mats[n++] = &b->a2;
        mats[n++] = &b->g1, mats[n++] = &b->g2, mats[n++] = &b->ffn_key, mats[n++] = &b->ffn_value;
        if (which > 0) mats[n++] = &b->v1, mats[n++] = &b->v2;
    } else {
        const rwkvx__sparse_block *b = &m->sparse[-1 - which];
        mats[n++] = &b->wq, mats[n++] = &b->wk, mats[n++] = &b->wv, mats[n++] = &b->wo;
        mats[n++] = &b->ffn_key, mats[n++] = &b->ffn_value;
    }
    return n;
}

/* Packs the matrices of the products in the types that pack (rwkvx__packs; see "Integer products"). In the
   loader's own copy of the file or its private mapping they are packed
   where they lie (no tensor shares bytes with another: the reader wants
   each right after the one before; the mapping's pages become private copies, as large as
   the file's; a multiple of 16 rows needs no more); in the caller's memory
   (rwkvx_load_memory) into a copy. m->packed holds the copies and the
   spare rows. rwkvx__pack_pass counts the bytes of the copies (and sets
   *spare to the largest block) or, with base, packs. */
static size_t rwkvx__pack_pass(rwkvx_model *m, int in_place, unsigned char *base, size_t *spare) {
    const rwkvx__mat *list[RWKVX__BLOCK_MATS];
    size_t at = 0;
    int i, j;
    for (i = -1; i < m->n_rwkv + m->n_sparse; i++) { /* -1: the head */
        int n = i < 0 ? 1 : rwkvx__block_mats(m, m->order[i], list);
        if (i < 0) list[0] = &m->head;
        for (j = 0; j < n; j++) {
            rwkvx__mat *w = (rwkvx__mat *)(uintptr_t)list[j]; /* the model is still the loader's to change */
            size_t block, bytes;
            if (!rwkvx__packs(w)) continue;
            block = (size_t)(w->cols / rwkvx__type_of(w->type)->block) * (size_t)rwkvx__pgroup(w->type);
            bytes = in_place ? (w->rows % RWKVX__PROWS ? block : 0) : rwkvx__packed_bytes(w);
            if (!base && in_place && block > *spare) *spare = block;
            if (base && in_place) rwkvx__pack_rows_in_place(w, base + *spare + at, base);
            if (base && !in_place) rwkvx__pack_rows(w, base + *spare + at);
            at += (bytes + 63) / 64 * 64;
        }
    }
    return at;
}
static rwkvx_status rwkvx__pack_model(rwkvx_model *m, char *err) {
    int in_place = m->mapped || m->owned;
    size_t spare = 0, copies = rwkvx__pack_pass(m, in_place, NULL, &spare);
    unsigned char *base;
    if (!copies && !spare) return RWKVX_OK;
    spare = (spare + 63) / 64 * 64;
    m->packed = RWKVX_MALLOC(spare + copies + 64);
    if (!m->packed) return rwkvx__fail(err, RWKVX_ERR_NOMEM, "out of memory packing the quantized matrices");
    base = (unsigned char *)m->packed + (64 - (uintptr_t)m->packed % 64) % 64;
    rwkvx__pack_pass(m, in_place, base, &spare);
    if (!copies) RWKVX_FREE(m->packed), m->packed = NULL; /* only the spare rows: no longer needed */
    return RWKVX_OK;
}

/* Parses and binds a whole file image that already lives at m->file. */
static rwkvx_status rwkvx__load_image(rwkvx_model *m, const rwkvx_options *opt, char *err) {
    rwkvx__gguf g;
    rwkvx__cursor c;
    uint32_t alignment = 32;
    rwkvx_status s;
    const uint16_t one = 1;
    memset(&g, 0, sizeof g);
    g.err = err;
    if (*(const unsigned char *)&one != 1) return rwkvx__fail(err, RWKVX_ERR_UNSUPPORTED, "big-endian hosts are not supported");
    c.p = m->file;
    c.left = m->file_bytes;
    if (!(s = rwkvx__gguf_parse_header(&g, &c, &alignment)) &&
        !(s = rwkvx__gguf_parse_tensors(&g, &c, m->file, m->file_bytes, alignment)) &&
        !(s = rwkvx__read_hparams(&g, m, opt)) &&
        !(s = rwkvx__read_order(&g, m)) &&
        !(s = rwkvx__bind_all(&g, m)))
        s = rwkvx__read_vocab(&g, m);
    if (s == RWKVX_OK && opt && opt->skip_sparse) rwkvx__drop_sparse(m);
    if (s == RWKVX_OK) s = rwkvx__pack_model(m, err);
    RWKVX_FREE(g.kv);
    RWKVX_FREE(g.t);
    return s;
}

RWKVX_API void rwkvx_model_free(rwkvx_model *m) {
    if (!m) return;
#ifdef RWKVX__HAVE_MMAP
    if (m->mapped) munmap(m->mapped, m->mapped_bytes);
#endif
    RWKVX_FREE(m->owned);
    RWKVX_FREE(m->packed);
    RWKVX_FREE(m->order);
    RWKVX_FREE(m->rwkv);
    RWKVX_FREE(m->sparse);
    RWKVX_FREE(m->tok_off);
    RWKVX_FREE(m->tok_bytes);
    rwkvx_tokenizer_free(m->tok);
    RWKVX_FREE(m);
}

static rwkvx_status rwkvx__finish_load(rwkvx_model *m, rwkvx_model **out, const rwkvx_options *opt, char *err) {
    rwkvx_status s = rwkvx__load_image(m, opt, err);
    if (s != RWKVX_OK) {
        rwkvx_model_free(m);
        return s;
    }
    *out = m;
    return RWKVX_OK;
}

RWKVX_API rwkvx_status rwkvx_load_memory(rwkvx_model **out, const void *data, size_t bytes, const rwkvx_options *opt, char *err) {
    rwkvx_model *m;
    if (out) *out = NULL;
    if (!out || (!data && bytes)) return rwkvx__fail(err, RWKVX_ERR_ARGUMENT, "rwkvx_load_memory: NULL argument");
    m = (rwkvx_model *)rwkvx__calloc(1, sizeof *m);
    if (!m) return rwkvx__fail(err, RWKVX_ERR_NOMEM, "out of memory");
    if ((uintptr_t)data % 32) { /* tensors are read in place: they need the file's alignment */
        m->owned = RWKVX_MALLOC(bytes ? bytes : 1);
        if (!m->owned) { rwkvx_model_free(m); return rwkvx__fail(err, RWKVX_ERR_NOMEM, "out of memory copying the model"); }
        if (bytes) memcpy(m->owned, data, bytes);
        data = m->owned;
    }
    m->file = (const unsigned char *)data;
    m->file_bytes = bytes;
    return rwkvx__finish_load(m, out, opt, err);
}

/* Reads a whole file into malloc'd memory (malloc's alignment suffices). */
static rwkvx_status rwkvx__read_file(rwkvx_model *m, const char *path, char *err) {
    FILE *f = fopen(path, "rb");
    long size;
    if (!f) return rwkvx__fail(err, RWKVX_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    if (fgetc(f) == EOF && ferror(f)) { /* a directory opens, then cannot be read */
        int e = errno;
        fclose(f);
        return rwkvx__fail(err, RWKVX_ERR_IO, "cannot read '%s': %s", path, strerror(e));
    }
    if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
        fclose(f);
        return rwkvx__fail(err, RWKVX_ERR_IO, "cannot size '%s'", path);
    }
    m->owned = RWKVX_MALLOC((size_t)size + 1);
    if (!m->owned) { fclose(f); return rwkvx__fail(err, RWKVX_ERR_NOMEM, "out of memory reading '%s'", path); }
    if (fread(m->owned, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        return rwkvx__fail(err, RWKVX_ERR_IO, "cannot read '%s'", path);
    }
    fclose(f);
    m->file = (const unsigned char *)m->owned;
    m->file_bytes = (size_t)size;
    return RWKVX_OK;
}

RWKVX_API rwkvx_status rwkvx_load_file(rwkvx_model **out, const char *path, const rwkvx_options *opt, char *err) {
    rwkvx_model *m;
    rwkvx_status s = RWKVX_ERR_IO;
    if (out) *out = NULL;
    if (!out || !path) return rwkvx__fail(err, RWKVX_ERR_ARGUMENT, "rwkvx_load_file: NULL argument");
    m = (rwkvx_model *)rwkvx__calloc(1, sizeof *m);
    if (!m) return rwkvx__fail(err, RWKVX_ERR_NOMEM, "out of memory");
#ifdef RWKVX__HAVE_MMAP
    if (!opt || !opt->no_mmap) {
        struct stat st;
        int fd = open(path, O_RDONLY);
        if (fd < 0) { rwkvx_model_free(m); return rwkvx__fail(err, RWKVX_ERR_IO, "cannot open '%s': %s", path, strerror(errno)); }
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            close(fd);
            rwkvx_model_free(m);
            return rwkvx__fail(err, RWKVX_ERR_IO, "'%s' is a directory, not a model file", path);
        }
        if (fstat(fd, &st) == 0 && st.st_size > 0) {
            void *p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
            if (p != MAP_FAILED) {
                m->mapped = p;
                m->mapped_bytes = (size_t)st.st_size;
                m->file = (const unsigned char *)p;
                m->file_bytes = (size_t)st.st_size;
                s = RWKVX_OK;
            }
        }
        close(fd);
    }
#endif
    if (s != RWKVX_OK && (s = rwkvx__read_file(m, path, err)) != RWKVX_OK) {
        rwkvx_model_free(m);
        return s;
    }
    return rwkvx__finish_load(m, out, opt, err);
}

RWKVX_API void rwkvx_model_info(const rwkvx_model *m, rwkvx_info *info) {
    double macs = 0;
    size_t bytes = m ? rwkvx__mat_bytes(&m->head) + rwkvx__row_bytes(&m->emb) : 0;
    int i, j;
    if (!info) return;
    memset(info, 0, sizeof *info);
    if (!m) return;
    info->n_embd = m->n_embd;
    info->n_head = m->n_head;
    info->n_ffn = m->n_ffn;
    info->n_vocab = m->n_vocab;
    info->n_rwkv = m->n_rwkv;
    info->n_sparse = m->n_sparse;
    info->chunk_size = m->chunk_size;
    info->chunk_topk = m->chunk_topk;
    info->n_tokens = m->n_tokens;
    info->weight_type = m->weight_type;
    info->weight_bytes = m->weight_bytes;
    info->max_context = m->max_context;
    info->kv_f16 = m->kv_f16;
    info->kv_max = m->kv_max, info->kv_keep = m->kv_keep, info->kv_window = m->kv_window;
    info->kv_token_bytes = (double)m->n_sparse * m->n_embd * (2.0 * (m->kv_f16 ? 2 : 4) + 4.0 / m->chunk_size);
    info->n_nonfinite = m->n_nonfinite;
    info->nonfinite_tensor = m->n_nonfinite ? m->nonfinite_tensor : NULL;
    for (i = 0; i < m->n_rwkv + m->n_sparse; i++) {  /* the blocks that run */
        const rwkvx__mat *mats[RWKVX__BLOCK_MATS];
        int n = rwkvx__block_mats(m, m->order[i], mats);
        for (j = 0; j < n; j++) {
            bytes += rwkvx__mat_bytes(mats[j]);
            macs += (double)mats[j]->rows * (double)mats[j]->cols;
        }
    }
    info->token_bytes = bytes;
    info->token_flops = 2 * macs;
}

RWKVX_API int rwkvx_n_vocab(const rwkvx_model *m) { return m ? m->n_vocab : 0; }

RWKVX_API const char *rwkvx_token_bytes(const rwkvx_model *m, int id, size_t *len) {
    if (!m || id < 0 || id >= m->n_tokens) return NULL;
    if (len) *len = m->tok_off[id + 1] - m->tok_off[id];
    return m->tok_bytes + m->tok_off[id];
}

/* ---------------------------------------------------------------------- */
/* State                                                                  */
/* ---------------------------------------------------------------------- */

/* floats of one block's part (0: none, as RECENT_Q without the K/V limit,
   or KV, which is not a fixed-size part) */
static size_t rwkvx__part_floats(const rwkvx_model *m, int part) {
    size_t C = (size_t)m->n_embd;
    switch (part) {
    case RWKVX__PART_ATT_PREV: case RWKVX__PART_FFN_PREV: case RWKVX__PART_SPARSE_FFN_PREV: case RWKVX__PART_CHUNK_SUM: return C;
    case RWKVX__PART_WKV: return C * RWKVX__HEAD;
    case RWKVX__PART_RECENT_Q: return m->kv_max > 0 && m->n_sparse > 0 ? (size_t)m->kv_window * C : 0;
    }
    return 0;
}

static size_t rwkvx__part_blocks(const rwkvx_model *m, int part) {
    return (size_t)(rwkvx__parts[part].kind == RWKVX__BLOCK_SPARSE ? m->n_sparse : m->n_rwkv);
}

/* block i's part (i counts the blocks of the part's kind) */
static float *rwkvx__part_at(const rwkvx_state *st, int part, int i) {
    return st->part[part] + (size_t)i * rwkvx__part_floats(st->model, part);
}

/* Allocates the fixed-size parts, zero; the K/V caches point at theirs. */
static int rwkvx__parts_create(rwkvx_state *st) {
    const rwkvx_model *m = st->model;
    size_t total = 0, at, add;
    int part, j, overflow = 0;
    for (part = 0; part < RWKVX__N_PARTS; part++) {
        add = rwkvx__mul(rwkvx__part_blocks(m, part), rwkvx__part_floats(m, part), &overflow);
        if (total > SIZE_MAX - add) overflow = 1;
        total += add;
    }
    if (overflow || !(st->parts_block = (float *)rwkvx__calloc(total, sizeof(float)))) return 0;
    st->parts_floats = total;
    for (at = 0, part = 0; part < RWKVX__N_PARTS; part++) {
        st->part[part] = st->parts_block + at;
        at += rwkvx__part_blocks(m, part) * rwkvx__part_floats(m, part);
    }
    for (j = 0; j < m->n_sparse; j++) {
        st->kv[j].chunk_sum = rwkvx__part_at(st, RWKVX__PART_CHUNK_SUM, j);
        st->kv[j].recent_q = rwkvx__part_floats(m, RWKVX__PART_RECENT_Q) ? rwkvx__part_at(st, RWKVX__PART_RECENT_Q, j) : NULL;
    }
    return 1;
}

static size_t rwkvx__lora_sum(const rwkvx_model *m) {
    return (size_t)m->lora_w + (size_t)m->lora_a + (size_t)m->lora_g + (size_t)m->lora_v;
}

RWKVX_API void rwkvx_state_free(rwkvx_state *st) {
    int j;
    if (!st) return;
    if (st->kv)
        for (j = 0; j < st->model->n_sparse; j++) {
            int h;
            for (h = 0; h < st->model->n_head && st->kv[j].k; h++) RWKVX_FREE(st->kv[j].k[h]);
            for (h = 0; h < st->model->n_head && st->kv[j].v; h++) RWKVX_FREE(st->kv[j].v[h]);
            RWKVX_FREE(st->kv[j].k);
            RWKVX_FREE(st->kv[j].v);
            RWKVX_FREE(st->kv[j].chunk_mean);
        }
    RWKVX_FREE(st->kv);
    RWKVX_FREE(st->evict_votes);
    RWKVX_FREE(st->evict_heap);
    RWKVX_FREE(st->evict_kept);
    RWKVX_FREE(st->parts_block);
    RWKVX_FREE(st->s.rows_block);
    RWKVX_FREE(st->s.work_block);
    RWKVX_FREE(st->s.gates);
    RWKVX_FREE(st->s.picked);
    RWKVX_FREE(st->s.sel);
    RWKVX_FREE(st->s.n_sel);
    RWKVX_FREE(st->s.queries);
    RWKVX_FREE(st->stage);
    RWKVX_FREE(st);
}

static size_t rwkvx__kv_elem_bytes(const rwkvx_model *m) { return m->kv_f16 ? 2 : 4; }

/* Makes room for `positions` tokens in every sparse block's K/V storage,
   growing geometrically (each head's array on its own; a realloc keeps the
   contents). On failure the capacity is unchanged and so is everything the
   state holds. */
static rwkvx_status rwkvx__kv_reserve(rwkvx_state *st, uint64_t positions) {
    const rwkvx_model *m = st->model;
    size_t C = (size_t)m->n_embd, cap = st->kv_capacity, chunks, bytes, row;
    int j, h, overflow = 0;
    if (positions <= cap || m->n_sparse == 0) return RWKVX_OK;
    if (positions > SIZE_MAX / 2) return RWKVX_ERR_NOMEM;
    if (cap < 256) cap = 256;
    while (cap < positions) cap *= 2;
    if (m->kv_max > 0 && cap > (size_t)m->kv_max) cap = (size_t)m->kv_max; /* positions <= kv_max then */
    chunks = cap / (size_t)m->chunk_size + 1;
    row = RWKVX__HEAD * rwkvx__kv_elem_bytes(m);
    bytes = rwkvx__mul(rwkvx__mul(cap, C, &overflow), sizeof(float), &overflow); /* at least H * cap * row */
    if (overflow) return RWKVX_ERR_NOMEM;
    bytes = cap * row;
    for (j = 0; j < m->n_sparse; j++) {
        rwkvx__kv_cache *kv = &st->kv[j];
        void *p;
        for (h = 0; h < m->n_head; h++) {
            if (!(p = RWKVX_REALLOC(kv->k[h], bytes))) return RWKVX_ERR_NOMEM;
            kv->k[h] = p;
            if (!(p = RWKVX_REALLOC(kv->v[h], bytes))) return RWKVX_ERR_NOMEM;
            kv->v[h] = p;
        }
        if (!(p = RWKVX_REALLOC(kv->chunk_mean, chunks * C * sizeof(float)))) return RWKVX_ERR_NOMEM;
        kv->chunk_mean = (float *)p;
    }
    {
        size_t per = chunks * (size_t)st->max_threads;
        float *g = (float *)RWKVX_REALLOC(st->s.gates, per * sizeof(float));
        int *pk;
        if (!g) return RWKVX_ERR_NOMEM;
        st->s.gates = g;
        pk = (int *)RWKVX_REALLOC(st->s.picked, per * sizeof(int));
        if (!pk) return RWKVX_ERR_NOMEM;
        st->s.picked = pk;
        per = (size_t)m->chunk_topk - 1 < chunks ? (size_t)m->chunk_topk - 1 : chunks;
        if (!(pk = (int *)RWKVX_REALLOC(st->s.sel, RWKVX__BATCH * (size_t)m->n_head * (per ? per : 1) * sizeof(int))))
            return RWKVX_ERR_NOMEM;
        st->s.sel = pk;
        st->s.sel_max = (int)per;
    }
    st->kv_capacity = cap;
    return RWKVX_OK;
}

/* Every persistent part to zero, as a new state; the K/V capacity stays. */
RWKVX_API void rwkvx_state_reset(rwkvx_state *st) {
    if (!st) return;
    st->n_pos = 0;
    st->kv_len = 0;
    memset(st->parts_block, 0, st->parts_floats * sizeof(float));
}

/* The row buffers of the scratch, each with its width (floats per row): one
   list gives their total (floats per row, returned) and, with a block of
   RWKVX__BATCH times that many floats, where each one starts. */
static size_t rwkvx__scratch_rows(const rwkvx_model *m, rwkvx__scratch *s, float *block) {
    size_t C = (size_t)m->n_embd, total = 0, i;
    struct { float **at; size_t width; } rows[] = {
        {&s->x, C}, {&s->xn, C}, {&s->shift, C}, {&s->mix, 6 * C}, {&s->r, C}, {&s->k, C}, {&s->v, C},
        {&s->w, C}, {&s->a, C}, {&s->g, C}, {&s->v_gate, C}, {&s->kk, C}, {&s->v_first, C}, {&s->q, C},
        {&s->att, C}, {&s->out, C}, {&s->ffn_in, C}, {&s->ffn, (size_t)m->n_ffn}, {&s->lora_w, (size_t)m->lora_w},
        {&s->lora_a, (size_t)m->lora_a}, {&s->lora_g, (size_t)m->lora_g}, {&s->lora_v, (size_t)m->lora_v}};
    for (i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (block) *rows[i].at = block + RWKVX__BATCH * total;
        total += rows[i].width;
    }
    return total;
}

RWKVX_API rwkvx_status rwkvx_state_create(rwkvx_state **out, const rwkvx_model *m) {
    rwkvx_state *st;
    size_t C, B = RWKVX__BATCH, per_token;
    int j, ok = 1;
    if (!out) return RWKVX_ERR_ARGUMENT;
    *out = NULL;
    if (!m) return RWKVX_ERR_ARGUMENT;
    C = (size_t)m->n_embd;
    st = (rwkvx_state *)rwkvx__calloc(1, sizeof *st);
    if (!st) return RWKVX_ERR_NOMEM;
    st->model = m;
    st->max_threads = rwkvx__max_threads();
    st->kv = (rwkvx__kv_cache *)rwkvx__calloc((size_t)m->n_sparse + 1, sizeof *st->kv);
    ok = st->kv && rwkvx__parts_create(st);
    for (j = 0; ok && j < m->n_sparse; j++) {
        st->kv[j].k = (void **)rwkvx__calloc((size_t)m->n_head, sizeof(void *));
        st->kv[j].v = (void **)rwkvx__calloc((size_t)m->n_head, sizeof(void *));
        ok = st->kv[j].k && st->kv[j].v;
    }
    if (ok && m->kv_max > 0 && m->n_sparse > 0) { /* the eviction's scratch, allocated once */
        size_t threads = (size_t)st->max_threads;
        st->evict_votes = (float *)rwkvx__calloc(threads * 2 * (size_t)m->kv_max, sizeof(float));
        st->evict_heap = (int *)rwkvx__calloc(threads * (size_t)m->kv_keep, sizeof(int));
        st->evict_kept = (unsigned char *)rwkvx__calloc(threads * (size_t)m->kv_max, 1);
        ok = st->evict_votes && st->evict_heap && st->evict_kept;
    }
    per_token = rwkvx__scratch_rows(m, &st->s, NULL);
    if (ok) ok = (st->s.rows_block = (float *)rwkvx__calloc(B * per_token, sizeof(float))) != NULL;
    st->s.work.stride = rwkvx__work_floats(C + (size_t)m->n_ffn + rwkvx__lora_sum(m)); /* >= any matrix's columns */
    if (ok) ok = (st->s.work_block = rwkvx__calloc((size_t)st->max_threads * st->s.work.stride + 16, sizeof(float))) != NULL;
    if (ok) ok = (st->s.n_sel = (int *)rwkvx__calloc(B * (size_t)m->n_head, sizeof(int))) != NULL;
    if (ok) ok = (st->s.queries = (rwkvx__query *)rwkvx__calloc((size_t)st->max_threads * B, sizeof(rwkvx__query))) != NULL;
    if (!ok || rwkvx__kv_reserve(st, 1) != RWKVX_OK) {
        rwkvx_state_free(st);
        return RWKVX_ERR_NOMEM;
    }
    rwkvx__scratch_rows(m, &st->s, st->s.rows_block);
    st->s.work.base = (float *)st->s.work_block + (16 - (uintptr_t)st->s.work_block / sizeof(float) % 16) % 16;
    *out = st;
    return RWKVX_OK;
}

RWKVX_API void rwkvx_state_set_threads(rwkvx_state *st, int n) {
    if (!st) return;
    if (n != st->n_threads) memset(&st->tuner, 0, sizeof st->tuner);
    st->n_threads = n;
}
RWKVX_API uint64_t rwkvx_state_position(const rwkvx_state *st) { return st ? st->n_pos : 0; }
RWKVX_API uint64_t rwkvx_state_kv_positions(const rwkvx_state *st) { return st ? st->kv_len : 0; }

static int rwkvx__threads(const rwkvx_state *st) {
    return st->n_threads <= 0 || st->n_threads > st->max_threads ? st->max_threads : st->n_threads;
}

RWKVX_API int rwkvx_state_threads(const rwkvx_state *st) {
    if (!st) return 0;
    if (st->n_threads <= 0 && st->tuner.threads > 0) return st->tuner.threads;
    return rwkvx__threads(st);
}

/* The thread tuner (rwkvx__thread_tuner, above). Without OpenMP there is one
   thread and nothing to tune. */
static double rwkvx__seconds(void) {
#ifdef _OPENMP
    return omp_get_wtime();
#else
    return 0.0;
#endif
}

static int rwkvx__size_class(int rows) {
    int c = 0;
    for (; rows > 1 && c < RWKVX__TUNE_SIZES - 1; rows >>= 1) c++;
    return c;
}

/* The count next to n among 1, 2, 4, ... and max, upwards or downwards
   (n itself at either end). */
static int rwkvx__tune_step(int n, int up, int max) {
    int p = 1;
    if (up) {
        while (p <= n) p *= 2;
        return p < max ? p : max;
    }
    while (p * 2 < n) p *= 2;
    return p < n ? p : n;
}

/* Threads for the next pass of `rows` rows; it may be a try. */
static int rwkvx__tuned_threads(rwkvx_state *st, int rows) {
    rwkvx__thread_tuner *u = &st->tuner;
    int k, way, next;
    if (!u->threads) u->threads = st->max_threads;
    u->trying = 0;
    if (u->per_row[rwkvx__size_class(rows)] <= 0) return u->threads; /* nothing to compare with yet */
    for (k = 0; k < 2 && !u->trying; k++) {
        way = k ? !u->way : u->way;
        next = rwkvx__tune_step(u->threads, way, st->max_threads);
        if (next != u->threads && u->since[way] >= u->wait[way]) u->trying = next, u->way = way;
    }
    return u->trying ? u->trying : u->threads;
}

static double rwkvx__tune_wait(double last, double lost) {
    double wait = RWKVX__TUNE_PAYBACK * lost;
    if (wait < 2 * last) wait = 2 * last;
    return wait < RWKVX__TUNE_WAIT_MAX ? wait : RWKVX__TUNE_WAIT_MAX;
}

/* What a pass of `rows` rows on `threads` threads took (seconds). */
static void rwkvx__tune_learn(rwkvx_state *st, int rows, int threads, double seconds) {
    rwkvx__thread_tuner *u = &st->tuner;
    int way = u->way, c = rwkvx__size_class(rows);
    double per_row = seconds / rows, *mean = &u->per_row[c], before = *mean;
    if (threads != (u->trying ? u->trying : u->threads)) return; /* another state's count limited it */
    u->since[0] += seconds, u->since[1] += seconds;
    if (!u->trying) {
        if (before > 0 && per_row > 3 * before) u->wait[0] = u->wait[1] = 0; /* the machine changed: try now */
        if (u->warm[c]) *mean = before > 0 ? 0.75 * before + 0.25 * per_row : per_row;
        u->warm[c] = 1;
        return;
    }
    u->trying = 0;
    u->since[way] = 0;
    if (per_row < 0.9 * before) { /* moved; the other sizes' means were of the old count */
        u->threads = threads;
        memset(u->per_row, 0, sizeof u->per_row);
        *mean = per_row;
        u->since[!way] = 0;
        u->wait[way] = 0;
        u->wait[!way] = rwkvx__tune_wait(0, (before - per_row) * rows); /* going back would lose that */
    } else {
        u->wait[way] = rwkvx__tune_wait(u->wait[way], (per_row - before) * rows);
        u->way = !way;
    }
}

/* Threads for a pass: each state's scratch is per thread, so the fewest any
   state allows; the first state's tuner decides when it is left at 0. */
static int rwkvx__pass_threads(rwkvx_state *const *states, size_t n, int rows) {
    int nt = states[0]->n_threads <= 0 ? rwkvx__tuned_threads(states[0], rows) : rwkvx__threads(states[0]);
    size_t i;
    for (i = 1; i < n; i++)
        if (rwkvx__threads(states[i]) < nt) nt = rwkvx__threads(states[i]);
    return nt;
}

/* ---------------------------------------------------------------------- */
/* Saving, restoring and copying states                                   */
/* ---------------------------------------------------------------------- */

/* Saved layout, little-endian: "RWKVXST1" magic, u32 version, u32 chunk size,
   u64 model fingerprint, u64 positions (tokens seen), then per RWKV block
   att_prev[C], ffn_prev[C], wkv[H*64*64] and per sparse block ffn_prev[C],
   k[n*C], v[n*C] as f32, n entries per head in order. Chunk means are rebuilt
   from the keys on restore (the sums of rwkvx__kv_append, bit for bit).
   Version 1 (the exact rule): n = positions.
   Version 2 (states of a model loaded with the K/V limit): the header goes on
   with u64 n (entries per head, at most kv_max), u32 kv_max, kv_keep,
   kv_window, u32 0; each sparse block ends with recent_q[kv_window*C], the
   window's queries as kept (token t in row t % kv_window). The limit is part
   of what a state means: a state of one setting is refused (RWKVX_ERR_MISMATCH)
   by a model loaded with another, or without it. */
#define RWKVX__STATE_VERSION 1u
#define RWKVX__STATE_VERSION_LIMITED 2u
#define RWKVX__STATE_HEADER 32u
#define RWKVX__STATE_HEADER_LIMITED 56u

static size_t rwkvx__state_header_bytes(const rwkvx_model *m) {
    return rwkvx__kv_limited(m) ? RWKVX__STATE_HEADER_LIMITED : RWKVX__STATE_HEADER;
}

/* floats one block's part takes in a saved state, for n entries per sparse head */
static size_t rwkvx__part_saved_floats(const rwkvx_model *m, int part, uint64_t n, int *overflow) {
    switch (rwkvx__parts[part].saving) {
    case RWKVX__SAVING_KEYS_VALUES:
        if (n > SIZE_MAX) *overflow = 1;
        return rwkvx__mul(2 * (size_t)m->n_embd, (size_t)n, overflow);
    case RWKVX__SAVING_REBUILT: return 0;
    }
    return rwkvx__part_floats(m, part);
}

/* floats after the header, for n entries per sparse head */
static size_t rwkvx__state_floats(const rwkvx_model *m, uint64_t n, int *overflow) {
    size_t total = 0, add;
    int part;
    for (part = 0; part < RWKVX__N_PARTS; part++) {
        add = rwkvx__mul(rwkvx__part_blocks(m, part), rwkvx__part_saved_floats(m, part, n, overflow), overflow);
        if (total > SIZE_MAX - add) *overflow = 1;
        total += add;
    }
    return total;
}

RWKVX_API size_t rwkvx_state_save_bytes(const rwkvx_state *st) {
    int overflow = 0;
    if (!st) return 0;
    return rwkvx__state_header_bytes(st->model) + rwkvx__state_floats(st->model, st->kv_len, &overflow) * sizeof(float);
}

static unsigned char *rwkvx__put(unsigned char *p, const void *src, size_t n) {
    memcpy(p, src, n);
    return p + n;
}

static const unsigned char *rwkvx__get(const unsigned char *p, void *dst, size_t n) {
    memcpy(dst, p, n);
    return p + n;
}

/* WKV states are saved as S[h][i][j] (value index i, key index j) and kept
   transposed in memory (rwkvx__wkv_head says why). */
static void rwkvx__transpose_head(const float *src, float *dst) {
    int i, j;
    for (i = 0; i < RWKVX__HEAD; i++)
        for (j = 0; j < RWKVX__HEAD; j++) dst[j * RWKVX__HEAD + i] = src[i * RWKVX__HEAD + j];
}

static unsigned char *rwkvx__put_wkv(unsigned char *p, const float *St, int n_head) {
    float S[RWKVX__HEAD * RWKVX__HEAD];
    int h;
    for (h = 0; h < n_head; h++) {
        rwkvx__transpose_head(St + (size_t)h * RWKVX__HEAD * RWKVX__HEAD, S);
        p = rwkvx__put(p, S, sizeof S);
    }
    return p;
}

static const unsigned char *rwkvx__get_wkv(const unsigned char *p, float *St, int n_head) {
    float S[RWKVX__HEAD * RWKVX__HEAD];
    int h;
    for (h = 0; h < n_head; h++) {
        p = rwkvx__get(p, S, sizeof S);
        rwkvx__transpose_head(S, St + (size_t)h * RWKVX__HEAD * RWKVX__HEAD);
    }
    return p;
}

/* Block i's part into a saved state at p; returns the end. Keys of every
   entry, then values, [entry][C] f32. */
static unsigned char *rwkvx__save_part(const rwkvx_state *st, int part, int i, unsigned char *p) {
    const rwkvx_model *m = st->model;
    int which, h;
    uint64_t t;
    switch (rwkvx__parts[part].saving) {
    case RWKVX__SAVING_SAVED: return rwkvx__put(p, rwkvx__part_at(st, part, i), rwkvx__part_floats(m, part) * sizeof(float));
    case RWKVX__SAVING_TRANSPOSED: return rwkvx__put_wkv(p, rwkvx__part_at(st, part, i), m->n_head);
    case RWKVX__SAVING_KEYS_VALUES:
        for (which = 0; which < 2; which++)
            for (t = 0; t < st->kv_len; t++)
                for (h = 0; h < m->n_head; h++, p += RWKVX__HEAD * sizeof(float)) {
                    float row[RWKVX__HEAD];
                    rwkvx__kv_row(m, which ? st->kv[i].v[h] : st->kv[i].k[h], t, row);
                    memcpy(p, row, sizeof row);
                }
        return p;
    }
    return p; /* REBUILT: not saved */
}

/* Block i's part from a saved state at p (n_kv entries per sparse head);
   returns the end. Keys and values are appended one position at a time, as
   eval appends them, which rebuilds the chunk sums and means bit for bit. */
static const unsigned char *rwkvx__load_part(rwkvx_state *st, int part, int i, const unsigned char *p, uint64_t n_kv) {
    const rwkvx_model *m = st->model;
    size_t C = (size_t)m->n_embd;
    uint64_t t;
    switch (rwkvx__parts[part].saving) {
    case RWKVX__SAVING_SAVED: return rwkvx__get(p, rwkvx__part_at(st, part, i), rwkvx__part_floats(m, part) * sizeof(float));
    case RWKVX__SAVING_TRANSPOSED: return rwkvx__get_wkv(p, rwkvx__part_at(st, part, i), m->n_head);
    case RWKVX__SAVING_KEYS_VALUES:
        for (t = 0; t < n_kv; t++)
            rwkvx__kv_append(m, &st->kv[i], t, (const float *)(const void *)(p + t * C * 4),
                             (const float *)(const void *)(p + (n_kv + t) * C * 4), 1);
        return p + 2 * n_kv * C * sizeof(float);
    }
    return p;
}

RWKVX_API rwkvx_status rwkvx_state_save(const rwkvx_state *st, void *buf, size_t bytes) {
    const rwkvx_model *m;
    uint32_t version, chunk;
    unsigned char *p = (unsigned char *)buf;
    int i, kind, part;
    if (!st || !buf || bytes < rwkvx_state_save_bytes(st)) return RWKVX_ERR_ARGUMENT;
    m = st->model;
    version = rwkvx__kv_limited(m) ? RWKVX__STATE_VERSION_LIMITED : RWKVX__STATE_VERSION;
    chunk = (uint32_t)m->chunk_size;
    p = rwkvx__put(p, "RWKVXST1", 8);
    p = rwkvx__put(p, &version, 4);
    p = rwkvx__put(p, &chunk, 4);
    p = rwkvx__put(p, &m->fingerprint, 8);
    p = rwkvx__put(p, &st->n_pos, 8);
    if (rwkvx__kv_limited(m)) {
        uint32_t limit[4];
        limit[0] = (uint32_t)m->kv_max, limit[1] = (uint32_t)m->kv_keep, limit[2] = (uint32_t)m->kv_window, limit[3] = 0;
        p = rwkvx__put(p, &st->kv_len, 8);
        p = rwkvx__put(p, limit, sizeof limit);
    }
    for (kind = RWKVX__BLOCK_RWKV; kind <= RWKVX__BLOCK_SPARSE; kind++)
        for (i = 0; i < (kind == RWKVX__BLOCK_RWKV ? m->n_rwkv : m->n_sparse); i++)
            for (part = 0; part < RWKVX__N_PARTS; part++)
                if (rwkvx__parts[part].kind == kind) p = rwkvx__save_part(st, part, i, p);
    return RWKVX_OK;
}

/* Reads a state header: positions, entries per head and where the body
   starts. The setting of the K/V limit must be the model's. */
static rwkvx_status rwkvx__state_header(const rwkvx_model *m, const unsigned char *p, size_t bytes, uint64_t *n_pos,
                                        uint64_t *n_kv, size_t *header) {
    uint32_t version, chunk, limit[4];
    uint64_t fingerprint;
    if (bytes < RWKVX__STATE_HEADER || memcmp(p, "RWKVXST", 7)) return RWKVX_ERR_FORMAT;
    memcpy(&version, p + 8, 4);
    memcpy(&chunk, p + 12, 4);
    memcpy(&fingerprint, p + 16, 8);
    memcpy(n_pos, p + 24, 8);
    if (p[7] != '1' || (version != RWKVX__STATE_VERSION && version != RWKVX__STATE_VERSION_LIMITED)) return RWKVX_ERR_UNSUPPORTED;
    if (fingerprint != m->fingerprint || chunk != (uint32_t)m->chunk_size) return RWKVX_ERR_MISMATCH;
    if ((version == RWKVX__STATE_VERSION_LIMITED) != rwkvx__kv_limited(m)) return RWKVX_ERR_MISMATCH;
    *n_kv = *n_pos;
    *header = RWKVX__STATE_HEADER;
    if (version == RWKVX__STATE_VERSION_LIMITED) {
        if (bytes < RWKVX__STATE_HEADER_LIMITED) return RWKVX_ERR_FORMAT;
        memcpy(n_kv, p + 32, 8);
        memcpy(limit, p + 40, sizeof limit);
        if (limit[0] != (uint32_t)m->kv_max || limit[1] != (uint32_t)m->kv_keep || limit[2] != (uint32_t)m->kv_window)
            return RWKVX_ERR_MISMATCH;
        if (limit[3] != 0 || *n_kv > *n_pos || *n_kv > (uint64_t)m->kv_max) return RWKVX_ERR_FORMAT;
        *header = RWKVX__STATE_HEADER_LIMITED;
    }
    return RWKVX_OK;
}



RWKVX_API rwkvx_status rwkvx_state_load(rwkvx_state *st, const void *buf, size_t bytes) {
    const rwkvx_model *m;
    const unsigned char *p = (const unsigned char *)buf;
    uint64_t n_pos, n_kv;
    size_t floats, header;
    int i, kind, part, overflow = 0;
    rwkvx_status s;
    if (!st || (!buf && bytes)) return RWKVX_ERR_ARGUMENT;
    m = st->model;
    if ((s = rwkvx__state_header(m, p, bytes, &n_pos, &n_kv, &header)) != RWKVX_OK) return s;
    if (m->max_context > 0 && n_pos > (uint64_t)m->max_context) return RWKVX_ERR_CONTEXT;
    floats = rwkvx__state_floats(m, n_kv, &overflow);
    if (overflow || floats > (SIZE_MAX - header) / sizeof(float) || bytes != header + floats * sizeof(float))
        return RWKVX_ERR_FORMAT;
    if ((s = rwkvx__kv_reserve(st, n_kv)) != RWKVX_OK) return s;
    rwkvx_state_reset(st);
    p += header;
    for (kind = RWKVX__BLOCK_RWKV; kind <= RWKVX__BLOCK_SPARSE; kind++)
        for (i = 0; i < (kind == RWKVX__BLOCK_RWKV ? m->n_rwkv : m->n_sparse); i++)
            for (part = 0; part < RWKVX__N_PARTS; part++)
                if (rwkvx__parts[part].kind == kind) p = rwkvx__load_part(st, part, i, p, n_kv);
    st->n_pos = n_pos;
    st->kv_len = n_kv;
    return RWKVX_OK;
}

RWKVX_API rwkvx_status rwkvx_state_clone(rwkvx_state **out, const rwkvx_state *src) {
    const rwkvx_model *m;
    size_t C;
    rwkvx_state *st;
    rwkvx_status s;
    int j;
    if (!out) return RWKVX_ERR_ARGUMENT;
    *out = NULL;
    if (!src) return RWKVX_ERR_ARGUMENT;
    m = src->model, C = (size_t)m->n_embd;
    if ((s = rwkvx_state_create(&st, m)) != RWKVX_OK) return s;
    if ((s = rwkvx__kv_reserve(st, src->kv_len)) != RWKVX_OK) {
        rwkvx_state_free(st);
        return s;
    }
    st->n_pos = src->n_pos;
    st->kv_len = src->kv_len;
    st->n_threads = src->n_threads;
    st->tuner = src->tuner; /* a fork runs on the same machine */
    memcpy(st->parts_block, src->parts_block, src->parts_floats * sizeof(float));
    for (j = 0; j < m->n_sparse; j++) {
        const rwkvx__kv_cache *a = &src->kv[j];
        rwkvx__kv_cache *b = &st->kv[j];
        size_t chunks = src->kv_len / (size_t)m->chunk_size, row = RWKVX__HEAD * rwkvx__kv_elem_bytes(m);
        int h;
        for (h = 0; h < m->n_head; h++) {
            memcpy(b->k[h], a->k[h], (size_t)src->kv_len * row);
            memcpy(b->v[h], a->v[h], (size_t)src->kv_len * row);
        }
        memcpy(b->chunk_mean, a->chunk_mean, chunks * C * sizeof(float));
    }
    *out = st;
    return RWKVX_OK;
}

/* ---------------------------------------------------------------------- */
/* Tokenizer                                                              */
/* ---------------------------------------------------------------------- */

/* A byte trie in breadth-first order. Node 0 is the root; child index 0
   means "none". A node's edges are sorted by byte; a node with many children
   also gets a 256-entry table so the common paths take one load per byte. */
#define RWKVX__DENSE_EDGES 16

typedef struct {
    int32_t token;                   /* token whose bytes end here, or -1 */
    int32_t dense;                   /* row of tk->dense, or -1 */
    uint32_t edge, n_edge;           /* tk->label / tk->child [edge, edge + n_edge) */
} rwkvx__tnode;

struct rwkvx_tokenizer {
    int n_tokens;
    const uint32_t *off;             /* token i: bytes[off[i] .. off[i + 1]) */
    const char *bytes;
    unsigned char *kind;             /* RWKVX_TOKEN_TEXT or RWKVX_TOKEN_SPECIAL */
    size_t max_bytes;
    rwkvx__tnode *node;
    uint32_t n_node;
    unsigned char *label;
    uint32_t *child;
    uint32_t *dense;
    uint32_t *own_off;               /* storage of a tokenizer read from a vocabulary file */
    char *own_bytes;
};

typedef struct {                     /* a token while the trie is built */
    const unsigned char *p;
    uint32_t len;
    int32_t id;
} rwkvx__titem;

static int rwkvx__titem_cmp(const void *a, const void *b) {
    const rwkvx__titem *x = (const rwkvx__titem *)a, *y = (const rwkvx__titem *)b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->p, y->p, n) : 0;
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

RWKVX_API void rwkvx_tokenizer_free(rwkvx_tokenizer *tk) {
    if (!tk) return;
    RWKVX_FREE(tk->kind);
    RWKVX_FREE(tk->node);
    RWKVX_FREE(tk->label);
    RWKVX_FREE(tk->child);
    RWKVX_FREE(tk->dense);
    RWKVX_FREE(tk->own_off);
    RWKVX_FREE(tk->own_bytes);
    RWKVX_FREE(tk);
}

/* Builds the trie over the TEXT tokens of tk (off, bytes and kind set).
   Tokens with the same bytes: the highest id wins, as in the reference. */
static rwkvx_status rwkvx__tok_build(rwkvx_tokenizer *tk, char *err) {
    rwkvx__titem *items;
    uint32_t *lo, *hi, *depth;
    size_t total = 0, n_items = 0, bound, n_edge = 0, n_dense = 0, i;
    uint32_t k;
    int id;
    for (id = 0; id < tk->n_tokens; id++) {
        size_t n = tk->off[id + 1] - tk->off[id];
        if (n > tk->max_bytes) tk->max_bytes = n;
        if (tk->kind[id] == RWKVX_TOKEN_TEXT && n) { total += n; n_items++; }
    }
    bound = total + 1; /* nodes: at most one per token byte, plus the root */
    items = (rwkvx__titem *)rwkvx__calloc(n_items + 1, sizeof *items);
    lo = (uint32_t *)rwkvx__calloc(bound, sizeof *lo);
    hi = (uint32_t *)rwkvx__calloc(bound, sizeof *hi);
    depth = (uint32_t *)rwkvx__calloc(bound, sizeof *depth);
    tk->node = (rwkvx__tnode *)rwkvx__calloc(bound, sizeof *tk->node);
    tk->label = (unsigned char *)rwkvx__calloc(bound, 1);
    tk->child = (uint32_t *)rwkvx__calloc(bound, sizeof *tk->child);
    if (!items || !lo || !hi || !depth || !tk->node || !tk->label || !tk->child || bound > UINT32_MAX) {
        RWKVX_FREE(items); RWKVX_FREE(lo); RWKVX_FREE(hi); RWKVX_FREE(depth);
        return rwkvx__fail(err, RWKVX_ERR_NOMEM, "out of memory for the tokenizer");
    }
    for (id = 0, i = 0; id < tk->n_tokens; id++) {
        uint32_t n = tk->off[id + 1] - tk->off[id];
        if (tk->kind[id] != RWKVX_TOKEN_TEXT || !n) continue;
        items[i].p = (const unsigned char *)tk->bytes + tk->off[id];
        items[i].len = n;
        items[i++].id = id;
    }
    qsort(items, n_items, sizeof *items, rwkvx__titem_cmp);
    /* Node k covers items[lo[k] .. hi[k]), which share their first depth[k]
       bytes; a token equal to that prefix sorts first. */
    tk->n_node = 1;
    lo[0] = 0, hi[0] = (uint32_t)n_items, depth[0] = 0;
    for (k = 0; k < tk->n_node; k++) {
        rwkvx__tnode *nd = &tk->node[k];
        uint32_t a = lo[k], d = depth[k];
        nd->token = -1;
        nd->dense = -1;
        while (a < hi[k] && items[a].len == d) nd->token = items[a++].id;
        nd->edge = (uint32_t)n_edge;
        while (a < hi[k]) {
            unsigned char b = items[a].p[d];
            uint32_t e = a;
            while (e < hi[k] && items[e].p[d] == b) e++;
            lo[tk->n_node] = a, hi[tk->n_node] = e, depth[tk->n_node] = d + 1;
            tk->label[n_edge] = b;
            tk->child[n_edge++] = tk->n_node++;
            a = e;
        }
        nd->n_edge = (uint32_t)n_edge - nd->edge;
        if (k == 0 || nd->n_edge >= RWKVX__DENSE_EDGES) nd->dense = (int32_t)n_dense++;
    }
    RWKVX_FREE(items); RWKVX_FREE(lo); RWKVX_FREE(hi); RWKVX_FREE(depth);
    tk->dense = (uint32_t *)rwkvx__calloc(n_dense * 256, sizeof *tk->dense);
    if (!tk->dense) return rwkvx__fail(err, RWKVX_ERR_NOMEM, "out of memory for the tokenizer");
    for (k = 0; k < tk->n_node; k++) {
        const rwkvx__tnode *nd = &tk->node[k];
        if (nd->dense >= 0)
            for (i = nd->edge; i < nd->edge + nd->n_edge; i++) tk->dense[(size_t)nd->dense * 256 + tk->label[i]] = tk->child[i];
    }
    return RWKVX_OK;
}

static uint32_t rwkvx__tok_child(const rwkvx_tokenizer *tk, uint32_t k, unsigned char b) {
    const rwkvx__tnode *nd = &tk->node[k];
    uint32_t e, end;
    if (nd->dense >= 0) return tk->dense[(size_t)nd->dense * 256 + b];
    for (e = nd->edge, end = e + nd->n_edge; e < end && tk->label[e] <= b; e++)
        if (tk->label[e] == b) return tk->child[e];
    return 0;
}

/* Is the token `[PADn]` (llama.cpp's padding name)? */
static int rwkvx__is_pad_name(const char *s, size_t n) {
    size_t i;
    if (n < 6 || memcmp(s, "[PAD", 4) != 0 || s[n - 1] != ']') return 0;
    for (i = 4; i < n - 1; i++)
        if (s[i] < '0' || s[i] > '9') return 0;
    return 1;
}

/* Builds the model's tokenizer over m->tok_off / m->tok_bytes. Token kinds
   come from tokenizer.ggml.token_type (1 normal, 4 user defined and 6 byte
   are text); without it, token 0 "<s>" and "[PADn]" tokens are special. */
static rwkvx_status rwkvx__tok_attach(rwkvx__gguf *g, rwkvx_model *m) {
    const rwkvx__kv *types = rwkvx__find_kv(g, "tokenizer.ggml.token_type");
    rwkvx_tokenizer *tk;
    int i;
    if (types && (!types->is_array || types->type != RWKVX__GGUF_I32 || types->count != (uint64_t)m->n_tokens))
        return rwkvx__fail(g->err, RWKVX_ERR_FORMAT, "tokenizer.ggml.token_type is not one i32 per token");
    tk = (rwkvx_tokenizer *)rwkvx__calloc(1, sizeof *tk);
    if (!tk) return rwkvx__fail(g->err, RWKVX_ERR_NOMEM, "out of memory for the tokenizer");
    m->tok = tk;
    tk->n_tokens = m->n_tokens;
    tk->off = m->tok_off;
    tk->bytes = m->tok_bytes;
    tk->kind = (unsigned char *)rwkvx__calloc((size_t)m->n_tokens + 1, 1);
    if (!tk->kind) return rwkvx__fail(g->err, RWKVX_ERR_NOMEM, "out of memory for the tokenizer");
    for (i = 0; i < m->n_tokens; i++) {
        const char *s = m->tok_bytes + m->tok_off[i];
        size_t n = m->tok_off[i + 1] - m->tok_off[i];
        int text;
        if (types) {
            int32_t t;
            memcpy(&t, types->value + 4 * (size_t)i, 4);
            text = t == 1 || t == 4 || t == 6;
        } else {
            text = !(i == 0 && n == 3 && memcmp(s, "<s>", 3) == 0) && !rwkvx__is_pad_name(s, n);
        }
        tk->kind[i] = (unsigned char)(text ? RWKVX_TOKEN_TEXT : RWKVX_TOKEN_SPECIAL);
    }
    return rwkvx__tok_build(tk, g->err);
}

RWKVX_API const rwkvx_tokenizer *rwkvx_model_tokenizer(const rwkvx_model *m) { return m ? m->tok : NULL; }
RWKVX_API int rwkvx_tokenizer_n_tokens(const rwkvx_tokenizer *tk) { return tk ? tk->n_tokens : 0; }
RWKVX_API size_t rwkvx_tokenizer_max_bytes(const rwkvx_tokenizer *tk) { return tk ? tk->max_bytes : 0; }

RWKVX_API int rwkvx_tokenizer_token(const rwkvx_tokenizer *tk, int32_t id, const char **bytes, size_t *len) {
    int text;
    if (!tk || id < 0 || id >= tk->n_tokens) return RWKVX_TOKEN_INVALID;
    text = tk->kind[id] == RWKVX_TOKEN_TEXT;
    if (bytes) *bytes = tk->bytes + tk->off[id];
    if (len) *len = text ? tk->off[id + 1] - tk->off[id] : 0;
    return text ? RWKVX_TOKEN_TEXT : RWKVX_TOKEN_SPECIAL;
}

RWKVX_API rwkvx_status rwkvx_tokenize(const rwkvx_tokenizer *tk, const char *text, size_t len, int32_t *ids,
                                      size_t max_ids, size_t *n_ids) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, n = 0;
    if (n_ids) *n_ids = 0;
    if (!tk || (!text && len) || (!ids && max_ids)) return RWKVX_ERR_ARGUMENT;
    while (i < len) {
        size_t j = i, best_len = 0;
        int32_t best = -1;
        uint32_t k = tk->dense[s[i]]; /* the root's table is row 0 */
        while (k) {
            j++;
            if (tk->node[k].token >= 0) best = tk->node[k].token, best_len = j - i;
            if (j == len) break;
            k = rwkvx__tok_child(tk, k, s[j]);
        }
        if (best < 0) {
            if (n_ids) *n_ids = n;
            return RWKVX_ERR_UNSUPPORTED;
        }
        if (n < max_ids) ids[n] = best;
        n++;
        i += best_len;
    }
    if (n_ids) *n_ids = n;
    return n > max_ids ? RWKVX_ERR_ARGUMENT : RWKVX_OK;
}

RWKVX_API rwkvx_status rwkvx_detokenize(const rwkvx_tokenizer *tk, const int32_t *ids, size_t n_ids, char *out,
                                        size_t max_bytes, size_t *n_bytes) {
    size_t i, n = 0;
    if (n_bytes) *n_bytes = 0;
    if (!tk || (!ids && n_ids) || (!out && max_bytes)) return RWKVX_ERR_ARGUMENT;
    for (i = 0; i < n_ids; i++) {
        const char *b;
        size_t len;
        if (rwkvx_tokenizer_token(tk, ids[i], &b, &len) == RWKVX_TOKEN_INVALID) return RWKVX_ERR_ARGUMENT;
        if (n + len <= max_bytes) memcpy(out + n, b, len);
        else if (n < max_bytes) memcpy(out + n, b, max_bytes - n);
        n += len;
    }
    if (n_bytes) *n_bytes = n;
    return n > max_bytes ? RWKVX_ERR_ARGUMENT : RWKVX_OK;
}

RWKVX_API void rwkvx_decoder_init(rwkvx_decoder *d) { if (d) memset(d, 0, sizeof *d); }

/* How many of the last bytes of p[0..n) begin a UTF-8 character that more
   bytes could still complete (0 to 3). */
static size_t rwkvx__utf8_open_tail(const unsigned char *p, size_t n) {
    size_t k;
    for (k = 1; k <= 3 && k <= n; k++) {
        unsigned char c = p[n - k];
        size_t need;
        if ((c & 0xC0) == 0x80) continue; /* a continuation byte: look further back */
        need = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 1;
        return need > k ? k : 0;
    }
    return 0;
}

RWKVX_API rwkvx_status rwkvx_decoder_push(rwkvx_decoder *d, const rwkvx_tokenizer *tk, int32_t id, char *out,
                                          size_t max_bytes, size_t *n_bytes) {
    const char *b;
    size_t len, total, keep, emit, t, i;
    unsigned char tail[3];
    if (n_bytes) *n_bytes = 0;
    if (!d || (!out && max_bytes) || rwkvx_tokenizer_token(tk, id, &b, &len) == RWKVX_TOKEN_INVALID)
        return RWKVX_ERR_ARGUMENT;
    /* the sequence is held[0..n_held) then b[0..len); look at its last 3 bytes */
    total = (size_t)d->n_held + len;
    t = total < 3 ? total : 3;
    for (i = 0; i < t; i++) {
        size_t at = total - t + i;
        tail[i] = at < (size_t)d->n_held ? d->held[at] : (unsigned char)b[at - (size_t)d->n_held];
    }
    keep = rwkvx__utf8_open_tail(tail, t);
    emit = total - keep;
    if (emit > max_bytes) return RWKVX_ERR_ARGUMENT;
    if (n_bytes) *n_bytes = emit;
    for (i = 0; i < emit; i++) out[i] = i < (size_t)d->n_held ? (char)d->held[i] : b[i - (size_t)d->n_held];
    for (i = 0; i < keep; i++) d->held[i] = tail[t - keep + i];
    d->n_held = (int)keep;
    return RWKVX_OK;
}

RWKVX_API size_t rwkvx_decoder_flush(rwkvx_decoder *d, char out[4]) {
    size_t n;
    if (!d || !out) return 0;
    n = (size_t)d->n_held;
    memcpy(out, d->held, n);
    d->n_held = 0;
    return n;
}

/* --- reading a World vocabulary text file --- */

static int rwkvx__hex(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static size_t rwkvx__utf8_put(unsigned char *out, uint32_t cp) {
    if (cp < 0x80) { out[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { out[0] = (unsigned char)(0xC0 | cp >> 6); out[1] = (unsigned char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 63));
        out[2] = (unsigned char)(0x80 | (cp & 63));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 63));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 63));
    out[3] = (unsigned char)(0x80 | (cp & 63));
    return 4;
}

/* Decodes a Python str ('..', "..") or bytes (b'..') literal s[0..n) into
   `out` (room for n bytes: no literal is shorter than its bytes) the way
   Python then .encode("utf-8") would. Returns the byte count, or -1 with
   *why set. */
static long rwkvx__py_literal(const char *s, size_t n, unsigned char *out, const char **why) {
    size_t i = 0, k = 0;
    int is_bytes = 0;
    char q;
    if (n && (s[0] == 'b' || s[0] == 'B')) is_bytes = 1, i = 1;
    if (n < i + 2 || (s[i] != '\'' && s[i] != '"') || s[n - 1] != s[i]) { *why = "not a quoted Python literal"; return -1; }
    q = s[i++];
    n--;
    while (i < n) {
        unsigned char c = (unsigned char)s[i++];
        uint32_t cp = 0;
        int code_point = !is_bytes, digits = 0;
        if (c == (unsigned char)q) { *why = "unescaped quote inside the literal"; return -1; }
        if (c != '\\') {
            if (is_bytes && c >= 0x80) { *why = "non-ASCII character in a bytes literal"; return -1; }
            out[k++] = c;
            continue;
        }
        if (i >= n) { *why = "literal ends with a backslash"; return -1; }
        c = (unsigned char)s[i++];
        switch (c) {
        case '\\': case '\'': case '"': cp = c; break;
        case 'a': cp = 7; break;
        case 'b': cp = 8; break;
        case 'f': cp = 12; break;
        case 'n': cp = 10; break;
        case 'r': cp = 13; break;
        case 't': cp = 9; break;
        case 'v': cp = 11; break;
        case 'x': digits = 2; break;
        case 'u': digits = is_bytes ? 0 : 4; break;
        case 'U': digits = is_bytes ? 0 : 8; break;
        case 'N':
            if (!is_bytes) { *why = "\\N{...} escapes are not supported"; return -1; }
            break;
        default:
            if (c >= '0' && c <= '7') {
                int m;
                cp = (uint32_t)(c - '0');
                for (m = 0; m < 2 && i < n && s[i] >= '0' && s[i] <= '7'; m++) cp = cp * 8 + (uint32_t)(s[i++] - '0');
                if (is_bytes && cp > 0xFF) { *why = "octal escape above \\377 in a bytes literal"; return -1; }
            }
            break;
        }
        if (digits) {
            int m;
            if (n - i < (size_t)digits) { *why = "truncated \\x, \\u or \\U escape"; return -1; }
            for (m = 0; m < digits; m++) {
                int h = rwkvx__hex((unsigned char)s[i++]);
                if (h < 0) { *why = "bad hex digit in an escape"; return -1; }
                cp = cp * 16 + (uint32_t)h;
            }
        } else if (!cp && c != '0' && !(c >= '1' && c <= '7')) {
            /* not an escape Python knows (or \u, \U, \N in bytes): kept as is */
            out[k++] = '\\';
            out[k++] = c;
            continue;
        }
        if (!code_point) {
            out[k++] = (unsigned char)cp;
        } else {
            if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) { *why = "escape is not a Unicode scalar value"; return -1; }
            k += rwkvx__utf8_put(out + k, cp);
        }
    }
    return (long)k;
}

#define RWKVX__MAX_VOCAB_ID (1 << 24)

RWKVX_API rwkvx_status rwkvx_tokenizer_from_vocab(rwkvx_tokenizer **out, const char *text, size_t len, char *err) {
    rwkvx_tokenizer *tk = NULL;
    uint32_t *start = NULL, *count = NULL;
    unsigned char *buf = NULL;
    size_t pos = 0, used = 3, line_no = 0, i;
    long max_id = 0;
    rwkvx_status s = RWKVX_OK;
    if (out) *out = NULL;
    if (!out || (!text && len)) return rwkvx__fail(err, RWKVX_ERR_ARGUMENT, "rwkvx_tokenizer_from_vocab: NULL argument");
    /* pass 1: the largest id, so the tables can be sized */
    while (pos < len) {
        const char *line = text + pos, *nl = (const char *)memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        long id = 0;
        pos += n + (nl != NULL);
        line_no++;
        for (i = 0; i < n && line[i] >= '0' && line[i] <= '9' && id <= RWKVX__MAX_VOCAB_ID; i++) id = id * 10 + (line[i] - '0');
        if (i < n && line[i] == ' ' && id > max_id) max_id = id;
    }
    if (max_id >= RWKVX__MAX_VOCAB_ID) return rwkvx__fail(err, RWKVX_ERR_FORMAT, "vocabulary: token id too large");
    /* ids may come in any order and with gaps, but not far beyond the line
       count: the tables below are sized by the largest id, so a one-line
       file must not be able to ask for hundreds of megabytes */
    if ((unsigned long)max_id > 2 * (unsigned long)line_no + 1024)
        return rwkvx__fail(err, RWKVX_ERR_FORMAT, "vocabulary: token id %ld is far beyond the number of lines (%lu)", max_id,
                           (unsigned long)line_no);
    tk = (rwkvx_tokenizer *)rwkvx__calloc(1, sizeof *tk);
    start = (uint32_t *)rwkvx__calloc((size_t)max_id + 1, sizeof *start);
    count = (uint32_t *)rwkvx__calloc((size_t)max_id + 1, sizeof *count);
    buf = (unsigned char *)RWKVX_MALLOC(len + 3);
    if (!tk || !start || !count || !buf || len > UINT32_MAX - 3) {
        s = rwkvx__fail(err, RWKVX_ERR_NOMEM, "out of memory for the vocabulary");
        goto done;
    }
    memcpy(buf, "<s>", 3);
    /* pass 2: decode every line into buf */
    for (pos = 0, line_no = 0; pos < len && s == RWKVX_OK;) {
        const char *line = text + pos, *nl = (const char *)memchr(line, '\n', len - pos), *why = NULL;
        size_t n = nl ? (size_t)(nl - line) : len - pos, a, b;
        long id = 0, got;
        unsigned long length = 0;
        pos += n + (nl != NULL);
        line_no++;
        if (n && line[n - 1] == '\r') n--;
        if (!n) continue;
        for (a = 0; a < n && line[a] >= '0' && line[a] <= '9' && id <= RWKVX__MAX_VOCAB_ID; a++) id = id * 10 + (line[a] - '0');
        for (b = n; b > a && line[b - 1] >= '0' && line[b - 1] <= '9'; b--) ;
        for (i = b; i < n && n - b <= 9; i++) length = length * 10 + (unsigned long)(line[i] - '0');
        if (a < n && line[a] >= '0' && line[a] <= '9') {
            s = rwkvx__fail(err, RWKVX_ERR_FORMAT, "vocabulary line %lu: token id too large", (unsigned long)line_no);
            break;
        }
        if (a == 0 || a >= n || line[a] != ' ' || b == n || n - b > 9 || b < a + 2 || line[b - 1] != ' ') {
            s = rwkvx__fail(err, RWKVX_ERR_FORMAT, "vocabulary line %lu: expected 'ID LITERAL LENGTH'", (unsigned long)line_no);
            break;
        }
        if (id == 0 || count[id] || start[id]) {
            s = rwkvx__fail(err, RWKVX_ERR_FORMAT, "vocabulary line %lu: token id %ld is 0 or repeated", (unsigned long)line_no, id);
            break;
        }
        got = rwkvx__py_literal(line + a + 1, b - a - 2, buf + used, &why);
        if (got < 0) {
            s = rwkvx__fail(err, RWKVX_ERR_FORMAT, "vocabulary line %lu: %s", (unsigned long)line_no, why);
        } else if ((unsigned long)got != length) {
            s = rwkvx__fail(err, RWKVX_ERR_FORMAT, "vocabulary line %lu: %ld bytes but the length field says %lu",
                            (unsigned long)line_no, got, length);
        } else {
            start[id] = (uint32_t)used;
            count[id] = (uint32_t)got;
            used += (size_t)got;
            if (!got) start[id] = 1; /* marks the id as seen */
        }
    }
    if (s != RWKVX_OK) goto done;
    if (max_id == 0) {
        s = rwkvx__fail(err, RWKVX_ERR_FORMAT, "vocabulary: no tokens");
        goto done;
    }
    /* lay the tokens out in id order */
    tk->n_tokens = (int)max_id + 1;
    tk->own_off = (uint32_t *)rwkvx__calloc((size_t)tk->n_tokens + 1, sizeof *tk->own_off);
    tk->own_bytes = (char *)RWKVX_MALLOC(used + 1);
    tk->kind = (unsigned char *)rwkvx__calloc((size_t)tk->n_tokens, 1);
    if (!tk->own_off || !tk->own_bytes || !tk->kind) {
        s = rwkvx__fail(err, RWKVX_ERR_NOMEM, "out of memory for the vocabulary");
        goto done;
    }
    memcpy(tk->own_bytes, "<s>", 3);
    tk->own_off[1] = 3;
    for (i = 1; i < (size_t)tk->n_tokens; i++) {
        uint32_t o = tk->own_off[i];
        if (count[i]) memcpy(tk->own_bytes + o, buf + start[i], count[i]);
        tk->own_off[i + 1] = o + count[i];
        tk->kind[i] = (unsigned char)(start[i] ? RWKVX_TOKEN_TEXT : RWKVX_TOKEN_SPECIAL);
    }
    tk->off = tk->own_off;
    tk->bytes = tk->own_bytes;
    s = rwkvx__tok_build(tk, err);
done:
    RWKVX_FREE(start);
    RWKVX_FREE(count);
    RWKVX_FREE(buf);
    if (s != RWKVX_OK) rwkvx_tokenizer_free(tk);
    else *out = tk;
    return s;
}

/* ---------------------------------------------------------------------- */
/* Sampler                                                                */
/* ---------------------------------------------------------------------- */

enum { RWKVX__BANNED = 1, RWKVX__SEEN = 2, RWKVX__UNCOUNTED = 4 };

typedef struct {
    float e;                         /* exp(logit - max logit) */
    int32_t id;
} rwkvx__cand;

struct rwkvx_sampler {
    int n_vocab;
    rwkvx_sampler_params p;
    uint64_t rng;
    float *logit;                    /* this step's logits after bans and penalties */
    rwkvx__cand *cand;
    float *count;                    /* decayed occurrence counts */
    int32_t *seen;                   /* the tokens with RWKVX__SEEN, in order */
    int n_seen;
    unsigned char *flags;
};

RWKVX_API void rwkvx_sampler_defaults(rwkvx_sampler_params *p) {
    if (!p) return;
    p->temperature = 1.0f;
    p->top_p = 0.85f;
    p->top_k = 0;
    p->min_p = 0.0f;
    p->presence = 0.2f;
    p->frequency = 0.2f;
    p->decay = 0.996f;
}

static int rwkvx__finite(float x) { return x - x == 0.0f; }

RWKVX_API rwkvx_status rwkvx_sampler_set_params(rwkvx_sampler *s, const rwkvx_sampler_params *p) {
    if (!s || !p || !(p->temperature >= 0) || !rwkvx__finite(p->temperature) || !(p->top_p >= 0) || p->top_k < 0 ||
        !(p->min_p >= 0 && p->min_p <= 1) || !rwkvx__finite(p->presence) || !rwkvx__finite(p->frequency) ||
        !(p->decay >= 0 && p->decay <= 1))
        return RWKVX_ERR_ARGUMENT;
    s->p = *p;
    return RWKVX_OK;
}

RWKVX_API void rwkvx_sampler_get_params(const rwkvx_sampler *s, rwkvx_sampler_params *p) {
    if (!p) return;
    if (s) *p = s->p;
    else memset(p, 0, sizeof *p);
}

RWKVX_API void rwkvx_sampler_free(rwkvx_sampler *s) {
    if (!s) return;
    RWKVX_FREE(s->logit);
    RWKVX_FREE(s->cand);
    RWKVX_FREE(s->count);
    RWKVX_FREE(s->seen);
    RWKVX_FREE(s->flags);
    RWKVX_FREE(s);
}

RWKVX_API void rwkvx_sampler_seed(rwkvx_sampler *s, uint64_t seed) { if (s) s->rng = seed; }
RWKVX_API uint64_t rwkvx_sampler_rng(const rwkvx_sampler *s) { return s ? s->rng : 0; }
RWKVX_API void rwkvx_sampler_set_rng(rwkvx_sampler *s, uint64_t rng) { if (s) s->rng = rng; }

RWKVX_API rwkvx_status rwkvx_sampler_new(rwkvx_sampler **out, int n_vocab, const rwkvx_tokenizer *tk,
                                         const rwkvx_sampler_params *p, uint64_t seed) {
    rwkvx_sampler *s;
    rwkvx_sampler_params def;
    int i;
    if (out) *out = NULL;
    if (!out || n_vocab <= 0) return RWKVX_ERR_ARGUMENT;
    if (!p) rwkvx_sampler_defaults(&def), p = &def;
    s = (rwkvx_sampler *)rwkvx__calloc(1, sizeof *s);
    if (!s) return RWKVX_ERR_NOMEM;
    if (rwkvx_sampler_set_params(s, p) != RWKVX_OK) {
        RWKVX_FREE(s);
        return RWKVX_ERR_ARGUMENT;
    }
    s->n_vocab = n_vocab;
    s->rng = seed;
    s->logit = (float *)rwkvx__calloc((size_t)n_vocab, sizeof *s->logit);
    s->cand = (rwkvx__cand *)rwkvx__calloc((size_t)n_vocab, sizeof *s->cand);
    s->count = (float *)rwkvx__calloc((size_t)n_vocab, sizeof *s->count);
    s->seen = (int32_t *)rwkvx__calloc((size_t)n_vocab, sizeof *s->seen);
    s->flags = (unsigned char *)rwkvx__calloc((size_t)n_vocab, 1);
    if (!s->logit || !s->cand || !s->count || !s->seen || !s->flags) {
        rwkvx_sampler_free(s);
        return RWKVX_ERR_NOMEM;
    }
    /* the reference counts a token 0 when its text is a piece of " \t0123456789" */
    for (i = 0; tk && i < n_vocab; i++) {
        static const char plain[] = " \t0123456789";
        const char *b;
        size_t len, at;
        if (rwkvx_tokenizer_token(tk, i, &b, &len) != RWKVX_TOKEN_TEXT || len > sizeof plain - 1) continue;
        for (at = 0; at + len <= sizeof plain - 1; at++)
            if (memcmp(plain + at, b, len) == 0) { s->flags[i] |= RWKVX__UNCOUNTED; break; }
    }
    *out = s;
    return RWKVX_OK;
}

RWKVX_API rwkvx_status rwkvx_sampler_ban(rwkvx_sampler *s, int32_t id, int banned) {
    if (!s || id < 0 || id >= s->n_vocab) return RWKVX_ERR_ARGUMENT;
    if (banned) s->flags[id] |= RWKVX__BANNED;
    else s->flags[id] &= (unsigned char)~RWKVX__BANNED;
    return RWKVX_OK;
}

RWKVX_API void rwkvx_sampler_reset(rwkvx_sampler *s) {
    int k;
    if (!s) return;
    for (k = 0; k < s->n_seen; k++) {
        s->flags[s->seen[k]] &= (unsigned char)~RWKVX__SEEN;
        s->count[s->seen[k]] = 0;
    }
    s->n_seen = 0;
}

/* splitmix64, and a uniform double in [0, 1) from its top 53 bits */
static double rwkvx__uniform(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* Most likely first; ties: the lower id first. */
static int rwkvx__cand_before(const rwkvx__cand *a, const rwkvx__cand *b) {
    return a->e > b->e || (a->e == b->e && a->id < b->id);
}

static int rwkvx__cand_cmp(const void *a, const void *b) {
    const rwkvx__cand *x = (const rwkvx__cand *)a, *y = (const rwkvx__cand *)b;
    return rwkvx__cand_before(x, y) ? -1 : rwkvx__cand_before(y, x) ? 1 : 0;
}

/* Reorders c[0..n) so that its first k (0 < k < n) are the k first by
   rwkvx__cand_before (quickselect). */
static void rwkvx__cand_select(rwkvx__cand *c, long n, long k) {
    long lo = 0, hi = n - 1;
    while (lo < hi) {
        rwkvx__cand pivot = c[lo + (hi - lo) / 2], t;
        long i = lo, j = hi;
        while (i <= j) {
            while (rwkvx__cand_before(&c[i], &pivot)) i++;
            while (rwkvx__cand_before(&pivot, &c[j])) j--;
            if (i <= j) t = c[i], c[i] = c[j], c[j] = t, i++, j--;
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

/* Draws from the candidates c[0..n) with weights exp((logit - lmax) / T). */
static int32_t rwkvx__draw(rwkvx_sampler *s, const rwkvx__cand *c, long n, float lmax) {
    double total = 0, r, acc = 0;
    float inv_t = 1.0f / s->p.temperature;
    long i;
    for (i = 0; i < n; i++) total += expf((s->logit[c[i].id] - lmax) * inv_t);
    r = rwkvx__uniform(&s->rng) * total;
    for (i = 0; i < n - 1; i++) {
        acc += expf((s->logit[c[i].id] - lmax) * inv_t);
        if (r < acc) break;
    }
    return c[i].id;
}

RWKVX_API int32_t rwkvx_sample(rwkvx_sampler *s, const float *logits) {
    const rwkvx_sampler_params *p;
    float *l, lmax;
    rwkvx__cand *c;
    int n, i, best = -1, n_valid = 0;
    int32_t token;
    long nc = 0, keep, k;
    if (!s || !logits) return -1;
    p = &s->p, l = s->logit, c = s->cand, n = s->n_vocab;
    for (i = 0; i < n; i++) {
        float x = logits[i];
        l[i] = (s->flags[i] & RWKVX__BANNED) || !rwkvx__finite(x) ? -INFINITY : x;
    }
    for (k = 0; k < s->n_seen; k++)
        if (l[s->seen[k]] > -INFINITY) l[s->seen[k]] -= p->presence + s->count[s->seen[k]] * p->frequency;
    for (i = 0; i < n; i++)
        if (l[i] > -INFINITY) {
            n_valid++;
            if (best < 0 || l[i] > l[best]) best = i;
        }
    if (best < 0) return -1;
    lmax = l[best];
    if (p->temperature <= 0) {
        token = best;
    } else if (p->top_p >= 1 && (p->top_k <= 0 || p->top_k >= n_valid) && p->min_p <= 0) {
        for (i = 0; i < n; i++)
            if (l[i] > -INFINITY) c[nc].e = 0, c[nc++].id = i;
        token = rwkvx__draw(s, c, nc, lmax);
    } else {
        /* In units of e = exp(l - lmax) (the largest is 1, the sum is z):
           min-p keeps e >= min_p; top-p's cutoff is never below (1 - top_p) z / n_valid. */
        double z = 0, thr = p->min_p, acc = 0;
        for (i = 0; i < n; i++)
            if (l[i] > -INFINITY) z += expf(l[i] - lmax);
        if (p->top_p < 1) {
            double t = (1.0 - p->top_p) * z / n_valid * 0.999;
            if (t > thr) thr = t;
        }
        for (i = 0; i < n; i++)
            if (l[i] > -INFINITY) {
                float e = expf(l[i] - lmax);
                if (e >= thr) c[nc].e = e, c[nc++].id = i;
            }
        if (p->top_k > 0 && p->top_k < nc) {
            rwkvx__cand_select(c, nc, p->top_k);
            nc = p->top_k;
        }
        qsort(c, (size_t)nc, sizeof *c, rwkvx__cand_cmp);
        keep = nc;
        if (p->top_p < 1)
            for (k = 0; k < nc; k++) {
                acc += c[k].e / z;
                if (acc > p->top_p) {
                    for (keep = k + 1; keep < nc && c[keep].e >= c[k].e;) keep++;
                    break;
                }
            }
        token = rwkvx__draw(s, c, keep, lmax);
    }
    /* count it: decay every count, then add 1 (0 for whitespace and digits) */
    for (k = 0; k < s->n_seen; k++) s->count[s->seen[k]] *= p->decay;
    if (!(s->flags[token] & RWKVX__SEEN)) {
        s->flags[token] |= RWKVX__SEEN;
        s->seen[s->n_seen++] = token;
    }
    if (!(s->flags[token] & RWKVX__UNCOUNTED)) s->count[token] += 1.0f;
    return token;
}

/* ---------------------------------------------------------------------- */
/* Deprecated names (0.1): the same functions under the names of the      */
/* API conventions (manual); kept so that older programs still build.     */
/* ---------------------------------------------------------------------- */

RWKVX_API void rwkvx_free(rwkvx_model *model) { rwkvx_model_free(model); }
RWKVX_API rwkvx_status rwkvx_state_new(const rwkvx_model *model, rwkvx_state **state) {
    return rwkvx_state_create(state, model);
}
RWKVX_API rwkvx_status rwkvx_state_copy(const rwkvx_state *src, rwkvx_state **copy) { return rwkvx_state_clone(copy, src); }
RWKVX_API rwkvx_status rwkvx_parse_kv_limit(const char *text, rwkvx_options *opt) {
    int value[3] = {0, 0, 0}, i;
    if (!text || !opt) return RWKVX_ERR_ARGUMENT;
    for (i = 0; i < 3; i++) {
        long v = 0;
        const char *start = text;
        while (*text >= '0' && *text <= '9' && v <= (1L << 30)) v = v * 10 + (*text++ - '0');
        if (text == start || v < 1 || v > (1L << 30)) return RWKVX_ERR_ARGUMENT;
        value[i] = (int)v;
        if (*text == 0) break;
        if (*text++ != ',' || i == 2) return RWKVX_ERR_ARGUMENT;
    }
    opt->kv_max = value[0], opt->kv_keep = value[1], opt->kv_window = value[2];
    return RWKVX_OK;
}

#endif /* RWKVX_IMPLEMENTATION_DONE */
#endif /* RWKVX_IMPLEMENTATION */

/*
MIT License

Copyright (c) 2026 the rwkvx authors

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
*/
