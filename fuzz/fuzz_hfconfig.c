/* libFuzzer target: the converter's reader of a Hugging Face config.json
   (rwkvx_convert.h, config_parse: any JSON values, nested objects and
   arrays skipped up to a depth limit). It must refuse bad text with a
   one-line message and never crash; what it accepts has sane epsilons. */
#define RWKVX_CONVERT_IMPLEMENTATION /* also rwkvx.h's implementation */
#include "../rwkvx_convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cv_hf_config cfg;
    cv_err err;
    memset(&cfg, 0, sizeof cfg);
    memset(&err, 0, sizeof err);
    if (!config_parse("config.json", (const char *)data, size, &cfg, &err)) {
        if (!err.msg[0] || strchr(err.msg, '\n')) {
            fprintf(stderr, "refusal without a one-line message: '%s'\n", err.msg);
            abort();
        }
    } else if (!(cfg.ln_eps > 0 && cfg.gn_eps > 0 && cfg.gn_eps < 1)) {
        fprintf(stderr, "accepted epsilons out of range: %g %g\n", cfg.ln_eps, cfg.gn_eps);
        abort();
    }
    return 0;
}
