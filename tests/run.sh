#!/usr/bin/env bash
# The test tiers, run by make after building what they need:
#   tests/run.sh          the complete suite (make test; CI)
#   tests/run.sh quick    the quick tier for development (make check)
#   tests/run.sh golden   every golden-logit test (make check-golden)
#   tests/run.sh arm64    the NEON build's golden logits under qemu-user (make check-arm64)
set -u
cd "$(dirname "$0")/.."
TIER=${1:-full}
B=${BUILD:-build}
T=$B/test
mkdir -p "$T"
# Idle OpenMP threads sleep instead of spinning: the tests run many short
# parallel regions, and on a loaded machine spinning threads take the cores
# from the working ones (the golden-logit test ran 7x slower on 2 busy cores).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
passed=0; failed=0
ok()   { passed=$((passed + 1)); }
bad()  { failed=$((failed + 1)); echo "FAIL: $*"; }
# CPU time (user + system, in clock ticks: hundredths on Linux) of the
# children this shell has waited for, from /proc (0 without it): unlike wall
# time, not inflated by a shared machine
# (cpu_cs PID: PID is the caller's $BASHPID, taken outside $(...), a subshell)
cpu_cs() { awk '{ print $16 + $17 }' "/proc/$1/stat" 2> /dev/null || echo 0; }
cs_seconds() { printf '%d.%02d' $(($1 / 100)) $(($1 % 100)); }
# run NAME CMD...: a step that must exit 0 (its wall and CPU time are printed after it)
run() {
    local name=$1 start=$SECONDS me=$BASHPID cpu; shift
    echo "== $name"
    cpu=$(cpu_cs $me)
    if "$@"; then ok; else bad "$name"; fi
    echo "   ($((SECONDS - start)) s, CPU $(cs_seconds $(($(cpu_cs $me) - cpu))) s)"
}
# expect_error NAME CMD...: must exit 1 with exactly one line on stderr
# (its own file per process: lanes run side by side)
expect_error() {
    local name=$1 err="$T/err.$BASHPID.txt"; shift
    "$@" > /dev/null 2> "$err"; local rc=$?
    if [ $rc -eq 1 ] && [ "$(wc -l < "$err")" -eq 1 ]; then ok; else bad "$name (status $rc): $(head -3 "$err")"; fi
    rm -f "$err"
}
# Lanes: independent steps run beside the main sequence (two cores). lane_start
# NAME CMD... runs CMD in the background, its output kept; lane_join NAME
# waits for it, prints its output and adds its counts.
lane_start() {
    local name=$1; shift
    ( passed=0; failed=0; "$@"; echo "$passed $failed" > "$T/lane-$name.counts" ) > "$T/lane-$name.log" 2>&1 &
    eval "lane_pid_$name=\$!"
}
lane_join() {
    local name=$1 pid p f; eval "pid=\$lane_pid_$name"
    wait "$pid"
    echo "== (lane $name, run beside the steps above)"
    cat "$T/lane-$name.log"
    read -r p f < "$T/lane-$name.counts" || { p=0; f=1; echo "FAIL: lane $name did not finish"; }
    passed=$((passed + p)); failed=$((failed + f))
    rm -f "$T/lane-$name.log" "$T/lane-$name.counts"
}
finish() {
    local me=$BASHPID
    echo; echo "$passed passed, $failed failed ($SECONDS s, CPU $(cs_seconds "$(cpu_cs $me)") s)"
    [ "$failed" -eq 0 ]
}

ALL_TYPES="f32 f16 bf16 q8_0"
CASES=tests/fixtures/cases.txt

# convert_fixtures TYPE...: every golden checkpoint in each weight type, with
# the chunk settings of its case, into $T/<stem>.<type>.gguf
convert_fixtures() {
    echo "== converting the fixtures ($*)"
    local model chunk topk type out
    while read -r model chunk topk _; do
        case "$model" in \#*|"") continue ;; esac
        for type in "$@"; do
            out="$T/${model%.*}.$type.gguf"
            [ "$out" -nt $B/rwkvx-convert ] && continue   # made by this converter already
            if $B/rwkvx-convert "tests/fixtures/$model" "$out" --type "$type" --chunk-size "$chunk" --chunk-topk "$topk" > "$T/convert.log" 2>&1
            then ok; else bad "convert $model --type $type: $(tail -1 "$T/convert.log")"; fi
        done
    done < $CASES
}

header_compiles() {
    run "header compiles as C99 -pedantic -Werror" $B/compile_c99
    run "header compiles as C++" $B/compile_cxx
}

# The header's API conventions (NULL handling, names, version) and every
# tool's --version, which must be the header's RWKVX_VERSION_STRING
api_conventions() {
    run "API conventions: NULL handling, names, version (ASan/UBSan)" $B/test_api_asan fuzz/corpus/gguf/r2s1-bytes-q8_0.gguf
    run "tools print the header's version (--version)" check_versions
}
check_versions() {
    local v t
    v=$(sed -n 's/^#define RWKVX_VERSION_STRING "\(.*\)"$/\1/p' rwkvx.h)
    [ -n "$v" ] || return 1
    for t in logits bench passkey soak chat tokenize server batchbench; do
        [ "$($B/rwkvx-$t --version)" = "rwkvx-$t $v" ] || { echo "rwkvx-$t --version is not $v"; return 1; }
    done
}

# The command-line tools, end to end: converter output reproduced by rwkvx-logits.
logits_tool() {
    local tokens mode
    tokens=$(awk '$1 == "rwkvx-tiny.pth" && $5 == 260 { for (i = 7; i <= NF; i++) printf "%s%s", $i, (i < NF ? "," : ""); exit }' $CASES)
    for mode in "$@"; do
        run "rwkvx-logits --mode $mode (last position)" bash -c "$B/rwkvx-logits $T/rwkvx-tiny.f32.gguf --tokens $tokens --out $T/last.f32 --mode $mode && $B/cmpf32 $T/last.f32 tests/fixtures/rwkvx-tiny-long.logits.f32 1e-3"
        run "rwkvx-logits --mode $mode --all" bash -c "$B/rwkvx-logits $T/rwkvx-tiny.f32.gguf --tokens $tokens --out $T/all.f32 --all --mode $mode --threads 2 && $B/cmpf32 $T/all.f32 tests/fixtures/rwkvx-tiny-long.logits.f32 1e-3"
    done
    echo "$tokens" | tr ',' '\n' > "$T/tokens.txt"
    run "rwkvx-logits --tokens-file" bash -c "$B/rwkvx-logits $T/rwkvx-tiny.f32.gguf --tokens-file $T/tokens.txt --out $T/file.f32 --all && cmp $T/file.f32 $T/all.f32"
    echo "== rwkvx-logits refuses bad input"
    expect_error "logits: no model" $B/rwkvx-logits --tokens 1 --out $T/x.f32
    expect_error "logits: missing file" $B/rwkvx-logits $T/missing.gguf --tokens 1 --out $T/x.f32
    expect_error "logits: not a GGUF" $B/rwkvx-logits $CASES --tokens 1 --out $T/x.f32
    expect_error "logits: token out of range" $B/rwkvx-logits $T/rwkv7-tiny.f16.gguf --tokens 1,300 --out $T/x.f32
    expect_error "logits: bad token" $B/rwkvx-logits $T/rwkv7-tiny.f16.gguf --tokens 1,x --out $T/x.f32
    expect_error "logits: bad mode" $B/rwkvx-logits $T/rwkv7-tiny.f16.gguf --tokens 1 --out $T/x.f32 --mode fast
    expect_error "logits: bad threads" $B/rwkvx-logits $T/rwkv7-tiny.f16.gguf --tokens 1 --out $T/x.f32 --threads 1025
    expect_error "logits: unwritable out" $B/rwkvx-logits $T/rwkv7-tiny.f16.gguf --tokens 1 --out /nonexistent/x.f32
    head -c 1000 "$T/rwkv7-tiny.f16.gguf" > "$T/truncated.gguf"
    expect_error "logits: truncated model" $B/rwkvx-logits $T/truncated.gguf --tokens 1 --out $T/x.f32
}

# ggml's block types (issue 13): dequantization bit-exact to ggml's on the
# golden blocks (tests/quant/, made by make_golden_blocks.py) through every
# kernel build given, then whole models of every type against f32 twins holding
# the same values (C = 128: the 32-value types; a random C = 256 hybrid for the
# K types), every mode, 1 and 2 threads.
QTYPES="q4_0 q4_1 q5_0 q5_1 q8_0 q2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs mixed"
quant_blocks() { # "BUILD-OF-test_internals quant"...
    local p
    for p in "$@"; do run "golden blocks of ggml's types ($p)" quant_blocks_one $p; done
}
# One build's golden blocks; its lines "intdot TYPE: integer products, hash H"
# kept in $T/intdot/ for intdot_agree
quant_blocks_one() { # BUILD-OF-test_internals quant
    local out rc
    mkdir -p "$T/intdot"
    out=$T/intdot/$(echo "$*" | tr -c 'A-Za-z0-9\n' _)
    "$@" blocks tests/quant/*.blocks > "$out.log"; rc=$?
    cat "$out.log"
    grep '^intdot .*: integer products' "$out.log" > "$out.int"
    return $rc
}
# The rule of the integer products is exact: every build that multiplies a
# type in integers (native, scalar, ASan, AVX2, NEON) prints one hash for it
intdot_agree() {
    local builds types
    builds=$(ls "$T"/intdot/*.int 2> /dev/null | wc -l)
    types=$(cat "$T"/intdot/*.int | awk '{print $2}' | sort -u | wc -l)
    echo "   $builds builds, $types types: $(cat "$T"/intdot/*.int | sort -u | wc -l) distinct hashes"
    [ "$builds" -ge 3 ] && [ "$types" -ge 5 ] && [ "$(cat "$T"/intdot/*.int | sort -u | wc -l)" -eq "$types" ]
}
quant_models() { # "BUILD-OF-test_internals quant" TYPE...
    local p=$1; shift
    if [ ! -f "$T/rand256.f32.gguf" ]; then
        python3 tools/make_random_checkpoint.py "$T/rand256.safetensors" --layers 2 --embd 256 --vocab 320 --sparse 1 --seed 3 > /dev/null &&
            $B/rwkvx-convert "$T/rand256.safetensors" "$T/rand256.f32.gguf" --type f32 > /dev/null || bad "make the C = 256 random model"
    fi
    run "block types, whole models, C = 128 ($p)" $p models "$T/rwkvx-tiny.f32.gguf" "$@"
    run "block types, whole models, C = 256 ($p)" $p models "$T/rand256.f32.gguf" "$@"
}

quick_tier() {
    header_compiles
    convert_fixtures f16 f32 q8_0
    run "golden logits, whole prompt, f32 and q8_0" $B/test_model --whole $CASES tests/fixtures "$T" f32 q8_0
    quant_blocks "$B/test_internals quant"
    logits_tool whole
    finish
}

# The NEON kernels (aarch64 cross build, $B/arm64/test_model) against the
# golden logits under qemu-user (ARM64_RUN): arm64_golden CASES NAME
arm64_golden() {
    convert_fixtures $ALL_TYPES
    run "golden logits on AArch64 (NEON, under qemu-user), $2, every mode and type" \
        $ARM64_RUN $B/arm64/test_model "$1" tests/fixtures "$T" $ALL_TYPES
}
# shortest_cases [N]: the N (3) shortest cases of different checkpoints
# (RWKV-7, RWKV-X with sparse blocks inside, RWKV-X ending in one)
shortest_cases() {
    awk '!/^#/ && NF && !seen[$1]++ { print $5, $0 }' <(sort -n -k5 $CASES) | sort -n | head -"${1:-3}" | cut -d' ' -f2-
}

# cases_upto N: every golden case cut to its first N tokens (a model's logits
# at a position depend only on the tokens up to it, so the first N positions of
# the golden logits still apply), into $T/cases-upto-N.txt, whose name it prints
cases_upto() {
    awk -v n="$1" '/^#/ || !NF { print; next } $5 > n { $5 = n; NF = 6 + n } { print }' $CASES > "$T/cases-upto-$1.txt"
    echo "$T/cases-upto-$1.txt"
}

# Every case, mode and weight type with the SIMD kernels of the machine (and
# AVX2's); the builds 5-20x slower (the portable kernels, ASan/UBSan) on every
# case cut to 64 tokens: every checkpoint, chunk size and top-k still,
# prompts not a multiple of the chunk, the top-k choice among 4-20 chunks
# (make check-golden: every build on the whole cases)
golden_logits() {
    local short=$CASES shorter=$CASES
    [ "${1:-}" = all ] || { short=$(cases_upto 64); shorter=$short; }
    convert_fixtures $ALL_TYPES
    run "golden logits, every case, mode and type" $B/test_model $CASES tests/fixtures "$T" $ALL_TYPES
    run "golden logits with the scalar kernels and no mmap$([ "$short" = $CASES ] || echo ' (64 tokens a case)')" $B/test_model_scalar "$short" tests/fixtures "$T" $ALL_TYPES
    run "golden logits without OpenMP" $B/test_model_noomp $CASES tests/fixtures "$T" f32 q8_0
    run "golden logits under ASan/UBSan$([ "$shorter" = $CASES ] || echo ' (64 tokens a case)')" $B/test_model_asan "$shorter" tests/fixtures "$T" $ALL_TYPES
    if [ -x $B/test_model_avx2 ] && grep -qw avx2 /proc/cpuinfo 2> /dev/null; then
        run "golden logits with the AVX2 kernels (-march=x86-64-v3)" $B/test_model_avx2 $CASES tests/fixtures "$T" $ALL_TYPES
    fi
}

# The steps of the compiler lane (one core: the main sequence has the other)
compilers_lane() {
    run "header warning-free with -Werror on every compiler at hand (quick matrix)" bash tests/compilers.sh --quick -j 1
}
# The NEON run under qemu-user (slow: make check-arm64 runs every case): the
# shortest case of the RWKV-X checkpoint, whose RWKV-7 and sparse blocks run
# every kernel the NEON layer has
arm64_lane() {
    if [ -n "${ARM64_RUN:-}" ]; then
        awk '$1 == "rwkvx-tiny.pth"' $CASES | sort -n -k5 | head -1 > "$T/cases-arm64.txt"
        arm64_golden "$T/cases-arm64.txt" "the shortest RWKV-X case"
        quant_blocks "$ARM64_RUN $B/arm64/test_internals quant"
    else
        echo "== (NEON build under qemu-user skipped: needs gcc-aarch64-linux-gnu and qemu-user)"
    fi
}
# The passkey lane: the demo models' grid (tests/test_passkey.sh; in its own
# directory, as test_tools.sh checks that no temporary file is left in $T)
passkey_lane() { passkey_demo_models; }

# The second lane: what needs no program of the main sequence's, one step
# after another on the second core (the main sequence is as long)
second_lane() {
    compilers_lane   # (the header as C99 and C++ with -Werror: in its matrix)
    arm64_lane
    passkey_lane
    run "K/V limit: eviction, bounds, modes, states, bad values (ASan/UBSan)" \
        $B/test_internals_asan kv-limit models/rwkvx-passkey.gguf models/rwkv7-passkey.gguf
    run "sampler: distributions, masks, penalties, seeds, no allocation (ASan/UBSan)" $B/test_sampler_asan
}

full_tier() {
    . tests/test_passkey.sh    # passkey retrieval (issues 4 and 16): the lane's steps and the tool's
    convert_fixtures $ALL_TYPES   # (before the lane: its NEON run reads them)
    lane_start second second_lane
    api_conventions
    golden_logits
    run "batched evaluation == one state at a time (f32, q8_0)" $B/test_internals batch $CASES tests/fixtures "$T" f32 q8_0
    shortest_cases > "$T/cases-short.txt"
    run "batched evaluation under ASan/UBSan (f16, the shortest case of each model)" $B/test_internals_asan batch "$T/cases-short.txt" tests/fixtures "$T" f16
    run "corrupt GGUF (f16 RWKV-7) under ASan/UBSan" $B/test_corrupt_asan "$T/rwkv7-tiny.f16.gguf"
    run "corrupt GGUF (q8_0 RWKV-X) under ASan/UBSan" $B/test_corrupt_asan "$T/rwkvx-last-st.q8_0.gguf"
    quant_blocks "$B/test_internals quant" "$B/test_internals_scalar quant" "$B/test_internals_asan quant"
    grep -qw avx512f /proc/cpuinfo && quant_blocks "$B/test_internals_avx2 quant"   # else the native build is the AVX2 one
    quant_models "$B/test_internals quant" $QTYPES
    quant_models "$B/test_internals_asan quant" mixed q4_K
    logits_tool whole single ragged
    local t
    for t in gguf state pth safetensors vocab tokenize hfconfig json; do
        run "fuzz corpus and regressions replayed ($t, ASan/UBSan)" bash -c "$B/replay_$t fuzz/corpus/$t/* \$(ls fuzz/regressions/$t/* 2>/dev/null)"
    done
    run "converter tests (ASan/UBSan build)" bash tests/test_convert.sh $B/rwkvx-convert-asan
    run "converter library from C: rwkvx_convert_file == rwkvx-convert, refusals (ASan/UBSan)" bash -c \
        "$B/rwkvx-convert tests/fixtures/rwkvx-tiny.pth $T/api-ref.gguf --type f16 --chunk-size 16 --chunk-topk 3 > /dev/null && $B/test_convert_api_asan tests/fixtures/rwkvx-tiny.pth $T/api-ref.gguf $T"
    run "quantiser tests: every weight type, bit-identical to ggml's; GGUF input (ASan/UBSan build)" \
        bash tests/test_quant_convert.sh $B/rwkvx-convert-asan
    . tests/test_kv_limit.sh   # the opt-in K/V limit and the soak tool's smoke run
    . tests/test_chat.sh       # tokenizer, sampler, rwkvx-tokenize, rwkvx-chat
    . tests/test_chat_demo.sh  # make chat-demo (a random World-vocabulary model)
    . tests/test_hostile.sh    # the catalogue of bad inputs (docs/HOSTILE.md)
    . tests/test_tools.sh      # files, paths, signals and options of every tool (docs/HOSTILE.md)
    passkey_tool_checks        # rwkvx-passkey's --from-csv, a World-vocabulary model, bad arguments
    . tests/test_interop.sh    # llama.cpp's rwkv7 layout, Hugging Face checkpoints (issue 14)
    . tests/test_server.sh     # rwkvx-server with curl and the openai client (issue 15)
    lane_join second
    run "integer products: every build's hash of each type alike" intdot_agree
    finish
}

case $TIER in
    quick) quick_tier ;;
    golden) golden_logits all; finish ;;
    arm64) arm64_golden $CASES "every case"; quant_blocks "$ARM64_RUN $B/arm64/test_internals quant"; finish ;;
    full)  full_tier ;;
    *) echo "usage: tests/run.sh [quick|golden|arm64]" >&2; exit 2 ;;
esac
