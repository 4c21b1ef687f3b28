# Tokenizer, sampler, rwkvx-tokenize, rwkvx-chat and minimal: sourced by
# tests/run.sh (uses its B, T, run, ok, bad and expect_error).
VOCAB=tests/fixtures/rwkv_vocab_v20230424.txt
echo "== tokenizer, sampler and chat: models"
# a fixture with sparse blocks and the 256-byte vocabulary (vocab 300: the World vocabulary does not fit)
CHATM=$T/rwkvx-tiny.bytes.gguf
[ -f "$CHATM" ] || $B/rwkvx-convert tests/fixtures/rwkvx-tiny.pth "$CHATM" --type f32 --chunk-size 16 --chunk-topk 3 --vocab bytes > "$T/convert.log" 2>&1 \
    || bad "convert rwkvx-tiny --vocab bytes: $(tail -1 "$T/convert.log")"
# a random one-block RWKV-7 with 65536 rows, made here, carrying the World vocabulary
WIDE=$T/wide-world.gguf
if [ ! -f "$WIDE" ]; then
    $B/make_wide_model "$T/wide.safetensors" && \
    $B/rwkvx-convert "$T/wide.safetensors" "$WIDE" --type q8_0 --vocab $VOCAB > "$T/convert.log" 2>&1 \
        || bad "convert the wide model with the World vocabulary: $(tail -1 "$T/convert.log")"
fi

run "tokenizer: reference cases, round trips, vocabulary parser, model vocabularies (ASan/UBSan)" \
    $B/test_tokenizer_asan $VOCAB tests/fixtures/tokenizer_cases.txt "$WIDE" world "$CHATM" bytes
# (the sampler's own test, test_sampler_asan, runs in tests/run.sh's second lane)

# rwkvx-tokenize: the model's vocabulary and the text file agree; decode inverts encode
printf 'The pass key is 71432. Remember it.\n\nUser: \xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80\n' > "$T/tok_in.txt"
run "rwkvx-tokenize: model and --vocab give the same ids" bash -c \
    "$B/rwkvx-tokenize $WIDE < $T/tok_in.txt > $T/tok_a.txt && $B/rwkvx-tokenize --vocab $VOCAB < $T/tok_in.txt > $T/tok_b.txt && cmp $T/tok_a.txt $T/tok_b.txt"
run "rwkvx-tokenize --decode inverts encoding" bash -c \
    "$B/rwkvx-tokenize --vocab $VOCAB --decode < $T/tok_a.txt > $T/tok_c.txt && cmp $T/tok_in.txt $T/tok_c.txt"
run "rwkvx-tokenize: reference ids" bash -c "printf 'Hello, world!' | $B/rwkvx-tokenize --vocab $VOCAB | grep -qx '33155 45 40213 34'"
echo "== rwkvx-tokenize refuses bad input"
expect_error "tokenize: no vocabulary" $B/rwkvx-tokenize
expect_error "tokenize: missing vocabulary file" $B/rwkvx-tokenize --vocab "$T/missing.txt"
expect_error "tokenize: bad vocabulary file" $B/rwkvx-tokenize --vocab tests/fixtures/cases.txt
expect_error "tokenize: model without vocabulary" $B/rwkvx-tokenize "$T/rwkv7-tiny.f16.gguf"
expect_error "tokenize: bad option" $B/rwkvx-tokenize --vocab $VOCAB --fast
echo "1 2 99999" > "$T/bad_ids.txt"
expect_error "tokenize: id out of range" bash -c "$B/rwkvx-tokenize --vocab $VOCAB --decode < $T/bad_ids.txt"

# rwkvx-chat on a pipe: two turns give, at every sampling step, the logits of the whole transcript fed at once
printf 'hello there\n  how\\\n\\\nare you?  \n' > "$T/chat_in.txt"
run "chat: a two-turn conversation equals the transcript fed at once" bash -c \
    "$B/rwkvx-chat -m $CHATM --threads 1 --seed 7 -n 40 --dump-tokens $T/chat.tok --dump-logits $T/chat.f32 < $T/chat_in.txt > $T/chat_out.txt 2> $T/chat_err.txt &&
     $B/test_chat_replay $CHATM $T/chat.tok $T/chat.f32 80"
run "chat: the transcript is in the World chat format, message cleaned" bash -c \
    "$B/rwkvx-tokenize --decode $CHATM < $T/chat.tok | head -c 29 | cmp - <(printf 'User: hello there\n\nAssistant:') &&
     $B/rwkvx-tokenize --decode $CHATM < $T/chat.tok | grep -qa '^User: how\$' && grep -q 'tokens/s' $T/chat_err.txt"
run "chat: /save then /load continues identically (another process, another seed)" bash -c \
    "printf 'hello\n/save $T/chat.save\nhow are you?\n' | $B/rwkvx-chat-asan -m $CHATM --seed 1 -n 30 --top-k 50 --presence 0.3 --dump-tokens $T/save_a.tok > $T/save_a.txt 2>/dev/null &&
     printf '/load $T/chat.save\nhow are you?\n' | $B/rwkvx-chat-asan -m $CHATM --seed 99 -n 30 --top-k 50 --presence 0.3 --dump-tokens $T/save_b.tok > $T/save_b.txt 2>/dev/null &&
     [ \$(wc -l < $T/save_b.tok) -gt 30 ] && tail -n \$(wc -l < $T/save_b.tok) $T/save_a.tok | cmp - $T/save_b.tok &&
     tail -c \$(wc -c < $T/save_b.txt) $T/save_a.txt | cmp - $T/save_b.txt"
run "chat: commands (/temp /topp /reset /help, unknown) keep the program going" bash -c \
    "printf '/temp 0\n/topp 0.5\n/help\n/nonsense\n/reset\nhi\n/load $T/missing\n/quit\nnot read\n' | $B/rwkvx-chat -m $CHATM --threads 1 -n 5 > $T/cmd_out.txt 2> $T/cmd_err.txt &&
     grep -q 'temperature = 0' $T/cmd_err.txt && grep -q 'top-p = 0.5' $T/cmd_err.txt && grep -q '/quit' $T/cmd_err.txt &&
     grep -q 'unknown command' $T/cmd_err.txt && [ \$(grep -c Assistant: $T/cmd_out.txt) -eq 1 ]"
run "chat -p: greedy completion is reproducible and matches rwkvx-logits" bash -c \
    "$B/rwkvx-chat -m $CHATM --threads 1 -p 'abc' -n 1 --temp 0 > $T/p1.txt && $B/rwkvx-chat -m $CHATM --threads 1 -p 'abc' -n 8 --temp 0 --seed 3 > $T/p2.txt &&
     $B/rwkvx-chat -m $CHATM --threads 1 -p 'abc' -n 8 --temp 0 --seed 4 | cmp - $T/p2.txt && [ \$(wc -c < $T/p2.txt) -ge 11 ] &&
     head -c 3 $T/p1.txt | cmp - <(printf abc) &&
     $B/rwkvx-logits $CHATM --tokens 97,98,99 --out $T/p.f32 && $B/test_chat_replay --argmax $T/p.f32 256 \$(tail -c +4 $T/p1.txt | od -An -tu1)"
run "chat: a long prompt shows a progress bar" bash -c \
    "$B/rwkvx-chat -m $CHATM --threads 1 -p \"\$(printf 'The grass is green. %.0s' \$(seq 60))\" -n 2 > /dev/null 2> $T/bar.txt && grep -q '1200/1200 tokens' $T/bar.txt"
run "chat and minimal on the World-vocabulary model" bash -c \
    "$B/rwkvx-chat -m $WIDE -p 'The pass key is' -n 5 --seed 1 > /dev/null && echo 'hi' | $B/rwkvx-chat -m $WIDE -n 5 --seed 1 | grep -q Assistant: &&
     $B/minimal $WIDE 'Hello' > /dev/null"
# Ctrl-C ends the reply, not the program; at the prompt it does not quit either
chat_interrupt() {
    local fifo=$T/chat.fifo pid rc
    rm -f "$fifo"; mkfifo "$fifo"
    $B/rwkvx-chat -m $CHATM --threads 1 --temp 0 -n 0 < "$fifo" > "$T/int_out.txt" 2> "$T/int_err.txt" & pid=$!
    exec 3> "$fifo"
    echo "hello" >&3; sleep 1.5; kill -INT $pid; sleep 0.5
    kill -INT $pid; sleep 0.3
    echo "/quit" >&3; exec 3>&-
    wait $pid; rc=$?
    rm -f "$fifo"
    [ $rc -eq 0 ] && grep -q '\[interrupted\]' "$T/int_err.txt" && grep -q 'tokens/s' "$T/int_err.txt"
}
run "chat: Ctrl-C interrupts a reply, not the program" chat_interrupt
echo "== rwkvx-chat refuses bad arguments"
expect_error "chat: no model" $B/rwkvx-chat
expect_error "chat: missing model file" $B/rwkvx-chat -m "$T/missing.gguf"
expect_error "chat: model without vocabulary" $B/rwkvx-chat -m "$T/rwkv7-tiny.f16.gguf" -p x
expect_error "chat: unknown option" $B/rwkvx-chat -m $CHATM --top_k 3
expect_error "chat: bad temperature" $B/rwkvx-chat -m $CHATM --temp hot
expect_error "chat: top-p out of range" $B/rwkvx-chat -m $CHATM --top-p 1.5
expect_error "chat: negative top-k" $B/rwkvx-chat -m $CHATM --top-k -1
expect_error "chat: bad threads" $B/rwkvx-chat -m $CHATM --threads 1025
expect_error "chat: bad chunk size" $B/rwkvx-chat -m $CHATM --chunk-size x
expect_error "chat: missing value" $B/rwkvx-chat -m $CHATM -n
expect_error "chat: stray argument" $B/rwkvx-chat -m $CHATM hello
expect_error "chat: empty prompt" $B/rwkvx-chat -m $CHATM -p ""
