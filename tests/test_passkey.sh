# Passkey retrieval (issues 4 and 16) on the shipped byte-level demo models;
# sourced by tests/run.sh (uses its B, T, run, ok, bad, expect_error).
#
# The models were trained on prompts of at most 32768 tokens (bytes). The
# README's table is the dense grid of `make demo-full` (21 depths x 10 keys,
# 1k-64k: 20 minutes on 2 cores); this test runs a cheaper grid of the same
# protocol: lengths 1k (inside the training length) and 64k (2x), depths 0,
# 50 and 100% and seed 0 (key 2733), and one cell at 128k (4x the training length):
# the farthest key (depth 0, seed 0), which the hybrid's sparse blocks fetch
# and the pure model's state has lost. Greedy decoding on f32 weights gives
# the same answers for any split of the prompt and any thread count, so the
# accuracies are asserted exactly: --require fails on any answer lost,
# pk_same on any answer changed either way.
PK_GRID="--lengths 1k,64k --depths 3 --seeds 1 --threads 2 --quiet"
PK_RWKVX_MEASURED="100,100"   # % at 1k, 64k (3 of 3 each; the dense grid: 1470 of 1470)
PK_RWKV7_MEASURED="100,66.7"  # the same grid (2 of 3 at 64k: its state forgets the key at depth 0)
PK_RWKVX_FLOOR=100            # the hybrid's least accuracy at any length of this grid
PK_LEAD_64K=30                # the hybrid's lead over the pure model at 64k, in points (33.3)
PK_CELL_4X="--lengths 128k --depths 1 --seeds 1 --threads 1 --quiet"   # 131072 tokens, key at depth 0
# --require takes each figure less 0.05: the table prints 2/3 = 66.67 % as 66.7
pk_least() { echo "$1" | awk -F, '{ for (i = 1; i <= NF; i++) printf "%s%.2f", (i > 1 ? "," : ""), $i - 0.05 }'; }
PK=$T/passkey   # its own directory: the lane runs beside test_tools.sh, which checks $T for temporaries
mkdir -p "$PK"

# The demo models (tests/run.sh runs this in a lane beside the main sequence)
passkey_demo_models() {
    echo "== passkey retrieval, demo models ($PK_GRID)"
    run "passkey: RWKV-X demo model at its measured accuracy ($PK_RWKVX_MEASURED %)" bash -c \
        "$B/rwkvx-passkey models/rwkvx-passkey.gguf $PK_GRID --require $(pk_least $PK_RWKVX_MEASURED) --csv $PK/pk-rwkvx.csv > $PK/pk-rwkvx.txt"
    run "passkey: RWKV-7 demo model at its measured accuracy ($PK_RWKV7_MEASURED %)" bash -c \
        "$B/rwkvx-passkey models/rwkv7-passkey.gguf $PK_GRID --require $(pk_least $PK_RWKV7_MEASURED) --csv $PK/pk-rwkv7.csv > $PK/pk-rwkv7.txt"
    run "passkey: at 128k (4x the training length) the RWKV-X demo model finds the farthest key" bash -c \
        "$B/rwkvx-passkey models/rwkvx-passkey.gguf $PK_CELL_4X --require 100 --csv $PK/pk-4x-rwkvx.csv > /dev/null"
    run "passkey: at 128k the RWKV-7 demo model has lost it (a wrong answer, as measured)" bash -c \
        "$B/rwkvx-passkey models/rwkv7-passkey.gguf $PK_CELL_4X --csv $PK/pk-4x-rwkv7.csv > /dev/null &&
         awk -F, 'NR == 2 && \$1 == 131072 && \$7 == 0 { ok = 1 } END { exit !ok }' $PK/pk-4x-rwkv7.csv"
    pk_row() { awk '$1 == "all" { $1 = ""; print }' "$1" 2>/dev/null; }
    pk_line() { printf '   %-38s%6s%6s%6s%6s\n' "$@"; }
    pk_line "accuracy (%) at length:" 1k 64k
    # shellcheck disable=SC2046
    pk_line "RWKV-X demo (4 RWKV-7 + 2 sparse):" $(pk_row $PK/pk-rwkvx.txt)
    # shellcheck disable=SC2046
    pk_line "RWKV-7 demo (6 RWKV-7 blocks):" $(pk_row $PK/pk-rwkv7.txt)
    # pk_same FILE "a,b,..": the per-length accuracies of a table are exactly these
    pk_same() { awk -v row="$(pk_row "$1")" -v want="$2" 'BEGIN { n = split(row, a, " "); m = split(want, b, ",")
        if (n != m) exit 1; for (i = 1; i <= n; i++) if (a[i] - b[i] > 0.05 || b[i] - a[i] > 0.05) exit 1 }'; }
    run "passkey: RWKV-X accuracies exactly as measured" pk_same $PK/pk-rwkvx.txt "$PK_RWKVX_MEASURED"
    run "passkey: RWKV-7 accuracies exactly as measured" pk_same $PK/pk-rwkv7.txt "$PK_RWKV7_MEASURED"
    run "passkey: RWKV-X at least $PK_RWKVX_FLOOR% at every length, 1k and 64k" \
        awk -v row="$(pk_row $PK/pk-rwkvx.txt)" -v floor=$PK_RWKVX_FLOOR \
        'BEGIN { n = split(row, a, " "); for (i = 1; i <= n; i++) if (a[i] + 0 < floor) exit 1; exit !(n == 2) }'
    pk_x64=$(pk_row $PK/pk-rwkvx.txt | awk '{ print $2 }')
    pk_r64=$(pk_row $PK/pk-rwkv7.txt | awk '{ print $2 }')
    run "passkey: at 64k (2x the training length) RWKV-X beats RWKV-7 by $PK_LEAD_64K points or more (${pk_x64:-?} vs ${pk_r64:-?} %)" \
        awk -v x="$pk_x64" -v r="$pk_r64" -v lead=$PK_LEAD_64K 'BEGIN { exit !(x != "" && r != "" && x + 0 >= r + lead) }'
    # The error kinds: every answer's kind in the CSV is what its name says (a
    # check written apart from the C code), and the report counts those kinds.
    pk_kinds_right() { awk -F, 'NR > 1 && NF == 9 { a = $6; gsub(/^"|"$/, "", a); gsub(/^[ \t\r\n]+|[ \t\r\n]+$/, "", a); k = $4 ""
            if (a == k) ok = $8 == "none" && $9 == 0 && $7 == 1
            else if (a !~ /^[0-9]/) ok = $8 == "no-key"
            else if (a !~ /^[0-9]+$/ || length(a) != length(k)) ok = $8 == "wrong-length"
            else { n = 0; for (i = 1; i <= length(k); i++) n += substr(a, i, 1) != substr(k, i, 1); ok = $8 == "wrong-digits" && $9 == n }
            bad += !ok; rows++ } END { exit bad > 0 || rows == 0 }' "$1"; }
    pk_errors() { awk '$1 == "1" && $2 == "wrong" { d += $NF } $1 == "2+" { d += $NF } $1 == "wrong" && $2 == "length" { l = $NF }
        $1 == "no" && $2 == "key" { k = $NF } END { print d + 0, l + 0, k + 0 }' "$1"; }
    pk_csv_errors() { awk -F, 'NR > 1 { d += $(NF-1) == "wrong-digits"; l += $(NF-1) == "wrong-length"; k += $(NF-1) == "no-key" }
        END { print d + 0, l + 0, k + 0 }' "$1"; }
    pk_errors_agree() { pk_kinds_right "$1.csv" && [ "$(pk_errors "$1.txt")" = "$(pk_csv_errors "$1.csv")" ]; }
    run "passkey: RWKV-X error kinds as named and counted" pk_errors_agree $PK/pk-rwkvx
    run "passkey: RWKV-7 error kinds as named and counted" pk_errors_agree $PK/pk-rwkv7
}

# The tool itself: --from-csv, a World-vocabulary model (made by tests/test_chat.sh), bad arguments
passkey_tool_checks() {
    run "passkey: sharing the prompt prefix gives the answers of fresh states" bash -c \
        "$B/rwkvx-passkey models/rwkvx-passkey.gguf --lengths 700,2k --depths 4 --seeds 3 --threads 1 --quiet --csv $PK/pk-share.csv > /dev/null &&
         $B/rwkvx-passkey models/rwkvx-passkey.gguf --lengths 700,2k --depths 4 --seeds 3 --threads 1 --quiet --csv $PK/pk-fresh.csv --no-share > /dev/null &&
         cmp $PK/pk-share.csv $PK/pk-fresh.csv"
    run "passkey: prompts side by side (3 threads) give the answers of one thread" bash -c \
        "$B/rwkvx-passkey models/rwkvx-passkey.gguf --lengths 700,2k --depths 4 --seeds 3 --threads 3 --quiet --csv $PK/pk-threads.csv > /dev/null &&
         cmp $PK/pk-share.csv $PK/pk-threads.csv"
    # --from-csv rebuilds the report from answers: one of each kind (keys 2733,
    # 33004, 23721 of seeds 0-2) gives 1/6 right and these counts.
    cat > $PK/pk-kinds.csv <<'CSV'
length,depth,seed,passkey,prompt_tokens,answer,correct
1024,0.0000,0,2733,1024," 2733",1
1024,0.0000,1,33004,1024," 33804",0
1024,0.0000,2,23721,1024," 237210",0
1024,1.0000,0,2733,1024," 7332",0
1024,1.0000,1,33004,1024," The p",0
1024,1.0000,2,23721,1024," 23721.",0
CSV
    run "passkey: --from-csv classifies wrong digits, wrong length and no key" bash -c \
        "$B/rwkvx-passkey models/rwkvx-passkey.gguf --lengths 1k --depths 2 --seeds 3 --from-csv $PK/pk-kinds.csv > $PK/pk-kinds.txt &&
         grep -q '^  1 wrong digit  *1  *1\$' $PK/pk-kinds.txt && grep -q '^  2+ wrong digits  *1  *1\$' $PK/pk-kinds.txt &&
         grep -q '^  wrong length  *2  *2\$' $PK/pk-kinds.txt && grep -q '^  no key  *1  *1\$' $PK/pk-kinds.txt &&
         grep -q '(1/6)' $PK/pk-kinds.txt"
    expect_error "passkey: --from-csv without every prompt of the grid" \
        $B/rwkvx-passkey models/rwkvx-passkey.gguf --lengths 1k --depths 2 --seeds 4 --from-csv $PK/pk-kinds.csv
    expect_error "passkey: --from-csv input as the --csv output (the input is kept)" \
        $B/rwkvx-passkey models/rwkvx-passkey.gguf --lengths 1k --depths 2 --seeds 3 --from-csv $PK/pk-kinds.csv --csv $PK/pk-kinds.csv
    run "passkey: the --from-csv input is intact after that refusal" grep -q '23721.",0$' $PK/pk-kinds.csv
    expect_error "passkey: --from-csv missing file" \
        $B/rwkvx-passkey models/rwkvx-passkey.gguf --lengths 1k --from-csv $T/missing.csv
    # A World-tokenizer model (tests/test_chat.sh's random one-block RWKV-7 with the
    # World vocabulary): lengths are counted in its own tokens, prefix sharing is exact.
    run "passkey: a World-vocabulary model, prompts of exactly the asked length in its tokens" bash -c \
        "$B/rwkvx-passkey $T/wide-world.gguf --lengths 300,1k --depths 3 --seeds 2 --threads 2 --quiet --csv $PK/pk-world.csv > /dev/null &&
         $B/rwkvx-passkey $T/wide-world.gguf --lengths 300,1k --depths 3 --seeds 2 --threads 2 --quiet --csv $PK/pk-world-fresh.csv --no-share > /dev/null &&
         cmp $PK/pk-world.csv $PK/pk-world-fresh.csv &&
         awk -F, 'NR > 1 { n++; if (\$5 != \$1) exit 1 } END { exit !(n == 12) }' $PK/pk-world.csv"
    expect_error "passkey: no model" $B/rwkvx-passkey --lengths 1k
    expect_error "passkey: bad lengths" $B/rwkvx-passkey models/rwkvx-passkey.gguf --lengths 2k,x
    expect_error "passkey: too short" $B/rwkvx-passkey models/rwkvx-passkey.gguf --lengths 100
    expect_error "passkey: unknown option" $B/rwkvx-passkey models/rwkvx-passkey.gguf --top-k 3
    expect_error "passkey: no vocabulary" $B/rwkvx-passkey $T/rwkv7-tiny.f16.gguf --lengths 1k
}
