#!/usr/bin/env bash
# Decode speed of every weight type against the bandwidth bound, measured by
# rwkvx-bench (decode_frac_of_bw_bound: tokens/s over bandwidth-loop GB/s /
# token_bytes, both measured in the same run and thread count).
#
#   tools/bench_types.sh PREFIX TYPES THREADS BENCH...
#
# PREFIX.TYPE.gguf are the models (random weights: rwkvx-convert makes f16 /
# q8_0, `build/test_internals quant write PREFIX.f32.gguf TYPE PREFIX.TYPE.gguf` the
# other block types); TYPES and THREADS are comma lists; each BENCH is an
# rwkvx-bench build (e.g. the native one and one made with
# ARCH=-march=x86-64-v3), run alternately. Prints one line per run:
#   bench type threads decode_tok_s bw_bound_tok_s fraction prefill_tok_s
set -u
prefix=$1 types=$2 threads=$3; shift 3
for type in ${types//,/ }; do
    for n in ${threads//,/ }; do
        for bench in "$@"; do
            "$bench" "$prefix.$type.gguf" --threads "$n" --prompt 64 --gen 32 --json |
                python3 -c 'import json, sys; d = json.load(sys.stdin); print(sys.argv[1], sys.argv[2], sys.argv[3], d["decode_tok_s"], d["bw_bound_tok_s"], d["decode_frac_of_bw_bound"], d["prefill_tok_s"])' "$bench" "$type" "$n"
        done
    done
done
