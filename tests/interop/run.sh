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
LIBGGML=$(dirname "$LIBLLAMA")/libggml-base.so

tokens=$(awk '$1 == "rwkvx-tiny.pth" && $5 == 260 { for (i = 7; i <= NF; i++) printf "%s%s", $i, (i < NF ? "," : ""); exit }' tests/fixtures/cases.txt)
# the trained passkey model reads a 559-byte passkey prompt
passkey_tokens=$(printf '%s\n%s%s\n%s\n%s%s\n%s' \
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. I will quiz you about the important information there." \
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. " \
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again." \
    "The pass key is 27339. Remember it. 27339 is the pass key." \
    "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. " \
    "The grass is green. The sky is blue." "What is the pass key? The pass key is 27339." |
    od -An -tu1 -v | tr -s ' \n' ',' | sed 's/^,//; s/,$//')

# compare FILE TOKENS LABEL MAX_DIFF MIN_ARGMAX: rwkvx and llama.cpp on FILE; unless FILE is all
# F32, llama.cpp also runs FILE's F32 copy (dequantize.py, ggml's own dequantizers): the difference
# between the two is llama.cpp's activation rounding, which must explain rwkvx's (compare.mjs).
compare() {
    local copy=
    python3 tests/interop/dequantize.py --is-f32 "$1" "$LIBGGML" || copy=$1.f32copy.gguf
    [ -z "$copy" ] || python3 tests/interop/dequantize.py "$1" "$copy" "$LIBGGML" || return 1
    $B/rwkvx-logits "$1" --tokens "$2" --all --out "$1.logits" &&
        "$NODE" "$I/compare.mjs" "$1" "$1.logits" "$2" "$3" "$4" "$5" $copy
}
# llama_quantize IN OUT FTYPE: llama.cpp's own quantizer (llama_model_quantize; node-llama-cpp
# ships no llama-quantize program). FTYPE: llama_ftype, 7 Q8_0, 15 Q4_K_M, 17 Q5_K_M, 18 Q6_K.
llama_quantize() {
    python3 tests/interop/quantize.py "$LIBLLAMA" "$1" "$2" "$3" > "$2.log" 2>&1 ||
        { echo "llama_model_quantize: $(tail -1 "$2.log")"; return 1; }
}
# checkpoint NAME.safetensors: a released-layout F32 checkpoint of a model of ours (unconvert.py)
checkpoint() { python3 tests/interop/unconvert.py "$1" "$2"; }
export_llama() { # IN OUT TYPE: rwkvx-convert --llama-cpp
    $B/rwkvx-convert "$1" "$2" --llama-cpp --vocab bytes --type "$3" > "$2.log" 2>&1 ||
        { echo "rwkvx-convert --llama-cpp --type $3: $(tail -1 "$2.log")"; return 1; }
}

# The models: the golden random RWKV-7 checkpoint (2 blocks, C=128, V=300) and the trained RWKV-7
# passkey demo model (models/, byte-level, 6 blocks, C=128), each also widened to C=256 (widen.py:
# the same function, every channel twice) since llama.cpp's K-quants need rows of 256.
$B/rwkvx-convert tests/fixtures/rwkv7-tiny.pth "$T/tiny.ours.gguf" --vocab bytes --type f32 > "$T/convert.log" 2>&1 &&
    checkpoint "$T/tiny.ours.gguf" "$T/tiny.safetensors" &&
    checkpoint models/rwkv7-passkey.gguf "$T/passkey.safetensors" &&
    python3 tests/interop/widen.py "$T/tiny.safetensors" "$T/tiny-wide.safetensors" &&
    python3 tests/interop/widen.py "$T/passkey.safetensors" "$T/passkey-wide.safetensors" ||
    { echo "FAIL: making the test models"; exit 1; }

# Measured (AMD Zen 5, llama.cpp's zen4 AVX-512 CPU variant, rwkvx multiplying quantized weights
# by F32 activations): max |log p diff| over every position and token with p > e^-60; the bounds
# are about 2x. rwkvx against llama.cpp on the F32 copy measured 1.6e-5 at most in every case: the
# whole difference is llama.cpp's activation rounding. The random models have near ties, which
# rounding flips (their argmax bounds are measured); the trained ones have none (>= 99%).

# (a) rwkvx-convert --llama-cpp exports load in llama.cpp and agree with rwkvx.
# Measured: tiny f32 8.7e-6, f16 8.7e-3, bf16 0.20, q8_0 0.40 (argmax 260, 259, 256, 250 of 260);
# passkey f32 1.2e-5, f16 1.1e-2, bf16 0.11, q8_0 0.19 (argmax 559 of 559 in every type).
for spec in f32:1e-4:1 f16:2e-2:0.99 bf16:0.4:0.97 q8_0:0.8:0.94; do
    IFS=: read -r type bound argmax <<< "$spec"
    f=$T/rwkv7-tiny.$type.gguf
    run "llama.cpp on rwkvx's $type export of the golden checkpoint" \
        eval 'export_llama tests/fixtures/rwkv7-tiny.pth "$f" $type && compare "$f" "$tokens" "rwkv7-tiny $type export" $bound $argmax'
done
for spec in f32:1e-4 f16:3e-2 bf16:0.25 q8_0:0.4; do
    IFS=: read -r type bound <<< "$spec"
    f=$T/rwkv7-passkey.$type.gguf
    run "llama.cpp on rwkvx's $type export of the trained passkey model" \
        eval 'export_llama "$T/passkey.safetensors" "$f" $type && compare "$f" "$passkey_tokens" "passkey model $type export" $bound 0.99'
done

# (b) files llama.cpp's own quantizer made load in rwkvx and agree with llama.cpp.
# At C=128 K-quant rows do not fit: llama.cpp's Q4_K_M falls back to Q5_0 and Q8_0 there.
# Measured: tiny q8_0 0.33 (argmax 254 of 260), Q4_K_M (fallbacks) 0.12 (253 of 260).
for spec in 7:q8_0:0.8:0.94 15:Q4_K_M-fallbacks:0.3:0.94; do
    IFS=: read -r ftype qname bound argmax <<< "$spec"
    f=$T/llama-quantized.tiny.$qname.gguf
    run "rwkvx on llama.cpp's $qname of the golden checkpoint" \
        eval 'llama_quantize "$T/rwkv7-tiny.f32.gguf" "$f" $ftype && compare "$f" "$tokens" "llama.cpp-quantized tiny $qname" $bound $argmax'
done
# At C=256: Q4_K_M is Q4_K matrices and a Q6_K head, Q5_K_M Q5_K and Q6_K; the LoRAs stay F32.
# Measured: tiny-wide Q8_0 0.33, Q4_K_M 0.16, Q5_K_M 0.15, Q6_K 0.15 (argmax 253, 251, 252, 249 of
# 260); passkey-wide Q8_0 0.20, Q4_K_M 0.27, Q5_K_M 0.38, Q6_K 0.29 (argmax 559 of 559 in each).
export_llama "$T/tiny-wide.safetensors" "$T/tiny-wide.f32.gguf" f32 && export_llama "$T/passkey-wide.safetensors" "$T/passkey-wide.f32.gguf" f32 ||
    bad "exporting the widened models"
run "the widened models compute what the originals do (llama.cpp, F32)" eval \
    'compare "$T/tiny-wide.f32.gguf" "$tokens" "golden checkpoint widened to C=256, f32" 1e-4 1 &&
     compare "$T/passkey-wide.f32.gguf" "$passkey_tokens" "passkey model widened to C=256, f32" 1e-4 1'
for spec in 7:Q8_0:0.7:0.94:0.4:0.99 15:Q4_K_M:0.35:0.94:0.55:0.99 17:Q5_K_M:0.35:0.94:0.75:0.99 18:Q6_K:0.35:0.94:0.6:0.99; do
    IFS=: read -r ftype qname tiny_bound tiny_argmax passkey_bound passkey_argmax <<< "$spec"
    run "rwkvx on llama.cpp's $qname of the widened golden checkpoint" \
        eval 'llama_quantize "$T/tiny-wide.f32.gguf" "$T/tiny-wide.$qname.gguf" $ftype &&
              compare "$T/tiny-wide.$qname.gguf" "$tokens" "llama.cpp-quantized tiny-wide $qname" $tiny_bound $tiny_argmax'
    run "rwkvx on llama.cpp's $qname of the widened passkey model" \
        eval 'llama_quantize "$T/passkey-wide.f32.gguf" "$T/passkey-wide.$qname.gguf" $ftype &&
              compare "$T/passkey-wide.$qname.gguf" "$passkey_tokens" "llama.cpp-quantized passkey-wide $qname" $passkey_bound $passkey_argmax'
done

# (c) rwkvx-convert's own K-quant exports (its quantizer is ggml's, byte for byte) load in llama.cpp.
# Measured: passkey-wide q4_k_m 0.27, q5_k_m 0.38, q6_k 0.25 (argmax 559 of 559 in each).
for spec in q4_k_m:0.55 q5_k_m:0.75 q6_k:0.5; do
    IFS=: read -r type bound <<< "$spec"
    f=$T/passkey-wide.rwkvx-$type.gguf
    run "llama.cpp on rwkvx's $type export of the widened passkey model" \
        eval 'export_llama "$T/passkey-wide.safetensors" "$f" $type && compare "$f" "$passkey_tokens" "passkey-wide $type export" $bound 0.99'
done

echo
echo "interop: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
