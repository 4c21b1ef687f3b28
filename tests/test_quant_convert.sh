#!/usr/bin/env bash
# Tests of rwkvx-convert's quantiser and GGUF input (issue 13), from the
# repository root:
#
#   bash tests/test_quant_convert.sh [CONVERTER]    (default build/rwkvx-convert)
#
# - every type converts a checkpoint and the f32 demo models; the summary
#   names the types chosen and the fallbacks taken for rows of 128;
# - the quantised bytes of every type are ggml's reference quantiser's, and
#   the dequantisation (GGUF -> f32) is ggml's to_float, bit for bit: the
#   SHA-256 of both for tests/data/quant/synthetic.gguf (random and adversarial
#   rows: all zero, all equal, outliers, subnormal scales, huge values) are in
#   golden.txt, made with ggml itself by tools/quant_rms.py --make-golden;
# - the mixes q4_k_m and q5_k_m (llama.cpp's recipe), --head-type, refusals;
# - GGUF input: an f32 file re-converted to f32 is the same file, a tensor
#   already in its type is copied, quantised files re-quantise;
# - hostile GGUF files (tests/data/quant/make_bad_gguf.py) and NaN/Inf/huge
#   weights: one line, status 1, no output left behind.
set -u

CONVERT=${1:-build/rwkvx-convert}
FIXTURES=tests/fixtures
Q=tests/data/quant
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
TYPES="q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k iq4_nl iq4_xs"

passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

TIMEOUT=""
command -v timeout > /dev/null && TIMEOUT="timeout 300"

# convert NAME ARGS...: must succeed, quietly, leaving OUT and no OUT.tmp.
convert() {
    local name=$1 out=$3; shift
    rm -f "$out.tmp"
    if ! $TIMEOUT "$CONVERT" "$@" > "$TMP/stdout" 2> "$TMP/stderr"; then
        bad "$name: $(head -c 300 "$TMP/stderr")"
        return 1
    fi
    if [ -s "$TMP/stderr" ] || [ -e "$out.tmp" ] || [ "$(head -c 4 "$out")" != "GGUF" ]; then
        bad "$name: stderr '$(head -c 200 "$TMP/stderr")' or no GGUF output"
        return 1
    fi
    ok
}

# refuse NAME WORD ARGS...: status 1, one stderr line with WORD, no output.
refuse() {
    local name=$1 word=$2 rc
    shift 2
    rm -f "$TMP/out.gguf" "$TMP/out.gguf.tmp"
    $TIMEOUT "$CONVERT" "$@" > /dev/null 2> "$TMP/stderr"
    rc=$?
    if [ $rc -ne 1 ]; then
        bad "$name: status $rc (expected 1): $(head -c 300 "$TMP/stderr")"
    elif [ "$(wc -l < "$TMP/stderr")" -ne 1 ] || ! grep -q '^rwkvx-convert: ' "$TMP/stderr"; then
        bad "$name: expected one 'rwkvx-convert: ' line: $(head -c 300 "$TMP/stderr")"
    elif ! grep -qiF -- "$word" "$TMP/stderr"; then
        bad "$name: message lacks '$word': $(head -c 300 "$TMP/stderr")"
    elif [ -e "$TMP/out.gguf" ] || [ -e "$TMP/out.gguf.tmp" ]; then
        bad "$name: left an output file behind"
    else
        ok
    fi
}

# summary_has NAME PATTERN: the last conversion's summary matches PATTERN.
summary_has() {
    grep -qE -- "$2" "$TMP/stdout" && ok || bad "$1: summary lacks /$2/: $(cat "$TMP/stdout")"
}

# data_sha FILE BYTES: SHA-256 of the last BYTES bytes (the tensor data).
data_sha() {
    tail -c "$2" "$1" | sha256sum | cut -d' ' -f1
}

echo "== every type: a checkpoint and a demo model"
for type in f32 f16 bf16 $TYPES q4_k_m q5_k_m; do
    convert "rwkvx-tiny.pth --type $type" "$FIXTURES/rwkvx-tiny.pth" "$TMP/out.gguf" --type "$type" --chunk-size 16
    convert "rwkv7-passkey.gguf --type $type" models/rwkv7-passkey.gguf "$TMP/out.gguf" --type "$type"
done

echo "== the types chosen (demo model: C = 128, F = 512, LoRA ranks 16)"
convert "q4_k" models/rwkv7-passkey.gguf "$TMP/out.gguf" --type q4_k
summary_has "q4_k: rows of 512 take q4_k" ' [0-9]+ q4_k'
summary_has "q4_k: fallback to q5_0" 'fallback: +[0-9]+ matrices with rows not a multiple of 256 stored as q5_0 instead of q4_k'
summary_has "q4_k: rows of 16 fall back to f16" 'rows not a multiple of 32 stored as f16 instead of q5_0'
convert "q2_k" models/rwkv7-passkey.gguf "$TMP/out.gguf" --type q2_k
summary_has "q2_k falls back to iq4_nl" 'stored as iq4_nl instead of q2_k'
convert "q6_k" models/rwkv7-passkey.gguf "$TMP/out.gguf" --type q6_k
summary_has "q6_k falls back to q8_0" 'stored as q8_0 instead of q6_k'
convert "q4_k_m" models/rwkv7-passkey.gguf "$TMP/out.gguf" --type q4_k_m
summary_has "q4_k_m: the recipe" "q4_k_m \(llama.cpp's mix: q4_k matrices, q6_k head, f32 LoRAs\)"
summary_has "q4_k_m: LoRAs f32, head q8_0 (rows of 128)" '^types: +[0-9]+ f32, [0-9]+ q5_0, 1 q8_0, [0-9]+ q4_k matrices'
summary_has "q4_k_m: the head's fallback" '1 matrix with rows not a multiple of 256 stored as q8_0 instead of q6_k'
convert "q5_k_m" models/rwkvx-passkey.gguf "$TMP/out.gguf" --type q5_k_m
summary_has "q5_k_m: the recipe" "q5_k_m \(llama.cpp's mix: q5_k matrices, q6_k head, f32 LoRAs\)"
summary_has "q5_k_m: q5_1 fallback" 'stored as q5_1 instead of q5_k'
convert "a checkpoint (C = 64): q8_0" "$FIXTURES/rwkv7-tiny.pth" "$TMP/out.gguf" --type q8_0
summary_has "q8_0 on C = 64" '^types: .*q8_0'

echo "== --head-type"
convert "--head-type q8_0" models/rwkv7-passkey.gguf "$TMP/out.gguf" --type q4_0 --head-type q8_0
summary_has "--head-type q8_0" 'q4_0 matrices, q8_0 head'
summary_has "--head-type q8_0: one q8_0 matrix" '1 q8_0'
convert "--head-type in a mix" models/rwkv7-passkey.gguf "$TMP/out.gguf" --type q4_k_m --head-type f16
summary_has "--head-type f16 in q4_k_m" 'q4_k matrices, f16 head'
refuse "--head-type q6_k on rows of 128" "rows of 128 values, not a multiple of Q6_K's blocks of 256" \
    models/rwkv7-passkey.gguf "$TMP/out.gguf" --type q4_0 --head-type q6_k
refuse "--head-type q4_0 on rows of 64 (checkpoint)" "not a multiple of Q4_K's blocks of 256" \
    "$FIXTURES/rwkv7-tiny.pth" "$TMP/out.gguf" --head-type q4_k
refuse "--head-type of a mix" "--head-type must be one of" models/rwkv7-passkey.gguf "$TMP/out.gguf" --head-type q4_k_m
refuse "bad --type" "--type must be one of" models/rwkv7-passkey.gguf "$TMP/out.gguf" --type q4_z
convert "--type Q4_K_M --head-type Q8_0 (llama.cpp's spelling)" models/rwkv7-passkey.gguf "$TMP/upper.gguf" --type Q4_K_M --head-type Q8_0
convert "--type q4_k_m --head-type q8_0" models/rwkv7-passkey.gguf "$TMP/lower.gguf" --type q4_k_m --head-type q8_0
cmp -s "$TMP/upper.gguf" "$TMP/lower.gguf" && ok || bad "type names in any case: Q4_K_M and q4_k_m wrote different files"
refuse "--type Q4_Kx" "--type must be one of" models/rwkv7-passkey.gguf "$TMP/out.gguf" --type Q4_Kx
refuse "--head-type without value" "needs a value" models/rwkv7-passkey.gguf "$TMP/out.gguf" --head-type

echo "== bit-identical to ggml's reference quantiser and dequantiser ($Q/golden.txt)"
if [ ! -f "$Q/golden.txt" ] || [ ! -f "$Q/synthetic.gguf" ]; then
    bad "$Q/golden.txt or synthetic.gguf missing (tools/quant_rms.py --make-golden $Q)"
else
    n_golden=0
    while read -r type qbytes qsha fbytes fsha; do
        case "$type" in \#*|"") continue ;; esac
        n_golden=$((n_golden + 1))
        convert "synthetic --type $type" "$Q/synthetic.gguf" "$TMP/q.gguf" --type "$type" || continue
        [ "$(data_sha "$TMP/q.gguf" "$qbytes")" = "$qsha" ] && ok ||
            bad "$type: quantised bytes differ from ggml's (tools/quant_rms.py measures the RMS bound)"
        convert "synthetic $type -> f32" "$TMP/q.gguf" "$TMP/deq.gguf" --type f32 || continue
        [ "$(data_sha "$TMP/deq.gguf" "$fbytes")" = "$fsha" ] && ok || bad "$type: dequantisation differs from ggml's to_float"
    done < "$Q/golden.txt"
    [ "$n_golden" -eq 12 ] && ok || bad "golden.txt has $n_golden types, expected 12"
fi

echo "== GGUF input"
convert "f32 GGUF -> f32" models/rwkvx-passkey.gguf "$TMP/same.gguf" --type f32
cmp -s models/rwkvx-passkey.gguf "$TMP/same.gguf" && ok || bad "an f32 GGUF converted to f32 is not the same file"
summary_has "GGUF summary" 'input: .*\(GGUF, architecture rwkvx, 137 tensors: 137 f32\)'
convert "q4_k_m direct" models/rwkvx-passkey.gguf "$TMP/direct.gguf" --type q4_k_m
convert "q4_k_m -> q4_k_m" "$TMP/direct.gguf" "$TMP/again.gguf" --type q4_k_m
cmp -s "$TMP/direct.gguf" "$TMP/again.gguf" && ok || bad "re-quantising a q4_k_m file to q4_k_m changed it (tensors must be copied)"
convert "q8_0 GGUF -> q4_0" "$TMP/direct.gguf" "$TMP/re.gguf" --type q4_0
summary_has "quantised GGUF input" 'tensors: [0-9]+ f32 [0-9]+ q5_0 1 q8_0 [0-9]+ q4_k\)'
convert "f16 checkpoint output -> q8_0" "$FIXTURES/rwkvx-tiny.pth" "$TMP/f16.gguf" --type f16 --chunk-size 16
convert "f16 GGUF -> q8_0" "$TMP/f16.gguf" "$TMP/q8.gguf" --type q8_0
convert "checkpoint -> q8_0" "$FIXTURES/rwkvx-tiny.pth" "$TMP/q8direct.gguf" --type q8_0 --chunk-size 16
# f16 of bf16 weights is exact here but for a few tiny values: the q8_0 files agree in size and layout
[ "$(stat -c %s "$TMP/q8.gguf")" = "$(stat -c %s "$TMP/q8direct.gguf")" ] && ok ||
    bad "f16 GGUF -> q8_0 and checkpoint -> q8_0 differ in size"
# llama.cpp's layout holds some vectors in more than one dimension
# (channel_mix_lerp_k [C,1,1], r_k [64,H]): re-quantised, they stay f32 and
# the file computes what the direct export computes
LOGITS=$(dirname "$CONVERT")/rwkvx-logits
convert "llama.cpp layout, f32" "$FIXTURES/rwkv7-tiny.pth" "$TMP/ll.gguf" --type f32 --llama-cpp --vocab bytes
convert "llama.cpp layout: f32 GGUF -> q8_0" "$TMP/ll.gguf" "$TMP/ll-re.gguf" --type q8_0
convert "llama.cpp layout: checkpoint -> q8_0" "$FIXTURES/rwkv7-tiny.pth" "$TMP/ll-direct.gguf" --type q8_0 --llama-cpp --vocab bytes
"$LOGITS" "$TMP/ll-re.gguf" --tokens 1,2,3,4 --out "$TMP/ll-re.f32" --all 2> "$TMP/stderr" &&
    "$LOGITS" "$TMP/ll-direct.gguf" --tokens 1,2,3,4 --out "$TMP/ll-direct.f32" --all && cmp -s "$TMP/ll-re.f32" "$TMP/ll-direct.f32" && ok ||
    bad "a re-quantised llama.cpp-layout file does not compute what the direct export does: $(head -c 300 "$TMP/stderr")"
refuse "GGUF input with --vocab" "keeps its metadata" models/rwkvx-passkey.gguf "$TMP/out.gguf" --vocab bytes
refuse "GGUF input with --chunk-size" "keeps its metadata" models/rwkvx-passkey.gguf "$TMP/out.gguf" --chunk-size 8

echo "== hostile GGUF inputs ($Q)"
while IFS=$'\t' read -r file word; do
    case "$file" in \#*|"") continue ;; esac
    if [ ! -f "$Q/$file" ]; then
        bad "$Q/$file missing (python3 $Q/make_bad_gguf.py)"
    elif [ -n "$word" ]; then
        refuse "$file" "$word" "$Q/$file" "$TMP/out.gguf" --type q4_0
    fi
done < "$Q/expect.txt"
# cuts of a quantised GGUF file are refused: every 37th byte through the
# header (key/values and tensor infos end near 8 KB), every 64 KB of the data
convert "q4_k_m file to cut" models/rwkv7-passkey.gguf "$TMP/whole.gguf" --type q4_k_m
size=$(stat -c %s "$TMP/whole.gguf")
cuts_bad=0
for cut in $(seq 0 37 9000) $(seq 65536 65536 $((size - 1))) $((size - 1)); do
    head -c "$cut" "$TMP/whole.gguf" > "$TMP/cut.gguf"
    $TIMEOUT "$CONVERT" "$TMP/cut.gguf" "$TMP/out.gguf" --type q4_0 > /dev/null 2> "$TMP/stderr"
    rc=$?
    if [ $rc -ne 1 ] || [ "$(wc -l < "$TMP/stderr")" -ne 1 ] || [ -e "$TMP/out.gguf" ]; then
        cuts_bad=$((cuts_bad + 1))
        [ $cuts_bad -le 3 ] && echo "  cut at $cut: status $rc: $(head -c 200 "$TMP/stderr")"
    fi
done
[ $cuts_bad -eq 0 ] && ok || bad "$cuts_bad cuts of a GGUF file were not refused with one line and status 1"

echo "== NaN, Inf and huge weights"
for type in $TYPES; do
    label=$(echo "$type" | tr a-z A-Z)
    refuse "NaN/Inf --type $type" "non-finite value, which $label cannot store" "$Q/odd-nan-inf.gguf" "$TMP/out.gguf" --type "$type"
done
for type in $TYPES; do
    label=$(echo "$type" | tr a-z A-Z)
    refuse "1e30 --type $type" "too large for $label" "$Q/odd-huge.gguf" "$TMP/out.gguf" --type "$type"
done
$TIMEOUT "$CONVERT" "$Q/odd-nan-inf.gguf" "$TMP/out.gguf" --type f16 > /dev/null 2> "$TMP/stderr" &&
    grep -q "warning: 2 weights .* NaN or infinite" "$TMP/stderr" && ok || bad "NaN/Inf --type f16: no warning: $(cat "$TMP/stderr")"
$TIMEOUT "$CONVERT" "$TMP/out.gguf" "$TMP/out2.gguf" --type f16 > /dev/null 2> "$TMP/stderr" &&
    grep -q "warning: 2 weights" "$TMP/stderr" && ok || bad "a copied f16 tensor's NaN/Inf are not warned about: $(cat "$TMP/stderr")"

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
