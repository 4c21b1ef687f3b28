"""RWKV-7 and RWKV-X (RWKV-7 + MoBA sparse blocks) in plain PyTorch, for
training the passkey demo models (tools/train/train_passkey.py).

Computes exactly what docs/MODEL.md section 1 says the C engine
computes (rwkvx.h), with two trainable rewrites that give the same numbers:

* the WKV-7 recurrence in chunks of L positions (wkv7_chunked), checked
  against the plain loop (wkv7_loop) by `train_passkey.py check`;
* the sparse block's MoBA rule as a masked softmax (moba_attention): gate =
  q . mean key of each complete earlier chunk, the top (k-1) chunks per head
  and query, plus the query's own chunk up to itself; scale 1/8; no
  positional encoding. Dense up to 2048 queries, in recomputed blocks of
  2048 queries beyond (checked against the dense form by `check`).

Parameters carry the names and shapes of the official checkpoints, so
`official_state_dict()` is the released layout (`rwkv.` + RWKV-7 names and
`moba.J.*` for RWKV-X; plain RWKV-7 names when there is no sparse block).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

HEAD = 64


def shift(u):
    """u_prev for every position: the previous position's u, zero at the start."""
    return F.pad(u, (0, 0, 1, -1))


# ---------------------------------------------------------------------------
# WKV-7
# ---------------------------------------------------------------------------
# Per head, S is N x N with S[i][j], i = value index, j = key index:
#   S_t = S_{t-1} A_t + v_t k_t^T,  A_t = diag(w_t) - kk_t (kk_t * a_t)^T,
#   y_t = S_t r_t.
# All tensors below are (B, T, H, N).

def wkv7_loop(r, w, k, v, kk, a):
    B, T, H, N = r.shape
    S = r.new_zeros(B, H, N, N)
    ys = []
    for t in range(T):
        sa = torch.einsum("bhij,bhj->bhi", S, kk[:, t])
        S = S * w[:, t, :, None, :] - sa[..., None] * (kk[:, t] * a[:, t])[:, :, None, :] \
            + v[:, t, :, :, None] * k[:, t, :, None, :]
        ys.append(torch.einsum("bhij,bhj->bhi", S, r[:, t]))
    return torch.stack(ys, 1)


def wkv7_chunked(r, w, k, v, kk, a, L=64):
    """The same recurrence, trainable without a custom kernel. Inside every
    chunk of L positions at once: P_t = A_1 .. A_t and U_t = U_{t-1} A_t +
    v_t k_t^T from zero; then one pass over chunks gives each chunk's start
    state S0' = S0 P_L + U_L, and y_t = S0 (P_t r_t) + U_t r_t."""
    B, T, H, N = r.shape
    pad = (-T) % L
    if pad:  # padding after the end cannot change earlier outputs
        z = lambda x, val=0.0: F.pad(x, (0, 0, 0, 0, 0, pad), value=val)
        r, k, v, kk, a, w = z(r), z(k), z(v), z(kk), z(a), z(w, 1.0)
    Tp = T + pad
    nc = Tp // L
    # (B, nc, L, H, N) -> (L, B, nc, H, N): step over t inside all chunks at once
    rs = lambda x: x.view(B, nc, L, H, N).permute(2, 0, 1, 3, 4)
    r, w, k, v, kk, a = map(rs, (r, w, k, v, kk, a))
    b = kk * a
    eye = torch.eye(N, device=r.device, dtype=r.dtype)
    P = eye.expand(B, nc, H, N, N)
    U = r.new_zeros(B, nc, H, N, N)
    Pr, Ur = [], []
    for t in range(L):
        kkt = kk[t][..., None]                     # (B, nc, H, N, 1)
        bt = b[t][..., None, :]                    # (B, nc, H, 1, N)
        wt = w[t][..., None, :]
        P = P * wt - (P @ kkt) * bt
        U = U * wt - (U @ kkt) * bt + v[t][..., :, None] * k[t][..., None, :]
        rt = r[t][..., None]
        Pr.append((P @ rt)[..., 0])
        Ur.append((U @ rt)[..., 0])
    Pr = torch.stack(Pr, 2)                        # (B, nc, L, H, N)
    Ur = torch.stack(Ur, 2)
    S = r.new_zeros(B, H, N, N)
    starts = []
    for c in range(nc):
        starts.append(S)
        S = S @ P[:, c] + U[:, c]
    S0 = torch.stack(starts, 1)                    # (B, nc, H, N, N)
    y = torch.einsum("bchij,bcthj->bcthi", S0, Pr) + Ur
    return y.reshape(B, Tp, H, N)[:, :T]


# ---------------------------------------------------------------------------
# Blocks
# ---------------------------------------------------------------------------

class TimeMix(nn.Module):
    def __init__(self, C, layer, n_layer, ranks):
        super().__init__()
        H = C // HEAD
        self.C, self.H, self.layer = C, H, layer
        Dw, Da, Dv, Dg = ranks
        r0 = layer / max(1, n_layer - 1)           # 0 .. 1
        r1 = 1.0 - layer / n_layer                 # 1 .. almost 0
        ddd = (torch.arange(C, dtype=torch.float32) / C).view(1, 1, C)
        p = lambda x: nn.Parameter(x)
        self.x_r = p(1.0 - ddd ** (0.2 * r1))
        self.x_w = p(1.0 - ddd ** (0.9 * r1))
        self.x_k = p(1.0 - ddd ** (0.7 * r1))
        self.x_v = p(1.0 - ddd ** (0.7 * r1))
        self.x_a = p(1.0 - ddd ** (0.9 * r1))
        self.x_g = p(1.0 - ddd ** (0.2 * r1))
        n = torch.arange(C, dtype=torch.float32) / (C - 1)
        self.w0 = p((-6.0 + 5.0 * n ** (0.85 + 1.0 * r0 ** 0.5) + 0.5).view(1, 1, C))
        lora2 = lambda D: p(nn.init.orthogonal_(torch.empty(D, C), gain=0.1))
        self.w1, self.w2 = p(torch.zeros(C, Dw)), lora2(Dw)
        self.a0, self.a1, self.a2 = p(torch.zeros(1, 1, C)), p(torch.zeros(C, Da)), lora2(Da)
        if layer > 0:
            self.v0, self.v1, self.v2 = p(torch.ones(1, 1, C)), p(torch.zeros(C, Dv)), lora2(Dv)
        self.g1, self.g2 = p(torch.zeros(C, Dg)), lora2(Dg)
        self.k_k = p(torch.full((1, 1, C), 0.85))
        self.k_a = p(torch.ones(1, 1, C))
        self.r_k = p(torch.zeros(H, HEAD))
        self.receptance = nn.Linear(C, C, bias=False)
        self.key = nn.Linear(C, C, bias=False)
        self.value = nn.Linear(C, C, bias=False)
        self.output = nn.Linear(C, C, bias=False)
        s = 1.0 / math.sqrt(C)
        nn.init.uniform_(self.receptance.weight, -0.5 * s, 0.5 * s)
        nn.init.uniform_(self.key.weight, -0.05 * s, 0.05 * s)
        nn.init.uniform_(self.value.weight, -0.5 * s, 0.5 * s)
        nn.init.zeros_(self.output.weight)
        self.ln_x = nn.GroupNorm(H, C, eps=64e-5)
        with torch.no_grad():
            self.ln_x.weight.copy_(torch.full((C,), ((1 + layer) / n_layer) ** 0.7))

    def forward(self, u, v_first, wkv_chunk):
        B, T, C = u.shape
        H = self.H
        d = shift(u) - u
        xr, xw, xk = u + d * self.x_r, u + d * self.x_w, u + d * self.x_k
        xv, xa, xg = u + d * self.x_v, u + d * self.x_a, u + d * self.x_g
        r, k, v = self.receptance(xr), self.key(xk), self.value(xv)
        w = torch.exp(-0.606531 * torch.sigmoid(self.w0 + torch.tanh(xw @ self.w1) @ self.w2))
        a = torch.sigmoid(self.a0 + (xa @ self.a1) @ self.a2)
        g = torch.sigmoid(xg @ self.g1) @ self.g2
        kk = F.normalize((k * self.k_k).view(B, T, H, HEAD), dim=-1, p=2.0, eps=1e-12)
        k = k * (1 + (a - 1) * self.k_a)
        if self.layer == 0:
            v_first = v
        else:
            v = v + (v_first - v) * torch.sigmoid(self.v0 + (xv @ self.v1) @ self.v2)
        hv = lambda x: x.view(B, T, H, HEAD)
        args = (hv(r), hv(w), hv(k), hv(v), kk, hv(a))
        y = wkv7_chunked(*args, L=wkv_chunk) if wkv_chunk else wkv7_loop(*args)
        y = self.ln_x(y.reshape(B * T, C)).view(B, T, C)
        y = y + ((hv(r) * hv(k) * self.r_k).sum(-1, keepdim=True) * hv(v)).view(B, T, C)
        return self.output(y * g), v_first


class ChannelMix(nn.Module):
    def __init__(self, C, layer, n_layer):
        super().__init__()
        r1 = 1.0 - layer / n_layer
        ddd = (torch.arange(C, dtype=torch.float32) / C).view(1, 1, C)
        self.x_k = nn.Parameter(1.0 - ddd ** (r1 ** 4))
        self.key = nn.Linear(C, 4 * C, bias=False)
        self.value = nn.Linear(4 * C, C, bias=False)
        s = 1.0 / math.sqrt(C)
        nn.init.uniform_(self.key.weight, -0.5 * s, 0.5 * s)
        nn.init.zeros_(self.value.weight)

    def forward(self, u):
        kx = u + (shift(u) - u) * self.x_k
        return self.value(torch.relu(self.key(kx)) ** 2)


class Block(nn.Module):
    """An RWKV-7 block; block 0 also owns ln0 (applied to the embedding)."""

    def __init__(self, C, layer, n_layer, ranks):
        super().__init__()
        if layer == 0:
            self.ln0 = nn.LayerNorm(C, eps=1e-5)
        self.ln1 = nn.LayerNorm(C, eps=1e-5)
        self.ln2 = nn.LayerNorm(C, eps=1e-5)
        self.att = TimeMix(C, layer, n_layer, ranks)
        self.ffn = ChannelMix(C, layer, n_layer)

    def forward(self, x, v_first, wkv_chunk):
        dx, v_first = self.att(self.ln1(x), v_first, wkv_chunk)
        x = x + dx
        return x + self.ffn(self.ln2(x)), v_first


def moba_select(q, k, chunk, topk):
    """(B, H, T, nc) bool: the earlier complete chunks each query selects
    (docs/MODEL.md 1.4 steps 1-3: gate = q . mean key, the top k-1 per head and
    query). Selection is discrete: no gradient flows through the gate."""
    B, H, T, N = q.shape
    nc = (T + chunk - 1) // chunk
    qc = torch.arange(T, device=q.device) // chunk
    sel = torch.zeros(B, H, T, nc, dtype=torch.bool, device=q.device)
    want = min(topk - 1, nc - 1)
    if want <= 0:
        return sel
    with torch.no_grad():
        kp = F.pad(k, (0, 0, 0, nc * chunk - T))
        means = kp.view(B, H, nc, chunk, N).mean(3)         # last one may be partial: never a candidate
        cand = torch.arange(nc, device=q.device)[None, :] < qc[:, None]   # (T, nc): complete earlier chunks
        for s in range(0, T, 4096):                         # (B, H, 4096, nc) gates at a time
            gate = (q[:, :, s:s + 4096] @ means.transpose(-1, -2)).masked_fill(~cand[s:s + 4096], float("-inf"))
            val, idx = gate.topk(want, dim=-1)
            sel[:, :, s:s + 4096].scatter_(-1, idx, val > float("-inf"))
    return sel


def moba_rows_mask(sel, start, end, chunk):
    """(B, H, end-start, end) bool for the queries start..end-1 against keys
    0..end-1: the selected chunks plus the query's own chunk up to itself."""
    pos = torch.arange(start, end, device=sel.device)
    kpos = torch.arange(end, device=sel.device)
    own = ((pos // chunk)[:, None] == (kpos // chunk)[None, :]) & (kpos[None, :] <= pos[:, None])
    return sel[:, :, start:end][..., kpos // chunk] | own


def moba_mask(q, k, chunk, topk):
    """(B, H, T, T) bool: which positions each query attends to under the
    MoBA rule (docs/MODEL.md 1.4), per head. q, k: (B, H, T, N)."""
    return moba_rows_mask(moba_select(q, k, chunk, topk), 0, q.shape[2], chunk)


def attend(q, k, v, mask):
    try:  # PyTorch >= 2.1
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.125)
    except (AttributeError, TypeError):
        att = (q @ k.transpose(-1, -2)) * 0.125
        return att.masked_fill(~mask, float("-inf")).softmax(-1) @ v


def moba_attention(q, k, v, chunk, topk, rows=2048):
    """MoBA attention, (B, H, T, N). Up to `rows` queries as one dense masked
    softmax; longer inputs in blocks of `rows` queries against the keys up to
    the block's end, each block recomputed in the backward pass (so memory
    grows like T * rows, not T^2: training at 16K-32K positions)."""
    T = q.shape[2]
    sel = moba_select(q, k, chunk, topk)
    if T <= rows:
        return attend(q, k, v, moba_rows_mask(sel, 0, T, chunk))

    def block(qb, kb, vb, start):
        return attend(qb, kb, vb, moba_rows_mask(sel, start, start + qb.shape[2], chunk))

    out = []
    for s in range(0, T, rows):
        e = min(T, s + rows)
        out.append(checkpoint(block, q[:, :, s:e], k[:, :, :e], v[:, :, :e], s, use_reentrant=False))
    return torch.cat(out, 2)


class SparseBlock(nn.Module):
    """LayerNorm, MoBA attention (receptance = query), RWKV-7 channel-mix."""

    def __init__(self, C, n_layer):
        super().__init__()
        self.ln1 = nn.LayerNorm(C, eps=1e-5)
        self.ln2 = nn.LayerNorm(C, eps=1e-5)
        self.att = nn.Module()
        for name in ("receptance", "key", "value", "output"):
            setattr(self.att, name, nn.Linear(C, C, bias=False))
        s = 1.0 / math.sqrt(C)
        for name in ("receptance", "key", "value"):
            nn.init.uniform_(getattr(self.att, name).weight, -s, s)
        nn.init.zeros_(self.att.output.weight)
        self.ffn = ChannelMix(C, n_layer - 1, n_layer)

    def forward(self, x, chunk, topk):
        B, T, C = x.shape
        H = C // HEAD
        u = self.ln1(x)
        hv = lambda y: y.view(B, T, H, HEAD).transpose(1, 2)
        q, k, v = hv(self.att.receptance(u)), hv(self.att.key(u)), hv(self.att.value(u))
        y = moba_attention(q, k, v, chunk, topk).transpose(1, 2).reshape(B, T, C)
        x = x + self.att.output(y)
        return x + self.ffn(self.ln2(x))


class Model(nn.Module):
    def __init__(self, vocab=256, C=128, n_rwkv=6, n_sparse=0, chunk=64, topk=4,
                 ranks=(16, 16, 8, 32)):
        super().__init__()
        assert C % HEAD == 0 and (n_sparse == 0 or n_rwkv % n_sparse == 0)
        self.C, self.n_rwkv, self.n_sparse, self.chunk, self.topk = C, n_rwkv, n_sparse, chunk, topk
        n_layer = n_rwkv + n_sparse
        self.emb = nn.Embedding(vocab, C)
        nn.init.normal_(self.emb.weight, std=0.05)  # ln0 follows: the scale only sets gradient size
        self.blocks = nn.ModuleList(Block(C, i, n_rwkv, ranks) for i in range(n_rwkv))
        self.moba = nn.ModuleList(SparseBlock(C, n_layer) for _ in range(n_sparse))
        self.ln_out = nn.LayerNorm(C, eps=1e-5)
        self.head = nn.Linear(C, vocab, bias=False)
        nn.init.normal_(self.head.weight, std=0.5 / math.sqrt(C))
        # docs/MODEL.md 1: one sparse block after each run of n_rwkv / n_sparse RWKV
        # blocks (RWKV-7 block i is i, sparse block j is -1-j)
        self.order = []
        for i in range(n_rwkv):
            self.order.append(i)
            if n_sparse and (i + 1) % (n_rwkv // n_sparse) == 0:
                self.order.append(-1 - ((i + 1) // (n_rwkv // n_sparse) - 1))

    def forward(self, idx, wkv_chunk=64):
        x = self.blocks[0].ln0(self.emb(idx))
        v_first = None
        for b in self.order:
            if b >= 0:
                x, v_first = self.blocks[b](x, v_first, wkv_chunk)
            else:
                x = self.moba[-1 - b](x, self.chunk, self.topk)
        return self.head(self.ln_out(x))

    def official_state_dict(self, dtype=torch.float32):
        """The released checkpoint layout (docs/MODEL.md 2.1)."""
        out = {}
        pre = "rwkv." if self.n_sparse else ""
        for name, t in self.state_dict().items():
            if name.startswith("moba."):
                key = name
            else:
                key = pre + name
            out[key] = t.detach().to("cpu", dtype).contiguous().clone()
        return out
