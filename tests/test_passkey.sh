# Passkey retrieval (issue 4) on the shipped byte-level demo models; sourced by
# tests/run.sh (uses its B, T, run, ok, bad, expect_error).
#
# The models were trained on prompts of at most 2048 tokens (bytes) and are
# tested from 1k to 8k (4x the training length), 10 depths x 3 keys per length.
# Greedy decoding on f32 weights gives the same answers for any split of the
# prompt and any thread count, so the accuracies measured when the models were
# committed are asserted exactly. --threads 1: these models are tiny (C = 128)
# and one thread is fastest for them.
PK_GRID="--lengths 1k,2k,4k,8k --depths 10 --seeds 3 --threads 1 --quiet"
PK_RWKVX_MEASURED="90,96.6,70,53.3"   # % at 1k, 2k, 4k, 8k (27, 29, 21, 16 of 30)
echo "== passkey retrieval, demo models ($PK_GRID)"
run "passkey: sharing the prompt prefix gives the answers of fresh states" bash -c \
    "$B/rwkvx-passkey models/rwkvx-passkey.gguf --lengths 700,2k --depths 4 --seeds 3 --threads 1 --quiet --csv $T/pk-share.csv > /dev/null &&
     $B/rwkvx-passkey models/rwkvx-passkey.gguf --lengths 700,2k --depths 4 --seeds 3 --threads 1 --quiet --csv $T/pk-fresh.csv --no-share > /dev/null &&
     cmp $T/pk-share.csv $T/pk-fresh.csv"
run "passkey: RWKV-X demo model at its measured accuracy ($PK_RWKVX_MEASURED %)" bash -c \
    "$B/rwkvx-passkey models/rwkvx-passkey.gguf $PK_GRID --require $PK_RWKVX_MEASURED > $T/pk-rwkvx.txt"
run "passkey: RWKV-7 demo model on the same grid" bash -c \
    "$B/rwkvx-passkey models/rwkv7-passkey.gguf $PK_GRID > $T/pk-rwkv7.txt"
pk_row() { awk '$1 == "all" { $1 = ""; print }' "$1" 2>/dev/null; }
pk_line() { printf '   %-38s%7s%7s%7s%7s\n' "$@"; }
pk_line "accuracy (%) at length:" 1k 2k 4k 8k
# shellcheck disable=SC2046
pk_line "RWKV-X demo (4 RWKV-7 + 2 sparse):" $(pk_row $T/pk-rwkvx.txt)
# shellcheck disable=SC2046
pk_line "RWKV-7 demo (6 RWKV-7 blocks):" $(pk_row $T/pk-rwkv7.txt)
pk_x8=$(pk_row $T/pk-rwkvx.txt | awk '{ print $4 }')
pk_r8=$(pk_row $T/pk-rwkv7.txt | awk '{ print $4 }')
run "passkey: at 8k (4x the training length) RWKV-X beats RWKV-7 (${pk_x8:-?} vs ${pk_r8:-?} %)" \
    awk -v x="$pk_x8" -v r="$pk_r8" 'BEGIN { exit !(x != "" && r != "" && x + 0 > r + 0) }'
echo "   note: the issue's goal (>= 90% at every length) is not met by these under-trained demo models at 4k and 8k"
expect_error "passkey: no model" $B/rwkvx-passkey --lengths 1k
expect_error "passkey: bad lengths" $B/rwkvx-passkey models/rwkvx-passkey.gguf --lengths 2k,x
expect_error "passkey: too short" $B/rwkvx-passkey models/rwkvx-passkey.gguf --lengths 100
expect_error "passkey: unknown option" $B/rwkvx-passkey models/rwkvx-passkey.gguf --top-k 3
expect_error "passkey: no vocabulary" $B/rwkvx-passkey $T/rwkv7-tiny.f16.gguf --lengths 1k
