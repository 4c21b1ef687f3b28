/* tools/cli.h: the command-line layer every rwkvx program shares.

   One meaning and one range per option, one way to fail, and one way to write
   a file, so that the tools behave alike and no tool destroys a user's file.
   Include it first (it sets _POSIX_C_SOURCE for the headers after it); it
   needs only libc and POSIX, not rwkvx.h, so the converter uses it too.

   Errors: cli_fail prints "PROGRAM: message" on stderr (one line) and returns
   1; cli_die does the same and exits with status 1, removing any output still
   in its temporary file. The library never exits; only the tools do.

   Options:
     cli_value          the value of option argv[*i] ("option X needs a value")
     cli_unknown        "unknown option 'X'" / "unexpected argument 'X'"
     cli_parse_long     strict decimal: no sign unless negative values are
                        allowed, no spaces, no empty string, in [lo, hi]
     cli_parse_int, cli_parse_double, cli_parse_count (k = 1024, m = 1024^2)
     cli_threads        --threads N: 0 (the default: every core) to 1024
     cli_max_threads    the threads an OpenMP build may use
     cli_chunk_size     --chunk-size B, cli_chunk_topk --chunk-topk K: 1 to
                        2^24, what the loader accepts in a model file
     cli_max_context    --max-context N: 0 (no limit) to 2^31-1
     cli_kv_limit       --kv-limit MAX[,KEEP[,WINDOW]] with the loader's rule
     cli_parse_tokens   a token list ("1,2,3", "1 2 3", one per line)

   Files:
     cli_check_input    refuses a missing path or a directory with its reason
     cli_read_file      a whole (small) file, for token lists and vocabularies
     cli_output_open    checks an output first (not a directory, not one of
                        the inputs by device and inode), then opens a
                        temporary file made by mkstemp next to it; removed on
                        failure, on exit without commit, and on SIGINT, SIGTERM
                        and SIGHUP
     cli_output_commit  flushes, checks every write, renames over the output
     cli_output_abort   drops the temporary file
     cli_finish         the exit status once stdout is flushed and closed
                        (a failed write of the output is status 1, one line)

   cli_start(NAME) names the program for messages and makes a write to a
   closed pipe an error to report (EPIPE) instead of a silent SIGPIPE.
   cli_robust_threads(argv), first in the server, makes OpenMP's threads
   sleep rather than spin while they wait (see there). */
#ifndef RWKVX_CLI_H
#define RWKVX_CLI_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CLI_FN static __attribute__((unused))
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_FN static
#define CLI_PRINTF(f, a)
#endif

#define CLI_THREADS_MAX 1024
#define CLI_CHUNK_MAX (1L << 24)   /* the loader's bound on chunk size and top-k */
#define CLI_KV_MAX (1L << 30)      /* the loader's bound on --kv-limit MAX */
#define CLI_MAX_OUTPUTS 8          /* outputs open at once in one program */

static const char *cli_program = "rwkvx";

/* ---- messages --------------------------------------------------------- */

static void cli_vmessage(const char *prefix, const char *fmt, va_list ap) {
    fprintf(stderr, "%s: %s", cli_program, prefix);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

CLI_FN CLI_PRINTF(1, 2) int cli_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cli_vmessage("", fmt, ap);
    va_end(ap);
    return 1;
}

CLI_FN CLI_PRINTF(1, 2) void cli_warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cli_vmessage("warning: ", fmt, ap);
    va_end(ap);
}

/* exit() runs cli_remove_temporaries (atexit), so nothing is left behind */
CLI_FN CLI_PRINTF(1, 2) void cli_die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    cli_vmessage("", fmt, ap);
    va_end(ap);
    exit(1);
}

CLI_FN double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

CLI_FN void cli_start(const char *name) {
    cli_program = name;
    signal(SIGPIPE, SIG_IGN); /* a closed pipe is then EPIPE, reported by cli_finish */
}

/* OpenMP's default wait policy spins at every barrier for a while before it
   sleeps; when other threads need the cores (the server's HTTP threads), a
   waiting thread burns their time. Passive waiting sleeps at once, at some
   cost on an idle machine (the other tools rely on the library's thread
   tuner instead: docs/PERFORMANCE.md, "Load"). libgomp reads
   OMP_WAIT_POLICY when it is loaded, before main, so the server calls this
   first: unless the user chose a policy
   (OMP_WAIT_POLICY or GOMP_SPINCOUNT set, to anything), it sets
   OMP_WAIT_POLICY=passive and executes itself again (Linux; elsewhere, or if
   that fails, it runs on as it is). */
CLI_FN void cli_robust_threads(char **argv) {
#if defined(_OPENMP) && defined(__linux__)
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv);
#else
    (void)argv;
#endif
}

/* The threads an OpenMP build may use (1 without OpenMP): what --threads 0
   means where a tool needs the number itself. */
CLI_FN int cli_max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* ---- numbers ---------------------------------------------------------- */

/* Decimal digits with a '-' only where lo < 0; no '+', spaces, "-0" or
   trailing text. */
CLI_FN int cli_parse_long(const char *s, long lo, long hi, long *out) {
    const char *p = s;
    char *end;
    long v;
    if (*p == '-' && lo < 0) p++;
    if (*p < '0' || *p > '9' || (p != s && p[0] == '0')) return 0;
    errno = 0;
    v = strtol(s, &end, 10);
    if (*end || errno || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

CLI_FN int cli_parse_int(const char *s, int lo, int hi, int *out) {
    long v;
    if (!cli_parse_long(s, lo, hi, &v)) return 0;
    *out = (int)v;
    return 1;
}

/* A count with an optional k (1024) or m (1024^2) suffix: "512", "64k". */
CLI_FN int cli_parse_count(const char *s, long lo, long hi, long *out) {
    char digits[32];
    size_t n = strlen(s);
    long v, scale = 1;
    if (n > 0 && (s[n - 1] == 'k' || s[n - 1] == 'K')) scale = 1024, n--;
    else if (n > 0 && (s[n - 1] == 'm' || s[n - 1] == 'M')) scale = 1024 * 1024, n--;
    if (n == 0 || n >= sizeof digits) return 0;
    memcpy(digits, s, n);
    digits[n] = 0;
    if (!cli_parse_long(digits, 0, LONG_MAX / scale, &v) || v * scale < lo || v * scale > hi) return 0;
    *out = v * scale;
    return 1;
}

CLI_FN int cli_parse_double(const char *s, double lo, double hi, double *out) {
    char *end;
    double v;
    if (!*s || *s == ' ' || *s == '\t' || *s == '+') return 0;
    errno = 0;
    v = strtod(s, &end);
    if (*end || errno || !(v >= lo && v <= hi)) return 0;
    *out = v;
    return 1;
}

/* ---- options ---------------------------------------------------------- */

/* The value of option argv[*i], which moves *i past it. A missing value, or
   another option where the value should be, is an error. */
CLI_FN const char *cli_value(int argc, char **argv, int *i) {
    const char *name = argv[*i], *v;
    if (*i + 1 >= argc) cli_die("option %s needs a value", name);
    v = argv[++*i];
    if (v[0] == '-' && v[1] == '-' && v[2]) cli_die("option %s needs a value (found option %s)", name, v);
    return v;
}

CLI_FN void cli_unknown(const char *arg) {
    if (arg[0] == '-' && arg[1]) cli_die("unknown option '%s' (see --help)", arg);
    cli_die("unexpected argument '%s' (see --help)", arg);
}

/* A whole number option in [lo, hi], or an exit with the one message all
   tools use for it. */
CLI_FN long cli_long_option(const char *name, const char *v, long lo, long hi, const char *note) {
    long n;
    if (!cli_parse_long(v, lo, hi, &n))
        cli_die("bad %s '%s' (a whole number from %ld to %ld%s%s)", name, v, lo, hi, note ? "; " : "", note ? note : "");
    return n;
}

CLI_FN int cli_threads(const char *v) {
    return (int)cli_long_option("--threads", v, 0, CLI_THREADS_MAX, "0: the default, every core");
}
CLI_FN int cli_chunk_size(const char *v) { return (int)cli_long_option("--chunk-size", v, 1, CLI_CHUNK_MAX, NULL); }
CLI_FN int cli_chunk_topk(const char *v) { return (int)cli_long_option("--chunk-topk", v, 1, CLI_CHUNK_MAX, NULL); }
CLI_FN int cli_max_context(const char *v) {
    return (int)cli_long_option("--max-context", v, 0, INT_MAX, "0: no limit");
}

/* --kv-limit MAX[,KEEP[,WINDOW]], checked by the loader's rule: KEEP
   defaults to MAX*4/5, WINDOW to MAX/10, and 0 < WINDOW < KEEP < MAX. The
   parts left out are 0 (the library fills in the defaults). */
CLI_FN void cli_kv_limit(const char *v, int *max, int *keep, int *window) {
    long part[3] = {0, 0, 0}, k, w;
    char buf[64], *p = buf, *comma;
    int n = 0;
    if (strlen(v) >= sizeof buf) cli_die("bad --kv-limit '%.40s...' (MAX[,KEEP[,WINDOW]])", v);
    strcpy(buf, v);
    for (;;) {
        comma = strchr(p, ',');
        if (comma) *comma = 0;
        if (n == 3 || !cli_parse_long(p, 1, CLI_KV_MAX, &part[n]))
            cli_die("bad --kv-limit '%s' (MAX[,KEEP[,WINDOW]], whole numbers from 1 to %ld)", v, CLI_KV_MAX);
        n++;
        if (!comma) break;
        p = comma + 1;
    }
    k = part[1] ? part[1] : part[0] * 4 / 5;
    w = part[2] ? part[2] : part[0] / 10;
    if (!(0 < w && w < k && k < part[0]))
        cli_die("bad --kv-limit '%s': MAX,KEEP,WINDOW = %ld,%ld,%ld needs 0 < WINDOW < KEEP < MAX", v, part[0], k, w);
    *max = (int)part[0], *keep = (int)part[1], *window = (int)part[2];
}

/* The options every program that runs a model takes, with one meaning each. */
typedef struct {
    int threads;                     /* 0: the default */
    int chunk_size, chunk_topk;      /* 0: the model file's */
    int max_context;                 /* 0: no limit */
    int kv_max, kv_keep, kv_window;  /* 0, 0, 0: the exact rule */
} cli_model_options;

#define CLI_MODEL_USAGE \
    "  --threads N        threads, 0 to 1024 (default 0: up to every core, tuned)\n" \
    "  --chunk-size B     sparse attention chunk size, 1 to 2^24 (default: the model file's)\n" \
    "  --chunk-topk K     chunks each query attends to, 1 to 2^24 (default: the model file's)\n" \
    "  --max-context N    a state holds at most N tokens (default 0: no limit)\n" \
    "  --kv-limit MAX[,KEEP[,WINDOW]]\n" \
    "                     bounded K/V memory (an approximation): each sparse head keeps at\n" \
    "                     most MAX positions, evicting to KEEP (default MAX*4/5), the\n" \
    "                     WINDOW (default MAX/10) most recent always kept\n"

/* 1 when argv[*i] is one of the model options (its value read, *i moved
   past it), 0 when it is not one of them. */
CLI_FN int cli_model_option(int argc, char **argv, int *i, cli_model_options *mo) {
    const char *a = argv[*i];
    if (!strcmp(a, "--threads")) mo->threads = cli_threads(cli_value(argc, argv, i));
    else if (!strcmp(a, "--chunk-size")) mo->chunk_size = cli_chunk_size(cli_value(argc, argv, i));
    else if (!strcmp(a, "--chunk-topk")) mo->chunk_topk = cli_chunk_topk(cli_value(argc, argv, i));
    else if (!strcmp(a, "--max-context")) mo->max_context = cli_max_context(cli_value(argc, argv, i));
    else if (!strcmp(a, "--kv-limit")) cli_kv_limit(cli_value(argc, argv, i), &mo->kv_max, &mo->kv_keep, &mo->kv_window);
    else return 0;
    return 1;
}

/* Copies cli_model_options into an rwkvx_options (a macro: cli.h does not
   include rwkvx.h, so the converter can use it). */
#define CLI_SET_RWKVX_OPTIONS(opt, mo) \
    ((opt).chunk_size = (mo).chunk_size, (opt).chunk_topk = (mo).chunk_topk, (opt).max_context = (mo).max_context, \
     (opt).kv_max = (mo).kv_max, (opt).kv_keep = (mo).kv_keep, (opt).kv_window = (mo).kv_window)

/* Token ids from 0 to 2^31-1 separated by commas or white space. An empty
   item ("1,,2", ",1", "1,") or a sign is refused with one line naming the
   item (`where` says where the list came from). *n gets the count; the
   array is malloc'd (NULL with *n = 0 for an empty list). */
CLI_FN int32_t *cli_parse_tokens(const char *text, const char *where, size_t *n) {
    size_t cap = 0, count = 0, item = 1;
    int32_t *ids = NULL;
    const char *p = text;
    int need_item = 0; /* after a comma */
    for (;;) {
        const char *start;
        long v;
        char word[24];
        size_t len;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p || *p == ',') {
            if (need_item || *p == ',') {
                free(ids);
                cli_die("bad token list in %s: item %lu is empty", where, (unsigned long)item);
            }
            break;
        }
        start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') p++;
        len = (size_t)(p - start);
        snprintf(word, sizeof word, "%.*s", (int)(len < 20 ? len : 20), start);
        if (len >= sizeof word || !cli_parse_long(word, 0, INT32_MAX, &v)) {
            size_t k;
            for (k = 0; word[k]; k++)
                if ((unsigned char)word[k] < 32 || (unsigned char)word[k] > 126) word[k] = '?';
            free(ids);
            cli_die("bad token list in %s: item %lu '%s%s' is not a token id (0 to %ld)", where,
                    (unsigned long)item, word, len > 20 ? "..." : "", (long)INT32_MAX);
        }
        if (count == cap) {
            int32_t *more = (int32_t *)realloc(ids, (cap ? 2 * cap : 64) * sizeof *ids);
            if (!more) { free(ids); cli_die("out of memory reading the token list"); }
            ids = more, cap = cap ? 2 * cap : 64;
        }
        ids[count++] = (int32_t)v;
        item++;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        need_item = *p == ',';
        if (need_item) p++;
    }
    *n = count;
    return ids;
}

/* ---- input files ------------------------------------------------------ */

/* 1 when `path` can be opened as a file; else one line saying why and 0. */
CLI_FN int cli_check_input(const char *path) {
    struct stat st;
    FILE *f;
    if (stat(path, &st) != 0) return !cli_fail("cannot open '%s': %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return !cli_fail("'%s' is a directory, not a file", path);
    if (!(f = fopen(path, "rb"))) return !cli_fail("cannot open '%s': %s", path, strerror(errno));
    fclose(f);
    return 1;
}

/* The whole file, NUL-terminated (its length in *len if len is not NULL);
   NULL after one line of error. */
CLI_FN char *cli_read_file(const char *path, size_t *len) {
    FILE *f;
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    if (!cli_check_input(path) || !(f = fopen(path, "rb"))) return NULL;
    do {
        if (cap - n < 2) {
            char *more = (char *)realloc(buf, cap ? 2 * cap : 1 << 16);
            if (!more) { free(buf); fclose(f); cli_fail("out of memory reading '%s'", path); return NULL; }
            buf = more, cap = cap ? 2 * cap : 1 << 16;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    if (ferror(f)) { free(buf); fclose(f); cli_fail("cannot read '%s': %s", path, strerror(errno)); return NULL; }
    fclose(f);
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* ---- outputs ---------------------------------------------------------- */

typedef struct {
    const char *path;   /* the output the user named */
    char *tmp;          /* the temporary file (NULL: written in place) */
    FILE *f;
} cli_output;

/* Temporary files not yet renamed: removed by a signal or at exit. The
   handler reads this list, so an entry is set only once its string is whole. */
static char *volatile cli_temporaries[CLI_MAX_OUTPUTS];

static void cli_remove_temporaries(void) {
    int i;
    for (i = 0; i < CLI_MAX_OUTPUTS; i++)
        if (cli_temporaries[i]) unlink(cli_temporaries[i]);
}

static void cli_on_fatal_signal(int sig) {
    cli_remove_temporaries();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void cli_watch_signals(void) {
    static int done;
    static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    int i;
    if (done) return;
    done = 1;
    atexit(cli_remove_temporaries);
    for (i = 0; i < 3; i++) {
        struct sigaction old, sa;
        /* a program that handles a signal itself (chat's Ctrl-C) keeps it */
        if (sigaction(sigs[i], NULL, &old) != 0 || old.sa_handler != SIG_DFL) continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = cli_on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

static void cli_forget_temporary(const char *tmp) {
    int i;
    for (i = 0; i < CLI_MAX_OUTPUTS; i++)
        if (cli_temporaries[i] == tmp) cli_temporaries[i] = NULL;
}

/* 0 with one line when `path` may not be written: a directory, or the same
   file (device and inode, so links and other names count) as one of the
   NULL-terminated `inputs`. */
CLI_FN int cli_check_output(const char *path, const char *const *inputs) {
    struct stat out, in;
    if (!path || !*path) return !cli_fail("an empty output file name");
    if (stat(path, &out) != 0) return 1; /* a new file: its directory is checked by creating it */
    if (S_ISDIR(out.st_mode)) return !cli_fail("cannot write '%s': it is a directory", path);
    for (; inputs && *inputs; inputs++)
        if (stat(*inputs, &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino)
            return !cli_fail("refusing to write '%s': it is the input '%s'", path, *inputs);
    return 1;
}

/* Checks `path` (cli_check_output) and opens its temporary file; NULL after
   one line of error. A special file that exists (/dev/null, a pipe) is
   written in place: it cannot be replaced, and holds no data to lose. */
CLI_FN FILE *cli_output_open(cli_output *o, const char *path, const char *const *inputs) {
    struct stat st;
    mode_t mask;
    int fd, slot;
    memset(o, 0, sizeof *o);
    o->path = path;
    if (!cli_check_output(path, inputs)) return NULL;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (!(o->f = fopen(path, "wb"))) cli_fail("cannot write '%s': %s", path, strerror(errno));
        return o->f;
    }
    for (slot = 0; slot < CLI_MAX_OUTPUTS && cli_temporaries[slot]; slot++) {}
    if (slot == CLI_MAX_OUTPUTS) { cli_fail("too many outputs open at once"); return NULL; }
    cli_watch_signals();
    if (!(o->tmp = (char *)malloc(strlen(path) + 16))) { cli_fail("out of memory"); return NULL; }
    sprintf(o->tmp, "%s.tmp-XXXXXX", path); /* same directory: the rename cannot cross file systems */
    if ((fd = mkstemp(o->tmp)) < 0) {
        cli_fail("cannot create '%s': %s", path, strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        return NULL;
    }
    cli_temporaries[slot] = o->tmp;
    mask = umask(0);
    umask(mask);
    /* mkstemp makes it 0600; the output gets the mode a new file would get, or the old file's */
    fchmod(fd, stat(path, &st) == 0 ? st.st_mode & 07777 : 0666 & ~mask);
    if (!(o->f = fdopen(fd, "wb"))) {
        cli_fail("cannot write '%s': %s", path, strerror(errno));
        close(fd);
        unlink(o->tmp);
        cli_forget_temporary(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
    }
    return o->f;
}

CLI_FN void cli_output_abort(cli_output *o) {
    if (o->f) fclose(o->f);
    o->f = NULL;
    if (o->tmp) {
        unlink(o->tmp);
        cli_forget_temporary(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
    }
}

/* Flushes and closes the output, checking every write, and renames the
   temporary file over it. 1, or 0 after one line (nothing left behind). */
CLI_FN int cli_output_commit(cli_output *o) {
    int bad;
    if (!o->f) return 0;
    errno = 0;
    bad = fflush(o->f) != 0 || ferror(o->f);
    if (fclose(o->f) != 0) bad = 1;
    o->f = NULL;
    if (bad) {
        cli_fail("cannot write '%s': %s", o->path, errno ? strerror(errno) : "write error");
        cli_output_abort(o);
        return 0;
    }
    if (o->tmp && rename(o->tmp, o->path) != 0) {
        cli_fail("cannot write '%s': %s", o->path, strerror(errno));
        cli_output_abort(o);
        return 0;
    }
    if (o->tmp) {
        cli_forget_temporary(o->tmp);
        free(o->tmp);
        o->tmp = NULL;
    }
    return 1;
}

static int cli_stdout_errno; /* the reason of the first failed write seen */

/* 1 when writing standard output has failed so far (long runs stop early);
   call it right after a write or fflush, while errno still says why. */
CLI_FN int cli_stdout_failed(void) {
    if (ferror(stdout) && !cli_stdout_errno) cli_stdout_errno = errno ? errno : EIO;
    return ferror(stdout) != 0;
}

/* The program's exit status: `rc`, or 1 when standard output could not be
   written (a full disk, a closed pipe), with one line saying so. */
CLI_FN int cli_finish(int rc) {
    errno = 0;
    if (fflush(stdout) != 0) cli_stdout_errno = cli_stdout_errno ? cli_stdout_errno : errno ? errno : EIO;
    if (cli_stdout_failed() | (fclose(stdout) != 0)) {
        if (!cli_stdout_errno) cli_stdout_errno = errno ? errno : EIO;
        cli_fail("cannot write standard output: %s", strerror(cli_stdout_errno));
        return 1;
    }
    return rc;
}

#endif /* RWKVX_CLI_H */
