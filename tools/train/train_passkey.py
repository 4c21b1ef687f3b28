#!/usr/bin/env python3
"""Train the passkey demo models shipped under models/ (issue 4).

Not needed by users or CI: the trained models are committed as GGUF files.
Runs on a GPU (PyTorch >= 1.13; the CPU works for the small checks).

    python3 tools/train/train_passkey.py check            # chunked WKV-7 == plain loop, MoBA mask == C rule
    python3 tools/train/train_passkey.py train --arch rwkvx --out DIR
    python3 tools/train/train_passkey.py train --arch rwkv7 --out DIR
    python3 tools/train/train_passkey.py logits CKPT.pth --tokens-file F --out F.f32   # compare with rwkvx-logits
    python3 tools/train/train_passkey.py random --arch rwkvx --out X.pth  # random weights, for conversion checks
    python3 tools/train/gguf_to_checkpoint.py models/rwkvx-passkey.gguf X.pth  # resume from a shipped model

The two models (the defaults below, both byte-level: token id = byte value)
-------------------------------------------------------------------------
    rwkvx: C = 128, 4 RWKV-7 blocks + 2 sparse blocks, order r0 r1 s0 r2 r3 s1,
           MoBA chunk 64, top-k 4 (the query's own chunk + the 3 best earlier ones)
    rwkv7: C = 128, 6 RWKV-7 blocks (same width, same number of blocks)
    LoRA ranks (decay, iclr, value-residual, gate) = 16, 16, 8, 32; FFN 4C.

Data (generated on the fly, `passkey_sample`): the protocol of docs/MODEL.md 3.1 with
variations. Every sample is the task line, filler, the line "The pass key is
N. Remember it. N is the pass key." at a uniformly random depth, filler, and
"What is the pass key? The pass key is", parts joined by newlines, followed by
the answer " N." (and filler padding that has no loss). The prompt's length in
bytes is uniform in [max(260, 0.55 T), T - 8] for a batch of length T; by
default batches are T = 512 (30%), 1024 (30%) or 2048 (40%) bytes long,
98304 bytes a batch (--lengths and --batch-bytes change that: the shipped
models ended on batches of 8k-32k bytes, so their longest training context
is 32768 bytes; the phase-5 ones, 16384).
The key N is drawn by draw_key (--keys; balanced from phase 8 on).
Filler: 50% the protocol's filler (" ".join of the five sentences, cut by
characters; the suffix restarts from the beginning as in the reference
generator 70% of the time, else continues), 30% other short sentences from
templates (a repeated block of 2-8 sentences, or a random stream; 10% of them
contain numbers as distractors), 20% random lower-case words. N is uniform in
1..50000 (90%) or 0..99999 (10%).

Loss: mean byte cross-entropy over the sample plus the mean cross-entropy of
the answer bytes " N." (so the rare answer tokens are not drowned by filler),
the latter times --answer-weight (1; 2 in phase 8).

Defaults: --steps 900 AdamW steps of 98304 bytes (--batch-bytes), lr 2e-3
with 100 warm-up steps and cosine decay to 10%, betas (0.9, 0.99), weight
decay 0.01 on matrices, gradient clip 1.0, seed 1234 (weights and data: both
models see the same batches). The WKV-7 recurrence runs in chunks of 32
(--wkv-chunk); the sparse blocks' attention in blocks of 2048 queries past
2048 positions (recomputed in the backward pass, so 16k-byte batches fit). --time-limit makes the schedule follow the time used when
that is ahead of the steps, and stops there; a checkpoint (official layout,
fp32) is written every --save-every seconds, so a time-out still leaves a
model.

How the shipped models were made (logs in tools/train/logs/)
-------------------------------------------------------------------------
Phases 1-5 (shipped until issue 16), then phase 8 (shipped since, below; 6
and 7 were a branch from phase 5 whose checkpoints were lost). Phases 1-5:
five phases over three sessions, each resuming the last with a fresh
optimizer; both models always trained at the same time with
tools/train/gpu_train.sh (phases 1-4: both on one H200; phase 5: one H200
each). Phases 1-3 gave both the same number of steps, phases 4-5 the same
GPU time. Accuracy: build/rwkvx-passkey --depths 10 --seeds 5 on the f32
conversion, at the lengths named.

    phase 1: OUT=P1 tools/train/gpu_train.sh --steps 900 --time-limit 470
             both stopped by the time limit (schedule by time): rwkvx after
             405 steps, rwkv7 (slower: 6 WKV blocks) after 290; seed 1234.
    phase 2: OUT=P2 ARGS_rwkvx="--resume P1/rwkvx.pth --steps 195" \
                    ARGS_rwkv7="--resume P1/rwkv7.pth --steps 310" \
             tools/train/gpu_train.sh --warmup 20 --lr 1e-3 --seed 1235 \
                    --time-limit 440 --eval-every 100000 --save-every 45
             both now at 600 steps (59.0 M bytes each; shipped in session 1:
             rwkvx 92/90/68/56 %, rwkv7 100/100/80/40 % at 1k/2k/4k/8k)
    phase 3: both from phase 2, --steps 600 --warmup 20 --lr 1e-3
             --seed 1236 --time-limit 960 (both reached 600 steps)
             rwkvx 100/96/82/44 %, rwkv7 100/100/92/46 % at 1k..8k
    phase 4: from phase 3, --lengths 2048:0.2,4096:0.3,8192:0.5 --wkv-chunk 64
             --lr 1e-3 --warmup 20 --seed 1237 --time-limit 370;
             rwkvx with --train-only sparse (the paper's first stage: only the
             sparse blocks learn; 387 steps), rwkv7 all weights (191 steps)
             rwkvx 100/100/100/90/62 %, rwkv7 100/100/100/100/70 % at 1k..16k
    phase 5: OUT=P5 ARGS_rwkvx="--resume P4/rwkvx.pth --train-only sparse" \
                    ARGS_rwkv7="--resume P4/rwkv7.pth" \
             tools/train/gpu_train.sh --steps 100000 --time-limit 1230 \
                    --lengths 4096:0.15,8192:0.25,16384:0.6 --batch-bytes 163840 \
                    --wkv-chunk 64 --lr 1e-3 --warmup 20 --seed 1238 \
                    --eval-every 0 --save-every 120
             rwkvx 1375 steps (225.3 M bytes), rwkv7 794 steps (130.1 M
             bytes) in 1232 s each
             rwkvx 100/100/100/100/96/92/94 %, rwkv7 100/100/100/100/100/82/46 %
             at 1k..64k: shipped (the dense grid of `make demo-full`, 21 depths x
             10 keys: rwkvx 100/100/100/100/99.0/98.1/81.0 %, rwkv7
             100/100/100/100/100/82.4/46.2 %)
    then:    rwkvx-convert P5/ARCH.pth models/ARCH-passkey.gguf --type f32 \
                    --chunk-size 64 --chunk-topk 4 --vocab bytes
             (the converter cannot know the training's chunk: its default of
             2048 would silently give another hybrid)

Phases 6-7 (issue 16; a branch from phase 5, not shipped, checkpoints lost;
logs phase6-*, phase7-*; "shipped" below means the phase-5 models)
-------------------------------------------------------------------------
The phase-5 checkpoints were gone; both phases resumed from the shipped
models (gguf_to_checkpoint.py; converting back gives the same tensors), both
models on one H200 at once (equal GPU time), the hybrid's sparse blocks
alone, at 8k-32k:

    phase 6: --resume FROM_GGUF/ARCH.pth [--train-only sparse] --steps 100000
             --time-limit 420 --lengths 8192:0.2,16384:0.4,32768:0.4
             --batch-bytes 131072 --lr 8e-4 --warmup 20 --seed 1239
             --wkv-chunk 64 --save-every 50 --eval-every 0
             rwkvx 203 steps (26.6 M bytes), rwkv7 135 steps (17.7 M bytes)
    phase 7: from phase 6, the same but --time-limit 330 --lr 6e-4
             --warmup 10 --seed 1240
             rwkvx 157 steps (20.6 M bytes), rwkv7 104 steps (13.6 M bytes)
    the phase-7 hybrid on the dense grid of `make demo-full` (21 depths x
    10 keys, f32 conversion; answers in logs/phase7-rwkvx-dense.csv):
    100/100/100/99.5/97.6/96.2/94.3 % at 1k..64k (98.2 % in all), against
    the shipped hybrid's 100/100/100/100/99.0/98.1/81.0 (96.9 %): 13 points
    better at 64k, every depth of 64k at 70 % or more (the shipped one: 20 %
    at 50 %), but 1, 3 and 4 more misses at 8k, 16k and 32k, lengths it
    trained on. Its 26 misses are all in the key's last digit: 14 a last
    digit dropped (5995 -> " 599."), 12 a last digit wrong (2733 -> 2730),
    23 of them on four keys (seeds 0, 3, 6, 8), 18 on three of the four
    4-digit keys, 6 at depth 0 %; the shipped hybrid's were a middle digit
    wrong (33004 -> 33804). The grid took 41 minutes on the shared 2-core
    Zen 5 (load 4-12); its 42 answers at 64k, seeds 0-1, are those the
    device machine's CPU gave (p7x-64k-s2, 95.2 %), to the byte. PyTorch
    (float64) against rwkvx-logits on the f32 files, every position of a
    3000-byte protocol prompt: max |difference| 9.5e-6 (hybrid) and 9.5e-5
    (pure model), logits up to 17 and 21 in size. The phase-7 pure model,
    measured at 16k-64k (logs/phase7-rwkv7-dense-16k-64k.csv): 100/97.1/62.4
    % (the shipped one 100/82.4/46.2), still 0 % at depths 0-20 % of 64k;
    the hybrid's lead at 64k 31.9 points (shipped pair: 34.8), and at 32k
    the pure model is ahead (97.1 against 96.2). Not shipped: the hybrid
    misses >= 95 % at 64k, loses accuracy at 8k-32k, and the pure model's
    1k-8k were not measured on the 2-core CPU in time (see README's
    passkey section for the shipped models' figures).

    The plan made then for the next allotment: phase 8 = phase 7's
    settings with --lr 3e-4 and as many 4-digit keys as 5-digit ones, then if
    needed the paper's second stage; ship only a hybrid at least the shipped
    one's at every length, with both models' dense grids measured.

Phase 8 (issue 16, one session: shipped)
-------------------------------------------------------------------------
The phase-6/7 checkpoints were lost with the machine that held them, so
phase 8 went straight from the shipped (phase-5) models with the new key
mix, in two parts on one H200 (both models at once, equal GPU time, the
hybrid's sparse blocks alone), the device commands as run in
logs/phase8-device-commands.sh (tools/train/device.sh: build, convert, the
dense grid in parallel on the device's 16 CPU cores):

    from:     tools/train/device.sh from-gguf P0      # gguf_to_checkpoint.py, both models
    phase 8a: OUT=P8A ARGS_rwkvx="--resume P0/rwkvx.pth --train-only sparse" \
                      ARGS_rwkv7="--resume P0/rwkv7.pth" \
              tools/train/gpu_train.sh --steps 100000 --time-limit 400 \
                      --lengths 8192:0.2,16384:0.4,32768:0.4 --batch-bytes 131072 \
                      --lr 8e-4 --warmup 20 --seed 1241 --wkv-chunk 64 \
                      --save-every 60 --eval-every 0 --keys balanced --answer-weight 2
              rwkvx 196 steps (25.7 M bytes), rwkv7 131 steps (17.2 M bytes),
              403 s each (logs/phase8a-*.log)
    phase 8b: the same from P8A/ARCH.pth with --time-limit 380 --lr 3e-4
              --warmup 10 --seed 1242: rwkvx 182 steps (23.9 M bytes), rwkv7
              127 steps (16.6 M bytes), 383 s each (logs/phase8b-*.log)
    then:     tools/train/device.sh to-gguf P8B   # rwkvx-convert --type f32 --chunk-size 64
                                                  # --chunk-topk 4 --vocab bytes
              (shipped as converted from p8b-ARCH.pth: checkpoints/p8b-ARCH.gguf =
              models/ARCH-passkey.gguf; resume with gguf_to_checkpoint.py)

Phase 8 in all: 786 s of one shared H200 per model (13.1 minutes), the
hybrid 49.5 M bytes, the pure model 33.8 M. What changed from phases 6-7
(which reached 94.3 % at 64k with 47 M bytes): the key mix (--keys balanced:
46 % of keys of 4 digits, 54 % of 5, against 17 % and 81 %), the answer's
loss counted twice (--answer-weight 2), the start (phase 5, not 6) and the
seeds. Not isolated: which of them mattered is not known (one run each).

Dense grid (`make demo-full`: 21 depths x 10 keys, 1,470 prompts per model;
answers in logs/phase8b-*-dense.csv, computed on the device's 16 Xeon cores,
both models at once in 322 s; this machine gives the same answers on the
test's sub-grid, and the device's answers for the phase-5 hybrid rebuilt
docs/passkey-rwkvx.svg of that model byte for byte):

    length         1k    2k    4k    8k   16k   32k   64k   all
    rwkvx p8b     100   100   100   100   100   100   100   100
    rwkv7 p8b     100   100   100   100   100   100  69.0  95.6
    rwkvx p5      100   100   100   100  99.0  98.1  81.0  96.9   (shipped before)
    rwkv7 p5      100   100   100   100   100  82.4  46.2  89.8   (shipped before)
    rwkvx p8a       -     -     -     -  98.6  98.1     -          (16k: 3 one digit wrong;
                                                                  32k: 3 one digit, 1 length)

    by depth, rwkv7 p8b at 64k (every other cell of both p8b grids is 100):
    0-15 %: 0, 20 %: 10, 25 %: 20, 30 %: 60, 35 %: 80, 40-45 %: 90, 50-100 %: 100
    error kinds, rwkv7 p8b at 64k: 14 one digit wrong, 9 two or more digits
    wrong, 42 wrong length, 0 no key; rwkvx p8b: no error anywhere.

PyTorch (float64, `logits` above, from p8b-ARCH.pth) against rwkvx-logits
on the f32 files, every position of a 3000-byte protocol prompt
(protocol_prompt(3000, 0.25, 33004)): max |difference| 8.0e-6 (hybrid) and
7.7e-5 (pure model), logits up to 17 and 20. With the key at 50 % (2733) the
hybrid differs by 4.8e-3 and 1.1e-3 at positions 2165-2166 and by at most
5.2e-6 elsewhere: there sparse block 1's head 1 has its third and fourth best
chunk gates 4.5e-7 apart (float64), a near tie of the discrete top-k choice
that f32 decides the other way. With tests/test_kv_limit.sh's grid and
--kv-limit 2048,1536,256 the p8b hybrid gives 100/100/86.7 % at 1k/2k/8k
(the phase-5 one 100/100/70, the floor that test asserts).

So the hybrid meets issue 16's goal (>= 95 % at every length 1k-64k on the
dense grid; 64k is 2x its training length now) and leads the pure model by
31.0 points at 64k (31.8 on make test's sub-grid); the pure model became
perfect up to 32k, its training length, and still loses far keys past it.
Phase 8a alone was not enough (its hybrid lost 3-4 prompts at 16k and 32k:
a 64k grid and its pure model's grid were cut short, see the commands
file); 8b at the lower rate removed them.

Device time used: 24.3 minutes of the session's 30 (one machine start);
the dense grid takes, on the device's 16 cores, about 180 s for a model's
64k on 6 threads and 300 s for the pure model's 1k-16k on one (give the
short lengths two processes), so both models' grids fit one command of 5
minutes; on the shared 2-core machine about 40 minutes a model.

Next allotment (not needed for issue 16): which phase-8 change mattered
(8a's settings with --keys uniform, or --answer-weight 1, for the same time);
the grid at 128k (CPU only: rwkvx-passkey --lengths 128k on the device); the
paper's second stage (all weights of the hybrid, --lr 1e-4, 8k-32k) only if
some longer length needs it.

In all, the shipped hybrid trained on 431 M bytes (its RWKV-7 blocks, embedding and
head on the first 118 M only) and the pure model on 301 M (phases 1-5 and 8;
phases 6-7 are not in their history); the hybrid saw
more bytes in equal GPU time because a sparse-only step skips the gradients
of four of its six blocks. Both saw the same generator, not the same batches.
About 71 minutes of H200 time each (phases 1-4 and 8 sharing one GPU).

Why the sparse-only phases (4, 5, 8): a C = 128 RWKV-7 state holds one 5-digit key well up
to the lengths it has trained on (phase 4 made the pure model perfect to 8k),
so training at those lengths gives the hybrid no reason to use its sparse
blocks (before phase 4 it leaned on its recurrence and copied keys from the
sparse blocks imprecisely). Frozen RWKV-7 blocks that forget far keys past
their training length (2k, phases 1-3) force the sparse blocks to learn
retrieval; at 16k they learned it so that it holds to 64k, while the pure
model, trained on the same lengths, fails on far keys past 16k.
"""
import argparse
import json
import math
import os
import random
import struct
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from passkey_model import Model, moba_attention, moba_mask, wkv7_chunked, wkv7_loop  # noqa: E402

TASK = ("There is an important info hidden inside a lot of irrelevant text. "
        "Find it and memorize them. I will quiz you about the important information there.")
GARBAGE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
QUESTION = "What is the pass key? The pass key is"


def info_line(n):
    return f"The pass key is {n}. Remember it. {n} is the pass key."


NOUNS = ("grass sky sun sea moon road tree river house door cat dog bird rain snow wind stone "
         "field car boat city hill lake star cloud book cup bell leaf fire").split()
ADJS = ("green blue yellow red white black grey warm cold quiet loud old new bright dark "
        "tall small wide long soft hard clean calm").split()
PHRASES = ("Here we go.", "There and back again.", "So it goes.", "Time passes.", "All is well.",
           "Nothing happens.", "On and on.", "Day after day.", "We keep walking.", "And so on.")
WORDS = ("the a of and to in is it that was for on are with as at be this have from or one had by "
         "word but not what all were we when your can said there use an each which she do how their "
         "if will up other about out many then them these so some her would make like him into time "
         "has look two more write go see way could people than first water been call who oil its now "
         "find long down day did get come made may part over new sound take only little work know place "
         "year live me back give most very after thing our just name good sentence man think say great").split()


def sentence(rng, numbers):
    if numbers and rng.random() < 0.25:
        n = rng.randint(0, 9999)
        return rng.choice((f"There are {n} {rng.choice(NOUNS)}s.", f"The year is {n}.",
                           f"It costs {n} coins.", f"Room {n} is {rng.choice(ADJS)}."))
    if rng.random() < 0.3:
        return rng.choice(PHRASES)
    return f"The {rng.choice(NOUNS)} is {rng.choice(ADJS)}."


def filler_source(rng, n):
    """A function giving (prefix filler of n1 chars, suffix filler of n2 chars)."""
    kind = rng.random()
    if kind < 0.5:  # the protocol's filler
        reps = n // (len(GARBAGE) + 1) + 2
        text = " ".join([GARBAGE] * reps)
        restart = rng.random() < 0.7
        return lambda n1, n2: (text[:n1], text[:n2] if restart else text[n1:n1 + n2])
    if kind < 0.8:  # other sentences: a repeated block, or a stream
        numbers = rng.random() < 0.1
        parts, size = [], 0
        if rng.random() < 0.5:
            block = " ".join(sentence(rng, numbers) for _ in range(rng.randint(2, 8)))
            while size < n + 1:
                parts.append(block)
                size += len(block) + 1
        else:
            while size < n + 1:
                s = sentence(rng, numbers)
                parts.append(s)
                size += len(s) + 1
        text = " ".join(parts)
    else:  # random words
        parts, size = [], 0
        while size < n + 1:
            w = rng.choice(WORDS)
            parts.append(w)
            size += len(w) + 1
        text = " ".join(parts)
    return lambda n1, n2: (text[:n1], text[n1:n1 + n2])


def draw_key(rng, keys="uniform"):
    """uniform: 1..50000 (90%) or 0..99999 (10%), about 18% of keys of 4
    digits; balanced (phase 8 on): the 90% split evenly between 1000..9999
    and 10000..50000, so 46% of keys have 4 digits and 54% 5."""
    if rng.random() >= 0.9:
        return rng.randint(0, 99999)
    if keys == "balanced":
        return rng.randint(1000, 9999) if rng.random() < 0.5 else rng.randint(10000, 50000)
    return rng.randint(1, 50000)


def passkey_sample(rng, L, keys="uniform"):
    """(prompt bytes of length L, answer bytes)."""
    n = draw_key(rng, keys)
    info = info_line(n)
    fixed = len(TASK) + len(info) + len(QUESTION) + 4
    n_garbage = max(0, L - fixed)
    depth = rng.random()
    n1 = int(round(depth * n_garbage))
    pre, post = filler_source(rng, n_garbage)(n1, n_garbage - n1)
    prompt = "\n".join([TASK, pre, info, post, QUESTION]).encode()
    return prompt, f" {n}.".encode()


def protocol_prompt(L, depth, n):
    """The exact test prompt (as tools/passkey.c builds it for a byte-level model)."""
    info = info_line(n)
    n_garbage = L - (len(TASK) + len(info) + len(QUESTION) + 4)
    n1 = int(math.floor(depth * n_garbage + 0.5))
    text = " ".join([GARBAGE] * (n_garbage // (len(GARBAGE) + 1) + 2))
    return "\n".join([TASK, text[:n1], info, text[:n_garbage - n1], QUESTION]).encode()


def make_batch(rng, T, B, device, keys="uniform"):
    """x, y (B, T) int64 and weights: 1 on every real byte, and the answer mask."""
    x = torch.zeros(B, T + 1, dtype=torch.long)
    real = torch.zeros(B, T)
    ans = torch.zeros(B, T)
    for b in range(B):
        L = rng.randint(max(260, int(0.55 * T)), T - 8)
        prompt, answer = passkey_sample(rng, L, keys)
        pad = (b"\n" + GARBAGE.encode()) * (T // len(GARBAGE) + 2)
        seq = (prompt + answer + pad)[:T + 1]
        x[b] = torch.tensor(list(seq), dtype=torch.long)
        real[b, :len(prompt) + len(answer) - 1] = 1
        ans[b, len(prompt) - 1:len(prompt) + len(answer) - 1] = 1
    return x[:, :-1].to(device), x[:, 1:].to(device), real.to(device), ans.to(device)


# ---------------------------------------------------------------------------

def build_model(arch, args):
    if arch == "rwkvx":
        return Model(C=args.n_embd, n_rwkv=args.n_rwkv, n_sparse=args.n_sparse,
                     chunk=args.chunk_size, topk=args.chunk_topk)
    return Model(C=args.n_embd, n_rwkv=args.n_rwkv + args.n_sparse, n_sparse=0)


def load_official(path, chunk, topk):
    sd = torch.load(path, map_location="cpu")
    x = any(k.startswith("rwkv.") for k in sd)
    strip = {(k[5:] if k.startswith("rwkv.") else k): v.float() for k, v in sd.items()}
    C = strip["emb.weight"].shape[1]
    n_rwkv = 1 + max(int(k.split(".")[1]) for k in strip if k.startswith("blocks."))
    n_sparse = (1 + max(int(k.split(".")[1]) for k in strip if k.startswith("moba."))) if x else 0
    ranks = tuple(strip[f"blocks.{1 if n_rwkv > 1 else 0}.att.{n}1"].shape[1] if n != "v" or n_rwkv > 1 else 8
                  for n in ("w", "a", "v", "g"))
    m = Model(vocab=strip["emb.weight"].shape[0], C=C, n_rwkv=n_rwkv, n_sparse=n_sparse,
              chunk=chunk, topk=topk, ranks=ranks)
    m.load_state_dict(strip)
    return m


def save_official(model, path):
    tmp = path + ".tmp"
    torch.save(model.official_state_dict(torch.float32), tmp)
    os.replace(tmp, path)


@torch.no_grad()
def passkey_eval(model, lengths, depths, keys, device, wkv_chunk):
    """Exact-match accuracy per length on protocol prompts (greedy decoding of
    len(" N") bytes, correct when the stripped text is N)."""
    model.eval()
    res = {}
    for L in lengths:
        ok = total = 0
        for n in keys:
            prompts = [protocol_prompt(L, d, n) for d in depths]
            x = torch.tensor([list(p) for p in prompts], dtype=torch.long, device=device)
            want = len(f" {n}")
            for _ in range(want):
                logits = model(x, wkv_chunk=wkv_chunk)[:, -1]
                x = torch.cat([x, logits.argmax(-1, keepdim=True)], 1)
            for row in x[:, L:].tolist():
                ok += bytes(row).decode("latin-1").strip() == str(n)
                total += 1
        res[L] = ok / total
    model.train()
    return res


def cmd_train(args):
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    model = build_model(args.arch, args)
    if args.resume:  # continue from an official-layout checkpoint (fresh optimizer)
        sd = torch.load(args.resume, map_location="cpu")
        model.load_state_dict({(k[5:] if k.startswith("rwkv.") else k): v.float() for k, v in sd.items()})
    model = model.to(device)
    n_params = sum(p.numel() for p in model.parameters())
    if args.train_only == "sparse":  # the paper's first stage: RWKV-7 blocks, embedding and head frozen
        for n, p in model.named_parameters():
            p.requires_grad_(n.startswith("moba."))
    trained = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in trained if p.dim() == 2 and "emb" not in n]
    other = [p for n, p in trained if not (p.dim() == 2 and "emb" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": other, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.99), eps=1e-8)
    os.makedirs(args.out, exist_ok=True)
    name = args.arch
    log = open(os.path.join(args.out, f"{name}.log"), "a")

    def say(msg):
        print(msg, flush=True)
        log.write(msg + "\n")
        log.flush()

    say(f"{name}: {n_params} parameters, order {model.order}, device {device}, "
        f"torch {torch.__version__}, args {json.dumps(vars(args))}")
    lens = [(int(L), float(w)) for L, w in (x.split(":") for x in args.lengths.split(","))]
    assert abs(sum(w for _, w in lens) - 1) < 1e-6, "--lengths weights must add up to 1"
    t0 = time.time()
    last_save = t0
    seen = 0
    for step in range(1, args.steps + 1):
        # progress: steps done, or time used if the time limit comes first
        frac = min(1.0, max(step / args.steps, (time.time() - t0) / args.time_limit))
        lr = args.lr * min(1.0, step / args.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        u = rng.random()
        T = lens[-1][0]
        for L, w in lens:
            if u < w:
                T = L
                break
            u -= w
        B = args.batch_bytes // T
        x, y, real, ans = make_batch(rng, T, B, device, args.keys)
        logits = model(x, wkv_chunk=args.wkv_chunk)
        ce = F.cross_entropy(logits.view(-1, logits.shape[-1]).float(), y.reshape(-1), reduction="none").view(B, T)
        loss_all = (ce * real).sum() / real.sum()
        loss_ans = (ce * ans).sum() / ans.sum()
        loss = loss_all + args.answer_weight * loss_ans
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_([p for _, p in trained], 1.0)
        opt.step()
        seen += B * T
        if step % 25 == 0 or step == 1:
            with torch.no_grad():
                hit = ((logits.argmax(-1) == y).float() * ans).sum() / ans.sum()
            el = time.time() - t0
            say(f"step {step} T {T} loss {loss_all.item():.4f} answer {loss_ans.item():.4f} "
                f"answer-byte-acc {hit.item():.3f} gnorm {gn.item():.2f} lr {lr:.2e} "
                f"bytes {seen} elapsed {el:.0f}s ({seen / el:.0f} B/s)"
                + (f" mem {torch.cuda.max_memory_allocated() / 2**30:.1f}G" if device == "cuda" else ""))
        done = step == args.steps or frac >= 1.0
        if done or time.time() - last_save > args.save_every:
            save_official(model, os.path.join(args.out, f"{name}.pth"))
            last_save = time.time()
        if args.eval_every and (step % args.eval_every == 0 or done):
            acc = passkey_eval(model, [1024, 2048, 4096, 8192], [i / 4 for i in range(5)],
                               [2733, 33004, 5995], device, args.wkv_chunk)
            say(f"step {step} passkey " + " ".join(f"{L}:{a:.2f}" for L, a in acc.items()))
            save_official(model, os.path.join(args.out, f"{name}.step{step}.pth"))
        if done:
            say(f"stopped at step {step} of {args.steps}, {time.time() - t0:.0f}s, {seen} bytes")
            break


def cmd_check(args):
    """The trainable forms against the plain definitions."""
    torch.manual_seed(0)
    B, T, H, N = 2, 200, 2, 64
    r, k, v = (torch.randn(B, T, H, N, dtype=torch.float64) for _ in range(3))
    w = torch.exp(-0.606531 * torch.sigmoid(torch.randn(B, T, H, N, dtype=torch.float64) * 3))
    kk = F.normalize(torch.randn(B, T, H, N, dtype=torch.float64), dim=-1)
    a = torch.sigmoid(torch.randn(B, T, H, N, dtype=torch.float64))
    k = k * 0.3
    ref = wkv7_loop(r, w, k, v, kk, a)
    worst = 0.0
    for L in (1, 7, 16, 64):
        out = wkv7_chunked(r, w, k, v, kk, a, L=L)
        d = (out - ref).abs().max().item()
        worst = max(worst, d)
        print(f"wkv7_chunked L={L}: max |diff| vs loop {d:.3e} (|y| max {ref.abs().max().item():.2f})")
    # gradients agree too
    ps = [t.clone().requires_grad_() for t in (r, w, k, v, kk, a)]
    g1 = torch.autograd.grad((wkv7_loop(*ps) ** 2).sum(), ps)
    g2 = torch.autograd.grad((wkv7_chunked(*ps, L=16) ** 2).sum(), ps)
    gd = max((x - y).abs().max().item() for x, y in zip(g1, g2))
    print(f"gradients: max |diff| {gd:.3e}")
    # MoBA mask against a direct transcription of the rule, per query and head
    chunk, topk = 8, 3
    q = torch.randn(1, 2, 70, 64, dtype=torch.float64)
    kx = torch.randn(1, 2, 70, 64, dtype=torch.float64)
    mask = moba_mask(q, kx, chunk, topk)
    bad = 0
    for h in range(2):
        for t in range(70):
            c = t // chunk
            gates = [(q[0, h, t] @ kx[0, h, j * chunk:(j + 1) * chunk].mean(0)).item() for j in range(c)]
            sel = sorted(range(c), key=lambda j: -gates[j])[:min(topk - 1, c)]
            allowed = set(p for j in sel for p in range(j * chunk, (j + 1) * chunk)) | set(range(c * chunk, t + 1))
            bad += set(torch.nonzero(mask[0, h, t]).flatten().tolist()) != allowed
    print(f"moba_mask: {bad} of {2 * 70} (query, head) pairs differ from the rule")
    # the blockwise form used past 2048 positions: values and gradients
    ps = [t.clone().requires_grad_() for t in (q, kx, torch.randn(1, 2, 70, 64, dtype=torch.float64))]
    dense = moba_attention(*ps, chunk, topk)
    blocked = moba_attention(*ps, chunk, topk, rows=16)
    bd = (dense - blocked).abs().max().item()
    gb = max((x - y).abs().max().item() for x, y in zip(torch.autograd.grad((dense ** 2).sum(), ps),
                                                         torch.autograd.grad((blocked ** 2).sum(), ps)))
    print(f"moba_attention in blocks of 16 queries: max |diff| {bd:.3e}, gradients {gb:.3e}")
    ok = worst < 1e-9 and gd < 1e-8 and bad == 0 and bd < 1e-12 and gb < 1e-12
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


def cmd_random(args):
    torch.manual_seed(args.seed)
    m = build_model(args.arch, args)
    with torch.no_grad():  # make every weight matter (the default init zeroes some)
        for n, p in m.named_parameters():
            if "ln" in n or n.endswith(("x_r", "x_w", "x_k", "x_v", "x_a", "x_g", "w0", "k_k", "k_a", "a0", "v0")):
                p.add_(torch.randn_like(p) * 0.1)
            else:
                p.copy_(torch.randn_like(p) * (0.5 / math.sqrt(p.shape[-1]) if p.dim() == 2 else 0.3))
        m.emb.weight.copy_(torch.randn_like(m.emb.weight))
    save_official(m, args.out)
    print(f"wrote {args.out}: {sum(p.numel() for p in m.parameters())} parameters, order {m.order}")


def cmd_logits(args):
    m = load_official(args.ckpt, args.chunk_size, args.chunk_topk).double()
    with open(args.tokens_file) as f:
        toks = [int(t) for t in f.read().replace(",", " ").split()]
    with torch.no_grad():
        out = m(torch.tensor([toks]), wkv_chunk=args.wkv_chunk)[0]
    out = out if args.all else out[-1:]
    with open(args.out, "wb") as f:
        f.write(struct.pack(f"<{out.numel()}f", *out.float().flatten().tolist()))
    print(f"wrote {args.out}: {tuple(out.shape)}")


def cmd_eval(args):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    m = load_official(args.ckpt, args.chunk_size, args.chunk_topk).to(device)
    lengths = [int(x) for x in args.lengths.split(",")]
    acc = passkey_eval(m, lengths, [i / 9 for i in range(10)], [2733, 33004, 23721, 5995, 17531],
                       device, args.wkv_chunk)
    print(" ".join(f"{L}:{a:.2f}" for L, a in acc.items()))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def model_args(p):
        p.add_argument("--arch", choices=("rwkvx", "rwkv7"), default="rwkvx")
        p.add_argument("--n-embd", type=int, default=128)
        p.add_argument("--n-rwkv", type=int, default=4, help="RWKV-7 blocks of the hybrid")
        p.add_argument("--n-sparse", type=int, default=2, help="sparse blocks of the hybrid "
                       "(the pure model has n-rwkv + n-sparse RWKV-7 blocks)")
        p.add_argument("--chunk-size", type=int, default=64)
        p.add_argument("--chunk-topk", type=int, default=4)
        p.add_argument("--wkv-chunk", type=int, default=32)
        p.add_argument("--seed", type=int, default=1234)

    p = sub.add_parser("train")
    model_args(p)
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=900)
    p.add_argument("--batch-bytes", type=int, default=98304)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--wd", type=float, default=0.01)
    p.add_argument("--time-limit", type=float, default=1e9,
                   help="seconds; the schedule then follows the time used if that is ahead of the steps")
    p.add_argument("--save-every", type=float, default=60)
    p.add_argument("--eval-every", type=int, default=300)
    p.add_argument("--resume", help="official-layout .pth to start from (a second phase)")
    p.add_argument("--lengths", default="512:0.3,1024:0.3,2048:0.4",
                   help="batch lengths in bytes and their probabilities")
    p.add_argument("--train-only", choices=("all", "sparse"), default="all",
                   help="sparse: train only the sparse blocks (the paper's first stage)")
    p.add_argument("--keys", choices=("uniform", "balanced"), default="uniform",
                   help="pass key distribution (draw_key): balanced has as many 4-digit keys as 5-digit ones")
    p.add_argument("--answer-weight", type=float, default=1.0,
                   help="weight of the answer bytes' mean cross-entropy in the loss")
    p = sub.add_parser("check")
    p = sub.add_parser("random")
    model_args(p)
    p.add_argument("--out", required=True)
    p = sub.add_parser("logits")
    model_args(p)
    p.add_argument("ckpt")
    p.add_argument("--tokens-file", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--all", action="store_true")
    p = sub.add_parser("eval")
    model_args(p)
    p.add_argument("ckpt")
    p.add_argument("--lengths", default="1024,2048,4096,8192")
    args = ap.parse_args()
    return {"train": cmd_train, "check": cmd_check, "random": cmd_random,
            "logits": cmd_logits, "eval": cmd_eval}[args.cmd](args) or 0


if __name__ == "__main__":
    sys.exit(main())
