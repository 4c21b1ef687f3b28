/* libFuzzer target: the converter's .pth reader (ZIP archive + restricted
   pickle machine), from memory; a checkpoint that reads is converted and
   loaded back (fuzz_convert.h). */
#include "fuzz_convert.h" /* includes ../rwkvx_convert.h */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_convert(data, size); /* format detection, then the reader */
    return 0;
}
