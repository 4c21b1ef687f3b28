#!/usr/bin/env bash
# Device command 1 of issue 16's allotment (run from the copied files' root):
# phase 8a from the shipped models, on the CPU meanwhile the shipped hybrid's
# dense grid (a timing and reproducibility check), then phase 8a's hybrid at
# 16k-64k. Results to $OUT.
set -u
export PYTHONUNBUFFERED=1
D=tools/train/device.sh P=/tmp/pk
mkdir -p $P
python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.is_available())'
nproc; lscpu | grep -m1 'Model name'; grep -o -m1 'avx512f' /proc/cpuinfo
$D from-gguf $P/p0 || exit 1
OUT=$P/p8a ARGS_rwkvx="--resume $P/p0/rwkvx.pth --train-only sparse" ARGS_rwkv7="--resume $P/p0/rwkv7.pth" \
    tools/train/gpu_train.sh --steps 100000 --time-limit 400 --lengths 8192:0.2,16384:0.4,32768:0.4 \
    --batch-bytes 131072 --lr 8e-4 --warmup 20 --seed 1241 --wkv-chunk 64 --save-every 60 --eval-every 0 \
    --keys balanced --answer-weight 2 > $P/train.out 2>&1 &
TP=$!
$D setup > $P/setup.log 2>&1; cat $P/setup.log
REPORT_LENGTHS=1k,2k,4k,8k,16k,32k,64k timeout 370 $D grid models/rwkvx-passkey.gguf $P/shipped-rwkvx.csv \
    "64k:6 32k:3 16k:2 8k:1 1k,2k,4k:1" > $P/g0.log 2>&1 &
GP=$!
wait $TP; tail -n 8 $P/train.out
wait $GP; cat $P/g0.log
$D to-gguf $P/p8a
REPORT_LENGTHS=16k,32k,64k timeout 120 $D grid $P/p8a/rwkvx.gguf $P/p8a-rwkvx-16k-64k.csv "64k:9 32k:5 16k:2"
cp $P/p8a/rwkvx.pth $P/p8a/rwkv7.pth $P/p8a/rwkvx.gguf $P/p8a/rwkv7.gguf $OUT/
cd $P && tar czf $OUT/misc.tgz p8a/*.log p8a/*.out train.out setup.log g0.log shipped-rwkvx.csv* p8a-rwkvx-16k-64k.csv*
ls -l $OUT
