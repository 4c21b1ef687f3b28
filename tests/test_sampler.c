/* Sampler tests: a known distribution sampled many times lands within
   tolerance (with temperature too); greedy picks the max; top-k, top-p and
   min-p keep exactly the tokens the reference rule keeps; penalties with
   decay and the whitespace/digit rule; bans; the same seed gives the same
   tokens; nothing is allocated per token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "../rwkvx.h"

/* Every allocation in the process is counted through ASan's allocator hooks
   (this test is built with ASan/UBSan only, linked with the library's
   object): sampling must make none. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#endif
#ifndef HAVE_ASAN
#error "test_sampler counts allocations through ASan: build it with -fsanitize=address (make builds test_sampler_asan)"
#endif
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
                                              void (*free_hook)(const volatile void *));
static volatile long n_allocs;
static void count_malloc(const volatile void *p, size_t n) { (void)p; (void)n; n_allocs++; }
static void ignore_free(const volatile void *p) { (void)p; }

#include "check.h"

static rwkvx_sampler_params plain(float temperature) {
    rwkvx_sampler_params p;
    rwkvx_sampler_defaults(&p);
    p.temperature = temperature;
    p.top_p = 1;
    p.top_k = 0;
    p.min_p = 0;
    p.presence = p.frequency = 0;
    return p;
}

/* Draws n tokens (penalties off) and compares frequencies with `want` (V entries, summing to 1). */
static void check_distribution(const char *what, const float *logits, int V, const rwkvx_sampler_params *p, const double *want, int n) {
    rwkvx_sampler *s;
    long *hits = (long *)calloc((size_t)V, sizeof *hits), allocs;
    int i;
    if (rwkvx_sampler_new(&s, V, NULL, p, 12345) != RWKVX_OK) { CHECK(0, "%s: sampler_new", what); free(hits); return; }
    allocs = n_allocs;
    for (i = 0; i < n; i++) {
        int32_t t = rwkvx_sample(s, logits);
        if (t < 0 || t >= V) { CHECK(0, "%s: token %d", what, (int)t); break; }
        hits[t]++;
        rwkvx_sampler_reset(s);
    }
    CHECK(n_allocs == allocs, "%s: the sampler allocated while sampling", what);
    for (i = 0; i < V; i++) {
        double f = (double)hits[i] / n, sd = sqrt(want[i] * (1 - want[i]) / n);
        if (want[i] == 0) CHECK(hits[i] == 0, "%s: token %d drawn %ld times but must never be", what, i, hits[i]);
        else CHECK(fabs(f - want[i]) <= 5 * sd + 1e-9, "%s: token %d frequency %.5f, want %.5f (+- %.5f)", what, i, f, want[i], 5 * sd);
    }
    rwkvx_sampler_free(s);
    free(hits);
}

/* The reference rule, written plainly: full sort, cumulative sum, cutoff. */
static void reference_mask(const float *logits, int V, const rwkvx_sampler_params *p, double *want) {
    int *order = (int *)malloc(sizeof(int) * (size_t)V), i, j, cut;
    double *prob = (double *)malloc(sizeof(double) * (size_t)V), z = 0, mx = -1e30, acc = 0, cutoff, wz = 0;
    for (i = 0; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
    for (i = 0; i < V; i++) z += prob[i] = exp(logits[i] - mx);
    for (i = 0; i < V; i++) prob[i] /= z, order[i] = i;
    for (i = 1; i < V; i++) /* insertion sort: most likely first, ties by id */
        for (j = i; j > 0 && (prob[order[j]] > prob[order[j - 1]] || (prob[order[j]] == prob[order[j - 1]] && order[j] < order[j - 1])); j--) {
            int t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
        }
    cutoff = 0;
    if (p->top_p < 1)
        for (i = 0; i < V; i++) { acc += prob[order[i]]; if (acc > p->top_p) { cutoff = prob[order[i]]; break; } }
    cut = p->top_k > 0 && p->top_k < V ? p->top_k : V;
    for (i = 0; i < V; i++) want[i] = 0;
    for (i = 0; i < cut; i++) {
        int id = order[i];
        if (prob[id] >= cutoff && prob[id] >= p->min_p * prob[order[0]]) want[id] = pow(prob[id], 1.0 / p->temperature);
    }
    for (i = 0; i < V; i++) wz += want[i];
    for (i = 0; i < V; i++) want[i] /= wz;
    free(order);
    free(prob);
}

static void test_distributions(void) {
    static const double p8[8] = {0.4, 0.25, 0.15, 0.1, 0.05, 0.03, 0.015, 0.005};
    float logits[8];
    double want[8], z = 0;
    rwkvx_sampler_params p = plain(1.0f);
    int i;
    for (i = 0; i < 8; i++) logits[i] = (float)log(p8[i]) + 3.0f;
    check_distribution("temperature 1", logits, 8, &p, p8, 200000);
    p.temperature = 0.5f; /* p^2, normalised */
    for (i = 0; i < 8; i++) z += p8[i] * p8[i];
    for (i = 0; i < 8; i++) want[i] = p8[i] * p8[i] / z;
    check_distribution("temperature 0.5", logits, 8, &p, want, 200000);
    p = plain(1.0f);
    p.top_k = 3;
    reference_mask(logits, 8, &p, want);
    CHECK(want[3] == 0 && want[2] > 0, "reference top-k");
    check_distribution("top-k 3", logits, 8, &p, want, 100000);
    p = plain(1.0f);
    p.top_p = 0.6f; /* 0.4, 0.65 > 0.6: keeps tokens 0 and 1 */
    reference_mask(logits, 8, &p, want);
    CHECK(want[1] > 0 && want[2] == 0, "reference top-p");
    check_distribution("top-p 0.6", logits, 8, &p, want, 100000);
    p.top_p = 0.7f; p.temperature = 2.0f;
    reference_mask(logits, 8, &p, want);
    check_distribution("top-p 0.7 temperature 2", logits, 8, &p, want, 100000);
    p = plain(1.0f);
    p.min_p = 0.2f; /* keeps p >= 0.08 */
    reference_mask(logits, 8, &p, want);
    CHECK(want[3] > 0 && want[4] == 0, "reference min-p");
    check_distribution("min-p 0.2", logits, 8, &p, want, 100000);
}

/* Random logits and settings: the tokens drawn are exactly the reference's kept set. */
static void test_masks(void) {
    enum { V = 300 };
    float logits[V];
    double want[V];
    uint64_t r = 99;
    int trial, i;
    for (trial = 0; trial < 60; trial++) {
        rwkvx_sampler_params p = plain(0.3f + (float)(trial % 5) * 0.4f);
        rwkvx_sampler *s;
        int hit[V] = {0}, n_want = 0, n_hit = 0;
        for (i = 0; i < V; i++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            logits[i] = (float)((r >> 33) % 4000) / 1000.0f * (trial % 3 ? 1.0f : 3.0f);
            if (trial % 7 == 0 && i % 5 == 0) logits[i] = 2.0f; /* ties */
        }
        p.top_p = trial % 4 == 0 ? 1.0f : 0.05f + 0.015f * (float)trial;
        p.top_k = trial % 3 == 0 ? 0 : 1 + trial % 13;
        p.min_p = trial % 5 == 1 ? 0.3f : 0.0f;
        reference_mask(logits, V, &p, want);
        for (i = 0; i < V; i++) n_want += want[i] > 0;
        if (rwkvx_sampler_new(&s, V, NULL, &p, (uint64_t)trial) != RWKVX_OK) { CHECK(0, "sampler_new"); continue; }
        for (i = 0; i < 20000; i++) {
            int32_t t = rwkvx_sample(s, logits);
            rwkvx_sampler_reset(s);
            if (t < 0 || t >= V || want[t] == 0) { CHECK(0, "trial %d: token %d is outside the reference mask", trial, (int)t); break; }
            hit[t] = 1;
        }
        for (i = 0; i < V; i++) n_hit += hit[i];
        /* every kept token with a weight not too small shows up */
        for (i = 0; i < V; i++) CHECK(hit[i] || want[i] < 1e-3, "trial %d: token %d (p %.4f) never drawn", trial, i, want[i]);
        (void)n_want; (void)n_hit;
        rwkvx_sampler_free(s);
    }
}

static void test_greedy_and_bans(void) {
    float logits[6] = {0.5f, 2.0f, -1.0f, 2.0f, NAN, 1.9f};
    rwkvx_sampler_params p = plain(0);
    rwkvx_sampler *s;
    int i;
    rwkvx_sampler_new(&s, 6, NULL, &p, 1);
    for (i = 0; i < 5; i++) { CHECK(rwkvx_sample(s, logits) == 1, "greedy picks the max (lowest id on ties)"); rwkvx_sampler_reset(s); }
    rwkvx_sampler_ban(s, 1, 1);
    CHECK(rwkvx_sample(s, logits) == 3, "ban 1 -> 3");
    rwkvx_sampler_reset(s);
    rwkvx_sampler_ban(s, 3, 1);
    CHECK(rwkvx_sample(s, logits) == 5, "ban 1 and 3 -> 5 (NaN is never picked)");
    rwkvx_sampler_reset(s);
    rwkvx_sampler_ban(s, 1, 0);
    CHECK(rwkvx_sample(s, logits) == 1, "unban 1");
    for (i = 0; i < 6; i++) rwkvx_sampler_ban(s, i, 1);
    CHECK(rwkvx_sample(s, logits) == -1, "everything banned");
    CHECK(rwkvx_sampler_ban(s, 6, 1) == RWKVX_ERR_ARGUMENT && rwkvx_sampler_ban(s, -1, 1) == RWKVX_ERR_ARGUMENT, "ban range");
    p.temperature = -1;
    CHECK(rwkvx_sampler_set_params(s, &p) == RWKVX_ERR_ARGUMENT, "negative temperature refused");
    p.temperature = 1; p.min_p = 2;
    CHECK(rwkvx_sampler_set_params(s, &p) == RWKVX_ERR_ARGUMENT, "min-p above 1 refused");
    rwkvx_sampler_free(s);
}

/* Penalties: greedy over logits where penalties decide, checked step by step
   against the reference bookkeeping; tokens " " and "7" add 0 to their count. */
static void test_penalties(void) {
    static const char vocab[] = "1 'a' 1\n2 'b' 1\n3 ' ' 1\n4 '7' 1\n5 '\\n' 1\n6 '  ' 2\n";
    char err[RWKVX_ERROR_MAX];
    rwkvx_tokenizer *tk = NULL;
    rwkvx_sampler *s;
    rwkvx_sampler_params p = plain(0);
    float logits[7] = {-9, 1.0f, 0.9f, 0.8f, 0.7f, 0.6f, 0.5f};
    double count[7] = {0}, l;
    int seen[7] = {0}, step, i;
    CHECK(rwkvx_tokenizer_from_vocab(&tk, vocab, sizeof vocab - 1, err) == RWKVX_OK, "%s", err);
    p.presence = 0.15f;
    p.frequency = 0.25f;
    p.decay = 0.9f;
    rwkvx_sampler_new(&s, 7, tk, &p, 1);
    for (step = 0; step < 40; step++) {
        int32_t got = rwkvx_sample(s, logits), want = 0;
        double best = -1e30;
        for (i = 0; i < 7; i++) {
            l = logits[i] - (seen[i] ? p.presence + count[i] * p.frequency : 0);
            if (l > best + 1e-6) best = l, want = i;
        }
        CHECK(got == want, "step %d: got %d, want %d", step, (int)got, (int)want);
        for (i = 0; i < 7; i++) count[i] *= p.decay;
        seen[want] = 1;
        count[want] += want == 3 || want == 4 ? 0 : 1; /* " " and "7"; "  " is not a piece of " \t0123456789" */
    }
    rwkvx_sampler_free(s);
    rwkvx_tokenizer_free(tk);
}

static void test_seed(void) {
    enum { V = 1000, N = 200 };
    static float logits[V];
    int32_t a[N], b[N], c[N];
    rwkvx_sampler_params p;
    rwkvx_sampler *s1, *s2, *s3;
    int i;
    uint64_t saved;
    rwkvx_sampler_defaults(&p);
    for (i = 0; i < V; i++) logits[i] = (float)((i * 7919) % 1000) / 150.0f;
    rwkvx_sampler_new(&s1, V, NULL, &p, 42);
    rwkvx_sampler_new(&s2, V, NULL, &p, 42);
    rwkvx_sampler_new(&s3, V, NULL, &p, 43);
    for (i = 0; i < N; i++) a[i] = rwkvx_sample(s1, logits), b[i] = rwkvx_sample(s2, logits), c[i] = rwkvx_sample(s3, logits);
    CHECK(memcmp(a, b, sizeof a) == 0, "the same seed gives the same tokens");
    CHECK(memcmp(a, c, sizeof a) != 0, "another seed gives other tokens");
    /* the RNG state can be saved and restored */
    saved = rwkvx_sampler_rng(s1);
    rwkvx_sampler_reset(s1);
    for (i = 0; i < 20; i++) a[i] = rwkvx_sample(s1, logits);
    rwkvx_sampler_set_rng(s1, saved);
    rwkvx_sampler_reset(s1);
    for (i = 0; i < 20; i++) b[i] = rwkvx_sample(s1, logits);
    CHECK(memcmp(a, b, 20 * sizeof *a) == 0, "restored RNG repeats the tokens");
    rwkvx_sampler_seed(s1, 42);
    rwkvx_sampler_reset(s1);
    rwkvx_sampler_seed(s2, 42);
    rwkvx_sampler_reset(s2);
    for (i = 0; i < 20; i++) CHECK(rwkvx_sample(s1, logits) == rwkvx_sample(s2, logits), "reseeded");
    rwkvx_sampler_free(s1);
    rwkvx_sampler_free(s2);
    rwkvx_sampler_free(s3);
}

/* No allocation per token in the sampler, the tokenizer or the decoder
   (large vocabulary, every filter on). */
static void test_no_alloc(void) {
    enum { V = 65536 };
    float *logits = (float *)malloc(sizeof(float) * V);
    rwkvx_sampler_params p;
    rwkvx_sampler *s;
    rwkvx_tokenizer *tk = NULL;
    char err[RWKVX_ERROR_MAX], out[64];
    int32_t ids[64];
    size_t n;
    long before;
    int i;
    rwkvx_decoder d;
    rwkvx_sampler_defaults(&p);
    p.top_k = 50;
    p.min_p = 0.01f;
    for (i = 0; i < V; i++) logits[i] = (float)((i * 2654435761u) % 10007) / 1000.0f;
    rwkvx_sampler_new(&s, V, NULL, &p, 7);
    rwkvx_tokenizer_from_vocab(&tk, "1 'ab' 2\n2 'a' 1\n3 'b' 1\n", 24, err);
    rwkvx_decoder_init(&d);
    before = n_allocs;
    for (i = 0; i < 300; i++) {
        int32_t t = rwkvx_sample(s, logits);
        CHECK(t >= 0, "sample");
        rwkvx_tokenize(tk, "abab", 4, ids, 64, &n);
        rwkvx_decoder_push(&d, tk, ids[0], out, sizeof out, &n);
    }
    CHECK(n_allocs == before, "%ld allocations while sampling", n_allocs - before);
    rwkvx_sampler_free(s);
    rwkvx_tokenizer_free(tk);
    free(logits);
}

int main(void) {
    if (__sanitizer_install_malloc_and_free_hooks(count_malloc, ignore_free) == 0) {
        printf("FAIL: ASan's allocator hooks could not be installed\n");
        return 1;
    }
    {   /* the hook sees an allocation (else the no-allocation checks could not fail) */
        long before = n_allocs;
        void *volatile p = malloc(16);
        CHECK(n_allocs == before + 1, "an allocation is counted");
        free(p);
    }
    test_distributions();
    test_masks();
    test_greedy_and_bans();
    test_penalties();
    test_seed();
    test_no_alloc();
    return check_report("test_sampler");
}
