/* check.h: the checks of the C test programs (include once, in the test's
   only translation unit).

     CHECK(cond, fmt, ...)   counts a pass, or prints "FAIL file:line: message"
                             and counts a failure; returns cond (0 or 1), so
                             `if (!CHECK(...)) return;` skips what depends on it
     CHECK_PASS()            counts a pass that has no condition to test (the
                             step ran without crashing: ASan decides)
     check_report("name")    prints "name: N passed, N failed" and returns the
                             program's exit status (1 if anything failed)

   Only the first CHECK_MAX_PRINTED failures are printed: a broken kernel fails
   thousands of checks the same way. */
#ifndef RWKVX_TESTS_CHECK_H
#define RWKVX_TESTS_CHECK_H

#include <stdarg.h>
#include <stdio.h>

#ifndef CHECK_MAX_PRINTED
#define CHECK_MAX_PRINTED 50
#endif

static int check_passed, check_failed;

#if defined(__GNUC__) || defined(__clang__)
static int check_at(int ok, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#endif
static int check_at(int ok, const char *file, int line, const char *fmt, ...) {
    va_list ap;
    if (ok) {
        check_passed++;
        return 1;
    }
    if (++check_failed <= CHECK_MAX_PRINTED) {
        printf("FAIL %s:%d: ", file, line);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        if (check_failed == CHECK_MAX_PRINTED) printf("(further failures are counted, not printed)\n");
    }
    return 0;
}

#define CHECK(cond, ...) check_at((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)
#define CHECK_PASS() ((void)check_passed++)

static int check_report(const char *program) {
    printf("%s: %d passed, %d failed\n", program, check_passed, check_failed);
    fflush(stdout);
    return check_failed ? 1 : 0;
}

#endif
