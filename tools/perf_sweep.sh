#!/usr/bin/env bash
# The long-context measurements of docs/PERFORMANCE.md: an RWKV-X model with
# the 0.2B release's shape (12 RWKV-7 blocks + 1 sparse, chunk 2048, top-k 3).
#
#   tools/perf_sweep.sh MODEL.gguf OUT_DIR [THREADS]
#
# Writes OUT_DIR/decode.jsonl (decode ms/token at 1K..128K: sparse, sparse
# block skipped, full attention, sparse with f16 keys and values; contexts
# filled with random keys and values),
# OUT_DIR/prefill.jsonl (prefill of 16K..128K-token prompts, sparse and full
# attention) and OUT_DIR/decode.svg. Each line is one `rwkvx-bench --json`
# object. Long: the 128K full-attention prefill alone is quadratic (set
# SKIP_FULL_PREFILL_ABOVE=65536 to stop the full-attention prefills there).
set -eu
MODEL=$1 OUT=$2 TH=${3:-2}
B=${BUILD:-build}/rwkvx-bench
mkdir -p "$OUT"
: > "$OUT/decode.jsonl"
for ctx in 1k 4k 16k 64k 128k; do
    for mode in "" --skip-sparse --full-attention --kv-f16; do
        # shellcheck disable=SC2086
        $B "$MODEL" --threads "$TH" --prompt 16 --gen 32 --repeat 3 --context $ctx --fill random $mode --no-ceilings --json \
            | tee -a "$OUT/decode.jsonl"
    done
done
python3 tools/plot_decode.py "$OUT/decode.jsonl" "$OUT/decode.svg"
: > "$OUT/prefill.jsonl"
for n in 16384 32768 65536 131072; do
    $B "$MODEL" --threads "$TH" --prompt $n --gen 1 --repeat 1 --no-ceilings --json | tee -a "$OUT/prefill.jsonl"
    if [ "$n" -le "${SKIP_FULL_PREFILL_ABOVE:-131072}" ]; then
        $B "$MODEL" --threads "$TH" --prompt $n --gen 1 --repeat 1 --no-ceilings --full-attention --json | tee -a "$OUT/prefill.jsonl"
    fi
done
