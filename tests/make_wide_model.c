/* Writes a tiny random RWKV-7 checkpoint (.safetensors, bf16, the official
   key layout) with a vocabulary of 65536 rows: big enough to carry the World
   vocabulary, so the tests can convert it with --vocab and use the model's
   own tokenizer. One block, C = 64, F = 256, LoRA ranks 8.
   make_wide_model OUT.safetensors */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

enum { V = 65536, C = 64, F = 256, D = 8 };

typedef struct { const char *name; int dims, shape[3]; float scale, offset; } tensor;

static const tensor tensors[] = {
    {"emb.weight", 2, {V, C}, 1.0f, 0}, {"blocks.0.ln0.weight", 1, {C}, 0, 1}, {"blocks.0.ln0.bias", 1, {C}, 0, 0},
    {"blocks.0.ln1.weight", 1, {C}, 0, 1}, {"blocks.0.ln1.bias", 1, {C}, 0, 0},
    {"blocks.0.ln2.weight", 1, {C}, 0, 1}, {"blocks.0.ln2.bias", 1, {C}, 0, 0},
    {"blocks.0.att.x_r", 3, {1, 1, C}, 0.5f, 0.5f}, {"blocks.0.att.x_w", 3, {1, 1, C}, 0.5f, 0.5f},
    {"blocks.0.att.x_k", 3, {1, 1, C}, 0.5f, 0.5f}, {"blocks.0.att.x_v", 3, {1, 1, C}, 0.5f, 0.5f},
    {"blocks.0.att.x_a", 3, {1, 1, C}, 0.5f, 0.5f}, {"blocks.0.att.x_g", 3, {1, 1, C}, 0.5f, 0.5f},
    {"blocks.0.att.w0", 3, {1, 1, C}, 1, -0.5f}, {"blocks.0.att.a0", 3, {1, 1, C}, 1, 0},
    {"blocks.0.att.k_k", 3, {1, 1, C}, 0.2f, 0.8f}, {"blocks.0.att.k_a", 3, {1, 1, C}, 0.2f, 0.8f},
    {"blocks.0.att.w1", 2, {C, D}, 0.1f, 0}, {"blocks.0.att.w2", 2, {D, C}, 0.1f, 0},
    {"blocks.0.att.a1", 2, {C, D}, 0.1f, 0}, {"blocks.0.att.a2", 2, {D, C}, 0.1f, 0},
    {"blocks.0.att.g1", 2, {C, D}, 0.1f, 0}, {"blocks.0.att.g2", 2, {D, C}, 0.1f, 0},
    {"blocks.0.att.r_k", 2, {C / 64, 64}, 0.1f, 0},
    {"blocks.0.att.receptance.weight", 2, {C, C}, 0.2f, 0}, {"blocks.0.att.key.weight", 2, {C, C}, 0.2f, 0},
    {"blocks.0.att.value.weight", 2, {C, C}, 0.2f, 0}, {"blocks.0.att.output.weight", 2, {C, C}, 0.2f, 0},
    {"blocks.0.att.ln_x.weight", 1, {C}, 0, 1}, {"blocks.0.att.ln_x.bias", 1, {C}, 0, 0},
    {"blocks.0.ffn.x_k", 3, {1, 1, C}, 0.5f, 0.5f},
    {"blocks.0.ffn.key.weight", 2, {F, C}, 0.2f, 0}, {"blocks.0.ffn.value.weight", 2, {C, F}, 0.1f, 0},
    {"ln_out.weight", 1, {C}, 0, 1}, {"ln_out.bias", 1, {C}, 0, 0}, {"head.weight", 2, {V, C}, 0.3f, 0},
};

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float uniform(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return (float)(rng >> 40) / 16777216.0f * 2 - 1; }

static size_t count(const tensor *t) { size_t n = 1; int d; for (d = 0; d < t->dims; d++) n *= (size_t)t->shape[d]; return n; }

int main(int argc, char **argv) {
    size_t n_t = sizeof tensors / sizeof *tensors, i, j, off = 0, hlen;
    char *header = (char *)malloc(1 << 16);
    FILE *f;
    uint64_t len64;
    if (argc != 2) { fprintf(stderr, "usage: make_wide_model OUT.safetensors\n"); return 1; }
    hlen = (size_t)sprintf(header, "{");
    for (i = 0; i < n_t; i++) {
        const tensor *t = &tensors[i];
        hlen += (size_t)sprintf(header + hlen, "%s\"%s\":{\"dtype\":\"BF16\",\"shape\":[", i ? "," : "", t->name);
        for (j = 0; j < (size_t)t->dims; j++) hlen += (size_t)sprintf(header + hlen, "%s%d", j ? "," : "", t->shape[j]);
        hlen += (size_t)sprintf(header + hlen, "],\"data_offsets\":[%lu,%lu]}", (unsigned long)off, (unsigned long)(off + 2 * count(t)));
        off += 2 * count(t);
    }
    hlen += (size_t)sprintf(header + hlen, "}");
    while (hlen % 8) header[hlen++] = ' ';
    f = fopen(argv[1], "wb");
    if (!f) { fprintf(stderr, "make_wide_model: cannot write %s\n", argv[1]); return 1; }
    len64 = hlen;
    fwrite(&len64, 8, 1, f); /* little-endian hosts */
    fwrite(header, 1, hlen, f);
    for (i = 0; i < n_t; i++) {
        const tensor *t = &tensors[i];
        for (j = 0; j < count(t); j++) {
            float x = t->offset + t->scale * uniform();
            uint32_t u;
            uint16_t b;
            memcpy(&u, &x, 4);
            b = (uint16_t)(u >> 16);
            fwrite(&b, 2, 1, f);
        }
    }
    free(header);
    return fclose(f) == 0 ? 0 : 1;
}
