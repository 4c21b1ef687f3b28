#!/usr/bin/env bash
# Trains both passkey demo models at once (two processes), writing
# checkpoints and logs to $OUT (default build/train): each on its own GPU
# when there are two or more, else both on the one. Arguments go to both
# trainings; $ARGS_rwkvx and $ARGS_rwkv7 add per-model ones.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-build/train}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)'
python3 tools/train/train_passkey.py check || exit 1
gpus=$(nvidia-smi --list-gpus | wc -l)
i=0
for arch in rwkvx rwkv7; do
    extra=ARGS_$arch
    # shellcheck disable=SC2086
    CUDA_VISIBLE_DEVICES=$((i % (gpus > 0 ? gpus : 1))) \
    python3 tools/train/train_passkey.py train --arch "$arch" --out "$OUT" "$@" ${!extra:-} > "$OUT/$arch.out" 2>&1 &
    i=$((i + 1))
done
wait
tail -n 4 "$OUT"/*.out
