#!/usr/bin/env bash
# Helpers for one GPU allotment on a bare device machine (issue 16), run from
# a copy of the repository (or of the files below: rwkvx.h, rwkvx_convert.h,
# tools/cli.h, tools/passkey.c, tools/convert.c, tools/train/, models/):
#
#   tools/train/device.sh setup                 # build rwkvx-passkey and rwkvx-convert (16 cores: seconds)
#   tools/train/device.sh from-gguf DIR         # DIR/ARCH.pth from models/ARCH-passkey.gguf
#   tools/train/device.sh to-gguf DIR           # DIR/ARCH.gguf (f32, chunk 64, top-k 4) from DIR/ARCH.pth
#   tools/train/device.sh grid M.gguf OUT.csv "64k:8 32k:4 16k:2 8k:1 1k,2k,4k:1"
#       the dense grid of `make demo-full` (21 depths x 10 keys), one
#       rwkvx-passkey process per group of lengths (LENGTHS:THREADS), side by
#       side; their CSVs concatenated into OUT.csv, the report (read back with
#       --from-csv; $REPORT_LENGTHS orders it) in OUT.txt, each process's
#       time in OUT.time
#
# Training itself: tools/train/gpu_train.sh (both models at once).
set -u
cd "$(dirname "$0")/../.."
B=${B:-/tmp/rwkvx-build}  # outside the repository: a carried folder replaced on the next call keeps it
GRID=${GRID:-"--depths 21 --seeds 10"}
ALL=1k,2k,4k,8k,16k,32k,64k
case "${1:-}" in
setup)
    mkdir -p "$B"
    CFLAGS="-std=c99 -O2 -march=native -fopenmp -D_POSIX_C_SOURCE=200809L"
    cc $CFLAGS -o "$B/rwkvx-passkey" tools/passkey.c -lm &
    cc $CFLAGS -o "$B/rwkvx-convert" tools/convert.c -lm &
    wait
    ls -l "$B/rwkvx-passkey" "$B/rwkvx-convert" ;;
from-gguf)
    mkdir -p "$2"
    for a in rwkvx rwkv7; do python3 tools/train/gguf_to_checkpoint.py "models/$a-passkey.gguf" "$2/$a.pth" || exit 1; done ;;
to-gguf)
    for a in rwkvx rwkv7; do
        "$B/rwkvx-convert" "$2/$a.pth" "$2/$a.gguf" --type f32 --chunk-size 64 --chunk-topk 4 --vocab bytes > /dev/null || exit 1
    done
    ls -l "$2"/*.gguf ;;
grid)
    model=$2 out=$3 spec=$4 parts=()
    : > "$out.time"
    for part in $spec; do
        lens=${part%%:*} th=${part##*:} f="$out.${lens//,/_}"
        parts+=("$f")
        ( s=$(date +%s.%N)
          "$B/rwkvx-passkey" "$model" --lengths "$lens" $GRID --threads "$th" --quiet --csv "$f" > "$f.txt"
          awk -v s="$s" -v e="$(date +%s.%N)" -v l="$lens" -v t="$th" 'BEGIN { printf "%s threads %s: %.0f s\n", l, t, e - s }' >> "$out.time" ) &
    done
    wait
    cat "${parts[@]}" > "$out"
    rm -f "${parts[@]}" "${parts[@]/%/.txt}"
    lens=$(for part in $spec; do printf '%s,' "${part%%:*}"; done)
    lens=${REPORT_LENGTHS:-${lens%,}}  # the report's order of lengths
    "$B/rwkvx-passkey" "$model" --lengths "$lens" $GRID --from-csv "$out" > "$out.txt"
    cat "$out.time" "$out.txt" ;;
*)
    sed -n '2,15p' "$0"; exit 2 ;;
esac
