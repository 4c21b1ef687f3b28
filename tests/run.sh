#!/usr/bin/env bash
# The whole test suite: run by `make test` after everything is built.
set -u
cd "$(dirname "$0")/.."
B=${BUILD:-build}
T=$B/test
mkdir -p "$T"
passed=0; failed=0
ok()   { passed=$((passed + 1)); }
bad()  { failed=$((failed + 1)); echo "FAIL: $*"; }
# run NAME CMD...: a step that must exit 0
run() { local name=$1; shift; echo "== $name"; if "$@"; then ok; else bad "$name"; fi; }

run "header compiles as C99 -pedantic -Werror" $B/compile_c99
run "header compiles as C++" $B/compile_cxx

# Convert every golden checkpoint into every weight type (chunk settings of its case).
TYPES="f32 f16 bf16 q8_0"
echo "== converting the fixtures"
while read -r model chunk topk _; do
    case "$model" in \#*|"") continue ;; esac
    for type in $TYPES; do
        out="$T/${model%.*}.$type.gguf"
        [ -f "$out" ] && continue
        if $B/rwkvx-convert "tests/fixtures/$model" "$out" --type "$type" --chunk-size "$chunk" --chunk-topk "$topk" > "$T/convert.log" 2>&1
        then ok; else bad "convert $model --type $type: $(tail -1 "$T/convert.log")"; fi
    done
done < tests/fixtures/cases.txt

run "golden logits, every case, mode and type" $B/test_model tests/fixtures/cases.txt tests/fixtures "$T" $TYPES
run "golden logits with the scalar kernels and no mmap" $B/test_model_scalar tests/fixtures/cases.txt tests/fixtures "$T" $TYPES
run "golden logits without OpenMP" $B/test_model_noomp tests/fixtures/cases.txt tests/fixtures "$T" f32 q8_0
run "golden logits under ASan/UBSan" $B/test_model_asan tests/fixtures/cases.txt tests/fixtures "$T" $TYPES
run "corrupt GGUF (f16 RWKV-7) under ASan/UBSan" $B/test_corrupt_asan "$T/rwkv7-tiny.f16.gguf"
run "corrupt GGUF (q8_0 RWKV-X) under ASan/UBSan" $B/test_corrupt_asan "$T/rwkvx-last-st.q8_0.gguf"

# The command-line tools, end to end: converter output reproduced by rwkvx-logits.
gcc -O2 -o $B/cmpf32 tests/cmpf32.c -lm
tokens=$(awk '$1 == "rwkvx-tiny.pth" && $5 == 260 { for (i = 7; i <= NF; i++) printf "%s%s", $i, (i < NF ? "," : ""); exit }' tests/fixtures/cases.txt)
for mode in whole single ragged; do
    run "rwkvx-logits --mode $mode (last position)" bash -c "$B/rwkvx-logits $T/rwkvx-tiny.f32.gguf --tokens $tokens --out $T/last.f32 --mode $mode && $B/cmpf32 $T/last.f32 tests/fixtures/rwkvx-tiny-long.logits.f32 1e-3"
    run "rwkvx-logits --mode $mode --all" bash -c "$B/rwkvx-logits $T/rwkvx-tiny.f32.gguf --tokens $tokens --out $T/all.f32 --all --mode $mode --threads 2 && $B/cmpf32 $T/all.f32 tests/fixtures/rwkvx-tiny-long.logits.f32 1e-3"
done
echo "$tokens" | tr ',' '\n' > "$T/tokens.txt"
run "rwkvx-logits --tokens-file" bash -c "$B/rwkvx-logits $T/rwkvx-tiny.f32.gguf --tokens-file $T/tokens.txt --out $T/file.f32 --all && cmp $T/file.f32 $T/all.f32"
# refuse bad invocations with one line on stderr and status 1
expect_error() { # NAME ARGS...: must exit 1 with exactly one line on stderr
    local name=$1; shift
    "$@" > /dev/null 2> "$T/err.txt"; local rc=$?
    if [ $rc -eq 1 ] && [ "$(wc -l < "$T/err.txt")" -eq 1 ]; then ok; else bad "$name (status $rc): $(head -3 "$T/err.txt")"; fi
}
echo "== tools refuse bad input"
expect_error "logits: no model" $B/rwkvx-logits --tokens 1 --out $T/x.f32
expect_error "logits: missing file" $B/rwkvx-logits $T/missing.gguf --tokens 1 --out $T/x.f32
expect_error "logits: not a GGUF" $B/rwkvx-logits tests/fixtures/cases.txt --tokens 1 --out $T/x.f32
expect_error "logits: token out of range" $B/rwkvx-logits $T/rwkv7-tiny.f16.gguf --tokens 1,300 --out $T/x.f32
expect_error "logits: bad token" $B/rwkvx-logits $T/rwkv7-tiny.f16.gguf --tokens 1,x --out $T/x.f32
expect_error "logits: bad mode" $B/rwkvx-logits $T/rwkv7-tiny.f16.gguf --tokens 1 --out $T/x.f32 --mode fast
expect_error "logits: bad threads" $B/rwkvx-logits $T/rwkv7-tiny.f16.gguf --tokens 1 --out $T/x.f32 --threads 0
expect_error "logits: unwritable out" $B/rwkvx-logits $T/rwkv7-tiny.f16.gguf --tokens 1 --out /nonexistent/x.f32
head -c 1000 "$T/rwkv7-tiny.f16.gguf" > "$T/truncated.gguf"
expect_error "logits: truncated model" $B/rwkvx-logits $T/truncated.gguf --tokens 1 --out $T/x.f32

for t in gguf state pth safetensors vocab tokenize; do
    run "fuzz corpus and regressions replayed ($t, ASan/UBSan)" bash -c "$B/replay_$t fuzz/corpus/$t/* \$(ls fuzz/regressions/$t/* 2>/dev/null)"
done

if [ -f tests/test_convert.sh ]; then
    run "converter tests (ASan/UBSan build)" bash tests/test_convert.sh $B/rwkvx-convert-asan
fi
[ -f tests/test_quant_convert.sh ] &&   # every weight type, bit-identical to ggml's quantiser; GGUF input (issue 13)
    run "quantiser tests (ASan/UBSan build)" bash tests/test_quant_convert.sh $B/rwkvx-convert-asan

[ -f tests/test_kv_limit.sh ] && . tests/test_kv_limit.sh   # the opt-in K/V limit (issue 6, item 3)
[ -f tests/test_chat.sh ] && . tests/test_chat.sh   # tokenizer, sampler, rwkvx-tokenize, rwkvx-chat
[ -f tests/test_hostile.sh ] && . tests/test_hostile.sh   # the catalogue of bad inputs (docs/HOSTILE.md)
[ -f tests/test_passkey.sh ] && . tests/test_passkey.sh   # passkey retrieval on the demo models (issue 4)

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
