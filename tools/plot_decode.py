#!/usr/bin/env python3
"""Decode ms/token against context length, from rwkvx-bench --json lines.

    python3 tools/plot_decode.py RESULTS.jsonl OUT.svg [--title TEXT] [--cpu]

Each line of RESULTS.jsonl is one `rwkvx-bench --json` object. Lines are
grouped into series: "RWKV-7 blocks only" (skip_sparse), "full attention"
(--full-attention) and "sparse, top-k K" (where the context fits in K
chunks, sparse and full attention compute the same thing), each with
", f16 keys/values" under --kv-f16; several
lines for one series and context are reduced to their median. Standard
library only. --cpu plots the CPU time per token (decode_cpu_ms_per_tok)
instead of the wall time: on a machine shared with other programs the
wall time of a 1-thread run includes their time slices.
"""
import json
import math
import statistics
import sys


def series_of(r):
    if r.get("skip_sparse"):
        return "RWKV-7 blocks only (sparse block skipped)"
    # rwkvx-bench --full-attention sets the top-k to (context + gen) / chunk + 2
    full = r.get("full_attention", r["chunk_topk"] == (max(r["context"], r["prompt"]) + r["gen"]) // r["chunk_size"] + 2)
    kv = ", f16 keys/values" if r.get("kv_f16") else ""
    if full:
        return "full attention (top-k covers every chunk)" + kv
    return f"sparse attention, top-k {r['chunk_topk']} of {r['chunk_size']}-token chunks" + kv


def nice_ceiling(v):
    """The smallest of 1, 2, 5 times a power of ten that is >= v."""
    p = 10 ** math.floor(math.log10(v))
    return next(m * p for m in (1, 2, 5, 10) if m * p >= v)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    title = "rwkvx decode time per token against context length"
    if "--title" in sys.argv:
        title = sys.argv[sys.argv.index("--title") + 1]
    key, ylabel = "decode_ms_per_tok", "ms per decoded token"
    if "--cpu" in sys.argv:
        key, ylabel = "decode_cpu_ms_per_tok", "CPU ms per decoded token"
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
    data = {}
    for r in rows:
        data.setdefault(series_of(r), {}).setdefault(r["context"], []).append(r[key])
    series = {k: sorted((c, statistics.median(v)) for c, v in d.items()) for k, d in data.items()}
    xs = sorted({c for s in series.values() for c, _ in s})
    ymax = max(y for s in series.values() for _, y in s)
    W, H, L, R, T, B = 760, 490, 70, 20, 50, 140
    pw, ph = W - L - R, H - T - B
    lx0, lx1 = math.log2(min(xs)), math.log2(max(xs))
    top = nice_ceiling(ymax * 1.05)

    def px(c):
        return L + (math.log2(c) - lx0) / max(lx1 - lx0, 1e-9) * pw

    def py(y):
        return T + ph - y / top * ph

    colors = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="15">{title}</text>']
    for i in range(6):  # y grid
        y = top * i / 5
        out.append(f'<line x1="{L}" y1="{py(y):.1f}" x2="{L + pw}" y2="{py(y):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
    for c in xs:
        label = f"{c // 1024}K" if c >= 1024 else str(c)
        out.append(f'<line x1="{px(c):.1f}" y1="{T}" x2="{px(c):.1f}" y2="{T + ph}" stroke="#eee"/>')
        out.append(f'<text x="{px(c):.1f}" y="{T + ph + 16}" text-anchor="middle">{label}</text>')
    out.append(f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
    out.append(f'<text x="{L + pw / 2}" y="{T + ph + 36}" text-anchor="middle">context length (tokens, log scale)</text>')
    out.append(f'<text x="18" y="{T + ph / 2}" text-anchor="middle" transform="rotate(-90 18 {T + ph / 2})">{ylabel}</text>')
    for k, (name, pts) in enumerate(sorted(series.items())):
        col = colors[k % len(colors)]
        path = " ".join(f"{px(c):.1f},{py(y):.1f}" for c, y in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{col}" stroke-width="2"/>')
        for c, y in pts:
            out.append(f'<circle cx="{px(c):.1f}" cy="{py(y):.1f}" r="3.5" fill="{col}"><title>{name}: {c} tokens, {y:.2f} ms</title></circle>')
        ly = T + ph + 56 + 16 * k
        out.append(f'<line x1="{L}" y1="{ly - 4}" x2="{L + 24}" y2="{ly - 4}" stroke="{col}" stroke-width="2"/>')
        out.append(f'<text x="{L + 30}" y="{ly}">{name}</text>')
    out.append("</svg>")
    open(sys.argv[2], "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
