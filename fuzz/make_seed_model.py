# Writes a tiny random RWKV-X checkpoint (official .pth layout, C = 64) for
# the fuzzers' seed corpora: converted to GGUF it is a few tens of kilobytes,
# small enough to mutate.  make_seed_model.py OUT.pth [VOCAB [N_RWKV]]
# Needs PyTorch (Debian's python3-torch); the corpora it made are committed.
import sys
import torch

torch.manual_seed(0)
C, F = 64, 64
V = int(sys.argv[2]) if len(sys.argv) > 2 else 16
n_rwkv = int(sys.argv[3]) if len(sys.argv) > 3 else 1
D = {"w": 8, "a": 8, "v": 4, "g": 8}
sd = {"rwkv.emb.weight": torch.randn(V, C), "rwkv.head.weight": torch.randn(V, C) * 0.1}
for n in ("ln0", "ln_out"):
    key = "rwkv.blocks.0.ln0" if n == "ln0" else "rwkv.ln_out"
    sd[key + ".weight"], sd[key + ".bias"] = torch.ones(C), torch.zeros(C)
for i in range(n_rwkv):
    p = f"rwkv.blocks.{i}."
    for ln in ("ln1", "ln2"):
        sd[p + ln + ".weight"], sd[p + ln + ".bias"] = torch.ones(C), torch.zeros(C)
    for x in ("x_r", "x_w", "x_k", "x_v", "x_a", "x_g", "w0", "a0", "k_k", "k_a"):
        sd[p + "att." + x] = torch.rand(1, 1, C)
    for z in ("w", "a", "g") + (("v",) if i > 0 else ()):
        sd[p + f"att.{z}1"] = torch.randn(C, D[z]) * 0.1
        sd[p + f"att.{z}2"] = torch.randn(D[z], C) * 0.1
    if i > 0:
        sd[p + "att.v0"] = torch.rand(1, 1, C)
    sd[p + "att.r_k"] = torch.randn(C // 64, 64) * 0.1
    for w in ("receptance", "key", "value", "output"):
        sd[p + f"att.{w}.weight"] = torch.randn(C, C) / 8
    sd[p + "att.ln_x.weight"], sd[p + "att.ln_x.bias"] = torch.ones(C), torch.zeros(C)
    sd[p + "ffn.x_k"] = torch.rand(1, 1, C)
    sd[p + "ffn.key.weight"] = torch.randn(F, C) / 8
    sd[p + "ffn.value.weight"] = torch.randn(C, F) / 11
p = "moba.0."
for ln in ("ln1", "ln2"):
    sd[p + ln + ".weight"], sd[p + ln + ".bias"] = torch.ones(C), torch.zeros(C)
for w in ("receptance", "key", "value", "output"):
    sd[p + f"att.{w}.weight"] = torch.randn(C, C) / 8
sd[p + "ffn.x_k"] = torch.rand(1, 1, C)
sd[p + "ffn.key.weight"] = torch.randn(F, C) / 8
sd[p + "ffn.value.weight"] = torch.randn(C, F) / 11
torch.save({k: v.to(torch.bfloat16) for k, v in sd.items()}, sys.argv[1])
