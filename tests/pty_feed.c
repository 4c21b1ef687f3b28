/* pty_feed: run a program on a pseudo-terminal, as a user at a terminal would.

   pty_feed INPUT OUTPUT PROMPT CMD [ARGS...]

   CMD gets the terminal as stdin and stdout (its stderr is ours). Each time
   the terminal shows PROMPT (the chat's "User: "), the next line of INPUT is
   typed (however long it is), so nothing is typed before the program waits
   for it; once INPUT is used up, Ctrl-D is typed. Everything the terminal
   shows goes to OUTPUT. Exits with CMD's status (1 if it was killed or timed
   out after 120 s). Used by tests/test_tools.sh for the chat's long lines. */
#define _XOPEN_SOURCE 600 /* posix_openpt, grantpt, unlockpt, ptsname */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) return NULL;
    buf = (char *)malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* Writes all n bytes to the terminal, reading what it shows meanwhile (its
   echo would otherwise fill up and block us both). */
static int type_text(int master, const char *p, size_t n, FILE *out) {
    while (n > 0) {
        struct pollfd pf;
        char buf[4096];
        pf.fd = master, pf.events = POLLIN | POLLOUT, pf.revents = 0;
        if (poll(&pf, 1, 120000) <= 0) return 0;
        if (pf.revents & POLLIN) {
            ssize_t got = read(master, buf, sizeof buf);
            if (got <= 0) return 0;
            fwrite(buf, 1, (size_t)got, out);
        }
        if (pf.revents & POLLOUT) {
            ssize_t put = write(master, p, n < 1024 ? n : 1024);
            if (put < 0 && errno != EAGAIN) return 0;
            if (put > 0) p += put, n -= (size_t)put;
        }
    }
    return 1;
}

int main(int argc, char **argv) {
    size_t in_len, at = 0, seen = 0, plen;
    char *input, window[256];
    FILE *out;
    int master, status;
    pid_t pid;
    time_t start = time(NULL);
    if (argc < 5) { fprintf(stderr, "usage: pty_feed INPUT OUTPUT PROMPT CMD [ARGS...]\n"); return 2; }
    if (!(input = read_all(argv[1], &in_len)) || !(out = fopen(argv[2], "wb"))) { perror("pty_feed"); return 2; }
    plen = strlen(argv[3]);
    if (plen == 0 || plen >= sizeof window) { fprintf(stderr, "pty_feed: bad prompt\n"); return 2; }
    if ((master = posix_openpt(O_RDWR | O_NOCTTY)) < 0 || grantpt(master) || unlockpt(master)) { perror("pty_feed: pty"); return 2; }
    if ((pid = fork()) == 0) {
        int slave = open(ptsname(master), O_RDWR);
        setsid();
        if (slave < 0) _exit(127);
        dup2(slave, 0), dup2(slave, 1);
        close(master);
        execvp(argv[4], argv + 4);
        _exit(127);
    }
    memset(window, 0, sizeof window);
    for (;;) {
        struct pollfd pf;
        char buf[4096];
        ssize_t got, k;
        if (time(NULL) - start > 120) { kill(pid, SIGKILL); break; }
        pf.fd = master, pf.events = POLLIN, pf.revents = 0;
        if (poll(&pf, 1, 1000) < 0) break;
        if (!(pf.revents & (POLLIN | POLLHUP))) continue;
        if ((got = read(master, buf, sizeof buf)) <= 0) break; /* EIO: the program has closed the terminal */
        fwrite(buf, 1, (size_t)got, out);
        for (k = 0; k < got; k++) { /* look for the prompt in what was shown */
            memmove(window, window + 1, sizeof window - 2);
            window[sizeof window - 2] = buf[k];
            if (++seen >= plen && memcmp(window + sizeof window - 1 - plen, argv[3], plen) == 0) {
                const char *nl = at < in_len ? memchr(input + at, '\n', in_len - at) : NULL;
                size_t n = nl ? (size_t)(nl - (input + at)) + 1 : in_len - at;
                if (at < in_len) {
                    if (!type_text(master, input + at, n, out)) break;
                    at += n;
                } else if (write(master, "\004", 1) != 1) {
                    break;
                }
            }
        }
    }
    fclose(out);
    if (waitpid(pid, &status, 0) < 0) return 1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
