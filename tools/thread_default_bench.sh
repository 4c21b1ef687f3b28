#!/bin/bash
# The tools' default thread count against the alternatives, on one machine,
# runs alternating within one script (machines are shared and noisy).
#
#   tools/thread_default_bench.sh MODEL.gguf [ROUNDS] [BENCH OPTIONS...]
#   LOAD=1 tools/thread_default_bench.sh ...   # with one busy loop beside it
#
# Each round runs rwkvx-bench four ways and prints prefill and decode tok/s:
#   default   no option: the state tunes its thread count (rwkvx.h, "thread
#             tuner"), OpenMP's own waiting
#   t1, t2    --threads 1, --threads 2 (t2 is also the default before issue 12)
#   passive   --threads 2 with OMP_WAIT_POLICY=passive (the tools' default
#             between issue 12's first fix and the tuner)
set -u
model=$1; rounds=${2:-3}; shift; [ $# -gt 0 ] && shift
bench=${BENCH:-build/rwkvx-bench}
opts=("$@"); [ ${#opts[@]} -eq 0 ] && opts=(--prompt 512 --gen 64 --repeat 2)
busy=
if [ "${LOAD:-0}" = 1 ]; then
    sh -c 'while :; do :; done' & busy=$!
    trap 'kill $busy 2>/dev/null' EXIT
fi
field() { sed -n "s/.*\"$1\": \([0-9.]*\).*/\1/p"; }
run() {
    local way=$1 json; shift
    json=$(env "$@" "$model" "${opts[@]}" --no-ceilings --json 2>/dev/null | tail -1)
    printf '%-8s %9s %9s\n' "$way" "$(field prefill_tok_s <<<"$json")" "$(field decode_tok_s <<<"$json")"
}
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores;" \
     "$model ${opts[*]}; load: ${LOAD:-0} busy loop; $(date -u +%H:%M) UTC"
echo "# way      prefill    decode (tok/s)"
for ((r = 0; r < rounds; r++)); do
    run default "$bench"
    run t1 "$bench" --threads 1
    run t2 "$bench" --threads 2
    run passive OMP_WAIT_POLICY=passive "$bench" --threads 2
done
