#!/usr/bin/env python3
"""Resident memory and decode speed against tokens decoded, from rwkvx-soak --csv.

    python3 tools/plot_soak.py OUT.svg LABEL=RUN.csv [LABEL=RUN.csv ...] [--title TEXT]

Two panels side by side: resident memory (MiB) and tokens/s over each
interval, one line per run. Standard library only.
"""
import csv
import math
import sys

COLOURS = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"]


def nice_ceiling(v):
    """The smallest of 1, 2, 5 times a power of ten that is >= v."""
    if v <= 0:
        return 1
    p = 10 ** math.floor(math.log10(v))
    return next(m * p for m in (1, 2, 2.5, 5, 10) if m * p >= v)


def panel(out, x0, y0, w, h, runs, key, scale, ylabel, xmax):
    ymax = nice_ceiling(max(float(r[key]) * scale for _, rows in runs for r in rows))
    out.append(f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>')
    for i in range(6):  # grid and labels
        y = y0 + h - h * i / 5
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{ymax * i / 5:g}</text>')
        x = x0 + w * i / 5
        out.append(f'<text x="{x:.1f}" y="{y0 + h + 16}" text-anchor="middle">{xmax * i / 5 / 1e6:g}M</text>')
    out.append(f'<text x="{x0 + w / 2}" y="{y0 + h + 34}" text-anchor="middle">tokens decoded</text>')
    out.append(f'<text x="{x0 - 48}" y="{y0 + h / 2}" text-anchor="middle" '
               f'transform="rotate(-90 {x0 - 48} {y0 + h / 2})">{ylabel}</text>')
    for n, (label, rows) in enumerate(runs):
        pts = " ".join(f"{x0 + w * int(r['tokens']) / xmax:.1f},{y0 + h - h * float(r[key]) * scale / ymax:.1f}"
                       for r in rows)
        colour = COLOURS[n % len(COLOURS)]
        out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for p in pts.split():
            x, y = p.split(",")
            out.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')


def main():
    args = sys.argv[1:]
    title = "rwkvx-soak: 1,000,000 sampled tokens, one at a time"
    if "--title" in args:
        i = args.index("--title")
        title = args[i + 1]
        del args[i:i + 2]
    if len(args) < 2:
        sys.exit(__doc__)
    runs = []
    for spec in args[1:]:
        label, path = spec.split("=", 1)
        with open(path) as f:
            runs.append((label, list(csv.DictReader(f))))
    xmax = nice_ceiling(max(int(r["tokens"]) for _, rows in runs for r in rows))
    W, H, pw, ph = 980, 420, 380, 280
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="10" y="22" font-size="14" font-weight="bold">{title}</text>']
    panel(out, 80, 50, pw, ph, runs, "rss_bytes", 1 / 1048576, "resident memory (MiB)", xmax)
    panel(out, 80 + pw + 110, 50, pw, ph, runs, "tokens_per_s", 1, "tokens/s (each interval)", xmax)
    for n, (label, _) in enumerate(runs):
        y = H - 30 + 16 * n - 8 * (len(runs) - 1)
        out.append(f'<rect x="80" y="{y - 9}" width="14" height="10" fill="{COLOURS[n % len(COLOURS)]}"/>')
        out.append(f'<text x="100" y="{y}">{label}</text>')
    out.append("</svg>")
    with open(args[0], "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
