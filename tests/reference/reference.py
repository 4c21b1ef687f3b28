"""An independent fp32 reference of docs/MODEL.md section 1 (RWKV-7 blocks, sparse
blocks with the MoBA rule), written from the formulas, for making extra golden
fixtures (other chunk sizes and top-k values) beyond those in tests/fixtures.

    python3 reference.py CHECKPOINT CHUNK TOPK T SEED OUT.f32

Reads a fixture checkpoint (.pth or .safetensors, official key layout), runs T
random tokens (seeded) position by position and writes the logits of every
position (float32, [T, V]); prints the tokens. Needs PyTorch (Debian's
python3-torch); the C library and its tests never do.
"""
import json
import math
import struct
import sys

import torch


def load(path):
    if path.endswith(".safetensors"):
        raw = open(path, "rb").read()
        n = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + n])
        sd = {}
        for k, v in header.items():
            if k == "__metadata__":
                continue
            a, b = v["data_offsets"]
            dt = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32}[v["dtype"]]
            sd[k] = torch.frombuffer(bytearray(raw[8 + n + a:8 + n + b]), dtype=dt).reshape(v["shape"])
    else:
        sd = torch.load(path, map_location="cpu")
    return {k: v.float() for k, v in sd.items()}


def layer_norm(x, w, b, eps=1e-5):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


class Model:
    def __init__(self, sd):
        prefix = "rwkv." if any(k.startswith("rwkv.") for k in sd) else ""
        self.r = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix) and not k.startswith("moba.")}
        self.m = {k: v for k, v in sd.items() if k.startswith("moba.")}
        self.V, self.C = self.r["emb.weight"].shape
        self.H = self.C // 64
        self.n_rwkv = 1 + max(int(k.split(".")[1]) for k in self.r if k.startswith("blocks."))
        self.n_sparse = 1 + max(int(k.split(".")[1]) for k in self.m) if self.m else 0
        self.order = []
        interval = self.n_rwkv // self.n_sparse if self.n_sparse else 0
        for i in range(self.n_rwkv):
            self.order.append(("r", i))
            if interval and (i + 1) % interval == 0:
                self.order.append(("s", (i + 1) // interval - 1))

    def time_mix(self, i, x, st):
        p, C, H = f"blocks.{i}.att.", self.C, self.H
        g_ = lambda n: self.r[p + n]
        u = layer_norm(x, self.r[f"blocks.{i}.ln1.weight"], self.r[f"blocks.{i}.ln1.bias"])
        d = st["att_prev"][i] - u
        st["att_prev"][i] = u
        xr, xw, xk, xv, xa, xg = (u + d * g_("x_" + c).flatten() for c in "rwkvag")
        r, k, v = xr @ g_("receptance.weight").T, xk @ g_("key.weight").T, xv @ g_("value.weight").T
        w = torch.exp(-0.606531 * torch.sigmoid(g_("w0").flatten() + torch.tanh(xw @ g_("w1")) @ g_("w2")))
        a = torch.sigmoid(g_("a0").flatten() + (xa @ g_("a1")) @ g_("a2"))
        g = torch.sigmoid(xg @ g_("g1")) @ g_("g2")
        kk = (k * g_("k_k").flatten()).view(H, 64)
        kk = kk / kk.norm(dim=1, keepdim=True).clamp(min=1e-12)
        k = k * (1 + (a - 1) * g_("k_a").flatten())
        if i == 0:
            st["v_first"] = v
        else:
            v = v + (st["v_first"] - v) * torch.sigmoid(g_("v0").flatten() + (xv @ g_("v1")) @ g_("v2"))
        S = st["wkv"][i]
        rh, kh, vh, wh, ah = (t.view(H, 64) for t in (r, k, v, w, a))
        y = torch.zeros(H, 64)
        for h in range(H):
            sa = S[h] @ kk[h]
            S[h] = S[h] * wh[h][None, :] - sa[:, None] * (kk[h] * ah[h])[None, :] + vh[h][:, None] * kh[h][None, :]
            y[h] = S[h] @ rh[h]
        y = torch.nn.functional.group_norm(y.view(1, C), H, g_("ln_x.weight"), g_("ln_x.bias"), eps=64e-5).view(C)
        y = y + ((rh * kh * g_("r_k")).sum(-1, keepdim=True) * vh).view(C)
        return x + (y * g) @ g_("output.weight").T

    def channel_mix(self, w, prefix, x, st, key):
        u = layer_norm(x, w[prefix + "ln2.weight"], w[prefix + "ln2.bias"])
        kx = u + (st[key] - u) * w[prefix + "ffn.x_k"].flatten()
        st[key] = u
        return x + torch.relu(kx @ w[prefix + "ffn.key.weight"].T) ** 2 @ w[prefix + "ffn.value.weight"].T

    def sparse(self, j, x, st, t, B, topk):
        p = f"moba.{j}."
        u = layer_norm(x, self.m[p + "ln1.weight"], self.m[p + "ln1.bias"])
        q, k, v = (u @ self.m[p + f"att.{n}.weight"].T for n in ("receptance", "key", "value"))
        st["K"][j].append(k.view(self.H, 64))
        st["V"][j].append(v.view(self.H, 64))
        K, Vv = torch.stack(st["K"][j]), torch.stack(st["V"][j])   # [t+1, H, 64]
        c = t // B
        out = torch.zeros(self.H, 64)
        for h in range(self.H):
            qh = q.view(self.H, 64)[h]
            chosen = []
            if c > 0:
                means = torch.stack([K[jj * B:(jj + 1) * B, h].mean(0) for jj in range(c)])
                gates = means @ qh
                want = min(topk - 1, c)
                chosen = sorted(torch.topk(gates, want).indices.tolist()) if want > 0 else []
                if 0 < want < c:  # how close the selection came to a tie
                    top = torch.topk(gates, want + 1).values
                    self.margin = min(self.margin, float(top[want - 1] - top[want]))
            pos = [s for jj in chosen for s in range(jj * B, (jj + 1) * B)] + list(range(c * B, t + 1))
            scores = (K[pos, h] @ qh) / math.sqrt(64)
            out[h] = torch.softmax(scores, 0) @ Vv[pos, h]
        x = x + out.view(self.C) @ self.m[p + "att.output.weight"].T
        return self.channel_mix(self.m, p, x, st, f"ffn_s{j}")

    def run(self, tokens, B, topk):
        C = self.C
        self.margin = math.inf
        st = {"att_prev": [torch.zeros(C) for _ in range(self.n_rwkv)], "wkv": [torch.zeros(self.H, 64, 64) for _ in range(self.n_rwkv)],
              "K": [[] for _ in range(self.n_sparse)], "V": [[] for _ in range(self.n_sparse)]}
        for i in range(self.n_rwkv):
            st[f"ffn_r{i}"] = torch.zeros(C)
        for j in range(self.n_sparse):
            st[f"ffn_s{j}"] = torch.zeros(C)
        logits = []
        for t, tok in enumerate(tokens):
            x = layer_norm(self.r["emb.weight"][tok], self.r["blocks.0.ln0.weight"], self.r["blocks.0.ln0.bias"])
            for kind, n in self.order:
                if kind == "r":
                    x = self.time_mix(n, x, st)
                    x = self.channel_mix(self.r, f"blocks.{n}.", x, st, f"ffn_r{n}")
                else:
                    x = self.sparse(n, x, st, t, B, topk)
            logits.append(layer_norm(x, self.r["ln_out.weight"], self.r["ln_out.bias"]) @ self.r["head.weight"].T)
        return torch.stack(logits)


if __name__ == "__main__":
    path, B, topk, T, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
    torch.set_grad_enabled(False)
    model = Model(load(path))
    tokens = torch.randint(0, model.V, (T,), generator=torch.Generator().manual_seed(seed)).tolist()
    model.run(tokens, B, topk).numpy().astype("<f4").tofile(out)
    print(" ".join(map(str, tokens)))
    print("smallest gate margin of a selection: %.3g" % model.margin, file=sys.stderr)
