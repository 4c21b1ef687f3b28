/* rwkvx-bench: how fast a model runs here, next to this machine's limits.

   rwkvx-bench MODEL.gguf [--threads N] [--prompt N] [--gen N] [--context N]
               [--chunk-size B] [--chunk-topk K] [--full-attention]
               [--skip-sparse] [--kv-f16] [--repeat R] [--fill model|random]
               [--no-ceilings] [--json] [--kv-limit MAX[,KEEP[,WINDOW]]]

   It measures, in one run:
   - prefill: tokens/s for a prompt of --prompt tokens (default 512) from a
     fresh state, logits of the last position only (median of --repeat runs);
   - decode: tokens/s and ms/token generating --gen tokens (default 64) one
     call per token, after the state holds --context tokens (default: the
     prompt). Sizes take k/m suffixes (64k = 65536).
     --fill model (default) runs the model over the context (its speed is
     reported as fill_tok_s); --fill random loads a state of that length
     with random keys and values instead (fast; same decode cost);
   - the machine's ceilings with the same thread count: a read-bandwidth loop
     over a buffer much larger than the caches, and an FMA loop, so it can
     print decode as a fraction of the bandwidth bound (weight bytes one
     token reads / bandwidth) and prefill as a fraction of the compute bound
     (2 x multiply-adds of the block matrices per token / FMA peak), and an
     8-bit dot-product loop: the integer peak (int8_gop_s) and prefill as a
     fraction of it, for the types whose prefill runs on integer products;
   - peak resident memory;
   - the CPU time of prefill and decode (prefill_cpu_s, decode_cpu_ms_per_tok
     in --json, all threads together): on a machine shared with other
     programs a 1-thread run's wall time includes their time slices, its CPU
     time does not.
   --skip-sparse runs a hybrid with its sparse blocks skipped (what the same
   model costs without them); --full-attention sets the chunk top-k high
   enough that every query attends to every earlier position; --kv-f16 keeps
   the sparse blocks' keys and values in f16.
   --json prints one JSON object instead of the table. */
#include "cli.h" /* first: it sets _POSIX_C_SOURCE */
#include "../rwkvx.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#if defined(__AVX2__) || defined(__AVX512F__)
#include <immintrin.h>
#endif
#if defined(__ARM_FEATURE_DOTPROD)
#include <arm_neon.h>
#endif

/* CPU seconds used by the whole process (all threads). On a machine shared
   with other programs, a 1-thread run's wall time includes the time slices
   they get; its CPU time does not, so long sweeps report both. */
static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* --prompt, --gen, --context: 1 to 2^30 tokens, k and m suffixes */
static long bench_size(const char *name, const char *v) {
    long n;
    if (!cli_parse_count(v, 1, 1L << 30, &n)) cli_die("bad %s '%s' (a count from 1 to 1m, k = 1024)", name, v);
    return n;
}

/* How OpenMP threads wait: as OMP_WAIT_POLICY or GOMP_SPINCOUNT say, else
   libgomp's default (spin a while, then sleep). */
static const char *wait_policy(void) {
    static char buf[64];
    const char *p = getenv("OMP_WAIT_POLICY"), *spin = getenv("GOMP_SPINCOUNT");
    if (p) return p;
    if (!spin) return "OpenMP default";
    snprintf(buf, sizeof buf, "GOMP_SPINCOUNT=%.40s", spin);
    return buf;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- the machine's ceilings ---------------------------------------------- */

/* Best of `passes` passes reading buf (`words` u64, already written so its
   pages exist) with n threads, each reading its own slice: bytes/s. */
static double read_bandwidth(int n, const uint64_t *buf, size_t words, int passes) {
    uint64_t sink = 0;
    double best = 0;
    int pass;
    for (pass = 0; pass < passes; pass++) {
        double t0 = cli_now(), t;
        long chunk;
#ifdef _OPENMP
#pragma omp parallel for num_threads(n) schedule(static) reduction(^ : sink)
#endif
        for (chunk = 0; chunk < n; chunk++) {
            size_t lo = words / (size_t)n * (size_t)chunk, hi = chunk == n - 1 ? words : lo + words / (size_t)n, i;
#if defined(__AVX512F__)
            __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
            for (i = lo; i + 32 <= hi; i += 32) {
                a = _mm512_xor_si512(a, _mm512_loadu_si512((const void *)(buf + i)));
                b = _mm512_xor_si512(b, _mm512_loadu_si512((const void *)(buf + i + 8)));
                c = _mm512_xor_si512(c, _mm512_loadu_si512((const void *)(buf + i + 16)));
                d = _mm512_xor_si512(d, _mm512_loadu_si512((const void *)(buf + i + 24)));
            }
            a = _mm512_xor_si512(_mm512_xor_si512(a, b), _mm512_xor_si512(c, d));
            sink ^= (uint64_t)_mm512_reduce_add_epi64(a);
#elif defined(__AVX2__)
            __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
            uint64_t lanes[4];
            for (i = lo; i + 16 <= hi; i += 16) {
                a = _mm256_xor_si256(a, _mm256_loadu_si256((const __m256i *)(buf + i)));
                b = _mm256_xor_si256(b, _mm256_loadu_si256((const __m256i *)(buf + i + 4)));
                c = _mm256_xor_si256(c, _mm256_loadu_si256((const __m256i *)(buf + i + 8)));
                d = _mm256_xor_si256(d, _mm256_loadu_si256((const __m256i *)(buf + i + 12)));
            }
            a = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
            _mm256_storeu_si256((__m256i *)lanes, a);
            sink ^= lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3];
#else
            uint64_t a = 0, b = 0, c = 0, d = 0;
            for (i = lo; i + 4 <= hi; i += 4) a ^= buf[i], b ^= buf[i + 1], c ^= buf[i + 2], d ^= buf[i + 3];
            sink ^= a ^ b ^ c ^ d;
#endif
        }
        t = cli_now() - t0;
        if ((double)words * 8 / t > best) best = (double)words * 8 / t;
    }
    if (sink == 42) fputc(' ', stderr); /* keeps the loads */
    return best;
}

/* Best of `runs` runs of independent FMA chains on every thread: flop/s with
   the widest vectors this build has (AVX-512, AVX2+FMA, or scalar). `isa`
   names it. */
static double fma_peak(int n, int runs, const char **isa) {
    const long iters = 5000000;
    double best = 0;
    int run;
    volatile float sink = 0;
#if defined(__AVX512F__)
    const double flops_per_iter = 16.0 * 16 * 2;
    *isa = "avx512";
#elif defined(__AVX2__) && defined(__FMA__)
    const double flops_per_iter = 12.0 * 8 * 2;
    *isa = "avx2";
#else
    const double flops_per_iter = 8.0 * 2;
    *isa = "scalar";
#endif
    for (run = 0; run < runs; run++) {
        double t0 = cli_now(), t;
        int th;
#ifdef _OPENMP
#pragma omp parallel for num_threads(n) schedule(static)
#endif
        for (th = 0; th < n; th++) {
            long i;
            float out;
#if defined(__AVX512F__)
            __m512 m = _mm512_set1_ps(0.9999999f), c = _mm512_set1_ps(1e-7f), a[16];
            int k;
            for (k = 0; k < 16; k++) a[k] = _mm512_set1_ps((float)(k + th));
            for (i = 0; i < iters; i++) {
                a[0] = _mm512_fmadd_ps(a[0], m, c); a[1] = _mm512_fmadd_ps(a[1], m, c);
                a[2] = _mm512_fmadd_ps(a[2], m, c); a[3] = _mm512_fmadd_ps(a[3], m, c);
                a[4] = _mm512_fmadd_ps(a[4], m, c); a[5] = _mm512_fmadd_ps(a[5], m, c);
                a[6] = _mm512_fmadd_ps(a[6], m, c); a[7] = _mm512_fmadd_ps(a[7], m, c);
                a[8] = _mm512_fmadd_ps(a[8], m, c); a[9] = _mm512_fmadd_ps(a[9], m, c);
                a[10] = _mm512_fmadd_ps(a[10], m, c); a[11] = _mm512_fmadd_ps(a[11], m, c);
                a[12] = _mm512_fmadd_ps(a[12], m, c); a[13] = _mm512_fmadd_ps(a[13], m, c);
                a[14] = _mm512_fmadd_ps(a[14], m, c); a[15] = _mm512_fmadd_ps(a[15], m, c);
            }
            for (k = 1; k < 16; k++) a[0] = _mm512_add_ps(a[0], a[k]);
            out = _mm512_reduce_add_ps(a[0]);
#elif defined(__AVX2__) && defined(__FMA__)
            __m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f), a[12];
            float lanes[8];
            int k;
            for (k = 0; k < 12; k++) a[k] = _mm256_set1_ps((float)(k + th));
            for (i = 0; i < iters; i++) {
                a[0] = _mm256_fmadd_ps(a[0], m, c); a[1] = _mm256_fmadd_ps(a[1], m, c);
                a[2] = _mm256_fmadd_ps(a[2], m, c); a[3] = _mm256_fmadd_ps(a[3], m, c);
                a[4] = _mm256_fmadd_ps(a[4], m, c); a[5] = _mm256_fmadd_ps(a[5], m, c);
                a[6] = _mm256_fmadd_ps(a[6], m, c); a[7] = _mm256_fmadd_ps(a[7], m, c);
                a[8] = _mm256_fmadd_ps(a[8], m, c); a[9] = _mm256_fmadd_ps(a[9], m, c);
                a[10] = _mm256_fmadd_ps(a[10], m, c); a[11] = _mm256_fmadd_ps(a[11], m, c);
            }
            for (k = 1; k < 12; k++) a[0] = _mm256_add_ps(a[0], a[k]);
            _mm256_storeu_ps(lanes, a[0]);
            out = lanes[0] + lanes[7];
#else
            float a[8];
            int k;
            for (k = 0; k < 8; k++) a[k] = (float)(k + th);
            for (i = 0; i < iters; i++)
                for (k = 0; k < 8; k++) a[k] = a[k] * 0.9999999f + 1e-7f;
            out = a[0] + a[7];
#endif
            sink = sink + out;
        }
        t = cli_now() - t0;
        if (flops_per_iter * (double)iters * n / t > best) best = flops_per_iter * (double)iters * n / t;
    }
    (void)sink;
    return best;
}

/* Best of `runs` runs of independent 8-bit dot-product chains on every thread:
   int8 operations/s (a multiply-add counts 2, as a flop of fma_peak does)
   with the widest integer product this build has: AVX512-VNNI vpdpbusd,
   AVX-VNNI's 256-bit one, AVX2's vpmaddubsw + vpmaddwd + vpaddd, NEON sdot,
   or scalar. The integer products of quantised prefill run on the same
   instructions. `isa` names it. The empty asm makes the bytes opaque each
   iteration, so that the products cannot be hoisted out of the loop. */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define BENCH_OPAQUE(v) __asm__ volatile("" : "+x"(v))
#elif (defined(__GNUC__) || defined(__clang__)) && defined(__aarch64__)
#define BENCH_OPAQUE(v) __asm__ volatile("" : "+w"(v))
#else
#define BENCH_OPAQUE(v) ((void)0)
#endif
/* a[0..N) = op(a[k], x, y), written out: the accumulators stay in registers */
#define BENCH_4(a, op, x, y, o) \
    (a)[o] = op((a)[o], x, y), (a)[o + 1] = op((a)[o + 1], x, y), (a)[o + 2] = op((a)[o + 2], x, y), \
    (a)[o + 3] = op((a)[o + 3], x, y)
#define BENCH_8(a, op, x, y) (BENCH_4(a, op, x, y, 0), BENCH_4(a, op, x, y, 4))
#define BENCH_12(a, op, x, y) (BENCH_8(a, op, x, y), BENCH_4(a, op, x, y, 8))
#if defined(__AVX2__) && !defined(__AVXVNNI__) && !(defined(__AVX512VNNI__) && defined(__AVX512BW__))
/* AVX2's 8-bit product: u8 x s8 pairs to s16 (vpmaddubsw), to s32 (vpmaddwd), added */
static inline __m256i bench_avx2_dot(__m256i acc, __m256i x, __m256i y) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1)));
}
#endif
static double int8_peak(int n, int runs, const char **isa) {
    const long iters = 2000000;
    double best = 0;
    int run;
    volatile int sink = 0;
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
    const double ops_per_iter = 12.0 * 64 * 2;
    *isa = "avx512vnni";
#elif defined(__AVXVNNI__)
    const double ops_per_iter = 12.0 * 32 * 2;
    *isa = "avxvnni";
#elif defined(__AVX2__)
    const double ops_per_iter = 8.0 * 32 * 2;
    *isa = "avx2";
#elif defined(__ARM_FEATURE_DOTPROD)
    const double ops_per_iter = 8.0 * 16 * 2;
    *isa = "neon-dotprod";
#else
    const double ops_per_iter = 8.0 * 2;
    *isa = "scalar";
#endif
    for (run = 0; run < runs; run++) {
        double t0 = cli_now(), t;
        int th;
#ifdef _OPENMP
#pragma omp parallel for num_threads(n) schedule(static)
#endif
        for (th = 0; th < n; th++) {
            long i;
            int k, out = 0;
#if defined(__AVX512VNNI__) && defined(__AVX512BW__)
            __m512i x = _mm512_set1_epi8((char)(3 + th)), y = _mm512_set1_epi8(-5), a[12];
            for (k = 0; k < 12; k++) a[k] = _mm512_set1_epi32(k);
            for (i = 0; i < iters; i++) {
                BENCH_OPAQUE(x);
                BENCH_12(a, _mm512_dpbusd_epi32, x, y);
            }
            for (k = 1; k < 12; k++) a[0] = _mm512_add_epi32(a[0], a[k]);
            out = _mm512_reduce_add_epi32(a[0]);
#elif defined(__AVXVNNI__)
            __m256i x = _mm256_set1_epi8((char)(3 + th)), y = _mm256_set1_epi8(-5), a[12];
            int lanes[8];
            for (k = 0; k < 12; k++) a[k] = _mm256_set1_epi32(k);
            for (i = 0; i < iters; i++) {
                BENCH_OPAQUE(x);
                BENCH_12(a, _mm256_dpbusd_avx_epi32, x, y);
            }
            for (k = 1; k < 12; k++) a[0] = _mm256_add_epi32(a[0], a[k]);
            _mm256_storeu_si256((__m256i *)lanes, a[0]);
            out = lanes[0] + lanes[7];
#elif defined(__AVX2__)
            /* (a weight vector per chain: with one, the compiler computes the
               shared product once per iteration) */
            __m256i x = _mm256_set1_epi8((char)(3 + th)), y[8], a[8];
            int lanes[8];
            for (k = 0; k < 8; k++) a[k] = _mm256_set1_epi32(k), y[k] = _mm256_set1_epi8((char)(k - 9)); /* none 0 */
            for (i = 0; i < iters; i++) {
                BENCH_OPAQUE(x);
                a[0] = bench_avx2_dot(a[0], x, y[0]), a[1] = bench_avx2_dot(a[1], x, y[1]);
                a[2] = bench_avx2_dot(a[2], x, y[2]), a[3] = bench_avx2_dot(a[3], x, y[3]);
                a[4] = bench_avx2_dot(a[4], x, y[4]), a[5] = bench_avx2_dot(a[5], x, y[5]);
                a[6] = bench_avx2_dot(a[6], x, y[6]), a[7] = bench_avx2_dot(a[7], x, y[7]);
            }
            for (k = 1; k < 8; k++) a[0] = _mm256_add_epi32(a[0], a[k]);
            _mm256_storeu_si256((__m256i *)lanes, a[0]);
            out = lanes[0] + lanes[7];
#elif defined(__ARM_FEATURE_DOTPROD)
            int8x16_t x = vdupq_n_s8((int8_t)(3 + th)), y = vdupq_n_s8(-5);
            int32x4_t a[8];
            for (k = 0; k < 8; k++) a[k] = vdupq_n_s32(k);
            for (i = 0; i < iters; i++) {
                BENCH_OPAQUE(x);
                BENCH_8(a, vdotq_s32, x, y);
            }
            for (k = 1; k < 8; k++) a[0] = vaddq_s32(a[0], a[k]);
            out = vgetq_lane_s32(a[0], 0);
#else
            int a[8];
            volatile signed char xv = (signed char)(3 + th);
            signed char x = xv;
            for (k = 0; k < 8; k++) a[k] = k;
            for (i = 0; i < iters; i++)
                for (k = 0; k < 8; k++) a[k] += (signed char)(x ^ a[k]) * (signed char)(k - 5); /* not a closed form */
            out = a[0] + a[7];
#endif
            sink = sink + out;
        }
        t = cli_now() - t0;
        if (ops_per_iter * (double)iters * n / t > best) best = ops_per_iter * (double)iters * n / t;
    }
    (void)sink;
    return best;
}

/* ---- filling a state ------------------------------------------------------ */

static uint32_t rng_state = 12345;
static uint32_t rng(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static void random_tokens(int32_t *t, long n, int vocab) {
    long i;
    for (i = 0; i < n; i++) t[i] = (int32_t)(rng() % (uint32_t)vocab);
}

/* Runs the model over `n` more tokens in pieces of 4096, with a progress
   line on a terminal. Returns seconds, or -1. */
static double fill_by_model(rwkvx_state *st, long n, int vocab) {
    int32_t *t = (int32_t *)malloc(4096 * sizeof *t);
    double t0 = cli_now(), last = t0;
    long done = 0;
    if (!t) return -1;
    while (done < n) {
        long k = n - done < 4096 ? n - done : 4096;
        random_tokens(t, k, vocab);
        if (rwkvx_eval(st, t, (size_t)k, NULL, 0) != RWKVX_OK) { free(t); return -1; }
        done += k;
        if (isatty(2) && cli_now() - last > 1) {
            last = cli_now();
            fprintf(stderr, "\rfilling the context: %ld / %ld tokens, %.0f tok/s   ", done, n, done / (last - t0));
        }
    }
    if (isatty(2)) fputc('\n', stderr);
    free(t);
    return cli_now() - t0;
}

/* Loads a saved state of `n` positions whose keys and values are random and
   whose recurrent state is the fresh one: decoding after it costs what it
   costs after a real context of that length (same chunk count and sizes).
   Uses the state file layout of rwkvx.h (header, RWKV blocks, sparse blocks). */
static int fill_random(rwkvx_state *st, const rwkvx_info *in, long n) {
    size_t head = rwkvx_state_save_bytes(st), C = (size_t)in->n_embd, kv = 2 * (size_t)n * C;
    size_t rwkv_bytes, total;
    unsigned char *buf;
    float *p;
    size_t i;
    int j, ok;
    uint64_t pos = (uint64_t)n;
    if (rwkvx_state_position(st) != 0) return 0;
    total = head + (size_t)in->n_sparse * kv * sizeof(float);
    buf = (unsigned char *)malloc(total);
    if (!buf || rwkvx_state_save(st, buf, head) != RWKVX_OK) { free(buf); return 0; }
    memcpy(buf + 24, &pos, 8);              /* header: magic 8, version 4, chunk 4, fingerprint 8, positions 8 */
    rwkv_bytes = head - 32 - (size_t)in->n_sparse * C * sizeof(float);
    /* move each sparse block's ffn_prev to its place, then random K and V */
    for (j = in->n_sparse - 1; j >= 0; j--) {
        unsigned char *from = buf + 32 + rwkv_bytes + (size_t)j * C * sizeof(float);
        unsigned char *to = buf + 32 + rwkv_bytes + (size_t)j * (C + kv) * sizeof(float);
        memmove(to, from, C * sizeof(float));
        p = (float *)(void *)(to + C * sizeof(float));
        for (i = 0; i < kv; i++) p[i] = (float)((int)(rng() % 2001) - 1000) * 1e-3f;
    }
    ok = rwkvx_state_load(st, buf, total) == RWKVX_OK;
    free(buf);
    return ok;
}

/* ---- main ----------------------------------------------------------------- */

static const char *type_name(rwkvx_type t) {
    const char *name = rwkvx_type_name((int)t);
    return name ? name : "?";
}

static long peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0;
    return ru.ru_maxrss * 1024L; /* kilobytes on Linux */
}

int main(int argc, char **argv) {
    const char *path = NULL, *isa = "none", *int_isa = "none";
    long prompt = 512, gen = 64, context = -1, repeat = 3, threads;
    cli_model_options mo;
    int json = 0, ceilings = 1, full = 0, random_fill = 0, i, r;
    rwkvx_options opt;
    rwkvx_model *m = NULL;
    rwkvx_state *st = NULL;
    rwkvx_info in;
    char err[RWKVX_ERROR_MAX];
    int32_t *tokens;
    float *logits;
    double pre[32], dec[32], bws[32], peaks[32], ipeaks[32], frac_pre[32], frac_ipre[32], frac_dec[32], pre_cpu[32], dec_cpu[32];
    double fill_s = 0, bw = 0, peak = 0, ipeak = 0, f_ipre = 0, prefill_tok_s, decode_tok_s, f_pre = 0, f_dec = 0;
    double tok_bytes, tok_flops, bw_bound = 0, compute_bound = 0;
    size_t bw_words = ((size_t)512 << 20) / 8, w;
    uint64_t *bw_buf = NULL;

    cli_start("rwkvx-bench");
    memset(&opt, 0, sizeof opt);
    memset(&mo, 0, sizeof mo);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("usage: rwkvx-bench MODEL.gguf [--prompt N] [--gen N] [--context N] [--full-attention]\n"
                   "                   [--skip-sparse] [--kv-f16] [--no-mmap] [--repeat R] [--fill model|random]\n"
                   "                   [--no-ceilings] [--json] [model options]\n"
                   "  sizes take k (1024) and m (1024^2) suffixes\n" CLI_MODEL_USAGE);
            return cli_finish(0);
        }
        if (!strcmp(a, "--version")) { printf("%s %s\n", cli_program, RWKVX_VERSION_STRING); return cli_finish(0); }
        if (cli_model_option(argc, argv, &i, &mo)) continue;
        if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--skip-sparse")) opt.skip_sparse = 1;
        else if (!strcmp(a, "--kv-f16")) opt.kv_f16 = 1;
        else if (!strcmp(a, "--no-mmap")) opt.no_mmap = 1;
        else if (!strcmp(a, "--full-attention")) full = 1;
        else if (!strcmp(a, "--no-ceilings")) ceilings = 0;
        else if (!strcmp(a, "--fill")) {
            const char *v = cli_value(argc, argv, &i);
            if (!strcmp(v, "random")) random_fill = 1;
            else if (strcmp(v, "model")) cli_die("bad --fill '%s' (model or random)", v);
        } else if (!strcmp(a, "--prompt")) prompt = bench_size(a, cli_value(argc, argv, &i));
        else if (!strcmp(a, "--gen")) gen = bench_size(a, cli_value(argc, argv, &i));
        else if (!strcmp(a, "--context")) context = bench_size(a, cli_value(argc, argv, &i));
        else if (!strcmp(a, "--repeat")) repeat = cli_long_option(a, cli_value(argc, argv, &i), 1, 32, NULL);
        else if (a[0] != '-' && !path) path = a;
        else cli_unknown(a);
    }
    if (!path) return cli_fail("no model given (rwkvx-bench MODEL.gguf ...; --help)");
    if (!cli_check_input(path)) return 1;
    threads = mo.threads;
    CLI_SET_RWKVX_OPTIONS(opt, mo);
    if (context < 0) context = prompt;
    if (full) { /* top-k covering every chunk: plain causal attention */
        if (rwkvx_load_file(&m, path, &opt, err) != RWKVX_OK) return cli_fail("cannot load '%s': %s", path, err);
        rwkvx_model_info(m, &in);
        rwkvx_free(m);
        opt.chunk_topk = (int)((context > prompt ? context : prompt) + gen) / in.chunk_size + 2;
    }
    if (rwkvx_load_file(&m, path, &opt, err) != RWKVX_OK) return cli_fail("cannot load '%s': %s", path, err);
    rwkvx_model_info(m, &in);
    if (threads == 0) threads = cli_max_threads();
    tokens = (int32_t *)malloc((size_t)(prompt > gen ? prompt : gen) * sizeof *tokens);
    logits = (float *)malloc((size_t)in.n_vocab * sizeof *logits);
    if (!tokens || !logits || rwkvx_state_new(m, &st) != RWKVX_OK) return cli_fail("out of memory");
    rwkvx_state_set_threads(st, mo.threads); /* 0: the state tunes its count */

    tok_bytes = (double)in.token_bytes;
    tok_flops = in.token_flops;
    if (ceilings) { /* a buffer 16x the last-level caches of most machines */
        if (!(bw_buf = (uint64_t *)malloc(bw_words * sizeof *bw_buf))) return cli_fail("out of memory");
        for (w = 0; w < bw_words; w++) bw_buf[w] = w;
        read_bandwidth((int)threads, bw_buf, bw_words, 1);
    }

    /* prefill from a fresh state, head on the last position only */
    random_tokens(tokens, prompt, in.n_vocab);
    rwkvx_eval(st, tokens, (size_t)(prompt < 16 ? prompt : 16), logits, 0); /* warm-up: pages, caches */
    /* Each run is preceded by its ceiling measurement: on a machine shared with
       other work the ceilings move, and the fraction of each run is taken
       against the ceiling measured next to it. */
    for (r = 0; r < repeat; r++) {
        double t0, c0;
        if (ceilings) peaks[r] = fma_peak((int)threads, 2, &isa), ipeaks[r] = int8_peak((int)threads, 2, &int_isa);
        rwkvx_state_reset(st);
        c0 = cpu_now();
        t0 = cli_now();
        if (rwkvx_eval(st, tokens, (size_t)prompt, logits, 0) != RWKVX_OK) return cli_fail("eval failed (prefill)");
        pre[r] = cli_now() - t0;
        pre_cpu[r] = cpu_now() - c0;
        if (ceilings) {
            frac_pre[r] = (double)prompt / pre[r] / (peaks[r] / tok_flops);
            frac_ipre[r] = (double)prompt / pre[r] / (ipeaks[r] / tok_flops);
        }
    }
    /* the context for decoding */
    if (context != prompt) {
        rwkvx_state_reset(st);
        if (random_fill) {
            if (!fill_random(st, &in, context)) return cli_fail("could not build a random state (out of memory?)");
        } else if ((fill_s = fill_by_model(st, context, in.n_vocab)) < 0) {
            return cli_fail("eval failed (filling the context)");
        }
    }
    for (r = 0; r < repeat; r++) {
        double t0, c0;
        if (ceilings) bws[r] = read_bandwidth((int)threads, bw_buf, bw_words, 2);
        random_tokens(tokens, gen, in.n_vocab);
        c0 = cpu_now();
        t0 = cli_now();
        for (i = 0; i < gen; i++)
            if (rwkvx_eval(st, tokens + i, 1, logits, 0) != RWKVX_OK) return cli_fail("eval failed (decode)");
        dec[r] = cli_now() - t0;
        dec_cpu[r] = cpu_now() - c0;
        if (ceilings) frac_dec[r] = (double)gen / dec[r] / (bws[r] / tok_bytes);
    }
    prefill_tok_s = (double)prompt / median(pre, (int)repeat);
    decode_tok_s = (double)gen / median(dec, (int)repeat);
    if (ceilings) {
        bw = median(bws, (int)repeat);
        peak = median(peaks, (int)repeat);
        ipeak = median(ipeaks, (int)repeat);
        f_ipre = median(frac_ipre, (int)repeat);
        bw_bound = bw / tok_bytes;
        compute_bound = peak / tok_flops;
        f_pre = median(frac_pre, (int)repeat);
        f_dec = median(frac_dec, (int)repeat);
    }
    free(bw_buf);

    if (json) {
        printf("{\"model\": \"%s\", \"weight_type\": \"%s\", \"threads\": %ld, \"prompt\": %ld, \"gen\": %ld, \"context\": %ld, "
               "\"chunk_size\": %d, \"chunk_topk\": %d, \"n_rwkv\": %d, \"n_sparse\": %d, \"skip_sparse\": %s, \"full_attention\": %s, \"kv_f16\": %s, \"fill\": \"%s\", "
               "\"prefill_tok_s\": %.2f, \"decode_tok_s\": %.2f, \"decode_ms_per_tok\": %.4f, \"fill_tok_s\": %.2f, "
               "\"bw_gb_s\": %.2f, \"fma_gflop_s\": %.1f, \"fma_isa\": \"%s\", \"token_bytes\": %.0f, \"token_flops\": %.0f, "
               "\"bw_bound_tok_s\": %.2f, \"compute_bound_tok_s\": %.2f, \"decode_frac_of_bw_bound\": %.4f, "
               "\"prefill_frac_of_compute_bound\": %.4f, \"state_bytes\": %lu, \"peak_rss_bytes\": %ld, \"repeat\": %ld, "
               "\"prefill_cpu_s\": %.4f, \"decode_cpu_ms_per_tok\": %.4f, \"omp_wait_policy\": \"%s\", "
               "\"threads_tuned\": %s, \"threads_at_end\": %d, \"int8_gop_s\": %.1f, \"int8_isa\": \"%s\", "
               "\"prefill_frac_of_int8_peak\": %.4f}\n",
               path, type_name(in.weight_type), threads, prompt, gen, context, in.chunk_size, in.chunk_topk, in.n_rwkv,
               in.n_sparse, opt.skip_sparse ? "true" : "false", full ? "true" : "false", opt.kv_f16 ? "true" : "false", context == prompt ? "prompt" : random_fill ? "random" : "model",
               prefill_tok_s, decode_tok_s, 1e3 / decode_tok_s, fill_s > 0 ? (double)context / fill_s : 0.0, bw / 1e9,
               peak / 1e9, isa, tok_bytes, tok_flops, bw_bound, compute_bound, f_dec, f_pre, (unsigned long)rwkvx_state_save_bytes(st),
               peak_rss_bytes(), repeat, median(pre_cpu, (int)repeat), 1e3 * median(dec_cpu, (int)repeat) / (double)gen,
               wait_policy(), mo.threads ? "false" : "true", rwkvx_state_threads(st), ipeak / 1e9, int_isa, f_ipre);
    } else {
        printf("model      %s: %d RWKV-7 + %d sparse blocks%s, C=%d, V=%d, %s weights\n", path, in.n_rwkv, in.n_sparse,
               opt.skip_sparse ? " (sparse skipped)" : "", in.n_embd, in.n_vocab, type_name(in.weight_type));
        printf("threads    %ld%s (OpenMP waiting: %s); chunk size %d, top-k %d; medians of %ld runs (fractions:\n"
               "           each run against the ceiling measured just before it)\n", threads,
               mo.threads ? "" : " at most, tuned", wait_policy(), in.chunk_size, in.chunk_topk, repeat);
        if (ceilings)
            printf("machine    read bandwidth %.1f GB/s, FMA peak %.1f GFLOP/s (%s), int8 peak %.1f GOP/s (%s)\n", bw / 1e9,
                   peak / 1e9, isa, ipeak / 1e9, int_isa);
        printf("prefill    %ld tokens: %.1f tok/s", prompt, prefill_tok_s);
        if (compute_bound > 0)
            printf(" = %.0f%% of the compute bound (%.0f tok/s: %.1f MFLOP/token)", 100 * f_pre, compute_bound, tok_flops / 1e6);
        printf("\n");
        if (fill_s > 0) printf("context    %ld tokens filled by the model in %.1f s (%.1f tok/s)\n", context, fill_s, context / fill_s);
        else if (context != prompt) printf("context    %ld tokens of random keys and values\n", context);
        printf("decode     at context %ld: %.2f tok/s, %.3f ms/token", context, decode_tok_s, 1e3 / decode_tok_s);
        if (bw_bound > 0)
            printf(" = %.0f%% of the bandwidth bound (%.1f tok/s: %.1f MB/token)", 100 * f_dec, bw_bound, tok_bytes / 1e6);
        printf("\n");
        printf("memory     state %.1f MB, peak resident %.1f MB\n", rwkvx_state_save_bytes(st) / 1e6, peak_rss_bytes() / 1e6);
    }
    rwkvx_state_free(st);
    rwkvx_free(m);
    free(tokens);
    free(logits);
    return cli_finish(0);
}
