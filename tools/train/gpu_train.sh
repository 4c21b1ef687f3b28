#!/usr/bin/env bash
# Trains both passkey demo models at once on one GPU (two processes), writing
# checkpoints and logs to $OUT (default build/train). Arguments go to both
# trainings; $ARGS_rwkvx and $ARGS_rwkv7 add per-model ones.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-build/train}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
python3 tools/train/train_passkey.py check || exit 1
for arch in rwkvx rwkv7; do
    extra=ARGS_$arch
    # shellcheck disable=SC2086
    python3 tools/train/train_passkey.py train --arch "$arch" --out "$OUT" "$@" ${!extra:-} > "$OUT/$arch.out" 2>&1 &
done
wait
tail -n 4 "$OUT"/*.out
