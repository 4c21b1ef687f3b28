#!/usr/bin/env python3
"""Turns a plain RWKV-7 model file of ours (rwkvx layout, docs/FORMAT.md) back
into a released-layout .safetensors checkpoint holding its values as F32
(make interop: the trained byte-level demo model ships only as GGUF, and
rwkvx-convert --llama-cpp takes checkpoints).

    python3 unconvert.py MODEL.gguf OUT.safetensors
"""
import json
import struct
import sys

from dequantize import read_gguf, f32_values

LERPS = "rwkvag"


def released(name, ne, values):
    """(released name, shape, F32 bytes) of one tensor of ours; may be several."""
    n = 1
    for d in ne:
        n *= d
    glob = {"token_embd.weight": "emb.weight", "token_embd_norm.weight": "blocks.0.ln0.weight",
            "token_embd_norm.bias": "blocks.0.ln0.bias", "output_norm.weight": "ln_out.weight",
            "output_norm.bias": "ln_out.bias", "output.weight": "head.weight"}
    if name in glob:
        return [(glob[name], list(reversed(ne)), values)]
    if not name.startswith("blk."):
        sys.exit(f"unconvert.py: tensor '{name}' (a sparse block?) has no place in a plain RWKV-7 checkpoint")
    _, block, rest = name.split(".", 2)
    pre = f"blocks.{block}."
    rest = rest[: -len(".weight")] if rest.endswith(".weight") else rest
    if rest == "time_mix_lerp_fused":
        c = ne[0]
        return [(pre + "att.x_" + LERPS[i], [1, 1, c], values[4 * c * i:4 * c * (i + 1)]) for i in range(6)]
    simple = {"attn_norm": "ln1.weight", "attn_norm.bias": "ln1.bias", "attn_norm_2": "ln2.weight",
              "attn_norm_2.bias": "ln2.bias", "time_mix_ln": "att.ln_x.weight", "time_mix_ln.bias": "att.ln_x.bias"}
    if rest in simple:
        return [(pre + simple[rest], [n], values)]
    vectors = {"time_mix_w0": "att.w0", "time_mix_a0": "att.a0", "time_mix_v0": "att.v0", "time_mix_k_k": "att.k_k",
               "time_mix_k_a": "att.k_a", "channel_mix_lerp_k": "ffn.x_k"}
    if rest in vectors:
        return [(pre + vectors[rest], [1, 1, n], values)]
    if rest == "time_mix_r_k":
        return [(pre + "att.r_k", [n // 64, 64], values)]
    if rest.startswith("time_mix_") and rest[9] in "wavg" and rest[10:] in ("1", "2"):
        cols, rows = ne  # stored transposed (docs/FORMAT.md): the released matrix is (cols, rows)
        flat = struct.unpack(f"<{n}f", values)
        t = [flat[r * cols + c] for c in range(cols) for r in range(rows)]
        return [(pre + "att." + rest[9:], [cols, rows], struct.pack(f"<{n}f", *t))]
    mats = {"time_mix_receptance": "att.receptance.weight", "time_mix_key": "att.key.weight",
            "time_mix_value": "att.value.weight", "time_mix_output": "att.output.weight",
            "channel_mix_key": "ffn.key.weight", "channel_mix_value": "ffn.value.weight"}
    if rest in mats:
        return [(pre + mats[rest], list(reversed(ne)), values)]
    sys.exit(f"unconvert.py: unknown tensor '{name}'")


def main(src, dst):
    tensors = []
    for name, ne, kind, raw in read_gguf(src):
        n = 1
        for d in ne:
            n *= d
        tensors += released(name.decode(), ne, f32_values(kind, raw, n))
    header, at = {}, 0
    for name, shape, values in tensors:
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [at, at + len(values)]}
        at += len(values)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(v for _, _, v in tensors))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: unconvert.py MODEL.gguf OUT.safetensors")
    main(sys.argv[1], sys.argv[2])
