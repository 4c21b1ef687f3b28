/* test_internals: the tests that reach the library's internals (its static
   functions and structures), compiled with the implementation into one
   program per kernel build (make: test_internals, _asan, _scalar, _avx2 and
   the AArch64 one). The implementation is most of a build's time: one
   program instead of one per test saves a compile of it per build.

     test_internals quant blocks FILE.blocks...   ggml's block types: golden blocks,
     test_internals quant models MODEL TYPE...      whole models of every type
                                                    (tests/internals/quant.h)
     test_internals batch CASES FIXTURES GGUFS TYPE...   rwkvx_eval_batch against
                                                    rwkvx_eval (internals/batch.h)
     test_internals kv-limit RWKVX_MODEL RWKV7_MODEL     the opt-in K/V limit
                                                    (internals/kv_limit.h)

   Each prints "test_internals NAME: N passed, N failed" (tests/check.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every allocation the library makes goes through these: the K/V-limit test
   checks that none is made once the cache has first filled. */
static long n_allocs;
static void *counting_malloc(size_t n) { n_allocs++; return malloc(n); }
static void *counting_realloc(void *p, size_t n) { n_allocs++; return realloc(p, n); }
#define RWKVX_MALLOC(n) counting_malloc(n)
#define RWKVX_REALLOC(p, n) counting_realloc(p, n)
#define RWKVX_FREE(p) free(p)
#define RWKVX_IMPLEMENTATION
#include "../rwkvx.h"

#include "check.h"

#include "internals/quant.h"
#include "internals/batch.h"
#include "internals/kv_limit.h"

int main(int argc, char **argv) {
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } tests[] = {{"quant", quant_main}, {"batch", batch_main}, {"kv-limit", kv_limit_main}};
    size_t i;
    for (i = 0; argc >= 2 && i < sizeof tests / sizeof tests[0]; i++)
        if (strcmp(argv[1], tests[i].name) == 0) return tests[i].run(argc - 1, argv + 1);
    fprintf(stderr, "usage: test_internals quant|batch|kv-limit ARGS... (tests/test_internals.c)\n");
    return 2;
}
