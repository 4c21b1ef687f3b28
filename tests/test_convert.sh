#!/usr/bin/env bash
# Tests for rwkvx-convert, run from the repository root:
#
#   bash tests/test_convert.sh [CONVERTER]      (default build/rwkvx-convert)
#
# FIXTURES (default tests/fixtures) holds the golden
# checkpoints.  tests/data/bad/ holds hostile inputs made by make_bad.py, with
# the word each error message must contain in expect.txt.  Every conversion
# runs under `timeout`, so a hang fails instead of blocking the suite.
set -u

CONVERT=${1:-build/rwkvx-convert}
FIXTURES=${FIXTURES:-tests/fixtures}
BAD=tests/data/bad
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

if [ ! -x "$CONVERT" ]; then
    echo "FAIL: converter '$CONVERT' not found (build it first)"
    echo "0 passed, 1 failed"
    exit 1
fi
TIMEOUT=""
command -v timeout > /dev/null && TIMEOUT="timeout 300"

# expect_ok NAME ARGS...: exit 0, a GGUF file at $TMP/out.gguf, no .tmp left.
expect_ok() {
    local name=$1; shift
    rm -f "$TMP/out.gguf" "$TMP/out.gguf.tmp"
    $TIMEOUT "$CONVERT" "$@" > "$TMP/stdout" 2> "$TMP/stderr"
    local rc=$?
    if [ $rc -ne 0 ]; then
        bad "$name: status $rc: $(head -c 300 "$TMP/stderr")"
    elif [ "$(head -c 4 "$TMP/out.gguf" 2> /dev/null)" != "GGUF" ]; then
        bad "$name: no GGUF file written"
    elif [ -e "$TMP/out.gguf.tmp" ]; then
        bad "$name: left $TMP/out.gguf.tmp behind"
    elif [ -s "$TMP/stderr" ]; then
        bad "$name: printed on stderr: $(head -c 300 "$TMP/stderr")"
    else
        ok
    fi
}

# expect_fail NAME WORD ARGS...: status 1 (not a crash), exactly one stderr line
# "rwkvx-convert: ..." containing WORD, and neither out.gguf nor out.gguf.tmp.
expect_fail() {
    local name=$1 word=$2; shift 2
    rm -f "$TMP/out.gguf" "$TMP/out.gguf.tmp"
    $TIMEOUT "$CONVERT" "$@" > "$TMP/stdout" 2> "$TMP/stderr"
    local rc=$? msg
    msg=$(head -c 300 "$TMP/stderr")
    if [ $rc -ge 128 ] || [ $rc -eq 124 ]; then
        bad "$name: crashed or hung (status $rc): $msg"
    elif [ $rc -ne 1 ]; then
        bad "$name: status $rc, expected 1: $msg"
    elif [ "$(wc -l < "$TMP/stderr")" -ne 1 ]; then
        bad "$name: expected one line on stderr, got: $msg"
    elif ! grep -q '^rwkvx-convert: ' "$TMP/stderr"; then
        bad "$name: message does not start with 'rwkvx-convert: ': $msg"
    elif ! grep -qiF -- "$word" "$TMP/stderr"; then
        bad "$name: message lacks '$word': $msg"
    elif [ -e "$TMP/out.gguf" ] || [ -e "$TMP/out.gguf.tmp" ]; then
        bad "$name: left an output file behind"
    else
        ok
    fi
}

echo "== golden fixtures ($FIXTURES), every --type"
for model in rwkv7-tiny.pth rwkvx-tiny.pth rwkvx-tiny-t2.pth rwkvx-tiny-t2sd.pth rwkvx-last-st.safetensors; do
    if [ ! -f "$FIXTURES/$model" ]; then
        bad "fixture $FIXTURES/$model missing"
        continue
    fi
    for type in f32 f16 bf16 q8_0; do
        expect_ok "$model --type $type" "$FIXTURES/$model" "$TMP/out.gguf" --type "$type" --chunk-size 16 --chunk-topk 3
    done
done
expect_ok "default options" "$FIXTURES/rwkvx-tiny.pth" "$TMP/out.gguf"
grep -q 'order: *r0 r1 s0 r2 r3 s1' "$TMP/stdout" && ok || bad "summary of rwkvx-tiny lacks the block order r0 r1 s0 r2 r3 s1"
grep -q 'chunk size 2048, top-k 3 (defaults: checkpoints do not record them' "$TMP/stdout" && ok ||
    bad "summary lacks the default chunk size 2048, top-k 3 and the note that they are defaults"
expect_ok "chunk size given" "$FIXTURES/rwkvx-tiny.pth" "$TMP/out.gguf" --chunk-topk 4
grep -q 'chunk size 2048, top-k 4$' "$TMP/stdout" && ok || bad "summary with --chunk-topk still calls the chunk options defaults"

# Converting twice gives the same bytes (no uninitialised padding, no clock).
expect_ok "determinism, first run" "$FIXTURES/rwkvx-last-st.safetensors" "$TMP/out.gguf" --type q8_0
cp "$TMP/out.gguf" "$TMP/first.gguf"
expect_ok "determinism, second run" "$FIXTURES/rwkvx-last-st.safetensors" "$TMP/out.gguf" --type q8_0
cmp -s "$TMP/out.gguf" "$TMP/first.gguf" && ok || bad "two conversions of the same input differ"

echo "== vocabularies"
expect_fail "World vocab on a V=300 model is refused" "vocab_size" \
    "$FIXTURES/rwkv7-tiny.pth" "$TMP/out.gguf" --vocab "$FIXTURES/rwkv_vocab_v20230424.txt"
expect_ok "--vocab bytes" "$FIXTURES/rwkv7-tiny.pth" "$TMP/out.gguf" --vocab bytes
grep -q '256 tokens' "$TMP/stdout" && ok || bad "--vocab bytes: summary does not report 256 tokens"
expect_fail "--vocab bytes on a V=4 model is refused" "256" "$BAD/ok-mixed-dtypes.safetensors" "$TMP/out.gguf" --vocab bytes
expect_fail "missing vocab file" "cannot open" "$FIXTURES/rwkv7-tiny.pth" "$TMP/out.gguf" --vocab "$TMP/none.txt"

echo "== hostile and broken inputs ($BAD)"
if [ ! -f "$BAD/expect.txt" ]; then
    bad "$BAD/expect.txt missing (run tests/data/bad/make_bad.py)"
else
    while IFS=$'\t' read -r file word; do
        case "$file" in \#*|"") continue ;; esac
        if [ ! -f "$BAD/$file" ]; then
            bad "$BAD/$file missing"
        elif [ -z "$word" ]; then
            for type in f32 f16 bf16 q8_0; do
                expect_ok "$file --type $type" "$BAD/$file" "$TMP/out.gguf" --type "$type"
            done
        elif [ "${file#vocab-}" != "$file" ]; then
            expect_fail "$file" "$word" "$FIXTURES/rwkv7-tiny.pth" "$TMP/out.gguf" --vocab "$BAD/$file"
        else
            expect_fail "$file" "$word" "$BAD/$file" "$TMP/out.gguf"
        fi
    done < "$BAD/expect.txt"
fi

# A failed conversion must not touch an existing OUT.
printf 'keep me' > "$TMP/keep.gguf"
$TIMEOUT "$CONVERT" "$BAD/pkl-global-os-system.pth" "$TMP/keep.gguf" > /dev/null 2>&1
[ "$(cat "$TMP/keep.gguf")" = "keep me" ] && [ ! -e "$TMP/keep.gguf.tmp" ] && ok || bad "a failed run changed an existing output file"

echo "== command line"
expect_fail "no arguments" "expected" 
expect_fail "one argument" "expected" "$FIXTURES/rwkv7-tiny.pth"
expect_fail "unknown option" "unknown option" "$FIXTURES/rwkv7-tiny.pth" "$TMP/out.gguf" --fast
expect_fail "bad --type" "--type" "$FIXTURES/rwkv7-tiny.pth" "$TMP/out.gguf" --type q4_z
expect_fail "--chunk-size 0" "--chunk-size" "$FIXTURES/rwkv7-tiny.pth" "$TMP/out.gguf" --chunk-size 0
expect_fail "--chunk-topk x" "--chunk-topk" "$FIXTURES/rwkv7-tiny.pth" "$TMP/out.gguf" --chunk-topk x
expect_fail "--type without value" "needs a value" "$FIXTURES/rwkv7-tiny.pth" "$TMP/out.gguf" --type
expect_fail "missing input" "cannot open" "$TMP/none.pth" "$TMP/out.gguf"
expect_fail "input is a directory without a checkpoint" "neither" "$TMP" "$TMP/out.gguf"
expect_fail "input is not a checkpoint" "neither" "$FIXTURES/manifest.json" "$TMP/out.gguf"
expect_fail "unwritable output" "cannot create" "$FIXTURES/rwkv7-tiny.pth" "$TMP/no/such/dir/out.gguf"
expect_ok "--opt=value form" "$FIXTURES/rwkv7-tiny.pth" "$TMP/out.gguf" --type=bf16 --chunk-size=8 --chunk-topk=4
"$CONVERT" --help > "$TMP/stdout" 2>&1 && grep -q '^usage: rwkvx-convert' "$TMP/stdout" && ok || bad "--help"
"$CONVERT" -h > /dev/null 2>&1 && ok || bad "-h"

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
