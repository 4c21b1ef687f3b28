/* libFuzzer target: the converter's reader of a Hugging Face config.json
   (rwkvx_convert.h, config_parse, through its testing entry point: any JSON
   values, nested objects and arrays skipped up to a depth limit). It must
   refuse bad text with a one-line message and never crash; what it accepts
   has sane epsilons. */
#define RWKVX_CONVERT_TESTING 1
#include "../rwkvx_convert.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[RWKVX_CONVERT_ERROR_MAX] = "";
    float ln_eps = 0, gn_eps = 0;
    if (rwkvx__convert_parse_config((const char *)data, size, &ln_eps, &gn_eps, err) != RWKVX_OK) {
        if (!err[0] || strchr(err, '\n')) {
            fprintf(stderr, "refusal without a one-line message: '%s'\n", err);
            abort();
        }
    } else if (!(ln_eps > 0 && gn_eps > 0 && gn_eps < 1)) {
        fprintf(stderr, "accepted epsilons out of range: %g %g\n", ln_eps, gn_eps);
        abort();
    }
    return 0;
}
