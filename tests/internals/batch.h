/* test_internals batch: rwkvx_eval_batch against rwkvx_eval, every golden case.

   test_internals batch CASES.txt FIXTURE_DIR GGUF_DIR TYPE...

   For each case of CASES.txt and each weight TYPE (GGUF_DIR/<model stem>.<TYPE>.gguf):
   - N_STREAMS states, each with its own token sequence (the case's tokens
     rotated), are advanced together by rwkvx_eval_batch in calls of random
     composition: which states take part, in which order, runs of 1 to 90
     tokens (a run may span passes of 64 rows; decode steps beside prompts),
     every-position or last-position logits, 1 or 2 threads or tuned (0, its
     tuner made to try another count in every pass it can), states with
     different thread settings in one call;
   - every logit it returns is bit-identical to that state evaluated alone
     by rwkvx_eval, and so is every state at the end (saved bytes);
   - stream 0 (the case's own tokens) matches the golden logits within the
     type's bound;
   - every product size of the few-token kernel and past it (n = 2 ..
     RWKVX__FEW + 2 tokens at once == one at a time, bit for bit);
   - the same with the K/V limit on (sparse models): evictions mid-batch;
   - the thread tuner, on simulated pass times: it stays on every core of an
     idle machine and goes to one thread on a loaded one, trying little, and
     comes back when the load goes;
   - refused, changing no state: a state of another model or of the same file
     loaded with other settings, a state listed twice, a bad token, an empty
     run, a run past max_context, NULL arrays.
   Prints "test_internals batch: N passed, N failed". */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { N_STREAMS = 6, MAX_T = 4096 };

typedef struct {
    char model[256], logits[256];
    int chunk, topk, T, V;
    int32_t tokens[MAX_T];
} test_case;

static int read_case(FILE *f, test_case *c) {
    char line[65536];
    char *p, *end;
    int i;
    do {
        if (!fgets(line, sizeof line, f)) return 0;
    } while (line[0] == '#' || line[0] == '\n');
    if (sscanf(line, "%255s %d %d %255s %d %d", c->model, &c->chunk, &c->topk, c->logits, &c->T, &c->V) != 6) return 0;
    if (c->T <= 0 || c->T > MAX_T) return 0;
    for (p = line, i = 0; i < 6; i++) { /* skip the six header fields */
        while (*p == ' ') p++;
        while (*p && *p != ' ') p++;
    }
    for (i = 0; i < c->T; i++) {
        c->tokens[i] = (int32_t)strtol(p, &end, 10);
        if (end == p) return 0;
        p = end;
    }
    return 1;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static int rnd(int n) { /* 0 .. n-1 */
    rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
    return (int)(rng_state % (uint64_t)n);
}

typedef struct {
    const test_case *c;
    int32_t tokens[N_STREAMS][MAX_T];   /* stream i: the case's tokens rotated by 17 i */
    float *alone[N_STREAMS];            /* every position's logits, rwkvx_eval alone */
    unsigned char *alone_state[N_STREAMS];
    size_t state_bytes[N_STREAMS];
} streams;

static void streams_free(streams *s) {
    int i;
    for (i = 0; i < N_STREAMS; i++) free(s->alone[i]), free(s->alone_state[i]);
}

/* The reference: each stream on its own state, the whole sequence in one call. */
static int streams_alone(streams *s, rwkvx_model *m, const test_case *c) {
    int i, t;
    size_t V = (size_t)c->V;
    memset(s, 0, sizeof *s);
    s->c = c;
    for (i = 0; i < N_STREAMS; i++) {
        rwkvx_state *st;
        for (t = 0; t < c->T; t++) s->tokens[i][t] = c->tokens[(t + 17 * i) % c->T];
        s->alone[i] = (float *)malloc((size_t)c->T * V * sizeof(float));
        if (!s->alone[i] || rwkvx_state_create(&st, m) != RWKVX_OK) return 0;
        rwkvx_state_set_threads(st, 2);
        if (rwkvx_eval(st, s->tokens[i], (size_t)c->T, s->alone[i], RWKVX_EVAL_ALL_LOGITS) != RWKVX_OK) return 0;
        s->state_bytes[i] = rwkvx_state_save_bytes(st);
        s->alone_state[i] = (unsigned char *)malloc(s->state_bytes[i]);
        if (!s->alone_state[i] || rwkvx_state_save(st, s->alone_state[i], s->state_bytes[i]) != RWKVX_OK) return 0;
        rwkvx_state_free(st);
    }
    return 1;
}

/* Advances all streams to the end with random rwkvx_eval_batch calls and
   compares every logit and the final states with the reference. Returns 0
   on any difference (printed). */
static int batch_matches(const streams *s, rwkvx_model *m, const char *where) {
    const test_case *c = s->c;
    size_t V = (size_t)c->V;
    rwkvx_state *st[N_STREAMS];
    int done[N_STREAMS], i, ok = 1, left = N_STREAMS;
    float *out[N_STREAMS];
    for (i = 0; i < N_STREAMS; i++) {
        done[i] = 0;
        out[i] = (float *)malloc(MAX_T * V * sizeof(float));
        if (!out[i] || rwkvx_state_create(&st[i], m) != RWKVX_OK) return 0;
    }
    while (left > 0) {
        rwkvx_state *bs[N_STREAMS];
        const int32_t *bt[N_STREAMS];
        size_t bn[N_STREAMS];
        float *bl[N_STREAMS];
        int who[N_STREAMS], n = 0, all = rnd(2), k;
        for (i = 0; i < N_STREAMS; i++) /* who takes part, in a random order */
            if (done[i] < c->T && rnd(4) != 0) {
                int at = rnd(n + 1);
                memmove(who + at + 1, who + at, (size_t)(n - at) * sizeof(int));
                who[at] = i, n++;
            }
        for (k = 0; k < n; k++) {
            int j = who[k], r = rnd(10), len = r < 5 ? 1 : r < 8 ? 1 + rnd(12) : 1 + rnd(90);
            if (len > c->T - done[j]) len = c->T - done[j];
            rwkvx_state_set_threads(st[j], rnd(3));
            if (st[j]->n_threads == 0) /* tuned: a try in every pass it can */
                st[j]->tuner.since[0] = st[j]->tuner.since[1] = 1e9;
            bs[k] = st[j], bt[k] = s->tokens[j] + done[j], bn[k] = (size_t)len;
            bl[k] = rnd(5) == 0 ? NULL : out[j];
        }
        if (n == 0) continue;
        if (rwkvx_eval_batch(bs, bt, bn, (size_t)n, bl, all ? RWKVX_EVAL_ALL_LOGITS : 0) != RWKVX_OK) {
            CHECK(0, "%s: %s", where, "rwkvx_eval_batch failed");
            ok = 0;
            break;
        }
        for (k = 0; k < n; k++) {
            int j = who[k], last = done[j] + (int)bn[k] - 1;
            if (bl[k] && all)
                ok &= !memcmp(out[j], s->alone[j] + (size_t)done[j] * V, bn[k] * V * sizeof(float));
            else if (bl[k])
                ok &= !memcmp(out[j], s->alone[j] + (size_t)last * V, V * sizeof(float));
            done[j] += (int)bn[k];
            if (done[j] == c->T) left--;
            if (!ok) {
                printf("  %s: stream %d, positions %d..%d differ from rwkvx_eval alone\n", where, j, done[j] - (int)bn[k], last);
                break;
            }
        }
        if (!ok) break;
    }
    for (i = 0; i < N_STREAMS; i++) {
        size_t bytes = rwkvx_state_save_bytes(st[i]);
        unsigned char *b = (unsigned char *)malloc(bytes);
        if (ok && (!b || bytes != s->state_bytes[i] || rwkvx_state_save(st[i], b, bytes) != RWKVX_OK ||
                   memcmp(b, s->alone_state[i], bytes))) {
            printf("  %s: stream %d's final state differs from rwkvx_eval alone\n", where, i);
            ok = 0;
        }
        free(b);
        free(out[i]);
        rwkvx_state_free(st[i]);
    }
    return ok;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double worst = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d <= worst)) worst = d;
    }
    return worst;
}

static void model_path(char *out, size_t n, const char *dir, const char *model, const char *type) {
    const char *dot = strrchr(model, '.');
    int stem = dot ? (int)(dot - model) : (int)strlen(model);
    snprintf(out, n, "%s/%.*s.%s.gguf", dir, stem, model, type);
}

/* Refusals: each must fail with the expected status and leave every state at
   its position. `path` is the model's file (loaded again with other settings). */
static void check_refusals(rwkvx_model *m, const char *path, const test_case *c, const char *where) {
    rwkvx_model *other = NULL, *capped = NULL;
    rwkvx_options opt;
    rwkvx_state *a, *b, *o = NULL, *k = NULL, *k2 = NULL;
    int32_t good[2] = {1, 2}, bad[2] = {1, 100000};
    const int32_t *tk[2];
    size_t n[2] = {2, 2};
    float *lg[2];
    float *buf = (float *)malloc(2 * (size_t)c->V * sizeof(float));
    rwkvx_state *pair[2];
    memset(&opt, 0, sizeof opt);
    opt.chunk_size = c->chunk + 1;
    rwkvx_state_create(&a, m), rwkvx_state_create(&b, m);
    rwkvx_eval(a, good, 2, NULL, 0);
    lg[0] = buf, lg[1] = buf + c->V;
    tk[0] = good, tk[1] = good;
    pair[0] = a, pair[1] = a;
    CHECK(rwkvx_eval_batch(pair, tk, n, 2, lg, 0) == RWKVX_ERR_ARGUMENT, "%s: %s", where, "a state listed twice refused");
    pair[1] = b, tk[1] = bad;
    CHECK(rwkvx_eval_batch(pair, tk, n, 2, lg, 0) == RWKVX_ERR_ARGUMENT, "%s: %s", where, "a bad token refused");
    tk[1] = good, n[1] = 0;
    CHECK(rwkvx_eval_batch(pair, tk, n, 2, lg, 0) == RWKVX_ERR_ARGUMENT, "%s: %s", where, "an empty run refused");
    n[1] = 2;
    CHECK(rwkvx_eval_batch(NULL, tk, n, 2, lg, 0) == RWKVX_ERR_ARGUMENT && rwkvx_eval_batch(pair, NULL, n, 2, lg, 0) == RWKVX_ERR_ARGUMENT &&
              rwkvx_eval_batch(pair, tk, NULL, 2, lg, 0) == RWKVX_ERR_ARGUMENT && rwkvx_eval_batch(pair, tk, n, 0, lg, 0) == RWKVX_ERR_ARGUMENT, "%s: %s", where, "NULL arrays and n = 0 refused");
    if (rwkvx_load_file(&other, path, &opt, NULL) == RWKVX_OK && rwkvx_state_create(&o, other) == RWKVX_OK) {
        pair[1] = o;
        CHECK(rwkvx_eval_batch(pair, tk, n, 2, lg, 0) == RWKVX_ERR_MISMATCH, "%s: %s", where, "a state of the same file with another chunk size refused");
    } else {
        CHECK(0, "%s: %s", where, "second load");
    }
    memset(&opt, 0, sizeof opt);
    opt.max_context = 3;
    if (rwkvx_load_file(&capped, path, &opt, NULL) == RWKVX_OK && rwkvx_state_create(&k, capped) == RWKVX_OK &&
        rwkvx_state_create(&k2, capped) == RWKVX_OK) {
        rwkvx_eval(k2, good, 2, NULL, 0);
        pair[0] = k, pair[1] = k2;
        CHECK(rwkvx_eval_batch(pair, tk, n, 2, lg, 0) == RWKVX_ERR_CONTEXT, "%s: %s", where, "a run past max_context refused");
        CHECK(rwkvx_state_position(k) == 0 && rwkvx_state_position(k2) == 2, "%s: %s", where, "a refused batch changes no state");
    } else {
        CHECK(0, "%s: %s", where, "load with max_context");
    }
    CHECK(rwkvx_state_position(a) == 2 && rwkvx_state_position(b) == 0, "%s: %s", where, "refused batches change no state");
    pair[0] = a, pair[1] = b, tk[0] = good, tk[1] = good;
    CHECK(rwkvx_eval_batch(pair, tk, n, 2, lg, 0) == RWKVX_OK && rwkvx_state_position(a) == 4 && rwkvx_state_position(b) == 2, "%s: %s", where, "a good batch after refusals");
    rwkvx_state_free(a), rwkvx_state_free(b), rwkvx_state_free(o), rwkvx_state_free(k), rwkvx_state_free(k2);
    rwkvx_model_free(other), rwkvx_model_free(capped);
    free(buf);
}

/* Every product size the few-token kernel takes, and a little past it into
   the panels: n tokens evaluated at once (every position's logits) equal the
   same n tokens one at a time, bit for bit, for n = 2 .. RWKVX__FEW + 2. */
static void check_every_size(rwkvx_model *m, const test_case *c, const char *where) {
    int V = rwkvx_n_vocab(m), n, t, ok = 1, last = RWKVX__FEW + 2 < c->T ? RWKVX__FEW + 2 : c->T;
    float *whole = (float *)malloc((size_t)last * (size_t)V * sizeof(float)), *one = (float *)malloc((size_t)V * sizeof(float));
    for (n = 2; n <= last && whole && one && ok; n++) {
        rwkvx_state *a = NULL, *b = NULL;
        ok = rwkvx_state_create(&a, m) == RWKVX_OK && rwkvx_state_create(&b, m) == RWKVX_OK &&
             rwkvx_eval(a, c->tokens, (size_t)n, whole, RWKVX_EVAL_ALL_LOGITS) == RWKVX_OK;
        for (t = 0; t < n && ok; t++)
            ok = rwkvx_eval(b, c->tokens + t, 1, one, 0) == RWKVX_OK && !memcmp(one, whole + (size_t)t * V, (size_t)V * sizeof(float));
        rwkvx_state_free(a), rwkvx_state_free(b);
    }
    CHECK(whole && one && ok, "%s: %s", where, "n tokens at once == one at a time, n = 2 .. RWKVX__FEW + 2");
    free(whole), free(one);
}

/* Seconds a pass takes on `threads` of 4 cores: idle, more threads are
   faster; loaded, each thread more waits longer for the others. */
static double simulated_pass(int threads, int loaded) {
    static const double idle[5] = {0, 0.040, 0.022, 0, 0.012}, busy[5] = {0, 0.040, 0.080, 0, 0.160};
    return loaded ? busy[threads] : idle[threads];
}

/* Runs `passes` simulated passes; returns the seconds they took, counts the
   passes not on `best` threads and, in *settled, the pass after which every
   pass but tries ran on `best` (-1: never). */
static double tuner_run(rwkvx_state *st, int passes, int loaded, int best, int *off_best, int *settled) {
    double total = 0;
    int i, nt;
    *off_best = 0, *settled = -1;
    for (i = 0; i < passes; i++) {
        double sec;
        nt = rwkvx__tuned_threads(st, 1);
        sec = simulated_pass(nt, loaded);
        total += sec;
        rwkvx__tune_learn(st, 1, nt, sec);
        if (nt != best) (*off_best)++;
        if (st->tuner.threads != best) *settled = -1;
        else if (*settled < 0) *settled = i;
    }
    return total;
}

static void check_tuner(rwkvx_model *m) {
    rwkvx_state *st = NULL;
    int off, settled;
    double t;
    if (rwkvx_state_create(&st, m) != RWKVX_OK) {
        CHECK(0, "%s: %s", "", "tuner: state");
        return;
    }
    st->max_threads = 4; /* the climb: 4, 2, 1 */
    rwkvx_state_set_threads(st, 0);
    t = tuner_run(st, 2000, 0, 4, &off, &settled);
    printf("  tuner, idle 4 cores: %d of 2000 passes off 4 threads, %.3f of the best time\n", off, t / (2000 * 0.012));
    CHECK(settled == 0 && off <= 10 && t <= 1.02 * 2000 * 0.012, "%s: %s", "", "tuner: an idle machine keeps every core, trying little");
    t = tuner_run(st, 2000, 1, 1, &off, &settled);
    printf("  tuner, loaded: on 1 thread after %d passes, %d of 2000 off it, %.3f of the best time\n", settled, off, t / (2000 * 0.040));
    CHECK(settled >= 0 && settled <= 20 && t <= 1.1 * 2000 * 0.040, "%s: %s", "", "tuner: a loaded machine goes to one thread");
    t = tuner_run(st, 4000, 0, 4, &off, &settled);
    printf("  tuner, idle again: on 4 threads after %d passes (%.1f s)\n", settled, settled * 0.04);
    CHECK(settled >= 0 && settled * 0.040 <= 2.5 * RWKVX__TUNE_WAIT_MAX, "%s: %s", "", "tuner: back on every core when the load goes");
    rwkvx_state_free(st);
}

static int tuner_checked;

static void run_case(const test_case *c, const char *fixtures, const char *ggufs, const char *type) {
    char path[1024], where[600], gold_path[1024];
    rwkvx_model *m = NULL;
    rwkvx_info info;
    rwkvx_options opt;
    streams s;
    float *gold;
    model_path(path, sizeof path, ggufs, c->model, type);
    snprintf(where, sizeof where, "%s %s T=%d", c->model, type, c->T);
    memset(&opt, 0, sizeof opt);
    opt.chunk_size = c->chunk, opt.chunk_topk = c->topk;
    if (rwkvx_load_file(&m, path, &opt, NULL) != RWKVX_OK) {
        CHECK(0, "%s: %s", where, "load");
        return;
    }
    rwkvx_model_info(m, &info);
    snprintf(gold_path, sizeof gold_path, "%s/%s", fixtures, c->logits);
    {
        FILE *f = fopen(gold_path, "rb");
        size_t n = (size_t)c->T * (size_t)c->V;
        gold = (float *)malloc(n * sizeof(float));
        CHECK(f && gold && fread(gold, sizeof(float), n, f) == n, "%s: %s", where, "golden logits read");
        if (f) fclose(f);
    }
    if (streams_alone(&s, m, c)) {
        double d = max_diff(s.alone[0], gold, (size_t)c->T * (size_t)c->V);
        CHECK(d <= (strcmp(type, "q8_0") ? 1e-3 : 3.0), "%s: %s", where, "stream 0 against the golden logits");
        CHECK(batch_matches(&s, m, where), "%s: %s", where, "batches == rwkvx_eval alone (logits and states, bit for bit)");
    } else {
        CHECK(0, "%s: %s", where, "reference evaluation");
    }
    streams_free(&s);
    free(gold);
    check_every_size(m, c, where);
    if (!tuner_checked++) check_tuner(m);
    check_refusals(m, path, c, where);
    rwkvx_model_free(m);
    if (info.n_sparse > 0) { /* the K/V limit: evictions inside batches */
        char w2[700];
        opt.kv_max = 40, opt.kv_keep = 30, opt.kv_window = 8;
        snprintf(w2, sizeof w2, "%s, K/V limit 40,30,8", where);
        if (rwkvx_load_file(&m, path, &opt, NULL) != RWKVX_OK) {
            CHECK(0, "%s: %s", w2, "load with a K/V limit");
            return;
        }
        if (streams_alone(&s, m, c)) CHECK(batch_matches(&s, m, w2), "%s: %s", w2, "batches == rwkvx_eval alone with evictions");
        else CHECK(0, "%s: %s", w2, "reference evaluation");
        streams_free(&s);
        rwkvx_model_free(m);
    }
}

static int batch_main(int argc, char **argv) {
    FILE *f;
    static test_case c;
    int i;
    if (argc < 5) {
        fprintf(stderr, "usage: test_internals batch CASES.txt FIXTURE_DIR GGUF_DIR TYPE...\n");
        return 2;
    }
    for (i = 4; i < argc; i++) {
        if (!(f = fopen(argv[1], "r"))) {
            fprintf(stderr, "test_internals batch: cannot open %s\n", argv[1]);
            return 2;
        }
        while (read_case(f, &c)) run_case(&c, argv[2], argv[3], argv[i]);
        fclose(f);
    }
    return check_report("test_internals batch");
}
