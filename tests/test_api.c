/* The API conventions of the header's manual, checked function by function:
   every getter, setter and free function given NULL, every status function
   given a NULL object or pointer (RWKVX_ERR_ARGUMENT, the result set to
   NULL), the consistent names against the deprecated ones they replace (the
   same results), and the version macros.

   test_api MODEL.gguf    (a model with a vocabulary, e.g.
                           fuzz/corpus/gguf/r2s1-bytes-q8_0.gguf) */
#include "../rwkvx.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

static int all_zero(const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

static void test_version(void) {
    char want[64];
    snprintf(want, sizeof want, "%d.%d.%d", RWKVX_VERSION_MAJOR, RWKVX_VERSION_MINOR, RWKVX_VERSION_PATCH);
    CHECK(strcmp(want, RWKVX_VERSION_STRING) == 0, "RWKVX_VERSION_STRING spells MAJOR.MINOR.PATCH");
}

/* Getters, setters and free functions with NULL: no crash, zero / NULL. */
static void test_null_getters(void) {
    rwkvx_info info;
    rwkvx_sampler_params params;
    size_t len = 7;
    char out[4];
    memset(&info, 0xff, sizeof info);
    rwkvx_model_info(NULL, &info);
    CHECK(all_zero(&info, sizeof info), "rwkvx_model_info(NULL) zeroes the struct");
    rwkvx_model_info(NULL, NULL);
    CHECK(rwkvx_n_vocab(NULL) == 0, "rwkvx_n_vocab(NULL) == 0");
    CHECK(rwkvx_token_bytes(NULL, 0, &len) == NULL && len == 7, "rwkvx_token_bytes(NULL) == NULL");
    CHECK(rwkvx_model_tokenizer(NULL) == NULL, "rwkvx_model_tokenizer(NULL) == NULL");
    CHECK(rwkvx_state_position(NULL) == 0, "rwkvx_state_position(NULL) == 0");
    CHECK(rwkvx_state_kv_positions(NULL) == 0, "rwkvx_state_kv_positions(NULL) == 0");
    CHECK(rwkvx_state_save_bytes(NULL) == 0, "rwkvx_state_save_bytes(NULL) == 0");
    CHECK(rwkvx_tokenizer_n_tokens(NULL) == 0, "rwkvx_tokenizer_n_tokens(NULL) == 0");
    CHECK(rwkvx_tokenizer_max_bytes(NULL) == 0, "rwkvx_tokenizer_max_bytes(NULL) == 0");
    CHECK(rwkvx_tokenizer_token(NULL, 0, NULL, NULL) == RWKVX_TOKEN_INVALID, "rwkvx_tokenizer_token(NULL) invalid");
    CHECK(rwkvx_decoder_flush(NULL, out) == 0, "rwkvx_decoder_flush(NULL) == 0");
    memset(&params, 0xff, sizeof params);
    rwkvx_sampler_get_params(NULL, &params);
    CHECK(all_zero(&params, sizeof params), "rwkvx_sampler_get_params(NULL) zeroes the struct");
    CHECK(rwkvx_sampler_rng(NULL) == 0, "rwkvx_sampler_rng(NULL) == 0");
    CHECK(rwkvx_sample(NULL, NULL) == -1, "rwkvx_sample(NULL) == -1");
    /* void functions: nothing happens */
    rwkvx_state_reset(NULL);
    rwkvx_state_set_threads(NULL, 2);
    rwkvx_decoder_init(NULL);
    rwkvx_sampler_defaults(NULL);
    rwkvx_sampler_reset(NULL);
    rwkvx_sampler_seed(NULL, 1);
    rwkvx_sampler_set_rng(NULL, 1);
    rwkvx_model_free(NULL);
    rwkvx_free(NULL);
    rwkvx_state_free(NULL);
    rwkvx_tokenizer_free(NULL);
    rwkvx_sampler_free(NULL);
    CHECK(1, "void and free functions accept NULL");
}

/* Functions returning a status: RWKVX_ERR_ARGUMENT, and a result set to NULL. */
static void test_null_status(const rwkvx_model *m) {
    rwkvx_model *model = (rwkvx_model *)m;
    rwkvx_state *st = (rwkvx_state *)1;
    rwkvx_tokenizer *tok = (rwkvx_tokenizer *)1;
    rwkvx_sampler *smp = (rwkvx_sampler *)1;
    rwkvx_options opt;
    rwkvx_decoder dec;
    char buf[64], err[RWKVX_ERROR_MAX];
    int32_t ids[4] = {0, 0, 0, 0};
    size_t n;
    memset(&opt, 0, sizeof opt);
    rwkvx_decoder_init(&dec);
    CHECK(rwkvx_load_file(NULL, "x", NULL, err) == RWKVX_ERR_ARGUMENT, "rwkvx_load_file(NULL result)");
    CHECK(rwkvx_load_file(&model, NULL, NULL, NULL) == RWKVX_ERR_ARGUMENT && model == NULL, "rwkvx_load_file(NULL path)");
    model = (rwkvx_model *)1;
    CHECK(rwkvx_load_memory(&model, NULL, 10, NULL, NULL) == RWKVX_ERR_ARGUMENT && model == NULL, "rwkvx_load_memory(NULL data)");
    CHECK(rwkvx_state_create(NULL, m) == RWKVX_ERR_ARGUMENT, "rwkvx_state_create(NULL result)");
    CHECK(rwkvx_state_create(&st, NULL) == RWKVX_ERR_ARGUMENT && st == NULL, "rwkvx_state_create(NULL model)");
    st = (rwkvx_state *)1;
    CHECK(rwkvx_state_new(NULL, &st) == RWKVX_ERR_ARGUMENT && st == NULL, "rwkvx_state_new(NULL model)");
    st = (rwkvx_state *)1;
    CHECK(rwkvx_state_clone(&st, NULL) == RWKVX_ERR_ARGUMENT && st == NULL, "rwkvx_state_clone(NULL source)");
    st = (rwkvx_state *)1;
    CHECK(rwkvx_state_copy(NULL, &st) == RWKVX_ERR_ARGUMENT && st == NULL, "rwkvx_state_copy(NULL source)");
    CHECK(rwkvx_state_save(NULL, buf, sizeof buf) == RWKVX_ERR_ARGUMENT, "rwkvx_state_save(NULL state)");
    CHECK(rwkvx_state_load(NULL, buf, sizeof buf) == RWKVX_ERR_ARGUMENT, "rwkvx_state_load(NULL state)");
    CHECK(rwkvx_eval(NULL, ids, 1, NULL, 0) == RWKVX_ERR_ARGUMENT, "rwkvx_eval(NULL state)");
    CHECK(rwkvx_parse_kv_limit(NULL, &opt) == RWKVX_ERR_ARGUMENT, "rwkvx_parse_kv_limit(NULL text)");
    CHECK(rwkvx_parse_kv_limit("100", NULL) == RWKVX_ERR_ARGUMENT, "rwkvx_parse_kv_limit(NULL options)");
    CHECK(rwkvx_tokenizer_from_vocab(&tok, NULL, 5, NULL) == RWKVX_ERR_ARGUMENT && tok == NULL,
          "rwkvx_tokenizer_from_vocab(NULL text)");
    CHECK(rwkvx_tokenize(NULL, "a", 1, ids, 4, &n) == RWKVX_ERR_ARGUMENT && n == 0, "rwkvx_tokenize(NULL tokenizer)");
    CHECK(rwkvx_detokenize(NULL, ids, 1, buf, sizeof buf, &n) == RWKVX_ERR_ARGUMENT && n == 0,
          "rwkvx_detokenize(NULL tokenizer)");
    CHECK(rwkvx_decoder_push(NULL, rwkvx_model_tokenizer(m), 65, buf, sizeof buf, &n) == RWKVX_ERR_ARGUMENT,
          "rwkvx_decoder_push(NULL decoder)");
    CHECK(rwkvx_decoder_push(&dec, NULL, 65, buf, sizeof buf, &n) == RWKVX_ERR_ARGUMENT, "rwkvx_decoder_push(NULL tokenizer)");
    CHECK(rwkvx_sampler_new(&smp, 0, NULL, NULL, 1) == RWKVX_ERR_ARGUMENT && smp == NULL, "rwkvx_sampler_new(no vocabulary)");
    CHECK(rwkvx_sampler_new(NULL, 10, NULL, NULL, 1) == RWKVX_ERR_ARGUMENT, "rwkvx_sampler_new(NULL result)");
    CHECK(rwkvx_sampler_set_params(NULL, NULL) == RWKVX_ERR_ARGUMENT, "rwkvx_sampler_set_params(NULL)");
    CHECK(rwkvx_sampler_ban(NULL, 0, 1) == RWKVX_ERR_ARGUMENT, "rwkvx_sampler_ban(NULL)");
}

/* The consistent names and the deprecated ones give the same states. */
static void test_names(const rwkvx_model *m) {
    int32_t prompt[5] = {72, 101, 108, 108, 111};
    int V = rwkvx_n_vocab(m);
    float *a = (float *)malloc(sizeof(float) * (size_t)V), *b = (float *)malloc(sizeof(float) * (size_t)V);
    float *c = (float *)malloc(sizeof(float) * (size_t)V), *d = (float *)malloc(sizeof(float) * (size_t)V);
    rwkvx_state *fresh = NULL, *old = NULL, *cloned = NULL, *copied = NULL;
    int32_t next = 33;
    CHECK(a && b && c && d, "logit buffers");
    if (!a || !b || !c || !d) goto done;
    CHECK(rwkvx_state_create(&fresh, m) == RWKVX_OK && fresh, "rwkvx_state_create");
    CHECK(rwkvx_state_new(m, &old) == RWKVX_OK && old, "rwkvx_state_new (deprecated)");
    if (!fresh || !old) goto done;
    CHECK(rwkvx_eval(fresh, prompt, 5, a, 0) == RWKVX_OK && rwkvx_eval(old, prompt, 5, b, 0) == RWKVX_OK,
          "eval on both");
    CHECK(memcmp(a, b, sizeof(float) * (size_t)V) == 0, "rwkvx_state_create == rwkvx_state_new");
    CHECK(rwkvx_state_clone(&cloned, fresh) == RWKVX_OK && cloned, "rwkvx_state_clone");
    CHECK(rwkvx_state_copy(fresh, &copied) == RWKVX_OK && copied, "rwkvx_state_copy (deprecated)");
    if (!cloned || !copied) goto done;
    CHECK(rwkvx_state_position(cloned) == 5 && rwkvx_state_position(copied) == 5, "clones keep the position");
    rwkvx_eval(fresh, &next, 1, a, 0);
    rwkvx_eval(cloned, &next, 1, b, 0);
    rwkvx_eval(copied, &next, 1, c, 0);
    CHECK(memcmp(a, b, sizeof(float) * (size_t)V) == 0, "a clone continues like its source");
    CHECK(memcmp(a, c, sizeof(float) * (size_t)V) == 0, "rwkvx_state_clone == rwkvx_state_copy");
done:
    rwkvx_state_free(fresh), rwkvx_state_free(old), rwkvx_state_free(cloned), rwkvx_state_free(copied);
    free(a), free(b), free(c), free(d);
}

int main(int argc, char **argv) {
    rwkvx_model *m = NULL, *again = NULL;
    char err[RWKVX_ERROR_MAX];
    if (argc != 2) {
        fprintf(stderr, "usage: test_api MODEL.gguf\n");
        return 2;
    }
    if (rwkvx_load_file(&m, argv[1], NULL, err) != RWKVX_OK) {
        fprintf(stderr, "test_api: %s\n", err);
        return 1;
    }
    test_version();
    test_null_getters();
    test_null_status(m);
    test_names(m);
    CHECK(rwkvx_load_file(&again, argv[1], NULL, err) == RWKVX_OK, "load again");
    rwkvx_free(again); /* the deprecated name still frees (ASan: no leak) */
    rwkvx_model_free(m);
    return check_report("test_api");
}
