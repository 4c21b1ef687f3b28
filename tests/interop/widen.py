#!/usr/bin/env python3
"""Doubles the width C of a released-layout RWKV-7 checkpoint (F32
.safetensors, as unconvert.py writes) without changing what it computes
(make interop, tests/interop/run.sh).

    python3 widen.py IN.safetensors OUT.safetensors

The test models have C = 128, and llama.cpp's K-quants (Q4_K, Q5_K, Q6_K)
need rows of 256: llama.cpp's quantizer falls back to other types on them.
The widened model carries every channel twice: the residual stream is
[x, x], so a LayerNorm over 2C sees the same mean and variance; the heads are
duplicated (2C / 64 heads, each a copy, and the per-head norms and state see
the same numbers); a matrix that writes C channels writes them twice, and one
that reads them reads both copies at half weight (exact in binary floating
point). The logits are the original model's up to the rounding of the longer
sums, and every matrix that reads the residual stream has rows of 2C = 256.
Standard library only.
"""
import json
import struct
import sys

# tensors that contract over a C axis (it is read at half weight): name suffix -> axis
READS_C = {"att.receptance.weight": 1, "att.key.weight": 1, "att.value.weight": 1, "att.output.weight": 1,
           "ffn.key.weight": 1, "head.weight": 1, "att.w1": 0, "att.a1": 0, "att.v1": 0, "att.g1": 0}


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack_from("<Q", data)[0]
    header = json.loads(data[8:8 + n])
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] != "F32":
            sys.exit(f"widen.py: {name} is {info['dtype']}, not F32 (make the checkpoint with unconvert.py)")
        start, end = info["data_offsets"]
        raw = data[8 + n + start:8 + n + end]
        out.append((name, info["shape"], list(struct.unpack(f"<{len(raw) // 4}f", raw))))
    return out


def doubled(flat, shape, axis, halve):
    """flat (row-major, shape) with the slab along `axis` repeated twice."""
    inner = 1
    for d in shape[axis + 1:]:
        inner *= d
    slab = shape[axis] * inner
    out = []
    for start in range(0, len(flat), slab):
        part = flat[start:start + slab]
        if halve:
            part = [x * 0.5 for x in part]
        out += part + part
    shape = list(shape)
    shape[axis] *= 2
    return out, shape


def widen(name, shape, flat, c):
    if name.endswith("att.r_k"):  # (H, 64): the heads duplicated, as one flat C vector
        flat, _ = doubled(flat, [len(flat)], 0, False)
        return flat, [2 * shape[0], shape[1]]
    read_axis = next((axis for suffix, axis in READS_C.items() if name.endswith(suffix)), None)
    for axis in range(len(shape)):
        if shape[axis] == c:
            flat, shape = doubled(flat, shape, axis, axis == read_axis)
    return flat, shape


def main(src, dst):
    tensors = read_safetensors(src)
    c = next(shape for name, shape, _ in tensors if name == "emb.weight")[1]
    header, blobs, at = {}, [], 0
    for name, shape, flat in tensors:
        flat, shape = widen(name, shape, flat, c)
        blob = struct.pack(f"<{len(flat)}f", *flat)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [at, at + len(blob)]}
        blobs.append(blob)
        at += len(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: widen.py IN.safetensors OUT.safetensors")
    main(sys.argv[1], sys.argv[2])
