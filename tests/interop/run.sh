#!/usr/bin/env bash
# make interop: rwkvx against real llama.cpp (issue 14, item 4).
#
# llama.cpp is node-llama-cpp 3.21.1's prebuilt CPU build (llama.cpp release
# v0.4.0), installed by `npm ci` from tests/interop/package-lock.json into
# $BUILD/interop. For each file llama.cpp computes the next-token
# probabilities after every position of a 260-token sequence and
# tests/interop/compare.mjs compares them with rwkvx-logits --all on the same
# file. Needs npm, Node.js (20 or later, else Node.js 20 is installed from the
# npm registry) and python3 (standard library only).
set -u
cd "$(dirname "$0")/../.."
B=${BUILD:-build}
I=$B/interop
T=$I/files
mkdir -p "$T"
passed=0; failed=0
ok()  { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
run() { local name=$1; shift; echo "== $name"; if "$@"; then ok; else bad "$name"; fi; }

node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2> /dev/null || echo 0; }
if ! command -v npm > /dev/null || ! command -v python3 > /dev/null; then
    echo "make interop needs npm, Node.js and python3 (Debian: apt-get install nodejs npm python3)" >&2
    exit 1
fi
# node-llama-cpp 3.21.1 wants Node.js >= 20; an older system Node.js (Debian 12 has 18) gets
# Node.js 20.20.2 from the npm registry (tests/interop/runtime/package-lock.json) in $I/runtime.
NODE=node
if [ "$(node_major node)" -lt 20 ] || [ -n "${INTEROP_OWN_NODE:-}" ]; then
    mkdir -p "$I/runtime"
    if ! cmp -s tests/interop/runtime/package-lock.json "$I/runtime/package-lock.json" || [ ! -x "$I/runtime/node_modules/.bin/node" ]; then
        cp tests/interop/runtime/package.json tests/interop/runtime/package-lock.json "$I/runtime/"
        (cd "$I/runtime" && npm ci --no-audit --no-fund --loglevel=error) || exit 1
    fi
    NODE=$I/runtime/node_modules/.bin/node
    [ "$(node_major "$NODE")" -ge 20 ] || { echo "make interop: could not get Node.js >= 20" >&2; exit 1; }
fi
echo "== llama.cpp: node-llama-cpp 3.21.1 under Node.js $("$NODE" --version)"
# npm ci only when the lock file changed since the last install
if ! cmp -s tests/interop/package-lock.json "$I/package-lock.json" || [ ! -d "$I/node_modules/node-llama-cpp" ]; then
    cp tests/interop/package.json tests/interop/package-lock.json "$I/"
    (cd "$I" && npm ci --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error) || exit 1
fi
cp tests/interop/compare.mjs "$I/"   # imports node-llama-cpp from $I/node_modules
LIBLLAMA=$(ls "$I"/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama.*.so | head -1)

tokens=$(awk '$1 == "rwkvx-tiny.pth" && $5 == 260 { for (i = 7; i <= NF; i++) printf "%s%s", $i, (i < NF ? "," : ""); exit }' tests/fixtures/cases.txt)
# compare FILE LABEL MAX_DIFF MIN_ARGMAX: rwkvx and llama.cpp on FILE
compare() {
    $B/rwkvx-logits "$1" --tokens "$tokens" --all --out "$1.logits" &&
        "$NODE" "$I/compare.mjs" "$1" "$1.logits" "$tokens" "$2" "$3" "$4"
}
# explained FILE LABEL: rwkvx on FILE against llama.cpp on FILE's F32 copy
# (the same values, no activation rounding in llama.cpp): within 1e-4, so the
# difference on FILE itself is llama.cpp's rounding of its activations.
explained() {
    python3 tests/interop/dequantize.py "$1" "$1.f32copy.gguf" &&
        "$NODE" "$I/compare.mjs" "$1.f32copy.gguf" "$1.logits" "$tokens" "$2" 1e-4 1
}

# (a) llama.cpp-layout files exported by rwkvx-convert --llama-cpp from the golden RWKV-7 checkpoint.
# Bounds: measured max |log p diff| (AMD Zen 5, llama.cpp's zen4 AVX-512 CPU variant) f16 8.7e-3, bf16 0.20,
# q8_0 0.40, about 2x asserted; same argmax at 259, 256 and 250 of 260 positions: these tiny random
# models have near-ties, which rounding flips (the trained demo model below has none).
for spec in f32:1e-4:1 f16:2e-2:0.99 bf16:0.4:0.97 q8_0:0.8:0.94; do
    IFS=: read -r type bound argmax <<< "$spec"
    f=$T/rwkv7-tiny.$type.gguf
    $B/rwkvx-convert tests/fixtures/rwkv7-tiny.pth "$f" --llama-cpp --vocab bytes --type "$type" > "$T/convert.log" 2>&1 ||
        { bad "convert --llama-cpp --type $type: $(tail -1 "$T/convert.log")"; continue; }
    run "llama.cpp loads rwkvx's $type export; next-token log-probabilities equal rwkvx's" \
        compare "$f" "rwkv7-tiny $type export" "$bound" "$argmax"
    [ "$type" = f32 ] || run "the $type difference is llama.cpp's activation rounding" \
        explained "$f" "rwkv7-tiny $type export against llama.cpp on its F32 copy"
done

# (a') the same on a trained model, the RWKV-7 passkey demo model (models/, byte-level, 6 blocks,
# C=128): unconvert.py turns it back into a checkpoint, rwkvx-convert --llama-cpp exports it, and
# llama.cpp and rwkvx read a 559-byte passkey prompt. Measured: f32 1.2e-5, f16 1.1e-2, bf16 0.11,
# q8_0 0.19; the argmax agrees at every position in every type (no near-ties in a trained model).
tokens260=$tokens
tokens=$(printf '%s\n%s%s\n%s\n%s%s\n%s' \
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. I will quiz you about the important information there." \
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. " \
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again." \
    "The pass key is 27339. Remember it. 27339 is the pass key." \
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. " \
    "The grass is green. The sky is blue." "What is the pass key? The pass key is 27339." |
    od -An -tu1 -v | tr -s ' \n' ',' | sed 's/^,//; s/,$//')
if (cd tests/interop && python3 unconvert.py ../../models/rwkv7-passkey.gguf "../../$T/passkey.safetensors") > "$T/unconvert.log" 2>&1; then
    for spec in f32:1e-4 f16:3e-2 bf16:0.25 q8_0:0.4; do
        IFS=: read -r type bound <<< "$spec"
        f=$T/rwkv7-passkey.$type.gguf
        $B/rwkvx-convert "$T/passkey.safetensors" "$f" --llama-cpp --vocab bytes --type "$type" > "$T/convert.log" 2>&1 ||
            { bad "convert the passkey model --llama-cpp --type $type: $(tail -1 "$T/convert.log")"; continue; }
        run "trained passkey model, $type: llama.cpp and rwkvx agree" compare "$f" "passkey demo model $type" "$bound" 0.99
        [ "$type" = f32 ] || run "trained passkey model, $type: the difference is llama.cpp's activation rounding" \
            explained "$f" "passkey demo model $type against llama.cpp on its F32 copy"
    done
else
    bad "unconvert.py models/rwkv7-passkey.gguf: $(tail -1 "$T/unconvert.log")"
fi
tokens=$tokens260

# (b) a file llama.cpp's own quantizer made (llama_model_quantize: node-llama-cpp ships no
# llama-quantize program) loads in rwkvx and gives llama.cpp's results. Measured 0.33.
if python3 tests/interop/quantize.py "$LIBLLAMA" "$T/rwkv7-tiny.f32.gguf" "$T/llama-quantized.q8_0.gguf" 7 > "$T/quantize.log" 2>&1; then
    run "rwkvx loads a llama.cpp-quantized q8_0 file" compare "$T/llama-quantized.q8_0.gguf" "llama.cpp-quantized q8_0" 0.8 0.94
    run "the llama.cpp-quantized difference is llama.cpp's activation rounding" \
        explained "$T/llama-quantized.q8_0.gguf" "llama.cpp-quantized q8_0 against llama.cpp on its F32 copy"
else
    bad "llama_model_quantize: $(tail -1 "$T/quantize.log")"
fi

# (c) llama.cpp's Q4_K_M of this tiny model (rows of 128 are too short for K-quants: llama.cpp
# falls back to Q5_0 and Q8_0): while rwkvx lacks a type it refuses the file with one line naming
# it; once it has them (the quantization work), it must agree with llama.cpp (a loose bound: the
# 5-bit weights move these sensitive random models far more than q8_0 does).
if python3 tests/interop/quantize.py "$LIBLLAMA" "$T/rwkv7-tiny.f32.gguf" "$T/llama-quantized.q4_k_m.gguf" 15 > "$T/quantize.log" 2>&1; then
    if $B/rwkvx-logits "$T/llama-quantized.q4_k_m.gguf" --tokens 1 --out "$T/x.f32" > /dev/null 2> "$T/err.txt"; then
        run "rwkvx loads a llama.cpp Q4_K_M file" compare "$T/llama-quantized.q4_k_m.gguf" "llama.cpp-quantized Q4_K_M" 2 0.8
    else
        [ "$(wc -l < "$T/err.txt")" -eq 1 ] && grep -Eq "type [0-9]+ \([A-Z0-9_]+\)" "$T/err.txt" && ok ||
            bad "a Q4_K_M file: expected one line naming the type, got: $(head -2 "$T/err.txt")"
        echo "== a llama.cpp Q4_K_M file is refused: $(cat "$T/err.txt")"
    fi
else
    bad "llama_model_quantize Q4_K_M: $(tail -1 "$T/quantize.log")"
fi

echo
echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
