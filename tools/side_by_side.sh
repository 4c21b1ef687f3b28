#!/usr/bin/env bash
# rwkvx, llama.cpp and (optionally) rwkv.cpp side by side on the same random
# weights (issue 18, item 4). tools/make_random_checkpoint.py writes a random
# RWKV-7 checkpoint of the chosen shape (--shape 0.1b: 12 x 768, the default;
# 0.4b: 24 x 1024; 1.5b: 24 x 2048; 2.9b: 32 x 2560; or --layers/--embd/--vocab;
# the releases' LoRA ranks for that C); build/rwkvx-convert turns it into our
# GGUF and, with --llama-cpp --vocab bytes, into llama.cpp's rwkv7 GGUF layout,
# in each of --types (default f16,q8_0,q4_k); with RWKV_CPP_DIR set to an
# rwkv.cpp checkout the user built (librwkv.so in it or in its build/; nothing
# of rwkv.cpp is in this repository), that checkout's own
# python/convert_pytorch_to_ggml.py and python/quantize.py make its files
# (needs a Python with torch: the checkpoint is then a .pth). Then, R rounds
# (--rounds, default 3), each type in turn, the engines run alternately
# (rwkvx, llama.cpp, rwkv.cpp, rwkvx, ...): rwkvx-bench --json, llama.cpp
# through node-llama-cpp 3.21.1 (tools/side_by_side.mjs; installed by `npm ci`
# into build/interop as `make interop` does), rwkv.cpp through ctypes
# (tools/side_by_side_rwkvcpp.py); each run prefills --prompt P tokens (default
# 512) from a fresh state, then decodes --gen G (default 64) one token at a
# time, with --threads N (default: every core). Prints the CPU, its vector
# extensions and the engine versions, one line per run, and a markdown table of
# the medians (prefill and decode tok/s, and rwkvx / other); every run's JSON
# is in WORK/runs.jsonl. Files go to --work-dir (default build/side_by_side);
# --keep reuses the models already there. Needs python3, and npm with Node.js
# (20 or later, else Node.js 20 is installed from the npm registry) for
# llama.cpp (skipped without them).
#
#   tools/side_by_side.sh [--shape 0.1b|0.4b|1.5b|2.9b] [--layers L --embd C --vocab V]
#       [--types f16,q8_0,q4_k] [--threads N] [--prompt P] [--gen G]
#       [--rounds R] [--work-dir DIR] [--keep]
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
B=${BUILD:-build}
TOOLS=$ROOT/tools

layers=12 embd=768 vocab=65536 shape=0.1b
types=f16,q8_0,q4_k threads=$(nproc 2> /dev/null || echo 1) prompt=512 gen=64 rounds=3
work=$B/side_by_side keep=0
usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "side_by_side: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
    case $1 in
        --shape) [ $# -ge 2 ] || die "--shape needs a value"
            case $2 in
                0.1b|0.1B) layers=12 embd=768 ;;
                0.4b|0.4B) layers=24 embd=1024 ;;
                1.5b|1.5B) layers=24 embd=2048 ;;
                2.9b|2.9B) layers=32 embd=2560 ;;
                *) die "unknown --shape '$2' (0.1b, 0.4b, 1.5b, 2.9b)" ;;
            esac; shape=$2; shift 2 ;;
        --layers|--embd|--vocab|--threads|--prompt|--gen|--rounds)
            [ $# -ge 2 ] && [[ $2 =~ ^[1-9][0-9]*$ ]] || die "$1 needs a positive integer"
            v=${1#--}; printf -v "$v" %s "$2"; shift 2
            [ "$v" = layers ] || [ "$v" = embd ] && shape=custom ;;
        --types) [ $# -ge 2 ] || die "--types needs a list"; types=$2; shift 2 ;;
        --work-dir) [ $# -ge 2 ] || die "--work-dir needs a directory"; work=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) usage 0 ;;
        *) echo "side_by_side: unknown option '$1'" >&2; usage 1 >&2 ;;
    esac
done
[ $((embd % 64)) -eq 0 ] || die "--embd must be a multiple of 64 (head size 64)"
[ "$vocab" -ge 256 ] || die "--vocab must be at least 256 (llama.cpp's file gets a byte vocabulary)"
mkdir -p "$work" || die "cannot make $work"
work=$(cd "$work" && pwd)
name=rwkv7-${layers}x${embd}-v${vocab}
# LoRA ranks (decay, iclr, value, gate) as RWKV-7's training code sets them from C, multiples of
# 32 (C = 768: 64,64,32,128, the 0.1B release's; C = 2048: 96,96,64,256, the 1.5B release's)
ranks=$(awk -v c="$embd" 'function r(x) { x = int(x / 32 + 0.5) * 32; return x < 32 ? 32 : x }
    BEGIN { printf "%d,%d,%d,%d", r(1.8 * sqrt(c)), r(1.8 * sqrt(c)), r(1.3 * sqrt(c)), r(0.6 * exp(0.8 * log(c))) }')
runs=$work/runs.jsonl
: > "$runs"

# ---- the machine and the engines ---------------------------------------------------------------
cpu=$(grep -m1 -E '^(model name|Model|Hardware)' /proc/cpuinfo 2> /dev/null | sed 's/^[^:]*: *//')
flags=$(grep -m1 -E '^(flags|Features)' /proc/cpuinfo 2> /dev/null | sed 's/^[^:]*: *//')
isa=
for f in avx512f avx512bw avx512vl avx512_vnni avx512_bf16 avx512_fp16 amx_tile amx_int8 avx_vnni avx2 fma f16c \
         asimd asimddp asimdhp i8mm sve sve2 bf16; do
    [[ " $flags " == *" $f "* ]] && isa="$isa $f"
done
echo "# rwkvx / llama.cpp / rwkv.cpp side by side, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- CPU: ${cpu:-unknown} ($(nproc) cores online; $(uname -m)); vector extensions:${isa:- none found}"
echo "- load average before: $(cut -d' ' -f1-3 /proc/loadavg 2> /dev/null)"

make -s BUILD="$B" "$B/rwkvx-bench" "$B/rwkvx-convert" > "$work/make.log" 2>&1 || { cat "$work/make.log" >&2; die "make failed"; }
rev=$(git rev-parse --short HEAD 2> /dev/null)$(git diff --quiet HEAD -- rwkvx.h tools 2> /dev/null || echo "+changes")
echo "- rwkvx $(sed -n 's/^#define RWKVX_VERSION_STRING "\(.*\)"/\1/p' rwkvx.h) (commit ${rev:-unknown}), $B/rwkvx-bench as the Makefile builds it (${ARCH:--march=native})"

# llama.cpp: node-llama-cpp's prebuilt CPU build, installed as tests/interop/run.sh does
I=$B/interop NODE=node llama=1
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2> /dev/null || echo 0; }
if ! command -v npm > /dev/null; then
    llama=0; echo "- llama.cpp: skipped (needs npm and Node.js; Debian: apt-get install nodejs npm)"
else
    if [ "$(node_major node)" -lt 20 ]; then   # Node.js 20 from the npm registry, as make interop
        mkdir -p "$I/runtime"
        if ! cmp -s tests/interop/runtime/package-lock.json "$I/runtime/package-lock.json" || [ ! -x "$I/runtime/node_modules/.bin/node" ]; then
            cp tests/interop/runtime/package.json tests/interop/runtime/package-lock.json "$I/runtime/" &&
                (cd "$I/runtime" && npm ci --no-audit --no-fund --loglevel=error) > "$work/npm.log" 2>&1 || llama=0
        fi
        NODE=$I/runtime/node_modules/.bin/node
    fi
    if [ $llama = 1 ] && { ! cmp -s tests/interop/package-lock.json "$I/package-lock.json" || [ ! -d "$I/node_modules/node-llama-cpp" ]; }; then
        cp tests/interop/package.json tests/interop/package-lock.json "$I/" &&
            (cd "$I" && npm ci --omit=optional --ignore-scripts --no-audit --no-fund --loglevel=error) >> "$work/npm.log" 2>&1 || llama=0
    fi
    [ $llama = 1 ] && cp tools/side_by_side.mjs "$I/" && info=$("$NODE" "$I/side_by_side.mjs" --info 2>> "$work/npm.log") || llama=0
    if [ $llama = 1 ]; then
        echo "- llama.cpp: node-llama-cpp 3.21.1 under Node.js $("$NODE" --version), $(python3 -c '
import json, sys; d = json.loads(sys.argv[1])
print("%s, %s binaries, CPU backend %s; %s" % (d["release"], d["buildType"], d["cpuBackend"], d["systemInfo"].strip(" |")))' "$info")"
    else
        echo "- llama.cpp: skipped (could not install node-llama-cpp or Node.js >= 20: $work/npm.log)"
    fi
fi

# rwkv.cpp: only one the user built (RWKV_CPP_DIR)
rwkvcpp=0 LIBRWKV=
torch_python() { local p; for p in ${PYTHON:-} python3 /usr/bin/python3; do "$p" -c 'import torch' 2> /dev/null && { echo "$p"; return 0; }; done; return 1; }
if [ -z "${RWKV_CPP_DIR:-}" ]; then
    echo "- rwkv.cpp: skipped (set RWKV_CPP_DIR to an rwkv.cpp checkout with a built librwkv.so)"
else
    for f in "$RWKV_CPP_DIR"/librwkv.so "$RWKV_CPP_DIR"/build/librwkv.so "$RWKV_CPP_DIR"/bin/librwkv.so "$RWKV_CPP_DIR"/build/bin/librwkv.so; do
        [ -f "$f" ] && { LIBRWKV=$(cd "$(dirname "$f")" && pwd)/librwkv.so; break; }
    done
    if [ -z "$LIBRWKV" ]; then
        echo "- rwkv.cpp: skipped (no librwkv.so in $RWKV_CPP_DIR or its build/)"
    elif [ ! -f "$RWKV_CPP_DIR/python/convert_pytorch_to_ggml.py" ]; then
        echo "- rwkv.cpp: skipped (no python/convert_pytorch_to_ggml.py in $RWKV_CPP_DIR)"
    elif ! TORCH_PY=$(torch_python); then
        echo "- rwkv.cpp: skipped (its converter needs a Python with torch; Debian: apt-get install python3-torch, or set PYTHON)"
    else
        rwkvcpp=1
        echo "- rwkv.cpp: $RWKV_CPP_DIR (commit $(git -C "$RWKV_CPP_DIR" rev-parse --short HEAD 2> /dev/null || echo unknown)), $LIBRWKV; $(python3 "$TOOLS/side_by_side_rwkvcpp.py" "$LIBRWKV" --info)"
    fi
fi

# ---- the models --------------------------------------------------------------------------------
# The checkpoint: a .pth where a Python with torch is found (what the releases are; rwkv.cpp's
# converter reads only that), else a .safetensors (numpy, or the standard library alone).
if [ $keep = 1 ] && [ -f "$work/$name.pth" ]; then ckpt=$work/$name.pth
elif [ $keep = 1 ] && [ -f "$work/$name.safetensors" ] && [ $rwkvcpp = 0 ]; then ckpt=$work/$name.safetensors
else
    if PY=$(torch_python); then ckpt=$work/$name.pth
    else
        PY=python3; for p in ${PYTHON:-} python3 /usr/bin/python3; do "$p" -c 'import numpy' 2> /dev/null && { PY=$p; break; }; done
        ckpt=$work/$name.safetensors
    fi
    rm -f "$work/$name".*
    "$PY" tools/make_random_checkpoint.py "$ckpt" --layers "$layers" --embd "$embd" --vocab "$vocab" --ranks "$ranks" > "$work/checkpoint.log" 2>&1 ||
        { cat "$work/checkpoint.log" >&2; die "make_random_checkpoint.py failed"; }
fi
echo "- model: random RWKV-7, shape $shape: $layers layers, C=$embd, V=$vocab, LoRA ranks $ranks ($(basename "$ckpt"), $(tail -1 "$work/checkpoint.log" 2> /dev/null | sed -n 's/.*: [0-9]* tensors, \([0-9.]* M parameters\).*/\1/p'))"
echo "- runs: threads $threads, prompt $prompt tokens from a fresh state, then $gen decoded one at a time; $rounds rounds, medians"

# rwkv.cpp's type names (its quantize.py takes these; it leaves the embedding, head and LoRAs FP16)
rwkvcpp_type() {
    case $1 in f32) echo FP32 ;; f16) echo FP16 ;; q4_0|q4_1|q5_0|q5_1|q8_0|q4_k|q5_k) echo "$1" | tr a-z A-Z ;; *) return 1 ;; esac
}
# make FILE CMD...: runs CMD (which writes FILE) unless --keep and FILE exists; its output in FILE.log
make_file() {
    local f=$1; shift
    [ $keep = 1 ] && [ -s "$f" ] && return 0
    "$@" > "$f.log" 2>&1 && [ -s "$f" ] || { echo "  cannot make $(basename "$f"): $(grep -v '^ *$' "$f.log" | tail -1)" >&2; rm -f "$f"; return 1; }
}
declare -A ours theirs cpp
for t in ${types//,/ }; do
    make_file "$work/$name.$t.gguf" "$B/rwkvx-convert" "$ckpt" "$work/$name.$t.gguf" --type "$t" && ours[$t]=$work/$name.$t.gguf
    [ $llama = 1 ] && make_file "$work/$name.$t.llama-cpp.gguf" "$B/rwkvx-convert" "$ckpt" "$work/$name.$t.llama-cpp.gguf" --type "$t" --llama-cpp --vocab bytes &&
        theirs[$t]=$work/$name.$t.llama-cpp.gguf
    if [ $rwkvcpp = 1 ] && rt=$(rwkvcpp_type "$t"); then
        f16=$work/$name.FP16.rwkvcpp.bin
        if [ "$rt" = FP32 ] || [ "$rt" = FP16 ]; then
            make_file "$work/$name.$rt.rwkvcpp.bin" "$TORCH_PY" "$RWKV_CPP_DIR/python/convert_pytorch_to_ggml.py" "$ckpt" "$work/$name.$rt.rwkvcpp.bin" "$rt"
        else
            make_file "$f16" "$TORCH_PY" "$RWKV_CPP_DIR/python/convert_pytorch_to_ggml.py" "$ckpt" "$f16" FP16 &&
                make_file "$work/$name.$rt.rwkvcpp.bin" env -C "$RWKV_CPP_DIR/python" "$TORCH_PY" quantize.py "$f16" "$work/$name.$rt.rwkvcpp.bin" "$rt"
        fi && cpp[$t]=$work/$name.$rt.rwkvcpp.bin
    fi
done
mb() { [ -n "${1:-}" ] && [ -f "$1" ] && echo $(( ($(stat -c %s "$1") + 524288) / 1048576 )) || echo -; }

# ---- the runs ----------------------------------------------------------------------------------
# run ENGINE TYPE ROUND CMD...: one run; its JSON (with engine, type, round) appended to runs.jsonl
run() {
    local engine=$1 type=$2 round=$3 out; shift 3
    if out=$("$@" 2> "$work/last.err") && python3 -c '
import json, sys; d = json.loads(sys.argv[1].strip().splitlines()[-1]); d.update(engine=sys.argv[2], type=sys.argv[3], round=int(sys.argv[4]))
open(sys.argv[5], "a").write(json.dumps(d) + "\n")
print("  %-9s %-7s prefill %9.1f tok/s, decode %8.2f tok/s" % (sys.argv[2], sys.argv[3], d["prefill_tok_s"], d["decode_tok_s"]))' \
        "$out" "$engine" "$type" "$round" "$runs"; then :
    else
        echo "  $engine $type: FAILED: $(grep -v '^ *$' "$work/last.err" | tail -1)"
        echo "{\"engine\": \"$engine\", \"type\": \"$type\", \"round\": $round, \"failed\": true}" >> "$runs"
    fi
}
echo
for ((r = 1; r <= rounds; r++)); do
    echo "round $r of $rounds (load average $(cut -d' ' -f1 /proc/loadavg 2> /dev/null))"
    for t in ${types//,/ }; do
        [ -n "${ours[$t]:-}" ] && run rwkvx "$t" $r "$B/rwkvx-bench" "${ours[$t]}" --threads "$threads" --prompt "$prompt" --gen "$gen" \
            --repeat 1 --no-ceilings --json
        [ -n "${theirs[$t]:-}" ] && run llama.cpp "$t" $r "$NODE" "$I/side_by_side.mjs" "${theirs[$t]}" "$threads" "$prompt" "$gen"
        [ -n "${cpp[$t]:-}" ] && run rwkv.cpp "$t" $r python3 "$TOOLS/side_by_side_rwkvcpp.py" "$LIBRWKV" "${cpp[$t]}" "$threads" "$prompt" "$gen" \
            "${RWKV_CPP_CHUNK:-64}"
    done
done

# ---- the table ---------------------------------------------------------------------------------
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg 2> /dev/null)"
echo
sizes=
for t in ${types//,/ }; do sizes="$sizes $t:$(mb "${ours[$t]:-}")/$(mb "${theirs[$t]:-}")/$(mb "${cpp[$t]:-}")"; done
python3 - "$runs" "$types" "$rwkvcpp" "$rounds" $sizes << 'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
types, with_cpp, rounds = sys.argv[2].split(","), sys.argv[3] == "1", int(sys.argv[4])
sizes = dict(s.split(":", 1) for s in sys.argv[5:])
engines = ["rwkvx", "llama.cpp"] + (["rwkv.cpp"] if with_cpp else [])
def med(engine, t, key):
    v = [r[key] for r in runs if r["engine"] == engine and r["type"] == t and not r.get("failed")]
    failed = any(r.get("failed") for r in runs if r["engine"] == engine and r["type"] == t)
    return (statistics.median(v) if v else None), len(v), failed
def cell(m):
    v, n, failed = m
    if v is None: return "failed" if failed else "-"
    return ("%.1f" % v if v >= 100 else "%.2f" % v) + ("" if n == rounds else " (%d of %d runs)" % (n, rounds))
def ratio(a, b):
    return "%.2fx" % (a[0] / b[0]) if a[0] and b[0] else "-"
head = ["type", "MB (" + " / ".join(engines) + ")"]
for phase in ("prefill", "decode"):
    head += ["%s %s tok/s" % (e, phase) for e in engines] + ["rwkvx / %s" % e for e in engines[1:]]
print("| " + " | ".join(head) + " |")
print("|" + " --- |" * len(head))
for t in types:
    mbs = sizes.get(t, "-/-/-").split("/")[:len(engines)]
    row = [t, " / ".join(mbs)]
    for phase in ("prefill", "decode"):
        m = {e: med(e, t, phase + "_tok_s") for e in engines}
        row += [cell(m[e]) for e in engines] + [ratio(m["rwkvx"], m[e]) for e in engines[1:]]
    print("| " + " | ".join(row) + " |")
EOF
echo
echo "(medians of $rounds alternating runs per engine and type; every run: $runs)"
