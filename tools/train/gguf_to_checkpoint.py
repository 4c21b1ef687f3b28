#!/usr/bin/env python3
"""An rwkvx GGUF file (F32 tensors) back to an official-layout checkpoint.

    python3 tools/train/gguf_to_checkpoint.py models/rwkvx-passkey.gguf OUT.pth

The inverse of `rwkvx-convert ... --type f32` (docs/FORMAT.md): so training can
resume from the shipped demo models when their training checkpoints are gone
(`train_passkey.py train --resume OUT.pth`). Only F32 tensors are accepted
(a quantized file has lost the weights it came from). The result converts
back to the same tensors: `rwkvx-convert OUT.pth X.gguf --type f32 --vocab
bytes --chunk-size 64 --chunk-topk 4` (check it with `cmp`, after the name).
"""
import struct
import sys

import torch

GGUF_F32 = 0
# GGUF metadata value types: sizes of the fixed ones (docs/gguf.md in ggml)
SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9

# GGUF name (after "blk.N." / "sparse.J.") -> released name (after "blocks.N." / "moba.J.")
# and how the released tensor is shaped from the stored one.
# names that RWKV-7 and sparse blocks share
BOTH = {
    "attn_norm.weight": "ln1.weight", "attn_norm.bias": "ln1.bias",
    "attn_norm_2.weight": "ln2.weight", "attn_norm_2.bias": "ln2.bias",
    "channel_mix_lerp_k.weight": "ffn.x_k",
    "channel_mix_key.weight": "ffn.key.weight", "channel_mix_value.weight": "ffn.value.weight",
}
RWKV = dict(BOTH, **{
    "time_mix_w0.weight": "att.w0", "time_mix_a0.weight": "att.a0", "time_mix_v0.weight": "att.v0",
    "time_mix_k_k.weight": "att.k_k", "time_mix_k_a.weight": "att.k_a",
    "time_mix_w1.weight": "att.w1", "time_mix_w2.weight": "att.w2",
    "time_mix_a1.weight": "att.a1", "time_mix_a2.weight": "att.a2",
    "time_mix_v1.weight": "att.v1", "time_mix_v2.weight": "att.v2",
    "time_mix_g1.weight": "att.g1", "time_mix_g2.weight": "att.g2",
    "time_mix_r_k.weight": "att.r_k",
    "time_mix_receptance.weight": "att.receptance.weight", "time_mix_key.weight": "att.key.weight",
    "time_mix_value.weight": "att.value.weight", "time_mix_output.weight": "att.output.weight",
    "time_mix_ln.weight": "att.ln_x.weight", "time_mix_ln.bias": "att.ln_x.bias",
})
SPARSE = dict(BOTH, **{
    "attn_q.weight": "att.receptance.weight", "attn_k.weight": "att.key.weight",
    "attn_v.weight": "att.value.weight", "attn_output.weight": "att.output.weight",
})
GLOBAL = {
    "token_embd.weight": "emb.weight", "token_embd_norm.weight": "blocks.0.ln0.weight",
    "token_embd_norm.bias": "blocks.0.ln0.bias", "output_norm.weight": "ln_out.weight",
    "output_norm.bias": "ln_out.bias", "output.weight": "head.weight",
}
MIXES = ("att.w0", "att.a0", "att.v0", "att.k_k", "att.k_a", "ffn.x_k")  # (1, 1, C) in checkpoints
LERPS = ("att.x_r", "att.x_w", "att.x_k", "att.x_v", "att.x_a", "att.x_g")  # rows of the fused lerp


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take("Q")
        s = self.data[self.pos:self.pos + n].decode("utf-8", "replace")
        self.pos += n
        return s

    def value(self, t):
        if t == STRING:
            return self.string()
        if t == ARRAY:
            et, n = self.take("I"), self.take("Q")
            return [self.value(et) for _ in range(n)]
        if t not in SCALAR:
            raise ValueError(f"unknown GGUF metadata type {t}")
        return self.take(SCALAR[t])


def read_gguf(path):
    """(metadata dict, {name: float32 tensor in ggml ne order reversed})"""
    data = open(path, "rb").read()
    r = Reader(data)
    if data[:4] != b"GGUF" or struct.unpack_from("<I", data, 4)[0] != 3:
        raise ValueError(f"{path}: not a GGUF v3 file")
    r.pos = 8
    n_tensors, n_kv = r.take("Q"), r.take("Q")
    meta = {}
    for _ in range(n_kv):
        key = r.string()
        meta[key] = r.value(r.take("I"))
    infos = []
    for _ in range(n_tensors):
        name = r.string()
        ne = [r.take("Q") for _ in range(r.take("I"))]
        infos.append((name, ne, r.take("I"), r.take("Q")))
    align = meta.get("general.alignment", 32)
    base = (r.pos + align - 1) // align * align
    tensors = {}
    for name, ne, typ, off in infos:
        if typ != GGUF_F32:
            raise ValueError(f"{path}: tensor {name} is not F32 (type {typ}): convert with --type f32")
        count = 1
        for n in ne:
            count *= n
        raw = bytearray(data[base + off:base + off + 4 * count])
        tensors[name] = torch.frombuffer(raw, dtype=torch.float32).view(*reversed(ne)).clone()
    return meta, tensors


def to_checkpoint(meta, tensors):
    C = meta["rwkvx.embedding_length"]
    n_sparse = meta.get("rwkvx.sparse_block_count", 0)
    prefix = "rwkv." if n_sparse else ""
    mix = lambda t: t.reshape(1, 1, C)
    out = {}
    for name, t in tensors.items():
        if name in GLOBAL:
            out[prefix + GLOBAL[name]] = t
            continue
        kind, idx, rest = name.split(".", 2)
        if kind == "sparse":
            key = SPARSE[rest]
            out[f"moba.{idx}.{key}"] = mix(t) if key == "ffn.x_k" else t
            continue
        if kind != "blk":
            raise ValueError(f"unknown tensor {name}")
        stem = f"{prefix}blocks.{idx}."
        if rest == "time_mix_lerp_fused.weight":       # stored (6, C)
            for row, key in enumerate(LERPS):
                out[stem + key] = mix(t[row])
            continue
        key = RWKV[rest]
        if key[-2:] in ("w1", "w2", "a1", "a2", "v1", "v2", "g1", "g2"):
            t = t.t()                                    # stored transposed
        elif key == "att.r_k":
            t = t.reshape(C // 64, 64)
        elif key in MIXES:
            t = mix(t)
        out[stem + key] = t
    return {k: v.contiguous() for k, v in out.items()}


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gguf_to_checkpoint.py MODEL.gguf OUT.pth")
    meta, tensors = read_gguf(sys.argv[1])
    sd = to_checkpoint(meta, tensors)
    torch.save(sd, sys.argv[2])
    print(f"wrote {sys.argv[2]}: {len(sd)} tensors, {sum(v.numel() for v in sd.values())} parameters, "
          f"chunk {meta.get('rwkvx.sparse.chunk_size')} top-k {meta.get('rwkvx.sparse.topk')}")


if __name__ == "__main__":
    main()
