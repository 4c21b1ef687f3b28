#!/usr/bin/python3
"""Random-weight RWKV-7 / RWKV-X checkpoints in the official layout.

For benchmarks only: the weights are random (seeded), so the model says
nothing, but the shapes, key names and dtype (bf16) are those of the releases,
so rwkvx-convert and rwkv.cpp's converter read the very same file.

    /usr/bin/python3 tools/make_random_checkpoint.py OUT.pth \
        [--layers 12] [--embd 768] [--vocab 65536] [--sparse 0] [--seed 0]

OUT.pth is written with torch (Debian's python3-torch); OUT.safetensors with
numpy, or with the standard library alone when numpy is missing too (then the
large matrices hold random signs and mantissas at the right scale instead of
normal samples: the same for timing). --sparse N > 0 writes an RWKV-X
checkpoint (keys prefixed "rwkv.", plus "moba.J.*" for N sparse blocks). LoRA
ranks default to the 0.1B release's (decay 64, iclr 64, value 32, gate 128);
block 0 has no value LoRA, as in the releases. The scales keep activations in
a sane range (no overflow, no denormals), so timings are those of a real model.
"""
import argparse
import json
import struct
import sys


class Torch:
    """Random tensors from torch, saved as a .pth (what the releases are)."""

    def __init__(self, seed):
        import torch
        self.t = torch
        self.gen = torch.Generator().manual_seed(seed)

    def randn(self, *shape):
        return self.t.randn(*shape, generator=self.gen)

    def rand(self, *shape):
        return self.t.rand(*shape, generator=self.gen)

    def full(self, shape, value):
        return self.t.full(shape, float(value))

    def save(self, sd, path):
        self.t.save({k: v.to(self.t.bfloat16).contiguous() for k, v in sd.items()}, path)


class Numpy:
    """Random arrays from numpy, saved as a bf16 .safetensors."""

    def __init__(self, seed):
        import numpy
        self.np = numpy
        self.rng = numpy.random.default_rng(seed)

    def randn(self, *shape):
        return self.rng.standard_normal(shape, dtype=self.np.float32)

    def rand(self, *shape):
        return self.rng.random(shape, dtype=self.np.float32)

    def full(self, shape, value):
        return self.np.full(shape, value, dtype=self.np.float32)

    def save(self, sd, path):
        np = self.np
        header, blobs, at = {}, [], 0
        for name, a in sd.items():
            bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
            bf16 = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)  # round to nearest even
            blob = bf16.tobytes()
            header[name] = {"dtype": "BF16", "shape": list(a.shape), "data_offsets": [at, at + len(blob)]}
            blobs.append(blob)
            at += len(blob)
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for blob in blobs:
                f.write(blob)


class Lazy:
    """offset + scale * (a normal or uniform sample) of some shape, made at save time."""

    def __init__(self, shape, kind, offset=0.0, scale=1.0):
        self.shape, self.kind, self.offset, self.scale = shape, kind, offset, scale
        self.size = 1
        for d in shape:
            self.size *= d

    def __mul__(self, s):
        return Lazy(self.shape, self.kind, self.offset * s, self.scale * s)

    def __add__(self, s):
        return Lazy(self.shape, self.kind, self.offset + s, self.scale)

    __rmul__, __radd__ = __mul__, __add__

    def bf16(self, rnd):
        import math
        import os
        if self.kind == "const" or self.size <= 1 << 16:  # vectors: exact samples
            draw = {"normal": lambda: rnd.gauss(0, 1), "uniform": rnd.random, "const": lambda: 0.0}[self.kind]
            vals = [self.offset + self.scale * draw() for _ in range(self.size)]
            return b"".join(struct.pack("<f", v)[2:] for v in vals)  # truncated to bf16
        # matrices (offset 0): random sign and mantissa, exponent of the scale
        e = int(math.floor(math.log2(abs(self.scale)))) + 127
        hi = bytes(((b & 0x80) | (e >> 1)) for b in range(256))
        lo = bytes((((e & 1) << 7) | (b & 0x7F)) for b in range(256))
        raw = os.urandom(2 * self.size)
        out = bytearray(2 * self.size)
        out[0::2] = raw[0::2].translate(lo)
        out[1::2] = raw[1::2].translate(hi)
        return bytes(out)


class Plain:
    """No torch, no numpy: the standard library writes the .safetensors."""

    def __init__(self, seed):
        import random
        self.rnd = random.Random(seed)

    def randn(self, *shape):
        return Lazy(shape, "normal")

    def rand(self, *shape):
        return Lazy(shape, "uniform")

    def full(self, shape, value):
        return Lazy(shape, "const", float(value))

    def save(self, sd, path):
        header, at = {}, 0
        for name, a in sd.items():
            header[name] = {"dtype": "BF16", "shape": list(a.shape), "data_offsets": [at, at + 2 * a.size]}
            at += 2 * a.size
        text = json.dumps(header).encode()
        text += b" " * (-len(text) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for a in sd.values():
                f.write(a.bf16(self.rnd))


def rwkv7_block(sd, r, p, i, C, F, H, ranks):
    def vec(lo, hi):
        return lo + (hi - lo) * r.rand(1, 1, C)

    def mat(rows, cols):
        return r.randn(rows, cols) * (1.0 / cols ** 0.5)

    dw, da, dv, dg = ranks
    b = f"{p}blocks.{i}."
    for ln in ("ln1", "ln2"):
        sd[b + ln + ".weight"] = 1 + 0.1 * r.randn(C)
        sd[b + ln + ".bias"] = 0.1 * r.randn(C)
    for name in ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g"):
        sd[b + "att." + name] = vec(0.0, 1.0)
    sd[b + "att.w0"] = vec(-6.0, -1.0)
    sd[b + "att.w1"] = 0.1 * r.randn(C, dw)
    sd[b + "att.w2"] = 0.1 * r.randn(dw, C)
    sd[b + "att.a0"] = vec(-1.0, 1.0)
    sd[b + "att.a1"] = 0.1 * r.randn(C, da)
    sd[b + "att.a2"] = 0.1 * r.randn(da, C)
    if i > 0:  # block 0 makes v_first: the releases have no v0/v1/v2 there
        sd[b + "att.v0"] = vec(-1.0, 1.0)
        sd[b + "att.v1"] = 0.1 * r.randn(C, dv)
        sd[b + "att.v2"] = 0.1 * r.randn(dv, C)
    sd[b + "att.g1"] = 0.1 * r.randn(C, dg)
    sd[b + "att.g2"] = 0.1 * r.randn(dg, C)
    sd[b + "att.k_k"] = vec(0.5, 1.5)
    sd[b + "att.k_a"] = vec(0.5, 1.5)
    sd[b + "att.r_k"] = 0.1 * r.randn(H, 64)
    for name in ("receptance", "key", "value", "output"):
        sd[b + f"att.{name}.weight"] = mat(C, C)
    sd[b + "att.ln_x.weight"] = 1 + 0.1 * r.randn(C)
    sd[b + "att.ln_x.bias"] = 0.1 * r.randn(C)
    ffn(sd, r, b, C, F)


def ffn(sd, r, b, C, F):
    sd[b + "ffn.x_k"] = r.rand(1, 1, C)
    sd[b + "ffn.key.weight"] = r.randn(F, C) * (1.0 / C ** 0.5)
    sd[b + "ffn.value.weight"] = r.randn(C, F) * (0.5 / F ** 0.5)


def sparse_block(sd, r, j, C, F):
    b = f"moba.{j}."
    for ln in ("ln1", "ln2"):
        sd[b + ln + ".weight"] = 1 + 0.1 * r.randn(C)
        sd[b + ln + ".bias"] = 0.1 * r.randn(C)
    for name in ("receptance", "key", "value", "output"):
        sd[b + f"att.{name}.weight"] = r.randn(C, C) * (1.0 / C ** 0.5)
    ffn(sd, r, b, C, F)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="OUT.pth (torch) or OUT.safetensors (numpy)")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--embd", type=int, default=768)
    ap.add_argument("--vocab", type=int, default=65536)
    ap.add_argument("--sparse", type=int, default=0)
    ap.add_argument("--ranks", default="64,64,32,128", help="decay,iclr,value,gate LoRA ranks")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    C, F, H = a.embd, 4 * a.embd, a.embd // 64
    ranks = [int(x) for x in a.ranks.split(",")]
    try:
        r = Torch(a.seed)
        if a.out.endswith(".safetensors"):
            try:
                r = Numpy(a.seed)
            except ImportError:
                r = Plain(a.seed)
    except ImportError as e:
        if not a.out.endswith(".safetensors"):
            sys.exit(f"make_random_checkpoint: {e} (a .pth needs torch; write a .safetensors instead)")
        try:
            r = Numpy(a.seed)
        except ImportError:
            r = Plain(a.seed)
    p = "rwkv." if a.sparse else ""
    sd = {}
    sd[p + "emb.weight"] = r.randn(a.vocab, C)
    sd[p + "blocks.0.ln0.weight"] = r.full((C,), 1.0)
    sd[p + "blocks.0.ln0.bias"] = r.full((C,), 0.0)
    for i in range(a.layers):
        rwkv7_block(sd, r, p, i, C, F, H, ranks)
    sd[p + "ln_out.weight"] = r.full((C,), 1.0)
    sd[p + "ln_out.bias"] = r.full((C,), 0.0)
    sd[p + "head.weight"] = r.randn(a.vocab, C) * (1.0 / C ** 0.5)
    for j in range(a.sparse):
        sparse_block(sd, r, j, C, F)
    r.save(sd, a.out)
    n = sum(v.numel() if callable(getattr(v, "numel", None)) else v.size for v in sd.values())
    print(f"{a.out}: {len(sd)} tensors, {n / 1e6:.1f} M parameters, "
          f"{a.layers} RWKV-7 blocks + {a.sparse} sparse, C={C}, V={a.vocab}")


if __name__ == "__main__":
    main()
