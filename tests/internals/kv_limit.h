/* test_internals kv-limit: the opt-in K/V limit (rwkvx_options.kv_max, kv_keep, kv_window).

   test_internals kv-limit RWKVX_MODEL.gguf RWKV7_MODEL.gguf

   On the RWKV-X demo model (2 sparse blocks, chunk 64) with a small limit
   (300 / 200 / 50, so 1000 tokens evict 7 times) it checks:
   - bad option values and combinations are refused with RWKVX_ERR_ARGUMENT;
   - eviction happens, each head holds at most kv_max positions, and nothing
     is allocated once the cache has first filled;
   - an eviction keeps exactly the most-voted entries, in order, and the
     window (against a brute-force ranking of the votes);
   - whole prompt, token by token, ragged pieces and 1 or 2 threads give
     bit-identical logits (eviction points are fixed), also with kv_f16;
   - a limit never reached gives the exact rule's logits bit for bit;
   - a compacted state saves, restores and forks bit-exactly (the same bytes
     back, the same continuation), and states of another limit setting,
     truncated or inconsistent ones are refused;
   - on a model without sparse blocks the limit changes nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* (n_allocs: every allocation the library makes, counted by tests/test_internals.c) */

enum { N_TOK = 1000, KV_MAX = 300, KV_KEEP = 200, KV_WINDOW = 50 };


static rwkvx_model *load(const char *path, int kv_max, int kv_keep, int kv_window, int kv_f16) {
    rwkvx_options opt;
    rwkvx_model *m = NULL;
    char err[RWKVX_ERROR_MAX];
    memset(&opt, 0, sizeof opt);
    opt.kv_max = kv_max, opt.kv_keep = kv_keep, opt.kv_window = kv_window, opt.kv_f16 = kv_f16;
    if (rwkvx_load_file(&m, path, &opt, err) != RWKVX_OK) printf("cannot load %s: %s\n", path, err);
    return m;
}

/* all logits of tokens[0..n) evaluated in pieces of `piece` (0: whole; -1: ragged) */
static float *run(rwkvx_model *m, const int32_t *tokens, int n, int piece, int threads) {
    static const int ragged[] = {7, 1, 50, 1, 3, 64, 2, 100};
    size_t V = (size_t)rwkvx_n_vocab(m);
    float *out = (float *)malloc((size_t)n * V * sizeof(float));
    rwkvx_state *st;
    int done = 0, i = 0, ok = 1;
    if (!out || rwkvx_state_new(m, &st) != RWKVX_OK) { free(out); return NULL; }
    rwkvx_state_set_threads(st, threads);
    while (done < n && ok) {
        int k = piece == 0 ? n - done : piece > 0 ? piece : ragged[i++ % 8];
        if (k > n - done) k = n - done;
        ok = rwkvx_eval(st, tokens + done, (size_t)k, out + (size_t)done * V, RWKVX_EVAL_ALL_LOGITS) == RWKVX_OK;
        done += k;
    }
    rwkvx_state_free(st);
    if (!ok) { free(out); return NULL; }
    return out;
}

static int same(const float *a, const float *b, size_t n) { return a && b && memcmp(a, b, n * sizeof(float)) == 0; }

static void check_bad_options(const char *path) {
    static const int bad[][3] = {
        {-1, 0, 0}, {300, -1, 0}, {300, 200, -5}, {0, 200, 0}, {0, 0, 50}, /* negative; keep or window without max */
        {300, 300, 50}, {300, 400, 50}, {300, 200, 200}, {300, 200, 250},   /* not window < keep < max */
        {5, 0, 0}, {(1 << 30) + 1, 0, 0}};                                  /* default window 0; too large */
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rwkvx_options opt;
        rwkvx_model *m = NULL;
        char err[RWKVX_ERROR_MAX] = "", what[128];
        memset(&opt, 0, sizeof opt);
        opt.kv_max = bad[i][0], opt.kv_keep = bad[i][1], opt.kv_window = bad[i][2];
        snprintf(what, sizeof what, "kv limit %d/%d/%d refused", bad[i][0], bad[i][1], bad[i][2]);
        CHECK(rwkvx_load_file(&m, path, &opt, err) == RWKVX_ERR_ARGUMENT && m == NULL && err[0], "%s", what);
        rwkvx_free(m);
    }
    {
        rwkvx_model *m = load(path, 20000, 0, 0, 0);
        rwkvx_info info;
        if (!m) { CHECK(0, "load with the reference limit"); return; }
        rwkvx_model_info(m, &info);
        CHECK(info.kv_max == 20000 && info.kv_keep == 16000 && info.kv_window == 2000, "defaults are the reference's 20000/16000/2000");
        rwkvx_free(m);
    }
}

/* the command-line form, "MAX[,KEEP[,WINDOW]]" */
static void check_parse(void) {
    static const char *bad[] = {"", ",", "0", "-5", "x", "12x", "1,", ",2", "1,,2", "1,2,3,", "1,2,3,4",
                                "1073741825", "99999999999999999999", " 5", "5 "};
    static const struct { const char *text; int max, keep, window; } good[] = {
        {"20000", 20000, 0, 0}, {"1024,768", 1024, 768, 0}, {"1024,768,128", 1024, 768, 128},
        {"1073741824,2,1", 1 << 30, 2, 1}};
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rwkvx_options opt;
        char what[96];
        memset(&opt, 0, sizeof opt);
        snprintf(what, sizeof what, "--kv-limit text '%s' refused", bad[i]);
        CHECK(rwkvx_parse_kv_limit(bad[i], &opt) == RWKVX_ERR_ARGUMENT, "%s", what);
    }
    for (i = 0; i < sizeof good / sizeof good[0]; i++) {
        rwkvx_options opt;
        char what[96];
        memset(&opt, 0xff, sizeof opt);
        snprintf(what, sizeof what, "--kv-limit text '%s' read", good[i].text);
        CHECK(rwkvx_parse_kv_limit(good[i].text, &opt) == RWKVX_OK && opt.kv_max == good[i].max &&
              opt.kv_keep == good[i].keep && opt.kv_window == good[i].window, "%s", what);
    }
}

/* eviction happens, the cache never exceeds kv_max, nothing allocates once full */
static void check_bounded(rwkvx_model *m, const int32_t *tokens) {
    rwkvx_state *st;
    int t, over = 0, evicted = 0;
    long allocs_when_full = -1;
    if (rwkvx_state_new(m, &st) != RWKVX_OK) { CHECK(0, "state_new"); return; }
    rwkvx_state_set_threads(st, 1);
    for (t = 0; t < N_TOK; t++) {
        uint64_t before = rwkvx_state_kv_positions(st);
        rwkvx_eval(st, tokens + t, 1, NULL, 0);
        if (rwkvx_state_kv_positions(st) > KV_MAX || st->kv_capacity > KV_MAX) over = 1;
        if (rwkvx_state_kv_positions(st) < before) evicted++;
        if (allocs_when_full < 0 && rwkvx_state_kv_positions(st) == KV_MAX) allocs_when_full = n_allocs;
    }
    CHECK(rwkvx_state_position(st) == N_TOK, "position counts every token");
    CHECK(!over, "a head never holds more than kv_max positions");
    CHECK(evicted == (N_TOK - KV_MAX - 1) / (KV_MAX - KV_KEEP) + 1, "one eviction every kv_max - kv_keep tokens");
    CHECK(allocs_when_full >= 0 && n_allocs == allocs_when_full, "no allocation once the cache is full");
    rwkvx_state_free(st);
}

/* The first eviction keeps, per head, exactly the kv_keep - kv_window past
   entries with the most votes (ties: the later), in position order, then the
   window: checked against a brute-force ranking of the library's votes. */
static void check_selection(rwkvx_model *m, const int32_t *tokens) {
    enum { P = KV_MAX - KV_WINDOW, K = KV_KEEP - KV_WINDOW };
    static float votes[P], score[P], before[KV_MAX][64], expect[KV_KEEP][64];
    rwkvx_state *st;
    int j, h, i, a, n, all_ok = 1;
    if (rwkvx_state_new(m, &st) != RWKVX_OK) { CHECK(0, "state_new"); return; }
    rwkvx_state_set_threads(st, 1);
    rwkvx_eval(st, tokens, KV_MAX, NULL, 0);
    for (j = 0; j < m->n_sparse; j++)
        for (h = 0; h < m->n_head; h++) {
            rwkvx_state *copy;
            if (rwkvx_state_copy(st, &copy) != RWKVX_OK) { CHECK(0, "copy"); continue; }
            rwkvx__kv_votes(m, &copy->kv[j], h, copy->n_pos, P, votes, score);
            memcpy(before, copy->kv[j].k[h], sizeof before);
            for (n = 0, i = 0; i < KV_MAX; i++) {
                int better = 0;
                for (a = 0; i < P && a < P; a++) better += votes[a] > votes[i] || (votes[a] == votes[i] && a > i);
                if (i >= P || better < K) memcpy(expect[n++], before[i], sizeof expect[0]);
            }
            rwkvx_eval(copy, tokens + KV_MAX, 1, NULL, 0); /* evicts, then appends */
            if (n != KV_KEEP || rwkvx_state_kv_positions(copy) != KV_KEEP + 1 ||
                memcmp(expect, copy->kv[j].k[h], sizeof expect))
                all_ok = 0;
            rwkvx_state_free(copy);
        }
    CHECK(all_ok, "eviction keeps the most-voted entries in order, then the window");
    rwkvx_state_free(st);
}

/* save, restore and fork a compacted state: the same bytes, the same continuation */
static void check_state(rwkvx_model *m, rwkvx_model *exact, rwkvx_model *other_limit, const int32_t *tokens, const float *expect) {
    size_t V = (size_t)rwkvx_n_vocab(m), bytes, half = N_TOK * 2 / 3; /* past several evictions */
    rwkvx_state *a = NULL, *b = NULL, *fork = NULL, *e = NULL, *o = NULL;
    unsigned char *saved = NULL, *again = NULL;
    float *out = (float *)malloc((N_TOK - half) * V * sizeof(float));
    if (!out || rwkvx_state_new(m, &a) || rwkvx_state_new(m, &b) || rwkvx_state_new(exact, &e) || rwkvx_state_new(other_limit, &o)) {
        CHECK(0, "state_new");
        goto done;
    }
    rwkvx_state_set_threads(a, 1);
    rwkvx_state_set_threads(b, 1);
    rwkvx_eval(a, tokens, half, NULL, 0);
    CHECK(rwkvx_state_kv_positions(a) < rwkvx_state_position(a), "the state was compacted");
    bytes = rwkvx_state_save_bytes(a);
    saved = (unsigned char *)malloc(bytes);
    again = (unsigned char *)malloc(bytes);
    if (!saved || !again || rwkvx_state_save(a, saved, bytes) != RWKVX_OK) { CHECK(0, "save"); goto done; }
    CHECK(rwkvx_state_load(b, saved, bytes) == RWKVX_OK, "restore a compacted state");
    CHECK(rwkvx_state_save_bytes(b) == bytes && rwkvx_state_save(b, again, bytes) == RWKVX_OK && !memcmp(saved, again, bytes),
          "a restored state saves back to the same bytes");
    CHECK(rwkvx_state_copy(a, &fork) == RWKVX_OK, "fork a compacted state");
    {
        rwkvx_state *each[3];
        int s;
        each[0] = a, each[1] = b, each[2] = fork;
        for (s = 0; s < 3; s++) {
            CHECK(rwkvx_eval(each[s], tokens + half, N_TOK - half, out, RWKVX_EVAL_ALL_LOGITS) == RWKVX_OK &&
                  same(out, expect + half * V, (N_TOK - half) * V),
                  "%s", s == 0 ? "continuation" : s == 1 ? "restored state continues bit-exactly" : "forked state continues bit-exactly");
        }
    }
    /* another setting, or none, refuses it; and the reverse */
    CHECK(rwkvx_state_load(e, saved, bytes) == RWKVX_ERR_MISMATCH, "a limited state refused by an exact model");
    CHECK(rwkvx_state_load(o, saved, bytes) == RWKVX_ERR_MISMATCH, "a state of another limit refused");
    CHECK(rwkvx_state_load(b, saved, bytes - 1) == RWKVX_ERR_FORMAT, "a truncated limited state refused");
    memcpy(again, saved, bytes);
    again[52] = 1; /* the reserved word */
    CHECK(rwkvx_state_load(b, again, bytes) == RWKVX_ERR_FORMAT, "a nonzero reserved word refused");
    memcpy(again, saved, bytes);
    again[32] = (unsigned char)(KV_MAX + 1), again[33] = (unsigned char)((KV_MAX + 1) >> 8); /* entries > kv_max */
    CHECK(rwkvx_state_load(b, again, bytes) == RWKVX_ERR_FORMAT, "more entries than kv_max refused");
    memcpy(again, saved, bytes);
    again[24] = 1, again[25] = again[26] = again[27] = 0; /* positions < entries */
    CHECK(rwkvx_state_load(b, again, bytes) == RWKVX_ERR_FORMAT, "more entries than positions refused");
    {
        size_t eb;
        unsigned char *ebuf;
        rwkvx_eval(e, tokens, 10, NULL, 0);
        eb = rwkvx_state_save_bytes(e);
        ebuf = (unsigned char *)malloc(eb);
        CHECK(ebuf && rwkvx_state_save(e, ebuf, eb) == RWKVX_OK && ebuf[8] == 1, "an exact state is still version 1");
        CHECK(ebuf && rwkvx_state_load(b, ebuf, eb) == RWKVX_ERR_MISMATCH, "an exact (version 1) state refused by a limited model");
        free(ebuf);
    }
done:
    rwkvx_state_free(a);
    rwkvx_state_free(b);
    rwkvx_state_free(fork);
    rwkvx_state_free(e);
    rwkvx_state_free(o);
    free(saved);
    free(again);
    free(out);
}

static int kv_limit_main(int argc, char **argv) {
    int32_t tokens[N_TOK];
    rwkvx_model *m, *exact, *big, *other, *f16, *r7, *r7_limited;
    size_t V, n;
    uint64_t rng = 12345;
    int t;
    float *whole, *single, *ragged, *two, *x;
    if (argc < 3) {
        fprintf(stderr, "usage: test_internals kv-limit RWKVX_MODEL.gguf RWKV7_MODEL.gguf\n");
        return 2;
    }
    for (t = 0; t < N_TOK; t++) { /* printable bytes: the demo models' vocabulary */
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        tokens[t] = 32 + (int32_t)((rng >> 33) % 95);
    }
    check_parse();
    check_bad_options(argv[1]);
    m = load(argv[1], KV_MAX, KV_KEEP, KV_WINDOW, 0);
    exact = load(argv[1], 0, 0, 0, 0);
    big = load(argv[1], N_TOK + 1, 0, 0, 0);
    other = load(argv[1], KV_MAX, KV_KEEP + 1, KV_WINDOW, 0);
    f16 = load(argv[1], KV_MAX, KV_KEEP, KV_WINDOW, 1);
    r7 = load(argv[2], 0, 0, 0, 0);
    r7_limited = load(argv[2], KV_MAX, KV_KEEP, KV_WINDOW, 0);
    if (!m || !exact || !big || !other || !f16 || !r7 || !r7_limited) return 2;
    V = (size_t)rwkvx_n_vocab(m);
    n = N_TOK * V;

    check_bounded(m, tokens);
    check_selection(m, tokens);
    whole = run(m, tokens, N_TOK, 0, 1);
    single = run(m, tokens, N_TOK, 1, 1);
    ragged = run(m, tokens, N_TOK, -1, 1);
    two = run(m, tokens, N_TOK, 0, 2);
    CHECK(same(whole, single, n), "limited: whole prompt and token by token identical");
    CHECK(same(whole, ragged, n), "limited: whole prompt and ragged pieces identical");
    CHECK(same(whole, two, n), "limited: 1 and 2 threads identical");
    x = run(exact, tokens, N_TOK, 0, 1);
    CHECK(x && whole && memcmp(x, whole, KV_MAX * V * sizeof(float)) == 0, "limited = exact before the first eviction");
    CHECK(x && whole && !same(x, whole, n), "limited != exact after it");
    free(two);
    two = run(big, tokens, N_TOK, 0, 1);
    CHECK(same(x, two, n), "a limit never reached = the exact rule, bit for bit");
    check_state(m, exact, other, tokens, whole);
    free(single), free(ragged), free(two), free(x);
    whole = (free(whole), run(f16, tokens, N_TOK, 0, 1));
    single = run(f16, tokens, N_TOK, 1, 1);
    CHECK(same(whole, single, n), "limited with kv_f16: whole and token by token identical");
    free(whole), free(single);
    whole = run(r7, tokens, 600, 0, 1);
    single = run(r7_limited, tokens, 600, 1, 1);
    CHECK(same(whole, single, 600 * (size_t)rwkvx_n_vocab(r7)), "no sparse block: the limit changes nothing");
    free(whole), free(single);
    rwkvx_free(m), rwkvx_free(exact), rwkvx_free(big), rwkvx_free(other), rwkvx_free(f16), rwkvx_free(r7), rwkvx_free(r7_limited);
    return check_report("test_internals kv-limit");
}
