#!/usr/bin/python3
"""Random-weight RWKV-7 / RWKV-X checkpoints in the official .pth layout.

For benchmarks only: the weights are random (seeded), so the model says
nothing, but the shapes, key names and dtype (bf16) are those of the releases,
so rwkvx-convert and rwkv.cpp's converter read the very same file.

    /usr/bin/python3 tools/make_random_checkpoint.py OUT.pth \
        [--layers 12] [--embd 768] [--vocab 65536] [--sparse 0] [--seed 0]

--sparse N > 0 writes an RWKV-X checkpoint (keys prefixed "rwkv.", plus
"moba.J.*" for N sparse blocks). LoRA ranks default to the 0.1B release's
(decay 64, iclr 64, value 32, gate 128). Needs torch (Debian's python3-torch).
The scales keep activations in a sane range (no overflow, no denormals), so
timings are those of a real model.
"""
import argparse

import torch


def rwkv7_block(sd, p, i, C, F, H, ranks, gen):
    def vec(lo, hi):
        return (lo + (hi - lo) * torch.rand(1, 1, C, generator=gen))

    def mat(rows, cols, scale=1.0):
        return torch.randn(rows, cols, generator=gen) * (scale / cols ** 0.5)

    dw, da, dv, dg = ranks
    b = f"{p}blocks.{i}."
    sd[b + "ln1.weight"] = 1 + 0.1 * torch.randn(C, generator=gen)
    sd[b + "ln1.bias"] = 0.1 * torch.randn(C, generator=gen)
    sd[b + "ln2.weight"] = 1 + 0.1 * torch.randn(C, generator=gen)
    sd[b + "ln2.bias"] = 0.1 * torch.randn(C, generator=gen)
    for name in ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g"):
        sd[b + "att." + name] = vec(0.0, 1.0)
    sd[b + "att.w0"] = vec(-6.0, -1.0)
    sd[b + "att.w1"] = 0.1 * torch.randn(C, dw, generator=gen)
    sd[b + "att.w2"] = 0.1 * torch.randn(dw, C, generator=gen)
    sd[b + "att.a0"] = vec(-1.0, 1.0)
    sd[b + "att.a1"] = 0.1 * torch.randn(C, da, generator=gen)
    sd[b + "att.a2"] = 0.1 * torch.randn(da, C, generator=gen)
    if i > 0:  # block 0 makes v_first: the releases have no v0/v1/v2 there
        sd[b + "att.v0"] = vec(-1.0, 1.0)
        sd[b + "att.v1"] = 0.1 * torch.randn(C, dv, generator=gen)
        sd[b + "att.v2"] = 0.1 * torch.randn(dv, C, generator=gen)
    sd[b + "att.g1"] = 0.1 * torch.randn(C, dg, generator=gen)
    sd[b + "att.g2"] = 0.1 * torch.randn(dg, C, generator=gen)
    sd[b + "att.k_k"] = vec(0.5, 1.5)
    sd[b + "att.k_a"] = vec(0.5, 1.5)
    sd[b + "att.r_k"] = 0.1 * torch.randn(H, 64, generator=gen)
    for name in ("receptance", "key", "value", "output"):
        sd[b + f"att.{name}.weight"] = mat(C, C)
    sd[b + "att.ln_x.weight"] = 1 + 0.1 * torch.randn(C, generator=gen)
    sd[b + "att.ln_x.bias"] = 0.1 * torch.randn(C, generator=gen)
    ffn(sd, b, C, F, gen)


def ffn(sd, b, C, F, gen):
    sd[b + "ffn.x_k"] = torch.rand(1, 1, C, generator=gen)
    sd[b + "ffn.key.weight"] = torch.randn(F, C, generator=gen) / C ** 0.5
    sd[b + "ffn.value.weight"] = torch.randn(C, F, generator=gen) * (0.5 / F ** 0.5)


def sparse_block(sd, j, C, F, gen):
    b = f"moba.{j}."
    for ln in ("ln1", "ln2"):
        sd[b + ln + ".weight"] = 1 + 0.1 * torch.randn(C, generator=gen)
        sd[b + ln + ".bias"] = 0.1 * torch.randn(C, generator=gen)
    for name in ("receptance", "key", "value", "output"):
        sd[b + f"att.{name}.weight"] = torch.randn(C, C, generator=gen) / C ** 0.5
    ffn(sd, b, C, F, gen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--embd", type=int, default=768)
    ap.add_argument("--vocab", type=int, default=65536)
    ap.add_argument("--sparse", type=int, default=0)
    ap.add_argument("--ranks", default="64,64,32,128", help="decay,iclr,value,gate LoRA ranks")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    C, F, H = a.embd, 4 * a.embd, a.embd // 64
    ranks = [int(r) for r in a.ranks.split(",")]
    gen = torch.Generator().manual_seed(a.seed)
    p = "rwkv." if a.sparse else ""
    sd = {}
    sd[p + "emb.weight"] = torch.randn(a.vocab, C, generator=gen)
    sd[p + "blocks.0.ln0.weight"] = torch.ones(C)
    sd[p + "blocks.0.ln0.bias"] = torch.zeros(C)
    for i in range(a.layers):
        rwkv7_block(sd, p, i, C, F, H, ranks, gen)
    sd[p + "ln_out.weight"] = torch.ones(C)
    sd[p + "ln_out.bias"] = torch.zeros(C)
    sd[p + "head.weight"] = torch.randn(a.vocab, C, generator=gen) / C ** 0.5
    for j in range(a.sparse):
        sparse_block(sd, j, C, F, gen)
    sd = {k: v.to(torch.bfloat16).contiguous() for k, v in sd.items()}
    torch.save(sd, a.out)
    n = sum(v.numel() for v in sd.values())
    print(f"{a.out}: {len(sd)} tensors, {n / 1e6:.1f} M parameters, "
          f"{a.layers} RWKV-7 blocks + {a.sparse} sparse, C={C}, V={a.vocab}")


if __name__ == "__main__":
    main()
