#!/usr/bin/env bash
# The three device commands of phase 8 (issue 16), as run, from a copy of
# rwkvx.h, rwkvx_convert.h, tools/{cli.h,passkey.c,convert.c}, tools/train/
# and models/ carried to the device machine (one H200, 16 Xeon cores). Not
# meant to be run again as it is: see the notes at each command.
#
# Command 1 (600 s, cut by the 600 s limit at its last step): phase 8a from
# the shipped models, on the CPU meanwhile the shipped hybrid's dense grid (a
# timing and reproducibility check: the same answers as the README's table,
# docs/passkey-rwkvx.svg rebuilt from them byte for byte), then phase 8a's
# hybrid at 16k-64k (16k and 32k done; 64k and the copy to $OUT cut off, the
# files stayed in /tmp/pk on the machine, still warm for command 2).
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

exit 0

# Command 2 (403 s): phase 8b from phase 8a (sparse blocks alone again, lr
# 3e-4). The dense grids of phase 8a planned beside it did not run: carrying
# the files again replaced their folder, build/ with it (device.sh now builds
# in /tmp/rwkvx-build, outside the carried folder).
cd .devcarry/pk; P=/tmp/pk D=tools/train/device.sh; export PYTHONUNBUFFERED=1; for a in rwkvx rwkv7; do cp $P/p8a/$a.gguf $OUT/p8a-$a.gguf; done
OUT=$P/p8b ARGS_rwkvx="--resume $P/p8a/rwkvx.pth --train-only sparse" ARGS_rwkv7="--resume $P/p8a/rwkv7.pth" tools/train/gpu_train.sh --steps 100000 --time-limit 380 --lengths 8192:0.2,16384:0.4,32768:0.4 --batch-bytes 131072 --lr 3e-4 --warmup 10 --seed 1242 --wkv-chunk 64 --save-every 60 --eval-every 0 --keys balanced --answer-weight 2 > $P/train8b.out 2>&1 &
TP=$!
export REPORT_LENGTHS=1k,2k,4k,8k,16k,32k,64k
timeout 420 $D grid $P/p8a/rwkvx.gguf $P/p8a-rwkvx.csv "64k:5 32k:2 16k:1 8k:1 1k,2k,4k:1" > $P/g8ax.log 2>&1 &
timeout 420 $D grid $P/p8a/rwkv7.gguf $P/p8a-rwkv7.csv "64k:3 32k:2 16k:1 8k:1 1k,2k,4k:1" > $P/g8a7.log 2>&1 &
wait $TP; tail -n 3 $P/train8b.out; $D to-gguf $P/p8b; for a in rwkvx rwkv7; do cp $P/p8b/$a.gguf $OUT/p8b-$a.gguf; cp $P/p8b/$a.pth $OUT/p8b-$a.pth; done
wait; cat $P/g8ax.log $P/g8a7.log
cd $P && tar czf $OUT/misc.tgz p8a/*.log p8a/*.out p8b/*.log p8b/*.out train.out train8b.out setup.log g0.log g8a*.log shipped-rwkvx.csv* p8a-rwkv*; ls -l $OUT

# Command 3 (322 s, CPU only): phase 8b's dense grids, both models at once
# on the 16 cores (hybrid 182 s for 64k on 6 threads, pure model 305 s for
# 1k-16k on one thread: give the short lengths more than one process).
cd .devcarry/pk; P=/tmp/pk D=tools/train/device.sh; $D setup >/dev/null 2>&1; $D to-gguf $P/p8b; for a in rwkvx rwkv7; do cp $P/p8b/$a.gguf $OUT/p8b-$a.gguf; done
export REPORT_LENGTHS=1k,2k,4k,8k,16k,32k,64k
timeout 330 $D grid $P/p8b/rwkvx.gguf $P/p8b-rwkvx.csv "64k:6 32k:3 16k:1 1k,2k,4k,8k:1" > $P/g8bx.log 2>&1 &
timeout 330 $D grid $P/p8b/rwkv7.gguf $P/p8b-rwkv7.csv "64k:4 32k:2 1k,2k,4k,8k,16k:1" > $P/g8b7.log 2>&1 &
wait; cat $P/g8bx.log $P/g8b7.log
cd $P && tar czf $OUT/misc3.tgz g8b*.log p8b-rwkv* p8a-rwkvx-16k-64k.csv*; ls -l $OUT
