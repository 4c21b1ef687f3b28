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
#include "cli.h" /* first: it sets _POSIX_C_SOURCE (getline, sigaction, termios) */
#include "../rwkvx.h"
#include "world_chat.h"
#include <termios.h>

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
    const char *model_path;     /* /save refuses to write over it */
    int max_context;            /* --max-context (0: no limit) */
    uint64_t n_system;          /* tokens of the system prompt: a state holding no more has no conversation */
    int tty_in;
} chat;

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
        "  -p PROMPT          complete PROMPT (plain text, no chat format), echoed, and exit\n"
        "  -n N               tokens to generate for -p (default 200); the most tokens\n"
        "                     of a chat reply (default 1000, 0 = no limit)\n"
        "model options (--max-context: a turn that would pass it is refused, the chat goes on):\n"
        CLI_MODEL_USAGE);
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

enum { FEED_FULL = 2 };

/* Feeds n tokens; logits of the last one go to c->logits unless `no_logits`.
   Long runs show a progress bar and can be interrupted, which restores the
   state as it was. Returns 0, 1 when interrupted, FEED_FULL (nothing fed)
   when the tokens would take the state past --max-context, -1 on error. */
static int feed(chat *c, const int32_t *ids, size_t n, int no_logits) {
    float *out = no_logits ? NULL : c->logits;
    rwkvx_status s = RWKVX_OK;
    size_t i;
    if (!n) return 0;
    if (c->max_context && rwkvx_state_position(c->state) + n > (uint64_t)c->max_context) return FEED_FULL;
    if (n < PROGRESS_MIN) {
        s = rwkvx_eval(c->state, ids, n, out, 0);
    } else {
        rwkvx_state *backup = NULL;
        double t0 = cli_now();
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
        fprintf(stderr, " (%.0f tokens/s)\n", (double)n / (cli_now() - t0));
        rwkvx_state_free(backup);
    }
    if (s != RWKVX_OK) {
        cli_fail("evaluation failed: %s", rwkvx_status_string(s));
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

/* Tokenizes into c->ids; the count, or -1 after a message. */
static long encode(chat *c, const char *text, size_t len) {
    size_t n = 0;
    if (!grow((void **)&c->ids, &c->ids_cap, len + 1, sizeof *c->ids)) return -!!cli_fail("out of memory");
    if (rwkvx_tokenize(c->tok, text, len, c->ids, c->ids_cap, &n) != RWKVX_OK)
        return -!!cli_fail("the text has bytes this vocabulary cannot encode");
    return (long)n;
}

static int feed_text(chat *c, const char *text, size_t len, int no_logits) {
    long n = encode(c, text, len);
    return n < 0 ? -1 : feed(c, c->ids, (size_t)n, no_logits);
}

/* ---- generating ---- */

static const char *find_blank(const char *s, size_t n) {
    size_t i;
    for (i = 0; i + 1 < n; i++)
        if (s[i] == '\n' && s[i + 1] == '\n') return s + i;
    return NULL;
}

/* 1 when `n` more tokens fit under --max-context. */
static int room_for(const chat *c, uint64_t n) {
    return !c->max_context || rwkvx_state_position(c->state) + n <= (uint64_t)c->max_context;
}

/* Samples up to `max` tokens (0: no limit) after c->logits, printing them as
   they come. chat_mode: stop at the first blank line of the text, never print
   it, and leave the turn closed by "\n\n" in the state. Each token is shown
   before it is fed, and a Ctrl-C stops before the next one is shown: nothing
   appears after the interruption. --max-context stops the reply where the
   turn can still be closed (two tokens kept for "\n\n"). Returns 0 or -1. */
static int generate(chat *c, long max, int chat_mode) {
    rwkvx_decoder dec;
    size_t len = 0, shown = 0, max_piece = rwkvx_tokenizer_max_bytes(c->tok) + 4;
    long n_gen = 0;
    const char *blank = NULL;
    double t0 = cli_now(), dt;
    int full = 0;
    rwkvx_decoder_init(&dec);
    rwkvx_sampler_reset(c->sampler);
    while (!blank && (max <= 0 || n_gen < max) && !interrupted) {
        int32_t t;
        size_t k = 0, from, end;
        if (!room_for(c, chat_mode ? 3 : 1)) { full = 1; break; }
        t = rwkvx_sample(c->sampler, c->logits);
        if (t < 0 || interrupted) break;
        if (rwkvx_tokenizer_token(c->tok, t, NULL, NULL) != RWKVX_TOKEN_TEXT) break; /* end of text (-p) */
        n_gen++;
        if (!grow((void **)&c->reply, &c->reply_cap, len + max_piece, 1)) return -1;
        rwkvx_decoder_push(&dec, c->tok, t, c->reply + len, max_piece, &k);
        from = len > 0 ? len - 1 : 0;
        len += k;
        if (chat_mode) blank = find_blank(c->reply + from, len - from);
        end = blank ? (size_t)(blank - c->reply) : len;
        if (chat_mode && !blank)
            while (end > shown && c->reply[end - 1] == '\n') end--; /* might become a blank line */
        fwrite(c->reply + shown, 1, end - shown, stdout);
        fflush(stdout);
        if (cli_stdout_failed()) return -1; /* cli_finish says why */
        shown = end;
        /* the last token of a reply is fed without logits: the turn ends here */
        if (feed(c, &t, 1, blank != NULL || (max > 0 && n_gen == max && !chat_mode)) != 0) return -1;
    }
    dt = cli_now() - t0;
    if (!grow((void **)&c->reply, &c->reply_cap, len + 4, 1)) return -1;
    len += rwkvx_decoder_flush(&dec, c->reply + len);
    if (!blank) {
        fwrite(c->reply + shown, 1, len - shown, stdout);
        shown = len;
    }
    if (chat_mode || isatty(STDOUT_FILENO)) fputc('\n', stdout);
    fflush(stdout);
    if (interrupted) fprintf(stderr, "[interrupted]\n");
    if (full && chat_mode) fprintf(stderr, "[the conversation is at --max-context (%d tokens): /reset starts a new one]\n", c->max_context);
    else if (full) fprintf(stderr, "[stopped at --max-context (%d tokens)]\n", c->max_context);
    fprintf(stderr, "[%ld tokens in %.2f s: %.1f tokens/s]\n", n_gen, dt, dt > 0 ? (double)n_gen / dt : 0.0);
    if (chat_mode && !blank) { /* close the turn so the next one starts in the format */
        int ends_nl = len > 0 && c->reply[len - 1] == '\n';
        if (feed_text(c, ends_nl ? "\n" : "\n\n", ends_nl ? 1 : 2, 1) < 0) return -1;
    }
    interrupted = 0;
    return cli_stdout_failed() ? -1 : 0;
}

/* ---- messages and commands ---- */

/* The reference demo's cleaning (tools/world_chat.h) */
static size_t clean(char *s, size_t n) { return world_chat_clean(s, n); }

static int feed_system(chat *c) {
    char *text;
    size_t n;
    int r;
    c->n_system = 0;
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
    if (r == FEED_FULL) r = -!!cli_fail("the system prompt does not fit in --max-context %d", c->max_context);
    c->n_system = rwkvx_state_position(c->state);
    return r;
}

/* 1 when `path` does not exist, is empty, or holds a saved conversation:
   /save replaces only those (a model, or any other file, is not a state). */
static int may_replace(const char *path) {
    char magic[8];
    FILE *f = fopen(path, "rb");
    size_t n;
    if (!f) return errno == ENOENT;
    n = fread(magic, 1, 8, f);
    fclose(f);
    return n == 0 || (n == 8 && memcmp(magic, "RWKVXCHT", 8) == 0);
}

/* A saved conversation: "RWKVXCHT", u32 version 1, u32 0, u64 RNG, u64
   state size, then the state (rwkvx_state_save). */
static void save_chat(chat *c, const char *path) {
    size_t n = rwkvx_state_save_bytes(c->state);
    unsigned char *buf = (unsigned char *)malloc(n);
    uint32_t head[2] = {1, 0};
    uint64_t rng = rwkvx_sampler_rng(c->sampler), size = n;
    const char *inputs[2];
    cli_output out;
    inputs[0] = c->model_path, inputs[1] = NULL;
    if (!buf || rwkvx_state_save(c->state, buf, n) != RWKVX_OK) { fprintf(stderr, "cannot save the state\n"); free(buf); return; }
    if (!cli_check_output(path, inputs)) {
        /* said why */
    } else if (!may_replace(path))
        fprintf(stderr, "'%s' exists and is not a saved conversation: not overwritten (remove it or pick another name)\n", path);
    else if (cli_output_open(&out, path, inputs)) {
        fwrite("RWKVXCHT", 1, 8, out.f);
        fwrite(head, 4, 2, out.f);
        fwrite(&rng, 8, 1, out.f);
        fwrite(&size, 8, 1, out.f);
        fwrite(buf, 1, n, out.f);
        if (cli_output_commit(&out))
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
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) { fprintf(stderr, "'%s' is a directory\n", path); if (f) fclose(f); return; }
    if (!f) { fprintf(stderr, "cannot open '%s': %s\n", path, strerror(errno)); return; }
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
    double v;
    if (!cli_parse_double(s, lo, hi, &v)) return 0;
    *out = (float)v;
    return 1;
}

/* A number option in [lo, hi], or an exit with one line. */
static double chat_number(const char *name, const char *v, double lo, double hi) {
    double x;
    if (!cli_parse_double(v, lo, hi, &x)) cli_die("bad %s '%s' (a number from %g to %g)", name, v, lo, hi);
    return x;
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

/* ---- reading a terminal ---- */

/* A terminal in its usual (canonical) mode cuts a line at 4,095 bytes, so a
   long paste would be cut without a word. While a line is read the terminal is
   put in non-canonical mode with our own echo and editing (Backspace, Ctrl-U,
   Ctrl-D on an empty line; escape sequences such as arrow keys are ignored),
   and set back as it was before the reply is generated, at exit and on a
   fatal signal. Ctrl-C still raises SIGINT (ISIG stays on). */
static struct termios tty_saved;
static volatile sig_atomic_t tty_raw;

static void tty_restore(void) {
    if (tty_raw) tcsetattr(STDIN_FILENO, TCSADRAIN, &tty_saved);
    tty_raw = 0;
}

static void on_fatal_signal(int sig) {
    tty_restore();
    cli_on_fatal_signal(sig); /* removes a /save still in its temporary file, then dies */
}

static int tty_make_raw(void) {
    struct termios raw;
    if (tcgetattr(STDIN_FILENO, &tty_saved) != 0) return 0;
    raw = tty_saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) != 0) return 0; /* keeps what was typed ahead */
    tty_raw = 1;
    return 1;
}

/* Bytes read from the terminal but not used yet (a paste of several lines). */
static unsigned char tty_pending[4096];
static size_t tty_pending_at, tty_pending_len;

/* One byte from the terminal: 0..255, -1 at the end of input, -2 on Ctrl-C. */
static int tty_byte(void) {
    if (tty_pending_at == tty_pending_len) {
        ssize_t n;
        fflush(stdout); /* the echo so far */
        n = read(STDIN_FILENO, tty_pending, sizeof tty_pending);
        if (n < 0 && (errno == EINTR || interrupted)) return -2;
        if (n <= 0) return -1;
        tty_pending_at = 0, tty_pending_len = (size_t)n;
    }
    return tty_pending[tty_pending_at++];
}

/* Shows `prompt` and reads one line of any length from the terminal into
   *line (no newline). The prompt appears once the terminal is in
   non-canonical mode, so nothing typed after it is cut. Returns the line's
   length, -1 at the end of input, -2 on Ctrl-C. */
static long tty_read_line(const char *prompt, char **line, size_t *cap) {
    size_t n = 0;
    int ch, esc = 0, raw = tty_make_raw();
    long r = -1;
    fputs(prompt, stdout);
    fflush(stdout);
    if (!raw) { /* not a terminal after all: plain reading */
        ssize_t got = getline(line, cap, stdin);
        if (got < 0) return errno == EINTR || interrupted ? -2 : -1;
        return (long)(got > 0 && (*line)[got - 1] == '\n' ? got - 1 : got);
    }
    for (;;) {
        if ((ch = tty_byte()) < 0) { r = ch; break; }
        if (esc) { /* ESC [ or O, parameters, then a letter or '~' ends it */
            if (esc == 1 && (ch == '[' || ch == 'O')) esc = 2;
            else if (esc == 1 || (ch >= 0x40 && ch <= 0x7e)) esc = 0;
            continue;
        }
        if (ch == '\n' || ch == '\r') { fputc('\n', stdout); r = (long)n; break; }
        if (ch == 4) { if (n == 0) break; continue; }           /* Ctrl-D */
        if (ch == 27) { esc = 1; continue; }
        if (ch == 0x7f || ch == 8) {                             /* Backspace: one UTF-8 character */
            while (n > 0 && ((unsigned char)(*line)[n - 1] & 0xc0) == 0x80) n--;
            if (n > 0) { n--; fputs("\b \b", stdout); }
            continue;
        }
        if (ch == 0x15) { for (; n > 0; n--) if (((unsigned char)(*line)[n - 1] & 0xc0) != 0x80) fputs("\b \b", stdout); continue; }
        if (ch < 32 && ch != '\t') continue;
        if (!grow((void **)line, cap, n + 2, 1)) break;
        (*line)[n++] = (char)ch;
        fputc(ch, stdout);
    }
    fflush(stdout);
    tty_restore();
    if (r >= 0) (*line)[n] = 0;
    return r;
}

/* Reads one message (lines ending in '\' continue it). 0 at the end of input. */
static int read_message(chat *c, char **buf, size_t *cap, size_t *len) {
    char *line = NULL;
    size_t line_cap = 0;
    long n;
    *len = 0;
    for (;;) {
        if (c->tty_in) {
            n = tty_read_line(*len ? "... " : "User: ", &line, &line_cap);
        } else {
            ssize_t got;
            errno = 0;
            got = getline(&line, &line_cap, stdin);
            n = got >= 0 ? (long)got : errno == EINTR || interrupted ? -2 : -1;
            if (n > 0 && line[n - 1] == '\n') n--;
        }
        if (n == -2) { /* Ctrl-C at the prompt */
            clearerr(stdin);
            interrupted = 0;
            fprintf(stderr, "\n(Ctrl-C stops a reply; /quit or Ctrl-D leaves)\n");
            *len = 0;
            continue;
        }
        if (n < 0) {
            free(line);
            return *len > 0;
        }
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

/* One user turn. A turn that would take the conversation past --max-context
   (leaving no room for a reply of one token and the closing "\n\n") is
   refused with a message and changes nothing: the chat goes on. */
static int user_turn(chat *c, const char *msg, size_t len, char **text, size_t *text_cap) {
    long n;
    int r;
    if (!grow((void **)text, text_cap, len + 32, 1)) return -1;
    memcpy(*text, "User: ", 6);
    memcpy(*text + 6, msg, len);
    memcpy(*text + 6 + len, "\n\nAssistant:", 12);
    if ((n = encode(c, *text, len + 18)) < 0) return -1;
    if (!room_for(c, (uint64_t)n + 3)) {
        uint64_t held = rwkvx_state_position(c->state);
        if (held <= c->n_system)
            fprintf(stderr, "this message is %ld tokens, more than --max-context %d leaves room for: not sent\n", n, c->max_context);
        else
            fprintf(stderr, "this message (%ld tokens) would take the conversation past --max-context %d (it holds %lu): "
                            "not sent; /reset starts a new one\n", n, c->max_context, (unsigned long)held);
        return 0;
    }
    fputs("Assistant:", stdout);
    fflush(stdout);
    interrupted = 0;
    r = feed(c, c->ids, (size_t)n, 0);
    if (r == 1) { fputc('\n', stdout); interrupted = 0; return 0; } /* prompt interrupted: the state is as it was */
    return r == 0 ? generate(c, c->max_tokens, 1) : -1;
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
        r = user_turn(c, m, len, &text, &text_cap);
    }
    free(msg);
    free(text);
    return r < 0 ? -1 : 0;
}

/* One line on stderr: what runs (type, blocks, context, threads). */
static void print_summary(const chat *c, int threads) {
    rwkvx_info in;
    int max = cli_max_threads();
    rwkvx_model_info(c->model, &in);
    fprintf(stderr, "rwkvx-chat: %s: %s, %d RWKV-7 block%s", c->model_path, in.n_sparse ? "RWKV-X" : "RWKV-7", in.n_rwkv,
            in.n_rwkv == 1 ? "" : "s");
    if (in.n_sparse) fprintf(stderr, " + %d sparse (chunk %d, top-k %d)", in.n_sparse, in.chunk_size, in.chunk_topk);
    fprintf(stderr, ", C=%d, V=%d; context ", in.n_embd, in.n_vocab);
    if (in.max_context) fprintf(stderr, "%d tokens", in.max_context);
    else fprintf(stderr, "unlimited");
    if (in.kv_max) fprintf(stderr, ", K/V limit %d,%d,%d", in.kv_max, in.kv_keep, in.kv_window);
    fprintf(stderr, "; %d thread%s\n", threads > 0 && threads < max ? threads : max, (threads > 0 && threads < max ? threads : max) == 1 ? "" : "s");
}

/* -p: the prompt, echoed, then its completion. */
static int complete(chat *c, const char *prompt) {
    long n = encode(c, prompt, strlen(prompt));
    int r;
    if (n < 0) return -1;
    if (!room_for(c, (uint64_t)n))
        return -!!cli_fail("the prompt is %ld tokens, more than --max-context %d", n, c->max_context);
    fputs(prompt, stdout);
    fflush(stdout);
    r = feed(c, c->ids, (size_t)n, 0);
    if (r != 0) return r == 1 ? 0 : -1;
    if (c->max_tokens > 0) return generate(c, c->max_tokens, 0);
    if (isatty(STDOUT_FILENO)) fputc('\n', stdout);
    return 0;
}

int main(int argc, char **argv) {
    const char *prompt = NULL, *dump_logits = NULL, *dump_tokens = NULL;
    rwkvx_sampler_params p;
    rwkvx_options opt;
    cli_model_options mo;
    cli_output dump_logits_out, dump_tokens_out;
    chat c;
    long seed = -1, n_tokens = -1;
    char err[RWKVX_ERROR_MAX];
    struct sigaction sa;
    int i, rc = 0;
    cli_start("rwkvx-chat");
    memset(&c, 0, sizeof c);
    memset(&opt, 0, sizeof opt);
    memset(&mo, 0, sizeof mo);
    memset(&dump_logits_out, 0, sizeof dump_logits_out);
    memset(&dump_tokens_out, 0, sizeof dump_tokens_out);
    rwkvx_sampler_defaults(&p);
    p.top_p = 0.3f;          /* the reference chat demo's settings */
    p.presence = 0.0f;
    p.frequency = 1.0f;
    p.decay = 0.996f;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--version")) { printf("rwkvx-chat %s\n", RWKVX_VERSION_STRING); return cli_finish(0); }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) { usage(stdout); return cli_finish(0); }
        if (strcmp(a, "--version") == 0) { printf("%s %s\n", cli_program, RWKVX_VERSION_STRING); return cli_finish(0); }
        if (cli_model_option(argc, argv, &i, &mo)) continue;
        if (strcmp(a, "-m") == 0) c.model_path = cli_value(argc, argv, &i);
        else if (strcmp(a, "--system") == 0) c.system = cli_value(argc, argv, &i);
        else if (strcmp(a, "-p") == 0) prompt = cli_value(argc, argv, &i);
        else if (strcmp(a, "--dump-logits") == 0) dump_logits = cli_value(argc, argv, &i);   /* for tests: logits at every step */
        else if (strcmp(a, "--dump-tokens") == 0) dump_tokens = cli_value(argc, argv, &i);   /* for tests: every token fed */
        else if (strcmp(a, "--temp") == 0) p.temperature = (float)chat_number(a, cli_value(argc, argv, &i), 0, 100);
        else if (strcmp(a, "--top-p") == 0) p.top_p = (float)chat_number(a, cli_value(argc, argv, &i), 0, 1);
        else if (strcmp(a, "--min-p") == 0) p.min_p = (float)chat_number(a, cli_value(argc, argv, &i), 0, 1);
        else if (strcmp(a, "--presence") == 0) p.presence = (float)chat_number(a, cli_value(argc, argv, &i), -100, 100);
        else if (strcmp(a, "--frequency") == 0) p.frequency = (float)chat_number(a, cli_value(argc, argv, &i), -100, 100);
        else if (strcmp(a, "--top-k") == 0) p.top_k = (int)cli_long_option(a, cli_value(argc, argv, &i), 0, 1 << 30, "0: off");
        else if (strcmp(a, "--seed") == 0) seed = cli_long_option(a, cli_value(argc, argv, &i), 0, 0x7fffffffL, NULL);
        else if (strcmp(a, "-n") == 0) n_tokens = cli_long_option(a, cli_value(argc, argv, &i), 0, 0x7fffffffL, NULL);
        else cli_unknown(a);
    }
    if (!c.model_path) return cli_fail("no model: use -m MODEL.gguf (see --help)");
    if (prompt && !*prompt) return cli_fail("-p needs a non-empty prompt");
    if (!cli_check_input(c.model_path)) return 1;
    {
        const char *inputs[2];
        inputs[0] = c.model_path, inputs[1] = NULL;
        if (dump_logits && !(c.dump_logits = cli_output_open(&dump_logits_out, dump_logits, inputs))) return 1;
        if (dump_tokens && !(c.dump_tokens = cli_output_open(&dump_tokens_out, dump_tokens, inputs))) return 1;
    }
    CLI_SET_RWKVX_OPTIONS(opt, mo);
    c.max_context = mo.max_context;
    if (rwkvx_load_file(&c.model, c.model_path, &opt, err) != RWKVX_OK) return cli_fail("cannot load '%s': %s", c.model_path, err);
    c.tok = rwkvx_model_tokenizer(c.model);
    if (!c.tok) { rwkvx_free(c.model); return cli_fail("'%s' has no vocabulary (convert it with --vocab)", c.model_path); }
    c.n_vocab = rwkvx_n_vocab(c.model);
    c.max_tokens = n_tokens >= 0 ? n_tokens : prompt ? 200 : 1000;
    c.tty_in = !prompt && isatty(STDIN_FILENO);
    c.logits = (float *)malloc(sizeof(float) * (size_t)c.n_vocab);
    if (seed < 0) seed = (long)(time(NULL) ^ (long)getpid() * 2654435761L) & 0x7fffffffL;
    if (!c.logits || rwkvx_state_new(c.model, &c.state) != RWKVX_OK ||
        rwkvx_sampler_new(&c.sampler, c.n_vocab, c.tok, &p, (uint64_t)seed) != RWKVX_OK)
        return cli_fail("out of memory");
    rwkvx_state_set_threads(c.state, mo.threads);
    /* never sample what is not text; -p stops at end of text (token 0) instead */
    for (i = 0; i < c.n_vocab; i++)
        if (rwkvx_tokenizer_token(c.tok, i, NULL, NULL) != RWKVX_TOKEN_TEXT && !(prompt && i == 0))
            rwkvx_sampler_ban(c.sampler, i, 1);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint; /* no SA_RESTART: Ctrl-C at the prompt returns from reading */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_fatal_signal; /* the terminal set back, a /save in progress removed */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    atexit(tty_restore);
    if (!prompt) print_summary(&c, mo.threads);
    if (prompt ? complete(&c, prompt) < 0 : chat_loop(&c) < 0) rc = 1;
    if (c.dump_logits && !cli_output_commit(&dump_logits_out)) rc = 1;
    if (c.dump_tokens && !cli_output_commit(&dump_tokens_out)) rc = 1;
    free(c.logits);
    free(c.ids);
    free(c.reply);
    rwkvx_sampler_free(c.sampler);
    rwkvx_state_free(c.state);
    rwkvx_free(c.model);
    return cli_finish(rc);
}
