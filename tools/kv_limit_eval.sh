#!/usr/bin/env bash
# What the opt-in K/V limit costs in passkey accuracy (issue 6, item 3).
#
#   tools/kv_limit_eval.sh [MODEL.gguf] [OUT_DIR]
#
# Runs the passkey grid (1k, 2k, 4k, 8k x 10 depths x 5 keys, one thread) on
# the RWKV-X demo model with the exact rule and with K/V limits scaled to its
# chunk size of 64 (whole chunks: keep 3/4 and a window of 1/8 of the
# maximum, near the released code's 80% and 10%; then fewer evicted at a time,
# and a larger window), and prints a Markdown table of accuracy by length;
# per-setting tables, CSVs and heatmaps go to OUT_DIR (default
# build/kv-eval). About a minute per setting on one quiet core; SETTINGS and
# GRID override the lists. Needs build/rwkvx-passkey (make), or BUILD=dir.
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build}
MODEL=${1:-models/rwkvx-passkey.gguf}
OUT=${2:-$B/kv-eval}
GRID=${GRID:-"--lengths 1k,2k,4k,8k --depths 10 --seeds 5 --threads 1"}
# label|options: the exact rule, then max,keep,window (positions per head)
SETTINGS=${SETTINGS:-"exact|
4096,3072,512|--kv-limit 4096,3072,512
2048,1536,256|--kv-limit 2048,1536,256
1024,768,128|--kv-limit 1024,768,128
512,384,64|--kv-limit 512,384,64
1024,960,64|--kv-limit 1024,960,64
1024,768,512|--kv-limit 1024,768,512"}
mkdir -p "$OUT"
echo "model: $MODEL ($(date -u +%Y-%m-%d), $GRID)"
echo
# the header's lengths are GRID's --lengths
lengths=$(echo "$GRID" | awk '{ for (i = 1; i < NF; i++) if ($i == "--lengths") print $(i + 1) }')
echo "| K/V limit (max, keep, window) | $(echo "$lengths" | sed 's/,/ | /g') | all |"
echo "| --- |$(echo "$lengths" | sed 's/[^,]*/ --- |/g; s/,//g') --- |"
while IFS='|' read -r label options; do
    [ -n "$label" ] || continue
    name=$(echo "$label" | tr ',' '-')
    # shellcheck disable=SC2086
    "$B/rwkvx-passkey" "$MODEL" $GRID $options --quiet --csv "$OUT/$name.csv" --svg "$OUT/$name.svg" \
        --title "RWKV-X demo model, K/V limit: $label" > "$OUT/$name.txt"
    row=$(awk '$1 == "all" { $1 = ""; print }' "$OUT/$name.txt")
    overall=$(awk '/^overall accuracy/ { sub("%", "", $3); print $3 }' "$OUT/$name.txt")
    echo "| $label | $(echo $row | sed 's/ / | /g') | $overall |"
done <<< "$SETTINGS"
