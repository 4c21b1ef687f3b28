/* rwkvx-chat: talk to an RWKV-X or RWKV-7 World model from a terminal.

   rwkvx-chat -m MODEL.gguf [options]          interactive chat (or a conversation on a pipe)
   rwkvx-chat -m MODEL.gguf -p PROMPT -n N     complete a prompt with N tokens and exit

   Turns use the World chat format, "User: ...\n\nAssistant: ...\n\n" (an
   optional "System: ...\n\n" first). The state is kept between turns, so a
   turn feeds only its own new tokens. A reply ends at its first blank line
   ("\n\n" in the decoded text); Ctrl-C ends a reply early (the turn is then
   closed with "\n\n"), not the program. Messages are cleaned as the reference
   demo does: "\r\n" becomes "\n", surrounding whitespace is stripped and runs
   of newlines inside become one newline. A line ending in a backslash goes on
   on the next line. Type /help for the commands. Errors in the arguments: one
   line on stderr and status 1.

   Sampling defaults are those of the reference chat demo (API_DEMO_CHAT.py):
   temperature 1.0, top-p 0.3, presence 0, frequency 1.0 (decay 0.996);
   end-of-text and padding tokens are never sampled in a chat. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* getline, sigaction, clock_gettime */
#endif
#define RWKVX_IMPLEMENTATION
#include "../rwkvx.h"
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROGRESS_MIN 512   /* prompts of at least this many tokens show a progress bar */
#define PIECE 256          /* tokens per eval call while the bar is shown */

static volatile sig_atomic_t interrupted; /* set by Ctrl-C */
static void on_sigint(int sig) { (void)sig; interrupted = 1; }

typedef struct {
    rwkvx_model *model;
    const rwkvx_tokenizer *tok;
    rwkvx_state *state;
    rwkvx_sampler *sampler;
    float *logits;
    int n_vocab;
    int32_t *ids;               /* tokenizer output */
    size_t ids_cap;
    char *reply;                /* the reply's bytes so far */
    size_t reply_cap;
    const char *system;
    long max_tokens;            /* -n: per reply (0: no limit) or for -p */
    FILE *dump_logits, *dump_tokens;
    int tty_in;
} chat;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(FILE *f) {
    fprintf(f,
        "usage: rwkvx-chat -m MODEL.gguf [options]\n"
        "       rwkvx-chat -m MODEL.gguf -p PROMPT [-n N] [options]\n"
        "  -m MODEL.gguf      a model converted with a vocabulary (rwkvx-convert --vocab)\n"
        "  --system TEXT      a system prompt, fed as \"System: TEXT\\n\\n\"\n"
        "  --temp T           temperature, 0 = greedy (default 1.0)\n"
        "  --top-p P          nucleus sampling (default 0.3; 1 = off)\n"
        "  --top-k K          keep the K most likely tokens (default 0 = off)\n"
        "  --min-p P          keep tokens at least P times as likely as the best (default 0 = off)\n"
        "  --presence P       presence penalty (default 0)\n"
        "  --frequency F      frequency penalty, decaying by 0.996 a token (default 1.0)\n"
        "  --seed S           random seed (default: from the clock)\n"
        "  --threads N        threads (default: all)\n"
        "  --chunk-size B     sparse attention chunk size (default: the model file's)\n"
        "  --chunk-topk K     chunks each query attends to (default: the model file's)\n"
        "  --max-context N    a conversation holds at most N tokens (default 0 = no limit);\n"
        "                     past it a turn is refused: /reset starts a new one\n"
        "  --kv-limit MAX[,KEEP[,WINDOW]]\n"
        "                     bounded memory (an approximation): each sparse head keeps at\n"
        "                     most MAX positions, evicting to KEEP (default MAX*4/5), the\n"
        "                     WINDOW (default MAX/10) most recent always kept\n"
        "  -p PROMPT          complete PROMPT (plain text, no chat format) and exit\n"
        "  -n N               tokens to generate for -p (default 200); the most tokens\n"
        "                     of a chat reply (default 1000, 0 = no limit)\n");
}

static void help(void) {
    fprintf(stderr,
        "commands:\n"
        "  /reset        start a new conversation (the system prompt is kept)\n"
        "  /save FILE    save the whole conversation state\n"
        "  /load FILE    continue a saved conversation\n"
        "  /temp [T]     show or set the temperature\n"
        "  /topp [P]     show or set top-p\n"
        "  /help         this text\n"
        "  /quit         leave (Ctrl-D too)\n"
        "A line ending in \\ continues on the next line; // starts a message with /.\n"
        "Ctrl-C stops a reply.\n");
}

/* ---- feeding tokens ---- */

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    {
        size_t cap2 = need * 2;
        void *q = realloc(*p, cap2 * elem);
        if (!q) return 0;
        *p = q;
        *cap = cap2;
    }
    return 1;
}

static void progress(size_t done, size_t total) {
    int i, w = 40, fill = (int)(done * (size_t)w / (total ? total : 1));
    fprintf(stderr, "\r[");
    for (i = 0; i < w; i++) fputc(i < fill ? '#' : ' ', stderr);
    fprintf(stderr, "] %lu/%lu tokens", (unsigned long)done, (unsigned long)total);
    fflush(stderr);
}

/* Feeds n tokens; logits of the last one go to c->logits unless `no_logits`.
   Long runs show a progress bar and can be interrupted, which restores the
   state as it was. Returns 0, 1 when interrupted, -1 on error. */
static int feed(chat *c, const int32_t *ids, size_t n, int no_logits) {
    float *out = no_logits ? NULL : c->logits;
    rwkvx_status s = RWKVX_OK;
    size_t i;
    if (!n) return 0;
    if (n < PROGRESS_MIN) {
        s = rwkvx_eval(c->state, ids, n, out, 0);
    } else {
        rwkvx_state *backup = NULL;
        double t0 = now();
        if (rwkvx_state_copy(c->state, &backup) != RWKVX_OK) backup = NULL;
        for (i = 0; i < n && s == RWKVX_OK; i += PIECE) {
            size_t k = n - i < PIECE ? n - i : PIECE;
            progress(i, n);
            if (interrupted && backup) {
                rwkvx_state_free(c->state);
                c->state = backup;
                fprintf(stderr, "\r[prompt interrupted: the conversation is as it was]%30s\n", "");
                return 1;
            }
            s = rwkvx_eval(c->state, ids + i, k, i + k == n ? out : NULL, 0);
        }
        progress(n, n);
        fprintf(stderr, " (%.0f tokens/s)\n", (double)n / (now() - t0));
        rwkvx_state_free(backup);
    }
    if (s == RWKVX_ERR_CONTEXT) {
        fprintf(stderr, "rwkvx-chat: the conversation is at its context limit (--max-context); /reset starts a new one\n");
        return -1;
    }
    if (s != RWKVX_OK) {
        fprintf(stderr, "rwkvx-chat: evaluation failed: %s\n", rwkvx_status_string(s));
        return -1;
    }
    if (c->dump_tokens)
        for (i = 0; i < n; i++) fprintf(c->dump_tokens, "%d\n", (int)ids[i]);
    if (c->dump_logits && out) {
        uint64_t pos = rwkvx_state_position(c->state);
        fwrite(&pos, sizeof pos, 1, c->dump_logits);
        fwrite(out, sizeof(float), (size_t)c->n_vocab, c->dump_logits);
    }
    return 0;
}

static int feed_text(chat *c, const char *text, size_t len, int no_logits) {
    size_t n = 0;
    if (!grow((void **)&c->ids, &c->ids_cap, len + 1, sizeof *c->ids)) {
        fprintf(stderr, "rwkvx-chat: out of memory\n");
        return -1;
    }
    if (rwkvx_tokenize(c->tok, text, len, c->ids, c->ids_cap, &n) != RWKVX_OK) {
        fprintf(stderr, "rwkvx-chat: the text has bytes this vocabulary cannot encode\n");
        return -1;
    }
    return feed(c, c->ids, n, no_logits);
}

/* ---- generating ---- */

static const char *find_blank(const char *s, size_t n) {
    size_t i;
    for (i = 0; i + 1 < n; i++)
        if (s[i] == '\n' && s[i + 1] == '\n') return s + i;
    return NULL;
}

/* Samples up to `max` tokens (0: no limit) after c->logits, printing them as
   they come. chat_mode: stop at the first blank line of the text, never print
   it, and leave the turn closed by "\n\n" in the state. Returns 0 or -1. */
static int generate(chat *c, long max, int chat_mode) {
    rwkvx_decoder dec;
    size_t len = 0, shown = 0, max_piece = rwkvx_tokenizer_max_bytes(c->tok) + 4;
    long n_gen = 0;
    const char *blank = NULL;
    double t0 = now(), dt;
    rwkvx_decoder_init(&dec);
    rwkvx_sampler_reset(c->sampler);
    while (!blank && (max <= 0 || n_gen < max) && !interrupted) {
        int32_t t = rwkvx_sample(c->sampler, c->logits);
        size_t k = 0, from, end;
        if (t < 0) break;
        if (rwkvx_tokenizer_token(c->tok, t, NULL, NULL) != RWKVX_TOKEN_TEXT) break; /* end of text (-p) */
        n_gen++;
        if (!grow((void **)&c->reply, &c->reply_cap, len + max_piece, 1)) return -1;
        rwkvx_decoder_push(&dec, c->tok, t, c->reply + len, max_piece, &k);
        from = len > 0 ? len - 1 : 0;
        len += k;
        if (chat_mode) blank = find_blank(c->reply + from, len - from);
        /* the last token of a reply is fed without logits: the turn ends here */
        if (feed(c, &t, 1, blank != NULL || (max > 0 && n_gen == max && !chat_mode)) < 0) return -1;
        end = blank ? (size_t)(blank - c->reply) : len;
        if (chat_mode && !blank)
            while (end > shown && c->reply[end - 1] == '\n') end--; /* might become a blank line */
        fwrite(c->reply + shown, 1, end - shown, stdout);
        fflush(stdout);
        shown = end;
    }
    dt = now() - t0;
    if (!grow((void **)&c->reply, &c->reply_cap, len + 4, 1)) return -1;
    len += rwkvx_decoder_flush(&dec, c->reply + len);
    if (!blank) {
        fwrite(c->reply + shown, 1, len - shown, stdout);
        shown = len;
    }
    if (chat_mode || isatty(STDOUT_FILENO)) fputc('\n', stdout);
    fflush(stdout);
    if (interrupted) fprintf(stderr, "[interrupted]\n");
    fprintf(stderr, "[%ld tokens in %.2f s: %.1f tokens/s]\n", n_gen, dt, dt > 0 ? (double)n_gen / dt : 0.0);
    if (chat_mode && !blank) { /* close the turn so the next one starts in the format */
        int ends_nl = len > 0 && c->reply[len - 1] == '\n';
        if (feed_text(c, ends_nl ? "\n" : "\n\n", ends_nl ? 1 : 2, 1) < 0) return -1;
    }
    interrupted = 0;
    return 0;
}

/* ---- messages and commands ---- */

/* The reference demo's cleaning: "\r\n" -> "\n", strip, runs of "\n" -> "\n". */
static size_t clean(char *s, size_t n) {
    size_t i, k = 0, a = 0;
    for (i = 0; i < n; i++) {
        if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n') continue;
        if (s[i] == '\n' && k > 0 && s[k - 1] == '\n') continue;
        s[k++] = s[i];
    }
    while (k > 0 && strchr(" \t\n\r\v\f", s[k - 1])) k--;
    while (a < k && strchr(" \t\n\r\v\f", s[a])) a++;
    memmove(s, s + a, k - a);
    s[k - a] = 0;
    return k - a;
}

static int feed_system(chat *c) {
    char *text;
    size_t n;
    int r;
    if (!c->system) return 0;
    n = strlen(c->system);
    text = (char *)malloc(n + 16);
    if (!text) return -1;
    memcpy(text, "System: ", 8);
    memcpy(text + 8, c->system, n);
    n = clean(text + 8, n) + 8;
    memcpy(text + n, "\n\n", 2);
    r = feed_text(c, text, n + 2, 1);
    free(text);
    return r;
}

/* A saved conversation: "RWKVXCHT", u32 version 1, u32 0, u64 RNG, u64
   state size, then the state (rwkvx_state_save). */
static void save_chat(chat *c, const char *path) {
    size_t n = rwkvx_state_save_bytes(c->state);
    unsigned char *buf = (unsigned char *)malloc(n);
    uint32_t head[2] = {1, 0};
    uint64_t rng = rwkvx_sampler_rng(c->sampler), size = n;
    FILE *f;
    if (!buf || rwkvx_state_save(c->state, buf, n) != RWKVX_OK) { fprintf(stderr, "cannot save the state\n"); free(buf); return; }
    f = fopen(path, "wb");
    if (!f || fwrite("RWKVXCHT", 1, 8, f) != 8 || fwrite(head, 4, 2, f) != 2 || fwrite(&rng, 8, 1, f) != 1 ||
        fwrite(&size, 8, 1, f) != 1 || fwrite(buf, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "cannot write '%s'\n", path);
        if (f) fclose(f);
    } else {
        fprintf(stderr, "saved %lu tokens of conversation to '%s'\n", (unsigned long)rwkvx_state_position(c->state), path);
    }
    free(buf);
}

/* Bytes from the current position to the end of `f` (-1 if unknown), so a
   saved size is checked against the file before anything is allocated. */
static long bytes_left(FILE *f) {
    long here = ftell(f), end;
    if (here < 0 || fseek(f, 0, SEEK_END) != 0) return -1;
    end = ftell(f);
    if (fseek(f, here, SEEK_SET) != 0 || end < here) return -1;
    return end - here;
}

static void load_chat(chat *c, const char *path) {
    FILE *f = fopen(path, "rb");
    char magic[8];
    uint32_t head[2];
    uint64_t rng, size;
    unsigned char *buf = NULL;
    rwkvx_status s;
    if (!f) { fprintf(stderr, "cannot open '%s'\n", path); return; }
    if (fread(magic, 1, 8, f) != 8 || memcmp(magic, "RWKVXCHT", 8) != 0 || fread(head, 4, 2, f) != 2 || head[0] != 1 ||
        fread(&rng, 8, 1, f) != 1 || fread(&size, 8, 1, f) != 1 || bytes_left(f) != (long)size ||
        !(buf = (unsigned char *)malloc((size_t)size + 1)) || fread(buf, 1, (size_t)size, f) != size || fgetc(f) != EOF) {
        fprintf(stderr, "'%s' is not a saved conversation\n", path);
    } else if ((s = rwkvx_state_load(c->state, buf, (size_t)size)) != RWKVX_OK) {
        fprintf(stderr, "cannot load '%s': %s\n", path, rwkvx_status_string(s));
    } else {
        rwkvx_sampler_set_rng(c->sampler, rng);
        fprintf(stderr, "loaded %lu tokens of conversation from '%s'\n", (unsigned long)rwkvx_state_position(c->state), path);
    }
    free(buf);
    fclose(f);
}

static int parse_float(const char *s, double lo, double hi, float *out) {
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (!*s || *end || errno || !(v >= lo && v <= hi)) return 0;
    *out = (float)v;
    return 1;
}

static int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

/* Runs one command line ("/..."). Returns 1 to quit, -1 on a fatal error. */
static int command(chat *c, char *line) {
    char *name = line + 1, *arg = name;
    rwkvx_sampler_params p;
    while (*arg && *arg != ' ' && *arg != '\t') arg++;
    if (*arg) *arg++ = 0;
    while (*arg == ' ' || *arg == '\t') arg++;
    rwkvx_sampler_get_params(c->sampler, &p);
    if (strcmp(name, "quit") == 0 || strcmp(name, "exit") == 0) return 1;
    if (strcmp(name, "help") == 0) help();
    else if (strcmp(name, "reset") == 0) {
        rwkvx_state_reset(c->state);
        if (feed_system(c) < 0) return -1;
        fprintf(stderr, "new conversation\n");
    } else if (strcmp(name, "save") == 0 || strcmp(name, "load") == 0) {
        if (!*arg) fprintf(stderr, "/%s needs a file name\n", name);
        else if (name[0] == 's') save_chat(c, arg);
        else load_chat(c, arg);
    } else if (strcmp(name, "temp") == 0 || strcmp(name, "topp") == 0) {
        float *v = name[1] == 'e' ? &p.temperature : &p.top_p;
        if (*arg && !parse_float(arg, 0, name[1] == 'e' ? 100 : 1, v)) fprintf(stderr, "/%s: bad value '%s'\n", name, arg);
        else if (*arg) rwkvx_sampler_set_params(c->sampler, &p);
        fprintf(stderr, "%s = %g\n", name[1] == 'e' ? "temperature" : "top-p", (double)*v);
    } else {
        fprintf(stderr, "unknown command '/%s' (try /help)\n", name);
    }
    return 0;
}

/* Reads one message (lines ending in '\' continue it). 0 at the end of input. */
static int read_message(chat *c, char **buf, size_t *cap, size_t *len) {
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t n;
    *len = 0;
    for (;;) {
        if (c->tty_in) { fputs(*len ? "... " : "User: ", stdout); fflush(stdout); }
        errno = 0;
        n = getline(&line, &line_cap, stdin);
        if (n < 0) {
            if (errno == EINTR || interrupted) { /* Ctrl-C at the prompt */
                clearerr(stdin);
                interrupted = 0;
                fprintf(stderr, "\n(Ctrl-C stops a reply; /quit or Ctrl-D leaves)\n");
                *len = 0;
                continue;
            }
            free(line);
            return *len > 0;
        }
        if (n > 0 && line[n - 1] == '\n') n--;
        if (n > 0 && line[n - 1] == '\r') n--;
        if (!grow((void **)buf, cap, *len + (size_t)n + 2, 1)) { free(line); return 0; }
        memcpy(*buf + *len, line, (size_t)n);
        *len += (size_t)n;
        if (*len > 0 && (*buf)[*len - 1] == '\\') { (*buf)[*len - 1] = '\n'; continue; }
        (*buf)[*len] = 0;
        free(line);
        return 1;
    }
}

static int chat_loop(chat *c) {
    char *msg = NULL, *text = NULL;
    size_t cap = 0, len, text_cap = 0;
    int r = 0;
    if (c->tty_in) fprintf(stderr, "rwkvx-chat: /help lists the commands, Ctrl-D or /quit leaves\n");
    if (feed_system(c) < 0) return -1;
    while (r == 0 && read_message(c, &msg, &cap, &len)) {
        char *m = msg;
        if (m[0] == '/' && m[1] != '/') {
            clean(m, len);
            r = command(c, m);
            continue;
        }
        if (m[0] == '/') m++, len--; /* "//text" sends "/text" */
        len = clean(m, len);
        if (!len) { fprintf(stderr, "(say something)\n"); continue; }
        if (!grow((void **)&text, &text_cap, len + 32, 1)) { r = -1; break; }
        memcpy(text, "User: ", 6);
        memcpy(text + 6, m, len);
        memcpy(text + 6 + len, "\n\nAssistant:", 12);
        fputs("Assistant:", stdout);
        fflush(stdout);
        interrupted = 0;
        r = feed_text(c, text, len + 18, 0);
        if (r == 1) { fputc('\n', stdout); r = 0; interrupted = 0; continue; } /* prompt interrupted */
        if (r == 0) r = generate(c, c->max_tokens, 1);
    }
    free(msg);
    free(text);
    return r < 0 ? -1 : 0;
}

static int bad_arg(const char *what, const char *arg) {
    fprintf(stderr, "rwkvx-chat: %s%s%s%s\n", what, arg ? " '" : "", arg ? arg : "", arg ? "'" : "");
    return 1;
}

int main(int argc, char **argv) {
    const char *model_path = NULL, *prompt = NULL, *dump_logits = NULL, *dump_tokens = NULL;
    rwkvx_sampler_params p;
    rwkvx_options opt;
    chat c;
    long seed = -1, threads = 0, chunk_size = 0, chunk_topk = 0, n_tokens = -1, v;
    char err[RWKVX_ERROR_MAX];
    struct sigaction sa;
    int i, rc = 0;
    memset(&c, 0, sizeof c);
    memset(&opt, 0, sizeof opt);
    rwkvx_sampler_defaults(&p);
    p.top_p = 0.3f;          /* the reference chat demo's settings */
    p.presence = 0.0f;
    p.frequency = 1.0f;
    p.decay = 0.996f;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = strcmp(a, "-m") == 0 || strcmp(a, "--system") == 0 || strcmp(a, "--temp") == 0 ||
                    strcmp(a, "--top-p") == 0 || strcmp(a, "--top-k") == 0 || strcmp(a, "--min-p") == 0 ||
                    strcmp(a, "--presence") == 0 || strcmp(a, "--frequency") == 0 || strcmp(a, "--seed") == 0 ||
                    strcmp(a, "--threads") == 0 || strcmp(a, "--chunk-size") == 0 || strcmp(a, "--chunk-topk") == 0 ||
                    strcmp(a, "-p") == 0 || strcmp(a, "-n") == 0 || strcmp(a, "--dump-logits") == 0 ||
                    strcmp(a, "--dump-tokens") == 0 || strcmp(a, "--max-context") == 0 || strcmp(a, "--kv-limit") == 0;
        if (strcmp(a, "--version") == 0) { printf("rwkvx-chat %s\n", RWKVX_VERSION_STRING); return 0; }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { usage(stdout); return 0; }
        if (!takes) return bad_arg(a[0] == '-' ? "unknown option" : "unexpected argument", a);
        if (!val) return bad_arg("missing value after", a);
        i++;
        if (strcmp(a, "-m") == 0) model_path = val;
        else if (strcmp(a, "--system") == 0) c.system = val;
        else if (strcmp(a, "-p") == 0) prompt = val;
        else if (strcmp(a, "--dump-logits") == 0) dump_logits = val;   /* for tests: logits at every step */
        else if (strcmp(a, "--dump-tokens") == 0) dump_tokens = val;   /* for tests: every token fed */
        else if (strcmp(a, "--temp") == 0) { if (!parse_float(val, 0, 100, &p.temperature)) return bad_arg("--temp needs a number in [0, 100], not", val); }
        else if (strcmp(a, "--top-p") == 0) { if (!parse_float(val, 0, 1, &p.top_p)) return bad_arg("--top-p needs a number in [0, 1], not", val); }
        else if (strcmp(a, "--min-p") == 0) { if (!parse_float(val, 0, 1, &p.min_p)) return bad_arg("--min-p needs a number in [0, 1], not", val); }
        else if (strcmp(a, "--presence") == 0) { if (!parse_float(val, -100, 100, &p.presence)) return bad_arg("--presence needs a number in [-100, 100], not", val); }
        else if (strcmp(a, "--frequency") == 0) { if (!parse_float(val, -100, 100, &p.frequency)) return bad_arg("--frequency needs a number in [-100, 100], not", val); }
        else if (strcmp(a, "--top-k") == 0) { if (!parse_long(val, 0, 1 << 30, &v)) return bad_arg("--top-k needs a whole number >= 0, not", val); p.top_k = (int)v; }
        else if (strcmp(a, "--seed") == 0) { if (!parse_long(val, 0, 0x7fffffffL, &seed)) return bad_arg("--seed needs a whole number >= 0, not", val); }
        else if (strcmp(a, "--threads") == 0) { if (!parse_long(val, 1, 4096, &threads)) return bad_arg("--threads needs a whole number >= 1, not", val); }
        else if (strcmp(a, "--chunk-size") == 0) { if (!parse_long(val, 1, 1 << 30, &chunk_size)) return bad_arg("--chunk-size needs a whole number >= 1, not", val); }
        else if (strcmp(a, "--chunk-topk") == 0) { if (!parse_long(val, 1, 1 << 30, &chunk_topk)) return bad_arg("--chunk-topk needs a whole number >= 1, not", val); }
        else if (strcmp(a, "--max-context") == 0) { if (!parse_long(val, 0, 0x7fffffffL, &v)) return bad_arg("--max-context needs a whole number >= 0, not", val); opt.max_context = (int)v; }
        else if (strcmp(a, "--kv-limit") == 0) { if (rwkvx_parse_kv_limit(val, &opt) != RWKVX_OK) return bad_arg("--kv-limit needs MAX[,KEEP[,WINDOW]] (whole numbers >= 1), not", val); }
        else if (strcmp(a, "-n") == 0) { if (!parse_long(val, 0, 0x7fffffffL, &n_tokens)) return bad_arg("-n needs a whole number >= 0, not", val); }
    }
    if (!model_path) return bad_arg("no model: use -m MODEL.gguf (see --help)", NULL);
    if (prompt && !*prompt) return bad_arg("-p needs a non-empty prompt", NULL);
    opt.chunk_size = (int)chunk_size;
    opt.chunk_topk = (int)chunk_topk;
    if (rwkvx_load_file(&c.model, model_path, &opt, err) != RWKVX_OK) return bad_arg(err, NULL);
    c.tok = rwkvx_model_tokenizer(c.model);
    if (!c.tok) { rwkvx_free(c.model); return bad_arg("the model has no vocabulary (convert it with --vocab):", model_path); }
    c.n_vocab = rwkvx_n_vocab(c.model);
    c.max_tokens = n_tokens >= 0 ? n_tokens : prompt ? 200 : 1000;
    c.tty_in = isatty(STDIN_FILENO);
    c.logits = (float *)malloc(sizeof(float) * (size_t)c.n_vocab);
    if (seed < 0) seed = (long)(time(NULL) ^ (long)getpid() * 2654435761L) & 0x7fffffffL;
    if (!c.logits || rwkvx_state_new(c.model, &c.state) != RWKVX_OK ||
        rwkvx_sampler_new(&c.sampler, c.n_vocab, c.tok, &p, (uint64_t)seed) != RWKVX_OK) {
        fprintf(stderr, "rwkvx-chat: out of memory\n");
        return 1;
    }
    rwkvx_state_set_threads(c.state, (int)threads);
    /* never sample what is not text; -p stops at end of text (token 0) instead */
    for (i = 0; i < c.n_vocab; i++)
        if (rwkvx_tokenizer_token(c.tok, i, NULL, NULL) != RWKVX_TOKEN_TEXT && !(prompt && i == 0))
            rwkvx_sampler_ban(c.sampler, i, 1);
    if ((dump_logits && !(c.dump_logits = fopen(dump_logits, "wb"))) || (dump_tokens && !(c.dump_tokens = fopen(dump_tokens, "w"))))
        return bad_arg("cannot write", dump_logits && !c.dump_logits ? dump_logits : dump_tokens);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: Ctrl-C at the prompt returns from getline */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    if (prompt) {
        int r = feed_text(&c, prompt, strlen(prompt), 0);
        if (r < 0) rc = 1;
        else if (r == 0 && c.max_tokens > 0 && generate(&c, c.max_tokens, 0) < 0) rc = 1;
    } else if (chat_loop(&c) < 0) {
        rc = 1;
    }
    if (c.dump_logits) fclose(c.dump_logits);
    if (c.dump_tokens) fclose(c.dump_tokens);
    free(c.logits);
    free(c.ids);
    free(c.reply);
    rwkvx_sampler_free(c.sampler);
    rwkvx_state_free(c.state);
    rwkvx_free(c.model);
    return rc;
}
