# llama.cpp's rwkv7 layout and Hugging Face checkpoints (issue 14), without
# llama.cpp itself (that is `make interop`, tests/interop/run.sh). Sourced by
# tests/run.sh (uses $B, $T, run, ok, bad); also runs alone:
#   BUILD=build bash tests/test_interop.sh
if [ -z "${T:-}" ]; then
    set -u
    cd "$(dirname "$0")/.."
    B=${BUILD:-build}; T=$B/test; mkdir -p "$T"
    passed=0; failed=0
    ok()  { passed=$((passed + 1)); }
    bad() { failed=$((failed + 1)); echo "FAIL: $*"; }
    run() { local name=$1; shift; echo "== $name"; if "$@"; then ok; else bad "$name"; fi; }
    standalone=1
fi
L=$T/interop
mkdir -p "$L/llama" "$L/hf" "$L/bad"
grep '^rwkv7-tiny.pth ' tests/fixtures/cases.txt > "$L/cases.txt"

# refuse NAME WORD CMD...: status 1, one line on stderr containing WORD
refuse() {
    local name=$1 word=$2; shift 2
    "$@" > /dev/null 2> "$L/err.txt"; local rc=$?
    if [ $rc -eq 1 ] && [ "$(wc -l < "$L/err.txt")" -eq 1 ] && grep -qiF -- "$word" "$L/err.txt"; then ok
    else bad "$name (status $rc, expected 1 and '$word'): $(head -3 "$L/err.txt")"; fi
}
# same_logits NAME A.gguf B.gguf: rwkvx's logits of every position, bit for bit
tokens260=$(awk '$1 == "rwkvx-tiny.pth" && $5 == 260 { for (i = 7; i <= NF; i++) printf "%s%s", $i, (i < NF ? "," : ""); exit }' tests/fixtures/cases.txt)
same_logits() {
    $B/rwkvx-logits "$2" --tokens "$tokens260" --all --out "$L/a.f32" && $B/rwkvx-logits "$3" --tokens "$tokens260" --all --out "$L/b.f32" &&
        cmp -s "$L/a.f32" "$L/b.f32" && ok || bad "$1: logits differ"
}

echo "== llama.cpp layout: rwkvx-convert --llama-cpp, read back by rwkvx"
for type in f32 f16 bf16 q8_0; do
    $B/rwkvx-convert tests/fixtures/rwkv7-tiny.pth "$L/llama/rwkv7-tiny.$type.gguf" --llama-cpp --vocab bytes --type "$type" > "$L/log" 2>&1 &&
        ok || bad "convert --llama-cpp --type $type: $(tail -1 "$L/log")"
done
run "golden logits from llama.cpp-layout files, every mode and type" \
    $B/test_model "$L/cases.txt" tests/fixtures "$L/llama" f32 f16 bf16 q8_0
$B/rwkvx-convert tests/fixtures/rwkv7-tiny.pth "$L/ours.f32.gguf" --vocab bytes --type f32 > /dev/null
same_logits "llama.cpp layout = our layout (f32)" "$L/ours.f32.gguf" "$L/llama/rwkv7-tiny.f32.gguf"
grep -q 'rwkv7.context_length' "$L/llama/rwkv7-tiny.f32.gguf" && ! grep -q 'rwkvx.block_order' "$L/llama/rwkv7-tiny.f32.gguf" &&
    ok || bad "--llama-cpp output lacks rwkv7.* keys or has rwkvx.* ones"
refuse "--llama-cpp without a vocabulary" "needs a vocabulary" \
    $B/rwkvx-convert tests/fixtures/rwkv7-tiny.pth "$L/x.gguf" --llama-cpp
refuse "--llama-cpp on a hybrid" "sparse block" \
    $B/rwkvx-convert tests/fixtures/rwkvx-tiny.pth "$L/x.gguf" --llama-cpp --vocab bytes
# another architecture (same length, so the file stays well-formed)
sed 's/rwkv7/llama/' "$L/llama/rwkv7-tiny.f16.gguf" > "$L/bad/llama-arch.gguf"
refuse "a llama.cpp file of another architecture" "architecture 'llama'" \
    $B/rwkvx-logits "$L/bad/llama-arch.gguf" --tokens 1 --out "$L/x.f32"
sed 's/rwkv7\.context_length/rwkv7.context_lengt_/' "$L/llama/rwkv7-tiny.f16.gguf" > "$L/bad/no-context.gguf"
$B/rwkvx-logits "$L/bad/no-context.gguf" --tokens 1 --out "$L/x.f32" 2> "$L/err.txt" && ok ||
    bad "a llama.cpp file without context_length: $(cat "$L/err.txt")"
sed 's/blk\.0\.time_mix_w0/blk.0.time_mix_w9/' "$L/llama/rwkv7-tiny.f16.gguf" > "$L/bad/renamed.gguf"
refuse "a llama.cpp file with a missing tensor" "time_mix_w0" \
    $B/rwkvx-logits "$L/bad/renamed.gguf" --tokens 1 --out "$L/x.f32"

# gguf_edit IN OUT PYTHON: OUT is IN rewritten after PYTHON changed kv (the key/value bytes) or
# ts (a list of (name, ne, type, raw bytes)); tests/interop/dequantize.py reads and writes it
gguf_edit() {
    python3 -c "import sys; sys.path.insert(0, 'tests/interop'); import dequantize as d
kv, n_kv, align, ts = d.parse_gguf(sys.argv[1]); $3
d.write_gguf(sys.argv[2], kv, n_kv, align, ts)" "$1" "$2"
}
f16=$L/llama/rwkv7-tiny.f16.gguf
gguf_edit "$f16" "$L/bad/arwkv7.gguf" "kv = kv.replace(b'\x05' + bytes(7) + b'rwkv7', b'\x06' + bytes(7) + b'arwkv7', 1)"
refuse "llama.cpp's arwkv7 (RWKV-7 time-mix in a Qwen2 transformer)" "architecture 'arwkv7'" \
    $B/rwkvx-logits "$L/bad/arwkv7.gguf" --tokens 1 --out "$L/x.f32"
gguf_edit "$f16" "$L/bad/rms.gguf" "k = b'rwkv7.attention.layer_norm_rms_epsilon'; kv += d.struct.pack('<Q', len(k)) + k + d.struct.pack('<If', 6, 1e-6); n_kv += 1"
refuse "an rwkv7 file with RMS norms" "with RMS norms" $B/rwkvx-logits "$L/bad/rms.gguf" --tokens 1 --out "$L/x.f32"
gguf_edit "$f16" "$L/bad/shift.gguf" "k = b'rwkv7.token_shift_count'; kv += d.struct.pack('<Q', len(k)) + k + d.struct.pack('<II', 4, 1); n_kv += 1"
refuse "an rwkv7 file with token_shift_count 1" "token_shift_count 1" $B/rwkvx-logits "$L/bad/shift.gguf" --tokens 1 --out "$L/x.f32"
# a weight type rwkvx cannot read (IQ2_XXS, 16), named: the type is refused before the size is checked
gguf_edit "$f16" "$L/bad/iq2.gguf" "ts = [(n, ne, 16 if n == b'blk.0.time_mix_key.weight' else k, r) for n, ne, k, r in ts]"
refuse "an rwkv7 file with an unsupported weight type" "IQ2_XXS" $B/rwkvx-logits "$L/bad/iq2.gguf" --tokens 1 --out "$L/x.f32"
# no head: llama.cpp's rwkv7 loader needs output.weight (it does not tie it to token_embd.weight)
gguf_edit "$f16" "$L/bad/no-head.gguf" "ts = [t for t in ts if t[0] != b'output.weight']"
refuse "an rwkv7 file without output.weight" "tied to token_embd.weight" $B/rwkvx-logits "$L/bad/no-head.gguf" --tokens 1 --out "$L/x.f32"

echo "== Hugging Face (flash-linear-attention) checkpoints"
for type in f32 q8_0; do
    $B/rwkvx-convert tests/fixtures/rwkv7-tiny.pth "$L/pth.$type.gguf" --type "$type" > /dev/null
    for form in hf-rwkv7-tiny hf-rwkv7-tiny-sharded hf-rwkv7-tiny/model.safetensors; do
        out=$L/hf/$(echo "$form" | tr / _).$type.gguf
        if $B/rwkvx-convert "tests/fixtures/$form" "$out" --type "$type" > "$L/log" 2>&1; then
            same_logits "$form --type $type = the .pth's" "$L/pth.$type.gguf" "$out"
        else
            bad "convert $form --type $type: $(tail -1 "$L/log")"
        fi
    done
done
# the older fla layout: each layer's six lerps fused into attn.x_x (6, C). Made from the fixture by
# merging the six (contiguous) header entries into one, padded with spaces to the same length.
mkdir -p "$L/hf-v1" && cp tests/fixtures/hf-rwkv7-tiny/config.json "$L/hf-v1/"
perl -0777 -pe 's/("model\.layers\.(\d+)\.attn\.)x_r":\{"dtype":"BF16","shape":\[1,1,128\],"data_offsets":\[(\d+),\d+\]\},(?:"model\.layers\.\2\.attn\.x_[wkva]":\{[^}]*\},){4}"model\.layers\.\2\.attn\.x_g":\{"dtype":"BF16","shape":\[1,1,128\],"data_offsets":\[\d+,(\d+)\]\}/my $o = $&; my $n = "$1x_x\":{\"dtype\":\"BF16\",\"shape\":[6,128],\"data_offsets\":[$3,$4]}"; $n . (" " x (length($o) - length($n)))/ge' \
    tests/fixtures/hf-rwkv7-tiny/model.safetensors > "$L/hf-v1/model.safetensors"
[ "$(grep -ac '"model.layers.1.attn.x_x"' "$L/hf-v1/model.safetensors")" -eq 1 ] && ok || bad "making the attn.x_x variant"
if $B/rwkvx-convert "$L/hf-v1" "$L/hf-v1.f32.gguf" --type f32 > "$L/log" 2>&1; then
    same_logits "fused attn.x_x = the .pth's" "$L/pth.f32.gguf" "$L/hf-v1.f32.gguf"
else
    bad "convert the attn.x_x variant: $(tail -1 "$L/log")"
fi
cp "$L/hf/hf-rwkv7-tiny-sharded.f32.gguf" "$L/hf/rwkv7-tiny.f32.gguf"
run "golden logits from the sharded Hugging Face checkpoint" $B/test_model "$L/cases.txt" tests/fixtures "$L/hf" f32

# tie_word_embeddings: a checkpoint saved without lm_head.weight gets the embedding as its head
mkdir -p "$L/hf-tied"
sed 's/"tie_word_embeddings": false/"tie_word_embeddings": true/' tests/fixtures/hf-rwkv7-tiny/config.json > "$L/hf-tied/config.json"
python3 -c "import json, struct, sys
data = open(sys.argv[1], 'rb').read(); n = struct.unpack_from('<Q', data)[0]; header = json.loads(data[8:8 + n])
del header['lm_head.weight']  # its bytes stay, unreferenced (the offsets need not change)
text = json.dumps(header).encode(); text += b' ' * (-len(text) % 8)
open(sys.argv[2], 'wb').write(struct.pack('<Q', len(text)) + text + data[8 + n:])" \
    tests/fixtures/hf-rwkv7-tiny/model.safetensors "$L/hf-tied/model.safetensors"
if $B/rwkvx-convert "$L/hf-tied" "$L/tied.f32.gguf" --type f32 > "$L/log" 2>&1; then
    python3 -c "import sys; sys.path.insert(0, 'tests/interop'); import dequantize as d
t = {n: (ne, k, r) for n, ne, k, r in d.read_gguf(sys.argv[1])}
sys.exit(t[b'output.weight'] != t[b'token_embd.weight'])" "$L/tied.f32.gguf" &&
        $B/rwkvx-logits "$L/tied.f32.gguf" --tokens 1,2,3 --out "$L/x.f32" && ok ||
        bad "tie_word_embeddings: output.weight should equal token_embd.weight and load"
else
    bad "convert a tie_word_embeddings checkpoint: $(tail -1 "$L/log")"
fi
cp tests/fixtures/hf-rwkv7-tiny/config.json "$L/hf-tied/config.json"
refuse "Hugging Face: no lm_head.weight, not tied" "head.weight" $B/rwkvx-convert "$L/hf-tied" "$L/x.gguf"

# broken Hugging Face directories: config.json and names
hf_bad() { # NAME WORD SED-SCRIPT: config.json edited by SED-SCRIPT
    local d=$L/bad/$1; mkdir -p "$d"
    cp tests/fixtures/hf-rwkv7-tiny/model.safetensors "$d/"
    sed "$3" tests/fixtures/hf-rwkv7-tiny/config.json > "$d/config.json"
    refuse "Hugging Face: $1" "$2" $B/rwkvx-convert "$d" "$L/x.gguf"
}
hf_bad hybrid-attn '"attn"' 's/"attn": null/"attn": {"layers": [1], "num_heads": 2}/'
hf_bad other-arch "RWKV7ForCausalLM" 's/RWKV7ForCausalLM/LlamaForCausalLM/'
hf_bad wrong-size "vocab_size 301" 's/"vocab_size": 300/"vocab_size": 301/'
hf_bad head-dim "head_dim 128" 's/"head_dim": 64/"head_dim": 128/'
hf_bad activation "sqrelu" 's/"sqrelu"/"gelu"/'
hf_bad no-bias "norm_bias" 's/"norm_bias": true/"norm_bias": false/'
hf_bad bad-json "config.json" 's/"norm_eps": 1e-05,/"norm_eps": ,/'
mkdir -p "$L/bad/no-config" && cp tests/fixtures/hf-rwkv7-tiny/model.safetensors "$L/bad/no-config/"
refuse "Hugging Face: no config.json" "config.json" $B/rwkvx-convert "$L/bad/no-config" "$L/x.gguf"
refuse "Hugging Face: empty directory" "neither" $B/rwkvx-convert "$L/bad" "$L/x.gguf"
mkdir -p "$L/bad/renamed" && cp tests/fixtures/hf-rwkv7-tiny/config.json "$L/bad/renamed/"
sed 's/model\.layers\.1\.attn\.k_k/model.layers.1.attn.q_q/' tests/fixtures/hf-rwkv7-tiny/model.safetensors > "$L/bad/renamed/model.safetensors"
refuse "Hugging Face: unknown tensor named" "model.layers.1.attn.q_q" $B/rwkvx-convert "$L/bad/renamed" "$L/x.gguf"
mkdir -p "$L/bad/shard-escape"
cp tests/fixtures/hf-rwkv7-tiny-sharded/* "$L/bad/shard-escape/"
sed 's|"model-00002-of-00002.safetensors"|"../model-00002-of-00002.safetensors"|' \
    tests/fixtures/hf-rwkv7-tiny-sharded/model.safetensors.index.json > "$L/bad/shard-escape/model.safetensors.index.json"
refuse "Hugging Face: a shard outside the directory" "not a file name" $B/rwkvx-convert "$L/bad/shard-escape" "$L/x.gguf"
rm "$L/bad/shard-escape/model-00002-of-00002.safetensors"
cp tests/fixtures/hf-rwkv7-tiny-sharded/model.safetensors.index.json "$L/bad/shard-escape/"
refuse "Hugging Face: a missing shard" "cannot open" $B/rwkvx-convert "$L/bad/shard-escape" "$L/x.gguf"

if [ -n "${standalone:-}" ]; then
    echo
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
fi
