/* Compiles the header as the program's only translation unit, in C and C++. */
#define RWKVX_IMPLEMENTATION
#include "../rwkvx.h"

int main(void) {
    rwkvx_model *model = 0;
    char err[RWKVX_ERROR_MAX];
    /* a missing file is an error, not a crash */
    return rwkvx_load_file(&model, "/nonexistent/model.gguf", 0, err) == RWKVX_ERR_IO ? 0 : 1;
}
