/* rwkvx-server: an OpenAI-compatible HTTP server for RWKV-X and RWKV-7 World models.

   rwkvx-server -m MODEL.gguf [--host 127.0.0.1] [--port 8080] [--parallel N] [--threads N]
                [--api-key KEY] [--max-context N] [--kv-limit MAX[,KEEP[,WINDOW]]]
                [--chunk-size B] [--chunk-topk K] [--max-tokens N] [--cache-mb N] [--timeout S] [--max-connections N] [--max-body KB]

   Endpoints: POST /v1/chat/completions, POST /v1/completions (both also
   streaming, as server-sent events), GET /v1/models, GET /health.
   docs/SERVER.md is the manual; this comment is the design.

   - HTTP is libmicrohttpd's (Debian's libmicrohttpd-dev): it parses requests,
     bounds the header size (--max-body bounds bodies here), the number of
     connections and their idle time, one thread per connection. Bodies are
     JSON, read by tools/json.h (strict, fuzzed by fuzz/fuzz_json.c).
   - One engine thread owns the model and --parallel slots (a state, a
     sampler, a logits row each). Each step it gathers what every busy slot
     needs next (a decode step, a piece of its prompt, or the last token of a
     finished reply) and runs them all in one rwkvx_eval_batch call:
     continuous batching, each weight read once per step for all of them.
     Requests wait in a queue for a free slot; results are bit for bit those
     of a request served alone (rwkvx_eval_batch guarantees it).
   - The state cache: after a prompt's last-but-one token and after a reply,
     a slot saves its state under the tokens it has read. A request resumes
     from the longest cached strict prefix of its prompt (a chat's second
     turn reads only the new turn). Entries cost their saved bytes; past
     --cache-mb the least recently used go. A hit is an exact token prefix,
     so it changes the time, never the answer.
   - Chat uses the World format of rwkvx-chat: "System: ...\n\n", "User:
     ...\n\nAssistant: ...\n\n", the reply after a final "Assistant:", ending
     at its first blank line. Each message is tokenized on its own (and an
     assistant message as "Assistant:" then " TEXT\n\n", as it was generated),
     so a conversation's earlier turns tokenize the same in every request.
   - A client that goes away is noticed within 100 ms (its socket polled
     while it waits): its generation stops and its slot is freed. */
#define _GNU_SOURCE /* POLLRDHUP */
#include "cli.h"
#include "../rwkvx.h"
#include "json.h"
#include "world_chat.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#define MAX_STOPS 5            /* 4 from the request, the chat's blank line */
#define MAX_STOP_BYTES 256
#define PASS_ROWS 64           /* tokens one step gives all prompts together, at most */

/* ---------------------------------------------------------------------- */
/* Options                                                                */
/* ---------------------------------------------------------------------- */

typedef struct {
    const char *model_path, *host, *api_key;
    long port, parallel, max_tokens, cache_mb, timeout_s, max_connections, max_body_kb;
    long max_context;               /* 0: no limit */
    cli_model_options model;        /* --threads, --max-context, --kv-limit, --chunk-size, --chunk-topk */
} options;

static void usage(void) {
    printf("usage: rwkvx-server -m MODEL.gguf [options]\n"
           "  -m MODEL.gguf          a model converted with a vocabulary (rwkvx-convert --vocab)\n"
           "  --host ADDR            address to listen on (default 127.0.0.1; 0.0.0.0: every interface)\n"
           "  --port N               TCP port (default 8080; 0: any free one, printed)\n"
           "  --parallel N           requests generated at once, batched (1 to 256, default 4)\n"
           "  --api-key KEY          every request needs \"Authorization: Bearer KEY\" (/health excepted)\n"
           "  --max-tokens N         the most max_tokens a request may ask (default 4096)\n"
           "  --cache-mb N           state cache size in MiB (default 256; 0: off)\n"
           "  --timeout S            idle seconds before a connection is closed (default 30)\n"
           "  --max-connections N    connections at once (default 64)\n"
           "  --max-body KB          largest request body (default 1024)\n"
           CLI_MODEL_USAGE
           "  (the server's default --max-context is 8192 tokens: prompt and reply)\n");
    exit(0);
}

/* Exits with one line on a bad option (cli.h). */
static void parse_options(int argc, char **argv, options *o) {
    int i;
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1", o->port = 8080, o->parallel = 4, o->max_tokens = 4096;
    o->cache_mb = 256, o->timeout_s = 30, o->max_connections = 64, o->max_body_kb = 1024;
    o->model.max_context = 8192;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) usage();
        else if (!strcmp(a, "--version")) printf("rwkvx-server %s\n", RWKVX_VERSION_STRING), exit(cli_finish(0));
        else if (cli_model_option(argc, argv, &i, &o->model)) continue;
        else if (!strcmp(a, "-m")) o->model_path = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--host")) o->host = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--api-key") && !*(o->api_key = cli_value(argc, argv, &i))) cli_die("empty --api-key");
        else if (!strcmp(a, "--api-key")) continue;
        else if (!strcmp(a, "--port")) o->port = cli_long_option(a, cli_value(argc, argv, &i), 0, 65535, "0: any free port");
        else if (!strcmp(a, "--parallel")) o->parallel = cli_long_option(a, cli_value(argc, argv, &i), 1, 256, NULL);
        else if (!strcmp(a, "--max-tokens")) o->max_tokens = cli_long_option(a, cli_value(argc, argv, &i), 1, INT_MAX, NULL);
        else if (!strcmp(a, "--cache-mb")) o->cache_mb = cli_long_option(a, cli_value(argc, argv, &i), 0, 1L << 20, "0: off");
        else if (!strcmp(a, "--timeout")) o->timeout_s = cli_long_option(a, cli_value(argc, argv, &i), 1, 86400, NULL);
        else if (!strcmp(a, "--max-connections")) o->max_connections = cli_long_option(a, cli_value(argc, argv, &i), 1, 10000, NULL);
        else if (!strcmp(a, "--max-body")) o->max_body_kb = cli_long_option(a, cli_value(argc, argv, &i), 1, 1L << 20, NULL);
        else cli_unknown(a);
    }
    if (!o->model_path) cli_die("no model (-m MODEL.gguf; --help lists the options)");
    if (!cli_check_input(o->model_path)) exit(1);
    o->max_context = o->model.max_context;
}

/* ---------------------------------------------------------------------- */
/* Requests being generated (jobs) and the engine                         */
/* ---------------------------------------------------------------------- */

typedef struct job job;
struct job {
    /* the request, fixed once queued */
    int chat, stream, include_usage;
    int32_t *prompt;
    size_t n_prompt;
    long max_tokens;
    rwkvx_sampler_params sampling;
    uint64_t seed;
    char *stop[MAX_STOPS];
    int n_stop;
    char id[48];
    long created;
    /* progress, under srv.lock */
    char *text;                  /* the reply's bytes so far */
    size_t len, cap, ready;      /* ready: bytes final (none held back for a stop string) */
    long n_gen, n_cached;        /* tokens generated; prompt tokens the cache spared */
    int done, failed, cancelled;
    const char *finish;          /* "stop" or "length" */
    int refs;                    /* the connection and the engine */
    job *next;                   /* the queue */
};

enum { SLOT_IDLE, SLOT_PREFILL, SLOT_DECODE, SLOT_CLOSE };

typedef struct {
    job *job;
    int phase;
    rwkvx_state *st;
    rwkvx_sampler *sampler;
    float *logits;
    rwkvx_decoder dec;
    int32_t *seq;                /* the tokens the state has read (its cache key) */
    size_t n_seq, cap_seq, fed;  /* fed: prompt tokens read */
    int32_t next;                /* the token to feed next (decode, close) */
    size_t run;                  /* tokens in this step */
} slot;

typedef struct {
    int32_t *tokens;
    size_t n;
    unsigned char *state;        /* rwkvx_state_save's bytes */
    size_t state_bytes, bytes;   /* bytes: what the entry costs, tokens included */
    uint64_t used;               /* srv.clock when last used */
} cache_entry;

static struct {
    options opt;
    rwkvx_model *model;
    const rwkvx_tokenizer *tok;
    char model_name[256];
    int n_vocab;
    pthread_mutex_t lock;
    pthread_cond_t work, progress;   /* the engine waits on work; connections on progress */
    job *queue, **queue_tail;
    slot *slots;
    int stopping;
    long next_id, jobs_alive, requests;
    cache_entry *cache;
    int n_cache, cap_cache;
    size_t cache_bytes;
    uint64_t clock;
    long cache_hits, cache_misses;
} srv;

static void job_release(job *j) { /* under srv.lock */
    int i;
    if (--j->refs > 0) return;
    for (i = 0; i < j->n_stop; i++) free(j->stop[i]);
    free(j->prompt);
    free(j->text);
    free(j);
    srv.jobs_alive--;
}

/* --- the state cache (engine thread, under srv.lock) --- */

static void cache_drop(int i) {
    srv.cache_bytes -= srv.cache[i].bytes;
    free(srv.cache[i].tokens);
    free(srv.cache[i].state);
    srv.cache[i] = srv.cache[--srv.n_cache];
}

/* The longest entry whose tokens are a strict prefix of tokens[0..n), or -1. */
static int cache_find(const int32_t *tokens, size_t n) {
    int i, best = -1;
    for (i = 0; i < srv.n_cache; i++) {
        const cache_entry *e = &srv.cache[i];
        if (e->n < n && (best < 0 || e->n > srv.cache[best].n) && !memcmp(e->tokens, tokens, e->n * sizeof *tokens)) best = i;
    }
    return best;
}

static void cache_put(const int32_t *tokens, size_t n, const rwkvx_state *st) {
    size_t limit = (size_t)srv.opt.cache_mb << 20, bytes = rwkvx_state_save_bytes(st), cost = bytes + n * sizeof *tokens;
    cache_entry e;
    int i;
    if (cost > limit || n == 0) return;
    for (i = 0; i < srv.n_cache; i++)
        if (srv.cache[i].n == n && !memcmp(srv.cache[i].tokens, tokens, n * sizeof *tokens)) {
            srv.cache[i].used = ++srv.clock;
            return;
        }
    while (srv.n_cache > 0 && srv.cache_bytes + cost > limit) { /* least recently used first */
        int lru = 0;
        for (i = 1; i < srv.n_cache; i++)
            if (srv.cache[i].used < srv.cache[lru].used) lru = i;
        cache_drop(lru);
    }
    if (srv.n_cache == srv.cap_cache) {
        int cap = srv.cap_cache ? srv.cap_cache * 2 : 16;
        cache_entry *p = (cache_entry *)realloc(srv.cache, (size_t)cap * sizeof *p);
        if (!p) return;
        srv.cache = p, srv.cap_cache = cap;
    }
    e.tokens = (int32_t *)malloc(n * sizeof *tokens);
    e.state = (unsigned char *)malloc(bytes);
    if (!e.tokens || !e.state || rwkvx_state_save(st, e.state, bytes) != RWKVX_OK) {
        free(e.tokens), free(e.state);
        return;
    }
    memcpy(e.tokens, tokens, n * sizeof *tokens);
    e.n = n, e.state_bytes = bytes, e.bytes = cost, e.used = ++srv.clock;
    srv.cache[srv.n_cache++] = e;
    srv.cache_bytes += cost;
}

/* --- slots --- */

static int slot_remember(slot *s, const int32_t *tokens, size_t n) {
    if (s->n_seq + n > s->cap_seq) {
        size_t cap = (s->n_seq + n) * 2;
        int32_t *p = (int32_t *)realloc(s->seq, cap * sizeof *p);
        if (!p) return 0;
        s->seq = p, s->cap_seq = cap;
    }
    memcpy(s->seq + s->n_seq, tokens, n * sizeof *tokens);
    s->n_seq += n;
    return 1;
}

static void slot_free_job(slot *s) {
    if (s->job) job_release(s->job);
    s->job = NULL;
    s->phase = SLOT_IDLE;
}

/* A queued job into an idle slot: resumes from the cache when it can. */
static void slot_start(slot *s, job *j) {
    int hit = srv.opt.cache_mb > 0 ? cache_find(j->prompt, j->n_prompt) : -1;
    s->job = j;
    s->n_seq = 0;
    rwkvx_state_reset(s->st);
    if (hit >= 0 && rwkvx_state_load(s->st, srv.cache[hit].state, srv.cache[hit].state_bytes) == RWKVX_OK &&
        slot_remember(s, j->prompt, srv.cache[hit].n)) {
        srv.cache[hit].used = ++srv.clock;
        s->fed = srv.cache[hit].n;
        srv.cache_hits++;
    } else {
        rwkvx_state_reset(s->st);
        s->n_seq = 0, s->fed = 0;
        srv.cache_misses++;
    }
    j->n_cached = (long)s->fed;
    rwkvx_sampler_set_params(s->sampler, &j->sampling);
    rwkvx_sampler_seed(s->sampler, j->seed);
    rwkvx_sampler_reset(s->sampler);
    rwkvx_decoder_init(&s->dec);
    s->phase = SLOT_PREFILL;
}

static void job_append(job *j, const char *bytes, size_t n) {
    if (j->chat && j->len == 0) /* a reply's text starts after the space that follows "Assistant:" */
        while (n > 0 && *bytes == ' ') bytes++, n--;
    if (j->len + n + 1 > j->cap) {
        size_t cap = (j->len + n + 1) * 2;
        char *p = (char *)realloc(j->text, cap);
        if (!p) { j->failed = 1; return; }
        j->text = p, j->cap = cap;
    }
    memcpy(j->text + j->len, bytes, n);
    j->len += n;
}

/* Where the first stop string starts in the text, or -1. Only text from
   `from` on is new (with a stop string's length of overlap). */
static long find_stop(const job *j, size_t from) {
    long best = -1;
    int k;
    for (k = 0; k < j->n_stop; k++) {
        size_t n = strlen(j->stop[k]), i = from >= n ? from - n + 1 : 0;
        for (; i + n <= j->len; i++)
            if (!memcmp(j->text + i, j->stop[k], n)) {
                if (best < 0 || (long)i < best) best = (long)i;
                break;
            }
    }
    return best;
}

/* Bytes at the end of the text that could begin a stop string: kept back. */
static size_t held_back(const job *j) {
    size_t hold = 0;
    int k;
    for (k = 0; k < j->n_stop; k++) {
        size_t n = strlen(j->stop[k]), m;
        for (m = n - 1; m > hold; m--)
            if (m <= j->len && !memcmp(j->text + j->len - m, j->stop[k], m)) { hold = m; break; }
    }
    return hold;
}

static void job_finish(slot *s, const char *why) {
    job *j = s->job;
    char rest[4];
    size_t n = rwkvx_decoder_flush(&s->dec, rest);
    if (!strcmp(why, "length")) job_append(j, rest, n);
    j->finish = why;
    j->ready = j->len;
    j->done = 1;
}

/* After the logits of a slot's last token: pick the next token and decide
   whether the reply goes on. */
static void slot_sample(slot *s) {
    job *j = s->job;
    int32_t t = rwkvx_sample(s->sampler, s->logits);
    char buf[1024];
    size_t n = 0, before = j->len;
    long stop;
    if (t <= 0) { /* end of text (or nothing left to sample) */
        job_finish(s, "stop");
        if (srv.opt.cache_mb > 0) cache_put(s->seq, s->n_seq, s->st);
        slot_free_job(s);
        return;
    }
    j->n_gen++;
    if (rwkvx_decoder_push(&s->dec, srv.tok, t, buf, sizeof buf, &n) == RWKVX_OK) job_append(j, buf, n);
    s->next = t;
    s->phase = srv.opt.cache_mb > 0 ? SLOT_CLOSE : SLOT_IDLE; /* when it ends here: the last token read for the cache */
    if ((stop = find_stop(j, before)) >= 0) {
        j->len = (size_t)stop;
        job_finish(s, "stop");
    } else if (j->n_gen >= j->max_tokens) {
        job_finish(s, "length");
    } else {
        j->ready = j->len - held_back(j);
        s->phase = SLOT_DECODE;
        return;
    }
    if (s->phase == SLOT_IDLE) slot_free_job(s);
}

/* What each busy slot reads in this step; prompts share PASS_ROWS tokens
   after the decode steps. Returns the number of slots in the batch. */
static int plan_step(rwkvx_state **states, const int32_t **tokens, size_t *counts, float **logits, int *who) {
    int i, n = 0;
    size_t budget = PASS_ROWS;
    for (i = 0; i < srv.opt.parallel; i++) {
        slot *s = &srv.slots[i];
        if (s->phase != SLOT_IDLE && s->job->cancelled) slot_free_job(s);
        if (s->phase == SLOT_DECODE || s->phase == SLOT_CLOSE) {
            states[n] = s->st, tokens[n] = &s->next, counts[n] = 1;
            logits[n] = s->phase == SLOT_DECODE ? s->logits : NULL;
            s->run = 1, who[n++] = i;
            if (budget > 16) budget--;
        }
    }
    for (i = 0; i < srv.opt.parallel && budget > 0; i++) {
        slot *s = &srv.slots[i];
        size_t left;
        if (s->phase != SLOT_PREFILL) continue;
        left = s->job->n_prompt - s->fed;
        s->run = left > 1 ? left - 1 : 1; /* the last token alone: the cache keeps the state before it */
        if (s->run > budget) s->run = budget;
        budget -= s->run;
        states[n] = s->st, tokens[n] = s->job->prompt + s->fed, counts[n] = s->run;
        logits[n] = left == 1 ? s->logits : NULL;
        who[n++] = i;
    }
    return n;
}

static void after_step(const int *who, int n, rwkvx_status status) {
    int k;
    for (k = 0; k < n; k++) {
        slot *s = &srv.slots[who[k]];
        job *j = s->job;
        if (status != RWKVX_OK || !j) {
            if (j) j->failed = 1, j->done = 1;
            slot_free_job(s);
            continue;
        }
        if (s->phase == SLOT_PREFILL) {
            const int32_t *read = j->prompt + s->fed;
            s->fed += s->run;
            if (!slot_remember(s, read, s->run)) { j->failed = 1, j->done = 1; slot_free_job(s); continue; }
            if (s->fed + 1 == j->n_prompt && srv.opt.cache_mb > 0 && (long)s->fed > j->n_cached) cache_put(s->seq, s->n_seq, s->st);
            if (s->fed == j->n_prompt) slot_sample(s);
        } else {
            if (!slot_remember(s, &s->next, 1)) { j->done = 1; slot_free_job(s); continue; }
            if (s->phase == SLOT_DECODE) {
                slot_sample(s);
            } else { /* SLOT_CLOSE: the reply's last token read */
                cache_put(s->seq, s->n_seq, s->st);
                slot_free_job(s);
            }
        }
    }
}

static void *engine_main(void *arg) {
    int np = (int)srv.opt.parallel, n, *who = (int *)malloc((size_t)np * sizeof(int)), i;
    rwkvx_state **states = (rwkvx_state **)malloc((size_t)np * sizeof *states);
    const int32_t **tokens = (const int32_t **)malloc((size_t)np * sizeof *tokens);
    size_t *counts = (size_t *)malloc((size_t)np * sizeof *counts);
    float **logits = (float **)malloc((size_t)np * sizeof *logits);
    (void)arg;
    if (!who || !states || !tokens || !counts || !logits) {
        fprintf(stderr, "rwkvx-server: out of memory\n");
        exit(1);
    }
    pthread_mutex_lock(&srv.lock);
    while (!srv.stopping) {
        rwkvx_status status;
        for (i = 0; i < np && srv.queue; i++) /* admit queued requests into idle slots */
            if (srv.slots[i].phase == SLOT_IDLE) {
                job *j = srv.queue;
                if (!(srv.queue = j->next)) srv.queue_tail = &srv.queue;
                if (j->cancelled) { job_release(j); i--; continue; }
                slot_start(&srv.slots[i], j);
            }
        if ((n = plan_step(states, tokens, counts, logits, who)) == 0) {
            pthread_cond_broadcast(&srv.progress);
            pthread_cond_wait(&srv.work, &srv.lock);
            continue;
        }
        pthread_mutex_unlock(&srv.lock);
        status = rwkvx_eval_batch(states, tokens, counts, (size_t)n, logits, 0);
        pthread_mutex_lock(&srv.lock);
        after_step(who, n, status);
        pthread_cond_broadcast(&srv.progress);
    }
    pthread_mutex_unlock(&srv.lock);
    free(who), free(states), free(tokens), free(counts), free(logits);
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Reading requests                                                       */
/* ---------------------------------------------------------------------- */

typedef struct {           /* a refusal: status and OpenAI error fields */
    int status;
    char message[300];
    const char *type, *param, *code;
} refusal;

static int refuse(refusal *r, int status, const char *param, const char *code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->message, sizeof r->message, fmt, ap);
    va_end(ap);
    r->status = status, r->param = param, r->code = code;
    r->type = status >= 500 ? "server_error" : "invalid_request_error";
    return 0;
}

/* An optional number member in [lo, hi] (integral if asked): 1 set, 0 bad, -1 absent or null. */
static int get_number(const json *body, const char *key, double lo, double hi, int integral, double *out, refusal *r) {
    const json *v = json_get(body, key);
    if (!v || v->type == JSON_NULL) return -1;
    if (v->type != JSON_NUMBER || (integral && (!v->integral || v->num != (double)(long long)v->num)))
        return refuse(r, 400, key, NULL, "'%s' must be %s", key, integral ? "an integer" : "a number");
    if (!(v->num >= lo && v->num <= hi)) return refuse(r, 400, key, NULL, "'%s' must be between %g and %g", key, lo, hi);
    *out = v->num;
    return 1;
}

static int get_bool(const json *body, const char *key, int *out, refusal *r) {
    const json *v = json_get(body, key);
    if (!v || v->type == JSON_NULL) return 1;
    if (v->type != JSON_TRUE && v->type != JSON_FALSE) return refuse(r, 400, key, NULL, "'%s' must be a boolean", key);
    *out = v->type == JSON_TRUE;
    return 1;
}

static int only_known_keys(const json *obj, const char *const *known, refusal *r) {
    const json *e;
    for (e = obj->child; e; e = e->next) {
        int i;
        for (i = 0; known[i] && strcmp(known[i], e->key); i++) {}
        if (!known[i] || strlen(e->key) != e->key_len)
            return refuse(r, 400, NULL, NULL, "Unrecognized request argument supplied: %.100s", e->key);
    }
    return 1;
}

static int add_stop(job *j, const json *v, refusal *r) {
    if (v->type != JSON_STRING || v->len == 0 || v->len > MAX_STOP_BYTES || strlen(v->str) != v->len)
        return refuse(r, 400, "stop", NULL, "'stop' must be a non-empty string of at most %d bytes, or an array of up to 4", MAX_STOP_BYTES);
    if (!(j->stop[j->n_stop] = strdup(v->str))) return refuse(r, 500, NULL, NULL, "out of memory");
    j->n_stop++;
    return 1;
}

/* The parameters both endpoints share. */
static int read_common(const json *body, job *j, refusal *r) {
    const json *v;
    double x;
    int got;
    rwkvx_sampler_params *p = &j->sampling;
    memset(p, 0, sizeof *p);
    p->temperature = 1.0f, p->top_p = 1.0f, p->decay = 1.0f; /* OpenAI's defaults: counts do not decay */
    if ((v = json_get(body, "model")) && v->type != JSON_STRING && v->type != JSON_NULL)
        return refuse(r, 400, "model", NULL, "'model' must be a string");
    if ((v = json_get(body, "user")) && v->type != JSON_STRING && v->type != JSON_NULL)
        return refuse(r, 400, "user", NULL, "'user' must be a string");
    if (!(got = get_number(body, "temperature", 0, 2, 0, &x, r))) return 0;
    if (got > 0) p->temperature = (float)x;
    if (!(got = get_number(body, "top_p", 0, 1, 0, &x, r))) return 0;
    if (got > 0) p->top_p = (float)x;
    if (!(got = get_number(body, "presence_penalty", -2, 2, 0, &x, r))) return 0;
    if (got > 0) p->presence = (float)x;
    if (!(got = get_number(body, "frequency_penalty", -2, 2, 0, &x, r))) return 0;
    if (got > 0) p->frequency = (float)x;
    if (!(got = get_number(body, "n", 1, 1, 1, &x, r))) return 0;
    if (!(got = get_number(body, "seed", -9.2e18, 9.2e18, 1, &x, r))) return 0;
    j->seed = got > 0 ? (uint64_t)(long long)x : (uint64_t)time(NULL) ^ (uint64_t)clock() << 20 ^ (uint64_t)j->created << 40;
    if (!get_bool(body, "stream", &j->stream, r)) return 0;
    if ((v = json_get(body, "stream_options")) && v->type != JSON_NULL) {
        static const char *const known[] = {"include_usage", NULL};
        if (v->type != JSON_OBJECT) return refuse(r, 400, "stream_options", NULL, "'stream_options' must be an object");
        if (!only_known_keys(v, known, r) || !get_bool(v, "include_usage", &j->include_usage, r)) return 0;
    }
    if ((v = json_get(body, "stop")) && v->type != JSON_NULL) {
        const json *e;
        if (v->type == JSON_ARRAY) {
            if (v->n > 4) return refuse(r, 400, "stop", NULL, "'stop' holds at most 4 strings");
            for (e = v->child; e; e = e->next)
                if (!add_stop(j, e, r)) return 0;
        } else if (!add_stop(j, v, r)) {
            return 0;
        }
    }
    if (!(got = get_number(body, "max_tokens", 1, 1e18, 1, &x, r))) return 0;
    if (got < 0 && !(got = get_number(body, "max_completion_tokens", 1, 1e18, 1, &x, r))) return 0;
    if (got > 0 && x > (double)srv.opt.max_tokens)
        return refuse(r, 400, "max_tokens", NULL, "max_tokens is at most %ld on this server", srv.opt.max_tokens);
    j->max_tokens = got > 0 ? (long)x : 0;
    return 1;
}

/* Appends the tokens of text[0..n) to the prompt. */
static int add_text(job *j, size_t *cap, const char *text, size_t n, refusal *r) {
    size_t got = 0;
    if (j->n_prompt + n + 1 > *cap) {
        size_t c = (j->n_prompt + n + 1) * 2;
        int32_t *p = (int32_t *)realloc(j->prompt, c * sizeof *p);
        if (!p) return refuse(r, 500, NULL, NULL, "out of memory");
        j->prompt = p, *cap = c;
    }
    if (rwkvx_tokenize(srv.tok, text, n, j->prompt + j->n_prompt, *cap - j->n_prompt, &got) != RWKVX_OK)
        return refuse(r, 400, NULL, NULL, "the text cannot be tokenized");
    j->n_prompt += got;
    return 1;
}

/* A message's text: a string, or an array of {"type": "text", "text": ...} parts. */
static int message_text(const json *content, jbuf *out, refusal *r) {
    const json *part;
    if (content->type == JSON_STRING) {
        jb_add(out, content->str, content->len);
        return 1;
    }
    if (content->type != JSON_ARRAY) return refuse(r, 400, "messages", NULL, "a message's 'content' must be a string or an array of text parts");
    for (part = content->child; part; part = part->next) {
        const json *type = json_get(part, "type"), *text = json_get(part, "text");
        if (!type || type->type != JSON_STRING || strcmp(type->str, "text") || !text || text->type != JSON_STRING)
            return refuse(r, 400, "messages", NULL, "only text parts are supported in 'content'");
        jb_add(out, text->str, text->len);
    }
    return 1;
}

static int read_chat(const json *body, job *j, refusal *r) {
    static const char *const known[] = {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop",
                                        "seed", "presence_penalty", "frequency_penalty", "stream", "stream_options", "n", "user", NULL};
    static const char *const known_message[] = {"role", "content", "name", NULL};
    const json *msgs = json_get(body, "messages"), *m;
    size_t cap = 0;
    if (!only_known_keys(body, known, r) || !read_common(body, j, r)) return 0;
    if (!msgs || msgs->type != JSON_ARRAY || msgs->n == 0) return refuse(r, 400, "messages", NULL, "'messages' must be a non-empty array");
    for (m = msgs->child; m; m = m->next) {
        const json *role = m->type == JSON_OBJECT ? json_get(m, "role") : NULL, *content = json_get(m, "content");
        jbuf text = {0};
        const char *head;
        int ok, assistant = 0;
        if (!role || role->type != JSON_STRING || !only_known_keys(m, known_message, r))
            return r->status ? 0 : refuse(r, 400, "messages", NULL, "each message needs a 'role'");
        if (!strcmp(role->str, "system")) head = "System: ";
        else if (!strcmp(role->str, "user")) head = "User: ";
        else if (!strcmp(role->str, "assistant")) head = "Assistant:", assistant = 1;
        else return refuse(r, 400, "messages", NULL, "a message's role must be system, user or assistant");
        if (!content || content->type == JSON_NULL) {
            if (!assistant) return refuse(r, 400, "messages", NULL, "a %s message needs a 'content'", role->str);
        } else if (!message_text(content, &text, r)) {
            free(text.s);
            return 0;
        }
        jb_add(&text, "", 0);
        if (text.oom) { free(text.s); return refuse(r, 500, NULL, NULL, "out of memory"); }
        text.len = text.s ? world_chat_clean(text.s, text.len) : 0;
        ok = add_text(j, &cap, head, strlen(head), r);
        if (ok && assistant) { /* as the reply was generated: " TEXT" after "Assistant:" */
            jbuf tail = {0};
            jb_str(&tail, " "), jb_add(&tail, text.s ? text.s : "", text.len), jb_str(&tail, "\n\n");
            ok = !tail.oom && add_text(j, &cap, tail.s, tail.len, r);
            free(tail.s);
        } else if (ok) {
            jb_str(&text, "\n\n");
            ok = !text.oom && add_text(j, &cap, text.s, text.len, r);
        }
        free(text.s);
        if (!ok) return r->status ? 0 : refuse(r, 500, NULL, NULL, "out of memory");
    }
    if (!add_text(j, &cap, "Assistant:", 10, r)) return 0;
    j->chat = 1;
    if (j->n_stop < MAX_STOPS && !(j->stop[j->n_stop++] = strdup("\n\n"))) return refuse(r, 500, NULL, NULL, "out of memory");
    return 1;
}

static int read_completion(const json *body, job *j, refusal *r) {
    static const char *const known[] = {"model", "prompt", "max_tokens", "temperature", "top_p", "stop", "seed",
                                        "presence_penalty", "frequency_penalty", "stream", "stream_options", "n", "user", NULL};
    const json *prompt = json_get(body, "prompt");
    size_t cap = 0;
    if (!only_known_keys(body, known, r) || !read_common(body, j, r)) return 0;
    if (prompt && prompt->type == JSON_ARRAY && prompt->n == 1) prompt = prompt->child;
    if (!prompt || prompt->type != JSON_STRING) return refuse(r, 400, "prompt", NULL, "'prompt' must be a string");
    if (!add_text(j, &cap, prompt->str, prompt->len, r)) return 0;
    if (j->n_prompt == 0) { /* an empty prompt starts from the end-of-text token */
        if (!add_text(j, &cap, "", 0, r)) return 0;
        j->prompt[j->n_prompt++] = 0;
    }
    if (j->max_tokens == 0) j->max_tokens = 16; /* OpenAI's default for completions */
    return 1;
}

/* The request body into a job (NULL with the refusal filled in). */
static job *read_request(const char *body, size_t len, int chat, refusal *r) {
    const char *why = NULL;
    json *doc = json_parse(body, len, &why);
    job *j;
    int ok;
    if (!doc) { refuse(r, 400, NULL, NULL, "the body is not valid JSON: %s", why ? why : "?"); return NULL; }
    if (doc->type != JSON_OBJECT) { json_free(doc); refuse(r, 400, NULL, NULL, "the body must be a JSON object"); return NULL; }
    if (!(j = (job *)calloc(1, sizeof *j))) { json_free(doc); refuse(r, 500, NULL, NULL, "out of memory"); return NULL; }
    j->refs = 1, j->created = (long)time(NULL);
    pthread_mutex_lock(&srv.lock);
    srv.jobs_alive++;
    snprintf(j->id, sizeof j->id, "%s-%ld", chat ? "chatcmpl" : "cmpl", ++srv.next_id);
    pthread_mutex_unlock(&srv.lock);
    ok = chat ? read_chat(doc, j, r) : read_completion(doc, j, r);
    json_free(doc);
    if (ok && srv.opt.max_context > 0 && (long)j->n_prompt >= srv.opt.max_context)
        ok = refuse(r, 400, "messages", "context_length_exceeded", "the prompt is %lu tokens; this server's context is %ld",
                    (unsigned long)j->n_prompt, srv.opt.max_context);
    if (ok) {
        long room = srv.opt.max_context > 0 ? srv.opt.max_context - (long)j->n_prompt : LONG_MAX;
        if (j->max_tokens > room)
            ok = refuse(r, 400, "max_tokens", "context_length_exceeded", "%lu prompt tokens + max_tokens %ld exceed the context of %ld",
                        (unsigned long)j->n_prompt, j->max_tokens, srv.opt.max_context);
        else if (j->max_tokens == 0)
            j->max_tokens = room < srv.opt.max_tokens ? room : srv.opt.max_tokens;
    }
    if (!ok) {
        pthread_mutex_lock(&srv.lock);
        job_release(j);
        pthread_mutex_unlock(&srv.lock);
        return NULL;
    }
    return j;
}

/* ---------------------------------------------------------------------- */
/* Responses                                                              */
/* ---------------------------------------------------------------------- */

static enum MHD_Result send_text(struct MHD_Connection *c, int status, jbuf *b, const char *type) {
    struct MHD_Response *res;
    enum MHD_Result ok;
    if (b->oom) return MHD_NO;
    res = MHD_create_response_from_buffer(b->len, b->s ? b->s : (char *)"", MHD_RESPMEM_MUST_COPY);
    if (!res) return MHD_NO;
    MHD_add_response_header(res, "Content-Type", type);
    ok = MHD_queue_response(c, (unsigned)status, res);
    MHD_destroy_response(res);
    return ok;
}

/* Sends b as an application/json response and frees it. */
static enum MHD_Result send_json(struct MHD_Connection *c, int status, jbuf *b) {
    enum MHD_Result ok = send_text(c, status, b, "application/json");
    free(b->s);
    return ok;
}

static enum MHD_Result send_refusal(struct MHD_Connection *c, const refusal *r) {
    jbuf b = {0};

    jb_str(&b, "{\"error\":{\"message\":");
    jb_json_string(&b, r->message, strlen(r->message));
    jb_printf(&b, ",\"type\":\"%s\",\"param\":", r->type);
    if (r->param) jb_json_string(&b, r->param, strlen(r->param));
    else jb_str(&b, "null");
    jb_str(&b, ",\"code\":");
    if (r->code) jb_json_string(&b, r->code, strlen(r->code));
    else jb_str(&b, "null");
    jb_str(&b, "}}\n");
    return send_json(c, r->status, &b);
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *code, const char *message) {
    refusal r;
    refuse(&r, status, NULL, code, "%s", message);
    return send_refusal(c, &r);
}

static void write_usage(jbuf *b, const job *j) {
    jb_printf(b, "\"usage\":{\"prompt_tokens\":%lu,\"completion_tokens\":%ld,\"total_tokens\":%ld}", (unsigned long)j->n_prompt, j->n_gen,
              (long)j->n_prompt + j->n_gen);
}

/* The head of a completion object or chunk, up to "choices":[{ */
static void write_head(jbuf *b, const job *j, int chunk) {
    jb_str(b, "{\"id\":");
    jb_json_string(b, j->id, strlen(j->id));
    jb_printf(b, ",\"object\":\"%s\",\"created\":%ld,\"model\":", j->chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion",
              j->created);
    jb_json_string(b, srv.model_name, strlen(srv.model_name));
    jb_str(b, ",\"choices\":[{\"index\":0,");
}

static void write_whole(jbuf *b, const job *j) {
    write_head(b, j, 0);
    if (j->chat) {
        jb_str(b, "\"message\":{\"role\":\"assistant\",\"content\":");
        jb_json_string(b, j->text ? j->text : "", j->len);
        jb_str(b, "},");
    } else {
        jb_str(b, "\"text\":");
        jb_json_string(b, j->text ? j->text : "", j->len);
        jb_str(b, ",");
    }
    jb_printf(b, "\"logprobs\":null,\"finish_reason\":\"%s\"}],", j->finish ? j->finish : "stop");
    write_usage(b, j);
    jb_str(b, "}\n");
}

/* One server-sent event with text[from..to) (and the finish reason, when given). */
static void write_event(jbuf *b, const job *j, size_t from, size_t to, const char *finish, int first) {
    jb_str(b, "data: ");
    write_head(b, j, 1);
    if (j->chat) {
        jb_str(b, "\"delta\":{");
        if (first) jb_str(b, "\"role\":\"assistant\",");
        if (!finish || to > from) { jb_str(b, "\"content\":"); jb_json_string(b, j->text ? j->text + from : "", to - from); }
        else if (b->len && b->s[b->len - 1] == ',') b->len--;
        jb_str(b, "},");
    } else {
        jb_str(b, "\"text\":");
        jb_json_string(b, j->text ? j->text + from : "", to - from);
        jb_str(b, ",\"logprobs\":null,");
    }
    if (finish) jb_printf(b, "\"finish_reason\":\"%s\"}]", finish);
    else jb_str(b, "\"finish_reason\":null}]");
    if (j->include_usage) jb_str(b, ",\"usage\":null");
    jb_str(b, "}\n\n");
}

static void write_usage_event(jbuf *b, const job *j) {
    jb_str(b, "data: {\"id\":");
    jb_json_string(b, j->id, strlen(j->id));
    jb_printf(b, ",\"object\":\"%s\",\"created\":%ld,\"model\":", j->chat ? "chat.completion.chunk" : "text_completion", j->created);
    jb_json_string(b, srv.model_name, strlen(srv.model_name));
    jb_str(b, ",\"choices\":[],");
    write_usage(b, j);
    jb_str(b, "}\n\n");
}

/* Has the client closed its side (or the connection died)? */
static int client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct pollfd p;
    char byte;
    if (!info) return 1;
    p.fd = info->connect_fd, p.events = POLLIN | POLLRDHUP, p.revents = 0;
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL)) return 1;
    return recv(p.fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Waits (under srv.lock) up to 100 ms for the engine's next step. */
static void wait_progress(void) {
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_nsec += 100 * 1000000L;
    if (t.tv_nsec >= 1000000000L) t.tv_sec++, t.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&srv.progress, &srv.lock, &t);
}

static void enqueue(job *j) { /* under srv.lock */
    j->refs++;
    *srv.queue_tail = j;
    srv.queue_tail = &j->next;
    pthread_cond_signal(&srv.work);
}

static void cancel(job *j) { /* under srv.lock: the engine drops it at its next step */
    if (!j->done) j->cancelled = 1;
    pthread_cond_signal(&srv.work);
}

typedef struct {           /* a streaming response's progress */
    job *job;
    struct MHD_Connection *conn;
    jbuf out;
    size_t out_sent, text_sent;
    int first, over;
} stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    stream *s = (stream *)cls;
    job *j = s->job;
    (void)pos;
    while (s->out_sent == s->out.len) {
        s->out.len = s->out_sent = 0;
        if (s->over) return MHD_CONTENT_READER_END_OF_STREAM;
        pthread_mutex_lock(&srv.lock);
        while (!j->done && j->ready == s->text_sent) {
            wait_progress();
            if (!j->done && j->ready == s->text_sent) {
                int gone;
                pthread_mutex_unlock(&srv.lock);
                gone = client_gone(s->conn);
                pthread_mutex_lock(&srv.lock);
                if (gone) {
                    cancel(j);
                    pthread_mutex_unlock(&srv.lock);
                    return MHD_CONTENT_READER_END_WITH_ERROR;
                }
            }
        }
        if (j->failed) {
            pthread_mutex_unlock(&srv.lock);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (j->ready > s->text_sent || s->first) {
            write_event(&s->out, j, s->text_sent, j->ready, NULL, s->first);
            s->text_sent = j->ready, s->first = 0;
        }
        if (j->done) {
            write_event(&s->out, j, j->len, j->len, j->finish, 0);
            if (j->include_usage) write_usage_event(&s->out, j);
            jb_str(&s->out, "data: [DONE]\n\n");
            s->over = 1;
        }
        pthread_mutex_unlock(&srv.lock);
        if (s->out.oom) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (max > s->out.len - s->out_sent) max = s->out.len - s->out_sent;
    memcpy(buf, s->out.s + s->out_sent, max);
    s->out_sent += max;
    return (ssize_t)max;
}

static void stream_free(void *cls) {
    stream *s = (stream *)cls;
    pthread_mutex_lock(&srv.lock);
    cancel(s->job);
    job_release(s->job);
    pthread_mutex_unlock(&srv.lock);
    free(s->out.s);
    free(s);
}

static enum MHD_Result answer_stream(struct MHD_Connection *c, job *j) {
    stream *s = (stream *)calloc(1, sizeof *s);
    struct MHD_Response *res;
    enum MHD_Result ok;
    if (!s) return MHD_NO;
    s->job = j, s->conn = c, s->first = 1;
    if (!(res = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free))) {
        stream_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(res, "Content-Type", "text/event-stream");
    MHD_add_response_header(res, "Cache-Control", "no-cache");
    ok = MHD_queue_response(c, MHD_HTTP_OK, res);
    MHD_destroy_response(res);
    return ok;
}

static enum MHD_Result answer_whole(struct MHD_Connection *c, job *j) {
    jbuf b = {0};
    enum MHD_Result ok;
    pthread_mutex_lock(&srv.lock);
    while (!j->done) {
        int gone;
        wait_progress();
        if (j->done) break;
        pthread_mutex_unlock(&srv.lock);
        gone = client_gone(c);
        pthread_mutex_lock(&srv.lock);
        if (gone) {
            cancel(j);
            job_release(j);
            pthread_mutex_unlock(&srv.lock);
            return MHD_NO;
        }
    }
    if (!j->failed) write_whole(&b, j);
    ok = j->failed ? MHD_NO : MHD_YES;
    job_release(j);
    pthread_mutex_unlock(&srv.lock);
    if (ok == MHD_NO) return send_error(c, 500, NULL, "generation failed");
    return send_json(c, 200, &b);
}

static enum MHD_Result answer_models(struct MHD_Connection *c) {
    jbuf b = {0};

    jb_str(&b, "{\"object\":\"list\",\"data\":[{\"id\":");
    jb_json_string(&b, srv.model_name, strlen(srv.model_name));
    jb_printf(&b, ",\"object\":\"model\",\"created\":0,\"owned_by\":\"rwkvx\"}]}\n");
    return send_json(c, 200, &b);
}

static enum MHD_Result answer_health(struct MHD_Connection *c) {
    jbuf b = {0};

    int i, busy = 0, queued = 0;
    job *j;
    pthread_mutex_lock(&srv.lock);
    for (i = 0; i < srv.opt.parallel; i++) busy += srv.slots[i].phase != SLOT_IDLE;
    for (j = srv.queue; j; j = j->next) queued++;
    jb_printf(&b, "{\"status\":\"ok\",\"slots\":%ld,\"slots_busy\":%d,\"queued\":%d,\"requests_alive\":%ld,\"requests\":%ld,"
                  "\"cache_entries\":%d,\"cache_bytes\":%lu,\"cache_hits\":%ld,\"cache_misses\":%ld}\n",
              srv.opt.parallel, busy, queued, srv.jobs_alive, srv.requests, srv.n_cache, (unsigned long)srv.cache_bytes, srv.cache_hits,
              srv.cache_misses);
    pthread_mutex_unlock(&srv.lock);
    return send_json(c, 200, &b);
}

/* ---------------------------------------------------------------------- */
/* HTTP                                                                   */
/* ---------------------------------------------------------------------- */

typedef struct {           /* one request's body as it arrives */
    char *body;
    size_t len, cap;
    int too_large;
} upload;

static int authorized(struct MHD_Connection *c) {
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    size_t n;
    if (!srv.opt.api_key) return 1;
    if (!h || strncmp(h, "Bearer ", 7)) return 0;
    h += 7, n = strlen(srv.opt.api_key);
    return strlen(h) == n && !memcmp(h, srv.opt.api_key, n);
}

static enum MHD_Result route(struct MHD_Connection *c, const char *url, const char *method, upload *u) {
    int chat = !strcmp(url, "/v1/chat/completions"), completion = !strcmp(url, "/v1/completions");
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    refusal r;
    job *j;
    char msg[200];
    if (!strcmp(url, "/health")) return get ? answer_health(c) : send_error(c, 405, NULL, "use GET /health");
    if (!authorized(c)) return send_error(c, 401, "invalid_api_key", "Incorrect API key provided (Authorization: Bearer KEY).");
    if (!strcmp(url, "/v1/models")) return get ? answer_models(c) : send_error(c, 405, NULL, "use GET /v1/models");
    if (!chat && !completion) {
        snprintf(msg, sizeof msg, "Invalid URL (%.20s %.100s)", method, url);
        return send_error(c, 404, "not_found", msg);
    }
    if (!post) return send_error(c, 405, NULL, "use POST");
    if (u->too_large) {
        snprintf(msg, sizeof msg, "the body is larger than %ld KiB", srv.opt.max_body_kb);
        return send_error(c, 413, "request_too_large", msg);
    }
    memset(&r, 0, sizeof r);
    if (!(j = read_request(u->body ? u->body : "", u->len, chat, &r))) return send_refusal(c, &r);
    pthread_mutex_lock(&srv.lock);
    srv.requests++;
    enqueue(j);
    pthread_mutex_unlock(&srv.lock);
    return j->stream ? answer_stream(c, j) : answer_whole(c, j);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
                                  const char *data, size_t *size, void **ctx) {
    upload *u = (upload *)*ctx;
    size_t limit = (size_t)srv.opt.max_body_kb << 10;
    (void)cls, (void)version;
    if (!u) { /* the headers are in: refuse an announced oversized body before reading it */
        const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (!(u = (upload *)calloc(1, sizeof *u))) return MHD_NO;
        *ctx = u;
        if (length && strtod(length, NULL) > (double)limit) {
            char msg[100];
            snprintf(msg, sizeof msg, "the body is larger than %ld KiB", srv.opt.max_body_kb);
            return send_error(c, 413, "request_too_large", msg);
        }
        return MHD_YES;
    }
    if (*size) {
        if (!u->too_large && u->len + *size > limit) u->too_large = 1, free(u->body), u->body = NULL, u->len = u->cap = 0;
        if (!u->too_large) {
            if (u->len + *size + 1 > u->cap) {
                size_t cap = (u->len + *size + 1) * 2;
                char *p = (char *)realloc(u->body, cap < limit + 1 ? cap : limit + 1);
                if (!p) return MHD_NO;
                u->body = p, u->cap = cap < limit + 1 ? cap : limit + 1;
            }
            memcpy(u->body + u->len, data, *size);
            u->len += *size;
        }
        *size = 0;
        return MHD_YES;
    }
    return route(c, url, method, u);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode why) {
    upload *u = (upload *)*ctx;
    (void)cls, (void)c, (void)why;
    if (u) free(u->body), free(u);
    *ctx = NULL;
}

/* ---------------------------------------------------------------------- */
/* Main                                                                   */
/* ---------------------------------------------------------------------- */

static int open_model(const options *o) {
    char err[RWKVX_ERROR_MAX];
    const char *base = strrchr(o->model_path, '/');
    int i;
    rwkvx_options load;
    memset(&load, 0, sizeof load);
    CLI_SET_RWKVX_OPTIONS(load, o->model);
    if (rwkvx_load_file(&srv.model, o->model_path, &load, err) != RWKVX_OK) {
        fprintf(stderr, "rwkvx-server: %s\n", err);
        return 0;
    }
    if (!(srv.tok = rwkvx_model_tokenizer(srv.model))) {
        fprintf(stderr, "rwkvx-server: %s has no vocabulary (convert it with rwkvx-convert --vocab)\n", o->model_path);
        return 0;
    }
    snprintf(srv.model_name, sizeof srv.model_name, "%s", base ? base + 1 : o->model_path);
    srv.n_vocab = rwkvx_n_vocab(srv.model);
    srv.slots = (slot *)calloc((size_t)o->parallel, sizeof *srv.slots);
    if (!srv.slots) return 0;
    for (i = 0; i < o->parallel; i++) {
        slot *s = &srv.slots[i];
        int32_t id;
        if (rwkvx_state_create(&s->st, srv.model) != RWKVX_OK ||
            rwkvx_sampler_new(&s->sampler, srv.n_vocab, srv.tok, NULL, 0) != RWKVX_OK ||
            !(s->logits = (float *)malloc((size_t)srv.n_vocab * sizeof(float)))) {
            fprintf(stderr, "rwkvx-server: out of memory for %ld slots\n", o->parallel);
            return 0;
        }
        if (o->model.threads > 0) rwkvx_state_set_threads(s->st, o->model.threads);
        for (id = 1; id < srv.n_vocab; id++) /* padding tokens are never sampled; token 0 ends the text */
            if (rwkvx_tokenizer_token(srv.tok, id, NULL, NULL) != RWKVX_TOKEN_TEXT) rwkvx_sampler_ban(s->sampler, id, 1);
    }
    return 1;
}

/* rwkvx_eval_batch keeps its logits buffer (a row per state of a call) in
   the call's first state. Every slot comes first once now, with all of
   them, so no call grows one later: memory stays where it starts. */
static int reserve_batch_buffers(void) {
    int np = (int)srv.opt.parallel, k, i, ok = 1;
    rwkvx_state **states = (rwkvx_state **)malloc((size_t)np * sizeof *states);
    const int32_t **tokens = (const int32_t **)malloc((size_t)np * sizeof *tokens);
    size_t *counts = (size_t *)malloc((size_t)np * sizeof *counts);
    float **logits = (float **)malloc((size_t)np * sizeof *logits);
    static const int32_t zero = 0;
    ok = states && tokens && counts && logits;
    for (k = 0; ok && k < np && np > 1; k++) {
        for (i = 0; i < np; i++) {
            slot *s = &srv.slots[(k + i) % np];
            states[i] = s->st, tokens[i] = &zero, counts[i] = 1, logits[i] = s->logits;
        }
        ok = rwkvx_eval_batch(states, tokens, counts, (size_t)np, logits, 0) == RWKVX_OK;
        for (i = 0; i < np; i++) rwkvx_state_reset(states[i]);
    }
    free(states), free(tokens), free(counts), free(logits);
    return ok;
}

static struct MHD_Daemon *start_http(const options *o) {
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    struct sockaddr *addr;
    struct MHD_Daemon *d;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    memset(&a4, 0, sizeof a4), memset(&a6, 0, sizeof a6);
    if (inet_pton(AF_INET, o->host, &a4.sin_addr) == 1) {
        a4.sin_family = AF_INET, a4.sin_port = htons((uint16_t)o->port), addr = (struct sockaddr *)&a4;
    } else if (inet_pton(AF_INET6, o->host, &a6.sin6_addr) == 1) {
        a6.sin6_family = AF_INET6, a6.sin6_port = htons((uint16_t)o->port), addr = (struct sockaddr *)&a6, flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "rwkvx-server: --host must be an IPv4 or IPv6 address: %s\n", o->host);
        return NULL;
    }
    d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, NULL, MHD_OPTION_SOCK_ADDR, addr,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections, MHD_OPTION_CONNECTION_TIMEOUT,
                         (unsigned)o->timeout_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32768,
                         MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    if (!d) fprintf(stderr, "rwkvx-server: cannot listen on %s port %ld: %s\n", o->host, o->port, strerror(errno));
    return d;
}

int main(int argc, char **argv) {
    options o;
    struct MHD_Daemon *d;
    pthread_t engine;
    const union MHD_DaemonInfo *info;
    sigset_t stop_signals;
    int i, sig;
    cli_robust_threads(argv); /* OpenMP threads that sleep while they wait: the HTTP threads share the cores */
    cli_start("rwkvx-server");
    parse_options(argc, argv, &o);
    srv.opt = o;
#ifdef M_ARENA_MAX
    mallopt(M_ARENA_MAX, 2); /* not an arena per connection thread: memory returns to where it was */
#endif
    pthread_mutex_init(&srv.lock, NULL);
    pthread_cond_init(&srv.work, NULL);
    pthread_cond_init(&srv.progress, NULL);
    srv.queue_tail = &srv.queue;
    if (!open_model(&o)) return 1;
    if (!reserve_batch_buffers()) {
        fprintf(stderr, "rwkvx-server: out of memory for %ld slots\n", o.parallel);
        return 1;
    }
    sigemptyset(&stop_signals); /* every thread started from here on leaves them to main's sigwait */
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    if (pthread_create(&engine, NULL, engine_main, NULL)) {
        fprintf(stderr, "rwkvx-server: cannot start the engine thread\n");
        return 1;
    }
    if (!(d = start_http(&o))) return 1;
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("rwkvx-server: %s on http://%s:%u (%ld slots, context %ld, cache %ld MiB)\n", srv.model_name, o.host,
           info ? (unsigned)info->port : (unsigned)o.port, o.parallel, o.max_context, o.cache_mb);
    fflush(stdout);
    sigwait(&stop_signals, &sig);
    MHD_stop_daemon(d);
    pthread_mutex_lock(&srv.lock);
    srv.stopping = 1;
    pthread_cond_signal(&srv.work);
    pthread_mutex_unlock(&srv.lock);
    pthread_join(engine, NULL);
    for (i = 0; i < o.parallel; i++) {
        slot_free_job(&srv.slots[i]);
        rwkvx_state_free(srv.slots[i].st);
        rwkvx_sampler_free(srv.slots[i].sampler);
        free(srv.slots[i].logits);
        free(srv.slots[i].seq);
    }
    while (srv.queue) {
        job *j = srv.queue;
        srv.queue = j->next;
        job_release(j);
    }
    while (srv.n_cache) cache_drop(0);
    free(srv.cache);
    free(srv.slots);
    rwkvx_model_free(srv.model);
    printf("rwkvx-server: stopped\n");
    return 0;
}
