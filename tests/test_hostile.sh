# The catalogue of bad inputs (docs/HOSTILE.md), as the command-line tools see
# them: each gives a precise one-line message and status 1 (or, for NaN/Inf
# weights, a warning and status 0). Sourced by tests/run.sh (uses its B, T,
# run, ok, bad and expect_error); the library side is tests/test_corrupt.c,
# tests/test_model.c, tests/test_truncate.c and the fuzz regressions.
echo "== catalogue of bad inputs (docs/HOSTILE.md)"

# expect_msg NAME STATUS WORD CMD...: exits with STATUS, stderr is one line containing WORD
expect_msg() {
    local name=$1 want=$2 word=$3; shift 3
    "$@" > "$T/hostile_out.txt" 2> "$T/hostile_err.txt"; local rc=$?
    if [ $rc -eq "$want" ] && [ "$(wc -l < "$T/hostile_err.txt")" -eq 1 ] && grep -qiF -- "$word" "$T/hostile_err.txt"; then ok
    else bad "$name (status $rc, want $want and '$word'): $(head -c 300 "$T/hostile_err.txt")"; fi
}

HM=$T/rwkv7-tiny.f16.gguf                  # made by run.sh
VM=$T/rwkvx-tiny.bytes.gguf                # made by test_chat.sh (256-byte vocabulary)
[ -f "$VM" ] || $B/rwkvx-convert tests/fixtures/rwkvx-tiny.pth "$VM" --type f32 --chunk-size 16 --chunk-topk 3 --vocab bytes > /dev/null 2>&1
VOCAB=tests/fixtures/rwkv_vocab_v20230424.txt

# GGUF structure, NaN/Inf weights, context limit, on a model with a vocabulary
# too (its tokenizer.ggml.tokens array gets 2^40 and 2^64-1 entries)
# (q8_0: every successful load of a flipped header counts the non-finite
# weights, one per f32/f16/bf16 value but one per 32 in q8_0; on the f32 file
# that scan under ASan took most of this step's 40 s)
VMQ=$T/rwkvx-tiny.bytes.q8_0.gguf
$B/rwkvx-convert tests/fixtures/rwkvx-tiny.pth "$VMQ" --type q8_0 --chunk-size 16 --chunk-topk 3 --vocab bytes > /dev/null 2>&1 ||
    bad "convert rwkvx-tiny.pth --type q8_0 --vocab bytes"
run "corrupt GGUF with a vocabulary (q8_0 RWKV-X, bytes vocabulary) under ASan/UBSan" $B/test_corrupt_asan "$VMQ"

# converter: every truncation of a valid .pth and .safetensors (ZIP records,
# JSON header, each tensor's first and last byte)
run "converter: truncated checkpoints refused (ASan/UBSan)" $B/test_truncate_asan \
    fuzz/corpus/pth/rwkv7-1block-bf16.pth fuzz/corpus/pth/rwkvx-1+1-p4-zip64.pth \
    fuzz/corpus/safetensors/rwkv7-1block-bf16.safetensors fuzz/corpus/safetensors/rwkvx-1+1-mixed.safetensors

# converter: NaN/Inf weights are kept with a warning; Q8_0 cannot store them and refuses
W=tests/data/bad
for type in f32 f16 bf16; do
    expect_msg "convert NaN/Inf weights --type $type: warning, status 0" 0 "NaN or infinite" \
        $B/rwkvx-convert $W/warn-nan-inf.safetensors "$T/nan.$type.gguf" --type $type
done
expect_msg "convert NaN/Inf weights --type q8_0: refused" 1 "non-finite" $B/rwkvx-convert $W/warn-nan-inf.safetensors "$T/x.gguf" --type q8_0
expect_msg "convert 1e6 --type f16: inf in f16, warning" 0 "NaN or infinite" $B/rwkvx-convert $W/warn-f16-overflow.safetensors "$T/x.gguf" --type f16
run "convert 1e6 --type bf16 and q8_0: no warning" bash -c \
    "$B/rwkvx-convert $W/warn-f16-overflow.safetensors $T/x.gguf --type bf16 2>&1 >/dev/null | cmp -s - /dev/null &&
     $B/rwkvx-convert $W/warn-f16-overflow.safetensors $T/x.gguf --type q8_0 2>&1 >/dev/null | cmp -s - /dev/null"
expect_msg "convert 1e7 --type q8_0: the block scale overflows, refused" 1 "too large for Q8_0" \
    $B/rwkvx-convert $W/warn-q8_0-overflow.safetensors "$T/x.gguf" --type q8_0

# rwkvx-logits: NaN/Inf weights warn and still run; the empty prompt; the context limit
expect_msg "logits: NaN/Inf weights warn, status 0" 0 "NaN or infinite" \
    $B/rwkvx-logits "$T/nan.f16.gguf" --tokens 1,2,3 --out "$T/nan.f32"
expect_error "logits: empty prompt" $B/rwkvx-logits "$HM" --tokens "" --out "$T/x.f32"
: > "$T/empty.txt"
expect_msg "logits: empty tokens file" 1 "no tokens" $B/rwkvx-logits "$HM" --tokens-file "$T/empty.txt" --out "$T/x.f32"
expect_msg "logits: prompt longer than --max-context" 1 "context limit" \
    $B/rwkvx-logits "$HM" --tokens 1,2,3,4,5 --max-context 4 --out "$T/x.f32"
run "logits: a prompt of exactly --max-context runs" $B/rwkvx-logits "$HM" --tokens 1,2,3,4 --max-context 4 --out "$T/x.f32"
expect_error "logits: bad --max-context" $B/rwkvx-logits "$HM" --tokens 1 --max-context -1 --out "$T/x.f32"

# rwkvx-tokenize: invalid UTF-8 is text like any other (bytes in, the same bytes back)
printf 'ok \xff\xfe \xc3( \xe4\xbd \xed\xa0\x80 \xf0\x9f\x98 end\n' > "$T/bad_utf8.txt"
run "tokenize: invalid UTF-8 encodes and decodes to the same bytes (World vocabulary)" bash -c \
    "$B/rwkvx-tokenize --vocab $VOCAB < $T/bad_utf8.txt > $T/bad_utf8.ids && $B/rwkvx-tokenize --vocab $VOCAB --decode < $T/bad_utf8.ids | cmp - $T/bad_utf8.txt"
run "tokenize: invalid UTF-8 through a model's vocabulary" bash -c \
    "$B/rwkvx-tokenize $VM < $T/bad_utf8.txt > $T/bad_utf8.ids && $B/rwkvx-tokenize $VM --decode < $T/bad_utf8.ids | cmp - $T/bad_utf8.txt"
printf '1 '"'"'a'"'"' 1\n' > "$T/vocab_a.txt"
printf '1 '"'"'a'"'"' 1\n1099511627776 '"'"'b'"'"' 1\n' > "$T/vocab_2e40.txt"
expect_msg "tokenize: a vocabulary with token id 2^40" 1 "too large" bash -c "printf a | $B/rwkvx-tokenize --vocab $T/vocab_2e40.txt"
expect_msg "convert: a vocabulary with token id 2^40" 1 "token id" \
    $B/rwkvx-convert tests/fixtures/rwkv7-tiny.pth "$T/x.gguf" --vocab "$T/vocab_2e40.txt"
expect_msg "tokenize: a byte no token covers" 1 "no token covers" bash -c "printf ab | $B/rwkvx-tokenize --vocab $T/vocab_a.txt"
expect_msg "tokenize: a token id out of range" 1 "outside the vocabulary" bash -c "echo 1 99999 | $B/rwkvx-tokenize $VM --decode"
run "tokenize: empty input gives no ids" bash -c "[ \"\$(printf '' | $B/rwkvx-tokenize $VM)\" = '' ]"

# rwkvx-chat: the empty prompt; saved states truncated or from another model
if [ -x $B/rwkvx-chat ]; then
    expect_error "chat: empty prompt" $B/rwkvx-chat -m "$VM" -p ""
    printf 'hi\n/save %s\n' "$T/hostile.save" | $B/rwkvx-chat -m "$VM" --threads 1 -n 3 > /dev/null 2>&1
    head -c 100 "$T/hostile.save" > "$T/hostile_cut.save"
    run "chat: /load of a truncated state is refused, the chat goes on" bash -c \
        "printf '/load $T/hostile_cut.save\nhi\n' | $B/rwkvx-chat -m $VM --threads 1 -n 2 2> $T/hostile_err.txt | grep -q Assistant: &&
         grep -q 'not a saved conversation' $T/hostile_err.txt"
    $B/rwkvx-convert tests/fixtures/rwkvx-last-st.safetensors "$T/other.bytes.gguf" --type f32 --chunk-size 16 --chunk-topk 3 --vocab bytes > /dev/null 2>&1
    run "chat: /load of a state from another model is refused" bash -c \
        "printf '/load $T/hostile.save\n' | $B/rwkvx-chat -m $T/other.bytes.gguf --threads 1 -n 2 2> $T/hostile_err.txt > /dev/null &&
         grep -q 'does not match the model' $T/hostile_err.txt"
fi
