#!/usr/bin/env bash
# Thread scaling of prefill and decode (docs/PERFORMANCE.md, "Thread
# scaling"): every model with every thread count, through one or more
# rwkvx-bench builds run alternately, one JSON line per run.
#
#   tools/thread_scaling.sh OUT.jsonl THREADS BENCH[,BENCH...] MODEL...
#
# THREADS is a comma list (e.g. 1,2,4,8,16); each run is `BENCH MODEL
# --threads N --prompt P --gen G --repeat R --json` (PROMPT, GEN, REPEAT from
# the environment: 512, 64, 3 by default), its JSON object written with
# "bench" and "model" added. Prints one line per run: bench, model, threads,
# prefill and decode tok/s, decode's fraction of the bandwidth bound.
set -u
[ $# -ge 4 ] || { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2; }
out=$1 threads=$2 benches=$3; shift 3
: > "$out"
for model in "$@"; do
    for n in ${threads//,/ }; do
        for bench in ${benches//,/ }; do
            "$bench" "$model" --threads "$n" --prompt "${PROMPT:-512}" --gen "${GEN:-64}" --repeat "${REPEAT:-3}" --json |
                python3 -c '
import json, sys
d = json.load(sys.stdin)
d["bench"], d["model"] = sys.argv[1], sys.argv[2]
print(json.dumps(d))
print(sys.argv[1], sys.argv[2], sys.argv[3], d["prefill_tok_s"], d["decode_tok_s"], d["decode_frac_of_bw_bound"], file=sys.stderr)
' "$bench" "$(basename "$model")" "$n" >> "$out"
        done
    done
done
