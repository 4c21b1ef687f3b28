/* rwkvx-passkey: the passkey retrieval test of the RWKV-X paper (docs/MODEL.md 3.1).

   rwkvx-passkey MODEL.gguf [--lengths 2k,4k,8k] [--depths 10] [--seeds 5]
                 [--csv FILE] [--svg FILE] [--title TEXT] [--threads N]
                 [--chunk-size B] [--chunk-topk K] [--require P[,P...]] [--quiet]
                 [--no-share] [--kv-limit MAX[,KEEP[,WINDOW]]] [--from-csv FILE]

   The prompt, parts joined by newlines:
       There is an important info hidden inside a lot of irrelevant text. Find
         it and memorize them. I will quiz you about the important information there.
       FILLER[:n1]
       The pass key is N. Remember it. N is the pass key.
       FILLER[:n2]
       What is the pass key? The pass key is
   FILLER is "The grass is green. The sky is blue. The sun is yellow. Here we
   go. There and back again." repeated, joined by spaces and cut by
   characters; like the reference generator, the text after the pass key line
   starts again from the beginning of the filler. For a context length L (in
   tokens of the model's own tokenizer, k = 1024) n1 + n2 is the largest
   filler size whose prompt has at most L tokens, and n1 = round(depth *
   (n1 + n2)) with depth i / (depths - 1) for i = 0 .. depths-1 (0% .. 100%).
   Seed s uses the pass key 2733, 33004, 23721, 5995, 17531 for s = 0 .. 4
   (the reference's keys), and 1 + splitmix64(s) % 50000 for s >= 5.
   The model then decodes greedily as many tokens as " N" has (the text that
   follows "The pass key is" in the prompt); the answer is correct when the
   decoded text without surrounding white space is N. A wrong answer is one
   of: wrong digits (a number as long as N, some digits differ), wrong length
   (a number of another length, or N followed by other text), no key (no
   digit first).

   Work shared between prompts: per length, one trunk state reads the task
   line and the filler once, up to each depth in turn; each depth forks it
   (rwkvx_state_copy), reads what all seeds' prompts share, and forks again
   per seed. Every prompt's logits are those of a fresh state reading the
   whole prompt (rwkvx_eval gives the same numbers for any split). With
   --threads N > 1 the prompts of a group of depths run side by side, one
   thread each (the answers do not depend on it).

   Prints a table (depth down, length across, accuracy in %, each depth's
   accuracy over all lengths), each length's errors by kind and the overall
   accuracy; --csv writes one row per prompt (answer, kind, digits wrong),
   --svg a heatmap. --from-csv FILE takes the answers from --csv files of
   earlier runs (several runs concatenated, such as one per length) instead
   of evaluating, and reports the grid of the options. --require P exits
   with status 2 when some length's accuracy is below P percent (one P for
   all lengths, or one per length in the order of --lengths).
   --no-share reads every prompt from a fresh state (slow; a check of the
   sharing). The progress bar is shown when stderr is a terminal (--quiet
   hides it). Errors: one line on stderr, status 1. */
#include "cli.h" /* first: it sets _POSIX_C_SOURCE */
#include "../rwkvx.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LENGTHS 32
#define MAX_DEPTHS 101
#define MAX_SEEDS 1000

static const char TASK[] = "There is an important info hidden inside a lot of irrelevant text. "
                           "Find it and memorize them. I will quiz you about the important information there.";
static const char FILLER[] = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ";
static const char QUESTION[] = "What is the pass key? The pass key is";
static const int REFERENCE_KEYS[5] = {2733, 33004, 23721, 5995, 17531};

#define die cli_die

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

static int passkey_of_seed(int seed) {
    uint64_t z;
    if (seed < 5) return REFERENCE_KEYS[seed];
    z = (uint64_t)seed + 0x9e3779b97f4a7c15ull; /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return 1 + (int)(z % 50000);
}

/* ---- options ---------------------------------------------------------- */

/* "2k,4k,8000" -> lengths (k = 1024, m = 1048576) */
static int parse_lengths(const char *s, long *out, int max) {
    char buf[32];
    int n = 0;
    for (;;) {
        size_t len = strcspn(s, ",");
        if (n == max || len >= sizeof buf) return -1;
        memcpy(buf, s, len);
        buf[len] = 0;
        if (!cli_parse_count(buf, 1, 1L << 26, &out[n++])) return -1;
        if (!s[len]) return n;
        s += len + 1;
    }
}

/* --require P[,P...]: percentages from 0 to 100; returns how many */
static int parse_require(const char *val, double *require) {
    char buf[32];
    const char *p = val;
    int n = 0;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (n == MAX_LENGTHS) die("bad --require '%s' (too many values)", val);
        snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf - 1 ? len : sizeof buf - 1), p);
        if (len >= sizeof buf || !cli_parse_double(buf, 0, 100, &require[n]))
            die("bad --require '%s' (percentages 0 to 100, separated by commas)", val);
        n++;
        if (!p[len]) return n;
        p += len + 1;
    }
}

static void length_label(long L, char *buf, size_t size) {
    if (L % 1048576 == 0) snprintf(buf, size, "%ldm", L / 1048576);
    else if (L % 1024 == 0) snprintf(buf, size, "%ldk", L / 1024);
    else snprintf(buf, size, "%ld", L);
}

/* ---- prompts ---------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t len, cap;
} text;

static void text_add(text *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n + 1) cap *= 2;
        t->buf = (char *)realloc(t->buf, cap);
        if (!t->buf) die("out of memory");
        t->cap = cap;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
}

static void text_filler(text *t, size_t n) {
    size_t period = sizeof FILLER - 1;
    while (n > 0) {
        size_t take = n < period ? n : period;
        text_add(t, FILLER, take);
        n -= take;
    }
}

/* The prompt with `garbage` filler characters and the key line at `depth`. */
static void build_prompt(text *t, size_t garbage, double depth, int key) {
    char info[128];
    size_t n1 = (size_t)floor(depth * (double)garbage + 0.5);
    if (n1 > garbage) n1 = garbage;
    snprintf(info, sizeof info, "The pass key is %d. Remember it. %d is the pass key.", key, key);
    t->len = 0;
    text_add(t, TASK, strlen(TASK));
    text_add(t, "\n", 1);
    text_filler(t, n1);
    text_add(t, "\n", 1);
    text_add(t, info, strlen(info));
    text_add(t, "\n", 1);
    text_filler(t, garbage - n1);
    text_add(t, "\n", 1);
    text_add(t, QUESTION, strlen(QUESTION));
}

typedef struct {
    int32_t *ids;
    size_t len, cap;
} tokens;

static void tokenize(const rwkvx_tokenizer *tok, const char *s, size_t n, tokens *out) {
    size_t need;
    rwkvx_status st;
    if (out->cap < n + 1) {
        free(out->ids);
        out->cap = n + 1;
        out->ids = (int32_t *)xmalloc(out->cap * sizeof(int32_t));
    }
    st = rwkvx_tokenize(tok, s, n, out->ids, out->cap, &need);
    if (st != RWKVX_OK) die("cannot tokenize the prompt: %s", rwkvx_status_string(st));
    out->len = need;
}

/* Tokens of the prompt for length L: the largest filler whose prompt has at
   most L tokens (found by doubling then bisection; exact for byte-level
   models, where it is L - the fixed parts). Returns 0 when even no filler
   is too long. */
static int prompt_for_length(const rwkvx_tokenizer *tok, long L, double depth, int key, text *t, tokens *out) {
    size_t lo = 0, hi = (size_t)L, mid;
    build_prompt(t, 0, depth, key);
    tokenize(tok, t->buf, t->len, out);
    if ((long)out->len > L) return 0;
    for (;;) { /* find hi with more than L tokens */
        build_prompt(t, hi, depth, key);
        tokenize(tok, t->buf, t->len, out);
        if ((long)out->len > L) break;
        lo = hi;
        hi *= 2;
    }
    while (hi - lo > 1) { /* invariant: lo fits, hi does not */
        mid = lo + (hi - lo) / 2;
        build_prompt(t, mid, depth, key);
        tokenize(tok, t->buf, t->len, out);
        if ((long)out->len <= L) lo = mid;
        else hi = mid;
    }
    build_prompt(t, lo, depth, key);
    tokenize(tok, t->buf, t->len, out);
    return 1;
}

/* ---- progress and states --------------------------------------------- */

typedef struct {
    int threads;
    int quiet;
    double t_start;
    long done_tokens, total_prompts, done_prompts;
} progress;

static void progress_show(const progress *p, const char *label) {
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    int i, fill;
    double el;
    if (p->quiet) return;
    fill = p->total_prompts ? (int)(WIDTH * p->done_prompts / p->total_prompts) : 0;
    for (i = 0; i < WIDTH; i++) bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = 0;
    el = cli_now() - p->t_start;
    fprintf(stderr, "\r[%s] %ld/%ld prompts  length %-6s %6.0f tokens/s ", bar, p->done_prompts, p->total_prompts,
            label, el > 0 ? (double)p->done_tokens / el : 0.0);
    fflush(stderr);
}

/* Counts work done (from any thread) and redraws the bar. */
static void progress_add(progress *p, long n_tokens, long n_prompts, const char *label) {
#ifdef _OPENMP
#pragma omp critical(passkey_progress)
#endif
    {
        p->done_tokens += n_tokens;
        p->done_prompts += n_prompts;
        progress_show(p, label);
    }
}

static void eval_or_die(rwkvx_state *s, const int32_t *ids, size_t n, float *logits) {
    rwkvx_status st;
    if (n == 0) return;
    st = rwkvx_eval(s, ids, n, logits, 0);
    if (st != RWKVX_OK) die("evaluation failed: %s", rwkvx_status_string(st));
}

static rwkvx_state *fork_or_die(const rwkvx_state *s, int threads) {
    rwkvx_state *c;
    if (rwkvx_state_copy(s, &c) != RWKVX_OK) die("out of memory (state copy)");
    rwkvx_state_set_threads(c, threads);
    return c;
}

static int32_t argmax(const float *x, int n) {
    int i, best = 0;
    for (i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static size_t common_prefix(const tokens *a, const tokens *b) {
    size_t i = 0, n = a->len < b->len ? a->len : b->len;
    while (i < n && a->ids[i] == b->ids[i]) i++;
    return i;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* How an answer compares with the key, on the decoded text without
   surrounding white space: the key itself; a number of the key's length
   with some digits wrong; a number of another length or the key with other
   text after it; or text that does not start with a digit. */
typedef enum { ANSWER_RIGHT, ANSWER_WRONG_DIGITS, ANSWER_WRONG_LENGTH, ANSWER_NO_KEY, ANSWER_KINDS } answer_kind;

static const char *const ANSWER_KIND_NAME[ANSWER_KINDS] = {"none", "wrong-digits", "wrong-length", "no-key"};

static answer_kind classify_answer(const char *s, size_t n, int key, int *wrong_digits) {
    char want[16];
    size_t a = 0, b = n, digits = 0, i, len;
    while (a < b && is_space(s[a])) a++;
    while (b > a && is_space(s[b - 1])) b--;
    while (a + digits < b && s[a + digits] >= '0' && s[a + digits] <= '9') digits++;
    snprintf(want, sizeof want, "%d", key);
    len = strlen(want);
    *wrong_digits = 0;
    if (digits == 0) return ANSWER_NO_KEY;
    if (digits != len || b - a != len) return ANSWER_WRONG_LENGTH;
    for (i = 0; i < len; i++) *wrong_digits += s[a + i] != want[i];
    return *wrong_digits ? ANSWER_WRONG_DIGITS : ANSWER_RIGHT;
}

typedef struct {
    long length;
    int depth, seed, key, correct, wrong_digits;
    answer_kind kind;
    size_t n_tokens;
    char answer[64];
} result;

/* ---- evaluation ------------------------------------------------------- */

/* Answers one prompt from state `st`, which has read its first `from`
   tokens (then frees it): reads the rest, decodes greedily `n_answer`
   tokens and classifies the text. Returns the tokens evaluated. */
static long answer_prompt(rwkvx_state *st, const rwkvx_tokenizer *tok, int n_vocab, const tokens *p, size_t from,
                          int key, int n_answer, result *r) {
    float *logits = (float *)xmalloc((size_t)n_vocab * sizeof(float));
    char out[64];
    size_t out_len = 0;
    long n_eval = (long)(p->len - from);
    int k;
    eval_or_die(st, p->ids + from, p->len - from, logits);
    for (k = 0; k < n_answer; k++) {
        int32_t id = argmax(logits, n_vocab);
        const char *bytes;
        size_t n = 0;
        if (rwkvx_tokenizer_token(tok, id, &bytes, &n) != RWKVX_TOKEN_TEXT) n = 0;
        if (out_len + n < sizeof out) memcpy(out + out_len, bytes, n), out_len += n;
        if (k + 1 < n_answer) eval_or_die(st, &id, 1, logits), n_eval++;
    }
    out[out_len] = 0;
    r->key = key, r->n_tokens = p->len;
    r->kind = classify_answer(out, out_len, key, &r->wrong_digits);
    r->correct = r->kind == ANSWER_RIGHT;
    snprintf(r->answer, sizeof r->answer, "%s", out);
    free(logits);
    rwkvx_state_free(st);
    return n_eval;
}

static int available_threads(int threads) {
#ifdef _OPENMP
    return threads > 0 ? threads : omp_get_max_threads();
#else
    (void)threads;
    return 1;
#endif
}

/* Every prompt of length L: out[d * n_seed + s] for depth d and seed s.

   Work shared between prompts: one trunk state reads the task line and the
   filler once, up to each depth in turn; each depth forks it and reads what
   all seeds' prompts share; each prompt forks that. The prompts are
   independent, so with several threads they run side by side, one thread
   each, over a group of depths at a time (enough prompts to keep the
   threads busy; a bounded number of depth states held at once). */
static void evaluate_length(const rwkvx_model *model, long L, int n_depth, const double *depth_value, int n_seed,
                            int threads, int no_share, progress *prog, result *out) {
    const rwkvx_tokenizer *tok = rwkvx_model_tokenizer(model);
    rwkvx_info info;
    int jobs = available_threads(threads), group, d0, d, s, n_answer[MAX_SEEDS];
    size_t trunk_len = 0, *shared_len = (size_t *)xmalloc((size_t)n_depth * sizeof(size_t));
    tokens *all = (tokens *)calloc((size_t)n_depth * n_seed, sizeof(tokens)), answer_toks = {NULL, 0, 0};
    rwkvx_state *trunk, *at_depth[MAX_DEPTHS];
    text t = {NULL, 0, 0};
    char label[32];
    if (!all) die("out of memory");
    rwkvx_model_info(model, &info);
    length_label(L, label, sizeof label);
    for (s = 0; s < n_seed; s++) { /* the tokens of " N" set how many the model decodes */
        char want[32];
        snprintf(want, sizeof want, " %d", passkey_of_seed(s));
        tokenize(tok, want, strlen(want), &answer_toks);
        n_answer[s] = (int)answer_toks.len;
    }
    /* every prompt of this length, and what each depth's prompts share */
    for (d = 0; d < n_depth; d++) {
        for (s = 0; s < n_seed; s++) {
            tokens *p = &all[d * n_seed + s];
            if (!prompt_for_length(tok, L, depth_value[d], passkey_of_seed(s), &t, p))
                die("length %ld is too short: the prompt without filler has %lu tokens", L, (unsigned long)p->len);
        }
        /* shared by all seeds, leaving each at least its last token (that gives the logits) */
        shared_len[d] = all[d * n_seed].len - 1;
        for (s = 1; s < n_seed; s++) {
            size_t c = common_prefix(&all[d * n_seed], &all[d * n_seed + s]);
            if (c > all[d * n_seed + s].len - 1) c = all[d * n_seed + s].len - 1;
            if (c < shared_len[d]) shared_len[d] = c;
        }
    }
    group = (4 * jobs + n_seed - 1) / n_seed;
    if (group > n_depth) group = n_depth;
    if (rwkvx_state_new(model, &trunk) != RWKVX_OK) die("out of memory (state)");
    rwkvx_state_set_threads(trunk, threads);
    for (d0 = 0; d0 < n_depth; d0 += group) {
        int n_group = d0 + group <= n_depth ? group : n_depth - d0, item;
        for (d = d0; d < d0 + n_group; d++) {
            const tokens *first = &all[d * n_seed];
            /* The trunk reads as far as this depth's prompts and the next
               depth's agree, so what it holds is always a prefix of the
               current prompts; it restarts only if that point moves back
               (a tokenizer merging across the cut). */
            size_t keep = shared_len[d];
            if (d + 1 < n_depth) {
                size_t c = common_prefix(first, &all[(d + 1) * n_seed]);
                if (c < keep) keep = c;
            }
            if (no_share) keep = 0;
            if (keep < trunk_len) {
                rwkvx_state_reset(trunk);
                trunk_len = 0;
            }
            eval_or_die(trunk, first->ids + trunk_len, keep - trunk_len, NULL);
            progress_add(prog, (long)(keep - trunk_len), 0, label);
            trunk_len = keep;
            at_depth[d - d0] = fork_or_die(trunk, threads);
            eval_or_die(at_depth[d - d0], first->ids + keep, shared_len[d] - keep, NULL);
            progress_add(prog, (long)(shared_len[d] - keep), 0, label);
        }
#ifdef _OPENMP
#pragma omp parallel for num_threads(jobs) schedule(dynamic, 1) if (jobs > 1)
#endif
        for (item = 0; item < n_group * n_seed; item++) {
            int dd = d0 + item / n_seed, ss = item % n_seed;
            rwkvx_state *st = fork_or_die(at_depth[dd - d0], jobs > 1 ? 1 : threads);
            size_t from = shared_len[dd];
            result *r = &out[dd * n_seed + ss];
            long n_eval;
            if (no_share) { /* a fresh state reads the whole prompt */
                rwkvx_state_reset(st);
                from = 0;
            }
            r->length = L, r->depth = dd, r->seed = ss;
            n_eval = answer_prompt(st, tok, info.n_vocab, &all[dd * n_seed + ss], from, passkey_of_seed(ss),
                                   n_answer[ss], r);
            progress_add(prog, n_eval, 1, label);
        }
        for (d = 0; d < n_group; d++) rwkvx_state_free(at_depth[d]);
    }
    rwkvx_state_free(trunk);
    for (d = 0; d < n_depth * n_seed; d++) free(all[d].ids);
    free(all);
    free(shared_len);
    free(t.buf);
    free(answer_toks.ids);
}

/* ---- reporting -------------------------------------------------------- */

/* acc[depth * n_len + length] and len_acc[length] (fractions), the number right */
static void summarize(const result *res, int n_len, int n_depth, int n_seed, double *acc, double *len_acc,
                      long *correct) {
    int j, d, s;
    *correct = 0;
    for (j = 0; j < n_len; j++) {
        len_acc[j] = 0;
        for (d = 0; d < n_depth; d++) {
            int right = 0;
            for (s = 0; s < n_seed; s++) right += res[((size_t)j * n_depth + d) * n_seed + s].correct;
            acc[d * n_len + j] = (double)right / n_seed;
            len_acc[j] += right;
            *correct += right;
        }
        len_acc[j] /= (double)n_depth * n_seed;
    }
}

/* Depth down, length across, accuracy in %; the last column is each
   depth's accuracy over all lengths, the last row each length's. */
static void print_table(const long *lengths, int n_len, int n_depth, const double *depth_value, const double *acc,
                        const double *len_acc) {
    char label[32];
    int j, d;
    printf("%8s", "depth");
    for (j = 0; j < n_len; j++) {
        length_label(lengths[j], label, sizeof label);
        printf(" %6s", label);
    }
    printf(" %8s\n", "depth-all");
    for (d = 0; d < n_depth; d++) {
        double sum = 0;
        printf("%7.0f%%", 100 * depth_value[d]);
        for (j = 0; j < n_len; j++) printf(" %6.0f", 100 * acc[d * n_len + j]), sum += acc[d * n_len + j];
        printf(" %8.1f\n", 100 * sum / n_len);
    }
    printf("%8s", "all");
    for (j = 0; j < n_len; j++) printf(" %6.1f", 100 * len_acc[j]);
    printf("\n");
}

/* The wrong answers of each length by kind (counts of prompts). */
static void print_errors(const result *res, const long *lengths, int n_len, int per_length) {
    static const char *const row_name[4] = {"1 wrong digit", "2+ wrong digits", "wrong length", "no key"};
    long count[4][MAX_LENGTHS], total[4] = {0, 0, 0, 0};
    char label[32];
    int j, i, k;
    memset(count, 0, sizeof count);
    for (j = 0; j < n_len; j++)
        for (i = 0; i < per_length; i++) {
            const result *r = &res[(size_t)j * per_length + i];
            k = r->kind == ANSWER_WRONG_DIGITS ? (r->wrong_digits == 1 ? 0 : 1)
                : r->kind == ANSWER_WRONG_LENGTH ? 2 : r->kind == ANSWER_NO_KEY ? 3 : -1;
            if (k >= 0) count[k][j]++, total[k]++;
        }
    printf("errors: %-16s", "(prompts)");
    for (j = 0; j < n_len; j++) {
        length_label(lengths[j], label, sizeof label);
        printf(" %6s", label);
    }
    printf(" %6s\n", "total");
    for (k = 0; k < 4; k++) {
        printf("  %-22s", row_name[k]);
        for (j = 0; j < n_len; j++) printf(" %6ld", count[k][j]);
        printf(" %6ld\n", total[k]);
    }
}

/* ---- answers from earlier runs ---------------------------------------- */

/* One CSV field at *p (quoted with "" inside, or plain up to a comma) into
   buf; moves *p past it and its comma. Returns 0 at the end of the line. */
static int csv_next(const char **p, char *buf, size_t size) {
    const char *s = *p;
    size_t n = 0;
    if (!*s || *s == '\n' || *s == '\r') return 0;
    if (*s == '"') {
        for (s++; *s && !(*s == '"' && s[1] != '"'); s++) {
            if (*s == '"') s++;
            if (n + 1 < size) buf[n++] = *s;
        }
        if (*s == '"') s++;
    } else {
        for (; *s && *s != ',' && *s != '\n' && *s != '\r'; s++)
            if (n + 1 < size) buf[n++] = *s;
    }
    buf[n] = 0;
    if (*s == ',') s++;
    *p = s;
    return 1;
}

/* Whether two paths name one existing file (an output must not overwrite an input). */
/* Fills results from CSV files written by --csv (one or several runs, such
   as one per length, concatenated): every prompt of the grid must be there
   with the grid's key; rows of other prompts are skipped. */
static void load_answers(const char *path, const long *lengths, int n_len, int n_depth, const double *depth_value,
                         int n_seed, result *results) {
    FILE *f = fopen(path, "r");
    char line[512], field[9][64]; /* an answer field fits result.answer */
    long n_line = 0, missing = 0, cell;
    unsigned char *seen = (unsigned char *)calloc((size_t)n_len * n_depth * n_seed, 1);
    if (!f) die("cannot read '%s': %s", path, strerror(errno));
    if (!seen) die("out of memory");
    while (fgets(line, sizeof line, f)) {
        const char *q = line;
        int n_field = 0, j, d, seed;
        long L;
        double depth;
        result *r;
        n_line++;
        if (!strncmp(line, "length,", 7)) continue; /* a header */
        while (n_field < 9 && csv_next(&q, field[n_field], sizeof field[0])) n_field++;
        if (n_field < 7) die("%s:%ld: not a row of rwkvx-passkey --csv", path, n_line);
        L = atol(field[0]), depth = atof(field[1]), seed = atoi(field[2]);
        for (j = 0; j < n_len && lengths[j] != L; j++) {}
        for (d = 0; d < n_depth && fabs(depth_value[d] - depth) > 5e-5; d++) {}
        if (j == n_len || d == n_depth || seed < 0 || seed >= n_seed) continue;
        if (atoi(field[3]) != passkey_of_seed(seed)) die("%s:%ld: seed %d has another key", path, n_line, seed);
        cell = ((long)j * n_depth + d) * n_seed + seed;
        r = &results[cell];
        r->length = L, r->depth = d, r->seed = seed, r->key = passkey_of_seed(seed);
        r->n_tokens = (size_t)atol(field[4]);
        snprintf(r->answer, sizeof r->answer, "%s", field[5]);
        r->kind = classify_answer(r->answer, strlen(r->answer), r->key, &r->wrong_digits);
        r->correct = r->kind == ANSWER_RIGHT;
        seen[cell] = 1;
    }
    fclose(f);
    for (cell = 0; cell < (long)n_len * n_depth * n_seed; cell++) missing += !seen[cell];
    if (missing) die("'%s' lacks the answers of %ld of the grid's %ld prompts", path, missing,
                     (long)n_len * n_depth * n_seed);
    free(seen);
}

/* ---- output ----------------------------------------------------------- */

static void csv_field(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else if (*s == '"') fputs("&quot;", f);
        else fputc(*s, f);
    }
}

/* red (0%) - yellow (50%) - green (100%) */
static void heat_colour(double acc, char *buf, size_t size) {
    static const double stops[3][3] = {{215, 48, 39}, {254, 224, 139}, {26, 152, 80}};
    double t = acc < 0 ? 0 : acc > 1 ? 1 : acc, f;
    int i = t < 0.5 ? 0 : 1, c[3], k;
    f = t < 0.5 ? t / 0.5 : (t - 0.5) / 0.5;
    for (k = 0; k < 3; k++) c[k] = (int)(stops[i][k] + f * (stops[i + 1][k] - stops[i][k]) + 0.5);
    snprintf(buf, size, "#%02x%02x%02x", c[0], c[1], c[2]);
}

static void write_svg(FILE *f, const char *title, const long *lengths, int n_len, int n_depth,
                      const double *depth_value, const double *acc /* [depth][len] */, const double *len_acc,
                      double overall) {
    int cw = 64, ch = 30, left = 74, top = 58, i, j, W, H, legend_x;
    char colour[16], label[32];
    W = left + n_len * cw + 90;
    H = top + n_depth * ch + 74;
    if (W < 360) W = 360;
    legend_x = left + n_len * cw + 24;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n", W, H, W, H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
    fprintf(f, "<text x=\"%d\" y=\"22\" font-size=\"14\" font-weight=\"bold\">", 10);
    xml_text(f, title);
    fprintf(f, "</text>\n<text x=\"%d\" y=\"40\" fill=\"#444\">overall accuracy %.1f%%</text>\n", 10, 100 * overall);
    for (i = 0; i < n_depth; i++) {
        int y = top + i * ch;
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.0f%%</text>\n", left - 6, y + ch / 2 + 4,
                100 * depth_value[i]);
        for (j = 0; j < n_len; j++) {
            double a = acc[i * n_len + j];
            heat_colour(a, colour, sizeof colour);
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" stroke=\"white\"/>\n",
                    left + j * cw, y, cw, ch, colour);
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">%.0f</text>\n", left + j * cw + cw / 2,
                    y + ch / 2 + 4, a < 0.2 || a > 0.85 ? "white" : "black", 100 * a);
        }
    }
    for (j = 0; j < n_len; j++) { /* length labels and per-length accuracy */
        length_label(lengths[j], label, sizeof label);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", left + j * cw + cw / 2,
                top + n_depth * ch + 16, label);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#444\">%.0f%%</text>\n",
                left + j * cw + cw / 2, top + n_depth * ch + 32, 100 * len_acc[j]);
    }
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">context length (tokens) / accuracy</text>\n",
            left + n_len * cw / 2, top + n_depth * ch + 54);
    fprintf(f, "<text x=\"14\" y=\"%d\" text-anchor=\"middle\" transform=\"rotate(-90 14 %d)\">pass key depth</text>\n",
            top + n_depth * ch / 2, top + n_depth * ch / 2);
    for (i = 0; i <= 10; i++) { /* colour scale */
        int h = n_depth * ch / 11, y = top + (10 - i) * h;
        heat_colour(i / 10.0, colour, sizeof colour);
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"%d\" fill=\"%s\"/>\n", legend_x, y, h, colour);
        if (i % 5 == 0)
            fprintf(f, "<text x=\"%d\" y=\"%d\" font-size=\"10\">%d%%</text>\n", legend_x + 18, y + h / 2 + 4, 10 * i);
    }
    fprintf(f, "</svg>\n");
}

/* ---- main ------------------------------------------------------------- */

static void usage(FILE *f) {
    fprintf(f, "usage: rwkvx-passkey MODEL.gguf [--lengths 2k,4k,8k] [--depths 10] [--seeds 5]\n"
               "                     [--csv FILE] [--svg FILE] [--title TEXT] [--threads N]\n"
               "                     [--chunk-size B] [--chunk-topk K] [--require P[,P...]] [--quiet]\n"
               "                     [--no-share] [--kv-limit MAX[,KEEP[,WINDOW]]] [--from-csv FILE]\n");
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *csv_path = NULL, *svg_path = NULL, *title = NULL, *from_csv = NULL;
    FILE *csv_file = NULL, *svg_file = NULL;
    cli_output csv_out, svg_out;
    cli_model_options mo;
    long lengths[MAX_LENGTHS];
    int n_len = 3, n_depth = 10, n_seed = 5, threads = 0, i, j, failed_require = 0;
    double require[MAX_LENGTHS], depth_value[MAX_DEPTHS];
    int n_require = 0, no_share = 0;
    rwkvx_options opt;
    rwkvx_model *model;
    rwkvx_info info;
    const rwkvx_tokenizer *tok;
    char err[RWKVX_ERROR_MAX], label[32];
    result *results;
    long n_results, correct_all = 0;
    double acc[MAX_DEPTHS * MAX_LENGTHS], len_acc[MAX_LENGTHS], elapsed;
    progress prog;

    cli_start("rwkvx-passkey");
    memset(&opt, 0, sizeof opt);
    memset(&mo, 0, sizeof mo);
    lengths[0] = 2048, lengths[1] = 4096, lengths[2] = 8192;
    memset(&prog, 0, sizeof prog);
    prog.quiet = !isatty(2);
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--version")) { printf("%s %s\n", cli_program, RWKVX_VERSION_STRING); return cli_finish(0); }
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return cli_finish(0);
        }
        if (cli_model_option(argc, argv, &i, &mo)) continue;
        if (!strcmp(a, "--quiet")) prog.quiet = 1;
        else if (!strcmp(a, "--progress")) prog.quiet = 0;
        else if (!strcmp(a, "--no-share")) no_share = 1;
        else if (!strcmp(a, "--lengths")) {
            const char *val = cli_value(argc, argv, &i);
            if ((n_len = parse_lengths(val, lengths, MAX_LENGTHS)) <= 0)
                die("bad --lengths '%s' (comma-separated token counts such as 2k,4k,8000; at most %d)", val, MAX_LENGTHS);
        } else if (!strcmp(a, "--depths")) n_depth = (int)cli_long_option(a, cli_value(argc, argv, &i), 1, MAX_DEPTHS, NULL);
        else if (!strcmp(a, "--seeds")) n_seed = (int)cli_long_option(a, cli_value(argc, argv, &i), 1, MAX_SEEDS, NULL);
        else if (!strcmp(a, "--require")) n_require = parse_require(cli_value(argc, argv, &i), require);
        else if (!strcmp(a, "--csv")) csv_path = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--from-csv")) from_csv = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--svg")) svg_path = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--title")) title = cli_value(argc, argv, &i);
        else if (a[0] != '-' && !model_path) model_path = a;
        else cli_unknown(a);
    }
    if (!model_path) die("no model given (usage: rwkvx-passkey MODEL.gguf [options], see --help)");
    if (n_require > 1 && n_require != n_len)
        die("--require has %d values but --lengths has %d", n_require, n_len);
    for (i = 0; i < n_depth; i++) depth_value[i] = n_depth > 1 ? (double)i / (n_depth - 1) : 0.0;

    threads = mo.threads;
    CLI_SET_RWKVX_OPTIONS(opt, mo);
    /* everything is checked, and the outputs' temporary files made, before
       the run: a failed or interrupted run leaves the previous results */
    if (!cli_check_input(model_path) || (from_csv && !cli_check_input(from_csv))) return 1;
    if (csv_path && svg_path && !strcmp(csv_path, svg_path)) die("--csv and --svg name the same file '%s'", csv_path);
    {
        const char *inputs[3];
        inputs[0] = model_path, inputs[1] = from_csv, inputs[2] = NULL;
        if (csv_path && !(csv_file = cli_output_open(&csv_out, csv_path, inputs))) return 1;
        if (svg_path && !(svg_file = cli_output_open(&svg_out, svg_path, inputs))) return 1;
    }
    if (rwkvx_load_file(&model, model_path, &opt, err) != RWKVX_OK) die("cannot load '%s': %s", model_path, err);
    rwkvx_model_info(model, &info);
    tok = rwkvx_model_tokenizer(model);
    if (!tok) die("'%s' has no vocabulary (convert it with --vocab)", model_path);
    for (j = 0; j < n_len; j++)
        if (info.max_context > 0 && lengths[j] + 16 > info.max_context)
            die("length %ld is beyond the model's context limit %d", lengths[j], info.max_context);

    results = (result *)xmalloc((size_t)n_len * n_depth * n_seed * sizeof(result));
    prog.total_prompts = (long)n_len * n_depth * n_seed;
    prog.t_start = cli_now();
    if (from_csv)
        load_answers(from_csv, lengths, n_len, n_depth, depth_value, n_seed, results);
    else
        for (j = 0; j < n_len; j++)
            evaluate_length(model, lengths[j], n_depth, depth_value, n_seed, threads, no_share, &prog,
                            results + (size_t)j * n_depth * n_seed);
    if (!prog.quiet) fprintf(stderr, "\r%*s\r", 78, "");
    elapsed = cli_now() - prog.t_start;

    printf("%s: %s, %d RWKV-7 + %d sparse blocks, C=%d", cli_program, model_path, info.n_rwkv, info.n_sparse, info.n_embd);
    if (info.n_sparse) printf(", chunk %d, top-k %d", info.chunk_size, info.chunk_topk);
    if (info.n_sparse && info.kv_max) printf(", K/V limit %d/%d/%d", info.kv_max, info.kv_keep, info.kv_window);
    printf("\naccuracy (%%) over %d pass key%s per cell; ", n_seed, n_seed > 1 ? "s" : "");
    if (from_csv) printf("answers from %s\n", from_csv);
    else printf("%.1f s, %.0f tokens/s\n", elapsed, (double)prog.done_tokens / (elapsed + 1e-9));
    summarize(results, n_len, n_depth, n_seed, acc, len_acc, &correct_all);
    print_table(lengths, n_len, n_depth, depth_value, acc, len_acc);
    print_errors(results, lengths, n_len, n_depth * n_seed);
    n_results = (long)n_len * n_depth * n_seed;
    printf("overall accuracy: %.1f%% (%ld/%ld)\n", 100.0 * correct_all / n_results, correct_all, n_results);

    if (csv_file) {
        FILE *f = csv_file;
        long r;
        fprintf(f, "length,depth,seed,passkey,prompt_tokens,answer,correct,error,wrong_digits\n");
        for (r = 0; r < n_results; r++) {
            fprintf(f, "%ld,%.4f,%d,%d,%lu,", results[r].length, depth_value[results[r].depth], results[r].seed,
                    results[r].key, (unsigned long)results[r].n_tokens);
            csv_field(f, results[r].answer);
            fprintf(f, ",%d,%s,%d\n", results[r].correct, ANSWER_KIND_NAME[results[r].kind], results[r].wrong_digits);
        }
        if (!cli_output_commit(&csv_out)) return 1;
    }
    if (svg_path) {
        char def[512];
        const char *base = strrchr(model_path, '/');
        snprintf(def, sizeof def, "%s: pass key retrieval", base ? base + 1 : model_path);
        write_svg(svg_file, title ? title : def, lengths, n_len, n_depth, depth_value, acc, len_acc,
                  (double)correct_all / n_results);
        if (!cli_output_commit(&svg_out)) return 1;
    }
    for (j = 0; j < n_len && n_require; j++) {
        double want = require[n_require > 1 ? j : 0];
        if (100 * len_acc[j] < want - 1e-9 && !failed_require) {
            length_label(lengths[j], label, sizeof label);
            fprintf(stderr, "%s: accuracy at length %s is %.1f%%, below the required %.1f%%\n", cli_program, label,
                    100 * len_acc[j], want);
            failed_require = 1;
        }
    }
    free(results);
    rwkvx_free(model);
    return cli_finish(failed_require ? 2 : 0);
}
