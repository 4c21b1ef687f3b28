# How every tool treats the user's files, paths, signals and options (issue
# 12; docs/HOSTILE.md, "Tool behaviour", lists each line with its test).
# Sourced by tests/run.sh after test_chat.sh (uses its B, T, run, ok, bad,
# expect_error and the models it made).
echo "== tool behaviour: outputs, paths, signals, option ranges"
TM=models/rwkvx-passkey.gguf             # byte vocabulary: 4 RWKV-7 + 2 sparse blocks
CK=tests/fixtures/rwkv7-tiny.pth
W=$T/tools
rm -rf "$W"; mkdir -p "$W"
cp "$TM" "$W/model.gguf"; cp "$TM" "$W/model.orig"
ln -s model.gguf "$W/link.gguf"; ln "$W/model.gguf" "$W/hard.gguf"

# refuses NAME WORD CMD...: status 1 and exactly one line on stderr, containing WORD
refuses() {
    local name=$1 word=$2; shift 2
    "$@" > "$W/out.txt" 2> "$W/err.txt"; local rc=$?
    if [ $rc -eq 1 ] && [ "$(wc -l < "$W/err.txt")" -eq 1 ] && grep -qF -- "$word" "$W/err.txt"; then ok
    else bad "$name (status $rc, want 1 and '$word'): $(head -c 300 "$W/err.txt")"; fi
}
# temporaries DIR: no temporary output file is left in DIR
temporaries() { ! compgen -G "$1/*.tmp-*" > /dev/null; }
export -f temporaries
# wait_for_temporary DIR PID: waits (up to 60 s) until PID has a temporary file in DIR; 1 if PID ended first
wait_for_temporary() {
    local i
    for i in $(seq 60000); do
        compgen -G "$1/*.tmp-*" > /dev/null && return 0
        kill -0 "$2" 2> /dev/null || return 1
        sleep 0.001
    done
    return 1
}

# 1. chat /save never writes over the loaded model, by any name, nor over a file that is not a state
run "chat: /save over the loaded model (its name, a symlink, a hard link) is refused; the model is intact and the chat goes on" bash -c \
    "printf 'hi\n/save $W/model.gguf\n/save $W/link.gguf\n/save $W/hard.gguf\nhello\n' |
         $B/rwkvx-chat -m $W/model.gguf -n 3 --seed 1 > $W/chat1.out 2> $W/chat1.err &&
     cmp $W/model.gguf $W/model.orig && [ \$(grep -c 'it is the input' $W/chat1.err) -eq 3 ] && [ \$(grep -c Assistant: $W/chat1.out) -eq 2 ]"
echo "my notes" > "$W/notes.txt"
run "chat: /save over a file that is not a saved conversation is refused, the file intact" bash -c \
    "printf 'hi\n/save $W/notes.txt\n' | $B/rwkvx-chat -m $TM -n 3 --seed 1 > /dev/null 2> $W/chat2.err &&
     grep -q 'not a saved conversation' $W/chat2.err && [ \"\$(cat $W/notes.txt)\" = 'my notes' ]"
run "chat: /save replaces an older saved conversation" bash -c \
    "printf 'hi\n/save $W/conv.save\nhello\n/save $W/conv.save\n' | $B/rwkvx-chat -m $TM -n 3 --seed 1 > /dev/null 2> $W/chat3.err &&
     [ \$(grep -c '^saved' $W/chat3.err) -eq 2 ] && temporaries $W"

# 2. no tool writes over one of its inputs
cp "$CK" "$W/ck.pth"
refuses "convert: OUT is IN" "it is the input" $B/rwkvx-convert "$W/ck.pth" "$W/ck.pth"
refuses "convert: OUT is the vocabulary" "it is the input" $B/rwkvx-convert "$W/ck.pth" "$W/notes.txt" --vocab "$W/notes.txt"
run "convert: the input is intact" cmp "$W/ck.pth" "$CK"
refuses "logits: --out is the model" "it is the input" $B/rwkvx-logits "$W/model.gguf" --tokens 1 --out "$W/model.gguf"
refuses "logits: --out is the model through a symlink" "it is the input" $B/rwkvx-logits "$W/model.gguf" --tokens 1 --out "$W/link.gguf"
refuses "logits: --out is a hard link to the model" "it is the input" $B/rwkvx-logits "$W/model.gguf" --tokens 1 --out "$W/hard.gguf"
echo "1 2 3" > "$W/toks.txt"
refuses "logits: --out is the tokens file" "it is the input" $B/rwkvx-logits "$W/model.gguf" --tokens-file "$W/toks.txt" --out "$W/toks.txt"
refuses "soak: --csv is the model" "it is the input" $B/rwkvx-soak "$W/model.gguf" --tokens 10 --csv "$W/model.gguf"
refuses "passkey: --csv is the model" "it is the input" $B/rwkvx-passkey "$W/model.gguf" --lengths 1k --csv "$W/model.gguf"
refuses "passkey: --svg is the model" "it is the input" $B/rwkvx-passkey "$W/model.gguf" --lengths 1k --svg "$W/link.gguf"
refuses "passkey: --csv and --svg are one file" "same file" $B/rwkvx-passkey "$W/model.gguf" --csv "$W/r.x" --svg "$W/r.x"
run "logits, soak, passkey: the model is intact" cmp "$W/model.gguf" "$W/model.orig"

# 3. the converter's temporary file: unique, never a link followed or a file clobbered, gone after a signal
echo "victim" > "$W/victim"
ln -s victim "$W/out.gguf.tmp"
echo "an old OUT.tmp" > "$W/old.gguf.tmp"
run "convert: a symlink at OUT.tmp is not followed; OUT is a regular file" bash -c \
    "$B/rwkvx-convert $CK $W/out.gguf > /dev/null && [ \"\$(cat $W/victim)\" = victim ] && [ -f $W/out.gguf ] && [ ! -L $W/out.gguf ] &&
     [ -L $W/out.gguf.tmp ] && $B/rwkvx-logits $W/out.gguf --tokens 1 --out $W/x.f32"
run "convert: an existing OUT.tmp is left alone" bash -c \
    "$B/rwkvx-convert $CK $W/old.gguf > /dev/null && [ \"\$(cat $W/old.gguf.tmp)\" = 'an old OUT.tmp' ]"
run "convert: the output file gets the usual permissions (0666 less the umask)" bash -c \
    "(umask 022; $B/rwkvx-convert $CK $W/mode.gguf > /dev/null) && [ \$(stat -c %a $W/mode.gguf) = 644 ]"
# kill_mid_run SIGNAL OUT CMD...: OUT holds "old"; the signal comes while CMD
# writes its temporary file; afterwards OUT still holds "old" and no
# temporary file is left. CMD is retried (up to 5 times) if it ends first.
kill_mid_run() {
    local sig=$1 out=$2 try pid; shift 2
    for try in 1 2 3 4 5; do
        echo old > "$out"
        # a background job starts with SIGINT ignored (no job control here): perl puts it back
        perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or exit 127' "$@" > /dev/null 2>&1 & pid=$!
        if wait_for_temporary "$(dirname "$out")" $pid; then
            kill -"$sig" $pid; wait $pid
            [ "$(head -c 3 "$out")" = old ] && [ "$(wc -c < "$out")" -eq 4 ] && temporaries "$(dirname "$out")"
            return
        fi
        wait $pid
    done
    echo "(the program always ended before the signal)"; return 1
}
$B/make_wide_model "$W/wide.safetensors" > /dev/null
run "convert: SIGTERM mid-run leaves OUT as it was and no temporary file" kill_mid_run TERM "$W/sig.gguf" \
    $B/rwkvx-convert "$W/wide.safetensors" "$W/sig.gguf" --type q8_0
run "convert: SIGINT (Ctrl-C) mid-run leaves OUT as it was and no temporary file" kill_mid_run INT "$W/sig.gguf" \
    $B/rwkvx-convert "$W/wide.safetensors" "$W/sig.gguf" --type f32

# 4. every output: check everything first, write to a temporary file, rename on success, nothing left on failure
$B/rwkvx-passkey "$TM" --lengths 1k --depths 2 --seeds 1 --threads 1 --csv "$W/pk.csv" --svg "$W/pk.svg" > /dev/null
cp "$W/pk.csv" "$W/pk.csv.orig"; cp "$W/pk.svg" "$W/pk.svg.orig"
refuses "passkey: a bad model keeps the previous --csv and --svg" "cannot load" \
    $B/rwkvx-passkey tests/fixtures/cases.txt --csv "$W/pk.csv" --svg "$W/pk.svg"
refuses "passkey: a bad option keeps the previous --csv and --svg" "bad --lengths" \
    $B/rwkvx-passkey "$TM" --csv "$W/pk.csv" --svg "$W/pk.svg" --lengths 1k,,2k
run "passkey: SIGTERM mid-run keeps the previous results, no temporary file" kill_mid_run TERM "$W/pk.csv" \
    $B/rwkvx-passkey "$TM" --lengths 16k --depths 10 --seeds 5 --threads 1 --csv "$W/pk.csv"
run "passkey: after the failures the previous results are intact" bash -c \
    "cmp $W/pk.svg $W/pk.svg.orig && $B/rwkvx-passkey $TM --lengths 1k --depths 2 --seeds 1 --threads 1 --csv $W/pk.csv > /dev/null && cmp $W/pk.csv $W/pk.csv.orig"
# a full disk, as a file size limit (SIGXFSZ ignored, so a write fails with EFBIG instead of killing)
echo old > "$W/big.f32"
refuses "logits: a write that fails (file size limit) is an error, the old --out kept" "cannot write" \
    bash -c "trap '' XFSZ; ulimit -f 1; exec $B/rwkvx-logits $TM --tokens 1,2,3,4,5,6,7,8 --all --out $W/big.f32"
run "logits: after the failed write: the old file, no temporary file" bash -c "[ \"\$(cat $W/big.f32)\" = old ] && temporaries $W"
run "chat: a /save that fails (file size limit) leaves no file" bash -c \
    "printf 'hi\n/save $W/cut.save\n' | bash -c \"trap '' XFSZ; ulimit -f 1; exec $B/rwkvx-chat -m $TM -n 3 --seed 1\" > /dev/null 2> $W/cut.err &&
     grep -q 'cannot write' $W/cut.err && [ ! -e $W/cut.save ] && temporaries $W"
refuses "logits: --out in a missing directory" "cannot create" $B/rwkvx-logits "$TM" --tokens 1 --out "$W/no/such/dir/x.f32"
refuses "logits: --out is a directory" "is a directory" $B/rwkvx-logits "$TM" --tokens 1 --out "$W"
run "logits: --out /dev/null (a special file) is written in place" $B/rwkvx-logits "$TM" --tokens 1 --out /dev/null

# 5. chat --max-context: the turn is refused, the chat goes on
run "chat --max-context: a turn past the limit is refused and the chat goes on (even /reset)" bash -c \
    "printf 'this first message is far too long for the limit\nhi\nhi again, once more\n/reset\nhi\n' |
         $B/rwkvx-chat -m $TM --max-context 40 -n 8 --seed 1 > $W/ctx.out 2> $W/ctx.err &&
     [ \$(grep -c Assistant: $W/ctx.out) -eq 2 ] && [ \$(grep -c 'not sent' $W/ctx.err) -eq 2 ] && grep -q 'new conversation' $W/ctx.err &&
     head -1 $W/ctx.err | grep -q 'context 40 tokens'"
run "chat --max-context: with no conversation yet, the refusal does not suggest /reset" bash -c \
    "printf 'this first message is far too long for the limit\n' | $B/rwkvx-chat -m $TM --max-context 20 > $W/ctx2.out 2> $W/ctx2.err &&
     grep -q 'not sent' $W/ctx2.err && ! grep -q /reset $W/ctx2.err && ! grep -q Assistant: $W/ctx2.out"

# 6. rwkvx-tokenize streams: bounded memory, the ids of encoding the input whole
VOCAB=tests/fixtures/rwkv_vocab_v20230424.txt
run "tokenize: 100 MB of input under a 64 MB address-space limit" bash -c \
    "yes hello | head -c 100000000 | (ulimit -v 64000; $B/rwkvx-tokenize --vocab $VOCAB) | tail -c 20 | grep -q '11 25579\$'"
cat README.md docs/*.md tools/*.c > "$W/text.txt"
gcc -std=c99 -O2 -fopenmp -DPIECE_BYTES=7 -o "$B/rwkvx-tokenize-piece7" tools/tokenize.c "$B/lib/rwkvx-native.o" -lm
run "tokenize: pieces of 7 bytes give the ids of 64 KB pieces, and decode back to the text" bash -c \
    "$B/rwkvx-tokenize --vocab $VOCAB < $W/text.txt > $W/a.ids && $B/rwkvx-tokenize-piece7 --vocab $VOCAB < $W/text.txt | cmp - $W/a.ids &&
     $B/rwkvx-tokenize --vocab $VOCAB --decode < $W/a.ids | cmp - $W/text.txt"

# 7. the examples check every status and say why they stop; the README shows embed.c as it is
refuses "minimal: an empty prompt" "empty" $B/minimal "$TM" ""
run "minimal: a prompt of 3,000 tokens" bash -c "$B/minimal $TM \"\$(head -c 3000 README.md)\" > /dev/null"
refuses "minimal: a model without a vocabulary" "no vocabulary" $B/minimal "$T/rwkv7-tiny.f16.gguf" hi
refuses "embed: a token out of range" "token 999" $B/embed "$TM" 999
readme_embed() { # the code block after "(`examples/embed.c`):" in README.md
    awk 'index($0, "(`examples/embed.c`):") { f = 1; next } f && $0 == "```c" { p = 1; next } p && $0 == "```" { exit } p' README.md |
        cmp - examples/embed.c
}
run "README: the embedding example is examples/embed.c" readme_embed

# 8. a directory given as a model, or as an input file, is named as one
refuses "logits: a directory as the model" "is a directory" $B/rwkvx-logits "$W" --tokens 1 --out "$W/x.f32"
for tool in soak bench passkey tokenize; do
    refuses "$tool: a directory as the model" "is a directory" $B/rwkvx-$tool "$W"
done
refuses "chat: a directory as the model" "is a directory" $B/rwkvx-chat -m "$W"
refuses "convert: a directory that is not a Hugging Face checkpoint" "directory '$W' holds neither" $B/rwkvx-convert "$W" "$W/x.gguf"
refuses "logits: a directory as --tokens-file" "is a directory" $B/rwkvx-logits "$TM" --tokens-file "$W" --out "$W/x.f32"

# 9. token lists: empty items and signs refused, one line
for bad_list in "1,,2" ",1" "1," "+3" "-0" "1 x" " , "; do
    refuses "logits: --tokens '$bad_list' refused" "bad token list" $B/rwkvx-logits "$TM" --tokens "$bad_list" --out "$W/x.f32"
done
printf '1 2\n3 oops 4\n5\n6\n7\n8\n9\n10\n11\n' > "$W/bad_toks.txt"
refuses "logits: a bad --tokens-file, one line naming the item" "item 4 'oops'" $B/rwkvx-logits "$TM" --tokens-file "$W/bad_toks.txt" --out "$W/x.f32"
run "logits: '1, 2 ,3' and '1 2 3' and one id a line are the same list" bash -c \
    "$B/rwkvx-logits $TM --tokens '1, 2 ,3' --out $W/l1.f32 && $B/rwkvx-logits $TM --tokens '1 2 3' --out $W/l2.f32 &&
     printf '1\n2\n3\n' > $W/l.txt && $B/rwkvx-logits $TM --tokens-file $W/l.txt --out $W/l3.f32 && cmp $W/l1.f32 $W/l2.f32 && cmp $W/l1.f32 $W/l3.f32"

# 10. an unknown option is "unknown option", wherever it is; a known one without its value "needs a value"
for tool in logits soak bench passkey tokenize convert; do
    refuses "$tool: --bogus as the last argument is an unknown option" "unknown option '--bogus'" $B/rwkvx-$tool "$TM" --bogus
done
for tool in logits soak bench passkey; do
    refuses "$tool: --threads without a value" "needs a value" $B/rwkvx-$tool "$TM" --threads
done
refuses "tokenize: --vocab without a value" "needs a value" $B/rwkvx-tokenize --vocab
refuses "convert: --vocab without a value" "needs a value" $B/rwkvx-convert "$CK" "$W/x.gguf" --vocab
refuses "chat: --bogus as the last argument is an unknown option" "unknown option '--bogus'" $B/rwkvx-chat -m "$TM" --bogus
refuses "chat: -n without a value" "needs a value" $B/rwkvx-chat -m "$TM" -n
refuses "logits: an option where a value belongs" "needs a value" $B/rwkvx-logits "$TM" --out --all --tokens 1

# 11. one range and one meaning per option
refuses "convert: --chunk-size 16777217 (the loader's bound is 2^24)" "from 1 to 16777216" $B/rwkvx-convert "$CK" "$W/x.gguf" --chunk-size 16777217
refuses "convert: --chunk-topk 16777217" "from 1 to 16777216" $B/rwkvx-convert "$CK" "$W/x.gguf" --chunk-topk 16777217
run "convert: --chunk-size 16777216 writes a file the loader takes" bash -c \
    "$B/rwkvx-convert $CK $W/big-chunk.gguf --chunk-size 16777216 > /dev/null && $B/rwkvx-logits $W/big-chunk.gguf --tokens 1 --out $W/x.f32"
for tool in logits soak bench passkey; do
    refuses "$tool: --chunk-size 2^30 refused (beyond 2^24)" "from 1 to 16777216" $B/rwkvx-$tool "$TM" --chunk-size 1073741824
    refuses "$tool: --threads 1025 refused" "from 0 to 1024" $B/rwkvx-$tool "$TM" --threads 1025
    refuses "$tool: --threads -1 refused" "from 0 to 1024" $B/rwkvx-$tool "$TM" --threads -1
    refuses "$tool: --max-context -1 refused" "from 0 to 2147483647" $B/rwkvx-$tool "$TM" --max-context -1
    refuses "$tool: --kv-limit in another order than MAX,KEEP,WINDOW" "MAX,KEEP,WINDOW = 100,200,10" $B/rwkvx-$tool "$TM" --kv-limit 100,200
done
refuses "chat: --chunk-size 2^30 refused" "from 1 to 16777216" $B/rwkvx-chat -m "$TM" --chunk-size 1073741824
refuses "chat: --threads 1025 refused" "from 0 to 1024" $B/rwkvx-chat -m "$TM" --threads 1025
for bad_kv in "" "," "0" "-5" "x" "12x" "1," ",2" "1,,2" "1,2,3," "1,2,3,4" "1073741825" "99999999999999999999" " 5" "5 "; do
    refuses "--kv-limit '$bad_kv' refused" "bad --kv-limit" $B/rwkvx-logits "$TM" --tokens 1 --out "$W/x.f32" --kv-limit "$bad_kv"
done
run "--threads 0 (the default) and --max-context 0 (no limit) mean the same in every tool" bash -c \
    "$B/rwkvx-logits $TM --tokens 1,2,3 --threads 0 --max-context 0 --out $W/t0.f32 && $B/rwkvx-logits $TM --tokens 1,2,3 --out $W/t.f32 && cmp $W/t0.f32 $W/t.f32 &&
     $B/rwkvx-chat -m $TM -p hi -n 2 --threads 0 --max-context 0 --seed 1 > /dev/null 2>&1 &&
     $B/rwkvx-passkey $TM --lengths 600 --depths 1 --seeds 1 --threads 0 --max-context 0 > /dev/null &&
     $B/rwkvx-soak $TM --tokens 5 --every 5 --threads 0 --max-context 0 > /dev/null &&
     $B/rwkvx-bench $TM --prompt 8 --gen 2 --repeat 1 --no-ceilings --threads 0 --max-context 0 > /dev/null"
# the machine's ceilings in the JSON: bandwidth, the FMA peak and the integer peak, each positive and named
run "bench --json: the ceilings, the FMA and the integer (int8) peak" bash -c \
    "$B/rwkvx-bench $TM --prompt 8 --gen 2 --repeat 1 --threads 1 --json > $W/bench.json &&
     python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(not (d[\"bw_gb_s\"] > 0 and d[\"fma_gflop_s\"] > 0 and d[\"int8_gop_s\"] > 0 and d[\"int8_isa\"] in (\"avx512vnni\", \"avxvnni\", \"avx2\", \"neon-dotprod\", \"scalar\") and d[\"prefill_frac_of_int8_peak\"] > 0))' $W/bench.json"
run "--kv-limit MAX, MAX,KEEP and MAX,KEEP,WINDOW accepted" bash -c \
    "$B/rwkvx-logits $TM --tokens 1 --out $W/x.f32 --kv-limit 20000 && $B/rwkvx-logits $TM --tokens 1 --out $W/x.f32 --kv-limit 1024,768 &&
     $B/rwkvx-logits $TM --tokens 1 --out $W/x.f32 --kv-limit 1024,768,128"

# 12. a failed write of the program's output is status 1 with one line (a full disk, a closed stdout)
refuses "chat -p: stdout on a full disk" "cannot write standard output" bash -c "$B/rwkvx-chat -m $TM -p hi -n 5 --seed 1 > /dev/full"
run "chat: a conversation with stdout on a full disk ends with status 1 and says so" bash -c \
    "! echo hi | $B/rwkvx-chat -m $TM -n 5 --seed 1 > /dev/full 2> $W/full.err && tail -1 $W/full.err | grep -q 'cannot write standard output'"
refuses "passkey: stdout on a full disk" "cannot write standard output" bash -c "$B/rwkvx-passkey $TM --lengths 600 --depths 1 --seeds 1 > /dev/full"
refuses "bench: stdout on a full disk" "cannot write standard output" bash -c "$B/rwkvx-bench $TM --prompt 8 --gen 2 --repeat 1 --no-ceilings > /dev/full"
refuses "soak: stdout on a full disk" "cannot write standard output" bash -c "$B/rwkvx-soak $TM --tokens 5 --every 5 > /dev/full"
refuses "tokenize: stdout on a full disk" "cannot write standard output" bash -c "echo hello | $B/rwkvx-tokenize $TM > /dev/full"
refuses "convert: stdout on a full disk" "cannot write standard output" bash -c "$B/rwkvx-convert $CK $W/full.gguf > /dev/full"
refuses "chat -p: stdout closed" "cannot write standard output" bash -c "$B/rwkvx-chat -m $TM -p hi -n 5 --seed 1 >&-"
refuses "tokenize: stdout closed" "cannot write standard output" bash -c "echo hello | $B/rwkvx-tokenize $TM >&-"

# 13. a line typed at a terminal is read whole, however long (the terminal's own limit is 4,095 bytes)
gcc -std=c99 -O2 -o "$B/pty_feed" tests/pty_feed.c
long_line() {
    head -c 10000 /dev/zero | tr '\0' a > "$W/long.txt"; printf '\n/quit\n' >> "$W/long.txt"
    $B/pty_feed "$W/long.txt" "$W/pty.out" "User: " $B/rwkvx-chat -m "$TM" -n 3 --seed 1 --dump-tokens "$W/pty.tok" 2> /dev/null || return 1
    { printf 'User: '; head -c 10000 /dev/zero | tr '\0' a; printf '\n\nAssistant:'; } > "$W/pty.want"
    $B/rwkvx-tokenize --decode "$TM" < "$W/pty.tok" | head -c 10018 | cmp - "$W/pty.want"
}
run "chat: a 10,000-byte line typed at a terminal is sent whole" long_line

# 14. the small ones
run "chat -p: the prompt is echoed, then its completion" bash -c "$B/rwkvx-chat -m $TM -p 'The pass key is' -n 4 --seed 1 2> /dev/null | grep -q '^The pass key is'"
run "chat -p -n 0: prints the prompt" bash -c "[ \"\$($B/rwkvx-chat -m $TM -p 'abc' -n 0 2> /dev/null)\" = abc ]"
run "chat: a model summary at start (type, blocks, context, threads)" bash -c \
    "echo hi | $B/rwkvx-chat -m $TM -n 2 --threads 1 --seed 1 2>&1 > /dev/null | head -1 | grep -q 'RWKV-X, 4 RWKV-7 blocks + 2 sparse.*context unlimited; 1 thread'"
refuses "chat: a missing model names the file and the reason" "cannot open '$W/missing.gguf': No such file" $B/rwkvx-chat -m "$W/missing.gguf"
refuses "logits: a file that is not a model names it" "cannot load 'tests/fixtures/cases.txt'" $B/rwkvx-logits tests/fixtures/cases.txt --tokens 1 --out "$W/x.f32"
run "convert: a pure RWKV-7's summary says it has no sparse blocks" bash -c "$B/rwkvx-convert $CK $W/r7.gguf | grep -qx 'sparse: *none'"
run "no temporary file is left in the test directory" temporaries "$W"
